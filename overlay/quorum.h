/*
 * quorum.h: is our side of a split the one that may take over?
 *
 * A node that hears from none of its neighbours knows it is cut off
 * (node.c).  A *group* cut off together cannot tell that way: its members
 * hear each other and would take over the rest of the space, so both
 * sides would accept writes (split brain).  The rule: a node takes over a
 * dead neighbour's zones only after a survey has found live owners of at
 * least half of the space's volume reachable from here; a node whose
 * survey finds less is in the *minority*: it takes nothing over and
 * serves no requests (node_cut_off() is true), exactly as a node cut off
 * alone, until a later survey finds half again (the link healed).  Its
 * zones are meanwhile taken over by the other side, which can reach more
 * than half.  Volume, not node count: zones are what is served, and the
 * volumes of a split's two sides add up to at most 1, so at most one side
 * reaches more than half.  A side of exactly half keeps going (a crash of
 * a node holding half the space must not stop the other half), so a split
 * into two equal halves is still a split brain, settled after the heal as
 * before (claim.h).
 *
 * A survey counts our own zones and those of neighbours heard within two
 * heartbeats exactly; when they make less than half, it looks up random
 * points of the rest of the space through the overlay (LOOKUP, 2 s each,
 * 8 at once, 16 to 32 in all).  Every owner that answers adds its zones'
 * volume exactly; the share of points answered estimates the rest.  A
 * minority node's heartbeats carry WIRE_HB_MINORITY, so its group's
 * interior nodes, which see no failure themselves, survey at once.
 */
#ifndef CANFS_OVERLAY_QUORUM_H
#define CANFS_OVERLAY_QUORUM_H

#include <stdbool.h>
#include <stdint.h>

struct node;

/* A survey's verdict stays fresh this long for takeovers. */
#define QUORUM_FRESH_MS 3000
/* While in the minority, survey again this often. */
#define QUORUM_RETRY_MS 2000

void quorum_init(struct node *n);
void quorum_free(struct node *n);

/*
 * Before a takeover: true when a survey finished within QUORUM_FRESH_MS
 * found at least half of the space; otherwise start one (unless one runs)
 * and return false: ask again in a heartbeat.
 */
bool quorum_majority(struct node *n);

/* A neighbour reports it is in the minority: survey soon. */
void quorum_hint(struct node *n);

/* Every heartbeat: the minority's periodic surveys. */
void quorum_tick(struct node *n, uint64_t now);

/* Since when this node is in the minority (0: it is not). */
uint64_t quorum_minority_since(const struct node *n);

#endif
