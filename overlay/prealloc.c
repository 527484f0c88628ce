/*
 * prealloc.c: written, zero-filled space ahead of a growing file (see
 * prealloc.h for why and when it is safe).
 */
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "prealloc.h"

#define PREALLOC_TMPFS_MAGIC 0x01021994
#define PREALLOC_RAMFS_MAGIC 0x858458f6
#define PREALLOC_CHUNK (64 * 1024)

/* Start on fd: ready up to the file's current size (written by LMDB). */
void
prealloc_init(struct prealloc *p, int fd, uint64_t limit)
{
	struct statfs sf;
	struct stat st;

	memset(p, 0, sizeof *p);
	p->fd = fd;
	p->limit = limit;
	if (fd < 0 || fstat(fd, &st) == -1 || fstatfs(fd, &sf) == -1) {
		p->off = true;
		return;
	}
	p->end = (uint64_t)st.st_size;
	if ((unsigned long)sf.f_type == PREALLOC_TMPFS_MAGIC ||
	    (unsigned long)sf.f_type == PREALLOC_RAMFS_MAGIC)
		p->off = true; /* nothing journalled to spare */
}

/* Is there room on the filesystem for n more bytes beside the reserve? */
static bool
prealloc_room(const struct prealloc *p, uint64_t n)
{
	struct statvfs sv;

	if (fstatvfs(p->fd, &sv) == -1)
		return false;
	return (uint64_t)sv.f_bavail * sv.f_frsize >= n + PREALLOC_RESERVE;
}

/* Write n zero bytes at off, then fdatasync.  0 or -1 (errno set). */
static int
prealloc_zero(int fd, uint64_t off, uint64_t n)
{
	static const uint8_t zeros[PREALLOC_CHUNK];
	ssize_t w;
	size_t len;

	while (n > 0) {
		len = n < sizeof zeros ? (size_t)n : sizeof zeros;
		if ((w = pwrite(fd, zeros, len, (off_t)off)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (w == 0) {
			errno = EIO;
			return -1;
		}
		off += (uint64_t)w;
		n -= (uint64_t)w;
	}
	return fdatasync(fd);
}

/*
 * Grow the ready space beyond used by at most one slice.  When the user
 * outran the ready space by more than half a slice since the last call
 * (a bulk writer: large values), zeros would only double its bytes on
 * the disk, so nothing is written until a call finds it slower.
 */
int64_t
prealloc_run(struct prealloc *p, uint64_t used)
{
	uint64_t end = p->end, want, n;
	bool bulk;

	if (p->off)
		return 0;
	if (end < used) {
		/* Its own pages are written up to used. */
		bulk = used - end > PREALLOC_SLICE / 2;
		end = used;
		__atomic_store_n(&p->end, end, __ATOMIC_RELAXED);
		if (bulk)
			return 0;
	}
	want = used + PREALLOC_AHEAD;
	if (want > p->limit)
		want = p->limit;
	if (end >= want || want - end <= PREALLOC_AHEAD / 2)
		return 0;
	n = want - end < PREALLOC_SLICE ? want - end : PREALLOC_SLICE;
	if (!prealloc_room(p, n))
		return 0;
	if (prealloc_zero(p->fd, end, n) == -1) {
		log_warn("store: writing %" PRIu64 " bytes of free space "
		    "ahead (no longer tried)", n);
		p->off = true;
		return -1;
	}
	__atomic_store_n(&p->end, end + n, __ATOMIC_RELAXED);
	return (int64_t)n;
}

/* Bytes ready beyond used; may be read from another thread. */
uint64_t
prealloc_ready(const struct prealloc *p, uint64_t used)
{
	uint64_t end = __atomic_load_n(&p->end, __ATOMIC_RELAXED);

	return end > used ? end - used : 0;
}
