/*
 * prealloc.h: keep written, zero-filled space ahead of a growing file.
 *
 * The store's LMDB file grows at its end as objects are added.  On a
 * journalling filesystem (ext4, xfs), an fdatasync that covers pages
 * beyond the end of the file, or in blocks not yet allocated, must also
 * commit the journal (new blocks, new size): measured on this project's
 * VM, a commit's data fdatasync cost 1 to 2 ms that way against 0.3 to
 * 0.8 ms for the meta page written in place.  So the store's commit
 * thread, between commits when nothing is queued, writes zeros a little
 * ahead of the file's last used page (PREALLOC_SLICE at a time, keeping
 * up to PREALLOC_AHEAD ready) and syncs them once: the following commits
 * only overwrite allocated blocks, and their fdatasync flushes data
 * alone.
 *
 * Safe for LMDB: the zeros go only beyond the last page of the last
 * commit, which no reader maps and no writer uses until a later commit
 * (the caller runs between commits, on the thread that commits); a crash
 * in the middle leaves a longer file of unused zeros, which LMDB ignores.
 * Off on a filesystem in memory (tmpfs, ramfs: no journal to spare) and
 * while the filesystem has less than PREALLOC_RESERVE free, so it never
 * takes the last free space of a disk from the store's own writes.
 */
#ifndef CANFS_OVERLAY_PREALLOC_H
#define CANFS_OVERLAY_PREALLOC_H

#include <stdbool.h>
#include <stdint.h>

#define PREALLOC_AHEAD ((uint64_t)8 << 20)    /* ready beyond the end */
#define PREALLOC_SLICE ((uint64_t)2 << 20)    /* written per call, at most */
#define PREALLOC_RESERVE ((uint64_t)64 << 20) /* free space left alone */

/* One file's preallocation state (owned by the thread that writes it). */
struct prealloc {
	int fd;		/* the file, not owned */
	uint64_t end;	/* [0, end) is written: allocated blocks */
	uint64_t limit;	/* never grow the file beyond this many bytes */
	bool off;	/* in memory, or writing failed: do nothing */
};

/*
 * Start on fd (not owned), growing it to at most limit bytes.  Looks at
 * the file's size and filesystem; never fails (at worst it stays off).
 */
void prealloc_init(struct prealloc *p, int fd, uint64_t limit);

/*
 * The file's user now uses [0, used).  If less than PREALLOC_AHEAD / 2
 * is ready beyond used, write up to PREALLOC_SLICE of zeros at the end
 * and fdatasync them.  Returns the bytes written (0 if nothing was to
 * do), or -1 after an error (logged; preallocation then stays off).
 */
int64_t prealloc_run(struct prealloc *p, uint64_t used);

/* Bytes written and ready beyond used (0 if none). */
uint64_t prealloc_ready(const struct prealloc *p, uint64_t used);

#endif /* CANFS_OVERLAY_PREALLOC_H */
