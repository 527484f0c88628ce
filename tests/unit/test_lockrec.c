/*
 * test_lockrec.c: lock records and the rules of locking (fs/lockrec.c).
 *
 * Checks: the codec round-trips and refuses every truncation, a wrong
 * version, bad kinds, types and ranges, and trailing bytes; conflicts
 * need another holder, the same kind, an overlap and a write lock, and
 * ignore expired entries; applying a lock splits, replaces and merges
 * the holder's own ranges as POSIX does (an unlock in the middle splits,
 * a lock of another type replaces just its range, adjacent ranges of one
 * type merge); dropping an owner, renewing a mount's leases, and the
 * record's cap.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../../fs/lockrec.h"

static struct lockrec_req
req(uint64_t mount, uint64_t owner, int kind, int type, uint64_t s,
    uint64_t e)
{
	struct lockrec_req q = { .mount = mount, .owner = owner, .pid = 42,
	    .kind = (uint8_t)kind, .type = (uint8_t)type, .start = s,
	    .end = e };

	return q;
}

/* The holder's entries of one type, sorted by start, as "s-e,s-e". */
static void
ranges(const struct lockrec *r, uint64_t mount, uint64_t owner, int type,
    char *out, size_t outlen)
{
	uint64_t from = 0;
	size_t o = 0;

	out[0] = '\0';
	for (;;) {
		const struct lockrec_entry *best = NULL;

		for (size_t i = 0; i < r->n; i++) {
			const struct lockrec_entry *e = &r->e[i];

			if (e->mount == mount && e->owner == owner &&
			    e->type == type && e->start >= from &&
			    (best == NULL || e->start < best->start))
				best = e;
		}
		if (best == NULL)
			return;
		o += (size_t)snprintf(out + o, outlen - o, "%s%llu-%llu",
		    o ? "," : "", (unsigned long long)best->start,
		    best->end == LOCKREC_EOF ? 0ULL :
		    (unsigned long long)best->end);
		from = best->start + 1;
	}
}

static void
test_codec(void **state)
{
	struct lockrec r, d;
	struct lockrec_req q = req(1, 2, LOCKREC_POSIX, LOCKREC_WRITE, 0, 9);
	struct wbuf w;

	(void)state;
	lockrec_init(&r);
	assert_int_equal(lockrec_apply(&r, &q, 0, 1000), 0);
	q = req(3, 4, LOCKREC_FLOCK, LOCKREC_READ, 0, LOCKREC_EOF);
	assert_int_equal(lockrec_apply(&r, &q, 0, 2000), 0);
	wbuf_init(&w);
	lockrec_encode(&w, &r);
	assert_int_equal(lockrec_decode(w.p, w.len, &d), 0);
	assert_int_equal(d.n, 2);
	assert_memory_equal(d.e, r.e, 2 * sizeof *d.e);
	lockrec_free(&d);
	for (size_t cut = 0; cut < w.len; cut++) {
		assert_int_equal(lockrec_decode(w.p, cut, &d), -1);
		assert_null(d.e);
	}
	wbuf_put_u8(&w, 0);	/* trailing byte */
	assert_int_equal(lockrec_decode(w.p, w.len, &d), -1);
	w.len--;
	w.p[0] = 9;		/* version */
	assert_int_equal(lockrec_decode(w.p, w.len, &d), -1);
	w.p[0] = LOCKREC_VERSION;
	w.p[3 + 20] = 3;	/* first entry's kind */
	assert_int_equal(lockrec_decode(w.p, w.len, &d), -1);
	w.p[3 + 20] = LOCKREC_POSIX;
	w.p[3 + 21] = LOCKREC_UNLOCK; /* an unlock is no entry */
	assert_int_equal(lockrec_decode(w.p, w.len, &d), -1);
	w.p[3 + 21] = LOCKREC_WRITE;
	w.p[3 + 22] = 10;	/* start 10 > end 9 */
	assert_int_equal(lockrec_decode(w.p, w.len, &d), -1);
	w.p[3 + 22] = 0;
	assert_int_equal(lockrec_decode(w.p, w.len, &d), 0);
	lockrec_free(&d);
	wbuf_free(&w);
	lockrec_free(&r);
}

static void
test_conflict(void **state)
{
	struct lockrec r;
	struct lockrec_req a = req(1, 1, LOCKREC_POSIX, LOCKREC_READ, 0, 99);
	struct lockrec_req b;

	(void)state;
	lockrec_init(&r);
	assert_int_equal(lockrec_apply(&r, &a, 0, 1000), 0);
	b = req(2, 1, LOCKREC_POSIX, LOCKREC_READ, 50, 60);
	assert_null(lockrec_conflict(&r, &b, 10));	/* both read */
	b.type = LOCKREC_WRITE;
	assert_non_null(lockrec_conflict(&r, &b, 10));
	assert_null(lockrec_conflict(&r, &b, 1000));	/* expired */
	b.start = 100;
	b.end = 200;
	assert_null(lockrec_conflict(&r, &b, 10));	/* no overlap */
	b = req(1, 2, LOCKREC_POSIX, LOCKREC_WRITE, 0, 0);
	assert_non_null(lockrec_conflict(&r, &b, 10));	/* other owner */
	b = req(1, 1, LOCKREC_POSIX, LOCKREC_WRITE, 0, 0);
	assert_null(lockrec_conflict(&r, &b, 10));	/* its own */
	b = req(2, 1, LOCKREC_FLOCK, LOCKREC_WRITE, 0, LOCKREC_EOF);
	assert_null(lockrec_conflict(&r, &b, 10));	/* flock vs fcntl */
	lockrec_free(&r);
}

static void
test_posix_ranges(void **state)
{
	struct lockrec r;
	struct lockrec_req q;
	char buf[128];

	(void)state;
	lockrec_init(&r);
	q = req(1, 1, LOCKREC_POSIX, LOCKREC_WRITE, 0, LOCKREC_EOF);
	assert_int_equal(lockrec_apply(&r, &q, 0, 100), 0);
	/* unlock in the middle: two pieces */
	q = req(1, 1, LOCKREC_POSIX, LOCKREC_UNLOCK, 10, 19);
	assert_int_equal(lockrec_apply(&r, &q, 0, 100), 0);
	ranges(&r, 1, 1, LOCKREC_WRITE, buf, sizeof buf);
	assert_string_equal(buf, "0-9,20-0");
	/* a read lock over part of both: replaces just that range */
	q = req(1, 1, LOCKREC_POSIX, LOCKREC_READ, 5, 24);
	assert_int_equal(lockrec_apply(&r, &q, 0, 100), 0);
	ranges(&r, 1, 1, LOCKREC_WRITE, buf, sizeof buf);
	assert_string_equal(buf, "0-4,25-0");
	ranges(&r, 1, 1, LOCKREC_READ, buf, sizeof buf);
	assert_string_equal(buf, "5-24");
	/* adjacent ranges of one type merge */
	q = req(1, 1, LOCKREC_POSIX, LOCKREC_WRITE, 5, 24);
	assert_int_equal(lockrec_apply(&r, &q, 0, 100), 0);
	ranges(&r, 1, 1, LOCKREC_WRITE, buf, sizeof buf);
	assert_string_equal(buf, "0-0");
	assert_int_equal(r.n, 1);
	/* another owner's entries are untouched; expired ones go */
	q = req(1, 2, LOCKREC_POSIX, LOCKREC_READ, 0, 0);
	assert_int_equal(lockrec_apply(&r, &q, 0, 100), 0);
	assert_int_equal(r.n, 2);
	q = req(2, 1, LOCKREC_POSIX, LOCKREC_READ, 0, 0);
	assert_int_equal(lockrec_apply(&r, &q, 100, 300), 0);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.e[0].mount, 2);
	lockrec_free(&r);
}

static void
test_owner_lease_cap(void **state)
{
	struct lockrec r;
	struct lockrec_req q;

	(void)state;
	lockrec_init(&r);
	q = req(1, 1, LOCKREC_POSIX, LOCKREC_WRITE, 0, 9);
	assert_int_equal(lockrec_apply(&r, &q, 0, 100), 0);
	q = req(1, 1, LOCKREC_FLOCK, LOCKREC_WRITE, 0, LOCKREC_EOF);
	assert_int_equal(lockrec_apply(&r, &q, 0, 100), 0);
	q = req(1, 2, LOCKREC_POSIX, LOCKREC_WRITE, 20, 29);
	assert_int_equal(lockrec_apply(&r, &q, 0, 100), 0);
	assert_true(lockrec_drop_owner(&r, 1, 1, LOCKREC_POSIX));
	assert_false(lockrec_drop_owner(&r, 1, 1, LOCKREC_POSIX));
	assert_int_equal(r.n, 2);
	assert_true(lockrec_holds(&r, 1, 50));
	assert_false(lockrec_holds(&r, 1, 100));
	assert_true(lockrec_renew(&r, 1, 500));
	assert_true(lockrec_holds(&r, 1, 400));
	assert_false(lockrec_renew(&r, 9, 500));
	lockrec_free(&r);
	/* the cap: every entry a different owner */
	lockrec_init(&r);
	for (uint64_t i = 0; i < LOCKREC_MAX - 1; i++) {
		q = req(1, i, LOCKREC_POSIX, LOCKREC_READ, 0, 0);
		assert_int_equal(lockrec_apply(&r, &q, 0, 100), 0);
	}
	q = req(1, LOCKREC_MAX, LOCKREC_POSIX, LOCKREC_READ, 0, 0);
	assert_int_equal(lockrec_apply(&r, &q, 0, 100), -1);
	/* an unlock still fits at the cap */
	q = req(1, 0, LOCKREC_POSIX, LOCKREC_UNLOCK, 0, 0);
	assert_int_equal(lockrec_apply(&r, &q, 0, 100), 0);
	assert_int_equal(r.n, LOCKREC_MAX - 2);
	lockrec_free(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_codec),
		cmocka_unit_test(test_conflict),
		cmocka_unit_test(test_posix_ranges),
		cmocka_unit_test(test_owner_lease_cap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
