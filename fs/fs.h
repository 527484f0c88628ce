/*
 * fs.h: the state of one canfs mount, shared by every module of fs/.
 *
 * The FUSE handlers reach it through fs_ctx(req).  Everything here is
 * set up before the session starts and read-only afterwards, except the
 * objects that carry their own locks (kv, bg, reap, nodes).
 */
#ifndef CANFS_FS_FS_H
#define CANFS_FS_FS_H

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "atime.h"

struct kv;
struct bg;
struct itab;
struct reap;
struct lease;
struct locks;

/* Options of a mount (see canfs(8)). */
struct fs_opts {
	double entry_timeout;	/* seconds the kernel may cache names */
	double negative_timeout; /* ...and the absence of a name */
	double attr_timeout;	/* seconds the kernel may cache attributes */
	int timeout_ms;		/* bound on each store request */
	int conns;		/* requests in flight to the daemon */
	int bg_threads;		/* background workers */
	uint32_t chunk_size;	/* of new files */
	uint32_t dir_shard_size; /* bytes past which a directory shard
				    splits (dir.h) */
	int readahead;		/* chunks fetched ahead of sequential reads */
	int max_dirty;		/* dirty chunk buffers per open file */
	int lock_lease_ms;	/* lease of this mount's locks (locks.h) */
	enum atime_mode atime;	/* when reads move atimes (atime.h) */
	bool nodiratime;	/* ...never for directory listings */
	bool readonly;		/* mounted ro: reads write nothing */
};

struct fs {
	struct fs_opts o;
	struct kv *kv;
	struct bg *bg;
	struct reap *reap;	/* chunks of removed files, deleted in the
				   background (reap.h) */
	struct itab *nodes;
	struct locks *locks;	/* fcntl and flock locks (locks.h) */
	struct lease *lease;	/* the rename lease (lease.h) */
	struct fuse_session *se;
};

/* The mount's state, from a request. */
static inline struct fs *
fs_ctx(fuse_req_t req)
{
	return (struct fs *)fuse_req_userdata(req);
}

/* Milliseconds of a timeout option, for cache ages. */
static inline int
fs_ms(double seconds)
{
	return (int)(seconds * 1000.0);
}

#endif
