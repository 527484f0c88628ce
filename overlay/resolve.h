/*
 * resolve.h: which nodes hold the replicas of a key.
 *
 * Replica i of key K lives at point P_i(K) (hash.h).  The replica set is
 * the first k distinct owners met while probing i = 0, 1, 2, ... in that
 * fixed order (at most RESOLVE_PROBES(k) points), so every node that sees
 * the same zones computes the same set, and with at least k nodes the k
 * copies are on k different nodes.  The first member is the primary: the
 * serialization point for versions and compare-and-swap.
 *
 * Owners come from our own zones, the routing cache, or routed lookups.
 */
#ifndef CANFS_OVERLAY_RESOLVE_H
#define CANFS_OVERLAY_RESOLVE_H

#include <stdbool.h>
#include <stdint.h>

#include "hash.h"
#include "wire.h"

struct node;

#define RESOLVE_MAX 16
#define RESOLVE_PROBES(k) 64	/* enough even for very uneven zones */

struct replset {
	int n;
	struct replica {
		uint8_t index;		/* which hash function */
		struct geom_point p;	/* P_index(K) */
		uint64_t id;		/* owner */
		char addr[WIRE_ADDR_MAX];
	} r[RESOLVE_MAX];
};

/*
 * Called once with the set (err 0) or err -1 when a lookup failed; the set
 * may have fewer than k members when the overlay has fewer than k nodes.
 */
typedef void (*resolve_cb)(struct node *n, void *arg, const struct replset *rs,
    int err);

/*
 * Resolve the replica set of k.  nocache forces routed lookups (after a
 * reply showed the cache was stale).  cb may run before this returns.
 */
void resolve_replicas(struct node *n, const struct hash_key *k, bool nocache,
    resolve_cb cb, void *arg);

/*
 * Like resolve_replicas() with `want` distinct owners instead of k (at
 * most RESOLVE_MAX): the replica set, then the owners that would join it
 * if members went away.  After a takeover or a handover the holders of a
 * key's copies can be among those (repair has not moved the copies yet):
 * a read that finds nothing in the set asks them too.
 */
void resolve_owners(struct node *n, const struct hash_key *k, bool nocache,
    int want, resolve_cb cb, void *arg);

/* True when the set has a member (index, id). */
bool resolve_has(const struct replset *rs, unsigned index, uint64_t id);

#endif
