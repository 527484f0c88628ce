/*
 * host.h: what the membership, routing and takeover code gets from the
 * machine it runs on: the clock, timers and random bytes.
 *
 * Two implementations link against the same node objects: host.c (the
 * real clock and libevent timers, for canfsd) and sim_host.c (the
 * simulator's virtual clock and event queue, for cansim).  The network is
 * the other half of the seam: conn.h, implemented by conn.c (TCP) and
 * sim_net.c (a virtual network).  Node code includes neither libevent nor
 * a clock of its own, so a simulated run replays exactly from its seed.
 */
#ifndef CANFS_OVERLAY_HOST_H
#define CANFS_OVERLAY_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct host_timer;

/* A timer's callback: runs once per host_timer_add that expires. */
typedef void (*host_timer_cb)(void *arg);

/* Monotonic milliseconds (the simulator: virtual time). */
uint64_t host_now_ms(void);
/* Wall-clock microseconds since the epoch: incarnation numbers. */
uint64_t host_wall_us(void);
/* Fill buf with len random bytes.  Returns 0, or -1 (none to be had). */
int host_random(void *buf, size_t len);

/*
 * A timer on base (the simulator ignores base: it has one queue).  Not
 * armed until host_timer_add.  Owned by the caller: host_timer_free.
 */
struct host_timer *host_timer_new(struct event_base *base, host_timer_cb cb,
    void *arg);
/* Arm (or re-arm) t to fire ms milliseconds from now (0: at once, later). */
void host_timer_add(struct host_timer *t, uint64_t ms);
/* Disarm t; it keeps existing.  NULL or unarmed: nothing happens. */
void host_timer_del(struct host_timer *t);
/* True while t is armed and has not fired. */
bool host_timer_pending(const struct host_timer *t);
/* Disarm and free t; NULL is fine; allowed inside t's own callback. */
void host_timer_free(struct host_timer *t);

#endif
