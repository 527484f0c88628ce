/*
 * ops_lock.c: the FUSE lock handlers (getlk, setlk, flock), translating
 * the kernel's requests into lock records (lockrec.h) taken across every
 * mount (locks.h).
 */
#include <sys/file.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>

#include "locks.h"
#include "ops.h"

/*
 * The request for an fcntl lock as the kernel gives it (l_whence is
 * SEEK_SET and l_len 0 means to the end; libfuse converted it from
 * [start, end]).  0, or -EINVAL for a range we cannot hold.
 */
static int
ops_lock_req(fuse_req_t req, struct fuse_file_info *fi,
    const struct flock *lock, struct lockrec_req *q)
{
	q->mount = locks_mount_id(fs_ctx(req)->locks);
	q->owner = fi->lock_owner;
	q->pid = (uint32_t)lock->l_pid;
	q->kind = LOCKREC_POSIX;
	switch (lock->l_type) {
	case F_RDLCK:
		q->type = LOCKREC_READ;
		break;
	case F_WRLCK:
		q->type = LOCKREC_WRITE;
		break;
	case F_UNLCK:
		q->type = LOCKREC_UNLOCK;
		break;
	default:
		return -EINVAL;
	}
	if (lock->l_start < 0 || lock->l_len < 0)
		return -EINVAL;
	q->start = (uint64_t)lock->l_start;
	q->end = lock->l_len == 0 ? LOCKREC_EOF :
	    (uint64_t)lock->l_start + (uint64_t)lock->l_len - 1;
	if (q->end > LOCKREC_EOF || q->end < q->start)
		return -EINVAL;
	return 0;
}

/*
 * F_GETLK: the first lock that would block this one.  Its pid is the
 * holder's when it is on this mount; a holder on another machine is
 * reported with its pid negated, as Linux's network file systems report
 * remote holders (the FUSE kernel module turns a pid it cannot find in
 * this machine's namespace into 0).
 */
void
ops_getlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
    struct flock *lock)
{
	struct fs *fs = fs_ctx(req);
	struct lockrec_req q;
	struct lockrec_entry c;
	bool found;
	int rc;

	if ((rc = ops_lock_req(req, fi, lock, &q)) != 0 ||
	    (rc = locks_test(fs->locks, ino, &q, &c, &found)) != 0) {
		ops_reply_err(req, rc);
		return;
	}
	if (!found) {
		lock->l_type = F_UNLCK;
	} else {
		lock->l_type = c.type == LOCKREC_WRITE ? F_WRLCK : F_RDLCK;
		lock->l_whence = SEEK_SET;
		lock->l_start = (off_t)c.start;
		lock->l_len = c.end == LOCKREC_EOF ? 0 :
		    (off_t)(c.end - c.start + 1);
		lock->l_pid = c.mount == locks_mount_id(fs->locks) ?
		    (pid_t)c.pid : -(pid_t)c.pid;
	}
	fuse_reply_lock(req, lock);
}

/* F_SETLK, F_SETLKW (sleep): a blocked one is answered by locks.c. */
void
ops_setlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
    struct flock *lock, int sleep)
{
	struct lockrec_req q;
	int rc;

	if ((rc = ops_lock_req(req, fi, lock, &q)) == 0)
		rc = locks_set(fs_ctx(req)->locks, req, ino, &q,
		    ops_file_data(fi), sleep != 0);
	if (rc != LOCKS_QUEUED)
		ops_reply_status(req, rc);
}

/* flock(2): a whole-file lock of the open file description. */
void
ops_flock(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, int op)
{
	struct lockrec_req q = {
		.mount = locks_mount_id(fs_ctx(req)->locks),
		.owner = fi->lock_owner,
		.pid = (uint32_t)fuse_req_ctx(req)->pid,
		.kind = LOCKREC_FLOCK,
		.start = 0,
		.end = LOCKREC_EOF,
	};
	int rc;

	switch (op & (LOCK_SH | LOCK_EX | LOCK_UN)) {
	case LOCK_SH:
		q.type = LOCKREC_READ;
		break;
	case LOCK_EX:
		q.type = LOCKREC_WRITE;
		break;
	case LOCK_UN:
		q.type = LOCKREC_UNLOCK;
		break;
	default:
		ops_reply_err(req, -EINVAL);
		return;
	}
	rc = locks_set(fs_ctx(req)->locks, req, ino, &q, ops_file_data(fi),
	    !(op & LOCK_NB));
	if (rc != LOCKS_QUEUED)
		ops_reply_status(req, rc);
}
