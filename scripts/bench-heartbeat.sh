#!/usr/bin/env bash
# bench-heartbeat.sh: no false failure detection under full store load
# (`make bench-heartbeat`; not part of `make bench`).
#
# Starts NODES canfsd daemons (4) with k=3 and --heartbeat HB (200 ms),
# their data dirs on disk under BENCH_DIR, and drives them with
# tests/objtool at full speed for DURATION seconds: two writers side by
# side, one of 4 KiB PUTs (CONNS_SMALL connections x WINDOW_SMALL in
# flight) and one of 1 MiB PUTs (CONNS_LARGE x WINDOW_LARGE), each writing
# the same SMALL_N (LARGE_N) objects round after round so that the data
# set stays bounded.  Then it counts these lines in every daemon's log
# (overlay/node.c):
#   suspected        "neighbour ID (ADDR) silent for N ms: suspected,
#                    probing" (late by a beat: probed, not yet judged)
#   declared failed  "neighbour ID (ADDR) silent for N ms: failed; takeover
#                    rank R" (a daemon judged a neighbour dead)
#   takeovers        "took over the zones of failed"
#   withdrawn        "is alive after all; takeover cancelled" and "is alive
#                    after all: giving back the zones we took over"
#   cut off          "no neighbour answers: this node seems cut off"
#   stalled          "event loop stalled for N ms (on a CPU C ms, waiting
#                    for one W ms)" (a daemon's own loop was late; the
#                    report adds up where that time went)
# No node is killed, so every declaration is a false suspicion.  Writes
# tests/results/bench-heartbeat.md (and prints it).  Exit 0 when no daemon
# declared a neighbour failed and every daemon is still running; 1
# otherwise (the daemons' logs are then kept in
# tests/results/bench-heartbeat-logs/).  Every daemon and writer started is
# killed, and every data dir removed, on exit, Ctrl-C or SIGTERM.
#
# Environment (all optional): DURATION=300 (seconds of load), HB=200,
# NODES=4, K=3, BENCH_DIR=/var/tmp (refused if tmpfs unless
# BENCH_ALLOW_TMPFS=1), SMALL_N=2000 LARGE_N=20 (objects per round;
# short rounds, as the load runs until the round under way at DURATION ends),
# CONNS_SMALL=16 WINDOW_SMALL=8 CONNS_LARGE=8 WINDOW_LARGE=4, PORT,
# BENCH_OUT (default tests/results/bench-heartbeat.md), BUILD, KEEP=1.
set -u
cd "$(dirname "$0")/.." || exit 1
DURATION=${DURATION:-300}
export TEST_NAME=bench-heartbeat
export TEST_TIMEOUT=$((DURATION + 600))
export HB=${HB:-200}
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
ulimit -n 4096 2>/dev/null || true

NODES=${NODES:-4}
K=${K:-3}
SMALL_N=${SMALL_N:-2000}
LARGE_N=${LARGE_N:-20}
CONNS_SMALL=${CONNS_SMALL:-16}
WINDOW_SMALL=${WINDOW_SMALL:-8}
CONNS_LARGE=${CONNS_LARGE:-8}
WINDOW_LARGE=${WINDOW_LARGE:-4}
OUT=${BENCH_OUT:-$RESULTS/bench-heartbeat.md}
PORT=${PORT:-$(free_port)}
case $DURATION in '' | *[!0-9]*) fail "DURATION must be seconds" ;; esac
case $NODES in '' | *[!0-9]* | 0 | 1) fail "NODES must be 2 or more" ;; esac
mkdir -p "$RESULTS"

# The log lines counted (fixed strings, from overlay/node.c).
MSG_SUSPECTED=": suspected, probing"
MSG_DECLARED=": failed; takeover rank"
MSG_TAKEOVER="took over the zones of failed"
MSG_CANCELLED="is alive after all; takeover cancelled"
MSG_GIVEBACK="is alive after all: giving back the zones"
MSG_CUTOFF="seems cut off from the"
MSG_STALL="event loop stalled for"

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

# The writers (background subshells), stopped before common.sh's cleanup
# kills the daemons: no new round starts once $T/stop exists, and each
# writer's processes (its objtool) are killed by pid, children first.
WRITERS=()

# descendants PID: the pids of PID's children, grandchildren, ...
# shellcheck disable=SC2317 # reached through the EXIT trap
descendants() {
	local c
	for c in $(pgrep -P "$1"); do
		descendants "$c"
		echo "$c"
	done
}

# shellcheck disable=SC2317 # reached through the EXIT trap
stop_writers() {
	local w pids
	: >"$T/stop"
	for w in "${WRITERS[@]}"; do
		kill -0 "$w" 2>/dev/null || continue
		pids=$(descendants "$w")
		kill "$w" 2>/dev/null
		# shellcheck disable=SC2086 # a list of pids
		[ -n "$pids" ] && kill $pids 2>/dev/null
	done
	for w in "${WRITERS[@]}"; do wait "$w" 2>/dev/null; done
	WRITERS=()
}
# shellcheck disable=SC2317 # the EXIT trap
hb_cleanup() {
	local rc=$?
	stop_writers
	(exit "$rc")
	cleanup
}
trap hb_cleanup EXIT

# writer TAG SIZE N CONNS WINDOW: rounds of N PUTs until the deadline;
# one "RESULT ..." line (or "FAILED rc") per round in $T/TAG.results.
writer() {
	local tag=$1 size=$2 n=$3 conns=$4 win=$5 rc
	while [ "$(now_ms)" -lt "$DEADLINE" ] && [ ! -e "$T/stop" ]; do
		# objtool a direct child of this writer (no $(...) in between).
		"$OBJTOOL" bench -q -d "$ADDRS" --op put --size "$size" \
			-n "$n" -c "$conns" -w "$win" -s 1 >"$T/$tag.out" \
			2>>"$T/$tag.err"
		rc=$?
		grep '^RESULT ' "$T/$tag.out" >>"$T/$tag.results"
		[ $rc -eq 0 ] || echo "FAILED $rc" >>"$T/$tag.results"
	done
}

# Totals of a writer: "ROUNDS OK ASKED SECS FAILED_ROUNDS".
writer_totals() {
	awk '/^RESULT / {
		for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
		r++; ok += f["ok"]; n += f["n"]; s += f["secs"]
	}
	/^FAILED/ { bad++ }
	END { printf "%d %d %d %.1f %d\n", r, ok, n, s, bad }' "$T/$1.results"
}

count() { cat "$T"/n*.log | grep -cF -- "$1"; }

# The daemons' loop stalls logged since HH:MM:SS.mmm (same day): "COUNT
# TOTAL_MS ONCPU_MS WAIT_MS" from "event loop stalled for N ms (on a CPU
# C ms, waiting for one W ms)"; W is -1 where schedstat is missing.
stalls() {
	cat "$T"/n*.log | grep -F -- "$MSG_STALL" | awk -v since="$1" '
	$1 >= since {
		match($0, /stalled for [0-9]+ ms/); split(substr($0, RSTART, RLENGTH), a, " ")
		match($0, /on a CPU [0-9]+ ms/); split(substr($0, RSTART, RLENGTH), b, " ")
		match($0, /waiting for one -?[0-9]+ ms/); split(substr($0, RSTART, RLENGTH), c, " ")
		n++; tot += a[3]; cpu += b[4]; if (c[4] < 0) unk = 1; else wt += c[4]
	}
	END { printf "%d %d %d %d\n", n, tot, cpu, unk ? -1 : wt }'
}

# ---------------------------------------------------------------- main
log "bench-heartbeat: $NODES daemons, k=$K, heartbeat $HB ms, load for" \
	"${DURATION}s; data dirs in $T ($DISK_DESC); load average" \
	"$(cut -d' ' -f1-3 /proc/loadavg)"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
names=()
for i in $(seq 1 "$NODES"); do
	via=""
	[ "$i" -gt 1 ] && via=$(addr_of n1)
	start_node "n$i" "127.0.99.$i:$PORT" "$via" -k "$K" \
		--repair-interval 30 --store-size 16384
	wait_active "n$i" 30
	names+=("n$i")
done
check_overlay --points 100 --wait 30 -q >"$T/overlay.out" 2>&1 || {
	cat "$T/overlay.out"
	fail "the overlay did not settle"
}
ADDRS=$(for n in "${names[@]}"; do addr_of "$n"; done | paste -sd,)
# Lines logged while joining do not count.
base_suspected=$(count "$MSG_SUSPECTED")
base_declared=$(count "$MSG_DECLARED")
base_takeover=$(count "$MSG_TAKEOVER")
base_cancelled=$(count "$MSG_CANCELLED")
base_giveback=$(count "$MSG_GIVEBACK")
base_cutoff=$(count "$MSG_CUTOFF")

: >"$T/small.results"
: >"$T/large.results"
t0=$(now_ms)
T0_CLOCK=$(date +%T.%3N)
DEADLINE=$((t0 + DURATION * 1000))
writer small 4096 "$SMALL_N" "$CONNS_SMALL" "$WINDOW_SMALL" &
WRITERS+=($!)
writer large 1048576 "$LARGE_N" "$CONNS_LARGE" "$WINDOW_LARGE" &
WRITERS+=($!)
log "writers started: 4 KiB x $SMALL_N ($CONNS_SMALL x $WINDOW_SMALL) and" \
	"1 MiB x $LARGE_N ($CONNS_LARGE x $WINDOW_LARGE) per round, k=$K"

# Sample the load average and the counts every 10 s until the deadline.
load_max=0 load_sum=0 samples=0
while [ "$(now_ms)" -lt "$DEADLINE" ]; do
	left=$((DEADLINE - $(now_ms)))
	[ "$left" -gt 10000 ] && left=10000
	# In the background, so that a signal's trap runs at once.
	sleep "$(awk -v ms="$left" 'BEGIN { print ms / 1000 }')" &
	wait $!
	l=$(cut -d' ' -f1 /proc/loadavg)
	load_sum=$(awk -v a="$load_sum" -v b="$l" 'BEGIN { print a + b }')
	load_max=$(awk -v a="$load_max" -v b="$l" 'BEGIN { print (b > a) ? b : a }')
	samples=$((samples + 1))
	log "  $(( ($(now_ms) - t0) / 1000 ))s: load $l, declared failed" \
		"$(( $(count "$MSG_DECLARED") - base_declared )), data" \
		"$(du -sm "$T" | cut -f1) MiB"
done
for w in "${WRITERS[@]}"; do wait "$w"; done
WRITERS=()
secs=$(awk -v ms=$(($(now_ms) - t0)) 'BEGIN { printf "%.0f", ms / 1000 }')

suspected=$(( $(count "$MSG_SUSPECTED") - base_suspected ))
declared=$(( $(count "$MSG_DECLARED") - base_declared ))
takeover=$(( $(count "$MSG_TAKEOVER") - base_takeover ))
cancelled=$(( $(count "$MSG_CANCELLED") - base_cancelled ))
giveback=$(( $(count "$MSG_GIVEBACK") - base_giveback ))
cutoff=$(( $(count "$MSG_CUTOFF") - base_cutoff ))
read -r st_n st_ms st_cpu st_wait < <(stalls "$T0_CLOCK")
dead=()
for n in "${names[@]}"; do running "$n" || dead+=("$n"); done
whole=yes
check_overlay --points 100 --wait 30 -q >"$T/overlay.out" 2>&1 || whole=no
read -r s_rounds s_ok s_n _ s_bad < <(writer_totals small)
read -r l_rounds l_ok l_n _ l_bad < <(writer_totals large)
load_mean=$(awk -v s="$load_sum" -v n="$samples" \
	'BEGIN { printf "%.1f", n ? s / n : 0 }')

{
	echo "# Heartbeat under store load"
	echo
	echo "$(date -u +%Y-%m-%d) on $(nproc) CPUs ($(uname -m)): $NODES" \
		"loopback daemons, k=$K, heartbeat $HB ms (declared failed" \
		"after 3 silent intervals and an unanswered probe), data dirs on $DISK_DESC under" \
		"BENCH_DIR=$BENCH_DIR. Load for ${secs} s: 4 KiB PUTs" \
		"($CONNS_SMALL connections x $WINDOW_SMALL in flight, rounds" \
		"of $SMALL_N) and 1 MiB PUTs ($CONNS_LARGE x $WINDOW_LARGE," \
		"rounds of $LARGE_N) side by side, over every daemon. Load" \
		"average at the start: $LOAD_START; 1-min load average" \
		"during the run (every 10 s): mean $load_mean, max $load_max" \
		"(the machine may be shared)."
	echo
	echo "| writer | rounds | PUTs acknowledged / sent | objects/s | MB/s | failed rounds |"
	echo "|---|---|---|---|---|---|"
	printf '| 4 KiB | %d | %d / %d | %.0f | %.1f | %d |\n' "$s_rounds" \
		"$s_ok" "$s_n" "$(awk -v o="$s_ok" -v s="$secs" 'BEGIN { print o / s }')" \
		"$(awk -v o="$s_ok" -v s="$secs" 'BEGIN { print o * 4096 / 1e6 / s }')" \
		"$s_bad"
	printf '| 1 MiB | %d | %d / %d | %.1f | %.1f | %d |\n' "$l_rounds" \
		"$l_ok" "$l_n" "$(awk -v o="$l_ok" -v s="$secs" 'BEGIN { print o / s }')" \
		"$(awk -v o="$l_ok" -v s="$secs" 'BEGIN { print o * 1048576 / 1e6 / s }')" \
		"$l_bad"
	echo
	echo "Log lines of all daemons during the load (no node was killed," \
		"so every declaration is a false suspicion):"
	echo
	echo "| log line | count |"
	echo "|---|---|"
	echo "| neighbour suspected and probed (\`silent for N ms: suspected, probing\`) | $suspected |"
	echo "| neighbour declared failed (\`silent for N ms: failed\`) | $declared |"
	echo "| zones taken over (\`$MSG_TAKEOVER\`) | $takeover |"
	echo "| suspicion withdrawn before a takeover (\`$MSG_CANCELLED\`) | $cancelled |"
	echo "| zones given back after a takeover (\`$MSG_GIVEBACK\`) | $giveback |"
	echo "| node cut off (\`$MSG_CUTOFF\`) | $cutoff |"
	echo "| own event loop late (\`$MSG_STALL N ms\`) | $st_n |"
	echo
	if [ "$st_n" -gt 0 ]; then
		echo "The loops' stalls add up to $st_ms ms: $st_cpu ms of it" \
			"on a CPU (the daemons' own work), $st_wait ms waiting for" \
			"a CPU (the machine's load; -1: unknown), the rest" \
			"neither (blocked in the kernel: page faults, disk)."
		echo
	fi
	echo "Daemons still running at the end: $((NODES - ${#dead[@]}))" \
		"of $NODES${dead[*]:+ (exited: ${dead[*]})}; overlay whole" \
		"afterwards (check_overlay.py, waiting up to 30 s): $whole."
	if [ "$whole" = no ]; then
		echo
		echo "Last lines of check_overlay.py:"
		echo
		tail -8 "$T/overlay.out" | sed 's/^/    /'
	fi
	if [ "$declared" -gt 0 ]; then
		echo
		echo "First declarations:"
		echo
		grep -hF -- "$MSG_DECLARED" "$T"/n*.log | sort | head -10 |
			sed 's/^/    /'
	fi
	echo
	if [ "$declared" -eq 0 ] && [ ${#dead[@]} -eq 0 ]; then
		echo "Result: PASS (no neighbour declared failed in ${secs} s)."
	else
		echo "Result: FAIL ($declared declarations, ${#dead[@]} daemons" \
			"gone)."
	fi
} >"$OUT"
cat "$OUT"
log "written to $OUT"
if [ "$s_bad" -gt 0 ] || [ "$l_bad" -gt 0 ]; then
	log "WARNING: some PUTs failed; first errors:"
	grep -hv "connection broken\|retrying" "$T/small.err" "$T/large.err" |
		head -5
fi
if [ "$declared" -gt 0 ] || [ ${#dead[@]} -gt 0 ]; then
	fail "$declared neighbour(s) declared failed, ${#dead[@]} daemon(s) gone"
fi
exit 0
