#!/usr/bin/env bash
# pending.sh: the daemon's outstanding requests (overlay/rpc.c) end as
# they should: retried, failed with an error, or dropped.
#
# Three daemons on 127.0.4.x (a free port, or $PORT), with a long failure
# window (--fail-after) so that a stopped daemon is not taken over.
#  - p2 joins through an address where nobody listens yet: its join is
#    resent (about every 3 s); p3 joins through p2, which refuses while
#    joining: p3 retries after a pause (about 1.5 s), not in a loop.  Then
#    p1 starts at that address and both join.
#  - p3 leaves; with p1 stopped (SIGSTOP), a lookup through p2 of a point
#    p1 owns fails after 5 s with "lookup timed out"; a client that goes
#    away while its lookup waits leaves the daemon serving.
#  - p2 leaves (SIGTERM) while its only heir, p1, is stopped: the handover
#    times out after 10 s and p2 leaves anyway.
. "$(dirname "$0")/../lib/common.sh"
require_tools

PORT=${PORT:-$(free_port)}
A1=127.0.4.1:$PORT
CANFSD_EXTRA="${CANFSD_EXTRA:-} --fail-after 250"

# count PATTERN NAME: lines of NAME's log that match.
count() { grep -c -- "$1" "$T/$2.log"; }

# --- joins: no answer, then refusals
start_node p2 "127.0.4.2:$PORT" "$A1"
start_node p3 "127.0.4.3:$PORT" "127.0.4.2:$PORT"
sleep 7
resent=$(count "no answer to our join yet; trying again" p2)
refused=$(count "join refused" p3)
attempts=$(count "joining the overlay through" p3)
log "p2 resent its join $resent times; p3 was refused $refused times in $attempts attempts"
[ "$resent" -ge 1 ] && [ "$resent" -le 3 ] ||
	fail "p2 should resend its join every 3 s (resent $resent times in 7 s)"
[ "$refused" -ge 2 ] && [ "$attempts" -le 7 ] ||
	fail "p3 should retry a refused join after a pause ($refused refusals, $attempts attempts in 7 s)"
is_active p2 && fail "p2 is active without an overlay to join"
start_node p1 "$A1"
wait_active p1
wait_active p2 20
wait_active p3 20
check_overlay --points 200 --wait 15 || fail "overlay not healthy after the joins"

# --- lookups: a stopped owner, a client that goes away
stop_leave p3
check_overlay --points 200 --wait 15 || fail "overlay not healthy after p3 left"
point=""
for p in 0,0 3000000000,0 0,3000000000 3000000000,3000000000; do
	owner=$("$CANCTL" -d "$(addr_of p2)" --json route "$p" | jq -r .owner.addr)
	[ "$owner" = "$A1" ] && { point=$p; break; }
done
[ -n "$point" ] || fail "no test point is owned by p1"
kill -STOP "$(pid_of p1)"
start=$(now_ms)
if out=$("$CANCTL" -d "$(addr_of p2)" -t 20000 route -N "$point" 2>&1); then
	fail "a lookup through p2 of a point of the stopped p1 succeeded: $out"
fi
took=$(($(now_ms) - start))
log "lookup with its owner stopped: '$out' after $took ms"
case $out in *"lookup timed out"*) ;; *) fail "expected 'lookup timed out', got: $out" ;; esac
[ "$took" -ge 4500 ] && [ "$took" -le 9000 ] ||
	fail "the lookup should time out after 5 s, not $took ms"
timeout 1 "$CANCTL" -d "$(addr_of p2)" -t 20000 route -N "$point" >/dev/null 2>&1
sleep 0.5
"$CANCTL" -d "$(addr_of p2)" status --local >/dev/null || fail "p2 stopped serving after its client went away"

# --- a handover whose heir does not answer
start=$(now_ms)
stop_term p2 30
took=$(($(now_ms) - start))
log "p2 left in $took ms with its heir stopped"
grep -q "handover to .* timed out" "$T/p2.log" || fail "p2 did not log the handover timeout"
grep -q "left the overlay" "$T/p2.log" || fail "p2 did not leave"
[ "$took" -ge 9500 ] || fail "p2 left before its handover could time out ($took ms)"
kill -CONT "$(pid_of p1)"
wait_active p1
log "PASS"
