#!/usr/bin/env bash
# bench-store.sh: object store benchmark (`make bench-store`).
#
# With real canfsd daemons on loopback and tests/objtool (many requests in
# flight over several connections):
# The latency and throughput clusters are measured once every daemon is
# past its settle window (canfsd: a node that gained space checks its
# copies against the other replicas' for two repair intervals plus 5 s,
# which costs every write there two more round trips): the bench waits
# SETTLE seconds (default 2 x 30 + 6, the --repair-interval used here)
# after the cluster formed; SETTLE=0 measures the just-formed cluster.
#   0. latency: 4 daemons, k=3, one connection with one request in flight
#      (objtool lat): LAT_N PUTs then GETs of 4 KiB, median and p99 in
#      microseconds, beside the cost of one 4 KiB write + fdatasync on the
#      filesystem of the daemons' data dirs (tests/lib/fsync_lat.py, FSYNC_N
#      times, in place and appending), measured in the same run;
#   1. PUT and GET throughput (objects/s, MB/s = 10^6 bytes/s, p50/p99
#      latency) of 4 KiB and 1 MiB values on 4 and 16 daemons with k=1 and
#      k=3, and of 1 MiB values with k=2; each also in batch requests
#      (OBJ_BATCH, objtool --batch) with as many objects in flight: 4 KiB
#      in batches of BATCH_SMALL over CONNS_BATCH x WINDOW_BATCH_SMALL,
#      1 MiB in batches of BATCH_LARGE over CONNS_BATCH x
#      WINDOW_BATCH_LARGE (the "batch" rows; SKIP=batch leaves them out);
#   2. re-replication: REREP_MIB of 1 MiB objects with k=3 on REREP_NODES
#      daemons (repair every 2 s); kill -9 the node holding the most, and
#      time until `canctl verify` reports every object with k good copies
#      again (failure detection, takeover and repair pushes included);
#   3. memory: VmRSS (and its anonymous part) per daemon before and after
#      writing MEM_OBJECTS tiny objects over 4 daemons with k=1, in chunks,
#      stopping early after MEM_SECONDS; the growth per million objects per
#      daemon is extrapolated from what was written (the table says so).
# Writes Markdown tables to tests/results/bench-store.md and prints them.
# The daemons' data dirs (and the fdatasync file) live in a fresh directory
# under BENCH_DIR (default /var/tmp), which must be on a disk: a tmpfs or
# ramfs is refused unless BENCH_ALLOW_TMPFS=1 (the table then says so).
# Every daemon started is killed, and every data dir removed, on exit,
# Ctrl-C or SIGTERM (tests/lib/common.sh's trap).
#
# Environment (all optional): BENCH_DIR=/var/tmp, LAT_N=2000 LAT_WARMUP=100
# FSYNC_N=500 (latency part), SMALL_N=20000 LARGE_N=500 (objects per
# throughput run), CONNS_SMALL=16 WINDOW_SMALL=8 CONNS_LARGE=8
# WINDOW_LARGE=4, BATCH_SMALL=16 WINDOW_BATCH_SMALL=2 BATCH_LARGE=4
# WINDOW_BATCH_LARGE=2 CONNS_BATCH=4, TPUT_NODES="4 16" TPUT_K="1 2 3" (the
# throughput clusters), REREP_MIB=2048 REREP_NODES=6, MEM_OBJECTS=1000000
# MEM_SECONDS=300 MEM_SIZE=16, HB=1000, SETTLE=66, PORT (default: a free
# one),
# SKIP="lat,tput,batch,rerep,mem" (parts to leave out), BENCH_TIMEOUT=7200,
# BENCH_OUT (default tests/results/bench-store.md), BUILD, KEEP=1.
# BENCH_QUICK=1 is a short run for development (a few minutes): LAT_N=500
# FSYNC_N=200 SMALL_N=4000 LARGE_N=100 TPUT_NODES=4 TPUT_K="2 3" and
# SKIP="rerep,mem" unless those are set.
set -u
cd "$(dirname "$0")/.." || exit 1
export TEST_NAME=bench-store
export TEST_TIMEOUT=${BENCH_TIMEOUT:-7200}
export HB=${HB:-1000}
QUICK=${BENCH_QUICK:-0}
BENCH_DIR=${BENCH_DIR:-/var/tmp}
mkdir -p "$BENCH_DIR" || exit 1
# common.sh makes its work dir $T (the daemons' data dirs) under TMPDIR.
export TMPDIR=$BENCH_DIR
# shellcheck source=../tests/lib/common.sh
. tests/lib/common.sh
require_tools
OBJTOOL=$BUILD/tests/objtool
make -s "${BUILD#"$ROOT"/}/tests/objtool" >/dev/null ||
	fail "cannot build tests/objtool"
command -v jq >/dev/null || skip "bench-store needs jq"
ulimit -n 4096 2>/dev/null || true

if [ "$QUICK" = 1 ]; then
	LAT_N=${LAT_N:-500} FSYNC_N=${FSYNC_N:-200}
	SMALL_N=${SMALL_N:-4000} LARGE_N=${LARGE_N:-100}
	TPUT_NODES=${TPUT_NODES:-4} TPUT_K=${TPUT_K:-2 3}
	SKIP=${SKIP-rerep,mem}
fi
LAT_N=${LAT_N:-2000}
LAT_WARMUP=${LAT_WARMUP:-100}
FSYNC_N=${FSYNC_N:-500}
SMALL_N=${SMALL_N:-20000}
LARGE_N=${LARGE_N:-500}
TPUT_NODES=${TPUT_NODES:-4 16}
TPUT_K=${TPUT_K:-1 2 3}
CONNS_SMALL=${CONNS_SMALL:-16}
WINDOW_SMALL=${WINDOW_SMALL:-8}
CONNS_LARGE=${CONNS_LARGE:-8}
WINDOW_LARGE=${WINDOW_LARGE:-4}
BATCH_SMALL=${BATCH_SMALL:-16}
WINDOW_BATCH_SMALL=${WINDOW_BATCH_SMALL:-2}
BATCH_LARGE=${BATCH_LARGE:-4}
WINDOW_BATCH_LARGE=${WINDOW_BATCH_LARGE:-2}
CONNS_BATCH=${CONNS_BATCH:-4}
REREP_MIB=${REREP_MIB:-2048}
REREP_NODES=${REREP_NODES:-6}
MEM_OBJECTS=${MEM_OBJECTS:-1000000}
MEM_SECONDS=${MEM_SECONDS:-300}
MEM_SIZE=${MEM_SIZE:-16}
SKIP=${SKIP:-}
REPAIR=30	# --repair-interval of the latency and throughput clusters
SETTLE=${SETTLE:-$((2 * REPAIR + 6))}
OUT=${BENCH_OUT:-$RESULTS/bench-store.md}
MD=$T/bench.md
: >"$MD.notes"
CLUSTER=0	# clusters started so far (each gets its own 127.0.(100+C).x)
PORT=${PORT:-$(free_port)}
NAMES=()	# the current cluster's nodes

mkdir -p "$RESULTS"
skipped() { [[ ",$SKIP," == *",$1,"* ]]; }

# Where the data dirs are: "DEVICE FSTYPE mounted on DIR"; refuse a
# filesystem in memory unless BENCH_ALLOW_TMPFS=1.
read -r DISK_SRC DISK_FS DISK_MNT < <(df --output=source,fstype,target \
	"$T" 2>/dev/null | tail -n 1)
[ -n "${DISK_FS:-}" ] || DISK_FS=$(stat -f -c %T "$T")
DISK_DESC="${DISK_SRC:-?} $DISK_FS mounted on ${DISK_MNT:-?}"
case $DISK_FS in
tmpfs | ramfs)
	[ "${BENCH_ALLOW_TMPFS:-0}" = 1 ] ||
		fail "BENCH_DIR=$BENCH_DIR is on $DISK_FS (memory), not a disk;" \
			"choose another BENCH_DIR or set BENCH_ALLOW_TMPFS=1"
	DISK_DESC+=", IN MEMORY (BENCH_ALLOW_TMPFS=1)" ;;
esac
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

# start_cluster NODES K [canfsd options...]: a fresh overlay; NAMES set.
start_cluster() {
	local nodes=$1 k=$2 i name via
	shift 2
	CLUSTER=$((CLUSTER + 1))
	CLUSTER_K=$k
	NAMES=()
	for i in $(seq 1 "$nodes"); do
		name=c${CLUSTER}n$i
		via=""
		[ "$i" -gt 1 ] && via=$(addr_of "c${CLUSTER}n1")
		start_node "$name" "127.0.$((100 + CLUSTER)).$i:$PORT" "$via" \
			-k "$k" "$@"
		wait_active "$name" 30
		NAMES+=("$name")
	done
	check_overlay --points 100 --wait 30 -q >"$T/overlay.out" 2>&1 || {
		cat "$T/overlay.out"
		fail "cluster $CLUSTER ($nodes nodes) did not settle"
	}
}

# settle: wait until every daemon of the cluster just formed is past its
# settle window (see the top), unless SETTLE=0.
settle() {
	[ "$SETTLE" -gt 0 ] || return 0
	log "  waiting ${SETTLE}s: the joiners' settle window"
	sleep "$SETTLE"
}

# stop_cluster: kill -9 the current cluster and remove its data.
stop_cluster() {
	local n live=()
	for n in "${NAMES[@]}"; do running "$n" && live+=("$n"); done
	[ ${#live[@]} -gt 0 ] && kill9 "${live[@]}"
	for n in "${NAMES[@]}"; do rm -rf "${T:?}/$n"; done
	NAMES=()
}

# Comma-separated addresses of the current cluster's live nodes.
cluster_addrs() {
	local n out=()
	for n in "${NAMES[@]}"; do running "$n" && out+=("$(addr_of "$n")"); done
	local IFS=,
	echo "${out[*]}"
}

# Fields of objtool's last RESULT line (set by bench).
R_n=0 R_ok=0 R_ops_per_s=0 R_mb_per_s=0 R_p50_ms=0 R_p99_ms=0

# bench OP SIZE N CONNS WINDOW SEED [BATCH]: one objtool bench run (with
# BATCH objects per request); sets R_* from its RESULT line.
bench() {
	local op=$1 size=$2 n=$3 conns=$4 win=$5 seed=$6 batch=${7:-1} out line
	out=$("$OBJTOOL" bench -q -d "$(cluster_addrs)" --op "$op" \
		--size "$size" -n "$n" -c "$conns" -w "$win" -s "$seed" \
		--batch "$batch" 2>"$T/bench.err")
	line=$(printf '%s\n' "$out" | grep '^RESULT ')
	[ -n "$line" ] || { cat "$T/bench.err"; fail "objtool bench failed"; }
	log "  $(printf '%s\n' "$out" | grep '^bench ')"
	for kv in ${line#RESULT }; do
		printf -v "R_${kv%%=*}" '%s' "${kv#*=}"
	done
	if [ "$R_ok" -ne "$n" ]; then
		head -5 "$T/bench.err"
		log "WARNING: $((n - R_ok)) of $n $op requests failed"
		{
			echo "- $(cluster_desc), $op of $n x $(size_name "$size"):" \
				"$((n - R_ok)) failed; first errors:"
			# shellcheck disable=SC2016 # literal backquotes
			grep -v "connection broken\|retrying" "$T/bench.err" |
				head -3 | sed 's/^/  - `/; s/$/`/'
		} >>"$MD.notes"
	fi
}

# The current cluster, for notes.
cluster_desc() {
	echo "${#NAMES[@]} daemons k=$CLUSTER_K"
}

# A size in bytes as text.
size_name() {
	case $1 in
	4096) echo "4 KiB" ;; 1048576) echo "1 MiB" ;; *) echo "$1 B" ;;
	esac
}

# The load average now ("1-min 5-min 15-min").
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

# --------------------------------------------------------------- latency

# Fields of the last "RESULT k=v ..." line of objtool lat or fsync_lat.py.
L_mode="" L_n=0 L_ok=0 L_p50_us=0 L_p99_us=0 L_mean_us=0 L_min_us=0 L_max_us=0
lat_vars() {
	local kv
	for kv in ${1#RESULT }; do
		printf -v "L_${kv%%=*}" '%s' "${kv#*=}"
	done
}

lat_row() { # what ok file
	printf '| %s | %d | %.0f | %.0f | %.0f | %.0f | %.0f | %s |\n' "$1" \
		"$L_n" "$L_p50_us" "$L_p99_us" "$L_mean_us" "$L_min_us" \
		"$L_max_us" "$2" >>"$3"
}

# The fdatasync baseline on the data dirs' filesystem (no daemon running);
# sets FS_overwrite_p50/p99 and FS_append_p50/p99.
run_fsync() {
	local out line what
	log "fdatasync: $FSYNC_N x (4 KiB write + fdatasync) in $T" \
		"($DISK_DESC)"
	out=$(python3 "$LIB/fsync_lat.py" "$T" -n "$FSYNC_N" --size 4096 \
		2>&1) || {
		printf '%s\n' "$out"
		fail "fsync_lat.py failed"
	}
	while read -r line; do
		[[ $line == RESULT* ]] || continue
		log "  $line"
		lat_vars "$line"
		printf -v "FS_${L_mode}_p50" '%s' "$L_p50_us"
		printf -v "FS_${L_mode}_p99" '%s' "$L_p99_us"
		case $L_mode in
		overwrite) what="4 KiB pwrite in place + fdatasync" ;;
		*) what="4 KiB append + fdatasync" ;;
		esac
		lat_row "fdatasync: $what" - "$MD.fsync"
	done <<<"$out"
}

# lat OP: LAT_N 4 KiB requests, one at a time, through the first daemon.
lat() {
	local op=$1 out line
	out=$("$OBJTOOL" lat -q -d "$(addr_of "${NAMES[0]}")" --op "$op" \
		--size 4096 -n "$LAT_N" --warmup "$LAT_WARMUP" -s 11 \
		2>"$T/lat.err")
	line=$(printf '%s\n' "$out" | grep '^RESULT ')
	[ -n "$line" ] || { cat "$T/lat.err"; fail "objtool lat failed"; }
	log "  $(printf '%s\n' "$out" | grep '^lat ')"
	lat_vars "$line"
	if [ "$L_ok" -ne "$LAT_N" ]; then
		head -5 "$T/lat.err"
		echo "- $(cluster_desc), one at a time, $op of $LAT_N x 4 KiB:" \
			"$((LAT_N - L_ok)) failed" >>"$MD.notes"
	fi
	printf -v "LAT_${op}_p50" '%s' "$L_p50_us"
	printf -v "LAT_${op}_p99" '%s' "$L_p99_us"
	lat_row "4 daemons, k=3: 4 KiB ${op^^}, 1 connection x 1 in flight" \
		"$L_ok/$L_n" "$MD.lat"
}

run_latency() {
	: >"$MD.lat"
	: >"$MD.fsync"
	LOAD_LAT=$(loadavg)
	run_fsync
	log "latency: 4 daemons, k=3, one request in flight (load $LOAD_LAT)"
	start_cluster 4 3 --repair-interval "$REPAIR" --store-size 8192
	settle
	lat put
	lat get
	LAT_TAKEOVERS=$(takeovers)
	stop_cluster
}

# A ratio a/b with one decimal ("?" when b is 0).
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1f", a / b; else print "?" }'; }

# ------------------------------------------------------------ throughput
tput_row() { # nodes k size op
	printf '| %d | %d | %s | %s | %d | %.0f | %.1f | %.1f | %.1f | %s | %d |\n' \
		"$1" "$2" "$(size_name "$3")" "$4" "$R_n" "$R_ops_per_s" \
		"$R_mb_per_s" "$R_p50_ms" "$R_p99_ms" "$R_ok/$R_n" \
		"$(takeovers)" >>"$MD.tput"
}

run_throughput() {
	local nodes k size n conns win b
	: >"$MD.tput"
	for nodes in $TPUT_NODES; do
		for k in $TPUT_K; do
			log "throughput: $nodes daemons, k=$k (load $(loadavg))"
			start_cluster "$nodes" "$k" --repair-interval \
				"$REPAIR" --store-size 8192
			settle
			for size in 4096 1048576; do
				[ "$k" -eq 2 ] && [ "$size" -eq 4096 ] && continue
				if [ "$size" -eq 4096 ]; then
					n=$SMALL_N conns=$CONNS_SMALL win=$WINDOW_SMALL
				else
					n=$LARGE_N conns=$CONNS_LARGE win=$WINDOW_LARGE
				fi
				bench put "$size" "$n" "$conns" "$win" 1
				tput_row "$nodes" "$k" "$size" PUT
				bench get "$size" "$n" "$conns" "$win" 1
				tput_row "$nodes" "$k" "$size" GET
				skipped batch && continue
				if [ "$size" -eq 4096 ]; then
					b=$BATCH_SMALL win=$WINDOW_BATCH_SMALL
				else
					b=$BATCH_LARGE win=$WINDOW_BATCH_LARGE
				fi
				bench put "$size" "$n" "$CONNS_BATCH" "$win" 1 "$b"
				tput_row "$nodes" "$k" "$size" "PUT, batches of $b"
				bench get "$size" "$n" "$CONNS_BATCH" "$win" 1 "$b"
				tput_row "$nodes" "$k" "$size" "GET, batches of $b"
			done
			stop_cluster
		done
	done
}

# ------------------------------------------------------- re-replication

# Replicas and bytes a node holds: "COUNT BYTES" (LIST pages).
held_by() {
	python3 -c 'import sys, struct, canwire
c = canwire.Conn(sys.argv[1], 30.0); start = n = b = 0
while True:
    t, f, body = c.request(0x0205, struct.pack("<I", start), timeout=30)
    if t != 0x0206: sys.exit("LIST_REQ answered with type %#x" % t)
    dims = body[0]; cnt = struct.unpack_from("<I", body, 1)[0]
    off = 5; esz = 4 * dims + 8 + 8 + 1 + 8 + 4 + 4 + 1
    for i in range(cnt):
        b += struct.unpack_from("<I", body, off + 4 * dims + 29)[0]
        off += esz
    n += cnt; start += cnt
    if not f & 1: break
print(n, b)' "$(addr_of "$1")"
}

# One verify of the current cluster; true when every live node is seen and
# every object has all k good copies.
verify_clean() {
	local via out n nlive=0
	via=""
	for n in "${NAMES[@]}"; do
		running "$n" || continue
		nlive=$((nlive + 1))
		[ -z "$via" ] && via=$n
	done
	out=$("$CANCTL" -d "$(addr_of "$via")" -t 20000 verify --json \
		2>/dev/null) || true
	VJ=$out
	[ -n "$out" ] &&
		[ "$(jq --argjson live "$nlive" '.nodes == $live and
			.unreachable == 0 and .keys == .full and
			.under_replicated == 0 and .corrupt == 0' <<<"$out")" = true ]
}

# Takeovers logged by the current cluster's daemons (a node was declared
# failed and its zones taken); any with no kill is a false detection.
takeovers() {
	cat "$T"/c${CLUSTER}n*.log 2>/dev/null |
		grep -c "took over the zones of failed"
}

run_rereplication() {
	local n objs victim best=0 bytes cnt t0 secs pre
	objs=$REREP_MIB
	log "re-replication: $REREP_NODES daemons, k=3, $objs x 1 MiB"
	start_cluster "$REREP_NODES" 3 --repair-interval 2 --store-size 16384
	bench put 1048576 "$objs" "$CONNS_LARGE" "$WINDOW_LARGE" 7
	[ "$R_ok" -eq "$objs" ] || fail "could not write the data set"
	wait_for 120 verify_clean || fail "not fully replicated before the kill"
	for n in "${NAMES[@]}"; do
		read -r cnt bytes < <(held_by "$n")
		log "  $n holds $cnt replicas, $((bytes >> 20)) MiB"
		if [ "$bytes" -gt "$best" ]; then best=$bytes victim=$n; fi
	done
	pre=$(takeovers)
	log "kill -9 $victim ($((best >> 20)) MiB); timing until verify is clean"
	t0=$(now_ms)
	kill9 "$victim"
	wait_for 900 verify_clean || {
		printf '%s\n' "$VJ"
		fail "verify not clean 900 s after the kill"
	}
	secs=$(awk -v ms=$(($(now_ms) - t0)) 'BEGIN { printf "%.1f", ms / 1000 }')
	log "re-replicated in ${secs}s: $(jq -c . <<<"$VJ")"
	printf '| %d | 3 | %d x 1 MiB (%d MiB stored) | %s: %d MiB | %s s | %.0f MB/s | %d (%d before the kill) |\n' \
		"$REREP_NODES" "$objs" $((objs * 3)) "$victim" $((best >> 20)) \
		"$secs" "$(awk -v b="$best" -v s="$secs" 'BEGIN { print b / 1e6 / s }')" \
		"$(takeovers)" "$pre" >"$MD.rerep"
	stop_cluster
}

# --------------------------------------------------------------- memory

# "RSS_KIB ANON_KIB" of a node's daemon.
rss_of() {
	awk '/^VmRSS:/ { r = $2 } /^RssAnon:/ { a = $2 } END { print r, a }' \
		"/proc/$(pid_of "$1")/status"
}

run_memory() {
	local n chunk=100000 done=0 seed=100 t0 r a r0 a0 r1 a1 per
	log "memory: 4 daemons, k=1, up to $MEM_OBJECTS x $MEM_SIZE B" \
		"(stop after ${MEM_SECONDS}s)"
	start_cluster 4 1 --repair-interval 30 --store-size 16384
	sleep 2
	r0=0 a0=0
	for n in "${NAMES[@]}"; do
		read -r r a < <(rss_of "$n")
		r0=$((r0 + r)) a0=$((a0 + a))
	done
	t0=$(now_ms)
	while [ "$done" -lt "$MEM_OBJECTS" ] &&
		[ $(($(now_ms) - t0)) -lt $((MEM_SECONDS * 1000)) ]; do
		[ $((MEM_OBJECTS - done)) -lt $chunk ] &&
			chunk=$((MEM_OBJECTS - done))
		bench put "$MEM_SIZE" "$chunk" 16 16 "$seed"
		done=$((done + R_ok))
		seed=$((seed + 1))
	done
	sleep 5	# let repair passes and commits settle
	r1=0 a1=0
	: >"$MD.memnodes"
	for n in "${NAMES[@]}"; do
		read -r r a < <(rss_of "$n")
		read -r cnt _ < <(held_by "$n")
		log "  $n: $cnt objects, VmRSS $((r >> 10)) MiB (anon $((a >> 10)) MiB)"
		r1=$((r1 + r)) a1=$((a1 + a))
	done
	per=$(awk -v d="$done" 'BEGIN { print d / 4 }')
	printf '| 4 | 1 | %d x %d B in %.0f s | %.1f MiB | %.1f MiB | %.1f MiB | %.1f MiB | %s |\n' \
		"$done" "$MEM_SIZE" "$(awk -v ms=$(($(now_ms) - t0)) 'BEGIN { print ms / 1000 }')" \
		"$(awk -v k="$r0" 'BEGIN { print k / 4 / 1024 }')" \
		"$(awk -v k="$r1" 'BEGIN { print k / 4 / 1024 }')" \
		"$(awk -v k0="$r0" -v k1="$r1" -v p="$per" 'BEGIN { print (k1 - k0) / 4 / 1024 / p * 1e6 }')" \
		"$(awk -v k0="$a0" -v k1="$a1" -v p="$per" 'BEGIN { print (k1 - k0) / 4 / 1024 / p * 1e6 }')" \
		"$([ "$done" -ge 1000000 ] && echo measured || echo "extrapolated from $done")" \
		>"$MD.mem"
	stop_cluster
}

# ---------------------------------------------------------------- main
log "bench-store: $(nproc) CPUs, heartbeat $HB ms; data dirs in $T" \
	"($DISK_DESC); load average $LOAD_START$([ "$QUICK" = 1 ] &&
		echo "; BENCH_QUICK")"
started=$(now_ms)
skipped lat || run_latency
skipped tput || run_throughput
skipped rerep || run_rereplication
skipped mem || run_memory

{
	echo "# Object store benchmark"
	echo
	echo "$(date -u +%Y-%m-%d) on $(nproc) CPUs ($(uname -m))," \
		"loopback daemons with heartbeat $HB ms$([ "$QUICK" = 1 ] &&
			echo ", BENCH_QUICK=1 (fewer requests)")." \
		"The daemons' data dirs are on $DISK_DESC, under" \
		"BENCH_DIR=$BENCH_DIR." \
		"Load average at the start: $LOAD_START; at the end:" \
		"$(loadavg) (the machine may be shared)." \
		"MB/s = 10^6 bytes/s of values; latency per request with" \
		"every request of a run in flight up to the window."
	if [ -s "$MD.lat" ]; then
		echo
		echo "## One request in flight, beside one fdatasync"
		echo
		echo "One client connection to the first daemon and one request" \
			"at a time (\`objtool lat\`), $LAT_WARMUP unmeasured" \
			"first: each PUT goes client → that daemon → the key's" \
			"primary (when another) → its k-1 replicas, every copy" \
			"committed to disk, and back$([ "$SETTLE" -gt 0 ] &&
				echo ", measured ${SETTLE} s after the cluster formed (past the settle window)"). GETs read what the PUTs" \
			"wrote. The fdatasync rows were measured in this run" \
			"just before that cluster started, on the same" \
			"filesystem as the data dirs ($DISK_DESC), by" \
			"tests/lib/fsync_lat.py: $FSYNC_N times a 4 KiB write" \
			"plus fdatasync, timed together. Load average when this" \
			"part began: $LOAD_LAT. Microseconds."
		echo
		echo "| what | n | p50 µs | p99 µs | mean µs | min µs | max µs | ok |"
		echo "|---|---|---|---|---|---|---|---|"
		cat "$MD.lat" "$MD.fsync"
		echo
		echo "A 4 KiB PUT (k=3) takes $(ratio "${LAT_put_p50:-0}" \
			"${FS_overwrite_p50:-0}") times one in-place fdatasync" \
			"at the median and $(ratio "${LAT_put_p99:-0}" \
			"${FS_overwrite_p99:-0}") times at p99 (against an" \
			"appending one: $(ratio "${LAT_put_p50:-0}" \
			"${FS_append_p50:-0}") and $(ratio "${LAT_put_p99:-0}" \
			"${FS_append_p99:-0}")). Takeovers logged in that" \
			"cluster (false failure detections): ${LAT_TAKEOVERS:-0}."
	fi
	if [ -s "$MD.tput" ]; then
		echo
		echo "## PUT/GET throughput"
		echo
		echo "$SMALL_N x 4 KiB ($CONNS_SMALL connections x" \
			"$WINDOW_SMALL in flight) and $LARGE_N x 1 MiB" \
			"($CONNS_LARGE x $WINDOW_LARGE), spread over every daemon." \
			"GETs read what the PUTs wrote and check each checksum."
		skipped batch || echo "The \"batches\" rows send the same" \
			"objects in OBJ_BATCH requests with as many objects in" \
			"flight: $CONNS_BATCH connections x $WINDOW_BATCH_SMALL" \
			"batches of $BATCH_SMALL for 4 KiB, $CONNS_BATCH x" \
			"$WINDOW_BATCH_LARGE batches of $BATCH_LARGE for 1 MiB;" \
			"latency is per batch."
		echo
		echo "\"takeovers\" counts the daemons' \"took over the zones" \
			"of failed\" log lines in that cluster so far: no node" \
			"was killed, so any is a false failure detection."
		echo
		echo "| daemons | k | value | op | objects | objects/s | MB/s | p50 ms | p99 ms | ok | takeovers |"
		echo "|---|---|---|---|---|---|---|---|---|---|---|"
		cat "$MD.tput"
	fi
	if [ -s "$MD.rerep" ]; then
		echo
		echo "## Re-replication after kill -9"
		echo
		echo "The node holding the most data is killed; the time runs" \
			"from the kill until \`canctl verify\` reports every object" \
			"with all k good copies (failure detection after 3 missed" \
			"heartbeats, takeover, repair passes every 2 s, pushes at" \
			"the default --repair-rate of 100 MiB/s). The rate is the" \
			"victim's bytes over that time. One takeover is expected" \
			"(the victim's zones); more are false failure detections."
		echo
		echo "| daemons | k | data | victim held | time to clean verify | rate | takeovers |"
		echo "|---|---|---|---|---|---|---|"
		cat "$MD.rerep"
	fi
	if [ -s "$MD.mem" ]; then
		echo
		echo "## Memory per daemon"
		echo
		echo "VmRSS includes the resident pages of the LMDB map" \
			"(file-backed); RssAnon is the daemon's own heap. Growth" \
			"per million objects held by a daemon is linear" \
			"extrapolation when fewer were written."
		echo
		echo "| daemons | k | objects written | VmRSS/daemon before | after | VmRSS growth per 1M objects | RssAnon growth per 1M objects | basis |"
		echo "|---|---|---|---|---|---|---|---|"
		cat "$MD.mem"
	fi
	if [ -s "$MD.notes" ]; then
		echo
		echo "## Problems seen"
		echo
		cat "$MD.notes"
	fi
	echo
	echo "Total run time: $(( ($(now_ms) - started) / 1000 )) s."
} >"$OUT"
cat "$OUT"
log "written to $OUT"
