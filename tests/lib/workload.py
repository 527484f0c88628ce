#!/usr/bin/env python3
"""workload.py: file workloads with a record of what was acknowledged.

  write DIR MANIFEST [--seed S] [--seconds N | --files N] [--max-size B]
      [--stop-file F] [--fsync] [--max-rate B]
      Make files DIR/fNNNNNN of random sizes (most small, some up to
      --max-size) with seeded random content.  A file goes into MANIFEST
      ("name size sha256", one per line, flushed) only after its write and
      close (and fsync, with --fsync) all returned success: the manifest
      is the list of acknowledged files.  A failed file is counted and
      retried under a new name.  --max-rate B (bytes per second, 0: no
      limit) pauses after each file until it has taken size/B seconds:
      the same kinds of files through the same faults, but fewer to read
      back (make test's short runs).

  verify ROOT MANIFEST...
      Read back every file of the manifests under ROOT and compare size
      and sha256.  Exit 1 when any is lost (missing) or corrupt.

  reread ROOT MANIFEST... [--seconds N | --stop-file F]
      Until stopped, keep reading random files already in the manifests
      (a verifying client during the faults).  Read errors are counted
      (unavailability); a wrong byte counts as corrupt and exits 1.

Every command prints one JSON line of counts at the end, with
"max_block_ms", the longest any single file operation took.
"""
import argparse
import hashlib
import json
import os
import random
import sys
import time

MIB = 1 << 20


def pick_size(rng, max_size):
    r = rng.random()
    if r < 0.5:
        return rng.randrange(0, 64 << 10)
    if r < 0.85:
        return rng.randrange(64 << 10, min(MIB, max_size) + 1)
    return rng.randrange(MIB, max(MIB, max_size) + 1)


def content(seed, idx, size):
    return random.Random(seed * 1000003 + idx).randbytes(size)


def stop_now(args, t_end):
    if args.stop_file and os.path.exists(args.stop_file):
        return True
    return t_end is not None and time.monotonic() >= t_end


def pace(args, t_end, t0, size):
    """Sleep until a file of `size` bytes begun at t0 has taken its time
    at --max-rate (no credit saved up while writes were blocked: no burst
    after a fault), waking early for the stop file or the end time."""
    if not args.max_rate:
        return
    due = t0 + size / args.max_rate
    while not stop_now(args, t_end):
        left = due - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(left, 0.2))


def cmd_write(args):
    rng = random.Random(args.seed)
    os.makedirs(args.dir, exist_ok=True)
    t_end = time.monotonic() + args.seconds if args.seconds else None
    stats = dict(written=0, bytes=0, failed=0, errors={}, max_block_ms=0)
    idx = 0
    with open(args.manifest, "a") as man:
        while True:
            if args.files and stats["written"] >= args.files:
                break
            if stop_now(args, t_end):
                break
            idx += 1
            size = pick_size(rng, args.max_size)
            data = content(args.seed, idx, size)
            name = "f%06d" % idx
            path = os.path.join(args.dir, name)
            t0 = time.monotonic()
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                try:
                    view = memoryview(data)
                    while view:
                        n = os.write(fd, view[:MIB])
                        view = view[n:]
                    if args.fsync:
                        os.fsync(fd)
                finally:
                    os.close(fd)
            except OSError as e:
                stats["failed"] += 1
                key = os.strerror(e.errno) if e.errno else str(e)
                stats["errors"][key] = stats["errors"].get(key, 0) + 1
                time.sleep(0.2)
                continue
            finally:
                ms = int((time.monotonic() - t0) * 1000)
                stats["max_block_ms"] = max(stats["max_block_ms"], ms)
            rel = os.path.relpath(path, args.root) if args.root else path
            man.write("%s %d %s\n" % (rel, size, hashlib.sha256(data).hexdigest()))
            man.flush()
            stats["written"] += 1
            stats["bytes"] += size
            pace(args, t_end, t0, size)
    print(json.dumps(stats))
    return 0


def load(manifests):
    files = {}
    for m in manifests:
        try:
            with open(m) as f:
                for line in f:
                    parts = line.split()
                    if len(parts) == 3:
                        files[parts[0]] = (int(parts[1]), parts[2])
        except FileNotFoundError:
            pass
    return files


def check_one(root, rel, size, digest):
    """'ok', 'lost', 'corrupt' or 'error:<text>', and the time taken."""
    t0 = time.monotonic()
    try:
        with open(os.path.join(root, rel), "rb") as f:
            h = hashlib.sha256()
            n = 0
            while True:
                b = f.read(MIB)
                if not b:
                    break
                h.update(b)
                n += len(b)
        res = "ok" if n == size and h.hexdigest() == digest else "corrupt"
    except FileNotFoundError:
        res = "lost"
    except OSError as e:
        res = "error:" + os.strerror(e.errno or 0)
    return res, int((time.monotonic() - t0) * 1000)


def cmd_verify(args):
    files = load(args.manifest)
    stats = dict(checked=0, lost=0, corrupt=0, errors=0, max_block_ms=0)
    for rel, (size, digest) in sorted(files.items()):
        res, ms = check_one(args.root, rel, size, digest)
        stats["checked"] += 1
        stats["max_block_ms"] = max(stats["max_block_ms"], ms)
        if res == "ok":
            continue
        if res.startswith("error:"):
            stats["errors"] += 1
        else:
            stats[res] += 1
        print("%s: %s" % (rel, res), file=sys.stderr)
    print(json.dumps(stats))
    bad = stats["lost"] + stats["corrupt"] + stats["errors"]
    return 1 if bad else 0


def cmd_reread(args):
    t_end = time.monotonic() + args.seconds if args.seconds else None
    rng = random.Random()
    stats = dict(reads=0, corrupt=0, errors=0, max_block_ms=0)
    while not stop_now(args, t_end):
        files = load(args.manifest)
        if not files:
            time.sleep(0.5)
            continue
        for rel in rng.sample(sorted(files), min(20, len(files))):
            size, digest = files[rel]
            res, ms = check_one(args.root, rel, size, digest)
            stats["reads"] += 1
            stats["max_block_ms"] = max(stats["max_block_ms"], ms)
            if res == "corrupt":
                stats["corrupt"] += 1
                print("%s: corrupt" % rel, file=sys.stderr)
            elif res != "ok":
                stats["errors"] += 1
                print("%s: %s" % (rel, res), file=sys.stderr)
            if stop_now(args, t_end):
                break
    print(json.dumps(stats))
    return 1 if stats["corrupt"] else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("write")
    w.add_argument("dir")
    w.add_argument("manifest")
    w.add_argument("--root", help="names in the manifest are relative to it")
    w.add_argument("--seed", type=int, default=1)
    w.add_argument("--seconds", type=float)
    w.add_argument("--files", type=int)
    w.add_argument("--max-size", type=int, default=8 * MIB)
    w.add_argument("--stop-file")
    w.add_argument("--fsync", action="store_true")
    w.add_argument("--max-rate", type=int, default=0,
                   help="bytes per second, 0: no limit")
    v = sub.add_parser("verify")
    v.add_argument("root")
    v.add_argument("manifest", nargs="+")
    r = sub.add_parser("reread")
    r.add_argument("root")
    r.add_argument("manifest", nargs="+")
    r.add_argument("--seconds", type=float)
    r.add_argument("--stop-file")
    args = ap.parse_args()
    return {"write": cmd_write, "verify": cmd_verify, "reread": cmd_reread}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
