# shellcheck shell=bash
# common.sh: helpers for the integration scenarios (tests/integration/*.sh).
#
# Source it first thing:  . "$(dirname "$0")/../lib/common.sh"
#
# It gives the scenario a private temp dir ($T), tracks every daemon the
# scenario starts by name, and installs a trap on EXIT that kills them all
# (by pid), copies their logs to tests/results/NAME-logs/ when the scenario
# failed, and removes $T.  A watchdog ends the scenario after $TEST_TIMEOUT
# seconds so that no scenario can hang.
#
# Exit codes: 0 pass, 77 skip, anything else fail.
#
# Environment: BUILD (default build), HB (heartbeat ms, default 200),
# TEST_TIMEOUT (s, default 600), KEEP=1 keeps $T after the run,
# CANFSD_EXTRA (more canfsd options for every daemon, e.g. "-v debug").
# netns.sh sets CANFSD_PREFIX (a command that runs canfsd in a machine's
# namespace) and NET_EXEC (one that runs tools where daemons are reachable).

set -u

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
CANFSD=$BUILD/canfsd
CANCTL=$BUILD/canctl
LIB=$ROOT/tests/lib
CHECK="python3 $LIB/check_overlay.py"
TEST_NAME=${TEST_NAME:-$(basename "$0" .sh)}
RESULTS=$ROOT/tests/results
mkdir -p "$RESULTS"	# a scenario run alone on a fresh clone writes there too
HB=${HB:-200}
TEST_TIMEOUT=${TEST_TIMEOUT:-600}

declare -A NODE_PID=()	 # name -> pid of the running daemon
declare -A NODE_ADDR=()	 # name -> HOST:PORT
declare -A NODE_ARGS=()	 # name -> the extra arguments it was started with
NODE_NAMES=()		 # every name ever started, in order
ALIVE=()		 # names expected alive, in start order
ALL_PIDS=()		 # every daemon pid ever started (for the trap)

# ------------------------------------------------------------- messages

# A timestamped line on stdout (the scenario's log).
log() { printf '%s %s\n' "$(date +%T.%3N)" "$*"; }

# Fail the scenario with a message (the trap keeps the logs).
fail() {
	log "FAIL: $*"
	exit 1
}

# Skip the scenario (exit 77) with a reason.
skip() {
	echo "SKIP: $*"
	exit 77
}

# Milliseconds since the epoch.
now_ms() { date +%s%3N; }

# ------------------------------------------------------------- setup

# The prerequisites: python3 and built binaries (built here if missing).
require_tools() {
	command -v python3 >/dev/null || skip "python3 is not installed"
	if [ ! -x "$CANFSD" ] || [ ! -x "$CANCTL" ]; then
		log "building canfsd and canctl"
		make -s -C "$ROOT" "${BUILD#"$ROOT"/}/canfsd" \
			"${BUILD#"$ROOT"/}/canctl" >/dev/null ||
			fail "cannot build canfsd/canctl"
	fi
}

T=$(mktemp -d "${TMPDIR:-/tmp}/canfs-$TEST_NAME.XXXXXX")
rm -rf "$RESULTS/$TEST_NAME-logs"

# Kill every daemon we started, keep logs on failure, remove $T.
cleanup() {
	local rc=$? pid
	trap - EXIT INT TERM
	if [ -n "${WATCHDOG:-}" ]; then
		pkill -P "$WATCHDOG" 2>/dev/null
		kill "$WATCHDOG" 2>/dev/null
	fi
	for pid in "${ALL_PIDS[@]}"; do
		our_pid "$pid" && kill -9 "$pid" 2>/dev/null
	done
	for _ in $(seq 50); do
		any_ours "${ALL_PIDS[@]}" || break
		sleep 0.1
	done
	if [ $rc -ne 0 ] && [ $rc -ne 77 ]; then
		mkdir -p "$RESULTS/$TEST_NAME-logs"
		cp "$T"/*.log "$RESULTS/$TEST_NAME-logs/" 2>/dev/null
		log "exit $rc; daemon logs kept in tests/results/$TEST_NAME-logs/"
	fi
	if [ "${KEEP:-0}" = 1 ]; then
		log "keeping $T"
	else
		rm -rf "$T"
	fi
	exit $rc
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT
trap 'log "terminated (watchdog or signal)"; exit 143' TERM

# The watchdog: a scenario that runs over TEST_TIMEOUT is terminated.
( sleep "$TEST_TIMEOUT" && kill -TERM $$ ) >/dev/null 2>&1 &
WATCHDOG=$!

# free_port: a TCP port in 20000-29999 with no listener on any address, so
# that two runs of one scenario (a developer's and CI's) do not collide.
free_port() {
	local p k used
	used=$(ss -Hltn 2>/dev/null | awk '{ n = split($4, a, ":"); print a[n] }')
	for k in $(seq 200); do
		p=$((20000 + (RANDOM * 32768 + RANDOM) % 10000))
		printf '%s\n' "$used" | grep -qx "$p" || { echo "$p"; return 0; }
	done
	echo 27400
}

# ------------------------------------------------------------- daemons

# start_node NAME LISTEN [JOIN] [extra canfsd args...]
# Start canfsd in the foreground (backgrounded here) with data dir
# $T/NAME, log $T/NAME.log (appended, so a restart keeps the history),
# heartbeat $HB and no local socket unless the extra args give one.
# JOIN may be "" for none.  Restarting a NAME reuses its data dir.
start_node() {
	local name=$1 listen=$2 join=${3:-}
	shift 2
	[ $# -gt 0 ] && shift
	# --config none: a config file of an installed package is not ours.
	local args=(--config none -f -l "$listen" -d "$T/$name" -s none \
		--heartbeat "$HB")
	# shellcheck disable=SC2206
	args+=(${CANFSD_EXTRA:-})
	[ -n "$join" ] && args+=(-j "$join")
	if running "$name"; then
		fail "start_node $name: already running (pid ${NODE_PID[$name]})"
	fi
	echo "=== $(date +%T.%3N) start: canfsd ${args[*]} $*" >>"$T/$name.log"
	# shellcheck disable=SC2086 # CANFSD_PREFIX: e.g. nsenter into a netns
	${CANFSD_PREFIX:-} "$CANFSD" "${args[@]}" "$@" >>"$T/$name.log" 2>&1 &
	NODE_PID[$name]=$!
	# Out of the job table: no "Killed" notices in the scenario's log.
	# Bash still reaps it; running() looks at /proc.
	disown $!
	# Until the child has exec'd canfsd its command line is ours (bash),
	# and running() would call it gone: wait for the exec (or its death).
	local k
	for k in $(seq 250); do
		our_pid "${NODE_PID[$name]}" && break
		kill -0 "${NODE_PID[$name]}" 2>/dev/null || break
		sleep 0.02
	done
	[ "$k" -lt 250 ] || fail "start_node $name: canfsd did not start"
	NODE_ADDR[$name]=$listen
	# shellcheck disable=SC2034 # for scenarios: how a node was started
	NODE_ARGS[$name]="$*"
	ALL_PIDS+=("${NODE_PID[$name]}")
	[[ " ${NODE_NAMES[*]} " == *" $name "* ]] || NODE_NAMES+=("$name")
	alive_add "$name"
}

alive_add() {
	local n
	for n in "${ALIVE[@]}"; do [ "$n" = "$1" ] && return; done
	ALIVE+=("$1")
}

alive_del() {
	local n keep=()
	for n in "${ALIVE[@]}"; do [ "$n" != "$1" ] && keep+=("$n"); done
	ALIVE=("${keep[@]}")
}

# True when pid is a live daemon of this scenario (its command line names
# $T), so that a recycled pid is never signalled.
our_pid() {
	[ -r "/proc/$1/cmdline" ] &&
		tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline" | grep -qF -- "$T/" &&
		! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null
}

# True when any of the pids is still one of ours.
any_ours() {
	local p
	for p in "$@"; do our_pid "$p" && return 0; done
	return 1
}

# Address / pid of a node by name.
addr_of() { echo "${NODE_ADDR[$1]}"; }
pid_of() { echo "${NODE_PID[$1]}"; }

# True while the daemon's process exists (and is not a zombie).
running() {
	local pid=${NODE_PID[$1]:-}
	[ -n "$pid" ] && our_pid "$pid"
}

not_running() { ! running "$1"; }

# Addresses of every node expected alive, space separated.
alive_addrs() {
	local n out=()
	for n in "${ALIVE[@]}"; do out+=("${NODE_ADDR[$n]}"); done
	echo "${out[*]}"
}

# wait_for TIMEOUT_S COMMAND...: poll every 0.1 s until COMMAND succeeds.
wait_for() {
	local limit=$1 start
	shift
	start=$(now_ms)
	while ! "$@" >/dev/null 2>&1; do
		[ $(($(now_ms) - start)) -ge $((limit * 1000)) ] && return 1
		sleep 0.1
	done
	return 0
}

# The node answers STATUS and reports state active (exit 2: not running).
is_active() {
	running "$1" || return 2
	${NET_EXEC:-} python3 -c 'import sys, canwire
sys.exit(0 if canwire.status(sys.argv[1], 1.0)["state"] == "active" else 1)' \
		"${NODE_ADDR[$1]}" 2>/dev/null
}

# wait_active NAME [TIMEOUT_S]: the node joined (or fail, with its log).
wait_active() {
	local name=$1 limit=${2:-15} start rc
	start=$(now_ms)
	while :; do
		is_active "$name"
		rc=$?
		[ $rc -eq 0 ] && return 0
		[ $rc -eq 2 ] && break
		[ $(($(now_ms) - start)) -ge $((limit * 1000)) ] && break
		sleep 0.1
	done
	running "$name" || log "$name exited"
	log "last lines of $name.log:"
	tail -5 "$T/$name.log"
	fail "$name did not become active within ${limit}s"
}

# wait_exit NAME [TIMEOUT_S]: the process ended.
# A process is gone once every thread of it has exited: only then are its
# files closed.  A dying process loses its command line first, and its
# main thread turns zombie while another thread (the store's committer in
# an fdatasync) still holds the store's lock.
gone() {
	local pid=${NODE_PID[$1]:-} tasks
	[ -z "$pid" ] || [ ! -e "/proc/$pid" ] && return 0
	grep -q '^State:[[:space:]]*[ZX]' "/proc/$pid/status" 2>/dev/null ||
		return 1
	tasks=$(ls "/proc/$pid/task" 2>/dev/null | wc -l)
	[ "$tasks" -le 1 ]
}
wait_exit() {
	local name=$1 limit=${2:-20}
	if ! wait_for "$limit" not_running "$name" ||
		! wait_for "$limit" gone "$name"; then
		fail "$name (pid ${NODE_PID[$name]}) still running after ${limit}s"
	fi
	return 0
}

# kill9 NAME...: crash nodes at once (SIGKILL), no handover.
kill9() {
	local n pids=()
	for n in "$@"; do
		running "$n" || fail "kill9 $n: not running"
		pids+=("${NODE_PID[$n]}")
		alive_del "$n"
	done
	kill -9 "${pids[@]}" 2>/dev/null
	for n in "$@"; do wait_exit "$n" 5; done
}

# stop_term NAME [TIMEOUT_S]: graceful leave by SIGTERM; waits for exit.
stop_term() {
	running "$1" || fail "stop_term $1: not running"
	alive_del "$1"
	kill -TERM "${NODE_PID[$1]}" 2>/dev/null
	wait_exit "$1" "${2:-20}"
}

# stop_leave NAME [TIMEOUT_S]: graceful leave by 'canctl leave'.
stop_leave() {
	local out
	alive_del "$1"
	if ! out=$(${NET_EXEC:-} "$CANCTL" --daemon "${NODE_ADDR[$1]}" leave 2>&1); then
		fail "canctl leave $1 failed: $out"
	fi
	wait_exit "$1" "${2:-20}"
}

# check_overlay [check_overlay.py options]: check the nodes expected alive.
check_overlay() {
	# shellcheck disable=SC2046
	${NET_EXEC:-} $CHECK "$@" $(alive_addrs)
}

# start_cluster N [canfsd args...]: nodes n1..nN at $(ip_of I), each
# joining through n1 and active before the next starts; fails unless the
# overlay of the N is then right (zones, neighbours, routes).
start_cluster() {
	local count=$1 i
	shift
	start_node n1 "$(ip_of 1)" "" "$@"
	wait_active n1
	for i in $(seq 2 "$count"); do
		start_node "n$i" "$(ip_of "$i")" "$(addr_of n1)" "$@"
		wait_active "n$i"
	done
	check_overlay --points 100 --wait 20 -q >"$T/overlay.out" 2>&1 || {
		cat "$T/overlay.out"
		fail "the overlay of $count nodes is not right"
	}
}

export LIB PYTHONPATH=$LIB${PYTHONPATH:+:$PYTHONPATH}

# ------------------------------------------------------------- results

# verify_json VIA: one 'canctl verify --json' through node VIA (stdout).
verify_json() {
	${NET_EXEC:-} "$CANCTL" -d "$(addr_of "$1")" -t 15000 verify --json 2>/dev/null
}

# wait_verify_clean LIMIT_S: poll 'canctl verify' through the live nodes
# until every live node answered and every object has all its k good
# copies (deleted ones count as tombstones).  Logs the last answer and
# returns 1 when LIMIT_S passes first.
wait_verify_clean() {
	local limit=$1 start out now last="" k=0
	start=$(now_ms)
	while :; do
		k=$((k + 1))
		out=$(verify_json "${ALIVE[$((k % ${#ALIVE[@]}))]}")
		now=$(printf '%s\n' "$out" | jq -r '"nodes \(.nodes) unreachable \(.unreachable) keys \(.keys) full \(.full) under \(.under_replicated) corrupt \(.corrupt)"' 2>/dev/null)
		if printf '%s\n' "$out" | jq -e --argjson n "${#ALIVE[@]}" \
			'.nodes == $n and .unreachable == 0 and .under_replicated == 0 and .corrupt == 0 and .full + (.tombstones // 0) == .keys' \
			>/dev/null 2>&1; then
			log "verify clean: $now"
			VERIFY_KEYS=$(printf '%s\n' "$out" | jq -r .keys)
			return 0
		fi
		[ -n "$now" ] && [ "$now" != "$last" ] && log "  verify: $now"
		last=$now
		[ $(($(now_ms) - start)) -ge $((limit * 1000)) ] && {
			log "verify not clean within ${limit}s: ${now:-no answer}"
			return 1
		}
		sleep 1
	done
}

# result KEY=VALUE...: the scenario's record for the summary table,
# tests/results/scenario-NAME.txt (run.sh prints them all at the end).
# Keys: operations, faults, files, lost, corrupt, max_block_ms, note.
result() {
	{
		echo "scenario=$TEST_NAME"
		echo "duration_s=$SECONDS"
		printf '%s\n' "$@"
	} >"$RESULTS/scenario-$TEST_NAME.txt"
}
rm -f "$RESULTS/scenario-$TEST_NAME.txt"
