#!/usr/bin/env bash
# badinput.sh: hostile and broken input on a daemon's TCP port.
#
# Three daemons on 127.0.2.x (a free port, or $PORT).  To the first we
# send, one connection each: random bytes, a header with a body length of 0xFFFFFFFF, a truncated
# frame then close, bad magic, a bad version, frames of unknown types,
# membership bodies with a huge list count or bad zones or the wrong
# dimensions, malformed routed envelopes and error bodies, malformed route
# requests, batches that lie (no items, over 256, counts and lengths that
# do not match, reply types, no request id), and 200 half-open
# connections at once.  (That a batch of n counts as n requests toward
# the in-flight limit is tested in tests/unit/test_conn.c: here the
# daemon answers too fast for the limit to be reached reliably.)  After each: the
# daemon is alive, logged why it dropped the connection (where it should
# drop it), and the overlay still passes check_overlay (tiling, neighbour
# sets, routing from every node, including the attacked one).
. "$(dirname "$0")/../lib/common.sh"
require_tools

PORT=${PORT:-$(free_port)}
A=127.0.2.1:$PORT
start_node b1 "$A"
wait_active b1
start_node b2 "127.0.2.2:$PORT" "$A"
wait_active b2
start_node b3 "127.0.2.3:$PORT" "127.0.2.2:$PORT"
wait_active b3
check_overlay --points 200 --wait 15 || fail "overlay not healthy before the attacks"

cat >"$T/attack.py" <<'EOF'
"""One attack on a daemon.  Exit 0 when the daemon reacted as expected:
it closed the connection (expect=drop), answered with an ERROR and kept
the connection (expect=error), or just kept serving (expect=alive)."""
import os, random, socket, struct, sys, time
import canwire as w

addr, name = sys.argv[1], sys.argv[2]
host, port = addr.rsplit(":", 1)
port = int(port)
rng = random.Random(42)


def conn():
    s = socket.create_connection((host, port), timeout=5)
    return s


def dropped(s, timeout=3.0):
    """True when the daemon closes s (EOF or reset) within timeout."""
    s.settimeout(timeout)
    end = time.monotonic() + timeout
    try:
        while time.monotonic() < end:
            if not s.recv(65536):
                return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False
    return False


def node(**kw):
    n = {"id": 0x1234, "inc": 1, "epoch": 1, "addr": "127.0.2.99:1"}
    n.update(kw)
    return n


WHOLE2 = ([0, 0], [32, 32])


def send_drop(data):
    s = conn()
    s.sendall(data)
    ok = dropped(s)
    s.close()
    return ok


def status_on(s):
    """A STATUS request on an existing connection must be answered."""
    c = w.Conn.__new__(w.Conn)
    c.addr, c.timeout, c.sock, c.buf, c.next_reqid = addr, 5.0, s, bytearray(), 900
    return c.status()


def expect_error(body_type, body, flags=0):
    s = conn()
    s.sendall(w.frame(body_type, body, flags, reqid=77))
    c = w.Conn.__new__(w.Conn)
    c.addr, c.timeout, c.sock, c.buf, c.next_reqid = addr, 5.0, s, bytearray(), 900
    t, f, rid, b = c.recv_frame(5.0)
    if t != w.ERROR or rid != 77:
        print("expected an ERROR for reqid 77, got type %#x reqid %d" % (t, rid))
        return False
    code, msg = w.dec_error(b)
    print("daemon answered ERROR %d: %s" % (code, msg))
    st = status_on(s)  # the connection must still work
    s.close()
    return st["state"] == "active"


def hb(dims=2, count=None, nodes=(), selfnode=None):
    return w.enc_membership(dims, selfnode or node(zones_bits=[WHOLE2]),
                            nodes=nodes, count=count)


def random_bytes():
    data = bytearray(rng.getrandbits(8) for _ in range(4096))
    data[0:4] = b"\xde\xad\xbe\xef"  # never the magic by chance
    return send_drop(bytes(data))


def huge_len():
    return send_drop(w.header(w.STATUS_REQ, 0xFFFFFFFF))


def truncated():
    s = conn()
    s.sendall(w.header(w.HEARTBEAT, 200) + b"\x02" * 50)
    time.sleep(0.2)
    s.close()
    return True


def bad_magic():
    return send_drop(w.header(w.STATUS_REQ, 0, magic=0x12345678))


def bad_version():
    return send_drop(w.header(w.STATUS_REQ, 0, version=7))


def unknown_type():
    return send_drop(w.frame(0x0777, b"12345678"))


def unknown_control():
    return expect_error(0x02AA, b"")


def huge_count():
    return send_drop(w.frame(w.HEARTBEAT, hb(count=0xFFFFFFFF)))


def count_over_bytes():
    return send_drop(w.frame(w.HEARTBEAT, hb(count=1000, nodes=[node()])))


def bad_zone():
    bad = node(zones_bits=[([5, 0], [3, 32])])  # lo not a multiple of 2^3
    return send_drop(w.frame(w.HEARTBEAT, hb(selfnode=bad)))


def many_zones():
    body = bytearray(hb())
    # self node's nzones byte: dims,flags,a,b (18) + id,inc,epoch (20)
    # + str addr (2 + len) -> the next byte is nzones.
    off = 18 + 20 + 2 + len("127.0.2.99:1")
    body[off] = 255
    return send_drop(w.frame(w.HEARTBEAT, bytes(body)))


def wrong_dims():
    three = node(zones_bits=[([0, 0, 0], [32, 32, 32])])
    return send_drop(w.frame(w.HEARTBEAT, hb(dims=3, selfnode=three)))


def trailing_bytes():
    return send_drop(w.frame(w.TAKEOVER, hb() + b"junk"))


def bad_routed():
    return send_drop(w.frame(w.ROUTED, b"\x02\x00\x02\x00\x01"))


def bad_error_body():
    return send_drop(w.frame(w.ERROR, b"\x01\x00\x00\x00\xff\xff"))


def bad_point():
    return expect_error(w.ROUTE_REQ, b"\x02\x01\x02")


def point_dims():
    return expect_error(w.ROUTE_REQ, w.enc_point([1, 2, 3, 4, 5]))


def half_open():
    socks = []
    for i in range(200):
        s = conn()
        part = w.header(w.STATUS_REQ, 0, reqid=i)[: i % 24]
        if part:
            s.sendall(part)
        socks.append(s)
    # One more with a legal but large length and part of its body.
    big = conn()
    big.sendall(w.header(w.HEARTBEAT, 4 << 20) + b"\x00" * (1 << 20))
    socks.append(big)
    time.sleep(0.3)
    st = w.status(addr)  # served while all of them hang
    r = w.route(addr, [123, 456], nocache=True)
    print("with %d half-open connections: state %s, route to %s in %d hops"
          % (len(socks), st["state"], r["owner"]["addr"], r["hops"]))
    with open(os.environ["HALF_OPEN_FLAG"], "w") as f:
        f.write("open\n")
    time.sleep(float(os.environ.get("HALF_OPEN_HOLD", "0")))
    for s in socks:
        s.close()
    return st["state"] == "active"


def status_then_garbage():
    """A good request then garbage in one write: the connection is dropped
    (the STATUS reply queued before the garbage may be lost with it)."""
    s = conn()
    s.sendall(w.frame(w.STATUS_REQ, b"", 0, 5) + b"\x00" * 30)
    ok = dropped(s)
    s.close()
    return ok


def routed(point, origin, hops=1, inner_type=2, path=(0x1234,), reqid=99):
    body = struct.pack("<BBH", len(point), hops, inner_type)
    body += b"".join(struct.pack("<I", c) for c in point)
    body += w.enc_str(origin) + struct.pack("<H", len(path))
    body += b"".join(struct.pack("<Q", p) for p in path)
    return w.frame(w.ROUTED, body, 0, reqid)


def routed_lookup():
    """A peer's routed LOOKUP: the owner must answer the origin directly."""
    ls = socket.socket()
    ls.bind((host, 0))
    ls.listen(4)
    ls.settimeout(5)
    origin = "%s:%d" % (host, ls.getsockname()[1])
    st = w.status(addr)
    # A point far from the attacked node, so the lookup is forwarded.
    lo, hi = st["zones"][0]
    pt = [(lo[i] + (1 << 31)) % (1 << 32) for i in range(st["dims"])]
    s = conn()
    s.sendall(routed(pt, origin, reqid=4242))
    r, _ = ls.accept()
    c = w.Conn.__new__(w.Conn)
    c.addr, c.timeout, c.sock, c.buf, c.next_reqid = origin, 5.0, r, bytearray(), 1
    t, f, rid, b = c.recv_frame(5.0)
    if t != w.LOOKUP_REPLY or rid != 4242:
        print("expected LOOKUP_REPLY 4242, got type %#x reqid %d" % (t, rid))
        return False
    m = w.dec_membership(b)
    owner = m["self"]
    print("owner %s answered the forged origin after %d hops" %
          (owner["addr"], m["a"]))
    s.close(); r.close(); ls.close()
    return any(w.zone_contains(z, pt) for z in owner["zones"])


def routed_bad_origin():
    """A routed lookup whose origin cannot be parsed: nobody to answer."""
    s = conn()
    s.sendall(routed([1, 2], "no port here"))
    s.sendall(routed([1 << 31, 1 << 31], "unix:/nonexistent"))
    s.sendall(routed([3, 4], "", hops=255))
    time.sleep(0.5)
    st = status_on(s)
    s.close()
    return st["state"] == "active"


def routed_unknown_inner():
    """A routed message of an unknown inner type, for a point we own."""
    st = w.status(addr)
    lo, hi = st["zones"][0]
    s = conn()
    s.sendall(routed(lo, "127.0.2.99:1", inner_type=0x7777))
    time.sleep(0.3)
    st = status_on(s)
    s.close()
    return st["state"] == "active"


def get_item(k=1):
    return (w.OBJ_GET, w.enc_obj((0xba7c, k)))


def batch_zero():
    """A batch of no items."""
    return send_drop(w.frame(w.OBJ_BATCH, w.enc_batch([]), 0, 41))


def batch_over():
    """257 items: over WIRE_BATCH_MAX."""
    items = [get_item(i) for i in range(257)]
    return send_drop(w.frame(w.OBJ_BATCH, w.enc_batch(items), 0, 42))


def batch_count_lies():
    """A count of 200 over 2 items."""
    body = w.enc_batch([get_item(1), get_item(2)], count=200)
    return send_drop(w.frame(w.OBJ_BATCH, body, 0, 43))


def batch_len_lies():
    """The second item's length runs past the end of the body."""
    body = bytearray(w.enc_batch([get_item(1), get_item(2)]))
    off = 2 + 6 + 83 + 2
    body[off:off + 4] = struct.pack("<I", 84)
    return send_drop(w.frame(w.OBJ_BATCH, bytes(body), 0, 44))


def batch_bad_item():
    """An item of a reply type in a request."""
    body = w.enc_batch([get_item(1), (w.OBJ_VALUE, w.enc_obj((1, 2)))])
    return send_drop(w.frame(w.OBJ_BATCH, body, 0, 45))


def batch_no_reqid():
    """A good batch without a request id (it would escape the limit)."""
    return send_drop(w.frame(w.OBJ_BATCH, w.enc_batch([get_item(1)]), 0, 0))


def batch_ok():
    """A good batch is answered item by item, and the connection lives."""
    s = conn()
    c = w.Conn.__new__(w.Conn)
    c.addr, c.timeout, c.sock, c.buf, c.next_reqid = addr, 10.0, s, bytearray(), 1
    res = c.batch([get_item(i) for i in range(5)] +
                  [(w.OBJ_PUT, w.enc_obj((0xba7c, 99), data=b"x" * 10))])
    print("batch of 6 answered: %s" % [r[0] for r in res])
    st = status_on(s)
    s.close()
    return (len(res) == 6 and all(r == ("error", (6, "not found"))
            for r in res[:5]) and res[5][0] == "done" and
            st["state"] == "active")


ok = globals()[name]()
sys.exit(0 if ok else 1)
EOF

LOGF=$T/b1.log
# attack NAME EXPECTED_LOG_TEXT ("" when the daemon need not log anything)
attack() {
	local name=$1 want=$2 before
	before=$(wc -c <"$LOGF")
	log "attack: $name"
	HALF_OPEN_FLAG=$T/half-open.flag python3 "$T/attack.py" "$A" "$name" ||
		fail "$name: the daemon did not react as expected"
	running b1 || fail "$name: the daemon died"
	if [ -n "$want" ] && ! wait_for 3 eval "tail -c +$((before + 1)) '$LOGF' | grep -q -- '$want'"; then
		tail -c +$((before + 1)) "$LOGF" | tail -5
		fail "$name: the daemon did not log '$want'"
	fi
	[ -n "$want" ] && log "  logged: $(tail -c +$((before + 1)) "$LOGF" | grep -- "$want" | head -1 | cut -c1-150)"
	check_overlay --points 100 --wait 10 -q >"$T/check.out" 2>&1 || {
		cat "$T/check.out"
		fail "$name: the overlay is not healthy afterwards"
	}
	return 0
}

attack random_bytes "bad magic; dropping connection"
attack huge_len "frame body too long; dropping connection"
attack truncated ""
attack bad_magic "bad magic; dropping connection"
attack bad_version "unsupported protocol version; dropping connection"
attack unknown_type "unknown message type 0x0777; dropping connection"
attack unknown_control ""
attack huge_count "malformed HEARTBEAT; dropping connection"
attack count_over_bytes "malformed HEARTBEAT; dropping connection"
attack bad_zone "malformed HEARTBEAT; dropping connection"
attack many_zones "malformed HEARTBEAT; dropping connection"
attack wrong_dims "HEARTBEAT for d=3"
attack trailing_bytes "malformed TAKEOVER; dropping connection"
attack bad_routed "malformed ROUTED; dropping connection"
attack bad_error_body "malformed ERROR; dropping connection"
attack bad_point ""
attack point_dims ""
attack status_then_garbage "bad magic; dropping connection"
attack routed_lookup ""
attack routed_bad_origin "cannot parse peer address"
attack routed_unknown_inner ""
attack batch_zero "malformed OBJ_BATCH; dropping connection"
attack batch_over "malformed OBJ_BATCH; dropping connection"
attack batch_count_lies "malformed OBJ_BATCH; dropping connection"
attack batch_len_lies "malformed OBJ_BATCH; dropping connection"
attack batch_bad_item "malformed OBJ_BATCH; dropping connection"
attack batch_no_reqid "malformed OBJ_BATCH; dropping connection"
attack batch_ok ""

# 200 half-open connections: held open while the whole overlay is checked.
log "attack: half_open (200 connections held during a full check)"
rm -f "$T/half-open.flag"
HALF_OPEN_FLAG=$T/half-open.flag HALF_OPEN_HOLD=8 python3 "$T/attack.py" "$A" half_open &
hp=$!
wait_for 10 test -e "$T/half-open.flag" || fail "half_open: did not get going"
check_overlay --points 200 --wait 5 || fail "overlay broken while 200 connections hang"
wait $hp || fail "half_open: the daemon did not serve while connections hung"
running b1 || fail "half_open: the daemon died"
check_overlay --points 200 --wait 10 || fail "overlay broken after the half-open connections"

grep -n "warn\|error" "$LOGF" | grep -v "dropping connection" | head -20
log "PASS"
