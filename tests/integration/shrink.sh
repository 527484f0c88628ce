#!/usr/bin/env bash
# shrink.sh: half the machines leave, one by one, while files are written.
#
# Twelve machines (network namespaces, tests/lib/netns.sh), k=3, mounts
# on machines 1 and 2 writing files (workload.py: only files whose write
# and close succeeded are recorded).  Machines 12 down to 7 leave
# gracefully one after the other, alternately by 'canctl leave' and by
# SIGTERM; after each leave the zones of the remaining machines must tile
# the space exactly (check_overlay.py), with every neighbour table right.
# At the end every acknowledged file reads back byte-exact through both
# mounts, and 'canctl verify' shows k good copies of every object on the
# six machines left.
#
# Environment: SEED, HB (ms, default 500), MAX_SIZE (bytes, default 4 MiB),
# LEAVE_GAP (s between leaves, default 4), WRITE_RATE (bytes/s per writer,
# default no limit; make test: 4 MiB/s, run.sh).
TEST_TIMEOUT=${TEST_TIMEOUT:-700}
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

SEED=${SEED:-$(($$ % 10000))}
K=3
GAP=${LEAVE_GAP:-4}
DAEMON_OPTS=(-k $K --repair-interval 5)
WL="python3 $LIB/workload.py"
log "seed $SEED, heartbeat ${HB} ms, k=$K"

net_up 12
net_overlay 12 "${DAEMON_OPTS[@]}"
for i in 1 2; do
	wait_for 10 test -S "$T/m$i.sock" || fail "m$i made no socket"
	mount_canfs "$T/mnt$i" "unix:$T/m$i.sock"
done
mkdir "$T/mnt1/w1" "$T/mnt2/w2" || fail "mkdir on the mounts"

STOP=$T/stop
for i in 1 2; do
	$WL write "$T/mnt$i/w$i" "$T/w$i.man" --root "$T/mnt$i" --seed $((SEED + i)) \
		--max-size "${MAX_SIZE:-4194304}" --stop-file "$STOP" \
		--max-rate "${WRITE_RATE:-0}" \
		>"$T/w$i.json" 2>"$T/w$i.err" &
	eval "W$i=$!"
done
sleep "$GAP"

LEAVES=0
for i in 12 11 10 9 8 7; do
	t0=$(now_ms)
	if [ $((i % 2)) = 0 ]; then
		log "m$i leaves (canctl leave)"
		stop_leave "m$i" 120
	else
		log "m$i leaves (SIGTERM)"
		stop_term "m$i" 120
	fi
	LEAVES=$((LEAVES + 1))
	log "m$i gone after $(($(now_ms) - t0)) ms"
	overlay_whole 30
	log "zones tile the space on ${#ALIVE[@]} machines"
	kill -0 "$W1" 2>/dev/null && kill -0 "$W2" 2>/dev/null ||
		fail "a writer died: $(cat "$T"/w?.err)"
	sleep "$GAP"
done
touch "$STOP"
wait "$W1" || fail "writer 1 failed: $(cat "$T/w1.err")"
wait "$W2" || fail "writer 2 failed: $(cat "$T/w2.err")"
log "writer 1: $(cat "$T/w1.json")"
log "writer 2: $(cat "$T/w2.json")"

verify_acked "$T/mnt1" "$T/mnt2" -- "$T/w1.man" "$T/w2.man"
wait_verify_clean 120 || fail "objects are not back to $K good copies"
maxb=$(jq -s 'map(.max_block_ms) | max' "$T/w1.json" "$T/w2.json")
ops=$(jq -s 'map(.written + .failed) | add' "$T/w1.json" "$T/w2.json")
result "operations=$ops" "faults=$LEAVES graceful leaves" "files=$FILES" \
	"lost=$LOST" "corrupt=$CORRUPT" "max_block_ms=$maxb" \
	"note=12 to 6 machines; objects $VERIFY_KEYS with $K copies; write failures $(jq -s 'map(.failed) | add' "$T/w1.json" "$T/w2.json")"
log "PASS: $FILES files intact after $LEAVES leaves"
