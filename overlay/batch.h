/*
 * batch.h: a client's OBJ_BATCH (the batch body is described in wire.h).
 *
 * Each sub-request is handed to the coordinator (coord.h) exactly as the
 * same GET, PUT or DEL sent alone would be -- same phases, op ids,
 * durability rules and errors -- and all of them run at once.  When the
 * last has finished, one OBJ_BATCH_REPLY carries every outcome, in the
 * order of the request.  The values of one reply are bounded by
 * WIRE_BATCH_MAX_DATA bytes in all: a GET whose value would not fit is
 * answered ERROR TOOBIG (the client reads it alone), so a batch holds no
 * more memory for its reply than the largest single value.
 *
 * A malformed batch drops the connection, as any malformed frame does;
 * a well-formed one always gets a reply with one item per sub-request,
 * which keeps the connection's in-flight count (conn.c counts a batch of
 * n as n requests) honest.
 */
#ifndef CANFS_OVERLAY_BATCH_H
#define CANFS_OVERLAY_BATCH_H

#include <stdint.h>

#include "wire.h"

struct node;
struct conn;

/* An OBJ_BATCH frame from c: decode it and start every sub-request. */
void batch_client(struct node *n, struct conn *c, const struct wire_header *h,
    const uint8_t *body);

#endif
