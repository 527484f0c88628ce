/* conn.c: listeners, connections and frame reading (see conn.h). */
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>

#include "conn.h"
#include "log.h"
#include "xmalloc.h"

/* Write timeout: a peer that accepts nothing for this long is cut off. */
#define CONN_WRITE_TIMEOUT_SEC 10

struct conn {
	struct transport *t;
	struct bufferevent *bev;
	uint64_t serial;
	char name[WIRE_ADDR_MAX + 32];
	char addr[WIRE_ADDR_MAX]; /* pool key for outbound peers, else "" */
	int closing;		  /* closed; waiting to be freed */
	TAILQ_ENTRY(conn) entry;
};
TAILQ_HEAD(conn_list, conn);

struct transport {
	struct event_base *base;
	const struct conn_ops *ops;
	void *arg;
	struct evconnlistener *tcp;
	struct evconnlistener *unx;
	char unix_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct conn_list conns;	 /* open connections */
	struct conn_list graves; /* closed, freed by reaper */
	struct event *reaper;
	int count;
	uint64_t next_serial;
};

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
	bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	TAILQ_REMOVE(&t->conns, c, entry);
	t->count--;
	t->ops->closed(c, t->arg);
	TAILQ_INSERT_TAIL(&t->graves, c, entry);
	event_active(t->reaper, 0, 0);
}

/* Read every whole frame buffered on c and hand it up. */
static void
conn_read_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	uint8_t hdr[WIRE_HEADER_LEN];
	struct wire_header h;
	const char *why;

	while (!c->closing && evbuffer_get_length(in) >= WIRE_HEADER_LEN) {
		uint8_t *body;

		evbuffer_copyout(in, hdr, sizeof hdr);
		if (wire_header_decode(hdr, &h, &why) != 0) {
			log_warnx("%s: %s; dropping connection", c->name, why);
			conn_close(c, why);
			return;
		}
		if (evbuffer_get_length(in) < WIRE_HEADER_LEN + (size_t)h.len) {
			/* Wait for the rest without re-reading the header. */
			bufferevent_setwatermark(bev, EV_READ,
			    WIRE_HEADER_LEN + (size_t)h.len, 0);
			return;
		}
		bufferevent_setwatermark(bev, EV_READ, 0, 0);
		evbuffer_drain(in, WIRE_HEADER_LEN);
		body = evbuffer_pullup(in, h.len);
		if (body == NULL && h.len > 0) {
			conn_close(c, "out of memory reading a frame");
			return;
		}
		c->t->ops->frame(c, &h, body, c->t->arg);
		evbuffer_drain(in, h.len);
	}
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
	if (what & BEV_EVENT_EOF)
		conn_close(c, "closed by peer");
	else if (what & BEV_EVENT_TIMEOUT)
		conn_close(c, "write timed out");
	else if (what & BEV_EVENT_ERROR)
		conn_close(c, evutil_socket_error_to_string(
		    EVUTIL_SOCKET_ERROR()));
}

/* Wrap a bufferevent in a conn and start reading. */
static struct conn *
conn_new(struct transport *t, struct bufferevent *bev, const char *name,
    const char *addr)
{
	struct conn *c = xcalloc(1, sizeof *c);
	struct timeval wt = { CONN_WRITE_TIMEOUT_SEC, 0 };

	c->t = t;
	c->bev = bev;
	c->serial = t->next_serial++;
	snprintf(c->name, sizeof c->name, "%s", name);
	snprintf(c->addr, sizeof c->addr, "%s", addr ? addr : "");
	TAILQ_INSERT_TAIL(&t->conns, c, entry);
	t->count++;
	bufferevent_setcb(bev, conn_read_cb, NULL, conn_event_cb, c);
	bufferevent_set_timeouts(bev, NULL, &wt);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	return c;
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

	(void)l;
	(void)salen;
	if (t->count >= CONN_MAX) {
		log_warnx("too many connections (%d); refusing one", t->count);
		evutil_closesocket(fd);
		return;
	}
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
	conn_new(t, bev, name, NULL);
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
	c = conn_new(t, bev, name, addr);
	if (bufferevent_socket_connect(bev, (struct sockaddr *)&ss,
	    sslen) != 0) {
		conn_close(c, "connect failed");
		return NULL;
	}
	return c;
}

/* Queue a frame; cut the connection off if it is hopelessly behind. */
void
conn_send(struct conn *c, const struct wbuf *frame)
{
	struct evbuffer *out;

	if (c->closing)
		return;
	out = bufferevent_get_output(c->bev);
	if (evbuffer_get_length(out) + frame->len > CONN_OUTPUT_CAP) {
		log_warnx("%s: output buffer over %u bytes; dropping slow peer",
		    c->name, CONN_OUTPUT_CAP);
		conn_close(c, "slow peer");
		return;
	}
	evbuffer_add(out, frame->p, frame->len);
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
	return evbuffer_get_length(bufferevent_get_output(c->bev));
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
