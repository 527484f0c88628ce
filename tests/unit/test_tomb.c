/*
 * test_tomb.c: tombstones of dead nodes (overlay/tomb.c).
 *
 * Checks: a tombstone holds for TOMB_TTL_MS and no longer; it names one
 * (id, incarnation), not the id's other incarnations; clearing forgets
 * it; marking again renews it without taking a second slot; a full ring
 * drops the oldest tombstone first.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../overlay/tomb.h"

static void
test_ttl(void **state)
{
	struct tomb_set s;

	(void)state;
	memset(&s, 0, sizeof s);
	assert_false(tomb_is_dead(&s, 7, 1, 1000));
	tomb_mark(&s, 7, 1, 1000);
	assert_true(tomb_is_dead(&s, 7, 1, 1000));
	assert_true(tomb_is_dead(&s, 7, 1, 1000 + TOMB_TTL_MS - 1));
	assert_false(tomb_is_dead(&s, 7, 1, 1000 + TOMB_TTL_MS));
}

static void
test_incarnation(void **state)
{
	struct tomb_set s;

	(void)state;
	memset(&s, 0, sizeof s);
	tomb_mark(&s, 7, 1, 10);
	assert_false(tomb_is_dead(&s, 7, 2, 10));
	assert_false(tomb_is_dead(&s, 8, 1, 10));
}

static void
test_clear(void **state)
{
	struct tomb_set s;

	(void)state;
	memset(&s, 0, sizeof s);
	tomb_mark(&s, 7, 1, 10);
	assert_true(tomb_clear(&s, 7, 1, 20));
	assert_false(tomb_is_dead(&s, 7, 1, 20));
	assert_false(tomb_clear(&s, 7, 1, 20));
	/* An expired tombstone cannot be cleared either. */
	tomb_mark(&s, 9, 1, 10);
	assert_false(tomb_clear(&s, 9, 1, 10 + TOMB_TTL_MS));
}

static void
test_renew_and_ring(void **state)
{
	struct tomb_set s;

	(void)state;
	memset(&s, 0, sizeof s);
	tomb_mark(&s, 1, 1, 0);
	/* Renewed: still one slot, and it lasts from the second mark. */
	tomb_mark(&s, 1, 1, 5000);
	assert_true(tomb_is_dead(&s, 1, 1, TOMB_TTL_MS + 4000));
	for (uint64_t id = 2; id <= TOMB_MAX; id++)
		tomb_mark(&s, id, 1, 5000);
	/* TOMB_MAX distinct nodes fit; one more drops the oldest (id 1). */
	for (uint64_t id = 1; id <= TOMB_MAX; id++)
		assert_true(tomb_is_dead(&s, id, 1, 5000));
	tomb_mark(&s, 1000, 1, 6000);
	assert_false(tomb_is_dead(&s, 1, 1, 6000));
	assert_true(tomb_is_dead(&s, 2, 1, 6000));
	assert_true(tomb_is_dead(&s, 1000, 1, 6000));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ttl),
		cmocka_unit_test(test_incarnation),
		cmocka_unit_test(test_clear),
		cmocka_unit_test(test_renew_and_ring),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
