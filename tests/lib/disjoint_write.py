#!/usr/bin/env python3
"""disjoint_write.py: write one parity of the 4 KiB blocks of a file.

usage: disjoint_write.py PATH PARITY ROUNDS MODE [SEED]

The file's first 1 MiB is 256 blocks of 4 KiB.  Each round writes a
random half of the blocks of this writer's PARITY (0: even, 1: odd) with
bytes derived from (parity, round, block); a final round writes every
one of them, so their last bytes are known (block_bytes(parity, ROUNDS,
block)).  MODE fsync: each write is followed by fsync (each one a store
write); MODE direct: O_DIRECT writes, one fsync at the end.  Another
writer of the other parity may run at the same time, through another
mount: neither may lose the other's blocks.

usage: disjoint_write.py --check PATH ROUNDS: every block holds its
writer's last bytes; prints "blocks: N exact of 256" (exit 0 when all).
"""

import mmap
import os
import random
import sys

BLOCK = 4096
NBLOCKS = 256


def block_bytes(parity, rnd, blk):
    return random.Random(parity * 1000003 + rnd * 7919 + blk).randbytes(
        BLOCK)


def write(path, parity, rounds, mode, seed):
    rng = random.Random(seed * 2 + parity)
    flags = os.O_WRONLY | (os.O_DIRECT if mode == "direct" else 0)
    fd = os.open(path, flags)
    buf = mmap.mmap(-1, BLOCK)  # aligned, as O_DIRECT wants
    mine = list(range(parity, NBLOCKS, 2))
    for rnd in range(rounds + 1):
        blks = mine if rnd == rounds else rng.sample(mine, len(mine) // 2)
        for blk in blks:
            buf.seek(0)
            buf.write(block_bytes(parity, rnd, blk))
            if os.pwrite(fd, buf, blk * BLOCK) != BLOCK:
                sys.exit("short write")
            if mode == "fsync":
                os.fsync(fd)
    os.fsync(fd)
    os.close(fd)


def check(path, rounds):
    with open(path, "rb") as f:
        data = f.read()
    bad = [b for b in range(NBLOCKS)
           if data[b * BLOCK:(b + 1) * BLOCK] != block_bytes(b % 2, rounds, b)]
    print("blocks: %d exact of %d (size %d)%s" % (
        NBLOCKS - len(bad), NBLOCKS, len(data),
        ", wrong: %s" % bad[:12] if bad else ""))
    return 0 if not bad else 1


if __name__ == "__main__":
    if sys.argv[1] == "--check":
        sys.exit(check(sys.argv[2], int(sys.argv[3])))
    write(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4],
          int(sys.argv[5]) if len(sys.argv) > 5 else 1)
