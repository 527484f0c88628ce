#!/usr/bin/env bash
# disk_full.sh: a node's disk fills up; writes that cannot be stored fail
# with ENOSPC, nothing stored is damaged, and the node recovers once space
# is freed.
#
# Five machines (network namespaces, tests/lib/netns.sh), k=3, two ways
# to run out of room.  Machine 4's data dir is a small tmpfs (FULL_MB,
# default 24 MiB), so its LMDB file cannot grow past it: commits fail in
# pwrite with ENOSPC, or EIO on a short write (LMDB's own code for
# "filesystem full?"), which the store reports as full too.  The store
# maps without MDB_WRITEMAP, so a full tmpfs is a write error, never a
# SIGBUS.  Machine 5 runs with --store-size MAP_MB (default 16): its puts
# fail with MDB_MAP_FULL.  A canfs mount on machine 1:
#   (a) writes PRE files (fsync'd; workload.py manifest) while there is
#       room;
#   (b) keeps writing (four writers, four directories) for FILL_S
#       seconds, and on until machines 4 and 5
#       both logged that they are full (at most FILL_MAX s).  A
#       write whose primary is full, or whose two other replicas both
#       are, fails with ENOSPC (at once, not after 30 s of retries); the
#       others are acknowledged by the replicas with room.  Any other
#       error, a daemon that exits, or no "full" error in the full
#       machines' logs fails the run;
#   (c) every file acknowledged so far reads back byte-exact, while the
#       disks are still full;
#   (d) the tmpfs is remounted FREE_MB large and machine 5 restarted
#       (SIGQUIT, on its data dir) with a FREE_MB map: POST more files
#       must all be written without an error, and `canctl verify` must
#       show every object with k good copies again (repair refills the
#       two machines).
#
# Environment: SEED, HB (ms, default 500), FULL_MB (default 24), MAP_MB
# (default 16), FREE_MB (default 512), PRE (files, default 40), FILL_S
# (s, default 15), FILL_MAX (s, default 90), POST (files, default 40).
TEST_TIMEOUT=${TEST_TIMEOUT:-400}
HB=${HB:-500}
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/fs.sh"
. "$(dirname "$0")/../lib/netns.sh"
require_tools
command -v jq >/dev/null || skip "jq is not installed"
# Machine 4's disk fills (a commit fails), or its store refuses writes
# before they would fill it (it counts the file system's free space):
# which comes first depends on the sizes of the writes in flight.
FULL4='the disk or store is full\|store nearly full'

SEED=${SEED:-$(($$ % 10000))}
FULL_MB=${FULL_MB:-24}
FREE_MB=${FREE_MB:-512}
MAP_MB=${MAP_MB:-16}
PRE=${PRE:-40}
FILL_S=${FILL_S:-15}
FILL_MAX=${FILL_MAX:-90}
POST=${POST:-40}
K=3
DAEMON_OPTS=(-k "$K" --repair-interval 3)
WL="python3 $LIB/workload.py"
log "seed $SEED, machine 4 on a ${FULL_MB} MiB tmpfs, machine 5 with a ${MAP_MB} MiB map, heartbeat $HB ms, k=$K"

# Machine 4's data dir: a tmpfs of our own, unmounted on exit (after the
# daemons are gone: net_cleanup runs first, then this).
TMPFS=$T/m4
mkdir -p "$TMPFS"
mount -t tmpfs -o "size=${FULL_MB}m,mode=0700" canfs-diskfull "$TMPFS" ||
	skip "cannot mount a tmpfs here"
trap 'rc=$?; trap - EXIT; umount_all; net_down;
	for p in "${ALL_PIDS[@]}"; do our_pid "$p" && kill -9 "$p"; done
	sleep 0.3; umount "$TMPFS" 2>/dev/null || umount -l "$TMPFS"
	(exit $rc); cleanup' EXIT
tmpfs_free_kb() { df -k --output=avail "$TMPFS" | tail -1 | tr -d ' '; }

net_up 5
net_overlay 4 "${DAEMON_OPTS[@]}"
mach_start 5 1 "${DAEMON_OPTS[@]}" --store-size "$MAP_MB"
wait_active m5 20
overlay_whole 30
wait_for 10 test -S "$T/m1.sock" || fail "m1 made no socket"
mount_canfs "$T/mnt1" "unix:$T/m1.sock"
mkdir "$T/mnt1/a" "$T/mnt1/b0" "$T/mnt1/b1" "$T/mnt1/b2" "$T/mnt1/b3" \
	"$T/mnt1/c" || fail "mkdir on the mount"
ops=0 maxb=0
addup() { # workload JSON: count its operations and its slowest one
	ops=$((ops + $(jq -r '(.written // 0) + (.failed // 0) + (.checked // 0)' "$1")))
	maxb=$(( $(jq -r .max_block_ms "$1") > maxb ? $(jq -r .max_block_ms "$1") : maxb ))
}

# (a) Room to spare.
$WL write "$T/mnt1/a" "$T/a.man" --root "$T/mnt1" --seed $((SEED + 1)) \
	--files "$PRE" --max-size 1048576 --fsync >"$T/a.json" 2>"$T/a.err" ||
	fail "writing before the disk is full: $(cat "$T/a.err")"
addup "$T/a.json"
[ "$(jq -r .failed "$T/a.json")" = 0 ] ||
	fail "writes failed with room to spare: $(cat "$T/a.json")"
log "(a) $PRE files written; machine 4's tmpfs has $(tmpfs_free_kb) KiB free"

# (b) Fill machine 4 up.
# At least FILL_S seconds, and on until both machines have logged that
# they are full (how fast each fills depends on where the seed's files
# land), at most FILL_MAX seconds.  Four writers in four directories: a
# directory whose primary copy is on a full machine takes no new names
# (ENOSPC), and with one directory that could stop all writing before
# the other machine filled (seen: machine 5's map full first, its
# directory refusing every create, machine 4 left with 8 MiB free).
BWS=()
for i in 0 1 2 3; do
	$WL write "$T/mnt1/b$i" "$T/b$i.man" --root "$T/mnt1" \
		--seed $((SEED + 2 + 10 * i)) --seconds "$FILL_MAX" \
		--stop-file "$T/b.stop" --max-size 2097152 --fsync \
		>"$T/b$i.json" 2>"$T/b$i.err" &
	BWS+=($!)
done
writers_running() {
	local p
	for p in "${BWS[@]}"; do kill -0 "$p" 2>/dev/null && return 0; done
	return 1
}
t_fill=$SECONDS
while writers_running; do
	sleep 1
	[ $((SECONDS - t_fill)) -ge "$FILL_S" ] &&
		grep -q "$FULL4" "$T/m4.log" &&
		grep -q 'MDB_MAP_FULL\|store nearly full' "$T/m5.log" &&
		touch "$T/b.stop"
done
for i in 0 1 2 3; do
	wait "${BWS[$i]}" || fail "writer b$i failed: $(cat "$T/b$i.err")"
done
cat "$T"/b[0-3].man >"$T/b.man"
jq -c -s '{written: (map(.written) | add), bytes: (map(.bytes) | add),
	failed: (map(.failed) | add), max_block_ms: (map(.max_block_ms) | max),
	errors: ([.[].errors | to_entries[]] | group_by(.key) |
		map({key: .[0].key, value: (map(.value) | add)}) | from_entries)}' \
	"$T"/b[0-3].json >"$T/b.json"
addup "$T/b.json"
log "(b) $(cat "$T/b.json"); tmpfs free $(tmpfs_free_kb) KiB"
for n in m1 m2 m3 m4 m5; do running $n || fail "$n exited while the disk was full"; done
nospace=$(jq -r '.errors["No space left on device"] // 0' "$T/b.json")
other=$(jq -r '[.errors | to_entries[] | select(.key != "No space left on device") | .value] | add // 0' "$T/b.json")
[ "$other" = 0 ] || fail "writes failed with errors other than ENOSPC: $(jq -c .errors "$T/b.json")"
[ "$nospace" -gt 0 ] || fail "no write failed with ENOSPC (tmpfs free $(tmpfs_free_kb) KiB)"
full4=$(grep -c "$FULL4" "$T/m4.log")
# Its map fills, or it refuses writes before they would fill it.
full5=$(grep -c 'MDB_MAP_FULL\|store nearly full' "$T/m5.log")
[ "$full4" -gt 0 ] || fail "machine 4 did not log that its disk is full"
[ "$full5" -gt 0 ] || fail "machine 5 did not log that its map is full"
log "machine 4 logged $full4 times, e.g.: $(grep -m1 "$FULL4" "$T/m4.log" | cut -c14-)"
log "machine 5 logged $full5 times, e.g.: $(grep -m1 'MDB_MAP_FULL' "$T/m5.log" | cut -c14-)"
refused=$(cat "$T"/m?.log | grep -c 'replicas are out of space')

# (c) Everything acknowledged reads back, the disk still full.
$WL verify "$T/mnt1" "$T/a.man" "$T/b.man" >"$T/c.json" 2>"$T/c.err"
rc=$?
addup "$T/c.json"
log "(c) verify with machine 4 full: $(cat "$T/c.json")"
[ $rc -eq 0 ] || { head -20 "$T/c.err"; fail "stored files damaged while the disk was full"; }

# (d) Free space: remount larger.  New writes succeed, repair refills.
mount -o "remount,size=${FREE_MB}m" "$TMPFS" || fail "cannot remount the tmpfs"
log "(d) tmpfs remounted with ${FREE_MB} MiB; $(tmpfs_free_kb) KiB free"
alive_del m5
kill -QUIT "$(pid_of m5)"
wait_exit m5 20
mach_start 5 "" "${DAEMON_OPTS[@]}" --store-size "$FREE_MB"
wait_active m5 30
log "(d) machine 5 restarted with a ${FREE_MB} MiB map"
$WL write "$T/mnt1/c" "$T/c.man" --root "$T/mnt1" --seed $((SEED + 3)) \
	--files "$POST" --max-size 1048576 --fsync >"$T/d.json" 2>"$T/d.err" ||
	fail "writing after space was freed: $(cat "$T/d.err")"
addup "$T/d.json"
log "(d) $(cat "$T/d.json")"
[ "$(jq -r .failed "$T/d.json")" = 0 ] ||
	fail "writes still fail after space was freed: $(jq -c .errors "$T/d.json")"
wait_verify_clean 90 || fail "objects are not back to $K good copies after space was freed"
out=$($WL verify "$T/mnt1" "$T/a.man" "$T/b.man" "$T/c.man" 2>"$T/e.err")
rc=$?
log "final verify: $out"
files=$(jq -r .checked <<<"$out")
lost=$(jq -r .lost <<<"$out")
corrupt=$(jq -r ".corrupt + .errors" <<<"$out")
ops=$((ops + files))
[ $rc -eq 0 ] || { head -20 "$T/e.err"; fail "files lost or corrupt after recovery"; }
for n in m1 m2 m3 m4 m5; do
	grep -E 'is corrupt|MDB_PANIC|MDB_CORRUPTED' "$T/$n.log" | tail -3
	grep -qE 'is corrupt|MDB_PANIC|MDB_CORRUPTED' "$T/$n.log" && corrupt=$((corrupt + 1))
done
[ "$corrupt" = 0 ] || fail "a store reported corruption"

result "operations=$ops" "faults=disk full (${FULL_MB} MiB tmpfs) + map full (${MAP_MB} MiB), then ${FREE_MB} MiB" \
	"files=$files" "lost=$lost" "corrupt=$corrupt" "max_block_ms=$maxb" \
	"note=$nospace writes ENOSPC while full ($(jq -r .written "$T/b.json") acknowledged, $refused refused for full secondaries); full errors logged m4 $full4 m5 $full5; after: $POST files ok, $VERIFY_KEYS keys x $K copies"
log "PASS: $files files verified; $nospace ENOSPC while full, none after"
