#!/usr/bin/env python3
"""inline_io.py STEP Z B: a helper of tests/integration/fs_sparse.sh.

Files larger than a chunk (64 KiB) through a mount without background
threads (Z, bg_threads=0), checked through mount B.  STEP "write" makes
them (and reads them back through Z), "check" compares what Z and B
read with what was written.  Exits non-zero on any difference.
"""
import os, sys

step, Z, B = sys.argv[1], sys.argv[2], sys.argv[3]
KB = 1024
data = bytes((i * 13 + 5) % 251 for i in range(3 * 1024 * KB + 777))
patch = bytes((i * 3 + 1) % 253 for i in range(100 * KB))
problems = []


def expect(cond, what):
    if not cond:
        problems.append(what)
        print("FAIL " + what, flush=True)


def whole(path):
    with open(path, "rb") as f:
        return f.read()


def direct(path):
    """Read with O_DIRECT in 1 MiB requests (16 chunks each)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
    try:
        out = b""
        while True:
            b = os.read(fd, 1024 * KB)
            if not b:
                return out
            out += b
    finally:
        os.close(fd)


def name_of(i):
    return ("r%d" if i % 4 == 1 else "f%d") % i


if step == "write":
    os.mkdir(os.path.join(Z, "z"))
    big = os.path.join(Z, "z", "big")
    with open(big, "wb") as f:
        for off in range(0, len(data), 200 * KB):
            f.write(data[off:off + 200 * KB])
    expect(whole(big) == data, "Z reads back what it wrote")
    expect(direct(big) == data, "Z reads it back in 1 MiB O_DIRECT reads")
    # Partial chunks: the stored chunk is merged around a gap.
    with open(big, "r+b") as f:
        f.seek(100 * KB + 3)
        f.write(patch[:10 * KB])
        f.seek(150 * KB)
        f.write(patch)
    for i in range(50):
        with open(os.path.join(Z, "z", "f%d" % i), "wb") as f:
            f.write(data[i * 1000:i * 1000 + 70 * KB])
    for i in range(0, 50, 2):
        os.unlink(os.path.join(Z, "z", "f%d" % i))
    for i in range(1, 50, 4):
        os.rename(os.path.join(Z, "z", "f%d" % i),
                  os.path.join(Z, "z", name_of(i)))
    os.truncate(big, 2 * 1024 * KB + 5)
else:
    want = bytearray(data)
    want[100 * KB + 3:110 * KB + 3] = patch[:10 * KB]
    want[150 * KB:250 * KB] = patch
    want = bytes(want[:2 * 1024 * KB + 5])
    exp = sorted(["big"] + [name_of(i) for i in range(1, 50, 2)])
    for m in (Z, B):
        expect(whole(os.path.join(m, "z", "big")) == want,
               m + ": the patched, truncated file")
        expect(sorted(os.listdir(os.path.join(m, "z"))) == exp,
               m + ": the names left after removes and renames")
        for i in range(1, 50, 2):
            expect(whole(os.path.join(m, "z", name_of(i))) ==
                   data[i * 1000:i * 1000 + 70 * KB],
                   m + ": bytes of " + name_of(i))
if problems:
    sys.exit("%d problems: %s" % (len(problems), "; ".join(problems)))
