#!/usr/bin/env bash
# The test driver behind `make test`: unit tests (plain and under
# ASan+UBSan), a bounded fuzz run of the wire decoders, and every
# integration scenario in tests/integration/.  Ends with "N passed, M failed".
#
# Environment: BUILD (build dir, default build), SOAK=1 for the long runs,
# ONLY=pattern to run just the integration scripts matching it,
# FUZZ_SECONDS (default 20).
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

echo "== unit tests under ASan+UBSan"
# BUILD is set in our environment; name the sanitizer build dir explicitly.
SANMAKE=(make -s SANITIZE=address,undefined BUILD=build-san)
if "${SANMAKE[@]}" unit >"$RESULTS/asan-build.log" 2>&1; then
	for t in build-san/tests/test_*; do
		[ -x "$t" ] && run_unit "$t" "asan $(basename "$t")"
	done
else
	record "asan build" fail 0
	tail -20 "$RESULTS/asan-build.log"
fi

echo "== fuzzing the wire decoders (ASan+UBSan build)"
"${SANMAKE[@]}" build-san/tests/frame-fuzz >>"$RESULTS/asan-build.log" 2>&1
FUZZ=build-san/tests/frame-fuzz
[ -x "$FUZZ" ] || FUZZ=$BUILD/tests/frame-fuzz
if [ -x "$FUZZ" ]; then
	start=$(date +%s)
	if timeout 300 "$FUZZ" -t "${FUZZ_SECONDS:-20}" \
		tests/fuzz/corpus >"$RESULTS/fuzz.log" 2>&1; then
		record "fuzz frame decoders" pass $(($(date +%s) - start))
	else
		record "fuzz frame decoders" fail $(($(date +%s) - start))
		tail -20 "$RESULTS/fuzz.log"
	fi
fi

echo "== integration scenarios"
# make test keeps the scenarios short; make soak runs them at full size.
if [ "${SOAK:-0}" != 1 ]; then
	export NOBJ=${NOBJ:-400}
fi
SCENARIOS=(tests/integration/*.sh)
[ "${SOAK:-0}" = 1 ] && SCENARIOS+=(tests/soak/*.sh)
for s in "${SCENARIOS[@]}"; do
	[ -e "$s" ] || continue
	name=$(basename "$s" .sh)
	if [ -n "${ONLY:-}" ] && [[ $name != *${ONLY}* ]]; then continue; fi
	start=$(date +%s)
	log=$RESULTS/$name.log
	BUILD=$BUILD timeout -k 10 900 bash "$s" >"$log" 2>&1
	rc=$?
	secs=$(($(date +%s) - start))
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
done

echo
if [ ${#failures[@]} -gt 0 ]; then
	echo "failed: ${failures[*]}"
fi
[ $skipped -gt 0 ] && echo "($skipped skipped)"
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
