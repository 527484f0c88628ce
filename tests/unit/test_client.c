/*
 * test_client.c: the blocking client library against a fake daemon.
 *
 * The fake daemon is a thread serving a Unix (or loopback TCP) socket in a
 * temporary directory.  Its mode says how it misbehaves: it answers
 * STATUS_REQ with a fixed membership body, sends unrelated frames first,
 * stays silent, answers late, sends a bad magic or an oversized header,
 * answers with an error, or hangs up.  For the multiplexed client it also
 * echoes requests out of order (in reversed batches), or hangs up after a
 * few requests without answering them.
 */
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "client.h"
#include "client_batch.h"
#include "usock.h"
#include "secure.h"
#include "wire.h"

enum fake_mode {
	FAKE_STATUS,	/* answer STATUS_REQ with the fixed membership */
	FAKE_UNRELATED,	/* two unrelated frames, then the answer */
	FAKE_SILENT,	/* read requests, never answer */
	FAKE_LATE,	/* answer the first request after 300 ms */
	FAKE_BADMAGIC,	/* answer with a header of the wrong magic */
	FAKE_HUGE,	/* answer with a body length over the limit */
	FAKE_ERROR,	/* answer with WIRE_ERROR */
	FAKE_HANGUP,	/* close right after accepting */
	FAKE_SHUFFLE,	/* echo each request's body in WIRE_OK, out of
			   order: requests are answered in reversed
			   batches of those that arrived together */
	FAKE_CLOSE_AFTER, /* read FAKE_CLOSE_N requests, answer none, close */
	FAKE_PROGRESS,	/* two WIRE_PROGRESS frames, then the echo */
	FAKE_OBJ_BATCH,	/* answer OBJ_BATCH item by item (fake_batch_item) */
	FAKE_BATCH_SHORT, /* ... with one result too few */
	FAKE_BATCH_KEY,	/* ... with the first result for another key */
};

#define FAKE_CLOSE_N 4
#define FAKE_BATCH 16	/* FAKE_SHUFFLE: at most this many per batch */

/* One fake daemon and its temporary directory. */
struct fake {
	char dir[64];
	char path[100];		/* the Unix socket */
	char spec[160];		/* how to reach it */
	int lfd;
	enum fake_mode mode;
	bool secure;		/* TCP with the fake_key handshake */
	bool tamper;		/* secure: corrupt the first reply's record */
	atomic_int stop;
	atomic_int nreq;	/* requests seen, over all connections */
	atomic_int reordered;	/* FAKE_SHUFFLE: batches of more than one */
	pthread_t thread;
};

#define FAKE_SELF_ID 0x1122334455667788ULL
#define FAKE_PEER_ID 0xaabbccddeeff0011ULL
#define FAKE_UNREACHABLE "127.0.0.1:1"

/* The fixed membership body: node owns the low half, one neighbour. */
static void
fake_membership(struct wire_membership *m, struct wire_node *peer)
{
	memset(m, 0, sizeof *m);
	memset(peer, 0, sizeof *peer);
	m->dims = 2;
	m->a = 123456;
	m->b = 42;
	m->self.id = FAKE_SELF_ID;
	m->self.inc = 99;
	m->self.epoch = 7;
	snprintf(m->self.addr, sizeof m->self.addr, "127.0.0.1:7400");
	m->self.nzones = 1;
	m->self.zones[0].bits[0] = 31;
	m->self.zones[0].bits[1] = 32;
	peer->id = FAKE_PEER_ID;
	snprintf(peer->addr, sizeof peer->addr, FAKE_UNREACHABLE);
	peer->nzones = 1;
	peer->zones[0].lo[0] = 1u << 31;
	peer->zones[0].bits[0] = 31;
	peer->zones[0].bits[1] = 32;
	m->n = 1;
	m->list = peer;
}

/*
 * The fake daemon's secure session with the connection it serves (NULL
 * for plaintext), and the plaintext opened but not yet read.  The fake
 * serves one connection at a time on its own thread.
 */
static __thread struct secure_session *fake_sec;
static __thread uint8_t fake_plain[SECURE_RECORD_MAX];
static __thread size_t fake_plain_off, fake_plain_len;
static __thread bool fake_tamper;	/* flip a bit in the next record */

/* Write a buffer: as it is, or sealed into records. */
static void
fake_write(int fd, const void *p, size_t len)
{
	static __thread uint8_t rec[SECURE_RECORD_WIRE_MAX];
	const uint8_t *b = p;

	if (fake_sec == NULL) {
		usock_write(fd, p, len);
		return;
	}
	while (len > 0) {
		size_t n = len < SECURE_RECORD_MAX ? len : SECURE_RECORD_MAX;

		if (secure_seal(fake_sec, b, n, rec) != 0)
			return;
		if (fake_tamper) {
			rec[SECURE_RECORD_HDR + 1] ^= 0x10;
			fake_tamper = false;
		}
		usock_write(fd, rec, secure_sealed_len(n));
		b += n;
		len -= n;
	}
}

/* Read exactly len bytes of plaintext; -1 on EOF or error. */
static int
fake_read(int fd, void *p, size_t len)
{
	static __thread uint8_t rec[SECURE_RECORD_WIRE_MAX];
	uint8_t *b = p;

	if (fake_sec == NULL)
		return usock_read(fd, p, len);
	while (len > 0) {
		size_t n = fake_plain_len - fake_plain_off, size;

		if (n == 0) {
			if (usock_read(fd, rec, SECURE_RECORD_HDR) == -1 ||
			    (size = secure_record_size(fake_sec, rec)) == 0 ||
			    usock_read(fd, rec + SECURE_RECORD_HDR,
			    size - SECURE_RECORD_HDR) == -1 ||
			    secure_open(fake_sec, rec, size, fake_plain,
			    &fake_plain_len) != 0)
				return -1;
			fake_plain_off = 0;
			continue;
		}
		if (n > len)
			n = len;
		memcpy(b, fake_plain + fake_plain_off, n);
		fake_plain_off += n;
		b += n;
		len -= n;
	}
	return 0;
}

/* The cluster secret of the secure tests. */
static const struct secure_key fake_key = { .k = {
	1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
	17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32 } };

/* The daemon's side of the secure handshake.  0, or -1 (then hang up). */
static int
fake_handshake(int fd)
{
	uint8_t msg[SECURE_HS_MSG_MAX], out[SECURE_HS_MSG_MAX];
	size_t need, outlen;

	fake_sec = secure_session_new(&fake_key, SECURE_RESPONDER, msg);
	fake_plain_off = fake_plain_len = 0;
	usock_write(fd, msg, SECURE_HELLO_LEN);
	while ((need = secure_hs_need(fake_sec)) > 0) {
		if (usock_read(fd, msg, need) == -1 ||
		    secure_hs_consume(fake_sec, msg, need, out, &outlen) != 0)
			return -1;
		if (outlen > 0)
			usock_write(fd, out, outlen);
	}
	return 0;
}

/* Send a frame of a type with the fixed membership body. */
static void
fake_send_status(int fd, uint16_t type, uint64_t reqid)
{
	struct wire_membership m;
	struct wire_node peer;
	struct wbuf w;

	fake_membership(&m, &peer);
	wbuf_init(&w);
	wire_frame_begin(&w, type, 3, reqid);
	wire_membership_encode(&w, &m);
	wire_frame_end(&w);
	fake_write(fd, w.p, w.len);
	wbuf_free(&w);
}

/* Answer one request according to the mode. */
static void
fake_answer(struct fake *f, int fd, const struct wire_header *h)
{
	uint8_t raw[WIRE_HEADER_LEN];
	struct wbuf w;

	wbuf_init(&w);
	switch (f->mode) {
	case FAKE_UNRELATED:
		fake_send_status(fd, WIRE_HEARTBEAT, 0);
		fake_send_status(fd, WIRE_STATUS, h->reqid + 1000);
		/* FALLTHROUGH */
	case FAKE_STATUS:
		fake_send_status(fd, WIRE_STATUS, h->reqid);
		break;
	case FAKE_LATE:
		if (f->nreq == 1)
			usleep(300 * 1000);
		fake_send_status(fd, WIRE_STATUS, h->reqid);
		break;
	case FAKE_BADMAGIC:
	case FAKE_HUGE:
		wire_frame_begin(&w, WIRE_STATUS, 0, h->reqid);
		wire_frame_end(&w);
		memcpy(raw, w.p, sizeof raw);
		if (f->mode == FAKE_BADMAGIC)
			memcpy(raw, "HTTP", 4);
		else
			memcpy(raw + 12, "\xff\xff\xff\x7f", 4);
		fake_write(fd, raw, sizeof raw);
		break;
	case FAKE_ERROR:
		wire_frame_begin(&w, WIRE_ERROR, 0, h->reqid);
		wire_error_encode(&w, WIRE_E_NOROUTE, "no closer neighbour");
		wire_frame_end(&w);
		fake_write(fd, w.p, w.len);
		break;
	case FAKE_SILENT:
	case FAKE_HANGUP:
	case FAKE_SHUFFLE:
	case FAKE_CLOSE_AFTER:
	case FAKE_PROGRESS:
	case FAKE_OBJ_BATCH:
	case FAKE_BATCH_SHORT:
	case FAKE_BATCH_KEY:
		break;
	}
	wbuf_free(&w);
}

/* Send WIRE_OK echoing a body, as a reply to reqid. */
static void
fake_echo(int fd, uint16_t type, uint64_t reqid, const uint8_t *body,
    size_t len)
{
	struct wbuf w;

	wbuf_init(&w);
	wire_frame_begin(&w, type, 0, reqid);
	wbuf_put_bytes(&w, body, len);
	wire_frame_end(&w);
	fake_write(fd, w.p, w.len);
	wbuf_free(&w);
}

/* A request kept for a later answer. */
struct fake_req {
	uint64_t reqid;
	uint8_t *body;
	size_t len;
};

/*
 * FAKE_SHUFFLE: read what has arrived (up to FAKE_BATCH requests, waiting
 * at most 5 ms for more), answer it last first, repeat until EOF.
 */
static void
fake_serve_shuffle(struct fake *f, int fd)
{
	struct fake_req q[FAKE_BATCH];
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	uint8_t raw[WIRE_HEADER_LEN];
	struct wire_header h;
	const char *why;

	for (;;) {
		size_t n = 0;

		while (n < FAKE_BATCH && (n == 0 || poll(&pfd, 1, 5) > 0)) {
			if (fake_read(fd, raw, sizeof raw) == -1 ||
			    wire_header_decode(raw, &h, &why) == -1)
				goto out;
			q[n].reqid = h.reqid;
			q[n].len = h.len;
			q[n].body = malloc(h.len ? h.len : 1);
			if (q[n].body == NULL ||
			    fake_read(fd, q[n].body, h.len) == -1) {
				free(q[n].body);
				goto out;
			}
			n++;
			f->nreq++;
		}
		if (n > 1)
			f->reordered++;
		while (n > 0) {
			n--;
			fake_echo(fd, WIRE_OK, q[n].reqid, q[n].body, q[n].len);
			free(q[n].body);
		}
	}
out:
	return;
}

/*
 * The fake's answer to sub-request it: a GET of key.lo % 3 == 0 gets the
 * value "v<lo>" at version lo, 1 NOTFOUND (no text), 2 TOOBIG (a text
 * with a control byte); a PUT gets version op.seq, or CONFLICT when it
 * is "if absent"; a DEL version 1000 + op.seq.
 */
static void
fake_batch_item(const struct wire_batch_item *it, struct wire_batch_item *out,
    char *val, size_t valsz)
{
	uint64_t lo = it->o.key.lo;

	memset(out, 0, sizeof *out);
	out->o.key = it->o.key;
	if (it->type == WIRE_OBJ_GET && lo % 3 != 0) {
		out->type = WIRE_ERROR;
		out->code = lo % 3 == 1 ? WIRE_E_NOTFOUND : WIRE_E_TOOBIG;
		if (lo % 3 == 2)
			snprintf(out->msg, sizeof out->msg, "full\x01");
	} else if (it->type == WIRE_OBJ_GET) {
		out->type = WIRE_OBJ_VALUE;
		out->o.meta.version = lo;
		out->o.data = (const uint8_t *)val;
		out->o.len = (uint32_t)snprintf(val, valsz, "v%llu",
		    (unsigned long long)lo);
	} else if (it->type == WIRE_OBJ_PUT &&
	    it->o.cond == WIRE_COND_ABSENT) {
		out->type = WIRE_ERROR;
		out->code = WIRE_E_CONFLICT;
		snprintf(out->msg, sizeof out->msg, "exists");
	} else {
		out->type = WIRE_OBJ_DONE;
		out->o.meta.version = it->o.meta.op.seq +
		    (it->type == WIRE_OBJ_DEL ? 1000 : 0);
	}
}

/* Answer an OBJ_BATCH (FAKE_OBJ_BATCH, _SHORT, _KEY); -1: close. */
static int
fake_batch(struct fake *f, int fd, const struct wire_header *h,
    const uint8_t *body)
{
	static char vals[WIRE_BATCH_MAX][32];
	struct wire_batch req, rep;
	struct wbuf w;

	if (h->type != WIRE_OBJ_BATCH ||
	    wire_batch_decode(body, h->len, &req) != 0)
		return -1;
	rep.n = req.n;
	rep.items = calloc(req.n, sizeof *rep.items);
	assert_non_null(rep.items);
	for (uint32_t i = 0; i < req.n; i++)
		fake_batch_item(&req.items[i], &rep.items[i], vals[i],
		    sizeof vals[i]);
	if (f->mode == FAKE_BATCH_SHORT && rep.n > 1)
		rep.n--;
	if (f->mode == FAKE_BATCH_KEY)
		rep.items[0].o.key.hi ^= 1;
	wbuf_init(&w);
	wire_frame_begin(&w, WIRE_OBJ_BATCH_REPLY, 0, h->reqid);
	wire_batch_encode(&w, &rep);
	wire_frame_end(&w);
	fake_write(fd, w.p, w.len);
	wbuf_free(&w);
	free(rep.items);
	wire_batch_free(&req);
	return 0;
}

/* Serve one connection until the client goes away. */
static void
fake_serve(struct fake *f, int fd)
{
	uint8_t raw[WIRE_HEADER_LEN], *body;
	struct wire_header h;
	const char *why;

	if (f->mode == FAKE_HANGUP)
		return;
	if (f->mode == FAKE_SHUFFLE) {
		fake_serve_shuffle(f, fd);
		return;
	}
	while (fake_read(fd, raw, sizeof raw) == 0) {
		if (wire_header_decode(raw, &h, &why) == -1)
			return;
		body = malloc(h.len ? h.len : 1);
		if (body == NULL || fake_read(fd, body, h.len) == -1) {
			free(body);
			return;
		}
		f->nreq++;
		if ((f->mode == FAKE_OBJ_BATCH || f->mode == FAKE_BATCH_SHORT ||
		    f->mode == FAKE_BATCH_KEY) && fake_batch(f, fd, &h,
		    body) == -1) {
			free(body);
			return;
		}
		if (f->mode == FAKE_PROGRESS) {
			fake_echo(fd, WIRE_PROGRESS, h.reqid, NULL, 0);
			fake_echo(fd, WIRE_PROGRESS, h.reqid, NULL, 0);
			fake_echo(fd, WIRE_OK, h.reqid, body, h.len);
		}
		free(body);
		if (f->mode == FAKE_CLOSE_AFTER && f->nreq == FAKE_CLOSE_N)
			return;
		fake_answer(f, fd, &h);
	}
}

/* The fake daemon's thread: accept and serve until told to stop. */
static void *
fake_main(void *arg)
{
	struct fake *f = arg;
	struct pollfd pfd = { .fd = f->lfd, .events = POLLIN };

	while (!f->stop) {
		int fd;

		if (poll(&pfd, 1, 20) <= 0)
			continue;
		if ((fd = accept(f->lfd, NULL, NULL)) == -1)
			continue;
		fake_tamper = f->tamper;
		if (!f->secure || fake_handshake(fd) == 0)
			fake_serve(f, fd);
		secure_session_free(fake_sec);
		fake_sec = NULL;
		close(fd);
	}
	return NULL;
}

/* Start a fake daemon on a Unix socket in a new temporary directory. */
static struct fake *
fake_start(enum fake_mode mode)
{
	struct fake *f = calloc(1, sizeof *f);

	assert_non_null(f);
	snprintf(f->dir, sizeof f->dir, "/tmp/test_client.XXXXXX");
	f->lfd = usock_listen(f->dir, f->path, sizeof f->path, "canfsd.sock");
	snprintf(f->spec, sizeof f->spec, "unix:%s", f->path);
	f->mode = mode;
	assert_int_equal(pthread_create(&f->thread, NULL, fake_main, f), 0);
	return f;
}

/*
 * Start a fake daemon on a loopback TCP port that requires the secure
 * handshake with fake_key (the client must have it set).
 */
static struct fake *
fake_start_secure(enum fake_mode mode, bool tamper)
{
	struct fake *f = calloc(1, sizeof *f);
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof sin;

	assert_non_null(f);
	f->mode = mode;
	f->secure = true;
	f->tamper = tamper;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	f->lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(f->lfd >= 0);
	assert_int_equal(bind(f->lfd, (struct sockaddr *)&sin, sizeof sin), 0);
	assert_int_equal(listen(f->lfd, 8), 0);
	assert_int_equal(getsockname(f->lfd, (struct sockaddr *)&sin, &len), 0);
	snprintf(f->spec, sizeof f->spec, "127.0.0.1:%u", ntohs(sin.sin_port));
	assert_int_equal(pthread_create(&f->thread, NULL, fake_main, f), 0);
	return f;
}

/* Stop a fake daemon and remove its files. */
static void
fake_stop(struct fake *f)
{
	f->stop = 1;
	pthread_join(f->thread, NULL);
	close(f->lfd);
	if (f->path[0] != '\0') {
		unlink(f->path);
		rmdir(f->dir);
	}
	free(f);
}

/* Milliseconds on the monotonic clock. */
static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Connect to a fake daemon, which must work. */
static struct client *
connect_ok(const struct fake *f)
{
	char err[256];
	struct client *c = client_connect(f->spec, 1000, err, sizeof err);

	if (c == NULL)
		fail_msg("connect: %s", err);
	return c;
}

/* Check a STATUS reply against the fixed membership. */
static void
check_status(const struct wire_header *h, const uint8_t *body, size_t len)
{
	struct wire_membership m;

	assert_int_equal(h->type, WIRE_STATUS);
	assert_int_equal(h->flags, 3);
	assert_int_equal(h->len, len);
	assert_int_equal(wire_membership_decode(body, len, &m), 0);
	assert_int_equal(m.dims, 2);
	assert_true(m.self.id == FAKE_SELF_ID);
	assert_string_equal(m.self.addr, "127.0.0.1:7400");
	assert_int_equal(m.self.nzones, 1);
	assert_int_equal(m.self.zones[0].bits[0], 31);
	assert_true(m.a == 123456 && m.b == 42);
	assert_int_equal(m.n, 1);
	assert_true(m.list[0].id == FAKE_PEER_ID);
	wire_membership_free(&m);
}

/* A call round trip; request ids count up per connection. */
static void
test_roundtrip(void **state)
{
	struct fake *f = fake_start(FAKE_STATUS);
	struct client *c = connect_ok(f);
	struct wire_header h;
	uint8_t *body = NULL;
	size_t len = 0;
	uint64_t first;

	(void)state;
	assert_int_equal(client_call(c, WIRE_STATUS_REQ, 0, NULL, 0, &h,
	    &body, &len, 1000), 0);
	check_status(&h, body, len);
	free(body);
	first = h.reqid;
	assert_true(first != 0);
	assert_int_equal(client_call(c, WIRE_STATUS_REQ, 0, NULL, 0, &h,
	    &body, &len, 1000), 0);
	check_status(&h, body, len);
	free(body);
	assert_true(h.reqid == first + 1);
	/* Outputs may be discarded. */
	assert_int_equal(client_call(c, WIRE_STATUS_REQ, 0, NULL, 0, NULL,
	    NULL, NULL, 1000), 0);
	assert_string_equal(client_error(c), "");
	assert_string_equal(client_peer(c), f->spec);
	client_close(c);
	assert_int_equal(f->nreq, 3);
	fake_stop(f);
}

/* Frames with other request ids are skipped. */
static void
test_reqid_match(void **state)
{
	struct fake *f = fake_start(FAKE_UNRELATED);
	struct client *c = connect_ok(f);
	struct wire_membership m;
	struct wire_header h;
	uint8_t *body = NULL;
	size_t len = 0;
	uint32_t k = 0;

	(void)state;
	assert_int_equal(client_call(c, WIRE_STATUS_REQ, 0, NULL, 0, &h,
	    &body, &len, 1000), 0);
	check_status(&h, body, len);
	free(body);
	/* And through client_request, which checks the type and decodes. */
	assert_int_equal(client_request(c, WIRE_STATUS_REQ, 0, NULL, 0,
	    WIRE_STATUS, &m, &k, 1000), 0);
	assert_true(m.self.id == FAKE_SELF_ID);
	assert_int_equal(k, 3);
	wire_membership_free(&m);
	client_close(c);
	fake_stop(f);
}

/* A silent daemon: the call times out on time, the link survives. */
static void
test_timeout(void **state)
{
	struct fake *f = fake_start(FAKE_SILENT);
	struct client *c = connect_ok(f);
	long long t0 = now_ms(), dt;

	(void)state;
	assert_int_equal(client_call(c, WIRE_STATUS_REQ, 0, NULL, 0, NULL,
	    NULL, NULL, 200), -1);
	dt = now_ms() - t0;
	assert_true(dt >= 190 && dt < 2000);
	assert_non_null(strstr(client_error(c), "timed out after 200 ms"));
	assert_non_null(strstr(client_error(c), f->spec));
	assert_false(client_broken(c));
	client_close(c);
	fake_stop(f);
}

/* A reply that comes after its call timed out is skipped by the next. */
static void
test_late_reply(void **state)
{
	struct fake *f = fake_start(FAKE_LATE);
	struct client *c = connect_ok(f);
	struct wire_header h;
	uint8_t *body = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(client_call(c, WIRE_STATUS_REQ, 0, NULL, 0, &h,
	    NULL, NULL, 100), -1);
	assert_false(client_broken(c));
	assert_int_equal(client_call(c, WIRE_STATUS_REQ, 0, NULL, 0, &h,
	    &body, &len, 2000), 0);
	check_status(&h, body, len);
	free(body);
	assert_true(h.reqid == 2);
	client_close(c);
	fake_stop(f);
}

/* A bad magic breaks the connection with a clear reason. */
static void
test_bad_magic(void **state)
{
	struct fake *f = fake_start(FAKE_BADMAGIC);
	struct client *c = connect_ok(f);
	char first[512];

	(void)state;
	assert_int_equal(client_call(c, WIRE_STATUS_REQ, 0, NULL, 0, NULL,
	    NULL, NULL, 1000), -1);
	assert_non_null(strstr(client_error(c), "bad magic"));
	assert_true(client_broken(c));
	snprintf(first, sizeof first, "%s", client_error(c));
	/* Later calls fail at once, keeping the first reason. */
	assert_int_equal(client_call(c, WIRE_STATUS_REQ, 0, NULL, 0, NULL,
	    NULL, NULL, 1000), -1);
	assert_string_equal(client_error(c), first);
	client_close(c);
	assert_int_equal(f->nreq, 1);
	fake_stop(f);
}

/* A header announcing a body over WIRE_MAX_BODY is refused. */
static void
test_huge_body(void **state)
{
	struct fake *f = fake_start(FAKE_HUGE);
	struct client *c = connect_ok(f);

	(void)state;
	assert_int_equal(client_call(c, WIRE_STATUS_REQ, 0, NULL, 0, NULL,
	    NULL, NULL, 1000), -1);
	assert_non_null(strstr(client_error(c), "too long"));
	assert_true(client_broken(c));
	client_close(c);
	fake_stop(f);
}

/* An error reply: its message and code; the link stays usable. */
static void
test_error_reply(void **state)
{
	struct fake *f = fake_start(FAKE_ERROR);
	struct client *c = connect_ok(f);
	struct wire_header h;

	(void)state;
	assert_int_equal(client_call(c, WIRE_ROUTE_REQ, 0, "\x01\0\0\0\0", 5,
	    &h, NULL, NULL, 1000), 0);
	assert_int_equal(h.type, WIRE_ERROR);
	assert_int_equal(client_request(c, WIRE_STATUS_REQ, 0, NULL, 0,
	    WIRE_STATUS, NULL, NULL, 1000), -1);
	assert_string_equal(client_error(c), "no closer neighbour");
	assert_int_equal(client_error_code(c), WIRE_E_NOROUTE);
	assert_false(client_broken(c));
	client_close(c);
	fake_stop(f);
}

/*
 * The daemon hangs up: a clean error and no SIGPIPE, even while a large
 * request is being written.
 */
static void
test_hangup(void **state)
{
	struct fake *f = fake_start(FAKE_HANGUP);
	size_t big = 4u << 20;
	uint8_t *body = calloc(1, big);
	struct client *c;

	(void)state;
	assert_non_null(body);
	signal(SIGPIPE, SIG_DFL); /* a SIGPIPE would kill the test */
	c = connect_ok(f);
	assert_int_equal(client_call(c, WIRE_STATUS_REQ, 0, body, big, NULL,
	    NULL, NULL, 2000), -1);
	assert_true(client_broken(c));
	assert_true(strstr(client_error(c), "closed") != NULL ||
	    strstr(client_error(c), "Broken pipe") != NULL ||
	    strstr(client_error(c), "reset") != NULL);
	client_close(c);
	free(body);
	fake_stop(f);
}

/* A missing socket: NULL and a message naming it and the reason. */
static void
test_connect_missing(void **state)
{
	char dir[] = "/tmp/test_client.XXXXXX", spec[128], want[256];
	char err[256];

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(spec, sizeof spec, "unix:%s/nope.sock", dir);
	assert_null(client_connect(spec, 500, err, sizeof err));
	snprintf(want, sizeof want, "cannot connect to %s: "
	    "No such file or directory", spec);
	assert_string_equal(err, want);
	rmdir(dir);
}

/* TCP: a closed port is refused with the usual message. */
static void
test_connect_refused(void **state)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof sin;
	char spec[64], want[128], err[256];
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	(void)state;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	close(fd); /* bound, never listened: the port is now closed */
	snprintf(spec, sizeof spec, "127.0.0.1:%u", ntohs(sin.sin_port));
	assert_null(client_connect(spec, 1000, err, sizeof err));
	snprintf(want, sizeof want, "cannot connect to %s: "
	    "Connection refused", spec);
	assert_string_equal(err, want);
}

/* TCP to a listening loopback port works, by number and by name. */
static void
test_connect_tcp(void **state)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof sin;
	char spec[64], err[256];
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct client *c;

	(void)state;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
	assert_int_equal(listen(fd, 4), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	snprintf(spec, sizeof spec, "127.0.0.1:%u", ntohs(sin.sin_port));
	c = client_connect(spec, 1000, err, sizeof err);
	assert_non_null(c);
	client_close(c);
	snprintf(spec, sizeof spec, "localhost:%u", ntohs(sin.sin_port));
	c = client_connect(spec, 1000, err, sizeof err);
	if (c == NULL) /* localhost may resolve to ::1 first, unlistened */
		assert_non_null(strstr(err, "cannot connect to localhost"));
	client_close(c);
	close(fd);
}

/* Malformed specs are refused before any connect. */
static void
test_bad_specs(void **state)
{
	static const char *bad[] = {
		"nocolon", "::1:7400", "[::1", "[::1]7400", "host:", ":7400",
		"unix:", "[]:7400",
	};
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err[0] = '\0';
		assert_null(client_connect(bad[i], 100, err, sizeof err));
		assert_non_null(strstr(err, "bad daemon address"));
	}
	/* A NULL error buffer is allowed. */
	assert_null(client_connect("nocolon", 100, NULL, 0));
}

/* Collects walk warnings. */
static void
walk_warn(void *arg, const char *line)
{
	int *n = arg;

	(*n)++;
	assert_non_null(strstr(line, FAKE_UNREACHABLE));
}

/* A walk of one live node whose neighbour does not answer. */
static void
test_walk(void **state)
{
	struct fake *f = fake_start(FAKE_STATUS);
	struct client_walk w;
	char err[256];
	int warnings = 0;

	(void)state;
	assert_int_equal(client_walk(f->spec, 1000, 100, walk_warn, &warnings,
	    &w, err, sizeof err), 0);
	assert_int_equal(w.dims, 2);
	assert_int_equal(w.n, 1);
	assert_true(w.nodes[0].id == FAKE_SELF_ID);
	assert_int_equal(w.unreachable, 1);
	assert_int_equal(warnings, 1);
	client_walk_free(&w);
	fake_stop(f);
	/* The first daemon missing fails the walk. */
	assert_int_equal(client_walk("unix:/nonexistent/x.sock", 500, 100,
	    NULL, NULL, &w, err, sizeof err), -1);
	assert_non_null(strstr(err, "cannot connect"));
}


/* ---- The multiplexed connection ---- */

/* Connect a mux to a fake daemon, which must work. */
static struct client_mux *
mux_ok(const struct fake *f)
{
	char err[256];
	struct client_mux *m = client_mux_connect(f->spec, 1000, err,
	    sizeof err);

	if (m == NULL)
		fail_msg("mux connect: %s", err);
	return m;
}

#define MUX_THREADS 8
#define MUX_PER_THREAD 300
#define MUX_WINDOW 6

/* One worker of test_mux_concurrent. */
struct mux_worker {
	struct client_mux *m;
	int id;
	pthread_t t;
	int ok, bad;		/* replies that matched / did not */
	char why[256];		/* the first mismatch */
};

/* The body of request i of worker w: distinct, of varying length. */
static size_t
mux_body(const struct mux_worker *w, int i, uint8_t *buf, size_t cap)
{
	size_t len = (size_t)snprintf((char *)buf, cap, "w%d-r%d:", w->id, i);
	size_t pad = (size_t)((w->id * 7919 + i * 104729) % 3000);

	if (i % 50 == 0)
		pad += 200000; /* now and then a body that takes several reads */
	if (len + pad > cap)
		pad = cap - len;
	for (size_t j = 0; j < pad; j++)
		buf[len + j] = (uint8_t)(w->id + i + j);
	return len + pad;
}

/*
 * Issue MUX_PER_THREAD requests, MUX_WINDOW in flight (odd workers) or
 * one at a time (even ones), and check that every reply is the echo of
 * its own request.
 */
static void *
mux_work(void *arg)
{
	struct mux_worker *w = arg;
	struct client_req *inflight[MUX_WINDOW];
	size_t cap = 256 * 1024;
	uint8_t *buf = malloc(cap), *want = malloc(cap);
	int window = w->id % 2 ? MUX_WINDOW : 1, sent = 0, done = 0;

	while (done < MUX_PER_THREAD) {
		struct wire_header h;
		uint8_t *body = NULL;
		size_t len = 0, wl;

		while (sent < MUX_PER_THREAD && sent - done < window) {
			size_t n = mux_body(w, sent, buf, cap);

			inflight[sent % MUX_WINDOW] = client_mux_send(w->m,
			    WIRE_STATUS_REQ, 0, buf, n, 5000);
			sent++;
		}
		wl = mux_body(w, done, want, cap);
		if (client_req_wait(inflight[done % MUX_WINDOW], &h, &body,
		    &len) == 0 && h.type == WIRE_OK && len == wl &&
		    memcmp(body, want, wl) == 0)
			w->ok++;
		else if (w->bad++ == 0)
			snprintf(w->why, sizeof w->why, "request %d: %s", done,
			    client_req_error(inflight[done % MUX_WINDOW]));
		free(body);
		client_req_free(inflight[done % MUX_WINDOW]);
		done++;
	}
	free(buf);
	free(want);
	return NULL;
}

/*
 * Many threads, many requests in flight on one connection, replies out of
 * order: each caller gets its own reply.
 */
static void
test_mux_concurrent(void **state)
{
	struct fake *f = fake_start(FAKE_SHUFFLE);
	struct client_mux *m = mux_ok(f);
	struct mux_worker w[MUX_THREADS];

	(void)state;
	for (int i = 0; i < MUX_THREADS; i++) {
		memset(&w[i], 0, sizeof w[i]);
		w[i].m = m;
		w[i].id = i;
		assert_int_equal(pthread_create(&w[i].t, NULL, mux_work,
		    &w[i]), 0);
	}
	for (int i = 0; i < MUX_THREADS; i++) {
		pthread_join(w[i].t, NULL);
		if (w[i].bad > 0)
			fail_msg("worker %d: %d bad replies; first: %s", i,
			    w[i].bad, w[i].why);
		assert_int_equal(w[i].ok, MUX_PER_THREAD);
	}
	assert_int_equal(f->nreq, MUX_THREADS * MUX_PER_THREAD);
	assert_true(f->reordered > 0); /* replies did come out of order */
	assert_int_equal(client_mux_inflight(m), 0);
	assert_false(client_mux_broken(m));
	assert_string_equal(client_mux_error(m), "");
	assert_string_equal(client_mux_peer(m), f->spec);
	client_mux_close(m);
	fake_stop(f);
}

/*
 * A request that timed out fails alone; its late reply is skipped and the
 * next request gets its own.
 */
static void
test_mux_late_reply(void **state)
{
	struct fake *f = fake_start(FAKE_LATE);
	struct client_mux *m = mux_ok(f);
	struct client_req *r;
	struct wire_header h;
	uint8_t *body = NULL;
	size_t len = 0;
	long long t0 = now_ms(), dt;

	(void)state;
	r = client_mux_send(m, WIRE_STATUS_REQ, 0, NULL, 0, 100);
	assert_int_equal(client_req_wait(r, &h, NULL, NULL), -1);
	dt = now_ms() - t0;
	assert_true(dt >= 90 && dt < 2000);
	assert_non_null(strstr(client_req_error(r), "timed out after 100 ms"));
	assert_non_null(strstr(client_req_error(r), f->spec));
	assert_false(client_req_broken(r));
	client_req_free(r);
	assert_int_equal(client_mux_inflight(m), 0);
	assert_false(client_mux_broken(m));
	r = client_mux_send(m, WIRE_STATUS_REQ, 0, NULL, 0, 2000);
	assert_int_equal(client_req_wait(r, &h, &body, &len), 0);
	check_status(&h, body, len);
	assert_true(h.reqid == 2); /* not the late reply to request 1 */
	free(body);
	client_req_free(r);
	client_mux_close(m);
	fake_stop(f);
}

/* A waiter of test_mux_broken. */
struct mux_waiter {
	struct client_mux *m;
	pthread_t t;
	int rc;
	bool broken;
	long long ms;
	char err[512];
};

static void *
mux_wait_one(void *arg)
{
	struct mux_waiter *w = arg;
	long long t0 = now_ms();
	struct client_req *r = client_mux_send(w->m, WIRE_STATUS_REQ, 0, NULL,
	    0, 10000);

	w->rc = client_req_wait(r, NULL, NULL, NULL);
	w->ms = now_ms() - t0;
	w->broken = client_req_broken(r);
	snprintf(w->err, sizeof w->err, "%s", client_req_error(r));
	client_req_free(r);
	return NULL;
}

/*
 * The daemon hangs up with requests pending: every waiter fails at once
 * (not at its 10 s timeout) with the reason, and so does any later call.
 */
static void
test_mux_broken(void **state)
{
	struct fake *f = fake_start(FAKE_CLOSE_AFTER);
	struct client_mux *m = mux_ok(f);
	struct mux_waiter w[FAKE_CLOSE_N];
	struct client_req *r;
	long long t0;

	(void)state;
	for (int i = 0; i < FAKE_CLOSE_N; i++) {
		memset(&w[i], 0, sizeof w[i]);
		w[i].m = m;
		assert_int_equal(pthread_create(&w[i].t, NULL, mux_wait_one,
		    &w[i]), 0);
	}
	for (int i = 0; i < FAKE_CLOSE_N; i++) {
		pthread_join(w[i].t, NULL);
		assert_int_equal(w[i].rc, -1);
		assert_true(w[i].broken);
		assert_true(w[i].ms < 3000);
		assert_non_null(strstr(w[i].err, "connection closed by the "
		    "daemon"));
	}
	assert_true(client_mux_broken(m));
	assert_non_null(strstr(client_mux_error(m), "closed"));
	/* Later requests fail at once, with the same reason. */
	t0 = now_ms();
	r = client_mux_send(m, WIRE_STATUS_REQ, 0, NULL, 0, 10000);
	assert_int_equal(client_req_wait(r, NULL, NULL, NULL), -1);
	assert_true(now_ms() - t0 < 1000);
	assert_true(client_req_broken(r));
	assert_string_equal(client_req_error(r), client_mux_error(m));
	client_req_free(r);
	client_mux_close(m);
	fake_stop(f);
}

/*
 * A malformed header from the daemon (bad magic, a body over the limit)
 * fails every pending request cleanly with the reason.
 */
static void
test_mux_bad_header(void **state)
{
	static const struct {
		enum fake_mode mode;
		const char *why;
	} cases[] = {
		{ FAKE_BADMAGIC, "bad magic" },
		{ FAKE_HUGE, "too long" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct fake *f = fake_start(cases[i].mode);
		struct client_mux *m = mux_ok(f);
		struct client_req *r[4];

		for (int j = 0; j < 4; j++)
			r[j] = client_mux_send(m, WIRE_STATUS_REQ, 0, NULL, 0,
			    5000);
		for (int j = 0; j < 4; j++) {
			assert_int_equal(client_req_wait(r[j], NULL, NULL,
			    NULL), -1);
			assert_true(client_req_broken(r[j]));
			assert_non_null(strstr(client_req_error(r[j]),
			    cases[i].why));
			client_req_free(r[j]);
		}
		assert_true(client_mux_broken(m));
		client_mux_close(m);
		fake_stop(f);
	}
}

/* Typed waits: a membership reply, an error reply (link stays usable). */
static void
test_mux_typed(void **state)
{
	struct fake *f = fake_start(FAKE_STATUS);
	struct client_mux *m = mux_ok(f);
	struct wire_membership mb;
	struct client_req *r;
	uint32_t k = 0;

	(void)state;
	r = client_mux_send(m, WIRE_STATUS_REQ, 0, NULL, 0, 1000);
	assert_int_equal(client_req_reply(r, WIRE_STATUS, &mb, &k), 0);
	assert_true(mb.self.id == FAKE_SELF_ID);
	assert_int_equal(k, 3);
	wire_membership_free(&mb);
	client_req_free(r);
	/* The wrong type of reply is an error, not a broken link. */
	r = client_mux_send(m, WIRE_STATUS_REQ, 0, NULL, 0, 1000);
	assert_int_equal(client_req_reply(r, WIRE_OK, NULL, NULL), -1);
	assert_non_null(strstr(client_req_error(r), "unexpected reply"));
	assert_false(client_req_broken(r));
	client_req_free(r);
	client_mux_close(m);
	fake_stop(f);

	f = fake_start(FAKE_ERROR);
	m = mux_ok(f);
	r = client_mux_send(m, WIRE_STATUS_REQ, 0, NULL, 0, 1000);
	assert_int_equal(client_req_reply(r, WIRE_STATUS, NULL, NULL), -1);
	assert_string_equal(client_req_error(r), "no closer neighbour");
	assert_int_equal(client_req_error_code(r), WIRE_E_NOROUTE);
	assert_false(client_req_broken(r));
	client_req_free(r);
	assert_false(client_mux_broken(m));
	client_mux_close(m);
	fake_stop(f);
}

/*
 * Odds and ends: WIRE_PROGRESS frames are skipped; a body over the limit
 * is refused before sending; a request freed unanswered, or left pending
 * at a silent daemon, is forgotten cleanly; a silent daemon times out on
 * time.
 */
static void
test_mux_misc(void **state)
{
	struct fake *f = fake_start(FAKE_PROGRESS);
	struct client_mux *m = mux_ok(f);
	struct client_req *r;
	struct wire_header h;
	uint8_t *body = NULL;
	size_t len = 0;
	long long t0;

	(void)state;
	r = client_mux_send(m, WIRE_LEAVE_REQ, 0, "abc", 3, 1000);
	assert_int_equal(client_req_wait(r, &h, &body, &len), 0);
	assert_int_equal(h.type, WIRE_OK);
	assert_int_equal(len, 3);
	assert_memory_equal(body, "abc", 3);
	free(body);
	client_req_free(r);
	r = client_mux_send(m, WIRE_STATUS_REQ, 0, NULL, WIRE_MAX_BODY + 1,
	    1000);
	assert_int_equal(client_req_wait(r, NULL, NULL, NULL), -1);
	assert_non_null(strstr(client_req_error(r), "too long"));
	assert_false(client_req_broken(r));
	client_req_free(r);
	assert_false(client_mux_broken(m));
	client_mux_close(m);
	fake_stop(f);

	f = fake_start(FAKE_SILENT);
	m = mux_ok(f);
	t0 = now_ms();
	r = client_mux_send(m, WIRE_STATUS_REQ, 0, NULL, 0, 200);
	assert_int_equal(client_req_wait(r, NULL, NULL, NULL), -1);
	assert_true(now_ms() - t0 >= 190 && now_ms() - t0 < 2000);
	assert_false(client_req_broken(r));
	client_req_free(r);
	r = client_mux_send(m, WIRE_STATUS_REQ, 0, NULL, 0, 5000);
	assert_int_equal(client_mux_inflight(m), 1);
	client_req_free(r); /* never waited for */
	assert_int_equal(client_mux_inflight(m), 0);
	client_mux_close(m);
	fake_stop(f);
}

/*
 * Over an encrypted TCP connection: many threads, replies out of order
 * (records sealed by the senders while the reader opens others); then a
 * tampered record from the daemon fails every pending request.
 */
static void
test_mux_secure(void **state)
{
	struct fake *f;
	struct client_mux *m;
	struct mux_worker w[4];
	struct client_req *r[4];

	(void)state;
	client_set_secret(&fake_key);
	f = fake_start_secure(FAKE_SHUFFLE, false);
	m = mux_ok(f);
	for (int i = 0; i < 4; i++) {
		memset(&w[i], 0, sizeof w[i]);
		w[i].m = m;
		w[i].id = i;
		assert_int_equal(pthread_create(&w[i].t, NULL, mux_work,
		    &w[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(w[i].t, NULL);
		if (w[i].bad > 0)
			fail_msg("worker %d: %d bad replies; first: %s", i,
			    w[i].bad, w[i].why);
		assert_int_equal(w[i].ok, MUX_PER_THREAD);
	}
	assert_true(f->reordered > 0);
	assert_false(client_mux_broken(m));
	client_mux_close(m);
	fake_stop(f);

	f = fake_start_secure(FAKE_STATUS, true);
	m = mux_ok(f);
	for (int j = 0; j < 4; j++)
		r[j] = client_mux_send(m, WIRE_STATUS_REQ, 0, NULL, 0, 5000);
	for (int j = 0; j < 4; j++) {
		assert_int_equal(client_req_wait(r[j], NULL, NULL, NULL), -1);
		assert_true(client_req_broken(r[j]));
		assert_non_null(strstr(client_req_error(r[j]),
		    "bad record from the daemon"));
		client_req_free(r[j]);
	}
	client_mux_close(m);
	fake_stop(f);
	client_set_secret(NULL);
}

/*
 * fork(): canfs makes its first requests, then daemonizes.  A mux has no
 * thread of its own, so the child goes on using the one it inherited.
 */
static void
test_mux_fork(void **state)
{
	struct fake *f = fake_start(FAKE_STATUS);
	struct client_mux *m = mux_ok(f);
	struct client_req *r;
	int status = -1;
	pid_t pid;

	(void)state;
	r = client_mux_send(m, WIRE_STATUS_REQ, 0, NULL, 0, 1000);
	assert_int_equal(client_req_reply(r, WIRE_STATUS, NULL, NULL), 0);
	client_req_free(r);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int rc;

		r = client_mux_send(m, WIRE_STATUS_REQ, 0, NULL, 0, 5000);
		rc = client_req_reply(r, WIRE_STATUS, NULL, NULL);
		client_req_free(r);
		client_mux_close(m);
		_exit(rc == 0 ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	/* The child closed its copy only: the parent's still works. */
	r = client_mux_send(m, WIRE_STATUS_REQ, 0, NULL, 0, 1000);
	assert_int_equal(client_req_reply(r, WIRE_STATUS, NULL, NULL), 0);
	client_req_free(r);
	client_mux_close(m);
	assert_int_equal(f->nreq, 3);
	fake_stop(f);
}

/* ---- Batches ---- */

/* A GET, PUT or DEL request body of key (0, lo). */
static void
batch_req(struct wire_obj *o, uint64_t lo, uint8_t cond, uint64_t seq,
    const char *data)
{
	memset(o, 0, sizeof *o);
	o->key.lo = lo;
	o->cond = cond;
	o->meta.op.client = 0xc11e;
	o->meta.op.seq = seq;
	if (data != NULL) {
		o->data = (const uint8_t *)data;
		o->len = (uint32_t)strlen(data);
	}
}

/*
 * A batch of mixed requests, each answered in order with its own result;
 * two batches in flight on one connection at once; the same batch sent
 * again.
 */
static void
test_batch_results(void **state)
{
	struct fake *f = fake_start(FAKE_OBJ_BATCH);
	struct client_mux *m = mux_ok(f);
	struct client_batch *b = client_batch_new(), *b2 = client_batch_new();
	struct client_req *r, *r2;
	struct wire_obj o, reply;
	const char *msg;

	(void)state;
	batch_req(&o, 3, WIRE_COND_NONE, 0, NULL);	/* GET: value */
	assert_int_equal(client_batch_add(b, WIRE_OBJ_GET, &o), 0);
	batch_req(&o, 4, WIRE_COND_NONE, 0, NULL);	/* GET: NOTFOUND */
	assert_int_equal(client_batch_add(b, WIRE_OBJ_GET, &o), 1);
	batch_req(&o, 5, WIRE_COND_NONE, 0, NULL);	/* GET: TOOBIG */
	assert_int_equal(client_batch_add(b, WIRE_OBJ_GET, &o), 2);
	batch_req(&o, 6, WIRE_COND_NONE, 41, "new");	/* PUT: version 41 */
	assert_int_equal(client_batch_add(b, WIRE_OBJ_PUT, &o), 3);
	batch_req(&o, 7, WIRE_COND_ABSENT, 42, "x");	/* PUT: CONFLICT */
	assert_int_equal(client_batch_add(b, WIRE_OBJ_PUT, &o), 4);
	batch_req(&o, 8, WIRE_COND_VERSION, 43, NULL);	/* DEL: 1043 */
	assert_int_equal(client_batch_add(b, WIRE_OBJ_DEL, &o), 5);
	assert_int_equal(client_batch_count(b), 6);
	batch_req(&o, 9, WIRE_COND_NONE, 0, NULL);
	assert_int_equal(client_batch_add(b2, WIRE_OBJ_GET, &o), 0);

	/* Both in flight; waited for in the other order. */
	r = client_batch_send(b, m, 2000);
	r2 = client_batch_send(b2, m, 2000);
	assert_int_equal(client_batch_wait(b2, r2), 0);
	assert_int_equal(client_batch_result(b2, 0, &reply, &msg), WIRE_E_OK);
	assert_int_equal(reply.len, 2);
	assert_memory_equal(reply.data, "v9", 2);
	assert_int_equal(client_batch_wait(b, r), 0);
	assert_int_equal(client_batch_result(b, 0, &reply, &msg), WIRE_E_OK);
	assert_true(reply.meta.version == 3 && reply.key.lo == 3);
	assert_int_equal(reply.len, 2);
	assert_memory_equal(reply.data, "v3", 2);
	assert_string_equal(msg, "");
	assert_int_equal(client_batch_result(b, 1, NULL, &msg),
	    WIRE_E_NOTFOUND);
	assert_string_equal(msg, "not found");	/* the code's text */
	assert_int_equal(client_batch_result(b, 2, NULL, &msg), WIRE_E_TOOBIG);
	assert_string_equal(msg, "full\\x01");	/* escaped */
	assert_int_equal(client_batch_result(b, 3, &reply, NULL), WIRE_E_OK);
	assert_true(reply.meta.version == 41);
	assert_int_equal(client_batch_result(b, 4, NULL, &msg),
	    WIRE_E_CONFLICT);
	assert_string_equal(msg, "exists");
	assert_int_equal(client_batch_result(b, 5, &reply, NULL), WIRE_E_OK);
	assert_true(reply.meta.version == 1043);
	assert_int_equal(client_batch_result(b, 6, NULL, &msg),
	    WIRE_E_INTERNAL);
	client_req_free(r);
	client_req_free(r2);

	/* Sent again as it is (a retry): the same results. */
	r = client_batch_send(b, m, 2000);
	assert_int_equal(client_batch_wait(b, r), 0);
	assert_int_equal(client_batch_result(b, 3, &reply, NULL), WIRE_E_OK);
	assert_true(reply.meta.version == 41);
	client_req_free(r);
	assert_int_equal(f->nreq, 3);

	/* Reset: empty again, and reusable. */
	client_batch_reset(b);
	assert_int_equal(client_batch_count(b), 0);
	assert_int_equal(client_batch_result(b, 0, NULL, &msg),
	    WIRE_E_INTERNAL);
	batch_req(&o, 12, WIRE_COND_NONE, 0, NULL);
	assert_int_equal(client_batch_add(b, WIRE_OBJ_GET, &o), 0);
	r = client_batch_send(b, m, 2000);
	assert_int_equal(client_batch_wait(b, r), 0);
	assert_int_equal(client_batch_result(b, 0, &reply, NULL), WIRE_E_OK);
	assert_memory_equal(reply.data, "v12", 3);
	client_req_free(r);
	client_batch_free(b);
	client_batch_free(b2);
	client_mux_close(m);
	fake_stop(f);
}

/* What a batch takes: WIRE_BATCH_MAX items, a frame, GET/PUT/DEL only. */
static void
test_batch_limits(void **state)
{
	struct client_batch *b = client_batch_new();
	struct wire_obj o;
	uint8_t *big = calloc(1, WIRE_MAX_VALUE + 1);

	(void)state;
	assert_non_null(big);
	batch_req(&o, 1, WIRE_COND_NONE, 0, NULL);
	for (int i = 0; i < WIRE_BATCH_MAX; i++)
		assert_int_equal(client_batch_add(b, WIRE_OBJ_GET, &o), i);
	assert_int_equal(client_batch_add(b, WIRE_OBJ_GET, &o), -1);
	assert_int_equal(client_batch_count(b), WIRE_BATCH_MAX);
	client_batch_reset(b);
	/* Two of the largest values do not fit one frame. */
	o.data = big;
	o.len = WIRE_MAX_VALUE;
	assert_int_equal(client_batch_add(b, WIRE_OBJ_PUT, &o), 0);
	assert_int_equal(client_batch_add(b, WIRE_OBJ_PUT, &o), -1);
	assert_int_equal(client_batch_count(b), 1);
	assert_true(client_batch_bytes(b) <= WIRE_MAX_BODY);
	/* A value over the limit, or another type, never fits. */
	o.len = WIRE_MAX_VALUE + 1;
	client_batch_reset(b);
	assert_int_equal(client_batch_add(b, WIRE_OBJ_PUT, &o), -2);
	o.len = 0;
	assert_int_equal(client_batch_add(b, WIRE_OBJ_VALUE, &o), -2);
	assert_int_equal(client_batch_add(b, WIRE_OBJ_BATCH, &o), -2);
	assert_int_equal(client_batch_count(b), 0);
	client_batch_free(b);
	client_batch_free(NULL);
	free(big);
}

/* Send one GET batch to a fake in mode and wait: -1 expected. */
static struct client_batch *
batch_fails(enum fake_mode mode)
{
	struct fake *f = fake_start(mode);
	struct client_mux *m = mux_ok(f);
	struct client_batch *b = client_batch_new();
	struct client_req *r;
	struct wire_obj o;

	batch_req(&o, 3, WIRE_COND_NONE, 0, NULL);
	client_batch_add(b, WIRE_OBJ_GET, &o);
	client_batch_add(b, WIRE_OBJ_GET, &o);
	r = client_batch_send(b, m, 1000);
	assert_int_equal(client_batch_wait(b, r), -1);
	assert_int_equal(client_batch_result(b, 0, NULL, NULL),
	    WIRE_E_INTERNAL);
	client_req_free(r);
	client_mux_close(m);
	fake_stop(f);
	return b;
}

/*
 * Replies that do not match the batch, an error for the whole batch, a
 * silent or vanishing daemon: the wait fails with the reason.
 */
static void
test_batch_bad_replies(void **state)
{
	struct client_batch *b;

	(void)state;
	b = batch_fails(FAKE_BATCH_SHORT);
	assert_non_null(strstr(client_batch_error(b), "1 results for 2"));
	assert_false(client_batch_broken(b));
	client_batch_free(b);
	b = batch_fails(FAKE_BATCH_KEY);
	assert_non_null(strstr(client_batch_error(b), "another key"));
	client_batch_free(b);
	b = batch_fails(FAKE_ERROR);	/* one ERROR for the whole batch */
	assert_string_equal(client_batch_error(b), "no closer neighbour");
	assert_int_equal(client_batch_error_code(b), WIRE_E_NOROUTE);
	assert_false(client_batch_broken(b));
	client_batch_free(b);
	b = batch_fails(FAKE_STATUS);	/* a reply of the wrong type */
	assert_non_null(strstr(client_batch_error(b), "unexpected reply "
	    "STATUS"));
	assert_int_equal(client_batch_error_code(b), WIRE_E_OK);
	client_batch_free(b);
	b = batch_fails(FAKE_SILENT);
	assert_non_null(strstr(client_batch_error(b), "timed out"));
	assert_false(client_batch_broken(b));
	client_batch_free(b);
	b = batch_fails(FAKE_HANGUP);
	assert_true(client_batch_broken(b));
	client_batch_free(b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_reqid_match),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_late_reply),
		cmocka_unit_test(test_bad_magic),
		cmocka_unit_test(test_huge_body),
		cmocka_unit_test(test_error_reply),
		cmocka_unit_test(test_hangup),
		cmocka_unit_test(test_connect_missing),
		cmocka_unit_test(test_connect_refused),
		cmocka_unit_test(test_connect_tcp),
		cmocka_unit_test(test_bad_specs),
		cmocka_unit_test(test_walk),
		cmocka_unit_test(test_mux_concurrent),
		cmocka_unit_test(test_mux_late_reply),
		cmocka_unit_test(test_mux_broken),
		cmocka_unit_test(test_mux_bad_header),
		cmocka_unit_test(test_mux_typed),
		cmocka_unit_test(test_mux_misc),
		cmocka_unit_test(test_mux_secure),
		cmocka_unit_test(test_mux_fork),
		cmocka_unit_test(test_batch_results),
		cmocka_unit_test(test_batch_limits),
		cmocka_unit_test(test_batch_bad_replies),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
