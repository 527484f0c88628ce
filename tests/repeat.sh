#!/usr/bin/env bash
# repeat.sh: run integration scenarios again and again, and count.
#
#   tests/repeat.sh [NAME...]      (default: fs_resilience crash_load)
#
# Runs tests/integration/NAME.sh SOAK_ROUNDS times (default 30), one run
# after the other, each at its `make test` size (SOAK is unset for them)
# and under the same last-resort limit as in run.sh (LIMIT, default 900 s).
# Run i of NAME is TEST_NAME=NAME-rI: its log is tests/results/repeat/
# NAME-rI.log (kept only when the run failed, with the daemons' logs in
# tests/results/repeat/NAME-rI-logs/), its record tests/results/repeat/
# scenario-NAME-rI.txt.  What each run lost or corrupted comes from its
# record (lost=, corrupt=) when it wrote one, else from its log: the
# acknowledged-file checks (verify_acked's "verify through ...: {json}")
# and sha256sum's complaints ("FAILED open or read": lost; "FAILED":
# corrupt).  Prints one line per run (with its SEED, to replay it), then
# per scenario
#
#   fs_resilience: 30 passed, 0 failed (30 runs, 0 lost, 0 corrupt)
#
# followed, when runs failed, by "NAME failed: rI seed S, ..." (both also
# appended to tests/results/repeat/counts.txt).  A run that exits
# 77 counts as skipped (and stops that scenario's repeats).  Exit status:
# 0 when every run passed or skipped, else 1.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
ROUNDS=${SOAK_ROUNDS:-30}
LIMIT=${LIMIT:-900}
OUT=tests/results/repeat
mkdir -p "$OUT"
NAMES=("$@")
[ ${#NAMES[@]} -gt 0 ] || NAMES=(fs_resilience crash_load)

# lost and corrupt of one run: "LOST CORRUPT".
damage() { # log record
	local log=$1 rec=$2
	if [ -s "$rec" ]; then
		awk -F= '$1 == "lost" { l = $2 } $1 == "corrupt" { c = $2 }
			END { print l + 0, c + 0 }' "$rec"
		return
	fi
	python3 - "$log" <<'EOF'
import json, re, sys
lost = corrupt = 0
for line in open(sys.argv[1], errors="replace"):
    m = re.search(r"verify through \S+: (\{.*\})", line)
    if m:
        try:
            v = json.loads(m.group(1))
        except ValueError:
            continue
        lost += v.get("lost", 0)
        corrupt += v.get("corrupt", 0) + v.get("errors", 0)
    elif line.rstrip().endswith(": FAILED open or read"):
        lost += 1
    elif line.rstrip().endswith(": FAILED"):
        corrupt += 1
    else:
        m = re.search(r"B lists (\d+) files, the source has (\d+)", line)
        if m:
            lost += max(0, int(m.group(2)) - int(m.group(1)))
        elif "the verifying reader read a wrong byte" in line:
            corrupt += 1
print(lost, corrupt)
EOF
}

bad=0
for name in "${NAMES[@]}"; do
	s=tests/integration/$name.sh
	[ -e "$s" ] || { echo "$name: no such scenario ($s)"; bad=1; continue; }
	runs=0 lost=0 corrupt=0 failed=0 skipped=0 fails=()
	rm -rf "$OUT/$name"-r[0-9]*
	for i in $(seq "$ROUNDS"); do
		tn=$name-r$i
		log=$OUT/$tn.log
		start=$(date +%s)
		env -u SOAK BUILD="$BUILD" TEST_NAME="$tn" \
			timeout -k 10 "$LIMIT" bash "$s" >"$log" 2>&1
		rc=$?
		secs=$(($(date +%s) - start))
		rec=tests/results/scenario-$tn.txt
		[ -e "$rec" ] && mv "$rec" "$OUT/"
		rm -rf "$OUT/$tn-logs"
		[ -d "tests/results/$tn-logs" ] && mv "tests/results/$tn-logs" "$OUT/"
		read -r l c < <(damage "$log" "$OUT/scenario-$tn.txt")
		# Every scenario logs its seed ("seed N") before anything else.
		seed=$(grep -o -m1 'seed [0-9]*' "$log" | cut -d' ' -f2)
		if [ $rc -eq 77 ]; then
			skipped=$((skipped + 1))
			printf '%-28s skip %5ss  %s\n' "$tn" "$secs" "$(grep -i skip "$log" | tail -1)"
			rm -f "$log"
			break
		fi
		runs=$((runs + 1))
		lost=$((lost + l))
		corrupt=$((corrupt + c))
		if [ $rc -eq 0 ]; then
			printf '%-28s pass %5ss  seed %-5s lost %s corrupt %s\n' "$tn" "$secs" \
				"${seed:-?}" "$l" "$c"
			rm -f "$log"
		else
			failed=$((failed + 1))
			fails+=("r$i seed ${seed:-?}")
			printf '%-28s FAIL %5ss  seed %-5s lost %s corrupt %s (exit %s): %s\n' "$tn" \
				"$secs" "${seed:-?}" "$l" "$c" "$rc" \
				"$(grep 'FAIL:\|terminated' "$log" | tail -1 | cut -c14-)"
		fi
	done
	line="$name: $((runs - failed)) passed, $failed failed ($runs runs, $lost lost, $corrupt corrupt)"
	[ $skipped -gt 0 ] && line="$line, skipped"
	if [ $failed -gt 0 ]; then
		line="$line
$name failed: $(printf '%s, ' "${fails[@]}" | sed 's/, $//')"
	fi
	echo "$line" | tee -a "$OUT/counts.txt"
	[ $failed -eq 0 ] && [ $lost -eq 0 ] && [ $corrupt -eq 0 ] || bad=1
done
exit $bad
