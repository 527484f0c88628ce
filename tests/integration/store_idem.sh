#!/usr/bin/env bash
# store_idem.sh: a replica slower than the replica timeout changes nothing
# the filesystem acknowledged ("acknowledged means safe").
#
# Four daemons on 127.0.71.1-4 (a free port; k=3, so a write needs 2 of
# 3; heartbeat $HB ms with --fail-after 40, so that a daemon silent for
# STOP_S s is *not* declared dead: the point is a slow replica, not a
# takeover).  Mount A through daemon 1's Unix socket, mount B through
# daemon 2's.  Directories are made (mkdir, through A) until NDIRS
# (default 3) of them have their directory object's primary on one
# daemon, 3 or 4: the victim.
#
# WORKERS (default 3) workers per mount (tests/lib/idemwork.py run,
# prefixes a0-, a1-, ... on A and b0-, b1-, ... on B) create files
# (O_EXCL, seeded content, close), rewrite them, rename them (within a
# directory and across directories), hard-link, unlink and read them, all
# in the same shared directories, with fresh names only, so that every
# operation must succeed and each worker's model of its names is exact.
# While they run, the victim is stopped (SIGSTOP) for STOP_S s (default
# 7: more than the daemons' 5 s replica timeout) and continued, STOPS
# times (default 6; SOAK=1: 20).  Then, with the kernel's caches dropped,
# both mounts must list exactly each worker's model (no name lost,
# duplicated, resurrected or unknown), every file must have its bytes
# (sha256) and its link count (1, or the number of its hard links)
# through both, and no operation of a worker may have failed at all: its
# errors (ENOENT from an unlink of its own file, EEXIST, EIO...) are
# listed with how long the operation took, and what became of the names
# it touched.
#
# What it takes for a stop to matter (found on the code of the issue): a
# conditional write must reach the stopped primary early in the stop and
# time out there; the coordinator then retries it, and the primary, once
# continued, applies the first attempt and answers the retry CONFLICT.
#   - canfs must send the write at once, from its cached version: hence
#     the long entry/attribute/negative timeouts of the mounts
#     (CANFS_OPTS; the workers' names are private, so caching them is
#     safe), and several directories and workers, since the kernel lets
#     one change of a directory through at a time on a mount and only
#     the mount holding a directory's current version can have its write
#     applied.  An operation that reads first (rename reads both
#     directories afresh) spends 5 s per read on the stopped primary.
#   - the coordinator's route to the primary is cached for 10 s and
#     dropped when a write to it times out; after that, its retries fail
#     to look the replica set up until the victim is continued, and apply
#     once.  So only writes sent in the first STOP_S - 5 s of a stop
#     count, and stops are short and many.
#   - a daemon that gained space lately (joined, restarted, took over)
#     has every write synced with the other replicas first, for two
#     repair intervals plus 5 s, and that path does not double-apply:
#     --repair-interval 2, and the first stop comes 10 s after the joins.
#
# Environment: STOP_S, STOPS, WORKERS (per mount), NDIRS, SEED, HB
# (default 500), CANFS_OPTS, BUILD, KEEP=1, FS_TMPDIR.
TEST_TIMEOUT=${TEST_TIMEOUT:-$(( ${SOAK:-0} == 1 ? 900 : 420 ))}
[ -z "${FS_TMPDIR:-}" ] && [ -w /dev/shm ] && FS_TMPDIR=/dev/shm
export TMPDIR=${FS_TMPDIR:-/tmp}
HB=${HB:-500}
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/fs.sh"
require_tools
command -v jq >/dev/null || skip "jq is not installed"

SEED=${SEED:-$(($$ % 10000))}
RANDOM=$SEED
STOP_S=${STOP_S:-7}
STOPS=${STOPS:-6}
[ "${SOAK:-0}" = 1 ] && STOPS=${STOPS_SOAK:-20}
WORKERS=${WORKERS:-3}
NDIRS=${NDIRS:-3}
K=3
DOPTS=(-k $K --fail-after 40 --repair-interval 2)
IW="python3 $LIB/idemwork.py"
WPIDS=()
log "seed $SEED, k=$K, heartbeat $HB ms, $STOPS stops of ${STOP_S}s, $WORKERS workers per mount"

# The EXIT trap: continue a stopped daemon, stop the workers, unmount,
# then common.sh's cleanup (daemons, logs, $T).
idem_cleanup() {
	local rc=$? p
	trap - EXIT
	for p in "${ALL_PIDS[@]}"; do our_pid "$p" && kill -CONT "$p" 2>/dev/null; done
	[ -n "${STOP:-}" ] && touch "$STOP"
	for p in "${WPIDS[@]}"; do kill "$p" 2>/dev/null; done
	umount_all
	(exit $rc)
	cleanup
}
trap idem_cleanup EXIT

PORT=$(free_port)
for i in 1 2 3 4; do
	join=""
	[ "$i" -gt 1 ] && join=127.0.71.1:$PORT
	start_node "n$i" "127.0.71.$i:$PORT" "$join" -s "$T/n$i.sock" "${DOPTS[@]}"
	wait_active "n$i"
done
JOINED=$SECONDS
check_overlay --points 200 --wait 20 >/dev/null || {
	check_overlay --points 200
	fail "the overlay is not whole"
}
for i in 1 2; do
	wait_for 10 test -S "$T/n$i.sock" || fail "n$i made no socket"
done
A=$T/a
B=$T/b
CANFS_OPTS=${CANFS_OPTS:--o allow_other,entry_timeout=30,attr_timeout=30,negative_timeout=30}
mount_canfs "$A" "unix:$T/n1.sock"
mount_canfs "$B" "unix:$T/n2.sock"

# The node (n1..n4) holding the primary copy of directory DIR's object.
dir_primary() {
	local ino addr n
	ino=$(stat -c %i "$1") || return 1
	addr=$("$CANCTL" -d "$(addr_of n1)" route -k --json "d/$(printf %x "$ino")" |
		jq -r .owner.addr) || return 1
	for n in n1 n2 n3 n4; do
		[ "$(addr_of "$n")" = "$addr" ] && { echo "$n"; return 0; }
	done
	return 1
}

# NDIRS shared directories whose objects' primary is the victim (3 or 4).
VICTIM= DIRS=()
for j in $(seq 40); do
	mkdir "$A/s$j" || fail "mkdir s$j through A"
	p=$(dir_primary "$A/s$j") || fail "cannot route the object of s$j"
	if [ -z "$VICTIM" ] && { [ "$p" = n3 ] || [ "$p" = n4 ]; }; then
		VICTIM=$p
	fi
	if [ -n "$VICTIM" ] && [ "$p" = "$VICTIM" ]; then
		DIRS+=("s$j")
		[ ${#DIRS[@]} -eq "$NDIRS" ] && break
	fi
done
[ -n "$VICTIM" ] || VICTIM=n3
for j in $(seq 40); do
	[ ${#DIRS[@]} -ge "$NDIRS" ] && break
	[[ " ${DIRS[*]} " == *" s$j "* ]] || DIRS+=("s$j")
done
for j in $(seq 40); do
	[ -d "$A/s$j" ] && [[ " ${DIRS[*]} " != *" s$j "* ]] && rmdir "$A/s$j"
done
prim=()
for d in "${DIRS[@]}"; do prim+=("$d:$(dir_primary "$A/$d")"); done
log "shared directories (and their objects' primaries): ${prim[*]}; the victim is $VICTIM"
for d in "${DIRS[@]}"; do
	wait_for 10 test -d "$B/$d" || fail "B does not see $d"
done

# The load: WORKERS workers per mount, all on the same directories
# (several per mount so that every directory can have an operation
# waiting on the victim at once: the kernel serialises the changes to one
# directory on a mount).
STOP=$T/stop
DL=$(IFS=,; echo "${DIRS[*]}")
WPIDS=() WNAMES=()
for m in a b; do
	mnt=$A
	[ $m = b ] && mnt=$B
	for w in $(seq 0 $((WORKERS - 1))); do
		$IW run "$mnt" --dirs "$DL" --prefix "$m$w-" \
			--seed $((SEED * 100 + ${#WPIDS[@]})) --stop-file "$STOP" \
			--model "$T/$m$w.model" >"$T/$m$w.json" 2>"$T/$m$w.err" &
		WPIDS+=($!)
		WNAMES+=("$m$w")
	done
done
workers_alive() {
	local p
	for p in "${WPIDS[@]}"; do kill -0 "$p" 2>/dev/null || return 1; done
}
VPID=$(pid_of "$VICTIM")
while [ $((SECONDS - JOINED)) -lt 10 ]; do sleep 0.5; done
for s in $(seq "$STOPS"); do
	sleep "$((2 + RANDOM % 2)).$((RANDOM % 10))"
	workers_alive || fail "a worker died: $(tail -q -n 3 "$T"/??.err)"
	log "stop $s: kill -STOP $VICTIM for ${STOP_S}s (errors so far: $(cat "$T"/??.err | wc -l))"
	kill -STOP "$VPID"
	sleep "$STOP_S"
	kill -CONT "$VPID"
	log "stop $s: kill -CONT $VICTIM"
done
sleep 4
touch "$STOP"
log "stopping the workers"
for p in "${WPIDS[@]}"; do
	# An operation may still wait for a replica: at most ~40 s.
	for _ in $(seq 600); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
	kill -0 "$p" 2>/dev/null && fail "a worker did not stop within 60 s"
done
wait "${WPIDS[@]}"
WPIDS=()
for n in n1 n2 n3 n4; do running "$n" || fail "daemon $n died"; done
MODELS=() JSONS=()
for w in "${WNAMES[@]}"; do
	log "worker $w: $(cat "$T/$w.json")"
	[ -s "$T/$w.err" ] && { log "worker $w errors:"; head -30 "$T/$w.err"; }
	[ -s "$T/$w.json" ] && [ -s "$T/$w.model" ] ||
		fail "worker $w died: $(tail -5 "$T/$w.err")"
	MODELS+=(--model "$T/$w.model")
	JSONS+=("$T/$w.json")
done

# The whole picture, through both mounts, with the kernel's caches
# dropped (as root; else after they expire).
if [ -w /proc/sys/vm/drop_caches ]; then
	timeout 60 sync
	echo 3 >/proc/sys/vm/drop_caches
else
	sleep 31
fi
t0=$(now_ms)
out=$(timeout 120 $IW check "$A" "$B" "${MODELS[@]}" 2>"$T/check.err")
crc=$?
log "check ($(($(now_ms) - t0)) ms): $out"
[ $crc -eq 0 ] || { log "differences:"; grep -v ": uncertain " "$T/check.err" | head -40; }
grep -q ": uncertain " "$T/check.err" && {
	log "what became of the names of the failed operations:"
	grep ": uncertain " "$T/check.err" | head -40
}
[ -n "$out" ] || fail "the check printed nothing: $(tail -5 "$T/check.err")"

errs=$(jq -s 'map(.errors) | add' "${JSONS[@]}")
ops=$(jq -s 'map(.ops) | add' "${JSONS[@]}")
maxb=$(jq -s 'map(.max_op_ms) | max' "${JSONS[@]}")
kinds=$(jq -s -r 'map(.error_kinds | to_entries[]) | group_by(.key) |
	map("\(.[0].key) \(map(.value) | add)") | join(", ")' "${JSONS[@]}")
slow=$(jq -s -r 'map(.slow_ops | to_entries[]) | group_by(.key) |
	map("\(.[0].key) \(map(.value) | add)") | join(", ")' "${JSONS[@]}")
log "operations that waited over 4 s: ${slow:-none}"
lost=$(jq -r '.lost + .resurrected + .extra + .duplicated' <<<"$out")
result "operations=$ops" "faults=$STOPS x SIGSTOP ${STOP_S}s ($VICTIM)" \
	"files=$(jq -r .files <<<"$out")" "lost=$(jq -r .lost <<<"$out")" \
	"corrupt=$(jq -r '.corrupt + .nlink + .resurrected + .extra + .duplicated' <<<"$out")" "max_block_ms=$maxb" \
	"note=seed $SEED; $WORKERS workers per mount; $errs unexpected errors${kinds:+ ($kinds)}; resurrected $(jq -r .resurrected <<<"$out"), extra $(jq -r .extra <<<"$out"), duplicated $(jq -r .duplicated <<<"$out"), wrong link counts $(jq -r .nlink <<<"$out"); $(jq -r .uncertain <<<"$out") names left uncertain by errors"
[ "$errs" -eq 0 ] && [ $crc -eq 0 ] ||
	fail "$errs operations failed unexpectedly ($kinds); listing differences: $lost; corrupt $(jq -r .corrupt <<<"$out"); wrong link counts $(jq -r .nlink <<<"$out")"
umount_all
log "PASS: $ops operations, $(jq -r .files <<<"$out") files checked through both mounts"
