/*
 * test_prealloc.c: zeros written ahead of a growing file (overlay/prealloc.c).
 *
 * Checks, in a file under TEST_PREALLOC_DIR (default /var/tmp, which
 * should be on a disk; the disk checks are skipped on a tmpfs): a slice at
 * a time is written until PREALLOC_AHEAD / 2 or more is ready, the file
 * then reads back as the user's bytes followed by zeros, and the user's
 * bytes are never touched; the limit is never passed; a user that outran
 * the ready space by more than half a slice (bulk writes) gets nothing
 * until it slows down; a filesystem in memory (/dev/shm) turns it off.
 */
#include <sys/stat.h>
#include <sys/statfs.h>

#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../overlay/prealloc.h"

#define TMPFS_MAGIC_ 0x01021994

/* A temp file in dir with len bytes of 0xAB; its fd (path in path). */
static int
mkfile(const char *dir, char *path, size_t pathlen, size_t len)
{
	uint8_t buf[4096];
	int fd;

	snprintf(path, pathlen, "%s/test_prealloc.XXXXXX", dir);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	memset(buf, 0xab, sizeof buf);
	for (size_t off = 0; off < len; off += sizeof buf)
		assert_int_equal(pwrite(fd, buf, sizeof buf, (off_t)off),
		    (ssize_t)sizeof buf);
	return fd;
}

/* The file's size. */
static uint64_t
fsize(int fd)
{
	struct stat st;

	assert_int_equal(fstat(fd, &st), 0);
	return (uint64_t)st.st_size;
}

/* Does [off, off + n) of fd hold byte b only? */
static int
all_bytes(int fd, uint64_t off, uint64_t n, uint8_t b)
{
	uint8_t buf[65536];

	while (n > 0) {
		size_t len = n < sizeof buf ? (size_t)n : sizeof buf;

		if (pread(fd, buf, len, (off_t)off) != (ssize_t)len)
			return 0;
		for (size_t i = 0; i < len; i++)
			if (buf[i] != b)
				return 0;
		off += len;
		n -= len;
	}
	return 1;
}

/* The directory to test in, or NULL (with a skip) if it is in memory. */
static const char *
disk_dir(void)
{
	const char *dir = getenv("TEST_PREALLOC_DIR");
	struct statfs sf;

	if (dir == NULL)
		dir = "/var/tmp";
	if (statfs(dir, &sf) == -1 ||
	    (unsigned long)sf.f_type == TMPFS_MAGIC_)
		return NULL;
	return dir;
}

/* Slices until half the lead is ready; bytes before used untouched. */
static void
test_ahead(void **state)
{
	const char *dir = disk_dir();
	char path[PATH_MAX];
	struct prealloc p;
	uint64_t used = 3 * 4096;
	int fd;

	(void)state;
	if (dir == NULL)
		skip();
	fd = mkfile(dir, path, sizeof path, used);
	prealloc_init(&p, fd, (uint64_t)1 << 30);
	assert_false(p.off);
	assert_int_equal(prealloc_ready(&p, used), 0);
	assert_int_equal(prealloc_run(&p, used), PREALLOC_SLICE);
	assert_int_equal(fsize(fd), used + PREALLOC_SLICE);
	while (prealloc_run(&p, used) > 0)
		;
	assert_true(prealloc_ready(&p, used) >= PREALLOC_AHEAD / 2);
	assert_true(prealloc_ready(&p, used) <= PREALLOC_AHEAD);
	assert_int_equal(fsize(fd), used + prealloc_ready(&p, used));
	assert_true(all_bytes(fd, 0, used, 0xab));
	assert_true(all_bytes(fd, used, fsize(fd) - used, 0));
	/* Nothing used since: nothing to do. */
	assert_int_equal(prealloc_run(&p, used), 0);
	/* The user writes into the ready space, below half the lead. */
	used += 4096;
	assert_int_equal(prealloc_run(&p, used), PREALLOC_SLICE);
	assert_true(all_bytes(fd, 0, 3 * 4096, 0xab));
	close(fd);
	unlink(path);
}

/* Never past the limit. */
static void
test_limit(void **state)
{
	const char *dir = disk_dir();
	char path[PATH_MAX];
	struct prealloc p;
	uint64_t used = 4096, limit = used + PREALLOC_AHEAD / 2 + 8192;
	int fd;

	(void)state;
	if (dir == NULL)
		skip();
	fd = mkfile(dir, path, sizeof path, used);
	prealloc_init(&p, fd, limit);
	while (prealloc_run(&p, used) > 0)
		;
	assert_true(fsize(fd) <= limit);
	assert_int_equal(prealloc_run(&p, limit - 4096), 0);
	assert_true(fsize(fd) <= limit);
	close(fd);
	unlink(path);
}

/* A bulk writer that outran the ready space gets nothing till it slows. */
static void
test_bulk(void **state)
{
	const char *dir = disk_dir();
	char path[PATH_MAX];
	struct prealloc p;
	uint64_t used = 4096;
	int fd;

	(void)state;
	if (dir == NULL)
		skip();
	fd = mkfile(dir, path, sizeof path, used);
	prealloc_init(&p, fd, (uint64_t)1 << 30);
	used += PREALLOC_SLICE; /* the user wrote this much itself */
	assert_int_equal(prealloc_run(&p, used), 0);
	assert_int_equal(fsize(fd), 4096);
	used += PREALLOC_SLICE;
	assert_int_equal(prealloc_run(&p, used), 0);
	/* Slower now (here: idle): preallocation resumes. */
	assert_int_equal(prealloc_run(&p, used), PREALLOC_SLICE);
	assert_int_equal(fsize(fd), used + PREALLOC_SLICE);
	close(fd);
	unlink(path);
}

/* Off in memory: a tmpfs file is never grown. */
static void
test_tmpfs_off(void **state)
{
	char path[PATH_MAX];
	struct statfs sf;
	struct prealloc p;
	int fd;

	(void)state;
	if (statfs("/dev/shm", &sf) == -1 ||
	    (unsigned long)sf.f_type != TMPFS_MAGIC_)
		skip();
	fd = mkfile("/dev/shm", path, sizeof path, 4096);
	prealloc_init(&p, fd, (uint64_t)1 << 30);
	assert_true(p.off);
	assert_int_equal(prealloc_run(&p, 4096), 0);
	assert_int_equal(fsize(fd), 4096);
	close(fd);
	unlink(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ahead),
		cmocka_unit_test(test_limit),
		cmocka_unit_test(test_bulk),
		cmocka_unit_test(test_tmpfs_off),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
