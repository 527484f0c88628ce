/*
 * host.c: the real clock, libevent timers and the kernel's random bytes
 * (host.h), as canfsd uses them.
 */
#include <sys/random.h>

#include <stdlib.h>
#include <time.h>

#include <event2/event.h>

#include "host.h"
#include "xmalloc.h"

struct host_timer {
	struct event *ev;
	host_timer_cb cb;
	void *arg;
};

/* CLOCK_MONOTONIC in ms. */
uint64_t
host_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* CLOCK_REALTIME in us. */
uint64_t
host_wall_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* The kernel's random bytes. */
int
host_random(void *buf, size_t len)
{
	return getrandom(buf, len, 0) == (ssize_t)len ? 0 : -1;
}

/* libevent's callback: the owner's, without the socket arguments. */
static void
host_timer_fire_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct host_timer *t = arg;

	(void)fd;
	(void)ev;
	t->cb(t->arg);
}

/* An evtimer on base. */
struct host_timer *
host_timer_new(struct event_base *base, host_timer_cb cb, void *arg)
{
	struct host_timer *t = xcalloc(1, sizeof *t);

	t->cb = cb;
	t->arg = arg;
	t->ev = evtimer_new(base, host_timer_fire_cb, t);
	return t;
}

/* (Re)arm: evtimer_add replaces a pending deadline. */
void
host_timer_add(struct host_timer *t, uint64_t ms)
{
	struct timeval tv = { (time_t)(ms / 1000),
	    (suseconds_t)(ms % 1000) * 1000 };

	evtimer_add(t->ev, &tv);
}

/* Disarm. */
void
host_timer_del(struct host_timer *t)
{
	if (t != NULL)
		evtimer_del(t->ev);
}

/* Armed? */
bool
host_timer_pending(const struct host_timer *t)
{
	return evtimer_pending(t->ev, NULL) != 0;
}

/* event_free disarms first, so this is safe from the callback. */
void
host_timer_free(struct host_timer *t)
{
	if (t == NULL)
		return;
	event_free(t->ev);
	free(t);
}
