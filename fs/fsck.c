/*
 * fsck.c: fsck's tables, its rules (the grace, link counts, exit status),
 * the keys a reached inode accounts for, progress and rate (fsck.h).
 */
#include <sys/stat.h>

#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fsck.h"
#include "xmalloc.h"


/* Quiet: written more than grace_s before now (the rule in fsck.h). */
bool
fsck_quiet(uint64_t version, uint64_t now_us, uint64_t grace_s)
{
	uint64_t grace_us = grace_s > UINT64_MAX / 1000000 ? UINT64_MAX :
	    grace_s * 1000000;

	/* A version from the future (a skewed clock) is recent. */
	if (version > now_us)
		return false;
	return now_us - version >= grace_us;
}

/* Directories: "." and each subdirectory's ".." (and the parent's name). */
uint32_t
fsck_want_nlink(uint32_t mode, uint32_t refs, uint32_t subdirs)
{
	if (S_ISDIR(mode))
		return subdirs > UINT32_MAX - 2 ? UINT32_MAX : 2 + subdirs;
	return refs;
}

/* The DT_* type of a mode. */
uint8_t
fsck_dtype(uint32_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFDIR: return DT_DIR;
	case S_IFLNK: return DT_LNK;
	case S_IFIFO: return DT_FIFO;
	case S_IFSOCK: return DT_SOCK;
	case S_IFCHR: return DT_CHR;
	case S_IFBLK: return DT_BLK;
	}
	return DT_REG;
}

/* fsck(8)'s bits: 1 fixed, 4 left, 8 the check failed. */
int
fsck_exit_status(const struct fsck *f)
{
	int rc = FSCK_EXIT_CLEAN;

	for (size_t i = 0; i < f->npb; i++) {
		if (f->pb[i].outcome == FSCK_R_FIXED)
			rc |= FSCK_EXIT_FIXED;
		else if (f->pb[i].outcome == FSCK_R_LEFT)
			rc |= FSCK_EXIT_LEFT;
	}
	if (f->operr)
		rc |= FSCK_EXIT_OPERR;
	return rc;
}

/* Slot of k: its own, or the empty one where it would go. */
static size_t
fsck_objs_slot(const struct fsck_objs *t, const struct hash_key *k)
{
	size_t i = (size_t)(k->hi ^ k->lo) & (t->cap - 1);

	while (t->v[i].version != 0 && (t->v[i].key.hi != k->hi ||
	    t->v[i].key.lo != k->lo))
		i = (i + 1) & (t->cap - 1);
	return i;
}

/* Double the table. */
static void
fsck_objs_grow(struct fsck_objs *t)
{
	struct fsck_objs nt = { 0 };

	nt.cap = t->cap ? 2 * t->cap : 1024;
	nt.v = xcalloc(nt.cap, sizeof *nt.v);
	for (size_t i = 0; i < t->cap; i++) {
		if (t->v[i].version != 0)
			nt.v[fsck_objs_slot(&nt, &t->v[i].key)] = t->v[i];
	}
	nt.n = t->n;
	free(t->v);
	*t = nt;
}

/* Insert k, or keep the newer of two versions (replicas may lag). */
void
fsck_objs_add(struct fsck_objs *t, const struct hash_key *k,
    uint64_t version, uint32_t len, bool tomb)
{
	struct fsck_obj *o;

	if (version == 0)
		version = 1;	/* 0 marks an empty slot */
	if (t->n + 1 > t->cap / 2)
		fsck_objs_grow(t);
	o = &t->v[fsck_objs_slot(t, k)];
	if (o->version == 0) {
		t->n++;
		o->key = *k;
	} else if (o->version >= version)
		return;
	o->version = version;
	o->len = len;
	o->tomb = tomb;
}

/* The entry of k, or NULL. */
struct fsck_obj *
fsck_objs_find(const struct fsck_objs *t, const struct hash_key *k)
{
	struct fsck_obj *o;

	if (t->cap == 0)
		return NULL;
	o = &t->v[fsck_objs_slot(t, k)];
	return o->version != 0 ? o : NULL;
}

void
fsck_objs_free(struct fsck_objs *t)
{
	free(t->v);
	memset(t, 0, sizeof *t);
}

/* Table slot of ino (open addressing over indices + 1). */
static size_t
fsck_ino_slot(const struct fsck *f, uint64_t ino)
{
	size_t i = (size_t)(ino * 0x9e3779b97f4a7c15ULL >> 17) &
	    (f->ino_tab_cap - 1);

	while (f->ino_tab[i] != 0 && f->inos[f->ino_tab[i] - 1].ino != ino)
		i = (i + 1) & (f->ino_tab_cap - 1);
	return i;
}

/* The entry of ino, or NULL.  Valid until the next fsck_ino_add(). */
struct fsck_ino *
fsck_ino_find(const struct fsck *f, uint64_t ino)
{
	size_t s;

	if (f->ino_tab_cap == 0)
		return NULL;
	s = fsck_ino_slot(f, ino);
	return f->ino_tab[s] != 0 ? &f->inos[f->ino_tab[s] - 1] : NULL;
}

/* Add ino (which must not be there). */
struct fsck_ino *
fsck_ino_add(struct fsck *f, uint64_t ino)
{
	struct fsck_ino *i;

	if (f->ninos + 1 > f->ino_tab_cap / 2) {
		free(f->ino_tab);
		f->ino_tab_cap = f->ino_tab_cap ? 2 * f->ino_tab_cap : 1024;
		f->ino_tab = xcalloc(f->ino_tab_cap, sizeof *f->ino_tab);
		for (size_t j = 0; j < f->ninos; j++)
			f->ino_tab[fsck_ino_slot(f, f->inos[j].ino)] = j + 1;
	}
	if (f->ninos == f->capinos) {
		f->capinos = f->capinos ? 2 * f->capinos : 256;
		f->inos = xreallocarray(f->inos, f->capinos, sizeof *f->inos);
	}
	i = &f->inos[f->ninos++];
	memset(i, 0, sizeof *i);
	i->ino = ino;
	f->ino_tab[fsck_ino_slot(f, ino)] = f->ninos;
	return i;
}

/* Mark k known; true when the inventory has it alive. */
static bool
fsck_known(struct fsck *f, const struct hash_key *k, uint64_t owner)
{
	struct fsck_obj *o = fsck_objs_find(&f->objs, k);

	if (o == NULL || o->tomb)
		return false;
	o->state = FSCK_O_KNOWN;
	o->owner = owner;
	return true;
}

/* Chunk idx of file i: known in the extents, else unrecorded. */
static void
fsck_mark_chunk(struct fsck *f, const struct fsck_ino *i, uint64_t idx)
{
	struct hash_key k;
	struct fsck_obj *o;
	struct fsck_problem *p;

	meta_key_chunk(i->ino, idx, &k);
	if ((o = fsck_objs_find(&f->objs, &k)) == NULL || o->tomb ||
	    o->state != FSCK_O_UNSEEN)
		return;
	f->chunks++;
	o->owner = i->ino;
	if (meta_extents_has(&i->in.ext, idx)) {
		o->state = FSCK_O_KNOWN;
		return;
	}
	o->state = FSCK_O_UNRECORDED;
	p = fsck_problem_add(f, FSCK_P_UNRECORDED, i->ino);
	p->index = idx;
	p->key = k;
	p->version = o->version;
	/* A writer that has not closed yet looks the same. */
	if (!fsck_quiet(o->version, f->now_us, f->o.grace_s))
		p->outcome = FSCK_R_RECENT;
}

/* The keys of a reached inode (see fsck.h). */
void
fsck_mark_inode(struct fsck *f, const struct fsck_ino *i)
{
	const struct meta_extents *x = &i->in.ext;
	uint64_t budget = FSCK_CHUNK_SCAN_MAX, end;
	struct hash_key k;

	meta_key_inode(i->ino, &k);
	(void)fsck_known(f, &k, 0);
	meta_key_lock(i->ino, &k);
	(void)fsck_known(f, &k, 0);
	if (S_ISDIR(i->in.mode)) {
		meta_key_dir(i->ino, &k);
		(void)fsck_known(f, &k, 0);
		for (size_t s = 0; s < i->nshards; s++) {
			uint64_t prefix;
			uint8_t depth;

			meta_shard_of_id(i->shards[s], &depth, &prefix);
			meta_key_shard(i->ino, depth, prefix, &k);
			(void)fsck_known(f, &k, 0);
		}
	}
	/*
	 * A file with inline data stores no chunk: one beside it is what
	 * a move to chunks left when it was cut short (data.c), never
	 * recorded, so an orphan, not an unrecorded chunk to adopt (that
	 * would drop the inline bytes).  No chunk key is computed.
	 */
	if (!S_ISREG(i->in.mode) || i->in.inl_len > 0)
		return;
	for (uint16_t e = 0; e < x->n; e++) {
		for (uint64_t c = x->v[e].first; c < x->v[e].end; c++) {
			if (budget-- == 0)
				goto partial;
			fsck_mark_chunk(f, i, c);
		}
	}
	end = meta_nchunks(i->in.size, i->in.chunk_size);
	if (x->n > 0 && x->v[x->n - 1].end > end)
		end = x->v[x->n - 1].end;
	end = end > UINT64_MAX - FSCK_CHUNK_SLACK ? UINT64_MAX :
	    end + FSCK_CHUNK_SLACK;
	for (uint64_t c = 0; c < end; c++) {
		if (meta_extents_has(x, c))
			continue;
		if (budget-- == 0)
			goto partial;
		fsck_mark_chunk(f, i, c);
	}
	return;
partial:
	if (!f->incomplete)
		snprintf(f->why, sizeof f->why, "inode %" PRIx64 ": more "
		    "than %u chunk keys to compute", i->ino,
		    FSCK_CHUNK_SCAN_MAX);
	f->incomplete = true;
}

/* Record a problem. */
struct fsck_problem *
fsck_problem_add(struct fsck *f, enum fsck_kind kind, uint64_t ino)
{
	struct fsck_problem *p;

	if (f->npb == f->cappb) {
		f->cappb = f->cappb ? 2 * f->cappb : 64;
		f->pb = xreallocarray(f->pb, f->cappb, sizeof *f->pb);
	}
	p = &f->pb[f->npb++];
	memset(p, 0, sizeof *p);
	p->kind = (uint8_t)kind;
	p->ino = ino;
	return p;
}

/* Free what f owns. */
void
fsck_free(struct fsck *f)
{
	fsck_objs_free(&f->objs);
	for (size_t i = 0; i < f->ninos; i++) {
		meta_inode_free(&f->inos[i].in);
		free(f->inos[i].shards);
	}
	free(f->inos);
	free(f->ino_tab);
	for (size_t i = 0; i < f->npb; i++)
		free(f->pb[i].name);
	free(f->pb);
}

/* Report names of the kinds. */
const char *
fsck_kind_name(enum fsck_kind kind)
{
	static const char *const names[FSCK_P_NKINDS] = {
		"name without inode", "inode without name",
		"unlinked inode without name", "wrong link count",
		"unrecorded chunk", "orphan object", "frozen directory shard",
	};

	return kind < FSCK_P_NKINDS ? names[kind] : "?";
}

/* JSON labels of the kinds. */
const char *
fsck_kind_label(enum fsck_kind kind)
{
	static const char *const labels[FSCK_P_NKINDS] = {
		"noinode", "noname", "unlinked", "nlink", "unrecorded",
		"orphan", "frozen",
	};

	return kind < FSCK_P_NKINDS ? labels[kind] : "?";
}

/* Wall clock in microseconds (versions are on the same clock). */
uint64_t
fsck_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/*
 * A new phase of total steps, named by what it counts ("objects walked"):
 * the last phase's line is finished and a new reporter starts, as
 * "canfs-fsck [####....] 45% 123/270 objects walked, ETA 0:12" (quiet
 * with --quiet or --json; on stderr in any case).
 */
void
fsck_phase(struct fsck *f, const char *phase, uint64_t total)
{
	if (f->phase != NULL)
		progress_done(&f->prog);
	f->phase = phase;
	f->done = 0;
	f->total = total;
	if (phase == NULL)
		return;
	progress_init(&f->prog, stderr, "canfs-fsck", phase,
	    f->o.quiet || f->o.json ? PROGRESS_QUIET : PROGRESS_AUTO);
	progress_update(&f->prog, 0, total);
}

/* Steps done in this phase. */
void
fsck_step(struct fsck *f, uint64_t done)
{
	f->done += done;
	if (f->done > f->total)
		f->total = f->done;
	progress_update(&f->prog, f->done, f->total);
}

/* Keep to --rate operations per second over the whole run. */
void
fsck_throttle(struct fsck *f, uint64_t n)
{
	uint64_t due, now;

	if (f->ops_start_us == 0)
		f->ops_start_us = fsck_now_us();
	f->ops += n;
	if (f->o.rate == 0)
		return;
	due = f->ops_start_us + f->ops * 1000000 / f->o.rate;
	now = fsck_now_us();
	if (due > now)
		usleep((useconds_t)(due - now > 10000000 ? 10000000 :
		    due - now));
}
