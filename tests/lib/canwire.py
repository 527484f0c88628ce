"""canwire: a small client of the canfs wire protocol (common/wire.h).

Stdlib only.  Used by the integration scenarios, check_overlay.py and the
overlay benchmark.  It speaks the control half of the protocol to a canfsd
daemon over TCP ("HOST:PORT") or a Unix socket ("unix:PATH"):

    status(addr)                  -> dict: the daemon's node and neighbours
    route(addr, point, nocache)   -> dict: owner, hops, path (or RouteError)
    routes(addr, points, nocache) -> list of route results, pipelined
    walk(addr)                    -> every live node reachable by BFS over
                                     neighbour lists
    stats(addr)                   -> list of metrics (WIRE_STATS, see
                                     common/wire_stats.h)
    Conn(addr).batch(items)       -> one OBJ_BATCH of GET/PUT/DEL, its
                                     results in order

Frames are a 24-byte little-endian header (u32 magic, u16 version, u16
type, u32 flags, u32 len, u64 reqid) and a body.  Encoders for the header
and the membership body are exported too, so tests can build malformed
frames on purpose.
"""

import socket
import struct
import time

MAGIC = 0x464E4143


def _wire_version():
    """WIRE_VERSION from common/wire.h, so the two never drift apart."""
    import os
    import re
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                        "..", "..", "common", "wire.h")
    with open(path, encoding="utf-8") as f:
        m = re.search(r"^#define WIRE_VERSION (\d+)", f.read(), re.M)
    if m is None:
        raise RuntimeError("no WIRE_VERSION in " + path)
    return int(m.group(1))


VERSION = _wire_version()
HEADER_LEN = 24
MAX_BODY = 8 << 20
SPACE = 1 << 32

# Message types (enum wire_type).
HEARTBEAT = 0x0101
JOIN_ACCEPT = 0x0102
TAKEOVER = 0x0103
LEAVE = 0x0104
HANDOVER = 0x0105
HANDOVER_ACK = 0x0106
ROUTED = 0x0107
LOOKUP_REPLY = 0x0108
JOIN_REFUSED = 0x0109
STATUS_REQ = 0x0201
STATUS = 0x0202
ROUTE_REQ = 0x0203
LEAVE_REQ = 0x0204
STATS_REQ = 0x020B
STATS = 0x020C
OK = 0x02FE
ERROR = 0x02FF
OBJ_GET = 0x0301
OBJ_VALUE = 0x0302
OBJ_PUT = 0x0303
OBJ_DONE = 0x0304
OBJ_DEL = 0x0305
OBJ_BATCH = 0x0306
OBJ_BATCH_REPLY = 0x0307
OBJ_PATCH = 0x0308

COND_NONE, COND_VERSION, COND_ABSENT = 0, 1, 2
BATCH_MAX = 256
BATCH_MAX_DATA = 4 << 20

RQ_NOCACHE = 0x1

ERRORS = {
    0: "success", 1: "malformed request", 2: "dimension mismatch",
    3: "no route", 4: "too many hops", 5: "busy", 6: "not found",
    7: "timed out", 8: "node not serving", 9: "internal error",
    10: "version conflict", 11: "replica holds no copy",
    12: "wrong owner", 13: "no space", 14: "corrupt", 15: "too big",
}
STATES = {0: "joining", 1: "active", 2: "leaving", 3: "left"}

_HDR = struct.Struct("<IHHIIQ")


class WireError(Exception):
    """A malformed frame or body from the daemon, or a transport failure."""


class RouteError(Exception):
    """The daemon answered a request with an ERROR frame."""

    def __init__(self, code, msg):
        super().__init__("%s (code %d: %s)" % (msg, code,
                                              ERRORS.get(code, "?")))
        self.code = code
        self.msg = msg


# ---------------------------------------------------------------- encoding

def header(mtype, body_len, flags=0, reqid=0, magic=MAGIC, version=VERSION):
    """A 24-byte frame header (any field may be forged)."""
    return _HDR.pack(magic, version, mtype, flags, body_len, reqid)


def frame(mtype, body=b"", flags=0, reqid=0):
    """A whole frame: header plus body."""
    return header(mtype, len(body), flags, reqid) + body


def enc_str(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("<H", len(b)) + b


def enc_node(dims, node):
    """node: dict with id, inc, epoch, addr, zones [(lo list, bits list)]."""
    out = struct.pack("<QQI", node.get("id", 0), node.get("inc", 0),
                      node.get("epoch", 0))
    out += enc_str(node.get("addr", ""))
    zones = node.get("zones_bits", [])
    out += struct.pack("<B", len(zones))
    for lo, bits in zones:
        for i in range(dims):
            out += struct.pack("<IB", lo[i], bits[i])
    return out


def enc_membership(dims, self_node, other=None, nodes=(), a=0, b=0, flags=0,
                   count=None):
    """A membership body; count forges the list length field."""
    out = struct.pack("<BBQQ", dims, flags, a, b)
    out += enc_node(dims, self_node)
    out += enc_node(dims, other or {})
    out += struct.pack("<I", len(nodes) if count is None else count)
    for n in nodes:
        out += enc_node(dims, n)
    return out


def enc_obj(key, cond=COND_NONE, cond_version=0, data=b"", op=(0, 0),
            version=0, checksum=0):
    """A client's object body (dims 0); key is (hi, lo)."""
    return struct.pack("<BQQBBQQQQQIQQI", 0, key[0], key[1], 0, cond,
                       cond_version, version, 0, checksum, 0, 0, op[0],
                       op[1], len(data)) + data


def enc_range(off, length):
    """A range (the data of a GET that wants part of a value)."""
    return struct.pack("<II", off, length)


def enc_patch(ranges, count=None):
    """A patch (the data of OBJ_PATCH) of (offset, bytes) ranges; count
    forges the range count."""
    out = struct.pack("<H", len(ranges) if count is None else count)
    for off, b in ranges:
        out += struct.pack("<II", off, len(b)) + b
    return out


def key_of_hex(hexkey):
    """(hi, lo) of a key printed as 32 hex digits (canctl's "hex")."""
    return int(hexkey[:16], 16), int(hexkey[16:], 16)


def enc_batch(items, count=None):
    """A batch body of (type, body bytes) items; count forges the count."""
    out = struct.pack("<H", len(items) if count is None else count)
    for t, b in items:
        out += struct.pack("<HI", t, len(b)) + b
    return out


def dec_obj(body):
    """An object body: dict with key, version, flags, data."""
    r = Reader(body)
    dims = r.u8()
    r.take(4 * dims)
    o = {"key": (r.u64(), r.u64())}
    r.take(2 + 8)  # index, cond, cond_version
    o["version"] = r.u64()
    r.take(8)  # writer
    o["checksum"] = r.u64()
    r.take(8)  # mtime
    o["flags"] = r.u32()
    r.take(16)  # op id
    o["data"] = r.take(r.u32())
    if r.left():
        raise WireError("%d trailing bytes after an object body" % r.left())
    return o


def dec_batch_reply(body):
    """A batch reply: a list of ("value"|"done", obj) or ("error", (code,
    msg)), in order."""
    r = Reader(body)
    out = []
    for _ in range(r.u16()):
        t = r.u16()
        b = r.take(r.u32())
        if t == ERROR:
            out.append(("error", dec_error(b)))
        elif t in (OBJ_VALUE, OBJ_DONE):
            out.append(("value" if t == OBJ_VALUE else "done", dec_obj(b)))
        else:
            raise WireError("batch reply item of type %#06x" % t)
    if r.left():
        raise WireError("%d trailing bytes after a batch reply" % r.left())
    return out


def enc_point(point):
    return struct.pack("<B", len(point)) + b"".join(
        struct.pack("<I", c) for c in point)


# ---------------------------------------------------------------- decoding

class Reader:
    """Bounds-checked little-endian reader; raises WireError when short."""

    def __init__(self, buf):
        self.buf = buf
        self.off = 0

    def take(self, n):
        if self.off + n > len(self.buf):
            raise WireError("body too short (need %d bytes at offset %d of "
                            "%d)" % (n, self.off, len(self.buf)))
        v = self.buf[self.off:self.off + n]
        self.off += n
        return v

    def u8(self):
        return self.take(1)[0]

    def u16(self):
        return struct.unpack("<H", self.take(2))[0]

    def u32(self):
        return struct.unpack("<I", self.take(4))[0]

    def u64(self):
        return struct.unpack("<Q", self.take(8))[0]

    def str(self):
        return self.take(self.u16()).decode("utf-8", "replace")

    def left(self):
        return len(self.buf) - self.off


def dec_node(r, dims):
    """One node: zones as (lo list, hi list) with hi = lo + 2^bits."""
    node = {"id": r.u64(), "inc": r.u64(), "epoch": r.u32(), "addr": r.str()}
    nz = r.u8()
    zones = []
    for _ in range(nz):
        lo, hi = [], []
        for _ in range(dims):
            lo_i = r.u32()
            bits = r.u8()
            if bits > 32:
                raise WireError("zone with %d bits" % bits)
            lo.append(lo_i)
            hi.append(lo_i + (1 << bits))
        zones.append((lo, hi))
    node["zones"] = zones
    node["idhex"] = "%016x" % node["id"]
    return node


def dec_membership(body):
    r = Reader(body)
    dims = r.u8()
    if not 1 <= dims <= 8:
        raise WireError("membership body with %d dimensions" % dims)
    m = {"dims": dims, "flags": r.u8(), "a": r.u64(), "b": r.u64()}
    m["self"] = dec_node(r, dims)
    m["other"] = dec_node(r, dims)
    n = r.u32()
    if n > 1024:
        raise WireError("membership list of %d nodes" % n)
    m["list"] = [dec_node(r, dims) for _ in range(n)]
    if r.left():
        raise WireError("%d trailing bytes after membership body" % r.left())
    return m


def dec_stats(body):
    """A STATS body: a list of {name, label (key, value) or None, kind
    ("counter", "gauge", "histogram"), value} where a histogram's value is
    {count, sum, buckets: [(le, cumulative count)]}."""
    r = Reader(body)
    f64 = struct.Struct("<d")
    out = []
    for _ in range(r.u32()):
        name, lk, lv, kind = r.str(), r.str(), r.str(), r.u8()
        m = {"name": name, "label": (lk, lv) if lk else None}
        if kind == 0:
            m["kind"], m["value"] = "counter", r.u64()
        elif kind == 1:
            m["kind"], m["value"] = "gauge", f64.unpack(r.take(8))[0]
        elif kind == 2:
            count, total = r.u64(), f64.unpack(r.take(8))[0]
            buckets = [(f64.unpack(r.take(8))[0], r.u64())
                       for _ in range(r.u8())]
            m["kind"] = "histogram"
            m["value"] = {"count": count, "sum": total, "buckets": buckets}
        else:
            raise WireError("metric %s of kind %d" % (name, kind))
        out.append(m)
    if r.left():
        raise WireError("%d trailing bytes after a stats body" % r.left())
    return out


def dec_error(body):
    r = Reader(body)
    code = r.u32()
    msg = r.str()
    return code, msg


# ---------------------------------------------------------------- transport

def connect(addr, timeout=5.0):
    """A connected socket to "HOST:PORT" or "unix:PATH"."""
    if addr.startswith("unix:"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect(addr[5:])
        return s
    host, _, port = addr.rpartition(":")
    host = host.strip("[]")
    s = socket.create_connection((host, int(port)), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


class Conn:
    """A persistent connection to one daemon, with pipelined requests."""

    def __init__(self, addr, timeout=5.0):
        self.addr = addr
        self.timeout = timeout
        self.sock = connect(addr, timeout)
        self.buf = bytearray()
        self.next_reqid = 1

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self, need, deadline):
        while len(self.buf) < need:
            left = deadline - time.monotonic()
            if left <= 0:
                raise WireError("%s: timed out waiting for a reply"
                                % self.addr)
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(1 << 16)
            except socket.timeout:
                raise WireError("%s: timed out waiting for a reply"
                                % self.addr) from None
            if not chunk:
                raise WireError("%s: connection closed by the daemon"
                                % self.addr)
            self.buf += chunk

    def recv_frame(self, timeout=None):
        """Next frame: (type, flags, reqid, body)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        self._fill(HEADER_LEN, deadline)
        magic, ver, mtype, flags, blen, reqid = _HDR.unpack_from(self.buf)
        if magic != MAGIC or ver != VERSION or blen > MAX_BODY:
            raise WireError("%s: bad frame header (magic %#x, version %d, "
                            "len %d)" % (self.addr, magic, ver, blen))
        self._fill(HEADER_LEN + blen, deadline)
        body = bytes(self.buf[HEADER_LEN:HEADER_LEN + blen])
        del self.buf[:HEADER_LEN + blen]
        return mtype, flags, reqid, body

    def request(self, mtype, body=b"", flags=0, timeout=None):
        """Send one request and wait for the reply with the same reqid."""
        reqid = self.next_reqid
        self.next_reqid += 1
        self.send(frame(mtype, body, flags, reqid))
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            rt, rf, rid, rbody = self.recv_frame(
                max(0.001, deadline - time.monotonic()))
            if rid == reqid:
                return rt, rf, rbody

    def batch(self, items, timeout=None):
        """One OBJ_BATCH of (type, object body) items; its results (see
        dec_batch_reply), or RouteError for an ERROR reply."""
        rt, _, body = self.request(OBJ_BATCH, enc_batch(items),
                                   timeout=timeout)
        if rt == ERROR:
            raise RouteError(*dec_error(body))
        if rt != OBJ_BATCH_REPLY:
            raise WireError("%s: OBJ_BATCH answered with type %#06x"
                            % (self.addr, rt))
        return dec_batch_reply(body)

    def status(self):
        rt, rf, body = self.request(STATUS_REQ)
        if rt == ERROR:
            raise RouteError(*dec_error(body))
        if rt != STATUS:
            raise WireError("%s: STATUS_REQ answered with type %#06x"
                            % (self.addr, rt))
        return _status_dict(dec_membership(body), rf)

    def stats(self):
        rt, _, body = self.request(STATS_REQ)
        if rt == ERROR:
            raise RouteError(*dec_error(body))
        if rt != STATS:
            raise WireError("%s: STATS_REQ answered with type %#06x"
                            % (self.addr, rt))
        return dec_stats(body)

    def route(self, point, nocache=False, timeout=None):
        return self.routes([point], nocache, timeout=timeout)[0]

    def routes(self, points, nocache=False, window=128, timeout=None):
        """Route every point; keeps up to window requests in flight.

        Returns a list, in order, of route dicts or RouteError instances.
        A missing reply within timeout seconds of the last progress raises
        WireError.
        """
        flags = RQ_NOCACHE if nocache else 0
        results = [None] * len(points)
        waiting = {}
        nxt = 0
        timeout = timeout or max(self.timeout, 10.0)
        while nxt < len(points) or waiting:
            out = []
            while nxt < len(points) and len(waiting) < window:
                reqid = self.next_reqid
                self.next_reqid += 1
                waiting[reqid] = nxt
                out.append(frame(ROUTE_REQ, enc_point(points[nxt]), flags,
                                 reqid))
                nxt += 1
            if out:
                self.send(b"".join(out))
            rt, _, rid, body = self.recv_frame(timeout)
            idx = waiting.pop(rid, None)
            if idx is None:
                continue
            if rt == ERROR:
                results[idx] = RouteError(*dec_error(body))
            elif rt == LOOKUP_REPLY:
                m = dec_membership(body)
                results[idx] = {
                    "owner": {"id": m["self"]["id"],
                              "idhex": m["self"]["idhex"],
                              "addr": m["self"]["addr"],
                              "zones": m["self"]["zones"]},
                    "hops": m["a"],
                    "path": [(x["id"], x["addr"]) for x in m["list"]],
                }
            else:
                raise WireError("%s: ROUTE_REQ answered with type %#06x"
                                % (self.addr, rt))
        return results


def _status_dict(m, hflags):
    s = m["self"]
    return {
        "id": s["id"], "idhex": s["idhex"], "inc": s["inc"],
        "epoch": s["epoch"], "addr": s["addr"], "dims": m["dims"],
        "zones": s["zones"], "neighbours": m["list"],
        "state": STATES.get(m["flags"], "state%d" % m["flags"]),
        "uptime_ms": m["a"], "routed": m["b"], "replicas": hflags,
    }


# ---------------------------------------------------------------- one-shots

def status(addr, timeout=5.0):
    """The daemon's status: id, addr, dims, zones [(lo, hi)], neighbours
    (list of node dicts), state, uptime_ms, routed, replicas."""
    with Conn(addr, timeout) as c:
        return c.status()


def stats(addr, timeout=5.0):
    """The daemon's metrics (see dec_stats)."""
    with Conn(addr, timeout) as c:
        return c.stats()


def route(addr, point, nocache=False, timeout=5.0):
    """Route one lookup: {owner: {id, addr, zones}, hops, path}; raises
    RouteError with the daemon's message on an ERROR reply."""
    with Conn(addr, timeout) as c:
        r = c.route(point, nocache, timeout=timeout + 6)
    if isinstance(r, RouteError):
        raise r
    return r


def routes(addr, points, nocache=False, timeout=5.0):
    with Conn(addr, timeout) as c:
        return c.routes(points, nocache)


def walk(addr, timeout=2.0):
    """Every live node reachable from addr by BFS over neighbour lists.

    Returns {id: status dict}; nodes that do not answer are skipped (see
    walk_full for the list of those)."""
    return walk_full(addr, timeout)[0]


def walk_full(addrs, timeout=2.0):
    """BFS from one address or a list: ({id: status}, [unreachable addrs])."""
    if isinstance(addrs, str):
        addrs = [addrs]
    seen_addr = set(addrs)
    queue = list(addrs)
    nodes, dead = {}, []
    while queue:
        a = queue.pop(0)
        try:
            st = status(a, timeout)
        except (OSError, WireError, RouteError):
            dead.append(a)
            continue
        nodes[st["id"]] = st
        for nb in st["neighbours"]:
            if nb["addr"] and nb["addr"] not in seen_addr:
                seen_addr.add(nb["addr"])
                queue.append(nb["addr"])
    return nodes, dead


# ---------------------------------------------------------------- geometry

def zone_volume(zone):
    lo, hi = zone
    v = 1
    for a, b in zip(lo, hi):
        v *= b - a
    return v


def zone_contains(zone, p):
    lo, hi = zone
    return all(lo[i] <= p[i] < hi[i] for i in range(len(lo)))


def zones_overlap(a, b):
    return all(a[0][i] < b[1][i] and b[0][i] < a[1][i]
               for i in range(len(a[0])))


def zones_adjacent(a, b):
    """CAN neighbours: overlap in d-1 dimensions, abut (torus) in one."""
    apart = -1
    for i in range(len(a[0])):
        if a[0][i] < b[1][i] and b[0][i] < a[1][i]:
            continue
        if apart >= 0:
            return False
        apart = i
    if apart < 0:
        return False
    i = apart
    return a[1][i] % SPACE == b[0][i] or b[1][i] % SPACE == a[0][i]


def fmt_zone(z):
    return "x".join("[%d,%d)" % (l, h) for l, h in zip(z[0], z[1]))


if __name__ == "__main__":
    import json
    import sys
    if len(sys.argv) < 3:
        print("usage: canwire.py ADDR status|walk|route X,Y,..",
              file=sys.stderr)
        sys.exit(2)
    a, cmd = sys.argv[1], sys.argv[2]
    if cmd == "status":
        print(json.dumps(status(a), indent=1))
    elif cmd == "walk":
        for nid, st in sorted(walk(a).items()):
            print(st["idhex"], st["addr"], st["state"],
                  " ".join(fmt_zone(z) for z in st["zones"]))
    elif cmd == "route":
        pt = [int(x) for x in sys.argv[3].split(",")]
        print(json.dumps(route(a, pt, "--nocache" in sys.argv), indent=1))
