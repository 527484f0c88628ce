/*
 * rpc.h: requests this node sends and waits for, by request id.
 *
 * A request gets a fresh id and a callback; the reply (any frame whose
 * header carries that id: a direct answer, or an owner's answer to a
 * routed message) completes it.  A timer fails it with h == NULL, so no
 * request waits forever when a peer dies or a link is cut.
 */
#ifndef CANFS_OVERLAY_RPC_H
#define CANFS_OVERLAY_RPC_H

#include <stdbool.h>
#include <stdint.h>

#include "wire.h"

struct node;

/*
 * Reply (h, body) or failure (h == NULL: timeout, or the node is
 * shutting down).  Called exactly once per request.
 */
typedef void (*rpc_cb)(struct node *n, void *arg, const struct wire_header *h,
    const uint8_t *body);

/* Register a request; returns its id (send the frame with it). */
uint64_t rpc_new(struct node *n, rpc_cb cb, void *arg, int timeout_ms);
/*
 * Like rpc_new, for a request sent on connection serial `conn`: if that
 * connection closes first, the request fails at once (rpc_conn_closed).
 */
uint64_t rpc_new_on(struct node *n, uint64_t conn, rpc_cb cb, void *arg,
    int timeout_ms);
/* Fail every request bound to a connection that has closed. */
void rpc_conn_closed(struct node *n, uint64_t conn);
/* Hand a frame to the request with its id; false when none waits. */
bool rpc_complete(struct node *n, const struct wire_header *h,
    const uint8_t *body);
/* Forget a request without calling it back. */
void rpc_cancel(struct node *n, uint64_t reqid);
/* Fail every outstanding request (shutdown). */
void rpc_fail_all(struct node *n);
/* Requests outstanding. */
int rpc_count(const struct node *n);

#endif
