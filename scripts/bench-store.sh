#!/usr/bin/env bash
# bench-store.sh: object store benchmark (`make bench-store`).
#
# With real canfsd daemons on loopback and tests/objtool (many requests in
# flight over several connections):
#   1. PUT and GET throughput (objects/s, MB/s = 10^6 bytes/s, p50/p99
#      latency) of 4 KiB and 1 MiB values on 4 and 16 daemons with k=1 and
#      k=3, and of 1 MiB values with k=2;
#   2. re-replication: REREP_MIB of 1 MiB objects with k=3 on REREP_NODES
#      daemons (repair every 2 s); kill -9 the node holding the most, and
#      time until `canctl verify` reports every object with k good copies
#      again (failure detection, takeover and repair pushes included);
#   3. memory: VmRSS (and its anonymous part) per daemon before and after
#      writing MEM_OBJECTS tiny objects over 4 daemons with k=1, in chunks,
#      stopping early after MEM_SECONDS; the growth per million objects per
#      daemon is extrapolated from what was written (the table says so).
# Writes Markdown tables to tests/results/bench-store.md and prints them.
# Every daemon started is killed, and every data dir removed, on exit,
# Ctrl-C or SIGTERM (tests/lib/common.sh's trap).
#
# Environment (all optional): SMALL_N=20000 LARGE_N=500 (objects per
# throughput run), CONNS_SMALL=16 WINDOW_SMALL=8 CONNS_LARGE=8
# WINDOW_LARGE=4, REREP_MIB=2048 REREP_NODES=6, MEM_OBJECTS=1000000
# MEM_SECONDS=300 MEM_SIZE=16, HB=1000, PORT (default: a free one),
# SKIP="tput,rerep,mem" (parts to leave out), BENCH_TIMEOUT=7200,
# BENCH_OUT (default tests/results/bench-store.md), BUILD, KEEP=1.
set -u
cd "$(dirname "$0")/.." || exit 1
export TEST_NAME=bench-store
export TEST_TIMEOUT=${BENCH_TIMEOUT:-7200}
export HB=${HB:-1000}
# shellcheck source=../tests/lib/common.sh
. tests/lib/common.sh
require_tools
OBJTOOL=$BUILD/tests/objtool
make -s "${BUILD#"$ROOT"/}/tests/objtool" >/dev/null ||
	fail "cannot build tests/objtool"
command -v jq >/dev/null || skip "bench-store needs jq"
ulimit -n 4096 2>/dev/null || true

SMALL_N=${SMALL_N:-20000}
LARGE_N=${LARGE_N:-500}
CONNS_SMALL=${CONNS_SMALL:-16}
WINDOW_SMALL=${WINDOW_SMALL:-8}
CONNS_LARGE=${CONNS_LARGE:-8}
WINDOW_LARGE=${WINDOW_LARGE:-4}
REREP_MIB=${REREP_MIB:-2048}
REREP_NODES=${REREP_NODES:-6}
MEM_OBJECTS=${MEM_OBJECTS:-1000000}
MEM_SECONDS=${MEM_SECONDS:-300}
MEM_SIZE=${MEM_SIZE:-16}
SKIP=${SKIP:-}
OUT=${BENCH_OUT:-$RESULTS/bench-store.md}
MD=$T/bench.md
: >"$MD.notes"
CLUSTER=0	# clusters started so far (each gets its own 127.0.(100+C).x)
PORT=${PORT:-$(free_port)}
NAMES=()	# the current cluster's nodes

mkdir -p "$RESULTS"
skipped() { [[ ",$SKIP," == *",$1,"* ]]; }

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

# bench OP SIZE N CONNS WINDOW SEED: one objtool bench run; sets R_* from
# its RESULT line.
bench() {
	local op=$1 size=$2 n=$3 conns=$4 win=$5 seed=$6 out line
	out=$("$OBJTOOL" bench -q -d "$(cluster_addrs)" --op "$op" \
		--size "$size" -n "$n" -c "$conns" -w "$win" -s "$seed" \
		2>"$T/bench.err")
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

# ------------------------------------------------------------ throughput
tput_row() { # nodes k size op
	printf '| %d | %d | %s | %s | %d | %.0f | %.1f | %.1f | %.1f | %s | %d |\n' \
		"$1" "$2" "$(size_name "$3")" "$4" "$R_n" "$R_ops_per_s" \
		"$R_mb_per_s" "$R_p50_ms" "$R_p99_ms" "$R_ok/$R_n" \
		"$(takeovers)" >>"$MD.tput"
}

run_throughput() {
	local nodes k size n conns win
	: >"$MD.tput"
	for nodes in 4 16; do
		for k in 1 2 3; do
			log "throughput: $nodes daemons, k=$k"
			start_cluster "$nodes" "$k" --repair-interval 30 \
				--store-size 8192
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
log "bench-store: $(nproc) CPUs, heartbeat $HB ms; work dir $T"
started=$(now_ms)
skipped tput || run_throughput
skipped rerep || run_rereplication
skipped mem || run_memory

{
	echo "# Object store benchmark"
	echo
	echo "$(date -u +%Y-%m-%d) on $(nproc) CPUs ($(uname -m))," \
		"loopback daemons with heartbeat $HB ms," \
		"load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)." \
		"MB/s = 10^6 bytes/s of values; latency per request with" \
		"every request of a run in flight up to the window."
	if [ -s "$MD.tput" ]; then
		echo
		echo "## PUT/GET throughput"
		echo
		echo "$SMALL_N x 4 KiB ($CONNS_SMALL connections x" \
			"$WINDOW_SMALL in flight) and $LARGE_N x 1 MiB" \
			"($CONNS_LARGE x $WINDOW_LARGE), spread over every daemon." \
			"GETs read what the PUTs wrote and check each checksum."
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
