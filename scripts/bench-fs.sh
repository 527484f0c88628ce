#!/usr/bin/env bash
# bench-fs.sh: file system benchmark (`make bench-fs`), the proof of issue
# #11's targets.
#
# In one run, on up to four targets side by side:
#   local       a directory on the local disk (the work dir's file system);
#   passthrough build/tests/passthrough mirroring a local directory: the
#               cost of FUSE itself, the baseline of every ratio;
#   bindfs      bindfs(1) mirroring a local directory (when installed);
#   canfs       build/canfs through daemon 1 of four canfsd daemons on
#               127.0.62.1-4 on a free port (k=2, heartbeat $HB ms, default 1000),
#               whose data dirs are on the same local disk.
# it measures, one function each (m_*, named in $MEASURE):
#   seqw    sequential write of a $SIZE_MIB MiB file (dd bs=1M conv=fsync,
#           from random data in /dev/shm), MiB/s;
#   seqr    sequential read of it with cold caches, MiB/s;
#   rr, rw  4 KiB random read / write IOPS on that file (fio, psync,
#           O_DIRECT, queue depth 1, $FIO_SECONDS s each; the write job
#           ends with fsync);
#   create  creates of $NFILES empty files in one directory, one process;
#   create8 the same number of creates by $PAR processes, each in its own
#           directory (the aggregate rate);
#   stat    cold stat of the $NFILES files; delete: unlink of them, ops/s;
#   ls      ls -l of $LS_FILES entries in one directory, cold, s;
#   cp, rm, tar  cp -r $TREE into the target + syncfs; rm -rf of that copy;
#           tar x of a tarball of $TREE (in /dev/shm) + syncfs; s.
# (m_seqw measures seqw, m_seqr seqr, m_randread rr, m_randwrite rw, m_meta
# create, create8, stat and delete, m_ls ls, m_cp_rm cp and rm, m_tar tar;
# seqr, randread and randwrite use the file seqw wrote.)
# "Cold" means: sync, echo 3 > /proc/sys/vm/drop_caches (as root), and for
# the FUSE targets an unmount and a fresh mount.  The Markdown table goes
# to tests/results/bench-fs.md ($OUT) and is printed, followed by issue
# #11's targets: each canfs figure as a ratio to the passthrough's (or to
# the local disk, or absolute, as the target says) and whether it is met.
# A full run also writes both tables into README.md between the lines
# "<!-- bench-fs:begin -->" and "<!-- bench-fs:end -->".  A missing target
# (no FUSE, canfs not built, bindfs not installed) leaves its column
# "n/a"; a failed measurement shows as "error" and the run goes on.
#
# Large directories (issue 11, sharded directories; bench_bigdir below):
#   - create rate in one directory of about 100 entries and of about
#     $BIG_MAX (default 1,000,000), from one process, $BIG_WINDOW (500)
#     creates each, the directory filled in between by 8 processes; and
#     their ratio;
#   - `ls -l` (cold) of the directory at $BIG_LS (100,000) entries.
# BIG_MAX=0 skips them; BIG_ONLY=1 runs only them.
#
# Environment: BUILD, HB, FIO_SECONDS (default 20), NFILES (default
# 5000), LS_FILES (default 100000), PAR (default 8), SIZE_MIB (default
# 1024), TREE (default /usr/include), OUT, KEEP=1, CANFS_OPTS (canfs mount
# options, default "-o allow_other"), ONLY (targets to run, e.g. "canfs";
# default "local passthrough bindfs canfs"), BENCH_QUICK=1 (a run of a few
# minutes: SIZE_MIB 256, FIO_SECONDS 5, NFILES 2000, LS_FILES 5000, TREE
# /usr/include/linux; the knobs above still win), MEASURE (the
# measurements to run, default "seqw seqr randread randwrite meta ls cp_rm
# tar"), BENCH_README (1: write the tables into README.md; default 1 for a
# full run of every target and measurement, 0 otherwise).  When a
# measurement fails, the logs of the daemons, the mounts and fio go to
# tests/results/bench-fs-logs/.
TEST_NAME=bench-fs
TEST_TIMEOUT=${TEST_TIMEOUT:-7200}
# canfsd's default heartbeat, not the scenarios' fast 200 ms: with the data
# on a slow disk, 200 ms beats under this load end in false takeovers.
HB=${HB:-1000}
. "$(dirname "$0")/../tests/lib/common.sh"

QUICK=${BENCH_QUICK:-0}
q() { [ "$QUICK" = 1 ] && echo "$1" || echo "$2"; } # QUICK_VALUE FULL_VALUE
CANFS=$BUILD/canfs
PASSTHROUGH=$BUILD/tests/passthrough
FIO_SECONDS=${FIO_SECONDS:-$(q 5 20)}
NFILES=${NFILES:-$(q 2000 5000)}
LS_FILES=${LS_FILES:-$(q 5000 100000)}
PAR=${PAR:-8}
SIZE_MIB=${SIZE_MIB:-$(q 256 1024)}
TREE=${TREE:-$(q /usr/include/linux /usr/include)}
OUT=${OUT:-$RESULTS/bench-fs.md}
ALL_TARGETS="local passthrough bindfs canfs"
ALL_MEASURES="seqw seqr randread randwrite meta ls cp_rm tar"
MEASURE=${MEASURE:-$ALL_MEASURES}
for m in $MEASURE; do
	[[ " $ALL_MEASURES " == *" $m "* ]] || fail "MEASURE: no measurement '$m' (of: $ALL_MEASURES)"
done
ONLY=${ONLY:-$ALL_TARGETS}
if [ -z "${BENCH_README:-}" ]; then
	BENCH_README=0
	[ "$QUICK" = 0 ] && [ "$ONLY" = "$ALL_TARGETS" ] &&
		[ "$MEASURE" = "$ALL_MEASURES" ] && BENCH_README=1
fi
declare -A R=()		# "target:metric" -> the cell
ERRORS=()		# "target metric" of every failed measurement
NOTES=()

require_tools
[ -d "$TREE" ] || fail "TREE=$TREE is not a directory"
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

# Unmount MNT and wait for (or end) the FUSE process we started there.
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
	rm -f "${RAND:-}" "${TARBALL:-}"
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
	[ "$1" = local ] || fuse_remount "${DIR[$1]}" || return 1
	return 0
}

# ready TARGET: cold caches, and the target is (still) mounted; a failed
# remount must not send the measurements to the empty mountpoint dir.
ready() {
	cold "$1" || { log "$1: the remount failed"; return 1; }
	[ "$1" = local ] || mountpoint -q "${DIR[$1]}" ||
		{ log "$1: not mounted any more"; return 1; }
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

# fio_iops DIR RW TARGET -> IOPS of a 4 KiB O_DIRECT queue-depth-1 $RW job on
# DIR/big.
fio_iops() {
	local extra=()
	[ "$2" = randwrite ] && extra=(--end_fsync=1)
	timeout -k 5 $((FIO_SECONDS + 300)) fio --name=bench --filename="$1/big" \
		--rw="$2" --bs=4k --size="${SIZE_MIB}M" --ioengine=psync --iodepth=1 \
		--direct=1 --numjobs=1 --runtime="$FIO_SECONDS" --time_based \
		--fallocate=none "${extra[@]}" --output-format=json >"$T/fio-$3-$2.json" \
		2>"$T/fio-$3-$2.err" || return 1
	python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))["jobs"][0]
side = "read" if sys.argv[2] == "randread" else "write"
print("%.0f" % j[side]["iops"])' "$T/fio-$3-$2.json" "$2"
}

# meta PHASE DIR [N] -> ops/s (or s for "ls"): one Python process per
# phase, its startup not timed.  Phases: create (N files in DIR/meta),
# create8 (N files in $PAR directories DIR/par/dI, one process each, the
# aggregate rate), stat, delete (of DIR/meta), mkfiles (N files in DIR/ls,
# untimed), ls (ls -l of DIR/ls).
meta() {
	timeout -k 5 1800 python3 - "$1" "$2" "${3:-$NFILES}" "$PAR" <<'PY'
import multiprocessing as mp, os, subprocess, sys, time
phase, top, n, par = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
d = top + ("/ls" if phase in ("mkfiles", "ls") else "/meta")
names = ["%s/f%06d" % (d, i) for i in range(n)]

def creates(paths):
    for p in paths:
        os.close(os.open(p, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))

def worker(i, go, done):
    try:
        sub = "%s/par/d%d" % (top, i)
        os.mkdir(sub)
        paths = ["%s/f%06d" % (sub, j) for j in range(i, n, par)]
        go.wait()
        creates(paths)
        done.put(time.perf_counter())
    except OSError as e:
        done.put(None)   # the parent must not wait for us
        sys.exit("create8 worker %d: %s" % (i, e))

if phase == "create8":
    os.mkdir(top + "/par")
    go, done = mp.Event(), mp.Queue()
    procs = [mp.Process(target=worker, args=(i, go, done)) for i in range(par)]
    for p in procs:
        p.start()
    time.sleep(0.5)
    t = time.perf_counter()
    go.set()
    ends = [done.get() for _ in procs]
    for p in procs:
        p.join()
    if None in ends or any(p.exitcode != 0 for p in procs):
        sys.exit(1)
    end = max(ends)
    print("%.0f" % (n / (end - t)))
    sys.exit(0)
if phase in ("create", "mkfiles"):
    os.mkdir(d)
t = time.perf_counter()
if phase in ("create", "mkfiles"):
    creates(names)
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
PY
}

# --------------------------------------------------------- measurements
# Each m_* takes TARGET and stores its cells with put.

m_seqw() {
	if ready "$1" && timed 900 dd if="$RAND" of="${DIR[$1]}/big" bs=1M \
		count="$SIZE_MIB" conv=fsync status=none; then
		put "$1" seqw "$(rate "$SIZE_MIB" "$MS")"
	else
		put "$1" seqw error
	fi
}

m_seqr() {
	if ready "$1" && timed 900 dd if="${DIR[$1]}/big" of=/dev/null bs=1M \
		status=none; then
		put "$1" seqr "$(rate "$SIZE_MIB" "$MS")"
	else
		put "$1" seqr error
	fi
}

m_randread() {
	local v
	ready "$1" && v=$(fio_iops "${DIR[$1]}" randread "$1") || v=error
	put "$1" rr "$v"
}

m_randwrite() {
	local v
	ready "$1" && v=$(fio_iops "${DIR[$1]}" randwrite "$1") || v=error
	put "$1" rw "$v"
}

# The metadata phases, in order: create, create8, stat, delete.
m_meta() {
	local d=${DIR[$1]} v
	ready "$1" && v=$(meta create "$d") || v=error
	put "$1" create "$v"
	ready "$1" && v=$(meta create8 "$d") || v=error
	put "$1" create8 "$v"
	timeout 900 rm -rf "$d/par"
	ready "$1" && v=$(meta stat "$d") || v=error
	put "$1" stat "$v"
	v=$(meta delete "$d") || v=error
	put "$1" delete "$v"
	timeout 900 rm -rf "$d/meta"
}

m_ls() {
	local d=${DIR[$1]} v
	if meta mkfiles "$d" "$LS_FILES" >/dev/null && ready "$1"; then
		v=$(meta ls "$d" "$LS_FILES") || v=error
	else
		v=error
	fi
	put "$1" ls "$v"
	timeout 1800 rm -rf "$d/ls"
}

# cp -r of the tree, then rm -rf of the copy (both from cold caches).
m_cp_rm() {
	local d=${DIR[$1]}
	if ready "$1" && timed 1800 bash -c 'cp -r "$1" "$2/tree" &&
		sync -f "$2/tree"' _ "$TREE" "$d"; then
		put "$1" cp "$(secs "$MS")"
	else
		put "$1" cp error
	fi
	if ready "$1" && timed 1800 rm -rf "$d/tree"; then
		put "$1" rm "$(secs "$MS")"
	else
		put "$1" rm error
	fi
	timeout 900 rm -rf "$d/tree"
}

m_tar() {
	local d=${DIR[$1]}
	if ready "$1" && timed 1800 bash -c 'mkdir "$2/tarx" &&
		tar xf "$1" -C "$2/tarx" && sync -f "$2/tarx"' _ "$TARBALL" "$d"; then
		put "$1" tar "$(secs "$MS")"
	else
		put "$1" tar error
	fi
	timeout 1800 rm -rf "$d/tarx"
}

# bench TARGET: every measurement of $MEASURE on DIR[TARGET].
bench() {
	local m
	log "=== $1: ${DIR[$1]}"
	for m in $MEASURE; do
		case $m in
		randread | randwrite) [ $HAVE_FIO -eq 1 ] || continue ;;
		esac
		"m_$m" "$1"
	done
	rm -f "${DIR[$1]}/big"
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
want() { [[ " $ONLY " == *" $1 "* ]]; }
TARGETS=()
DIR[local]=$T/local
mkdir -p "$T/local"
want local && TARGETS+=(local)
# mirror NAME CMD...: mount a FUSE mirror of $T/NAME.src at $T/NAME.
mirror() {
	local name=$1
	shift
	mkdir -p "$T/$name.src"
	DIR[$name]=$T/$name
	if fuse_mount "$T/$name" "$T/$name.log" "$@" "$T/$name.src" "$T/$name"; then
		TARGETS+=("$name")
	else
		NOTES+=("$name did not mount (see its log).")
	fi
}
if [ $FUSE_OK -eq 1 ] && want passthrough; then
	mirror passthrough "$PASSTHROUGH" -f
fi
if [ $FUSE_OK -eq 1 ] && want bindfs; then
	if command -v bindfs >/dev/null; then
		mirror bindfs bindfs -f
	else
		NOTES+=("bindfs is not installed (scripts/install-deps.sh): its column is n/a.")
	fi
fi
if [ $FUSE_OK -eq 1 ] && want canfs; then
	if [ -x "$CANFS" ]; then
		port=$(free_port)
		for i in 1 2 3 4; do
			join=""
			[ "$i" -gt 1 ] && join=127.0.62.1:$port
			start_node "n$i" "127.0.62.$i:$port" "$join" -s "$T/n$i.sock" -k 2
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
TARBALL=$SHM/canfs-bench-fs.$$.tar
log "making ${SIZE_MIB} MiB of random data in $RAND, a tarball of $TREE"
head -c "$((SIZE_MIB << 20))" /dev/urandom >"$RAND" || fail "cannot make $RAND"
tar cf "$TARBALL" -C "$(dirname "$TREE")" "$(basename "$TREE")" ||
	fail "cannot make $TARBALL"
TREE_DESC="$TREE ($(du -sh "$TREE" | cut -f1), $(find "$TREE" | wc -l) entries)"

t0=$(now_ms)
LOAD0=$(cut -d' ' -f1 /proc/loadavg)
for t in "${TARGETS[@]}"; do
	[ "${BIG_ONLY:-0}" = 1 ] || bench "$t"
	bench_bigdir "$t"
done
log "all targets measured in $(secs $(($(now_ms) - t0))) s"

# ------------------------------------------------------------ the report

cell() { echo "${R[$1:$2]:-n/a}"; }
num() { [[ $1 =~ ^[0-9.]+$ ]]; }

# table: the measurements, one column per target.
table() {
	local t
	printf '| measurement |'
	for t in $ALL_TARGETS; do printf ' %s |' "$t"; done
	printf '\n|---|'
	for t in $ALL_TARGETS; do printf -- '---:|'; done
	echo
	row() { # LABEL METRIC
		printf '| %s |' "$1"
		for t in $ALL_TARGETS; do printf ' %s |' "$(cell "$t" "$2")"; done
		echo
	}
	row "creates of empty files, one process, one directory (/s)" create
	row "creates of empty files, $PAR processes in $PAR directories (/s)" create8
	row "stat, cold (/s)" stat
	row "deletes (/s)" delete
	row "cp -r of the tree + syncfs (s)" cp
	row "rm -rf of the copy (s)" rm
	row "tar x of the tree + syncfs (s)" tar
	row "ls -l of $LS_FILES entries in one directory, cold (s)" ls
	row "4 KiB random read, fio O_DIRECT QD1, ${FIO_SECONDS} s (IOPS)" rr
	row "4 KiB random write, fio O_DIRECT QD1, ${FIO_SECONDS} s + fsync (IOPS)" rw
	row "sequential write ${SIZE_MIB} MiB, dd bs=1M conv=fsync (MiB/s)" seqw
	row "sequential read ${SIZE_MIB} MiB, cold (MiB/s)" seqr
	# Large directories (bench_bigdir; none with BIG_MAX=0).
	[ "${BIG_MAX:-1}" = 0 ] && return
	row "create rate in a directory of ~100 entries, ${BIG_WINDOW} creates (ops/s)" bigsmall
	row "create rate in a directory of ~${BIG_MAX} entries, ${BIG_WINDOW} creates (ops/s)" bigmax
	row "the rate at ~${BIG_MAX} entries / the rate at ~100" bigratio
	row "ls -l of ${BIG_LS} entries in one directory, cold (s)" bigls
}

# goal LABEL KIND METRIC OP LIMIT GOAL_TEXT: one row of the targets
# table.  KIND says what canfs's figure is set against: pt (the
# passthrough's figure: canfs / passthrough), self (canfs's one-process
# create rate), disk (the local disk's figure divided by k=2), abs
# (nothing: the figure itself).  Met when value OP LIMIT.
goal() {
	local label=$1 kind=$2 m=$3 op=$4 lim=$5 text=$6 c b="" v met
	c=$(cell canfs "$m")
	case $kind in
	pt) b=$(cell passthrough "$m") ;;
	self) b=$(cell canfs create) ;;
	disk) b=$(cell local "$m"); num "$b" && b=$(awk -v x="$b" 'BEGIN { printf "%.1f", x / 2 }') ;;
	esac
	if ! num "$c" || { [ "$kind" != abs ] && ! num "$b"; }; then
		v=n/a met=n/a
	elif [ "$lim" = - ]; then
		v=$(awk -v c="$c" -v b="$b" 'BEGIN { printf "%.2f", c / b }') met=-
	else
		v=$(awk -v c="$c" -v b="${b:-1}" -v k="$kind" \
			'BEGIN { if (k == "abs") printf "%s", c; else printf "%.2f", c / b }')
		met=$(awk -v v="$v" -v l="$lim" -v op="$op" 'BEGIN {
			ok = op == ">=" ? v >= l : v <= l; print ok ? "yes" : "**no**" }')
	fi
	printf '| %s | %s | %s | %s | %s | %s |\n' "$label" "$c" "${b:--}" "$v" "$text" "$met"
}

targets() {
	echo "| issue #11 target | canfs | against | ratio or value | goal | met |"
	echo "|---|---:|---:|---:|---|---|"
	goal "creates, one process" pt create ">=" 0.333 "≥ 1/3 of the passthrough"
	goal "creates, $PAR processes" self create8 ">=" 1 "scales: ≥ canfs's one-process rate"
	goal "stat, cold" pt stat ">=" 0.5 "≥ 1/2 of the passthrough"
	goal "deletes" pt delete - - "(no target)"
	goal "cp -r (time)" pt cp "<=" 3 "≤ 3× the passthrough's time"
	goal "rm -rf (time)" pt rm "<=" 3 "≤ 3× the passthrough's time"
	goal "tar x (time)" pt tar "<=" 3 "≤ 3× the passthrough's time"
	if [ "$LS_FILES" -ge 100000 ]; then
		goal "ls -l of $LS_FILES entries (s)" abs ls "<=" 3 "≤ 3 s (at 100,000 entries)"
	else
		printf '| ls -l of %s entries (s) | %s | - | %s | ≤ 3 s (at 100,000 entries) | n/a (LS_FILES < 100000) |\n' \
			"$LS_FILES" "$(cell canfs ls)" "$(cell canfs ls)"
	fi
	goal "4 KiB random read" pt rr ">=" 0.333 "≥ 1/3 of the passthrough"
	goal "4 KiB random write (IOPS)" abs rw ">=" 8000 "≥ 8,000 IOPS"
	goal "sequential write" disk seqw ">=" 0.9 "≥ 90 % of the local disk's rate / k"
	goal "sequential read, cold (MiB/s)" abs seqr ">=" 1000 "≥ 1,000 MiB/s"
}

# The report: setup, the measurements, the targets, notes.
report() {
	local n
	echo "$(date -u '+%F %H:%M UTC'), $(nproc) CPUs, Linux $(uname -r)," \
		"local disk: $(stat -f -c %T "$T") ($(df --output=source "$T" | tail -1))$(
		[ "$QUICK" = 1 ] && echo ', quick run (BENCH_QUICK=1)'), load average $LOAD0 at" \
		"the start, $(cut -d' ' -f1 /proc/loadavg) at the end (other work on the machine" \
		"slows every column; the ratios are of one sitting)."
	echo "canfs: 4 canfsd daemons on loopback, k=2, heartbeat $HB ms, mount through" \
		"daemon 1's Unix socket with ${CANFS_OPTS--o allow_other}; their data" \
		"dirs are on the same local disk.  Passthrough: build/tests/passthrough" \
		"(libfuse3 high-level API, 1 s attribute/entry timeouts); bindfs" \
		"$(bindfs --version 2>/dev/null | head -1 | awk '{ print $2 }') with its defaults." \
		"The tree: $TREE_DESC.  Cold: sync, drop_caches, and for the FUSE" \
		"targets a fresh mount."
	echo
	table
	echo
	targets
	for n in "${NOTES[@]}"; do echo; echo "Note: $n"; done
}

mkdir -p "$(dirname "$OUT")"
report >"$OUT"
echo
cat "$OUT"

# Replace what lies between README.md's bench-fs markers with the report.
if [ "$BENCH_README" = 1 ]; then
	python3 - "$ROOT/README.md" "$OUT" <<'PY' || fail "cannot write README.md"
import sys
readme, out = sys.argv[1], sys.argv[2]
text, rep = open(readme).read(), open(out).read()
b, e = "<!-- bench-fs:begin -->\n", "<!-- bench-fs:end -->"
i, j = text.find(b), text.find(e)
if i < 0 or j < i:
    sys.exit("README.md has no bench-fs markers")
open(readme, "w").write(text[:i + len(b)] + rep + text[j:])
PY
	log "the tables are in README.md"
fi
