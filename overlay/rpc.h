/*
 * rpc.h: the daemon's one table of outstanding requests, by request id.
 *
 * Everything the node sends and waits for lives here: object calls to
 * replicas, repair digests, lookups for local clients and for our own use,
 * our join, a handover.  A request gets a fresh id and a callback; the
 * reply (any reply frame whose header carries that id: a direct answer,
 * or an owner's answer to a routed message) completes it.  A timer fails
 * it with h == NULL, so no request waits forever when a peer dies or a
 * link is cut.
 *
 * A request may also be bound to connections (by serial):
 *   - the one it was sent on (rpc_new_on, rpc_bind): when that closes, the
 *     answer may never come, so the request fails at once, or is sent
 *     again by its retry hook (rpc_set_retry);
 *   - the client it answers (rpc_set_client): when that closes there is
 *     nobody left to answer, so the request fails at once, without asking
 *     the retry hook.
 * Closed connections are reported from inside conn_close(); the failures
 * they cause run later from the event loop, never inside that call (a
 * connection can close in the middle of a caller's loop over replicas).
 */
#ifndef CANFS_OVERLAY_RPC_H
#define CANFS_OVERLAY_RPC_H

#include <stdbool.h>
#include <stdint.h>

#include "wire.h"

struct node;

/*
 * Reply (h, body) or failure (h == NULL: timeout, a bound connection
 * closed, or the node is shutting down).  Called exactly once per request.
 */
typedef void (*rpc_cb)(struct node *n, void *arg, const struct wire_header *h,
    const uint8_t *body);

/* Why a request is about to fail (see rpc_retry_cb). */
enum rpc_event {
	RPC_TIMEOUT,	/* its time ran out */
	RPC_CLOSED,	/* the connection it was sent on closed */
};

/*
 * Optional, per request: asked before it fails on a timeout or on the
 * close of the connection it was sent on.  Return true when the request
 * was sent again and goes on waiting under the same id (the hook may
 * rpc_bind and rpc_rearm it; without rpc_rearm it keeps its deadline,
 * and one already past fails it), false to let it fail.  Never asked on
 * shutdown, nor when the client's connection closed.
 */
typedef bool (*rpc_retry_cb)(struct node *n, void *arg, uint64_t reqid,
    enum rpc_event ev);

/* Register a request; returns its id (send the frame with it). */
uint64_t rpc_new(struct node *n, rpc_cb cb, void *arg, int timeout_ms);
/*
 * Like rpc_new, for a request sent on connection serial `conn`: if that
 * connection closes first, the request fails (or is retried) at once.
 */
uint64_t rpc_new_on(struct node *n, uint64_t conn, rpc_cb cb, void *arg,
    int timeout_ms);
/* Set a request's retry hook. */
void rpc_set_retry(struct node *n, uint64_t reqid, rpc_retry_cb retry);
/* Drop the request (fail it at once) when connection `client` closes. */
void rpc_set_client(struct node *n, uint64_t reqid, uint64_t client);
/* The request is now waiting on connection `conn` (0: none). */
void rpc_bind(struct node *n, uint64_t reqid, uint64_t conn);
/* Give the request a new deadline, timeout_ms from now. */
void rpc_rearm(struct node *n, uint64_t reqid, int timeout_ms);
/* A connection has closed: fail or retry the requests bound to it. */
void rpc_conn_closed(struct node *n, uint64_t conn);
/* Hand a frame to the request with its id; false when none waits. */
bool rpc_complete(struct node *n, const struct wire_header *h,
    const uint8_t *body);
/* Forget a request without calling it back. */
void rpc_cancel(struct node *n, uint64_t reqid);
/*
 * Fail every outstanding request (shutdown), once each; requests that
 * callbacks start meanwhile fail too.  Retry hooks are not asked.
 */
void rpc_fail_all(struct node *n);
/* Requests outstanding. */
int rpc_count(const struct node *n);

#endif
