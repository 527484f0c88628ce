#!/usr/bin/env bash
# store.sh: the replicated object store through membership churn.
#
# 16 daemons on loopback (127.0.7.x, a free port; heartbeat 200 ms, k=3,
# repair every 2 s) hold 2,000 objects of log-uniform random sizes from 1 byte to
# 4 MiB, written by tests/objtool with a manifest (name, size, xxh3).  Then:
#   (a) 6 graceful leaves, one at a time (canctl leave and SIGTERM in turn);
#   (b) 3 rounds of kill -9 of 2 nodes at once, waiting for repair between;
#   (c) 5 new joins;
#   (d) kill -9 of every daemon at once and a restart of all of them from
#       their data dirs (no --join: they resume their saved zones).
# After each step:
#   1. at once, while repair is still busy, one random live node reads every
#      object (recorded; a corrupt read fails the scenario, a missing one is
#      reported as a gap in availability);
#   2. `canctl verify` is polled until every object has its k good copies
#      on its expected replica set (REPAIR_WAIT bounds the wait);
#   3. every live node (READERS of them in turn when READERS is set)
#      reads every object back, size and xxh3 exact (objtool check):
#      nothing missing, nothing corrupt, no errors.
# A daemon that dies on its own, or an ASan/UBSan report in any log, fails
# the scenario.  Timings go to the log and to tests/results/store.txt.
#
# Environment: SEED, PORT, NOBJ (default 2000), MAXSIZE (default 4194304),
# REPAIR_WAIT (s, default 180), READERS (default 0: all), HB, BUILD, KEEP=1.
TEST_TIMEOUT=${TEST_TIMEOUT:-880}
. "$(dirname "$0")/../lib/common.sh"
require_tools

OBJTOOL=$BUILD/tests/objtool
if [ ! -x "$OBJTOOL" ] || [ "$ROOT/tests/objtool.c" -nt "$OBJTOOL" ]; then
	make -s -C "$ROOT" "${BUILD#"$ROOT"/}/tests/objtool" >/dev/null ||
		fail "cannot build tests/objtool"
fi
"$CANCTL" --help 2>&1 | grep -q '^ *verify' ||
	skip "this canctl has no 'verify' command yet"
command -v jq >/dev/null || skip "jq is not installed"

N=16
K=3
NOBJ=${NOBJ:-2000}
MAXSIZE=${MAXSIZE:-4194304}
REPAIR_WAIT=${REPAIR_WAIT:-180}
READERS=${READERS:-0}	# nodes reading everything back per step (0: all)
RR=0
SEED=${SEED:-$(($$ % 10000))}
RANDOM=$SEED
DOPTS=(-k "$K" --repair-interval 2 --store-size 8192)
MANIFEST=$T/manifest
OUT=$RESULTS/$TEST_NAME.txt	# written on exit, whole (runs may overlap)
RES=$T/results.txt		# the table as it grows
PORT=${PORT:-$(free_port)}
ip_of() { echo "127.0.7.$1:$PORT"; }
# pick: a random node expected alive into PICK (not in a subshell, so that
# SEED makes the choices reproducible).
pick() { PICK=${ALIVE[$((RANDOM % ${#ALIVE[@]}))]}; }
secs_since() { ms_to_s $(($(now_ms) - $1)); }
ms_to_s() { awk -v ms="$1" 'BEGIN { printf "%.1f", ms / 1000 }'; }

STEP=setup	# what is under way, for the results when the watchdog fires
trap 'printf "%-34s FAILED: %s\n" "$STEP" "timed out (TEST_TIMEOUT \
${TEST_TIMEOUT}s)" >>"$RES"; log "terminated (watchdog or signal)";
	exit 143' TERM

mkdir -p "$RESULTS"
{
	echo "# store.sh seed $SEED: $NOBJ objects, 1..$MAXSIZE bytes" \
		"log-uniform, k=$K, heartbeat $HB ms, repair every 2 s"
	echo "# step: the event itself; repair: event end to verify clean;" \
		"check: reads back through live nodes (objects x readers);"
	echo "# during-repair: one node's reads right after the event" \
		"(missing/corrupt)"
	printf '%-34s %5s %7s %7s %7s %8s %7s %7s %6s %13s\n' step nodes \
		"step_s" "repair_s" "check_s" checked missing corrupt errors \
		during-repair
} >"$RES"
# On any exit: publish the table, then common.sh's cleanup (with our rc).
trap 'rc=$?; cp "$RES" "$OUT" 2>/dev/null; (exit $rc); cleanup' EXIT
log "seed $SEED, $NOBJ objects up to $MAXSIZE bytes, k=$K; results in $OUT"

# Fail if a daemon expected alive died, or any log shows a sanitizer report.
daemons_healthy() {
	local n
	for n in "${ALIVE[@]}"; do
		running "$n" || {
			tail -20 "$T/$n.log"
			fail "$n (pid $(pid_of "$n")) died on its own"
		}
	done
	if grep -l "ERROR: AddressSanitizer\|runtime error:\|LeakSanitizer" \
		"$T"/*.log 2>/dev/null; then
		grep -h -A15 "ERROR: AddressSanitizer\|runtime error:" \
			"$T"/*.log | head -60
		fail "sanitizer report in a daemon log"
	fi
}

# fail_step LABEL REASON: record the failure in the results, diagnose, fail.
fail_step() {
	printf '%-34s FAILED: %s\n' "$1" "$2" >>"$RES"
	diagnose
	fail "after $1: $2"
}

# Diagnosis for a failure: takeovers of nodes that were in fact alive
# (false failure detection), and the warning mix of the daemon logs.
diagnose() {
	local line victim n live
	log "takeovers logged (* = the 'failed' node was alive, never killed):"
	grep -h "took over the zones of failed" "$T"/*.log 2>/dev/null |
		sort | while read -r line; do
		victim=$(printf '%s\n' "$line" | sed -n 's/.*(\(.*\))$/\1/p')
		live=" "
		for n in "${ALIVE[@]}"; do
			[ "$(addr_of "$n")" = "$victim" ] && live="*"
		done
		echo "  $live $line"
	done | tail -40
	log "warnings and errors in the daemon logs, by kind:"
	grep -h ' warn: \| error: ' "$T"/*.log 2>/dev/null |
		sed 's/^[0-9:.]* canfsd \[[0-9a-f]*\] //; s/[0-9a-f]\{16\}/ID/g;
		s/127\.0\.7\.[0-9]*:[0-9]*/ADDR/g; s/[0-9][0-9]*/N/g' |
		sort | uniq -c | sort -rn | head -15
}

# objtool check of the manifest through node $1; prints the summary line.
# Sets CK_MISSING CK_CORRUPT CK_ERRORS.
check_via() {
	local name=$1 out
	out=$("$OBJTOOL" check -q -d "$(addr_of "$name")" -m "$MANIFEST" \
		-c 4 -w 8 2>"$T/check-$name.err")
	local line
	line=$(printf '%s\n' "$out" | grep '^checked ')
	[ -n "$line" ] || {
		cat "$T/check-$name.err"
		fail "objtool check through $name printed no summary"
	}
	read -r CK_MISSING CK_CORRUPT CK_ERRORS < <(printf '%s\n' "$line" |
		sed -n 's/^checked [0-9]*, missing \([0-9]*\), corrupt \([0-9]*\), errors \([0-9]*\).*/\1 \2 \3/p')
	log "  via $name ($(addr_of "$name")): $line"
	if [ $((CK_MISSING + CK_CORRUPT + CK_ERRORS)) -ne 0 ]; then
		sed 's/^/    /' "$T/check-$name.err" | head -12
	fi
}

# One verify through a live node; sets V_* from its JSON.  False when it
# could not run.
verify_once() {
	local via out
	# Rotate (not RANDOM: the number of polls must not move SEED's picks).
	VERIFY_N=$((${VERIFY_N:-0} + 1))
	via=${ALIVE[$((VERIFY_N % ${#ALIVE[@]}))]}
	out=$("$CANCTL" -d "$(addr_of "$via")" -t 10000 verify --json \
		2>"$T/verify.err") || true
	VERIFY_JSON=$out
	read -r V_NODES V_UNREACH V_KEYS V_FULL V_UNDER V_CORRUPT V_EXTRA \
		< <(printf '%s\n' "$out" | jq -r '[.nodes, .unreachable,
		.keys, .full, .under_replicated, .corrupt, .extra] | @tsv' \
		2>/dev/null)
	[ -n "${V_NODES:-}" ]
}

# True when verify shows every object with all its k good copies.
verify_clean() {
	[ "$V_NODES" -eq "${#ALIVE[@]}" ] && [ "$V_UNREACH" -eq 0 ] &&
		[ "$V_KEYS" -eq "$NOBJ" ] && [ "$V_FULL" -eq "$NOBJ" ] &&
		[ "$V_UNDER" -eq 0 ] && [ "$V_CORRUPT" -eq 0 ]
}

# Poll verify until clean; sets REPAIR_S (seconds since $1 ms).
wait_replicated() {
	local since=$1 label=$2 last=""
	while :; do
		V_NODES=""
		if verify_once && verify_clean; then
			REPAIR_S=$(secs_since "$since")
			log "verify clean after ${REPAIR_S}s: $V_KEYS keys," \
				"$V_FULL with $K good copies, $V_EXTRA extra copies"
			return 0
		fi
		local now="nodes ${V_NODES:-?}/${#ALIVE[@]} keys ${V_KEYS:-?}"
		now+=" full ${V_FULL:-?} under ${V_UNDER:-?} corrupt"
		now+=" ${V_CORRUPT:-?} extra ${V_EXTRA:-?}"
		[ "$now" != "$last" ] && log "  verify: $now"
		last=$now
		if [ $(($(now_ms) - since)) -ge $((REPAIR_WAIT * 1000)) ]; then
			printf '%s\n' "$VERIFY_JSON" | jq . 2>/dev/null ||
				cat "$T/verify.err"
			fail_step "$label" "verify not clean within ${REPAIR_WAIT}s ($now)"
		fi
		sleep 1
	done
}

# step_done LABEL EVENT_START_MS EVENT_END_MS: the checks after a step.
step_done() {
	local label=$1 t0=$2 t1=$3 via c0 checked=0 miss=0 corr=0 errs=0
	local step_s during
	STEP=$label
	step_s=$(ms_to_s $((t1 - t0)))
	log "== after: $label (${#ALIVE[@]} nodes; event took ${step_s}s)"
	daemons_healthy
	pick
	via=$PICK
	log "reads during repair:"
	check_via "$via"
	during="$CK_MISSING/$CK_CORRUPT"
	[ "$CK_CORRUPT" -eq 0 ] ||
		fail_step "$label" "corrupt objects read through $via"
	[ $((CK_MISSING + CK_ERRORS)) -eq 0 ] || log "NOTE: $CK_MISSING" \
		"missing and $CK_ERRORS failed reads while repair was running"
	wait_replicated "$t1" "$label"
	daemons_healthy
	c0=$(now_ms)
	# READERS live nodes read (the next ones in turn, so that over the
	# run every node reads); all of them when READERS is 0.
	local readers=("${ALIVE[@]}") i
	if [ "$READERS" -gt 0 ] && [ "$READERS" -lt ${#ALIVE[@]} ]; then
		readers=()
		for ((i = 0; i < READERS; i++)); do
			readers+=("${ALIVE[$(((RR + i) % ${#ALIVE[@]}))]}")
		done
		RR=$((RR + READERS))
	fi
	log "reads through ${#readers[@]} of ${#ALIVE[@]} live nodes:"
	for n in "${readers[@]}"; do
		check_via "$n"
		checked=$((checked + NOBJ))
		miss=$((miss + CK_MISSING))
		corr=$((corr + CK_CORRUPT))
		errs=$((errs + CK_ERRORS))
	done
	local check_s
	check_s=$(secs_since "$c0")
	printf '%-34s %5d %7s %7s %7s %8d %7d %7d %6d %13s\n' "$label" \
		"${#ALIVE[@]}" "$step_s" "$REPAIR_S" "$check_s" "$checked" \
		"$miss" "$corr" "$errs" "$during" >>"$RES"
	[ $((miss + corr + errs)) -eq 0 ] ||
		fail_step "$label" "$miss missing, $corr corrupt, $errs errors"
	daemons_healthy
}

# --- 16 daemons, each joining through a random earlier one
t0=$(now_ms)
start_node n01 "$(ip_of 1)" "" "${DOPTS[@]}"
wait_active n01
for i in $(seq 2 $N); do
	pick
	via=$PICK
	name=$(printf 'n%02d' "$i")
	start_node "$name" "$(ip_of "$i")" "$(addr_of "$via")" "${DOPTS[@]}"
	wait_active "$name"
done
check_overlay --points 200 --wait 30 -q >"$T/overlay.out" 2>&1 || {
	cat "$T/overlay.out"
	fail "the overlay of $N nodes is not right"
}
log "$N daemons up in $(secs_since "$t0")s"

# --- the objects
STEP="write $NOBJ objects"
t0=$(now_ms)
# shellcheck disable=SC2046
addrs=$(alive_addrs | tr ' ' ',')
"$OBJTOOL" put -d "$addrs" -n "$NOBJ" -s "$SEED" --min 1 --max "$MAXSIZE" \
	-m "$MANIFEST" -c 16 -w 4 -q 2>"$T/put.err" | tee "$T/put.out"
rc=${PIPESTATUS[0]}
t1=$(now_ms)
if [ "$rc" -ne 0 ]; then
	head -20 "$T/put.err"
	fail "objtool put failed on a healthy overlay (rc $rc)"
fi
log "wrote $NOBJ objects ($(awk '!/^#/ {s += $2} END {printf "%.1f MiB", s / 1048576}' "$MANIFEST")) in $(ms_to_s $((t1 - t0)))s"
step_done "write $NOBJ objects" "$t0" "$t1"

# --- (a) 6 graceful leaves
for k in 1 2 3 4 5 6; do
	pick
	victim=$PICK
	STEP="leave $k ($victim)"
	t0=$(now_ms)
	if [ $((k % 2)) -eq 1 ]; then
		how="canctl leave"
		log "graceful leave $k: $victim by canctl leave"
		stop_leave "$victim" 120
	else
		how="SIGTERM"
		log "graceful leave $k: $victim by SIGTERM"
		stop_term "$victim" 120
	fi
	t1=$(now_ms)
	grep -q "left the overlay" "$T/$victim.log" ||
		fail "$victim exited without logging that it left"
	step_done "leave $k ($how $victim)" "$t0" "$t1"
done

# --- (b) 3 rounds of 2 simultaneous crashes
for r in 1 2 3; do
	pick
	a=$PICK
	b=$a
	while [ "$b" = "$a" ]; do pick; b=$PICK; done
	log "crash round $r: kill -9 $a and $b at once"
	STEP="crash $r (kill -9 $a $b)"
	t0=$(now_ms)
	kill9 "$a" "$b"
	t1=$(now_ms)
	step_done "crash $r (kill -9 $a $b)" "$t0" "$t1"
done

# --- (c) 5 new joins
STEP="5 joins"
t0=$(now_ms)
for i in $(seq $((N + 1)) $((N + 5))); do
	pick
	via=$PICK
	name=$(printf 'n%02d' "$i")
	log "join: $name through $via"
	start_node "$name" "$(ip_of "$i")" "$(addr_of "$via")" "${DOPTS[@]}"
	wait_active "$name" 60
done
t1=$(now_ms)
step_done "5 joins" "$t0" "$t1"

# --- (d) crash everything, restart from the data dirs
survivors=("${ALIVE[@]}")
STEP="restart all"
log "kill -9 of all ${#survivors[@]} daemons at once, then restart them"
t0=$(now_ms)
kill9 "${survivors[@]}"
for n in "${survivors[@]}"; do
	start_node "$n" "$(addr_of "$n")" "" "${DOPTS[@]}"
done
for n in "${survivors[@]}"; do wait_active "$n" 60; done
check_overlay --points 200 --wait 60 -q >"$T/overlay.out" 2>&1 || {
	cat "$T/overlay.out"
	fail "the overlay is not right after the restart"
}
t1=$(now_ms)
for n in "${survivors[@]}"; do
	grep -q "resuming [0-9]* saved zone" "$T/$n.log" ||
		log "NOTE: $n did not log that it resumed its saved zones"
done
step_done "restart all (kill -9, no --join)" "$t0" "$t1"

log "results ($OUT):"
cat "$RES"
log "PASS"
