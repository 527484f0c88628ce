/* itab.c: the mount's inode table (see itab.h). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "held.h"
#include "log.h"
#include "itab.h"
#include "xmalloc.h"

struct itab {
	pthread_mutex_t mu;
	pthread_cond_t cv;	/* a node's background work finished */
	struct itab_ent **buckets;
	size_t nbuckets;	/* a power of two */
	size_t n;
	uint64_t dir_epoch;	/* bumped by itab_stale_dirs() */
};

/* Take the table's mutex, counted for the lock-order check (held.h). */
static void
itab_mu_lock(struct itab *nt)
{
	pthread_mutex_lock(&nt->mu);
	held_take();
}

/* Drop the table's mutex. */
static void
itab_mu_unlock(struct itab *nt)
{
	held_drop();
	pthread_mutex_unlock(&nt->mu);
}

/* Milliseconds since at (monotonic). */
int64_t
itab_age_ms(const struct timespec *at)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (int64_t)(now.tv_sec - at->tv_sec) * 1000 +
	    (now.tv_nsec - at->tv_nsec) / 1000000;
}

/* Bucket of ino. */
static size_t
itab_slot(const struct itab *nt, uint64_t ino)
{
	return (size_t)((ino * 0x9e3779b97f4a7c15ULL) >> 20) &
	    (nt->nbuckets - 1);
}

/* New empty table. */
struct itab *
itab_new(void)
{
	struct itab *nt = xcalloc(1, sizeof *nt);

	pthread_mutex_init(&nt->mu, NULL);
	pthread_cond_init(&nt->cv, NULL);
	nt->nbuckets = 1024;
	nt->buckets = xcalloc(nt->nbuckets, sizeof *nt->buckets);
	return nt;
}

/* Drop the cached shards of n. */
static void
itab_shards_free(struct itab_ent *n)
{
	for (size_t i = 0; i < n->capshards; i++)
		meta_dir_free(&n->shards[i].d);
	free(n->shards);
	n->shards = NULL;
	n->nshards = n->capshards = 0;
}

/* Free one node's caches and the node. */
static void
itab_ent_free(struct itab_ent *n)
{
	meta_inode_free(&n->inode);
	itab_shards_free(n);
	free(n);
}

/* Free the table. */
void
itab_free(struct itab *nt)
{
	if (nt == NULL)
		return;
	for (size_t i = 0; i < nt->nbuckets; i++) {
		struct itab_ent *n, *next;

		for (n = nt->buckets[i]; n != NULL; n = next) {
			next = n->next;
			itab_ent_free(n);
		}
	}
	free(nt->buckets);
	pthread_cond_destroy(&nt->cv);
	pthread_mutex_destroy(&nt->mu);
	free(nt);
}

/* Double the buckets (caller holds mu). */
static void
itab_grow(struct itab *nt)
{
	struct itab big = { .nbuckets = nt->nbuckets * 2 };

	big.buckets = xcalloc(big.nbuckets, sizeof *big.buckets);
	for (size_t i = 0; i < nt->nbuckets; i++) {
		struct itab_ent *n, *next;

		for (n = nt->buckets[i]; n != NULL; n = next) {
			size_t s = itab_slot(&big, n->ino);

			next = n->next;
			n->next = big.buckets[s];
			big.buckets[s] = n;
		}
	}
	free(nt->buckets);
	nt->buckets = big.buckets;
	nt->nbuckets = big.nbuckets;
}

/* Find ino (caller holds mu). */
static struct itab_ent *
itab_find(struct itab *nt, uint64_t ino)
{
	struct itab_ent *n;

	for (n = nt->buckets[itab_slot(nt, ino)]; n != NULL; n = n->next) {
		if (n->ino == ino)
			return n;
	}
	return NULL;
}

/* Unlink and free n if nothing refers to it (caller holds mu). */
static void
itab_maybe_free(struct itab *nt, struct itab_ent *n)
{
	struct itab_ent **pp;

	if (n->nlookup > 0 || n->refs > 0 || n->opens > 0)
		return;
	if (n->data != NULL)
		fatalx("node %llx freed with open-file state",
		    (unsigned long long)n->ino);
	for (pp = &nt->buckets[itab_slot(nt, n->ino)]; *pp != n;
	    pp = &(*pp)->next)
		;
	*pp = n->next;
	nt->n--;
	itab_ent_free(n);
}

/* Find or make the node of ino, with a hold. */
struct itab_ent *
itab_get(struct itab *nt, uint64_t ino)
{
	struct itab_ent *n;

	itab_mu_lock(nt);
	if ((n = itab_find(nt, ino)) == NULL) {
		if (nt->n >= 2 * nt->nbuckets)
			itab_grow(nt);
		n = xcalloc(1, sizeof *n);
		n->ino = ino;
		/* The root is never forgotten: pin it with a reference. */
		n->nlookup = ino == META_ROOT_INO ? 1 : 0;
		n->next = nt->buckets[itab_slot(nt, ino)];
		nt->buckets[itab_slot(nt, ino)] = n;
		nt->n++;
	}
	n->refs++;
	itab_mu_unlock(nt);
	return n;
}

/* Drop a hold. */
void
itab_put(struct itab *nt, struct itab_ent *n)
{
	if (n == NULL)
		return;
	itab_mu_lock(nt);
	if (n->refs <= 0)
		fatalx("node %llx: hold count underflow",
		    (unsigned long long)n->ino);
	n->refs--;
	itab_maybe_free(nt, n);
	itab_mu_unlock(nt);
}

/* One more kernel reference. */
void
itab_lookup(struct itab *nt, struct itab_ent *n)
{
	itab_mu_lock(nt);
	n->nlookup++;
	itab_mu_unlock(nt);
}

/* The kernel forgot count references. */
void
itab_forget(struct itab *nt, uint64_t ino, uint64_t count)
{
	struct itab_ent *n;

	itab_mu_lock(nt);
	if ((n = itab_find(nt, ino)) == NULL) {
		log_warnx("forget of unknown inode %llx",
		    (unsigned long long)ino);
	} else {
		if (count > n->nlookup) {
			log_warnx("inode %llx: forget %llu of %llu lookups",
			    (unsigned long long)ino,
			    (unsigned long long)count,
			    (unsigned long long)n->nlookup);
			count = n->nlookup;
		}
		n->nlookup -= count;
		itab_maybe_free(nt, n);
	}
	itab_mu_unlock(nt);
}

/* Every node with open-file state, held. */
struct itab_ent **
itab_open_files(struct itab *nt, size_t *count)
{
	struct itab_ent **v = NULL;
	size_t n = 0, cap = 0;

	itab_mu_lock(nt);
	for (size_t i = 0; i < nt->nbuckets; i++) {
		for (struct itab_ent *e = nt->buckets[i]; e != NULL; e = e->next) {
			if (e->data == NULL)
				continue;
			if (n == cap) {
				cap = cap ? 2 * cap : 16;
				v = xreallocarray(v, cap, sizeof *v);
			}
			e->refs++;
			v[n++] = e;
		}
	}
	itab_mu_unlock(nt);
	*count = n;
	return v;
}

/* Nodes in the table. */
size_t
itab_count(struct itab *nt)
{
	size_t n;

	itab_mu_lock(nt);
	n = nt->n;
	itab_mu_unlock(nt);
	return n;
}

/* Take the table lock. */
void
itab_lock(struct itab *nt)
{
	itab_mu_lock(nt);
}

/* Release the table lock. */
void
itab_unlock(struct itab *nt)
{
	itab_mu_unlock(nt);
}

/* Wait for a itab_broadcast() (lock held). */
void
itab_wait(struct itab *nt)
{
	pthread_cond_wait(&nt->cv, &nt->mu);
}

/* Wake every itab_wait(). */
void
itab_broadcast(struct itab *nt)
{
	pthread_cond_broadcast(&nt->cv);
}

/* Copy the cached inode if fresh enough. */
bool
itab_inode_cached(struct itab *nt, struct itab_ent *n, int max_age_ms,
    struct meta_inode *in, uint64_t *version)
{
	bool ok;

	itab_mu_lock(nt);
	ok = n->have_inode &&
	    (max_age_ms < 0 || itab_age_ms(&n->inode_at) < max_age_ms);
	if (ok) {
		meta_inode_copy(in, &n->inode);
		*version = n->inode_version;
	}
	itab_mu_unlock(nt);
	return ok;
}

/* Cache an inode record unless the cache holds a newer one. */
void
itab_inode_store(struct itab *nt, struct itab_ent *n,
    const struct meta_inode *in, uint64_t version)
{
	itab_mu_lock(nt);
	if (!n->have_inode || version >= n->inode_version) {
		meta_inode_free(&n->inode);
		meta_inode_copy(&n->inode, in);
		if (n->opens == 0 && n->inode.inl_len > 0) {
			/* Only open files keep their inline bytes here. */
			meta_inline_clear(&n->inode);
			n->inode.inl_omitted = true;
		}
		n->inode_version = version;
		n->have_inode = true;
		clock_gettime(CLOCK_MONOTONIC, &n->inode_at);
	}
	itab_mu_unlock(nt);
}

/* Add a touch's link count change to in (never below 0). */
static void
itab_touch_apply(struct meta_inode *in, int delta,
    const struct timespec *when)
{
	meta_inode_nlink_add(in, delta);
	if (meta_ts_cmp(when, &in->mtime) > 0)
		in->mtime = in->ctime = *when;
}

/* A directory's attributes with its pending touches (see itab.h). */
bool
itab_touch_view(struct itab_ent *n, int max_age_ms, struct meta_inode *in)
{
	if (!n->have_inode || max_age_ms <= 0 ||
	    itab_age_ms(&n->inode_at) >= max_age_ms || n->inode.inl_omitted)
		return false;
	meta_inode_copy(in, &n->inode);
	/* The cache holds the flying touch once its write is done. */
	if (n->touch_flying && n->inode_version == n->touch_fly_base)
		itab_touch_apply(in, n->touch_fly_delta, &n->touch_fly_time);
	if (n->touch_dirty)
		itab_touch_apply(in, n->touch_delta, &n->touch_time);
	return true;
}

/* Give the cached inode its inline bytes back (see itab.h). */
void
itab_inode_fill(struct itab_ent *n, const struct meta_inode *in)
{
	if (!n->have_inode || !n->inode.inl_omitted || in->inl_omitted ||
	    n->inode.size != in->size ||
	    meta_ts_cmp(&n->inode.mtime, &in->mtime) != 0 ||
	    n->inode.ext.n != 0 || in->ext.n != 0)
		return;
	meta_inline_clear(&n->inode);
	if (in->inl_len > 0)
		meta_inline_write(&n->inode, 0, in->inl, in->inl_len);
	n->inode.inl_omitted = false;
}

/* Forget the caches of a removed object. */
void
itab_forget_cache(struct itab *nt, struct itab_ent *n)
{
	itab_mu_lock(nt);
	n->have_inode = false;
	meta_inode_free(&n->inode);
	itab_shards_free(n);
	itab_mu_unlock(nt);
}

/* Slot of shard id in a table of cap (a power of 2) slots. */
static size_t
itab_shard_hash(uint64_t id, size_t cap)
{
	return (size_t)((id * UINT64_C(0x9e3779b97f4a7c15)) >> 32) &
	    (cap - 1);
}

/*
 * The cached shard id of n (table locked), or NULL; with add, a new empty
 * slot for it when absent.  Open addressing, never more than 3/4 full:
 * a directory of 1,000,000 names has some 2,500 shards (32 KiB), and
 * a mount with dir_shard_size=1K far more.
 */
static struct itab_shard *
itab_shard_find(struct itab_ent *n, uint64_t id, bool add)
{
	struct itab_shard *s;
	size_t i;

	if (add && (n->nshards + 1) * 4 > n->capshards * 3) {
		struct itab_shard *old = n->shards;
		size_t oldcap = n->capshards;

		n->capshards = oldcap ? 2 * oldcap : 8;
		n->shards = xcalloc(n->capshards, sizeof *n->shards);
		for (size_t j = 0; j < oldcap; j++) {
			if (!old[j].used)
				continue;
			i = itab_shard_hash(old[j].id, n->capshards);
			while (n->shards[i].used)
				i = (i + 1) & (n->capshards - 1);
			n->shards[i] = old[j];
		}
		free(old);
	}
	if (n->capshards == 0)
		return NULL;
	i = itab_shard_hash(id, n->capshards);
	for (; n->shards[i].used; i = (i + 1) & (n->capshards - 1)) {
		if (n->shards[i].id == id)
			return &n->shards[i];
	}
	if (!add)
		return NULL;
	s = &n->shards[i];
	memset(s, 0, sizeof *s);
	s->used = true;
	s->id = id;
	n->nshards++;
	return s;
}

/* Is cached shard s young enough (table locked)? */
static bool
itab_shard_fresh(const struct itab *nt, const struct itab_shard *s,
    int max_age_ms)
{
	return max_age_ms < 0 || (s->epoch == nt->dir_epoch &&
	    itab_age_ms(&s->at) < max_age_ms);
}

/* Copy a cached shard if fresh enough. */
bool
itab_shard_cached(struct itab *nt, struct itab_ent *n, uint64_t id,
    int max_age_ms, struct meta_dir *d, uint64_t *version)
{
	struct itab_shard *s;
	bool ok;

	itab_mu_lock(nt);
	s = itab_shard_find(n, id, false);
	ok = s != NULL && itab_shard_fresh(nt, s, max_age_ms);
	if (ok) {
		meta_dir_copy(d, &s->d);
		*version = s->version;
	}
	itab_mu_unlock(nt);
	return ok;
}

/* Cache a shard unless the cache holds a newer one. */
void
itab_shard_store(struct itab *nt, struct itab_ent *n,
    const struct meta_dir *d, uint64_t version)
{
	uint64_t id = meta_shard_id(d->depth, d->prefix);
	struct itab_shard *s;

	itab_mu_lock(nt);
	s = itab_shard_find(n, id, true);
	if (version < s->version) {	/* a new slot has version 0 */
		itab_mu_unlock(nt);
		return;
	}
	meta_dir_free(&s->d);
	meta_dir_copy(&s->d, d);
	s->version = version;
	s->epoch = nt->dir_epoch;
	clock_gettime(CLOCK_MONOTONIC, &s->at);
	itab_mu_unlock(nt);
}

/* Descend through cached SPLIT shards (table locked). */
static struct itab_shard *
itab_shard_descend(struct itab_ent *n, uint64_t h, uint8_t *depth,
    uint64_t *prefix)
{
	struct itab_shard *s;

	*depth = 0;
	*prefix = 0;
	while ((s = itab_shard_find(n, meta_shard_id(*depth, *prefix),
	    false)) != NULL && s->d.state == META_SHARD_SPLIT &&
	    *depth < META_SHARD_DEPTH_MAX) {
		*prefix = meta_shard_child(*depth, *prefix, h);
		(*depth)++;
	}
	return s;
}

/* The leaf for h, as far as the cache knows. */
void
itab_shard_leaf(struct itab *nt, struct itab_ent *n, uint64_t h,
    uint8_t *depth, uint64_t *prefix)
{
	itab_mu_lock(nt);
	(void)itab_shard_descend(n, h, depth, prefix);
	itab_mu_unlock(nt);
}

/* Distrust cached directories. */
void
itab_stale_dirs(struct itab *nt)
{
	itab_mu_lock(nt);
	nt->dir_epoch++;
	itab_mu_unlock(nt);
}

/* Look a name up in the cached shards. */
int
itab_dir_lookup(struct itab *nt, struct itab_ent *n, int max_age_ms,
    const char *name, size_t len, uint64_t h, uint64_t *ino, uint8_t *type)
{
	struct itab_shard *s;
	uint64_t prefix;
	uint8_t depth;
	long i;
	int rc = -1;

	itab_mu_lock(nt);
	s = itab_shard_descend(n, h, &depth, &prefix);
	if (s != NULL && s->d.state != META_SHARD_SPLIT &&
	    itab_shard_fresh(nt, s, max_age_ms)) {
		i = meta_dir_find(&s->d, name, len, NULL);
		rc = i >= 0;
		if (i >= 0) {
			*ino = s->d.e[i].ino;
			*type = s->d.e[i].type;
		}
	}
	itab_mu_unlock(nt);
	return rc;
}
