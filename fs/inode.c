/* inode.c: inode and directory objects under CAS (see inode.h). */
#include <sys/random.h>

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fs.h"
#include "inode.h"
#include "kv.h"
#include "log.h"
#include "itab.h"
#include "xmalloc.h"


/* Back off a little after repeated conflicts (contention). */
void
inode_backoff(int tries)
{
	struct timespec ts;
	uint32_t r = 0;

	if (tries < 3)
		return;
	if (getrandom(&r, sizeof r, 0) != sizeof r)
		r = (uint32_t)tries * 7919u;
	ts.tv_sec = 0;
	ts.tv_nsec = (long)(r % (1000u * (uint32_t)(tries < 20 ? tries : 20)))
	    * 1000L;
	nanosleep(&ts, NULL);
}

/*
 * GET an object that this mount has seen (seen true).  The overlay may
 * answer "not found" for a while after a node failure, until its copies
 * are in place again; an object we know existed is asked for again a few
 * times (about 2.5 s in all) before we believe it is gone.
 */
int
inode_get(struct fs *fs, const struct hash_key *k, bool seen,
    struct kv_value *v)
{
	static const int wait_ms[] = { 100, 200, 400, 800, 1000 };
	int rc = kv_get(fs->kv, k, v);

	for (size_t i = 0; seen && rc == -ENOENT &&
	    i < sizeof wait_ms / sizeof wait_ms[0]; i++) {
		struct timespec ts = { 0, wait_ms[i] * 1000000L };

		if (wait_ms[i] >= 1000) {
			ts.tv_sec = wait_ms[i] / 1000;
			ts.tv_nsec = 0;
		}
		nanosleep(&ts, NULL);
		rc = kv_get(fs->kv, k, v);
	}
	return rc;
}

/* Does the cache of n hold the inode (or, with dir, the directory)? */
bool
inode_seen(struct fs *fs, struct itab_ent *n, bool dir)
{
	bool seen;

	itab_lock(fs->nodes);
	seen = dir ? n->nshards > 0 : n->have_inode;
	itab_unlock(fs->nodes);
	return seen;
}

/* Read and decode the inode of n from the store, caching it. */
static int
inode_fetch(struct fs *fs, struct itab_ent *n, struct meta_inode *in,
    uint64_t *version)
{
	struct hash_key k;
	struct kv_value v;
	int rc;

	meta_key_inode(n->ino, &k);
	if ((rc = inode_get(fs, &k, inode_seen(fs, n, false), &v)) != 0) {
		if (rc == -ENOENT)
			itab_forget_cache(fs->nodes, n);
		return rc;
	}
	if (meta_inode_decode(v.data, v.len, in) != 0) {
		log_error("inode %" PRIx64 ": record does not decode "
		    "(%zu bytes)", n->ino, v.len);
		kv_value_free(&v);
		return -EIO;
	}
	*version = v.version;
	kv_value_free(&v);
	itab_inode_store(fs->nodes, n, in, *version);
	return 0;
}

/* Read an inode (see inode.h). */
int
inode_read(struct fs *fs, struct itab_ent *n, int max_age_ms,
    struct meta_inode *in, uint64_t *version)
{
	uint64_t ver;

	meta_inode_init(in);
	if (version == NULL)
		version = &ver;
	if (max_age_ms != 0 &&
	    itab_inode_cached(fs->nodes, n, max_age_ms, in, version))
		return 0;
	return inode_fetch(fs, n, in, version);
}

/* Read and cache the inodes not cached fresh enough (see inode.h). */
void
inode_prefetch(struct fs *fs, struct itab_ent *const *nodes, size_t n,
    int max_age_ms)
{
	struct kv_op *ops;
	struct itab_ent **who;
	struct meta_inode in;
	size_t k = 0;

	if (n < 2 || max_age_ms == 0)
		return;
	ops = xcalloc(n, sizeof *ops);
	who = xcalloc(n, sizeof *who);
	for (size_t i = 0; i < n; i++) {
		struct itab_ent *nd = nodes[i];
		bool skip;

		if (nd == NULL)
			continue;
		itab_lock(fs->nodes);
		skip = nd->touch_pending || (nd->have_inode &&
		    (max_age_ms < 0 ||
		    itab_age_ms(&nd->inode_at) < max_age_ms));
		itab_unlock(fs->nodes);
		if (skip)
			continue;
		ops[k].type = WIRE_OBJ_GET;
		meta_key_inode(nd->ino, &ops[k].key);
		who[k++] = nd;
	}
	if (k >= 2) {
		(void)kv_batch(fs->kv, ops, k);
		for (size_t i = 0; i < k; i++) {
			if (ops[i].rc != 0)
				continue;
			meta_inode_init(&in);
			if (meta_inode_decode(ops[i].v.data, ops[i].v.len,
			    &in) == 0)
				itab_inode_store(fs->nodes, who[i], &in,
				    ops[i].v.version);
			meta_inode_free(&in);
		}
	}
	for (size_t i = 0; i < k; i++)
		kv_value_free(&ops[i].v);
	free(ops);
	free(who);
}

/* A random inode number: 63 bits, never 0 or the root's. */
uint64_t
inode_new_ino(void)
{
	uint64_t x = 0;

	do {
		if (getrandom(&x, sizeof x, 0) != sizeof x)
			fatal("getrandom");
		x &= INT64_MAX;
	} while (x <= META_ROOT_INO);
	return x;
}

/* Store a new inode if its number is free. */
int
inode_create(struct fs *fs, uint64_t ino, const struct meta_inode *in,
    uint64_t *version)
{
	struct hash_key k;
	struct wbuf w;
	int rc;

	wbuf_init(&w);
	meta_inode_encode(&w, ino, in);
	meta_key_inode(ino, &k);
	rc = kv_put(fs->kv, &k, w.p, w.len, WIRE_COND_ABSENT, 0, version);
	if (rc == -KV_ECONFLICT) {
		/* Taken (a retry of ours would have been answered DONE). */
		rc = -EEXIST;
		log_warnx("inode number %" PRIx64 " is taken", ino);
	}
	wbuf_free(&w);
	return rc;
}

/* Read-modify-CAS of an inode. */
int
inode_update(struct fs *fs, struct itab_ent *n, inode_fn fn, void *arg,
    struct meta_inode *out)
{
	struct meta_inode in;
	struct hash_key k;
	uint64_t ver, nver;
	struct wbuf w;
	int rc = 0, tries;

	meta_key_inode(n->ino, &k);
	meta_inode_init(&in);
	if (!itab_inode_cached(fs->nodes, n, -1, &in, &ver) ||
	    in.inl_omitted) {
		/* A copy without its inline data must not be written back. */
		meta_inode_free(&in);
		if ((rc = inode_fetch(fs, n, &in, &ver)) != 0)
			return rc;
	}
	wbuf_init(&w);
	for (tries = 0; tries < INODE_MAX_TRIES; tries++) {
		if ((rc = fn(&in, arg)) < 0)
			break;
		if (rc == INODE_UNCHANGED) {
			rc = 0;
			break;
		}
		w.len = 0;
		meta_inode_encode(&w, n->ino, &in);
		rc = kv_put(fs->kv, &k, w.p, w.len, WIRE_COND_VERSION, ver,
		    &nver);
		if (rc == 0) {
			itab_inode_store(fs->nodes, n, &in, nver);
			break;
		}
		meta_inode_free(&in);
		/* Another writer's change (never our own retried write). */
		if (rc != -KV_ECONFLICT)
			break;
		inode_backoff(tries);
		if ((rc = inode_fetch(fs, n, &in, &ver)) != 0)
			break;
	}
	if (tries == INODE_MAX_TRIES) {
		log_error("inode %" PRIx64 ": gave up after %d conflicts",
		    n->ino, tries);
		rc = -EIO;
	}
	wbuf_free(&w);
	if (rc == 0 && out != NULL)
		*out = in;
	else
		meta_inode_free(&in);
	return rc;
}

/* Delete an inode object. */
int
inode_remove(struct fs *fs, struct itab_ent *n)
{
	struct hash_key k;
	int rc;

	meta_key_inode(n->ino, &k);
	rc = kv_del(fs->kv, &k, WIRE_COND_NONE, 0);
	itab_forget_cache(fs->nodes, n);
	return rc;
}
