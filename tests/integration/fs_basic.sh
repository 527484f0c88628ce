#!/usr/bin/env bash
# fs_basic.sh: the canfs file system on a small overlay, through two mounts.
#
# Four daemons on 127.0.6.1-4, a free port (k=2, heartbeat $HB ms, Unix sockets in
# the temp dir); mount A through daemon 1's socket, mount B through daemon
# 3's.  Then, every step under a timeout:
#   1. tests/posix/posix_suite on a local temp dir (the reference) and on
#      A; every check must pass on both, and the two must agree check for
#      check (the suite's "allowed" lines are reported as allowed
#      differences);
#   2. cp -r /usr/include into A (with FS_TREE_MAX, a copy of it without
#      its larger top-level directories); diff -r against the source from
#      A and from B; ls -lR of the copy identical on A and B;
#   3. tar c of the copy on A | tar x into B, diff -r against the source;
#   4. mv of the tree (within A, then across directories through B), diff
#      from the other mount; rm -r, and the other mount sees it gone;
#   5. close-to-open: a file written and closed on A reads back on B, also
#      over a version B had just read; an append on B reads back on A;
#   6. 1,000 files created from A and 1,000 from B at once in one
#      directory: all 2,000 listed, exactly, on both;
#   7. bad input through A, checked on B: names of every byte 1-255 except
#      '/', 255-byte names (ok) and 256 (ENAMETOOLONG), 100 nested levels,
#      zero-length files, sparse files up to 5 GiB;
#   8. access times: relatime on A (a read moves an atime older than
#      mtime, a second read does not; a listing moves a directory's),
#      strictatime and O_NOATIME on a mount S, noatime on a mount N;
#      the "no update" checks through a fresh mount once A, S and N have
#      exited (and so written every queued update).
# Skips (77) when /dev/fuse or fusermount3 is missing or build/canfs does
# not exist yet.  Durations of the steps go to the log; the suite's output
# to tests/results/fs_basic-posix-{ref,canfs}.txt.
#
# Environment: HB, BUILD, KEEP=1, FS_TMPDIR (see below), CANFS_OPTS (mount
# options, default "-o allow_other": the suite's other-uid checks need it),
# FS_TREE_MAX (steps 2-4 leave out /usr/include's top-level directories of
# more than this many entries; default 0: none; make test: 500, run.sh).
TEST_TIMEOUT=${TEST_TIMEOUT:-880}
# The temp dir (daemons' data, sockets, mountpoints, the reference dir) goes
# on tmpfs when /dev/shm has room, unless FS_TMPDIR names another place
# (FS_TMPDIR=/tmp: on disk).  On a disk every create waits for fsyncs on
# its replicas (about 10x slower on a virtual disk), and the scenario would
# not fit in run.sh's 900 s.
if [ -z "${FS_TMPDIR:-}" ] && [ -w /dev/shm ] &&
	[ "$(df -k --output=avail /dev/shm 2>/dev/null | tail -1)" -gt $((4 << 20)) ]; then
	FS_TMPDIR=/dev/shm
fi
[ -n "${FS_TMPDIR:-}" ] && export TMPDIR=$FS_TMPDIR
. "$(dirname "$0")/../lib/common.sh"

. "$(dirname "$0")/../lib/fs.sh"
SUITE=$BUILD/tests/posix_suite
require_tools

trap fs_cleanup EXIT

# eventually LIMIT_S WHAT COMMAND...: COMMAND succeeds within LIMIT_S
# (another mount may serve cached entries until their timeout).
eventually() {
	local limit=$1 what=$2 t0
	shift 2
	t0=$(now_ms)
	wait_for "$limit" "$@" || { "$@"; fail "$what: not within ${limit}s"; }
	log "$what: after $(($(now_ms) - t0)) ms"
}

build_suite() {
	if [ ! -x "$SUITE" ] || [ "$ROOT/tests/posix/posix_suite.c" -nt "$SUITE" ]; then
		mkdir -p "$BUILD/tests"
		cc -O2 -Wall -Wextra -D_GNU_SOURCE -o "$SUITE" \
			"$ROOT/tests/posix/posix_suite.c" || fail "cannot build the posix suite"
	fi
}

# ------------------------------------------------------------ the run

build_suite
fs_cluster 127.0.6 4
A=$T/a
B=$T/b
mount_canfs "$A" "unix:$T/n1.sock"
mount_canfs "$B" "unix:$T/n3.sock"
PROBLEMS=()

# --- 1. the POSIX suite: reference, then canfs
mkdir -p "$T/ref"
t0=$(now_ms)
timeout -k 5 300 "$SUITE" "$T/ref" >"$RESULTS/fs_basic-posix-ref.txt" 2>&1
rc=$?
log "posix suite on the local reference ($(stat -f -c %T "$T/ref")): exit $rc," \
	"$(tail -1 "$RESULTS/fs_basic-posix-ref.txt"), $(($(now_ms) - t0)) ms"
if [ $rc -ne 0 ]; then
	grep -v '^ok' "$RESULTS/fs_basic-posix-ref.txt"
	fail "the reference directory fails the suite: fix the suite or the host"
fi
t0=$(now_ms)
timeout -k 5 400 "$SUITE" "$A" >"$RESULTS/fs_basic-posix-canfs.txt" 2>&1
rc=$?
log "posix suite on canfs: exit $rc, $(tail -1 "$RESULTS/fs_basic-posix-canfs.txt")," \
	"$(($(now_ms) - t0)) ms"
[ $rc -eq 124 ] && PROBLEMS+=("the posix suite timed out on canfs")
# Compare check by check: "STATUS SECTION: CHECK", the detail stripped.
outcomes() { sed -n 's/^\(ok\|FAIL\|allowed\|skip\) *\([^[]*[^[ ]\).*/\1 \2/p' "$1" | sort; }
outcomes "$RESULTS/fs_basic-posix-ref.txt" >"$T/ref.out"
outcomes "$RESULTS/fs_basic-posix-canfs.txt" >"$T/canfs.out"
cut -d' ' -f2- "$T/canfs.out" >"$T/canfs.names"
grep '^FAIL\|^allowed' "$RESULTS/fs_basic-posix-canfs.txt" | sed 's/^/  canfs: /'
while read -r line; do
	name=${line#* }
	if grep -qxF "allowed $name" "$T/canfs.out"; then
		log "allowed difference: $name (reference: ${line%% *})"
	elif ! grep -qxF "$name" "$T/canfs.names"; then
		log "not reached on canfs (an earlier check failed): $name"
	fi
done < <(comm -23 "$T/ref.out" "$T/canfs.out")
grep -q '^[0-9]* passed, [0-9]* failed$' "$RESULTS/fs_basic-posix-canfs.txt" ||
	PROBLEMS+=("the posix suite did not finish on canfs")
n=$(grep -c '^FAIL' "$RESULTS/fs_basic-posix-canfs.txt")
[ "$n" -gt 0 ] && PROBLEMS+=("posix suite: $n checks fail on canfs (see above)")
[ $rc -ne 0 ] && [ "$n" -eq 0 ] && PROBLEMS+=("posix suite on canfs: exit $rc")

# --- 2. a real tree: cp -r, diff from both mounts, ls -lR on both
# The tree: /usr/include, or a local copy without its top-level
# directories of over FS_TREE_MAX entries (node, llvm, c++... : the same
# kinds of files, links and depths, a third of the entries).
SRC=/usr/include
if [ "${FS_TREE_MAX:-0}" -gt 0 ]; then
	SRC=$T/src/include
	mkdir -p "$SRC" || fail "mkdir $SRC"
	# Entries per top-level name (a file or link counts 1), the small ones.
	find /usr/include -mindepth 1 -printf '%P\n' | cut -d/ -f1 | sort |
		uniq -c | awk -v max="$FS_TREE_MAX" \
		'$1 <= max { sub(/^ *[0-9]+ /, ""); print }' \
		>"$T/src.list"
	(cd /usr/include && xargs -d '\n' cp -a -t "$SRC" <"$T/src.list") ||
		fail "cannot copy /usr/include's smaller directories"
fi
log "the tree: $SRC, $(find "$SRC" | wc -l) entries, $(du -sh "$SRC" | cut -f1)"
# A directory of it, for the other mount to see after a move.
SUBDIR=$(cd "$SRC" && find . -mindepth 1 -maxdepth 1 -type d | sort | head -1)
SUBDIR=${SUBDIR#./}
[ -n "$SUBDIR" ] || fail "$SRC has no directory"
step 600 "cp -r the tree into A" cp -r "$SRC" "$A/"
step 300 "diff -r against the source from A" diff -r --no-dereference "$SRC" "$A/include"
step 300 "diff -r against the source from B" diff -r --no-dereference "$SRC" "$B/include"
LSLR='cd "$1" && ls -lR --time-style=full-iso >"$2"'
step 120 "ls -lR on A" bash -c "$LSLR" _ "$A/include" "$T/ls-a"
step 120 "ls -lR on B" bash -c "$LSLR" _ "$B/include" "$T/ls-b"
if ! diff "$T/ls-a" "$T/ls-b" >"$T/ls-diff"; then
	head -20 "$T/ls-diff"
	fail "ls -lR differs between A and B"
fi
log "ls -lR equal on A and B ($(wc -l <"$T/ls-a") lines)"

# --- 3. tar round trip: read from A, write through B
mkdir "$B/tarx" || fail "mkdir tarx on B"
step 600 "tar c on A | tar x on B" bash -o pipefail -c \
	'tar -C "$1" -cf - include | tar -C "$2" -xf -' _ "$A" "$B/tarx"
step 300 "diff -r of the tar copy (from A)" diff -r --no-dereference "$SRC" "$A/tarx/include"

# --- 4. mv and rm -r
step 60 "mv the tree within A" mv "$A/include" "$A/moved"
eventually 10 "B sees the old name gone" test ! -e "$B/include"
step 300 "diff -r of the moved tree from B" diff -r --no-dereference "$SRC" "$B/moved"
mkdir "$B/sub" || fail "mkdir sub on B"
step 60 "mv the tree into another directory through B" mv "$B/moved" "$B/sub/moved2"
eventually 10 "A sees the move" test -d "$A/sub/moved2/$SUBDIR"
step 300 "diff -r of the moved tree from A" diff -r --no-dereference "$SRC" "$A/sub/moved2"
step 600 "rm -r of the tree on A" rm -r "$A/sub"
step 600 "rm -r of the tar copy on B" rm -r "$B/tarx"
eventually 10 "B sees both trees gone" bash -c '[ -z "$(ls -A "$1")" ]' _ "$B"
[ -z "$(ls -A "$A")" ] || fail "A is not empty after rm -r: $(ls -A "$A" | head)"

# --- 5. close-to-open between the mounts
head -c 1048577 /dev/urandom >"$T/v1"
head -c 3145731 /dev/urandom >"$T/v2"
printf 'appended on B\n' >"$T/tail"
step 30 "write a 1 MiB file on A" cp "$T/v1" "$A/shared"
step 30 "read it on B" cmp "$T/v1" "$B/shared"
step 30 "overwrite it on A with 3 MiB (B read the old one)" cp "$T/v2" "$A/shared"
step 30 "B reads the new contents after A's close" cmp "$T/v2" "$B/shared"
step 30 "append on B" bash -c 'cat "$1" >>"$2"' _ "$T/tail" "$B/shared"
cat "$T/v2" "$T/tail" >"$T/v3"
step 30 "A reads B's append" cmp "$T/v3" "$A/shared"
rm -f "$A/shared"

# --- 6. 1,000 creates from each mount at once, in one directory
mkdir "$A/conc" || fail "mkdir conc"
eventually 10 "B sees conc" test -d "$B/conc"
create_many() { # DIR PREFIX
	local i
	for i in $(seq 1000); do : >"$1/$2$i" || return 1; done
}
export -f create_many
t0=$(now_ms)
timeout -k 5 300 bash -c 'create_many "$1" a' _ "$A/conc" &
pa=$!
timeout -k 5 300 bash -c 'create_many "$1" b' _ "$B/conc" &
pb=$!
wait $pa || fail "creating 1,000 files on A failed (exit $?)"
wait $pb || fail "creating 1,000 files on B failed (exit $?)"
log "2 x 1,000 concurrent creates: $(($(now_ms) - t0)) ms"
{ seq 1000 | sed 's/^/a/'; seq 1000 | sed 's/^/b/'; } | sort >"$T/conc-want"
listed() { ls -A "$1" | sort | cmp -s - "$T/conc-want"; }
eventually 10 "all 2,000 names listed on A" listed "$A/conc"
eventually 10 "all 2,000 names listed on B" listed "$B/conc"
step 120 "rm -r the 2,000 files" rm -r "$A/conc"

# --- 7. bad input through A, checked through B
cat >"$T/badinput.py" <<'EOF'
"""Hostile names and shapes written through mount A, read through B."""
import errno, os, shutil, sys, time

A, B = (os.fsencode(p) for p in sys.argv[1:3])
problems = []


def expect(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        problems.append(what)


def eventually(pred, what, limit=10.0):
    end = time.monotonic() + limit
    while not pred() and time.monotonic() < end:
        time.sleep(0.1)
    expect(pred(), what)


def errno_of(fn, *args):
    try:
        fn(*args)
    except OSError as e:
        return e.errno
    return 0


def put(path, data):
    with open(path, "wb") as f:
        f.write(data)


def get(path):
    with open(path, "rb") as f:
        return f.read()


# Every byte 1-255 but '/': one name per byte ('.' alone is taken: "x.x")
# and one name of all 254 bytes.
d = b"/bytes"
os.mkdir(A + d)
names = [bytes([b]) for b in range(1, 256) if b not in (0x2F, 0x2E)]
names += [b"x.x", bytes(b for b in range(1, 256) if b != 0x2F)]
for n in names:
    put(A + d + b"/" + n, n)
eventually(lambda: sorted(os.listdir(B + d)) == sorted(names),
           "B lists all %d byte names exactly" % len(names))
expect(all(get(B + d + b"/" + n) == n for n in names),
       "B reads each byte name's contents")
shutil.rmtree(B + d)
eventually(lambda: not os.path.exists(A + d), "A sees them removed")

# Name lengths.
n255, n256 = b"n" * 255, b"n" * 256
put(A + b"/" + n255, b"255")
expect(get(B + b"/" + n255) == b"255", "a 255-byte name written on A reads on B")
expect(errno_of(put, A + b"/" + n256, b"") == errno.ENAMETOOLONG,
       "create a 256-byte name: ENAMETOOLONG")
expect(errno_of(os.mkdir, A + b"/" + n256) == errno.ENAMETOOLONG,
       "mkdir a 256-byte name: ENAMETOOLONG")
expect(errno_of(os.rename, A + b"/" + n255, A + b"/" + n256) == errno.ENAMETOOLONG,
       "rename to a 256-byte name: ENAMETOOLONG")
expect(errno_of(os.stat, B + b"/" + n256) == errno.ENAMETOOLONG,
       "stat a 256-byte name on B: ENAMETOOLONG")
os.unlink(A + b"/" + n255)

# 100 nested levels.
p = b""
for i in range(100):
    p += b"/d%02d" % i
    os.mkdir(A + p)
put(A + p + b"/leaf", b"deep")
expect(get(B + p + b"/leaf") == b"deep", "a file 100 levels down, read on B")
shutil.rmtree(B + b"/d00")
eventually(lambda: not os.path.exists(A + b"/d00"), "A sees the 100 levels removed")

# Zero-length and sparse files.
put(A + b"/empty", b"")
expect(os.stat(B + b"/empty").st_size == 0 and get(B + b"/empty") == b"",
       "a zero-length file is empty on B")
fd = os.open(A + b"/sparse", os.O_CREAT | os.O_WRONLY, 0o644)
os.pwrite(fd, b"end", 10 << 20)
os.pwrite(fd, b"far", 5 << 30)
os.close(fd)
st = os.stat(B + b"/sparse")
expect(st.st_size == (5 << 30) + 3, "B sees the 5 GiB sparse size")
fd = os.open(B + b"/sparse", os.O_RDONLY)
hole = os.pread(fd, 10 << 20, 0)
expect(hole == bytes(10 << 20), "B reads the first 10 MiB hole as zeros")
expect(os.pread(fd, 3, 10 << 20) == b"end", "B reads the data after it")
expect(os.pread(fd, 4096, 4 << 30) == bytes(4096), "B reads zeros at 4 GiB")
expect(os.pread(fd, 3, 5 << 30) == b"far", "B reads the data at 5 GiB")
os.close(fd)
os.unlink(B + b"/sparse")
os.unlink(B + b"/empty")
if problems:
    print("%d problems: %s" % (len(problems), "; ".join(problems)))
    sys.exit(1)
EOF
step 300 "bad input through A, checked on B" python3 "$T/badinput.py" "$A" "$B"

# --- 8. access times: relatime on A (the default), strictatime on S,
# noatime on N; B and, at the end, a fresh mount V look.  The negative
# checks (no update) are made after A, N and S have been unmounted and
# their processes have exited, which happens only once every queued
# background update is written: no sleeps, no timing assumptions.
S=$T/s
N=$T/n
V=$T/v
CANFS_OPTS="${CANFS_OPTS--o allow_other} -o strictatime" mount_canfs "$S" "unix:$T/n2.sock"
CANFS_OPTS="${CANFS_OPTS--o allow_other} -o noatime" mount_canfs "$N" "unix:$T/n4.sock"
cat >"$T/atime.py" <<'EOF2'
"""Access times through mounts with different atime policies."""
import json, os, sys, time

problems = []
DAY = 86400 * 10**9


def expect(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        problems.append(what)


def eventually(pred, what, limit=15.0):
    end = time.monotonic() + limit
    while not pred() and time.monotonic() < end:
        time.sleep(0.1)
    expect(pred(), what)


def atime(path):
    return os.stat(path).st_atime_ns


def read(path, flags=0):
    fd = os.open(path, os.O_RDONLY | flags)
    try:
        os.read(fd, 1 << 20)
    finally:
        os.close(fd)


def old_file(path, mtime):
    """A file whose atime (two days ago) is older than its mtime."""
    with open(path, "w") as f:
        f.write("x" * 5000)
    os.utime(path, ns=(mtime - DAY, mtime))
    return mtime - DAY


def reads(A, B, S, N, state):
    now = time.time_ns()
    old = {n: old_file(os.path.join(A, n), now - 3600 * 10**9)
           for n in ("rel", "strict", "none")}
    for n, t in old.items():  # an explicit atime (setattr) lands at once
        eventually(lambda n=n, t=t: atime(os.path.join(B, n)) == t,
                   "B sees the atime set on A for " + n)
    mtime = os.stat(os.path.join(B, "rel")).st_mtime_ns

    # relatime: the first read moves atime (older than mtime) ...
    read(os.path.join(A, "rel"))
    eventually(lambda: atime(os.path.join(B, "rel")) > mtime,
               "relatime: a read on A moves atime past mtime (seen on B)")
    state["rel"] = atime(os.path.join(B, "rel"))
    eventually(lambda: atime(os.path.join(A, "rel")) == state["rel"],
               "relatime: A sees the new atime too")
    # ... the second, within a day, does not (checked at the end).
    read(os.path.join(A, "rel"))

    # A directory listing counts as a read of the directory.
    os.mkdir(os.path.join(A, "adir"))
    open(os.path.join(A, "adir", "x"), "w").close()
    dm = os.stat(os.path.join(B, "adir")).st_mtime_ns
    os.listdir(os.path.join(A, "adir"))
    eventually(lambda: atime(os.path.join(B, "adir")) > dm,
               "relatime: listing a changed directory moves its atime")

    # strictatime: every read moves it, also when newer than mtime.
    read(os.path.join(S, "strict"))
    eventually(lambda: atime(os.path.join(B, "strict")) > mtime,
               "strictatime: a read on S moves atime")
    first = atime(os.path.join(B, "strict"))
    read(os.path.join(S, "strict"))
    eventually(lambda: atime(os.path.join(B, "strict")) > first,
               "strictatime: a second read moves it again")
    state["strict"] = atime(os.path.join(B, "strict"))
    eventually(lambda: atime(os.path.join(S, "strict")) == state["strict"],
               "strictatime: S sees its own update")
    # O_NOATIME: no update, even under strictatime (checked at the end).
    read(os.path.join(S, "strict"), os.O_NOATIME)

    # noatime: never (checked at the end).
    read(os.path.join(N, "none"))
    state["none"] = old["none"]


def check(V, state):
    expect(atime(os.path.join(V, "rel")) == state["rel"],
           "relatime: the second read within a day left atime")
    expect(atime(os.path.join(V, "strict")) == state["strict"],
           "strictatime: an O_NOATIME read left atime")
    expect(atime(os.path.join(V, "none")) == state["none"],
           "noatime: a read on N left atime two days old")


mode, state_file = sys.argv[1], sys.argv[2]
if mode == "reads":
    state = {}
    reads(*sys.argv[3:7], state)
    with open(state_file, "w") as f:
        json.dump(state, f)
else:
    with open(state_file) as f:
        check(sys.argv[3], json.load(f))
if problems:
    print("%d problems: %s" % (len(problems), "; ".join(problems)))
    sys.exit(1)
EOF2
step 120 "atime: reads through A (relatime), S (strictatime), N (noatime)" \
	python3 "$T/atime.py" reads "$T/atime.json" "$A" "$B" "$S" "$N"
canfs_gone() { ! any_ours "$1"; }
for i in "${!MOUNTS[@]}"; do
	case ${MOUNTS[$i]} in "$A"|"$S"|"$N") ;; *) continue ;; esac
	timeout 20 fusermount3 -u "${MOUNTS[$i]}" || fail "cannot unmount ${MOUNTS[$i]}"
	wait_for 30 canfs_gone "${FS_PIDS[$i]}" ||
		fail "canfs of ${MOUNTS[$i]} still running 30 s after its unmount"
done
log "unmounted A, S and N: their atime updates are written"
CANFS_OPTS="${CANFS_OPTS--o allow_other} -o noatime" mount_canfs "$V" "unix:$T/n1.sock"
step 60 "atime: no update where none is due (through a fresh mount)" \
	python3 "$T/atime.py" check "$T/atime.json" "$V"
rm -rf "$V/rel" "$V/strict" "$V/none" "$V/adir"

umount_all
for m in "$A" "$B" "$V"; do
	mounted "$m" && fail "$m still mounted after fusermount3 -u"
done
log "unmounted B and V"
for n in n1 n2 n3 n4; do running "$n" || fail "daemon $n died during the run"; done

if [ ${#PROBLEMS[@]} -gt 0 ]; then
	printf '%s\n' "${PROBLEMS[@]}"
	fail "${#PROBLEMS[@]} problem(s); the rest of the scenario passed"
fi
log "fs_basic passed"
