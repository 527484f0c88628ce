/*
 * test_canctl_health.c: the health word of `canctl status`
 * (overlay/canctl_health.c): the tiling check (exact, gaps, overlaps,
 * nested and equal zones), the rules for healthy, degraded and
 * unavailable, unknown metrics of older daemons, and byte counts.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "geom.h"
#include "../../overlay/canctl_health.h"

#define HALF ((uint32_t)1 << 31)

/* A live, active node with metrics and no zones. */
static void
node_init(struct ctl_node *x, uint64_t id)
{
	memset(x, 0, sizeof *x);
	x->n.id = id;
	snprintf(x->n.addr, sizeof x->n.addr, "127.0.0.1:%u",
	    (unsigned)(7400 + id));
	x->reachable = x->have_stats = true;
	x->state = CTL_NODE_ACTIVE;
}

/* Give x the zone of 2 dimensions at (lx, ly) with log2 sizes bx, by. */
static void
node_zone(struct ctl_node *x, uint32_t lx, uint32_t ly, int bx, int by)
{
	struct geom_zone *z = &x->n.zones[x->n.nzones++];

	memset(z, 0, sizeof *z);
	z->lo[0] = lx;
	z->lo[1] = ly;
	z->bits[0] = (uint8_t)bx;
	z->bits[1] = (uint8_t)by;
}

/* Four quadrants, one per node. */
static void
quadrants(struct ctl_node *x)
{
	for (int i = 0; i < 4; i++) {
		node_init(&x[i], (uint64_t)i + 1);
		node_zone(&x[i], i & 1 ? HALF : 0, i & 2 ? HALF : 0, 31, 31);
	}
}

/* Exact tiling: quadrants, and one node holding two zones. */
static void
test_tiling_exact(void **state)
{
	struct ctl_node x[4];
	double cov, vol;

	(void)state;
	quadrants(x);
	assert_int_equal(ctl_health_tiling(x, 4, 2, &cov, &vol),
	    CTL_TILE_EXACT);
	assert_true(cov == 1 && vol == 1);
	/* Node 1 takes node 4's quadrant over: still exact. */
	node_zone(&x[0], HALF, HALF, 31, 31);
	x[3].n.nzones = 0;
	assert_int_equal(ctl_health_tiling(x, 4, 2, &cov, &vol),
	    CTL_TILE_EXACT);
}

/* A missing quadrant is a gap of 1/4; no zones at all cover nothing. */
static void
test_tiling_gaps(void **state)
{
	struct ctl_node x[4];
	double cov, vol;

	(void)state;
	quadrants(x);
	assert_int_equal(ctl_health_tiling(x, 3, 2, &cov, &vol),
	    CTL_TILE_GAPS);
	assert_true(cov == 0.75);
	x[0].n.nzones = x[1].n.nzones = x[2].n.nzones = 0;
	assert_int_equal(ctl_health_tiling(x, 3, 2, &cov, &vol),
	    CTL_TILE_GAPS);
	assert_true(cov == 0);
}

/*
 * Overlaps: an equal zone twice, and a zone within another.  Volume sums
 * past 1, but coverage is exactly 1.  A gap hidden by an overlap of the
 * same size (the volume is 1) is still a gap.
 */
static void
test_tiling_overlaps(void **state)
{
	struct ctl_node x[5];
	double cov, vol;

	(void)state;
	quadrants(x);
	node_init(&x[4], 5);
	node_zone(&x[4], 0, 0, 31, 31);		/* = node 1's */
	assert_int_equal(ctl_health_tiling(x, 5, 2, &cov, &vol),
	    CTL_TILE_OVERLAPS);
	assert_true(cov == 1 && vol == 1.25);
	x[4].n.nzones = 0;
	node_zone(&x[4], 0, 0, 30, 30);		/* within node 1's */
	assert_int_equal(ctl_health_tiling(x, 5, 2, &cov, &vol),
	    CTL_TILE_OVERLAPS);
	assert_true(cov == 1);
	/* Node 4 replaced by one claiming node 1's quadrant again. */
	x[4].n.nzones = 0;
	node_zone(&x[4], 0, 0, 31, 31);
	memcpy(&x[3], &x[4], sizeof x[3]);
	assert_int_equal(ctl_health_tiling(x, 4, 2, &cov, &vol),
	    CTL_TILE_GAPS);
	assert_true(vol == 1 && cov == 0.75);
}

/* Healthy, and the sums: objects are replicas / k. */
static void
test_healthy(void **state)
{
	struct ctl_node x[4];
	struct ctl_health h;

	(void)state;
	quadrants(x);
	for (int i = 0; i < 4; i++) {
		x[i].replicas = 30;
		x[i].bytes = 1000;
		x[i].avail = 5000;
	}
	ctl_health_summarise(x, 4, 2, 3, &h);
	assert_int_equal(h.word, CTL_HEALTHY);
	assert_int_equal(h.nreasons, 0);
	assert_int_equal(h.nodes, 4);
	assert_int_equal(h.active, 4);
	assert_int_equal(h.zones, 4);
	assert_true(h.replicas == 120 && h.objects == 40 && h.bytes == 4000 &&
	    h.avail == 20000);
	assert_string_equal(ctl_health_name(h.word), "healthy");
}

/* Each degradation on its own, with its reason. */
static void
test_degraded(void **state)
{
	struct ctl_node x[5];
	struct ctl_health h;

	(void)state;
	quadrants(x);
	x[2].under = 7;
	ctl_health_summarise(x, 4, 2, 3, &h);
	assert_int_equal(h.word, CTL_DEGRADED);
	assert_int_equal(h.nreasons, 1);
	assert_non_null(strstr(h.reason[0], "7 under-replicated"));

	quadrants(x);
	x[1].backlog = 12;
	ctl_health_summarise(x, 4, 2, 3, &h);
	assert_int_equal(h.word, CTL_DEGRADED);
	assert_non_null(strstr(h.reason[0], "repair backlog of 12"));

	/* A node named by a neighbour that does not answer. */
	quadrants(x);
	node_init(&x[4], 9);
	x[4].reachable = x[4].have_stats = false;
	x[4].state = CTL_NODE_UNKNOWN;
	ctl_health_summarise(x, 5, 2, 3, &h);
	assert_int_equal(h.word, CTL_DEGRADED);
	assert_int_equal(h.unreachable, 1);
	assert_int_equal(h.nodes, 4);
	assert_string_equal(ctl_health_state_name(x[4].state), "unreachable");

	/* Overlapping zones. */
	quadrants(x);
	node_init(&x[4], 9);
	node_zone(&x[4], 0, 0, 30, 30);
	ctl_health_summarise(x, 5, 2, 3, &h);
	assert_int_equal(h.word, CTL_DEGRADED);
	assert_non_null(strstr(h.reason[0], "overlap"));

	/* Fewer nodes than k. */
	quadrants(x);
	node_zone(&x[0], HALF, 0, 31, 31);
	node_zone(&x[0], 0, HALF, 31, 31);
	node_zone(&x[0], HALF, HALF, 31, 31);
	ctl_health_summarise(x, 1, 2, 3, &h);
	assert_int_equal(h.word, CTL_DEGRADED);
	assert_non_null(strstr(h.reason[0], "fewer than k = 3"));
}

/* A gap makes the cluster unavailable, whatever else holds. */
static void
test_unavailable(void **state)
{
	struct ctl_node x[4];
	struct ctl_health h;

	(void)state;
	quadrants(x);
	x[3].reachable = x[3].have_stats = false;
	x[3].n.nzones = 0;	/* as the walk reports a lost node */
	x[0].under = 3;
	ctl_health_summarise(x, 4, 2, 3, &h);
	assert_int_equal(h.word, CTL_UNAVAILABLE);
	assert_int_equal(h.tiling, CTL_TILE_GAPS);
	assert_non_null(strstr(h.reason[0], "25% of the key space has no "
	    "live owner"));
	assert_true(h.nreasons == 3);
	assert_string_equal(ctl_health_name(h.word), "unavailable");
}

/* A node in the minority of a split degrades the cluster, says why. */
static void
test_minority(void **state)
{
	struct ctl_node x[4];
	struct ctl_health h;

	(void)state;
	quadrants(x);
	x[2].cut_off = 2;
	x[3].cut_off = -1;	/* an older daemon: unknown, not counted */
	ctl_health_summarise(x, 4, 2, 3, &h);
	assert_int_equal(h.word, CTL_DEGRADED);
	assert_int_equal(h.cut_off, 1);
	assert_int_equal(h.nreasons, 1);
	assert_non_null(strstr(h.reason[0], "1 node(s) cut off or in the "
	    "minority"));
}

/* Nodes without metrics (older daemons) count as unknown, not zero. */
static void
test_no_metrics(void **state)
{
	struct ctl_node x[4];
	struct ctl_health h;

	(void)state;
	quadrants(x);
	for (int i = 0; i < 4; i++) {
		x[i].have_stats = false;
		x[i].replicas = x[i].bytes = x[i].backlog = x[i].under = -1;
	}
	ctl_health_summarise(x, 4, 2, 3, &h);
	assert_int_equal(h.word, CTL_HEALTHY);
	assert_false(h.have_stats);
	assert_int_equal(h.nostats, 4);
	/* One new node among old ones: its numbers only. */
	x[1].have_stats = true;
	x[1].replicas = 9;
	x[1].bytes = 10;
	x[1].under = 1;
	ctl_health_summarise(x, 4, 2, 3, &h);
	assert_true(h.have_stats && h.replicas == 9 && h.objects == 3 &&
	    h.bytes == 10);
	assert_int_equal(h.nostats, 3);
	assert_int_equal(h.word, CTL_DEGRADED);
}

/* Byte counts for people. */
static void
test_bytes(void **state)
{
	char buf[32];

	(void)state;
	assert_string_equal(ctl_health_bytes(-1, buf, sizeof buf), "-");
	assert_string_equal(ctl_health_bytes(0, buf, sizeof buf), "0 B");
	assert_string_equal(ctl_health_bytes(1023, buf, sizeof buf),
	    "1023 B");
	assert_string_equal(ctl_health_bytes(1536, buf, sizeof buf),
	    "1.50 KiB");
	assert_string_equal(ctl_health_bytes(25.5 * 1048576, buf, sizeof buf),
	    "25.5 MiB");
	assert_string_equal(ctl_health_bytes(300.0 * 1073741824, buf,
	    sizeof buf), "300 GiB");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tiling_exact),
		cmocka_unit_test(test_tiling_gaps),
		cmocka_unit_test(test_tiling_overlaps),
		cmocka_unit_test(test_healthy),
		cmocka_unit_test(test_degraded),
		cmocka_unit_test(test_unavailable),
		cmocka_unit_test(test_minority),
		cmocka_unit_test(test_no_metrics),
		cmocka_unit_test(test_bytes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
