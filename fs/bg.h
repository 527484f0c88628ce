/*
 * bg.h: a small pool of worker threads for store requests that run in the
 * background or in parallel: whole-chunk writes that go out while the
 * writer goes on, readahead, the deletes of a truncate and of removed
 * files (reap.h), the inode reads of readdirplus.
 *
 * A job is a function and its argument.  Jobs may belong to a group, which
 * a caller waits on (bg_group_wait) to collect the first error.  A job
 * submitted from a worker thread (or to a pool that has no threads) runs
 * at once in the caller, so waiting on a group can never deadlock the
 * pool.  Submit with no lock held (fs.h, "Locking"): a job that runs
 * inline and takes the caller's lock would deadlock.
 */
#ifndef CANFS_FS_BG_H
#define CANFS_FS_BG_H

#include <pthread.h>
#include <stdbool.h>

struct bg;

/* Jobs: return 0 or a negative errno (kept by the group). */
typedef int (*bg_fn)(void *arg);

/* Jobs to wait for together. */
struct bg_group {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int pending;	/* submitted, not yet finished */
	int err;	/* first failure (negative errno), or 0 */
};

/* Start nthreads workers (0: every job runs in its submitter). */
struct bg *bg_start(int nthreads);
/* Finish the queued jobs, stop the workers and free the pool. */
void bg_stop(struct bg *bg);

/* Queue fn(arg); its result goes to grp when grp is non-NULL. */
void bg_submit(struct bg *bg, struct bg_group *grp, bg_fn fn, void *arg);

/*
 * Queue fn(arg) at the tail even when called from a worker (where
 * bg_submit runs it at once): a long job's way to let the jobs queued
 * meanwhile run first, by doing one slice of its work and deferring the
 * rest.  Such a job belongs to no group: nobody may wait for it.  Returns
 * false, queueing nothing, when the pool has no threads (the caller then
 * does the work itself).
 */
bool bg_defer(struct bg *bg, bg_fn fn, void *arg);

/*
 * True when bg_submit would run a job at once in its caller (a pool
 * without threads, or a worker): work that only pays when it runs beside
 * the caller (readahead) is better skipped.
 */
bool bg_inline(const struct bg *bg);

/* True in a worker thread (which must never wait for other jobs). */
bool bg_worker(void);

void bg_group_init(struct bg_group *grp);
/* Wait for every job of grp; returns the first error (or 0). */
int bg_group_wait(struct bg_group *grp);
void bg_group_destroy(struct bg_group *grp);

#endif
