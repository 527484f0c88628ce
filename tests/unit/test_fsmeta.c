/*
 * test_fsmeta.c: the file system's records (fs/meta.h): inode and
 * directory codecs, xattr and directory operations, the extent lists of
 * regular files, object key names.
 *
 * As in test_wire.c: hand-written byte vectors pin the formats by
 * something other than the encoder; targeted malformed inputs hit every
 * check the decoders make; mutation passes try every truncation and every
 * single-bit flip of an example of each record, which must either be
 * rejected or decode to something that re-encodes to exactly the mutated
 * bytes (the encodings are canonical; a version 1 or 2 inode, which has
 * no number, must re-encode to version 3 with the number given, and a
 * version 1 one with exactly the extent its size implies).  Every decode reads an exactly sized heap copy, so under ASan
 * a read one byte past the end is caught.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../fs/meta.h"

/* An exactly-sized heap copy of len bytes. */
static uint8_t *
dup_exact(const void *p, size_t len)
{
	uint8_t *c = malloc(len ? len : 1);

	assert_non_null(c);
	if (len)
		memcpy(c, p, len);
	return c;
}

/* ---- hand-written vectors ------------------------------------------ */

/*
 * A regular file in the version 1 layout (no extents): mode 0100644, uid
 * 1000, gid 100, nlink 1, size 5 GiB.
 */
static const uint8_t inode_vec[] = {
	0x01,				/* version */
	0xa4, 0x81, 0x00, 0x00,		/* mode 0100644 */
	0xe8, 0x03, 0x00, 0x00,		/* uid 1000 */
	0x64, 0x00, 0x00, 0x00,		/* gid 100 */
	0x01, 0x00, 0x00, 0x00,		/* nlink 1 */
	0x00, 0x00, 0x00, 0x40, 0x01, 0x00, 0x00, 0x00, /* size 5 GiB */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* rdev 0 */
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, /* atime -1 s */
	0x00, 0x00, 0x00, 0x00,		/* ... 0 ns */
	0xd2, 0x02, 0x96, 0x49, 0x00, 0x00, 0x00, 0x00, /* mtime 1234567890 */
	0x15, 0xcd, 0x5b, 0x07,		/* ... 123456789 ns */
	0x00, 0xf1, 0x53, 0x65, 0x00, 0x00, 0x00, 0x00, /* ctime 1700000000 */
	0xff, 0xc9, 0x9a, 0x3b,		/* ... 999999999 ns */
	0x00, 0x00, 0x10, 0x00,		/* chunk size 1 MiB */
	0x00, 0x00,			/* no symlink target */
	0x02, 0x00,			/* two xattrs, sorted */
	0x06, 'u', 's', 'e', 'r', '.', 'a', /* "user.a" */
	0x02, 0x00, 0x00, 0x00, 'h', 'i',   /* = "hi" */
	0x06, 'u', 's', 'e', 'r', '.', 'b', /* "user.b" */
	0x00, 0x00, 0x00, 0x00,		    /* = "" */
};

/*
 * The same file in version 2: no xattrs, two extents of chunks that may
 * hold data, [0, 1) and [4096, 4100) (the first MiB, and 4 MiB at 4 GiB).
 */
static const uint8_t inode2_vec[] = {
	0x02,				/* version */
	0xa4, 0x81, 0x00, 0x00,		/* mode 0100644 */
	0xe8, 0x03, 0x00, 0x00,		/* uid 1000 */
	0x64, 0x00, 0x00, 0x00,		/* gid 100 */
	0x01, 0x00, 0x00, 0x00,		/* nlink 1 */
	0x00, 0x00, 0x00, 0x40, 0x01, 0x00, 0x00, 0x00, /* size 5 GiB */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* rdev 0 */
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, /* atime -1 s */
	0x00, 0x00, 0x00, 0x00,		/* ... 0 ns */
	0xd2, 0x02, 0x96, 0x49, 0x00, 0x00, 0x00, 0x00, /* mtime 1234567890 */
	0x15, 0xcd, 0x5b, 0x07,		/* ... 123456789 ns */
	0x00, 0xf1, 0x53, 0x65, 0x00, 0x00, 0x00, 0x00, /* ctime 1700000000 */
	0xff, 0xc9, 0x9a, 0x3b,		/* ... 999999999 ns */
	0x00, 0x00, 0x10, 0x00,		/* chunk size 1 MiB */
	0x00, 0x00,			/* no symlink target */
	0x00, 0x00,			/* no xattrs */
	0x02, 0x00,			/* two extents */
	0x00, 0, 0, 0, 0, 0, 0, 0,	/* [0, */
	0x01, 0, 0, 0, 0, 0, 0, 0,	/*  1) */
	0x00, 0x10, 0, 0, 0, 0, 0, 0,	/* [4096, */
	0x04, 0x10, 0, 0, 0, 0, 0, 0,	/*  4100) */
};

/* A symlink to "../t" (size 4), no xattrs; version 1. */
static const uint8_t symlink_vec[] = {
	0x01,
	0xff, 0xa1, 0x00, 0x00,		/* mode 0120777 */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* uid, gid 0 */
	0x01, 0x00, 0x00, 0x00,		/* nlink 1 */
	0x04, 0, 0, 0, 0, 0, 0, 0,	/* size 4 */
	0, 0, 0, 0, 0, 0, 0, 0,		/* rdev */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,	/* atime */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,	/* mtime */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,	/* ctime */
	0x00, 0x10, 0x00, 0x00,		/* chunk size 4 KiB */
	0x04, 0x00, '.', '.', '/', 't',	/* target */
	0x00, 0x00,			/* no xattrs */
};

/* A directory with "a" -> 0x1122334455667788 (file), "b" -> 2 (dir). */
static const uint8_t dir_vec[] = {
	0x02,				/* version */
	0x00,				/* state: LIVE */
	0x00,				/* depth 0: the root shard */
	0, 0, 0, 0, 0, 0, 0, 0,		/* prefix 0 */
	0x02, 0x00, 0x00, 0x00,		/* two entries */
	DT_REG,
	0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11,
	0x01, 'a',
	DT_DIR,
	0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x01, 'b',
};

/* The same directory as version 1 wrote it (before shards). */
static const uint8_t dir_v1_vec[] = {
	0x01,				/* version */
	0x02, 0x00, 0x00, 0x00,		/* two entries */
	DT_REG,
	0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11,
	0x01, 'a',
	DT_DIR,
	0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x01, 'b',
};

static int inode_check(const uint8_t *p, size_t len);

#define TEST_INO 0x0123456789abcdefULL /* re-encoded records' number */

/*
 * A version 1, 2 or 3 record decoded to in (with ino 0 for 1 and 2): it
 * re-encodes as version 4: the number (given, for 1 and 2), the same
 * bytes after the version (and number), for version 1 the one extent its
 * size implies for a regular file ([0, chunks of the size), none when
 * empty) or none, then no inline data.
 */
static void
inode_check_old(const uint8_t *p, size_t len, const struct meta_inode *in)
{
	uint64_t end = meta_nchunks(in->size, in->chunk_size);
	bool one = S_ISREG(in->mode) && in->size > 0;
	struct wbuf w, want;

	uint64_t ino = p[0] == META_INODE_VERSION_V3 ? in->ino : TEST_INO;

	assert_true(p[0] == META_INODE_VERSION_V3 ? in->ino != 0 :
	    in->ino == 0);
	wbuf_init(&want);
	wbuf_put_u8(&want, META_INODE_VERSION);
	if (p[0] != META_INODE_VERSION_V3)
		wbuf_put_u64(&want, TEST_INO);
	wbuf_put_bytes(&want, p + 1, len - 1);
	if (p[0] == META_INODE_VERSION_V1) {
		wbuf_put_u16(&want, one ? 1 : 0);
		if (one) {
			wbuf_put_u64(&want, 0);
			wbuf_put_u64(&want, end);
		}
	}
	wbuf_put_u32(&want, 0);
	wbuf_init(&w);
	meta_inode_encode(&w, ino, in);
	assert_int_equal(w.len, want.len);
	assert_memory_equal(w.p, want.p, want.len);
	assert_int_equal(inode_check(w.p, w.len), 0);
	wbuf_free(&want);
	wbuf_free(&w);
}

/*
 * Turn a version 4 encoding without inline data into version (1, 2 or
 * 3): drop the inline length, and for 1 and 2 the number.
 */
static void
inode_downgrade(struct wbuf *w, uint8_t version)
{
	w->len -= 4;
	if (version != META_INODE_VERSION_V3) {
		memmove(w->p + 1, w->p + 9, w->len - 9);
		w->len -= 8;
	}
	w->p[0] = version;
}

/*
 * Decode an exact copy; on success check that it re-encodes to itself
 * (version 4) or to its version 4 form (versions 1 to 3).
 */
static int
inode_check(const uint8_t *p, size_t len)
{
	uint8_t *c = dup_exact(p, len);
	struct meta_inode in;
	struct wbuf w;
	int rc = meta_inode_decode(c, len, &in);

	if (rc == 0 && p[0] != META_INODE_VERSION) {
		inode_check_old(p, len, &in);
		meta_inode_free(&in);
	} else if (rc == 0) {
		assert_true(in.ino != 0);
		wbuf_init(&w);
		meta_inode_encode(&w, in.ino, &in);
		assert_int_equal(w.len, len);
		assert_memory_equal(w.p, p, len);
		wbuf_free(&w);
		meta_inode_free(&in);
	} else {
		/* A failed decode leaves nothing owned behind. */
		assert_null(in.target);
		assert_null(in.xattr);
		assert_int_equal(in.nxattr, 0);
		assert_null(in.ext.v);
		assert_int_equal(in.ext.n, 0);
		assert_null(in.inl);
		assert_int_equal(in.inl_len, 0);
	}
	free(c);
	return rc;
}

/* As inode_check(), for directories. */
static int
dir_check(const uint8_t *p, size_t len)
{
	uint8_t *c = dup_exact(p, len);
	struct meta_dir d;
	struct wbuf w;
	int rc = meta_dir_decode(c, len, &d);

	if (rc == 0) {
		wbuf_init(&w);
		meta_dir_encode(&w, &d);
		assert_int_equal(w.len, len);
		assert_int_equal(meta_dir_encoded_len(&d), len);
		assert_memory_equal(w.p, p, len);
		wbuf_free(&w);
		meta_dir_free(&d);
	} else {
		assert_null(d.e);
		assert_int_equal(d.n, 0);
	}
	free(c);
	return rc;
}

/*
 * A version 1 directory record: when it decodes, it re-encodes as
 * version 2, a LIVE root shard with the same entries.
 */
static int
dir_v1_check(const uint8_t *p, size_t len)
{
	static const uint8_t head[11] = { 0x02 };
	uint8_t *c = dup_exact(p, len);
	struct meta_dir d;
	struct wbuf w;
	int rc = meta_dir_decode(c, len, &d);

	if (rc == 0) {
		wbuf_init(&w);
		meta_dir_encode(&w, &d);
		assert_int_equal(w.len, len + 10);
		assert_memory_equal(w.p, head, sizeof head);
		assert_memory_equal(w.p + 11, p + 1, len - 1);
		wbuf_free(&w);
		meta_dir_free(&d);
	} else {
		assert_null(d.e);
		assert_int_equal(d.n, 0);
	}
	free(c);
	return rc;
}

/* The hand-written inode records decode to the fields they spell. */
static void
test_inode_vector(void **state)
{
	struct meta_inode in;

	(void)state;
	assert_int_equal(meta_inode_decode(inode_vec, sizeof inode_vec, &in),
	    0);
	assert_int_equal(in.mode, S_IFREG | 0644);
	assert_int_equal(in.uid, 1000);
	assert_int_equal(in.gid, 100);
	assert_int_equal(in.nlink, 1);
	assert_true(in.size == 5ULL << 30);
	assert_true(in.atime.tv_sec == -1 && in.atime.tv_nsec == 0);
	assert_true(in.mtime.tv_sec == 1234567890);
	assert_int_equal(in.mtime.tv_nsec, 123456789);
	assert_true(in.ctime.tv_sec == 1700000000);
	assert_int_equal(in.ctime.tv_nsec, 999999999);
	assert_int_equal(in.chunk_size, 1u << 20);
	assert_null(in.target);
	assert_int_equal(in.nxattr, 2);
	assert_string_equal(in.xattr[0].name, "user.a");
	assert_int_equal(in.xattr[0].len, 2);
	assert_memory_equal(in.xattr[0].value, "hi", 2);
	assert_string_equal(in.xattr[1].name, "user.b");
	assert_int_equal(in.xattr[1].len, 0);
	/* Version 1: anything may be stored below the size. */
	assert_int_equal(in.ext.n, 1);
	assert_true(in.ext.v[0].first == 0 && in.ext.v[0].end == 5120);
	meta_inode_free(&in);
	assert_int_equal(inode_check(inode_vec, sizeof inode_vec), 0);
	assert_int_equal(inode_check(symlink_vec, sizeof symlink_vec), 0);
	assert_int_equal(meta_inode_decode(symlink_vec, sizeof symlink_vec,
	    &in), 0);
	assert_string_equal(in.target, "../t");
	assert_int_equal(in.ext.n, 0);
	meta_inode_free(&in);
	/* Version 2 spells its extents. */
	assert_int_equal(meta_inode_decode(inode2_vec, sizeof inode2_vec,
	    &in), 0);
	assert_int_equal(in.mode, S_IFREG | 0644);
	assert_true(in.size == 5ULL << 30);
	assert_int_equal(in.chunk_size, 1u << 20);
	assert_int_equal(in.nxattr, 0);
	assert_int_equal(in.ext.n, 2);
	assert_true(in.ext.v[0].first == 0 && in.ext.v[0].end == 1);
	assert_true(in.ext.v[1].first == 4096 && in.ext.v[1].end == 4100);
	meta_inode_free(&in);
	assert_int_equal(inode_check(inode2_vec, sizeof inode2_vec), 0);
}

/*
 * Version 3 is version 2 with the inode's number after the version byte:
 * it decodes into ino; a number of 0, or one cut short, is refused.
 */
static void
test_inode_v3(void **state)
{
	static const uint8_t ino[] = { 0x88, 0x77, 0x66, 0x55, 0x44, 0x33,
	    0x22, 0x11 };
	uint8_t v[sizeof inode2_vec + 8];
	struct meta_inode in;

	(void)state;
	v[0] = META_INODE_VERSION_V3;
	memcpy(v + 1, ino, 8);
	memcpy(v + 9, inode2_vec + 1, sizeof inode2_vec - 1);
	assert_int_equal(meta_inode_decode(v, sizeof v, &in), 0);
	assert_true(in.ino == 0x1122334455667788ULL);
	assert_int_equal(in.ext.n, 2);
	meta_inode_free(&in);
	assert_int_equal(inode_check(v, sizeof v), 0);
	/* The same bytes as version 2 are one field too long. */
	v[0] = META_INODE_VERSION_V2;
	assert_int_equal(inode_check(v, sizeof v), -1);
	/* ...and as version 4 one field too short (no inline length). */
	v[0] = META_INODE_VERSION;
	assert_int_equal(inode_check(v, sizeof v), -1);
	v[0] = META_INODE_VERSION_V3;
	memset(v + 1, 0, 8);
	assert_int_equal(inode_check(v, sizeof v), -1);
	memcpy(v + 1, ino, 8);
	for (size_t len = 0; len < 9; len++)
		assert_int_equal(inode_check(v, len), -1);
	/* Version 2 of it decodes with no number. */
	assert_int_equal(meta_inode_decode(inode2_vec, sizeof inode2_vec,
	    &in), 0);
	assert_true(in.ino == 0);
	meta_inode_free(&in);
}

/* Build an inode with everything set, encode, decode, compare. */
static void
test_inode_roundtrip(void **state)
{
	struct meta_inode in, out, cp;
	struct wbuf w;
	char big[META_SYMLINK_MAX + 2];

	(void)state;
	meta_inode_init(&in);
	in.mode = S_IFLNK | 0777;
	in.uid = 4000000000u;
	in.gid = 7;
	in.nlink = 3;
	in.size = UINT64_MAX;
	in.rdev = 0x123456789abcULL;
	in.mtime.tv_sec = -2208988800LL; /* 1900 */
	in.mtime.tv_nsec = 1;
	in.chunk_size = META_CHUNK_MAX;
	memset(big, 'x', sizeof big);
	big[META_SYMLINK_MAX + 1] = '\0';
	assert_int_equal(meta_inode_set_target(&in, big), -ENAMETOOLONG);
	big[META_SYMLINK_MAX] = '\0';
	assert_int_equal(meta_inode_set_target(&in, big), 0);
	assert_int_equal(meta_xattr_set(&in, "trusted.z", "1", 1, 0), 0);
	assert_int_equal(meta_xattr_set(&in, "security.x", "", 0, 0), 0);
	meta_inode_copy(&cp, &in);
	wbuf_init(&w);
	meta_inode_encode(&w, TEST_INO, &cp);
	assert_int_equal(inode_check(w.p, w.len), 0);
	assert_int_equal(meta_inode_decode(w.p, w.len, &out), 0);
	assert_int_equal(out.mode, in.mode);
	assert_int_equal(out.uid, in.uid);
	assert_true(out.size == UINT64_MAX);
	assert_true(out.rdev == in.rdev);
	assert_true(out.mtime.tv_sec == in.mtime.tv_sec);
	assert_string_equal(out.target, big);
	assert_int_equal(out.nxattr, 2);
	assert_string_equal(out.xattr[0].name, "security.x");
	assert_string_equal(out.xattr[1].name, "trusted.z");
	meta_inode_free(&out);
	meta_inode_free(&cp);
	meta_inode_free(&in);
	meta_inode_free(&in); /* twice, and on a reset inode: harmless */
	meta_inode_free(NULL);
	wbuf_free(&w);
}

/* Patch one copy of a vector and expect the decoder to refuse it. */
static void
inode_reject(size_t off, const void *bytes, size_t n, const char *why)
{
	uint8_t v[sizeof inode_vec + 16];

	memcpy(v, inode_vec, sizeof inode_vec);
	memcpy(v + off, bytes, n);
	if (inode_check(v, sizeof inode_vec) != -1)
		fail_msg("inode with %s decoded", why);
}

/* Offsets into inode_vec. */
#define IV_MODE 1
#define IV_ATIME_NS 41
#define IV_CHUNK 69
#define IV_TLEN 73
#define IV_NX 75
#define IV_X0 77

/* Each check of the inode decoder, hit by a patched vector. */
static void
test_inode_rejects(void **state)
{
	uint8_t v[sizeof inode_vec + 16];
	static const uint8_t badtype[] = { 0xa4, 0xf1 };	/* 0170644 */
	static const uint8_t extra[] = { 0xa4, 0x81, 0x01 };	/* bit 16 */
	static const uint8_t ns[] = { 0x00, 0xca, 0x9a, 0x3b }; /* 1e9 */
	static const uint8_t small[] = { 0x00, 0x08, 0x00, 0x00 }; /* 2 KiB */
	static const uint8_t odd[] = { 0x00, 0x18, 0x00, 0x00 };   /* 6 KiB */
	static const uint8_t huge[] = { 0x00, 0x10, 0x40, 0x00 };  /* 4M+4K */
	static const uint8_t unsorted[] = { 0x06, 'u', 's', 'e', 'r', '.',
	    'c' };
	static const uint8_t nul[] = { 0x06, 'u', 's', 'e', 'r', '.', 0 };
	static const uint8_t noname[] = { 0x00 };
	static const uint8_t three[] = { 0x03, 0x00 };
	static const uint8_t nine[] = { 0x09 };

	(void)state;
	inode_reject(0, nine, 1, "version 9");
	inode_reject(IV_MODE, badtype, 2, "an unknown file type");
	inode_reject(IV_MODE, extra, 3, "mode bits above S_IFMT");
	inode_reject(IV_ATIME_NS, ns, 4, "1e9 nanoseconds");
	inode_reject(IV_CHUNK, small, 4, "a 2 KiB chunk size");
	inode_reject(IV_CHUNK, odd, 4, "a 6 KiB chunk size");
	inode_reject(IV_CHUNK, huge, 4, "a chunk size over 4 MiB");
	inode_reject(IV_X0, unsorted, sizeof unsorted, "unsorted xattrs");
	inode_reject(IV_X0, nul, sizeof nul, "a NUL in an xattr name");
	inode_reject(IV_X0, noname, 1, "an empty xattr name");
	inode_reject(IV_NX, three, 2, "more xattrs than present");
	/* A target on a regular file; a directory with none is fine. */
	memcpy(v, symlink_vec, sizeof symlink_vec);
	v[1] = 0xa4;
	v[2] = 0x81;
	assert_int_equal(inode_check(v, sizeof symlink_vec), -1);
	/* A symlink without a target; one with a NUL in it. */
	memcpy(v, inode_vec, sizeof inode_vec);
	v[1] = 0xff;
	v[2] = 0xa1;
	assert_int_equal(inode_check(v, sizeof inode_vec), -1);
	memcpy(v, symlink_vec, sizeof symlink_vec);
	v[IV_TLEN + 3] = '\0';
	assert_int_equal(inode_check(v, sizeof symlink_vec), -1);
	/* Trailing bytes. */
	memcpy(v, inode_vec, sizeof inode_vec);
	v[sizeof inode_vec] = 0;
	assert_int_equal(inode_check(v, sizeof inode_vec + 1), -1);
}

/* The same record as a directory is valid. */
static void
test_inode_dir_ok(void **state)
{
	uint8_t v[sizeof inode_vec];

	(void)state;
	memcpy(v, inode_vec, sizeof inode_vec);
	v[1] = 0xed;
	v[2] = 0x41;
	assert_int_equal(inode_check(v, sizeof v), 0);
}

/* Offsets into inode2_vec. */
#define I2_NEXT 77
#define I2_E0_END 87
#define I2_E1_FIRST 95
#define I2_E1_END 103

/* Patch one copy of inode2_vec; expect rc from the decoder. */
static void
inode2_try(size_t off, const void *bytes, size_t n, int rc, const char *why)
{
	uint8_t v[sizeof inode2_vec];

	memcpy(v, inode2_vec, sizeof v);
	memcpy(v + off, bytes, n);
	if (inode_check(v, sizeof v) != rc)
		fail_msg("inode with %s: decode did not return %d", why, rc);
}

/*
 * An inode2_vec with n extents [3i, 3i + 1) (n up to 200), its length in
 * *len: the body must be there, so that only the cap refuses it.
 */
static uint8_t *
inode2_many(uint16_t n, size_t *len)
{
	struct wbuf w;
	uint8_t *p;

	wbuf_init(&w);
	wbuf_put_bytes(&w, inode2_vec, I2_NEXT);
	wbuf_put_u16(&w, n);
	for (uint16_t i = 0; i < n; i++) {
		wbuf_put_u64(&w, 3u * i);
		wbuf_put_u64(&w, 3u * i + 1);
	}
	p = dup_exact(w.p, w.len);
	*len = w.len;
	wbuf_free(&w);
	return p;
}

/* Each check of the extent decoder, and its limits. */
static void
test_inode_extent_rejects(void **state)
{
	/* 2^44 chunks of 1 MiB reach UINT64_MAX: the largest end. */
	static const uint8_t max_end[] = { 0, 0, 0, 0, 0, 0x10, 0, 0 };
	static const uint8_t over_end[] = { 1, 0, 0, 0, 0, 0x10, 0, 0 };
	static const uint8_t zero[] = { 0, 0, 0, 0, 0, 0, 0, 0 };
	static const uint8_t one[] = { 1, 0, 0, 0, 0, 0, 0, 0 };
	static const uint8_t past[] = { 0x05, 0x10, 0, 0, 0, 0, 0, 0 };
	static const uint8_t swapped[] = {
	    0x00, 0x10, 0, 0, 0, 0, 0, 0, 0x04, 0x10, 0, 0, 0, 0, 0, 0,
	    0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0 };
	static const uint8_t three[] = { 0x03, 0x00 };
	static const uint8_t dir[] = { 0xed, 0x41 };
	static const uint8_t none[] = { 0x00, 0x00 };
	uint8_t v[sizeof inode2_vec + 1], *p;
	size_t len;

	(void)state;
	inode2_try(I2_E1_END, max_end, 8, 0, "an end of 2^44 (the largest)");
	inode2_try(I2_E1_END, over_end, 8, -1, "an end past 2^44");
	inode2_try(I2_E0_END, zero, 8, -1, "an empty extent [0, 0)");
	inode2_try(I2_E1_FIRST, past, 8, -1, "an extent whose first > end");
	inode2_try(I2_E1_FIRST, one, 8, -1, "extents that touch");
	inode2_try(I2_E1_FIRST, zero, 8, -1, "overlapping extents");
	inode2_try(I2_NEXT + 2, swapped, sizeof swapped, -1,
	    "extents out of order");
	inode2_try(I2_NEXT, three, 2, -1, "more extents than present");
	inode2_try(1, dir, 2, -1, "extents on a directory");
	/* A directory (or symlink, ...) with none is fine. */
	memcpy(v, inode2_vec, I2_NEXT);
	memcpy(v + 1, dir, 2);
	memcpy(v + I2_NEXT, none, 2);
	assert_int_equal(inode_check(v, I2_NEXT + 2), 0);
	/* Version 2 without its extent count; version 1 with one. */
	assert_int_equal(inode_check(inode2_vec, I2_NEXT), -1);
	memcpy(v, inode2_vec, sizeof inode2_vec);
	v[0] = META_INODE_VERSION_V1;
	assert_int_equal(inode_check(v, sizeof inode2_vec), -1);
	/* Trailing bytes after the extents. */
	memcpy(v, inode2_vec, sizeof inode2_vec);
	v[sizeof inode2_vec] = 0;
	assert_int_equal(inode_check(v, sizeof v), -1);
	/* The cap: 128 extents decode, 129 do not, bodies present. */
	p = inode2_many(META_EXTENT_MAX, &len);
	assert_int_equal(inode_check(p, len), 0);
	free(p);
	p = inode2_many(META_EXTENT_MAX + 1, &len);
	assert_int_equal(inode_check(p, len), -1);
	free(p);
	/* A huge count in a short body is refused before any allocation. */
	memcpy(v, inode2_vec, I2_NEXT);
	v[I2_NEXT] = 0xff;
	v[I2_NEXT + 1] = 0xff;
	assert_int_equal(inode_check(v, I2_NEXT + 2), -1);
}

/*
 * Round trips: extents survive encode and decode; a version 1 file of
 * the largest size decodes with the largest extent, which version 2
 * accepts; the encoder writes no extents for other types.
 */
static void
test_inode_extent_roundtrip(void **state)
{
	struct meta_inode in, out;
	struct wbuf w;

	(void)state;
	meta_inode_init(&in);
	in.mode = S_IFREG | 0600;
	in.nlink = 1;
	in.chunk_size = META_CHUNK_MIN;
	in.size = UINT64_MAX;
	assert_true(meta_nchunks(UINT64_MAX, META_CHUNK_MIN) == 1ULL << 52);
	assert_true(meta_extents_add(&in.ext, 7, 9));
	assert_true(meta_extents_add(&in.ext, (1ULL << 52) - 1, 1ULL << 52));
	wbuf_init(&w);
	meta_inode_encode(&w, TEST_INO, &in);
	assert_int_equal(inode_check(w.p, w.len), 0);
	assert_int_equal(meta_inode_decode(w.p, w.len, &out), 0);
	assert_int_equal(out.ext.n, 2);
	assert_true(out.ext.v[1].end == 1ULL << 52);
	meta_inode_free(&out);
	/* The same as version 1: one extent, the whole size. */
	w.len = 0;
	meta_inode_encode(&w, TEST_INO, &in);
	inode_downgrade(&w, META_INODE_VERSION_V1);
	w.len -= 2 + 2 * 16;
	assert_int_equal(inode_check(w.p, w.len), 0);
	assert_int_equal(meta_inode_decode(w.p, w.len, &out), 0);
	assert_int_equal(out.ext.n, 1);
	assert_true(out.ext.v[0].first == 0 &&
	    out.ext.v[0].end == 1ULL << 52);
	meta_inode_free(&out);
	/* An empty v1 file has none. */
	in.size = 0;
	w.len = 0;
	meta_inode_encode(&w, TEST_INO, &in);
	inode_downgrade(&w, META_INODE_VERSION_V1);
	w.len -= 2 + 2 * 16;
	assert_int_equal(meta_inode_decode(w.p, w.len, &out), 0);
	assert_int_equal(out.ext.n, 0);
	meta_inode_free(&out);
	/* A directory never carries extents, whatever the struct holds. */
	in.mode = S_IFDIR | 0755;
	w.len = 0;
	meta_inode_encode(&w, TEST_INO, &in);
	assert_int_equal(inode_check(w.p, w.len), 0);
	wbuf_free(&w);
	meta_inode_free(&in);
}

/*
 * Inline data (version 4): it round-trips, grows with zeros, trims and
 * clears; the decoder refuses it on a file with extents, on other types,
 * past the size, the chunk size or META_INLINE_MAX, and cut short.
 */
static void
test_inode_inline(void **state)
{
	struct meta_inode in, out;
	struct wbuf w;
	uint8_t *big;

	(void)state;
	meta_inode_init(&in);
	in.mode = S_IFREG | 0644;
	in.nlink = 1;
	in.chunk_size = META_CHUNK_DEFAULT;
	meta_inline_write(&in, 3, "abc", 3);
	assert_int_equal(in.inl_len, 6);
	assert_memory_equal(in.inl, "\0\0\0abc", 6);
	meta_inline_write(&in, 0, "xy", 2);
	assert_memory_equal(in.inl, "xy\0abc", 6);
	in.size = 10;
	wbuf_init(&w);
	meta_inode_encode(&w, TEST_INO, &in);
	assert_int_equal(inode_check(w.p, w.len), 0);
	assert_int_equal(meta_inode_decode(w.p, w.len, &out), 0);
	assert_int_equal(out.inl_len, 6);
	assert_memory_equal(out.inl, "xy\0abc", 6);
	meta_inode_free(&out);
	/* Every cut of the record is refused. */
	for (size_t len = 0; len < w.len; len++)
		assert_int_equal(inode_check(w.p, len), -1);
	/* Past the size. */
	in.size = 5;
	w.len = 0;
	meta_inode_encode(&w, TEST_INO, &in);
	assert_int_equal(inode_check(w.p, w.len), -1);
	in.size = 10;
	/* With extents the encoder writes none; forged, it is refused. */
	assert_true(meta_extents_add(&in.ext, 0, 1));
	w.len = 0;
	meta_inode_encode(&w, TEST_INO, &in);
	assert_int_equal(meta_inode_decode(w.p, w.len, &out), 0);
	assert_int_equal(out.inl_len, 0);
	assert_int_equal(out.ext.n, 1);
	meta_inode_free(&out);
	w.len -= 4;
	wbuf_put_u32(&w, 2);
	wbuf_put_bytes(&w, "xy", 2);
	assert_int_equal(inode_check(w.p, w.len), -1);
	meta_extents_free(&in.ext);
	/* A directory never carries it; forged, refused. */
	in.mode = S_IFDIR | 0755;
	w.len = 0;
	meta_inode_encode(&w, TEST_INO, &in);
	assert_int_equal(inode_check(w.p, w.len), 0);
	w.len -= 4;
	wbuf_put_u32(&w, 2);
	wbuf_put_bytes(&w, "xy", 2);
	assert_int_equal(inode_check(w.p, w.len), -1);
	in.mode = S_IFREG | 0644;
	/* The cap, and the chunk size. */
	big = calloc(1, META_INLINE_MAX + 1);
	assert_non_null(big);
	meta_inline_clear(&in);
	meta_inline_write(&in, 0, big, META_INLINE_MAX);
	in.size = 1ULL << 30;
	w.len = 0;
	meta_inode_encode(&w, TEST_INO, &in);
	assert_int_equal(inode_check(w.p, w.len), 0);
	in.chunk_size = META_CHUNK_MIN;
	w.len = 0;
	meta_inode_encode(&w, TEST_INO, &in);
	assert_int_equal(inode_check(w.p, w.len), -1);
	in.chunk_size = META_CHUNK_DEFAULT;
	meta_inline_write(&in, META_INLINE_MAX, big, 1);
	w.len = 0;
	meta_inode_encode(&w, TEST_INO, &in);
	assert_int_equal(inode_check(w.p, w.len), -1);
	free(big);
	/* Trim and clear; a copy is deep. */
	meta_inline_trim(&in, 4);
	assert_int_equal(in.inl_len, 4);
	meta_inode_copy(&out, &in);
	assert_ptr_not_equal(out.inl, in.inl);
	assert_int_equal(out.inl_len, 4);
	meta_inode_free(&out);
	meta_inline_trim(&in, 9);
	assert_int_equal(in.inl_len, 4);
	meta_inline_trim(&in, 0);
	assert_null(in.inl);
	assert_int_equal(in.inl_len, 0);
	wbuf_free(&w);
	meta_inode_free(&in);
}

/* Adding, merging, trimming, the tail, covers, has, count. */
static void
test_extents_ops(void **state)
{
	struct meta_extents x = { 0 }, y = { 0 }, t;

	(void)state;
	assert_false(meta_extents_add(&x, 5, 5));	/* empty: nothing */
	assert_true(meta_extents_add(&x, 10, 20));
	assert_true(meta_extents_add(&x, 30, 40));
	assert_false(meta_extents_add(&x, 12, 18));	/* inside */
	assert_false(meta_extents_add(&x, 30, 40));
	assert_int_equal(x.n, 2);
	assert_true(meta_extents_add(&x, 20, 21));	/* touches: merged */
	assert_int_equal(x.n, 2);
	assert_true(x.v[0].first == 10 && x.v[0].end == 21);
	assert_true(meta_extents_add(&x, 0, 1));	/* before all */
	assert_true(meta_extents_add(&x, 50, 60));	/* after all */
	assert_true(meta_extents_add(&x, 25, 26));	/* between */
	assert_int_equal(x.n, 5);
	assert_true(meta_extents_add(&x, 21, 30));	/* joins three */
	assert_int_equal(x.n, 3);
	assert_true(x.v[1].first == 10 && x.v[1].end == 40);
	assert_true(meta_extents_count(&x) == 1 + 30 + 10);
	assert_true(meta_extents_has(&x, 0) && !meta_extents_has(&x, 1));
	assert_true(meta_extents_has(&x, 39) && !meta_extents_has(&x, 40));
	assert_true(meta_extents_has(&x, 59) && !meta_extents_has(&x, 60));
	/* The tail from 35: [35, 40) [50, 60). */
	meta_extents_tail(&t, &x, 35);
	assert_int_equal(t.n, 2);
	assert_true(t.v[0].first == 35 && t.v[0].end == 40);
	assert_true(meta_extents_covers(&x, &t));
	assert_false(meta_extents_covers(&t, &x));
	assert_true(meta_extents_covers(&t, &y));	/* the empty list */
	meta_extents_add(&y, 36, 38);
	meta_extents_add(&y, 55, 56);
	assert_true(meta_extents_covers(&t, &y));
	meta_extents_add(&y, 39, 41);			/* past [35, 40) */
	assert_false(meta_extents_covers(&t, &y));
	meta_extents_free(&t);
	meta_extents_tail(&t, &x, 60);
	assert_int_equal(t.n, 0);
	assert_null(t.v);
	/* Merge reports a change only when one happened. */
	meta_extents_copy(&t, &x);
	assert_false(meta_extents_merge(&t, &x));
	assert_true(meta_extents_merge(&t, &y));
	assert_true(t.v[1].first == 10 && t.v[1].end == 41);
	meta_extents_free(&t);
	/* Trimming. */
	meta_extents_trim(&x, 55);
	assert_int_equal(x.n, 3);
	assert_true(x.v[2].end == 55);
	meta_extents_trim(&x, 50);
	assert_int_equal(x.n, 2);
	meta_extents_trim(&x, 11);
	assert_int_equal(x.n, 2);
	assert_true(x.v[1].first == 10 && x.v[1].end == 11);
	meta_extents_trim(&x, 0);
	assert_int_equal(x.n, 0);
	assert_null(x.v);
	meta_extents_free(&x);
	meta_extents_free(&y);
	meta_extents_free(NULL);
}

/* Past the cap, the two closest neighbours merge, never anything else. */
static void
test_extents_cap(void **state)
{
	struct meta_extents x = { 0 };
	uint64_t pos[META_EXTENT_MAX + 2], p = 0;

	(void)state;
	/* Single chunks with shrinking gaps: the last gaps are smallest. */
	for (int i = 0; i < META_EXTENT_MAX + 2; i++) {
		pos[i] = p;
		p += 2 + (uint64_t)(1000 - i);
	}
	for (int i = 0; i < META_EXTENT_MAX + 2; i++)
		meta_extents_add(&x, pos[i], pos[i] + 1);
	assert_int_equal(x.n, META_EXTENT_MAX);
	for (int i = 0; i < META_EXTENT_MAX - 1; i++)
		assert_true(x.v[i].first == pos[i] && x.v[i].end == pos[i] + 1);
	/* The last three became one, gaps and all. */
	assert_true(x.v[META_EXTENT_MAX - 1].first == pos[META_EXTENT_MAX - 1]);
	assert_true(x.v[META_EXTENT_MAX - 1].end == pos[META_EXTENT_MAX + 1] + 1);
	/* Adding inside the merged extent changes nothing. */
	assert_false(meta_extents_add(&x, pos[META_EXTENT_MAX] + 1,
	    pos[META_EXTENT_MAX] + 2));
	meta_extents_free(&x);
}

/* Invariants of a list: sorted, disjoint, not touching, within the cap. */
static void
extents_valid(const struct meta_extents *x)
{
	assert_true(x->n <= META_EXTENT_MAX);
	for (uint16_t i = 0; i < x->n; i++) {
		assert_true(x->v[i].first < x->v[i].end);
		if (i > 0)
			assert_true(x->v[i].first > x->v[i - 1].end);
	}
}

/*
 * Random adds against a bitmap: the list always holds every chunk added
 * (a superset) and keeps its invariants; while it never had to merge
 * past the cap it holds exactly those chunks.  Trims too.
 */
static void
test_extents_model(void **state)
{
	enum { U = 4000 };
	static bool bit[U];
	uint32_t seed = 12345;

	(void)state;
	for (int round = 0; round < 200; round++) {
		struct meta_extents x = { 0 };
		bool squeezed = false;
		int adds = round < 100 ? 20 : 400;

		memset(bit, 0, sizeof bit);
		for (int k = 0; k < adds; k++) {
			uint64_t a, len;

			seed = seed * 1103515245u + 12345u;
			a = (seed >> 8) % U;
			seed = seed * 1103515245u + 12345u;
			len = 1 + (seed >> 8) % (round % 3 == 0 ? 40 : 3);
			if (a + len > U)
				len = U - a;
			(void)meta_extents_add(&x, a, a + len);
			for (uint64_t i = a; i < a + len; i++)
				bit[i] = true;
			extents_valid(&x);
			squeezed |= x.n == META_EXTENT_MAX;
			for (uint64_t i = 0; i < U; i++) {
				if (bit[i])
					assert_true(meta_extents_has(&x, i));
				else if (!squeezed)
					assert_false(meta_extents_has(&x, i));
			}
		}
		seed = seed * 1103515245u + 12345u;
		meta_extents_trim(&x, (seed >> 8) % U);
		extents_valid(&x);
		for (uint16_t i = 0; i < x.n; i++)
			assert_true(x.v[i].end <= (seed >> 8) % U);
		meta_extents_free(&x);
	}
}

/* Setting, replacing, listing, removing xattrs, and their limits. */
static void
test_xattr_ops(void **state)
{
	struct meta_inode in;
	char list[64], name[300];
	static uint8_t val[META_XATTR_VALUE_MAX + 1];

	(void)state;
	meta_inode_init(&in);
	assert_int_equal(meta_xattr_set(&in, "user.b", "2", 1, 0), 0);
	assert_int_equal(meta_xattr_set(&in, "user.a", "1", 1,
	    META_XATTR_CREATE), 0);
	assert_int_equal(meta_xattr_set(&in, "user.a", "x", 1,
	    META_XATTR_CREATE), -EEXIST);
	assert_int_equal(meta_xattr_set(&in, "user.c", "x", 1,
	    META_XATTR_REPLACE), -ENODATA);
	assert_int_equal(meta_xattr_set(&in, "user.a", "11", 2,
	    META_XATTR_REPLACE), 0);
	assert_int_equal(meta_xattr_find(&in, "user.a"), 0);
	assert_int_equal(meta_xattr_find(&in, "user.b"), 1);
	assert_int_equal(meta_xattr_find(&in, "user.z"), -1);
	assert_int_equal(in.xattr[0].len, 2);
	assert_int_equal(meta_xattr_list(&in, NULL, 0), 14);
	assert_int_equal(meta_xattr_list(&in, list, 13), -ERANGE);
	assert_int_equal(meta_xattr_list(&in, list, sizeof list), 14);
	assert_memory_equal(list, "user.a\0user.b\0", 14);
	assert_int_equal(meta_xattr_set(&in, "", "x", 1, 0), -ERANGE);
	memset(name, 'n', 256);
	name[256] = '\0';
	assert_int_equal(meta_xattr_set(&in, name, "x", 1, 0), -ERANGE);
	assert_int_equal(meta_xattr_set(&in, "user.v", val, sizeof val, 0),
	    -E2BIG);
	/*
	 * 64 KiB of names and values in all: user.a=11 and user.b=2 take 15
	 * bytes, so this fills it exactly, and nothing more fits.
	 */
	assert_int_equal(meta_xattr_set(&in, "user.v", val,
	    META_XATTR_TOTAL_MAX - 15 - 6, 0), 0);
	assert_int_equal(meta_xattr_set(&in, "user.w", "", 0, 0), -ENOSPC);
	assert_int_equal(meta_xattr_remove(&in, "user.v"), 0);
	assert_int_equal(meta_xattr_remove(&in, "user.v"), -ENODATA);
	assert_int_equal(meta_xattr_remove(&in, "user.a"), 0);
	assert_int_equal(meta_xattr_remove(&in, "user.b"), 0);
	assert_int_equal(in.nxattr, 0);
	assert_null(in.xattr);
	assert_int_equal(meta_xattr_list(&in, NULL, 0), 0);
	meta_inode_free(&in);
}

/* The hand-written directory decodes; the empty one is 5 bytes. */
static void
test_dir_vector(void **state)
{
	struct meta_dir d;

	(void)state;
	assert_int_equal(meta_dir_decode(dir_vec, sizeof dir_vec, &d), 0);
	assert_int_equal(d.n, 2);
	assert_true(d.e[0].ino == 0x1122334455667788ULL);
	assert_int_equal(d.e[0].type, DT_REG);
	assert_memory_equal(meta_dir_name(&d, 0), "a", 1);
	assert_true(d.e[1].ino == 2);
	assert_int_equal(d.e[1].type, DT_DIR);
	assert_int_equal(d.state, META_SHARD_LIVE);
	assert_int_equal(d.depth, 0);
	meta_dir_free(&d);
	assert_int_equal(dir_check(dir_vec, sizeof dir_vec), 0);
	/* The empty directory is 15 bytes. */
	assert_int_equal(dir_check((const uint8_t *)"\x02\0\0\0\0\0\0\0\0"
	    "\0\0\0\0\0\0", 15), 0);
	/* Version 1 still decodes, the same entries, and is written back
	 * as version 2. */
	assert_int_equal(dir_v1_check(dir_v1_vec, sizeof dir_v1_vec), 0);
	assert_int_equal(meta_dir_decode(dir_v1_vec, sizeof dir_v1_vec, &d),
	    0);
	assert_int_equal(d.n, 2);
	assert_memory_equal(meta_dir_name(&d, 1), "b", 1);
	assert_int_equal(d.state, META_SHARD_LIVE);
	meta_dir_free(&d);
	assert_int_equal(dir_v1_check((const uint8_t *)"\x01\0\0\0\0", 5),
	    0);
	/* A SPLIT header at depth 2, prefix 3: no entries. */
	assert_int_equal(dir_check((const uint8_t *)"\x02\x02\x02\x03\0\0\0"
	    "\0\0\0\0\0\0\0\0", 15), 0);
}

/*
 * The record of half p of a root shard of 40 names split in two (w
 * initialised here; the caller frees it).
 */
static void
shard_half(uint64_t p, struct wbuf *w)
{
	struct meta_dir d, half;
	char name[16];

	meta_dir_init(&d);
	for (int k = 0; k < 40; k++) {
		snprintf(name, sizeof name, "name%d", k);
		assert_int_equal(meta_dir_insert(&d, name, strlen(name),
		    (uint64_t)k + 1, DT_REG), 0);
	}
	meta_dir_split_part(&half, &d, p);
	wbuf_init(w);
	meta_dir_encode(w, &half);
	meta_dir_free(&half);
	meta_dir_free(&d);
}

/*
 * Shard math: which shard holds a hash, the children, the ranges, ids,
 * keys, readdir cookies; a split puts every entry in exactly one half,
 * in order, and each half decodes as the shard it is.
 */
static void
test_shard_math(void **state)
{
	const uint64_t top = UINT64_C(1) << 63;
	struct meta_dir d, half[2];
	struct hash_key a, b;
	uint64_t end, h, prefix;
	uint8_t depth;
	struct wbuf w;
	char name[16];

	(void)state;
	assert_true(meta_shard_has(0, 0, 12345));
	assert_true(meta_shard_has(1, 1, top));
	assert_false(meta_shard_has(1, 0, top));
	assert_true(meta_shard_has(3, 5, UINT64_C(5) << 61 | 77));
	assert_int_equal(meta_shard_child(0, 0, top), 1);
	assert_int_equal(meta_shard_child(0, 0, top - 1), 0);
	assert_int_equal(meta_shard_child(2, 3, UINT64_C(7) << 61), 7);
	assert_false(meta_shard_end(0, 0, &end));
	assert_true(meta_shard_end(1, 0, &end));
	assert_true(end == top);
	assert_false(meta_shard_end(1, 1, &end));
	assert_true(meta_shard_end(2, 2, &end));
	assert_true(end == UINT64_C(3) << 62);
	assert_true(meta_shard_end(40, 5, &end));
	assert_true(end == UINT64_C(6) << 24);
	meta_shard_of_id(meta_shard_id(40, (UINT64_C(1) << 40) - 1), &depth,
	    &prefix);
	assert_int_equal(depth, 40);
	assert_true(prefix == (UINT64_C(1) << 40) - 1);
	assert_true(meta_shard_id(1, 0) != meta_shard_id(0, 0));
	/* Keys: the root shard is the directory's old key. */
	meta_key_shard(0xabc, 0, 0, &a);
	meta_key_dir(0xabc, &b);
	assert_memory_equal(&a, &b, sizeof a);
	meta_key_shard(0xabc, 1, 0, &b);
	assert_memory_not_equal(&a, &b, sizeof a);
	meta_key_shard(0xabc, 1, 1, &a);
	assert_memory_not_equal(&a, &b, sizeof a);
	/* Cookies: past "." and "..", monotonic, and the way back. */
	assert_true(meta_dir_cookie(0) == 3);
	assert_true(meta_dir_cookie(UINT64_MAX) == (UINT64_C(1) << 62) + 2);
	assert_true(meta_dir_cookie(4) > meta_dir_cookie(3));
	assert_true(meta_dir_cookie_next(2, &h) && h == 0);
	assert_true(meta_dir_cookie_next(meta_dir_cookie(1000), &h));
	assert_true(meta_dir_cookie(h) == meta_dir_cookie(1000) + 1);
	assert_true(meta_dir_cookie(h - 1) == meta_dir_cookie(1000));
	assert_false(meta_dir_cookie_next(meta_dir_cookie(UINT64_MAX), &h));
	/* A copy keeps the shard's state and place, also with no entries. */
	meta_dir_init(&d);
	d.state = META_SHARD_SPLIT;
	d.depth = 7;
	d.prefix = 99;
	meta_dir_copy(&half[0], &d);
	assert_int_equal(half[0].state, META_SHARD_SPLIT);
	assert_int_equal(half[0].depth, 7);
	assert_int_equal(half[0].prefix, 99);
	meta_dir_free(&half[0]);
	/* A split. */
	meta_dir_init(&d);
	for (int k = 0; k < 200; k++) {
		snprintf(name, sizeof name, "f%d", k);
		assert_int_equal(meta_dir_insert(&d, name, strlen(name),
		    (uint64_t)k + 1, DT_REG), 0);
	}
	meta_dir_split_part(&half[0], &d, 0);
	meta_dir_split_part(&half[1], &d, 1);
	assert_int_equal(half[0].n + half[1].n, 200);
	assert_true(half[0].n > 50 && half[1].n > 50);
	for (int p = 0; p < 2; p++) {
		struct meta_dir back;

		assert_int_equal(half[p].depth, 1);
		assert_int_equal(half[p].prefix, p);
		assert_int_equal(half[p].state, META_SHARD_LIVE);
		for (size_t i = 0; i < half[p].n; i++) {
			const char *nm = meta_dir_name(&half[p], i);

			assert_true(meta_shard_has(1, (uint64_t)p,
			    meta_name_hash(nm, half[p].e[i].len)));
			assert_true(meta_dir_find(&d, nm, half[p].e[i].len,
			    NULL) >= 0);
		}
		wbuf_init(&w);
		meta_dir_encode(&w, &half[p]);
		assert_int_equal(dir_check(w.p, w.len), 0);
		assert_int_equal(meta_dir_decode(w.p, w.len, &back), 0);
		assert_int_equal(back.n, half[p].n);
		meta_dir_free(&back);
		/* Under the other prefix, its names are outside. */
		w.p[3] ^= 1;
		assert_int_equal(dir_check(w.p, w.len), -1);
		wbuf_free(&w);
		meta_dir_free(&half[p]);
	}
	meta_dir_free(&d);
}

/* Insert keeps order, find reports where, remove and copy. */
static void
test_dir_ops(void **state)
{
	struct meta_dir d, c;
	struct wbuf w;
	size_t where;
	char name[32];

	(void)state;
	meta_dir_init(&d);
	/* Insert in a scrambled order; entries come out sorted. */
	for (int i = 0; i < 500; i++) {
		int k = (i * 7919) % 500;

		snprintf(name, sizeof name, "f%03d", k);
		assert_int_equal(meta_dir_insert(&d, name, 4, (uint64_t)k + 1,
		    DT_REG), 0);
	}
	assert_int_equal(meta_dir_insert(&d, "f123", 4, 9, DT_REG), -EEXIST);
	/* Shorter sorts first among equal prefixes. */
	assert_int_equal(meta_dir_insert(&d, "f12", 3, 1000, DT_DIR), 0);
	assert_int_equal(meta_dir_find(&d, "f12", 3, NULL), 120);
	assert_int_equal(meta_dir_find(&d, "f123", 4, NULL), 124);
	assert_int_equal(meta_dir_find(&d, "f1234", 5, &where), -1);
	assert_int_equal(where, 125);
	assert_int_equal(meta_dir_find(&d, "a", 1, &where), -1);
	assert_int_equal(where, 0);
	assert_int_equal(meta_dir_find(&d, "g", 1, &where), -1);
	assert_int_equal(where, 501);
	meta_dir_remove_at(&d, 120);
	assert_int_equal(meta_dir_find(&d, "f12", 3, NULL), -1);
	assert_int_equal(d.n, 500);
	meta_dir_copy(&c, &d);
	assert_int_equal(c.names_len, 2000); /* compacted */
	wbuf_init(&w);
	meta_dir_encode(&w, &c);
	assert_int_equal(dir_check(w.p, w.len), 0);
	for (size_t i = 0; i < c.n; i++) {
		snprintf(name, sizeof name, "f%03zu", i);
		assert_memory_equal(meta_dir_name(&c, i), name, 4);
		assert_true(c.e[i].ino == i + 1);
	}
	wbuf_free(&w);
	meta_dir_free(&c);
	meta_dir_free(&d);
	meta_dir_free(NULL);
}

/* Each check of the directory decoder. */
static void
test_dir_rejects(void **state)
{
	uint8_t v[sizeof dir_vec + 300];
	size_t n = sizeof dir_vec;

	(void)state;
#define DIR_TRY(off, byte, why) do {					\
	memcpy(v, dir_vec, n);						\
	v[off] = (byte);						\
	if (dir_check(v, n) != -1)					\
		fail_msg("directory with %s decoded", why);		\
} while (0)
	DIR_TRY(0, 3, "version 3");
	DIR_TRY(1, 4, "state 4");
	DIR_TRY(1, META_SHARD_SPLIT, "entries in a SPLIT shard");
	DIR_TRY(1, META_SHARD_DEAD, "entries in a DEAD shard");
	DIR_TRY(2, META_SHARD_DEPTH_MAX + 1, "a depth past the deepest");
	DIR_TRY(3, 1, "prefix 1 at depth 0");
	DIR_TRY(11, 3, "a count of 3");
	DIR_TRY(11, 1, "a count of 1 (trailing bytes)");
	DIR_TRY(15, 3, "type 3");
	DIR_TRY(15, 0, "type 0");
	DIR_TRY(25, 'b', "a duplicate name");
	DIR_TRY(25, '/', "'/' in a name");
	DIR_TRY(25, '\0', "a NUL in a name");
	DIR_TRY(25, '.', "the name \".\"");
	DIR_TRY(36, '0', "names out of order");
	/* Inode 0. */
	memcpy(v, dir_vec, n);
	memset(v + 27, 0, 8);
	assert_int_equal(dir_check(v, n), -1);
	/* An empty name: length 0. */
	memcpy(v, dir_vec, n);
	v[35] = 0;
	assert_int_equal(dir_check(v, n - 1), -1);
	/* ".." */
	memcpy(v, dir_vec, n);
	v[35] = 2;
	v[36] = '.';
	v[37] = '.';
	assert_int_equal(dir_check(v, n + 1), -1);
	/* A huge count in a short body is refused before any allocation. */
	memcpy(v, "\x02\0\0\0\0\0\0\0\0\0\0\xff\xff\xff\xff", 15);
	assert_int_equal(dir_check(v, 15), -1);
	memcpy(v, "\x01\xff\xff\xff\xff", 5);
	assert_int_equal(dir_check(v, 5), -1);
	/* Names outside the shard: "a" and "b" at depth 1, under both
	 * prefixes (one of the two holds at most one of them). */
	for (uint8_t p = 0; p < 2; p++) {
		memcpy(v, dir_vec, n);
		v[2] = 1;
		v[3] = p;
		if (meta_shard_has(1, p, meta_name_hash("a", 1)) &&
		    meta_shard_has(1, p, meta_name_hash("b", 1)))
			continue;
		assert_int_equal(dir_check(v, n), -1);
	}
#undef DIR_TRY
}

/* Entry name rules; object key names are pinned. */
static void
test_names_and_keys(void **state)
{
	struct hash_key a, b;
	char n255[256];

	(void)state;
	assert_int_equal(meta_name_check("a", 1), 0);
	assert_int_equal(meta_name_check("a b\t\n\xff", 6), 0);
	assert_int_equal(meta_name_check("", 0), -EINVAL);
	assert_int_equal(meta_name_check(".", 1), -EINVAL);
	assert_int_equal(meta_name_check("..", 2), -EINVAL);
	assert_int_equal(meta_name_check("...", 3), 0);
	assert_int_equal(meta_name_check("a/b", 3), -EINVAL);
	assert_int_equal(meta_name_check("a\0b", 3), -EINVAL);
	memset(n255, 'x', sizeof n255);
	assert_int_equal(meta_name_check(n255, 255), 0);
	assert_int_equal(meta_name_check(n255, 256), -ENAMETOOLONG);
	/* Key names are part of the format: pin them. */
	meta_key_inode(1, &a);
	hash_key_of("i/1", 3, &b);
	assert_memory_equal(&a, &b, sizeof a);
	meta_key_dir(0xabcdef, &a);
	hash_key_of("d/abcdef", 8, &b);
	assert_memory_equal(&a, &b, sizeof a);
	meta_key_chunk(0x7fffffffffffffffULL, 12, &a);
	hash_key_of("c/7fffffffffffffff/12", 21, &b);
	assert_memory_equal(&a, &b, sizeof a);
}

/*
 * Every truncation of a valid record is rejected; every single-bit flip
 * is rejected or re-encodes to itself.  Returns the flips accepted.
 */
static size_t
mutation_pass(int (*check)(const uint8_t *, size_t), const uint8_t *rec,
    size_t len)
{
	uint8_t *buf = dup_exact(rec, len);
	size_t accepted = 0;

	assert_int_equal(check(rec, len), 0);
	for (size_t l = 0; l < len; l++) {
		if (check(rec, l) != -1)
			fail_msg("truncation to %zu of %zu bytes decoded", l,
			    len);
	}
	for (size_t i = 0; i < len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			buf[i] ^= (uint8_t)(1u << bit);
			if (check(buf, len) == 0)
				accepted++;
			buf[i] ^= (uint8_t)(1u << bit);
		}
	}
	free(buf);
	return accepted;
}

/* Mutation passes over both inode vectors. */
static void
test_mutation_inode(void **state)
{
	size_t ok;

	(void)state;
	ok = mutation_pass(inode_check, inode_vec, sizeof inode_vec);
	/* Ids, sizes, times flip freely; lengths and counts do not. */
	assert_true(ok > 0 && ok < 8 * sizeof inode_vec);
	ok = mutation_pass(inode_check, symlink_vec, sizeof symlink_vec);
	assert_true(ok > 0 && ok < 8 * sizeof symlink_vec);
	ok = mutation_pass(inode_check, inode2_vec, sizeof inode2_vec);
	assert_true(ok > 0 && ok < 8 * sizeof inode2_vec);
}

/* Mutation passes over the directory vectors (both versions), and over
 * shards made by a split. */
static void
test_mutation_dir(void **state)
{
	size_t ok;

	(void)state;
	ok = mutation_pass(dir_check, dir_vec, sizeof dir_vec);
	assert_true(ok > 0 && ok < 8 * sizeof dir_vec);
	ok = mutation_pass(dir_v1_check, dir_v1_vec, sizeof dir_v1_vec);
	assert_true(ok > 0 && ok < 8 * sizeof dir_v1_vec);
	/* Both halves of a split shard (depth 1). */
	for (uint64_t p = 0; p < 2; p++) {
		struct wbuf w;

		shard_half(p, &w);
		ok = mutation_pass(dir_check, w.p, w.len);
		assert_true(ok > 0 && ok < 8 * w.len);
		wbuf_free(&w);
	}
}

/* The fsmeta test group. */
int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_inode_vector),
		cmocka_unit_test(test_inode_roundtrip),
		cmocka_unit_test(test_inode_v3),
		cmocka_unit_test(test_inode_rejects),
		cmocka_unit_test(test_inode_dir_ok),
		cmocka_unit_test(test_inode_extent_rejects),
		cmocka_unit_test(test_inode_extent_roundtrip),
		cmocka_unit_test(test_inode_inline),
		cmocka_unit_test(test_extents_ops),
		cmocka_unit_test(test_extents_cap),
		cmocka_unit_test(test_extents_model),
		cmocka_unit_test(test_xattr_ops),
		cmocka_unit_test(test_dir_vector),
		cmocka_unit_test(test_dir_ops),
		cmocka_unit_test(test_dir_rejects),
		cmocka_unit_test(test_shard_math),
		cmocka_unit_test(test_names_and_keys),
		cmocka_unit_test(test_mutation_inode),
		cmocka_unit_test(test_mutation_dir),
	};

	return cmocka_run_group_tests_name("fsmeta", tests, NULL, NULL);
}
