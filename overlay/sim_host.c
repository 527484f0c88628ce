/*
 * sim_host.c: host.h for the simulator: a virtual clock, timers on one
 * event queue (a binary heap by time, then sequence), and random bytes
 * from one seeded stream (see sim.h).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "host.h"
#include "sim.h"
#include "xmalloc.h"

/* The sim's epoch for incarnations: any fixed wall-clock time will do. */
#define SIM_HOST_WALL_BASE_US 1767225600000000ULL	/* 2026-01-01 */

static struct {
	uint64_t now, seq, events;
	struct sim_ev **heap;
	size_t n, cap;
	uint64_t s[4];		/* xoshiro256** state */
	void *ctx;
	uint64_t ctx_at;	/* the time the hook last heard of */
	void (*hook)(void *ctx);
	const void **halted;	/* a set (open addressing), NULL = free */
	size_t nhalted, halted_cap;
} sim;

struct host_timer {
	struct sim_ev ev;
	host_timer_cb cb;
	void *arg;
	void *ctx;		/* sim_context() when created */
};

/* splitmix64: expands the seed into the generator's state. */
static uint64_t
sim_splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* A new world; the context hook stays. */
void
sim_reset(uint64_t seed)
{
	void (*hook)(void *) = sim.hook;

	free(sim.heap);
	free(sim.halted);
	memset(&sim, 0, sizeof sim);
	sim.hook = hook;
	for (int i = 0; i < 4; i++)
		sim.s[i] = sim_splitmix(&seed);
}

/* Whose event runs now; tell the hook. */
void
sim_set_context(void *ctx)
{
	if (ctx == sim.ctx && sim.ctx_at == sim.now)
		return;
	sim.ctx = ctx;
	sim.ctx_at = sim.now;
	if (sim.hook != NULL)
		sim.hook(ctx);
}

/* Whose event runs now. */
void *
sim_context(void)
{
	return sim.ctx;
}

/* Who hears of context changes (the harness's log tag). */
void
sim_on_context(void (*hook)(void *ctx))
{
	sim.hook = hook;
}

/* The slot of ctx in the halted set: where it is, or where it would go. */
static size_t
sim_halted_slot(const void *ctx)
{
	size_t k = (size_t)(((uintptr_t)ctx >> 4) * 0x9e3779b97f4a7c15ULL) &
	    (sim.halted_cap - 1);

	while (sim.halted[k] != NULL && sim.halted[k] != ctx)
		k = (k + 1) & (sim.halted_cap - 1);
	return k;
}

/* Add ctx to the halted set, growing it to stay at most half full. */
void
sim_halt(void *ctx)
{
	if (ctx == NULL || sim_halted(ctx))
		return;
	if (2 * (sim.nhalted + 1) > sim.halted_cap) {
		const void **old = sim.halted;
		size_t oldcap = sim.halted_cap;

		sim.halted_cap = oldcap ? 2 * oldcap : 64;
		sim.halted = xcalloc(sim.halted_cap, sizeof *sim.halted);
		for (size_t i = 0; i < oldcap; i++) {
			if (old[i] != NULL)
				sim.halted[sim_halted_slot(old[i])] = old[i];
		}
		free(old);
	}
	sim.halted[sim_halted_slot(ctx)] = ctx;
	sim.nhalted++;
}

/* Is ctx in the halted set? */
bool
sim_halted(const void *ctx)
{
	if (sim.nhalted == 0 || ctx == NULL)
		return false;
	return sim.halted[sim_halted_slot(ctx)] == ctx;
}

/* The virtual clock. */
uint64_t
sim_now(void)
{
	return sim.now;
}

/* Events run so far. */
uint64_t
sim_events(void)
{
	return sim.events;
}

/* Rotate left. */
static uint64_t
sim_rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

/* xoshiro256**: the next 64 bits. */
uint64_t
sim_rand(void)
{
	uint64_t *s = sim.s, r = sim_rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = sim_rotl(s[3], 45);
	return r;
}

/* By rejection: exactly uniform, whatever n. */
uint64_t
sim_rand_below(uint64_t n)
{
	uint64_t lim = UINT64_MAX - UINT64_MAX % n, r;

	do
		r = sim_rand();
	while (r >= lim);
	return r % n;
}

/* a runs before b. */
static bool
sim_before(const struct sim_ev *a, const struct sim_ev *b)
{
	return a->at < b->at || (a->at == b->at && a->seq < b->seq);
}

/* Put e in heap slot i, and tell it so. */
static void
sim_heap_set(size_t i, struct sim_ev *e)
{
	sim.heap[i] = e;
	e->idx = i;
}

/* Move the event in slot i up to its place. */
static void
sim_heap_up(size_t i)
{
	struct sim_ev *e = sim.heap[i];

	while (i > 0 && sim_before(e, sim.heap[(i - 1) / 2])) {
		sim_heap_set(i, sim.heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	sim_heap_set(i, e);
}

/* Move the event in slot i down to its place. */
static void
sim_heap_down(size_t i)
{
	struct sim_ev *e = sim.heap[i];

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= sim.n)
			break;
		if (c + 1 < sim.n && sim_before(sim.heap[c + 1], sim.heap[c]))
			c++;
		if (!sim_before(sim.heap[c], e))
			break;
		sim_heap_set(i, sim.heap[c]);
		i = c;
	}
	sim_heap_set(i, e);
}

/*
 * Queue e at time at (never in the past), after the events queued before it
 * at the same time.
 */
void
sim_schedule(struct sim_ev *e, uint64_t at)
{
	if (sim.n == sim.cap) {
		sim.cap = sim.cap ? 2 * sim.cap : 1024;
		sim.heap = xreallocarray(sim.heap, sim.cap, sizeof *sim.heap);
	}
	e->at = at < sim.now ? sim.now : at;
	e->seq = sim.seq++;
	sim_heap_set(sim.n++, e);
	sim_heap_up(e->idx);
}

/* Is e waiting? */
bool
sim_queued(const struct sim_ev *e)
{
	return e->idx != SIZE_MAX;
}

/* Take e out of the heap (the last slot fills its place). */
void
sim_cancel(struct sim_ev *e)
{
	size_t i = e->idx;

	if (i == SIZE_MAX)
		return;
	e->idx = SIZE_MAX;
	if (i == --sim.n)
		return;
	sim_heap_set(i, sim.heap[sim.n]);
	sim_heap_down(i);
	sim_heap_up(sim.heap[i]->idx);
}

/* Run the events due by until, in order; the clock then reads until. */
uint64_t
sim_run_until(uint64_t until)
{
	uint64_t ran = 0;

	while (sim.n > 0 && sim.heap[0]->at <= until) {
		struct sim_ev *e = sim.heap[0];

		sim_cancel(e);
		sim.now = e->at;
		sim.events++;
		ran++;
		e->fire(e);	/* may free e */
	}
	if (until > sim.now && until != UINT64_MAX)
		sim.now = until;
	return ran;
}

/* host.h */

/* host.h: the virtual clock. */
uint64_t
host_now_ms(void)
{
	return sim.now;
}

/* host.h: a fixed epoch plus the virtual clock. */
uint64_t
host_wall_us(void)
{
	return SIM_HOST_WALL_BASE_US + sim.now * 1000;
}

/* host.h: bytes from the seeded stream. */
int
host_random(void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len > 0) {
		uint64_t r = sim_rand();
		size_t k = len < sizeof r ? len : sizeof r;

		memcpy(p, &r, k);
		p += k;
		len -= k;
	}
	return 0;
}

/* A timer is due: run its callback in its context, unless that has halted. */
static void
sim_host_fire(struct sim_ev *e)
{
	struct host_timer *t = (struct host_timer *)e;

	if (sim_halted(t->ctx))
		return;		/* its process is gone */
	sim_set_context(t->ctx);
	t->cb(t->arg);
}

/* host.h: a timer in the current context. */
struct host_timer *
host_timer_new(struct event_base *base, host_timer_cb cb, void *arg)
{
	struct host_timer *t = xcalloc(1, sizeof *t);

	(void)base;
	t->ev.idx = SIZE_MAX;
	t->ev.fire = sim_host_fire;
	t->cb = cb;
	t->arg = arg;
	t->ctx = sim.ctx;
	return t;
}

/* host.h: (re)arm. */
void
host_timer_add(struct host_timer *t, uint64_t ms)
{
	sim_cancel(&t->ev);
	sim_schedule(&t->ev, sim.now + ms);
}

/* host.h: disarm. */
void
host_timer_del(struct host_timer *t)
{
	if (t != NULL)
		sim_cancel(&t->ev);
}

/* host.h: armed? */
bool
host_timer_pending(const struct host_timer *t)
{
	return sim_queued(&t->ev);
}

/*
 * host.h: disarm and free (also from its own callback: the queue no longer
 * holds it then).
 */
void
host_timer_free(struct host_timer *t)
{
	if (t == NULL)
		return;
	sim_cancel(&t->ev);
	free(t);
}
