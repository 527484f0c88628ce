/*
 * ops_xattr.c: extended attributes (inline in the inode, see meta.h) and
 * statfs.
 *
 * Reads of xattrs may use the cached inode while it is younger than the
 * attribute timeout: the kernel asks for security.capability before every
 * write, and a store round trip each time would halve write speed.
 */
#include <sys/statvfs.h>
#include <sys/xattr.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "inode.h"
#include "kv.h"
#include "itab.h"
#include "ops.h"
#include "xmalloc.h"

/* What setxattr/removexattr ask for. */
struct ops_xattr_arg {
	const char *name;
	const char *value;	/* NULL: remove */
	size_t size;
	int flags;		/* META_XATTR_* */
};

/* Mutation: set or remove one xattr. */
static int
ops_xattr_mut(struct meta_inode *in, void *arg)
{
	const struct ops_xattr_arg *a = arg;
	int rc;

	if (a->value == NULL)
		rc = meta_xattr_remove(in, a->name);
	else
		rc = meta_xattr_set(in, a->name, a->value, a->size, a->flags);
	if (rc == 0)
		ops_now(&in->ctime);
	return rc;
}

/* Run an xattr mutation on ino and reply. */
static void
ops_xattr_change(fuse_req_t req, fuse_ino_t ino, struct ops_xattr_arg *a)
{
	struct fs *fs = fs_ctx(req);
	struct itab_ent *n = itab_get(fs->nodes, ino);
	int rc = inode_update(fs, n, ops_xattr_mut, a, NULL);

	itab_put(fs->nodes, n);
	ops_reply_status(req, ops_stale(fs, rc));
}

/* Set an xattr (XATTR_CREATE, XATTR_REPLACE). */
void
ops_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
    const char *value, size_t size, int flags)
{
	struct ops_xattr_arg a = { .name = name, .value = value ? value : "",
	    .size = size };

	if (flags & ~(XATTR_CREATE | XATTR_REPLACE)) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (flags & XATTR_CREATE)
		a.flags |= META_XATTR_CREATE;
	if (flags & XATTR_REPLACE)
		a.flags |= META_XATTR_REPLACE;
	ops_xattr_change(req, ino, &a);
}

/* Remove an xattr. */
void
ops_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct ops_xattr_arg a = { .name = name };

	ops_xattr_change(req, ino, &a);
}

/* The inode for an xattr read (cached up to attr_timeout). */
static int
ops_xattr_inode(fuse_req_t req, fuse_ino_t ino, struct meta_inode *in)
{
	struct fs *fs = fs_ctx(req);
	struct itab_ent *n = itab_get(fs->nodes, ino);
	int rc = inode_read(fs, n, fs_ms(fs->o.attr_timeout), in, NULL);

	itab_put(fs->nodes, n);
	return rc;
}

/* One xattr's value (size 0: its length). */
void
ops_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct meta_inode in;
	int i, rc;

	if ((rc = ops_xattr_inode(req, ino, &in)) != 0) {
		ops_reply_err(req, ops_stale(fs_ctx(req), rc));
		return;
	}
	if ((i = meta_xattr_find(&in, name)) < 0)
		fuse_reply_err(req, ENODATA);
	else if (size == 0)
		fuse_reply_xattr(req, in.xattr[i].len);
	else if (size < in.xattr[i].len)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, (const char *)in.xattr[i].value,
		    in.xattr[i].len);
	meta_inode_free(&in);
}

/* The names of the xattrs (size 0: the list's length). */
void
ops_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct meta_inode in;
	char *buf;
	long len;
	int rc;

	if ((rc = ops_xattr_inode(req, ino, &in)) != 0) {
		ops_reply_err(req, ops_stale(fs_ctx(req), rc));
		return;
	}
	if (size == 0) {
		fuse_reply_xattr(req, (size_t)meta_xattr_list(&in, NULL, 0));
	} else {
		buf = xmalloc(size);
		len = meta_xattr_list(&in, buf, size);
		if (len < 0)
			fuse_reply_err(req, ERANGE);
		else
			fuse_reply_buf(req, buf, (size_t)len);
		free(buf);
	}
	meta_inode_free(&in);
}

/*
 * statfs: the capacity of the overlay as the daemon estimates it from its
 * own store and its neighbours' (bytes of user data, i.e. raw space / k).
 * There is no inode limit: the inode counts are nominal (2^32, all free).
 * A daemon that cannot say gets a fixed 1 PiB, all free.
 */
void
ops_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct fs *fs = fs_ctx(req);
	struct kv_statfs ks;
	struct statvfs sv;
	int rc;

	(void)ino;
	memset(&sv, 0, sizeof sv);
	sv.f_bsize = fs->o.chunk_size;
	sv.f_frsize = 4096;
	rc = kv_statfs(fs->kv, &ks);
	if (rc == -ENOSYS || (rc == 0 && ks.capacity == 0)) {
		ks.capacity = ks.avail = 1ULL << 50;
		ks.used = 0;
	} else if (rc != 0) {
		ops_reply_err(req, rc);
		return;
	}
	sv.f_blocks = (fsblkcnt_t)(ks.capacity / sv.f_frsize);
	sv.f_bfree = (fsblkcnt_t)(ks.avail / sv.f_frsize);
	sv.f_bavail = sv.f_bfree;
	sv.f_files = (fsfilcnt_t)1 << 32;
	sv.f_ffree = sv.f_files;
	sv.f_favail = sv.f_files;
	sv.f_namemax = META_NAME_MAX;
	fuse_reply_statfs(req, &sv);
}
