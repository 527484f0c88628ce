/*
 * itab.h: the mount's inode table: the inodes this mount knows about.
 *
 * An entry exists while the kernel holds references to the inode (its
 * lookup count, taken by every entry reply and dropped by forget), while
 * it is open on this mount, or while a request is using it.  It caches
 * the last inode record and directory object seen with their versions:
 * updates are sent as compare-and-swap against the cached version first
 * (one round trip when nobody else changed the object), and reads may use
 * the cache while it is younger than the caller's limit.  It also counts
 * open handles, so that an unlinked file's data stays until the last
 * close on this mount, and remembers what the kernel's page cache was
 * filled from, to decide keep_cache at open.
 *
 * Locking: one mutex for the table and every node's fields, held only
 * for short copies, never across a store request or a submission (fs.h,
 * "Locking").  The open-file state (n->data) has its own lock and a
 * reference count (data.h): read n->data with data_get(), never by
 * hand, when the state is used after the table lock is dropped.
 */
#ifndef CANFS_FS_ITAB_H
#define CANFS_FS_ITAB_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "meta.h"

struct data;
struct fs;

/*
 * A directory shard as last read or written.  A SPLIT shard never
 * changes again (shards are not merged), so it tells at any age which way
 * to descend.
 */
struct itab_shard {
	bool used;		/* the slot holds a shard */
	uint64_t id;		/* meta_shard_id() */
	struct meta_dir d;
	uint64_t version;
	uint64_t epoch;		/* itab_stale_dirs() count when cached */
	struct timespec at;	/* monotonic time it was read/written */
};

/* One inode known to this mount. */
struct itab_ent {
	uint64_t ino;
	uint64_t nlookup;	/* kernel references (lookup count) */
	int refs;		/* holds by running requests */
	int opens;		/* open handles, files and directories */
	bool unlinked;		/* nlink reached 0 while open: remove the
				   inode and its data at the last close */
	uint64_t parent;	/* a parent directory seen (for ".."), or 0 */

	bool have_inode;	/* the fields below are valid */
	struct meta_inode inode; /* last record read or written */
	uint64_t inode_version;
	struct timespec inode_at; /* monotonic time it was read/written */

	struct itab_shard *shards; /* cached directory shards: a hash table
				      of capshards slots, by id */
	size_t nshards, capshards;

	bool touch_pending;	/* a directory touch job is queued/running */
	bool touch_dirty;	/* changes the job has not taken yet */
	int touch_delta;	/* nlink change to apply */
	struct timespec touch_time; /* mtime/ctime to set */
	struct fs *touch_fs;	/* for the job */
	bool touch_flying;	/* the job is writing a touch... */
	int touch_fly_delta;	/* ...of this nlink change... */
	struct timespec touch_fly_time; /* ...and time... */
	uint64_t touch_fly_base; /* ...on the cached record of this
				   version (itab_touch_view) */

	bool atime_pending;	/* an atime job is queued or running */
	bool atime_dirty;	/* a read the job has not taken yet */
	struct timespec atime_when; /* ...its time: the atime to set */
	uint64_t atime_gen;	/* bumped by an explicit atime change, which
				   cancels the reads before it */

	bool kcache;		/* the kernel may cache data from... */
	struct timespec kmtime;	/* ...the file as of this mtime */
	uint64_t ksize;		/* ...and size */

	struct data *data;	/* open-file state while opens > 0 */
	struct itab_ent *next;	/* hash chain */
};

struct itab;

struct itab *itab_new(void);
/* Free every node (at unmount). */
void itab_free(struct itab *nt);

/* The node of ino, made if needed, with a request hold (itab_put). */
struct itab_ent *itab_get(struct itab *nt, uint64_t ino);
/* Drop a request hold; the node goes when nothing refers to it. */
void itab_put(struct itab *nt, struct itab_ent *n);
/* The kernel got an entry for n: one more lookup reference. */
void itab_lookup(struct itab *nt, struct itab_ent *n);
/* The kernel dropped count references to ino. */
void itab_forget(struct itab *nt, uint64_t ino, uint64_t count);
/*
 * The open-file states of every open node, each node held (itab_put);
 * *n gets the count.  For the final flush at unmount.  Free the array.
 */
struct itab_ent **itab_open_files(struct itab *nt, size_t *n);
/* Nodes in the table (for tests and logs). */
size_t itab_count(struct itab *nt);

/* Lock the table to read or change node fields directly. */
void itab_lock(struct itab *nt);
void itab_unlock(struct itab *nt);
/* With the lock held: wait for itab_broadcast(); wake all waiters. */
void itab_wait(struct itab *nt);
void itab_broadcast(struct itab *nt);

/*
 * Copy the cached inode of n into *in (caller frees with
 * meta_inode_free) and its version into *version, if there is one younger
 * than max_age_ms (negative: any age).  Returns true when copied.
 */
bool itab_inode_cached(struct itab *nt, struct itab_ent *n, int max_age_ms,
    struct meta_inode *in, uint64_t *version);
/* Cache a record of n at version (ignored when older than the cache). */
void itab_inode_store(struct itab *nt, struct itab_ent *n,
    const struct meta_inode *in, uint64_t version);
/*
 * The cache keeps the inline data of open files only (a copy made while
 * n is closed has it left out, inl_omitted: bounded memory whatever the
 * kernel remembers).  At open, with the table locked, give it back from
 * the full record in that open read, when it is the same record.
 */
void itab_inode_fill(struct itab_ent *n, const struct meta_inode *in);
/* Forget the cached inode and directory (the object is gone). */
void itab_forget_cache(struct itab *nt, struct itab_ent *n);

/* As itab_inode_cached / itab_inode_store, for the directory shard id
 * of n. */
bool itab_shard_cached(struct itab *nt, struct itab_ent *n, uint64_t id,
    int max_age_ms, struct meta_dir *d, uint64_t *version);
void itab_shard_store(struct itab *nt, struct itab_ent *n,
    const struct meta_dir *d, uint64_t version);
/*
 * The deepest shard of the directory n that may hold hash h, as far as
 * the cached SPLIT shards tell: (0, 0) when nothing is cached.
 */
void itab_shard_leaf(struct itab *nt, struct itab_ent *n, uint64_t h,
    uint8_t *depth, uint64_t *prefix);
/*
 * Look name (of hash h) up in the cached shards of n, if the shard that
 * holds it is younger than max_age_ms: 1 with *ino and *type when there,
 * 0 when not, -1 when no cache is fresh enough.
 */
int itab_dir_lookup(struct itab *nt, struct itab_ent *n, int max_age_ms,
    const char *name, size_t len, uint64_t h, uint64_t *ino,
    uint8_t *type);

/*
 * Distrust every cached directory from now on (a name led to an inode
 * that is gone: some directory changed elsewhere).  Updates still start
 * from the cached copies; reads fetch afresh.
 */
void itab_stale_dirs(struct itab *nt);

/*
 * With the table locked: the attributes a directory with pending touches
 * will have, for a getattr that would otherwise wait for them: its cached
 * inode, if younger than max_age_ms, with the touch being written and
 * the touches queued applied (times, link count).  True when *in got it
 * (free it with meta_inode_free).
 */
bool itab_touch_view(struct itab_ent *n, int max_age_ms,
    struct meta_inode *in);

/* Milliseconds since a monotonic time stamp. */
int64_t itab_age_ms(const struct timespec *at);

#endif
