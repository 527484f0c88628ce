/*
 * test_secure.c: the cluster secret, the handshake and the records.
 *
 * Everything runs in memory: two sessions are driven against each other
 * by handing each one's messages to the other.  Covered: a handshake that
 * succeeds in either order, one that fails on both sides with a wrong key,
 * tampered and reflected handshake messages, an unusable ephemeral key,
 * fresh nonces and keys per session, a plaintext frame in place of a
 * HELLO; records that round-trip, and records that must not open: any
 * single bit flipped, replayed, reordered, truncated, from another
 * session, or with an out-of-bounds length; and the key file rules
 * (0600, never overwritten, hex or raw).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sys/stat.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "secure.h"
#include "wire.h"

/* Two sessions of one connection: a dialled b. */
struct pair {
	struct secure_session *a, *b;
	uint8_t hello_a[SECURE_HELLO_LEN], hello_b[SECURE_HELLO_LEN];
	uint8_t auth_a[SECURE_HS_MSG_MAX], auth_b[SECURE_HS_MSG_MAX];
};

static const struct secure_key key1 = { {
	0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
	0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10,
	0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18,
	0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x20,
} };

/* key1 with its last bit flipped: as close as a wrong key gets. */
static struct secure_key
key_other(void)
{
	struct secure_key k = key1;

	k.k[SECURE_KEY_LEN - 1] ^= 1;
	return k;
}

/* Start both sides and exchange HELLOs; each produces its AUTH. */
static void
pair_hello(struct pair *p, const struct secure_key *ka,
    const struct secure_key *kb)
{
	size_t n;

	p->a = secure_session_new(ka, SECURE_INITIATOR, p->hello_a);
	p->b = secure_session_new(kb, SECURE_RESPONDER, p->hello_b);
	assert_int_equal(secure_hs_need(p->a), SECURE_HELLO_LEN);
	assert_int_equal(secure_state(p->b), SECURE_WANT_HELLO);
	assert_int_equal(secure_hs_consume(p->a, p->hello_b, SECURE_HELLO_LEN,
	    p->auth_a, &n), 0);
	assert_int_equal(n, SECURE_AUTH_LEN);
	assert_int_equal(secure_hs_consume(p->b, p->hello_a, SECURE_HELLO_LEN,
	    p->auth_b, &n), 0);
	assert_int_equal(n, SECURE_AUTH_LEN);
	assert_int_equal(secure_hs_need(p->a), SECURE_AUTH_LEN);
}

/* A full, successful handshake between a and b under key1. */
static void
pair_open(struct pair *p)
{
	size_t n;

	pair_hello(p, &key1, &key1);
	assert_int_equal(secure_hs_consume(p->a, p->auth_b, SECURE_AUTH_LEN,
	    NULL, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(secure_hs_consume(p->b, p->auth_a, SECURE_AUTH_LEN,
	    NULL, &n), 0);
	assert_int_equal(secure_state(p->a), SECURE_ESTABLISHED);
	assert_int_equal(secure_state(p->b), SECURE_ESTABLISHED);
	assert_int_equal(secure_hs_need(p->a), 0);
}

static void
pair_free(struct pair *p)
{
	secure_session_free(p->a);
	secure_session_free(p->b);
}

/* Seal len bytes of a pattern from s; returns the record (malloc'd). */
static uint8_t *
seal(struct secure_session *s, size_t len, uint8_t seed, size_t *rec_len)
{
	uint8_t *plain = malloc(len), *rec;

	for (size_t i = 0; i < len; i++)
		plain[i] = (uint8_t)(seed + i * 7);
	*rec_len = secure_sealed_len(len);
	rec = malloc(*rec_len);
	assert_int_equal(secure_seal(s, plain, len, rec), 0);
	free(plain);
	return rec;
}

/* Open rec on s and check it holds the pattern seal() made. */
static void
open_ok(struct secure_session *s, const uint8_t *rec, size_t rec_len,
    size_t len, uint8_t seed)
{
	uint8_t *out = malloc(SECURE_RECORD_MAX);
	size_t n = 0;

	assert_int_equal(secure_record_size(s, rec), rec_len);
	assert_int_equal(secure_open(s, rec, rec_len, out, &n), 0);
	assert_int_equal(n, len);
	for (size_t i = 0; i < len; i++)
		assert_int_equal(out[i], (uint8_t)(seed + i * 7));
	free(out);
}

/* rec must not open on s, which is then FAILED. */
static void
open_fails(struct secure_session *s, const uint8_t *rec, size_t rec_len)
{
	uint8_t *out = malloc(SECURE_RECORD_MAX);
	size_t n = 12345;

	assert_int_equal(secure_open(s, rec, rec_len, out, &n), -1);
	assert_int_equal(n, 12345);
	assert_int_equal(secure_state(s), SECURE_FAILED);
	assert_true(secure_error(s)[0] != '\0');
	free(out);
}

/* The handshake succeeds; records flow both ways, of every size class. */
static void
test_handshake_ok(void **state)
{
	static const size_t sizes[] = { 1, 24, 1000, SECURE_RECORD_MAX };
	struct pair p;

	(void)state;
	pair_open(&p);
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		size_t rl;
		uint8_t *r = seal(p.a, sizes[i], (uint8_t)i, &rl);

		assert_int_equal(rl, SECURE_RECORD_HDR + sizes[i] +
		    SECURE_ABYTES);
		open_ok(p.b, r, rl, sizes[i], (uint8_t)i);
		free(r);
		r = seal(p.b, sizes[i], (uint8_t)(i + 100), &rl);
		open_ok(p.a, r, rl, sizes[i], (uint8_t)(i + 100));
		free(r);
	}
	pair_free(&p);
}

/* The responder may finish first: order of the two AUTHs is free. */
static void
test_handshake_responder_first(void **state)
{
	struct pair p;
	size_t n, rl;
	uint8_t *r;

	(void)state;
	pair_hello(&p, &key1, &key1);
	assert_int_equal(secure_hs_consume(p.b, p.auth_a, SECURE_AUTH_LEN,
	    NULL, &n), 0);
	r = seal(p.b, 50, 9, &rl); /* b may send before a is done */
	assert_int_equal(secure_hs_consume(p.a, p.auth_b, SECURE_AUTH_LEN,
	    NULL, &n), 0);
	open_ok(p.a, r, rl, 50, 9);
	free(r);
	pair_free(&p);
}

/* A wrong key fails on both sides, each with a clear reason. */
static void
test_handshake_wrong_key(void **state)
{
	struct secure_key other = key_other();
	struct pair p;
	size_t n;
	uint8_t rec[64] = { 0 };

	(void)state;
	pair_hello(&p, &key1, &other);
	assert_int_equal(secure_hs_consume(p.a, p.auth_b, SECURE_AUTH_LEN,
	    NULL, &n), -1);
	assert_int_equal(secure_hs_consume(p.b, p.auth_a, SECURE_AUTH_LEN,
	    NULL, &n), -1);
	assert_int_equal(secure_state(p.a), SECURE_FAILED);
	assert_int_equal(secure_state(p.b), SECURE_FAILED);
	assert_non_null(strstr(secure_error(p.a), "secret"));
	assert_non_null(strstr(secure_error(p.b), "secret"));
	/* Nothing can be sealed or opened on a failed session. */
	assert_int_equal(secure_seal(p.a, rec, 10, rec), -1);
	assert_int_equal(secure_record_size(p.b, rec), 0);
	assert_int_equal(secure_hs_need(p.a), 0);
	pair_free(&p);
}

/* Any bit flipped in a HELLO or an AUTH fails the handshake. */
static void
test_handshake_tampered(void **state)
{
	(void)state;
	for (size_t bit = 0; bit < 8 * (SECURE_HELLO_LEN + SECURE_AUTH_LEN);
	    bit++) {
		struct secure_session *a, *b;
		uint8_t ha[SECURE_HELLO_LEN], hb[SECURE_HELLO_LEN];
		uint8_t aa[SECURE_HS_MSG_MAX], ab[SECURE_HS_MSG_MAX];
		size_t n, byte = bit / 8;
		int ra, rb;

		a = secure_session_new(&key1, SECURE_INITIATOR, ha);
		b = secure_session_new(&key1, SECURE_RESPONDER, hb);
		/* The attacker alters a's messages on their way to b. */
		if (byte < SECURE_HELLO_LEN)
			ha[byte] ^= (uint8_t)(1u << (bit % 8));
		ra = secure_hs_consume(a, hb, sizeof hb, aa, &n);
		rb = secure_hs_consume(b, ha, sizeof ha, ab, &n);
		assert_int_equal(ra, 0);
		if (byte >= SECURE_HELLO_LEN)
			aa[byte - SECURE_HELLO_LEN] ^= (uint8_t)(1u << (bit % 8));
		if (rb == 0) {
			/* b took the HELLO; the transcripts now differ. */
			rb = secure_hs_consume(b, aa, SECURE_AUTH_LEN, NULL,
			    &n);
			ra = secure_hs_consume(a, ab, SECURE_AUTH_LEN, NULL,
			    &n);
			assert_int_equal(rb, -1);
			if (byte < SECURE_HELLO_LEN)
				assert_int_equal(ra, -1);
		}
		assert_int_equal(secure_state(b), SECURE_FAILED);
		secure_session_free(a);
		secure_session_free(b);
	}
}

/* An unusable ephemeral public key (here: zero, a low-order point). */
static void
test_handshake_bad_kx_key(void **state)
{
	struct secure_session *a, *b;
	uint8_t ha[SECURE_HELLO_LEN], hb[SECURE_HELLO_LEN];
	uint8_t aa[SECURE_HS_MSG_MAX];
	size_t n;

	(void)state;
	a = secure_session_new(&key1, SECURE_INITIATOR, ha);
	b = secure_session_new(&key1, SECURE_RESPONDER, hb);
	memset(hb + SECURE_HELLO_LEN - 32, 0, 32);
	assert_int_equal(secure_hs_consume(a, hb, sizeof hb, aa, &n), -1);
	assert_int_equal(n, 0);
	assert_non_null(strstr(secure_error(a), "key-exchange"));
	secure_session_free(a);
	secure_session_free(b);
}

/* Every session has its own ephemeral key and nonce in its HELLO. */
static void
test_handshake_fresh(void **state)
{
	uint8_t h1[SECURE_HELLO_LEN], h2[SECURE_HELLO_LEN];
	struct secure_session *a, *b;

	(void)state;
	a = secure_session_new(&key1, SECURE_INITIATOR, h1);
	b = secure_session_new(&key1, SECURE_INITIATOR, h2);
	assert_memory_equal(h1, h2, 8); /* magic, version, role, zero */
	assert_memory_not_equal(h1 + 8, h2 + 8, 32);
	assert_memory_not_equal(h1 + 40, h2 + 40, 32);
	secure_session_free(a);
	secure_session_free(b);
}

/* A session's own HELLO or AUTH reflected back to it is refused. */
static void
test_handshake_reflected(void **state)
{
	struct secure_session *a, *b;
	uint8_t ha[SECURE_HELLO_LEN], hb[SECURE_HELLO_LEN];
	uint8_t aa[SECURE_HS_MSG_MAX];
	size_t n;

	(void)state;
	a = secure_session_new(&key1, SECURE_INITIATOR, ha);
	assert_int_equal(secure_hs_consume(a, ha, sizeof ha, aa, &n), -1);
	assert_non_null(strstr(secure_error(a), "role"));
	secure_session_free(a);

	/* Same role byte forged, nonce echoed: still refused. */
	a = secure_session_new(&key1, SECURE_INITIATOR, ha);
	ha[5] = SECURE_RESPONDER;
	assert_int_equal(secure_hs_consume(a, ha, sizeof ha, aa, &n), -1);
	assert_non_null(strstr(secure_error(a), "nonce"));
	secure_session_free(a);

	/* a's AUTH handed back to a: keys are bound to the direction. */
	a = secure_session_new(&key1, SECURE_INITIATOR, ha);
	b = secure_session_new(&key1, SECURE_RESPONDER, hb);
	assert_int_equal(secure_hs_consume(a, hb, sizeof hb, aa, &n), 0);
	assert_int_equal(secure_hs_consume(a, aa, SECURE_AUTH_LEN, NULL, &n),
	    -1);
	secure_session_free(a);
	secure_session_free(b);
}

/* A plaintext canfs frame instead of a HELLO: named as such, early. */
static void
test_handshake_plaintext_peer(void **state)
{
	struct wbuf w;
	struct secure_session *s;
	uint8_t hello[SECURE_HELLO_LEN], out[SECURE_HS_MSG_MAX];
	uint8_t buf[SECURE_HELLO_LEN] = { 0 };
	size_t n;

	(void)state;
	wbuf_init(&w);
	wire_frame_begin(&w, WIRE_STATUS_REQ, 0, 1);
	wire_frame_end(&w);
	assert_false(secure_is_hello(w.p, w.len));
	assert_true(secure_is_hello(hello, 0) == false);

	s = secure_session_new(&key1, SECURE_RESPONDER, hello);
	assert_true(secure_is_hello(hello, sizeof hello));
	assert_int_equal(secure_hs_peek(s, w.p, 3), 0);	/* too few: wait */
	assert_int_equal(secure_hs_peek(s, hello, 8), 0); /* looks fine */
	assert_int_equal(secure_hs_peek(s, w.p, w.len), -1);
	assert_non_null(strstr(secure_error(s), "plaintext"));
	secure_session_free(s);

	s = secure_session_new(&key1, SECURE_RESPONDER, hello);
	memcpy(buf, w.p, w.len);
	assert_int_equal(secure_hs_consume(s, buf, sizeof buf, out, &n), -1);
	assert_non_null(strstr(secure_error(s), "plaintext"));
	secure_session_free(s);

	/* The wrong length is refused, never read past. */
	s = secure_session_new(&key1, SECURE_RESPONDER, hello);
	assert_int_equal(secure_hs_consume(s, buf, 10, out, &n), -1);
	secure_session_free(s);
	wbuf_free(&w);
}

/* Every single-bit flip anywhere in a record makes it fail to open. */
static void
test_record_bitflip(void **state)
{
	struct pair p;
	size_t rl;
	uint8_t *orig;

	(void)state;
	pair_open(&p);
	orig = seal(p.a, 40, 3, &rl);
	pair_free(&p);
	for (size_t bit = 0; bit < 8 * rl; bit++) {
		uint8_t *r;

		/* A fresh pair each time: a failed session stays failed. */
		pair_open(&p);
		free(orig);
		orig = seal(p.a, 40, 3, &rl);
		r = malloc(rl);
		memcpy(r, orig, rl);
		r[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		open_fails(p.b, r, rl);
		free(r);
		pair_free(&p);
	}
	free(orig);
}

/* A record opened once does not open again. */
static void
test_record_replay(void **state)
{
	struct pair p;
	size_t rl;
	uint8_t *r;

	(void)state;
	pair_open(&p);
	r = seal(p.a, 100, 1, &rl);
	open_ok(p.b, r, rl, 100, 1);
	open_fails(p.b, r, rl);
	free(r);
	pair_free(&p);
}

/* Records must open in the order they were sealed. */
static void
test_record_reorder(void **state)
{
	struct pair p;
	size_t l1, l2;
	uint8_t *r1, *r2;

	(void)state;
	pair_open(&p);
	r1 = seal(p.a, 30, 1, &l1);
	r2 = seal(p.a, 30, 2, &l2);
	open_fails(p.b, r2, l2);
	pair_free(&p);

	free(r1);
	free(r2);

	/* Dropping a record from the middle is caught too. */
	pair_open(&p);
	r1 = seal(p.a, 30, 1, &l1);
	free(seal(p.a, 30, 2, &l2)); /* lost on the way */
	r2 = seal(p.a, 30, 3, &l2);
	open_ok(p.b, r1, l1, 30, 1);
	open_fails(p.b, r2, l2);
	pair_free(&p);
	free(r1);
	free(r2);
}

/* A record sealed in one session does not open in another. */
static void
test_record_other_session(void **state)
{
	struct pair p, q;
	size_t rl;
	uint8_t *r, *s;

	(void)state;
	pair_open(&p);
	pair_open(&q);
	r = seal(p.a, 64, 5, &rl);
	s = seal(q.a, 64, 5, &rl);
	assert_memory_not_equal(r, s, rl); /* fresh keys every session */
	open_fails(q.b, r, rl);
	free(r);
	free(s);
	pair_free(&p);
	pair_free(&q);
}

/* Every truncation fails: with the prefix kept or fixed up to match. */
static void
test_record_truncated(void **state)
{
	struct pair p;
	size_t rl;
	uint8_t *r;

	(void)state;
	for (size_t cut = 0; cut < secure_sealed_len(20); cut++) {
		pair_open(&p);
		r = seal(p.a, 20, 7, &rl);
		open_fails(p.b, r, cut);
		pair_free(&p);
		free(r);
		if (cut <= SECURE_RECORD_HDR)
			continue;
		pair_open(&p);
		r = seal(p.a, 20, 7, &rl);
		r[0] = (uint8_t)(cut - SECURE_RECORD_HDR);
		open_fails(p.b, r, cut);
		pair_free(&p);
		free(r);
	}
}

/* Length prefixes out of bounds are refused before any buffering. */
static void
test_record_length_bounds(void **state)
{
	static const struct {
		uint32_t n;
		size_t want;
	} v[] = {
		{ 0, 0 },
		{ SECURE_ABYTES, 0 },	/* an empty record: never sealed */
		{ SECURE_ABYTES + 1, SECURE_RECORD_HDR + SECURE_ABYTES + 1 },
		{ SECURE_RECORD_MAX + SECURE_ABYTES, SECURE_RECORD_WIRE_MAX },
		{ SECURE_RECORD_MAX + SECURE_ABYTES + 1, 0 },
		{ 0x7fffffff, 0 },
		{ 0xffffffff, 0 },
	};
	uint8_t big[SECURE_RECORD_MAX + 1] = { 0 };
	uint8_t out[64];
	struct pair p;

	(void)state;
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		uint8_t hdr[4] = { (uint8_t)v[i].n, (uint8_t)(v[i].n >> 8),
		    (uint8_t)(v[i].n >> 16), (uint8_t)(v[i].n >> 24) };

		pair_open(&p);
		assert_int_equal(secure_record_size(p.b, hdr), v[i].want);
		assert_int_equal(secure_state(p.b), v[i].want == 0 ?
		    SECURE_FAILED : SECURE_ESTABLISHED);
		pair_free(&p);
	}
	/* The sealing side refuses what the reader would refuse. */
	pair_open(&p);
	assert_int_equal(secure_seal(p.a, big, 0, out), -1);
	assert_int_equal(secure_seal(p.a, big, sizeof big, out), -1);
	pair_free(&p);
}

/* Nothing is sealed or opened before the handshake is done. */
static void
test_record_before_handshake(void **state)
{
	uint8_t hello[SECURE_HELLO_LEN], buf[64] = { 30 };
	struct secure_session *s;

	(void)state;
	s = secure_session_new(&key1, SECURE_INITIATOR, hello);
	assert_int_equal(secure_seal(s, buf, 10, buf), -1);
	assert_int_equal(secure_record_size(s, buf), 0);
	assert_int_equal(secure_state(s), SECURE_FAILED);
	secure_session_free(s);
}

/* A private temp dir for key files. */
static char *
tmpdir(void)
{
	char *d = strdup("/tmp/test_secure.XXXXXX");

	assert_non_null(mkdtemp(d));
	return d;
}

/* Write bytes to path with mode. */
static void
write_file(const char *path, const void *p, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

/* Key files: created 0600, never overwritten, loaded back. */
static void
test_key_create_load(void **state)
{
	char *d = tmpdir(), path[256], err[512];
	struct secure_key k, k2;
	struct stat st;

	(void)state;
	snprintf(path, sizeof path, "%s/secret", d);
	assert_int_equal(secure_key_create(path, err, sizeof err), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_size, 65); /* 64 hex digits, newline */
	assert_int_equal(secure_key_load(path, &k, err, sizeof err), 0);
	assert_int_equal(secure_key_create(path, err, sizeof err), -1);
	assert_non_null(strstr(err, "never overwritten"));
	assert_int_equal(secure_key_load(path, &k2, err, sizeof err), 0);
	assert_memory_equal(k.k, k2.k, SECURE_KEY_LEN); /* unchanged */

	/* Group- or world-accessible: refused with a clear error. */
	chmod(path, 0640);
	assert_int_equal(secure_key_load(path, &k2, err, sizeof err), -1);
	assert_non_null(strstr(err, "group or others"));
	chmod(path, 0604);
	assert_int_equal(secure_key_load(path, &k2, err, sizeof err), -1);
	unlink(path);
	assert_int_equal(secure_key_load(path, &k2, err, sizeof err), -1);
	assert_non_null(strstr(err, "cannot open"));
	rmdir(d);
	free(d);
}

/* Key file contents: raw 32 bytes or hex with white space; not else. */
static void
test_key_formats(void **state)
{
	static const char hex[] = "  0102030405060708090a0b0c0d0e0f10"
	    "1112131415161718191A1B1C1D1E1F20\r\n";
	static const char *bad[] = {
		"", "0102", "zz02030405060708090a0b0c0d0e0f10"
		"1112131415161718191a1b1c1d1e1f20\n",
		"0102030405060708090a0b0c0d0e0f10"
		"1112131415161718191a1b1c1d1e1f2021\n",
	};
	char *d = tmpdir(), path[256], err[512];
	struct secure_key k;

	(void)state;
	snprintf(path, sizeof path, "%s/k", d);
	write_file(path, hex, strlen(hex), 0600);
	assert_int_equal(secure_key_load(path, &k, err, sizeof err), 0);
	assert_memory_equal(k.k, key1.k, SECURE_KEY_LEN);
	write_file(path, key1.k, SECURE_KEY_LEN, 0400);
	memset(&k, 0, sizeof k);
	assert_int_equal(secure_key_load(path, &k, err, sizeof err), 0);
	assert_memory_equal(k.k, key1.k, SECURE_KEY_LEN);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		unlink(path);
		write_file(path, bad[i], strlen(bad[i]), 0600);
		assert_int_equal(secure_key_load(path, &k, err, sizeof err),
		    -1);
		assert_non_null(strstr(err, "holds no key"));
	}
	unlink(path);
	/* A directory is not a key file. */
	assert_int_equal(secure_key_load(d, &k, err, sizeof err), -1);
	rmdir(d);
	free(d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_handshake_ok),
		cmocka_unit_test(test_handshake_responder_first),
		cmocka_unit_test(test_handshake_wrong_key),
		cmocka_unit_test(test_handshake_tampered),
		cmocka_unit_test(test_handshake_reflected),
		cmocka_unit_test(test_handshake_bad_kx_key),
		cmocka_unit_test(test_handshake_fresh),
		cmocka_unit_test(test_handshake_plaintext_peer),
		cmocka_unit_test(test_record_bitflip),
		cmocka_unit_test(test_record_replay),
		cmocka_unit_test(test_record_reorder),
		cmocka_unit_test(test_record_other_session),
		cmocka_unit_test(test_record_truncated),
		cmocka_unit_test(test_record_length_bounds),
		cmocka_unit_test(test_record_before_handshake),
		cmocka_unit_test(test_key_create_load),
		cmocka_unit_test(test_key_formats),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
