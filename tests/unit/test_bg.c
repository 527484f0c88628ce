/*
 * test_bg.c: the background pool (fs/bg.h) and the lock-order check
 * (fs/held.h): a pool without threads runs every job in its submitter
 * before bg_submit returns, a pool with threads runs them elsewhere
 * (and inline when a worker submits), groups keep the first error, and
 * a submission while a short lock is counted as held stops the process
 * (fs.h, "Locking") without running the job.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sys/wait.h>

#include <pthread.h>
#include <stdbool.h>
#include <unistd.h>

#include "../../fs/bg.h"
#include "../../fs/held.h"

/* What a job saw. */
struct job {
	struct bg *bg;
	pthread_t self;		/* the thread that ran it */
	bool ran;
	bool inline_there;	/* bg_inline() inside the job */
	int rc;			/* what it returns */
	struct job *child;	/* submitted from inside the job, or NULL */
	bool child_done;	/* the child had run when bg_submit returned */
};

/* Record where and how the job ran; submit the child, if any. */
static int
job_fn(void *arg)
{
	struct job *j = arg;

	j->self = pthread_self();
	j->inline_there = bg_inline(j->bg);
	if (j->child != NULL) {
		bg_submit(j->bg, NULL, job_fn, j->child);
		j->child_done = j->child->ran;
	}
	j->ran = true;
	return j->rc;
}

/* No threads: the job has run, in our thread, when bg_submit returns. */
static void
test_no_threads_inline(void **state)
{
	struct bg *bg = bg_start(0);
	struct job j = { .bg = bg, .rc = -5 };
	struct job k = { .bg = bg, .rc = -7 };
	struct bg_group grp;

	(void)state;
	assert_true(bg_inline(bg));
	bg_group_init(&grp);
	bg_submit(bg, &grp, job_fn, &j);
	assert_true(j.ran);
	assert_true(pthread_equal(j.self, pthread_self()));
	bg_submit(bg, &grp, job_fn, &k);
	assert_int_equal(bg_group_wait(&grp), -5); /* the first error */
	bg_group_destroy(&grp);
	assert_false(bg_defer(bg, job_fn, &j)); /* nothing to defer to */
	bg_stop(bg);
}

/* Threads: jobs run in a worker; a worker's own submission runs inline. */
static void
test_threads(void **state)
{
	struct bg *bg = bg_start(2);
	struct job child = { .bg = bg };
	struct job j = { .bg = bg, .child = &child, .rc = -3 };
	struct bg_group grp;

	(void)state;
	assert_false(bg_inline(bg));
	assert_false(bg_worker());
	bg_group_init(&grp);
	bg_submit(bg, &grp, job_fn, &j);
	assert_int_equal(bg_group_wait(&grp), -3);
	bg_group_destroy(&grp);
	assert_true(j.ran);
	assert_false(pthread_equal(j.self, pthread_self()));
	assert_true(j.inline_there);
	assert_true(j.child_done);
	assert_true(pthread_equal(child.self, j.self));
	bg_stop(bg);
}

/*
 * A submission while a short lock is counted stops the process, before
 * the job runs (in a child process: held_check is fatal).
 */
static void
test_held_check(void **state)
{
	int status;
	pid_t pid;

	(void)state;
	held_check("nothing held"); /* returns */
	held_take();
	held_drop();
	held_check("taken and dropped"); /* returns */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct job j = { .bg = NULL }; /* no pool: would run inline */

		held_take();
		bg_submit(NULL, NULL, job_fn, &j);
		_exit(j.ran ? 3 : 0); /* not reached when the check works */
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 1); /* fatalx */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_threads_inline),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_held_check),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
