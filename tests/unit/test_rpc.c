/*
 * test_rpc.c: the daemon's table of outstanding requests (overlay/rpc.c)
 * on a real libevent loop, with a bare struct node (only its event base,
 * request counter and table are used).
 *
 * Checks: a reply completes a request exactly once; a timeout fails it;
 * a closed connection fails the requests bound to it, later, from the
 * loop; a retry hook can resend on close (keeping the deadline) or on a
 * timeout (with a new one); a gone client drops its request without
 * asking the hook; shutdown fails everything once, requests started by
 * callbacks meanwhile included.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>

#include "../../overlay/node.h"
#include "../../overlay/rpc.h"

/* What one request saw. */
struct seen {
	int calls;		/* callbacks (must end at 1) */
	int replies;		/* of which with a frame */
	uint16_t type;		/* the frame's type */
	uint64_t at_ms;		/* when the callback ran */
	int retries;		/* retry hook calls */
	enum rpc_event last;	/* the hook's last event */
	int resend;		/* the hook resends this many times */
	int rearm_ms;		/* ... re-arming to this (0: keep) */
	uint64_t rebind;	/* ... binding to this connection */
	int start_more;		/* the callback starts this many requests */
};

static struct node *
node_fake(void)
{
	struct node *n = calloc(1, sizeof *n);

	assert_non_null(n);
	n->base = event_base_new();
	assert_non_null(n->base);
	n->next_reqid = 1;
	return n;
}

static void
node_fake_free(struct node *n)
{
	rpc_fail_all(n);
	event_base_free(n->base);
	free(n);
}

static void
seen_cb(struct node *n, void *arg, const struct wire_header *h,
    const uint8_t *body)
{
	struct seen *s = arg;

	(void)body;
	s->calls++;
	s->at_ms = node_now_ms();
	if (h != NULL) {
		s->replies++;
		s->type = h->type;
	}
	while (s->start_more > 0) {
		s->start_more--;
		rpc_new(n, seen_cb, s, 10000);
	}
}

static bool
seen_retry(struct node *n, void *arg, uint64_t reqid, enum rpc_event ev)
{
	struct seen *s = arg;

	s->retries++;
	s->last = ev;
	if (s->resend == 0)
		return false;
	s->resend--;
	if (s->rebind != 0)
		rpc_bind(n, reqid, s->rebind);
	if (s->rearm_ms != 0)
		rpc_rearm(n, reqid, s->rearm_ms);
	return true;
}

/* Run the loop until the callback ran or limit_ms passed. */
static void
run_until_called(struct node *n, const struct seen *s, int limit_ms)
{
	uint64_t end = node_now_ms() + (uint64_t)limit_ms;

	while (s->calls == 0 && node_now_ms() < end)
		event_base_loop(n->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
}

/* Run the loop for ms milliseconds. */
static void
run_for(struct node *n, int ms)
{
	uint64_t end = node_now_ms() + (uint64_t)ms;

	while (node_now_ms() < end)
		event_base_loop(n->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
}

static struct wire_header
reply(uint64_t reqid, uint16_t type)
{
	struct wire_header h;

	memset(&h, 0, sizeof h);
	h.type = type;
	h.reqid = reqid;
	return h;
}

/* A reply completes the request once; a second reply finds nothing. */
static void
test_complete_once(void **state)
{
	struct node *n = node_fake();
	struct seen s = { 0 };
	uint64_t id = rpc_new(n, seen_cb, &s, 50);
	struct wire_header h = reply(id, WIRE_LOOKUP_REPLY);

	(void)state;
	assert_int_equal(rpc_count(n), 1);
	assert_true(rpc_complete(n, &h, NULL));
	assert_int_equal(s.calls, 1);
	assert_int_equal(s.replies, 1);
	assert_int_equal(s.type, WIRE_LOOKUP_REPLY);
	assert_false(rpc_complete(n, &h, NULL));
	assert_int_equal(rpc_count(n), 0);
	run_for(n, 100);		/* no timeout after the reply */
	assert_int_equal(s.calls, 1);
	h.reqid = 0;			/* 0 is never a request */
	assert_false(rpc_complete(n, &h, NULL));
	node_fake_free(n);
}

/* A request nobody answers fails after its timeout, not before. */
static void
test_timeout(void **state)
{
	struct node *n = node_fake();
	struct seen s = { 0 };
	uint64_t t0 = node_now_ms();

	(void)state;
	rpc_new(n, seen_cb, &s, 60);
	run_for(n, 20);
	/* (Unless a loaded machine kept us away past the deadline.) */
	if (node_now_ms() - t0 < 55)
		assert_int_equal(s.calls, 0);
	run_until_called(n, &s, 2000);
	assert_int_equal(s.calls, 1);
	assert_int_equal(s.replies, 0);
	assert_true(s.at_ms - t0 >= 55);
	assert_int_equal(rpc_count(n), 0);
	node_fake_free(n);
	assert_int_equal(s.calls, 1);
}

/* A cancelled request is never called back. */
static void
test_cancel(void **state)
{
	struct node *n = node_fake();
	struct seen s = { 0 };
	uint64_t id = rpc_new(n, seen_cb, &s, 20);

	(void)state;
	rpc_cancel(n, id);
	run_for(n, 60);
	node_fake_free(n);
	assert_int_equal(s.calls, 0);
}

/*
 * A closed connection fails the requests bound to it, from the loop and
 * not inside rpc_conn_closed; others wait on.
 */
static void
test_conn_closed(void **state)
{
	struct node *n = node_fake();
	struct seen a = { 0 }, b = { 0 }, c = { 0 };

	(void)state;
	rpc_new_on(n, 7, seen_cb, &a, 10000);
	rpc_new_on(n, 8, seen_cb, &b, 10000);
	rpc_new(n, seen_cb, &c, 10000);
	rpc_conn_closed(n, 7);
	assert_int_equal(a.calls, 0);	/* deferred */
	run_until_called(n, &a, 1000);
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.replies, 0);
	run_for(n, 20);
	assert_int_equal(b.calls, 0);
	assert_int_equal(c.calls, 0);
	assert_int_equal(rpc_count(n), 2);
	rpc_conn_closed(n, 0);		/* 0 is "no connection" */
	run_for(n, 20);
	assert_int_equal(c.calls, 0);
	node_fake_free(n);
	assert_int_equal(b.calls, 1);
	assert_int_equal(c.calls, 1);
}

/* A reply that beats the deferred failure completes the request. */
static void
test_reply_beats_close(void **state)
{
	struct node *n = node_fake();
	struct seen s = { 0 };
	uint64_t id = rpc_new_on(n, 7, seen_cb, &s, 10000);
	struct wire_header h = reply(id, WIRE_OBJ_DONE);

	(void)state;
	rpc_conn_closed(n, 7);
	assert_true(rpc_complete(n, &h, NULL));
	run_for(n, 30);
	assert_int_equal(s.calls, 1);
	assert_int_equal(s.replies, 1);
	node_fake_free(n);
	assert_int_equal(s.calls, 1);
}

/*
 * The hook resends a request whose connection closed, binding it to a
 * new one; it keeps its first deadline, then the hook is asked again
 * (timeout) and lets it fail.  The resend comes 600 ms after the start,
 * so a deadline started afresh there would fire 600 ms late: the bound
 * below leaves the test 600 ms of scheduling delay on a loaded machine
 * (and the check between skips itself when the machine stalled us past
 * the deadline already).
 */
static void
test_retry_on_close_keeps_deadline(void **state)
{
	struct node *n = node_fake();
	struct seen s = { .resend = 1, .rebind = 9 };
	uint64_t t0 = node_now_ms(), id;

	(void)state;
	id = rpc_new_on(n, 7, seen_cb, &s, 1000);
	rpc_set_retry(n, id, seen_retry);
	run_for(n, 600);
	rpc_conn_closed(n, 7);
	run_for(n, 30);
	assert_true(s.retries >= 1);
	if (node_now_ms() - t0 < 950) {
		assert_int_equal(s.retries, 1);
		assert_int_equal(s.last, RPC_CLOSED);
		assert_int_equal(s.calls, 0);
		rpc_conn_closed(n, 7);	/* no longer bound to 7 */
		run_for(n, 30);
		if (node_now_ms() - t0 < 950)
			assert_int_equal(s.retries, 1);
	}
	run_until_called(n, &s, 4000);
	assert_int_equal(s.retries, 2);
	assert_int_equal(s.last, RPC_TIMEOUT);
	assert_int_equal(s.calls, 1);
	assert_int_equal(s.replies, 0);
	assert_true(s.at_ms - t0 >= 995);
	assert_true(s.at_ms - t0 < 1600);
	node_fake_free(n);
	assert_int_equal(s.calls, 1);
}

/* The new connection's close is seen too; a reply still completes it. */
static void
test_retry_rebind_then_reply(void **state)
{
	struct node *n = node_fake();
	struct seen s = { .resend = 5, .rebind = 9 };
	struct wire_header h;
	uint64_t id;

	(void)state;
	id = rpc_new_on(n, 7, seen_cb, &s, 10000);
	rpc_set_retry(n, id, seen_retry);
	rpc_conn_closed(n, 7);
	run_for(n, 20);
	rpc_conn_closed(n, 9);
	run_for(n, 20);
	assert_int_equal(s.retries, 2);
	assert_int_equal(s.calls, 0);
	h = reply(id, WIRE_LOOKUP_REPLY);
	assert_true(rpc_complete(n, &h, NULL));
	assert_int_equal(s.calls, 1);
	assert_int_equal(s.replies, 1);
	node_fake_free(n);
	assert_int_equal(s.calls, 1);
}

/* On a timeout the hook resends with a new deadline, then gives up. */
static void
test_retry_on_timeout(void **state)
{
	struct node *n = node_fake();
	struct seen s = { .resend = 2, .rearm_ms = 30 };
	uint64_t id;

	(void)state;
	id = rpc_new(n, seen_cb, &s, 30);
	rpc_set_retry(n, id, seen_retry);
	run_until_called(n, &s, 2000);
	assert_int_equal(s.retries, 3);
	assert_int_equal(s.last, RPC_TIMEOUT);
	assert_int_equal(s.calls, 1);
	assert_int_equal(rpc_count(n), 0);
	node_fake_free(n);
	assert_int_equal(s.calls, 1);
}

/* A hook that resends on a timeout without a new deadline: it fails. */
static void
test_retry_without_rearm_fails(void **state)
{
	struct node *n = node_fake();
	struct seen s = { .resend = 100 };
	uint64_t id;

	(void)state;
	id = rpc_new(n, seen_cb, &s, 20);
	rpc_set_retry(n, id, seen_retry);
	run_until_called(n, &s, 2000);
	assert_int_equal(s.retries, 1);
	assert_int_equal(s.calls, 1);
	node_fake_free(n);
}

/*
 * The client's connection closed: the request fails without asking the
 * hook, even when its own connection closed at the same time.
 */
static void
test_client_gone(void **state)
{
	struct node *n = node_fake();
	struct seen s = { .resend = 5 }, t = { .resend = 5 };
	uint64_t id, id2;

	(void)state;
	id = rpc_new_on(n, 7, seen_cb, &s, 10000);
	rpc_set_retry(n, id, seen_retry);
	rpc_set_client(n, id, 3);
	id2 = rpc_new(n, seen_cb, &t, 10000);
	rpc_set_retry(n, id2, seen_retry);
	rpc_set_client(n, id2, 4);
	rpc_conn_closed(n, 7);
	rpc_conn_closed(n, 3);
	run_until_called(n, &s, 1000);
	assert_int_equal(s.calls, 1);
	assert_int_equal(s.retries, 0);
	assert_int_equal(t.calls, 0);
	node_fake_free(n);
	assert_int_equal(t.calls, 1);
	assert_int_equal(t.retries, 0);
}

/*
 * Shutdown fails every request once without asking hooks, including
 * requests that callbacks start while it runs; the table is empty after.
 */
static void
test_fail_all(void **state)
{
	struct node *n = node_fake();
	struct seen s[50];
	uint64_t id;

	(void)state;
	memset(s, 0, sizeof s);
	for (int i = 0; i < 50; i++) {
		s[i].resend = 5;
		/* Ids spread over buckets, some sharing one. */
		n->next_reqid = (uint64_t)i * 997 + 1;
		id = rpc_new_on(n, (uint64_t)i % 3, seen_cb, &s[i], 10000);
		rpc_set_retry(n, id, seen_retry);
	}
	s[10].start_more = 3;	/* these go to seen_cb with s[10] */
	assert_int_equal(rpc_count(n), 50);
	rpc_fail_all(n);
	assert_int_equal(rpc_count(n), 0);
	assert_null(n->rpcs);
	for (int i = 0; i < 50; i++) {
		assert_int_equal(s[i].calls, i == 10 ? 4 : 1);
		assert_int_equal(s[i].replies, 0);
		assert_int_equal(s[i].retries, 0);
	}
	run_for(n, 20);		/* no timer left behind */
	assert_int_equal(s[0].calls, 1);
	node_fake_free(n);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_complete_once),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_conn_closed),
		cmocka_unit_test(test_reply_beats_close),
		cmocka_unit_test(test_retry_on_close_keeps_deadline),
		cmocka_unit_test(test_retry_rebind_then_reply),
		cmocka_unit_test(test_retry_on_timeout),
		cmocka_unit_test(test_retry_without_rearm_fails),
		cmocka_unit_test(test_client_gone),
		cmocka_unit_test(test_fail_all),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
