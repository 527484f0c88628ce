/*
 * route.h: greedy CAN routing and the routing cache.
 *
 * Greedy rule: forward to the neighbour whose zone is nearest (torus
 * Euclidean distance from the zone, not its centre) to the target point,
 * and only if that is strictly nearer than our own zones.  In a correct
 * tiling such a neighbour always exists (step from our nearest point one
 * position toward the target: the zone there overlaps us in d-1 dimensions
 * and abuts in one), so greedy routing never loops; when tables are stale
 * and none exists, the request fails with NOROUTE instead of looping.
 *
 * The cache maps zones to owners learned from replies, so repeated
 * requests go straight to the owner.  Correctness never depends on it: a
 * node that receives a request for a point it does not own routes it on.
 */
#ifndef CANFS_OVERLAY_ROUTE_H
#define CANFS_OVERLAY_ROUTE_H

#include <stdint.h>

#include "geom.h"
#include "wire.h"

struct nbr_list;
struct nbr;

#define ROUTE_CACHE_SIZE 1024
/*
 * Entries older than this are ignored: zones move (joins, leaves,
 * takeovers, reassignment) and nobody tells the far-away caches, so a
 * stale entry costs one wrong try and never lives long.
 */
#define ROUTE_CACHE_TTL_MS 10000

struct route_cache_entry {
	struct geom_zone zone;
	uint64_t id;
	char addr[WIRE_ADDR_MAX];
	uint64_t used;	/* LRU clock; 0 = empty slot */
	uint64_t learned_ms; /* monotonic time it was learned */
};

struct route_cache {
	struct route_cache_entry e[ROUTE_CACHE_SIZE];
	uint64_t clock;
	uint64_t hits, misses;
};

/*
 * Neighbour to forward to: the one (not failed, with zones) nearest to p,
 * strictly nearer than self; ties go to the smaller id.  NULL if none.
 * Never the node with id avoid (0: none): a message's origin, which may
 * be nearer than we are only when it started the message at a neighbour
 * on purpose (cover.c: a hole next to its own zone).
 */
struct nbr *route_next_hop(struct nbr_list *nbrs, const struct wire_node *self,
    const struct geom_point *p, int dims, uint64_t avoid);

void route_cache_init(struct route_cache *rc);
/* Remember that node id at addr owns every zone of owner. */
void route_cache_learn(struct route_cache *rc, const struct wire_node *owner,
    int dims);
/* Forget every entry for node id (it left or died). */
void route_cache_forget(struct route_cache *rc, uint64_t id);
/* Forget every entry pointing at addr (its connection failed). */
void route_cache_forget_addr(struct route_cache *rc, const char *addr);
/* Forget the entry covering p (its owner said it is not the owner). */
void route_cache_forget_point(struct route_cache *rc,
    const struct geom_point *p, int dims);
/* The cached owner entry of p, or NULL. */
const struct route_cache_entry *route_cache_find(struct route_cache *rc,
    const struct geom_point *p, int dims);
/* Address of the cached owner of p, or NULL. */
const char *route_cache_lookup(struct route_cache *rc,
    const struct geom_point *p, int dims);

#endif
