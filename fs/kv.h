/*
 * kv.h: the object store as the file system sees it.
 *
 * Safe to use from many threads at once.  Requests travel over a few
 * multiplexed connections to the daemon (struct client_mux in
 * common/client.h): each call sends one request on the least busy
 * connection and waits for its reply, while other threads' requests are
 * in flight on the same connection.  At most `inflight` requests (the
 * mount's conns= option) are in flight at once, at most 8 per connection
 * (so ceil(inflight / 8) connections: 4 for the default 32); a caller
 * beyond that waits for room.  Connections are made lazily, when the
 * ones there are full, and remade after a failure.
 *
 * SOURCE lists one or more daemons, comma-separated ("unix:/run/canfs/
 * canfsd.sock" or "a:7400,b:7400").  Calls go to the current daemon; when
 * it cannot be reached or says it is unavailable (leaving, not joined),
 * the next one in the list takes over.  When none can be reached, calls
 * fail at once with EIO for a second before dialling again, so that a dead
 * daemon makes operations fail promptly instead of hanging.  A broken
 * connection fails every request on it at once, and each is sent again
 * on a new one (a write with the same operation id).  Every request is
 * bounded by the timeout given to kv_open().
 *
 * Errors: every function returns 0 or a negative errno, mapped from wire
 * error codes in exactly one place (kv_errno()).  A lost compare-and-swap
 * is -KV_ECONFLICT: callers re-read and retry.
 */
#ifndef CANFS_FS_KV_H
#define CANFS_FS_KV_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include "hash.h"
#include "wire.h"

/*
 * A lost compare-and-swap (never returned to the kernel).  Always another
 * writer's change: every write carries an operation id (random per
 * kv_open(), plus a sequence number) that its retries reuse, and the store answers a
 * retry of a write that already landed with that write's version.
 */
#define KV_ECONFLICT ECANCELED

struct kv;

/* A value read from the store. */
struct kv_value {
	uint8_t *buf;		/* owned: free with kv_value_free() */
	const uint8_t *data;	/* len bytes inside buf */
	size_t len;
	uint64_t version;
};

/* Counters, for the log at unmount and for measurements. */
struct kv_stats {
	uint64_t gets, puts, dels;
	uint64_t conflicts;	/* CAS writes that lost */
	uint64_t retries;	/* requests sent again (busy, failover) */
	uint64_t failovers;	/* switches to another daemon */
	uint64_t errors;	/* calls that failed (not NOTFOUND/CONFLICT) */
	uint64_t bytes_in, bytes_out;
	uint64_t get_us, put_us, del_us; /* time spent, summed */
	uint64_t batches;	/* OBJ_BATCH requests (their ops count
				   above, each with its batch's time) */
};

/*
 * Open the store at the daemons in source, with up to `inflight` requests
 * in flight at once (see above; up to 256).  One connection is made now,
 * so that an unreachable daemon is reported at mount time: returns NULL
 * with a message in err (e.g. "cannot connect to unix:/x.sock: No such
 * file or directory").  timeout_ms bounds each request.
 */
struct kv *kv_open(const char *source, int inflight, int timeout_ms,
    char *err, size_t errlen);
/* Close every connection and free (no calls may be running). */
void kv_close(struct kv *kv);

/* GET: 0 with *v filled, -ENOENT when absent, or another -errno. */
int kv_get(struct kv *kv, const struct hash_key *k, struct kv_value *v);
void kv_value_free(struct kv_value *v);
/*
 * GET of the bytes [off, off + len) of the value of k: *v holds those
 * that exist (fewer, none, when the value ends before).  Only they travel
 * from the replica.  As kv_get() otherwise.
 */
int kv_get_range(struct kv *kv, const struct hash_key *k, uint32_t off,
    uint32_t len, struct kv_value *v);

/*
 * PUT under a condition (enum wire_cond; cond_version for
 * WIRE_COND_VERSION).  0 with the new version in *version (may be NULL),
 * -KV_ECONFLICT when the condition failed, or another -errno (EFBIG for a
 * value over WIRE_MAX_VALUE, ENOSPC when a replica is full, EIO).
 */
int kv_put(struct kv *kv, const struct hash_key *k, const void *data,
    size_t len, int cond, uint64_t cond_version, uint64_t *version);

/* One range of a patch: len bytes at off. */
struct kv_range {
	uint32_t off;
	uint32_t len;
	const void *data;
};

/*
 * PATCH: write n ranges of bytes (1..WIRE_PATCH_RANGES, applied in
 * order) inside the value of k, created when absent, zeros filling any
 * gap past its end, without sending or reading the rest.  Concurrent
 * patches of disjoint ranges all land: the primary replica applies them
 * one after the other.  0 or -errno as kv_put() (counted as a PUT).
 */
int kv_patch(struct kv *kv, const struct hash_key *k,
    const struct kv_range *r, int n);

/* DELETE (a tombstone) under a condition; as kv_put(). */
int kv_del(struct kv *kv, const struct hash_key *k, int cond,
    uint64_t cond_version);

/* One operation of kv_batch(). */
struct kv_op {
	uint16_t type;		/* WIRE_OBJ_GET, WIRE_OBJ_PUT or WIRE_OBJ_DEL */
	struct hash_key key;
	int cond;		/* PUT, DEL: enum wire_cond */
	uint64_t cond_version;
	const void *data;	/* PUT: len bytes (not copied) */
	size_t len;		/* PUT: the value's length; GET: the most
				   it can be, when known (0: small), so that
				   a request's values fit its reply */
	/* Filled by kv_batch(): */
	int rc;			/* as kv_get(), kv_put() or kv_del() return */
	uint64_t version;	/* PUT, DEL: the version written */
	struct kv_value v;	/* GET: the value (kv_value_free()) */
	struct wire_opid op;	/* PUT, DEL: its op id (kept by retries) */
};

/*
 * Run ops[0, n), any mix of GET, PUT and DEL, in OBJ_BATCH requests of as
 * many as fit (common/client_batch.h), up to 4 requests in flight on one
 * connection (a caller that waits counts as one request): each op's
 * outcome lands in its rc (and version, v) exactly as the single call
 * would return it -- the daemon coordinates each one as if it came
 * alone, and every PUT and DEL carries an op id of its own, which
 * retries keep.  A request holds no more GETs than their len bounds fit
 * one reply (WIRE_BATCH_MAX_DATA).  The ops of one request run concurrently: n ops on one
 * key have no order.  Retries as for single calls (a broken connection,
 * answers that mean "recovering"); a GET whose value did not fit its
 * batch's reply is read alone.  Returns 0 when every op succeeded, else
 * the first failed op's rc.
 */
int kv_batch(struct kv *kv, struct kv_op *ops, size_t n);

/* The overlay's capacity as one daemon estimates it (WIRE_STATFS). */
struct kv_statfs {
	uint64_t capacity, used, avail; /* bytes of user data (raw / k) */
	uint32_t nodes;		/* estimated node count */
	uint32_t k;		/* replicas */
};

/* Ask the daemon for the capacity: 0, or -errno (-ENOSYS: not served). */
int kv_statfs(struct kv *kv, struct kv_statfs *st);

/* The errno for a WIRE_E_* code (the one place where they are mapped). */
int kv_errno(uint32_t code);

/* A snapshot of the counters. */
void kv_get_stats(struct kv *kv, struct kv_stats *st);

#endif
