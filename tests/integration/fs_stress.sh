#!/usr/bin/env bash
# fs_stress.sh: two machines use one tree at once; both then see it whole.
#
# Four machines (network namespaces, tests/lib/netns.sh), k=2, canfs
# mounted on machines 1 and 2.  One fsstress worker per mount
# (tests/lib/fsstress.py run) does random operations for STRESS_SECONDS:
# create, write at random offsets, append, truncate, rename, link,
# unlink, mkdir, rmdir, symlink, chmod, checked reads and stats.  Each
# worker has a private subtree (mnt/wN) that it models exactly, and both
# work on a small pool of names in mnt/shared, so that they really
# conflict (creating, renaming and removing the same names, writing the
# same files).  At the end each worker compares its private subtree with
# its model.  Then, once the kernel's entry and attribute caches have
# expired (canfs defaults: 1 s), 'fsstress.py check' walks the whole tree
# from both mounts: the same names, types, sizes, modes, inode numbers and
# symlink targets on both; every file readable with the same bytes from
# both; link counts that match the names in the tree (files) and the
# subdirectories (directories).
#
# In shared/ a directory keeps its depth when renamed (fs_rename tests two
# machines moving two directories into each other: the rename lease).  ESTALE in shared/ is counted
# (in the note), not a failure: the kernel retries a path operation that
# met a vanished inode only once, and a rename fails with it by itself
# when it meets a directory that another machine moved while this one
# still caches it under its old name (see SHARED_OK in fsstress.py).
#
# Environment: STRESS_SECONDS (default 60; SOAK=1: 300), SEED, HB (ms,
# default 200), CACHE_WAIT (s to let caches expire, default 3).
TEST_TIMEOUT=${TEST_TIMEOUT:-$(( ${SOAK:-0} == 1 ? 850 : 480 ))}
[ -z "${FS_TMPDIR:-}" ] && [ -w /dev/shm ] && FS_TMPDIR=/dev/shm
export TMPDIR=${FS_TMPDIR:-/tmp}
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/fs.sh"
. "$(dirname "$0")/../lib/netns.sh"
require_tools
command -v jq >/dev/null || skip "jq is not installed"

DUR=${STRESS_SECONDS:-60}
[ "${SOAK:-0}" = 1 ] && DUR=${STRESS_SECONDS:-300}
SEED=${SEED:-$(($$ % 10000))}
K=2
FST="python3 $LIB/fsstress.py"
log "seed $SEED, ${DUR}s of operations, heartbeat ${HB} ms, k=$K"

net_up 4
net_overlay 4 -k $K
for i in 1 2; do
	wait_for 10 test -S "$T/m$i.sock" || fail "m$i made no socket"
	mount_canfs "$T/mnt$i" "unix:$T/m$i.sock"
done

# The load: one worker per mount, at once.
for i in 1 2; do
	$FST run "$T/mnt$i" --seed $((SEED * 10 + i)) --seconds "$DUR" \
		--worker "w$i" >"$T/w$i.json" 2>"$T/w$i.err" &
	eval "W$i=\$!"
done
rc1=0 rc2=0
wait "$W1" || rc1=$?
wait "$W2" || rc2=$?
for i in 1 2; do
	log "worker $i: $(cat "$T/w$i.json")"
	[ -s "$T/w$i.err" ] && { log "worker $i problems:"; head -20 "$T/w$i.err"; }
done
[ -s "$T/w1.json" ] && [ -s "$T/w2.json" ] || fail "a worker died: $(tail -5 "$T"/w?.err)"

# The whole tree from both mounts, after the caches expired.
sleep "${CACHE_WAIT:-3}"
t0=$(now_ms)
out=$($FST check "$T/mnt1" "$T/mnt2" 2>"$T/check.err")
crc=$?
log "check ($(($(now_ms) - t0)) ms): $out"
[ $crc -eq 0 ] || head -40 "$T/check.err"
[ -n "$out" ] || fail "the check printed nothing: $(tail -5 "$T/check.err")"

# lost: names missing (from a model, or from one mount); corrupt: the rest.
ops=0 maxb=0 lost=$(jq -r .lost <<<"$out") corrupt=$(jq -r .corrupt <<<"$out")
for i in 1 2; do
	f=$T/w$i.json
	ops=$((ops + $(jq -r .ops "$f")))
	m=$(jq -r .max_op_ms "$f")
	[ "$m" -gt "$maxb" ] && maxb=$m
	lost=$((lost + $(jq -r .missing "$f")))
	corrupt=$((corrupt + $(jq -r .wrong "$f")))
done
unexpected=$(( $(jq -r .unexpected "$T/w1.json") + $(jq -r .unexpected "$T/w2.json") ))
files=$(jq -r .files <<<"$out")
conflicts=$(jq -s '[.[].shared_errors | to_entries[].value] | add // 0' "$T/w1.json" "$T/w2.json")
estale=$(jq -s '[.[].shared_errors.ESTALE // 0] | add' "$T/w1.json" "$T/w2.json")
result "operations=$ops" "faults=none" "files=$files" "lost=$lost" \
	"corrupt=$corrupt" "max_block_ms=$maxb" \
	"note=seed $SEED, ${DUR}s; $(jq -r .entries <<<"$out") entries; $conflicts expected conflict errors in shared/ ($estale ESTALE); $unexpected unexpected errors"
[ $rc1 -eq 0 ] && [ $rc2 -eq 0 ] ||
	fail "a worker's subtree differs from its model or it met unexpected errors (exit $rc1/$rc2)"
[ $crc -eq 0 ] || fail "the tree differs between the mounts or is inconsistent (lost $lost, corrupt $corrupt)"
log "PASS: $ops operations, $files files, $(jq -r .entries <<<"$out") entries consistent on both mounts"
