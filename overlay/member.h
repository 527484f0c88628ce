/*
 * member.h: changes of membership that move zones between nodes: join
 * (the owner splits its zone, or gives a spare one, to the newcomer),
 * graceful leave (handover of every zone to an heir), and background
 * reassignment (a node holding a spare zone gives it to the owner of that
 * zone's sibling, which merges the two).  Takeover of failed nodes is in
 * node.c, with failure detection.
 */
#ifndef CANFS_OVERLAY_MEMBER_H
#define CANFS_OVERLAY_MEMBER_H

#include <stdbool.h>
#include <stdint.h>

#include "wire.h"

struct node;
struct nbr;
struct conn;

/*
 * Start joining: send our JOIN through the next bootstrap peer.  It is a
 * request in the node's table (rpc.h) until an owner admits us: resent
 * through the next peer after 3 s without an answer, 1.5 s after a
 * refusal.
 */
void member_send_join(struct node *n);
/* As owner (or as the largest neighbour asked to split): admit a joiner. */
void member_handle_join(struct node *n, const struct wire_header *h,
    const struct wire_routed *rt);
/*
 * HANDOVER (we are the heir), and JOIN_ACCEPT when no join request of
 * ours takes it (an attempt we gave up on: its owner gave the zone away
 * all the same).  Answers to our own join and handover reach member.c
 * through the request table.
 */
void member_frame(struct node *n, struct conn *c, const struct wire_header *h,
    const struct wire_membership *m);
/* Every heartbeat: leave progress and retries, reassignment, peers file. */
void member_tick(struct node *n, uint64_t now);
/* Node (id, inc) was declared failed: a handover to it fails now. */
void member_heir_failed(struct node *n, uint64_t id, uint64_t inc);
/* Use the peers saved in the data dir as bootstraps if none were given. */
void member_load_peers(struct node *n);
/*
 * Our zones are kept in DATA/state so that a node restarted on its data
 * directory resumes them (and serves the replicas it stored) instead of
 * joining afresh; this is also how a whole overlay restarts.  Saved on
 * every change of our zones; empty after a graceful leave.
 */
void member_save_state(struct node *n);
/* Resume saved zones; returns false when there are none. */
bool member_resume(struct node *n);
/* While resuming: someone else holds part of our space; join instead. */
void member_resume_conflict(struct node *n, const struct wire_node *other);
/*
 * A neighbour whose zones overlap ours spoke: once the overlap has lasted
 * a while, apply claim.h's rule (give up what the other keeps; with no
 * zone left, join afresh).  True when our zones changed.
 */
bool member_settle_claims(struct node *n, struct nbr *e);
/* We hold no zone: forget our neighbours and join afresh (why: logged). */
void member_rejoin(struct node *n, const char *why);

#endif
