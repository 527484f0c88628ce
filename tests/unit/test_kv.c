/*
 * test_kv.c: kv_batch() (fs/kv.c) against a fake daemon, and the bound on
 * a caller's wait for room to send.
 *
 * The fake serves a Unix socket from a thread: STATUS_REQ (an active
 * node, as kv_open() checks), single OBJ_GETs, and OBJ_BATCH requests
 * over a small in-memory store keyed by key.lo.  It can misbehave once
 * per test: answer a whole batch UNAVAIL, answer each write item UNAVAIL,
 * or hang up on a batch without answering; or leave every single GET
 * unanswered (mute), as a daemon that hangs.  It records every write's op
 * id, so the tests can check that a retry sends the very same ids, and
 * answers a retried write whose id it has applied with its first version
 * (as the real store does).
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../fs/kv.h"
#include "usock.h"
#include "wire.h"

#define FK_KEYS 2048		/* keys 0..FK_KEYS-1 */
#define FK_BIG 1000		/* GETs of keys >= this: TOOBIG in batches */

enum fk_trouble {
	FK_NONE,
	FK_BATCH_UNAVAIL,	/* the next batch: one ERROR UNAVAIL for all */
	FK_ITEM_UNAVAIL,	/* the next batch: every write item UNAVAIL */
	FK_HANGUP,		/* the next batch: close without answering */
};

/* One stored object of the fake. */
struct fk_obj {
	bool present;
	uint64_t version;
	uint64_t op_seq;	/* the write that made it */
	uint8_t data[64];
	uint32_t len;
};

struct fk {
	char dir[64], path[100], spec[160];
	int lfd;
	atomic_int stop;
	pthread_t thread;
	pthread_mutex_t mu;
	enum fk_trouble trouble;	/* applied once, then FK_NONE */
	bool mute;			/* single GETs get no answer */
	struct fk_obj obj[FK_KEYS];
	uint64_t clock;
	int batches, singles;		/* requests seen */
	uint64_t seen_seq[FK_KEYS];	/* last op id seq sent for a key */
	uint64_t seen_client[FK_KEYS];
	int sends[FK_KEYS];		/* writes of a key received */
};

/* Send a frame whose body is in w (w->len bytes after the header). */
static void
fk_send(int fd, struct wbuf *w)
{
	wire_frame_end(w);
	usock_write(fd, w->p, w->len);
	wbuf_free(w);
}

/* STATUS: an active node (flags 1) owning the low half. */
static void
fk_status(int fd, uint64_t reqid)
{
	struct wire_membership m;
	struct wbuf w;

	memset(&m, 0, sizeof m);
	m.dims = 2;
	m.flags = 1;
	m.self.id = 7;
	snprintf(m.self.addr, sizeof m.self.addr, "127.0.0.1:1");
	m.self.nzones = 1;
	m.self.zones[0].bits[0] = 31;
	m.self.zones[0].bits[1] = 32;
	wbuf_init(&w);
	wire_frame_begin(&w, WIRE_STATUS, 3, reqid);
	wire_membership_encode(&w, &m);
	fk_send(fd, &w);
}

/* The fake store's answer to one GET/PUT/DEL (f->mu held). */
static void
fk_apply(struct fk *f, uint16_t type, const struct wire_obj *o, bool batch,
    struct wire_batch_item *out)
{
	uint64_t k = o->key.lo;
	struct fk_obj *ob = &f->obj[k % FK_KEYS];

	memset(out, 0, sizeof *out);
	out->o.key = o->key;
	if (type != WIRE_OBJ_GET) {
		f->seen_seq[k % FK_KEYS] = o->meta.op.seq;
		f->seen_client[k % FK_KEYS] = o->meta.op.client;
		f->sends[k % FK_KEYS]++;
	}
	if (type == WIRE_OBJ_GET) {
		if (batch && k >= FK_BIG) {
			out->type = WIRE_ERROR;
			out->code = WIRE_E_TOOBIG;
			snprintf(out->msg, sizeof out->msg, "the batch reply "
			    "is full");
		} else if (!ob->present) {
			out->type = WIRE_ERROR;
			out->code = WIRE_E_NOTFOUND;
		} else {
			out->type = WIRE_OBJ_VALUE;
			out->o.meta.version = ob->version;
			out->o.data = ob->data;
			out->o.len = ob->len;
		}
		return;
	}
	out->type = WIRE_OBJ_DONE;
	if (ob->op_seq == o->meta.op.seq && ob->version != 0) {
		out->o.meta.version = ob->version; /* a retry: as before */
		return;
	}
	if ((o->cond == WIRE_COND_ABSENT && ob->present) ||
	    (o->cond == WIRE_COND_VERSION && ob->version != o->cond_version)) {
		out->type = WIRE_ERROR;
		out->code = WIRE_E_CONFLICT;
		return;
	}
	ob->present = type == WIRE_OBJ_PUT;
	ob->version = ++f->clock;
	ob->op_seq = o->meta.op.seq;
	ob->len = o->len < sizeof ob->data ? o->len : sizeof ob->data;
	memcpy(ob->data, o->data, ob->len);
	out->o.meta.version = ob->version;
}

/* Answer a batch (f->mu held).  -1: hang up. */
static int
fk_batch(struct fk *f, int fd, uint64_t reqid, const uint8_t *body,
    size_t len)
{
	enum fk_trouble t = f->trouble;
	struct wire_batch req, rep;
	struct wbuf w;

	assert_int_equal(wire_batch_decode(body, len, &req), 0);
	f->batches++;
	f->trouble = FK_NONE;
	wbuf_init(&w);
	if (t == FK_HANGUP) {
		/* Writes were "seen" (their ids recorded), not applied. */
		for (uint32_t i = 0; i < req.n; i++)
			if (req.items[i].type != WIRE_OBJ_GET)
				f->seen_seq[req.items[i].o.key.lo % FK_KEYS] =
				    req.items[i].o.meta.op.seq;
		wire_batch_free(&req);
		return -1;
	}
	if (t == FK_BATCH_UNAVAIL) {
		wire_frame_begin(&w, WIRE_ERROR, 0, reqid);
		wire_error_encode(&w, WIRE_E_UNAVAIL, "recovering");
		fk_send(fd, &w);
		wire_batch_free(&req);
		return 0;
	}
	rep.n = req.n;
	rep.items = calloc(req.n, sizeof *rep.items);
	assert_non_null(rep.items);
	for (uint32_t i = 0; i < req.n; i++) {
		if (t == FK_ITEM_UNAVAIL && req.items[i].type != WIRE_OBJ_GET) {
			rep.items[i].type = WIRE_ERROR;
			rep.items[i].code = WIRE_E_UNAVAIL;
			f->seen_seq[req.items[i].o.key.lo % FK_KEYS] =
			    req.items[i].o.meta.op.seq;
			continue;
		}
		fk_apply(f, req.items[i].type, &req.items[i].o, true,
		    &rep.items[i]);
	}
	wire_frame_begin(&w, WIRE_OBJ_BATCH_REPLY, 0, reqid);
	wire_batch_encode(&w, &rep);
	fk_send(fd, &w);
	free(rep.items);
	wire_batch_free(&req);
	return 0;
}

/* Answer one frame (f->mu held).  -1: hang up. */
static int
fk_frame(struct fk *f, int fd, const struct wire_header *h,
    const uint8_t *body)
{
	struct wire_batch_item out;
	struct wire_obj o;
	struct wbuf w;

	if (h->type == WIRE_STATUS_REQ) {
		fk_status(fd, h->reqid);
		return 0;
	}
	if (h->type == WIRE_OBJ_BATCH)
		return fk_batch(f, fd, h->reqid, body, h->len);
	if (wire_obj_decode(body, h->len, &o) != 0)
		return -1;
	f->singles++;
	if (f->mute && h->type == WIRE_OBJ_GET)
		return 0;
	fk_apply(f, h->type, &o, false, &out);
	wbuf_init(&w);
	if (out.type == WIRE_ERROR) {
		wire_frame_begin(&w, WIRE_ERROR, 0, h->reqid);
		wire_error_encode(&w, out.code, out.msg);
	} else {
		wire_frame_begin(&w, out.type, 0, h->reqid);
		wire_obj_encode(&w, &out.o);
	}
	fk_send(fd, &w);
	return 0;
}

/* Serve one connection until EOF or a hangup. */
static void
fk_serve(struct fk *f, int fd)
{
	uint8_t raw[WIRE_HEADER_LEN], *body;
	struct wire_header h;
	const char *why;
	int rc;

	while (usock_read(fd, raw, sizeof raw) == 0) {
		if (wire_header_decode(raw, &h, &why) == -1)
			return;
		body = malloc(h.len ? h.len : 1);
		if (body == NULL || usock_read(fd, body, h.len) == -1) {
			free(body);
			return;
		}
		pthread_mutex_lock(&f->mu);
		rc = fk_frame(f, fd, &h, body);
		pthread_mutex_unlock(&f->mu);
		free(body);
		if (rc == -1)
			return;
	}
}

/* The fake's thread: serve connections one after another. */
static void *
fk_main(void *arg)
{
	struct fk *f = arg;
	struct pollfd pfd = { .fd = f->lfd, .events = POLLIN };

	while (!f->stop) {
		int fd;

		if (poll(&pfd, 1, 20) <= 0)
			continue;
		if ((fd = accept(f->lfd, NULL, NULL)) == -1)
			continue;
		fk_serve(f, fd);
		close(fd);
	}
	return NULL;
}

/* Start the fake (one connection at a time: kv_open(.., 1, ..)). */
static struct fk *
fk_start(void)
{
	struct fk *f = calloc(1, sizeof *f);

	assert_non_null(f);
	snprintf(f->dir, sizeof f->dir, "/tmp/test_kv.XXXXXX");
	f->lfd = usock_listen(f->dir, f->path, sizeof f->path, "d.sock");
	snprintf(f->spec, sizeof f->spec, "unix:%s", f->path);
	pthread_mutex_init(&f->mu, NULL);
	assert_int_equal(pthread_create(&f->thread, NULL, fk_main, f), 0);
	return f;
}

static void
fk_stop(struct fk *f)
{
	f->stop = 1;
	pthread_join(f->thread, NULL);
	close(f->lfd);
	unlink(f->path);
	rmdir(f->dir);
	pthread_mutex_destroy(&f->mu);
	free(f);
}

/* A kv on the fake, one request in flight (one connection). */
static struct kv *
fk_kv(struct fk *f)
{
	char err[256];
	struct kv *kv = kv_open(f->spec, 1, 5000, err, sizeof err);

	if (kv == NULL)
		fail_msg("kv_open: %s", err);
	return kv;
}

/* An op on key lo. */
static void
op_set(struct kv_op *op, uint16_t type, uint64_t lo, int cond,
    uint64_t cond_version, const char *data)
{
	memset(op, 0, sizeof *op);
	op->type = type;
	op->key.lo = lo;
	op->cond = cond;
	op->cond_version = cond_version;
	if (data != NULL) {
		op->data = data;
		op->len = strlen(data);
	}
}

/* Mixed GET/PUT/DEL; one CAS conflict among successes; reads back. */
static void
test_kv_batch_mixed(void **state)
{
	struct fk *f = fk_start();
	struct kv *kv = fk_kv(f);
	struct kv_op ops[5];
	struct kv_stats st;

	(void)state;
	op_set(&ops[0], WIRE_OBJ_PUT, 1, WIRE_COND_NONE, 0, "one");
	op_set(&ops[1], WIRE_OBJ_PUT, 2, WIRE_COND_ABSENT, 0, "two");
	op_set(&ops[2], WIRE_OBJ_PUT, 3, WIRE_COND_NONE, 0, "three");
	assert_int_equal(kv_batch(kv, ops, 3), 0);
	for (int i = 0; i < 3; i++)
		assert_true(ops[i].rc == 0 && ops[i].version > 0);
	/* Distinct op ids, all of this kv. */
	assert_true(ops[0].op.client != 0 &&
	    ops[0].op.client == ops[1].op.client);
	assert_true(ops[0].op.seq != ops[1].op.seq &&
	    ops[1].op.seq != ops[2].op.seq);

	op_set(&ops[0], WIRE_OBJ_GET, 1, 0, 0, NULL);
	op_set(&ops[1], WIRE_OBJ_PUT, 2, WIRE_COND_ABSENT, 0, "again");
	op_set(&ops[2], WIRE_OBJ_DEL, 3, WIRE_COND_NONE, 0, NULL);
	op_set(&ops[3], WIRE_OBJ_GET, 4, 0, 0, NULL);
	op_set(&ops[4], WIRE_OBJ_PUT, 5, WIRE_COND_NONE, 0, "five");
	/* The first failure is returned; each op has its own outcome. */
	assert_int_equal(kv_batch(kv, ops, 5), -KV_ECONFLICT);
	assert_int_equal(ops[0].rc, 0);
	assert_int_equal(ops[0].v.len, 3);
	assert_memory_equal(ops[0].v.data, "one", 3);
	assert_true(ops[0].version == ops[0].v.version);
	assert_int_equal(ops[1].rc, -KV_ECONFLICT);
	assert_int_equal(ops[2].rc, 0);
	assert_int_equal(ops[3].rc, -ENOENT);
	assert_null(ops[3].v.buf);
	assert_int_equal(ops[4].rc, 0);
	kv_value_free(&ops[0].v);
	assert_int_equal(f->batches, 2);
	assert_int_equal(f->singles, 0);

	/* Too large a value fails alone, before anything is sent. */
	op_set(&ops[0], WIRE_OBJ_GET, 5, 0, 0, NULL);
	op_set(&ops[1], WIRE_OBJ_PUT, 6, WIRE_COND_NONE, 0, NULL);
	ops[1].data = "x";
	ops[1].len = WIRE_MAX_VALUE + 1;
	assert_int_equal(kv_batch(kv, ops, 2), -EFBIG);
	assert_int_equal(ops[0].rc, 0);
	assert_memory_equal(ops[0].v.data, "five", 4);
	kv_value_free(&ops[0].v);
	kv_get_stats(kv, &st);
	assert_true(st.batches == 3 && st.puts >= 5 && st.conflicts == 1);
	kv_close(kv);
	fk_stop(f);
}

/* More ops than one batch holds: several requests, every op done. */
static void
test_kv_batch_many(void **state)
{
	struct fk *f = fk_start();
	struct kv *kv = fk_kv(f);
	size_t n = 3 * WIRE_BATCH_MAX + 17;
	struct kv_op *ops = calloc(n, sizeof *ops);

	(void)state;
	assert_non_null(ops);
	for (size_t i = 0; i < n; i++)
		op_set(&ops[i], WIRE_OBJ_PUT, 10 + i, WIRE_COND_NONE, 0, "v");
	assert_int_equal(kv_batch(kv, ops, n), 0);
	assert_int_equal(f->batches, 4);
	for (size_t i = 0; i < n; i++)
		op_set(&ops[i], WIRE_OBJ_GET, 10 + i, 0, 0, NULL);
	assert_int_equal(kv_batch(kv, ops, n), 0);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(ops[i].rc, 0);
		assert_int_equal(ops[i].v.len, 1);
		kv_value_free(&ops[i].v);
	}
	assert_int_equal(f->batches, 8);
	free(ops);
	kv_close(kv);
	fk_stop(f);
}

/* Put keys lo..lo+n-1 under trouble t; every op must succeed. */
static void
put_through(struct fk *f, struct kv *kv, enum fk_trouble t, uint64_t lo,
    struct kv_op *ops, size_t n)
{
	for (size_t i = 0; i < n; i++)
		op_set(&ops[i], i % 2 ? WIRE_OBJ_PUT : WIRE_OBJ_DEL, lo + i,
		    WIRE_COND_NONE, 0, i % 2 ? "w" : NULL);
	pthread_mutex_lock(&f->mu);
	f->trouble = t;
	pthread_mutex_unlock(&f->mu);
	assert_int_equal(kv_batch(kv, ops, n), 0);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(ops[i].rc, 0);
		/* The last id the daemon saw is the op's: kept by retries. */
		assert_true(f->seen_seq[lo + i] == ops[i].op.seq);
		assert_true(f->seen_client[lo + i] == ops[i].op.client);
		assert_int_equal(f->sends[lo + i], 1);
	}
}

/*
 * Answers that mean "recovering", for the whole batch or for each write,
 * and a connection that breaks: the ops are sent again, with the same op
 * ids, until they land.
 */
static void
test_kv_batch_retries(void **state)
{
	struct fk *f = fk_start();
	struct kv *kv = fk_kv(f);
	struct kv_op ops[8];
	struct kv_stats st;

	(void)state;
	put_through(f, kv, FK_BATCH_UNAVAIL, 100, ops, 8);
	assert_int_equal(f->batches, 2);
	put_through(f, kv, FK_ITEM_UNAVAIL, 200, ops, 8);
	assert_int_equal(f->batches, 4);
	put_through(f, kv, FK_HANGUP, 300, ops, 8);
	assert_int_equal(f->batches, 6);
	kv_get_stats(kv, &st);
	assert_true(st.retries >= 3);
	kv_close(kv);
	fk_stop(f);
}

/* A GET whose value does not fit its batch's reply is read alone. */
static void
test_kv_batch_toobig(void **state)
{
	struct fk *f = fk_start();
	struct kv *kv = fk_kv(f);
	struct kv_op ops[3];

	(void)state;
	op_set(&ops[0], WIRE_OBJ_PUT, FK_BIG + 1, WIRE_COND_NONE, 0, "big");
	op_set(&ops[1], WIRE_OBJ_PUT, 50, WIRE_COND_NONE, 0, "small");
	assert_int_equal(kv_batch(kv, ops, 2), 0);
	op_set(&ops[0], WIRE_OBJ_GET, FK_BIG + 1, 0, 0, NULL);
	op_set(&ops[1], WIRE_OBJ_GET, 50, 0, 0, NULL);
	op_set(&ops[2], WIRE_OBJ_GET, FK_BIG + 2, 0, 0, NULL);
	assert_int_equal(kv_batch(kv, ops, 3), -ENOENT);
	assert_int_equal(ops[0].rc, 0);
	assert_memory_equal(ops[0].v.data, "big", 3);
	assert_int_equal(ops[1].rc, 0);
	assert_memory_equal(ops[1].v.data, "small", 5);
	assert_int_equal(ops[2].rc, -ENOENT);	/* alone: not found */
	assert_int_equal(f->singles, 2);
	kv_value_free(&ops[0].v);
	kv_value_free(&ops[1].v);
	kv_close(kv);
	fk_stop(f);
}

/* GETs with a bound on their values: no more per request than fit. */
static void
test_kv_batch_bounds(void **state)
{
	struct fk *f = fk_start();
	struct kv *kv = fk_kv(f);
	struct kv_op ops[10];

	(void)state;
	for (int i = 0; i < 10; i++) {
		op_set(&ops[i], WIRE_OBJ_GET, 60 + (uint64_t)i, 0, 0, NULL);
		ops[i].len = i < 9 ? 1u << 20 : 0;	/* the last: small */
	}
	assert_int_equal(kv_batch(kv, ops, 10), -ENOENT);
	/* 4 + 4 + 1 and the small one: 3 requests, one round. */
	assert_int_equal(f->batches, 3);
	for (int i = 0; i < 10; i++)
		assert_int_equal(ops[i].rc, -ENOENT);
	kv_close(kv);
	fk_stop(f);
}

/* A kv_get() in a thread of its own. */
struct getter {
	struct kv *kv;
	uint64_t key;
	int rc;
	pthread_t thread;
};

static void *
getter_main(void *arg)
{
	struct getter *g = arg;
	struct hash_key k = { .lo = g->key };
	struct kv_value v;

	g->rc = kv_get(g->kv, &k, &v);
	if (g->rc == 0)
		kv_value_free(&v);
	return NULL;
}

/*
 * A daemon that hangs, and more callers than requests may be in flight:
 * the one in flight fails with EIO at its timeout, and those waiting for
 * room wait no longer than a timeout either (EIO), instead of each
 * taking its turn for a timeout of its own.  So at most one of the
 * waiters gets to send (when the slot frees just before its deadline).
 */
static void
test_kv_acquire_deadline(void **state)
{
	struct fk *f = fk_start();
	struct getter g[4];
	char err[256];
	struct kv *kv = kv_open(f->spec, 1, 1000, err, sizeof err);
	int sent = 0;

	(void)state;
	if (kv == NULL)
		fail_msg("kv_open: %s", err);
	pthread_mutex_lock(&f->mu);
	f->mute = true;
	pthread_mutex_unlock(&f->mu);
	for (int i = 0; i < 4; i++) {
		g[i] = (struct getter){ .kv = kv, .key = 70 + (uint64_t)i };
		assert_int_equal(pthread_create(&g[i].thread, NULL,
		    getter_main, &g[i]), 0);
		/* The first is in flight before the others come. */
		for (int t = 0; i == 0 && t < 500 && sent == 0; t++) {
			usleep(10000);
			pthread_mutex_lock(&f->mu);
			sent = f->singles;
			pthread_mutex_unlock(&f->mu);
		}
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(g[i].thread, NULL);
		assert_int_equal(g[i].rc, -EIO);
	}
	pthread_mutex_lock(&f->mu);
	sent = f->singles;
	pthread_mutex_unlock(&f->mu);
	if (sent > 2)
		fail_msg("%d GETs were sent one after another; want at most 2",
		    sent);
	kv_close(kv);
	fk_stop(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kv_batch_mixed),
		cmocka_unit_test(test_kv_batch_many),
		cmocka_unit_test(test_kv_batch_retries),
		cmocka_unit_test(test_kv_batch_toobig),
		cmocka_unit_test(test_kv_batch_bounds),
		cmocka_unit_test(test_kv_acquire_deadline),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
