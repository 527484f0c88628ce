/* data.c: chunks, write buffers, read cache, readahead (see data.h). */
#include <sys/stat.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bg.h"
#include "data.h"
#include "fs.h"
#include "held.h"
#include "inode.h"
#include "kv.h"
#include "log.h"
#include "itab.h"
#include "reap.h"
#include "xmalloc.h"

#define DATA_MAX_INFLIGHT 4	/* background chunk writes per file, at least (bg_threads) */
#define DATA_RA_MAX 64		/* chunks of one readahead: the readahead
				   option's maximum (canfs.c) */

#define DATA_PATCH_RANGES 64	/* dirty ranges a buffer keeps apart */

/* A dirty range of a chunk buffer. */
struct cbuf_range {
	uint32_t lo, hi;
};

/* A dirty chunk buffer. */
struct cbuf {
	uint64_t index;
	uint8_t *buf;		/* chunk bytes; zero where never written */
	uint32_t lo, hi;	/* dirty range [lo, hi) (empty: lo == hi);
				   with several ranges, their envelope */
	struct cbuf_range rg[DATA_PATCH_RANGES]; /* -o patch: the dirty
				   ranges, sorted, apart; none: [lo, hi) */
	int nrg;
	uint32_t base_len;	/* stored bytes merged in (with have_base) */
	bool have_base;		/* the stored chunk is merged around [lo,hi) */
	bool busy;		/* being written out: hands off */
	struct cbuf *next;	/* oldest first */
};

/* A cached clean chunk. */
struct rent {
	uint64_t index;
	bool ready;		/* v holds the chunk (len 0: a hole) */
	bool stale;		/* dropped while loading: the loader frees */
	struct kv_value v;
	uint64_t used;		/* LRU clock */
	struct rent *next;
};

struct data {
	struct fs *fs;
	struct itab_ent *node;	/* held by this state (itab_put at free) */
	int refs;		/* references (data_hold/data_put): n->data
				   while open, and each user that took it
				   from there; atomic */
	uint64_t ino;
	uint32_t chunk;
	pthread_mutex_t mu;
	pthread_cond_t cv;	/* a buffer or cache entry changed state */

	uint64_t size;		/* file size as this mount sees it */
	struct timespec mtime;	/* the stored mtime our cache matches */
	bool pending;		/* writes not yet in the inode record */
	uint64_t wend;		/* largest end of those writes */
	struct timespec wtime;	/* time of the last write */
	int err;		/* first failed write since the last flush */
	struct meta_extents wrote; /* chunks written (or tried: a write
				   that failed may have landed) that the
				   inode's extents may lack: merged into
				   them by the next flush */

	bool inl;		/* inline mode: the record we know has no
				   extents, and our writes stay within
				   data_inline_limit(): they go into the
				   inode's inline data at flush, chunk 0's
				   buffer being their only dirty buffer */
	bool iflushing;		/* an inline flush is in flight: writers
				   wait */
	uint8_t *ibuf;		/* the inline bytes of the record we know */
	uint32_t ilen;

	struct cbuf *dirty;
	int ndirty;
	int inflight;		/* background writes running */

	struct rent *cache;
	int ncache, maxcache;
	uint64_t clock;
	int prefetching;	/* readahead jobs running */
	uint64_t last_index;	/* chunk of the last read */
	uint64_t last_end;	/* where the last read ended */
};

/* A chunk write for the background pool. */
struct data_wjob {
	struct data *d;
	struct cbuf *cb;
	uint64_t size;		/* file size when it started */
	bool async;		/* finish it in the job (else the waiter) */
	int rc;
};

/* A readahead job. */
struct data_pjob {
	struct data *d;
	struct rent *r;
};

/* Take d->mu, counted for the lock-order check (held.h). */
static void
data_lock(struct data *d)
{
	pthread_mutex_lock(&d->mu);
	held_take();
}

/* Drop d->mu. */
static void
data_unlock(struct data *d)
{
	held_drop();
	pthread_mutex_unlock(&d->mu);
}

/* ---- chunks in the store ------------------------------------------- */

/* GET chunk idx: 0 with *v (len 0 for a hole), or -errno. */
static int
chunk_fetch(struct fs *fs, uint64_t ino, uint64_t idx, uint32_t chunk,
    struct kv_value *v)
{
	struct hash_key k;
	int rc;

	meta_key_chunk(ino, idx, &k);
	rc = kv_get(fs->kv, &k, v);
	if (rc == -ENOENT) {
		memset(v, 0, sizeof *v);
		return 0;
	}
	if (rc == 0 && v->len > chunk) {
		log_warnx("inode %" PRIx64 ": chunk %" PRIu64 " holds %zu "
		    "bytes, more than its size %u", ino, idx, v->len, chunk);
		v->len = chunk;
	}
	return rc;
}

/* PUT chunk idx. */
static int
chunk_store(struct fs *fs, uint64_t ino, uint64_t idx, const void *p,
    size_t len)
{
	struct hash_key k;

	meta_key_chunk(ino, idx, &k);
	return kv_put(fs->kv, &k, p, len, WIRE_COND_NONE, 0, NULL);
}

/*
 * GET n bytes at coff of chunk idx into out (zeros where the chunk ends
 * first, or is a hole): 0 or -errno.
 */
static int
chunk_fetch_range(struct fs *fs, uint64_t ino, uint64_t idx, uint32_t coff,
    uint32_t n, char *out)
{
	struct hash_key k;
	struct kv_value v;
	int rc;

	meta_key_chunk(ino, idx, &k);
	rc = kv_get_range(fs->kv, &k, coff, n, &v);
	if (rc == -ENOENT) {
		memset(out, 0, n);
		return 0;
	}
	if (rc != 0)
		return rc;
	if (v.len > n)
		v.len = n;	/* a daemon may not send more than asked */
	memcpy(out, v.data, v.len);
	memset(out + v.len, 0, n - v.len);
	kv_value_free(&v);
	return 0;
}

/* PATCH ranges of chunk idx (kv_patch()). */
static int
chunk_patch(struct fs *fs, uint64_t ino, uint64_t idx,
    const struct kv_range *r, int n)
{
	struct hash_key k;

	meta_key_chunk(ino, idx, &k);
	return kv_patch(fs->kv, &k, r, n);
}

static struct cbuf *cbuf_find(struct data *, uint64_t);
static void cbuf_merge_base(struct cbuf *, const uint8_t *, uint32_t);

/* ---- the read cache (d->mu held) ----------------------------------- */

/* The cache entry of chunk idx, or NULL (d->mu held). */
static struct rent *
rent_find(struct data *d, uint64_t idx)
{
	struct rent *r;

	for (r = d->cache; r != NULL && r->index != idx; r = r->next)
		;
	return r;
}

/* Unlink r from the cache; free it unless a loader still owns it. */
static void
rent_unlink(struct data *d, struct rent *r)
{
	struct rent **pp;

	for (pp = &d->cache; *pp != r; pp = &(*pp)->next)
		;
	*pp = r->next;
	d->ncache--;
	if (r->ready) {
		kv_value_free(&r->v);
		free(r);
	} else
		r->stale = true;
}

/* Drop chunk idx from the cache (its stored contents changed). */
static void
rent_drop(struct data *d, uint64_t idx)
{
	struct rent *r = rent_find(d, idx);

	if (r != NULL)
		rent_unlink(d, r);
}

/* Drop every cached chunk. */
static void
rent_drop_all(struct data *d)
{
	while (d->cache != NULL)
		rent_unlink(d, d->cache);
}

/* A new loading entry for idx, evicting the least recently used. */
static struct rent *
rent_new(struct data *d, uint64_t idx)
{
	struct rent *r;

	while (d->ncache >= d->maxcache) {
		struct rent *lru = NULL;

		for (r = d->cache; r != NULL; r = r->next) {
			if (r->ready && (lru == NULL || r->used < lru->used))
				lru = r;
		}
		if (lru == NULL)
			break;
		rent_unlink(d, lru);
	}
	r = xcalloc(1, sizeof *r);
	r->index = idx;
	r->used = ++d->clock;
	r->next = d->cache;
	d->cache = r;
	d->ncache++;
	return r;
}

/* Copy n bytes at coff of a chunk value (zeros past its end). */
static void
rent_copy(const struct kv_value *v, uint32_t coff, uint32_t n, char *out)
{
	uint32_t have = 0;

	if (coff < v->len)
		have = (uint32_t)v->len - coff < n ? (uint32_t)v->len - coff : n;
	if (have > 0)
		memcpy(out, v->data + coff, have);
	memset(out + have, 0, n - have);
}

/* A loader finished r (d->mu held): keep it, or free it if dropped. */
static void
rent_loaded(struct data *d, struct rent *r, int rc, struct kv_value *v)
{
	if (r->stale) {
		kv_value_free(v);
		free(r);
	} else if (rc != 0) {
		rent_unlink(d, r);
		free(r);
	} else {
		r->v = *v;
		r->ready = true;
	}
	pthread_cond_broadcast(&d->cv);
}

/* Background read of one chunk into the cache. */
static int
data_prefetch_job(void *arg)
{
	struct data_pjob *j = arg;
	struct data *d = j->d;
	struct kv_value v;
	int rc;

	rc = chunk_fetch(d->fs, d->ino, j->r->index, d->chunk, &v);
	data_lock(d);
	rent_loaded(d, j->r, rc, &v);
	d->prefetching--;
	pthread_cond_broadcast(&d->cv);
	data_unlock(d);
	free(j);
	return 0;
}

/* Readahead jobs set up under d->mu, submitted once it is dropped. */
struct data_ra {
	struct data_pjob *j[DATA_RA_MAX];
	int n;
};

/*
 * Set up readahead of the chunks after idx (d->mu held): cache entries
 * marked loading, and their jobs in *ra for data_readahead_go().  None
 * when the pool runs jobs in their submitter: the reader would fetch
 * chunks it has not asked for before its own reply.
 */
static void
data_readahead(struct data *d, uint64_t idx, struct data_ra *ra)
{
	ra->n = 0;
	if (bg_inline(d->fs->bg) || d->inl)	/* inline: no chunks */
		return;
	for (int i = 1; i <= d->fs->o.readahead && ra->n < DATA_RA_MAX;
	    i++) {
		uint64_t j = idx + (uint64_t)i;
		struct data_pjob *pj;

		if (j * d->chunk >= d->size)
			break;
		if (rent_find(d, j) != NULL)
			continue;
		pj = xcalloc(1, sizeof *pj);
		pj->d = d;
		pj->r = rent_new(d, j);
		d->prefetching++;
		ra->j[ra->n++] = pj;
	}
}

/* Submit the readahead jobs of *ra (d->mu not held: see fs.h). */
static void
data_readahead_go(struct data *d, struct data_ra *ra)
{
	for (int i = 0; i < ra->n; i++)
		bg_submit(d->fs->bg, NULL, data_prefetch_job, ra->j[i]);
}

/*
 * Copy n bytes at coff of chunk idx into out, from the cache or the store
 * (d->mu held; dropped while fetching).  A small read away from the last
 * one (random) that the cache cannot answer fetches its bytes only, and
 * caches nothing: a random reader of a large file moves 4 KiB, not a
 * chunk, per 4 KiB read.
 */
static int
data_read_chunk(struct data *d, uint64_t idx, uint32_t coff, uint32_t n,
    char *out, bool random)
{
	struct kv_value v;
	struct rent *r;
	int rc;

	if (d->inl) {
		/* Inline mode: chunk 0 is the inline bytes (and our
		 * buffer over them); no other chunk is stored. */
		struct cbuf *cb = idx == 0 ? cbuf_find(d, 0) : NULL;

		if (cb != NULL && !cb->have_base)
			cbuf_merge_base(cb, d->ibuf, d->ilen);
		v.data = cb != NULL ? cb->buf : idx == 0 ? d->ibuf : NULL;
		v.len = cb != NULL ? d->chunk : idx == 0 ? d->ilen : 0;
		rent_copy(&v, coff, n, out);
		return 0;
	}
	for (;;) {
		r = rent_find(d, idx);
		if (r != NULL && r->ready) {
			rent_copy(&r->v, coff, n, out);
			r->used = ++d->clock;
			return 0;
		}
		if (r == NULL)
			break;
		pthread_cond_wait(&d->cv, &d->mu); /* someone is loading it */
	}
	if (random && n <= d->chunk / 4) {
		data_unlock(d);
		rc = chunk_fetch_range(d->fs, d->ino, idx, coff, n, out);
		data_lock(d);
		return rc;
	}
	r = rent_new(d, idx);
	data_unlock(d);
	rc = chunk_fetch(d->fs, d->ino, idx, d->chunk, &v);
	data_lock(d);
	if (rc == 0)
		rent_copy(&v, coff, n, out);
	if (r->stale && rc == 0) {
		/* Dropped meanwhile: this read still uses what it got. */
		kv_value_free(&v);
		free(r);
		pthread_cond_broadcast(&d->cv);
		return 0;
	}
	rent_loaded(d, r, rc, &v);
	if (rc == 0)
		r->used = ++d->clock;
	return rc;
}

/* ---- dirty buffers ------------------------------------------------- */

/* The dirty buffer of chunk idx, or NULL (d->mu held). */
static struct cbuf *
cbuf_find(struct data *d, uint64_t idx)
{
	struct cbuf *cb;

	for (cb = d->dirty; cb != NULL && cb->index != idx; cb = cb->next)
		;
	return cb;
}

/* A new empty buffer at the tail (d->mu held). */
static struct cbuf *
cbuf_new(struct data *d, uint64_t idx)
{
	struct cbuf *cb = xcalloc(1, sizeof *cb), **pp;

	cb->index = idx;
	cb->buf = xcalloc(1, d->chunk);
	for (pp = &d->dirty; *pp != NULL; pp = &(*pp)->next)
		;
	*pp = cb;
	d->ndirty++;
	return cb;
}

/*
 * A buffer is done (d->mu held): record rc and, when it was being written
 * out (busy), its chunk for the inode's extents; free it.
 */
static void
cbuf_done(struct data *d, struct cbuf *cb, int rc)
{
	struct cbuf **pp;

	if (cb->busy)
		(void)meta_extents_add(&d->wrote, cb->index, cb->index + 1);

	if (rc != 0) {
		log_error("inode %" PRIx64 ": writing chunk %" PRIu64
		    " failed: %s", d->ino, cb->index, strerror(-rc));
		if (d->err == 0)
			d->err = rc;
	}
	rent_drop(d, cb->index);
	for (pp = &d->dirty; *pp != cb; pp = &(*pp)->next)
		;
	*pp = cb->next;
	d->ndirty--;
	free(cb->buf);
	free(cb);
	pthread_cond_broadcast(&d->cv);
}

/*
 * Merge len stored bytes p of cb's chunk around its dirty range.  Bytes
 * never written are zero in cb->buf already.
 */
static void
cbuf_merge_base(struct cbuf *cb, const uint8_t *p, uint32_t len)
{
	if (len == 0) {
		/* A hole: the zeros are there already. */
	} else if (cb->lo == cb->hi) {
		memcpy(cb->buf, p, len);
	} else {
		memcpy(cb->buf, p, len < cb->lo ? len : cb->lo);
		if (len > cb->hi)
			memcpy(cb->buf + cb->hi, p + cb->hi, len - cb->hi);
	}
	cb->base_len = len;
	cb->have_base = true;
}

/*
 * Merge the stored chunk around the dirty range of cb (cb busy, d->mu not
 * held; in inline mode d->mu held: the inline bytes are chunk 0).
 */
static int
cbuf_load_base(struct data *d, struct cbuf *cb)
{
	struct kv_value v;
	int rc;

	if (d->inl) {
		if (cb->index == 0)
			cbuf_merge_base(cb, d->ibuf, d->ilen);
		else
			cbuf_merge_base(cb, NULL, 0);
		return 0;
	}
	if ((rc = chunk_fetch(d->fs, d->ino, cb->index, d->chunk, &v)) != 0)
		return rc;
	cbuf_merge_base(cb, v.data, (uint32_t)v.len);
	kv_value_free(&v);
	return 0;
}

/* ---- inline data (d->mu held) ---------------------------------------- */

/* Bytes a file may keep inline: the mount's limit, within chunk 0. */
static uint32_t
data_inline_limit(const struct data *d)
{
	uint32_t lim = d->fs->o.inline_max;

	if (lim > META_INLINE_MAX)
		lim = META_INLINE_MAX;
	return lim < d->chunk ? lim : d->chunk;
}

/* Take the inline state of a record we read or wrote. */
static void
data_inline_take(struct data *d, const struct meta_inode *in)
{
	if (in->inl_omitted)
		return;	/* a cached copy without them: keep ours */
	d->inl = S_ISREG(in->mode) && in->ext.n == 0;
	free(d->ibuf);
	d->ibuf = NULL;
	d->ilen = d->inl ? in->inl_len : 0;
	if (d->ilen > 0) {
		d->ibuf = xmalloc(d->ilen);
		memcpy(d->ibuf, in->inl, d->ilen);
	}
}

/*
 * Leave inline mode (a write past the limit): the inline bytes become
 * chunk 0's buffer, written like any chunk, and the flush that records
 * the chunks drops them from the record.
 */
static void
data_inline_move(struct data *d)
{
	struct cbuf *cb;

	if (d->ilen > 0) {
		if ((cb = cbuf_find(d, 0)) == NULL)
			cb = cbuf_new(d, 0);
		if (!cb->have_base)
			(void)cbuf_load_base(d, cb);
	}
	d->inl = false;	/* the flush recording chunk 0 drops them */
}

/* Is what cb will write one range (or the merged whole chunk)? */
static bool
cbuf_contiguous(const struct cbuf *cb)
{
	return cb->have_base || cb->nrg <= 1;
}

/*
 * Add [lo, hi) to cb's dirty ranges (-o patch), merging the ones it
 * overlaps or touches.  False, with nothing changed, when that would
 * make more than DATA_PATCH_RANGES.
 */
static bool
cbuf_range_add(struct cbuf *cb, uint32_t lo, uint32_t hi)
{
	struct cbuf_range out[DATA_PATCH_RANGES + 1];
	int n = 0, i = 0;

	if (cb->nrg == 0 && cb->lo != cb->hi) {
		/* Written before ranges were kept (inline mode). */
		cb->rg[0].lo = cb->lo;
		cb->rg[0].hi = cb->hi;
		cb->nrg = 1;
	}
	for (; i < cb->nrg && cb->rg[i].hi < lo; i++)
		out[n++] = cb->rg[i];
	out[n].lo = lo;
	out[n].hi = hi;
	for (; i < cb->nrg && cb->rg[i].lo <= hi; i++) {
		if (cb->rg[i].lo < out[n].lo)
			out[n].lo = cb->rg[i].lo;
		if (cb->rg[i].hi > out[n].hi)
			out[n].hi = cb->rg[i].hi;
	}
	n++;
	if (n + (cb->nrg - i) > DATA_PATCH_RANGES)
		return false;
	for (; i < cb->nrg; i++)
		out[n++] = cb->rg[i];
	memcpy(cb->rg, out, (size_t)n * sizeof *out);
	cb->nrg = n;
	return true;
}

/*
 * Write cb to the store (cb busy, d->mu not held).  size is the file size:
 * when the dirty range starts the chunk and reaches the chunk's end or
 * the end of the file, nothing stored survives and the old contents are
 * not needed.  Any other range goes out as a patch of its bytes alone
 * (-o patch, the default): the daemon applies it to the stored chunk, so
 * nothing is read here and a concurrent patch of another range of the
 * chunk, from any mount, keeps its bytes too.  Without patches (or with
 * the stored chunk merged already) the whole chunk is written.
 */
static int
cbuf_write(struct data *d, struct cbuf *cb, uint64_t size)
{
	uint64_t start = cb->index * d->chunk;
	bool whole = cbuf_contiguous(cb) && cb->lo == 0 &&
	    (cb->hi == d->chunk || start + cb->hi >= size);
	uint32_t len;
	int rc;

	if (!cb->have_base && !whole && d->fs->o.patch && !d->inl) {
		struct kv_range r[DATA_PATCH_RANGES];
		int n = cb->nrg;

		if (n == 0) {
			r[0].off = cb->lo;
			r[0].len = cb->hi - cb->lo;
			n = 1;
		}
		for (int i = 0; i < cb->nrg; i++) {
			r[i].off = cb->rg[i].lo;
			r[i].len = cb->rg[i].hi - cb->rg[i].lo;
		}
		for (int i = 0; i < n; i++)
			r[i].data = cb->buf + r[i].off;
		return chunk_patch(d->fs, d->ino, cb->index, r, n);
	}
	if (!cb->have_base && !whole && (rc = cbuf_load_base(d, cb)) != 0)
		return rc;
	len = cb->hi;
	if (cb->have_base && cb->base_len > len)
		len = cb->base_len;
	return chunk_store(d->fs, d->ino, cb->index, cb->buf, len);
}

/* Run a chunk write; background ones finish themselves. */
static int
data_wjob_run(void *arg)
{
	struct data_wjob *j = arg;
	struct data *d = j->d;

	j->rc = cbuf_write(d, j->cb, j->size);
	if (!j->async)
		return j->rc;
	data_lock(d);
	cbuf_done(d, j->cb, j->rc);
	d->inflight--;
	data_unlock(d);
	free(j);
	return 0;
}

/*
 * Send a full buffer out in the background (d->mu held, dropped while
 * submitting: a pool without threads runs the job here, and the job
 * takes d->mu to finish).  cb is the job's from here on.
 */
static void
data_write_async(struct data *d, struct cbuf *cb)
{
	struct data_wjob *j;

	while (d->inflight >= DATA_MAX_INFLIGHT && d->inflight >= d->fs->o.bg_threads)
		pthread_cond_wait(&d->cv, &d->mu);
	j = xcalloc(1, sizeof *j);
	j->d = d;
	j->cb = cb;
	j->size = d->size;
	j->async = true;
	cb->busy = true;
	d->inflight++;
	data_unlock(d);
	bg_submit(d->fs->bg, NULL, data_wjob_run, j);
	data_lock(d);
}

/*
 * Write out the dirty buffers of chunks [first, last], in parallel, and
 * wait for those already going out (d->mu held; dropped while writing).
 * Failures land in d->err.
 */
static void
data_writeout(struct data *d, uint64_t first, uint64_t last)
{
	for (;;) {
		struct data_wjob *jobs;
		struct bg_group grp;
		struct cbuf *cb;
		int n = 0, busy = 0;

		jobs = xcalloc((size_t)d->ndirty + 1, sizeof *jobs);
		for (cb = d->dirty; cb != NULL; cb = cb->next) {
			if (cb->index < first || cb->index > last)
				continue;
			if (cb->busy) {
				busy++;
				continue;
			}
			cb->busy = true;
			jobs[n].d = d;
			jobs[n].cb = cb;
			jobs[n].size = d->size;
			n++;
		}
		if (n == 0) {
			free(jobs);
			if (busy == 0)
				return;
			pthread_cond_wait(&d->cv, &d->mu);
			continue;
		}
		data_unlock(d);
		bg_group_init(&grp);
		for (int i = 1; i < n; i++)
			bg_submit(d->fs->bg, &grp, data_wjob_run, &jobs[i]);
		(void)data_wjob_run(&jobs[0]);
		(void)bg_group_wait(&grp);
		bg_group_destroy(&grp);
		data_lock(d);
		for (int i = 0; i < n; i++)
			cbuf_done(d, jobs[i].cb, jobs[i].rc);
		free(jobs);
	}
}

/* The dirty buffer of idx, ready for a write (d->mu held). */
static struct cbuf *
data_buffer(struct data *d, uint64_t idx)
{
	struct cbuf *cb;

	for (;;) {
		cb = cbuf_find(d, idx);
		if (cb != NULL && !cb->busy)
			return cb;
		if (cb != NULL) {
			pthread_cond_wait(&d->cv, &d->mu);
			continue;
		}
		if (d->ndirty < d->fs->o.max_dirty)
			return cbuf_new(d, idx);
		/* Too many: write out the oldest idle one first. */
		for (cb = d->dirty; cb != NULL && cb->busy; cb = cb->next)
			;
		if (cb == NULL)
			pthread_cond_wait(&d->cv, &d->mu);
		else
			data_writeout(d, cb->index, cb->index);
	}
}

/* Copy one piece of a write into chunk idx (d->mu held). */
static int
data_write_piece(struct data *d, uint64_t idx, uint32_t coff, uint32_t n,
    const char *src)
{
	struct cbuf *cb = data_buffer(d, idx);
	int rc;

	if (!cb->have_base && cb->lo != cb->hi &&
	    (coff > cb->hi || coff + n < cb->lo) && d->inl)
		(void)cbuf_load_base(d, cb);
	if (!cb->have_base && d->fs->o.patch && !d->inl &&
	    !cbuf_range_add(cb, coff, coff + n)) {
		/* Too many ranges apart: write them out, start afresh. */
		data_writeout(d, idx, idx);
		cb = data_buffer(d, idx);
		(void)cbuf_range_add(cb, coff, coff + n);
	}
	if (!cb->have_base && cb->lo != cb->hi && !d->fs->o.patch &&
	    (coff > cb->hi || coff + n < cb->lo)) {
		/* A gap between dirty ranges: merge the stored chunk. */
		cb->busy = true;
		data_unlock(d);
		rc = cbuf_load_base(d, cb);
		data_lock(d);
		cb->busy = false;
		pthread_cond_broadcast(&d->cv);
		if (rc != 0)
			return rc;
	}
	memcpy(cb->buf + coff, src, n);
	if (cb->lo == cb->hi) {
		cb->lo = coff;
		cb->hi = coff + n;
	} else {
		if (coff < cb->lo)
			cb->lo = coff;
		if (coff + n > cb->hi)
			cb->hi = coff + n;
	}
	rent_drop(d, idx);
	if (cb->lo == 0 && cb->hi == d->chunk && !d->inl &&
	    cbuf_contiguous(cb))
		data_write_async(d, cb);
	return 0;
}

/* ---- the interface ------------------------------------------------- */

/* Open-file state, with one reference and a hold on n (table locked). */
struct data *
data_new(struct fs *fs, struct itab_ent *n, const struct meta_inode *in)
{
	struct data *d = xcalloc(1, sizeof *d);

	d->fs = fs;
	d->node = n;
	n->refs++; /* ours, dropped at the free */
	d->refs = 1;
	d->ino = n->ino;
	d->chunk = in->chunk_size;
	d->size = in->size;
	d->mtime = in->mtime;
	d->maxcache = fs->o.readahead + 4;
	data_inline_take(d, in);
	pthread_mutex_init(&d->mu, NULL);
	pthread_cond_init(&d->cv, NULL);
	return d;
}

/* Free open-file state: its last reference went (see data_put). */
static void
data_free(struct data *d)
{
	struct itab_ent *n = d->node;
	struct fs *fs = d->fs;

	data_lock(d);
	while (d->prefetching > 0 || d->inflight > 0)
		pthread_cond_wait(&d->cv, &d->mu);
	if (d->dirty != NULL)
		log_error("inode %" PRIx64 ": %d dirty chunks dropped at close",
		    d->ino, d->ndirty);
	while (d->dirty != NULL)
		cbuf_done(d, d->dirty, 0);
	if (d->wrote.n > 0)
		log_warnx("inode %" PRIx64 ": %" PRIu64 " chunk(s) written but "
		    "not recorded in its inode (a failed flush): nothing will "
		    "delete them", d->ino, meta_extents_count(&d->wrote));
	meta_extents_free(&d->wrote);
	rent_drop_all(d);
	free(d->ibuf);
	data_unlock(d);
	pthread_cond_destroy(&d->cv);
	pthread_mutex_destroy(&d->mu);
	free(d);
	itab_put(fs->nodes, n);
}

/* data_free() as a background job. */
static int
data_free_job(void *arg)
{
	data_free(arg);
	return 0;
}

/* One more reference (see data.h). */
void
data_hold(struct data *d)
{
	if (__atomic_fetch_add(&d->refs, 1, __ATOMIC_RELAXED) <= 0)
		fatalx("inode %" PRIx64 ": open-file state held after its "
		    "free", d->ino);
}

/*
 * Drop a reference; the last one frees (see data.h).  In a worker (the
 * inode reads of readdirplus reach open files' state) the free goes to
 * the tail of the queue: it waits for d's readahead and chunk writes,
 * which may be queued behind this worker, and all of them were queued
 * before it, since only a reference holder starts them.
 */
void
data_put(struct data *d)
{
	int left;

	if (d == NULL)
		return;
	held_check("freeing open-file state");
	left = __atomic_sub_fetch(&d->refs, 1, __ATOMIC_ACQ_REL);
	if (left < 0)
		fatalx("inode %" PRIx64 ": open-file state reference count "
		    "underflow", d->ino);
	if (left == 0 && !(bg_worker() && bg_defer(d->fs->bg, data_free_job,
	    d)))
		data_free(d);
}

/* The open-file state of n with a reference, or NULL (see data.h). */
struct data *
data_get(struct fs *fs, struct itab_ent *n)
{
	struct data *d;

	itab_lock(fs->nodes);
	if ((d = n->data) != NULL)
		data_hold(d);
	itab_unlock(fs->nodes);
	return d;
}

/* Read (see data.h). */
ssize_t
data_read(struct data *d, char *buf, size_t size, uint64_t off)
{
	struct data_ra ra;
	uint64_t idx = 0, first, end;
	size_t done = 0;
	bool random;
	int rc = 0;

	if (size == 0)
		return 0;
	data_lock(d);
	first = off / d->chunk;
	/* Our own unflushed writes must be read back (inline mode reads
	 * them from chunk 0's buffer). */
	if (d->ndirty > 0 && !d->inl)
		data_writeout(d, first, (off + size - 1) / d->chunk);
	if (off >= d->size) {
		data_unlock(d);
		return 0;
	}
	end = off + size < d->size ? off + size : d->size;
	/* Not where the last read ended: a random reader (of many). */
	random = off != d->last_end && off != 0;
	while (off + done < end) {
		uint64_t pos = off + done;
		uint32_t coff = (uint32_t)(pos % d->chunk);
		uint32_t n = d->chunk - coff;

		idx = pos / d->chunk;
		if (n > end - pos)
			n = (uint32_t)(end - pos);
		if ((rc = data_read_chunk(d, idx, coff, n, buf + done,
		    random)) != 0)
			break;
		done += n;
	}
	ra.n = 0;
	if (rc == 0 && (off == 0 || first == d->last_index ||
	    first == d->last_index + 1))
		data_readahead(d, idx, &ra);
	d->last_index = idx;
	d->last_end = off + done;
	data_unlock(d);
	data_readahead_go(d, &ra);
	return rc != 0 ? rc : (ssize_t)done;
}

/* Write (see data.h). */
ssize_t
data_write(struct data *d, const char *buf, size_t size, uint64_t off)
{
	size_t done = 0;
	int rc = 0;

	if (size == 0)
		return 0;
	data_lock(d);
	while (d->iflushing)
		pthread_cond_wait(&d->cv, &d->mu);
	if (d->err != 0) {
		rc = d->err;
		data_unlock(d);
		return rc;
	}
	if (d->inl && off + size > data_inline_limit(d))
		data_inline_move(d);
	while (done < size) {
		uint64_t pos = off + done;
		uint32_t coff = (uint32_t)(pos % d->chunk);
		uint32_t n = d->chunk - coff;

		if (n > size - done)
			n = (uint32_t)(size - done);
		/* The size first: a full chunk goes out with it. */
		if (pos + n > d->size)
			d->size = pos + n;
		rc = data_write_piece(d, pos / d->chunk, coff, n, buf + done);
		if (rc != 0)
			break;
		done += n;
	}
	if (done > 0) {
		if (off + done > d->wend)
			d->wend = off + done;
		d->pending = true;
		clock_gettime(CLOCK_REALTIME, &d->wtime);
	}
	data_unlock(d);
	return done > 0 ? (ssize_t)done : rc;
}

/* What a flush writes into the inode. */
struct data_flushattr {
	struct data *d;
	bool grow;		/* set size and times (else extents only) */
	uint64_t wend;
	struct timespec wtime;
	struct timespec base;	/* the mtime our writes started from */
	struct meta_extents ext; /* chunks written since the last flush */
	bool inl;		/* an inline flush: cb's dirty bytes go into
				   the record's inline data */
	const struct cbuf *cb;	/* ...chunk 0's buffer, or NULL */
	bool fallback;		/* ...the record has extents now (another
				   mount wrote chunks): flush as chunks */
	bool foreign;		/* the record had another mtime: someone
				   else changed the file meanwhile */
	struct meta_inode out;	/* the record written */
	int rc;
};

/*
 * Inode mutation of a flush: grow the size, set the times, and record
 * the chunks written in the extents (which drops inline data: chunk 0
 * holds it now), or, for an inline flush, write our bytes into the
 * inline data, all in one compare-and-swap.  Only the range we wrote is
 * copied, so another mount's writes elsewhere in a small file stay.
 */
static int
data_flush_mut(struct meta_inode *in, void *arg)
{
	struct data_flushattr *fa = arg;
	bool changed;

	if (fa->inl) {
		if (in->ext.n > 0) {
			fa->fallback = true;
			return -EAGAIN;
		}
		if (fa->cb != NULL && fa->cb->hi > fa->cb->lo)
			meta_inline_write(in, fa->cb->lo,
			    fa->cb->buf + fa->cb->lo, fa->cb->hi - fa->cb->lo);
	}
	changed = meta_extents_merge(&in->ext, &fa->ext);
	if (in->ext.n > 0 && in->inl_len > 0) {
		meta_inline_clear(in);
		changed = true;
	}
	if (!fa->grow)
		return changed ? 0 : INODE_UNCHANGED;
	fa->foreign = meta_ts_cmp(&in->mtime, &fa->base) != 0;
	if (fa->wend > in->size)
		in->size = fa->wend;
	in->mtime = fa->wtime;
	in->ctime = fa->wtime;
	return 0;
}

/*
 * Flush (see data.h).  The chunks go out first and the inode's new size
 * and times only once they are in: another mount that sees the new mtime
 * at open must find the new bytes too, or its kernel would keep the old
 * ones, read just before they landed, as if they were current.  The same
 * update adds the chunks written to the inode's extents (no extra round
 * trip); after a failed write it still records them (an update of the
 * extents alone), since a write that failed may have landed.  A crash in
 * between leaves new bytes under the old size and mtime (as a lost write
 * would), in chunks the extents may lack: orphans no removal deletes.
 */
/*
 * Another mount wrote (or truncated) the file while we did: the kernel's
 * pages hold our bytes where the store may hold its.  A size no file has
 * makes the next open drop them.
 */
static void
data_foreign(struct data *d)
{
	itab_lock(d->fs->nodes);
	d->node->ksize = UINT64_MAX;
	itab_unlock(d->fs->nodes);
}

/*
 * Flush in inline mode (d->mu held; dropped while writing): our bytes,
 * the size and times in one inode update, with no chunk at all.  Returns
 * 0 or -errno, or -EAGAIN when the record has extents now: the caller
 * flushes the chunk way (this left inline mode).  *foreign: another
 * mount had changed the file (data_foreign(), once d->mu is dropped).
 */
static int
data_flush_inline(struct data *d, bool *foreign)
{
	struct data_flushattr fa = { .d = d, .inl = true, .grow = true };
	struct cbuf *cb = cbuf_find(d, 0);

	fa.wend = d->wend;
	fa.wtime = d->wtime;
	fa.base = d->mtime;
	fa.cb = cb;
	d->pending = false;
	d->wend = 0;
	d->iflushing = true;	/* cb is ours until the update is done */
	data_unlock(d);
	meta_inode_init(&fa.out);
	fa.rc = inode_update(d->fs, d->node, data_flush_mut, &fa, &fa.out);
	data_lock(d);
	d->iflushing = false;
	pthread_cond_broadcast(&d->cv);
	if (fa.rc == 0) {
		if (cb != NULL)
			cbuf_done(d, cb, 0);
		d->mtime = fa.out.mtime;
		data_inline_take(d, &fa.out);
		*foreign = fa.foreign;
	} else {
		d->pending = true;
		if (fa.wend > d->wend)
			d->wend = fa.wend;
		if (fa.fallback) {
			/* Chunk 0 is stored now: its base comes from there. */
			d->inl = false;
			if (cb != NULL) {
				cb->have_base = false;
				cb->base_len = 0;
			}
			fa.rc = -EAGAIN;
		}
	}
	meta_inode_free(&fa.out);
	return fa.rc;
}

int
data_flush(struct data *d)
{
	struct data_flushattr fa = { .d = d };
	bool foreign = false;
	int rc;

	data_lock(d);
	while (d->iflushing)
		pthread_cond_wait(&d->cv, &d->mu);
	if (d->inl) {
		rc = d->err;
		d->err = 0;
		if (rc != 0 || !d->pending) {
			data_unlock(d);
			return rc;
		}
		if ((rc = data_flush_inline(d, &foreign)) != -EAGAIN) {
			data_unlock(d);
			if (foreign)
				data_foreign(d);
			return rc;
		}
	}
	data_writeout(d, 0, UINT64_MAX);
	while (d->inflight > 0)
		pthread_cond_wait(&d->cv, &d->mu);
	rc = d->err;
	d->err = 0;
	fa.grow = d->pending && rc == 0;
	if (fa.grow) {
		fa.wend = d->wend;
		fa.wtime = d->wtime;
		fa.base = d->mtime;
		d->pending = false;
		d->wend = 0;
	}
	fa.ext = d->wrote;
	memset(&d->wrote, 0, sizeof d->wrote);
	data_unlock(d);
	if (!fa.grow && fa.ext.n == 0)
		return rc;
	meta_inode_init(&fa.out);
	fa.rc = inode_update(d->fs, d->node, data_flush_mut, &fa, &fa.out);
	data_lock(d);
	if (fa.rc != 0) {
		/* Try the inode again at the next flush. */
		if (fa.grow) {
			d->pending = true;
			if (fa.wend > d->wend)
				d->wend = fa.wend;
		}
		(void)meta_extents_merge(&d->wrote, &fa.ext);
		if (rc == 0)
			rc = fa.rc;
	} else {
		if (fa.grow && !d->pending)
			d->mtime = fa.out.mtime;
		if (d->ndirty == 0 && d->inflight == 0 && !d->pending)
			data_inline_take(d, &fa.out);
	}
	data_unlock(d);
	if (fa.rc == 0 && fa.grow && fa.foreign)
		data_foreign(d);
	meta_extents_free(&fa.ext);
	meta_inode_free(&fa.out);
	return rc;
}

/* Merge unflushed state into a fresh record (see data.h). */
void
data_attr(struct data *d, struct meta_inode *in)
{
	data_lock(d);
	if (d->pending || d->ndirty > 0 || d->inflight > 0) {
		if (d->size > in->size)
			in->size = d->size;
		if (d->pending) {
			in->mtime = d->wtime;
			in->ctime = d->wtime;
		}
	} else if (!d->iflushing && (in->size != d->size ||
	    meta_ts_cmp(&in->mtime, &d->mtime))) {
		/* Changed elsewhere: what we cached is old. */
		rent_drop_all(d);
		d->size = in->size;
		d->mtime = in->mtime;
		data_inline_take(d, in);
	}
	data_unlock(d);
}

/* After a truncate. */
void
data_set_size(struct data *d, uint64_t size)
{
	data_lock(d);
	d->size = size;
	if (d->wend > size)
		d->wend = size;
	if (d->ilen > size)
		d->ilen = (uint32_t)size;	/* as the record's (meta.h) */
	rent_drop_all(d);
	data_unlock(d);
}

/* Store work of a truncate (see data.h). */
int
data_truncate(struct fs *fs, uint64_t ino, const struct meta_inode *in,
    uint64_t newsize, struct data_trunc *t)
{
	uint32_t chunk = in->chunk_size;
	uint64_t k = newsize / chunk;
	uint32_t keep = (uint32_t)(newsize % chunk);
	struct kv_value v;
	int rc;

	/*
	 * Growing deletes what the extents hold past the old end (nothing,
	 * unless a racing writer's chunk was kept there: it must not show
	 * through the new zeros); shrinking, past the new end.
	 */
	t->cut = meta_nchunks(newsize < in->size ? newsize : in->size, chunk);
	meta_extents_tail(&t->gone, &in->ext, t->cut);
	if (newsize < in->size && keep > 0 && meta_extents_has(&in->ext, k)) {
		/* Zero-trim the chunk that holds the new end. */
		if ((rc = chunk_fetch(fs, ino, k, chunk, &v)) != 0)
			return rc;
		rc = v.len > keep ? chunk_store(fs, ino, k, v.data, keep) : 0;
		kv_value_free(&v);
		if (rc != 0)
			return rc;
	}
	return reap_extents(fs, ino, &t->gone);
}

/* Trim the extents of a truncated inode (see data.h). */
void
data_truncate_trim(struct meta_inode *in, const struct data_trunc *t)
{
	struct meta_extents tail;

	meta_extents_tail(&tail, &in->ext, t->cut);
	/*
	 * A chunk recorded past the cut since we looked (another mount's
	 * flush) was not deleted: keep the list whole, a superset, so that
	 * the next truncate or the removal deletes it.
	 */
	if (meta_extents_covers(&t->gone, &tail))
		meta_extents_trim(&in->ext, t->cut);
	meta_extents_free(&tail);
}

/* Free what a truncate recorded. */
void
data_trunc_free(struct data_trunc *t)
{
	meta_extents_free(&t->gone);
}

/* Background removal of the chunks in a removed file's extents. */
void
data_remove_async(struct fs *fs, uint64_t ino, const struct meta_inode *in)
{
	if (S_ISREG(in->mode) && in->ext.n > 0)
		reap_file(fs->reap, ino, &in->ext);
}
