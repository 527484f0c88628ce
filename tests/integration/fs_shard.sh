#!/usr/bin/env bash
# fs_shard.sh: sharded directories, through two mounts that split them.
#
# Three daemons on 127.0.19.1-3 (k=2); mounts A and B through daemons 1
# and 2, both with -o dir_shard_size=1K (about 35 entries a shard, so a
# few hundred names make many splits).  Every step under a timeout:
#   1. 300 files made from A in d (several levels of shards); both mounts
#      list exactly those;
#   2. a directory of 50 names rewritten into the store as a version 1
#      record (one object, from before shards): both mounts list it, and
#      50 more creates convert and split it;
#   3. at once: A creates 400 names a*, B creates 400 names b* and removes
#      100 of the first 300, and a lister on A lists d again and again
#      (each listing many readdir calls while shards split): every
#      listing has no name twice and holds every one of the 200 first
#      names nobody removed; afterwards A and B list exactly the expected
#      set, and stat every name of it from B;
#   4. renames: 100 names from d into e (another sharded directory) from
#      B, 100 within d from A (most land in another shard); both list the
#      expected sets; the moved files keep their inode numbers;
#   5. rmdir of the non-empty sharded d fails with ENOTEMPTY, and d still
#      takes new names; rm of every file of e then rmdir e succeeds, and
#      e is gone on both mounts;
#   6. a leaf of the emptied version 1 directory set DEAD in the store (as
#      an rmdir whose canfs died leaves it): canctl fsck --grace 0 finds
#      that frozen shard and nothing else (exit 4) and reaches every file;
#      --repair thaws it (exit 1; LIVE again); frozen again, rmdir removes
#      the directory, and fsck is clean (no problem, no orphan shard).
# Skips (77) when /dev/fuse, fusermount3 or build/canfs is missing.
TEST_TIMEOUT=${TEST_TIMEOUT:-300}
[ -z "${FS_TMPDIR:-}" ] && [ -w /dev/shm ] && FS_TMPDIR=/dev/shm
[ -n "${FS_TMPDIR:-}" ] && export TMPDIR=$FS_TMPDIR
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/fs.sh"
require_tools
command -v jq >/dev/null || skip "jq is not installed"
command -v python3 >/dev/null || skip "python3 is not installed"
[ -x "$BUILD/canfs-fsck" ] || skip "$BUILD/canfs-fsck does not exist yet"

trap fs_cleanup EXIT

fs_cluster 127.0.19 3
A=$T/a B=$T/b
CANFS_OPTS="-o allow_other,dir_shard_size=1K" mount_canfs "$A" "unix:$T/n1.sock"
CANFS_OPTS="-o allow_other,dir_shard_size=1K" mount_canfs "$B" "unix:$T/n2.sock"
D=unix:$T/n3.sock

# same_list WHAT DIR EXPECTED_FILE: the names in DIR are exactly those.
same_list() {
	local what=$1 dir=$2 want=$3
	ls -f "$dir" | grep -vx '\.\|\.\.' | sort >"$T/got" ||
		fail "$what: ls $dir failed"
	if ! cmp -s "$T/got" "$want"; then
		diff "$want" "$T/got" | head -10
		fail "$what: $(wc -l <"$T/got") names, want $(wc -l <"$want")"
	fi
	log "$what: $(wc -l <"$want") names, exactly"
}

# bash -c "$MK" _ DIR PREFIX FIRST LAST: create DIR/PREFIX<i>.
MK='for i in $(seq "$3" "$4"); do : >"$1/$2$i" || exit 1; done'
make_files() { bash -c "$MK" _ "$@"; }

# shard_fsck WANT_RC ARGS...: canctl fsck --json --grace 0 ARGS; exit WANT_RC.
shard_fsck() {
	local want=$1 rc
	shift
	timeout -k 5 120 "$CANCTL" -d "$D" fsck --json --grace 0 "$@" \
		>"$T/fsck.json" 2>>"$T/fsck.err"
	rc=$?
	log "fsck $*: exit $rc: $(jq -c .counts "$T/fsck.json")"
	[ "$rc" = "$want" ] || fail "fsck $*: exit $rc, want $want: $(cat "$T/fsck.json")"
}

# --- 1. a directory of several levels of shards
mkdir "$A/d" "$A/e" || fail "mkdir"
step 60 "300 creates from A" bash -c "$MK" _ "$A/d" p 1 300
seq 1 300 | sed 's/^/p/' | sort >"$T/want"
same_list "d from A" "$A/d" "$T/want"
same_list "d from B" "$B/d" "$T/want"

# --- 2. a version 1 directory (before shards) is read, then converted
mkdir "$A/old" || fail "mkdir old"
bash -c "$MK" _ "$A/old" o 1 50 || fail "creates in old"
OLD=d/$(printf '%x' "$(stat -c %i "$A/old")")
timeout 30 "$CANCTL" -d "$D" get "$OLD" >"$T/old.v2" || fail "get $OLD"
# version 2: u8 2, u8 state, u8 depth, u64 prefix, then u32 n and the
# entries, which version 1 has right after its version byte
python3 -c 'import sys
b = open(sys.argv[1], "rb").read()
assert b[0] == 2 and b[1] == 0 and b[2] == 0, "not a LIVE root shard"
open(sys.argv[2], "wb").write(b"\x01" + b[11:])' "$T/old.v2" "$T/old.v1" ||
	fail "old is not one LIVE root shard"
timeout 30 "$CANCTL" -d "$D" put "$OLD" <"$T/old.v1" >/dev/null || fail "put $OLD"
seq 1 50 | sed 's/^/o/' | sort >"$T/want"
same_list "version 1 old from B" "$B/old" "$T/want"
bash -c "$MK" _ "$A/old" n 1 50 || fail "creates in the version 1 old"
{ seq 1 50 | sed 's/^/o/'; seq 1 50 | sed 's/^/n/'; } | sort >"$T/want"
same_list "old, converted and split, from A" "$A/old" "$T/want"
same_list "old, converted and split, from B" "$B/old" "$T/want"
v=$(timeout 30 "$CANCTL" -d "$D" get "$OLD" | head -c 3 | od -An -tu1 | tr -s ' ')
[ "$v" = " 2 2 0" ] || fail "old's root is not a SPLIT version 2 header: $v"

# --- 3. two mounts creating and removing while a third lists
cat >"$T/lister.py" <<'EOF'
import os, sys
d, stop, stable = sys.argv[1], sys.argv[2], set(open(sys.argv[3]).read().split())
n = 0
while True:
    last = os.path.exists(stop)
    names = []
    with os.scandir(d) as it:	# many getdents calls: one page each
        for e in it:
            names.append(e.name)
    dup = len(names) - len(set(names))
    missing = stable - set(names)
    if dup or missing:
        print("listing %d: %d twice, %d missing (%s)" % (n, dup,
              len(missing), sorted(missing)[:5]))
        sys.exit(1)
    n += 1
    if last:
        break
print(n)
EOF
seq 201 300 | sed 's/^/p/' >"$T/stable"	# B removes p1-p100 only...
seq 101 200 | sed 's/^/p/' >>"$T/stable"	# ...so these stay throughout
python3 "$T/lister.py" "$A/d" "$T/stop" "$T/stable" >"$T/lister.out" 2>&1 &
LISTER=$!
FS_KILL+=("$LISTER")
make_files "$A/d" a 1 400 &
MA=$!
FS_KILL+=("$MA")
( make_files "$B/d" b 1 400 && for i in $(seq 1 100); do
	rm "$B/d/p$i" || exit 1; done ) &
MB=$!
FS_KILL+=("$MB")
wait "$MA" || fail "creates from A failed"
wait "$MB" || fail "creates/removals from B failed"
touch "$T/stop"
wait "$LISTER" || fail "a listing during splits: $(cat "$T/lister.out")"
log "listings during the splits: $(cat "$T/lister.out") complete"
{ seq 101 300 | sed 's/^/p/'; seq 1 400 | sed 's/^/a/'
  seq 1 400 | sed 's/^/b/'; } | sort >"$T/want"
same_list "d from A after" "$A/d" "$T/want"
same_list "d from B after" "$B/d" "$T/want"
step 60 "stat of every name from B" bash -c \
	'cd "$1" && xargs stat -c %i <"$2" >/dev/null' _ "$B/d" "$T/want"

# --- 4. renames across and within sharded directories
make_files "$A/e" x 1 50 || fail "creates in e"
for i in $(seq 101 200); do echo "$(stat -c %i "$A/d/p$i") p$i"; done >"$T/inos"
step 60 "100 renames from d into e (B)" bash -c \
	'for i in $(seq 101 200); do mv "$1/d/p$i" "$1/e/q$i" || exit 1; done' _ "$B"
step 60 "100 renames within d (A)" bash -c \
	'for i in $(seq 1 100); do mv "$1/d/a$i" "$1/d/renamed$i" || exit 1; done' _ "$A"
{ seq 201 300 | sed 's/^/p/'; seq 101 400 | sed 's/^/a/'
  seq 1 100 | sed 's/^/renamed/'; seq 1 400 | sed 's/^/b/'; } | sort >"$T/want"
{ seq 1 50 | sed 's/^/x/'; seq 101 200 | sed 's/^/q/'; } | sort >"$T/want-e"
sleep 1.2	# the kernel's cached names (entry_timeout 1 s) expire
same_list "d after renames (A)" "$A/d" "$T/want"
same_list "d after renames (B)" "$B/d" "$T/want"
same_list "e after renames (A)" "$A/e" "$T/want-e"
same_list "e after renames (B)" "$B/e" "$T/want-e"
while read -r ino name; do
	[ "$(stat -c %i "$A/e/q${name#p}")" = "$ino" ] ||
		fail "e/q${name#p} is not the inode p${name#p} was"
done <"$T/inos"

# --- 5. rmdir of sharded directories
if rmdir "$A/d" 2>"$T/rmdir.err"; then fail "rmdir of a non-empty sharded d succeeded"; fi
grep -q "not empty" "$T/rmdir.err" || fail "rmdir d: $(cat "$T/rmdir.err")"
: >"$B/d/after-rmdir" || fail "d takes no names after a refused rmdir"
step 60 "rm of every file of e (B)" bash -c 'rm -f "$1"/e/*' _ "$B"
step 30 "rmdir of the empty sharded e (A)" rmdir "$A/e"
sleep 1.2
[ -e "$B/e" ] && fail "e is still there on B"
[ -e "$A/e" ] && fail "e is still there on A"

# --- 6. a shard frozen by an rmdir whose canfs died: fsck finds it (and
#        nothing else), thaws it, and an rmdir removes a directory left so
rm -f "$A"/old/* || fail "rm old/*"
OLDK=d/$(printf '%x' "$(stat -c %i "$A/old")")
# freeze: set an empty LIVE leaf of old (1/0 or 1/1) to DEAD, as an rmdir
# does first; FROZEN is its key.
freeze() {
	local k v
	for k in "$OLDK/1/0" "$OLDK/1/1"; do
		timeout 30 "$CANCTL" -d "$D" get "$k" >"$T/leaf" || fail "get $k"
		python3 -c 'import sys
b = bytearray(open(sys.argv[1], "rb").read())
if not (b[0] == 2 and b[1] == 0 and b[11:15] == bytes(4)):
    sys.exit(1)		# not an empty LIVE leaf
b[1] = 3
open(sys.argv[1], "wb").write(b)' "$T/leaf" || continue
		v=$(timeout 30 "$CANCTL" -d "$D" get --json "$k" | jq -r .version)
		timeout 30 "$CANCTL" -d "$D" put --if-version "$v" "$k" \
			<"$T/leaf" >/dev/null || fail "put $k"
		FROZEN=$k
		return 0
	done
	fail "old has no empty LIVE leaf at depth 1"
}
freeze
for m in "$A" "$B"; do stat "$m" "$m/d" "$m/old" >/dev/null; done	# link counts land
sleep 1
shard_fsck 4
[ "$(jq .counts.frozen.left "$T/fsck.json")" = 1 ] || fail "fsck did not find the frozen shard"
[ "$(jq '[.counts[] | .left + .fixed + .recent] | add' "$T/fsck.json")" -eq 1 ] ||
	fail "fsck found other problems: $(jq -c .counts "$T/fsck.json")"
files=$(jq .files "$T/fsck.json")
[ "$files" -ge 901 ] || fail "fsck reached $files files, want 901"
shard_fsck 1 --repair
[ "$(jq .counts.frozen.fixed "$T/fsck.json")" = 1 ] || fail "fsck did not thaw the frozen shard"
v=$(timeout 30 "$CANCTL" -d "$D" get "$FROZEN" | head -c 2 | od -An -tu1 | tr -s ' ')
[ "$v" = " 2 0" ] || fail "$FROZEN is not LIVE after the repair: $v"
freeze
step 30 "rmdir of a directory with a frozen shard (A)" rmdir "$A/old"
sleep 1.2
[ -e "$B/old" ] && fail "old is still there on B"
shard_fsck 0
[ "$(jq '[.counts[] | .left + .fixed + .recent] | add' "$T/fsck.json")" -eq 0 ] ||
	fail "fsck after the rmdir found problems (orphan shards?): $(jq -c .counts "$T/fsck.json")"
for n in n1 n2 n3; do running "$n" || fail "daemon $n died during the run"; done
log "fs_shard passed"
