/*
 * test_canctl_top.c: the arithmetic of `canctl top` (overlay/canctl_top.c):
 * quantiles estimated from histogram buckets, and the difference of two
 * samples of a series (with a daemon restart in between).
 *
 * Link-time seam: canctl_top.o calls helpers of canctl.c, which is not
 * linked here; this file provides them.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../overlay/canctl_top.h"
#include "wire_stats.h"

/* ---- the canctl.c helpers canctl_top.c uses ---- */

void
ctl_usage(const char *fmt, ...)
{
	(void)fmt;
	fail_msg("ctl_usage called");
	abort();
}

int
ctl_fail(const char *fmt, ...)
{
	(void)fmt;
	return CTL_EXIT_FAIL;
}

int
ctl_number(const char *s, uint64_t min, uint64_t max, uint64_t *v)
{
	*v = strtoull(s, NULL, 10);
	return *v >= min && *v <= max ? 0 : -1;
}

const char *
ctl_esc(const char *s, char *buf, size_t len)
{
	snprintf(buf, len, "%s", s);
	return buf;
}

int
ctl_walk(const struct ctl_opts *o, struct client_walk *w)
{
	(void)o;
	(void)w;
	return -1;
}

/* ---- tests ---- */

#define NEAR(a, b) assert_true(fabs((a) - (b)) < 1e-9)

/*
 * 50 observations: 10 in (0,1], 20 in (1,2], 10 in (2,4], none in (4,8],
 * 10 above 8.  The values are what Prometheus' histogram_quantile()
 * gives for the same buckets.
 */
static void
test_quantile(void **state)
{
	static const double le[] = { 1, 2, 4, 8 };
	static const uint64_t cum[] = { 10, 30, 40, 40 };

	(void)state;
	NEAR(ctl_top_quantile(le, cum, 4, 50, 0.1), 0.5);   /* rank 5 */
	NEAR(ctl_top_quantile(le, cum, 4, 50, 0.2), 1.0);   /* rank 10 */
	NEAR(ctl_top_quantile(le, cum, 4, 50, 0.5), 1.75);  /* rank 25 */
	NEAR(ctl_top_quantile(le, cum, 4, 50, 0.7), 3.0);   /* rank 35 */
	NEAR(ctl_top_quantile(le, cum, 4, 50, 0.8), 4.0);   /* rank 40 */
	/* In the +Inf bucket: the highest finite bound. */
	NEAR(ctl_top_quantile(le, cum, 4, 50, 0.99), 8.0);
	NEAR(ctl_top_quantile(le, cum, 4, 50, 1.0), 8.0);
	/* q = 0: the start of the first bucket that has anything. */
	NEAR(ctl_top_quantile(le, cum, 4, 50, 0), 0);
	assert_true(isnan(ctl_top_quantile(le, cum, 4, 0, 0.5)));
}

/* Empty buckets before the data: interpolate from the bound below. */
static void
test_quantile_gap(void **state)
{
	static const double le[] = { 0.001, 0.01, 0.1, 1 };
	static const uint64_t cum[] = { 0, 0, 100, 100 };

	(void)state;
	NEAR(ctl_top_quantile(le, cum, 4, 100, 0.5), 0.055);
	NEAR(ctl_top_quantile(le, cum, 4, 100, 0.99), 0.0991);
	/* Everything in one bucket and nothing else: p99 near its top. */
	NEAR(ctl_top_quantile(le, cum, 4, 100, 1), 0.1);
}

/* A histogram series at two samples: the difference is the interval. */
static void
test_delta(void **state)
{
	struct wire_metric before, now, d;

	(void)state;
	memset(&before, 0, sizeof before);
	before.kind = WIRE_STATS_HISTOGRAM;
	before.nb = 3;
	before.le[0] = 0.001, before.le[1] = 0.01, before.le[2] = 0.1;
	before.cum[0] = 5, before.cum[1] = 5, before.cum[2] = 5;
	before.count = 5;
	before.value = 0.004;
	now = before;
	now.cum[1] = 105, now.cum[2] = 105;
	now.count = 106;	/* one above 0.1 */
	now.value = 0.504 + 2;
	ctl_top_delta(&now, &before, &d);
	assert_int_equal(d.count, 101);
	assert_int_equal(d.cum[0], 0);
	assert_int_equal(d.cum[1], 100);
	assert_int_equal(d.cum[2], 100);
	NEAR(d.value, 2.5);
	/* The interval's median: the middle of (0.001, 0.01]. */
	assert_true(fabs(ctl_top_quantile(d.le, d.cum, d.nb, d.count, 0.5) -
	    (0.001 + 0.009 * 50.5 / 100)) < 1e-12);
	/* A counter. */
	memset(&before, 0, sizeof before);
	before.kind = WIRE_STATS_COUNTER;
	before.count = 1000;
	now = before;
	now.count = 1250;
	ctl_top_delta(&now, &before, &d);
	assert_int_equal(d.count, 250);
	/* No earlier sample: all of it. */
	ctl_top_delta(&now, NULL, &d);
	assert_int_equal(d.count, 1250);
}

/* A daemon that restarted (counters went back) counts from zero. */
static void
test_delta_reset(void **state)
{
	struct wire_metric before, now, d;

	(void)state;
	memset(&before, 0, sizeof before);
	before.kind = WIRE_STATS_HISTOGRAM;
	before.nb = 2;
	before.le[0] = 1, before.le[1] = 2;
	before.cum[0] = 50, before.cum[1] = 60;
	before.count = 70;
	now = before;
	now.cum[0] = 3, now.cum[1] = 4;
	now.count = 4;
	ctl_top_delta(&now, &before, &d);
	assert_int_equal(d.count, 4);
	assert_int_equal(d.cum[0], 3);
	/* Buckets that changed (another version): the new series alone. */
	now = before;
	now.count = 80;
	now.le[1] = 3;
	ctl_top_delta(&now, &before, &d);
	assert_int_equal(d.count, 80);
	assert_int_equal(d.cum[1], 60);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quantile),
		cmocka_unit_test(test_quantile_gap),
		cmocka_unit_test(test_delta),
		cmocka_unit_test(test_delta_reset),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
