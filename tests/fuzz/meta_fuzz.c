/*
 * meta_fuzz.c: fuzz target for the file system's record decoders
 * (fs/meta.c): inode records (versions 1 to 4: extents, inline data) and
 * directory objects; and lock records (fs/lockrec.c), with the lock rules
 * applied to what decodes.
 *
 * The input is one record, as a GET of an inode or directory object
 * returns it, in the exactly-sized heap buffer both drivers hand over
 * (so ASan sees a read one byte past the end).  A record that decodes
 * must hold only valid values (extents sorted, disjoint, never touching,
 * within the cap and on regular files only; directory names valid and
 * sorted; inline data only without extents, within its bounds) and
 * re-encode to exactly its own bytes (older versions: as version 4, with
 * what they lack); a version 1 inode
 * gets the single extent its size implies.
 * Anything else is a decoder bug and aborts.  A record that does not
 * decode must leave nothing allocated (LeakSanitizer).
 *
 * Built with libFuzzer by `make fuzz`, or with fuzz_main.c as a standalone
 * replay-and-mutate driver (build/tests/meta-fuzz), seeded with
 * tests/fuzz/corpus-meta/ (tests/fuzz/make-corpus.sh writes it).
 */
#include <sys/stat.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../fs/lockrec.h"
#include "../../fs/meta.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The extents of a decoded inode keep every invariant of meta.h. */
static void
fuzz_check_extents(const struct meta_inode *in)
{
	const struct meta_extents *x = &in->ext;
	uint64_t max = meta_nchunks(UINT64_MAX, in->chunk_size);

	if (x->n > META_EXTENT_MAX || (x->n > 0 && !S_ISREG(in->mode)))
		abort();
	for (uint16_t i = 0; i < x->n; i++) {
		if (x->v[i].first >= x->v[i].end || x->v[i].end > max ||
		    (i > 0 && x->v[i].first <= x->v[i - 1].end))
			abort();
	}
}

/* An inode record. */
static void
fuzz_inode(const uint8_t *data, size_t size)
{
	struct meta_inode in;
	struct wbuf w;

	if (meta_inode_decode(data, size, &in) != 0) {
		if (in.xattr != NULL || in.target != NULL ||
		    in.ext.v != NULL || in.inl != NULL || in.inl_len != 0)
			abort();
		return;
	}
	fuzz_check_extents(&in);
	/* Inline data: bounded, only without extents, within the size. */
	if ((in.inl == NULL) != (in.inl_len == 0) ||
	    in.inl_len > META_INLINE_MAX || in.inl_len > in.size ||
	    (in.inl_len > 0 && (in.ext.n > 0 || !S_ISREG(in.mode))))
		abort();
	wbuf_init(&w);
	meta_inode_encode(&w, in.ino != 0 ? in.ino : 1, &in);
	if (data[0] == META_INODE_VERSION) {
		if (in.ino == 0 || w.len != size ||
		    memcmp(w.p, data, size) != 0)
			abort();
	} else if (data[0] == META_INODE_VERSION_V3) {
		/* v3: the same bytes, then no inline data. */
		if (in.ino == 0 || w.len != size + 4 ||
		    memcmp(w.p + 1, data + 1, size - 1) != 0)
			abort();
	} else if (data[0] == META_INODE_VERSION_V2) {
		/* v2: the number (1 here), then the same bytes. */
		if (in.ino != 0 || w.len != size + 8 + 4 ||
		    memcmp(w.p + 9, data + 1, size - 1) != 0)
			abort();
	} else {
		/* v1: the same bytes, then the extent of its size. */
		bool one = S_ISREG(in.mode) && in.size > 0;

		if (data[0] != META_INODE_VERSION_V1 ||
		    w.len != size + 8 + 2 + (one ? 16 : 0) + 4 ||
		    memcmp(w.p + 9, data + 1, size - 1) != 0 ||
		    in.ext.n != (one ? 1 : 0) || (one &&
		    (in.ext.v[0].first != 0 || in.ext.v[0].end !=
		    meta_nchunks(in.size, in.chunk_size))))
			abort();
	}
	wbuf_free(&w);
	meta_inode_free(&in);
}

/* A directory object. */
static void
fuzz_dir(const uint8_t *data, size_t size)
{
	struct meta_dir d;
	struct wbuf w;

	if (meta_dir_decode(data, size, &d) != 0) {
		if (d.e != NULL || d.names != NULL || d.n != 0)
			abort();
		return;
	}
	if (d.depth > META_SHARD_DEPTH_MAX || d.prefix >> d.depth != 0 ||
	    d.state > META_SHARD_DEAD || (d.n > 0 &&
	    (d.state == META_SHARD_SPLIT || d.state == META_SHARD_DEAD)))
		abort();
	for (size_t i = 0; i < d.n; i++) {
		if (meta_name_check(meta_dir_name(&d, i), d.e[i].len) != 0 ||
		    d.e[i].ino == 0 || !meta_shard_has(d.depth, d.prefix,
		    meta_name_hash(meta_dir_name(&d, i), d.e[i].len)))
			abort();
	}
	wbuf_init(&w);
	meta_dir_encode(&w, &d);
	if (meta_dir_encoded_len(&d) != w.len)
		abort();
	if (data[0] == META_DIR_VERSION_V1) {
		/* Version 1 comes back as a LIVE root shard of version 2. */
		if (w.len != size + 10 || w.p[0] != META_DIR_VERSION ||
		    memcmp(w.p + 11, data + 1, size - 1) != 0)
			abort();
	} else if (w.len != size || memcmp(w.p, data, size) != 0)
		abort();
	wbuf_free(&w);
	meta_dir_free(&d);
}

/* A lock record; then the lock rules on it keep every invariant. */
static void
fuzz_lockrec(const uint8_t *data, size_t size)
{
	struct lockrec r;
	struct lockrec_req q;
	struct wbuf w;

	if (lockrec_decode(data, size, &r) != 0) {
		if (r.e != NULL || r.n != 0)
			abort();
		return;
	}
	wbuf_init(&w);
	lockrec_encode(&w, &r);
	if (w.len != size || memcmp(w.p, data, size) != 0)
		abort();
	wbuf_free(&w);
	if (r.n > 0) {
		/* The first entry's holder takes its range again, shared. */
		q.mount = r.e[0].mount;
		q.owner = r.e[0].owner;
		q.pid = r.e[0].pid;
		q.kind = r.e[0].kind;
		q.type = LOCKREC_READ;
		q.start = r.e[0].start;
		q.end = r.e[0].end;
		if (lockrec_apply(&r, &q, 0, 1) == 0) {
			for (size_t i = 0; i < r.n; i++) {
				if (r.e[i].start > r.e[i].end ||
				    r.e[i].end > LOCKREC_EOF)
					abort();
			}
			if (lockrec_conflict(&r, &q, 0) != NULL &&
			    lockrec_conflict(&r, &q, 0)->type !=
			    LOCKREC_WRITE)
				abort();
		}
	}
	lockrec_free(&r);
}

/* One input: every decoder. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_inode(data, size);
	fuzz_dir(data, size);
	fuzz_lockrec(data, size);
	return 0;
}
