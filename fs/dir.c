/* dir.c: sharded directory objects under CAS (see dir.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "dir.h"
#include "fs.h"
#include "inode.h"
#include "kv.h"
#include "log.h"
#include "itab.h"
#include "xmalloc.h"

/* Passes of dir_apply: conflicts, plus the descents and splits met. */
#define DIR_MAX_PASSES (INODE_MAX_TRIES + 4 * META_SHARD_DEPTH_MAX)

/* Read and decode shard (depth, prefix) of n from the store, caching it. */
static int
dir_fetch(struct fs *fs, struct itab_ent *n, uint8_t depth, uint64_t prefix,
    struct meta_dir *d, uint64_t *version)
{
	struct hash_key k;
	struct kv_value v;
	int rc;

	meta_key_shard(n->ino, depth, prefix, &k);
	if ((rc = inode_get(fs, &k, inode_seen(fs, n, true), &v)) != 0)
		return rc;
	if (meta_dir_decode(v.data, v.len, d) != 0 || d->depth != depth ||
	    d->prefix != prefix) {
		log_error("directory %" PRIx64 ": shard %u/%" PRIx64 " does "
		    "not decode (%zu bytes)", n->ino, (unsigned)depth, prefix,
		    v.len);
		meta_dir_free(d);
		kv_value_free(&v);
		return -EIO;
	}
	*version = v.version;
	kv_value_free(&v);
	itab_shard_store(fs->nodes, n, d, *version);
	return 0;
}

/* A shard from the cache when younger than max_age_ms, else the store. */
static int
dir_get(struct fs *fs, struct itab_ent *n, uint8_t depth, uint64_t prefix,
    int max_age_ms, struct meta_dir *d, uint64_t *version)
{
	meta_dir_init(d);
	if (max_age_ms != 0 && itab_shard_cached(fs->nodes, n,
	    meta_shard_id(depth, prefix), max_age_ms, d, version))
		return 0;
	return dir_fetch(fs, n, depth, prefix, d, version);
}

/* Write shard d of directory ino under cond; caches it when n given. */
static int
dir_put(struct fs *fs, struct itab_ent *n, uint64_t ino,
    const struct meta_dir *d, int cond, uint64_t ver, uint64_t *nver)
{
	struct hash_key k;
	struct wbuf w;
	uint64_t v = 0;
	int rc;

	meta_key_shard(ino, d->depth, d->prefix, &k);
	wbuf_init(&w);
	meta_dir_encode(&w, d);
	rc = kv_put(fs->kv, &k, w.p, w.len, cond, ver, &v);
	wbuf_free(&w);
	if (rc == 0 && n != NULL)
		itab_shard_store(fs->nodes, n, d, v);
	if (nver != NULL)
		*nver = v;
	return rc;
}

/* The leaf covering h (see dir.h). */
int
dir_leaf(struct fs *fs, struct itab_ent *n, uint64_t h, int max_age_ms,
    struct meta_dir *d, uint64_t *version)
{
	uint64_t prefix, ver;
	bool again = false;
	uint8_t depth;
	int rc;

	if (version == NULL)
		version = &ver;
	itab_shard_leaf(fs->nodes, n, h, &depth, &prefix);
	for (;;) {
		rc = dir_get(fs, n, depth, prefix, max_age_ms, d, version);
		if (rc == -ENOENT && depth > 0 && !again) {
			/*
			 * The shape we knew is gone: the directory was removed,
			 * or removed and put back (a rename over it that
			 * failed).  Start again from its root, read afresh.
			 */
			itab_forget_cache(fs->nodes, n);
			depth = 0;
			prefix = 0;
			again = true;
			max_age_ms = 0;
			continue;
		}
		if (rc != 0)
			return rc;
		if (d->state != META_SHARD_SPLIT)
			return 0;
		meta_dir_free(d);
		if (depth == META_SHARD_DEPTH_MAX) {
			log_error("directory %" PRIx64 ": shard %u/%" PRIx64
			    " is split past the deepest level", n->ino,
			    (unsigned)depth, prefix);
			return -EIO;
		}
		prefix = meta_shard_child(depth, prefix, h);
		depth++;
	}
}

/* Look a name up (see dir.h). */
int
dir_find(struct fs *fs, struct itab_ent *n, const char *name, size_t len,
    int max_age_ms, int neg_age_ms, uint64_t *ino, uint8_t *type)
{
	uint64_t h = meta_name_hash(name, len);
	struct meta_dir d;
	long i;
	int rc;

	rc = itab_dir_lookup(fs->nodes, n, max_age_ms, name, len, h, ino,
	    type);
	if (rc == 1 || (rc == 0 && neg_age_ms > 0 &&
	    itab_dir_lookup(fs->nodes, n, neg_age_ms, name, len, h, ino,
	    type) == 0))
		return rc;
	if ((rc = dir_leaf(fs, n, h, 0, &d, NULL)) != 0)
		return rc;
	i = meta_dir_find(&d, name, len, NULL);
	if (i >= 0) {
		*ino = d.e[i].ino;
		*type = d.e[i].type;
	}
	meta_dir_free(&d);
	return i >= 0;
}

/* Create an empty directory object. */
int
dir_create(struct fs *fs, uint64_t ino)
{
	struct meta_dir d;
	int rc;

	meta_dir_init(&d);
	rc = dir_put(fs, NULL, ino, &d, WIRE_COND_ABSENT, 0, NULL);
	return rc == -KV_ECONFLICT ? 0 : rc;
}

/*
 * Steps 2 and 3 of a split (dir.h) of d, SPLITTING at version ver.  A
 * child already there, or the shard already SPLIT, is another machine
 * finishing the same split: 0 all the same.
 */
static int
dir_split_finish(struct fs *fs, struct itab_ent *n, const struct meta_dir *d,
    uint64_t ver)
{
	struct meta_dir part;
	int rc;

	for (uint64_t bit = 0; bit < 2; bit++) {
		meta_dir_split_part(&part, d, d->prefix << 1 | bit);
		rc = dir_put(fs, n, n->ino, &part, WIRE_COND_ABSENT, 0, NULL);
		meta_dir_free(&part);
		if (rc != 0 && rc != -KV_ECONFLICT)
			return rc;
	}
	meta_dir_init(&part);
	part.state = META_SHARD_SPLIT;
	part.depth = d->depth;
	part.prefix = d->prefix;
	rc = dir_put(fs, n, n->ino, &part, WIRE_COND_VERSION, ver, NULL);
	if (rc == 0)
		log_debug("directory %" PRIx64 ": shard %u/%" PRIx64 " split "
		    "(%zu entries)", n->ino, (unsigned)d->depth, d->prefix,
		    d->n);
	return rc == -KV_ECONFLICT ? 0 : rc;
}

/* Split d (LIVE at version ver): 0 when split, -KV_ECONFLICT, -errno. */
static int
dir_split(struct fs *fs, struct itab_ent *n, struct meta_dir *d,
    uint64_t ver)
{
	uint64_t nver;
	int rc;

	d->state = META_SHARD_SPLITTING;
	rc = dir_put(fs, n, n->ino, d, WIRE_COND_VERSION, ver, &nver);
	if (rc != 0)
		return rc;
	return dir_split_finish(fs, n, d, nver);
}

/*
 * A change met a DEAD shard: an rmdir of the directory is under way.
 * -ENOENT when it is gone, 0 to try again.
 */
static int
dir_dead_wait(struct fs *fs, struct itab_ent *n, int tries)
{
	struct meta_dir root;
	uint64_t ver;
	int rc;

	if ((rc = dir_get(fs, n, 0, 0, 0, &root, &ver)) != 0)
		return rc;
	meta_dir_free(&root);
	inode_backoff(tries);
	return 0;
}

/*
 * One shard change: the shard of name (and, when name2 is not NULL, the
 * check that name2 is in it), fn, and the CAS; splits and unfinished
 * splits on the way are dealt with first.
 */
static int
dir_apply(struct fs *fs, struct itab_ent *n, const char *name, size_t len,
    const char *name2, size_t len2, dir_fn fn, void *arg)
{
	uint64_t h = meta_name_hash(name, len), ver;
	int rc = 0, age = -1, tries = 0;
	struct meta_dir d, m;

	for (int pass = 0; pass < DIR_MAX_PASSES; pass++) {
		if ((rc = dir_leaf(fs, n, h, age, &d, &ver)) != 0)
			return rc;
		age = -1;
		if (d.state == META_SHARD_SPLITTING) {
			rc = dir_split_finish(fs, n, &d, ver);
			meta_dir_free(&d);
			if (rc != 0)
				return rc;
			age = 0;
			continue;
		}
		if (d.state == META_SHARD_DEAD) {
			meta_dir_free(&d);
			if ((rc = dir_dead_wait(fs, n, tries++)) != 0)
				return rc;
			age = 0;
			continue;
		}
		if (name2 != NULL && !meta_shard_has(d.depth, d.prefix,
		    meta_name_hash(name2, len2))) {
			meta_dir_free(&d);
			return -EXDEV;
		}
		meta_dir_copy(&m, &d);
		if ((rc = fn(&m, arg)) < 0 || rc == INODE_UNCHANGED) {
			meta_dir_free(&m);
			meta_dir_free(&d);
			return rc < 0 ? rc : 0;
		}
		if (meta_dir_encoded_len(&m) > fs->o.dir_shard_size &&
		    d.n > 0 && d.depth < META_SHARD_DEPTH_MAX) {
			meta_dir_free(&m);
			rc = dir_split(fs, n, &d, ver);
			meta_dir_free(&d);
			if (rc != 0 && rc != -KV_ECONFLICT)
				return rc;
			if (rc != 0)
				inode_backoff(tries++);
			age = 0;
			continue;
		}
		if (meta_dir_encoded_len(&m) > WIRE_MAX_VALUE)
			rc = -ENOSPC;
		else
			rc = dir_put(fs, n, n->ino, &m, WIRE_COND_VERSION, ver,
			    NULL);
		meta_dir_free(&m);
		meta_dir_free(&d);
		/*
		 * A conflict is always another writer's change: the store
		 * answers a retried write that landed with its version.
		 */
		if (rc != -KV_ECONFLICT)
			return rc;
		if (tries == INODE_MAX_TRIES)
			break;
		inode_backoff(tries++);
		age = 0;
	}
	log_error("directory %" PRIx64 ": gave up after %d conflicts (a "
	    "shard left DEAD by an rmdir that died? rmdir it again)", n->ino,
	    tries);
	return -EIO;
}

/* Read-modify-CAS of the shard of name. */
int
dir_update(struct fs *fs, struct itab_ent *n, const char *name, size_t len,
    dir_fn fn, void *arg)
{
	return dir_apply(fs, n, name, len, NULL, 0, fn, arg);
}

/* Read-modify-CAS of the shard of two names, if it is one. */
int
dir_update_pair(struct fs *fs, struct itab_ent *n, const char *name,
    size_t len, const char *name2, size_t len2, dir_fn fn, void *arg)
{
	return dir_apply(fs, n, name, len, name2, len2, fn, arg);
}

/* Read the shards of dir_scan's next level. */
static int
dir_scan_level(struct fs *fs, uint64_t ino, struct meta_dir *lv, size_t n,
    dir_scan_fn fn, void *arg, struct meta_dir **next, size_t *nnext)
{
	struct kv_op *ops = xcalloc(2 * n + 1, sizeof *ops);
	size_t nops = 0;
	int rc = 0;

	for (size_t i = 0; i < n; i++) {
		for (uint64_t bit = 0; bit < 2; bit++) {
			ops[nops].type = WIRE_OBJ_GET;
			meta_key_shard(ino, (uint8_t)(lv[i].depth + 1),
			    lv[i].prefix << 1 | bit, &ops[nops++].key);
		}
	}
	(void)kv_batch(fs->kv, ops, nops);
	*next = xcalloc(nops + 1, sizeof **next);
	*nnext = 0;
	for (size_t i = 0; i < nops && rc == 0; i++) {
		struct meta_dir *d = &(*next)[*nnext];
		const struct meta_dir *p = &lv[i / 2];

		if ((rc = ops[i].rc) != 0)
			break;
		if (meta_dir_decode(ops[i].v.data, ops[i].v.len, d) != 0 ||
		    d->depth != p->depth + 1 ||
		    d->prefix != (p->prefix << 1 | (i & 1))) {
			log_error("directory %" PRIx64 ": a shard does not "
			    "decode", ino);
			rc = -EIO;
			break;
		}
		rc = fn(d, ops[i].v.version, arg);
		if (d->state == META_SHARD_SPLIT)
			(*nnext)++;
		else
			meta_dir_free(d);
	}
	for (size_t i = 0; i < nops; i++)
		kv_value_free(&ops[i].v);
	free(ops);
	return rc;
}

/* Read every shard (see dir.h). */
int
dir_scan(struct fs *fs, uint64_t ino, const struct meta_dir *root,
    dir_scan_fn fn, void *arg)
{
	struct meta_dir *lv, *next;
	size_t n = 1, nnext;
	struct hash_key k;
	struct kv_value v;
	int rc = 0;

	lv = xcalloc(1, sizeof *lv);
	if (root != NULL) {
		meta_dir_copy(lv, root);
		rc = fn(lv, 0, arg);
	} else {
		meta_key_dir(ino, &k);
		if ((rc = kv_get(fs->kv, &k, &v)) != 0) {
			free(lv);
			return rc;
		}
		if (meta_dir_decode(v.data, v.len, lv) != 0 ||
		    lv->depth != 0) {
			log_error("directory %" PRIx64 ": object does not "
			    "decode", ino);
			rc = -EIO;
		} else
			rc = fn(lv, v.version, arg);
		kv_value_free(&v);
	}
	if (lv->state != META_SHARD_SPLIT)
		n = 0;
	while (n > 0 && rc == 0) {
		rc = dir_scan_level(fs, ino, lv, n, fn, arg, &next, &nnext);
		for (size_t i = 0; i < n; i++)
			meta_dir_free(&lv[i]);
		free(lv);
		lv = next;
		n = nnext;
	}
	for (size_t i = 0; i < n; i++)
		meta_dir_free(&lv[i]);
	if (n == 0)
		meta_dir_free(lv);
	free(lv);
	return rc;
}

/* The shards of a directory being removed (dir_remove_sharded). */
struct dir_rm {
	struct meta_dir *leaf;	/* empty leaves (LIVE or DEAD) */
	uint64_t *ver;		/* ...their versions */
	size_t n, cap;
	struct meta_dir *all;	/* every shard but the root, to delete */
	size_t nall, capall;
	bool full;		/* a leaf holds entries */
};

/* dir_scan callback: sort the shards of a directory being removed. */
static int
dir_rm_each(const struct meta_dir *d, uint64_t version, void *arg)
{
	struct dir_rm *r = arg;

	if (d->depth > 0) {
		if (r->nall == r->capall) {
			r->capall = r->capall ? 2 * r->capall : 16;
			r->all = xreallocarray(r->all, r->capall,
			    sizeof *r->all);
		}
		meta_dir_init(&r->all[r->nall]);
		r->all[r->nall].depth = d->depth;
		r->all[r->nall++].prefix = d->prefix;
	}
	if (d->state == META_SHARD_SPLIT)
		return 0;
	if (d->n > 0 || d->state == META_SHARD_SPLITTING) {
		r->full = true;
		return 1;
	}
	if (r->n == r->cap) {
		r->cap = r->cap ? 2 * r->cap : 16;
		r->leaf = xreallocarray(r->leaf, r->cap, sizeof *r->leaf);
		r->ver = xreallocarray(r->ver, r->cap, sizeof *r->ver);
	}
	meta_dir_init(&r->leaf[r->n]);
	r->leaf[r->n].state = d->state;
	r->leaf[r->n].depth = d->depth;
	r->leaf[r->n].prefix = d->prefix;
	r->ver[r->n++] = version;
	return 0;
}

/*
 * Set the empty leaves of r to state (DEAD to freeze them, LIVE to give
 * them back), each "if" its version, in batch requests; the states and
 * versions of r follow what landed.  0, or the first failure
 * (-KV_ECONFLICT: a leaf changed meanwhile, a create landed).
 */
static int
dir_rm_mark(struct fs *fs, uint64_t ino, struct dir_rm *r, uint8_t state)
{
	struct kv_op *ops = xcalloc(r->n + 1, sizeof *ops);
	struct wbuf *w = xcalloc(r->n + 1, sizeof *w);
	size_t *idx = xcalloc(r->n + 1, sizeof *idx), n = 0;
	int rc;

	for (size_t i = 0; i < r->n; i++) {
		struct meta_dir d = r->leaf[i];

		if (d.state == state)
			continue;
		d.state = state;
		wbuf_init(&w[n]);
		meta_dir_encode(&w[n], &d);
		ops[n].type = WIRE_OBJ_PUT;
		ops[n].cond = WIRE_COND_VERSION;
		ops[n].cond_version = r->ver[i];
		ops[n].data = w[n].p;
		ops[n].len = w[n].len;
		meta_key_shard(ino, d.depth, d.prefix, &ops[n].key);
		idx[n++] = i;
	}
	rc = kv_batch(fs->kv, ops, n);
	for (size_t j = 0; j < n; j++) {
		if (ops[j].rc == 0) {
			r->leaf[idx[j]].state = state;
			r->ver[idx[j]] = ops[j].version;
		}
		wbuf_free(&w[j]);
	}
	free(idx);
	free(w);
	free(ops);
	return rc;
}

/* Remove a split directory whose root is at version rver (see dir.h). */
static int
dir_remove_sharded(struct fs *fs, struct itab_ent *n,
    const struct meta_dir *root, uint64_t rver)
{
	struct dir_rm r = { 0 };
	struct hash_key k;
	struct kv_op *ops;
	int rc;

	rc = dir_scan(fs, n->ino, root, dir_rm_each, &r);
	if (rc == 0 && !r.full &&
	    (rc = dir_rm_mark(fs, n->ino, &r, META_SHARD_DEAD)) == 0) {
		meta_key_dir(n->ino, &k);
		rc = kv_del(fs->kv, &k, WIRE_COND_VERSION, rver);
	}
	if (rc == 1 || r.full || rc == -KV_ECONFLICT)
		rc = -ENOTEMPTY;
	if (rc != 0) {
		/* Give back what we froze (and what a dead rmdir left). */
		(void)dir_rm_mark(fs, n->ino, &r, META_SHARD_LIVE);
		goto out;
	}
	itab_forget_cache(fs->nodes, n);
	ops = xcalloc(r.nall + 1, sizeof *ops);
	for (size_t i = 0; i < r.nall; i++) {
		ops[i].type = WIRE_OBJ_DEL;
		ops[i].cond = WIRE_COND_NONE;
		meta_key_shard(n->ino, r.all[i].depth, r.all[i].prefix,
		    &ops[i].key);
	}
	if (kv_batch(fs->kv, ops, r.nall) != 0)
		log_warnx("directory %" PRIx64 ": removed, but some of its "
		    "%zu shards were not deleted (fsck collects them)", n->ino,
		    r.nall);
	free(ops);
out:
	free(r.leaf);
	free(r.ver);
	free(r.all);
	return rc;
}

/* Delete an empty directory atomically. */
int
dir_remove_empty(struct fs *fs, struct itab_ent *n)
{
	struct meta_dir d;
	struct hash_key k;
	uint64_t ver;
	int rc;

	meta_key_dir(n->ino, &k);
	for (int tries = 0; tries < INODE_MAX_TRIES; tries++) {
		if ((rc = dir_fetch(fs, n, 0, 0, &d, &ver)) != 0)
			return rc;
		if (d.state == META_SHARD_SPLIT) {
			rc = dir_remove_sharded(fs, n, &d, ver);
			meta_dir_free(&d);
			return rc;
		}
		rc = d.n > 0 ? -ENOTEMPTY : 0;
		meta_dir_free(&d);
		if (rc != 0)
			return rc;
		rc = kv_del(fs->kv, &k, WIRE_COND_VERSION, ver);
		/* After a conflict the next read finds it gone or not. */
		if (rc != -KV_ECONFLICT) {
			if (rc == 0)
				itab_forget_cache(fs->nodes, n);
			return rc;
		}
		inode_backoff(tries);
	}
	return -EIO;
}
