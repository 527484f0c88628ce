/*
 * fsck.h: checking the file system's objects in the store, and repairing
 * them (the canfs-fsck program, run by "canctl fsck").
 *
 * The store cannot list names (keys are hashes), so fsck works from two
 * sides.  The inventory lists every node's replicas (LIST_REQ, as canctl
 * verify does) and keeps each key's newest version.  The walk reads the
 * tree from the root (META_ROOT_INO) through every directory, in batch
 * requests, and computes the keys of what it reaches: each inode's i/,
 * d/ and l/ keys and the chunk keys of regular files, at every index in
 * the inode's extents and below its size plus FSCK_CHUNK_SLACK (a writer
 * that has not closed yet stores chunks past the recorded size).  Then:
 *
 *   name without inode   an entry whose inode object is absent
 *   inode without name   an unreached object that decodes as an inode
 *                        record (version 3) whose own number gives its
 *                        key; with nlink 0 it is "unlinked" instead (a
 *                        file open on some mount after its last unlink,
 *                        or left by a mount that died)
 *   wrong link count     nlink differs from the entries naming the inode
 *                        (2 + subdirectories for a directory)
 *   unrecorded chunk     a chunk of a reached file outside its extents
 *   orphan               any other unreached object
 *
 * Grace: an object is "quiet" when its newest version (the store's clock
 * at the write, in microseconds, objects.h) is older than the grace.  A
 * problem is acted on only when every object it involves is quiet (for
 * a name without inode: the directory, or the inode's tombstone); the
 * others are reported as recent (an operation may be in flight) and are
 * not errors.  Unrecorded chunks are added to the extents (that deletes
 * nothing, and a live writer adds them at its close anyway).  Orphans, nameless and unlinked inodes are only
 * acted on when the walk and the chunk scan were complete.
 *
 * Every repair is conditional on the version the scan read (a lost
 * compare-and-swap leaves the problem for the next run), so a live
 * mount's concurrent change wins.
 */
#ifndef CANFS_FS_FSCK_H
#define CANFS_FS_FSCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "hash.h"
#include "meta.h"
#include "progress.h"

#define FSCK_CHUNK_SLACK 1024	   /* chunks past the size scanned */
#define FSCK_CHUNK_SCAN_MAX (1u << 24) /* chunk keys per file, at most */
#define FSCK_INODE_LEN_MAX (128u * 1024) /* larger is no inode record */
#define FSCK_SHOW_MAX 1000	   /* problems listed one by one */
#define FSCK_LOST_FOUND "lost+found"
#define FSCK_SWEEP_KEY "r/sweep"   /* the last sweep's start */
#define FSCK_LEASE_KEY "r/lease"   /* as fs/lease.c */

/* Exit statuses, as fsck(8)'s (bits, or'ed). */
enum {
	FSCK_EXIT_CLEAN = 0,
	FSCK_EXIT_FIXED = 1,	/* problems found, all fixed */
	FSCK_EXIT_LEFT = 4,	/* problems left */
	FSCK_EXIT_OPERR = 8,	/* the check could not be completed */
	FSCK_EXIT_USAGE = 16,
};

/* What an inventoried object turned out to be. */
enum fsck_state {
	FSCK_O_UNSEEN = 0,	/* no name reaches it (yet) */
	FSCK_O_KNOWN,		/* reached by the walk */
	FSCK_O_UNRECORDED,	/* a chunk of owner outside its extents */
};

/* One key of the inventory: its newest version over every replica. */
struct fsck_obj {
	struct hash_key key;
	uint64_t version;	/* 0: empty slot */
	uint64_t owner;		/* chunks: the file's ino, else 0 */
	uint32_t len;
	uint8_t tomb;		/* the newest version is a tombstone */
	uint8_t state;		/* enum fsck_state */
};

/* Open-addressing table of the inventory (keys are uniform hashes). */
struct fsck_objs {
	struct fsck_obj *v;	/* owned */
	size_t n, cap;		/* cap a power of two */
};

/* Kinds of problem. */
enum fsck_kind {
	FSCK_P_NOINODE,		/* name without inode */
	FSCK_P_NONAME,		/* inode without name (nlink > 0) */
	FSCK_P_UNLINKED,	/* inode without name, nlink 0 */
	FSCK_P_NLINK,		/* wrong link count */
	FSCK_P_UNRECORDED,	/* chunk outside its file's extents */
	FSCK_P_ORPHAN,		/* object no name reaches */
	FSCK_P_FROZEN,		/* directory shard left DEAD by an rmdir
				   that died (dir.h) */
	FSCK_P_NKINDS,
};

/* What became of a problem. */
enum fsck_outcome {
	FSCK_R_LEFT = 0,	/* found, not repaired (no --repair, or the
				   repair lost a race / failed) */
	FSCK_R_FIXED,
	FSCK_R_RECENT,		/* within the grace: not an error yet */
	FSCK_R_TRIED,		/* while repairing: tried, not fixed (then
				   LEFT) */
};

/* One problem found. */
struct fsck_problem {
	uint8_t kind;		/* enum fsck_kind */
	uint8_t outcome;	/* enum fsck_outcome */
	uint8_t type;		/* NOINODE: the entry's DT_* */
	uint64_t ino;		/* the inode concerned (ORPHAN: 0) */
	uint64_t parent;	/* NOINODE: the directory */
	uint64_t shard;		/* NOINODE, FROZEN: ...its shard
				   (meta_shard_id) */
	uint64_t index;		/* UNRECORDED: the chunk */
	uint32_t have, want;	/* NLINK */
	struct hash_key key;	/* ORPHAN, UNRECORDED: the object */
	uint64_t version;	/* of the object acted on */
	char *name;		/* NOINODE: the entry (owned) */
};

/* An inode the walk reached (or found without a name). */
struct fsck_ino {
	uint64_t ino;
	struct meta_inode in;	/* when have */
	uint64_t version;	/* of the inode record */
	uint64_t dir_version;	/* of the directory's newest shard (dirs) */
	uint64_t *shards;	/* its shards below the root (meta_shard_id),
				   owned: their keys are known */
	size_t nshards, capshards;
	uint64_t parents_version; /* newest version of a dir naming it */
	uint32_t refs;		/* entries naming it */
	uint32_t subdirs;	/* entries of it that are directories */
	bool have;		/* the inode record was read */
	bool missing;		/* it is absent (names without inode) */
	bool nameless;		/* found by the inventory, not by a name */
	bool dir_read;		/* its directory record was read */
};

/* Options of a run (canfs-fsck's command line). */
struct fsck_opts {
	const char *daemon;	/* SOURCE, as canfs's */
	int timeout_ms;
	bool repair;		/* --repair: every repair */
	bool sweep;		/* --sweep: orphans only, one turn per
				   interval across the cluster */
	bool json, quiet;
	uint64_t grace_s;	/* --grace */
	uint64_t interval_s;	/* --interval (sweep) */
	uint64_t rate;		/* --rate: store operations/s, 0 = any */
};

/* A run: its inputs, what it found, and the counts for the report. */
struct fsck {
	struct fsck_opts o;
	struct kv *kv;
	struct fsck_objs objs;
	struct fsck_ino *inos;	/* owned; [0] is the root */
	size_t ninos, capinos;
	size_t *ino_tab;	/* open addressing: index + 1, 0 = empty */
	size_t ino_tab_cap;
	struct fsck_problem *pb; /* owned */
	size_t npb, cappb;
	uint64_t now_us;	/* the scan's start, wall clock */
	size_t nodes, unlisted; /* nodes listed, and those that failed */
	size_t dirs, files, chunks; /* reached */
	bool incomplete;	/* a read failed: no orphan is collected */
	bool operr;		/* the check itself failed somewhere */
	char why[256];		/* the first reason for incomplete */
	/* Progress (common/progress.h, one reporter per phase) and rate. */
	uint64_t ops, ops_start_us;
	const char *phase;
	uint64_t done, total;
	struct progress prog;
};

/* ---- pure helpers (unit tested) ------------------------------------ */

/* Is an object of version (microseconds) older than grace_s at now_us? */
bool fsck_quiet(uint64_t version, uint64_t now_us, uint64_t grace_s);
/* The link count an inode should have: 2 + subdirs for a directory. */
uint32_t fsck_want_nlink(uint32_t mode, uint32_t refs, uint32_t subdirs);
/* The DT_* type of a mode. */
uint8_t fsck_dtype(uint32_t mode);
/* The exit status of a finished run (enum above). */
int fsck_exit_status(const struct fsck *f);

/* Inventory table: insert or keep the newer version; find. */
void fsck_objs_add(struct fsck_objs *t, const struct hash_key *k,
    uint64_t version, uint32_t len, bool tomb);
struct fsck_obj *fsck_objs_find(const struct fsck_objs *t,
    const struct hash_key *k);
void fsck_objs_free(struct fsck_objs *t);

/* The inode table: find ino, or add it (zeroed but for ino). */
struct fsck_ino *fsck_ino_find(const struct fsck *f, uint64_t ino);
struct fsck_ino *fsck_ino_add(struct fsck *f, uint64_t ino);

/*
 * Mark the keys of reached inode i in the inventory: i/, d/, l/ and its
 * chunks (see above).  Chunks outside the extents become unrecorded
 * problems.  Sets f->incomplete when the chunk scan had to stop.
 */
void fsck_mark_inode(struct fsck *f, const struct fsck_ino *i);

/* Record a problem (name copied when non-NULL); returns it. */
struct fsck_problem *fsck_problem_add(struct fsck *f, enum fsck_kind kind,
    uint64_t ino);
/* Free everything f owns (not f->kv). */
void fsck_free(struct fsck *f);
/* The name of a kind, as in the report ("name without inode"...). */
const char *fsck_kind_name(enum fsck_kind kind);
/* The JSON label of a kind ("noinode"...). */
const char *fsck_kind_label(enum fsck_kind kind);

/* ---- the run (fsck_scan.c, fsck_repair.c) -------------------------- */

/*
 * Inventory, walk and classify.  0, or -1 when the check cannot be made
 * (message on stderr, f->operr set).
 */
int fsck_scan(struct fsck *f);
/* Apply the repairs the options ask for; outcomes land in f->pb. */
void fsck_repair(struct fsck *f);
/*
 * Sweep turn: true when this sweep may run now (no other started within
 * the interval), after taking the turn with a compare-and-swap.
 */
bool fsck_sweep_turn(struct fsck *f, char *why, size_t whylen);

/* Progress: a phase of total steps; step adds done ones. */
void fsck_phase(struct fsck *f, const char *phase, uint64_t total);
void fsck_step(struct fsck *f, uint64_t done);
/* Count n store operations and sleep to keep to --rate. */
void fsck_throttle(struct fsck *f, uint64_t n);
/* Wall clock in microseconds. */
uint64_t fsck_now_us(void);

#endif
