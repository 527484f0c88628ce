/* meta.c: inode and directory records and their codecs (see meta.h). */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meta.h"
#include "xmalloc.h"

/* Key of inode ino: "i/<ino hex>". */
void
meta_key_inode(uint64_t ino, struct hash_key *k)
{
	char name[META_KEYNAME_MAX];
	int n = snprintf(name, sizeof name, "i/%" PRIx64, ino);

	hash_key_of(name, (size_t)n, k);
}

/* Key of the directory object of ino: "d/<ino hex>". */
void
meta_key_dir(uint64_t ino, struct hash_key *k)
{
	char name[META_KEYNAME_MAX];
	int n = snprintf(name, sizeof name, "d/%" PRIx64, ino);

	hash_key_of(name, (size_t)n, k);
}

/* Key of a directory shard: "d/<ino hex>/<depth>/<prefix hex>". */
void
meta_key_shard(uint64_t ino, uint8_t depth, uint64_t prefix,
    struct hash_key *k)
{
	char name[META_KEYNAME_MAX];
	int n;

	if (depth == 0) {
		meta_key_dir(ino, k);
		return;
	}
	n = snprintf(name, sizeof name, "d/%" PRIx64 "/%u/%" PRIx64, ino,
	    (unsigned)depth, prefix);
	hash_key_of(name, (size_t)n, k);
}

/* xxh3-64 of the name: stable across machines and versions. */
uint64_t
meta_name_hash(const char *name, size_t len)
{
	return hash_checksum(name, len);
}

/* Top depth bits of h equal prefix (any h at depth 0). */
bool
meta_shard_has(uint8_t depth, uint64_t prefix, uint64_t h)
{
	return depth == 0 || (h >> (64 - depth)) == prefix;
}

/* Append the next bit of h to the prefix. */
uint64_t
meta_shard_child(uint8_t depth, uint64_t prefix, uint64_t h)
{
	return (prefix << 1) | ((h >> (63 - depth)) & 1);
}

/* End of the shard's hash range. */
bool
meta_shard_end(uint8_t depth, uint64_t prefix, uint64_t *end)
{
	if (depth == 0 || prefix + 1 == (UINT64_C(1) << depth))
		return false;
	*end = (prefix + 1) << (64 - depth);
	return true;
}

/* Depth and prefix in one number (prefix < 2^58 for depth <= 40). */
uint64_t
meta_shard_id(uint8_t depth, uint64_t prefix)
{
	return (uint64_t)depth << 58 | prefix;
}

/* Depth and prefix of a meta_shard_id(). */
void
meta_shard_of_id(uint64_t id, uint8_t *depth, uint64_t *prefix)
{
	*depth = (uint8_t)(id >> 58);
	*prefix = id & ((UINT64_C(1) << 58) - 1);
}

/* Readdir offset of a hash. */
uint64_t
meta_dir_cookie(uint64_t h)
{
	return (h >> 2) + 3;
}

/* Inverse of meta_dir_cookie() for "entries after off". */
bool
meta_dir_cookie_next(uint64_t off, uint64_t *h)
{
	uint64_t c = off < 3 ? 0 : off - 2;	/* first (h >> 2) wanted */

	if (c >= (UINT64_C(1) << 62))
		return false;
	*h = c << 2;
	return true;
}

/* Key of chunk index of ino: "c/<ino hex>/<index>". */
void
meta_key_chunk(uint64_t ino, uint64_t index, struct hash_key *k)
{
	char name[META_KEYNAME_MAX];
	int n = snprintf(name, sizeof name, "c/%" PRIx64 "/%" PRIu64, ino,
	    index);

	hash_key_of(name, (size_t)n, k);
}

/* "l/<ino hex>": the file's lock record (fs/locks.c names it alike). */
void
meta_key_lock(uint64_t ino, struct hash_key *k)
{
	char name[META_KEYNAME_MAX];
	int n = snprintf(name, sizeof name, "l/%" PRIx64, ino);

	hash_key_of(name, (size_t)n, k);
}

/* Check an entry name. */
int
meta_name_check(const char *name, size_t len)
{
	if (len == 0 || memchr(name, '/', len) != NULL ||
	    memchr(name, '\0', len) != NULL)
		return -EINVAL;
	if ((len == 1 && name[0] == '.') ||
	    (len == 2 && name[0] == '.' && name[1] == '.'))
		return -EINVAL;
	if (len > META_NAME_MAX)
		return -ENAMETOOLONG;
	return 0;
}

/* ---- extents ------------------------------------------------------- */

/* Chunks that hold size bytes. */
uint64_t
meta_nchunks(uint64_t size, uint32_t chunk)
{
	return size / chunk + (size % chunk != 0);
}

/* Free an extent list. */
void
meta_extents_free(struct meta_extents *x)
{
	if (x == NULL)
		return;
	free(x->v);
	memset(x, 0, sizeof *x);
}

/* Deep copy. */
void
meta_extents_copy(struct meta_extents *dst, const struct meta_extents *src)
{
	memset(dst, 0, sizeof *dst);
	if (src->n == 0)
		return;
	dst->v = xcalloc(src->n, sizeof *dst->v);
	memcpy(dst->v, src->v, src->n * sizeof *dst->v);
	dst->n = dst->cap = src->n;
}

/* Room for n extents (n <= META_EXTENT_MAX + 1). */
static void
meta_extents_room(struct meta_extents *x, size_t n)
{
	size_t cap = x->cap ? x->cap : 4;

	if (n <= x->cap)
		return;
	while (cap < n)
		cap *= 2;
	if (cap > META_EXTENT_MAX + 1)
		cap = META_EXTENT_MAX + 1;
	x->v = xreallocarray(x->v, cap, sizeof *x->v);
	x->cap = (uint16_t)cap;
}

/*
 * Over the cap: merge the two neighbours with the smallest gap between
 * them (the lowest pair on a tie), which adds the fewest chunks that hold
 * nothing.
 */
static void
meta_extents_squeeze(struct meta_extents *x)
{
	while (x->n > META_EXTENT_MAX) {
		uint16_t best = 0;

		for (uint16_t k = 1; k + 1 < x->n; k++) {
			if (x->v[k + 1].first - x->v[k].end <
			    x->v[best + 1].first - x->v[best].end)
				best = k;
		}
		x->v[best].end = x->v[best + 1].end;
		memmove(&x->v[best + 1], &x->v[best + 2],
		    (size_t)(x->n - best - 2) * sizeof *x->v);
		x->n--;
	}
}

/* Add [first, end) (see meta.h). */
bool
meta_extents_add(struct meta_extents *x, uint64_t first, uint64_t end)
{
	uint16_t i, j;

	if (first >= end)
		return false;
	/* [i, j): the extents that overlap or touch [first, end). */
	for (i = 0; i < x->n && x->v[i].end < first; i++)
		;
	for (j = i; j < x->n && x->v[j].first <= end; j++)
		;
	if (j == i + 1 && x->v[i].first <= first && end <= x->v[i].end)
		return false; /* inside one already */
	if (j > i) {
		if (x->v[i].first < first)
			first = x->v[i].first;
		if (x->v[j - 1].end > end)
			end = x->v[j - 1].end;
		memmove(&x->v[i + 1], &x->v[j],
		    (size_t)(x->n - j) * sizeof *x->v);
		x->n = (uint16_t)(x->n - (j - i - 1));
	} else {
		meta_extents_room(x, (size_t)x->n + 1);
		memmove(&x->v[i + 1], &x->v[i],
		    (size_t)(x->n - i) * sizeof *x->v);
		x->n++;
	}
	x->v[i].first = first;
	x->v[i].end = end;
	meta_extents_squeeze(x);
	return true;
}

/* Add every extent of src. */
bool
meta_extents_merge(struct meta_extents *x, const struct meta_extents *src)
{
	bool changed = false;

	for (uint16_t i = 0; i < src->n; i++)
		changed |= meta_extents_add(x, src->v[i].first, src->v[i].end);
	return changed;
}

/* Drop the chunks at end and after. */
void
meta_extents_trim(struct meta_extents *x, uint64_t end)
{
	while (x->n > 0 && x->v[x->n - 1].first >= end)
		x->n--;
	if (x->n > 0 && x->v[x->n - 1].end > end)
		x->v[x->n - 1].end = end;
	if (x->n == 0)
		meta_extents_free(x);
}

/* The chunks of src at from and after. */
void
meta_extents_tail(struct meta_extents *dst, const struct meta_extents *src,
    uint64_t from)
{
	uint16_t i;

	for (i = 0; i < src->n && src->v[i].end <= from; i++)
		;
	memset(dst, 0, sizeof *dst);
	if (i == src->n)
		return;
	dst->n = dst->cap = (uint16_t)(src->n - i);
	dst->v = xcalloc(dst->n, sizeof *dst->v);
	memcpy(dst->v, &src->v[i], dst->n * sizeof *dst->v);
	if (dst->v[0].first < from)
		dst->v[0].first = from;
}

/* Is idx inside an extent? */
bool
meta_extents_has(const struct meta_extents *x, uint64_t idx)
{
	for (uint16_t i = 0; i < x->n && x->v[i].first <= idx; i++) {
		if (idx < x->v[i].end)
			return true;
	}
	return false;
}

/*
 * Does by hold all of x?  Extents never touch, so each extent of x must
 * lie inside a single one of by.
 */
bool
meta_extents_covers(const struct meta_extents *by,
    const struct meta_extents *x)
{
	uint16_t j = 0;

	for (uint16_t i = 0; i < x->n; i++) {
		while (j < by->n && by->v[j].end <= x->v[i].first)
			j++;
		if (j == by->n || by->v[j].first > x->v[i].first ||
		    by->v[j].end < x->v[i].end)
			return false;
	}
	return true;
}

/* Chunks inside the extents. */
uint64_t
meta_extents_count(const struct meta_extents *x)
{
	uint64_t n = 0;

	for (uint16_t i = 0; i < x->n; i++)
		n += x->v[i].end - x->v[i].first;
	return n;
}

/* ---- inodes -------------------------------------------------------- */

/* Empty inode. */
void
meta_inode_init(struct meta_inode *in)
{
	memset(in, 0, sizeof *in);
}

/* Free an inode's allocations. */
void
meta_inode_free(struct meta_inode *in)
{
	if (in == NULL)
		return;
	for (uint16_t i = 0; in->xattr != NULL && i < in->nxattr; i++) {
		free(in->xattr[i].name);
		free(in->xattr[i].value);
	}
	free(in->xattr);
	free(in->target);
	free(in->inl);
	meta_extents_free(&in->ext);
	meta_inode_init(in);
}

/* Deep copy. */
void
meta_inode_copy(struct meta_inode *dst, const struct meta_inode *src)
{
	*dst = *src;
	dst->target = src->target ? xstrdup(src->target) : NULL;
	dst->xattr = NULL;
	meta_extents_copy(&dst->ext, &src->ext);
	dst->inl = NULL;
	if (src->inl_len > 0) {
		dst->inl = xmalloc(src->inl_len);
		memcpy(dst->inl, src->inl, src->inl_len);
	}
	if (src->nxattr == 0)
		return;
	dst->xattr = xcalloc(src->nxattr, sizeof *dst->xattr);
	for (uint16_t i = 0; i < src->nxattr; i++) {
		const struct meta_xattr *x = &src->xattr[i];

		dst->xattr[i].name = xstrdup(x->name);
		dst->xattr[i].len = x->len;
		if (x->len > 0) {
			dst->xattr[i].value = xmalloc(x->len);
			memcpy(dst->xattr[i].value, x->value, x->len);
		}
	}
}

/* A timestamp: seconds as two's complement u64, then nanoseconds. */
static void
meta_put_time(struct wbuf *w, const struct timespec *ts)
{
	wbuf_put_u64(w, (uint64_t)(int64_t)ts->tv_sec);
	wbuf_put_u32(w, (uint32_t)ts->tv_nsec);
}

/* Encode an inode (version 4, with its number). */
void
meta_inode_encode(struct wbuf *w, uint64_t ino,
    const struct meta_inode *in)
{
	size_t tlen = in->target ? strlen(in->target) : 0;
	uint16_t next;

	wbuf_put_u8(w, META_INODE_VERSION);
	wbuf_put_u64(w, ino);
	wbuf_put_u32(w, in->mode);
	wbuf_put_u32(w, in->uid);
	wbuf_put_u32(w, in->gid);
	wbuf_put_u32(w, in->nlink);
	wbuf_put_u64(w, in->size);
	wbuf_put_u64(w, in->rdev);
	meta_put_time(w, &in->atime);
	meta_put_time(w, &in->mtime);
	meta_put_time(w, &in->ctime);
	wbuf_put_u32(w, in->chunk_size);
	wbuf_put_u16(w, (uint16_t)tlen);
	wbuf_put_bytes(w, in->target, tlen);
	wbuf_put_u16(w, in->nxattr);
	for (uint16_t i = 0; i < in->nxattr; i++) {
		const struct meta_xattr *x = &in->xattr[i];
		size_t nlen = strlen(x->name);

		wbuf_put_u8(w, (uint8_t)nlen);
		wbuf_put_bytes(w, x->name, nlen);
		wbuf_put_u32(w, x->len);
		wbuf_put_bytes(w, x->value, x->len);
	}
	/* Only regular files have extents (the decoder insists). */
	next = S_ISREG(in->mode) ? in->ext.n : 0;
	wbuf_put_u16(w, next);
	for (uint16_t i = 0; i < next; i++) {
		wbuf_put_u64(w, in->ext.v[i].first);
		wbuf_put_u64(w, in->ext.v[i].end);
	}
	/* Inline data only without extents (the decoder insists). */
	if (S_ISREG(in->mode) && next == 0 && in->inl_len > 0) {
		wbuf_put_u32(w, in->inl_len);
		wbuf_put_bytes(w, in->inl, in->inl_len);
	} else
		wbuf_put_u32(w, 0);
}

/* Read a timestamp; a bad nanosecond count sets the error. */
static void
meta_get_time(struct rbuf *r, struct timespec *ts)
{
	uint64_t sec = rbuf_get_u64(r);
	uint32_t nsec = rbuf_get_u32(r);

	if (nsec >= 1000000000u)
		r->err = true;
	ts->tv_sec = (time_t)(int64_t)sec;
	ts->tv_nsec = (long)nsec;
}

/* True for the file types we store. */
static bool
meta_mode_valid(uint32_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG: case S_IFDIR: case S_IFLNK: case S_IFIFO:
	case S_IFSOCK: case S_IFCHR: case S_IFBLK:
		return (mode & ~(uint32_t)(S_IFMT | 07777)) == 0;
	}
	return false;
}

/* Decode the xattr list of an inode (after nxattr was read). */
static void
meta_get_xattrs(struct rbuf *r, struct meta_inode *in)
{
	size_t total = 0;

	if (in->nxattr == 0)
		return;
	/* Each takes at least 6 bytes: never trust the count alone. */
	if ((size_t)in->nxattr * 6 > rbuf_left(r)) {
		r->err = true;
		in->nxattr = 0;
		return;
	}
	in->xattr = xcalloc(in->nxattr, sizeof *in->xattr);
	for (uint16_t i = 0; i < in->nxattr && !r->err; i++) {
		struct meta_xattr *x = &in->xattr[i];
		uint8_t nlen = rbuf_get_u8(r);
		const uint8_t *name = rbuf_get_bytes(r, nlen);
		uint32_t vlen;
		const uint8_t *val;

		if (name == NULL || nlen == 0 ||
		    memchr(name, '\0', nlen) != NULL) {
			r->err = true;
			break;
		}
		x->name = xmalloc((size_t)nlen + 1);
		memcpy(x->name, name, nlen);
		x->name[nlen] = '\0';
		vlen = rbuf_get_u32(r);
		if (vlen > META_XATTR_VALUE_MAX ||
		    (val = rbuf_get_bytes(r, vlen)) == NULL) {
			r->err = true;
			break;
		}
		x->len = vlen;
		if (vlen > 0) {
			x->value = xmalloc(vlen);
			memcpy(x->value, val, vlen);
		}
		total += nlen + (size_t)vlen;
		if (total > META_XATTR_TOTAL_MAX ||
		    (i > 0 && strcmp(in->xattr[i - 1].name, x->name) >= 0))
			r->err = true;
	}
}

/*
 * Decode the extents of a version 2 or 3 record (after the xattrs): at most
 * META_EXTENT_MAX, only on regular files, each non-empty, within the
 * chunk indices a u64 size can reach, sorted and never touching.
 */
static void
meta_get_extents(struct rbuf *r, struct meta_inode *in)
{
	uint16_t n = rbuf_get_u16(r);
	uint64_t max = meta_nchunks(UINT64_MAX, in->chunk_size);
	struct meta_extents *x = &in->ext;

	if (r->err || n == 0)
		return;
	/* 16 bytes each: never trust the count alone. */
	if (n > META_EXTENT_MAX || (size_t)n * 16 > rbuf_left(r) ||
	    !S_ISREG(in->mode)) {
		r->err = true;
		return;
	}
	x->v = xcalloc(n, sizeof *x->v);
	x->cap = n;
	for (uint16_t i = 0; i < n && !r->err; i++) {
		uint64_t first = rbuf_get_u64(r), end = rbuf_get_u64(r);

		if (first >= end || end > max ||
		    (i > 0 && first <= x->v[i - 1].end)) {
			r->err = true;
			break;
		}
		x->v[i].first = first;
		x->v[i].end = end;
		x->n = (uint16_t)(i + 1);
	}
}

/*
 * Decode the inline data of a version 4 record (after the extents): only
 * on a regular file without extents, within META_INLINE_MAX, its size and
 * its chunk size.
 */
static void
meta_get_inline(struct rbuf *r, struct meta_inode *in)
{
	uint32_t n = rbuf_get_u32(r);
	const uint8_t *p;

	if (r->err || n == 0)
		return;
	if (!S_ISREG(in->mode) || in->ext.n > 0 || n > META_INLINE_MAX ||
	    n > in->size || n > in->chunk_size ||
	    (p = rbuf_get_bytes(r, n)) == NULL) {
		r->err = true;
		return;
	}
	in->inl = xmalloc(n);
	memcpy(in->inl, p, n);
	in->inl_len = n;
}

/*
 * Decode an inode (version 4; 3 without inline data; 2 also without its
 * number; 1 also without extents: see meta.h).
 */
int
meta_inode_decode(const uint8_t *p, size_t len, struct meta_inode *in)
{
	struct rbuf r;
	uint16_t tlen;
	const uint8_t *t;
	uint8_t version;

	meta_inode_init(in);
	rbuf_init(&r, p, len);
	version = rbuf_get_u8(&r);
	if (version != META_INODE_VERSION &&
	    version != META_INODE_VERSION_V3 &&
	    version != META_INODE_VERSION_V2 &&
	    version != META_INODE_VERSION_V1)
		return -1;
	if ((version == META_INODE_VERSION ||
	    version == META_INODE_VERSION_V3) &&
	    ((in->ino = rbuf_get_u64(&r)) == 0 || r.err))
		goto fail;
	in->mode = rbuf_get_u32(&r);
	in->uid = rbuf_get_u32(&r);
	in->gid = rbuf_get_u32(&r);
	in->nlink = rbuf_get_u32(&r);
	in->size = rbuf_get_u64(&r);
	in->rdev = rbuf_get_u64(&r);
	meta_get_time(&r, &in->atime);
	meta_get_time(&r, &in->mtime);
	meta_get_time(&r, &in->ctime);
	in->chunk_size = rbuf_get_u32(&r);
	tlen = rbuf_get_u16(&r);
	t = rbuf_get_bytes(&r, tlen);
	if (r.err || !meta_mode_valid(in->mode) ||
	    in->chunk_size < META_CHUNK_MIN ||
	    in->chunk_size > META_CHUNK_MAX ||
	    in->chunk_size % META_CHUNK_MIN != 0 ||
	    tlen > META_SYMLINK_MAX || (tlen > 0) != S_ISLNK(in->mode) ||
	    (tlen > 0 && memchr(t, '\0', tlen) != NULL))
		goto fail;
	if (tlen > 0) {
		in->target = xmalloc((size_t)tlen + 1);
		memcpy(in->target, t, tlen);
		in->target[tlen] = '\0';
	}
	in->nxattr = rbuf_get_u16(&r);
	meta_get_xattrs(&r, in);
	if (version != META_INODE_VERSION_V1)
		meta_get_extents(&r, in);
	else if (S_ISREG(in->mode) && in->size > 0)
		/* Anything may be stored below a v1 file's size. */
		meta_extents_add(&in->ext, 0,
		    meta_nchunks(in->size, in->chunk_size));
	if (version == META_INODE_VERSION)
		meta_get_inline(&r, in);
	if (r.err || rbuf_left(&r) != 0)
		goto fail;
	return 0;
fail:
	meta_inode_free(in);
	return -1;
}

/* Order of two timestamps (see meta.h). */
int
meta_ts_cmp(const struct timespec *a, const struct timespec *b)
{
	if (a->tv_sec != b->tv_sec)
		return a->tv_sec < b->tv_sec ? -1 : 1;
	if (a->tv_nsec != b->tv_nsec)
		return a->tv_nsec < b->tv_nsec ? -1 : 1;
	return 0;
}

/* Change the link count (see meta.h). */
void
meta_inode_nlink_add(struct meta_inode *in, int delta)
{
	if (delta < 0 && in->nlink < (uint32_t)-delta)
		in->nlink = 0;
	else
		in->nlink = (uint32_t)((int64_t)in->nlink + delta);
}

/* Write into the inline data (see meta.h). */
void
meta_inline_write(struct meta_inode *in, uint32_t off, const void *p,
    uint32_t len)
{
	uint32_t end = off + len;

	if (end > in->inl_len) {
		in->inl = xreallocarray(in->inl, end, 1);
		memset(in->inl + in->inl_len, 0, end - in->inl_len);
		in->inl_len = end;
	}
	if (len > 0)
		memcpy(in->inl + off, p, len);
}

/* Cut the inline data (see meta.h). */
void
meta_inline_trim(struct meta_inode *in, uint64_t len)
{
	if (len >= in->inl_len)
		return;
	in->inl_len = (uint32_t)len;
	if (len == 0)
		meta_inline_clear(in);
}

/* Drop the inline data (see meta.h). */
void
meta_inline_clear(struct meta_inode *in)
{
	free(in->inl);
	in->inl = NULL;
	in->inl_len = 0;
}

/* Set or clear the symlink target. */
int
meta_inode_set_target(struct meta_inode *in, const char *target)
{
	if (target != NULL && strlen(target) > META_SYMLINK_MAX)
		return -ENAMETOOLONG;
	free(in->target);
	in->target = target ? xstrdup(target) : NULL;
	return 0;
}

/* ---- extended attributes ------------------------------------------- */

/* Find an xattr by name. */
int
meta_xattr_find(const struct meta_inode *in, const char *name)
{
	for (uint16_t i = 0; i < in->nxattr; i++) {
		if (strcmp(in->xattr[i].name, name) == 0)
			return i;
	}
	return -1;
}

/* Bytes of names and values in use. */
static size_t
meta_xattr_total(const struct meta_inode *in)
{
	size_t t = 0;

	for (uint16_t i = 0; i < in->nxattr; i++)
		t += strlen(in->xattr[i].name) + in->xattr[i].len;
	return t;
}

/* Set an xattr (see meta.h). */
int
meta_xattr_set(struct meta_inode *in, const char *name, const void *value,
    size_t len, int flags)
{
	size_t nlen = strlen(name), total = meta_xattr_total(in);
	int i = meta_xattr_find(in, name), at;
	struct meta_xattr *x;

	if (nlen == 0 || nlen > META_XATTR_NAME_MAX)
		return -ERANGE;
	if (len > META_XATTR_VALUE_MAX)
		return -E2BIG;
	if (i >= 0 && (flags & META_XATTR_CREATE))
		return -EEXIST;
	if (i < 0 && (flags & META_XATTR_REPLACE))
		return -ENODATA;
	if (i >= 0)
		total -= nlen + in->xattr[i].len;
	if (total + nlen + len > META_XATTR_TOTAL_MAX)
		return -ENOSPC;
	if (i < 0) {
		if (in->nxattr == UINT16_MAX)
			return -ENOSPC;
		for (at = 0; at < in->nxattr &&
		    strcmp(in->xattr[at].name, name) < 0; at++)
			;
		in->xattr = xreallocarray(in->xattr, (size_t)in->nxattr + 1,
		    sizeof *in->xattr);
		memmove(&in->xattr[at + 1], &in->xattr[at],
		    (size_t)(in->nxattr - at) * sizeof *in->xattr);
		in->nxattr++;
		x = &in->xattr[at];
		x->name = xstrdup(name);
	} else {
		x = &in->xattr[i];
		free(x->value);
	}
	x->value = NULL;
	x->len = (uint32_t)len;
	if (len > 0) {
		x->value = xmalloc(len);
		memcpy(x->value, value, len);
	}
	return 0;
}

/* Remove an xattr. */
int
meta_xattr_remove(struct meta_inode *in, const char *name)
{
	int i = meta_xattr_find(in, name);

	if (i < 0)
		return -ENODATA;
	free(in->xattr[i].name);
	free(in->xattr[i].value);
	memmove(&in->xattr[i], &in->xattr[i + 1],
	    (size_t)(in->nxattr - i - 1) * sizeof *in->xattr);
	in->nxattr--;
	if (in->nxattr == 0) {
		free(in->xattr);
		in->xattr = NULL;
	}
	return 0;
}

/* The list of names (see meta.h). */
long
meta_xattr_list(const struct meta_inode *in, char *buf, size_t size)
{
	size_t need = 0, off = 0;

	for (uint16_t i = 0; i < in->nxattr; i++)
		need += strlen(in->xattr[i].name) + 1;
	if (size == 0)
		return (long)need;
	if (need > size)
		return -ERANGE;
	for (uint16_t i = 0; i < in->nxattr; i++) {
		size_t n = strlen(in->xattr[i].name) + 1;

		memcpy(buf + off, in->xattr[i].name, n);
		off += n;
	}
	return (long)need;
}

/* ---- directories --------------------------------------------------- */

/* Empty directory. */
void
meta_dir_init(struct meta_dir *d)
{
	memset(d, 0, sizeof *d);
}

/* Free a directory's allocations. */
void
meta_dir_free(struct meta_dir *d)
{
	if (d == NULL)
		return;
	free(d->e);
	free(d->names);
	meta_dir_init(d);
}

/* Name of entry i. */
const char *
meta_dir_name(const struct meta_dir *d, size_t i)
{
	return d->names + d->e[i].off;
}

/* Append len bytes of name to the arena; returns its offset. */
static uint32_t
meta_dir_arena_add(struct meta_dir *d, const char *name, size_t len)
{
	uint32_t off = (uint32_t)d->names_len;

	if (d->names_cap - d->names_len < len) {
		size_t cap = d->names_cap ? d->names_cap : 1024;

		while (cap - d->names_len < len)
			cap *= 2;
		d->names = xreallocarray(d->names, cap, 1);
		d->names_cap = cap;
	}
	memcpy(d->names + d->names_len, name, len);
	d->names_len += len;
	return off;
}

/* Make room for one more entry. */
static void
meta_dir_grow(struct meta_dir *d)
{
	if (d->n < d->cap)
		return;
	d->cap = d->cap ? 2 * d->cap : 16;
	d->e = xreallocarray(d->e, d->cap, sizeof *d->e);
}

/* Deep copy with a compacted arena. */
void
meta_dir_copy(struct meta_dir *dst, const struct meta_dir *src)
{
	meta_dir_init(dst);
	dst->state = src->state;
	dst->depth = src->depth;
	dst->prefix = src->prefix;
	if (src->n == 0)
		return;
	dst->cap = src->n;
	dst->e = xcalloc(dst->cap, sizeof *dst->e);
	for (size_t i = 0; i < src->n; i++) {
		dst->e[i] = src->e[i];
		dst->e[i].off = meta_dir_arena_add(dst, meta_dir_name(src, i),
		    src->e[i].len);
	}
	dst->n = src->n;
}

/* One half of a shard being split. */
void
meta_dir_split_part(struct meta_dir *dst, const struct meta_dir *src,
    uint64_t prefix)
{
	uint8_t depth = (uint8_t)(src->depth + 1);

	meta_dir_init(dst);
	dst->depth = depth;
	dst->prefix = prefix;
	for (size_t i = 0; i < src->n; i++) {
		const char *name = meta_dir_name(src, i);

		if (!meta_shard_has(depth, prefix,
		    meta_name_hash(name, src->e[i].len)))
			continue;
		/* In order already: appending keeps the sort. */
		meta_dir_grow(dst);
		dst->e[dst->n] = src->e[i];
		dst->e[dst->n].off = meta_dir_arena_add(dst, name,
		    src->e[i].len);
		dst->n++;
	}
}

/* Order of two names: bytes first, then the shorter one. */
static int
meta_name_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	if (c != 0)
		return c;
	return alen < blen ? -1 : alen > blen;
}

/* Binary search (see meta.h). */
long
meta_dir_find(const struct meta_dir *d, const char *name, size_t len,
    size_t *where)
{
	size_t lo = 0, hi = d->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = meta_name_cmp(meta_dir_name(d, mid), d->e[mid].len,
		    name, len);

		if (c == 0) {
			if (where != NULL)
				*where = mid;
			return (long)mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (where != NULL)
		*where = lo;
	return -1;
}

/* Insert an entry in order. */
int
meta_dir_insert(struct meta_dir *d, const char *name, size_t len,
    uint64_t ino, uint8_t type)
{
	size_t at;

	if (meta_dir_find(d, name, len, &at) >= 0)
		return -EEXIST;
	meta_dir_grow(d);
	memmove(&d->e[at + 1], &d->e[at], (d->n - at) * sizeof *d->e);
	d->e[at].ino = ino;
	d->e[at].type = type;
	d->e[at].len = (uint8_t)len;
	d->e[at].off = meta_dir_arena_add(d, name, len);
	d->n++;
	return 0;
}

/* Remove entry i (its name stays in the arena until re-encoded). */
void
meta_dir_remove_at(struct meta_dir *d, size_t i)
{
	memmove(&d->e[i], &d->e[i + 1], (d->n - i - 1) * sizeof *d->e);
	d->n--;
}

/* Bytes of the encoding. */
size_t
meta_dir_encoded_len(const struct meta_dir *d)
{
	size_t len = 15;

	for (size_t i = 0; i < d->n; i++)
		len += 10 + (size_t)d->e[i].len;
	return len;
}

/* Encode a directory. */
void
meta_dir_encode(struct wbuf *w, const struct meta_dir *d)
{
	wbuf_put_u8(w, META_DIR_VERSION);
	wbuf_put_u8(w, d->state);
	wbuf_put_u8(w, d->depth);
	wbuf_put_u64(w, d->prefix);
	wbuf_put_u32(w, (uint32_t)d->n);
	for (size_t i = 0; i < d->n; i++) {
		wbuf_put_u8(w, d->e[i].type);
		wbuf_put_u64(w, d->e[i].ino);
		wbuf_put_u8(w, d->e[i].len);
		wbuf_put_bytes(w, meta_dir_name(d, i), d->e[i].len);
	}
}

/* True for the DT_* values of the types we store. */
static bool
meta_dtype_valid(uint8_t t)
{
	return t == DT_REG || t == DT_DIR || t == DT_LNK || t == DT_FIFO ||
	    t == DT_SOCK || t == DT_CHR || t == DT_BLK;
}

/* Decode a directory. */
int
meta_dir_decode(const uint8_t *p, size_t len, struct meta_dir *d)
{
	struct rbuf r;
	uint8_t version;
	uint32_t n;

	meta_dir_init(d);
	rbuf_init(&r, p, len);
	version = rbuf_get_u8(&r);
	if (version != META_DIR_VERSION && version != META_DIR_VERSION_V1)
		return -1;
	if (version == META_DIR_VERSION) {
		d->state = rbuf_get_u8(&r);
		d->depth = rbuf_get_u8(&r);
		d->prefix = rbuf_get_u64(&r);
		if (d->state > META_SHARD_DEAD ||
		    d->depth > META_SHARD_DEPTH_MAX ||
		    d->prefix >> d->depth != 0)
			goto fail;
	}
	n = rbuf_get_u32(&r);
	if (n > 0 && (d->state == META_SHARD_SPLIT ||
	    d->state == META_SHARD_DEAD))
		goto fail;
	/* An entry takes at least 11 bytes. */
	if (r.err || (size_t)n > rbuf_left(&r) / 11)
		return -1;
	if (n > 0) {
		d->cap = n;
		d->e = xcalloc(n, sizeof *d->e);
		d->names_cap = rbuf_left(&r);
		d->names = xmalloc(d->names_cap);
	}
	for (uint32_t i = 0; i < n; i++) {
		struct meta_dirent *e = &d->e[i];
		const char *name;

		e->type = rbuf_get_u8(&r);
		e->ino = rbuf_get_u64(&r);
		e->len = rbuf_get_u8(&r);
		name = (const char *)rbuf_get_bytes(&r, e->len);
		if (name == NULL || !meta_dtype_valid(e->type) || e->ino == 0 ||
		    meta_name_check(name, e->len) != 0 ||
		    !meta_shard_has(d->depth, d->prefix,
		    meta_name_hash(name, e->len)))
			goto fail;
		e->off = meta_dir_arena_add(d, name, e->len);
		d->n = i + 1;
		if (i > 0 && meta_name_cmp(meta_dir_name(d, i - 1),
		    d->e[i - 1].len, name, e->len) >= 0)
			goto fail;
	}
	if (r.err || rbuf_left(&r) != 0)
		goto fail;
	return 0;
fail:
	meta_dir_free(d);
	return -1;
}
