#!/usr/bin/env bash
# store_batch.sh: batch requests (OBJ_BATCH) through a real overlay.
#
# 4 daemons on loopback (127.0.18.x, a free port; k=3, repair every 2 s).
#   1. canctl batch through n1 puts NFILES files of random sizes (0 bytes
#      to 256 KiB, and three of 3 MiB) "if absent": every command ok.
#   2. One mixed batch through n2: GETs, rewrites "if version V" with the
#      right V, a put "if version V-1", a put "if absent" of an existing
#      key and an rm "if version V+1" (these three must fail with a
#      conflict while everything around them succeeds), plain rms, and a
#      GET of a key never written (not found).  Each line's outcome is
#      checked, and every byte of what the GETs returned.
#   3. Every key read back in one canctl batch through each of the 4
#      daemons, every byte compared with what must be there, the deleted
#      ones not found.  The three 3 MiB values do not fit one batch reply
#      (4 MiB): a raw batch shows the daemon answering TOOBIG for the
#      rest, and canctl reads those alone.
#   4. objtool put/check/rm with --batch: NOBJ objects through n1 and n2 in
#      batches of 32, checked (size and xxh3) through n3 and n4 in batches
#      of 64 and singly, deleted in batches of 256, checked absent.
#   5. canctl verify: every live object has its k good copies; no daemon
#      died, no sanitizer report.
#
# Environment: SEED, PORT, NFILES (default 60), NOBJ (default 2000), HB,
# BUILD, KEEP=1.
TEST_TIMEOUT=${TEST_TIMEOUT:-600}
. "$(dirname "$0")/../lib/common.sh"
require_tools

OBJTOOL=$BUILD/tests/objtool
if [ ! -x "$OBJTOOL" ] || [ "$ROOT/tests/objtool.c" -nt "$OBJTOOL" ]; then
	make -s -C "$ROOT" "${BUILD#"$ROOT"/}/tests/objtool" >/dev/null ||
		fail "cannot build tests/objtool"
fi
"$CANCTL" --help 2>&1 | grep -q '^ *batch \[FILE\]' ||
	skip "this canctl has no 'batch' command"
command -v jq >/dev/null || skip "jq is not installed"

K=3
NFILES=${NFILES:-60}
NOBJ=${NOBJ:-2000}
SEED=${SEED:-$(($$ % 10000))}
RANDOM=$SEED
DOPTS=(-k "$K" --repair-interval 2 --store-size 2048)
PORT=${PORT:-$(free_port)}
ip_of() { echo "127.0.18.$1:$PORT"; }
log "seed $SEED, $NFILES files, $NOBJ objects, k=$K"

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

# ctl_batch NODE FILE OUT: canctl batch --json through NODE; OUT gets the
# JSON (one object per command); its exit status is ignored here, every
# line is checked by the caller.
ctl_batch() {
	"$CANCTL" -d "$(addr_of "$1")" -t 30000 --json batch "$2" >"$3" \
		2>"$3.err"
	local rc=$?
	[ "$rc" -le 1 ] || { cat "$3.err"; fail "canctl batch exited $rc"; }
	jq -e 'type == "array"' "$3" >/dev/null ||
		{ cat "$3" "$3.err"; fail "canctl batch printed no JSON array"; }
}

# status_of OUT LINE: the status of the command on input line LINE.
status_of() { jq -r --argjson l "$2" '.[] | select(.line == $l) | .status' "$1"; }
version_of() { jq -r --argjson l "$2" '.[] | select(.line == $l) | .version' "$1"; }

# --- 4 daemons
start_cluster 4 "${DOPTS[@]}"

# --- 1. the files, put in one batch "if absent"
mkdir -p "$T/in" "$T/new"
for i in $(seq 0 $((NFILES - 1))); do
	case $i in
	20 | 21 | 22) size=$((3 << 20)) ;;
	0) size=0 ;;
	*) size=$(( (RANDOM * 32768 + RANDOM) % (1 << $((RANDOM % 19))) )) ;;
	esac
	head -c "$size" /dev/urandom >"$T/in/f$i"
	head -c $(( (RANDOM % 5000) + 1 )) /dev/urandom >"$T/new/f$i"
	echo "put --if-absent batch-$SEED-f$i $T/in/f$i"
done >"$T/b1"
ctl_batch n1 "$T/b1" "$T/b1.json"
ok=$(jq '[.[] | select(.status == "ok")] | length' "$T/b1.json")
[ "$ok" -eq "$NFILES" ] || {
	jq -c '.[] | select(.status != "ok")' "$T/b1.json" | head
	fail "put batch: $ok of $NFILES ok"
}
declare -A VER=()
for i in $(seq 0 $((NFILES - 1))); do
	VER[$i]=$(version_of "$T/b1.json" $((i + 1)))
done
log "1. put $NFILES files ($(du -sh "$T/in" | cut -f1)) in one canctl" \
	"batch through n1: all ok"

# --- 2. one mixed batch through n2
# want[LINE] is the status line LINE must end with.
declare -A WANT=() GOT_FILE=()
line=0
{
	for i in $(seq 0 9); do		# GETs
		line=$((line + 1)); WANT[$line]=ok; GOT_FILE[$line]=$i
		echo "get batch-$SEED-f$i $T/got2-f$i"
	done
	for i in $(seq 10 14); do	# right versions: rewritten
		line=$((line + 1)); WANT[$line]=ok
		echo "put --if-version ${VER[$i]} batch-$SEED-f$i $T/new/f$i"
	done
	line=$((line + 1)); WANT[$line]=conflict	# stale version
	echo "put --if-version $((VER[15] - 1)) batch-$SEED-f15 $T/new/f15"
	line=$((line + 1)); WANT[$line]=conflict	# exists
	echo "put --if-absent batch-$SEED-f16 $T/new/f16"
	for i in 17 18; do		# deleted
		line=$((line + 1)); WANT[$line]=ok
		echo "rm batch-$SEED-f$i"
	done
	line=$((line + 1)); WANT[$line]=conflict	# wrong version
	echo "rm --if-version $((VER[19] + 1)) batch-$SEED-f19"
	line=$((line + 1)); WANT[$line]=notfound
	echo "get batch-$SEED-never-written $T/got2-none"
} >"$T/b2"
ctl_batch n2 "$T/b2" "$T/b2.json"
for l in "${!WANT[@]}"; do
	got=$(status_of "$T/b2.json" "$l")
	[ "$got" = "${WANT[$l]}" ] || {
		jq -c '.[]' "$T/b2.json"
		fail "mixed batch line $l ($(sed -n "${l}p" "$T/b2")): $got," \
			"want ${WANT[$l]}"
	}
done
for l in "${!GOT_FILE[@]}"; do
	i=${GOT_FILE[$l]}
	cmp -s "$T/in/f$i" "$T/got2-f$i" ||
		fail "mixed batch: GET of f$i returned other bytes"
done
[ ! -e "$T/got2-none" ] || fail "a GET that found nothing wrote a file"
jq -c '.[] | select(.status == "conflict")' "$T/b2.json" | sed 's/^/  /'
log "2. mixed batch through n2: $line commands, 3 conflicts and 1 not" \
	"found as they must, 10 GETs byte-exact"

# --- 3. everything read back through every daemon
expect_file() { # I: the file key f$I must hold now, or "" when deleted
	case $1 in
	1[0-4]) echo "$T/new/f$1" ;;
	17 | 18) echo "" ;;
	*) echo "$T/in/f$1" ;;
	esac
}
for n in n1 n2 n3 n4; do
	for i in $(seq 0 $((NFILES - 1))); do
		echo "get batch-$SEED-f$i $T/got3-$n-f$i"
	done >"$T/b3-$n"
	ctl_batch "$n" "$T/b3-$n" "$T/b3-$n.json"
	checked=0
	for i in $(seq 0 $((NFILES - 1))); do
		st=$(status_of "$T/b3-$n.json" $((i + 1)))
		want=$(expect_file "$i")
		if [ -z "$want" ]; then
			[ "$st" = notfound ] || fail "via $n: deleted f$i: $st"
			continue
		fi
		[ "$st" = ok ] || fail "via $n: f$i: $st ($(jq -r \
			--argjson l $((i + 1)) '.[] | select(.line == $l) |
			.error' "$T/b3-$n.json"))"
		cmp -s "$want" "$T/got3-$n-f$i" ||
			fail "via $n: f$i holds other bytes than it must"
		checked=$((checked + 1))
	done
	log "3. via $n: $checked values byte-exact, 2 deleted not found"
done
# The raw batch: the three 3 MiB values cannot all be in one reply.
hexes=$(jq -r '.[] | select(.line >= 21 and .line <= 23) | .hex' \
	"$T/b3-n1.json" | tr '\n' ' ')
python3 - "$(addr_of n3)" "$T/in" $hexes <<'EOF' || fail "raw batch of 3 MiB values"
import sys
import canwire as w
addr, indir, hexes = sys.argv[1], sys.argv[2], sys.argv[3:]
c = w.Conn(addr, timeout=30)
res = c.batch([(w.OBJ_GET, w.enc_obj(w.key_of_hex(h))) for h in hexes])
values = toobig = 0
for i, (kind, r) in enumerate(res):
    if kind == "value":
        want = open("%s/f%d" % (indir, 20 + i), "rb").read()
        assert r["data"] == want, "f%d: other bytes" % (20 + i)
        assert r["key"] == w.key_of_hex(hexes[i]), "a reply for another key"
        values += len(r["data"])
    else:
        assert kind == "error" and r[0] == 15, "item %d: %r" % (i, r)
        toobig += 1
assert values <= w.BATCH_MAX_DATA and toobig >= 1 and len(res) == 3
print("raw batch of three 3 MiB GETs: %d values (%d bytes), %d TOOBIG"
      % (3 - toobig, values, toobig))
EOF
daemons_healthy

# --- 4. objtool with batches
M=$T/manifest
"$OBJTOOL" put -q -d "$(addr_of n1),$(addr_of n2)" -n "$NOBJ" -s "$SEED" \
	--max 65536 -m "$M" -c 4 -w 4 --batch 32 >"$T/put.out" 2>&1 || {
	cat "$T/put.out"
	fail "objtool put --batch 32 failed"
}
log "4. $(cat "$T/put.out")"
for args in "-d $(addr_of n3) --batch 64" "-d $(addr_of n4)"; do
	# shellcheck disable=SC2086
	out=$("$OBJTOOL" check -q $args -m "$M" 2>"$T/check.err") || {
		echo "$out"
		head -20 "$T/check.err"
		fail "objtool check $args found problems"
	}
	log "   check $args: $out"
done
"$OBJTOOL" rm -q -d "$(addr_of n2)" -m "$M" -w 8 --batch 256 \
	>"$T/rm.out" 2>&1 || { cat "$T/rm.out"; fail "objtool rm --batch failed"; }
log "   $(cat "$T/rm.out")"
out=$("$OBJTOOL" check --absent -q -d "$(addr_of n1)" -m "$M" --batch 128 \
	2>"$T/absent.err") || {
	echo "$out"
	head "$T/absent.err"
	fail "objects deleted by batches are still readable"
}
log "   check --absent: $out"
daemons_healthy

# --- 5. replication
live=$((NFILES - 2))
for _ in $(seq 60); do
	out=$("$CANCTL" -d "$(addr_of n1)" -t 10000 verify --json 2>/dev/null) ||
		true
	ok=$(printf '%s\n' "$out" | jq --argjson live "$live" '.nodes == 4 and
		.unreachable == 0 and .full >= $live and
		.under_replicated == 0 and .corrupt == 0' 2>/dev/null)
	[ "$ok" = true ] && break
	sleep 1
done
[ "$ok" = true ] || { printf '%s\n' "$out"; fail "verify not clean within 60 s"; }
log "5. verify: $(printf '%s\n' "$out" | jq -c '{keys, full,
	under_replicated, corrupt, tombstones}')"
daemons_healthy
log "PASS"
