#!/usr/bin/env bash
# store_ack_crash.sh: a replica dies between making a write durable and
# answering it, again and again, while compare-and-swap counters run.
#
# 4 daemons on loopback (127.0.17.x, a free port; k=3).  n3 and n4 run
# with CANFS_TEST_CRASH_BEFORE_ACK=N (overlay/replica.c): each dies, as by
# kill -9, just before sending the Nth reply for a write it committed: the
# write is on its disk (and on the others'), its reply is lost.  Each is
# restarted on its data dir at once, armed again, ROUNDS times in all.
# Meanwhile `objtool cas` runs 8 clients over n1 and n2 incrementing 10
# counters by read-version / write-if-version.
#
# What must hold: every counter equals the increments acknowledged for it,
# with no write of unknown outcome and no error (the coordinators retry
# with the write's op id, and a primary that already decided it answers
# with its version instead of CONFLICT, so nothing is applied twice and
# nothing acknowledged is lost); every daemon that was not armed stays up;
# the overlay is whole and verify is clean at the end.
#
# Environment: SEED, ITERS (increments per client, default 200), ROUNDS
# (crashes in all, default 6), HB, BUILD, KEEP=1.
TEST_TIMEOUT=${TEST_TIMEOUT:-500}
. "$(dirname "$0")/../lib/common.sh"
require_tools

OBJTOOL=$BUILD/tests/objtool
if [ ! -x "$OBJTOOL" ] || [ "$ROOT/tests/objtool.c" -nt "$OBJTOOL" ]; then
	make -s -C "$ROOT" "${BUILD#"$ROOT"/}/tests/objtool" >/dev/null ||
		fail "cannot build tests/objtool"
fi
command -v jq >/dev/null || skip "jq is not installed"

ITERS=${ITERS:-200}
ROUNDS=${ROUNDS:-6}
SEED=${SEED:-$(($$ % 10000))}
RANDOM=$SEED
DOPTS=(-k 3 --repair-interval 2 --store-size 1024)
PORT=$(free_port)
ip_of() { echo "127.0.17.$1:$PORT"; }
log "seed $SEED, $ITERS increments per client, $ROUNDS crashes before acks"

# (Re)start NAME armed to die before its Nth acknowledgement (20-120).
arm() {
	local name=$1 n=$((20 + RANDOM % 100))
	log "start $name armed: it dies before its reply number $n"
	CANFS_TEST_CRASH_BEFORE_ACK=$n start_node "$name" "$(ip_of "${name#n}")" \
		"$(ip_of 1)" "${DOPTS[@]}"
}
start_node n1 "$(ip_of 1)" "" "${DOPTS[@]}"
wait_active n1
start_node n2 "$(ip_of 2)" "$(addr_of n1)" "${DOPTS[@]}"
wait_active n2
arm n3
wait_active n3
arm n4
wait_active n4
check_overlay --points 100 --wait 20 -q >"$T/overlay.out" 2>&1 || {
	cat "$T/overlay.out"
	fail "the overlay of 4 nodes is not right"
}

"$OBJTOOL" cas -d "$(addr_of n1),$(addr_of n2)" -s "$SEED" --keys 10 \
	--clients 8 --iters "$ITERS" -q >"$T/cas.out" 2>"$T/cas.err" &
CAS=$!
ALL_PIDS+=("$CAS")

# Restart every armed daemon that died, until ROUNDS crashes happened.
crashes=0
while kill -0 "$CAS" 2>/dev/null; do
	for n in n3 n4; do
		running "$n" && continue
		grep -q "CANFS_TEST_CRASH_BEFORE_ACK: dying" "$T/$n.log" ||
			fail "$n died, but not by the test hook"
		crashes=$((crashes + 1))
		alive_del "$n"
		if [ "$crashes" -lt "$ROUNDS" ]; then
			arm "$n"
		else
			log "restart $n unarmed ($crashes crashes so far)"
			start_node "$n" "$(addr_of "$n")" "$(addr_of n1)" \
				"${DOPTS[@]}"
		fi
	done
	for n in n1 n2; do
		running "$n" || fail "$n died on its own"
	done
	sleep 0.2
done
wait "$CAS"
rc=$?
cat "$T/cas.out"
[ "$rc" -eq 0 ] || { head -20 "$T/cas.err"; fail "objtool cas failed (rc $rc)"; }
grep -q "every counter matches" "$T/cas.out" || fail "cas printed no verdict"
grep -q " 0 ambiguous writes, 0 errors" "$T/cas.out" ||
	fail "writes of unknown outcome or errors while replicas died after commit"
log "$crashes replicas died between a commit and its reply"
[ "$crashes" -ge 1 ] || fail "no armed daemon crashed: the scenario proved nothing"

for n in n3 n4; do
	running "$n" || start_node "$n" "$(addr_of "$n")" "$(addr_of n1)" \
		"${DOPTS[@]}"
	wait_active "$n" || fail "$n did not come back"
done
check_overlay --points 100 --wait 30 -q >"$T/overlay.out" 2>&1 || {
	cat "$T/overlay.out"
	fail "the overlay is not whole after the crashes"
}
wait_verify_clean 60 || fail "verify did not come clean"
result "operations=$(grep -o '[0-9]* increments' "$T/cas.out" | head -1 | cut -d' ' -f1)" \
	"faults=$crashes x death between commit and reply" "files=-" \
	"lost=0" "corrupt=0" "max_block_ms=-"
log "PASS"
