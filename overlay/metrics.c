/*
 * metrics.c: the Prometheus endpoint (metrics.h): the text exposition
 * format of a snapshot, and a small evhttp server on the daemon's loop.
 */
#include <sys/socket.h>

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <event2/util.h>

#include "log.h"
#include "metrics.h"
#include "node.h"
#include "stats.h"
#include "wire_stats.h"
#include "xmalloc.h"

/* The largest request line and headers we read, and body we accept. */
#define METRICS_MAX_HEADERS 8192
#define METRICS_MAX_BODY 1024
#define METRICS_LISTEN_BACKLOG 16
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct metrics {
	struct node *n;
	struct evhttp *http;
	struct evconnlistener *listener; /* owned by http */
	/*
	 * Every connection's bufferevent, with a reference of ours: evhttp
	 * (2.1) has no connection cap and no way to tell us a connection
	 * is gone, so we hold each one and notice on the sweep that evhttp
	 * has let it go (its callbacks cleared by bufferevent_free()); our
	 * reference then frees it and closes the socket.
	 */
	struct bufferevent **conns;
	size_t nconns, cap;
	bool paused;		/* listener off: METRICS_MAX_CONNS reached */
	struct event *sweep;	/* every second */
	uint64_t served;	/* requests answered (for the log) */
};

/* ---- the text format ------------------------------------------------ */

/*
 * A number, as short as it can be and still read back exactly; whole
 * numbers in plain digits (10, not 1e+01).
 */
static void
metrics_double(FILE *f, double v)
{
	char buf[40];

	if (isnan(v)) {
		fputs("NaN", f);
		return;
	}
	if (isinf(v)) {
		fputs(v > 0 ? "+Inf" : "-Inf", f);
		return;
	}
	if (v == floor(v) && fabs(v) < 1e15) {
		fprintf(f, "%.0f", v);
		return;
	}
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(buf, sizeof buf, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	fputs(buf, f);
}

/*
 * name[suffix]{label="value"[,le="..."]} -- the labels part only when
 * there is one; le < 0 means none, INFINITY gives "+Inf".
 */
static void
metrics_series(FILE *f, const struct wire_metric *m, const char *suffix,
    bool with_le, double le)
{
	bool label = m->label_key[0] != '\0';

	fprintf(f, "%s%s", m->name, suffix);
	if (!label && !with_le) {
		fputc(' ', f);
		return;
	}
	fputc('{', f);
	if (label)
		fprintf(f, "%s=\"%s\"", m->label_key, m->label_value);
	if (with_le) {
		fprintf(f, "%sle=\"", label ? "," : "");
		metrics_double(f, le);
		fputc('"', f);
	}
	fputs("} ", f);
}

/* The sample lines of one metric. */
static void
metrics_samples(FILE *f, const struct wire_metric *m)
{
	switch (m->kind) {
	case WIRE_STATS_COUNTER:
		metrics_series(f, m, "", false, 0);
		fprintf(f, "%" PRIu64 "\n", m->count);
		break;
	case WIRE_STATS_GAUGE:
		metrics_series(f, m, "", false, 0);
		metrics_double(f, m->value);
		fputc('\n', f);
		break;
	case WIRE_STATS_HISTOGRAM:
		for (int b = 0; b < m->nb; b++) {
			metrics_series(f, m, "_bucket", true, m->le[b]);
			fprintf(f, "%" PRIu64 "\n", m->cum[b]);
		}
		metrics_series(f, m, "_bucket", true, INFINITY);
		fprintf(f, "%" PRIu64 "\n", m->count);
		metrics_series(f, m, "_sum", false, 0);
		metrics_double(f, m->value);
		fputc('\n', f);
		metrics_series(f, m, "_count", false, 0);
		fprintf(f, "%" PRIu64 "\n", m->count);
		break;
	}
}

/* The exposition text of s (see metrics.h). */
char *
metrics_render(const struct wire_stats *s, size_t *len)
{
	static const char *const types[] = {
		[WIRE_STATS_COUNTER] = "counter",
		[WIRE_STATS_GAUGE] = "gauge",
		[WIRE_STATS_HISTOGRAM] = "histogram",
	};
	bool *done = xcalloc(s->n ? s->n : 1, sizeof *done);
	char *text = NULL;
	FILE *f;

	if ((f = open_memstream(&text, len)) == NULL)
		fatal("open_memstream");
	for (uint32_t i = 0; i < s->n; i++) {
		const struct wire_metric *m = &s->m[i];
		const char *help;

		if (done[i] || m->kind > WIRE_STATS_HISTOGRAM)
			continue;
		help = stats_help(m->name);
		fprintf(f, "# HELP %s%s%s\n# TYPE %s %s\n", m->name,
		    help[0] != '\0' ? " " : "", help, m->name, types[m->kind]);
		/* One name, one type: a sample of another kind is left out. */
		for (uint32_t j = i; j < s->n; j++) {
			if (done[j] || strcmp(s->m[j].name, m->name) != 0)
				continue;
			if (s->m[j].kind == m->kind)
				metrics_samples(f, &s->m[j]);
			done[j] = true;
		}
	}
	if (fclose(f) != 0)
		fatal("open_memstream");
	free(done);
	return text;
}

/* ---- the listening socket ------------------------------------------- */

/* Parse a numeric HOST:PORT with a port from 1 to 65535. */
static int
metrics_parse(const char *s, struct sockaddr_storage *ss, int *sslen)
{
	*sslen = (int)sizeof *ss;
	memset(ss, 0, sizeof *ss);
	if (strchr(s, ':') == NULL ||
	    evutil_parse_sockaddr_port(s, (struct sockaddr *)ss, sslen) != 0)
		return -1;
	if (ss->ss_family == AF_INET)
		return ((struct sockaddr_in *)ss)->sin_port != 0 ? 0 : -1;
	if (ss->ss_family == AF_INET6)
		return ((struct sockaddr_in6 *)ss)->sin6_port != 0 ? 0 : -1;
	return -1;
}

int
metrics_addr_ok(const char *s)
{
	struct sockaddr_storage ss;
	int len;

	return metrics_parse(s, &ss, &len) == 0;
}

/* Bind and listen (see metrics.h). */
int
metrics_listen(const char *hostport, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	int len, fd, one = 1;

	if (metrics_parse(hostport, &ss, &len) != 0) {
		snprintf(err, errlen, "bad metrics address '%s' (want a "
		    "numeric HOST:PORT, port 1-65535)", hostport);
		return -1;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd == -1) {
		snprintf(err, errlen, "metrics socket: %s", strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
	if (bind(fd, (struct sockaddr *)&ss, (socklen_t)len) != 0 ||
	    listen(fd, METRICS_LISTEN_BACKLOG) != 0) {
		snprintf(err, errlen, "cannot serve metrics on %s: %s",
		    hostport, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* ---- the server ------------------------------------------------------ */

/* Answer one request: /metrics, or 404. */
static void
metrics_request_cb(struct evhttp_request *req, void *arg)
{
	struct metrics *m = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	struct evbuffer *out = evbuffer_new();
	struct evkeyvalq *headers = evhttp_request_get_output_headers(req);
	struct wire_stats s;
	size_t len;
	char *text;

	if (out == NULL) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	if (path == NULL || strcmp(path, "/metrics") != 0) {
		evhttp_add_header(headers, "Content-Type",
		    "text/plain; charset=utf-8");
		evbuffer_add_printf(out, "not found: the metrics are at "
		    "/metrics\n");
		evhttp_send_reply(req, HTTP_NOTFOUND, "Not Found", out);
		evbuffer_free(out);
		return;
	}
	evhttp_add_header(headers, "Content-Type", METRICS_CONTENT_TYPE);
	stats_snapshot(m->n, &s);
	text = metrics_render(&s, &len);
	wire_stats_free(&s);
	evbuffer_add(out, text, len);
	free(text);
	evhttp_send_reply(req, HTTP_OK, "OK", out);
	evbuffer_free(out);
	if (m->served++ == 0)
		log_info("metrics: first scrape answered");
}

/*
 * Drop our reference to the connections evhttp has freed (their
 * callbacks cleared by bufferevent_free()): that frees them and closes
 * their sockets.  What is left are the connections still open.
 */
static void
metrics_release(struct metrics *m)
{
	bufferevent_data_cb rd, wr;
	bufferevent_event_cb evcb;
	size_t kept = 0;

	for (size_t i = 0; i < m->nconns; i++) {
		struct bufferevent *bev = m->conns[i];

		bufferevent_getcb(bev, &rd, &wr, &evcb, NULL);
		if (rd == NULL && wr == NULL && evcb == NULL)
			bufferevent_decref(bev); /* the last reference */
		else
			m->conns[kept++] = bev;
	}
	m->nconns = kept;
}

/*
 * A new connection's bufferevent, which we keep a reference to.  The
 * closed ones are released first, so that only open connections count
 * toward the cap.
 */
static struct bufferevent *
metrics_bev_cb(struct event_base *base, void *arg)
{
	struct metrics *m = arg;
	struct bufferevent *bev;

	metrics_release(m);
	bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL)
		return NULL; /* evhttp then tries one of its own */
	bufferevent_incref(bev);
	if (m->nconns == m->cap) {
		m->cap = m->cap ? m->cap * 2 : METRICS_MAX_CONNS;
		m->conns = xreallocarray(m->conns, m->cap, sizeof *m->conns);
	}
	m->conns[m->nconns++] = bev;
	if (m->nconns >= METRICS_MAX_CONNS && !m->paused) {
		/* The rest wait in the backlog until some close. */
		evconnlistener_disable(m->listener);
		m->paused = true;
		log_warnx("metrics: %d connections open; not accepting more "
		    "for now", METRICS_MAX_CONNS);
	}
	return bev;
}

/* Every second: release what evhttp let go; resume accepting. */
static void
metrics_sweep_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct metrics *m = arg;

	(void)fd;
	(void)ev;
	metrics_release(m);
	if (m->paused && m->nconns < METRICS_MAX_CONNS) {
		evconnlistener_enable(m->listener);
		m->paused = false;
	}
}

/* Serve the node's metrics on fd (see metrics.h). */
struct metrics *
metrics_start(struct node *n, int fd, char *err, size_t errlen)
{
	struct metrics *m = xcalloc(1, sizeof *m);
	struct timeval second = { 1, 0 };
	struct evhttp_bound_socket *bound;
	struct evconnlistener *l;

	m->n = n;
	if ((m->http = evhttp_new(n->base)) == NULL ||
	    (l = evconnlistener_new(n->base, NULL, NULL,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd)) == NULL) {
		snprintf(err, errlen, "cannot set up the metrics server");
		close(fd);
		goto fail;
	}
	if ((bound = evhttp_bind_listener(m->http, l)) == NULL) {
		snprintf(err, errlen, "cannot set up the metrics server");
		evconnlistener_free(l);
		goto fail;
	}
	m->listener = evhttp_bound_socket_get_listener(bound);
	evhttp_set_timeout(m->http, METRICS_TIMEOUT_SEC);
	evhttp_set_max_headers_size(m->http, METRICS_MAX_HEADERS);
	evhttp_set_max_body_size(m->http, METRICS_MAX_BODY);
	evhttp_set_allowed_methods(m->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_bevcb(m->http, metrics_bev_cb, m);
	evhttp_set_gencb(m->http, metrics_request_cb, m);
	m->sweep = event_new(n->base, -1, EV_PERSIST, metrics_sweep_cb, m);
	evtimer_add(m->sweep, &second);
	return m;
fail:
	metrics_free(m);
	return NULL;
}

/* Stop serving. */
void
metrics_free(struct metrics *m)
{
	if (m == NULL)
		return;
	if (m->sweep != NULL)
		event_free(m->sweep);
	if (m->http != NULL)
		evhttp_free(m->http); /* frees the connections and listener */
	for (size_t i = 0; i < m->nconns; i++)
		bufferevent_decref(m->conns[i]);
	free(m->conns);
	free(m);
}
