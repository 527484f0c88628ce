#!/usr/bin/env python3
"""fsync_lat.py: the cost of one fdatasync on a directory's filesystem.

    fsync_lat.py DIR [-n N] [--warmup W] [--size B]

In a fresh file under DIR, W + N times: write B bytes (default 4096) and
fdatasync; the first W are not measured.  Two ways, each timed as the
write plus the fdatasync:

  overwrite  pwrite B bytes in place, cycling over a preallocated and
             already synced 1024-block file: the data and a device cache
             flush, no file size change;
  append     write B bytes at the end of the file: also a journal commit
             for the new size (as when a database file grows).

Prints one line per way:
  RESULT mode=overwrite size=B n=N min_us= p50_us= p90_us= p99_us=
         max_us= mean_us=
(on one line) and removes its file.  Exit 2 on bad usage, 1 when a write
or fdatasync fails.
"""
import argparse
import math
import os
import sys
import time

BLOCKS = 1024  # overwrite cycles over this many blocks


def pct(sorted_us, p):
    """Nearest-rank percentile p (0 < p <= 100) of a sorted list."""
    if not sorted_us:
        return 0.0
    rank = min(max(math.ceil(p / 100.0 * len(sorted_us)), 1), len(sorted_us))
    return sorted_us[rank - 1]


def measure(fd, buf, n, warmup, offset_of):
    """Microseconds of write + fdatasync, after warmup unmeasured ones."""
    out = []
    for i in range(warmup + n):
        off = offset_of(i)
        t0 = time.perf_counter_ns()
        if off is None:
            os.write(fd, buf)
        else:
            os.pwrite(fd, buf, off)
        os.fdatasync(fd)
        t1 = time.perf_counter_ns()
        if i >= warmup:
            out.append((t1 - t0) / 1000.0)
    return sorted(out)


def report(mode, size, us):
    print("RESULT mode=%s size=%d n=%d min_us=%.1f p50_us=%.1f p90_us=%.1f "
          "p99_us=%.1f max_us=%.1f mean_us=%.1f" % (
              mode, size, len(us), us[0], pct(us, 50), pct(us, 90),
              pct(us, 99), us[-1], sum(us) / len(us)), flush=True)


def main():
    ap = argparse.ArgumentParser(
        description="Latency of a small write plus fdatasync in DIR.")
    ap.add_argument("dir", help="directory on the filesystem to measure")
    ap.add_argument("-n", type=int, default=500,
                    help="measured writes per way (default 500)")
    ap.add_argument("--warmup", type=int, default=20,
                    help="writes before measuring (default 20)")
    ap.add_argument("--size", type=int, default=4096,
                    help="bytes per write (default 4096)")
    a = ap.parse_args()
    if not 1 <= a.n <= 10000000 or not 0 <= a.warmup <= 1000000:
        ap.error("-n must be 1..10000000 and --warmup 0..1000000")
    if not 1 <= a.size <= 64 << 20:
        ap.error("--size must be 1..67108864")
    if not os.path.isdir(a.dir):
        ap.error("%s is not a directory" % a.dir)
    buf = os.urandom(a.size)
    path = os.path.join(a.dir, "fsync_lat.%d" % os.getpid())
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            for _ in range(BLOCKS):
                os.write(fd, buf)
            os.fsync(fd)
            report("overwrite", a.size,
                   measure(fd, buf, a.n, a.warmup,
                           lambda i: (i % BLOCKS) * a.size))
            os.lseek(fd, 0, os.SEEK_END)
            report("append", a.size,
                   measure(fd, buf, a.n, a.warmup, lambda i: None))
        finally:
            os.close(fd)
            os.unlink(path)
    except OSError as e:
        sys.exit("fsync_lat.py: %s" % e)


if __name__ == "__main__":
    main()
