/*
 * canctl_svg.c: the zones of an overlay as an SVG picture (see
 * canctl_svg.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canctl_health.h"
#include "canctl_svg.h"

#define CTL_SVG_LEFT 70		/* room for the axis labels */
#define CTL_SVG_TOP 56		/* room for the title */
#define CTL_SVG_LEGEND 200	/* width of the legend column */
#define CTL_SVG_STEPS 5		/* steps of the legend's scale */
#define CTL_SVG_GAP "#f4d0d0"	/* the space where no zone is drawn */

/* Parse "I,J" (1-based, different, at most d) into the slice's axes. */
static int
ctl_svg_axes(const char *axes, int d, struct ctl_svg_slice *s, char *err,
    size_t errlen)
{
	unsigned a, b;
	int used;

	if (sscanf(axes, "%u,%u%n", &a, &b, &used) != 2 ||
	    axes[used] != '\0' || a < 1 || b < 1 || a > (unsigned)d ||
	    b > (unsigned)d || a == b || d < 2) {
		snprintf(err, errlen, "bad --axes \"%s\": two different "
		    "dimensions from 1 to %d, as I,J (the overlay has %d)",
		    axes, d, d);
		return -1;
	}
	s->ax = (int)a - 1;
	s->ay = (int)b - 1;
	return 0;
}

/* Parse one "xI=F" of a slice into s. */
static int
ctl_svg_slice_one(const char *item, int d, struct ctl_svg_slice *s,
    char *err, size_t errlen)
{
	unsigned dim;
	double f;
	char *end;
	int used;

	if (sscanf(item, "x%u=%n", &dim, &used) != 1 || dim < 1 ||
	    dim > (unsigned)d) {
		snprintf(err, errlen, "bad --slice item \"%s\": xI=F with I a "
		    "dimension from 1 to %d", item, d);
		return -1;
	}
	errno = 0;
	f = strtod(item + used, &end);
	if (errno != 0 || end == item + used || *end != '\0' || !(f >= 0) ||
	    !(f < 1)) {
		snprintf(err, errlen, "bad --slice item \"%s\": F is a "
		    "fraction of the space, at least 0 and below 1", item);
		return -1;
	}
	if ((int)dim - 1 == s->ax || (int)dim - 1 == s->ay) {
		snprintf(err, errlen, "bad --slice item \"%s\": dimension %u "
		    "is drawn, not sliced", item, dim);
		return -1;
	}
	s->at.c[dim - 1] = (uint32_t)(f * (double)GEOM_SPACE);
	return 0;
}

/* Parse the slice options (see canctl_svg.h). */
int
ctl_svg_slice_parse(const char *axes, const char *slice, int d,
    struct ctl_svg_slice *s, char *err, size_t errlen)
{
	char buf[512], *item, *save = NULL;

	memset(s, 0, sizeof *s);
	s->ax = 0;
	s->ay = d >= 2 ? 1 : -1;
	for (int i = 0; i < d; i++)
		s->at.c[i] = (uint32_t)(GEOM_SPACE / 2);
	if (axes != NULL && ctl_svg_axes(axes, d, s, err, errlen) == -1)
		return -1;
	if (slice == NULL)
		return 0;
	if (strlen(slice) >= sizeof buf || slice[0] == '\0') {
		snprintf(err, errlen, "bad --slice: give xI=F,... (at most "
		    "%zu characters)", sizeof buf - 1);
		return -1;
	}
	snprintf(buf, sizeof buf, "%s", slice);
	for (item = strtok_r(buf, ",", &save); item != NULL;
	    item = strtok_r(NULL, ",", &save))
		if (ctl_svg_slice_one(item, d, s, err, errlen) == -1)
			return -1;
	return 0;
}

/* Where a zone lies in the picture (see canctl_svg.h). */
bool
ctl_svg_rect(const struct geom_zone *z, int d, const struct ctl_svg_slice *s,
    double *x0, double *y0, double *x1, double *y1)
{
	for (int i = 0; i < d; i++) {
		if (i == s->ax || i == s->ay)
			continue;
		if (s->at.c[i] < z->lo[i] || s->at.c[i] >= geom_zone_hi(z, i))
			return false;
	}
	*x0 = (double)z->lo[s->ax] / (double)GEOM_SPACE;
	*x1 = (double)geom_zone_hi(z, s->ax) / (double)GEOM_SPACE;
	*y0 = s->ay < 0 ? 0 : (double)z->lo[s->ay] / (double)GEOM_SPACE;
	*y1 = s->ay < 0 ? 1 : (double)geom_zone_hi(z, s->ay) /
	    (double)GEOM_SPACE;
	return true;
}

/* The fill for a fraction of the largest value (see canctl_svg.h). */
char *
ctl_svg_shade(double f, char *rgb)
{
	/* From white to #08306b (dark blue), linearly per channel. */
	static const int lo[3] = { 0xff, 0xff, 0xff }, hi[3] = { 0x08, 0x30,
	    0x6b };
	int c[3];

	if (f < 0) {
		snprintf(rgb, 8, "#c8c8c8");
		return rgb;
	}
	if (f > 1)
		f = 1;
	for (int i = 0; i < 3; i++)
		c[i] = lo[i] + (int)((hi[i] - lo[i]) * f + (hi[i] < lo[i] ?
		    -0.5 : 0.5));
	snprintf(rgb, 8, "#%02x%02x%02x", c[0], c[1], c[2]);
	return rgb;
}

/* Write s escaped for XML (see canctl_svg.h). */
void
ctl_svg_escape(FILE *f, const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;

		switch (ch) {
		case '&':
			fputs("&amp;", f);
			break;
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		case '\'':
			fputs("&apos;", f);
			break;
		default:
			fputc(ch < 0x20 || ch >= 0x7f ? '?' : ch, f);
		}
	}
}

/* The title: what is drawn. */
static void
ctl_svg_title(FILE *f, int d, const struct ctl_svg_slice *s)
{
	fprintf(f, "<text class=\"title\" x=\"%d\" y=\"24\" font-size=\"16\">"
	    "canfs zones: ", CTL_SVG_LEFT);
	if (d == 1)
		fprintf(f, "the whole space (1 dimension, drawn across)");
	else if (d == 2)
		fprintf(f, "the whole space (dimensions %d across, %d up)",
		    s->ax + 1, s->ay + 1);
	else {
		fprintf(f, "slice of dimensions %d (across) and %d (up) of %d "
		    "through", s->ax + 1, s->ay + 1, d);
		for (int i = 0, first = 1; i < d; i++) {
			if (i == s->ax || i == s->ay)
				continue;
			fprintf(f, "%s x%d=%.6g", first ? "" : ",", i + 1,
			    (double)s->at.c[i] / (double)GEOM_SPACE);
			first = 0;
		}
	}
	fprintf(f, "</text>\n<text x=\"%d\" y=\"44\" font-size=\"12\">"
	    "shaded by bytes stored per node; hover a zone for its "
	    "bounds</text>\n", CTL_SVG_LEFT);
}

/* One zone: its rectangle, tooltip and label. */
static void
ctl_svg_zone(FILE *f, const struct ctl_svg_node *n, const struct geom_zone *z,
    int d, const double *r, double max)
{
	double x = CTL_SVG_LEFT + r[0] * CTL_SVG_SIZE;
	double y = CTL_SVG_TOP + (1 - r[3]) * CTL_SVG_SIZE;
	double w = (r[2] - r[0]) * CTL_SVG_SIZE, h = (r[3] - r[1]) *
	    CTL_SVG_SIZE;
	double fs = w / 5 < h / 1.5 ? w / 5 : h / 1.5;
	char fill[8], zone[256], bytes[32];
	double frac = n->bytes < 0 ? -1 : max > 0 ? n->bytes / max : 0;

	fs = fs > 14 ? 14 : fs;
	geom_zone_format(z, d, zone, sizeof zone);
	fprintf(f, "<g>\n<title>node %016" PRIx64 " ", n->id);
	ctl_svg_escape(f, n->addr);
	if (n->bytes < 0)
		fprintf(f, ", no metrics\nzone %s</title>\n", zone);
	else
		fprintf(f, ", %s stored\nzone %s</title>\n",
		    ctl_health_bytes(n->bytes, bytes, sizeof bytes), zone);
	fprintf(f, "<rect class=\"zone\" x=\"%.4f\" y=\"%.4f\" width=\"%.4f\" "
	    "height=\"%.4f\" fill=\"%s\" stroke=\"#333333\" "
	    "stroke-width=\"0.5\"/>\n", x, y, w, h, ctl_svg_shade(frac, fill));
	fprintf(f, "<text class=\"label\" x=\"%.4f\" y=\"%.4f\" "
	    "font-size=\"%.3f\" text-anchor=\"middle\" fill=\"%s\">"
	    "%06" PRIx64 "</text>\n", x + w / 2, y + h / 2 + fs / 3, fs,
	    frac > 0.55 ? "#ffffff" : "#000000", n->id >> 40);
	if (w >= 140 && h >= 40) {
		fprintf(f, "<text class=\"addr\" x=\"%.4f\" y=\"%.4f\" "
		    "font-size=\"11\" text-anchor=\"middle\" fill=\"%s\">",
		    x + w / 2, y + h / 2 + fs / 3 + 15,
		    frac > 0.55 ? "#ffffff" : "#000000");
		ctl_svg_escape(f, n->addr);
		fputs("</text>\n", f);
	}
	fputs("</g>\n", f);
}

/* The legend: the scale of bytes, and grey for unknown. */
static void
ctl_svg_legend(FILE *f, double max)
{
	int x = CTL_SVG_LEFT + CTL_SVG_SIZE + 30, y = CTL_SVG_TOP;
	char fill[8], bytes[32];

	fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"13\">bytes stored"
	    "</text>\n", x, y + 12);
	for (int i = CTL_SVG_STEPS; i >= 0; i--) {
		double fr = (double)i / CTL_SVG_STEPS;
		int yy = y + 24 + (CTL_SVG_STEPS - i) * 26;

		fprintf(f, "<rect class=\"legend\" x=\"%d\" y=\"%d\" "
		    "width=\"22\" height=\"22\" fill=\"%s\" stroke=\"#333333\" "
		    "stroke-width=\"0.5\"/>\n", x, yy, ctl_svg_shade(fr, fill));
		fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"12\">%s</text>\n",
		    x + 30, yy + 15, ctl_health_bytes(fr * max, bytes,
		    sizeof bytes));
	}
	y += 24 + (CTL_SVG_STEPS + 1) * 26;
	fprintf(f, "<rect class=\"legend\" x=\"%d\" y=\"%d\" width=\"22\" "
	    "height=\"22\" fill=\"%s\" stroke=\"#333333\" "
	    "stroke-width=\"0.5\"/>\n<text x=\"%d\" y=\"%d\" font-size=\"12\">"
	    "no metrics</text>\n", x, y, ctl_svg_shade(-1, fill), x + 30,
	    y + 15);
	y += 26;
	fprintf(f, "<rect class=\"legend\" x=\"%d\" y=\"%d\" width=\"22\" "
	    "height=\"22\" fill=\"" CTL_SVG_GAP "\" stroke=\"#333333\" "
	    "stroke-width=\"0.5\"/>\n<text x=\"%d\" y=\"%d\" font-size=\"12\">"
	    "no live owner</text>\n", x, y, x + 30, y + 15);
}

/* Write the picture (see canctl_svg.h). */
size_t
ctl_svg_write(FILE *f, const struct ctl_svg_node *nodes, size_t n, int d,
    const struct ctl_svg_slice *s)
{
	int wd = CTL_SVG_LEFT + CTL_SVG_SIZE + 30 + CTL_SVG_LEGEND;
	int ht = CTL_SVG_TOP + CTL_SVG_SIZE + 40;
	double max = 0, r[4];
	size_t drawn = 0;

	for (size_t i = 0; i < n; i++)
		max = nodes[i].bytes > max ? nodes[i].bytes : max;
	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	    "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
	    "height=\"%d\" viewBox=\"0 0 %d %d\" "
	    "font-family=\"sans-serif\">\n", wd, ht, wd, ht);
	ctl_svg_title(f, d, s);
	/* The space; a gap (no live owner) shows as its pink. */
	fprintf(f, "<rect class=\"space\" x=\"%d\" y=\"%d\" width=\"%d\" "
	    "height=\"%d\" fill=\"" CTL_SVG_GAP "\" stroke=\"#000000\"/>\n",
	    CTL_SVG_LEFT, CTL_SVG_TOP, CTL_SVG_SIZE, CTL_SVG_SIZE);
	for (size_t i = 0; i < n; i++) {
		for (int j = 0; j < nodes[i].nzones; j++) {
			if (!ctl_svg_rect(&nodes[i].zones[j], d, s, &r[0],
			    &r[1], &r[2], &r[3]))
				continue;
			ctl_svg_zone(f, &nodes[i], &nodes[i].zones[j], d, r,
			    max);
			drawn++;
		}
	}
	fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"12\" "
	    "text-anchor=\"end\">0</text>\n<text x=\"%d\" y=\"%d\" "
	    "font-size=\"12\" text-anchor=\"end\">x%d=2^32</text>\n",
	    CTL_SVG_LEFT + 8, CTL_SVG_TOP + CTL_SVG_SIZE + 16,
	    CTL_SVG_LEFT + CTL_SVG_SIZE, CTL_SVG_TOP + CTL_SVG_SIZE + 16,
	    s->ax + 1);
	if (s->ay >= 0)
		fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"12\" "
		    "text-anchor=\"end\">x%d=2^32</text>\n", CTL_SVG_LEFT - 4,
		    CTL_SVG_TOP + 12, s->ay + 1);
	ctl_svg_legend(f, max);
	fputs("</svg>\n", f);
	return drawn;
}
