/*
 * test_store.c: unit tests of the node-local object store (overlay/store.c).
 *
 * Every test runs in its own mkdtemp directory (removed afterwards); the
 * store lives in a "db" subdirectory so that store_open creates it.
 * TEST_VERBOSE=1 in the environment shows the store's log lines (several
 * tests provoke errors on purpose).  TEST_STORE_MAP_MB=256 replaces the
 * default 64 GiB map, which valgrind cannot map:
 *   TEST_STORE_MAP_MB=256 valgrind --tool=helgrind build/tests/test_store
 *
 * Writes are asynchronous: store_put()/store_delete() only queue, the
 * store's commit thread commits.  Tests that need queued writes to stay
 * queued (to show that reads do not see them) hold LMDB's write lock from
 * a child process (block_writer()), which stops the commit thread before
 * its next batch; nothing here depends on timing.
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
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

/*
 * The map size to open with: map, or for 0 (the store's default, a
 * 64 GiB sparse map) TEST_STORE_MAP_MB from the environment when set:
 * valgrind cannot map 64 GiB.
 */
static size_t
test_map(size_t map)
{
	const char *mb = getenv("TEST_STORE_MAP_MB");

	if (map != 0 || mb == NULL || *mb == '\0')
		return map;
	return (size_t)strtoul(mb, NULL, 10) << 20;
}

/* Open a store or fail the test. */
static struct store *
open_ok(const char *dir, int dims, size_t map)
{
	char err[256] = "";
	struct store *s = store_open(dir, dims, test_map(map), err,
	    sizeof err);

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

/*
 * A child process holding LMDB's write lock on a store's directory.
 * While it holds it, the store's commit thread cannot begin a batch, so
 * every write queued meanwhile stays queued (at most the batch the
 * thread took before blocking is in flight, and it cannot commit either).
 * Start it after store_open (which needs the lock itself) and release it
 * before store_commit or store_close.
 */
struct blocker {
	pid_t pid;
	int ctl; /* closing it lets the child go */
};

static void
block_writer(const char *dir, struct blocker *b)
{
	int up[2], down[2];
	char c;

	assert_int_equal(pipe(up), 0);
	assert_int_equal(pipe(down), 0);
	b->pid = fork();
	assert_true(b->pid >= 0);
	if (b->pid == 0) {
		MDB_env *env;
		MDB_txn *txn;

		close(up[0]);
		close(down[1]);
		if (mdb_env_create(&env) != 0 ||
		    mdb_env_set_maxdbs(env, 4) != 0 ||
		    mdb_env_open(env, dir, 0, 0600) != 0 ||
		    mdb_txn_begin(env, NULL, 0, &txn) != 0)
			_exit(1);
		if (write(up[1], "r", 1) != 1)
			_exit(1);
		while (read(down[0], &c, 1) == -1 && errno == EINTR)
			;
		mdb_txn_abort(txn);
		mdb_env_close(env);
		_exit(0);
	}
	close(up[1]);
	close(down[0]);
	assert_int_equal(read(up[0], &c, 1), 1); /* the child holds it */
	close(up[0]);
	b->ctl = down[1];
}

/* Let the commit thread go again. */
static void
release_writer(struct blocker *b)
{
	int status;

	close(b->ctl);
	assert_int_equal(waitpid(b->pid, &status, 0), b->pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* Is the store's eventfd readable (within timeout_ms)? */
static bool
event_ready(struct store *s, int timeout_ms)
{
	struct pollfd pfd = { .fd = store_event_fd(s), .events = POLLIN };
	int rc;

	while ((rc = poll(&pfd, 1, timeout_ms)) == -1 && errno == EINTR)
		;
	assert_true(rc >= 0);
	return rc == 1 && (pfd.revents & POLLIN);
}

/* Counts records (iteration callback). */
static int
count_cb(const struct store_id *id, const struct store_meta *meta,
    const void *data, size_t len, void *arg)
{
	(void)id;
	(void)meta;
	(void)data;
	(void)len;
	(*(int *)arg)++;
	return 0;
}

/* Number of records iteration reports. */
static int
iter_count(struct store *s)
{
	int n = 0;

	assert_int_equal(store_iter_all(s, count_cb, &n), 0);
	return n;
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
	m.ops[0].client = 0x0102030405060708ULL;
	m.nops = 1;
	m.ops[0].seq = 77;
	assert_int_equal(store_put(s, &id, &m, msg, sizeof msg), 0);
	assert_int_equal(store_pending(s), 1);
	/* Queued: peek sees it with the computed fields already. */
	assert_int_equal(store_peek_meta(s, &id, &got), 0);
	assert_int_equal(got.version, 7);
	assert_int_equal(got.len, sizeof msg);
	assert_int_equal(got.checksum, hash_checksum(msg, sizeof msg));
	assert_int_equal(store_commit(s), 0);
	assert_int_equal(store_pending(s), 0);
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
	assert_int_equal(got.ops[0].client, m.ops[0].client);
	assert_int_equal(got.ops[0].seq, 77);
	assert_int_equal(store_commit(s), 0); /* nothing queued: fine */
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
	assert_int_equal(got.ops[0].client, m.ops[0].client);
	/* All out-parameters are optional. */
	assert_int_equal(store_get(s, &id, NULL, NULL, NULL), 0);
	assert_int_equal(store_peek_meta(s, &id, NULL), 0);
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
	assert_int_equal(store_peek_meta(s, &id, &m), STORE_NOTFOUND);
	assert_int_equal(store_pending(s), 0);
	/* Deleting an absent record is queued and succeeds. */
	assert_int_equal(store_delete(s, &id), 0);
	assert_int_equal(store_pending(s), 1);
	assert_int_equal(store_commit(s), 0);
	assert_int_equal(store_pending(s), 0);
	assert_int_equal(store_get(s, &id, NULL, NULL, NULL), STORE_NOTFOUND);
	assert_int_equal(store_dims(s), 3);

	/* A second open of the same directory is refused. */
	err[0] = '\0';
	s2 = store_open(t->db, 3, test_map(0), err, sizeof err);
	assert_null(s2);
	assert_non_null(strstr(err, "in use"));
	store_close(s);

	/* Wrong dimension count for an existing store. */
	err[0] = '\0';
	assert_null(store_open(t->db, 2, test_map(0), err, sizeof err));
	assert_non_null(strstr(err, "d=3"));
	assert_null(store_open(t->db, 0, test_map(0), err, sizeof err));
	assert_null(store_open(t->db, GEOM_MAX_DIMS + 1, test_map(0), err,
	    sizeof err));

	/* A file where the directory should be. */
	snprintf(file, sizeof file, "%s/file", t->tmp);
	fd = open(file, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	err[0] = '\0';
	assert_null(store_open(file, 2, test_map(0), err, sizeof err));
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

	/* Bad arguments fail at once and queue nothing. */
	m.flags = 0x80;
	assert_int_equal(store_put(s, &id, &m, NULL, 0), -1);
	m.flags = 0;
	assert_int_equal(store_put(s, &id, &m, NULL, 5), -1);
	assert_int_equal(store_pending(s), 0);
	assert_int_equal(store_peek_meta(s, &id, &got), 0);
	assert_int_equal(got.flags, STORE_F_TOMBSTONE);
	store_close(s);
}

/* A second put replaces the first, whatever the sizes. */
static void
test_overwrite(void **state)
{
	struct tstate *t = *state;
	struct store_meta m;
	struct store_id id;
	struct store *s;
	uint64_t count, bytes;

	s = open_ok(t->db, 2, 0);
	mkid("ow", 1, 1, 2, &id);
	assert_int_equal(put_fill(s, &id, 100000, 1, 1), 0);
	assert_int_equal(store_commit(s), 0);
	expect_record(s, &id, 100000, 1, 1);
	assert_int_equal(put_fill(s, &id, 10, 2, 2), 0);
	assert_int_equal(store_peek_meta(s, &id, &m), 0);
	assert_int_equal(m.version, 2);
	assert_int_equal(m.len, 10);
	assert_int_equal(store_commit(s), 0);
	expect_record(s, &id, 10, 2, 2);
	assert_int_equal(store_stats(s, &count, &bytes), 0);
	assert_int_equal(count, 1);
	assert_int_equal(bytes, 10);
	assert_int_equal(put_fill(s, &id, 5000, 3, 3), 0);
	assert_int_equal(put_fill(s, &id, 6000, 4, 4), 0); /* queued together */
	assert_int_equal(store_commit(s), 0);
	expect_record(s, &id, 6000, 4, 4);
	store_close(s);

	s = open_ok(t->db, 2, 0);
	expect_record(s, &id, 6000, 4, 4);
	assert_int_equal(store_stats(s, &count, &bytes), 0);
	assert_int_equal(count, 1);
	assert_int_equal(bytes, 6000);
	store_close(s);
}

/*
 * Physical delete: a queued delete hides the record from peek only;
 * committed, it is gone for every read and after reopen; stats follow.
 */
static void
test_delete(void **state)
{
	struct tstate *t = *state;
	struct blocker b;
	struct store_id a, b_id;
	struct store *s;
	uint64_t count, bytes;

	s = open_ok(t->db, 2, 0);
	mkid("del", 1, 0, 2, &a);
	mkid("del", 2, 0, 2, &b_id);
	assert_int_equal(put_fill(s, &a, 300, 1, 1), 0);
	assert_int_equal(put_fill(s, &b_id, 500, 2, 1), 0);
	assert_int_equal(store_commit(s), 0);

	block_writer(t->db, &b);
	assert_int_equal(store_delete(s, &a), 0);
	assert_int_equal(store_pending(s), 1);
	expect_record(s, &a, 300, 1, 1); /* still committed */
	assert_int_equal(store_peek_meta(s, &a, NULL), STORE_NOTFOUND);
	assert_int_equal(store_stats(s, &count, &bytes), 0);
	assert_int_equal(count, 2);
	assert_int_equal(bytes, 800);
	assert_int_equal(store_delete(s, &a), 0); /* twice is fine */
	assert_int_equal(store_pending(s), 2);
	release_writer(&b);
	assert_int_equal(store_commit(s), 0);
	assert_int_equal(store_pending(s), 0);
	assert_int_equal(store_get(s, &a, NULL, NULL, NULL), STORE_NOTFOUND);
	assert_int_equal(store_get_meta(s, &a, NULL), STORE_NOTFOUND);
	assert_int_equal(store_stats(s, &count, &bytes), 0);
	assert_int_equal(count, 1);
	assert_int_equal(bytes, 500);
	store_close(s);

	s = open_ok(t->db, 2, 0);
	assert_int_equal(store_get(s, &a, NULL, NULL, NULL), STORE_NOTFOUND);
	expect_record(s, &b_id, 500, 2, 1);
	assert_int_equal(store_stats(s, &count, &bytes), 0);
	assert_int_equal(count, 1);
	assert_int_equal(bytes, 500);
	store_close(s);
}

/* Records that a waiter was called (and with which rc). */
static void
flag_cb(void *arg, int rc)
{
	int *flag = arg;

	*flag = rc == 0 ? 1 : 100 + rc;
}

/*
 * Queued writes are invisible to get, stats and iteration but visible to
 * peek; store_pending counts them; store_commit makes them visible (in
 * at most two batches: group commit); close commits queued writes.
 */
static void
test_group_commit(void **state)
{
	struct tstate *t = *state;
	struct blocker b;
	struct store_meta m;
	struct store_id id[10];
	struct store *s;
	uint64_t count, bytes, c0;
	int called = 0;

	s = open_ok(t->db, 2, 0);
	c0 = store_commits(s);
	block_writer(t->db, &b);
	for (int i = 0; i < 10; i++) {
		mkid("gc", (uint64_t)i, 0, 2, &id[i]);
		assert_int_equal(put_fill(s, &id[i], 1000, (uint64_t)i, 1), 0);
	}
	assert_int_equal(store_pending(s), 10);
	for (int i = 0; i < 10; i++) {
		assert_int_equal(store_get(s, &id[i], NULL, NULL, NULL),
		    STORE_NOTFOUND);
		assert_int_equal(store_get_meta(s, &id[i], NULL),
		    STORE_NOTFOUND);
		assert_int_equal(store_peek_meta(s, &id[i], &m), 0);
		assert_int_equal(m.version, 1);
		assert_int_equal(m.len, 1000);
	}
	assert_int_equal(store_stats(s, &count, &bytes), 0);
	assert_int_equal(count, 0);
	assert_int_equal(bytes, 0);
	assert_int_equal(iter_count(s), 0);
	/* Nothing is finished, so reaping does nothing. */
	assert_false(event_ready(s, 0));
	assert_int_equal(store_reap(s), 0);
	assert_int_equal(store_pending(s), 10);
	assert_int_equal(store_commits(s), c0);
	release_writer(&b);

	assert_int_equal(store_commit(s), 0);
	assert_int_equal(store_pending(s), 0);
	/* The thread took one batch before it blocked, the rest in one. */
	assert_true(store_commits(s) - c0 >= 1 && store_commits(s) - c0 <= 2);
	for (int i = 0; i < 10; i++)
		expect_record(s, &id[i], 1000, (uint64_t)i, 1);
	assert_int_equal(store_stats(s, &count, &bytes), 0);
	assert_int_equal(count, 10);
	assert_int_equal(bytes, 10000);
	assert_int_equal(iter_count(s), 10);

	/* Committing nothing costs no commit. */
	c0 = store_commits(s);
	assert_int_equal(store_commit(s), 0);
	assert_int_equal(store_commits(s), c0);

	for (int i = 0; i < 5; i++)
		assert_int_equal(put_fill(s, &id[i], 1000, (uint64_t)i, 2), 0);
	assert_int_equal(store_commit(s), 0);
	assert_int_equal(store_pending(s), 0);
	/* Closing with queued writes commits them and answers waiters. */
	for (int i = 5; i < 10; i++)
		assert_int_equal(put_fill(s, &id[i], 1000, (uint64_t)i, 2), 0);
	store_when_durable(s, flag_cb, &called);
	store_close(s);
	assert_int_equal(called, 1);

	s = open_ok(t->db, 2, 0);
	for (int i = 0; i < 10; i++)
		expect_record(s, &id[i], 1000, (uint64_t)i, 2);
	assert_int_equal(store_stats(s, &count, &bytes), 0);
	assert_int_equal(count, 10);
	assert_int_equal(bytes, 10000);
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
	m.ops[0].client = 0x3132333435363738ULL;
	m.nops = 1;
	m.ops[0].seq = 0x4142434445464748ULL;
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
	assert_int_equal(v.mv_size, STORE_HEADER_LEN(1) + 3);
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
		assert_int_equal(p[38], 1); /* nops */
		for (int i = 0; i < 8; i++) { /* op client, seq, version */
			assert_int_equal(p[39 + i], 0x38 - i);
			assert_int_equal(p[47 + i], 0x48 - i);
			assert_int_equal(p[55 + i], p[2 + i]); /* = version */
		}
		assert_int_equal(STORE_HEADER_LEN(1), 63);
		assert_memory_equal(p + 63, "xyz", 3);
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

/* Build the records, half committed and half queued, and compare. */
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
	struct blocker b;
	uint64_t r = 0x5eed + (uint64_t)d;
	int nz = 0, total, half;

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
	block_writer(t->db, &b);
	for (int i = all->n / 2; i < all->n; i++)
		it_put(s, &all->ids[i]);
	/* Iteration sees the committed half only, not the queued one. */
	geom_zone_whole(&whole, d);
	half = all->n;
	all->n /= 2;
	assert_int_equal(it_check_zone(s, all, &whole, got, want), all->n);
	all->n = half;
	release_writer(&b);
	assert_int_equal(store_commit(s), 0);

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
#define CR_WINDOW (CR_BATCH * 4) /* most groups a child has unacked */

/* Size of crash object i: a few hundred bytes to 12 KiB. */
static size_t
cr_len(uint64_t i)
{
	return 100 + (size_t)((i * 2654435761u) % 12000);
}

/* One acknowledgement waiting for store_when_durable. */
struct cr_ack {
	struct store *s;
	struct store_id last; /* the group's last write */
	uint64_t version;
	uint32_t upto;	      /* every write below it */
	int fd;
};

/* Child, asynchronous mode: acknowledge a group once it is durable. */
static void
cr_ack_cb(void *arg, int rc)
{
	struct cr_ack *a = arg;
	struct store_meta m;

	if (rc != 0)
		_exit(4);
	/* Durable means readable (committed state). */
	if (store_get_meta(a->s, &a->last, &m) != 0 || m.version != a->version)
		_exit(6);
	if (write(a->fd, &a->upto, sizeof a->upto) != (ssize_t)sizeof a->upto)
		_exit(5);
	free(a);
}

/*
 * Child: put groups of CR_BATCH, reporting acknowledged counts.  Even
 * rounds acknowledge after store_commit() returned 0; odd rounds stream
 * (several groups in flight) and acknowledge from store_when_durable()
 * callbacks, reaping when the event fd says so.
 */
static void __attribute__((noreturn))
cr_child(const char *dir, int fd, int round)
{
	char err[256];
	struct store *s = store_open(dir, 2, test_map(0), err, sizeof err);
	struct store_id id;
	uint32_t i = 0;
	uint8_t *buf = malloc(16384);
	bool async = round % 2 == 1;

	if (s == NULL || buf == NULL)
		_exit(2);
	while (i < CR_CAP) {
		struct store_meta m = mkmeta((uint64_t)round + 1);

		for (int j = 0; j < CR_BATCH; j++, i++) {
			mkid("crash", (uint64_t)round << 32 | i, i % 3, 2, &id);
			fill(buf, cr_len(i), (uint64_t)round << 32 | i);
			if (store_put(s, &id, &m, buf, cr_len(i)) != 0)
				_exit(3);
		}
		if (!async) {
			if (store_commit(s) != 0)
				_exit(4);
			/* Acknowledged: everything below i is durable. */
			if (write(fd, &i, sizeof i) != (ssize_t)sizeof i)
				_exit(5);
			continue;
		}
		struct cr_ack *a = malloc(sizeof *a);

		if (a == NULL)
			_exit(2);
		a->s = s;
		a->last = id;
		a->version = m.version;
		a->upto = i;
		a->fd = fd;
		store_when_durable(s, cr_ack_cb, a);
		/* Keep at most CR_WINDOW writes unreaped. */
		while (store_pending(s) > CR_WINDOW) {
			struct pollfd pfd = { store_event_fd(s), POLLIN, 0 };

			if (poll(&pfd, 1, -1) == -1 && errno != EINTR)
				_exit(7);
			if (store_reap(s) != 0)
				_exit(4);
		}
	}
	_exit(0);
}

/*
 * Check round r: every acknowledged object correct; past them, the
 * surviving unacknowledged writes are a prefix of the queue order (the
 * commit thread commits batches in order, each atomically), all correct
 * (never corrupt).
 */
static void
cr_verify(struct store *s, int round, uint32_t acked)
{
	struct store_id id;
	uint32_t extra = 0;
	bool gone = false;
	int rc;

	for (uint32_t i = 0; i < acked + CR_WINDOW * 3; i++) {
		mkid("crash", (uint64_t)round << 32 | i, i % 3, 2, &id);
		if (i < acked) {
			expect_record(s, &id, cr_len(i),
			    (uint64_t)round << 32 | i, (uint64_t)round + 1);
			continue;
		}
		rc = store_get(s, &id, NULL, NULL, NULL);
		assert_true(rc == 0 || rc == STORE_NOTFOUND);
		if (rc == STORE_NOTFOUND) {
			gone = true;
			continue;
		}
		assert_false(gone); /* no hole before a surviving write */
		expect_record(s, &id, cr_len(i), (uint64_t)round << 32 | i,
		    (uint64_t)round + 1);
		extra++;
	}
	/* Never more durable and unacknowledged than the child had queued. */
	assert_true(extra <= CR_WINDOW + CR_BATCH);
	assert_true(gone);
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
		/* Let a random number of groups through, then kill. */
		uint32_t want = (uint32_t)(2 + rnd(&r) % 30) * CR_BATCH;
		while (acked[round] < want &&
		    read(p[0], &v, sizeof v) == (ssize_t)sizeof v) {
			assert_true(v > acked[round]); /* acks come in order */
			acked[round] = v;
		}
		assert_true(acked[round] >= want);
		usleep((useconds_t)(rnd(&r) % 3000));
		assert_int_equal(kill(pid, SIGKILL), 0);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFSIGNALED(status));
		assert_int_equal(WTERMSIG(status), SIGKILL);
		/* Acks written before death count too. */
		while ((n = read(p[0], &v, sizeof v)) == (ssize_t)sizeof v) {
			assert_true(v > acked[round]);
			acked[round] = v;
		}
		close(p[0]);

		s = open_ok(t->db, 2, 0);
		for (int q = 0; q <= round; q++)
			cr_verify(s, q, acked[q]);
		store_close(s);
	}
}

/* ---- Corruption ---- */

/*
 * Rewrite the only record's value with LMDB directly: byte at becomes
 * value, or is flipped (bit 0x20) when value is -1.
 */
static void
edit_only_record(const char *dir, size_t at, int value)
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
	if (value < 0)
		buf[at] ^= 0x20;
	else
		buf[at] = (uint8_t)value;
	nv.mv_size = v.mv_size;
	nv.mv_data = buf;
	mdb_cursor_close(c);
	assert_int_equal(mdb_put(txn, dbi, &k, &nv, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
	free(buf);
}

/* Flip a bit of byte at of the only record. */
static void
corrupt_only_record(const char *dir, size_t at)
{
	edit_only_record(dir, at, -1);
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

	corrupt_only_record(t->db, STORE_HEADER_LEN(0) + 1234);

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

/* ---- Asynchronous writes: waiters, peek, op ids, group commit ---- */

/* Assert that id holds exactly data[0..len); its meta into *m. */
static void
expect_record_data(struct store *s, const struct store_id *id,
    const void *want, size_t len, struct store_meta *m)
{
	void *data = NULL;
	size_t got = 0;

	assert_int_equal(store_get(s, id, m, &data, &got), 0);
	assert_int_equal(got, len);
	assert_int_equal(m->len, len);
	assert_int_equal(m->checksum, hash_checksum(want, len));
	assert_memory_equal(data, want, len);
	free(data);
}

/* Set byte at of the only record to value. */
static void
corrupt_only_record_byte(const char *dir, size_t at, uint8_t value)
{
	edit_only_record(dir, at, value);
}

/* Open dir with LMDB directly, in a write transaction. */
static void
raw_begin(const char *dir, MDB_env **env, MDB_txn **txn, MDB_dbi *objects,
    MDB_dbi *meta)
{
	assert_int_equal(mdb_env_create(env), 0);
	assert_int_equal(mdb_env_set_maxdbs(*env, 4), 0);
	assert_int_equal(mdb_env_open(*env, dir, 0, 0600), 0);
	assert_int_equal(mdb_txn_begin(*env, NULL, 0, txn), 0);
	assert_int_equal(mdb_dbi_open(*txn, "objects", 0, objects), 0);
	assert_int_equal(mdb_dbi_open(*txn, "meta", 0, meta), 0);
}

/* Commit and close what raw_begin opened. */
static void
raw_end(MDB_env *env, MDB_txn *txn)
{
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

/* Read the u32 "format" of the meta database. */
static uint32_t
raw_format(MDB_txn *txn, MDB_dbi meta)
{
	MDB_val k = { 6, (void *)"format" }, v;
	const uint8_t *p;

	assert_int_equal(mdb_get(txn, meta, &k, &v), 0);
	assert_int_equal(v.mv_size, 4);
	p = v.mv_data;
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

/* Set the u32 "format" of the meta database. */
static void
raw_set_format(MDB_txn *txn, MDB_dbi meta, uint32_t format)
{
	uint8_t buf[4] = { (uint8_t)format, (uint8_t)(format >> 8),
		(uint8_t)(format >> 16), (uint8_t)(format >> 24) };
	MDB_val k = { 6, (void *)"format" }, v = { 4, buf };

	assert_int_equal(mdb_put(txn, meta, &k, &v, 0), 0);
}

/* What the waiters of test_when_durable saw. */
struct wd_log {
	struct store *s;
	int order[32]; /* tags in call order */
	int rc[32];
	int n;
};

/* A waiter: the writes listed must be readable when it is called. */
struct wd_waiter {
	struct wd_log *log;
	int tag;
	int nids;
	struct store_id ids[4];
	uint64_t seeds[4], versions[4];
	size_t lens[4];
	/* Optional: queue this write and this waiter from the callback. */
	struct store_id *then_id;
	struct wd_waiter *then;
};

static void
wd_cb(void *arg, int rc)
{
	struct wd_waiter *w = arg;

	for (int i = 0; i < w->nids; i++)
		expect_record(w->log->s, &w->ids[i], w->lens[i], w->seeds[i],
		    w->versions[i]);
	assert_true(w->log->n < 32);
	w->log->order[w->log->n] = w->tag;
	w->log->rc[w->log->n++] = rc;
	if (w->then != NULL) {
		assert_int_equal(put_fill(w->log->s, w->then_id, 33, 9, 9), 0);
		store_when_durable(w->log->s, wd_cb, w->then);
	}
}

/* Add record (id, len, seed, version) to what w expects. */
static void
wd_expect(struct wd_waiter *w, const struct store_id *id, size_t len,
    uint64_t seed, uint64_t version)
{
	assert_true(w->nids < 4);
	w->ids[w->nids] = *id;
	w->lens[w->nids] = len;
	w->seeds[w->nids] = seed;
	w->versions[w->nids++] = version;
}

/* Poll the event fd and reap until the log holds n calls. */
static void
wd_reap_until(struct store *s, struct wd_log *log, int n)
{
	for (int spins = 0; log->n < n; spins++) {
		int before = log->n;

		assert_true(spins < 1000);
		assert_true(event_ready(s, 10000));
		/* Readable means finished, not announced: reap does that. */
		assert_int_equal(log->n, before);
		assert_int_equal(store_reap(s), 0);
	}
	assert_int_equal(log->n, n);
}

/*
 * store_when_durable: at once when nothing is queued, else from
 * store_reap() once the event fd is readable; in the order added; and
 * only when every write queued before the waiter reads back.
 */
static void
test_when_durable(void **state)
{
	struct tstate *t = *state;
	struct wd_log log = { 0 };
	struct wd_waiter w[12];
	struct blocker b;
	struct store_id a, bb, c, d, e;
	struct store *s;

	memset(w, 0, sizeof w);
	for (int i = 0; i < 12; i++) {
		w[i].log = &log;
		w[i].tag = i;
	}
	s = open_ok(t->db, 2, 0);
	log.s = s;
	mkid("wd", 1, 0, 2, &a);
	mkid("wd", 2, 1, 2, &bb);
	mkid("wd", 3, 2, 2, &c);
	mkid("wd", 4, 0, 2, &d);
	mkid("wd", 5, 0, 2, &e);

	/* Nothing queued: called before store_when_durable returns. */
	store_when_durable(s, wd_cb, &w[0]);
	assert_int_equal(log.n, 1);
	assert_int_equal(log.rc[0], 0);

	/* Queued behind a held commit thread: nobody is called yet. */
	block_writer(t->db, &b);
	assert_int_equal(put_fill(s, &a, 500, 11, 1), 0);
	wd_expect(&w[1], &a, 500, 11, 1);
	store_when_durable(s, wd_cb, &w[1]);
	assert_int_equal(put_fill(s, &bb, 70000, 12, 1), 0);
	wd_expect(&w[2], &a, 500, 11, 1);
	wd_expect(&w[2], &bb, 70000, 12, 1);
	store_when_durable(s, wd_cb, &w[2]);
	w[3] = w[2];
	w[3].tag = 3; /* no write in between: same point */
	store_when_durable(s, wd_cb, &w[3]);
	assert_int_equal(put_fill(s, &c, 10, 14, 1), 0);
	assert_int_equal(store_delete(s, &e), 0); /* absent: fine */
	wd_expect(&w[4], &a, 500, 11, 1);
	wd_expect(&w[4], &bb, 70000, 12, 1);
	wd_expect(&w[4], &c, 10, 14, 1);
	store_when_durable(s, wd_cb, &w[4]);
	assert_int_equal(store_pending(s), 4);
	assert_false(event_ready(s, 0));
	assert_int_equal(store_reap(s), 0);
	assert_int_equal(log.n, 1);
	release_writer(&b);

	/* The loop's way: poll the event fd, reap. */
	wd_reap_until(s, &log, 5);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(log.order[i], i);
		assert_int_equal(log.rc[i], 0);
	}
	assert_int_equal(store_pending(s), 0);

	/*
	 * A waiter added when every write is finished but not yet reaped
	 * still waits for the waiters before it.
	 */
	assert_int_equal(put_fill(s, &d, 100, 15, 1), 0);
	wd_expect(&w[5], &d, 100, 15, 1);
	store_when_durable(s, wd_cb, &w[5]);
	assert_true(event_ready(s, 10000)); /* d's batch is finished */
	store_when_durable(s, wd_cb, &w[6]);
	assert_int_equal(log.n, 5);
	wd_reap_until(s, &log, 7);
	assert_int_equal(log.order[5], 5);
	assert_int_equal(log.order[6], 6);
	/* And with nothing left, at once again. */
	store_when_durable(s, wd_cb, &w[7]);
	assert_int_equal(log.n, 8);
	assert_int_equal(log.order[7], 7);

	/*
	 * A waiter may queue a write and a waiter of its own: that one
	 * waits for the new write (store_commit does not wait for writes
	 * queued after it started).
	 */
	assert_int_equal(put_fill(s, &d, 100, 16, 2), 0);
	wd_expect(&w[8], &d, 100, 16, 2);
	w[8].then_id = &e;
	w[8].then = &w[9];
	wd_expect(&w[9], &e, 33, 9, 9);
	store_when_durable(s, wd_cb, &w[8]);
	assert_int_equal(store_commit(s), 0);
	assert_int_equal(log.n, 9);
	assert_int_equal(log.order[8], 8);
	wd_reap_until(s, &log, 10);
	assert_int_equal(log.order[9], 9);
	assert_int_equal(store_pending(s), 0);
	store_close(s);
}

/*
 * store_close answers every waiter, also one queued (with its write) by
 * a waiter that close itself called.
 */
static void
test_close_waiters(void **state)
{
	struct tstate *t = *state;
	struct wd_log log = { 0 };
	struct wd_waiter w[2];
	struct store_id a, e;
	struct store *s;

	memset(w, 0, sizeof w);
	s = open_ok(t->db, 2, 0);
	log.s = s;
	mkid("cw", 1, 0, 2, &a);
	mkid("cw", 2, 0, 2, &e);
	for (int i = 0; i < 2; i++) {
		w[i].log = &log;
		w[i].tag = i;
	}
	assert_int_equal(put_fill(s, &a, 100, 1, 1), 0);
	wd_expect(&w[0], &a, 100, 1, 1);
	w[0].then_id = &e;
	w[0].then = &w[1];
	store_when_durable(s, wd_cb, &w[0]);
	store_close(s); /* w[1] must not touch s after this: no ids */
	assert_int_equal(log.n, 2);

	s = open_ok(t->db, 2, 0);
	expect_record(s, &a, 100, 1, 1);
	expect_record(s, &e, 33, 9, 9);
	store_close(s);
}

/*
 * store_peek_meta sees the newest of several queued writes to one id and
 * a queued delete; store_get and store_get_meta see committed state.
 */
static void
test_peek_meta(void **state)
{
	struct tstate *t = *state;
	struct blocker b;
	struct store_meta m, m3 = mkmeta(3);
	struct store_id x, y, x2, z;
	struct store *s;

	s = open_ok(t->db, 2, 0);
	mkid("pk", 1, 0, 2, &x);
	mkid("pk", 2, 0, 2, &y);
	mkid("pk", 3, 0, 2, &z);
	/* Same key and replica as x, another point: another record. */
	x2 = x;
	x2.point.c[0] ^= 0x80000000u;
	assert_int_equal(put_fill(s, &x, 100, 1, 1), 0);
	assert_int_equal(store_commit(s), 0);

	block_writer(t->db, &b);
	assert_int_equal(put_fill(s, &x, 200, 2, 2), 0);
	m3.ops[0].client = 0xc11e47;
	m3.nops = 1;
	m3.ops[0].seq = 5;
	m3.flags = STORE_F_TOMBSTONE;
	assert_int_equal(store_put(s, &x, &m3, NULL, 0), 0);
	assert_int_equal(store_peek_meta(s, &x, &m), 0);
	assert_int_equal(m.version, 3);
	assert_int_equal(m.flags, STORE_F_TOMBSTONE);
	assert_int_equal(m.len, 0);
	assert_int_equal(m.checksum, hash_checksum("", 0));
	assert_int_equal(m.writer, m3.writer);
	assert_int_equal(m.mtime_ms, m3.mtime_ms);
	assert_int_equal(m.ops[0].client, 0xc11e47);
	assert_int_equal(m.ops[0].seq, 5);
	/* Reads see the committed version 1. */
	assert_int_equal(store_get_meta(s, &x, &m), 0);
	assert_int_equal(m.version, 1);
	expect_record(s, &x, 100, 1, 1);
	/* Other records are not confused with x. */
	assert_int_equal(store_peek_meta(s, &x2, NULL), STORE_NOTFOUND);
	assert_int_equal(store_peek_meta(s, &z, NULL), STORE_NOTFOUND);

	/* A queued delete reads as absent to peek only. */
	assert_int_equal(store_delete(s, &x), 0);
	assert_int_equal(store_peek_meta(s, &x, &m), STORE_NOTFOUND);
	assert_int_equal(store_get_meta(s, &x, &m), 0);
	assert_int_equal(m.version, 1);
	/* Put, delete: absent; delete, put: present. */
	assert_int_equal(put_fill(s, &y, 50, 3, 1), 0);
	assert_int_equal(store_peek_meta(s, &y, &m), 0);
	assert_int_equal(store_delete(s, &y), 0);
	assert_int_equal(store_peek_meta(s, &y, &m), STORE_NOTFOUND);
	assert_int_equal(put_fill(s, &x, 300, 4, 4), 0);
	assert_int_equal(store_peek_meta(s, &x, &m), 0);
	assert_int_equal(m.version, 4);
	assert_int_equal(m.len, 300);
	assert_int_equal(m.ops[0].client, 0);
	assert_int_equal(store_get_meta(s, &x, &m), 0);
	assert_int_equal(m.version, 1);
	assert_int_equal(store_pending(s), 6);
	release_writer(&b);

	assert_int_equal(store_commit(s), 0);
	assert_int_equal(store_pending(s), 0);
	expect_record(s, &x, 300, 4, 4);
	assert_int_equal(store_get(s, &y, NULL, NULL, NULL), STORE_NOTFOUND);
	/* With nothing queued, peek is the committed record. */
	assert_int_equal(store_peek_meta(s, &x, &m), 0);
	assert_int_equal(m.version, 4);
	assert_int_equal(store_peek_meta(s, &y, &m), STORE_NOTFOUND);
	store_close(s);
}

/* Rewrite the only record in format 1 (38-byte header) and mark the store
 * format 1, as a store written before op ids existed looks. */
static void
make_format1(const char *dir, uint64_t *sum_out)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi objects, meta;
	MDB_cursor *c;
	MDB_val k, v, nv;
	uint8_t kbuf[64], *buf;
	size_t len, hlen;

	raw_begin(dir, &env, &txn, &objects, &meta);
	assert_int_equal(mdb_cursor_open(txn, objects, &c), 0);
	assert_int_equal(mdb_cursor_get(c, &k, &v, MDB_FIRST), 0);
	assert_true(k.mv_size <= sizeof kbuf);
	assert_true(v.mv_size >= STORE_HEADER_LEN(0));
	hlen = STORE_HEADER_LEN(((const uint8_t *)v.mv_data)[38]);
	memcpy(kbuf, k.mv_data, k.mv_size);
	k.mv_data = kbuf;
	len = v.mv_size - hlen;
	buf = malloc(STORE_HEADER_LEN_V1 + len);
	assert_non_null(buf);
	/* The first 38 bytes are common to both formats, then the data. */
	memcpy(buf, v.mv_data, STORE_HEADER_LEN_V1);
	memcpy(buf + STORE_HEADER_LEN_V1,
	    (const uint8_t *)v.mv_data + hlen, len);
	buf[0] = 1;
	*sum_out = 0;
	for (int i = 7; i >= 0; i--)
		*sum_out = *sum_out << 8 | buf[18 + i];
	mdb_cursor_close(c);
	nv.mv_size = STORE_HEADER_LEN_V1 + len;
	nv.mv_data = buf;
	assert_int_equal(mdb_put(txn, objects, &k, &nv, 0), 0);
	raw_set_format(txn, meta, 1);
	raw_end(env, txn);
	free(buf);
}

/* The only record's format byte and value size, read directly. */
static void
raw_only_record(const char *dir, uint8_t *format, size_t *size,
    uint32_t *store_format)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi objects, meta;
	MDB_cursor *c;
	MDB_val k, v;

	raw_begin(dir, &env, &txn, &objects, &meta);
	assert_int_equal(mdb_cursor_open(txn, objects, &c), 0);
	assert_int_equal(mdb_cursor_get(c, &k, &v, MDB_FIRST), 0);
	*format = ((const uint8_t *)v.mv_data)[0];
	*size = v.mv_size;
	assert_int_equal(mdb_cursor_get(c, &k, &v, MDB_NEXT), MDB_NOTFOUND);
	mdb_cursor_close(c);
	*store_format = raw_format(txn, meta);
	raw_end(env, txn);
}

/* Collects the one record iteration reports. */
struct one_rec {
	int n;
	struct store_meta meta;
	uint8_t data[64];
	size_t len;
};

static int
one_rec_cb(const struct store_id *id, const struct store_meta *meta,
    const void *data, size_t len, void *arg)
{
	struct one_rec *r = arg;

	(void)id;
	r->n++;
	r->meta = *meta;
	assert_true(len <= sizeof r->data);
	memcpy(r->data, data, len);
	r->len = len;
	return 0;
}

/*
 * A format-1 store (38-byte headers, no op ids) opens, is marked format
 * 2, reads its old records with op ids 0, and keeps working; rewritten
 * records are format 2.  A format byte that lies about the header length
 * is corruption, and unknown store formats are refused.
 */
static void
test_format1(void **state)
{
	struct tstate *t = *state;
	struct store_meta m = mkmeta(9), got;
	struct store_id id, id2;
	struct store *s;
	struct one_rec rec;
	uint64_t sum, count, bytes;
	uint32_t sfmt;
	uint8_t fmt;
	size_t size;
	char err[256];
	const char msg[] = "format one data";

	s = open_ok(t->db, 2, 0);
	mkid("f1", 1, 1, 2, &id);
	m.ops[0].client = 123;
	m.nops = 1;
	m.ops[0].seq = 456;
	assert_int_equal(store_put(s, &id, &m, msg, sizeof msg), 0);
	assert_int_equal(store_commit(s), 0);
	store_close(s);
	make_format1(t->db, &sum);
	assert_int_equal(sum, hash_checksum(msg, sizeof msg));
	raw_only_record(t->db, &fmt, &size, &sfmt);
	assert_int_equal(fmt, 1);
	assert_int_equal(size, STORE_HEADER_LEN_V1 + sizeof msg);
	assert_int_equal(sfmt, 1);

	s = open_ok(t->db, 2, 0);
	expect_record_data(s, &id, msg, sizeof msg, &got);
	assert_int_equal(got.version, 9);
	assert_int_equal(got.writer, m.writer);
	assert_int_equal(got.mtime_ms, m.mtime_ms);
	assert_int_equal(got.ops[0].client, 0);
	assert_int_equal(got.ops[0].seq, 0);
	assert_int_equal(store_get_meta(s, &id, &got), 0);
	assert_int_equal(got.len, sizeof msg);
	assert_int_equal(got.ops[0].client, 0);
	assert_int_equal(got.ops[0].seq, 0);
	assert_int_equal(store_peek_meta(s, &id, &got), 0);
	assert_int_equal(got.ops[0].seq, 0);
	memset(&rec, 0, sizeof rec);
	assert_int_equal(store_iter_all(s, one_rec_cb, &rec), 0);
	assert_int_equal(rec.n, 1);
	assert_int_equal(rec.meta.flags, 0);
	assert_int_equal(rec.meta.version, 9);
	assert_int_equal(rec.meta.ops[0].client, 0);
	assert_int_equal(rec.meta.ops[0].seq, 0);
	assert_int_equal(rec.len, sizeof msg);
	assert_memory_equal(rec.data, msg, sizeof msg);
	assert_int_equal(store_stats(s, &count, &bytes), 0);
	assert_int_equal(count, 1);
	assert_int_equal(bytes, sizeof msg);
	store_close(s);
	/* Upgraded on open; the old record itself is left as it was. */
	raw_only_record(t->db, &fmt, &size, &sfmt);
	assert_int_equal(sfmt, STORE_FORMAT);
	assert_int_equal(fmt, 1);

	/* It keeps working: new records and a rewrite are format 2. */
	s = open_ok(t->db, 2, 0);
	mkid("f1", 2, 0, 2, &id2);
	assert_int_equal(put_fill(s, &id2, 40, 5, 1), 0);
	m.version = 10;
	assert_int_equal(store_put(s, &id, &m, msg, 5), 0);
	assert_int_equal(store_commit(s), 0);
	expect_record(s, &id2, 40, 5, 1);
	expect_record_data(s, &id, msg, 5, &got);
	assert_int_equal(got.version, 10);
	assert_int_equal(got.ops[0].client, 123);
	assert_int_equal(got.ops[0].seq, 456);
	assert_int_equal(store_stats(s, &count, &bytes), 0);
	assert_int_equal(count, 2);
	assert_int_equal(bytes, 45);
	assert_int_equal(store_delete(s, &id2), 0);
	assert_int_equal(store_commit(s), 0);
	store_close(s);
	raw_only_record(t->db, &fmt, &size, &sfmt);
	assert_int_equal(fmt, STORE_FORMAT);
	assert_int_equal(size, STORE_HEADER_LEN(1) + 5);

	/* A format-2 value labelled format 1: the length check catches it. */
	corrupt_only_record_byte(t->db, 0, 1);
	s = open_ok(t->db, 2, 0);
	assert_int_equal(store_get_meta(s, &id, &got), STORE_CORRUPT);
	assert_int_equal(store_get(s, &id, &got, NULL, NULL), STORE_CORRUPT);
	store_close(s);

	/* A store format from the future is refused, and left alone. */
	{
		MDB_env *env;
		MDB_txn *txn;
		MDB_dbi objects, meta;

		raw_begin(t->db, &env, &txn, &objects, &meta);
		raw_set_format(txn, meta, STORE_FORMAT + 1);
		raw_end(env, txn);
	}
	err[0] = '\0';
	assert_null(store_open(t->db, 2, test_map(0), err, sizeof err));
	assert_non_null(strstr(err, "unsupported store format"));
	raw_only_record(t->db, &fmt, &size, &sfmt);
	assert_int_equal(sfmt, STORE_FORMAT + 1);
}

/* Collects op ids by key.lo during iteration. */
struct op_seen {
	int n;
	uint64_t lo[8], client[8], seq[8], version[8];
};

static int
op_seen_cb(const struct store_id *id, const struct store_meta *meta,
    const void *data, size_t len, void *arg)
{
	struct op_seen *o = arg;

	(void)data;
	(void)len;
	assert_true(o->n < 8);
	o->lo[o->n] = id->key.lo;
	o->client[o->n] = meta->ops[0].client;
	o->seq[o->n] = meta->ops[0].seq;
	o->version[o->n++] = meta->version;
	return 0;
}

/* op_client/op_seq round-trip through put, commit, get and iteration. */
static void
test_op_ids(void **state)
{
	struct tstate *t = *state;
	static const uint64_t clients[4] = { 0, 1, 0xfedcba9876543210ULL,
		UINT64_MAX };
	static const uint64_t seqs[4] = { 0, UINT64_MAX, 0x8000000000000001ULL,
		42 };
	struct store_meta m, got;
	struct store_id id[4];
	struct store *s;
	struct op_seen seen;

	s = open_ok(t->db, 3, 0);
	for (int i = 0; i < 4; i++) {
		mkid("op", (uint64_t)i, (unsigned)i % 3, 3, &id[i]);
		m = mkmeta((uint64_t)i + 1);
		m.ops[0].client = clients[i];
	m.nops = 1;
		m.ops[0].seq = seqs[i];
		m.flags = i == 3 ? STORE_F_TOMBSTONE : 0;
		assert_int_equal(store_put(s, &id[i], &m, "op", i == 3 ? 0 : 2),
		    0);
	}
	assert_int_equal(store_commit(s), 0);
	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < 4; i++) {
			assert_int_equal(store_get(s, &id[i], &got, NULL, NULL),
			    0);
			assert_int_equal(got.ops[0].client, clients[i]);
			assert_int_equal(got.ops[0].seq, seqs[i]);
			assert_int_equal(got.version, i + 1);
			assert_int_equal(store_get_meta(s, &id[i], &got), 0);
			assert_int_equal(got.ops[0].client, clients[i]);
			assert_int_equal(got.ops[0].seq, seqs[i]);
		}
		memset(&seen, 0, sizeof seen);
		assert_int_equal(store_iter_all(s, op_seen_cb, &seen), 0);
		assert_int_equal(seen.n, 4);
		for (int j = 0; j < 4; j++) {
			int i = (int)seen.version[j] - 1;

			assert_true(i >= 0 && i < 4);
			assert_int_equal(seen.lo[j], id[i].key.lo);
			assert_int_equal(seen.client[j], clients[i]);
			assert_int_equal(seen.seq[j], seqs[i]);
		}
		/* And the same after reopening. */
		store_close(s);
		s = open_ok(t->db, 3, 0);
	}
	/* A rewrite replaces the op ids with its own. */
	m = mkmeta(9);
	m.ops[0].client = 7;
	m.nops = 1;
	m.ops[0].seq = 8;
	assert_int_equal(store_put(s, &id[2], &m, "x", 1), 0);
	assert_int_equal(store_peek_meta(s, &id[2], &got), 0);
	assert_int_equal(got.ops[0].client, 7);
	assert_int_equal(got.ops[0].seq, 8);
	assert_int_equal(store_commit(s), 0);
	assert_int_equal(store_get(s, &id[2], &got, NULL, NULL), 0);
	assert_int_equal(got.ops[0].client, 7);
	assert_int_equal(got.ops[0].seq, 8);
	store_close(s);
}

/*
 * The wall clock the store reads for op id expiry, moved forward by
 * clock_skew_ms (test_op_expiry): this definition takes the place of
 * libc's for the store linked into this test; other clocks are left
 * alone (libevent and the commit thread's waits use their own).
 */
static volatile int64_t clock_skew_ms;

int
clock_gettime(clockid_t id, struct timespec *ts)
{
	int64_t ns;

	if (syscall(SYS_clock_gettime, id, ts) == -1)
		return -1;
	if (id == CLOCK_REALTIME && clock_skew_ms != 0) {
		ns = (int64_t)ts->tv_nsec + clock_skew_ms % 1000 * 1000000;
		ts->tv_sec += clock_skew_ms / 1000 + ns / 1000000000;
		ts->tv_nsec = ns % 1000000000;
	}
	return 0;
}

/*
 * Op ids are answered until STORE_OPS_TTL_MS have passed, then dropped
 * by a later batch (the batch's look at the oldest id, then the nested
 * delete); a younger one stays.
 */
static void
test_op_expiry(void **state)
{
	struct tstate *t = *state;
	struct store_meta m;
	struct store_id id[3];
	struct store *s;
	uint64_t v;

	s = open_ok(t->db, 2, 0);
	for (int i = 0; i < 3; i++)
		mkid("exp", (uint64_t)i, 0, 2, &id[i]);
	m = mkmeta(5);
	m.ops[0].client = 0xe1;
	m.ops[0].seq = 1;
	m.nops = 1;
	assert_int_equal(store_put(s, &id[0], &m, "a", 1), 0);
	assert_int_equal(store_commit(s), 0);
	/* Not yet expired: another batch keeps it. */
	clock_skew_ms = STORE_OPS_TTL_MS / 2;
	m = mkmeta(6);
	m.ops[0].client = 0xe1;
	m.ops[0].seq = 2;
	m.nops = 1;
	assert_int_equal(store_put(s, &id[1], &m, "b", 1), 0);
	assert_int_equal(store_commit(s), 0);
	assert_int_equal(store_op_lookup(s, 0xe1, 1, &id[0].key, &v), 0);
	assert_int_equal(v, 5);
	/* Past the first one's time, not the second's. */
	clock_skew_ms = STORE_OPS_TTL_MS + 1000;
	m = mkmeta(7);
	assert_int_equal(store_put(s, &id[2], &m, "c", 1), 0);
	assert_int_equal(store_commit(s), 0);
	assert_int_equal(store_op_lookup(s, 0xe1, 1, &id[0].key, &v),
	    STORE_NOTFOUND);
	assert_int_equal(store_op_lookup(s, 0xe1, 2, &id[1].key, &v), 0);
	assert_int_equal(v, 6);
	clock_skew_ms = 0;
	store_close(s);
}

#define GS_N 3000
#define GS_LEN 64

/*
 * Many writes from a loop while the committer commits: they share
 * batches (fewer commits than writes).  The loop reaps as the daemon
 * does, and stats are always one committed state (bytes agree with the
 * count: every record has GS_LEN bytes).  No timing assertion.
 */
static void
test_group_commit_stream(void **state)
{
	struct tstate *t = *state;
	struct store_id id;
	struct store *s;
	uint64_t c0, commits, count, bytes, last = 0;
	size_t reaped = 0;

	s = open_ok(t->db, 2, 0);
	c0 = store_commits(s);
	for (int i = 0; i < GS_N; i++) {
		mkid("gs", (uint64_t)i, (unsigned)i % 3, 2, &id);
		assert_int_equal(put_fill(s, &id, GS_LEN, (uint64_t)i, 1), 0);
		if (event_ready(s, 0)) {
			size_t before = store_pending(s);

			assert_int_equal(store_reap(s), 0);
			reaped += before - store_pending(s);
		}
		assert_int_equal(store_stats(s, &count, &bytes), 0);
		if (bytes != count * GS_LEN)
			print_error("stats after %d puts: %llu records but "
			    "%llu bytes\n", i + 1, (unsigned long long)count,
			    (unsigned long long)bytes);
		assert_int_equal(bytes, count * GS_LEN);
		assert_true(count >= last && count <= (uint64_t)i + 1);
		last = count;
	}
	assert_int_equal(store_pending(s) + reaped, GS_N);
	assert_int_equal(store_commit(s), 0);
	assert_int_equal(store_pending(s), 0);
	commits = store_commits(s) - c0;
	print_message("    %d writes in %llu commits\n", GS_N,
	    (unsigned long long)commits);
	assert_true(commits >= 1);
	assert_true(commits < GS_N); /* some batch held more than one */
	assert_int_equal(store_stats(s, &count, &bytes), 0);
	assert_int_equal(count, GS_N);
	assert_int_equal(bytes, GS_N * GS_LEN);
	for (int i = 0; i < GS_N; i++) {
		mkid("gs", (uint64_t)i, (unsigned)i % 3, 2, &id);
		expect_record(s, &id, GS_LEN, (uint64_t)i, 1);
	}
	store_close(s);
}

/* ---- Map full ---- */

#define MF_LEN 16000
#define MF_MAX 1000

/*
 * Fill a 1 MiB map until store_commit reports STORE_FULL: a write that
 * does not fit is dropped alone, the others of its batch are durable, and
 * nothing committed before is harmed.
 */
static void
test_map_full(void **state)
{
	struct tstate *t = *state;
	struct blocker b;
	struct store_id id, small_a, small_b, huge;
	struct store *s;
	uint64_t used, avail, count, c0;
	static bool present[MF_MAX + 4];
	int next = 0, rc = 0, ncommitted = 0, called = 0;

	memset(present, 0, sizeof present);
	s = open_ok(t->db, 2, MiB);
	assert_int_equal(store_space(s, &used, &avail), 0);
	assert_true(used > 0 && avail > 0 && avail < MiB);

	/*
	 * A value bigger than the map fails alone, the writes around it go
	 * on.  The commit thread is held, so the three form at most two
	 * batches and the huge one shares its batch with a or b (or both).
	 */
	mkid("mf-small", 0, 0, 2, &small_a);
	mkid("mf-small", 1, 0, 2, &small_b);
	mkid("mf-huge", 0, 0, 2, &huge);
	c0 = store_commits(s);
	block_writer(t->db, &b);
	assert_int_equal(put_fill(s, &small_a, 100, 5, 1), 0);
	assert_int_equal(put_fill(s, &huge, 2 * MiB, 6, 1), 0); /* queued */
	assert_int_equal(put_fill(s, &small_b, 100, 7, 1), 0);
	assert_int_equal(store_pending(s), 3);
	assert_int_equal(store_peek_meta(s, &huge, NULL), 0);
	release_writer(&b);
	assert_int_equal(store_commit(s), STORE_FULL);
	assert_true(store_commits(s) - c0 <= 2);
	assert_int_equal(store_pending(s), 0);
	expect_record(s, &small_a, 100, 5, 1);
	expect_record(s, &small_b, 100, 7, 1);
	assert_int_equal(store_get(s, &huge, NULL, NULL, NULL), STORE_NOTFOUND);
	assert_int_equal(store_peek_meta(s, &huge, NULL), STORE_NOTFOUND);
	assert_int_equal(store_stats(s, &count, NULL), 0);
	assert_int_equal(count, 2);

	/* Its waiter hears about it; the next commit is clean again. */
	assert_int_equal(put_fill(s, &huge, 2 * MiB, 6, 1), 0);
	store_when_durable(s, flag_cb, &called);
	assert_int_equal(store_commit(s), STORE_FULL);
	assert_int_equal(called, 100 + STORE_FULL);
	/* Also when the waiter comes after the write failed, unreaped. */
	called = 0;
	assert_int_equal(put_fill(s, &huge, 2 * MiB, 6, 1), 0);
	assert_true(event_ready(s, 10000)); /* finished */
	store_when_durable(s, flag_cb, &called);
	assert_int_equal(store_reap(s), STORE_FULL);
	assert_int_equal(called, 100 + STORE_FULL);
	assert_int_equal(store_pending(s), 0);
	assert_int_equal(store_delete(s, &small_a), 0);
	assert_int_equal(store_delete(s, &small_b), 0);
	assert_int_equal(store_commit(s), 0);

	/* Batches of 4 until one does not fit: only the misfits are lost. */
	while (next < MF_MAX) {
		int first = next, got = 0;

		for (int j = 0; j < 4; j++, next++) {
			mkid("mf", (uint64_t)next, 0, 2, &id);
			assert_int_equal(put_fill(s, &id, MF_LEN,
			    (uint64_t)next, 1), 0);
		}
		assert_int_equal(store_pending(s), 4);
		rc = store_commit(s);
		assert_int_equal(store_pending(s), 0);
		for (int i = first; i < next; i++) {
			int r;

			mkid("mf", (uint64_t)i, 0, 2, &id);
			r = store_get(s, &id, NULL, NULL, NULL);
			assert_true(r == 0 || r == STORE_NOTFOUND);
			if (r == 0) {
				expect_record(s, &id, MF_LEN, (uint64_t)i, 1);
				present[i] = true;
				got++;
			}
		}
		ncommitted += got;
		if (rc != 0) {
			assert_int_equal(rc, STORE_FULL);
			assert_true(got < 4);
			break;
		}
		assert_int_equal(got, 4);
	}
	assert_int_equal(rc, STORE_FULL);
	assert_true(ncommitted > 10);
	assert_int_equal(store_stats(s, &count, NULL), 0);
	assert_int_equal(count, ncommitted);
	assert_int_equal(store_space(s, &used, &avail), 0);
	assert_true(avail < 4 * MF_LEN);

	/* Everything acknowledged is intact, also after reopening. */
	store_close(s);
	s = open_ok(t->db, 2, MiB);
	for (int i = 0; i < next + 4; i++) {
		mkid("mf", (uint64_t)i, 0, 2, &id);
		if (present[i])
			expect_record(s, &id, MF_LEN, (uint64_t)i, 1);
		else
			assert_int_equal(store_get(s, &id, NULL, NULL, NULL),
			    STORE_NOTFOUND);
	}

	/* Deleting frees room and the store works again. */
	for (int i = 0, k = 0; i < next; i++) {
		if (!present[i] || k++ % 2 != 0)
			continue;
		mkid("mf", (uint64_t)i, 0, 2, &id);
		assert_int_equal(store_delete(s, &id), 0);
		present[i] = false;
	}
	assert_int_equal(store_commit(s), 0);
	for (int i = 0; i < ncommitted / 4; i++) {
		mkid("mf2", (uint64_t)i, 0, 2, &id);
		assert_int_equal(put_fill(s, &id, MF_LEN, 1000 + (uint64_t)i,
		    2), 0);
	}
	assert_int_equal(store_commit(s), 0);
	for (int i = 0; i < next; i++) {
		mkid("mf", (uint64_t)i, 0, 2, &id);
		if (!present[i])
			assert_int_equal(store_get(s, &id, NULL, NULL, NULL),
			    STORE_NOTFOUND);
		else
			expect_record(s, &id, MF_LEN, (uint64_t)i, 1);
	}
	for (int i = 0; i < ncommitted / 4; i++) {
		mkid("mf2", (uint64_t)i, 0, 2, &id);
		expect_record(s, &id, MF_LEN, 1000 + (uint64_t)i, 2);
	}
	store_close(s);
}

#define MR_CYCLES 6

/*
 * One cycle of test_map_full_reuse in its own directory: fill a 1 MiB
 * map, delete half, commit, then a small put and a quarter's worth of
 * MF_LEN puts that the commit thread takes as one batch.  Returns the
 * number of those puts that failed.
 */
static int
mr_cycle(struct tstate *t, int cycle)
{
	char dir[PATH_MAX + 32];
	struct blocker b;
	struct store_id id, absent;
	struct store *s;
	int n = 0, have = 0, lost = 0, rc;
	static bool present[MF_MAX + 4];

	memset(present, 0, sizeof present);
	snprintf(dir, sizeof dir, "%s/mr%d", t->tmp, cycle);
	s = open_ok(dir, 2, MiB);
	/* Fill, in batches of a varying size, until a write does not fit. */
	do {
		for (int j = 0; j <= (n + cycle) % 4; j++, n++) {
			mkid("mr", (uint64_t)n, 0, 2, &id);
			assert_int_equal(put_fill(s, &id, MF_LEN, (uint64_t)n,
			    1), 0);
		}
		rc = store_commit(s);
		assert_true(rc == 0 || rc == STORE_FULL);
	} while (rc == 0 && n < MF_MAX);
	assert_int_equal(rc, STORE_FULL);
	for (int i = 0; i < n; i++) {
		mkid("mr", (uint64_t)i, 0, 2, &id);
		present[i] = store_get(s, &id, NULL, NULL, NULL) == 0;
		have += present[i];
	}
	assert_true(have > 10);
	for (int i = 0, k = 0; i < n; i++) {
		if (!present[i] || k++ % 2 != 0)
			continue;
		mkid("mr", (uint64_t)i, 0, 2, &id);
		assert_int_equal(store_delete(s, &id), 0);
	}
	assert_int_equal(store_commit(s), 0);

	/*
	 * The thread takes the delete of an absent record (a no-op) and
	 * blocks; everything queued after it is one batch.  (The pause only
	 * makes that layout likely; any layout must pass.)
	 */
	mkid("mr-absent", 0, 0, 2, &absent);
	block_writer(dir, &b);
	assert_int_equal(store_delete(s, &absent), 0);
	usleep(20000);
	mkid("mr-small", 0, 0, 2, &id);
	assert_int_equal(put_fill(s, &id, 100, 1, 2), 0);
	for (int i = 0; i < have / 4; i++) {
		mkid("mr2", (uint64_t)i, 0, 2, &id);
		assert_int_equal(put_fill(s, &id, MF_LEN, 5000 + (uint64_t)i,
		    2), 0);
	}
	release_writer(&b);
	rc = store_commit(s);
	mkid("mr-small", 0, 0, 2, &id);
	lost += store_get(s, &id, NULL, NULL, NULL) != 0;
	for (int i = 0; i < have / 4; i++) {
		mkid("mr2", (uint64_t)i, 0, 2, &id);
		if (store_get(s, &id, NULL, NULL, NULL) == 0)
			expect_record(s, &id, MF_LEN, 5000 + (uint64_t)i, 2);
		else
			lost++;
	}
	assert_int_equal(rc == 0, lost == 0);
	if (lost > 0)
		print_error("cycle %d: %d of %d writes lost after deleting "
		    "%d of %d records\n", cycle, lost, have / 4 + 1,
		    (have + 1) / 2, have);
	store_close(s);
	return lost;
}

/*
 * Space freed on a full map is usable by the next batch: the store
 * commits once more by itself when a write does not fit (store.h, "Full
 * disk"), also when the batch's first writes still fit in the last free
 * pages and only a later one does not.
 */
static void
test_map_full_reuse(void **state)
{
	int lost = 0;

	for (int cycle = 0; cycle < MR_CYCLES; cycle++)
		lost += mr_cycle(*state, cycle);
	assert_int_equal(lost, 0);
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
	assert_int_equal(store_commit(s), 0);
	expect_record(s, &id, 4 * MiB, 77, 1);
	assert_int_equal(store_put(s, &id, &m, "", (size_t)STORE_MAX_DATA + 1),
	    -1);
	assert_int_equal(store_pending(s), 0);
	store_close(s);

	s = open_ok(t->db, 3, 0);
	expect_record(s, &id, 4 * MiB, 77, 1);
	assert_int_equal(store_stats(s, &count, &bytes), 0);
	assert_int_equal(count, 1);
	assert_int_equal(bytes, 4 * MiB);
	store_close(s);
}

/* store_peek: the queued write's data first, else the committed one. */
static void
test_peek(void **state)
{
	struct tstate *t = *state;
	struct store *s = open_ok(t->db, 2, 0);
	struct store_meta m = mkmeta(5), got;
	struct store_id id, other;
	void *data;
	size_t len;

	mkid("peek", 1, 0, 2, &id);
	mkid("peek", 2, 0, 2, &other);
	assert_int_equal(store_peek(s, &id, &got, &data, &len),
	    STORE_NOTFOUND);
	assert_int_equal(store_put(s, &id, &m, "first", 5), 0);
	/* Queued: store_get does not see it, store_peek does. */
	assert_int_equal(store_get(s, &id, NULL, NULL, NULL), STORE_NOTFOUND);
	assert_int_equal(store_peek(s, &id, &got, &data, &len), 0);
	assert_int_equal(got.version, 5);
	assert_int_equal(len, 5);
	assert_memory_equal(data, "first", 5);
	free(data);
	assert_int_equal(store_commit(s), 0);
	/* Committed, and a newer write queued on top: the newer one. */
	m = mkmeta(6);
	assert_int_equal(store_put(s, &id, &m, "second!", 7), 0);
	assert_int_equal(store_peek(s, &id, &got, &data, &len), 0);
	assert_int_equal(got.version, 6);
	assert_int_equal(len, 7);
	assert_memory_equal(data, "second!", 7);
	free(data);
	assert_int_equal(store_commit(s), 0);
	assert_int_equal(store_peek(s, &id, &got, &data, &len), 0);
	assert_int_equal(got.version, 6);
	assert_memory_equal(data, "second!", 7);
	free(data);
	/* A queued physical delete hides the committed record. */
	assert_int_equal(store_delete(s, &id), 0);
	assert_int_equal(store_peek(s, &id, NULL, NULL, NULL), STORE_NOTFOUND);
	/* An empty value: a non-NULL buffer of length 0. */
	m = mkmeta(1);
	assert_int_equal(store_put(s, &other, &m, NULL, 0), 0);
	assert_int_equal(store_peek(s, &other, NULL, &data, &len), 0);
	assert_non_null(data);
	assert_int_equal(len, 0);
	free(data);
	assert_int_equal(store_commit(s), 0);
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
		cmocka_unit_test_setup_teardown(test_map_full_reuse, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_big_value, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_when_durable, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_close_waiters, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_peek_meta, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_format1, setup, teardown),
		cmocka_unit_test_setup_teardown(test_op_ids, setup, teardown),
		cmocka_unit_test_setup_teardown(test_peek, setup, teardown),
		cmocka_unit_test_setup_teardown(test_op_expiry, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_group_commit_stream,
		    setup, teardown),
	};

	log_init("test_store", getenv("TEST_VERBOSE") != NULL ?
	    LOG_LVL_DEBUG : -1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
