/*
 * replica.c: the replica side of the object store (replica.h): R_GET,
 * R_PUT (as primary, as secondary, CONFIRM) and XFER on the local store,
 * the writes seen lately (idempotence) and the replies that wait for the
 * store's commit thread.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "conn.h"
#include "log.h"
#include "node.h"
#include "objects.h"
#include "replica.h"
#include "resolve.h"
#include "stats.h"
#include "store.h"
#include "xmalloc.h"

/*
 * Writes this node stored lately, by operation id, so that a retried
 * write is answered with its original version (never decided twice),
 * whichever way its version reached us: decided here, replicated here,
 * written back or transferred here (a read repair can bring a version
 * here before the retry of the write that made it).  This table answers
 * at once, queued writes included; the store's op id table (store.h,
 * "Op ids") answers for committed writes of the last five minutes, also
 * after a restart.  Transfers of versions older than SEEN_RECENT_MS
 * (zone streams, repair) are not entered: no retry waits for them.
 */
#define SEEN_MAX (1 << 16)
#define SEEN_BUCKETS (1 << 14)
#define SEEN_RECENT_MS 120000
/*
 * Room a primary wants besides a write's bytes before deciding it
 * (B-tree and copy-on-write pages); with less, ENOSPC at once.
 */
#define REPLICA_SPACE_MARGIN (1u << 20)

struct replica_seen {
	struct wire_opid op;
	struct hash_key key;
	uint64_t version;
	int32_t next;		/* chain in the bucket; -1 ends it */
	bool used;
};


/* A reply held back until the write it reports is durable. */
struct replica_deferred {
	struct node *n;
	uint64_t serial;	/* connection to answer on */
	uint64_t reqid;
	struct store_id id;	/* the record (any local index of its key) */
	uint64_t version;	/* ...must hold this version or a newer one */
	struct wbuf frame;	/* the reply to send then */
};

/* The replica side's state. */
struct replica_state {
	struct event *reap;	/* the store finished a batch */
	struct replica_seen *seen; /* SEEN_MAX entries, a ring */
	int32_t *bucket;	/* SEEN_BUCKETS chain heads */
	uint64_t seen_head;	/* next ring position to fill */
	uint64_t dedup_hits;	/* retried writes answered from memory */
	unsigned long crash_before_ack; /* test hook, see replica_test_crash */
	uint64_t full_logged_ms;	/* last "nearly full" warning */
};

/* ---- writes seen lately (idempotence) ------------------------------ */

/* Chain head for op. */
static int32_t *
replica_seen_bucket(struct replica_state *r, const struct wire_opid *op)
{
	uint64_t h = (op->client ^ (op->seq * 0x9e3779b97f4a7c15ULL));

	return &r->bucket[(h ^ (h >> 29)) % SEEN_BUCKETS];
}

/* Unlink ring entry i from its chain. */
static void
replica_seen_unlink(struct replica_state *r, int32_t i)
{
	int32_t *pp = replica_seen_bucket(r, &r->seen[i].op);

	while (*pp != -1 && *pp != i)
		pp = &r->seen[*pp].next;
	if (*pp == i)
		*pp = r->seen[i].next;
	r->seen[i].used = false;
}

/* Remember that op wrote version of key here (op.client 0: no id). */
static void
replica_seen_add(struct replica_state *r, const struct wire_opid *op,
    const struct hash_key *key, uint64_t version)
{
	int32_t i = (int32_t)(r->seen_head++ % SEEN_MAX), *head;

	if (op->client == 0)
		return;
	if (r->seen[i].used)
		replica_seen_unlink(r, i);
	r->seen[i].op = *op;
	r->seen[i].key = *key;
	r->seen[i].version = version;
	r->seen[i].used = true;
	head = replica_seen_bucket(r, op);
	r->seen[i].next = *head;
	*head = i;
}

/* The version op wrote of key here lately, or 0. */
static uint64_t
replica_seen_find(struct replica_state *r, const struct wire_opid *op,
    const struct hash_key *key)
{
	if (op->client == 0)
		return 0;
	for (int32_t i = *replica_seen_bucket(r, op); i != -1;
	    i = r->seen[i].next) {
		const struct replica_seen *e = &r->seen[i];

		if (e->op.client == op->client && e->op.seq == op->seq &&
		    e->key.hi == key->hi && e->key.lo == key->lo)
			return e->version;
	}
	return 0;
}

/* The store finished a batch: answer the replies waiting for it. */
static void
replica_reap_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct node *n = arg;

	(void)fd;
	(void)ev;
	store_reap(n->store);
}

static bool replica_unsure(const struct node *n);

/*
 * Test hook for the window between a commit and its reply: with
 * CANFS_TEST_CRASH_BEFORE_ACK=N in the environment the daemon dies, as
 * by kill -9, just before sending the Nth reply for a write it made
 * durable.  Unset (always, outside tests), it does nothing.
 */
static void
replica_test_crash(struct replica_state *r)
{
	if (r->crash_before_ack == 0 || --r->crash_before_ack > 0)
		return;
	log_warnx("CANFS_TEST_CRASH_BEFORE_ACK: dying before a reply");
	_exit(137);
}

/*
 * Every write queued before the reply is finished: send it if the
 * version is durable here (checked, not assumed: a write that did not
 * fit is dropped alone), else fail it.
 */
static void
replica_deferred_cb(void *arg, int rc)
{
	struct replica_deferred *d = arg;
	struct node *n = d->n;
	struct conn *c = transport_conn_by_serial(n->transport, d->serial);
	struct store_meta m;
	struct store_id found;

	if (c != NULL) {
		if (replica_local_newest(n, &d->id, &found, &m, false) == 0 &&
		    m.version >= d->version) {
			replica_test_crash(n->objs->rep);
			conn_send(c, &d->frame);
		}
		else if (rc == STORE_FULL)
			node_send_error(c, d->reqid, WIRE_E_NOSPACE,
			    "replica is out of space: the write was dropped");
		else
			node_send_error(c, d->reqid, WIRE_E_INTERNAL,
			    "replica could not commit the write");
	}
	wbuf_free(&d->frame);
	free(d);
}

/*
 * Send frame (a reply to reqid on c) once record id holds version
 * durably: after every write queued so far is finished.
 */
static void
replica_defer(struct node *n, struct conn *c, uint64_t reqid,
    const struct store_id *id, uint64_t version, struct wbuf *frame)
{
	struct replica_deferred *d = xcalloc(1, sizeof *d);

	d->n = n;
	d->serial = conn_serial(c);
	d->reqid = reqid;
	d->id = *id;
	d->version = version;
	d->frame = *frame;
	wbuf_init(frame);
	store_when_durable(n->store, replica_deferred_cb, d);
}

/* Check the replica fields of a peer's object body against our zones. */
static int
replica_check(struct node *n, const struct wire_obj *o,
    struct store_id *id)
{
	if (o->dims != n->cfg.dims)
		return WIRE_E_DIMS;
	store_id_make(&o->key, o->index, n->cfg.dims, id);
	if (memcmp(&id->point, &o->point, sizeof id->point) != 0)
		return WIRE_E_PROTO;
	if (!nbr_node_contains(&n->self, &o->point, n->cfg.dims))
		return WIRE_E_WRONG_OWNER;
	return 0;
}

/*
 * The newest local copy of a key: the exact replica id, and while we are
 * unsure (replica_unsure) also every other replica index of the key
 * whose point lies in our zones.  After a takeover or a handover the
 * replica set can name us at a new index while we hold the key (or a
 * newer version of it) under an old one; without this a read would
 * answer "not found", or an old version.
 * On success *found is the id holding it.  Returns 0 or STORE_NOTFOUND.
 */
int
replica_local_newest(struct node *n, const struct store_id *id,
    struct store_id *found, struct store_meta *meta, bool latest)
{
	int (*get)(struct store *, const struct store_id *,
	    struct store_meta *) = latest ? store_peek_meta : store_get_meta;
	struct store_meta m;
	struct store_id alt;
	int best = STORE_NOTFOUND;

	if (get(n->store, id, meta) == 0) {
		*found = *id;
		best = 0;
	}
	/*
	 * Our index in a key's replica set is the first probe that falls in
	 * our zones, so it changes only when our zones grow; repair moves
	 * our copies to the new index within the "unsure" window.  Outside
	 * it, our copy is the one at our index (and a new key costs no 64
	 * probes).  Inside it, a copy at our new index can be older than
	 * one at our old index: an heir gets the zone's copies streamed
	 * early, while the giver goes on deciding writes that we store as
	 * the secondary at our old index.  The newest wins, or a read and a
	 * compare-and-swap would see the streamed copy and undo them.
	 */
	if (!replica_unsure(n))
		return best;
	for (unsigned i = 0; i < RESOLVE_PROBES(0); i++) {
		if (i == id->replica)
			continue;
		store_id_make(&id->key, i, n->cfg.dims, &alt);
		if (!nbr_node_contains(&n->self, &alt.point, n->cfg.dims) ||
		    get(n->store, &alt, &m) != 0)
			continue;
		if (best != 0 || m.version > meta->version) {
			*meta = m;
			*found = alt;
			best = 0;
		}
	}
	return best;
}

/*
 * True for a while after we gained space (or learned that another node
 * acted as owner of ours): our copies may miss writes made while it was
 * elsewhere, until repair has been round twice.  Also while our event
 * loop has just come out of a stall longer than the failure timeout and
 * the tick that notices it (node_space_contested) has not run yet:
 * neighbours may have taken us for dead meanwhile.  Primary reads then
 * consult the other replicas too, and primary writes wait until the
 * coordinator has done so (WIRE_RP_SYNCED).
 */
static bool
replica_unsure(const struct node *n)
{
	uint64_t window = 2000 * (uint64_t)n->cfg.repair_sec + 5000;
	uint64_t now = node_now_ms();

	if (n->last_tick_ms != 0 && now - n->last_tick_ms > node_fail_ms(n))
		return true;
	return n->gained_ms != 0 && now - n->gained_ms < window;
}

/* Replica read. */
static void
replica_get(struct node *n, struct conn *c, const struct wire_header *h,
    const struct wire_obj *req)
{
	struct store_id id, found;
	struct store_meta meta;
	struct wire_obj o;
	void *data = NULL;
	size_t len = 0;
	uint32_t roff = 0, rlen = 0, pos, cnt, flags;
	int rc;

	if ((rc = replica_check(n, req, &id)) != 0) {
		node_send_error(c, h->reqid, (uint32_t)rc,
		    wire_error_text((uint32_t)rc));
		return;
	}
	if (req->len != 0 &&
	    wire_range_decode(req->data, req->len, &roff, &rlen) != 0) {
		node_send_error(c, h->reqid, WIRE_E_PROTO, "malformed range");
		return;
	}
	/* Committed copies only: never one a crash could take back. */
	if (replica_local_newest(n, &id, &found, &meta, false) == 0)
		id = found;
	rc = store_get(n->store, &id, &meta, &data, &len);
	if (rc != 0) {
		node_send_error(c, h->reqid, objects_wire_error(rc),
		    wire_error_text(objects_wire_error(rc)));
		return;
	}
	objects_obj_from_store(n, &id, &meta, data, len, &o);
	flags = replica_unsure(n) ? WIRE_OV_UNSURE : 0;
	if (req->len != 0) {
		/* The range only (the whole was verified as it was read). */
		wire_range_clip(roff, rlen, o.len, &pos, &cnt);
		o.data += pos;
		o.len = cnt;
		o.meta.checksum = hash_checksum(o.data, o.len);
		flags |= WIRE_OV_RANGE;
	}
	objects_send_obj(c, WIRE_OBJ_VALUE, flags, h->reqid, &o);
	free(data);
}

/* Store o's value as given (version and all) in the current batch. */
static int
replica_put_local(struct node *n, const struct store_id *id,
    const struct wire_obj *o)
{
	struct store_meta meta;

	memset(&meta, 0, sizeof meta);
	meta.version = o->meta.version;
	meta.writer = o->meta.writer;
	meta.mtime_ms = o->meta.mtime_ms;
	meta.flags = o->meta.flags & STORE_F_TOMBSTONE;
	if (o->meta.op.client != 0) {
		meta.ops[0].client = o->meta.op.client;
		meta.ops[0].seq = o->meta.op.seq;
		meta.ops[0].version = o->meta.version;
		meta.nops = 1;
	}
	return store_put(n->store, id, &meta, o->data, o->len);
}

/* Store a replica if newer than ours. */
int
replica_store_if_newer(struct node *n, const struct wire_obj *o)
{
	struct store_id id;
	struct store_meta cur;
	int rc;

	store_id_make(&o->key, o->index, n->cfg.dims, &id);
	if (hash_checksum(o->data, o->len) != o->meta.checksum)
		return STORE_CORRUPT;
	/* Against the open batch too: a later put replaces a queued one. */
	rc = store_peek_meta(n->store, &id, &cur);
	if (rc == 0 && cur.version >= o->meta.version)
		return 0;
	if ((rc = replica_put_local(n, &id, o)) == 0 &&
	    o->meta.mtime_ms + SEEN_RECENT_MS >= objects_wall_ms())
		replica_seen_add(n->objs->rep, &o->meta.op, &o->key,
		    o->meta.version);
	return rc;
}

/*
 * Room for a write of len bytes beside what is queued?  The space left
 * is refreshed every heartbeat; when it says no, it is measured again
 * now (space freed a moment ago counts).
 */
static bool
replica_has_room(struct node *n, size_t len)
{
	uint64_t need = store_queued_bytes(n->store) + len +
	    REPLICA_SPACE_MARGIN;

	if (n->space_avail == 0 || n->space_avail >= need)
		return true;
	if (store_space(n->store, &n->space_used, &n->space_avail) != 0)
		return true; /* unknown: let the commit decide */
	return n->space_avail >= need;
}

/* The version op made, if the record's history has it, else 0. */
static uint64_t
replica_op_in(const struct store_meta *m, const struct wire_opid *op)
{
	if (op->client == 0)
		return 0;
	for (unsigned i = 0; i < m->nops; i++)
		if (m->ops[i].client == op->client &&
		    m->ops[i].seq == op->seq)
			return m->ops[i].version;
	return 0;
}

/*
 * A patch applied to the copy at *base (newest state; NULL: absent or a
 * tombstone, the patch applies to nothing): o's data becomes the result
 * (malloc'd, the caller frees it), and *res gets its checksum.  0 or a
 * wire error.
 */
static uint32_t
replica_patch_base(struct node *n, const struct store_id *base,
    const struct wire_obj *req, struct wire_obj *o, struct wire_obj *res)
{
	void *old = NULL;
	size_t olen = 0;
	uint8_t *out;
	uint32_t len;
	int rc;

	if (base != NULL &&
	    (rc = store_peek(n->store, base, NULL, &old, &olen)) != 0)
		return rc == STORE_NOTFOUND || rc == STORE_CORRUPT ?
		    WIRE_E_MISSING : WIRE_E_INTERNAL;
	rc = wire_patch_apply(old, (uint32_t)olen, req->data, req->len, &out,
	    &len);
	free(old);
	if (rc != 0)
		return WIRE_E_PROTO;
	o->data = out;
	o->len = len;
	res->meta.checksum = hash_checksum(out, len);
	return 0;
}

/*
 * The primary decides a write: check the condition against the newest
 * state (the open batch included: writes queued before this one come
 * first), assign the new version, queue it.  A write this node already
 * applied (same op id) is not decided again: *version is the version it
 * made.  A patch (WIRE_RP_PATCH) is applied to the newest copy; when it
 * was applied now (*applied), *patched gets the result's checksum and the
 * version it was applied to (see WIRE_OD_PATCHED).  Returns 0 with
 * *version set, or a wire error code.
 */
static uint32_t
replica_decide(struct node *n, const struct store_id *id,
    const struct wire_obj *req, uint32_t flags, uint64_t *version,
    struct wire_obj *patched, bool *applied, char *why, size_t whylen)
{
	struct store_meta cur;
	struct store_id found;
	struct wire_obj o = *req;
	int rc = replica_local_newest(n, id, &found, &cur, true);
	bool exists = rc == 0, live;

	if (rc != 0 && rc != STORE_NOTFOUND && rc != STORE_CORRUPT)
		return WIRE_E_INTERNAL;
	if (((*version = replica_seen_find(n->objs->rep, &req->meta.op,
	    &req->key)) != 0 && exists && cur.version >= *version) ||
	    (exists && (*version = replica_op_in(&cur, &req->meta.op)) != 0) ||
	    (req->meta.op.client != 0 && store_op_lookup(n->store,
	    req->meta.op.client, req->meta.op.seq, &req->key, version) == 0)) {
		n->objs->rep->dedup_hits++;
		log_debug("a retried write was applied before (version %"
		    PRIu64 "): answering with that", *version);
		return 0;
	}
	if (replica_unsure(n) && !(flags & WIRE_RP_SYNCED)) {
		/* Our copy may be stale: have the coordinator sync us first. */
		snprintf(why, whylen, "primary gained this space lately");
		return WIRE_E_MISSING;
	}
	if (req->len > 0 && !replica_has_room(n, req->len)) {
		/* It would be dropped at commit: say so now (deletes may
		 * still free space, so they are left to the commit). */
		snprintf(why, whylen, "the primary replica is out of space");
		if (node_now_ms() - n->objs->rep->full_logged_ms > 10000) {
			n->objs->rep->full_logged_ms = node_now_ms();
			log_warnx("store nearly full (%" PRIu64 " bytes left, %"
			    PRIu64 " queued): refusing writes with ENOSPC",
			    n->space_avail, store_queued_bytes(n->store));
		}
		return WIRE_E_NOSPACE;
	}
	live = exists && !(cur.flags & STORE_F_TOMBSTONE);
	/*
	 * A patch keeps the bytes around it, so "absent here" must be true
	 * everywhere before it counts, as for a condition.
	 */
	if (!exists && (req->cond != WIRE_COND_NONE ||
	    (flags & WIRE_RP_PATCH)) && !(flags & WIRE_RP_ABSENT_OK))
		return WIRE_E_MISSING;
	if ((req->cond == WIRE_COND_VERSION && (!live ||
	    cur.version != req->cond_version)) ||
	    (req->cond == WIRE_COND_ABSENT && live)) {
		snprintf(why, whylen, "current version is %" PRIu64 "%s",
		    exists ? cur.version : 0, live ? "" : " (absent)");
		log_debug("write %016" PRIx64 ":%" PRIu64 ": conflict: %s, "
		    "%u ops remembered, newest %016" PRIx64 ":%" PRIu64,
		    req->meta.op.client, req->meta.op.seq, why, cur.nops,
		    cur.nops ? cur.ops[0].client : 0,
		    cur.nops ? cur.ops[0].seq : 0);
		return WIRE_E_CONFLICT;
	}
	o.meta.version = objects_wall_us();
	if (exists && cur.version + 1 > o.meta.version)
		o.meta.version = cur.version + 1;
	o.meta.writer = n->self.id;
	o.meta.mtime_ms = objects_wall_ms();
	if (flags & WIRE_RP_PATCH) {
		uint32_t err = replica_patch_base(n, live ? &found : NULL,
		    req, &o, patched);
		if (err != 0)
			return err;
		patched->cond_version = exists ? cur.version : 0;
		*applied = true;
	}
	rc = replica_put_local(n, id, &o);
	if (flags & WIRE_RP_PATCH)
		free((void *)o.data);
	if (rc != 0)
		return objects_wire_error(rc);
	replica_seen_add(n->objs->rep, &req->meta.op, &req->key,
	    o.meta.version);
	if (log_level >= LOG_LVL_DEBUG) {
		char hex[33];

		log_debug("write %016" PRIx64 ":%" PRIu64 ": key %s cond %u "
		    "%" PRIu64 ": decided version %" PRIu64 " on %" PRIu64
		    "%s", req->meta.op.client, req->meta.op.seq,
		    hash_key_format(&req->key, hex), req->cond,
		    req->cond_version, o.meta.version,
		    exists ? cur.version : 0, (flags & WIRE_RP_SYNCED) ?
		    " (synced)" : "");
	}
	*version = o.meta.version;
	return 0;
}

/*
 * Answer OBJ_DONE for version once it is durable here: at once when
 * committed, after the open batch's commit when only queued there.
 */
static void
replica_done_when_durable(struct node *n, struct conn *c, uint64_t reqid,
    const struct wire_obj *req, const struct store_id *id, bool committed)
{
	struct wire_obj done = *req;
	struct wbuf w;

	done.data = NULL;
	done.len = 0;
	if (committed) {
		objects_send_obj(c, WIRE_OBJ_DONE, 0, reqid, &done);
		return;
	}
	objects_build_frame(&w, WIRE_OBJ_DONE, 0, reqid, &done);
	replica_defer(n, c, reqid, id, req->meta.version, &w);
}

/*
 * CONFIRM: the coordinator asks whether the version we decided is
 * durable.  Answered when it is; MISSING when we do not hold it (lost
 * in a crash before our commit: the coordinator decides again).
 */
static void
replica_confirm(struct node *n, struct conn *c, const struct wire_header *h,
    const struct wire_obj *req, const struct store_id *id)
{
	struct store_meta cur;
	struct store_id found;

	if (replica_local_newest(n, id, &found, &cur, false) == 0 &&
	    cur.version >= req->meta.version)
		replica_done_when_durable(n, c, h->reqid, req, id, true);
	else if (replica_local_newest(n, id, &found, &cur, true) == 0 &&
	    cur.version >= req->meta.version)
		replica_done_when_durable(n, c, h->reqid, req, id, false);
	else
		node_send_error(c, h->reqid, WIRE_E_MISSING,
		    "the decided version is not here");
}

/*
 * A secondary's patch (WIRE_RP_PATCH): apply it to the version the
 * primary patched (req->cond_version; 0: it had none, nor may we) and
 * store the result as req's version if it matches the primary's checksum.
 * Without that base, ERROR MISSING: the coordinator sends the whole value.
 */
static void
replica_patch(struct node *n, struct conn *c, const struct wire_header *h,
    const struct wire_obj *req, const struct store_id *id)
{
	struct store_meta cur;
	struct wire_obj o = *req;
	struct wire_obj res;
	int rc = store_peek_meta(n->store, id, &cur);
	bool have = rc == 0;

	if ((rc != 0 && rc != STORE_NOTFOUND) ||
	    (have ? cur.version != req->cond_version :
	    req->cond_version != 0)) {
		n->stats->replica[STATS_R_PATCH_MISS]++;
		node_send_error(c, h->reqid, WIRE_E_MISSING,
		    "the version patched is not here");
		return;
	}
	memset(&res, 0, sizeof res);
	if (replica_patch_base(n, have && !(cur.flags & STORE_F_TOMBSTONE) ?
	    id : NULL, req, &o, &res) != 0 ||
	    res.meta.checksum != req->meta.checksum) {
		free((void *)o.data);
		n->stats->replica[STATS_R_PATCH_MISS]++;
		node_send_error(c, h->reqid, WIRE_E_MISSING,
		    "the patch does not give the primary's value");
		return;
	}
	rc = replica_put_local(n, id, &o);
	free((void *)o.data);
	if (rc != 0) {
		node_send_error(c, h->reqid, objects_wire_error(rc),
		    wire_error_text(objects_wire_error(rc)));
		return;
	}
	n->stats->replica[STATS_R_PATCH]++;
	replica_seen_add(n->objs->rep, &req->meta.op, &req->key,
	    req->meta.version);
	replica_done_when_durable(n, c, h->reqid, req, id, false);
}

/*
 * Replica write: as primary (versioning, CAS; the decision is answered
 * at once, durability with CONFIRM), as a secondary (answered when
 * durable), or CONFIRM.
 */
static void
replica_put(struct node *n, struct conn *c, const struct wire_header *h,
    const struct wire_obj *req)
{
	struct store_id id;
	struct store_meta cur;
	struct wire_obj done;
	char why[128] = "";
	uint32_t err;
	int rc;

	if ((rc = replica_check(n, req, &id)) != 0) {
		node_send_error(c, h->reqid, (uint32_t)rc,
		    wire_error_text((uint32_t)rc));
		return;
	}
	if (h->flags & WIRE_RP_CONFIRM) {
		replica_confirm(n, c, h, req, &id);
		return;
	}
	/* A secondary's patch is checked by its result (replica_patch). */
	if ((!(h->flags & WIRE_RP_PATCH) || (h->flags & WIRE_RP_PRIMARY)) &&
	    hash_checksum(req->data, req->len) != req->meta.checksum) {
		log_warnx("%s: write with a bad checksum refused",
		    conn_name(c));
		node_send_error(c, h->reqid, WIRE_E_CORRUPT,
		    "checksum mismatch in transit");
		return;
	}
	if (h->flags & WIRE_RP_PRIMARY) {
		bool applied = false;

		done = *req;
		done.data = NULL;
		done.len = 0;
		err = replica_decide(n, &id, req, h->flags,
		    &done.meta.version, &done, &applied, why, sizeof why);
		if (err != 0) {
			node_send_error(c, h->reqid, err,
			    why[0] ? why : wire_error_text(err));
			return;
		}
		/* The decision now; its commit overlaps the fan-out. */
		objects_send_obj(c, WIRE_OBJ_DONE, WIRE_OD_DECIDED |
		    (applied ? WIRE_OD_PATCHED : 0), h->reqid, &done);
		return;
	}
	if (store_peek_meta(n->store, &id, &cur) == 0 &&
	    cur.version >= req->meta.version) {
		/* We hold this version or a newer one (maybe only queued). */
		replica_done_when_durable(n, c, h->reqid, req, &id,
		    store_get_meta(n->store, &id, &cur) == 0 &&
		    cur.version >= req->meta.version);
		return;
	}
	if (h->flags & WIRE_RP_PATCH) {
		replica_patch(n, c, h, req, &id);
		return;
	}
	if ((rc = replica_put_local(n, &id, req)) != 0) {
		node_send_error(c, h->reqid, objects_wire_error(rc),
		    wire_error_text(objects_wire_error(rc)));
		return;
	}
	replica_seen_add(n->objs->rep, &req->meta.op, &req->key,
	    req->meta.version);
	replica_done_when_durable(n, c, h->reqid, req, &id, false);
}

/* A replica moving here (join, leave, repair): keep it if newer. */
static void
replica_xfer(struct node *n, struct conn *c, const struct wire_obj *o)
{
	int rc;

	if (o->dims != n->cfg.dims) {
		conn_close(c, "transfer with wrong dimensions");
		return;
	}
	rc = replica_store_if_newer(n, o);
	if (rc == STORE_CORRUPT)
		log_warnx("%s: transferred replica fails its checksum; "
		    "dropped", conn_name(c));
	else if (rc != 0)
		log_error("cannot store a transferred replica (%s)",
		    wire_error_text(objects_wire_error(rc)));
}

/* Serve R_GET, R_PUT and XFER. */
void
replica_frame(struct node *n, struct conn *c, const struct wire_header *h,
    const struct wire_obj *o)
{
	switch (h->type) {
	case WIRE_OBJ_R_GET:
		n->stats->replica[STATS_R_READ]++;
		replica_get(n, c, h, o);
		break;
	case WIRE_OBJ_R_PUT:
		n->stats->replica[STATS_R_WRITE]++;
		replica_put(n, c, h, o);
		break;
	case WIRE_OBJ_XFER:
		n->stats->replica[STATS_R_XFER]++;
		replica_xfer(n, c, o);
		break;
	}
}

/* Set up the replica side of n (its store is open). */
struct replica_state *
replica_new(struct node *n)
{
	struct replica_state *r = xcalloc(1, sizeof *r);
	const char *env;

	r->seen = xcalloc(SEEN_MAX, sizeof *r->seen);
	r->bucket = xmalloc(SEEN_BUCKETS * sizeof *r->bucket);
	for (int i = 0; i < SEEN_BUCKETS; i++)
		r->bucket[i] = -1;
	if ((env = getenv("CANFS_TEST_CRASH_BEFORE_ACK")) != NULL)
		r->crash_before_ack = strtoul(env, NULL, 10);
	r->reap = event_new(n->base, store_event_fd(n->store),
	    EV_READ | EV_PERSIST, replica_reap_cb, n);
	event_add(r->reap, NULL);
	return r;
}

/* Free it (queued writes were committed by the caller). */
void
replica_free(struct replica_state *r)
{
	if (r == NULL)
		return;
	event_free(r->reap);
	free(r->seen);
	free(r->bucket);
	free(r);
}
