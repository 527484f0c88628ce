/* resolve.c: replica sets by probing hash functions (see resolve.h). */
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "log.h"
#include "node.h"
#include "resolve.h"
#include "rpc.h"
#include "stats.h"
#include "xmalloc.h"

#define RESOLVE_LOOKUP_TIMEOUT_MS 3000

struct resolve {
	struct node *n;
	struct hash_key key;
	bool nocache;
	resolve_cb cb;
	void *arg;
	int k, maxprobe;
	int next;		/* next index to probe */
	int outstanding;	/* lookups in flight */
	bool launching;		/* inside resolve_round() */
	bool failed;
	struct {
		uint64_t id;
		char addr[WIRE_ADDR_MAX];
	} owner[64];
};

/* One lookup of the slot's owner came back. */
struct resolve_slot {
	struct resolve *r;
	int index;
	uint64_t sent_us;	/* for its latency (stats.h) */
};

static void resolve_round(struct resolve *r);

/*
 * Count distinct owners among the probed indices, in index order; fill rs
 * if given.  Compares with the owners found so far (at most k), not with
 * every earlier index: with few nodes, a key can take dozens of probes.
 */
static int
resolve_collect(struct resolve *r, struct replset *rs)
{
	uint64_t ids[RESOLVE_MAX];
	int have = 0;

	for (int i = 0; i < r->next && have < r->k && have < RESOLVE_MAX;
	    i++) {
		bool dup = false;

		for (int j = 0; j < have && !dup; j++)
			dup = ids[j] == r->owner[i].id;
		if (dup)
			continue;
		ids[have] = r->owner[i].id;
		if (rs != NULL) {
			struct replica *m = &rs->r[have];

			m->index = (uint8_t)i;
			hash_replica_point(&r->key, (unsigned)i,
			    r->n->cfg.dims, &m->p);
			m->id = r->owner[i].id;
			memcpy(m->addr, r->owner[i].addr, sizeof m->addr);
		}
		have++;
	}
	if (rs != NULL)
		rs->n = have;
	return have;
}

/* Every lookup of a round is in: finish, or probe further. */
static void
resolve_settle(struct resolve *r)
{
	struct replset rs;

	if (r->outstanding > 0 || r->launching)
		return;
	if (!r->failed && resolve_collect(r, NULL) < r->k &&
	    r->next < r->maxprobe) {
		resolve_round(r);
		return;
	}
	memset(&rs, 0, sizeof rs);
	if (!r->failed)
		resolve_collect(r, &rs);
	r->cb(r->n, r->arg, &rs, r->failed ? -1 : 0);
	free(r);
}

/* A routed lookup answered (or timed out). */
static void
resolve_lookup_cb(struct node *n, void *arg, const struct wire_header *h,
    const uint8_t *body)
{
	struct resolve_slot *s = arg;
	struct resolve *r = s->r;
	struct wire_membership m;

	if (h == NULL || h->type != WIRE_LOOKUP_REPLY ||
	    wire_membership_decode(body, h->len, &m) != 0) {
		r->failed = true;
		stats_request(n->stats, STATS_ROUTE, s->sent_us, false);
	} else {
		stats_request(n->stats, STATS_ROUTE, s->sent_us, true);
		stats_hops(n->stats, m.a);
		r->owner[s->index].id = m.self.id;
		memcpy(r->owner[s->index].addr, m.self.addr,
		    sizeof r->owner[0].addr);
		if (m.self.id != n->self.id)
			route_cache_learn(&n->cache, &m.self, n->cfg.dims);
		wire_membership_free(&m);
	}
	free(s);
	r->outstanding--;
	resolve_settle(r);
}

/* Find the owner of index i: ourselves, the cache, or a routed lookup. */
static void
resolve_probe(struct resolve *r, int i)
{
	struct node *n = r->n;
	const struct route_cache_entry *e;
	struct resolve_slot *s;
	struct geom_point p;
	uint64_t reqid;

	hash_replica_point(&r->key, (unsigned)i, n->cfg.dims, &p);
	if (nbr_node_contains(&n->self, &p, n->cfg.dims)) {
		r->owner[i].id = n->self.id;
		memcpy(r->owner[i].addr, n->self.addr, sizeof r->owner[i].addr);
		return;
	}
	if (!r->nocache &&
	    (e = route_cache_find(&n->cache, &p, n->cfg.dims)) != NULL) {
		r->owner[i].id = e->id;
		memcpy(r->owner[i].addr, e->addr, sizeof r->owner[i].addr);
		return;
	}
	s = xcalloc(1, sizeof *s);
	s->r = r;
	s->index = i;
	s->sent_us = stats_now_us();
	reqid = rpc_new(n, resolve_lookup_cb, s, RESOLVE_LOOKUP_TIMEOUT_MS);
	if (node_route_send(n, reqid, WIRE_R_LOOKUP, 0, &p, NULL,
	    false) != 0) {
		log_debug("resolve: no neighbour to route a lookup through");
		rpc_cancel(n, reqid);
		free(s);
		r->failed = true;
		return;
	}
	r->outstanding++;
}

/* Probe as many further indices as distinct owners are still missing. */
static void
resolve_round(struct resolve *r)
{
	int need = r->k - resolve_collect(r, NULL);

	r->launching = true;
	for (int i = 0; i < need && r->next < r->maxprobe; i++)
		resolve_probe(r, r->next++);
	r->launching = false;
	resolve_settle(r);
}

/* Resolve the replica set of key. */
void
resolve_replicas(struct node *n, const struct hash_key *key, bool nocache,
    resolve_cb cb, void *arg)
{
	resolve_owners(n, key, nocache, n->cfg.replicas, cb, arg);
}

/* The first `want` distinct owners (see resolve.h). */
void
resolve_owners(struct node *n, const struct hash_key *key, bool nocache,
    int want, resolve_cb cb, void *arg)
{
	struct resolve *r = xcalloc(1, sizeof *r);

	r->n = n;
	r->key = *key;
	r->nocache = nocache;
	r->cb = cb;
	r->arg = arg;
	r->k = want < RESOLVE_MAX ? want : RESOLVE_MAX;
	r->maxprobe = RESOLVE_PROBES(r->k);
	resolve_round(r);
}

/* Membership test. */
bool
resolve_has(const struct replset *rs, unsigned index, uint64_t id)
{
	for (int i = 0; i < rs->n; i++) {
		if (rs->r[i].index == index && rs->r[i].id == id)
			return true;
	}
	return false;
}
