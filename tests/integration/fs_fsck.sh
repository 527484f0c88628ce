#!/usr/bin/env bash
# fs_fsck.sh: canctl fsck finds each kind of damage exactly, repairs it,
# and the background sweep collects an orphan once its grace is over.
#
# Three daemons on 127.0.13.1-3, a free port, k=2; mount A through daemon
# 1 (4 KiB chunks, so that small files have several).  Then:
#   1. A tree: directories, files of several chunks, a hard link, a
#      symlink, an empty file; their sha256 sums kept.  fsck --grace 0
#      is clean (exit 0, no problem of any kind).
#   2. Damage through the store (canctl on the computed keys): victim1's
#      inode deleted (a name without inode), victim2's entry cut out of
#      its directory (an inode without name), victim3's nlink set to 5,
#      a chunk of an unknown inode (an orphan), a chunk of a good file
#      past its extents (unrecorded).  fsck with the default grace (a
#      day) shows all five as recent and exits 0; with --grace 0 it
#      reports each one exactly (kind, inode, name, counts, key) and
#      exits 4.
#   3. fsck --repair --grace 0 exits 1, everything fixed; a second fsck
#      is clean.  Through a fresh mount B: victim1 is gone, victim2 is
#      /lost+found/#INO with its bytes, victim3 has nlink 1, and every
#      good file reads back byte-exact.
#   4. The sweep (canctl fsck --sweep, what the canfs-sweep timer runs)
#      with --grace 4: a new orphan is left alone at first (recent),
#      collected by a sweep 5 s later; a sweep started within the
#      interval of the last one is skipped.
#   5. A crash: mount C creates, writes and removes files in a loop and
#      its canfs is killed (kill -9) in the middle, so the store may hold
#      an inode without its entry or an entry without its inode, chunks
#      of a file whose size never landed, a half-done unlink.  fsck
#      --repair --grace 0 exits 0 or 1, a second fsck is clean, and every
#      file whose close succeeded before the crash reads back byte-exact
#      through B.
# Skips (77) without FUSE, python3 or jq.  Environment: HB, BUILD, KEEP=1.
TEST_TIMEOUT=${TEST_TIMEOUT:-300}
if [ -z "${FS_TMPDIR:-}" ] && [ -w /dev/shm ] &&
	[ "$(df -k --output=avail /dev/shm 2>/dev/null | tail -1)" -gt $((1 << 19)) ]; then
	FS_TMPDIR=/dev/shm
fi
[ -n "${FS_TMPDIR:-}" ] && export TMPDIR=$FS_TMPDIR
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/fs.sh"
require_tools
command -v jq >/dev/null || skip "jq is not installed"
command -v python3 >/dev/null || skip "python3 is not installed"
[ -x "$BUILD/canfs-fsck" ] || skip "$BUILD/canfs-fsck does not exist yet"

trap fs_cleanup EXIT

fs_cluster 127.0.13 3
A=$T/a B=$T/b
CANFS_OPTS="-o allow_other,chunk_size=4096" mount_canfs "$A" "unix:$T/n1.sock"
D=unix:$T/n2.sock

ctl() { timeout -k 5 60 "$CANCTL" -d "$D" "$@"; }
# fsck ARGS...: canctl fsck --json into $T/fsck.json; sets RC.
fsck() {
	timeout -k 5 120 "$CANCTL" -d "$D" fsck --json "$@" >"$T/fsck.json" \
		2>>"$T/fsck.err"
	RC=$?
	log "fsck $*: exit $RC: $(jq -c .counts "$T/fsck.json" 2>/dev/null)"
}
# count KIND OUTCOME: from the last report.
count() { jq -r ".counts.$1.$2" "$T/fsck.json"; }
hexino() { printf '%x' "$(stat -c %i "$1")"; }

# --- 1. a tree, and a clean check
mkdir -p "$A/d1/d2" "$A/d3" || fail "mkdir"
head -c 20000 /dev/urandom >"$A/d1/f1" || fail "write f1"
head -c 9000 /dev/urandom >"$A/d1/d2/f2" || fail "write f2"
ln "$A/d1/f1" "$A/d3/hard" || fail "ln"
ln -s ../d1/f1 "$A/d3/sym" || fail "ln -s"
: >"$A/empty"
for v in 2 3; do
	head -c 5000 /dev/urandom >"$A/d3/victim$v" || fail "write victim$v"
done
: >"$A/d3/victim1"	# empty: no chunks to orphan when its inode goes
stat "$A" "$A/d1" "$A/d1/d2" "$A/d3" >/dev/null	# the link counts land
(cd "$A" && sha256sum d1/f1 d1/d2/f2 d3/hard empty d3/victim2 >"$T/sums") ||
	fail "sha256sum"
sync
fsck --grace 0
[ "$RC" -eq 0 ] || fail "fsck of a clean tree: exit $RC ($(cat "$T/fsck.json"))"
[ "$(jq '[.counts[] | .left + .fixed + .recent] | add' "$T/fsck.json")" -eq 0 ] ||
	fail "fsck of a clean tree found problems"
jq -e '.directories == 4 and .files >= 7 and .chunks >= 10' "$T/fsck.json" \
	>/dev/null || fail "fsck did not reach the tree: $(cat "$T/fsck.json")"

# --- 2. damage
I1=$(hexino "$A/d3/victim1") I2=$(hexino "$A/d3/victim2")
I3=$(hexino "$A/d3/victim3") IF1=$(hexino "$A/d1/f1") ID3=$(hexino "$A/d3")
ctl rm "i/$I1" >/dev/null || fail "rm i/$I1"
# python3 edits a record: dir ENTRY removes ENTRY; nlink N sets it.
cat >"$T/edit.py" <<'EOF'
import struct, sys
what, arg = sys.argv[1], sys.argv[2]
b = sys.stdin.buffer.read()
if what == "nlink":
    assert b[0] in (3, 4)  # inode record with its number (fs/meta.h)
    b = b[:21] + struct.pack("<I", int(arg)) + b[25:]
else:
    # a LIVE root shard (fs/meta.h): u8 2, u8 state, u8 depth, u64
    # prefix, u32 n, entries
    assert b[0] == 2 and b[1] == 0 and b[2] == 0
    n, = struct.unpack_from("<I", b, 11)
    off, out, kept = 15, [], 0
    for _ in range(n):
        ln = b[off + 9]
        e = b[off:off + 10 + ln]
        off += 10 + ln
        if e[10:].decode() != arg:
            out.append(e)
    assert len(out) == n - 1
    b = b[:11] + struct.pack("<I", n - 1) + b"".join(out)
sys.stdout.buffer.write(b)
EOF
# edit KEY WHAT ARG: rewrite the object under compare-and-swap.
edit() {
	local v
	v=$(ctl get --json "$1" | jq -r .version) || fail "get $1"
	ctl get "$1" | python3 "$T/edit.py" "$2" "$3" >"$T/rec" ||
		fail "edit $1"
	ctl put --if-version "$v" "$1" <"$T/rec" >/dev/null || fail "put $1"
}
edit "d/$ID3" dir victim2
edit "i/$I3" nlink 5
ORPH=$(echo orphan | ctl put --json "c/7fffffff00000001/0" | jq -r .hex)
UNREC=$(echo unrecorded | ctl put --json "c/$IF1/40" | jq -r .hex)
[ -n "$ORPH" ] && [ -n "$UNREC" ] || fail "put the orphans"

fsck
[ "$RC" -eq 0 ] || fail "fsck with the default grace: exit $RC, want 0"
[ "$(jq '[.counts[] | .recent] | add' "$T/fsck.json")" -eq 5 ] ||
	fail "want 5 recent problems: $(cat "$T/fsck.json")"
fsck --grace 0
cp "$T/fsck.json" "$T/fsck-damaged.json"
[ "$RC" -eq 4 ] || fail "fsck of the damage: exit $RC, want 4"
for k in noinode noname nlink orphan unrecorded; do
	[ "$(count $k left)" = 1 ] || fail "want one $k problem: $(cat "$T/fsck.json")"
done
[ "$(count unlinked left)" = 0 ] || fail "an unlinked inode was reported"
p() { jq -e ".problems[] | select(.kind == \"$1\") | $2" "$T/fsck.json" >/dev/null ||
	fail "$1 problem is not $2: $(cat "$T/fsck.json")"; }
p noinode ".name == \"victim1\" and .ino == $((16#$I1)) and .parent == $((16#$ID3))"
p noname ".ino == $((16#$I2))"
p nlink ".ino == $((16#$I3)) and .have == 5 and .want == 1"
p orphan ".key == \"$ORPH\""
p unrecorded ".ino == $((16#$IF1)) and .index == 40 and .key == \"$UNREC\""

# --- 3. repair, check again, read everything back
fsck --repair --grace 0
[ "$RC" -eq 1 ] || fail "fsck --repair: exit $RC, want 1 ($(cat "$T/fsck.json"))"
for k in noinode noname nlink orphan unrecorded; do
	[ "$(count $k fixed)" = 1 ] || fail "$k not fixed: $(cat "$T/fsck.json")"
done
fsck --grace 0
[ "$RC" -eq 0 ] || fail "fsck after the repair: exit $RC ($(cat "$T/fsck.json"))"
ctl get "c/7fffffff00000001/0" >/dev/null 2>&1 && fail "the orphan is still there"
mount_canfs "$B" "unix:$T/n3.sock"
[ -e "$B/d3/victim1" ] && fail "victim1 is still listed"
[ -e "$B/d3/victim2" ] && fail "victim2 came back in d3"
[ "$(stat -c %h "$B/d3/victim3")" = 1 ] || fail "victim3 nlink $(stat -c %h "$B/d3/victim3")"
[ "$(stat -c %i "$B/lost+found/#$((16#$I2))")" = $((16#$I2)) ] ||
	fail "victim2 is not in lost+found: $(ls -la "$B/lost+found")"
sed "s|d3/victim2|lost+found/#$((16#$I2))|" "$T/sums" >"$T/sums2"
(cd "$B" && sha256sum -c --quiet "$T/sums2") || fail "files differ after the repair"
[ "$(stat -c %s "$B/d1/f1")" = 20000 ] || fail "f1 changed size"
log "repaired: victim2 in lost+found, every file byte-exact"

# --- 4. the sweep
SW=$(echo swept | ctl put --json "c/7fffffff00000002/3" | jq -r .hex)
fsck --sweep --grace 4 --interval 0
[ "$RC" -eq 0 ] || fail "sweep: exit $RC"
[ "$(count orphan recent)" = 1 ] || fail "the new orphan is not recent"
ctl get "c/7fffffff00000002/3" >/dev/null || fail "the sweep took a recent orphan"
sleep 5
fsck --sweep --grace 4 --interval 0
[ "$RC" -eq 1 ] && [ "$(count orphan fixed)" = 1 ] ||
	fail "the sweep did not collect the orphan: exit $RC $(cat "$T/fsck.json")"
jq -e ".problems[] | select(.key == \"$SW\")" "$T/fsck.json" >/dev/null ||
	fail "the sweep collected something else"
ctl get "c/7fffffff00000002/3" >/dev/null 2>&1 && fail "the swept orphan is still there"
out=$(timeout 60 "$CANCTL" -d "$D" fsck --sweep --interval 3600) ||
	fail "a sweep within the interval failed"
[[ $out == "sweep skipped"* ]] || fail "a sweep within the interval ran: $out"
log "sweep: a recent orphan kept, collected after its grace; turns kept"
# --- 5. a crash in the middle of creates, writes and removals
C=$T/c
mount_canfs "$C" "unix:$T/n1.sock"
CPID=${FS_PIDS[-1]}
mkdir "$C/crash" || fail "mkdir crash"
python3 - "$C/crash" "$T/crash.man" <<'PY' 2>/dev/null &
import hashlib, os, sys
d, man = sys.argv[1], open(sys.argv[2], "w")
i = 0
while True:
    i += 1
    data = os.urandom(100 + (i * 7919) % 30000)
    p = os.path.join(d, "f%05d" % i)
    try:
        with open(p, "wb") as f:
            f.write(data)
        man.write("%s  crash/f%05d\n" % (hashlib.sha256(data).hexdigest(), i))
        man.flush()
        if i % 3 == 0:
            man.write("unlinking crash/f%05d\n" % (i - 1))
            man.flush()
            os.unlink(os.path.join(d, "f%05d" % (i - 1)))
            man.write("gone crash/f%05d\n" % (i - 1))
            man.flush()
    except OSError:
        break
PY
CW=$!
FS_KILL+=("$CW")
sleep 3
kill -9 "$CPID"
wait "$CW" 2>/dev/null
fusermount3 -uz "$C" 2>/dev/null || umount -l "$C"
# The files acknowledged (closed) and not removed afterwards; a file
# whose unlink was under way at the crash may be gone (or, its entry gone
# and its inode not yet, in lost+found after the repair): it is checked
# only if it is still there.
awk '$1 == "gone" { del[$2] = 1; next } $1 == "unlinking" { maybe[$2] = 1; next }
	{ sum[$2] = $1 }
	END { for (f in sum) if (!(f in del) && !(f in maybe)) print sum[f] "  " f
		for (f in maybe) if (!(f in del)) print sum[f] "  " f > "/dev/stderr" }' \
	"$T/crash.man" 2>"$T/crash.maybe" | sort -k2 >"$T/crash.sums"
log "crash: canfs killed after $(wc -l <"$T/crash.sums") acknowledged files"
[ -s "$T/crash.sums" ] || fail "no file was written before the crash"
fsck --repair --grace 0
[ "$RC" -le 1 ] || fail "fsck --repair after the crash: exit $RC ($(cat "$T/fsck.json"))"
fsck --grace 0
[ "$RC" -eq 0 ] || fail "fsck after repairing the crash: exit $RC ($(cat "$T/fsck.json"))"
(cd "$B" && sha256sum -c --quiet "$T/crash.sums") ||
	fail "files acknowledged before the crash differ after the repair"
while read -r sum f; do
	[ -e "$B/$f" ] || { log "crash: $f, removed when canfs died, is gone"; continue; }
	[ "$(sha256sum <"$B/$f" | cut -d' ' -f1)" = "$sum" ] ||
		fail "$f, removed when canfs died, is there with other bytes"
done <"$T/crash.maybe"
log "crash: repaired, clean, $(wc -l <"$T/crash.sums") acknowledged files byte-exact"
for n in n1 n2 n3; do running "$n" || fail "daemon $n died during the run"; done
log "fs_fsck passed"
