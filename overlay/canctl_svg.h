/*
 * canctl_svg.h: `canctl map --svg`, the zones of an overlay as an SVG
 * picture.
 *
 * Two dimensions of the space are drawn (the axes, default 1 and 2; the
 * first dimension alone, full height, when d = 1); in any others the
 * picture is the slice through one point (default the centre, 2^31).  The
 * picture's title says which.  Each zone meeting the slice is a rectangle
 * (class "zone") filled by its node's bytes stored, from white (none) to
 * dark blue (the most any node stores), grey when the node gave no
 * metrics, with one label (class "label": the node's id, its first 6 hex
 * digits, and its address below when the rectangle is big enough) and a
 * tooltip (<title>) with the node's id, address, bytes and the zone's
 * bounds.  A legend shows the scale.  Higher coordinates are drawn up
 * and right; the square (class "space") is CTL_SVG_SIZE units wide.
 *
 * All text is escaped (and bytes outside printable ASCII replaced), so
 * the output is well-formed XML whatever peers call themselves.  Pure
 * apart from writing to the stream: unit-tested in test_canctl_svg.c.
 */
#ifndef CANFS_OVERLAY_CANCTL_SVG_H
#define CANFS_OVERLAY_CANCTL_SVG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "geom.h"

#define CTL_SVG_SIZE 640	/* side of the square, in SVG units */

/* What is drawn: two axes and the point the slice goes through. */
struct ctl_svg_slice {
	int ax, ay;		/* 0-based dimensions drawn across and up
				   (ay -1 when d = 1) */
	struct geom_point at;	/* coordinates in the other dimensions */
};

/* One node to draw. */
struct ctl_svg_node {
	uint64_t id;
	const char *addr;
	const struct geom_zone *zones;
	int nzones;
	double bytes;		/* bytes stored, < 0 when unknown */
};

/*
 * Parse the slice options into *s for d dimensions: axes "I,J" (1-based,
 * different; NULL for 1,2) and slice "xI=F,..." (F a fraction of the
 * space in [0, 1), for dimensions not drawn; NULL for none: the centre).
 * Returns 0, or -1 with a message in err.
 */
int ctl_svg_slice_parse(const char *axes, const char *slice, int d,
    struct ctl_svg_slice *s, char *err, size_t errlen);

/*
 * Where zone z of a d-dimensional space lies in the picture: false when
 * it does not meet the slice, else true with its rectangle in fractions
 * of the square, x0 < x1 and y0 < y1 in [0, 1], y up.
 */
bool ctl_svg_rect(const struct geom_zone *z, int d,
    const struct ctl_svg_slice *s, double *x0, double *y0, double *x1,
    double *y1);

/*
 * The fill for a fraction f of the largest value (0..1, clamped; < 0 for
 * unknown) as "#rrggbb" into rgb (8 bytes).  Returns rgb.
 */
char *ctl_svg_shade(double f, char *rgb);

/* Write s to f escaped for XML text or an attribute. */
void ctl_svg_escape(FILE *f, const char *s);

/*
 * Write the picture of nodes[0..n) of a d-dimensional space to f.
 * Returns the number of zones drawn.
 */
size_t ctl_svg_write(FILE *f, const struct ctl_svg_node *nodes, size_t n,
    int d, const struct ctl_svg_slice *s);

#endif
