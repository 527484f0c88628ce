/* locks.c: cluster-wide fcntl and flock locks (see locks.h). */
#include <sys/queue.h>
#include <sys/random.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "data.h"
#include "inode.h"
#include "kv.h"
#include "locks.h"
#include "log.h"
#include "meta.h"
#include "itab.h"
#include "xmalloc.h"

#define LOCKS_TRIES 64		/* lost CAS races before giving up (EIO) */
#define LOCKS_STRIPES 64	/* changes of one inode's record, one at a
				   time on this mount (locks_change) */
#define LOCKS_DROP_RETRY_MS 1000
#define LOCKS_POLL_MIN_MS 20

/* A request waiting for a lock (F_SETLKW, blocking flock). */
struct locks_waiter {
	struct locks *l;
	fuse_req_t req;
	uint64_t ino;
	struct lockrec_req q;
	struct data *d;		/* referenced (its descriptor may be closed
				   while we wait), or NULL */
	uint64_t next_ms;	/* monotonic: when to try again */
	int tries;
	bool interrupted;	/* the kernel interrupted it (a signal) */
	TAILQ_ENTRY(locks_waiter) entry;
};
TAILQ_HEAD(locks_waiters, locks_waiter);

struct locks {
	struct fs *fs;
	uint64_t mount;
	int lease_ms;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;	/* a waiter came, was interrupted or may go */
	bool stop;
	struct locks_waiters waiters;
	uint64_t *held;		/* inodes this mount holds locks on */
	size_t nheld, capheld;
	uint64_t renew_ms;	/* monotonic: next renewal */
	pthread_mutex_t stripe[LOCKS_STRIPES];
	struct locks_drop *drops; /* drops at close that failed: retried */
	size_t ndrops, capdrops;
	uint64_t drop_ms;	/* monotonic: next retry of the drops */
};

/* Locks of an owner to drop (kind 0: every lock of the mount). */
struct locks_drop {
	uint64_t ino, mount, owner;
	int kind;
};

/* Milliseconds of a clock. */
static uint64_t
locks_clock_ms(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Wall-clock ms: leases are compared across machines. */
static uint64_t
locks_wall_ms(void)
{
	return locks_clock_ms(CLOCK_REALTIME);
}

static uint64_t
locks_mono_ms(void)
{
	return locks_clock_ms(CLOCK_MONOTONIC);
}

/* Record (or forget) that this mount holds locks on ino (l->mu held). */
static void
locks_note_held(struct locks *l, uint64_t ino, bool holds)
{
	for (size_t i = 0; i < l->nheld; i++) {
		if (l->held[i] != ino)
			continue;
		if (!holds)
			l->held[i] = l->held[--l->nheld];
		return;
	}
	if (!holds)
		return;
	if (l->nheld == l->capheld) {
		l->capheld = l->capheld ? 2 * l->capheld : 16;
		l->held = xreallocarray(l->held, l->capheld, sizeof *l->held);
	}
	l->held[l->nheld++] = ino;
}

/* True when this mount holds locks on ino. */
static bool
locks_is_held(struct locks *l, uint64_t ino)
{
	bool held = false;

	pthread_mutex_lock(&l->mu);
	for (size_t i = 0; i < l->nheld && !held; i++)
		held = l->held[i] == ino;
	pthread_mutex_unlock(&l->mu);
	return held;
}

/* Read ino's record: 0 with *ver (0: none yet), or -errno. */
static int
locks_read(struct locks *l, uint64_t ino, struct lockrec *r, uint64_t *ver)
{
	struct hash_key k;
	struct kv_value v;
	int rc;

	meta_key_lock(ino, &k);
	lockrec_init(r);
	*ver = 0;
	if ((rc = kv_get(l->fs->kv, &k, &v)) == -ENOENT)
		return 0;
	if (rc != 0)
		return rc;
	*ver = v.version;
	rc = lockrec_decode(v.data, v.len, r);
	kv_value_free(&v);
	if (rc != 0) {
		log_error("inode %" PRIx64 ": malformed lock record", ino);
		return -EIO;
	}
	return 0;
}

/* Write ino's record back, on the version read (none left: delete it). */
static int
locks_write(struct locks *l, uint64_t ino, const struct lockrec *r,
    uint64_t ver)
{
	struct hash_key k;
	struct wbuf w;
	int rc;

	meta_key_lock(ino, &k);
	if (r->n == 0)
		return ver == 0 ? 0 : kv_del(l->fs->kv, &k, WIRE_COND_VERSION,
		    ver);
	wbuf_init(&w);
	lockrec_encode(&w, r);
	rc = kv_put(l->fs->kv, &k, w.p, w.len, ver == 0 ? WIRE_COND_ABSENT :
	    WIRE_COND_VERSION, ver, NULL);
	wbuf_free(&w);
	return rc;
}

/*
 * A change of one record: returns 0 to write r back, 1 when there is
 * nothing to write, or -errno to stop.
 */
typedef int (*locks_fn)(struct lockrec *r, void *arg);

static int locks_change_locked(struct locks *l, uint64_t ino, locks_fn fn,
    void *arg);

/*
 * Read, change with fn, write on the version read; again on a lost race.
 * Changes of one inode's record on this mount go one at a time, so that
 * what each notes as held (from the record it wrote) is noted in the
 * order the records were written.
 */
static int
locks_change(struct locks *l, uint64_t ino, locks_fn fn, void *arg)
{
	pthread_mutex_t *stripe = &l->stripe[ino % LOCKS_STRIPES];
	int rc;

	pthread_mutex_lock(stripe);
	rc = locks_change_locked(l, ino, fn, arg);
	pthread_mutex_unlock(stripe);
	return rc;
}

/* locks_change(), its inode's stripe held. */
static int
locks_change_locked(struct locks *l, uint64_t ino, locks_fn fn, void *arg)
{
	struct lockrec r;
	uint64_t ver;
	int rc = -EIO;

	for (int tries = 0; tries < LOCKS_TRIES; tries++) {
		inode_backoff(tries);
		if ((rc = locks_read(l, ino, &r, &ver)) != 0)
			return rc;
		if ((rc = fn(&r, arg)) == 0)
			rc = locks_write(l, ino, &r, ver);
		if (rc == 0 || rc == 1) {
			pthread_mutex_lock(&l->mu);
			locks_note_held(l, ino, lockrec_holds(&r, l->mount,
			    locks_wall_ms()));
			pthread_mutex_unlock(&l->mu);
			lockrec_free(&r);
			return 0;
		}
		lockrec_free(&r);
		if (rc != -KV_ECONFLICT)
			return rc;
	}
	log_warnx("inode %" PRIx64 ": lock record changed %d times under us",
	    ino, LOCKS_TRIES);
	return -EIO;
}

/* Arguments of locks_apply_fn. */
struct locks_apply {
	struct locks *l;
	const struct lockrec_req *q;
	struct lockrec_entry conflict;
	bool conflicted;	/* written, but the lock is not ours */
};

/*
 * Take or free a lock unless someone else's conflicts.  A flock that
 * converts (shared to exclusive, or back) and must wait first gives up
 * the one it holds, as Linux does: else two holders of a shared flock
 * both asking for it exclusive would wait for each other for ever.
 */
static int
locks_apply_fn(struct lockrec *r, void *arg)
{
	struct locks_apply *a = arg;
	const struct lockrec_entry *c;
	uint64_t now = locks_wall_ms();

	a->conflicted = false;
	if (a->q->type != LOCKREC_UNLOCK &&
	    (c = lockrec_conflict(r, a->q, now)) != NULL) {
		a->conflict = *c;
		if (a->q->kind == LOCKREC_FLOCK &&
		    lockrec_drop_owner(r, a->q->mount, a->q->owner,
		    LOCKREC_FLOCK)) {
			a->conflicted = true;
			return 0;
		}
		return -EAGAIN;
	}
	if (lockrec_apply(r, a->q, now, now + (uint64_t)a->l->lease_ms) != 0)
		return -ENOLCK;
	return 0;
}

/*
 * A lock was taken: see the file as its last writer left it.  The inode
 * is read afresh; when it changed since the kernel cached its pages,
 * they go (with its attributes), and our own cache of its chunks too.
 */
static void
locks_revalidate(struct locks *l, uint64_t ino, struct data *d)
{
	struct fs *fs = l->fs;
	struct itab_ent *n = itab_get(fs->nodes, ino);
	struct meta_inode in;
	bool inval = false;

	meta_inode_init(&in);
	if (inode_read(fs, n, 0, &in, NULL) == 0) {
		itab_lock(fs->nodes);
		if (n->kcache && (meta_ts_cmp(&n->kmtime, &in.mtime) != 0 ||
		    n->ksize != in.size)) {
			inval = true;
			n->kmtime = in.mtime;
			n->ksize = in.size;
		}
		itab_unlock(fs->nodes);
		if (d != NULL)
			data_attr(d, &in);
	}
	meta_inode_free(&in);
	itab_put(fs->nodes, n);
	if (inval && fs->se != NULL)
		(void)fuse_lowlevel_notify_inval_inode(fs->se, ino, 0, 0);
}

/* Waiters on ino may go now: try them at once (this mount freed a lock). */
static void
locks_wake(struct locks *l, uint64_t ino)
{
	struct locks_waiter *w;

	pthread_mutex_lock(&l->mu);
	TAILQ_FOREACH(w, &l->waiters, entry) {
		if (w->ino == ino) {
			w->next_ms = 0;
			w->tries = 0;
		}
	}
	pthread_cond_signal(&l->cv);
	pthread_mutex_unlock(&l->mu);
}

/* One attempt: 0 (done), -EAGAIN with *conflict, or -errno. */
static int
locks_try(struct locks *l, uint64_t ino, const struct lockrec_req *q,
    struct data *d, struct lockrec_entry *conflict)
{
	struct locks_apply a = { .l = l, .q = q };
	int rc;

	if (q->type == LOCKREC_UNLOCK) {
		/* What we wrote under the lock reaches the next holder. */
		if (d != NULL && (rc = data_flush(d)) != 0)
			log_warnx("inode %" PRIx64 ": writes under a lock "
			    "failed at unlock: %s", ino, strerror(-rc));
		if (!locks_is_held(l, ino))
			return 0;
	}
	rc = locks_change(l, ino, locks_apply_fn, &a);
	if (rc == 0 && a.conflicted) {
		locks_wake(l, ino);	/* our old flock went */
		rc = -EAGAIN;
	}
	if (rc == -EAGAIN && conflict != NULL)
		*conflict = a.conflict;
	if (rc == 0 && q->type == LOCKREC_UNLOCK)
		locks_wake(l, ino);
	else if (rc == 0)
		locks_revalidate(l, ino, d);
	return rc;
}

/* The kernel interrupted a waiter: answer it now (EINTR). */
static void
locks_interrupt_cb(fuse_req_t req, void *arg)
{
	struct locks_waiter *w = arg;
	struct locks *l = w->l;

	(void)req;
	pthread_mutex_lock(&l->mu);
	w->interrupted = true;
	w->next_ms = 0;
	pthread_cond_signal(&l->cv);
	pthread_mutex_unlock(&l->mu);
}

/* Answer a waiter and free it (l->mu not held: see locks_interrupt_cb). */
static void
locks_finish(struct locks_waiter *w, int rc)
{
	fuse_req_interrupt_func(w->req, NULL, NULL);
	fuse_reply_err(w->req, rc < 0 ? -rc : rc);
	data_put(w->d);
	free(w);
}

int
locks_set(struct locks *l, fuse_req_t req, uint64_t ino,
    const struct lockrec_req *q, struct data *d, bool wait)
{
	struct locks_waiter *w;
	int rc;

	rc = locks_try(l, ino, q, d, NULL);
	if (rc != -EAGAIN || !wait)
		return rc;
	w = xcalloc(1, sizeof *w);
	w->l = l;
	w->req = req;
	w->ino = ino;
	w->q = *q;
	w->d = d;
	if (d != NULL)
		data_hold(d);
	w->next_ms = locks_mono_ms() + LOCKS_POLL_MIN_MS;
	/* Registered before the thread can see it (the callback takes mu). */
	fuse_req_interrupt_func(req, locks_interrupt_cb, w);
	pthread_mutex_lock(&l->mu);
	TAILQ_INSERT_TAIL(&l->waiters, w, entry);
	pthread_cond_signal(&l->cv);
	pthread_mutex_unlock(&l->mu);
	return LOCKS_QUEUED;
}

int
locks_test(struct locks *l, uint64_t ino, const struct lockrec_req *q,
    struct lockrec_entry *out, bool *found)
{
	const struct lockrec_entry *c;
	struct lockrec r;
	uint64_t ver;
	int rc;

	*found = false;
	if ((rc = locks_read(l, ino, &r, &ver)) != 0)
		return rc;
	if ((c = lockrec_conflict(&r, q, locks_wall_ms())) != NULL) {
		*out = *c;
		*found = true;
	}
	lockrec_free(&r);
	return 0;
}

static int
locks_drop_fn(struct lockrec *r, void *arg)
{
	struct locks_drop *a = arg;
	bool any = false;

	if (a->kind != 0)
		return lockrec_drop_owner(r, a->mount, a->owner, a->kind) ?
		    0 : 1;
	for (size_t i = 0; i < r->n; i++) {
		if (r->e[i].mount == a->mount) {
			r->e[i--] = r->e[--r->n];
			any = true;
		}
	}
	return any ? 0 : 1;
}

/* True when a drop of (ino, owner, kind) waits for a retry (mu held). */
static bool
locks_drop_pending(struct locks *l, uint64_t ino, uint64_t owner, int kind)
{
	for (size_t i = 0; i < l->ndrops; i++) {
		if (l->drops[i].ino == ino && l->drops[i].owner == owner &&
		    l->drops[i].kind == kind)
			return true;
	}
	return false;
}

void
locks_drop_owner(struct locks *l, uint64_t ino, uint64_t owner, int kind)
{
	struct locks_drop a = { ino, l->mount, owner, kind };
	int rc;

	if (!locks_is_held(l, ino))
		return;
	if ((rc = locks_change(l, ino, locks_drop_fn, &a)) != 0) {
		/*
		 * Retried by the lock thread, and no longer renewed: they
		 * go at the latest when their lease ends.
		 */
		log_warnx("inode %" PRIx64 ": locks not freed at close (%s); "
		    "trying again", ino, strerror(-rc));
		pthread_mutex_lock(&l->mu);
		if (!locks_drop_pending(l, ino, owner, kind)) {
			if (l->ndrops == l->capdrops) {
				l->capdrops = l->capdrops ? 2 * l->capdrops : 8;
				l->drops = xreallocarray(l->drops, l->capdrops,
				    sizeof *l->drops);
			}
			l->drops[l->ndrops++] = a;
		}
		pthread_mutex_unlock(&l->mu);
	}
	locks_wake(l, ino);
}

/* The thread: retry the drops that failed at close. */
static void
locks_retry_drops(struct locks *l)
{
	pthread_mutex_lock(&l->mu);
	for (size_t i = 0; i < l->ndrops; i++) {
		struct locks_drop a = l->drops[i];
		int rc;

		pthread_mutex_unlock(&l->mu);
		rc = locks_change(l, a.ino, locks_drop_fn, &a);
		if (rc == 0)
			locks_wake(l, a.ino);
		pthread_mutex_lock(&l->mu);
		if (rc == 0) {
			l->drops[i--] = l->drops[--l->ndrops];
			log_info("inode %" PRIx64 ": locks freed after all",
			    a.ino);
		}
	}
	pthread_mutex_unlock(&l->mu);
}

uint64_t
locks_mount_id(const struct locks *l)
{
	return l->mount;
}

/* Arguments of locks_renew_fn. */
struct locks_renew {
	struct locks *l;
	uint64_t ino;
};

/*
 * Renew this mount's leases on one record (the thread, every third of
 * the lease), but not those of owners whose drop failed at close.
 */
static int
locks_renew_fn(struct lockrec *r, void *arg)
{
	struct locks_renew *a = arg;
	struct locks *l = a->l;
	uint64_t until = locks_wall_ms() + (uint64_t)l->lease_ms;
	bool any = false;

	pthread_mutex_lock(&l->mu);
	for (size_t i = 0; i < r->n; i++) {
		struct lockrec_entry *e = &r->e[i];

		if (e->mount != l->mount ||
		    locks_drop_pending(l, a->ino, e->owner, e->kind))
			continue;
		e->expires_ms = until;
		any = true;
	}
	pthread_mutex_unlock(&l->mu);
	if (!any)
		log_error("inode %" PRIx64 ": this mount's locks on it are "
		    "gone: their lease ran out before we could renew it (cut "
		    "off?); other machines may hold them now", a->ino);
	return any ? 0 : 1;
}

static void
locks_renew_all(struct locks *l)
{
	uint64_t *inos;
	size_t n;

	pthread_mutex_lock(&l->mu);
	n = l->nheld;
	inos = xcalloc(n ? n : 1, sizeof *inos);
	if (n > 0)
		memcpy(inos, l->held, n * sizeof *inos);
	pthread_mutex_unlock(&l->mu);
	for (size_t i = 0; i < n; i++) {
		struct locks_renew a = { l, inos[i] };
		int rc = locks_change(l, inos[i], locks_renew_fn, &a);

		if (rc != 0)
			log_error("inode %" PRIx64 ": cannot renew our locks "
			    "(%s): other machines may take them when the "
			    "lease ends", inos[i], strerror(-rc));
	}
	free(inos);
}

/* The next waiter due by now, taken off the list, or NULL (mu held). */
static struct locks_waiter *
locks_due(struct locks *l, uint64_t now, uint64_t *next)
{
	struct locks_waiter *w;

	TAILQ_FOREACH(w, &l->waiters, entry) {
		if (w->next_ms <= now) {
			TAILQ_REMOVE(&l->waiters, w, entry);
			return w;
		}
		if (w->next_ms < *next)
			*next = w->next_ms;
	}
	return NULL;
}

/* Try a waiter once: answer it, or put it back with a longer wait. */
static void
locks_retry(struct locks *l, struct locks_waiter *w)
{
	uint64_t delay;
	uint32_t r = 0;
	int rc;

	if (w->interrupted || fuse_req_interrupted(w->req)) {
		locks_finish(w, -EINTR);
		return;
	}
	rc = locks_try(l, w->ino, &w->q, w->d, NULL);
	/* A waiter rides out the store's failures (EIO): it may wait. */
	if (rc != -EAGAIN && rc != -EIO) {
		locks_finish(w, rc);
		return;
	}
	w->tries++;
	delay = (uint64_t)LOCKS_POLL_MIN_MS << (w->tries < 6 ? w->tries : 6);
	if (delay > LOCKS_POLL_MAX_MS)
		delay = LOCKS_POLL_MAX_MS;
	if (getrandom(&r, sizeof r, 0) == sizeof r)
		delay += r % (delay / 4 + 1); /* waiters do not march together */
	pthread_mutex_lock(&l->mu);
	if (!w->interrupted)
		w->next_ms = locks_mono_ms() + delay;
	TAILQ_INSERT_TAIL(&l->waiters, w, entry);
	pthread_mutex_unlock(&l->mu);
}

/* The module's thread: waiters' retries and lease renewals. */
static void *
locks_main(void *arg)
{
	struct locks *l = arg;

	pthread_mutex_lock(&l->mu);
	while (!l->stop) {
		uint64_t now = locks_mono_ms(), next = l->renew_ms;
		struct locks_waiter *w;
		struct timespec ts;

		if (now >= l->renew_ms) {
			l->renew_ms = now + (uint64_t)l->lease_ms / 3;
			pthread_mutex_unlock(&l->mu);
			locks_renew_all(l);
			pthread_mutex_lock(&l->mu);
			continue;
		}
		if (l->ndrops > 0 && now >= l->drop_ms) {
			l->drop_ms = now + LOCKS_DROP_RETRY_MS;
			pthread_mutex_unlock(&l->mu);
			locks_retry_drops(l);
			pthread_mutex_lock(&l->mu);
			continue;
		}
		if (l->ndrops > 0 && l->drop_ms < next)
			next = l->drop_ms;
		if ((w = locks_due(l, now, &next)) != NULL) {
			pthread_mutex_unlock(&l->mu);
			locks_retry(l, w);
			pthread_mutex_lock(&l->mu);
			continue;
		}
		ts.tv_sec = (time_t)(next / 1000);
		ts.tv_nsec = (long)(next % 1000) * 1000000L;
		pthread_cond_timedwait(&l->cv, &l->mu, &ts);
	}
	pthread_mutex_unlock(&l->mu);
	return NULL;
}

struct locks *
locks_new(struct fs *fs, int lease_ms, char *err, size_t errlen)
{
	struct locks *l = xcalloc(1, sizeof *l);
	pthread_condattr_t ca;

	l->fs = fs;
	l->lease_ms = lease_ms;
	if (getrandom(&l->mount, sizeof l->mount, 0) != sizeof l->mount) {
		snprintf(err, errlen, "getrandom: %s", strerror(errno));
		free(l);
		return NULL;
	}
	TAILQ_INIT(&l->waiters);
	pthread_mutex_init(&l->mu, NULL);
	for (int i = 0; i < LOCKS_STRIPES; i++)
		pthread_mutex_init(&l->stripe[i], NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&l->cv, &ca);
	pthread_condattr_destroy(&ca);
	l->renew_ms = locks_mono_ms() + (uint64_t)lease_ms / 3;
	if ((errno = pthread_create(&l->thread, NULL, locks_main, l)) != 0) {
		snprintf(err, errlen, "cannot start the lock thread: %s",
		    strerror(errno));
		pthread_cond_destroy(&l->cv);
		pthread_mutex_destroy(&l->mu);
		free(l);
		return NULL;
	}
	return l;
}

void
locks_free(struct locks *l)
{
	struct locks_drop a;
	struct locks_waiter *w;
	uint64_t *inos;
	size_t n;

	if (l == NULL)
		return;
	pthread_mutex_lock(&l->mu);
	l->stop = true;
	pthread_cond_signal(&l->cv);
	pthread_mutex_unlock(&l->mu);
	pthread_join(l->thread, NULL);
	while ((w = TAILQ_FIRST(&l->waiters)) != NULL) {
		TAILQ_REMOVE(&l->waiters, w, entry);
		locks_finish(w, -EINTR);
	}
	/* Whatever the kernel did not release: others need not wait out
	 * the lease. */
	a.ino = 0;	/* (unused by locks_drop_fn) */
	a.mount = l->mount;
	a.owner = 0;
	a.kind = 0;
	inos = l->held;
	n = l->nheld;
	l->held = NULL;
	l->nheld = l->capheld = 0;
	for (size_t i = 0; i < n; i++)
		(void)locks_change(l, inos[i], locks_drop_fn, &a);
	free(inos);
	free(l->held);
	free(l->drops);
	for (int i = 0; i < LOCKS_STRIPES; i++)
		pthread_mutex_destroy(&l->stripe[i]);
	pthread_cond_destroy(&l->cv);
	pthread_mutex_destroy(&l->mu);
	free(l);
}
