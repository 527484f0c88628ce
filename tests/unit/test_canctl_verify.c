/*
 * test_canctl_verify.c: the arithmetic behind `canctl verify`
 * (common/replset.c): expected replica sets from a zone map, and the audit
 * of listed copies against them.
 *
 * The expected set must be exactly what overlay/resolve.c computes in the
 * daemons: the first k distinct owners of P_0(K), P_1(K), ... within
 * RESOLVE_PROBES(k) probes.  The maps below are synthetic: quadrants,
 * halves, random dyadic partitions, and one node owning a sliver.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "geom.h"
#include "hash.h"
#include "replset.h"
#include "wire.h"
#include "../../overlay/resolve.h"

#define PROBES_MAX 64 /* largest REPLSET_PROBES(k) the test handles */

/* Node i: id 100 + i, one zone in d dims with the given lo and bits. */
static void
node_one_zone(struct wire_node *n, size_t i, int d, const uint32_t *lo,
    const uint8_t *bits)
{
	memset(n, 0, sizeof *n);
	n->id = 100 + i;
	snprintf(n->addr, sizeof n->addr, "127.0.0.1:%zu", 7400 + i);
	n->nzones = 1;
	for (int j = 0; j < d; j++) {
		n->zones[0].lo[j] = lo[j];
		n->zones[0].bits[j] = bits[j];
	}
}

/* The four quadrants of the 2-d space, one per node. */
static void
map_quadrants(struct wire_node n[4])
{
	for (size_t i = 0; i < 4; i++) {
		uint32_t lo[2] = { (uint32_t)(i & 1) << 31,
		    (uint32_t)(i >> 1) << 31 };
		uint8_t bits[2] = { 31, 31 };

		node_one_zone(&n[i], i, 2, lo, bits);
	}
}

/* Key of a name given as a C string. */
static void
key_of(const char *name, struct hash_key *k)
{
	hash_key_of(name, strlen(name), k);
}

/* Which of nodes[0, n) owns p; n when none. */
static size_t
owner_of(const struct wire_node *nodes, size_t n, int d,
    const struct geom_point *p)
{
	for (size_t i = 0; i < n; i++) {
		for (int z = 0; z < nodes[i].nzones; z++) {
			if (geom_zone_contains(&nodes[i].zones[z], p, d))
				return i;
		}
	}
	return n;
}

/*
 * Check a computed set against the rule, probe by probe: every probe up
 * to the last member's index either is a member (a new owner) or repeats
 * an earlier member's owner; the size is min(k, 16) unless the probes ran
 * out.  Independent of replset.c's loop.
 */
static void
check_set_rule(const struct hash_key *key, unsigned k, int d,
    const struct wire_node *nodes, size_t n,
    const struct replset_member *set, int got)
{
	unsigned want = k < REPLSET_MAX ? k : REPLSET_MAX;
	unsigned probes = (unsigned)REPLSET_PROBES(want);
	size_t owners[PROBES_MAX];
	int m = 0;

	assert_true(probes <= PROBES_MAX);
	assert_true(got >= 0 && (unsigned)got <= want);
	for (unsigned i = 0; i < probes; i++) {
		struct geom_point p;
		size_t o;
		bool seen = false;

		hash_replica_point(key, i, d, &p);
		o = owner_of(nodes, n, d, &p);
		owners[i] = o;
		for (unsigned j = 0; j < i && o != n; j++)
			seen |= owners[j] == o;
		if ((unsigned)m == want)
			break;
		if (seen)
			continue;
		/* A new owner (or a gap): the next member. */
		assert_true(m < got);
		assert_int_equal(set[m].index, i);
		if (o == n)
			assert_true(set[m].node == REPLSET_GAP);
		else
			assert_int_equal(set[m].node, o);
		m++;
	}
	assert_int_equal(m, got);
}

/* The copied constants agree with the daemon's, for every k. */
static void
test_same_rule_as_resolve(void **state)
{
	(void)state;
	assert_int_equal(REPLSET_MAX, RESOLVE_MAX);
	for (int k = 0; k <= RESOLVE_MAX; k++)
		assert_int_equal(REPLSET_PROBES(k), RESOLVE_PROBES(k));
}

/* One node owns everything: a set of one, at index 0, whatever k is. */
static void
test_expected_single_node(void **state)
{
	struct wire_node n;
	struct replset_member set[REPLSET_MAX];
	uint32_t lo[3] = { 0, 0, 0 };
	uint8_t bits[3] = { 32, 32, 32 };
	struct hash_key k;

	(void)state;
	node_one_zone(&n, 0, 3, lo, bits);
	key_of("alone", &k);
	for (unsigned r = 1; r <= 5; r++) {
		assert_int_equal(replset_expected(&k, r, 3, &n, 1, set), 1);
		assert_int_equal(set[0].index, 0);
		assert_int_equal(set[0].node, 0);
	}
	/* k = 0: nothing is expected. */
	assert_int_equal(replset_expected(&k, 0, 3, &n, 1, set), 0);
}

/* Quadrants: the primary is the owner of P_0; members are distinct. */
static void
test_expected_quadrants(void **state)
{
	struct wire_node n[4];
	struct replset_member set[REPLSET_MAX];
	struct geom_point p;
	struct hash_key k;
	char name[32];
	int full = 0;

	(void)state;
	map_quadrants(n);
	for (int i = 0; i < 500; i++) {
		snprintf(name, sizeof name, "/file/%d", i);
		key_of(name, &k);
		for (unsigned r = 1; r <= 5; r++) {
			int got = replset_expected(&k, r, 2, n, 4, set);

			check_set_rule(&k, r, 2, n, 4, set, got);
			hash_replica_point(&k, 0, 2, &p);
			assert_int_equal(set[0].index, 0);
			assert_int_equal(set[0].node, owner_of(n, 4, 2, &p));
			for (int a = 0; a < got; a++) {
				for (int b = a + 1; b < got; b++)
					assert_true(set[a].node !=
					    set[b].node);
				assert_true(a == 0 ||
				    set[a].index > set[a - 1].index);
			}
			/* Never more members than nodes. */
			assert_true(got <= 4);
			if (r == 3 && got == 3)
				full++;
		}
	}
	/* With 12 probes over 4 equal quadrants, 3 owners nearly always. */
	assert_true(full >= 490);
}

/* Fewer nodes than k: the set has one member per node. */
static void
test_expected_fewer_nodes_than_k(void **state)
{
	struct wire_node n[2];
	struct replset_member set[REPLSET_MAX];
	uint32_t lo0[2] = { 0, 0 }, lo1[2] = { 1u << 31, 0 };
	uint8_t bits[2] = { 31, 32 };
	struct hash_key k;
	char name[32];

	(void)state;
	node_one_zone(&n[0], 0, 2, lo0, bits);
	node_one_zone(&n[1], 1, 2, lo1, bits);
	for (int i = 0; i < 200; i++) {
		snprintf(name, sizeof name, "k%d", i);
		key_of(name, &k);
		assert_int_equal(replset_expected(&k, 3, 2, n, 2, set), 2);
		check_set_rule(&k, 3, 2, n, 2, set, 2);
	}
}

/*
 * The probe limit: node 1 owns a sliver of 2^-12 of a 1-d space, node 0
 * the rest in 12 zones.  Only REPLSET_PROBES(2) points are probed, so
 * almost every key gets a set of one although there are two nodes -- as
 * in the daemons.
 */
static void
test_expected_probe_limit(void **state)
{
	struct wire_node n[2];
	struct replset_member set[REPLSET_MAX];
	struct hash_key k;
	char name[32];
	int ones = 0;

	(void)state;
	memset(n, 0, sizeof n);
	n[0].id = 1;
	n[1].id = 2;
	n[1].nzones = 1;
	n[1].zones[0].lo[0] = 0;
	n[1].zones[0].bits[0] = 20;
	for (int b = 20; b < 32; b++) {
		n[0].zones[n[0].nzones].lo[0] = 1u << b;
		n[0].zones[n[0].nzones++].bits[0] = (uint8_t)b;
	}
	for (int i = 0; i < 100; i++) {
		int got;

		snprintf(name, sizeof name, "sliver%d", i);
		key_of(name, &k);
		got = replset_expected(&k, 2, 1, n, 2, set);
		check_set_rule(&k, 2, 1, n, 2, set, got);
		ones += got == 1;
	}
	assert_true(ones >= 95);
}

/* A random dyadic partition of the 2-d space into up to max nodes. */
static size_t
map_random(struct wire_node *n, size_t max, unsigned *seed)
{
	size_t cnt = 1;

	memset(n, 0, max * sizeof *n);
	n[0].id = 1;
	n[0].nzones = 1;
	geom_zone_whole(&n[0].zones[0], 2);
	while (cnt < max) {
		size_t v = (size_t)rand_r(seed) % cnt;
		struct geom_zone lo, hi;

		if (geom_zone_split(&n[v].zones[0], 2, &lo, &hi) == -1)
			break;
		n[v].zones[0] = lo;
		n[cnt].id = cnt + 1;
		n[cnt].nzones = 1;
		n[cnt].zones[0] = hi;
		cnt++;
	}
	return cnt;
}

/* Random maps and replication factors, k past the cap included. */
static void
test_expected_random_maps(void **state)
{
	static struct wire_node n[40];
	struct replset_member set[REPLSET_MAX];
	unsigned seed = 12345;
	struct hash_key k;
	char name[32];

	(void)state;
	for (int m = 0; m < 30; m++) {
		size_t cnt = map_random(n, 1 + (size_t)rand_r(&seed) % 40,
		    &seed);

		for (int i = 0; i < 40; i++) {
			unsigned r = 1 + (unsigned)rand_r(&seed) % 20;
			int got;

			snprintf(name, sizeof name, "m%d/k%d", m, i);
			key_of(name, &k);
			got = replset_expected(&k, r, 2, n, cnt, set);
			check_set_rule(&k, r, 2, n, cnt, set, got);
			assert_true(got <= REPLSET_MAX);
			assert_true((size_t)got <= cnt);
		}
	}
}

/* A node missing from the map leaves a gap: unknown, distinct members. */
static void
test_expected_gap(void **state)
{
	struct wire_node n[4];
	struct replset_member set[REPLSET_MAX];
	struct hash_key k;
	char name[32];
	int gaps = 0;

	(void)state;
	map_quadrants(n);
	for (int i = 0; i < 200; i++) {
		int got;

		snprintf(name, sizeof name, "gap%d", i);
		key_of(name, &k);
		/* Quadrant 3 did not answer: only 0..2 are in the map. */
		got = replset_expected(&k, 3, 2, n, 3, set);
		check_set_rule(&k, 3, 2, n, 3, set, got);
		for (int m = 0; m < got; m++)
			gaps += set[m].node == REPLSET_GAP;
	}
	assert_true(gaps > 0);
}

/* A 3-node, 2-d map for the audits, k = 3: halves and quarters. */
static void
map_three(struct wire_node n[3])
{
	uint32_t lo0[2] = { 0, 0 }, lo1[2] = { 1u << 31, 0 },
	    lo2[2] = { 1u << 31, 1u << 31 };
	uint8_t b0[2] = { 31, 32 }, b1[2] = { 31, 31 };

	node_one_zone(&n[0], 0, 2, lo0, b0);
	node_one_zone(&n[1], 1, 2, lo1, b1);
	node_one_zone(&n[2], 2, 2, lo2, b1);
}

/* The i-th name whose k = 3 set on the map has 3 members. */
static void
full_key(const struct wire_node *n, int i, struct hash_key *k,
    struct replset_member set[REPLSET_MAX])
{
	char name[32];

	for (int j = 0;; j++) {
		snprintf(name, sizeof name, "audit%d.%d", i, j);
		key_of(name, k);
		if (replset_expected(k, 3, 2, n, 3, set) == 3)
			return;
	}
}

/* A copy of k on member m of set. */
static struct replset_copy
copy_on(const struct hash_key *k, const struct replset_member *m,
    uint64_t version, bool ok)
{
	struct replset_copy c = { .key = *k, .node = m->node,
	    .index = m->index, .version = version, .len = 5, .ok = ok };

	return c;
}

/* Everything in place: full, nothing extra. */
static void
test_audit_full(void **state)
{
	struct wire_node n[3];
	struct replset_member set[REPLSET_MAX];
	struct replset_copy c[3];
	struct replset_totals t;
	struct hash_key k;

	(void)state;
	map_three(n);
	full_key(n, 0, &k, set);
	for (int m = 0; m < 3; m++)
		c[m] = copy_on(&k, &set[m], 7, true);
	replset_audit(c, 3, n, 3, 2, 3, NULL, NULL, &t);
	assert_int_equal(t.keys, 1);
	assert_int_equal(t.full, 1);
	assert_int_equal(t.under, 0);
	assert_int_equal(t.corrupt, 0);
	assert_int_equal(t.extra, 0);
	assert_int_equal(t.tombstones, 0);
}

/* Verdicts collected by the callback. */
struct seen {
	struct replset_verdict v[8];
	size_t nc[8];
	int n;
};

static void
collect(void *arg, const struct replset_verdict *v,
    const struct replset_copy *c, size_t nc)
{
	struct seen *s = arg;

	for (size_t i = 0; i < nc; i++) {
		assert_int_equal(c[i].key.hi, v->key.hi);
		assert_int_equal(c[i].key.lo, v->key.lo);
	}
	assert_true(s->n < 8);
	s->nc[s->n] = nc;
	s->v[s->n++] = *v;
}

/* Stale, corrupt and missing members; the newest version rules. */
static void
test_audit_member_states(void **state)
{
	struct wire_node n[3];
	struct replset_member set[REPLSET_MAX];
	struct replset_copy c[3];
	struct replset_totals t;
	struct seen s = { .n = 0 };
	struct hash_key k;

	(void)state;
	map_three(n);
	full_key(n, 1, &k, set);
	c[0] = copy_on(&k, &set[0], 9, true);
	c[1] = copy_on(&k, &set[1], 8, true);	/* stale */
	c[2] = copy_on(&k, &set[2], 9, false);	/* corrupt */
	replset_audit(c, 3, n, 3, 2, 3, collect, &s, &t);
	assert_int_equal(t.under, 1);
	assert_int_equal(t.full, 0);
	assert_int_equal(t.corrupt, 1);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.v[0].version, 9);
	assert_int_equal(s.v[0].good, 1);
	assert_int_equal(s.v[0].want, 3);
	assert_int_equal(s.v[0].state[0], REPLSET_GOOD);
	assert_int_equal(s.v[0].state[1], REPLSET_STALE);
	assert_int_equal(s.v[0].state[2], REPLSET_CORRUPT);

	/* Member 1 has nothing at all (the audit sorted c: rebuild it). */
	s.n = 0;
	c[0] = copy_on(&k, &set[0], 9, true);
	c[1] = copy_on(&k, &set[2], 9, false);
	replset_audit(c, 2, n, 3, 2, 3, collect, &s, &t);
	assert_int_equal(s.v[0].state[1], REPLSET_MISSING);
	assert_int_equal(s.v[0].good, 1);
	assert_int_equal(t.under, 1);
}

/*
 * Copies outside the set are extra: on a non-member node, or on a member
 * node under another index.  A newer version seen only there makes the
 * members stale.
 */
static void
test_audit_extra(void **state)
{
	struct wire_node n[4];
	struct replset_member set[REPLSET_MAX];
	struct replset_copy c[5];
	struct replset_totals t;
	struct seen s = { .n = 0 };
	struct hash_key k;
	char name[32];
	int got;

	(void)state;
	map_quadrants(n);
	for (int j = 0;; j++) {
		snprintf(name, sizeof name, "extra%d", j);
		key_of(name, &k);
		got = replset_expected(&k, 2, 2, n, 4, set);
		if (got == 2)
			break;
	}
	c[0] = copy_on(&k, &set[0], 5, true);
	c[1] = copy_on(&k, &set[1], 5, true);
	/* A node that is not a member. */
	c[2] = c[0];
	for (size_t i = 0; i < 4; i++) {
		if (i != set[0].node && i != set[1].node)
			c[2].node = i;
	}
	/* A member node, under an index that is not its member's. */
	c[3] = c[0];
	c[3].index = (uint8_t)(set[1].index + 1);
	replset_audit(c, 4, n, 4, 2, 2, collect, &s, &t);
	assert_int_equal(t.extra, 2);
	assert_int_equal(t.full, 1);
	assert_int_equal(s.v[0].copies, 4);

	/* The newest version lives only on the extra copy. */
	s.n = 0;
	for (int i = 0; i < 4; i++) {
		if (c[i].node != set[0].node && c[i].node != set[1].node)
			c[i].version = 6;
	}
	replset_audit(c, 4, n, 4, 2, 2, collect, &s, &t);
	assert_int_equal(s.v[0].version, 6);
	assert_int_equal(s.v[0].good, 0);
	assert_int_equal(s.v[0].state[0], REPLSET_STALE);
	assert_int_equal(t.under, 1);
}

/* A newest tombstone is counted apart, never as under-replicated. */
static void
test_audit_tombstone(void **state)
{
	struct wire_node n[3];
	struct replset_member set[REPLSET_MAX];
	struct replset_copy c[2];
	struct replset_totals t;
	struct hash_key k;

	(void)state;
	map_three(n);
	full_key(n, 2, &k, set);
	c[0] = copy_on(&k, &set[0], 11, true);
	c[0].flags = WIRE_OBJ_TOMBSTONE;
	c[0].len = 0;
	c[1] = copy_on(&k, &set[1], 10, true); /* the value before */
	replset_audit(c, 2, n, 3, 2, 3, NULL, NULL, &t);
	assert_int_equal(t.tombstones, 1);
	assert_int_equal(t.under, 0);
	assert_int_equal(t.full, 0);
	assert_int_equal(t.keys, 1);

	/* An older tombstone under a newer value: the value is live. */
	c[0] = copy_on(&k, &set[0], 11, true);
	c[1] = copy_on(&k, &set[1], 10, true);
	c[1].flags = WIRE_OBJ_TOMBSTONE;
	replset_audit(c, 2, n, 3, 2, 3, NULL, NULL, &t);
	assert_int_equal(t.tombstones, 0);
	assert_int_equal(t.under, 1);
}

/* Many keys, shuffled: grouped by key, each verdict sees its copies. */
static void
test_audit_many_keys(void **state)
{
	struct wire_node n[3];
	struct replset_member set[REPLSET_MAX];
	struct replset_copy c[12], tmp;
	struct replset_totals t;
	struct seen s = { .n = 0 };
	struct hash_key k;
	unsigned seed = 7;

	(void)state;
	map_three(n);
	for (int i = 0; i < 4; i++) {
		full_key(n, 10 + i, &k, set);
		for (int m = 0; m < 3; m++)
			c[i * 3 + m] = copy_on(&k, &set[m], 1, true);
	}
	c[4].ok = false; /* key 1, member 1 */
	for (int i = 11; i > 0; i--) {
		int j = rand_r(&seed) % (i + 1);

		tmp = c[i];
		c[i] = c[j];
		c[j] = tmp;
	}
	replset_audit(c, 12, n, 3, 2, 3, collect, &s, &t);
	assert_int_equal(t.keys, 4);
	assert_int_equal(t.full, 3);
	assert_int_equal(t.under, 1);
	assert_int_equal(t.corrupt, 1);
	assert_int_equal(s.n, 4);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(s.nc[i], 3);
		if (i > 0)
			assert_true(s.v[i - 1].key.hi < s.v[i].key.hi ||
			    (s.v[i - 1].key.hi == s.v[i].key.hi &&
			    s.v[i - 1].key.lo < s.v[i].key.lo));
	}
	/* Nothing listed: nothing counted, no call. */
	s.n = 0;
	replset_audit(NULL, 0, n, 3, 2, 3, collect, &s, &t);
	assert_int_equal(s.n, 0);
	assert_int_equal(t.keys, 0);
}

/* Fewer nodes than k: full with one good copy per node. */
static void
test_audit_small_overlay(void **state)
{
	struct wire_node n[2];
	struct replset_member set[REPLSET_MAX];
	struct replset_copy c[2];
	struct replset_totals t;
	uint32_t lo0[2] = { 0, 0 }, lo1[2] = { 1u << 31, 0 };
	uint8_t bits[2] = { 31, 32 };
	struct hash_key k;

	(void)state;
	node_one_zone(&n[0], 0, 2, lo0, bits);
	node_one_zone(&n[1], 1, 2, lo1, bits);
	key_of("small", &k);
	assert_int_equal(replset_expected(&k, 3, 2, n, 2, set), 2);
	c[0] = copy_on(&k, &set[0], 3, true);
	c[1] = copy_on(&k, &set[1], 3, true);
	replset_audit(c, 2, n, 2, 2, 3, NULL, NULL, &t);
	assert_int_equal(t.full, 1);
	replset_audit(c, 1, n, 2, 2, 3, NULL, NULL, &t);
	assert_int_equal(t.under, 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_rule_as_resolve),
		cmocka_unit_test(test_expected_single_node),
		cmocka_unit_test(test_expected_quadrants),
		cmocka_unit_test(test_expected_fewer_nodes_than_k),
		cmocka_unit_test(test_expected_probe_limit),
		cmocka_unit_test(test_expected_random_maps),
		cmocka_unit_test(test_expected_gap),
		cmocka_unit_test(test_audit_full),
		cmocka_unit_test(test_audit_member_states),
		cmocka_unit_test(test_audit_extra),
		cmocka_unit_test(test_audit_tombstone),
		cmocka_unit_test(test_audit_many_keys),
		cmocka_unit_test(test_audit_small_overlay),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
