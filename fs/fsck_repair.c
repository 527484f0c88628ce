/*
 * fsck_repair.c: fsck's repairs (fsck.h), each a compare-and-swap on the
 * version the scan read (or, for what only adds, on a fresh read), so a
 * live mount's change made meanwhile wins and the problem is left for the
 * next run; and the sweep's turn.
 */
#include <sys/random.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsck.h"
#include "kv.h"
#include "xmalloc.h"

#define FSCK_TRIES 10		/* CAS attempts on our own changes */

/* Read and decode inode ino: 0, or -errno (-EIO: does not decode). */
static int
fsck_get_inode(struct fsck *f, uint64_t ino, struct meta_inode *in,
    uint64_t *version)
{
	struct kv_value v;
	struct hash_key k;
	int rc;

	meta_inode_init(in);
	meta_key_inode(ino, &k);
	fsck_throttle(f, 1);
	if ((rc = kv_get(f->kv, &k, &v)) != 0)
		return rc;
	*version = v.version;
	rc = meta_inode_decode(v.data, v.len, in) == 0 ? 0 : -EIO;
	kv_value_free(&v);
	return rc;
}

/* Write inode ino if its version is still version (0: only if absent). */
static int
fsck_put_inode(struct fsck *f, uint64_t ino, const struct meta_inode *in,
    uint64_t version)
{
	struct hash_key k;
	struct wbuf w;
	int rc;

	meta_key_inode(ino, &k);
	wbuf_init(&w);
	meta_inode_encode(&w, ino, in);
	fsck_throttle(f, 1);
	rc = kv_put(f->kv, &k, w.p, w.len, version ? WIRE_COND_VERSION :
	    WIRE_COND_ABSENT, version, NULL);
	wbuf_free(&w);
	return rc;
}

/* Read and decode shard id (meta_shard_id) of directory ino. */
static int
fsck_get_dir(struct fsck *f, uint64_t ino, uint64_t id, struct meta_dir *d,
    uint64_t *version)
{
	struct kv_value v;
	struct hash_key k;
	uint64_t prefix;
	uint8_t depth;
	int rc;

	meta_dir_init(d);
	meta_shard_of_id(id, &depth, &prefix);
	meta_key_shard(ino, depth, prefix, &k);
	fsck_throttle(f, 1);
	if ((rc = kv_get(f->kv, &k, &v)) != 0)
		return rc;
	*version = v.version;
	rc = meta_dir_decode(v.data, v.len, d) == 0 && d->depth == depth &&
	    d->prefix == prefix ? 0 : -EIO;
	if (rc != 0)
		meta_dir_free(d);
	kv_value_free(&v);
	return rc;
}

/*
 * The leaf shard of directory ino that holds name: 0, -EAGAIN when it is
 * being split or removed (a live mount is at it: next run), or -errno.
 */
static int
fsck_get_leaf(struct fsck *f, uint64_t ino, const char *name,
    struct meta_dir *d, uint64_t *version)
{
	uint64_t h = meta_name_hash(name, strlen(name)), prefix = 0;
	uint8_t depth = 0;
	int rc;

	for (;;) {
		rc = fsck_get_dir(f, ino, meta_shard_id(depth, prefix), d,
		    version);
		if (rc != 0 || d->state == META_SHARD_LIVE)
			return rc;
		if (d->state != META_SHARD_SPLIT ||
		    depth == META_SHARD_DEPTH_MAX) {
			meta_dir_free(d);
			return -EAGAIN;
		}
		meta_dir_free(d);
		prefix = meta_shard_child(depth, prefix, h);
		depth++;
	}
}

/* Write shard d of directory ino under the same condition as
 * fsck_put_inode. */
static int
fsck_put_dir(struct fsck *f, uint64_t ino, const struct meta_dir *d,
    uint64_t version)
{
	struct hash_key k;
	struct wbuf w;
	int rc;

	meta_key_shard(ino, d->depth, d->prefix, &k);
	wbuf_init(&w);
	meta_dir_encode(&w, d);
	fsck_throttle(f, 1);
	rc = kv_put(f->kv, &k, w.p, w.len, version ? WIRE_COND_VERSION :
	    WIRE_COND_ABSENT, version, NULL);
	wbuf_free(&w);
	return rc;
}

/* Delete key if its version is still version; 0 when it went. */
static int
fsck_del(struct fsck *f, const struct hash_key *k, uint64_t version)
{
	fsck_throttle(f, 1);
	return kv_del(f->kv, k, WIRE_COND_VERSION, version);
}

/* Is p due for a repair in this run? */
static bool
fsck_due(const struct fsck *f, const struct fsck_problem *p)
{
	if (p->outcome != FSCK_R_LEFT)
		return false;
	if (f->o.sweep)
		return p->kind == FSCK_P_ORPHAN;
	return f->o.repair;
}

/* Is problem p a name without inode in shard of directory parent? */
static bool
fsck_noinode_in(const struct fsck_problem *p, uint64_t parent,
    uint64_t shard)
{
	return p->kind == FSCK_P_NOINODE && p->parent == parent &&
	    p->shard == shard;
}

/*
 * Names without inode in one directory shard: remove them in one CAS on
 * the version the scan read (entries re-checked: same name, same ino).
 */
static void
fsck_fix_noinode(struct fsck *f, size_t first)
{
	uint64_t parent = f->pb[first].parent, ver = f->pb[first].version;
	uint64_t shard = f->pb[first].shard, now;
	struct meta_dir d;
	bool ok;

	if (fsck_get_dir(f, parent, shard, &d, &now) != 0 || now != ver)
		goto out;
	for (size_t i = first; i < f->npb; i++) {
		struct fsck_problem *p = &f->pb[i];
		long at;

		if (!fsck_noinode_in(p, parent, shard) || !fsck_due(f, p))
			continue;
		at = meta_dir_find(&d, p->name, strlen(p->name), NULL);
		if (at >= 0 && d.e[at].ino == p->ino)
			meta_dir_remove_at(&d, (size_t)at);
	}
	ok = fsck_put_dir(f, parent, &d, ver) == 0;
	for (size_t i = first; i < f->npb && ok; i++) {
		if (fsck_noinode_in(&f->pb[i], parent, shard) &&
		    fsck_due(f, &f->pb[i]))
			f->pb[i].outcome = FSCK_R_FIXED;
	}
out:
	meta_dir_free(&d);
	/* The others of this directory are settled either way. */
	for (size_t i = first; i < f->npb; i++) {
		if (fsck_noinode_in(&f->pb[i], parent, shard) &&
		    f->pb[i].outcome == FSCK_R_LEFT)
			f->pb[i].outcome = FSCK_R_TRIED;
	}
}

/* Set the link count if the inode is still the version scanned. */
static void
fsck_fix_nlink(struct fsck *f, struct fsck_problem *p)
{
	struct meta_inode in;
	uint64_t ver;

	if (fsck_get_inode(f, p->ino, &in, &ver) == 0 && ver == p->version) {
		in.nlink = p->want;
		if (fsck_put_inode(f, p->ino, &in, ver) == 0)
			p->outcome = FSCK_R_FIXED;
	}
	meta_inode_free(&in);
}

/*
 * Unrecorded chunks of p's file: add every one of them to the extents,
 * on a fresh copy (adding deletes nothing, so any version will do).
 */
static void
fsck_fix_unrecorded(struct fsck *f, size_t first)
{
	uint64_t ino = f->pb[first].ino, ver;
	struct meta_inode in;
	int rc = -1;

	for (int t = 0; t < FSCK_TRIES && rc != 0; t++) {
		if (fsck_get_inode(f, ino, &in, &ver) != 0 ||
		    !S_ISREG(in.mode)) {
			meta_inode_free(&in);
			break;
		}
		for (size_t i = first; i < f->npb; i++) {
			if (f->pb[i].kind == FSCK_P_UNRECORDED &&
			    f->pb[i].ino == ino)
				(void)meta_extents_add(&in.ext, f->pb[i].index,
				    f->pb[i].index + 1);
		}
		rc = fsck_put_inode(f, ino, &in, ver);
		meta_inode_free(&in);
		if (rc != -KV_ECONFLICT && rc != 0)
			break;
	}
	for (size_t i = first; i < f->npb; i++) {
		if (f->pb[i].kind == FSCK_P_UNRECORDED && f->pb[i].ino == ino)
			f->pb[i].outcome = rc == 0 ? FSCK_R_FIXED :
			    FSCK_R_TRIED;
	}
}

/* A fresh inode number (as inode_new_ino(): 63 bits, not 0 or 1). */
static uint64_t
fsck_new_ino(void)
{
	uint64_t v = 0;

	while (v <= META_ROOT_INO) {
		if (getrandom(&v, sizeof v, 0) != sizeof v)
			v = fsck_now_us() * 0x9e3779b97f4a7c15ULL;
		v &= INT64_MAX;
	}
	return v;
}

/*
 * Add name -> ino (type) to directory dir (its shard for name; fsck does
 * not split one that grows past the bound: the next create on a mount
 * does), retrying on conflicts with a fresh copy.  0; -EEXIST with *had
 * the ino already there; -errno.
 */
static int
fsck_dir_add(struct fsck *f, uint64_t dir, const char *name, uint64_t ino,
    uint8_t type, uint64_t *had)
{
	struct meta_dir d;
	uint64_t ver;
	long at;
	int rc = -EIO;

	for (int t = 0; t < FSCK_TRIES; t++) {
		if ((rc = fsck_get_leaf(f, dir, name, &d, &ver)) != 0)
			break;
		if ((at = meta_dir_find(&d, name, strlen(name), NULL)) >= 0) {
			*had = d.e[at].ino;
			rc = -EEXIST;
			break;
		}
		(void)meta_dir_insert(&d, name, strlen(name), ino, type);
		rc = fsck_put_dir(f, dir, &d, ver);
		meta_dir_free(&d);
		if (rc != -KV_ECONFLICT)
			return rc;
	}
	meta_dir_free(&d);
	return rc;
}

/* Add delta to the link count of ino, retrying on conflicts. */
static int
fsck_nlink_add(struct fsck *f, uint64_t ino, int delta)
{
	struct meta_inode in;
	uint64_t ver;
	int rc = -EIO;

	for (int t = 0; t < FSCK_TRIES; t++) {
		if ((rc = fsck_get_inode(f, ino, &in, &ver)) != 0)
			break;
		in.nlink = (uint32_t)((int64_t)in.nlink + delta);
		rc = fsck_put_inode(f, ino, &in, ver);
		meta_inode_free(&in);
		if (rc != -KV_ECONFLICT)
			return rc;
	}
	meta_inode_free(&in);
	return rc;
}

/*
 * The ino of /lost+found, created when missing (mode 0700, owned by
 * root, like e2fsck's): the inode and its empty directory "if absent",
 * then the root's entry and link count.  0 with *ino, or -errno.
 */
static int
fsck_lost_found(struct fsck *f, uint64_t *ino)
{
	struct meta_inode in;
	struct meta_dir root;
	uint64_t had = 0, ver;
	struct hash_key k;
	long at;
	int rc;

	if ((rc = fsck_get_leaf(f, META_ROOT_INO, FSCK_LOST_FOUND, &root,
	    &ver)) != 0)
		return rc;
	at = meta_dir_find(&root, FSCK_LOST_FOUND, strlen(FSCK_LOST_FOUND),
	    NULL);
	*ino = at >= 0 ? root.e[at].ino : 0;
	meta_dir_free(&root);
	if (*ino != 0)
		return 0;
	*ino = fsck_new_ino();
	meta_inode_init(&in);
	in.mode = S_IFDIR | 0700;
	in.nlink = 2;
	clock_gettime(CLOCK_REALTIME, &in.mtime);
	in.atime = in.ctime = in.mtime;
	in.chunk_size = META_CHUNK_DEFAULT;
	if ((rc = fsck_put_inode(f, *ino, &in, 0)) != 0)
		return rc;
	if ((rc = fsck_put_dir(f, *ino, &(struct meta_dir){ 0 }, 0)) != 0)
		return rc;
	rc = fsck_dir_add(f, META_ROOT_INO, FSCK_LOST_FOUND, *ino, DT_DIR,
	    &had);
	if (rc == -EEXIST) {
		/* There already (another fsck, or a user's): use it. */
		meta_key_inode(*ino, &k);
		(void)kv_del(f->kv, &k, WIRE_COND_NONE, 0);
		meta_key_dir(*ino, &k);
		(void)kv_del(f->kv, &k, WIRE_COND_NONE, 0);
		*ino = had;
		return 0;
	}
	if (rc != 0)
		return rc;
	return fsck_nlink_add(f, META_ROOT_INO, 1);
}

/*
 * An inode without a name goes to /lost+found as "#<ino>" (decimal, as
 * stat prints it): its link count set (files 1) on the version scanned,
 * then the entry; a directory adds a link to lost+found.
 */
static void
fsck_fix_noname(struct fsck *f, struct fsck_problem *p, uint64_t *lf)
{
	char name[32];
	struct meta_inode in;
	uint64_t ver, had = 0;
	bool dir;
	int rc;

	if (*lf == 0 && fsck_lost_found(f, lf) != 0) {
		*lf = 0;
		return;
	}
	if (fsck_get_inode(f, p->ino, &in, &ver) != 0 || ver != p->version) {
		meta_inode_free(&in);
		return;
	}
	dir = S_ISDIR(in.mode);
	if (!dir && in.nlink != 1) {
		in.nlink = 1;
		rc = fsck_put_inode(f, p->ino, &in, ver);
	} else
		rc = 0;
	if (rc == 0) {
		snprintf(name, sizeof name, "#%" PRIu64, p->ino);
		rc = fsck_dir_add(f, *lf, name, p->ino, fsck_dtype(in.mode),
		    &had);
		if (rc == -EEXIST && had == p->ino)
			rc = 0;
		if (rc == 0 && dir)
			rc = fsck_nlink_add(f, *lf, 1);
	}
	if (rc == 0)
		p->outcome = FSCK_R_FIXED;
	meta_inode_free(&in);
}

/*
 * A shard an rmdir froze and left (its canfs died): LIVE and empty again,
 * on the version read, so an rmdir that is only slow (past the grace!)
 * keeps its freeze.
 */
static void
fsck_fix_frozen(struct fsck *f, struct fsck_problem *p)
{
	struct meta_dir d;

	meta_dir_init(&d);
	meta_shard_of_id(p->shard, &d.depth, &d.prefix);
	if (fsck_put_dir(f, p->ino, &d, p->version) == 0)
		p->outcome = FSCK_R_FIXED;
}

/* An unlinked inode nobody holds: delete it, then its chunks. */
static void
fsck_fix_unlinked(struct fsck *f, struct fsck_problem *p)
{
	struct hash_key k;

	meta_key_inode(p->ino, &k);
	if (fsck_del(f, &k, p->version) != 0)
		return;
	p->outcome = FSCK_R_FIXED;
	for (size_t s = 0; s < f->objs.cap; s++) {
		struct fsck_obj *o = &f->objs.v[s];

		if (o->version != 0 && !o->tomb && o->owner == p->ino)
			(void)fsck_del(f, &o->key, o->version);
	}
}

/* Orphans: conditional deletes, in batches. */
static void
fsck_fix_orphans(struct fsck *f)
{
	struct kv_op ops[256];
	size_t idx[256], n = 0;

	for (size_t i = 0; i <= f->npb; i++) {
		if (i < f->npb && f->pb[i].kind == FSCK_P_ORPHAN &&
		    fsck_due(f, &f->pb[i])) {
			memset(&ops[n], 0, sizeof ops[n]);
			ops[n].type = WIRE_OBJ_DEL;
			ops[n].key = f->pb[i].key;
			ops[n].cond = WIRE_COND_VERSION;
			ops[n].cond_version = f->pb[i].version;
			idx[n++] = i;
		}
		if (n == 256 || (i == f->npb && n > 0)) {
			(void)kv_batch(f->kv, ops, n);
			fsck_throttle(f, n);
			fsck_step(f, n);
			for (size_t j = 0; j < n; j++) {
				if (ops[j].rc == 0)
					f->pb[idx[j]].outcome = FSCK_R_FIXED;
			}
			n = 0;
		}
	}
}

/* Apply the repairs (see fsck.h). */
void
fsck_repair(struct fsck *f)
{
	uint64_t lf = 0;
	size_t due = 0;

	for (size_t i = 0; i < f->npb; i++)
		due += fsck_due(f, &f->pb[i]);
	if (due == 0)
		return;
	fsck_phase(f, "repairs done", due);
	for (size_t i = 0; i < f->npb; i++) {
		struct fsck_problem *p = &f->pb[i];

		if (!fsck_due(f, p))
			continue;
		switch (p->kind) {
		case FSCK_P_NOINODE:
			fsck_fix_noinode(f, i);
			break;
		case FSCK_P_NLINK:
			fsck_fix_nlink(f, p);
			break;
		case FSCK_P_UNRECORDED:
			fsck_fix_unrecorded(f, i);
			break;
		case FSCK_P_NONAME:
			fsck_fix_noname(f, p, &lf);
			break;
		case FSCK_P_UNLINKED:
			fsck_fix_unlinked(f, p);
			break;
		case FSCK_P_FROZEN:
			fsck_fix_frozen(f, p);
			break;
		default:
			continue;	/* orphans below, in batches */
		}
		fsck_step(f, 1);
	}
	fsck_fix_orphans(f);
	/* Tried and not fixed: left. */
	for (size_t i = 0; i < f->npb; i++) {
		if (f->pb[i].outcome == FSCK_R_TRIED)
			f->pb[i].outcome = FSCK_R_LEFT;
	}
	fsck_phase(f, NULL, 0);
}

/*
 * The sweep's turn: the record r/sweep's version is the time the last
 * sweep started (the store's clock); within 90% of the interval, skip.
 * Else write it (the host name, for people) on that version, so of two
 * sweeps starting together one goes on.
 */
bool
fsck_sweep_turn(struct fsck *f, char *why, size_t whylen)
{
	char host[256] = "?";
	struct kv_value v;
	struct hash_key k;
	uint64_t ver = 0, age;
	int rc;

	hash_key_of(FSCK_SWEEP_KEY, strlen(FSCK_SWEEP_KEY), &k);
	if ((rc = kv_get(f->kv, &k, &v)) == 0) {
		ver = v.version;
		kv_value_free(&v);
		age = f->now_us > ver ? (f->now_us - ver) / 1000000 : 0;
		if (age < f->o.interval_s / 10 * 9) {
			snprintf(why, whylen, "the last sweep started %" PRIu64
			    " s ago (interval %" PRIu64 " s)", age,
			    f->o.interval_s);
			return false;
		}
	} else if (rc != -ENOENT) {
		snprintf(why, whylen, "cannot read %s: %s", FSCK_SWEEP_KEY,
		    strerror(-rc));
		return false;
	}
	(void)gethostname(host, sizeof host - 1);
	strcat(host, "\n");
	rc = kv_put(f->kv, &k, host, strlen(host), ver ? WIRE_COND_VERSION :
	    WIRE_COND_ABSENT, ver, NULL);
	if (rc != 0) {
		snprintf(why, whylen, "%s", rc == -KV_ECONFLICT ? "another "
		    "sweep started just now" : strerror(-rc));
		return false;
	}
	return true;
}
