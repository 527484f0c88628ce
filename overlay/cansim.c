/*
 * cansim.c: a deterministic discrete-event simulator of a CAN overlay.
 *
 * N real node states (node.c, member.c, forward.c, cover.c, ...: the
 * objects canfsd links) run in one process on the simulator's virtual
 * clock and network (sim.h).  Nodes join one after another through the
 * real join protocol; once membership has settled, random lookups go
 * through the real greedy routing.  Checked as it runs, against the
 * geometric truth computed from every node's zones:
 *   - the zones tile the space exactly (volumes sum to 1, no overlap);
 *   - every node's neighbour table is exact (the nodes whose zones abut
 *     its own, with their current zones);
 *   - every lookup is answered by the owner of its point.
 * With --churn, nodes join, leave gracefully and crash at a rate for a
 * while after that first check; once the churn stops and membership has
 * settled again, the same checks hold for the nodes still alive.
 * A violation prints the seed and the event number and exits 1.  At the
 * end: mean hops beside CAN's (d/4)·n^(1/d), memory per node, wall time,
 * and a digest of every delivered frame: the same seed gives the same
 * digest.
 */
#include <sys/resource.h>

#include <getopt.h>
#include <inttypes.h>
#include <malloc.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conn.h"
#include "log.h"
#include "node.h"
#include "sim.h"
#include "xmalloc.h"

struct cansim_opts {
	int nodes, dims;
	uint64_t seed;
	int lookups;
	int duration_s;		/* lookup phase, virtual seconds */
	int join_ms;		/* between two joins */
	int hb_ms, fail_after;
	int settle_s;		/* after every node is active */
	int check_s;		/* invariant checks during the lookup phase */
	bool json;
	int log_level;
	const char *sabotage;	/* break an invariant on purpose (self-test) */
	double churn;		/* membership events per s per 1,000 nodes */
	int churn_s;		/* for this long (virtual s) */
	int heal_s;		/* settling after the churn */
};

/* One lookup of the harness, by client request id - 1. */
struct cansim_lookup {
	struct geom_point target;
	int origin;
	bool answered;
};

static struct {
	struct cansim_opts o;
	struct node **nodes;
	struct conn **client;	/* each node's harness client connection */
	bool *dead;		/* crashed, or left and exited */
	int created, cap;	/* nodes created; room for this many */
	struct sim_ev join_ev, lookup_ev, check_ev, churn_ev;
	uint64_t churn_end_ms;
	int joins, leaves, crashes;
	struct cansim_lookup *lk;
	int nlk, answered;
	uint64_t hops_sum, hop_max;
	uint64_t nbr_sum;	/* table entries at the last check */
	int nbr_nodes;		/* of that many live nodes */
	int checks;
	uint64_t joined_ms, settled_ms;
	double wall0;
} cs;

/* Wall-clock seconds, for the report only (never for the run). */
static double
cansim_wall(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* An invariant failed: say where, so the run can be replayed; exit 1. */
static void __attribute__((format(printf, 1, 2), noreturn))
cansim_violation(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "cansim: VIOLATION at event %" PRIu64 " (t=%" PRIu64
	    " ms), seed %" PRIu64 ": ", sim_events(), sim_now(), cs.o.seed);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\ncansim: replay with: cansim --nodes %d --dims %d "
	    "--seed %" PRIu64 " --lookups %d --duration %d --join-ms %d "
	    "--hb %d --fail-after %d --settle %d --check-every %d "
	    "--churn %g --churn-time %d --heal %d%s%s\n",
	    cs.o.nodes, cs.o.dims, cs.o.seed, cs.o.lookups, cs.o.duration_s,
	    cs.o.join_ms, cs.o.hb_ms, cs.o.fail_after, cs.o.settle_s,
	    cs.o.check_s, cs.o.churn, cs.o.churn_s, cs.o.heal_s, cs.o.sabotage ? " --sabotage " : "",
	    cs.o.sabotage ? cs.o.sabotage : "");
	exit(1);
}

/* The harness's client connection received a frame (a lookup answer). */
static void cansim_client_cb(void *arg, const struct wire_header *h,
    const uint8_t *body);

/*
 * Create node i and start it: the founder (nboot 0), or a joiner through
 * boot[0..nboot) in turn.
 */
static void
cansim_node_start(int i, const int *boot, int nboot)
{
	struct node_config cfg;
	char err[256];
	struct node *n;

	memset(&cfg, 0, sizeof cfg);
	sim_net_addr(i, cfg.listen, sizeof cfg.listen);
	cfg.dims = cs.o.dims;
	cfg.replicas = 1;
	cfg.hb_ms = cs.o.hb_ms;
	cfg.fail_after = cs.o.fail_after;
	cfg.repair_sec = 30;
	cfg.tombstone_sec = 86400;
	/* Unique, non-zero, and from the seeded stream. */
	for (;;) {
		bool dup = false;

		cfg.node_id = sim_rand();
		for (int j = 0; j < i && !dup; j++)
			dup = cs.nodes[j]->self.id == cfg.node_id;
		if (cfg.node_id != 0 && !dup)
			break;
	}
	for (int k = 0; k < nboot && k < NODE_MAX_JOIN; k++)
		sim_net_addr(boot[k], cfg.join[cfg.njoin++], sizeof cfg.join[0]);
	n = node_new(NULL, &cfg);
	sim_set_context(n);	/* its timers run in its context */
	if (node_start(n, err, sizeof err) != 0)
		fatalx("node %d: %s", i, err);
	cs.nodes[i] = n;
	cs.client[i] = sim_net_client(n->transport, cansim_client_cb, NULL);
	cs.created = i + 1;
}

/* A random live node (active, if asked), or -1 when there is none. */
static int
cansim_random_live(bool active)
{
	int live = 0, k;

	for (int i = 0; i < cs.created; i++)
		live += !cs.dead[i] && (!active ||
		    cs.nodes[i]->state == NODE_ACTIVE);
	if (live == 0)
		return -1;
	k = (int)sim_rand_below((uint64_t)live);
	for (int i = 0; i < cs.created; i++) {
		if (!cs.dead[i] && (!active ||
		    cs.nodes[i]->state == NODE_ACTIVE) && k-- == 0)
			return i;
	}
	return -1;
}

/* The next join: through a random node that is active already. */
static void
cansim_join_cb(struct sim_ev *e)
{
	int i = cs.created, boot;

	do
		boot = (int)sim_rand_below((uint64_t)i);
	while (cs.nodes[boot]->state != NODE_ACTIVE && boot != 0);
	cansim_node_start(i, &boot, 1);
	if (cs.created < cs.o.nodes)
		sim_schedule(e, sim_now() + (uint64_t)cs.o.join_ms);
}

/* Exact volume: a zone of depth k is 2^-k of the space. */
#define CANSIM_VOL_BITS 120

/* Halvings of the whole space that make z. */
static int
cansim_depth(const struct geom_zone *z, int d)
{
	int k = 0;

	for (int i = 0; i < d; i++)
		k += 32 - z->bits[i];
	return k;
}

/* Intervals [a, a+sa) and [b, b+sb) of the 2^32 ring share a position. */
static bool
cansim_ring_overlap(uint64_t a, uint64_t sa, uint64_t b, uint64_t sb)
{
	const uint64_t m = GEOM_SPACE;

	return ((b - a) & (m - 1)) < sa || ((a - b) & (m - 1)) < sb ||
	    sa == m || sb == m;
}

/* The end of one interval is the start of the other (on the ring). */
static bool
cansim_ring_abut(uint64_t a, uint64_t sa, uint64_t b, uint64_t sb)
{
	const uint64_t m = GEOM_SPACE;

	return ((a + sa) & (m - 1)) == b || ((b + sb) & (m - 1)) == a;
}

/*
 * CAN's neighbours, written out here rather than taken from geom.c, so
 * that the check does not share the code it checks: two zones are
 * neighbours when they overlap in d-1 dimensions and abut in the other.
 */
static bool
cansim_zones_abut(const struct geom_zone *x, const struct geom_zone *y,
    int d)
{
	int overlap = 0, abut = 0;

	for (int i = 0; i < d; i++) {
		uint64_t sx = (uint64_t)1 << x->bits[i];
		uint64_t sy = (uint64_t)1 << y->bits[i];

		if (cansim_ring_overlap(x->lo[i], sx, y->lo[i], sy))
			overlap++;
		else if (cansim_ring_abut(x->lo[i], sx, y->lo[i], sy))
			abut++;
	}
	return overlap == d - 1 && abut == 1;
}

/* Some zone of a is a neighbour of some zone of b. */
static bool
cansim_nodes_abut(const struct wire_node *a, const struct wire_node *b,
    int d)
{
	for (int i = 0; i < a->nzones; i++) {
		for (int j = 0; j < b->nzones; j++) {
			if (cansim_zones_abut(&a->zones[i], &b->zones[j], d))
				return true;
		}
	}
	return false;
}

/* The same set of zones (in any order). */
static bool
cansim_same_zones(const struct wire_node *a, const struct wire_node *b,
    int d)
{
	if (a->nzones != b->nzones)
		return false;
	for (int i = 0; i < a->nzones; i++) {
		bool found = false;

		for (int j = 0; j < b->nzones && !found; j++)
			found = geom_zone_equal(&a->zones[i], &b->zones[j], d);
		if (!found)
			return false;
	}
	return true;
}

/* Does any live node's zone overlap (or, with inside, contain) box b? */
static bool
cansim_box_claimed(const struct geom_zone *b, bool inside)
{
	for (int i = 0; i < cs.created; i++) {
		const struct wire_node *x = &cs.nodes[i]->self;

		for (int z = 0; z < x->nzones && !cs.dead[i]; z++) {
			if (inside ? geom_zone_within(b, &x->zones[z],
			    cs.o.dims) : geom_zone_overlaps(b, &x->zones[z],
			    cs.o.dims))
				return true;
		}
	}
	return false;
}

/* A box inside b that no live node claims, into *hole; false if none. */
static bool
cansim_find_hole(const struct geom_zone *b, struct geom_zone *hole)
{
	struct geom_zone low, high;

	if (cansim_box_claimed(b, true))
		return false;
	if (!cansim_box_claimed(b, false) ||
	    geom_zone_split(b, cs.o.dims, &low, &high) != 0) {
		*hole = *b;
		return true;
	}
	return cansim_find_hole(&low, hole) || cansim_find_hole(&high, hole);
}

/*
 * The volumes sum to exactly 1, no overlap; every node active unless
 * joiners are allowed (they hold no zone yet).
 */
static void
cansim_check_tiling(bool joiners)
{
	int d = cs.o.dims;
	unsigned __int128 sum = 0, one = (unsigned __int128)1 <<
	    CANSIM_VOL_BITS;

	for (int i = 0; i < cs.created; i++) {
		const struct wire_node *x = &cs.nodes[i]->self;

		if (cs.dead[i])
			continue;
		if (joiners && cs.nodes[i]->state == NODE_JOINING &&
		    x->nzones == 0)
			continue;
		if (cs.nodes[i]->state != NODE_ACTIVE)
			cansim_violation("node %d is not active", i);
		if (x->nzones == 0)
			cansim_violation("node %d holds no zone", i);
		for (int z = 0; z < x->nzones; z++) {
			int k = cansim_depth(&x->zones[z], d);

			if (k > CANSIM_VOL_BITS)
				cansim_violation("node %d: zone of depth %d "
				    "(too deep to add up)", i, k);
			sum += (unsigned __int128)1 << (CANSIM_VOL_BITS - k);
		}
	}
	if (sum < one) {
		struct geom_zone whole, hole;
		char buf[256] = "?";

		geom_zone_whole(&whole, d);
		if (cansim_find_hole(&whole, &hole))
			geom_zone_format(&hole, d, buf, sizeof buf);
		cansim_violation("zone volumes sum to %.12f, not 1; nobody "
		    "holds %s", (double)sum / (double)one, buf);
	}
	if (sum != one)
		cansim_violation("zone volumes sum to %.12f, not 1",
		    (double)sum / (double)one);
	for (int i = 0; i < cs.created; i++) {
		const struct wire_node *x = &cs.nodes[i]->self;

		for (int j = i + 1; j < cs.created && !cs.dead[i]; j++) {
			if (!cs.dead[j] &&
			    nbr_nodes_overlap(x, &cs.nodes[j]->self, d))
				cansim_violation("zones of nodes %d and %d "
				    "overlap", i, j);
		}
	}
}

/* Node index by id (open addressing, built for each check), or -1. */
static int *cansim_idx;
static size_t cansim_idx_cap;

/* Index every node created so far by id. */
static void
cansim_index_build(void)
{
	free(cansim_idx);
	for (cansim_idx_cap = 16; cansim_idx_cap < 2 * (size_t)cs.created;)
		cansim_idx_cap *= 2;
	cansim_idx = xcalloc(cansim_idx_cap, sizeof *cansim_idx);
	for (size_t k = 0; k < cansim_idx_cap; k++)
		cansim_idx[k] = -1;
	for (int i = 0; i < cs.created; i++) {
		size_t k = cs.nodes[i]->self.id & (cansim_idx_cap - 1);

		while (cansim_idx[k] >= 0)
			k = (k + 1) & (cansim_idx_cap - 1);
		cansim_idx[k] = i;
	}
}

/* The index of node id, or -1. */
static int
cansim_index_of(uint64_t id)
{
	size_t k = id & (cansim_idx_cap - 1);

	for (; cansim_idx[k] >= 0; k = (k + 1) & (cansim_idx_cap - 1)) {
		if (cs.nodes[cansim_idx[k]]->self.id == id)
			return cansim_idx[k];
	}
	return -1;
}

/* Each node's neighbour table against the geometric truth. */
static void
cansim_check_neighbours(void)
{
	int d = cs.o.dims;
	char *truth = xcalloc((size_t)cs.created, 1);

	cansim_index_build();
	cs.nbr_sum = 0;
	cs.nbr_nodes = 0;
	for (int i = 0; i < cs.created; i++) {
		struct node *n = cs.nodes[i];
		int want = 0, have = 0;
		struct nbr *e;

		if (cs.dead[i])
			continue;
		cs.nbr_nodes++;
		memset(truth, 0, (size_t)cs.created);
		for (int j = 0; j < cs.created; j++) {
			if (j != i && !cs.dead[j] && cansim_nodes_abut(&n->self,
			    &cs.nodes[j]->self, d)) {
				truth[j] = 1;
				want++;
			}
		}
		TAILQ_FOREACH(e, &n->nbrs, entry) {
			int j = cansim_index_of(e->info.id);

			if (e->failed)
				cansim_violation("node %d: neighbour %s "
				    "declared failed (nobody fails here)", i,
				    node_idstr(e->info.id));
			if (j >= 0 && cs.dead[j])
				cansim_violation("node %d: %d (%s), %s, still "
				    "in its table", i, j, node_idstr(e->info.id),
				    cs.nodes[j]->state == NODE_LEFT ? "gone" :
				    "crashed");
			if (j < 0 || !truth[j])
				cansim_violation("node %d: %s in its table is "
				    "no neighbour", i, node_idstr(e->info.id));
			if (!cansim_same_zones(&e->info, &cs.nodes[j]->self,
			    d))
				cansim_violation("node %d: stale zones for "
				    "neighbour %d", i, j);
			truth[j] = 2;
			have++;
			cs.nbr_sum++;
		}
		if (have != want) {
			for (int j = 0; j < cs.created; j++) {
				if (truth[j] == 1)
					cansim_violation("node %d: neighbour "
					    "%d (%s) missing from its table "
					    "(%d of %d)", i, j,
					    node_idstr(cs.nodes[j]->self.id),
					    have, want);
			}
			cansim_violation("node %d: %d table entries for %d "
			    "neighbours", i, have, want);
		}
	}
	free(truth);
	cs.checks++;
}

/* Every membership invariant, now. */
static void
cansim_check_all(void)
{
	cansim_check_tiling(false);
	cansim_check_neighbours();
}

/* The periodic check of the lookup phase. */
static void
cansim_check_cb(struct sim_ev *e)
{
	cansim_check_all();
	sim_schedule(e, sim_now() + (uint64_t)cs.o.check_s * 1000);
}

/* The node whose zones contain p (by the truth), or -1. */
static int
cansim_owner(const struct geom_point *p)
{
	for (int i = 0; i < cs.created; i++) {
		if (!cs.dead[i] &&
		    nbr_node_contains(&cs.nodes[i]->self, p, cs.o.dims))
			return i;
	}
	return -1;
}

/* A lookup answered: by the owner of its point, or a violation. */
static void
cansim_client_cb(void *arg, const struct wire_header *h, const uint8_t *body)
{
	struct cansim_lookup *l;
	struct wire_membership m;
	int owner;

	(void)arg;
	if (h->reqid == 0 || h->reqid > (uint64_t)cs.nlk)
		cansim_violation("answer for unknown request %" PRIu64,
		    h->reqid);
	l = &cs.lk[h->reqid - 1];
	if (l->answered)
		cansim_violation("lookup %" PRIu64 " answered twice", h->reqid);
	l->answered = true;
	cs.answered++;
	if (h->type != WIRE_LOOKUP_REPLY) {
		uint32_t code = 0;
		char msg[128] = "";

		(void)wire_error_decode(body, h->len, &code, msg, sizeof msg);
		cansim_violation("lookup %" PRIu64 " from node %d failed: %s "
		    "(%s)", h->reqid, l->origin, wire_error_text(code), msg);
	}
	if (wire_membership_decode(body, h->len, &m) != 0)
		cansim_violation("lookup %" PRIu64 ": malformed reply",
		    h->reqid);
	owner = cansim_owner(&l->target);
	if (owner < 0 || cs.nodes[owner]->self.id != m.self.id)
		cansim_violation("lookup %" PRIu64 " from node %d answered by "
		    "%s, not by the owner %d", h->reqid, l->origin,
		    node_idstr(m.self.id), owner);
	cs.hops_sum += m.a;
	if (m.a > cs.hop_max)
		cs.hop_max = m.a;
	wire_membership_free(&m);
}

/* Start the next lookup: a random node, a random point. */
static void
cansim_lookup_cb(struct sim_ev *e)
{
	struct cansim_lookup *l = &cs.lk[cs.nlk++];
	struct node *n;

	memset(&l->target, 0, sizeof l->target);
	if ((l->origin = cansim_random_live(true)) < 0)
		cansim_violation("no active node left to look up from");
	for (int i = 0; i < cs.o.dims; i++)
		l->target.c[i] = (uint32_t)(sim_rand() >> 32);
	n = cs.nodes[l->origin];
	sim_set_context(n);
	node_lookup(n, cs.client[l->origin], (uint64_t)cs.nlk, &l->target,
	    false);
	if (cs.nlk < cs.o.lookups)
		sim_schedule(e, sim_now() + (uint64_t)cs.o.duration_s * 1000 /
		    (uint64_t)cs.o.lookups);
}

/* Log lines carry the id of the node whose event runs. */
static void
cansim_log_tag(void *ctx)
{
	struct node *n = ctx;
	char tag[32];

	snprintf(tag, sizeof tag, "[%" PRIu64 ".%03" PRIu64 " %s]",
	    sim_now() / 1000, sim_now() % 1000,
	    n ? node_idstr(n->self.id) : "-");
	log_set_tag(tag);
}

/* Every node created and alive is active, and all have been created. */
static bool
cansim_all_active(void)
{
	for (int i = 0; i < cs.created; i++) {
		if (!cs.dead[i] && cs.nodes[i]->state != NODE_ACTIVE)
			return false;
	}
	return cs.created >= cs.o.nodes;
}

/* A node's process ends: after its leave, or in a crash. */
static void
cansim_halt(int i)
{
	cs.dead[i] = true;
	sim_halt(cs.nodes[i]);
}

/* A leave is over (handed over, or given up): the process exits. */
static void
cansim_left_cb(struct node *n)
{
	for (int i = 0; i < cs.created; i++) {
		if (cs.nodes[i] == n)
			cansim_halt(i);
	}
}

/* Live nodes, not leaving. */
static int
cansim_live(void)
{
	int live = 0;

	for (int i = 0; i < cs.created; i++)
		live += !cs.dead[i] && cs.nodes[i]->state != NODE_LEAVING;
	return live;
}

/*
 * One membership event of the churn: a join (half of them, so that the
 * overlay keeps its size), a graceful leave or a crash (a quarter each).
 */
static void
cansim_churn_cb(struct sim_ev *e)
{
	uint64_t gap = (uint64_t)(1e6 / (cs.o.churn * cs.o.nodes));
	int kind = (int)sim_rand_below(4), i;

	if (cs.created < cs.cap && (kind <= 1 || cansim_live() <= 2)) {
		/* Three bootstrap peers: any of them may die meanwhile. */
		int boot[3];

		for (int k = 0; k < 3; k++)
			boot[k] = cansim_random_live(true);
		if (boot[0] >= 0) {
			cansim_node_start(cs.created, boot, 3);
			cs.joins++;
		}
	} else if ((i = cansim_random_live(true)) >= 0 && kind == 2) {
		sim_set_context(cs.nodes[i]);
		node_leave(cs.nodes[i], cansim_left_cb);
		cs.leaves++;
	} else if (i >= 0 && kind == 3) {
		cansim_halt(i);
		cs.crashes++;
	}
	if (sim_now() + gap < cs.churn_end_ms)
		sim_schedule(e, sim_now() + (gap ? gap : 1));
}

/*
 * Churn for --churn-time seconds, then wait until every live node is
 * active and every leave is over, and settle.
 */
static void
cansim_churn_phase(void)
{
	uint64_t limit;

	cs.churn_end_ms = sim_now() + (uint64_t)cs.o.churn_s * 1000;
	cs.churn_ev.idx = SIZE_MAX;
	cs.churn_ev.fire = cansim_churn_cb;
	sim_schedule(&cs.churn_ev, sim_now());
	sim_run_until(cs.churn_end_ms);
	sim_cancel(&cs.churn_ev);
	limit = sim_now() + 120000;
	while (!cansim_all_active()) {
		if (sim_now() > limit) {
			cansim_check_tiling(true);
			cansim_check_neighbours();
			int st[4] = { 0 }, first = -1;

			for (int i = 0; i < cs.created; i++) {
				if (cs.dead[i] ||
				    cs.nodes[i]->state == NODE_ACTIVE)
					continue;
				st[cs.nodes[i]->state]++;
				if (first < 0)
					first = i;
			}
			cansim_violation("membership not settled 120 s after "
			    "the churn: %d joining, %d leaving, %d left but "
			    "running (node %d, %s, first)", st[NODE_JOINING],
			    st[NODE_LEAVING], st[NODE_LEFT], first,
			    node_idstr(cs.nodes[first]->self.id));
		}
		sim_run_until(sim_now() + (uint64_t)cs.o.hb_ms);
	}
	sim_run_until(sim_now() + (uint64_t)cs.o.heal_s * 1000);
	cansim_check_all();
}

/* --help. */
static void
cansim_usage(FILE *f)
{
	fprintf(f,
"usage: cansim [options]\n"
"Simulate a CAN overlay of real node states on a virtual clock and network.\n"
"  -n, --nodes N        nodes (default 256)\n"
"  -d, --dims D         dimensions, 2..%d (default 2)\n"
"  -s, --seed S         seed of every random choice (default 1)\n"
"  -l, --lookups L      random lookups after settling (default 1000)\n"
"  -t, --duration SEC   virtual seconds of the lookup phase (default 20)\n"
"      --join-ms MS     virtual ms between two joins (default 20)\n"
"      --hb MS          heartbeat interval (default 1000)\n"
"      --fail-after K   silent heartbeats before suspicion (default 3)\n"
"      --settle SEC     wait after the last join completes (default 10)\n"
"  -c, --churn RATE     after the first check, membership events at RATE\n"
"                       a second per 1,000 nodes: joins (half of them),\n"
"                       graceful leaves and crashes (default 0: none)\n"
"      --churn-time SEC for this long (default 60), then settle, check\n"
"      --heal SEC       settling after the churn (default 30: a takeover's\n"
"                       spare zone is handed on only after 4 failure\n"
"                       timeouts, 12 s at the defaults)\n"
"      --check-every SEC  invariant checks in the lookup phase (default 5)\n"
"  -j, --json           one JSON object instead of text\n"
"      --sabotage WHAT  break an invariant before the first check (table,\n"
"                       tiling): a self-test of the checks, exits 1\n"
"  -v, --verbose        node logs (repeat for more)\n"
"  -h, --help           this text\n"
"Exit status: 0 when every invariant held, 1 on a violation (printed with\n"
"its seed and event number), 2 on bad usage.\n", GEOM_MAX_DIMS);
}

/* An integer option in [lo, hi], or exit 2. */
static int
cansim_int(const char *name, const char *s, long lo, long hi)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v < lo || v > hi) {
		fprintf(stderr, "cansim: --%s: want %ld..%ld\n", name, lo, hi);
		exit(2);
	}
	return (int)v;
}

/* The command line into o (exits on --help or a bad option). */
static void
cansim_parse(int argc, char **argv, struct cansim_opts *o)
{
	static const struct option longopts[] = {
		{ "nodes", required_argument, NULL, 'n' },
		{ "dims", required_argument, NULL, 'd' },
		{ "seed", required_argument, NULL, 's' },
		{ "lookups", required_argument, NULL, 'l' },
		{ "duration", required_argument, NULL, 't' },
		{ "join-ms", required_argument, NULL, 'J' },
		{ "hb", required_argument, NULL, 'H' },
		{ "fail-after", required_argument, NULL, 'F' },
		{ "settle", required_argument, NULL, 'S' },
		{ "check-every", required_argument, NULL, 'C' },
		{ "json", no_argument, NULL, 'j' },
		{ "sabotage", required_argument, NULL, 'B' },
		{ "churn", required_argument, NULL, 'c' },
		{ "churn-time", required_argument, NULL, 'T' },
		{ "heal", required_argument, NULL, 'E' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	int ch;

	*o = (struct cansim_opts){ .nodes = 256, .dims = 2, .seed = 1,
	    .lookups = 1000, .duration_s = 20, .join_ms = 20, .hb_ms = 1000,
	    .fail_after = 3, .settle_s = 10, .check_s = 5, .churn_s = 60,
	    .heal_s = 30,
	    .log_level = LOG_LVL_ERROR };
	while ((ch = getopt_long(argc, argv, "n:d:s:l:t:c:jvh", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'n': o->nodes = cansim_int("nodes", optarg, 1, 1 << 20);
			break;
		case 'd': o->dims = cansim_int("dims", optarg, 2,
			    GEOM_MAX_DIMS);
			break;
		case 's': {
			char *end;

			o->seed = strtoull(optarg, &end, 0);
			if (*optarg == '\0' || *end != '\0') {
				fprintf(stderr, "cansim: --seed: a number\n");
				exit(2);
			}
			break;
		}
		case 'l': o->lookups = cansim_int("lookups", optarg, 0,
			    100000000);
			break;
		case 't': o->duration_s = cansim_int("duration", optarg, 1,
			    1000000);
			break;
		case 'J': o->join_ms = cansim_int("join-ms", optarg, 1,
			    3600000);
			break;
		case 'H': o->hb_ms = cansim_int("hb", optarg, 10, 60000);
			break;
		case 'F': o->fail_after = cansim_int("fail-after", optarg, 1,
			    100);
			break;
		case 'S': o->settle_s = cansim_int("settle", optarg, 0,
			    100000);
			break;
		case 'C': o->check_s = cansim_int("check-every", optarg, 1,
			    100000);
			break;
		case 'j': o->json = true;
			break;
		case 'B': o->sabotage = optarg;
			break;
		case 'c': {
			char *end;

			o->churn = strtod(optarg, &end);
			if (*optarg == '\0' || *end != '\0' || !(o->churn >= 0) ||
			    o->churn > 1e6) {
				fprintf(stderr, "cansim: --churn: a rate, 0 to "
				    "1e6\n");
				exit(2);
			}
			break;
		}
		case 'T': o->churn_s = cansim_int("churn-time", optarg, 1,
			    1000000);
			break;
		case 'E': o->heal_s = cansim_int("heal", optarg, 0, 100000);
			break;
		case 'v': o->log_level++;
			break;
		case 'h': cansim_usage(stdout);
			exit(0);
		default: cansim_usage(stderr);
			exit(2);
		}
	}
	if (optind < argc) {
		cansim_usage(stderr);
		exit(2);
	}
}

/* Joins, one after another, until every node is active. */
static void
cansim_join_phase(void)
{
	uint64_t limit = (uint64_t)cs.o.nodes * (uint64_t)cs.o.join_ms +
	    120000;

	cansim_node_start(0, NULL, 0);
	cs.join_ev.idx = SIZE_MAX;
	cs.join_ev.fire = cansim_join_cb;
	if (cs.o.nodes > 1)
		sim_schedule(&cs.join_ev, (uint64_t)cs.o.join_ms);
	while (!cansim_all_active()) {
		if (sim_now() > limit) {
			int waiting = cs.o.nodes - cs.created;

			for (int i = 0; i < cs.created; i++)
				waiting += cs.nodes[i]->state != NODE_ACTIVE;
			/* A more precise reason first, if there is one. */
			cansim_check_tiling(true);
			cansim_check_neighbours();
			cansim_violation("%d node(s) not active %" PRIu64
			    " s after the first join", waiting, limit / 1000);
		}
		sim_run_until(sim_now() + (uint64_t)cs.o.hb_ms);
	}
	cs.joined_ms = sim_now();
}

/*
 * --sabotage: break one invariant just before the first check, to show
 * that the checks catch it (tests/integration/sim.sh): "table" drops a
 * neighbour from a node's table, "tiling" has a node forget half of its
 * zone (it keeps the other half).
 */
static void
cansim_sabotage(const char *what)
{
	struct node *n = cs.nodes[cansim_random_live(true)];
	struct geom_zone low, high;

	if (strcmp(what, "table") == 0 && !TAILQ_EMPTY(&n->nbrs)) {
		nbr_remove(&n->nbrs, TAILQ_FIRST(&n->nbrs));
	} else if (strcmp(what, "tiling") == 0 &&
	    geom_zone_split(&n->self.zones[0], cs.o.dims, &low, &high) == 0) {
		n->self.zones[0] = low;
	} else {
		fprintf(stderr, "cansim: --sabotage %s: nothing to break\n",
		    what);
		exit(2);
	}
}

/* Settle, check, then lookups (with checks) until all are answered. */
static void
cansim_lookup_phase(void)
{
	uint64_t end;

	sim_run_until(sim_now() + (uint64_t)cs.o.settle_s * 1000);
	cs.settled_ms = sim_now();
	if (cs.o.sabotage != NULL)
		cansim_sabotage(cs.o.sabotage);
	cansim_check_all();
	if (cs.o.churn > 0)
		cansim_churn_phase();
	cs.lk = xcalloc((size_t)cs.o.lookups + 1, sizeof *cs.lk);
	cs.lookup_ev.idx = cs.check_ev.idx = SIZE_MAX;
	cs.lookup_ev.fire = cansim_lookup_cb;
	cs.check_ev.fire = cansim_check_cb;
	if (cs.o.lookups > 0)
		sim_schedule(&cs.lookup_ev, sim_now());
	sim_schedule(&cs.check_ev, sim_now() + (uint64_t)cs.o.check_s * 1000);
	end = sim_now() + (uint64_t)cs.o.duration_s * 1000;
	sim_run_until(end);
	sim_cancel(&cs.check_ev);
	/* Lookups give up after 5 s: all are answered by then. */
	while (cs.answered < cs.nlk && sim_now() < end + 10000)
		sim_run_until(sim_now() + 100);
	if (cs.answered < cs.nlk)
		cansim_violation("%d of %d lookups never answered",
		    cs.nlk - cs.answered, cs.nlk);
	cansim_check_all();
}

/* The results: text, or one JSON object (--json); mem is malloc's count. */
static void
cansim_report(size_t mem)
{
	struct sim_net_stats st;
	double wall = cansim_wall() - cs.wall0;
	double mean = cs.nlk ? (double)cs.hops_sum / cs.nlk : 0;
	double expect = cs.o.dims / 4.0 * pow(cs.o.nodes, 1.0 / cs.o.dims);
	double per = (double)mem / cs.o.nodes;
	struct rusage ru;
	double rss;

	getrusage(RUSAGE_SELF, &ru);
	rss = (double)ru.ru_maxrss * 1024 / cs.o.nodes;

	sim_net_stats(&st);
	if (cs.o.json) {
		printf("{\"nodes\": %d, \"dims\": %d, \"seed\": %" PRIu64
		    ", \"joined_ms\": %" PRIu64 ", \"settled_ms\": %" PRIu64
		    ", \"sim_ms\": %" PRIu64 ", \"events\": %" PRIu64
		    ", \"frames\": %" PRIu64 ", \"bytes\": %" PRIu64
		    ", \"conns\": %" PRIu64 ", \"lookups\": %d"
		    ", \"mean_hops\": %.4f, \"max_hops\": %" PRIu64
		    ", \"expected_hops\": %.4f, \"checks\": %d"
		    ", \"mean_neighbours\": %.3f"
		    ", \"joins\": %d, \"leaves\": %d, \"crashes\": %d"
		    ", \"alloc_bytes_per_node\": %.0f"
		    ", \"peak_rss_bytes_per_node\": %.0f, \"wall_s\": %.3f"
		    ", \"digest\": \"%016" PRIx64 "\", \"ok\": true}\n",
		    cs.o.nodes, cs.o.dims, cs.o.seed, cs.joined_ms,
		    cs.settled_ms, sim_now(), sim_events(), st.frames,
		    st.bytes, st.conns, cs.nlk, mean, cs.hop_max, expect,
		    cs.checks, (double)cs.nbr_sum / cs.nbr_nodes, cs.joins,
		    cs.leaves, cs.crashes, per, rss, wall,
		    st.digest);
		return;
	}
	printf("cansim: n=%d d=%d seed=%" PRIu64 "\n", cs.o.nodes, cs.o.dims,
	    cs.o.seed);
	printf("joined    all active at %.1f s, settled at %.1f s, ended at "
	    "%.1f s (virtual)\n", cs.joined_ms / 1e3, cs.settled_ms / 1e3,
	    sim_now() / 1e3);
	if (cs.o.churn > 0)
		printf("churn     %d joins, %d leaves, %d crashes in %d s; "
		    "%d nodes alive\n", cs.joins, cs.leaves, cs.crashes,
		    cs.o.churn_s, cansim_live());
	printf("checks    %d passed: zones tile the space, neighbour tables "
	    "exact (%.2f neighbours per node)\n", cs.checks,
	    (double)cs.nbr_sum / cs.nbr_nodes);
	printf("lookups   %d, all answered by the owner of their point\n",
	    cs.nlk);
	printf("hops      mean %.3f, max %" PRIu64 "; (d/4)n^(1/d) = %.3f\n",
	    mean, cs.hop_max, expect);
	printf("traffic   %" PRIu64 " events, %" PRIu64 " frames, %.1f MB, "
	    "%" PRIu64 " connections\n", sim_events(), st.frames,
	    st.bytes / 1e6, st.conns);
	printf("cost      %.1f KiB allocated per node after the joins, %.1f "
	    "KiB peak RSS per node, %.2f s wall\n", per / 1024, rss / 1024,
	    wall);
	printf("digest    %016" PRIx64 "\n", st.digest);
}

/* Join, settle and check, churn (if asked), look up, report. */
int
main(int argc, char **argv)
{
	struct mallinfo2 mi;

	cansim_parse(argc, argv, &cs.o);
	log_init("cansim", cs.o.log_level);
	if (cs.o.log_level > LOG_LVL_ERROR)
		sim_on_context(cansim_log_tag);
	cs.wall0 = cansim_wall();
	sim_reset(cs.o.seed);
	/* Room for the churn's joins: about half of its events. */
	cs.cap = cs.o.nodes + (cs.o.churn > 0 ? (int)(cs.o.churn *
	    cs.o.nodes / 1000 * cs.o.churn_s * 0.6) + 8 : 0);
	sim_net_init(cs.cap);
	cs.nodes = xcalloc((size_t)cs.cap, sizeof *cs.nodes);
	cs.client = xcalloc((size_t)cs.cap, sizeof *cs.client);
	cs.dead = xcalloc((size_t)cs.cap, sizeof *cs.dead);
	cansim_join_phase();
	mi = mallinfo2();
	cansim_lookup_phase();
	/* Both arenas' blocks and the large ones malloc maps on its own. */
	cansim_report(mi.uordblks + mi.hblkhd);
	return 0;
}
