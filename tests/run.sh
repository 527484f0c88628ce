#!/usr/bin/env bash
# The test driver behind `make test`: unit tests (plain and under
# ASan+UBSan), a bounded fuzz run of the wire decoders, every integration
# scenario in tests/integration/, some of them again with the daemons and
# canfs built with ASan+UBSan, then a table of the fault scenarios'
# results (tests/results/scenarios.txt).  Ends with "N passed, M failed".
#
# Environment: BUILD (build dir, default build), SOAK=1 for the long runs
# (and SOAK_ROUNDS runs each of SOAK_REPEAT, default "fs_resilience
# crash_load", through tests/repeat.sh), ONLY=pattern to run just the
# integration scripts matching it (asan-NAME for the ASan+UBSan runs),
# ASAN_SCENARIOS (names run under ASan+UBSan), FUZZ_SECONDS (default 20),
# FUZZ_META_SECONDS (the fs record fuzzer, default 5), PAIRED (scenarios
# run two at a time, see below) and JOBS (how many at a time, default 2;
# 1 with SOAK=1).
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
RESULTS=tests/results
mkdir -p "$RESULTS"
SUMMARY=$RESULTS/summary.txt
: > "$SUMMARY"
passed=0 failed=0 skipped=0
failures=()

record() { # name status seconds
	printf '%-40s %-5s %6ss\n' "$1" "$2" "$3" | tee -a "$SUMMARY"
	case $2 in
	pass) passed=$((passed + 1)) ;;
	skip) skipped=$((skipped + 1)) ;;
	*) failed=$((failed + 1)); failures+=("$1") ;;
	esac
}

# A cmocka binary: count each of its test cases.
run_unit() { # binary label
	local bin=$1 label=$2 out start np nf
	start=$(date +%s)
	out=$(timeout 300 "$bin" 2>&1)
	local rc=$?
	np=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | tail -1)
	nf=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | tail -1)
	np=${np:-0} nf=${nf:-0}
	if [ $rc -ne 0 ] && [ "$nf" -eq 0 ]; then nf=1; fi
	passed=$((passed + np))
	failed=$((failed + nf))
	printf '%-40s %3d passed %3d failed %4ss\n' "$label" "$np" "$nf" \
		"$(($(date +%s) - start))" | tee -a "$SUMMARY"
	if [ "$nf" -ne 0 ]; then
		failures+=("$label")
		printf '%s\n' "$out" | grep -E 'FAILED|Error|error|ERROR' | head -20
	fi
}

echo "== unit tests"
for t in "$BUILD"/tests/test_*; do
	[ -x "$t" ] && run_unit "$t" "unit $(basename "$t")"
done

# BUILD is set in our environment; name the sanitizer build dir explicitly.
# Two jobs, unless make already shares its own (make -jN test).
SANMAKE=(make -s SANITIZE=address,undefined BUILD=build-san)
[[ ${MAKEFLAGS:-} == *jobserver* ]] || SANMAKE+=(-j2)
echo "== unit tests under ASan+UBSan"
start=$(date +%s)
if "${SANMAKE[@]}" unit >"$RESULTS/asan-build.log" 2>&1; then
	echo "(ASan+UBSan build of the unit tests: $(($(date +%s) - start))s)"
	for t in build-san/tests/test_*; do
		[ -x "$t" ] && run_unit "$t" "asan $(basename "$t")"
	done
else
	record "asan build" fail 0
	tail -20 "$RESULTS/asan-build.log"
fi

echo "== fuzzing the wire and record decoders (ASan+UBSan build)"
# run_fuzz TARGET CORPUS LABEL SECONDS
run_fuzz() {
	local fuzz=build-san/tests/$1 start
	"${SANMAKE[@]}" "$fuzz" >>"$RESULTS/asan-build.log" 2>&1
	[ -x "$fuzz" ] || fuzz=$BUILD/tests/$1
	[ -x "$fuzz" ] || return 0
	start=$(date +%s)
	if timeout 300 "$fuzz" -t "$4" "$2" >"$RESULTS/$1.log" 2>&1; then
		record "$3" pass $(($(date +%s) - start))
	else
		record "$3" fail $(($(date +%s) - start))
		tail -20 "$RESULTS/$1.log"
	fi
}
run_fuzz frame-fuzz tests/fuzz/corpus "fuzz frame decoders" "${FUZZ_SECONDS:-20}"
run_fuzz meta-fuzz tests/fuzz/corpus-meta "fuzz fs record decoders" \
	"${FUZZ_META_SECONDS:-5}"

# start_scenario SCRIPT BUILD_DIR NAME: one integration scenario started in
# the background, logged to tests/results/NAME.log; RUNNING[pid]=NAME.
declare -A RUNNING=() STARTED=()
# Interrupted: end the running scenarios (timeout passes the TERM on; each
# scenario's trap cleans up after itself) before exiting.
stop_scenarios() {
	local pid
	trap - INT TERM
	for pid in "${!RUNNING[@]}"; do kill -TERM "$pid"; done
	wait
	exit 130
}
trap stop_scenarios INT TERM
start_scenario() {
	local s=$1 build=$2 name=$3
	BUILD=$build TEST_NAME=$name timeout -k 10 "$LIMIT" bash "$s" \
		>"$RESULTS/$name.log" 2>&1 &
	RUNNING[$!]=$name
	STARTED[$!]=$(date +%s)
}

# end_scenario: wait for one of the running scenarios to end, and record it.
end_scenario() {
	local pid rc name secs log
	wait -n -p pid "${!RUNNING[@]}"
	rc=$?
	name=${RUNNING[$pid]}
	secs=$(($(date +%s) - STARTED[$pid]))
	unset "RUNNING[$pid]" "STARTED[$pid]"
	log=$RESULTS/$name.log
	if [ $rc -eq 0 ]; then
		record "$name" pass $secs
	elif [ $rc -eq 77 ]; then
		record "$name" skip $secs
		grep -i skip "$log" | tail -1
	else
		record "$name" fail $secs
		echo "---- last lines of $log"
		tail -30 "$log"
		echo "----"
	fi
}

# run_scenarios JOBS BUILD_DIR PREFIX NAME...: tests/integration/NAME.sh
# (or a path) for those selected by ONLY (as PREFIX+name), up to JOBS of
# them at once, each recorded as it ends.
run_scenarios() {
	local jobs=$1 build=$2 prefix=$3 s name
	shift 3
	for s in "$@"; do
		[[ $s == */* ]] || s=tests/integration/$s.sh
		[ -e "$s" ] || continue
		name=$prefix$(basename "$s" .sh)
		selected "$name" || continue
		while [ ${#RUNNING[@]} -ge "$jobs" ]; do end_scenario; done
		start_scenario "$s" "$build" "$name"
	done
	while [ ${#RUNNING[@]} -gt 0 ]; do end_scenario; done
}

# Each scenario's own watchdog is shorter; this is the last resort.
LIMIT=900
[ "${SOAK:-0}" = 1 ] && LIMIT=1800

selected() { [ -z "${ONLY:-}" ] || [[ $1 == *${ONLY}* ]]; }

echo "== integration scenarios"
# make test keeps the scenarios short; make soak runs them at full size.
if [ "${SOAK:-0}" != 1 ]; then
	export NOBJ=${NOBJ:-400}
	export READERS=${READERS:-5}	# store.sh: readers per step, in turn
	# workload.py writers (crash_load, partition, shrink, split): 4 MiB/s
	# each, not as fast as they can (1-2 GB to read back per mount).
	export WRITE_RATE=${WRITE_RATE:-4194304}
	export SPLIT_SECONDS=${SPLIT_SECONDS:-40}	# split.sh
	# fs_basic.sh: /usr/include without its top-level directories of
	# over 500 entries (a third of it here).
	export FS_TREE_MAX=${FS_TREE_MAX:-500}
	export STRESS_SECONDS=${STRESS_SECONDS:-40}	# fs_stress.sh (60 run directly)
fi
rm -f "$RESULTS"/scenario-*.txt
# PAIRED: scenarios that run two at a time (JOBS, default 2; JOBS=1: one
# after the other), longest first: fs_basic beside the others in turn.
# None of them times how soon a failure is noticed or bounds how long
# anything takes, and only fs_basic keeps both cores busy: a neighbour
# slows them, it cannot fail them.  (Not fs_fsck: its sweep checks a 4 s
# grace; not fs_stress: two busy 200 ms-heartbeat overlays side by side.)
# Every other scenario runs alone, after them.
PAIRED=${PAIRED-fs_basic store_cas badinput fs_sparse lab_walk store_batch lab_pkg ctl_status fs_patch store_patch}
SCENARIOS=(tests/integration/*.sh)
[ "${SOAK:-0}" = 1 ] && SCENARIOS+=(tests/soak/*.sh)
ALONE=()
for s in "${SCENARIOS[@]}"; do
	[[ " $PAIRED " == *" $(basename "$s" .sh) "* ]] || ALONE+=("$s")
done
[ "${SOAK:-0}" = 1 ] && JOBS=${JOBS:-1}
read -ra paired -d "" <<<"$PAIRED"
run_scenarios "${JOBS:-2}" "$BUILD" "" "${paired[@]}"
run_scenarios 1 "$BUILD" "" "${ALONE[@]}"

# make soak: fs_resilience and crash_load again and again, at their make
# test size (SOAK_ROUNDS runs each, default 30; tests/repeat.sh), with a
# count of runs, lost and corrupt files and failed runs per scenario
# (printed again at the very end, where a long soak's reader looks).
REPEATED=()
if [ "${SOAK:-0}" = 1 ]; then
	echo "== repeated runs (SOAK_ROUNDS=${SOAK_ROUNDS:-30})"
	for name in ${SOAK_REPEAT:-fs_resilience crash_load}; do
		selected "$name" || continue
		start=$(date +%s)
		REPEATED+=("$name")
		BUILD=$BUILD tests/repeat.sh "$name" | tee "$RESULTS/repeat-$name.txt"
		if [ "${PIPESTATUS[0]}" = 0 ]; then
			record "repeat $name" pass $(($(date +%s) - start))
		else
			record "repeat $name" fail $(($(date +%s) - start))
		fi
	done
fi

# The daemons, canctl and canfs built with ASan+UBSan, through the
# scenarios that exercise the most code paths in little time (all of them
# with SOAK=1): any report aborts a process and fails the scenario.
# (security.sh's floods are sized for the plain build: under ASan they
# stall the daemon for seconds, so it runs there only with SOAK=1.)
echo "== integration scenarios under ASan+UBSan"
ASAN_SCENARIOS=${ASAN_SCENARIOS:-badinput overlay store_cas fs_lock store_patch sim}
[ "${SOAK:-0}" = 1 ] && ASAN_SCENARIOS=$(cd tests/integration && ls -- *.sh | sed 's/\.sh$//')
start=$(date +%s)
if "${SANMAKE[@]}" all build-san/tests/objtool build-san/tests/posix_suite \
	>>"$RESULTS/asan-build.log" 2>&1; then
	echo "(ASan+UBSan build of the daemons and tools: $(($(date +%s) - start))s)"
	export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1}
	export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
	export CANFS_SANITIZED=1	# memory limits in the scenarios allow for ASan
	# ASan slows the daemons 2-3x: beat at 500 ms, or its stalls read as
	# failures.
	export HB=${ASAN_HB:-500}
	read -ra asan -d "" <<<"$ASAN_SCENARIOS"
	run_scenarios 1 build-san asan- "${asan[@]}"
else
	record "asan build (daemons)" fail 0
	tail -20 "$RESULTS/asan-build.log"
fi

# The fault scenarios' records: what was done, what was checked, what
# was lost (tests/results/scenario-*.txt, written by common.sh's result).
TABLE=$RESULTS/scenarios.txt
if ls "$RESULTS"/scenario-*.txt >/dev/null 2>&1; then
	{
		echo
		printf '%-16s %6s %9s %-34s %7s %5s %7s %9s\n' scenario secs \
			ops faults files lost corrupt max-block
		for f in "$RESULTS"/scenario-*.txt; do
			awk -F= '{ v[$1] = substr($0, length($1) + 2) }
			END { printf "%-16s %6s %9s %-34s %7s %5s %7s %7sms\n",
				v["scenario"], v["duration_s"], v["operations"],
				substr(v["faults"], 1, 34), v["files"], v["lost"],
				v["corrupt"], v["max_block_ms"] }' "$f"
		done
	} | tee "$TABLE"
fi

echo
for name in "${REPEATED[@]}"; do
	grep -e "^$name: " -e "^$name failed: " "$RESULTS/repeat-$name.txt"
done
if [ ${#failures[@]} -gt 0 ]; then
	echo "failed: ${failures[*]}"
fi
[ $skipped -gt 0 ] && echo "($skipped skipped)"
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
