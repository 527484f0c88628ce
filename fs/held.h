/*
 * held.h: a cheap check of the lock order of fs/ (fs.h, "Locking").
 *
 * The short locks of fs/ (the inode table's mutex, each open file's
 * data.mu) count themselves in a per-thread counter while held; the
 * calls that must never run under them (store requests, kv_*; background
 * submissions, bg_submit and bg_defer; the free of open-file state) call
 * held_check() first, which stops the mount with the caller's name when
 * the count is not zero: a broken lock order is a bug to fix, and
 * stopping at once, with its place in the log, beats a mount that hangs
 * (a job run inline relocking the same mutex) or stalls every request
 * behind a lock held across a round trip.
 */
#ifndef CANFS_FS_HELD_H
#define CANFS_FS_HELD_H

/* Short locks this thread holds now. */
extern __thread int held_locks;

/* A short lock was taken (after its lock call). */
static inline void
held_take(void)
{
	held_locks++;
}

/* A short lock is about to be dropped. */
static inline void
held_drop(void)
{
	held_locks--;
}

/* Stop the mount when this thread holds a short lock before what. */
void held_check(const char *what);

#endif
