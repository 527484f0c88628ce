#!/usr/bin/env bash
# bench-sim.sh: path length in the simulator (`make bench-sim`).
#
# For each d in DIMS and n in SIZES, one cansim run (seed SEED, LOOKUPS
# random lookups after the joins settle, every invariant checked as it
# runs): mean and longest path next to CAN's (d/4)*n^(1/d), the mean
# neighbour count, memory allocated per node after the joins (malloc's
# count, mapped blocks included), and the wall time.
# Writes a Markdown table to tests/results/bench-sim.md (OUT=FILE) and
# prints it.  A run whose invariants fail stops the benchmark (exit 1,
# with cansim's report: seed and event number).
#
# Environment (all optional): DIMS="2 3 4 5" SIZES="256 1024 4096"
# LOOKUPS=2000 SEED=1 BUILD=build OUT=FILE.
set -u
cd "$(dirname "$0")/.." || exit 1
BUILD=${BUILD:-build}
CANSIM=$BUILD/cansim
[ -x "$CANSIM" ] || { echo "bench-sim: $CANSIM not built (make)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "bench-sim: needs python3" >&2; exit 1; }
DIMS=${DIMS:-2 3 4 5}
SIZES=${SIZES:-256 1024 4096}
LOOKUPS=${LOOKUPS:-2000}
SEED=${SEED:-1}
OUT=${OUT:-tests/results/bench-sim.md}
mkdir -p "$(dirname "$OUT")"
RUNS=$(mktemp "${TMPDIR:-/tmp}/canfs-bench-sim.XXXXXX")
trap 'rm -f "$RUNS"' EXIT

for d in $DIMS; do
	for n in $SIZES; do
		echo "bench-sim: n=$n d=$d" >&2
		if ! "$CANSIM" --json --nodes "$n" --dims "$d" --seed "$SEED" \
			--lookups "$LOOKUPS" >>"$RUNS"; then
			echo "bench-sim: n=$n d=$d seed $SEED: invariants failed" >&2
			exit 1
		fi
	done
done

python3 - "$RUNS" "$SEED" "$LOOKUPS" >"$OUT" <<'PY'
import json, sys
runs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print("Path length in cansim (seed %s, %s random lookups after the joins"
      " settle, routing cache off; every run's invariants held)." %
      (sys.argv[2], sys.argv[3]))
print()
print("| d | n | mean hops | (d/4)n^(1/d) | ratio | max hops |"
      " neighbours | alloc/node | wall |")
print("|---|---|---|---|---|---|---|---|---|")
for r in runs:
    print("| %d | %d | %.2f | %.2f | %.3f | %d | %.1f | %.0f KiB | %.1f s |" % (
        r["dims"], r["nodes"], r["mean_hops"], r["expected_hops"],
        r["mean_hops"] / r["expected_hops"], r["max_hops"],
        r["mean_neighbours"], r["alloc_bytes_per_node"] / 1024,
        r["wall_s"]))
PY
cat "$OUT"
