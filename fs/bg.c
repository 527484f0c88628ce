/* bg.c: worker threads for background store requests (see bg.h). */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "bg.h"
#include "held.h"
#include "log.h"
#include "xmalloc.h"

/* A queued job. */
struct bg_job {
	bg_fn fn;
	void *arg;
	struct bg_group *grp;
	struct bg_job *next;
};

struct bg {
	pthread_mutex_t mu;
	pthread_cond_t cv;	/* a job was queued, or stop */
	struct bg_job *head, *tail;
	bool stop;
	int nthreads;
	pthread_t *threads;
};

/* Set in worker threads: their submissions run inline. */
static __thread bool bg_in_worker;

/* Record a finished job in its group. */
static void
bg_group_done(struct bg_group *grp, int rc)
{
	if (grp == NULL)
		return;
	pthread_mutex_lock(&grp->mu);
	if (rc != 0 && grp->err == 0)
		grp->err = rc;
	if (--grp->pending == 0)
		pthread_cond_broadcast(&grp->cv);
	pthread_mutex_unlock(&grp->mu);
}

/* A worker: run jobs until told to stop and the queue is empty. */
static void *
bg_thread(void *arg)
{
	struct bg *bg = arg;

	bg_in_worker = true;
	pthread_mutex_lock(&bg->mu);
	for (;;) {
		struct bg_job *j = bg->head;

		if (j == NULL) {
			if (bg->stop)
				break;
			pthread_cond_wait(&bg->cv, &bg->mu);
			continue;
		}
		bg->head = j->next;
		if (bg->head == NULL)
			bg->tail = NULL;
		pthread_mutex_unlock(&bg->mu);
		bg_group_done(j->grp, j->fn(j->arg));
		free(j);
		pthread_mutex_lock(&bg->mu);
	}
	pthread_mutex_unlock(&bg->mu);
	return NULL;
}

/* Start the pool. */
struct bg *
bg_start(int nthreads)
{
	struct bg *bg = xcalloc(1, sizeof *bg);

	pthread_mutex_init(&bg->mu, NULL);
	pthread_cond_init(&bg->cv, NULL);
	if (nthreads > 0)
		bg->threads = xcalloc((size_t)nthreads, sizeof *bg->threads);
	for (int i = 0; i < nthreads; i++) {
		if (pthread_create(&bg->threads[i], NULL, bg_thread, bg) != 0) {
			log_warnx("could start only %d background threads", i);
			break;
		}
		bg->nthreads++;
	}
	return bg;
}

/* Stop the pool. */
void
bg_stop(struct bg *bg)
{
	if (bg == NULL)
		return;
	pthread_mutex_lock(&bg->mu);
	bg->stop = true;
	pthread_cond_broadcast(&bg->cv);
	pthread_mutex_unlock(&bg->mu);
	for (int i = 0; i < bg->nthreads; i++)
		pthread_join(bg->threads[i], NULL);
	free(bg->threads);
	pthread_cond_destroy(&bg->cv);
	pthread_mutex_destroy(&bg->mu);
	free(bg);
}

/* Append a job to the queue and wake a worker. */
static void
bg_enqueue(struct bg *bg, struct bg_group *grp, bg_fn fn, void *arg)
{
	struct bg_job *j = xcalloc(1, sizeof *j);

	j->fn = fn;
	j->arg = arg;
	j->grp = grp;
	pthread_mutex_lock(&bg->mu);
	if (bg->tail != NULL)
		bg->tail->next = j;
	else
		bg->head = j;
	bg->tail = j;
	pthread_cond_signal(&bg->cv);
	pthread_mutex_unlock(&bg->mu);
}

/* Queue a job (or run it now, see bg.h). */
void
bg_submit(struct bg *bg, struct bg_group *grp, bg_fn fn, void *arg)
{
	held_check("bg_submit");
	if (grp != NULL) {
		pthread_mutex_lock(&grp->mu);
		grp->pending++;
		pthread_mutex_unlock(&grp->mu);
	}
	if (bg_inline(bg)) {
		bg_group_done(grp, fn(arg));
		return;
	}
	bg_enqueue(bg, grp, fn, arg);
}

/* Queue a job at the tail, even from a worker (see bg.h). */
bool
bg_defer(struct bg *bg, bg_fn fn, void *arg)
{
	held_check("bg_defer");
	if (bg == NULL || bg->nthreads == 0)
		return false;
	bg_enqueue(bg, NULL, fn, arg);
	return true;
}

/* Would bg_submit run a job in its caller? */
bool
bg_inline(const struct bg *bg)
{
	return bg == NULL || bg->nthreads == 0 || bg_in_worker;
}

/* True in a worker. */
bool
bg_worker(void)
{
	return bg_in_worker;
}

/* An empty group. */
void
bg_group_init(struct bg_group *grp)
{
	pthread_mutex_init(&grp->mu, NULL);
	pthread_cond_init(&grp->cv, NULL);
	grp->pending = 0;
	grp->err = 0;
}

/* Wait for a group's jobs. */
int
bg_group_wait(struct bg_group *grp)
{
	int err;

	pthread_mutex_lock(&grp->mu);
	while (grp->pending > 0)
		pthread_cond_wait(&grp->cv, &grp->mu);
	err = grp->err;
	pthread_mutex_unlock(&grp->mu);
	return err;
}

/* Release a group (after bg_group_wait). */
void
bg_group_destroy(struct bg_group *grp)
{
	pthread_cond_destroy(&grp->cv);
	pthread_mutex_destroy(&grp->mu);
}
