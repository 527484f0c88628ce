#!/usr/bin/env bash
# store_cas.sh: compare-and-swap and deletes on the object store.
#
# 4 daemons on loopback (127.0.16.x, a free port; k=3, repair every 2 s,
# tombstones kept TTL seconds):
#   1. CAS: `objtool cas` runs 8 clients (threads, one connection each)
#      spread over 2 of the daemons, incrementing counters on the same 10
#      keys by read-version / write-if-version (create if absent), retrying
#      on CONFLICT.  Every final counter, read through both daemons, must
#      equal the increments acknowledged for it; no write may end with an
#      unknown outcome on this healthy overlay.
#   2. Deletes: put objects, rm them, every daemon reads "not found"; then
#      forced repair passes on every node, and still not found.
#   3. A stale replica: put objects, kill -9 a node holding replicas of
#      them, rm them all while it is down, restart it from its data dir
#      (its old live copies come back with it); after repair passes on every
#      node the objects must still be gone: tombstones win over the stale
#      copies.
#   4. Tombstone expiry: after TTL the tombstones are dropped (verify counts
#      none) and the objects stay gone.
#
# Environment: SEED, PORT, ITERS (CAS increments per client, default 250), TTL
# (tombstone TTL in s, default 40), HB, BUILD, KEEP=1.
TEST_TIMEOUT=${TEST_TIMEOUT:-600}
. "$(dirname "$0")/../lib/common.sh"
require_tools

OBJTOOL=$BUILD/tests/objtool
if [ ! -x "$OBJTOOL" ] || [ "$ROOT/tests/objtool.c" -nt "$OBJTOOL" ]; then
	make -s -C "$ROOT" "${BUILD#"$ROOT"/}/tests/objtool" >/dev/null ||
		fail "cannot build tests/objtool"
fi

command -v jq >/dev/null || skip "jq is not installed"

K=3
ITERS=${ITERS:-250}
TTL=${TTL:-40}
SEED=${SEED:-$(($$ % 10000))}
DOPTS=(-k "$K" --repair-interval 2 --tombstone-ttl "$TTL" --store-size 1024)
PORT=${PORT:-$(free_port)}
ip_of() { echo "127.0.16.$1:$PORT"; }
log "seed $SEED, k=$K, tombstone ttl ${TTL}s"

# Fail if a daemon expected alive died, or a sanitizer complained.
daemons_healthy() {
	local n
	for n in "${ALIVE[@]}"; do
		running "$n" || {
			tail -20 "$T/$n.log"
			fail "$n died on its own"
		}
	done
	if grep -l "ERROR: AddressSanitizer\|runtime error:" "$T"/*.log \
		2>/dev/null; then
		grep -h -A15 "ERROR: AddressSanitizer\|runtime error:" \
			"$T"/*.log | head -60
		fail "sanitizer report in a daemon log"
	fi
}

# Completed repair passes in NAME's log; passes_ge NAME N: at least N.
passes() { grep -c "repair pass [0-9]*:" "$T/$1.log"; }
passes_ge() { [ "$(passes "$1")" -ge "$2" ]; }

# Ask every node for a repair pass now, then wait until each has finished
# two more passes (the first may have started before the call).
repair_all() {
	local n out
	declare -A before=()
	for n in "${ALIVE[@]}"; do before[$n]=$(passes "$n"); done
	out=$("$CANCTL" -d "$(addr_of "${ALIVE[0]}")" repair --all 2>&1) ||
		fail "canctl repair --all failed: $out"
	for n in "${ALIVE[@]}"; do
		wait_for 60 passes_ge "$n" $((before[$n] + 2)) ||
			fail "$n did not finish two repair passes within 60s"
	done
	log "repair passes done on ${#ALIVE[@]} nodes"
}

# Every live node reads every object of manifest $1 as absent.
all_absent() {
	local m=$1 label=$2 n out
	for n in "${ALIVE[@]}"; do
		if ! out=$("$OBJTOOL" check --absent -q -d "$(addr_of "$n")" \
			-m "$m" 2>"$T/absent.err"); then
			printf '%s\n' "$out"
			head -12 "$T/absent.err"
			fail "$label: not every object reads as absent through $n"
		fi
		log "  via $n: $out"
	done
}

# verify through a node: prints its JSON; exit 0 only when every live
# object has all its good copies.
verify_json() {
	"$CANCTL" -d "$(addr_of "${ALIVE[0]}")" -t 10000 verify --json
}

# Poll verify until it sees every live node and no live key is short of
# good copies (60 s at most); print its JSON, keep it in VERIFY.
wait_verified() {
	local out ok=false
	for _ in $(seq 60); do
		out=$(verify_json 2>/dev/null) || out=${out:-'{}'}
		ok=$(printf '%s\n' "$out" | jq --argjson n "${#ALIVE[@]}" \
			'.nodes == $n and .unreachable == 0 and
			.under_replicated == 0 and .corrupt == 0' 2>/dev/null)
		[ "$ok" = true ] && break
		sleep 1
	done
	printf '%s\n' "$out" | jq -c . 2>/dev/null || printf '%s\n' "$out"
	[ "$ok" = true ] || fail "verify did not come clean within 60s"
	VERIFY=$out
}

# --- 4 daemons
start_cluster 4 "${DOPTS[@]}"

# --- 1. compare-and-swap counters
log "cas: 8 clients over $(addr_of n1) and $(addr_of n2), 10 keys," \
	"$ITERS increments each"
if ! "$OBJTOOL" cas -d "$(addr_of n1),$(addr_of n2)" -s "$SEED" --keys 10 \
	--clients 8 --iters "$ITERS" -q >"$T/cas.out" 2>"$T/cas.err"; then
	cat "$T/cas.out"
	head -20 "$T/cas.err"
	fail "compare-and-swap counters are wrong or writes failed"
fi
cat "$T/cas.out"
grep -q "every counter matches" "$T/cas.out" || fail "cas printed no verdict"
grep -q " 0 ambiguous writes, 0 errors" "$T/cas.out" ||
	fail "cas had ambiguous writes or errors on a healthy overlay"
daemons_healthy

# --- 2. put, rm, get -> not found; still after repair
M1=$T/m1
"$OBJTOOL" put -q -d "$(addr_of n1),$(addr_of n3)" -n 300 -s "$SEED" \
	--max 65536 -m "$M1" >"$T/put1.out" 2>&1 || {
	cat "$T/put1.out"
	fail "put of 300 objects failed"
}
cat "$T/put1.out"
"$OBJTOOL" check -q -d "$(addr_of n4)" -m "$M1" ||
	fail "objects just written are not readable"
"$OBJTOOL" rm -q -d "$(addr_of n2)" -m "$M1" || fail "rm failed"
log "deleted; every node must answer not found"
all_absent "$M1" "after rm"
repair_all
all_absent "$M1" "after rm and a repair pass"
wait_verified
tomb=$(printf '%s\n' "$VERIFY" | jq .tombstones)
[ "$tomb" -ge 300 ] || fail "verify counts $tomb tombstones, want >= 300"
daemons_healthy

# --- 3. a node with stale live copies comes back after the deletes
M2=$T/m2
s2=$((SEED + 1))
"$OBJTOOL" put -q -d "$(addr_of n1),$(addr_of n2)" -n 300 -s "$s2" \
	--max 65536 -m "$M2" >"$T/put2.out" 2>&1 || {
	cat "$T/put2.out"
	fail "put of 300 more objects failed"
}
cat "$T/put2.out"
wait_verified
held=$(python3 -c 'import sys, canwire, struct
c = canwire.Conn(sys.argv[1]); start = 0; n = 0
while True:
    t, f, b = c.request(0x0205, struct.pack("<I", start))
    if t != 0x0206: break
    cnt = struct.unpack_from("<I", b, 1)[0]; n += cnt; start += cnt
    if not f & 1: break
print(n)' "$(addr_of n4)")
log "n4 holds $held replicas; kill -9 n4, delete the 300 objects while" \
	"it is down"
kill9 n4
"$OBJTOOL" rm -q -r 3 -d "$(addr_of n1),$(addr_of n2)" -m "$M2" ||
	fail "rm with a node down failed"
all_absent "$M2" "after rm with n4 down"
log "restart n4 from its data dir (its live copies are stale)"
start_node n4 "$(addr_of n4)" "" "${DOPTS[@]}"
wait_active n4 60
check_overlay --points 100 --wait 30 -q >"$T/overlay.out" 2>&1 || {
	cat "$T/overlay.out"
	fail "the overlay is not right after n4 came back"
}
repair_all
all_absent "$M2" "after n4 came back with stale copies and repair ran"
all_absent "$M1" "(first batch) after n4 came back"
wait_verified
daemons_healthy

# --- 4. tombstones expire; objects stay gone
log "waiting for tombstones to expire (ttl ${TTL}s)"
deadline=$(($(now_ms) + (TTL + 60) * 1000))
while :; do
	out=$(verify_json 2>/dev/null) || out=${out:-'{}'}
	tomb=$(printf '%s\n' "$out" | jq '.tombstones // -1')
	[ "$tomb" = 0 ] && break
	[ "$(now_ms)" -ge "$deadline" ] && {
		printf '%s\n' "$out"
		fail "tombstones still listed $((TTL + 60))s after the deletes"
	}
	sleep 2
done
log "tombstones expired: $(printf '%s\n' "$out" | jq -c .)"
repair_all
all_absent "$M1" "after the tombstones expired"
all_absent "$M2" "after the tombstones expired"
"$OBJTOOL" cas -d "$(addr_of n3),$(addr_of n4)" -s "$SEED" --keys 10 \
	--clients 2 --iters 20 -q >"$T/cas2.out" 2>&1 ||
	{ cat "$T/cas2.out"; fail "the counters are wrong at the end"; }
tail -1 "$T/cas2.out"
daemons_healthy
log "PASS"
