#!/usr/bin/env python3
"""closerace.py A B SECONDS: a helper of tests/integration/fs_lock.sh.

Open-file state against a racing last close: two threads open, write and
close one file on mount A in a loop while a third truncates it (setattr)
and a fourth stats it (getattr).  canfs's last close used to free the
state a setattr was still using (an ASan build aborts on that).  Then a
known content, read back through mount B.  Exits non-zero on any error.
"""
import os, sys, threading, time

A, B, secs = sys.argv[1], sys.argv[2], float(sys.argv[3])
path = os.path.join(A, "race")
counts = {"open": 0, "truncate": 0, "stat": 0}
errors = []
stop = time.monotonic() + secs


def loop(kind, fn):
    n = 0
    try:
        while time.monotonic() < stop:
            fn(n)
            n += 1
    except OSError as e:
        errors.append("%s: %s" % (kind, e))
    counts[kind] += n


def opener(n):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        os.pwrite(fd, b"x" * 4096, (n % 64) * 4096)
    finally:
        os.close(fd)


def truncater(n):
    os.truncate(path, (n * 7919) % (300 * 1024))


def stater(n):
    os.stat(path)


open(path, "wb").close()
ts = [threading.Thread(target=loop, args=a) for a in
      (("open", opener), ("open", opener), ("truncate", truncater),
       ("stat", stater))]
for t in ts:
    t.start()
for t in ts:
    t.join()
print("%(open)d open-write-close, %(truncate)d truncates, %(stat)d stats"
      % counts, flush=True)
if errors:
    sys.exit("errors: " + "; ".join(errors[:5]))
if min(counts.values()) < 10:
    sys.exit("too few operations to race: %s" % counts)
want = bytes(i % 241 for i in range(200 * 1024))
with open(path, "wb") as f:
    f.write(want)
time.sleep(1.5)  # B's attribute cache (1 s)
with open(os.path.join(B, "race"), "rb") as f:
    got = f.read()
if got != want:
    sys.exit("B reads %d bytes, not the %d written last" % (len(got), len(want)))
os.unlink(path)
