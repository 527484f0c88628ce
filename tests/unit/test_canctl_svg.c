/*
 * test_canctl_svg.c: the geometry, colours, escaping and option parsing
 * of `canctl map --svg` (overlay/canctl_svg.c): which zones meet a slice
 * and where their rectangles go, the shade scale, XML escaping of hostile
 * addresses, and bad --axes/--slice values.
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
#include "../../overlay/canctl_svg.h"

#define HALF ((uint32_t)1 << 31)
#define QUARTER ((uint32_t)1 << 30)

/* Everything written to f, as a string (f is a tmpfile). */
static char *
slurp(FILE *f)
{
	static char buf[65536];
	size_t n;

	fflush(f);
	rewind(f);
	n = fread(buf, 1, sizeof buf - 1, f);
	buf[n] = '\0';
	return buf;
}

/* Occurrences of needle in s. */
static int
count(const char *s, const char *needle)
{
	int n = 0;

	while ((s = strstr(s, needle)) != NULL) {
		n++;
		s++;
	}
	return n;
}

/* The defaults: axes 1 and 2, the centre elsewhere; d = 1: one axis. */
static void
test_slice_defaults(void **state)
{
	struct ctl_svg_slice s;
	char err[256];

	(void)state;
	assert_int_equal(ctl_svg_slice_parse(NULL, NULL, 4, &s, err,
	    sizeof err), 0);
	assert_int_equal(s.ax, 0);
	assert_int_equal(s.ay, 1);
	assert_int_equal(s.at.c[2], HALF);
	assert_int_equal(s.at.c[3], HALF);
	assert_int_equal(ctl_svg_slice_parse(NULL, NULL, 1, &s, err,
	    sizeof err), 0);
	assert_int_equal(s.ay, -1);
	assert_int_equal(ctl_svg_slice_parse("3,1", "x2=0.25,x4=0", 4, &s,
	    err, sizeof err), 0);
	assert_int_equal(s.ax, 2);
	assert_int_equal(s.ay, 0);
	assert_int_equal(s.at.c[1], QUARTER);
	assert_int_equal(s.at.c[3], 0);
}

/* Bad values are refused with a message. */
static void
test_slice_bad(void **state)
{
	static const char *bad[][2] = {
		{ "1,1", NULL }, { "0,2", NULL }, { "1,5", NULL },
		{ "1", NULL }, { "1,2,3", NULL }, { "a,b", NULL },
		{ NULL, "x3=1" }, { NULL, "x3=-0.1" }, { NULL, "x3=" },
		{ NULL, "x3=0.5x" }, { NULL, "x5=0.5" }, { NULL, "x0=0.5" },
		{ NULL, "x1=0.5" }, { NULL, "y3=0.5" }, { NULL, "" },
		{ NULL, "x3=nan" },
	};
	struct ctl_svg_slice s;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err[0] = '\0';
		assert_int_equal(ctl_svg_slice_parse(bad[i][0], bad[i][1], 4,
		    &s, err, sizeof err), -1);
		assert_non_null(strstr(err, "bad --"));
	}
	/* Two axes need two dimensions. */
	assert_int_equal(ctl_svg_slice_parse("1,2", NULL, 1, &s, err,
	    sizeof err), -1);
}

/* Rectangles: fractions of the square; zones off the slice are not drawn. */
static void
test_rect(void **state)
{
	struct ctl_svg_slice s;
	struct geom_zone z;
	double x0, y0, x1, y1;
	char err[256];

	(void)state;
	assert_int_equal(ctl_svg_slice_parse(NULL, NULL, 3, &s, err,
	    sizeof err), 0);
	memset(&z, 0, sizeof z);
	z.lo[0] = HALF;		/* x [1/2, 1), y [1/4, 1/2), z [1/2, 1) */
	z.bits[0] = 31;
	z.lo[1] = QUARTER;
	z.bits[1] = 30;
	z.lo[2] = HALF;
	z.bits[2] = 31;
	assert_true(ctl_svg_rect(&z, 3, &s, &x0, &y0, &x1, &y1));
	assert_true(x0 == 0.5 && x1 == 1 && y0 == 0.25 && y1 == 0.5);
	/* The slice at x3 = 0.25 misses it. */
	assert_int_equal(ctl_svg_slice_parse(NULL, "x3=0.25", 3, &s, err,
	    sizeof err), 0);
	assert_false(ctl_svg_rect(&z, 3, &s, &x0, &y0, &x1, &y1));
	/* Drawn on axes 3 and 2 through x1 = 0.75: z across, y up. */
	assert_int_equal(ctl_svg_slice_parse("3,2", "x1=0.75", 3, &s, err,
	    sizeof err), 0);
	assert_true(ctl_svg_rect(&z, 3, &s, &x0, &y0, &x1, &y1));
	assert_true(x0 == 0.5 && x1 == 1 && y0 == 0.25 && y1 == 0.5);
	/* d = 1: full height. */
	assert_int_equal(ctl_svg_slice_parse(NULL, NULL, 1, &s, err,
	    sizeof err), 0);
	assert_true(ctl_svg_rect(&z, 1, &s, &x0, &y0, &x1, &y1));
	assert_true(x0 == 0.5 && x1 == 1 && y0 == 0 && y1 == 1);
}

/* Shades: white to dark blue, clamped; grey for unknown. */
static void
test_shade(void **state)
{
	char rgb[8];

	(void)state;
	assert_string_equal(ctl_svg_shade(0, rgb), "#ffffff");
	assert_string_equal(ctl_svg_shade(1, rgb), "#08306b");
	assert_string_equal(ctl_svg_shade(7, rgb), "#08306b");
	assert_string_equal(ctl_svg_shade(-1, rgb), "#c8c8c8");
	assert_string_equal(ctl_svg_shade(0.5, rgb), "#8397b5");
}

/* Escaping: markup characters and bytes outside printable ASCII. */
static void
test_escape(void **state)
{
	FILE *f = tmpfile();

	(void)state;
	ctl_svg_escape(f, "<a href=\"x\">&'\x01\xff</a>");
	assert_string_equal(slurp(f), "&lt;a href=&quot;x&quot;&gt;&amp;"
	    "&apos;??&lt;/a&gt;");
	fclose(f);
}

/* A whole picture: one rectangle and label per zone in the slice. */
static void
test_write(void **state)
{
	struct geom_zone z[3];
	struct ctl_svg_node n[2];
	struct ctl_svg_slice s;
	FILE *f = tmpfile();
	char err[256], *out;

	(void)state;
	memset(z, 0, sizeof z);
	z[0].bits[0] = 31;			/* x < 1/2: node 1 */
	z[0].bits[1] = 32;
	z[1].lo[0] = HALF;			/* x >= 1/2, y < 1/2 */
	z[1].bits[0] = 31;
	z[1].bits[1] = 31;
	z[2].lo[0] = HALF;			/* x >= 1/2, y >= 1/2 */
	z[2].lo[1] = HALF;
	z[2].bits[0] = 31;
	z[2].bits[1] = 31;
	n[0] = (struct ctl_svg_node){ 0xabcdef0123456789ULL, "10.0.0.1:7400",
	    &z[0], 1, 1000 };
	n[1] = (struct ctl_svg_node){ 0x1122334455667788ULL, "<evil>&",
	    &z[1], 2, -1 };
	assert_int_equal(ctl_svg_slice_parse(NULL, NULL, 2, &s, err,
	    sizeof err), 0);
	assert_int_equal(ctl_svg_write(f, n, 2, 2, &s), 3);
	out = slurp(f);
	assert_int_equal(count(out, "class=\"zone\""), 3);
	assert_int_equal(count(out, "class=\"label\""), 3);
	assert_int_equal(count(out, ">abcdef</text>"), 1);
	assert_int_equal(count(out, ">112233</text>"), 2);
	assert_int_equal(count(out, "<evil>"), 0);
	assert_non_null(strstr(out, "&lt;evil&gt;&amp;"));
	assert_non_null(strstr(out, "the whole space (dimensions 1 across, "
	    "2 up)"));
	/* Node 1 (the most bytes) dark, node 2 (no metrics) grey. */
	assert_int_equal(count(out, "fill=\"#08306b\" stroke"), 2);
	assert_int_equal(count(out, "fill=\"#c8c8c8\" stroke"), 3);
	assert_non_null(strstr(out, "zone [0,2147483648)x[0,4294967296)"));
	assert_non_null(strstr(out, "</svg>\n"));
	fclose(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_slice_defaults),
		cmocka_unit_test(test_slice_bad),
		cmocka_unit_test(test_rect),
		cmocka_unit_test(test_shade),
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_write),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
