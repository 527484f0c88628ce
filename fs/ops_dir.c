/*
 * ops_dir.c: listing directories (see ops.h).
 *
 * opendir reads the directory object afresh and keeps that snapshot for
 * the whole listing, so offsets (0 ".", 1 "..", 2 + i entry i) stay valid
 * while others change the directory.  readdirplus fetches the inodes of
 * the entries that fit the reply that are not cached in one batch
 * request, then reads each (from the cache, or alone when the batch did
 * not get it) in parallel.
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

/* An open directory (fi->fh). */
struct ops_dh {
	uint64_t ino;
	uint64_t parent;	/* for "..": a parent seen, or ino */
	struct meta_dir d;	/* snapshot at opendir */
	bool noatime;		/* opened O_NOATIME */
	bool accessed;		/* listed: atime taken care of */
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

/* Snapshot the directory. */
void
ops_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fs_ctx(req);
	struct itab_ent *n = itab_get(fs->nodes, ino);
	struct ops_dh *dh = xcalloc(1, sizeof *dh);
	int rc;

	dh->ino = ino;
	dh->noatime = (fi->flags & O_NOATIME) != 0;
	rc = dir_read(fs, n, 0, &dh->d, NULL);
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
		meta_dir_free(&dh->d);
		free(dh);
	}
}

/* Name and type of listing position off (>= 2: entry off - 2). */
static void
ops_dir_pos(const struct ops_dh *dh, off_t off, char *name,
    struct stat *st)
{
	memset(st, 0, sizeof *st);
	if (off < 2) {
		strcpy(name, off == 0 ? "." : "..");
		st->st_ino = off == 0 ? dh->ino : dh->parent;
		st->st_mode = S_IFDIR;
		return;
	}
	off -= 2;
	memcpy(name, meta_dir_name(&dh->d, (size_t)off), dh->d.e[off].len);
	name[dh->d.e[off].len] = '\0';
	st->st_ino = dh->d.e[off].ino;
	st->st_mode = DTTOIF(dh->d.e[off].type);
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
	struct ops_dh *dh = ops_dh(fi);
	off_t end = (off_t)dh->d.n + 2;
	char *buf = xmalloc(size ? size : 1), name[META_NAME_MAX + 1];
	size_t used = 0;
	struct stat st;

	(void)ino;
	for (; off >= 0 && off < end; off++) {
		size_t need;

		ops_dir_pos(dh, off, name, &st);
		need = fuse_add_direntry(req, buf + used, size - used, name,
		    &st, off + 1);
		if (need > size - used)
			break;
		used += need;
	}
	ops_dir_accessed(fs_ctx(req), dh);
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

/* How many positions from off fit size bytes of direntplus records. */
static size_t
ops_plus_count(fuse_req_t req, const struct ops_dh *dh, size_t size,
    off_t off)
{
	off_t end = (off_t)dh->d.n + 2;
	char name[META_NAME_MAX + 1];
	struct fuse_entry_param e;
	size_t used = 0, n = 0;

	memset(&e, 0, sizeof e);
	for (; off >= 0 && off < end; off++, n++) {
		ops_dir_pos(dh, off, name, &e.attr);
		used += fuse_add_direntry_plus(req, NULL, 0, name, &e, 0);
		if (used > size)
			break;
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
	size_t count = ops_plus_count(req, dh, size, off), used = 0, i;
	char *buf = xmalloc(size ? size : 1), name[META_NAME_MAX + 1];
	struct ops_plus *p = xcalloc(count + 1, sizeof *p);
	struct itab_ent **nodes;
	struct bg_group grp;

	(void)ino;
	nodes = xcalloc(count + 1, sizeof *nodes);
	for (i = 0; i < count; i++) {
		if (off + (off_t)i < 2)
			continue;
		p[i].fs = fs;
		p[i].n = itab_get(fs->nodes, dh->d.e[off + (off_t)i - 2].ino);
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
		struct fuse_entry_param e;
		size_t need;

		memset(&e, 0, sizeof e);
		ops_dir_pos(dh, off + (off_t)i, name, &e.attr);
		if (p[i].n != NULL && p[i].rc == 0) {
			ops_stat(p[i].n->ino, &p[i].in, &e.attr);
			e.ino = p[i].n->ino;
			e.generation = 1;
			e.attr_timeout = fs->o.attr_timeout;
			e.entry_timeout = fs->o.entry_timeout;
		}
		need = fuse_add_direntry_plus(req, buf + used, size - used,
		    name, &e, off + (off_t)i + 1);
		if (need > size - used)
			break;
		used += need;
		if (e.ino != 0)
			itab_lookup(fs->nodes, p[i].n);
	}
	for (i = 0; i < count; i++) {
		meta_inode_free(&p[i].in);
		itab_put(fs->nodes, p[i].n);
	}
	free(p);
	ops_dir_accessed(fs, dh);
	fuse_reply_buf(req, buf, used);
	free(buf);
}

/* Drop the snapshot. */
void
ops_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct ops_dh *dh = ops_dh(fi);

	(void)ino;
	meta_dir_free(&dh->d);
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
