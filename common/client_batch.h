/*
 * client_batch.h: several object requests in one frame (OBJ_BATCH, see
 * wire.h) on a multiplexed connection (struct client_mux, client.h).
 *
 * Build a batch with client_batch_add() (each GET, PUT or DEL is encoded
 * at once, its value copied), send it with client_batch_send() -- one
 * request on the mux, pipelined with any others -- and wait for it with
 * client_batch_wait().  The daemon runs the sub-requests concurrently,
 * each exactly as it would run alone (a write's op id, its durability,
 * its errors), and answers them all in one reply, in order; the reply is
 * checked against the batch (one result per item, of the type its
 * request expects, for the same key) before any result is given out.
 *
 * A batch holds at most WIRE_BATCH_MAX items and must fit one frame
 * (WIRE_MAX_BODY bytes); client_batch_add() says when it is full.  A
 * GET whose value did not fit the reply (the values of one reply hold at
 * most WIRE_BATCH_MAX_DATA bytes) comes back as WIRE_E_TOOBIG: read it
 * alone.  Retrying is the caller's business: a write sent again must
 * keep its op id (meta.op), as with single requests.
 *
 * A struct client_batch is used by one thread at a time.  After a send it
 * may be sent again (the same frame, e.g. on a new connection); its
 * results are valid until the next send, reset or free.
 */
#ifndef CANFS_COMMON_CLIENT_BATCH_H
#define CANFS_COMMON_CLIENT_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client.h"
#include "wire.h"

struct client_batch;

/* A new, empty batch.  Free with client_batch_free() (accepts NULL). */
struct client_batch *client_batch_new(void);
void client_batch_free(struct client_batch *b);
/* Empty b for new items (results and errors are dropped). */
void client_batch_reset(struct client_batch *b);

/*
 * Add a GET, PUT or DEL (type) of req, encoded now (req->data copied).
 * Returns the item's index; -1 when b is full (WIRE_BATCH_MAX items, or
 * the frame would pass WIRE_MAX_BODY bytes: send it and start another);
 * -2 for a request no batch can carry (another type, a value over
 * WIRE_MAX_VALUE).
 */
int client_batch_add(struct client_batch *b, uint16_t type,
    const struct wire_obj *req);
/* Items in b, and the bytes of its frame's body. */
size_t client_batch_count(const struct client_batch *b);
size_t client_batch_bytes(const struct client_batch *b);

/*
 * Send b (at least one item) on m as one request whose deadline is
 * timeout_ms from now (as client_mux_send()); never NULL.  Wait for it
 * with client_batch_wait() and free it with client_req_free().
 */
struct client_req *client_batch_send(struct client_batch *b,
    struct client_mux *m, int timeout_ms);

/*
 * Wait for r, the request of b's last send, and check its reply.
 * Returns 0 with the results in b (client_batch_result()), or -1 when
 * the batch as a whole failed: client_batch_error() says why, and
 * client_batch_error_code() gives the code of a WIRE_ERROR reply to the
 * whole batch (else WIRE_E_OK: a timeout, a broken connection -- then
 * client_batch_broken() -- or a reply that does not match the batch).
 */
int client_batch_wait(struct client_batch *b, struct client_req *r);

/*
 * The result of item i after client_batch_wait() returned 0: WIRE_E_OK
 * with the reply body in *reply (OBJ_VALUE for a GET, with data pointing
 * into b; OBJ_DONE for a PUT or DEL, meta.version the version written),
 * or the item's WIRE_E_* code with its text in *msg (escaped; either
 * output may be NULL).
 */
uint32_t client_batch_result(const struct client_batch *b, size_t i,
    struct wire_obj *reply, const char **msg);

/* Why the last wait failed ("" if it did not), and details (see above). */
const char *client_batch_error(const struct client_batch *b);
uint32_t client_batch_error_code(const struct client_batch *b);
bool client_batch_broken(const struct client_batch *b);

#endif
