/* route.c: greedy next hop and the routing cache (see route.h). */
#include <stdio.h>
#include <string.h>

#include "host.h"
#include "nbr.h"
#include "route.h"

/* Greedy next hop, strictly closer than self. */
struct nbr *
route_next_hop(struct nbr_list *nbrs, const struct wire_node *self,
    const struct geom_point *p, int dims, uint64_t avoid)
{
	geom_dist_t mine = nbr_node_dist2(self, p, dims), best = mine;
	struct nbr *n, *pick = NULL;

	TAILQ_FOREACH(n, nbrs, entry) {
		geom_dist_t d;

		if (n->failed || n->info.nzones == 0 ||
		    n->info.addr[0] == '\0' || (avoid != 0 && n->info.id == avoid))
			continue;
		d = nbr_node_dist2(&n->info, p, dims);
		if (d < best || (d == best && d < mine && pick != NULL &&
		    n->info.id < pick->info.id)) {
			best = d;
			pick = n;
		}
	}
	return pick;
}

/* Empty the cache. */
void
route_cache_init(struct route_cache *rc)
{
	memset(rc, 0, sizeof *rc);
}

/* Insert or refresh one zone -> owner entry. */
static void
cache_put(struct route_cache *rc, const struct geom_zone *z, uint64_t id,
    const char *addr, int dims)
{
	struct route_cache_entry *slot = NULL;

	for (int i = 0; i < ROUTE_CACHE_SIZE; i++) {
		struct route_cache_entry *e = &rc->e[i];

		if (e->used != 0 && geom_zone_overlaps(&e->zone, z, dims)) {
			/* Stale overlapping knowledge: replace it. */
			e->used = 0;
		}
		if (e->used == 0 && slot == NULL)
			slot = e;
	}
	if (slot == NULL) {
		slot = &rc->e[0];
		for (int i = 1; i < ROUTE_CACHE_SIZE; i++) {
			if (rc->e[i].used < slot->used)
				slot = &rc->e[i];
		}
	}
	slot->zone = *z;
	slot->id = id;
	snprintf(slot->addr, sizeof slot->addr, "%s", addr);
	slot->used = ++rc->clock;
	slot->learned_ms = host_now_ms();
}

/* Learn every zone of an owner. */
void
route_cache_learn(struct route_cache *rc, const struct wire_node *owner,
    int dims)
{
	if (owner->addr[0] == '\0')
		return;
	for (int i = 0; i < owner->nzones; i++)
		cache_put(rc, &owner->zones[i], owner->id, owner->addr, dims);
}

/* Drop a node's entries. */
void
route_cache_forget(struct route_cache *rc, uint64_t id)
{
	for (int i = 0; i < ROUTE_CACHE_SIZE; i++) {
		if (rc->e[i].id == id)
			rc->e[i].used = 0;
	}
}

/* Drop the entries pointing at addr. */
void
route_cache_forget_addr(struct route_cache *rc, const char *addr)
{
	for (int i = 0; i < ROUTE_CACHE_SIZE; i++) {
		if (rc->e[i].used != 0 && strcmp(rc->e[i].addr, addr) == 0)
			rc->e[i].used = 0;
	}
}

/* Drop the entry covering p. */
void
route_cache_forget_point(struct route_cache *rc, const struct geom_point *p,
    int dims)
{
	for (int i = 0; i < ROUTE_CACHE_SIZE; i++) {
		if (rc->e[i].used != 0 &&
		    geom_zone_contains(&rc->e[i].zone, p, dims))
			rc->e[i].used = 0;
	}
}

/* Cached owner entry for p. */
const struct route_cache_entry *
route_cache_find(struct route_cache *rc, const struct geom_point *p, int dims)
{
	uint64_t now = host_now_ms();

	for (int i = 0; i < ROUTE_CACHE_SIZE; i++) {
		struct route_cache_entry *e = &rc->e[i];

		if (e->used != 0 && geom_zone_contains(&e->zone, p, dims)) {
			if (now - e->learned_ms > ROUTE_CACHE_TTL_MS) {
				e->used = 0;
				break;
			}
			e->used = ++rc->clock;
			rc->hits++;
			return e;
		}
	}
	rc->misses++;
	return NULL;
}

/* Cached owner address for p. */
const char *
route_cache_lookup(struct route_cache *rc, const struct geom_point *p,
    int dims)
{
	const struct route_cache_entry *e = route_cache_find(rc, p, dims);

	return e ? e->addr : NULL;
}
