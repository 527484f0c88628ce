/*
 * test_wire.c: the frame and body codecs.
 *
 * Three kinds of test: hand-written byte vectors (so the format is pinned
 * by something other than the encoder itself), targeted malformed inputs
 * for every check the decoders make, and mutation passes (every truncation,
 * every single-bit flip) over an example of each body kind.  Run under
 * ASan by `make check-asan`; every decode gets an exactly-sized heap copy
 * so a read one byte past the end is caught.
 *
 * Link-time seam: this file provides the xmalloc.h functions itself, so the
 * archive's xmalloc.o is never linked in and the tests can count the
 * allocations the decoders make.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"
#include "wire_stats.h"
#include "xmalloc.h"

/* Allocation seam: counts xcalloc calls (the decoders' list arrays). */
static unsigned xcalloc_calls;
static size_t xcalloc_last;

void *
xmalloc(size_t size)
{
	void *p = malloc(size ? size : 1);

	if (p == NULL)
		abort();
	return p;
}

void *
xcalloc(size_t nmemb, size_t size)
{
	void *p;

	xcalloc_calls++;
	xcalloc_last = nmemb;
	if (nmemb == 0 || size == 0)
		nmemb = size = 1;
	p = calloc(nmemb, size);
	if (p == NULL)
		abort();
	return p;
}

void *
xreallocarray(void *ptr, size_t nmemb, size_t size)
{
	void *p;

	if (size != 0 && nmemb > SIZE_MAX / size)
		abort();
	p = realloc(ptr, (nmemb && size) ? nmemb * size : 1);
	if (p == NULL)
		abort();
	return p;
}

char *
xstrdup(const char *s)
{
	char *p = strdup(s);

	if (p == NULL)
		abort();
	return p;
}

char *
xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *p;

	va_start(ap, fmt);
	if (vasprintf(&p, fmt, ap) < 0)
		abort();
	va_end(ap);
	return p;
}

/* An exactly-sized heap copy, so ASan sees any over-read. */
static uint8_t *
dup_exact(const uint8_t *p, size_t len)
{
	uint8_t *q = malloc(len ? len : 1);

	assert_non_null(q);
	if (len)
		memcpy(q, p, len);
	return q;
}

/* Zone from (lo, bits) pairs. */
static struct geom_zone
zone2(uint32_t lo0, uint8_t b0, uint32_t lo1, uint8_t b1)
{
	struct geom_zone z;

	memset(&z, 0, sizeof z);
	z.lo[0] = lo0;
	z.bits[0] = b0;
	z.lo[1] = lo1;
	z.bits[1] = b1;
	return z;
}

/*
 * The membership example of the hand-written vector below: two zones for
 * self, an empty other, one list entry.
 */
static void
example_membership(struct wire_membership *m, struct wire_node *list)
{
	memset(m, 0, sizeof *m);
	memset(list, 0, sizeof *list);
	m->dims = 2;
	m->flags = 0x01;
	m->a = 0x0102030405060708ULL;
	m->b = 0x1122334455667788ULL;
	m->self.id = 0x0807060504030201ULL;
	m->self.inc = 0x10;
	m->self.epoch = 7;
	strcpy(m->self.addr, "h:1");
	m->self.nzones = 2;
	m->self.zones[0] = zone2(0, 31, 0, 32);
	m->self.zones[1] = zone2(0x80000000u, 30, 0x40000000u, 30);
	m->n = 1;
	m->list = list;
	list->id = 0xff;
	list->inc = 0x100;
	list->epoch = 0xdeadbeefu;
	strcpy(list->addr, "x");
	list->nzones = 1;
	list->zones[0] = zone2(0xfffffffeu, 1, 0x12345678u, 3);
}

/* The encoding of example_membership(), written out by hand. */
static const uint8_t membership_vec[] = {
	0x02,					/* dims */
	0x01,					/* flags */
	0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, /* a */
	0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, /* b */
	/* self */
	0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, /* id */
	0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* inc */
	0x07, 0x00, 0x00, 0x00,			/* epoch */
	0x03, 0x00, 'h', ':', '1',		/* addr: u16 len, bytes */
	0x02,					/* nzones */
	0x00, 0x00, 0x00, 0x00, 0x1f,		/* zone 0 dim 0: lo 0, 31 */
	0x00, 0x00, 0x00, 0x00, 0x20,		/* zone 0 dim 1: lo 0, 32 */
	0x00, 0x00, 0x00, 0x80, 0x1e,		/* zone 1 dim 0: lo 2^31, 30 */
	0x00, 0x00, 0x00, 0x40, 0x1e,		/* zone 1 dim 1: lo 2^30, 30 */
	/* other: all zero, empty addr, no zones */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* id */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* inc */
	0x00, 0x00, 0x00, 0x00,			/* epoch */
	0x00, 0x00,				/* addr len 0 */
	0x00,					/* nzones */
	0x01, 0x00, 0x00, 0x00,			/* n */
	/* list[0] */
	0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* id */
	0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* inc */
	0xef, 0xbe, 0xad, 0xde,			/* epoch */
	0x01, 0x00, 'x',			/* addr */
	0x01,					/* nzones */
	0xfe, 0xff, 0xff, 0xff, 0x01,		/* dim 0: lo 2^32-2, bits 1 */
	0x78, 0x56, 0x34, 0x12, 0x03,		/* dim 1: lo 0x12345678, 3 */
};

/* Offsets into membership_vec of fields the malformed-input tests patch. */
#define MV_SELF_ADDR 38	   /* u16 length of self.addr */
#define MV_SELF_NZONES 43
#define MV_ZONE1_LO0 54	   /* zone 1, dim 0, lo */
#define MV_ZONE1_BITS0 58
#define MV_OTHER 64
#define MV_N 87
#define MV_LIST 91

/* The routed example: a LOOKUP with a two-byte inner body. */
static void
example_routed(struct wire_routed *rt)
{
	memset(rt, 0, sizeof *rt);
	rt->dims = 3;
	rt->hops = 2;
	rt->inner_type = WIRE_R_LOOKUP;
	rt->target.c[0] = 1;
	rt->target.c[1] = 0x80000000u;
	rt->target.c[2] = 0xffffffffu;
	strcpy(rt->origin, "unix:/s");
	rt->npath = 2;
	rt->path[0] = 0x0102030405060708ULL;
	rt->path[1] = 0x2a;
}

/* A whole ROUTED frame carrying example_routed(), by hand. */
static const uint8_t routed_vec[] = {
	/* header */
	0x43, 0x41, 0x4e, 0x46,			/* magic "CANF" */
	0x04, 0x00,				/* version 4 */
	0x07, 0x01,				/* type 0x0107 ROUTED */
	0x01, 0x00, 0x00, 0x00,			/* flags WIRE_RT_DIRECT */
	0x2d, 0x00, 0x00, 0x00,			/* body length 45 */
	0xee, 0xff, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, /* reqid 0xc0ffee */
	/* envelope */
	0x03,					/* dims */
	0x02,					/* hops */
	0x02, 0x00,				/* inner type WIRE_R_LOOKUP */
	0x01, 0x00, 0x00, 0x00,			/* target[0] = 1 */
	0x00, 0x00, 0x00, 0x80,			/* target[1] = 2^31 */
	0xff, 0xff, 0xff, 0xff,			/* target[2] = 2^32 - 1 */
	0x07, 0x00, 'u', 'n', 'i', 'x', ':', '/', 's', /* origin */
	0x02, 0x00,				/* npath */
	0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, /* path[0] */
	0x2a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* path[1] */
	/* inner body */
	'a', 'b',
};

#define RV_ENVELOPE_LEN 43 /* body bytes before the inner body */

/* Compare two zones over d dimensions. */
static void
assert_zone_equal(const struct geom_zone *a, const struct geom_zone *b,
    int d)
{
	assert_true(geom_zone_equal(a, b, d));
}

/* Compare two nodes field by field. */
static void
assert_node_equal(const struct wire_node *a, const struct wire_node *b,
    int d)
{
	assert_true(a->id == b->id);
	assert_true(a->inc == b->inc);
	assert_int_equal(a->epoch, b->epoch);
	assert_string_equal(a->addr, b->addr);
	assert_int_equal(a->nzones, b->nzones);
	for (int i = 0; i < a->nzones; i++)
		assert_zone_equal(&a->zones[i], &b->zones[i], d);
}

/* Every put, read back; the bytes are little-endian. */
static void
test_wbuf_rbuf_roundtrip(void **state)
{
	static const uint8_t want[] = {
		0xab,				/* u8 */
		0x34, 0x12,			/* u16 */
		0x78, 0x56, 0x34, 0x12,		/* u32 */
		0xef, 0xcd, 0xab, 0x89, 0x67, 0x45, 0x23, 0x01, /* u64 */
		'r', 'a', 'w',			/* bytes */
		0x02, 0x00, 'h', 'i',		/* str */
		0x00, 0x00,			/* empty str */
	};
	struct wbuf w;
	struct rbuf r;
	char s[8];

	(void)state;
	wbuf_init(&w);
	wbuf_put_u8(&w, 0xab);
	wbuf_put_u16(&w, 0x1234);
	wbuf_put_u32(&w, 0x12345678u);
	wbuf_put_u64(&w, 0x0123456789abcdefULL);
	wbuf_put_bytes(&w, "raw", 3);
	wbuf_put_bytes(&w, NULL, 0);
	wbuf_put_str(&w, "hi");
	wbuf_put_str(&w, "");
	assert_int_equal(w.len, sizeof want);
	assert_memory_equal(w.p, want, sizeof want);

	rbuf_init(&r, w.p, w.len);
	assert_int_equal(rbuf_left(&r), sizeof want);
	assert_int_equal(rbuf_get_u8(&r), 0xab);
	assert_int_equal(rbuf_get_u16(&r), 0x1234);
	assert_int_equal(rbuf_get_u32(&r), 0x12345678u);
	assert_true(rbuf_get_u64(&r) == 0x0123456789abcdefULL);
	assert_memory_equal(rbuf_get_bytes(&r, 3), "raw", 3);
	rbuf_get_str(&r, s, sizeof s);
	assert_string_equal(s, "hi");
	rbuf_get_str(&r, s, sizeof s);
	assert_string_equal(s, "");
	assert_false(r.err);
	assert_int_equal(rbuf_left(&r), 0);
	/* Zero bytes at the end is fine; one more is not. */
	assert_non_null(rbuf_get_bytes(&r, 0));
	assert_false(r.err);
	assert_int_equal(rbuf_get_u8(&r), 0);
	assert_true(r.err);

	/* High bits survive (no sign extension anywhere). */
	wbuf_free(&w);
	wbuf_put_u16(&w, 0xffff);
	wbuf_put_u32(&w, 0xffffffffu);
	wbuf_put_u64(&w, UINT64_MAX);
	rbuf_init(&r, w.p, w.len);
	assert_int_equal(rbuf_get_u16(&r), 0xffff);
	assert_int_equal(rbuf_get_u32(&r), 0xffffffffu);
	assert_true(rbuf_get_u64(&r) == UINT64_MAX);
	assert_false(r.err);
	wbuf_free(&w);
	wbuf_free(&w);
	assert_null(w.p);
}

/* The buffer grows well past its first allocation, keeping its bytes. */
static void
test_wbuf_growth(void **state)
{
	struct wbuf w;

	(void)state;
	wbuf_init(&w);
	for (uint32_t i = 0; i < 20000; i++)
		wbuf_put_u32(&w, i * 2654435761u);
	assert_int_equal(w.len, 80000);
	assert_true(w.cap >= w.len);
	for (uint32_t i = 0; i < 20000; i++) {
		struct rbuf r;

		rbuf_init(&r, w.p + 4 * i, 4);
		assert_int_equal(rbuf_get_u32(&r), i * 2654435761u);
	}
	wbuf_free(&w);
}

/* Truncation sets a sticky error: later reads fail though bytes remain. */
static void
test_rbuf_sticky(void **state)
{
	static const uint8_t buf[] = { 1, 2, 3, 4, 5 };
	struct rbuf r;
	char s[8];

	(void)state;
	rbuf_init(&r, buf, 3);
	assert_int_equal(rbuf_get_u32(&r), 0);
	assert_true(r.err);
	assert_int_equal(rbuf_left(&r), 0);
	/* Three bytes are there, but the error sticks. */
	assert_int_equal(rbuf_get_u8(&r), 0);
	assert_int_equal(rbuf_get_u16(&r), 0);
	assert_null(rbuf_get_bytes(&r, 1));
	assert_null(rbuf_get_bytes(&r, 0));
	strcpy(s, "junk");
	rbuf_get_str(&r, s, sizeof s);
	assert_string_equal(s, "");
	assert_true(r.err);

	/* Each width fails on one byte short. */
	rbuf_init(&r, buf, 1);
	(void)rbuf_get_u16(&r);
	assert_true(r.err);
	rbuf_init(&r, buf, 5);
	(void)rbuf_get_u64(&r);
	assert_true(r.err);
	rbuf_init(&r, buf, 0);
	(void)rbuf_get_u8(&r);
	assert_true(r.err);
	/* A huge n does not wrap around. */
	rbuf_init(&r, buf, 5);
	(void)rbuf_get_u8(&r);
	assert_null(rbuf_get_bytes(&r, SIZE_MAX));
	assert_true(r.err);

	/* Exactly enough is fine. */
	rbuf_init(&r, buf, 5);
	assert_int_equal(rbuf_get_u32(&r), 0x04030201u);
	assert_int_equal(rbuf_get_u8(&r), 5);
	assert_false(r.err);
}

/* str: must fit the buffer with its NUL and contain no NUL itself. */
static void
test_rbuf_str(void **state)
{
	static const uint8_t nul[] = { 0x03, 0x00, 'a', '\0', 'b' };
	static const uint8_t fits[] = { 0x07, 0x00, '1', '2', '3', '4', '5',
		'6', '7' };
	static const uint8_t past[] = { 0x05, 0x00, 'a', 'b' };
	struct rbuf r;
	char s[8];

	(void)state;
	rbuf_init(&r, nul, sizeof nul);
	rbuf_get_str(&r, s, sizeof s);
	assert_true(r.err);
	assert_string_equal(s, "");

	/* 7 bytes fit an 8-byte buffer; not a 7-byte one. */
	rbuf_init(&r, fits, sizeof fits);
	rbuf_get_str(&r, s, sizeof s);
	assert_false(r.err);
	assert_string_equal(s, "1234567");
	rbuf_init(&r, fits, sizeof fits);
	rbuf_get_str(&r, s, 7);
	assert_true(r.err);

	/* Length running past the end. */
	rbuf_init(&r, past, sizeof past);
	rbuf_get_str(&r, s, sizeof s);
	assert_true(r.err);
	/* Only half a length. */
	rbuf_init(&r, past, 1);
	rbuf_get_str(&r, s, sizeof s);
	assert_true(r.err);
}

/* wbuf_put_str caps the length at 65535 bytes. */
static void
test_wbuf_str_cap(void **state)
{
	size_t n = 70000;
	char *big = malloc(n + 1), *back = malloc(65536);
	struct wbuf w;
	struct rbuf r;

	(void)state;
	assert_non_null(big);
	assert_non_null(back);
	memset(big, 'q', n);
	big[n] = '\0';
	wbuf_init(&w);
	wbuf_put_str(&w, big);
	assert_int_equal(w.len, 2 + 65535);
	assert_int_equal(w.p[0], 0xff);
	assert_int_equal(w.p[1], 0xff);
	rbuf_init(&r, w.p, w.len);
	rbuf_get_str(&r, back, 65536);
	assert_false(r.err);
	assert_int_equal(strlen(back), 65535);
	wbuf_free(&w);
	free(big);
	free(back);
}

/* Frame header: layout, round trip, and each rejection. */
static void
test_header(void **state)
{
	static const uint8_t want[WIRE_HEADER_LEN] = {
		0x43, 0x41, 0x4e, 0x46,		/* magic */
		0x04, 0x00,			/* version */
		0xff, 0x02,			/* type WIRE_ERROR */
		0x04, 0x03, 0x02, 0x01,		/* flags */
		0x05, 0x00, 0x00, 0x00,		/* len */
		0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, /* reqid */
	};
	struct wire_header h;
	struct wbuf w;
	uint8_t buf[WIRE_HEADER_LEN];
	const char *why;

	(void)state;
	wbuf_init(&w);
	wbuf_put_bytes(&w, "stale", 5); /* frame_begin starts afresh */
	wire_frame_begin(&w, WIRE_ERROR, 0x01020304u, 0x1122334455667788ULL);
	wbuf_put_bytes(&w, "hello", 5);
	wire_frame_end(&w);
	assert_int_equal(w.len, WIRE_HEADER_LEN + 5);
	assert_memory_equal(w.p, want, sizeof want);

	why = NULL;
	assert_int_equal(wire_header_decode(w.p, &h, &why), 0);
	assert_int_equal(h.type, WIRE_ERROR);
	assert_int_equal(h.flags, 0x01020304u);
	assert_int_equal(h.len, 5);
	assert_true(h.reqid == 0x1122334455667788ULL);

	/* Each byte of the magic matters. */
	for (int i = 0; i < 4; i++) {
		memcpy(buf, want, sizeof buf);
		buf[i] ^= 0x20;
		why = NULL;
		assert_int_equal(wire_header_decode(buf, &h, &why), -1);
		assert_string_equal(why, "bad magic");
	}
	/* Older and newer versions, and a byte-swapped one. */
	static const uint16_t bad_versions[] = { 0, 1, 2, 3, 5, 0x0401 };
	for (size_t i = 0; i < sizeof bad_versions / sizeof bad_versions[0];
	    i++) {
		memcpy(buf, want, sizeof buf);
		buf[4] = (uint8_t)bad_versions[i];
		buf[5] = (uint8_t)(bad_versions[i] >> 8);
		why = NULL;
		assert_int_equal(wire_header_decode(buf, &h, &why), -1);
		assert_string_equal(why, "unsupported protocol version");
	}
	/* Length: the limit itself is allowed, one more is not. */
	memcpy(buf, want, sizeof buf);
	buf[12] = (uint8_t)WIRE_MAX_BODY;
	buf[13] = (uint8_t)(WIRE_MAX_BODY >> 8);
	buf[14] = (uint8_t)(WIRE_MAX_BODY >> 16);
	buf[15] = (uint8_t)(WIRE_MAX_BODY >> 24);
	assert_int_equal(wire_header_decode(buf, &h, &why), 0);
	assert_int_equal(h.len, WIRE_MAX_BODY);
	buf[12]++;
	why = NULL;
	assert_int_equal(wire_header_decode(buf, &h, &why), -1);
	assert_string_equal(why, "frame body too long");
	memset(buf + 12, 0xff, 4);
	assert_int_equal(wire_header_decode(buf, &h, &why), -1);
	wbuf_free(&w);
}

/* The membership encoder matches the hand-written bytes, and back. */
static void
test_membership_vector(void **state)
{
	struct wire_membership m, got;
	struct wire_node list;
	struct wbuf w;

	(void)state;
	assert_int_equal(sizeof membership_vec, 125);
	example_membership(&m, &list);
	wbuf_init(&w);
	wire_membership_encode(&w, &m);
	assert_int_equal(w.len, sizeof membership_vec);
	assert_memory_equal(w.p, membership_vec, sizeof membership_vec);
	wbuf_free(&w);

	xcalloc_calls = 0;
	assert_int_equal(wire_membership_decode(membership_vec,
	    sizeof membership_vec, &got), 0);
	assert_int_equal(xcalloc_calls, 1);
	assert_int_equal(xcalloc_last, 1);
	assert_int_equal(got.dims, 2);
	assert_int_equal(got.flags, 1);
	assert_true(got.a == m.a && got.b == m.b);
	assert_node_equal(&got.self, &m.self, 2);
	assert_node_equal(&got.other, &m.other, 2);
	assert_int_equal(got.n, 1);
	assert_non_null(got.list);
	assert_node_equal(&got.list[0], &list, 2);
	wire_membership_free(&got);
	assert_null(got.list);
	assert_int_equal(got.n, 0);
	wire_membership_free(&got); /* safe twice */
}

/* The routed frame matches the hand-written bytes, and back. */
static void
test_routed_vector(void **state)
{
	struct wire_routed rt, got;
	struct wire_header h;
	struct wbuf w;
	const char *why;
	uint8_t *body;

	(void)state;
	example_routed(&rt);
	wbuf_init(&w);
	wire_frame_begin(&w, WIRE_ROUTED, WIRE_RT_DIRECT, 0xc0ffee);
	wire_routed_encode(&w, &rt);
	assert_int_equal(w.len - WIRE_HEADER_LEN, RV_ENVELOPE_LEN);
	wbuf_put_bytes(&w, "ab", 2);
	wire_frame_end(&w);
	assert_int_equal(w.len, sizeof routed_vec);
	assert_memory_equal(w.p, routed_vec, sizeof routed_vec);
	wbuf_free(&w);

	assert_int_equal(wire_header_decode(routed_vec, &h, &why), 0);
	assert_int_equal(h.type, WIRE_ROUTED);
	assert_int_equal(h.flags, WIRE_RT_DIRECT);
	assert_true(h.reqid == 0xc0ffee);
	assert_int_equal(h.len, sizeof routed_vec - WIRE_HEADER_LEN);
	body = dup_exact(routed_vec + WIRE_HEADER_LEN, h.len);
	assert_int_equal(wire_routed_decode(body, h.len, &got), 0);
	assert_int_equal(got.dims, 3);
	assert_int_equal(got.hops, 2);
	assert_int_equal(got.inner_type, WIRE_R_LOOKUP);
	assert_memory_equal(&got.target, &rt.target, sizeof rt.target);
	assert_string_equal(got.origin, "unix:/s");
	assert_int_equal(got.npath, 2);
	assert_true(got.path[0] == rt.path[0] && got.path[1] == rt.path[1]);
	assert_ptr_equal(got.inner, body + RV_ENVELOPE_LEN);
	assert_int_equal(got.inner_len, 2);
	assert_memory_equal(got.inner, "ab", 2);
	free(body);
}

/* Decode a patched copy of membership_vec; returns the decoder's result. */
static int
decode_patched(size_t off, const uint8_t *bytes, size_t n, size_t len)
{
	uint8_t buf[sizeof membership_vec + 16];
	struct wire_membership m;
	uint8_t *exact;
	int rc;

	assert_true(len <= sizeof buf && off + n <= sizeof buf);
	memset(buf, 0, sizeof buf);
	memcpy(buf, membership_vec, sizeof membership_vec);
	memcpy(buf + off, bytes, n);
	exact = dup_exact(buf, len);
	rc = wire_membership_decode(exact, len, &m);
	if (rc != 0) {
		assert_null(m.list);
		assert_int_equal(m.n, 0);
	}
	wire_membership_free(&m);
	free(exact);
	return rc;
}

/* Trailing bytes, truncation and counts beyond the body. */
static void
test_membership_lengths(void **state)
{
	static const uint8_t zero = 0;
	static const uint8_t n2[4] = { 2, 0, 0, 0 };
	static const uint8_t n1000[4] = { 0xe8, 0x03, 0, 0 };
	static const uint8_t nmax[4] = { 0xff, 0xff, 0xff, 0xff };
	static const uint8_t n0[4] = { 0, 0, 0, 0 };
	const size_t len = sizeof membership_vec;

	(void)state;
	/* Control: the vector itself decodes. */
	assert_int_equal(decode_patched(0, &zero, 0, len), 0);
	/* One trailing byte. */
	assert_int_equal(decode_patched(len, &zero, 1, len + 1), -1);
	/* One byte short. */
	assert_int_equal(decode_patched(0, &zero, 0, len - 1), -1);
	/* n = 0 leaves the list entry as trailing bytes. */
	assert_int_equal(decode_patched(MV_N, n0, 4, len), -1);
	assert_int_equal(decode_patched(MV_N, n0, 4, MV_LIST), 0);

	/* Counts beyond the bytes present: no allocation at all. */
	xcalloc_calls = 0;
	assert_int_equal(decode_patched(MV_N, n2, 4, len), -1);
	assert_int_equal(decode_patched(MV_N, n1000, 4, len), -1);
	assert_int_equal(decode_patched(MV_N, nmax, 4, len), -1);
	assert_int_equal(xcalloc_calls, 0);
}

/* Build a membership body of n minimal list nodes (d = 1). */
static void
encode_list_of(struct wbuf *w, uint32_t n)
{
	struct wire_membership m;
	struct wire_node *list = calloc(n, sizeof *list);

	assert_non_null(list);
	memset(&m, 0, sizeof m);
	m.dims = 1;
	m.n = n;
	m.list = list;
	for (uint32_t i = 0; i < n; i++)
		list[i].id = i + 1;
	wbuf_init(w);
	wire_membership_encode(w, &m);
	free(list);
}

/* List length: WIRE_MAX_LIST decodes, one more does not (no allocation). */
static void
test_membership_list_limit(void **state)
{
	struct wire_membership m;
	struct wbuf w;

	(void)state;
	encode_list_of(&w, WIRE_MAX_LIST);
	xcalloc_calls = 0;
	assert_int_equal(wire_membership_decode(w.p, w.len, &m), 0);
	assert_int_equal(xcalloc_calls, 1);
	assert_int_equal(m.n, WIRE_MAX_LIST);
	assert_true(m.list[WIRE_MAX_LIST - 1].id == WIRE_MAX_LIST);
	wire_membership_free(&m);
	wbuf_free(&w);

	encode_list_of(&w, WIRE_MAX_LIST + 1);
	xcalloc_calls = 0;
	assert_int_equal(wire_membership_decode(w.p, w.len, &m), -1);
	assert_int_equal(xcalloc_calls, 0);
	wbuf_free(&w);

	/* An empty list allocates nothing. */
	encode_list_of(&w, 0);
	xcalloc_calls = 0;
	assert_int_equal(wire_membership_decode(w.p, w.len, &m), 0);
	assert_int_equal(xcalloc_calls, 0);
	assert_null(m.list);
	wbuf_free(&w);
}

/*
 * A d = 1 body whose self claims nzones zones, each [i, i + 1): the struct
 * cannot hold more than WIRE_MAX_ZONES, so this is written field by field.
 */
static void
encode_nzones(struct wbuf *w, unsigned nzones)
{
	wbuf_init(w);
	wbuf_put_u8(w, 1);		/* dims */
	wbuf_put_u8(w, 0);		/* flags */
	wbuf_put_u64(w, 0);		/* a */
	wbuf_put_u64(w, 0);		/* b */
	wbuf_put_u64(w, 1);		/* self.id */
	wbuf_put_u64(w, 2);		/* self.inc */
	wbuf_put_u32(w, 3);		/* self.epoch */
	wbuf_put_str(w, "s:1");		/* self.addr */
	wbuf_put_u8(w, (uint8_t)nzones);
	for (unsigned i = 0; i < nzones; i++) {
		wbuf_put_u32(w, i);	/* lo */
		wbuf_put_u8(w, 0);	/* bits */
	}
	for (int i = 0; i < 23; i++)	/* other: empty */
		wbuf_put_u8(w, 0);
	wbuf_put_u32(w, 0);		/* n */
}

/* Zones per node: up to WIRE_MAX_ZONES, each one valid. */
static void
test_membership_zones(void **state)
{
	struct wire_membership m;
	struct wbuf w;
	static const uint8_t b33 = 33, b0 = 0;
	static const uint8_t lo_odd[4] = { 0x01, 0x00, 0x00, 0x80 };

	(void)state;
	encode_nzones(&w, WIRE_MAX_ZONES);
	assert_int_equal(wire_membership_decode(w.p, w.len, &m), 0);
	assert_int_equal(m.self.nzones, WIRE_MAX_ZONES);
	assert_int_equal(m.self.zones[WIRE_MAX_ZONES - 1].lo[0],
	    WIRE_MAX_ZONES - 1);
	wire_membership_free(&m);
	wbuf_free(&w);

	encode_nzones(&w, WIRE_MAX_ZONES + 1);
	assert_int_equal(wire_membership_decode(w.p, w.len, &m), -1);
	wbuf_free(&w);
	encode_nzones(&w, 255);
	assert_int_equal(wire_membership_decode(w.p, w.len, &m), -1);
	wbuf_free(&w);

	/* Invalid zones in the vector: bits 33, misaligned lo. */
	assert_int_equal(decode_patched(MV_ZONE1_BITS0, &b33, 1,
	    sizeof membership_vec), -1);
	assert_int_equal(decode_patched(MV_ZONE1_LO0, lo_odd, 4,
	    sizeof membership_vec), -1);
	/* ...while any lo is aligned for a single position. */
	assert_int_equal(decode_patched(MV_ZONE1_BITS0, &b0, 1,
	    sizeof membership_vec), 0);
	/* 32 bits with lo != 0 (zone 1 dim 0 has lo 2^31). */
	static const uint8_t b32 = 32;
	assert_int_equal(decode_patched(MV_ZONE1_BITS0, &b32, 1,
	    sizeof membership_vec), -1);
	/* nzones 3 where 2 are present. */
	static const uint8_t three = 3;
	assert_int_equal(decode_patched(MV_SELF_NZONES, &three, 1,
	    sizeof membership_vec), -1);
}

/* Dimension counts outside 1..8. */
static void
test_membership_dims(void **state)
{
	static const uint8_t dims[] = { 0, 9, 0xff };
	struct wire_membership m;
	struct wbuf w;

	(void)state;
	for (size_t i = 0; i < sizeof dims; i++)
		assert_int_equal(decode_patched(0, &dims[i], 1,
		    sizeof membership_vec), -1);
	assert_int_equal(wire_membership_decode(membership_vec, 0, &m), -1);

	/* Control: 8 dimensions, with a zone, round trip. */
	memset(&m, 0, sizeof m);
	m.dims = GEOM_MAX_DIMS;
	m.self.nzones = 1;
	geom_zone_whole(&m.self.zones[0], GEOM_MAX_DIMS);
	wbuf_init(&w);
	wire_membership_encode(&w, &m);
	assert_int_equal(wire_membership_decode(w.p, w.len, &m), 0);
	assert_int_equal(m.dims, GEOM_MAX_DIMS);
	assert_int_equal(m.self.zones[0].bits[7], 32);
	wbuf_free(&w);
}

/* Addresses: unterminated, embedded NUL, too long. */
static void
test_membership_addr(void **state)
{
	static const uint8_t huge[2] = { 0xff, 0xff };
	static const uint8_t nul = '\0';
	struct wire_membership m;
	struct wbuf w;
	char addr[WIRE_ADDR_MAX + 1];

	(void)state;
	/* self.addr length runs past the end of the body. */
	assert_int_equal(decode_patched(MV_SELF_ADDR, huge, 2,
	    sizeof membership_vec), -1);
	/* Body ends inside self.addr. */
	assert_int_equal(decode_patched(0, &nul, 0, MV_SELF_ADDR + 3), -1);
	/* "h\0" + "1". */
	assert_int_equal(decode_patched(MV_SELF_ADDR + 3, &nul, 1,
	    sizeof membership_vec), -1);

	/* WIRE_ADDR_MAX - 1 bytes fit; WIRE_ADDR_MAX do not. */
	memset(addr, 'a', sizeof addr);
	addr[WIRE_ADDR_MAX - 1] = '\0';
	memset(&m, 0, sizeof m);
	m.dims = 1;
	memcpy(m.other.addr, addr, WIRE_ADDR_MAX);
	wbuf_init(&w);
	wire_membership_encode(&w, &m);
	assert_int_equal(wire_membership_decode(w.p, w.len, &m), 0);
	assert_int_equal(strlen(m.other.addr), WIRE_ADDR_MAX - 1);
	wbuf_free(&w);

	addr[WIRE_ADDR_MAX - 1] = 'a';
	addr[WIRE_ADDR_MAX] = '\0';
	wbuf_init(&w);
	wbuf_put_bytes(&w, membership_vec, MV_OTHER + 20);
	wbuf_put_str(&w, addr);
	wbuf_put_bytes(&w, membership_vec + MV_OTHER + 22,
	    sizeof membership_vec - MV_OTHER - 22);
	assert_int_equal(wire_membership_decode(w.p, w.len, &m), -1);
	/* The same splice with a short address decodes (control). */
	wbuf_free(&w);
	wbuf_init(&w);
	wbuf_put_bytes(&w, membership_vec, MV_OTHER + 20);
	wbuf_put_str(&w, "ok:1");
	wbuf_put_bytes(&w, membership_vec + MV_OTHER + 22,
	    sizeof membership_vec - MV_OTHER - 22);
	assert_int_equal(wire_membership_decode(w.p, w.len, &m), 0);
	assert_string_equal(m.other.addr, "ok:1");
	wire_membership_free(&m);
	wbuf_free(&w);
}

/* Routed envelope: dims, path length, origin, truncation. */
static void
test_routed_rejects(void **state)
{
	struct wire_routed rt, got;
	struct wbuf w;
	uint8_t buf[sizeof routed_vec];
	const uint8_t *body = routed_vec + WIRE_HEADER_LEN;
	size_t len = sizeof routed_vec - WIRE_HEADER_LEN;

	(void)state;
	memcpy(buf, body, len);
	buf[0] = 0;
	assert_int_equal(wire_routed_decode(buf, len, &got), -1);
	buf[0] = 9;
	assert_int_equal(wire_routed_decode(buf, len, &got), -1);
	assert_int_equal(wire_routed_decode(body, 0, &got), -1);

	/* npath 256 > WIRE_MAX_PATH, even with the bytes present. */
	example_routed(&rt);
	rt.npath = WIRE_MAX_PATH;
	for (int i = 0; i < WIRE_MAX_PATH; i++)
		rt.path[i] = (uint64_t)i * 3;
	wbuf_init(&w);
	wire_routed_encode(&w, &rt);
	assert_int_equal(wire_routed_decode(w.p, w.len, &got), 0);
	assert_int_equal(got.npath, WIRE_MAX_PATH);
	assert_true(got.path[WIRE_MAX_PATH - 1] == 3 * (WIRE_MAX_PATH - 1));
	assert_int_equal(got.inner_len, 0);
	wbuf_put_u64(&w, 0);
	/* npath sits after dims, hops, type, 3 coordinates, origin. */
	size_t npath_off = 1 + 1 + 2 + 12 + 2 + strlen(rt.origin);
	w.p[npath_off] = 0x00;
	w.p[npath_off + 1] = 0x01;
	assert_int_equal(wire_routed_decode(w.p, w.len, &got), -1);
	wbuf_free(&w);

	/* Origin of WIRE_ADDR_MAX bytes. */
	memset(rt.origin, 'o', sizeof rt.origin);
	wbuf_init(&w);
	wbuf_put_u8(&w, 1);
	wbuf_put_u8(&w, 0);
	wbuf_put_u16(&w, WIRE_R_LOOKUP);
	wbuf_put_u32(&w, 0);
	wbuf_put_u16(&w, WIRE_ADDR_MAX);
	wbuf_put_bytes(&w, rt.origin, WIRE_ADDR_MAX);
	wbuf_put_u16(&w, 0);
	assert_int_equal(wire_routed_decode(w.p, w.len, &got), -1);
	/* One byte shorter is fine. */
	w.len = 0;
	wbuf_put_u8(&w, 1);
	wbuf_put_u8(&w, 0);
	wbuf_put_u16(&w, WIRE_R_LOOKUP);
	wbuf_put_u32(&w, 0);
	wbuf_put_u16(&w, WIRE_ADDR_MAX - 1);
	wbuf_put_bytes(&w, rt.origin, WIRE_ADDR_MAX - 1);
	wbuf_put_u16(&w, 0);
	assert_int_equal(wire_routed_decode(w.p, w.len, &got), 0);
	wbuf_free(&w);
}

/* Error and point bodies: round trips and rejections. */
static void
test_error_point(void **state)
{
	struct wbuf w;
	uint32_t code;
	char msg[16];
	struct geom_point p, q;
	int dims;

	(void)state;
	wbuf_init(&w);
	wire_error_encode(&w, WIRE_E_NOROUTE, "no way");
	assert_int_equal(w.len, 4 + 2 + 6);
	assert_int_equal(wire_error_decode(w.p, w.len, &code, msg, sizeof msg),
	    0);
	assert_int_equal(code, WIRE_E_NOROUTE);
	assert_string_equal(msg, "no way");
	/* Message too long for the caller's buffer. */
	assert_int_equal(wire_error_decode(w.p, w.len, &code, msg, 6), -1);
	assert_int_equal(wire_error_decode(w.p, w.len, &code, msg, 7), 0);
	/* Trailing byte; short. */
	wbuf_put_u8(&w, 0);
	assert_int_equal(wire_error_decode(w.p, w.len, &code, msg, sizeof msg),
	    -1);
	assert_int_equal(wire_error_decode(w.p, 5, &code, msg, sizeof msg),
	    -1);
	wbuf_free(&w);

	memset(&p, 0, sizeof p);
	p.c[0] = 0xdeadbeefu;
	p.c[2] = 7;
	wire_point_encode(&w, 3, &p);
	assert_int_equal(w.len, 13);
	assert_int_equal(wire_point_decode(w.p, w.len, &dims, &q), 0);
	assert_int_equal(dims, 3);
	assert_memory_equal(&p, &q, sizeof p);
	assert_int_equal(wire_point_decode(w.p, w.len - 1, &dims, &q), -1);
	wbuf_put_u8(&w, 0);
	assert_int_equal(wire_point_decode(w.p, w.len, &dims, &q), -1);
	w.p[0] = 0;
	assert_int_equal(wire_point_decode(w.p, 1, &dims, &q), -1);
	assert_int_equal(wire_point_decode(w.p, 0, &dims, &q), -1);
	wbuf_free(&w);
	/* Nine dimensions, with all 36 coordinate bytes present. */
	uint8_t nine[1 + 9 * 4] = { 9 };
	assert_int_equal(wire_point_decode(nine, sizeof nine, &dims, &q), -1);
	nine[0] = 8;
	assert_int_equal(wire_point_decode(nine, sizeof nine - 4, &dims, &q),
	    0);
}

/* Every known type and error code has its own name. */
static void
test_names(void **state)
{
	static const uint16_t types[] = {
		WIRE_HEARTBEAT, WIRE_JOIN_ACCEPT, WIRE_TAKEOVER, WIRE_LEAVE,
		WIRE_HANDOVER, WIRE_HANDOVER_ACK, WIRE_ROUTED,
		WIRE_LOOKUP_REPLY, WIRE_JOIN_REFUSED, WIRE_STATUS_REQ,
		WIRE_STATUS, WIRE_ROUTE_REQ, WIRE_LEAVE_REQ, WIRE_LIST_REQ,
		WIRE_LIST, WIRE_REPAIR_REQ, WIRE_OK, WIRE_ERROR, WIRE_OBJ_GET,
		WIRE_OBJ_VALUE, WIRE_OBJ_PUT, WIRE_OBJ_DONE, WIRE_OBJ_DEL,
		WIRE_OBJ_BATCH, WIRE_OBJ_BATCH_REPLY,
		WIRE_OBJ_R_GET, WIRE_OBJ_R_PUT, WIRE_OBJ_XFER, WIRE_OBJ_DIGEST,
		WIRE_OBJ_WANT,
	};
	static const uint32_t codes[] = {
		WIRE_E_OK, WIRE_E_PROTO, WIRE_E_DIMS, WIRE_E_NOROUTE,
		WIRE_E_TTL, WIRE_E_BUSY, WIRE_E_NOTFOUND, WIRE_E_TIMEOUT,
		WIRE_E_UNAVAIL, WIRE_E_INTERNAL, WIRE_E_CONFLICT,
		WIRE_E_MISSING, WIRE_E_WRONG_OWNER, WIRE_E_NOSPACE,
		WIRE_E_CORRUPT, WIRE_E_TOOBIG,
	};
	const size_t nt = sizeof types / sizeof types[0];
	const size_t nc = sizeof codes / sizeof codes[0];

	(void)state;
	for (size_t i = 0; i < nt; i++) {
		assert_string_not_equal(wire_type_name(types[i]), "UNKNOWN");
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(wire_type_name(types[i]),
			    wire_type_name(types[j]));
	}
	assert_string_equal(wire_type_name(0), "UNKNOWN");
	assert_string_equal(wire_type_name(0x0100), "UNKNOWN");
	assert_string_equal(wire_type_name(0xffff), "UNKNOWN");
	for (size_t i = 0; i < nc; i++) {
		assert_string_not_equal(wire_error_text(codes[i]),
		    "unknown error");
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(wire_error_text(codes[i]),
			    wire_error_text(codes[j]));
	}
	assert_string_equal(wire_error_text(1000), "unknown error");
	assert_string_equal(wire_error_text(UINT32_MAX), "unknown error");
}

/* The object example: a conditional replica write of "abc". */
static void
example_obj(struct wire_obj *o)
{
	memset(o, 0, sizeof *o);
	o->dims = 2;
	o->point.c[0] = 0x10;
	o->point.c[1] = 0x80000000u;
	o->key.hi = 0x0102030405060708ULL;
	o->key.lo = 0x1112131415161718ULL;
	o->index = 1;
	o->cond = WIRE_COND_VERSION;
	o->cond_version = 5;
	o->meta.version = 6;
	o->meta.writer = 0x42;
	o->meta.checksum = 0xabcdef;
	o->meta.mtime_ms = 1000;
	o->meta.flags = WIRE_OBJ_TOMBSTONE;
	o->meta.op.client = 0x5eed;
	o->meta.op.seq = 0x2a;
	o->data = (const uint8_t *)"abc";
	o->len = 3;
}

/* The encoding of example_obj(), by hand. */
static const uint8_t obj_vec[] = {
	0x02,					/* dims */
	0x10, 0x00, 0x00, 0x00,			/* point[0] */
	0x00, 0x00, 0x00, 0x80,			/* point[1] */
	0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, /* key.hi */
	0x18, 0x17, 0x16, 0x15, 0x14, 0x13, 0x12, 0x11, /* key.lo */
	0x01,					/* index */
	0x01,					/* cond WIRE_COND_VERSION */
	0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* cond_version */
	0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* meta.version */
	0x42, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* meta.writer */
	0xef, 0xcd, 0xab, 0x00, 0x00, 0x00, 0x00, 0x00, /* meta.checksum */
	0xe8, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* meta.mtime_ms */
	0x01, 0x00, 0x00, 0x00,			/* meta.flags tombstone */
	0xed, 0x5e, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* meta.op.client */
	0x2a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* meta.op.seq */
	0x03, 0x00, 0x00, 0x00,			/* len */
	'a', 'b', 'c',				/* data */
};

#define OV_COND 26
#define OV_LEN 87

/* Object body: hand-written vector, round trip and rejections. */
static void
test_obj(void **state)
{
	struct wire_obj o, got;
	struct wbuf w;
	uint8_t buf[sizeof obj_vec + 1];
	uint8_t *big;

	(void)state;
	example_obj(&o);
	wbuf_init(&w);
	wire_obj_encode(&w, &o);
	assert_int_equal(w.len, sizeof obj_vec);
	assert_memory_equal(w.p, obj_vec, sizeof obj_vec);
	wbuf_free(&w);

	assert_int_equal(wire_obj_decode(obj_vec, sizeof obj_vec, &got), 0);
	assert_int_equal(got.dims, 2);
	assert_memory_equal(&got.point, &o.point, sizeof o.point);
	assert_true(got.key.hi == o.key.hi && got.key.lo == o.key.lo);
	assert_int_equal(got.index, 1);
	assert_int_equal(got.cond, WIRE_COND_VERSION);
	assert_true(got.cond_version == 5);
	assert_memory_equal(&got.meta, &o.meta, sizeof o.meta);
	assert_ptr_equal(got.data, obj_vec + OV_LEN + 4);
	assert_int_equal(got.len, 3);

	/* Trailing byte, one short, dims 9, cond 3. */
	memcpy(buf, obj_vec, sizeof obj_vec);
	buf[sizeof obj_vec] = 'd';
	assert_int_equal(wire_obj_decode(buf, sizeof buf, &got), -1);
	assert_int_equal(wire_obj_decode(buf, sizeof obj_vec - 1, &got), -1);
	buf[0] = 9;
	assert_int_equal(wire_obj_decode(buf, sizeof obj_vec, &got), -1);
	buf[0] = 2;
	buf[OV_COND] = WIRE_COND_ABSENT + 1;
	assert_int_equal(wire_obj_decode(buf, sizeof obj_vec, &got), -1);
	buf[OV_COND] = WIRE_COND_ABSENT;
	assert_int_equal(wire_obj_decode(buf, sizeof obj_vec, &got), 0);
	/* A length that covers the trailing byte makes it data. */
	buf[OV_LEN] = 4;
	assert_int_equal(wire_obj_decode(buf, sizeof buf, &got), 0);
	assert_int_equal(got.len, 4);

	/* Clients send no point: dims 0 is allowed. */
	o.dims = 0;
	wbuf_init(&w);
	wire_obj_encode(&w, &o);
	assert_int_equal(w.len, sizeof obj_vec - 8);
	assert_int_equal(wire_obj_decode(w.p, w.len, &got), 0);
	assert_int_equal(got.dims, 0);
	wbuf_free(&w);

	/* Values up to WIRE_MAX_VALUE, not one byte more. */
	big = calloc(1, WIRE_MAX_VALUE + 1);
	assert_non_null(big);
	o.data = big;
	o.len = WIRE_MAX_VALUE;
	wbuf_init(&w);
	wire_obj_encode(&w, &o);
	assert_int_equal(wire_obj_decode(w.p, w.len, &got), 0);
	assert_int_equal(got.len, WIRE_MAX_VALUE);
	wbuf_free(&w);
	o.len = WIRE_MAX_VALUE + 1;
	wire_obj_encode(&w, &o);
	assert_int_equal(wire_obj_decode(w.p, w.len, &got), -1);
	wbuf_free(&w);
	free(big);
}

/* A summary of n entries in d dimensions. */
static void
example_summary(struct wire_summary *s, struct wire_summary_entry *e,
    int d, uint32_t n)
{
	memset(s, 0, sizeof *s);
	s->dims = d;
	s->n = n;
	s->e = e;
	for (uint32_t i = 0; i < n; i++) {
		memset(&e[i], 0, sizeof e[i]);
		for (int j = 0; j < d; j++)
			e[i].point.c[j] = i * 0x01010101u + (uint32_t)j;
		e[i].key.hi = 0x1000 + i;
		e[i].key.lo = 0x2000 + i;
		e[i].index = (uint8_t)(i % 3);
		e[i].version = 100 + i;
		e[i].flags = i & 1;
		e[i].len = 4096 * i;
		e[i].ok = i != 1;
	}
}

/* Summary body: round trip, exact length, counts checked first. */
static void
test_summary(void **state)
{
	struct wire_summary_entry e[3];
	struct wire_summary s, got;
	struct wbuf w;
	const size_t each = 3 * 4 + 34;

	(void)state;
	example_summary(&s, e, 3, 3);
	wbuf_init(&w);
	wire_summary_encode(&w, &s);
	assert_int_equal(w.len, 5 + 3 * each);
	xcalloc_calls = 0;
	assert_int_equal(wire_summary_decode(w.p, w.len, &got), 0);
	assert_int_equal(xcalloc_calls, 1);
	assert_int_equal(got.dims, 3);
	assert_int_equal(got.n, 3);
	for (int i = 0; i < 3; i++) {
		assert_memory_equal(&got.e[i].point, &e[i].point,
		    sizeof e[i].point);
		assert_true(got.e[i].key.hi == e[i].key.hi);
		assert_true(got.e[i].key.lo == e[i].key.lo);
		assert_int_equal(got.e[i].index, e[i].index);
		assert_true(got.e[i].version == e[i].version);
		assert_int_equal(got.e[i].flags, e[i].flags);
		assert_int_equal(got.e[i].len, e[i].len);
		assert_int_equal(got.e[i].ok, e[i].ok);
	}
	wire_summary_free(&got);
	assert_null(got.e);
	wire_summary_free(&got);

	/* Trailing byte, one short. */
	wbuf_put_u8(&w, 0);
	assert_int_equal(wire_summary_decode(w.p, w.len, &got), -1);
	assert_int_equal(wire_summary_decode(w.p, w.len - 2, &got), -1);
	w.len--;
	/* Counts beyond the bytes, and beyond the limit: no allocation. */
	xcalloc_calls = 0;
	w.p[1] = 4;
	assert_int_equal(wire_summary_decode(w.p, w.len, &got), -1);
	memset(w.p + 1, 0xff, 4);
	assert_int_equal(wire_summary_decode(w.p, w.len, &got), -1);
	assert_int_equal(xcalloc_calls, 0);
	w.p[1] = 3;
	memset(w.p + 2, 0, 3);
	/* dims 0 and 9. */
	w.p[0] = 0;
	assert_int_equal(wire_summary_decode(w.p, w.len, &got), -1);
	w.p[0] = 9;
	assert_int_equal(wire_summary_decode(w.p, w.len, &got), -1);
	w.p[0] = 3;
	assert_int_equal(wire_summary_decode(w.p, w.len, &got), 0);
	wire_summary_free(&got);
	wbuf_free(&w);

	/* dims 0 even when the length would match 0-D entries. */
	wbuf_put_u8(&w, 0);
	wbuf_put_u32(&w, 1);
	for (size_t i = 0; i < each - 3 * 4; i++)
		wbuf_put_u8(&w, 1);
	assert_int_equal(wire_summary_decode(w.p, w.len, &got), -1);
	w.p[0] = 1;
	wbuf_put_u32(&w, 0);
	assert_int_equal(wire_summary_decode(w.p, w.len, &got), 0);
	wire_summary_free(&got);
	wbuf_free(&w);

	/* WIRE_MAX_SUMMARY entries decode; one more does not. */
	for (uint32_t n = WIRE_MAX_SUMMARY; n <= WIRE_MAX_SUMMARY + 1; n++) {
		struct wire_summary_entry *big = calloc(n, sizeof *big);

		assert_non_null(big);
		s.dims = 1;
		s.n = n;
		s.e = big;
		wire_summary_encode(&w, &s);
		assert_int_equal(wire_summary_decode(w.p, w.len, &got),
		    n == WIRE_MAX_SUMMARY ? 0 : -1);
		wire_summary_free(&got);
		wbuf_free(&w);
		free(big);
	}

	/* Empty: no allocation. */
	example_summary(&s, e, 1, 0);
	wire_summary_encode(&w, &s);
	assert_int_equal(w.len, 5);
	xcalloc_calls = 0;
	assert_int_equal(wire_summary_decode(w.p, w.len, &got), 0);
	assert_int_equal(xcalloc_calls, 0);
	assert_null(got.e);
	wbuf_free(&w);
}

/* Want body: two counted lists, counts checked before allocating. */
static void
test_want(void **state)
{
	static const uint8_t vec[] = {
		0x02, 0x00, 0x00, 0x00,		/* n */
		0x07, 0x00, 0x00, 0x00,		/* pos[0] */
		0x00, 0x01, 0x00, 0x00,		/* pos[1] = 256 */
		0x01, 0x00, 0x00, 0x00,		/* nwrong */
		0xff, 0xff, 0xff, 0xff,		/* wrong[0] */
	};
	uint32_t pos[2] = { 7, 256 }, wrong[1] = { UINT32_MAX };
	struct wire_want wt = { 2, pos, 1, wrong }, got;
	struct wbuf w;
	uint8_t buf[sizeof vec + 1];

	(void)state;
	wbuf_init(&w);
	wire_want_encode(&w, &wt);
	assert_int_equal(w.len, sizeof vec);
	assert_memory_equal(w.p, vec, sizeof vec);
	wbuf_free(&w);
	assert_int_equal(wire_want_decode(vec, sizeof vec, &got), 0);
	assert_int_equal(got.n, 2);
	assert_int_equal(got.pos[1], 256);
	assert_int_equal(got.nwrong, 1);
	assert_int_equal(got.wrong[0], UINT32_MAX);
	wire_want_free(&got);
	assert_null(got.pos);
	wire_want_free(&got);

	/* Trailing, short: the first list is freed again (LSan checks). */
	memcpy(buf, vec, sizeof vec);
	buf[sizeof vec] = 0;
	assert_int_equal(wire_want_decode(buf, sizeof buf, &got), -1);
	assert_null(got.pos);
	assert_int_equal(wire_want_decode(buf, sizeof vec - 1, &got), -1);
	assert_int_equal(wire_want_decode(buf, 0, &got), -1);
	/* Counts beyond the bytes or the limit: no allocation for them. */
	xcalloc_calls = 0;
	buf[0] = 5;
	assert_int_equal(wire_want_decode(buf, sizeof vec, &got), -1);
	memset(buf, 0xff, 4);
	assert_int_equal(wire_want_decode(buf, sizeof vec, &got), -1);
	assert_int_equal(xcalloc_calls, 0);
	memcpy(buf, vec, sizeof vec);
	buf[12] = 0xff;
	assert_int_equal(wire_want_decode(buf, sizeof vec, &got), -1);
	assert_int_equal(xcalloc_calls, 1); /* only the first list */
	/* Lists of WIRE_MAX_SUMMARY positions decode; one more does not. */
	for (uint32_t n = WIRE_MAX_SUMMARY; n <= WIRE_MAX_SUMMARY + 1; n++) {
		wt.n = wt.nwrong = n;
		wt.pos = wt.wrong = calloc(n, sizeof *wt.pos);
		assert_non_null(wt.pos);
		wire_want_encode(&w, &wt);
		assert_int_equal(wire_want_decode(w.p, w.len, &got),
		    n == WIRE_MAX_SUMMARY ? 0 : -1);
		wire_want_free(&got);
		wbuf_free(&w);
		free(wt.pos);
	}
	/* Both lists empty. */
	static const uint8_t none[8] = { 0 };
	assert_int_equal(wire_want_decode(none, sizeof none, &got), 0);
	assert_int_equal(got.n + got.nwrong, 0);
	wire_want_free(&got);
}

/*
 * A client's object body (dims 0, index 0): key (hi, lo) as one byte
 * each, condition, meta.version, op id (one byte each), then the data
 * length; 83 bytes before the data.
 */
#define OBJ0(hi, lo, cond, ver, opc, ops, len)				\
	0x00,					/* dims */		\
	hi, 0, 0, 0, 0, 0, 0, 0,		/* key.hi */		\
	lo, 0, 0, 0, 0, 0, 0, 0,		/* key.lo */		\
	0x00, cond,				/* index, cond */	\
	0, 0, 0, 0, 0, 0, 0, 0,			/* cond_version */	\
	ver, 0, 0, 0, 0, 0, 0, 0,		/* meta.version */	\
	0, 0, 0, 0, 0, 0, 0, 0,			/* meta.writer */	\
	0, 0, 0, 0, 0, 0, 0, 0,			/* meta.checksum */	\
	0, 0, 0, 0, 0, 0, 0, 0,			/* meta.mtime_ms */	\
	0, 0, 0, 0,				/* meta.flags */	\
	opc, 0, 0, 0, 0, 0, 0, 0,		/* meta.op.client */	\
	ops, 0, 0, 0, 0, 0, 0, 0,		/* meta.op.seq */	\
	len, 0, 0, 0				/* len */

/* A batch request: GET of key (1, 2), PUT "hi" if absent to (3, 4). */
static const uint8_t batch_vec[] = {
	0x02, 0x00,				/* n */
	0x01, 0x03,				/* type OBJ_GET */
	0x53, 0x00, 0x00, 0x00,			/* len 83 */
	OBJ0(1, 2, WIRE_COND_NONE, 0, 0, 0, 0),
	0x03, 0x03,				/* type OBJ_PUT */
	0x55, 0x00, 0x00, 0x00,			/* len 85 */
	OBJ0(3, 4, WIRE_COND_ABSENT, 0, 0x5e, 7, 2),
	'h', 'i',				/* data */
};
#define BV_ITEM1 (2 + 6 + 83)	/* offset of the second item */

/* Its reply: DONE version 9 for the GET's slot, ERROR CONFLICT "exists". */
static const uint8_t batch_reply_vec[] = {
	0x02, 0x00,				/* n */
	0x04, 0x03,				/* type OBJ_DONE */
	0x53, 0x00, 0x00, 0x00,			/* len 83 */
	OBJ0(1, 2, WIRE_COND_NONE, 9, 0, 0, 0),
	0xff, 0x02,				/* type ERROR */
	0x0c, 0x00, 0x00, 0x00,			/* len 12 */
	0x0a, 0x00, 0x00, 0x00,			/* code CONFLICT */
	0x06, 0x00, 'e', 'x', 'i', 's', 't', 's', /* message */
};

/* Decode an exactly-sized copy as a request (reply false) or a reply. */
static int
batch_decode_exact(const uint8_t *p, size_t len, bool reply,
    struct wire_batch *b)
{
	uint8_t *q = dup_exact(p, len);
	int rc = reply ? wire_batch_reply_decode(q, len, b) :
	    wire_batch_decode(q, len, b);

	/* The items point into q: the tests only look at scalar fields. */
	for (uint32_t i = 0; rc == 0 && i < b->n; i++)
		b->items[i].o.data = NULL;
	free(q);
	return rc;
}

/* A batch of n GETs of keys (i, i). */
static void
encode_gets(struct wbuf *w, uint32_t n)
{
	struct wire_batch b = { n, calloc(n + 1, sizeof *b.items) };

	assert_non_null(b.items);
	for (uint32_t i = 0; i < n; i++) {
		b.items[i].type = WIRE_OBJ_GET;
		b.items[i].o.key.hi = b.items[i].o.key.lo = i;
	}
	wbuf_init(w);
	wire_batch_encode(w, &b);
	free(b.items);
}

/* Batch request and reply: vectors, round trips and what is refused. */
static void
test_batch(void **state)
{
	struct wire_batch b, got;
	struct wire_batch_item it[2];
	struct wbuf w;
	uint8_t buf[sizeof batch_vec + 1];

	(void)state;
	/* The encoder reproduces the hand-written vectors. */
	memset(it, 0, sizeof it);
	it[0].type = WIRE_OBJ_GET;
	it[0].o.key.hi = 1;
	it[0].o.key.lo = 2;
	it[1].type = WIRE_OBJ_PUT;
	it[1].o.key.hi = 3;
	it[1].o.key.lo = 4;
	it[1].o.cond = WIRE_COND_ABSENT;
	it[1].o.meta.op.client = 0x5e;
	it[1].o.meta.op.seq = 7;
	it[1].o.data = (const uint8_t *)"hi";
	it[1].o.len = 2;
	b.n = 2;
	b.items = it;
	wbuf_init(&w);
	wire_batch_encode(&w, &b);
	assert_int_equal(w.len, sizeof batch_vec);
	assert_memory_equal(w.p, batch_vec, sizeof batch_vec);
	wbuf_free(&w);
	memset(it, 0, sizeof it);
	it[0].type = WIRE_OBJ_DONE;
	it[0].o.key.hi = 1;
	it[0].o.key.lo = 2;
	it[0].o.meta.version = 9;
	it[1].type = WIRE_ERROR;
	it[1].code = WIRE_E_CONFLICT;
	snprintf(it[1].msg, sizeof it[1].msg, "exists");
	wire_batch_encode(&w, &b);
	assert_int_equal(w.len, sizeof batch_reply_vec);
	assert_memory_equal(w.p, batch_reply_vec, sizeof batch_reply_vec);
	wbuf_free(&w);

	/* Decoding them. */
	assert_int_equal(wire_batch_decode(batch_vec, sizeof batch_vec, &got),
	    0);
	assert_int_equal(got.n, 2);
	assert_int_equal(got.items[0].type, WIRE_OBJ_GET);
	assert_true(got.items[0].o.key.hi == 1 && got.items[0].o.key.lo == 2);
	assert_int_equal(got.items[1].type, WIRE_OBJ_PUT);
	assert_int_equal(got.items[1].o.cond, WIRE_COND_ABSENT);
	assert_true(got.items[1].o.meta.op.seq == 7);
	assert_int_equal(got.items[1].o.len, 2);
	assert_ptr_equal(got.items[1].o.data, batch_vec + sizeof batch_vec - 2);
	wire_batch_free(&got);
	assert_null(got.items);
	assert_int_equal(wire_batch_reply_decode(batch_reply_vec,
	    sizeof batch_reply_vec, &got), 0);
	assert_int_equal(got.items[0].type, WIRE_OBJ_DONE);
	assert_true(got.items[0].o.meta.version == 9);
	assert_int_equal(got.items[1].type, WIRE_ERROR);
	assert_int_equal(got.items[1].code, WIRE_E_CONFLICT);
	assert_string_equal(got.items[1].msg, "exists");
	wire_batch_free(&got);
	assert_int_equal(wire_batch_count(batch_vec, sizeof batch_vec), 2);
	assert_int_equal(wire_batch_count(batch_vec, 1), 0);

	/* Requests and replies do not mix. */
	assert_int_equal(wire_batch_reply_decode(batch_vec, sizeof batch_vec,
	    &got), -1);
	assert_null(got.items);
	assert_int_equal(wire_batch_decode(batch_reply_vec,
	    sizeof batch_reply_vec, &got), -1);
	assert_null(got.items);

	/* Truncated at every length, or one byte too many. */
	for (size_t l = 0; l < sizeof batch_vec; l++) {
		assert_int_equal(batch_decode_exact(batch_vec, l, false, &got),
		    -1);
		assert_null(got.items);
	}
	for (size_t l = 0; l < sizeof batch_reply_vec; l++)
		assert_int_equal(batch_decode_exact(batch_reply_vec, l, true,
		    &got), -1);
	memcpy(buf, batch_vec, sizeof batch_vec);
	buf[sizeof batch_vec] = 0;
	assert_int_equal(batch_decode_exact(buf, sizeof buf, false, &got), -1);

	/* Lying counts: 0, one more or one fewer than present. */
	memcpy(buf, batch_vec, sizeof batch_vec);
	buf[0] = 0;
	assert_int_equal(batch_decode_exact(buf, sizeof batch_vec, false,
	    &got), -1);
	buf[0] = 3;
	xcalloc_calls = 0;
	assert_int_equal(batch_decode_exact(buf, sizeof batch_vec, false,
	    &got), -1);
	assert_int_equal(xcalloc_calls, 0);	/* refused before allocating */
	buf[0] = 1;
	assert_int_equal(batch_decode_exact(buf, sizeof batch_vec, false,
	    &got), -1);
	/* A count far beyond the bytes present: no allocation either. */
	buf[0] = buf[1] = 0xff;
	xcalloc_calls = 0;
	assert_int_equal(batch_decode_exact(buf, sizeof batch_vec, false,
	    &got), -1);
	assert_int_equal(xcalloc_calls, 0);

	/* Lying item lengths: past the end, short, long. */
	memcpy(buf, batch_vec, sizeof batch_vec);
	buf[BV_ITEM1 + 2] = 0x56;	/* one past the body's end */
	assert_int_equal(batch_decode_exact(buf, sizeof batch_vec, false,
	    &got), -1);
	buf[BV_ITEM1 + 2] = 0x54;	/* cuts the data short */
	assert_int_equal(batch_decode_exact(buf, sizeof batch_vec, false,
	    &got), -1);
	memcpy(buf, batch_vec, sizeof batch_vec);
	buf[4] = 0x54;			/* first item swallows a byte */
	assert_int_equal(batch_decode_exact(buf, sizeof batch_vec, false,
	    &got), -1);
	memcpy(buf, batch_vec, sizeof batch_vec);
	buf[BV_ITEM1 + 5] = 0x80;	/* length 2^31 + 85 */
	assert_int_equal(batch_decode_exact(buf, sizeof batch_vec, false,
	    &got), -1);

	/* Item types: only GET/PUT/DEL in a request. */
	memcpy(buf, batch_vec, sizeof batch_vec);
	buf[BV_ITEM1] = 0x02;		/* OBJ_VALUE */
	assert_int_equal(batch_decode_exact(buf, sizeof batch_vec, false,
	    &got), -1);
	buf[BV_ITEM1] = 0x05;		/* OBJ_DEL (with data: allowed) */
	assert_int_equal(batch_decode_exact(buf, sizeof batch_vec, false,
	    &got), 0);
	wire_batch_free(&got);
	buf[BV_ITEM1] = 0x06;		/* OBJ_BATCH: no nesting */
	assert_int_equal(batch_decode_exact(buf, sizeof batch_vec, false,
	    &got), -1);

	/* WIRE_BATCH_MAX sub-requests decode; one more does not. */
	encode_gets(&w, WIRE_BATCH_MAX);
	assert_int_equal(wire_batch_count(w.p, w.len), WIRE_BATCH_MAX);
	assert_int_equal(wire_batch_decode(w.p, w.len, &got), 0);
	assert_int_equal(got.n, WIRE_BATCH_MAX);
	assert_true(got.items[WIRE_BATCH_MAX - 1].o.key.lo ==
	    WIRE_BATCH_MAX - 1);
	wire_batch_free(&got);
	wbuf_free(&w);
	encode_gets(&w, WIRE_BATCH_MAX + 1);
	xcalloc_calls = 0;
	assert_int_equal(wire_batch_decode(w.p, w.len, &got), -1);
	assert_int_equal(xcalloc_calls, 0);
	assert_int_equal(got.n, 0);
	wbuf_free(&w);

	/* Error messages shorter than WIRE_BATCH_MSG_MAX only. */
	memset(it, 0, sizeof it);
	b.n = 1;
	it[0].type = WIRE_ERROR;
	it[0].code = WIRE_E_UNAVAIL;
	memset(it[0].msg, 'x', WIRE_BATCH_MSG_MAX - 1);
	wire_batch_encode(&w, &b);
	assert_int_equal(wire_batch_reply_decode(w.p, w.len, &got), 0);
	assert_int_equal(strlen(got.items[0].msg), WIRE_BATCH_MSG_MAX - 1);
	wire_batch_free(&got);
	wbuf_free(&w);
	wbuf_put_u16(&w, 1);
	wbuf_put_u16(&w, WIRE_ERROR);
	wbuf_put_u32(&w, 4 + 2 + WIRE_BATCH_MSG_MAX);
	wbuf_put_u32(&w, WIRE_E_UNAVAIL);
	wbuf_put_u16(&w, WIRE_BATCH_MSG_MAX);
	for (int i = 0; i < WIRE_BATCH_MSG_MAX; i++)
		wbuf_put_u8(&w, 'x');
	assert_int_equal(wire_batch_reply_decode(w.p, w.len, &got), -1);
	wbuf_free(&w);
}

/* Body kinds of the mutation passes. */
enum body_kind {
	BODY_MEMBERSHIP,
	BODY_ROUTED,
	BODY_ERROR,
	BODY_POINT,
	BODY_OBJ,
	BODY_SUMMARY,
	BODY_WANT,
	BODY_BATCH,
	BODY_BATCH_REPLY,
	BODY_STATS,
};

/*
 * Decode len bytes as kind.  On success, re-encode into out: the encoding
 * is canonical, so any body that decodes must re-encode to its own bytes.
 */
static int
decode_kind(enum body_kind kind, const uint8_t *p, size_t len,
    struct wbuf *out)
{
	struct wire_membership m;
	struct wire_routed rt;
	struct wire_obj o;
	struct wire_summary sum;
	struct wire_want wt;
	struct wire_batch b;
	struct wire_stats st;
	struct geom_point pt;
	uint32_t code;
	char msg[128];
	int dims;

	wbuf_init(out);
	switch (kind) {
	case BODY_MEMBERSHIP:
		if (wire_membership_decode(p, len, &m) != 0) {
			assert_null(m.list);
			return -1;
		}
		wire_membership_encode(out, &m);
		wire_membership_free(&m);
		return 0;
	case BODY_ROUTED:
		if (wire_routed_decode(p, len, &rt) != 0)
			return -1;
		assert_true(rt.inner >= p);
		assert_true(rt.inner + rt.inner_len == p + len);
		wire_routed_encode(out, &rt);
		wbuf_put_bytes(out, rt.inner, rt.inner_len);
		return 0;
	case BODY_ERROR:
		if (wire_error_decode(p, len, &code, msg, sizeof msg) != 0)
			return -1;
		assert_int_equal(strlen(msg), len - 6);
		wire_error_encode(out, code, msg);
		return 0;
	case BODY_POINT:
		if (wire_point_decode(p, len, &dims, &pt) != 0)
			return -1;
		wire_point_encode(out, dims, &pt);
		return 0;
	case BODY_OBJ:
		if (wire_obj_decode(p, len, &o) != 0)
			return -1;
		assert_true(o.data + o.len == p + len);
		wire_obj_encode(out, &o);
		return 0;
	case BODY_SUMMARY:
		if (wire_summary_decode(p, len, &sum) != 0) {
			assert_null(sum.e);
			return -1;
		}
		wire_summary_encode(out, &sum);
		wire_summary_free(&sum);
		return 0;
	case BODY_WANT:
		if (wire_want_decode(p, len, &wt) != 0) {
			assert_null(wt.pos);
			assert_null(wt.wrong);
			return -1;
		}
		wire_want_encode(out, &wt);
		wire_want_free(&wt);
		return 0;
	case BODY_BATCH:
	case BODY_BATCH_REPLY:
		if ((kind == BODY_BATCH ? wire_batch_decode(p, len, &b) :
		    wire_batch_reply_decode(p, len, &b)) != 0) {
			assert_null(b.items);
			return -1;
		}
		assert_true(b.n >= 1 && b.n <= WIRE_BATCH_MAX);
		wire_batch_encode(out, &b);
		wire_batch_free(&b);
		return 0;
	case BODY_STATS:
		if (wire_stats_decode(p, len, &st) != 0) {
			assert_null(st.m);
			return -1;
		}
		wire_stats_encode(out, &st);
		wire_stats_free(&st);
		return 0;
	}
	fail();
	return -1;
}

/* Decode an exact copy; if it decodes, it must re-encode identically. */
static int
mutant_check(enum body_kind kind, const uint8_t *p, size_t len)
{
	uint8_t *exact = dup_exact(p, len);
	struct wbuf out;
	int rc = decode_kind(kind, exact, len, &out);

	if (rc == 0) {
		assert_int_equal(out.len, len);
		if (len)
			assert_memory_equal(out.p, exact, len);
	}
	wbuf_free(&out);
	free(exact);
	return rc;
}

/*
 * Every truncation and every single-bit flip of body either decodes (and
 * then re-encodes to itself) or is rejected.  min_ok is the shortest
 * prefix that may decode (the routed envelope takes any inner length);
 * shorter prefixes must fail.  Returns how many flips decoded.
 */
static size_t
mutation_pass(enum body_kind kind, const uint8_t *body, size_t len,
    size_t min_ok)
{
	uint8_t *buf = dup_exact(body, len);
	size_t accepted = 0;

	assert_int_equal(mutant_check(kind, body, len), 0);
	for (size_t l = 0; l < len; l++) {
		int rc = mutant_check(kind, body, l);

		if (l < min_ok && rc != -1)
			fail_msg("kind %d: truncation to %zu decoded", kind, l);
		if (l >= min_ok && rc != 0)
			fail_msg("kind %d: prefix of %zu rejected", kind, l);
	}
	for (size_t i = 0; i < len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			buf[i] ^= (uint8_t)(1u << bit);
			if (mutant_check(kind, buf, len) == 0)
				accepted++;
			buf[i] ^= (uint8_t)(1u << bit);
		}
	}
	free(buf);
	return accepted;
}

static void
test_mutation_membership(void **state)
{
	size_t ok;

	(void)state;
	ok = mutation_pass(BODY_MEMBERSHIP, membership_vec,
	    sizeof membership_vec, sizeof membership_vec);
	/* Flips in ids, flags, epochs are valid; in lengths mostly not. */
	assert_true(ok > 0 && ok < 8 * sizeof membership_vec);
}

static void
test_mutation_routed(void **state)
{
	size_t ok;

	(void)state;
	ok = mutation_pass(BODY_ROUTED, routed_vec + WIRE_HEADER_LEN,
	    sizeof routed_vec - WIRE_HEADER_LEN, RV_ENVELOPE_LEN);
	assert_true(ok > 0 && ok < 8 * (sizeof routed_vec - WIRE_HEADER_LEN));
}

static void
test_mutation_error(void **state)
{
	struct wbuf w;
	size_t ok;

	(void)state;
	wbuf_init(&w);
	wire_error_encode(&w, WIRE_E_BUSY, "join under way");
	ok = mutation_pass(BODY_ERROR, w.p, w.len, w.len);
	assert_true(ok > 0 && ok < 8 * w.len);
	wbuf_free(&w);
}

static void
test_mutation_point(void **state)
{
	struct wbuf w;
	struct geom_point p;
	size_t ok;

	(void)state;
	memset(&p, 0, sizeof p);
	p.c[0] = 0x80000001u;
	p.c[1] = 42;
	wbuf_init(&w);
	wire_point_encode(&w, 2, &p);
	ok = mutation_pass(BODY_POINT, w.p, w.len, w.len);
	/* All 64 coordinate bits decode; every flip of dims changes length. */
	assert_int_equal(ok, 64);
	wbuf_free(&w);
}

static void
test_mutation_obj(void **state)
{
	size_t ok;

	(void)state;
	ok = mutation_pass(BODY_OBJ, obj_vec, sizeof obj_vec, sizeof obj_vec);
	assert_true(ok > 0 && ok < 8 * sizeof obj_vec);
}

static void
test_mutation_summary(void **state)
{
	struct wire_summary_entry e[2];
	struct wire_summary s;
	struct wbuf w;
	size_t ok;

	(void)state;
	example_summary(&s, e, 2, 2);
	wbuf_init(&w);
	wire_summary_encode(&w, &s);
	ok = mutation_pass(BODY_SUMMARY, w.p, w.len, w.len);
	assert_true(ok > 0 && ok < 8 * w.len);
	wbuf_free(&w);
}

static void
test_mutation_want(void **state)
{
	/* Values too big to pass for counts, so no flip shifts the lists. */
	uint32_t pos[3] = { 0x11111111, 0x22222222, 0x33333333 };
	uint32_t wrong[2] = { 0x44444444, 0x55555555 };
	struct wire_want wt = { 3, pos, 2, wrong };
	struct wbuf w;
	size_t ok;

	(void)state;
	wbuf_init(&w);
	wire_want_encode(&w, &wt);
	ok = mutation_pass(BODY_WANT, w.p, w.len, w.len);
	/* Every bit of the five values decodes; no count flip does. */
	assert_int_equal(ok, 5 * 32);
	wbuf_free(&w);
}

static void
test_mutation_batch(void **state)
{
	size_t ok;

	(void)state;
	ok = mutation_pass(BODY_BATCH, batch_vec, sizeof batch_vec,
	    sizeof batch_vec);
	assert_true(ok > 0 && ok < 8 * sizeof batch_vec);
	ok = mutation_pass(BODY_BATCH_REPLY, batch_reply_vec,
	    sizeof batch_reply_vec, sizeof batch_reply_vec);
	assert_true(ok > 0 && ok < 8 * sizeof batch_reply_vec);
}

/* A counter, a labelled gauge and a histogram. */
static void
example_stats(struct wire_stats *s, struct wire_metric *m)
{
	memset(m, 0, 3 * sizeof *m);
	strcpy(m[0].name, "canfs_requests_total");
	strcpy(m[0].label_key, "type");
	strcpy(m[0].label_value, "get");
	m[0].kind = WIRE_STATS_COUNTER;
	m[0].count = 12345;
	strcpy(m[1].name, "canfs_zone_volume");
	m[1].kind = WIRE_STATS_GAUGE;
	m[1].value = 0.125;
	strcpy(m[2].name, "canfs_request_seconds");
	strcpy(m[2].label_key, "type");
	strcpy(m[2].label_value, "put");
	m[2].kind = WIRE_STATS_HISTOGRAM;
	m[2].count = 10;
	m[2].value = 0.5;
	m[2].nb = 3;
	m[2].le[0] = 0.001;
	m[2].le[1] = 0.01;
	m[2].le[2] = 0.1;
	m[2].cum[0] = 2;
	m[2].cum[1] = 7;
	m[2].cum[2] = 9;
	s->n = 3;
	s->m = m;
}

/* STATS body: round trip, lookups, and each rule the decoder enforces. */
static void
test_stats(void **state)
{
	struct wire_metric m[3];
	struct wire_stats s, got;
	const struct wire_metric *f;
	struct wbuf w;

	(void)state;
	example_stats(&s, m);
	wbuf_init(&w);
	wire_stats_encode(&w, &s);
	assert_int_equal(wire_stats_decode(w.p, w.len, &got), 0);
	assert_int_equal(got.n, 3);
	f = wire_stats_find(&got, "canfs_requests_total", "get");
	assert_non_null(f);
	assert_true(f->count == 12345);
	assert_null(wire_stats_find(&got, "canfs_requests_total", "put"));
	f = wire_stats_find(&got, "canfs_zone_volume", "");
	assert_non_null(f);
	assert_true(f->value == 0.125);
	f = wire_stats_find(&got, "canfs_request_seconds", "put");
	assert_non_null(f);
	assert_int_equal(f->nb, 3);
	assert_true(f->le[1] == 0.01 && f->cum[2] == 9 && f->value == 0.5);
	wire_stats_free(&got);
	assert_null(got.m);
	wbuf_free(&w);

	/* Each broken rule is refused, with nothing left allocated. */
	for (int bad = 0; bad < 9; bad++) {
		example_stats(&s, m);
		switch (bad) {
		case 0: strcpy(m[0].name, "9lives"); break;
		case 1: strcpy(m[0].name, "a-b"); break;
		case 2: strcpy(m[1].label_value, "x"); break;
		case 3: strcpy(m[0].label_value, "say \"hi\""); break;
		case 4: m[1].value = NAN; break;
		case 5: m[2].le[1] = 0.001; break;
		case 6: m[2].cum[1] = 1; break;
		case 7: m[2].cum[2] = 11; break;
		case 8: m[0].kind = 3; break;
		}
		wbuf_init(&w);
		wire_stats_encode(&w, &s);
		assert_int_equal(wire_stats_decode(w.p, w.len, &got), -1);
		assert_null(got.m);
		assert_int_equal(got.n, 0);
		wbuf_free(&w);
	}
	/* A count beyond the bytes: refused before allocating. */
	wbuf_init(&w);
	wbuf_put_u32(&w, 2);
	wbuf_put_u32(&w, 0);
	xcalloc_calls = 0;
	assert_int_equal(wire_stats_decode(w.p, w.len, &got), -1);
	assert_int_equal(xcalloc_calls, 0);
	wbuf_free(&w);
}

static void
test_mutation_stats(void **state)
{
	struct wire_metric m[3];
	struct wire_stats s;
	struct wbuf w;
	size_t ok;

	(void)state;
	example_stats(&s, m);
	wbuf_init(&w);
	wire_stats_encode(&w, &s);
	ok = mutation_pass(BODY_STATS, w.p, w.len, w.len);
	assert_true(ok > 0 && ok < 8 * w.len);
	wbuf_free(&w);
}

/* Ranges encode, decode and clip. */
static void
test_range(void **state)
{
	uint32_t off, len, pos, n;
	struct wbuf w;

	(void)state;
	wbuf_init(&w);
	wire_range_encode(&w, 4096, 512);
	assert_int_equal(w.len, WIRE_RANGE_LEN);
	assert_int_equal(wire_range_decode(w.p, (uint32_t)w.len, &off, &len),
	    0);
	assert_int_equal(off, 4096);
	assert_int_equal(len, 512);
	assert_int_equal(wire_range_decode(w.p, 7, &off, &len), -1);
	wbuf_put_u8(&w, 0);
	assert_int_equal(wire_range_decode(w.p, 9, &off, &len), -1);
	wbuf_free(&w);
	/* Inside, across the end, past the end, empty value. */
	wire_range_clip(10, 5, 100, &pos, &n);
	assert_int_equal(pos, 10);
	assert_int_equal(n, 5);
	wire_range_clip(98, 5, 100, &pos, &n);
	assert_int_equal(pos, 98);
	assert_int_equal(n, 2);
	wire_range_clip(200, 5, 100, &pos, &n);
	assert_int_equal(pos, 100);
	assert_int_equal(n, 0);
	wire_range_clip(0, 5, 0, &pos, &n);
	assert_int_equal(n, 0);
	wire_range_clip(UINT32_MAX, UINT32_MAX, 100, &pos, &n);
	assert_int_equal(pos, 100);
	assert_int_equal(n, 0);
	wire_range_clip(0, UINT32_MAX, 100, &pos, &n);
	assert_int_equal(pos, 0);
	assert_int_equal(n, 100);
}

/* A patch of one range, as kv_patch() builds it. */
static void
mkpatch(struct wbuf *w, uint32_t off, const char *bytes, size_t n)
{
	wbuf_init(w);
	wire_patch_begin(w, 1);
	wire_patch_range(w, off, bytes, (uint32_t)n);
}

/* Patches check and apply; bad ones are refused. */
static void
test_patch(void **state)
{
	uint32_t end, olen;
	uint8_t *out;
	struct wbuf w;

	(void)state;
	/* Inside the base: the bytes around are kept. */
	mkpatch(&w, 2, "XY", 2);
	assert_int_equal(wire_patch_check(w.p, (uint32_t)w.len, &end), 0);
	assert_int_equal(end, 4);
	assert_int_equal(wire_patch_apply((const uint8_t *)"abcdef", 6, w.p,
	    (uint32_t)w.len, &out, &olen), 0);
	assert_int_equal(olen, 6);
	assert_memory_equal(out, "abXYef", 6);
	free(out);
	wbuf_free(&w);

	/* Past the end: zeros fill the gap, the value grows. */
	mkpatch(&w, 5, "Z", 1);
	assert_int_equal(wire_patch_apply((const uint8_t *)"ab", 2, w.p,
	    (uint32_t)w.len, &out, &olen), 0);
	assert_int_equal(olen, 6);
	assert_memory_equal(out, "ab\0\0\0Z", 6);
	free(out);
	/* Onto nothing (an absent value). */
	assert_int_equal(wire_patch_apply(NULL, 0, w.p, (uint32_t)w.len, &out,
	    &olen), 0);
	assert_int_equal(olen, 6);
	assert_memory_equal(out, "\0\0\0\0\0Z", 6);
	free(out);
	wbuf_free(&w);

	/* Several ranges, in order: a later one wins where they overlap. */
	wbuf_init(&w);
	wire_patch_begin(&w, 3);
	wire_patch_range(&w, 0, "AAAA", 4);
	wire_patch_range(&w, 8, "BB", 2);
	wire_patch_range(&w, 2, "C", 1);
	assert_int_equal(wire_patch_check(w.p, (uint32_t)w.len, &end), 0);
	assert_int_equal(end, 10);
	assert_int_equal(wire_patch_apply((const uint8_t *)"0123456789xy",
	    12, w.p, (uint32_t)w.len, &out, &olen), 0);
	assert_int_equal(olen, 12);
	assert_memory_equal(out, "AACA4567BBxy", 12);
	free(out);
	/* Every truncation of it is refused (the data must be exact). */
	for (size_t cut = 0; cut < w.len; cut++) {
		assert_int_equal(wire_patch_check(w.p, (uint32_t)cut, NULL), -1);
		assert_int_equal(wire_patch_apply(NULL, 0, w.p, (uint32_t)cut,
		    &out, &olen), -1);
	}
	/* A byte too many, too. */
	wbuf_put_u8(&w, 0);
	assert_int_equal(wire_patch_check(w.p, (uint32_t)w.len, NULL), -1);
	wbuf_free(&w);

	/* An empty range at 0 of nothing: an empty value, never NULL. */
	mkpatch(&w, 0, "", 0);
	assert_int_equal(wire_patch_apply(NULL, 0, w.p, (uint32_t)w.len, &out,
	    &olen), 0);
	assert_non_null(out);
	assert_int_equal(olen, 0);
	free(out);
	wbuf_free(&w);

	/* No ranges, and more than allowed. */
	wbuf_init(&w);
	wire_patch_begin(&w, 0);
	assert_int_equal(wire_patch_check(w.p, (uint32_t)w.len, NULL), -1);
	wbuf_free(&w);
	wbuf_init(&w);
	wire_patch_begin(&w, WIRE_PATCH_RANGES + 1);
	for (int i = 0; i <= WIRE_PATCH_RANGES; i++)
		wire_patch_range(&w, (uint32_t)i, "x", 1);
	assert_int_equal(wire_patch_check(w.p, (uint32_t)w.len, NULL), -1);
	wbuf_free(&w);

	/* Reaching past the value limit, and an offset that would wrap. */
	mkpatch(&w, WIRE_MAX_VALUE, "A", 1);
	assert_int_equal(wire_patch_check(w.p, (uint32_t)w.len, NULL), -1);
	wbuf_free(&w);
	mkpatch(&w, UINT32_MAX, "A", 1);
	assert_int_equal(wire_patch_check(w.p, (uint32_t)w.len, NULL), -1);
	wbuf_free(&w);
	mkpatch(&w, WIRE_MAX_VALUE - 1, "A", 1);
	assert_int_equal(wire_patch_check(w.p, (uint32_t)w.len, &end), 0);
	assert_int_equal(end, WIRE_MAX_VALUE);
	wbuf_free(&w);
	/* A length that claims more bytes than there are. */
	wbuf_init(&w);
	wire_patch_begin(&w, 1);
	wbuf_put_u32(&w, 0);
	wbuf_put_u32(&w, 0xffffffffu);
	assert_int_equal(wire_patch_check(w.p, (uint32_t)w.len, NULL), -1);
	wbuf_free(&w);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wbuf_rbuf_roundtrip),
		cmocka_unit_test(test_wbuf_growth),
		cmocka_unit_test(test_rbuf_sticky),
		cmocka_unit_test(test_rbuf_str),
		cmocka_unit_test(test_wbuf_str_cap),
		cmocka_unit_test(test_header),
		cmocka_unit_test(test_membership_vector),
		cmocka_unit_test(test_routed_vector),
		cmocka_unit_test(test_membership_lengths),
		cmocka_unit_test(test_membership_list_limit),
		cmocka_unit_test(test_membership_zones),
		cmocka_unit_test(test_membership_dims),
		cmocka_unit_test(test_membership_addr),
		cmocka_unit_test(test_routed_rejects),
		cmocka_unit_test(test_error_point),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_obj),
		cmocka_unit_test(test_summary),
		cmocka_unit_test(test_want),
		cmocka_unit_test(test_batch),
		cmocka_unit_test(test_mutation_membership),
		cmocka_unit_test(test_mutation_routed),
		cmocka_unit_test(test_mutation_error),
		cmocka_unit_test(test_mutation_point),
		cmocka_unit_test(test_mutation_obj),
		cmocka_unit_test(test_mutation_summary),
		cmocka_unit_test(test_mutation_want),
		cmocka_unit_test(test_mutation_batch),
		cmocka_unit_test(test_stats),
		cmocka_unit_test(test_mutation_stats),
		cmocka_unit_test(test_patch),
		cmocka_unit_test(test_range),
	};

	return cmocka_run_group_tests_name("wire", tests, NULL, NULL);
}
