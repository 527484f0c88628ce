#!/usr/bin/env python3
"""bench_overlay.py: overlay benchmark behind scripts/bench-overlay.sh.

For every d in --dims and n in --sizes it starts n real canfsd daemons on
loopback addresses (127.X.Y.Z on a free port, heartbeat --heartbeat ms),
lets the overlay converge, then measures:

  * hop counts of --routes random routes without the routing cache
    (nocache flag) and with it (a warm-up pass, then a measured pass of
    fresh points), from a few origin daemons, next to CAN's expected
    (d/4) * n^(1/d); every route is also checked against the true owner;
  * RSS per daemon (VmRSS from /proc, idle): mean and max;
  * join time: a new daemon's start until it reports active, and until the
    tables of the whole overlay are exact (check_overlay structure checks);
  * takeover: after kill -9 of a daemon, the time until the tables are
    exact again, in ms and in heartbeat intervals after the first
    neighbour declared it failed (from the daemons' logs).

All daemons run in their own session and are killed (SIGKILL) in a finally
block, on Ctrl-C and on SIGTERM; their pids are also written to
STATE/pids so the calling shell can clean up if this process dies.
Writes a Markdown report (--out) and prints it.
"""

import argparse
import datetime
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import canwire  # noqa: E402
import check_overlay as co  # noqa: E402


class StartError(Exception):
    """A daemon would not start or become active."""


class ConvergeError(StartError):
    """The overlay's tables did not become exact in time."""


class Cluster:
    """n daemons of one configuration; every process is ours to kill."""

    def __init__(self, canfsd, state, cfg, d, hb, log):
        self.canfsd = canfsd
        self.dir = os.path.join(state, "c%d" % cfg)
        os.makedirs(self.dir)
        self.cfg = cfg
        self.d = d
        self.hb = hb
        self.log = log
        self.procs = {}  # index -> Popen
        self.pidfile = os.path.join(state, "pids")
        self.extra = []
        self.port = free_port()

    def addr(self, i):
        # 127.(40+cfg).(i/200).(i%200+1):PORT, private per configuration.
        return "127.%d.%d.%d:%d" % (40 + self.cfg, i // 200, i % 200 + 1,
                                    self.port)

    def start(self, i, join=None):
        ddir = os.path.join(self.dir, "n%d" % i)
        args = [self.canfsd, "--config", "none", "-f", "-l", self.addr(i),
                "-d", ddir,
                "-s", "none", "-D", str(self.d), "--heartbeat",
                str(self.hb)]
        if join:
            args += ["-j", join]
        args += self.extra
        logf = open(os.path.join(self.dir, "n%d.log" % i), "ab")
        p = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=logf,
                             stderr=logf, start_new_session=True)
        logf.close()
        self.procs[i] = p
        with open(self.pidfile, "a") as f:
            f.write("%d\n" % p.pid)
        return p

    def alive(self):
        return sorted(i for i, p in self.procs.items() if p.poll() is None)

    def addrs(self):
        return [self.addr(i) for i in self.alive()]

    def kill9(self, i):
        p = self.procs[i]
        p.kill()
        p.wait()

    def stop_all(self):
        for p in self.procs.values():
            if p.poll() is None:
                p.kill()
        for p in self.procs.values():
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                pass

    def wait_active(self, i, timeout):
        """Milliseconds from now until daemon i reports active."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if self.procs[i].poll() is not None:
                raise StartError("daemon %s exited (status %s); see its log"
                                 % (self.addr(i), self.procs[i].returncode))
            try:
                if canwire.status(self.addr(i), 0.5)["state"] == "active":
                    return (time.monotonic() - t0) * 1000
            except (OSError, canwire.WireError, canwire.RouteError):
                pass
            time.sleep(0.01)
        raise StartError("daemon %s not active after %ds"
                         % (self.addr(i), timeout))

    def rss_kib(self):
        out = []
        for i in self.alive():
            with open("/proc/%d/status" % self.procs[i].pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        out.append(int(line.split()[1]))
        return out


def free_port():
    """A port in 20000-29999 with no TCP listener on any address."""
    used = set()
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name) as f:
                for line in f.readlines()[1:]:
                    cols = line.split()
                    if cols[3] == "0A":  # LISTEN
                        used.add(int(cols[1].rsplit(":", 1)[1], 16))
        except OSError:
            pass
    rng = random.Random()
    for _ in range(1000):
        p = rng.randrange(20000, 30000)
        if p not in used:
            return p
    return 27410


def wait_tables(addrs, timeout):
    """Wait until the structure checks pass (tiling, live set, neighbour
    sets); returns the monotonic time of the first sweep that passed, or
    raises StartError with the last failure."""
    t0 = time.monotonic()
    ok, msg, _, info = co.run(addrs, npoints=0, wait=timeout, quiet=True)
    if not ok:
        raise ConvergeError("tables not exact after %ds: %s"
                            % (timeout, msg.splitlines()[0]))
    return t0 + info["structure_s"]


def pct(values, q):
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))] if s else float("nan")


def mean(values):
    return sum(values) / len(values) if values else float("nan")


def measure_routes(cl, nroutes, rng, origins=4):
    """Hop counts without and with the cache, checked against the map."""
    addrs = cl.addrs()
    snap = co.Snapshot(addrs)
    owners = co.Owners(snap)
    origin_addrs = rng.sample(addrs, min(origins, len(addrs)))
    per = max(1, nroutes // len(origin_addrs))
    res = {"nocache": [], "cache": [], "bad": 0}

    def pts(k):
        return [[rng.getrandbits(32) for _ in range(cl.d)]
                for _ in range(k)]

    def tally(points, results, key):
        for p, r in zip(points, results):
            want = owners.owner(p)
            if isinstance(r, Exception) or want is None or \
                    r["owner"]["id"] != want["id"]:
                res["bad"] += 1
            elif key:
                res[key].append(r["hops"])

    for a in origin_addrs:
        with canwire.Conn(a, 5.0) as c:
            p = pts(per)
            tally(p, c.routes(p, nocache=True), "nocache")
            warm = pts(1000)
            tally(warm, c.routes(warm, nocache=False), None)
            p = pts(per)
            tally(p, c.routes(p, nocache=False), "cache")
    return res


def log_times(cl, pattern, since_wall):
    """Wall-clock times (epoch s) of log lines matching pattern, at or
    after since_wall, from every daemon's log of this configuration."""
    day = datetime.datetime.fromtimestamp(since_wall).date()
    rx = re.compile(r"^(\d\d):(\d\d):(\d\d)\.(\d{3}) .*" + pattern)
    out = []
    for name in os.listdir(cl.dir):
        if not name.endswith(".log"):
            continue
        with open(os.path.join(cl.dir, name), errors="replace") as f:
            for line in f:
                m = rx.match(line)
                if not m:
                    continue
                h, mi, s, ms = map(int, m.groups())
                t = datetime.datetime.combine(day, datetime.time(
                    h, mi, s, ms * 1000)).timestamp()
                if t >= since_wall - 0.001:
                    out.append(t)
    return sorted(out)


def bench_one(args, state, cfg, d, n, rng, say):
    row = {"d": d, "n": n, "can": (d / 4.0) * n ** (1.0 / d)}
    cl = Cluster(args.canfsd, state, cfg, d, args.heartbeat, say)
    cl.extra = args.extra.split()
    phase = "start"
    try:
        # Start: node 0 founds, the rest join in batches through random
        # active nodes.
        t0 = time.monotonic()
        cl.start(0)
        cl.wait_active(0, 10)
        i = 1
        while i < n:
            batch = list(range(i, min(n, i + max(1, min(16, i)))))
            act = cl.alive()
            for j in batch:
                cl.start(j, cl.addr(rng.choice(act)))
            for j in batch:
                cl.wait_active(j, 30)
            i = batch[-1] + 1
        row["start_s"] = time.monotonic() - t0
        row["converge_s"] = wait_tables(cl.addrs(), 30 + n // 8) - \
            t0 - row["start_s"]
        say("  d=%d n=%d: %d daemons active in %.1fs, tables exact after "
            "%.1fs more" % (d, n, n, row["start_s"], row["converge_s"]))
        phase = "run"

        # Idle RSS, after a few quiet heartbeats.
        time.sleep(2 * args.heartbeat / 1000)
        rss = cl.rss_kib()
        row["rss_mean"], row["rss_max"] = mean(rss), max(rss)

        r = measure_routes(cl, args.routes, rng)
        row.update(nc_mean=mean(r["nocache"]), nc_p99=pct(r["nocache"], .99),
                   c_mean=mean(r["cache"]), c_p99=pct(r["cache"], .99),
                   bad=r["bad"], nroutes=len(r["nocache"]) +
                   len(r["cache"]))
        say("  routes: nocache mean %.2f p99 %s, cache mean %.2f p99 %s, "
            "%d wrong" % (row["nc_mean"], row["nc_p99"], row["c_mean"],
                          row["c_p99"], r["bad"]))

        # Joins.
        joins, joins_t = [], []
        for k in range(args.joins):
            j = n + k
            via = cl.addr(rng.choice(cl.alive()))
            t = time.monotonic()
            cl.start(j, via)
            joins.append(cl.wait_active(j, 30))
            joins_t.append((wait_tables(cl.addrs(), 30) - t) * 1000)
        row["join_ms"], row["join_tables_ms"] = mean(joins), mean(joins_t)
        say("  join: active after %.0f ms, tables exact after %.0f ms"
            % (row["join_ms"], row["join_tables_ms"]))

        # Takeovers after kill -9.
        heals, dets, ivals = [], [], []
        for k in range(args.kills):
            wait_tables(cl.addrs(), 30)
            victim = rng.choice(cl.alive()[1:])
            wall = time.time()
            t = time.monotonic()
            cl.kill9(victim)
            heal = (wait_tables(cl.addrs(), 30) - t) * 1000
            det = log_times(cl, r"failed; takeover rank", wall)
            det_ms = (det[0] - wall) * 1000 if det else float("nan")
            heals.append(heal)
            dets.append(det_ms)
            ivals.append((heal - det_ms) / args.heartbeat)
            say("  kill -9 %s: first detection %.0f ms, tables exact %.0f "
                "ms (%.1f intervals after detection)"
                % (cl.addr(victim), det_ms, heal, ivals[-1]))
        row["heal_ms"], row["det_ms"] = mean(heals), mean(dets)
        row["heal_iv"] = mean(ivals)
        # A last correctness pass on the healed overlay.
        ok, msg, _, _ = co.run(cl.addrs(), npoints=50, wait=30,
                               modes=("nocache", "cache"), quiet=True)
        row["final"] = "ok" if ok else "FAILED: " + msg.splitlines()[0]
        if not ok:
            say("  final check failed: %s" % msg)
    except StartError as e:
        if phase == "start" and isinstance(e, ConvergeError):
            row["skip"] = "all daemons active but never converged: %s" % e
        elif phase == "start":
            row["skip"] = "could not start: %s" % e
        else:
            row["final"] = "FAILED: %s" % e
        say("  d=%d n=%d: %s" % (d, n, row.get("skip", row.get("final"))))
    finally:
        cl.stop_all()
    if "skip" in row or row.get("final") != "ok":
        keep = os.path.join(args.root, "tests", "results",
                            "bench-overlay-logs", "d%d-n%d" % (d, n))
        shutil.rmtree(keep, ignore_errors=True)
        os.makedirs(keep)
        for name in os.listdir(cl.dir):
            if name.endswith(".log"):
                shutil.copy(os.path.join(cl.dir, name), keep)
        say("  daemon logs kept in %s" % os.path.relpath(keep, args.root))
    return row


def fmt(v, spec="%.2f"):
    if v is None or (isinstance(v, float) and v != v):
        return "-"
    return spec % v


def report(rows, args, started):
    rev = subprocess.run(["git", "-C", args.root, "rev-parse", "--short",
                          "HEAD"], capture_output=True, text=True)
    lines = [
        "# Overlay benchmark",
        "",
        "%s, git %s%s, %d CPUs, heartbeat %d ms (fail after 3), %d routes "
        "per mode, %d join(s) and %d kill(s) per size; %.0f s in all." % (
            time.strftime("%Y-%m-%d %H:%M"), rev.stdout.strip() or "?",
            "+dirty" if subprocess.run(
                ["git", "-C", args.root, "diff", "--quiet", "HEAD"]
            ).returncode else "", os.cpu_count(), args.heartbeat,
            args.routes, args.joins, args.kills, time.time() - started),
        "",
        "| d | n | CAN (d/4)n^(1/d) | hops no cache: mean | p99 | "
        "hops cached: mean | p99 | wrong routes | RSS mean | RSS max | "
        "join: active | join: tables exact | kill -9: detected | "
        "kill -9: tables exact | intervals after detection | final check |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "skip" in r:
            lines.append("| %d | %d | %.2f | skipped, %s |||||||||||||" % (
                r["d"], r["n"], r["can"], r["skip"].replace("|", "/")))
            continue
        for k in ("nc_mean", "nc_p99", "c_mean", "c_p99", "rss_mean",
                  "rss_max", "join_ms", "join_tables_ms", "det_ms",
                  "heal_ms", "heal_iv"):
            r.setdefault(k, None)
        r.setdefault("bad", 0)
        lines.append(
            "| %d | %d | %.2f | %s | %s | %s | %s | %d | %s MiB | %s MiB "
            "| %s ms | %s ms | %s ms | %s ms | %s | %s |" % (
                r["d"], r["n"], r["can"], fmt(r["nc_mean"]),
                fmt(r["nc_p99"], "%d"), fmt(r["c_mean"]),
                fmt(r["c_p99"], "%d"), r["bad"],
                fmt(r["rss_mean"] and r["rss_mean"] / 1024, "%.1f"),
                fmt(r["rss_max"] and r["rss_max"] / 1024, "%.1f"),
                fmt(r["join_ms"], "%.0f"),
                fmt(r["join_tables_ms"], "%.0f"), fmt(r["det_ms"], "%.0f"),
                fmt(r["heal_ms"], "%.0f"), fmt(r["heal_iv"], "%.1f"),
                r["final"].replace("|", "/")))
    lines += [
        "",
        "Hops count overlay messages from the origin daemon to the owner "
        "(0 when the origin owns the point).  Cached: each origin first "
        "routes 1,000 warm-up points, then the measured fresh points; a "
        "cached route is 1 hop when the cache knows the owner.  "
        "\"Wrong routes\" counts routes (warm-up included) that failed or "
        "reached a node other than the true owner.  Join: from starting "
        "the process to STATUS active, and until every node's tables are "
        "exact.  Kill -9: first \"failed\" log line of a neighbour, and "
        "until tiling, live set and all neighbour sets are exact again "
        "(polled; resolution about one STATUS sweep of all daemons).",
        "",
    ]
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--canfsd", required=True)
    ap.add_argument("--root", default=".")
    ap.add_argument("--state", help="work dir (default: a temp dir)")
    ap.add_argument("--dims", default="2,3,4")
    ap.add_argument("--sizes", default="16,64,256")
    ap.add_argument("--heartbeat", type=int, default=1000)
    ap.add_argument("--routes", type=int, default=1000)
    ap.add_argument("--joins", type=int, default=2)
    ap.add_argument("--kills", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default="tests/results/bench-overlay.md")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--extra", default="",
                    help="more canfsd options for every daemon")
    args = ap.parse_args()
    state = args.state or tempfile.mkdtemp(prefix="canfs-bench.")
    os.makedirs(state, exist_ok=True)

    def on_term(sig, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    rng = random.Random(args.seed)
    rows = []
    started = time.time()

    def say(msg):
        print(msg, flush=True)

    try:
        cfg = 0
        for d in [int(x) for x in args.dims.split(",")]:
            for n in [int(x) for x in args.sizes.split(",")]:
                say("== d=%d, n=%d" % (d, n))
                rows.append(bench_one(args, state, cfg, d, n, rng, say))
                cfg += 1
    except KeyboardInterrupt:
        say("interrupted; daemons stopped")
        return 130
    finally:
        if not args.keep and not args.state:
            shutil.rmtree(state, ignore_errors=True)
    text = report(rows, args, started)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        f.write(text)
    print()
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
