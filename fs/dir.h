/*
 * dir.h: directory objects in the store.
 *
 * A directory is one object holding all of its entries, sorted (meta.h).
 * Reads may use the node cache when young enough; every change is a
 * read-modify-write under compare-and-swap, as for inodes (inode.h), so
 * two machines changing one directory never lose each other's entries.
 * Mutations may run several times and must be pure functions of the
 * directory they are given; they return 0 (write), INODE_UNCHANGED (done,
 * no write) or a negative errno.
 */
#ifndef CANFS_FS_DIR_H
#define CANFS_FS_DIR_H

#include <stdint.h>

#include "meta.h"

struct fs;
struct itab_ent;

typedef int (*dir_fn)(struct meta_dir *d, void *arg);

/*
 * The directory object of n: from the cache if younger than max_age_ms
 * (negative: any age), else from the store (then cached).  0 with *d
 * filled (free with meta_dir_free) and *version (may be NULL), -ENOENT,
 * or -EIO.  *d is initialised either way.
 */
int dir_read(struct fs *fs, struct itab_ent *n, int max_age_ms,
    struct meta_dir *d, uint64_t *version);

/* Create an empty directory object for ino (if absent).  0 or -errno. */
int dir_create(struct fs *fs, uint64_t ino);

/*
 * Apply fn to the directory of n and write it back under CAS, as
 * inode_update().  -ENOSPC when the directory would exceed one object.
 */
int dir_update(struct fs *fs, struct itab_ent *n, dir_fn fn, void *arg);

/*
 * Delete the directory object of n if it is empty, atomically (a
 * conditional delete of the empty version read).  0, -ENOTEMPTY, -ENOENT
 * or -errno.
 */
int dir_remove_empty(struct fs *fs, struct itab_ent *n);

#endif
