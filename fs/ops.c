/* ops.c: the FUSE handler table and shared helpers (see ops.h). */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bg.h"
#include "data.h"
#include "dir.h"
#include "inode.h"
#include "kv.h"
#include "log.h"
#include "itab.h"
#include "ops.h"
#include "xmalloc.h"

/*
 * Negotiate the connection: big requests, parallel everything.
 *
 * max_write 1 MiB also sets max_pages: libfuse asks the kernel for
 * (max_write - 1) / page size + 1 = 256 pages per request (FUSE_MAX_PAGES,
 * the kernel's own limit), so reads and writes travel in 1 MiB requests.
 * Left off, each for a reason (README "Performance"):
 * - splice: our data is in memory (a chunk from the network), not in a
 *   file descriptor, so splicing a reply costs a vmsplice and a splice
 *   for the copy writev does in one call, and splice-reading writes makes
 *   libfuse copy them out of its pipe again; measured no better.
 * - writeback_cache: the kernel then trusts its cached size and mtime of
 *   a regular file over ours, so a mount that cached a file never sees
 *   another machine grow or shrink it: close-to-open across mounts breaks
 *   (fs_stress failed every run with it).
 * - atomic O_TRUNC: our truncate is a setattr like any other.
 * - HANDLE_KILLPRIV: with it the kernel leaves clearing set-uid/set-gid
 *   on a write by another uid to us; without it, it sends a setattr of
 *   the mode, rare and correct (posix_suite's killpriv section).  Its V2,
 *   which would also spare the getxattr of security.capability before
 *   each write, is beyond libfuse 3.14's API; ops_getxattr answers that
 *   one from the cached inode.
 */
static void
ops_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	conn->max_write = 1u << 20;
	conn->max_readahead = 1u << 20;
	conn->max_background = 64;
	conn->congestion_threshold = 48;
	conn->time_gran = 1;
	if (conn->capable & FUSE_CAP_PARALLEL_DIROPS)
		conn->want |= FUSE_CAP_PARALLEL_DIROPS;
	if (conn->capable & FUSE_CAP_ASYNC_READ)
		conn->want |= FUSE_CAP_ASYNC_READ;
	conn->want &= ~(unsigned)FUSE_CAP_WRITEBACK_CACHE;
	conn->want &= ~(unsigned)FUSE_CAP_ATOMIC_O_TRUNC;
	conn->want &= ~(unsigned)FUSE_CAP_HANDLE_KILLPRIV;
	conn->want &= ~(unsigned)FUSE_CAP_SPLICE_READ;
	conn->want &= ~(unsigned)FUSE_CAP_SPLICE_WRITE;
	conn->want &= ~(unsigned)FUSE_CAP_SPLICE_MOVE;
	log_info("FUSE protocol %u.%u, max_write %u, max_readahead %u, "
	    "capable 0x%x, want 0x%x", conn->proto_major, conn->proto_minor,
	    conn->max_write, conn->max_readahead, conn->capable, conn->want);
}

/*
 * The session ends (unmount, signal): write out what files still open
 * hold, so that no acknowledged write() is lost.  No request runs now.
 */
static void
ops_destroy(void *userdata)
{
	struct fs *fs = userdata;
	struct itab_ent **v;
	size_t n;
	int rc;

	v = itab_open_files(fs->nodes, &n);
	for (size_t i = 0; i < n; i++) {
		struct data *d = data_get(fs, v[i]);

		if (d != NULL && (rc = data_flush(d)) != 0)
			log_error("inode %" PRIx64 ": writes lost at unmount: "
			    "%s", v[i]->ino, strerror(-rc));
		data_put(d);
		itab_put(fs->nodes, v[i]);
	}
	free(v);
	if (n > 0)
		log_info("flushed %zu open files at unmount", n);
}

const struct fuse_lowlevel_ops ops_table = {
	.init = ops_init,
	.destroy = ops_destroy,
	.lookup = ops_lookup,
	.forget = ops_forget,
	.forget_multi = ops_forget_multi,
	.getattr = ops_getattr,
	.setattr = ops_setattr,
	.readlink = ops_readlink,
	.mknod = ops_mknod,
	.mkdir = ops_mkdir,
	.unlink = ops_unlink,
	.rmdir = ops_rmdir,
	.symlink = ops_symlink,
	.rename = ops_rename,
	.link = ops_link,
	.open = ops_open,
	.read = ops_read,
	.write = ops_write,
	.flush = ops_flush,
	.release = ops_release,
	.fsync = ops_fsync,
	.opendir = ops_opendir,
	.readdir = ops_readdir,
	.readdirplus = ops_readdirplus,
	.releasedir = ops_releasedir,
	.fsyncdir = ops_fsyncdir,
	.statfs = ops_statfs,
	.setxattr = ops_setxattr,
	.getxattr = ops_getxattr,
	.listxattr = ops_listxattr,
	.removexattr = ops_removexattr,
	.create = ops_create,
	.getlk = ops_getlk,
	.setlk = ops_setlk,
	.flock = ops_flock,
};

/* Error reply. */
void
ops_reply_err(fuse_req_t req, int rc)
{
	int e = -rc;

	if (e <= 0 || e == KV_ECONFLICT)
		e = EIO;
	fuse_reply_err(req, e);
}

/* Status reply (0 is success). */
void
ops_reply_status(fuse_req_t req, int rc)
{
	if (rc == 0)
		fuse_reply_err(req, 0);
	else
		ops_reply_err(req, rc);
}

/* ENOENT of a cached inode: ESTALE (see ops.h). */
int
ops_stale(struct fs *fs, int rc)
{
	if (rc != -ENOENT)
		return rc;
	itab_stale_dirs(fs->nodes);
	return -ESTALE;
}

/* Wall clock. */
void
ops_now(struct timespec *ts)
{
	clock_gettime(CLOCK_REALTIME, ts);
}

/* Attributes from a record. */
void
ops_stat(uint64_t ino, const struct meta_inode *in, struct stat *st)
{
	memset(st, 0, sizeof *st);
	st->st_ino = (ino_t)ino;
	st->st_mode = (mode_t)in->mode;
	st->st_nlink = (nlink_t)in->nlink;
	st->st_uid = (uid_t)in->uid;
	st->st_gid = (gid_t)in->gid;
	st->st_rdev = (dev_t)in->rdev;
	st->st_size = (off_t)in->size;
	st->st_blksize = S_ISREG(in->mode) ? (blksize_t)in->chunk_size : 4096;
	st->st_blocks = (blkcnt_t)((in->size + 511) / 512);
	st->st_atim = in->atime;
	st->st_mtim = in->mtime;
	st->st_ctim = in->ctime;
}

/* An entry for n, counting the kernel's new reference. */
void
ops_entry(struct fs *fs, struct itab_ent *n, const struct meta_inode *in,
    struct fuse_entry_param *e)
{
	memset(e, 0, sizeof *e);
	e->ino = n->ino;
	e->generation = 1;
	ops_stat(n->ino, in, &e->attr);
	e->attr_timeout = fs->o.attr_timeout;
	e->entry_timeout = fs->o.entry_timeout;
	itab_lookup(fs->nodes, n);
}

/* The inode for getattr, merged with unflushed writes. */
int
ops_inode(struct fs *fs, struct itab_ent *n, int max_age_ms,
    struct meta_inode *in)
{
	struct data *d;
	int rc;

	/*
	 * A directory's pending touch lands first (times, link count);
	 * workers must not wait for jobs queued behind them.
	 */
	itab_lock(fs->nodes);
	while (n->touch_pending && !bg_worker()) {
		/*
		 * A read would wait for our own touches: what they will
		 * write is known, so a cache younger than the caller's limit
		 * (for a fresh read: the kernel's own attribute time)
		 * answers.  The kernel asks after every create in a
		 * directory: this saves two round trips each.
		 */
		int lim = max_age_ms == 0 ? fs_ms(fs->o.attr_timeout) :
		    max_age_ms < 0 ? INT_MAX : max_age_ms;

		if (itab_touch_view(n, lim, in)) {
			itab_unlock(fs->nodes);
			return 0;
		}
		itab_wait(fs->nodes);
	}
	itab_unlock(fs->nodes);
	if ((rc = inode_read(fs, n, max_age_ms, in, NULL)) != 0)
		return rc;
	/* Referenced: a last close meanwhile must not free it under us. */
	if ((d = data_get(fs, n)) != NULL) {
		data_attr(d, in);
		data_put(d);
	}
	return 0;
}

/* Wait of a directory touch for more changes to fold into its write. */
#define OPS_TOUCH_GATHER_MS 10

/* What a directory touch writes. */
struct ops_touch {
	int delta;
	struct timespec when;
};

/* Mutation: a directory's times and link count. */
static int
ops_touch_mut(struct meta_inode *in, void *arg)
{
	const struct ops_touch *t = arg;

	in->mtime = t->when;
	in->ctime = t->when;
	meta_inode_nlink_add(in, t->delta);
	return 0;
}

/* Background job: apply a directory's pending touches until none. */
static int
ops_touch_job(void *arg)
{
	struct itab_ent *n = arg;
	struct fs *fs = n->touch_fs;
	struct ops_touch t;
	struct timespec gather = { 0, OPS_TOUCH_GATHER_MS * 1000000L };
	int rc;

	/* Let a burst of changes gather into one write. */
	nanosleep(&gather, NULL);
	for (;;) {
		itab_lock(fs->nodes);
		if (!n->touch_dirty) {
			n->touch_pending = false;
			itab_broadcast(fs->nodes);
			itab_unlock(fs->nodes);
			break;
		}
		t.delta = n->touch_delta;
		t.when = n->touch_time;
		n->touch_delta = 0;
		n->touch_dirty = false;
		n->touch_flying = true;
		n->touch_fly_delta = t.delta;
		n->touch_fly_time = t.when;
		n->touch_fly_base = n->inode_version;
		itab_unlock(fs->nodes);
		rc = inode_update(fs, n, ops_touch_mut, &t, NULL);
		itab_lock(fs->nodes);
		n->touch_flying = false;
		itab_unlock(fs->nodes);
		/* ENOENT: removed meanwhile (rm -r), nothing to update. */
		if (rc != 0 && rc != -ENOENT)
			log_warnx("directory %" PRIx64 ": cannot update its "
			    "times: %s", n->ino, strerror(-rc));
	}
	itab_put(fs->nodes, n);
	return 0;
}

/*
 * A directory changed.  The update of its inode goes out in the
 * background, and changes that arrive meanwhile are folded into the next
 * write, so a burst of creates in one directory costs few writes.
 */
void
ops_touch_dir(struct fs *fs, struct itab_ent *dir, int nlink_delta)
{
	bool start;

	itab_lock(fs->nodes);
	dir->touch_delta += nlink_delta;
	ops_now(&dir->touch_time);
	dir->touch_dirty = true;
	start = !dir->touch_pending;
	if (start) {
		dir->touch_pending = true;
		dir->touch_fs = fs;
		dir->refs++; /* the job's hold */
	}
	itab_unlock(fs->nodes);
	if (start)
		bg_submit(fs->bg, NULL, ops_touch_job, dir);
}

/* A deferred atime update of one node. */
struct ops_atime {
	struct fs *fs;
	struct itab_ent *n;		/* held by the job */
	struct timespec when;	/* the atime to set */
	uint64_t gen;		/* n->atime_gen when the read was taken */
	int tries;		/* CAS attempts so far */
};

/* CAS attempts before an atime update gives up (it is not worth more). */
#define OPS_ATIME_TRIES 10

/*
 * Mutation: atime to a->when, if the policy still wants it for this
 * record (relatime looks at the record's own mtime and ctime) and no
 * explicit atime change came since the read.  Not a pure function of
 * the record, but its other inputs only ever turn it into a no-op, so
 * running it again is safe.  Never touches size, mtime or ctime.
 */
static int
ops_atime_mut(struct meta_inode *in, void *arg)
{
	struct ops_atime *a = arg;
	bool stale;

	if (++a->tries > OPS_ATIME_TRIES)
		return -EBUSY;
	itab_lock(a->fs->nodes);
	stale = a->n->atime_gen != a->gen;
	itab_unlock(a->fs->nodes);
	if (stale || !atime_due(a->fs->o.atime, &in->atime, &in->mtime,
	    &in->ctime, &a->when))
		return INODE_UNCHANGED;
	in->atime = a->when;
	return 0;
}

/* Background job: write a node's pending atime until no read is left. */
static int
ops_atime_job(void *arg)
{
	struct ops_atime *a = arg;
	struct fs *fs = a->fs;
	struct itab_ent *n = a->n;
	int rc;

	for (;;) {
		itab_lock(fs->nodes);
		if (!n->atime_dirty) {
			n->atime_pending = false;
			itab_unlock(fs->nodes);
			break;
		}
		a->when = n->atime_when;
		a->gen = n->atime_gen;
		a->tries = 0;
		n->atime_dirty = false;
		itab_unlock(fs->nodes);
		rc = inode_update(fs, n, ops_atime_mut, a, NULL);
		/* ENOENT: removed meanwhile; anything else: best effort. */
		if (rc != 0 && rc != -ENOENT)
			log_info("inode %" PRIx64 ": atime not updated: %s",
			    n->ino, strerror(-rc));
	}
	itab_put(fs->nodes, n);
	free(a);
	return 0;
}

/* Does the mount's policy let reads of this kind move atimes at all? */
static bool
ops_atime_on(const struct fs *fs, bool dir)
{
	return !fs->o.readonly && fs->o.atime != ATIME_NOATIME &&
	    !(dir && fs->o.nodiratime);
}

/* Would a read now move the atime of in (see ops.h)? */
bool
ops_atime_due(struct fs *fs, const struct meta_inode *in, bool dir)
{
	struct timespec now;

	if (!ops_atime_on(fs, dir))
		return false;
	ops_now(&now);
	return atime_due(fs->o.atime, &in->atime, &in->mtime, &in->ctime,
	    &now);
}

/*
 * A read of n (see ops.h).  The cached record (as of the open, at the
 * latest) rules out most reads at once under relatime, without a store
 * request; the mutation decides again on the record it writes.
 */
void
ops_atime(struct fs *fs, struct itab_ent *n, bool dir)
{
	struct ops_atime *a;
	struct timespec now;
	bool due = true, start;

	if (!ops_atime_on(fs, dir))
		return;
	ops_now(&now);
	itab_lock(fs->nodes);
	if (!n->atime_pending && n->have_inode)
		due = atime_due(fs->o.atime, &n->inode.atime,
		    &n->inode.mtime, &n->inode.ctime, &now);
	if (due) {
		n->atime_when = now;
		n->atime_dirty = true;
	}
	start = due && !n->atime_pending;
	if (start) {
		n->atime_pending = true;
		n->refs++; /* the job's hold */
	}
	itab_unlock(fs->nodes);
	if (!start)
		return;
	a = xcalloc(1, sizeof *a);
	a->fs = fs;
	a->n = n;
	bg_submit(fs->bg, NULL, ops_atime_job, a);
}

/* An explicit atime change is coming: drop the reads before it. */
void
ops_atime_cancel(struct fs *fs, struct itab_ent *n)
{
	itab_lock(fs->nodes);
	n->atime_gen++;
	n->atime_dirty = false;
	itab_unlock(fs->nodes);
}

/* Mutation: one link less. */
int
ops_link_dec(struct meta_inode *in, void *arg)
{
	(void)arg;
	if (in->nlink > 0)
		in->nlink--;
	ops_now(&in->ctime);
	return 0;
}

/* Remove an inode now, and its data in the background. */
int
ops_remove_inode(struct fs *fs, struct itab_ent *n, const struct meta_inode *in)
{
	int rc = inode_remove(fs, n);

	if (rc == 0)
		data_remove_async(fs, n->ino, in);
	if (S_ISDIR(in->mode)) {
		struct hash_key k;

		meta_key_dir(n->ino, &k);
		(void)kv_del(fs->kv, &k, WIRE_COND_NONE, 0);
	}
	return rc;
}

/*
 * The last link of a closed file, as cached: delete the inode if it is
 * still that version (one round trip).  1 when done, 0 to take the slow
 * path, or -errno.
 */
static int
ops_drop_last(struct fs *fs, struct itab_ent *n)
{
	struct meta_inode in;
	struct hash_key k;
	uint64_t ver;
	bool open;
	int rc;

	itab_lock(fs->nodes);
	open = n->opens > 0;
	itab_unlock(fs->nodes);
	if (open || !itab_inode_cached(fs->nodes, n, -1, &in, &ver))
		return 0;
	rc = 0;
	if (in.nlink == 1 && !S_ISDIR(in.mode)) {
		meta_key_inode(n->ino, &k);
		rc = kv_del(fs->kv, &k, WIRE_COND_VERSION, ver);
		if (rc == 0) {
			itab_forget_cache(fs->nodes, n);
			/* That version's extents: exactly what is stored. */
			data_remove_async(fs, n->ino, &in);
			rc = 1;
		} else if (rc == -KV_ECONFLICT)
			rc = 0; /* changed meanwhile: the slow path */
	}
	meta_inode_free(&in);
	return rc;
}

/* Drop a link (see ops.h). */
int
ops_drop_link(struct fs *fs, struct itab_ent *n)
{
	struct meta_inode in;
	bool open;
	int rc;

	if ((rc = ops_drop_last(fs, n)) != 0)
		return rc < 0 ? rc : 0;
	rc = inode_update(fs, n, ops_link_dec, NULL, &in);
	if (rc == -ENOENT)
		return 0;
	if (rc != 0)
		return rc;
	if (in.nlink == 0) {
		itab_lock(fs->nodes);
		open = n->opens > 0;
		if (open)
			n->unlinked = true;
		itab_unlock(fs->nodes);
		if (!open)
			rc = ops_remove_inode(fs, n, &in);
	}
	meta_inode_free(&in);
	return rc;
}

/* Mutation: add an entry. */
int
ops_dir_add(struct meta_dir *d, void *arg)
{
	const struct ops_dirop *op = arg;
	long i = meta_dir_find(d, op->name, op->len, NULL);

	if (i >= 0) /* there already: ours if this is a retry */
		return d->e[i].ino == op->ino ? INODE_UNCHANGED : -EEXIST;
	return meta_dir_insert(d, op->name, op->len, op->ino, op->type);
}

/* Mutation: remove an entry. */
int
ops_dir_remove(struct meta_dir *d, void *arg)
{
	struct ops_dirop *op = arg;
	long i = meta_dir_find(d, op->name, op->len, NULL);

	if (i < 0 || (op->ino != 0 && d->e[i].ino != op->ino))
		return -ENOENT;
	if (op->no_dirs && d->e[i].type == DT_DIR)
		return -EISDIR;
	if (op->only_dirs && d->e[i].type != DT_DIR)
		return -ENOTDIR;
	op->found_ino = d->e[i].ino;
	op->found_type = d->e[i].type;
	meta_dir_remove_at(d, (size_t)i);
	return 0;
}

/* The record of a new inode made by the caller of req in parent. */
static void
ops_make_inode(struct fs *fs, fuse_req_t req, const struct meta_inode *pin,
    const struct ops_make *mk, struct meta_inode *in)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);

	meta_inode_init(in);
	in->mode = (uint32_t)mk->mode;
	in->uid = (uint32_t)ctx->uid;
	in->gid = (uint32_t)ctx->gid;
	if (pin->mode & S_ISGID) {
		/* BSD group semantics under a set-gid directory. */
		in->gid = pin->gid;
		if (S_ISDIR(mk->mode))
			in->mode |= S_ISGID;
	}
	in->nlink = S_ISDIR(mk->mode) ? 2 : 1;
	in->rdev = (uint64_t)mk->rdev;
	ops_now(&in->mtime);
	in->atime = in->ctime = in->mtime;
	in->chunk_size = fs->o.chunk_size;
	if (mk->target != NULL) {
		(void)meta_inode_set_target(in, mk->target);
		in->size = strlen(mk->target);
	}
}

/* The new objects of ops_make, written in the background. */
struct ops_newobj {
	struct fs *fs;
	uint64_t ino;
	const struct meta_inode *in;
	uint64_t version;	/* of the inode written */
	int rc_inode, rc_dir;
};

/* Write the inode (and a directory's empty object) of a new entry. */
static int
ops_newobj_job(void *arg)
{
	struct ops_newobj *o = arg;

	o->rc_inode = inode_create(o->fs, o->ino, o->in, &o->version);
	o->rc_dir = S_ISDIR(o->in->mode) ? dir_create(o->fs, o->ino) : 0;
	return 0;
}

/*
 * Create and link a new inode (see ops.h).  The new objects and the
 * parent's entry are written at once, in parallel: one round trip, not
 * two.  When either side fails, the other is undone.  A crash between the
 * two may leave a name whose inode is missing (lookups fail with ENOENT;
 * rm removes it) or an inode no name reaches (a leak), never a lost or
 * duplicated name.
 */
int
ops_make(fuse_req_t req, fuse_ino_t parent, const struct ops_make *mk,
    struct fuse_entry_param *e, struct itab_ent **out)
{
	struct fs *fs = fs_ctx(req);
	struct ops_dirop op = { .name = mk->name, .len = strlen(mk->name) };
	struct ops_newobj no = { .fs = fs };
	struct meta_inode pin, in;
	struct itab_ent *pn, *cn = NULL;
	struct bg_group grp;
	int rc;

	if ((rc = meta_name_check(op.name, op.len)) != 0)
		return rc;
	if (mk->target != NULL && strlen(mk->target) > META_SYMLINK_MAX)
		return -ENAMETOOLONG;
	pn = itab_get(fs->nodes, parent);
	meta_inode_init(&in);
	if ((rc = inode_read(fs, pn, fs_ms(fs->o.attr_timeout), &pin,
	    NULL)) != 0)
		goto out;
	rc = S_ISDIR(pin.mode) ? 0 : -ENOTDIR;
	if (rc == 0)
		ops_make_inode(fs, req, &pin, mk, &in);
	meta_inode_free(&pin);
	if (rc != 0)
		goto out;
	no.ino = op.ino = inode_new_ino();
	no.in = &in;
	op.type = (uint8_t)IFTODT(in.mode);
	cn = itab_get(fs->nodes, no.ino);
	bg_group_init(&grp);
	bg_submit(fs->bg, &grp, ops_newobj_job, &no);
	rc = dir_update(fs, pn, op.name, op.len, ops_dir_add, &op);
	(void)bg_group_wait(&grp);
	bg_group_destroy(&grp);
	if (rc == 0 && (no.rc_inode != 0 || no.rc_dir != 0)) {
		/* The name is in; its inode is not: take the name back. */
		rc = no.rc_inode != 0 ? no.rc_inode : no.rc_dir;
		if (rc == -EEXIST)
			rc = -EIO; /* a 63-bit collision: never in practice */
		(void)dir_update(fs, pn, op.name, op.len, ops_dir_remove,
		    &op);
	}
	if (rc != 0) {
		if (no.rc_inode == 0)
			(void)ops_remove_inode(fs, cn, &in);
		goto out;
	}
	ops_touch_dir(fs, pn, S_ISDIR(in.mode) ? 1 : 0);
	itab_inode_store(fs->nodes, cn, &in, no.version);
	itab_lock(fs->nodes);
	cn->parent = parent;
	itab_unlock(fs->nodes);
	ops_entry(fs, cn, &in, e);
	*out = cn;
	cn = NULL;
out:
	itab_put(fs->nodes, cn);
	itab_put(fs->nodes, pn);
	meta_inode_free(&in);
	return rc;
}
