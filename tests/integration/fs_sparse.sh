#!/usr/bin/env bash
# fs_sparse.sh: truncating and removing files costs work in proportion to
# the chunks they hold, not to their size, and background removals leave
# room for other requests.
#
# Four daemons on 127.0.10.1-4, a free port, k=2; mount A through daemon
# 1 and mount B through daemon 3 (1 MiB chunks), mount C through daemon 2
# with 4 KiB chunks.  Every step runs under a generous timeout, a guard
# against hangs, never a speed assertion.  The work done is counted twice:
# the tombstones the daemons hold ('canctl verify': one per key ever
# deleted, so a chunk delete of nothing counts too) and each mount's own
# count of delete requests (logged at unmount).
#   1. A: truncate -s 1P f (B sees 1 PiB), then a few bytes at 0, 1 TiB,
#      700 TiB (3 MiB + 1: 4 chunks) and the last 3 bytes: 7 chunks.  B
#      reads every piece back, and zeros in the holes.  A truncates to
#      2 TiB (5 chunk deletes); B sees the data below and the new size;
#      B extends to 1 PiB again (no delete) and A reads zeros where the
#      cut data was (meanwhile B creates 100 files, each logged).  A
#      removes f (2 chunk deletes and the inode); an
#      empty file truncated to 100 GiB and removed costs its inode only.
#      touch on A afterwards must answer.  The daemons must then hold
#      exactly 9 more tombstones (7 chunks, 2 inodes), and no more a few
#      seconds later.
#   2. C: a 16 MiB file of 4 KiB chunks (4,096) is removed while B keeps
#      creating files (each create logged; the slowest is reported), and
#      a file written at 130 places two chunks apart (past the inode's
#      128 extents: the two closest runs merge twice, so 132 chunks are
#      deleted, 2 of them never stored).  4,230 more tombstones exactly.
#   3. Everything else removed: the number of live objects is back to
#      what it was at the start; after unmounting, A counts exactly 10
#      delete requests (7 chunks, 3 inodes) and C 4,231 (4,228 chunks, 3
#      inodes): nothing was deleted twice.
#   4. Mount D (4 KiB chunks, io_timeout 5 s) through daemon 4 removes an
#      8 MiB file, and daemon 4 is stopped (SIGSTOP) at once: a create on
#      D must fail with EIO, not hang (its removal's deletes time out and
#      are dropped, reported in D's log as chunks left behind); after
#      SIGCONT daemon 4 rejoins and D works again.
#   5. Mount Z without background threads (bg_threads=0: every job runs
#      in the request that submits it) and 64 KiB chunks, through daemon
#      1: a 3 MiB file written and read back (also in 1 MiB O_DIRECT
#      reads, 16 chunks each), patched in the middle of chunks, 50 files
#      written, half removed, some renamed, the big one truncated; Z and
#      B then read the same names and bytes (tests/lib/inline_io.py).
# Skips (77) without FUSE.  Environment: HB, BUILD, KEEP=1, FS_TMPDIR.
TEST_TIMEOUT=${TEST_TIMEOUT:-600}
if [ -z "${FS_TMPDIR:-}" ] && [ -w /dev/shm ] &&
	[ "$(df -k --output=avail /dev/shm 2>/dev/null | tail -1)" -gt $((1 << 20)) ]; then
	FS_TMPDIR=/dev/shm
fi
[ -n "${FS_TMPDIR:-}" ] && export TMPDIR=$FS_TMPDIR
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/fs.sh"
require_tools
command -v jq >/dev/null || skip "jq is not installed"

trap fs_cleanup EXIT

fs_cluster 127.0.10 4
A=$T/a B=$T/b C=$T/c
CANFS_OPTS="-o allow_other,log_level=info" mount_canfs "$A" "unix:$T/n1.sock"
mount_canfs "$B" "unix:$T/n3.sock"
CANFS_OPTS="-o allow_other,log_level=info,chunk_size=4096" \
	mount_canfs "$C" "unix:$T/n2.sock"

# counts: "KEYS TOMBSTONES" as verify sees them (every node answering).
counts() {
	local out
	out=$(verify_json n1) || return 1
	jq -e '.unreachable == 0 and .nodes == 4' <<<"$out" >/dev/null || return 1
	jq -r '"\(.keys) \(.tombstones // 0)"' <<<"$out"
}
# settle WANT LIMIT: wait until the tombstones are WANT (the background
# deletes are done), then check that they stay there for 3 s.
settle() {
	local want=$1 limit=$2 t0 c="" tomb=-1
	t0=$(now_ms)
	while [ $(($(now_ms) - t0)) -lt $((limit * 1000)) ]; do
		c=$(counts) && tomb=${c#* }
		[ "$tomb" -ge "$want" ] && break
		sleep 1
	done
	log "tombstones: $tomb (want $want), $(($(now_ms) - t0)) ms"
	[ "$tomb" -eq "$want" ] || fail "the daemons hold $tomb tombstones, want $want"
	sleep 3
	c=$(counts) || fail "verify did not answer"
	[ "${c#* }" -eq "$want" ] || fail "tombstones went on to ${c#* } (want $want)"
	KEYS=${c% *}
}

c=$(counts) || fail "verify did not answer"
KEYS0=${c% *} TOMB0=${c#* }
log "at the start: $KEYS0 keys, $TOMB0 tombstones"

# --- 1. a 1 PiB sparse file
cat >"$T/creates.py" <<'EOF'
"""creates.py DIR PREFIX N: create N empty files PREFIX0.. in DIR, one
at a time (the caller's timeout guards against a hang); print the median
and the slowest."""
import os, sys, time

d, prefix, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
took = []
for i in range(n):
    t0 = time.monotonic()
    with open(os.path.join(d, "%s%d" % (prefix, i)), "w"):
        pass
    took.append(time.monotonic() - t0)
took.sort()
print("%d creates: median %.1f ms, slowest %.1f ms"
      % (n, 1000 * took[n // 2], 1000 * took[-1]))
EOF
mkdir "$B/busy" || fail "mkdir busy on B"
cat >"$T/sparse.py" <<'EOF'
"""Writes and checks of the sparse file: sparse.py STEP PATH."""
import os, sys

T, P, G = 1 << 40, 1 << 50, 1 << 30
MB = 1 << 20
step, path = sys.argv[1], sys.argv[2]
big = bytes((i * 7 + 3) % 251 for i in range(3 * MB + 1))
problems = []


def expect(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        problems.append(what)


def at(fd, off, n):
    return os.pread(fd, n, off)


if step == "write":
    fd = os.open(path, os.O_WRONLY)
    os.pwrite(fd, b"abc", 0)
    os.pwrite(fd, b"def", T + 5)
    os.pwrite(fd, big, 700 * T)
    os.pwrite(fd, b"xyz", P - 3)
    os.close(fd)
elif step == "read":          # on the other mount, after the writes
    fd = os.open(path, os.O_RDONLY)
    expect(os.fstat(fd).st_size == P, "size 1 PiB")
    expect(at(fd, 0, 3) == b"abc", "the bytes at 0")
    expect(at(fd, T + 5, 3) == b"def", "the bytes at 1 TiB + 5")
    expect(at(fd, 700 * T, len(big)) == big, "3 MiB + 1 at 700 TiB")
    expect(at(fd, P - 3, 10) == b"xyz", "the last 3 bytes, then EOF")
    expect(at(fd, 3, MB) == bytes(MB), "zeros after the first bytes")
    expect(at(fd, 300 * T, 4096) == bytes(4096), "zeros at 300 TiB")
    expect(at(fd, P - 4096, 4093) == bytes(4093), "zeros before the end")
    os.close(fd)
elif step == "cut":           # after the truncate to 2 TiB
    fd = os.open(path, os.O_RDONLY)
    expect(os.fstat(fd).st_size == 2 * T, "size 2 TiB")
    expect(at(fd, 0, 3) == b"abc", "the bytes at 0 stay")
    expect(at(fd, T + 5, 3) == b"def", "the bytes at 1 TiB + 5 stay")
    expect(at(fd, 2 * T - 4096, 8192) == bytes(4096), "zeros, then EOF")
    os.close(fd)
elif step == "regrown":       # after the extension back to 1 PiB
    fd = os.open(path, os.O_RDONLY)
    expect(os.fstat(fd).st_size == P, "size 1 PiB again")
    expect(at(fd, T + 5, 3) == b"def", "the bytes at 1 TiB + 5 stay")
    expect(at(fd, 700 * T, len(big)) == bytes(len(big)),
           "zeros where the cut 3 MiB were")
    expect(at(fd, P - 3, 3) == bytes(3), "zeros where the cut end was")
    os.close(fd)
if problems:
    sys.exit("%d problems: %s" % (len(problems), "; ".join(problems)))
EOF
step 60 "A: truncate -s 1P f" truncate -s 1P "$A/f"
wait_for 10 bash -c '[ "$(stat -c %s "$1")" = 1125899906842624 ]' _ "$B/f" ||
	fail "B does not see the 1 PiB size: $(stat -c %s "$B/f")"
step 120 "A: a few bytes at 0, 1 TiB, 700 TiB (3 MiB + 1), the end" \
	python3 "$T/sparse.py" write "$A/f"
step 120 "B: read them back, and holes as zeros" python3 "$T/sparse.py" read "$B/f"
timeout -k 5 120 python3 "$T/creates.py" "$B/busy" p 100 >"$T/creates1.out" 2>&1 &
creator=$!
step 120 "A: truncate to 2 TiB" truncate -s 2T "$A/f"
step 60 "B: the data below 2 TiB, and the new end" python3 "$T/sparse.py" cut "$B/f"
step 60 "B: extend to 1 PiB again" truncate -s 1P "$B/f"
step 60 "A: zeros where the cut data was" python3 "$T/sparse.py" regrown "$A/f"
step 60 "A: rm f" rm "$A/f"
step 60 "A: truncate -s 100G e (empty)" truncate -s 100G "$A/e"
step 60 "A: rm e" rm "$A/e"
step 60 "A: touch after the removals" touch "$A/after"
wait $creator || { cat "$T/creates1.out"; fail "creating 100 files on B meanwhile failed (exit $?)"; }
log "B meanwhile: $(cat "$T/creates1.out")"
settle $((TOMB0 + 9)) 60
TOMB1=$((TOMB0 + 9))

# --- 2. many real chunks: a background removal beside other requests
cat >"$T/scatter.py" <<'EOF'
"""scatter.py PATH: one byte at the start of every other 4 KiB chunk,
130 times: 130 separate runs, more than an inode's 128 extents."""
import os, sys

fd = os.open(sys.argv[1], os.O_CREAT | os.O_WRONLY, 0o644)
for i in range(130):
    os.pwrite(fd, b"s", i * 2 * 4096)
os.close(fd)
EOF
step 120 "C: write 16 MiB in 4 KiB chunks" \
	dd if=/dev/urandom of="$C/big" bs=1M count=16 conv=fsync status=none
step 60 "C: write one byte into 130 chunks, one apart" python3 "$T/scatter.py" "$C/scatter"
c=$(counts) || fail "verify did not answer"
log "with both files: ${c% *} keys, ${c#* } tombstones"
[ "${c#* }" -eq "$TOMB1" ] || fail "tombstones changed while writing: ${c#* }"
timeout -k 5 120 python3 "$T/creates.py" "$B/busy" c 200 >"$T/creates.out" 2>&1 &
creator=$!
step 60 "C: rm the 16 MiB file (4,096 chunks)" rm "$C/big"
step 60 "C: touch while its chunks are deleted" touch "$C/touched"
step 60 "C: rm the scattered file" rm "$C/scatter"
wait $creator || { cat "$T/creates.out"; fail "creating 200 files on B during the removal failed (exit $?)"; }
log "B during the removal: $(cat "$T/creates.out")"
settle $((TOMB1 + 4096 + 1 + 132 + 1)) 120
TOMB2=$((TOMB1 + 4230))

# --- 3. remove the rest: back to the objects we started with
step 60 "B: rm -r busy" rm -r "$B/busy"
step 60 "A: rm after" rm "$A/after"
step 60 "C: rm touched" rm "$C/touched"
# 300 files, busy's inode and directory object, after, touched.
settle $((TOMB2 + 300 + 2 + 2)) 60
log "live objects: $((KEYS - TOMB2 - 304)) (at the start: $((KEYS0 - TOMB0)))"
[ $((KEYS - TOMB2 - 304)) -eq $((KEYS0 - TOMB0)) ] ||
	fail "live objects did not return to the start's $((KEYS0 - TOMB0))"

# --- 4. a daemon that cannot answer: requests fail, none hangs
D=$T/d
CANFS_OPTS="-o allow_other,log_level=info,chunk_size=4096,io_timeout=5" \
	mount_canfs "$D" "unix:$T/n4.sock"
step 120 "D: write 8 MiB in 4 KiB chunks" \
	dd if=/dev/urandom of="$D/g" bs=1M count=8 conv=fsync status=none
step 60 "D: rm g (2,048 chunks to delete)" rm "$D/g"
kill -STOP "$(pid_of n4)"
log "n4 stopped (SIGSTOP) while D's removal runs"
# One create (a single open(2)); touch would make a second call.
t0=$(now_ms)
timeout -k 5 60 python3 -c 'import os, sys
try:
    os.close(os.open(sys.argv[1], os.O_CREAT | os.O_WRONLY, 0o644))
except OSError as e:
    sys.exit("open: " + e.strerror)' "$D/stopped" 2>"$T/stopped.err"
rc=$?
log "D: a create with its daemon stopped: exit $rc after $(($(now_ms) - t0)) ms" \
	"(io_timeout 5 s): $(cat "$T/stopped.err")"
kill -CONT "$(pid_of n4)"
[ $rc -eq 124 ] || [ $rc -eq 137 ] && fail "a create on D hung behind a daemon that cannot answer"
[ $rc -ne 0 ] || fail "a create on D succeeded with its daemon stopped"
grep -q "Input/output error" "$T/stopped.err" || fail "the create on D did not fail with EIO"
wait_active n4 60
wait_for 90 touch "$D/resumed" || fail "D does not work again after n4 was resumed"
log "D works again: $(grep -c "left behind" "$T/canfs-d.log") removal(s) reported left behind"
step 60 "D: rm resumed" rm "$D/resumed"

# --- 5. no background threads: every job runs in its submitter
Z=$T/z
CANFS_OPTS="-o allow_other,bg_threads=0,chunk_size=65536" \
	mount_canfs "$Z" "unix:$T/n1.sock"
step 120 "Z (bg_threads=0): 3 MiB written and read back, patched, 50 files, renames, a truncate" \
	python3 "$LIB/inline_io.py" write "$Z" "$B"
sleep 2 # B's kernel caches of z (1 s)
step 60 "Z and B: the bytes and names Z left" python3 "$LIB/inline_io.py" check "$Z" "$B"
step 30 "Z: rm -r z" rm -r "$Z/z"

umount_all
for m in "$A" "$B" "$C" "$D" "$Z"; do
	mounted "$m" && fail "$m still mounted after fusermount3 -u"
done
# dels_of NAME: the delete requests a mount counted (logged at unmount).
dels_of() {
	sed -n 's/.*requests: .* \([0-9]*\) dels (.*/\1/p' "$T/canfs-$1.log" | tail -1
}
da=$(dels_of a) dc=$(dels_of c)
log "delete requests: A $da, C $dc"
[ "$da" = 10 ] || fail "A sent ${da:-no count of} deletes, want 10 (7 chunks, 3 inodes)"
[ "$dc" = 4231 ] ||
	fail "C sent ${dc:-no count of} deletes, want 4231 (4,096 + 132 chunks, 3 inodes)"
for n in n1 n2 n3 n4; do running "$n" || fail "daemon $n died during the run"; done
log "fs_sparse passed"
