/*
 * forward.c: routed overlay messages: greedy forwarding hop by hop,
 * delivery at the owner of the target point, direct replies to the origin,
 * and lookups started on behalf of local clients.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "log.h"
#include "member.h"
#include "node.h"
#include "xmalloc.h"

/* Lookups wait this long for the owner's answer. */
#define FORWARD_LOOKUP_TIMEOUT_MS 5000
/*
 * A routed message is lost when a hop forwards it to a neighbour that
 * died a moment ago (its death not yet noticed there): a lookup not
 * answered after this long is sent again, greedily, and again after
 * twice as long, until its deadline.
 */
#define FORWARD_LOOKUP_RESEND_MS 750

/* Encode and send a routed envelope plus inner body to addr. */
static void
forward_send(struct node *n, const char *addr, uint32_t flags,
    uint64_t reqid, const struct wire_routed *rt, const uint8_t *inner,
    size_t inner_len)
{
	struct wbuf w;

	wbuf_init(&w);
	wire_frame_begin(&w, WIRE_ROUTED, flags, reqid);
	wire_routed_encode(&w, rt);
	wbuf_put_bytes(&w, inner, inner_len);
	wire_frame_end(&w);
	conn_send(transport_peer(n->transport, addr), &w);
	wbuf_free(&w);
}

/* Fail a routed request back to its origin. */
static void
forward_fail(struct node *n, const struct wire_header *h,
    const struct wire_routed *rt, uint32_t code, const char *msg)
{
	node_send_error(transport_peer(n->transport, rt->origin), h->reqid,
	    code, msg);
}

/* The owner answers a lookup: itself, and the path taken. */
static void
forward_lookup_reply(struct node *n, const struct wire_header *h,
    const struct wire_routed *rt)
{
	struct wire_membership m;
	struct wire_node path[WIRE_MAX_PATH + 1];

	memset(&m, 0, sizeof m);
	memset(path, 0, sizeof path);
	for (int i = 0; i < rt->npath; i++) {
		struct nbr *e;

		path[i].id = rt->path[i];
		TAILQ_FOREACH(e, &n->nbrs, entry) {
			if (e->info.id == rt->path[i])
				memcpy(path[i].addr, e->info.addr,
				    sizeof path[i].addr);
		}
	}
	path[rt->npath].id = n->self.id;
	memcpy(path[rt->npath].addr, n->self.addr, sizeof path[0].addr);
	m.dims = n->cfg.dims;
	m.self = n->self;
	m.a = rt->hops;
	m.n = (uint32_t)rt->npath + 1;
	m.list = path;
	node_send_membership(n, transport_peer(n->transport, rt->origin),
	    WIRE_LOOKUP_REPLY, 0, h->reqid, &m);
}

/* The target is ours: act on the inner message. */
static void
forward_deliver(struct node *n, const struct wire_header *h,
    const struct wire_routed *rt)
{
	switch (rt->inner_type) {
	case WIRE_R_JOIN:
		member_handle_join(n, h, rt);
		break;
	case WIRE_R_LOOKUP:
		forward_lookup_reply(n, h, rt);
		break;
	default:
		forward_fail(n, h, rt, WIRE_E_PROTO, "unknown routed type");
	}
}

/* A routed message arrived: deliver it here or pass it on greedily. */
void
node_on_routed(struct node *n, struct conn *c, const struct wire_header *h,
    const uint8_t *body)
{
	struct wire_routed rt;
	struct nbr *next;

	if (wire_routed_decode(body, h->len, &rt) != 0) {
		log_warnx("%s: malformed ROUTED; dropping connection",
		    conn_name(c));
		conn_close(c, "malformed frame");
		return;
	}
	if (rt.dims != n->cfg.dims) {
		forward_fail(n, h, &rt, WIRE_E_DIMS, "dimension mismatch");
		return;
	}
	n->routed++;
	if (rt.inner_type == WIRE_R_JOIN && (h->flags & WIRE_RT_HERE)) {
		member_handle_join(n, h, &rt);
		return;
	}
	if (n->state == NODE_JOINING) {
		forward_fail(n, h, &rt, WIRE_E_UNAVAIL, "node is joining");
		return;
	}
	if (nbr_node_contains(&n->self, &rt.target, n->cfg.dims)) {
		forward_deliver(n, h, &rt);
		return;
	}
	if (rt.hops >= WIRE_MAX_HOPS) {
		forward_fail(n, h, &rt, WIRE_E_TTL, "too many hops");
		return;
	}
	next = route_next_hop(&n->nbrs, &n->self, &rt.target, n->cfg.dims);
	if (next == NULL) {
		log_warnx("no neighbour is closer to a routed point; failing "
		    "request from %s", rt.origin);
		forward_fail(n, h, &rt, WIRE_E_NOROUTE,
		    wire_error_text(WIRE_E_NOROUTE));
		return;
	}
	rt.hops++;
	if (rt.npath < WIRE_MAX_PATH)
		rt.path[rt.npath++] = n->self.id;
	forward_send(n, next->info.addr, h->flags & ~WIRE_RT_DIRECT,
	    h->reqid, &rt, rt.inner, rt.inner_len);
}

/* Start a routed message from this node. */
int
node_route_send(struct node *n, uint64_t reqid, uint16_t inner_type,
    uint32_t flags, const struct geom_point *target, const struct wbuf *inner,
    bool use_cache)
{
	struct wire_routed rt;
	const char *addr = NULL;
	struct nbr *next;

	memset(&rt, 0, sizeof rt);
	rt.dims = n->cfg.dims;
	rt.hops = 1;
	rt.inner_type = inner_type;
	rt.target = *target;
	memcpy(rt.origin, n->self.addr, sizeof rt.origin);
	rt.npath = 1;
	rt.path[0] = n->self.id;
	if (use_cache && (addr = route_cache_lookup(&n->cache, target,
	    n->cfg.dims)) != NULL)
		flags |= WIRE_RT_DIRECT;
	if (addr == NULL) {
		next = route_next_hop(&n->nbrs, &n->self, target,
		    n->cfg.dims);
		if (next == NULL)
			return -1;
		addr = next->info.addr;
	}
	forward_send(n, addr, flags, reqid, &rt, inner ? inner->p : NULL,
	    inner ? inner->len : 0);
	return 0;
}

/* We own the point a client asked about: the answer is us, 0 hops. */
static void
forward_answer_self(struct node *n, struct conn *c, uint64_t creqid)
{
	struct wire_membership m;
	struct wire_node me = n->self;

	memset(&m, 0, sizeof m);
	m.dims = n->cfg.dims;
	m.self = n->self;
	me.nzones = 0;
	m.n = 1;
	m.list = &me;
	node_send_membership(n, c, WIRE_LOOKUP_REPLY, 0, creqid, &m);
}

/* Look target up for a client (reply goes to c with creqid). */
void
node_lookup(struct node *n, struct conn *c, uint64_t creqid,
    const struct geom_point *target, bool use_cache)
{
	struct node_pending *p;

	if (n->state != NODE_ACTIVE && n->state != NODE_LEAVING) {
		node_send_error(c, creqid, WIRE_E_UNAVAIL,
		    wire_error_text(WIRE_E_UNAVAIL));
		return;
	}
	if (nbr_node_contains(&n->self, target, n->cfg.dims)) {
		forward_answer_self(n, c, creqid);
		return;
	}
	p = xcalloc(1, sizeof *p);
	p->reqid = n->next_reqid++;
	p->client_serial = conn_serial(c);
	p->client_reqid = creqid;
	p->deadline_ms = node_now_ms() + FORWARD_LOOKUP_TIMEOUT_MS;
	p->resend_ms = node_now_ms() + FORWARD_LOOKUP_RESEND_MS;
	p->sends = 1;
	p->target = *target;
	if (use_cache) {
		const char *addr = route_cache_lookup(&n->cache, target,
		    n->cfg.dims);
		struct conn *to = addr ? transport_peer(n->transport, addr) :
		    NULL;

		if (to != NULL) {
			p->direct = true;
			p->sent_serial = conn_serial(to);
			snprintf(p->sent_addr, sizeof p->sent_addr, "%s", addr);
		} else if (addr != NULL) {
			/* The cached owner cannot be reached (a refused
			 * dial): it is gone, so is its entry. */
			route_cache_forget_addr(&n->cache, addr);
		}
		/* Send the way the pending request was recorded: its
		 * connection's close is what reroutes a direct lookup. */
		use_cache = p->direct;
	}
	if (node_route_send(n, p->reqid, WIRE_R_LOOKUP, 0, target, NULL,
	    use_cache) != 0) {
		node_send_error(c, creqid, WIRE_E_NOROUTE,
		    wire_error_text(WIRE_E_NOROUTE));
		free(p);
		return;
	}
	TAILQ_INSERT_TAIL(&n->pending, p, entry);
}

/*
 * The cached owner's connection closed, or no answer came in time: route
 * the lookup greedily (again).
 */
void
node_lookup_resend(struct node *n, struct node_pending *p)
{
	if (p->direct)
		route_cache_forget_addr(&n->cache, p->sent_addr);
	p->direct = false;
	p->resend_ms = node_now_ms() + ((uint64_t)FORWARD_LOOKUP_RESEND_MS <<
	    (p->sends < 4 ? p->sends : 4));
	p->sends++;
	p->sent_serial = 0;
	/* We may have taken the dead owner's zone over meanwhile. */
	if (nbr_node_contains(&n->self, &p->target, n->cfg.dims)) {
		forward_answer_self(n, transport_conn_by_serial(n->transport,
		    p->client_serial), p->client_reqid);
		TAILQ_REMOVE(&n->pending, p, entry);
		free(p);
		return;
	}
	if (node_route_send(n, p->reqid, WIRE_R_LOOKUP, 0, &p->target, NULL,
	    false) != 0)
		p->deadline_ms = 0; /* fails at the next tick */
}

/*
 * Start a routed lookup at a given neighbour rather than at the greedy
 * next hop (used for points next to our zones whose owner we do not know,
 * where no neighbour is strictly nearer than we are).
 */
int
node_route_send_via(struct node *n, const char *addr, uint64_t reqid,
    const struct geom_point *target)
{
	struct wire_routed rt;

	memset(&rt, 0, sizeof rt);
	rt.dims = n->cfg.dims;
	rt.hops = 1;
	rt.inner_type = WIRE_R_LOOKUP;
	rt.target = *target;
	memcpy(rt.origin, n->self.addr, sizeof rt.origin);
	rt.npath = 1;
	rt.path[0] = n->self.id;
	forward_send(n, addr, 0, reqid, &rt, NULL, 0);
	return 0;
}

/* Find and unlink the pending request with our reqid. */
static struct node_pending *
forward_take_pending(struct node *n, uint64_t reqid)
{
	struct node_pending *p;

	TAILQ_FOREACH(p, &n->pending, entry) {
		if (p->reqid == reqid) {
			TAILQ_REMOVE(&n->pending, p, entry);
			return p;
		}
	}
	return NULL;
}

/* The owner answered one of our lookups: learn it, answer the client. */
void
node_on_lookup_reply(struct node *n, const struct wire_header *h,
    const struct wire_membership *m)
{
	struct node_pending *p = forward_take_pending(n, h->reqid);

	if (p == NULL)
		return; /* timed out or client gone */
	if (m->self.id != n->self.id)
		route_cache_learn(&n->cache, &m->self, n->cfg.dims);
	node_send_membership(n, transport_conn_by_serial(n->transport,
	    p->client_serial), WIRE_LOOKUP_REPLY, 0, p->client_reqid, m);
	free(p);
}

/* An error reply from the overlay: a refused join or a failed lookup. */
void
node_on_error(struct node *n, struct conn *c, const struct wire_header *h,
    const uint8_t *body)
{
	struct node_pending *p;
	uint32_t code;
	char msg[256], safe[256];

	if (wire_error_decode(body, h->len, &code, msg, sizeof msg) != 0) {
		log_warnx("%s: malformed ERROR; dropping connection",
		    conn_name(c));
		conn_close(c, "malformed frame");
		return;
	}
	log_escape(msg, strlen(msg), safe, sizeof safe);
	if (h->reqid != 0 && h->reqid == n->join_reqid) {
		member_join_refused(n, code, safe);
		return;
	}
	if (h->reqid != 0 && h->reqid == n->hand_reqid) {
		member_handover_refused(n, code, safe);
		return;
	}
	p = forward_take_pending(n, h->reqid);
	if (p == NULL) {
		log_debug("error for unknown request %" PRIu64 ": %s",
		    h->reqid, safe);
		return;
	}
	node_send_error(transport_conn_by_serial(n->transport,
	    p->client_serial), p->client_reqid, code, safe);
	free(p);
}
