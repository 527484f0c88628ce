/*
 * canctl_cluster.c: `canctl status` for the whole overlay and `canctl map
 * --svg` (see canctl_cluster.h).
 *
 * A node's STATUS gives its state and uptime; its STATS (wire_stats.h)
 * the store's and repair's gauges.  A daemon older than STATS closes the
 * connection at the unknown request: its metrics show as "-" and do not
 * count, and the cluster's health is judged on the rest.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canctl_cluster.h"
#include "canctl_svg.h"
#include "geom.h"
#include "json.h"
#include "log.h"
#include "wire.h"
#include "wire_stats.h"
#include "xmalloc.h"

/* The shared queue of nodes to ask. */
struct ctl_cluster_queue {
	const struct ctl_opts *o;
	struct ctl_cluster *c;
	pthread_mutex_t mu;
	size_t next;		/* the next live node to ask */
};

/* A gauge or counter of s as a number, or -1 when s lacks it. */
static double
ctl_cluster_metric(const struct wire_stats *s, const char *name)
{
	const struct wire_metric *m = wire_stats_find(s, name, "");

	if (m == NULL)
		return -1;
	return m->kind == WIRE_STATS_COUNTER ? (double)m->count : m->value;
}

/* Ask for STATS over c and take the metrics into x; -1 if not given. */
static int
ctl_cluster_stats(struct client *c, int timeout_ms, struct ctl_node *x)
{
	struct wire_header h;
	struct wire_stats s;
	uint8_t *body = NULL;
	size_t len = 0;
	int rc = -1;

	if (client_call(c, WIRE_STATS_REQ, 0, NULL, 0, &h, &body, &len,
	    timeout_ms) == -1)
		return -1;
	if (h.type == WIRE_STATS && wire_stats_decode(body, len, &s) == 0) {
		x->replicas = ctl_cluster_metric(&s, "canfs_store_objects");
		x->bytes = ctl_cluster_metric(&s, "canfs_store_bytes");
		x->avail = ctl_cluster_metric(&s, "canfs_store_avail_bytes");
		x->backlog = ctl_cluster_metric(&s, "canfs_repair_backlog");
		x->under = ctl_cluster_metric(&s, "canfs_under_replicated");
		x->cut_off = ctl_cluster_metric(&s, "canfs_cut_off");
		x->have_stats = true;
		wire_stats_free(&s);
		rc = 0;
	}
	free(body);
	return rc;
}

/* Ask one live node for STATUS and STATS, into x. */
static void
ctl_cluster_ask(const struct ctl_opts *o, struct ctl_node *x)
{
	struct wire_membership m;
	struct client *c;
	char err[512];

	if ((c = client_connect(x->n.addr, o->timeout_ms, err,
	    sizeof err)) == NULL) {
		log_escape(err, strlen(err), x->err, sizeof x->err);
		return;
	}
	if (client_request(c, WIRE_STATUS_REQ, 0, NULL, 0, WIRE_STATUS, &m,
	    NULL, o->timeout_ms) == -1) {
		log_escape(client_error(c), strlen(client_error(c)), x->err,
		    sizeof x->err);
		client_close(c);
		return;
	}
	x->reachable = true;
	x->state = m.flags;
	x->uptime_ms = m.a;
	wire_membership_free(&m);
	(void)ctl_cluster_stats(c, o->timeout_ms, x);
	client_close(c);
}

/* A worker: ask the queue's nodes until none are left. */
static void *
ctl_cluster_worker(void *arg)
{
	struct ctl_cluster_queue *q = arg;
	size_t i;

	for (;;) {
		pthread_mutex_lock(&q->mu);
		i = q->next < q->c->w.n ? q->next++ : SIZE_MAX;
		pthread_mutex_unlock(&q->mu);
		if (i == SIZE_MAX)
			return NULL;
		ctl_cluster_ask(q->o, &q->c->nodes[i]);
	}
}

/* Ask every live node, CTL_CLUSTER_THREADS at a time. */
static void
ctl_cluster_ask_all(const struct ctl_opts *o, struct ctl_cluster *c)
{
	struct ctl_cluster_queue q = { .o = o, .c = c };
	pthread_t t[CTL_CLUSTER_THREADS];
	size_t nt = 0;

	pthread_mutex_init(&q.mu, NULL);
	for (size_t i = 0; i < CTL_CLUSTER_THREADS && i < c->w.n; i++) {
		if (pthread_create(&t[nt], NULL, ctl_cluster_worker, &q) != 0)
			break;
		nt++;
	}
	if (nt == 0)	/* no threads to be had: ask them one by one */
		(void)ctl_cluster_worker(&q);
	for (size_t i = 0; i < nt; i++)
		pthread_join(t[i], NULL);
	pthread_mutex_destroy(&q.mu);
}

/* Gather the overlay (see canctl_cluster.h). */
int
ctl_cluster_gather(const struct ctl_opts *o, struct ctl_cluster *c)
{
	memset(c, 0, sizeof *c);
	if (ctl_walk(o, &c->w) == -1)
		return -1;
	c->n = c->w.n + c->w.unreachable;
	c->nodes = xcalloc(c->n ? c->n : 1, sizeof *c->nodes);
	for (size_t i = 0; i < c->n; i++) {
		struct ctl_node *x = &c->nodes[i];

		x->n = i < c->w.n ? c->w.nodes[i] : c->w.lost[i - c->w.n];
		x->state = CTL_NODE_UNKNOWN;
		x->replicas = x->bytes = x->avail = x->backlog = x->under = -1;
		x->cut_off = -1;
		if (i >= c->w.n)
			snprintf(x->err, sizeof x->err, "named by a neighbour, "
			    "not answering");
	}
	ctl_cluster_ask_all(o, c);
	return 0;
}

/* Free what was gathered. */
void
ctl_cluster_free(struct ctl_cluster *c)
{
	free(c->nodes);
	c->nodes = NULL;
	client_walk_free(&c->w);
}

/* Sum of a node's zone shares. */
static double
ctl_cluster_share(const struct ctl_node *x, int dims)
{
	double share = 0;

	for (int i = 0; i < x->n.nzones; i++)
		share += geom_zone_share(&x->n.zones[i], dims);
	return share;
}

/* A metric as JSON: its value, or null when unknown. */
static void
ctl_cluster_json_num(struct json *j, const char *key, double v, bool known)
{
	json_key(j, key);
	if (known && v >= 0)
		json_uint(j, (uint64_t)(v + 0.5));
	else
		json_null(j);
}

/* One node as JSON. */
static void
ctl_cluster_json_node(struct json *j, const struct ctl_node *x, int dims)
{
	json_begin_object(j);
	json_wire_node(j, &x->n, dims, true);
	json_key_string(j, "state", ctl_health_state_name(x->state));
	json_key_double(j, "volume", ctl_cluster_share(x, dims));
	ctl_cluster_json_num(j, "replicas", x->replicas, x->have_stats);
	ctl_cluster_json_num(j, "bytes", x->bytes, x->have_stats);
	ctl_cluster_json_num(j, "avail", x->avail, x->have_stats);
	ctl_cluster_json_num(j, "repair_backlog", x->backlog, x->have_stats);
	ctl_cluster_json_num(j, "under_replicated", x->under, x->have_stats);
	ctl_cluster_json_num(j, "uptime_ms", (double)x->uptime_ms,
	    x->reachable);
	if (!x->reachable)
		json_key_string(j, "error", x->err);
	json_end_object(j);
}

/* status --json: the summary, then every node. */
static void
ctl_cluster_json(const struct ctl_cluster *c, const struct ctl_health *h)
{
	static const char *tiling[] = { "exact", "overlaps", "gaps" };
	struct json j;

	json_init(&j, stdout);
	json_begin_object(&j);
	json_key_string(&j, "health", ctl_health_name(h->word));
	json_key(&j, "reasons");
	json_begin_array(&j);
	for (int i = 0; i < h->nreasons; i++)
		json_string(&j, h->reason[i]);
	json_end_array(&j);
	json_key_uint(&j, "dims", (uint64_t)c->w.dims);
	json_key_uint(&j, "k", c->w.replicas);
	json_key_uint(&j, "nodes", h->nodes);
	json_key_uint(&j, "active", h->active);
	json_key_uint(&j, "joining", h->joining);
	json_key_uint(&j, "leaving", h->leaving);
	json_key_uint(&j, "unreachable", h->unreachable);
	json_key_uint(&j, "no_metrics", h->nostats);
	json_key_uint(&j, "zones", h->zones);
	json_key_string(&j, "tiling", tiling[h->tiling]);
	json_key_double(&j, "covered", h->covered);
	json_key_double(&j, "volume", h->volume);
	ctl_cluster_json_num(&j, "replicas", h->replicas, h->have_stats);
	ctl_cluster_json_num(&j, "objects", h->objects, h->have_stats);
	ctl_cluster_json_num(&j, "bytes", h->bytes, h->have_stats);
	ctl_cluster_json_num(&j, "avail", h->avail, h->have_stats);
	ctl_cluster_json_num(&j, "under_replicated", h->under,
	    h->have_stats);
	ctl_cluster_json_num(&j, "repair_backlog", h->backlog,
	    h->have_stats);
	json_key(&j, "members");
	json_begin_array(&j);
	for (size_t i = 0; i < c->n; i++)
		ctl_cluster_json_node(&j, &c->nodes[i], c->w.dims);
	json_end_array(&j);
	json_end_object(&j);
	json_end(&j);
}

/* A count for the table: the number, or "-" when unknown. */
static const char *
ctl_cluster_count(double v, bool known, char *buf, size_t len)
{
	if (!known || v < 0)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%.0f", v);
	return buf;
}

/* An uptime as "3d 04:05:06", or "-". */
static const char *
ctl_cluster_uptime(const struct ctl_node *x, char *buf, size_t len)
{
	uint64_t s = x->uptime_ms / 1000;

	if (!x->reachable)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%" PRIu64 "d %02u:%02u:%02u", s / 86400,
		    (unsigned)(s / 3600 % 24), (unsigned)(s / 60 % 60),
		    (unsigned)(s % 60));
	return buf;
}

/* One node's line of the table. */
static void
ctl_cluster_text_node(const struct ctl_node *x, int dims)
{
	char esc[256], rep[32], bytes[32], bl[32], up[32];

	printf("%016" PRIx64 "  %-21s  %-11s  %5d  %8.4f%%  %8s  %10s  "
	    "%7s  %s\n", x->n.id, ctl_esc(x->n.addr, esc, sizeof esc),
	    ctl_health_state_name(x->state), x->n.nzones,
	    100 * ctl_cluster_share(x, dims),
	    ctl_cluster_count(x->replicas, x->have_stats, rep, sizeof rep),
	    x->have_stats ? ctl_health_bytes(x->bytes, bytes, sizeof bytes) :
	    "-", ctl_cluster_count(x->backlog, x->have_stats, bl, sizeof bl),
	    ctl_cluster_uptime(x, up, sizeof up));
}

/* status as text: the summary, then the table of nodes. */
static void
ctl_cluster_text(const struct ctl_cluster *c, const struct ctl_health *h)
{
	static const char *tiling[] = { "exact", "OVERLAPPING",
	    "GAPS" };
	char a[32], b[32];

	printf("health            %s\n", ctl_health_name(h->word));
	for (int i = 0; i < h->nreasons; i++)
		printf("  - %s\n", h->reason[i]);
	printf("nodes             %zu live: %zu active, %zu joining, %zu "
	    "leaving; %zu unreachable\n", h->nodes, h->active, h->joining,
	    h->leaving, h->unreachable);
	printf("zones             %zu, %s (%.6g%% of the space owned, total "
	    "volume %.9g), %d dimensions\n", h->zones, tiling[h->tiling],
	    100 * h->covered, h->volume, c->w.dims);
	if (h->have_stats) {
		printf("objects           about %.0f (%.0f replicas held, "
		    "k = %" PRIu32 ")\n", h->objects, h->replicas,
		    c->w.replicas);
		printf("bytes             %s stored, %s available\n",
		    ctl_health_bytes(h->bytes, a, sizeof a),
		    ctl_health_bytes(h->avail, b, sizeof b));
		printf("under-replicated  %.0f\nrepair backlog    %.0f\n",
		    h->under, h->backlog);
	} else
		printf("objects           - (no node gave metrics)\n");
	if (h->nostats > 0)
		printf("(%zu node(s) gave no metrics: older daemons? their "
		    "columns show -)\n", h->nostats);
	printf("\n%-16s  %-21s  %-11s  %5s  %9s  %8s  %10s  %7s  %s\n",
	    "NODE", "ADDRESS", "STATE", "ZONES", "VOLUME", "REPLICAS",
	    "BYTES", "BACKLOG", "UPTIME");
	for (size_t i = 0; i < c->n; i++)
		ctl_cluster_text_node(&c->nodes[i], c->w.dims);
}

/* status: the whole overlay (see canctl_cluster.h). */
int
ctl_cluster_status(const struct ctl_opts *o)
{
	struct ctl_cluster c;
	struct ctl_health h;

	if (ctl_cluster_gather(o, &c) == -1)
		return CTL_EXIT_FAIL;
	ctl_health_summarise(c.nodes, c.n, c.w.dims, c.w.replicas, &h);
	if (o->json)
		ctl_cluster_json(&c, &h);
	else
		ctl_cluster_text(&c, &h);
	ctl_cluster_free(&c);
	return h.word == CTL_HEALTHY ? CTL_EXIT_OK : h.word == CTL_DEGRADED ?
	    CTL_EXIT_DEGRADED : CTL_EXIT_UNAVAILABLE;
}

/* map --svg FILE (see canctl_cluster.h). */
int
ctl_cluster_map_svg(const struct ctl_opts *o)
{
	struct ctl_svg_slice s;
	struct ctl_svg_node *sv;
	struct ctl_cluster c;
	bool out = strcmp(o->svg, "-") == 0;
	char err[512];
	size_t drawn;
	FILE *f;
	int rc = CTL_EXIT_OK;

	if (ctl_cluster_gather(o, &c) == -1)
		return CTL_EXIT_FAIL;
	if (ctl_svg_slice_parse(o->axes, o->slice, c.w.dims, &s, err,
	    sizeof err) == -1) {
		ctl_cluster_free(&c);
		ctl_usage("%s", err);
	}
	sv = xcalloc(c.n ? c.n : 1, sizeof *sv);
	for (size_t i = 0; i < c.n; i++) {
		sv[i].id = c.nodes[i].n.id;
		sv[i].addr = c.nodes[i].n.addr;
		sv[i].zones = c.nodes[i].n.zones;
		sv[i].nzones = c.nodes[i].n.nzones;
		sv[i].bytes = c.nodes[i].have_stats ? c.nodes[i].bytes : -1;
	}
	if ((f = out ? stdout : fopen(o->svg, "w")) == NULL) {
		rc = ctl_fail("map: cannot write %s: %s", o->svg,
		    strerror(errno));
		goto done;
	}
	drawn = ctl_svg_write(f, sv, c.n, c.w.dims, &s);
	if ((out ? fflush(f) : fclose(f)) == EOF || (out && ferror(f)))
		rc = ctl_fail("map: writing %s: %s", o->svg, strerror(errno));
	else if (!out)
		printf("wrote %s: %zu zone(s) of %zu node(s)%s\n", o->svg,
		    drawn, c.w.n, c.w.dims > 2 ? " in the slice" : "");
done:
	free(sv);
	ctl_cluster_free(&c);
	return rc;
}
