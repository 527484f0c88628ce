/*
 * fs.h: the state of one canfs mount, shared by every module of fs/.
 *
 * The FUSE handlers reach it through fs_ctx(req).  Everything here is
 * set up before the session starts and read-only afterwards, except the
 * objects that carry their own locks (kv, bg, reap, nodes).
 *
 * Threads.  libfuse's session threads run the handlers (ops*.c); the
 * background pool (bg.h) runs chunk writes, readahead, deletes, the
 * inode reads of readdirplus and directory touches and atime updates;
 * the lock module has one thread (locks.h).  A pool without threads
 * (-o bg_threads=0), and a worker submitting more work, run the job at
 * once in the submitter's thread, with whatever that thread holds.
 *
 * Locking.  From the outside in; a lock may be taken while holding only
 * those listed above it, as said:
 *
 * 1. The rename lease's mutex (lease.c): renames of this mount one at a
 *    time, held from lease_acquire() to lease_release(), across the
 *    store requests of the rename.  Taken with nothing else held.
 * 2. A lock-record stripe (locks.c, stripe[ino % 64]): this mount's
 *    changes of one inode's fcntl/flock record one at a time, held
 *    across the record's read and compare-and-swap.  Taken with nothing
 *    else held; never together with the lease.
 *    These two are the only locks held across store requests.  No
 *    background job takes either, so a job run inline under one cannot
 *    deadlock on it.
 * 3. Short locks, each guarding memory only:
 *    - the inode table's mutex (itab.c): the table, every itab_ent field
 *      (counts, caches, n->data, the state of a node's touch and atime
 *      jobs, ops.c); its cv: a directory's touch job finished;
 *    - data.mu of one open file (data.c): its buffers, read cache, size
 *      and counts; its cv: a buffer or cache entry changed state; it is
 *      dropped around every chunk fetch or store and every submission;
 *    - reap.mu and a truncate's reap_fg.mu (reap.c): the removal queue,
 *      a truncate's cursor;
 *    - locks.mu (locks.c): waiters, inodes held, failed drops; also
 *      taken under a stripe, and by our interrupt callback with libfuse's
 *      own lock held (so it never calls into libfuse itself);
 *    - kv.mu (kv.c): the connection pool's bookkeeping; under it only a
 *      connection's own mutex (common/client.c, client_mux_broken);
 *    - bg.mu and a group's mu (bg.c): the queue, a group's count.
 *    No two short locks are held together (beyond kv.mu's above), and
 *    none is held across a store request (kv_*), a submission
 *    (bg_submit, bg_defer), a wait for a group (bg_group_wait), a
 *    data_put() (the last one frees and waits), a FUSE reply or
 *    notification, or a call into another module that may do any of
 *    these.  A submission under one would deadlock when the job runs
 *    inline and takes the same lock.  held.h counts the table mutex and
 *    data.mu per thread and stops the mount (fatal, with the place) when
 *    a store request, submission or data_put() comes under them.
 *    Logging takes no lock and may be used under any of them.
 *
 * Waits: a thread waits on data.cv or the table's cv only for work that
 * never waits for it in turn (a background chunk write or readahead of
 * that file; a directory's touch job, which workers never wait for: see
 * ops_inode).  A worker never waits for jobs queued behind it (bg.h):
 * freeing open-file state waits for its jobs, so a worker that drops the
 * last reference queues the free behind them (data_put).
 *
 * What stays alive without a lock: an itab_ent while a hold on it is
 * taken (itab_get/itab_put, n->refs; a kernel reference; an open); the
 * open-file state while a reference is held (data_get/data_hold/
 * data_put, data.h), never just because n->data pointed to it a moment
 * ago.  The open-file state holds its itab_ent.
 */
#ifndef CANFS_FS_FS_H
#define CANFS_FS_FS_H

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "atime.h"

struct kv;
struct bg;
struct itab;
struct reap;
struct lease;
struct locks;

/* Options of a mount (see canfs(8)). */
struct fs_opts {
	double entry_timeout;	/* seconds the kernel may cache names */
	double negative_timeout; /* ...and the absence of a name */
	double attr_timeout;	/* seconds the kernel may cache attributes */
	int timeout_ms;		/* bound on each store request */
	int conns;		/* requests in flight to the daemon */
	int bg_threads;		/* background workers */
	uint32_t chunk_size;	/* of new files */
	uint32_t inline_max;	/* bytes a small file keeps in its inode */
	uint32_t dir_shard_size; /* bytes past which a directory shard
				    splits (dir.h) */
	int readahead;		/* chunks fetched ahead of sequential reads */
	int max_dirty;		/* dirty chunk buffers per open file */
	bool patch;		/* partial chunk writes as patches (data.h) */
	int lock_lease_ms;	/* lease of this mount's locks (locks.h) */
	enum atime_mode atime;	/* when reads move atimes (atime.h) */
	bool nodiratime;	/* ...never for directory listings */
	bool readonly;		/* mounted ro: reads write nothing */
};

struct fs {
	struct fs_opts o;
	struct kv *kv;
	struct bg *bg;
	struct reap *reap;	/* chunks of removed files, deleted in the
				   background (reap.h) */
	struct itab *nodes;
	struct locks *locks;	/* fcntl and flock locks (locks.h) */
	struct lease *lease;	/* the rename lease (lease.h) */
	struct fuse_session *se;
};

/* The mount's state, from a request. */
static inline struct fs *
fs_ctx(fuse_req_t req)
{
	return (struct fs *)fuse_req_userdata(req);
}

/* Milliseconds of a timeout option, for cache ages. */
static inline int
fs_ms(double seconds)
{
	return (int)(seconds * 1000.0);
}

#endif
