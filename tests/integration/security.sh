#!/usr/bin/env bash
# security.sh: only holders of the cluster secret get in; the wire is
# tamper-proof; floods do not take the daemon down.
#
# Three daemons on 127.0.4.x:27404 share a secret made by 'canctl
# init-secret'.  Then:
#   1. key file rules: a group-readable key is refused at start; the data
#      directory is kept 0700 (tightened if looser); the local socket is
#      0660 with the --socket-group given.
#   2. a 4th daemon with a wrong secret, and a 5th with none, cannot join:
#      each is refused at the handshake with a clear log line on both
#      sides, and the zones of the overlay are unchanged.
#   3. canctl with no secret, with a wrong secret, and a raw client
#      sending plaintext frames cannot GET or PUT over TCP: all refused,
#      the object unchanged.  (The Unix socket needs no secret: its mode
#      and group decide who connects.)
#   4. a man-in-the-middle proxy between canctl and a daemon flips one bit
#      of a record (either direction) or replays one: the record is
#      rejected, the connection closed with a logged reason, and nothing
#      is stored.
#   5. floods on loopback, bounded in count and time: 500 half-open
#      connections; 1 MiB of junk; frame headers claiming 4 GiB bodies; a
#      client that pipelines 400000 STATUS requests and never reads (80 MiB
#      of replies: cut off at the 64 MiB output cap), and one that
#      pipelines 6000 PUTs while two replicas are stopped (cut off at 4096
#      requests in flight).
#      Meanwhile canctl get keeps working (each within 5 s), and the
#      attacked daemon's peak RSS (VmHWM) stays below RSS_LIMIT_MB.
#   6. afterwards: the overlay still has 3 nodes, the data is intact.
TEST_TIMEOUT=${TEST_TIMEOUT:-300}
HB=${HB:-1000} # section 5 stops a daemon for a few seconds: with
FAIL_AFTER=10  # these, 10 s of silence before it is declared failed
. "$(dirname "$0")/../lib/common.sh"
require_tools

# Peak RSS allowed for the attacked daemon.  The never-reading client can
# pin at most CONN_OUTPUT_CAP (64 MiB) of replies in its output buffer;
# the rest is the baseline (about 20 MiB) and a 4 MiB object.
# ASan's shadow memory and quarantine multiply it (run.sh sets
# CANFS_SANITIZED for its ASan+UBSan runs).
if [ "${CANFS_SANITIZED:-0}" = 1 ]; then
	RSS_LIMIT_MB=${RSS_LIMIT_MB:-640}
else
	RSS_LIMIT_MB=${RSS_LIMIT_MB:-160}
fi

P=27404
A=127.0.4.1:$P B=127.0.4.2:$P C=127.0.4.3:$P
X=127.0.4.4:$P Y=127.0.4.5:$P
PROXY=127.0.4.9:$P
KEY=$T/secret BAD=$T/wrong LOOSE=$T/loose
SOCK=$T/s1.sock

ctl() { "$CANCTL" --secret-file "$KEY" "$@"; }

# Nodes in the overlay as walked from $1 (0 when it cannot be asked).
node_count() {
	ctl -t 2000 -d "$1" zones --json 2>/dev/null |
		python3 -c 'import json, sys; print(len(json.load(sys.stdin)))' \
		2>/dev/null || echo 0
}

# wait_nodes ADDR N [TIMEOUT_S]: the walk from ADDR finds N nodes.
wait_nodes() {
	local addr=$1 want=$2 limit=${3:-20} start
	start=$(now_ms)
	until [ "$(node_count "$addr")" = "$want" ]; do
		[ $(($(now_ms) - start)) -ge $((limit * 1000)) ] &&
			fail "the walk from $addr did not find $want nodes"
		sleep 0.2
	done
}

# The zone map as one line per node (id, addr, zones), sorted.
zone_map() {
	ctl -d "$A" zones --json | python3 -c '
import json, sys
for n in json.load(sys.stdin):
    print(n["id"], n["addr"], json.dumps(n["zones"], sort_keys=True))'
}

# expect_log NAME PATTERN: the daemon logged a line matching PATTERN
# (waiting up to 5 s for it).
expect_log() {
	wait_for 5 grep -qE -- "$2" "$T/$1.log" || {
		tail -20 "$T/$1.log"
		fail "$1.log has no line matching '$2'"
	}
	log "$1 logged: $(grep -E -- "$2" "$T/$1.log" | tail -1 | cut -c1-200)"
}

# expect_fail WHAT PATTERN CMD...: CMD fails and says PATTERN.
expect_fail() {
	local what=$1 pat=$2 out
	shift 2
	if out=$("$@" 2>&1 </dev/null); then
		fail "$what succeeded: $out"
	fi
	printf '%s\n' "$out" | grep -qE -- "$pat" ||
		fail "$what failed without saying '$pat': $out"
	log "$what refused: $(printf '%s' "$out" | tail -1 | cut -c1-200)"
}

# The value and version of object sec-obj (through the Unix socket).
obj_state() {
	"$CANCTL" -d "unix:$SOCK" get --json sec-obj |
		python3 -c 'import json, sys; print(json.load(sys.stdin)["version"])'
	"$CANCTL" -d "unix:$SOCK" get sec-obj
}

# Peak resident set of a daemon, in MiB.
peak_rss_mb() {
	awk '/^VmHWM:/ { print int($2 / 1024) }' "/proc/$(pid_of "$1")/status"
}

# ------------------------------------------------------------- 1. setup
"$CANCTL" init-secret "$KEY" >/dev/null || fail "init-secret failed"
"$CANCTL" init-secret "$BAD" >/dev/null || fail "init-secret failed"
[ "$(stat -c %a "$KEY")" = 600 ] || fail "secret not created 0600"
expect_fail "init-secret over an existing file" "never overwritten" \
	"$CANCTL" init-secret "$KEY"
cp "$KEY" "$LOOSE" && chmod 640 "$LOOSE"
expect_fail "canfsd with a group-readable key" "group or others" \
	timeout 10 "$CANFSD" --config none -f -l 127.0.4.8:$P -d "$T/loose" -s none --secret-file "$LOOSE"

# A group other than ours when we may chown to it (root), else our own.
GROUP=$(getent group nogroup | cut -d: -f3)
[ "$(id -u)" -eq 0 ] && [ -n "$GROUP" ] || GROUP=$(id -g)
start_node s1 "$A" "" --secret-file "$KEY" -s "$SOCK" --socket-group "$GROUP" \
	--fail-after "$FAIL_AFTER"
wait_nodes "$A" 1
mkdir -m 755 "$T/s2" # a data directory that others could read
start_node s2 "$B" "$A" --secret-file "$KEY" --fail-after "$FAIL_AFTER"
wait_nodes "$A" 2
start_node s3 "$C" "$B" --secret-file "$KEY" --fail-after "$FAIL_AFTER"
wait_nodes "$A" 3
expect_log s1 "TCP connections are authenticated and encrypted"

[ "$(stat -c %a "$T/s1")" = 700 ] || fail "data dir s1 is not 0700"
[ "$(stat -c %a "$T/s2")" = 700 ] || fail "data dir s2 was not tightened"
expect_log s2 "making it 0700"
[ "$(stat -c '%a %g' "$SOCK")" = "660 $GROUP" ] ||
	fail "socket is $(stat -c '%a %g' "$SOCK"), not 660 $GROUP"
log "socket $(stat -c '%a %U:%g' "$SOCK"), data dirs 0700"

echo "original value" | ctl -d "$B" put sec-obj >/dev/null ||
	fail "put with the secret failed"
BEFORE=$(obj_state) || fail "get through the Unix socket failed"
log "sec-obj: $(echo "$BEFORE" | tr '\n' ' ')"
MAP=$(zone_map)

# ------------------------------------------------------------- 2. joins
start_node x "$X" "$A" --secret-file "$BAD"
sleep 3
[ "$(zone_map)" = "$MAP" ] || fail "the zones changed: $(zone_map)"
[ "$(node_count "$X")" = 0 ] || fail "x answers with the wrong secret"
expect_log s1 "secure handshake failed: authentication failed"
expect_log x "authentication failed: the peer does not hold this cluster's secret"
kill9 x
start_node y "$Y" "$A"
sleep 3
[ "$(zone_map)" = "$MAP" ] || fail "the zones changed: $(zone_map)"
expect_log s1 "plaintext canfs frame: it runs without the cluster secret"
expect_log y "wants a secure session but this daemon has no cluster secret"
kill9 y
log "wrong-secret and no-secret daemons refused; zones unchanged"

# ------------------------------------------------------------- 3. clients
expect_fail "get without a secret" "requires the cluster secret" \
	"$CANCTL" -d "$A" get sec-obj
expect_fail "put without a secret" "requires the cluster secret" \
	sh -c "echo evil | '$CANCTL' -d '$A' put sec-obj"
expect_fail "put with a wrong secret" "does not hold this cluster's secret" \
	sh -c "echo evil | '$CANCTL' --secret-file '$BAD' -d '$A' put sec-obj"
expect_fail "get with a wrong secret" "does not hold this cluster's secret" \
	"$CANCTL" --secret-file "$BAD" -d "$A" get sec-obj

cat >"$T/raw.py" <<'EOF'
"""A client with no secret speaking plaintext: PUT then GET over TCP.
Exit 0 when the daemon answers neither (it closes the connection)."""
import socket, struct, sys
import canwire as w

host, port = sys.argv[1].rsplit(":", 1)
OBJ_GET, OBJ_PUT = 0x0301, 0x0303


def obj_body(data):
    # dims 0, key 1:1, index, cond, cond_version, meta (4 x u64, u32),
    # op id (2 x u64), data
    return (struct.pack("<BQQBBQQQQQIQQ", 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0,
                        0, 0)
            + struct.pack("<I", len(data)) + data)


for t, body in ((OBJ_PUT, obj_body(b"evil")), (OBJ_GET, obj_body(b""))):
    s = socket.create_connection((host, int(port)), timeout=5)
    s.sendall(w.frame(t, body, reqid=7))
    got = b""
    try:
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            got += chunk
    except (ConnectionResetError, socket.timeout):
        pass
    s.close()
    if got[:4] == b"CANF":
        print("the daemon answered a plaintext request")
        sys.exit(1)
    print("type %#x: %d bytes back (%s), then closed" %
          (t, len(got), "a secure HELLO" if got[:4] == b"CANS" else "-"))
EOF
python3 "$T/raw.py" "$A" || fail "a raw plaintext client got an answer"
[ "$(obj_state)" = "$BEFORE" ] || fail "sec-obj changed: $(obj_state)"
log "clients without the secret refused; sec-obj unchanged"

# ------------------------------------------------------------- 4. MITM
cat >"$T/mitm.py" <<'EOF'
"""A man in the middle between a client and a daemon, for one connection.

mode flip-up / flip-down: flip one bit of the first record sent by the
client / the daemon; replay-up: send the client's first record twice.
The handshake (HELLO + AUTH, 128 bytes each way) passes untouched."""
import socket, sys, threading

listen, target, mode = sys.argv[1], sys.argv[2], sys.argv[3]
HS = 72 + 56  # HELLO + AUTH
lh, lp = listen.rsplit(":", 1)
th, tp = target.rsplit(":", 1)
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind((lh, int(lp)))
srv.listen(4)
srv.settimeout(20)
print("ready", flush=True)
cli, _ = srv.accept()
up = socket.create_connection((th, int(tp)), timeout=20)
cli.settimeout(20)


def pump(src, dst, tamper):
    """Copy src to dst; past the handshake, tamper with the first record."""
    passed, held, done = 0, b"", not tamper
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            if done:
                dst.sendall(data)
                continue
            if passed < HS:  # the handshake goes through at once
                n = min(HS - passed, len(data))
                dst.sendall(data[:n])
                passed += n
                data = data[n:]
            held += data
            if len(held) < 4:
                continue
            end = 4 + int.from_bytes(held[:4], "little")
            if len(held) < end:
                continue
            if mode.startswith("flip"):
                b = bytearray(held)
                b[4 + 5] ^= 0x10  # one bit of the ciphertext
                out = bytes(b)
                print("flipped one bit of a %d-byte record" % end, flush=True)
            else:
                out = held[:end] + held  # the record, then again
                print("replayed a %d-byte record" % end, flush=True)
            dst.sendall(out)
            done = True
    except OSError:
        pass
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


a = threading.Thread(target=pump, args=(cli, up, mode.endswith("-up")))
b = threading.Thread(target=pump, args=(up, cli, mode == "flip-down"))
a.start(); b.start(); a.join(); b.join()
EOF

# mitm MODE: start the proxy for one connection; sets MITM_PID.
mitm() {
	python3 "$T/mitm.py" "$PROXY" "$A" "$1" >"$T/mitm-$1.out" 2>&1 &
	MITM_PID=$!
	for _ in $(seq 50); do
		grep -q ready "$T/mitm-$1.out" && return
		sleep 0.1
	done
	fail "the MITM proxy did not start"
}

# The proxy itself works: an untampered connection through it succeeds.
mitm pass
ctl -d "$PROXY" status --local >/dev/null || fail "status through the proxy failed"
wait "$MITM_PID"

n0=$(grep -c "record failed authentication" "$T/s1.log")
mitm flip-up
expect_fail "put through a bit-flipping proxy" "closed by the daemon" \
	sh -c "echo tampered | '$CANCTL' --secret-file '$KEY' -d '$PROXY' put sec-obj"
wait "$MITM_PID"
expect_log s1 "client #[0-9]+ \(127.0.0.1\): record failed authentication \(altered"
[ "$(obj_state)" = "$BEFORE" ] || fail "sec-obj changed: $(obj_state)"

mitm flip-down
expect_fail "get through a bit-flipping proxy" \
	"bad record from the daemon: record failed authentication" \
	ctl -d "$PROXY" get sec-obj
wait "$MITM_PID"

sleep 1.1 # past the rate limit of the warning
mitm replay-up
ctl -d "$PROXY" status --local >/dev/null 2>&1 # the first copy may be answered
wait "$MITM_PID"
sleep 0.3
n1=$(grep -c "record failed authentication" "$T/s1.log")
[ "$n1" -ge $((n0 + 2)) ] ||
	fail "the replayed record was not rejected ($n0 -> $n1 log lines)"
[ "$(obj_state)" = "$BEFORE" ] || fail "sec-obj changed: $(obj_state)"
log "tampered and replayed records rejected; sec-obj unchanged"

# ------------------------------------------------------------- 5. floods
head -c $((4 << 20)) /dev/urandom >"$T/big"
BIGKEY=0123456789abcdef0123456789abcdef
ctl -d "$A" put --hex "$BIGKEY" <"$T/big" >/dev/null || fail "big put failed"
log "s1 peak RSS before the floods: $(peak_rss_mb s1) MiB"

# get_works [MS]: a legitimate client is served within MS (default 5000)
# milliseconds, data intact.
get_works() {
	local t0 out
	t0=$(now_ms)
	out=$(ctl -t "${1:-5000}" -d "$A" get sec-obj 2>&1) ||
		fail "a legitimate get failed during the flood: $out"
	[ "$out" = "$(echo "$BEFORE" | tail -1)" ] || fail "get returned '$out'"
	log "legitimate get served in $(($(now_ms) - t0)) ms"
}

cat >"$T/flood.py" <<'EOF'
"""Floods, each bounded: halfopen N HOLD_S | junk | hugelen | noread N S."""
import os, socket, struct, sys, time
import canwire as w

kind, addr = sys.argv[1], sys.argv[2]


def dial():
    if addr.startswith("unix:"):
        s = socket.socket(socket.AF_UNIX)
        s.connect(addr[5:])
        return s
    h, p = addr.rsplit(":", 1)
    return socket.create_connection((h, int(p)), timeout=5)


def closed(s, timeout):
    """True when the daemon closes s within timeout (whatever it sent)."""
    s.settimeout(timeout)
    try:
        while s.recv(65536):
            pass
        return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


if kind == "halfopen":
    n, hold = int(sys.argv[3]), float(sys.argv[4])
    socks = []
    for i in range(n):
        s = dial()
        if i % 2:
            s.sendall(b"CANS\x01")  # a HELLO that never ends
        socks.append(s)
    print("opened %d connections" % n, flush=True)
    time.sleep(hold)
    gone = sum(closed(s, 0.01) for s in socks)
    print("%d of %d closed by the daemon after %.0f s" % (gone, n, hold))
    sys.exit(0 if gone >= n - 128 else 1)
elif kind == "junk":
    s = dial()
    try:
        s.sendall(os.urandom(1 << 20))
    except OSError:
        pass
    sys.exit(0 if closed(s, 3) else 1)
elif kind == "hugelen":
    ok = True
    for n in (0xFFFFFFFF, w.MAX_BODY + 1):
        s = dial()
        s.sendall(w.header(w.STATUS_REQ, n))
        ok = closed(s, 3) and ok
    sys.exit(0 if ok else 1)
elif kind == "noread":
    # Pipeline requests and never read a reply.  status: N STATUS_REQs
    # (answered at once: the replies pile up in the daemon's output);
    # put: N one-byte PUTs (each waits for its replicas' acks: they pile
    # up as requests in flight while the other replicas are stopped).
    what, n, hold = sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
    if what == "status":
        one = w.frame(w.STATUS_REQ, b"", reqid=1)
    else:
        body = (struct.pack("<BQQBBQQQQQIQQ", 0, 0xdead, 0xbeef, 0, 0, 0,
                            0, 0, 0, 0, 0, 0, 0)
                + struct.pack("<I", 1) + b"x")
        one = w.frame(0x0303, body, reqid=1)
    s = dial()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(hold)
    sent = 0
    try:
        for i in range(0, n, 1000):
            s.sendall(one * min(1000, n - i))
            sent += min(1000, n - i)
        print("sent %d requests; not reading" % sent, flush=True)
        if what == "status":
            time.sleep(hold)
        elif closed(s, hold):  # no reply can come: only the close
            print("the daemon closed the connection", flush=True)
    except OSError as e:
        print("sent %d requests, then the daemon cut us off (%s)" %
              (sent, e.strerror or e), flush=True)
    s.close()
EOF

# Half-open: 500 connections that never finish the handshake.
python3 "$T/flood.py" halfopen "$A" 500 7 >"$T/halfopen.out" 2>&1 &
HALF=$!
sleep 2
get_works
get_works
wait "$HALF" || { cat "$T/halfopen.out"; fail "half-open connections stayed"; }
log "$(tail -1 "$T/halfopen.out")"
expect_log s1 "unauthenticated connections: dropping the oldest"
expect_log s1 "no secure handshake within 5 s"

# Junk and absurd lengths, on TCP and on the Unix socket.
python3 "$T/flood.py" junk "$A" || fail "1 MiB of junk did not close"
python3 "$T/flood.py" hugelen "$A" || fail "huge lengths (TCP) not dropped"
python3 "$T/flood.py" hugelen "unix:$SOCK" || fail "huge lengths not dropped"
expect_log s1 "body too long|length"
get_works

# A client that pipelines requests and never reads: 400000 STATUS_REQs
# (80 MiB of replies would pile up in s1's output buffer).
python3 "$T/flood.py" noread "unix:$SOCK" status 400000 10 \
	>"$T/noread.out" 2>&1 &
NOREAD=$!
sleep 1
get_works
wait "$NOREAD"
log "$(cat "$T/noread.out")"
expect_log s1 "output buffer over [0-9]+ bytes; dropping slow peer"

# 6000 PUTs that cannot be answered while two of the three replicas are
# stopped (a write needs the primary and a majority), for well under the
# 10 s of failure detection.
kill -STOP "$(pid_of s2)" "$(pid_of s3)"
python3 "$T/flood.py" noread "unix:$SOCK" put 6000 4 >"$T/noread.out" 2>&1
kill -CONT "$(pid_of s2)" "$(pid_of s3)"
log "$(cat "$T/noread.out")"
expect_log s1 "more than [0-9]+ requests in flight; dropping connection"
get_works 15000 # the 4096 accepted PUTs go first (slow under ASan)
rss=$(peak_rss_mb s1)
log "s1 peak RSS over all floods: $rss MiB (limit $RSS_LIMIT_MB MiB)"
[ "$rss" -le "$RSS_LIMIT_MB" ] || fail "peak RSS $rss MiB over $RSS_LIMIT_MB"

# ------------------------------------------------------------- 6. after
for n in s1 s2 s3; do running "$n" || fail "$n died"; done
wait_nodes "$A" 3
[ "$(zone_map)" = "$MAP" ] || fail "the zones changed: $(zone_map)"
[ "$(obj_state)" = "$BEFORE" ] || fail "sec-obj changed: $(obj_state)"
ctl -d "$C" get --hex "$BIGKEY" | cmp -s - "$T/big" ||
	fail "the 4 MiB object came back different"
log "PASS: cluster intact after every attack"
