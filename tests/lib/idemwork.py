#!/usr/bin/env python3
"""idemwork.py: file operations whose every outcome is known in advance.

  run ROOT --dirs D1[,D2] --prefix P --model OUT [--seed S]
      [--seconds N | --stop-file F] [--max-names N] [--max-size B]
      Until stopped: create files (O_EXCL, seeded content, close), rewrite
      them, rename them within a directory and across D1/D2, hard-link
      them, unlink them, and read some back, all under ROOT/D1 and ROOT/D2
      (relative paths), with names P00001, P00002, ... that no one else
      uses.  Every name is fresh, so every operation has exactly one right
      outcome: success.  Any error at all (ENOENT from an unlink of a file
      this worker created, EEXIST, EIO, a wrong byte read back) is
      recorded as unexpected, on stderr with the operation and how long it
      took, and the names it touched leave the model (as "uncertain").
      The model (every live name, its content's sha256 and size, its link
      count; every name that was removed or renamed away; the uncertain
      ones) is written to OUT at the end.  Prints one JSON line: ops per
      kind, errors (count and per kind), names, max_op_ms, slow_ops (the
      kinds of those that took over 4 s, and whether they failed).  Exit 0 even with errors (the scenario decides).

  check MNT... --model M...
      Compare each mount's listing of the models' directories with every
      model, exactly: a live name missing (lost), a name that is not in
      the model (resurrected if it was removed or renamed away before,
      extra otherwise), a name listed twice (duplicated), a file whose
      bytes differ (corrupt), whose st_nlink is not the model's (nlink),
      or whose inode differs from its hard links' or between the mounts.
      Names of the other workers are checked by their own model; names
      with no model's prefix are extra.  The names the workers' errors
      left uncertain are listed (listed or absent) on stderr, for the
      record.  Prints one JSON line of counts,
      the problems on stderr; exit 1 on any.
"""
import argparse
import collections
import errno
import hashlib
import json
import os
import random
import stat
import sys
import time

MAX_SIZE = 64 << 10


def ename(e):
    return errno.errorcode.get(e, str(e))


class Worker:
    def __init__(self, args):
        self.args = args
        self.root = args.root
        self.dirs = args.dirs.split(",")
        self.rng = random.Random(args.seed)
        self.seq = 0
        self.names = {}		# rel -> group id
        self.groups = {}	# gid -> {"sha", "size", "names": set}
        self.gone = set()	# names removed or renamed away
        self.uncertain = set()
        self.ops = collections.Counter()
        self.errors = []
        self.max_ms = 0
        self.slow = collections.Counter()	# kinds of operations over 4 s
        self.gid = 0

    def path(self, rel):
        return os.path.join(self.root, rel)

    def fresh(self, d=None):
        self.seq += 1
        d = d or self.rng.choice(self.dirs)
        return "%s/%s%05d" % (d, self.args.prefix, self.seq)

    def data(self):
        n = self.rng.choice((0, self.rng.randrange(1, 4096),
                             self.rng.randrange(4096, self.args.max_size + 1)))
        return self.rng.randbytes(n)

    def forget(self, rels):
        """The names an operation that failed touched: out of the model,
        with their hard links (whose link count is now unknown too)."""
        for rel in rels:
            gid = self.names.get(rel)
            if gid is not None:
                for other in list(self.groups[gid]["names"]):
                    self.names.pop(other, None)
                    self.uncertain.add(other)
                del self.groups[gid]
            self.uncertain.add(rel)

    def do(self, kind, rels, fn):
        """Run fn(); True on success.  Errors are recorded."""
        t0 = time.monotonic()
        err = None
        try:
            fn()
        except OSError as e:
            err = e
        ms = int((time.monotonic() - t0) * 1000)
        self.ops[kind] += 1
        self.max_ms = max(self.max_ms, ms)
        if ms > 4000:
            self.slow[kind + (" failed" if err else "")] += 1
        if err is None:
            return True
        what = "%s %s" % (kind, ename(err.errno) if err.errno else str(err))
        self.errors.append(what)
        print("%s %s: %s after %d ms" % (kind, " -> ".join(rels),
              ename(err.errno) if err.errno else err, ms), file=sys.stderr)
        self.forget(rels)
        return False

    def wrong(self, kind, rel, text):
        self.errors.append("%s %s" % (kind, text))
        print("%s %s: %s" % (kind, rel, text), file=sys.stderr)
        self.forget([rel])

    # ---- the operations

    def op_create(self):
        rel = self.fresh()
        data = self.data()

        def fn():
            fd = os.open(self.path(rel), os.O_WRONLY | os.O_CREAT | os.O_EXCL,
                         0o644)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
            finally:
                os.close(fd)
        if self.do("create", [rel], fn):
            self.gid += 1
            self.groups[self.gid] = {"sha": hashlib.sha256(data).hexdigest(),
                                     "size": len(data), "names": {rel}}
            self.names[rel] = self.gid

    def op_rewrite(self, rel):
        data = self.data()

        def fn():
            fd = os.open(self.path(rel), os.O_WRONLY | os.O_TRUNC)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
            finally:
                os.close(fd)
        if self.do("rewrite", [rel], fn):
            g = self.groups[self.names[rel]]
            g["sha"] = hashlib.sha256(data).hexdigest()
            g["size"] = len(data)

    def op_rename(self, rel, cross):
        d = rel.split("/")[0]
        if cross:
            d = self.rng.choice([x for x in self.dirs if x != d])
        new = self.fresh(d)
        if self.do("move" if cross else "rename", [rel, new],
                   lambda: os.rename(self.path(rel), self.path(new))):
            gid = self.names.pop(rel)
            self.names[new] = gid
            self.groups[gid]["names"].discard(rel)
            self.groups[gid]["names"].add(new)
            self.gone.add(rel)

    def op_link(self, rel):
        new = self.fresh()
        if self.do("link", [rel, new],
                   lambda: os.link(self.path(rel), self.path(new))):
            gid = self.names[rel]
            self.names[new] = gid
            self.groups[gid]["names"].add(new)

    def op_unlink(self, rel):
        if self.do("unlink", [rel], lambda: os.unlink(self.path(rel))):
            gid = self.names.pop(rel)
            self.groups[gid]["names"].discard(rel)
            if not self.groups[gid]["names"]:
                del self.groups[gid]
            self.gone.add(rel)

    def op_read(self, rel):
        out = []

        def fn():
            with open(self.path(rel), "rb") as f:
                out.append(f.read())
        if self.do("read", [rel], fn):
            g = self.groups[self.names[rel]]
            if hashlib.sha256(out[0]).hexdigest() != g["sha"]:
                self.wrong("read", rel, "%d bytes, not the %d written" % (
                    len(out[0]), g["size"]))

    def step(self):
        live = sorted(self.names)
        if not live:
            return self.op_create()
        rel = self.rng.choice(live)
        w = {"create": 25, "rewrite": 5, "rename": 15, "move": 8,
             "link": 12, "unlink": 30, "read": 5}
        if len(self.dirs) < 2:
            w["move"] = 0
        if len(live) > self.args.max_names:
            w["create"] = 5
        elif len(live) < self.args.max_names // 2:
            w["unlink"] = 10
        if len(self.groups[self.names[rel]]["names"]) > 2:
            w["link"] = 0
        kinds = list(w)
        kind = self.rng.choices(kinds, weights=[w[k] for k in kinds])[0]
        if kind == "create":
            self.op_create()
        elif kind == "rewrite":
            self.op_rewrite(rel)
        elif kind == "rename":
            self.op_rename(rel, False)
        elif kind == "move":
            self.op_rename(rel, True)
        elif kind == "link":
            self.op_link(rel)
        elif kind == "unlink":
            self.op_unlink(rel)
        else:
            self.op_read(rel)

    def model(self):
        return {
            "prefix": self.args.prefix, "dirs": self.dirs,
            "names": {rel: gid for rel, gid in sorted(self.names.items())},
            "groups": {str(gid): {"sha": g["sha"], "size": g["size"],
                                  "nlink": len(g["names"])}
                       for gid, g in self.groups.items()},
            "gone": sorted(self.gone - set(self.names)),
            "uncertain": sorted(self.uncertain),
        }


def cmd_run(args):
    w = Worker(args)
    t_end = time.monotonic() + args.seconds if args.seconds else None
    while True:
        if args.stop_file and os.path.exists(args.stop_file):
            break
        if t_end is not None and time.monotonic() >= t_end:
            break
        w.step()
    with open(args.model, "w") as f:
        json.dump(w.model(), f)
    kinds = collections.Counter(w.errors)
    print(json.dumps({
        "ops": sum(w.ops.values()), "by_op": dict(w.ops),
        "errors": len(w.errors), "error_kinds": dict(kinds),
        "names": len(w.names), "uncertain": len(w.uncertain),
        "max_op_ms": w.max_ms, "slow_ops": dict(w.slow)}))
    return 0


def sha_of(path):
    h = hashlib.sha256()
    n = 0
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            h.update(b)
            n += len(b)
    return h.hexdigest(), n


def cmd_check(args):
    models = []
    for m in args.model:
        with open(m) as f:
            models.append(json.load(f))
    dirs = sorted({d for m in models for d in m["dirs"]})
    c = collections.Counter()
    problems = []

    def bad(kind, text):
        c[kind] += 1
        problems.append("%s: %s" % (kind, text))

    inos = {}	# rel -> {mount: ino}
    for mnt in args.mnt:
        listed = {}
        for d in dirs:
            try:
                ents = os.listdir(os.path.join(mnt, d))
            except OSError as e:
                bad("lost", "%s: cannot list %s: %s" % (mnt, d, e))
                continue
            c["entries"] += len(ents)
            for name, n in collections.Counter(ents).items():
                if n > 1:
                    bad("duplicated", "%s: %s/%s listed %d times"
                        % (mnt, d, name, n))
            for name in ents:
                listed["%s/%s" % (d, name)] = True
        for m in models:
            want = set(m["names"])
            have = {rel for rel in listed
                    if rel.split("/", 1)[1].startswith(m["prefix"])}
            unc = set(m["uncertain"])
            gone = set(m["gone"])
            for rel in sorted(want - have):
                bad("lost", "%s: %s is missing" % (mnt, rel))
            for rel in sorted(have - want - unc):
                if rel in gone:
                    bad("resurrected", "%s: %s is listed, but it was "
                        "removed or renamed away" % (mnt, rel))
                else:
                    bad("extra", "%s: %s is listed, but was never made "
                        "under that name" % (mnt, rel))
            group_ino = {}
            for rel in sorted(want & have):
                g = m["groups"][str(m["names"][rel])]
                p = os.path.join(mnt, rel)
                try:
                    st = os.lstat(p)
                    sha, n = sha_of(p)
                except OSError as e:
                    bad("corrupt", "%s: %s: %s" % (mnt, rel, e))
                    continue
                c["files"] += 1
                if not stat.S_ISREG(st.st_mode):
                    bad("corrupt", "%s: %s is not a regular file" % (mnt, rel))
                if sha != g["sha"] or n != g["size"]:
                    bad("corrupt", "%s: %s has %d bytes (sha %s...), "
                        "written %d (sha %s...)" % (mnt, rel, n, sha[:12],
                                                   g["size"], g["sha"][:12]))
                if st.st_nlink != g["nlink"]:
                    bad("nlink", "%s: %s has st_nlink %d, want %d"
                        % (mnt, rel, st.st_nlink, g["nlink"]))
                gid = m["names"][rel]
                if group_ino.setdefault(gid, st.st_ino) != st.st_ino:
                    bad("corrupt", "%s: %s is inode %d, its hard link's is "
                        "%d" % (mnt, rel, st.st_ino, group_ino[gid]))
                inos.setdefault(rel, {})[mnt] = st.st_ino
            for rel in sorted(unc):
                print("%s: uncertain %s is %s" % (mnt, rel, "listed" if rel
                      in listed else "absent"), file=sys.stderr)
        prefixes = tuple(m["prefix"] for m in models)
        for rel in sorted(listed):
            if not rel.split("/", 1)[1].startswith(prefixes):
                bad("extra", "%s: %s belongs to no worker" % (mnt, rel))
    for rel, per in sorted(inos.items()):
        if len(set(per.values())) > 1:
            bad("corrupt", "%s: inode numbers differ between the mounts: %s"
                % (rel, per))
    out = {k: c[k] for k in ("files", "entries", "lost", "resurrected",
                             "extra", "duplicated", "corrupt", "nlink")}
    out["uncertain"] = sum(len(m["uncertain"]) for m in models)
    out["names"] = sum(len(m["names"]) for m in models)
    for p in problems[:60]:
        print(p, file=sys.stderr)
    if len(problems) > 60:
        print("... %d more" % (len(problems) - 60), file=sys.stderr)
    print(json.dumps(out))
    return 1 if problems else 0


def main():
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("root")
    r.add_argument("--dirs", required=True)
    r.add_argument("--prefix", required=True)
    r.add_argument("--model", required=True)
    r.add_argument("--seed", type=int, default=1)
    r.add_argument("--seconds", type=float)
    r.add_argument("--stop-file")
    r.add_argument("--max-names", type=int, default=60)
    r.add_argument("--max-size", type=int, default=MAX_SIZE)
    c = sub.add_parser("check")
    c.add_argument("mnt", nargs="+")
    c.add_argument("--model", action="append", required=True)
    args = ap.parse_args()
    return {"run": cmd_run, "check": cmd_check}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
