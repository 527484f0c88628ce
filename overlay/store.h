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
 *                u32 data length, u8 nops (<= STORE_OPS_MAX), nops x
 *                (u64 op client, u64 op seq, u64 version) (all
 *                little-endian), then the data.
 *                The ops are the writes that made this record's latest
 *                versions here, newest first (see struct store_meta).
 *                Format 1 (read, never written) has no nops and no ops:
 *                its records read as written by no known operation.
 *
 * Durability: store_put() and store_delete() only queue a write; a
 * commit thread of the store's own takes the queue in batches (at most
 * 4096 writes or 32 MiB each) and makes each batch durable with one
 * commit (LMDB's fsync of the data pages, then of the meta page), so the
 * caller's thread never waits for the disk.  Writes queued while a batch
 * commits form the next batch: group commit without a timer.  The caller
 * learns that its writes are durable from store_when_durable() (run from
 * store_reap() when the eventfd store_event_fd() becomes readable) or
 * waits for it with store_commit(); it may acknowledge a write to a peer
 * only then, and only after checking that the write is there (a write
 * that did not fit is dropped alone).
 *
 * Reads (store_get, store_get_meta, iteration, stats) see committed state
 * only, so nothing is ever served that a crash could still take back;
 * store_peek_meta() also sees queued writes, for decisions that must be
 * ordered after them (a primary's compare-and-swap).  Committed data survives kill -9
 * and power loss (LMDB's copy-on-write B-tree with synchronous commits).
 *
 * Op ids: every put whose meta names the write that made its version (an
 * op id, see struct store_meta) also records "op id -> key, version, now"
 * in a table of its own, in the same commit, kept STORE_OPS_TTL_MS (five
 * minutes, well past every retry window) and dropped oldest first as
 * batches commit.  store_op_lookup() answers from it: a retried write is
 * recognised however many writes to its key followed it, and across a
 * restart of the daemon.
 *
 * Full disk: MDB_MAP_FULL and ENOSPC surface as STORE_FULL.  A put or
 * delete that fails that way is undone on its own (it runs in a nested
 * transaction); the rest of the batch and everything committed before
 * stays intact, so the daemon can answer ENOSPC and carry on.  Space
 * freed by a commit is reusable only after the next commit (LMDB keeps
 * the previous snapshot); when a batch starts on a full map, the store
 * commits once more by itself so that deletes make room at once.
 *
 * Threads: every function is called from one thread (the daemon's event
 * loop); the store's commit thread is internal.
 */
#ifndef CANFS_OVERLAY_STORE_H
#define CANFS_OVERLAY_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "geom.h"
#include "hash.h"

#define STORE_FORMAT 2 /* format byte of every value; see above */

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
#define STORE_OPS_MAX 1		      /* op ids kept in a record */
#define STORE_OPS_TTL_MS 300000	      /* op ids kept in the ops table */
#define STORE_HEADER_LEN_V1 38		      /* value header, format 1 */
/* Value header with n ops. */
#define STORE_HEADER_LEN(n) (STORE_HEADER_LEN_V1 + 1 + 24 * (size_t)(n))

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
	/*
	 * ops[0], when nops is 1 and its version is `version`: the write
	 * (op id, see wire_opid) that made this version, kept with the
	 * record so that transfers carry it; store_put() also enters it in
	 * the op id table (see "Op ids" above).
	 */
	struct store_op {
		uint64_t client, seq, version;
	} ops[STORE_OPS_MAX];
	uint8_t nops;
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
 * Close the store: queued writes are committed first (and their waiters
 * called), then the commit thread stops.  Accepts NULL.
 */
void store_close(struct store *s);

/* Fill id for replica `replica` of key k, with its point in d dims. */
void store_id_make(const struct hash_key *k, unsigned replica, int dims,
    struct store_id *id);

/*
 * Queue "id := (meta, data)", replacing any record with that id (data is
 * copied).  meta->version, writer, mtime_ms, flags and op are stored; the
 * checksum is computed here from data and len (the meta fields of those
 * names are ignored).  data may be NULL when len is 0.  Returns 0, or -1
 * for bad arguments.  Not durable until a waiter says so; a write that
 * does not fit (STORE_FULL, logged) is dropped alone at commit time.
 */
int store_put(struct store *s, const struct store_id *id,
    const struct store_meta *meta, const void *data, size_t len);

/*
 * Queue the physical removal of record id (absent is fine).  Tombstones
 * are ordinary puts with STORE_F_TOMBSTONE; this is for garbage
 * collection and handover.  Returns 0, or -1.
 */
int store_delete(struct store *s, const struct store_id *id);

/* Called with 0, or STORE_FULL / -1 when a write of the last batch failed. */
typedef void (*store_done_cb)(void *arg, int rc);

/*
 * Call cb(arg, rc) once every write queued so far is finished: durable,
 * or failed (then logged).  At once when nothing is queued, else from
 * store_reap().  Waiters run in the order they were added.  rc is a hint
 * (the last batch's worst result): check the record itself.
 */
void store_when_durable(struct store *s, store_done_cb cb, void *arg);

/*
 * The file descriptor (an eventfd) that becomes readable when the commit
 * thread has finished a batch: call store_reap() then.
 */
int store_event_fd(const struct store *s);

/*
 * Take the finished writes from the commit thread and run the waiters
 * they satisfy.  Returns the worst result among those writes: 0,
 * STORE_FULL or -1.
 */
int store_reap(struct store *s);

/*
 * Wait until every queued write is finished (blocks the caller: for
 * tests, shutdown, and the rare moments that need a committed view of
 * everything, such as handing a zone over), then store_reap().  Returns
 * 0 when every write finished meanwhile is durable, else STORE_FULL or
 * -1 (the writes that failed are dropped; the others are durable).
 */
int store_commit(struct store *s);

/* Writes queued and not yet reaped, and their data bytes. */
size_t store_pending(const struct store *s);
uint64_t store_queued_bytes(const struct store *s);

/* Batches committed since the store was opened (one fsync each). */
uint64_t store_commits(struct store *s);

/*
 * Read record id as committed (the open batch is not seen).  On 0,
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
 * The version the write with op id (client, seq) made of key, if this
 * store committed it within STORE_OPS_TTL_MS: 0 with *version set,
 * STORE_NOTFOUND, or -1.  Committed state only.
 */
int store_op_lookup(struct store *s, uint64_t client, uint64_t seq,
    const struct hash_key *key, uint64_t *version);

/*
 * store_get_meta() of the newest state: the open batch's write to id if
 * there is one, else the committed record.  For decisions that queued
 * writes must not escape (a primary's compare-and-swap, "do I hold this
 * version already?"); never for answers that a crash could take back.
 */
int store_peek_meta(struct store *s, const struct store_id *id,
    struct store_meta *meta);
/*
 * store_get() of the newest state, as store_peek_meta() chooses it: a
 * queued write's data is copied from the queue (its checksum was computed
 * from it there), a committed one is read and verified.  For applying a
 * patch to what the next commit will hold; the same rules of use.
 */
int store_peek(struct store *s, const struct store_id *id,
    struct store_meta *meta, void **data, size_t *len);

/*
 * Call cb for every record whose point lies in zone z, in key order (by
 * point, dim 0 first), as committed (the open batch is not seen).
 * Records that fail their checks are logged and passed to cb with meta
 * flags STORE_F_CORRUPT only (no data), so that repair can drop them and
 * fetch a good copy from another replica.  Returns 0 after
 * the last record or when cb stopped the iteration, -1 on error.
 */
int store_iter_zone(struct store *s, const struct geom_zone *z,
    store_iter_cb cb, void *arg);

/*
 * store_iter_zone() with flags: STORE_ITER_NOVERIFY passes records whose
 * header is sound without hashing their data (for walks that only need
 * ids and versions, or check what they send themselves): a walk over a
 * large zone then reads headers, not every byte.
 */
#define STORE_ITER_NOVERIFY 0x1
int store_iter_zone_flags(struct store *s, const struct geom_zone *z,
    unsigned flags, store_iter_cb cb, void *arg);

/*
 * store_iter_zone_flags() resuming after the record `after` (NULL: from
 * the start), for walks cut into slices: stop the callback when a slice
 * is used up, remember the last id it saw, and call again with it.
 */
int store_iter_zone_after(struct store *s, const struct geom_zone *z,
    const struct store_id *after, unsigned flags, store_iter_cb cb,
    void *arg);

/* store_iter_zone over the whole space. */
int store_iter_all(struct store *s, store_iter_cb cb, void *arg);

/*
 * Number of records (tombstones included) and the sum of their data
 * lengths, as committed.  Returns 0 or -1.
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
