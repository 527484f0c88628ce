/*
 * store.h: the node-local durable object store.
 *
 * Every canfsd keeps the replicas it holds in an LMDB environment in its
 * data directory.  A record is one replica of one object, identified by
 * (replica point, key, replica index); see struct store_id.
 *
 * On-disk format (bump STORE_FORMAT on ANY change):
 *   LMDB key   = d x u32 point coordinate (big-endian, dim 0 first),
 *                u64 key.hi, u64 key.lo (big-endian), u8 replica index.
 *                Big-endian so that LMDB's byte order is point order:
 *                records of one zone form a contiguous range in dim 0.
 *   LMDB value = u8 format, u8 flags, u64 version, u64 writer,
 *                u64 checksum (xxh3-64 of the data), u64 mtime_ms,
 *                u32 data length (all little-endian), then the data.
 *
 * Durability: writes accumulate in one open write transaction (a batch)
 * and become durable together in store_commit(), which costs one fsync
 * for the whole batch.  The caller may acknowledge a write to a peer only
 * after store_commit() has returned 0.  Committed data survives kill -9
 * and power loss (LMDB's copy-on-write B-tree with synchronous commits).
 *
 * Full disk: MDB_MAP_FULL and ENOSPC surface as STORE_FULL.  A put or
 * delete that fails that way is undone on its own (it runs in a nested
 * transaction); the rest of the batch and everything committed before
 * stays intact, so the daemon can answer ENOSPC and carry on.  Space
 * freed by a commit is reusable only after the next commit (LMDB keeps
 * the previous snapshot); when a batch starts on a full map, the store
 * commits once more by itself so that deletes make room at once.
 *
 * The store is not thread-safe; the daemon's event loop owns it.
 */
#ifndef CANFS_STORE_H
#define CANFS_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "geom.h"
#include "hash.h"

#define STORE_FORMAT 1 /* format byte of every value; see above */

/* Return codes besides 0 (success) and -1 (error, logged). */
#define STORE_NOTFOUND 1 /* no such record */
#define STORE_CORRUPT 2	 /* the record fails its checksum or header checks */
#define STORE_FULL 3	 /* map full or disk full: answer ENOSPC */

/* Record flags (u8 on disk). */
#define STORE_F_TOMBSTONE 0x1 /* deleted object, kept for its version */
#define STORE_F_ALL STORE_F_TOMBSTONE
/*
 * Never stored: iteration reports a record that fails its checks with
 * only this flag set (other meta fields zero, no data), so that callers
 * can drop or replace it.
 */
#define STORE_F_CORRUPT 0x100

#define STORE_MAP_DEFAULT ((size_t)64 << 30) /* sparse map: 64 GiB */
#define STORE_MAX_DATA (64u << 20)	      /* largest value we accept */
#define STORE_HEADER_LEN 38		      /* encoded value header */

struct store;

/* Identity of one record: replica `replica` of `key`, living at `point`. */
struct store_id {
	struct geom_point point; /* first d coordinates used, rest zero */
	struct hash_key key;
	uint8_t replica;
};

/* Everything about a record except its data. */
struct store_meta {
	uint64_t version;  /* object version, compared by the caller */
	uint64_t writer;   /* node id that wrote this version */
	uint64_t checksum; /* xxh3-64 of the data; computed by store_put */
	uint64_t mtime_ms; /* modification time, ms since the epoch */
	uint32_t flags;	   /* STORE_F_* */
	uint32_t len;	   /* data length; taken from store_put's len */
};

/*
 * Iteration callback.  id, meta and data are valid only during the call
 * (data points into the map: copy what you keep).  Return non-zero to
 * stop the iteration.  The callback must not call any store function that
 * writes (put, delete, commit, abort, close): collect, then act after the
 * iteration returns.  Reads (store_get etc.) are allowed.
 */
typedef int (*store_iter_cb)(const struct store_id *id,
    const struct store_meta *meta, const void *data, size_t len, void *arg);

/*
 * Open (creating if needed) the store in directory dir (created 0700;
 * files 0600; give the store a directory of its own, e.g. DATADIR/store,
 * since it takes an exclusive flock on dir) for a d-dimensional space.  map_size is the largest size the
 * database may grow to (0: STORE_MAP_DEFAULT); the file is sparse, so a
 * large map costs nothing until it is used.  A store remembers its d and
 * refuses to open with another.  dir can be open only once at a time,
 * in this process or any other.
 * Returns the store, or NULL with a message in err (errlen bytes).
 */
struct store *store_open(const char *dir, int dims, size_t map_size,
    char *err, size_t errlen);

/*
 * Close the store.  An open batch is ABORTED, not committed: call
 * store_commit() first to keep it.  Accepts NULL.
 */
void store_close(struct store *s);

/* Fill id for replica `replica` of key k, with its point in d dims. */
void store_id_make(const struct hash_key *k, unsigned replica, int dims,
    struct store_id *id);

/*
 * Add "id := (meta, data)" to the open batch (opening one if needed),
 * replacing any record with that id.  meta->version, writer, mtime_ms and
 * flags are stored; the checksum is computed here from data and len (the
 * meta fields of those names are ignored).  data may be NULL when len is
 * 0.  Returns 0, STORE_FULL (this write is dropped, the batch is intact),
 * or -1 (bad arguments or LMDB error; the batch is intact unless logged
 * otherwise).  Not durable until store_commit() returns 0.
 */
int store_put(struct store *s, const struct store_id *id,
    const struct store_meta *meta, const void *data, size_t len);

/*
 * Physically remove the record id in the open batch (opening one if
 * needed).  Tombstones are ordinary puts with STORE_F_TOMBSTONE; this is
 * for garbage collection and handover.  Returns 0, STORE_NOTFOUND,
 * STORE_FULL (copy-on-write needs pages too; the batch is intact) or -1.
 */
int store_delete(struct store *s, const struct store_id *id);

/*
 * Make the open batch durable (one fsync).  Returns 0 when every write of
 * the batch is on disk (also when there was no batch); STORE_FULL or -1
 * when none of them is: the batch is discarded in either case and every
 * write in it must be failed (STORE_FULL: with ENOSPC).
 */
int store_commit(struct store *s);

/* Discard the open batch, if any. */
void store_abort(struct store *s);

/* Number of writes (puts and deletes) in the open batch. */
size_t store_pending(const struct store *s);

/*
 * Read record id, including uncommitted writes of the open batch.  On 0,
 * *meta is filled and, when data is not NULL, *data is a malloc'd copy of
 * the data that the caller frees (a non-NULL pointer even when *len is 0)
 * and *len its length.  The checksum is verified: STORE_CORRUPT (logged)
 * on mismatch or a malformed record.  STORE_NOTFOUND when absent, -1 on
 * error.  meta, data and len may each be NULL.
 */
int store_get(struct store *s, const struct store_id *id,
    struct store_meta *meta, void **data, size_t *len);

/*
 * Like store_get without the data.  Checks the header but not the data
 * checksum (that would mean reading the data); STORE_CORRUPT only for a
 * malformed header.
 */
int store_get_meta(struct store *s, const struct store_id *id,
    struct store_meta *meta);

/*
 * Call cb for every record whose point lies in zone z, in key order (by
 * point, dim 0 first), including uncommitted writes of the open batch.
 * Records that fail their checks are logged and passed to cb with meta
 * flags STORE_F_CORRUPT only (no data), so that repair can drop them and
 * fetch a good copy from another replica.  Returns 0 after
 * the last record or when cb stopped the iteration, -1 on error.
 */
int store_iter_zone(struct store *s, const struct geom_zone *z,
    store_iter_cb cb, void *arg);

/* store_iter_zone over the whole space. */
int store_iter_all(struct store *s, store_iter_cb cb, void *arg);

/*
 * Number of records (tombstones included) and the sum of their data
 * lengths, including the open batch.  Returns 0 or -1.
 */
int store_stats(struct store *s, uint64_t *count, uint64_t *bytes);

/*
 * Space in bytes: *used by live database pages, *avail that the store can
 * still grow by: the smaller of what is left in the map and what the
 * filesystem has free (plus pages LMDB will reuse), for statfs and ENOSPC
 * decisions.  Committed state only.  Returns 0 or -1.
 */
int store_space(struct store *s, uint64_t *used, uint64_t *avail);

/* Dimensions this store was opened with. */
int store_dims(const struct store *s);

#endif
