/*
 * stats.c: the daemon's counters and histograms, and the snapshot of its
 * metrics (stats.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conn.h"
#include "log.h"
#include "nbr.h"
#include "node.h"
#include "quorum.h"
#include "repair.h"
#include "stats.h"
#include "store.h"
#include "wire_stats.h"
#include "xmalloc.h"

/* Metrics in one snapshot at most (there are about 50). */
#define STATS_MAX_METRICS 128

/* Upper bounds of the latency buckets, seconds. */
static const double stats_lat_le[STATS_LAT_BUCKETS] = {
	0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
	0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};

/* Upper bounds of the hop buckets. */
static const double stats_hop_le[STATS_HOP_BUCKETS] = {
	1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 24, 32, 64,
};

/* Label values of enum stats_req and enum stats_replica. */
static const char *const stats_req_names[STATS_NREQ] = {
	"get", "put", "del", "batch", "route",
};
static const char *const stats_replica_names[STATS_NREPLICA] = {
	"read", "write", "xfer", "patch", "patch_miss",
};

/* Every metric of the snapshot, with its HELP text. */
static const struct {
	const char *name;
	const char *help;
} stats_helps[] = {
	{ "canfs_node_state", "Membership state: 0 joining, 1 active, "
	    "2 leaving, 3 left." },
	{ "canfs_uptime_seconds", "Seconds since the daemon started." },
	{ "canfs_cut_off", "0 serving; 1 cut off (no neighbour answers); 2 in "
	    "the minority of a split (live owners of less than half of the "
	    "space reachable). Not 0: requests are refused." },
	{ "canfs_store_objects", "Replicas held in the local store "
	    "(tombstones included)." },
	{ "canfs_store_bytes", "Bytes of object data in the local store." },
	{ "canfs_store_used_bytes", "Bytes of store pages in use on disk." },
	{ "canfs_store_avail_bytes", "Bytes the local store can still grow "
	    "by (map size or free disk, the smaller)." },
	{ "canfs_store_pending_writes", "Writes queued for the store's next "
	    "commit." },
	{ "canfs_zones", "Zones of the key space this node owns." },
	{ "canfs_zone_volume", "Fraction of the whole key space this node "
	    "owns (0 to 1)." },
	{ "canfs_neighbours", "Live neighbours." },
	{ "canfs_connections", "Open connections (peers and clients)." },
	{ "canfs_repair_backlog", "Replicas queued for repair pushes." },
	{ "canfs_transfer_backlog", "Replicas queued for streaming to a new "
	    "zone owner (join, leave, reassignment)." },
	{ "canfs_under_replicated", "Live objects this node is primary for "
	    "that had fewer than k copies in its last repair pass." },
	{ "canfs_repair_last_pass_seconds", "Duration of the last repair "
	    "pass." },
	{ "canfs_requests_total", "Requests answered, by type (get, put, del "
	    "and batch coordinated here; route: lookups sent into the "
	    "overlay)." },
	{ "canfs_request_errors_total", "Requests answered with a failure "
	    "(not counting not-found and conflict), by type." },
	{ "canfs_request_seconds", "Time from a request's arrival to its "
	    "answer, by type." },
	{ "canfs_lookup_hops", "Overlay hops of routed lookups answered." },
	{ "canfs_request_bytes_total", "Object value bytes received in puts "
	    "(in) and returned by gets (out)." },
	{ "canfs_replica_requests_total", "Replica requests served: read, "
	    "write, xfer (replicas received by transfer or repair)." },
	{ "canfs_routed_total", "Routed overlay messages handled "
	    "(forwarded or delivered here)." },
	{ "canfs_heartbeats_total", "Heartbeats sent and received." },
	{ "canfs_suspicions_total", "Neighbours suspected after a silence "
	    "(probed before being declared failed)." },
	{ "canfs_false_suspicions_total", "Nodes declared failed here that "
	    "turned out alive (spoke again with the same incarnation)." },
	{ "canfs_taken_for_dead_total", "Takeovers of this node's own zones "
	    "by neighbours that believed it dead." },
	{ "canfs_repair_passes_total", "Anti-entropy passes finished." },
	{ "canfs_repair_pushed_total", "Replicas pushed to other members by "
	    "repair." },
	{ "canfs_transferred_total", "Replicas streamed to new zone "
	    "owners." },
	{ "canfs_repair_dropped_total", "Misplaced local copies dropped once "
	    "every member confirmed them." },
	{ "canfs_tombstones_expired_total", "Tombstones dropped past "
	    "--tombstone-ttl." },
	{ "canfs_store_commits_total", "Store commits (one fsync each)." },
};

/* A zeroed set of counters. */
struct stats *
stats_new(void)
{
	return xcalloc(1, sizeof(struct stats));
}

void
stats_free(struct stats *s)
{
	free(s);
}

/* Monotonic microseconds. */
uint64_t
stats_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* Count v in h, whose bounds are le[0..nb); past the last: +Inf only. */
static void
stats_observe(struct stats_hist *h, const double *le, int nb, double v)
{
	h->count++;
	h->sum += v;
	for (int i = 0; i < nb; i++) {
		if (v <= le[i]) {
			h->b[i]++;
			return;
		}
	}
}

/* A request answered. */
void
stats_request(struct stats *s, enum stats_req t, uint64_t start_us, bool ok)
{
	uint64_t now = stats_now_us();

	s->requests[t]++;
	if (!ok)
		s->errors[t]++;
	stats_observe(&s->latency[t], stats_lat_le, STATS_LAT_BUCKETS,
	    now > start_us ? (double)(now - start_us) / 1e6 : 0);
}

/* A routed lookup's hop count. */
void
stats_hops(struct stats *s, uint64_t hops)
{
	stats_observe(&s->hops, stats_hop_le, STATS_HOP_BUCKETS,
	    (double)hops);
}

/* HELP text of a metric name. */
const char *
stats_help(const char *name)
{
	for (size_t i = 0; i < sizeof stats_helps / sizeof stats_helps[0];
	    i++) {
		if (strcmp(stats_helps[i].name, name) == 0)
			return stats_helps[i].help;
	}
	return "";
}

/* ---- the snapshot ------------------------------------------------- */

/* A new metric at the end of out (allocated for STATS_MAX_METRICS). */
static struct wire_metric *
stats_add(struct wire_stats *out, const char *name, const char *label_value,
    uint8_t kind)
{
	struct wire_metric *m;

	if (out->n == STATS_MAX_METRICS)
		fatalx("stats: more than %d metrics", STATS_MAX_METRICS);
	m = &out->m[out->n++];
	snprintf(m->name, sizeof m->name, "%s", name);
	if (label_value != NULL) {
		snprintf(m->label_key, sizeof m->label_key, "type");
		snprintf(m->label_value, sizeof m->label_value, "%s",
		    label_value);
	}
	m->kind = kind;
	return m;
}

static void
stats_gauge(struct wire_stats *out, const char *name, double v)
{
	stats_add(out, name, NULL, WIRE_STATS_GAUGE)->value = v;
}

static void
stats_counter(struct wire_stats *out, const char *name,
    const char *label_value, uint64_t v)
{
	stats_add(out, name, label_value, WIRE_STATS_COUNTER)->count = v;
}

/* A histogram with cumulative bucket counts, as the wire wants them. */
static void
stats_histogram(struct wire_stats *out, const char *name,
    const char *label_value, const struct stats_hist *h, const double *le,
    int nb)
{
	struct wire_metric *m = stats_add(out, name, label_value,
	    WIRE_STATS_HISTOGRAM);
	uint64_t cum = 0;

	m->count = h->count;
	m->value = h->sum;
	m->nb = (uint8_t)nb;
	for (int i = 0; i < nb; i++) {
		cum += h->b[i];
		m->le[i] = le[i];
		m->cum[i] = cum;
	}
}

/* Live neighbours, as node_nbr_list() counts them. */
static int
stats_neighbours(struct node *n)
{
	struct nbr *e;
	int count = 0;

	TAILQ_FOREACH(e, &n->nbrs, entry) {
		if (!e->failed && e->heard_ms != 0 && e->info.nzones > 0)
			count++;
	}
	return count;
}

/* The gauges, read from the node now. */
static void
stats_gauges(struct node *n, const struct repair_counts *rc,
    struct wire_stats *out)
{
	uint64_t objects = 0, bytes = 0;

	if (n->store != NULL && store_stats(n->store, &objects, &bytes) != 0)
		objects = bytes = 0;
	stats_gauge(out, "canfs_node_state", (double)n->state);
	stats_gauge(out, "canfs_cut_off", quorum_minority_since(n) != 0 ? 2 :
	    node_cut_off(n) ? 1 : 0);
	stats_gauge(out, "canfs_uptime_seconds",
	    (double)(node_now_ms() - n->start_ms) / 1000);
	stats_gauge(out, "canfs_store_objects", (double)objects);
	stats_gauge(out, "canfs_store_bytes", (double)bytes);
	stats_gauge(out, "canfs_store_used_bytes", (double)n->space_used);
	stats_gauge(out, "canfs_store_avail_bytes", (double)n->space_avail);
	stats_gauge(out, "canfs_store_pending_writes", n->store != NULL ?
	    (double)store_pending(n->store) : 0);
	stats_gauge(out, "canfs_zones", (double)n->self.nzones);
	stats_gauge(out, "canfs_zone_volume",
	    nbr_node_share(&n->self, n->cfg.dims));
	stats_gauge(out, "canfs_neighbours", (double)stats_neighbours(n));
	stats_gauge(out, "canfs_connections",
	    (double)transport_count(n->transport));
	stats_gauge(out, "canfs_repair_backlog", (double)rc->backlog);
	stats_gauge(out, "canfs_transfer_backlog",
	    (double)rc->transfer_backlog);
	stats_gauge(out, "canfs_under_replicated",
	    (double)rc->under_replicated);
	stats_gauge(out, "canfs_repair_last_pass_seconds",
	    (double)rc->last_pass_ms / 1000);
}

/* The counters and histograms. */
static void
stats_counters(struct node *n, const struct repair_counts *rc,
    struct wire_stats *out)
{
	const struct stats *s = n->stats;

	for (int t = 0; t < STATS_NREQ; t++)
		stats_counter(out, "canfs_requests_total", stats_req_names[t],
		    s->requests[t]);
	for (int t = 0; t < STATS_NREQ; t++)
		stats_counter(out, "canfs_request_errors_total",
		    stats_req_names[t], s->errors[t]);
	for (int t = 0; t < STATS_NREQ; t++)
		stats_histogram(out, "canfs_request_seconds",
		    stats_req_names[t], &s->latency[t], stats_lat_le,
		    STATS_LAT_BUCKETS);
	stats_histogram(out, "canfs_lookup_hops", NULL, &s->hops,
	    stats_hop_le, STATS_HOP_BUCKETS);
	stats_counter(out, "canfs_request_bytes_total", "in", s->bytes_in);
	stats_counter(out, "canfs_request_bytes_total", "out", s->bytes_out);
	for (int t = 0; t < STATS_NREPLICA; t++)
		stats_counter(out, "canfs_replica_requests_total",
		    stats_replica_names[t], s->replica[t]);
	stats_counter(out, "canfs_routed_total", NULL, n->routed);
	stats_counter(out, "canfs_heartbeats_total", "sent", s->hb_sent);
	stats_counter(out, "canfs_heartbeats_total", "received",
	    s->hb_received);
	stats_counter(out, "canfs_suspicions_total", NULL, s->suspicions);
	stats_counter(out, "canfs_false_suspicions_total", NULL,
	    s->false_suspicions);
	stats_counter(out, "canfs_taken_for_dead_total", NULL,
	    s->taken_for_dead);
	stats_counter(out, "canfs_repair_passes_total", NULL, rc->passes);
	stats_counter(out, "canfs_repair_pushed_total", NULL, rc->pushed);
	stats_counter(out, "canfs_transferred_total", NULL, rc->transferred);
	stats_counter(out, "canfs_repair_dropped_total", NULL, rc->deleted);
	stats_counter(out, "canfs_tombstones_expired_total", NULL,
	    rc->expired);
	stats_counter(out, "canfs_store_commits_total", NULL,
	    n->store != NULL ? store_commits(n->store) : 0);
}

/* The node's metrics now (see stats.h). */
void
stats_snapshot(struct node *n, struct wire_stats *out)
{
	struct repair_counts rc;

	memset(out, 0, sizeof *out);
	out->m = xcalloc(STATS_MAX_METRICS, sizeof *out->m);
	repair_counts(n, &rc);
	stats_gauges(n, &rc, out);
	stats_counters(n, &rc, out);
}
