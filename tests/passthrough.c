/*
 * passthrough: a plain FUSE file system that mirrors a local directory.
 * It is the FUSE-overhead baseline for scripts/bench-fs.sh: every request
 * goes through the kernel, libfuse and one system call on SOURCE_DIR,
 * with no network and no store behind it.
 *
 * usage: passthrough [-f] [-d] [-o OPT,...] SOURCE_DIR MOUNTPOINT
 *
 * libfuse3's high-level API, multi-threaded, modelled on libfuse's
 * example/passthrough_fh.c.  Paths are resolved relative to a descriptor
 * of SOURCE_DIR (the *at calls), open files and directories keep their
 * descriptors, so an unlinked file stays usable while it is open
 * (hard_remove).  The mount gets default_permissions, so the kernel checks
 * access, and allow_other when run as root; as root, new nodes are given
 * to the caller (uid, and gid unless the parent directory is set-gid).
 * O_DIRECT is honoured by the kernel (every read and write of such a file
 * is a FUSE request) but not passed to SOURCE_DIR: libfuse's buffers are
 * not aligned as the local disk's O_DIRECT wants (EINVAL).
 */
#define FUSE_USE_VERSION 35

#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int src_fd = -1;			/* SOURCE_DIR, for the *at calls */
static char src_path[PATH_MAX];		/* SOURCE_DIR, for the path-only calls */

/* A FUSE path ("/a/b") relative to SOURCE_DIR ("a/b"; "." for the root). */
static const char *
rel(const char *path)
{
	while (*path == '/')
		path++;
	return *path ? path : ".";
}

/* SOURCE_DIR/path into buf, for calls that have no *at form. */
static const char *
full(char *buf, const char *path)
{
	if (snprintf(buf, PATH_MAX, "%s%s", src_path, path) >= PATH_MAX)
		return NULL;
	return buf;
}

static int
neg(int rc)
{
	return rc == -1 ? -errno : 0;
}

/* Give a node just made by root to the calling user.  The parent's
 * set-gid bit (already applied by the source file system) decides the gid. */
static void
pt_own(const char *path)
{
	struct fuse_context *c = fuse_get_context();
	char parent[PATH_MAX];
	struct stat st;
	gid_t gid = c->gid;
	char *slash;

	if (geteuid() != 0 || (c->uid == 0 && c->gid == 0))
		return;
	snprintf(parent, sizeof parent, "%s", rel(path));
	slash = strrchr(parent, '/');
	if (slash != NULL)
		*slash = '\0';
	if (fstatat(src_fd, slash ? parent : ".", &st, 0) == 0 &&
	    (st.st_mode & S_ISGID))
		gid = (gid_t)-1;
	(void)fchownat(src_fd, rel(path), c->uid, gid, AT_SYMLINK_NOFOLLOW);
}

static void *
pt_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	(void)conn;
	cfg->use_ino = 1;
	cfg->nullpath_ok = 1;
	cfg->hard_remove = 1;
	return NULL;
}

static int
pt_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	if (fi != NULL)
		return neg(fstat((int)fi->fh, st));
	return neg(fstatat(src_fd, rel(path), st, AT_SYMLINK_NOFOLLOW));
}

static int
pt_readlink(const char *path, char *buf, size_t size)
{
	ssize_t n = readlinkat(src_fd, rel(path), buf, size - 1);

	if (n == -1)
		return -errno;
	buf[n] = '\0';
	return 0;
}

static int
pt_opendir(const char *path, struct fuse_file_info *fi)
{
	int fd = openat(src_fd, rel(path), O_RDONLY | O_DIRECTORY);
	DIR *d;

	if (fd == -1)
		return -errno;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return -errno;
	}
	fi->fh = (uint64_t)(uintptr_t)d;
	return 0;
}

static int
pt_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
    struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	DIR *d = (DIR *)(uintptr_t)fi->fh;
	struct dirent *e;
	struct stat st;

	(void)path, (void)flags;
	if (off != telldir(d))
		seekdir(d, off);
	while ((e = readdir(d)) != NULL) {
		memset(&st, 0, sizeof st);
		st.st_ino = e->d_ino;
		st.st_mode = (mode_t)DTTOIF(e->d_type);
		if (fill(buf, e->d_name, &st, telldir(d), 0))
			break;
	}
	return 0;
}

static int
pt_releasedir(const char *path, struct fuse_file_info *fi)
{
	(void)path;
	closedir((DIR *)(uintptr_t)fi->fh);
	return 0;
}

static int
pt_mknod(const char *path, mode_t mode, dev_t rdev)
{
	int rc = S_ISFIFO(mode) ? mkfifoat(src_fd, rel(path), mode) :
	    mknodat(src_fd, rel(path), mode, rdev);

	if (rc == -1)
		return -errno;
	pt_own(path);
	return 0;
}

static int
pt_mkdir(const char *path, mode_t mode)
{
	if (mkdirat(src_fd, rel(path), mode) == -1)
		return -errno;
	pt_own(path);
	return 0;
}

static int
pt_symlink(const char *target, const char *path)
{
	if (symlinkat(target, src_fd, rel(path)) == -1)
		return -errno;
	pt_own(path);
	return 0;
}

static int
pt_unlink(const char *path)
{
	return neg(unlinkat(src_fd, rel(path), 0));
}

static int
pt_rmdir(const char *path)
{
	return neg(unlinkat(src_fd, rel(path), AT_REMOVEDIR));
}

static int
pt_rename(const char *from, const char *to, unsigned int flags)
{
	return neg(renameat2(src_fd, rel(from), src_fd, rel(to), flags));
}

static int
pt_link(const char *from, const char *to)
{
	return neg(linkat(src_fd, rel(from), src_fd, rel(to), 0));
}

static int
pt_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	if (fi != NULL)
		return neg(fchmod((int)fi->fh, mode));
	return neg(fchmodat(src_fd, rel(path), mode, 0));
}

static int
pt_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
	if (fi != NULL)
		return neg(fchown((int)fi->fh, uid, gid));
	return neg(fchownat(src_fd, rel(path), uid, gid, AT_SYMLINK_NOFOLLOW));
}

static int
pt_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	int fd, rc;

	if (fi != NULL)
		return neg(ftruncate((int)fi->fh, size));
	if ((fd = openat(src_fd, rel(path), O_WRONLY)) == -1)
		return -errno;
	rc = neg(ftruncate(fd, size));
	close(fd);
	return rc;
}

static int
pt_utimens(const char *path, const struct timespec ts[2],
    struct fuse_file_info *fi)
{
	if (fi != NULL)
		return neg(futimens((int)fi->fh, ts));
	return neg(utimensat(src_fd, rel(path), ts, AT_SYMLINK_NOFOLLOW));
}

static int
pt_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	int fd = openat(src_fd, rel(path), (fi->flags & ~O_DIRECT) | O_CREAT,
	    mode);

	if (fd == -1)
		return -errno;
	fi->fh = (uint64_t)fd;
	pt_own(path);
	return 0;
}

static int
pt_open(const char *path, struct fuse_file_info *fi)
{
	int fd = openat(src_fd, rel(path), fi->flags & ~(O_NOFOLLOW | O_DIRECT));

	if (fd == -1)
		return -errno;
	fi->fh = (uint64_t)fd;
	return 0;
}

static int
pt_read(const char *path, char *buf, size_t size, off_t off,
    struct fuse_file_info *fi)
{
	ssize_t n = pread((int)fi->fh, buf, size, off);

	(void)path;
	return n == -1 ? -errno : (int)n;
}

static int
pt_write(const char *path, const char *buf, size_t size, off_t off,
    struct fuse_file_info *fi)
{
	ssize_t n = pwrite((int)fi->fh, buf, size, off);

	(void)path;
	return n == -1 ? -errno : (int)n;
}

static int
pt_statfs(const char *path, struct statvfs *sv)
{
	(void)path;
	return neg(fstatvfs(src_fd, sv));
}

/* close(2) semantics: report errors of the close of this descriptor. */
static int
pt_flush(const char *path, struct fuse_file_info *fi)
{
	int fd = dup((int)fi->fh);

	(void)path;
	if (fd == -1)
		return -errno;
	return neg(close(fd));
}

static int
pt_release(const char *path, struct fuse_file_info *fi)
{
	(void)path;
	close((int)fi->fh);
	return 0;
}

static int
pt_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	(void)path;
	return neg(datasync ? fdatasync((int)fi->fh) : fsync((int)fi->fh));
}

static int
pt_setxattr(const char *path, const char *name, const char *value,
    size_t size, int flags)
{
	char p[PATH_MAX];

	if (full(p, path) == NULL)
		return -ENAMETOOLONG;
	return neg(lsetxattr(p, name, value, size, flags));
}

static int
pt_getxattr(const char *path, const char *name, char *value, size_t size)
{
	char p[PATH_MAX];
	ssize_t n;

	if (full(p, path) == NULL)
		return -ENAMETOOLONG;
	n = lgetxattr(p, name, value, size);
	return n == -1 ? -errno : (int)n;
}

static int
pt_listxattr(const char *path, char *list, size_t size)
{
	char p[PATH_MAX];
	ssize_t n;

	if (full(p, path) == NULL)
		return -ENAMETOOLONG;
	n = llistxattr(p, list, size);
	return n == -1 ? -errno : (int)n;
}

static int
pt_removexattr(const char *path, const char *name)
{
	char p[PATH_MAX];

	if (full(p, path) == NULL)
		return -ENAMETOOLONG;
	return neg(lremovexattr(p, name));
}

static const struct fuse_operations pt_ops = {
	.init = pt_init,
	.getattr = pt_getattr,
	.readlink = pt_readlink,
	.opendir = pt_opendir,
	.readdir = pt_readdir,
	.releasedir = pt_releasedir,
	.mknod = pt_mknod,
	.mkdir = pt_mkdir,
	.symlink = pt_symlink,
	.unlink = pt_unlink,
	.rmdir = pt_rmdir,
	.rename = pt_rename,
	.link = pt_link,
	.chmod = pt_chmod,
	.chown = pt_chown,
	.truncate = pt_truncate,
	.utimens = pt_utimens,
	.create = pt_create,
	.open = pt_open,
	.read = pt_read,
	.write = pt_write,
	.statfs = pt_statfs,
	.flush = pt_flush,
	.release = pt_release,
	.fsync = pt_fsync,
	.setxattr = pt_setxattr,
	.getxattr = pt_getxattr,
	.listxattr = pt_listxattr,
	.removexattr = pt_removexattr,
};

int
main(int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	const char *src = NULL;
	int i, rc;

	/* The first non-option argument is SOURCE_DIR; the rest is libfuse's. */
	for (i = 0; i < argc; i++) {
		if (i > 0 && src == NULL && argv[i][0] != '-' &&
		    strcmp(argv[i - 1], "-o") != 0) {
			src = argv[i];
			continue;
		}
		fuse_opt_add_arg(&args, argv[i]);
	}
	if (src == NULL || realpath(src, src_path) == NULL ||
	    (src_fd = open(src_path, O_RDONLY | O_DIRECTORY)) == -1) {
		fprintf(stderr, "usage: passthrough [-f] [-o OPT,...] SOURCE_DIR "
		    "MOUNTPOINT\n");
		if (src != NULL)
			perror(src);
		return 2;
	}
	if (strcmp(src_path, "/") == 0)
		src_path[0] = '\0';
	fuse_opt_add_arg(&args, "-odefault_permissions,fsname=passthrough");
	if (geteuid() == 0)
		fuse_opt_add_arg(&args, "-oallow_other");
	umask(0);
	rc = fuse_main(args.argc, args.argv, &pt_ops, NULL);
	fuse_opt_free_args(&args);
	return rc;
}
