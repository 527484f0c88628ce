#!/usr/bin/env bash
# partition.sh: a machine cut off while both sides write; then healed.
#
# Five machines (network namespaces, tests/lib/netns.sh), k=3, mounts on
# machines 1 and 5.  While both write, links first go bad for
# LOSSY_SECONDS (machine 3 drops LOSS% of its packets at random, machine
# 2 sends at most 20 Mbit/s, machine 4's packets are delayed 30 ms where
# the kernel has netem).  Then machine 5 is cut off (its switch port down) for
# PART_SECONDS while each side keeps writing its own files (workload.py:
# only files whose write and close succeeded are recorded) and both write
# the same small file, conflict.txt, from both sides at known moments.
# Then the cable is back.  Afterwards:
#   - the overlay is whole again and every object has k good copies;
#   - every acknowledged file of either side reads back byte-exact from
#     both mounts (no acknowledged write lost);
#   - both mounts list the same tree (names, types, sizes);
#   - conflict.txt holds, on both mounts, the content of the later write:
#     the documented rule is last-writer-wins by version, and versions are
#     hybrid timestamps (see README, "Partitions").
#
# Environment: PART_SECONDS (default 30), LOSSY_SECONDS (default 15), LOSS
# (percent, default 5), SEED, HB (ms, default 500), WRITE_RATE (bytes/s
# per writer, default no limit; make test: 4 MiB/s, run.sh).
TEST_TIMEOUT=${TEST_TIMEOUT:-600}
[ -z "${FS_TMPDIR:-}" ] && [ -w /dev/shm ] && FS_TMPDIR=/dev/shm
export TMPDIR=${FS_TMPDIR:-/tmp}
# 500 ms beats: failure found in 1.5 s, and a loaded 2-core machine's
# stalls are not mistaken for failures.
HB=${HB:-500}
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/fs.sh"
. "$(dirname "$0")/../lib/netns.sh"
require_tools
command -v jq >/dev/null || skip "jq is not installed"

PART=${PART_SECONDS:-30}
LOSSY=${LOSSY_SECONDS:-15}
LOSS=${LOSS:-5}
SEED=${SEED:-$(($$ % 10000))}
K=3
DAEMON_OPTS=(-k $K --repair-interval 5)
WL="python3 $LIB/workload.py"
log "seed $SEED, partition ${PART}s, heartbeat ${HB} ms, k=$K"

net_up 5
net_overlay 5 "${DAEMON_OPTS[@]}"
A=$T/mnt1 B=$T/mnt5
mount_canfs "$A" "unix:$T/m1.sock"
mount_canfs "$B" "unix:$T/m5.sock"
mkdir "$A/side1" "$A/side5" "$A/both" || fail "mkdir"
echo "before the partition" >"$A/both/conflict.txt" || fail "write conflict.txt"
sleep 2	# past the mounts' 1 s caches: B sees the directories

# Both sides write while machine 5 is cut off.
STOP=$T/stop
$WL write "$A/side1" "$T/s1.man" --root "$A" --seed $((SEED + 1)) \
	--max-size 2097152 --max-rate "${WRITE_RATE:-0}" --stop-file "$STOP" \
	>"$T/s1.json" 2>"$T/s1.err" &
W1=$!
$WL write "$B/side5" "$T/s5.man" --root "$B" --seed $((SEED + 5)) \
	--max-size 2097152 --max-rate "${WRITE_RATE:-0}" --stop-file "$STOP" \
	>"$T/s5.json" 2>"$T/s5.err" &
W5=$!
# First bad links, not cut ones: machine 3 loses LOSS% of its packets,
# machine 2 is rate-limited, machine 4 delayed (where the kernel has
# netem), for LOSSY_SECONDS.
net_drop 3 "$LOSS"
net_rate 2 20000
DELAYED=0
net_delay 4 30 && DELAYED=1
sleep "$LOSSY"
net_undrop 3
net_rate 2 0
[ $DELAYED = 1 ] && net_delay 4 0
sleep 2
net_cut 5
t_cut=$(now_ms)
sleep $((PART / 3))
# The same file from both sides: machine 1 first, machine 5 later.
c1="" c5=""
timeout 60 sh -c "echo 'written on machine 1 during the partition' >'$A/both/conflict.txt'" && c1=ok
log "conflict.txt from machine 1: ${c1:-failed}"
sleep 2
timeout 60 sh -c "echo 'written on machine 5 during the partition, later' >'$B/both/conflict.txt'" && c5=ok
log "conflict.txt from machine 5: ${c5:-failed}"
left=$((PART - ($(now_ms) - t_cut) / 1000))
[ $left -gt 0 ] && sleep $left
net_heal 5
sleep 10
touch "$STOP"
wait $W1 || fail "writer 1 failed: $(cat "$T/s1.err")"
wait $W5 || fail "writer 5 failed: $(cat "$T/s5.err")"
log "side 1 writer: $(cat "$T/s1.json")"
log "side 5 writer: $(cat "$T/s5.json")"

overlay_whole 90 300
wait_verify_clean 120 || fail "objects are not back to $K good copies"
sleep 2
verify_acked "$A" "$B" -- "$T/s1.man" "$T/s5.man"
(cd "$A" && find . -printf '%p %y %s\n' | sort) >"$T/tree1"
(cd "$B" && find . -printf '%p %y %s\n' | sort) >"$T/tree5"
diff "$T/tree1" "$T/tree5" >"$T/tree.diff" ||
	{ head -20 "$T/tree.diff"; fail "the two mounts list different trees"; }
want=$(if [ -n "$c5" ]; then echo "written on machine 5 during the partition, later"
	elif [ -n "$c1" ]; then echo "written on machine 1 during the partition"
	else echo "before the partition"; fi)
for m in "$A" "$B"; do
	got=$(cat "$m/both/conflict.txt") || fail "read conflict.txt through $m"
	[ "$got" = "$want" ] || fail "conflict.txt through $m is '$got', want '$want' (last writer wins)"
done
log "conflict.txt: both mounts read the later write"
maxb=$(jq -s 'map(.max_block_ms) | max' "$T/s1.json" "$T/s5.json")
ops=$(($(jq -s 'map(.written + .failed) | add' "$T/s1.json" "$T/s5.json") + 2))
result "operations=$ops" "faults=${LOSS}% loss+rate limit ${LOSSY}s; cut ${PART}s" "files=$FILES" \
	"lost=$LOST" "corrupt=$CORRUPT" "max_block_ms=$maxb" \
	"note=side 5 wrote $(jq -r .written "$T/s5.json") files, $(jq -r .failed "$T/s5.json") failed"
log "PASS: $FILES files on both sides, trees equal, last writer won"
