/*
 * fsck_scan.c: fsck's scan (fsck.h): the inventory of every node's
 * replicas, the walk of the tree from the root in batch requests, the
 * inodes no name reaches, and the classification of what is left.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "fsck.h"
#include "kv.h"
#include "xmalloc.h"

#define FSCK_BATCH 256		/* GETs per kv_batch() call */
#define FSCK_WALK_MAX 100000	/* overlay nodes listed at most */

/* The first reason the scan is incomplete (later ones are counted). */
static void
fsck_incomplete(struct fsck *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void
fsck_incomplete(struct fsck *f, const char *fmt, ...)
{
	va_list ap;

	if (!f->incomplete) {
		va_start(ap, fmt);
		vsnprintf(f->why, sizeof f->why, fmt, ap);
		va_end(ap);
	}
	f->incomplete = true;
}

/* Walk warnings (a node that does not answer) go to stderr. */
static void
fsck_walk_warn(void *arg, const char *line)
{
	struct fsck *f = arg;

	if (!f->o.quiet)
		fprintf(stderr, "canfs-fsck: %s\n", line);
}

/* List one node's replicas into the inventory; -1 with err. */
static int
fsck_list_node(struct fsck *f, const char *addr, char *err, size_t errlen)
{
	struct wire_summary s;
	struct client *c;
	uint32_t start = 0;
	bool more = true;

	if ((c = client_connect(addr, f->o.timeout_ms, err, errlen)) == NULL)
		return -1;
	while (more) {
		if (client_list(c, start, &s, &more, f->o.timeout_ms) == -1) {
			snprintf(err, errlen, "%s", client_error(c));
			client_close(c);
			return -1;
		}
		for (uint32_t e = 0; e < s.n; e++)
			fsck_objs_add(&f->objs, &s.e[e].key, s.e[e].version,
			    s.e[e].len, (s.e[e].flags & WIRE_OBJ_TOMBSTONE) != 0);
		if ((more && s.n == 0) || s.n > UINT32_MAX - start)
			more = false;
		start += s.n;
		fsck_throttle(f, s.n / 64 + 1);
		wire_summary_free(&s);
	}
	client_close(c);
	return 0;
}

/*
 * The inventory: every replica of every node, the newest version per
 * key.  A node that cannot be listed leaves its keys out (they are then
 * not collected either); the first daemon must answer.
 */
static int
fsck_inventory(struct fsck *f)
{
	struct client_walk w;
	char err[1024];

	if (client_walk(f->o.daemon, f->o.timeout_ms, FSCK_WALK_MAX,
	    fsck_walk_warn, f, &w, err, sizeof err) == -1) {
		fprintf(stderr, "canfs-fsck: cannot walk the overlay: %s\n",
		    err);
		return -1;
	}
	fsck_phase(f, "nodes listed", w.n);
	for (size_t i = 0; i < w.n; i++) {
		if (fsck_list_node(f, w.nodes[i].addr, err, sizeof err) == -1) {
			fprintf(stderr, "canfs-fsck: cannot list the replicas "
			    "of node %016" PRIx64 ": %s\n", w.nodes[i].id, err);
			f->unlisted++;
		} else
			f->nodes++;
		fsck_step(f, 1);
	}
	f->unlisted += w.unreachable;
	client_walk_free(&w);
	return 0;
}

/* GET the given keys in batches; ops[i].rc and .v as kv_batch(). */
static void
fsck_get_all(struct fsck *f, struct kv_op *ops, size_t n)
{
	for (size_t s = 0; s < n; s += FSCK_BATCH) {
		size_t m = n - s < FSCK_BATCH ? n - s : FSCK_BATCH;

		(void)kv_batch(f->kv, ops + s, m);
		fsck_throttle(f, m);
		fsck_step(f, m);
	}
}

/* Read the inode records of inos[0, n) (indices into f->inos). */
static void
fsck_read_inodes(struct fsck *f, const size_t *idx, size_t n)
{
	struct kv_op *ops = xcalloc(n ? n : 1, sizeof *ops);

	for (size_t i = 0; i < n; i++) {
		ops[i].type = WIRE_OBJ_GET;
		meta_key_inode(f->inos[idx[i]].ino, &ops[i].key);
	}
	fsck_get_all(f, ops, n);
	for (size_t i = 0; i < n; i++) {
		struct fsck_ino *in = &f->inos[idx[i]];

		if (ops[i].rc == -ENOENT)
			in->missing = true;
		else if (ops[i].rc != 0)
			fsck_incomplete(f, "inode %" PRIx64 ": %s", in->ino,
			    strerror(-ops[i].rc));
		else if (meta_inode_decode(ops[i].v.data, ops[i].v.len,
		    &in->in) != 0 || (in->in.ino != 0 &&
		    in->in.ino != in->ino))
			fsck_incomplete(f, "inode %" PRIx64 ": the record does "
			    "not decode", in->ino);
		else {
			in->have = true;
			in->version = ops[i].v.version;
		}
		kv_value_free(&ops[i].v);
	}
	free(ops);
}

/* Take the entries of shard d of directory di into the tables. */
static void
fsck_dir_entries(struct fsck *f, size_t di, const struct meta_dir *d,
    uint64_t version)
{
	uint64_t shard = meta_shard_id(d->depth, d->prefix);
	uint64_t parent = f->inos[di].ino;

	for (size_t e = 0; e < d->n; e++) {
		struct fsck_ino *c = fsck_ino_find(f, d->e[e].ino);

		if (c == NULL)
			c = fsck_ino_add(f, d->e[e].ino); /* moves f->inos */
		c->refs++;
		if (version > c->parents_version)
			c->parents_version = version;
		if (d->e[e].type == DT_DIR)
			f->inos[di].subdirs++;
		if (c->missing || !c->have) {
			/* Kept for names without inode (checked later). */
			struct fsck_problem *p = fsck_problem_add(f,
			    FSCK_P_NOINODE, d->e[e].ino);

			p->parent = parent;
			p->shard = shard;
			p->type = d->e[e].type;
			p->version = version;
			p->name = xmalloc((size_t)d->e[e].len + 1);
			memcpy(p->name, meta_dir_name(d, e), d->e[e].len);
			p->name[d->e[e].len] = '\0';
		}
	}
}

/* A SPLIT shard whose children fsck_read_dirs() reads next. */
struct fsck_split {
	size_t di;		/* the directory's index in f->inos */
	uint8_t depth;
	uint64_t prefix;
};

/* A list of SPLIT shards. */
struct fsck_splits {
	struct fsck_split *v;
	size_t n, cap;
};

/* Note shard (depth, prefix) of directory di: its key is known. */
static void
fsck_shard_add(struct fsck *f, size_t di, uint8_t depth, uint64_t prefix)
{
	struct fsck_ino *in = &f->inos[di];

	if (in->nshards == in->capshards) {
		in->capshards = in->capshards ? 2 * in->capshards : 8;
		in->shards = xreallocarray(in->shards, in->capshards,
		    sizeof *in->shards);
	}
	in->shards[in->nshards++] = meta_shard_id(depth, prefix);
}

/*
 * Take shard d of directory di, read at version, into the tables: its
 * entries, or (SPLIT) its children onto next.  A SPLITTING shard holds
 * the entries; children written for it so far are copies, known but not
 * counted.
 */
static void
fsck_dir_shard(struct fsck *f, size_t di, const struct meta_dir *d,
    uint64_t version, struct fsck_splits *next)
{
	if (d->depth > 0)
		fsck_shard_add(f, di, d->depth, d->prefix);
	if (version > f->inos[di].dir_version)
		f->inos[di].dir_version = version;
	if (d->state == META_SHARD_SPLIT) {
		if (next->n == next->cap) {
			next->cap = next->cap ? 2 * next->cap : 16;
			next->v = xreallocarray(next->v, next->cap,
			    sizeof *next->v);
		}
		next->v[next->n++] = (struct fsck_split){ di, d->depth,
		    d->prefix };
		return;
	}
	if (d->state == META_SHARD_DEAD) {
		struct fsck_problem *p = fsck_problem_add(f, FSCK_P_FROZEN,
		    f->inos[di].ino);

		p->shard = meta_shard_id(d->depth, d->prefix);
		p->version = version;
		meta_key_shard(f->inos[di].ino, d->depth, d->prefix, &p->key);
		if (!fsck_quiet(version, f->now_us, f->o.grace_s))
			p->outcome = FSCK_R_RECENT;	/* an rmdir under way */
		return;
	}
	if (d->state == META_SHARD_SPLITTING) {
		for (uint64_t bit = 0; bit < 2; bit++)
			fsck_shard_add(f, di, (uint8_t)(d->depth + 1),
			    d->prefix << 1 | bit);
	}
	fsck_dir_entries(f, di, d, version);
}

/* Read the children of the SPLIT shards lv, one batch; SPLIT ones among
 * them go onto next. */
static void
fsck_read_shards(struct fsck *f, const struct fsck_splits *lv,
    struct fsck_splits *next)
{
	struct kv_op *ops = xcalloc(2 * lv->n + 1, sizeof *ops);
	size_t n = 2 * lv->n;

	for (size_t i = 0; i < n; i++) {
		const struct fsck_split *p = &lv->v[i / 2];

		ops[i].type = WIRE_OBJ_GET;
		meta_key_shard(f->inos[p->di].ino, (uint8_t)(p->depth + 1),
		    p->prefix << 1 | (i & 1), &ops[i].key);
	}
	fsck_get_all(f, ops, n);
	for (size_t i = 0; i < n; i++) {
		const struct fsck_split *p = &lv->v[i / 2];
		uint64_t ino = f->inos[p->di].ino;
		struct meta_dir d;

		if (ops[i].rc != 0)
			fsck_incomplete(f, "directory %" PRIx64 ": shard %u/%"
			    PRIx64 ": %s", ino, (unsigned)p->depth + 1,
			    p->prefix << 1 | (i & 1), strerror(-ops[i].rc));
		else if (meta_dir_decode(ops[i].v.data, ops[i].v.len,
		    &d) != 0 || d.depth != p->depth + 1 ||
		    d.prefix != (p->prefix << 1 | (i & 1))) {
			meta_dir_free(&d);
			fsck_incomplete(f, "directory %" PRIx64 ": a shard "
			    "record does not decode", ino);
		} else {
			fsck_dir_shard(f, p->di, &d, ops[i].v.version, next);
			meta_dir_free(&d);
		}
		kv_value_free(&ops[i].v);
	}
	free(ops);
}

/* Read the directories of inos idx[0, n): root shards, then the rest
 * level by level. */
static void
fsck_read_dirs(struct fsck *f, const size_t *idx, size_t n)
{
	struct kv_op *ops = xcalloc(n ? n : 1, sizeof *ops);
	struct fsck_splits lv = { 0 }, next = { 0 }, t;

	for (size_t i = 0; i < n; i++) {
		ops[i].type = WIRE_OBJ_GET;
		meta_key_dir(f->inos[idx[i]].ino, &ops[i].key);
	}
	fsck_get_all(f, ops, n);
	for (size_t i = 0; i < n; i++) {
		struct meta_dir d;
		uint64_t ino = f->inos[idx[i]].ino;

		if (ops[i].rc != 0)
			fsck_incomplete(f, "directory %" PRIx64 ": %s", ino,
			    strerror(-ops[i].rc));
		else if (meta_dir_decode(ops[i].v.data, ops[i].v.len, &d) != 0
		    || d.depth != 0) {
			meta_dir_free(&d);
			fsck_incomplete(f, "directory %" PRIx64 ": the record "
			    "does not decode", ino);
		} else {
			f->inos[idx[i]].dir_read = true;
			fsck_dir_shard(f, idx[i], &d, ops[i].v.version, &lv);
			meta_dir_free(&d);
		}
		kv_value_free(&ops[i].v);
	}
	free(ops);
	while (lv.n > 0) {
		next.n = 0;
		fsck_read_shards(f, &lv, &next);
		t = lv;
		lv = next;
		next = t;
	}
	free(lv.v);
	free(next.v);
}

/*
 * Walk from the inodes at index from on: read the inode records not read
 * yet, then the directories among them, level by level, until no new
 * inode turns up.  Entries pointing at an inode read earlier just count.
 */
static void
fsck_walk_from(struct fsck *f, size_t from)
{
	size_t *idx = NULL, cap = 0;

	while (from < f->ninos) {
		size_t end = f->ninos, n = 0;

		if (end - from > cap) {
			cap = end - from;
			idx = xreallocarray(idx, cap, sizeof *idx);
		}
		for (size_t i = from; i < end; i++) {
			if (!f->inos[i].have && !f->inos[i].missing)
				idx[n++] = i;
		}
		fsck_read_inodes(f, idx, n);
		n = 0;
		for (size_t i = from; i < end; i++) {
			if (f->inos[i].have && S_ISDIR(f->inos[i].in.mode) &&
			    !f->inos[i].dir_read)
				idx[n++] = i;
		}
		fsck_read_dirs(f, idx, n);
		from = end;
	}
	free(idx);
}

/*
 * Unreached live objects small enough to be an inode record: read them,
 * and take those that decode as a version 3 inode whose own key they are
 * into the tables, as nameless.  Returns the first new index.
 */
static size_t
fsck_find_nameless(struct fsck *f)
{
	size_t n = 0, cap = 0, first = f->ninos;
	struct kv_op *ops = NULL;

	for (size_t s = 0; s < f->objs.cap; s++) {
		const struct fsck_obj *o = &f->objs.v[s];

		if (o->version == 0 || o->tomb || o->state != FSCK_O_UNSEEN ||
		    o->len > FSCK_INODE_LEN_MAX)
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			ops = xreallocarray(ops, cap, sizeof *ops);
		}
		memset(&ops[n], 0, sizeof ops[n]);
		ops[n].type = WIRE_OBJ_GET;
		ops[n].key = o->key;
		ops[n++].len = o->len;
	}
	fsck_phase(f, "unreached objects read", n);
	fsck_get_all(f, ops, n);
	for (size_t i = 0; i < n; i++) {
		struct meta_inode in;
		struct hash_key k;
		struct fsck_ino *ni;

		if (ops[i].rc == 0 && meta_inode_decode(ops[i].v.data,
		    ops[i].v.len, &in) == 0) {
			meta_key_inode(in.ino, &k);
			if (in.ino != 0 && k.hi == ops[i].key.hi &&
			    k.lo == ops[i].key.lo &&
			    fsck_ino_find(f, in.ino) == NULL) {
				ni = fsck_ino_add(f, in.ino);
				ni->in = in;
				ni->have = ni->nameless = true;
				ni->version = ops[i].v.version;
			} else
				meta_inode_free(&in);
		}
		kv_value_free(&ops[i].v);
	}
	free(ops);
	return first;
}

/* Mark the keys of every inode from index from on. */
static void
fsck_mark_from(struct fsck *f, size_t from)
{
	for (size_t i = from; i < f->ninos; i++) {
		if (!f->inos[i].have)
			continue;
		if (S_ISDIR(f->inos[i].in.mode))
			f->dirs++;
		else
			f->files++;
		fsck_mark_inode(f, &f->inos[i]);
	}
}

/* Drop the NOINODE candidates whose inode turned out to exist. */
static void
fsck_settle_noinode(struct fsck *f)
{
	size_t j = 0;

	for (size_t i = 0; i < f->npb; i++) {
		struct fsck_problem *p = &f->pb[i];
		const struct fsck_ino *c;

		if (p->kind == FSCK_P_NOINODE && ((c = fsck_ino_find(f,
		    p->ino)) == NULL || !c->missing)) {
			free(p->name);
			continue;
		}
		f->pb[j++] = *p;
	}
	f->npb = j;
}

/* Is the name-without-inode problem p quiet (fsck.h)? */
static bool
fsck_noinode_quiet(const struct fsck *f, const struct fsck_problem *p)
{
	struct hash_key k;
	const struct fsck_obj *o;

	if (fsck_quiet(p->version, f->now_us, f->o.grace_s))
		return true;
	/* A tombstone of the inode older than the grace: removed for good. */
	meta_key_inode(p->ino, &k);
	o = fsck_objs_find(&f->objs, &k);
	return o != NULL && o->tomb &&
	    fsck_quiet(o->version, f->now_us, f->o.grace_s);
}

/* Link counts, nameless and unlinked inodes, orphans. */
static void
fsck_classify(struct fsck *f)
{
	uint64_t now = f->now_us, g = f->o.grace_s;

	for (size_t i = 0; i < f->npb; i++) {
		struct fsck_problem *p = &f->pb[i];

		if (p->kind == FSCK_P_NOINODE && !fsck_noinode_quiet(f, p))
			p->outcome = FSCK_R_RECENT;
	}
	for (size_t i = 0; i < f->ninos; i++) {
		const struct fsck_ino *in = &f->inos[i];
		uint32_t want;
		struct fsck_problem *p;

		if (!in->have)
			continue;
		if (in->nameless) {
			p = fsck_problem_add(f, in->in.nlink == 0 ?
			    FSCK_P_UNLINKED : FSCK_P_NONAME, in->ino);
			p->version = in->version;
			if (!fsck_quiet(in->version, now, g))
				p->outcome = FSCK_R_RECENT;
			continue;
		}
		want = fsck_want_nlink(in->in.mode, in->refs, in->subdirs);
		if (in->ino == META_ROOT_INO && !S_ISDIR(in->in.mode))
			want = in->in.nlink;
		if (in->in.nlink == want || in->refs == 0)
			continue;
		p = fsck_problem_add(f, FSCK_P_NLINK, in->ino);
		p->have = in->in.nlink;
		p->want = want;
		p->version = in->version;
		if (!fsck_quiet(in->version, now, g) ||
		    !fsck_quiet(in->parents_version, now, g) ||
		    (S_ISDIR(in->in.mode) &&
		    !fsck_quiet(in->dir_version, now, g)))
			p->outcome = FSCK_R_RECENT;
	}
	/* Unreached because a read failed is no orphan: say nothing. */
	for (size_t s = 0; s < f->objs.cap && !f->incomplete; s++) {
		const struct fsck_obj *o = &f->objs.v[s];
		struct fsck_problem *p;

		if (o->version == 0 || o->tomb || o->state != FSCK_O_UNSEEN)
			continue;
		p = fsck_problem_add(f, FSCK_P_ORPHAN, 0);
		p->key = o->key;
		p->version = o->version;
		if (!fsck_quiet(o->version, now, g))
			p->outcome = FSCK_R_RECENT;
	}
}

/* The fixed names of the file system (not per inode). */
static void
fsck_mark_fixed(struct fsck *f)
{
	static const char *const names[] = { FSCK_LEASE_KEY, FSCK_SWEEP_KEY };
	struct hash_key k;

	struct fsck_obj *o;

	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		hash_key_of(names[i], strlen(names[i]), &k);
		if ((o = fsck_objs_find(&f->objs, &k)) != NULL)
			o->state = FSCK_O_KNOWN;
	}
}

/* The scan (see fsck.h). */
int
fsck_scan(struct fsck *f)
{
	struct fsck_ino *root;
	size_t first;

	f->now_us = fsck_now_us();
	if (fsck_inventory(f) == -1) {
		f->operr = true;
		return -1;
	}
	fsck_phase(f, "objects walked", f->objs.n);
	root = fsck_ino_add(f, META_ROOT_INO);
	root->refs = 1;		/* the mount point */
	fsck_walk_from(f, 0);
	if (!f->inos[0].have) {
		fsck_phase(f, NULL, 0);
		fprintf(stderr, "canfs-fsck: no root directory (inode 1): %s\n",
		    f->incomplete ? f->why : "not found (no file system here)");
		f->operr = true;
		return -1;
	}
	fsck_mark_fixed(f);
	fsck_mark_from(f, 0);
	if (!f->incomplete) {
		first = fsck_find_nameless(f);
		fsck_walk_from(f, first);
		fsck_mark_from(f, first);
	}
	fsck_settle_noinode(f);
	fsck_phase(f, NULL, 0);
	fsck_classify(f);
	if (f->incomplete || f->unlisted > 0)
		f->operr = true;
	return 0;
}
