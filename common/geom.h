/*
 * geom.h: the CAN coordinate space.
 *
 * The key space is a d-dimensional torus with 2^32 positions per dimension.
 * Coordinates are fixed-point uint32_t so every node decides ownership bit
 * for bit the same way; there is no floating point in any decision.
 *
 * A zone is a half-open box [lo, hi) per dimension.  Zones only ever come
 * from exact halving of the whole space (and merging of siblings), so every
 * zone is "dyadic": in each dimension its size is a power of two and lo is a
 * multiple of that size.  Zones therefore never wrap around the torus edge,
 * and a zone is fully described by lo[] and a log2 size per dimension.
 */
#ifndef CANFS_COMMON_GEOM_H
#define CANFS_COMMON_GEOM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GEOM_MAX_DIMS 8
#define GEOM_SPACE ((uint64_t)1 << 32) /* positions per dimension */

/* A point of the torus. Only the first d coordinates are meaningful. */
struct geom_point {
	uint32_t c[GEOM_MAX_DIMS];
};

/*
 * A dyadic box: in dimension i it covers [lo[i], lo[i] + 2^bits[i]).
 * bits[i] is in 0..32; lo[i] is a multiple of 2^bits[i].
 */
struct geom_zone {
	uint32_t lo[GEOM_MAX_DIMS];
	uint8_t bits[GEOM_MAX_DIMS];
};

/* Squared torus distance; up to d * 2^62, so it needs 128 bits. */
typedef unsigned __int128 geom_dist_t;

/* The whole space: lo = 0, size 2^32 in every dimension. */
void geom_zone_whole(struct geom_zone *z, int d);

/* Exclusive upper bound of z in dimension i, in [1, 2^32]. */
uint64_t geom_zone_hi(const struct geom_zone *z, int i);

/* True when lo/bits describe a valid dyadic zone (used on peer input). */
bool geom_zone_valid(const struct geom_zone *z, int d);

/* True when the two zones are the same box. */
bool geom_zone_equal(const struct geom_zone *a, const struct geom_zone *b,
    int d);

/* True when p lies inside z. */
bool geom_zone_contains(const struct geom_zone *z, const struct geom_point *p,
    int d);

/* True when the boxes share any point. */
bool geom_zone_overlaps(const struct geom_zone *a, const struct geom_zone *b,
    int d);

/* True when inner lies entirely within outer. */
bool geom_zone_within(const struct geom_zone *inner,
    const struct geom_zone *outer, int d);

/*
 * Depth in the partition tree: the number of halvings from the whole space,
 * i.e. volume = 2^(32*d - depth).  Smaller depth means a bigger zone.
 */
int geom_zone_depth(const struct geom_zone *z, int d);

/*
 * Split z in half along its longest dimension (ties: the lowest index).
 * low gets the half with the smaller coordinates.  Returns -1 when z is a
 * single position in every dimension and cannot be split.
 */
int geom_zone_split(const struct geom_zone *z, int d, struct geom_zone *low,
    struct geom_zone *high);

/*
 * outer minus inner, where inner lies within outer and both come from the
 * split tree: split outer until one half is inner, keeping the other half
 * of every split in rest[] (one piece per halving, at most max).  Returns
 * the number of pieces (0 when the zones are equal), or -1 when inner is
 * not such a zone of outer or the pieces do not fit.
 */
int geom_zone_carve(const struct geom_zone *outer,
    const struct geom_zone *inner, int d, struct geom_zone *rest, int max);

/*
 * The zone z was split from, and the other half of that split.  Because
 * splits always halve the longest dimension with ties to the lowest index,
 * the last split dimension is the highest index among those of minimal
 * size.  Returns -1 for the whole space.
 */
int geom_zone_parent(const struct geom_zone *z, int d,
    struct geom_zone *parent, struct geom_zone *sibling);

/* True when a and b are the two halves of one parent (they can merge). */
bool geom_zone_siblings(const struct geom_zone *a, const struct geom_zone *b,
    int d);

/*
 * CAN neighbours: the boxes overlap in exactly d-1 dimensions and abut in
 * the remaining one, with wrap-around.  Boxes touching only along an edge
 * or at a corner are not neighbours; overlapping boxes are not neighbours.
 */
bool geom_zone_adjacent(const struct geom_zone *a, const struct geom_zone *b,
    int d);

/* Squared torus distance from the nearest point of z to p (0 inside z). */
geom_dist_t geom_zone_dist2(const struct geom_zone *z,
    const struct geom_point *p, int d);

/* Fraction of the whole space that z covers, for display only. */
double geom_zone_share(const struct geom_zone *z, int d);

/*
 * Format z as "[lo0,hi0)x[lo1,hi1)..." into buf (always NUL-terminated).
 * Returns buf.
 */
char *geom_zone_format(const struct geom_zone *z, int d, char *buf,
    size_t len);

/* Parse "x1,x2,...,xd" (decimal, each < 2^32). Returns -1 on bad input. */
int geom_point_parse(const char *s, int d, struct geom_point *p);

#endif
