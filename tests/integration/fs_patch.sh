#!/usr/bin/env bash
# fs_patch.sh: partial writes of a chunk go out as patches of their bytes,
# and two machines writing disjoint ranges of one chunk both keep them.
#
# Three daemons on 127.0.20.1-3, a free port, k=2; mount A through daemon
# 1, B through daemon 2 (default -o patch=1).
#   1. A writes a 1 MiB file (one chunk).  Then A writes the even 4 KiB
#      blocks and B the odd ones, at the same time, ROUNDS rounds of a
#      random half each and a last round of all, each write followed by
#      fsync (disjoint_write.py): every block must hold its writer's last
#      bytes, read through A and through B.  With whole-chunk writes (what
#      canfs did before patches) one mount's fsync overwrites the other's
#      blocks with the old bytes it read.
#   2. The same with O_DIRECT writes (no fsync between them: the dirty
#      ranges of a chunk go out together at the end, as one patch of up to
#      64 ranges).
#   3. A sparse write: 10 bytes at offset 5,000,000 of a new file, then
#      bytes at 2 MiB + 7; the file reads zeros around them, from B.
#   4. Random reads: 600 O_DIRECT reads of 4 KiB (and some of odd sizes
#      and offsets, some past the end) at random places of a 6 MiB file
#      through B, each compared with the source (a small read away from
#      the last one fetches its bytes only, not the chunk).
# Skips (77) without FUSE.  Environment: ROUNDS (default 3), HB, BUILD,
# KEEP=1.
TEST_TIMEOUT=${TEST_TIMEOUT:-300}
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/fs.sh"
require_tools

trap fs_cleanup EXIT

ROUNDS=${ROUNDS:-3}
fs_cluster 127.0.20 3
A=$T/a B=$T/b
mount_canfs "$A" "unix:$T/n1.sock"
mount_canfs "$B" "unix:$T/n2.sock"
DW=$LIB/disjoint_write.py

# race MODE NAME: the two writers of phase 1 / 2 on file NAME.
race() {
	local mode=$1 f=$2 pa pb rc=0
	head -c 1048576 /dev/urandom >"$T/base" || fail "no random bytes"
	cp "$T/base" "$A/$f" || fail "cp to the mount failed"
	python3 "$DW" "$A/$f" 0 "$ROUNDS" "$mode" 11 & pa=$!
	python3 "$DW" "$B/$f" 1 "$ROUNDS" "$mode" 12 & pb=$!
	wait "$pa" || rc=1
	wait "$pb" || rc=1
	[ "$rc" = 0 ] || fail "$mode: a writer failed"
	for m in "$A" "$B"; do
		out=$(python3 "$DW" --check "$m/$f" "$ROUNDS") || {
			echo "$out"
			fail "$mode: blocks lost through ${m##*/}"
		}
		log "$mode, read through ${m##*/}: $out"
	done
}

log "1. two mounts write disjoint 4 KiB blocks of one chunk, fsync each"
race fsync f1
log "2. the same with O_DIRECT"
race direct f2

log "3. sparse writes into new chunks"
python3 - "$A/sp" <<'PY' || fail "sparse writes failed"
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o644)
os.pwrite(fd, b"0123456789", 5000000)
os.pwrite(fd, b"abc", (2 << 20) + 7)
os.close(fd)
PY
python3 - "$B/sp" <<'PY' || fail "sparse file reads wrong through B"
import sys
d = open(sys.argv[1], "rb").read()
want = bytearray(5000010)
want[5000000:5000010] = b"0123456789"
want[(2 << 20) + 7:(2 << 20) + 10] = b"abc"
assert d == bytes(want), "sparse file differs (size %d)" % len(d)
print("sparse file exact through B")
PY
log "4. random reads through B"
head -c 6291456 /dev/urandom >"$T/big" || fail "no random bytes"
head -c 5000 /dev/urandom >>"$T/big"
cp "$T/big" "$A/big" || fail "cp of a 6 MiB file failed"
python3 - "$B/big" "$T/big" <<'PY' || fail "random reads through B are wrong"
import mmap, os, random, sys
ref = open(sys.argv[2], "rb").read()
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECT)
buf = mmap.mmap(-1, 1 << 16)
rng = random.Random(3)
for i in range(600):
    off = rng.randrange(len(ref) // 4096 + 2) * 4096
    n = os.preadv(fd, [memoryview(buf)[:4096]], off)
    assert buf[:n] == ref[off:off + 4096], ("O_DIRECT", off, n)
os.close(fd)
with open(sys.argv[1], "rb", buffering=0) as f:
    for i in range(300):
        off, ln = rng.randrange(len(ref) + 100), rng.randrange(1, 70000)
        f.seek(off)
        got = f.read(ln)
        assert got == ref[off:off + ln], ("buffered", off, ln, len(got))
print("900 random reads exact")
PY
result operations=$((2 * 2 * 256 * (ROUNDS + 1) / 2)) faults=0 lost=0 corrupt=0
log "PASS"
