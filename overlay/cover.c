/*
 * cover.c: find and fill holes in our neighbour table.
 *
 * After simultaneous failures two nodes can end up adjacent without either
 * hearing of the other: each learned of the dead zones only from a dead
 * node's last neighbour list.  Every few heartbeats we check that each face
 * of each of our zones is covered by zones we know; the first uncovered
 * position is looked up through the overlay, and the owner that answers
 * becomes a neighbour (it hears our heartbeats from then on).
 *
 * The lookup starts at a neighbour (greedy routing cannot start here: no
 * neighbour is nearer to the hole than we are) and never comes back to us
 * (route_next_hop's avoid).  The point looked up is the middle of the
 * uncovered box, not its corner: a corner of it can be as near to other
 * nodes that miss the same owner (seen in cansim: three nodes around a
 * corner of the torus, each missing the others), and the route would
 * dead-end there.  A lookup that fails is started at the next neighbour
 * in order of distance the next time.
 */
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "log.h"
#include "node.h"
#include "rpc.h"

#define COVER_LOOKUP_TIMEOUT_MS 3000

/* True when some known zone (ours or a live neighbour's) contains f. */
static bool
cover_known_contains(struct node *n, const struct geom_zone *f)
{
	struct nbr *e;

	for (int i = 0; i < n->self.nzones; i++) {
		if (geom_zone_within(f, &n->self.zones[i], n->cfg.dims))
			return true;
	}
	/* Failed neighbours count: their space is being taken over. */
	TAILQ_FOREACH(e, &n->nbrs, entry) {
		for (int i = 0; i < e->info.nzones; i++) {
			if (geom_zone_within(f, &e->info.zones[i],
			    n->cfg.dims))
				return true;
		}
	}
	return false;
}

/* True when some known zone overlaps f. */
static bool
cover_known_overlaps(struct node *n, const struct geom_zone *f)
{
	struct nbr *e;

	for (int i = 0; i < n->self.nzones; i++) {
		if (geom_zone_overlaps(f, &n->self.zones[i], n->cfg.dims))
			return true;
	}
	TAILQ_FOREACH(e, &n->nbrs, entry) {
		for (int i = 0; i < e->info.nzones; i++) {
			if (geom_zone_overlaps(f, &e->info.zones[i],
			    n->cfg.dims))
				return true;
		}
	}
	return false;
}

/*
 * Is every position of the dyadic box f in a known zone?  Known zones are
 * dyadic too, so halving f until each part lies within one zone or misses
 * them all terminates.  On a hole, its first position goes to *gap.
 */
static bool
cover_box(struct node *n, const struct geom_zone *f, struct geom_point *gap)
{
	struct geom_zone low, high;

	if (cover_known_contains(n, f))
		return true;
	if (!cover_known_overlaps(n, f) ||
	    geom_zone_split(f, n->cfg.dims, &low, &high) != 0) {
		memset(gap, 0, sizeof *gap);
		for (int i = 0; i < n->cfg.dims; i++)
			gap->c[i] = f->lo[i] + (uint32_t)(((uint64_t)1 <<
			    f->bits[i]) >> 1);
		return false;
	}
	return cover_box(n, &low, gap) && cover_box(n, &high, gap);
}

/* The first position next to our zones that no known zone covers. */
static bool
cover_find_gap(struct node *n, struct geom_point *gap)
{
	for (int z = 0; z < n->self.nzones; z++) {
		const struct geom_zone *mine = &n->self.zones[z];

		for (int i = 0; i < n->cfg.dims; i++) {
			if (mine->bits[i] == 32)
				continue; /* wraps onto itself */
			for (int side = 0; side < 2; side++) {
				struct geom_zone f = *mine;

				f.bits[i] = 0;
				f.lo[i] = side ? (uint32_t)geom_zone_hi(mine,
				    i) : mine->lo[i] - 1;
				if (!cover_box(n, &f, gap))
					return true;
			}
		}
	}
	return false;
}

/* The owner of a hole answered: take it as a (second-hand) neighbour. */
static void
cover_lookup_cb(struct node *n, void *arg, const struct wire_header *h,
    const uint8_t *body)
{
	struct wire_membership m;

	(void)arg;
	n->cover_pending = false;
	if (h == NULL || h->type != WIRE_LOOKUP_REPLY ||
	    wire_membership_decode(body, h->len, &m) != 0) {
		n->cover_tries++;	/* next time, through another neighbour */
		return;
	}
	n->cover_tries = 0;
	if (node_learn(n, &m.self, false) != NULL)
		log_info("found neighbour %s (%s) by looking up a hole in our "
		    "neighbour table", node_idstr(m.self.id), m.self.addr);
	wire_membership_free(&m);
}

/* A candidate first hop of a hole lookup. */
struct cover_via {
	geom_dist_t d;
	uint64_t id;
	struct nbr *e;
};

/* Nearer to the hole first, then the smaller id. */
static int
cover_via_cmp(const void *a, const void *b)
{
	const struct cover_via *x = a, *y = b;

	if (x->d != y->d)
		return x->d < y->d ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

/*
 * The neighbour to start a hole lookup at: the nearest to the hole after
 * no failure, the next one after each failure in a row (cover_tries).
 */
static struct nbr *
cover_pick_via(struct node *n, const struct geom_point *gap)
{
	struct cover_via *v;
	struct nbr *e, *via = NULL;
	size_t nv = 0, cap = 0;

	TAILQ_FOREACH(e, &n->nbrs, entry)
		cap++;
	v = calloc(cap ? cap : 1, sizeof *v);
	if (v == NULL)
		return NULL;
	TAILQ_FOREACH(e, &n->nbrs, entry) {
		if (e->failed || e->heard_ms == 0)
			continue;
		v[nv].d = nbr_node_dist2(&e->info, gap, n->cfg.dims);
		v[nv].id = e->info.id;
		v[nv++].e = e;
	}
	if (nv > 0) {
		qsort(v, nv, sizeof *v, cover_via_cmp);
		via = v[(size_t)n->cover_tries % nv].e;
	}
	free(v);
	return via;
}

/* Every few heartbeats: look up one hole, if there is one. */
void
cover_check(struct node *n)
{
	struct geom_point gap;
	struct nbr *via;
	uint64_t reqid;

	if (n->state != NODE_ACTIVE || n->cover_pending ||
	    n->resume_until_ms != 0 || !cover_find_gap(n, &gap))
		return;
	/*
	 * No neighbour is strictly nearer to the hole than we are (it is one
	 * step from our zone), so greedy routing from here cannot start:
	 * start at a neighbour near it, which routes on.
	 */
	if ((via = cover_pick_via(n, &gap)) == NULL)
		return;
	reqid = rpc_new(n, cover_lookup_cb, NULL, COVER_LOOKUP_TIMEOUT_MS);
	node_route_send_via(n, via->info.addr, reqid, &gap);
	n->cover_pending = true;
}
