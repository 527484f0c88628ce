#!/usr/bin/env bash
# bench-overlay.sh: overlay benchmark (`make bench-overlay`).
#
# For d = 2, 3, 4 and n = 16, 64, 256 real canfsd daemons on loopback
# (127.40+.x.y on a free port, heartbeat 1000 ms): hop counts of 1,000 random routes
# without and with the routing cache next to CAN's (d/4)*n^(1/d), idle RSS
# per daemon, join time, and takeover heal time after kill -9.  Writes a
# Markdown table to tests/results/bench-overlay.md and prints it.
# The work is done by tests/lib/bench_overlay.py; every daemon is killed
# on exit, on Ctrl-C and on SIGTERM.
#
# Environment (all optional): DIMS="2,3,4" SIZES="16,64,256" HB=1000
# ROUTES=1000 JOINS=2 KILLS=2 SEED=1 BUILD=build KEEP=1 (keep the work dir)
# CANFSD_EXTRA="-v debug" (more daemon options) OUT=FILE (the report).
set -u
cd "$(dirname "$0")/.." || exit 1
BUILD=${BUILD:-build}
CANFSD=$(cd "$(dirname "$BUILD/canfsd")" && pwd)/canfsd
[ -x "$CANFSD" ] || { echo "bench-overlay: $CANFSD not built (make)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "bench-overlay: needs python3" >&2; exit 1; }

STATE=$(mktemp -d "${TMPDIR:-/tmp}/canfs-bench.XXXXXX")
PY=

# Kill whatever the driver started and may have left (pids it recorded,
# checked to be daemons of this run by their data dir), then clean up.
cleanup() {
	local rc=$? pid
	trap - EXIT INT TERM
	if [ -n "$PY" ] && kill -0 "$PY" 2>/dev/null; then
		kill -TERM "$PY" 2>/dev/null
		for _ in $(seq 50); do kill -0 "$PY" 2>/dev/null || break; sleep 0.1; done
	fi
	if [ -r "$STATE/pids" ]; then
		while read -r pid; do
			[ -r "/proc/$pid/cmdline" ] &&
				tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$STATE/" &&
				kill -9 "$pid" 2>/dev/null
		done <"$STATE/pids"
	fi
	if [ "${KEEP:-0}" = 1 ]; then
		echo "bench-overlay: work dir kept: $STATE"
	else
		rm -rf "$STATE"
	fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# 256 daemons need file descriptors and loopback ports, nothing more.
ulimit -n 4096 2>/dev/null || true

python3 tests/lib/bench_overlay.py --canfsd "$CANFSD" --root . \
	--state "$STATE" --dims "${DIMS:-2,3,4}" --sizes "${SIZES:-16,64,256}" \
	--heartbeat "${HB:-1000}" --routes "${ROUTES:-1000}" \
	--joins "${JOINS:-2}" --kills "${KILLS:-2}" --seed "${SEED:-1}" \
	--extra "${CANFSD_EXTRA:-}" --out "${OUT:-tests/results/bench-overlay.md}" &
PY=$!
wait $PY
