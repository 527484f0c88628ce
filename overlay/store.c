/*
 * store.c: the node-local durable object store on LMDB (see store.h).
 *
 * Two named databases live in the environment: "objects" holds the
 * records, "meta" a few bookkeeping values (format, dims, data bytes).
 *
 * Every put and delete runs in a nested transaction under the batch's
 * write transaction.  LMDB marks a transaction unusable after a failed
 * write (MDB_MAP_FULL in particular), so without the nesting one write
 * that does not fit would throw away the whole batch; with it only that
 * write is undone.
 *
 * Reads see committed state only: one cached read-only transaction that
 * is renewed for each read and reset afterwards, so no old snapshot pins
 * pages.  Only store_peek_meta() reads through the batch's write
 * transaction (nested reads of LMDB's own snapshot rules: a read-only
 * transaction never sees an uncommitted write).
 */
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lmdb.h>

#include "log.h"
#include "prealloc.h"
#include "store.h"
#include "xmalloc.h"

#define STORE_DB_OBJECTS "objects"
#define STORE_DB_META "meta"
#define STORE_DB_OPS "ops"	    /* op id -> key, version, time */
#define STORE_DB_OPSTIME "opstime" /* time, op id -> (nothing): expiry */
#define STORE_OPS_PRUNE_MAX 4096   /* expired op ids dropped per batch */
#define STORE_KEY_MAX (GEOM_MAX_DIMS * 4 + 16 + 1)
#define STORE_PEND_BUCKETS 4096	/* index of queued writes */
/*
 * A batch's bounds: at most this many writes and bytes go into one
 * commit, so that a burst of large writes cannot delay the small ones
 * queued behind it by more than one bounded commit.
 */
#define STORE_BATCH_WRITES 4096
#define STORE_BATCH_BYTES ((uint64_t)32 << 20)

/* One queued write, owned by the loop, then the committer, then the loop. */
struct store_wr {
	struct store_id id;
	struct store_meta meta;
	bool del;		/* a physical delete, not a put */
	uint8_t *data;		/* owned copy, NULL when len is 0 */
	size_t len;
	uint64_t seq;		/* queue order, from 1 */
	int rc;			/* 0 or STORE_*, set by the committer */
	struct store_wr *next;	/* in the queue, the batch or done */
	struct store_wr *hnext;	/* in the pending index (loop only) */
};

/* Someone waiting for every write queued before it to be durable. */
struct store_waiter {
	store_done_cb cb;
	void *arg;
	uint64_t upto;		/* seq of the last write before it */
	struct store_waiter *next;
};

/* Keys of the "meta" database. */
#define STORE_M_FORMAT "format" /* u32 STORE_FORMAT */
#define STORE_M_DIMS "dims"	/* u32 d */
#define STORE_M_BYTES "bytes"	/* u64 sum of data lengths */

/*
 * Threads: the loop thread (every public function) and the committer
 * (store_committer).  The committer alone writes to LMDB; the loop reads
 * committed state through its own read-only transaction (MDB_NOTLS).
 * Fields marked [mu] are guarded by mu; [c] belong to the committer;
 * [loop] to the loop thread; the rest are set at open.
 */
struct store {
	MDB_env *env;
	MDB_dbi objects; /* the records */
	MDB_dbi meta;	 /* bookkeeping, see STORE_M_* */
	MDB_dbi ops;	 /* writes by op id (store.h, "Op ids") */
	MDB_dbi opstime; /* the same by time, for expiry */
	int dims;
	int dirfd;	      /* the directory, flock'ed: one opener only */
	char *dir;

	MDB_txn *wtxn;	      /* [c] the batch being written, or NULL */
	size_t batch_n;	      /* [c] writes applied in it */
	bool nudged;	      /* [c] store_nudge() since the last commit */
	bool nested;	      /* [c] each write in a nested txn (see run) */
	bool broken;	      /* [c] a direct write failed: redo nested */
	uint64_t bytes;	      /* [c] sum of data lengths, batch included */
	uint64_t batch_bytes; /* [c] bytes put in the batch */
	uint64_t bytes_saved; /* [atomic] the same, committed state */
	struct prealloc prep; /* [c] zeros ahead of the data file's end */
	unsigned psize;	      /* LMDB's page size */

	pthread_mutex_t mu;
	pthread_cond_t work;  /* [mu] queue non-empty or stopping */
	pthread_cond_t idle;  /* [mu] a batch finished */
	pthread_t thread;
	bool running;	      /* the committer was started */
	bool stop;	      /* [mu] committer: finish the queue and exit */
	struct store_wr *qhead, **qtail; /* [mu] queued, not yet taken */
	struct store_wr *done, **dtail;	 /* [mu] finished, not yet reaped */
	uint64_t durable_seq; /* [mu] every write up to it is finished */
	int last_rc;	      /* [mu] result of the last batch's commit */
	uint64_t commits;     /* [mu] batches committed */
	int efd;	      /* eventfd: readable when done is non-empty */

	uint64_t next_seq;    /* [loop] seq of the last queued write */
	size_t unreaped;      /* [loop] writes queued and not yet reaped */
	uint64_t unreaped_bytes; /* [loop] their data bytes */
	struct store_wr *pend[STORE_PEND_BUCKETS]; /* [loop] by id */
	struct store_waiter *waiters, **wtail; /* [loop] in upto order */
	MDB_txn *rtxn;	      /* [loop] cached read-only txn */
	int rtxn_users;	      /* [loop] nested users of rtxn */
	int iterating;	      /* [loop] >0 inside an iteration callback */
};

static void store_batch_abort(struct store *s);
static int store_start(struct store *s, char *err, size_t errlen);
static struct store_wr **store_pend_bucket(struct store *s,
    const struct store_id *id);
static bool store_id_equal(const struct store_id *a,
    const struct store_id *b);

/* Wall clock in ms (op id expiry). */
static uint64_t
store_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Little-endian and big-endian encoders for the fixed layouts. */
static void
put_le(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Decode n little-endian bytes. */
static uint64_t
get_le(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* Encode n big-endian bytes. */
static void
put_be(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

/* Decode n big-endian bytes. */
static uint64_t
get_be(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* Length of an encoded key in this store. */
static size_t
store_key_len(const struct store *s)
{
	return (size_t)s->dims * 4 + 17;
}

/* Encode id as an LMDB key into buf (STORE_KEY_MAX bytes). */
static void
store_key_encode(const struct store *s, const struct store_id *id,
    uint8_t *buf, MDB_val *k)
{
	uint8_t *p = buf;

	for (int i = 0; i < s->dims; i++, p += 4)
		put_be(p, id->point.c[i], 4);
	put_be(p, id->key.hi, 8);
	put_be(p + 8, id->key.lo, 8);
	p[16] = id->replica;
	k->mv_data = buf;
	k->mv_size = store_key_len(s);
}

/* Decode an LMDB key; -1 when it has the wrong length. */
static int
store_key_decode(const struct store *s, const MDB_val *k, struct store_id *id)
{
	const uint8_t *p = k->mv_data;

	if (k->mv_size != store_key_len(s))
		return -1;
	memset(id, 0, sizeof *id);
	for (int i = 0; i < s->dims; i++, p += 4)
		id->point.c[i] = (uint32_t)get_be(p, 4);
	id->key.hi = get_be(p, 8);
	id->key.lo = get_be(p + 8, 8);
	id->replica = p[16];
	return 0;
}

/* Write the value header for meta and a data length into p. */
static void
store_header_encode(uint8_t *p, const struct store_meta *m, uint64_t sum,
    size_t len)
{
	p[0] = STORE_FORMAT;
	p[1] = (uint8_t)m->flags;
	put_le(p + 2, m->version, 8);
	put_le(p + 10, m->writer, 8);
	put_le(p + 18, sum, 8);
	put_le(p + 26, m->mtime_ms, 8);
	put_le(p + 34, len, 4);
	p[38] = m->nops;
	for (unsigned i = 0; i < m->nops; i++) {
		put_le(p + 39 + 24 * i, m->ops[i].client, 8);
		put_le(p + 47 + 24 * i, m->ops[i].seq, 8);
		put_le(p + 55 + 24 * i, m->ops[i].version, 8);
	}
}

/*
 * Decode and check a stored value's header.  Returns 0, or -1 with *why
 * set when the value cannot be one of ours (short, unknown format or
 * flags, length disagreeing with the value size).
 */
static int
store_header_decode(const MDB_val *v, struct store_meta *m, const char **why)
{
	const uint8_t *p = v->mv_data;

	size_t hlen;

	if (v->mv_size < STORE_HEADER_LEN_V1) {
		*why = "value shorter than its header";
		return -1;
	}
	if (p[0] != STORE_FORMAT && p[0] != 1) {
		*why = "unknown format byte";
		return -1;
	}
	m->nops = 0;
	memset(m->ops, 0, sizeof m->ops);
	hlen = STORE_HEADER_LEN_V1;
	if (p[0] != 1) {
		if (v->mv_size < STORE_HEADER_LEN(0) ||
		    p[38] > STORE_OPS_MAX ||
		    v->mv_size < STORE_HEADER_LEN(p[38])) {
			*why = "value shorter than its header";
			return -1;
		}
		m->nops = p[38];
		hlen = STORE_HEADER_LEN(m->nops);
		for (unsigned i = 0; i < m->nops; i++) {
			m->ops[i].client = get_le(p + 39 + 24 * i, 8);
			m->ops[i].seq = get_le(p + 47 + 24 * i, 8);
			m->ops[i].version = get_le(p + 55 + 24 * i, 8);
		}
	}
	if ((p[1] & ~STORE_F_ALL) != 0) {
		*why = "unknown flags";
		return -1;
	}
	m->flags = p[1];
	m->version = get_le(p + 2, 8);
	m->writer = get_le(p + 10, 8);
	m->checksum = get_le(p + 18, 8);
	m->mtime_ms = get_le(p + 26, 8);
	m->len = (uint32_t)get_le(p + 34, 4);
	if ((size_t)m->len != v->mv_size - hlen) {
		*why = "length field disagrees with value size";
		return -1;
	}
	return 0;
}

/* The data of a value whose header decoded into m (it ends the value). */
static const uint8_t *
store_value_data(const MDB_val *v, const struct store_meta *m)
{
	return (const uint8_t *)v->mv_data + (v->mv_size - m->len);
}

/*
 * Decode a value and verify its data checksum.  Returns 0 or
 * STORE_CORRUPT (logged, naming id).
 */
static int
store_value_check(const MDB_val *v, const struct store_id *id,
    struct store_meta *m, bool verify)
{
	const char *why = NULL;
	char hex[33];

	if (store_header_decode(v, m, &why) == 0) {
		if (!verify || hash_checksum(store_value_data(v, m), m->len) ==
		    m->checksum)
			return 0;
		why = "checksum mismatch";
	}
	log_error("store: record %s/%u is corrupt: %s",
	    hash_key_format(&id->key, hex), id->replica, why);
	return STORE_CORRUPT;
}

/* Map an LMDB or errno code from a write to our return codes. */
static int
store_err(int rc)
{
	if (rc == MDB_MAP_FULL || rc == ENOSPC || rc == EDQUOT)
		return STORE_FULL;
	return -1;
}

/* Writes from inside an iteration callback are our own bug. */
static void
store_check_writable(const struct store *s, const char *what)
{
	if (s->iterating)
		fatalx("store: %s called from an iteration callback", what);
}

/*
 * The transaction the loop's reads use: the cached read-only one
 * (renewed; committed state).  Pair every successful call with
 * store_view_end().  Returns NULL on error (logged).
 */
static MDB_txn *
store_view_begin(struct store *s)
{
	int rc;

	if (s->rtxn_users > 0) {
		s->rtxn_users++;
		return s->rtxn;
	}
	if (s->rtxn == NULL)
		rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &s->rtxn);
	else
		rc = mdb_txn_renew(s->rtxn);
	if (rc != 0) {
		log_error("store: read transaction: %s", mdb_strerror(rc));
		if (s->rtxn != NULL) {
			mdb_txn_abort(s->rtxn);
			s->rtxn = NULL;
		}
		return NULL;
	}
	s->rtxn_users = 1;
	return s->rtxn;
}

/* Release a transaction from store_view_begin(). */
static void
store_view_end(struct store *s, MDB_txn *txn)
{
	if (txn == s->rtxn && --s->rtxn_users == 0)
		mdb_txn_reset(s->rtxn);
}

/* Committer: open the batch if none is open. Returns 0 or -1 (logged). */
static int
store_batch_begin(struct store *s)
{
	int rc;

	if (s->wtxn != NULL)
		return 0;
	if ((rc = mdb_txn_begin(s->env, NULL, 0, &s->wtxn)) != 0) {
		log_error("store: begin batch: %s", mdb_strerror(rc));
		s->wtxn = NULL;
		return -1;
	}
	s->batch_n = 0;
	s->batch_bytes = 0;
	return 0;
}

/* Put a u64 (little-endian) under name in the meta database. */
static int
store_meta_put(struct store *s, MDB_txn *txn, const char *name, uint64_t v,
    int n)
{
	uint8_t buf[8];
	MDB_val k = { strlen(name), (void *)name }, val = { (size_t)n, buf };

	put_le(buf, v, n);
	return mdb_put(txn, s->meta, &k, &val, 0);
}

/* Read a meta value of n bytes; MDB_NOTFOUND, or EINVAL if malformed. */
static int
store_meta_get(struct store *s, MDB_txn *txn, const char *name, uint64_t *v,
    int n)
{
	MDB_val k = { strlen(name), (void *)name }, val;
	int rc;

	if ((rc = mdb_get(txn, s->meta, &k, &val)) != 0)
		return rc;
	if (val.mv_size != (size_t)n)
		return EINVAL;
	*v = get_le(val.mv_data, n);
	return 0;
}

/* Fill id for replica i of k. */
void
store_id_make(const struct hash_key *k, unsigned replica, int dims,
    struct store_id *id)
{
	memset(id, 0, sizeof *id);
	hash_replica_point(k, replica, dims, &id->point);
	id->key = *k;
	id->replica = (uint8_t)replica;
}

/* Dimensions of the store. */
int
store_dims(const struct store *s)
{
	return s->dims;
}

/* Create dir (0700) if missing and make its entry durable. */
static int
store_mkdir(const char *dir, char *err, size_t errlen)
{
	struct stat st;
	char *parent, *slash;
	int fd;

	if (mkdir(dir, 0700) == 0) {
		/* A new directory entry is durable only once its parent is. */
		parent = xstrdup(dir);
		if ((slash = strrchr(parent, '/')) == NULL)
			strcpy(parent, ".");
		else if (slash == parent)
			slash[1] = '\0';
		else
			*slash = '\0';
		if ((fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
			(void)fsync(fd);
			close(fd);
		}
		free(parent);
		return 0;
	}
	if (errno != EEXIST) {
		snprintf(err, errlen, "mkdir %s: %s", dir, strerror(errno));
		return -1;
	}
	if (stat(dir, &st) == -1 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s: not a directory", dir);
		return -1;
	}
	return 0;
}

/* Sum of data lengths of every record, for a store without the counter. */
static int
store_count_bytes(struct store *s, MDB_txn *txn, uint64_t *bytes)
{
	MDB_cursor *c;
	MDB_val k, v;
	int rc;

	*bytes = 0;
	if ((rc = mdb_cursor_open(txn, s->objects, &c)) != 0)
		return rc;
	while ((rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) == 0) {
		struct store_meta m;
		const char *why;

		if (store_header_decode(&v, &m, &why) == 0)
			*bytes += m.len;
	}
	mdb_cursor_close(c);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/*
 * Open the databases and check or initialize the meta values, in one
 * write transaction.  Returns 0 or -1 with a message in err.
 */
static int
store_init_dbs(struct store *s, char *err, size_t errlen)
{
	MDB_txn *txn;
	uint64_t v;
	int rc;

	if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)) != 0)
		goto lmdb;
	if ((rc = mdb_dbi_open(txn, STORE_DB_OBJECTS, MDB_CREATE,
	    &s->objects)) != 0 ||
	    (rc = mdb_dbi_open(txn, STORE_DB_META, MDB_CREATE, &s->meta)) != 0 ||
	    (rc = mdb_dbi_open(txn, STORE_DB_OPS, MDB_CREATE, &s->ops)) != 0 ||
	    (rc = mdb_dbi_open(txn, STORE_DB_OPSTIME, MDB_CREATE,
	    &s->opstime)) != 0)
		goto abort;

	if ((rc = store_meta_get(s, txn, STORE_M_FORMAT, &v, 4)) == 0 &&
	    v == 1) {
		/* Format 1 records stay readable; new ones are format 2. */
		log_info("store: %s: format 1, now written as format %d",
		    s->dir, STORE_FORMAT);
		rc = MDB_NOTFOUND;
	} else if (rc == 0 && v != STORE_FORMAT) {
		snprintf(err, errlen, "%s: unsupported store format %" PRIu64
		    " (this build reads %d)", s->dir, v, STORE_FORMAT);
		mdb_txn_abort(txn);
		return -1;
	}
	if (rc == MDB_NOTFOUND)
		rc = store_meta_put(s, txn, STORE_M_FORMAT, STORE_FORMAT, 4);
	if (rc != 0)
		goto abort;

	if ((rc = store_meta_get(s, txn, STORE_M_DIMS, &v, 4)) == 0 &&
	    v != (uint64_t)s->dims) {
		snprintf(err, errlen, "%s: store was created for d=%" PRIu64
		    ", not d=%d", s->dir, v, s->dims);
		mdb_txn_abort(txn);
		return -1;
	}
	if (rc == MDB_NOTFOUND)
		rc = store_meta_put(s, txn, STORE_M_DIMS, (uint64_t)s->dims, 4);
	if (rc != 0)
		goto abort;

	if ((rc = store_meta_get(s, txn, STORE_M_BYTES, &v, 8)) != 0) {
		if ((rc = store_count_bytes(s, txn, &v)) != 0 ||
		    (rc = store_meta_put(s, txn, STORE_M_BYTES, v, 8)) != 0)
			goto abort;
	}
	s->bytes = v;
	__atomic_store_n(&s->bytes_saved, v, __ATOMIC_RELAXED);
	if ((rc = mdb_txn_commit(txn)) != 0)
		goto lmdb;
	return 0;

abort:
	mdb_txn_abort(txn);
lmdb:
	snprintf(err, errlen, "%s: %s", s->dir, mdb_strerror(rc));
	return -1;
}

/*
 * Open the store.  Contract: on success the environment is open, the
 * databases exist, d matches the stored d, this store holds the exclusive
 * flock on dir, and stale reader slots of dead processes are cleared.
 */
struct store *
store_open(const char *dir, int dims, size_t map_size, char *err,
    size_t errlen)
{
	struct store *s;
	MDB_stat st;
	mdb_filehandle_t fd;
	int rc, dead;

	if (dims < 1 || dims > GEOM_MAX_DIMS) {
		snprintf(err, errlen, "bad dimension count %d", dims);
		return NULL;
	}
	if (store_mkdir(dir, err, errlen) == -1)
		return NULL;
	s = xcalloc(1, sizeof *s);
	s->dims = dims;
	s->dirfd = -1;
	s->efd = -1;
	s->qtail = &s->qhead;
	s->dtail = &s->done;
	s->wtail = &s->waiters;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->work, NULL);
	pthread_cond_init(&s->idle, NULL);
	s->dir = xstrdup(dir);
	if (map_size == 0)
		map_size = STORE_MAP_DEFAULT;

	/*
	 * Lock before LMDB opens anything: LMDB must not be opened twice in
	 * one process (closing either copy drops the other's fcntl locks).
	 */
	if ((s->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "open %s: %s", dir, strerror(errno));
		goto fail;
	}
	if (flock(s->dirfd, LOCK_EX | LOCK_NB) == -1) {
		snprintf(err, errlen, "%s: %s", dir, errno == EWOULDBLOCK ?
		    "store is in use" : strerror(errno));
		goto fail;
	}

	if ((rc = mdb_env_create(&s->env)) != 0) {
		s->env = NULL;
		goto lmdb;
	}
	if ((rc = mdb_env_set_maxdbs(s->env, 4)) != 0 ||
	    (rc = mdb_env_set_mapsize(s->env, map_size)) != 0)
		goto lmdb;
	/* Synchronous commits: never MDB_NOSYNC, MDB_NOMETASYNC. */
	if ((rc = mdb_env_open(s->env, dir, MDB_NOTLS, 0600)) != 0)
		goto lmdb;
	/* The files LMDB created survive power loss once dir is synced. */
	if (fsync(s->dirfd) == -1) {
		snprintf(err, errlen, "fsync %s: %s", dir, strerror(errno));
		goto fail;
	}
	if ((rc = mdb_reader_check(s->env, &dead)) != 0)
		goto lmdb;
	if (dead > 0)
		log_info("store: cleared %d stale reader slots", dead);
	if (store_init_dbs(s, err, errlen) == -1)
		goto fail;
	if ((rc = mdb_env_stat(s->env, &st)) != 0 ||
	    (rc = mdb_env_get_fd(s->env, &fd)) != 0)
		goto lmdb;
	s->psize = st.ms_psize;
	prealloc_init(&s->prep, fd, map_size);
	if (store_start(s, err, errlen) == -1)
		goto fail;
	log_debug("store: opened %s, d=%d, map %zu MiB, %" PRIu64
	    " data bytes", dir, dims, map_size >> 20, s->bytes);
	return s;

lmdb:
	snprintf(err, errlen, "%s: %s", dir, mdb_strerror(rc));
fail:
	store_close(s);
	return NULL;
}

/* Close; queued writes are committed first. */
void
store_close(struct store *s)
{
	if (s == NULL)
		return;
	if (s->running) {
		/*
		 * Queued writes are committed, waiters answered, also
		 * the writes and waiters that waiters queue meanwhile.
		 */
		while (store_pending(s) > 0 || s->waiters != NULL)
			(void)store_commit(s);
		pthread_mutex_lock(&s->mu);
		s->stop = true;
		pthread_cond_signal(&s->work);
		pthread_mutex_unlock(&s->mu);
		pthread_join(s->thread, NULL);
	}
	if (s->efd >= 0)
		close(s->efd);
	if (s->env != NULL) {
		if (s->rtxn != NULL)
			mdb_txn_abort(s->rtxn);
		mdb_env_close(s->env);
	}
	if (s->dirfd >= 0)
		close(s->dirfd); /* releases the flock */
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->work);
	pthread_cond_destroy(&s->idle);
	free(s->dir);
	free(s);
}

/*
 * Write an empty-looking commit so that the pages freed by the previous
 * commit become reusable.  LMDB keeps the previous snapshot intact: pages
 * freed by commit N are reused only from commit N+2.  Without this, a
 * node that freed space (deletes) and then writes nothing else would keep
 * failing writes with STORE_FULL.  Only called with an empty batch, so no
 * write of the caller's becomes durable early.  Returns an LMDB code.
 */
static int
store_nudge(struct store *s)
{
	int rc;

	s->nudged = true;
	if ((rc = store_meta_put(s, s->wtxn, STORE_M_BYTES, s->bytes, 8)) !=
	    0) {
		store_batch_abort(s);
		return rc;
	}
	rc = mdb_txn_commit(s->wtxn);
	s->wtxn = NULL;
	if (rc != 0)
		return rc;
	log_info("store: map full, committed once more to reuse freed pages");
	return store_batch_begin(s) == 0 ? 0 : EIO;
}

/* Encode an op id as a key of the ops database (big-endian). */
static void
store_op_key(uint64_t client, uint64_t seq, uint8_t *buf)
{
	put_be(buf, client, 8);
	put_be(buf + 8, seq, 8);
}

/*
 * Committer: remember, in txn, that op made op->version of key (now).
 * Returns an LMDB code.
 */
static int
store_op_put(struct store *s, MDB_txn *txn, const struct store_op *op,
    const struct hash_key *key)
{
	uint8_t kb[16], vb[32], tb[24];
	MDB_val k = { sizeof kb, kb }, v = { sizeof vb, vb };
	MDB_val tk = { sizeof tb, tb }, tv = { 0, NULL };
	uint64_t now = store_wall_ms();
	int rc;

	store_op_key(op->client, op->seq, kb);
	put_le(vb, key->hi, 8);
	put_le(vb + 8, key->lo, 8);
	put_le(vb + 16, op->version, 8);
	put_le(vb + 24, now, 8);
	put_be(tb, now, 8);
	memcpy(tb + 8, kb, sizeof kb);
	if ((rc = mdb_put(txn, s->ops, &k, &v, 0)) != 0)
		return rc;
	return mdb_put(txn, s->opstime, &tk, &tv, 0);
}

/*
 * Committer: drop op ids older than STORE_OPS_TTL_MS from the batch,
 * oldest first, at most STORE_OPS_PRUNE_MAX.  Returns an LMDB code.
 */
static int
store_ops_prune(struct store *s)
{
	uint64_t cutoff = store_wall_ms() - STORE_OPS_TTL_MS;
	MDB_cursor *c;
	MDB_txn *txn;
	MDB_val k, v;
	int rc, n = 0;

	/*
	 * Most batches have nothing to drop: look first, without the
	 * nested transaction (LMDB allocates and merges page lists for
	 * each one).
	 */
	if ((rc = mdb_cursor_open(s->wtxn, s->opstime, &c)) != 0)
		return rc;
	rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
	if (rc == 0 && k.mv_size == 24 && get_be(k.mv_data, 8) >= cutoff)
		rc = MDB_NOTFOUND; /* the oldest is young enough */
	mdb_cursor_close(c);
	if (rc != 0)
		return rc == MDB_NOTFOUND ? 0 : rc;
	/* Nested: a failure (a full map) must not spoil the batch. */
	if ((rc = mdb_txn_begin(s->env, s->wtxn, 0, &txn)) != 0)
		return rc;
	if ((rc = mdb_cursor_open(txn, s->opstime, &c)) != 0) {
		mdb_txn_abort(txn);
		return rc;
	}
	while (n < STORE_OPS_PRUNE_MAX &&
	    (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST)) == 0) {
		MDB_val ok;

		if (k.mv_size != 24 || get_be(k.mv_data, 8) >= cutoff)
			break;
		ok.mv_size = 16;
		ok.mv_data = (uint8_t *)k.mv_data + 8;
		if ((rc = mdb_del(txn, s->ops, &ok, NULL)) != 0 &&
		    rc != MDB_NOTFOUND)
			break;
		if ((rc = mdb_cursor_del(c, 0)) != 0)
			break;
		n++;
	}
	mdb_cursor_close(c);
	if (rc != 0 && rc != MDB_NOTFOUND) {
		mdb_txn_abort(txn);
		return rc;
	}
	return mdb_txn_commit(txn);
}

/*
 * Put or delete (data == NULL && !meta) in a nested transaction under the
 * batch.  Returns an LMDB code; MDB_NOTFOUND from a delete means absent.
 * Any failure leaves the batch exactly as it was.
 */
static int
store_write(struct store *s, const struct store_id *id,
    const struct store_meta *meta, const void *data, size_t len)
{
	uint8_t kbuf[STORE_KEY_MAX];
	MDB_txn *txn = s->wtxn;
	MDB_val k, v;
	uint64_t oldlen = 0, nbytes;
	int rc;

	store_key_encode(s, id, kbuf, &k);
	if (s->nested &&
	    (rc = mdb_txn_begin(s->env, s->wtxn, 0, &txn)) != 0)
		return rc;
	if ((rc = mdb_get(txn, s->objects, &k, &v)) == 0) {
		struct store_meta old;
		const char *why;

		oldlen = store_header_decode(&v, &old, &why) == 0 ? old.len : 0;
	}
	else if (rc != MDB_NOTFOUND || meta == NULL)
		goto fail;
	if (meta == NULL) {
		len = 0;
		rc = mdb_del(txn, s->objects, &k, NULL);
	} else {
		/* Reserve, then write the data straight into the page. */
		v.mv_size = STORE_HEADER_LEN(meta->nops) + len;
		v.mv_data = NULL;
		rc = mdb_put(txn, s->objects, &k, &v, MDB_RESERVE);
	}
	if (rc != 0)
		goto fail;
	if (meta != NULL) {
		/* meta->checksum was computed when the write was queued. */
		store_header_encode(v.mv_data, meta, meta->checksum, len);
		if (len > 0)
			memcpy((uint8_t *)v.mv_data +
			    STORE_HEADER_LEN(meta->nops), data,
			    len);
	}
	nbytes = s->bytes - oldlen + len;
	if (meta != NULL && meta->nops > 0 && meta->ops[0].client != 0 &&
	    meta->ops[0].version == meta->version &&
	    (rc = store_op_put(s, txn, &meta->ops[0], &id->key)) != 0)
		goto fail;
	if (s->nested && (rc = mdb_txn_commit(txn)) != 0)
		return rc; /* LMDB freed txn */
	s->bytes = nbytes;
	s->batch_bytes += STORE_HEADER_LEN(STORE_OPS_MAX) + len;
	s->batch_n++;
	return 0;

fail:
	if (s->nested)
		mdb_txn_abort(txn);
	else if (rc != MDB_NOTFOUND)
		s->broken = true; /* LMDB refuses the rest of this txn */
	return rc;
}

/*
 * Run store_write(), retrying once after store_nudge() when the map is
 * full at the start of a batch.  Returns our codes, logging failures;
 * STORE_SPLIT (not logged) when the map is full after some writes of a
 * nested batch: the caller commits those (space freed before becomes
 * reusable only after a commit), then calls again.
 */
#define STORE_SPLIT 100
static int
store_write_retry(struct store *s, const struct store_id *id,
    const struct store_meta *meta, const void *data, size_t len)
{
	const char *what = meta != NULL ? "put" : "delete";
	int rc;

	if (store_batch_begin(s) == -1)
		return -1;
	rc = store_write(s, id, meta, data, len);
	if (rc == MDB_MAP_FULL && s->nested && s->batch_n > 0 && !s->nudged)
		return STORE_SPLIT;
	if (rc == MDB_MAP_FULL && s->batch_n == 0 && !s->nudged &&
	    !s->broken) {
		if ((rc = store_nudge(s)) == 0)
			rc = store_write(s, id, meta, data, len);
	}
	if (rc == 0)
		return 0;
	if (rc == MDB_NOTFOUND && meta == NULL)
		return STORE_NOTFOUND;
	if (store_err(rc) == STORE_FULL)
		log_warnx("store: %s of %zu bytes: %s", what, len,
		    mdb_strerror(rc));
	else
		log_error("store: %s: %s", what, mdb_strerror(rc));
	return store_err(rc);
}

/*
 * True when the filesystem under the store has less room than a batch of
 * batch bytes (plus a margin for B-tree pages).  LMDB turns a short write
 * (the filesystem filled up during the commit) into EIO, not ENOSPC.
 */
static bool
store_fs_full(const struct store *s, uint64_t batch)
{
	struct statvfs sv;

	if (statvfs(s->dir, &sv) == -1)
		return false;
	return (uint64_t)sv.f_bavail * sv.f_frsize < batch + (1u << 20);
}

/* Committer: drop the batch being written. */
static void
store_batch_abort(struct store *s)
{
	if (s->wtxn == NULL)
		return;
	mdb_txn_abort(s->wtxn);
	s->wtxn = NULL;
	s->batch_n = 0;
	s->bytes = __atomic_load_n(&s->bytes_saved, __ATOMIC_RELAXED);
}

/*
 * Committer: make the batch durable.  Contract: LMDB writes the data
 * pages, fsyncs, then writes and fsyncs the meta page; a crash or error
 * before the meta page leaves the previous commit in place, so a failed
 * commit never damages committed data.  LMDB frees the transaction on
 * failure too.  Returns 0, STORE_FULL or -1.
 */
static int
store_batch_commit(struct store *s)
{
	size_t n = s->batch_n;
	int rc;

	if (s->wtxn == NULL)
		return 0;
	rc = mdb_txn_commit(s->wtxn);
	s->wtxn = NULL;
	s->batch_n = 0;
	if (rc != 0) {
		s->bytes = __atomic_load_n(&s->bytes_saved, __ATOMIC_RELAXED);
		if (rc == EIO && store_fs_full(s, s->batch_bytes))
			rc = ENOSPC;
		if (store_err(rc) == STORE_FULL)
			log_error("store: commit of %zu writes (%" PRIu64
			    " bytes) failed: %s: the disk or store is full",
			    n, s->batch_bytes, mdb_strerror(rc));
		else
			log_error("store: commit of %zu writes failed: %s", n,
			    mdb_strerror(rc));
		return store_err(rc);
	}
	__atomic_store_n(&s->bytes_saved, s->bytes, __ATOMIC_RELAXED);
	if (n > 0)
		s->nudged = false;
	return 0;
}

/*
 * Committer: write one batch (each write in its own nested transaction,
 * so one that does not fit fails alone), commit it with one fsync, and
 * record every write's result.
 */
static void
store_batch_run(struct store *s, struct store_wr *batch)
{
	struct store_wr *w, *from, *x;
	int rc;

	/*
	 * Writes go straight into the batch's transaction; nesting each in
	 * a transaction of its own (so that one that does not fit fails
	 * alone) costs a copy of the dirty page list per write, so it is
	 * the second try: when a direct write fails, LMDB refuses the rest
	 * of the transaction, and the batch is done again, nested.
	 */
	s->nested = false;
again:
	s->broken = false;
	from = batch;
	if (store_batch_begin(s) == 0 && s->wtxn != NULL &&
	    (rc = store_ops_prune(s)) != 0)
		log_warnx("store: dropping expired op ids: %s",
		    mdb_strerror(rc));
	for (w = batch; w != NULL; w = w->next) {
		if (store_batch_begin(s) == -1) {
			w->rc = -1;
			continue;
		}
		w->rc = store_write_retry(s, &w->id, w->del ? NULL : &w->meta,
		    w->data, w->len);
		if (w->rc == STORE_SPLIT) {
			/* Full part-way: commit what fitted, go on afresh. */
			if ((rc = store_batch_commit(s)) != 0)
				for (x = from; x != w; x = x->next)
					if (x->rc == 0)
						x->rc = rc;
			from = w;
			w->rc = store_batch_begin(s) == -1 ? -1 :
			    store_write_retry(s, &w->id,
			    w->del ? NULL : &w->meta, w->data, w->len);
		}
		if (w->del && w->rc == STORE_NOTFOUND)
			w->rc = 0; /* already gone: what was asked */
		if (s->broken) {
			store_batch_abort(s);
			s->nested = true;
			goto again;
		}
	}
	if (s->wtxn != NULL && (rc = store_meta_put(s, s->wtxn,
	    STORE_M_BYTES, s->bytes, 8)) != 0) {
		log_error("store: byte count: %s", mdb_strerror(rc));
		if (!s->nested) {
			store_batch_abort(s);
			s->nested = true;
			goto again;
		}
	}
	if ((rc = store_batch_commit(s)) != 0)
		for (w = from; w != NULL; w = w->next)
			if (w->rc == 0)
				w->rc = rc;
}

/*
 * Committer, between commits: keep written space ahead of the data
 * file's last used page, so that the next commits' fdatasync does not
 * also commit the filesystem's journal (prealloc.h).
 */
static void
store_prep(struct store *s)
{
	MDB_envinfo info;

	if (s->prep.off || mdb_env_info(s->env, &info) != 0)
		return;
	(void)prealloc_run(&s->prep,
	    ((uint64_t)info.me_last_pgno + 1) * s->psize);
}

/* Committer: take the queue's head up to the batch bounds (mu held). */
static struct store_wr *
store_take_batch(struct store *s)
{
	struct store_wr *head = s->qhead, *w = head, *last = NULL;
	uint64_t bytes = 0;
	size_t n = 0;

	while (w != NULL && (n == 0 || (n < STORE_BATCH_WRITES &&
	    bytes + w->len <= STORE_BATCH_BYTES))) {
		bytes += w->len;
		n++;
		last = w;
		w = w->next;
	}
	if (last == NULL)
		return NULL;
	s->qhead = w;
	if (w == NULL)
		s->qtail = &s->qhead;
	last->next = NULL;
	return head;
}

/* The committer thread: commit batches while there are writes. */
static void *
store_committer(void *arg)
{
	struct store *s = arg;
	struct store_wr *batch, *w;
	uint64_t one = 1;

	pthread_mutex_lock(&s->mu);
	for (;;) {
		while (s->qhead == NULL && !s->stop)
			pthread_cond_wait(&s->work, &s->mu);
		if (s->qhead == NULL)
			break;
		batch = store_take_batch(s);
		pthread_mutex_unlock(&s->mu);

		store_batch_run(s, batch);

		pthread_mutex_lock(&s->mu);
		for (w = batch; w->next != NULL; w = w->next)
			;
		*s->dtail = batch;
		s->dtail = &w->next;
		s->durable_seq = w->seq;
		s->commits++;
		pthread_cond_broadcast(&s->idle);
		/* Wake the loop (an eventfd counter cannot overflow here). */
		if (write(s->efd, &one, sizeof one) == -1 && errno != EAGAIN)
			log_warn("store: eventfd");
		/*
		 * Between commits, after the replies, and only with nothing
		 * queued (prealloc.h): no batch, nor a store_commit() of the
		 * loop (joins, handovers), waits behind the zeros unless it
		 * came while they were written.
		 */
		if (s->qhead == NULL && !s->stop) {
			pthread_mutex_unlock(&s->mu);
			store_prep(s);
			pthread_mutex_lock(&s->mu);
		}
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* Start the committer.  -1 with a message in err. */
static int
store_start(struct store *s, char *err, size_t errlen)
{
	int rc;

	if ((s->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		return -1;
	}
	if ((rc = pthread_create(&s->thread, NULL, store_committer, s)) != 0) {
		snprintf(err, errlen, "cannot start the commit thread: %s",
		    strerror(rc));
		return -1;
	}
	s->running = true;
	return 0;
}

/* Bucket of the pending index for id. */
static struct store_wr **
store_pend_bucket(struct store *s, const struct store_id *id)
{
	uint64_t h = id->key.hi ^ (id->key.lo * 0x9e3779b97f4a7c15ULL) ^
	    ((uint64_t)id->replica << 56);

	return &s->pend[(h ^ (h >> 31)) % STORE_PEND_BUCKETS];
}

/* Same record? */
static bool
store_id_equal(const struct store_id *a, const struct store_id *b)
{
	return a->key.hi == b->key.hi && a->key.lo == b->key.lo &&
	    a->replica == b->replica &&
	    memcmp(&a->point, &b->point, sizeof a->point) == 0;
}

/*
 * The ids of the writes behind a new version: the new write's (ops[0] of
 * m, if it has one) and then those of the record's newest state here
 * (queued or committed), without repeats, at most STORE_OPS_MAX.
 */
static void
store_merge_ops(struct store *s, const struct store_id *id,
    struct store_meta *m)
{
	struct store_meta old;
	unsigned n = 0;

	if (m->nops > 0 && m->ops[0].client != 0) {
		n = 1;
		m->ops[0].version = m->version; /* it made this version */
	}
	/* (With one op per record there is nothing older to keep.) */
	if (n < STORE_OPS_MAX && store_peek_meta(s, id, &old) == 0) {
		for (unsigned i = 0; i < old.nops && n < STORE_OPS_MAX; i++) {
			if (n == 1 && old.ops[i].client == m->ops[0].client &&
			    old.ops[i].seq == m->ops[0].seq)
				continue;
			m->ops[n++] = old.ops[i];
		}
	}
	m->nops = (uint8_t)n;
}

/* Queue a write (loop thread) and wake the committer. */
static int
store_enqueue(struct store *s, const struct store_id *id,
    const struct store_meta *meta, const void *data, size_t len)
{
	struct store_wr *w = xcalloc(1, sizeof *w), **b;

	w->id = *id;
	w->del = meta == NULL;
	if (meta != NULL) {
		w->meta = *meta;
		w->meta.checksum = hash_checksum(data, len);
		w->meta.len = (uint32_t)len;
		store_merge_ops(s, id, &w->meta);
	}
	if (len > 0) {
		w->data = xmalloc(len);
		memcpy(w->data, data, len);
	}
	w->len = len;
	w->seq = ++s->next_seq;
	b = store_pend_bucket(s, id);
	w->hnext = *b; /* newest first */
	*b = w;
	s->unreaped++;
	s->unreaped_bytes += len;
	pthread_mutex_lock(&s->mu);
	*s->qtail = w;
	s->qtail = &w->next;
	pthread_cond_signal(&s->work);
	pthread_mutex_unlock(&s->mu);
	return 0;
}

/*
 * Put a record.  Contract: queued for the committer, which writes it in
 * a nested transaction, so any failure (STORE_FULL included) drops only
 * this write.  The data is copied.
 */
int
store_put(struct store *s, const struct store_id *id,
    const struct store_meta *meta, const void *data, size_t len)
{
	store_check_writable(s, "store_put");
	if (len > STORE_MAX_DATA || (len > 0 && data == NULL) ||
	    (meta->flags & ~(uint32_t)STORE_F_ALL) != 0) {
		log_error("store: put: bad arguments (len %zu, flags 0x%x)",
		    len, meta->flags);
		return -1;
	}
	return store_enqueue(s, id, meta, data, len);
}

/* Remove a record; queued like store_put(). */
int
store_delete(struct store *s, const struct store_id *id)
{
	store_check_writable(s, "store_delete");
	return store_enqueue(s, id, NULL, NULL, 0);
}

/*
 * Collect finished writes and answer the waiters they satisfy.  Returns
 * the worst result among the writes collected (0, STORE_FULL or -1).
 */
int
store_reap(struct store *s)
{
	struct store_wr *done, *w, *next, **pp;
	struct store_waiter *wt;
	uint64_t durable, cnt;
	int worst = 0, last;

	if (read(s->efd, &cnt, sizeof cnt) == -1 && errno != EAGAIN)
		log_warn("store: eventfd");
	pthread_mutex_lock(&s->mu);
	done = s->done;
	s->done = NULL;
	s->dtail = &s->done;
	durable = s->durable_seq;
	pthread_mutex_unlock(&s->mu);
	for (w = done; w != NULL; w = next) {
		next = w->next;
		for (pp = store_pend_bucket(s, &w->id); *pp != w;
		    pp = &(*pp)->hnext)
			;
		*pp = w->hnext;
		if (w->rc == -1 || (w->rc != 0 && worst == 0))
			worst = w->rc;
		s->unreaped--;
		s->unreaped_bytes -= w->len;
		free(w->data);
		free(w);
	}
	last = worst;
	while ((wt = s->waiters) != NULL && wt->upto <= durable) {
		s->waiters = wt->next;
		if (s->waiters == NULL)
			s->wtail = &s->waiters;
		wt->cb(wt->arg, last);
		free(wt);
	}
	return worst;
}

/* Call cb once every write queued so far is finished (see store.h). */
void
store_when_durable(struct store *s, store_done_cb cb, void *arg)
{
	struct store_waiter *wt;

	/*
	 * At once only when every write is reaped: a finished write not yet
	 * reaped may have failed, and only store_reap() knows its result.
	 */
	if (s->unreaped == 0 && s->waiters == NULL) {
		cb(arg, 0);
		return;
	}
	wt = xcalloc(1, sizeof *wt);
	wt->cb = cb;
	wt->arg = arg;
	wt->upto = s->next_seq;
	*s->wtail = wt;
	s->wtail = &wt->next;
}

/*
 * Wait until every queued write is finished, then reap.  Contract: on
 * return nothing is queued or in flight; returns the worst result of the
 * writes finished meanwhile (0 when every one is durable).
 */
int
store_commit(struct store *s)
{
	uint64_t upto = s->next_seq;

	store_check_writable(s, "store_commit");
	pthread_mutex_lock(&s->mu);
	while (s->durable_seq < upto)
		pthread_cond_wait(&s->idle, &s->mu);
	pthread_mutex_unlock(&s->mu);
	return store_reap(s);
}

/* Writes queued and not yet reaped. */
size_t
store_pending(const struct store *s)
{
	return s->unreaped;
}

/* Data bytes of the writes queued and not yet reaped. */
uint64_t
store_queued_bytes(const struct store *s)
{
	return s->unreaped_bytes;
}

/* The eventfd that becomes readable when store_reap() has work. */
int
store_event_fd(const struct store *s)
{
	return s->efd;
}

/* Batches committed so far. */
uint64_t
store_commits(struct store *s)
{
	uint64_t n;

	pthread_mutex_lock(&s->mu);
	n = s->commits;
	pthread_mutex_unlock(&s->mu);
	return n;
}

/* Look id up in the current view; fills *v. */
static int
store_lookup(struct store *s, MDB_txn *txn, const struct store_id *id,
    MDB_val *v)
{
	uint8_t kbuf[STORE_KEY_MAX];
	MDB_val k;
	int rc;

	store_key_encode(s, id, kbuf, &k);
	if ((rc = mdb_get(txn, s->objects, &k, v)) == MDB_NOTFOUND)
		return STORE_NOTFOUND;
	if (rc != 0) {
		log_error("store: get: %s", mdb_strerror(rc));
		return -1;
	}
	return 0;
}

/* Read a record with its data, verified. */
int
store_get(struct store *s, const struct store_id *id,
    struct store_meta *meta, void **data, size_t *len)
{
	struct store_meta m;
	MDB_txn *txn;
	MDB_val v;
	int rc;

	if ((txn = store_view_begin(s)) == NULL)
		return -1;
	if ((rc = store_lookup(s, txn, id, &v)) == 0 &&
	    (rc = store_value_check(&v, id, &m, true)) == 0) {
		if (meta != NULL)
			*meta = m;
		if (data != NULL) {
			*data = xmalloc(m.len > 0 ? m.len : 1);
			memcpy(*data, store_value_data(&v, &m), m.len);
		}
		if (len != NULL)
			*len = m.len;
	}
	store_view_end(s, txn);
	return rc;
}

/* The newest queued write to id (the chain is newest first), or NULL. */
static struct store_wr *
store_pend_newest(struct store *s, const struct store_id *id)
{
	struct store_wr *w;

	for (w = *store_pend_bucket(s, id); w != NULL; w = w->hnext)
		if (store_id_equal(&w->id, id))
			break;
	return w;
}

/* Read a record's meta only, as committed or (latest) with the batch. */
static int
store_meta_view(struct store *s, const struct store_id *id,
    struct store_meta *meta, bool latest)
{
	struct store_meta m;
	struct store_wr *w;
	MDB_txn *txn;
	MDB_val v;
	int rc;

	if (latest && (w = store_pend_newest(s, id)) != NULL) {
		if (w->del)
			return STORE_NOTFOUND;
		if (meta != NULL)
			*meta = w->meta;
		return 0;
	}
	if ((txn = store_view_begin(s)) == NULL)
		return -1;
	if ((rc = store_lookup(s, txn, id, &v)) == 0 &&
	    (rc = store_value_check(&v, id, &m, false)) == 0 && meta != NULL)
		*meta = m;
	store_view_end(s, txn);
	return rc;
}

/* A record's meta as committed. */
int
store_get_meta(struct store *s, const struct store_id *id,
    struct store_meta *meta)
{
	return store_meta_view(s, id, meta, false);
}

/* The version a write made, by its op id (see store.h). */
int
store_op_lookup(struct store *s, uint64_t client, uint64_t seq,
    const struct hash_key *key, uint64_t *version)
{
	uint8_t kb[16];
	MDB_val k = { sizeof kb, kb }, v;
	MDB_txn *txn;
	int rc;

	store_op_key(client, seq, kb);
	if ((txn = store_view_begin(s)) == NULL)
		return -1;
	rc = mdb_get(txn, s->ops, &k, &v);
	if (rc == 0 && (v.mv_size != 32 ||
	    get_le(v.mv_data, 8) != key->hi ||
	    get_le((const uint8_t *)v.mv_data + 8, 8) != key->lo))
		rc = MDB_NOTFOUND; /* malformed, or another key's */
	else if (rc == 0)
		*version = get_le((const uint8_t *)v.mv_data + 16, 8);
	store_view_end(s, txn);
	if (rc == MDB_NOTFOUND)
		return STORE_NOTFOUND;
	if (rc != 0) {
		log_error("store: op lookup: %s", mdb_strerror(rc));
		return -1;
	}
	return 0;
}

/* A record's meta, the open batch included. */
int
store_peek_meta(struct store *s, const struct store_id *id,
    struct store_meta *meta)
{
	return store_meta_view(s, id, meta, true);
}

/* store_get() of the newest state (see store.h). */
int
store_peek(struct store *s, const struct store_id *id,
    struct store_meta *meta, void **data, size_t *len)
{
	struct store_wr *w = store_pend_newest(s, id);

	if (w == NULL)
		return store_get(s, id, meta, data, len);
	if (w->del)
		return STORE_NOTFOUND;
	if (meta != NULL)
		*meta = w->meta;
	if (data != NULL) {
		*data = xmalloc(w->len > 0 ? w->len : 1);
		if (w->len > 0)
			memcpy(*data, w->data, w->len);
	}
	if (len != NULL)
		*len = w->len;
	return 0;
}

/*
 * Walk the cursor from its current record while dim 0 is below hi0,
 * calling cb on records inside z.  Returns 0 or an LMDB error.
 */
static int
store_iter_walk(struct store *s, MDB_cursor *c, MDB_val *k, MDB_val *v,
    const struct geom_zone *z, bool verify, store_iter_cb cb, void *arg)
{
	uint64_t hi0 = geom_zone_hi(z, 0);
	struct store_meta m;
	struct store_id id;
	int rc = 0, stop;

	for (; rc == 0; rc = mdb_cursor_get(c, k, v, MDB_NEXT)) {
		if (store_key_decode(s, k, &id) == -1) {
			log_error("store: skipping key of %zu bytes",
			    k->mv_size);
			continue;
		}
		if (id.point.c[0] >= hi0)
			return 0;
		if (!geom_zone_contains(z, &id.point, s->dims))
			continue;
		if (store_value_check(v, &id, &m, verify) != 0) {
			/* Report it, so that repair can replace the copy. */
			memset(&m, 0, sizeof m);
			m.flags = STORE_F_CORRUPT;
			s->iterating++;
			stop = cb(&id, &m, NULL, 0, arg);
			s->iterating--;
			if (stop)
				return 0;
			continue;
		}
		s->iterating++;
		stop = cb(&id, &m, store_value_data(v, &m), m.len, arg);
		s->iterating--;
		if (stop)
			return 0;
	}
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/*
 * Iterate over zone z.  Contract: keys sort by point with dim 0 first, so
 * the records with lo[0] <= c[0] < hi[0] are one contiguous range: seek
 * to lo[0], stop at the first key past it, filter the other dimensions.
 */
int
store_iter_zone_flags(struct store *s, const struct geom_zone *z,
    unsigned flags, store_iter_cb cb, void *arg)
{
	return store_iter_zone_after(s, z, NULL, flags, cb, arg);
}

/*
 * Iterate over zone z from the record after `after` on (NULL: from the
 * start).  Contract: as store_iter_zone(); the seek key is after's own
 * key, and the record equal to it is skipped.
 */
int
store_iter_zone_after(struct store *s, const struct geom_zone *z,
    const struct store_id *after, unsigned flags, store_iter_cb cb,
    void *arg)
{
	uint8_t start[STORE_KEY_MAX], seek[STORE_KEY_MAX];
	MDB_cursor *c = NULL;
	MDB_txn *txn;
	MDB_val k = { 4, start }, v;
	size_t seeklen = 0;
	int rc;

	if (!geom_zone_valid(z, s->dims)) {
		log_error("store: iterate: invalid zone");
		return -1;
	}
	if ((txn = store_view_begin(s)) == NULL)
		return -1;
	put_be(start, z->lo[0], 4);
	if (after != NULL) {
		store_key_encode(s, after, start, &k);
		seeklen = k.mv_size;
		memcpy(seek, start, seeklen);
	}
	if ((rc = mdb_cursor_open(txn, s->objects, &c)) == 0) {
		rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
		if (rc == 0 && seeklen > 0 && k.mv_size == seeklen &&
		    memcmp(k.mv_data, seek, seeklen) == 0)
			rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
		rc = rc == MDB_NOTFOUND ? 0 : rc != 0 ? rc :
		    store_iter_walk(s, c, &k, &v, z,
		    !(flags & STORE_ITER_NOVERIFY), cb, arg);
		mdb_cursor_close(c);
	}
	store_view_end(s, txn);
	if (rc != 0) {
		log_error("store: iterate: %s", mdb_strerror(rc));
		return -1;
	}
	return 0;
}

/* Iterate over zone z, every checksum verified. */
int
store_iter_zone(struct store *s, const struct geom_zone *z, store_iter_cb cb,
    void *arg)
{
	return store_iter_zone_flags(s, z, 0, cb, arg);
}

/* Iterate over everything. */
int
store_iter_all(struct store *s, store_iter_cb cb, void *arg)
{
	struct geom_zone z;

	geom_zone_whole(&z, s->dims);
	return store_iter_zone(s, &z, cb, arg);
}

/*
 * Record count and data bytes.  Contract: both from one snapshot (the
 * committed "bytes" counter, not bytes_saved, which the committer
 * updates after the snapshot is already visible).
 */
int
store_stats(struct store *s, uint64_t *count, uint64_t *bytes)
{
	MDB_stat st;
	MDB_txn *txn;
	uint64_t b = 0;
	int rc;

	if ((txn = store_view_begin(s)) == NULL)
		return -1;
	if ((rc = mdb_stat(txn, s->objects, &st)) == 0)
		rc = store_meta_get(s, txn, STORE_M_BYTES, &b, 8);
	store_view_end(s, txn);
	if (rc != 0) {
		log_error("store: stat: %s", mdb_strerror(rc));
		return -1;
	}
	if (count != NULL)
		*count = st.ms_entries;
	if (bytes != NULL)
		*bytes = b;
	return 0;
}

/* Pages on LMDB's free list (reusable without growing the file). */
static int
store_free_pages(struct store *s, uint64_t *pages)
{
	MDB_cursor *c;
	MDB_txn *txn;
	MDB_val k, v;
	size_t n;
	int rc;

	*pages = 0;
	if ((txn = store_view_begin(s)) == NULL)
		return -1;
	/* dbi 0 is the free list: values are ID lists, count first. */
	if ((rc = mdb_cursor_open(txn, 0, &c)) == 0) {
		while ((rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) == 0) {
			if (v.mv_size < sizeof n)
				continue;
			memcpy(&n, v.mv_data, sizeof n); /* may be unaligned */
			*pages += n;
		}
		mdb_cursor_close(c);
	}
	store_view_end(s, txn);
	if (rc != MDB_NOTFOUND) {
		log_error("store: free list: %s", mdb_strerror(rc));
		return -1;
	}
	return 0;
}

/*
 * Used and available bytes.  Contract: the map file only grows at its end
 * (last page), and is sparse, so growth is bounded both by the map size
 * and by the filesystem; pages on the free list are reused first and
 * need neither.
 */
int
store_space(struct store *s, uint64_t *used, uint64_t *avail)
{
	struct statvfs sv;
	MDB_envinfo info;
	MDB_stat st;
	uint64_t freepg, top, mapleft, fsleft;
	int rc;

	if ((rc = mdb_env_info(s->env, &info)) != 0 ||
	    (rc = mdb_env_stat(s->env, &st)) != 0) {
		log_error("store: env info: %s", mdb_strerror(rc));
		return -1;
	}
	if (store_free_pages(s, &freepg) == -1)
		return -1;
	if (statvfs(s->dir, &sv) == -1) {
		log_warn("store: statvfs %s", s->dir);
		return -1;
	}
	top = ((uint64_t)info.me_last_pgno + 1) * st.ms_psize;
	if (freepg * st.ms_psize > top)
		freepg = 0;
	mapleft = info.me_mapsize > top ? info.me_mapsize - top : 0;
	/* Zeros written ahead (prealloc.h) are room for the store too. */
	fsleft = (uint64_t)sv.f_bavail * sv.f_frsize +
	    prealloc_ready(&s->prep, top);
	if (used != NULL)
		*used = top - freepg * st.ms_psize;
	if (avail != NULL)
		*avail = (mapleft < fsleft ? mapleft : fsleft) +
		    freepg * st.ms_psize;
	return 0;
}
