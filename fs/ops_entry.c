/* ops_entry.c: names and attributes (see ops.h). */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <time.h>

#include "data.h"
#include "dir.h"
#include "inode.h"
#include "log.h"
#include "itab.h"
#include "ops.h"

#define OPS_LOOKUP_WAIT_MS 1000

/*
 * The inode a name found leads to.  A create elsewhere writes the new
 * inode and its name at once, in parallel, so the name can be seen a
 * moment before the inode lands: a name without an inode is read again
 * for up to OPS_LOOKUP_WAIT_MS before it counts as a crash's leftover
 * (ENOENT).  (Two machines opening one new name with O_CREAT at once
 * would otherwise see ESTALE: the loser's create finds the name taken,
 * and the kernel's retry would find no inode behind it.)
 */
static int
ops_lookup_inode(struct fs *fs, struct itab_ent *n, struct meta_inode *in)
{
	int rc, waited = 0, step = 5;

	rc = ops_inode(fs, n, fs_ms(fs->o.attr_timeout), in);
	while (rc == -ENOENT && waited < OPS_LOOKUP_WAIT_MS) {
		struct timespec ts = { 0, (long)step * 1000000L };

		nanosleep(&ts, NULL);
		waited += step;
		step = step * 2 > 200 ? 200 : step * 2;
		rc = ops_inode(fs, n, 0, in);
	}
	return rc;
}

/* Look a name up. */
void
ops_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = fs_ctx(req);
	struct fuse_entry_param e;
	struct meta_inode in;
	struct itab_ent *pn, *cn;
	size_t len = strlen(name);
	uint64_t ino = 0;
	uint8_t type = 0;
	int rc;

	if (len > META_NAME_MAX) {
		fuse_reply_err(req, ENAMETOOLONG);
		return;
	}
	pn = itab_get(fs->nodes, parent);
	rc = dir_find(fs, pn, name, len, fs_ms(fs->o.entry_timeout),
	    fs_ms(fs->o.negative_timeout), &ino, &type);
	itab_put(fs->nodes, pn);
	if (rc < 0) {
		ops_reply_err(req, rc);
		return;
	}
	if (rc == 0) {
		/* A negative entry the kernel may cache for a while. */
		memset(&e, 0, sizeof e);
		e.entry_timeout = fs->o.negative_timeout;
		fuse_reply_entry(req, &e);
		return;
	}
	cn = itab_get(fs->nodes, ino);
	if ((rc = ops_lookup_inode(fs, cn, &in)) != 0) {
		itab_put(fs->nodes, cn);
		ops_reply_err(req, rc);
		return;
	}
	if (type == DT_DIR) {
		itab_lock(fs->nodes);
		cn->parent = parent;
		itab_unlock(fs->nodes);
	}
	ops_entry(fs, cn, &in, &e);
	meta_inode_free(&in);
	itab_put(fs->nodes, cn);
	fuse_reply_entry(req, &e);
}

/* The kernel dropped references. */
void
ops_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	itab_forget(fs_ctx(req)->nodes, ino, nlookup);
	fuse_reply_none(req);
}

/* Many forgets at once. */
void
ops_forget_multi(fuse_req_t req, size_t count,
    struct fuse_forget_data *forgets)
{
	struct fs *fs = fs_ctx(req);

	for (size_t i = 0; i < count; i++)
		itab_forget(fs->nodes, forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

/* Attributes: always fresh from the store (the kernel caches them). */
void
ops_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fs_ctx(req);
	struct itab_ent *n = itab_get(fs->nodes, ino);
	struct meta_inode in;
	struct stat st;
	int rc;

	(void)fi;
	rc = ops_inode(fs, n, 0, &in);
	itab_put(fs->nodes, n);
	if (rc != 0) {
		ops_reply_err(req, ops_stale(fs, rc));
		return;
	}
	ops_stat(ino, &in, &st);
	meta_inode_free(&in);
	fuse_reply_attr(req, &st, fs->o.attr_timeout);
}

/* What a setattr asks for. */
struct ops_setattr_arg {
	const struct stat *attr;
	int to_set;
	struct timespec now;
	const struct data_trunc *trunc; /* a truncate's deletes, or NULL */
};

/* Mutation: chmod, chown, truncate, utimens. */
static int
ops_setattr_mut(struct meta_inode *in, void *arg)
{
	const struct ops_setattr_arg *a = arg;
	const struct stat *st = a->attr;
	int set = a->to_set;

	if (set & FUSE_SET_ATTR_MODE)
		in->mode = (in->mode & S_IFMT) | ((uint32_t)st->st_mode & 07777);
	if ((set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) &&
	    !(set & FUSE_SET_ATTR_MODE) && !S_ISDIR(in->mode)) {
		/* chown clears set-uid, and set-gid when group-executable. */
		in->mode &= ~(uint32_t)S_ISUID;
		if (in->mode & S_IXGRP)
			in->mode &= ~(uint32_t)S_ISGID;
	}
	if (set & FUSE_SET_ATTR_UID)
		in->uid = (uint32_t)st->st_uid;
	if (set & FUSE_SET_ATTR_GID)
		in->gid = (uint32_t)st->st_gid;
	if ((set & FUSE_SET_ATTR_SIZE) && a->trunc != NULL)
		data_truncate_trim(in, a->trunc);
	if (set & FUSE_SET_ATTR_SIZE)
		meta_inline_trim(in, (uint64_t)st->st_size);
	if ((set & FUSE_SET_ATTR_SIZE) && in->size != (uint64_t)st->st_size) {
		in->size = (uint64_t)st->st_size;
		if (!(set & (FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW)))
			in->mtime = a->now;
	}
	if (set & FUSE_SET_ATTR_ATIME_NOW)
		in->atime = a->now;
	else if (set & FUSE_SET_ATTR_ATIME)
		in->atime = st->st_atim;
	if (set & FUSE_SET_ATTR_MTIME_NOW)
		in->mtime = a->now;
	else if (set & FUSE_SET_ATTR_MTIME)
		in->mtime = st->st_mtim;
	in->ctime = a->now;
	return 0;
}

/*
 * The store work of a truncate: trim the chunks past the new size, as
 * the inode read afresh records them; *t says what went (data.h).
 */
static int
ops_truncate(struct fs *fs, struct itab_ent *n, uint64_t size,
    struct data_trunc *t)
{
	struct meta_inode in;
	int rc;

	if ((rc = inode_read(fs, n, 0, &in, NULL)) != 0)
		return rc;
	if (S_ISDIR(in.mode))
		rc = -EISDIR;
	else if (!S_ISREG(in.mode))
		rc = -EINVAL;
	else
		rc = data_truncate(fs, n->ino, &in, size, t);
	meta_inode_free(&in);
	return rc;
}

/* chmod, chown, truncate, utimens. */
void
ops_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
    struct fuse_file_info *fi)
{
	struct fs *fs = fs_ctx(req);
	struct ops_setattr_arg a = { .attr = attr, .to_set = to_set };
	struct itab_ent *n = itab_get(fs->nodes, ino);
	struct data_trunc tr = { 0 };
	struct meta_inode in;
	struct data *d;
	struct stat st;
	int rc = 0;

	(void)fi;
	ops_now(&a.now);
	meta_inode_init(&in);
	/* Referenced: a racing last close must not free it under us. */
	d = data_get(fs, n);
	/* An explicit atime wins over reads not yet written. */
	if (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_ATIME_NOW))
		ops_atime_cancel(fs, n);
	/* Earlier writes come first (their mtime, then an explicit one). */
	if (d != NULL)
		rc = data_flush(d);
	if (rc == 0 && (to_set & FUSE_SET_ATTR_SIZE)) {
		if (attr->st_size < 0)
			rc = -EINVAL;
		else if ((rc = ops_truncate(fs, n, (uint64_t)attr->st_size,
		    &tr)) == 0)
			a.trunc = &tr;
	}
	if (rc == 0)
		rc = inode_update(fs, n, ops_setattr_mut, &a, &in);
	data_trunc_free(&tr);
	if (rc == 0 && d != NULL && (to_set & FUSE_SET_ATTR_SIZE))
		data_set_size(d, in.size);
	if (rc == 0 && d != NULL)
		data_attr(d, &in);
	data_put(d);
	itab_put(fs->nodes, n);
	if (rc != 0) {
		ops_reply_err(req, ops_stale(fs, rc));
		return;
	}
	ops_stat(ino, &in, &st);
	meta_inode_free(&in);
	fuse_reply_attr(req, &st, fs->o.attr_timeout);
}

/* A symlink's target (never changes: any cached copy will do). */
void
ops_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct fs *fs = fs_ctx(req);
	struct itab_ent *n = itab_get(fs->nodes, ino);
	struct meta_inode in;
	int rc;

	rc = inode_read(fs, n, -1, &in, NULL);
	itab_put(fs->nodes, n);
	if (rc == 0 && in.target == NULL)
		rc = -EINVAL;
	if (rc != 0)
		ops_reply_err(req, ops_stale(fs, rc));
	else
		fuse_reply_readlink(req, in.target);
	meta_inode_free(&in);
}

/* Common tail of mknod, mkdir, symlink. */
static void
ops_make_reply(fuse_req_t req, fuse_ino_t parent, const struct ops_make *mk)
{
	struct fuse_entry_param e;
	struct itab_ent *n = NULL;
	int rc;

	rc = ops_make(req, parent, mk, &e, &n);
	if (rc != 0) {
		ops_reply_err(req, rc);
		return;
	}
	itab_put(fs_ctx(req)->nodes, n);
	fuse_reply_entry(req, &e);
}

/* Regular files, FIFOs, sockets, device nodes (metadata only). */
void
ops_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
    dev_t rdev)
{
	struct ops_make mk = { .name = name, .mode = mode, .rdev = rdev };

	switch (mode & S_IFMT) {
	case S_IFREG: case S_IFIFO: case S_IFSOCK: case S_IFCHR: case S_IFBLK:
		break;
	case 0:
		mk.mode |= S_IFREG;
		break;
	default:
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (!S_ISCHR(mk.mode) && !S_ISBLK(mk.mode))
		mk.rdev = 0;
	ops_make_reply(req, parent, &mk);
}

/* A directory: its inode, its empty object, its entry. */
void
ops_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct ops_make mk = { .name = name,
	    .mode = S_IFDIR | (mode & 07777) };

	ops_make_reply(req, parent, &mk);
}

/* A symbolic link: the target lives in the inode. */
void
ops_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
    const char *name)
{
	struct ops_make mk = { .name = name, .mode = S_IFLNK | 0777,
	    .target = link };

	if (link[0] == '\0') {
		fuse_reply_err(req, ENOENT);
		return;
	}
	ops_make_reply(req, parent, &mk);
}

/* Mutation: one link more (never for directories). */
static int
ops_link_mut(struct meta_inode *in, void *arg)
{
	(void)arg;
	if (S_ISDIR(in->mode))
		return -EPERM;
	if (in->nlink == 0)
		return -ENOENT;
	if (in->nlink == UINT32_MAX)
		return -EMLINK;
	in->nlink++;
	ops_now(&in->ctime);
	return 0;
}

/* A hard link: the count goes up first, so a crash leaks, never loses. */
void
ops_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
    const char *newname)
{
	struct fs *fs = fs_ctx(req);
	struct ops_dirop op = { .name = newname, .len = strlen(newname),
	    .ino = ino };
	struct fuse_entry_param e;
	struct itab_ent *n, *pn;
	struct meta_inode in;
	int rc;

	if ((rc = meta_name_check(op.name, op.len)) != 0) {
		ops_reply_err(req, rc);
		return;
	}
	n = itab_get(fs->nodes, ino);
	pn = itab_get(fs->nodes, newparent);
	meta_inode_init(&in);
	rc = inode_update(fs, n, ops_link_mut, NULL, &in);
	if (rc == 0) {
		op.type = (uint8_t)IFTODT(in.mode);
		rc = dir_update(fs, pn, op.name, op.len, ops_dir_add, &op);
		if (rc != 0)
			(void)inode_update(fs, n, ops_link_dec, NULL, NULL);
	}
	if (rc == 0) {
		ops_touch_dir(fs, pn, 0);
		ops_entry(fs, n, &in, &e);
	}
	meta_inode_free(&in);
	itab_put(fs->nodes, pn);
	itab_put(fs->nodes, n);
	if (rc != 0)
		ops_reply_err(req, rc);
	else
		fuse_reply_entry(req, &e);
}

/* Remove a name that is not a directory. */
void
ops_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = fs_ctx(req);
	struct ops_dirop op = { .name = name, .len = strlen(name),
	    .no_dirs = true };
	struct itab_ent *pn = itab_get(fs->nodes, parent), *cn;
	int rc;

	rc = dir_update(fs, pn, op.name, op.len, ops_dir_remove, &op);
	if (rc == 0)
		ops_touch_dir(fs, pn, 0);
	itab_put(fs->nodes, pn);
	if (rc != 0) {
		ops_reply_err(req, rc);
		return;
	}
	cn = itab_get(fs->nodes, op.found_ino);
	rc = ops_drop_link(fs, cn);
	itab_put(fs->nodes, cn);
	if (rc != 0)
		log_warnx("inode %" PRIx64 ": unlinked but not released: %s",
		    op.found_ino, strerror(-rc));
	fuse_reply_err(req, 0);
}

/*
 * Remove an empty directory: its object is deleted first, atomically with
 * the emptiness check, so that a file created in it concurrently (on
 * another machine) fails instead of vanishing.
 */
void
ops_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = fs_ctx(req);
	struct ops_dirop op = { .name = name, .len = strlen(name),
	    .only_dirs = true };
	struct itab_ent *pn = itab_get(fs->nodes, parent), *cn = NULL;
	uint64_t ino;
	uint8_t type;
	int rc;

	rc = dir_find(fs, pn, op.name, op.len, 0, 0, &ino, &type);
	if (rc == 0)
		rc = -ENOENT;
	else if (rc == 1)
		rc = type == DT_DIR ? 0 : -ENOTDIR;
	if (rc == 0) {
		cn = itab_get(fs->nodes, ino);
		rc = dir_remove_empty(fs, cn);
		if (rc == -ENOENT) /* half removed before: finish */
			rc = 0;
	}
	if (rc == 0) {
		op.ino = ino;
		rc = dir_update(fs, pn, op.name, op.len, ops_dir_remove, &op);
		if (rc != 0) /* the name moved: put the directory back */
			(void)dir_create(fs, ino);
	}
	if (rc == 0) {
		ops_touch_dir(fs, pn, -1);
		(void)inode_remove(fs, cn);
	}
	itab_put(fs->nodes, cn);
	itab_put(fs->nodes, pn);
	ops_reply_status(req, rc);
}
