/*
 * control.c: requests from local and remote clients (canctl, canfs):
 * status, metrics, route lookups and graceful leave.
 */
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "log.h"
#include "node.h"
#include "stats.h"
#include "wire_stats.h"

/* Our node, neighbours, uptime and counters. */
static void
control_status(struct node *n, struct conn *c, const struct wire_header *h)
{
	struct wire_membership m;

	memset(&m, 0, sizeof m);
	m.dims = n->cfg.dims;
	m.self = n->self;
	m.a = node_now_ms() - n->start_ms;
	m.b = n->routed;
	m.flags = (uint8_t)n->state;
	m.list = node_nbr_list(n, &m.n);
	node_send_membership(n, c, WIRE_STATUS, (uint32_t)n->cfg.replicas,
	    h->reqid, &m);
	free(m.list);
}

/* Our metrics (stats.h), the same snapshot --metrics serves. */
static void
control_stats(struct node *n, struct conn *c, const struct wire_header *h)
{
	struct wire_stats s;
	struct wbuf w;

	if (h->len != 0) {
		node_send_error(c, h->reqid, WIRE_E_PROTO,
		    "STATS_REQ has an empty body");
		return;
	}
	stats_snapshot(n, &s);
	wbuf_init(&w);
	wire_frame_begin(&w, WIRE_STATS, 0, h->reqid);
	wire_stats_encode(&w, &s);
	wire_frame_end(&w);
	conn_send(c, &w);
	wbuf_free(&w);
	wire_stats_free(&s);
}

/* Route a lookup to a point and answer with the owner and path. */
static void
control_route(struct node *n, struct conn *c, const struct wire_header *h,
    const uint8_t *body)
{
	struct geom_point p;
	int dims;

	if (wire_point_decode(body, h->len, &dims, &p) != 0) {
		node_send_error(c, h->reqid, WIRE_E_PROTO, "malformed point");
		return;
	}
	if (dims != n->cfg.dims) {
		node_send_error(c, h->reqid, WIRE_E_DIMS,
		    "point has the wrong number of dimensions");
		return;
	}
	node_lookup(n, c, h->reqid, &p, !(h->flags & WIRE_RQ_NOCACHE));
}

/* Leave gracefully; answer when the handover is complete. */
static void
control_leave(struct node *n, struct conn *c, const struct wire_header *h)
{
	if (n->state == NODE_LEAVING) {
		node_send_error(c, h->reqid, WIRE_E_BUSY,
		    "already leaving");
		return;
	}
	log_info("leave requested by %s", conn_name(c));
	n->leave_client = conn_serial(c);
	n->leave_client_reqid = h->reqid;
	node_leave(n, NULL);
}

/*
 * Capacity of the filesystem, estimated from what we know: our store and
 * our neighbours' (from their heartbeats) cover a known share of the key
 * space; data spreads evenly over the space, so the whole overlay holds
 * about (their sum) / (their share), and user data takes k copies.
 */
static void
control_statfs(struct node *n, struct conn *c, const struct wire_header *h)
{
	double share = nbr_node_share(&n->self, n->cfg.dims), used, avail;
	uint64_t su = n->space_used, sa = n->space_avail;
	int count = 1, k = n->cfg.replicas;
	struct nbr *e;
	struct wbuf w;

	TAILQ_FOREACH(e, &n->nbrs, entry) {
		if (e->failed || e->heard_ms == 0 || e->space_avail == 0)
			continue;
		share += nbr_node_share(&e->info, n->cfg.dims);
		su += e->space_used;
		sa += e->space_avail;
		count++;
	}
	if (share <= 0)
		share = 1;
	used = (double)su / share / k;
	avail = (double)sa / share / k;
	wbuf_init(&w);
	wire_frame_begin(&w, WIRE_STATFS, 0, h->reqid);
	wbuf_put_u64(&w, (uint64_t)(used + avail));
	wbuf_put_u64(&w, (uint64_t)used);
	wbuf_put_u64(&w, (uint64_t)avail);
	wbuf_put_u32(&w, (uint32_t)(count / share + 0.5));
	wbuf_put_u32(&w, (uint32_t)k);
	wire_frame_end(&w);
	conn_send(c, &w);
	wbuf_free(&w);
}

/* Dispatch a control request. */
void
control_frame(struct node *n, struct conn *c, const struct wire_header *h,
    const uint8_t *body)
{
	switch (h->type) {
	case WIRE_STATUS_REQ:
		control_status(n, c, h);
		break;
	case WIRE_ROUTE_REQ:
		control_route(n, c, h, body);
		break;
	case WIRE_LEAVE_REQ:
		control_leave(n, c, h);
		break;
	case WIRE_STATFS_REQ:
		control_statfs(n, c, h);
		break;
	case WIRE_STATS_REQ:
		control_stats(n, c, h);
		break;
	default:
		node_send_error(c, h->reqid, WIRE_E_PROTO,
		    "not a request this daemon serves");
	}
}
