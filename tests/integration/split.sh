#!/usr/bin/env bash
# split.sh: the overlay split into two groups, 3 | 2, while both write.
#
# Five machines (network namespaces, tests/lib/netns.sh), k=3.  The two
# machines of the smaller side are neighbours holding less than half of
# the space's volume together (picked from the zone map), so they still
# hear each other when cut off from the rest: the case that a node's own
# "no neighbour answers" rule cannot see (README, "Split of a group").
# A mount on each side writes its own files (workload.py: only files whose
# write and close succeeded count).  For SPLIT_SECONDS nothing passes
# between the groups (nftables), then the split heals.  Checked:
#   - both daemons of the 2-side declare themselves in the minority
#     (their log, and canctl status: degraded, naming the minority), and
#     a write through the 2-side's mount then fails with EIO within the
#     documented bound (the daemon's 30 s of retries), not a hang and
#     never a success;
#   - the 2-side takes nothing over (it claims the volume it held);
#   - the 3-side carries on: a write through its mount succeeds during
#     the split, and its daemons take the 2-side's zones over (they tile
#     the space alone);
#   - after the heal the five daemons' zones tile the space exactly,
#     every object is back to k good copies, every acknowledged file of
#     either side reads back byte-exact through both mounts, and both
#     mounts list the same tree.
# On the code before the quorum rule the 2-side took its 3-side neighbours'
# zones over (and accepted writes for keys whose replicas all fell in its
# space): the volume check fails there.
#
# Environment: SPLIT_SECONDS (default 60; make test: 40, run.sh: the split
# lasts at least until the checks above are done, the 2-side's EIO after
# the daemon's 30 s of retries among them), SEED, HB (ms, default 500),
# WRITE_RATE (bytes/s per writer, default no limit; make test: 4 MiB/s).
TEST_TIMEOUT=${TEST_TIMEOUT:-480}
[ -z "${FS_TMPDIR:-}" ] && [ -w /dev/shm ] && FS_TMPDIR=/dev/shm
export TMPDIR=${FS_TMPDIR:-/tmp}
HB=${HB:-500}
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/fs.sh"
. "$(dirname "$0")/../lib/netns.sh"
require_tools
command -v jq >/dev/null || skip "jq is not installed"

SPLIT=${SPLIT_SECONDS:-60}
SEED=${SEED:-$(($$ % 10000))}
K=3
WL="python3 $LIB/workload.py"
log "seed $SEED, split ${SPLIT}s, heartbeat ${HB} ms, k=$K"

net_up 5
net_overlay 5 -k $K --repair-interval 5

# pick_minority: "I J", two neighbouring machines holding together the
# least volume below half (the smaller side of the split).
pick_minority() {
	${NET_EXEC:-} python3 - "$NET_PORT" "$(alive_addrs)" <<'PY'
import sys, canwire
port, addrs = sys.argv[1], sys.argv[2].split()
st = {a: canwire.status(a) for a in addrs}
d = next(iter(st.values()))["dims"]
whole = 1 << (32 * d)
vol = {a: sum(canwire.zone_volume(z) for z in s["zones"]) / whole
       for a, s in st.items()}
ids = {s["id"]: a for a, s in st.items()}
best = None
for a, s in st.items():
    for nb in s["neighbours"]:
        b = ids.get(nb["id"])
        if b is None or b <= a:
            continue
        v = vol[a] + vol[b]
        if v < 0.5 and (best is None or v < best[0]):
            best = (v, a, b)
if best is None:
    sys.exit("no two neighbouring machines hold less than half the space")
mach = lambda a: a.split(":")[0].rsplit(".", 1)[1]
print(mach(best[1]), mach(best[2]), "%.4f" % best[0])
PY
}
read -r M1 M2 VOL <<<"$(pick_minority)" || fail "cannot pick the 2-side"
[ -n "$VOL" ] || fail "cannot pick the 2-side"
MIN="$M1 $M2"
MAJ=$(for i in 1 2 3 4 5; do [[ " $MIN " == *" $i "* ]] || echo "$i"; done | xargs)
read -r A_M _ <<<"$MAJ"
log "2-side: machines $MIN (volume $VOL); 3-side: machines $MAJ"

A=$T/mnt$A_M B=$T/mnt$M1
mount_canfs "$A" "unix:$T/m$A_M.sock"
mount_canfs "$B" "unix:$T/m$M1.sock"
mkdir "$A/big" "$A/small" || fail "mkdir"
sleep 2	# past the mounts' 1 s caches: B sees the directories

STOP=$T/stop
$WL write "$A/big" "$T/big.man" --root "$A" --seed $((SEED + 1)) \
	--max-size 262144 --max-rate "${WRITE_RATE:-0}" --stop-file "$STOP" \
	>"$T/big.json" 2>"$T/big.err" &
WA=$!
$WL write "$B/small" "$T/small.man" --root "$B" --seed $((SEED + 2)) \
	--max-size 262144 --max-rate "${WRITE_RATE:-0}" --stop-file "$STOP" \
	>"$T/small.json" 2>"$T/small.err" &
WB=$!
sleep 3
net_split "$MIN" "$MAJ"
t_split=$(now_ms)

# Both 2-side daemons find themselves in the minority.
for i in $MIN; do
	wait_for 30 grep -q "in the minority" "$T/m$i.log" ||
		fail "machine $i did not declare itself in the minority"
done
log "2-side in the minority after $((($(now_ms) - t_split) / 1000)) s"
# ...and says so: canctl status through a 2-side daemon is not healthy and
# names the minority (canfs_cut_off).
st=$(${NET_EXEC:-} timeout 60 "$CANCTL" -d "$(mach_addr "$M1")" status 2>&1)
rc=$?
[ $rc -eq 5 ] || [ $rc -eq 6 ] || fail "canctl status during the split: exit $rc, want 5 or 6: $st"
grep -q "in the minority" <<<"$st" || fail "canctl status does not name the minority: $st"

# A write on the 2-side now fails with EIO, within the daemon's 30 s of
# retries (plus the mount's own): never a success, never a hang.
t0=$(now_ms)
if timeout 75 sh -c "echo 'written on the 2-side' >'$B/small/during-split'" \
	2>"$T/small-write.err"; then
	fail "a write on the minority side succeeded during the split"
fi
took=$(($(now_ms) - t0))
grep -q "Input/output error" "$T/small-write.err" ||
	fail "the minority's write failed, but not with EIO: $(cat "$T/small-write.err")"
[ $took -lt 70000 ] || fail "the minority's write took ${took} ms to fail"
log "2-side write failed with EIO after ${took} ms"

# The 3-side carries on, and alone holds the whole space.
timeout 60 sh -c "echo 'written on the 3-side' >'$A/big/during-split'" ||
	fail "a write on the majority side failed during the split"
SAVED=("${ALIVE[@]}")
for i in $MIN; do alive_del "m$i"; done
overlay_whole 45 100
ALIVE=("${SAVED[@]}")
log "3-side tiles the space alone"
# ...while the 2-side took nothing over: it claims what it held before.
now_vol=$(${NET_EXEC:-} python3 - "$(mach_addr "$M1") $(mach_addr "$M2")" <<'PY'
import sys, canwire
tot = 0
for a in sys.argv[1].split():
    s = canwire.status(a)
    tot += sum(canwire.zone_volume(z) for z in s["zones"]) / (1 << (32 * s["dims"]))
print("%.4f" % tot)
PY
) || fail "cannot ask the 2-side for its zones"
[ "$now_vol" = "$VOL" ] ||
	fail "the 2-side claims volume $now_vol during the split, $VOL before: it took space over"

left=$((SPLIT - ($(now_ms) - t_split) / 1000))
[ $left -gt 0 ] && sleep $left
net_unsplit "$MIN"
sleep 10
touch "$STOP"
wait $WA || fail "writer A failed: $(cat "$T/big.err")"
wait $WB || fail "writer B failed: $(cat "$T/small.err")"
log "3-side writer: $(cat "$T/big.json")"
log "2-side writer: $(cat "$T/small.json")"

overlay_whole 90 300
wait_verify_clean 120 || fail "objects are not back to $K good copies"
sleep 2
verify_acked "$A" "$B" -- "$T/big.man" "$T/small.man"
[ "$(cat "$A/big/during-split")" = "written on the 3-side" ] ||
	fail "the 3-side's write during the split is gone"
[ ! -e "$A/small/during-split" ] ||
	fail "the 2-side's failed write exists after the heal"
(cd "$A" && find . -printf '%p %y %s\n' | sort) >"$T/treeA"
(cd "$B" && find . -printf '%p %y %s\n' | sort) >"$T/treeB"
diff "$T/treeA" "$T/treeB" >"$T/tree.diff" ||
	{ head -20 "$T/tree.diff"; fail "the two mounts list different trees"; }
maxb=$(jq -s 'map(.max_block_ms) | max' "$T/big.json" "$T/small.json")
ops=$(jq -s 'map(.written + .failed) | add' "$T/big.json" "$T/small.json")
result "operations=$((ops + 2))" "faults=split 3|2 for ${SPLIT}s" "files=$FILES" \
	"lost=$LOST" "corrupt=$CORRUPT" "max_block_ms=$maxb" \
	"note=2-side wrote $(jq -r .written "$T/small.json") files, $(jq -r .failed "$T/small.json") failed; its EIO after ${took} ms"
log "PASS: 2-side refused writes, 3-side carried on, $FILES files intact"
