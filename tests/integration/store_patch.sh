#!/usr/bin/env bash
# store_patch.sh: OBJ_PATCH, the write of byte ranges inside an object.
#
# 4 daemons on loopback (127.0.19.x, a free port; k=2, repair every 2 s):
#   1. Concurrent patches: patch_race.py puts a 256 KiB object, then one
#      thread per daemon sends PATCH requests of 1 to 8 ranges of its own
#      1 KiB blocks through its daemon (ROUNDS each).  Every copy read
#      through every daemon must equal what the acknowledged patches
#      make: none lost, none torn.  The secondaries must have applied
#      patches (canfs_replica_requests_total{type="patch"} > 0): the
#      ranges, not whole values, travelled.
#   2. Bad patches: no ranges, a range past the 4 MiB value limit, a
#      truncated range, a count larger than the ranges present: each is
#      answered ERROR "malformed request" on a connection that stays
#      usable, and the object is unchanged.  A patch of an absent key
#      creates it, zeros before the range.
#      Range reads of one object through every daemon (inside, across
#      its end, past it, empty) answer exactly those bytes; a range of 7
#      bytes is "malformed request".
#   3. kill -9 of a daemon while the threads patch (they resend a patch
#      whose reply was lost, same op id, through the next daemon): the
#      survivors read every acknowledged byte after the takeover; after
#      repair, verify finds every object with both its copies.
#
# Environment: SEED, PORT, ROUNDS (patches per thread, default 120), HB,
# BUILD, KEEP=1.
TEST_TIMEOUT=${TEST_TIMEOUT:-480}
. "$(dirname "$0")/../lib/common.sh"
require_tools
command -v jq >/dev/null || skip "jq is not installed"

K=2
ROUNDS=${ROUNDS:-120}
SEED=${SEED:-$(($$ % 10000))}
DOPTS=(-k "$K" --repair-interval 2 --store-size 1024)
PORT=${PORT:-$(free_port)}
ip_of() { echo "127.0.19.$1:$PORT"; }
log "seed $SEED, k=$K, $ROUNDS patches per thread"

start_cluster 4 "${DOPTS[@]}"

# Sum of canfs_replica_requests_total{type=$1} over the live nodes.
replica_count() {
	python3 - "$1" $(alive_addrs) <<'PY'
import sys
import canwire as cw
total = 0
for a in sys.argv[2:]:
    for m in cw.stats(a):
        if m["name"] == "canfs_replica_requests_total" and \
                m["label"] == ("type", sys.argv[1]):
            total += m["value"]
print(total)
PY
}

# --- 1. concurrent patches through every daemon
# shellcheck disable=SC2046
python3 "$LIB/patch_race.py" --seed "$SEED" --rounds "$ROUNDS" \
	$(alive_addrs) >"$T/race1.out" 2>&1 || {
	cat "$T/race1.out"
	fail "concurrent patches: a copy read back is not what was acknowledged"
}
cat "$T/race1.out"
applied=$(replica_count patch)
missed=$(replica_count patch_miss)
log "secondaries applied $applied patches, refused $missed (no base:" \
	"the whole value went instead)"
[ "$applied" -gt 0 ] || fail "no secondary applied a patch"

# --- 2. malformed patches and a patch of an absent key
python3 - "$(addr_of n2)" "$SEED" <<'PY' || fail "bad patches were not refused cleanly"
import random
import struct
import sys
import canwire as cw

addr, seed = sys.argv[1], int(sys.argv[2])
rng = random.Random(seed + 7)
key = (rng.getrandbits(64), rng.getrandbits(64))
base = rng.randbytes(5000)
with cw.Conn(addr, timeout=45.0) as c:
    rt, _, _ = c.request(cw.OBJ_PUT, cw.enc_obj(key, data=base))
    assert rt == cw.OBJ_DONE, rt
    bad = {
        "no ranges": cw.enc_patch([]),
        "past the value limit": cw.enc_patch([(4 << 20, b"x")]),
        "offset that wraps": cw.enc_patch([(0xFFFFFFFF, b"xy")]),
        "truncated range": cw.enc_patch([(10, b"abcdef")])[:-2],
        "count beyond the ranges": cw.enc_patch([(10, b"ab")], count=2),
        "no header": b"\x01",
    }
    for what, data in bad.items():
        rt, _, rb = c.request(cw.OBJ_PATCH, cw.enc_obj(key, data=data))
        assert rt == cw.ERROR, (what, rt)
        code, msg = cw.dec_error(rb)
        assert code == 1, (what, code, msg)
        print("refused (%s): %s" % (what, msg))
    rt, _, rb = c.request(cw.OBJ_GET, cw.enc_obj(key))
    assert rt == cw.OBJ_VALUE and cw.dec_obj(rb)["data"] == base, \
        "a refused patch changed the object"
    # An absent key: created, zeros before the range.
    k2 = (key[0] ^ 1, key[1])
    rt, _, _ = c.request(cw.OBJ_PATCH, cw.enc_obj(
        k2, data=cw.enc_patch([(100, b"new"), (0, b"A")]), op=(seed, 9)))
    assert rt == cw.OBJ_DONE, rt
    rt, _, rb = c.request(cw.OBJ_GET, cw.enc_obj(k2))
    got = cw.dec_obj(rb)["data"] if rt == cw.OBJ_VALUE else None
    assert got == b"A" + bytes(99) + b"new", got
print("bad patches refused, object unchanged; a patch created an absent key")
PY

# Range reads through every daemon.
# shellcheck disable=SC2046
python3 - "$SEED" $(alive_addrs) <<'PY' || fail "range reads are wrong"
import random
import sys
import canwire as cw

seed, addrs = int(sys.argv[1]), sys.argv[2:]
rng = random.Random(seed + 8)
key = (rng.getrandbits(64), rng.getrandbits(64))
val = rng.randbytes(300000)
with cw.Conn(addrs[0], timeout=45.0) as c:
    rt, _, _ = c.request(cw.OBJ_PUT, cw.enc_obj(key, data=val))
    assert rt == cw.OBJ_DONE, rt
n = 0
for a in addrs:
    with cw.Conn(a, timeout=45.0) as c:
        cases = [(0, 4096), (4096 * 7, 4096), (299990, 100), (300000, 10),
                 (500000, 4096), (123, 0), (0, 1 << 31)]
        cases += [(rng.randrange(310000), rng.randrange(70000))
                  for _ in range(40)]
        for off, ln in cases:
            rt, _, rb = c.request(cw.OBJ_GET, cw.enc_obj(
                key, data=cw.enc_range(off, ln)))
            assert rt == cw.OBJ_VALUE, (a, off, ln, rt)
            got = cw.dec_obj(rb)["data"]
            assert got == val[off:off + ln], (a, off, ln, len(got))
            n += 1
        rt, _, rb = c.request(cw.OBJ_GET, cw.enc_obj(key, data=b"1234567"))
        assert rt == cw.ERROR and cw.dec_error(rb)[0] == 1, rt
print("%d range reads exact through %d daemons; a bad range refused"
      % (n, len(addrs)))
PY

# --- 3. kill -9 of a daemon while patching
victim=n3
log "patching again through all 4; kill -9 $victim after 30 patches"
# shellcheck disable=SC2046
python3 "$LIB/patch_race.py" --seed "$((SEED + 1))" --rounds "$ROUNDS" \
	--kill-after 30 --kill-pid "$(pid_of $victim)" \
	$(alive_addrs) >"$T/race2.out" 2>&1 || {
	cat "$T/race2.out"
	fail "patches with a node killed: a copy read back is not what was acknowledged"
}
cat "$T/race2.out"
grep -q "killed pid" "$T/race2.out" || fail "the daemon was not killed"
wait_exit "$victim" 10
alive_del "$victim"
"$CANCTL" -d "$(addr_of n1)" repair --all >/dev/null 2>&1 || true
wait_verify_clean 90 || fail "the copies did not all come back after the kill"
result operations="$((ROUNDS * 8))" faults=1 lost=0 corrupt=0 \
	note="patches applied by secondaries $applied, refused $missed"
log "PASS"
