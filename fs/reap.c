/* reap.c: deleting the chunks inside a file's extents (see reap.h). */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "bg.h"
#include "fs.h"
#include "kv.h"
#include "log.h"
#include "reap.h"
#include "xmalloc.h"

/* The chunks of an extent list not taken yet, in order. */
struct reap_cursor {
	struct meta_extents ext; /* owned copy */
	uint16_t at;		/* extent of the next chunk (ext.n: done) */
	uint64_t next;		/* the next chunk, inside ext.v[at] */
};

/* The deletes of one truncate, shared by its jobs. */
struct reap_fg {
	struct fs *fs;
	uint64_t ino;
	pthread_mutex_t mu;	/* c and err */
	struct reap_cursor c;
	int err;		/* first failure: the jobs stop */
};

/* One removed file in the background queue. */
struct reap_item {
	uint64_t ino;
	struct reap_cursor c;
	bool queued;		/* in the queue: chunks left to take */
	int busy;		/* batch requests in flight with its chunks */
	int err;		/* first failure: the rest is dropped */
	uint64_t failed;	/* chunks whose delete failed */
	uint64_t dropped;	/* chunks never sent (after a failure) */
	struct reap_item *next;
};

struct reap {
	struct fs *fs;
	pthread_mutex_t mu;	/* everything below */
	struct reap_item *head, *tail; /* removals with chunks to take */
	int jobs;		/* reap_bg_job()s queued or running */
	uint64_t pending;	/* chunks queued, not taken yet */
};

/* One batch request's worth: what it deletes and for whom. */
struct reap_slice {
	struct kv_op ops[WIRE_BATCH_MAX];
	uint64_t idx[WIRE_BATCH_MAX];
	struct reap_item *who[WIRE_BATCH_MAX]; /* background only */
	size_t n;
};

/* A cursor at the first chunk of ext (copied). */
static void
reap_cursor_init(struct reap_cursor *c, const struct meta_extents *ext)
{
	meta_extents_copy(&c->ext, ext);
	c->at = 0;
	c->next = ext->n > 0 ? ext->v[0].first : 0;
}

/* Chunks not taken yet. */
static uint64_t
reap_cursor_left(const struct reap_cursor *c)
{
	uint64_t n = 0;

	if (c->at < c->ext.n)
		n = c->ext.v[c->at].end - c->next;
	for (uint16_t i = c->at + 1; i < c->ext.n; i++)
		n += c->ext.v[i].end - c->ext.v[i].first;
	return n;
}

/* Take up to max chunk indices into idx; returns how many. */
static size_t
reap_cursor_take(struct reap_cursor *c, uint64_t *idx, size_t max)
{
	size_t k = 0;

	while (k < max && c->at < c->ext.n) {
		idx[k++] = c->next++;
		if (c->next == c->ext.v[c->at].end && ++c->at < c->ext.n)
			c->next = c->ext.v[c->at].first;
	}
	return k;
}

/* Fill s->ops with the deletes of chunks s->idx[0, s->n) of ino. */
static void
reap_ops(struct reap_slice *s, uint64_t ino)
{
	for (size_t i = 0; i < s->n; i++) {
		struct kv_op *op = &s->ops[i];

		memset(op, 0, sizeof *op);
		op->type = WIRE_OBJ_DEL;
		op->cond = WIRE_COND_NONE;
		meta_key_chunk(s->who[i] != NULL ? s->who[i]->ino : ino,
		    s->idx[i], &op->key);
	}
}

/*
 * Send the slice as one batch request (kv_batch retries what means
 * "recovering").  A chunk that was never stored is no failure.  Returns
 * 0 or the first failure.
 */
static int
reap_send(struct fs *fs, struct reap_slice *s)
{
	int rc = 0;

	(void)kv_batch(fs->kv, s->ops, s->n);
	for (size_t i = 0; i < s->n; i++) {
		if (s->ops[i].rc == -ENOENT)
			s->ops[i].rc = 0;
		if (s->ops[i].rc != 0 && rc == 0)
			rc = s->ops[i].rc;
	}
	return rc;
}

/* ---- a truncate's deletes, waited for ------------------------------ */

/* Delete slices of the shared cursor until it is empty or one fails. */
static int
reap_fg_job(void *arg)
{
	struct reap_fg *f = arg;
	struct reap_slice *s = xcalloc(1, sizeof *s);
	int rc = 0;

	for (;;) {
		pthread_mutex_lock(&f->mu);
		s->n = f->err != 0 ? 0 :
		    reap_cursor_take(&f->c, s->idx, WIRE_BATCH_MAX);
		pthread_mutex_unlock(&f->mu);
		if (s->n == 0)
			break;
		reap_ops(s, f->ino);
		if ((rc = reap_send(f->fs, s)) != 0) {
			pthread_mutex_lock(&f->mu);
			if (f->err == 0)
				f->err = rc;
			pthread_mutex_unlock(&f->mu);
			break;
		}
	}
	free(s);
	return rc;
}

/* A truncate's deletes (see reap.h). */
int
reap_extents(struct fs *fs, uint64_t ino, const struct meta_extents *ext)
{
	struct reap_fg f = { .fs = fs, .ino = ino };
	struct bg_group grp;
	uint64_t total = meta_extents_count(ext), jobs;

	if (total == 0)
		return 0;
	pthread_mutex_init(&f.mu, NULL);
	reap_cursor_init(&f.c, ext);
	jobs = (total + WIRE_BATCH_MAX - 1) / WIRE_BATCH_MAX;
	if (jobs > REAP_FG_JOBS)
		jobs = REAP_FG_JOBS;
	bg_group_init(&grp);
	for (uint64_t i = 1; i < jobs; i++)
		bg_submit(fs->bg, &grp, reap_fg_job, &f);
	(void)reap_fg_job(&f);
	(void)bg_group_wait(&grp);
	bg_group_destroy(&grp);
	if (f.err != 0)
		log_warnx("inode %" PRIx64 ": deleting chunks past the new "
		    "end failed: %s", ino, strerror(-f.err));
	meta_extents_free(&f.c.ext);
	pthread_mutex_destroy(&f.mu);
	return f.err;
}

/* ---- background removals ------------------------------------------- */

/* The removal queue. */
struct reap *
reap_new(struct fs *fs)
{
	struct reap *r = xcalloc(1, sizeof *r);

	r->fs = fs;
	pthread_mutex_init(&r->mu, NULL);
	return r;
}

/* Free an item (r->mu held or not: it is in no list). */
static void
reap_item_free(struct reap_item *it)
{
	meta_extents_free(&it->c.ext);
	free(it);
}

/* Free the queue (empty by now: bg_stop worked it off). */
void
reap_free(struct reap *r)
{
	if (r == NULL)
		return;
	if (r->head != NULL || r->jobs != 0)
		log_error("%" PRIu64 " chunks of removed files left behind at "
		    "unmount", r->pending);
	while (r->head != NULL) {
		struct reap_item *it = r->head;

		r->head = it->next;
		reap_item_free(it);
	}
	pthread_mutex_destroy(&r->mu);
	free(r);
}

/* Take it out of the queue (r->mu held). */
static void
reap_unqueue(struct reap *r, struct reap_item *it)
{
	struct reap_item **pp, *prev = NULL;

	for (pp = &r->head; *pp != it; pp = &(*pp)->next)
		prev = *pp;
	*pp = it->next;
	if (r->tail == it)
		r->tail = prev;
	it->next = NULL;
	it->queued = false;
}

/*
 * Fill s with up to WIRE_BATCH_MAX chunks from the queue, oldest removal
 * first (several small files share a request).  r->mu held.
 */
static void
reap_take(struct reap *r, struct reap_slice *s)
{
	s->n = 0;
	while (s->n < WIRE_BATCH_MAX && r->head != NULL) {
		struct reap_item *it = r->head;
		size_t got = reap_cursor_take(&it->c, s->idx + s->n,
		    WIRE_BATCH_MAX - s->n);

		for (size_t i = 0; i < got; i++)
			s->who[s->n + i] = it;
		if (got > 0)
			it->busy++;
		s->n += got;
		r->pending -= got;
		if (reap_cursor_left(&it->c) == 0) {
			reap_unqueue(r, it);
			if (it->busy == 0)
				reap_item_free(it);
		}
	}
}

/* An item is done: say what was left behind, free it (r->mu held). */
static void
reap_item_done(struct reap_item *it)
{
	if (it->err != 0)
		log_warnx("inode %" PRIx64 ": removing its chunks failed: %s; "
		    "%" PRIu64 " chunk(s) left behind", it->ino,
		    strerror(-it->err), it->failed + it->dropped);
	reap_item_free(it);
}

/*
 * The outcome of a slice (r->mu held): count failures per removal, drop
 * what a failed removal still has queued, free removals that are done.
 * A removal's chunks are consecutive in the slice.
 */
static void
reap_settle(struct reap *r, struct reap_slice *s)
{
	for (size_t i = 0; i < s->n; i++) {
		struct reap_item *it = s->who[i];

		if (s->ops[i].rc != 0) {
			it->failed++;
			if (it->err == 0)
				it->err = s->ops[i].rc;
		}
		if (i + 1 < s->n && s->who[i + 1] == it)
			continue;
		/* Its last chunk in this slice. */
		it->busy--;
		if (it->err != 0 && it->queued) {
			it->dropped = reap_cursor_left(&it->c);
			r->pending -= it->dropped;
			reap_unqueue(r, it);
		}
		if (!it->queued && it->busy == 0)
			reap_item_done(it);
	}
}

/*
 * A background job: one batch request from the queue, then back to the
 * end of the pool's queue (or on, without threads); ends when the queue
 * is empty.
 */
static int
reap_bg_job(void *arg)
{
	struct reap *r = arg;
	struct reap_slice *s = xcalloc(1, sizeof *s);

	for (;;) {
		pthread_mutex_lock(&r->mu);
		reap_take(r, s);
		if (s->n == 0) {
			r->jobs--;
			pthread_mutex_unlock(&r->mu);
			break;
		}
		pthread_mutex_unlock(&r->mu);
		reap_ops(s, 0);
		(void)reap_send(r->fs, s);
		pthread_mutex_lock(&r->mu);
		reap_settle(r, s);
		pthread_mutex_unlock(&r->mu);
		if (bg_defer(r->fs->bg, reap_bg_job, r))
			break;
	}
	free(s);
	return 0;
}

/* Queue a removed file's chunks (see reap.h). */
void
reap_file(struct reap *r, uint64_t ino, const struct meta_extents *ext)
{
	struct reap_item *it;
	uint64_t want;
	int start;

	if (ext->n == 0)
		return;
	it = xcalloc(1, sizeof *it);
	it->ino = ino;
	it->queued = true;
	reap_cursor_init(&it->c, ext);
	pthread_mutex_lock(&r->mu);
	if (r->tail != NULL)
		r->tail->next = it;
	else
		r->head = it;
	r->tail = it;
	r->pending += meta_extents_count(ext);
	/* A job per batch request's worth queued, up to REAP_BG_JOBS. */
	want = (r->pending + WIRE_BATCH_MAX - 1) / WIRE_BATCH_MAX;
	if (want > REAP_BG_JOBS)
		want = REAP_BG_JOBS;
	start = (uint64_t)r->jobs < want ? (int)want - r->jobs : 0;
	r->jobs += start;
	pthread_mutex_unlock(&r->mu);
	for (int i = 0; i < start; i++) {
		if (!bg_defer(r->fs->bg, reap_bg_job, r))
			(void)reap_bg_job(r); /* no threads: in the caller */
	}
}

/* Chunks waiting (see reap.h). */
uint64_t
reap_pending(struct reap *r)
{
	uint64_t n;

	pthread_mutex_lock(&r->mu);
	n = r->pending;
	pthread_mutex_unlock(&r->mu);
	return n;
}
