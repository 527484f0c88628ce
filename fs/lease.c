/* lease.c: the rename lease in the store (see lease.h). */
#include <sys/random.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fs.h"
#include "kv.h"
#include "lease.h"
#include "log.h"
#include "itab.h"
#include "wire.h"
#include "xmalloc.h"

#define LEASE_KEY "r/lease"
#define LEASE_REC_LEN 13	/* u8 version, u64 holder, u32 lease_ms */
#define LEASE_MAX_MS 300000	/* a record asking for longer: this */

struct lease {
	pthread_mutex_t mu;	/* held from acquire to release */
	uint64_t id;		/* our holder id: random, never 0 */
	uint32_t ms;		/* how long our holdings last unrenewed */
	bool known;		/* the record was free (or absent: 0)... */
	uint64_t known_version;	/* ...at this version */
	bool seen;		/* a holding of another mount seen: */
	uint64_t seen_version;	/* its version */
	struct timespec seen_at; /* monotonic: since when */
};

/* The lease state of a mount. */
struct lease *
lease_new(int ms)
{
	struct lease *l = xcalloc(1, sizeof *l);

	/* The mount's lock_lease; a waiter would cap a longer one. */
	l->ms = ms <= 0 ? LEASE_MS : ms > LEASE_MAX_MS ? LEASE_MAX_MS :
	    (uint32_t)ms;
	pthread_mutex_init(&l->mu, NULL);
	while (l->id == 0)
		if (getrandom(&l->id, sizeof l->id, 0) != sizeof l->id)
			fatal("getrandom");
	return l;
}

/* Free the state (accepts NULL). */
void
lease_free(struct lease *l)
{
	if (l == NULL)
		return;
	pthread_mutex_destroy(&l->mu);
	free(l);
}

/* Sleep ms milliseconds. */
static void
lease_sleep(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/*
 * Write the record (holder: us, or 0 to free it) if the store still
 * holds version ver (0: if absent).  0 with h->version and h->at set,
 * -KV_ECONFLICT, or -errno.
 */
static int
lease_put(struct fs *fs, uint64_t ver, uint64_t holder, struct lease_hold *h)
{
	struct hash_key k;
	struct wbuf w;
	struct timespec at;
	uint64_t nver;
	int rc;

	hash_key_of(LEASE_KEY, strlen(LEASE_KEY), &k);
	wbuf_init(&w);
	wbuf_put_u8(&w, LEASE_VERSION);
	wbuf_put_u64(&w, holder);
	wbuf_put_u32(&w, fs->lease->ms);
	clock_gettime(CLOCK_MONOTONIC, &at);
	rc = kv_put(fs->kv, &k, w.p, w.len,
	    ver == 0 ? WIRE_COND_ABSENT : WIRE_COND_VERSION, ver, &nver);
	wbuf_free(&w);
	if (rc == 0) {
		h->version = nver;
		h->at = at;
	}
	return rc;
}

/*
 * Read the record: 0 with *holder, *ms and *ver (holder 0 and ver 0 when
 * absent), or -errno.  A record that does not decode counts as held by
 * nobody we know, for the longest lease: it is taken over in time.
 */
static int
lease_get(struct fs *fs, uint64_t *holder, int *ms, uint64_t *ver)
{
	struct hash_key k;
	struct kv_value v;
	struct rbuf r;
	int rc;

	hash_key_of(LEASE_KEY, strlen(LEASE_KEY), &k);
	*holder = 0;
	*ms = LEASE_MAX_MS;
	*ver = 0;
	if ((rc = kv_get(fs->kv, &k, &v)) == -ENOENT)
		return 0;
	if (rc != 0)
		return rc;
	*ver = v.version;
	rbuf_init(&r, v.data, v.len);
	if (v.len == LEASE_REC_LEN && rbuf_get_u8(&r) == LEASE_VERSION) {
		*holder = rbuf_get_u64(&r);
		*ms = (int)rbuf_get_u32(&r);
		if (*ms > LEASE_MAX_MS)
			*ms = LEASE_MAX_MS;
	} else {
		log_warnx("rename lease: record does not decode (%zu bytes)",
		    v.len);
		*holder = UINT64_MAX;
	}
	kv_value_free(&v);
	return 0;
}

/*
 * One look at the record: 1 when it may be taken now (free, ours from a
 * write of unknown outcome, or expired: l->known set), 0 when another
 * mount holds it, or -errno.
 */
static int
lease_look(struct fs *fs, struct lease *l)
{
	uint64_t holder, ver;
	int ms, rc;

	if ((rc = lease_get(fs, &holder, &ms, &ver)) != 0)
		return rc;
	if (holder != 0 && holder != l->id) {
		if (!l->seen || l->seen_version != ver) {
			l->seen = true;
			l->seen_version = ver;
			clock_gettime(CLOCK_MONOTONIC, &l->seen_at);
			return 0;
		}
		if (itab_age_ms(&l->seen_at) < ms)
			return 0;
		log_warnx("rename lease: taking it over from %" PRIx64
		    " (unchanged for %d ms)", holder, ms);
	}
	l->known = true;
	l->known_version = ver;
	return 1;
}

/* Lock the mount's mutex within timeout_ms: 0 or -EIO. */
static int
lease_lock_local(struct lease *l, int timeout_ms)
{
	struct timespec dl;

	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += timeout_ms / 1000;
	dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (dl.tv_nsec >= 1000000000L) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000L;
	}
	return pthread_mutex_timedlock(&l->mu, &dl) == 0 ? 0 : -EIO;
}

/* Take the lease (see lease.h). */
int
lease_acquire(struct fs *fs, struct lease_hold *h)
{
	struct lease *l = fs->lease;
	struct timespec t0;
	const char *hold;
	bool looked = false;
	int rc, pause = 10;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (lease_lock_local(l, fs->o.timeout_ms) != 0)
		return -EIO;
	for (;;) {
		if (l->known) {
			l->known = false;
			rc = lease_put(fs, l->known_version, l->id, h);
			if (rc != -KV_ECONFLICT)
				break;
		}
		/* (The record is read at least once, however long the
		 * local lock took on a loaded machine.) */
		if (looked && itab_age_ms(&t0) >= fs->o.timeout_ms) {
			log_warnx("rename lease: still held after %d ms",
			    fs->o.timeout_ms);
			rc = -EIO;
			break;
		}
		looked = true;
		if ((rc = lease_look(fs, l)) < 0)
			break;
		if (rc == 1)
			continue;
		lease_sleep(pause);
		pause = pause * 2 < 250 ? pause * 2 : 250;
	}
	if (rc != 0) {
		pthread_mutex_unlock(&l->mu);
		return rc == -KV_ECONFLICT ? -EIO : rc;
	}
	/* Tests: hold it a while (fs_rename kills us meanwhile). */
	if ((hold = getenv("CANFS_TEST_LEASE_HOLD_MS")) != NULL)
		lease_sleep(atoi(hold));
	return 0;
}

/* Renew the lease if half its time went by (see lease.h). */
int
lease_check(struct fs *fs, struct lease_hold *h)
{
	int rc;

	if (itab_age_ms(&h->at) < fs->lease->ms / 2)
		return 0;
	if ((rc = lease_put(fs, h->version, fs->lease->id, h)) == 0)
		return 0;
	log_warnx("rename lease: lost (renewal: %s)", rc == -KV_ECONFLICT ?
	    "taken over" : strerror(-rc));
	return -EIO;
}

/* Give the lease back (see lease.h). */
void
lease_release(struct fs *fs, struct lease_hold *h)
{
	struct lease *l = fs->lease;
	struct lease_hold freed;
	int rc;

	if ((rc = lease_put(fs, h->version, 0, &freed)) == 0) {
		l->known = true;
		l->known_version = freed.version;
	} else
		log_warnx("rename lease: not released (%s)",
		    rc == -KV_ECONFLICT ? "taken over" : strerror(-rc));
	pthread_mutex_unlock(&l->mu);
}
