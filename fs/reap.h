/*
 * reap.h: deleting a file's chunks, in proportion to what it holds.
 *
 * A file's inode records the chunks that may hold data as a list of
 * extents (meta.h); truncate and unlink delete the chunks inside them,
 * never one per chunk of the file's size, so a 1 PiB sparse file with a
 * few bytes in it costs a few deletes.  The deletes go out as batch
 * requests (kv_batch) of up to WIRE_BATCH_MAX chunks.
 *
 * - reap_extents(): the deletes of a truncate, waited for by the request
 *   that asked: up to REAP_FG_JOBS batch requests at once (on the
 *   background pool, leaving most of its threads to other requests), and
 *   it stops at the first failure.
 * - reap_file(): the chunks of a removed file (its inode is already gone,
 *   so nothing can read them), on the mount's background queue: at most
 *   REAP_BG_JOBS batch requests in flight for all removals together
 *   (the chunks of several small files share a request), and each job
 *   sends one request and then goes back to the end of the pool's queue
 *   (bg_defer), so that foreground work queued meanwhile (a create's
 *   inode write, a chunk write, readahead) is never stuck behind a large
 *   removal.  A removal whose deletes fail (after kv_batch's own retries)
 *   is dropped with a warning naming the chunks left behind: a daemon that
 *   is gone cannot keep the queue busy.  At unmount the queue is worked
 *   off before the pool stops (bg_stop).
 *
 * Thread-safe; the queue has its own lock, a leaf (no other lock is taken
 * while holding it, and no request is sent with it held).
 */
#ifndef CANFS_FS_REAP_H
#define CANFS_FS_REAP_H

#include <stdint.h>

#include "meta.h"

struct fs;
struct reap;

/* Batch requests of a truncate's deletes at once. */
#define REAP_FG_JOBS 4
/* Batch requests of background removals at once, for the whole mount. */
#define REAP_BG_JOBS 2

/* The removal queue of fs (fs->kv and fs->bg are used, not owned). */
struct reap *reap_new(struct fs *fs);
/* Free it: the queue must be empty (after bg_stop).  Accepts NULL. */
void reap_free(struct reap *r);

/*
 * Delete the chunks of ino inside ext (copied), waiting: 0, or the first
 * failure (-errno; some chunks may be deleted, the rest are not).
 */
int reap_extents(struct fs *fs, uint64_t ino, const struct meta_extents *ext);

/* Queue the deletion of the chunks of ino inside ext (copied). */
void reap_file(struct reap *r, uint64_t ino, const struct meta_extents *ext);

/* Chunks queued for background deletion and not yet sent (for logs). */
uint64_t reap_pending(struct reap *r);

#endif
