/*
 * test_progress.c: the progress reporter of long commands
 * (common/progress.c): the line's format (bar, percentage, ETA from the
 * rate so far, "ETA -" before there is one, unknown totals), how often
 * lines are printed on a terminal and in plain mode, the final line, and
 * quiet mode.  Times are given explicitly (the *_at() forms).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "progress.h"

/* Everything written to f so far, as a string (f is a tmpfile). */
static char *
slurp(FILE *f)
{
	static char buf[8192];
	size_t n;

	fflush(f);
	rewind(f);
	n = fread(buf, 1, sizeof buf - 1, f);
	buf[n] = '\0';
	fseek(f, 0, SEEK_END);
	return buf;
}

/* Lines (newlines) in s. */
static int
lines(const char *s)
{
	int n = 0;

	for (; *s != '\0'; s++)
		n += *s == '\n';
	return n;
}

/* The bar, the percentage, the count and the ETA from the rate so far. */
static void
test_format_bar_eta(void **state)
{
	struct progress p;
	char buf[PROGRESS_LINE];

	(void)state;
	progress_init(&p, stderr, "verify", "replicas", PROGRESS_QUIET);
	progress_update_at(&p, 0, 2750, 1000);
	/* Nothing measured yet: no ETA. */
	assert_string_equal(progress_format(&p, 1000, true, false, buf,
	    sizeof buf), "verify [....................] 0% 0/2750 replicas, "
	    "ETA -");
	/* 1250 in 10 s: 125/s, 1500 left: 12 s. */
	progress_update_at(&p, 1250, 2750, 11000);
	assert_string_equal(progress_format(&p, 11000, true, false, buf,
	    sizeof buf), "verify [#########...........] 45% 1250/2750 "
	    "replicas, ETA 0:12");
	assert_string_equal(progress_format(&p, 11000, false, false, buf,
	    sizeof buf), "verify: 45% 1250/2750 replicas, 125/s, ETA 0:12");
	/* The final line gives the time taken. */
	progress_update_at(&p, 2750, 2750, 23000);
	assert_string_equal(progress_format(&p, 23000, false, true, buf,
	    sizeof buf), "verify: 100% 2750/2750 replicas, in 0:22");
	/* More done than the total: capped at 100%. */
	progress_update_at(&p, 3000, 2750, 24000);
	assert_non_null(strstr(progress_format(&p, 24000, true, false, buf,
	    sizeof buf), "[####################] 100% 3000/2750"));
}

/* Within the first second there is no rate, so no ETA either. */
static void
test_format_eta_needs_a_second(void **state)
{
	struct progress p;
	char buf[PROGRESS_LINE];

	(void)state;
	progress_init(&p, stderr, "leave", "replicas", PROGRESS_QUIET);
	progress_update_at(&p, 0, 100, 0);
	progress_update_at(&p, 50, 100, 999);
	assert_non_null(strstr(progress_format(&p, 999, false, false, buf,
	    sizeof buf), "ETA -"));
	progress_update_at(&p, 50, 100, 1000);
	assert_non_null(strstr(progress_format(&p, 1000, false, false, buf,
	    sizeof buf), "ETA 0:01"));
}

/* An unknown total: the count and the note, no bar, no ETA. */
static void
test_format_unknown_total(void **state)
{
	struct progress p;
	char buf[PROGRESS_LINE];

	(void)state;
	progress_init(&p, stderr, "repair", "nodes asked", PROGRESS_QUIET);
	progress_note(&p, "%d started", 3);
	progress_update_at(&p, 3, 0, 0);
	assert_string_equal(progress_format(&p, 0, true, false, buf,
	    sizeof buf), "repair: 3 nodes asked, 3 started");
}

/* Durations: M:SS below an hour, H:MM:SS above, rounded. */
static void
test_duration(void **state)
{
	char buf[32];

	(void)state;
	assert_string_equal(progress_duration(0, buf, sizeof buf), "0:00");
	assert_string_equal(progress_duration(12499, buf, sizeof buf),
	    "0:12");
	assert_string_equal(progress_duration(3599000, buf, sizeof buf),
	    "59:59");
	assert_string_equal(progress_duration(3600000 + 61000, buf,
	    sizeof buf), "1:01:01");
}

/* Plain mode: a line per PROGRESS_PLAIN_MS at most, then the final one. */
static void
test_plain_rate_limit(void **state)
{
	FILE *f = tmpfile();
	struct progress p;
	char *out;

	(void)state;
	assert_non_null(f);
	progress_init(&p, f, "verify", "nodes", PROGRESS_PLAIN);
	/* 100 updates over 12 s: lines at 5 s and 10 s only. */
	for (uint64_t t = 0; t <= 12000; t += 120)
		progress_update_at(&p, t / 120, 101, t);
	out = slurp(f);
	assert_int_equal(lines(out), 2);
	assert_null(strchr(out, '\r'));
	progress_done_at(&p, 12100);
	out = slurp(f);
	assert_int_equal(lines(out), 3);
	assert_non_null(strstr(out, "verify: 99% 100/101 nodes, in 0:12\n"));
	/* Done twice prints once. */
	progress_done_at(&p, 13000);
	assert_int_equal(lines(slurp(f)), 3);
	fclose(f);
}

/* A quick plain operation prints only its final line. */
static void
test_plain_quick(void **state)
{
	FILE *f = tmpfile();
	struct progress p;

	(void)state;
	progress_init(&p, f, "repair", "nodes asked", PROGRESS_PLAIN);
	progress_update_at(&p, 0, 5, 0);
	progress_update_at(&p, 5, 5, 300);
	progress_done_at(&p, 300);
	assert_string_equal(slurp(f), "repair: 100% 5/5 nodes asked, "
	    "in 0:00\n");
	fclose(f);
}

/* Terminal: one line redrawn with \r at most every PROGRESS_TTY_MS. */
static void
test_tty_redraw(void **state)
{
	FILE *f = tmpfile();
	struct progress p;
	char *out;
	int draws = 0;

	(void)state;
	progress_init(&p, f, "leave", "replicas", PROGRESS_TTY);
	/* 1 s of updates every 10 ms: the first at once, then every 200. */
	for (uint64_t t = 0; t <= 1000; t += 10)
		progress_update_at(&p, t, 1000, t);
	out = slurp(f);
	for (char *s = out; *s != '\0'; s++)
		draws += *s == '\r';
	assert_int_equal(draws, 6);
	assert_int_equal(lines(out), 0);
	assert_non_null(strstr(out, "leave [#"));
	progress_clear(&p);
	progress_done_at(&p, 1000);
	out = slurp(f);
	assert_int_equal(lines(out), 1);
	assert_non_null(strstr(out, "\rleave [####################] 100% "
	    "1000/1000 replicas, in 0:01\n"));
	fclose(f);
}

/* Quiet, and never updated: nothing at all. */
static void
test_quiet(void **state)
{
	FILE *f = tmpfile();
	struct progress p;

	(void)state;
	progress_init(&p, f, "verify", "nodes", PROGRESS_QUIET);
	for (uint64_t t = 0; t <= 20000; t += 100)
		progress_update_at(&p, t, 20000, t);
	progress_done_at(&p, 20000);
	progress_init(&p, f, "verify", "nodes", PROGRESS_PLAIN);
	progress_done_at(&p, 20000);
	assert_string_equal(slurp(f), "");
	fclose(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_bar_eta),
		cmocka_unit_test(test_format_eta_needs_a_second),
		cmocka_unit_test(test_format_unknown_total),
		cmocka_unit_test(test_duration),
		cmocka_unit_test(test_plain_rate_limit),
		cmocka_unit_test(test_plain_quick),
		cmocka_unit_test(test_tty_redraw),
		cmocka_unit_test(test_quiet),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
