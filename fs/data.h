/*
 * data.h: file contents.
 *
 * A file is stored in chunks of its inode's chunk_size (meta.h).  While a
 * file is open on this mount it has one `struct data`, shared by all of
 * its handles, holding:
 *
 * - dirty chunk buffers: writes are copied into a buffer per chunk and
 *   reach the store when the chunk fills (at once, in the background, so
 *   sequential writers stream), when too many buffers are dirty, and on
 *   flush/fsync/release (close-to-open).  A buffer remembers its dirty
 *   ranges (up to 64 apart).  One range covering the chunk, or the chunk
 *   up to the end of the file, is written whole; anything else goes out
 *   as a patch of those ranges (kv_patch(), -o patch), which the daemons
 *   apply to the stored chunk: nothing is read, and concurrent writers
 *   of disjoint ranges all keep their bytes.  With -o patch=0 the chunk's
 *   old contents are fetched and merged instead, and the whole chunk is
 *   written.  The first error of a background write is kept and returned
 *   by the next write or flush.
 * - a small cache of clean chunks, filled by reads and by readahead:
 *   reads that continue where the last one stopped fetch the next few
 *   chunks in parallel.  Any write or truncate of a chunk drops it.  A
 *   small read (at most a quarter chunk) that does not continue the last
 *   one and misses the cache fetches its byte range only (a random
 *   reader), caching nothing.
 * - the size as this mount sees it (the store's size plus our unflushed
 *   writes) and the time of the last write, for getattr.
 * - the chunks written since the last flush, as a small extent list
 *   (meta.h): every chunk a write went out for, failed ones included
 *   (a write whose reply was lost may have landed).
 *
 * At flush the inode's size (never lowered: the larger of the stored one
 * and our end of writes), mtime/ctime and the chunks written (merged into
 * the inode's extents) are written in one CAS.  Two machines writing the
 * same bytes of one file concurrently: the last to reach the store wins;
 * disjoint bytes all land (patches; a whole-chunk write replaces the
 * chunk).
 *
 * The extents are what truncate and removal delete (reap.h), so their
 * cost follows the chunks stored, not the size: a truncate to 1 PiB and
 * back, or the rm of a sparse file, costs a delete per chunk written.
 * A chunk that reached the store but not the extents (the machine died
 * between the chunk's write and the flush's inode update, or that update
 * failed and the file was closed) is an orphan: no truncate or rm will
 * delete it, and it is logged when the update failed.
 */
#ifndef CANFS_FS_DATA_H
#define CANFS_FS_DATA_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "meta.h"

struct fs;
struct itab_ent;
struct data;

/*
 * Open-file state for n, from its freshly read inode, with the table
 * locked (itab_lock): it takes a hold on n, dropped when it is freed, and
 * starts with one reference, the one n->data stands for.
 *
 * References: whoever uses the state after letting go of the table lock
 * (a request reaching it through n->data, a file handle, a lock waiter)
 * holds a reference, taken with data_get() or data_hold() and dropped
 * with data_put().  The last close on this mount flushes, sets n->data
 * to NULL and drops n->data's reference; the state is freed when the
 * last reference goes, so a getattr or setattr racing that close keeps
 * using live memory (a state no longer in n->data, but flushed and still
 * consistent).  A new open meanwhile starts a fresh state.
 */
struct data *data_new(struct fs *fs, struct itab_ent *n,
    const struct meta_inode *in);
/* n->data with a reference (data_put), or NULL when n is not open. */
struct data *data_get(struct fs *fs, struct itab_ent *n);
/* One more reference to d (the caller holds one already). */
void data_hold(struct data *d);
/*
 * Drop a reference (NULL: nothing).  The last one waits for d's
 * background jobs and frees d (in a worker thread: a job queued behind
 * them does), so the caller must hold no lock (fs.h); everything must
 * have been flushed (data_flush) by then.
 */
void data_put(struct data *d);

/* Read up to size bytes at off into buf: bytes read (0 at EOF) or -errno. */
ssize_t data_read(struct data *d, char *buf, size_t size, uint64_t off);
/* Write size bytes at off: size, or -errno. */
ssize_t data_write(struct data *d, const char *buf, size_t size,
    uint64_t off);
/*
 * Write out every dirty chunk, wait for background writes, and update the
 * inode's size and times.  Returns 0 or the first error since the last
 * flush.
 */
int data_flush(struct data *d);

/*
 * Merge this mount's view into a fresh inode record for getattr: the size
 * and mtime of unflushed writes.  With nothing pending, take the record's
 * size (and drop cached chunks if the file changed elsewhere).
 */
void data_attr(struct data *d, struct meta_inode *in);
/* The file was truncated to size (after data_flush and the store work). */
void data_set_size(struct data *d, uint64_t size);

/* What a truncate deleted, for the inode update that goes with it. */
struct data_trunc {
	uint64_t cut;		/* chunks from this index on are gone */
	struct meta_extents gone; /* the extents deleted (all >= cut) */
};

/*
 * Store work of a truncate of the file whose fresh record is in to
 * newsize: when shrinking, zero-trim the chunk holding the new end (if
 * the extents say it may be stored) and delete the chunks inside the
 * extents past it; when growing, delete what the extents hold past the
 * old end (normally nothing).  The deletes run in parallel (reap.h).  *t
 * records what went, for data_truncate_trim() in the inode update that
 * sets the size; free it with data_trunc_free() either way.  0 or
 * -errno.
 */
int data_truncate(struct fs *fs, uint64_t ino, const struct meta_inode *in,
    uint64_t newsize, struct data_trunc *t);
/*
 * In the inode mutation of that truncate (a pure function of *in, as
 * mutations must be): drop the extents past the cut, unless the record
 * now holds chunks there that the truncate did not delete (recorded by
 * another mount meanwhile), which then stay.
 */
void data_truncate_trim(struct meta_inode *in, const struct data_trunc *t);
void data_trunc_free(struct data_trunc *t);
/*
 * Delete the chunks inside the extents of a removed regular file in the
 * background (its inode is gone, so nothing can read them): nothing at
 * all when it never stored any.  Failures are logged (reap.h).
 */
void data_remove_async(struct fs *fs, uint64_t ino,
    const struct meta_inode *in);

#endif
