/*
 * coord.h: the coordinator of the replicated object store.
 *
 * A client's GET, PUT or DELETE (from canfs or canctl, on any daemon) is
 * coordinated by the daemon that received it: it resolves the key's
 * replica set (resolve.h) and talks to the replicas (replica.h).
 *
 * A request's progress is one state, enum coord_phase in coord.c, and
 * every change of it is logged at debug level with the write's op id.
 *
 * - Reads go to the primary; without a good copy there (or from a
 *   primary that gained its space lately) every replica is asked and the
 *   newest good copy wins and is written back to the primary.
 * - Writes: the primary decides the version; then, in parallel, the
 *   other replicas store it and the primary confirms its own commit.
 *   The client is answered once the primary and a majority hold it
 *   durably.  Retries keep the op id: before the primary's confirmation
 *   they go back to the primary (which recognises a write it already
 *   decided), after it they only replicate the decided version.
 * - A replica silent for 5 s counts as failed for that round; a request
 *   gives up after 10 attempts or 30 s with UNAVAIL.
 */
#ifndef CANFS_OVERLAY_COORD_H
#define CANFS_OVERLAY_COORD_H

#include "wire.h"

struct node;
struct conn;

/* Start coordinating a client's decoded GET, PUT or DEL from c. */
void coord_client(struct node *n, struct conn *c, const struct wire_header *h,
    const struct wire_obj *req);

/*
 * The outcome of a request started by coord_request(): type is
 * WIRE_OBJ_VALUE or WIRE_OBJ_DONE with *reply the body a client would
 * get (its data valid only during the call), or WIRE_ERROR with code and
 * msg (reply NULL).
 */
typedef void (*coord_done_fn)(struct node *n, void *arg, uint16_t type,
    const struct wire_obj *reply, uint32_t code, const char *msg);

/*
 * Coordinate a GET, PUT or DEL (type) exactly as coord_client() does --
 * same phases, op ids, durability and errors; req is copied -- but hand
 * the outcome to done(n, arg, ...) instead of a connection.  done is
 * called exactly once, possibly before this returns (a node that is not
 * serving, a value that fails the client's checksum).
 */
void coord_request(struct node *n, uint16_t type, const struct wire_obj *req,
    coord_done_fn done, void *arg);

#endif
