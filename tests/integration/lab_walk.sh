#!/usr/bin/env bash
# lab_walk.sh: README's "A lab in eight steps", followed with the package.
#
# Machines are network namespaces (tests/lib/netns.sh), each with a
# directory $T/pcI standing for its / (etc/canfs, var/lib/canfs,
# run/canfs, srv/shared).  The package is built (scripts/build-deb.sh)
# and unpacked once with dpkg -x; every machine runs its binaries and
# gets its own copy of the shipped /etc/canfs/canfsd.conf, edited with
# the README's lines.  The lab section of README.md is the script:
#
#  0. the lab section shows every command and key used below, and its
#     two canfsd.conf blocks and fstab line are read from it;
#  1. dpkg -x of the package (step 1, apt install); postinst's hint;
#  2. canctl init-secret on pc1, copied (mode 0600) to the others;
#  3. pc1: the README's founder lines set in canfsd.conf (each must be a
#     commented-out default of the shipped file), the daemon started as
#     the unit's ExecStart (read from the unit) with a notify listener
#     standing in for systemd: READY=1 and "active: 1 zone (100.000%";
#     canctl status through the local socket;
#  4. pc2, pc3 join with the joiner's lines: READY=1, canctl zones finds
#     3 nodes, exact;
#  5. each mounts /srv/shared with the README's fstab line, through
#     mount.fuse3 as mount(8) runs it; files of 0 B to 3 MiB written on
#     pc1 and pc2 read back byte-exact (sha256) through every mount;
#  6. pc4 joins and mounts; pc2 unmounts, canctl leave (its daemon exits
#     0 after the handover and logs the README's lines; its data dir
#     keeps node-id and peers, its state no zone), zones 3 nodes exact,
#     files byte-exact from pc1, pc3, pc4, canctl repair --all and verify
#     clean ("OK: every live object has all its good copies");
#  7. pc3 dies: kill -9 of its daemon, its namespace (the machine) goes;
#     at once, before the takeover, pc1 writes files and pc4 reads every
#     file (the mounts wait, they do not fail); then zones 2 nodes exact,
#     verify clean;
#  8. a new machine at pc3's address (new namespace, empty data dir)
#     joins like pc2 did, mounts; zones 3 nodes exact, verify clean
#     after repair --all, every file byte-exact from every mount.
#
# systemd is not available in the namespaces: the daemon runs as the
# unit's ExecStart line says, with NOTIFY_SOCKET set as systemd would.
# The test's only departures from the README: addresses 10.0.0.I become
# 10.77.0.I (netns.sh), paths are under $T/pcI, and data/socket are set
# to those paths (the README keeps their defaults).
#
# Environment: BUILD, KEEP=1.
TEST_TIMEOUT=${TEST_TIMEOUT:-300}
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/fs.sh"
. "$(dirname "$0")/../lib/netns.sh"
require_tools
for tool in dpkg-deb dpkg sha256sum mount.fuse3; do
	command -v "$tool" >/dev/null || skip "$tool is not installed"
done

LISTENERS=()	# notify listeners we started (pids)

# The EXIT trap: our listeners, then netns.sh's (mounts, namespaces,
# daemons, $T).
lab_cleanup() {
	local rc=$? p
	trap - EXIT
	for p in "${LISTENERS[@]}"; do kill "$p" 2>/dev/null; done
	disown -a	# the daemons: no "Killed" notices
	(exit $rc)
	net_cleanup
}
trap lab_cleanup EXIT

# ------------------------------------------------------------- 0. README
# The lab section, from its heading to the next one.
LAB=$T/lab.md
awk '/^## A lab in /{ f = 1; print; next } f && /^## /{ exit } f' \
	"$ROOT/README.md" >"$LAB"
[ -s "$LAB" ] || fail "README.md has no '## A lab in ...' section"
# readme_has TEXT: the lab section shows TEXT (a command, a line; line
# breaks in the README count as blanks).
tr -s ' \n' '  ' <"$LAB" >"$T/lab.flat"
readme_has() {
	grep -qF -- "$1" "$T/lab.flat" || fail "README's lab section no longer shows '$1'"
}
# conf_block TAG: the KEY = VALUE lines of the ini block that opens with
# the comment '# /etc/canfs/canfsd.conf on TAG'.
conf_block() {
	awk -v tag="# /etc/canfs/canfsd.conf on $1" '
		index($0, tag) == 1 { f = 1; next }
		f && /^```/ { exit }
		f && /^[a-z-]+ = / { print }' "$LAB"
}
conf_block pc1 >"$T/conf-founder"
conf_block pc2 >"$T/conf-joiner"
[ -s "$T/conf-founder" ] && [ -s "$T/conf-joiner" ] ||
	fail "README's lab section lost its canfsd.conf blocks for pc1 and pc2"
grep -q '^join = ' "$T/conf-joiner" || fail "README's joiner block has no join"
! grep -q '^join = ' "$T/conf-founder" || fail "README's founder block has a join"
FSTAB=$(grep -m1 -E '^unix:[^ ]+ /srv/shared fuse\.canfs ' "$LAB") ||
	fail "README's lab section lost its fstab line"
for c in 'apt install ./canfs_' 'canctl init-secret /etc/canfs/secret' \
	'systemctl enable --now canfsd' 'canctl status --local' \
	'export CANFS_SECRET_FILE=/etc/canfs/secret' 'canctl zones' \
	'mount /srv/shared' 'umount /srv/shared' 'canctl leave' \
	'systemctl disable canfsd' 'canctl repair --all' 'canctl verify' \
	'nodes 3, dims 2, total volume 1 (exact)' \
	'active: 1 zone (100.000% of the key space), 0 neighbours' \
	'dropped N local replicas after the handover' \
	'left the overlay; exiting' 'left: zone handed over' \
	'OK: every live object has all its good copies'; do
	readme_has "$c"
done
log "README: founder $(tr '\n' ';' <"$T/conf-founder") joiner $(tr '\n' ';' <"$T/conf-joiner")"
log "README: fstab $FSTAB"

# ------------------------------------------------------------- 1. install
log "step 1: building the package"
DEB=$(BUILD=$BUILD "$ROOT/scripts/build-deb.sh" "$T" 2>"$T/build-deb.log") ||
	{ cat "$T/build-deb.log"; fail "build-deb.sh failed"; }
PKG=$T/pkg
dpkg -x "$DEB" "$PKG"
PCANCTL=$PKG/usr/bin/canctl
SHIPPED=$PKG/etc/canfs/canfsd.conf
UNIT=$PKG/lib/systemd/system/canfsd.service
[ -x "$PKG/usr/sbin/canfsd" ] && [ -x "$PKG/usr/sbin/canfs" ] && [ -x "$PCANCTL" ] ||
	fail "dpkg -x gave no binaries"
EXEC=$(sed -n 's/^ExecStart=//p' "$UNIT")
case $EXEC in
/usr/sbin/canfsd\ *--config\ /etc/canfs/canfsd.conf*) ;;
*) fail "the unit's ExecStart changed ($EXEC): update this test and the README" ;;
esac
mkdir -p "$T/ctrl"
dpkg-deb -e "$DEB" "$T/ctrl"
grep -q 'then: systemctl enable --now canfsd' "$T/ctrl/postinst" ||
	fail "postinst no longer prints the README's hint"
log "step 1: $(basename "$DEB") unpacked; the unit runs: $EXEC"

# root_of NAME: the directory standing for machine NAME's /.
root_of() { echo "$T/$1"; }

# to_lab LINE NAME: a README line for machine NAME: its addresses on
# the test's subnet, its absolute paths under NAME's directory.
to_lab() {
	printf '%s\n' "$1" | sed -E "s/10\.0\.0\.([0-9]+)/$NET.\1/g;
		s#(^|[ =:])/(etc|var|run|srv)/#\1$(root_of "$2")/\2/#g"
}

# make_conf NAME BLOCK [LISTEN_I]: NAME's canfsd.conf: the shipped file
# with the README's lines of BLOCK set (each replacing its commented
# default), listen moved to machine LISTEN_I's address when given (the
# README's "on pc3: listen = ..."), data and socket under NAME's root.
make_conf() {
	local name=$1 block=$2 listen_i=${3:-} r key val line
	r=$(root_of "$name")
	mkdir -p "$r/etc/canfs" "$r/run/canfs" "$r/srv/shared"
	cp "$SHIPPED" "$r/etc/canfs/canfsd.conf"
	{
		cat "$block"
		printf 'data = /var/lib/canfs\nsocket = /run/canfs/canfsd.sock\n'
	} >"$T/$name.lines"
	while IFS= read -r line; do
		key=${line%% = *}
		val=${line#* = }
		[ "$key" = listen ] && [ -n "$listen_i" ] && val=$(mach_addr "$listen_i")
		val=$(to_lab "$val" "$name")
		grep -q "^#$key = " "$r/etc/canfs/canfsd.conf" ||
			fail "the shipped canfsd.conf has no '#$key = ' line to set"
		sed -i "0,/^#$key = .*/s##$key = ${val//#/\\#}#" "$r/etc/canfs/canfsd.conf"
	done <"$T/$name.lines"
	log "$name's canfsd.conf: $(grep -E '^[a-z-]+ = ' "$r/etc/canfs/canfsd.conf" | tr '\n' ';')"
}

# ctl NAME ARGS...: the package's canctl on machine NAME (namespace
# NS_OF[NAME]), with the local socket and the secret as the README's
# commands find them (the default socket, CANFS_SECRET_FILE).
declare -A NS_OF=()
ctl() {
	local name=$1 r
	shift
	r=$(root_of "$name")
	on "${NS_OF[$name]}" env CANFS_DAEMON="unix:$r/run/canfs/canfsd.sock" \
		CANFS_SECRET_FILE="$r/etc/canfs/secret" "$PCANCTL" "$@"
}

# start_machine NAME I: run the daemon of machine NAME in namespace I as
# the unit's ExecStart does, with a notify listener standing in for
# systemd; returns once READY=1 arrived (systemctl enable --now).
start_machine() {
	local name=$1 i=$2 r cmd pid
	r=$(root_of "$name")
	NS_OF[$name]=$i
	read -ra cmd <<<"$(to_lab "$EXEC" "$name")"	# the unit's ExecStart
	cmd[0]=$PKG${cmd[0]}
	python3 "$LIB/notify_listen.py" "$T/$name.notify" "$T/$name.notify.out" \
		"$TEST_TIMEOUT" &
	LISTENERS+=($!)
	wait_for 10 grep -qx listening "$T/$name.notify.out" ||
		fail "the notify listener of $name did not start"
	echo "=== $(date +%T.%3N) start: ${cmd[*]}" >>"$T/$name.log"
	NOTIFY_SOCKET=$T/$name.notify nsenter --net="/run/netns/$(ns_name "$i")" -- \
		"${cmd[@]}" >>"$T/$name.log" 2>&1 &
	pid=$!
	# common.sh's tables, for kill9, pid_of and its EXIT trap.
	# shellcheck disable=SC2034
	NODE_PID[$name]=$pid
	# shellcheck disable=SC2034
	NODE_ADDR[$name]=$(mach_addr "$i")
	ALL_PIDS+=("$pid")
	alive_add "$name"
	if ! wait_for 30 grep -q 'READY=1' "$T/$name.notify.out"; then
		tail -5 "$T/$name.log"
		fail "$name sent no READY=1 within 30 s"
	fi
	log "$name: $(grep -m1 'READY=1' "$T/$name.notify.out" | sed 's/.*STATUS=/STATUS=/')"
}

# zones_exact NAME N: canctl zones through NAME finds N nodes whose
# zones tile the space (the README's "nodes N, dims 2, total volume 1
# (exact)").
zones_exact() {
	ctl "$1" zones 2>/dev/null | grep -qx "nodes $2, dims 2, total volume 1 (exact)"
}
wait_zones() {
	wait_for 40 zones_exact "$1" "$2" || {
		ctl "$1" zones
		fail "canctl zones through $1 does not show $2 nodes tiling the space"
	}
	log "canctl zones through $1: $2 nodes, total volume 1 (exact)"
}

# verify_clean NAME: canctl repair --all, then canctl verify until it
# exits 0 (every object has all its copies), for up to 120 s.
verify_clean() {
	local out
	ctl "$1" repair --all >/dev/null || fail "canctl repair --all through $1 failed"
	if ! wait_for 120 ctl "$1" verify; then
		ctl "$1" verify
		fail "canctl verify through $1 is not clean"
	fi
	out=$(ctl "$1" verify)
	printf '%s\n' "$out" | grep -qx 'OK: every live object has all its good copies' ||
		fail "canctl verify no longer ends as the README says: $out"
	log "canctl verify through $1: $(printf '%s' "$out" | tr -s ' \n' ' ')"
}

# mount_machine NAME: the README's fstab line on NAME, mounted as
# mount(8) does it: mount.fuse3 SOURCE DIR -o OPTIONS -t fuse.canfs
# (mount(8) runs its helpers with a PATH of its own, where the
# unpacked canfs is not; mount.fuse3 runs 'canfs' from PATH).
mount_machine() {
	local name=$1 src dir type opts
	read -r src dir type opts _ <<<"$(to_lab "$FSTAB" "$name")"
	[ "$type" = fuse.canfs ] || fail "fstab type $type"
	PATH=$PKG/usr/sbin:$PATH timeout 20 mount.fuse3 "$src" "$dir" -o "$opts" -t "$type" ||
		fail "mount /srv/shared on $name failed"
	MOUNTS+=("$dir")
	mountpoint -q "$dir" || fail "$dir is not a mount point"
	# Our canfs, by pid, for umount_all to end if the unmount fails.
	FS_PIDS+=("$(ps -eo pid=,args= | awk -v d="$dir" 'index($0, " " d " ") { print $1; exit }')")
	log "$name: mounted $dir"
}
shared() { echo "$(root_of "$1")/srv/shared"; }

# mount8 NAME: mount(8) itself, as an administrator types it (`mount -t
# fuse.canfs`) and from an fstab line (`mount -T FSTAB DIR`), with the
# README's options, each reading back the first file of the manifest.  In
# a private mount namespace whose /usr/local/sbin (a tmpfs there) holds
# the package's canfs: mount(8) runs mount.fuse3, which finds canfs on
# its PATH, and the host is left as it was.  Both mounts end inside.
mount8() {
	local name=$1 src dir type opts sum rel
	read -r src dir type opts _ <<<"$(to_lab "$FSTAB" "$name")"
	read -r sum rel <<<"$(head -1 "$T/manifest")"
	mkdir -p "$T/m8a" "$T/m8b"
	printf '%s %s %s %s 0 0\n' "$src" "$T/m8b" "$type" "$opts" >"$T/fstab"
	timeout -k 5 60 unshare -m --propagation private sh -ec '
		mount -t tmpfs tmpfs /usr/local/sbin
		ln -s "$1/usr/sbin/canfs" /usr/local/sbin/canfs
		mount -t fuse.canfs -o "$2" "$3" "$4"
		cat "$4/$6" >"$7.a" || { umount "$4"; exit 1; }
		umount "$4"
		mount -T "$8" "$5"
		cat "$5/$6" >"$7.b" || { umount "$5"; exit 1; }
		umount "$5"' sh "$PKG" "$opts" "$src" "$T/m8a" "$T/m8b" "$rel" \
		"$T/m8" "$T/fstab" || fail "mount -t fuse.canfs / mount -T on $name failed"
	for f in "$T/m8.a" "$T/m8.b"; do
		[ "$(sha256sum <"$f" | cut -d' ' -f1)" = "$sum" ] ||
			fail "$rel read through mount(8) on $name differs"
	done
	log "$name: mount -t fuse.canfs and mount -T (fstab) work, $rel byte-exact"
}

# write_files NAME TAG N: N files of assorted sizes (0 B to 3 MiB) under
# NAME's /srv/shared/TAG, their sha256 appended to $T/manifest.
SIZES=(0 1 4095 4096 65537 1048576 1048577 3145735)
write_files() {
	local name=$1 tag=$2 n=$3 j d size
	d=$(shared "$name")/$tag
	mkdir -p "$d/sub" || fail "mkdir on $name failed"
	for j in $(seq "$n"); do
		size=${SIZES[$(((j - 1) % ${#SIZES[@]}))]}
		head -c "$size" /dev/urandom >"$T/blob" || fail "urandom"
		cp "$T/blob" "$d/sub/f$j" || fail "writing $tag/sub/f$j on $name failed"
		(cd "$T" && printf '%s  %s\n' "$(sha256sum <blob | cut -d' ' -f1)" "$tag/sub/f$j") \
			>>"$T/manifest"
	done
	log "$name: wrote $n files under /srv/shared/$tag"
}

# check_files NAME...: every file of the manifest, byte-exact (sha256)
# through each machine's mount.
check_files() {
	local name out
	for name in "$@"; do
		if ! out=$(cd "$(shared "$name")" && sha256sum --quiet -c "$T/manifest" 2>&1); then
			printf '%s\n' "$out" | head -20
			fail "files differ or are missing through $name's mount"
		fi
	done
	log "all $(wc -l <"$T/manifest") files byte-exact through: $*"
}

# ------------------------------------------------------------- 2, 3
net_up 3
: >"$T/manifest"
mkdir -p "$(root_of pc1)/etc/canfs"
out=$("$PCANCTL" init-secret "$(root_of pc1)/etc/canfs/secret") ||
	fail "canctl init-secret failed: $out"
log "step 2: $out"
# copy_secret NAME: the private copy of step 2 (scp -p: mode kept).
copy_secret() {
	mkdir -p "$(root_of "$1")/etc/canfs"
	cp -p "$(root_of pc1)/etc/canfs/secret" "$(root_of "$1")/etc/canfs/secret"
	[ "$(stat -c %a "$(root_of "$1")/etc/canfs/secret")" = 600 ] ||
		fail "the secret of $1 is not mode 0600"
}

log "step 3: pc1 founds the overlay"
make_conf pc1 "$T/conf-founder"
start_machine pc1 1
grep -q 'READY=1 | STATUS=active: 1 zone (100.000% of the key space), 0 neighbours' \
	"$T/pc1.notify.out" || fail "pc1's first status is not the README's"
st=$(ctl pc1 status --local) || fail "canctl status --local on pc1 failed"
printf '%s\n' "$st" | grep -Eq '^replicas +3$' && printf '%s\n' "$st" | grep -Eq '^share +100%$' &&
	printf '%s\n' "$st" | grep -Eq '^neighbours +0$' ||
	fail "canctl status on pc1 is not 'replicas 3, share 100%, neighbours 0': $st"
log "step 3: canctl status: replicas 3, share 100%, neighbours 0"
st=$(ctl pc1 status) && fail "canctl status with pc1 alone is healthy: $st"
grep -q "fewer than k = 3" <<<"$st" ||
	fail "canctl status with pc1 alone does not say 'fewer than k = 3': $st"

# ------------------------------------------------------------- 4. join
for i in 2 3; do
	copy_secret "pc$i"
	log "step 4: pc$i joins"
	make_conf "pc$i" "$T/conf-joiner" "$i"
	start_machine "pc$i" "$i"
done
wait_zones pc3 3
wait_for 60 ctl pc1 status ||
	fail "canctl status is not healthy with three machines: $(ctl pc1 status)"
log "step 4: canctl status: healthy"

# ------------------------------------------------------------- 5. mount
for i in 1 2 3; do mount_machine "pc$i"; done
write_files pc1 from-pc1 16
write_files pc2 from-pc2 8
check_files pc1 pc2 pc3
mount8 pc2

# ------------------------------------------------------------- 6. retire
net_add 4
copy_secret pc4
log "step 6: pc4, pc2's successor, joins"
make_conf pc4 "$T/conf-joiner" 4
start_machine pc4 4
mount_machine pc4
wait_zones pc4 4
check_files pc4
timeout 20 fusermount3 -u "$(shared pc2)" || fail "umount /srv/shared on pc2 failed"
out=$(ctl pc2 leave) || fail "canctl leave on pc2 failed: $out"
log "step 6: canctl leave on pc2: $(printf '%s' "$out" | tr '\n' ';')"
printf '%s\n' "$out" | tail -1 | grep -qx 'left: zone handed over' ||
	fail "canctl leave did not end with 'left: zone handed over'"
pid2=$(pid_of pc2)
wait "$pid2"
rc=$?
alive_del pc2
[ $rc -eq 0 ] || fail "pc2's daemon exited $rc after canctl leave, not 0 (the unit would restart it)"
grep -Eq 'dropped [0-9]+ local replicas after the handover' "$T/pc2.log" &&
	grep -q 'left the overlay; exiting' "$T/pc2.log" ||
	fail "pc2's log lacks the README's lines: $(tail -3 "$T/pc2.log")"
log "step 6: pc2's daemon exited 0: $(grep -Eo 'dropped [0-9]+ local replicas after the handover' "$T/pc2.log")"
# What is left of pc2: its id and peers, a state with no zone.
d2=$(root_of pc2)/var/lib/canfs
[ -s "$d2/node-id" ] && [ -s "$d2/peers" ] && [ -d "$d2/store" ] ||
	fail "pc2's data directory lacks node-id, peers or store: $(ls "$d2")"
! grep -Ev '^(canfs-state|dims) ' "$d2/state" ||
	fail "pc2's saved state still names zones after leaving"
wait_zones pc1 3
check_files pc1 pc3 pc4
write_files pc4 from-pc4 8
verify_clean pc1

# ------------------------------------------------------------- 7. death
ID3=$(ctl pc3 status --local | awk '$1 == "node" { print $2 }')
log "step 7: pc3 (node $ID3) dies (kill -9 of its daemon, then the machine is gone)"
disown "$(pid_of pc3)"	# no "Killed" notice
kill9 pc3
timeout 20 fusermount3 -uz "$(shared pc3)" 2>/dev/null
ip netns del "$(ns_name 3)" || fail "cannot remove pc3's namespace"
# At once, before the takeover: the mounts wait, they do not fail.
write_files pc1 while-pc3-dead 8
check_files pc4
wait_zones pc1 2
check_files pc1
verify_clean pc1

# ------------------------------------------------------------- 8. replace
net_add 3
copy_secret pc3new
log "step 8: pc3's replacement, empty, at pc3's address"
make_conf pc3new "$T/conf-joiner" 3
start_machine pc3new 3
mount_machine pc3new
wait_zones pc3new 3
id_new=$(ctl pc3new status --local | awk '$1 == "node" { print $2 }')
[ -n "$id_new" ] && [ "$id_new" != "$ID3" ] ||
	fail "the replacement's node id '$id_new' is not new (pc3 was $ID3)"
log "step 8: pc3 was node $ID3, its replacement is node $id_new"
verify_clean pc4
check_files pc1 pc3new pc4
log "PASS"
