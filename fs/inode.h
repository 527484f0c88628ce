/*
 * inode.h: inode objects in the store (directory objects: dir.h).
 *
 * Reads may be served from the node cache (node.h) when it is young
 * enough for the caller; every update is a read-modify-write under
 * compare-and-swap ("if version V"): the mutation is applied to the cached
 * copy first and, when another writer got there first, to a fresh copy,
 * until one write wins.  So two machines changing one inode or one
 * directory never lose each other's changes.  Mutations must therefore be
 * pure functions of the record they are given: they may run several times.
 */
#ifndef CANFS_FS_INODE_H
#define CANFS_FS_INODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "meta.h"

struct fs;
struct itab_ent;

/* Returned by a mutation when the record needs no change. */
#define INODE_UNCHANGED 1

typedef int (*inode_fn)(struct meta_inode *in, void *arg);

/*
 * The inode of n: from the cache if younger than max_age_ms (negative:
 * any age), else from the store (then cached).  0 with *in filled and
 * *version (may be NULL), -ENOENT, or -EIO (also for a record that does
 * not decode).  *in is initialised either way: free it with
 * meta_inode_free.
 */
int inode_read(struct fs *fs, struct itab_ent *n, int max_age_ms,
    struct meta_inode *in, uint64_t *version);

/*
 * Read the inodes of nodes[0, n) that the cache does not hold younger
 * than max_age_ms, in batch requests (kv_batch()), and cache them: a
 * readdirplus of many entries costs a request or two, not one per entry.
 * Best effort: what fails here (absent, an error) is left to inode_read(),
 * which the caller still makes for every node and which then does its
 * usual retries.  Directories with a pending touch are skipped (their
 * touch must land first).
 */
void inode_prefetch(struct fs *fs, struct itab_ent *const *nodes, size_t n,
    int max_age_ms);

/* A fresh random inode number: 63 bits, never 0 or the root's. */
uint64_t inode_new_ino(void);

/*
 * Store a new inode as ino, only if absent.  0 with *version, -EEXIST
 * when the number is taken (draw another), or -errno.
 */
int inode_create(struct fs *fs, uint64_t ino, const struct meta_inode *in,
    uint64_t *version);

/*
 * Apply fn to the inode of n and write it back under CAS, retrying on
 * conflicts.  fn returns 0 (write), INODE_UNCHANGED (done, no write) or a
 * negative errno (give up with it).  On success the final record is left
 * in *out when out is non-NULL.  Returns 0 or -errno (-ENOENT when the
 * inode is gone).
 */
int inode_update(struct fs *fs, struct itab_ent *n, inode_fn fn, void *arg,
    struct meta_inode *out);

/* Delete the inode object of n. */
int inode_remove(struct fs *fs, struct itab_ent *n);

/* CAS attempts before an update gives up with EIO. */
#define INODE_MAX_TRIES 200

/*
 * Helpers shared with dir.c.  inode_get: GET an object; when seen (this
 * mount has seen it exist), a "not found" is asked again a few times
 * (about 2.5 s): the overlay may answer so for a while after a node
 * failure.  inode_seen: does n's cache hold the inode (or, with dir, the
 * directory object)?  inode_backoff: sleep a little after repeated
 * conflicts.
 */
struct kv_value;
struct hash_key;
int inode_get(struct fs *fs, const struct hash_key *k, bool seen,
    struct kv_value *v);
bool inode_seen(struct fs *fs, struct itab_ent *n, bool dir);
void inode_backoff(int tries);

#endif
