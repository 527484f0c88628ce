#!/usr/bin/env python3
"""check_overlay.py: check that a CAN overlay is whole and consistent.

Usage: check_overlay.py [options] ADDR...

ADDR... are the daemons expected to be alive (HOST:PORT or unix:PATH).
Checks, each with a message saying what is wrong:

  (a) every expected daemon answers STATUS and is active; the zones of
      all of them tile the key space exactly (integer volumes sum to
      2^(32*d), no two zones overlap, every zone is dyadic); the live
      nodes named anywhere (each daemon itself and its neighbour list)
      are exactly the expected ones;
  (b) every node's neighbour set equals the one computed from the global
      zone map (torus adjacency), and what it believes about each
      neighbour's zones is what that neighbour holds;
  (c) routing from every node to --points random points (seeded) reaches
      the true owner of each point, with and/or without the routing cache.

--wait S retries until everything passes or S seconds are up, printing the
last failure.  A routing failure on a map that did not change while the
routes ran is not retried: the tables were right and routing still failed,
which is a bug, not a convergence delay.

Exit status: 0 all checks pass, 1 a check failed, 2 usage.
"""

import argparse
import os
import random
import sys
import time
import zlib
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import canwire  # noqa: E402

MAX_SHOWN = 15


class Snapshot:
    """Statuses of the expected daemons and the global map built from them."""

    def __init__(self, addrs, timeout=2.0):
        self.addrs = addrs
        self.st = {}          # addr -> status
        self.problems = []
        self.structure_ok_at = None

        def one(a):
            try:
                return a, canwire.status(a, timeout), None
            except (OSError, canwire.WireError, canwire.RouteError) as e:
                return a, None, e

        if len(addrs) > 8:
            with ThreadPoolExecutor(16) as pool:
                got = list(pool.map(one, addrs))
        else:
            got = [one(a) for a in addrs]
        for a, st, err in got:
            if st is not None:
                self.st[a] = st
            else:
                self.problems.append("(a) expected daemon %s does not "
                                     "answer STATUS: %s" % (a, err))
        self.nodes = {}       # (id, inc) -> status
        for a, s in self.st.items():
            self.nodes[(s["id"], s["inc"])] = s
        dims = sorted({s["dims"] for s in self.st.values()})
        self.dims = dims[0] if len(dims) == 1 else None
        if len(dims) > 1:
            self.problems.append("(a) daemons disagree on dimensions: %s"
                                 % dims)

    def signature(self):
        """What must not change for two snapshots to show the same map."""
        sig = []
        for a in sorted(self.st):
            s = self.st[a]
            sig.append((a, s["id"], s["inc"], s["epoch"],
                        tuple(sorted((n["id"], n["inc"], n["epoch"])
                                     for n in s["neighbours"]))))
        return tuple(sig)


def name(s):
    return "%s (%s)" % (s["idhex"], s["addr"])


def node_name(n):
    return "%016x (%s)" % (n["id"], n["addr"] or "no address")


def zone_key(z):
    return (tuple(z[0]), tuple(z[1]))


def check_tiling(snap):
    """(a): states, addresses, exact tiling, the live set."""
    p = []
    d = snap.dims
    if d is None:
        return p
    ids = {}
    for a, s in snap.st.items():
        if s["state"] != "active":
            p.append("(a) %s is %s, not active" % (name(s), s["state"]))
        if s["addr"] != a:
            p.append("(a) daemon at %s advertises address %s"
                     % (a, s["addr"]))
        if s["id"] in ids:
            p.append("(a) daemons %s and %s have the same id %s"
                     % (ids[s["id"]], a, s["idhex"]))
        ids[s["id"]] = a
        if not s["zones"]:
            p.append("(a) %s holds no zone" % name(s))
    zones = []
    total = 0
    for s in snap.st.values():
        for z in s["zones"]:
            for i in range(d):
                size = z[1][i] - z[0][i]
                if z[0][i] % size or z[1][i] > canwire.SPACE:
                    p.append("(a) %s holds a non-dyadic zone %s"
                             % (name(s), canwire.fmt_zone(z)))
                    break
            total += canwire.zone_volume(z)
            zones.append((z, s))
    whole = 1 << (32 * d)
    if total != whole and not snap.problems:
        p.append("(a) zones do not tile the space: total volume %d/%d = "
                 "%.9f of the space" % (total, whole, total / whole))
    for i in range(len(zones)):
        zi, si = zones[i]
        for j in range(i + 1, len(zones)):
            zj, sj = zones[j]
            if canwire.zones_overlap(zi, zj):
                p.append("(a) zones overlap: %s of %s and %s of %s"
                         % (canwire.fmt_zone(zi), name(si),
                            canwire.fmt_zone(zj), name(sj)))
    # The live set: every node named anywhere must be an expected daemon.
    expected = set(snap.nodes)
    for s in snap.st.values():
        for n in s["neighbours"]:
            k = (n["id"], n["inc"])
            if k in expected:
                continue
            same_id = [x for x in expected if x[0] == n["id"]]
            why = ("an old incarnation (inc %d; live one has inc %d)"
                   % (n["inc"], same_id[0][1]) if same_id else
                   "not one of the expected live daemons")
            p.append("(a) %s lists neighbour %s which is %s"
                     % (name(s), node_name(n), why))
    return p


def true_neighbours(snap):
    """(id, inc) -> set of (id, inc) adjacent in the global map."""
    keys = list(snap.nodes)
    adj = {k: set() for k in keys}
    for i in range(len(keys)):
        a = snap.nodes[keys[i]]
        for j in range(i + 1, len(keys)):
            b = snap.nodes[keys[j]]
            if any(canwire.zones_adjacent(za, zb)
                   for za in a["zones"] for zb in b["zones"]):
                adj[keys[i]].add(keys[j])
                adj[keys[j]].add(keys[i])
    return adj


def check_neighbours(snap):
    """(b): reported neighbour sets and zone views against the map."""
    p = []
    adj = true_neighbours(snap)
    for k, s in snap.nodes.items():
        listed = {}
        for n in s["neighbours"]:
            nk = (n["id"], n["inc"])
            if nk in listed:
                p.append("(b) %s lists neighbour %s twice"
                         % (name(s), node_name(n)))
            listed[nk] = n
        want = adj[k]
        for nk in sorted(want - set(listed)):
            o = snap.nodes[nk]
            p.append("(b) %s is missing neighbour %s (zones %s)"
                     % (name(s), name(o),
                        " ".join(canwire.fmt_zone(z) for z in o["zones"])))
        for nk in sorted(set(listed) - want):
            if nk not in snap.nodes:
                continue  # reported under (a)
            n = listed[nk]
            p.append("(b) %s lists %s as a neighbour but their zones do "
                     "not abut" % (name(s), node_name(n)))
        for nk in sorted(set(listed) & want):
            n, o = listed[nk], snap.nodes[nk]
            if sorted(map(zone_key, n["zones"])) != \
                    sorted(map(zone_key, o["zones"])):
                p.append("(b) %s has a stale view of %s: zones %s (epoch "
                         "%d) but it holds %s (epoch %d)"
                         % (name(s), name(o),
                            " ".join(canwire.fmt_zone(z)
                                     for z in n["zones"]), n["epoch"],
                            " ".join(canwire.fmt_zone(z)
                                     for z in o["zones"]), o["epoch"]))
    return p


class Owners:
    """Point -> owning node, with buckets on the top bits of two dims."""

    SHIFT = 26  # 64 buckets per dimension

    def __init__(self, snap):
        self.d = snap.dims
        self.bd = min(self.d, 2)
        self.buckets = {}
        for s in snap.nodes.values():
            for z in s["zones"]:
                ranges = [range(z[0][i] >> self.SHIFT,
                                ((z[1][i] - 1) >> self.SHIFT) + 1)
                          for i in range(self.bd)]
                for b0 in ranges[0]:
                    for b1 in (ranges[1] if self.bd > 1 else [0]):
                        self.buckets.setdefault((b0, b1), []).append((z, s))

    def owner(self, p):
        key = (p[0] >> self.SHIFT, p[1] >> self.SHIFT if self.bd > 1 else 0)
        for z, s in self.buckets.get(key, ()):
            if canwire.zone_contains(z, p):
                return s
        return None


def points_for(seed, addr, n, d):
    rng = random.Random(seed * 1000003 + zlib.crc32(addr.encode()))
    return [[rng.getrandbits(32) for _ in range(d)] for _ in range(n)]


def check_routes(snap, npoints, seed, modes):
    """(c): route from every node; returns (problems, stats)."""
    p = []
    owners = Owners(snap)
    stats = {m: [] for m in modes}
    bad = 0
    for a in sorted(snap.st):
        s = snap.st[a]
        pts = points_for(seed, a, npoints, snap.dims)
        for mode in modes:
            try:
                with canwire.Conn(a, 5.0) as c:
                    res = c.routes(pts, nocache=(mode == "nocache"))
            except (OSError, canwire.WireError) as e:
                p.append("(c) routing from %s failed: %s" % (name(s), e))
                continue
            for pt, r in zip(pts, res):
                want = owners.owner(pt)
                why = None
                if isinstance(r, Exception):
                    why = "error: %s" % r
                elif want is None:
                    why = "no node owns the point"
                elif r["owner"]["id"] != want["id"]:
                    why = "reached %016x (%s) with zones %s" % (
                        r["owner"]["id"], r["owner"]["addr"],
                        " ".join(canwire.fmt_zone(z)
                                 for z in r["owner"]["zones"]))
                elif r["hops"] != len(r["path"]) - 1:
                    why = "hop count %d but a path of %d nodes" % (
                        r["hops"], len(r["path"]))
                if why is None:
                    stats[mode].append(r["hops"])
                    continue
                bad += 1
                if bad <= MAX_SHOWN:
                    p.append("(c) route %s from %s to %s: true owner %s; "
                             "%s" % (mode, name(s), ",".join(map(str, pt)),
                                     name(want) if want else "none", why))
    if bad > MAX_SHOWN:
        p.append("(c) ... %d failed routes in all" % bad)
    return p, stats


def summary(snap, stats):
    vols = [sum(canwire.zone_volume(z) for z in s["zones"])
            for s in snap.st.values()]
    ratio = max(vols) / min(vols) if vols and min(vols) else float("inf")
    parts = ["%d nodes, d=%d" % (len(snap.st), snap.dims),
             "max/min volume ratio %g" % ratio]
    total = 0
    for mode, h in stats.items():
        if h:
            hs = sorted(h)
            parts.append("%s mean hops %.2f (p99 %d, max %d)" % (
                mode, sum(h) / len(h), hs[int(0.99 * (len(hs) - 1))],
                hs[-1]))
            total += len(h)
    parts.append("%d routes checked" % total)
    return ", ".join(parts)


def check_once(addrs, npoints, seed, modes, timeout=2.0):
    """One full pass.  Returns (problems, snapshot, stats, phase) where
    phase is 'structure' or 'routes' for the check that failed."""
    snap = Snapshot(addrs, timeout)
    p = list(snap.problems)
    if snap.dims is not None:
        p += check_tiling(snap)
        p += check_neighbours(snap)
    if p:
        return p, snap, {}, "structure"
    snap.structure_ok_at = time.monotonic()
    if npoints <= 0:
        return [], snap, {}, None
    p, stats = check_routes(snap, npoints, seed, modes)
    return p, snap, stats, ("routes" if p else None)


def run(addrs, npoints=1000, seed=1, modes=("cache", "nocache"), wait=0.0,
        timeout=2.0, log=sys.stderr, quiet=False):
    """Check, retrying for up to wait seconds.  Returns (ok, message,
    stats, info) with info = {'structure_s', 'total_s', 'attempts'}."""
    start = time.monotonic()
    deadline = start + wait
    attempts = 0
    structure_s = None
    while True:
        attempts += 1
        p, snap, stats, phase = check_once(addrs, npoints, seed, modes,
                                           timeout)
        now = time.monotonic()
        if phase != "structure" and structure_s is None:
            structure_s = snap.structure_ok_at - start
        info = {"structure_s": structure_s, "total_s": now - start,
                "attempts": attempts}
        if not p:
            return True, summary(snap, stats), stats, info
        if phase == "routes":
            again = Snapshot(addrs, timeout)
            if not again.problems and again.signature() == snap.signature():
                p.insert(0, "routing failed although the map did not "
                            "change while the routes ran (not a "
                            "convergence delay):")
                return False, "\n".join(p), stats, info
            if not quiet:
                print("check_overlay: the map changed while routing; "
                      "retrying", file=log)
        if now >= deadline:
            shown = p[:MAX_SHOWN]
            if len(p) > MAX_SHOWN:
                shown.append("... and %d more problems" % (len(p) -
                                                           MAX_SHOWN))
            return False, "\n".join(shown), stats, info
        time.sleep(0.1)


def main():
    ap = argparse.ArgumentParser(
        description="Check a CAN overlay: tiling, neighbour sets, routing.")
    ap.add_argument("addrs", nargs="+", metavar="ADDR",
                    help="daemons expected alive (HOST:PORT or unix:PATH)")
    ap.add_argument("--points", type=int, default=1000,
                    help="random points routed from every node (default "
                         "1000; 0 skips the routing check)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--mode", choices=["nocache", "cache", "both"],
                    default="both",
                    help="route without the routing cache, with it, or "
                         "both (default both: each point twice)")
    ap.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                    help="retry until the checks pass or time is up")
    ap.add_argument("--timeout", type=float, default=2.0,
                    help="STATUS timeout per daemon in seconds")
    ap.add_argument("--since", type=float, metavar="EPOCH",
                    help="wall-clock time (s since the epoch) of the "
                         "event being healed: report the heal time")
    ap.add_argument("-q", "--quiet", action="store_true")
    args = ap.parse_args()
    # The cached pass first: it then meets entries cached by the previous
    # check, possibly stale (owners that left or died since), which must
    # still end at the true owner.
    modes = ["cache", "nocache"] if args.mode == "both" else [args.mode]
    wall0 = time.time()
    ok, msg, stats, info = run(args.addrs, args.points, args.seed, modes,
                               args.wait, args.timeout, quiet=args.quiet)
    if ok:
        extra = ""
        if args.wait:
            extra = " [converged: structure %.2fs, all checks %.2fs, " \
                    "%d attempt(s)]" % (info["structure_s"],
                                        info["total_s"], info["attempts"])
        print("check_overlay: OK: %s%s" % (msg, extra))
        if args.since is not None:
            print("heal: tables %.0f ms, all checks %.0f ms after the event"
                  % ((wall0 + info["structure_s"] - args.since) * 1000,
                     (wall0 + info["total_s"] - args.since) * 1000))
        return 0
    print("check_overlay: FAILED after %.1fs (%d attempt(s)):"
          % (info["total_s"], info["attempts"]))
    print(msg)
    return 1


if __name__ == "__main__":
    sys.exit(main())
