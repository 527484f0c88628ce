/*
 * posix_suite: POSIX behaviour of a mounted file system, checked from user
 * space with plain system calls.
 *
 * usage: posix_suite DIR [SECTION...]
 *
 * Makes DIR/posix-suite.PID and runs every section (or the named ones)
 * in a subdirectory of its own, by paths relative to that subdirectory, so
 * neither the length of DIR nor the permissions above it matter.  Each
 * check prints one line:
 *
 *   ok      SECTION: CHECK
 *   FAIL    SECTION: CHECK [expected ..., got ...]
 *   allowed SECTION: CHECK [why]   a difference the suite tolerates
 *   skip    SECTION: CHECK [why]   e.g. needs root
 *
 * and the run ends with "N passed, M failed"; the exit status is 1 when
 * any check failed.  The checks assert what POSIX specifies (and, where
 * POSIX leaves a choice, what Linux's local file systems all do), so one
 * binary runs on a local directory as the reference and on canfs, and the
 * two outputs must agree line for line, "allowed" lines aside.
 *
 * As root, the sections owner, sticky, perms and killpriv fork children that drop
 * to other uids with setegid/seteuid; on a FUSE mount that needs the
 * allow_other option.  The only sleep is one 1.1 s pause in "times", so
 * that timestamps of any granularity up to a second must move.
 */
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sys/xattr.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MIB (1024LL * 1024)
#define GIB (1024LL * MIB)

/* Uids and gids the root-only sections act as; no account needs them. */
#define UID_A 10001
#define GID_A 10001
#define UID_B 10002
#define GID_B 10002
#define UID_C 10003
#define GID_C 10003
#define GID_S 10009

/* Counts, in shared memory so that forked children add to them. */
struct tally {
	int pass, fail, allowed, skip;
};
static struct tally *tally;
static const char *sect = "setup";	/* the section running now */
static int is_root;

/* --------------------------------------------------------- the harness */

static const char *
en(int e)
{
	const char *s = strerrorname_np(e);

	return s ? s : "E?";
}

/* Print one result line; detail (printf-style, may be NULL) in brackets. */
static void
say(const char *tag, const char *what, const char *fmt, va_list ap)
{
	printf("%-7s %s: %s", tag, sect, what);
	if (fmt != NULL) {
		printf(" [");
		vprintf(fmt, ap);
		printf("]");
	}
	printf("\n");
	fflush(stdout);
}

/* Record one check: it passes when cond holds, else fmt says why. */
__attribute__((format(printf, 3, 4))) static int
check(int cond, const char *what, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (cond) {
		tally->pass++;
		say("ok", what, NULL, ap);
	} else {
		tally->fail++;
		say("FAIL", what, fmt, ap);
	}
	va_end(ap);
	return cond;
}

/* A tolerated difference, with the reason. */
__attribute__((format(printf, 2, 3))) static void
allowed(const char *what, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tally->allowed++;
	say("allowed", what, fmt, ap);
	va_end(ap);
}

/* A check that cannot run here, with the reason. */
static void
skipped(const char *what, const char *why)
{
	tally->skip++;
	printf("%-7s %s: %s [%s]\n", "skip", sect, what, why);
	fflush(stdout);
}

/* The call succeeded (did not return -1). */
static int
ok(long ret, const char *what)
{
	int e = errno;

	return check(ret != -1, what, "failed: %s", en(e));
}

/* The call failed with errno e1, or e2 when e2 is nonzero. */
static int
fails(long ret, int e1, int e2, const char *what)
{
	int e = errno;
	char want[64];

	snprintf(want, sizeof want, "%s%s%s", en(e1), e2 ? "|" : "",
	    e2 ? en(e2) : "");
	if (ret != -1)
		return check(0, what, "expected %s, succeeded", want);
	return check(e == e1 || (e2 != 0 && e == e2), what,
	    "expected %s, got %s", want, en(e));
}

static int
eq(long long got, long long want, const char *what)
{
	return check(got == want, what, "expected %lld, got %lld", want, got);
}

static int
eq_mode(unsigned got, unsigned want, const char *what)
{
	return check(got == want, what, "expected 0%o, got 0%o", want, got);
}

/* ---------------------------------------------------------- helpers */

/* Create or truncate path and write data; 0 or -1 (errno set). */
static int
put(const char *path, const char *data)
{
	size_t n = strlen(data);
	int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);

	if (fd == -1)
		return -1;
	if (write(fd, data, n) != (ssize_t)n) {
		int e = errno;
		close(fd);
		errno = e ? e : EIO;
		return -1;
	}
	return close(fd);
}

/* Read up to n-1 bytes of path into buf, NUL-terminated; length or -1. */
static ssize_t
get(const char *path, char *buf, size_t n)
{
	ssize_t len = 0, r;
	int fd = open(path, O_RDONLY);

	if (fd == -1)
		return -1;
	while ((size_t)len < n - 1 &&
	    (r = read(fd, buf + len, n - 1 - len)) > 0)
		len += r;
	buf[len] = '\0';
	close(fd);
	return len;
}

/* Path holds exactly want. */
static int
has(const char *path, const char *want, const char *what)
{
	char buf[4096];
	ssize_t n = get(path, buf, sizeof buf);

	size_t len = strlen(path);

	if (n == -1)
		return check(0, what, "cannot read %s%s: %s", len > 40 ? "..." : "",
		    path + (len > 40 ? len - 40 : 0), en(errno));
	return check(strcmp(buf, want) == 0, what, "expected \"%s\", got \"%s\"",
	    want, buf);
}

/* Size of path (lstat), or -1. */
static long long
size_of(const char *path)
{
	struct stat st;

	return lstat(path, &st) == -1 ? -1 : (long long)st.st_size;
}

static int
exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

static int
all_zero(const unsigned char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] != 0)
			return 0;
	return 1;
}

static int
ts_gt(struct timespec a, struct timespec b)
{
	return a.tv_sec > b.tv_sec ||
	    (a.tv_sec == b.tv_sec && a.tv_nsec > b.tv_nsec);
}

static int
ts_eq(struct timespec a, struct timespec b)
{
	return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

/* t lies in [lo - 1 s, hi + 1 s]: "now" for any clock granularity. */
static int
ts_near(struct timespec t, struct timespec lo, struct timespec hi)
{
	return t.tv_sec >= lo.tv_sec - 1 && t.tv_sec <= hi.tv_sec + 1;
}

static struct timespec
now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return t;
}

/* Fill buf with a reproducible pattern that differs per offset. */
static void
pattern(unsigned char *buf, size_t n, uint32_t seed)
{
	uint32_t x = seed * 2654435761u + 1;
	size_t i;

	for (i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		buf[i] = (unsigned char)x;
	}
}

/* A directory's entry names except "." and ".."; count in *n; NULL on
 * error.  The caller frees each name and the array. */
static char **
list_names(int dfd, size_t *n)
{
	DIR *d;
	struct dirent *e;
	char **v = NULL, **nv;
	size_t cap = 0;
	int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY);

	*n = 0;
	if (fd == -1 || (d = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		return NULL;
	}
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 64;
			if ((nv = realloc(v, cap * sizeof *v)) == NULL)
				abort();
			v = nv;
		}
		if ((v[(*n)++] = strdup(e->d_name)) == NULL)
			abort();
	}
	closedir(d);
	return v != NULL ? v : calloc(1, sizeof *v);
}

static void
free_names(char **v, size_t n)
{
	size_t i;

	for (i = 0; v != NULL && i < n; i++)
		free(v[i]);
	free(v);
}

/* Remove name under dfd and everything below it, by descriptors, so
 * that depth and path length do not matter.  0 or -1. */
static int
rm_tree_at(int dfd, const char *name)
{
	struct stat st;
	char **v;
	size_t n, i;
	int fd, rc = 0;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == -1)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISDIR(st.st_mode))
		return unlinkat(dfd, name, 0);
	if ((fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW)) == -1)
		return -1;
	if ((v = list_names(fd, &n)) == NULL)
		rc = -1;
	for (i = 0; i < n; i++)
		if (rm_tree_at(fd, v[i]) == -1)
			rc = -1;
	free_names(v, n);
	close(fd);
	if (unlinkat(dfd, name, AT_REMOVEDIR) == -1)
		rc = -1;
	return rc;
}

/* Run fn in a child that has dropped to uid/gid (effective ids, no
 * supplementary groups); the child's checks count in the shared tally. */
static void
as_user(uid_t uid, gid_t gid, void (*fn)(void))
{
	pid_t pid;
	int status;

	fflush(stdout);
	if ((pid = fork()) == -1) {
		check(0, "fork a child", "%s", en(errno));
		return;
	}
	if (pid == 0) {
		if (setgroups(0, NULL) == -1 || setegid(gid) == -1 ||
		    seteuid(uid) == -1) {
			check(0, "drop to another uid", "%s", en(errno));
			_exit(1);
		}
		fn();
		fflush(stdout);
		_exit(0);
	}
	if (waitpid(pid, &status, 0) == -1 || !WIFEXITED(status))
		check(0, "child exits normally", "status 0x%x", status);
}

/* ------------------------------------------------------------ sections */

static void
t_stat(void)
{
	struct stat st, st2, dot;

	put("f", "0123456789");
	if (ok(stat("f", &st), "stat a regular file")) {
		check(S_ISREG(st.st_mode), "stat: S_IFREG", "mode 0%o",
		    st.st_mode);
		eq(st.st_size, 10, "stat: st_size");
		eq(st.st_nlink, 1, "stat: st_nlink of a new file is 1");
		eq(st.st_uid, geteuid(), "stat: st_uid is the creator's");
		check(st.st_blksize > 0, "stat: st_blksize > 0", "%ld",
		    (long)st.st_blksize);
	}
	int fd = open("f", O_RDONLY);
	if (ok(fstat(fd, &st2), "fstat an open file")) {
		check(st2.st_ino == st.st_ino && st2.st_dev == st.st_dev,
		    "fstat and stat agree on st_dev/st_ino", "%lu vs %lu",
		    (unsigned long)st2.st_ino, (unsigned long)st.st_ino);
		eq(st2.st_size, 10, "fstat: st_size");
	}
	close(fd);
	symlink("f", "l");
	if (ok(lstat("l", &st2), "lstat a symlink")) {
		check(S_ISLNK(st2.st_mode), "lstat: S_IFLNK", "mode 0%o",
		    st2.st_mode);
		eq(st2.st_size, 1, "lstat: a symlink's size is its target's length");
	}
	if (ok(stat("l", &st2), "stat through a symlink"))
		check(st2.st_ino == st.st_ino, "stat follows the symlink",
		    "ino %lu", (unsigned long)st2.st_ino);
	if (ok(lstat("f", &st2), "lstat a regular file"))
		check(st2.st_ino == st.st_ino && S_ISREG(st2.st_mode),
		    "lstat of a regular file equals stat", "mode 0%o", st2.st_mode);
	fails(stat("nope", &st2), ENOENT, 0, "stat a missing name: ENOENT");
	fails(stat("f/x", &st2), ENOTDIR, 0, "stat through a file: ENOTDIR");
	fails(stat("", &st2), ENOENT, 0, "stat the empty path: ENOENT");
	put("g", "");
	if (stat("g", &st2) == 0)
		check(st2.st_ino != st.st_ino, "two files have distinct st_ino",
		    "both %lu", (unsigned long)st.st_ino);
	mkdir("d", 0755);
	if (ok(stat("d", &st2), "stat a directory"))
		check(S_ISDIR(st2.st_mode), "stat: S_IFDIR", "mode 0%o",
		    st2.st_mode);
	stat(".", &dot);
	if (ok(stat("d/..", &st), "stat d/.."))
		check(st.st_ino == dot.st_ino, "d/.. is the parent", "ino %lu vs %lu",
		    (unsigned long)st.st_ino, (unsigned long)dot.st_ino);
	if (ok(stat("d/.", &st), "stat d/."))
		check(st.st_ino == st2.st_ino, "d/. is d", "ino %lu vs %lu",
		    (unsigned long)st.st_ino, (unsigned long)st2.st_ino);
}

static void
t_open(void)
{
	struct stat st;
	char buf[16];
	int fd, fd2;

	fd = open("new", O_CREAT | O_EXCL | O_WRONLY, 0640);
	if (ok(fd, "O_CREAT|O_EXCL creates a new file")) {
		fstat(fd, &st);
		eq_mode(st.st_mode & 07777, 0640, "the mode given to O_CREAT (umask 0)");
		ok(write(fd, "abc", 3), "write to the new file");
		close(fd);
	}
	fails(open("new", O_CREAT | O_EXCL | O_WRONLY, 0640), EEXIST, 0,
	    "O_CREAT|O_EXCL on an existing file: EEXIST");
	fd = open("new", O_CREAT | O_WRONLY, 0600);
	if (ok(fd, "O_CREAT without O_EXCL opens an existing file"))
		close(fd);
	has("new", "abc", "O_CREAT without O_TRUNC keeps the contents");
	stat("new", &st);
	eq_mode(st.st_mode & 07777, 0640, "O_CREAT on an existing file keeps its mode");
	fd = open("new", O_WRONLY | O_TRUNC);
	if (ok(fd, "open O_TRUNC")) {
		fstat(fd, &st);
		eq(st.st_size, 0, "O_TRUNC: fstat size 0");
		close(fd);
	}
	eq(size_of("new"), 0, "O_TRUNC: stat size 0 after close");

	put("app", "abc");
	fd = open("app", O_WRONLY | O_APPEND);
	fd2 = open("app", O_WRONLY | O_APPEND);
	if (ok(fd, "open O_APPEND") && fd2 != -1) {
		lseek(fd, 0, SEEK_SET);
		eq(write(fd, "def", 3), 3, "O_APPEND write after lseek(0)");
		eq(lseek(fd, 0, SEEK_CUR), 6, "O_APPEND: offset is the end after write");
		write(fd2, "1", 1);
		write(fd, "2", 1);
		write(fd2, "3", 1);
		close(fd);
		close(fd2);
		has("app", "abcdef123", "O_APPEND writes land at the end, two descriptors");
	}
	fails(open("missing", O_RDONLY), ENOENT, 0, "open a missing file: ENOENT");
	put("file", "x");
	fails(open("file", O_RDONLY | O_DIRECTORY), ENOTDIR, 0,
	    "O_DIRECTORY on a file: ENOTDIR");
	mkdir("dir", 0755);
	fails(open("dir", O_WRONLY), EISDIR, 0, "open a directory O_WRONLY: EISDIR");
	fails(open("dir", O_RDWR), EISDIR, 0, "open a directory O_RDWR: EISDIR");
	fails(open("dir", O_CREAT | O_WRONLY, 0644), EISDIR, 0,
	    "O_CREAT on a directory: EISDIR");
	fd = open("dir", O_RDONLY | O_DIRECTORY);
	if (ok(fd, "open a directory O_RDONLY|O_DIRECTORY"))
		close(fd);
	fails(open("file/x", O_RDONLY), ENOTDIR, 0, "open through a file: ENOTDIR");
	fails(open("nodir/x", O_CREAT | O_WRONLY, 0644), ENOENT, 0,
	    "O_CREAT in a missing directory: ENOENT");

	fd = open("ro", O_CREAT | O_EXCL | O_RDWR, 0444);
	if (ok(fd, "O_CREAT|O_RDWR with mode 0444")) {
		eq(write(fd, "data", 4), 4,
		    "the new 0444 file's descriptor is writable");
		close(fd);
		stat("ro", &st);
		eq_mode(st.st_mode & 07777, 0444, "the new file has mode 0444");
		has("ro", "data", "data written through it is kept");
	}
	fd = open("file", O_RDONLY);
	fails(write(fd, "x", 1), EBADF, 0, "write on an O_RDONLY descriptor: EBADF");
	close(fd);
	fd = open("file", O_WRONLY);
	fails(read(fd, buf, 1), EBADF, 0, "read on an O_WRONLY descriptor: EBADF");
	close(fd);
}

static void
t_rw(void)
{
	const size_t n = 3 * MIB + 123;
	unsigned char *want = malloc(n), *got = malloc(n);
	unsigned char small[128];
	size_t off, k;
	ssize_t r;
	struct stat st;
	int fd, good;

	pattern(want, n, 1);
	fd = open("data", O_CREAT | O_RDWR | O_TRUNC, 0644);
	if (!ok(fd, "create a data file"))
		goto out;
	for (off = 0, good = 1; off < n; off += k) {
		k = n - off < 65536 ? n - off : 65536;
		if (write(fd, want + off, k) != (ssize_t)k) {
			good = 0;
			break;
		}
	}
	check(good, "write 3 MiB in 64 KiB pieces", "short at %zu: %s", off,
	    en(errno));
	fstat(fd, &st);
	eq(st.st_size, n, "fstat size after the writes");
	lseek(fd, 0, SEEK_SET);
	for (off = 0; off < n; off += r)
		if ((r = read(fd, got + off, 77777)) <= 0)
			break;
	check(off == n && memcmp(got, want, n) == 0,
	    "read back in 77,777-byte pieces", "read %zu bytes", off);
	eq(read(fd, small, 10), 0, "read at end of file returns 0");
	r = pread(fd, small, 20, MIB - 10);
	check(r == 20 && memcmp(small, want + MIB - 10, 20) == 0,
	    "pread across a 1 MiB boundary", "got %zd", r);
	eq(pread(fd, small, 100, n - 10), 10, "pread past the end is short");
	eq(pread(fd, small, 100, n + 100), 0, "pread beyond the end returns 0");
	lseek(fd, 12345, SEEK_SET);
	eq(pwrite(fd, "XYZWV", 5, 2 * MIB - 3), 5, "pwrite across a 2 MiB boundary");
	memcpy(want + 2 * MIB - 3, "XYZWV", 5);
	eq(lseek(fd, 0, SEEK_CUR), 12345, "pread/pwrite leave the offset alone");
	eq(write(fd, "hello", 5), 5, "overwrite in the middle");
	memcpy(want + 12345, "hello", 5);
	fstat(fd, &st);
	eq(st.st_size, n, "overwriting keeps the size");
	ok(fsync(fd), "fsync");
	ok(fdatasync(fd), "fdatasync");
	eq(lseek(fd, 0, SEEK_END), n, "lseek SEEK_END is the size");
	close(fd);
	memset(got, 0, n);
	fd = open("data", O_RDONLY);
	for (off = 0; fd != -1 && off < n; off += r)
		if ((r = read(fd, got + off, n - off)) <= 0)
			break;
	check(off == n && memcmp(got, want, n) == 0,
	    "contents after close and reopen", "read %zu bytes", off);
	close(fd);

	fd = open("map", O_CREAT | O_RDWR | O_TRUNC, 0644);
	if (fd != -1 && ftruncate(fd, 8192) == 0) {
		char *p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED,
		    fd, 0);
		if (ok(p == MAP_FAILED ? -1 : 0, "mmap MAP_SHARED read/write")) {
			memset(p + 100, 'm', 50);
			ok(msync(p, 8192, MS_SYNC), "msync");
			pread(fd, small, 50, 100);
			check(memcmp(small, p + 100, 50) == 0,
			    "stores through the mapping are seen by read", "differ");
			pwrite(fd, "w", 1, 5000);
			check(p[5000] == 'w', "write is seen through the mapping",
			    "got 0x%02x", p[5000]);
			munmap(p, 8192);
		}
	}
	close(fd);
out:
	free(want);
	free(got);
}

static void
t_truncate(void)
{
	unsigned char *buf = malloc(3 * MIB);
	char small[32];
	int fd, fd2;

	put("t", "");
	ok(truncate("t", 100000), "truncate grows a file");
	eq(size_of("t"), 100000, "size after growing");
	fd = open("t", O_RDWR);
	check(pread(fd, buf, 100000, 0) == 100000 && all_zero(buf, 100000),
	    "the grown part reads zeros", "not zeros");
	ok(ftruncate(fd, 0), "ftruncate to 0");
	write(fd, "0123456789abcdef", 16);
	ok(ftruncate(fd, 10), "ftruncate shrinks a file");
	eq(size_of("t"), 10, "size after shrinking");
	memset(small, 0, sizeof small);
	pread(fd, small, sizeof small, 0);
	check(strcmp(small, "0123456789") == 0, "shrinking keeps the head",
	    "got \"%s\"", small);
	ftruncate(fd, 100);
	check(pread(fd, buf, 100, 0) == 100 && memcmp(buf, "0123456789", 10) == 0 &&
	    all_zero(buf + 10, 90), "shrink then grow: zeros past the cut",
	    "stale bytes");
	ftruncate(fd, 0);
	memset(buf, 0xab, 3 * MIB);
	pwrite(fd, buf, 3 * MIB, 0);
	ok(ftruncate(fd, MIB + MIB / 2 + 7), "ftruncate into the middle of a 1 MiB chunk");
	ok(ftruncate(fd, 3 * MIB), "ftruncate back to 3 MiB");
	memset(buf, 0x11, 3 * MIB);
	pread(fd, buf, 3 * MIB, 0);
	{
		size_t cut = MIB + MIB / 2 + 7, i;
		int head = 1;
		for (i = 0; i < cut; i++)
			head &= buf[i] == 0xab;
		check(head && all_zero(buf + cut, 3 * MIB - cut),
		    "shrink then grow across chunks: old data kept, zeros after",
		    "head %s", head ? "ok" : "damaged");
	}
	ok(truncate("t", 0), "truncate to 0");
	eq(size_of("t"), 0, "size 0");
	mkdir("dir", 0755);
	fails(truncate("dir", 0), EISDIR, 0, "truncate a directory: EISDIR");
	fails(truncate("missing", 0), ENOENT, 0, "truncate a missing file: ENOENT");
	fails(truncate("t", -1), EINVAL, 0, "truncate to a negative size: EINVAL");
	fd2 = open("t", O_RDONLY);
	fails(ftruncate(fd2, 0), EINVAL, EBADF,
	    "ftruncate an O_RDONLY descriptor: EINVAL|EBADF");
	close(fd2);
	close(fd);
	free(buf);
}

static void
t_sparse(void)
{
	unsigned char *buf = malloc(MIB);
	long long off, hole = 10 * MIB + 5;
	int fd, zero = 1;

	fd = open("s", O_CREAT | O_RDWR | O_TRUNC, 0644);
	eq(pwrite(fd, "end", 3, hole), 3, "pwrite at 10 MiB into an empty file");
	eq(size_of("s"), hole + 3, "st_size counts the hole");
	for (off = 0; off < hole; off += MIB) {
		long long k = hole - off < MIB ? hole - off : MIB;
		if (pread(fd, buf, k, off) != k || !all_zero(buf, k))
			zero = 0;
	}
	check(zero, "the 10 MiB hole reads zeros", "data in the hole");
	check(pread(fd, buf, 3, hole) == 3 && memcmp(buf, "end", 3) == 0,
	    "the data after the hole", "wrong");
	lseek(fd, 20 * MIB, SEEK_SET);
	eq(write(fd, "x", 1), 1, "write after lseek past the end");
	eq(size_of("s"), 20 * MIB + 1, "size after the second hole");
	check(pread(fd, buf, 4096, 15 * MIB) == 4096 && all_zero(buf, 4096),
	    "the second hole reads zeros", "data in the hole");
	close(fd);
	free(buf);
}

static void
t_big(void)
{
	char buf[16];
	struct stat st;
	int fd = open("big", O_CREAT | O_RDWR | O_TRUNC, 0644);

	if (!ok(fd, "create a file for offsets past 4 GiB"))
		return;
	eq(pwrite(fd, "hello", 5, 5 * GIB), 5, "pwrite at 5 GiB");
	fstat(fd, &st);
	eq(st.st_size, 5 * GIB + 5, "st_size past 4 GiB");
	eq(size_of("big"), 5 * GIB + 5, "stat st_size past 4 GiB");
	check(pread(fd, buf, 5, 5 * GIB) == 5 && memcmp(buf, "hello", 5) == 0,
	    "pread at 5 GiB", "wrong");
	check(pread(fd, buf, 8, 4 * GIB - 4) == 8 && all_zero((unsigned char *)buf, 8),
	    "the hole across 4 GiB reads zeros", "not zeros");
	eq(pwrite(fd, "abcd", 4, 4 * GIB - 2), 4, "pwrite across the 4 GiB boundary");
	check(pread(fd, buf, 4, 4 * GIB - 2) == 4 && memcmp(buf, "abcd", 4) == 0,
	    "pread across the 4 GiB boundary", "wrong");
	eq(lseek(fd, 0, SEEK_END), 5 * GIB + 5, "lseek SEEK_END past 4 GiB");
	ok(ftruncate(fd, 6 * GIB), "ftruncate to 6 GiB");
	eq(size_of("big"), 6 * GIB, "size 6 GiB");
	check(pread(fd, buf, 4, 6 * GIB - 4) == 4 && all_zero((unsigned char *)buf, 4),
	    "the grown tail reads zeros", "not zeros");
	ok(ftruncate(fd, GIB), "ftruncate down to 1 GiB");
	eq(pread(fd, buf, 5, 5 * GIB), 0, "the data past the new end is gone");
	close(fd);
	eq(size_of("big"), GIB, "size 1 GiB after close");
	truncate("big", 0);
}

static void
t_mkdir(void)
{
	struct stat st;

	if (ok(mkdir("d", 0750), "mkdir") && stat("d", &st) == 0)
		eq_mode(st.st_mode, S_IFDIR | 0750, "mkdir: S_IFDIR and the mode given");
	fails(mkdir("d", 0755), EEXIST, 0, "mkdir an existing directory: EEXIST");
	put("f", "");
	fails(mkdir("f", 0755), EEXIST, 0, "mkdir over a file: EEXIST");
	fails(mkdir("no/sub", 0755), ENOENT, 0, "mkdir in a missing directory: ENOENT");
	fails(mkdir("f/sub", 0755), ENOTDIR, 0, "mkdir under a file: ENOTDIR");
	ok(mkdir("slash/", 0755), "mkdir with a trailing slash");
	put("d/x", "");
	fails(rmdir("d"), ENOTEMPTY, EEXIST, "rmdir a directory with a file: ENOTEMPTY");
	mkdir("d2", 0755);
	mkdir("d2/sub", 0755);
	fails(rmdir("d2"), ENOTEMPTY, EEXIST,
	    "rmdir a directory with a subdirectory: ENOTEMPTY");
	fails(rmdir("f"), ENOTDIR, 0, "rmdir a file: ENOTDIR");
	fails(rmdir("missing"), ENOENT, 0, "rmdir a missing name: ENOENT");
	fails(rmdir("d/."), EINVAL, 0, "rmdir d/.: EINVAL");
	unlink("d/x");
	ok(rmdir("d"), "rmdir an emptied directory");
	fails(stat("d", &st), ENOENT, 0, "the removed directory is gone");
	ok(rmdir("d2/sub"), "rmdir a subdirectory");
	ok(rmdir("d2"), "rmdir its emptied parent");
}

static void
t_unlink(void)
{
	struct stat st;

	put("f", "x");
	ok(unlink("f"), "unlink a file");
	fails(stat("f", &st), ENOENT, 0, "the unlinked name is gone");
	fails(unlink("f"), ENOENT, 0, "unlink a missing name: ENOENT");
	mkdir("d", 0755);
	fails(unlink("d"), EISDIR, EPERM, "unlink a directory: EISDIR|EPERM");
	put("g", "");
	fails(unlink("g/x"), ENOTDIR, 0, "unlink through a file: ENOTDIR");
	symlink("g", "l");
	ok(unlink("l"), "unlink a symlink");
	check(exists("g") && !exists("l"), "unlinking a symlink keeps its target",
	    "g %d l %d", exists("g"), exists("l"));
}

static void
t_unlink_open(void)
{
	struct stat st;
	char buf[32];
	int fd;

	fd = open("o", O_CREAT | O_RDWR | O_TRUNC, 0644);
	write(fd, "before", 6);
	ok(unlink("o"), "unlink a file that is open");
	fails(stat("o", &st), ENOENT, 0, "its name is gone");
	if (ok(fstat(fd, &st), "fstat after unlink")) {
		eq(st.st_nlink, 0, "st_nlink is 0 after unlink");
		eq(st.st_size, 6, "st_size after unlink");
	}
	memset(buf, 0, sizeof buf);
	check(pread(fd, buf, 6, 0) == 6 && strcmp(buf, "before") == 0,
	    "read after unlink", "got \"%s\"", buf);
	eq(pwrite(fd, " after", 6, 6), 6, "write after unlink");
	memset(buf, 0, sizeof buf);
	check(pread(fd, buf, sizeof buf, 0) == 12 && strcmp(buf, "before after") == 0,
	    "read back what was written after unlink", "got \"%s\"", buf);
	fstat(fd, &st);
	eq(st.st_size, 12, "fstat sees the new size");
	ok(ftruncate(fd, 3), "ftruncate after unlink");
	ok(fchmod(fd, 0600), "fchmod after unlink");
	put("o", "new");
	has("o", "new", "a new file of the same name is separate");
	memset(buf, 0, sizeof buf);
	check(pread(fd, buf, sizeof buf, 0) == 3 && strcmp(buf, "bef") == 0,
	    "the unlinked file is unaffected by the new one", "got \"%s\"", buf);
	ok(close(fd), "close the unlinked file");

	mkdir("d", 0755);
	fd = open("d/x", O_CREAT | O_RDWR, 0644);
	unlink("d/x");
	ok(rmdir("d"), "rmdir a directory whose only file is open but unlinked");
	close(fd);
}

static void
t_rename(void)
{
	struct stat st, st2;
	char buf[16];
	int fd;

	put("a", "A");
	stat("a", &st);
	ok(rename("a", "b"), "rename within a directory");
	check(!exists("a"), "the old name is gone", "still there");
	has("b", "A", "the new name has the contents");
	if (stat("b", &st2) == 0)
		check(st2.st_ino == st.st_ino, "rename keeps the inode", "changed");
	mkdir("d1", 0755);
	mkdir("d2", 0755);
	put("d1/x", "X");
	ok(rename("d1/x", "d2/y"), "rename across directories");
	check(!exists("d1/x"), "gone from the source directory", "still there");
	has("d2/y", "X", "present in the target directory");

	put("t1", "one");
	put("t2", "two");
	fd = open("t2", O_RDONLY);
	ok(rename("t1", "t2"), "rename over an existing file");
	has("t2", "one", "the target now has the source's contents");
	check(!exists("t1"), "the source name is gone", "still there");
	memset(buf, 0, sizeof buf);
	check(read(fd, buf, sizeof buf) == 3 && strcmp(buf, "two") == 0,
	    "an open descriptor of the replaced file still reads it",
	    "got \"%s\"", buf);
	close(fd);

	mkdir("e", 0755);
	fails(rename("b", "e"), EISDIR, 0, "rename a file onto a directory: EISDIR");
	fails(rename("e", "b"), ENOTDIR, 0, "rename a directory onto a file: ENOTDIR");
	mkdir("empty", 0755);
	ok(rename("e", "empty"), "rename a directory onto an empty directory");
	check(!exists("e") && stat("empty", &st) == 0 && S_ISDIR(st.st_mode),
	    "the empty target was replaced", "wrong");
	mkdir("full", 0755);
	put("full/z", "");
	mkdir("src", 0755);
	fails(rename("src", "full"), ENOTEMPTY, EEXIST,
	    "rename a directory onto a non-empty one: ENOTEMPTY|EEXIST");
	mkdir("p", 0755);
	mkdir("p/q", 0755);
	fails(rename("p", "p/q/r"), EINVAL, 0,
	    "rename a directory into its own subdirectory: EINVAL");
	fails(rename("p", "p/r"), EINVAL, 0, "rename a directory into itself: EINVAL");
	fails(rename("missing", "zz"), ENOENT, 0, "rename a missing name: ENOENT");
	fails(rename("b", "nodir/x"), ENOENT, 0,
	    "rename into a missing directory: ENOENT");
	link("b", "h");
	ok(rename("b", "h"), "rename between two links of one file");
	check(exists("b") && exists("h"), "both links remain (a no-op)",
	    "b %d h %d", exists("b"), exists("h"));

	mkdir("m", 0755);
	mkdir("m/sub", 0755);
	mkdir("n", 0755);
	ok(rename("m/sub", "n/sub"), "rename a directory to another parent");
	if (stat("n/sub/..", &st) == 0 && stat("n", &st2) == 0)
		check(st.st_ino == st2.st_ino, "its .. is the new parent", "old");
	ok(put("n/sub/f", "F"), "create in the moved directory");
	fd = open("h", O_RDONLY);
	ok(rename("h", "moved"), "rename a file that is open");
	memset(buf, 0, sizeof buf);
	check(read(fd, buf, sizeof buf) == 1 && buf[0] == 'A',
	    "its descriptor still reads it", "got \"%s\"", buf);
	close(fd);
}

static void
t_rename2(void)
{
	struct stat st;
	int r, e;

	put("a", "A");
	put("b", "B");
	fails(renameat2(AT_FDCWD, "a", AT_FDCWD, "b", RENAME_NOREPLACE), EEXIST, 0,
	    "RENAME_NOREPLACE onto an existing name: EEXIST");
	check(exists("a"), "the source stays", "gone");
	has("b", "B", "the target is unchanged");
	ok(renameat2(AT_FDCWD, "a", AT_FDCWD, "c", RENAME_NOREPLACE),
	    "RENAME_NOREPLACE to a free name");
	has("c", "A", "it moved");

	r = renameat2(AT_FDCWD, "c", AT_FDCWD, "b", RENAME_EXCHANGE);
	e = errno;
	if (r == -1 && e == EINVAL) {
		allowed("RENAME_EXCHANGE swaps two files", "EINVAL: not supported");
		return;
	}
	if (!check(r == 0, "RENAME_EXCHANGE swaps two files", "failed: %s", en(e)))
		return;
	has("c", "B", "after the exchange c has b's contents");
	has("b", "A", "after the exchange b has c's contents");
	mkdir("dd", 0755);
	put("dd/in", "i");
	ok(renameat2(AT_FDCWD, "b", AT_FDCWD, "dd", RENAME_EXCHANGE),
	    "RENAME_EXCHANGE of a file and a directory");
	check(stat("b", &st) == 0 && S_ISDIR(st.st_mode) && exists("b/in"),
	    "the directory is now under the file's name", "wrong");
	has("dd", "A", "the file is now under the directory's name");
	fails(renameat2(AT_FDCWD, "c", AT_FDCWD, "missing", RENAME_EXCHANGE),
	    ENOENT, 0, "RENAME_EXCHANGE with a missing target: ENOENT");
}

static void
t_link(void)
{
	struct stat st, st2;
	int fd;

	put("f", "data");
	ok(link("f", "l1"), "link");
	if (stat("f", &st) == 0 && stat("l1", &st2) == 0) {
		eq(st.st_nlink, 2, "st_nlink 2 after link");
		eq(st2.st_nlink, 2, "st_nlink 2 through the new name");
		check(st.st_ino == st2.st_ino, "both names have one st_ino", "differ");
	}
	mkdir("sub", 0755);
	ok(link("f", "sub/l2"), "link into another directory");
	fd = open("f", O_RDONLY);
	fstat(fd, &st);
	eq(st.st_nlink, 3, "fstat st_nlink 3");
	close(fd);
	put("l1", "DATA");
	has("f", "DATA", "a write through one name is seen through the other");
	fails(link("f", "l1"), EEXIST, 0, "link to an existing name: EEXIST");
	mkdir("d", 0755);
	fails(link("d", "dl"), EPERM, 0, "link a directory: EPERM");
	fails(link("missing", "x"), ENOENT, 0, "link a missing file: ENOENT");
	fails(link("f", "nodir/x"), ENOENT, 0, "link into a missing directory: ENOENT");
	ok(unlink("f"), "unlink the first name");
	if (stat("l1", &st) == 0)
		eq(st.st_nlink, 2, "st_nlink drops to 2");
	has("l1", "DATA", "the other names still read the data");
	unlink("sub/l2");
	if (stat("l1", &st) == 0)
		eq(st.st_nlink, 1, "st_nlink drops to 1");
}

static void
t_symlink(void)
{
	static char target[256], longt[4097];
	const char *plain[] = { "plain", "../up/and/down", "a//b/./c/", "/abs/path" };
	char buf[4200];
	struct stat st;
	ssize_t n;
	size_t i;
	int fd, good = 1;

	for (i = 0; i < 4; i++) {
		char name[16];
		snprintf(name, sizeof name, "s%zu", i);
		if (symlink(plain[i], name) == -1 ||
		    (n = readlink(name, buf, sizeof buf)) != (ssize_t)strlen(plain[i]) ||
		    memcmp(buf, plain[i], n) != 0)
			good = 0;
	}
	check(good, "symlink/readlink of 4 plain targets", "a target differs");
	for (i = 1; i < 256; i++)
		target[i - 1] = (char)i;
	ok(symlink(target, "allbytes"), "symlink to a target with every byte 1-255");
	n = readlink("allbytes", buf, sizeof buf);
	check(n == 255 && memcmp(buf, target, 255) == 0,
	    "readlink returns it byte-exact", "length %zd", n);
	eq(size_of("allbytes"), 255, "lstat size is the target's length");
	memset(longt, 'x', 4095);
	for (i = 100; i < 4095; i += 100)
		longt[i] = '/';
	ok(symlink(longt, "long"), "symlink to a 4095-byte target");
	n = readlink("long", buf, sizeof buf);
	check(n == 4095 && memcmp(buf, longt, 4095) == 0,
	    "readlink of the 4095-byte target", "length %zd", n);
	longt[4095] = 'x';
	fails(symlink(longt, "toolong"), ENAMETOOLONG, 0,
	    "symlink to a 4096-byte target: ENAMETOOLONG");
	eq(readlink("s0", buf, 3), 3, "readlink into a short buffer truncates");

	ok(symlink("does-not-exist", "dang"), "a dangling symlink");
	check(lstat("dang", &st) == 0 && S_ISLNK(st.st_mode), "lstat a dangling symlink",
	    "not a link");
	fails(stat("dang", &st), ENOENT, 0, "stat a dangling symlink: ENOENT");
	fails(open("dang", O_RDONLY), ENOENT, 0, "open a dangling symlink: ENOENT");
	fd = open("dang", O_CREAT | O_WRONLY, 0644);
	ok(fd, "O_CREAT through a dangling symlink");
	close(fd);
	check(exists("does-not-exist"), "it created the link's target", "absent");
	symlink("nothing2", "dang2");
	fails(open("dang2", O_CREAT | O_EXCL | O_WRONLY, 0644), EEXIST, 0,
	    "O_CREAT|O_EXCL on a symlink: EEXIST");
	check(!exists("nothing2"), "and does not create the target", "created");
	fails(symlink("x", "s0"), EEXIST, 0, "symlink over an existing name: EEXIST");
	put("reg", "");
	fails(readlink("reg", buf, sizeof buf), EINVAL, 0,
	    "readlink a regular file: EINVAL");
	symlink("loop1", "loop2");
	symlink("loop2", "loop1");
	fails(stat("loop1", &st), ELOOP, 0, "stat a symlink loop: ELOOP");
	fails(open("s0", O_RDONLY | O_NOFOLLOW), ELOOP, 0, "O_NOFOLLOW on a symlink: ELOOP");
	mkdir("dir", 0755);
	symlink("dir", "dl");
	check(stat("dl", &st) == 0 && S_ISDIR(st.st_mode), "a symlink to a directory",
	    "not a dir");
	put("dl/x", "via");
	has("dir/x", "via", "a file created through it lands in the directory");
}

static void
t_mknod(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	char c = 0;
	int s, s2, fd;

	if (ok(mkfifo("fifo", 0640), "mkfifo") && lstat("fifo", &st) == 0)
		eq_mode(st.st_mode, S_IFIFO | 0640, "the FIFO: S_IFIFO and its mode");
	if (ok(mknod("fifo2", S_IFIFO | 0600, 0), "mknod S_IFIFO") &&
	    lstat("fifo2", &st) == 0)
		eq_mode(st.st_mode, S_IFIFO | 0600, "mknod FIFO: S_IFIFO");
	if (ok(mknod("sock", S_IFSOCK | 0600, 0), "mknod S_IFSOCK") &&
	    lstat("sock", &st) == 0)
		eq_mode(st.st_mode, S_IFSOCK | 0600, "mknod socket: S_IFSOCK");
	if (ok(mknod("reg", S_IFREG | 0644, 0), "mknod S_IFREG") &&
	    lstat("reg", &st) == 0) {
		eq_mode(st.st_mode, S_IFREG | 0644, "mknod regular: S_IFREG");
		eq(st.st_size, 0, "mknod regular: empty");
	}
	fails(mkfifo("fifo", 0600), EEXIST, 0, "mkfifo over an existing name: EEXIST");
	fd = open("fifo", O_RDWR | O_NONBLOCK);
	if (ok(fd, "open the FIFO")) {
		write(fd, "p", 1);
		check(read(fd, &c, 1) == 1 && c == 'p', "data passes through the FIFO",
		    "got 0x%02x", c);
		close(fd);
	}
	strcpy(sa.sun_path, "bound");
	s = socket(AF_UNIX, SOCK_STREAM, 0);
	if (ok(bind(s, (struct sockaddr *)&sa, sizeof sa), "bind a Unix socket here")) {
		check(lstat("bound", &st) == 0 && S_ISSOCK(st.st_mode),
		    "bind made an S_IFSOCK node", "mode 0%o", st.st_mode);
		listen(s, 1);
		s2 = socket(AF_UNIX, SOCK_STREAM, 0);
		ok(connect(s2, (struct sockaddr *)&sa, sizeof sa),
		    "connect to the bound socket by its path");
		close(s2);
	}
	close(s);
	if (!is_root) {
		skipped("mknod device nodes", "needs root");
		return;
	}
	if (ok(mknod("chr", S_IFCHR | 0600, makedev(1, 3)), "mknod S_IFCHR") &&
	    lstat("chr", &st) == 0) {
		eq_mode(st.st_mode, S_IFCHR | 0600, "character device: S_IFCHR");
		eq(st.st_rdev, makedev(1, 3), "character device: st_rdev");
	}
	if (ok(mknod("blk", S_IFBLK | 0600, makedev(7, 0)), "mknod S_IFBLK") &&
	    lstat("blk", &st) == 0) {
		eq_mode(st.st_mode, S_IFBLK | 0600, "block device: S_IFBLK");
		eq(st.st_rdev, makedev(7, 0), "block device: st_rdev");
	}
}

static void
t_attrs(void)
{
	static const unsigned modes[] = { 0, 0644, 0755, 04755, 02755, 01755,
		07777, 0600 };
	struct timespec ts[2], lo, hi, old;
	struct stat st;
	size_t i;
	int fd, good = 1;
	unsigned bad = 0;

	put("f", "");
	for (i = 0; i < sizeof modes / sizeof modes[0]; i++)
		if (chmod("f", modes[i]) == -1 || stat("f", &st) == -1 ||
		    (st.st_mode & 07777) != modes[i])
			good = 0, bad = modes[i];
	check(good, "chmod sets every mode bit (8 modes)", "mode 0%o", bad);
	fd = open("f", O_RDONLY);
	ok(fchmod(fd, 0640), "fchmod");
	stat("f", &st);
	eq_mode(st.st_mode & 07777, 0640, "fchmod set the mode");
	fails(chmod("missing", 0644), ENOENT, 0, "chmod a missing file: ENOENT");
	symlink("f", "l");
	if (is_root) {
		ok(chown("f", 1234, 5678), "chown");
		stat("f", &st);
		check(st.st_uid == 1234 && st.st_gid == 5678, "chown set uid and gid",
		    "%u:%u", st.st_uid, st.st_gid);
		ok(chown("f", -1, 42), "chown with uid -1");
		stat("f", &st);
		check(st.st_uid == 1234 && st.st_gid == 42, "uid -1 keeps the owner",
		    "%u:%u", st.st_uid, st.st_gid);
		ok(chown("f", 4321, -1), "chown with gid -1");
		stat("f", &st);
		check(st.st_uid == 4321 && st.st_gid == 42, "gid -1 keeps the group",
		    "%u:%u", st.st_uid, st.st_gid);
		ok(lchown("l", 77, 88), "lchown a symlink");
		lstat("l", &st);
		check(st.st_uid == 77 && st.st_gid == 88, "lchown changed the link",
		    "%u:%u", st.st_uid, st.st_gid);
		stat("f", &st);
		check(st.st_uid == 4321 && st.st_gid == 42, "but not its target",
		    "%u:%u", st.st_uid, st.st_gid);
		ok(fchown(fd, 99, 98), "fchown");
		stat("f", &st);
		check(st.st_uid == 99 && st.st_gid == 98, "fchown set uid and gid",
		    "%u:%u", st.st_uid, st.st_gid);
		put("s", "");
		chmod("s", 06755);
		ok(chown("s", UID_A, GID_A), "chown a set-uid/set-gid file");
		stat("s", &st);
		eq_mode(st.st_mode & 07777, 0755, "chown clears set-uid and set-gid");
		mkdir("sgd", 0755);
		chmod("sgd", 02755);
		chown("sgd", UID_A, GID_A);
		stat("sgd", &st);
		eq_mode(st.st_mode & 07777, 02755, "chown of a directory keeps S_ISGID");
	} else {
		ok(chown("f", geteuid(), getegid()), "chown to oneself");
		skipped("chown to other ids", "needs root");
	}
	close(fd);

	ts[0] = (struct timespec){ 1000000000, 123456789 };
	ts[1] = (struct timespec){ 1200000000, 987654321 };
	ok(utimensat(AT_FDCWD, "f", ts, 0), "utimensat explicit times");
	stat("f", &st);
	check(st.st_atim.tv_sec == ts[0].tv_sec && st.st_mtim.tv_sec == ts[1].tv_sec,
	    "atime and mtime set (seconds)", "%ld %ld", (long)st.st_atim.tv_sec,
	    (long)st.st_mtim.tv_sec);
	check(st.st_atim.tv_nsec == ts[0].tv_nsec && st.st_mtim.tv_nsec == ts[1].tv_nsec,
	    "atime and mtime set (nanoseconds)", "%ld %ld", st.st_atim.tv_nsec,
	    st.st_mtim.tv_nsec);
	old = st.st_atim;
	ts[0].tv_nsec = UTIME_OMIT;
	ts[1] = (struct timespec){ 1300000000, 0 };
	ok(utimensat(AT_FDCWD, "f", ts, 0), "utimensat with UTIME_OMIT atime");
	stat("f", &st);
	check(ts_eq(st.st_atim, old), "UTIME_OMIT leaves atime", "%ld.%09ld",
	    (long)st.st_atim.tv_sec, st.st_atim.tv_nsec);
	eq(st.st_mtim.tv_sec, 1300000000, "and mtime is set");
	ts[1].tv_nsec = UTIME_NOW;
	lo = now();
	ok(utimensat(AT_FDCWD, "f", ts, 0), "utimensat with UTIME_NOW mtime");
	hi = now();
	stat("f", &st);
	check(ts_near(st.st_mtim, lo, hi), "UTIME_NOW sets mtime to now", "%ld",
	    (long)st.st_mtim.tv_sec);
	check(ts_eq(st.st_atim, old), "UTIME_OMIT still leaves atime", "%ld",
	    (long)st.st_atim.tv_sec);
	lo = now();
	ok(utimensat(AT_FDCWD, "f", NULL, 0), "utimensat NULL");
	hi = now();
	stat("f", &st);
	check(ts_near(st.st_atim, lo, hi) && ts_near(st.st_mtim, lo, hi),
	    "NULL sets both times to now", "%ld %ld", (long)st.st_atim.tv_sec,
	    (long)st.st_mtim.tv_sec);
	fd = open("f", O_RDONLY);
	ts[0] = ts[1] = (struct timespec){ 1400000000, 0 };
	ok(futimens(fd, ts), "futimens");
	close(fd);
	stat("f", &st);
	eq(st.st_mtim.tv_sec, 1400000000, "futimens set mtime");
	ts[0] = ts[1] = (struct timespec){ 1100000000, 0 };
	ok(utimensat(AT_FDCWD, "l", ts, AT_SYMLINK_NOFOLLOW),
	    "utimensat AT_SYMLINK_NOFOLLOW on a symlink");
	lstat("l", &st);
	eq(st.st_mtim.tv_sec, 1100000000, "the link's mtime is set");
	stat("f", &st);
	eq(st.st_mtim.tv_sec, 1400000000, "its target's mtime is not");
	ts[0] = ts[1] = (struct timespec){ -86400LL * 365, 0 };
	ok(utimensat(AT_FDCWD, "f", ts, 0), "utimensat to a time before 1970");
	stat("f", &st);
	eq(st.st_mtim.tv_sec, -86400LL * 365, "the pre-1970 mtime reads back");
	fails(utimensat(AT_FDCWD, "missing", NULL, 0), ENOENT, 0,
	    "utimensat a missing file: ENOENT");
}

/* Time stamps that must move: one pause, then every operation. */
static void
t_times(void)
{
	static const char *files[] = { "c_chmod", "c_chown", "c_link", "c_trunc",
		"c_write", "c_utime" };
	static const char *dirs[] = { "p_create", "p_unlink", "p_rsrc", "p_rdst",
		"p_mkdir", "p_rmdir", "p_symlink", "p_link" };
	enum { NF = 6, ND = 8 };
	struct stat bf[NF], bd[ND], st;
	struct timespec ts[2] = { { 1, 0 }, { 1, 0 } }, pause = { 1, 100000000 };
	struct timespec lo, hi;
	int i, fd;
	char what[128];

	for (i = 0; i < NF; i++)
		put(files[i], "0123456789");
	for (i = 0; i < ND; i++)
		mkdir(dirs[i], 0755);
	put("p_unlink/victim", "");
	put("p_rsrc/mv", "");
	mkdir("p_rmdir/sub", 0755);
	for (i = 0; i < NF; i++)
		stat(files[i], &bf[i]);
	for (i = 0; i < ND; i++)
		stat(dirs[i], &bd[i]);
	nanosleep(&pause, NULL);

	lo = now();
	chmod("c_chmod", 0600);
	chown("c_chown", is_root ? UID_A : geteuid(), is_root ? GID_A : getegid());
	link("c_link", "c_link2");
	truncate("c_trunc", 3);
	fd = open("c_write", O_WRONLY);
	write(fd, "y", 1);
	close(fd);
	utimensat(AT_FDCWD, "c_utime", ts, 0);
	put("p_create/new", "");
	unlink("p_unlink/victim");
	rename("p_rsrc/mv", "p_rdst/mv");
	mkdir("p_mkdir/sub", 0755);
	rmdir("p_rmdir/sub");
	symlink("x", "p_symlink/l");
	link("c_utime", "p_link/l");
	hi = now();

	for (i = 0; i < NF; i++) {
		stat(files[i], &st);
		snprintf(what, sizeof what, "%s changes ctime", files[i] + 2);
		check(ts_gt(st.st_ctim, bf[i].st_ctim), what, "unchanged");
	}
	stat("c_chmod", &st);
	check(ts_eq(st.st_mtim, bf[0].st_mtim), "chmod does not change mtime", "changed");
	stat("c_trunc", &st);
	check(ts_gt(st.st_mtim, bf[3].st_mtim), "truncate changes mtime", "unchanged");
	stat("c_write", &st);
	check(ts_gt(st.st_mtim, bf[4].st_mtim), "write changes mtime", "unchanged");
	for (i = 0; i < ND; i++) {
		stat(dirs[i], &st);
		snprintf(what, sizeof what, "%s in a directory changes its mtime",
		    dirs[i] + 2);
		check(ts_gt(st.st_mtim, bd[i].st_mtim), what, "unchanged");
		snprintf(what, sizeof what, "%s in a directory changes its ctime",
		    dirs[i] + 2);
		check(ts_gt(st.st_ctim, bd[i].st_ctim), what, "unchanged");
	}
	if (stat("p_create/new", &st) == 0)
		check(ts_near(st.st_mtim, lo, hi) && ts_near(st.st_ctim, lo, hi) &&
		    ts_near(st.st_atim, lo, hi), "a new file's times are now",
		    "%ld", (long)st.st_mtim.tv_sec);
}

static void
child_create(void)
{
	struct stat st;
	int fd = open("open/f", O_CREAT | O_WRONLY, 0644);

	if (ok(fd, "create as another user") && fstat(fd, &st) == 0) {
		eq(st.st_uid, UID_A, "a new file takes the caller's euid");
		eq(st.st_gid, GID_A, "a new file takes the caller's egid");
	}
	close(fd);
	if (ok(mkdir("open/d", 0755), "mkdir as another user") &&
	    stat("open/d", &st) == 0)
		check(st.st_uid == UID_A && st.st_gid == GID_A,
		    "a new directory takes the caller's ids", "%u:%u", st.st_uid,
		    st.st_gid);
	if (ok(symlink("t", "open/l"), "symlink as another user") &&
	    lstat("open/l", &st) == 0)
		check(st.st_uid == UID_A && st.st_gid == GID_A,
		    "a new symlink takes the caller's ids", "%u:%u", st.st_uid,
		    st.st_gid);
	if (ok(mkfifo("open/p", 0644), "mkfifo as another user") &&
	    lstat("open/p", &st) == 0)
		check(st.st_uid == UID_A && st.st_gid == GID_A,
		    "a new FIFO takes the caller's ids", "%u:%u", st.st_uid, st.st_gid);
	fd = open("sg/cf", O_CREAT | O_WRONLY, 0644);
	if (ok(fd, "create in a set-gid directory as another user") &&
	    fstat(fd, &st) == 0)
		check(st.st_uid == UID_A && st.st_gid == GID_S,
		    "it takes the caller's uid and the directory's gid", "%u:%u",
		    st.st_uid, st.st_gid);
	close(fd);
	if (ok(mkdir("sg/cd", 0755), "mkdir in a set-gid directory as another user") &&
	    stat("sg/cd", &st) == 0) {
		eq(st.st_gid, GID_S, "the subdirectory takes the directory's gid");
		check(st.st_mode & S_ISGID, "and inherits S_ISGID", "mode 0%o",
		    st.st_mode);
	}
}

static void
t_owner(void)
{
	struct stat st;

	if (!is_root) {
		skipped("ownership of new files as other users", "needs root");
		return;
	}
	put("mine", "");
	stat("mine", &st);
	check(st.st_uid == geteuid() && st.st_gid == getegid(),
	    "root's new file is root's", "%u:%u", st.st_uid, st.st_gid);
	mkdir("open", 0777);
	mkdir("sg", 0777);
	chown("sg", 0, GID_S);
	ok(chmod("sg", 02777), "chmod a directory set-gid");
	stat("sg", &st);
	eq_mode(st.st_mode, S_IFDIR | 02777, "the set-gid directory's mode");
	put("sg/rootfile", "");
	stat("sg/rootfile", &st);
	eq(st.st_gid, GID_S, "a file created in a set-gid directory takes its gid");
	mkdir("sg/sub", 0755);
	stat("sg/sub", &st);
	check(st.st_gid == GID_S && (st.st_mode & S_ISGID),
	    "a directory created there takes its gid and S_ISGID", "gid %u mode 0%o",
	    st.st_gid, st.st_mode);
	as_user(UID_A, GID_A, child_create);
	if (stat("open/f", &st) == 0)
		check(st.st_uid == UID_A && st.st_gid == GID_A,
		    "root sees the other user's file with its ids", "%u:%u",
		    st.st_uid, st.st_gid);
}

static void
sticky_a(void)
{
	ok(put("tmp/a", "A"), "user A creates a file in the sticky directory");
	ok(put("tmp/a2", "A"), "user A creates a second file");
}

static void
sticky_b(void)
{
	fails(unlink("tmp/a"), EPERM, EACCES,
	    "user B unlinks A's file in a sticky directory: EPERM|EACCES");
	fails(rename("tmp/a", "tmp/b-took"), EPERM, EACCES,
	    "user B renames A's file away: EPERM|EACCES");
	ok(put("tmp/b", "B"), "user B creates its own file");
	fails(rename("tmp/b", "tmp/a"), EPERM, EACCES,
	    "user B renames over A's file: EPERM|EACCES");
	ok(rename("tmp/b", "tmp/b2"), "user B renames its own file");
	ok(unlink("tmp/b2"), "user B unlinks its own file");
}

static void
sticky_a_del(void)
{
	ok(unlink("tmp/a"), "user A unlinks its own file");
}

static void
sticky_c_del(void)
{
	ok(unlink("tmp/a2"), "the directory's owner unlinks A's file");
}

static void
t_sticky(void)
{
	struct stat st;

	if (!is_root) {
		skipped("sticky directories", "needs root");
		return;
	}
	mkdir("tmp", 0777);
	ok(chmod("tmp", 01777), "chmod 1777");
	chown("tmp", UID_C, GID_C);
	stat("tmp", &st);
	eq_mode(st.st_mode, S_IFDIR | 01777, "the sticky directory's mode");
	as_user(UID_A, GID_A, sticky_a);
	as_user(UID_B, GID_B, sticky_b);
	check(stat("tmp/a", &st) == 0 && st.st_uid == UID_A, "A's file survived B",
	    "%s", en(errno));
	has("tmp/a", "A", "with its contents");
	as_user(UID_A, GID_A, sticky_a_del);
	as_user(UID_C, GID_C, sticky_c_del);
}

static void
perms_child(void)
{
	struct timespec ts[2] = { { 1, 0 }, { 1, 0 } };
	struct stat st;
	int fd;

	fails(open("r644", O_WRONLY), EACCES, 0, "write-open another's 0644 file: EACCES");
	fd = open("r644", O_RDONLY);
	if (ok(fd, "read-open another's 0644 file"))
		close(fd);
	fails(open("r600", O_RDONLY), EACCES, 0, "read-open another's 0600 file: EACCES");
	fails(open("rdir/new", O_CREAT | O_WRONLY, 0644), EACCES, 0,
	    "create in another's 0755 directory: EACCES");
	fails(unlink("rdir/f"), EACCES, 0, "unlink in another's 0755 directory: EACCES");
	fails(mkdir("rdir/sub", 0755), EACCES, 0,
	    "mkdir in another's 0755 directory: EACCES");
	fails(rename("rdir/f", "rdir/g"), EACCES, 0,
	    "rename in another's 0755 directory: EACCES");
	fails(fstatat(AT_FDCWD, "r700/f", &st, 0), EACCES, 0,
	    "look up through another's 0700 directory: EACCES");
	fails(chmod("r644", 0666), EPERM, 0, "chmod another's file: EPERM");
	fails(chown("r644", UID_A, GID_A), EPERM, 0, "chown another's file: EPERM");
	fails(truncate("r644", 0), EACCES, 0, "truncate another's 0644 file: EACCES");
	fails(utimensat(AT_FDCWD, "r666", ts, 0), EPERM, 0,
	    "set explicit times on another's file: EPERM");
	ok(utimensat(AT_FDCWD, "r666", NULL, 0),
	    "set the current time on another's writable file");
	fails(setxattr("r644", "user.x", "v", 1, 0), EACCES, EPERM,
	    "setxattr on another's 0644 file: EACCES|EPERM");
	ok(put("open/mine", "m"), "create one's own file");
	ok(chmod("open/mine", 0600), "chmod one's own file");
	fails(chown("open/mine", UID_B, -1), EPERM, 0, "give one's file away: EPERM");
	ok(chown("open/mine", -1, GID_A), "chown one's file to one's own group");
}

static void
t_perms(void)
{
	if (!is_root) {
		skipped("permission checks as another user", "needs root");
		return;
	}
	put("r644", "x");
	put("r600", "x");
	chmod("r600", 0600);
	put("r666", "x");
	chmod("r666", 0666);
	mkdir("rdir", 0755);
	put("rdir/f", "");
	mkdir("r700", 0700);
	put("r700/f", "");
	mkdir("open", 0777);
	as_user(UID_A, GID_A, perms_child);
	has("r644", "x", "another's file is intact");
}

/* Write to and truncate root's set-uid/set-gid files as another uid. */
static void
killpriv_child(void)
{
	int fd;

	fd = open("sx", O_WRONLY | O_APPEND);
	if (ok(fd, "write-open another's 06777 file")) {
		ok(write(fd, "y", 1) == 1 ? 0 : -1, "write to it");
		close(fd);
	}
	ok(truncate("st", 1), "truncate another's 06777 file");
	fd = open("sg", O_WRONLY | O_APPEND);
	if (ok(fd, "write-open another's 02666 file")) {
		ok(write(fd, "y", 1) == 1 ? 0 : -1, "write to it");
		close(fd);
	}
}

/*
 * A write or truncate by a process without CAP_FSETID clears set-uid, and
 * set-gid when the group may execute (else set-gid marks mandatory
 * locking and stays, at least for a writer in the file's group: newer
 * kernels clear it for others, FUSE's own rule does not); root's own
 * writes keep both.
 */
static void
t_killpriv(void)
{
	struct stat st;
	int fd;

	if (!is_root) {
		skipped("set-uid/set-gid cleared by another's write", "needs root");
		return;
	}
	put("sx", "x");
	chmod("sx", 06777);
	put("st", "xx");
	chmod("st", 06777);
	put("sg", "x");
	chown("sg", 0, GID_A);	/* the writer is in its group */
	chmod("sg", 02666);
	put("sr", "x");
	chmod("sr", 06777);
	as_user(UID_A, GID_A, killpriv_child);
	if (ok(stat("sx", &st), "stat the file written"))
		eq_mode(st.st_mode & 07777, 0777,
		    "a write by another uid clears set-uid and set-gid");
	has("sx", "xy", "and its bytes are there");
	if (ok(stat("st", &st), "stat the file truncated"))
		eq_mode(st.st_mode & 07777, 0777,
		    "a truncate by another uid clears set-uid and set-gid");
	if (ok(stat("sg", &st), "stat the 02666 file written"))
		eq_mode(st.st_mode & 07777, 02666,
		    "set-gid without group execute stays (writer in its group)");
	fd = open("sr", O_WRONLY | O_APPEND);
	if (ok(fd, "write-open one's own 06777 file as root")) {
		ok(write(fd, "y", 1) == 1 ? 0 : -1, "write to it");
		close(fd);
	}
	if (ok(stat("sr", &st), "stat it"))
		eq_mode(st.st_mode & 07777, 06777,
		    "root's write (CAP_FSETID) keeps set-uid and set-gid");
}

/* Does the NUL-separated list of n bytes hold name exactly once? */
static int
list_count(const char *list, ssize_t n, const char *name)
{
	ssize_t off = 0;
	int c = 0;

	while (off < n) {
		if (strcmp(list + off, name) == 0)
			c++;
		off += strlen(list + off) + 1;
	}
	return c;
}

static void
t_xattr(void)
{
	unsigned char bin[1024], got[1100];
	char buf[4096];
	ssize_t n;
	int fd, i;

	put("f", "");
	ok(setxattr("f", "user.test", "v1", 2, 0), "setxattr user.test");
	eq(getxattr("f", "user.test", NULL, 0), 2, "getxattr size query");
	memset(buf, 0, sizeof buf);
	check(getxattr("f", "user.test", buf, sizeof buf) == 2 &&
	    strcmp(buf, "v1") == 0, "getxattr returns the value", "got \"%s\"", buf);
	fails(getxattr("f", "user.test", buf, 1), ERANGE, 0,
	    "getxattr into a short buffer: ERANGE");
	n = listxattr("f", NULL, 0);
	check(n >= 10, "listxattr size query", "got %zd", n);
	n = listxattr("f", buf, sizeof buf);
	eq(list_count(buf, n, "user.test"), 1, "listxattr lists the name once");
	fails(getxattr("f", "user.missing", buf, sizeof buf), ENODATA, 0,
	    "getxattr a missing name: ENODATA");
	fails(setxattr("f", "user.test", "x", 1, XATTR_CREATE), EEXIST, 0,
	    "XATTR_CREATE on an existing name: EEXIST");
	fails(setxattr("f", "user.new", "x", 1, XATTR_REPLACE), ENODATA, 0,
	    "XATTR_REPLACE on a missing name: ENODATA");
	ok(setxattr("f", "user.test", "v2-longer", 9, XATTR_REPLACE),
	    "XATTR_REPLACE an existing name");
	memset(buf, 0, sizeof buf);
	check(getxattr("f", "user.test", buf, sizeof buf) == 9 &&
	    strcmp(buf, "v2-longer") == 0, "the value was replaced", "got \"%s\"", buf);
	ok(setxattr("f", "user.new", "", 0, XATTR_CREATE), "XATTR_CREATE an empty value");
	eq(getxattr("f", "user.new", buf, sizeof buf), 0, "the empty value reads back");
	for (i = 0; i < 1024; i++)
		bin[i] = (unsigned char)(i * 7);
	ok(setxattr("f", "user.bin", bin, sizeof bin, 0), "setxattr a 1 KiB binary value");
	n = getxattr("f", "user.bin", got, sizeof got);
	check(n == 1024 && memcmp(got, bin, 1024) == 0,
	    "the binary value (with NUL bytes) reads back byte-exact", "length %zd", n);
	ok(removexattr("f", "user.test"), "removexattr");
	fails(getxattr("f", "user.test", buf, sizeof buf), ENODATA, 0,
	    "a removed name: ENODATA");
	n = listxattr("f", buf, sizeof buf);
	check(list_count(buf, n, "user.test") == 0 && list_count(buf, n, "user.new") == 1 &&
	    list_count(buf, n, "user.bin") == 1, "listxattr after the removal",
	    "wrong list");
	fails(removexattr("f", "user.test"), ENODATA, 0,
	    "removexattr a missing name: ENODATA");
	mkdir("d", 0755);
	ok(setxattr("d", "user.dir", "dv", 2, 0), "setxattr on a directory");
	eq(getxattr("d", "user.dir", buf, sizeof buf), 2, "getxattr on a directory");
	fd = open("f", O_RDWR);
	ok(fsetxattr(fd, "user.fd", "fv", 2, 0), "fsetxattr");
	eq(fgetxattr(fd, "user.fd", buf, sizeof buf), 2, "fgetxattr");
	close(fd);
	symlink("f", "l");
	fails(lsetxattr("l", "user.x", "v", 1, 0), EPERM, 0,
	    "user.* on a symlink: EPERM");
	rename("f", "f2");
	eq(getxattr("f2", "user.bin", NULL, 0), 1024, "xattrs move with a rename");
	fails(getxattr("missing", "user.x", buf, sizeof buf), ENOENT, 0,
	    "getxattr on a missing file: ENOENT");
}

static void
t_names(void)
{
	char n255[256], n256[257], m255[256], path[600], u[300];
	struct stat st;
	char **v;
	size_t n, i;
	int fd, c = 0;

	memset(n255, 'n', 255), n255[255] = 0;
	memset(n256, 'n', 256), n256[256] = 0;
	memset(m255, 'm', 255), m255[255] = 0;
	fd = open(n255, O_CREAT | O_WRONLY, 0644);
	if (ok(fd, "create a 255-byte name"))
		close(fd);
	ok(stat(n255, &st), "stat the 255-byte name");
	v = list_names(AT_FDCWD, &n);
	for (i = 0; i < n; i++)
		c += strcmp(v[i], n255) == 0;
	free_names(v, n);
	eq(c, 1, "readdir lists the 255-byte name once");
	fails(open(n256, O_CREAT | O_WRONLY, 0644), ENAMETOOLONG, 0,
	    "create a 256-byte name: ENAMETOOLONG");
	fails(stat(n256, &st), ENAMETOOLONG, 0, "stat a 256-byte name: ENAMETOOLONG");
	fails(mkdir(n256, 0755), ENAMETOOLONG, 0, "mkdir a 256-byte name: ENAMETOOLONG");
	fails(rename(n255, n256), ENAMETOOLONG, 0,
	    "rename to a 256-byte name: ENAMETOOLONG");
	fails(symlink("x", n256), ENAMETOOLONG, 0,
	    "symlink named with 256 bytes: ENAMETOOLONG");
	fails(link(n255, n256), ENAMETOOLONG, 0, "link to a 256-byte name: ENAMETOOLONG");
	fails(mknod(n256, S_IFIFO | 0644, 0), ENAMETOOLONG, 0,
	    "mknod a 256-byte name: ENAMETOOLONG");
	ok(mkdir(m255, 0755), "mkdir a 255-byte name");
	snprintf(path, sizeof path, "%s/%s", m255, n255);
	ok(rename(n255, path), "rename a 255-byte name into a 255-byte directory");
	ok(put(path, "deep"), "write through a path of two 255-byte names");
	has(path, "deep", "read it back");
	for (i = 0; i < 127; i++)
		memcpy(u + 2 * i, "\xc3\xa9", 2);
	u[254] = 'x', u[255] = 0;
	ok(put(u, "u"), "a 255-byte UTF-8 name (127 two-byte characters)");
	memcpy(u + 254, "\xc3\xa9", 3);
	fails(open(u, O_CREAT | O_WRONLY, 0644), ENAMETOOLONG, 0,
	    "a 256-byte UTF-8 name of 128 characters: ENAMETOOLONG");
}

/* Names made of every byte 1-255 except '/': one name per byte ("." by
 * itself is taken, so "x.x" stands in for it) and one name of all 254. */
static void
t_bytes(void)
{
	char names[256][256], buf[8];
	int seen[256] = { 0 }, k = 0, i, b, bad = -1, extra = 0, good = 1;
	char **v;
	size_t n, j;

	for (b = 1; b < 256; b++) {
		if (b == '/')
			continue;
		if (b == '.')
			strcpy(names[k++], "x.x");
		else
			names[k][0] = (char)b, names[k++][1] = 0;
	}
	for (b = 1, i = 0; b < 256; b++)
		if (b != '/')
			names[k][i++] = (char)b;
	names[k++][i] = 0;
	for (i = 0; i < k; i++) {
		char data[2] = { (char)(i + 1), 0 };
		if (put(names[i], data) == -1 && good)
			good = 0, bad = i;
	}
	check(good, "create a file for every byte 1-255 (not '/'), and one with all",
	    "name #%d (byte 0x%02x): %s", bad, bad >= 0 ? (unsigned char)names[bad][0] : 0,
	    en(errno));
	v = list_names(AT_FDCWD, &n);
	for (j = 0; j < n; j++) {
		for (i = 0; i < k && strcmp(v[j], names[i]) != 0; i++)
			;
		if (i < k)
			seen[i]++;
		else
			extra++;
	}
	free_names(v, n);
	for (i = 0, bad = -1; i < k; i++)
		if (seen[i] != 1 && bad < 0)
			bad = i;
	check(bad < 0 && extra == 0, "readdir returns each of the 255 names exactly once",
	    "name #%d seen %d times; %d unexpected", bad, bad >= 0 ? seen[bad] : 0, extra);
	for (i = 0, good = 1; i < k; i++)
		if (get(names[i], buf, sizeof buf) != 1 || buf[0] != (char)(i + 1))
			good = 0, bad = i;
	check(good, "open and read each name", "name #%d", bad);
	for (i = 0, good = 1; i < k; i++)
		if (unlink(names[i]) == -1)
			good = 0, bad = i;
	check(good, "unlink each name", "name #%d: %s", bad, en(errno));
	v = list_names(AT_FDCWD, &n);
	eq(n, 0, "the directory is empty again");
	free_names(v, n);
}

static void
t_deep(void)
{
	char path[1200] = "", cwd[2000];
	int i, good = 1, fd, home = open(".", O_RDONLY | O_DIRECTORY);
	size_t len;

	for (i = 0; i < 100; i++) {
		strcat(path, i ? "/level" : "level");
		if (mkdir(path, 0755) == -1) {
			good = 0;
			break;
		}
	}
	check(good, "mkdir 100 nested directories", "level %d: %s", i, en(errno));
	len = strlen(path);
	strcat(path, "/leaf");
	ok(put(path, "deep"), "create a file 100 levels down");
	has(path, "deep", "read it by its full path");
	path[len] = 0;
	for (i = 0, good = 1; i < 100; i++)
		if (chdir("level") == -1)
			good = 0;
	check(good, "chdir down 100 levels one at a time", "%s", en(errno));
	has("leaf", "deep", "read the file from there");
	if (ok(getcwd(cwd, sizeof cwd) ? 0 : -1, "getcwd 100 levels down")) {
		size_t cl = strlen(cwd);
		check(cl > len && strcmp(cwd + cl - len, path) == 0,
		    "getcwd ends in the 100 levels", "%s", cwd + (cl > 60 ? cl - 60 : 0));
	}
	fchdir(home);
	close(home);
	strcat(path, "/leaf");
	good = unlink(path) == 0;
	path[len] = 0;
	for (i = 0; i < 100 && good; i++) {
		char *slash;
		if (rmdir(path) == -1)
			good = 0;
		if ((slash = strrchr(path, '/')) != NULL)
			*slash = 0;
	}
	check(good, "remove the 100 levels bottom-up", "%s", en(errno));
	fd = open("level", O_RDONLY);
	check(fd == -1, "nothing is left", "level still there");
}

/* Paths up to PATH_MAX, and deeper than PATH_MAX by descriptors. */
static void
t_pathmax(void)
{
	enum { LEVELS = 16, DEEPER = 8 };
	char comp[251], file[81], *path = malloc(PATH_MAX + 200), buf[16];
	int fd, fd2, i, good = 1, home = open(".", O_RDONLY | O_DIRECTORY);
	size_t len;

	memset(comp, 'p', 250), comp[250] = 0;
	path[0] = 0;
	for (i = 0; i < LEVELS; i++) {
		if (i)
			strcat(path, "/");
		strcat(path, comp);
		if (mkdir(path, 0755) == -1)
			good = 0;
	}
	len = strlen(path);
	check(good, "mkdir by relative paths up to 4,015 bytes", "%s", en(errno));
	memset(file, 'f', 79), file[79] = 0;
	sprintf(path + len, "/%s", file);
	eq(strlen(path), PATH_MAX - 1, "the file's path is PATH_MAX - 1 bytes");
	fd = open(path, O_CREAT | O_WRONLY, 0644);
	if (ok(fd, "create by a 4,095-byte path")) {
		ok(write(fd, "edge", 4), "write it");
		close(fd);
	}
	eq(size_of(path), 4, "stat by the 4,095-byte path");
	has(path, "edge", "read by the 4,095-byte path");
	strcat(path, "f");
	fails(open(path, O_CREAT | O_WRONLY, 0644), ENAMETOOLONG, 0,
	    "a 4,096-byte path: ENAMETOOLONG");
	fd = open(".", O_RDONLY | O_DIRECTORY);
	for (i = 0; i < LEVELS && fd != -1; i++) {
		fd2 = openat(fd, comp, O_RDONLY | O_DIRECTORY);
		close(fd);
		fd = fd2;
	}
	fd2 = fd == -1 ? -1 : openat(fd, file, O_RDONLY);
	memset(buf, 0, sizeof buf);
	check(fd2 != -1 && read(fd2, buf, sizeof buf) == 4 && strcmp(buf, "edge") == 0,
	    "read it through an openat chain", "%s", en(errno));
	close(fd2);
	for (i = 0, good = 1; i < DEEPER && fd != -1; i++) {
		if (mkdirat(fd, comp, 0755) == -1)
			good = 0;
		fd2 = openat(fd, comp, O_RDONLY | O_DIRECTORY);
		close(fd);
		fd = fd2;
	}
	check(good && fd != -1, "mkdirat 8 levels deeper, past 6,000 bytes",
	    "%s", en(errno));
	fd2 = fd == -1 ? -1 : openat(fd, "deepest", O_CREAT | O_RDWR, 0644);
	if (ok(fd2, "create a file beyond PATH_MAX with openat")) {
		write(fd2, "beyond", 6);
		close(fd2);
		struct stat st;
		check(fstatat(fd, "deepest", &st, 0) == 0 && st.st_size == 6,
		    "fstatat it", "%s", en(errno));
		fd2 = openat(fd, "deepest", O_RDONLY);
		memset(buf, 0, sizeof buf);
		check(read(fd2, buf, sizeof buf) == 6 && strcmp(buf, "beyond") == 0,
		    "read it back", "got \"%s\"", buf);
		close(fd2);
	}
	close(fd);
	for (i = 0, good = 1; i < LEVELS + DEEPER; i++)
		if (chdir(comp) == -1)
			good = 0;
	check(good, "chdir down 24 levels of 250-byte names", "%s", en(errno));
	has("deepest", "beyond", "open relative to that cwd");
	fchdir(home);
	close(home);
	check(rm_tree_at(AT_FDCWD, comp) == 0 && !exists(comp),
	    "remove the tree deeper than PATH_MAX", "%s", en(errno));
	free(path);
}

static void
t_zero(void)
{
	struct stat st;
	char buf[8];
	int fd;

	fd = open("z", O_CREAT | O_EXCL | O_RDWR, 0644);
	ok(fd, "create an empty file");
	eq(write(fd, "", 0), 0, "write of 0 bytes");
	close(fd);
	eq(size_of("z"), 0, "an empty file has size 0");
	fd = open("z", O_RDONLY);
	eq(read(fd, buf, sizeof buf), 0, "reading it gives end of file");
	eq(pread(fd, buf, sizeof buf, 100), 0, "pread past its end gives 0");
	fstat(fd, &st);
	eq(st.st_size, 0, "fstat size 0");
	close(fd);
	put("nz", "abc");
	fd = open("nz", O_WRONLY | O_TRUNC);
	close(fd);
	eq(size_of("nz"), 0, "O_TRUNC empties a file");
	put("nz2", "abc");
	truncate("nz2", 0);
	eq(size_of("nz2"), 0, "truncate 0 empties a file");
	eq(get("nz2", buf, sizeof buf), 0, "and reading it gives nothing");
	ok(mknod("z2", S_IFREG | 0644, 0), "mknod an empty regular file");
	eq(size_of("z2"), 0, "size 0");
}

static void
t_readdir(void)
{
	enum { N = 1000 };
	int seen[N] = { 0 }, dots = 0, dotdots = 0, extra = 0, badtype = 0, badino = 0;
	int i, bad, fd, good = 1;
	char name[NAME_MAX + 1];
	struct dirent *e;
	struct stat st;
	DIR *d;
	long pos;

	mkdir("big", 0755);
	for (i = 0; i < N; i++) {
		snprintf(name, sizeof name, "big/f%04d", i);
		if ((fd = open(name, O_CREAT | O_EXCL | O_WRONLY, 0644)) == -1)
			good = 0;
		close(fd);
	}
	check(good, "create 1,000 files in one directory", "%s", en(errno));
	d = opendir("big");
	if (!ok(d ? 0 : -1, "opendir"))
		return;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0) {
			dots++;
			continue;
		}
		if (strcmp(e->d_name, "..") == 0) {
			dotdots++;
			continue;
		}
		if (sscanf(e->d_name, "f%4d", &i) == 1 && i >= 0 && i < N &&
		    strlen(e->d_name) == 5)
			seen[i]++;
		else
			extra++;
		if (e->d_type != DT_REG && e->d_type != DT_UNKNOWN)
			badtype++;
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1 ||
		    st.st_ino != e->d_ino)
			badino++;
	}
	for (i = 0, bad = -1; i < N; i++)
		if (seen[i] != 1 && bad < 0)
			bad = i;
	check(bad < 0, "readdir returns each of 1,000 files exactly once",
	    "f%04d seen %d times", bad, bad >= 0 ? seen[bad] : 0);
	eq(extra, 0, "readdir returns no other names");
	check(dots == 1 && dotdots == 1, "'.' and '..' once each", "%d and %d", dots,
	    dotdots);
	eq(badtype, 0, "d_type is DT_REG (or DT_UNKNOWN)");
	eq(badino, 0, "d_ino equals st_ino");
	rewinddir(d);
	for (i = 0; readdir(d) != NULL; i++)
		;
	eq(i, N + 2, "rewinddir then readdir again lists all");
	rewinddir(d);
	for (i = 0; i < 100; i++)
		readdir(d);
	pos = telldir(d);
	e = readdir(d);
	snprintf(name, sizeof name, "%s", e ? e->d_name : "");
	seekdir(d, pos);
	e = readdir(d);
	check(e != NULL && strcmp(e->d_name, name) == 0,
	    "seekdir returns to a telldir position", "%s vs %s", e ? e->d_name : "end",
	    name);
	closedir(d);
	for (i = 0, good = 1; i < N; i += 2) {
		snprintf(name, sizeof name, "big/f%04d", i);
		if (unlink(name) == -1)
			good = 0;
	}
	check(good, "unlink the 500 even ones", "%s", en(errno));
	memset(seen, 0, sizeof seen);
	d = opendir("big");
	extra = 0;
	while (d && (e = readdir(d)) != NULL)
		if (sscanf(e->d_name, "f%4d", &i) == 1 && i >= 0 && i < N)
			seen[i]++;
		else if (e->d_name[0] != '.')
			extra++;
	if (d)
		closedir(d);
	for (i = 0, bad = -1; i < N; i++)
		if (seen[i] != (i & 1) && bad < 0)
			bad = i;
	check(bad < 0 && extra == 0, "then readdir returns exactly the 500 odd ones",
	    "f%04d seen %d times", bad, bad >= 0 ? seen[bad] : 0);

	mkdir("empty", 0755);
	d = opendir("empty");
	for (i = 0; d && (e = readdir(d)) != NULL; i++)
		;
	if (d)
		closedir(d);
	eq(i, 2, "an empty directory lists only . and ..");
	mkdir("types", 0755);
	put("types/reg", "");
	mkdir("types/dir", 0755);
	symlink("reg", "types/lnk");
	mkfifo("types/fifo", 0644);
	d = opendir("types");
	for (badtype = 0; d && (e = readdir(d)) != NULL;) {
		unsigned char want = strcmp(e->d_name, "reg") == 0 ? DT_REG :
		    strcmp(e->d_name, "lnk") == 0 ? DT_LNK :
		    strcmp(e->d_name, "fifo") == 0 ? DT_FIFO : DT_DIR;
		if (e->d_type != want && e->d_type != DT_UNKNOWN)
			badtype++;
	}
	if (d)
		closedir(d);
	eq(badtype, 0, "d_type matches the file type (or DT_UNKNOWN)");
}

static void
t_statfs(void)
{
	struct statvfs sv;
	struct statfs sf;
	int fd;

	if (ok(statvfs(".", &sv), "statvfs")) {
		check(sv.f_bsize > 0, "f_bsize > 0", "%lu", sv.f_bsize);
		check(sv.f_frsize > 0, "f_frsize > 0", "%lu", sv.f_frsize);
		check(sv.f_blocks > 0, "f_blocks > 0", "%llu",
		    (unsigned long long)sv.f_blocks);
		check(sv.f_bfree <= sv.f_blocks && sv.f_bavail <= sv.f_blocks,
		    "f_bfree and f_bavail <= f_blocks", "%llu %llu of %llu",
		    (unsigned long long)sv.f_bfree, (unsigned long long)sv.f_bavail,
		    (unsigned long long)sv.f_blocks);
	}
	eq(pathconf(".", _PC_NAME_MAX), 255, "pathconf _PC_NAME_MAX is 255");
	fd = open(".", O_RDONLY | O_DIRECTORY);
	ok(fstatvfs(fd, &sv), "fstatvfs");
	close(fd);
	if (ok(statfs(".", &sf), "statfs"))
		check(sf.f_bsize > 0, "statfs f_bsize > 0", "%ld", (long)sf.f_bsize);
	fails(statvfs("missing", &sv), ENOENT, 0, "statvfs a missing path: ENOENT");
}

/* ---------------------------------------------------------------- main */

static const struct section {
	const char *name;
	void (*fn)(void);
} sections[] = {
	{ "stat", t_stat },
	{ "open", t_open },
	{ "rw", t_rw },
	{ "truncate", t_truncate },
	{ "sparse", t_sparse },
	{ "big", t_big },
	{ "mkdir", t_mkdir },
	{ "unlink", t_unlink },
	{ "unlink-open", t_unlink_open },
	{ "rename", t_rename },
	{ "renameat2", t_rename2 },
	{ "link", t_link },
	{ "symlink", t_symlink },
	{ "mknod", t_mknod },
	{ "attrs", t_attrs },
	{ "times", t_times },
	{ "owner", t_owner },
	{ "sticky", t_sticky },
	{ "perms", t_perms },
	{ "killpriv", t_killpriv },
	{ "xattr", t_xattr },
	{ "names", t_names },
	{ "bytes", t_bytes },
	{ "deep", t_deep },
	{ "pathmax", t_pathmax },
	{ "zero", t_zero },
	{ "readdir", t_readdir },
	{ "statfs", t_statfs },
};

static int
wanted(const char *name, int argc, char **argv)
{
	int i;

	if (argc <= 2)
		return 1;
	for (i = 2; i < argc; i++)
		if (strcmp(argv[i], name) == 0)
			return 1;
	return 0;
}

int
main(int argc, char **argv)
{
	char top[64];
	size_t i;
	int home;

	if (argc < 2 || argv[1][0] == '-') {
		fprintf(stderr, "usage: posix_suite DIR [SECTION...]\nsections:");
		for (i = 0; i < sizeof sections / sizeof sections[0]; i++)
			fprintf(stderr, " %s", sections[i].name);
		fprintf(stderr, "\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	tally = mmap(NULL, sizeof *tally, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (tally == MAP_FAILED) {
		perror("mmap");
		return 2;
	}
	is_root = geteuid() == 0;
	umask(0);
	snprintf(top, sizeof top, "posix-suite.%ld", (long)getpid());
	if (chdir(argv[1]) == -1 || mkdir(top, 0755) == -1 || chdir(top) == -1) {
		fprintf(stderr, "posix_suite: cannot set up %s/%s: %s\n", argv[1], top,
		    strerror(errno));
		return 2;
	}
	home = open(".", O_RDONLY | O_DIRECTORY);
	for (i = 0; i < sizeof sections / sizeof sections[0]; i++) {
		if (!wanted(sections[i].name, argc, argv))
			continue;
		sect = sections[i].name;
		if (mkdir(sect, 0755) == -1 || chdir(sect) == -1) {
			check(0, "set up the section's directory", "%s", en(errno));
			continue;
		}
		sections[i].fn();
		if (fchdir(home) == -1)
			check(0, "return to the suite's directory", "%s", en(errno));
	}
	sect = "cleanup";
	fchdir(home);
	close(home);
	chdir("..");
	check(rm_tree_at(AT_FDCWD, top) == 0 && !exists(top),
	    "remove everything the suite made", "%s", en(errno));
	printf("%d allowed differences, %d skipped\n", tally->allowed, tally->skip);
	printf("%d passed, %d failed\n", tally->pass, tally->fail);
	return tally->fail ? 1 : 0;
}
