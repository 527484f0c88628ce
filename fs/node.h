/*
 * node.h: the in-memory table of inodes this mount knows about.
 *
 * A node exists while the kernel holds references to the inode (its
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
 * for short copies, never across a store request.  The open-file state
 * (n->data) has its own lock (data.h).
 */
#ifndef CANFS_FS_NODE_H
#define CANFS_FS_NODE_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "meta.h"

struct data;
struct fs;

/* One inode known to this mount. */
struct node {
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

	struct meta_dir *dir;	/* last directory object, or NULL */
	uint64_t dir_epoch;	/* node_stale_dirs() count when cached */
	uint64_t dir_version;
	struct timespec dir_at;

	bool touch_pending;	/* a directory touch job is queued/running */
	bool touch_dirty;	/* changes the job has not taken yet */
	int touch_delta;	/* nlink change to apply */
	struct timespec touch_time; /* mtime/ctime to set */
	struct fs *touch_fs;	/* for the job */

	bool atime_pending;	/* an atime job is queued or running */
	bool atime_dirty;	/* a read the job has not taken yet */
	struct timespec atime_when; /* ...its time: the atime to set */
	uint64_t atime_gen;	/* bumped by an explicit atime change, which
				   cancels the reads before it */

	bool kcache;		/* the kernel may cache data from... */
	struct timespec kmtime;	/* ...the file as of this mtime */
	uint64_t ksize;		/* ...and size */

	struct data *data;	/* open-file state while opens > 0 */
	struct node *next;	/* hash chain */
};

struct node_table;

struct node_table *node_table_new(void);
/* Free every node (at unmount). */
void node_table_free(struct node_table *nt);

/* The node of ino, made if needed, with a request hold (node_put). */
struct node *node_get(struct node_table *nt, uint64_t ino);
/* Drop a request hold; the node goes when nothing refers to it. */
void node_put(struct node_table *nt, struct node *n);
/* The kernel got an entry for n: one more lookup reference. */
void node_lookup(struct node_table *nt, struct node *n);
/* The kernel dropped count references to ino. */
void node_forget(struct node_table *nt, uint64_t ino, uint64_t count);
/*
 * The open-file states of every open node, each node held (node_put);
 * *n gets the count.  For the final flush at unmount.  Free the array.
 */
struct node **node_open_files(struct node_table *nt, size_t *n);
/* Nodes in the table (for tests and logs). */
size_t node_count(struct node_table *nt);

/* Lock the table to read or change node fields directly. */
void node_lock(struct node_table *nt);
void node_unlock(struct node_table *nt);
/* With the lock held: wait for node_broadcast(); wake all waiters. */
void node_wait(struct node_table *nt);
void node_broadcast(struct node_table *nt);

/*
 * Copy the cached inode of n into *in (caller frees with
 * meta_inode_free) and its version into *version, if there is one younger
 * than max_age_ms (negative: any age).  Returns true when copied.
 */
bool node_inode_cached(struct node_table *nt, struct node *n, int max_age_ms,
    struct meta_inode *in, uint64_t *version);
/* Cache a record of n at version (ignored when older than the cache). */
void node_inode_store(struct node_table *nt, struct node *n,
    const struct meta_inode *in, uint64_t version);
/* Forget the cached inode and directory (the object is gone). */
void node_forget_cache(struct node_table *nt, struct node *n);

/* As node_inode_cached / node_inode_store, for directory objects. */
bool node_dir_cached(struct node_table *nt, struct node *n, int max_age_ms,
    struct meta_dir *d, uint64_t *version);
void node_dir_store(struct node_table *nt, struct node *n,
    const struct meta_dir *d, uint64_t version);
/*
 * Look name up in the cached directory of n, if younger than max_age_ms:
 * 1 with *ino and *type when there, 0 when not, -1 when no cache is fresh
 * enough.
 */
int node_dir_lookup(struct node_table *nt, struct node *n, int max_age_ms,
    const char *name, size_t len, uint64_t *ino, uint8_t *type);

/*
 * Distrust every cached directory from now on (a name led to an inode
 * that is gone: some directory changed elsewhere).  Updates still start
 * from the cached copies; reads fetch afresh.
 */
void node_stale_dirs(struct node_table *nt);

/* Milliseconds since a monotonic time stamp. */
int64_t node_age_ms(const struct timespec *at);

#endif
