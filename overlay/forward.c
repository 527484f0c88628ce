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
#include "rpc.h"
#include "stats.h"
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

/*
 * A routed message met a dead end here.  Normal for a while after a
 * failure or during a split (quorum surveys look up 16 points every 2 s),
 * so warn at most every 10 s, with a count of the others.
 */
static void
forward_dead_end_log(const char *origin)
{
	static uint64_t last_ms, quiet;
	uint64_t now = node_now_ms();

	if (last_ms != 0 && now - last_ms < 10000) {
		quiet++;
		return;
	}
	log_warnx("no neighbour is closer to a routed point; failing request "
	    "from %s (%" PRIu64 " more dead ends in the last 10 s)", origin,
	    quiet);
	last_ms = now;
	quiet = 0;
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
	/*
	 * Greedy hops only come nearer, so the origin (path[0]) can be nearer
	 * than we are only when it started the message at a neighbour of its
	 * choice (node_route_send_via): back there it would dead-end.
	 */
	next = route_next_hop(&n->nbrs, &n->self, &rt.target, n->cfg.dims,
	    rt.npath > 0 ? rt.path[0] : 0);
	if (next == NULL) {
		forward_dead_end_log(rt.origin);
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
		    n->cfg.dims, 0);
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

/*
 * A lookup made for a client: the arg of its request (rpc.h).  It is
 * bound to the client's connection (gone: dropped) and, sent direct, to
 * the connection to the cached owner (closed: rerouted).
 */
struct forward_lookup {
	uint64_t client;	/* connection serial to answer, 0 = answered */
	uint64_t creqid;	/* the client's own id */
	struct geom_point target;
	bool direct;		/* sent straight to the cached owner */
	char sent_addr[WIRE_ADDR_MAX]; /* that owner, while direct */
	uint64_t deadline_ms;	/* it fails then (sent again until then) */
	uint64_t started_us;	/* for its latency (stats.h) */
	int sends;
};

/*
 * The owner answered our lookup, or it failed: tell the client (if it is
 * still there: a gone or already answered client has no connection).
 */
static void
forward_lookup_cb(struct node *n, void *arg, const struct wire_header *h,
    const uint8_t *body)
{
	struct forward_lookup *l = arg;
	struct conn *c = transport_conn_by_serial(n->transport, l->client);
	struct wire_membership m;
	uint32_t code;
	char msg[256], safe[256];
	bool ok = false;

	if (h == NULL) {
		node_send_error(c, l->creqid, WIRE_E_TIMEOUT,
		    "lookup timed out");
	} else if (h->type == WIRE_LOOKUP_REPLY) {
		if (wire_membership_decode(body, h->len, &m) != 0) {
			node_send_error(c, l->creqid, WIRE_E_PROTO,
			    "malformed lookup reply");
		} else {
			ok = true;
			stats_hops(n->stats, m.a);
			if (m.self.id != n->self.id)
				route_cache_learn(&n->cache, &m.self,
				    n->cfg.dims);
			node_send_membership(n, c, WIRE_LOOKUP_REPLY, 0,
			    l->creqid, &m);
			wire_membership_free(&m);
		}
	} else if (wire_error_decode(body, h->len, &code, msg,
	    sizeof msg) == 0) {
		log_escape(msg, strlen(msg), safe, sizeof safe);
		node_send_error(c, l->creqid, code, safe);
	} else {
		node_send_error(c, l->creqid, WIRE_E_PROTO,
		    "unexpected answer to a lookup");
	}
	/* (A lookup answered by ourselves after a retry was counted then.) */
	if (l->client != 0)
		stats_request(n->stats, STATS_ROUTE, l->started_us, ok);
	free(l);
}

/*
 * A lookup got no answer in time, or the connection to the cached owner
 * it was sent to closed.  Sent direct, the cache entry is stale: forget
 * it.  Until its deadline, route the lookup greedily (again), waiting
 * twice as long each time.  Returns true when it was sent again.
 */
static bool
forward_lookup_retry(struct node *n, void *arg, uint64_t reqid,
    enum rpc_event ev)
{
	struct forward_lookup *l = arg;
	uint64_t now = node_now_ms(), wait;

	(void)ev; /* a close and a timeout are handled alike */
	if (l->direct)
		route_cache_forget_addr(&n->cache, l->sent_addr);
	l->direct = false;
	if (now >= l->deadline_ms)
		return false;
	wait = (uint64_t)FORWARD_LOOKUP_RESEND_MS << (l->sends < 4 ?
	    l->sends : 4);
	if (wait > l->deadline_ms - now)
		wait = l->deadline_ms - now;
	l->sends++;
	rpc_bind(n, reqid, 0);
	rpc_rearm(n, reqid, (int)wait);
	/* We may have taken the dead owner's zone over meanwhile. */
	if (nbr_node_contains(&n->self, &l->target, n->cfg.dims)) {
		forward_answer_self(n, transport_conn_by_serial(n->transport,
		    l->client), l->creqid);
		stats_request(n->stats, STATS_ROUTE, l->started_us, true);
		l->client = 0;	/* answered: the failure only frees it */
		return false;
	}
	return node_route_send(n, reqid, WIRE_R_LOOKUP, 0, &l->target, NULL,
	    false) == 0;
}

/* Look target up for a client (reply goes to c with creqid). */
void
node_lookup(struct node *n, struct conn *c, uint64_t creqid,
    const struct geom_point *target, bool use_cache)
{
	struct forward_lookup *l;
	const char *addr = NULL;
	struct conn *to = NULL;
	uint64_t reqid;

	if (n->state != NODE_ACTIVE && n->state != NODE_LEAVING) {
		node_send_error(c, creqid, WIRE_E_UNAVAIL,
		    wire_error_text(WIRE_E_UNAVAIL));
		return;
	}
	if (nbr_node_contains(&n->self, target, n->cfg.dims)) {
		forward_answer_self(n, c, creqid);
		return;
	}
	if (use_cache && (addr = route_cache_lookup(&n->cache, target,
	    n->cfg.dims)) != NULL &&
	    (to = transport_peer(n->transport, addr)) == NULL) {
		/* The cached owner cannot be reached (a refused dial): it
		 * is gone, so is its entry. */
		route_cache_forget_addr(&n->cache, addr);
	}
	l = xcalloc(1, sizeof *l);
	l->client = conn_serial(c);
	l->creqid = creqid;
	l->target = *target;
	l->deadline_ms = node_now_ms() + FORWARD_LOOKUP_TIMEOUT_MS;
	l->started_us = stats_now_us();
	l->sends = 1;
	if (to != NULL) {
		l->direct = true;
		snprintf(l->sent_addr, sizeof l->sent_addr, "%s", addr);
	}
	/* Direct, it waits on the owner's connection: forward_lookup_retry. */
	reqid = rpc_new_on(n, to != NULL ? conn_serial(to) : 0,
	    forward_lookup_cb, l, FORWARD_LOOKUP_RESEND_MS);
	rpc_set_client(n, reqid, l->client);
	rpc_set_retry(n, reqid, forward_lookup_retry);
	if (node_route_send(n, reqid, WIRE_R_LOOKUP, 0, target, NULL,
	    l->direct) != 0) {
		rpc_cancel(n, reqid);
		node_send_error(c, creqid, WIRE_E_NOROUTE,
		    wire_error_text(WIRE_E_NOROUTE));
		free(l);
	}
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
