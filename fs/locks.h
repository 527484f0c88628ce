/*
 * locks.h: file locks that hold across every mount of the cluster.
 *
 * fcntl (POSIX byte-range) and flock locks live in the store, one lock
 * record per file (lockrec.h), changed by compare-and-swap: no lock
 * server.  This mount is one holder, named by a random 64-bit id.
 *
 * - Taking or changing a lock reads the record, checks for conflicts,
 *   and writes it back conditionally on the version read (a lost race
 *   reads again).  A request that conflicts fails with EAGAIN, or, when
 *   it may wait (F_SETLKW, flock without LOCK_NB), is queued: the FUSE
 *   request is answered later by this module's thread, so waiters hold
 *   no FUSE worker thread.  A waiter tries again when this mount frees a
 *   lock on that file (at once) and otherwise on a backoff from 20 ms up
 *   to LOCKS_POLL_MAX_MS (a lock freed on another machine is seen
 *   within that), and gets EINTR, leaving nothing behind, when the
 *   kernel interrupts it (a signal).
 * - Every lock carries a lease (`lock_lease`, default 30 s): the thread
 *   renews this mount's locks every third of it.  The locks of a mount
 *   that dies or is cut off expire after the lease, and others may then
 *   take them; if this mount cannot renew its locks in time (cut off) it
 *   logs that they may be lost, as an NFS client does.
 * - Coherence, as NFS does it: a lock taken revalidates the file (its
 *   inode re-read, cached data and kernel pages dropped when it changed
 *   elsewhere), and an unlock first writes out what this mount wrote, so
 *   data protected by a lock is seen whole by the next holder.
 * - Closing a file (FUSE flush) drops its owner's fcntl locks on it, the
 *   last close of an open file description (release) its flock; only
 *   files this mount holds locks on cost a request.  A drop that fails
 *   (the daemon unreachable a moment) is retried every second by the
 *   thread, and those locks are no longer renewed meanwhile.
 * - A flock converted (shared to exclusive or back) that must wait gives
 *   its old lock up first, as on Linux.  Changes of one file's record on
 *   this mount go one at a time (striped mutexes), so the set of files
 *   this mount holds locks on follows the records it wrote.
 * - Not done: deadlock detection (EDEADLK) for fcntl locks; open file
 *   description locks (F_OFD_SETLK) are not dropped at close (FUSE sends
 *   no owner for them) and last until unmount.
 */
#ifndef CANFS_FS_LOCKS_H
#define CANFS_FS_LOCKS_H

#include <stdbool.h>
#include <stdint.h>

#include "fs.h"
#include "lockrec.h"

#define LOCKS_LEASE_DEFAULT_MS 30000
#define LOCKS_POLL_MAX_MS 500

struct locks;
struct data;

/* Start the module (its thread) for fs; NULL with a message on failure. */
struct locks *locks_new(struct fs *fs, int lease_ms, char *err,
    size_t errlen);
/* Stop: answer every waiter EINTR, drop this mount's locks, free. */
void locks_free(struct locks *l);

/*
 * Set q (lock or unlock) on ino, for a request whose open file's data is
 * d (NULL if none).  Returns 0 when done, -EAGAIN on a conflict when
 * !wait, another -errno, or LOCKS_QUEUED when the request waits: then
 * this module answers req itself.
 */
#define LOCKS_QUEUED 1
int locks_set(struct locks *l, fuse_req_t req, uint64_t ino,
    const struct lockrec_req *q, struct data *d, bool wait);

/* F_GETLK: 0 with *found and, if found, the conflicting entry in *out. */
int locks_test(struct locks *l, uint64_t ino, const struct lockrec_req *q,
    struct lockrec_entry *out, bool *found);

/* A close: drop owner's locks of kind on ino (if this mount holds any). */
void locks_drop_owner(struct locks *l, uint64_t ino, uint64_t owner,
    int kind);

/* This mount's holder id. */
uint64_t locks_mount_id(const struct locks *l);

#endif
