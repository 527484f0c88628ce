#!/usr/bin/env python3
"""locktest.py: flock and fcntl locks across two canfs mounts (fs_lock.sh),
and, first, one new name created with O_CREAT on both at the same moment.

    locktest.py checks MNT_A MNT_B   every check below, A and B being two
                                     mounts of one file system through
                                     different daemons (two machines)
    locktest.py hold MNT FILE        take flock(LOCK_EX) on MNT/FILE, print
                                     "held", then sleep until killed
    locktest.py take MNT FILE SECS   take flock(LOCK_EX) on MNT/FILE,
                                     waiting at most SECS; print the wait

Every lock is taken by its own process (fcntl locks belong to processes:
one process never conflicts with itself).  Each check prints one line;
any failure exits 1 with the reason.
"""
import errno
import fcntl
import json
import multiprocessing as mp
import os
import signal
import struct
import sys
import time

WAIT = 15  # seconds: a bound on any single wait, not an expectation


def fail(msg):
    print("FAIL: " + msg, flush=True)
    for p in mp.active_children():
        p.kill()  # a holder blocked in a lock call never exits otherwise
    os._exit(1)


def run(fn, *args):
    """fn(*args) in a child process; returns (process, connection)."""
    here, there = mp.Pipe()
    p = mp.Process(target=fn, args=(there,) + args, daemon=True)
    p.start()
    return p, here


def recv(conn, what, timeout=WAIT):
    if not conn.poll(timeout):
        fail("no answer from the process that should " + what)
    return conn.recv()


def getlk(fd, typ, start, length):
    """F_GETLK: (type, start, len, pid) of the first conflicting lock."""
    arg = struct.pack("hhqqi", typ, os.SEEK_SET, start, length, 0)
    res = fcntl.fcntl(fd, fcntl.F_GETLK, arg)
    t, _, s, n, pid = struct.unpack("hhqqi", res)
    return t, s, n, pid


def holder(conn, path, kind, typ, start, length):
    """Take a lock, report, then obey "release"/"exit" commands."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if kind == "flock":
            fcntl.flock(fd, typ)
        else:
            fcntl.lockf(fd, typ, length, start)
        conn.send(("held", os.getpid()))
    except OSError as e:
        conn.send(("error", e.errno))
        return
    while True:
        cmd = conn.recv()
        if cmd == "release":
            if kind == "flock":
                fcntl.flock(fd, fcntl.LOCK_UN)
            else:
                fcntl.lockf(fd, fcntl.LOCK_UN, length, start)
            conn.send("released")
        elif cmd == "exit":
            os.close(fd)
            conn.send("closed")
            return


def tryer(conn, path, kind, typ, start, length, alarm=0):
    """One attempt (typ may include LOCK_NB); report how it went."""
    class Alarm(Exception):
        pass

    def on_alarm(_sig, _frm):
        raise Alarm()

    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    signal.signal(signal.SIGALRM, on_alarm)
    t0 = time.monotonic()
    try:
        if alarm:
            signal.alarm(alarm)
        if kind == "flock":
            fcntl.flock(fd, typ)
        else:
            fcntl.lockf(fd, typ, length, start)
        signal.alarm(0)
        conn.send(("held", time.monotonic() - t0))
    except Alarm:
        conn.send(("interrupted", time.monotonic() - t0))
        os.close(fd)
        return
    except OSError as e:
        signal.alarm(0)
        conn.send(("error", e.errno))
        os.close(fd)
        return
    conn.recv()  # anything: release by closing
    os.close(fd)
    conn.send("closed")


def getlk_child(conn, path, typ, start, length):
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    conn.send(getlk(fd, typ, start, length))
    os.close(fd)


def stop(p, conn):
    try:
        conn.send("exit")
        recv(conn, "exit")
    except (BrokenPipeError, EOFError):
        pass
    p.join(WAIT)
    if p.is_alive():
        p.kill()
        fail("a lock holder did not exit")


def expect_blocked(a, b, what):
    """Process b, started after a holds, must not get the lock."""
    pb, cb = b
    if cb.poll(1.0):
        fail(what + ": got %r while the other machine holds it"
             % (cb.recv(),))
    return pb, cb


def check_flock(a, b):
    f = "flock-f"
    p1, c1 = run(holder, os.path.join(a, f), "flock", fcntl.LOCK_EX, 0, 0)
    if recv(c1, "hold")[0] != "held":
        fail("flock LOCK_EX on an unlocked file failed")
    p2, c2 = run(tryer, os.path.join(b, f), "flock",
                 fcntl.LOCK_EX | fcntl.LOCK_NB, 0, 0)
    r = recv(c2, "try")
    if r != ("error", errno.EWOULDBLOCK):
        fail("flock LOCK_NB on the other machine: %r, want EWOULDBLOCK"
             % (r,))
    p2.join()
    p3, c3 = expect_blocked((p1, c1), run(tryer, os.path.join(b, f),
                            "flock", fcntl.LOCK_EX, 0, 0),
                            "blocking flock")
    t0 = time.monotonic()
    c1.send("release")
    recv(c1, "release")
    r = recv(c3, "wake up")
    if r[0] != "held":
        fail("blocked flock after the release: %r" % (r,))
    print("flock: exclusive across machines; LOCK_NB EWOULDBLOCK; a "
          "waiter woke %.0f ms after the release" %
          ((time.monotonic() - t0) * 1000), flush=True)
    c3.send("go")
    recv(c3, "close")
    p3.join()
    stop(p1, c1)


def check_ranges(a, b):
    f = "range-f"
    p1, c1 = run(holder, os.path.join(a, f), "posix", fcntl.LOCK_EX, 0, 100)
    r = recv(c1, "hold")
    if r[0] != "held":
        fail("F_SETLK F_WRLCK [0,100) failed: %r" % (r,))
    pid1 = r[1]
    for start, n, want in ((50, 10, "error"), (99, 1, "error"),
                           (100, 100, "held"), (200, 0, "held")):
        p, c = run(tryer, os.path.join(b, f), "posix",
                   fcntl.LOCK_EX | fcntl.LOCK_NB, start, n)
        r = recv(c, "try")
        if r[0] != want or (want == "error" and
                            r[1] not in (errno.EAGAIN, errno.EACCES)):
            fail("F_SETLK [%d,+%d) on the other machine: %r, want %s"
                 % (start, n, r, want))
        if want == "held":
            c.send("go")
            recv(c, "close")
        p.join()
    p, c = run(getlk_child, os.path.join(b, f), fcntl.F_WRLCK, 50, 10)
    t, s, n, pid = recv(c, "getlk")
    p.join()
    if (t, s, n) != (fcntl.F_WRLCK, 0, 100) or pid > 0:
        fail("F_GETLK from the other machine: %r, want a write lock "
             "[0,100) with a pid <= 0 (remote)" % ((t, s, n, pid),))
    remote = pid
    p, c = run(getlk_child, os.path.join(a, f), fcntl.F_RDLCK, 0, 0)
    t, s, n, pid = recv(c, "getlk")
    p.join()
    if (t, s, n, pid) != (fcntl.F_WRLCK, 0, 100, pid1):
        fail("F_GETLK on the same machine: %r, want (F_WRLCK, 0, 100, %d)"
             % ((t, s, n, pid), pid1))
    stop(p1, c1)
    print("fcntl: byte ranges conflict only where they overlap; F_GETLK "
          "names the holder (pid %d on its machine, %d from the other)" %
          (pid1, remote), flush=True)


def check_shared(a, b):
    f = "shared-f"
    p1, c1 = run(holder, os.path.join(a, f), "posix", fcntl.LOCK_SH, 0, 0)
    p2, c2 = run(holder, os.path.join(b, f), "posix", fcntl.LOCK_SH, 0, 0)
    if recv(c1, "hold")[0] != "held" or recv(c2, "hold")[0] != "held":
        fail("two read locks on two machines do not coexist")
    p3, c3 = run(tryer, os.path.join(b, f), "posix",
                 fcntl.LOCK_EX | fcntl.LOCK_NB, 0, 0)
    r = recv(c3, "try")
    p3.join()
    if r[0] != "error":
        fail("a write lock was granted over two read locks")
    stop(p1, c1)
    stop(p2, c2)
    print("fcntl: read locks share, a write lock waits for them",
          flush=True)


def check_eintr(a, b):
    f = "eintr-f"
    p1, c1 = run(holder, os.path.join(a, f), "posix", fcntl.LOCK_EX, 0, 0)
    recv(c1, "hold")
    p2, c2 = run(tryer, os.path.join(b, f), "posix", fcntl.LOCK_EX, 0, 0, 1)
    r = recv(c2, "be interrupted")
    p2.join()
    if r[0] != "interrupted":
        fail("F_SETLKW interrupted by SIGALRM: %r, want EINTR" % (r,))
    stop(p1, c1)
    # The interrupted waiter left nothing: a lock is free at once.
    p3, c3 = run(tryer, os.path.join(a, f), "posix",
                 fcntl.LOCK_EX | fcntl.LOCK_NB, 0, 0)
    r3 = recv(c3, "try")
    if r3[0] != "held":
        fail("after an interrupted waiter, the free lock is refused: %r"
             % (r3,))
    c3.send("go")
    recv(c3, "close")
    p3.join()
    print("fcntl: F_SETLKW interrupted by a signal after %.1f s: EINTR, "
          "nothing left behind" % r[1], flush=True)


def close_other_fd(conn, path):
    """POSIX: closing any descriptor of a file drops the process's locks."""
    fd1 = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    fd2 = os.open(path, os.O_RDONLY)
    fcntl.lockf(fd1, fcntl.LOCK_EX)
    conn.send("locked")
    conn.recv()
    os.close(fd2)
    conn.send("closed")
    conn.recv()
    os.close(fd1)


def check_close(a, b):
    f = "close-f"
    p1, c1 = run(close_other_fd, os.path.join(a, f))
    recv(c1, "lock")
    p2, c2 = run(tryer, os.path.join(b, f), "posix",
                 fcntl.LOCK_EX | fcntl.LOCK_NB, 0, 0)
    if recv(c2, "try")[0] != "error":
        fail("a held fcntl lock was granted to the other machine")
    p2.join()
    c1.send("close")
    recv(c1, "close")
    p3, c3 = run(tryer, os.path.join(b, f), "posix",
                 fcntl.LOCK_EX | fcntl.LOCK_NB, 0, 0)
    r = recv(c3, "try")
    if r[0] != "held":
        fail("the lock outlived the close of another descriptor of its "
             "file: %r" % (r,))
    c3.send("go")
    recv(c3, "close")
    p3.join()
    c1.send("end")
    p1.join()
    print("fcntl: closing any descriptor of the file frees the "
          "process's locks on every machine", flush=True)


def counter(conn, path, kind, rounds):
    for _ in range(rounds):
        fd = os.open(path, os.O_RDWR)
        if kind == "flock":
            fcntl.flock(fd, fcntl.LOCK_EX)
        else:
            fcntl.lockf(fd, fcntl.LOCK_EX)
        v = int(os.pread(fd, 64, 0).decode() or "0")
        data = str(v + 1).encode()
        os.pwrite(fd, data, 0)
        if kind != "flock":
            fcntl.lockf(fd, fcntl.LOCK_UN)
        os.close(fd)
    conn.send("done")


def check_counter(a, b, kind, per=2, rounds=20):
    f = "counter-" + kind
    with open(os.path.join(a, f), "w") as fh:
        fh.write("0")
    t0 = time.monotonic()
    procs = [run(counter, os.path.join(m, f), kind, rounds)
             for m in (a, b) for _ in range(per)]
    for p, c in procs:
        recv(c, "count", WAIT * 8)
        p.join()
    secs = time.monotonic() - t0
    for m in (a, b):
        fd = os.open(os.path.join(m, f), os.O_RDONLY)
        got = int(os.pread(fd, 64, 0).decode() or "0")
        os.close(fd)
        if got != 2 * per * rounds:
            fail("%s counter read through %s: %d, want %d (an increment "
                 "lost: no mutual exclusion, or stale data under the "
                 "lock)" % (kind, m, got, 2 * per * rounds))
    print("%s: %d processes on two machines incremented one counter %d "
          "times under the lock: %d, none lost (%.1f s, %.0f ms per "
          "locked increment)" % (kind, 2 * per, 2 * per * rounds,
                                 2 * per * rounds, secs,
                                 secs * 1000 / (2 * per * rounds)),
          flush=True)


def creator(conn, path, barrier):
    barrier.wait()
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        os.close(fd)
        conn.send("ok")
    except OSError as e:
        conn.send("error %s" % errno.errorcode.get(e.errno, e.errno))


def check_create_race(a, b, rounds=100):
    """Two machines open(O_CREAT) one new name at the same moment: both
    must succeed (one creates it, the other opens it), as on one machine."""
    for i in range(rounds):
        barrier = mp.Barrier(2)
        name = "race-%d" % i
        procs = [run(creator, os.path.join(m, name), barrier)
                 for m in (a, b)]
        for (p, c), m in zip(procs, (a, b)):
            r = recv(c, "create")
            p.join()
            if r != "ok":
                fail("round %d: open(O_CREAT) of a name the other machine "
                     "created at the same moment, through %s: %s"
                     % (i, m, r))
    print("open(O_CREAT) of one new name on two machines at once: both "
          "succeed, %d rounds" % rounds, flush=True)


def upgrader(conn, path, barrier):
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_SH)
    barrier.wait()
    fcntl.flock(fd, fcntl.LOCK_EX)  # converts: gives the shared one up
    conn.send("ex")
    time.sleep(0.3)
    os.close(fd)


def check_flock_upgrade(a, b):
    """Two holders of a shared flock on two machines both ask for it
    exclusive: as on Linux, a conversion gives the old lock up first, so
    one gets it, then the other (no deadlock)."""
    barrier = mp.Barrier(2)
    procs = [run(upgrader, os.path.join(m, "upgrade-f"), barrier)
             for m in (a, b)]
    for p, c in procs:
        recv(c, "convert its flock to exclusive")
        p.join()
    print("flock: two shared holders on two machines converting to "
          "exclusive both get it in turn", flush=True)


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "checks":
        a, b = sys.argv[2], sys.argv[3]
        check_create_race(a, b)
        check_flock(a, b)
        check_flock_upgrade(a, b)
        check_ranges(a, b)
        check_shared(a, b)
        check_eintr(a, b)
        check_close(a, b)
        check_counter(a, b, "flock")
        check_counter(a, b, "fcntl")
        return
    if len(sys.argv) == 4 and sys.argv[1] == "hold":
        fd = os.open(os.path.join(sys.argv[2], sys.argv[3]),
                     os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX)
        print("held", flush=True)
        while True:
            time.sleep(60)
    if len(sys.argv) == 5 and sys.argv[1] == "take":
        fd = os.open(os.path.join(sys.argv[2], sys.argv[3]),
                     os.O_RDWR | os.O_CREAT, 0o644)
        t0 = time.monotonic()
        signal.alarm(int(sys.argv[4]))
        fcntl.flock(fd, fcntl.LOCK_EX)
        signal.alarm(0)
        print(json.dumps({"waited_s": round(time.monotonic() - t0, 2)}),
              flush=True)
        return
    print(__doc__, file=sys.stderr)
    sys.exit(2)


if __name__ == "__main__":
    mp.set_start_method("fork")
    main()
