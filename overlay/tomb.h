/*
 * tomb.h: tombstones of dead and departed nodes.
 *
 * Every node that learns of a death (its own takeover, a TAKEOVER, a
 * LEAVE, a leaving node's handover) remembers the dead node's (id,
 * incarnation) for TOMB_TTL_MS.  Meanwhile second-hand news of it (a
 * neighbour's stale list) is ignored, so it cannot come back into our
 * neighbour table, where greedy routing would send requests into the
 * void.  A node that speaks to us itself was only suspected: its
 * tombstone is cleared.
 *
 * A fixed ring: when full, the oldest tombstone goes first (entries
 * expire in the order they were made).  The clock is the caller's, so
 * the set can be tested without one.
 */
#ifndef CANFS_OVERLAY_TOMB_H
#define CANFS_OVERLAY_TOMB_H

#include <stdbool.h>
#include <stdint.h>

#define TOMB_MAX 64
#define TOMB_TTL_MS 60000

struct tomb_set {
	struct tomb {
		uint64_t id, inc;
		uint64_t until_ms;	/* 0: cleared */
	} t[TOMB_MAX];
	int next;			/* the ring's oldest slot */
};

/* Remember (id, inc) as dead from now_ms on (renews an existing entry). */
void tomb_mark(struct tomb_set *s, uint64_t id, uint64_t inc,
    uint64_t now_ms);
/* True when (id, inc) is remembered as dead at now_ms. */
bool tomb_is_dead(const struct tomb_set *s, uint64_t id, uint64_t inc,
    uint64_t now_ms);
/* (id, inc) spoke for itself: forget its tombstone.  True if it had one. */
bool tomb_clear(struct tomb_set *s, uint64_t id, uint64_t inc,
    uint64_t now_ms);

#endif
