#!/usr/bin/env bash
# fs_resilience.sh: a large copy into canfs survives the crash of a daemon
# the mount does not use.
#
# Four daemons on 127.0.61.1-4, a free port (k=2, heartbeat $HB ms); mount A
# through daemon 1's Unix socket, mount B through daemon 2's.  A source
# tree of random files (SIZE_MIB, default 300 MiB: 24 files of 10 MiB and
# small files of 1 KiB-300 KiB in 8 directories) is copied into A with
# cp -r.  Once about a quarter of it has landed, daemon 3 is killed with
# SIGKILL.  The copy must complete without error, and every file must
# verify (sha256 against the source) read through A and through B; the
# three remaining daemons must form a whole overlay.  The copy's duration
# and its progress around the crash go to the log.
#
# Skips (77) when /dev/fuse or fusermount3 is missing or build/canfs does
# not exist yet.  Environment: SIZE_MIB, SEED, HB, BUILD, KEEP=1, FS_TMPDIR,
# CANFS_OPTS (mount options, default "-o allow_other").
TEST_TIMEOUT=${TEST_TIMEOUT:-880}
# The temp dir (daemons' data, sockets, mountpoints, the reference dir) goes
# on tmpfs when /dev/shm has room, unless FS_TMPDIR names another place
# (FS_TMPDIR=/tmp: on disk).  On a disk every create waits for fsyncs on
# its replicas (about 10x slower on a virtual disk), and the scenario would
# not fit in run.sh's 900 s.
if [ -z "${FS_TMPDIR:-}" ] && [ -w /dev/shm ] &&
	[ "$(df -k --output=avail /dev/shm 2>/dev/null | tail -1)" -gt $((4 << 20)) ]; then
	FS_TMPDIR=/dev/shm
fi
[ -n "${FS_TMPDIR:-}" ] && export TMPDIR=$FS_TMPDIR
. "$(dirname "$0")/../lib/common.sh"

. "$(dirname "$0")/../lib/fs.sh"
require_tools
SIZE_MIB=${SIZE_MIB:-300}
SEED=${SEED:-$(($$ % 10000))}

# The EXIT trap: unmount first, then common.sh's cleanup (daemons, logs, $T).
fs_cleanup() {
	local rc=$?
	trap - EXIT
	[ -n "${CP_PID:-}" ] && kill "$CP_PID" 2>/dev/null
	umount_all
	(exit $rc)
	cleanup
}
trap fs_cleanup EXIT

# ------------------------------------------------------------ the run

PORT=$(free_port)
for i in 1 2 3 4; do
	join=""
	[ "$i" -gt 1 ] && join=127.0.61.1:$PORT
	start_node "n$i" "127.0.61.$i:$PORT" "$join" -s "$T/n$i.sock" -k 2
	wait_active "n$i"
done
check_overlay --points 200 --wait 20 >/dev/null || {
	check_overlay --points 200
	fail "the overlay is not whole"
}
for i in 1 2; do
	wait_for 10 test -S "$T/n$i.sock" || fail "n$i made no socket"
done
A=$T/a
B=$T/b
mount_canfs "$A" "unix:$T/n1.sock"
mount_canfs "$B" "unix:$T/n2.sock"

# The source: random files, checksummed.
step 120 "make ${SIZE_MIB} MiB of random files (seed $SEED)" python3 - "$T/src" "$SIZE_MIB" "$SEED" <<'EOF'
import os, random, sys
root, mib, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(seed)
total = mib << 20
big = min(24, total * 8 // 10 // (10 << 20))
os.makedirs(root)
for d in range(8):
    os.mkdir("%s/d%d" % (root, d))
left = total
for i in range(big):
    with open("%s/d%d/big%02d" % (root, i % 8, i), "wb") as f:
        f.write(os.urandom(10 << 20))
    left -= 10 << 20
i = 0
while left > 0:
    n = min(left, rng.randint(1024, 300 << 10))
    with open("%s/d%d/small%04d" % (root, rng.randrange(8), i), "wb") as f:
        f.write(os.urandom(n))
    left -= n
    i += 1
print("%d big and %d small files" % (big, i))
EOF
(cd "$T/src" && find . -type f -print0 | sort -z | xargs -0 sha256sum) >"$T/manifest"
NFILES=$(wc -l <"$T/manifest")
TOTAL=$(du -sb "$T/src" | cut -f1)
log "source: $NFILES files, $TOTAL bytes"

# The copy, and the crash of n3 a quarter of the way in.
t0=$(now_ms)
timeout -k 5 600 cp -r "$T/src" "$A/dst" 2>"$T/cp.err" &
CP_PID=$!
copied() { du -sb --apparent-size "$A/dst" 2>/dev/null | cut -f1; }
while kill -0 "$CP_PID" 2>/dev/null; do
	c=$(copied)
	[ "${c:-0}" -ge $((TOTAL / 4)) ] && break
	[ $(($(now_ms) - t0)) -gt 300000 ] && fail "the copy made no progress in 300 s"
	sleep 0.2
done
kill -0 "$CP_PID" 2>/dev/null ||
	fail "the copy ended before the crash (too fast: raise SIZE_MIB)"
log "copied ${c} of $TOTAL bytes after $(($(now_ms) - t0)) ms: kill -9 n3"
tk=$(now_ms)
kill9 n3
wait "$CP_PID"
rc=$?
CP_PID=
log "the copy ended: exit $rc, $(($(now_ms) - t0)) ms in all," \
	"$(($(now_ms) - tk)) ms after the crash"
if [ $rc -ne 0 ]; then
	head -20 "$T/cp.err"
	[ $rc -eq 124 ] && fail "the copy timed out (600 s) after the crash"
	fail "the copy failed after the crash (exit $rc)"
fi
[ -s "$T/cp.err" ] && { cat "$T/cp.err"; fail "cp wrote errors"; }

# Every byte, through both mounts; A's page cache dropped first (as root)
# so that A too reads from the daemons.
if [ -w /proc/sys/vm/drop_caches ]; then
	timeout 120 sync
	echo 3 >/proc/sys/vm/drop_caches
fi
# On a mismatch, say where each bad file differs (MiB chunks, and whether
# the bad bytes read as zeros) before failing.
check_mount() { # NAME DIR
	local out
	if out=$(cd "$2" && timeout -k 5 300 sha256sum --quiet --strict \
		-c "$T/manifest" 2>&1); then
		return 0
	fi
	printf '%s\n' "$out"
	printf '%s\n' "$out" | sed -n 's/: FAILED.*//p' | while read -r f; do
		log "$f: through A: $(ls -la "$A/dst/$f" 2>&1 | cut -c1-120)"
		log "$f: through B: $(ls -la "$B/dst/$f" 2>&1 | cut -c1-120)"
		log "$f: listed in its directory on A: $(ls -a "$A/dst/$(dirname "$f")" |
			grep -cx "$(basename "$f")"), on B: $(ls -a "$B/dst/$(dirname "$f")" |
			grep -cx "$(basename "$f")")"
		cmp -l "$T/src/$f" "$2/$f" 2>&1 | awk -v f="$f" '
			$1 ~ /^[0-9]+$/ { n++; c = int(($1 - 1) / 1048576);
				if (!(c in seen)) { seen[c] = 1; cs = cs " " c }
				if ($3 == 0) z++ }
			$1 !~ /^[0-9]+$/ { print f ": " $0 }
			END { printf "%s: %d bytes differ, %d read as zero, in MiB chunks%s\n", f, n, z, cs }'
	done
	fail "sha256 of every file through $1"
}
t_ck=$(now_ms)
check_mount A "$A/dst"
log "sha256 of every file through A: $(($(now_ms) - t_ck)) ms"
t_ck=$(now_ms)
check_mount B "$B/dst"
log "sha256 of every file through B: $(($(now_ms) - t_ck)) ms"
n=$(find "$B/dst" -type f | wc -l)
[ "$n" -eq "$NFILES" ] || fail "B lists $n files, the source has $NFILES"
log "all $NFILES files verify through A and B"

check_overlay --points 200 --wait 30 >/dev/null || {
	check_overlay --points 200
	fail "the three remaining daemons do not form a whole overlay"
}
for n in n1 n2 n4; do running "$n" || fail "daemon $n died"; done
step 120 "rm -r the copy" rm -r "$A/dst"
umount_all
log "fs_resilience passed"
