/*
 * test_replica.c: which local copy of a key a replica serves and decides
 * on (overlay/replica.c, replica_local_newest), over a real store, with a
 * bare struct node (its config, zones, store and clocks only).
 *
 * The case behind it (fs_resilience, 10 directory entries lost): a node
 * is the secondary of a key at index 1 while another node, the primary
 * at index 0, hands it index 0's zone.  The zone's copies are streamed
 * to it first, and the giver goes on deciding writes until the handover
 * ends, which the heir stores at index 1.  After the handover the heir is
 * primary at index 0 and holds an older copy there than at index 1: it
 * must serve and decide on the newest, or a read and a compare-and-swap
 * undo the writes made meanwhile.
 *
 * Checks: while unsure, the newest of the key's copies in our zones wins
 * (queued ones too when asked for the latest; committed ones only
 * otherwise); a copy whose point is outside our zones does not count;
 * once sure, the copy at our own index is the answer, and a miss there is
 * a miss.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ftw.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../overlay/node.h"
#include "../../overlay/replica.h"
#include "../../overlay/store.h"

struct tstate {
	char tmp[256];
	struct node *n;
};

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *f)
{
	(void)sb;
	(void)flag;
	(void)f;
	return remove(path);
}

/* A node owning the whole space, unsure (it gained space just now). */
static int
setup(void **state)
{
	struct tstate *t = calloc(1, sizeof *t);
	const char *base = getenv("TMPDIR");
	char dir[300], err[256] = "";

	if (t == NULL)
		return -1;
	snprintf(t->tmp, sizeof t->tmp, "%s/test_replica.XXXXXX",
	    base != NULL && *base != '\0' ? base : "/tmp");
	if (mkdtemp(t->tmp) == NULL)
		return -1;
	snprintf(dir, sizeof dir, "%s/db", t->tmp);
	t->n = calloc(1, sizeof *t->n);
	if (t->n == NULL)
		return -1;
	t->n->cfg.dims = 2;
	t->n->cfg.repair_sec = 30;
	t->n->cfg.hb_ms = 1000;
	t->n->cfg.fail_after = 3;
	t->n->self.nzones = 1;
	geom_zone_whole(&t->n->self.zones[0], 2);
	t->n->last_tick_ms = node_now_ms();
	t->n->gained_ms = node_now_ms();
	t->n->store = store_open(dir, 2, 64u << 20, err, sizeof err);
	if (t->n->store == NULL) {
		print_error("store_open: %s\n", err);
		return -1;
	}
	*state = t;
	return 0;
}

static int
teardown(void **state)
{
	struct tstate *t = *state;

	store_close(t->n->store);
	free(t->n);
	nftw(t->tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(t);
	return 0;
}

/* Put a 3-byte value with version at (key, index). */
static void
put(struct node *n, const struct hash_key *k, unsigned index,
    uint64_t version)
{
	struct store_id id;
	struct store_meta m;

	memset(&m, 0, sizeof m);
	m.version = version;
	store_id_make(k, index, n->cfg.dims, &id);
	assert_int_equal(store_put(n->store, &id, &m, "abc", 3), 0);
}

/* The version replica_local_newest finds for (k, index), or 0. */
static uint64_t
newest(struct node *n, const struct hash_key *k, unsigned index,
    bool latest, unsigned *found_index)
{
	struct store_id id, found;
	struct store_meta m;

	store_id_make(k, index, n->cfg.dims, &id);
	if (replica_local_newest(n, &id, &found, &m, latest) != 0)
		return 0;
	if (found_index != NULL)
		*found_index = found.replica;
	return m.version;
}

static const struct hash_key key = { 0x07927c58971a59d3ULL,
    0x99be501a0ad10eb3ULL };

/* The heir's case: an old streamed copy at 0, the newest at 1. */
static void
test_unsure_newest_wins(void **state)
{
	struct tstate *t = *state;
	unsigned at = 99;

	put(t->n, &key, 0, 100);
	put(t->n, &key, 1, 200);
	assert_int_equal(store_commit(t->n->store), 0);
	assert_int_equal(newest(t->n, &key, 0, false, &at), 200);
	assert_int_equal(at, 1);
	assert_int_equal(newest(t->n, &key, 0, true, &at), 200);
	/* Our own copy, when it is the newest, stays the answer. */
	put(t->n, &key, 0, 300);
	assert_int_equal(store_commit(t->n->store), 0);
	assert_int_equal(newest(t->n, &key, 0, false, &at), 300);
	assert_int_equal(at, 0);
}

/* Queued copies count for a decision (latest), not for a read. */
static void
test_unsure_queued(void **state)
{
	struct tstate *t = *state;

	put(t->n, &key, 0, 100);
	assert_int_equal(store_commit(t->n->store), 0);
	put(t->n, &key, 2, 500);	/* queued only (no commit yet) */
	assert_int_equal(newest(t->n, &key, 0, true, NULL), 500);
	assert_int_equal(newest(t->n, &key, 0, false, NULL), 100);
	assert_int_equal(store_commit(t->n->store), 0);
	assert_int_equal(newest(t->n, &key, 0, false, NULL), 500);
}

/* A copy whose point is no longer in our zones does not count. */
static void
test_unsure_outside_zones(void **state)
{
	struct tstate *t = *state;
	struct store_id id0, id2;
	struct geom_zone low, high;

	put(t->n, &key, 0, 100);
	put(t->n, &key, 2, 200);
	assert_int_equal(store_commit(t->n->store), 0);
	assert_int_equal(newest(t->n, &key, 0, false, NULL), 200);
	/* Keep only the half (split in dimension 0) holding index 0. */
	store_id_make(&key, 0, t->n->cfg.dims, &id0);
	store_id_make(&key, 2, t->n->cfg.dims, &id2);
	assert_int_equal(geom_zone_split(&t->n->self.zones[0], 2, &low,
	    &high), 0);
	t->n->self.zones[0] = geom_zone_contains(&low, &id0.point, 2) ?
	    low : high;
	/* This key's index 2 lies in the other half. */
	assert_false(geom_zone_contains(&t->n->self.zones[0], &id2.point, 2));
	assert_int_equal(newest(t->n, &key, 0, false, NULL), 100);
}

/* Sure: the copy at our own index only. */
static void
test_sure_own_index(void **state)
{
	struct tstate *t = *state;

	t->n->gained_ms = 0;
	put(t->n, &key, 0, 100);
	put(t->n, &key, 1, 200);
	put(t->n, &key, 3, 50);
	assert_int_equal(store_commit(t->n->store), 0);
	assert_int_equal(newest(t->n, &key, 0, false, NULL), 100);
	assert_int_equal(newest(t->n, &key, 4, false, NULL), 0);
	/* Unsure again: a miss at our index finds the others. */
	t->n->gained_ms = node_now_ms();
	assert_int_equal(newest(t->n, &key, 4, false, NULL), 200);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_unsure_newest_wins, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_unsure_queued, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_unsure_outside_zones,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_sure_own_index, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
