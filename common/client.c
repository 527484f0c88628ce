/*
 * client.c: request/reply clients for canfsd (see client.h): the blocking
 * struct client, and the multiplexed struct client_mux built on it.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "hash.h"
#include "log.h"
#include "secure.h"
#include "xmalloc.h"

#define CLIENT_SPEC_MAX 256 /* longest spec accepted */
#define CLIENT_ERR_MAX 512  /* error texts, with their NUL */

/*
 * One connection to a daemon; used by one thread at a time, except inside
 * a client_mux, where the reading half (the frame and record being read)
 * belongs to the mux's reader of the moment and the sending half (out,
 * sealed, next_reqid) to its sender of the moment.
 */
struct client {
	int fd;			/* non-blocking stream socket */
	char *peer;		/* spec as given, for messages */
	uint64_t next_reqid;	/* request ids count up from 1, never 0 */
	uint64_t last_reqid;	/* the request client_more() waits on */
	uint16_t last_type;
	bool broken;		/* stream unusable: every call fails */
	uint32_t err_code;	/* WIRE_E_* of the last WIRE_ERROR reply */
	char err[CLIENT_ERR_MAX]; /* last error, "" if none */
	struct wbuf out;	/* request being sent (reused) */

	/*
	 * The frame being read.  It survives a timeout so that the stream
	 * stays in step: the next call finishes reading it.
	 */
	uint8_t hdr[WIRE_HEADER_LEN];
	size_t hdr_off;		/* header bytes read so far */
	struct wire_header rh;	/* decoded once hdr_off is complete */
	uint8_t *body;		/* rh.len bytes, owned until handed out */
	size_t body_off;	/* body bytes read so far */

	/*
	 * A secure connection (TCP with a secret set): the record being
	 * read, which like the frame survives a timeout, and the opened
	 * plaintext not yet consumed.  All NULL for plaintext.
	 */
	struct secure_session *sec;
	uint8_t *rec;		/* SECURE_RECORD_WIRE_MAX bytes */
	size_t rec_off;		/* record bytes read so far */
	size_t rec_size;	/* whole record, once its prefix is read */
	uint8_t *plain;		/* SECURE_RECORD_MAX bytes */
	size_t plain_off, plain_len;
	uint8_t *sealed;	/* a request sealed into records (reused) */
	size_t sealed_cap;

	/*
	 * Set by a client_mux (NULL otherwise): lock guards err, err_code
	 * and broken, which both of its threads may set; sec_lock guards
	 * the secure session, which one thread seals with while the other
	 * opens records (the session's failure state is shared).
	 */
	pthread_mutex_t *lock;
	pthread_mutex_t *sec_lock;

	/*
	 * Set by a client_mux: how a sender waits for room in the socket
	 * (as client_wait(POLLOUT) does; it may read replies meanwhile).
	 */
	int (*send_wait)(struct client *c, const struct timespec *dl);
	struct client_mux *mux;
};

/* The cluster secret set with client_set_secret(), if any. */
static struct secure_key client_key;
static bool client_have_key;

/* A split "unix:PATH" or "HOST:PORT" spec. */
struct client_spec {
	bool is_unix;
	char host[CLIENT_SPEC_MAX]; /* or the path of a unix socket */
	char port[CLIENT_SPEC_MAX];
};

/* printf into a caller's error buffer (which may be NULL). */
static void __attribute__((format(printf, 3, 4)))
client_errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Record the error of c; fatal ones also break the connection. */
static void __attribute__((format(printf, 3, 4)))
client_fail(struct client *c, bool fatal_err, const char *fmt, ...)
{
	char msg[sizeof c->err - 64];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (c->lock != NULL)
		pthread_mutex_lock(c->lock);
	if (!c->broken) { /* else keep the first reason */
		snprintf(c->err, sizeof c->err, "%s: %s", c->peer, msg);
		if (fatal_err)
			c->broken = true;
	}
	if (c->lock != NULL)
		pthread_mutex_unlock(c->lock);
}

/* Take and give back a mux's lock on the secure session (if any). */
static void
client_sec_lock(struct client *c)
{
	if (c->sec_lock != NULL)
		pthread_mutex_lock(c->sec_lock);
}

static void
client_sec_unlock(struct client *c)
{
	if (c->sec_lock != NULL)
		pthread_mutex_unlock(c->sec_lock);
}

/* Thread-safe strerror (the GNU strerror_r may not use buf). */
static const char *
client_strerror(int errnum, char *buf, size_t len)
{
	return strerror_r(errnum, buf, len);
}

/* Monotonic deadline timeout_ms from now; tv_sec < 0 means none. */
static void
client_deadline(struct timespec *dl, int timeout_ms)
{
	if (timeout_ms < 0) {
		dl->tv_sec = -1;
		dl->tv_nsec = 0;
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, dl);
	dl->tv_sec += timeout_ms / 1000;
	dl->tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (dl->tv_nsec >= 1000000000L) {
		dl->tv_sec++;
		dl->tv_nsec -= 1000000000L;
	}
}

/* Milliseconds left before dl (rounded up), 0 if past, -1 if none. */
static int
client_left_ms(const struct timespec *dl)
{
	struct timespec now;
	long long ms;

	if (dl->tv_sec < 0)
		return -1;
	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (long long)(dl->tv_sec - now.tv_sec) * 1000 +
	    (dl->tv_nsec - now.tv_nsec + 999999L) / 1000000L;
	if (ms <= 0)
		return 0;
	return ms > 1000000000LL ? 1000000000 : (int)ms;
}

/*
 * Wait until fd is ready for events or the deadline passes.  Returns 1
 * when ready (or in error: the next I/O call reports it), 0 on timeout,
 * -1 with errno on a poll failure.
 */
static int
client_wait(int fd, short events, const struct timespec *dl)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	int n;

	for (;;) {
		int left = client_left_ms(dl);

		if (left == 0)
			return 0;
		n = poll(&pfd, 1, left);
		if (n > 0)
			return 1;
		if (n < 0 && errno != EINTR)
			return -1;
	}
}

/* Split spec into its parts; -1 with a message in err on bad syntax. */
static int
client_spec_parse(const char *spec, struct client_spec *sp, char *err,
    size_t errlen)
{
	const char *colon, *host = spec;
	size_t hostlen;

	memset(sp, 0, sizeof *sp);
	if (strlen(spec) >= CLIENT_SPEC_MAX) {
		client_errf(err, errlen, "daemon address too long: %.40s...",
		    spec);
		return -1;
	}
	if (strncmp(spec, "unix:", 5) == 0) {
		sp->is_unix = true;
		snprintf(sp->host, sizeof sp->host, "%s", spec + 5);
		if (sp->host[0] == '\0') {
			client_errf(err, errlen, "bad daemon address \"%s\": "
			    "empty socket path", spec);
			return -1;
		}
		return 0;
	}
	if (spec[0] == '[') {
		const char *close = strchr(spec, ']');

		if (close == NULL || close[1] != ':') {
			client_errf(err, errlen, "bad daemon address \"%s\": "
			    "expected [IPV6]:PORT", spec);
			return -1;
		}
		host = spec + 1;
		hostlen = (size_t)(close - host);
		colon = close + 1;
	} else {
		colon = strrchr(spec, ':');
		if (colon == NULL) {
			client_errf(err, errlen, "bad daemon address \"%s\": "
			    "expected HOST:PORT or unix:PATH", spec);
			return -1;
		}
		hostlen = (size_t)(colon - spec);
		if (memchr(spec, ':', hostlen) != NULL) {
			client_errf(err, errlen, "bad daemon address \"%s\": "
			    "write IPv6 addresses in brackets, [ADDR]:PORT",
			    spec);
			return -1;
		}
	}
	if (hostlen == 0 || colon[1] == '\0') {
		client_errf(err, errlen, "bad daemon address \"%s\": empty %s",
		    spec, hostlen == 0 ? "host" : "port");
		return -1;
	}
	memcpy(sp->host, host, hostlen);
	sp->host[hostlen] = '\0';
	snprintf(sp->port, sizeof sp->port, "%s", colon + 1);
	return 0;
}

/*
 * Start a non-blocking connect of a new socket to sa and wait for it.
 * Returns the connected socket, or -1 with errno set (ETIMEDOUT when the
 * deadline passed).
 */
static int
client_dial(int family, const struct sockaddr *sa, socklen_t salen,
    const struct timespec *dl)
{
	int fd, soerr = 0, saved, r;
	socklen_t len = sizeof soerr;

	fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	if (connect(fd, sa, salen) == 0)
		return fd;
	if (errno != EINPROGRESS && errno != EINTR)
		goto fail;
	r = client_wait(fd, POLLOUT, dl);
	if (r <= 0) {
		if (r == 0)
			errno = ETIMEDOUT;
		goto fail;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == -1)
		goto fail;
	if (soerr != 0) {
		errno = soerr;
		goto fail;
	}
	return fd;
fail:
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

/* Connect to a unix socket path. Returns the socket or -1 with errno. */
static int
client_dial_unix(const char *path, const struct timespec *dl)
{
	struct sockaddr_un sun;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sun.sun_path) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	for (;;) {
		int fd = client_dial(AF_UNIX, (struct sockaddr *)&sun,
		    sizeof sun, dl);

		/* EAGAIN: the listen backlog is full; the daemon is busy. */
		if (fd != -1 || errno != EAGAIN)
			return fd;
		if (client_left_ms(dl) == 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		(void)poll(NULL, 0, 10);
	}
}

/*
 * Resolve host and port and try each address until one connects.
 * Returns the socket, or -1 with a message in err.
 */
static int
client_dial_inet(const char *spec, const struct client_spec *sp,
    const struct timespec *dl, char *err, size_t errlen)
{
	struct addrinfo hints, *res, *ai;
	char ebuf[128];
	int fd = -1, gerr, last = ECONNREFUSED, one = 1;

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	gerr = getaddrinfo(sp->host, sp->port, &hints, &res);
	if (gerr != 0) {
		client_errf(err, errlen, "cannot connect to %s: %s", spec,
		    gerr == EAI_SYSTEM ? client_strerror(errno, ebuf,
		    sizeof ebuf) : gai_strerror(gerr));
		return -1;
	}
	for (ai = res; ai != NULL && fd == -1; ai = ai->ai_next) {
		fd = client_dial(ai->ai_family, ai->ai_addr, ai->ai_addrlen,
		    dl);
		if (fd == -1)
			last = errno;
		if (fd == -1 && last == ETIMEDOUT)
			break; /* the deadline is shared: nothing left */
	}
	freeaddrinfo(res);
	if (fd == -1) {
		client_errf(err, errlen, "cannot connect to %s: %s", spec,
		    client_strerror(last, ebuf, sizeof ebuf));
		return -1;
	}
	/* Requests are small and latency-bound. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return fd;
}

/* Set or clear the process-wide cluster secret (see client.h). */
void
client_set_secret(const struct secure_key *k)
{
	if (k == NULL) {
		secure_key_wipe(&client_key);
		client_have_key = false;
		return;
	}
	client_key = *k;
	client_have_key = true;
}

static int client_send_all(struct client *c, const uint8_t *buf, size_t len,
    const struct timespec *dl, int timeout_ms);
static int client_recv_raw(struct client *c, uint8_t *buf, size_t len,
    size_t *off, const struct timespec *dl);

/*
 * Prove to the daemon that we hold the cluster secret and check that it
 * does, within the connect deadline; then the connection is encrypted.
 * Returns 0, or -1 with the reason in c->err (broken).
 */
static int
client_handshake(struct client *c, const struct timespec *dl, int timeout_ms)
{
	uint8_t msg[SECURE_HS_MSG_MAX], out[SECURE_HS_MSG_MAX];
	size_t need, off, outlen;
	char why[sizeof c->err - 128];
	int r;

	c->sec = secure_session_new(&client_key, SECURE_INITIATOR, msg);
	if (client_send_all(c, msg, SECURE_HELLO_LEN, dl, timeout_ms) == -1)
		return -1;
	while ((need = secure_hs_need(c->sec)) > 0) {
		off = 0;
		r = client_recv_raw(c, msg, need, &off, dl);
		if (r == 0) {
			client_fail(c, true, "timed out after %d ms in the "
			    "secure handshake", timeout_ms);
			return -1;
		}
		if (r < 0) {
			/* Usually: the daemon refused us.  Say so. */
			snprintf(why, sizeof why, "%.*s", (int)sizeof why - 1,
			    c->err);
			snprintf(c->err, sizeof c->err, "%s during the secure "
			    "handshake (does the daemon hold the same "
			    "cluster secret?)", why);
			return -1;
		}
		if (secure_hs_consume(c->sec, msg, need, out, &outlen) != 0) {
			client_fail(c, true, "secure handshake failed: %s",
			    secure_error(c->sec));
			return -1;
		}
		if (outlen > 0 && client_send_all(c, out, outlen, dl,
		    timeout_ms) == -1)
			return -1;
	}
	c->rec = xmalloc(SECURE_RECORD_WIRE_MAX);
	c->plain = xmalloc(SECURE_RECORD_MAX);
	return 0;
}

/* Connect to a daemon (see client.h). */
struct client *
client_connect(const char *spec, int timeout_ms, char *err, size_t errlen)
{
	struct client_spec sp;
	struct timespec dl;
	struct client *c;
	char ebuf[128];
	int fd;

	client_errf(err, errlen, "%s", "");
	if (client_spec_parse(spec, &sp, err, errlen) == -1)
		return NULL;
	client_deadline(&dl, timeout_ms);
	if (sp.is_unix) {
		fd = client_dial_unix(sp.host, &dl);
		if (fd == -1) {
			client_errf(err, errlen, "cannot connect to %s: %s",
			    spec, client_strerror(errno, ebuf, sizeof ebuf));
			return NULL;
		}
	} else {
		fd = client_dial_inet(spec, &sp, &dl, err, errlen);
		if (fd == -1)
			return NULL;
	}
	c = xcalloc(1, sizeof *c);
	c->fd = fd;
	c->peer = xstrdup(spec);
	c->next_reqid = 1;
	wbuf_init(&c->out);
	/* Unix sockets stay plaintext: the socket's mode guards them. */
	if (client_have_key && !sp.is_unix &&
	    client_handshake(c, &dl, timeout_ms) == -1) {
		client_errf(err, errlen, "%s", c->err);
		client_close(c);
		return NULL;
	}
	return c;
}

/* Write all of buf before the deadline. Returns 0 or -1 (broken). */
static int
client_send_all(struct client *c, const uint8_t *buf, size_t len,
    const struct timespec *dl, int timeout_ms)
{
	char ebuf[128];
	size_t off = 0;

	while (off < len) {
		ssize_t n = send(c->fd, buf + off, len - off, MSG_NOSIGNAL);
		int r;

		if (n >= 0) {
			off += (size_t)n;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			client_fail(c, true, "send: %s",
			    client_strerror(errno, ebuf, sizeof ebuf));
			return -1;
		}
		r = c->send_wait != NULL ? c->send_wait(c, dl) :
		    client_wait(c->fd, POLLOUT, dl);
		if (r <= 0) {
			/* A partial frame was sent: the stream is lost. */
			if (r == 0)
				client_fail(c, true, "timed out after %d ms "
				    "sending a request", timeout_ms);
			else
				client_fail(c, true, "poll: %s",
				    client_strerror(errno, ebuf, sizeof ebuf));
			return -1;
		}
	}
	return 0;
}

/*
 * Read from the socket into buf[*off, len) until full.  Returns 1 when
 * full, 0 on timeout (the bytes read so far stay counted in *off), -1 on
 * error (broken).
 */
static int
client_recv_raw(struct client *c, uint8_t *buf, size_t len, size_t *off,
    const struct timespec *dl)
{
	char ebuf[128];

	while (*off < len) {
		ssize_t n = recv(c->fd, buf + *off, len - *off, 0);
		int r;

		if (n > 0) {
			*off += (size_t)n;
			continue;
		}
		if (n == 0) {
			client_fail(c, true, "connection closed by the daemon");
			return -1;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			client_fail(c, true, "recv: %s",
			    client_strerror(errno, ebuf, sizeof ebuf));
			return -1;
		}
		r = client_wait(c->fd, POLLIN, dl);
		if (r == 0)
			return 0;
		if (r < 0) {
			client_fail(c, true, "poll: %s",
			    client_strerror(errno, ebuf, sizeof ebuf));
			return -1;
		}
	}
	return 1;
}

/*
 * Secure: read and open the next record into c->plain.  Returns 1 when
 * plaintext is there, 0 on timeout (a partial record is kept), -1 on
 * error (broken; a record that fails to open breaks the connection).
 */
static int
client_fill(struct client *c, const struct timespec *dl)
{
	const char *why = NULL;
	int r;

	if (c->rec_off < SECURE_RECORD_HDR) {
		r = client_recv_raw(c, c->rec, SECURE_RECORD_HDR, &c->rec_off,
		    dl);
		if (r <= 0)
			return r;
		client_sec_lock(c);
		c->rec_size = secure_record_size(c->sec, c->rec);
		if (c->rec_size == 0)
			why = secure_error(c->sec);
		client_sec_unlock(c);
		if (why != NULL) {
			client_fail(c, true, "bad record from the daemon: %s",
			    why);
			return -1;
		}
	}
	r = client_recv_raw(c, c->rec, c->rec_size, &c->rec_off, dl);
	if (r <= 0)
		return r;
	client_sec_lock(c);
	if (secure_open(c->sec, c->rec, c->rec_size, c->plain,
	    &c->plain_len) != 0)
		why = secure_error(c->sec);
	client_sec_unlock(c);
	if (why != NULL) {
		client_fail(c, true, "bad record from the daemon: %s", why);
		return -1;
	}
	c->plain_off = 0;
	c->rec_off = 0;
	return 1;
}

/*
 * Read the plaintext stream into buf[*off, len) until full: from the
 * socket, or through records on a secure connection.  Returns as
 * client_recv_raw().
 */
static int
client_recv_some(struct client *c, uint8_t *buf, size_t len, size_t *off,
    const struct timespec *dl)
{
	if (c->sec == NULL)
		return client_recv_raw(c, buf, len, off, dl);
	while (*off < len) {
		size_t n = c->plain_len - c->plain_off;
		int r;

		if (n == 0) {
			if ((r = client_fill(c, dl)) <= 0)
				return r;
			continue;
		}
		if (n > len - *off)
			n = len - *off;
		memcpy(buf + *off, c->plain + c->plain_off, n);
		c->plain_off += n;
		*off += n;
	}
	return 1;
}

/*
 * Read the rest of one frame into c->rh / c->body.  Returns 1 when a whole
 * frame is there, 0 on timeout, -1 on error (broken).
 */
static int
client_read_frame(struct client *c, const struct timespec *dl)
{
	const char *why;
	int r;

	if (c->hdr_off < WIRE_HEADER_LEN) {
		r = client_recv_some(c, c->hdr, WIRE_HEADER_LEN, &c->hdr_off,
		    dl);
		if (r <= 0)
			return r;
		if (wire_header_decode(c->hdr, &c->rh, &why) == -1) {
			if (c->sec == NULL && secure_is_hello(c->hdr,
			    sizeof c->hdr))
				client_fail(c, true, "the daemon requires the "
				    "cluster secret (--secret-file)");
			else
				client_fail(c, true, "bad frame from the "
				    "daemon: %s", why);
			return -1;
		}
		/* Checked against WIRE_MAX_BODY by wire_header_decode. */
		c->body = c->rh.len > 0 ? xmalloc(c->rh.len) : NULL;
		c->body_off = 0;
	}
	return client_recv_some(c, c->body, c->rh.len, &c->body_off, dl);
}

/* Forget the frame just read (after handing out or skipping it). */
static void
client_frame_reset(struct client *c)
{
	free(c->body);
	c->body = NULL;
	c->hdr_off = c->body_off = 0;
}

/*
 * Send the frame in c->out: as it is, or sealed into records on a secure
 * connection.  Returns 0 or -1 (broken).
 */
static int
client_send_frame(struct client *c, const struct timespec *dl, int timeout_ms)
{
	size_t len = c->out.len, need = 0, off = 0, o = 0;
	int r;

	if (c->sec == NULL)
		return client_send_all(c, c->out.p, len, dl, timeout_ms);
	for (size_t left = len; left > 0; ) {
		size_t n = left < SECURE_RECORD_MAX ? left : SECURE_RECORD_MAX;

		need += secure_sealed_len(n);
		left -= n;
	}
	if (need > c->sealed_cap) {
		c->sealed = xreallocarray(c->sealed, need, 1);
		c->sealed_cap = need;
	}
	while (off < len) {
		size_t n = len - off < SECURE_RECORD_MAX ? len - off :
		    SECURE_RECORD_MAX;

		client_sec_lock(c);
		r = secure_seal(c->sec, c->out.p + off, n, c->sealed + o);
		client_sec_unlock(c);
		if (r != 0) {
			/* A mux's reader failed the session meanwhile. */
			client_fail(c, true, "cannot seal a request: the secure "
			    "session failed");
			return -1;
		}
		o += secure_sealed_len(n);
		off += n;
	}
	return client_send_all(c, c->sealed, o, dl, timeout_ms);
}

static int client_wait_reply(struct client *c, struct wire_header *reply_header,
    uint8_t **reply_body, size_t *reply_len, const struct timespec *dlp,
    int timeout_ms);

/* Send a request and wait for its reply (see client.h). */
int
client_call(struct client *c, uint16_t type, uint32_t flags,
    const void *body, size_t len, struct wire_header *reply_header,
    uint8_t **reply_body, size_t *reply_len, int timeout_ms)
{
	struct timespec dl;
	uint64_t reqid;

	if (c->broken)
		return -1; /* c->err still says why */
	c->err[0] = '\0';
	c->err_code = WIRE_E_OK;
	if (len > WIRE_MAX_BODY) {
		client_fail(c, false, "request body too long (%zu bytes)", len);
		return -1;
	}
	client_deadline(&dl, timeout_ms);
	reqid = c->next_reqid++;
	if (c->next_reqid == 0)
		c->next_reqid = 1;
	wire_frame_begin(&c->out, type, flags, reqid);
	wbuf_put_bytes(&c->out, body, len);
	wire_frame_end(&c->out);
	if (client_send_frame(c, &dl, timeout_ms) == -1)
		return -1;
	c->last_reqid = reqid;
	c->last_type = type;
	return client_wait_reply(c, reply_header, reply_body, reply_len, &dl,
	    timeout_ms);
}

/* Another reply to the last request (e.g. after a WIRE_PROGRESS). */
int
client_more(struct client *c, struct wire_header *reply_header,
    uint8_t **reply_body, size_t *reply_len, int timeout_ms)
{
	struct timespec dl;

	if (c->broken)
		return -1;
	c->err[0] = '\0';
	c->err_code = WIRE_E_OK;
	client_deadline(&dl, timeout_ms);
	return client_wait_reply(c, reply_header, reply_body, reply_len, &dl,
	    timeout_ms);
}

/* Read frames until one answers the last request. */
static int
client_wait_reply(struct client *c, struct wire_header *reply_header,
    uint8_t **reply_body, size_t *reply_len, const struct timespec *dlp,
    int timeout_ms)
{
	struct timespec dl = *dlp;
	uint64_t reqid = c->last_reqid;
	uint16_t type = c->last_type;
	int r;

	for (;;) {
		r = client_read_frame(c, &dl);
		if (r < 0)
			return -1;
		if (r == 0) {
			client_fail(c, false, "timed out after %d ms waiting "
			    "for a reply to %s", timeout_ms,
			    wire_type_name(type));
			return -1;
		}
		if (c->rh.reqid == reqid)
			break;
		client_frame_reset(c); /* someone else's: skip it */
	}
	if (reply_header != NULL)
		*reply_header = c->rh;
	if (reply_len != NULL)
		*reply_len = c->rh.len;
	if (reply_body != NULL) {
		*reply_body = c->body;
		c->body = NULL;
	}
	client_frame_reset(c);
	return 0;
}

/*
 * Where the outcome of a request is written: the connection's error for
 * a struct client, the request's own for a multiplexed one.  err holds
 * CLIENT_ERR_MAX bytes.
 */
struct client_errto {
	const char *peer;
	char *err;
	uint32_t *code;
};

/* A non-fatal error about a reply, prefixed with the peer. */
static void __attribute__((format(printf, 2, 3)))
client_reply_fail(const struct client_errto *e, const char *fmt, ...)
{
	char msg[CLIENT_ERR_MAX - 64];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	snprintf(e->err, CLIENT_ERR_MAX, "%s: %s", e->peer, msg);
}

/*
 * Check a reply to a request of type `type`: a WIRE_ERROR reply sets the
 * error text and code, another type than want is an error.  Returns 0 when
 * the reply is of type want, else -1 (the connection stays usable).
 */
static int
client_check_reply(const struct client_errto *e, uint16_t type, uint16_t want,
    const struct wire_header *h, const uint8_t *rb, size_t rlen)
{
	char msg[256];

	if (h->type == WIRE_ERROR) {
		if (wire_error_decode(rb, rlen, e->code, msg,
		    sizeof msg) == -1) {
			*e->code = WIRE_E_PROTO;
			client_reply_fail(e, "malformed ERROR reply");
		} else if (msg[0] == '\0')
			snprintf(e->err, CLIENT_ERR_MAX, "%s",
			    wire_error_text(*e->code));
		else
			log_escape(msg, strlen(msg), e->err, CLIENT_ERR_MAX);
		return -1;
	}
	if (h->type != want) {
		client_reply_fail(e, "unexpected reply %s (0x%04x) to %s",
		    wire_type_name(h->type), h->type, wire_type_name(type));
		return -1;
	}
	return 0;
}

/*
 * A reply of type want, its body decoded as a membership into *m when m
 * is non-NULL, its flags into *reply_flags.  0 or -1 (error in e).
 */
static int
client_reply_membership(const struct client_errto *e, uint16_t type,
    uint16_t want, const struct wire_header *h, const uint8_t *rb,
    size_t rlen, struct wire_membership *m, uint32_t *reply_flags)
{
	if (client_check_reply(e, type, want, h, rb, rlen) == -1)
		return -1;
	if (m != NULL && wire_membership_decode(rb, rlen, m) == -1) {
		client_reply_fail(e, "malformed %s reply",
		    wire_type_name(want));
		return -1;
	}
	if (reply_flags != NULL)
		*reply_flags = h->flags;
	return 0;
}

/* An object reply of type want for key: decoded into *reply, or -1. */
static int
client_reply_obj(const struct client_errto *e, uint16_t type, uint16_t want,
    const struct hash_key *key, const struct wire_header *h,
    const uint8_t *rb, size_t rlen, struct wire_obj *reply)
{
	if (client_check_reply(e, type, want, h, rb, rlen) == -1)
		return -1;
	if (wire_obj_decode(rb, rlen, reply) == -1) {
		client_reply_fail(e, "malformed %s reply",
		    wire_type_name(want));
		return -1;
	}
	if (reply->key.hi != key->hi || reply->key.lo != key->lo) {
		client_reply_fail(e, "%s reply for another key",
		    wire_type_name(want));
		return -1;
	}
	return 0;
}

/* A LIST reply: the page into *s, *more from its flags; or -1. */
static int
client_reply_list(const struct client_errto *e, const struct wire_header *h,
    const uint8_t *rb, size_t rlen, struct wire_summary *s, bool *more)
{
	if (client_check_reply(e, WIRE_LIST_REQ, WIRE_LIST, h, rb, rlen) == -1)
		return -1;
	if (wire_summary_decode(rb, rlen, s) == -1) {
		client_reply_fail(e, "malformed LIST reply");
		return -1;
	}
	*more = (h->flags & CLIENT_LIST_MORE) != 0;
	return 0;
}

/* A LIST_REQ body. */
static void
client_list_body(struct wbuf *w, uint32_t start)
{
	wbuf_init(w);
	wbuf_put_u32(w, start);
}

/* One request expecting a reply of type want (see client.h). */
int
client_request(struct client *c, uint16_t type, uint32_t flags,
    const void *body, size_t len, uint16_t want, struct wire_membership *m,
    uint32_t *reply_flags, int timeout_ms)
{
	struct client_errto e = { c->peer, c->err, &c->err_code };
	struct wire_header h;
	uint8_t *rb = NULL;
	size_t rlen = 0;
	int rc;

	if (client_call(c, type, flags, body, len, &h, &rb, &rlen,
	    timeout_ms) == -1)
		return -1;
	rc = client_reply_membership(&e, type, want, &h, rb, rlen, m,
	    reply_flags);
	free(rb);
	return rc;
}

/* An object request expecting an object reply (see client.h). */
int
client_obj_request(struct client *c, uint16_t type, const struct wire_obj *req,
    uint16_t want, struct wire_obj *reply, uint8_t **buf, int timeout_ms)
{
	struct client_errto e = { c->peer, c->err, &c->err_code };
	struct wire_header h;
	struct wbuf w;
	uint8_t *rb = NULL;
	size_t rlen = 0;
	int rc;

	wbuf_init(&w);
	wire_obj_encode(&w, req);
	rc = client_call(c, type, 0, w.p, w.len, &h, &rb, &rlen, timeout_ms);
	wbuf_free(&w);
	if (rc == -1)
		return -1;
	if (client_reply_obj(&e, type, want, &req->key, &h, rb, rlen,
	    reply) == -1) {
		free(rb);
		return -1;
	}
	*buf = rb;
	return 0;
}

/* Ask for a page of local replicas (see client.h). */
int
client_list(struct client *c, uint32_t start, struct wire_summary *s,
    bool *more, int timeout_ms)
{
	struct client_errto e = { c->peer, c->err, &c->err_code };
	struct wire_header h;
	struct wbuf w;
	uint8_t *rb = NULL;
	size_t rlen = 0;
	int rc;

	client_list_body(&w, start);
	rc = client_call(c, WIRE_LIST_REQ, 0, w.p, w.len, &h, &rb, &rlen,
	    timeout_ms);
	wbuf_free(&w);
	if (rc == -1)
		return -1;
	rc = client_reply_list(&e, &h, rb, rlen, s, more);
	free(rb);
	return rc;
}

/* Code of the last error reply. */
uint32_t
client_error_code(const struct client *c)
{
	return c->err_code;
}

/* Last error text. */
const char *
client_error(const struct client *c)
{
	return c->err;
}

/* True once the connection must be replaced. */
bool
client_broken(const struct client *c)
{
	return c->broken;
}

/* The spec given to client_connect(). */
const char *
client_peer(const struct client *c)
{
	return c->peer;
}

/* Close and free. */
void
client_close(struct client *c)
{
	if (c == NULL)
		return;
	if (c->fd != -1)
		close(c->fd);
	free(c->peer);
	free(c->body);
	wbuf_free(&c->out);
	secure_session_free(c->sec);
	free(c->rec);
	free(c->plain);
	free(c->sealed);
	free(c);
}

/*
 * The multiplexed connection (see client.h).  A struct client underneath
 * does the I/O.  Its sending half belongs to the one sender of the moment
 * (m->sending, taken and given back under mu, so that a thread waiting
 * its turn to send keeps to its deadline); its reading half to the one
 * waiting thread that is the reader of the moment (m->reading, likewise).
 * Pending requests sit in a table by request id; the reader hands each
 * reply to its request and wakes the thread that waits on it, and when
 * its own reply is in, passes the reading on to another waiter.
 *
 * Locks: mu and sec_mu are leaves: no other lock is taken while holding
 * either.  The sender takes sec_mu (per record sealed) and mu (on an
 * error) while sending, the reader sec_mu (per record opened) and mu.
 */
#define CLIENT_MUX_BUCKETS 256	/* pending requests by reqid (power of 2) */

struct client_req {
	struct client_mux *m;
	struct client_req *next; /* in its bucket, while pending */
	struct client_req *wnext, *wprev; /* in m->waiters, while waited on */
	uint64_t reqid;		/* 0: never sent */
	uint16_t type;
	int timeout_ms;
	struct timespec dl;	/* the whole request's deadline */
	bool has_key;		/* sent by client_mux_send_obj() */
	struct hash_key key;
	pthread_cond_t cv;	/* done, or the reading is free (with m->mu) */

	/* Under m->mu until done; the waiter's alone afterwards. */
	bool pending;		/* in the table, waiting for its reply */
	bool waited;		/* a thread waits for it (in m->waiters) */
	bool done;		/* a reply came, or it failed */
	bool failed;
	bool broken;		/* failed with the connection */
	struct wire_header rh;	/* the reply */
	uint8_t *body;		/* rh.len bytes (NULL when 0), owned */
	uint32_t err_code;	/* WIRE_E_* of a WIRE_ERROR reply */
	char err[CLIENT_ERR_MAX];
};

struct client_mux {
	struct client *c;
	pthread_mutex_t mu;	/* what follows, and c->err / c->broken */
	pthread_cond_t send_cv;	/* sending became false */
	pthread_mutex_t sec_mu;	/* the secure session (seal vs open) */
	bool sending;		/* a thread is sending a frame */
	bool reading;		/* a waiting thread is reading frames */
	bool broken;		/* every request fails from now on */
	char err[CLIENT_ERR_MAX]; /* why, once broken */
	size_t inflight;	/* requests in the table */
	struct client_req *tab[CLIENT_MUX_BUCKETS];
	struct client_req *waiters; /* requests a thread waits for */
};

/* Add r to the table (caller holds mu). */
static void
client_mux_link(struct client_mux *m, struct client_req *r)
{
	struct client_req **b = &m->tab[r->reqid & (CLIENT_MUX_BUCKETS - 1)];

	r->next = *b;
	*b = r;
	r->pending = true;
	m->inflight++;
}

/* Take the request with this id out of the table, or NULL (holds mu). */
static struct client_req *
client_mux_take(struct client_mux *m, uint64_t reqid)
{
	struct client_req **pp = &m->tab[reqid & (CLIENT_MUX_BUCKETS - 1)];

	for (; *pp != NULL; pp = &(*pp)->next) {
		struct client_req *r = *pp;

		if (r->reqid == reqid) {
			*pp = r->next;
			r->next = NULL;
			r->pending = false;
			m->inflight--;
			return r;
		}
	}
	return NULL;
}

/* Finish r as failed, with the reason (caller holds mu if r is shared). */
static void
client_req_failed(struct client_req *r, bool broken, const char *err)
{
	r->done = r->failed = true;
	r->broken = broken;
	snprintf(r->err, sizeof r->err, "%s", err);
	pthread_cond_signal(&r->cv);
}

/*
 * Break the connection: every pending request fails at once with the
 * reason (why, or the client's error; the first reason is kept), later
 * ones fail at once, and a thread blocked reading or sending is woken.
 * Caller does not hold mu.
 */
static void
client_mux_break(struct client_mux *m, const char *why)
{
	pthread_mutex_lock(&m->mu);
	if (!m->broken) {
		m->broken = true;
		if (why != NULL)
			snprintf(m->err, sizeof m->err, "%s: %s", m->c->peer,
			    why);
		else if (m->c->err[0] != '\0')
			snprintf(m->err, sizeof m->err, "%s", m->c->err);
		else
			snprintf(m->err, sizeof m->err, "%s: connection lost",
			    m->c->peer);
		m->c->broken = true;
		for (size_t i = 0; i < CLIENT_MUX_BUCKETS; i++) {
			struct client_req *r, *next;

			for (r = m->tab[i]; r != NULL; r = next) {
				next = r->next;
				r->next = NULL;
				r->pending = false;
				client_req_failed(r, true, m->err);
			}
			m->tab[i] = NULL;
		}
		m->inflight = 0;
		pthread_cond_broadcast(&m->send_cv); /* waiting senders */
	}
	pthread_mutex_unlock(&m->mu);
	/* Wakes a reader's or a sender's poll; closed by client_mux_close. */
	(void)shutdown(m->c->fd, SHUT_RDWR);
}

static int client_mux_send_wait(struct client *c, const struct timespec *dl);

/* Connect a multiplexed connection (see client.h). */
struct client_mux *
client_mux_connect(const char *spec, int timeout_ms, char *err, size_t errlen)
{
	struct client_mux *m;
	pthread_mutexattr_t ma;
	pthread_condattr_t ca;

	m = xcalloc(1, sizeof *m);
	if ((m->c = client_connect(spec, timeout_ms, err, errlen)) == NULL) {
		free(m);
		return NULL;
	}
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_ERRORCHECK);
	pthread_mutex_init(&m->mu, &ma);
	pthread_mutex_init(&m->sec_mu, &ma);
	pthread_mutexattr_destroy(&ma);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&m->send_cv, &ca);
	pthread_condattr_destroy(&ca);
	m->c->lock = &m->mu;
	if (m->c->sec != NULL)
		m->c->sec_lock = &m->sec_mu;
	m->c->mux = m;
	m->c->send_wait = client_mux_send_wait;
	return m;
}

/* Close and free (see client.h). */
void
client_mux_close(struct client_mux *m)
{
	if (m == NULL)
		return;
	m->c->lock = m->c->sec_lock = NULL;
	m->c->send_wait = NULL;
	client_close(m->c);
	pthread_mutex_destroy(&m->mu);
	pthread_cond_destroy(&m->send_cv);
	pthread_mutex_destroy(&m->sec_mu);
	free(m);
}

/* A new request on m, its deadline starting now. */
static struct client_req *
client_req_new(struct client_mux *m, uint16_t type, int timeout_ms)
{
	struct client_req *r = xcalloc(1, sizeof *r);
	pthread_condattr_t ca;

	r->m = m;
	r->type = type;
	r->timeout_ms = timeout_ms;
	client_deadline(&r->dl, timeout_ms);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&r->cv, &ca);
	pthread_condattr_destroy(&ca);
	return r;
}

/* Fail a request that was never sent (not shared yet: no lock). */
static void __attribute__((format(printf, 2, 3)))
client_req_refuse(struct client_req *r, const char *fmt, ...)
{
	char msg[CLIENT_ERR_MAX - 64];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	r->done = r->failed = true;
	snprintf(r->err, sizeof r->err, "%s: %s", r->m->c->peer, msg);
}

/*
 * Become the sender before r's deadline, and give r its id and its place
 * in the table.  Returns 0, or -1 with r failed (broken, or timed out
 * waiting for another sender, or its deadline gone).
 */
static int
client_mux_begin_send(struct client_mux *m, struct client_req *r)
{
	struct client *c = m->c;
	int e = 0;

	pthread_mutex_lock(&m->mu);
	while (m->sending && !m->broken && e != ETIMEDOUT)
		e = r->dl.tv_sec < 0 ? pthread_cond_wait(&m->send_cv, &m->mu) :
		    pthread_cond_timedwait(&m->send_cv, &m->mu, &r->dl);
	if (m->broken) {
		client_req_failed(r, true, m->err);
		pthread_mutex_unlock(&m->mu);
		return -1;
	}
	if (m->sending || client_left_ms(&r->dl) == 0) {
		pthread_mutex_unlock(&m->mu);
		client_req_refuse(r, "timed out after %d ms waiting to send %s "
		    "(the connection is busy sending)", r->timeout_ms,
		    wire_type_name(r->type));
		return -1;
	}
	m->sending = true;
	/* In the table before it is sent: the reply may come at once. */
	r->reqid = c->next_reqid++;
	if (c->next_reqid == 0)
		c->next_reqid = 1;
	client_mux_link(m, r);
	pthread_mutex_unlock(&m->mu);
	return 0;
}

/* Let the next sender go. */
static void
client_mux_end_send(struct client_mux *m)
{
	pthread_mutex_lock(&m->mu);
	m->sending = false;
	/* All: a waiter past its deadline leaves without passing it on. */
	pthread_cond_broadcast(&m->send_cv);
	pthread_mutex_unlock(&m->mu);
}

/* Send a request (see client.h). */
struct client_req *
client_mux_send(struct client_mux *m, uint16_t type, uint32_t flags,
    const void *body, size_t len, int timeout_ms)
{
	struct client_req *r = client_req_new(m, type, timeout_ms);
	struct client *c = m->c;
	int rc;

	if (len > WIRE_MAX_BODY) {
		client_req_refuse(r, "request body too long (%zu bytes)", len);
		return r;
	}
	if (client_mux_begin_send(m, r) == -1)
		return r;
	/* The sender alone uses c's sending half. */
	wire_frame_begin(&c->out, type, flags, r->reqid);
	wbuf_put_bytes(&c->out, body, len);
	wire_frame_end(&c->out);
	rc = client_send_frame(c, &r->dl, timeout_ms);
	client_mux_end_send(m);
	if (rc == -1)
		client_mux_break(m, NULL); /* fails r and everyone else */
	return r;
}

/* An object request (see client.h). */
struct client_req *
client_mux_send_obj(struct client_mux *m, uint16_t type,
    const struct wire_obj *req, int timeout_ms)
{
	struct client_req *r;
	struct wbuf w;

	wbuf_init(&w);
	wire_obj_encode(&w, req);
	r = client_mux_send(m, type, 0, w.p, w.len, timeout_ms);
	wbuf_free(&w);
	r->has_key = true;
	r->key = req->key;
	return r;
}

/* A LIST_REQ (see client.h). */
struct client_req *
client_mux_send_list(struct client_mux *m, uint32_t start, int timeout_ms)
{
	struct client_req *r;
	struct wbuf w;

	client_list_body(&w, start);
	r = client_mux_send(m, WIRE_LIST_REQ, 0, w.p, w.len, timeout_ms);
	wbuf_free(&w);
	return r;
}

/*
 * As the reader: read one frame (or what arrives of it before dl) and
 * hand it to its request.  Returns 1 when a frame was dealt with, 0 on
 * timeout (a partial frame stays in c for the next reader), -1 when the
 * connection broke (every pending request has failed).  Caller has set
 * m->reading and does not hold mu.
 */
static int
client_mux_read(struct client_mux *m, const struct timespec *dl)
{
	struct client *c = m->c;
	struct client_req *r;
	int rc = client_read_frame(c, dl);

	if (rc <= 0) {
		if (rc < 0)
			client_mux_break(m, NULL); /* client_fail() said why */
		return rc;
	}
	/*
	 * Interim replies are not for us (see client.h); a reply nobody
	 * waits for any more (its request timed out or was freed) and
	 * one-way frames (reqid 0) are skipped.
	 */
	if (c->rh.type != WIRE_PROGRESS && c->rh.reqid != 0) {
		pthread_mutex_lock(&m->mu);
		if ((r = client_mux_take(m, c->rh.reqid)) != NULL) {
			r->rh = c->rh;
			r->body = c->body;
			c->body = NULL;
			r->done = true;
			pthread_cond_signal(&r->cv);
		}
		pthread_mutex_unlock(&m->mu);
	}
	client_frame_reset(c);
	return 1;
}

/*
 * The reading is free: wake one thread that waits for a reply still to
 * come, to take it over (caller holds mu).
 */
static void
client_mux_pass_reading(struct client_mux *m)
{
	for (struct client_req *w = m->waiters; w != NULL; w = w->wnext) {
		if (!w->done) {
			pthread_cond_signal(&w->cv);
			return;
		}
	}
}

/*
 * A sender waiting for room in the socket (c->send_wait).  The daemon may
 * be waiting for us to read its replies before it reads more of ours, and
 * the threads those replies are for may all be busy sending too: so while
 * nobody else reads, the sender reads replies as it waits (as the reader
 * of the moment), then passes the reading on.  While another thread
 * reads, the sender waits in slices of CLIENT_MUX_SLICE_MS, to take the
 * reading over should that thread stop.  Returns as client_wait().
 */
#define CLIENT_MUX_SLICE_MS 10

static int
client_mux_send_wait(struct client *c, const struct timespec *dl)
{
	struct client_mux *m = c->mux;
	struct pollfd pfd = { .fd = c->fd };
	bool read;
	int n, left, saved;

	for (;;) {
		if ((left = client_left_ms(dl)) == 0)
			return 0;
		pthread_mutex_lock(&m->mu);
		read = !m->reading && !m->broken;
		if (read)
			m->reading = true;
		pthread_mutex_unlock(&m->mu);
		if (read)
			break;
		pfd.events = POLLOUT;
		n = poll(&pfd, 1, left < 0 || left > CLIENT_MUX_SLICE_MS ?
		    CLIENT_MUX_SLICE_MS : left);
		if (n > 0)
			return 1;
		if (n < 0 && errno != EINTR)
			return -1;
	}
	pfd.events = POLLIN | POLLOUT;
	for (;;) {
		if ((left = client_left_ms(dl)) == 0) {
			n = 0;
			break;
		}
		n = poll(&pfd, 1, left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n > 0 && (pfd.revents & POLLOUT) == 0 &&
		    (pfd.revents & POLLIN) != 0 &&
		    client_mux_read(m, dl) == 1)
			continue; /* a reply out of the way: room yet? */
		break;
	}
	saved = errno;
	pthread_mutex_lock(&m->mu);
	m->reading = false;
	client_mux_pass_reading(m);
	pthread_mutex_unlock(&m->mu);
	errno = saved;
	return n > 0 ? 1 : n;
}

/* Fail r, still pending, on its deadline (caller holds mu). */
static void
client_req_timed_out(struct client_req *r)
{
	char msg[CLIENT_ERR_MAX];

	/* Out of the table: its late reply is skipped. */
	(void)client_mux_take(r->m, r->reqid);
	snprintf(msg, sizeof msg, "%s: timed out after %d ms waiting for a "
	    "reply to %s", r->m->c->peer, r->timeout_ms,
	    wire_type_name(r->type));
	client_req_failed(r, false, msg);
}

/*
 * Wait for a request's reply (see client.h): leader/follower.  While no
 * thread reads, this one does, handing every frame to its request, until
 * its own reply is in or its deadline passes; then it passes the reading
 * on to another waiter.  Meanwhile the others sleep on their own
 * condition variables until their reply is handed to them, the reading
 * is passed to them, or their deadline passes.
 */
int
client_req_wait(struct client_req *r, struct wire_header *reply_header,
    uint8_t **reply_body, size_t *reply_len)
{
	struct client_mux *m = r->m;

	pthread_mutex_lock(&m->mu);
	if (!r->done) {
		r->waited = true;
		r->wprev = NULL;
		r->wnext = m->waiters;
		if (m->waiters != NULL)
			m->waiters->wprev = r;
		m->waiters = r;
	}
	while (!r->done) {
		int e;

		if (!m->reading && !m->broken) {
			m->reading = true;
			pthread_mutex_unlock(&m->mu);
			e = client_mux_read(m, &r->dl);
			pthread_mutex_lock(&m->mu);
			m->reading = false;
			if (e == 0 && !r->done)
				client_req_timed_out(r);
			continue;
		}
		e = r->dl.tv_sec < 0 ? pthread_cond_wait(&r->cv, &m->mu) :
		    pthread_cond_timedwait(&r->cv, &m->mu, &r->dl);
		if (e == ETIMEDOUT && !r->done)
			client_req_timed_out(r);
	}
	if (r->waited) {
		if (r->wprev != NULL)
			r->wprev->wnext = r->wnext;
		else
			m->waiters = r->wnext;
		if (r->wnext != NULL)
			r->wnext->wprev = r->wprev;
		r->waited = false;
		r->wnext = r->wprev = NULL;
	}
	if (!m->reading)
		client_mux_pass_reading(m);
	pthread_mutex_unlock(&m->mu);
	if (r->failed)
		return -1;
	if (reply_header != NULL)
		*reply_header = r->rh;
	if (reply_len != NULL)
		*reply_len = r->rh.len;
	if (reply_body != NULL) {
		*reply_body = r->body;
		r->body = NULL;
	}
	return 0;
}

/* The errto of a request. */
static struct client_errto
client_req_errto(struct client_req *r)
{
	struct client_errto e = { r->m->c->peer, r->err, &r->err_code };

	return e;
}

/* Wait, then check the reply as client_request() does (see client.h). */
int
client_req_reply(struct client_req *r, uint16_t want,
    struct wire_membership *m, uint32_t *reply_flags)
{
	struct client_errto e = client_req_errto(r);

	if (client_req_wait(r, NULL, NULL, NULL) == -1)
		return -1;
	if (client_reply_membership(&e, r->type, want, &r->rh, r->body,
	    r->rh.len, m, reply_flags) == -1) {
		r->failed = true;
		return -1;
	}
	return 0;
}

/* Wait for an object reply (see client.h). */
int
client_req_obj(struct client_req *r, uint16_t want, struct wire_obj *reply,
    uint8_t **buf)
{
	struct client_errto e = client_req_errto(r);

	if (!r->has_key) {
		client_req_refuse(r, "client_req_obj() on a request not sent "
		    "by client_mux_send_obj()");
		return -1;
	}
	if (client_req_wait(r, NULL, NULL, NULL) == -1)
		return -1;
	if (client_reply_obj(&e, r->type, want, &r->key, &r->rh, r->body,
	    r->rh.len, reply) == -1) {
		r->failed = true;
		return -1;
	}
	*buf = r->body; /* reply points into it */
	r->body = NULL;
	return 0;
}

/* Wait for a LIST page (see client.h). */
int
client_req_list(struct client_req *r, struct wire_summary *s, bool *more)
{
	struct client_errto e = client_req_errto(r);

	if (client_req_wait(r, NULL, NULL, NULL) == -1)
		return -1;
	if (client_reply_list(&e, &r->rh, r->body, r->rh.len, s,
	    more) == -1) {
		r->failed = true;
		return -1;
	}
	return 0;
}

/* A request's outcome (see client.h). */
const char *
client_req_error(const struct client_req *r)
{
	return r->err;
}

uint32_t
client_req_error_code(const struct client_req *r)
{
	return r->err_code;
}

bool
client_req_broken(const struct client_req *r)
{
	return r->broken;
}

/* Forget a request, answered or not (see client.h). */
void
client_req_free(struct client_req *r)
{
	if (r == NULL)
		return;
	if (r->reqid != 0) {
		pthread_mutex_lock(&r->m->mu);
		if (r->pending)
			(void)client_mux_take(r->m, r->reqid);
		pthread_mutex_unlock(&r->m->mu);
	}
	free(r->body);
	pthread_cond_destroy(&r->cv);
	free(r);
}

/* State of the connection (see client.h). */
bool
client_mux_broken(struct client_mux *m)
{
	bool b;

	pthread_mutex_lock(&m->mu);
	b = m->broken;
	pthread_mutex_unlock(&m->mu);
	return b;
}

const char *
client_mux_error(struct client_mux *m)
{
	return client_mux_broken(m) ? m->err : "";
}

size_t
client_mux_inflight(struct client_mux *m)
{
	size_t n;


	pthread_mutex_lock(&m->mu);
	n = m->inflight;
	pthread_mutex_unlock(&m->mu);
	return n;
}

const char *
client_mux_peer(const struct client_mux *m)
{
	return m->c->peer;
}

/* A set of 64-bit values (open addressing), for ids and address hashes. */
struct client_set {
	uint64_t *keys;
	uint8_t *used;
	size_t cap, n;
};

/* A node to visit: as some neighbour list named it. */
struct client_pending {
	uint64_t id;
	char addr[WIRE_ADDR_MAX];
};

/* State of one walk. */
struct client_walker {
	struct client_walk *w;
	int timeout_ms;
	void (*warn)(void *, const char *);
	void *arg;
	size_t cap;			/* of w->nodes */
	struct client_pending *q;	/* breadth-first queue */
	size_t qn, qcap;
	struct client_set seen;		/* ids in w->nodes */
	struct client_set queued;	/* ids ever queued */
	struct client_set dialled;	/* address hashes ever dialled */
};

/* Slot of k in s: where it is, or the empty slot where it would go. */
static size_t
client_set_slot(const struct client_set *s, uint64_t k)
{
	size_t i = (size_t)((k ^ k >> 31) * 0x9e3779b97f4a7c15ULL >> 7);

	for (i &= s->cap - 1; s->used[i] && s->keys[i] != k;
	    i = (i + 1) & (s->cap - 1))
		;
	return i;
}

/* True when k is in s (an empty set has no table yet). */
static bool
client_set_has(const struct client_set *s, uint64_t k)
{
	return s->cap > 0 && s->used[client_set_slot(s, k)];
}

/* Add k to s; false if it was there already. */
static bool
client_set_add(struct client_set *s, uint64_t k)
{
	size_t i;

	if (2 * (s->n + 1) > s->cap) {
		struct client_set big = { .cap = s->cap ? 2 * s->cap : 64 };

		big.keys = xcalloc(big.cap, sizeof *big.keys);
		big.used = xcalloc(big.cap, 1);
		for (size_t o = 0; o < s->cap; o++) {
			if (s->used[o])
				(void)client_set_add(&big, s->keys[o]);
		}
		free(s->keys);
		free(s->used);
		*s = big;
	}
	i = client_set_slot(s, k);
	if (s->used[i])
		return false;
	s->used[i] = 1;
	s->keys[i] = k;
	s->n++;
	return true;
}

/* Addresses go into sets by their 64-bit hash. */
static uint64_t
client_addr_key(const char *addr)
{
	return hash_checksum(addr, strlen(addr));
}

/* Pass a warning line to the walk's callback. */
static void __attribute__((format(printf, 2, 3)))
client_walk_warn(struct client_walker *wk, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	if (wk->warn == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	wk->warn(wk->arg, line);
}

/* Queue the neighbours in m's list that were never queued. */
static void
client_walk_enqueue(struct client_walker *wk, const struct wire_membership *m)
{
	for (uint32_t i = 0; i < m->n; i++) {
		if (m->list[i].addr[0] == '\0' ||
		    !client_set_add(&wk->queued, m->list[i].id))
			continue;
		if (wk->qn == wk->qcap) {
			wk->qcap = wk->qcap ? 2 * wk->qcap : 64;
			wk->q = xreallocarray(wk->q, wk->qcap, sizeof *wk->q);
		}
		wk->q[wk->qn].id = m->list[i].id;
		memcpy(wk->q[wk->qn++].addr, m->list[i].addr, WIRE_ADDR_MAX);
	}
}

/*
 * Ask spec for STATUS, keep the node if it is new and queue its
 * neighbours.  p is how a neighbour list named it (NULL for the first
 * daemon).  Returns 0, or -1 with the reason in err.
 */
static int
client_walk_visit(struct client_walker *wk, const char *spec,
    const struct client_pending *p, char *err, size_t errlen)
{
	struct client_walk *w = wk->w;
	struct wire_membership m;
	struct client *c;
	uint32_t k = 0;
	char esc[256];
	int rc;

	if ((c = client_connect(spec, wk->timeout_ms, err, errlen)) == NULL)
		return -1;
	rc = client_request(c, WIRE_STATUS_REQ, 0, NULL, 0, WIRE_STATUS, &m,
	    &k, wk->timeout_ms);
	if (rc == -1)
		client_errf(err, errlen, "%s", client_error(c));
	client_close(c);
	if (rc == -1)
		return -1;
	log_escape(spec, strlen(spec), esc, sizeof esc);
	if (w->dims == 0)
		w->dims = m.dims;
	(void)client_set_add(&wk->dialled, client_addr_key(m.self.addr));
	if (m.dims != w->dims)
		client_walk_warn(wk, "node %016" PRIx64 " at %s has %d "
		    "dimensions, not %d: skipped", m.self.id, esc, m.dims,
		    w->dims);
	else if (client_set_add(&wk->seen, m.self.id)) {
		if (p != NULL && m.self.id != p->id)
			client_walk_warn(wk, "%s is now node %016" PRIx64
			    ", not %016" PRIx64, esc, m.self.id, p->id);
		if (w->n == 0)
			w->replicas = k;
		else if (k != w->replicas)
			client_walk_warn(wk, "node %016" PRIx64 " at %s has "
			    "replication factor %" PRIu32 ", not %" PRIu32,
			    m.self.id, esc, k, w->replicas);
		if (w->n == wk->cap) {
			wk->cap = wk->cap ? 2 * wk->cap : 64;
			w->nodes = xreallocarray(w->nodes, wk->cap,
			    sizeof *w->nodes);
		}
		w->nodes[w->n++] = m.self;
		(void)client_set_add(&wk->queued, m.self.id);
		client_walk_enqueue(wk, &m);
	}
	wire_membership_free(&m);
	return 0;
}

/* Order nodes by id, for stable output. */
static int
client_node_cmp(const void *a, const void *b)
{
	const struct wire_node *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

/* Walk the overlay from spec (see client.h). */
int
client_walk(const char *spec, int timeout_ms, size_t max_nodes,
    void (*warn)(void *, const char *), void *arg, struct client_walk *w,
    char *err, size_t errlen)
{
	struct client_walker wk = { .w = w, .timeout_ms = timeout_ms,
	    .warn = warn, .arg = arg };
	char why[512], esc[256];
	int rc = 0;

	memset(w, 0, sizeof *w);
	if (client_walk_visit(&wk, spec, NULL, err, errlen) == -1) {
		rc = -1;
		goto out;
	}
	for (size_t i = 0; i < wk.qn; i++) {
		const struct client_pending *p = &wk.q[i];

		if (w->n >= max_nodes) {
			client_walk_warn(&wk, "stopped the walk at %zu nodes",
			    max_nodes);
			break;
		}
		if (client_set_has(&wk.seen, p->id) ||
		    !client_set_add(&wk.dialled, client_addr_key(p->addr)))
			continue;
		if (client_walk_visit(&wk, p->addr, p, why, sizeof why) == -1) {
			client_walk_warn(&wk, "node %016" PRIx64 " at %s is "
			    "unreachable (it may be dead): %s", p->id,
			    log_escape(p->addr, strlen(p->addr), esc,
			    sizeof esc), why);
			w->lost = xreallocarray(w->lost, w->unreachable + 1,
			    sizeof *w->lost);
			memset(&w->lost[w->unreachable], 0, sizeof *w->lost);
			w->lost[w->unreachable].id = p->id;
			memcpy(w->lost[w->unreachable].addr, p->addr,
			    WIRE_ADDR_MAX);
			w->unreachable++;
		}
	}
	qsort(w->nodes, w->n, sizeof *w->nodes, client_node_cmp);
out:
	free(wk.q);
	free(wk.seen.keys);
	free(wk.seen.used);
	free(wk.queued.keys);
	free(wk.queued.used);
	free(wk.dialled.keys);
	free(wk.dialled.used);
	if (rc == -1)
		client_walk_free(w);
	return rc;
}

/* Free a walk's result. */
void
client_walk_free(struct client_walk *w)
{
	free(w->nodes);
	w->nodes = NULL;
	free(w->lost);
	w->lost = NULL;
	w->n = 0;
}
