#!/usr/bin/env bash
# fs_rename.sh: renames across machines never lose directories or data.
#
# Four daemons on 127.0.11.1-4, a free port, k=2; mount A through daemon
# 1, mount B through daemon 3 (and, for step 2, C through daemon 2 and D
# through daemon 4).
#   1. Cycle race, RENAME_ROUNDS rounds (default 20; SOAK=1: 1000): A makes a<i>/fa and
#      b<i>/fb, then A renames a<i> into b<i> while B renames b<i> into
#      a<i>, started together (tests/lib/renamerace.py go: each looks its
#      paths up, then waits for a trigger file).  In every round exactly one must
#      succeed and the other fail with EINVAL (a directory moved into its
#      own tree, as canfs sees it on fresh reads under the rename lease)
#      or ENOENT (the loser's kernel looked a path up again after the
#      winner's move, as its 1 s entry cache allows, and found it gone:
#      the renames did not overlap).  At least a quarter of the rounds
#      must end with EINVAL, or the renames did not race at all.
#      At the end both mounts must reach every directory and file from
#      the root: b<i>/a<i>/fa or a<i>/b<i>/fb, nothing left at the top.
#      Before the lease both renames succeeded in every round, and each
#      pair of directories was lost in a cycle.
#   2. Lease takeover: mount C (with CANFS_TEST_LEASE_HOLD_MS, which makes
#      it sit on the lease once taken) starts a directory move and is
#      killed (kill -9) while the lease names it.  Then on B a file moved
#      across directories is not held up (it needs no lease), on D
#      (io_timeout=5) a directory move fails with EIO after about 5 s
#      instead of hanging, and on B a directory move succeeds once the
#      lease has expired (C mounts with lock_lease=10: 10 s after B first
#      saw it, 8.3-20 s after the kill).  The lease
#      is free afterwards.
#   3. Replace race, REPLACE_ROUNDS rounds (default 10; SOAK=1: 100): A renames s<i>/x
#      over s<i>/t while B renames s<i>/t to u<i>/t2; and A renames the
#      directory S<i>/a (holding fa) over the empty directory S<i>/t while
#      B moves S<i>/t to U<i>/t2.  Through both mounts: x's data exists
#      exactly once, t's at most once, no name dangles, every directory
#      lists, fa exists exactly once.
#   4. canctl fsck --grace 0 of the whole tree is clean (exit 0): no
#      name without inode, inode without name, wrong link count or
#      orphan left by the races or by the killed lease holder.
# Skips (77) without FUSE.  Environment: HB, BUILD, KEEP=1, FS_TMPDIR,
# RENAME_ROUNDS, REPLACE_ROUNDS.
TEST_TIMEOUT=${TEST_TIMEOUT:-$(( ${SOAK:-0} == 1 ? 1800 : 300 ))}
[ -z "${FS_TMPDIR:-}" ] && [ -w /dev/shm ] && FS_TMPDIR=/dev/shm
[ -n "${FS_TMPDIR:-}" ] && export TMPDIR=$FS_TMPDIR
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/fs.sh"
require_tools
command -v jq >/dev/null || skip "jq is not installed"

# make test keeps it short; make soak (SOAK=1) runs the 1,000 rounds of #12.
ROUNDS=${RENAME_ROUNDS:-$(( ${SOAK:-0} == 1 ? 1000 : 20 ))}
RROUNDS=${REPLACE_ROUNDS:-$(( ${SOAK:-0} == 1 ? 100 : 10 ))}
RR="python3 $LIB/renamerace.py"
LEASE_S=10	# C's lock_lease: how long its rename lease outlives it

trap fs_cleanup EXIT

fs_cluster 127.0.11 4
A=$T/a B=$T/b C=$T/c D=$T/d
CANFS_OPTS="-o allow_other,log_level=info" mount_canfs "$A" "unix:$T/n1.sock"
mount_canfs "$B" "unix:$T/n3.sock"

# race SRC1 DST1 SRC2 DST2: both renames at once; sets R1 and R2.  Each
# helper looks its paths up first, then waits for the trigger file.
race() {
	rm -f "$T/ready1" "$T/ready2" "$T/go"
	$RR go "$T/ready1" "$T/go" "$1" "$2" >"$T/r1" 2>&1 &
	local p1=$!
	$RR go "$T/ready2" "$T/go" "$3" "$4" >"$T/r2" 2>&1 &
	local p2=$!
	wait_for 20 test -e "$T/ready1" -a -e "$T/ready2"
	touch "$T/go"
	wait "$p1" "$p2"
	R1=$(cat "$T/r1") R2=$(cat "$T/r2")
}

# ------------------------------------------------------------ 1. cycles
log "1. $ROUNDS rounds: a<i> -> b<i>/ on A against b<i> -> a<i>/ on B"
ok1=0 ok2=0 einval=0 enoent=0 bad=0
for i in $(seq 0 $((ROUNDS - 1))); do
	mkdir "$A/a$i" "$A/b$i" || fail "mkdir round $i"
	printf 'a%s' "$i" >"$A/a$i/fa"
	printf 'b%s' "$i" >"$A/b$i/fb"
	stat "$B/a$i" "$B/b$i" >/dev/null || fail "B does not see round $i"
	race "$A/a$i" "$A/b$i/a$i" "$B/b$i" "$B/a$i/b$i"
	case "$R1/$R2" in
	OK/EINVAL) ok1=$((ok1 + 1)) einval=$((einval + 1)) ;;
	EINVAL/OK) ok2=$((ok2 + 1)) einval=$((einval + 1)) ;;
	OK/ENOENT) ok1=$((ok1 + 1)) enoent=$((enoent + 1)) ;;
	ENOENT/OK) ok2=$((ok2 + 1)) enoent=$((enoent + 1)) ;;
	*)	bad=$((bad + 1))
		log "round $i: A $R1, B $R2 (want one OK, the other EINVAL or ENOENT)" ;;
	esac
done
log "A won $ok1, B won $ok2; the loser got EINVAL $einval, ENOENT $enoent; other outcomes $bad"
sleep 2	# the kernels' entry caches (1 s) expire
for m in "$A" "$B"; do
	out=$($RR cycle "$m" "$ROUNDS") ||
		fail "through $(basename "$m"): directories lost: $out"
	log "through $(basename "$m"): $out"
done
[ "$bad" -eq 0 ] || fail "$bad of $ROUNDS rounds did not end with exactly one rename succeeding and the other failing with EINVAL or ENOENT"
# Not a race at all unless canfs itself refused some.
[ $((einval * 4)) -ge "$ROUNDS" ] ||
	fail "only $einval of $ROUNDS rounds were refused by canfs (EINVAL): the renames did not race"

# ---------------------------------------------------- 2. lease takeover
log "2. a mount killed while it holds the rename lease"
lease_holder() {
	$RR lease "$("$CANCTL" -d "$(addr_of n1)" get r/lease 2>/dev/null |
		od -An -tx1 | tr -d ' \n')"
}
mkdir "$A/k1" "$A/k2" "$A/m1" "$A/m2" "$A/e1" "$A/e2" || fail "mkdir"
echo f >"$A/f1"
before=$(lease_holder)
export CANFS_TEST_LEASE_HOLD_MS=120000
CANFS_OPTS="-o allow_other,lock_lease=$LEASE_S" mount_canfs "$C" "unix:$T/n2.sock"
unset CANFS_TEST_LEASE_HOLD_MS
CPID=${FS_PIDS[-1]}
CANFS_OPTS="-o allow_other,io_timeout=5" mount_canfs "$D" "unix:$T/n4.sock"
stat "$B/m1" "$B/m2" "$D/e1" "$D/e2" >/dev/null || fail "stat"
$RR go - - "$C/k1" "$C/k2/k1" >"$T/rc" 2>&1 &
lease_taken() {
	local h
	h=$(lease_holder)
	[ "$h" != none ] && [ "$h" != 0 ] && [ "$h" != "$before" ]
}
wait_for 15 lease_taken ||
	fail "C did not take the lease (holder $(lease_holder))"
held=$(lease_holder)
log "C holds the lease ($held); kill -9 canfs of C (pid $CPID)"
our_pid "$CPID" && kill -9 "$CPID"
t0=$(now_ms)
timeout 20 $RR go - - "$B/f1" "$B/m2/f1" >"$T/rf" 2>&1
tf=$(($(now_ms) - t0))
[ "$(cat "$T/rf")" = OK ] && [ "$tf" -lt 5000 ] ||
	fail "a file moved across directories: $(cat "$T/rf") after $tf ms"
log "a file moved across directories meanwhile: OK in $tf ms"
t0=$(now_ms)
$RR go - - "$D/e1" "$D/e2/e1" >"$T/rd" 2>&1 &
pd=$!
timeout 70 $RR go - - "$B/m1" "$B/m2/m1" >"$T/rb" 2>&1
tb=$(($(now_ms) - t0))
wait "$pd"
td=$(cat "$T/rd")
log "directory move on D (io_timeout 5): $td; on B: $(cat "$T/rb") after $tb ms"
[ "$td" = EIO ] || fail "D's directory move while the lease was held: $td, want EIO"
[ "$(cat "$T/rb")" = OK ] || fail "B's directory move: $(cat "$T/rb")"
[ "$tb" -ge $((LEASE_S * 1000 * 5 / 6)) ] && [ "$tb" -le $((LEASE_S * 2000)) ] ||
	fail "B's directory move took $tb ms: C's lease should expire after $LEASE_S s"
after=$(lease_holder)
[ "$after" = 0 ] || fail "the lease is still held after B's move ($after)"
[ -d "$B/m2/m1" ] && [ -d "$A/k1" ] || fail "m1 or k1 not where expected"

# ---------------------------------------------------- 3. replace races
log "3. $RROUNDS rounds: x over t on A against t -> u/t2 on B (files, dirs)"
declare -A seen=()
for i in $(seq 0 $((RROUNDS - 1))); do
	mkdir "$A/s$i" "$A/u$i" "$A/S$i" "$A/U$i" "$A/S$i/a" "$A/S$i/t" ||
		fail "mkdir round $i"
	printf 'x%s' "$i" >"$A/s$i/x"
	printf 't%s' "$i" >"$A/s$i/t"
	printf 'fa' >"$A/S$i/a/fa"
	stat "$B/s$i/t" "$B/u$i" "$B/S$i/t" "$B/U$i" >/dev/null ||
		fail "B does not see round $i"
	race "$A/s$i/x" "$A/s$i/t" "$B/s$i/t" "$B/u$i/t2"
	seen["files A $R1, B $R2"]=$((${seen["files A $R1, B $R2"]:-0} + 1))
	race "$A/S$i/a" "$A/S$i/t" "$B/S$i/t" "$B/U$i/t2"
	seen["dirs A $R1, B $R2"]=$((${seen["dirs A $R1, B $R2"]:-0} + 1))
done
outcomes=""
for k in "${!seen[@]}"; do
	log "  $k: ${seen[$k]}"
	outcomes="$outcomes; $k: ${seen[$k]}"
done
putback=$(grep -c "moved away meanwhile" "$T/canfs-a.log")
log "  directory objects put back after a replace met a move: $putback"
outcomes="$outcomes; put back $putback"
sleep 2
for m in "$A" "$B"; do
	out=$($RR replace "$m" "$RROUNDS") ||
		fail "through $(basename "$m"): data lost: $out"
	log "through $(basename "$m"): $out"
done
# The races and the killed holder left a consistent tree: fsck is clean.
timeout -k 5 120 "$CANCTL" -d "unix:$T/n2.sock" fsck --grace 0 --json \
	>"$T/fsck.json" 2>"$T/fsck.err"
rc=$?
[ $rc -eq 0 ] || fail "canctl fsck after the races: exit $rc: $(head -c 2000 "$T/fsck.json") $(tail -3 "$T/fsck.err")"
log "canctl fsck: clean ($(jq -c '{directories, files}' "$T/fsck.json"))"
result "operations=$((2 * ROUNDS + 4 * RROUNDS + 3))" "faults=kill -9 of a lease holder" \
	"files=$((2 * ROUNDS + 3 * RROUNDS))" "lost=0" "corrupt=0" \
	"max_block_ms=$tb" \
	"note=$ROUNDS cycle rounds: A won $ok1, B won $ok2, loser EINVAL $einval, ENOENT $enoent; lease taken over after $tb ms; replace rounds$outcomes"
log "PASS"
