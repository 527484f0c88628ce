/* ops_file.c: open files (see ops.h and data.h). */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "data.h"
#include "inode.h"
#include "locks.h"
#include "log.h"
#include "itab.h"
#include "ops.h"
#include "xmalloc.h"

/* An open file handle (fi->fh). */
struct ops_fh {
	struct itab_ent *n;		/* held until release */
	struct data *d;		/* n->data, referenced until release */
	bool wrote;		/* written through this handle */
	bool noatime;		/* opened O_NOATIME: reads leave atime */
};

/* The file handle of fi. */
static struct ops_fh *
ops_fh(const struct fuse_file_info *fi)
{
	return (struct ops_fh *)(uintptr_t)fi->fh;
}

/* The open-file data behind a handle (for locks, ops_lock.c). */
struct data *
ops_file_data(const struct fuse_file_info *fi)
{
	return ops_fh(fi)->d;
}

/*
 * Attach an open handle to n, whose record in was just read from the
 * store (close-to-open).  The kernel keeps its cached pages only when the
 * file is unchanged since they were read, and no read through this handle
 * is due to move the atime (reads served from those pages never reach
 * us); otherwise its attributes are invalidated too, so that it sees the
 * new size.
 */
static struct ops_fh *
ops_attach(struct fs *fs, struct itab_ent *n, struct meta_inode *in,
    struct fuse_file_info *fi)
{
	struct ops_fh *fh = xcalloc(1, sizeof *fh);
	bool keep, known, existing, atime;

	fh->noatime = (fi->flags & O_NOATIME) != 0;
	atime = !fh->noatime && (fi->flags & O_ACCMODE) != O_WRONLY &&
	    ops_atime_due(fs, in, false);
	itab_lock(fs->nodes);
	existing = n->data != NULL;
	if (!existing)
		n->data = data_new(fs, n, in);
	itab_inode_fill(n, in);
	n->opens++;
	n->refs++; /* the handle's hold, dropped at release */
	fh->n = n;
	fh->d = n->data;
	data_hold(fh->d); /* the handle's reference */
	known = n->kcache;
	keep = known && meta_ts_cmp(&n->kmtime, &in->mtime) == 0 && n->ksize == in->size &&
	    !atime;
	n->kcache = true;
	n->kmtime = in->mtime;
	n->ksize = in->size;
	itab_unlock(fs->nodes);
	if (existing)
		data_attr(fh->d, in);
	fi->keep_cache = keep;
	if (known && !keep && fs->se != NULL)
		(void)fuse_lowlevel_notify_inval_inode(fs->se, n->ino, -1, 0);
	fi->fh = (uint64_t)(uintptr_t)fh;
	return fh;
}

/*
 * Detach a handle: flush, drop its reference to the open-file state, and
 * at the last close on this mount take the state out of n->data (freed
 * with its last reference) and, if the file was unlinked meanwhile,
 * remove it.  Returns the flush's result.
 */
static int
ops_detach(struct fs *fs, struct ops_fh *fh)
{
	struct itab_ent *n = fh->n;
	struct data *d = NULL;
	struct meta_inode in;
	bool unlinked = false;
	int rc;

	rc = data_flush(fh->d);
	itab_lock(fs->nodes);
	if (rc == 0 && fh->wrote && n->have_inode && n->ksize != UINT64_MAX) {
		/*
		 * The kernel's pages hold what we wrote: they stay valid,
		 * unless data_flush found that another mount wrote too.
		 */
		n->kmtime = n->inode.mtime;
		n->ksize = n->inode.size;
	}
	if (--n->opens == 0) {
		d = n->data; /* its reference is ours to drop now */
		n->data = NULL;
		unlinked = n->unlinked;
		n->unlinked = false;
	}
	itab_unlock(fs->nodes);
	/* Freed here unless a racing getattr or setattr still holds it. */
	data_put(d);
	data_put(fh->d);
	if (unlinked && inode_read(fs, n, 0, &in, NULL) == 0) {
		if (in.nlink == 0)
			(void)ops_remove_inode(fs, n, &in);
		meta_inode_free(&in);
	}
	itab_put(fs->nodes, n);
	free(fh);
	return rc;
}

/* Create and open a regular file. */
void
ops_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
    struct fuse_file_info *fi)
{
	struct fs *fs = fs_ctx(req);
	struct ops_make mk = { .name = name,
	    .mode = S_IFREG | (mode & 07777) };
	struct fuse_entry_param e;
	struct meta_inode in;
	struct ops_fh *fh;
	struct itab_ent *n;
	uint64_t ver;
	int rc;

	if ((rc = ops_make(req, parent, &mk, &e, &n)) != 0) {
		/*
		 * Another machine created the name since our lookup.  Without
		 * O_EXCL the open should simply open that file: ESTALE makes
		 * the kernel look the name up again and open what it finds,
		 * with its own permission checks.
		 */
		if (rc == -EEXIST && !(fi->flags & O_EXCL))
			rc = -ESTALE;
		ops_reply_err(req, rc);
		return;
	}
	if (!itab_inode_cached(fs->nodes, n, -1, &in, &ver)) {
		/* Cannot happen: ops_make cached it.  Fail safely. */
		itab_forget(fs->nodes, n->ino, 1);
		itab_put(fs->nodes, n);
		fuse_reply_err(req, EIO);
		return;
	}
	fh = ops_attach(fs, n, &in, fi);
	meta_inode_free(&in);
	itab_put(fs->nodes, n);
	if (fuse_reply_create(req, &e, fi) != 0)
		(void)ops_detach(fs, fh); /* interrupted: no release comes */
}

/* Open: read the inode afresh (close-to-open). */
void
ops_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fs_ctx(req);
	struct itab_ent *n = itab_get(fs->nodes, ino);
	struct meta_inode in;
	struct ops_fh *fh;
	int rc;

	rc = inode_read(fs, n, 0, &in, NULL);
	if (rc == 0 && S_ISDIR(in.mode))
		rc = -EISDIR;
	else if (rc == 0 && !S_ISREG(in.mode))
		rc = -ENXIO; /* FIFOs and devices are opened by the kernel */
	if (rc != 0) {
		meta_inode_free(&in);
		itab_put(fs->nodes, n);
		ops_reply_err(req, ops_stale(fs, rc));
		return;
	}
	fh = ops_attach(fs, n, &in, fi);
	meta_inode_free(&in);
	itab_put(fs->nodes, n);
	if (fuse_reply_open(req, fi) != 0)
		(void)ops_detach(fs, fh);
}

/* Read; the atime goes out in the background. */
void
ops_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
    struct fuse_file_info *fi)
{
	struct fs *fs = fs_ctx(req);
	struct ops_fh *fh = ops_fh(fi);
	char *buf;
	ssize_t r;

	(void)ino;
	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	buf = xmalloc(size ? size : 1);
	r = data_read(fh->d, buf, size, (uint64_t)off);
	/* Before the reply: after it, a release may free fh at once. */
	if (r >= 0 && !fh->noatime)
		ops_atime(fs, fh->n, false);
	if (r < 0)
		ops_reply_err(req, (int)r);
	else
		fuse_reply_buf(req, buf, (size_t)r);
	free(buf);
}

/* Write (buffered; see data.h). */
void
ops_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
    off_t off, struct fuse_file_info *fi)
{
	struct ops_fh *fh = ops_fh(fi);
	ssize_t r;

	(void)ino;
	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if ((uint64_t)off + size < (uint64_t)off ||
	    (uint64_t)off + size > (uint64_t)INT64_MAX) {
		fuse_reply_err(req, EFBIG);
		return;
	}
	fh->wrote = true;
	r = data_write(fh->d, buf, size, (uint64_t)off);
	if (r < 0)
		ops_reply_err(req, (int)r);
	else
		fuse_reply_write(req, (size_t)r);
}

/* close(2): everything written reaches the store (close-to-open). */
void
ops_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	int rc = data_flush(ops_fh(fi)->d);

	/* A close drops the closer's fcntl locks on the file (locks.h). */
	locks_drop_owner(fs_ctx(req)->locks, ino, fi->lock_owner,
	    LOCKREC_POSIX);
	ops_reply_status(req, rc);
}

/* fsync: the store acknowledges writes once replicas hold them. */
void
ops_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
    struct fuse_file_info *fi)
{
	(void)ino;
	(void)datasync;
	ops_reply_status(req, data_flush(ops_fh(fi)->d));
}

/* The last close of a file description. */
void
ops_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	int rc = ops_detach(fs_ctx(req), ops_fh(fi));

	if (fi->flock_release)
		locks_drop_owner(fs_ctx(req)->locks, ino, fi->lock_owner,
		    LOCKREC_FLOCK);
	if (rc != 0)
		log_warnx("inode %" PRIx64 ": writes lost at close: %s",
		    (uint64_t)ino, strerror(-rc));
	ops_reply_status(req, rc);
}
