/*
 * objects.h: the replicated object store on the overlay, entry points.
 *
 * Four files make it up:
 * - objects.c: dispatch of OBJ_* frames, the store's lifetime, helpers;
 * - coord.h / coord.c: the coordinator of clients' GET/PUT/DEL;
 * - batch.h / batch.c: a client's OBJ_BATCH, each item through coord.c;
 * - replica.h / replica.c: the replica side on the local store.
 *
 * Rules, stated once:
 * - Versions are assigned by the primary (first member of the replica
 *   set), the serialization point: version = max(current + 1, wall clock
 *   in microseconds), so versions grow and a primary that lost its copy
 *   still writes newer versions than any surviving copy.
 * - Compare-and-swap (PUT/DELETE "if version V" or "if absent") is decided
 *   by the primary alone, in the order requests reach it; of two racing
 *   CAS writes at most one wins.  A primary without a local copy refuses
 *   (MISSING); the coordinator then fetches the newest copy from the other
 *   replicas, installs it at the primary, and retries.
 * - Idempotence: every write carries an op id; a retry never makes the
 *   primary decide the same write twice (see replica.h).
 * - Write rule: a write is acknowledged once the primary and a majority
 *   of the replica set hold it durably (the primary's commit overlaps the
 *   other replicas' stores).  Replicas that missed it are brought up to
 *   date by repair.
 * - Read rule: reads go to the primary (read-your-writes, close-to-open);
 *   if it has no good copy (missing, corrupt, unreachable), every other
 *   replica is asked and the newest good copy wins (and is written back
 *   to the primary).  When that finds nothing, or the primary gained
 *   its space lately, the owners that follow the set in probe order are
 *   asked too (resolve_owners): after a takeover and a handover the
 *   copies wait there until repair moves them.  Every copy's checksum is
 *   verified before use, and only committed copies are ever served.
 * - Deletes write a tombstone (a version with no data), kept for
 *   --tombstone-ttl so that repair never resurrects a deleted object.
 */
#ifndef CANFS_OVERLAY_OBJECTS_H
#define CANFS_OVERLAY_OBJECTS_H

#include <stdint.h>

#include "wire.h"

struct node;
struct conn;
struct replica_state;
struct store_id;
struct store_meta;

/* The object layer's state, hung off struct node. */
struct objects {
	struct replica_state *rep;	/* the replica side (replica.c) */
	uint64_t op_seq;	/* coordinator: ids for writes without one */
};

/* Open the store in DATA/store and set up the commit event. */
int objects_init(struct node *n, char *err, size_t errlen);
void objects_free(struct node *n);

/* OBJ_* frames from clients and peers. */
void objects_frame(struct node *n, struct conn *c, const struct wire_header *h,
    const uint8_t *body);


/* Fill an object body for a stored replica, under id (data not copied). */
void objects_obj_from_store(struct node *n, const struct store_id *id,
    const struct store_meta *meta, const void *data, size_t len,
    struct wire_obj *o);

/* Send one local replica to addr as an XFER frame. */
void objects_send_xfer(struct node *n, struct conn *c,
    const struct store_id *id, const struct store_meta *meta,
    const void *data, size_t len);

/* Wall clock in milliseconds (tombstone ages, version clocks). */
uint64_t objects_wall_ms(void);
/* Wall clock in microseconds, the floor of new versions. */
uint64_t objects_wall_us(void);

/* Build a frame with an object body (w is initialised here). */
void objects_build_frame(struct wbuf *w, uint16_t type, uint32_t flags,
    uint64_t reqid, const struct wire_obj *o);
/* Send an object body on c (NULL: nothing happens). */
void objects_send_obj(struct conn *c, uint16_t type, uint32_t flags,
    uint64_t reqid, const struct wire_obj *o);
/* The wire error code for a STORE_* result. */
uint32_t objects_wire_error(int rc);

#endif
