/*
 * ops_dir.c: listing directories (see ops.h).
 *
 * A listing walks the directory's shards in hash order (dir.h), reading
 * each leaf afresh from the store when it gets there, and answers with
 * the entries of a leaf sorted by hash.  The offset of an entry is
 * meta_dir_cookie() of its name's hash (0 ".", 1 "..", then >= 3), so a
 * call at any offset continues with the first name hashed past it, in
 * whatever shard holds it now: a split does not move a name in hash
 * order, and no name present for the whole listing is skipped or
 * returned twice.  The handle keeps the rest of the current leaf, so the
 * kernel's next call (at the offset of the last entry it took) continues
 * from there even when two names share a cookie (a 62-bit hash
 * collision).  readdirplus fetches the inodes of the entries that fit
 * the reply that are not cached in one batch request, then reads each
 * (from the cache, or alone when the batch did not get it) in parallel.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "bg.h"
#include "dir.h"
#include "inode.h"
#include "itab.h"
#include "ops.h"
#include "xmalloc.h"

/* One position of a listing. */
struct ops_dirpos {
	uint64_t ino;
	uint64_t h;		/* the name's hash */
	off_t off;		/* the offset after it (its cookie) */
	uint8_t type;		/* DT_* */
	char name[META_NAME_MAX + 1];
};

/* An open directory (fi->fh). */
struct ops_dh {
	uint64_t ino;
	uint64_t parent;	/* for "..": a parent seen, or ino */
	bool noatime;		/* opened O_NOATIME */
	bool accessed;		/* listed: atime taken care of */
	struct ops_dirpos *q;	/* positions read, not yet all returned */
	size_t qn, qi, qcap;	/* q[qi, qn) are still to return */
	off_t last;		/* offset of the last position returned, or
				   -1: where q[qi] continues */
	uint64_t next_h;	/* first hash not read into q yet */
	bool end;		/* ...none: q holds the rest */
	struct meta_dir first;	/* the first leaf, read by opendir, for the
				   first call (owned; taken when used) */
	bool have_first;
};

/* One inode read of a readdirplus batch. */
struct ops_plus {
	struct fs *fs;
	struct itab_ent *n;
	struct meta_inode in;
	int rc;
};

/* The directory handle of fi. */
static struct ops_dh *
ops_dh(const struct fuse_file_info *fi)
{
	return (struct ops_dh *)(uintptr_t)fi->fh;
}

/* Append a position to the handle's queue. */
static struct ops_dirpos *
ops_dh_push(struct ops_dh *dh)
{
	if (dh->qn == dh->qcap) {
		dh->qcap = dh->qcap ? 2 * dh->qcap : 64;
		dh->q = xreallocarray(dh->q, dh->qcap, sizeof *dh->q);
	}
	memset(&dh->q[dh->qn], 0, sizeof dh->q[0]);
	return &dh->q[dh->qn++];
}

/* Listing order: hash, then name (for equal hashes). */
static int
ops_dirpos_cmp(const void *a, const void *b)
{
	const struct ops_dirpos *x = a, *y = b;

	if (x->h != y->h)
		return x->h < y->h ? -1 : 1;
	return strcmp(x->name, y->name);
}

/*
 * Queue the leaf at dh->next_h: its entries whose cookie is past after,
 * in listing order.  Advances next_h past the leaf.  0 or -errno.
 */
static int
ops_dh_leaf(struct fs *fs, struct ops_dh *dh, off_t after)
{
	struct itab_ent *n = itab_get(fs->nodes, dh->ino);
	struct meta_dir d;
	size_t first;
	int rc = 0;

	if (dh->have_first && dh->next_h == 0) {
		d = dh->first;	/* moved: read a moment ago by opendir */
		dh->have_first = false;
		meta_dir_init(&dh->first);
	} else
		rc = dir_leaf(fs, n, dh->next_h, 0, &d, NULL);
	itab_put(fs->nodes, n);
	if (rc != 0)
		return rc;
	if (dh->qi == dh->qn)
		dh->qi = dh->qn = 0;
	first = dh->qn;
	for (size_t i = 0; i < d.n; i++) {
		const char *name = meta_dir_name(&d, i);
		uint64_t h = meta_name_hash(name, d.e[i].len);
		struct ops_dirpos *p;

		if (h < dh->next_h ||
		    (off_t)meta_dir_cookie(h) <= after)
			continue;
		p = ops_dh_push(dh);
		p->ino = d.e[i].ino;
		p->type = d.e[i].type;
		p->h = h;
		p->off = (off_t)meta_dir_cookie(h);
		memcpy(p->name, name, d.e[i].len);
	}
	qsort(dh->q + first, dh->qn - first, sizeof *dh->q, ops_dirpos_cmp);
	dh->end = !meta_shard_end(d.depth, d.prefix, &dh->next_h);
	meta_dir_free(&d);
	return 0;
}

/* Restart the handle's queue at offset off (the kernel's). */
static void
ops_dh_seek(struct ops_dh *dh, off_t off)
{
	uint64_t h;

	dh->qi = dh->qn = 0;
	dh->last = off;
	dh->end = false;
	dh->next_h = 0;
	if (off < 2) {
		struct ops_dirpos *p;

		for (off_t o = off; o < 2; o++) {
			p = ops_dh_push(dh);
			strcpy(p->name, o == 0 ? "." : "..");
			p->ino = o == 0 ? dh->ino : dh->parent;
			p->type = DT_DIR;
			p->off = o + 1;
		}
	} else if (!meta_dir_cookie_next((uint64_t)off, &h))
		dh->end = true;
	else
		dh->next_h = h;
}

/*
 * Position k from the handle's current one (reading leaves as needed):
 * NULL at the end of the listing or on an error (*rc).
 */
static const struct ops_dirpos *
ops_dh_at(struct fs *fs, struct ops_dh *dh, size_t k, int *rc)
{
	off_t after = dh->last < 2 ? 2 : dh->last;

	*rc = 0;
	while (dh->qi + k >= dh->qn && !dh->end) {
		if ((*rc = ops_dh_leaf(fs, dh, after)) != 0)
			return NULL;
	}
	return dh->qi + k < dh->qn ? &dh->q[dh->qi + k] : NULL;
}

/* Start a listing at offset off: continue the queue if it is there. */
static void
ops_dh_start(struct ops_dh *dh, off_t off)
{
	if (off != dh->last)
		ops_dh_seek(dh, off);
}

/* k positions were returned: step past them. */
static void
ops_dh_took(struct ops_dh *dh, size_t k)
{
	if (k == 0)
		return;
	dh->last = dh->q[dh->qi + k - 1].off;
	dh->qi += k;
}

/* Open a listing (read lazily, leaf by leaf). */
void
ops_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fs_ctx(req);
	struct itab_ent *n = itab_get(fs->nodes, ino);
	struct ops_dh *dh = xcalloc(1, sizeof *dh);
	int rc;

	dh->ino = ino;
	dh->noatime = (fi->flags & O_NOATIME) != 0;
	dh->last = -1;
	/*
	 * The first leaf in hash order now: ENOENT for a directory gone, and
	 * the whole of a small directory for the first readdir.
	 */
	rc = dir_leaf(fs, n, 0, 0, &dh->first, NULL);
	dh->have_first = rc == 0;
	itab_lock(fs->nodes);
	dh->parent = n->parent != 0 ? n->parent : ino;
	itab_unlock(fs->nodes);
	itab_put(fs->nodes, n);
	if (rc != 0) {
		free(dh);
		ops_reply_err(req, ops_stale(fs, rc));
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)dh;
	if (fuse_reply_open(req, fi) != 0) {
		meta_dir_free(&dh->first);
		free(dh);
	}
}

/* A position as readdir reports it. */
static void
ops_dir_stat(const struct ops_dirpos *p, struct stat *st)
{
	memset(st, 0, sizeof *st);
	st->st_ino = p->ino;
	st->st_mode = DTTOIF(p->type);
}

/*
 * A listing reads the directory: its atime, once per handle (the kernel
 * calls again for each buffer of a long listing).
 */
static void
ops_dir_accessed(struct fs *fs, struct ops_dh *dh)
{
	struct itab_ent *n;

	if (dh->accessed || dh->noatime)
		return;
	dh->accessed = true;
	n = itab_get(fs->nodes, dh->ino);
	ops_atime(fs, n, true);
	itab_put(fs->nodes, n);
}

/* Plain listing. */
void
ops_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
    struct fuse_file_info *fi)
{
	struct fs *fs = fs_ctx(req);
	struct ops_dh *dh = ops_dh(fi);
	char *buf = xmalloc(size ? size : 1);
	const struct ops_dirpos *p;
	size_t used = 0, k = 0;
	struct stat st;
	int rc;

	(void)ino;
	ops_dh_start(dh, off);
	while ((p = ops_dh_at(fs, dh, k, &rc)) != NULL) {
		size_t need;

		ops_dir_stat(p, &st);
		need = fuse_add_direntry(req, buf + used, size - used, p->name,
		    &st, p->off);
		if (need > size - used)
			break;
		used += need;
		k++;
	}
	ops_dh_took(dh, k);
	if (rc != 0 && used == 0) {
		free(buf);
		ops_reply_err(req, ops_stale(fs, rc));
		return;
	}
	ops_dir_accessed(fs, dh);
	fuse_reply_buf(req, buf, used);
	free(buf);
}

/* Background inode read for readdirplus. */
static int
ops_plus_job(void *arg)
{
	struct ops_plus *p = arg;

	p->rc = ops_inode(p->fs, p->n, fs_ms(p->fs->o.attr_timeout), &p->in);
	return 0;
}

/* How many positions from the current one fit size bytes of records. */
static size_t
ops_plus_count(fuse_req_t req, struct fs *fs, struct ops_dh *dh,
    size_t size, int *rc)
{
	const struct ops_dirpos *p;
	struct fuse_entry_param e;
	size_t used = 0, n = 0;

	memset(&e, 0, sizeof e);
	while ((p = ops_dh_at(fs, dh, n, rc)) != NULL) {
		used += fuse_add_direntry_plus(req, NULL, 0, p->name, &e, 0);
		if (used > size)
			break;
		n++;
	}
	return n;
}

/* Listing with attributes: each entry counts as a lookup. */
void
ops_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
    struct fuse_file_info *fi)
{
	struct fs *fs = fs_ctx(req);
	struct ops_dh *dh = ops_dh(fi);
	size_t count, used = 0, i, took = 0;
	char *buf = xmalloc(size ? size : 1);
	struct itab_ent **nodes;
	struct ops_plus *p;
	struct bg_group grp;
	int rc;

	(void)ino;
	ops_dh_start(dh, off);
	count = ops_plus_count(req, fs, dh, size, &rc);
	if (rc != 0 && count == 0) {
		free(buf);
		ops_reply_err(req, ops_stale(fs, rc));
		return;
	}
	p = xcalloc(count + 1, sizeof *p);
	nodes = xcalloc(count + 1, sizeof *nodes);
	for (i = 0; i < count; i++) {
		const struct ops_dirpos *q = &dh->q[dh->qi + i];

		if (q->off <= 2)
			continue;
		p[i].fs = fs;
		p[i].n = itab_get(fs->nodes, q->ino);
		nodes[i] = p[i].n;
	}
	/* The inodes not cached: one batch request, not one each. */
	inode_prefetch(fs, nodes, count, fs_ms(fs->o.attr_timeout));
	free(nodes);
	bg_group_init(&grp);
	for (i = 0; i < count; i++) {
		if (p[i].n != NULL)
			bg_submit(fs->bg, &grp, ops_plus_job, &p[i]);
	}
	(void)bg_group_wait(&grp);
	bg_group_destroy(&grp);
	for (i = 0; i < count; i++) {
		const struct ops_dirpos *q = &dh->q[dh->qi + i];
		struct fuse_entry_param e;
		size_t need;

		memset(&e, 0, sizeof e);
		ops_dir_stat(q, &e.attr);
		if (p[i].n != NULL && p[i].rc == 0) {
			ops_stat(p[i].n->ino, &p[i].in, &e.attr);
			e.ino = p[i].n->ino;
			e.generation = 1;
			e.attr_timeout = fs->o.attr_timeout;
			e.entry_timeout = fs->o.entry_timeout;
		}
		need = fuse_add_direntry_plus(req, buf + used, size - used,
		    q->name, &e, q->off);
		if (need > size - used)
			break;
		used += need;
		took++;
		if (e.ino != 0)
			itab_lookup(fs->nodes, p[i].n);
	}
	ops_dh_took(dh, took);
	for (i = 0; i < count; i++) {
		meta_inode_free(&p[i].in);
		itab_put(fs->nodes, p[i].n);
	}
	free(p);
	ops_dir_accessed(fs, dh);
	fuse_reply_buf(req, buf, used);
	free(buf);
}

/* Drop the handle. */
void
ops_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct ops_dh *dh = ops_dh(fi);

	(void)ino;
	meta_dir_free(&dh->first);
	free(dh->q);
	free(dh);
	fuse_reply_err(req, 0);
}

/* Directory changes are in the store once acknowledged. */
void
ops_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
    struct fuse_file_info *fi)
{
	(void)ino;
	(void)datasync;
	(void)fi;
	fuse_reply_err(req, 0);
}
