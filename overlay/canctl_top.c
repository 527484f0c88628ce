/*
 * canctl_top.c: `canctl top` (canctl_top.h): samples of WIRE_STATS from
 * one daemon or every daemon of a walk, turned into rates, latency
 * quantiles and mean hops, shown as a redrawn screen, plain lines or JSON.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "canctl_top.h"
#include "client.h"
#include "json.h"
#include "wire.h"
#include "wire_stats.h"
#include "xmalloc.h"

#define CTL_TOP_TYPES 5
#define CTL_TOP_ROUTE 4			/* its index in ctl_top_types */
#define CTL_TOP_CLEAR "\033[H\033[J"	/* cursor home, clear the rest */

/* The request types, as the daemons label them (stats.h). */
static const char *const ctl_top_types[CTL_TOP_TYPES] = {
	"get", "put", "del", "batch", "route",
};

/* One daemon being sampled. */
struct ctl_top_node {
	char addr[WIRE_ADDR_MAX];
	struct client *c;		/* kept open between samples */
	struct wire_stats prev, cur;	/* the last two good samples */
	double prev_t, cur_t;		/* when they came (monotonic s) */
	int have;			/* good samples so far (0, 1, 2+) */
	bool ok;			/* this round's sample is good */
	bool failing;			/* the last round failed (logged) */
	char err[512];
};

/* One request type, summed over the nodes of a round. */
struct ctl_top_row {
	double ops, errors;		/* per second */
	uint64_t total;			/* since the daemons started */
	struct wire_metric lat;		/* latency histogram of the round */
	bool have_lat;
};

/* What one round shows. */
struct ctl_top_sample {
	time_t time;
	double interval;
	size_t nodes, unreachable;
	struct ctl_top_row t[CTL_TOP_TYPES];
	struct wire_metric hops;
	bool have_hops;
	double in, out;			/* object bytes per second */
	double objects, bytes, backlog, under;
};

/* ---- the arithmetic (unit-tested) ---------------------------------- */

/* The q-quantile of a histogram (see canctl_top.h). */
double
ctl_top_quantile(const double *le, const uint64_t *cum, int nb,
    uint64_t count, double q)
{
	double rank, lo = 0, below = 0;

	if (count == 0)
		return NAN;
	rank = q * (double)count;
	for (int i = 0; i < nb; i++) {
		if ((double)cum[i] >= rank && cum[i] > 0) {
			double in = (double)cum[i] - below;

			if (in <= 0)
				return le[i];
			return lo + (le[i] - lo) * (rank - below) / in;
		}
		lo = le[i];
		below = (double)cum[i];
	}
	return nb > 0 ? le[nb - 1] : NAN;
}

/* now - before for one series (see canctl_top.h). */
void
ctl_top_delta(const struct wire_metric *now, const struct wire_metric *before,
    struct wire_metric *out)
{
	bool reset = before == NULL || now->count < before->count ||
	    now->kind != before->kind || now->nb != before->nb;

	for (int b = 0; !reset && b < now->nb; b++)
		reset = now->le[b] != before->le[b] ||
		    now->cum[b] < before->cum[b];
	*out = *now;
	if (reset)
		return;
	out->count = now->count - before->count;
	out->value = now->value - before->value;
	for (int b = 0; b < now->nb; b++)
		out->cum[b] = now->cum[b] - before->cum[b];
}

/* Add histogram d into *sum (same buckets; else d is left out). */
static void
ctl_top_merge(struct wire_metric *sum, bool *have, const struct wire_metric *d)
{
	if (!*have) {
		*sum = *d;
		*have = true;
		return;
	}
	if (sum->nb != d->nb ||
	    memcmp(sum->le, d->le, (size_t)d->nb * sizeof d->le[0]) != 0)
		return;
	sum->count += d->count;
	sum->value += d->value;
	for (int b = 0; b < d->nb; b++)
		sum->cum[b] += d->cum[b];
}

/* ---- options ------------------------------------------------------- */

/* --interval and --count. */
int
ctl_top_option(int ch, const char *arg, struct ctl_opts *o)
{
	char *end;
	uint64_t v;

	switch (ch) {
	case CTL_OPT_INTERVAL:
		errno = 0;
		o->interval = strtod(arg, &end);
		if (errno != 0 || end == arg || *end != '\0' ||
		    !(o->interval >= 0.1 && o->interval <= 3600))
			ctl_usage("bad --interval \"%s\": seconds from 0.1 to "
			    "3600", arg);
		return 0;
	case CTL_OPT_COUNT:
		if (ctl_number(arg, 1, 1000000000, &v) == -1)
			ctl_usage("bad --count \"%s\": a number of samples "
			    "from 1", arg);
		o->count = v;
		return 0;
	}
	return -1;
}

/* --interval and --count go with top only. */
void
ctl_top_check_opts(const struct ctl_opts *o, const char *cmd)
{
	if ((o->interval != 0 || o->count != 0) && strcmp(cmd, "top") != 0)
		ctl_usage("--interval and --count go with top only");
}

/* ---- sampling -------------------------------------------------------- */

/* Monotonic seconds. */
static double
ctl_top_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Ask x for STATS into *s.  Returns 0, or -1 with x->err. */
static int
ctl_top_ask(struct ctl_top_node *x, int timeout_ms, struct wire_stats *s)
{
	struct wire_header h;
	uint8_t *body = NULL;
	size_t len = 0;
	uint32_t code;
	char msg[256], esc[256];

	if (x->c == NULL && (x->c = client_connect(x->addr, timeout_ms,
	    x->err, sizeof x->err)) == NULL)
		return -1;
	if (client_call(x->c, WIRE_STATS_REQ, 0, NULL, 0, &h, &body, &len,
	    timeout_ms) != 0) {
		snprintf(x->err, sizeof x->err, "%s", client_error(x->c));
		client_close(x->c);
		x->c = NULL;
		return -1;
	}
	if (h.type == WIRE_ERROR) {
		if (wire_error_decode(body, len, &code, msg, sizeof msg) != 0)
			snprintf(msg, sizeof msg, "malformed error reply");
		snprintf(x->err, sizeof x->err, "%s: %s (a daemon too old "
		    "for top?)", x->addr, ctl_esc(msg, esc, sizeof esc));
		free(body);
		return -1;
	}
	if (h.type != WIRE_STATS || wire_stats_decode(body, len, s) != 0) {
		snprintf(x->err, sizeof x->err, "%s: malformed STATS reply",
		    x->addr);
		free(body);
		client_close(x->c);
		x->c = NULL;
		return -1;
	}
	free(body);
	return 0;
}

/* One round: a new sample from every node. */
static void
ctl_top_round(struct ctl_top_node *nodes, size_t n, int timeout_ms,
    bool log_failures)
{
	for (size_t i = 0; i < n; i++) {
		struct ctl_top_node *x = &nodes[i];
		struct wire_stats s;

		x->ok = false;
		if (ctl_top_ask(x, timeout_ms, &s) != 0) {
			if (log_failures && !x->failing)
				fprintf(stderr, "canctl: top: %s\n", x->err);
			x->failing = true;
			continue;
		}
		x->failing = false;
		wire_stats_free(&x->prev);
		x->prev = x->cur;
		x->prev_t = x->cur_t;
		x->cur = s;
		x->cur_t = ctl_top_now();
		x->have++;
		x->ok = x->have >= 2 && x->cur_t > x->prev_t;
	}
}

/* Rate of a counter series of node x (0 when absent). */
static double
ctl_top_rate(const struct ctl_top_node *x, const char *name,
    const char *label, uint64_t *total)
{
	const struct wire_metric *now = wire_stats_find(&x->cur, name, label);
	struct wire_metric d;

	if (now == NULL || now->kind != WIRE_STATS_COUNTER)
		return 0;
	if (total != NULL)
		*total += now->count;
	ctl_top_delta(now, wire_stats_find(&x->prev, name, label), &d);
	return (double)d.count / (x->cur_t - x->prev_t);
}

/* A histogram series' difference merged into *sum. */
static void
ctl_top_hist(const struct ctl_top_node *x, const char *name,
    const char *label, struct wire_metric *sum, bool *have)
{
	const struct wire_metric *now = wire_stats_find(&x->cur, name, label);
	struct wire_metric d;

	if (now == NULL || now->kind != WIRE_STATS_HISTOGRAM)
		return;
	ctl_top_delta(now, wire_stats_find(&x->prev, name, label), &d);
	ctl_top_merge(sum, have, &d);
}

/* A gauge of node x's last sample (0 when absent). */
static double
ctl_top_gauge(const struct ctl_top_node *x, const char *name)
{
	const struct wire_metric *m = wire_stats_find(&x->cur, name, "");

	return m != NULL && m->kind == WIRE_STATS_GAUGE ? m->value : 0;
}

/* Node x's object requests per second (get, put, del). */
static double
ctl_top_node_ops(const struct ctl_top_node *x)
{
	double ops = 0;

	for (int t = 0; t < 3; t++)
		ops += ctl_top_rate(x, "canfs_requests_total",
		    ctl_top_types[t], NULL);
	return ops;
}

/* Sum the nodes that answered this round into *s. */
static void
ctl_top_sum(const struct ctl_top_node *nodes, size_t n, double interval,
    struct ctl_top_sample *s)
{
	memset(s, 0, sizeof *s);
	s->time = time(NULL);
	s->interval = interval;
	s->nodes = n;
	for (size_t i = 0; i < n; i++) {
		const struct ctl_top_node *x = &nodes[i];

		if (!x->ok) {
			s->unreachable += x->failing;
			continue;
		}
		for (int t = 0; t < CTL_TOP_TYPES; t++) {
			struct ctl_top_row *r = &s->t[t];

			r->ops += ctl_top_rate(x, "canfs_requests_total",
			    ctl_top_types[t], &r->total);
			r->errors += ctl_top_rate(x,
			    "canfs_request_errors_total", ctl_top_types[t],
			    NULL);
			ctl_top_hist(x, "canfs_request_seconds",
			    ctl_top_types[t], &r->lat, &r->have_lat);
		}
		ctl_top_hist(x, "canfs_lookup_hops", "", &s->hops,
		    &s->have_hops);
		s->in += ctl_top_rate(x, "canfs_request_bytes_total", "in",
		    NULL);
		s->out += ctl_top_rate(x, "canfs_request_bytes_total", "out",
		    NULL);
		s->objects += ctl_top_gauge(x, "canfs_store_objects");
		s->bytes += ctl_top_gauge(x, "canfs_store_bytes");
		s->backlog += ctl_top_gauge(x, "canfs_repair_backlog");
		s->under += ctl_top_gauge(x, "canfs_under_replicated");
	}
}

/* Mean, p50 and p99 of a row (NaN without requests). */
static void
ctl_top_lat(const struct ctl_top_row *r, double *mean, double *p50,
    double *p99)
{
	const struct wire_metric *h = &r->lat;

	*mean = *p50 = *p99 = NAN;
	if (!r->have_lat || h->count == 0)
		return;
	*mean = h->value / (double)h->count;
	*p50 = ctl_top_quantile(h->le, h->cum, h->nb, h->count, 0.5);
	*p99 = ctl_top_quantile(h->le, h->cum, h->nb, h->count, 0.99);
}

/* Mean hops of the round's lookups (NaN without any). */
static double
ctl_top_hops(const struct ctl_top_sample *s)
{
	return s->have_hops && s->hops.count > 0 ?
	    s->hops.value / (double)s->hops.count : NAN;
}

/* ---- output ---------------------------------------------------------- */

/* A duration for people: "-", "850us", "1.25ms", "2.50s". */
static const char *
ctl_top_secs(double s, char *buf, size_t len)
{
	if (isnan(s))
		snprintf(buf, len, "-");
	else if (s < 0.001)
		snprintf(buf, len, "%.0fus", s * 1e6);
	else if (s < 1)
		snprintf(buf, len, "%.2fms", s * 1e3);
	else
		snprintf(buf, len, "%.2fs", s);
	return buf;
}

/* Bytes for people: "512B", "1.5KiB", "3.2MiB", "1.01GiB". */
static const char *
ctl_top_bytes(double b, char *buf, size_t len)
{
	if (b < 1024)
		snprintf(buf, len, "%.0fB", b);
	else if (b < 1048576)
		snprintf(buf, len, "%.1fKiB", b / 1024);
	else if (b < 1073741824)
		snprintf(buf, len, "%.1fMiB", b / 1048576);
	else
		snprintf(buf, len, "%.2fGiB", b / 1073741824);
	return buf;
}

/* A JSON number, or null for NaN. */
static void
ctl_top_json_num(struct json *j, const char *key, double v)
{
	json_key(j, key);
	if (isnan(v))
		json_null(j);
	else
		json_double(j, v);
}

/* Each node's own numbers, for the per-node JSON array. */
static void
ctl_top_json_nodes(struct json *j, const struct ctl_top_node *nodes,
    size_t n)
{
	json_key(j, "per_node");
	json_begin_array(j);
	for (size_t i = 0; i < n; i++) {
		const struct ctl_top_node *x = &nodes[i];

		json_begin_object(j);
		json_key_string(j, "addr", x->addr);
		json_key(j, "ok");
		json_bool(j, x->ok);
		if (x->ok) {
			json_key_double(j, "ops", ctl_top_node_ops(x));
			json_key_double(j, "store_objects",
			    ctl_top_gauge(x, "canfs_store_objects"));
			json_key_double(j, "store_bytes",
			    ctl_top_gauge(x, "canfs_store_bytes"));
			json_key_double(j, "repair_backlog",
			    ctl_top_gauge(x, "canfs_repair_backlog"));
		}
		json_end_object(j);
	}
	json_end_array(j);
}

/* One sample as one JSON object on one line. */
static void
ctl_top_json(const struct ctl_top_sample *s, const struct ctl_top_node *nodes,
    size_t n)
{
	struct json j;

	json_init(&j, stdout);
	json_begin_object(&j);
	json_key_uint(&j, "time", (uint64_t)s->time);
	json_key_double(&j, "interval", s->interval);
	json_key_uint(&j, "nodes", s->nodes);
	json_key_uint(&j, "unreachable", s->unreachable);
	json_key(&j, "types");
	json_begin_object(&j);
	for (int t = 0; t < CTL_TOP_TYPES; t++) {
		double mean, p50, p99;

		ctl_top_lat(&s->t[t], &mean, &p50, &p99);
		json_key(&j, ctl_top_types[t]);
		json_begin_object(&j);
		json_key_double(&j, "ops", s->t[t].ops);
		json_key_double(&j, "errors", s->t[t].errors);
		ctl_top_json_num(&j, "mean", mean);
		ctl_top_json_num(&j, "p50", p50);
		ctl_top_json_num(&j, "p99", p99);
		json_key_uint(&j, "total", s->t[t].total);
		json_end_object(&j);
	}
	json_end_object(&j);
	ctl_top_json_num(&j, "hops_mean", ctl_top_hops(s));
	json_key_double(&j, "bytes_in", s->in);
	json_key_double(&j, "bytes_out", s->out);
	json_key_double(&j, "store_objects", s->objects);
	json_key_double(&j, "store_bytes", s->bytes);
	json_key_double(&j, "repair_backlog", s->backlog);
	json_key_double(&j, "under_replicated", s->under);
	ctl_top_json_nodes(&j, nodes, n);
	json_end_object(&j);
	json_end(&j);
}

/* One sample as one line of text (stdout is not a terminal). */
static void
ctl_top_line(const struct ctl_top_sample *s)
{
	char a[32], b[32], c[32], when[16];
	struct tm tm;

	localtime_r(&s->time, &tm);
	strftime(when, sizeof when, "%H:%M:%S", &tm);
	printf("%s", when);
	for (int t = 0; t < CTL_TOP_TYPES; t++) {
		double mean, p50, p99;

		ctl_top_lat(&s->t[t], &mean, &p50, &p99);
		printf(" %s %.1f/s", ctl_top_types[t], s->t[t].ops);
		if (s->t[t].errors > 0)
			printf(" err %.1f/s", s->t[t].errors);
		if (!isnan(mean))
			printf(" mean %s p50 %s p99 %s",
			    ctl_top_secs(mean, a, sizeof a),
			    ctl_top_secs(p50, b, sizeof b),
			    ctl_top_secs(p99, c, sizeof c));
		printf(t == CTL_TOP_ROUTE ? "" : ";");
	}
	if (!isnan(ctl_top_hops(s)))
		printf(" hops %.2f", ctl_top_hops(s));
	printf("; in %s/s out %s/s; objects %.0f (%s) backlog %.0f under "
	    "%.0f; nodes %zu", ctl_top_bytes(s->in, a, sizeof a),
	    ctl_top_bytes(s->out, b, sizeof b), s->objects,
	    ctl_top_bytes(s->bytes, c, sizeof c), s->backlog, s->under,
	    s->nodes - s->unreachable);
	if (s->unreachable > 0)
		printf(" (%zu unreachable)", s->unreachable);
	putchar('\n');
	fflush(stdout);
}

/* The node table of the screen. */
static void
ctl_top_screen_nodes(const struct ctl_top_node *nodes, size_t n)
{
	char a[32], esc[256];

	printf("\n%-23s %10s %12s %10s %9s\n", "node", "ops/s", "objects",
	    "bytes", "backlog");
	for (size_t i = 0; i < n; i++) {
		const struct ctl_top_node *x = &nodes[i];

		printf("%-23s ", ctl_esc(x->addr, esc, sizeof esc));
		if (!x->ok) {
			printf("%s\n", x->failing ? "unreachable" :
			    "waiting for a second sample");
			continue;
		}
		printf("%10.1f %12.0f %10s %9.0f\n", ctl_top_node_ops(x),
		    ctl_top_gauge(x, "canfs_store_objects"),
		    ctl_top_bytes(ctl_top_gauge(x, "canfs_store_bytes"), a,
		    sizeof a), ctl_top_gauge(x, "canfs_repair_backlog"));
	}
}

/* One sample as a redrawn screen (stdout is a terminal). */
static void
ctl_top_screen(const struct ctl_top_sample *s, const struct ctl_top_node *nodes,
    size_t n, const char *what)
{
	char a[32], b[32], c[32], when[16];
	struct tm tm;

	localtime_r(&s->time, &tm);
	strftime(when, sizeof when, "%H:%M:%S", &tm);
	printf(CTL_TOP_CLEAR "canctl top: %s, every %g s  %s\n\n", what,
	    s->interval, when);
	printf("%-7s %10s %9s %9s %9s %9s\n", "", "ops/s", "errors/s", "mean",
	    "p50", "p99");
	for (int t = 0; t < CTL_TOP_TYPES; t++) {
		double mean, p50, p99;

		ctl_top_lat(&s->t[t], &mean, &p50, &p99);
		printf("%-7s %10.1f %9.1f %9s %9s %9s", ctl_top_types[t],
		    s->t[t].ops, s->t[t].errors,
		    ctl_top_secs(mean, a, sizeof a),
		    ctl_top_secs(p50, b, sizeof b),
		    ctl_top_secs(p99, c, sizeof c));
		if (t == CTL_TOP_ROUTE && !isnan(ctl_top_hops(s)))
			printf("   mean hops %.2f", ctl_top_hops(s));
		putchar('\n');
	}
	printf("\nobject bytes  in %s/s  out %s/s\n",
	    ctl_top_bytes(s->in, a, sizeof a),
	    ctl_top_bytes(s->out, b, sizeof b));
	printf("store         %.0f objects, %s; repair backlog %.0f; "
	    "under-replicated %.0f\n", s->objects,
	    ctl_top_bytes(s->bytes, c, sizeof c), s->backlog, s->under);
	ctl_top_screen_nodes(nodes, n);
	fflush(stdout);
}

/* ---- the command ------------------------------------------------------ */

/* The nodes to sample: the daemon, or every node of a walk. */
static int
ctl_top_targets(const struct ctl_opts *o, struct ctl_top_node **out,
    size_t *n)
{
	struct client_walk w;

	if (!o->all) {
		*out = xcalloc(1, sizeof **out);
		snprintf((*out)[0].addr, sizeof (*out)[0].addr, "%s",
		    o->daemon);
		*n = 1;
		return 0;
	}
	if (ctl_walk(o, &w) == -1)
		return -1;
	*out = xcalloc(w.n ? w.n : 1, sizeof **out);
	for (size_t i = 0; i < w.n; i++)
		snprintf((*out)[i].addr, sizeof (*out)[i].addr, "%s",
		    w.nodes[i].addr);
	*n = w.n;
	client_walk_free(&w);
	return 0;
}

/* Sleep until monotonic time t (seconds). */
static void
ctl_top_sleep_until(double t)
{
	struct timespec ts;

	ts.tv_sec = (time_t)t;
	ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) ==
	    EINTR)
		;
}

/* Free the nodes and their connections. */
static void
ctl_top_free(struct ctl_top_node *nodes, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		client_close(nodes[i].c);
		wire_stats_free(&nodes[i].prev);
		wire_stats_free(&nodes[i].cur);
	}
	free(nodes);
}

/* top (see canctl_top.h). */
int
ctl_top(const struct ctl_opts *o)
{
	double interval = o->interval != 0 ? o->interval : 1, next;
	bool screen = !o->json && isatty(STDOUT_FILENO);
	struct ctl_top_node *nodes;
	struct ctl_top_sample s;
	char what[128];
	size_t n, any = 0;

	if (ctl_top_targets(o, &nodes, &n) == -1)
		return CTL_EXIT_FAIL;
	ctl_top_round(nodes, n, o->timeout_ms, false);
	for (size_t i = 0; i < n; i++)
		any += nodes[i].have > 0;
	if (any == 0) {
		ctl_fail("top failed: %s", n > 0 ? nodes[0].err :
		    "no node found");
		ctl_top_free(nodes, n);
		return CTL_EXIT_FAIL;
	}
	if (o->all)
		snprintf(what, sizeof what, "%zu nodes from %s", n, o->daemon);
	else
		snprintf(what, sizeof what, "%s", o->daemon);
	next = ctl_top_now();
	for (uint64_t k = 0; o->count == 0 || k < o->count; k++) {
		next += interval;
		if (next < ctl_top_now())
			next = ctl_top_now(); /* fell behind: no catching up */
		ctl_top_sleep_until(next);
		ctl_top_round(nodes, n, o->timeout_ms, !screen);
		ctl_top_sum(nodes, n, interval, &s);
		if (o->json)
			ctl_top_json(&s, nodes, n);
		else if (screen)
			ctl_top_screen(&s, nodes, n, what);
		else
			ctl_top_line(&s);
	}
	ctl_top_free(nodes, n);
	return CTL_EXIT_OK;
}
