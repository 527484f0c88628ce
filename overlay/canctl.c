/*
 * canctl.c: the canfs admin command line.
 *
 * Each command is a few control requests (wire.h, 0x02xx) to one daemon,
 * or a breadth-first walk of the overlay that asks every node it finds for
 * its STATUS.  Output is text for people or, with --json, one JSON value
 * for scripts.  Exit status: 0 done, 1 the operation failed, 2 bad usage
 * (3 and 4 for the object commands, in canctl_obj.c).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "canctl_cluster.h"
#include "canctl_obj.h"
#include "canctl_top.h"
#include "client.h"
#include "geom.h"
#include "hash.h"
#include "json.h"
#include "log.h"
#include "progress.h"
#include "secure.h"
#include "wire.h"
#include "xmalloc.h"

#define CTL_DEFAULT_DAEMON "unix:/run/canfs/canfsd.sock"
#define CTL_TIMEOUT_MS 5000	   /* per request, and per node in a walk */
#define CTL_LEAVE_TIMEOUT_MS 120000 /* a handover streams every object */
#define CTL_WALK_MAX 100000	   /* nodes a walk visits at most */
#define CTL_RANDOM_MAX 10000000	   /* route --random N */
#define CTL_MAP_W 64
#define CTL_MAP_H 32
#define CTL_ZONE_TXT 256	   /* one formatted zone */
#define CTL_OPT_SECRET 0x200	   /* --secret-file (past CTL_OPT_*) */


static const char ctl_help[] =
"NAME\n"
"    canctl - administer a canfs overlay (CAN) through its daemons\n"
"\n"
"SYNOPSIS\n"
"    canctl [--daemon ADDR] [--secret-file PATH] [--json] [--timeout MS]\n"
"           COMMAND [ARGS]\n"
"    canctl [OPTIONS] status [--local]\n"
"    canctl [OPTIONS] map [--svg FILE [--axes I,J] [--slice xI=F,...]]\n"
"    canctl [OPTIONS] leave [--quiet]\n"
CTL_OBJ_HELP_SYNOPSIS
"    canctl [OPTIONS] fsck [--repair | --sweep] [--grace S] [--interval S]\n"
"           [--rate OPS] [--quiet]\n"
CTL_TOP_HELP_SYNOPSIS
"    canctl init-secret PATH\n"
"\n"
"DESCRIPTION\n"
"    canctl talks to a canfsd daemon over its control protocol.  ADDR is\n"
"    unix:PATH for a local socket or HOST:PORT for TCP, where HOST is an\n"
"    IPv4 address, an IPv6 address in brackets ([::1]:7400) or a name.\n"
"    Options may come before or after COMMAND; a KEY that starts with\n"
"    '-' goes after \"--\".\n"
"\n"
"OPTIONS\n"
"    -d, --daemon ADDR   daemon to ask (default: $CANFS_DAEMON, else\n"
"                        " CTL_DEFAULT_DAEMON ")\n"
"        --secret-file PATH\n"
"                        the cluster secret (default: $CANFS_SECRET_FILE):\n"
"                        needed for a HOST:PORT daemon of an overlay that\n"
"                        runs with --secret-file; the connection is then\n"
"                        authenticated both ways and encrypted.  A unix:\n"
"                        socket needs none (its mode and group decide)\n"
"    -j, --json          print one JSON value instead of text\n"
"    -t, --timeout MS    time limit per request in milliseconds, 0 for\n"
"                        none (default 5000; 120000 for leave).  In\n"
"                        status, zones and map it applies to each node\n"
"                        visited\n"
"    -h, --help          show this text\n"
"  status only:\n"
"        --local         the daemon's own node only (the view before the\n"
"                        cluster summary; no walk)\n"
"  map only:\n"
"        --svg FILE      draw the zones as an SVG picture into FILE (-:\n"
"                        standard output) instead of letters\n"
"        --axes I,J      the dimensions drawn across and up (1-based,\n"
"                        default 1,2)\n"
"        --slice xI=F,...\n"
"                        for d > 2: the point the picture slices the\n"
"                        other dimensions at, each a fraction of the\n"
"                        space from 0 to below 1 (default 0.5, the\n"
"                        centre, for each one not given)\n"
"  leave, repair --all and verify:\n"
"    -q, --quiet         no progress report.  Otherwise progress goes\n"
"                        to stderr: on a terminal one line redrawn in\n"
"                        place (\"verify [#####.....] 45% 9/20 nodes,\n"
"                        ETA 0:12\"), else a plain line every 5 s and a\n"
"                        final one.  The ETA comes from the rate so far\n"
"                        (\"ETA -\" until a second has passed)\n"
"  route only:\n"
"    -r, --replica I     route to replica I of KEY (default 0)\n"
"    -k, --key           take the argument as a KEY even if it looks like\n"
"                        a POINT\n"
"    -n, --random N      route N random points and print hop statistics\n"
"    -s, --seed S        seed for --random (default: from the clock; the\n"
"                        seed used is printed)\n"
"    -N, --no-cache      route greedily, bypassing the daemons' routing\n"
"                        caches (to measure pure CAN routing)\n"
CTL_OBJ_HELP_OPTIONS
CTL_TOP_HELP_OPTIONS
"\n"
"COMMANDS\n"
"    status      the whole overlay: walk it (as zones), ask every node\n"
"                for its status and metrics (16 at a time), then print\n"
"                the health in one word -- healthy; degraded (a node\n"
"                does not answer, zones overlap, under-replicated\n"
"                objects or a repair backlog reported, fewer nodes than\n"
"                k); unavailable (part of the key space has no live\n"
"                owner) -- with the reasons, the node counts by state,\n"
"                the zones and how they tile, objects (replicas held,\n"
"                and about replicas / k objects), bytes stored and\n"
"                available, under-replicated objects and repair backlog\n"
"                (sums over the nodes); then one line per node: id,\n"
"                address, state, zones, volume, replicas, bytes,\n"
"                backlog, uptime.  A node that gives no metrics (an\n"
"                older daemon) shows -.  Exit 0 healthy, 5 degraded,\n"
"                6 unavailable (1: the daemon cannot be asked)\n"
"    status --local\n"
"                the daemon's own node: id, address, dimensions, zones,\n"
"                share of the key space, neighbours, uptime, requests\n"
"                routed; exit 0 when it answers\n"
"    neighbours  the daemon's neighbour list: id, address, zones\n"
"    zones       walk the overlay from the daemon (breadth first through\n"
"                neighbour lists, asking every node for its status) and\n"
"                print each live node with its zones, then a summary:\n"
"                node count, total volume (1 when the zones tile the\n"
"                space) and the largest/smallest zone volume ratio.\n"
"                Nodes that cannot be reached are reported on stderr\n"
"    route POINT|KEY\n"
"                route a lookup through the overlay and print the owner,\n"
"                the hop count and the path.  POINT is x1,...,xd in\n"
"                decimal (each < 2^32); anything else is a KEY name whose\n"
"                replica point is looked up\n"
"    route --random N [--seed S]\n"
"                route N uniformly random points; print mean, p99 and\n"
"                maximum hop counts and the number of failures\n"
"    leave       ask the daemon to hand its zones and objects over and\n"
"                leave the overlay; waits until the handover is done,\n"
"                reporting the replicas handed over (see --quiet)\n"
"    map         walk as zones, then draw the zones in the first two\n"
"                dimensions (the slice at 0 in any others) as a 64x32\n"
"                grid of letters, one per node, with a legend\n"
"    map --svg FILE\n"
"                walk as status, then draw the zones as an SVG picture:\n"
"                for d = 2 the whole space, for d > 2 the slice of\n"
"                dimensions 1 and 2 (or --axes) through the centre (or\n"
"                --slice), as its title says; each zone a rectangle\n"
"                labelled with its node's id (first 6 hex digits; the\n"
"                address too when it fits), shaded by the node's bytes\n"
"                stored (legend: the scale; grey: no metrics, pink: no\n"
"                owner), with a tooltip giving the zone's bounds\n"
CTL_OBJ_HELP_COMMANDS
"    fsck        check the canfs file system in the store: list every\n"
"                node's replicas, walk the tree from the root, report\n"
"                names without inodes, inodes without names, wrong link\n"
"                counts, chunks outside their file's extents and orphan\n"
"                objects, with a progress line on stderr.  Problems\n"
"                whose objects were written within --grace S (default\n"
"                86400) are shown as recent and not counted.  --repair\n"
"                fixes them: names without inodes are removed, inodes\n"
"                without names go to /lost+found as #INO, link counts\n"
"                are set, chunks are added to their file's extents,\n"
"                orphans and unlinked inodes are deleted; every change\n"
"                is conditional on the version read.  --sweep deletes\n"
"                orphans only, once per --interval S across the cluster\n"
"                (default 86400), at most --rate OPS (default 500)\n"
"                store operations per second (what the canfs-sweep timer\n"
"                runs).  --quiet: no progress, no problem list.  Runs\n"
"                canfs-fsck (beside canctl, else from PATH); its exit\n"
"                status is fsck(8)'s: 0 clean, 1 problems fixed, 4\n"
"                problems left, 8 the check could not be completed, 16\n"
"                usage error\n"
CTL_TOP_HELP_COMMANDS
"    init-secret PATH\n"
"                create a new cluster secret: 32 random bytes written\n"
"                as hex to PATH with mode 0600 (an existing PATH is\n"
"                never overwritten).  Copy it, privately, to every\n"
"                member and client machine and give it to canfsd, canctl\n"
"                and canfs with --secret-file\n"
"\n"
"JSON OUTPUT\n"
"    Node ids are 16 hex digits in strings.  A zone is {\"lo\": [...],\n"
"    \"hi\": [...]}: integer coordinates per dimension, hi exclusive (up\n"
"    to 4294967296).  \"share\" is a fraction of the space (0 to 1).\n"
"    status:     {\"health\", \"reasons\": [...], \"dims\", \"k\", \"nodes\",\n"
"                \"active\", \"joining\", \"leaving\", \"unreachable\",\n"
"                \"no_metrics\", \"zones\", \"tiling\" (exact, overlaps or\n"
"                gaps), \"covered\", \"volume\", \"replicas\", \"objects\",\n"
"                \"bytes\", \"avail\", \"under_replicated\",\n"
"                \"repair_backlog\", \"members\": [{\"id\", \"addr\",\n"
"                \"zones\", \"state\", \"volume\", \"replicas\", \"bytes\",\n"
"                \"avail\", \"repair_backlog\", \"under_replicated\",\n"
"                \"uptime_ms\" [, \"error\"]}]}   (unknown metrics: null)\n"
"    status --local:\n"
"                {\"id\", \"addr\", \"dims\", \"epoch\", \"zones\",\n"
"                \"share\", \"uptime_ms\", \"routed\", \"replicas\",\n"
"                \"neighbours\": [{\"id\", \"addr\", \"zones\"}]}\n"
"    neighbours: [{\"id\", \"addr\", \"zones\"}]\n"
"    zones:      [{\"id\", \"addr\", \"zones\"}], one per live node\n"
"    route:      {\"point\", [\"key\", \"replica\",] \"owner\":\n"
"                {\"id\", \"addr\", \"zones\"}, \"hops\",\n"
"                \"path\": [{\"id\", \"addr\"}]}\n"
"    route --random:\n"
"                {\"n\", \"mean\", \"p99\", \"max\", \"failures\", \"seed\"}\n"
"    leave:      {\"left\": true}\n"
CTL_OBJ_HELP_JSON
"    fsck:       {\"status\", \"nodes\", \"unlisted\", \"objects\",\n"
"                \"directories\", \"files\", \"chunks\", \"incomplete\",\n"
"                \"counts\": {KIND: {\"left\", \"fixed\", \"recent\"}},\n"
"                \"problems\": [{\"kind\", \"outcome\", \"ino\", ...}]}\n"
"                KIND: noinode, noname, unlinked, nlink, unrecorded,\n"
"                orphan\n"
CTL_TOP_HELP_JSON
"    map has no JSON form (use zones --json).\n"
"\n"
"EXIT STATUS\n"
"    0   success (verify: every live object has all its good copies)\n"
"    1   the operation failed: daemon unreachable, error reply, timeout,\n"
"        a value over 4 MiB, a checksum mismatch; verify: problems found;\n"
"        batch: a command failed\n"
"    2   usage error\n"
"    3   put/rm: the --if-version or --if-absent condition did not hold\n"
"    4   no such object (get, rm)\n"
"    5   status: the overlay is degraded\n"
"    6   status: part of the key space has no live owner\n"
"    fsck has fsck(8)'s statuses (see fsck above)\n"
"\n"
"ENVIRONMENT\n"
"    CANFS_DAEMON  default for --daemon\n"
"    CANFS_SECRET_FILE  default for --secret-file\n"
"\n"
"EXAMPLES\n"
"    canctl status\n"
"    canctl status --local --json\n"
"    canctl map --svg zones.svg --slice x3=0.25\n"
"    canctl --daemon 10.0.0.5:7400 zones --json\n"
"    canctl route 1073741824,3221225472\n"
"    canctl route --replica 2 /home/alice/notes.txt\n"
"    canctl route --random 10000 --seed 42 --json\n"
"    echo hello | canctl put greeting\n"
"    v=$(canctl get --json greeting | jq -r .version)\n"
"    canctl put --if-version \"$v\" greeting < new.txt; [ $? = 3 ] &&\n"
"        echo \"greeting changed since version $v\"\n"
"    canctl get greeting > greeting.txt\n"
"    printf 'put a a.txt\\nput b b.txt\\nrm c\\nget d d.out\\n' |\n"
"        canctl batch\n"
"    canctl repair --all && canctl verify --json\n"
"    canctl fsck --repair --grace 3600\n"
"    canctl top --all\n"
"    canctl top --count 10 --json > samples.jsonl\n";

/* Print a usage error with a hint and exit 2. */
void
ctl_usage(const char *fmt, ...)
{
	va_list ap;

	fputs("canctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry 'canctl --help' for more information.\n", stderr);
	exit(CTL_EXIT_USAGE);
}

/* Print "canctl: ..." on stderr; returns the failure exit status. */
int
ctl_fail(const char *fmt, ...)
{
	va_list ap;

	fputs("canctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return CTL_EXIT_FAIL;
}

/* Parse a whole decimal number in [min, max]; -1 if it is not one. */
int
ctl_number(const char *s, uint64_t min, uint64_t max, uint64_t *v)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	*v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || *v < min || *v > max)
		return -1;
	return 0;
}

/* A peer-supplied string made printable. */
const char *
ctl_esc(const char *s, char *buf, size_t len)
{
	return log_escape(s, strlen(s), buf, len);
}

/* Sum of a node's zone shares. */
static double
ctl_share(const struct wire_node *n, int dims)
{
	double share = 0;

	for (int i = 0; i < n->nzones; i++)
		share += geom_zone_share(&n->zones[i], dims);
	return share;
}

/* Print a node's zones separated by spaces. */
static void
ctl_print_zones(const struct wire_node *n, int dims)
{
	char buf[CTL_ZONE_TXT];

	for (int i = 0; i < n->nzones; i++)
		printf("%s%s", i ? " " : "",
		    geom_zone_format(&n->zones[i], dims, buf, sizeof buf));
	if (n->nzones == 0)
		printf("(none)");
}

/* Connect and ask for STATUS. Returns 0, or -1 with the reason in err. */
static int
ctl_status_at(const char *spec, int timeout_ms, struct wire_membership *m,
    uint32_t *k, char *err, size_t errlen)
{
	struct client *c;
	int rc;

	if ((c = client_connect(spec, timeout_ms, err, errlen)) == NULL)
		return -1;
	rc = client_request(c, WIRE_STATUS_REQ, 0, NULL, 0, WIRE_STATUS, m,
	    k, timeout_ms);
	if (rc == -1)
		snprintf(err, errlen, "%s", client_error(c));
	client_close(c);
	return rc;
}

/* Table of neighbours: id, address, zones. */
static void
ctl_print_neighbours(const struct wire_membership *m, const char *indent)
{
	char esc[256];

	for (uint32_t i = 0; i < m->n; i++) {
		printf("%s%016" PRIx64 "  %-21s  ", indent, m->list[i].id,
		    ctl_esc(m->list[i].addr, esc, sizeof esc));
		ctl_print_zones(&m->list[i], m->dims);
		putchar('\n');
	}
}

/* status --local: the daemon's own node. */
static int
cmd_status(const struct ctl_opts *o)
{
	struct wire_membership m;
	struct json j;
	char err[1024], esc[256];
	uint32_t k = 0;
	uint64_t s;

	if (ctl_status_at(o->daemon, o->timeout_ms, &m, &k, err,
	    sizeof err) == -1)
		return ctl_fail("status failed: %s", err);
	if (o->json) {
		json_init(&j, stdout);
		json_begin_object(&j);
		json_wire_node(&j, &m.self, m.dims, false);
		json_key_uint(&j, "dims", (uint64_t)m.dims);
		json_key_uint(&j, "epoch", m.self.epoch);
		json_wire_zones(&j, &m.self, m.dims);
		json_key_double(&j, "share", ctl_share(&m.self, m.dims));
		json_key_uint(&j, "uptime_ms", m.a);
		json_key_uint(&j, "routed", m.b);
		json_key_uint(&j, "replicas", k);
		json_key(&j, "neighbours");
		json_wire_nodes(&j, m.list, m.n, m.dims);
		json_end_object(&j);
		json_end(&j);
	} else {
		s = m.a / 1000;
		printf("node        %016" PRIx64 "\n", m.self.id);
		printf("address     %s\n", ctl_esc(m.self.addr, esc, sizeof esc));
		printf("dims        %d\n", m.dims);
		printf("epoch       %" PRIu32 "\n", m.self.epoch);
		printf("replicas    %" PRIu32 "\n", k);
		printf("zones       ");
		ctl_print_zones(&m.self, m.dims);
		printf("\nshare       %.6g%%\n", 100 * ctl_share(&m.self, m.dims));
		printf("uptime      %" PRIu64 "d %02" PRIu64 ":%02" PRIu64
		    ":%02" PRIu64 " (%" PRIu64 " ms)\n", s / 86400,
		    s / 3600 % 24, s / 60 % 60, s % 60, m.a);
		printf("routed      %" PRIu64 "\n", m.b);
		printf("neighbours  %" PRIu32 "\n", m.n);
		ctl_print_neighbours(&m, "  ");
	}
	wire_membership_free(&m);
	return CTL_EXIT_OK;
}

/* neighbours: the daemon's neighbour list. */
static int
cmd_neighbours(const struct ctl_opts *o)
{
	struct wire_membership m;
	struct json j;
	char err[1024];

	if (ctl_status_at(o->daemon, o->timeout_ms, &m, NULL, err,
	    sizeof err) == -1)
		return ctl_fail("neighbours failed: %s", err);
	if (o->json) {
		json_init(&j, stdout);
		json_wire_nodes(&j, m.list, m.n, m.dims);
		json_end(&j);
	} else if (m.n == 0)
		printf("(no neighbours)\n");
	else
		ctl_print_neighbours(&m, "");
	wire_membership_free(&m);
	return CTL_EXIT_OK;
}

/* A progress reporter on stderr, silent with --quiet (progress.h). */
void
ctl_progress_start(const struct ctl_opts *o, struct progress *p,
    const char *label, const char *unit)
{
	progress_init(p, stderr, label, unit, o->quiet ? PROGRESS_QUIET :
	    PROGRESS_AUTO);
}

/* Walk warnings go to stderr. */
static void
ctl_walk_warn(void *arg, const char *line)
{
	(void)arg;
	fprintf(stderr, "canctl: %s\n", line);
}

/* Walk the overlay from the daemon; -1 after a message if it fails. */
int
ctl_walk(const struct ctl_opts *o, struct client_walk *w)
{
	char err[1024];

	if (client_walk(o->daemon, o->timeout_ms, CTL_WALK_MAX, ctl_walk_warn,
	    NULL, w, err, sizeof err) == -1) {
		ctl_fail("cannot walk the overlay: %s", err);
		return -1;
	}
	return 0;
}

/*
 * True when the zone volumes add up to exactly the whole space: with
 * count[k] zones of volume 2^-k, carry pairs upwards; any odd count on
 * the way leaves a bit that 1 does not have.
 */
static bool
ctl_volume_exact(const struct client_walk *w, int *mindepth, int *maxdepth)
{
	size_t count[GEOM_MAX_DIMS * 32 + 1] = { 0 };
	int maxd = GEOM_MAX_DIMS * 32;

	*mindepth = maxd;
	*maxdepth = 0;
	for (size_t i = 0; i < w->n; i++) {
		for (int z = 0; z < w->nodes[i].nzones; z++) {
			int d = geom_zone_depth(&w->nodes[i].zones[z],
			    w->dims);

			count[d]++;
			*mindepth = d < *mindepth ? d : *mindepth;
			*maxdepth = d > *maxdepth ? d : *maxdepth;
		}
	}
	for (int d = maxd; d > 0; d--) {
		if (count[d] % 2 != 0)
			return false;
		count[d - 1] += count[d] / 2;
	}
	return count[0] == 1;
}

/* zones: every live node and its zones, then a summary. */
static int
cmd_zones(const struct ctl_opts *o)
{
	struct client_walk w;
	struct json j;
	char esc[256];
	double volume = 0;
	int mind, maxd;
	bool exact;

	if (ctl_walk(o, &w) == -1)
		return CTL_EXIT_FAIL;
	if (o->json) {
		json_init(&j, stdout);
		json_wire_nodes(&j, w.nodes, w.n, w.dims);
		json_end(&j);
		client_walk_free(&w);
		return CTL_EXIT_OK;
	}
	for (size_t i = 0; i < w.n; i++) {
		volume += ctl_share(&w.nodes[i], w.dims);
		printf("%016" PRIx64 "  %-21s  %9.5f%%  ", w.nodes[i].id,
		    ctl_esc(w.nodes[i].addr, esc, sizeof esc),
		    100 * ctl_share(&w.nodes[i], w.dims));
		ctl_print_zones(&w.nodes[i], w.dims);
		putchar('\n');
	}
	exact = ctl_volume_exact(&w, &mind, &maxd);
	printf("nodes %zu, dims %d, total volume %.9g (%s)", w.n, w.dims,
	    volume, exact ? "exact" : "NOT 1: gaps or overlaps");
	if (w.unreachable > 0)
		printf(", %zu unreachable", w.unreachable);
	if (mind <= maxd)
		printf("\nlargest/smallest zone volume ratio %.9g (2^%d)",
		    ldexp(1.0, maxd - mind), maxd - mind);
	putchar('\n');
	client_walk_free(&w);
	return CTL_EXIT_OK;
}

/* The node owning p among the walk's zones, or -1 (a gap). */
static long
ctl_owner(const struct client_walk *w, const struct geom_point *p)
{
	for (size_t i = 0; i < w->n; i++) {
		for (int z = 0; z < w->nodes[i].nzones; z++) {
			if (geom_zone_contains(&w->nodes[i].zones[z], p,
			    w->dims))
				return (long)i;
		}
	}
	return -1;
}

/*
 * map: the zones as a grid of letters.  Cell centres are sampled; nodes
 * get symbols in order of first appearance, '.' is a gap, '*' a node past
 * the last symbol.  Higher y is drawn at the top.
 */
static int
cmd_map(const struct ctl_opts *o)
{
	static const char sym[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789";
	struct client_walk w;
	struct geom_point p;
	long *symof, owner;
	int nsym = 0, hidden = 0, h;
	char esc[256];

	if (ctl_walk(o, &w) == -1)
		return CTL_EXIT_FAIL;
	h = w.dims >= 2 ? CTL_MAP_H : 1;
	symof = xcalloc(w.n ? w.n : 1, sizeof *symof);
	for (size_t i = 0; i < w.n; i++)
		symof[i] = -1;
	printf("%-11s+%.*s+\n", w.dims >= 2 ? "y=2^32" : "",
	    CTL_MAP_W, "----------------------------------------"
	    "----------------------------------------");
	for (int r = 0; r < h; r++) {
		memset(&p, 0, sizeof p);
		if (w.dims >= 2)
			p.c[1] = (uint32_t)(((uint64_t)(h - 1 - r) << 32) / h +
			    (GEOM_SPACE / h / 2));
		printf("%-11s|", "");
		for (int col = 0; col < CTL_MAP_W; col++) {
			p.c[0] = (uint32_t)(((uint64_t)col << 32) / CTL_MAP_W +
			    GEOM_SPACE / CTL_MAP_W / 2);
			owner = ctl_owner(&w, &p);
			if (owner >= 0 && symof[owner] < 0 &&
			    nsym < (int)sizeof sym - 1)
				symof[owner] = nsym++;
			putchar(owner < 0 ? '.' : symof[owner] < 0 ? '*' :
			    sym[symof[owner]]);
		}
		printf("|\n");
	}
	printf("%-11s+%.*s+\n%11sx=0%*s\n", w.dims >= 2 ? "y=0" : "",
	    CTL_MAP_W, "----------------------------------------"
	    "----------------------------------------", "", CTL_MAP_W - 3,
	    "x=2^32");
	if (w.dims > 2)
		printf("(dimensions 1 and 2 of %d; the slice at 0 in the "
		    "others)\n", w.dims);
	for (int s = 0; s < nsym; s++) {
		for (size_t i = 0; i < w.n; i++) {
			if (symof[i] != s)
				continue;
			printf("  %c  %016" PRIx64 "  %-21s  %9.5f%%\n", sym[s],
			    w.nodes[i].id, ctl_esc(w.nodes[i].addr, esc,
			    sizeof esc), 100 * ctl_share(&w.nodes[i], w.dims));
		}
	}
	for (size_t i = 0; i < w.n; i++)
		hidden += symof[i] < 0;
	if (hidden > 0)
		printf("  %d more node(s) not shown: too small, outside the "
		    "slice, or past the last symbol ('*')\n", hidden);
	free(symof);
	client_walk_free(&w);
	return CTL_EXIT_OK;
}

/*
 * The point to route to: POINT when arg parses as one (and --key is not
 * given), else replica o->replica of the key named arg.  A string of
 * digits and commas that fails as a POINT is a usage error, since it was
 * surely meant as one.
 */
static void
ctl_route_target(const struct ctl_opts *o, const char *arg, int dims,
    struct geom_point *p, bool *is_key)
{
	struct hash_key k;

	*is_key = false;
	if (!o->force_key && !o->have_replica) {
		if (geom_point_parse(arg, dims, p) == 0)
			return;
		if (strspn(arg, "0123456789,") == strlen(arg) &&
		    strchr(arg, ',') != NULL)
			ctl_usage("bad POINT \"%s\": the overlay has %d "
			    "dimensions, so give %d numbers below 2^32 "
			    "separated by commas (or --key for a key)", arg,
			    dims, dims);
	}
	*is_key = true;
	hash_key_of(arg, strlen(arg), &k);
	hash_replica_point(&k, o->replica, dims, p);
}

/* Route one point: the owner as *m.  Returns 0 or -1 (client_error). */
static int
ctl_route_one(const struct ctl_opts *o, struct client *c, int dims,
    const struct geom_point *p, struct wire_membership *m)
{
	struct wbuf body;
	int rc;

	wbuf_init(&body);
	wire_point_encode(&body, dims, p);
	rc = client_request(c, WIRE_ROUTE_REQ, o->no_cache ? WIRE_RQ_NOCACHE :
	    0, body.p, body.len, WIRE_LOOKUP_REPLY, m, NULL, o->timeout_ms);
	wbuf_free(&body);
	return rc;
}

/* Print one routing result. */
static void
ctl_route_print(const struct ctl_opts *o, const char *arg, bool is_key,
    int dims, const struct geom_point *p, const struct wire_membership *m)
{
	struct json j;
	char esc[256];

	if (o->json) {
		json_init(&j, stdout);
		json_begin_object(&j);
		json_key(&j, "point");
		json_begin_array(&j);
		for (int i = 0; i < dims; i++)
			json_uint(&j, p->c[i]);
		json_end_array(&j);
		if (is_key) {
			json_key_string(&j, "key", arg);
			json_key_uint(&j, "replica", o->replica);
		}
		json_key(&j, "owner");
		json_begin_object(&j);
		json_wire_node(&j, &m->self, m->dims, true);
		json_end_object(&j);
		json_key_uint(&j, "hops", m->a);
		json_key(&j, "path");
		json_begin_array(&j);
		for (uint32_t i = 0; i < m->n; i++) {
			json_begin_object(&j);
			json_wire_node(&j, &m->list[i], m->dims, false);
			json_end_object(&j);
		}
		json_end_array(&j);
		json_end_object(&j);
		json_end(&j);
		return;
	}
	printf("point   ");
	for (int i = 0; i < dims; i++)
		printf("%s%" PRIu32, i ? "," : "", p->c[i]);
	if (is_key)
		printf("  (replica %u of key \"%s\")", o->replica,
		    ctl_esc(arg, esc, sizeof esc));
	printf("\nowner   %016" PRIx64 "  %s\nzone    ", m->self.id,
	    ctl_esc(m->self.addr, esc, sizeof esc));
	ctl_print_zones(&m->self, m->dims);
	printf("\nhops    %" PRIu64 "\n", m->a);
	for (uint32_t i = 0; i < m->n; i++)
		printf("%s%016" PRIx64 "  %s\n", i ? "        " : "path    ",
		    m->list[i].id, ctl_esc(m->list[i].addr, esc, sizeof esc));
}

/* Order hop counts. */
static int
ctl_u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* splitmix64: a small, good, seedable generator. */
static uint64_t
ctl_rand(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ z >> 30) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ z >> 27) * 0x94d049bb133111ebULL;
	return z ^ z >> 31;
}

/*
 * route --random: N lookups of uniform points over one connection
 * (replaced if it breaks; when that fails, so do the lookups left).
 * Failures are counted, not fatal, unless every lookup fails.
 */
static int
ctl_route_random(const struct ctl_opts *o, struct client **c, int dims)
{
	uint64_t *hops = xcalloc(o->random_n, sizeof *hops);
	uint64_t st = o->seed, ok = 0, fail = 0, sum = 0, p99 = 0, max = 0;
	struct wire_membership m;
	struct geom_point p;
	char err[1024];
	struct json j;

	for (unsigned long i = 0; i < o->random_n; i++) {
		memset(&p, 0, sizeof p);
		for (int d = 0; d < dims; d++)
			p.c[d] = (uint32_t)(ctl_rand(&st) >> 32);
		if (*c == NULL && (*c = client_connect(o->daemon,
		    o->timeout_ms, err, sizeof err)) == NULL) {
			/* The daemon is gone: the rest fail too. */
			ctl_fail("route failed: %s", err);
			fail += o->random_n - i;
			break;
		}
		if (ctl_route_one(o, *c, dims, &p, &m) == -1)
			snprintf(err, sizeof err, "%s", client_error(*c));
		else {
			hops[ok++] = m.a;
			sum += m.a;
			wire_membership_free(&m);
			continue;
		}
		if (fail++ < 5)
			fprintf(stderr, "canctl: route failed: %s\n", err);
		if (client_broken(*c)) {
			client_close(*c);
			*c = NULL;
		}
	}
	qsort(hops, ok, sizeof *hops, ctl_u64_cmp);
	if (ok > 0) {
		p99 = hops[(ok * 99 + 99) / 100 - 1]; /* nearest rank */
		max = hops[ok - 1];
	}
	free(hops);
	if (o->json) {
		json_init(&j, stdout);
		json_begin_object(&j);
		json_key_uint(&j, "n", o->random_n);
		json_key(&j, "mean");
		if (ok > 0)
			json_double(&j, (double)sum / (double)ok);
		else
			json_null(&j);
		json_key_uint(&j, "p99", p99);
		json_key_uint(&j, "max", max);
		json_key_uint(&j, "failures", fail);
		json_key_uint(&j, "seed", o->seed);
		json_end_object(&j);
		json_end(&j);
	} else
		printf("%lu lookups (seed %" PRIu64 "), %" PRIu64 " failed: "
		    "mean %.3f hops, p99 %" PRIu64 ", max %" PRIu64 "\n",
		    o->random_n, o->seed, fail,
		    ok ? (double)sum / (double)ok : 0.0, p99, max);
	return ok > 0 ? CTL_EXIT_OK : CTL_EXIT_FAIL;
}

/* route: where a point or key lives and how the lookup got there. */
static int
cmd_route(const struct ctl_opts *o, const char *arg)
{
	struct wire_membership st, m;
	struct geom_point p;
	struct client *c;
	char err[1024];
	bool is_key;
	int dims, rc = CTL_EXIT_FAIL;

	if ((c = client_connect(o->daemon, o->timeout_ms, err,
	    sizeof err)) == NULL)
		return ctl_fail("route failed: %s", err);
	/* The point format depends on the overlay's dimensions. */
	if (client_request(c, WIRE_STATUS_REQ, 0, NULL, 0, WIRE_STATUS, &st,
	    NULL, o->timeout_ms) == -1) {
		ctl_fail("route failed: %s", client_error(c));
		goto out;
	}
	dims = st.dims;
	wire_membership_free(&st);
	if (o->have_random) {
		rc = ctl_route_random(o, &c, dims);
		goto out;
	}
	ctl_route_target(o, arg, dims, &p, &is_key);
	if (ctl_route_one(o, c, dims, &p, &m) == -1) {
		ctl_fail("route failed: %s", client_error(c));
		goto out;
	}
	ctl_route_print(o, arg, is_key, dims, &p, &m);
	wire_membership_free(&m);
	rc = CTL_EXIT_OK;
out:
	client_close(c);
	return rc;
}

/* leave: hand everything over and leave; waits for the daemon's OK. */
static int
cmd_leave(const struct ctl_opts *o)
{
	struct wire_header h;
	struct progress p;
	struct client *c;
	struct json j;
	uint8_t *body = NULL;
	size_t len = 0;
	char err[1024];
	int rc;

	if ((c = client_connect(o->daemon, o->timeout_ms, err,
	    sizeof err)) == NULL)
		return ctl_fail("leave failed: %s", err);
	ctl_progress_start(o, &p, "leave", "replicas handed over");
	progress_update(&p, 0, 0);
	rc = client_call(c, WIRE_LEAVE_REQ, 0, NULL, 0, &h, &body, &len,
	    o->timeout_ms);
	/* Progress frames come first, every heartbeat, then OK or ERROR. */
	while (rc == 0 && h.type == WIRE_PROGRESS) {
		struct rbuf r;
		uint64_t done, total;

		rbuf_init(&r, body, len);
		done = rbuf_get_u64(&r);
		total = rbuf_get_u64(&r);
		if (!r.err)
			progress_update(&p, done, total);
		free(body);
		body = NULL;
		rc = client_more(c, &h, &body, &len, o->timeout_ms);
	}
	/* Messages below go on a line of their own. */
	if (rc == 0 && h.type == WIRE_OK)
		progress_done(&p);
	else
		progress_clear(&p);
	if (rc == 0 && h.type == WIRE_ERROR) {
		uint32_t code;
		char msg[256];

		if (wire_error_decode(body, len, &code, msg, sizeof msg) != 0)
			snprintf(msg, sizeof msg, "malformed error reply");
		ctl_fail("leave failed: %s", msg);
		rc = -1;
	} else if (rc == 0 && h.type != WIRE_OK) {
		ctl_fail("leave failed: unexpected %s reply",
		    wire_type_name(h.type));
		rc = -1;
	} else if (rc == -1) {
		ctl_fail("leave failed: %s", client_error(c));
	}
	free(body);
	client_close(c);
	if (rc == -1)
		return CTL_EXIT_FAIL;
	if (o->json) {
		json_init(&j, stdout);
		json_begin_object(&j);
		json_key(&j, "left");
		json_bool(&j, true);
		json_end_object(&j);
		json_end(&j);
	} else
		printf("left: zone handed over\n");
	return CTL_EXIT_OK;
}

/* Parse the options into o; exits 2 on bad usage, 0 after --help. */
static void
ctl_parse_opts(int argc, char **argv, struct ctl_opts *o)
{
	static const struct option longopts[] = {
		{ "daemon", required_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ "replica", required_argument, NULL, 'r' },
		{ "key", no_argument, NULL, 'k' },
		{ "random", required_argument, NULL, 'n' },
		{ "seed", required_argument, NULL, 's' },
		{ "no-cache", no_argument, NULL, 'N' },
		{ "secret-file", required_argument, NULL, CTL_OPT_SECRET },
		{ "quiet", no_argument, NULL, 'q' },
		{ "local", no_argument, NULL, CTL_OPT_LOCAL },
		{ "svg", required_argument, NULL, CTL_OPT_SVG },
		{ "axes", required_argument, NULL, CTL_OPT_AXES },
		{ "slice", required_argument, NULL, CTL_OPT_SLICE },
		CTL_OBJ_LONGOPTS,
		CTL_TOP_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	const char *env = getenv("CANFS_DAEMON");
	const char *senv = getenv("CANFS_SECRET_FILE");
	uint64_t v;
	int ch;

	memset(o, 0, sizeof *o);
	o->daemon = env != NULL && env[0] != '\0' ? env : CTL_DEFAULT_DAEMON;
	o->secret_file = senv != NULL && senv[0] != '\0' ? senv : NULL;
	o->timeout_ms = -2;
	opterr = 0; /* our own messages, with the hint */
	while ((ch = getopt_long(argc, argv, ":d:jt:hr:kn:s:Nq", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'd':
			o->daemon = optarg;
			break;
		case CTL_OPT_SECRET:
			o->secret_file = optarg;
			break;
		case 'j':
			o->json = true;
			break;
		case 't':
			if (ctl_number(optarg, 0, 86400000, &v) == -1)
				ctl_usage("bad --timeout \"%s\": milliseconds "
				    "from 0 (no limit) to 86400000", optarg);
			o->timeout_ms = v == 0 ? -1 : (int)v;
			break;
		case 'h':
			fputs(ctl_help, stdout);
			exit(CTL_EXIT_OK);
		case 'r':
			if (ctl_number(optarg, 0, 255, &v) == -1)
				ctl_usage("bad --replica \"%s\": a number from "
				    "0 to 255", optarg);
			o->replica = (unsigned)v;
			o->have_replica = true;
			break;
		case 'k':
			o->force_key = true;
			break;
		case 'N':
			o->no_cache = true;
			break;
		case 'q':
			o->quiet = true;
			break;
		case CTL_OPT_LOCAL:
			o->local = true;
			break;
		case CTL_OPT_SVG:
			o->svg = optarg;
			break;
		case CTL_OPT_AXES:
			o->axes = optarg;
			break;
		case CTL_OPT_SLICE:
			o->slice = optarg;
			break;
		case 'n':
			if (ctl_number(optarg, 1, CTL_RANDOM_MAX, &v) == -1)
				ctl_usage("bad --random \"%s\": a count from 1 "
				    "to %d", optarg, CTL_RANDOM_MAX);
			o->random_n = (unsigned long)v;
			o->have_random = true;
			break;
		case 's':
			if (ctl_number(optarg, 0, UINT64_MAX, &o->seed) == -1)
				ctl_usage("bad --seed \"%s\": a decimal number",
				    optarg);
			o->have_seed = true;
			break;
		case ':':
			ctl_usage("option '%s' needs an argument",
			    argv[optind - 1]);
		default:
			if (ctl_obj_option(ch, optarg, o) == 0 ||
			    ctl_top_option(ch, optarg, o) == 0)
				break;
			if (optopt != 0)
				ctl_usage("unknown option '-%c'", optopt);
			ctl_usage("unknown option '%s'", argv[optind - 1]);
		}
	}
}

/* init-secret PATH: create a new cluster secret. */
static int
cmd_init_secret(const struct ctl_opts *o, int nargs)
{
	char err[512];

	if (nargs != 1)
		ctl_usage("init-secret needs one PATH");
	if (secure_key_create(o->arg, err, sizeof err) != 0)
		return ctl_fail("%s", err);
	if (o->json) {
		struct json j;

		json_init(&j, stdout);
		json_begin_object(&j);
		json_key(&j, "path");
		json_string(&j, o->arg);
		json_end_object(&j);
		json_end(&j);
	} else
		printf("wrote a new cluster secret to %s (mode 0600); copy it "
		    "privately to every member and give it with "
		    "--secret-file\n", o->arg);
	return CTL_EXIT_OK;
}

/* Load --secret-file for every TCP connection.  Exits 1 on failure. */
static void
ctl_load_secret(const struct ctl_opts *o)
{
	struct secure_key k;
	char err[512];

	if (o->secret_file == NULL)
		return;
	if (secure_key_load(o->secret_file, &k, err, sizeof err) != 0)
		exit(ctl_fail("%s", err));
	client_set_secret(&k);
	secure_key_wipe(&k);
}

/* Check which options go with which command. */
static void
ctl_check_opts(const struct ctl_opts *o, const char *cmd, int nargs)
{
	bool route = strcmp(cmd, "route") == 0;
	bool obj = ctl_obj_check_opts(o, cmd, nargs);

	ctl_top_check_opts(o, cmd);
	if (!route && (o->have_replica || o->force_key || o->have_random ||
	    o->have_seed || o->no_cache))
		ctl_usage("--replica, --key, --random, --seed and --no-cache "
		    "go with route only");
	if (!route && !obj && nargs > 0)
		ctl_usage("%s takes no arguments", cmd);
	if (route && o->have_random && nargs > 0)
		ctl_usage("route --random N takes no POINT or KEY");
	if (route && !o->have_random && nargs != 1)
		ctl_usage("route needs one POINT or KEY");
	if (o->have_seed && !o->have_random)
		ctl_usage("--seed goes with route --random");
	if (o->have_random && (o->have_replica || o->force_key))
		ctl_usage("--replica and --key do not go with --random");
	if (o->json && strcmp(cmd, "map") == 0)
		ctl_usage("map has no JSON form; use zones --json or status "
		    "--json");
	if (o->local && strcmp(cmd, "status") != 0)
		ctl_usage("--local goes with status only");
	if ((o->svg != NULL || o->axes != NULL || o->slice != NULL) &&
	    strcmp(cmd, "map") != 0)
		ctl_usage("--svg, --axes and --slice go with map only");
	if ((o->axes != NULL || o->slice != NULL) && o->svg == NULL)
		ctl_usage("--axes and --slice go with map --svg FILE");
	if (o->svg != NULL && o->svg[0] == '\0')
		ctl_usage("--svg needs a FILE name (- for standard output)");
	if (o->quiet && strcmp(cmd, "leave") != 0 &&
	    strcmp(cmd, "repair") != 0 && strcmp(cmd, "verify") != 0)
		ctl_usage("--quiet goes with leave, repair and verify");
}

/* status: the whole overlay, or with --local the daemon's node. */
static int
cmd_status_any(const struct ctl_opts *o)
{
	return o->local ? cmd_status(o) : ctl_cluster_status(o);
}

/* map: letters, or with --svg a picture. */
static int
cmd_map_any(const struct ctl_opts *o)
{
	return o->svg != NULL ? ctl_cluster_map_svg(o) : cmd_map(o);
}

/*
 * The position of the command word in argv (the first operand, skipping
 * canctl's options and their arguments), or 0 when there is none.
 */
static int
ctl_command_pos(int argc, char **argv)
{
	static const char *const witharg[] = { "-d", "--daemon", "-t",
	    "--timeout", "--secret-file", "-r", "--replica", "-n",
	    "--random", "-s", "--seed", "--if-version" };

	for (int i = 1; i < argc; i++) {
		bool skip = false;

		if (strcmp(argv[i], "--") == 0)
			return i + 1 < argc ? i + 1 : 0;
		if (argv[i][0] != '-' || argv[i][1] == '\0')
			return i;
		for (size_t w = 0; w < sizeof witharg / sizeof witharg[0]; w++)
			skip |= strcmp(argv[i], witharg[w]) == 0;
		i += skip;
	}
	return 0;
}

/*
 * fsck: the checker is built from fs/ (it decodes the file system's
 * records, which canctl does not know), so run canfs-fsck with the other
 * arguments, as git runs its subcommands: from canctl's own directory
 * first, then from PATH.  Its exit status is fsck(8)'s.
 */
static int
ctl_fsck_exec(int argc, char **argv, int pos)
{
	char self[4096], path[4096 + 16], *slash;
	char **args = xcalloc((size_t)argc + 1, sizeof *args);
	ssize_t n;
	int j = 0;

	args[j++] = (char *)"canfs-fsck";
	for (int i = 1; i < argc; i++) {
		if (i != pos)
			args[j++] = argv[i];
	}
	args[j] = NULL;
	n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n > 0) {
		self[n] = '\0';
		if ((slash = strrchr(self, '/')) != NULL) {
			*slash = '\0';
			snprintf(path, sizeof path, "%s/canfs-fsck", self);
			execv(path, args);
		}
	}
	execvp("canfs-fsck", args);
	fprintf(stderr, "canctl: fsck: cannot run canfs-fsck (looked beside "
	    "canctl and in PATH): %s\n", strerror(errno));
	free(args);
	return 8;
}

/*
 * Options may come anywhere (GNU getopt permutes), so "route --random 10"
 * works; a KEY that starts with '-' goes after "--".
 */
int
main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(const struct ctl_opts *);
	} cmds[] = {
		{ "status", cmd_status_any },
		{ "neighbours", cmd_neighbours },
		{ "neighbors", cmd_neighbours },
		{ "zones", cmd_zones },
		{ "leave", cmd_leave },
		{ "map", cmd_map_any },
		{ "put", ctl_obj_put },
		{ "get", ctl_obj_get },
		{ "rm", ctl_obj_rm },
		{ "batch", ctl_batch },
		{ "repair", ctl_obj_repair },
		{ "verify", ctl_obj_verify },
		{ "top", ctl_top },
	};
	int (*fn)(const struct ctl_opts *) = NULL;
	struct ctl_opts o;
	const char *cmd;
	int nargs;

	log_init("canctl", LOG_LVL_WARN);
	nargs = ctl_command_pos(argc, argv);
	if (nargs > 0 && strcmp(argv[nargs], "fsck") == 0)
		return ctl_fsck_exec(argc, argv, nargs);
	ctl_parse_opts(argc, argv, &o);
	if (optind >= argc)
		ctl_usage("no command given");
	cmd = argv[optind];
	nargs = argc - optind - 1;
	o.arg = nargs > 0 ? argv[optind + 1] : NULL;
	if (strcmp(cmd, "init-secret") == 0)
		return cmd_init_secret(&o, nargs);
	for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
		if (strcmp(cmd, cmds[i].name) == 0)
			fn = cmds[i].fn;
	}
	if (fn == NULL && strcmp(cmd, "route") != 0)
		ctl_usage("unknown command \"%s\"", cmd);
	ctl_check_opts(&o, cmd, nargs);
	if (o.timeout_ms == -2)
		o.timeout_ms = strcmp(cmd, "leave") == 0 ?
		    CTL_LEAVE_TIMEOUT_MS : CTL_TIMEOUT_MS;
	if (o.have_random && !o.have_seed)
		o.seed = (uint64_t)time(NULL) ^ (uint64_t)getpid() << 32;
	ctl_load_secret(&o);
	if (fn == NULL)
		return cmd_route(&o, o.arg);
	return fn(&o);
}
