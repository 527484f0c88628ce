/*
 * stats.h: the daemon's counters and latency histograms, and the one
 * snapshot of them that `canctl top`, `canctl status` (WIRE_STATS) and
 * the --metrics HTTP endpoint (metrics.h) all read.
 *
 * Recording is a few additions on the event loop: the modules that serve
 * or coordinate requests call stats_request() and friends where a request
 * is answered.  Gauges (store size, zones, neighbours, repair backlog)
 * are not kept here: stats_snapshot() reads them from the node when a
 * snapshot is asked for, from counts the modules keep (never a walk of
 * the store).
 *
 * What counts as what (the README's "Metrics" lists every name):
 * - get/put/del: every GET, PUT or DEL the coordinator answered, whether
 *   it came alone or inside a batch; latency from its arrival to its
 *   answer.  batch: every OBJ_BATCH answered, latency of the whole batch.
 * - route: every routed lookup this node sent into the overlay (for a
 *   client's `canctl route`, or to find the owner of a replica point that
 *   neither our zones nor the routing cache know), latency from sending
 *   to the owner's answer; its hop count goes to the hops histogram.
 * - errors: answers that are failures (unavailable, timeout, no space,
 *   corrupt...), not the ordinary outcomes "not found" and "conflict".
 * - bytes in/out: object values received in PUTs and returned by GETs.
 */
#ifndef CANFS_OVERLAY_STATS_H
#define CANFS_OVERLAY_STATS_H

#include <stdbool.h>
#include <stdint.h>

struct node;
struct wire_stats;

/* Request types, the label values of canfs_requests_total. */
enum stats_req {
	STATS_GET,
	STATS_PUT,
	STATS_DEL,
	STATS_BATCH,
	STATS_ROUTE,
	STATS_NREQ
};

/* Replica-side requests served (canfs_replica_requests_total). */
enum stats_replica {
	STATS_R_READ,		/* OBJ_R_GET */
	STATS_R_WRITE,		/* OBJ_R_PUT: decisions, stores, confirms */
	STATS_R_XFER,		/* OBJ_XFER received: transfers, repair */
	STATS_R_PATCH,		/* patches applied as a secondary */
	STATS_R_PATCH_MISS,	/* ...refused: the version patched not here */
	STATS_NREPLICA
};

/*
 * Latency buckets in seconds, 50 us to 10 s in 1-2.5-5 steps; hop
 * buckets 1, 2, ... 16, then 24, 32, 64.  Both end in +Inf (the count).
 */
#define STATS_LAT_BUCKETS 17
#define STATS_HOP_BUCKETS 19

/* One histogram: per-bucket (not cumulative) counts. */
struct stats_hist {
	uint64_t count;
	double sum;
	uint64_t b[STATS_LAT_BUCKETS > STATS_HOP_BUCKETS ?
	    STATS_LAT_BUCKETS : STATS_HOP_BUCKETS];
};

/* Everything counted since the daemon started. */
struct stats {
	uint64_t requests[STATS_NREQ];
	uint64_t errors[STATS_NREQ];
	struct stats_hist latency[STATS_NREQ];	/* seconds */
	struct stats_hist hops;			/* route lookups */
	uint64_t bytes_in, bytes_out;		/* object values */
	uint64_t replica[STATS_NREPLICA];
	uint64_t hb_sent, hb_received;		/* heartbeats */
	uint64_t suspicions;	/* neighbours suspected (silent, probed) */
	/*
	 * Nodes we declared failed that then spoke to us with the same
	 * incarnation: before our takeover (cancelled) or after it (the
	 * zones given back).
	 */
	uint64_t false_suspicions;
	uint64_t taken_for_dead;	/* a TAKEOVER of our own zones seen */
};

struct stats *stats_new(void);
void stats_free(struct stats *s);

/* Monotonic microseconds: the start time a request keeps. */
uint64_t stats_now_us(void);

/*
 * A request of type t started at start_us (stats_now_us()) was answered
 * now; ok is false when the answer was a failure (see above).
 */
void stats_request(struct stats *s, enum stats_req t, uint64_t start_us,
    bool ok);
/* A routed lookup answered after hops overlay hops. */
void stats_hops(struct stats *s, uint64_t hops);

/*
 * The node's metrics now: every counter above plus the gauges read from
 * the node, named as README "Metrics" says, metrics of one name next to
 * each other.  *out is allocated (wire_stats_free()).
 */
void stats_snapshot(struct node *n, struct wire_stats *out);

/* The HELP text of a metric name of the snapshot ("" if unknown). */
const char *stats_help(const char *name);

#endif
