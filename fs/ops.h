/*
 * ops.h: the FUSE low-level handlers and the helpers they share.
 *
 * Every handler sends exactly one reply (fuse_reply_*), on every path.
 * Handlers return errors as negative errnos internally and turn them into
 * a reply in one place (ops_reply_err).  Entry replies (lookup, create,
 * mkdir, mknod, symlink, link, readdirplus) each add one kernel reference
 * to the node, dropped by forget.
 *
 *   ops.c        the table, init, helpers (attributes, entries, parents)
 *   ops_entry.c  lookup, forget, getattr, setattr, readlink, mknod, mkdir,
 *                symlink, link, unlink, rmdir
 *   ops_rename.c rename (NOREPLACE, EXCHANGE)
 *   ops_file.c   create, open, read, write, flush, fsync, release
 *   ops_dir.c    opendir, readdir, readdirplus, releasedir, fsyncdir
 *   ops_xattr.c  setxattr, getxattr, listxattr, removexattr, statfs
 */
#ifndef CANFS_FS_OPS_H
#define CANFS_FS_OPS_H

#include "fs.h"
#include "meta.h"

struct itab_ent;
struct data;

/* The handler table given to fuse_session_new(). */
extern const struct fuse_lowlevel_ops ops_table;

/* Reply with an error: -rc (KV_ECONFLICT and nonsense become EIO). */
void ops_reply_err(fuse_req_t req, int rc);
/* Reply to flush/fsync/release/...: success for rc 0, else the error. */
void ops_reply_status(fuse_req_t req, int rc);

/*
 * An inode vanished under a name the kernel still caches (removed or
 * replaced elsewhere): turn ENOENT into ESTALE, which makes the kernel
 * look the path up again, and make that lookup ask the store.
 */
int ops_stale(struct fs *fs, int rc);

/* Attributes of ino from its record. */
void ops_stat(uint64_t ino, const struct meta_inode *in, struct stat *st);
/* Fill an entry for n and count the kernel reference it carries. */
void ops_entry(struct fs *fs, struct itab_ent *n, const struct meta_inode *in,
    struct fuse_entry_param *e);
/* Current wall-clock time. */
void ops_now(struct timespec *ts);

/*
 * The inode of n for getattr and friends: read from the store unless the
 * cache is younger than max_age_ms, merged with this mount's unflushed
 * writes.  0 or -errno; free *in with meta_inode_free.
 */
int ops_inode(struct fs *fs, struct itab_ent *n, int max_age_ms,
    struct meta_inode *in);

/*
 * A directory changed: set its mtime and ctime to now and add nlink_delta
 * to its link count (subdirectories).  Failures are logged, not returned:
 * the change itself is done.
 */
void ops_touch_dir(struct fs *fs, struct itab_ent *dir, int nlink_delta);

/*
 * Access times (atime.h).  ops_atime: n (a directory when dir) was read
 * through a handle without O_NOATIME; when the mount's policy says so,
 * its atime is set to now by a background inode update, later reads
 * meanwhile folded into it.  Never blocks on the store and never fails
 * the read: a failed update is logged at info level and dropped.
 * ops_atime_cancel: an explicit atime change (setattr) is on its way;
 * reads before it must not move atime past it.  ops_atime_due: would a
 * read now move the atime of record in (for open's keep_cache: a read
 * served from the kernel's page cache never reaches canfs)?
 */
void ops_atime(struct fs *fs, struct itab_ent *n, bool dir);
void ops_atime_cancel(struct fs *fs, struct itab_ent *n);
bool ops_atime_due(struct fs *fs, const struct meta_inode *in, bool dir);

/*
 * Drop one link of n (unlink, rename over it): nlink - 1 and ctime; at 0
 * the inode and its data go, or, while open on this mount, at the last
 * close.  0 or -errno.
 */
int ops_drop_link(struct fs *fs, struct itab_ent *n);
/* Inode mutation: nlink - 1 (not below 0), ctime now. */
int ops_link_dec(struct meta_inode *in, void *arg);
/* Remove the inode of n and all of its data now. */
int ops_remove_inode(struct fs *fs, struct itab_ent *n,
    const struct meta_inode *in);

/* Arguments of the directory mutations below. */
struct ops_dirop {
	const char *name;
	size_t len;
	uint64_t ino;		/* add: the new entry; remove: expected or 0 */
	uint8_t type;		/* add: its DT_* type */
	bool no_dirs;		/* remove: refuse a directory (EISDIR) */
	bool only_dirs;		/* remove: refuse a non-directory (ENOTDIR) */
	uint64_t found_ino;	/* remove: what was there */
	uint8_t found_type;
};
/* Add name -> ino (EEXIST if taken by another inode). */
int ops_dir_add(struct meta_dir *d, void *arg);
/* Remove name (ENOENT if absent or, with ino set, another inode's). */
int ops_dir_remove(struct meta_dir *d, void *arg);

/* A new inode in directory parent, linked under name (mknod & co). */
struct ops_make {
	const char *name;
	mode_t mode;		/* S_IF* and permissions */
	dev_t rdev;
	const char *target;	/* symlinks */
};
/*
 * Create and link a new inode; on success *e is the entry (one kernel
 * reference counted) and *out the node with a hold (itab_put).
 */
int ops_make(fuse_req_t req, fuse_ino_t parent, const struct ops_make *mk,
    struct fuse_entry_param *e, struct itab_ent **out);

/* Handlers. */
void ops_lookup(fuse_req_t req, fuse_ino_t parent, const char *name);
void ops_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup);
void ops_forget_multi(fuse_req_t req, size_t count,
    struct fuse_forget_data *forgets);
void ops_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void ops_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
    int to_set, struct fuse_file_info *fi);
void ops_readlink(fuse_req_t req, fuse_ino_t ino);
void ops_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
    mode_t mode, dev_t rdev);
void ops_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
    mode_t mode);
void ops_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
    const char *name);
void ops_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
    const char *newname);
void ops_unlink(fuse_req_t req, fuse_ino_t parent, const char *name);
void ops_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name);
void ops_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
    fuse_ino_t newparent, const char *newname, unsigned int flags);

void ops_create(fuse_req_t req, fuse_ino_t parent, const char *name,
    mode_t mode, struct fuse_file_info *fi);
void ops_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void ops_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
    struct fuse_file_info *fi);
void ops_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
    off_t off, struct fuse_file_info *fi);
void ops_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void ops_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
    struct fuse_file_info *fi);
void ops_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
/* The open-file data behind a file handle. */
struct data *ops_file_data(const struct fuse_file_info *fi);

/* Locks across every mount (ops_lock.c, locks.h). */
void ops_getlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
    struct flock *lock);
void ops_setlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
    struct flock *lock, int sleep);
void ops_flock(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
    int op);

void ops_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void ops_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
    struct fuse_file_info *fi);
void ops_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
    struct fuse_file_info *fi);
void ops_releasedir(fuse_req_t req, fuse_ino_t ino,
    struct fuse_file_info *fi);
void ops_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
    struct fuse_file_info *fi);

void ops_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
    const char *value, size_t size, int flags);
void ops_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
    size_t size);
void ops_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
void ops_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name);
void ops_statfs(fuse_req_t req, fuse_ino_t ino);

#endif
