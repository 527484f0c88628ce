/*
 * test_conn.c: the daemon's per-connection limit on unanswered client
 * requests (overlay/conn.c, CONN_MAX_INFLIGHT), with batches.
 *
 * A transport listens on a Unix socket in a temporary directory; its
 * frame callback records what arrives and answers only when told to.  A
 * raw client socket sends requests; the event loop runs until the
 * transport has taken them (or closed the connection).  A batch of n
 * counts as n requests, its reply as n answers; one request past the
 * limit closes the connection.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "../../overlay/conn.h"
#include "wire.h"

/* The test's transport and what it saw. */
struct tc {
	struct event_base *base;
	struct transport *t;
	char dir[64], path[100];
	int fd;			/* the client's socket */
	bool answer;		/* answer batches as they come */
	int frames;		/* frames delivered */
	uint32_t items;		/* batch items delivered */
	bool closed;		/* the server side closed the connection */
};

/* Answer a batch of n with n errors (as a daemon that cannot serve). */
static void
tc_reply(struct conn *c, uint64_t reqid, uint32_t n)
{
	struct wire_batch b = { n, calloc(n, sizeof *b.items) };
	struct wbuf w;

	assert_non_null(b.items);
	for (uint32_t i = 0; i < n; i++) {
		b.items[i].type = WIRE_ERROR;
		b.items[i].code = WIRE_E_UNAVAIL;
	}
	wbuf_init(&w);
	wire_frame_begin(&w, WIRE_OBJ_BATCH_REPLY, 0, reqid);
	wire_batch_encode(&w, &b);
	wire_frame_end(&w);
	conn_send(c, &w);
	wbuf_free(&w);
	free(b.items);
}

static void
tc_frame(struct conn *c, const struct wire_header *h, const uint8_t *body,
    void *arg)
{
	struct tc *tc = arg;

	tc->frames++;
	if (h->type == WIRE_OBJ_BATCH) {
		tc->items += wire_batch_count(body, h->len);
		if (tc->answer)
			tc_reply(c, h->reqid, wire_batch_count(body, h->len));
	}
}

static void
tc_closed(struct conn *c, void *arg)
{
	struct tc *tc = arg;

	(void)c;
	tc->closed = true;
}

static const struct conn_ops tc_ops = { tc_frame, tc_closed };

/* A transport on a new socket, and a client connected to it. */
static struct tc *
tc_start(void)
{
	struct tc *tc = calloc(1, sizeof *tc);
	struct sockaddr_un sun;
	char err[256];

	assert_non_null(tc);
	snprintf(tc->dir, sizeof tc->dir, "/tmp/test_conn.XXXXXX");
	assert_non_null(mkdtemp(tc->dir));
	snprintf(tc->path, sizeof tc->path, "%s/s", tc->dir);
	tc->base = event_base_new();
	tc->t = transport_new(tc->base, &tc_ops, tc);
	if (transport_listen_unix(tc->t, tc->path, 0600, err,
	    sizeof err) != 0)
		fail_msg("listen: %s", err);
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", tc->path);
	tc->fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(connect(tc->fd, (struct sockaddr *)&sun, sizeof sun),
	    0);
	return tc;
}

static void
tc_stop(struct tc *tc)
{
	close(tc->fd);
	transport_free(tc->t);
	event_base_free(tc->base);
	unlink(tc->path);
	rmdir(tc->dir);
	free(tc);
}

/*
 * Send a frame from the client and run the loop until the transport has
 * delivered it (or closed the connection), reading and dropping replies.
 */
static void
tc_send(struct tc *tc, const struct wbuf *w)
{
	const uint8_t *p = w->p;
	size_t left = w->len;
	int want = tc->frames + 1;
	uint8_t junk[65536];

	while (left > 0 || (tc->frames < want && !tc->closed)) {
		ssize_t n = left > 0 ? send(tc->fd, p, left,
		    MSG_DONTWAIT | MSG_NOSIGNAL) : 0;

		if (n > 0) {
			p += n;
			left -= (size_t)n;
		} else if (n < 0 && errno != EAGAIN) {
			break;	/* closed on us */
		}
		while (recv(tc->fd, junk, sizeof junk, MSG_DONTWAIT) > 0)
			;
		event_base_loop(tc->base, EVLOOP_NONBLOCK);
	}
	for (int i = 0; i < 20; i++)	/* let a close happen */
		event_base_loop(tc->base, EVLOOP_NONBLOCK);
}

/* A request frame: a batch of n GETs, or (n 0) a single GET. */
static void
tc_request(struct wbuf *w, uint32_t n, uint64_t reqid)
{
	struct wire_obj o;

	memset(&o, 0, sizeof o);
	wbuf_init(w);
	if (n == 0) {
		wire_frame_begin(w, WIRE_OBJ_GET, 0, reqid);
		wire_obj_encode(w, &o);
	} else {
		struct wire_batch b = { n, calloc(n, sizeof *b.items) };

		assert_non_null(b.items);
		for (uint32_t i = 0; i < n; i++)
			b.items[i].type = WIRE_OBJ_GET;
		wire_frame_begin(w, WIRE_OBJ_BATCH, 0, reqid);
		wire_batch_encode(w, &b);
		free(b.items);
	}
	wire_frame_end(w);
}

/* Send count requests of n items each (n 0: singles). */
static void
tc_send_many(struct tc *tc, int count, uint32_t n, uint64_t *reqid)
{
	struct wbuf w;

	for (int i = 0; i < count && !tc->closed; i++) {
		tc_request(&w, n, ++*reqid);
		tc_send(tc, &w);
		wbuf_free(&w);
	}
}

/* Unanswered batches count their items: 4,096 pass, one more closes. */
static void
test_batch_counts_items(void **state)
{
	struct tc *tc = tc_start();
	uint64_t reqid = 0;

	(void)state;
	tc_send_many(tc, CONN_MAX_INFLIGHT / WIRE_BATCH_MAX, WIRE_BATCH_MAX,
	    &reqid);
	assert_false(tc->closed);
	assert_int_equal(tc->items, CONN_MAX_INFLIGHT);
	tc_send_many(tc, 1, 1, &reqid);	/* a batch of one: too many */
	assert_true(tc->closed);
	tc_stop(tc);

	/* Singles after batches: the same count. */
	tc = tc_start();
	reqid = 0;
	tc_send_many(tc, CONN_MAX_INFLIGHT / WIRE_BATCH_MAX - 1,
	    WIRE_BATCH_MAX, &reqid);
	tc_send_many(tc, WIRE_BATCH_MAX, 0, &reqid);
	assert_false(tc->closed);
	tc_send_many(tc, 1, 0, &reqid);
	assert_true(tc->closed);
	tc_stop(tc);
}

/* Answered batches give their items back: no limit on the total. */
static void
test_batch_reply_frees(void **state)
{
	struct tc *tc = tc_start();
	uint64_t reqid = 0;

	(void)state;
	tc->answer = true;
	tc_send_many(tc, 3 * CONN_MAX_INFLIGHT / WIRE_BATCH_MAX,
	    WIRE_BATCH_MAX, &reqid);
	assert_false(tc->closed);
	assert_int_equal(tc->items, 3 * CONN_MAX_INFLIGHT);
	/* Then unanswered: the whole budget is there again. */
	tc->answer = false;
	tc_send_many(tc, CONN_MAX_INFLIGHT / WIRE_BATCH_MAX, WIRE_BATCH_MAX,
	    &reqid);
	assert_false(tc->closed);
	tc_send_many(tc, 1, 0, &reqid);
	assert_true(tc->closed);
	tc_stop(tc);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_batch_counts_items),
		cmocka_unit_test(test_batch_reply_frees),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
