#!/usr/bin/env bash
# lab_pkg.sh: the Debian package, the systemd unit, the configuration file
# and the readiness protocol, with the binaries of the package.
#
#  1. scripts/build-deb.sh builds canfs_VERSION_ARCH.deb; dpkg-deb -I/-c:
#     the files, the conffile, Depends naming the package of every
#     library the binaries link (dpkg -S) and fuse3, nothing under
#     /var/lib, maintainer scripts that remove no data.
#  2. dpkg -x into a scratch root; the shipped canfsd.conf names every
#     option of 'canfsd --help' (but config, help), and with its default
#     lines uncommented gives the same settings as no file at all.
#  3. systemd-analyze verify --root of the unit (skipped with a message
#     when systemd-analyze is missing); any complaint fails.
#  4. Bad configuration files: exit 2 and "canfsd: FILE:LINE: ..." for an
#     unknown key, a missing '=', a bad value.
#  5. A good file takes effect (canctl status and the settings logged),
#     the command line overriding it (--replicas, --join).
#  6. NOTIFY_SOCKET (a path, and '@' abstract), with a listener standing in
#     for systemd: the founder and a joiner send READY=1 with STATUS= of
#     their zones and neighbours, a joiner that cannot join sends no
#     READY=1, SIGQUIT and SIGTERM send STOPPING=1.
TEST_TIMEOUT=${TEST_TIMEOUT:-180}
. "$(dirname "$0")/../lib/common.sh"
require_tools
for tool in dpkg-deb dpkg; do
	command -v "$tool" >/dev/null || skip "$tool is not installed"
done

LISTENERS=()	# notify listeners we started (pids)

# The EXIT trap: our listeners, then common.sh's cleanup.
lab_cleanup() {
	local rc=$? p
	trap - EXIT
	for p in "${LISTENERS[@]}"; do kill "$p" 2>/dev/null; done
	(exit $rc)
	cleanup
}
trap lab_cleanup EXIT

# ------------------------------------------------------------- 1. build
log "building the package"
DEB=$(BUILD=$BUILD "$ROOT/scripts/build-deb.sh" "$T" 2>"$T/build-deb.log") ||
	{ cat "$T/build-deb.log"; fail "build-deb.sh failed"; }
ARCH=$(dpkg --print-architecture)
case $(basename "$DEB") in
canfs_*_"$ARCH".deb) log "built $(basename "$DEB")" ;;
*) fail "package name $(basename "$DEB") is not canfs_VERSION_$ARCH.deb" ;;
esac

field() { dpkg-deb -f "$DEB" "$1"; }
[ "$(field Package)" = canfs ] || fail "Package is '$(field Package)'"
[ "$(field Architecture)" = "$ARCH" ] || fail "Architecture is '$(field Architecture)'"
DEPENDS=$(field Depends)
log "Depends: $DEPENDS"
# dep_has PKG: Depends names PKG (alone or with a version).
dep_has() { printf '%s\n' "$DEPENDS" | tr ',' '\n' | sed 's/^ *//; s/[ (].*//' | grep -qx "$1"; }
dep_has fuse3 || fail "Depends lacks fuse3 (mount.fuse3, fusermount3)"
# Every library a binary links comes from a package that Depends names
# (one dpkg -S for all: it is slow).
ldd "$BUILD/canfsd" "$BUILD/canctl" "$BUILD/canfs" | awk '$3 ~ /^\// { print $3 }' |
	sort -u >"$T/libs"
[ -s "$T/libs" ] || fail "ldd found no libraries"
# shellcheck disable=SC2046 # one path per word
dpkg -S $(cat "$T/libs"; xargs -n1 readlink -f <"$T/libs") 2>/dev/null | sed 's/[:,].*//' | sort -u >"$T/libpkgs"
[ -s "$T/libpkgs" ] || fail "dpkg -S knows none of the linked libraries"
while read -r pkg; do
	dep_has "$pkg" || fail "a binary links a library of $pkg, which Depends lacks"
done <"$T/libpkgs"
log "linked libraries come from: $(tr '\n' ' ' <"$T/libpkgs")"
for p in libevent-2.1-7 liblmdb0 libsodium23 libfuse3-3; do
	dep_has "$p" || fail "Depends lacks $p"
done

dpkg-deb -c "$DEB" | awk '{ print $6 }' >"$T/contents"
for f in ./usr/sbin/canfsd ./usr/bin/canctl ./usr/sbin/canfs ./usr/sbin/mount.canfs \
	./lib/systemd/system/canfsd.service ./etc/canfs/canfsd.conf \
	./usr/share/man/man8/canfsd.8.gz ./usr/share/man/man8/canctl.8.gz \
	./usr/share/man/man8/canfs.8.gz ./usr/share/doc/canfs/copyright; do
	grep -qx -- "$f" "$T/contents" || fail "the package lacks $f"
done
! grep -q '^\./var/' "$T/contents" || fail "the package ships files under /var"
mkdir -p "$T/ctrl"
dpkg-deb -e "$DEB" "$T/ctrl"
grep -qx /etc/canfs/canfsd.conf "$T/ctrl/conffiles" ||
	fail "/etc/canfs/canfsd.conf is not a conffile"
# No maintainer script removes data: no rm of /var/lib or the secret.
if grep -Ehv '^[[:space:]]*#' "$T"/ctrl/{preinst,postinst,prerm,postrm} 2>/dev/null |
	grep -E 'rm .*(/var/lib|secret|\$)'; then
	fail "a maintainer script removes data"
fi
log "contents, conffiles, Depends and maintainer scripts checked"

# ------------------------------------------------------------- 2. extract
R=$T/root
dpkg -x "$DEB" "$R"
CANFSD=$R/usr/sbin/canfsd	# from here on, the packaged daemon
CANCTL=$R/usr/bin/canctl
CONF=$R/etc/canfs/canfsd.conf
[ -x "$CANFSD" ] && [ -x "$CANCTL" ] || fail "dpkg -x gave no binaries"
"$CANFSD" --help | grep -o -- '--[a-z][a-z-]*' | sort -u |
	grep -vx -- '--config\|--help' | sed 's/^--//' >"$T/options"
[ "$(wc -l <"$T/options")" -ge 18 ] || fail "canfsd --help lists too few options"
while read -r key; do
	grep -Eq "^#$key = " "$CONF" || fail "canfsd.conf lacks '#$key = ' (canfsd --help has --$key)"
done <"$T/options"
log "the shipped canfsd.conf names all $(wc -l <"$T/options") options"

# settings_of NAME CONF: start the daemon with that file (none: no file)
# and the same command line, print its settings line (without the file's
# name), stop it.
settings_of() {
	local name=$1 conf=$2 line
	start_node "$name" "127.0.0.1:$(free_port)" "" --config "$conf"
	wait_active "$name"
	line=$(grep -m1 ' info: settings' "$T/$name.log" | sed 's/.* info: settings\( from [^:]*\)\{0,1\}: //')
	kill -QUIT "$(pid_of "$name")"
	alive_del "$name"
	wait_exit "$name" 10
	printf '%s\n' "$line" | sed 's/listen [^,]*, data [^,]*, //'
}
# Uncomment every line that shows a default (not the examples of
# settings that have none).
sed -E 's/^#([a-z-]+ = )/\1/' "$CONF" |
	grep -Ev '^(advertise|join|socket-group|secret-file|node-id) = ' >"$T/defaults.conf"
s0=$(settings_of plain none)
s1=$(settings_of defaults "$T/defaults.conf")
log "settings without a file:  $s0"
[ -n "$s0" ] && [ "$s0" = "$s1" ] ||
	fail "the shipped defaults differ from the built-in ones: $s1"

# ------------------------------------------------------------- 3. unit
UNIT=$R/lib/systemd/system/canfsd.service
if command -v systemd-analyze >/dev/null; then
	# The root needs the system's own units (sysinit.target, ...).
	for u in /lib/systemd/system/*; do
		[ -e "$R/lib/systemd/system/$(basename "$u")" ] ||
			cp -a "$u" "$R/lib/systemd/system/" 2>/dev/null
	done
	man_opt=--man=no
	if command -v man >/dev/null &&
		MANPATH=$R/usr/share/man man -w canfsd 2>/dev/null | grep -q "^$R"; then
		man_opt=--man=yes
	fi
	if ! out=$(MANPATH=$R/usr/share/man systemd-analyze verify "$man_opt" \
		--root="$R" canfsd.service 2>&1) || [ -n "$out" ]; then
		printf '%s\n' "$out"
		fail "systemd-analyze verify complains about canfsd.service"
	fi
	log "systemd-analyze verify ($man_opt): clean"
else
	log "SKIP: systemd-analyze is not installed; the unit is not verified"
fi
grep -qx 'Type=notify' "$UNIT" || fail "the unit is not Type=notify"
grep -qx 'ExecStart=/usr/sbin/canfsd --foreground --config /etc/canfs/canfsd.conf' "$UNIT" ||
	fail "the unit's ExecStart changed: update this test and the docs"
grep -qx 'KillSignal=SIGQUIT' "$UNIT" || fail "the unit does not stop with SIGQUIT"

# ------------------------------------------------------------- 4. bad files
# bad_conf TEXT WANT: canfsd with a file of TEXT exits 2 printing WANT.
bad_conf() {
	local f=$T/bad.conf out rc
	printf '%b' "$1" >"$f"
	out=$(timeout 10 "$CANFSD" --config "$f" -f -l "127.0.0.1:$(free_port)" \
		-d "$T/bad" -s none 2>&1)
	rc=$?
	[ $rc -eq 2 ] || fail "bad config file: exit $rc, not 2 ($out)"
	[ "$out" = "canfsd: $f:$2" ] || fail "bad config file: '$out', expected 'canfsd: $f:$2'"
	log "  $out"
}
log "bad configuration files"
bad_conf '# x\nheartbeat = 300\nhearbeat = 100\n' "3: unknown key 'hearbeat'"
bad_conf 'listen 127.0.0.1:7400\n' "1: missing '=' after 'listen'"
bad_conf '\nheartbeat = fast\n' "2: heartbeat must be a number from 10 to 600000, not 'fast'"
bad_conf 'replicas = 2\nreplicas = 3\n' "2: 'replicas' is set again (first on line 1)"
[ ! -e "$T/bad" ] || fail "canfsd created its data directory despite a bad file"

# ------------------------------------------------------------- 5, 6
# listen_notify ADDR OUT: a listener on ADDR logging to OUT.
listen_notify() {
	python3 "$LIB/notify_listen.py" "$1" "$2" 60 &
	LISTENERS+=($!)
	wait_for 10 grep -qx listening "$2" || fail "notify listener did not start"
}
# saw OUT PATTERN [LIMIT_S]: the listener got a message matching PATTERN.
saw() { wait_for "${3:-10}" grep -Eq "^msg: .*$2" "$1"; }

PA=$(free_port)
cat >"$T/a.conf" <<EOF
# node a of the lab test
listen = 127.0.0.1:$PA
dims = 3
replicas = 2   # overridden by --replicas 5
heartbeat = $HB
fail-after = 4
repair-interval = 17
EOF
listen_notify "$T/notify-a.sock" "$T/notify-a.out"
CANFSD_PREFIX="env NOTIFY_SOCKET=$T/notify-a.sock"
# start_node's own -l, -d, -s and --heartbeat come first: the file's
# listen would lose to them, so the file is the last word only where the
# command line is silent (all but listen here); listen is checked below.
start_node a "127.0.0.1:$PA" "" --config "$T/a.conf" --replicas 5
wait_active a
saw "$T/notify-a.out" 'READY=1 \| STATUS=active: 1 zone \(100\.000% of the key space\), 0 neighbours' ||
	fail "no READY=1 with STATUS= from the founder: $(cat "$T/notify-a.out")"
grep -q "^credentials: $(pid_of a)\$" "$T/notify-a.out" ||
	fail "the notification did not come from the daemon's pid"
st=$("$CANCTL" -d "127.0.0.1:$PA" status --local) || fail "canctl status --local failed"
printf '%s\n' "$st" | grep -Eq '^dims +3$' || fail "dims = 3 of the file did not take: $st"
printf '%s\n' "$st" | grep -Eq '^replicas +5$' || fail "--replicas 5 did not override the file: $st"
grep -q "settings from $T/a.conf: .*fail-after 4, repair-interval 17 s" "$T/a.log" ||
	fail "the file's fail-after/repair-interval are not in force: $(grep settings "$T/a.log")"
log "a: READY=1, dims 3 and fail-after 4 from the file, replicas 5 from the command line"

# b: listen from its file alone; the file's join (a dead peer) replaced
# by --join; abstract notify socket.
PB=$(free_port)
printf 'listen = 127.0.0.1:%s\ndims = 3\njoin = 127.0.0.1:%s\n' "$PB" "$(free_port)" >"$T/b.conf"
NB=@canfs-lab-$$-b
listen_notify "$NB" "$T/notify-b.out"
# Started here, not by start_node, whose -l would override the file's.
NOTIFY_SOCKET=$NB "$CANFSD" --config "$T/b.conf" -f -d "$T/b" -s none \
	--heartbeat "$HB" --join "127.0.0.1:$PA" >>"$T/b.log" 2>&1 &
BPID=$!
disown "$BPID"	# no "Killed" notice when the trap ends it
ALL_PIDS+=("$BPID")
saw "$T/notify-b.out" 'READY=1 \| STATUS=active: 1 zone .*, 1 neighbour \|' 20 ||
	fail "no READY=1 from the joiner: $(cat "$T/notify-b.out"; tail -5 "$T/b.log")"
grep -q "settings from $T/b.conf: listen 127.0.0.1:$PB,.* 1 join peer\$" "$T/b.log" ||
	fail "b: the file's listen or the --join override did not take: $(grep settings "$T/b.log")"
saw "$T/notify-a.out" 'STATUS=active: 1 zone .*, 1 neighbour$' ||
	fail "a's STATUS= did not follow the join: $(cat "$T/notify-a.out")"
log "b: joined through --join (the file's dead peer replaced), READY=1 on an abstract socket; a's STATUS= followed"

# c: cannot join (nobody there): STATUS= joining, never READY=1.
listen_notify "$T/notify-c.sock" "$T/notify-c.out"
CANFSD_PREFIX="env NOTIFY_SOCKET=$T/notify-c.sock"
start_node c "127.0.0.1:$(free_port)" "127.0.0.1:$(free_port)" --config none
saw "$T/notify-c.out" 'STATUS=joining the overlay' || fail "c sent no STATUS=joining"
sleep 2
! grep -q READY=1 "$T/notify-c.out" || fail "c sent READY=1 without having joined"
kill9 c
CANFSD_PREFIX=

# Stops: SIGTERM (a graceful leave: a hands its zone to b), then SIGQUIT
# (the unit's KillSignal) for b.
stop_term a
saw "$T/notify-a.out" 'STOPPING=1 \| STATUS=leaving the overlay' ||
	fail "no STOPPING=1 on SIGTERM: $(cat "$T/notify-a.out")"
kill -QUIT "$BPID"
saw "$T/notify-b.out" 'STOPPING=1 \| STATUS=stopping without leaving' ||
	fail "no STOPPING=1 on SIGQUIT: $(cat "$T/notify-b.out")"
pid_gone() { ! our_pid "$1"; }
wait_for 10 pid_gone "$BPID" || fail "b did not stop on SIGQUIT"
log "STOPPING=1 on SIGQUIT and on SIGTERM"
log "PASS"
