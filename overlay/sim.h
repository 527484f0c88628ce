/*
 * sim.h: the simulator's world (cansim): one virtual clock, one queue of
 * events, one seeded random stream, and a virtual network between the
 * transports of many nodes in one process.
 *
 * sim_host.c implements host.h on the queue and the clock; sim_net.c
 * implements conn.h on the virtual network.  The node code is the real
 * one, linked unchanged: a run is a pure function of its seed and its
 * options, so any run replays exactly (same events, same digest).
 *
 * Events run in order of (time, sequence number); the sequence number is
 * taken when an event is scheduled, so ties run in scheduling order.
 */
#ifndef CANFS_OVERLAY_SIM_H
#define CANFS_OVERLAY_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire.h"

struct conn;
struct transport;

/* One scheduled event, embedded in its owner (a timer, a frame). */
struct sim_ev {
	uint64_t at;		/* virtual ms */
	uint64_t seq;		/* tie-break: scheduling order */
	size_t idx;		/* heap slot; SIZE_MAX when not queued */
	void (*fire)(struct sim_ev *e);	/* may free e */
};

/* Reset the world: time 0, empty queue, the random stream from seed. */
void sim_reset(uint64_t seed);
/* The virtual clock, in ms. */
uint64_t sim_now(void);
/* Events run so far (the number a violation report gives). */
uint64_t sim_events(void);
/* The next 64 random bits of the seeded stream (xoshiro256**). */
uint64_t sim_rand(void);
/* A uniform integer in [0, n); n > 0. */
uint64_t sim_rand_below(uint64_t n);

/*
 * Whose event runs now (a node, for the harness: its log tag).  Timers
 * run in the context they were created in; a frame, in its receiver's
 * transport's (the arg given to transport_new).  The hook, if set, is
 * told of every change, and again when the clock has moved.
 */
void sim_set_context(void *ctx);
void *sim_context(void);
void sim_on_context(void (*hook)(void *ctx));

/*
 * Halt a context for good (a crashed node, or one whose process exited):
 * its timers no longer fire, and its transport neither sends nor
 * receives (frames to it vanish, as toward a machine switched off).
 */
void sim_halt(void *ctx);
bool sim_halted(const void *ctx);

/* Queue e to fire at virtual time at (>= now); e must not be queued. */
void sim_schedule(struct sim_ev *e, uint64_t at);
/* Take e off the queue if it is there. */
void sim_cancel(struct sim_ev *e);
/* True while e waits in the queue. */
bool sim_queued(const struct sim_ev *e);
/*
 * Run events in order until the next one is later than until (the clock
 * then reads until) or the queue is empty.  Returns the events run.
 */
uint64_t sim_run_until(uint64_t until);

/*
 * The virtual network.  Node i listens at sim_net_addr(i); a frame from
 * node a to node b arrives sim_net_latency(a, b) ms after it was sent,
 * never before an earlier frame on the same connection (TCP's order).
 */
void sim_net_init(int nodes);
/* "10.x.y.z:7400" for node index i. */
void sim_net_addr(int i, char *buf, size_t len);
/* Link latency from a seeded model: points in a unit square, 1-101 ms. */
uint64_t sim_net_latency(int a, int b);

/* Frames that a client connection receives (see sim_net_client). */
typedef void (*sim_client_cb)(void *arg, const struct wire_header *h,
    const uint8_t *body);
/*
 * A client connection into transport t: frames the node sends on it go to
 * cb (the simulator's harness plays a local client: canctl lookup).
 */
struct conn *sim_net_client(struct transport *t, sim_client_cb cb, void *arg);

/* Network counters and the digest of every frame delivered so far. */
struct sim_net_stats {
	uint64_t frames;	/* delivered */
	uint64_t bytes;
	uint64_t dropped;	/* sent on or toward a closed connection */
	uint64_t conns;		/* connections opened */
	uint64_t digest;	/* XXH64 chain over (time, src, dst, type) */
};
void sim_net_stats(struct sim_net_stats *s);

#endif
