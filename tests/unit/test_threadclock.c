/*
 * test_threadclock.c: the calling thread's clocks (common/threadclock.c):
 * the split of two samples into time on a CPU and waiting for one
 * (given samples), an unknown wait staying unknown, CPU time counted for
 * the thread that burned it and not for one blocked meanwhile.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <unistd.h>

#include "threadclock.h"

/* Two given samples: ns become whole ms; a clock going back reads 0. */
static void
test_diff(void **state)
{
	struct threadclock a = { 1000000000u, 500000000 };
	struct threadclock b = { 1300999999u, 900000000 };
	uint64_t cpu;
	int64_t wait;

	(void)state;
	threadclock_diff(&a, &b, &cpu, &wait);
	assert_int_equal(cpu, 300);
	assert_int_equal(wait, 400);
	threadclock_diff(&b, &a, &cpu, &wait);
	assert_int_equal(cpu, 0);
	assert_int_equal(wait, 0);
}

/* Without schedstat in either sample the wait is unknown, not 0. */
static void
test_unknown_wait(void **state)
{
	struct threadclock a = { 0, -1 }, b = { 2000000, 7000000 };
	uint64_t cpu;
	int64_t wait;

	(void)state;
	threadclock_diff(&a, &b, &cpu, &wait);
	assert_int_equal(cpu, 2);
	assert_int_equal(wait, -1);
	threadclock_diff(&b, &a, &cpu, &wait);
	assert_int_equal(wait, -1);
}

/* Spin until this thread's CPU clock has advanced by ms. */
static void
burn(uint64_t ms)
{
	struct threadclock a, b;
	uint64_t cpu = 0;
	int64_t wait;
	volatile uint64_t x = 0;

	threadclock_read(&a);
	while (cpu < ms) {
		for (int i = 0; i < 100000; i++)
			x += (uint64_t)i;
		threadclock_read(&b);
		threadclock_diff(&a, &b, &cpu, &wait);
	}
}

static void *
burner(void *arg)
{
	(void)arg;
	burn(40);
	return NULL;
}

/*
 * The CPU a thread burns is its own: the spinning thread's clock moves
 * by what it spun, the joining thread's (blocked meanwhile) by less.
 * Where the kernel keeps schedstat, the wait reads as a count, not -1.
 */
static void
test_real_clocks(void **state)
{
	struct threadclock a, b;
	pthread_t t;
	uint64_t cpu;
	int64_t wait;

	(void)state;
	threadclock_read(&a);
	burn(20);
	threadclock_read(&b);
	threadclock_diff(&a, &b, &cpu, &wait);
	assert_true(cpu >= 20);
	if (access("/proc/thread-self/schedstat", R_OK) == 0)
		assert_true(wait >= 0);

	threadclock_read(&a);
	assert_int_equal(pthread_create(&t, NULL, burner, NULL), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	threadclock_read(&b);
	threadclock_diff(&a, &b, &cpu, &wait);
	assert_true(cpu < 40);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_diff),
		cmocka_unit_test(test_unknown_wait),
		cmocka_unit_test(test_real_clocks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
