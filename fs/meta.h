/*
 * meta.h: the file system's objects in the store, and their codecs.
 *
 * Every object is named by hash_key_of() of a short string:
 *   "i/<ino hex>"            the inode: attributes, symlink target, xattrs
 *   "d/<ino hex>"            a directory: its root shard (see below)
 *   "d/<ino hex>/<depth>/<prefix hex>"  a shard of a large directory
 *   "c/<ino hex>/<index>"    a chunk of file data (index in decimal)
 *   "l/<ino hex>"            the file's locks (fs/lockrec.h, fs/locks.c)
 *   "r/lease"                the rename lease (fs/lease.h)
 *   "r/sweep"                the last background sweep (fs/fsck.h)
 * fsck (fs/fsck.c) takes every object it cannot name from these for an
 * orphan and deletes it after a grace period: a new kind of record must
 * be taught to fsck_mark_inode() or fsck_mark_fixed() first.
 * Inode numbers are random 63-bit values (root = 1), identical on every
 * machine.  Chunks are chunk_size bytes at offset index * chunk_size; a
 * missing chunk, and the bytes past a chunk's stored length, read as zeros.
 * Bytes past the end of the file are always zero or absent (truncate
 * trims), so a chunk may be written without its old tail when the new data
 * reaches the end of the file.
 *
 * Records are little-endian with a version byte first; decoders are
 * bounds-checked with a sticky error (struct rbuf) and insist on exact
 * lengths, valid field values and (for directories) strictly sorted,
 * well-formed names.  Bump META_*_VERSION on any change of a layout.
 *
 * Inode record (META_INODE_VERSION 4):
 *   u8 version, u64 ino (the inode's own number, never 0), u32 mode, u32 uid, u32 gid, u32 nlink, u64 size, u64 rdev,
 *   3 x (u64 sec (two's complement), u32 nsec) atime, mtime, ctime,
 *   u32 chunk_size,
 *   u16 target_len, target[target_len]           (symlinks only; else 0)
 *   u16 nxattr, nxattr x (u8 name_len, name, u32 value_len, value)
 *   u16 nextent, nextent x (u64 first, u64 end)  (regular files only)
 *   u32 inline_len, inline[inline_len]           (regular files only)
 * Inline data: the first inline_len bytes of a small regular file, kept
 * in its inode so that creating, writing and closing it (and reading it
 * after an open, which reads the inode anyway) costs no chunk object.
 * Only a file with no extents holds inline data; its bytes past
 * inline_len (up to its size) read as zeros, as a missing chunk's do.
 * inline_len is at most META_INLINE_MAX, the size and the chunk size.
 * The extents are the chunk indices [first, end) that may hold data: a
 * superset of the chunks stored, so that truncate and unlink delete only
 * those (their cost follows the data, not the size).  They are sorted,
 * disjoint and never touching (first < end, and each first > the end
 * before it), at most META_EXTENT_MAX, each end at most
 * meta_nchunks(UINT64_MAX, chunk_size).  A list that would grow past the
 * cap has its two closest neighbours merged (the smallest gap first), so
 * a file written in more than META_EXTENT_MAX separate runs records the
 * gaps between some runs too: those chunks are deleted (as tombstones of
 * nothing) when the file is truncated over them or removed.  Chunks
 * written but not yet recorded (a crash between a chunk's write and the
 * inode update of the flush, data.h) are orphans: nothing deletes them.
 * The ino lets fsck tell an inode record that no directory names (found
 * by listing the store, where keys are hashes) and give it a name again.
 * Version 3 is the same without inline data, version 2 also without the
 * ino (decoded with ino 0), version 1 also without the extents: a regular
 * file's v1 record decodes with the single extent [0, meta_nchunks(size))
 * (anything may be stored below its size).  All are written back as
 * version 4.
 * Directory shard record (META_DIR_VERSION 2):
 *   u8 version, u8 state (META_SHARD_*), u8 depth, u64 prefix, u32 n,
 *   n x (u8 type (DT_*), u64 ino, u8 name_len, name)
 * A directory is a tree of shards over the 64-bit hash of its names
 * (meta_name_hash(), xxh3-64): the shard (depth, prefix) holds the names
 * whose hash has prefix as its top depth bits (depth 0: every name; it is
 * the root shard, "d/<ino hex>").  A LIVE shard holds its entries; a
 * SPLIT one holds none, and its two children at depth + 1 hold them; a
 * SPLITTING one still holds (and answers with) its entries while its
 * children are being written; a DEAD one is empty and frozen by an rmdir
 * under way.  fs/dir.h has the protocol.  The decoder insists on depth <=
 * META_SHARD_DEPTH_MAX, prefix < 2^depth, no entry in a SPLIT or DEAD
 * shard, and every entry's hash inside the shard.
 * Version 1 (before shards) is u8 version, u32 n, entries: it decodes as
 * a LIVE root shard and is written back as version 2.
 */
#ifndef CANFS_FS_META_H
#define CANFS_FS_META_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "hash.h"
#include "wire.h"

#define META_INODE_VERSION 4
#define META_INODE_VERSION_V3 3 /* still decoded (no inline data) */
#define META_INODE_VERSION_V2 2 /* still decoded (no ino) */
#define META_INODE_VERSION_V1 1 /* still decoded (no ino, no extents) */
#define META_DIR_VERSION 2
#define META_DIR_VERSION_V1 1 /* still decoded (one object, no shards) */

#define META_ROOT_INO 1
#define META_NAME_MAX 255	   /* bytes in a directory entry's name */
#define META_SYMLINK_MAX 4095	   /* bytes in a symlink target */
#define META_XATTR_NAME_MAX 255	   /* bytes in an xattr name */
#define META_XATTR_VALUE_MAX 65536 /* bytes in one xattr value */
#define META_XATTR_TOTAL_MAX 65536 /* names + values of one inode */
#define META_CHUNK_DEFAULT (1u << 20)
#define META_CHUNK_MIN 4096u
#define META_CHUNK_MAX WIRE_MAX_VALUE /* 4 MiB: one object */
#define META_KEYNAME_MAX 48
#define META_EXTENT_MAX 128	   /* extents in one inode record */
#define META_INLINE_MAX 65536	   /* bytes of inline data in an inode */
#define META_SHARD_DEPTH_MAX 40	   /* levels of directory shards */

/* States of a directory shard (see the record format above). */
#define META_SHARD_LIVE 0
#define META_SHARD_SPLITTING 1
#define META_SHARD_SPLIT 2
#define META_SHARD_DEAD 3

/* Chunk indices [first, end) of a file that may hold data. */
struct meta_extent {
	uint64_t first, end;	/* first < end */
};

/*
 * A list of extents: sorted, disjoint, never touching (adjacent ones are
 * merged), at most META_EXTENT_MAX (see the format comment above for the
 * merging past it).  All zero is the empty list.
 */
struct meta_extents {
	struct meta_extent *v;	/* owned */
	uint16_t n, cap;
};

/* One extended attribute; name NUL-terminated, value of len bytes. */
struct meta_xattr {
	char *name;	/* owned */
	uint8_t *value;	/* owned; NULL when len is 0 */
	uint32_t len;
};

/* An inode as decoded.  Owns its symlink target and xattrs. */
struct meta_inode {
	uint64_t ino;		/* as decoded from a v3 record, else 0;
				   the encoder takes the number apart */
	uint32_t mode;		/* S_IF* | permissions */
	uint32_t uid, gid;
	uint32_t nlink;
	uint64_t size;		/* bytes; for symlinks the target length */
	uint64_t rdev;		/* device nodes */
	struct timespec atime, mtime, ctime;
	uint32_t chunk_size;	/* META_CHUNK_MIN..MAX, a multiple of MIN */
	char *target;		/* symlink target, NUL-terminated, or NULL */
	uint16_t nxattr;
	struct meta_xattr *xattr; /* sorted by name; owned */
	struct meta_extents ext; /* chunks that may hold data (regular
				    files; empty for the rest) */
	uint8_t *inl;		/* inline data (owned; NULL when none) */
	uint32_t inl_len;	/* its bytes; 0 whenever ext.n > 0 */
	bool inl_omitted;	/* a cached copy whose inline data was left
				   out (itab.h): attributes only, never
				   to be encoded */
};

/* One directory entry: the name is in the directory's name arena. */
struct meta_dirent {
	uint64_t ino;
	uint32_t off;		/* of the name in meta_dir.names */
	uint8_t len;		/* name length, 1..255 */
	uint8_t type;		/* DT_* */
};

/*
 * A directory shard: entries sorted by name (bytes, then length).  An
 * unsharded directory is its LIVE root shard (depth 0).
 */
struct meta_dir {
	uint8_t state;		/* META_SHARD_* */
	uint8_t depth;		/* 0..META_SHARD_DEPTH_MAX */
	uint64_t prefix;	/* < 2^depth: the names' top hash bits */
	struct meta_dirent *e;	/* owned */
	size_t n, cap;
	char *names;		/* owned arena; names are not NUL-terminated */
	size_t names_len, names_cap;
};

/* Object keys. */
void meta_key_inode(uint64_t ino, struct hash_key *k);
void meta_key_dir(uint64_t ino, struct hash_key *k);
void meta_key_chunk(uint64_t ino, uint64_t index, struct hash_key *k);
void meta_key_lock(uint64_t ino, struct hash_key *k);	/* as locks.c */
/* Key of shard (depth, prefix) of directory ino; depth 0: meta_key_dir. */
void meta_key_shard(uint64_t ino, uint8_t depth, uint64_t prefix,
    struct hash_key *k);

/* The 64-bit hash of a name that places it in a shard. */
uint64_t meta_name_hash(const char *name, size_t len);
/* Does shard (depth, prefix) cover hash h? */
bool meta_shard_has(uint8_t depth, uint64_t prefix, uint64_t h);
/* Prefix of the child (at depth + 1) of (depth, prefix) covering h. */
uint64_t meta_shard_child(uint8_t depth, uint64_t prefix, uint64_t h);
/*
 * The first hash past shard (depth, prefix) into *end; false when the
 * shard reaches the end of the hash space (no hash past it).
 */
bool meta_shard_end(uint8_t depth, uint64_t prefix, uint64_t *end);
/* One number for a shard: depth in the top 6 bits, prefix below; and
 * back. */
uint64_t meta_shard_id(uint8_t depth, uint64_t prefix);
void meta_shard_of_id(uint64_t id, uint8_t *depth, uint64_t *prefix);
/*
 * The readdir offset of a name of hash h: monotonic in h, >= 3 (0, 1 and
 * 2 are the listing's start, ".", ".."), < 2^62 + 3.
 */
uint64_t meta_dir_cookie(uint64_t h);
/* The first hash whose cookie is > off (off >= 2); false when none. */
bool meta_dir_cookie_next(uint64_t off, uint64_t *h);

/* A name for a directory entry: 0, -ENAMETOOLONG or -EINVAL ("/", NUL,
 * empty, "." or ".."). */
int meta_name_check(const char *name, size_t len);

/* Empty inode (all zero, no target, no xattrs). */
void meta_inode_init(struct meta_inode *in);
/* Free what in owns and reset it; accepts a zeroed inode. */
void meta_inode_free(struct meta_inode *in);
/* Deep copy of src into dst (dst is overwritten, not freed). */
void meta_inode_copy(struct meta_inode *dst, const struct meta_inode *src);
/* Append the record of in, the inode numbered ino, to w (in->ino unused). */
void meta_inode_encode(struct wbuf *w, uint64_t ino,
    const struct meta_inode *in);
/* Decode a record; 0, or -1 (in left empty) on any malformation. */
int meta_inode_decode(const uint8_t *p, size_t len, struct meta_inode *in);
/* Order of two timestamps: -1, 0 or 1. */
int meta_ts_cmp(const struct timespec *a, const struct timespec *b);
/* Change the link count by delta, never below 0. */
void meta_inode_nlink_add(struct meta_inode *in, int delta);
/* Set the symlink target (copied; NULL clears).  0 or -ENAMETOOLONG. */
int meta_inode_set_target(struct meta_inode *in, const char *target);
/*
 * Write len bytes at off into the inline data, growing it (with zeros
 * between its old end and off); the caller keeps off + len within
 * META_INLINE_MAX, and sets the size.
 */
void meta_inline_write(struct meta_inode *in, uint32_t off, const void *p,
    uint32_t len);
/* Cut the inline data to len bytes (a truncate). */
void meta_inline_trim(struct meta_inode *in, uint64_t len);
/* Drop the inline data (it moved to chunk 0). */
void meta_inline_clear(struct meta_inode *in);

/* Chunks of chunk bytes that hold size bytes: ceil(size / chunk). */
uint64_t meta_nchunks(uint64_t size, uint32_t chunk);

/* Free the list and make it empty; accepts NULL. */
void meta_extents_free(struct meta_extents *x);
/* Deep copy of src into dst (dst is overwritten, not freed). */
void meta_extents_copy(struct meta_extents *dst,
    const struct meta_extents *src);
/*
 * Add the chunks [first, end) (nothing when first >= end), merging them
 * with the extents they overlap or touch; past META_EXTENT_MAX the two
 * extents with the smallest gap between them become one (the list stays
 * a superset of what was added).  True when x changed.
 */
bool meta_extents_add(struct meta_extents *x, uint64_t first, uint64_t end);
/* Add every extent of src to x.  True when x changed. */
bool meta_extents_merge(struct meta_extents *x,
    const struct meta_extents *src);
/* Drop every chunk index >= end. */
void meta_extents_trim(struct meta_extents *x, uint64_t end);
/* The part of src at indices >= from, into dst (overwritten). */
void meta_extents_tail(struct meta_extents *dst,
    const struct meta_extents *src, uint64_t from);
/* Is chunk idx inside an extent? */
bool meta_extents_has(const struct meta_extents *x, uint64_t idx);
/* Does by hold every chunk of x? */
bool meta_extents_covers(const struct meta_extents *by,
    const struct meta_extents *x);
/* Chunks inside the extents, in all. */
uint64_t meta_extents_count(const struct meta_extents *x);

/* Flags of meta_xattr_set (as setxattr(2)). */
#define META_XATTR_CREATE 0x1  /* fail with EEXIST if it exists */
#define META_XATTR_REPLACE 0x2 /* fail with ENODATA if it does not */

/* Index of the xattr named name, or -1. */
int meta_xattr_find(const struct meta_inode *in, const char *name);
/*
 * Set an xattr.  Returns 0; -EEXIST / -ENODATA per flags; -ERANGE for an
 * empty or too long name; -E2BIG for a value over META_XATTR_VALUE_MAX;
 * -ENOSPC when the inode's xattrs would exceed META_XATTR_TOTAL_MAX.
 */
int meta_xattr_set(struct meta_inode *in, const char *name,
    const void *value, size_t len, int flags);
/* Remove an xattr: 0 or -ENODATA. */
int meta_xattr_remove(struct meta_inode *in, const char *name);
/*
 * The NUL-separated list of names into buf (size bytes; NULL with size 0
 * to ask).  Returns the length of the whole list, or -ERANGE when it does
 * not fit a non-zero size.
 */
long meta_xattr_list(const struct meta_inode *in, char *buf, size_t size);

/* Empty directory. */
void meta_dir_init(struct meta_dir *d);
void meta_dir_free(struct meta_dir *d);
/* Deep copy (dst is overwritten, not freed); names are compacted. */
void meta_dir_copy(struct meta_dir *dst, const struct meta_dir *src);
/* The entries of src that child (src depth + 1, prefix) covers, into dst
 * (overwritten), a LIVE shard. */
void meta_dir_split_part(struct meta_dir *dst, const struct meta_dir *src,
    uint64_t prefix);
void meta_dir_encode(struct wbuf *w, const struct meta_dir *d);
/* Bytes meta_dir_encode() would write. */
size_t meta_dir_encoded_len(const struct meta_dir *d);
/* Decode (versions 1 and 2); 0, or -1 (d left empty) on any
 * malformation. */
int meta_dir_decode(const uint8_t *p, size_t len, struct meta_dir *d);
/* Position of name, or -1 (then *where is where it would go). */
long meta_dir_find(const struct meta_dir *d, const char *name, size_t len,
    size_t *where);
/* Insert a new entry: 0, or -EEXIST when the name is there. */
int meta_dir_insert(struct meta_dir *d, const char *name, size_t len,
    uint64_t ino, uint8_t type);
/* Remove the entry at position i. */
void meta_dir_remove_at(struct meta_dir *d, size_t i);
/* Name of entry i (not NUL-terminated; length in d->e[i].len). */
const char *meta_dir_name(const struct meta_dir *d, size_t i);

#endif
