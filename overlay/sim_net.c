/*
 * sim_net.c: conn.h for the simulator: a virtual network between the
 * transports of the nodes of one process (sim.h).
 *
 * A connection is a pair of ends, one in each transport, as TCP's would
 * be; a frame sent on one end is delivered to the other end's node after
 * the link's latency, as an event on the simulator's queue, and never
 * before a frame sent earlier on the same end.  The same end's node gets
 * the closed() upcall when either side closes (at once: no FIN in
 * flight).  No handshake and no encryption: those are conn.c's, and the
 * node never sees them.  Ends are freed with their transport only, so a
 * frame in flight toward a closed end is simply dropped.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "conn.h"
#include "sim.h"
#include "xmalloc.h"

struct transport {
	const struct conn_ops *ops;
	void *arg;
	int node;		/* index once listening, else -1 */
	char self[WIRE_ADDR_MAX];
	struct conn **conns;	/* every end of ours, open or closed */
	size_t nconns, cap;
	int count;		/* open ends */
};

struct conn {
	struct transport *t;
	struct conn *peer;	/* the other end (NULL: a harness client) */
	uint64_t serial;
	bool closed;
	bool outbound;		/* pooled under addr (transport_peer) */
	char addr[WIRE_ADDR_MAX];
	char name[WIRE_ADDR_MAX + 32];
	uint64_t last_at;	/* latest arrival scheduled from this end */
	sim_client_cb client_cb;
	void *client_arg;
};

/* A frame in flight toward the end `to`. */
struct sim_msg {
	struct sim_ev ev;	/* first: the event is the message */
	struct conn *to;
	int src;
	uint8_t *buf;
	size_t len;
};

static struct {
	struct transport **by_node;	/* listening transports by index */
	int nodes;
	double (*pos)[2];		/* each node's place, for latency */
	uint64_t next_serial;
	struct sim_net_stats st;
} net;

/* Room for nodes; each gets its place in the unit square from the seed. */
void
sim_net_init(int nodes)
{
	free(net.by_node);
	free(net.pos);
	memset(&net, 0, sizeof net);
	net.nodes = nodes;
	net.by_node = xcalloc((size_t)nodes, sizeof *net.by_node);
	net.pos = xcalloc((size_t)nodes, sizeof *net.pos);
	for (int i = 0; i < nodes; i++) {
		net.pos[i][0] = (double)(sim_rand() >> 11) / 9007199254740992.0;
		net.pos[i][1] = (double)(sim_rand() >> 11) / 9007199254740992.0;
	}
}

/* Node i's address. */
void
sim_net_addr(int i, char *buf, size_t len)
{
	snprintf(buf, len, "10.%d.%d.%d:7400", (i >> 16) & 0xff,
	    (i >> 8) & 0xff, i & 0xff);
}

/* The node index of an address of ours, or -1. */
static int
sim_net_index(const char *addr)
{
	unsigned a, b, c, port;
	char tail;

	if (sscanf(addr, "10.%u.%u.%u:%u%c", &a, &b, &c, &port, &tail) != 4 ||
	    a > 255 || b > 255 || c > 255 || port != 7400)
		return -1;
	return (int)(a << 16 | b << 8 | c);
}

/* 1 ms, plus the distance in proportion (the diagonal: 101 ms). */
uint64_t
sim_net_latency(int a, int b)
{
	double dx, dy;

	if (a == b || a < 0 || b < 0)
		return 0;
	dx = net.pos[a][0] - net.pos[b][0];
	dy = net.pos[a][1] - net.pos[b][1];
	return 1 + (uint64_t)(100 * __builtin_sqrt((dx * dx + dy * dy) / 2));
}

/* The counters and the digest. */
void
sim_net_stats(struct sim_net_stats *s)
{
	*s = net.st;
}

/* A new end in t. */
static struct conn *
sim_net_end(struct transport *t, const char *name)
{
	struct conn *c = xcalloc(1, sizeof *c);

	c->t = t;
	c->serial = ++net.next_serial;
	snprintf(c->name, sizeof c->name, "%s", name);
	if (t->nconns == t->cap) {
		t->cap = t->cap ? 2 * t->cap : 8;
		t->conns = xreallocarray(t->conns, t->cap, sizeof *t->conns);
	}
	t->conns[t->nconns++] = c;
	t->count++;
	return c;
}

/* conn.h: nothing to encrypt. */
void
transport_set_secret(const struct secure_key *k)
{
	(void)k;	/* the virtual network carries no cryptography */
}

/* conn.h: a transport, not yet listening. */
struct transport *
transport_new(struct event_base *base, const struct conn_ops *ops, void *arg)
{
	struct transport *t = xcalloc(1, sizeof *t);

	(void)base;
	t->ops = ops;
	t->arg = arg;
	t->node = -1;
	return t;
}

/*
 * conn.h: close the far ends, free ours (after the run: frames in flight
 * would point at them).
 */
void
transport_free(struct transport *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->nconns; i++) {
		struct conn *c = t->conns[i];

		if (c->peer != NULL)
			c->peer->peer = NULL;
		if (!c->closed && c->peer != NULL)
			conn_close(c->peer, "peer's transport freed");
	}
	for (size_t i = 0; i < t->nconns; i++)
		free(t->conns[i]);
	if (t->node >= 0 && net.by_node[t->node] == t)
		net.by_node[t->node] = NULL;
	free(t->conns);
	free(t);
}

/* conn.h: take node index of hostport. */
int
transport_listen_tcp(struct transport *t, const char *hostport, char *err,
    size_t errlen)
{
	int i = sim_net_index(hostport);

	if (i < 0 || i >= net.nodes || net.by_node[i] != NULL) {
		snprintf(err, errlen, "%s: not a free simulated address",
		    hostport);
		return -1;
	}
	net.by_node[i] = t;
	t->node = i;
	return 0;
}

/* conn.h: no local clients but the harness's (sim_net_client). */
int
transport_listen_unix(struct transport *t, const char *path, int mode,
    char *err, size_t errlen)
{
	(void)t;
	(void)mode;
	snprintf(err, errlen, "%s: no Unix sockets in the simulator", path);
	return -1;
}

/* conn.h: our address (a dial to it pairs two ends of ours). */
void
transport_set_self(struct transport *t, const char *addr)
{
	snprintf(t->self, sizeof t->self, "%s", addr);
}

/* conn.h: the pooled end toward addr, or a new pair of ends. */
struct conn *
transport_peer(struct transport *t, const char *addr)
{
	struct transport *to;
	struct conn *a, *b;
	char name[WIRE_ADDR_MAX + 32];
	int i;

	for (size_t k = 0; k < t->nconns; k++) {
		struct conn *c = t->conns[k];

		if (c->outbound && !c->closed && strcmp(c->addr, addr) == 0)
			return c;
	}
	i = sim_net_index(addr);
	if (i < 0 || i >= net.nodes || (to = net.by_node[i]) == NULL)
		return NULL;	/* nobody there: a refused dial */
	snprintf(name, sizeof name, "peer %s", addr);
	a = sim_net_end(t, name);
	a->outbound = true;
	snprintf(a->addr, sizeof a->addr, "%s", addr);
	snprintf(name, sizeof name, "peer %s (in)", t->self);
	b = sim_net_end(to, name);
	a->peer = b;
	b->peer = a;
	net.st.conns++;
	return a;
}

/* A harness client end: what the node sends on it goes to cb. */
struct conn *
sim_net_client(struct transport *t, sim_client_cb cb, void *arg)
{
	struct conn *c = sim_net_end(t, "client (sim)");

	c->client_cb = cb;
	c->client_arg = arg;
	return c;
}

/* conn.h: close our pooled ends toward addr. */
void
transport_drop_peer(struct transport *t, const char *addr, const char *why)
{
	for (size_t k = 0; k < t->nconns; k++) {
		struct conn *c = t->conns[k];

		if (c->outbound && !c->closed && strcmp(c->addr, addr) == 0)
			conn_close(c, why);
	}
}

/* A frame arrives at its end: count it, hash it, hand it up. */
static void
sim_net_deliver(struct sim_ev *e)
{
	struct sim_msg *m = (struct sim_msg *)e;
	struct conn *to = m->to;
	struct wire_header h;
	const char *why;
	struct {
		uint64_t at;
		int32_t src, dst;
		uint16_t type;
		uint16_t pad;
	} rec;

	if (to->closed || sim_halted(to->t->arg) ||
	    wire_header_decode(m->buf, &h, &why) != 0) {
		net.st.dropped++;
		goto out;
	}
	memset(&rec, 0, sizeof rec);
	rec.at = e->at;
	rec.src = m->src;
	rec.dst = to->t->node;
	rec.type = h.type;
	net.st.digest = XXH64(&rec, sizeof rec, net.st.digest);
	net.st.frames++;
	net.st.bytes += m->len;
	sim_set_context(to->t->arg);
	if (to->client_cb != NULL)
		to->client_cb(to->client_arg, &h, m->buf + WIRE_HEADER_LEN);
	else
		to->t->ops->frame(to, &h, m->buf + WIRE_HEADER_LEN,
		    to->t->arg);
out:
	free(m->buf);
	free(m);
}

/* conn.h: copy the frame; it arrives after the link's latency, in order. */
void
conn_send(struct conn *c, const struct wbuf *frame)
{
	struct sim_msg *m;
	struct conn *to;
	uint64_t at;

	if (c == NULL || c->closed || sim_halted(c->t->arg))
		return;
	to = c->client_cb != NULL ? c : c->peer;
	if (to == NULL || to->closed) {
		net.st.dropped++;
		return;
	}
	m = xcalloc(1, sizeof *m);
	m->ev.idx = SIZE_MAX;
	m->ev.fire = sim_net_deliver;
	m->to = to;
	m->src = c->t->node;
	m->buf = xmalloc(frame->len);
	memcpy(m->buf, frame->p, frame->len);
	m->len = frame->len;
	at = sim_now() + (to->client_cb != NULL ? 0 :
	    sim_net_latency(c->t->node, to->t->node));
	if (at < c->last_at)
		at = c->last_at;	/* TCP keeps a connection's order */
	c->last_at = at;
	sim_schedule(&m->ev, at);
}

/* conn.h: close both ends; each side hears of it once, at once. */
void
conn_close(struct conn *c, const char *why)
{
	struct conn *p;

	(void)why;
	if (c->closed)
		return;
	c->closed = true;
	c->t->count--;
	p = c->peer;
	c->t->ops->closed(c, c->t->arg);
	if (p != NULL)
		conn_close(p, why);
}

/* conn.h: for logs. */
const char *
conn_name(const struct conn *c)
{
	return c->name;
}

/* conn.h: unique for the run. */
uint64_t
conn_serial(const struct conn *c)
{
	return c->serial;
}

/* conn.h: nothing ever waits in an output buffer here. */
size_t
conn_pending(const struct conn *c)
{
	(void)c;
	return 0;
}

/* conn.h: an open end of ours by serial, or NULL. */
struct conn *
transport_conn_by_serial(struct transport *t, uint64_t serial)
{
	for (size_t k = 0; serial != 0 && k < t->nconns; k++) {
		if (t->conns[k]->serial == serial && !t->conns[k]->closed)
			return t->conns[k];
	}
	return NULL;
}

/* conn.h: our open ends. */
int
transport_count(const struct transport *t)
{
	return t->count;
}
