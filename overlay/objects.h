/*
 * objects.h: the replicated object store on the overlay.
 *
 * Client side (coordinator): GET, PUT and DELETE of a 128-bit key, served
 * to local clients.  The coordinator resolves the key's replica set
 * (resolve.h) and talks to the replicas directly.
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
 * - Write rule: a write is acknowledged once the primary has committed it
 *   and every other replica has either committed it or failed to answer
 *   within the timeout, and at least a majority of the replica set holds
 *   it.  Replicas that missed it are brought up to date by repair.
 * - Read rule: reads go to the primary (read-your-writes, close-to-open);
 *   if it has no good copy (missing, corrupt, unreachable), every other
 *   replica is asked and the newest good copy wins (and is written back
 *   to the primary).  Every copy's checksum is verified before use.
 * - Deletes write a tombstone (a version with no data), kept for
 *   --tombstone-ttl so that repair never resurrects a deleted object.
 *
 * Replica side: R_GET, R_PUT and XFER on the local store.  Writes are
 * queued for the store's commit thread (group commit: what arrives while
 * a batch commits shares the next fsync); acknowledgements wait for the
 * commit, and reads see committed copies only.
 *
 * Idempotence: every write carries an op id (wire_opid; the coordinator
 * assigns one when an old client sent none).  A replica remembers the
 * writes it applied lately (and the record keeps the id of the write
 * that made it), so a primary asked again to decide a write it already
 * decided answers with that version instead of checking the condition
 * anew: a retry never comes back CONFLICT because of itself.
 *
 * Write path (coordinator): the primary decides the version and answers
 * at once (OBJ_DONE flagged DECIDED); the coordinator then sends the
 * version to the other replicas and asks the primary to CONFIRM its
 * commit, all in parallel, and acknowledges once the primary and a
 * majority hold it durably.  Until the primary has confirmed, a retry
 * goes back to the primary with the same op id; after, a retry only
 * replicates the decided version again.
 */
#ifndef CANFS_OBJECTS_H
#define CANFS_OBJECTS_H

#include <stdint.h>

#include "wire.h"

struct node;
struct conn;
struct store_id;
struct store_meta;

/* Open the store in DATA/store and set up the commit event. */
int objects_init(struct node *n, char *err, size_t errlen);
void objects_free(struct node *n);

/* OBJ_* frames from clients and peers. */
void objects_frame(struct node *n, struct conn *c, const struct wire_header *h,
    const uint8_t *body);

/*
 * Store a replica if it is newer than ours, queued ones included
 * (transfers and repair).  Returns 0 or a STORE_* code.
 */
int objects_store_if_newer(struct node *n, const struct wire_obj *o);

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

#endif
