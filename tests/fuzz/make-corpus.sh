#!/bin/sh
# make-corpus.sh: write the seed corpus of the frame fuzzer into
# tests/fuzz/corpus/ (or the directory given), and the record fuzzer's
# into tests/fuzz/corpus-meta/ (or the second one).  The seeds are committed;
# rerun this after a change to the wire format (see common/wire.h) and
# commit the result.  Every seed is a well-formed stream of frames, written
# field by field with the helpers below, so the fuzzer starts from inputs
# that get past the header and length checks.
set -eu
out=${1:-$(dirname "$0")/corpus}
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Little-endian integers.  Values must fit in 63 bits (shell arithmetic).
u8() { printf "\\$(printf '%03o' $(($1 & 255)))"; }
u16() { u8 $(($1)); u8 $(($1 >> 8)); }
u32() { u16 $(($1 & 65535)); u16 $((($1 >> 16) & 65535)); }
u64() { u32 $(($1 & 0xffffffff)); u32 $((($1 >> 32) & 0xffffffff)); }
# str = u16 length, bytes.
str() { u16 ${#1}; printf '%s' "$1"; }
# zone = dims x (u32 lo, u8 bits): zone LO BITS [LO BITS ...]
zone() { while [ $# -ge 2 ]; do u32 "$1"; u8 "$2"; shift 2; done; }
# node ID INC EPOCH ADDR NZONES, then the zones follow separately.
node() { u64 "$1"; u64 "$2"; u32 "$3"; str "$4"; u8 "$5"; }
empty_node() { node 0 0 0 "" 0; }

# frame TYPE FLAGS REQID BODYFILE: header with the body's length, then body.
frame() {
	u32 0x464e4143 # "CANF"
	u16 4          # WIRE_VERSION
	u16 "$1"
	u32 "$2"
	u32 "$(wc -c <"$4")"
	u64 "$3"
	cat "$4"
}

# Membership bodies.
{ # 2-D heartbeat: self with two zones, two neighbours.
	u8 2; u8 0; u64 0; u64 0
	node 0x1111 1700000000000000 3 "127.0.0.1:7001" 2
	zone 0 31 0 31
	zone 0 31 0x80000000 31
	empty_node
	u32 2
	node 0x2222 1700000000000001 1 "127.0.0.1:7002" 1
	zone 0x80000000 31 0 32
	node 0x3333 1700000000000002 9 "unix:/tmp/canfs.sock" 0
} >"$tmp/hb"
{ # 3-D join accept: self, joiner with its zone, candidates.
	u8 3; u8 0; u64 0; u64 0
	node 0xaaaa 5 2 "10.0.0.1:7000" 1
	zone 0 31 0 32 0 32
	node 0xbbbb 6 1 "10.0.0.2:7000" 1
	zone 0x80000000 31 0 32 0 32
	u32 1
	node 0xcccc 7 4 "10.0.0.3:7000" 2
	zone 0 30 0 31 0 31
	zone 0 0 0 0 0 0
} >"$tmp/ja"
{ # 1-D takeover of a dead node: a, b = its id and incarnation.
	u8 1; u8 0; u64 0xdead; u64 42
	node 0x1 1 5 "h:1" 2
	zone 0 30
	zone 0x40000000 30
	empty_node
	u32 1
	node 0x2 2 2 "h:2" 1
	zone 0x80000000 31
} >"$tmp/to"
{ # 1-D handover at the limits: WIRE_MAX_ZONES (16) single positions.
	u8 1; u8 1; u64 0; u64 0
	node 0x5 5 5 "h:5" 0
	node 0x6 6 6 "h:6" 16
	i=0
	while [ $i -lt 16 ]; do zone $i 0; i=$((i + 1)); done
	u32 0
} >"$tmp/ho"
{ # 8-D status: every dimension used.
	u8 8; u8 3; u64 123456; u64 7
	node 0x42 1 1 "[::1]:7000" 1
	zone 0 31 0 32 0 32 0 32 0 32 0 32 0 32 0 32
	empty_node
	u32 0
} >"$tmp/st"

# Routed envelopes.
{ # JOIN routed towards a point, carrying the joiner's membership body.
	u8 2; u8 1; u16 1 # dims, hops, WIRE_R_JOIN
	u32 0x12345678; u32 0x9abcdef0
	str "127.0.0.1:7009"
	u16 1; u64 0x1111
	u8 2; u8 0; u64 0; u64 0
	node 0x9999 77 0 "127.0.0.1:7009" 0
	empty_node
	u32 0
} >"$tmp/rj"
{ # LOOKUP: empty inner body, a longer path.
	u8 4; u8 3; u16 2 # dims, hops, WIRE_R_LOOKUP
	u32 1; u32 2; u32 3; u32 0xffffffff
	str "unix:/run/canfs/ctl"
	u16 3; u64 0x1; u64 0x2; u64 0x3
} >"$tmp/rl"

# Object bodies: obj DIMS POINT... then the fields after the point.
# objtail KEYHI KEYLO INDEX COND CONDVER VERSION WRITER CKSUM MTIME FLAGS DATA
objtail() {
	u64 "$1"; u64 "$2"; u8 "$3"; u8 "$4"; u64 "$5"
	u64 "$6"; u64 "$7"; u64 "$8"; u64 "$9"; u32 "${10}"
	u64 0x5eed; u64 42 # op.client, op.seq
	u32 ${#11}; printf '%s' "${11}"
}
{ # client PUT: no point, absent-only condition
	u8 0
	objtail 0x0102030405060708 0x1112131415161718 0 2 0 0 0 0 0 0 \
	    "hello, canfs"
} >"$tmp/put"
{ # replica value in 2-D, tombstone with empty data
	u8 2; u32 0x80000000; u32 0x7fffffff
	objtail 0x0a0b 0x0c0d 2 0 0 7 0x1111 0x2d06800538d394c2 \
	    1700000000000 1 ""
} >"$tmp/val"
{ # 2-D summary with two entries (the second corrupt: ok = 0)
	u8 2; u32 2
	u32 1; u32 2; u64 0x0a0b; u64 0x0c0d; u8 0; u64 7; u32 0; u32 12; u8 1
	u32 3; u32 4; u64 0x0e0f; u64 0x1011; u8 1; u64 9; u32 1; u32 0; u8 0
} >"$tmp/dig"
# Batch bodies: u16 n, then n x (u16 type, u32 len, body).
item() { u16 "$1"; u32 "$(wc -c <"$2")"; cat "$2"; }
{ # client PATCH: 2 ranges, 5 bytes at 4096 and 4 at 0 (wire.h)
	u8 0
	u64 0x0102030405060708; u64 0x1112131415161718; u8 0; u8 0; u64 0
	u64 0; u64 0; u64 0; u64 0; u32 0
	u64 0x5eed; u64 43 # op.client, op.seq
	u32 25; u16 2; u32 4096; u32 5; printf canfs; u32 0; u32 4; printf fsys
} >"$tmp/patch"
{ # a client GET of a range: 512 bytes at 4096 (the data: u32 off, len)
	u8 0
	u64 0x0102030405060708; u64 0x1112131415161718; u8 0; u8 0; u64 0
	u64 0; u64 0; u64 0; u64 0; u32 0
	u64 0; u64 0 # op id
	u32 8; u32 4096; u32 512
} >"$tmp/rget"
{ # a client GET: no point, no condition, no data
	u8 0
	objtail 0x21 0x22 0 0 0 0 0 0 0 0 ""
} >"$tmp/get"
{ # a client DEL if version 7
	u8 0
	objtail 0x31 0x32 0 1 7 0 0 0 0 0 ""
} >"$tmp/del"
{ # a DONE reply: version 9
	u8 0
	objtail 0x0102030405060708 0x1112131415161718 0 0 0 9 0 0 0 0 ""
} >"$tmp/done"
{ u32 10; str "version conflict"; } >"$tmp/conflict"
{ u16 3; item 0x0301 "$tmp/get"; item 0x0303 "$tmp/put"
	item 0x0305 "$tmp/del"; } >"$tmp/batch"
{ u16 3; item 0x0302 "$tmp/val"; item 0x0304 "$tmp/done"
	item 0x02ff "$tmp/conflict"; } >"$tmp/batchrep"
{ u32 2; u32 0; u32 1; u32 1; u32 5; } >"$tmp/want"
{ u32 0; } >"$tmp/lreq"

# Error and point bodies, empty body.
{ u32 5; str "join under way"; } >"$tmp/err"
{ u32 2; str "dimension mismatch: 2 != 3"; } >"$tmp/ref"
{ u8 3; u32 0; u32 0x80000000; u32 0xffffffff; } >"$tmp/pt"
: >"$tmp/empty"

frame 0x0101 0 0 "$tmp/hb" >"$out/heartbeat"
frame 0x0102 0 17 "$tmp/ja" >"$out/join-accept"
frame 0x0103 0 0 "$tmp/to" >"$out/takeover"
frame 0x0202 3 99 "$tmp/st" >"$out/status"
frame 0x0105 1 0 "$tmp/ho" >"$out/handover"
frame 0x0107 2 0x77 "$tmp/rj" >"$out/routed-join"
frame 0x0107 1 0x78 "$tmp/rl" >"$out/routed-lookup"
frame 0x02ff 0 5 "$tmp/err" >"$out/error"
frame 0x0109 0 6 "$tmp/ref" >"$out/join-refused"
frame 0x0203 0 7 "$tmp/pt" >"$out/route-req"
frame 0x0201 0 8 "$tmp/empty" >"$out/status-req"
frame 0x0303 0 9 "$tmp/put" >"$out/obj-put"
frame 0x0302 0 10 "$tmp/val" >"$out/obj-value"
frame 0x0308 0 9 "$tmp/patch" >"$out/obj-patch"
frame 0x0301 0 14 "$tmp/rget" >"$out/obj-get-range"
frame 0x0314 0 11 "$tmp/dig" >"$out/obj-digest"
frame 0x0315 0 11 "$tmp/want" >"$out/obj-want"
frame 0x0205 0 12 "$tmp/lreq" >"$out/list-req"
frame 0x0206 1 12 "$tmp/dig" >"$out/list"
frame 0x0306 0 13 "$tmp/batch" >"$out/obj-batch"
frame 0x0307 0 13 "$tmp/batchrep" >"$out/obj-batch-reply"
{ # STATS: a labelled counter, a gauge (0.125) and a histogram of two
  # buckets (0.001: 0x3f50624dd2f1a9fc, 0.01: 0x3f847ae147ae147b; sum
  # 0.5: 0x3fe0000000000000).
	u32 3
	str canfs_requests_total; str type; str get; u8 0; u64 12345
	str canfs_zone_volume; str ""; str ""; u8 1; u64 0x3fc0000000000000
	str canfs_request_seconds; str type; str put; u8 2; u64 10
	u64 0x3fe0000000000000; u8 2
	u64 0x3f50624dd2f1a9fc; u64 2; u64 0x3f847ae147ae147b; u64 7
} >"$tmp/stats"
frame 0x020b 0 14 "$tmp/empty" >"$out/stats-req"
frame 0x020c 0 14 "$tmp/stats" >"$out/stats"
# A stream: several frames back to back, as one read might see them.
{
	frame 0x0201 0 1 "$tmp/empty"
	frame 0x0101 1 0 "$tmp/hb"
	frame 0x02fe 0 1 "$tmp/empty"
	frame 0x0107 0 2 "$tmp/rl"
	frame 0x02ff 0 3 "$tmp/err"
	frame 0x0312 1 4 "$tmp/val"
	frame 0x0314 0 5 "$tmp/dig"
	frame 0x0306 0 6 "$tmp/batch"
} >"$out/stream"

# The seeds of the record fuzzer (meta-fuzz, fs/meta.h, fs/lockrec.h):
# one inode, directory or lock record per file, in tests/fuzz/corpus-meta/
# (or the second directory given).  Rerun after a change to a record's layout.
mout=${2:-$(dirname "$0")/corpus-meta}
mkdir -p "$mout"
# inode_head VERSION MODE SIZE CHUNK: the fixed fields (uid 1000, gid 100,
# nlink 1, rdev 0, times 1234567890.5, 1700000000, 0).
inode_head() {
	u8 "$1"; u32 "$2"; u32 1000; u32 100; u32 1; u64 "$3"; u64 0
	u64 1234567890; u32 500000000; u64 1700000000; u32 0; u64 0; u32 0
	u32 "$4"
}
{ # v1 regular file, 5 GiB, two xattrs
	inode_head 1 0x81a4 0x140000000 0x100000; u16 0
	u16 2; u8 6; printf 'user.a'; u32 2; printf 'hi'
	u8 6; printf 'user.b'; u32 0
} >"$mout/inode-v1"
{ # v1 symlink to ../t
	inode_head 1 0xa1ff 4 4096; u16 4; printf '../t'; u16 0
} >"$mout/symlink-v1"
{ # v2 regular file, 5 GiB: extents [0, 1) and [4096, 4100)
	inode_head 2 0x81a4 0x140000000 0x100000; u16 0; u16 0
	u16 2; u64 0; u64 1; u64 4096; u64 4100
} >"$mout/inode-v2"
{ # v2 sparse file of 1 PiB in 4 KiB chunks, five runs, one up to the end
	inode_head 2 0x8180 0x4000000000000 4096; u16 0
	u16 1; u8 9; printf 'user.mime'; u32 4; printf 'text'
	u16 5; u64 0; u64 3; u64 100; u64 101; u64 0x10000; u64 0x10400
	u64 0x3fffffff0; u64 0x3fffffff1; u64 0x3fffffffff; u64 0x4000000000
} >"$mout/inode-v2-sparse"
{ # v2 directory (no extents)
	inode_head 2 0x41ed 0 0x100000; u16 0; u16 0; u16 0
} >"$mout/inode-v2-dir"
# inode_head_ino VERSION INO MODE SIZE CHUNK: as inode_head, for versions
# 3 and 4 (the inode's own number after the version).
inode_head_ino() {
	u8 "$1"; u64 "$2"; u32 "$3"; u32 1000; u32 100; u32 1; u64 "$4"; u64 0
	u64 1234567890; u32 500000000; u64 1700000000; u32 0; u64 0; u32 0
	u32 "$5"
}
{ # v3 regular file: extent [0, 1)
	inode_head_ino 3 0x1122334455667788 0x81a4 0x100 0x100000; u16 0; u16 0
	u16 1; u64 0; u64 1
} >"$mout/inode-v3"
{ # v4 small file of 10 bytes, 6 of them inline ("hello\n"), an xattr
	inode_head_ino 4 0x1122334455667788 0x81a4 10 0x100000; u16 0
	u16 1; u8 6; printf 'user.a'; u32 2; printf 'hi'
	u16 0; u32 6; printf 'hello\n'
} >"$mout/inode-v4-inline"
{ # v4 regular file with extents and no inline data
	inode_head_ino 4 0x1122334455667788 0x81a4 0x140000000 0x100000
	u16 0; u16 0; u16 2; u64 0; u64 1; u64 4096; u64 4100; u32 0
} >"$mout/inode-v4"
{ # directory (a LIVE root shard): "a" -> 0x1122334455667788 (file),
  # "b" -> 2 (dir)
	u8 2; u8 0; u8 0; u64 0; u32 2
	u8 8; u64 0x1122334455667788; u8 1; printf 'a'
	u8 4; u64 2; u8 1; printf 'b'
} >"$mout/dir"
{ u8 2; u8 0; u8 0; u64 0; u32 0; } >"$mout/dir-empty"
{ # the same root shard being split (SPLITTING)
	u8 2; u8 1; u8 0; u64 0; u32 2
	u8 8; u64 0x1122334455667788; u8 1; printf 'a'
	u8 4; u64 2; u8 1; printf 'b'
} >"$mout/dir-splitting"
{ u8 2; u8 2; u8 3; u64 5; u32 0; } >"$mout/dir-split"	# a header, 3/5
{ u8 2; u8 3; u8 1; u64 1; u32 0; } >"$mout/dir-dead"	# DEAD shard 1/1
{ # version 1 (before shards): decodes, re-encodes as version 2
	u8 1; u32 2
	u8 8; u64 0x1122334455667788; u8 1; printf 'a'
	u8 4; u64 2; u8 1; printf 'b'
} >"$mout/dir-v1"
{ u8 1; u32 0; } >"$mout/dir-empty-v1"
# lock entry MOUNT OWNER PID KIND TYPE START END EXPIRES (fs/lockrec.h)
lock_entry() { u64 "$1"; u64 "$2"; u32 "$3"; u8 "$4"; u8 "$5"; u64 "$6"; u64 "$7"; u64 "$8"; }
{ # lock record: a flock write lock, two fcntl ranges of another mount
	u8 1; u16 3
	lock_entry 0x1111 7 100 2 1 0 0x7fffffffffffffff 1700000000000
	lock_entry 0x2222 9 200 1 0 0 99 1700000000000
	lock_entry 0x2222 9 200 1 1 200 0x7fffffffffffffff 1700000005000
} >"$mout/lockrec"
{ u8 1; u16 0; } >"$mout/lockrec-empty"
