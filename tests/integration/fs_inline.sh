#!/usr/bin/env bash
# fs_inline.sh: small files keep their bytes inside their inode (inline
# data, fs/meta.h), and every way in and out of that state keeps every
# byte, as two other mounts see it.
#
# Three daemons on 127.0.12.1-3, a free port, k=2; mount A through daemon
# 1, B through daemon 2 (both with the default inline_max, 64 KiB), C
# through daemon 3 with inline_max=0 (writes no inline data).
#   1. A writes files of 0, 1, 4095, 65535, 65536, 65537 and 200,000
#      random bytes: B reads each byte-exact; those up to 64 KiB have no
#      chunk 0 in the store ('canctl get' of its key says not found),
#      the two larger ones have one.
#   2. Moves out and back: B appends 100,000 bytes to a 30,000-byte inline
#      file (its bytes move to chunk 0) and A reads all 130,000; A
#      truncates an inline file to 3 bytes, B reads 3; B extends it to
#      20 (zeros after); C (inline_max 0) overwrites 5 bytes of an inline
#      file, which moves it to chunks: A reads the whole file right.
#   3. Disjoint writes: A and B open one 16 KiB inline file at once, A
#      writes bytes [0, 4096) and B [8192, 12288), then both close: both
#      ranges are there, through A, B and C (the second close merges its
#      range into the record the first one wrote).
#   4. canctl fsck --grace 0 of the tree is clean (exit 0); a chunk 0
#      put beside an inline file (what a move to chunks cut short by a
#      crash leaves) is repaired as an orphan (deleted, exit 1), and the
#      file still reads byte-exact.
# Skips (77) without FUSE.  Environment: HB, BUILD, KEEP=1.
TEST_TIMEOUT=${TEST_TIMEOUT:-240}
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/fs.sh"
require_tools
command -v jq >/dev/null || skip "jq is not installed"

trap fs_cleanup EXIT

fs_cluster 127.0.12 3
A=$T/a B=$T/b C=$T/c
mount_canfs "$A" "unix:$T/n1.sock"
mount_canfs "$B" "unix:$T/n2.sock"
CANFS_OPTS="-o allow_other,inline_max=0" mount_canfs "$C" "unix:$T/n3.sock"
SRC=$T/src
mkdir -p "$SRC"

# has_chunk0 PATH: is chunk 0 of the file at PATH in the store?
has_chunk0() {
	local ino out rc
	ino=$(stat -c %i "$1") || fail "stat $1"
	out=$(timeout 20 "$CANCTL" -d "unix:$T/n1.sock" get \
		"$(printf 'c/%x/0' "$ino")" 2>&1 >/dev/null)
	rc=$?
	case $rc in
	0) return 0 ;;
	4) return 1 ;;	# not found (canctl(8))
	*) fail "canctl get of chunk 0 of $1: exit $rc: $out" ;;
	esac
}
# same WHAT FILE PATH...: each PATH holds exactly FILE's bytes.
same() {
	local what=$1 want=$2 p
	shift 2
	for p in "$@"; do
		cmp "$want" "$p" || fail "$what: $p differs from what was written"
	done
}

log "1. sizes around the limit"
for n in 0 1 4095 65535 65536 65537 200000; do
	head -c "$n" /dev/urandom >"$SRC/s$n"
	cp "$SRC/s$n" "$A/s$n" || fail "cp of $n bytes to A"
done
for n in 0 1 4095 65535 65536 65537 200000; do
	same "$n bytes" "$SRC/s$n" "$B/s$n"
	if [ "$n" -le 65536 ]; then
		has_chunk0 "$A/s$n" && fail "a file of $n bytes has a chunk 0: not inline"
	else
		has_chunk0 "$A/s$n" || fail "a file of $n bytes has no chunk 0"
	fi
done
log "files up to 64 KiB are inline, larger ones in chunks; all read back on B"

log "2. out of the inode and back"
head -c 30000 /dev/urandom >"$SRC/g"
head -c 100000 /dev/urandom >"$SRC/g2"
cp "$SRC/g" "$A/g"
has_chunk0 "$A/g" && fail "a 30,000-byte file is not inline"
cat "$SRC/g2" >>"$B/g" || fail "append on B"
cat "$SRC/g" "$SRC/g2" >"$SRC/gg"
same "grown past the limit" "$SRC/gg" "$A/g" "$C/g"
has_chunk0 "$A/g" || fail "a file grown to 130,000 bytes has no chunk 0"
printf 'hello, world\n' >"$A/t"
truncate -s 3 "$A/t" || fail "truncate on A"
[ "$(cat "$B/t")" = hel ] || fail "after truncate to 3 B reads '$(cat "$B/t")'"
truncate -s 20 "$B/t" || fail "truncate on B"
printf 'hel\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0' >"$SRC/t"
same "truncated then extended" "$SRC/t" "$A/t" "$C/t"
head -c 5000 /dev/urandom >"$SRC/u"
cp "$SRC/u" "$A/u"
printf 'ABCDE' | dd of="$C/u" bs=1 seek=100 conv=notrunc status=none ||
	fail "write on C"
printf 'ABCDE' | dd of="$SRC/u" bs=1 seek=100 conv=notrunc status=none
same "written through an inline_max=0 mount" "$SRC/u" "$A/u" "$B/u"
has_chunk0 "$A/u" || fail "C's write left the file inline"

log "3. two mounts write disjoint ranges of one inline file"
head -c 16384 /dev/urandom >"$SRC/d"
cp "$SRC/d" "$A/d"
head -c 4096 /dev/urandom >"$SRC/dA"
head -c 4096 /dev/urandom >"$SRC/dB"
timeout 60 /usr/bin/python3 - "$A/d" "$B/d" "$SRC/dA" "$SRC/dB" <<'EOF' ||
import os, sys
pa, pb, da, db = sys.argv[1:5]
fa = os.open(pa, os.O_WRONLY)
fb = os.open(pb, os.O_WRONLY)
os.pwrite(fa, open(da, "rb").read(), 0)
os.pwrite(fb, open(db, "rb").read(), 8192)
os.close(fa)
os.close(fb)
EOF
	fail "the disjoint writes failed"
dd if="$SRC/dA" of="$SRC/d" conv=notrunc status=none
dd if="$SRC/dB" of="$SRC/d" bs=8192 seek=1 conv=notrunc status=none
same "disjoint writes of two mounts" "$SRC/d" "$A/d" "$B/d" "$C/d"
has_chunk0 "$A/d" && fail "the merged file left the inode"
log "both ranges are there on every mount"

log "4. fsck"
timeout -k 5 120 "$CANCTL" -d "unix:$T/n1.sock" fsck --grace 0 --json \
	>"$T/fsck.json" 2>"$T/fsck.err"
rc=$?
[ $rc -eq 0 ] || fail "canctl fsck: exit $rc: $(head -c 2000 "$T/fsck.json") $(tail -3 "$T/fsck.err")"
# What a move to chunks cut short by a crash leaves: chunk 0 beside the
# inline data.  fsck calls it an orphan (not a chunk to add to the
# extents, which would drop the inline bytes) and --repair deletes it.
ino=$(stat -c %i "$A/s4095")
head -c 5000 /dev/urandom | timeout 20 "$CANCTL" -d "unix:$T/n1.sock" \
	put "$(printf 'c/%x/0' "$ino")" >/dev/null || fail "put of a leftover chunk"
timeout -k 5 120 "$CANCTL" -d "unix:$T/n1.sock" fsck --repair --grace 0 \
	--json >"$T/fsck2.json" 2>"$T/fsck2.err"
rc=$?
[ $rc -eq 1 ] || fail "fsck --repair of a leftover chunk: exit $rc (want 1): $(head -c 2000 "$T/fsck2.json")"
jq -e '.counts.orphan.fixed == 1 and .counts.unrecorded.fixed == 0' "$T/fsck2.json" \
	>/dev/null || fail "the leftover chunk was not repaired as an orphan: $(head -c 2000 "$T/fsck2.json")"
has_chunk0 "$A/s4095" && fail "the leftover chunk is still there"
same "an inline file beside a leftover chunk" "$SRC/s4095" "$B/s4095" "$C/s4095"
log "a leftover chunk beside inline data is an orphan, deleted; the file is intact"
log "PASS"
