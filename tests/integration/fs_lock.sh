#!/usr/bin/env bash
# fs_lock.sh: flock and fcntl locks hold across machines (fs/locks.h).
#
# Three daemons on loopback (k=2) and three mounts, each through its own
# daemon (three machines).  tests/lib/locktest.py checks, between mounts
# A and B: flock is exclusive across machines, LOCK_NB fails with
# EWOULDBLOCK and a blocked flock wakes when the holder releases; fcntl
# byte ranges conflict only where they overlap, and F_GETLK names the
# holder (its pid on the same machine, <= 0 from another: remote); read
# locks share; an F_SETLKW interrupted by a signal returns EINTR and
# leaves no lock; closing any descriptor of a file frees the process's
# locks; and 4 processes on two machines increment one counter file
# under flock, then under fcntl, and no increment is lost (mutual
# exclusion plus coherence: the data written under the lock is what the
# next holder reads).  Last, a lock holder's whole mount dies (kill -9 of
# mount C's canfs): a waiter on B gets the lock once the lease
# (lock_lease=4 here) has passed, and not before.  First, a fourth mount
# made as fstab would (mount.fuse3 with _netdev, x-systemd.* options).
# Between the lock checks and the kill, two threads open, write and close
# one file on A in a loop while others truncate and stat it
# (tests/lib/closerace.py), then B reads what A wrote last: a last close
# must not free the open-file state a setattr still uses (the old code's
# use after free aborts an ASan build within a second).
#
# Environment: HB, BUILD, KEEP=1, FS_TMPDIR.
TEST_TIMEOUT=${TEST_TIMEOUT:-300}
[ -z "${FS_TMPDIR:-}" ] && [ -w /dev/shm ] && FS_TMPDIR=/dev/shm
[ -n "${FS_TMPDIR:-}" ] && export TMPDIR=$FS_TMPDIR
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/fs.sh"
require_tools

trap fs_cleanup EXIT

LEASE=4
fs_cluster 127.0.7 3
CANFS_OPTS="-o allow_other,lock_lease=$LEASE"
mount_canfs "$T/a" "unix:$T/n1.sock"
mount_canfs "$T/b" "unix:$T/n2.sock"
mount_canfs "$T/c" "unix:$T/n3.sock"

# An fstab line's options: mount -t fuse.canfs runs mount.fuse3, which
# passes mount(8)'s and systemd's options (x-systemd.*, defaults) on;
# canfs must ignore them, not fail.
mkdir -p "$T/f"
PATH="$BUILD:$PATH" timeout 20 mount.fuse3 "canfs#unix:$T/n1.sock" "$T/f" \
	-o _netdev,nofail,noauto,defaults,x-systemd.requires=canfsd.service,comment=lab,allow_other ||
	fail "a mount with an fstab line's options failed"
MOUNTS+=("$T/f")
echo fstab >"$T/f/fstab-f" && [ "$(cat "$T/b/fstab-f")" = fstab ] ||
	fail "the mount with fstab options does not work"
log "mount.fuse3 with _netdev,nofail,noauto,defaults,x-systemd.requires=...: mounted and working"

python3 "$LIB/locktest.py" checks "$T/a" "$T/b" || fail "a lock check failed"

# The open-file state against a racing last close (the ASan run of this
# scenario aborts on a use after free).
step 60 "A: open/write/close against truncate and stat, 6 s" \
	python3 "$LIB/closerace.py" "$T/a" "$T/b" 6
any_ours "${FS_PIDS[0]}" || fail "canfs of A died (see its log)"

# A mount that dies with a lock held: its lease frees the lock.
python3 "$LIB/locktest.py" hold "$T/c" dead-f >"$T/holder.out" 2>&1 &
HOLDER=$!
disown "$HOLDER"
FS_KILL+=("$HOLDER")
wait_for 15 grep -q held "$T/holder.out" || fail "mount C did not take the lock"
python3 - "$T/b/dead-f" <<'PY' || fail "the lock of a live mount C was granted to B"
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
except BlockingIOError:
    sys.exit(0)
sys.exit(1)
PY
cpid=${FS_PIDS[2]}
log "kill -9 mount C's canfs (pid $cpid) while its process holds a flock"
t0=$(now_ms)
kill -9 "$cpid"
out=$(python3 "$LIB/locktest.py" take "$T/b" dead-f $((LEASE * 5))) ||
	fail "B did not get the dead mount's lock within $((LEASE * 5)) s"
waited=$(($(now_ms) - t0))
log "B took the dead mount's lock $waited ms after the kill ($out)"
[ "$waited" -ge $((LEASE * 1000 - 1500)) ] ||
	fail "B took the lock after $waited ms: before the ${LEASE} s lease ran out"
kill -9 "$HOLDER" 2>/dev/null
FS_KILL=()
log "PASS"
