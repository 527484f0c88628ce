#!/usr/bin/env bash
# ctl_status.sh: canctl's views of the whole overlay and its progress
# reports.
#
# Five daemons on 127.0.13.x (a free port), 3 dimensions, k=3, with a long
# failure window (--fail-after) so that a stopped daemon is not taken over.
#  - 40 objects of varied sizes put with canctl batch;
#  - status, polled until healthy (joins and repair settle): exit 0; the
#    JSON has 5 active nodes, an exact tiling, every member's zones as
#    `zones --json` gives them; with metrics (STATS) the replicas held add
#    up to k per object and the bytes to at least k x the bytes put; the
#    text has the health line and one line per node; status --local
#    answers for one node;
#  - map --svg, twice (default slice; --axes 1,3 --slice x2=0.25):
#    check_svg.py checks well-formed XML, rectangles tiling the square,
#    one per zone meeting the slice (computed from the zone map) with one
#    label naming its node, the title; bad --axes/--slice exit 2;
#  - verify and repair --all with stderr to a file: a final progress line
#    for every node, stdout of verify --json one JSON value; --quiet:
#    nothing on stderr;
#  - a daemon stopped (SIGSTOP): status exits 6 (unavailable), names it
#    unreachable and says why; after SIGCONT, healthy again (exit 0).
. "$(dirname "$0")/../lib/common.sh"
require_tools
command -v jq >/dev/null || skip "jq is not installed"

PORT=${PORT:-$(free_port)}
N=5
K=3
NOBJ=40
CANFSD_EXTRA="${CANFSD_EXTRA:-} --fail-after 250"
ip_of() { echo "127.0.13.$1:$PORT"; }
ctl() { "$CANCTL" -d "$(ip_of 1)" "$@"; }

for i in $(seq $N); do
	if [ "$i" = 1 ]; then
		start_node s1 "$(ip_of 1)" "" --dims 3 -k $K --repair-interval 2
	else
		start_node "s$i" "$(ip_of "$i")" "$(ip_of 1)" --dims 3 -k $K \
			--repair-interval 2
	fi
	wait_active "s$i" 20
done

# --- objects, so that nodes store different amounts
mkdir -p "$T/obj"
total=0
for i in $(seq $NOBJ); do
	head -c $((i * 997)) /dev/urandom >"$T/obj/$i"
	total=$((total + i * 997))
	echo "put obj$i $T/obj/$i"
done >"$T/batch"
ctl batch "$T/batch" >"$T/batch.out" || fail "batch put failed: $(tail -3 "$T/batch.out")"

# --- status: healthy once joins and repair have settled
healthy() { ctl -t 2000 status --json >"$T/status.json" 2>/dev/null; }
wait_for 60 healthy || fail "status not healthy in 60 s: $(cat "$T/status.json")"
ctl zones --json >"$T/zones.json" || fail "zones --json failed"
jq -e --argjson n $N '.health == "healthy" and .reasons == [] and .nodes == $n
	and .active == $n and .unreachable == 0 and .tiling == "exact"
	and .covered == 1 and (.members | length) == $n' "$T/status.json" >/dev/null ||
	fail "status --json is not a healthy $N-node overlay: $(cat "$T/status.json")"
# The members' zones are those of the walk.
[ "$(jq -c '[.members[] | {id, addr, zones}]' "$T/status.json")" = \
	"$(jq -c '[.[] | {id, addr, zones}]' "$T/zones.json")" ] ||
	fail "status members differ from zones --json"
if jq -e '.replicas != null' "$T/status.json" >/dev/null; then
	# Repair may still be copying: poll until the sums add up.
	counted() {
		healthy && jq -e --argjson r $((NOBJ * K)) --argjson b $((total * K)) \
			'.replicas == $r and .objects == ($r / 3) and .bytes >= $b and
			([.members[].replicas] | add) == .replicas' "$T/status.json"
	}
	wait_for 60 counted ||
		fail "status does not count $NOBJ objects x $K replicas: $(cat "$T/status.json")"
	log "status: $(jq -c '{replicas, objects, bytes}' "$T/status.json")"
else
	log "the daemons give no STATS yet: the metric checks are skipped"
fi
ctl status >"$T/status.txt" || fail "status (text) exit $?: $(cat "$T/status.txt")"
grep -q '^health  *healthy$' "$T/status.txt" || fail "no health line: $(cat "$T/status.txt")"
[ "$(grep -c '  active  ' "$T/status.txt")" = $N ] ||
	fail "status should list $N active nodes: $(cat "$T/status.txt")"
ctl status --local --json | jq -e --arg a "$(ip_of 1)" '.addr == $a and .dims == 3' \
	>/dev/null || fail "status --local does not describe s1"
log "status: healthy, $N active nodes"

# --- map --svg: default slice, then chosen axes and slice
ctl map --svg "$T/map.svg" >"$T/map.out" || fail "map --svg failed: $(cat "$T/map.out")"
python3 "$LIB/check_svg.py" "$T/map.svg" "$T/zones.json" "" "" \
	"slice of dimensions 1 (across) and 2 (up) of 3 through x3=0.5" ||
	fail "map --svg (default slice) is wrong"
ctl map --svg "$T/map2.svg" --axes 1,3 --slice x2=0.25 >/dev/null ||
	fail "map --svg --axes 1,3 --slice x2=0.25 failed"
python3 "$LIB/check_svg.py" "$T/map2.svg" "$T/zones.json" 1,3 x2=0.25 \
	"slice of dimensions 1 (across) and 3 (up) of 3 through x2=0.25" ||
	fail "map --svg --axes 1,3 --slice x2=0.25 is wrong"
for bad in "--axes 1,1" "--axes 1,4" "--slice x1=0.5" "--slice x2=1" "--slice y2=0"; do
	# shellcheck disable=SC2086 # two words
	ctl map --svg "$T/bad.svg" $bad >/dev/null 2>"$T/bad.err"
	rc=$?
	[ $rc = 2 ] && grep -q "bad --" "$T/bad.err" ||
		fail "map --svg $bad: exit $rc, $(cat "$T/bad.err") (want 2 and a message)"
done
log "map --svg: both pictures tile the square, one label per zone"

# --- progress reports (stderr is a file here: plain lines)
ctl verify --json >"$T/verify.json" 2>"$T/verify.err" || fail "verify failed: $(cat "$T/verify.err")"
jq -e '.keys == 40 and .under_replicated == 0' "$T/verify.json" >/dev/null ||
	fail "verify --json stdout is not the audit: $(cat "$T/verify.json")"
tail -1 "$T/verify.err" | grep -Eq "^verify: 100% $N/$N nodes listed, $((NOBJ * K)) replicas, in [0-9]+:[0-9]{2}$" ||
	fail "no final verify progress line: $(cat "$T/verify.err")"
ctl repair --all >"$T/repair.out" 2>"$T/repair.err" || fail "repair --all failed"
tail -1 "$T/repair.err" | grep -Eq "^repair: 100% $N/$N nodes asked, $N started, 0 failed, in " ||
	fail "no final repair progress line: $(cat "$T/repair.err")"
[ "$(grep -c '^repair pass started on ' "$T/repair.out")" = $N ] ||
	fail "repair --all stdout: $(cat "$T/repair.out")"
ctl verify --quiet >/dev/null 2>"$T/quiet.err" || fail "verify --quiet failed"
[ ! -s "$T/quiet.err" ] || fail "verify --quiet wrote to stderr: $(cat "$T/quiet.err")"
log "progress: final lines for verify and repair, none with --quiet"

# --- a stopped daemon: part of the space has no live owner
victim=s4
kill -STOP "$(pid_of $victim)"
ctl -t 1000 status --json >"$T/stopped.json" 2>/dev/null
rc=$?
kill -CONT "$(pid_of $victim)"
[ $rc = 6 ] || fail "status with $victim stopped: exit $rc, not 6: $(cat "$T/stopped.json")"
jq -e --arg a "$(ip_of 4)" '.health == "unavailable" and .unreachable == 1 and
	.tiling == "gaps" and (.reasons | length) >= 2 and
	([.members[] | select(.addr == $a and .state == "unreachable" and .error != null)] | length) == 1' \
	"$T/stopped.json" >/dev/null || fail "status with $victim stopped: $(cat "$T/stopped.json")"
log "stopped $victim: $(jq -c '{health, reasons}' "$T/stopped.json")"
wait_for 30 healthy || fail "not healthy again after SIGCONT: $(cat "$T/status.json")"
log "healthy again after SIGCONT"
