/*
 * test_atime.c: the access-time policy of a mount (fs/atime.h): when
 * relatime, strictatime and noatime let a read move atime, that atime
 * never moves backwards, the day limit at its edges, extreme times, and
 * the mount options that set the policy.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>

#include "../../fs/atime.h"

#define T0 1700000000	/* a plausible "now" */

/* A time stamp. */
static struct timespec
ts(int64_t sec, long nsec)
{
	struct timespec t = { .tv_sec = sec, .tv_nsec = nsec };

	return t;
}

/* atime_due with the times as values. */
static bool
due(enum atime_mode m, struct timespec a, struct timespec mt,
    struct timespec ct, struct timespec now)
{
	return atime_due(m, &a, &mt, &ct, &now);
}

/* relatime: atime not newer than mtime or ctime is due, else not. */
static void
test_relatime_vs_mtime_ctime(void **state)
{
	struct timespec now = ts(T0, 0);

	(void)state;
	/* Written after the last read: due. */
	assert_true(due(ATIME_RELATIME, ts(T0 - 100, 0), ts(T0 - 50, 0),
	    ts(T0 - 200, 0), now));
	/* Changed (chmod) after the last read: due. */
	assert_true(due(ATIME_RELATIME, ts(T0 - 100, 0), ts(T0 - 200, 0),
	    ts(T0 - 50, 0), now));
	/* Equal to mtime, as for a new file: due. */
	assert_true(due(ATIME_RELATIME, ts(T0 - 100, 5), ts(T0 - 100, 5),
	    ts(T0 - 200, 0), now));
	assert_true(due(ATIME_RELATIME, ts(T0 - 100, 5), ts(T0 - 200, 0),
	    ts(T0 - 100, 5), now));
	/* Read since the last change, an hour ago: not due. */
	assert_false(due(ATIME_RELATIME, ts(T0 - 3600, 0), ts(T0 - 7200, 0),
	    ts(T0 - 7200, 0), now));
	/* A nanosecond newer than both is enough to skip. */
	assert_false(due(ATIME_RELATIME, ts(T0 - 100, 6), ts(T0 - 100, 5),
	    ts(T0 - 100, 5), now));
}

/* relatime: a day-old atime is due even when newer than mtime/ctime. */
static void
test_relatime_day(void **state)
{
	struct timespec old = ts(T0 - 10 * 86400, 0);

	(void)state;
	assert_true(due(ATIME_RELATIME, ts(T0 - 86400, 0), old, old,
	    ts(T0, 0)));
	assert_true(due(ATIME_RELATIME, ts(T0 - 86400, 999999999), old, old,
	    ts(T0, 0)));
	assert_false(due(ATIME_RELATIME, ts(T0 - 86399, 0), old, old,
	    ts(T0, 999999999)));
	assert_true(due(ATIME_RELATIME, ts(T0 - 3 * 86400, 0), old, old,
	    ts(T0, 0)));
}

/* strictatime: every later access; noatime: none. */
static void
test_strict_and_noatime(void **state)
{
	struct timespec a = ts(T0 - 1, 0), old = ts(T0 - 100, 0);

	(void)state;
	assert_true(due(ATIME_STRICT, a, old, old, ts(T0, 0)));
	assert_true(due(ATIME_STRICT, a, old, old, ts(T0 - 1, 1)));
	assert_false(due(ATIME_NOATIME, a, old, old, ts(T0, 0)));
	/* noatime even when relatime would. */
	assert_false(due(ATIME_NOATIME, old, a, a, ts(T0 + 86400, 0)));
}

/* atime never moves backwards (an atime set into the future stays). */
static void
test_never_backwards(void **state)
{
	struct timespec now = ts(T0, 500), old = ts(T0 - 100, 0);
	enum atime_mode m[] = { ATIME_RELATIME, ATIME_STRICT, ATIME_NOATIME };

	(void)state;
	for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
		/* Equal to now: nothing to do. */
		assert_false(due(m[i], now, old, old, now));
		/* Later than now (touch -a -d tomorrow, a fast clock). */
		assert_false(due(m[i], ts(T0, 501), old, old, now));
		assert_false(due(m[i], ts(T0 + 86400 * 2, 0),
		    ts(T0 + 86400 * 3, 0), ts(T0 + 86400 * 3, 0), now));
	}
}

/* Times at the ends of the range: no overflow, sensible answers. */
static void
test_extremes(void **state)
{
	struct timespec min = ts(INT64_MIN, 0), max = ts(INT64_MAX, 999999999);
	struct timespec now = ts(T0, 0), old = ts(T0 - 100, 0);

	(void)state;
	/* An atime at the dawn of time is more than a day old. */
	assert_true(due(ATIME_RELATIME, min, min, min, now));
	assert_true(due(ATIME_RELATIME, min, ts(INT64_MIN, 1), min, now));
	assert_true(due(ATIME_RELATIME, ts(-1, 0), ts(-5, 0), ts(-5, 0),
	    now));
	/* ...also seen from the end of time. */
	assert_true(due(ATIME_RELATIME, min, min, min, max));
	/* Nothing is later than the end of time. */
	assert_false(due(ATIME_STRICT, max, old, old, now));
	assert_false(due(ATIME_RELATIME, max, max, max, max));
}

/* The mount options: last one wins; the rest are not ours. */
static void
test_options(void **state)
{
	enum atime_mode m = ATIME_RELATIME;
	bool nodir = false;

	(void)state;
	assert_int_equal(atime_option("noatime", &m, &nodir), 0);
	assert_int_equal(m, ATIME_NOATIME);
	assert_int_equal(atime_option("strictatime", &m, &nodir), 0);
	assert_int_equal(m, ATIME_STRICT);
	assert_int_equal(atime_option("norelatime", &m, &nodir), 0);
	assert_int_equal(m, ATIME_STRICT);	/* no change, as in Linux */
	assert_int_equal(atime_option("relatime", &m, &nodir), 0);
	assert_int_equal(m, ATIME_RELATIME);
	assert_int_equal(atime_option("noatime", &m, &nodir), 0);
	assert_int_equal(atime_option("atime", &m, &nodir), 0);
	assert_int_equal(m, ATIME_RELATIME);
	assert_int_equal(atime_option("strictatime", &m, &nodir), 0);
	assert_int_equal(atime_option("nostrictatime", &m, &nodir), 0);
	assert_int_equal(m, ATIME_RELATIME);
	assert_false(nodir);
	assert_int_equal(atime_option("nodiratime", &m, &nodir), 0);
	assert_true(nodir);
	assert_int_equal(atime_option("lazytime", &m, &nodir), 0);
	assert_int_equal(atime_option("nolazytime", &m, &nodir), 0);
	assert_true(nodir);
	assert_int_equal(atime_option("diratime", &m, &nodir), 0);
	assert_false(nodir);
	assert_int_equal(m, ATIME_RELATIME);
	assert_int_equal(atime_option("noatimex", &m, &nodir), -1);
	assert_int_equal(atime_option("", &m, &nodir), -1);
	assert_int_equal(atime_option("ro", &m, &nodir), -1);
	assert_int_equal(m, ATIME_RELATIME);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_relatime_vs_mtime_ctime),
		cmocka_unit_test(test_relatime_day),
		cmocka_unit_test(test_strict_and_noatime),
		cmocka_unit_test(test_never_backwards),
		cmocka_unit_test(test_extremes),
		cmocka_unit_test(test_options),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
