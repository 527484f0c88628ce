# shellcheck shell=bash
# netns.sh: a test bed of "machines" as network namespaces on one bridge.
#
# Source it after common.sh (and fs.sh when the scenario mounts).  Each
# machine i is a namespace with one veth "e0" at 10.77.0.i/24, whose peer
# "p<i>" is a port of the bridge br0 in a switch namespace.  The subnet
# exists only inside these namespaces, so it cannot clash with the host
# or with another run (every run has its own namespace names).  A daemon
# on machine i runs in its namespace (nsenter --net: the mount namespace
# stays the host's, so data dirs and FUSE mounts are visible to the
# scenario); a canfs mount "on" machine i talks to that daemon through its
# Unix socket, as a mount on a real machine would.
#
#   net_up N            make machines 1..N (more later with net_add)
#   net_add I           make machine I
#   mach_start I [JOIN_I] [canfsd args...]
#                       start canfsd on machine I as node "m<I>" (data
#                       $T/m<I>, socket $T/m<I>.sock), joining machine JOIN_I
#   net_overlay N [args]  daemons on machines 1..N, all active, whole
#   overlay_whole WAIT_S  fail unless the zones tile the space
#   on I CMD...         run CMD inside machine I's network namespace
#                       (machine 254 is the operator's: common.sh's checks
#                       and canctl run there, through NET_EXEC)
#   net_cut I / net_heal I    pull / restore machine I's cable
#   net_split "I J" "K L M" / net_unsplit "I J"   drop everything between
#                       two groups of machines (each group still talks
#                       within itself, and with the operator's machine)
#   net_drop I PCT / net_undrop I   drop PCT% of I's packets at random
#                       (nftables), both directions
#   net_rate I KBIT     limit I's outgoing rate (tc tbf); net_rate I 0 ends it
#   net_delay I MS      delay I's outgoing packets (tc netem); false, with a
#                       message, when the kernel has no netem (Debian's
#                       cloud kernels); net_delay I 0 ends it
#   net_down            remove everything (called from the EXIT trap)
#
# Skips (77) with a message when namespaces cannot be made (not root, no
# ip/nsenter, or a sandbox that forbids them).

NS_PFX=cf$$x
NET=10.77.0
NET_PORT=${NET_PORT:-7400}
NS_MACHINES=()	# machine numbers made

for tool in ip nsenter; do
	command -v "$tool" >/dev/null || skip "$tool is not installed (iproute2, util-linux)"
done
[ "$(id -u)" = 0 ] || skip "network namespaces need root"

ns_name() { echo "${NS_PFX}$1"; }	# machine i's namespace ("sw": the switch)

# on I CMD...: run CMD in machine I's network namespace.
on() {
	local i=$1
	shift
	nsenter --net="/run/netns/$(ns_name "$i")" -- "$@"
}

# Namespaces of an earlier run that was killed outright (no EXIT trap):
# ours are named cf<PID>x..., so those of a PID that is gone are stale.
net_sweep() {
	local ns pid
	for ns in $(ip netns list 2>/dev/null | awk '{ print $1 }'); do
		[[ $ns =~ ^cf([0-9]+)x ]] || continue
		pid=${BASH_REMATCH[1]}
		kill -0 "$pid" 2>/dev/null && continue
		log "net: removing $ns, left behind by a killed run"
		ip netns del "$ns" 2>/dev/null
	done
}

net_up() {
	local n=$1 i
	net_sweep
	ip netns add "$(ns_name sw)" 2>/dev/null ||
		skip "cannot create a network namespace here (ip netns add failed)"
	NS_SW=1
	ip -n "$(ns_name sw)" link set lo up
	ip -n "$(ns_name sw)" link add br0 type bridge
	ip -n "$(ns_name sw)" link set br0 up
	for i in $(seq "$n"); do net_add "$i"; done
	# The operator's machine: canctl and the checks run there.
	net_add 254
	NET_EXEC="on 254"
	log "net: $n machines on $NET.0/24 (namespaces $(ns_name 1)..$(ns_name "$n"))"
}

net_add() {
	local i=$1 ns sw
	ns=$(ns_name "$i")
	sw=$(ns_name sw)
	ip netns add "$ns" || fail "ip netns add $ns"
	NS_MACHINES+=("$i")
	ip -n "$ns" link set lo up
	ip link add e0 netns "$ns" type veth peer name "p$i" netns "$sw" ||
		fail "cannot make the veth pair of machine $i"
	ip -n "$ns" addr add "$NET.$i/24" dev e0
	ip -n "$ns" link set e0 up
	ip -n "$sw" link set "p$i" master br0
	ip -n "$sw" link set "p$i" up
}

# The address of machine I's daemon.
mach_addr() { echo "$NET.$1:$NET_PORT"; }

# mach_start I [JOIN_I] [canfsd args...]: start (or restart, on its data
# dir) the daemon of machine I in its namespace.
mach_start() {
	local i=$1 join=${2:-}
	shift
	[ $# -gt 0 ] && shift
	local jaddr=""
	[ -n "$join" ] && jaddr=$(mach_addr "$join")
	CANFSD_PREFIX="nsenter --net=/run/netns/$(ns_name "$i") --" \
		start_node "m$i" "$(mach_addr "$i")" "$jaddr" -s "$T/m$i.sock" "$@"
}

# overlay_whole WAIT_S [POINTS]: the live daemons' zones tile the space and
# their tables are right (check_overlay.py, retried WAIT_S s), or fail.
overlay_whole() {
	local wait=$1 points=${2:-200}
	check_overlay --points "$points" --wait "$wait" >/dev/null && return 0
	check_overlay --points "$points"
	fail "the overlay is not whole"
}

# net_overlay N [canfsd args...]: daemons on machines 1..N (2..N join
# machine 1), every one active, the overlay whole.
net_overlay() {
	local n=$1 i
	shift
	mach_start 1 "" "$@"
	wait_active m1
	for i in $(seq 2 "$n"); do
		mach_start "$i" 1 "$@"
		wait_active "m$i" 20
	done
	overlay_whole 30
}

# Cut machine I off (its switch port down: no carrier, nothing passes)
# and reconnect it.
net_cut() { ip -n "$(ns_name sw)" link set "p$1" down; log "net: machine $1 cut off"; }
net_heal() { ip -n "$(ns_name sw)" link set "p$1" up; log "net: machine $1 reconnected"; }

# net_split "I J" "K L M": nothing passes between the machines of the first
# group and those of the second (nftables in the first group's namespaces,
# both directions); each group still talks within itself.
net_split() {
	local i j set=""
	command -v nft >/dev/null || skip "nft is not installed (nftables)"
	for j in $2; do set+="${set:+, }$NET.$j"; done
	for i in $1; do
		on "$i" nft -f - <<EOF || fail "nft split rules for machine $i"
table inet canfs_split {
	chain in { type filter hook input priority 0; ip saddr { $set } drop; }
	chain out { type filter hook output priority 0; ip daddr { $set } drop; }
}
EOF
	done
	log "net: split {$1} | {$2}"
}
net_unsplit() {
	local i
	for i in $1; do on "$i" nft delete table inet canfs_split 2>/dev/null; done
	log "net: split of {$1} healed"
}

# Random loss of PCT% of machine I's packets, in and out.
net_drop() {
	local i=$1 pct=$2
	command -v nft >/dev/null || skip "nft is not installed (nftables)"
	on "$i" nft -f - <<EOF || fail "nft rules for machine $i"
table inet canfs_fault {
	chain in { type filter hook input priority 0; numgen random mod 100 < $pct drop; }
	chain out { type filter hook output priority 0; oifname "e0" numgen random mod 100 < $pct drop; }
}
EOF
	log "net: machine $i drops $pct% of its packets"
}
net_undrop() { on "$1" nft delete table inet canfs_fault 2>/dev/null; log "net: machine $1 stops dropping"; }

net_rate() {
	local i=$1 kbit=$2
	on "$i" tc qdisc del dev e0 root 2>/dev/null
	[ "$kbit" = 0 ] && return 0
	on "$i" tc qdisc add dev e0 root tbf rate "${kbit}kbit" burst 32kbit latency 400ms ||
		fail "tc tbf on machine $i"
	log "net: machine $i sends at most $kbit kbit/s"
}

# False (with a message) when the kernel has no netem.
net_delay() {
	local i=$1 ms=$2
	on "$i" tc qdisc del dev e0 root 2>/dev/null
	[ "$ms" = 0 ] && return 0
	if ! on "$i" tc qdisc add dev e0 root netem delay "${ms}ms" 2>/dev/null; then
		log "net: this kernel has no netem qdisc: cannot delay machine $i's packets"
		return 1
	fi
	log "net: machine $i's packets are delayed ${ms} ms"
}

# The EXIT trap: unmount (fs.sh), stop daemons, remove the namespaces,
# then common.sh's cleanup (logs, $T).
net_cleanup() {
	local rc=$?
	trap - EXIT
	declare -F umount_all >/dev/null && umount_all
	net_down
	(exit $rc)
	cleanup
}
trap net_cleanup EXIT

# Remove every namespace we made, after killing what still runs in them.
net_down() {
	local i ns pids
	for i in "${NS_MACHINES[@]}" ${NS_SW:+sw}; do
		ns=$(ns_name "$i")
		pids=$(ip netns pids "$ns" 2>/dev/null)
		# shellcheck disable=SC2086
		[ -n "$pids" ] && kill -9 $pids 2>/dev/null
		ip netns del "$ns" 2>/dev/null
	done
	NS_MACHINES=()
	NS_SW=
}
