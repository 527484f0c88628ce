#!/usr/bin/env python3
"""renamerace.py: helpers of tests/integration/fs_rename.sh.

  renamerace.py go READY TRIGGER SRC DST
                                   rename(SRC, DST) once TRIGGER exists
                                   (after creating READY; TRIGGER "-":
                                   at once); prints OK or the errno name
  renamerace.py lease HEXVALUE     decode the rename lease record (hex of
                                   'canctl get'): prints the holder in hex
  renamerace.py cycle MNT N        rounds 0..N-1 of the cycle race: prints
                                   a JSON summary; exit 1 when a round's
                                   directories or files are not reachable
  renamerace.py replace MNT N      the same for the replace race rounds
"""
import errno
import json
import os
import struct
import sys
import time


def go(ready, trigger, src, dst):
    """Look both paths up (so that the kernel caches them, as a user's mv
    would have), say so by creating the file ready, wait for the file
    trigger to appear, rename once.  A trigger of "-": at once."""
    for p in (src, os.path.dirname(dst)):
        try:
            os.stat(p)
        except OSError:
            pass
    if trigger != "-":
        open(ready, "w").close()
        while not os.path.exists(trigger):
            time.sleep(0.0005)
    try:
        os.rename(src, dst)
        print("OK")
    except OSError as e:
        print(errno.errorcode.get(e.errno, str(e.errno)))


def read(path):
    with open(path) as f:
        return f.read()


def cycle(mnt, n):
    """Round i made a<i>/fa and b<i>/fb, then raced a<i> -> b<i>/ against
    b<i> -> a<i>/: one of them now holds the other, both files inside."""
    bad = []
    for i in range(n):
        a, b = "a%d" % i, "b%d" % i
        try:
            if os.path.isdir(os.path.join(mnt, a, b)):
                top, inner = a, b
            else:
                top, inner = b, a
            names = sorted(os.listdir(mnt + "/" + top))
            inside = sorted(os.listdir(os.path.join(mnt, top, inner)))
            want_top = sorted(["f" + top[0], inner])
            if names != want_top or inside != ["f" + inner[0]]:
                raise OSError(0, "entries %s / %s" % (names, inside))
            if read(os.path.join(mnt, top, "f" + top[0])) != top or \
               read(os.path.join(mnt, top, inner, "f" + inner[0])) != inner:
                raise OSError(0, "file contents")
            if os.path.exists(os.path.join(mnt, inner)):
                raise OSError(0, "%s still at the top too" % inner)
        except OSError as e:
            bad.append("round %d: %s" % (i, e))
    return bad


def walk_ok(root):
    """Every directory under root listable: the errors."""
    errs = []
    for _, _, _ in os.walk(root, onerror=lambda e: errs.append(str(e))):
        pass
    return errs


def replace(mnt, n):
    """Round i: files s<i>/x (x<i>) and s<i>/t (t<i>), dir u<i>; x -> t
    raced against t -> u<i>/t2.  Dirs likewise under S<i>, U<i>: S/a
    (holding fa) replacing the empty S/t, raced against S/t -> U/t2.  The
    source's data must survive, exactly once, and nothing dangle."""
    bad = []
    for i in range(n):
        s, u = "%s/s%d" % (mnt, i), "%s/u%d" % (mnt, i)
        where = {}
        for p in (s + "/x", s + "/t", u + "/t2"):
            if os.path.lexists(p):
                try:
                    where[p] = read(p)
                except OSError as e:
                    bad.append("round %d: %s dangles: %s" % (i, p, e))
        xs = [p for p, v in where.items() if v == "x%d" % i]
        ts = [p for p, v in where.items() if v == "t%d" % i]
        if len(xs) != 1 or len(ts) > 1:
            bad.append("round %d files: %s" % (i, where))
        S, U = "%s/S%d" % (mnt, i), "%s/U%d" % (mnt, i)
        errs = walk_ok(S) + walk_ok(U)
        fa = [p for p in (S + "/a/fa", S + "/t/fa", U + "/t2/fa")
              if os.path.exists(p)]
        if errs or len(fa) != 1:
            bad.append("round %d dirs: %s, fa at %s" % (i, errs, fa))
    return bad


def main():
    cmd = sys.argv[1]
    if cmd == "go":
        go(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5])
    elif cmd == "lease":
        v = bytes.fromhex(sys.argv[2]) if len(sys.argv) > 2 else b""
        if len(v) != 13:
            print("none")
        else:
            print("%x" % struct.unpack("<BQI", v)[1])
    elif cmd in ("cycle", "replace"):
        fn = cycle if cmd == "cycle" else replace
        bad = fn(sys.argv[2], int(sys.argv[3]))
        print(json.dumps({"rounds": int(sys.argv[3]), "bad": len(bad),
                          "problems": bad[:10]}))
        sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
