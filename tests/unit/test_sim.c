/*
 * test_sim.c: the simulator's world (overlay/sim_host.c, sim_net.c):
 * the event queue and virtual clock, host.h's timers on it, the seeded
 * random stream, and the virtual network under conn.h.
 *
 * Checks: events run in order of time, ties in scheduling order, and the
 * clock reads each one's time; a cancelled event never runs; timers can
 * be re-armed, disarmed, and freed inside their own callback; one seed
 * gives one stream; frames arrive after the link's latency, in the order
 * sent on a connection, answered on the same connection; a dial to
 * nobody fails; a closed connection tells both sides once and drops what
 * is still in flight; the digest depends on the history, not the run.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../overlay/conn.h"
#include "../../overlay/host.h"
#include "../../overlay/sim.h"

/* An event that records when it ran, in a shared log. */
struct probe {
	struct sim_ev ev;
	int id;
};
static int ran[16], nran;
static uint64_t ran_at[16];

static void
probe_fire(struct sim_ev *e)
{
	struct probe *p = (struct probe *)e;

	ran_at[nran] = sim_now();
	ran[nran++] = p->id;
}

static void
probe_at(struct probe *p, int id, uint64_t at)
{
	p->ev.idx = SIZE_MAX;
	p->ev.fire = probe_fire;
	p->id = id;
	sim_schedule(&p->ev, at);
}

static void
test_order(void **state)
{
	struct probe p[6];
	static const uint64_t at[6] = { 50, 30, 30, 70, 0, 30 };

	(void)state;
	sim_reset(1);
	nran = 0;
	for (int i = 0; i < 6; i++)
		probe_at(&p[i], i, at[i]);
	assert_int_equal(sim_run_until(29), 1);	/* only the one at 0 */
	assert_int_equal(sim_now(), 29);
	sim_run_until(UINT64_MAX);
	assert_int_equal(nran, 6);
	/* Time first, then the order of scheduling. */
	static const int want[6] = { 4, 1, 2, 5, 0, 3 };
	for (int i = 0; i < 6; i++) {
		assert_int_equal(ran[i], want[i]);
		assert_int_equal(ran_at[i], at[want[i]]);
	}
	assert_int_equal(sim_events(), 6);
}

static void
test_cancel(void **state)
{
	struct probe p[3];

	(void)state;
	sim_reset(1);
	nran = 0;
	for (int i = 0; i < 3; i++)
		probe_at(&p[i], i, 10 * (uint64_t)(i + 1));
	sim_cancel(&p[1].ev);
	assert_false(sim_queued(&p[1].ev));
	assert_true(sim_queued(&p[2].ev));
	sim_cancel(&p[1].ev);	/* twice: nothing */
	sim_run_until(UINT64_MAX);
	assert_int_equal(nran, 2);
	assert_int_equal(ran[0], 0);
	assert_int_equal(ran[1], 2);
}

/* A timer that counts, re-arms itself a few times, then frees itself. */
struct tick {
	struct host_timer *t;
	int fired, rearm;
	uint64_t last;
};

static void
tick_cb(void *arg)
{
	struct tick *k = arg;

	k->fired++;
	k->last = host_now_ms();
	if (k->rearm-- > 0) {
		host_timer_add(k->t, 100);
		return;
	}
	host_timer_free(k->t);	/* inside its own callback */
	k->t = NULL;
}

static void
test_timers(void **state)
{
	struct tick a = { 0 }, b = { 0 };

	(void)state;
	sim_reset(1);
	a.t = host_timer_new(NULL, tick_cb, &a);
	b.t = host_timer_new(NULL, tick_cb, &b);
	assert_false(host_timer_pending(a.t));
	host_timer_add(a.t, 500);
	host_timer_add(a.t, 40);	/* re-armed: moves, runs once */
	a.rearm = 2;
	host_timer_add(b.t, 10);
	host_timer_del(b.t);
	assert_false(host_timer_pending(b.t));
	assert_true(host_timer_pending(a.t));
	sim_run_until(UINT64_MAX);
	assert_int_equal(a.fired, 3);
	assert_int_equal(a.last, 240);
	assert_null(a.t);
	assert_int_equal(b.fired, 0);
	host_timer_free(b.t);
	assert_int_equal(host_now_ms(), 240);
	assert_true(host_wall_us() > 0);
}

static void
test_random(void **state)
{
	uint64_t x[8], y[8];
	uint8_t buf[13];

	(void)state;
	sim_reset(7);
	for (int i = 0; i < 8; i++)
		x[i] = sim_rand();
	sim_reset(7);
	for (int i = 0; i < 8; i++)
		y[i] = sim_rand();
	assert_memory_equal(x, y, sizeof x);
	sim_reset(8);
	assert_true(sim_rand() != x[0]);
	for (int i = 0; i < 1000; i++)
		assert_true(sim_rand_below(3) < 3);
	memset(buf, 0, sizeof buf);
	assert_int_equal(host_random(buf, sizeof buf), 0);
	assert_memory_not_equal(buf, (uint8_t[13]){ 0 }, sizeof buf);
}

/* A node stand-in: what its transport handed up. */
struct peer {
	struct transport *t;
	uint64_t types[16];
	uint64_t at[16];
	struct conn *on[16];
	int n, closed;
};

static void
peer_frame(struct conn *c, const struct wire_header *h, const uint8_t *body,
    void *arg)
{
	struct peer *p = arg;

	(void)body;
	p->types[p->n] = h->reqid;
	p->at[p->n] = sim_now();
	p->on[p->n++] = c;
}

static void
peer_closed(struct conn *c, void *arg)
{
	struct peer *p = arg;

	(void)c;
	p->closed++;
}

static const struct conn_ops peer_ops = { peer_frame, peer_closed };

static void
send_id(struct conn *c, uint64_t id)
{
	struct wbuf w;

	wbuf_init(&w);
	wire_frame_begin(&w, WIRE_HEARTBEAT, 0, id);
	wire_frame_end(&w);
	conn_send(c, &w);
	wbuf_free(&w);
}

/* Two peers; a frames b, b answers on the same connection. */
static uint64_t
net_run(struct peer *a, struct peer *b, bool close_early)
{
	char addr[2][WIRE_ADDR_MAX], err[128];
	struct sim_net_stats st;
	struct conn *c;

	sim_reset(3);
	sim_net_init(3);
	memset(a, 0, sizeof *a);
	memset(b, 0, sizeof *b);
	a->t = transport_new(NULL, &peer_ops, a);
	b->t = transport_new(NULL, &peer_ops, b);
	for (int i = 0; i < 2; i++)
		sim_net_addr(i, addr[i], sizeof addr[i]);
	assert_int_equal(transport_listen_tcp(a->t, addr[0], err,
	    sizeof err), 0);
	assert_int_equal(transport_listen_tcp(b->t, addr[1], err,
	    sizeof err), 0);
	assert_int_not_equal(transport_listen_tcp(b->t, addr[0], err,
	    sizeof err), 0);	/* taken */
	sim_net_addr(2, addr[0], sizeof addr[0]);
	assert_null(transport_peer(a->t, addr[0]));	/* nobody there */
	assert_null(transport_peer(a->t, "127.0.0.1:7400"));
	c = transport_peer(a->t, addr[1]);
	assert_non_null(c);
	assert_ptr_equal(transport_peer(a->t, addr[1]), c);	/* pooled */
	for (uint64_t i = 1; i <= 3; i++)
		send_id(c, i);
	if (close_early) {
		conn_close(c, "test");
		assert_int_equal(a->closed, 1);
		assert_int_equal(b->closed, 1);
		conn_close(c, "again");	/* once only */
		assert_int_equal(a->closed, 1);
	}
	sim_run_until(UINT64_MAX);
	if (!close_early) {
		assert_int_equal(b->n, 3);
		for (int i = 0; i < 3; i++) {
			assert_int_equal(b->types[i], i + 1);	/* in order */
			assert_int_equal(b->at[i], sim_net_latency(0, 1));
			assert_ptr_equal(b->on[i], b->on[0]);
		}
		send_id(b->on[0], 9);	/* the answer, same connection */
		sim_run_until(UINT64_MAX);
		assert_int_equal(a->n, 1);
		assert_int_equal(a->types[0], 9);
		assert_ptr_equal(a->on[0], c);
		assert_int_equal(a->at[0], 2 * sim_net_latency(0, 1));
	} else {
		assert_int_equal(b->n, 0);
	}
	sim_net_stats(&st);
	transport_free(a->t);
	transport_free(b->t);
	if (close_early)
		assert_int_equal(st.dropped, 3);
	return st.digest;
}

static void
test_net(void **state)
{
	struct peer a, b;
	uint64_t d1, d2, d3;

	(void)state;
	d1 = net_run(&a, &b, false);
	d2 = net_run(&a, &b, false);
	d3 = net_run(&a, &b, true);
	assert_true(d1 == d2);	/* the same history, the same digest */
	assert_true(d1 != d3);
	assert_true(sim_net_latency(0, 1) >= 1 &&
	    sim_net_latency(0, 1) <= 101);
	assert_int_equal(sim_net_latency(1, 1), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order),
		cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_timers),
		cmocka_unit_test(test_random),
		cmocka_unit_test(test_net),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
