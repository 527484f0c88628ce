/*
 * test_fsck.c: fsck's rules and tables (fs/fsck.h): the grace, the link
 * count a tree implies, the exit status, the inventory table (newest
 * version wins), and which chunk keys a reached file accounts for:
 * those in its extents are known, others below its size plus the slack
 * are unrecorded, and the rest stay unseen (orphans).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sys/stat.h>

#include <dirent.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "../../fs/fsck.h"

#define S 1000000ULL	/* a second in versions (microseconds) */

/* Quiet: strictly older than the grace; the future is never quiet. */
static void
test_quiet(void **state)
{
	uint64_t now = 1700000000 * S;

	(void)state;
	assert_true(fsck_quiet(now - 10 * S, now, 10));
	assert_false(fsck_quiet(now - 10 * S + 1, now, 10));
	assert_true(fsck_quiet(now, now, 0));
	assert_false(fsck_quiet(now + 1, now, 0));
	assert_false(fsck_quiet(1, now, UINT64_MAX));
	assert_true(fsck_quiet(0, now, now / S));
}

/* Link counts: names for files, 2 + subdirectories for directories. */
static void
test_want_nlink(void **state)
{
	(void)state;
	assert_int_equal(fsck_want_nlink(S_IFREG | 0644, 3, 0), 3);
	assert_int_equal(fsck_want_nlink(S_IFLNK | 0777, 1, 7), 1);
	assert_int_equal(fsck_want_nlink(S_IFDIR | 0755, 1, 0), 2);
	assert_int_equal(fsck_want_nlink(S_IFDIR | 0755, 2, 5), 7);
	assert_int_equal(fsck_want_nlink(S_IFDIR, 1, UINT32_MAX),
	    UINT32_MAX);
	assert_int_equal(fsck_dtype(S_IFDIR | 0700), DT_DIR);
	assert_int_equal(fsck_dtype(S_IFREG | 0600), DT_REG);
	assert_int_equal(fsck_dtype(S_IFLNK | 0777), DT_LNK);
}

/* Exit bits: 1 for fixed, 4 for left, 8 for a failed check. */
static void
test_exit_status(void **state)
{
	struct fsck f;

	(void)state;
	memset(&f, 0, sizeof f);
	assert_int_equal(fsck_exit_status(&f), FSCK_EXIT_CLEAN);
	fsck_problem_add(&f, FSCK_P_ORPHAN, 0)->outcome = FSCK_R_RECENT;
	assert_int_equal(fsck_exit_status(&f), FSCK_EXIT_CLEAN);
	fsck_problem_add(&f, FSCK_P_NLINK, 5)->outcome = FSCK_R_FIXED;
	assert_int_equal(fsck_exit_status(&f), FSCK_EXIT_FIXED);
	fsck_problem_add(&f, FSCK_P_NONAME, 6)->outcome = FSCK_R_LEFT;
	assert_int_equal(fsck_exit_status(&f),
	    FSCK_EXIT_FIXED | FSCK_EXIT_LEFT);
	f.operr = true;
	assert_int_equal(fsck_exit_status(&f),
	    FSCK_EXIT_FIXED | FSCK_EXIT_LEFT | FSCK_EXIT_OPERR);
	fsck_free(&f);
}

/* The inventory keeps each key once, with its newest version. */
static void
test_objs(void **state)
{
	struct fsck_objs t = { 0 };
	struct hash_key k;
	struct fsck_obj *o;

	(void)state;
	for (uint64_t i = 0; i < 5000; i++) {
		k.hi = i * 0x9e3779b97f4a7c15ULL;
		k.lo = i;
		fsck_objs_add(&t, &k, 100 + i, 10, false);
		fsck_objs_add(&t, &k, 50, 20, true);	/* an older copy */
	}
	assert_int_equal(t.n, 5000);
	k.hi = 7 * 0x9e3779b97f4a7c15ULL;
	k.lo = 7;
	o = fsck_objs_find(&t, &k);
	assert_non_null(o);
	assert_true(o->version == 107 && o->len == 10 && !o->tomb);
	fsck_objs_add(&t, &k, 200, 0, true);	/* deleted since */
	assert_true(o->version == 200 && o->tomb);
	k.lo = 5001;
	assert_null(fsck_objs_find(&t, &k));
	fsck_objs_free(&t);
	assert_null(fsck_objs_find(&t, &k));
}

/* Add chunk idx of ino to the inventory. */
static void
add_chunk(struct fsck *f, uint64_t ino, uint64_t idx)
{
	struct hash_key k;

	meta_key_chunk(ino, idx, &k);
	fsck_objs_add(&f->objs, &k, 1, 4096, false);
}

/* The state of chunk idx of ino after marking. */
static int
chunk_state(struct fsck *f, uint64_t ino, uint64_t idx)
{
	struct hash_key k;

	meta_key_chunk(ino, idx, &k);
	return fsck_objs_find(&f->objs, &k)->state;
}

/*
 * A file of 10 chunks with extents [0, 4) and [8, 10): chunks 0, 9 known;
 * 5 (a hole inside the size) and 10 + FSCK_CHUNK_SLACK - 1 (an open
 * writer's, past the size) unrecorded; one past the slack, and a chunk
 * of another inode, unseen.  The inode and lock records are known.
 */
static void
test_mark_inode(void **state)
{
	const uint64_t ino = 0x1234, far = 10 + FSCK_CHUNK_SLACK;
	struct fsck f;
	struct fsck_ino *i;
	struct hash_key k;
	size_t unrec = 0;

	(void)state;
	memset(&f, 0, sizeof f);
	add_chunk(&f, ino, 0);
	add_chunk(&f, ino, 9);
	add_chunk(&f, ino, 5);
	add_chunk(&f, ino, far - 1);
	add_chunk(&f, ino, far);
	add_chunk(&f, ino + 1, 0);
	meta_key_inode(ino, &k);
	fsck_objs_add(&f.objs, &k, 1, 100, false);
	meta_key_lock(ino, &k);
	fsck_objs_add(&f.objs, &k, 1, 100, false);
	i = fsck_ino_add(&f, ino);
	i->have = true;
	i->in.mode = S_IFREG | 0644;
	i->in.chunk_size = 4096;
	i->in.size = 10 * 4096;
	meta_extents_add(&i->in.ext, 0, 4);
	meta_extents_add(&i->in.ext, 8, 10);
	fsck_mark_inode(&f, i);
	assert_int_equal(chunk_state(&f, ino, 0), FSCK_O_KNOWN);
	assert_int_equal(chunk_state(&f, ino, 9), FSCK_O_KNOWN);
	assert_int_equal(chunk_state(&f, ino, 5), FSCK_O_UNRECORDED);
	assert_int_equal(chunk_state(&f, ino, far - 1), FSCK_O_UNRECORDED);
	assert_int_equal(chunk_state(&f, ino, far), FSCK_O_UNSEEN);
	assert_int_equal(chunk_state(&f, ino + 1, 0), FSCK_O_UNSEEN);
	meta_key_lock(ino, &k);
	assert_int_equal(fsck_objs_find(&f.objs, &k)->state, FSCK_O_KNOWN);
	for (size_t p = 0; p < f.npb; p++) {
		assert_int_equal(f.pb[p].kind, FSCK_P_UNRECORDED);
		assert_true(f.pb[p].index == 5 || f.pb[p].index == far - 1);
		unrec++;
	}
	assert_int_equal(unrec, 2);
	assert_int_equal(f.chunks, 4);
	assert_false(f.incomplete);
	assert_ptr_equal(fsck_ino_find(&f, ino), i);
	assert_null(fsck_ino_find(&f, ino + 1));
	fsck_free(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quiet),
		cmocka_unit_test(test_want_nlink),
		cmocka_unit_test(test_exit_status),
		cmocka_unit_test(test_objs),
		cmocka_unit_test(test_mark_inode),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
