/*
 * test_store.c: unit tests of the node-local object store (overlay/store.c).
 *
 * Every test runs in its own mkdtemp directory (removed afterwards); the
 * store lives in a "db" subdirectory so that store_open creates it.
 * TEST_VERBOSE=1 in the environment shows the store's log lines (several
 * tests provoke errors on purpose).
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <lmdb.h>

#include "../../overlay/store.h"
#include "log.h"

#define MiB ((size_t)1 << 20)

/* Per-test state: the temp dir and the store directory inside it. */
struct tstate {
	char tmp[PATH_MAX - 16];
	char db[PATH_MAX];
};

/* nftw callback removing one entry. */
static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Create the temp dir. */
static int
setup(void **state)
{
	struct tstate *t = calloc(1, sizeof *t);
	const char *base = getenv("TMPDIR");

	if (t == NULL)
		return -1;
	snprintf(t->tmp, sizeof t->tmp, "%s/test_store.XXXXXX",
	    base != NULL && *base != '\0' ? base : "/tmp");
	if (mkdtemp(t->tmp) == NULL) {
		free(t);
		return -1;
	}
	snprintf(t->db, sizeof t->db, "%s/db", t->tmp);
	*state = t;
	return 0;
}

/* Remove the temp dir and everything in it. */
static int
teardown(void **state)
{
	struct tstate *t = *state;
	int rc = nftw(t->tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);

	free(t);
	return rc;
}

/* splitmix64: a small deterministic generator for test data. */
static uint64_t
rnd(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Fill buf with bytes determined by seed. */
static void
fill(void *buf, size_t len, uint64_t seed)
{
	uint8_t *p = buf;
	uint64_t x = seed, v = 0;

	for (size_t i = 0; i < len; i++) {
		if (i % 8 == 0)
			v = rnd(&x);
		p[i] = (uint8_t)(v >> (8 * (i % 8)));
	}
}

/* Id of replica rep of the object named "tag-n". */
static void
mkid(const char *tag, uint64_t n, unsigned rep, int dims,
    struct store_id *id)
{
	char name[64];
	struct hash_key k;
	int len = snprintf(name, sizeof name, "%s-%llu", tag,
	    (unsigned long long)n);

	hash_key_of(name, (size_t)len, &k);
	store_id_make(&k, rep, dims, id);
}

/* A meta with the given version (other fields derived from it). */
static struct store_meta
mkmeta(uint64_t version)
{
	struct store_meta m;

	memset(&m, 0, sizeof m);
	m.version = version;
	m.writer = 0xabc000 + version;
	m.mtime_ms = 1700000000000ULL + version;
	return m;
}

/* Open a store or fail the test. */
static struct store *
open_ok(const char *dir, int dims, size_t map)
{
	char err[256] = "";
	struct store *s = store_open(dir, dims, map, err, sizeof err);

	if (s == NULL)
		print_error("store_open: %s\n", err);
	assert_non_null(s);
	return s;
}

/* Assert that id holds exactly `len` bytes of fill(seed) and version. */
static void
expect_record(struct store *s, const struct store_id *id, size_t len,
    uint64_t seed, uint64_t version)
{
	struct store_meta m;
	void *data = NULL;
	size_t got = 0;
	uint8_t *want = malloc(len + 1);

	assert_non_null(want);
	fill(want, len, seed);
	assert_int_equal(store_get(s, id, &m, &data, &got), 0);
	assert_int_equal(got, len);
	assert_int_equal(m.len, len);
	assert_int_equal(m.version, version);
	assert_int_equal(m.checksum, hash_checksum(want, len));
	assert_memory_equal(data, want, len);
	free(data);
	free(want);
}

/* Put fill(seed) of len bytes at id with version. */
static int
put_fill(struct store *s, const struct store_id *id, size_t len,
    uint64_t seed, uint64_t version)
{
	struct store_meta m = mkmeta(version);
	uint8_t *buf = malloc(len + 1);
	int rc;

	assert_non_null(buf);
	fill(buf, len, seed);
	rc = store_put(s, id, &m, buf, len);
	free(buf);
	return rc;
}

/* Put, get back with every field, survive close and reopen. */
static void
test_roundtrip(void **state)
{
	struct tstate *t = *state;
	struct store_meta m = mkmeta(7), got;
	struct store_id id;
	struct store *s;
	struct stat st;
	char path[PATH_MAX + 16];
	const char msg[] = "hello, canfs";
	void *data;
	size_t len;

	s = open_ok(t->db, 2, 0);
	mkid("rt", 1, 2, 2, &id);
	m.checksum = 12345; /* ignored: the store computes it */
	m.len = 999;	    /* ignored: len argument wins */
	assert_int_equal(store_put(s, &id, &m, msg, sizeof msg), 0);
	assert_int_equal(store_get(s, &id, &got, &data, &len), 0);
	assert_int_equal(len, sizeof msg);
	assert_memory_equal(data, msg, sizeof msg);
	free(data);
	assert_int_equal(got.version, 7);
	assert_int_equal(got.writer, m.writer);
	assert_int_equal(got.mtime_ms, m.mtime_ms);
	assert_int_equal(got.flags, 0);
	assert_int_equal(got.len, sizeof msg);
	assert_int_equal(got.checksum, hash_checksum(msg, sizeof msg));
	assert_int_equal(store_commit(s), 0);
	store_close(s);

	/* Directory 0700, files 0600 (or stricter under a umask). */
	assert_int_equal(stat(t->db, &st), 0);
	assert_int_equal(st.st_mode & 0777 & ~0700, 0);
	snprintf(path, sizeof path, "%s/data.mdb", t->db);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777 & ~0600, 0);

	s = open_ok(t->db, 2, 0);
	assert_int_equal(store_get_meta(s, &id, &got), 0);
	assert_int_equal(got.version, 7);
	assert_int_equal(got.len, sizeof msg);
	/* All out-parameters are optional. */
	assert_int_equal(store_get(s, &id, NULL, NULL, NULL), 0);
	store_close(s);
}

/* Absent records, and opening errors. */
static void
test_notfound_and_open_errors(void **state)
{
	struct tstate *t = *state;
	struct store_meta m;
	struct store_id id;
	struct store *s, *s2;
	char err[256], file[PATH_MAX + 16];
	void *data = (void *)1;
	int fd;

	s = open_ok(t->db, 3, 0);
	mkid("nf", 1, 0, 3, &id);
	assert_int_equal(store_get(s, &id, &m, &data, NULL), STORE_NOTFOUND);
	assert_ptr_equal(data, (void *)1); /* untouched */
	assert_int_equal(store_get_meta(s, &id, &m), STORE_NOTFOUND);
	assert_int_equal(store_delete(s, &id), STORE_NOTFOUND);
	assert_int_equal(store_pending(s), 0);
	assert_int_equal(store_dims(s), 3);

	/* A second open of the same directory is refused. */
	err[0] = '\0';
	s2 = store_open(t->db, 3, 0, err, sizeof err);
	assert_null(s2);
	assert_non_null(strstr(err, "in use"));
	store_close(s);

	/* Wrong dimension count for an existing store. */
	err[0] = '\0';
	assert_null(store_open(t->db, 2, 0, err, sizeof err));
	assert_non_null(strstr(err, "d=3"));
	assert_null(store_open(t->db, 0, 0, err, sizeof err));
	assert_null(store_open(t->db, GEOM_MAX_DIMS + 1, 0, err, sizeof err));

	/* A file where the directory should be. */
	snprintf(file, sizeof file, "%s/file", t->tmp);
	fd = open(file, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	err[0] = '\0';
	assert_null(store_open(file, 2, 0, err, sizeof err));
	assert_non_null(strstr(err, "not a directory"));

	/* Still fine after all that. */
	s = open_ok(t->db, 3, 0);
	store_close(s);
	store_close(NULL);
}

/* Tombstones keep their flag and version; bad flags are refused. */
static void
test_tombstone(void **state)
{
	struct tstate *t = *state;
	struct store_meta m = mkmeta(42), got;
	struct store_id id;
	struct store *s;
	void *data = NULL;
	size_t len = 99;

	s = open_ok(t->db, 2, 0);
	mkid("tomb", 1, 0, 2, &id);
	m.flags = STORE_F_TOMBSTONE;
	assert_int_equal(store_put(s, &id, &m, NULL, 0), 0);
	assert_int_equal(store_commit(s), 0);
	store_close(s);

	s = open_ok(t->db, 2, 0);
	assert_int_equal(store_get(s, &id, &got, &data, &len), 0);
	assert_non_null(data);
	free(data);
	assert_int_equal(len, 0);
	assert_int_equal(got.flags, STORE_F_TOMBSTONE);
	assert_int_equal(got.version, 42);
	assert_int_equal(got.checksum, hash_checksum("", 0));

	m.flags = 0x80;
	assert_int_equal(store_put(s, &id, &m, NULL, 0), -1);
	m.flags = 0;
	assert_int_equal(store_put(s, &id, &m, NULL, 5), -1);
	assert_int_equal(store_pending(s), 0);
	store_close(s);
}

/* A second put replaces the first, whatever the sizes. */
static void
test_overwrite(void **state)
{
	struct tstate *t = *state;
	struct store_id id;
	struct store *s;
	uint64_t count, bytes;

	s = open_ok(t->db, 2, 0);
	mkid("ow", 1, 1, 2, &id);
	assert_int_equal(put_fill(s, &id, 100000, 1, 1), 0);
	assert_int_equal(store_commit(s), 0);
	assert_int_equal(put_fill(s, &id, 10, 2, 2), 0);
	expect_record(s, &id, 10, 2, 2);
	assert_int_equal(store_commit(s), 0);
	assert_int_equal(store_stats(s, &count, &bytes), 0);
	assert_int_equal(count, 1);
	assert_int_equal(bytes, 10);
	assert_int_equal(put_fill(s, &id, 5000, 3, 3), 0);
	assert_int_equal(put_fill(s, &id, 6000, 4, 4), 0); /* same batch */
	assert_int_equal(store_commit(s), 0);
	store_close(s);

	s = open_ok(t->db, 2, 0);
	expect_record(s, &id, 6000, 4, 4);
	assert_int_equal(store_stats(s, &count, &bytes), 0);
	assert_int_equal(count, 1);
	assert_int_equal(bytes, 6000);
	store_close(s);
}

/* Physical delete, visible at once and after reopen; stats follow. */
static void
test_delete(void **state)
{
	struct tstate *t = *state;
	struct store_id a, b;
	struct store *s;
	uint64_t count, bytes;

	s = open_ok(t->db, 2, 0);
	mkid("del", 1, 0, 2, &a);
	mkid("del", 2, 0, 2, &b);
	assert_int_equal(put_fill(s, &a, 300, 1, 1), 0);
	assert_int_equal(put_fill(s, &b, 500, 2, 1), 0);
	assert_int_equal(store_commit(s), 0);

	assert_int_equal(store_delete(s, &a), 0);
	assert_int_equal(store_pending(s), 1);
	assert_int_equal(store_get(s, &a, NULL, NULL, NULL), STORE_NOTFOUND);
	assert_int_equal(store_stats(s, &count, &bytes), 0);
	assert_int_equal(count, 1);
	assert_int_equal(bytes, 500);
	assert_int_equal(store_delete(s, &a), STORE_NOTFOUND);
	assert_int_equal(store_commit(s), 0);
	store_close(s);

	s = open_ok(t->db, 2, 0);
	assert_int_equal(store_get(s, &a, NULL, NULL, NULL), STORE_NOTFOUND);
	expect_record(s, &b, 500, 2, 1);
	assert_int_equal(store_stats(s, &count, &bytes), 0);
	assert_int_equal(count, 1);
	assert_int_equal(bytes, 500);
	store_close(s);
}

/* Pending writes are visible, abort drops them, commit keeps them. */
static void
test_group_commit(void **state)
{
	struct tstate *t = *state;
	struct store_id id[10];
	struct store *s;
	uint64_t count, bytes;

	s = open_ok(t->db, 2, 0);
	for (int i = 0; i < 10; i++) {
		mkid("gc", (uint64_t)i, 0, 2, &id[i]);
		assert_int_equal(put_fill(s, &id[i], 1000, (uint64_t)i, 1), 0);
	}
	assert_int_equal(store_pending(s), 10);
	for (int i = 0; i < 10; i++)
		expect_record(s, &id[i], 1000, (uint64_t)i, 1);
	assert_int_equal(store_stats(s, &count, &bytes), 0);
	assert_int_equal(count, 10);
	assert_int_equal(bytes, 10000);

	store_abort(s);
	assert_int_equal(store_pending(s), 0);
	for (int i = 0; i < 10; i++)
		assert_int_equal(store_get(s, &id[i], NULL, NULL, NULL),
		    STORE_NOTFOUND);
	assert_int_equal(store_stats(s, &count, &bytes), 0);
	assert_int_equal(count, 0);
	assert_int_equal(bytes, 0);
	assert_int_equal(store_commit(s), 0); /* nothing to commit */

	for (int i = 0; i < 5; i++)
		assert_int_equal(put_fill(s, &id[i], 1000, (uint64_t)i, 2), 0);
	assert_int_equal(store_commit(s), 0);
	assert_int_equal(store_pending(s), 0);
	/* Closing with a pending batch discards it. */
	for (int i = 5; i < 10; i++)
		assert_int_equal(put_fill(s, &id[i], 1000, (uint64_t)i, 2), 0);
	store_close(s);

	s = open_ok(t->db, 2, 0);
	for (int i = 0; i < 5; i++)
		expect_record(s, &id[i], 1000, (uint64_t)i, 2);
	for (int i = 5; i < 10; i++)
		assert_int_equal(store_get(s, &id[i], NULL, NULL, NULL),
		    STORE_NOTFOUND);
	assert_int_equal(store_stats(s, &count, &bytes), 0);
	assert_int_equal(count, 5);
	assert_int_equal(bytes, 5000);
	store_close(s);
}

/* The on-disk layout documented in store.h, read with LMDB directly. */
static void
test_layout(void **state)
{
	struct tstate *t = *state;
	struct store_meta m = mkmeta(0x0102030405060708ULL);
	struct store_id id;
	struct store *s;
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_cursor *c;
	MDB_val k, v;
	static const uint8_t want_key[] = {
		0x11, 0x22, 0x33, 0x44,	/* c[0] big-endian */
		0x80, 0x00, 0x00, 0x01,	/* c[1] */
		0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, /* key.hi */
		0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10, /* key.lo */
		0x05,			/* replica */
	};

	s = open_ok(t->db, 2, 0);
	memset(&id, 0, sizeof id);
	id.point.c[0] = 0x11223344;
	id.point.c[1] = 0x80000001;
	id.key.hi = 0x0123456789abcdefULL;
	id.key.lo = 0xfedcba9876543210ULL;
	id.replica = 5;
	m.writer = 0x1112131415161718ULL;
	m.mtime_ms = 0x2122232425262728ULL;
	m.flags = STORE_F_TOMBSTONE;
	assert_int_equal(store_put(s, &id, &m, "xyz", 3), 0);
	assert_int_equal(store_commit(s), 0);
	store_close(s);

	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 4), 0);
	assert_int_equal(mdb_env_open(env, t->db, MDB_RDONLY, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "objects", 0, &dbi), 0);
	assert_int_equal(mdb_cursor_open(txn, dbi, &c), 0);
	assert_int_equal(mdb_cursor_get(c, &k, &v, MDB_FIRST), 0);
	assert_int_equal(k.mv_size, sizeof want_key);
	assert_memory_equal(k.mv_data, want_key, sizeof want_key);
	assert_int_equal(v.mv_size, STORE_HEADER_LEN + 3);
	{
		const uint8_t *p = v.mv_data;
		uint64_t sum = hash_checksum("xyz", 3);

		assert_int_equal(p[0], STORE_FORMAT);
		assert_int_equal(p[1], STORE_F_TOMBSTONE);
		assert_int_equal(p[2], 0x08); /* version, little-endian */
		assert_int_equal(p[9], 0x01);
		assert_int_equal(p[10], 0x18); /* writer */
		for (int i = 0; i < 8; i++)  /* checksum */
			assert_int_equal(p[18 + i], (uint8_t)(sum >> (8 * i)));
		assert_int_equal(p[26], 0x28); /* mtime */
		assert_int_equal(p[34], 3);    /* u32 len */
		assert_int_equal(p[35] | p[36] | p[37], 0);
		assert_memory_equal(p + 38, "xyz", 3);
	}
	assert_int_equal(mdb_cursor_get(c, &k, &v, MDB_NEXT), MDB_NOTFOUND);
	mdb_cursor_close(c);
	mdb_txn_abort(txn);
	mdb_env_close(env);
}

/* ---- Iteration by zone against brute force ---- */

#define IT_OBJS 1000 /* objects; 3 replicas each, plus edge ids */
#define IT_MAX (IT_OBJS * 3 + 64)

struct it_set {
	struct store_id ids[IT_MAX];
	int n;
	int dims;
	struct store *s;    /* for reads from inside the callback */
	int stop_after;	    /* stop when n reaches this (0: never) */
	uint64_t last_c0;   /* order check */
};

/* Total order on ids, the same as the store's key order. */
static int
id_cmp(const void *a, const void *b)
{
	const struct store_id *x = a, *y = b;

	for (int i = 0; i < GEOM_MAX_DIMS; i++)
		if (x->point.c[i] != y->point.c[i])
			return x->point.c[i] < y->point.c[i] ? -1 : 1;
	if (x->key.hi != y->key.hi)
		return x->key.hi < y->key.hi ? -1 : 1;
	if (x->key.lo != y->key.lo)
		return x->key.lo < y->key.lo ? -1 : 1;
	return (x->replica > y->replica) - (x->replica < y->replica);
}

/* Collect ids; check data and order; read back through the store. */
static int
it_collect_cb(const struct store_id *id, const struct store_meta *meta,
    const void *data, size_t len, void *arg)
{
	struct it_set *set = arg;
	struct store_meta m;
	uint64_t lo;

	assert_true(set->n < IT_MAX);
	assert_int_equal(len, sizeof lo + 1);
	memcpy(&lo, data, sizeof lo);
	assert_int_equal(lo, id->key.lo);
	assert_int_equal(((const uint8_t *)data)[8], id->replica);
	assert_int_equal(meta->version, id->replica + 1);
	assert_true(id->point.c[0] >= set->last_c0);
	set->last_c0 = id->point.c[0];
	if (set->s != NULL) {
		/* Reads are allowed in a callback. */
		assert_int_equal(store_get_meta(set->s, id, &m), 0);
		assert_int_equal(m.version, meta->version);
	}
	set->ids[set->n++] = *id;
	return set->stop_after > 0 && set->n >= set->stop_after;
}

/* Put one iteration record (data = key.lo, replica). */
static void
it_put(struct store *s, const struct store_id *id)
{
	struct store_meta m = mkmeta(id->replica + 1u);
	uint8_t buf[9];

	memcpy(buf, &id->key.lo, 8);
	buf[8] = id->replica;
	assert_int_equal(store_put(s, id, &m, buf, sizeof buf), 0);
}

/* Iterate z and compare with the brute-force answer over all. */
static int
it_check_zone(struct store *s, const struct it_set *all,
    const struct geom_zone *z, struct it_set *got, struct it_set *want)
{
	int d = all->dims;

	memset(got, 0, sizeof *got);
	got->s = s;
	assert_int_equal(store_iter_zone(s, z, it_collect_cb, got), 0);
	want->n = 0;
	for (int i = 0; i < all->n; i++)
		if (geom_zone_contains(z, &all->ids[i].point, d))
			want->ids[want->n++] = all->ids[i];
	qsort(want->ids, (size_t)want->n, sizeof want->ids[0], id_cmp);
	assert_int_equal(got->n, want->n);
	/* Already in key order: no sort of got. */
	for (int i = 0; i < got->n; i++)
		assert_int_equal(id_cmp(&got->ids[i], &want->ids[i]), 0);
	return got->n;
}

/* Split z at random down to maxdepth; append leaves to out. */
static void
it_partition(const struct geom_zone *z, int d, int depth, uint64_t *r,
    struct geom_zone *out, int *n, int max)
{
	struct geom_zone lo, hi;

	if (depth == 0 || *n + 2 > max || (rnd(r) % 5 == 0 && *n > 0) ||
	    geom_zone_split(z, d, &lo, &hi) == -1) {
		out[(*n)++] = *z;
		return;
	}
	it_partition(&lo, d, depth - 1, r, out, n, max);
	it_partition(&hi, d, depth - 1, r, out, n, max);
}

/* The single-position zone containing p, by splitting all the way down. */
static void
it_point_zone(const struct geom_point *p, int d, struct geom_zone *z)
{
	struct geom_zone lo, hi;

	geom_zone_whole(z, d);
	while (geom_zone_split(z, d, &lo, &hi) == 0)
		*z = geom_zone_contains(&lo, p, d) ? lo : hi;
}

/* Build the records, half committed and half pending, and compare. */
static void
it_run(struct tstate *t, int d)
{
	static const uint32_t edge[] = { 0, 1, 0x7fffffff, 0x80000000,
		0xfffffffe, 0xffffffff, 0x40000000, 0xc0000000 };
	struct it_set *all = calloc(1, sizeof *all);
	struct it_set *got = calloc(1, sizeof *got);
	struct it_set *want = calloc(1, sizeof *want);
	struct geom_zone *zones = calloc(4096, sizeof *zones), whole, z;
	struct store *s;
	uint64_t r = 0x5eed + (uint64_t)d;
	int nz = 0, total;

	assert_true(all && got && want && zones);
	all->dims = d;
	for (int i = 0; i < IT_OBJS; i++)
		for (unsigned rep = 0; rep < 3; rep++)
			mkid("it", (uint64_t)i, rep, d, &all->ids[all->n++]);
	/* Points on zone boundaries and the edges of the torus. */
	for (int i = 0; i < 64; i++) {
		struct store_id *id = &all->ids[all->n++];

		memset(id, 0, sizeof *id);
		for (int j = 0; j < d; j++)
			id->point.c[j] = edge[rnd(&r) % 8];
		id->key.hi = 0xed6e;
		id->key.lo = (uint64_t)i;
		id->replica = (uint8_t)(i % 4);
	}

	s = open_ok(t->db, d, 0);
	for (int i = 0; i < all->n / 2; i++)
		it_put(s, &all->ids[i]);
	assert_int_equal(store_commit(s), 0);
	for (int i = all->n / 2; i < all->n; i++)
		it_put(s, &all->ids[i]); /* iteration sees the batch too */

	geom_zone_whole(&whole, d);
	assert_int_equal(it_check_zone(s, all, &whole, got, want), all->n);

	/* A random partition: each record in exactly one leaf. */
	it_partition(&whole, d, 12, &r, zones, &nz, 4096);
	assert_true(nz > 16);
	total = 0;
	for (int i = 0; i < nz; i++)
		total += it_check_zone(s, all, &zones[i], got, want);
	assert_int_equal(total, all->n);

	/* Single positions: exactly the records at that point. */
	for (int i = 0; i < all->n; i += 97) {
		it_point_zone(&all->ids[i].point, d, &z);
		assert_true(it_check_zone(s, all, &z, got, want) >= 1);
	}

	/* The callback can stop the walk. */
	assert_int_equal(store_commit(s), 0);
	memset(got, 0, sizeof *got);
	got->stop_after = 10;
	assert_int_equal(store_iter_all(s, it_collect_cb, got), 0);
	assert_int_equal(got->n, 10);

	/* An invalid zone is refused. */
	z = whole;
	z.lo[0] = 1;
	z.bits[0] = 4;
	assert_int_equal(store_iter_zone(s, &z, it_collect_cb, got), -1);

	/* And everything is still there after reopening. */
	store_close(s);
	s = open_ok(t->db, d, 0);
	total = it_check_zone(s, all, &zones[nz / 2], got, want);
	assert_int_equal(total, want->n);
	assert_int_equal(it_check_zone(s, all, &whole, got, want), all->n);
	store_close(s);
	free(all);
	free(got);
	free(want);
	free(zones);
}

/* Zone iteration in 2 dimensions. */
static void
test_iter_zone_d2(void **state)
{
	it_run(*state, 2);
}

/* Zone iteration in 3 dimensions. */
static void
test_iter_zone_d3(void **state)
{
	it_run(*state, 3);
}

/* ---- Crash safety ---- */

#define CR_BATCH 20
#define CR_CAP 200000

/* Size of crash object i: a few hundred bytes to 12 KiB. */
static size_t
cr_len(uint64_t i)
{
	return 100 + (size_t)((i * 2654435761u) % 12000);
}

/* Child: put and commit batches, reporting acknowledged counts. */
static void __attribute__((noreturn))
cr_child(const char *dir, int fd, int round)
{
	char err[256];
	struct store *s = store_open(dir, 2, 0, err, sizeof err);
	struct store_id id;
	uint32_t i = 0;
	uint8_t *buf = malloc(16384);

	if (s == NULL || buf == NULL)
		_exit(2);
	while (i < CR_CAP) {
		for (int j = 0; j < CR_BATCH; j++, i++) {
			struct store_meta m = mkmeta((uint64_t)round + 1);

			mkid("crash", (uint64_t)round << 32 | i, i % 3, 2, &id);
			fill(buf, cr_len(i), (uint64_t)round << 32 | i);
			if (store_put(s, &id, &m, buf, cr_len(i)) != 0)
				_exit(3);
		}
		if (store_commit(s) != 0)
			_exit(4);
		/* Acknowledged: everything below i is durable. */
		if (write(fd, &i, sizeof i) != (ssize_t)sizeof i)
			_exit(5);
	}
	_exit(0);
}

/* Check round r: every acknowledged object correct, the rest absent or
 * correct (never corrupt). */
static void
cr_verify(struct store *s, int round, uint32_t acked)
{
	struct store_id id;
	uint32_t extra = 0;
	int rc;

	for (uint32_t i = 0; i < acked + CR_BATCH * 4; i++) {
		mkid("crash", (uint64_t)round << 32 | i, i % 3, 2, &id);
		if (i < acked) {
			expect_record(s, &id, cr_len(i),
			    (uint64_t)round << 32 | i, (uint64_t)round + 1);
			continue;
		}
		rc = store_get(s, &id, NULL, NULL, NULL);
		assert_true(rc == 0 || rc == STORE_NOTFOUND);
		if (rc == 0) {
			expect_record(s, &id, cr_len(i),
			    (uint64_t)round << 32 | i, (uint64_t)round + 1);
			extra++;
		}
	}
	/* Unacknowledged writes land only in whole batches. */
	assert_int_equal(extra % CR_BATCH, 0);
}

/* kill -9 a writer mid-stream; every acknowledged write survives. */
static void
test_crash(void **state)
{
	struct tstate *t = *state;
	uint32_t acked[4] = { 0 }, v;
	uint64_t r = 99;
	struct store *s;

	for (int round = 0; round < 4; round++) {
		int p[2], status;
		pid_t pid;
		ssize_t n;

		assert_int_equal(pipe(p), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(p[0]);
			cr_child(t->db, p[1], round);
		}
		close(p[1]);
		/* Let a random number of batches through, then kill. */
		uint32_t want = (uint32_t)(2 + rnd(&r) % 30) * CR_BATCH;
		while (acked[round] < want &&
		    read(p[0], &v, sizeof v) == (ssize_t)sizeof v)
			acked[round] = v;
		assert_true(acked[round] >= want);
		usleep((useconds_t)(rnd(&r) % 3000));
		assert_int_equal(kill(pid, SIGKILL), 0);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFSIGNALED(status));
		assert_int_equal(WTERMSIG(status), SIGKILL);
		/* Acks written before death count too. */
		while ((n = read(p[0], &v, sizeof v)) == (ssize_t)sizeof v)
			acked[round] = v;
		close(p[0]);

		s = open_ok(t->db, 2, 0);
		for (int q = 0; q <= round; q++)
			cr_verify(s, q, acked[q]);
		store_close(s);
	}
}

/* ---- Corruption ---- */

/* Rewrite the only record's value with LMDB directly, flipping byte at. */
static void
corrupt_only_record(const char *dir, size_t at)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_cursor *c;
	MDB_val k, v, nv;
	uint8_t kbuf[64], *buf;

	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 4), 0);
	assert_int_equal(mdb_env_open(env, dir, 0, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "objects", 0, &dbi), 0);
	assert_int_equal(mdb_cursor_open(txn, dbi, &c), 0);
	assert_int_equal(mdb_cursor_get(c, &k, &v, MDB_FIRST), 0);
	assert_true(k.mv_size <= sizeof kbuf && at < v.mv_size);
	memcpy(kbuf, k.mv_data, k.mv_size);
	k.mv_data = kbuf;
	buf = malloc(v.mv_size);
	assert_non_null(buf);
	memcpy(buf, v.mv_data, v.mv_size);
	buf[at] ^= 0x20;
	nv.mv_size = v.mv_size;
	nv.mv_data = buf;
	mdb_cursor_close(c);
	assert_int_equal(mdb_put(txn, dbi, &k, &nv, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
	free(buf);
}

/* Counts records reported corrupt by iteration. */
static int
corrupt_cb(const struct store_id *id, const struct store_meta *meta,
    const void *data, size_t len, void *arg)
{
	(void)id;
	if (meta->flags & STORE_F_CORRUPT) {
		assert_null(data);
		assert_int_equal(len, 0);
		(*(int *)arg)++;
	}
	return 0;
}

/* A flipped data byte is caught by get and reported by iteration. */
static void
test_corrupt(void **state)
{
	struct tstate *t = *state;
	struct store_meta m;
	struct store_id id;
	struct store *s;
	void *data = NULL;
	int n = 0;

	s = open_ok(t->db, 2, 0);
	mkid("bad", 1, 0, 2, &id);
	assert_int_equal(put_fill(s, &id, 5000, 7, 3), 0);
	assert_int_equal(store_commit(s), 0);
	store_close(s);

	corrupt_only_record(t->db, STORE_HEADER_LEN + 1234);

	s = open_ok(t->db, 2, 0);
	assert_int_equal(store_get(s, &id, &m, &data, NULL), STORE_CORRUPT);
	assert_null(data);
	/* The header alone is fine. */
	assert_int_equal(store_get_meta(s, &id, &m), 0);
	assert_int_equal(m.version, 3);
	assert_int_equal(store_iter_all(s, corrupt_cb, &n), 0);
	assert_int_equal(n, 1);
	/* Repair overwrites it with a good copy. */
	assert_int_equal(put_fill(s, &id, 5000, 7, 3), 0);
	assert_int_equal(store_commit(s), 0);
	expect_record(s, &id, 5000, 7, 3);
	store_close(s);

	/* A damaged length field makes even the header unusable. */
	corrupt_only_record(t->db, 34);
	s = open_ok(t->db, 2, 0);
	assert_int_equal(store_get_meta(s, &id, &m), STORE_CORRUPT);
	assert_int_equal(store_get(s, &id, &m, NULL, NULL), STORE_CORRUPT);
	store_close(s);
}

/* ---- Map full ---- */

#define MF_LEN 16000

/* Fill a 1 MiB map until STORE_FULL; nothing committed is harmed. */
static void
test_map_full(void **state)
{
	struct tstate *t = *state;
	struct store_id id;
	struct store *s;
	uint64_t used, avail, count;
	int committed = 0, next = 0, rc = 0, full_puts = 0;

	s = open_ok(t->db, 2, MiB);
	assert_int_equal(store_space(s, &used, &avail), 0);
	assert_true(used > 0 && avail > 0 && avail < MiB);

	/* A value bigger than the map fails alone; the batch goes on. */
	mkid("mf-small", 0, 0, 2, &id);
	assert_int_equal(put_fill(s, &id, 100, 5, 1), 0);
	mkid("mf-huge", 0, 0, 2, &id);
	assert_int_equal(put_fill(s, &id, 2 * MiB, 6, 1), STORE_FULL);
	assert_int_equal(store_pending(s), 1);
	assert_int_equal(store_get(s, &id, NULL, NULL, NULL), STORE_NOTFOUND);
	assert_int_equal(store_commit(s), 0);
	mkid("mf-small", 0, 0, 2, &id);
	expect_record(s, &id, 100, 5, 1);
	assert_int_equal(store_delete(s, &id), 0);
	assert_int_equal(store_commit(s), 0);

	/* Batches of 4; a full put drops only itself. */
	while (next < 1000 && full_puts == 0) {
		int first = next;

		for (int j = 0; j < 4; j++, next++) {
			mkid("mf", (uint64_t)next, 0, 2, &id);
			rc = put_fill(s, &id, MF_LEN, (uint64_t)next, 1);
			if (rc == STORE_FULL) {
				full_puts++;
				break;
			}
			assert_int_equal(rc, 0);
		}
		assert_int_equal(store_pending(s), (size_t)(next - first));
		rc = store_commit(s);
		if (rc == STORE_FULL)
			break; /* the whole batch is gone, nothing else */
		assert_int_equal(rc, 0);
		committed = next;
	}
	assert_true(full_puts > 0 || rc == STORE_FULL);
	assert_true(committed > 10);
	assert_int_equal(store_stats(s, &count, NULL), 0);
	assert_int_equal(count, committed);
	assert_int_equal(store_space(s, &used, &avail), 0);
	assert_true(avail < 4 * MF_LEN);

	/* Everything acknowledged is intact, also after reopening. */
	store_close(s);
	s = open_ok(t->db, 2, MiB);
	for (int i = 0; i < committed; i++) {
		mkid("mf", (uint64_t)i, 0, 2, &id);
		expect_record(s, &id, MF_LEN, (uint64_t)i, 1);
	}
	for (int i = committed; i <= next; i++) {
		mkid("mf", (uint64_t)i, 0, 2, &id);
		assert_int_equal(store_get(s, &id, NULL, NULL, NULL),
		    STORE_NOTFOUND);
	}

	/* Deleting frees room and the store works again. */
	for (int i = 0; i < committed; i += 2) {
		mkid("mf", (uint64_t)i, 0, 2, &id);
		assert_int_equal(store_delete(s, &id), 0);
	}
	assert_int_equal(store_commit(s), 0);
	for (int i = 0; i < committed / 4; i++) {
		mkid("mf2", (uint64_t)i, 0, 2, &id);
		assert_int_equal(put_fill(s, &id, MF_LEN, 1000 + (uint64_t)i,
		    2), 0);
	}
	assert_int_equal(store_commit(s), 0);
	for (int i = 0; i < committed; i++) {
		mkid("mf", (uint64_t)i, 0, 2, &id);
		if (i % 2 == 0)
			assert_int_equal(store_get(s, &id, NULL, NULL, NULL),
			    STORE_NOTFOUND);
		else
			expect_record(s, &id, MF_LEN, (uint64_t)i, 1);
	}
	for (int i = 0; i < committed / 4; i++) {
		mkid("mf2", (uint64_t)i, 0, 2, &id);
		expect_record(s, &id, MF_LEN, 1000 + (uint64_t)i, 2);
	}
	store_close(s);
}

/* A 4 MiB value round trip, and the size limit. */
static void
test_big_value(void **state)
{
	struct tstate *t = *state;
	struct store_meta m = mkmeta(1);
	struct store_id id;
	struct store *s;
	uint64_t count, bytes;

	s = open_ok(t->db, 3, 0);
	mkid("big", 1, 0, 3, &id);
	assert_int_equal(put_fill(s, &id, 4 * MiB, 77, 1), 0);
	expect_record(s, &id, 4 * MiB, 77, 1);
	assert_int_equal(store_commit(s), 0);
	assert_int_equal(store_put(s, &id, &m, "", (size_t)STORE_MAX_DATA + 1),
	    -1);
	store_close(s);

	s = open_ok(t->db, 3, 0);
	expect_record(s, &id, 4 * MiB, 77, 1);
	assert_int_equal(store_stats(s, &count, &bytes), 0);
	assert_int_equal(count, 1);
	assert_int_equal(bytes, 4 * MiB);
	store_close(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_roundtrip, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_notfound_and_open_errors,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_tombstone, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_overwrite, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_group_commit, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_layout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_iter_zone_d2, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_iter_zone_d3, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_crash, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_map_full, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_big_value, setup,
		    teardown),
	};

	log_init("test_store", getenv("TEST_VERBOSE") != NULL ?
	    LOG_LVL_DEBUG : -1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
