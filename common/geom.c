/* geom.c: torus geometry for CAN zones (see geom.h for the model). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "geom.h"

/* Size of z in dimension i (1 .. 2^32). */
static uint64_t
zone_size(const struct geom_zone *z, int i)
{
	return (uint64_t)1 << z->bits[i];
}

/* Fill z with the whole space. */
void
geom_zone_whole(struct geom_zone *z, int d)
{
	memset(z, 0, sizeof *z);
	for (int i = 0; i < d; i++)
		z->bits[i] = 32;
}

/* Exclusive upper bound in dimension i. */
uint64_t
geom_zone_hi(const struct geom_zone *z, int i)
{
	return (uint64_t)z->lo[i] + zone_size(z, i);
}

/* Check the dyadic invariant; unused dimensions must be zero. */
bool
geom_zone_valid(const struct geom_zone *z, int d)
{
	if (d < 1 || d > GEOM_MAX_DIMS)
		return false;
	for (int i = 0; i < GEOM_MAX_DIMS; i++) {
		if (i >= d) {
			if (z->lo[i] != 0 || z->bits[i] != 0)
				return false;
			continue;
		}
		if (z->bits[i] > 32)
			return false;
		if (z->bits[i] < 32 && (z->lo[i] & (zone_size(z, i) - 1)) != 0)
			return false;
		if (z->bits[i] == 32 && z->lo[i] != 0)
			return false;
	}
	return true;
}

/* Same box. */
bool
geom_zone_equal(const struct geom_zone *a, const struct geom_zone *b, int d)
{
	for (int i = 0; i < d; i++) {
		if (a->lo[i] != b->lo[i] || a->bits[i] != b->bits[i])
			return false;
	}
	return true;
}

/* p inside z. */
bool
geom_zone_contains(const struct geom_zone *z, const struct geom_point *p,
    int d)
{
	for (int i = 0; i < d; i++) {
		if (p->c[i] < z->lo[i] || p->c[i] >= geom_zone_hi(z, i))
			return false;
	}
	return true;
}

/* Intervals [a, ah) and [b, bh) share a position (zones never wrap). */
static bool
range_overlaps(const struct geom_zone *a, const struct geom_zone *b, int i)
{
	return a->lo[i] < geom_zone_hi(b, i) && b->lo[i] < geom_zone_hi(a, i);
}

/* Intervals touch end to start, including across the torus seam. */
static bool
range_abuts(const struct geom_zone *a, const struct geom_zone *b, int i)
{
	uint64_t ah = geom_zone_hi(a, i), bh = geom_zone_hi(b, i);

	return ah % GEOM_SPACE == b->lo[i] || bh % GEOM_SPACE == a->lo[i];
}

/* The boxes share a point. */
bool
geom_zone_overlaps(const struct geom_zone *a, const struct geom_zone *b,
    int d)
{
	for (int i = 0; i < d; i++) {
		if (!range_overlaps(a, b, i))
			return false;
	}
	return true;
}

/* inner lies within outer. */
bool
geom_zone_within(const struct geom_zone *inner, const struct geom_zone *outer,
    int d)
{
	for (int i = 0; i < d; i++) {
		if (inner->lo[i] < outer->lo[i] ||
		    geom_zone_hi(inner, i) > geom_zone_hi(outer, i))
			return false;
	}
	return true;
}

/* Number of halvings from the whole space. */
int
geom_zone_depth(const struct geom_zone *z, int d)
{
	int depth = 0;

	for (int i = 0; i < d; i++)
		depth += 32 - z->bits[i];
	return depth;
}

/* Halve along the longest dimension, ties to the lowest index. */
int
geom_zone_split(const struct geom_zone *z, int d, struct geom_zone *low,
    struct geom_zone *high)
{
	int dim = -1;

	for (int i = 0; i < d; i++) {
		if (z->bits[i] > 0 && (dim < 0 || z->bits[i] > z->bits[dim]))
			dim = i;
	}
	if (dim < 0)
		return -1;
	*low = *z;
	low->bits[dim]--;
	*high = *low;
	high->lo[dim] = (uint32_t)(low->lo[dim] + zone_size(low, dim));
	return 0;
}

/* Split toward inner, keeping the halves that are not on its way. */
int
geom_zone_carve(const struct geom_zone *outer, const struct geom_zone *inner,
    int d, struct geom_zone *rest, int max)
{
	struct geom_zone cur = *outer, low, high;
	int n = 0;

	if (!geom_zone_within(inner, outer, d))
		return -1;
	while (!geom_zone_equal(&cur, inner, d)) {
		if (n == max || geom_zone_split(&cur, d, &low, &high) != 0)
			return -1;
		if (geom_zone_within(inner, &low, d)) {
			rest[n++] = high;
			cur = low;
		} else if (geom_zone_within(inner, &high, d)) {
			rest[n++] = low;
			cur = high;
		} else {
			return -1; /* inner straddles the split */
		}
	}
	return n;
}

/*
 * Undo the last split.  Splitting always halves a longest dimension with
 * ties to the lowest index, so after any number of splits the sizes differ
 * by at most a factor of two and the most recently split dimension is the
 * highest index among those with the smallest size.
 */
int
geom_zone_parent(const struct geom_zone *z, int d, struct geom_zone *parent,
    struct geom_zone *sibling)
{
	int dim = -1;

	for (int i = 0; i < d; i++) {
		if (dim < 0 || z->bits[i] <= z->bits[dim])
			dim = i;
	}
	if (dim < 0 || z->bits[dim] >= 32)
		return -1;
	/*
	 * A zone that is not the product of in-order splits (sizes differing
	 * by more than a factor of two) has no sibling under this rule.
	 */
	for (int i = 0; i < d; i++) {
		if (z->bits[i] > z->bits[dim] + 1)
			return -1;
		if (i < dim && z->bits[i] != z->bits[dim])
			return -1;
		if (i > dim && z->bits[i] != z->bits[dim] + 1)
			return -1;
	}
	if (sibling != NULL) {
		*sibling = *z;
		sibling->lo[dim] ^= (uint32_t)zone_size(z, dim);
	}
	if (parent != NULL) {
		*parent = *z;
		parent->bits[dim]++;
		parent->lo[dim] &= ~(uint32_t)(zone_size(parent, dim) - 1);
	}
	return 0;
}

/* a and b are the two halves of one split. */
bool
geom_zone_siblings(const struct geom_zone *a, const struct geom_zone *b,
    int d)
{
	struct geom_zone sib;

	if (geom_zone_parent(a, d, NULL, &sib) != 0)
		return false;
	return geom_zone_equal(&sib, b, d);
}

/* Overlap in d-1 dimensions and abut in the remaining one. */
bool
geom_zone_adjacent(const struct geom_zone *a, const struct geom_zone *b,
    int d)
{
	int apart = -1;

	for (int i = 0; i < d; i++) {
		if (range_overlaps(a, b, i))
			continue;
		if (apart >= 0)
			return false; /* apart in two dimensions: edge or corner */
		apart = i;
	}
	if (apart < 0)
		return false; /* overlapping boxes */
	return range_abuts(a, b, apart);
}

/* Torus distance between two coordinates. */
static uint64_t
torus_dist(uint32_t a, uint32_t b)
{
	uint32_t diff = a - b; /* mod 2^32 */
	uint32_t back = b - a;

	return diff < back ? diff : back;
}

/* Squared distance from the nearest point of z to p. */
geom_dist_t
geom_zone_dist2(const struct geom_zone *z, const struct geom_point *p, int d)
{
	geom_dist_t sum = 0;

	for (int i = 0; i < d; i++) {
		uint64_t hi = geom_zone_hi(z, i), a, b, m;

		if (p->c[i] >= z->lo[i] && p->c[i] < hi)
			continue;
		a = torus_dist(p->c[i], z->lo[i]);
		b = torus_dist(p->c[i], (uint32_t)(hi - 1));
		m = a < b ? a : b;
		sum += (geom_dist_t)m * m;
	}
	return sum;
}

/* Fraction of the space covered. */
double
geom_zone_share(const struct geom_zone *z, int d)
{
	double share = 1.0;

	for (int i = 0; i < d; i++)
		share *= (double)zone_size(z, i) / (double)GEOM_SPACE;
	return share;
}

/* "[lo,hi)x[lo,hi)..." */
char *
geom_zone_format(const struct geom_zone *z, int d, char *buf, size_t len)
{
	size_t off = 0;

	if (len == 0)
		return buf;
	buf[0] = '\0';
	for (int i = 0; i < d && off < len; i++) {
		int n = snprintf(buf + off, len - off, "%s[%" PRIu32 ",%" PRIu64
		    ")", i ? "x" : "", z->lo[i], geom_zone_hi(z, i));
		if (n < 0)
			break;
		off += (size_t)n;
	}
	return buf;
}

/* Parse "x1,...,xd". */
int
geom_point_parse(const char *s, int d, struct geom_point *p)
{
	memset(p, 0, sizeof *p);
	for (int i = 0; i < d; i++) {
		char *end;
		unsigned long long v;

		if (*s < '0' || *s > '9')
			return -1;
		v = strtoull(s, &end, 10);
		if (v >= GEOM_SPACE || end == s)
			return -1;
		p->c[i] = (uint32_t)v;
		s = end;
		if (i + 1 < d) {
			if (*s != ',')
				return -1;
			s++;
		}
	}
	return *s == '\0' ? 0 : -1;
}
