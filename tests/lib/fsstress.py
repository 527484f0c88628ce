#!/usr/bin/env python3
"""fsstress.py: random filesystem operations and a tree consistency check.

  run ROOT --seed S --seconds N --worker NAME [--stop-file F]
      Random operations for N seconds (or until F exists): create, write
      (at random offsets, holes included), append, truncate, rename
      (replacing files and empty directories, into subdirectories), link,
      unlink, mkdir, rmdir, symlink, chmod, and reads and stats that are
      checked on the way.

      ROOT/NAME is private to this worker: it keeps an exact model of it
      (names, types, contents, modes, hard links, symlink targets), knows
      the outcome of every operation in advance (including the errors:
      EISDIR, ENOTEMPTY, EINVAL for a directory moved into itself...) and
      at the end compares the whole subtree with the model.  ROOT/shared
      is where every worker operates on one small pool of names, so that
      real conflicts happen: errors there (ENOENT, EEXIST, ENOTEMPTY, ...)
      are expected and only counted (so is ESTALE: see SHARED_OK); EIO
      and the like are not.  Directory
      renames in ROOT/shared keep a directory at its depth (a level-1
      directory holds names t0..t3, a level-2 one only files u0..u2), so
      two machines cannot move two directories into each other.

      Prints one JSON line: ops per kind, errors per errno (private and
      shared), max_op_ms (the longest single operation; slowest: per
      kind), mismatches (model differences, listed on stderr), unexpected
      (errors the model did not predict, or EIO-like errors in
      ROOT/shared).  Exit 1 when either is
      not zero.

  check MNT_A MNT_B
      Walk the whole tree from both mounts (lstat) and compare: the same
      names, types, sizes, modes, symlink targets and inode numbers; every
      regular file fully readable, with the same bytes (sha256) from both;
      the st_nlink of a file (or symlink) equals the number of its names in
      the tree, a directory's is 2 + its subdirectories.  Prints one JSON line of
      counts (lost: names seen from one mount only or that vanished,
      corrupt: anything else wrong) and the first differences; exit 1 on
      any problem.
"""
import argparse
import errno
import hashlib
import json
import os
import random
import stat
import sys
import time

KIB = 1 << 10
MIB = 1 << 20
MAX_SIZE = 2 * MIB		# largest file
MAX_ENTRIES = 160		# private names, beyond which removal is favoured
MAX_BYTES = 48 * MIB		# private data, beyond which shrinking is favoured

# Errors that conflicts in the shared subtree may legitimately produce
# (ELOOP: a symlink to itself; EPERM: a hard link to a directory).
#
# ESTALE too, counted apart by the scenario.  Path operations get it when
# the inode a name led to vanished (removed or replaced by the other
# machine) and the kernel's one retry (LOOKUP_REVAL) lost the same race
# again: canfs asks for it (ops_stale, and create after EEXIST), as NFS
# does.  And rename gets it from the kernel alone, without asking canfs,
# when the new name's directory was moved by the other machine while this
# mount still has a dentry for it at its old place: __d_unalias only
# trylocks s_vfs_rename_mutex, which the rename itself holds, and the
# retry meets the same alias.  The tree stays consistent either way.
SHARED_OK = {errno.ENOENT, errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR,
             errno.EISDIR, errno.EINVAL, errno.ELOOP, errno.ESTALE}
SHARED_OK_KIND = {"link": {errno.EPERM}}


def ename(e):
    return errno.errorcode.get(e, str(e))


def bump(d, k, n=1):
    d[k] = d.get(k, 0) + n


# ------------------------------------------------------------------ model

class MNode:
    """A model inode: a file ('f', data), a directory ('d') or a symlink
    ('l', target).  Hard links are several paths to one MNode."""
    __slots__ = ("kind", "data", "mode", "target")

    def __init__(self, kind, mode, data=None, target=None):
        self.kind = kind
        self.mode = mode
        self.data = data
        self.target = target


class Model:
    """The expected private subtree: path (relative, '' is the top) ->
    MNode."""

    def __init__(self):
        self.paths = {"": MNode("d", 0o755)}

    def children(self, d):
        pre = d + "/" if d else ""
        return [p for p in self.paths
                if p.startswith(pre) and p != d and "/" not in p[len(pre):]]

    def dirs(self):
        return [p for p, n in self.paths.items() if n.kind == "d"]

    def of_kind(self, kinds):
        return [p for p, n in self.paths.items() if n.kind in kinds and p]

    def nlink(self, node):
        return sum(1 for n in self.paths.values() if n is node)

    def data_bytes(self):
        seen, total = set(), 0
        for n in self.paths.values():
            if n.kind == "f" and id(n) not in seen:
                seen.add(id(n))
                total += len(n.data)
        return total

    def under(self, p, d):
        """p is d or inside d."""
        return p == d or p.startswith(d + "/")

    def move(self, src, dst):
        """Rename src to dst (dst already cleared)."""
        moved = {}
        for p in list(self.paths):
            if self.under(p, src):
                moved[dst + p[len(src):]] = self.paths.pop(p)
        self.paths.update(moved)


def parent(p):
    return p.rsplit("/", 1)[0] if "/" in p else ""


def join(d, name):
    return d + "/" + name if d else name


# ------------------------------------------------------------------ worker

class Worker:
    def __init__(self, args):
        self.root = args.root
        self.name = args.worker
        self.top = os.path.join(self.root, self.name)
        self.shared = os.path.join(self.root, "shared")
        self.rng = random.Random(args.seed)
        self.model = Model()
        self.serial = 0
        self.stats = dict(worker=self.name, seed=args.seed, ops=0, kinds={},
                          errors={}, shared_ops=0, shared_kinds={},
                          shared_errors={}, max_op_ms=0, slowest={}, mismatches=0,
                          unexpected=0, missing=0, wrong=0)
        self.t_op = 0.0

    # -- bookkeeping

    def complain(self, what, counter="mismatches"):
        self.stats[counter] += 1
        print("%s: %s" % (self.name, what), file=sys.stderr)

    def new_name(self, prefix):
        self.serial += 1
        return "%s%d" % (prefix, self.serial)

    def real(self, p):
        return os.path.join(self.top, p) if p else self.top

    def timed(self, kind, fn):
        t0 = time.monotonic()
        try:
            return fn()
        finally:
            ms = int((time.monotonic() - t0) * 1000)
            self.stats["max_op_ms"] = max(self.stats["max_op_ms"], ms)
            slow = self.stats["slowest"]
            slow[kind] = max(slow.get(kind, 0), ms)

    def content(self, n):
        return self.rng.randbytes(n)

    def pick_size(self, limit=MAX_SIZE):
        r = self.rng.random()
        if r < 0.55:
            n = self.rng.randrange(0, 16 * KIB)
        elif r < 0.9:
            n = self.rng.randrange(16 * KIB, 256 * KIB)
        else:
            n = self.rng.randrange(256 * KIB, MAX_SIZE + 1)
        return min(n, limit)

    # -- private operations: each predicts its outcome from the model.
    # expect(kind, fn, errno_or_None): run fn, compare with the prediction.

    def expect(self, kind, fn, want):
        bump(self.stats["kinds"], kind)
        self.stats["ops"] += 1
        try:
            self.timed(kind, fn)
            got = None
        except OSError as e:
            got = e.errno
            bump(self.stats["errors"], ename(e.errno))
        if got != want:
            self.complain("%s: expected %s, got %s" % (
                kind, "success" if want is None else ename(want),
                "success" if got is None else ename(got)), "unexpected")
            return False
        return got is None

    def p_create(self):
        d = self.rng.choice(self.model.dirs())
        p = join(d, self.new_name("f"))
        mode = self.rng.choice([0o644, 0o600, 0o755, 0o640, 0o444])
        data = self.content(self.pick_size())

        def fn():
            fd = os.open(self.real(p), os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
            try:
                write_all(fd, data, 0)
            finally:
                os.close(fd)
        if self.expect("create", fn, None):
            self.model.paths[p] = MNode("f", mode, bytearray(data))

    def p_write(self, append=False):
        files = self.model.of_kind("f")
        if not files:
            return self.p_create()
        p = self.rng.choice(files)
        node = self.model.paths[p]
        size = len(node.data)
        if append:
            off = size
        elif self.rng.random() < 0.2:
            off = self.rng.randrange(0, min(size + 512 * KIB, MAX_SIZE) + 1)
        else:
            off = self.rng.randrange(0, size + 1)
        n = min(self.pick_size(512 * KIB), MAX_SIZE - off)
        data = self.content(max(n, 0))

        def fn():
            flags = os.O_WRONLY | (os.O_APPEND if append else 0)
            fd = os.open(self.real(p), flags)
            try:
                write_all(fd, data, None if append else off)
            finally:
                os.close(fd)
        if self.expect("append" if append else "write", fn, None):
            buf = node.data
            if off > len(buf) and data:	# an empty write extends nothing
                buf.extend(bytes(off - len(buf)))
            buf[off:off + len(data)] = data

    def p_truncate(self):
        files = self.model.of_kind("f")
        if not files:
            return self.p_create()
        p = self.rng.choice(files)
        node = self.model.paths[p]
        r = self.rng.random()
        if r < 0.3:
            size = 0
        elif r < 0.7:
            size = self.rng.randrange(0, len(node.data) + 1)
        else:
            size = self.rng.randrange(0, MAX_SIZE + 1)
        if self.expect("truncate", lambda: os.truncate(self.real(p), size), None):
            if size < len(node.data):
                del node.data[size:]
            else:
                node.data.extend(bytes(size - len(node.data)))

    def p_rename(self):
        srcs = self.model.of_kind("fdl")
        if not srcs:
            return self.p_create()
        src = self.rng.choice(srcs)
        sn = self.model.paths[src]
        d = self.rng.choice(self.model.dirs())
        # An existing name of the destination directory sometimes.
        kids = self.model.children(d)
        if kids and self.rng.random() < 0.4:
            dst = self.rng.choice(kids)
        else:
            dst = join(d, self.new_name("r"))
        tn = self.model.paths.get(dst)
        want = None
        if sn.kind == "d" and self.model.under(d, src):
            want = errno.EINVAL		# into itself
        elif tn is not None and self.model.under(src, dst):
            want = errno.ENOTEMPTY	# over its own ancestor
        elif tn is not None and tn is sn:
            want = None			# links of one inode: nothing happens
        elif tn is not None and sn.kind == "d" and tn.kind != "d":
            want = errno.ENOTDIR
        elif tn is not None and sn.kind != "d" and tn.kind == "d":
            want = errno.EISDIR
        elif tn is not None and tn.kind == "d" and self.model.children(dst):
            want = errno.ENOTEMPTY
        if dst == src:
            want = None
        if not self.expect("rename", lambda: os.rename(self.real(src), self.real(dst)), want):
            return
        if tn is sn:
            return
        for p in list(self.model.paths):
            if self.model.under(p, dst):
                del self.model.paths[p]
        self.model.move(src, dst)

    def p_link(self):
        files = self.model.of_kind("f")
        if not files:
            return self.p_create()
        p = self.rng.choice(files)
        q = join(self.rng.choice(self.model.dirs()), self.new_name("h"))
        if self.expect("link", lambda: os.link(self.real(p), self.real(q)), None):
            self.model.paths[q] = self.model.paths[p]

    def p_unlink(self):
        cands = self.model.of_kind("fl")
        if not cands:
            return self.p_create()
        p = self.rng.choice(cands)
        if self.expect("unlink", lambda: os.unlink(self.real(p)), None):
            del self.model.paths[p]

    def p_mkdir(self):
        d = self.rng.choice(self.model.dirs())
        if d.count("/") >= 4:
            d = ""
        p = join(d, self.new_name("d"))
        mode = self.rng.choice([0o755, 0o700, 0o750, 0o775])
        if self.expect("mkdir", lambda: os.mkdir(self.real(p), mode), None):
            self.model.paths[p] = MNode("d", mode)

    def p_rmdir(self):
        dirs = [d for d in self.model.dirs() if d]
        if not dirs:
            return self.p_mkdir()
        # Mostly empty ones, sometimes a full one (ENOTEMPTY).
        empty = [d for d in dirs if not self.model.children(d)]
        if empty and self.rng.random() < 0.8:
            p = self.rng.choice(empty)
        else:
            p = self.rng.choice(dirs)
        want = errno.ENOTEMPTY if self.model.children(p) else None
        if self.expect("rmdir", lambda: os.rmdir(self.real(p)), want):
            del self.model.paths[p]

    def p_symlink(self):
        d = self.rng.choice(self.model.dirs())
        p = join(d, self.new_name("l"))
        target = self.rng.choice([
            "../" * self.rng.randrange(3) + self.new_name("t"),
            "/nonexistent/" + "x" * self.rng.randrange(1, 200),
            self.rng.choice(list(self.model.paths) or ["."]) or ".",
        ])
        if self.expect("symlink", lambda: os.symlink(target, self.real(p)), None):
            self.model.paths[p] = MNode("l", 0o777, target=target)

    def p_chmod(self):
        cands = self.model.of_kind("fd")
        if not cands:
            return self.p_create()
        p = self.rng.choice(cands)
        node = self.model.paths[p]
        if node.kind == "d":
            mode = self.rng.choice([0o755, 0o700, 0o750, 0o711, 0o1777])
        else:
            mode = self.rng.choice([0o644, 0o600, 0o755, 0o400, 0o4755, 0o666])
        if self.expect("chmod", lambda: os.chmod(self.real(p), mode), None):
            node.mode = mode

    def p_read(self):
        files = self.model.of_kind("f")
        if not files:
            return self.p_create()
        p = self.rng.choice(files)
        out = []
        if self.expect("read", lambda: out.append(read_all(self.real(p))), None):
            if out[0] != bytes(self.model.paths[p].data):
                self.complain("%s: read %d bytes, model has %d (or content "
                              "differs)" % (p, len(out[0]),
                                            len(self.model.paths[p].data)),
                              "wrong")

    def p_stat(self):
        cands = self.model.of_kind("fdl")
        if not cands:
            return self.p_create()
        p = self.rng.choice(cands)
        out = []
        if self.expect("stat", lambda: out.append(os.lstat(self.real(p))), None):
            for what in self.compare(p, self.model.paths[p], out[0], False):
                self.complain(what, "wrong")

    PRIVATE = [("create", 14), ("write", 14), ("append", 4), ("truncate", 6),
               ("rename", 12), ("link", 6), ("unlink", 8), ("mkdir", 5),
               ("rmdir", 5), ("symlink", 4), ("chmod", 4), ("read", 12),
               ("stat", 6)]

    def private_op(self):
        kinds, weights = zip(*self.PRIVATE)
        kind = self.rng.choices(kinds, weights)[0]
        if len(self.model.paths) > MAX_ENTRIES and self.rng.random() < 0.5:
            kind = self.rng.choice(["unlink", "rmdir", "rename"])
        if kind in ("create", "write", "append") and \
                self.model.data_bytes() > MAX_BYTES:
            kind = self.rng.choice(["truncate", "unlink"])
        if kind == "append":
            return self.p_write(append=True)
        return getattr(self, "p_" + kind)()

    # -- the private subtree against the model

    def compare(self, p, node, st, content=True):
        """Differences between a model node and what lstat (and a read)
        says."""
        out = []
        kind = "d" if stat.S_ISDIR(st.st_mode) else "l" if stat.S_ISLNK(
            st.st_mode) else "f" if stat.S_ISREG(st.st_mode) else "?"
        if kind != node.kind:
            return ["%s: type %s, model %s" % (p, kind, node.kind)]
        if kind != "l" and stat.S_IMODE(st.st_mode) != node.mode:
            out.append("%s: mode %o, model %o" % (p, stat.S_IMODE(st.st_mode),
                                                  node.mode))
        if kind == "f":
            if st.st_size != len(node.data):
                out.append("%s: size %d, model %d" % (p, st.st_size,
                                                      len(node.data)))
            if st.st_nlink != self.model.nlink(node):
                out.append("%s: nlink %d, model %d" % (
                    p, st.st_nlink, self.model.nlink(node)))
            if content:
                try:
                    got = read_all(self.real(p))
                    if got != bytes(node.data):
                        out.append("%s: content differs (%d bytes read, "
                                   "model %d)" % (p, len(got), len(node.data)))
                except OSError as e:
                    out.append("%s: read: %s" % (p, ename(e.errno)))
        elif kind == "d":
            subdirs = sum(1 for c in self.model.children(p)
                          if self.model.paths[c].kind == "d")
            if st.st_nlink != 2 + subdirs:
                out.append("%s: directory nlink %d, expected %d" % (
                    p, st.st_nlink, 2 + subdirs))
        else:
            try:
                t = os.readlink(self.real(p))
                if t != node.target:
                    out.append("%s: target %r, model %r" % (p, t, node.target))
            except OSError as e:
                out.append("%s: readlink: %s" % (p, ename(e.errno)))
            if st.st_size != len(node.target.encode()):
                out.append("%s: symlink size %d" % (p, st.st_size))
        return out

    def final_check(self):
        seen = {}
        for dirpath, dirnames, filenames in os.walk(self.top):
            rel = os.path.relpath(dirpath, self.top)
            rel = "" if rel == "." else rel
            for name in dirnames + filenames:
                p = join(rel, name)
                try:
                    seen[p] = os.lstat(self.real(p))
                except OSError as e:
                    self.complain("%s: listed but lstat: %s" % (p, ename(e.errno)),
                                  "missing")
        seen[""] = os.lstat(self.top)
        inos = {}
        for p, node in self.model.paths.items():
            st = seen.get(p)
            if st is None:
                self.complain("%s: missing (model: %s)" % (p, node.kind), "missing")
                continue
            for what in self.compare(p, node, st):
                self.complain(what, "wrong")
            # One inode number per model inode, and never shared.
            other = inos.setdefault(st.st_ino, node)
            if other is not node:
                self.complain("%s: inode %d also belongs to another name"
                              % (p, st.st_ino), "wrong")
        for p in seen:
            if p not in self.model.paths:
                self.complain("%s: not in the model" % p, "wrong")
        self.stats["mismatches"] = self.stats["missing"] + self.stats["wrong"]

    # -- shared operations: outcomes unknown, errors counted

    def s_path(self, level=None):
        """A pool name: level 1 shared/sN, 2 shared/sN/tM, 3 .../uK."""
        level = level or self.rng.choice([1, 1, 2, 2, 3])
        parts = ["s%d" % self.rng.randrange(8)]
        if level >= 2:
            parts.append("t%d" % self.rng.randrange(4))
        if level >= 3:
            parts.append("u%d" % self.rng.randrange(3))
        return os.path.join(self.shared, *parts), level

    def s_do(self, kind, fn):
        bump(self.stats["shared_kinds"], kind)
        self.stats["shared_ops"] += 1
        self.stats["ops"] += 1
        try:
            self.timed("shared " + kind, fn)
        except OSError as e:
            bump(self.stats["shared_errors"], ename(e.errno))
            if e.errno not in SHARED_OK | SHARED_OK_KIND.get(kind, set()):
                self.complain("shared %s: %s" % (kind, ename(e.errno)),
                              "unexpected")

    def shared_op(self):
        r = self.rng.random()
        p, level = self.s_path()
        if r < 0.14:
            data = self.content(self.pick_size())

            def create():
                fd = os.open(p, os.O_WRONLY | os.O_CREAT, 0o644)
                try:
                    write_all(fd, data, 0)
                finally:
                    os.close(fd)
            self.s_do("create", create)
        elif r < 0.28:
            off = self.rng.randrange(0, MAX_SIZE - 64 * KIB)
            data = self.content(min(self.pick_size(256 * KIB), MAX_SIZE - off))

            def write():
                fd = os.open(p, os.O_WRONLY)
                try:
                    write_all(fd, data, off)
                finally:
                    os.close(fd)
            self.s_do("write", write)
        elif r < 0.34:
            size = self.rng.randrange(0, MAX_SIZE)
            self.s_do("truncate", lambda: os.truncate(p, size))
        elif r < 0.50:
            # Files go anywhere; directories keep their depth (no cycles).
            q, ql = self.s_path()
            if os.path.isdir(p) and not os.path.islink(p):
                q, ql = self.s_path(level)
            self.s_do("rename", lambda: os.rename(p, q))
        elif r < 0.56:
            q, _ = self.s_path()
            self.s_do("link", lambda: os.link(p, q))
        elif r < 0.64:
            self.s_do("unlink", lambda: os.unlink(p))
        elif r < 0.71:
            if level == 3:
                p, level = self.s_path(self.rng.choice([1, 2]))
            self.s_do("mkdir", lambda: os.mkdir(p, 0o755))
        elif r < 0.77:
            self.s_do("rmdir", lambda: os.rmdir(p))
        elif r < 0.81:
            # Relative, without "..": whatever follows it stays in shared.
            tgt = self.rng.choice(["s1", "s2/t1", "t0", "u2", "none/deep"])
            self.s_do("symlink", lambda: os.symlink(tgt, p))
        elif r < 0.85:
            mode = self.rng.choice([0o644, 0o600, 0o755])
            self.s_do("chmod", lambda: os.chmod(p, mode))
        elif r < 0.95:
            self.s_do("read", lambda: read_all(p))
        else:
            self.s_do("stat", lambda: os.lstat(p))

    # -- the run

    def run(self, seconds, stop_file):
        os.umask(0)
        for d in (self.top, self.shared):
            try:
                os.mkdir(d, 0o755)
            except FileExistsError:
                pass
        if os.listdir(self.top):
            raise SystemExit("%s is not empty" % self.top)
        t0 = time.monotonic()
        t_end = t0 + seconds
        while time.monotonic() < t_end:
            if stop_file and os.path.exists(stop_file):
                break
            if self.rng.random() < 0.4:
                self.shared_op()
            else:
                self.private_op()
        self.stats["seconds"] = round(time.monotonic() - t0, 1)
        self.final_check()
        s = self.model
        self.stats["model"] = dict(
            entries=len(s.paths) - 1, files=len(s.of_kind("f")),
            dirs=len(s.dirs()) - 1, symlinks=len(s.of_kind("l")),
            bytes=s.data_bytes())
        print(json.dumps(self.stats, sort_keys=True))
        return 1 if self.stats["mismatches"] or self.stats["unexpected"] else 0


def write_all(fd, data, off):
    view = memoryview(data)
    while view:
        if off is None:
            n = os.write(fd, view[:MIB])
        else:
            n = os.pwrite(fd, view[:MIB], off)
            off += n
        view = view[n:]


def read_all(path):
    with open(path, "rb") as f:
        return f.read()


# ------------------------------------------------------------------ check

def snapshot(mnt, problems):
    """path -> (lstat, symlink target or None) of the whole tree."""
    tree = {}
    stack = [""]
    while stack:
        d = stack.pop()
        full = os.path.join(mnt, d) if d else mnt
        try:
            names = os.listdir(full)
        except OSError as e:
            problems.append(("corrupt", "%s: %s: listdir: %s" % (mnt, d, ename(e.errno))))
            continue
        for name in names:
            p = join(d, name)
            try:
                st = os.lstat(os.path.join(mnt, p))
            except OSError as e:
                problems.append(("lost", "%s: %s: listed, lstat: %s" % (mnt, p, ename(e.errno))))
                continue
            target = None
            if stat.S_ISLNK(st.st_mode):
                try:
                    target = os.readlink(os.path.join(mnt, p))
                except OSError as e:
                    problems.append(("corrupt", "%s: %s: readlink: %s" % (mnt, p, ename(e.errno))))
            elif stat.S_ISDIR(st.st_mode):
                stack.append(p)
            tree[p] = (st, target)
    try:
        tree[""] = (os.lstat(mnt), None)
    except OSError as e:
        problems.append(("corrupt", "%s: lstat: %s" % (mnt, ename(e.errno))))
    return tree


def digest(path):
    h = hashlib.sha256()
    n = 0
    with open(path, "rb") as f:
        while True:
            b = f.read(MIB)
            if not b:
                break
            h.update(b)
            n += len(b)
    return h.hexdigest(), n


def cmd_check(args):
    problems = []
    mnts = [args.mnt_a, args.mnt_b]
    trees = [snapshot(m, problems) for m in mnts]
    a, b = trees
    for p in sorted(set(a) | set(b)):
        if p not in a or p not in b:
            problems.append(("lost", "%s: only on %s" % (p, mnts[0] if p in a else mnts[1])))
            continue
        sa, ta = a[p]
        sb, tb = b[p]
        fa = (stat.S_IFMT(sa.st_mode), stat.S_IMODE(sa.st_mode), sa.st_size,
              sa.st_ino, sa.st_nlink, ta)
        fb = (stat.S_IFMT(sb.st_mode), stat.S_IMODE(sb.st_mode), sb.st_size,
              sb.st_ino, sb.st_nlink, tb)
        if fa != fb:
            problems.append(("corrupt", "%s: (type, mode, size, ino, nlink, "
                             "target) differ: %r vs %r" % (p, fa, fb)))
    counts = dict(entries=0, files=0, dirs=0, symlinks=0, other=0, bytes=0)
    for i, tree in enumerate(trees):
        names = {}
        subdirs = {}
        for p, (st, _) in tree.items():
            if stat.S_ISDIR(st.st_mode):
                if p:
                    bump(subdirs, parent(p))
            else:
                names.setdefault(st.st_ino, []).append(p)
        for p, (st, _) in tree.items():
            if stat.S_ISDIR(st.st_mode):
                want = 2 + subdirs.get(p, 0)
                if st.st_nlink != want:
                    problems.append(("corrupt", "%s: %s: directory nlink %d, "
                                     "%d subdirectories" % (mnts[i], p, st.st_nlink,
                                                            want - 2)))
            elif st.st_nlink != len(names[st.st_ino]):
                # Files, and symlinks too: link(2) does not follow them.
                problems.append(("corrupt", "%s: %s: nlink %d, %d names: %s"
                                 % (mnts[i], p, st.st_nlink,
                                    len(names[st.st_ino]),
                                    " ".join(names[st.st_ino][:4]))))
        if i == 0:
            for p, (st, _) in tree.items():
                counts["entries"] += 1 if p else 0
                if stat.S_ISREG(st.st_mode):
                    counts["files"] += 1
                    counts["bytes"] += st.st_size
                elif stat.S_ISDIR(st.st_mode):
                    counts["dirs"] += 1
                elif stat.S_ISLNK(st.st_mode):
                    counts["symlinks"] += 1
                else:
                    counts["other"] += 1
    # Every regular file, read in full from both mounts.
    for p in sorted(set(a) & set(b)):
        if not stat.S_ISREG(a[p][0].st_mode) or not stat.S_ISREG(b[p][0].st_mode):
            continue
        got = []
        for i, m in enumerate(mnts):
            try:
                h, n = digest(os.path.join(m, p))
                got.append((h, n))
                if n != trees[i][p][0].st_size:
                    problems.append(("corrupt", "%s: %s: read %d bytes, size %d"
                                     % (m, p, n, trees[i][p][0].st_size)))
            except OSError as e:
                got.append(None)
                problems.append(("lost" if e.errno == errno.ENOENT else "corrupt",
                                 "%s: %s: read: %s" % (m, p, ename(e.errno))))
        if got[0] and got[1] and got[0] != got[1]:
            problems.append(("corrupt", "%s: content differs between the mounts "
                             "(%d vs %d bytes)" % (p, got[0][1], got[1][1])))
    lost = sum(1 for k, _ in problems if k == "lost")
    corrupt = sum(1 for k, _ in problems if k == "corrupt")
    out = dict(counts, lost=lost, corrupt=corrupt,
               problems=[w for _, w in problems[:40]])
    for _, w in problems:
        print("check: " + w, file=sys.stderr)
    print(json.dumps(out, sort_keys=True))
    return 1 if problems else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("root")
    r.add_argument("--seed", type=int, default=1)
    r.add_argument("--seconds", type=float, default=60)
    r.add_argument("--worker", required=True)
    r.add_argument("--stop-file")
    c = sub.add_parser("check")
    c.add_argument("mnt_a")
    c.add_argument("mnt_b")
    args = ap.parse_args()
    if args.cmd == "run":
        return Worker(args).run(args.seconds, args.stop_file)
    return cmd_check(args)


if __name__ == "__main__":
    sys.exit(main())
