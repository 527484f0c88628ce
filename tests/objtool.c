/*
 * objtool.c: a fast object-store client for tests and benchmarks.
 *
 *   objtool put   -d DAEMON[,..] -n N [-s SEED] [--min B] [--max B]
 *                 [--dist log|fixed] -m MANIFEST [-c CONNS] [-w WINDOW]
 *                 [--batch B]
 *   objtool check -d DAEMON[,..] -m MANIFEST [--absent]
 *   objtool rm    -d DAEMON[,..] -m MANIFEST
 *   objtool bench -d DAEMON[,..] --op put|get --size B -n N [-s SEED]
 *   objtool lat   -d DAEMON --op put|get --size B -n N [-s SEED] [--warmup W]
 *   objtool cas   -d DAEMON[,..] [--keys K] [--clients C] [--iters N]
 *
 * It speaks the wire protocol (common/wire.h) itself over raw sockets:
 * put, check, rm and bench run their requests over CONNS connections with
 * up to WINDOW requests outstanding on each (and at most OT_BUDGET bytes of
 * requests plus expected replies), in one poll() loop, matching replies to
 * requests by request id.  Every request has a deadline (-t); a broken
 * connection fails what was pending on it and is dialled again.  cas runs
 * one thread per client, each with its own connection, doing
 * compare-and-swap increments.  lat is bench with one connection (to the
 * first daemon) and one request in flight: the latency of a single
 * request, as percentiles in microseconds.  With --batch B, put, check, rm
 * and bench send their objects B at a time in OBJ_BATCH requests (fewer
 * when a frame or a reply's values would pass the wire limits); WINDOW
 * then counts batches, and an object's latency is its batch's.
 *
 * Objects of put are named "obj-SEED-I"; their sizes and contents are pure
 * functions of (SEED, I) and of the name, so runs are reproducible.  The
 * manifest lists "NAME SIZE XXH3" (16 hex digits) of every object whose
 * PUT was acknowledged.  bench and lat use "bench-SEED-SIZE-I" (lat's
 * warm-up requests are the first W of them).
 *
 * Exit status: 0 success, 1 a problem found (failed writes, missing or
 * corrupt objects, wrong counters), 2 usage.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hash.h"
#include "wire.h"
#include "xmalloc.h"

#define OT_CONNS 4		  /* default connections */
#define OT_WINDOW 16		  /* default requests in flight per conn */
#define OT_MAX_WINDOW 4096	  /* slot index lives in 12 bits of reqid */
#define OT_SLOT_BITS 12
#define OT_TIMEOUT_MS 60000	  /* default per-request deadline */
#define OT_CONNECT_MS 5000	  /* per connect attempt */
#define OT_BUDGET (32u << 20)	  /* bytes in flight per connection */
#define OT_REDIAL_MS 200	  /* pause before dialling a broken conn */
#define OT_MAX_REDIALS 20	  /* consecutive failures before giving up */
#define OT_SHOWN 10		  /* problems printed in full */
#define OT_REPLY_OVERHEAD 128	  /* reply bytes besides the value */
#define OT_NAME_MAX 96
#define OT_CAS_MAX_FAILURES 50	  /* failed reads in a row: skip the key */
#define OT_MAX_WARMUP 1000000	  /* lat --warmup */
#define OT_DAEMON_INFLIGHT 4096	  /* requests in flight per connection
				     the daemon allows (a batch of B
				     counts B): CONN_MAX_INFLIGHT */
#define OT_BATCH_ITEM 128	  /* frame bytes of an item besides data */

/* Whether an item is finished after a reply or must be sent again. */
enum ot_verdict { OT_DONE, OT_RETRY };

/*
 * A batch of independent requests, items 0..n-1.  build appends item's
 * request frame with request id reqid to w and returns the bytes the
 * request and its expected reply occupy (for the byte budget).  done gets
 * the reply (h non-NULL), or h NULL and err set when the request timed out
 * or its connection broke; attempt counts from 0.
 */
struct ot_job {
	size_t n;
	size_t (*build)(void *arg, size_t item, struct wbuf *w,
	    uint64_t reqid);
	enum ot_verdict (*done)(void *arg, size_t item, int attempt,
	    const struct wire_header *h, const uint8_t *body, const char *err);
	void *arg;
};

/* One outstanding request on a connection. */
struct ot_slot {
	uint64_t reqid;		/* 0: free */
	size_t item;
	size_t bytes;		/* charged to the budget */
	uint64_t sent_ns;
	uint64_t deadline_ns;
};

/* One connection of the engine. */
struct ot_conn {
	const char *addr;
	int fd;			/* -1 while down */
	bool dead;		/* gave up dialling */
	int redials;		/* consecutive failed dials */
	uint64_t redial_ns;	/* not before this */
	struct wbuf out;	/* frames to send, from outoff on */
	size_t outoff;
	uint8_t *in;		/* bytes received, not yet decoded */
	size_t inlen, incap;
	struct ot_slot *slot;	/* window slots */
	int inflight;
	size_t bytes;		/* budget in use */
	uint64_t seq;
};

/* The pipelined request engine. */
struct ot_engine {
	struct ot_job *job;
	struct ot_conn *c;
	int nconns, window;
	int timeout_ms;
	size_t next;		/* next item never sent */
	size_t *requeue;	/* items to send again */
	size_t nrequeue;
	uint8_t *attempts;	/* per item */
	size_t left;		/* items not finished */
	float *lat_ms;		/* per item: latency of its last attempt */
	bool quiet;
};

/* Options of every subcommand (each uses some). */
struct ot_opts {
	char *daemons[64];
	int ndaemons;
	size_t n;
	uint64_t seed;
	uint64_t min, max;
	bool fixed;
	const char *manifest;
	int conns, window, timeout_ms, retries;
	const char *op;
	uint64_t size;
	int keys, clients;
	long iters;
	size_t warmup;		/* lat: requests sent before measuring */
	int batch;		/* objects per OBJ_BATCH (1: none) */
	bool conns_set, window_set;	/* -c, -w given */
	bool absent, quiet, allow_errors;
};

static const char *ot_prog = "objtool";
static unsigned ot_shown;	/* problems printed so far */

/* Monotonic clock in nanoseconds. */
static uint64_t
ot_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Milliseconds until deadline (ns), at least 1; 0 once it has passed. */
static int
ot_ms_left(uint64_t deadline)
{
	uint64_t now = ot_now_ns();

	if (now >= deadline)
		return 0;
	return (int)((deadline - now) / 1000000u) + 1;
}

/* Print an error and exit 2 (usage) or 1. */
static void __attribute__((noreturn, format(printf, 2, 3)))
ot_die(int code, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", ot_prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(code);
}

/* Report one problem; only the first OT_SHOWN are printed in full. */
static void __attribute__((format(printf, 1, 2)))
ot_problem(const char *fmt, ...)
{
	va_list ap;

	if (ot_shown++ >= OT_SHOWN) {
		if (ot_shown == OT_SHOWN + 1)
			fprintf(stderr, "%s: (further problems not shown)\n",
			    ot_prog);
		return;
	}
	fprintf(stderr, "%s: ", ot_prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* ---- deterministic sizes and contents ------------------------------ */

/* splitmix64: the next value of the generator state *s. */
static uint64_t
ot_mix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Size of object i: log-uniform in [min, max] (or max when fixed). */
static uint32_t
ot_size_of(const struct ot_opts *o, size_t i)
{
	uint64_t s = o->seed * 0x2545f4914f6cdd1dULL ^ (uint64_t)i;
	double u, lo, hi, v;

	if (o->fixed || o->min == o->max)
		return (uint32_t)o->max;
	u = (double)(ot_mix(&s) >> 11) / 9007199254740992.0;
	lo = log((double)o->min);
	hi = log((double)o->max + 1.0);
	v = floor(exp(lo + u * (hi - lo)));
	if (v < (double)o->min)
		v = (double)o->min;
	if (v > (double)o->max)
		v = (double)o->max;
	return (uint32_t)v;
}

/* Fill buf with the contents of the object called name (len bytes). */
static void
ot_fill(const char *name, uint8_t *buf, size_t len)
{
	uint64_t s = hash_checksum(name, strlen(name)), v;
	size_t i = 0;

	for (; i + 8 <= len; i += 8) {
		v = ot_mix(&s);
		memcpy(buf + i, &v, 8);
	}
	v = ot_mix(&s);
	for (; i < len; i++, v >>= 8)
		buf[i] = (uint8_t)v;
}

/* ---- frames --------------------------------------------------------- */

/* Append a frame header to w; returns its offset for ot_frame_end(). */
static size_t
ot_frame_begin(struct wbuf *w, uint16_t type, uint32_t flags, uint64_t reqid)
{
	size_t at = w->len;

	wbuf_put_u32(w, WIRE_MAGIC);
	wbuf_put_u16(w, WIRE_VERSION);
	wbuf_put_u16(w, type);
	wbuf_put_u32(w, flags);
	wbuf_put_u32(w, 0);
	wbuf_put_u64(w, reqid);
	return at;
}

/* Patch the body length into the frame that starts at offset at. */
static void
ot_frame_end(struct wbuf *w, size_t at)
{
	uint32_t len = (uint32_t)(w->len - at - WIRE_HEADER_LEN);

	for (int i = 0; i < 4; i++)
		w->p[at + 12 + i] = (uint8_t)(len >> (8 * i));
}

/* Append a client object request (GET, PUT, DEL) for name to w. */
static size_t
ot_obj_frame(struct wbuf *w, uint16_t type, uint64_t reqid, const char *name,
    uint8_t cond, uint64_t cond_version, const uint8_t *data, uint32_t len)
{
	struct wire_obj o;
	size_t at = ot_frame_begin(w, type, 0, reqid);

	memset(&o, 0, sizeof o);
	hash_key_of(name, strlen(name), &o.key);
	o.cond = cond;
	o.cond_version = cond_version;
	o.data = data;
	o.len = len;
	wire_obj_encode(w, &o);
	ot_frame_end(w, at);
	return w->len - at;
}

/* Text of an ERROR body: "message (code N)", in buf. */
static uint32_t
ot_error_text(const uint8_t *body, uint32_t len, char *buf, size_t bufsz)
{
	uint32_t code;
	char msg[256];

	if (wire_error_decode(body, len, &code, msg, sizeof msg) != 0) {
		snprintf(buf, bufsz, "malformed ERROR reply");
		return WIRE_E_PROTO;
	}
	snprintf(buf, bufsz, "%s (%s)", msg[0] ? msg : wire_error_text(code),
	    wire_error_text(code));
	return code;
}

/* ---- connections ---------------------------------------------------- */

/* Split "HOST:PORT" ("[V6]:PORT") into host and port; -1 if malformed. */
static int
ot_split(const char *spec, char *host, size_t hostsz, char *port,
    size_t portsz)
{
	const char *colon = strrchr(spec, ':');
	size_t hl;

	if (colon == NULL || colon[1] == '\0')
		return -1;
	hl = (size_t)(colon - spec);
	if (hl >= 2 && spec[0] == '[' && spec[hl - 1] == ']') {
		spec++;
		hl -= 2;
	}
	if (hl == 0 || hl >= hostsz || strlen(colon + 1) >= portsz)
		return -1;
	memcpy(host, spec, hl);
	host[hl] = '\0';
	snprintf(port, portsz, "%s", colon + 1);
	return 0;
}

/* Wait for a non-blocking connect on fd; 0 or -1 with errno. */
static int
ot_connect_wait(int fd, const struct sockaddr *sa, socklen_t salen,
    int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	int soerr = 0, rc;
	socklen_t sl = sizeof soerr;

	if (connect(fd, sa, salen) == 0)
		return 0;
	if (errno != EINPROGRESS)
		return -1;
	do {
		rc = poll(&p, 1, timeout_ms);
	} while (rc < 0 && errno == EINTR);
	if (rc == 0)
		errno = ETIMEDOUT;
	if (rc <= 0)
		return -1;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0)
		return -1;
	if (soerr != 0) {
		errno = soerr;
		return -1;
	}
	return 0;
}

/*
 * Dial spec ("unix:PATH" or "HOST:PORT") within timeout_ms.  Returns a
 * non-blocking socket, or -1 with the reason in err.
 */
static int
ot_dial(const char *spec, int timeout_ms, char *err, size_t errlen)
{
	struct addrinfo hints, *res = NULL, *ai;
	struct sockaddr_un sun;
	char host[256], port[32];
	int fd = -1, one = 1, gerr;

	if (strncmp(spec, "unix:", 5) == 0) {
		memset(&sun, 0, sizeof sun);
		sun.sun_family = AF_UNIX;
		if (strlen(spec + 5) >= sizeof sun.sun_path) {
			snprintf(err, errlen, "%s: path too long", spec);
			return -1;
		}
		strcpy(sun.sun_path, spec + 5);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
		if (fd >= 0 && ot_connect_wait(fd, (struct sockaddr *)&sun,
		    sizeof sun, timeout_ms) == 0)
			return fd;
		snprintf(err, errlen, "cannot connect to %s: %s", spec,
		    strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (ot_split(spec, host, sizeof host, port, sizeof port) != 0) {
		snprintf(err, errlen, "bad daemon address '%s' (HOST:PORT or "
		    "unix:PATH)", spec);
		return -1;
	}
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if ((gerr = getaddrinfo(host, port, &hints, &res)) != 0) {
		snprintf(err, errlen, "cannot resolve %s: %s", spec,
		    gai_strerror(gerr));
		return -1;
	}
	snprintf(err, errlen, "cannot connect to %s", spec);
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0)
			continue;
		if (ot_connect_wait(fd, ai->ai_addr, ai->ai_addrlen,
		    timeout_ms) == 0)
			break;
		snprintf(err, errlen, "cannot connect to %s: %s", spec,
		    strerror(errno));
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd >= 0)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return fd;
}

/*
 * Take one whole frame from the front of buf (len bytes).  Returns the
 * frame's total length with *h decoded, 0 when more bytes are needed, or
 * -1 with *why set on a bad header.
 */
static ssize_t
ot_take_frame(const uint8_t *buf, size_t len, struct wire_header *h,
    const char **why)
{
	if (len < WIRE_HEADER_LEN)
		return 0;
	if (wire_header_decode(buf, h, why) != 0)
		return -1;
	if (len < WIRE_HEADER_LEN + (size_t)h->len)
		return 0;
	return (ssize_t)(WIRE_HEADER_LEN + h->len);
}

/* Make room for at least need more bytes in a receive buffer. */
static void
ot_in_reserve(uint8_t **in, size_t *incap, size_t inlen, size_t need)
{
	size_t cap = *incap ? *incap : (1u << 20);

	while (cap - inlen < need)
		cap *= 2;
	if (cap != *incap) {
		*in = xreallocarray(*in, cap, 1);
		*incap = cap;
	}
}

/* ---- the engine ----------------------------------------------------- */

/* Finish or requeue an item after a reply or a failure. */
static void
ot_engine_settle(struct ot_engine *e, struct ot_slot *s,
    const struct wire_header *h, const uint8_t *body, const char *err)
{
	size_t item = s->item;
	int attempt = e->attempts[item];

	e->lat_ms[item] = (float)((double)(ot_now_ns() - s->sent_ns) / 1e6);
	s->reqid = 0;
	if (e->job->done(e->job->arg, item, attempt, h, body, err) ==
	    OT_RETRY) {
		if (e->attempts[item] < 255)
			e->attempts[item]++;
		e->requeue[e->nrequeue++] = item;
	} else {
		e->left--;
	}
}

/* Release slot s of c and settle its item. */
static void
ot_engine_finish(struct ot_engine *e, struct ot_conn *c, struct ot_slot *s,
    const struct wire_header *h, const uint8_t *body, const char *err)
{
	c->inflight--;
	c->bytes -= s->bytes;
	ot_engine_settle(e, s, h, body, err);
}

/* Close c (broken): fail everything pending on it; dial again later. */
static void
ot_engine_break(struct ot_engine *e, struct ot_conn *c, const char *why)
{
	char msg[300];

	snprintf(msg, sizeof msg, "%s: %s", c->addr, why);
	if (!e->quiet)
		fprintf(stderr, "%s: connection broken: %s\n", ot_prog, msg);
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->out.len = c->outoff = 0;
	c->inlen = 0;
	c->redial_ns = ot_now_ns() + OT_REDIAL_MS * 1000000ull;
	for (int i = 0; i < e->window; i++) {
		if (c->slot[i].reqid != 0)
			ot_engine_finish(e, c, &c->slot[i], NULL, NULL, msg);
	}
}

/* Dial c if it is down and due; give up after OT_MAX_REDIALS failures. */
static void
ot_engine_dial(struct ot_engine *e, struct ot_conn *c)
{
	char err[300];

	if (c->fd >= 0 || c->dead || ot_now_ns() < c->redial_ns)
		return;
	c->fd = ot_dial(c->addr, OT_CONNECT_MS, err, sizeof err);
	if (c->fd >= 0) {
		c->redials = 0;
		return;
	}
	if (++c->redials >= OT_MAX_REDIALS) {
		fprintf(stderr, "%s: %s; giving up on this connection\n",
		    ot_prog, err);
		c->dead = true;
		return;
	}
	if (!e->quiet || c->redials == 1)
		fprintf(stderr, "%s: %s\n", ot_prog, err);
	c->redial_ns = ot_now_ns() + OT_REDIAL_MS * 1000000ull;
}

/* Next item to send (requeued ones first); false when none. */
static bool
ot_engine_pick(struct ot_engine *e, size_t *item)
{
	if (e->nrequeue > 0) {
		*item = e->requeue[--e->nrequeue];
		return true;
	}
	if (e->next < e->job->n) {
		*item = e->next++;
		return true;
	}
	return false;
}

/* Queue requests on c while its window and budget allow. */
static void
ot_engine_fill(struct ot_engine *e, struct ot_conn *c)
{
	size_t item;
	int i;

	if (c->fd < 0)
		return;
	/* Keep the send buffer short: add frames only when it is drained. */
	if (c->out.len - c->outoff > (1u << 20))
		return;
	while (c->inflight < e->window &&
	    (c->inflight == 0 || c->bytes < OT_BUDGET) &&
	    ot_engine_pick(e, &item)) {
		for (i = 0; c->slot[i].reqid != 0; i++)
			;
		c->seq++;
		c->slot[i].reqid = c->seq << OT_SLOT_BITS | (uint64_t)i;
		c->slot[i].item = item;
		c->slot[i].bytes = e->job->build(e->job->arg, item, &c->out,
		    c->slot[i].reqid);
		c->slot[i].sent_ns = ot_now_ns();
		c->slot[i].deadline_ns = c->slot[i].sent_ns +
		    (uint64_t)e->timeout_ms * 1000000u;
		c->inflight++;
		c->bytes += c->slot[i].bytes;
	}
}

/* Send what c has queued; false when the connection broke. */
static bool
ot_engine_write(struct ot_engine *e, struct ot_conn *c)
{
	ssize_t w;

	while (c->outoff < c->out.len) {
		w = send(c->fd, c->out.p + c->outoff, c->out.len - c->outoff,
		    MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (w <= 0) {
			ot_engine_break(e, c, strerror(errno));
			return false;
		}
		c->outoff += (size_t)w;
	}
	if (c->outoff == c->out.len)
		c->out.len = c->outoff = 0;
	else if (c->outoff > (8u << 20)) {
		memmove(c->out.p, c->out.p + c->outoff, c->out.len -
		    c->outoff);
		c->out.len -= c->outoff;
		c->outoff = 0;
	}
	return true;
}

/* Decode and dispatch every whole frame in c's receive buffer. */
static bool
ot_engine_frames(struct ot_engine *e, struct ot_conn *c)
{
	struct wire_header h;
	const char *why = NULL;
	size_t off = 0;
	ssize_t flen;
	uint64_t slot;
	struct ot_slot *s;

	while ((flen = ot_take_frame(c->in + off, c->inlen - off, &h,
	    &why)) > 0) {
		slot = h.reqid & ((1u << OT_SLOT_BITS) - 1);
		s = slot < (uint64_t)e->window ? &c->slot[slot] : NULL;
		if (s != NULL && h.reqid != 0 && s->reqid == h.reqid)
			ot_engine_finish(e, c, s, &h,
			    c->in + off + WIRE_HEADER_LEN, NULL);
		/* Anything else is a late reply to a timed-out request. */
		off += (size_t)flen;
	}
	if (flen < 0) {
		ot_engine_break(e, c, why);
		return false;
	}
	if (off > 0) {
		memmove(c->in, c->in + off, c->inlen - off);
		c->inlen -= off;
	}
	return true;
}

/* Read what c has received and handle whole frames. */
static void
ot_engine_read(struct ot_engine *e, struct ot_conn *c)
{
	struct wire_header h;
	const char *why;
	size_t need = 1u << 18;
	ssize_t r;

	for (;;) {
		/* Room for the frame under way, at least 256 KiB. */
		if (c->inlen >= WIRE_HEADER_LEN &&
		    wire_header_decode(c->in, &h, &why) == 0 &&
		    WIRE_HEADER_LEN + (size_t)h.len > c->inlen &&
		    WIRE_HEADER_LEN + (size_t)h.len - c->inlen > need)
			need = WIRE_HEADER_LEN + (size_t)h.len - c->inlen;
		ot_in_reserve(&c->in, &c->incap, c->inlen, need);
		r = recv(c->fd, c->in + c->inlen, c->incap - c->inlen, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (r <= 0) {
			ot_engine_break(e, c, r == 0 ?
			    "connection closed by the daemon" :
			    strerror(errno));
			return;
		}
		c->inlen += (size_t)r;
		if (!ot_engine_frames(e, c))
			return;
	}
}

/* Fail the requests of c that are past their deadline. */
static void
ot_engine_expire(struct ot_engine *e, struct ot_conn *c, uint64_t now)
{
	char msg[200];

	for (int i = 0; i < e->window; i++) {
		struct ot_slot *s = &c->slot[i];

		if (s->reqid == 0 || now < s->deadline_ns)
			continue;
		snprintf(msg, sizeof msg, "%s: no reply within %d ms", c->addr,
		    e->timeout_ms);
		ot_engine_finish(e, c, s, NULL, NULL, msg);
	}
}

/* Fail every item not yet finished (all connections are gone). */
static void
ot_engine_abandon(struct ot_engine *e)
{
	struct ot_slot s;
	size_t item;

	memset(&s, 0, sizeof s);
	while (ot_engine_pick(e, &item)) {
		s.item = item;
		s.sent_ns = ot_now_ns();
		e->attempts[item] = 255;	/* no more retries */
		ot_engine_settle(e, &s, NULL, NULL,
		    "no connection to any daemon");
	}
}

/* One pass of the poll loop. */
static void
ot_engine_step(struct ot_engine *e, struct pollfd *pfd)
{
	uint64_t now = ot_now_ns(), wake = now + 100000000u;
	int live = 0, rc;

	for (int i = 0; i < e->nconns; i++) {
		struct ot_conn *c = &e->c[i];

		ot_engine_dial(e, c);
		ot_engine_fill(e, c);
		pfd[i].fd = c->fd;
		pfd[i].events = POLLIN | (c->outoff < c->out.len ? POLLOUT : 0);
		pfd[i].revents = 0;
		live += !c->dead;
		for (int j = 0; j < e->window; j++) {
			if (c->slot[j].reqid != 0 &&
			    c->slot[j].deadline_ns < wake)
				wake = c->slot[j].deadline_ns;
		}
	}
	if (live == 0) {
		ot_engine_abandon(e);
		return;
	}
	rc = poll(pfd, (nfds_t)e->nconns, wake > now ?
	    (int)((wake - now) / 1000000u) + 1 : 0);
	if (rc < 0 && errno != EINTR)
		ot_die(1, "poll: %s", strerror(errno));
	now = ot_now_ns();
	for (int i = 0; i < e->nconns; i++) {
		struct ot_conn *c = &e->c[i];

		if (c->fd >= 0 && (pfd[i].revents & POLLOUT) &&
		    !ot_engine_write(e, c))
			continue;
		if (c->fd >= 0 && (pfd[i].revents & (POLLIN | POLLHUP |
		    POLLERR)))
			ot_engine_read(e, c);
		if (c->fd >= 0)
			ot_engine_write(e, c);
		ot_engine_expire(e, c, now);
	}
}

/*
 * Run job over conns connections spread round-robin over the daemons, with
 * window requests in flight on each.  Returns the wall time in seconds;
 * lat (when non-NULL) receives the per-item latency array (caller frees).
 */
static double
ot_engine_run(struct ot_job *job, const struct ot_opts *o, bool quiet,
    float **lat)
{
	struct ot_engine e;
	struct pollfd *pfd;
	uint64_t t0 = ot_now_ns();

	memset(&e, 0, sizeof e);
	e.job = job;
	e.nconns = o->conns;
	e.window = o->window;
	e.timeout_ms = o->timeout_ms;
	e.left = job->n;
	e.quiet = quiet;
	e.requeue = xcalloc(job->n + 1, sizeof *e.requeue);
	e.attempts = xcalloc(job->n + 1, 1);
	e.lat_ms = xcalloc(job->n + 1, sizeof *e.lat_ms);
	e.c = xcalloc((size_t)e.nconns, sizeof *e.c);
	pfd = xcalloc((size_t)e.nconns, sizeof *pfd);
	for (int i = 0; i < e.nconns; i++) {
		e.c[i].addr = o->daemons[i % o->ndaemons];
		e.c[i].fd = -1;
		e.c[i].slot = xcalloc((size_t)e.window, sizeof *e.c[i].slot);
		wbuf_init(&e.c[i].out);
	}
	while (e.left > 0)
		ot_engine_step(&e, pfd);
	for (int i = 0; i < e.nconns; i++) {
		if (e.c[i].fd >= 0)
			close(e.c[i].fd);
		wbuf_free(&e.c[i].out);
		free(e.c[i].in);
		free(e.c[i].slot);
	}
	free(e.c);
	free(pfd);
	free(e.requeue);
	free(e.attempts);
	if (lat != NULL)
		*lat = e.lat_ms;
	else
		free(e.lat_ms);
	return (double)(ot_now_ns() - t0) / 1e9;
}

/* ---- manifests ------------------------------------------------------ */

/* One object of a manifest. */
struct ot_obj {
	char name[OT_NAME_MAX];
	uint32_t size;
	uint64_t sum;
	uint8_t state;		/* per run: OT_S_* */
	uint64_t version;
};

enum { OT_S_PENDING, OT_S_OK, OT_S_MISSING, OT_S_CORRUPT, OT_S_ERROR };

/* Read a manifest ("NAME SIZE XXH3" lines; '#' comments) into *n objects. */
static struct ot_obj *
ot_manifest_read(const char *path, size_t *n)
{
	FILE *f = fopen(path, "r");
	struct ot_obj *v = NULL;
	size_t cap = 0, lineno = 0;
	char line[512], name[OT_NAME_MAX + 1];
	unsigned long long size, sum;

	if (f == NULL)
		ot_die(1, "cannot open manifest %s: %s", path, strerror(errno));
	*n = 0;
	while (fgets(line, sizeof line, f) != NULL) {
		lineno++;
		if (line[0] == '#' || line[0] == '\n')
			continue;
		if (sscanf(line, "%96s %llu %llx", name, &size, &sum) != 3 ||
		    strlen(name) >= OT_NAME_MAX || size > WIRE_MAX_VALUE)
			ot_die(1, "%s:%zu: malformed manifest line", path,
			    lineno);
		if (*n == cap) {
			cap = cap ? cap * 2 : 1024;
			v = xreallocarray(v, cap, sizeof *v);
		}
		memset(&v[*n], 0, sizeof v[*n]);
		snprintf(v[*n].name, sizeof v[*n].name, "%s", name);
		v[*n].size = (uint32_t)size;
		v[*n].sum = sum;
		(*n)++;
	}
	if (ferror(f))
		ot_die(1, "reading %s: %s", path, strerror(errno));
	fclose(f);
	return v;
}

/* Write the objects in state OK to path (atomically, by rename). */
static size_t
ot_manifest_write(const char *path, const struct ot_obj *v, size_t n,
    const struct ot_opts *o)
{
	char tmp[4096];
	FILE *f;
	size_t written = 0;

	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	if ((f = fopen(tmp, "w")) == NULL)
		ot_die(1, "cannot create %s: %s", tmp, strerror(errno));
	fprintf(f, "# objtool manifest: seed %" PRIu64 ", %zu objects "
	    "asked, sizes %" PRIu64 "..%" PRIu64 " %s; name size xxh3\n",
	    o->seed, n, o->min, o->max, o->fixed ? "fixed" : "log-uniform");
	for (size_t i = 0; i < n; i++) {
		if (v[i].state != OT_S_OK)
			continue;
		fprintf(f, "%s %" PRIu32 " %016" PRIx64 "\n", v[i].name,
		    v[i].size, v[i].sum);
		written++;
	}
	if (fflush(f) != 0 || fsync(fileno(f)) != 0 || fclose(f) != 0)
		ot_die(1, "writing %s: %s", tmp, strerror(errno));
	if (rename(tmp, path) != 0)
		ot_die(1, "rename %s: %s", path, strerror(errno));
	return written;
}

/* ---- put, check, rm and bench jobs ---------------------------------- */

/* State shared by the object jobs. */
struct ot_objjob {
	const struct ot_opts *o;
	struct ot_obj *v;
	uint16_t type;		/* WIRE_OBJ_PUT, GET or DEL */
	bool absent;		/* check: every object should be gone */
	bool content_known;	/* check: compare with the manifest sum */
	uint8_t *scratch;	/* a value being built */
	size_t ok, missing, corrupt, errors, present;
	uint64_t bytes;		/* value bytes moved */
	size_t *group;		/* --batch: group g is objects
				   [group[g], group[g + 1]) */
	size_t ngroups;
};

/* Build the request of object i. */
static size_t
ot_obj_build(void *arg, size_t i, struct wbuf *w, uint64_t reqid)
{
	struct ot_objjob *j = arg;
	struct ot_obj *ob = &j->v[i];

	if (j->type != WIRE_OBJ_PUT)
		return ot_obj_frame(w, j->type, reqid, ob->name, WIRE_COND_NONE,
		    0, NULL, 0) + ob->size + OT_REPLY_OVERHEAD;
	ot_fill(ob->name, j->scratch, ob->size);
	if (ob->sum == 0)
		ob->sum = hash_checksum(j->scratch, ob->size);
	return ot_obj_frame(w, WIRE_OBJ_PUT, reqid, ob->name, WIRE_COND_NONE,
	    0, j->scratch, ob->size) + OT_REPLY_OVERHEAD;
}

/* True for errors worth another attempt of an idempotent request. */
static bool
ot_retryable(uint32_t code)
{
	return code == WIRE_E_UNAVAIL || code == WIRE_E_BUSY ||
	    code == WIRE_E_TIMEOUT || code == WIRE_E_NOROUTE ||
	    code == WIRE_E_TTL;
}

/* Check a GET reply of object ob; the state it shows. */
static int
ot_obj_verify(struct ot_objjob *j, struct ot_obj *ob,
    const struct wire_header *h, const uint8_t *body)
{
	struct wire_obj r;
	struct hash_key want;
	uint64_t sum;
	char key[33];

	if (h->type != WIRE_OBJ_VALUE || wire_obj_decode(body, h->len,
	    &r) != 0) {
		ot_problem("%s: GET answered with a malformed %s", ob->name,
		    wire_type_name(h->type));
		return OT_S_ERROR;
	}
	j->bytes += r.len;
	if (j->absent) {
		ot_problem("%s: still readable (%" PRIu32 " bytes, version "
		    "%" PRIu64 ") but should be deleted", ob->name, r.len,
		    r.meta.version);
		return OT_S_CORRUPT;
	}
	sum = hash_checksum(r.data, r.len);
	hash_key_of(ob->name, strlen(ob->name), &want);
	if (r.key.hi != want.hi || r.key.lo != want.lo) {
		ot_problem("%s (key %s): GET answered for another key",
		    ob->name, hash_key_format(&want, key));
		return OT_S_ERROR;
	}
	if (r.len != ob->size || sum != ob->sum || r.meta.checksum != sum) {
		ot_problem("%s (key %s): CORRUPT: got %" PRIu32 " bytes xxh3 "
		    "%016" PRIx64 " (meta %016" PRIx64 ", version %" PRIu64
		    "), want %" PRIu32 " bytes xxh3 %016" PRIx64, ob->name,
		    hash_key_format(&want, key), r.len, sum,
		    r.meta.checksum, r.meta.version, ob->size, ob->sum);
		return OT_S_CORRUPT;
	}
	ob->version = r.meta.version;
	return OT_S_OK;
}

/* A reply (or failure) of object i. */
static enum ot_verdict
ot_obj_done(void *arg, size_t i, int attempt, const struct wire_header *h,
    const uint8_t *body, const char *err)
{
	struct ot_objjob *j = arg;
	struct ot_obj *ob = &j->v[i];
	const char *op = j->type == WIRE_OBJ_PUT ? "PUT" :
	    j->type == WIRE_OBJ_GET ? "GET" : "DEL";
	char text[400];
	uint32_t code = WIRE_E_TIMEOUT;

	if (h != NULL && h->type == WIRE_ERROR) {
		code = ot_error_text(body, h->len, text, sizeof text);
		if (j->type == WIRE_OBJ_GET && code == WIRE_E_NOTFOUND) {
			if (!j->absent)
				ot_problem("%s: MISSING (not found)", ob->name);
			ob->state = OT_S_MISSING;
			return OT_DONE;
		}
		if (j->type == WIRE_OBJ_GET && code == WIRE_E_CORRUPT) {
			ot_problem("%s: CORRUPT: %s", ob->name, text);
			ob->state = OT_S_CORRUPT;
			return OT_DONE;
		}
		err = text;
	} else if (h != NULL && j->type == WIRE_OBJ_GET) {
		ob->state = (uint8_t)ot_obj_verify(j, ob, h, body);
		return OT_DONE;
	} else if (h != NULL && h->type == WIRE_OBJ_DONE) {
		struct wire_obj r;

		if (wire_obj_decode(body, h->len, &r) == 0)
			ob->version = r.meta.version;
		if (j->type == WIRE_OBJ_PUT)
			j->bytes += ob->size;
		ob->state = OT_S_OK;
		return OT_DONE;
	} else if (h != NULL) {
		snprintf(text, sizeof text, "unexpected %s reply",
		    wire_type_name(h->type));
		err = text;
		code = WIRE_E_PROTO;
	}
	if (attempt < j->o->retries && (h == NULL || ot_retryable(code))) {
		if (!j->o->quiet)
			fprintf(stderr, "%s: %s %s: %s; retrying\n", ot_prog,
			    op, ob->name, err);
		return OT_RETRY;
	}
	ot_problem("%s %s: ERROR: %s", op, ob->name, err);
	ob->state = OT_S_ERROR;
	return OT_DONE;
}

/*
 * --batch: cut v[0, n) into groups of at most o->batch objects whose
 * request fits a frame and whose GET values fit one batch reply.
 */
static void
ot_obj_groups(struct ot_objjob *j, size_t n)
{
	size_t req = 0, data = 0, count = 0;

	j->group = xcalloc(n + 2, sizeof *j->group);
	j->ngroups = 0;
	for (size_t i = 0; i < n; i++) {
		size_t sz = j->v[i].size;
		size_t rq = OT_BATCH_ITEM + (j->type == WIRE_OBJ_PUT ? sz : 0);
		size_t dt = j->type == WIRE_OBJ_GET ? sz : 0;

		if (i == 0 || count == (size_t)j->o->batch ||
		    req + rq > WIRE_MAX_BODY || data + dt > WIRE_BATCH_MAX_DATA) {
			j->group[j->ngroups++] = i;
			req = 2;
			data = count = 0;
		}
		req += rq;
		data += dt;
		count++;
	}
	j->group[j->ngroups] = n;
}

/* Build the OBJ_BATCH of group g: its objects not finished yet. */
static size_t
ot_batch_build(void *arg, size_t g, struct wbuf *w, uint64_t reqid)
{
	struct ot_objjob *j = arg;
	size_t at = ot_frame_begin(w, WIRE_OBJ_BATCH, 0, reqid), bytes;
	size_t cntat = w->len, n = 0, reply = 0;

	wbuf_put_u16(w, 0);
	for (size_t i = j->group[g]; i < j->group[g + 1]; i++) {
		struct ot_obj *ob = &j->v[i];
		size_t lenat;
		uint32_t len;
		struct wire_obj o;

		if (ob->state != OT_S_PENDING)
			continue;
		memset(&o, 0, sizeof o);
		hash_key_of(ob->name, strlen(ob->name), &o.key);
		if (j->type == WIRE_OBJ_PUT) {
			ot_fill(ob->name, j->scratch, ob->size);
			if (ob->sum == 0)
				ob->sum = hash_checksum(j->scratch, ob->size);
			o.data = j->scratch;
			o.len = ob->size;
		}
		wbuf_put_u16(w, j->type);
		lenat = w->len;
		wbuf_put_u32(w, 0);
		wire_obj_encode(w, &o);
		len = (uint32_t)(w->len - lenat - 4);
		for (int k = 0; k < 4; k++)
			w->p[lenat + (size_t)k] = (uint8_t)(len >> (8 * k));
		reply += OT_REPLY_OVERHEAD + (j->type == WIRE_OBJ_GET ?
		    ob->size : 0);
		n++;
	}
	w->p[cntat] = (uint8_t)n;
	w->p[cntat + 1] = (uint8_t)(n >> 8);
	ot_frame_end(w, at);
	bytes = w->len - at;
	return bytes + reply;
}

/*
 * The reply (or failure) of group g: each object still pending gets its
 * own result through ot_obj_done(), from its item of the reply, or the
 * whole batch's error or failure.  RETRY while any object wants it.
 */
static enum ot_verdict
ot_batch_done(void *arg, size_t g, int attempt, const struct wire_header *h,
    const uint8_t *body, const char *err)
{
	struct ot_objjob *j = arg;
	struct wire_batch b;
	struct rbuf r;
	size_t pending = 0;
	bool retry = false;

	for (size_t i = j->group[g]; i < j->group[g + 1]; i++)
		pending += j->v[i].state == OT_S_PENDING;
	if (h != NULL && h->type == WIRE_OBJ_BATCH_REPLY) {
		if (wire_batch_reply_decode(body, h->len, &b) != 0 ||
		    b.n != pending) {
			err = "malformed OBJ_BATCH_REPLY";
			h = NULL;
		} else
			wire_batch_free(&b);
	}
	rbuf_init(&r, body, h != NULL ? h->len : 0);
	if (h != NULL && h->type == WIRE_OBJ_BATCH_REPLY)
		(void)rbuf_get_u16(&r);
	for (size_t i = j->group[g]; i < j->group[g + 1]; i++) {
		struct wire_header ih;
		const uint8_t *ib = body;

		if (j->v[i].state != OT_S_PENDING)
			continue;
		if (h != NULL && h->type == WIRE_OBJ_BATCH_REPLY) {
			/* Decoded above: every item is there, whole. */
			memset(&ih, 0, sizeof ih);
			ih.type = rbuf_get_u16(&r);
			ih.len = rbuf_get_u32(&r);
			ib = rbuf_get_bytes(&r, ih.len);
			retry |= ot_obj_done(j, i, attempt, &ih, ib, NULL) ==
			    OT_RETRY;
		} else
			retry |= ot_obj_done(j, i, attempt, h, body, err) ==
			    OT_RETRY;
	}
	return retry ? OT_RETRY : OT_DONE;
}

/* Count the states of v[0, n) into j. */
static void
ot_obj_count(struct ot_objjob *j, size_t n)
{
	j->ok = j->missing = j->corrupt = j->errors = 0;
	for (size_t i = 0; i < n; i++) {
		switch (j->v[i].state) {
		case OT_S_OK: j->ok++; break;
		case OT_S_MISSING: j->missing++; break;
		case OT_S_CORRUPT: j->corrupt++; break;
		default: j->errors++; break;
		}
	}
}

/*
 * Run a job of type over objects v[0, n): one request per object, or per
 * group of objects with --batch (each object's latency is then its
 * batch's).
 */
static double
ot_obj_run(struct ot_objjob *j, struct ot_obj *v, size_t n, uint16_t type,
    float **lat)
{
	struct ot_job job = { n, ot_obj_build, ot_obj_done, j };
	float *glat = NULL;
	double secs;

	j->v = v;
	j->type = type;
	if (type == WIRE_OBJ_PUT)
		j->scratch = xmalloc(WIRE_MAX_VALUE);
	if (j->o->batch > 1) {
		ot_obj_groups(j, n);
		job.n = j->ngroups;
		job.build = ot_batch_build;
		job.done = ot_batch_done;
	}
	secs = ot_engine_run(&job, j->o, j->o->quiet,
	    j->o->batch > 1 ? &glat : lat);
	if (j->o->batch > 1) {
		if (lat != NULL) {
			*lat = xcalloc(n + 1, sizeof **lat);
			for (size_t g = 0; g < j->ngroups; g++)
				for (size_t i = j->group[g];
				    i < j->group[g + 1]; i++)
					(*lat)[i] = glat[g];
		}
		free(glat);
		free(j->group);
		j->group = NULL;
	}
	free(j->scratch);
	j->scratch = NULL;
	ot_obj_count(j, n);
	return secs;
}

/* objtool put. */
static int
ot_cmd_put(const struct ot_opts *o)
{
	struct ot_objjob j = { .o = o };
	struct ot_obj *v = xcalloc(o->n + 1, sizeof *v);
	uint64_t total = 0;
	size_t written;
	double secs;

	for (size_t i = 0; i < o->n; i++) {
		snprintf(v[i].name, sizeof v[i].name, "obj-%" PRIu64 "-%zu",
		    o->seed, i);
		v[i].size = ot_size_of(o, i);
		total += v[i].size;
	}
	secs = ot_obj_run(&j, v, o->n, WIRE_OBJ_PUT, NULL);
	written = ot_manifest_write(o->manifest, v, o->n, o);
	printf("put %zu objects, %.1f MiB in %.2f s (%.0f objects/s, %.1f "
	    "MiB/s): acknowledged %zu, failed %zu; manifest %s (%zu "
	    "entries)\n", o->n, (double)total / 1048576.0, secs,
	    (double)o->n / secs, (double)j.bytes / 1048576.0 / secs, j.ok,
	    o->n - j.ok, o->manifest, written);
	free(v);
	return j.ok == o->n ? 0 : 1;
}

/* objtool check (and, with --absent, check that all are deleted). */
static int
ot_cmd_check(const struct ot_opts *o)
{
	struct ot_objjob j = { .o = o, .absent = o->absent };
	struct ot_obj *v;
	size_t n;
	double secs;

	v = ot_manifest_read(o->manifest, &n);
	secs = ot_obj_run(&j, v, n, WIRE_OBJ_GET, NULL);
	if (o->absent) {
		printf("checked %zu, absent %zu, present %zu, errors %zu "
		    "(%.2f s)\n", n, j.missing, j.corrupt + j.ok, j.errors,
		    secs);
		free(v);
		return j.missing == n ? 0 : 1;
	}
	printf("checked %zu, missing %zu, corrupt %zu, errors %zu (%.2f s, "
	    "%.1f MiB/s, via %s)\n", n, j.missing, j.corrupt, j.errors, secs,
	    (double)j.bytes / 1048576.0 / (secs > 0 ? secs : 1),
	    o->daemons[0]);
	free(v);
	return j.ok == n ? 0 : 1;
}

/* objtool rm. */
static int
ot_cmd_rm(const struct ot_opts *o)
{
	struct ot_objjob j = { .o = o };
	struct ot_obj *v;
	size_t n;
	double secs;

	v = ot_manifest_read(o->manifest, &n);
	secs = ot_obj_run(&j, v, n, WIRE_OBJ_DEL, NULL);
	printf("deleted %zu of %zu, errors %zu (%.2f s)\n", j.ok, n,
	    j.errors + j.missing + j.corrupt, secs);
	free(v);
	return j.ok == n ? 0 : 1;
}

/* qsort comparator for floats. */
static int
ot_cmp_float(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;

	return x < y ? -1 : x > y;
}

/* The request type of --op (put or get), or die. */
static uint16_t
ot_bench_type(const struct ot_opts *o)
{
	if (strcmp(o->op, "put") == 0)
		return WIRE_OBJ_PUT;
	if (strcmp(o->op, "get") == 0)
		return WIRE_OBJ_GET;
	ot_die(2, "--op is put or get");
}

/*
 * The n objects bench-SEED-SIZE-0..n-1 of --size bytes; for GET, with the
 * checksum of what a PUT of the same name wrote.
 */
static struct ot_obj *
ot_bench_objs(const struct ot_opts *o, uint16_t type, size_t n)
{
	struct ot_obj *v = xcalloc(n + 1, sizeof *v);
	uint8_t *buf = xmalloc(o->size ? o->size : 1);

	for (size_t i = 0; i < n; i++) {
		snprintf(v[i].name, sizeof v[i].name, "bench-%" PRIu64 "-%"
		    PRIu64 "-%zu", o->seed, o->size, i);
		v[i].size = (uint32_t)o->size;
		if (type == WIRE_OBJ_GET) {
			/* The sum of what put wrote, from the same name. */
			ot_fill(v[i].name, buf, o->size);
			v[i].sum = hash_checksum(buf, o->size);
		}
	}
	free(buf);
	return v;
}

/* objtool bench. */
static int
ot_cmd_bench(const struct ot_opts *o)
{
	struct ot_objjob j = { .o = o };
	uint16_t type = ot_bench_type(o);
	struct ot_obj *v = ot_bench_objs(o, type, o->n);
	float *lat;
	double secs;

	secs = ot_obj_run(&j, v, o->n, type, &lat);
	qsort(lat, o->n, sizeof *lat, ot_cmp_float);
	printf("bench %s size %" PRIu64 " n %zu conns %d window %d batch %d: "
	    "%.2f s, %.0f ops/s, %.2f MB/s, p50 %.2f ms, p99 %.2f ms, ok %zu, "
	    "errors %zu\n", o->op, o->size, o->n, o->conns, o->window,
	    o->batch, secs,
	    (double)j.ok / secs, (double)j.bytes / 1e6 / secs,
	    o->n ? lat[o->n / 2] : 0.0, o->n ? lat[o->n * 99 / 100] : 0.0,
	    j.ok, o->n - j.ok);
	printf("RESULT op=%s size=%" PRIu64 " n=%zu ok=%zu secs=%.3f "
	    "ops_per_s=%.1f mb_per_s=%.2f p50_ms=%.3f p99_ms=%.3f\n", o->op,
	    o->size, o->n, j.ok, secs, (double)j.ok / secs,
	    (double)j.bytes / 1e6 / secs, o->n ? lat[o->n / 2] : 0.0,
	    o->n ? lat[o->n * 99 / 100] : 0.0);
	free(lat);
	free(v);
	return j.ok == o->n ? 0 : 1;
}

/* Nearest-rank percentile p (0 < p <= 100) of sorted v[0, n), 0 if n 0. */
static double
ot_pct(const float *v, size_t n, double p)
{
	size_t rank;

	if (n == 0)
		return 0.0;
	rank = (size_t)ceil(p / 100.0 * (double)n);
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return v[rank - 1];
}

/*
 * objtool lat: warmup + n requests, one at a time over one connection to
 * the first daemon; percentiles (microseconds) of the n measured requests
 * that succeeded.  The objects are bench's, so "lat --op get" reads what
 * "lat --op put" (or "bench --op put" with -n at least warmup + n) wrote.
 */
static int
ot_cmd_lat(const struct ot_opts *o)
{
	struct ot_objjob j = { .o = o };
	struct ot_opts one = *o;
	uint16_t type = ot_bench_type(o);
	size_t total = o->warmup + o->n, ok = 0;
	struct ot_obj *v;
	float *lat, *us;
	double secs, sum = 0.0;

	if ((o->conns_set && o->conns != 1) ||
	    (o->window_set && o->window != 1))
		ot_die(2, "lat runs one connection with one request in "
		    "flight (-c 1 -w 1); use bench for more");
	if (o->n == 0)
		ot_die(2, "lat needs -n N (at least 1)");
	if (o->batch > 1)
		ot_die(2, "lat measures single requests (no --batch)");
	one.conns = 1;
	one.window = 1;
	one.ndaemons = 1;
	j.o = &one;
	v = ot_bench_objs(o, type, total);
	secs = ot_obj_run(&j, v, total, type, &lat);
	us = xcalloc(o->n + 1, sizeof *us);
	for (size_t i = o->warmup; i < total; i++) {
		if (v[i].state != OT_S_OK)
			continue;
		us[ok] = lat[i] * 1000.0f;
		sum += us[ok];
		ok++;
	}
	qsort(us, ok, sizeof *us, ot_cmp_float);
	printf("lat %s size %" PRIu64 " n %zu (+%zu warm-up) via %s, one "
	    "request in flight: ok %zu, errors %zu; us: min %.1f, p50 %.1f, "
	    "p90 %.1f, p99 %.1f, p99.9 %.1f, max %.1f, mean %.1f\n", o->op,
	    o->size, o->n, o->warmup, o->daemons[0], ok, total - j.ok,
	    ok ? us[0] : 0.0, ot_pct(us, ok, 50), ot_pct(us, ok, 90),
	    ot_pct(us, ok, 99), ot_pct(us, ok, 99.9), ok ? us[ok - 1] : 0.0,
	    ok ? sum / (double)ok : 0.0);
	printf("RESULT op=%s size=%" PRIu64 " n=%zu ok=%zu warmup=%zu "
	    "secs=%.3f ops_per_s=%.1f min_us=%.1f p50_us=%.1f p90_us=%.1f "
	    "p99_us=%.1f p999_us=%.1f max_us=%.1f mean_us=%.1f\n", o->op,
	    o->size, o->n, ok, o->warmup, secs, (double)j.ok / secs,
	    ok ? us[0] : 0.0, ot_pct(us, ok, 50), ot_pct(us, ok, 90),
	    ot_pct(us, ok, 99), ot_pct(us, ok, 99.9), ok ? us[ok - 1] : 0.0,
	    ok ? sum / (double)ok : 0.0);
	free(us);
	free(lat);
	free(v);
	return j.ok == total ? 0 : 1;
}

/* ---- blocking calls (cas) ------------------------------------------- */

/* A blocking connection with one request at a time. */
struct ot_sync {
	const char *addr;
	int fd;
	uint64_t reqid;
	uint8_t *in;
	size_t inlen, incap;
	struct wbuf out;
	char err[640];
};

/* Send all of out on s within the deadline; -1 on failure. */
static int
ot_sync_send(struct ot_sync *s, uint64_t deadline)
{
	struct pollfd p = { .fd = s->fd, .events = POLLOUT };
	size_t off = 0;
	ssize_t w;
	int ms;

	while (off < s->out.len) {
		w = send(s->fd, s->out.p + off, s->out.len - off,
		    MSG_NOSIGNAL);
		if (w > 0) {
			off += (size_t)w;
			continue;
		}
		if (w < 0 && errno != EAGAIN && errno != EINTR) {
			snprintf(s->err, sizeof s->err, "%s: send: %s",
			    s->addr, strerror(errno));
			return -1;
		}
		if ((ms = ot_ms_left(deadline)) == 0 || poll(&p, 1, ms) < 0) {
			snprintf(s->err, sizeof s->err, "%s: send timed out",
			    s->addr);
			return -1;
		}
	}
	return 0;
}

/*
 * Send the frame in s->out (request id s->reqid) and wait until the reply
 * with that id arrives: returns its length with *h set and its body at
 * s->in + WIRE_HEADER_LEN (valid until the next call), or -1 with s->err.
 * Any failure closes the connection; the next call dials again.
 */
static ssize_t
ot_sync_call(struct ot_sync *s, int timeout_ms, struct wire_header *h)
{
	uint64_t deadline = ot_now_ns() + (uint64_t)timeout_ms * 1000000u;
	struct pollfd p;
	const char *why = "bad frame header";
	ssize_t flen, r;
	int ms;

	if (s->fd < 0 && (s->fd = ot_dial(s->addr, OT_CONNECT_MS, s->err,
	    sizeof s->err)) < 0)
		return -1;
	if (ot_sync_send(s, deadline) != 0)
		goto fail;
	for (;;) {
		while ((flen = ot_take_frame(s->in, s->inlen, h, &why)) > 0) {
			if (h->reqid == s->reqid)
				return flen;
			memmove(s->in, s->in + flen, s->inlen - (size_t)flen);
			s->inlen -= (size_t)flen;
		}
		if (flen < 0) {
			snprintf(s->err, sizeof s->err, "%s: %s", s->addr, why);
			goto fail;
		}
		ot_in_reserve(&s->in, &s->incap, s->inlen, 1u << 16);
		r = recv(s->fd, s->in + s->inlen, s->incap - s->inlen, 0);
		if (r > 0) {
			s->inlen += (size_t)r;
			continue;
		}
		if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
			snprintf(s->err, sizeof s->err, "%s: %s", s->addr,
			    r == 0 ? "connection closed by the daemon" :
			    strerror(errno));
			goto fail;
		}
		p.fd = s->fd;
		p.events = POLLIN;
		if ((ms = ot_ms_left(deadline)) == 0 || poll(&p, 1, ms) < 0) {
			snprintf(s->err, sizeof s->err, "%s: no reply within "
			    "%d ms", s->addr, timeout_ms);
			goto fail;
		}
	}
fail:
	close(s->fd);
	s->fd = -1;
	s->inlen = 0;
	return -1;
}

/* Drop the reply of the last call (flen bytes) from the buffer. */
static void
ot_sync_consume(struct ot_sync *s, ssize_t flen)
{
	memmove(s->in, s->in + flen, s->inlen - (size_t)flen);
	s->inlen -= (size_t)flen;
}

/* Outcome of one blocking object request. */
enum ot_res { OT_R_OK, OT_R_NOTFOUND, OT_R_CONFLICT, OT_R_FAIL };

/*
 * One object request on s: GET (value into *val, version into *version)
 * or PUT of the decimal val with a condition.  Messages go to s->err.
 */
static enum ot_res
ot_sync_obj(struct ot_sync *s, uint16_t type, const char *name, uint8_t cond,
    uint64_t cond_version, uint64_t *val, uint64_t *version, int timeout_ms)
{
	struct wire_header h;
	struct wire_obj r;
	char text[32], msg[256];
	const uint8_t *body;
	ssize_t flen;
	uint32_t code;
	enum ot_res res = OT_R_FAIL;

	s->out.len = 0;
	s->reqid++;
	snprintf(text, sizeof text, "%" PRIu64, type == WIRE_OBJ_PUT ? *val :
	    0);
	ot_obj_frame(&s->out, type, s->reqid, name, cond, cond_version,
	    (const uint8_t *)text, type == WIRE_OBJ_PUT ?
	    (uint32_t)strlen(text) : 0);
	if ((flen = ot_sync_call(s, timeout_ms, &h)) < 0)
		return OT_R_FAIL;
	body = s->in + WIRE_HEADER_LEN;
	if (h.type == WIRE_ERROR) {
		code = ot_error_text(body, h.len, msg, sizeof msg);
		snprintf(s->err, sizeof s->err, "%s: %s %s: %s", s->addr,
		    type == WIRE_OBJ_PUT ? "PUT" : "GET", name, msg);
		res = code == WIRE_E_NOTFOUND ? OT_R_NOTFOUND :
		    code == WIRE_E_CONFLICT ? OT_R_CONFLICT : OT_R_FAIL;
	} else if (wire_obj_decode(body, h.len, &r) != 0 ||
	    h.type != (type == WIRE_OBJ_GET ? WIRE_OBJ_VALUE :
	    WIRE_OBJ_DONE)) {
		snprintf(s->err, sizeof s->err, "%s: %s: unexpected or "
		    "malformed %s reply", s->addr, name,
		    wire_type_name(h.type));
	} else if (type == WIRE_OBJ_PUT) {
		*version = r.meta.version;
		res = OT_R_OK;
	} else if (r.len == 0 || r.len >= sizeof text ||
	    hash_checksum(r.data, r.len) != r.meta.checksum) {
		snprintf(s->err, sizeof s->err, "%s: GET %s: value of %" PRIu32
		    " bytes is not a counter or fails its checksum", s->addr,
		    name, r.len);
	} else {
		char *end;

		memcpy(text, r.data, r.len);
		text[r.len] = '\0';
		*val = strtoull(text, &end, 10);
		*version = r.meta.version;
		if (*end != '\0')
			snprintf(s->err, sizeof s->err, "%s: GET %s: value "
			    "'%s' is not a decimal counter", s->addr, name,
			    text);
		else
			res = OT_R_OK;
	}
	ot_sync_consume(s, flen);
	return res;
}

/* ---- cas ------------------------------------------------------------ */

/* One compare-and-swap client (a thread). */
struct ot_cas {
	const struct ot_opts *o;
	int id;
	struct ot_sync s;
	uint64_t *succ;		/* successful increments per key */
	uint64_t conflicts, ambiguous, errors, gets;
	char lasterr[640];
};

/* Name of cas key k. */
static void
ot_cas_name(const struct ot_opts *o, int k, char *buf, size_t bufsz)
{
	snprintf(buf, bufsz, "cas-%" PRIu64 "-%d", o->seed, k);
}

/* Note a failure of client c. */
static void
ot_cas_err(struct ot_cas *c, uint64_t *counter)
{
	(*counter)++;
	snprintf(c->lasterr, sizeof c->lasterr, "%s", c->s.err);
	if (!c->o->quiet)
		fprintf(stderr, "%s: client %d: %s\n", ot_prog, c->id,
		    c->s.err);
}

/*
 * One increment of key k: read, then write value+1 on the condition that
 * the version is still the one read (or that the key is absent), again on
 * a conflict.  Returns true once the write is known to have happened; a
 * write whose fate is unknown (no reply, an error other than CONFLICT)
 * counts as ambiguous and ends the attempt.
 */
static bool
ot_cas_increment(struct ot_cas *c, int k)
{
	char name[OT_NAME_MAX];
	uint64_t val, version, nv;
	enum ot_res r;

	int failures = 0;

	ot_cas_name(c->o, k, name, sizeof name);
	for (int attempt = 0; attempt < 100000; attempt++) {
		c->gets++;
		r = ot_sync_obj(&c->s, WIRE_OBJ_GET, name, 0, 0, &val,
		    &version, c->o->timeout_ms);
		if (r == OT_R_FAIL || r == OT_R_CONFLICT) {
			ot_cas_err(c, &c->errors);
			if (++failures >= OT_CAS_MAX_FAILURES)
				return false;
			usleep(100000);
			continue;
		}
		failures = 0;
		nv = r == OT_R_NOTFOUND ? 1 : val + 1;
		r = ot_sync_obj(&c->s, WIRE_OBJ_PUT, name, r == OT_R_NOTFOUND ?
		    WIRE_COND_ABSENT : WIRE_COND_VERSION, version, &nv,
		    &version, c->o->timeout_ms);
		if (r == OT_R_OK)
			return true;
		if (r == OT_R_CONFLICT) {
			c->conflicts++;
			continue;
		}
		ot_cas_err(c, &c->ambiguous);
		return false;
	}
	snprintf(c->lasterr, sizeof c->lasterr, "key %s: no success in "
	    "100000 attempts", name);
	c->errors++;
	return false;
}

/* Thread body of a cas client: iters increments of random keys. */
static void *
ot_cas_thread(void *arg)
{
	struct ot_cas *c = arg;
	uint64_t rng = c->o->seed * 7919 + (uint64_t)c->id;

	for (long i = 0; i < c->o->iters; i++) {
		int k = (int)(ot_mix(&rng) % (uint64_t)c->o->keys);

		if (ot_cas_increment(c, k))
			c->succ[k]++;
	}
	if (c->s.fd >= 0)
		close(c->s.fd);
	c->s.fd = -1;
	return NULL;
}

/* Read every cas key through s: its counter into v[k] (0 when absent). */
static int
ot_cas_read_all(const struct ot_opts *o, struct ot_sync *s, uint64_t *v)
{
	char name[OT_NAME_MAX];
	uint64_t version;
	enum ot_res r;

	for (int k = 0; k < o->keys; k++) {
		ot_cas_name(o, k, name, sizeof name);
		r = ot_sync_obj(s, WIRE_OBJ_GET, name, 0, 0, &v[k], &version,
		    o->timeout_ms);
		if (r == OT_R_NOTFOUND)
			v[k] = 0;
		else if (r != OT_R_OK) {
			fprintf(stderr, "%s: reading %s: %s\n", ot_prog, name,
			    s->err);
			return -1;
		}
	}
	return 0;
}

/* Compare the final counters with the increments; 0 when all match. */
static int
ot_cas_judge(const struct ot_opts *o, const uint64_t *before,
    const uint64_t *after, const uint64_t *succ, uint64_t ambiguous)
{
	char name[OT_NAME_MAX];
	int bad = 0;

	for (int k = 0; k < o->keys; k++) {
		uint64_t want = before[k] + succ[k];
		bool ok = after[k] >= want && after[k] - want <= ambiguous;

		ot_cas_name(o, k, name, sizeof name);
		printf("  %-14s start %6" PRIu64 "  increments %6" PRIu64
		    "  final %6" PRIu64 "  %s\n", name, before[k], succ[k],
		    after[k], ok ? (after[k] == want ? "ok" :
		    "ok (ambiguous writes landed)") : "WRONG");
		bad += !ok;
	}
	return bad;
}

/* objtool cas. */
static int
ot_cmd_cas(const struct ot_opts *o)
{
	struct ot_cas *cl = xcalloc((size_t)o->clients, sizeof *cl);
	pthread_t *th = xcalloc((size_t)o->clients, sizeof *th);
	uint64_t *before = xcalloc((size_t)o->keys, sizeof *before);
	uint64_t *after = xcalloc((size_t)o->keys, sizeof *after);
	uint64_t *succ = xcalloc((size_t)o->keys, sizeof *succ);
	uint64_t total = 0, conflicts = 0, amb = 0, errs = 0;
	struct ot_sync s0 = { .addr = o->daemons[0], .fd = -1 };
	uint64_t t0;
	double secs;
	int bad, rc;

	if (ot_cas_read_all(o, &s0, before) != 0)
		return 1;
	t0 = ot_now_ns();
	for (int i = 0; i < o->clients; i++) {
		cl[i].o = o;
		cl[i].id = i;
		cl[i].s.addr = o->daemons[i % o->ndaemons];
		cl[i].s.fd = -1;
		cl[i].succ = xcalloc((size_t)o->keys, sizeof *cl[i].succ);
		if ((rc = pthread_create(&th[i], NULL, ot_cas_thread,
		    &cl[i])) != 0)
			ot_die(1, "pthread_create: %s", strerror(rc));
	}
	for (int i = 0; i < o->clients; i++) {
		pthread_join(th[i], NULL);
		for (int k = 0; k < o->keys; k++)
			succ[k] += cl[i].succ[k];
		conflicts += cl[i].conflicts;
		amb += cl[i].ambiguous;
		errs += cl[i].errors;
		if (cl[i].lasterr[0] != '\0')
			fprintf(stderr, "%s: client %d (%s) last error: %s\n",
			    ot_prog, i, cl[i].s.addr, cl[i].lasterr);
	}
	secs = (double)(ot_now_ns() - t0) / 1e9;
	for (int k = 0; k < o->keys; k++)
		total += succ[k];
	/* Read the result through every daemon given. */
	bad = 0;
	for (int d = 0; d < o->ndaemons; d++) {
		struct ot_sync sd = { .addr = o->daemons[d], .fd = -1 };

		printf("final counters read through %s:\n", sd.addr);
		if (ot_cas_read_all(o, &sd, after) != 0)
			bad++;
		else
			bad += ot_cas_judge(o, before, after, succ, amb);
		if (sd.fd >= 0)
			close(sd.fd);
		free(sd.in);
		wbuf_free(&sd.out);
	}
	printf("cas: %d clients over %d daemons, %d keys: %" PRIu64
	    " increments in %.2f s (%.0f/s), %" PRIu64 " conflicts retried, "
	    "%" PRIu64 " ambiguous writes, %" PRIu64 " errors: %s\n",
	    o->clients, o->ndaemons, o->keys, total, secs,
	    (double)total / secs, conflicts, amb, errs,
	    bad ? "COUNTERS WRONG" : "every counter matches");
	for (int i = 0; i < o->clients; i++) {
		free(cl[i].succ);
		free(cl[i].s.in);
		wbuf_free(&cl[i].s.out);
	}
	if (s0.fd >= 0)
		close(s0.fd);
	free(s0.in);
	wbuf_free(&s0.out);
	free(cl);
	free(th);
	free(before);
	free(after);
	free(succ);
	if (bad)
		return 1;
	return (amb || errs) && !o->allow_errors ? 1 : 0;
}

/* ---- command line --------------------------------------------------- */

/* Usage text. */
static void __attribute__((noreturn))
ot_usage(int code)
{
	fprintf(code ? stderr : stdout,
"usage: objtool put   -d DAEMON[,..] -n N [-s SEED] [--min B] [--max B]\n"
"                     [--dist log|fixed] -m MANIFEST\n"
"       objtool check -d DAEMON[,..] -m MANIFEST [--absent]\n"
"       objtool rm    -d DAEMON[,..] -m MANIFEST\n"
"       objtool bench -d DAEMON[,..] --op put|get --size B -n N [-s SEED]\n"
"       objtool lat   -d DAEMON --op put|get --size B -n N [-s SEED]\n"
"                     [--warmup W]  (latency: one connection to the first\n"
"                     daemon, one request in flight; W requests first that\n"
"                     are not measured; prints percentiles in microseconds)\n"
"       objtool cas   -d DAEMON[,..] [--keys 10] [--clients 8] [--iters 100]\n"
"                     (each client makes --iters increments of random keys)\n"
"common options:\n"
"  -c, --conns N      connections, round-robin over the daemons (default %d;\n"
"                     lat: 1)\n"
"  -w, --window N     requests in flight per connection (default %d; lat: 1)\n"
"  -t, --timeout MS   deadline of each request (default %d)\n"
"  -r, --retries N    send a request again after a transport failure or a\n"
"                     BUSY/UNAVAIL/TIMEOUT error (default 0; not cas)\n"
"  -b, --batch B      put, check, rm, bench: B objects per OBJ_BATCH request\n"
"                     (fewer when the frame or its reply would be too\n"
"                     large); WINDOW then counts batches, and WINDOW x B\n"
"                     must stay within %d (default 1: single requests)\n"
"  -q, --quiet        fewer messages on stderr\n"
"  put --dist         log: sizes log-uniform in [--min, --max] (default\n"
"                     1..4194304); fixed: every object is --max bytes\n"
"  check --absent     every object must be gone (deleted): exit 1 if not\n"
"  cas --allow-errors exit 0 even with ambiguous writes or read errors\n"
"                     (the counters must still be consistent)\n"
"Objects are obj-SEED-I (put), bench-SEED-SIZE-I (bench, lat; lat's warm-up\n"
"requests are I = 0..W-1), cas-SEED-K (cas).\n"
"Exit: 0 ok, 1 a problem was found, 2 usage.\n",
	    OT_CONNS, OT_WINDOW, OT_TIMEOUT_MS, OT_DAEMON_INFLIGHT);
	exit(code);
}

/* A number from an option, or die. */
static uint64_t
ot_num(const char *opt, const char *s, uint64_t lo, uint64_t hi)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v < lo ||
	    v > hi)
		ot_die(2, "%s: '%s' is not a number in %" PRIu64 "..%" PRIu64,
		    opt, s, lo, hi);
	return v;
}

/* Parse the options after the subcommand into o. */
static void
ot_parse(int argc, char **argv, struct ot_opts *o)
{
	static const struct option lo[] = {
		{ "daemon", required_argument, NULL, 'd' },
		{ "count", required_argument, NULL, 'n' },
		{ "seed", required_argument, NULL, 's' },
		{ "manifest", required_argument, NULL, 'm' },
		{ "conns", required_argument, NULL, 'c' },
		{ "window", required_argument, NULL, 'w' },
		{ "timeout", required_argument, NULL, 't' },
		{ "retries", required_argument, NULL, 'r' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "min", required_argument, NULL, 1 },
		{ "max", required_argument, NULL, 2 },
		{ "dist", required_argument, NULL, 3 },
		{ "op", required_argument, NULL, 4 },
		{ "size", required_argument, NULL, 5 },
		{ "keys", required_argument, NULL, 6 },
		{ "clients", required_argument, NULL, 7 },
		{ "iters", required_argument, NULL, 8 },
		{ "absent", no_argument, NULL, 9 },
		{ "allow-errors", no_argument, NULL, 10 },
		{ "warmup", required_argument, NULL, 11 },
		{ "batch", required_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char *tok, *save = NULL;
	int ch;

	while ((ch = getopt_long(argc, argv, "d:n:s:m:c:w:t:r:b:qh", lo,
	    NULL)) != -1) {
		switch (ch) {
		case 'd':
			for (tok = strtok_r(optarg, ",", &save); tok != NULL;
			    tok = strtok_r(NULL, ",", &save)) {
				if (o->ndaemons == 64)
					ot_die(2, "at most 64 daemons");
				o->daemons[o->ndaemons++] = tok;
			}
			break;
		case 'n': o->n = ot_num("-n", optarg, 0, 100000000); break;
		case 's': o->seed = ot_num("-s", optarg, 0, UINT64_MAX); break;
		case 'm': o->manifest = optarg; break;
		case 'c':
			o->conns = (int)ot_num("-c", optarg, 1, 1024);
			o->conns_set = true;
			break;
		case 'w':
			o->window = (int)ot_num("-w", optarg, 1, OT_MAX_WINDOW);
			o->window_set = true;
			break;
		case 't':
			o->timeout_ms = (int)ot_num("-t", optarg, 1, 3600000);
			break;
		case 'r': o->retries = (int)ot_num("-r", optarg, 0, 100); break;
		case 'b':
			o->batch = (int)ot_num("--batch", optarg, 1,
			    WIRE_BATCH_MAX);
			break;
		case 'q': o->quiet = true; break;
		case 1: o->min = ot_num("--min", optarg, 0, WIRE_MAX_VALUE);
			break;
		case 2: o->max = ot_num("--max", optarg, 0, WIRE_MAX_VALUE);
			break;
		case 3:
			if (strcmp(optarg, "log") != 0 &&
			    strcmp(optarg, "fixed") != 0)
				ot_die(2, "--dist is log or fixed");
			o->fixed = strcmp(optarg, "fixed") == 0;
			break;
		case 4: o->op = optarg; break;
		case 5: o->size = ot_num("--size", optarg, 0, WIRE_MAX_VALUE);
			break;
		case 6: o->keys = (int)ot_num("--keys", optarg, 1, 100000);
			break;
		case 7: o->clients = (int)ot_num("--clients", optarg, 1, 1024);
			break;
		case 8: o->iters = (long)ot_num("--iters", optarg, 0,
			    100000000);
			break;
		case 9: o->absent = true; break;
		case 10: o->allow_errors = true; break;
		case 11: o->warmup = ot_num("--warmup", optarg, 0,
			    OT_MAX_WARMUP);
			break;
		case 'h': ot_usage(0);
		default: ot_usage(2);
		}
	}
	if (optind != argc)
		ot_die(2, "unexpected argument '%s'", argv[optind]);
	if (o->ndaemons == 0)
		ot_die(2, "-d DAEMON is required");
	if (o->min == 0 && !o->fixed)
		o->min = 1;	/* log-uniform needs a positive floor */
	if (o->min > o->max)
		ot_die(2, "--min is above --max");
	if ((uint64_t)o->window * (uint64_t)o->batch > OT_DAEMON_INFLIGHT)
		ot_die(2, "--window %d x --batch %d is over the %d requests a "
		    "daemon takes in flight on one connection", o->window,
		    o->batch, OT_DAEMON_INFLIGHT);
}

/* Entry point: dispatch the subcommand. */
int
main(int argc, char **argv)
{
	struct ot_opts o;
	const char *cmd;

	if (argc < 2)
		ot_usage(2);
	cmd = argv[1];
	if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0)
		ot_usage(0);
	memset(&o, 0, sizeof o);
	o.seed = 1;
	o.min = 1;
	o.max = WIRE_MAX_VALUE;
	o.conns = OT_CONNS;
	o.window = OT_WINDOW;
	o.timeout_ms = OT_TIMEOUT_MS;
	o.keys = 10;
	o.clients = 8;
	o.iters = 100;
	o.batch = 1;
	setvbuf(stdout, NULL, _IOLBF, 0);
	ot_parse(argc - 1, argv + 1, &o);
	if (strcmp(cmd, "put") == 0 || strcmp(cmd, "check") == 0 ||
	    strcmp(cmd, "rm") == 0) {
		if (o.manifest == NULL)
			ot_die(2, "%s needs -m MANIFEST", cmd);
		if (strcmp(cmd, "put") == 0)
			return ot_cmd_put(&o);
		return strcmp(cmd, "check") == 0 ? ot_cmd_check(&o) :
		    ot_cmd_rm(&o);
	}
	if (strcmp(cmd, "bench") == 0 || strcmp(cmd, "lat") == 0) {
		if (o.op == NULL)
			ot_die(2, "%s needs --op put|get", cmd);
		return strcmp(cmd, "bench") == 0 ? ot_cmd_bench(&o) :
		    ot_cmd_lat(&o);
	}
	if (strcmp(cmd, "cas") == 0) {
		if (o.batch > 1)
			ot_die(2, "cas makes one request at a time (no "
			    "--batch)");
		return ot_cmd_cas(&o);
	}
	ot_die(2, "unknown command '%s' (put, check, rm, bench, lat, cas)",
	    cmd);
}
