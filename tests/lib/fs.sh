# fs.sh: canfs mounts for scenarios (sourced after common.sh).  Skips the
# scenario when FUSE or the canfs binary is missing; mount_canfs mounts and
# remembers, umount_all undoes every mount (call it from the EXIT trap
# before common.sh's cleanup).

CANFS=$BUILD/canfs
[ -e /dev/fuse ] || skip "/dev/fuse is missing: no FUSE here"
command -v fusermount3 >/dev/null || skip "fusermount3 is not installed"
[ -x "$CANFS" ] || skip "$CANFS does not exist yet (fs/ is not built)"

MOUNTS=()	# mountpoints we mounted
FS_PIDS=()	# canfs processes we started

# mount_canfs MNT SOURCE: mount canfs at MNT through the daemon SOURCE.
mount_canfs() {
	local mnt=$1 src=$2 pid
	mkdir -p "$mnt"
	# shellcheck disable=SC2086
	"$CANFS" "$src" "$mnt" -f ${CANFS_OPTS--o allow_other} \
		>>"$T/canfs-$(basename "$mnt").log" 2>&1 </dev/null &
	pid=$!
	disown "$pid"
	FS_PIDS+=("$pid")
	MOUNTS+=("$mnt")
	if ! wait_for 15 mountpoint -q "$mnt"; then
		tail -5 "$T/canfs-$(basename "$mnt").log"
		fail "canfs did not mount $mnt within 15 s"
	fi
	log "mounted canfs at $mnt through $src (pid $pid)"
}

# MNT is in the mount table (mountpoint(1) says no when the FUSE process
# is gone and the mount only answers ENOTCONN).
mounted() { awk -v m="$1" '$2 == m { f = 1 } END { exit !f }' /proc/self/mounts; }

# Unmount everything we mounted (lazily if busy), then end our canfs
# processes by pid.
umount_all() {
	local m p
	for m in "${MOUNTS[@]}"; do
		mounted "$m" || continue
		timeout 20 fusermount3 -u "$m" 2>/dev/null ||
			timeout 10 fusermount3 -uz "$m" 2>/dev/null ||
			umount -l "$m" 2>/dev/null
	done
	for _ in $(seq 30); do
		any_ours "${FS_PIDS[@]}" || break
		sleep 0.1
	done
	for p in "${FS_PIDS[@]}"; do
		our_pid "$p" && kill -9 "$p" 2>/dev/null
	done
}

# The EXIT trap of a scenario that mounts (trap fs_cleanup EXIT): kill
# the scenario's own helpers in FS_KILL, unmount, then common.sh's cleanup.
FS_KILL=()
fs_cleanup() {
	local rc=$? p
	trap - EXIT
	for p in "${FS_KILL[@]}"; do
		kill -9 "$p" 2>/dev/null
	done
	umount_all
	(exit $rc)
	cleanup
}

# fs_cluster PREFIX N: N daemons PREFIX.1-N on a free port (so that a
# developer's run and CI's never collide), k=2, each with its socket
# $T/nI.sock; returns once the overlay is whole and every socket is there.
fs_cluster() {
	local prefix=$1 n=$2 i join port
	port=$(free_port)
	for i in $(seq "$n"); do
		join=""
		[ "$i" -gt 1 ] && join=$prefix.1:$port
		start_node "n$i" "$prefix.$i:$port" "$join" -s "$T/n$i.sock" -k 2
		wait_active "n$i"
	done
	check_overlay --points 200 --wait 20 >/dev/null || {
		check_overlay --points 200
		fail "the overlay is not whole"
	}
	for i in $(seq "$n"); do
		wait_for 10 test -S "$T/n$i.sock" || fail "n$i made no socket"
	done
}

# step LIMIT_S WHAT COMMAND...: run COMMAND under a time limit, log how
# long it took, fail the scenario when it fails.
step() {
	local limit=$1 what=$2 t0 rc
	shift 2
	t0=$(now_ms)
	timeout -k 5 "$limit" "$@"
	rc=$?
	log "$what: $(($(now_ms) - t0)) ms"
	[ $rc -eq 124 ] && fail "$what: timed out after ${limit}s"
	[ $rc -eq 0 ] || fail "$what: exit $rc"
}

# verify_acked MOUNT... -- MANIFEST...: every file the workload recorded as
# acknowledged (tests/lib/workload.py) reads back byte-exact through each
# mount.  Sets FILES (checked per mount), LOST and CORRUPT (summed over the
# mounts; read errors count as corrupt); fails the scenario on any.
verify_acked() {
	local mounts=() m out rc
	while [ "$1" != -- ]; do mounts+=("$1"); shift; done
	shift
	FILES=0 LOST=0 CORRUPT=0
	for m in "${mounts[@]}"; do
		out=$(python3 "$LIB/workload.py" verify "$m" "$@" 2>"$T/verify.err")
		rc=$?
		log "verify through $(basename "$m"): $out"
		FILES=$(jq -r .checked <<<"$out")
		LOST=$((LOST + $(jq -r .lost <<<"$out")))
		CORRUPT=$((CORRUPT + $(jq -r ".corrupt + .errors" <<<"$out")))
		[ $rc -eq 0 ] || {
			head -20 "$T/verify.err"
			fail "acknowledged files lost or corrupt through $m"
		}
	done
}
