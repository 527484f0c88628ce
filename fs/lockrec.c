/* lockrec.c: a file's lock record and the rules of locking (lockrec.h). */
#include <stdlib.h>
#include <string.h>

#include "lockrec.h"
#include "xmalloc.h"

#define LOCKREC_ENTRY_BYTES 46	/* encoded size of one entry */

void
lockrec_init(struct lockrec *r)
{
	memset(r, 0, sizeof *r);
}

void
lockrec_free(struct lockrec *r)
{
	free(r->e);
	lockrec_init(r);
}

/* Room for `more` entries. */
static void
lockrec_reserve(struct lockrec *r, size_t more)
{
	if (r->n + more <= r->cap)
		return;
	r->cap = r->n + more < 8 ? 8 : 2 * (r->n + more);
	r->e = xreallocarray(r->e, r->cap, sizeof *r->e);
}

void
lockrec_encode(struct wbuf *w, const struct lockrec *r)
{
	wbuf_put_u8(w, LOCKREC_VERSION);
	wbuf_put_u16(w, (uint16_t)r->n);
	for (size_t i = 0; i < r->n; i++) {
		const struct lockrec_entry *e = &r->e[i];

		wbuf_put_u64(w, e->mount);
		wbuf_put_u64(w, e->owner);
		wbuf_put_u32(w, e->pid);
		wbuf_put_u8(w, e->kind);
		wbuf_put_u8(w, e->type);
		wbuf_put_u64(w, e->start);
		wbuf_put_u64(w, e->end);
		wbuf_put_u64(w, e->expires_ms);
	}
}

/* A valid entry: known kind and type, a range within [0, EOF]. */
static bool
lockrec_entry_valid(const struct lockrec_entry *e)
{
	if (e->kind != LOCKREC_POSIX && e->kind != LOCKREC_FLOCK)
		return false;
	if (e->type != LOCKREC_READ && e->type != LOCKREC_WRITE)
		return false;
	return e->start <= e->end && e->end <= LOCKREC_EOF;
}

int
lockrec_decode(const uint8_t *p, size_t len, struct lockrec *r)
{
	struct rbuf b;
	uint16_t n;

	lockrec_init(r);
	rbuf_init(&b, p, len);
	if (rbuf_get_u8(&b) != LOCKREC_VERSION)
		return -1;
	n = rbuf_get_u16(&b);
	if (b.err || n > LOCKREC_MAX ||
	    rbuf_left(&b) != (size_t)n * LOCKREC_ENTRY_BYTES)
		return -1;
	lockrec_reserve(r, n);
	for (uint16_t i = 0; i < n; i++) {
		struct lockrec_entry *e = &r->e[r->n++];

		e->mount = rbuf_get_u64(&b);
		e->owner = rbuf_get_u64(&b);
		e->pid = rbuf_get_u32(&b);
		e->kind = rbuf_get_u8(&b);
		e->type = rbuf_get_u8(&b);
		e->start = rbuf_get_u64(&b);
		e->end = rbuf_get_u64(&b);
		e->expires_ms = rbuf_get_u64(&b);
		if (b.err || !lockrec_entry_valid(e)) {
			lockrec_free(r);
			return -1;
		}
	}
	return 0;
}

/* Ranges [a, b] and [c, d] overlap. */
static bool
lockrec_overlap(uint64_t a, uint64_t b, uint64_t c, uint64_t d)
{
	return a <= d && c <= b;
}

/* The entry belongs to the requester (same mount, owner and kind). */
static bool
lockrec_mine(const struct lockrec_entry *e, const struct lockrec_req *q)
{
	return e->mount == q->mount && e->owner == q->owner &&
	    e->kind == q->kind;
}

const struct lockrec_entry *
lockrec_conflict(const struct lockrec *r, const struct lockrec_req *q,
    uint64_t now_ms)
{
	for (size_t i = 0; i < r->n; i++) {
		const struct lockrec_entry *e = &r->e[i];

		if (e->expires_ms <= now_ms || e->kind != q->kind ||
		    lockrec_mine(e, q) ||
		    !lockrec_overlap(e->start, e->end, q->start, q->end))
			continue;
		if (e->type == LOCKREC_WRITE || q->type == LOCKREC_WRITE)
			return e;
	}
	return NULL;
}

/* Remove entry i (order is not kept). */
static void
lockrec_remove(struct lockrec *r, size_t i)
{
	r->e[i] = r->e[--r->n];
}

/*
 * The holder's entries lose [start, end].  Its entries are disjoint, so
 * at most one contains the range strictly and splits in two (room for
 * the second half is reserved by the caller).  Entries emptied are
 * marked (kind 0) and compacted away afterwards.
 */
static void
lockrec_cut(struct lockrec *r, const struct lockrec_req *q)
{
	size_t n = r->n, out = 0;

	for (size_t i = 0; i < n; i++) {
		struct lockrec_entry *e = &r->e[i];

		if (!lockrec_mine(e, q) ||
		    !lockrec_overlap(e->start, e->end, q->start, q->end))
			continue;
		if (e->start < q->start && e->end > q->end) {
			struct lockrec_entry right = *e;

			right.start = q->end + 1;
			e->end = q->start - 1;
			r->e[r->n++] = right;
		} else if (e->start < q->start) {
			e->end = q->start - 1;
		} else if (e->end > q->end) {
			e->start = q->end + 1;
		} else {
			e->kind = 0;
		}
	}
	for (size_t i = 0; i < r->n; i++) {
		if (r->e[i].kind != 0)
			r->e[out++] = r->e[i];
	}
	r->n = out;
}

/* Merge the holder's entries of one type that touch entry *at. */
static void
lockrec_merge(struct lockrec *r, size_t at)
{
	bool merged = true;

	while (merged) {
		struct lockrec_entry *a = &r->e[at];

		merged = false;
		for (size_t i = 0; i < r->n; i++) {
			struct lockrec_entry *b = &r->e[i];

			if (i == at || b->mount != a->mount ||
			    b->owner != a->owner || b->kind != a->kind ||
			    b->type != a->type ||
			    (b->end + 1 < a->start || a->end + 1 < b->start))
				continue;
			a->start = a->start < b->start ? a->start : b->start;
			a->end = a->end > b->end ? a->end : b->end;
			if (at == r->n - 1)
				at = i; /* the last moves into i's place */
			lockrec_remove(r, i);
			merged = true;
			break;
		}
	}
}

int
lockrec_apply(struct lockrec *r, const struct lockrec_req *q,
    uint64_t now_ms, uint64_t expires_ms)
{
	for (size_t i = 0; i < r->n; i++) {
		if (r->e[i].expires_ms <= now_ms)
			lockrec_remove(r, i--);
	}
	/* A split adds one entry, a lock one more: unlocks fit up to the cap. */
	if (r->n + (q->type == LOCKREC_UNLOCK ? 1 : 2) > LOCKREC_MAX)
		return -1;
	lockrec_reserve(r, 2);
	lockrec_cut(r, q);
	if (q->type != LOCKREC_UNLOCK) {
		struct lockrec_entry *e = &r->e[r->n++];

		e->mount = q->mount;
		e->owner = q->owner;
		e->pid = q->pid;
		e->kind = q->kind;
		e->type = q->type;
		e->start = q->start;
		e->end = q->end;
		lockrec_merge(r, r->n - 1);
	}
	(void)lockrec_renew(r, q->mount, expires_ms);
	return 0;
}

bool
lockrec_drop_owner(struct lockrec *r, uint64_t mount, uint64_t owner,
    int kind)
{
	bool any = false;

	for (size_t i = 0; i < r->n; i++) {
		if (r->e[i].mount == mount && r->e[i].owner == owner &&
		    r->e[i].kind == kind) {
			lockrec_remove(r, i--);
			any = true;
		}
	}
	return any;
}

bool
lockrec_renew(struct lockrec *r, uint64_t mount, uint64_t expires_ms)
{
	bool any = false;

	for (size_t i = 0; i < r->n; i++) {
		if (r->e[i].mount == mount) {
			r->e[i].expires_ms = expires_ms;
			any = true;
		}
	}
	return any;
}

bool
lockrec_holds(const struct lockrec *r, uint64_t mount, uint64_t now_ms)
{
	for (size_t i = 0; i < r->n; i++) {
		if (r->e[i].mount == mount && r->e[i].expires_ms > now_ms)
			return true;
	}
	return false;
}
