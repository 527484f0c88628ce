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
struct conn;

/* Send (or resend) our JOIN to the next bootstrap peer. */
void member_send_join(struct node *n);
/* While joining: resend when the last attempt got no answer. */
void member_join_tick(struct node *n, uint64_t now);
/* A bootstrap or owner refused our join (it is retried). */
void member_join_refused(struct node *n, uint32_t code, const char *msg);
/* As owner (or as the largest neighbour asked to split): admit a joiner. */
void member_handle_join(struct node *n, const struct wire_header *h,
    const struct wire_routed *rt);
/* JOIN_ACCEPT, HANDOVER and HANDOVER_ACK. */
void member_frame(struct node *n, struct conn *c, const struct wire_header *h,
    const struct wire_membership *m);
/* The heir refused a handover: try another. */
void member_handover_refused(struct node *n, uint32_t code,
    const char *msg);
/* Every heartbeat: handover timeouts, reassignment, saving peers. */
void member_tick(struct node *n, uint64_t now);
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

#endif
