/* conn.c: listeners, connections and frame reading (see conn.h). */
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>

#include "conn.h"
#include "log.h"
#include "secure.h"
#include "xmalloc.h"

/* Write timeout: a peer that accepts nothing for this long is cut off. */
#define CONN_WRITE_TIMEOUT_SEC 10
/* Rate-limited warnings: at most one per kind and interval. */
#define CONN_WARN_INTERVAL_MS 1000

/* Life of a connection; transitions go through conn_set_state(). */
enum conn_state {
	CONN_HANDSHAKE,	/* secure: proving the secret; nothing reaches the node */
	CONN_OPEN,	/* frames flow */
	CONN_CLOSED,	/* waiting for the reaper */
};

/* Warnings that a flood could repeat many times a second. */
enum conn_warn_kind {
	CONN_W_HANDSHAKE,	/* a handshake failed (e.g. a wrong secret) */
	CONN_W_PLAINTEXT,	/* a plaintext peer met our handshake */
	CONN_W_TIMEOUT,		/* a handshake timed out */
	CONN_W_PREAUTH,		/* too many unauthenticated connections */
	CONN_W_FULL,		/* CONN_MAX reached */
	CONN_W_RECORD,		/* a record failed to open */
	CONN_W_NKINDS
};

struct conn {
	struct transport *t;
	struct bufferevent *bev;
	enum conn_state state;
	uint64_t serial;
	char name[WIRE_ADDR_MAX + 32];
	char addr[WIRE_ADDR_MAX]; /* pool key for outbound peers, else "" */
	int closing;		  /* closed; waiting to be freed */
	int inbound;		  /* accepted (not dialled by us) */
	struct conn *partner;	  /* in-process pair: the other end */
	uint32_t inflight;	  /* client requests not yet answered */
	struct secure_session *sec; /* NULL: plaintext connection */
	struct evbuffer *plain;	  /* secure: opened input not yet parsed */
	struct evbuffer *queued;  /* secure: frames sent during the handshake */
	struct event *hs_timer;	  /* secure: handshake deadline */
	TAILQ_ENTRY(conn) entry;
};
TAILQ_HEAD(conn_list, conn);

/* One rate-limited warning kind. */
struct conn_ratelimit {
	uint64_t last_ms;	/* when one was last logged */
	unsigned suppressed;	/* not logged since */
};

struct transport {
	struct event_base *base;
	const struct conn_ops *ops;
	void *arg;
	char self_addr[WIRE_ADDR_MAX]; /* our own address: served in-process */
	struct evconnlistener *tcp;
	struct evconnlistener *unx;
	char unix_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct conn_list conns;	 /* open connections */
	struct conn_list graves; /* closed, freed by reaper */
	struct event *reaper;
	int count;
	int preauth;		 /* inbound connections in HANDSHAKE */
	uint64_t next_serial;
	struct secure_key *key;	 /* cluster secret, NULL for plaintext */
	struct conn_ratelimit warn[CONN_W_NKINDS];
};

/* The secret given to transports created from now on. */
static struct secure_key conn_secret;
static int conn_have_secret;

static void conn_send_bytes(struct conn *c, const uint8_t *p, size_t len);

/* Set the process-wide cluster secret (see conn.h). */
void
transport_set_secret(const struct secure_key *k)
{
	if (k == NULL) {
		secure_key_wipe(&conn_secret);
		conn_have_secret = 0;
		return;
	}
	conn_secret = *k;
	conn_have_secret = 1;
}

/* Monotonic milliseconds. */
static uint64_t
conn_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * Log a warning of a kind that an attacker could repeat at will: at most
 * one per kind and CONN_WARN_INTERVAL_MS, with a count of those skipped.
 */
static void __attribute__((format(printf, 3, 4)))
conn_warn_limited(struct transport *t, enum conn_warn_kind kind,
    const char *fmt, ...)
{
	struct conn_ratelimit *rl = &t->warn[kind];
	uint64_t now = conn_now_ms();
	char line[512];
	va_list ap;

	if (log_level < LOG_LVL_WARN)
		return;
	if (rl->last_ms != 0 && now - rl->last_ms < CONN_WARN_INTERVAL_MS) {
		rl->suppressed++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (rl->suppressed > 0)
		log_warnx("%s (and %u more like it)", line, rl->suppressed);
	else
		log_warnx("%s", line);
	rl->last_ms = now;
	rl->suppressed = 0;
}

/* Name of a state, for logs. */
static const char *
conn_state_name(enum conn_state st)
{
	switch (st) {
	case CONN_HANDSHAKE:
		return "handshake";
	case CONN_OPEN:
		return "open";
	case CONN_CLOSED:
		return "closed";
	}
	return "?";
}

/* Move c to state st, keeping the count of unauthenticated inbounds. */
static void
conn_set_state(struct conn *c, enum conn_state st)
{
	if (c->state == st)
		return;
	log_debug("%s: %s -> %s", c->name, conn_state_name(c->state),
	    conn_state_name(st));
	if (c->inbound && c->state == CONN_HANDSHAKE)
		c->t->preauth--;
	if (c->inbound && st == CONN_HANDSHAKE)
		c->t->preauth++;
	c->state = st;
}

/* Free every closed connection (runs outside connection callbacks). */
static void
transport_reap_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct transport *t = arg;
	struct conn *c;

	(void)fd;
	(void)ev;
	while ((c = TAILQ_FIRST(&t->graves)) != NULL) {
		TAILQ_REMOVE(&t->graves, c, entry);
		bufferevent_free(c->bev);
		if (c->hs_timer != NULL)
			event_free(c->hs_timer);
		if (c->plain != NULL)
			evbuffer_free(c->plain);
		if (c->queued != NULL)
			evbuffer_free(c->queued);
		secure_session_free(c->sec);
		free(c);
	}
}

/* Create a transport. */
struct transport *
transport_new(struct event_base *base, const struct conn_ops *ops, void *arg)
{
	struct transport *t = xcalloc(1, sizeof *t);

	t->base = base;
	t->ops = ops;
	t->arg = arg;
	TAILQ_INIT(&t->conns);
	TAILQ_INIT(&t->graves);
	t->reaper = event_new(base, -1, 0, transport_reap_cb, t);
	t->next_serial = 1;
	if (conn_have_secret) {
		t->key = xmalloc(sizeof *t->key);
		*t->key = conn_secret;
	}
	return t;
}

/* Close everything and free t. */
void
transport_free(struct transport *t)
{
	struct conn *c;

	if (t == NULL)
		return;
	while ((c = TAILQ_FIRST(&t->conns)) != NULL)
		conn_close(c, "shutting down");
	transport_reap_cb(-1, 0, t);
	if (t->tcp != NULL)
		evconnlistener_free(t->tcp);
	if (t->unx != NULL) {
		evconnlistener_free(t->unx);
		unlink(t->unix_path);
	}
	event_free(t->reaper);
	if (t->key != NULL) {
		secure_key_wipe(t->key);
		free(t->key);
	}
	free(t);
}

/* Close c and schedule it to be freed. */
void
conn_close(struct conn *c, const char *why)
{
	struct transport *t = c->t;

	if (c->closing)
		return;
	c->closing = 1;
	log_debug("closing %s: %s", c->name, why);
	if (c->state == CONN_HANDSHAKE && bufferevent_getfd(c->bev) >= 0) {
		struct evbuffer *out = bufferevent_get_output(c->bev);

		/*
		 * Best effort, never blocking: let the peer have what is left
		 * of our HELLO and AUTH, so that it can tell "wrong secret"
		 * or "secret required" from a mere disconnection.  (The
		 * bufferevent freezes the front of its output between its
		 * own writes.)
		 */
		evbuffer_unfreeze(out, 1);
		(void)evbuffer_write(out, bufferevent_getfd(c->bev));
		evbuffer_freeze(out, 1);
	}
	conn_set_state(c, CONN_CLOSED);
	if (c->partner != NULL) {
		/* An in-process pair lives and dies as one. */
		struct conn *p = c->partner;

		c->partner = p->partner = NULL;
		conn_close(p, why);
	}
	if (c->hs_timer != NULL)
		event_del(c->hs_timer);
	bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	TAILQ_REMOVE(&t->conns, c, entry);
	t->count--;
	t->ops->closed(c, t->arg);
	TAILQ_INSERT_TAIL(&t->graves, c, entry);
	event_active(t->reaper, 0, 0);
}

/* A client request that the daemon answers on the same connection. */
static int
conn_is_request(uint16_t type)
{
	switch (type) {
	case WIRE_STATUS_REQ:
	case WIRE_ROUTE_REQ:
	case WIRE_LEAVE_REQ:
	case WIRE_LIST_REQ:
	case WIRE_REPAIR_REQ:
	case WIRE_STATFS_REQ:
	case WIRE_STATS_REQ:
	case WIRE_OBJ_GET:
	case WIRE_OBJ_PUT:
	case WIRE_OBJ_DEL:
	case WIRE_OBJ_PATCH:
	case WIRE_OBJ_BATCH:
		return 1;
	default:
		return 0;
	}
}

/* A final reply to such a request (WIRE_PROGRESS is only interim). */
static int
conn_is_reply(uint16_t type)
{
	switch (type) {
	case WIRE_STATUS:
	case WIRE_LOOKUP_REPLY:
	case WIRE_LIST:
	case WIRE_STATFS:
	case WIRE_STATS:
	case WIRE_OK:
	case WIRE_ERROR:
	case WIRE_OBJ_VALUE:
	case WIRE_OBJ_DONE:
	case WIRE_OBJ_BATCH_REPLY:
		return 1;
	default:
		return 0;
	}
}

/*
 * How many requests a request or final reply of this type stands for: a
 * batch counts its items (the count it claims, at least 1: a batch that
 * lies about it is malformed and drops the connection anyway), anything
 * else 1.
 */
static uint32_t
conn_weight(uint16_t type, const uint8_t *body, size_t len)
{
	uint32_t n;

	if (type != WIRE_OBJ_BATCH && type != WIRE_OBJ_BATCH_REPLY)
		return 1;
	n = wire_batch_count(body, len);
	return n == 0 ? 1 : n;
}

/*
 * Hand every whole frame in `in` up.  For a plaintext connection `in` is
 * the socket's input and wm its bufferevent, whose read watermark then
 * waits for the rest of a long frame; for a secure one `in` holds opened
 * records and wm is NULL.
 */
static void
conn_parse_frames(struct conn *c, struct evbuffer *in, struct bufferevent *wm)
{
	uint8_t hdr[WIRE_HEADER_LEN];
	struct wire_header h;
	const char *why;

	while (!c->closing && evbuffer_get_length(in) >= WIRE_HEADER_LEN) {
		uint8_t *body;

		evbuffer_copyout(in, hdr, sizeof hdr);
		if (wire_header_decode(hdr, &h, &why) != 0) {
			if (c->sec == NULL && secure_is_hello(hdr, sizeof hdr))
				why = "the peer wants a secure session but this "
				    "daemon has no cluster secret (--secret-file)";
			log_warnx("%s: %s; dropping connection", c->name, why);
			conn_close(c, why);
			return;
		}
		if (evbuffer_get_length(in) < WIRE_HEADER_LEN + (size_t)h.len) {
			/* Wait for the rest without re-reading the header. */
			if (wm != NULL)
				bufferevent_setwatermark(wm, EV_READ,
				    WIRE_HEADER_LEN + (size_t)h.len, 0);
			return;
		}
		if (wm != NULL)
			bufferevent_setwatermark(wm, EV_READ, 0, 0);
		evbuffer_drain(in, WIRE_HEADER_LEN);
		body = evbuffer_pullup(in, h.len);
		if (body == NULL && h.len > 0) {
			conn_close(c, "out of memory reading a frame");
			return;
		}
		/* A batch of n counts as n requests. */
		if (c->inbound && h.reqid != 0 && conn_is_request(h.type) &&
		    (c->inflight += conn_weight(h.type, body, h.len)) >
		    CONN_MAX_INFLIGHT) {
			log_warnx("%s: more than %u requests in flight; "
			    "dropping connection", c->name, CONN_MAX_INFLIGHT);
			conn_close(c, "too many requests in flight");
			return;
		}
		c->t->ops->frame(c, &h, body, c->t->arg);
		evbuffer_drain(in, h.len);
	}
}

/* Send what was queued during the handshake, now sealed. */
static void
conn_flush_queued(struct conn *c)
{
	size_t len;

	while (!c->closing && (len = evbuffer_get_length(c->queued)) > 0) {
		size_t n = len < SECURE_RECORD_MAX ? len : SECURE_RECORD_MAX;

		conn_send_bytes(c, evbuffer_pullup(c->queued, n), n);
		evbuffer_drain(c->queued, n);
	}
}

/* True when buf starts with the magic of a plaintext canfs frame. */
static int
conn_is_plain_frame(const uint8_t *buf, size_t len)
{
	struct rbuf r;

	rbuf_init(&r, buf, len);
	return rbuf_get_u32(&r) == WIRE_MAGIC && !r.err;
}

/*
 * Run the handshake over the bytes in `in` (the socket's input).  Returns
 * 0 to go on (established, or waiting for more), -1 when c was closed.
 */
static int
conn_handshake_read(struct conn *c, struct evbuffer *in)
{
	uint8_t msg[SECURE_HS_MSG_MAX], out[SECURE_HS_MSG_MAX];
	size_t need, have, outlen;
	int plain = 0;	/* the peer sent a plaintext canfs frame */

	while ((need = secure_hs_need(c->sec)) > 0) {
		have = evbuffer_get_length(in);
		if (have < need) {
			/* Refuse a plaintext frame now, not at the timeout. */
			have = (size_t)evbuffer_copyout(in, msg, have);
			plain = conn_is_plain_frame(msg, have);
			if (secure_hs_peek(c->sec, msg, have) == 0)
				return 0;
			break;
		}
		evbuffer_remove(in, msg, need);
		plain = need == SECURE_HELLO_LEN &&
		    conn_is_plain_frame(msg, need);
		if (secure_hs_consume(c->sec, msg, need, out, &outlen) != 0)
			break;
		if (outlen > 0)
			bufferevent_write(c->bev, out, outlen);
	}
	if (secure_state(c->sec) != SECURE_ESTABLISHED) {
		/* Separate kinds: a flood of one must not hide the other. */
		conn_warn_limited(c->t, plain ? CONN_W_PLAINTEXT :
		    CONN_W_HANDSHAKE, "%s: secure handshake failed: %s; "
		    "dropping connection", c->name, secure_error(c->sec));
		conn_close(c, secure_error(c->sec));
		return -1;
	}
	event_del(c->hs_timer);
	bufferevent_setwatermark(c->bev, EV_READ, 0, 0);
	conn_set_state(c, CONN_OPEN);
	log_debug("%s: authenticated; session encrypted", c->name);
	conn_flush_queued(c);
	return c->closing ? -1 : 0;
}

/* Open every whole record in `in` and hand up the frames they complete. */
static void
conn_records_read(struct conn *c, struct evbuffer *in)
{
	uint8_t hdr[SECURE_RECORD_HDR];
	struct evbuffer_iovec v;
	size_t size, plen;
	uint8_t *rec;

	while (!c->closing && evbuffer_get_length(in) >= SECURE_RECORD_HDR) {
		evbuffer_copyout(in, hdr, sizeof hdr);
		/* Bounded before buffering: at most one record waits. */
		if ((size = secure_record_size(c->sec, hdr)) == 0)
			goto bad;
		if (evbuffer_get_length(in) < size)
			return;
		rec = evbuffer_pullup(in, (ssize_t)size);
		if (rec == NULL || evbuffer_reserve_space(c->plain,
		    SECURE_RECORD_MAX, &v, 1) < 1) {
			conn_close(c, "out of memory reading a record");
			return;
		}
		if (secure_open(c->sec, rec, size, v.iov_base, &plen) != 0)
			goto bad;
		v.iov_len = plen;
		evbuffer_commit_space(c->plain, &v, 1);
		evbuffer_drain(in, size);
		conn_parse_frames(c, c->plain, NULL);
	}
	return;
bad:
	conn_warn_limited(c->t, CONN_W_RECORD, "%s: %s; dropping connection",
	    c->name, secure_error(c->sec));
	conn_close(c, secure_error(c->sec));
}

/* Input on c: frames, or handshake messages and records when secure. */
static void
conn_read_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	if (c->closing)
		return;
	if (c->sec == NULL) {
		conn_parse_frames(c, in, bev);
		return;
	}
	if (c->state == CONN_HANDSHAKE && conn_handshake_read(c, in) != 0)
		return;
	if (c->state == CONN_OPEN)
		conn_records_read(c, in);
}

/* The handshake deadline passed (connect included, for outbound). */
static void
conn_hs_timeout_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct conn *c = arg;

	(void)fd;
	(void)ev;
	if (c->state != CONN_HANDSHAKE)
		return;
	conn_warn_limited(c->t, CONN_W_TIMEOUT, "%s: no secure handshake "
	    "within %d s; dropping connection", c->name,
	    CONN_HANDSHAKE_TIMEOUT_SEC);
	conn_close(c, "secure handshake timed out");
}

/* Errors, EOF, timeouts and connect completion. */
static void
conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		int one = 1;

		setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY,
		    &one, sizeof one);
		log_debug("%s: connected", c->name);
		return;
	}
	if ((what & BEV_EVENT_EOF) && c->state == CONN_HANDSHAKE) {
		if (!c->inbound)
			conn_warn_limited(c->t, CONN_W_HANDSHAKE, "%s: closed "
			    "during the secure handshake (does it run with "
			    "the same --secret-file?)", c->name);
		conn_close(c, "closed by peer during the secure handshake");
	} else if (what & BEV_EVENT_EOF)
		conn_close(c, "closed by peer");
	else if (what & BEV_EVENT_TIMEOUT)
		conn_close(c, "write timed out");
	else if (what & BEV_EVENT_ERROR)
		conn_close(c, evutil_socket_error_to_string(
		    EVUTIL_SOCKET_ERROR()));
}

/*
 * Wrap a bufferevent in a conn and start reading.  A secure conn (the
 * transport has a secret and this is TCP) starts in HANDSHAKE with our
 * HELLO queued and its deadline set.
 */
static struct conn *
conn_new(struct transport *t, struct bufferevent *bev, const char *name,
    const char *addr, int inbound, int secure)
{
	struct conn *c = xcalloc(1, sizeof *c);
	struct timeval wt = { CONN_WRITE_TIMEOUT_SEC, 0 };

	c->t = t;
	c->bev = bev;
	c->serial = t->next_serial++;
	c->inbound = inbound;
	c->state = CONN_OPEN;
	snprintf(c->name, sizeof c->name, "%s", name);
	snprintf(c->addr, sizeof c->addr, "%s", addr ? addr : "");
	TAILQ_INSERT_TAIL(&t->conns, c, entry);
	t->count++;
	bufferevent_setcb(bev, conn_read_cb, NULL, conn_event_cb, c);
	bufferevent_set_timeouts(bev, NULL, &wt);
	if (secure) {
		uint8_t hello[SECURE_HELLO_LEN];
		struct timeval hs = { CONN_HANDSHAKE_TIMEOUT_SEC, 0 };

		c->sec = secure_session_new(t->key, inbound ?
		    SECURE_RESPONDER : SECURE_INITIATOR, hello);
		c->plain = evbuffer_new();
		c->queued = evbuffer_new();
		c->hs_timer = evtimer_new(t->base, conn_hs_timeout_cb, c);
		if (c->plain == NULL || c->queued == NULL ||
		    c->hs_timer == NULL)
			fatalx("out of memory");
		evtimer_add(c->hs_timer, &hs);
		c->state = CONN_HANDSHAKE;
		if (inbound)
			t->preauth++;
		/* Nothing but the handshake is read before it succeeds. */
		bufferevent_setwatermark(bev, EV_READ, 0,
		    SECURE_HELLO_LEN + SECURE_AUTH_LEN);
		bufferevent_write(bev, hello, sizeof hello);
	}
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	return c;
}

/*
 * Make room for one more unauthenticated connection by dropping the
 * oldest: members finish their handshake in milliseconds, so under a
 * flood of half-open connections the oldest is the attacker's.
 */
static void
transport_evict_preauth(struct transport *t)
{
	struct conn *c;

	TAILQ_FOREACH(c, &t->conns, entry) {
		if (c->inbound && c->state == CONN_HANDSHAKE)
			break;
	}
	if (c == NULL)
		return;
	conn_warn_limited(t, CONN_W_PREAUTH, "%d unauthenticated "
	    "connections: dropping the oldest, %s", t->preauth, c->name);
	conn_close(c, "too many unauthenticated connections");
}

/* Accept a connection on either listener. */
static void
transport_accept_cb(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct transport *t = arg;
	struct bufferevent *bev;
	char name[WIRE_ADDR_MAX + 32];
	char host[64] = "unix";
	int secure;

	(void)l;
	(void)salen;
	if (t->count >= CONN_MAX) {
		conn_warn_limited(t, CONN_W_FULL, "too many connections (%d); "
		    "refusing one", t->count);
		evutil_closesocket(fd);
		return;
	}
	/* Unix sockets stay plaintext: their mode decides who connects. */
	secure = t->key != NULL && sa->sa_family != AF_UNIX;
	if (secure && t->preauth >= CONN_MAX_PREAUTH)
		transport_evict_preauth(t);
	if (sa->sa_family == AF_INET || sa->sa_family == AF_INET6) {
		int one = 1;
		const void *ip = sa->sa_family == AF_INET ?
		    (const void *)&((struct sockaddr_in *)sa)->sin_addr :
		    (const void *)&((struct sockaddr_in6 *)sa)->sin6_addr;

		evutil_inet_ntop(sa->sa_family, ip, host, sizeof host);
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	}
	bev = bufferevent_socket_new(t->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		evutil_closesocket(fd);
		return;
	}
	snprintf(name, sizeof name, "client #%llu (%s)",
	    (unsigned long long)t->next_serial, host);
	conn_new(t, bev, name, NULL, 1, secure);
}

/* Log listener errors (e.g. EMFILE) without dying. */
static void
transport_accept_error_cb(struct evconnlistener *l, void *arg)
{
	(void)l;
	(void)arg;
	log_warn("accept");
}

/* Listen on TCP HOST:PORT. */
int
transport_listen_tcp(struct transport *t, const char *hostport, char *err,
    size_t errlen)
{
	struct sockaddr_storage ss;
	int sslen = sizeof ss;

	if (evutil_parse_sockaddr_port(hostport, (struct sockaddr *)&ss,
	    &sslen) != 0) {
		snprintf(err, errlen, "cannot parse listen address '%s' "
		    "(want HOST:PORT)", hostport);
		return -1;
	}
	t->tcp = evconnlistener_new_bind(t->base, transport_accept_cb, t,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
	    128, (struct sockaddr *)&ss, sslen);
	if (t->tcp == NULL) {
		snprintf(err, errlen, "cannot listen on %s: %s", hostport,
		    strerror(errno));
		return -1;
	}
	evconnlistener_set_error_cb(t->tcp, transport_accept_error_cb);
	return 0;
}

/* Listen on a Unix socket. */
int
transport_listen_unix(struct transport *t, const char *path, int mode,
    char *err, size_t errlen)
{
	struct sockaddr_un sun;
	evutil_socket_t fd;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sun.sun_path) {
		snprintf(err, errlen, "socket path too long: %s", path);
		return -1;
	}
	strcpy(sun.sun_path, path);
	/* A stale socket from a crashed daemon would make bind fail. */
	if (unlink(path) != 0 && errno != ENOENT) {
		snprintf(err, errlen, "cannot remove old socket %s: %s", path,
		    strerror(errno));
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof sun) != 0 ||
	    chmod(path, (mode_t)mode) != 0 || listen(fd, 128) != 0) {
		snprintf(err, errlen, "cannot listen on %s: %s", path,
		    strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	t->unx = evconnlistener_new(t->base, transport_accept_cb, t,
	    LEV_OPT_CLOSE_ON_FREE, -1, fd);
	if (t->unx == NULL) {
		snprintf(err, errlen, "cannot listen on %s", path);
		close(fd);
		return -1;
	}
	evconnlistener_set_error_cb(t->unx, transport_accept_error_cb);
	snprintf(t->unix_path, sizeof t->unix_path, "%s", path);
	return 0;
}

/* Pooled outbound connection to addr. */
/* Our own address: transport_peer() of it is served in-process. */
void
transport_set_self(struct transport *t, const char *addr)
{
	snprintf(t->self_addr, sizeof t->self_addr, "%s", addr);
}

/*
 * A connection to ourselves: two linked bufferevents instead of a
 * loopback socket (no syscalls, no encryption: the bytes never leave the
 * process).  The inbound end is served like any accepted connection.
 */
static struct conn *
transport_self_pair(struct transport *t, const char *addr)
{
	struct bufferevent *pair[2];
	struct conn *out, *in;

	if (bufferevent_pair_new(t->base, BEV_OPT_CLOSE_ON_FREE |
	    BEV_OPT_DEFER_CALLBACKS, pair) != 0)
		return NULL;
	out = conn_new(t, pair[0], "self", addr, 0, 0);
	in = conn_new(t, pair[1], "self (inbound)", NULL, 1, 0);
	out->partner = in;
	in->partner = out;
	return out;
}

struct conn *
transport_peer(struct transport *t, const char *addr)
{
	struct sockaddr_storage ss;
	int sslen = sizeof ss;
	struct bufferevent *bev;
	struct conn *c;
	char name[WIRE_ADDR_MAX + 32];

	TAILQ_FOREACH(c, &t->conns, entry) {
		if (c->addr[0] != '\0' && strcmp(c->addr, addr) == 0)
			return c;
	}
	if (t->self_addr[0] != '\0' && strcmp(addr, t->self_addr) == 0)
		return transport_self_pair(t, addr);
	if (evutil_parse_sockaddr_port(addr, (struct sockaddr *)&ss,
	    &sslen) != 0) {
		log_warnx("cannot parse peer address '%s'", addr);
		return NULL;
	}
	bev = bufferevent_socket_new(t->base, -1,
	    BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL)
		return NULL;
	snprintf(name, sizeof name, "peer %s", addr);
	c = conn_new(t, bev, name, addr, 0, t->key != NULL);
	if (bufferevent_socket_connect(bev, (struct sockaddr *)&ss,
	    sslen) != 0) {
		conn_close(c, "connect failed");
		return NULL;
	}
	/*
	 * A refusal the kernel reports at once (loopback: nobody listens)
	 * runs our event callback inside the connect call, and c is
	 * closed already: callers must see a failure, not a dead conn
	 * that swallows what they send and never reports its close.
	 */
	if (c->closing)
		return NULL;
	return c;
}

void
transport_drop_peer(struct transport *t, const char *addr, const char *why)
{
	struct conn *c, *next;

	for (c = TAILQ_FIRST(&t->conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		if (c->addr[0] != '\0' && strcmp(c->addr, addr) == 0)
			conn_close(c, why);
	}
}

/*
 * Queue bytes of the plaintext stream on c: as they are, sealed into
 * records, or held until the handshake is done.
 */
static void
conn_send_bytes(struct conn *c, const uint8_t *p, size_t len)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	struct evbuffer_iovec v;

	if (c->sec == NULL) {
		evbuffer_add(out, p, len);
		return;
	}
	if (c->state != CONN_OPEN) {
		evbuffer_add(c->queued, p, len);
		return;
	}
	while (len > 0) {
		size_t n = len < SECURE_RECORD_MAX ? len : SECURE_RECORD_MAX;
		size_t rl = secure_sealed_len(n);

		/* One vector: contiguous room, sealed in place. */
		if (evbuffer_reserve_space(out, (ssize_t)rl, &v, 1) < 1 ||
		    secure_seal(c->sec, p, n, v.iov_base) != 0) {
			conn_close(c, "cannot seal a record");
			return;
		}
		v.iov_len = rl;
		evbuffer_commit_space(out, &v, 1);
		p += n;
		len -= n;
	}
}

/* Queue a frame; cut the connection off if it is hopelessly behind. */
void
conn_send(struct conn *c, const struct wbuf *frame)
{
	if (c == NULL || c->closing)
		return; /* no connection (refused, closed): dropped */
	if (conn_pending(c) + frame->len > CONN_OUTPUT_CAP) {
		log_warnx("%s: output buffer over %u bytes; dropping slow peer",
		    c->name, CONN_OUTPUT_CAP);
		conn_close(c, "slow peer");
		return;
	}
	if (c->inflight > 0 && frame->len >= WIRE_HEADER_LEN) {
		struct rbuf r;
		uint16_t type;
		uint32_t w;

		rbuf_init(&r, frame->p, frame->len);
		(void)rbuf_get_bytes(&r, 6); /* magic, version */
		type = rbuf_get_u16(&r);
		(void)rbuf_get_bytes(&r, 8); /* flags, len */
		if (conn_is_reply(type) && rbuf_get_u64(&r) != 0) {
			w = conn_weight(type, frame->p + WIRE_HEADER_LEN,
			    frame->len - WIRE_HEADER_LEN);
			c->inflight -= w < c->inflight ? w : c->inflight;
		}
	}
	conn_send_bytes(c, frame->p, frame->len);
}

/* Name for logs. */
const char *
conn_name(const struct conn *c)
{
	return c->name;
}

/* Serial number. */
uint64_t
conn_serial(const struct conn *c)
{
	return c->serial;
}

/* Bytes waiting to be written. */
size_t
conn_pending(const struct conn *c)
{
	return evbuffer_get_length(bufferevent_get_output(c->bev)) +
	    (c->queued != NULL ? evbuffer_get_length(c->queued) : 0);
}

/* Find a live connection by serial. */
struct conn *
transport_conn_by_serial(struct transport *t, uint64_t serial)
{
	struct conn *c;

	TAILQ_FOREACH(c, &t->conns, entry) {
		if (c->serial == serial)
			return c;
	}
	return NULL;
}

/* Open connections. */
int
transport_count(const struct transport *t)
{
	return t->count;
}
