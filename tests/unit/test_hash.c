/*
 * test_hash.c: keys and points.
 *
 * Where an object lives is a pure function of its name, computed
 * independently by every node, so the known answers below are part of the
 * on-disk and wire format: if one of them changes, every stored object
 * moves.  Change them only together with a format version bump.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "hash.h"

/* Same name, same key; any change of the bytes or length, another key. */
static void
test_key_of_deterministic(void **state)
{
	struct hash_key a, b;

	(void)state;
	hash_key_of("alpha", 5, &a);
	hash_key_of("alpha", 5, &b);
	assert_true(a.hi == b.hi && a.lo == b.lo);

	/* A copy in a different buffer: only the bytes matter. */
	char copy[8] = "xalpha";
	hash_key_of(copy + 1, 5, &b);
	assert_true(a.hi == b.hi && a.lo == b.lo);

	hash_key_of("alphb", 5, &b);
	assert_false(a.hi == b.hi && a.lo == b.lo);
	hash_key_of("alpha", 4, &b);
	assert_false(a.hi == b.hi && a.lo == b.lo);
	/* A trailing NUL is part of the name when counted. */
	hash_key_of("alpha", 6, &b);
	assert_false(a.hi == b.hi && a.lo == b.lo);
	/* Both halves carry entropy. */
	assert_true(a.hi != 0 && a.lo != 0 && a.hi != a.lo);
}

/* Replicas land on different points, and coordinates differ per dim. */
static void
test_replica_points_differ(void **state)
{
	struct hash_key k;
	struct geom_point p[4], q;

	(void)state;
	hash_key_of("/some/file", 10, &k);
	for (unsigned i = 0; i < 4; i++) {
		hash_replica_point(&k, i, 4, &p[i]);
		/* Unused coordinates are zero. */
		for (int j = 4; j < GEOM_MAX_DIMS; j++)
			assert_int_equal(p[i].c[j], 0);
		/* Each dimension uses its own hash function. */
		for (int j = 0; j < 4; j++) {
			for (int l = j + 1; l < 4; l++)
				assert_int_not_equal(p[i].c[j], p[i].c[l]);
		}
	}
	for (unsigned i = 0; i < 4; i++) {
		for (unsigned l = i + 1; l < 4; l++) {
			for (int j = 0; j < 4; j++)
				assert_int_not_equal(p[i].c[j], p[l].c[j]);
		}
	}
	/* Deterministic, and a lower d is a prefix of a higher one. */
	hash_replica_point(&k, 2, 4, &q);
	assert_memory_equal(&q, &p[2], sizeof q);
	hash_replica_point(&k, 2, 2, &q);
	assert_int_equal(q.c[0], p[2].c[0]);
	assert_int_equal(q.c[1], p[2].c[1]);
	assert_int_equal(q.c[2], 0);

	/* Node points are their own function: id 0 is not key {0, 0}. */
	struct hash_key zero = { 0, 0 };
	hash_replica_point(&zero, 0, 2, &q);
	hash_node_point(0, 2, &p[0]);
	assert_int_not_equal(q.c[0], p[0].c[0]);
	hash_node_point(1, 2, &p[1]);
	assert_int_not_equal(p[0].c[0], p[1].c[0]);
	assert_int_not_equal(p[0].c[1], p[1].c[1]);
}

/*
 * Points spread evenly: over 16,000 keys, each of the 16 cells of a 4x4
 * grid in the first two dimensions (and each of the 4 quarters of dims
 * 2..7) gets within 15% of its share.  Catches hashes that use only a few
 * bits, or coordinates that are copies of each other.
 */
static void
test_replica_points_spread(void **state)
{
	unsigned cells[16] = { 0 }, quarters[GEOM_MAX_DIMS][4];
	const unsigned nkeys = 16000;

	(void)state;
	memset(quarters, 0, sizeof quarters);
	for (unsigned n = 0; n < nkeys; n++) {
		struct hash_key k;
		struct geom_point p;
		char name[32];
		int len = snprintf(name, sizeof name, "obj-%u", n);

		hash_key_of(name, (size_t)len, &k);
		hash_replica_point(&k, n % 3, GEOM_MAX_DIMS, &p);
		cells[(p.c[0] >> 30) * 4 + (p.c[1] >> 30)]++;
		for (int j = 0; j < GEOM_MAX_DIMS; j++)
			quarters[j][p.c[j] >> 30]++;
	}
	for (int c = 0; c < 16; c++) {
		assert_in_range(cells[c], nkeys / 16 * 85 / 100,
		    nkeys / 16 * 115 / 100);
	}
	for (int j = 0; j < GEOM_MAX_DIMS; j++) {
		for (int c = 0; c < 4; c++)
			assert_in_range(quarters[j][c], nkeys / 4 * 90 / 100,
			    nkeys / 4 * 110 / 100);
	}
}

/* Pinned values: a change to the hash functions or seeds is caught. */
static void
test_known_answers(void **state)
{
	static const uint32_t replica[3][4] = {
		{ 0xfbe7f475, 0x6b9adf46, 0xdf12620c, 0x991324b4 },
		{ 0x06de6fb7, 0x43adcd34, 0xe0ff1848, 0x506a558f },
		{ 0x81ac537f, 0x35ffb2c2, 0x73e6d714, 0x794da12f },
	};
	static const uint64_t node_ids[3] = { 0, 1, 0x0123456789abcdefULL };
	static const uint32_t node[3][3] = {
		{ 0x108b783a, 0x0af2d955, 0x7e6e4bea },
		{ 0x91bd42b3, 0x3fa0f96b, 0x27515b93 },
		{ 0xf6b79784, 0x5244128a, 0x645eb651 },
	};
	struct hash_key k;
	struct geom_point p;
	char buf[33];

	(void)state;
	/* xxh3-128 of "" is the published test vector. */
	hash_key_of("", 0, &k);
	assert_string_equal(hash_key_format(&k, buf),
	    "99aa06d3014798d86001c324468d497f");
	hash_key_of("hello", 5, &k);
	assert_string_equal(hash_key_format(&k, buf),
	    "b5e9c1ad071b3e7fc779cfaa5e523818");
	hash_key_of("/dir/file.txt", 13, &k);
	assert_true(k.hi == 0x7a815074e8dd50cbULL);
	assert_true(k.lo == 0x1d7aff7d8645ef1bULL);
	for (unsigned i = 0; i < 3; i++) {
		hash_replica_point(&k, i, 4, &p);
		for (int j = 0; j < 4; j++)
			assert_int_equal(p.c[j], replica[i][j]);
	}
	for (int i = 0; i < 3; i++) {
		hash_node_point(node_ids[i], 3, &p);
		for (int j = 0; j < 3; j++)
			assert_int_equal(p.c[j], node[i][j]);
	}
	assert_true(hash_checksum("", 0) == 0x2d06800538d394c2ULL);
	assert_true(hash_checksum("canfs", 5) == 0x9d0c9d6a7474c18eULL);
}

/* format then parse gives the key back; parse takes either case. */
static void
test_key_format_parse(void **state)
{
	struct hash_key k, back;
	char buf[40];

	(void)state;
	memset(buf, 'x', sizeof buf);
	k.hi = 0x00000000000000abULL;
	k.lo = 0xfedcba9876543210ULL;
	hash_key_format(&k, buf);
	assert_string_equal(buf, "00000000000000abfedcba9876543210");
	assert_int_equal(strlen(buf), 32);
	assert_int_equal(hash_key_parse(buf, &back), 0);
	assert_true(back.hi == k.hi && back.lo == k.lo);

	assert_int_equal(hash_key_parse("00000000000000ABFEDCBA9876543210",
	    &back), 0);
	assert_true(back.hi == k.hi && back.lo == k.lo);

	for (int n = 0; n < 100; n++) {
		char name[16];
		int len = snprintf(name, sizeof name, "k%d", n);

		hash_key_of(name, (size_t)len, &k);
		hash_key_format(&k, buf);
		assert_int_equal(hash_key_parse(buf, &back), 0);
		assert_true(back.hi == k.hi && back.lo == k.lo);
	}
	k.hi = k.lo = UINT64_MAX;
	assert_string_equal(hash_key_format(&k, buf),
	    "ffffffffffffffffffffffffffffffff");
	assert_int_equal(hash_key_parse(buf, &back), 0);
	assert_true(back.hi == UINT64_MAX && back.lo == UINT64_MAX);
}

/* Anything but exactly 32 hex digits is rejected. */
static void
test_key_parse_bad(void **state)
{
	static const char *const bad[] = {
		"",
		"0",
		"0123456789abcdef0123456789abcde",   /* 31 */
		"0123456789abcdef0123456789abcdef0", /* 33 */
		"0123456789abcdef0123456789abcdeg",
		"0123456789abcdef 123456789abcdef",
		" 0123456789abcdef0123456789abcde",
		"0123456789abcdef0123456789abcde\n",
		"0x23456789abcdef0123456789abcdef",
		"-123456789abcdef0123456789abcdef",
		"0123456789abcdef0123456789abcd:f",
		"0123456789abcdef0123456789abcd@f", /* between '9' and 'A' */
		"0123456789abcdef0123456789abcd`f", /* just below 'a' */
	};
	struct hash_key k;

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (hash_key_parse(bad[i], &k) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key_of_deterministic),
		cmocka_unit_test(test_replica_points_differ),
		cmocka_unit_test(test_replica_points_spread),
		cmocka_unit_test(test_known_answers),
		cmocka_unit_test(test_key_format_parse),
		cmocka_unit_test(test_key_parse_bad),
	};

	return cmocka_run_group_tests_name("hash", tests, NULL, NULL);
}
