/*
 * dir.h: directories in the store, as trees of shards.
 *
 * A directory is a tree of shard objects over the 64-bit hash of its
 * names (extendible hashing, as GIGA+ and CephFS dirfrags do; record
 * format in meta.h).  Its root shard, "d/<ino hex>", is the whole
 * directory while it is small (a LIVE shard holding every entry, sorted
 * by name), and its header once it has split: a SPLIT record with no
 * entries whose two children, at depth 1, hold the names whose hash
 * starts with a 0 bit and a 1 bit; and so on down.  A shard splits when
 * a change would make its record larger than the mount's dir_shard_size
 * (default 32 KiB, about 1,000 entries of 20-byte names): small
 * directories stay one object read in one request, and a create in a
 * large one rewrites one shard of 16-32 KiB, not the whole directory.
 * Shards are not merged when entries go: a directory that was large
 * stays split (its empty shards cost one small object each).
 *
 * Every change is a compare-and-swap of one shard.  Splitting shard S is
 * three steps, each a CAS or a write "if absent":
 *   1. S (LIVE, version V) -> SPLITTING with the same entries, "if V":
 *      S is frozen; readers keep using its entries;
 *   2. each child, with its half of the entries, "if absent" (a child
 *      already there was written by another machine finishing the same
 *      split, from the same frozen entries);
 *   3. S -> SPLIT with no entries, "if the SPLITTING version".
 * Whoever finds S SPLITTING (a machine that died between the steps, or
 * one that is slow) finishes steps 2 and 3 before changing anything in
 * that part of the directory, so no entry is lost by a crash and a
 * reader finds each name in exactly one place at every moment: in S up
 * to step 3, in a child from then on.  A SPLIT shard never changes
 * again, so each mount caches the split shards it saw forever
 * (itab.h) and finds the shard of a name in one read; a stale cache only
 * costs a read that finds a SPLIT shard and descends (or, when the
 * directory was removed and put back, a missing shard: the cache is
 * dropped and the descent starts again from the root).
 *
 * Listing walks the shards in hash order, which splits do not change:
 * readdir offsets are meta_dir_cookie() of the name's hash, so a listing
 * resumed at an offset continues after the last name returned even when
 * that shard split meanwhile (ops_dir.c).
 *
 * Removing a split directory marks every empty leaf shard DEAD (a CAS on
 * its empty version, all of them in batch requests: frozen, nothing can
 * be created in it), deletes the root "if unchanged", then the other
 * shards.  A leaf that is not empty
 * stops it: the shards marked go back to LIVE and rmdir fails with
 * ENOTEMPTY.  A change that finds a DEAD shard waits for the rmdir: the
 * root gone means ENOENT; still DEAD after DIR_MAX_PASSES tries (a few
 * seconds: the rmdir's canfs died), EIO.  rmdir again takes DEAD leaves
 * for empty and finishes; canctl fsck --repair thaws them.
 *
 * Mutations may run several times and must be pure functions of the
 * shard they are given; they return 0 (write), INODE_UNCHANGED (done, no
 * write) or a negative errno.
 */
#ifndef CANFS_FS_DIR_H
#define CANFS_FS_DIR_H

#include <stddef.h>
#include <stdint.h>

#include "meta.h"

#define DIR_SHARD_SIZE_DEFAULT (32u << 10)
#define DIR_SHARD_SIZE_MIN 1024u

struct fs;
struct itab_ent;

typedef int (*dir_fn)(struct meta_dir *d, void *arg);
/* Called by dir_scan() on each shard read; non-zero stops the scan. */
typedef int (*dir_scan_fn)(const struct meta_dir *d, uint64_t version,
    void *arg);

/*
 * Find name in the directory of n: 1 with *ino and *type, 0 when absent,
 * or -errno.  The cached shard answers when younger than max_age_ms, but
 * a miss is believed only when younger than neg_age_ms; else the shard
 * is read from the store (one request, when the mount knows the shape).
 */
int dir_find(struct fs *fs, struct itab_ent *n, const char *name,
    size_t len, int max_age_ms, int neg_age_ms, uint64_t *ino,
    uint8_t *type);

/*
 * The leaf shard (LIVE, SPLITTING or DEAD) of n covering hash h into *d
 * (free with meta_dir_free), with shards younger than max_age_ms from
 * the cache (0: from the store).  0, -ENOENT (the directory is gone) or
 * -errno.
 */
int dir_leaf(struct fs *fs, struct itab_ent *n, uint64_t h, int max_age_ms,
    struct meta_dir *d, uint64_t *version);

/* Create an empty directory object for ino (if absent).  0 or -errno. */
int dir_create(struct fs *fs, uint64_t ino);

/*
 * Apply fn to the shard of n that holds name and write it back under
 * CAS, as inode_update(), splitting the shard first when the change
 * would make it larger than the mount's dir_shard_size.  -ENOSPC when a
 * shard that cannot split would exceed one object.
 */
int dir_update(struct fs *fs, struct itab_ent *n, const char *name,
    size_t len, dir_fn fn, void *arg);

/*
 * As dir_update(), for a change of two names at once (a rename within
 * one directory): -EXDEV, without calling fn, when name2 is in another
 * shard than name (the caller then changes them one at a time).
 */
int dir_update_pair(struct fs *fs, struct itab_ent *n, const char *name,
    size_t len, const char *name2, size_t len2, dir_fn fn, void *arg);

/*
 * Delete the directory of n if it is empty, atomically with the check
 * (see above).  0, -ENOTEMPTY, -ENOENT or -errno.
 */
int dir_remove_empty(struct fs *fs, struct itab_ent *n);

/*
 * Read every shard of directory ino from the store, one batch request
 * per level of the tree, calling fn on each (SPLIT ones too).  root is
 * its root shard if the caller read it already (fn then gets version 0
 * for it), else NULL.  0, fn's
 * non-zero return, -ENOENT (the directory or a shard of it is gone) or
 * -errno.
 */
int dir_scan(struct fs *fs, uint64_t ino, const struct meta_dir *root,
    dir_scan_fn fn, void *arg);

#endif
