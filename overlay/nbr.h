/*
 * nbr.h: the neighbour table.
 *
 * Every node we know of whose zones abut ours: heard directly (it sent us
 * heartbeats) or learned second hand from a neighbour's heartbeat, which
 * carries that neighbour's own neighbour list.  Keeping each neighbour's
 * list is what gives us our neighbours' neighbours, needed to take over a
 * dead neighbour's zone and to tell its other neighbours.
 *
 * A node is identified by (id, incarnation): a restarted daemon keeps its
 * id but has a new incarnation, and its old incarnation's zones must still
 * be taken over like any dead node's.
 */
#ifndef CANFS_OVERLAY_NBR_H
#define CANFS_OVERLAY_NBR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "wire.h"

struct host_timer;

struct nbr {
	struct wire_node info;	  /* newest known zones/epoch/address */
	struct wire_node *nbrs;	  /* its neighbour list, last heartbeat */
	uint32_t nnbrs;
	uint64_t first_ms;	  /* when we first learned of it */
	uint64_t heard_ms;	  /* last direct message; 0 = second hand */
	uint64_t suspect_ms;	  /* silent too long: probed at this time,
				     declared failed if still silent */
	bool failed;		  /* declared failed; takeover under way */
	uint64_t admitted_ms;	  /* we admitted it (join), or learned
				     its zones second hand, and it has
				     not spoken since: not judged silent
				     yet (NODE_JOIN_GRACE_MS) */
	uint64_t overlap_ms;	  /* its zones overlap ours since then
				     (claim.h); 0 = they do not */
	uint64_t space_used;	  /* its store: bytes used and free */
	uint64_t space_avail;
	struct host_timer *takeover; /* takeover timer while failed */
	struct node *owner;	  /* for the timer callback */
	TAILQ_ENTRY(nbr) entry;
};
TAILQ_HEAD(nbr_list, nbr);

/* Find by id and incarnation. */
struct nbr *nbr_find(struct nbr_list *l, uint64_t id, uint64_t inc);
/* Add a new entry (copy of info). */
struct nbr *nbr_add(struct nbr_list *l, const struct wire_node *info,
    uint64_t now_ms);
/* Unlink and free (cancels its timer). */
void nbr_remove(struct nbr_list *l, struct nbr *n);
/* Replace the stored neighbour list with a copy of list[0..n). */
void nbr_set_list(struct nbr *n, const struct wire_node *list, uint32_t cnt);

/* True when any zone of a abuts any zone of b (CAN neighbours). */
bool nbr_nodes_adjacent(const struct wire_node *a, const struct wire_node *b,
    int dims);
/*
 * True when a belongs in b's neighbour table: adjacent, or overlapping (a
 * contested claim, kept so that both keep hearing each other until the
 * overlap is settled; see claim.h).
 */
bool nbr_nodes_near(const struct wire_node *a, const struct wire_node *b,
    int dims);
/* True when any zone of a overlaps any zone of b. */
bool nbr_nodes_overlap(const struct wire_node *a, const struct wire_node *b,
    int dims);
/* Total share of the space held by a node (sum of zone shares). */
double nbr_node_share(const struct wire_node *n, int dims);
/* Squared distance from the nearest zone of n to p. */
geom_dist_t nbr_node_dist2(const struct wire_node *n,
    const struct geom_point *p, int dims);
/* True when one of n's zones contains p. */
bool nbr_node_contains(const struct wire_node *n, const struct geom_point *p,
    int dims);

#endif
