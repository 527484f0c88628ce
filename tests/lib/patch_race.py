#!/usr/bin/env python3
"""patch_race.py: concurrent patches of one object through several daemons.

usage: patch_race.py [--seed S] [--size BYTES] [--block BYTES]
                     [--rounds N] [--kill-after N --kill-pid PID]
                     DAEMON [DAEMON ...]

One object of --size random bytes is written (PUT), then one thread per
daemon patches it through that daemon: the object is cut into blocks of
--block bytes, block i belonging to thread i % threads, and each of
--rounds patches writes 1 to 8 of the thread's blocks (1 to 8 ranges)
with bytes derived from (thread, round, block).  Every patch carries an
op id; a patch whose reply is lost (a daemon killed: --kill-pid is sent
SIGKILL once the first thread has made --kill-after patches) is sent
again, same op id, through the next daemon, so it lands once.  Then the
object is read through every surviving daemon and compared, byte for byte,
with what the acknowledged patches make.  Exit 0 when every copy read is
exact; prints one summary line ("patches: N acknowledged, R resent; reads:
M exact of M").
"""

import argparse
import os
import random
import signal
import sys
import threading
import time

import canwire as cw


def block_bytes(thread, rnd, blk, size):
    """The bytes thread writes into block blk in round rnd."""
    seed = (thread * 1000003 + rnd * 7919 + blk) & 0xFFFFFFFF
    return random.Random(seed).randbytes(size)


def call(addrs, start, mtype, body, deadline):
    """Send one request through addrs[start], failing over in turn until
    a reply comes or the deadline passes: (reply type, body, resends)."""
    i, resent = start, 0
    while True:
        try:
            with cw.Conn(addrs[i % len(addrs)], timeout=45.0) as c:
                rt, _, rb = c.request(mtype, body)
            if rt == cw.ERROR:
                code, msg = cw.dec_error(rb)
                if code in (5, 7, 8, 11, 12) and time.monotonic() < deadline:
                    time.sleep(0.2)  # busy, timed out, not serving: again
                    resent += 1
                    continue
            return rt, rb, resent
        except (OSError, cw.WireError):
            if time.monotonic() > deadline:
                raise
            i += 1
            resent += 1
            time.sleep(0.2)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--size", type=int, default=256 << 10)
    ap.add_argument("--block", type=int, default=1024)
    ap.add_argument("--rounds", type=int, default=150)
    ap.add_argument("--kill-after", type=int, default=0)
    ap.add_argument("--kill-pid", type=int, default=0)
    ap.add_argument("daemons", nargs="+")
    a = ap.parse_args()

    rng = random.Random(a.seed)
    key = (rng.getrandbits(64), rng.getrandbits(64))
    client = rng.getrandbits(63) | 1
    expect = bytearray(rng.randbytes(a.size))
    deadline = time.monotonic() + 300
    rt, rb, _ = call(a.daemons, 0, cw.OBJ_PUT,
                     cw.enc_obj(key, data=bytes(expect), op=(client, 1)),
                     deadline)
    if rt != cw.OBJ_DONE:
        sys.exit("patch_race: the first PUT failed: %r" % (rt,))

    nthreads = len(a.daemons)
    nblocks = a.size // a.block
    lock = threading.Lock()
    counts = {"acked": 0, "resent": 0}
    errors = []
    killed = threading.Event()

    def worker(t):
        trng = random.Random(a.seed * 31 + t)
        mine = [b for b in range(nblocks) if b % nthreads == t]
        for rnd in range(a.rounds):
            blks = sorted(trng.sample(mine, trng.randint(1, min(8,
                                                               len(mine)))))
            ranges = [(b * a.block, block_bytes(t, rnd, b, a.block))
                      for b in blks]
            seq = 1000 + t * 100000 + rnd
            body = cw.enc_obj(key, data=cw.enc_patch(ranges),
                              op=(client, seq))
            try:
                rt, rb, resent = call(a.daemons, t, cw.OBJ_PATCH, body,
                                      deadline)
            except Exception as e:  # noqa: BLE001 (reported below)
                errors.append("thread %d round %d: %s" % (t, rnd, e))
                return
            if rt != cw.OBJ_DONE:
                msg = cw.dec_error(rb) if rt == cw.ERROR else rt
                errors.append("thread %d round %d: %r" % (t, rnd, msg))
                return
            with lock:
                for off, b in ranges:
                    expect[off:off + len(b)] = b
                counts["acked"] += 1
                counts["resent"] += resent
            if (t == 0 and a.kill_pid and rnd + 1 == a.kill_after and
                    not killed.is_set()):
                os.kill(a.kill_pid, signal.SIGKILL)
                killed.set()
                print("patch_race: killed pid %d after %d patches"
                      % (a.kill_pid, rnd + 1), flush=True)

    threads = [threading.Thread(target=worker, args=(t,))
               for t in range(nthreads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    if errors:
        for e in errors[:10]:
            print("patch_race: " + e)
        sys.exit("patch_race: %d threads failed" % len(errors))

    exact, reads = 0, 0
    for d in a.daemons:
        try:
            with cw.Conn(d, timeout=45.0) as c:
                rt, _, rb = c.request(cw.OBJ_GET, cw.enc_obj(key))
        except OSError:
            continue  # the daemon killed above
        reads += 1
        if rt != cw.OBJ_VALUE:
            print("patch_race: GET through %s answered %r" % (d, rt))
            continue
        got = cw.dec_obj(rb)["data"]
        if got == bytes(expect):
            exact += 1
            continue
        bad = [i for i in range(nblocks) if
               got[i * a.block:(i + 1) * a.block] !=
               expect[i * a.block:(i + 1) * a.block]]
        print("patch_race: through %s: %d bytes (want %d), %d blocks "
              "differ, first %s" % (d, len(got), len(expect), len(bad),
                                   bad[:8]))
    print("patches: %d acknowledged, %d resent; reads: %d exact of %d"
          % (counts["acked"], counts["resent"], exact, reads))
    sys.exit(0 if reads > 0 and exact == reads else 1)


if __name__ == "__main__":
    main()
