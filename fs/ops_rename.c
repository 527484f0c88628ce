/*
 * ops_rename.c: rename, within and across directories, replacing, with
 * RENAME_NOREPLACE and RENAME_EXCHANGE.
 *
 * Within one directory a rename is one CAS of the shard that holds both
 * names (dir.h): atomic.  Across directories, or between two shards of
 * one, it takes two: the new name is added first, then the old one
 * removed (checking it still names the same inode; if not, the first step
 * is undone and the rename fails with ENOENT).  A crash in between leaves
 * two names for the inode, never none.
 *
 * A directory being replaced must be empty: its object is deleted first,
 * atomically with the emptiness check (dir_remove_empty(): nothing can be
 * created in it any more), and put back if the rename then fails, or if
 * the name no longer held it when the rename landed (another machine
 * moved it away meanwhile: its new name must not lead to nothing).
 *
 * Moving a directory to another directory could make a cycle, cut off
 * from the root, when two machines move two directories into each other
 * at once: each kernel checks ancestry only in its own cache.  So such
 * moves (and EXCHANGE of a directory across directories) run one at a
 * time in the whole filesystem, under the rename lease (lease.h), as
 * Linux's s_vfs_rename_mutex does on one machine.  Holding it, the move
 * reads the source afresh and walks the source's tree down from the
 * store, also afresh (ops_ren_cycle: the store has no parent pointers to
 * walk up from the target), and fails with EINVAL if the target
 * directory is in it.  Whichever machine comes second gets EINVAL (or,
 * if its kernel looked the path up again meanwhile, ENOENT).  The cost:
 * a CAS to take the lease and one to give it back, plus one batch of
 * directory reads per level of the subdirectories moved; renames within
 * one directory and of anything but directories do not take it.  A
 * mount that dies holding the lease delays the next directory move by
 * up to its 30 s; a move that cannot get it within io_timeout fails
 * with EIO.  A crash between the two steps leaves the directory with two
 * names (no cycle can come of it: the walk sees both).
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>

#include "dir.h"
#include "inode.h"
#include "kv.h"
#include "lease.h"
#include "log.h"
#include "itab.h"
#include "ops.h"
#include "xmalloc.h"

#define OPS_RENAME_RESTARTS 8
#define OPS_ERESTART ERESTART /* internal: the target changed, start over */
#define OPS_ELEASE ENOLCK     /* internal: take the lease, start over */

/* One rename. */
struct ops_ren {
	const char *name, *newname;
	size_t len, newlen;
	unsigned flags;
	uint64_t killed;	/* the empty directory target we removed */
	uint64_t src_ino;	/* the inode moved (found, or expected) */
	uint8_t src_type;
	uint64_t tgt_ino;	/* what newname named before, or 0 */
	uint8_t tgt_type;
	bool same;		/* both names are links to one inode: no-op */
	bool cross;		/* two directories */
	bool leased;		/* we hold the rename lease: */
	struct lease_hold hold;
	uint64_t checked_tgt;	/* EXCHANGE: the directory target whose
				   tree was checked, or 0 */
};

/* A growable list of inode numbers. */
struct ops_inos {
	uint64_t *v;
	size_t n, cap;
};

/*
 * newname at position j is about to be replaced by the source: check
 * flags and types, record it.  0 or -errno.
 */
static int
ops_ren_target(struct ops_ren *r, const struct meta_dir *d, long j)
{
	if (j < 0) {
		if (r->flags & RENAME_EXCHANGE)
			return -ENOENT;
		r->tgt_ino = 0;
		return 0;
	}
	if (r->flags & RENAME_NOREPLACE)
		return -EEXIST;
	r->tgt_ino = d->e[j].ino;
	r->tgt_type = d->e[j].type;
	if (r->tgt_ino == r->src_ino) {
		r->same = true;
		return 0;
	}
	/* A directory swapped in after ops_ren_guard() looked. */
	if ((r->flags & RENAME_EXCHANGE) && r->cross &&
	    r->tgt_type == DT_DIR && r->tgt_ino != r->checked_tgt)
		return -OPS_ERESTART;
	if (r->flags & RENAME_EXCHANGE)
		return 0;
	if (r->src_type == DT_DIR && r->tgt_type != DT_DIR)
		return -ENOTDIR;
	if (r->src_type != DT_DIR && r->tgt_type == DT_DIR)
		return -EISDIR;
	if (r->tgt_type == DT_DIR && r->tgt_ino != r->killed)
		return -OPS_ERESTART;
	return 0;
}

/* Mutation: rename within one directory. */
static int
ops_ren_same_mut(struct meta_dir *d, void *arg)
{
	struct ops_ren *r = arg;
	long i = meta_dir_find(d, r->name, r->len, NULL);
	long j = meta_dir_find(d, r->newname, r->newlen, NULL);
	int rc;

	r->same = false;
	if (i < 0)
		return -ENOENT;
	r->src_ino = d->e[i].ino;
	r->src_type = d->e[i].type;
	if ((rc = ops_ren_target(r, d, j)) != 0)
		return rc;
	if (r->same)
		return INODE_UNCHANGED;
	if (j >= 0) {
		d->e[j].ino = r->src_ino;
		d->e[j].type = r->src_type;
		if (r->flags & RENAME_EXCHANGE) {
			d->e[i].ino = r->tgt_ino;
			d->e[i].type = r->tgt_type;
		} else
			meta_dir_remove_at(d, (size_t)i);
		return 0;
	}
	meta_dir_remove_at(d, (size_t)i);
	return meta_dir_insert(d, r->newname, r->newlen, r->src_ino,
	    r->src_type);
}

/* Mutation, across directories, step 1: newname -> the source. */
static int
ops_ren_add_mut(struct meta_dir *d, void *arg)
{
	struct ops_ren *r = arg;
	long j = meta_dir_find(d, r->newname, r->newlen, NULL);
	int rc;

	r->same = false;
	if ((rc = ops_ren_target(r, d, j)) != 0)
		return rc;
	if (r->same)
		return INODE_UNCHANGED;
	if (j >= 0) {
		d->e[j].ino = r->src_ino;
		d->e[j].type = r->src_type;
		return 0;
	}
	return meta_dir_insert(d, r->newname, r->newlen, r->src_ino,
	    r->src_type);
}

/* Mutation, across directories, step 2: drop (or swap) the old name. */
static int
ops_ren_del_mut(struct meta_dir *d, void *arg)
{
	struct ops_ren *r = arg;
	long i = meta_dir_find(d, r->name, r->len, NULL);

	if (i < 0 || d->e[i].ino != r->src_ino)
		return -ENOENT;
	if (r->flags & RENAME_EXCHANGE) {
		d->e[i].ino = r->tgt_ino;
		d->e[i].type = r->tgt_type;
	} else
		meta_dir_remove_at(d, (size_t)i);
	return 0;
}

/* Mutation: undo step 1 (newname back to what it named, or gone). */
static int
ops_ren_undo_mut(struct meta_dir *d, void *arg)
{
	const struct ops_ren *r = arg;
	long j = meta_dir_find(d, r->newname, r->newlen, NULL);

	if (j < 0 || d->e[j].ino != r->src_ino)
		return INODE_UNCHANGED;
	if (r->tgt_ino != 0) {
		d->e[j].ino = r->tgt_ino;
		d->e[j].type = r->tgt_type;
	} else
		meta_dir_remove_at(d, (size_t)j);
	return 0;
}

/* Mutation: ctime of a renamed inode. */
static int
ops_ren_ctime_mut(struct meta_inode *in, void *arg)
{
	(void)arg;
	ops_now(&in->ctime);
	return 0;
}

/* Append ino to l. */
static void
ops_inos_push(struct ops_inos *l, uint64_t ino)
{
	if (l->n == l->cap) {
		l->cap = l->cap == 0 ? 16 : l->cap * 2;
		l->v = xreallocarray(l->v, l->cap, sizeof *l->v);
	}
	l->v[l->n++] = ino;
}

/* qsort/bsearch order of inode numbers. */
static int
ops_inos_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* What ops_ren_level() looks for in the shards of one directory. */
struct ops_ren_scan {
	const struct ops_inos *seen;
	uint64_t dir;
	struct ops_inos *next;
};

/* dir_scan callback: the subdirectories named in one shard. */
static int
ops_ren_scan_cb(const struct meta_dir *d, uint64_t version, void *arg)
{
	struct ops_ren_scan *s = arg;

	(void)version;
	for (size_t j = 0; j < d->n; j++) {
		if (d->e[j].type != DT_DIR)
			continue;
		if (d->e[j].ino == s->dir)
			return -EINVAL;
		if (bsearch(&d->e[j].ino, s->seen->v, s->seen->n,
		    sizeof *s->seen->v, ops_inos_cmp) == NULL)
			ops_inos_push(s->next, d->e[j].ino);
	}
	return 0;
}

/*
 * One level of the walk of ops_ren_cycle(): read the directories lv
 * (fresh, their root shards in batch requests, the shards below of a
 * large one in a batch request per level) and add their subdirectories
 * not in seen (sorted) to next.  -EINVAL when one of them is dir, else 0
 * or -errno.  A directory object found missing has no subdirectories (it
 * is being removed, or replaced by a rename).
 */
static int
ops_ren_level(struct fs *fs, const struct ops_inos *lv,
    const struct ops_inos *seen, uint64_t dir, struct ops_inos *next)
{
	struct kv_op *ops = xcalloc(lv->n, sizeof *ops);
	struct ops_ren_scan sc = { .seen = seen, .dir = dir, .next = next };
	struct meta_dir d;
	int rc = 0;

	for (size_t i = 0; i < lv->n; i++) {
		ops[i].type = WIRE_OBJ_GET;
		meta_key_dir(lv->v[i], &ops[i].key);
	}
	(void)kv_batch(fs->kv, ops, lv->n);
	for (size_t i = 0; i < lv->n && rc == 0; i++) {
		if (ops[i].rc != 0) {
			rc = ops[i].rc == -ENOENT ? 0 : ops[i].rc;
			continue;
		}
		if (meta_dir_decode(ops[i].v.data, ops[i].v.len, &d) != 0) {
			log_error("directory %" PRIx64 ": object does not "
			    "decode", lv->v[i]);
			rc = -EIO;
			continue;
		}
		if (d.state == META_SHARD_SPLIT)
			rc = dir_scan(fs, lv->v[i], &d, ops_ren_scan_cb, &sc);
		else
			rc = ops_ren_scan_cb(&d, 0, &sc);
		if (rc == -ENOENT)
			rc = 0;
		meta_dir_free(&d);
	}
	for (size_t i = 0; i < lv->n; i++)
		kv_value_free(&ops[i].v);
	free(ops);
	return rc;
}

/*
 * Would moving directory top into dir make a cycle, i.e. is dir top or
 * inside top's tree?  -EINVAL if so, 0 if not, or -errno.  Only called
 * with the rename lease held, so no other move can change the answer
 * meanwhile.  Walks top's tree down, fresh from the store (caches may
 * predate another machine's move), one batch request per level: a cost
 * that follows the subdirectories moved.  The store holds no parent
 * pointers to walk up from dir instead.  seen guards against a cycle
 * already there (and a directory with two names after a crash).
 */
static int
ops_ren_cycle(struct fs *fs, uint64_t top, uint64_t dir)
{
	struct ops_inos lv = { 0 }, next = { 0 }, seen = { 0 };
	int rc = 0;

	if (top == dir)
		return -EINVAL;
	ops_inos_push(&lv, top);
	ops_inos_push(&seen, top);
	while (lv.n > 0 && rc == 0) {
		next.n = 0;
		rc = ops_ren_level(fs, &lv, &seen, dir, &next);
		qsort(next.v, next.n, sizeof *next.v, ops_inos_cmp);
		lv.n = 0;
		for (size_t i = 0; i < next.n; i++) {
			if (i > 0 && next.v[i] == next.v[i - 1])
				continue;
			ops_inos_push(&lv, next.v[i]);
			ops_inos_push(&seen, next.v[i]);
		}
		qsort(seen.v, seen.n, sizeof *seen.v, ops_inos_cmp);
	}
	if (rc == -EINVAL)
		log_info("rename: directory %" PRIx64 " is inside %" PRIx64
		    ": refused (EINVAL)", dir, top);
	free(lv.v);
	free(next.v);
	free(seen.v);
	return rc;
}

/*
 * Before the first change of a move across directories: a directory
 * moved (either way, for EXCHANGE) needs the lease (-OPS_ELEASE when we
 * do not hold it), and must not land inside its own tree (-EINVAL).
 */
static int
ops_ren_guard(struct fs *fs, struct itab_ent *p1, struct itab_ent *p2,
    struct ops_ren *r)
{
	uint64_t ino;
	uint8_t type;
	int rc;

	r->checked_tgt = 0;
	if (r->src_type == DT_DIR) {
		if (!r->leased)
			return -OPS_ELEASE;
		if ((rc = ops_ren_cycle(fs, r->src_ino, p2->ino)) != 0)
			return rc;
	}
	if (!(r->flags & RENAME_EXCHANGE))
		return 0;
	if ((rc = dir_find(fs, p2, r->newname, r->newlen, 0, 0, &ino,
	    &type)) < 0)
		return rc;
	if (rc == 1 && type == DT_DIR)
		r->checked_tgt = ino;
	if (r->checked_tgt == 0)
		return 0;
	if (!r->leased)
		return -OPS_ELEASE;
	return ops_ren_cycle(fs, r->checked_tgt, p1->ino);
}

/*
 * Before replacing: if newname is a directory, remove its (empty) object
 * so nothing can be created in it.  Finds the source on the way.
 */
static int
ops_ren_prepare(struct fs *fs, struct itab_ent *p1, struct itab_ent *p2,
    struct ops_ren *r)
{
	struct itab_ent *tn;
	uint64_t ino;
	uint8_t type;
	int rc;

	r->killed = 0;
	if (r->flags & (RENAME_EXCHANGE | RENAME_NOREPLACE))
		return 0;
	if ((rc = dir_find(fs, p1, r->name, r->len, 0, 0, &ino,
	    &r->src_type)) <= 0)
		return rc == 0 ? -ENOENT : rc;
	if ((rc = dir_find(fs, p2, r->newname, r->newlen, 0, 0, &ino,
	    &type)) <= 0)
		return rc;
	rc = 0;
	if (type == DT_DIR && r->src_type == DT_DIR) {
		tn = itab_get(fs->nodes, ino);
		rc = dir_remove_empty(fs, tn);
		if (rc == 0 || rc == -ENOENT)
			r->killed = tn->ino;
		rc = rc == -ENOENT ? 0 : rc;
		itab_put(fs->nodes, tn);
	}
	return rc;
}

/* The directory changes of one attempt. */
static int
ops_ren_move(struct fs *fs, struct itab_ent *p1, struct itab_ent *p2,
    struct ops_ren *r)
{
	int rc;

	if (p1 == p2) {
		/* One CAS when both names are in one shard. */
		rc = dir_update_pair(fs, p1, r->name, r->len, r->newname,
		    r->newlen, ops_ren_same_mut, r);
		if (rc != -EXDEV)
			return rc;
	}
	if ((rc = dir_find(fs, p1, r->name, r->len, 0, 0, &r->src_ino,
	    &r->src_type)) <= 0)
		return rc == 0 ? -ENOENT : rc;
	if (p1 != p2 && (rc = ops_ren_guard(fs, p1, p2, r)) != 0)
		return rc;
	r->tgt_ino = 0;
	if (r->leased && (rc = lease_check(fs, &r->hold)) != 0)
		return rc;
	if ((rc = dir_update(fs, p2, r->newname, r->newlen, ops_ren_add_mut,
	    r)) != 0 || r->same)
		return rc;
	if (r->leased)
		rc = lease_check(fs, &r->hold);
	if (rc != 0 || (rc = dir_update(fs, p1, r->name, r->len,
	    ops_ren_del_mut, r)) != 0)
		(void)dir_update(fs, p2, r->newname, r->newlen,
		    ops_ren_undo_mut, r);
	return rc;
}

/* After the move: link counts, times, the replaced inode. */
static void
ops_ren_finish(struct fs *fs, struct itab_ent *p1, struct itab_ent *p2,
    const struct ops_ren *r)
{
	int d1 = 0, d2 = 0;
	struct itab_ent *n;

	if (p1 != p2 && r->src_type == DT_DIR) {
		d1--;
		d2++;
	}
	if (r->tgt_ino != 0 && r->tgt_type == DT_DIR) {
		d2--;
		if (r->flags & RENAME_EXCHANGE)
			d1++;
	}
	ops_touch_dir(fs, p1, p1 == p2 ? d1 + d2 : d1);
	if (p1 != p2)
		ops_touch_dir(fs, p2, d2);
	n = itab_get(fs->nodes, r->src_ino);
	(void)inode_update(fs, n, ops_ren_ctime_mut, NULL, NULL);
	if (r->src_type == DT_DIR) {
		itab_lock(fs->nodes);
		n->parent = p2->ino;
		itab_unlock(fs->nodes);
	}
	itab_put(fs->nodes, n);
	if (r->tgt_ino == 0)
		return;
	n = itab_get(fs->nodes, r->tgt_ino);
	if (r->flags & RENAME_EXCHANGE)
		(void)inode_update(fs, n, ops_ren_ctime_mut, NULL, NULL);
	else if (r->tgt_type == DT_DIR)
		(void)inode_remove(fs, n);
	else if (ops_drop_link(fs, n) != 0)
		log_warnx("inode %" PRIx64 ": replaced by rename but not "
		    "released", r->tgt_ino);
	itab_put(fs->nodes, n);
}

/*
 * Does this move across directories look like it moves a directory
 * (the source, or an EXCHANGE target, in the cached directories)?  Then
 * the lease is taken up front; a wrong guess costs a restart
 * (ops_ren_guard() decides on fresh reads).
 */
static bool
ops_ren_hint(struct fs *fs, struct itab_ent *p1, struct itab_ent *p2,
    const struct ops_ren *r)
{
	uint64_t ino;
	uint8_t type;

	if (itab_dir_lookup(fs->nodes, p1, -1, r->name, r->len,
	    meta_name_hash(r->name, r->len), &ino, &type) == 1 &&
	    type == DT_DIR)
		return true;
	return (r->flags & RENAME_EXCHANGE) && itab_dir_lookup(fs->nodes,
	    p2, -1, r->newname, r->newlen,
	    meta_name_hash(r->newname, r->newlen), &ino, &type) == 1 &&
	    type == DT_DIR;
}

/* Take the rename lease for r: 0 or -EIO. */
static int
ops_ren_lease(struct fs *fs, struct ops_ren *r)
{
	int rc;

	if ((rc = lease_acquire(fs, &r->hold)) == 0)
		r->leased = true;
	return rc;
}

/* rename(2), renameat2(2) with NOREPLACE or EXCHANGE. */
void
ops_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
    fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	struct fs *fs = fs_ctx(req);
	struct ops_ren r = { .name = name, .newname = newname,
	    .len = strlen(name), .newlen = strlen(newname), .flags = flags };
	struct itab_ent *p1, *p2;
	int rc, tries;

	if ((flags & ~(unsigned)(RENAME_NOREPLACE | RENAME_EXCHANGE)) ||
	    ((flags & RENAME_NOREPLACE) && (flags & RENAME_EXCHANGE))) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if ((rc = meta_name_check(r.newname, r.newlen)) != 0) {
		ops_reply_err(req, rc);
		return;
	}
	p1 = itab_get(fs->nodes, parent);
	p2 = parent == newparent ? p1 : itab_get(fs->nodes, newparent);
	r.cross = p1 != p2;
	rc = 0;
	if (r.cross && ops_ren_hint(fs, p1, p2, &r))
		rc = ops_ren_lease(fs, &r);
	for (tries = 0; rc == 0 && tries < OPS_RENAME_RESTARTS; tries++) {
		if ((rc = ops_ren_prepare(fs, p1, p2, &r)) != 0)
			break;
		rc = ops_ren_move(fs, p1, p2, &r);
		/*
		 * Put a removed empty directory back unless it is what
		 * we replaced: another machine may have moved it away
		 * meanwhile, its name now elsewhere.
		 */
		if (r.killed != 0 && (rc != 0 || r.tgt_ino != r.killed)) {
			(void)dir_create(fs, r.killed);
			if (rc == 0)
				log_info("rename: directory %" PRIx64 " was "
				    "moved away meanwhile: its object put "
				    "back", r.killed);
		}
		if (rc == -OPS_ELEASE && !r.leased)
			rc = ops_ren_lease(fs, &r);
		else if (rc != -OPS_ERESTART)
			break;
	}
	if (r.leased)
		lease_release(fs, &r.hold);
	if (rc == -OPS_ERESTART || rc == -OPS_ELEASE)
		rc = -EIO;
	if (rc == 0 && !r.same)
		ops_ren_finish(fs, p1, p2, &r);
	if (p2 != p1)
		itab_put(fs->nodes, p2);
	itab_put(fs->nodes, p1);
	ops_reply_status(req, rc);
}
