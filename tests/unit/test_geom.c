/*
 * test_geom.c: unit and property tests of the CAN torus geometry.
 *
 * The geometry decides ownership and routing on every node, so besides
 * hand-picked cases (seams, thin zones, corners) a property test builds
 * random partitions and checks the invariants the overlay relies on: the
 * zones tile the space exactly, and greedy routing always makes progress.
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

#define HALF ((uint32_t)1 << 31)
#define QUARTER ((uint32_t)1 << 30)

/* Deterministic PRNG (splitmix64) so failures reproduce. */
static uint64_t prng_state;

static void
prng_seed(uint64_t seed)
{
	prng_state = seed;
}

static uint64_t
prng_next(void)
{
	uint64_t z = (prng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Uniform-enough value in [0, n). */
static uint32_t
prng_below(uint32_t n)
{
	return (uint32_t)(prng_next() % n);
}

/*
 * A random coordinate, biased towards the interesting places: the torus
 * seam and zone boundaries at powers of two.
 */
static uint32_t
prng_coord(void)
{
	switch (prng_below(8)) {
	case 0:
		return 0;
	case 1:
		return UINT32_MAX - prng_below(4);
	case 2:
		return (uint32_t)(1u << prng_below(32)) - prng_below(2);
	default:
		return (uint32_t)prng_next();
	}
}

static void
prng_point(struct geom_point *p, int d)
{
	memset(p, 0, sizeof *p);
	for (int i = 0; i < d; i++)
		p->c[i] = prng_coord();
}

/* Build a zone from up to 8 (lo, bits) pairs; other dimensions zero. */
static struct geom_zone
zone_make(int d, const uint32_t *lo, const uint8_t *bits)
{
	struct geom_zone z;

	memset(&z, 0, sizeof z);
	for (int i = 0; i < d; i++) {
		z.lo[i] = lo[i];
		z.bits[i] = bits[i];
	}
	return z;
}

static struct geom_point
point_make(int d, const uint32_t *c)
{
	struct geom_point p;

	memset(&p, 0, sizeof p);
	for (int i = 0; i < d; i++)
		p.c[i] = c[i];
	return p;
}

/* Compare 128-bit distances without truncating them. */
#define assert_dist_eq(a, b) assert_true((geom_dist_t)(a) == (geom_dist_t)(b))

/* The whole space in every supported dimension count. */
static void
test_whole(void **state)
{
	(void)state;
	for (int d = 1; d <= GEOM_MAX_DIMS; d++) {
		struct geom_zone z, par, sib;
		struct geom_point p;

		geom_zone_whole(&z, d);
		assert_true(geom_zone_valid(&z, d));
		assert_int_equal(geom_zone_depth(&z, d), 0);
		for (int i = 0; i < d; i++) {
			assert_int_equal(z.lo[i], 0);
			assert_int_equal(z.bits[i], 32);
			assert_true(geom_zone_hi(&z, i) == GEOM_SPACE);
		}
		for (int i = d; i < GEOM_MAX_DIMS; i++)
			assert_int_equal(z.bits[i], 0);
		assert_true(geom_zone_share(&z, d) == 1.0);
		assert_int_equal(geom_zone_parent(&z, d, &par, &sib), -1);

		memset(&p, 0, sizeof p);
		assert_true(geom_zone_contains(&z, &p, d));
		memset(&p, 0xff, sizeof p);
		assert_true(geom_zone_contains(&z, &p, d));
		assert_dist_eq(geom_zone_dist2(&z, &p, d), 0);
	}
}

/* Half-open bounds, and only the first d coordinates count. */
static void
test_contains(void **state)
{
	struct geom_zone z = zone_make(2, (uint32_t[]){ HALF, 0 },
	    (uint8_t[]){ 31, 30 });
	struct geom_point p;

	(void)state;
	p = point_make(2, (uint32_t[]){ HALF, 0 });
	assert_true(geom_zone_contains(&z, &p, 2));
	p = point_make(2, (uint32_t[]){ UINT32_MAX, QUARTER - 1 });
	assert_true(geom_zone_contains(&z, &p, 2));
	p = point_make(2, (uint32_t[]){ HALF - 1, 0 });
	assert_false(geom_zone_contains(&z, &p, 2));
	p = point_make(2, (uint32_t[]){ HALF, QUARTER });
	assert_false(geom_zone_contains(&z, &p, 2));
	p = point_make(2, (uint32_t[]){ UINT32_MAX, UINT32_MAX });
	assert_false(geom_zone_contains(&z, &p, 2));

	/* Garbage beyond d is ignored. */
	p = point_make(2, (uint32_t[]){ HALF + 7, 12345 });
	p.c[2] = p.c[7] = 0xdeadbeef;
	assert_true(geom_zone_contains(&z, &p, 2));

	/* A single position. */
	z = zone_make(1, (uint32_t[]){ UINT32_MAX }, (uint8_t[]){ 0 });
	assert_true(geom_zone_hi(&z, 0) == GEOM_SPACE);
	p = point_make(1, (uint32_t[]){ UINT32_MAX });
	assert_true(geom_zone_contains(&z, &p, 1));
	p = point_make(1, (uint32_t[]){ UINT32_MAX - 1 });
	assert_false(geom_zone_contains(&z, &p, 1));
	p = point_make(1, (uint32_t[]){ 0 });
	assert_false(geom_zone_contains(&z, &p, 1));
}

/* Split halves the longest dimension; ties go to the lowest index. */
static void
test_split_longest(void **state)
{
	struct geom_zone z, lo, hi;

	(void)state;
	geom_zone_whole(&z, 3);
	assert_int_equal(geom_zone_split(&z, 3, &lo, &hi), 0);
	/* All equal: dimension 0. */
	assert_int_equal(lo.bits[0], 31);
	assert_int_equal(lo.bits[1], 32);
	assert_int_equal(lo.bits[2], 32);
	assert_int_equal(lo.lo[0], 0);
	assert_int_equal(hi.lo[0], HALF);
	assert_int_equal(hi.bits[0], 31);
	assert_int_equal(hi.lo[1], 0);

	/* {31, 32, 32}: dimension 1 is longest, and ties 1/2 go to 1. */
	z = hi;
	assert_int_equal(geom_zone_split(&z, 3, &lo, &hi), 0);
	assert_int_equal(lo.bits[1], 31);
	assert_int_equal(lo.bits[2], 32);
	assert_int_equal(lo.lo[0], HALF);
	assert_int_equal(hi.lo[0], HALF);
	assert_int_equal(lo.lo[1], 0);
	assert_int_equal(hi.lo[1], HALF);

	/* Longest not first: {20, 22, 21} splits dimension 1. */
	z = zone_make(3, (uint32_t[]){ 1u << 20, 3u << 22, 0 },
	    (uint8_t[]){ 20, 22, 21 });
	assert_true(geom_zone_valid(&z, 3));
	assert_int_equal(geom_zone_split(&z, 3, &lo, &hi), 0);
	assert_int_equal(lo.bits[0], 20);
	assert_int_equal(lo.bits[1], 21);
	assert_int_equal(lo.bits[2], 21);
	assert_int_equal(lo.lo[1], 3u << 22);
	assert_int_equal(hi.lo[1], (3u << 22) + (1u << 21));
	assert_int_equal(hi.lo[0], 1u << 20);
	assert_int_equal(hi.lo[2], 0);

	/* Tie between dimensions 2 and 3 (not 0): dimension 2 wins. */
	z = zone_make(4, (uint32_t[]){ 0, 0, 0, 0 },
	    (uint8_t[]){ 5, 6, 9, 9 });
	assert_int_equal(geom_zone_split(&z, 4, &lo, &hi), 0);
	assert_int_equal(lo.bits[2], 8);
	assert_int_equal(lo.bits[3], 9);
	assert_int_equal(hi.lo[2], 256);

	/* The halves tile the parent. */
	assert_true(geom_zone_valid(&lo, 4));
	assert_true(geom_zone_valid(&hi, 4));
	assert_false(geom_zone_overlaps(&lo, &hi, 4));
	assert_true(geom_zone_within(&lo, &z, 4));
	assert_true(geom_zone_within(&hi, &z, 4));
	assert_int_equal(geom_zone_depth(&lo, 4), geom_zone_depth(&z, 4) + 1);
}

/* Zones that are already a single position in some dimensions. */
static void
test_split_thin(void **state)
{
	struct geom_zone z, lo, hi;

	(void)state;
	/* {0, 3}: only dimension 1 can be split. */
	z = zone_make(2, (uint32_t[]){ 77, 8 }, (uint8_t[]){ 0, 3 });
	assert_int_equal(geom_zone_split(&z, 2, &lo, &hi), 0);
	assert_int_equal(lo.bits[0], 0);
	assert_int_equal(lo.bits[1], 2);
	assert_int_equal(lo.lo[1], 8);
	assert_int_equal(hi.lo[1], 12);
	assert_int_equal(hi.lo[0], 77);

	/* {0, 0, 1}: the last dimension. */
	z = zone_make(3, (uint32_t[]){ 5, 6, 2 }, (uint8_t[]){ 0, 0, 1 });
	assert_int_equal(geom_zone_split(&z, 3, &lo, &hi), 0);
	assert_int_equal(lo.bits[2], 0);
	assert_int_equal(lo.lo[2], 2);
	assert_int_equal(hi.lo[2], 3);
	assert_int_equal(hi.bits[2], 0);

	/* Two positions at the top of the space: the high half ends at 2^32. */
	z = zone_make(1, (uint32_t[]){ UINT32_MAX - 1 }, (uint8_t[]){ 1 });
	assert_int_equal(geom_zone_split(&z, 1, &lo, &hi), 0);
	assert_int_equal(lo.lo[0], UINT32_MAX - 1);
	assert_int_equal(hi.lo[0], UINT32_MAX);
	assert_true(geom_zone_hi(&hi, 0) == GEOM_SPACE);
	assert_true(geom_zone_valid(&hi, 1));

	/* A single position in every dimension cannot split. */
	for (int d = 1; d <= GEOM_MAX_DIMS; d++) {
		memset(&z, 0, sizeof z);
		for (int i = 0; i < d; i++)
			z.lo[i] = UINT32_MAX - (uint32_t)i;
		assert_int_equal(geom_zone_split(&z, d, &lo, &hi), -1);
		assert_int_equal(geom_zone_depth(&z, d), 32 * d);
	}
}

/* Check one split: parents, siblings both ways, and the tiling. */
static void
check_split(const struct geom_zone *z, const struct geom_zone *lo,
    const struct geom_zone *hi, int d)
{
	struct geom_zone par, sib;

	assert_true(geom_zone_valid(lo, d));
	assert_true(geom_zone_valid(hi, d));
	assert_int_equal(geom_zone_parent(lo, d, &par, &sib), 0);
	assert_true(geom_zone_equal(&par, z, d));
	assert_true(geom_zone_equal(&sib, hi, d));
	assert_int_equal(geom_zone_parent(hi, d, &par, &sib), 0);
	assert_true(geom_zone_equal(&par, z, d));
	assert_true(geom_zone_equal(&sib, lo, d));
	/* NULL outputs are allowed. */
	assert_int_equal(geom_zone_parent(hi, d, NULL, NULL), 0);
	assert_true(geom_zone_siblings(lo, hi, d));
	assert_true(geom_zone_siblings(hi, lo, d));
	assert_false(geom_zone_siblings(lo, lo, d));
	assert_false(geom_zone_siblings(lo, z, d));
	assert_false(geom_zone_siblings(z, hi, d));
	assert_false(geom_zone_overlaps(lo, hi, d));
	assert_true(geom_zone_adjacent(lo, hi, d));
	assert_true(geom_zone_adjacent(hi, lo, d));
	assert_int_equal(geom_zone_depth(lo, d), geom_zone_depth(z, d) + 1);
}

/*
 * Random walks down the partition tree in d = 1..4: at every step both
 * halves know their parent and each other, and zones from different
 * branches (cousins, uncles) are never taken for siblings.
 */
static void
test_parent_sequences(void **state)
{
	(void)state;
	prng_seed(0x5eed0001);
	for (int d = 1; d <= 4; d++) {
		for (int walk = 0; walk < 50; walk++) {
			struct geom_zone z, lo, hi, uncle;
			int depth = 0;
			bool have_uncle = false;

			geom_zone_whole(&z, d);
			while (geom_zone_split(&z, d, &lo, &hi) == 0) {
				struct geom_zone lolo, lohi, hilo, hihi;

				check_split(&z, &lo, &hi, d);
				depth++;
				assert_int_equal(geom_zone_depth(&lo, d),
				    depth);
				if (have_uncle) {
					assert_false(geom_zone_siblings(&lo,
					    &uncle, d));
					assert_false(geom_zone_siblings(&uncle,
					    &hi, d));
				}
				/* Cousins: same size, possibly touching. */
				if (geom_zone_split(&lo, d, &lolo,
				    &lohi) == 0 && geom_zone_split(&hi, d,
				    &hilo, &hihi) == 0) {
					assert_false(geom_zone_siblings(&lohi,
					    &hilo, d));
					assert_false(geom_zone_siblings(&hilo,
					    &lohi, d));
					assert_false(geom_zone_siblings(&lolo,
					    &hilo, d));
					assert_false(geom_zone_siblings(&lohi,
					    &hihi, d));
				}
				if (prng_below(2)) {
					uncle = lo;
					z = hi;
				} else {
					uncle = hi;
					z = lo;
				}
				have_uncle = true;
			}
			assert_int_equal(depth, 32 * d);
		}
	}
}

/* Zones that no sequence of splits produces have no parent. */
static void
test_parent_rejects(void **state)
{
	struct geom_zone z, a, b, par;

	(void)state;
	/* Sizes differ by more than a factor of two. */
	z = zone_make(2, (uint32_t[]){ 0, 0 }, (uint8_t[]){ 30, 32 });
	assert_int_equal(geom_zone_parent(&z, 2, &par, NULL), -1);
	/* Higher dimension split before a lower one. */
	z = zone_make(2, (uint32_t[]){ 0, 0 }, (uint8_t[]){ 32, 31 });
	assert_int_equal(geom_zone_parent(&z, 2, &par, NULL), -1);
	z = zone_make(3, (uint32_t[]){ 0, 0, 0 }, (uint8_t[]){ 31, 32, 31 });
	assert_int_equal(geom_zone_parent(&z, 3, &par, NULL), -1);

	/* Same size and touching, but split along the wrong dimension. */
	a = zone_make(2, (uint32_t[]){ 0, 0 }, (uint8_t[]){ 31, 31 });
	b = zone_make(2, (uint32_t[]){ HALF, 0 }, (uint8_t[]){ 31, 31 });
	assert_false(geom_zone_siblings(&a, &b, 2));
	assert_false(geom_zone_siblings(&b, &a, 2));
	b = zone_make(2, (uint32_t[]){ 0, HALF }, (uint8_t[]){ 31, 31 });
	assert_true(geom_zone_siblings(&a, &b, 2));
	/* Same size, apart. */
	a = zone_make(1, (uint32_t[]){ 0 }, (uint8_t[]){ 30 });
	b = zone_make(1, (uint32_t[]){ 2 * QUARTER }, (uint8_t[]){ 30 });
	assert_false(geom_zone_siblings(&a, &b, 1));
	/* Touching across the seam is not a split. */
	b = zone_make(1, (uint32_t[]){ 3 * QUARTER }, (uint8_t[]){ 30 });
	assert_false(geom_zone_siblings(&a, &b, 1));
	assert_false(geom_zone_siblings(&b, &a, 1));
	b = zone_make(1, (uint32_t[]){ QUARTER }, (uint8_t[]){ 30 });
	assert_true(geom_zone_siblings(&a, &b, 1));
	/* Different sizes. */
	b = zone_make(1, (uint32_t[]){ HALF }, (uint8_t[]){ 31 });
	assert_false(geom_zone_siblings(&a, &b, 1));
}

/* Neighbours across a face, both ways; not across a gap. */
static void
test_adjacent_basic(void **state)
{
	struct geom_zone q[4];

	(void)state;
	/* Four quarters of the 1-D ring. */
	for (int i = 0; i < 4; i++)
		q[i] = zone_make(1, (uint32_t[]){ (uint32_t)i * QUARTER },
		    (uint8_t[]){ 30 });
	for (int i = 0; i < 4; i++) {
		for (int j = 0; j < 4; j++) {
			bool want = (i - j + 4) % 4 == 1 ||
			    (j - i + 4) % 4 == 1;

			assert_int_equal(geom_zone_adjacent(&q[i], &q[j], 1),
			    want);
		}
	}

	/* 2-D: a small zone against a big one, partial face. */
	struct geom_zone big = zone_make(2, (uint32_t[]){ 0, 0 },
	    (uint8_t[]){ 31, 32 });
	struct geom_zone small = zone_make(2, (uint32_t[]){ HALF, 3 * QUARTER },
	    (uint8_t[]){ 30, 30 });
	assert_true(geom_zone_adjacent(&big, &small, 2));
	assert_true(geom_zone_adjacent(&small, &big, 2));
	/* Moved one quarter right: it now touches big across the seam. */
	small.lo[0] = HALF + QUARTER;
	assert_true(geom_zone_adjacent(&big, &small, 2));
	assert_true(geom_zone_adjacent(&small, &big, 2));
	/* Back, with big shrunk to [0, 2^30): a gap on both sides. */
	small.lo[0] = HALF;
	big.bits[0] = 30;
	assert_false(geom_zone_adjacent(&big, &small, 2));
	assert_false(geom_zone_adjacent(&small, &big, 2));
}

/* The torus seam: a zone ending at 2^32 touches one starting at 0. */
static void
test_adjacent_seam(void **state)
{
	struct geom_zone a, b;

	(void)state;
	a = zone_make(2, (uint32_t[]){ 0, 0 }, (uint8_t[]){ 30, 30 });
	b = zone_make(2, (uint32_t[]){ 3 * QUARTER, 0 }, (uint8_t[]){ 30, 30 });
	assert_true(geom_zone_hi(&b, 0) == GEOM_SPACE);
	assert_true(geom_zone_adjacent(&a, &b, 2));
	assert_true(geom_zone_adjacent(&b, &a, 2));
	/* The same in dimension 1. */
	b = zone_make(2, (uint32_t[]){ 0, 3 * QUARTER }, (uint8_t[]){ 30, 30 });
	assert_true(geom_zone_adjacent(&a, &b, 2));
	assert_true(geom_zone_adjacent(&b, &a, 2));
	/* Across the seam only diagonally: a corner, not a neighbour. */
	b = zone_make(2, (uint32_t[]){ 3 * QUARTER, 3 * QUARTER },
	    (uint8_t[]){ 30, 30 });
	assert_false(geom_zone_adjacent(&a, &b, 2));
	/* Not touching the seam. */
	b = zone_make(2, (uint32_t[]){ HALF, 0 }, (uint8_t[]){ 30, 30 });
	assert_false(geom_zone_adjacent(&a, &b, 2));
	/* Single positions at 0 and 2^32 - 1. */
	a = zone_make(1, (uint32_t[]){ 0 }, (uint8_t[]){ 0 });
	b = zone_make(1, (uint32_t[]){ UINT32_MAX }, (uint8_t[]){ 0 });
	assert_true(geom_zone_adjacent(&a, &b, 1));
	assert_true(geom_zone_adjacent(&b, &a, 1));
	b.lo[0] = UINT32_MAX - 1;
	assert_false(geom_zone_adjacent(&a, &b, 1));
}

/* In 3-D, touching along an edge or at a corner is not adjacency. */
static void
test_adjacent_edge_corner_3d(void **state)
{
	struct geom_zone a, b;

	(void)state;
	a = zone_make(3, (uint32_t[]){ 0, 0, 0 }, (uint8_t[]){ 30, 30, 30 });
	/* Face. */
	b = zone_make(3, (uint32_t[]){ QUARTER, 0, 0 },
	    (uint8_t[]){ 30, 30, 30 });
	assert_true(geom_zone_adjacent(&a, &b, 3));
	/* Part of a face. */
	b = zone_make(3, (uint32_t[]){ 0, QUARTER, QUARTER / 2 },
	    (uint8_t[]){ 29, 29, 29 });
	assert_true(geom_zone_adjacent(&a, &b, 3));
	assert_true(geom_zone_adjacent(&b, &a, 3));
	/* Edge: apart in dimensions 0 and 1. */
	b = zone_make(3, (uint32_t[]){ QUARTER, QUARTER, 0 },
	    (uint8_t[]){ 30, 30, 30 });
	assert_false(geom_zone_adjacent(&a, &b, 3));
	assert_false(geom_zone_adjacent(&b, &a, 3));
	/* Edge across the seam. */
	b = zone_make(3, (uint32_t[]){ 0, 3 * QUARTER, 3 * QUARTER },
	    (uint8_t[]){ 30, 30, 30 });
	assert_false(geom_zone_adjacent(&a, &b, 3));
	/* Corner. */
	b = zone_make(3, (uint32_t[]){ QUARTER, QUARTER, QUARTER },
	    (uint8_t[]){ 30, 30, 30 });
	assert_false(geom_zone_adjacent(&a, &b, 3));
	assert_false(geom_zone_adjacent(&b, &a, 3));
	b = zone_make(3, (uint32_t[]){ 3 * QUARTER, 3 * QUARTER, 3 * QUARTER },
	    (uint8_t[]){ 30, 30, 30 });
	assert_false(geom_zone_adjacent(&a, &b, 3));
}

/* Overlapping boxes (equal, nested, crossing) are not neighbours. */
static void
test_adjacent_overlap(void **state)
{
	struct geom_zone a, b;

	(void)state;
	a = zone_make(2, (uint32_t[]){ 0, 0 }, (uint8_t[]){ 31, 31 });
	assert_false(geom_zone_adjacent(&a, &a, 2));
	b = zone_make(2, (uint32_t[]){ QUARTER, QUARTER },
	    (uint8_t[]){ 30, 30 });
	assert_true(geom_zone_overlaps(&a, &b, 2));
	assert_true(geom_zone_within(&b, &a, 2));
	assert_false(geom_zone_within(&a, &b, 2));
	assert_false(geom_zone_adjacent(&a, &b, 2));
	assert_false(geom_zone_adjacent(&b, &a, 2));
	/* Crossing: wide in 0, tall in 1. */
	a = zone_make(2, (uint32_t[]){ 0, QUARTER }, (uint8_t[]){ 32, 30 });
	b = zone_make(2, (uint32_t[]){ QUARTER, 0 }, (uint8_t[]){ 30, 32 });
	assert_true(geom_zone_overlaps(&a, &b, 2));
	assert_false(geom_zone_adjacent(&a, &b, 2));
	/* A whole-space zone overlaps everything. */
	geom_zone_whole(&a, 2);
	assert_false(geom_zone_adjacent(&a, &b, 2));
}

/* Squared torus distance to the nearest point of a zone. */
static void
test_dist(void **state)
{
	struct geom_zone z;
	struct geom_point p;

	(void)state;
	z = zone_make(2, (uint32_t[]){ QUARTER, QUARTER },
	    (uint8_t[]){ 30, 30 });
	p = point_make(2, (uint32_t[]){ QUARTER, 2 * QUARTER - 1 });
	assert_dist_eq(geom_zone_dist2(&z, &p, 2), 0);
	/* Just past hi: one step. */
	p = point_make(2, (uint32_t[]){ 2 * QUARTER, QUARTER });
	assert_dist_eq(geom_zone_dist2(&z, &p, 2), 1);
	/* Just below lo in both: 1 + 1. */
	p = point_make(2, (uint32_t[]){ QUARTER - 1, QUARTER - 1 });
	assert_dist_eq(geom_zone_dist2(&z, &p, 2), 2);
	/* 3 and 4 away: 25. */
	p = point_make(2, (uint32_t[]){ QUARTER - 3, 2 * QUARTER + 3 });
	assert_dist_eq(geom_zone_dist2(&z, &p, 2), 25);

	/* Torus wrap: 2^32 - 1 is one step from a zone starting at 0. */
	z = zone_make(1, (uint32_t[]){ 0 }, (uint8_t[]){ 30 });
	p = point_make(1, (uint32_t[]){ UINT32_MAX });
	assert_dist_eq(geom_zone_dist2(&z, &p, 1), 1);
	p = point_make(1, (uint32_t[]){ UINT32_MAX - 9 });
	assert_dist_eq(geom_zone_dist2(&z, &p, 1), 100);
	/* And a point just above 0 is one step from a zone ending at 2^32. */
	z = zone_make(1, (uint32_t[]){ 3 * QUARTER }, (uint8_t[]){ 30 });
	p = point_make(1, (uint32_t[]){ 0 });
	assert_dist_eq(geom_zone_dist2(&z, &p, 1), 1);
	p = point_make(1, (uint32_t[]){ 4 });
	assert_dist_eq(geom_zone_dist2(&z, &p, 1), 25);
	/*
	 * Far side of [0, 2^30) from p = 2^31 + 2^29: hi - 1 is 2^30 + 2^29
	 * + 1 below p, lo = 0 is 2^32 - p = 2^30 + 2^29 above it, via the seam.
	 */
	z = zone_make(1, (uint32_t[]){ 0 }, (uint8_t[]){ 30 });
	p = point_make(1, (uint32_t[]){ HALF + QUARTER / 2 });
	assert_dist_eq(geom_zone_dist2(&z, &p, 1),
	    (geom_dist_t)(HALF - QUARTER / 2) * (HALF - QUARTER / 2));

	/* The largest distance needs more than 64 bits: 8 x (2^31)^2. */
	memset(&z, 0, sizeof z);
	memset(&p, 0, sizeof p);
	for (int i = 0; i < 8; i++)
		p.c[i] = HALF;
	assert_dist_eq(geom_zone_dist2(&z, &p, 8), (geom_dist_t)1 << 65);
}

/* Depth counts halvings; share follows from it. */
static void
test_depth(void **state)
{
	struct geom_zone z, lo, hi;

	(void)state;
	geom_zone_whole(&z, 3);
	for (int k = 1; k <= 10; k++) {
		assert_int_equal(geom_zone_split(&z, 3, &lo, &hi), 0);
		z = k % 2 ? lo : hi;
		assert_int_equal(geom_zone_depth(&z, 3), k);
		assert_true(geom_zone_share(&z, 3) == 1.0 / (double)(1 << k));
	}
	z = zone_make(2, (uint32_t[]){ 0, 0 }, (uint8_t[]){ 0, 32 });
	assert_int_equal(geom_zone_depth(&z, 2), 32);
	memset(&z, 0, sizeof z);
	assert_int_equal(geom_zone_depth(&z, GEOM_MAX_DIMS),
	    32 * GEOM_MAX_DIMS);
}

/* valid(): the dyadic invariant, bit counts, unused dimensions. */
static void
test_valid(void **state)
{
	struct geom_zone z;

	(void)state;
	z = zone_make(2, (uint32_t[]){ QUARTER, 12 }, (uint8_t[]){ 30, 2 });
	assert_true(geom_zone_valid(&z, 2));
	/* Misaligned lo. */
	z.lo[1] = 13;
	assert_false(geom_zone_valid(&z, 2));
	z.lo[1] = 12;
	z.lo[0] = QUARTER + (1u << 29);
	assert_false(geom_zone_valid(&z, 2));
	z.lo[0] = QUARTER;
	/* bits > 32. */
	z.bits[0] = 33;
	z.lo[0] = 0;
	assert_false(geom_zone_valid(&z, 2));
	z.bits[0] = 255;
	assert_false(geom_zone_valid(&z, 2));
	/* 32 bits needs lo 0. */
	z.bits[0] = 32;
	assert_true(geom_zone_valid(&z, 2));
	z.lo[0] = 1;
	assert_false(geom_zone_valid(&z, 2));
	z.lo[0] = HALF;
	assert_false(geom_zone_valid(&z, 2));
	z.lo[0] = 0;
	/* Unused dimensions must be zero. */
	z.bits[2] = 1;
	assert_false(geom_zone_valid(&z, 2));
	z.bits[2] = 0;
	z.lo[7] = 4;
	assert_false(geom_zone_valid(&z, 2));
	z.lo[7] = 0;
	assert_true(geom_zone_valid(&z, 2));
	/* Single positions anywhere are aligned. */
	z = zone_make(1, (uint32_t[]){ 0x12345677 }, (uint8_t[]){ 0 });
	assert_true(geom_zone_valid(&z, 1));
	/* Bad dimension counts. */
	geom_zone_whole(&z, 1);
	assert_false(geom_zone_valid(&z, 0));
	assert_false(geom_zone_valid(&z, GEOM_MAX_DIMS + 1));
	assert_false(geom_zone_valid(&z, -1));
}

/* point_parse: exactly d decimal values below 2^32, comma-separated. */
static void
test_point_parse(void **state)
{
	static const char *const bad3[] = {
		"", "1", "1,2", "1,2,3,4", "1,2,", ",1,2", "1,,2,3", "1, 2,3",
		" 1,2,3", "1,2,3 ", "-1,2,3", "+1,2,3", "1,2,4294967296",
		"1,2,99999999999999999999999", "0x10,2,3", "1;2;3", "a,b,c",
		"1,2,3\n", "1.5,2,3",
	};
	struct geom_point p;

	(void)state;
	assert_int_equal(geom_point_parse("1,2,3", 3, &p), 0);
	assert_int_equal(p.c[0], 1);
	assert_int_equal(p.c[1], 2);
	assert_int_equal(p.c[2], 3);
	assert_int_equal(p.c[3], 0);
	assert_int_equal(geom_point_parse("4294967295", 1, &p), 0);
	assert_int_equal(p.c[0], UINT32_MAX);
	assert_int_equal(geom_point_parse("0,0004294967295", 2, &p), 0);
	assert_int_equal(p.c[1], UINT32_MAX);
	assert_int_equal(geom_point_parse("7,6,5,4,3,2,1,0", 8, &p), 0);
	for (int i = 0; i < 8; i++)
		assert_int_equal(p.c[i], 7 - i);

	for (size_t i = 0; i < sizeof bad3 / sizeof bad3[0]; i++) {
		if (geom_point_parse(bad3[i], 3, &p) != -1)
			fail_msg("accepted \"%s\"", bad3[i]);
	}
	assert_int_equal(geom_point_parse("4294967296", 1, &p), -1);
	assert_int_equal(geom_point_parse("18446744073709551616", 1, &p), -1);
}

/* Zone text: "[lo,hi)x[lo,hi)" and always terminated. */
static void
test_format(void **state)
{
	struct geom_zone z = zone_make(2, (uint32_t[]){ HALF, 0 },
	    (uint8_t[]){ 31, 32 });
	char buf[64], tiny[8];

	(void)state;
	assert_string_equal(geom_zone_format(&z, 2, buf, sizeof buf),
	    "[2147483648,4294967296)x[0,4294967296)");
	memset(tiny, 'x', sizeof tiny);
	geom_zone_format(&z, 2, tiny, sizeof tiny);
	assert_string_equal(tiny, "[214748");
}

/* A random partition of the whole space into n zones. */
struct partition {
	int d;
	int n;
	struct geom_zone *z;
};

/* Repeatedly split a random zone until there are n. */
static void
partition_build(struct partition *pt, int d, int n)
{
	pt->d = d;
	pt->n = 1;
	pt->z = calloc((size_t)n, sizeof *pt->z);
	assert_non_null(pt->z);
	geom_zone_whole(&pt->z[0], d);
	while (pt->n < n) {
		int i = (int)prng_below((uint32_t)pt->n);
		struct geom_zone lo, hi;

		/*
		 * Bias towards deep zones now and then so that thin and
		 * unequal neighbours show up, not only a balanced grid.
		 */
		if (prng_below(4) == 0)
			i = pt->n - 1;
		if (geom_zone_split(&pt->z[i], d, &lo, &hi) != 0)
			continue;
		pt->z[i] = lo;
		pt->z[pt->n++] = hi;
	}
}

/* Index of the single zone containing p (fails if not exactly one). */
static int
partition_owner(const struct partition *pt, const struct geom_point *p)
{
	int owner = -1;

	for (int i = 0; i < pt->n; i++) {
		if (!geom_zone_contains(&pt->z[i], p, pt->d))
			continue;
		if (owner >= 0)
			fail_msg("point in zones %d and %d", owner, i);
		owner = i;
	}
	if (owner < 0)
		fail_msg("point in no zone");
	return owner;
}

/* Volumes sum to 1 exactly and no two zones overlap. */
static void
partition_check_tiling(const struct partition *pt)
{
	int maxdepth = 0;
	unsigned __int128 sum = 0;

	for (int i = 0; i < pt->n; i++) {
		int depth = geom_zone_depth(&pt->z[i], pt->d);

		assert_true(geom_zone_valid(&pt->z[i], pt->d));
		if (depth > maxdepth)
			maxdepth = depth;
	}
	assert_true(maxdepth < 120);
	for (int i = 0; i < pt->n; i++)
		sum += (unsigned __int128)1 <<
		    (maxdepth - geom_zone_depth(&pt->z[i], pt->d));
	assert_true(sum == (unsigned __int128)1 << maxdepth);

	for (int i = 0; i < pt->n; i++) {
		for (int j = i + 1; j < pt->n; j++) {
			if (geom_zone_overlaps(&pt->z[i], &pt->z[j], pt->d))
				fail_msg("zones %d and %d overlap", i, j);
			assert_int_equal(
			    geom_zone_adjacent(&pt->z[i], &pt->z[j], pt->d),
			    geom_zone_adjacent(&pt->z[j], &pt->z[i], pt->d));
		}
	}
}

/*
 * Greedy progress: from any zone not holding p, some neighbour is strictly
 * closer to p.  Returns the index of the closest neighbour.
 */
static int
partition_closer_neighbour(const struct partition *pt, int from,
    const struct geom_point *p)
{
	geom_dist_t here = geom_zone_dist2(&pt->z[from], p, pt->d);
	geom_dist_t best = here;
	int next = -1;

	assert_true(here > 0);
	for (int j = 0; j < pt->n; j++) {
		geom_dist_t dj;

		if (!geom_zone_adjacent(&pt->z[from], &pt->z[j], pt->d))
			continue;
		dj = geom_zone_dist2(&pt->z[j], p, pt->d);
		if (dj < best) {
			best = dj;
			next = j;
		}
	}
	if (next < 0) {
		char buf[256];

		fail_msg("no neighbour of %s is closer (d=%d, n=%d)",
		    geom_zone_format(&pt->z[from], pt->d, buf, sizeof buf),
		    pt->d, pt->n);
	}
	return next;
}

/* Random partitions for d = 2, 3 tile the space and route greedily. */
static void
test_partition_property(void **state)
{
	static const int sizes[] = { 2, 7, 64, 300 };

	(void)state;
	prng_seed(0xca4f5eedULL);
	for (int d = 2; d <= 3; d++) {
		for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
			struct partition pt;
			struct geom_point p;

			partition_build(&pt, d, sizes[s]);
			partition_check_tiling(&pt);
			/* Random points, and every zone's corners. */
			for (int k = 0; k < 2000; k++) {
				prng_point(&p, d);
				(void)partition_owner(&pt, &p);
			}
			for (int i = 0; i < pt.n; i++) {
				for (int c = 0; c < d; c++) {
					p.c[c] = pt.z[i].lo[c];
				}
				assert_int_equal(partition_owner(&pt, &p), i);
				for (int c = 0; c < d; c++)
					p.c[c] = (uint32_t)(geom_zone_hi(
					    &pt.z[i], c) - 1);
				assert_int_equal(partition_owner(&pt, &p), i);
			}
			/* Progress from every zone, and whole routes. */
			for (int k = 0; k < 200; k++) {
				int owner, at, hops = 0;

				prng_point(&p, d);
				owner = partition_owner(&pt, &p);
				for (int i = 0; i < pt.n; i++) {
					if (i == owner)
						continue;
					(void)partition_closer_neighbour(&pt,
					    i, &p);
				}
				at = (int)prng_below((uint32_t)pt.n);
				while (at != owner) {
					at = partition_closer_neighbour(&pt,
					    at, &p);
					assert_true(++hops <= pt.n);
				}
			}
			free(pt.z);
		}
	}
}

/* outer minus inner: pieces disjoint from inner, tiling outer with it. */
static void
test_carve(void **state)
{
	struct geom_zone whole, cur, low, high, inner, rest[8], bad;
	__uint128_t vol;

	(void)state;
	for (int d = 2; d <= 3; d++) {
		geom_zone_whole(&whole, d);
		assert_int_equal(geom_zone_carve(&whole, &whole, d, rest, 8), 0);
		/* inner: five halvings down, alternating halves */
		cur = whole;
		for (int i = 0; i < 5; i++) {
			assert_int_equal(geom_zone_split(&cur, d, &low, &high),
			    0);
			cur = (i % 2) ? low : high;
		}
		inner = cur;
		assert_int_equal(geom_zone_carve(&whole, &inner, d, rest, 8),
		    5);
		vol = (__uint128_t)1 << (32 * d - geom_zone_depth(&inner, d));
		for (int i = 0; i < 5; i++) {
			assert_false(geom_zone_overlaps(&rest[i], &inner, d));
			assert_true(geom_zone_within(&rest[i], &whole, d));
			for (int j = i + 1; j < 5; j++)
				assert_false(geom_zone_overlaps(&rest[i],
				    &rest[j], d));
			vol += (__uint128_t)1 <<
			    (32 * d - geom_zone_depth(&rest[i], d));
		}
		assert_true(vol == (__uint128_t)1 << (32 * d));
		/* too little room, inner outside, inner straddling a split */
		assert_int_equal(geom_zone_carve(&whole, &inner, d, rest, 4),
		    -1);
		assert_int_equal(geom_zone_carve(&inner, &whole, d, rest, 8),
		    -1);
		bad = whole; /* halved along the last dimension first */
		bad.bits[d - 1] = 31;
		assert_true(geom_zone_valid(&bad, d));
		assert_int_equal(geom_zone_carve(&whole, &bad, d, rest, 8),
		    -1);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_whole),
		cmocka_unit_test(test_contains),
		cmocka_unit_test(test_split_longest),
		cmocka_unit_test(test_split_thin),
		cmocka_unit_test(test_parent_sequences),
		cmocka_unit_test(test_parent_rejects),
		cmocka_unit_test(test_adjacent_basic),
		cmocka_unit_test(test_adjacent_seam),
		cmocka_unit_test(test_adjacent_edge_corner_3d),
		cmocka_unit_test(test_adjacent_overlap),
		cmocka_unit_test(test_dist),
		cmocka_unit_test(test_depth),
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_point_parse),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_partition_property),
		cmocka_unit_test(test_carve),
	};

	return cmocka_run_group_tests_name("geom", tests, NULL, NULL);
}
