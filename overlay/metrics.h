/*
 * metrics.h: the optional HTTP endpoint for Prometheus (canfsd
 * --metrics HOST:PORT, off by default).
 *
 * GET /metrics answers with the daemon's metrics in the Prometheus text
 * exposition format 0.0.4, rendered from the same snapshot as WIRE_STATS
 * (stats_snapshot()), so `canctl top` and Prometheus read the same
 * numbers.  Any other path is 404, any other method refused by evhttp.
 *
 * The server is libevent's evhttp on the daemon's own event base, so a
 * scrape costs one snapshot and one rendering on the loop (about 50
 * metrics, no store walk).  It must never stall the overlay: at most
 * METRICS_MAX_CONNS connections at once (past that, new ones wait in the
 * kernel's backlog: the listener is paused), METRICS_TIMEOUT_SEC for a
 * request to arrive or a reply to be taken, small request limits, and
 * nothing is read from or written to a socket except by the loop's
 * non-blocking I/O.
 *
 * The socket is bound before the daemon detaches (metrics_listen()), so
 * a port in use is a startup error on the terminal, like a bad option.
 */
#ifndef CANFS_OVERLAY_METRICS_H
#define CANFS_OVERLAY_METRICS_H

#include <stddef.h>

struct node;
struct metrics;
struct wire_stats;

#define METRICS_MAX_CONNS 32
#define METRICS_TIMEOUT_SEC 10

/* True when s is a numeric HOST:PORT we can bind (port 1-65535). */
int metrics_addr_ok(const char *s);

/*
 * Bind and listen on HOST:PORT (numeric, [::1]:PORT for IPv6).  Returns
 * the listening descriptor, or -1 with the reason in err.
 */
int metrics_listen(const char *hostport, char *err, size_t errlen);

/*
 * Serve the node's metrics on the listening descriptor fd (taken over)
 * from the node's event base.  Returns the server, or NULL with err.
 */
struct metrics *metrics_start(struct node *n, int fd, char *err,
    size_t errlen);
/* Close the listener and every connection.  Accepts NULL. */
void metrics_free(struct metrics *m);

/*
 * The text exposition format of s: per metric name, a HELP line (from
 * stats_help()) and a TYPE line, then its samples; histograms as
 * cumulative _bucket{le=...} lines ending in le="+Inf", then _sum and
 * _count.  Metrics of one name are grouped wherever they stand in s.
 * Returns malloc'd text (the caller frees it), its length in *len.
 */
char *metrics_render(const struct wire_stats *s, size_t *len);

#endif
