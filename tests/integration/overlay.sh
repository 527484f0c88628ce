#!/usr/bin/env bash
# overlay.sh: 16 daemons on loopback (127.0.1.x, a free port) build a CAN overlay, each
# joining through a random earlier node; then graceful leaves (canctl leave
# and SIGTERM), single crashes (kill -9), a simultaneous crash of two
# neighbours, new joins, a stall past the take-over window (SIGSTOP, so
# two nodes claim one zone until the overlap rule settles it), and a
# crash-and-restart that rejoins through the saved peers file.  After
# every step check_overlay.py checks (a) exact tiling and the live set, (b) exact neighbour sets, (c) routing from every
# node to 1,000 random points (with and without the routing cache), waiting
# for the overlay to heal.  The heal time of every step is reported.
#
# Environment: SEED (bootstrap choices), POINTS (default 1000), HB, PORT,
# MODE (routing check: both (default), cache or nocache).
. "$(dirname "$0")/../lib/common.sh"
require_tools

N=16
POINTS=${POINTS:-1000}
MODE=${MODE:-both}
SEED=${SEED:-$(($$ % 10000))}
RANDOM=$SEED
HEAL_WAIT=${HEAL_WAIT:-20}	# seconds: a bound, not an expectation
HEALS=()
PORT=${PORT:-$(free_port)}
ip_of() { echo "127.0.1.$1:$PORT"; }
name_of_addr() {
	local n
	for n in "${NODE_NAMES[@]}"; do
		[ "${NODE_ADDR[$n]}" = "$1" ] && { echo "$n"; return; }
	done
}
log "seed $SEED, heartbeat ${HB} ms, $POINTS points per node"

# A random node expected alive.
random_alive() { echo "${ALIVE[$((RANDOM % ${#ALIVE[@]}))]}"; }

# step_check LABEL EVENT_EPOCH: check the overlay and record the heal time.
step_check() {
	local label=$1 since=$2 out heal
	log "check after: $label (${#ALIVE[@]} nodes)"
	if ! out=$(check_overlay --points "$POINTS" --mode "$MODE" --wait "$HEAL_WAIT" \
		--since "$since" 2>&1); then
		printf '%s\n' "$out"
		fail "overlay wrong after: $label"
	fi
	printf '%s\n' "$out"
	heal=$(printf '%s\n' "$out" | sed -n 's/^heal: tables \([0-9-]*\) ms.*/\1/p')
	HEALS+=("$(printf '%-44s %3d nodes  %6s ms' "$label" "${#ALIVE[@]}" "$heal")")
}

epoch() { date +%s.%N; }

# --- 16 joins, each through a random earlier node
t0=$(epoch)
start_node n01 "$(ip_of 1)"
wait_active n01
for i in $(seq 2 $N); do
	via=$(random_alive)
	name=$(printf 'n%02d' "$i")
	log "start $name joining through $via ($(addr_of "$via"))"
	start_node "$name" "$(ip_of "$i")" "$(addr_of "$via")"
	wait_active "$name"
done
step_check "16 joins (from the first start)" "$t0"

# canctl map --svg of the 16 nodes: parsed, its rectangles tiling the
# square, one per zone labelled with its node (check_svg.py, against the
# zone map of canctl zones --json taken with it).
"$CANCTL" -d "$(addr_of n01)" zones --json >"$T/zones.json" || fail "canctl zones --json"
"$CANCTL" -d "$(addr_of n01)" map --svg "$T/map.svg" >/dev/null || fail "canctl map --svg"
python3 "$LIB/check_svg.py" "$T/map.svg" "$T/zones.json" "" "" "the whole space" ||
	fail "canctl map --svg of the 16 nodes is wrong"
n=$(python3 -c "import json, sys; print(len(json.load(open(sys.argv[1]))))" "$T/zones.json")
[ "$n" = "$N" ] || fail "canctl zones lists $n nodes, not $N"
log "map --svg: $N nodes, every zone drawn and labelled"

# --- 4 graceful leaves: canctl leave and SIGTERM alternately
for k in 1 2 3 4; do
	victim=$(random_alive)
	t0=$(epoch)
	if [ $((k % 2)) -eq 1 ]; then
		log "graceful leave of $victim by canctl leave"
		stop_leave "$victim"
		how="canctl leave"
	else
		log "graceful leave of $victim by SIGTERM"
		stop_term "$victim"
		how="SIGTERM"
	fi
	grep -q "left the overlay" "$T/$victim.log" ||
		fail "$victim exited without logging that it left"
	if grep -q "could not hand our zones over\|no live neighbour to hand" \
		"$T/$victim.log"; then
		grep -n "hand" "$T/$victim.log" | tail -5
		fail "$victim left without handing its zones over"
	fi
	step_check "leave $k ($how of $victim)" "$t0"
done

# --- 3 crashes, one at a time
for k in 1 2 3; do
	victim=$(random_alive)
	log "kill -9 $victim"
	t0=$(epoch)
	kill9 "$victim"
	step_check "crash $k (kill -9 $victim)" "$t0"
done

# --- 2 crashes at the same moment, of two neighbours
a=$(random_alive)
b=$(python3 -c '
import sys, random, canwire
st = canwire.status(sys.argv[1])
random.seed(int(sys.argv[2]))
print(random.choice(st["neighbours"])["addr"])' "$(addr_of "$a")" "$SEED") ||
	fail "cannot read the neighbours of $a"
b=$(name_of_addr "$b")
[ -n "$b" ] || fail "the neighbour chosen is not one of ours"
log "kill -9 $a and its neighbour $b at once"
t0=$(epoch)
kill9 "$a" "$b"
step_check "2 neighbours crash at once ($a, $b)" "$t0"

# --- 4 new joins through random live nodes
t0=$(epoch)
for i in $(seq $((N + 1)) $((N + 4))); do
	via=$(random_alive)
	name=$(printf 'n%02d' "$i")
	log "start $name joining through $via"
	start_node "$name" "$(ip_of "$i")" "$(addr_of "$via")"
	wait_active "$name"
done
step_check "4 new joins (from the first start)" "$t0"

# --- a stall longer than the take-over window (SIGSTOP): its neighbours
# take its zones over and can no longer give them back when it speaks
# again, so both claim them; the overlap rule (overlay/claim.c) must
# settle it: exact tiling again, and one owner per zone.
victim=$(random_alive)
stall=$(( (4 * 3 * HB + 999) / 1000 + 3 ))
log "SIGSTOP $victim for ${stall} s (past the take-over window), then SIGCONT"
t0=$(epoch)
kill -STOP "${NODE_PID[$victim]}"
sleep "$stall"
kill -CONT "${NODE_PID[$victim]}"
step_check "stall of $victim for ${stall} s" "$t0"

# --- crash and restart with the same data dir, no --join
victim=$(random_alive)
log "kill -9 $victim, then restart it with no --join (saved peers)"
[ -s "$T/$victim/peers" ] || fail "$victim has no saved peers file"
t0=$(epoch)
kill9 "$victim"
start_node "$victim" "$(addr_of "$victim")"
wait_active "$victim" 30
grep -q "rejoining through .* saved peer" "$T/$victim.log" ||
	fail "$victim did not rejoin through its saved peers"
step_check "crash + restart of $victim (saved peers)" "$t0"

log "heal times (event to exact tables everywhere):"
printf '  %s\n' "${HEALS[@]}"
log "PASS"
