/*
 * test_lease.c: the rename lease (fs/lease.c) against a fake store.
 *
 * The store is one versioned object held here: kv_get() and kv_put()
 * below stand in for fs/kv.c (the archive's kv.o is then never linked),
 * with compare-and-swap on the version, "if absent", and counters.
 *
 * Checks: a first acquire is a read and a CAS, a later one on a quiet
 * filesystem one CAS, a release one CAS that frees the record; a lease
 * held by another mount makes acquire fail with EIO after io_timeout,
 * and is taken over once its version stayed the same for its lease_ms
 * (counted across calls); a record naming us (a write of unknown
 * outcome) is taken as free; lease_check() renews after half the lease,
 * and reports EIO when the lease was taken over; a release that lost
 * the lease leaves the mount able to acquire again.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../fs/fs.h"
#include "../../fs/kv.h"
#include "../../fs/lease.h"

/* The fake store: one object (the lease's is the only key used). */
static uint8_t obj[64];
static size_t obj_len;		/* 0: absent */
static uint64_t obj_ver, clock_ver = 100;
static int ngets, nputs;

int
kv_get(struct kv *kv, const struct hash_key *k, struct kv_value *v)
{
	(void)kv;
	(void)k;
	ngets++;
	if (obj_len == 0)
		return -ENOENT;
	v->buf = malloc(obj_len);
	memcpy(v->buf, obj, obj_len);
	v->data = v->buf;
	v->len = obj_len;
	v->version = obj_ver;
	return 0;
}

void
kv_value_free(struct kv_value *v)
{
	free(v->buf);
	v->buf = NULL;
}

int
kv_put(struct kv *kv, const struct hash_key *k, const void *data,
    size_t len, int cond, uint64_t cond_version, uint64_t *version)
{
	(void)kv;
	(void)k;
	nputs++;
	if ((cond == WIRE_COND_ABSENT && obj_len != 0) ||
	    (cond == WIRE_COND_VERSION && (obj_len == 0 ||
	    obj_ver != cond_version)))
		return -KV_ECONFLICT;
	memcpy(obj, data, len);
	obj_len = len;
	obj_ver = ++clock_ver;
	if (version != NULL)
		*version = obj_ver;
	return 0;
}

/* Store a record as another mount would write it. */
static void
put_record(uint64_t holder, uint32_t ms)
{
	obj[0] = LEASE_VERSION;
	for (int i = 0; i < 8; i++)
		obj[1 + i] = (uint8_t)(holder >> (8 * i));
	for (int i = 0; i < 4; i++)
		obj[9 + i] = (uint8_t)(ms >> (8 * i));
	obj_len = 13;
	obj_ver = ++clock_ver;
}

/* The holder in the stored record. */
static uint64_t
holder(void)
{
	uint64_t h = 0;

	for (int i = 0; i < 8; i++)
		h |= (uint64_t)obj[1 + i] << (8 * i);
	return h;
}

static struct fs fs;

static int
setup(void **state)
{
	(void)state;
	memset(&fs, 0, sizeof fs);
	fs.o.timeout_ms = 300;
	fs.lease = lease_new(LEASE_MS);
	obj_len = 0;
	ngets = nputs = 0;
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	lease_free(fs.lease);
	return 0;
}

static void
test_quiet(void **state)
{
	struct lease_hold h;
	uint64_t me;

	(void)state;
	assert_int_equal(lease_acquire(&fs, &h), 0);
	assert_int_equal(ngets, 1);
	assert_int_equal(nputs, 1);
	me = holder();
	assert_true(me != 0);
	assert_int_equal(h.version, obj_ver);
	assert_int_equal(lease_check(&fs, &h), 0);
	assert_int_equal(nputs, 1);	/* young: no renewal */
	lease_release(&fs, &h);
	assert_int_equal(holder(), 0);
	assert_int_equal(nputs, 2);
	/* Next time: one CAS from the version we freed, no read. */
	assert_int_equal(lease_acquire(&fs, &h), 0);
	assert_int_equal(ngets, 1);
	assert_int_equal(nputs, 3);
	assert_int_equal(holder(), me);
	lease_release(&fs, &h);
}

static void
test_held_elsewhere(void **state)
{
	struct lease_hold h;

	(void)state;
	put_record(42, LEASE_MS);
	assert_int_equal(lease_acquire(&fs, &h), -EIO);
	assert_int_equal(holder(), 42);
	/*
	 * Its version unchanged for lease_ms (here 200 ms): ours, even
	 * when each call waits less than that (150 ms): the first sight
	 * counts across calls.
	 */
	put_record(43, 200);
	fs.o.timeout_ms = 150;
	assert_int_equal(lease_acquire(&fs, &h), -EIO);
	assert_int_equal(holder(), 43);
	assert_int_equal(lease_acquire(&fs, &h), 0);
	assert_true(holder() != 43 && holder() != 0);
	lease_release(&fs, &h);
}

static void
test_ours_unknown(void **state)
{
	struct lease_hold h;
	uint64_t me;

	(void)state;
	assert_int_equal(lease_acquire(&fs, &h), 0);
	me = holder();
	lease_release(&fs, &h);
	put_record(me, LEASE_MS);	/* a write whose answer was lost */
	assert_int_equal(lease_acquire(&fs, &h), 0);
	assert_int_equal(holder(), me);
	lease_release(&fs, &h);
}

static void
test_renew_and_lose(void **state)
{
	struct lease_hold h;
	uint64_t v;

	(void)state;
	assert_int_equal(lease_acquire(&fs, &h), 0);
	v = h.version;
	h.at.tv_sec -= LEASE_MS / 1000;	/* pretend it is old */
	assert_int_equal(lease_check(&fs, &h), 0);
	assert_true(h.version > v);
	assert_int_equal(obj_ver, h.version);
	h.at.tv_sec -= LEASE_MS / 1000;
	put_record(77, LEASE_MS);	/* taken over meanwhile */
	assert_int_equal(lease_check(&fs, &h), -EIO);
	lease_release(&fs, &h);		/* loses: logs, unlocks */
	assert_int_equal(holder(), 77);
	obj_len = 0;
	assert_int_equal(lease_acquire(&fs, &h), 0);
	lease_release(&fs, &h);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_quiet, setup, teardown),
		cmocka_unit_test_setup_teardown(test_held_elsewhere, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_ours_unknown, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_renew_and_lose, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
