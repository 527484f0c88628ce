#!/usr/bin/env bash
# crash-pair.sh: two neighbouring daemons crash at the same moment.
#
# 16 daemons on 127.0.3.x (a free port, or $PORT).  Each round kills -9 a
# random node and one of its neighbours at once, checks that the overlay heals (tiling, live set,
# exact neighbour sets, routing), then adds two fresh nodes to keep the
# size.  The failure of a node whose neighbour is dead too is the hard
# case for takeover: the survivors learn of each dead node only second
# hand, from the other dead node's last neighbour list.
#
# Environment: ROUNDS (default 4), SEED, POINTS (default 300), HB,
# MODE (routing check: both (default), cache or nocache).
. "$(dirname "$0")/../lib/common.sh"
require_tools

ROUNDS=${ROUNDS:-4}
PORT=${PORT:-$(free_port)}
POINTS=${POINTS:-300}
MODE=${MODE:-both}
SEED=${SEED:-$(($$ % 10000))}
RANDOM=$SEED
log "seed $SEED, $ROUNDS rounds, heartbeat $HB ms"
random_alive() { echo "${ALIVE[$((RANDOM % ${#ALIVE[@]}))]}"; }
next=1
add_node() {
	local name via=""
	name=$(printf 'c%02d' "$next")
	[ ${#ALIVE[@]} -gt 0 ] && via=$(addr_of "$(random_alive)")
	start_node "$name" "127.0.3.$next:$PORT" "$via"
	wait_active "$name"
	next=$((next + 1))
}

for _ in $(seq 16); do add_node; done
check_overlay --points "$POINTS" --mode "$MODE" --wait 20 || fail "the first 16 nodes"

HEALS=()
for r in $(seq "$ROUNDS"); do
	a=$(random_alive)
	baddr=$(python3 -c '
import sys, random, canwire
random.seed(int(sys.argv[2]))
print(random.choice(canwire.status(sys.argv[1])["neighbours"])["addr"])' \
		"$(addr_of "$a")" "$RANDOM") || fail "cannot read $a's neighbours"
	b=""
	for n in "${ALIVE[@]}"; do [ "$(addr_of "$n")" = "$baddr" ] && b=$n; done
	[ -n "$b" ] || fail "neighbour $baddr of $a is not one of ours"
	log "round $r: kill -9 $a and its neighbour $b at once"
	t0=$(date +%s.%N)
	kill9 "$a" "$b"
	if ! out=$(check_overlay --points "$POINTS" --mode "$MODE" --wait 20 --since "$t0"); then
		printf '%s\n' "$out"
		fail "round $r: the overlay did not heal after $a and $b crashed"
	fi
	printf '%s\n' "$out"
	HEALS+=("round $r ($a + $b): $(printf '%s\n' "$out" | sed -n 's/^heal: //p')")
	add_node
	add_node
	if ! out=$(check_overlay --points "$POINTS" --mode "$MODE" --wait 20); then
		printf '%s\n' "$out"
		fail "round $r: two new joins"
	fi
done
log "heal times:"
printf '  %s\n' "${HEALS[@]}"
log "PASS"
