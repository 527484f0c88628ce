/* kv.c: the object store over multiplexed connections (see kv.h). */
#include <sys/random.h>

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "client_batch.h"
#include "held.h"
#include "kv.h"
#include "log.h"
#include "xmalloc.h"

#define KV_CONNECT_TIMEOUT_MS 2000
#define KV_DOWN_MS 1000		/* fail fast this long after all failed */
#define KV_RECOVER_MS 30000	/* retry "recovering" answers this long */
#define KV_MAX_SPECS 16
/*
 * Requests in flight on one connection at most.  The daemon drops a
 * client whose replies back up past 64 MiB (CONN_OUTPUT_CAP), and 8
 * replies of the largest value (4 MiB) arriving at once stay well under.
 */
#define KV_CONN_INFLIGHT 8
#define KV_MAX_CONNS 32		/* so up to 256 requests in flight */
/*
 * Batch requests of one kv_batch() in flight at once, on one connection.
 * A batch reply holds at most WIRE_BATCH_MAX_DATA (4 MiB) of values, so
 * these add no more to a connection's backlog than 4 large single
 * replies.
 */
#define KV_BATCH_PIPE 4

/* One multiplexed connection, shared by the callers using it. */
struct kv_conn {
	struct client_mux *m;	/* NULL until connected or after a failure */
	int spec;		/* index of the daemon m talks to */
	int users;		/* callers with a request on it (or connecting) */
	bool connecting;	/* a caller is connecting it (m is NULL) */
	bool retired;		/* broken, or to a former daemon: no new
				   users; the last one closes it */
};

struct kv {
	char *specs[KV_MAX_SPECS]; /* daemons, as given */
	int nspecs;
	int cur;		/* where new connections go */
	int timeout_ms;		/* per request */
	struct timespec down_until; /* fail fast until then (0: not down) */
	bool down;		/* last connect failed everywhere (for logs) */
	pthread_mutex_t mu;	/* guards everything but a connection's mux */
	pthread_cond_t cv;	/* room on a connection, or one (un)made */
	uint64_t op_client;	/* random: this mount's writes' op ids */
	uint64_t op_seq;	/* the last op id's sequence number */
	struct kv_conn *conns;
	int nconns;
	int per_conn;		/* requests in flight per connection */
	struct kv_stats st;
};

/* Map a wire error code to an errno. */
int
kv_errno(uint32_t code)
{
	switch (code) {
	case WIRE_E_OK:
		return 0;
	case WIRE_E_NOTFOUND:
		return ENOENT;
	case WIRE_E_CONFLICT:
		return KV_ECONFLICT;
	case WIRE_E_NOSPACE:
		return ENOSPC;
	case WIRE_E_TOOBIG:
		return EFBIG;
	}
	/* UNAVAIL, TIMEOUT, NOROUTE, BUSY, CORRUPT, INTERNAL, PROTO... */
	return EIO;
}

/* Monotonic time. */
static void
kv_now(struct timespec *ts)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
}

/* True while the daemons are considered down (caller holds mu). */
static bool
kv_is_down(const struct kv *kv)
{
	struct timespec now;

	if (kv->down_until.tv_sec == 0)
		return false;
	kv_now(&now);
	return now.tv_sec < kv->down_until.tv_sec ||
	    (now.tv_sec == kv->down_until.tv_sec &&
	    now.tv_nsec < kv->down_until.tv_nsec);
}

/* Split source at commas into kv->specs.  -1 with err on bad syntax. */
static int
kv_parse_source(struct kv *kv, const char *source, char *err, size_t errlen)
{
	char *copy = xstrdup(source), *save = NULL, *tok;

	for (tok = strtok_r(copy, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save)) {
		if (kv->nspecs == KV_MAX_SPECS) {
			snprintf(err, errlen, "more than %d daemons in %s",
			    KV_MAX_SPECS, source);
			free(copy);
			return -1;
		}
		kv->specs[kv->nspecs++] = xstrdup(tok);
	}
	free(copy);
	if (kv->nspecs == 0) {
		snprintf(err, errlen, "no daemon named in \"%s\"", source);
		return -1;
	}
	return 0;
}

/*
 * Connect s (taken for connecting by this caller), trying every daemon
 * from the current one on.  Returns 0, or -1 with the last reason in err
 * (the daemons are then marked down for KV_DOWN_MS).
 */
static int
kv_connect(struct kv *kv, struct kv_conn *s, char *err, size_t errlen,
    bool quiet)
{
	struct client_mux *m;
	int start, i;

	pthread_mutex_lock(&kv->mu);
	start = kv->cur;
	pthread_mutex_unlock(&kv->mu);
	for (i = 0; i < kv->nspecs; i++) {
		int spec = (start + i) % kv->nspecs;

		m = client_mux_connect(kv->specs[spec], KV_CONNECT_TIMEOUT_MS,
		    err, errlen);
		if (m == NULL)
			continue;
		pthread_mutex_lock(&kv->mu);
		s->m = m;
		s->spec = spec;
		s->connecting = false;
		if (spec != kv->cur) {
			kv->cur = spec;
			kv->st.failovers++;
			log_warnx("now using the daemon at %s",
			    kv->specs[spec]);
		} else if (kv->down)
			log_info("reconnected to the daemon at %s",
			    kv->specs[spec]);
		kv->down = false;
		kv->down_until.tv_sec = 0;
		pthread_cond_broadcast(&kv->cv);
		pthread_mutex_unlock(&kv->mu);
		return 0;
	}
	pthread_mutex_lock(&kv->mu);
	s->connecting = false;
	if (!kv->down && !quiet)
		log_error("%s", err);
	kv->down = true;
	kv_now(&kv->down_until);
	kv->down_until.tv_nsec += (long)KV_DOWN_MS * 1000000L;
	while (kv->down_until.tv_nsec >= 1000000000L) {
		kv->down_until.tv_sec++;
		kv->down_until.tv_nsec -= 1000000000L;
	}
	pthread_cond_broadcast(&kv->cv);
	pthread_mutex_unlock(&kv->mu);
	return -1;
}

/*
 * Ask the first daemon for its status: it must answer as a canfsd and be
 * a member of an overlay.  -1 with a message in err.
 */
static int
kv_check(struct kv *kv, struct kv_conn *s, char *err, size_t errlen)
{
	static const char *const states[] = { "joining", "active", "leaving",
	    "gone" };
	struct wire_membership m;
	struct client_req *r;
	uint32_t state;

	r = client_mux_send(s->m, WIRE_STATUS_REQ, 0, NULL, 0, kv->timeout_ms);
	if (client_req_reply(r, WIRE_STATUS, &m, NULL) == -1) {
		snprintf(err, errlen, "%s does not answer as a canfs daemon: "
		    "%s", kv->specs[s->spec], client_req_error(r));
		client_req_free(r);
		return -1;
	}
	client_req_free(r);
	state = m.flags;
	wire_membership_free(&m);
	if (state != 1) {
		snprintf(err, errlen, "the daemon at %s is %s, not active in "
		    "an overlay: try again when it has joined",
		    kv->specs[s->spec], state < 4 ? states[state] : "in an "
		    "unknown state");
		return -1;
	}
	return 0;
}

/* Open the store's connections (see kv.h). */
struct kv *
kv_open(const char *source, int nconns, int timeout_ms, char *err,
    size_t errlen)
{
	struct kv *kv = xcalloc(1, sizeof *kv);
	int inflight = nconns > 0 ? nconns : 1;
	pthread_condattr_t ca;

	pthread_mutex_init(&kv->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* kv_acquire() */
	pthread_cond_init(&kv->cv, &ca);
	pthread_condattr_destroy(&ca);
	kv->timeout_ms = timeout_ms;
	/* Op ids must not repeat across mounts or remounts: random. */
	while (kv->op_client == 0)
		if (getrandom(&kv->op_client, sizeof kv->op_client, 0) !=
		    (ssize_t)sizeof kv->op_client)
			kv->op_client = ((uint64_t)getpid() << 32) ^
			    (uint64_t)time(NULL);
	/* inflight requests over as few connections as the cap allows. */
	kv->nconns = (inflight + KV_CONN_INFLIGHT - 1) / KV_CONN_INFLIGHT;
	if (kv->nconns > KV_MAX_CONNS)
		kv->nconns = KV_MAX_CONNS;
	kv->per_conn = (inflight + kv->nconns - 1) / kv->nconns;
	kv->conns = xcalloc((size_t)kv->nconns, sizeof *kv->conns);
	if (kv_parse_source(kv, source, err, errlen) == -1)
		goto fail;
	kv->conns[0].connecting = true;
	if (kv_connect(kv, &kv->conns[0], err, errlen, true) == -1 ||
	    kv_check(kv, &kv->conns[0], err, errlen) == -1)
		goto fail;
	return kv;
fail:
	kv_close(kv);
	return NULL;
}

/* Close every connection and free (no calls may be running). */
void
kv_close(struct kv *kv)
{
	if (kv == NULL)
		return;
	for (int i = 0; i < kv->nconns; i++)
		client_mux_close(kv->conns[i].m);
	for (int i = 0; i < kv->nspecs; i++)
		free(kv->specs[i]);
	free(kv->conns);
	pthread_cond_destroy(&kv->cv);
	pthread_mutex_destroy(&kv->mu);
	free(kv);
}

/*
 * Retire t if it is broken or talks to a former daemon; if nobody uses it
 * any more, empty the slot and return its mux for the caller to close
 * once it has let go of mu (else NULL).  Caller holds mu.
 */
static struct client_mux *
kv_reap(struct kv *kv, struct kv_conn *t)
{
	struct client_mux *m;

	if (t->m == NULL)
		return NULL;
	if (!t->retired && (t->spec != kv->cur || client_mux_broken(t->m)))
		t->retired = true;
	if (!t->retired || t->users > 0)
		return NULL;
	m = t->m;
	t->m = NULL;
	t->retired = false;
	pthread_cond_broadcast(&kv->cv);
	return m;
}

/*
 * A connection for one request: the least busy one to the current daemon
 * with room, else a new one (connected here, from the current daemon on,
 * while there are free slots), else wait for room, but no longer than
 * the request timeout: when every slot stays taken that long (a daemon
 * that hangs, each request running to its own timeout), the call fails
 * with EIO like the requests it waited behind, instead of queueing for
 * several timeouts in a row.  Returns NULL (without waiting) while the
 * daemons are down or when no daemon can be reached, with the reason in
 * err.  Give it back with kv_release().
 */
static struct kv_conn *
kv_acquire(struct kv *kv, char *err, size_t errlen)
{
	struct kv_conn *s = NULL, *empty = NULL;
	struct client_mux *dead[KV_MAX_CONNS];
	struct timespec dl;
	bool late = false;
	int ndead;

	held_check("a store request");
	kv_now(&dl);
	dl.tv_sec += kv->timeout_ms / 1000;
	dl.tv_nsec += (long)(kv->timeout_ms % 1000) * 1000000L;
	if (dl.tv_nsec >= 1000000000L) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000L;
	}
	for (;;) {
		ndead = 0;
		s = empty = NULL;
		pthread_mutex_lock(&kv->mu);
		if (kv_is_down(kv)) {
			pthread_mutex_unlock(&kv->mu);
			snprintf(err, errlen, "no daemon reachable");
			return NULL;
		}
		for (int i = 0; i < kv->nconns; i++) {
			struct kv_conn *t = &kv->conns[i];

			if ((dead[ndead] = kv_reap(kv, t)) != NULL)
				ndead++;
			if (t->m == NULL && !t->connecting && empty == NULL)
				empty = t;
			if (t->m != NULL && !t->retired &&
			    t->users < kv->per_conn &&
			    (s == NULL || t->users < s->users))
				s = t;
		}
		if (s == NULL && empty != NULL) {
			s = empty;
			s->connecting = true;
		}
		if (s != NULL)
			s->users++;
		else if (ndead == 0 && late) {
			pthread_mutex_unlock(&kv->mu);
			snprintf(err, errlen, "no room for a request within %d "
			    "ms (%d in flight)", kv->timeout_ms,
			    kv->nconns * kv->per_conn);
			log_warnx("%s", err);
			return NULL;
		} else if (ndead == 0)
			late = pthread_cond_timedwait(&kv->cv, &kv->mu,
			    &dl) == ETIMEDOUT;
		pthread_mutex_unlock(&kv->mu);
		for (int i = 0; i < ndead; i++)
			client_mux_close(dead[i]);
		if (s == NULL)
			continue;
		/* An empty slot is ours alone to connect. */
		if (s == empty && kv_connect(kv, s, err, errlen,
		    false) == -1) {
			pthread_mutex_lock(&kv->mu);
			s->users--;
			pthread_cond_broadcast(&kv->cv);
			pthread_mutex_unlock(&kv->mu);
			return NULL;
		}
		return s;
	}
}

/*
 * Give a connection back; retire it when its request found it broken, or
 * when failover says its daemon should be left (moving on to the next).
 */
static void
kv_release(struct kv *kv, struct kv_conn *s, bool broken, bool failover)
{
	struct client_mux *m;

	pthread_mutex_lock(&kv->mu);
	s->users--;
	if (broken)
		s->retired = true;
	if (failover && s->spec == kv->cur && kv->nspecs > 1)
		kv->cur = (kv->cur + 1) % kv->nspecs;
	m = kv_reap(kv, s);
	pthread_cond_broadcast(&kv->cv); /* room now */
	pthread_mutex_unlock(&kv->mu);
	client_mux_close(m);
}

/* Count an event. */
static void
kv_count(struct kv *kv, uint64_t *counter)
{
	pthread_mutex_lock(&kv->mu);
	(*counter)++;
	pthread_mutex_unlock(&kv->mu);
}

/* Sleep ms milliseconds. */
static void
kv_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static uint64_t kv_us_since(const struct timespec *t0);

/* True for daemon answers that mean "the overlay is recovering". */
static bool
kv_transient(uint32_t code)
{
	return code == WIRE_E_UNAVAIL || code == WIRE_E_BUSY ||
	    code == WIRE_E_TIMEOUT || code == WIRE_E_NOROUTE ||
	    code == WIRE_E_TTL;
}

/*
 * One object request with retries.  A broken connection is remade, on the
 * next daemon if the current one is gone, and the request sent again (at
 * most once per daemon: a daemon that is gone gives EIO at once).  Answers
 * that mean the overlay is recovering from a failure (UNAVAIL until a
 * dead node's zone is taken over, BUSY, ...) are retried with backoff for
 * up to KV_RECOVER_MS, moving to the next daemon first when there is one.
 * A write is retried with the same op id (req->meta.op), so one that
 * landed before its reply was lost is answered with its version, never
 * CONFLICT.  Returns
 * 0 with *reply / *buf as client_obj_request(), or a negative errno.
 */
static int
kv_call(struct kv *kv, uint16_t type, const struct wire_obj *req,
    uint16_t want, struct wire_obj *reply, uint8_t **buf)
{
	struct timespec t0;
	char err[512];
	int lost = 0, waits = 0;

	kv_now(&t0);
	for (;;) {
		struct kv_conn *s = kv_acquire(kv, err, sizeof err);
		struct client_req *r;
		uint32_t code;
		int rc;

		if (s == NULL)
			return -EIO;
		r = client_mux_send_obj(s->m, type, req, kv->timeout_ms);
		if (client_req_obj(r, want, reply, buf) == 0) {
			client_req_free(r);
			kv_release(kv, s, false, false);
			return 0;
		}
		code = client_req_error_code(r);
		if (client_req_broken(r)) {
			log_debug("%s: %s", wire_type_name(type),
			    client_req_error(r));
			client_req_free(r);
			kv_release(kv, s, true, false);
			if (++lost > kv->nspecs)
				return -EIO;
			kv_count(kv, &kv->st.retries);
			continue;
		}
		if (kv_transient(code) &&
		    kv_us_since(&t0) < KV_RECOVER_MS * 1000ULL) {
			log_debug("%s: %s; retrying", wire_type_name(type),
			    client_req_error(r));
			client_req_free(r);
			/* Every other time, try another daemon. */
			kv_release(kv, s, false, kv->nspecs > 1 &&
			    waits % 2 == 0);
			kv_sleep_ms(waits < 5 ? 50 << waits : 1000);
			waits++;
			kv_count(kv, &kv->st.retries);
			continue;
		}
		if (code == WIRE_E_OK)	/* a timeout or a malformed reply */
			log_warnx("%s", client_req_error(r));
		else if (code != WIRE_E_NOTFOUND && code != WIRE_E_CONFLICT)
			log_warnx("%s: %s", wire_type_name(type),
			    client_req_error(r));
		rc = code == WIRE_E_OK ? -EIO : -kv_errno(code);
		client_req_free(r);
		kv_release(kv, s, false, false);
		return rc;
	}
}

/* A request body for key k. */
static void
kv_req(struct wire_obj *o, const struct hash_key *k, int cond,
    uint64_t cond_version)
{
	memset(o, 0, sizeof *o);
	o->key = *k;
	o->cond = (uint8_t)cond;
	o->cond_version = cond_version;
}

/* A write's request body: kv_req() plus a fresh op id for its retries. */
static void
kv_write_req(struct kv *kv, struct wire_obj *o, const struct hash_key *k,
    int cond, uint64_t cond_version)
{
	kv_req(o, k, cond, cond_version);
	o->meta.op.client = kv->op_client;
	o->meta.op.seq = __atomic_add_fetch(&kv->op_seq, 1, __ATOMIC_RELAXED);
}

/* Microseconds since a monotonic start time. */
static uint64_t
kv_us_since(const struct timespec *t0)
{
	struct timespec t1;

	kv_now(&t1);
	return (uint64_t)((t1.tv_sec - t0->tv_sec) * 1000000 +
	    (t1.tv_nsec - t0->tv_nsec) / 1000);
}

/* Count the outcome of a call that started at t0. */
static void
kv_account(struct kv *kv, uint64_t *op, uint64_t *us,
    const struct timespec *t0, int rc, size_t in, size_t out)
{
	uint64_t took = kv_us_since(t0);

	pthread_mutex_lock(&kv->mu);
	(*op)++;
	*us += took;
	if (rc == -KV_ECONFLICT)
		kv->st.conflicts++;
	else if (rc != 0 && rc != -ENOENT)
		kv->st.errors++;
	kv->st.bytes_in += in;
	kv->st.bytes_out += out;
	pthread_mutex_unlock(&kv->mu);
}

/* A GET (of range, when not NULL: WIRE_RANGE_LEN bytes), not counted. */
static int
kv_get_one(struct kv *kv, const struct hash_key *k, const uint8_t *range,
    struct kv_value *v)
{
	struct wire_obj req, reply;
	uint8_t *buf = NULL;
	int rc;

	memset(v, 0, sizeof *v);
	kv_req(&req, k, WIRE_COND_NONE, 0);
	if (range != NULL) {
		req.data = range;
		req.len = WIRE_RANGE_LEN;
	}
	rc = kv_call(kv, WIRE_OBJ_GET, &req, WIRE_OBJ_VALUE, &reply, &buf);
	if (rc == 0) {
		v->buf = buf;
		v->data = reply.data;
		v->len = reply.len;
		v->version = reply.meta.version;
	}
	return rc;
}

/* GET. */
int
kv_get(struct kv *kv, const struct hash_key *k, struct kv_value *v)
{
	struct timespec t0;
	int rc;

	kv_now(&t0);
	rc = kv_get_one(kv, k, NULL, v);
	kv_account(kv, &kv->st.gets, &kv->st.get_us, &t0, rc,
	    rc == 0 ? v->len : 0, 0);
	return rc;
}

/* GET of a range (see kv.h). */
int
kv_get_range(struct kv *kv, const struct hash_key *k, uint32_t off,
    uint32_t len, struct kv_value *v)
{
	struct timespec t0;
	struct wbuf w;
	int rc;

	kv_now(&t0);
	wbuf_init(&w);
	wire_range_encode(&w, off, len);
	rc = kv_get_one(kv, k, w.p, v);
	wbuf_free(&w);
	kv_account(kv, &kv->st.gets, &kv->st.get_us, &t0, rc,
	    rc == 0 ? v->len : 0, 0);
	return rc;
}

/* Free a value. */
void
kv_value_free(struct kv_value *v)
{
	free(v->buf);
	memset(v, 0, sizeof *v);
}

/* PUT. */
int
kv_put(struct kv *kv, const struct hash_key *k, const void *data, size_t len,
    int cond, uint64_t cond_version, uint64_t *version)
{
	struct wire_obj req, reply;
	uint8_t *buf = NULL;
	int rc;

	struct timespec t0;

	if (len > WIRE_MAX_VALUE)
		return -EFBIG;
	kv_now(&t0);
	kv_write_req(kv, &req, k, cond, cond_version);
	req.data = data;
	req.len = (uint32_t)len;
	rc = kv_call(kv, WIRE_OBJ_PUT, &req, WIRE_OBJ_DONE, &reply, &buf);
	if (rc == 0 && version != NULL)
		*version = reply.meta.version;
	free(buf);
	kv_account(kv, &kv->st.puts, &kv->st.put_us, &t0, rc, 0, len);
	return rc;
}

/* PATCH: ranges of bytes inside the value (see kv.h). */
int
kv_patch(struct kv *kv, const struct hash_key *k,
    const struct kv_range *r, int n)
{
	struct wire_obj req, reply;
	struct timespec t0;
	struct wbuf w;
	uint8_t *buf = NULL;
	size_t bytes = 0;
	int rc;

	if (n < 1 || n > WIRE_PATCH_RANGES)
		return -EINVAL;
	for (int i = 0; i < n; i++) {
		if (r[i].len > WIRE_MAX_VALUE ||
		    r[i].off > WIRE_MAX_VALUE - r[i].len)
			return -EFBIG;
		bytes += r[i].len;
	}
	/* Headers: u16 n, then two u32 per range. */
	if (bytes + 2 + 8 * (size_t)n > WIRE_MAX_VALUE)
		return -EFBIG;
	kv_now(&t0);
	wbuf_init(&w);
	wire_patch_begin(&w, (uint16_t)n);
	for (int i = 0; i < n; i++)
		wire_patch_range(&w, r[i].off, r[i].data, r[i].len);
	kv_write_req(kv, &req, k, WIRE_COND_NONE, 0);
	req.data = w.p;
	req.len = (uint32_t)w.len;
	rc = kv_call(kv, WIRE_OBJ_PATCH, &req, WIRE_OBJ_DONE, &reply, &buf);
	free(buf);
	wbuf_free(&w);
	kv_account(kv, &kv->st.puts, &kv->st.put_us, &t0, rc, 0, bytes);
	return rc;
}

/* DELETE. */
int
kv_del(struct kv *kv, const struct hash_key *k, int cond,
    uint64_t cond_version)
{
	struct wire_obj req, reply;
	uint8_t *buf = NULL;
	int rc;

	struct timespec t0;

	kv_now(&t0);
	kv_write_req(kv, &req, k, cond, cond_version);
	rc = kv_call(kv, WIRE_OBJ_DEL, &req, WIRE_OBJ_DONE, &reply, &buf);
	free(buf);
	kv_account(kv, &kv->st.dels, &kv->st.del_us, &t0, rc, 0, 0);
	return rc;
}

/* ---- batches -------------------------------------------------------- */

/* kv_op.rc while the op has not finished (never a -errno). */
#define KV_OP_PENDING 1
/* ... and for a GET that must be read alone (its value did not fit). */
#define KV_OP_ALONE 2

/* One batch request of kv_batch(): its ops are ops[idx[0..k)]. */
struct kv_frame {
	struct client_batch *b;
	struct client_req *r;
	size_t idx[WIRE_BATCH_MAX];
	size_t k;
};

/* Get an op ready: pending, a fresh op id for a write; or failed. */
static void
kv_batch_prepare(struct kv *kv, struct kv_op *op)
{
	memset(&op->v, 0, sizeof op->v);
	op->version = 0;
	op->rc = KV_OP_PENDING;
	memset(&op->op, 0, sizeof op->op);
	if (op->type != WIRE_OBJ_GET && op->type != WIRE_OBJ_PUT &&
	    op->type != WIRE_OBJ_DEL)
		op->rc = -EINVAL;
	else if (op->type == WIRE_OBJ_PUT && op->len > WIRE_MAX_VALUE)
		op->rc = -EFBIG;
	else if (op->type != WIRE_OBJ_GET) {
		op->op.client = kv->op_client;
		op->op.seq = __atomic_add_fetch(&kv->op_seq, 1,
		    __ATOMIC_RELAXED);
	}
}

/*
 * Fill frame f with the pending ops from *next on, in order, as many as
 * fit the frame and (by the GETs' len bounds) its reply; *next is left at
 * the first op not taken.  Returns f->k.
 */
static size_t
kv_batch_fill(struct kv_frame *f, struct kv_op *ops, size_t n, size_t *next)
{
	size_t i, data = 0;

	client_batch_reset(f->b);
	f->k = 0;
	for (i = *next; i < n; i++) {
		struct kv_op *op = &ops[i];
		struct wire_obj o;

		if (op->rc != KV_OP_PENDING)
			continue;
		if (op->type == WIRE_OBJ_GET) {
			if (f->k > 0 && op->len > WIRE_BATCH_MAX_DATA - data)
				break; /* its value may not fit the reply */
			data += op->len < WIRE_BATCH_MAX_DATA ? op->len :
			    WIRE_BATCH_MAX_DATA;
		}
		kv_req(&o, &op->key, op->cond, op->cond_version);
		o.meta.op = op->op;
		if (op->type == WIRE_OBJ_PUT) {
			o.data = op->data;
			o.len = (uint32_t)op->len;
		}
		if (client_batch_add(f->b, op->type, &o) < 0)
			break; /* full (every op fits an empty batch) */
		f->idx[f->k++] = i;
	}
	*next = i;
	return f->k;
}

/* An op failed with code: log a real failure as kv_call() does. */
static void
kv_batch_failed(struct kv_op *op, uint32_t code, const char *msg)
{
	if (code != WIRE_E_NOTFOUND && code != WIRE_E_CONFLICT)
		log_warnx("%s in a batch: %s", wire_type_name(op->type), msg);
	op->rc = code == WIRE_E_OK ? -EIO : -kv_errno(code);
}

/*
 * Take the results of a frame that came back; true when some op wants to
 * be tried again after a pause (the overlay is recovering).
 */
static bool
kv_batch_take(struct kv_frame *f, struct kv_op *ops, bool recovering)
{
	bool again = false;

	for (size_t i = 0; i < f->k; i++) {
		struct kv_op *op = &ops[f->idx[i]];
		struct wire_obj r;
		const char *msg;
		uint32_t code = client_batch_result(f->b, i, &r, &msg);

		if (code == WIRE_E_OK) {
			op->rc = 0;
			op->version = r.meta.version;
			if (op->type == WIRE_OBJ_GET) {
				op->v.buf = xmalloc(r.len ? r.len : 1);
				memcpy(op->v.buf, r.data, r.len);
				op->v.data = op->v.buf;
				op->v.len = r.len;
				op->v.version = r.meta.version;
			}
		} else if (kv_transient(code) && recovering) {
			again = true; /* stays pending, same op id */
		} else if (code == WIRE_E_TOOBIG && op->type == WIRE_OBJ_GET) {
			op->rc = KV_OP_ALONE;
		} else
			kv_batch_failed(op, code, msg);
	}
	return again;
}

/*
 * Wait for frame f and take its outcome.  Returns 0, 1 when its ops (or
 * some) should go again after a pause, 2 when the connection broke (its
 * ops stay pending).
 */
static int
kv_batch_wait(struct kv_frame *f, struct kv_op *ops, bool recovering)
{
	uint32_t code;

	if (client_batch_wait(f->b, f->r) == 0)
		return kv_batch_take(f, ops, recovering) ? 1 : 0;
	code = client_batch_error_code(f->b);
	if (client_batch_broken(f->b)) {
		log_debug("OBJ_BATCH: %s", client_batch_error(f->b));
		return 2;
	}
	if (kv_transient(code) && recovering) {
		log_debug("OBJ_BATCH: %s; retrying", client_batch_error(f->b));
		return 1;
	}
	log_warnx("OBJ_BATCH of %zu: %s", f->k, client_batch_error(f->b));
	for (size_t i = 0; i < f->k; i++)
		ops[f->idx[i]].rc = code == WIRE_E_OK ? -EIO :
		    -kv_errno(code);
	return 0;
}

/*
 * One round: the pending ops go out in up to KV_BATCH_PIPE frames at once
 * on one connection, and every frame is waited for.  Returns 0 when it
 * went through (or broke: resend at once), 1 to send again after a pause
 * (recovering), -1 when the daemons are unreachable.
 */
static int
kv_batch_round(struct kv *kv, struct kv_frame *fr, struct kv_op *ops,
    size_t n, const struct timespec *t0, int *lost, int waits)
{
	bool recovering = kv_us_since(t0) < KV_RECOVER_MS * 1000ULL;
	bool broken = false, again = false;
	size_t next = 0;
	struct kv_conn *s;
	char err[512];
	int nf = 0, rc;

	if ((s = kv_acquire(kv, err, sizeof err)) == NULL)
		return -1;
	while (nf < KV_BATCH_PIPE && kv_batch_fill(&fr[nf], ops, n,
	    &next) > 0) {
		fr[nf].r = client_batch_send(fr[nf].b, s->m, kv->timeout_ms);
		kv_count(kv, &kv->st.batches);
		nf++;
	}
	for (int i = 0; i < nf; i++) {
		rc = kv_batch_wait(&fr[i], ops, recovering);
		client_req_free(fr[i].r);
		fr[i].r = NULL;
		broken |= rc == 2;
		again |= rc == 1;
	}
	/* Every other pause, try another daemon (as kv_call()). */
	kv_release(kv, s, broken, !broken && again && kv->nspecs > 1 &&
	    waits % 2 == 0);
	if (broken) {
		if (++*lost > kv->nspecs)
			return -1;
		kv_count(kv, &kv->st.retries);
		return 0;
	}
	return again ? 1 : 0;
}

/* Count each op's outcome as kv_get/put/del do. */
static void
kv_batch_account(struct kv *kv, const struct kv_op *ops, size_t n,
    const struct timespec *t0)
{
	for (size_t i = 0; i < n; i++) {
		const struct kv_op *op = &ops[i];

		if (op->type == WIRE_OBJ_GET)
			kv_account(kv, &kv->st.gets, &kv->st.get_us, t0, op->rc,
			    op->rc == 0 ? op->v.len : 0, 0);
		else if (op->type == WIRE_OBJ_PUT)
			kv_account(kv, &kv->st.puts, &kv->st.put_us, t0, op->rc,
			    0, op->len);
		else
			kv_account(kv, &kv->st.dels, &kv->st.del_us, t0, op->rc,
			    0, 0);
	}
}

/* True while some op is pending. */
static bool
kv_batch_pending(const struct kv_op *ops, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (ops[i].rc == KV_OP_PENDING)
			return true;
	return false;
}

/* Several GET/PUT/DEL in few requests (see kv.h). */
int
kv_batch(struct kv *kv, struct kv_op *ops, size_t n)
{
	struct kv_frame *fr = xcalloc(KV_BATCH_PIPE, sizeof *fr);
	struct timespec t0;
	int lost = 0, waits = 0, rc = 0, round;

	kv_now(&t0);
	for (int i = 0; i < KV_BATCH_PIPE; i++)
		fr[i].b = client_batch_new();
	for (size_t i = 0; i < n; i++)
		kv_batch_prepare(kv, &ops[i]);
	while (kv_batch_pending(ops, n)) {
		round = kv_batch_round(kv, fr, ops, n, &t0, &lost, waits);
		if (round == -1)
			break;
		if (round == 1) {
			kv_sleep_ms(waits < 5 ? 50 << waits : 1000);
			waits++;
			kv_count(kv, &kv->st.retries);
		}
	}
	for (size_t i = 0; i < n; i++) {
		struct kv_op *op = &ops[i];

		if (op->rc == KV_OP_PENDING)
			op->rc = -EIO;	/* no daemon reachable */
		else if (op->rc == KV_OP_ALONE)
			op->rc = kv_get_one(kv, &op->key, NULL, &op->v);
		if (op->rc == 0 && op->type == WIRE_OBJ_GET)
			op->version = op->v.version;
		if (op->rc != 0 && rc == 0)
			rc = op->rc;
	}
	kv_batch_account(kv, ops, n, &t0);
	for (int i = 0; i < KV_BATCH_PIPE; i++)
		client_batch_free(fr[i].b);
	free(fr);
	return rc;
}

/* Decode a STATFS body (exactly 32 bytes). */
static int
kv_statfs_decode(const uint8_t *p, size_t len, struct kv_statfs *st)
{
	struct rbuf r;

	rbuf_init(&r, p, len);
	st->capacity = rbuf_get_u64(&r);
	st->used = rbuf_get_u64(&r);
	st->avail = rbuf_get_u64(&r);
	st->nodes = rbuf_get_u32(&r);
	st->k = rbuf_get_u32(&r);
	return r.err || rbuf_left(&r) != 0 ? -1 : 0;
}

/* STATFS_REQ, with one retry on a fresh connection. */
int
kv_statfs(struct kv *kv, struct kv_statfs *st)
{
	struct wire_header h;
	uint8_t *body = NULL;
	size_t len = 0;
	char err[512];
	int rc, attempt = 0;

	for (;;) {
		struct kv_conn *s = kv_acquire(kv, err, sizeof err);
		struct client_req *r;
		bool broken;

		if (s == NULL)
			return -EIO;
		r = client_mux_send(s->m, WIRE_STATFS_REQ, 0, NULL, 0,
		    kv->timeout_ms);
		rc = client_req_wait(r, &h, &body, &len);
		broken = rc == -1 && client_req_broken(r);
		client_req_free(r);
		kv_release(kv, s, broken, false);
		if (rc == 0)
			break;
		if (++attempt == 2)
			return -EIO;
	}
	if (h.type == WIRE_STATFS && kv_statfs_decode(body, len, st) == 0)
		rc = 0;
	else if (h.type == WIRE_ERROR)
		rc = -ENOSYS; /* a daemon without STATFS */
	else {
		log_warnx("malformed STATFS reply (%zu bytes)", len);
		rc = -EIO;
	}
	free(body);
	return rc;
}

/* Copy the counters. */
void
kv_get_stats(struct kv *kv, struct kv_stats *st)
{
	pthread_mutex_lock(&kv->mu);
	*st = kv->st;
	pthread_mutex_unlock(&kv->mu);
}
