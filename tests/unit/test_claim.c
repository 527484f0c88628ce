/*
 * test_claim.c: the rule that settles overlapping claims (overlay/claim.c).
 *
 * Checks: disjoint claims are left alone; equal claims go to the smaller
 * (id, incarnation); a coarser claim carves the finer one out and keeps
 * the rest; a takeover's subtraction leaves only unclaimed space; and,
 * over random pairs of claims cut from one split tree,
 * both nodes deciding at once from the same two claims end with claims
 * that do not overlap and cover exactly what the two covered before.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../overlay/claim.h"

static void
node_with(struct wire_node *w, uint64_t id, uint64_t inc,
    const struct geom_zone *z, int nz)
{
	memset(w, 0, sizeof *w);
	w->id = id;
	w->inc = inc;
	w->nzones = nz;
	memcpy(w->zones, z, (size_t)nz * sizeof *z);
}

static __uint128_t
vol(const struct geom_zone *z, int d)
{
	return (__uint128_t)1 << (32 * d - geom_zone_depth(z, d));
}

static void
test_disjoint(void **state)
{
	struct geom_zone whole, lo, hi, out[WIRE_MAX_ZONES];
	struct wire_node a, b;
	int n;

	(void)state;
	geom_zone_whole(&whole, 2);
	assert_int_equal(geom_zone_split(&whole, 2, &lo, &hi), 0);
	node_with(&a, 9, 1, &lo, 1);
	node_with(&b, 1, 1, &hi, 1);
	assert_int_equal(claim_settle(&a, &b, 2, out, &n), 0);
	assert_int_equal(n, 1);
	assert_true(geom_zone_equal(&out[0], &lo, 2));
}

static void
test_equal(void **state)
{
	struct geom_zone whole, lo, hi, out[WIRE_MAX_ZONES], two[2];
	struct wire_node a, b;
	int n;

	(void)state;
	geom_zone_whole(&whole, 2);
	assert_int_equal(geom_zone_split(&whole, 2, &lo, &hi), 0);
	two[0] = lo;
	two[1] = hi;
	node_with(&a, 9, 1, two, 2);
	node_with(&b, 3, 1, &hi, 1);
	/* a has the bigger id: it gives hi up and keeps lo */
	assert_int_equal(claim_settle(&a, &b, 2, out, &n), 1);
	assert_int_equal(n, 1);
	assert_true(geom_zone_equal(&out[0], &lo, 2));
	assert_int_equal(claim_settle(&b, &a, 2, out, &n), 0);
	assert_int_equal(n, 1);
	/* same id (two incarnations): the older incarnation keeps it */
	node_with(&a, 3, 2, &hi, 1);
	assert_int_equal(claim_settle(&a, &b, 2, out, &n), 1);
	assert_int_equal(n, 0);
	assert_int_equal(claim_settle(&b, &a, 2, out, &n), 0);
}

static void
test_carve(void **state)
{
	struct geom_zone whole, cur, lo, hi, out[WIRE_MAX_ZONES];
	struct wire_node a, b;
	__uint128_t v = 0;
	int n;

	(void)state;
	geom_zone_whole(&whole, 3);
	cur = whole;
	for (int i = 0; i < 4; i++) {
		assert_int_equal(geom_zone_split(&cur, 3, &lo, &hi), 0);
		cur = i == 2 ? lo : hi;
	}
	/* the finer claim keeps its space whatever the ids */
	node_with(&a, 1, 1, &whole, 1);
	node_with(&b, 2, 1, &cur, 1);
	assert_int_equal(claim_settle(&b, &a, 3, out, &n), 0);
	assert_int_equal(claim_settle(&a, &b, 3, out, &n), 1);
	assert_int_equal(n, 4);
	for (int i = 0; i < n; i++) {
		assert_false(geom_zone_overlaps(&out[i], &cur, 3));
		v += vol(&out[i], 3);
	}
	assert_true(v + vol(&cur, 3) == vol(&whole, 3));
}

/* A takeover takes only what no live node claims. */
static void
test_subtract(void **state)
{
	struct geom_zone whole, a, b, a0, a1, a00, a01, z[WIRE_MAX_ZONES];
	struct geom_zone minus[2];
	__uint128_t v = 0;
	int n;

	(void)state;
	geom_zone_whole(&whole, 2);
	assert_int_equal(geom_zone_split(&whole, 2, &a, &b), 0);
	assert_int_equal(geom_zone_split(&a, 2, &a0, &a1), 0);
	assert_int_equal(geom_zone_split(&a0, 2, &a00, &a01), 0);
	/* the dead node held a and b; a01 was split off to a joiner, and b
	 * (stale: it was handed on) is inside a live node's bigger claim */
	z[0] = a;
	z[1] = b;
	n = 2;
	minus[0] = a01;
	minus[1] = b;
	assert_int_equal(claim_subtract(z, &n, minus, 2, 2), 0);
	assert_int_equal(n, 2); /* a00 and a1 */
	for (int i = 0; i < n; i++) {
		assert_false(geom_zone_overlaps(&z[i], &a01, 2));
		assert_false(geom_zone_overlaps(&z[i], &b, 2));
		assert_true(geom_zone_within(&z[i], &a, 2));
		v += vol(&z[i], 2);
	}
	assert_true(v + vol(&a01, 2) == vol(&a, 2));
	/* a claim covering everything leaves nothing */
	z[0] = a00;
	n = 1;
	assert_int_equal(claim_subtract(z, &n, &whole, 1, 2), 0);
	assert_int_equal(n, 0);
	/* nothing claimed: unchanged */
	z[0] = a;
	n = 1;
	assert_int_equal(claim_subtract(z, &n, &b, 1, 2), 0);
	assert_int_equal(n, 1);
	assert_true(geom_zone_equal(&z[0], &a, 2));
}

/* Small deterministic generator (xorshift64*). */
static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint32_t
rnd(uint32_t below)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return (uint32_t)((rng * 0x2545f4914f6cdd1dULL) >> 33) % below;
}

/* A random partition of the space into n zones, by random splits. */
static int
partition(struct geom_zone *z, int n, int d)
{
	int have = 1;

	geom_zone_whole(&z[0], d);
	while (have < n) {
		int i = (int)rnd((uint32_t)have);
		struct geom_zone lo, hi;

		assert_int_equal(geom_zone_split(&z[i], d, &lo, &hi), 0);
		z[i] = lo;
		z[have++] = hi;
	}
	return have;
}

/* A random subset of up to max zones of a random partition. */
static void
random_claim(struct wire_node *w, uint64_t id, int d, int max)
{
	struct geom_zone part[24];
	int np = partition(part, 2 + (int)rnd(22), d);

	memset(w, 0, sizeof *w);
	w->id = id;
	w->inc = 1;
	for (int i = 0; i < np && w->nzones < max; i++)
		if (rnd(3) == 0)
			w->zones[w->nzones++] = part[i];
}

static __uint128_t
claim_vol(const struct geom_zone *z, int n, int d)
{
	__uint128_t v = 0;

	for (int i = 0; i < n; i++)
		v += vol(&z[i], d);
	return v;
}

/* Both sides decide at once, from the same two claims: no gap, no overlap. */
static void
test_both_sides_agree(void **state)
{
	int tried = 0;

	(void)state;
	for (int round = 0; round < 20000; round++) {
		int d = 2 + (int)rnd(3), na, nb;
		struct geom_zone oa[WIRE_MAX_ZONES], ob[WIRE_MAX_ZONES];
		struct wire_node a, b;
		__uint128_t both = 0;
		int ra, rb;

		random_claim(&a, 1 + rnd(4), d, 6);
		random_claim(&b, 1 + rnd(4), d, 6);
		if (a.id == b.id)
			b.inc = 2;
		ra = claim_settle(&a, &b, d, oa, &na);
		rb = claim_settle(&b, &a, d, ob, &nb);
		if (ra < 0 || rb < 0)
			continue; /* too many pieces: both keep theirs */
		tried++;
		for (int i = 0; i < a.nzones; i++)
			for (int j = 0; j < b.nzones; j++)
				if (geom_zone_overlaps(&a.zones[i],
				    &b.zones[j], d)) {
					__uint128_t va = vol(&a.zones[i], d);
					__uint128_t vb = vol(&b.zones[j], d);

					both += va < vb ? va : vb;
				}
		/* never both give up one piece, never both keep one */
		for (int i = 0; i < na; i++)
			for (int j = 0; j < nb; j++)
				assert_false(geom_zone_overlaps(&oa[i], &ob[j],
				    d));
		assert_true(claim_vol(oa, na, d) + claim_vol(ob, nb, d) ==
		    claim_vol(a.zones, a.nzones, d) +
		    claim_vol(b.zones, b.nzones, d) - both);
		/* nothing changes when there was nothing to settle */
		if (both == 0)
			assert_true(ra == 0 && rb == 0);
		else
			assert_true(ra == 1 || rb == 1);
	}
	assert_true(tried > 15000);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_disjoint),
		cmocka_unit_test(test_equal),
		cmocka_unit_test(test_carve),
		cmocka_unit_test(test_subtract),
		cmocka_unit_test(test_both_sides_agree),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
