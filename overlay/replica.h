/*
 * replica.h: the replica side of the object store.
 *
 * A node stores the replicas whose points lie in its zones.  Peers (the
 * coordinators of coord.h) ask it to:
 * - R_GET: answer its newest committed copy of a key (any replica index
 *   of the key in our zones), flagged UNSURE while we gained space lately;
 * - R_PUT as primary: check the condition against our newest state
 *   (queued writes included), assign the version, queue the write and
 *   answer the decision at once (OBJ_DONE flagged DECIDED);
 * - R_PUT with CONFIRM: answer once the decided version is durable here;
 * - R_PUT as secondary: store the given version if newer, answer once
 *   durable;
 * - XFER (one-way): keep a replica moving here if newer.
 *
 * Idempotence: a write's op id is kept in the record and in a table of
 * the last 65,536 writes applied here; a primary asked to decide a write
 * it already applied answers with the version it made.
 *
 * No reply claims durability before the store's commit thread has made
 * the write durable and the record has been checked (store.h).
 */
#ifndef CANFS_OVERLAY_REPLICA_H
#define CANFS_OVERLAY_REPLICA_H

#include <stdbool.h>

#include "wire.h"

struct node;
struct conn;
struct replica_state;
struct store_id;
struct store_meta;

/* Set up the replica side of n (its store is open); free it. */
struct replica_state *replica_new(struct node *n);
void replica_free(struct replica_state *r);

/* Serve a decoded R_GET, R_PUT or XFER. */
void replica_frame(struct node *n, struct conn *c, const struct wire_header *h,
    const struct wire_obj *o);

/*
 * Store a replica if it is newer than ours, queued writes included
 * (transfers and repair).  Returns 0 or a STORE_* code.
 */
int replica_store_if_newer(struct node *n, const struct wire_obj *o);

/*
 * The newest local copy of a key for replica id: the copy at id, and
 * while this node gained space lately ("unsure") also the copies at the
 * key's other replica indices whose points lie in our zones, the newest
 * winning.  latest: queued writes count too (a primary's decision), else
 * committed ones only (reads).  Returns 0 with *found and *meta set, or
 * STORE_NOTFOUND.
 */
int replica_local_newest(struct node *n, const struct store_id *id,
    struct store_id *found, struct store_meta *meta, bool latest);

#endif
