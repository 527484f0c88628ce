#!/usr/bin/env python3
"""objhist.py: object-store histories under faults, and their check.

Speaks the object half of the wire protocol (OBJ_GET / OBJ_PUT / OBJ_DEL,
common/wire.h) through canwire.Conn; keys and checksums are xxh3 from the
system's libxxhash (ctypes), exactly as common/hash.c computes them.

  hist -d ADDR[,..] --log FILE [--keys K] [--names PFX] [--clients C]
       [--del-pct P] [--seconds N | --stop-file F] [--readers R] [--tag T]
       [--name-file F]
      C writer threads (one connection each, round-robin over the
      daemons) pick a key, GET it, then write it on condition: PUT "if
      version V" (or "if absent") with a value that is unique to this
      write (TAG-cI-N), or, P % of the time, DEL "if version V".  R reader
      threads only GET, as fast as they can.  Every operation is logged as
      one JSON line: what was asked, what came back (ok with the version,
      conflict, notfound, or amb: no answer / an error that does not say
      whether the write happened), and when (monotonic start and end).
      Readers log a GET only when it differs from their previous one.

  primary -d ADDR --want ADDR --names PFX --count N
      Print N names PFX-0, PFX-1, ... (skipping others) whose primary
      (the owner of replica point 0) is the daemon at --want: one per line.

  check -d ADDR[,..] LOG... [--settle S] [--quiet]
      Read every key of the logs through each daemon (the final state;
      the reads are logged to stderr) and check the histories:
        - every value is read at one version only, and at the version its
          write was acknowledged with (a value seen at two versions was
          applied twice, or read before it was committed and then lost);
        - a value whose write was answered CONFLICT (the store's "nothing
          was written") is never read: if it is, the write was applied
          and reported as not applied;
        - acknowledged versions grow: a conditional write's version is
          above the version it was conditioned on, and no two writes
          acknowledged on the same version of a key (a lost update);
        - real-time order: a GET that started after a write or delete was
          acknowledged returns that version or a newer one;
        - the final state of every key is at least as new as every
          acknowledged write and every version any GET returned (a value
          read and later gone was read before it was durable).
      Prints one JSON line of counts; the problems go to stderr (the
      first 30 of each kind).  Exit 1 on any problem.
"""
import argparse
import ctypes
import json
import os
import random
import struct
import sys
import threading
import time
from bisect import bisect_left

import canwire

OBJ_GET = 0x0301
OBJ_VALUE = 0x0302
OBJ_PUT = 0x0303
OBJ_DONE = 0x0304
OBJ_DEL = 0x0305
COND_NONE, COND_VERSION, COND_ABSENT = 0, 1, 2
E_NOTFOUND = 6
E_CONFLICT = 10
# Errors that say for sure that nothing was written.
E_DEFINITE = {1: "proto", 2: "dims", 10: "conflict", 13: "nospace",
              14: "corrupt", 15: "toobig"}

_xx = ctypes.CDLL("libxxhash.so.0")


class _XXH128(ctypes.Structure):
    _fields_ = [("low64", ctypes.c_uint64), ("high64", ctypes.c_uint64)]


_xx.XXH3_128bits.restype = _XXH128
_xx.XXH3_128bits.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
_xx.XXH3_64bits.restype = ctypes.c_uint64
_xx.XXH3_64bits.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
_xx.XXH3_64bits_withSeed.restype = ctypes.c_uint64
_xx.XXH3_64bits_withSeed.argtypes = [ctypes.c_char_p, ctypes.c_size_t,
                                     ctypes.c_uint64]
HASH_SEED_BASE = 0x9e3779b97f4a7c15
M64 = (1 << 64) - 1


def key_of(name):
    """(hi, lo) of a name, as hash_key_of()."""
    b = name.encode()
    h = _xx.XXH3_128bits(b, len(b))
    return h.high64, h.low64


def checksum(data):
    return _xx.XXH3_64bits(data, len(data))


def replica_point(key, i, dims=2):
    """Point of replica i of key (hash_replica_point)."""
    raw = struct.pack("<QQ", key[0], key[1])
    pt = []
    for j in range(dims):
        seed = HASH_SEED_BASE ^ (((i << 32) | j) * 0xff51afd7ed558ccd & M64)
        pt.append(_xx.XXH3_64bits_withSeed(raw, len(raw), seed) >> 32)
    return pt


# Wire version 2 added the write's id (u64 client, u64 seq) after the
# flags of every object body; follow whichever canwire.py speaks.
OPID = canwire.VERSION >= 2


def enc_obj(key, cond=COND_NONE, cond_version=0, data=b"", op=(0, 0)):
    """A client's object body: dims 0, no point; op is the write's id
    (client, seq), (0, 0) for none (wire version 2)."""
    out = (struct.pack("<BQQBBQ", 0, key[0], key[1], 0, cond, cond_version)
           + struct.pack("<QQQQI", 0, 0, checksum(data), 0, 0))
    if OPID:
        out += struct.pack("<QQ", op[0], op[1])
    return out + struct.pack("<I", len(data)) + data


def dec_obj(body, verify=True):
    """(version, flags, data) of an object body; raises WireError.  A
    DONE body carries only the version (verify=False)."""
    r = canwire.Reader(body)
    dims = r.u8()
    if dims > 8:
        raise canwire.WireError("object body with %d dimensions" % dims)
    for _ in range(dims):
        r.u32()
    r.u64(), r.u64(), r.u8(), r.u8(), r.u64()
    version, _writer, csum, _mtime = r.u64(), r.u64(), r.u64(), r.u64()
    flags = r.u32()
    if OPID:
        r.u64(), r.u64()
    n = r.u32()
    data = r.take(n)
    if r.left():
        raise canwire.WireError("trailing bytes in an object body")
    if verify and checksum(data) != csum:
        raise canwire.WireError("value fails its checksum")
    return version, flags, data


class Client:
    """One connection to a daemon; object requests with outcomes."""

    def __init__(self, addr, timeout=45.0):
        self.addr = addr
        self.timeout = timeout
        self.conn = None
        self.opclient = random.getrandbits(63) | 1
        self.opseq = 0

    def close(self):
        if self.conn is not None:
            self.conn.close()
        self.conn = None

    def _call(self, mtype, body):
        """(reply type, body) or raises OSError / WireError."""
        if self.conn is None:
            self.conn = canwire.Conn(self.addr, 5.0)
        try:
            rt, _, rb = self.conn.request(mtype, body, timeout=self.timeout)
        except (OSError, canwire.WireError):
            self.close()
            raise
        return rt, rb

    def get(self, name):
        """('ok', version, data) / ('notfound',) / ('err', text)."""
        try:
            rt, rb = self._call(OBJ_GET, enc_obj(key_of(name)))
            if rt == canwire.ERROR:
                code, msg = canwire.dec_error(rb)
                if code == E_NOTFOUND:
                    return ("notfound",)
                return ("err", "%d %s" % (code, msg))
            if rt != OBJ_VALUE:
                return ("err", "GET answered with type %#06x" % rt)
            version, _, data = dec_obj(rb)
            return ("ok", version, data)
        except (OSError, canwire.WireError) as e:
            return ("err", str(e))

    def write(self, mtype, name, cond, cond_version, data=b""):
        """('ok', version) / ('conflict', msg) / ('fail', msg): written
        for sure not / ('amb', msg): no answer or an unsure error."""
        self.opseq += 1
        try:
            rt, rb = self._call(mtype, enc_obj(key_of(name), cond,
                                               cond_version, data,
                                               (self.opclient, self.opseq)))
        except (OSError, canwire.WireError) as e:
            return ("amb", str(e))
        if rt == canwire.ERROR:
            code, msg = canwire.dec_error(rb)
            if code == E_CONFLICT:
                return ("conflict", msg)
            if code in E_DEFINITE or code == E_NOTFOUND:
                return ("fail", "%d %s" % (code, msg))
            return ("amb", "%d %s" % (code, msg))
        if rt != OBJ_DONE:
            return ("amb", "answered with type %#06x" % rt)
        try:
            version, _, _ = dec_obj(rb, verify=False)
        except canwire.WireError as e:
            return ("amb", str(e))
        return ("ok", version)


# ------------------------------------------------------------------ hist

class Stats(dict):
    """Counters shared by the threads."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.mu = threading.Lock()

    def add(self, k, n=1):
        with self.mu:
            self[k] = self.get(k, 0) + n

    def most(self, k, n):
        with self.mu:
            self[k] = max(self.get(k, 0), n)


class Log:
    def __init__(self, path):
        self.f = open(path, "a")
        self.mu = threading.Lock()

    def put(self, rec):
        line = json.dumps(rec, separators=(",", ":"))
        with self.mu:
            self.f.write(line + "\n")
            self.f.flush()


def stop_now(args, t_end):
    if args.stop_file and os.path.exists(args.stop_file):
        return True
    return t_end is not None and time.monotonic() >= t_end


def writer(args, i, addr, names, log, stats, t_end):
    rng = random.Random(args.seed * 1000 + i)
    cl = Client(addr)
    seq = 0
    while not stop_now(args, t_end):
        k = rng.choice(names)
        t0 = time.monotonic()
        g = cl.get(k)
        t1 = time.monotonic()
        rec = {"t": "get", "c": "%s-c%d" % (args.tag, i), "k": k,
               "t0": t0, "t1": t1}
        if g[0] == "ok":
            rec.update(r="ok", v=g[1], val=g[2].decode("ascii", "replace"))
        elif g[0] == "notfound":
            rec.update(r="notfound")
        else:
            rec.update(r="err", msg=g[1])
        log.put(rec)
        stats.add("gets")
        if g[0] == "err":
            stats.add("get_errors")
            time.sleep(0.1)
            continue
        seq += 1
        val = "%s-c%d-%d" % (args.tag, i, seq)
        if g[0] == "ok" and rng.randrange(100) < args.del_pct:
            kind, mtype, cond, cv, data = "del", OBJ_DEL, COND_VERSION, g[1], b""
        elif g[0] == "ok":
            kind, mtype, cond, cv, data = "put", OBJ_PUT, COND_VERSION, g[1], val.encode()
        else:
            kind, mtype, cond, cv, data = "put", OBJ_PUT, COND_ABSENT, 0, val.encode()
        t0 = time.monotonic()
        w = cl.write(mtype, k, cond, cv, data)
        t1 = time.monotonic()
        rec = {"t": kind, "c": "%s-c%d" % (args.tag, i), "k": k,
               "cond": cv if cond == COND_VERSION else None, "val": val,
               "r": w[0], "t0": t0, "t1": t1}
        if w[0] == "ok":
            rec["v"] = w[1]
        else:
            rec["msg"] = w[1]
        log.put(rec)
        stats.add(w[0])
        stats.most("max_ms", int((t1 - t0) * 1000))
        if w[0] in ("amb", "fail"):
            time.sleep(0.05)
    cl.close()


def reader(args, i, addr, names, log, stats, t_end):
    cl = Client(addr)
    last = {}
    while not stop_now(args, t_end):
        for k in names:
            t0 = time.monotonic()
            g = cl.get(k)
            t1 = time.monotonic()
            stats.add("reads")
            if g[0] == "err":
                stats.add("read_errors")
                time.sleep(0.05)
                continue
            now = (g[0], g[1] if g[0] == "ok" else None)
            if last.get(k) == now:
                continue
            last[k] = now
            rec = {"t": "get", "c": "%s-r%d" % (args.tag, i), "k": k,
                   "t0": t0, "t1": t1, "r": g[0]}
            if g[0] == "ok":
                rec.update(v=g[1], val=g[2].decode("ascii", "replace"))
            log.put(rec)
            if stop_now(args, t_end):
                break
    cl.close()


def cmd_hist(args):
    addrs = args.daemons.split(",")
    if args.name_file:
        with open(args.name_file) as f:
            names = [ln.strip() for ln in f if ln.strip()]
    else:
        names = ["%s-%d" % (args.names, j) for j in range(args.keys)]
    log = Log(args.log)
    t_end = time.monotonic() + args.seconds if args.seconds else None
    stats = Stats(gets=0, get_errors=0, ok=0, conflict=0, amb=0, fail=0,
                  reads=0, read_errors=0, max_ms=0)
    th = []
    for i in range(args.clients):
        th.append(threading.Thread(target=writer, args=(
            args, i, addrs[i % len(addrs)], names, log, stats, t_end)))
    for i in range(args.readers):
        th.append(threading.Thread(target=reader, args=(
            args, i, addrs[(i + 1) % len(addrs)], names, log, stats, t_end)))
    for t in th:
        t.daemon = True
        t.start()
    for t in th:
        t.join()
    stats["keys"] = len(names)
    print(json.dumps(stats))
    return 0


# ------------------------------------------------------------------ primary

def cmd_primary(args):
    found = 0
    j = 0
    with canwire.Conn(args.daemons.split(",")[0], 5.0) as c:
        while found < args.count and j < args.count * 200:
            name = "%s-%d" % (args.names, j)
            j += 1
            r = c.route(replica_point(key_of(name), 0))
            if isinstance(r, Exception):
                continue
            if r["owner"]["addr"] == args.want:
                print(name)
                found += 1
    return 0 if found == args.count else 1


# ------------------------------------------------------------------ check

def load_logs(paths):
    recs = []
    for p in paths:
        with open(p) as f:
            for ln in f:
                ln = ln.strip()
                if ln:
                    try:
                        recs.append(json.loads(ln))
                    except ValueError:
                        pass	# a line cut by a killed writer
    return recs


def final_reads(addrs, names, settle):
    """{addr: {name: ('ok', v, val) / ('notfound',)}}; retries errors."""
    out = {}
    for a in addrs:
        cl = Client(a, 45.0)
        res = {}
        for k in names:
            deadline = time.monotonic() + settle
            while True:
                g = cl.get(k)
                if g[0] != "err" or time.monotonic() >= deadline:
                    break
                time.sleep(0.5)
            if g[0] == "ok":
                g = ("ok", g[1], g[2].decode("ascii", "replace"))
            res[k] = g
        cl.close()
        out[a] = res
    return out


def cmd_check(args):
    recs = load_logs(args.log)
    addrs = args.daemons.split(",")
    names = sorted({r["k"] for r in recs})
    finals = final_reads(addrs, names, args.settle)
    problems = {}

    def bad(kind, text):
        problems.setdefault(kind, []).append(text)

    writes = [r for r in recs if r["t"] in ("put", "del")]
    gets = [r for r in recs if r["t"] == "get" and r["r"] == "ok"]
    by_val = {r["val"]: r for r in writes if r["t"] == "put"}
    acked = [r for r in writes if r["r"] == "ok"]

    # Every observation of a value: the GETs, then the final reads.
    obs = [(r["k"], r["v"], r["val"], "GET by %s" % r["c"]) for r in gets]
    for a, res in finals.items():
        for k, g in res.items():
            if g[0] == "ok":
                obs.append((k, g[1], g[2], "final read through %s" % a))
            elif g[0] == "err":
                bad("final read failed", "%s through %s: %s" % (k, a, g[1]))
    seen_at = {}
    for k, v, val, who in obs:
        w = by_val.get(val)
        first = val not in seen_at	# report each write once
        seen_at.setdefault(val, set()).add(v)
        if not first and (w is None or w["r"] != "ok" or w["v"] == v):
            continue
        if w is None:
            bad("unknown value", "%s: %r at version %d (%s): no writer "
                "wrote it" % (k, val, v, who))
        elif w["r"] == "conflict":
            bad("conflict but applied",
                "%s: the write of %r (cond %s) was answered CONFLICT "
                "(nothing written) after %.1f s, but %s returned it at "
                "version %d" % (k, val, w["cond"], w["t1"] - w["t0"], who, v))
        elif w["r"] == "fail":
            bad("failed but applied", "%s: the write of %r failed (%s) but "
                "%s returned it at version %d" % (k, val, w.get("msg"), who, v))
        elif w["r"] == "ok" and w["v"] != v:
            bad("version mismatch", "%s: %r was acknowledged at version %d "
                "but %s returned it at version %d" % (k, val, w["v"], who, v))
    for val, vs in seen_at.items():
        if len(vs) > 1:
            bad("one value at two versions", "%r was read at versions %s: "
                "applied twice, or read before it was committed and then "
                "lost" % (val, sorted(vs)))

    # Versions grow; no two acknowledged writes on one version.
    on_version = {}
    for w in acked:
        if w["cond"] is not None:
            if w["v"] <= w["cond"]:
                bad("version not monotone", "%s: %s of %r acknowledged at "
                    "version %d, not above its condition %d"
                    % (w["k"], w["t"], w["val"], w["v"], w["cond"]))
            on_version.setdefault((w["k"], w["cond"]), []).append(w)
    for (k, cv), ws in on_version.items():
        if len(ws) > 1:
            bad("two writes on one version", "%s: %d writes acknowledged on "
                "version %d: %s" % (k, len(ws), cv, ", ".join(
                    "%s %r -> %d" % (w["t"], w["val"], w["v"]) for w in ws)))

    # Real time: a GET after an acknowledged write sees it or newer.
    per_key = {}
    for w in acked:
        per_key.setdefault(w["k"], []).append((w["t1"], w["v"], w))
    for k in per_key:
        per_key[k].sort(key=lambda x: x[0])
        best, pref = None, []
        for t1, v, w in per_key[k]:
            if best is None or v > best[0]:
                best = (v, w)
            pref.append(best)
        per_key[k] = ([x[0] for x in per_key[k]], pref)
    for g in gets:
        if g["k"] not in per_key:
            continue
        ends, pref = per_key[g["k"]]
        i = bisect_left(ends, g["t0"]) - 1
        if i >= 0 and g["v"] < pref[i][0]:
            w = pref[i][1]
            bad("stale read", "%s: GET by %s started %.3f s after %s of %r "
                "was acknowledged at version %d, and returned version %d "
                "(%r)" % (g["k"], g["c"], g["t0"] - w["t1"], w["t"],
                          w["val"], w["v"], g["v"], g["val"]))

    # Absent: some delete that did not fail for sure must explain it.
    # Deletes are conditional, so the one that removed the newest
    # acknowledged version v was conditioned on v or newer.
    dels = {}
    for w in writes:
        if w["t"] == "del":
            dels.setdefault(w["k"], []).append(w)
    absent = [r for r in recs if r["t"] == "get" and r["r"] == "notfound"]
    for a, res in finals.items():
        for k, g in res.items():
            if g[0] == "notfound":
                absent.append({"k": k, "t0": float("inf"), "t1": float("inf"),
                               "c": "final read through %s" % a})
    for g in absent:
        if g["k"] not in per_key:
            continue
        ends, pref = per_key[g["k"]]
        i = bisect_left(ends, g["t0"]) - 1
        if i < 0 or pref[i][1]["t"] == "del":
            continue
        v, w = pref[i]
        cands = [d for d in dels.get(g["k"], ())
                 if d["cond"] >= v and d["t0"] < g["t1"]]
        if any(d["r"] in ("ok", "amb") for d in cands):
            continue
        bad("conflict but applied" if cands else "acknowledged write lost",
            "%s: %s found it absent, but the newest acknowledged write "
            "before was the put of %r at version %d, and every delete "
            "since was answered %s" % (
                g["k"], g["c"] if "c" in g else "a GET", w["val"], v,
                ", ".join("%s (%s, %.1f s)" % (d["r"], d["val"],
                          d["t1"] - d["t0"]) for d in cands) or "(none)"))

    # The final state: nothing acknowledged or seen is newer.
    max_seen = {}
    for k, v, val, who in obs:
        if not who.startswith("final") and v > max_seen.get(k, (0,))[0]:
            max_seen[k] = (v, val, who)
    for a, res in finals.items():
        for k, g in res.items():
            if g[0] == "err":
                continue
            fv = g[1] if g[0] == "ok" else None
            if k in per_key:
                v, w = per_key[k][1][-1]
                if fv is not None and fv < v:
                    bad("acknowledged write lost", "%s through %s: version %d "
                        "(%r), but %s of %r was acknowledged at version %d"
                        % (k, a, fv, g[2], w["t"], w["val"], v))
            if k in max_seen and fv is not None and fv < max_seen[k][0]:
                v, val, who = max_seen[k]
                bad("read value vanished", "%s through %s: version %d (%r), "
                    "but %s returned version %d (%r) before: it was read "
                    "before it was durable" % (k, a, fv, g[2], who, v, val))
    # Every daemon reads the same final state.
    if len(finals) > 1:
        vals = list(finals.values())
        for k in names:
            views = {tuple(v[k][:2]) for v in vals if v[k][0] != "err"}
            if len(views) > 1:
                bad("daemons disagree", "%s: %s" % (k, " / ".join(
                    "%s %s" % (a, finals[a][k][:2]) for a in finals)))

    counts = {
        "keys": len(names), "writes": len(writes), "acked": len(acked),
        "conflicts": sum(1 for w in writes if w["r"] == "conflict"),
        "ambiguous": sum(1 for w in writes if w["r"] == "amb"),
        "failed": sum(1 for w in writes if w["r"] == "fail"),
        "deletes_acked": sum(1 for w in acked if w["t"] == "del"),
        "reads": len([r for r in recs if r["t"] == "get"]),
        "max_write_ms": int(max([(w["t1"] - w["t0"]) * 1000 for w in writes]
                                or [0])),
        "problems": sum(len(v) for v in problems.values()),
        "kinds": {k: len(v) for k, v in problems.items()},
    }
    for kind, items in problems.items():
        for text in items[:30]:
            print("%s: %s" % (kind, text), file=sys.stderr)
        if len(items) > 30:
            print("%s: ... %d more" % (kind, len(items) - 30), file=sys.stderr)
    print(json.dumps(counts))
    return 1 if problems else 0


def main():
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    h = sub.add_parser("hist")
    h.add_argument("-d", "--daemons", required=True)
    h.add_argument("--log", required=True)
    h.add_argument("--keys", type=int, default=16)
    h.add_argument("--names", default="hist")
    h.add_argument("--name-file")
    h.add_argument("--clients", type=int, default=8)
    h.add_argument("--readers", type=int, default=0)
    h.add_argument("--del-pct", type=int, default=15)
    h.add_argument("--seconds", type=float)
    h.add_argument("--stop-file")
    h.add_argument("--seed", type=int, default=1)
    h.add_argument("--tag", default="w")
    p = sub.add_parser("primary")
    p.add_argument("-d", "--daemons", required=True)
    p.add_argument("--want", required=True)
    p.add_argument("--names", required=True)
    p.add_argument("--count", type=int, default=8)
    c = sub.add_parser("check")
    c.add_argument("-d", "--daemons", required=True)
    c.add_argument("log", nargs="+")
    c.add_argument("--settle", type=float, default=30.0)
    args = ap.parse_args()
    return {"hist": cmd_hist, "primary": cmd_primary,
            "check": cmd_check}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
