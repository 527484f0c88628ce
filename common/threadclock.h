/*
 * threadclock.h: where the calling thread's time went, to tell a loop
 * that was late because it worked from one that was late because it
 * waited for a CPU (another process's load) or for the kernel (a page
 * fault on a busy disk, a lock).
 *
 * threadclock_read() fills a sample; threadclock_diff() splits the wall
 * time between two samples of the same thread into time on a CPU
 * (CLOCK_THREAD_CPUTIME_ID) and time runnable but waiting for one (the
 * scheduler's run_delay, /proc/thread-self/schedstat); the rest was
 * spent asleep or blocked.  Where schedstat is missing, the wait reads
 * as unknown (-1).  No state beyond the samples; thread-safe.
 */
#ifndef CANFS_THREADCLOCK_H
#define CANFS_THREADCLOCK_H

#include <stdint.h>

struct threadclock {
	uint64_t	 oncpu_ns;	/* CPU time of the thread */
	int64_t		 wait_ns;	/* run-queue wait so far, or -1 */
};

/* A sample of the calling thread's clocks. */
void	threadclock_read(struct threadclock *);

/*
 * From sample a to sample b (b later, same thread): milliseconds on a
 * CPU into *oncpu_ms, and waiting for a CPU into *wait_ms (-1 when
 * either sample lacks it).
 */
void	threadclock_diff(const struct threadclock *a,
	    const struct threadclock *b, uint64_t *oncpu_ms, int64_t *wait_ms);

#endif
