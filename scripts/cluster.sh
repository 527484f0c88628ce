#!/usr/bin/env bash
# cluster.sh: a local canfs overlay for development: N canfsd daemons on
# 127.0.0.1:7401.., each with its own data dir and Unix socket under a
# state dir.  See --help.
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
CANFSD=$BUILD/canfsd
CANCTL=$BUILD/canctl
CANFS=$BUILD/canfs
STATE=${CANFS_CLUSTER_DIR:-./.cluster}
BASE_PORT=${CANFS_CLUSTER_PORT:-7400}

usage() {
	cat <<EOF
usage: scripts/cluster.sh COMMAND [options]

A local canfs overlay for development and demos.

commands:
  up N [--dims D] [--replicas K] [--heartbeat MS] [--no-mount]
        start N daemons; node I listens on 127.0.0.1:(BASE+I) and keeps
        its node id, peers file, objects and log in STATE/nodeI/ and
        listens on the Unix socket STATE/nodeI/canfsd.sock.  Node 1 founds
        the overlay, the others join through it.  Waits until the zones
        tile the key space and every node's neighbour set is right, then
        prints how to use canctl.  If build/canfs exists, also mounts the
        file system at ./mnt through node 1 (unless --no-mount).
  down [--purge]
        unmount ./mnt if we mounted it, stop every daemon this script
        started (SIGTERM: graceful leave; kill -9 after 15 s) and remove
        the pid files.  Data dirs are kept unless --purge, which removes
        the whole state dir.
  status
        the daemons' pids, then 'canctl zones' through a live node.
  -h, --help
        this text.

environment:
  CANFS_CLUSTER_DIR  state dir (default ./.cluster; now: $STATE)
  CANFS_CLUSTER_PORT BASE port (default 7400: node I listens on 7400+I)
  BUILD              directory with canfsd, canctl, canfs (default build)
EOF
}

die() {
	echo "cluster.sh: $*" >&2
	exit 1
}

# The pid in a pid file, if it is alive and is one of our daemons (its
# command line names our state dir); else nothing.
live_pid() {
	local f=$1 pid
	[ -r "$f" ] || return 1
	pid=$(cat "$f")
	[ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$STATE_ABS/" || return 1
	grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null && return 1
	echo "$pid"
}

node_dirs() {
	local d
	for d in "$STATE_ABS"/node*; do
		[ -d "$d" ] && echo "$d"
	done | sort -V
}

abs_state() {
	mkdir -p "$STATE" || die "cannot create $STATE"
	STATE_ABS=$(cd "$STATE" && pwd)
}

cmd_up() {
	local n="" dims=2 replicas=3 hb=1000 mount=1 i addrs=() sock
	while [ $# -gt 0 ]; do
		case $1 in
		--dims) dims=${2:?--dims needs a value}; shift ;;
		--replicas) replicas=${2:?--replicas needs a value}; shift ;;
		--heartbeat) hb=${2:?--heartbeat needs a value}; shift ;;
		--no-mount) mount=0 ;;
		-h | --help) usage; exit 0 ;;
		[0-9]*) n=$1 ;;
		*) die "up: unknown argument '$1' (see --help)" ;;
		esac
		shift
	done
	if [ -z "$n" ] || [ "$n" -lt 1 ] || [ "$n" -gt 500 ]; then
		die "up: give the number of daemons, 1 to 500"
	fi
	# A fresh machine: install what is missing and build (both no-ops
	# when everything is already there).  NO_BUILD=1 skips this.
	if [ "${NO_BUILD:-0}" != 1 ]; then
		bash "$ROOT/scripts/install-deps.sh" >/dev/null ||
			die "installing dependencies failed (run scripts/install-deps.sh)"
		make -s -C "$ROOT" all >/dev/null || die "the build failed (run make)"
	fi
	[ -x "$CANFSD" ] || die "$CANFSD not found: run 'make' first"
	abs_state
	for d in $(node_dirs); do
		if live_pid "$d/pid" >/dev/null; then
			die "a cluster is already running in $STATE_ABS ('down' first)"
		fi
	done
	sock="$STATE_ABS/node$n/canfsd.sock"
	[ ${#sock} -lt 100 ] ||
		die "state dir path too long for Unix sockets: $STATE_ABS"
	for i in $(seq 1 "$n"); do
		local dir=$STATE_ABS/node$i args
		mkdir -p "$dir"
		args=(--config none -f -l "127.0.0.1:$((BASE_PORT + i))" -d "$dir"
			-s "$dir/canfsd.sock" -D "$dims" -k "$replicas"
			--heartbeat "$hb")
		if [ "$i" -eq 1 ]; then
			# The founder: its saved peers are from a cluster that
			# is down now; rejoining through them would never end.
			rm -f "$dir/peers"
		else
			args+=(-j "127.0.0.1:$((BASE_PORT + 1))")
		fi
		echo "=== $(date '+%F %T') canfsd ${args[*]}" >>"$dir/canfsd.log"
		setsid "$CANFSD" "${args[@]}" </dev/null >>"$dir/canfsd.log" 2>&1 &
		echo $! >"$dir/pid"
		addrs+=("127.0.0.1:$((BASE_PORT + i))")
		if [ "$i" -eq 1 ]; then
			wait_socket "$dir/canfsd.sock" "$dir" || die "node 1 did not start; see $dir/canfsd.log"
		else
			sleep 0.05
		fi
	done
	echo "cluster.sh: started $n daemons (d=$dims, k=$replicas, heartbeat $hb ms); waiting for the overlay"
	if ! python3 "$ROOT/tests/lib/check_overlay.py" --points 20 --mode nocache \
		--wait $((30 + n / 4 + hb * 10 / 1000)) "${addrs[@]}"; then
		echo "cluster.sh: the overlay did not converge; logs in $STATE_ABS/node*/canfsd.log" >&2
		exit 1
	fi
	if [ $mount -eq 1 ] && [ -x "$CANFS" ]; then
		mount_fs "$STATE_ABS/node1/canfsd.sock"
	fi
	cat <<EOF

The overlay is up.  Talk to it with canctl:
  export CANFS_DAEMON=unix:$STATE_ABS/node1/canfsd.sock
  $CANCTL zones                 # every node and its zones
  $CANCTL status                # health of the whole overlay, one line per node
  $CANCTL status --local        # node 1 alone
  $CANCTL map --svg zones.svg   # a picture of the zones
  $CANCTL route 12345,67890     # who owns a point, and the path
  $CANCTL --daemon 127.0.0.1:$((BASE_PORT + 2)) leave   # node 2 leaves
Logs: $STATE_ABS/nodeI/canfsd.log.   Stop: scripts/cluster.sh down
EOF
}

# Wait up to 10 s for a daemon's socket to appear (or its process to die).
wait_socket() {
	local sock=$1 dir=$2
	for _ in $(seq 100); do
		[ -S "$sock" ] && return 0
		live_pid "$dir/pid" >/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# Mount the file system at ./mnt through a daemon's socket (needs canfs).
mount_fs() {
	local sock=$1 mnt
	mkdir -p ./mnt
	mnt=$(cd ./mnt && pwd)
	echo "cluster.sh: mounting canfs at $mnt"
	# In the foreground (-f) of its own session, so that its pid is ours.
	setsid "$CANFS" "unix:$sock" "$mnt" -f </dev/null >>"$STATE_ABS/canfs.log" 2>&1 &
	echo $! >"$STATE_ABS/canfs.pid"
	echo "$mnt" >"$STATE_ABS/mountpoint"
	for _ in $(seq 50); do
		mountpoint -q "$mnt" && return 0
		sleep 0.1
	done
	echo "cluster.sh: canfs did not mount $mnt; see $STATE_ABS/canfs.log" >&2
}

umount_fs() {
	local mnt pid
	[ -r "$STATE_ABS/mountpoint" ] || return 0
	mnt=$(cat "$STATE_ABS/mountpoint")
	if mountpoint -q "$mnt"; then
		echo "cluster.sh: unmounting $mnt"
		fusermount3 -u "$mnt" 2>/dev/null || umount "$mnt" ||
			echo "cluster.sh: cannot unmount $mnt" >&2
	fi
	pid=$(cat "$STATE_ABS/canfs.pid" 2>/dev/null)
	if [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] &&
		tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$STATE_ABS/"; then
		kill "$pid" 2>/dev/null
	fi
	rm -f "$STATE_ABS/canfs.pid" "$STATE_ABS/mountpoint"
}

cmd_down() {
	local purge=0 d pid pids=()
	while [ $# -gt 0 ]; do
		case $1 in
		--purge) purge=1 ;;
		-h | --help) usage; exit 0 ;;
		*) die "down: unknown argument '$1'" ;;
		esac
		shift
	done
	[ -d "$STATE" ] || { echo "cluster.sh: no cluster in $STATE"; return 0; }
	abs_state
	umount_fs
	for d in $(node_dirs); do
		if pid=$(live_pid "$d/pid"); then
			kill -TERM "$pid" 2>/dev/null && pids+=("$d")
		fi
	done
	[ ${#pids[@]} -gt 0 ] && echo "cluster.sh: stopping ${#pids[@]} daemon(s)"
	for _ in $(seq 150); do
		local left=0
		for d in "${pids[@]}"; do
			live_pid "$d/pid" >/dev/null && left=$((left + 1))
		done
		[ $left -eq 0 ] && break
		sleep 0.1
	done
	for d in "${pids[@]}"; do
		if pid=$(live_pid "$d/pid"); then
			echo "cluster.sh: $(basename "$d") did not stop in 15 s; kill -9"
			kill -9 "$pid" 2>/dev/null
		fi
	done
	for d in $(node_dirs); do rm -f "$d/pid"; done
	if [ $purge -eq 1 ]; then
		rm -rf "$STATE_ABS"
		echo "cluster.sh: removed $STATE_ABS"
	fi
	return 0
}

cmd_status() {
	local d pid first=""
	[ -d "$STATE" ] || { echo "cluster.sh: no cluster in $STATE"; return 1; }
	abs_state
	for d in $(node_dirs); do
		if pid=$(live_pid "$d/pid"); then
			echo "$(basename "$d")  pid $pid"
			[ -z "$first" ] && [ -S "$d/canfsd.sock" ] && first=$d/canfsd.sock
		else
			echo "$(basename "$d")  not running"
		fi
	done
	[ -n "$first" ] || { echo "cluster.sh: no daemon is running"; return 1; }
	"$CANCTL" --daemon "unix:$first" zones
}

case ${1:-} in
up) shift; cmd_up "$@" ;;
down) shift; cmd_down "$@" ;;
status) shift; cmd_status "$@" ;;
-h | --help | help) usage ;;
"") usage >&2; exit 2 ;;
*) echo "cluster.sh: unknown command '$1'" >&2; usage >&2; exit 2 ;;
esac
