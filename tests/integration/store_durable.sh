#!/usr/bin/env bash
# store_durable.sh: "acknowledged means safe" at the object-store level.
#
# Four daemons on 127.0.72.1-4 (a free port; k=3, so a write needs 2 of 3;
# data in $TMPDIR, default /tmp, on disk: commits take an fsync;
# --fail-after large enough that a daemon that is stopped or restarted
# within 20 s is never declared dead: the point is a replica that is slow
# or briefly gone, not a takeover).  Clients speak the wire
# protocol (tests/lib/objhist.py) through daemons 1 and 2, which are never
# harmed.  Every write is conditional (PUT "if version V" / "if absent",
# DEL "if version V") with a value unique to that write, and every request
# and answer is logged; objhist.py check then reads every key through
# daemons 1 and 2 and checks the histories (see its usage text): a value
# is read at one version only and at the version it was acknowledged
# with; a write answered CONFLICT ("nothing written") is never found
# applied; a key found absent has a delete to explain it; versions grow
# and no two writes succeed on one version; a GET started after a write
# was acknowledged sees it or newer; the final state is at least as new
# as everything acknowledged or read.
#
#   1. crash: 8 writers on 16 keys (6 whose primary is daemon 3, 6 daemon
#      4's) for LOAD_S s, while daemon 3 or 4 is killed with SIGKILL every
#      few seconds and restarted on its data dir 0.5-2 s later (before
#      anyone takes its zone over).  A kill that lands after a primary's
#      commit and before the coordinator has its reply makes the
#      coordinator retry a write the restarted primary already holds.
#      Whether a kill lands there is luck: the window is about a commit's
#      fsync.
#   2. racing reads: writers and readers on 8 keys whose primary is daemon
#      3 (fresh keys each round); at a random moment daemon 3 is killed with SIGKILL and the load
#      stops; daemon 3 comes back on its data dir.  A value a reader saw
#      must not vanish and must not come back at another version: that
#      would be a read of a write the primary had not committed yet.
#      ROUNDS rounds.  (A read served from a batch before its commit,
#      then a kill before the commit, is a window of well under a
#      millisecond: this phase guards against a store that serves pending
#      writes for longer, and is not expected to catch the short one.)
#   3. slow primary: writers on 16 keys (8 whose primary is daemon 4)
#      while daemon 4 is stopped (SIGSTOP) for STOP_S s, twice: longer
#      than the coordinator's 5 s replica timeout, so that it gives up on
#      a write the stopped primary will still apply, and retries it.
#      (12 s: a writer reads before it writes, and a read of a stopped
#      primary takes 5 s before the other replicas answer.)
#
# --repair-interval 3: for two repair intervals plus 5 s after it gained
# space (joined, restarted), a primary has every write synced with the
# other replicas first; phase 3 starts long after daemon 4 joined.
#
# Each phase is checked on its own; the scenario fails at the end if any
# found a problem (the problems are in the log).  Environment: SEED, PORT,
# LOAD_S (phase 1, default 40; SOAK=1: 240), ROUNDS (phase 2, default 3;
# SOAK=1: 15), STOP_S (phase 3, default 12), HB (default 500), BUILD,
# KEEP=1.
TEST_TIMEOUT=${TEST_TIMEOUT:-$(( ${SOAK:-0} == 1 ? 1700 : 600 ))}
HB=${HB:-500}
. "$(dirname "$0")/../lib/common.sh"
require_tools
command -v jq >/dev/null || skip "jq is not installed"
python3 -c 'import ctypes; ctypes.CDLL("libxxhash.so.0")' 2>/dev/null ||
	skip "libxxhash.so.0 is not installed (objhist.py hashes keys with it)"

SEED=${SEED:-$(($$ % 10000))}
RANDOM=$SEED
LOAD=${LOAD_S:-30}
ROUNDS=${ROUNDS:-3}
if [ "${SOAK:-0}" = 1 ]; then
	LOAD=${LOAD_S:-240}
	ROUNDS=${ROUNDS_SOAK:-15}
fi
STOP_S=${STOP_S:-12}
K=3
DOPTS=(-k $K --fail-after 40 --repair-interval 3)
PORT=${PORT:-$(free_port)}
OH="python3 $LIB/objhist.py"
log "seed $SEED, k=$K, heartbeat $HB ms, load ${LOAD}s, $ROUNDS rounds, stops of ${STOP_S}s"

# Never leave a daemon stopped behind us (common.sh kills by pid).
durable_cleanup() {
	local rc=$? p
	trap - EXIT
	for p in "${ALL_PIDS[@]}"; do our_pid "$p" && kill -CONT "$p" 2>/dev/null; done
	[ -n "${HIST_PID:-}" ] && kill "$HIST_PID" 2>/dev/null
	(exit $rc)
	cleanup
}
trap durable_cleanup EXIT

for i in 1 2 3 4; do
	join=""
	[ "$i" -gt 1 ] && join=127.0.72.1:$PORT
	start_node "n$i" "127.0.72.$i:$PORT" "$join" "${DOPTS[@]}"
	wait_active "n$i"
done
check_overlay --points 100 --wait 20 -q >"$T/overlay.out" 2>&1 || {
	cat "$T/overlay.out"
	fail "the overlay of 4 nodes is not right"
}
VIA="$(addr_of n1),$(addr_of n2)"

daemons_healthy() {
	local n
	for n in "${ALIVE[@]}"; do
		running "$n" || { tail -20 "$T/$n.log"; fail "$n died on its own"; }
	done
	if grep -l "ERROR: AddressSanitizer\|runtime error:" "$T"/*.log 2>/dev/null; then
		grep -h -A15 "ERROR: AddressSanitizer\|runtime error:" "$T"/*.log | head -60
		fail "sanitizer report in a daemon log"
	fi
}

# names FILE PREFIX COUNT NODE: COUNT names whose primary is NODE.
names() {
	$OH primary -d "$(addr_of n1)" --want "$(addr_of "$4")" --names "$2" \
		--count "$3" >>"$1" || fail "cannot find $3 names whose primary is $4"
}

# restart NAME: start a killed daemon again on its data dir.
restart() {
	start_node "$1" "$(addr_of "$1")" "" "${DOPTS[@]}"
	wait_active "$1" 30
}

# check_phase NAME LOG...: objhist.py check; counts into the totals.
PROBLEMS=0 LOST=0 OPS=0 PHASES=()
check_phase() {
	local name=$1 out rc lost
	shift
	out=$($OH check -d "$VIA" "$@" 2>"$T/check-$name.err")
	rc=$?
	log "$name: $out"
	if [ $rc -ne 0 ]; then
		log "$name: problems found:"
		head -40 "$T/check-$name.err"
	fi
	[ -n "$out" ] || { tail -5 "$T/check-$name.err"; fail "$name: the check printed nothing"; }
	PROBLEMS=$((PROBLEMS + $(jq -r .problems <<<"$out")))
	lost=$(jq -r '(.kinds["acknowledged write lost"] // 0) + (.kinds["read value vanished"] // 0)' <<<"$out")
	LOST=$((LOST + lost))
	PHASES+=("$name: $(jq -r '"\(.problems) problems \(.kinds)"' <<<"$out")")
}

# --- 1. crash: kill -9 of a replica, restarted at once on its data dir
log "phase 1: 8 writers on 16 keys for ${LOAD}s; kill -9 of n3/n4, restarted"
: >"$T/names1"
names "$T/names1" crash 6 n3
names "$T/names1" crash 6 n4
for j in 0 1 2 3; do echo "crash-x$j" >>"$T/names1"; done
$OH hist -d "$VIA" --log "$T/h1.log" --name-file "$T/names1" --clients 8 \
	--seconds "$LOAD" --seed "$SEED" --tag p1 >"$T/h1.json" 2>"$T/h1.err" &
HIST_PID=$!
KILLS=0
t_end=$((SECONDS + LOAD - 3))
while [ $SECONDS -lt $t_end ]; do
	sleep "$((1 + RANDOM % 3)).$((RANDOM % 10))"
	v=n$((3 + KILLS % 2))
	log "kill -9 $v"
	kill9 "$v"
	KILLS=$((KILLS + 1))
	sleep "0.$((5 + RANDOM % 5))$((RANDOM % 10))"
	restart "$v"
	log "$v is back"
done
wait "$HIST_PID" || fail "phase 1: the load failed: $(tail -5 "$T/h1.err")"
HIST_PID=
log "phase 1 load: $(cat "$T/h1.json")"
OPS=$((OPS + $(jq -r '.gets + .ok + .conflict + .amb + .fail' "$T/h1.json")))
daemons_healthy
check_phase crash "$T/h1.log"

# --- 2. a reader racing a write the primary has not committed yet
log "phase 2: $ROUNDS rounds of writers and readers on n3's keys, ending in kill -9 n3"
for r in $(seq "$ROUNDS"); do
	# Fresh keys every round: each round's history is whole by itself.
	: >"$T/names2-$r"
	names "$T/names2-$r" "race$r" 8 n3
	rm -f "$T/stop2"
	$OH hist -d "$VIA" --log "$T/h2-$r.log" --name-file "$T/names2-$r" \
		--clients 4 --readers 4 --del-pct 0 --stop-file "$T/stop2" \
		--seed $((SEED + r)) --tag "p2r$r" >"$T/h2-$r.json" 2>"$T/h2-$r.err" &
	HIST_PID=$!
	sleep "$((3 + RANDOM % 3)).$((RANDOM % 10))"
	touch "$T/stop2"
	kill9 n3
	KILLS=$((KILLS + 1))
	log "round $r: kill -9 n3 under load"
	sleep 1
	restart n3
	wait "$HIST_PID" || fail "phase 2: the load failed: $(tail -5 "$T/h2-$r.err")"
	HIST_PID=
	log "round $r load: $(cat "$T/h2-$r.json")"
	OPS=$((OPS + $(jq -r '.gets + .ok + .conflict + .amb + .fail + .reads' "$T/h2-$r.json")))
	check_phase "race round $r" "$T/h2-$r.log"
done
daemons_healthy

# --- 3. a primary slower than the replica timeout
log "phase 3: 8 writers on 16 keys; n4 stopped for ${STOP_S}s, twice"
: >"$T/names3"
names "$T/names3" slow 8 n4
names "$T/names3" slow 8 n1
LOAD3=$((2 * STOP_S + 16))
$OH hist -d "$VIA" --log "$T/h3.log" --name-file "$T/names3" --clients 8 \
	--seconds "$LOAD3" --seed "$SEED" --tag p3 >"$T/h3.json" 2>"$T/h3.err" &
HIST_PID=$!
STOPS=0
for _ in 1 2; do
	sleep 4
	log "kill -STOP n4 for ${STOP_S}s"
	kill -STOP "$(pid_of n4)"
	sleep "$STOP_S"
	kill -CONT "$(pid_of n4)"
	STOPS=$((STOPS + 1))
	log "kill -CONT n4"
done
wait "$HIST_PID" || fail "phase 3: the load failed: $(tail -5 "$T/h3.err")"
HIST_PID=
log "phase 3 load: $(cat "$T/h3.json")"
OPS=$((OPS + $(jq -r '.gets + .ok + .conflict + .amb + .fail' "$T/h3.json")))
daemons_healthy
check_phase "slow primary" "$T/h3.log"

log "summary:"
printf '  %s\n' "${PHASES[@]}"
maxb=$(jq -s 'map(.max_ms) | max' "$T"/h*.json)
result "operations=$OPS" "faults=$KILLS kill -9, $STOPS x SIGSTOP ${STOP_S}s" \
	"files=$(cat "$T"/names* | sort -u | wc -l) keys" "lost=$LOST" \
	"corrupt=$((PROBLEMS - LOST))" "max_block_ms=$maxb" \
	"note=seed $SEED; $(IFS=';'; echo "${PHASES[*]}")"
[ "$PROBLEMS" -eq 0 ] || fail "$PROBLEMS problems in the histories (see above)"
log "PASS"
