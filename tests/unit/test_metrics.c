/*
 * test_metrics.c: the Prometheus text of a snapshot (overlay/metrics.c),
 * the --metrics address check, and the histograms of overlay/stats.c.
 *
 * The rendering is pinned by an exact expected text for a small
 * snapshot: metrics of one name split apart in the snapshot (grouped in
 * the text under one HELP and TYPE), a name without HELP text, labelled
 * and unlabelled histograms, and numbers that must print short and read
 * back exactly.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../overlay/metrics.h"
#include "../../overlay/stats.h"
#include "wire_stats.h"

/* A metric for the test snapshot. */
static struct wire_metric
mk(const char *name, const char *label_value, uint8_t kind)
{
	struct wire_metric m;

	memset(&m, 0, sizeof m);
	snprintf(m.name, sizeof m.name, "%s", name);
	if (label_value != NULL) {
		snprintf(m.label_key, sizeof m.label_key, "type");
		snprintf(m.label_value, sizeof m.label_value, "%s",
		    label_value);
	}
	m.kind = kind;
	return m;
}

static const char expected[] =
"# HELP canfs_zone_volume Fraction of the whole key space this node owns "
    "(0 to 1).\n"
"# TYPE canfs_zone_volume gauge\n"
"canfs_zone_volume 0.25\n"
"# HELP canfs_requests_total Requests answered, by type (get, put, del and "
    "batch coordinated here; route: lookups sent into the overlay).\n"
"# TYPE canfs_requests_total counter\n"
"canfs_requests_total{type=\"get\"} 3\n"
"canfs_requests_total{type=\"put\"} 18446744073709551615\n"
"# HELP canfs_lookup_hops Overlay hops of routed lookups answered.\n"
"# TYPE canfs_lookup_hops histogram\n"
"canfs_lookup_hops_bucket{le=\"1\"} 1\n"
"canfs_lookup_hops_bucket{le=\"2\"} 3\n"
"canfs_lookup_hops_bucket{le=\"24\"} 4\n"
"canfs_lookup_hops_bucket{le=\"+Inf\"} 5\n"
"canfs_lookup_hops_sum 41\n"
"canfs_lookup_hops_count 5\n"
"# HELP test_gauge\n"
"# TYPE test_gauge gauge\n"
"test_gauge{type=\"a\"} 0.1\n"
"test_gauge{type=\"b\"} 1e-07\n"
"test_gauge{type=\"c\"} 123456789012\n"
"test_gauge{type=\"d\"} -2.5\n"
"test_gauge{type=\"e\"} 1e+300\n"
"# HELP canfs_request_seconds Time from a request's arrival to its answer, "
    "by type.\n"
"# TYPE canfs_request_seconds histogram\n"
"canfs_request_seconds_bucket{type=\"get\",le=\"5e-05\"} 0\n"
"canfs_request_seconds_bucket{type=\"get\",le=\"0.001\"} 1\n"
"canfs_request_seconds_bucket{type=\"get\",le=\"10\"} 2\n"
"canfs_request_seconds_bucket{type=\"get\",le=\"+Inf\"} 3\n"
"canfs_request_seconds_sum{type=\"get\"} 12.0125\n"
"canfs_request_seconds_count{type=\"get\"} 3\n";

/* The exact text of a small snapshot. */
static void
test_render(void **state)
{
	static const char *const gl[] = { "a", "b", "c", "d", "e" };
	static const double gv[] = { 0.1, 1e-7, 123456789012.0, -2.5, 1e300 };
	struct wire_metric m[11];
	struct wire_stats s = { 0, m };
	size_t len;
	char *text;

	(void)state;
	m[s.n] = mk("canfs_zone_volume", NULL, WIRE_STATS_GAUGE);
	m[s.n++].value = 0.25;
	m[s.n] = mk("canfs_requests_total", "get", WIRE_STATS_COUNTER);
	m[s.n++].count = 3;
	m[s.n] = mk("canfs_lookup_hops", NULL, WIRE_STATS_HISTOGRAM);
	m[s.n].count = 5;
	m[s.n].value = 41;
	m[s.n].nb = 3;
	m[s.n].le[0] = 1, m[s.n].le[1] = 2, m[s.n].le[2] = 24;
	m[s.n].cum[0] = 1, m[s.n].cum[1] = 3, m[s.n].cum[2] = 4;
	s.n++;
	/* Apart from its name's first metric: grouped with it. */
	m[s.n] = mk("canfs_requests_total", "put", WIRE_STATS_COUNTER);
	m[s.n++].count = UINT64_MAX;
	for (int i = 0; i < 5; i++) {
		m[s.n] = mk("test_gauge", gl[i], WIRE_STATS_GAUGE);
		m[s.n++].value = gv[i];
	}
	m[s.n] = mk("canfs_request_seconds", "get", WIRE_STATS_HISTOGRAM);
	m[s.n].count = 3;
	m[s.n].value = 12.0125;
	m[s.n].nb = 3;
	m[s.n].le[0] = 0.00005, m[s.n].le[1] = 0.001, m[s.n].le[2] = 10;
	m[s.n].cum[0] = 0, m[s.n].cum[1] = 1, m[s.n].cum[2] = 2;
	s.n++;
	/* A second type for one name would be invalid: left out. */
	m[s.n] = mk("test_gauge", "f", WIRE_STATS_COUNTER);
	m[s.n++].count = 7;
	text = metrics_render(&s, &len);
	assert_string_equal(text, expected);
	assert_int_equal(len, strlen(expected));
	free(text);
}

/* An empty snapshot is an empty text. */
static void
test_render_empty(void **state)
{
	struct wire_stats s = { 0, NULL };
	size_t len = 99;
	char *text;

	(void)state;
	text = metrics_render(&s, &len);
	assert_non_null(text);
	assert_int_equal(len, 0);
	free(text);
}

/* --metrics HOST:PORT: numeric, with a port. */
static void
test_addr(void **state)
{
	(void)state;
	assert_true(metrics_addr_ok("127.0.0.1:9474"));
	assert_true(metrics_addr_ok("0.0.0.0:1"));
	assert_true(metrics_addr_ok("[::1]:65535"));
	assert_false(metrics_addr_ok("127.0.0.1:0"));
	assert_false(metrics_addr_ok("127.0.0.1:65536"));
	assert_false(metrics_addr_ok("127.0.0.1"));
	assert_false(metrics_addr_ok("localhost:9474"));
	assert_false(metrics_addr_ok(":9474"));
	assert_false(metrics_addr_ok(""));
	assert_false(metrics_addr_ok("none"));
}

/* A port in use is an error with the reason. */
static void
test_listen_in_use(void **state)
{
	char err[256], addr[64];
	int fd, fd2;

	(void)state;
	/* Find a free port by binding one, then bind it again. */
	for (int port = 29474; port < 29574; port++) {
		snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
		if ((fd = metrics_listen(addr, err, sizeof err)) >= 0)
			break;
	}
	assert_true(fd >= 0);
	fd2 = metrics_listen(addr, err, sizeof err);
	assert_int_equal(fd2, -1);
	assert_non_null(strstr(err, "in use"));
	assert_int_equal(metrics_listen("127.0.0.1:0", err, sizeof err), -1);
	close(fd);
}

/* Hops land in the bucket of their bound; the rest only in +Inf. */
static void
test_hops(void **state)
{
	struct stats *s = stats_new();

	(void)state;
	stats_hops(s, 1);
	stats_hops(s, 3);
	stats_hops(s, 16);
	stats_hops(s, 17);	/* <= 24 */
	stats_hops(s, 200);	/* past 64: +Inf */
	assert_int_equal(s->hops.count, 5);
	assert_true(s->hops.sum == 237);
	assert_int_equal(s->hops.b[0], 1);
	assert_int_equal(s->hops.b[2], 1);
	assert_int_equal(s->hops.b[15], 1);
	assert_int_equal(s->hops.b[16], 1);
	for (int i = 17; i < STATS_HOP_BUCKETS; i++)
		assert_int_equal(s->hops.b[i], 0);
	stats_free(s);
}

/* A request counts once, its failure once, its latency in seconds. */
static void
test_request(void **state)
{
	struct stats *s = stats_new();
	uint64_t total = 0;

	(void)state;
	/* 20 s ago: past the last bound (10 s), so only the count. */
	stats_request(s, STATS_PUT, stats_now_us() - 20000000, false);
	stats_request(s, STATS_GET, stats_now_us(), true);
	assert_int_equal(s->requests[STATS_PUT], 1);
	assert_int_equal(s->errors[STATS_PUT], 1);
	assert_int_equal(s->requests[STATS_GET], 1);
	assert_int_equal(s->errors[STATS_GET], 0);
	assert_true(s->latency[STATS_PUT].sum >= 20 &&
	    s->latency[STATS_PUT].sum < 21);
	for (int i = 0; i < STATS_LAT_BUCKETS; i++)
		total += s->latency[STATS_PUT].b[i];
	assert_int_equal(total, 0);
	assert_int_equal(s->latency[STATS_PUT].count, 1);
	stats_free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_render),
		cmocka_unit_test(test_render_empty),
		cmocka_unit_test(test_addr),
		cmocka_unit_test(test_listen_in_use),
		cmocka_unit_test(test_hops),
		cmocka_unit_test(test_request),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
