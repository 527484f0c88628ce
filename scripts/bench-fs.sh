#!/usr/bin/env bash
# bench-fs.sh: file system benchmark (`make bench-fs`).
#
# In one run, on three targets side by side:
#   local       a directory on the local disk (the work dir's file system);
#   passthrough build/tests/passthrough mirroring a local directory: the
#               cost of FUSE itself;
#   canfs       build/canfs through daemon 1 of four canfsd daemons on
#               127.0.62.1-4:7400 (k=2, heartbeat $HB ms, default 1000),
#               whose data dirs are on the same local disk.
# it measures:
#   - sequential write of a 1 GiB file (dd bs=1M conv=fsync, from random
#     data in /dev/shm) and sequential read of it with cold caches;
#   - 4 KiB random read and random write IOPS on that file (fio, psync,
#     one job, buffered, $FIO_SECONDS s each; the write job ends with fsync);
#   - create, stat (cold) and delete of 5,000 empty files in one
#     directory, in ops/s, and `ls -l` of the 5,000 entries (cold);
#   - cp -r /usr/include into the target, then syncfs.
# "Cold" means: sync, echo 3 > /proc/sys/vm/drop_caches (as root), and for
# the FUSE targets an unmount and a fresh mount.  The Markdown table goes
# to tests/results/bench-fs.md ($OUT) and is printed.  canfs missing (or
# /dev/fuse missing) leaves its column "n/a"; a failed measurement shows
# as "error" and the run goes on.
#
# Large directories (issue 11, sharded directories; bench_bigdir below):
#   - create rate in one directory of about 100 entries and of about
#     $BIG_MAX (default 1,000,000), from one process, $BIG_WINDOW (500)
#     creates each, the directory filled in between by 8 processes; and
#     their ratio;
#   - `ls -l` (cold) of the directory at $BIG_LS (100,000) entries.
# BIG_MAX=0 skips them; BIG_ONLY=1 runs only them.
#
# Environment: BUILD, HB, FIO_SECONDS (default 20), NFILES (default 5000),
# SIZE_MIB (default 1024), OUT, KEEP=1, CANFS_OPTS (canfs mount options,
# default "-o allow_other"), ONLY (targets to run, e.g. "canfs"; default
# all three).  When a measurement fails, the logs of the daemons, the
# mounts and fio go to tests/results/bench-fs-logs/.
TEST_NAME=bench-fs
TEST_TIMEOUT=${TEST_TIMEOUT:-5400}
# canfsd's default heartbeat, not the scenarios' fast 200 ms: with the data
# on a slow disk, 200 ms beats under this load end in false takeovers.
HB=${HB:-1000}
. "$(dirname "$0")/../tests/lib/common.sh"

CANFS=$BUILD/canfs
PASSTHROUGH=$BUILD/tests/passthrough
FIO_SECONDS=${FIO_SECONDS:-20}
NFILES=${NFILES:-5000}
SIZE_MIB=${SIZE_MIB:-1024}
OUT=${OUT:-$RESULTS/bench-fs.md}
declare -A R=()		# "target:metric" -> the cell
ERRORS=()		# "target metric" of every failed measurement
NOTES=()

require_tools
[ "$(id -u)" -eq 0 ] || NOTES+=("not run as root: caches were not dropped, so 'cold' reads may be warm.")
FUSE_OK=1
if [ ! -e /dev/fuse ] || ! command -v fusermount3 >/dev/null; then
	FUSE_OK=0
	NOTES+=("no /dev/fuse or fusermount3: the FUSE columns are n/a.")
fi
if [ $FUSE_OK -eq 1 ] && [ ! -x "$PASSTHROUGH" ]; then
	make -s -C "$ROOT" "${BUILD#"$ROOT"/}/tests/passthrough" >/dev/null ||
		fail "cannot build the passthrough file system"
fi
HAVE_FIO=1
command -v fio >/dev/null || { HAVE_FIO=0; NOTES+=("fio is not installed (scripts/install-deps.sh): no IOPS."); }

# ------------------------------------------------------------- mounts

declare -A MNT_CMD=()	# mountpoint -> the command line that mounts it
declare -A MNT_PID=()	# mountpoint -> pid of its FUSE process

# fuse_mount MNT LOG CMD...: run a FUSE file system in the foreground
# (backgrounded here) and wait for its mount.
fuse_mount() {
	local mnt=$1 logf=$2 pid
	shift 2
	mkdir -p "$mnt"
	MNT_CMD[$mnt]=$(printf '%q ' "$@")
	"$@" >>"$logf" 2>&1 </dev/null &
	pid=$!
	disown "$pid"
	MNT_PID[$mnt]=$pid
	wait_for 15 mountpoint -q "$mnt" || { tail -5 "$logf"; return 1; }
}

# MNT is in the mount table (mountpoint(1) says no when the FUSE process
# is gone and the mount only answers ENOTCONN).
mounted() { awk -v m="$1" '$2 == m { f = 1 } END { exit !f }' /proc/self/mounts; }

fuse_umount() {
	local mnt=$1 pid=${MNT_PID[$1]:-}
	if mounted "$mnt"; then
		timeout 30 fusermount3 -u "$mnt" 2>/dev/null ||
			timeout 10 fusermount3 -uz "$mnt" 2>/dev/null || umount -l "$mnt"
	fi
	[ -n "$pid" ] && ! wait_for 5 not_ours "$pid" && kill -9 "$pid" 2>/dev/null
	return 0
}

not_ours() { ! our_pid "$1"; }

# Unmount and mount again: a cold kernel cache and a fresh FUSE process.
fuse_remount() {
	local mnt=$1
	fuse_umount "$mnt"
	eval "fuse_mount \"$mnt\" \"$T/$(basename "$mnt").log\" ${MNT_CMD[$mnt]}"
}

bench_cleanup() {
	local rc=$? m
	trap - EXIT
	for m in "${!MNT_PID[@]}"; do fuse_umount "$m"; done
	rm -f "${RAND:-}"
	if [ ${#ERRORS[@]} -gt 0 ]; then
		mkdir -p "$RESULTS/bench-fs-logs"
		cp "$T"/*.log "$T"/*.err "$RESULTS/bench-fs-logs/" 2>/dev/null
		log "failed: ${ERRORS[*]}; logs in tests/results/bench-fs-logs/"
	fi
	(exit $rc)
	cleanup
}
trap bench_cleanup EXIT

# ------------------------------------------------------------ helpers

# Cold caches: flush, drop the kernel's caches, remount a FUSE target.
cold() { # TARGET
	timeout 300 sync
	[ -w /proc/sys/vm/drop_caches ] && echo 3 >/proc/sys/vm/drop_caches
	case $1 in
	passthrough | canfs) fuse_remount "${DIR[$1]}" || return 1 ;;
	esac
	return 0
}

# timed LIMIT_S CMD...: run CMD under a time limit; MS = its duration.
timed() {
	local limit=$1 t0
	shift
	t0=$(date +%s%N)
	timeout -k 5 "$limit" "$@"
	local rc=$?
	MS=$((($(date +%s%N) - t0) / 1000000))
	[ "$MS" -gt 0 ] || MS=1
	return $rc
}

# rate AMOUNT MS -> AMOUNT per second, one decimal place.
rate() { awk -v a="$1" -v ms="$2" 'BEGIN { printf "%.1f", a * 1000 / ms }'; }
secs() { awk -v ms="$1" 'BEGIN { printf "%.2f", ms / 1000 }'; }

# put TARGET METRIC VALUE
put() {
	R["$1:$2"]=$3
	log "$1: $2 = $3"
	[ "$3" = error ] && ERRORS+=("$1 $2")
	return 0
}

# fio_iops DIR RW -> IOPS of a 4 KiB $RW job on DIR/big.
fio_iops() {
	local extra=()
	[ "$2" = randwrite ] && extra=(--end_fsync=1)
	timeout -k 5 $((FIO_SECONDS + 300)) fio --name=bench --filename="$1/big" \
		--rw="$2" --bs=4k --size="${SIZE_MIB}M" --ioengine=psync --iodepth=1 \
		--numjobs=1 --runtime="$FIO_SECONDS" --time_based --invalidate=1 \
		--fallocate=none "${extra[@]}" --output-format=json >"$T/fio-$2.json" \
		2>"$T/fio-$2.err" || return 1
	python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))["jobs"][0]
side = "read" if sys.argv[2] == "randread" else "write"
print("%.0f" % j[side]["iops"])' "$T/fio-$2.json" "$2"
}

# The metadata phases, one Python process each (startup not timed).
meta() { # PHASE DIR -> ops/s or seconds
	timeout -k 5 600 python3 - "$1" "$2" "$NFILES" <<'EOF'
import os, subprocess, sys, time
phase, d, n = sys.argv[1], sys.argv[2] + "/meta", int(sys.argv[3])
names = ["%s/f%05d" % (d, i) for i in range(n)]
if phase == "create":
    os.mkdir(d)
t = time.perf_counter()
if phase == "create":
    for p in names:
        os.close(os.open(p, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
elif phase == "stat":
    for p in names:
        os.stat(p)
elif phase == "ls":
    subprocess.run(["ls", "-l", d], stdout=subprocess.DEVNULL, check=True)
elif phase == "delete":
    for p in names:
        os.unlink(p)
t = time.perf_counter() - t
if phase == "delete":
    os.rmdir(d)
print("%.2f" % t if phase == "ls" else "%.0f" % (n / t))
EOF
}

# ready TARGET: cold caches, and the target is (still) mounted; a failed
# remount must not send the measurements to the empty mountpoint dir.
ready() {
	cold "$1" || { log "$1: the remount failed"; return 1; }
	[ "$1" = local ] || mountpoint -q "${DIR[$1]}" ||
		{ log "$1: not mounted any more"; return 1; }
}

# bench TARGET: every measurement on DIR[TARGET].
bench() {
	local t=$1 d=${DIR[$1]} v
	log "=== $t: $d"
	if ready "$t" && timed 900 dd if="$RAND" of="$d/big" bs=1M \
		count="$SIZE_MIB" conv=fsync status=none; then
		put "$t" seqw "$(rate "$SIZE_MIB" "$MS")"
	else
		put "$t" seqw error
	fi
	if ready "$t" && timed 900 dd if="$d/big" of=/dev/null bs=1M status=none; then
		put "$t" seqr "$(rate "$SIZE_MIB" "$MS")"
	else
		put "$t" seqr error
	fi
	if [ $HAVE_FIO -eq 1 ]; then
		ready "$t" && v=$(fio_iops "$d" randread) || v=error
		put "$t" rr "$v"
		ready "$t" && v=$(fio_iops "$d" randwrite) || v=error
		put "$t" rw "$v"
	fi
	rm -f "$d/big"
	ready "$t" && v=$(meta create "$d") || v=error
	put "$t" create "$v"
	ready "$t" && v=$(meta stat "$d") || v=error
	put "$t" stat "$v"
	ready "$t" && v=$(meta ls "$d") || v=error
	put "$t" ls "$v"
	v=$(meta delete "$d") || v=error
	put "$t" delete "$v"
	if ready "$t" && timed 900 bash -c 'cp -r /usr/include "$1/" &&
		sync -f "$1/include"' _ "$d"; then
		put "$t" cp "$(secs "$MS")"
	else
		put "$t" cp error
	fi
	timeout 600 rm -rf "$d/include" "$d/meta"
}

# ------------------------------------------------- large directories
# (sharded directories, issue 11 item 2; kept apart from bench() above)

BIG_MAX=${BIG_MAX:-1000000}
BIG_LS=${BIG_LS:-100000}
BIG_WINDOW=${BIG_WINDOW:-500}

# bigdir PHASE DIR FROM TO: "fill" creates DIR/b<i> for i in [FROM, TO)
# with 8 processes; "window" creates DIR/w<i> for i in [FROM, TO) from one
# process and prints the rate (ops/s).
bigdir() {
	timeout -k 5 7200 python3 - "$@" <<'EOF'
import os, sys, time
from multiprocessing import Pool
phase, d, lo, hi = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
def make(r):
    for i in range(*r):
        os.close(os.open("%s/b%07d" % (d, i), os.O_CREAT | os.O_WRONLY, 0o644))
if phase == "fill":
    if hi > lo:
        step = max(1, (hi - lo + 63) // 64)
        with Pool(8) as p:
            p.map(make, [(a, min(a + step, hi)) for a in range(lo, hi, step)])
else:
    t = time.perf_counter()
    for i in range(lo, hi):
        os.close(os.open("%s/w%07d" % (d, i), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
    print("%.0f" % ((hi - lo) / (time.perf_counter() - t)))
EOF
}

# bench_bigdir TARGET: the large-directory measurements on DIR[TARGET].
bench_bigdir() {
	local t=$1 d=${DIR[$1]}/bigdir small big n
	[ "$BIG_MAX" -gt 0 ] || return 0
	[ "$BIG_LS" -le "$BIG_MAX" ] || BIG_LS=$BIG_MAX
	log "=== $t: large directory, up to $BIG_MAX entries"
	mkdir -p "$d" || { put "$t" bigsmall error; return 0; }
	n=$((100 - BIG_WINDOW / 2))
	[ "$n" -gt 0 ] || n=0
	if bigdir fill "$d" 0 "$n" && small=$(bigdir window "$d" 0 "$BIG_WINDOW"); then
		put "$t" bigsmall "$small"
	else
		put "$t" bigsmall error
	fi
	n=$((n + BIG_WINDOW))
	if bigdir fill "$d" "$n" "$BIG_LS" && ready "$t" &&
		timed 3600 bash -c 'ls -l "$1" >/dev/null' _ "$d"; then
		put "$t" bigls "$(secs "$MS")"
	else
		put "$t" bigls error
	fi
	n=$((BIG_MAX - BIG_WINDOW / 2 - BIG_WINDOW))
	if bigdir fill "$d" "$BIG_LS" "$n" &&
		big=$(bigdir window "$d" "$BIG_WINDOW" $((2 * BIG_WINDOW))); then
		put "$t" bigmax "$big"
		[ "${R[$t:bigsmall]}" != error ] &&
			put "$t" bigratio "$(awk -v a="$big" -v b="$small" \
				'BEGIN { printf "%.2f", a / b }')"
	else
		put "$t" bigmax error
	fi
	# canfs's cluster goes with the run; removing 10^6 names is not timed.
	[ "$t" = canfs ] || timeout 1800 rm -rf "$d"
}

# ------------------------------------------------------------ the run

declare -A DIR=()
ONLY=${ONLY:-local passthrough canfs}
want() { [[ " $ONLY " == *" $1 "* ]]; }
TARGETS=()
DIR[local]=$T/local
mkdir -p "$T/local"
want local && TARGETS+=(local)
if [ $FUSE_OK -eq 1 ] && want passthrough; then
	mkdir -p "$T/ptsrc"
	DIR[passthrough]=$T/pt
	if fuse_mount "$T/pt" "$T/pt.log" "$PASSTHROUGH" -f "$T/ptsrc" "$T/pt"; then
		TARGETS+=(passthrough)
	else
		NOTES+=("the passthrough file system did not mount (see its log).")
	fi
fi
if [ $FUSE_OK -eq 1 ] && want canfs; then
	if [ -x "$CANFS" ]; then
		for i in 1 2 3 4; do
			join=""
			[ "$i" -gt 1 ] && join=127.0.62.1:7400
			start_node "n$i" "127.0.62.$i:7400" "$join" -s "$T/n$i.sock" -k 2
			wait_active "n$i"
		done
		check_overlay --points 200 --wait 20 >/dev/null || fail "the overlay is not whole"
		wait_for 10 test -S "$T/n1.sock" || fail "n1 made no socket"
		DIR[canfs]=$T/canfs
		# shellcheck disable=SC2086
		if fuse_mount "$T/canfs" "$T/canfs.log" "$CANFS" "unix:$T/n1.sock" \
			"$T/canfs" -f ${CANFS_OPTS--o allow_other}; then
			TARGETS+=(canfs)
		else
			NOTES+=("canfs did not mount (see its log).")
		fi
	else
		NOTES+=("$CANFS is not built: the canfs column is n/a.")
	fi
fi

SHM=/dev/shm
[ -d "$SHM" ] && [ -w "$SHM" ] || SHM=$T
RAND=$SHM/canfs-bench-fs.$$.rand
log "making ${SIZE_MIB} MiB of random data in $RAND"
head -c "$((SIZE_MIB << 20))" /dev/urandom >"$RAND" || fail "cannot make $RAND"

t0=$(now_ms)
for t in "${TARGETS[@]}"; do
	[ "${BIG_ONLY:-0}" = 1 ] || bench "$t"
	bench_bigdir "$t"
done
log "all targets measured in $(secs $(($(now_ms) - t0))) s"

# ------------------------------------------------------------ the report

cell() { echo "${R[$1:$2]:-n/a}"; }
{
	echo "# canfs file system benchmark"
	echo
	echo "$(date -u '+%F %H:%M UTC'), $(nproc) CPUs, Linux $(uname -r)," \
		"local disk: $(stat -f -c %T "$T") ($(df --output=source "$T" | tail -1))."
	echo "canfs: 4 canfsd daemons on loopback, k=2, heartbeat $HB ms, mount through" \
		"daemon 1's Unix socket; their data dirs are on the same local disk."
	echo "Passthrough: build/tests/passthrough (libfuse3 high-level API, default" \
		"1 s attribute/entry timeouts)."
	echo
	echo "| measurement | local disk | FUSE passthrough | canfs |"
	echo "|---|---:|---:|---:|"
	row() { # LABEL METRIC
		printf '| %s | %s | %s | %s |\n' "$1" "$(cell local "$2")" \
			"$(cell passthrough "$2")" "$(cell canfs "$2")"
	}
	row "sequential write, ${SIZE_MIB} MiB, dd bs=1M conv=fsync (MiB/s)" seqw
	row "sequential read, ${SIZE_MIB} MiB, cold (MiB/s)" seqr
	row "random read 4 KiB, fio psync, ${FIO_SECONDS} s, cold (IOPS)" rr
	row "random write 4 KiB, fio psync, ${FIO_SECONDS} s + fsync (IOPS)" rw
	row "create ${NFILES} empty files in one directory (ops/s)" create
	row "stat ${NFILES} files, cold (ops/s)" stat
	row "ls -l of ${NFILES} entries, cold (s)" ls
	row "delete ${NFILES} files (ops/s)" delete
	row "cp -r /usr/include ($(du -sh /usr/include | cut -f1), $(find /usr/include | wc -l) entries) + syncfs, cold source (s)" cp
	# Large directories (bench_bigdir).
	row "create rate in a directory of ~100 entries, ${BIG_WINDOW} creates (ops/s)" bigsmall
	row "create rate in a directory of ~${BIG_MAX} entries, ${BIG_WINDOW} creates (ops/s)" bigmax
	row "the rate at ~${BIG_MAX} entries / the rate at ~100" bigratio
	row "ls -l of ${BIG_LS} entries in one directory, cold (s)" bigls
	echo
	echo "Cold: sync, drop_caches, and for the FUSE targets a fresh mount."
	for n in "${NOTES[@]}"; do echo "Note: $n"; done
} >"$OUT"
echo
cat "$OUT"
