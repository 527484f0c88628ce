/*
 * threadclock.c: the calling thread's CPU time and run-queue wait (see
 * threadclock.h).
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "threadclock.h"

/*
 * The run-queue wait of the calling thread in ns: the second field of
 * /proc/thread-self/schedstat ("on-cpu-ns wait-ns timeslices"), or -1.
 * Opened each time: one sample per heartbeat tick is cheap, and a cached
 * descriptor would belong to whichever thread opened it.
 */
static int64_t
threadclock_wait_ns(void)
{
	char buf[128];
	unsigned long long run, wait;
	ssize_t len;
	int fd;

	fd = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		return -1;
	len = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (len <= 0)
		return -1;
	buf[len] = '\0';
	if (sscanf(buf, "%llu %llu", &run, &wait) != 2 || wait > INT64_MAX)
		return -1;
	return (int64_t)wait;
}

/* A sample of the calling thread's clocks. */
void
threadclock_read(struct threadclock *tc)
{
	struct timespec ts;

	tc->oncpu_ns = 0;
	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) == 0)
		tc->oncpu_ns = (uint64_t)ts.tv_sec * 1000000000u +
		    (uint64_t)ts.tv_nsec;
	tc->wait_ns = threadclock_wait_ns();
}

/* The time from a to b on a CPU and waiting for one, in ms. */
void
threadclock_diff(const struct threadclock *a, const struct threadclock *b,
    uint64_t *oncpu_ms, int64_t *wait_ms)
{
	*oncpu_ms = b->oncpu_ns > a->oncpu_ns ?
	    (b->oncpu_ns - a->oncpu_ns) / 1000000u : 0;
	if (a->wait_ns < 0 || b->wait_ns < 0)
		*wait_ms = -1;
	else
		*wait_ms = b->wait_ns > a->wait_ns ?
		    (b->wait_ns - a->wait_ns) / 1000000 : 0;
}
