#!/usr/bin/env python3
"""notify_listen.py: stand in for systemd's notification socket.

    notify_listen.py ADDRESS OUT [TIMEOUT_S]

Binds a Unix datagram socket at ADDRESS (a path, or '@name' in the
abstract namespace, as NOTIFY_SOCKET gives it), writes "listening" to OUT
once bound, then one line per datagram ("msg: " and its lines joined with
' | ') as they arrive, and "credentials: PID" lines naming the sender
(SO_PASSCRED, as systemd checks it).  Exits 0 once a datagram carrying
STOPPING=1 has arrived, 1 when TIMEOUT_S (default 60) passes first.
"""
import os
import socket
import sys
import time


def main():
    addr, out = sys.argv[1], sys.argv[2]
    limit = float(sys.argv[3]) if len(sys.argv) > 3 else 60.0
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    s.bind("\0" + addr[1:] if addr.startswith("@") else addr)
    end = time.monotonic() + limit
    with open(out, "a", buffering=1) as f:
        f.write("listening\n")
        while True:
            left = end - time.monotonic()
            if left <= 0:
                f.write("timeout\n")
                return 1
            s.settimeout(left)
            try:
                data, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(12))
            except socket.timeout:
                continue
            for level, kind, payload in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    pid = int.from_bytes(payload[0:4], sys.byteorder)
                    f.write("credentials: %d\n" % pid)
            lines = data.decode("utf-8", "replace").split("\n")
            f.write("msg: " + " | ".join(lines) + "\n")
            if "STOPPING=1" in lines:
                if not addr.startswith("@"):
                    os.unlink(addr)
                return 0


if __name__ == "__main__":
    sys.exit(main())
