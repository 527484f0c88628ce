/*
 * ops_rename.c: rename, within and across directories, replacing, with
 * RENAME_NOREPLACE and RENAME_EXCHANGE.
 *
 * Within one directory a rename is one CAS of that directory: atomic.
 * Across directories it takes two: the new name is added first, then the
 * old one removed (checking it still names the same inode; if not, the
 * first step is undone and the rename fails with ENOENT).  A crash in
 * between leaves two names for the inode, never none.
 *
 * A directory being replaced must be empty: its object is deleted first
 * with a conditional delete of the empty version read (so nothing can be
 * created in it any more), and put back if the rename then fails.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <string.h>

#include "dir.h"
#include "inode.h"
#include "log.h"
#include "node.h"
#include "ops.h"

#define OPS_RENAME_RESTARTS 8
#define OPS_ERESTART ERESTART /* internal: the target changed, start over */

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

/*
 * Before replacing: if newname is a directory, remove its (empty) object
 * so nothing can be created in it.  Finds the source on the way.
 */
static int
ops_ren_prepare(struct fs *fs, struct node *p1, struct node *p2,
    struct ops_ren *r)
{
	struct meta_dir d;
	struct node *tn;
	long i;
	int rc;

	r->killed = 0;
	if (r->flags & (RENAME_EXCHANGE | RENAME_NOREPLACE))
		return 0;
	if ((rc = dir_read(fs, p1, 0, &d, NULL)) != 0)
		return rc;
	i = meta_dir_find(&d, r->name, r->len, NULL);
	if (i >= 0)
		r->src_type = d.e[i].type;
	meta_dir_free(&d);
	if (i < 0)
		return -ENOENT;
	if ((rc = dir_read(fs, p2, 0, &d, NULL)) != 0)
		return rc;
	i = meta_dir_find(&d, r->newname, r->newlen, NULL);
	if (i >= 0 && d.e[i].type == DT_DIR && r->src_type == DT_DIR) {
		tn = node_get(fs->nodes, d.e[i].ino);
		rc = dir_remove_empty(fs, tn);
		if (rc == 0 || rc == -ENOENT)
			r->killed = tn->ino;
		rc = rc == -ENOENT ? 0 : rc;
		node_put(fs->nodes, tn);
	}
	meta_dir_free(&d);
	return rc;
}

/* The directory changes of one attempt. */
static int
ops_ren_move(struct fs *fs, struct node *p1, struct node *p2,
    struct ops_ren *r)
{
	struct meta_dir d;
	long i;
	int rc;

	if (p1 == p2)
		return dir_update(fs, p1, ops_ren_same_mut, r);
	if ((rc = dir_read(fs, p1, 0, &d, NULL)) != 0)
		return rc;
	i = meta_dir_find(&d, r->name, r->len, NULL);
	if (i >= 0) {
		r->src_ino = d.e[i].ino;
		r->src_type = d.e[i].type;
	}
	meta_dir_free(&d);
	if (i < 0)
		return -ENOENT;
	r->tgt_ino = 0;
	if ((rc = dir_update(fs, p2, ops_ren_add_mut, r)) != 0 || r->same)
		return rc;
	if ((rc = dir_update(fs, p1, ops_ren_del_mut, r)) != 0)
		(void)dir_update(fs, p2, ops_ren_undo_mut, r);
	return rc;
}

/* After the move: link counts, times, the replaced inode. */
static void
ops_ren_finish(struct fs *fs, struct node *p1, struct node *p2,
    const struct ops_ren *r)
{
	int d1 = 0, d2 = 0;
	struct node *n;

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
	n = node_get(fs->nodes, r->src_ino);
	(void)inode_update(fs, n, ops_ren_ctime_mut, NULL, NULL);
	if (r->src_type == DT_DIR) {
		node_lock(fs->nodes);
		n->parent = p2->ino;
		node_unlock(fs->nodes);
	}
	node_put(fs->nodes, n);
	if (r->tgt_ino == 0)
		return;
	n = node_get(fs->nodes, r->tgt_ino);
	if (r->flags & RENAME_EXCHANGE)
		(void)inode_update(fs, n, ops_ren_ctime_mut, NULL, NULL);
	else if (r->tgt_type == DT_DIR)
		(void)inode_remove(fs, n);
	else if (ops_drop_link(fs, n) != 0)
		log_warnx("inode %" PRIx64 ": replaced by rename but not "
		    "released", r->tgt_ino);
	node_put(fs->nodes, n);
}

/* rename(2), renameat2(2) with NOREPLACE or EXCHANGE. */
void
ops_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
    fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	struct fs *fs = fs_ctx(req);
	struct ops_ren r = { .name = name, .newname = newname,
	    .len = strlen(name), .newlen = strlen(newname), .flags = flags };
	struct node *p1, *p2;
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
	p1 = node_get(fs->nodes, parent);
	p2 = parent == newparent ? p1 : node_get(fs->nodes, newparent);
	for (tries = 0; tries < OPS_RENAME_RESTARTS; tries++) {
		if ((rc = ops_ren_prepare(fs, p1, p2, &r)) != 0)
			break;
		rc = ops_ren_move(fs, p1, p2, &r);
		if (rc != 0 && r.killed != 0)
			(void)dir_create(fs, r.killed); /* put it back */
		if (rc != -OPS_ERESTART)
			break;
	}
	if (rc == -OPS_ERESTART)
		rc = -EIO;
	if (rc == 0 && !r.same)
		ops_ren_finish(fs, p1, p2, &r);
	if (p2 != p1)
		node_put(fs->nodes, p2);
	node_put(fs->nodes, p1);
	ops_reply_status(req, rc);
}
