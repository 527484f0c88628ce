/* repair.c: transfers, anti-entropy and tombstone expiry (see repair.h). */
#include <sys/queue.h>

#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "conn.h"
#include "log.h"
#include "node.h"
#include "objects.h"
#include "repair.h"
#include "replica.h"
#include "resolve.h"
#include "rpc.h"
#include "store.h"
#include "xmalloc.h"

#define REPAIR_DRAIN_MS 10
#define REPAIR_CONN_HIGH (8u << 20)	/* stop feeding a peer above this */
#define REPAIR_RESOLVES 64		/* replica-set lookups in flight */
#define REPAIR_DIGEST_MAX 8192		/* entries per digest frame */
#define REPAIR_DIGEST_TIMEOUT_MS 15000
#define REPAIR_LIST_MAX 4096
/*
 * Records a pass reads (and hashes) per slice; the pass yields to the
 * event loop between slices, so a large store never stalls heartbeats.
 */
#define REPAIR_SCAN_SLICE 1024
#define REPAIR_SCAN_BYTES (8u << 20)	/* ...and at most this much data */

/* One replica to send, or a frame to send after the ones before it. */
struct push {
	struct store_id src;	/* local record */
	struct store_id dst;	/* its id at the receiver */
	char addr[WIRE_ADDR_MAX];
	struct wbuf then;	/* marker: this frame, no replica */
	bool marker;
	TAILQ_ENTRY(push) entry;
};
TAILQ_HEAD(push_list, push);

/* A local replica under review in a pass. */
struct rep_item {
	struct store_id id;
	uint64_t version;
	bool mine;	/* in the replica set, at this index, in our zone */
	bool primary;	/* ours is the primary copy (slot 0 of the set) */
	bool tomb;	/* a tombstone */
	bool failed;	/* something unconfirmed: keep it */
	int need, confirms;
};

/* The digest being built for one peer. */
struct rep_peer {
	uint64_t id;
	char addr[WIRE_ADDR_MAX];
	struct wire_summary_entry *e;
	uint32_t *item;	/* item index behind each entry */
	uint32_t n, cap;
};

/* An outstanding digest: which entries of which peer. */
struct rep_digest {
	size_t peer;
	uint32_t start, count;
};

struct repair {
	struct event *drain;
	struct push_list urgent;	/* transfers: not rate-limited */
	struct push_list background;	/* repair pushes */
	bool running, requested, resolving_loop;
	uint64_t next_ms;
	struct rep_item *items;
	size_t nitems, cap, next_resolve;
	int resolving, digests;
	struct rep_peer *peers;
	size_t npeers;
	uint64_t pass_start_ms;
	uint32_t pass_epoch;	/* our zones' epoch when the pass began */
	struct event *scan;		/* the next slice of a pass's scan */
	bool scan_resume;		/* scan_after is valid */
	struct store_id scan_after;	/* last record of the previous slice */
	uint64_t passes, pushed, deleted, expired;
	uint64_t transferred;		/* replicas sent by transfers */
	uint64_t xfer_total, xfer_done;	/* transfers since last reset */
	/* Replicas (not markers) in urgent and in background, for stats. */
	uint64_t nurgent, nbackground;
	uint64_t under;			/* see repair_counts() */
	uint64_t last_pass_ms;		/* how long the last pass took */
};

static void repair_finish_pass(struct node *n);

/* Arm the drain timer. */
static void
repair_kick(struct node *n)
{
	struct timeval tv = { 0, REPAIR_DRAIN_MS * 1000 };

	if (!evtimer_pending(n->repair->drain, NULL))
		evtimer_add(n->repair->drain, &tv);
}

/* Send one queued replica (or marker frame); false = stop for now. */
static bool
repair_send_one(struct node *n, struct push_list *q, int64_t *budget,
    bool limited)
{
	struct push *p = TAILQ_FIRST(q);
	struct store_meta meta;
	struct conn *c;
	void *data;
	size_t len;

	c = transport_peer(n->transport, p->addr);
	if (c != NULL && conn_pending(c) > REPAIR_CONN_HIGH)
		return false;
	if (limited && *budget <= 0)
		return false;
	TAILQ_REMOVE(q, p, entry);
	if (!p->marker && limited)
		n->repair->nbackground--;
	else if (!p->marker)
		n->repair->nurgent--;
	if (c == NULL) {
		/* Unparseable address: nothing to do. */
	} else if (p->marker) {
		conn_send(c, &p->then);
	} else if (store_get(n->store, &p->src, &meta, &data, &len) == 0) {
		objects_send_xfer(n, c, &p->dst, &meta, data, len);
		*budget -= (int64_t)len + 64;
		if (limited)
			n->repair->pushed++;
		else
			n->repair->transferred++;
		free(data);
	}
	if (!p->marker && !limited)
		n->repair->xfer_done++;
	wbuf_free(&p->then);
	free(p);
	return true;
}

/* Feed queued transfers to peers, within the rate limit and buffers. */
static void
repair_drain_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct node *n = arg;
	struct repair *r = n->repair;
	int64_t budget = (int64_t)n->cfg.repair_mbps * 1048576 *
	    REPAIR_DRAIN_MS / 1000;

	(void)fd;
	(void)ev;
	while (!TAILQ_EMPTY(&r->urgent) &&
	    repair_send_one(n, &r->urgent, &budget, false))
		;
	while (TAILQ_EMPTY(&r->urgent) && !TAILQ_EMPTY(&r->background) &&
	    repair_send_one(n, &r->background, &budget, true))
		;
	if (!TAILQ_EMPTY(&r->urgent) || !TAILQ_EMPTY(&r->background))
		repair_kick(n);
}

/* Queue one replica for sending. */
static void
repair_queue(struct node *n, bool urgent, const struct store_id *src,
    const struct store_id *dst, const char *addr)
{
	struct push *p = xcalloc(1, sizeof *p);

	p->src = *src;
	p->dst = *dst;
	snprintf(p->addr, sizeof p->addr, "%s", addr);
	TAILQ_INSERT_TAIL(urgent ? &n->repair->urgent : &n->repair->background,
	    p, entry);
	if (urgent)
		n->repair->nurgent++;
	else
		n->repair->nbackground++;
	repair_kick(n);
}

/* Collect ids of a zone's replicas (no writes inside iteration). */
struct id_list {
	struct store_id *v;
	size_t n, cap;
};

static int
repair_collect_id_cb(const struct store_id *id, const struct store_meta *meta,
    const void *data, size_t len, void *arg)
{
	struct id_list *l = arg;

	(void)meta;
	(void)data;
	(void)len;
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 256;
		l->v = xreallocarray(l->v, l->cap, sizeof *l->v);
	}
	l->v[l->n++] = *id;
	return 0;
}

/* Collect ids of good replicas only (what we may send). */
static int
repair_collect_good_cb(const struct store_id *id,
    const struct store_meta *meta, const void *data, size_t len, void *arg)
{
	if (meta->flags & STORE_F_CORRUPT)
		return 0;
	return repair_collect_id_cb(id, meta, data, len, arg);
}

/* Stream zones' replicas to addr, then send `then`. */
void
repair_stream_zones(struct node *n, const char *addr,
    const struct geom_zone *z, int nz, struct wbuf *then)
{
	struct id_list l = { NULL, 0, 0 };
	struct push *p;

	if (n->repair == NULL) {
		/* No data layer (the simulator's nodes): just the frame. */
		conn_send(transport_peer(n->transport, addr), then);
		wbuf_free(then);
		wbuf_init(then);
		return;
	}
	/*
	 * Iteration sees committed records only: wait for the writes queued
	 * before the zone changed hands (one commit, rare: joins and leaves).
	 */
	store_commit(n->store);
	/* Ids only: each push reads (and verifies) its record again. */
	for (int i = 0; i < nz; i++)
		store_iter_zone_flags(n->store, &z[i], STORE_ITER_NOVERIFY,
		    repair_collect_good_cb, &l);
	for (size_t i = 0; i < l.n; i++)
		repair_queue(n, true, &l.v[i], &l.v[i], addr);
	n->repair->xfer_total += l.n;
	if (l.n > 0)
		log_info("streaming %zu replicas to %s", l.n, addr);
	free(l.v);
	p = xcalloc(1, sizeof *p);
	p->marker = true;
	p->then = *then;
	wbuf_init(then);
	snprintf(p->addr, sizeof p->addr, "%s", addr);
	TAILQ_INSERT_TAIL(&n->repair->urgent, p, entry);
	repair_drain_cb(-1, 0, n);
}

/* Counters and queue lengths (see repair.h). */
void
repair_counts(struct node *n, struct repair_counts *rc)
{
	struct repair *r = n->repair;

	memset(rc, 0, sizeof *rc);
	if (r == NULL)
		return;
	rc->passes = r->passes;
	rc->pushed = r->pushed;
	rc->transferred = r->transferred;
	rc->deleted = r->deleted;
	rc->expired = r->expired;
	rc->backlog = r->nbackground;
	rc->transfer_backlog = r->nurgent;
	rc->under_replicated = r->under;
	rc->last_pass_ms = r->last_pass_ms;
}

/* Transfers (join, leave, reassignment) queued and sent so far. */
void
repair_transfer_progress(struct node *n, uint64_t *done, uint64_t *total)
{
	*done = n->repair ? n->repair->xfer_done : 0;
	*total = n->repair ? n->repair->xfer_total : 0;
}

/* Drop every local replica. */
void
repair_wipe(struct node *n)
{
	struct id_list l = { NULL, 0, 0 };
	struct geom_zone whole;

	if (n->repair == NULL)
		return;
	geom_zone_whole(&whole, n->cfg.dims);
	store_iter_zone_flags(n->store, &whole, STORE_ITER_NOVERIFY,
	    repair_collect_id_cb, &l);
	for (size_t i = 0; i < l.n; i++)
		store_delete(n->store, &l.v[i]);
	if (store_commit(n->store) != 0)
		log_error("could not drop local replicas after leaving");
	else if (l.n > 0)
		log_info("dropped %zu local replicas after the handover", l.n);
	free(l.v);
}

/* ---- anti-entropy -------------------------------------------------- */

/* Add an entry for item to the digest of the member's owner. */
static void
repair_digest_add(struct repair *r, const struct replica *m,
    const struct rep_item *it, uint32_t item)
{
	struct rep_peer *p = NULL;
	struct wire_summary_entry *e;

	for (size_t i = 0; i < r->npeers; i++) {
		if (r->peers[i].id == m->id)
			p = &r->peers[i];
	}
	if (p == NULL) {
		r->peers = xreallocarray(r->peers, r->npeers + 1,
		    sizeof *r->peers);
		p = &r->peers[r->npeers++];
		memset(p, 0, sizeof *p);
		p->id = m->id;
		memcpy(p->addr, m->addr, sizeof p->addr);
	}
	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 64;
		p->e = xreallocarray(p->e, p->cap, sizeof *p->e);
		p->item = xreallocarray(p->item, p->cap, sizeof *p->item);
	}
	e = &p->e[p->n];
	memset(e, 0, sizeof *e);
	e->point = m->p;
	e->key = it->id.key;
	e->index = m->index;
	e->version = it->version;
	p->item[p->n++] = item;
}

/* Put a copy of our replica at another index of ours (set changed). */
static void
repair_local_copy(struct node *n, const struct rep_item *it,
    const struct replica *m)
{
	struct store_meta meta;
	struct store_id dst = it->id;
	struct wire_obj o;
	void *data;
	size_t len;

	if (store_get(n->store, &it->id, &meta, &data, &len) != 0)
		return;
	dst.point = m->p;
	dst.replica = m->index;
	objects_obj_from_store(n, &dst, &meta, data, len, &o);
	replica_store_if_newer(n, &o);
	free(data);
}

static void repair_resolve_more(struct node *n);
static void repair_send_digests(struct node *n);

/* One item's replica set is known. */
static void
repair_resolved_cb(struct node *n, void *arg, const struct replset *rs,
    int err)
{
	struct repair *r = n->repair;
	uint32_t idx = (uint32_t)(uintptr_t)arg;
	struct rep_item *it = &r->items[idx];

	r->resolving--;
	if (err != 0) {
		it->failed = true;
	} else {
		it->mine = resolve_has(rs, it->id.replica, n->self.id) &&
		    nbr_node_contains(&n->self, &it->id.point, n->cfg.dims);
		it->primary = it->mine && rs->n > 0 &&
		    rs->r[0].id == n->self.id &&
		    rs->r[0].index == it->id.replica;
		for (int i = 0; i < rs->n; i++) {
			const struct replica *m = &rs->r[i];

			if (m->id != n->self.id) {
				repair_digest_add(r, m, it, idx);
				it->need++;
			} else if (m->index != it->id.replica) {
				repair_local_copy(n, it, m);
			}
		}
	}
	if (!r->resolving_loop)
		repair_resolve_more(n);
}

/* Keep up to REPAIR_RESOLVES lookups going; then send digests. */
static void
repair_resolve_more(struct node *n)
{
	struct repair *r = n->repair;

	r->resolving_loop = true;
	while (r->resolving < REPAIR_RESOLVES && r->next_resolve < r->nitems) {
		size_t i = r->next_resolve++;

		r->resolving++;
		resolve_replicas(n, &r->items[i].id.key, false,
		    repair_resolved_cb, (void *)(uintptr_t)i);
	}
	r->resolving_loop = false;
	if (r->resolving == 0 && r->next_resolve == r->nitems)
		repair_send_digests(n);
}

/* A peer answered a digest with what it lacks. */
static void
repair_digest_cb(struct node *n, void *arg, const struct wire_header *h,
    const uint8_t *body)
{
	struct repair *r = n->repair;
	struct rep_digest *d = arg;
	struct rep_peer *p = &r->peers[d->peer];
	struct wire_want wt;
	bool ok = h != NULL && h->type == WIRE_OBJ_WANT &&
	    wire_want_decode(body, h->len, &wt) == 0;
	uint8_t *state = xcalloc(d->count ? d->count : 1, 1);

	if (!ok) {
		log_warnx("repair: %s did not answer a digest", p->addr);
		for (uint32_t i = 0; i < d->count; i++)
			r->items[p->item[d->start + i]].failed = true;
	} else {
		for (uint32_t i = 0; i < wt.n; i++)
			if (wt.pos[i] < d->count)
				state[wt.pos[i]] = 1;
		for (uint32_t i = 0; i < wt.nwrong; i++)
			if (wt.wrong[i] < d->count)
				state[wt.wrong[i]] = 2;
		for (uint32_t i = 0; i < d->count; i++) {
			uint32_t e = d->start + i;
			struct rep_item *it = &r->items[p->item[e]];
			struct store_id dst;

			if (state[i] == 0) {
				it->confirms++;
				continue;
			}
			it->failed = true;
			if (state[i] == 2)
				route_cache_forget_point(&n->cache,
				    &p->e[e].point, n->cfg.dims);
			if (state[i] == 1) {
				dst = it->id;
				dst.point = p->e[e].point;
				dst.replica = p->e[e].index;
				repair_queue(n, false, &it->id, &dst, p->addr);
			}
		}
		wire_want_free(&wt);
	}
	free(state);
	free(d);
	if (--r->digests == 0)
		repair_finish_pass(n);
}

/* Send every peer its digest, in chunks. */
static void
repair_send_digests(struct node *n)
{
	struct repair *r = n->repair;

	r->digests = 1; /* held while sending, so no chunk ends the pass */
	for (size_t i = 0; i < r->npeers; i++) {
		struct rep_peer *p = &r->peers[i];

		for (uint32_t start = 0; start < p->n;
		    start += REPAIR_DIGEST_MAX) {
			struct rep_digest *d = xcalloc(1, sizeof *d);
			struct wire_summary s;
			struct conn *c;
			struct wbuf w;
			uint64_t reqid;

			d->peer = i;
			d->start = start;
			d->count = p->n - start < REPAIR_DIGEST_MAX ?
			    p->n - start : REPAIR_DIGEST_MAX;
			s.dims = n->cfg.dims;
			s.n = d->count;
			s.e = p->e + start;
			c = transport_peer(n->transport, p->addr);
			r->digests++;
			reqid = rpc_new_on(n, c ? conn_serial(c) : 0,
			    repair_digest_cb, d,
			    c ? REPAIR_DIGEST_TIMEOUT_MS : 0);
			if (c == NULL)
				continue;
			wbuf_init(&w);
			wire_frame_begin(&w, WIRE_OBJ_DIGEST, 0, reqid);
			wire_summary_encode(&w, &s);
			wire_frame_end(&w);
			conn_send(c, &w);
			wbuf_free(&w);
		}
	}
	if (--r->digests == 0)
		repair_finish_pass(n);
}

/* Items gathered for a pass, and tombstones past their time. */
struct rep_collect {
	struct node *n;
	uint64_t expire_before_ms;
	struct id_list expired;
	size_t budget;		/* records left in this slice */
	uint64_t bytes;		/* data bytes read in this slice */
	bool stopped;		/* the slice ended before the store did */
	struct store_id last;	/* the last record seen */
};

static int
repair_item_cb(const struct store_id *id, const struct store_meta *meta,
    const void *data, size_t len, void *arg)
{
	struct rep_collect *rc = arg;
	struct repair *r = rc->n->repair;
	struct rep_item *it;

	/*
	 * Expired tombstones go; so do corrupt copies: once dropped, the
	 * other members' digests find them missing and push good ones.
	 */
	if ((meta->flags & STORE_F_CORRUPT) ||
	    ((meta->flags & STORE_F_TOMBSTONE) &&
	    meta->mtime_ms < rc->expire_before_ms)) {
		if (meta->flags & STORE_F_CORRUPT)
			log_warnx("repair: dropping a corrupt replica; the "
			    "other replicas will restore it");
		return repair_collect_id_cb(id, meta, data, len,
		    &rc->expired);
	}
	if (r->nitems == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 1024;
		r->items = xreallocarray(r->items, r->cap, sizeof *r->items);
	}
	it = &r->items[r->nitems++];
	memset(it, 0, sizeof *it);
	it->id = *id;
	it->version = meta->version;
	it->tomb = (meta->flags & STORE_F_TOMBSTONE) != 0;
	return 0;
}

/* repair_item_cb() within the slice's budget. */
static int
repair_slice_cb(const struct store_id *id, const struct store_meta *meta,
    const void *data, size_t len, void *arg)
{
	struct rep_collect *rc = arg;

	(void)repair_item_cb(id, meta, data, len, arg);
	rc->last = *id;
	rc->bytes += len;
	if (--rc->budget == 0 || rc->bytes >= REPAIR_SCAN_BYTES) {
		rc->stopped = true;
		return 1;
	}
	return 0;
}

/* One slice of a pass's scan; the next one, or the lookups, follow. */
static void
repair_scan_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct node *n = arg;
	struct repair *r = n->repair;
	struct rep_collect rc;
	struct geom_zone whole;
	uint64_t now = objects_wall_ms(), ttl;

	(void)fd;
	(void)ev;
	ttl = (uint64_t)n->cfg.tombstone_sec * 1000;
	memset(&rc, 0, sizeof rc);
	rc.n = n;
	rc.expire_before_ms = now > ttl ? now - ttl : 0;
	rc.budget = REPAIR_SCAN_SLICE;
	geom_zone_whole(&whole, n->cfg.dims);
	store_iter_zone_after(n->store, &whole, r->scan_resume ?
	    &r->scan_after : NULL, 0, repair_slice_cb, &rc);
	for (size_t i = 0; i < rc.expired.n; i++)
		if (store_delete(n->store, &rc.expired.v[i]) == 0)
			r->expired++;
	free(rc.expired.v);
	if (rc.stopped) {
		r->scan_after = rc.last;
		r->scan_resume = true;
		event_active(r->scan, 0, 0);
		return;
	}
	repair_resolve_more(n);
}

/* Begin a pass over every local replica. */
static void
repair_start_pass(struct node *n)
{
	struct repair *r = n->repair;

	r->running = true;
	r->requested = false;
	r->pass_start_ms = node_now_ms();
	r->pass_epoch = n->self.epoch;
	r->nitems = r->next_resolve = 0;
	r->scan_resume = false;
	event_active(r->scan, 0, 0);
}

/*
 * May this pass drop the copies it found misplaced?  Not when our zones
 * changed while it ran (what was "not ours" at its start may be ours
 * again: a takeover of us given back), nor while our space is contested
 * or newly gained (node.h, gained_ms): ownership is still moving, and
 * two nodes that each saw the other as owner could drop both copies.
 * fs_resilience lost a chunk that way once in 30 runs, after two daemons
 * stalled under load took each other's zones and gave them back.  The
 * copies wait for a later pass.
 */
static bool
repair_may_drop(struct node *n)
{
	struct repair *r = n->repair;
	uint64_t window = 2000 * (uint64_t)n->cfg.repair_sec + 5000;

	if (n->self.epoch != r->pass_epoch) {
		log_info("repair: our zones changed during the pass; misplaced "
		    "copies are kept for now");
		return false;
	}
	return n->gained_ms == 0 || node_now_ms() - n->gained_ms >= window;
}

/* The pass is over: drop what is confirmed elsewhere and not ours. */
static void
repair_finish_pass(struct node *n)
{
	struct repair *r = n->repair;
	size_t dropped = 0, queued = 0;
	uint64_t under = 0;
	struct push *p;
	bool may_drop = repair_may_drop(n);

	for (size_t i = 0; i < r->nitems; i++) {
		struct rep_item *it = &r->items[i];
		struct store_meta cur;

		/* Our copy plus those the other members confirmed. */
		if (it->primary && !it->tomb &&
		    1 + it->confirms < n->cfg.replicas)
			under++;
		if (!may_drop || it->mine || it->failed ||
		    it->confirms < it->need)
			continue;
		/*
		 * Only the version every member confirmed, not a newer one
		 * (queued writes included: they would be deleted with it).
		 */
		if (store_peek_meta(n->store, &it->id, &cur) == 0 &&
		    cur.version == it->version &&
		    store_delete(n->store, &it->id) == 0)
			dropped++;
	}
	TAILQ_FOREACH(p, &r->background, entry)
		queued++;
	r->deleted += dropped;
	r->passes++;
	r->under = under;
	r->last_pass_ms = node_now_ms() - r->pass_start_ms;
	log_info("repair pass %" PRIu64 ": %zu replicas checked, %zu pushes "
	    "queued, %zu misplaced copies dropped, %" PRIu64 " ms",
	    r->passes, r->nitems, queued, dropped,
	    node_now_ms() - r->pass_start_ms);
	for (size_t i = 0; i < r->npeers; i++) {
		free(r->peers[i].e);
		free(r->peers[i].item);
	}
	free(r->peers);
	r->peers = NULL;
	r->npeers = 0;
	r->nitems = 0;
	r->running = false;
	r->next_ms = node_now_ms() + (uint64_t)n->cfg.repair_sec * 1000;
	if (r->requested)
		r->next_ms = 0;
}

/* Start a pass soon. */
void
repair_request(struct node *n)
{
	if (n->repair == NULL)
		return;
	n->repair->requested = true;
	if (!n->repair->running)
		n->repair->next_ms = 0;
}

/* Start the periodic pass when due. */
void
repair_tick(struct node *n, uint64_t now)
{
	struct repair *r = n->repair;

	if (r == NULL || r->running || n->state != NODE_ACTIVE || now < r->next_ms)
		return;
	repair_start_pass(n);
}

/* A peer's digest: say which of its entries we lack or do not own. */
static void
repair_on_digest(struct node *n, struct conn *c, const struct wire_header *h,
    const uint8_t *body)
{
	struct wire_summary s;
	struct wire_want wt;
	struct wbuf w;

	if (wire_summary_decode(body, h->len, &s) != 0 ||
	    s.dims != n->cfg.dims) {
		log_warnx("%s: malformed OBJ_DIGEST; dropping connection",
		    conn_name(c));
		wire_summary_free(&s);
		conn_close(c, "malformed frame");
		return;
	}
	memset(&wt, 0, sizeof wt);
	wt.pos = xcalloc(s.n ? s.n : 1, sizeof *wt.pos);
	wt.wrong = xcalloc(s.n ? s.n : 1, sizeof *wt.wrong);
	for (uint32_t i = 0; i < s.n; i++) {
		struct store_id id;
		struct store_meta cur;

		store_id_make(&s.e[i].key, s.e[i].index, n->cfg.dims, &id);
		if (memcmp(&id.point, &s.e[i].point, sizeof id.point) != 0 ||
		    !nbr_node_contains(&n->self, &id.point, n->cfg.dims)) {
			wt.wrong[wt.nwrong++] = i;
			continue;
		}
		/*
		 * Committed, and not about to go (a drop or a handover of
		 * ours queued): the sender drops its copy on our word.
		 */
		if (store_get_meta(n->store, &id, &cur) != 0 ||
		    cur.version < s.e[i].version ||
		    store_peek_meta(n->store, &id, &cur) != 0 ||
		    cur.version < s.e[i].version)
			wt.pos[wt.n++] = i;
	}
	wbuf_init(&w);
	wire_frame_begin(&w, WIRE_OBJ_WANT, 0, h->reqid);
	wire_want_encode(&w, &wt);
	wire_frame_end(&w);
	conn_send(c, &w);
	wbuf_free(&w);
	wire_want_free(&wt);
	wire_summary_free(&s);
}

/* Entries of a LIST reply, gathered from the store. */
struct rep_list {
	uint32_t skip, n;
	bool more;
	struct wire_summary_entry e[REPAIR_LIST_MAX];
};

static int
repair_list_cb(const struct store_id *id, const struct store_meta *meta,
    const void *data, size_t len, void *arg)
{
	struct rep_list *l = arg;
	struct wire_summary_entry *e;

	if (l->skip > 0) {
		l->skip--;
		return 0;
	}
	if (l->n == REPAIR_LIST_MAX) {
		l->more = true;
		return 1;
	}
	e = &l->e[l->n++];
	e->point = id->point;
	e->key = id->key;
	e->index = id->replica;
	e->version = meta->version;
	e->flags = meta->flags & STORE_F_TOMBSTONE;
	e->len = (uint32_t)len;
	e->ok = !(meta->flags & STORE_F_CORRUPT) &&
	    hash_checksum(data, len) == meta->checksum;
	return 0;
}

/* canctl verify: our replicas, a page at a time. */
static void
repair_on_list(struct node *n, struct conn *c, const struct wire_header *h,
    const uint8_t *body)
{
	struct rep_list *l = xcalloc(1, sizeof *l);
	struct geom_zone whole;
	struct wire_summary s;
	struct rbuf rb;
	struct wbuf w;

	rbuf_init(&rb, body, h->len);
	l->skip = rbuf_get_u32(&rb);
	if (rb.err || rbuf_left(&rb) != 0) {
		node_send_error(c, h->reqid, WIRE_E_PROTO, "malformed LIST_REQ");
		free(l);
		return;
	}
	/* Each entry's checksum is computed below; skipped ones not at all. */
	geom_zone_whole(&whole, n->cfg.dims);
	store_iter_zone_flags(n->store, &whole, STORE_ITER_NOVERIFY,
	    repair_list_cb, l);
	s.dims = n->cfg.dims;
	s.n = l->n;
	s.e = l->e;
	wbuf_init(&w);
	wire_frame_begin(&w, WIRE_LIST, l->more ? 1 : 0, h->reqid);
	wire_summary_encode(&w, &s);
	wire_frame_end(&w);
	conn_send(c, &w);
	wbuf_free(&w);
	free(l);
}

/* DIGEST, LIST_REQ, REPAIR_REQ. */
void
repair_frame(struct node *n, struct conn *c, const struct wire_header *h,
    const uint8_t *body)
{
	switch (h->type) {
	case WIRE_OBJ_DIGEST:
		repair_on_digest(n, c, h, body);
		break;
	case WIRE_LIST_REQ:
		repair_on_list(n, c, h, body);
		break;
	case WIRE_REPAIR_REQ:
		log_info("repair pass requested by %s", conn_name(c));
		repair_request(n);
		node_send_empty(c, WIRE_OK, h->reqid);
		break;
	}
}

/* Set up. */
void
repair_init(struct node *n)
{
	struct repair *r = xcalloc(1, sizeof *r);

	TAILQ_INIT(&r->urgent);
	TAILQ_INIT(&r->background);
	r->drain = evtimer_new(n->base, repair_drain_cb, n);
	r->scan = event_new(n->base, -1, 0, repair_scan_cb, n);
	/* Lowest priority: requests and heartbeats go first. */
	event_priority_set(r->scan, 2);
	r->next_ms = node_now_ms() + (uint64_t)n->cfg.repair_sec * 1000;
	n->repair = r;
}

/* Free queued work. */
void
repair_free(struct node *n)
{
	struct repair *r = n->repair;
	struct push *p;

	if (r == NULL)
		return;
	while ((p = TAILQ_FIRST(&r->urgent)) != NULL) {
		TAILQ_REMOVE(&r->urgent, p, entry);
		wbuf_free(&p->then);
		free(p);
	}
	while ((p = TAILQ_FIRST(&r->background)) != NULL) {
		TAILQ_REMOVE(&r->background, p, entry);
		free(p);
	}
	for (size_t i = 0; i < r->npeers; i++) {
		free(r->peers[i].e);
		free(r->peers[i].item);
	}
	free(r->peers);
	free(r->items);
	event_free(r->drain);
	event_free(r->scan);
	free(r);
	n->repair = NULL;
}
