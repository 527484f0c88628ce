/* objects.c: replicated GET/PUT/DELETE and the replica side (objects.h). */
#include <sys/queue.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "conn.h"
#include "log.h"
#include "node.h"
#include "objects.h"
#include "resolve.h"
#include "rpc.h"
#include "store.h"
#include "xmalloc.h"

#define OP_REPLICA_TIMEOUT_MS 5000
#define OP_MAX_ATTEMPTS 10
#define OP_DEADLINE_MS 30000

/*
 * Writes this node applied lately, by operation id, so that a retried
 * write is answered with its original version (never decided twice).
 * Clients retry for at most 30 s; the table holds the last SEEN_MAX
 * writes, which at 20,000 writes/s is still 3 s, and behind it the
 * stored record's own op id answers a retry of the latest write.
 */
#define SEEN_MAX 65536
#define SEEN_BUCKETS 16384

struct seen {
	struct wire_opid op;
	struct hash_key key;
	uint64_t version;
	int32_t next;		/* chain in the bucket; -1 ends it */
	bool used;
};

/* A reply held back until the write it reports is durable. */
struct deferred {
	struct node *n;
	uint64_t serial;	/* connection to answer on */
	uint64_t reqid;
	struct store_id id;	/* the record (any local index of its key) */
	uint64_t version;	/* ...must hold this version or a newer one */
	struct wbuf frame;	/* the reply to send then */
};

struct objects {
	struct event *reap;	/* the store finished a batch */
	struct seen *seen;	/* SEEN_MAX entries, a ring */
	int32_t *bucket;	/* SEEN_BUCKETS chain heads */
	uint64_t seen_head;	/* next ring position to fill */
	uint64_t op_seq;	/* ids for writes that came without one */
	uint64_t dedup_hits;	/* retried writes answered from memory */
};

enum op_kind { OP_GET, OP_PUT, OP_DEL };

/*
 * Where a coordinated request stands.  A write goes RESOLVING ->
 * DECIDING (the primary checks the condition and assigns the version)
 * -> REPLICATING (the primary confirms its commit while the others
 * store the version) -> DONE; SYNCING and WRITING_BACK are the detour
 * when the primary has no copy it trusts.  Once the primary has
 * confirmed, a retry only replicates the decided version again: the
 * condition is never decided twice.
 */
enum op_phase {
	OP_RESOLVING,	 /* looking up the replica set */
	OP_READING,	 /* GET: asked the primary */
	OP_SYNCING,	 /* asked the other replicas for their copies */
	OP_WRITING_BACK, /* installing the newest copy at the primary */
	OP_DECIDING,	 /* write: the primary checks and versions it */
	OP_REPLICATING,	 /* write: commit at the primary, store elsewhere */
	OP_BACKOFF,	 /* waiting to try again */
	OP_DONE,
};

static const char *const op_phase_names[] = {
	"resolving", "reading", "syncing", "writing-back", "deciding",
	"replicating", "backoff", "done",
};

/* One client request being coordinated. */
struct op {
	struct node *n;
	enum op_kind kind;
	enum op_phase phase;
	bool done;
	struct wire_opid opid;	/* the client's id for this write */
	bool durable;		/* the primary confirmed the decided version */
	bool primary_acked;	/* this round: slot 0 holds it durably */
	int inflight;		/* replica requests not yet answered */
	uint64_t client;	/* conn serial */
	uint64_t creqid;
	struct hash_key key;
	uint8_t cond;
	uint64_t cond_version;
	uint8_t *data;
	uint32_t len;
	uint64_t checksum;
	bool absent_ok;
	bool nocache;
	int attempts;
	uint64_t started_ms;
	struct replset rs;
	uint64_t version;	/* assigned by the primary */
	int waiting, acked, failed, stale; /* acked counts slot 0 too */
	int nospace;		/* fan-out replicas that answered NOSPACE */
	bool synced;		/* the other replicas were read this attempt */
	bool have_best;		/* newest good copy seen from the others */
	struct wire_meta best;
	uint8_t *best_data;
	uint32_t best_len;
	struct event *retry;
	const char *why;	/* last reason for a retry */
};

/* Per-request context: which op, which replica. */
struct op_call {
	struct op *op;
	int slot;
};

static void op_start(struct op *op);
static void op_write_primary(struct op *op);

/* Move op to phase p (logged: the one place a phase changes). */
static void
op_set_phase(struct op *op, enum op_phase p)
{
	if (op->phase != p && op->kind != OP_GET)
		log_debug("write %016" PRIx64 ":%" PRIu64 ": %s -> %s",
		    op->opid.client, op->opid.seq, op_phase_names[op->phase],
		    op_phase_names[p]);
	op->phase = p;
}

/* Wall clock in ms. */
uint64_t
objects_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Wall clock in microseconds, the floor of new versions. */
static uint64_t
objects_wall_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* Build a frame with an object body. */
static void
obj_frame(struct wbuf *w, uint16_t type, uint32_t flags, uint64_t reqid,
    const struct wire_obj *o)
{
	wbuf_init(w);
	wire_frame_begin(w, type, flags, reqid);
	wire_obj_encode(w, o);
	wire_frame_end(w);
}

/* Send an object body on c. */
static void
obj_send(struct conn *c, uint16_t type, uint32_t flags, uint64_t reqid,
    const struct wire_obj *o)
{
	struct wbuf w;

	if (c == NULL)
		return;
	obj_frame(&w, type, flags, reqid, o);
	conn_send(c, &w);
	wbuf_free(&w);
}

/* Map a store result to a wire error code. */
static uint32_t
obj_store_error(int rc)
{
	switch (rc) {
	case STORE_NOTFOUND: return WIRE_E_NOTFOUND;
	case STORE_CORRUPT: return WIRE_E_CORRUPT;
	case STORE_FULL: return WIRE_E_NOSPACE;
	}
	return WIRE_E_INTERNAL;
}

/* ---- writes seen lately (idempotence) ------------------------------ */

/* Chain head for op. */
static int32_t *
seen_bucket(struct objects *o, const struct wire_opid *op)
{
	uint64_t h = (op->client ^ (op->seq * 0x9e3779b97f4a7c15ULL));

	return &o->bucket[(h ^ (h >> 29)) % SEEN_BUCKETS];
}

/* Unlink ring entry i from its chain. */
static void
seen_unlink(struct objects *o, int32_t i)
{
	int32_t *pp = seen_bucket(o, &o->seen[i].op);

	while (*pp != -1 && *pp != i)
		pp = &o->seen[*pp].next;
	if (*pp == i)
		*pp = o->seen[i].next;
	o->seen[i].used = false;
}

/* Remember that op wrote version of key here (op.client 0: no id). */
static void
seen_add(struct objects *o, const struct wire_opid *op,
    const struct hash_key *key, uint64_t version)
{
	int32_t i = (int32_t)(o->seen_head++ % SEEN_MAX), *head;

	if (op->client == 0)
		return;
	if (o->seen[i].used)
		seen_unlink(o, i);
	o->seen[i].op = *op;
	o->seen[i].key = *key;
	o->seen[i].version = version;
	o->seen[i].used = true;
	head = seen_bucket(o, op);
	o->seen[i].next = *head;
	*head = i;
}

/* The version op wrote of key here lately, or 0. */
static uint64_t
seen_find(struct objects *o, const struct wire_opid *op,
    const struct hash_key *key)
{
	if (op->client == 0)
		return 0;
	for (int32_t i = *seen_bucket(o, op); i != -1; i = o->seen[i].next) {
		const struct seen *e = &o->seen[i];

		if (e->op.client == op->client && e->op.seq == op->seq &&
		    e->key.hi == key->hi && e->key.lo == key->lo)
			return e->version;
	}
	return 0;
}

/* The store finished a batch: answer the replies waiting for it. */
static void
objects_reap_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct node *n = arg;

	(void)fd;
	(void)ev;
	store_reap(n->store);
}

static int obj_local_newest(struct node *n, const struct store_id *id,
    struct store_id *found, struct store_meta *meta, bool latest);

/*
 * Every write queued before the reply is finished: send it if the
 * version is durable here (checked, not assumed: a write that did not
 * fit is dropped alone), else fail it.
 */
static void
objects_deferred_cb(void *arg, int rc)
{
	struct deferred *d = arg;
	struct node *n = d->n;
	struct conn *c = transport_conn_by_serial(n->transport, d->serial);
	struct store_meta m;
	struct store_id found;

	if (c != NULL) {
		if (obj_local_newest(n, &d->id, &found, &m, false) == 0 &&
		    m.version >= d->version)
			conn_send(c, &d->frame);
		else
			node_send_error(c, d->reqid, rc == -1 ?
			    WIRE_E_INTERNAL : WIRE_E_NOSPACE,
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
objects_defer(struct node *n, struct conn *c, uint64_t reqid,
    const struct store_id *id, uint64_t version, struct wbuf *frame)
{
	struct deferred *d = xcalloc(1, sizeof *d);

	d->n = n;
	d->serial = conn_serial(c);
	d->reqid = reqid;
	d->id = *id;
	d->version = version;
	d->frame = *frame;
	wbuf_init(frame);
	store_when_durable(n->store, objects_deferred_cb, d);
}

/* Check the replica fields of a peer's object body against our zones. */
static int
obj_check_replica(struct node *n, const struct wire_obj *o,
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
 * The newest local copy of a key: the exact replica id first, else any
 * other replica index of the key whose point lies in our zones.  After a
 * takeover the replica set can name us at a new index while we hold the
 * key under an old one; without this a read would answer "not found".
 * On success *found is the id holding it.  Returns 0 or STORE_NOTFOUND.
 */
static int
obj_local_newest(struct node *n, const struct store_id *id,
    struct store_id *found, struct store_meta *meta, bool latest)
{
	int (*get)(struct store *, const struct store_id *,
	    struct store_meta *) = latest ? store_peek_meta : store_get_meta;
	struct store_meta m;
	struct store_id alt;
	int best = STORE_NOTFOUND;

	if (get(n->store, id, meta) == 0) {
		*found = *id;
		return 0;
	}
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
 * True for a while after we gained space: our copies may miss writes made
 * while it was elsewhere, until repair has been round twice.  Primary
 * reads then consult the other replicas too, and primary writes wait
 * until the coordinator has done so (WIRE_RP_SYNCED).
 */
static bool
objects_unsure(const struct node *n)
{
	uint64_t window = 2000 * (uint64_t)n->cfg.repair_sec + 5000;

	return n->gained_ms != 0 && node_now_ms() - n->gained_ms < window;
}

/* Replica read. */
static void
objects_r_get(struct node *n, struct conn *c, const struct wire_header *h,
    const struct wire_obj *req)
{
	struct store_id id, found;
	struct store_meta meta;
	struct wire_obj o;
	void *data = NULL;
	size_t len = 0;
	int rc;

	if ((rc = obj_check_replica(n, req, &id)) != 0) {
		node_send_error(c, h->reqid, (uint32_t)rc,
		    wire_error_text((uint32_t)rc));
		return;
	}
	/* Committed copies only: never one a crash could take back. */
	if (obj_local_newest(n, &id, &found, &meta, false) == 0)
		id = found;
	rc = store_get(n->store, &id, &meta, &data, &len);
	if (rc != 0) {
		node_send_error(c, h->reqid, obj_store_error(rc),
		    wire_error_text(obj_store_error(rc)));
		return;
	}
	objects_obj_from_store(n, &id, &meta, data, len, &o);
	obj_send(c, WIRE_OBJ_VALUE, objects_unsure(n) ? WIRE_OV_UNSURE : 0,
	    h->reqid, &o);
	free(data);
}

/* Store o's value as given (version and all) in the current batch. */
static int
obj_put_local(struct node *n, const struct store_id *id,
    const struct wire_obj *o)
{
	struct store_meta meta;

	memset(&meta, 0, sizeof meta);
	meta.version = o->meta.version;
	meta.writer = o->meta.writer;
	meta.mtime_ms = o->meta.mtime_ms;
	meta.flags = o->meta.flags & STORE_F_TOMBSTONE;
	meta.op_client = o->meta.op.client;
	meta.op_seq = o->meta.op.seq;
	return store_put(n->store, id, &meta, o->data, o->len);
}

/* Store a replica if newer than ours. */
int
objects_store_if_newer(struct node *n, const struct wire_obj *o)
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
	return obj_put_local(n, &id, o);
}

/*
 * The primary decides a write: check the condition against the newest
 * state (the open batch included: writes queued before this one come
 * first), assign the new version, queue it.  A write this node already
 * applied (same op id) is not decided again: *version is the version it
 * made.  Returns 0 with *version set, or a wire error code.
 */
static uint32_t
objects_primary_write(struct node *n, const struct store_id *id,
    const struct wire_obj *req, uint32_t flags, uint64_t *version,
    char *why, size_t whylen)
{
	struct store_meta cur;
	struct store_id found;
	struct wire_obj o = *req;
	int rc = obj_local_newest(n, id, &found, &cur, true);
	bool exists = rc == 0, live;

	if (rc != 0 && rc != STORE_NOTFOUND && rc != STORE_CORRUPT)
		return WIRE_E_INTERNAL;
	if (((*version = seen_find(n->objs, &req->meta.op, &req->key)) != 0 &&
	    exists && cur.version >= *version) ||
	    (exists && req->meta.op.client != 0 &&
	    cur.op_client == req->meta.op.client &&
	    cur.op_seq == req->meta.op.seq && (*version = cur.version))) {
		n->objs->dedup_hits++;
		log_debug("a retried write was applied before (version %"
		    PRIu64 "): answering with that", *version);
		return 0;
	}
	if (objects_unsure(n) && !(flags & WIRE_RP_SYNCED)) {
		/* Our copy may be stale: have the coordinator sync us first. */
		snprintf(why, whylen, "primary gained this space lately");
		return WIRE_E_MISSING;
	}
	live = exists && !(cur.flags & STORE_F_TOMBSTONE);
	if (!exists && req->cond != WIRE_COND_NONE &&
	    !(flags & WIRE_RP_ABSENT_OK))
		return WIRE_E_MISSING;
	if ((req->cond == WIRE_COND_VERSION && (!live ||
	    cur.version != req->cond_version)) ||
	    (req->cond == WIRE_COND_ABSENT && live)) {
		snprintf(why, whylen, "current version is %" PRIu64 "%s",
		    exists ? cur.version : 0, live ? "" : " (absent)");
		return WIRE_E_CONFLICT;
	}
	o.meta.version = objects_wall_us();
	if (exists && cur.version + 1 > o.meta.version)
		o.meta.version = cur.version + 1;
	o.meta.writer = n->self.id;
	o.meta.mtime_ms = objects_wall_ms();
	rc = obj_put_local(n, id, &o);
	if (rc != 0)
		return obj_store_error(rc);
	seen_add(n->objs, &req->meta.op, &req->key, o.meta.version);
	*version = o.meta.version;
	return 0;
}

/*
 * Answer OBJ_DONE for version once it is durable here: at once when
 * committed, after the open batch's commit when only queued there.
 */
static void
objects_done_when_durable(struct node *n, struct conn *c, uint64_t reqid,
    const struct wire_obj *req, const struct store_id *id, bool committed)
{
	struct wire_obj done = *req;
	struct wbuf w;

	done.data = NULL;
	done.len = 0;
	if (committed) {
		obj_send(c, WIRE_OBJ_DONE, 0, reqid, &done);
		return;
	}
	obj_frame(&w, WIRE_OBJ_DONE, 0, reqid, &done);
	objects_defer(n, c, reqid, id, req->meta.version, &w);
}

/*
 * CONFIRM: the coordinator asks whether the version we decided is
 * durable.  Answered when it is; MISSING when we do not hold it (lost
 * in a crash before our commit: the coordinator decides again).
 */
static void
objects_r_confirm(struct node *n, struct conn *c, const struct wire_header *h,
    const struct wire_obj *req, const struct store_id *id)
{
	struct store_meta cur;
	struct store_id found;

	if (obj_local_newest(n, id, &found, &cur, false) == 0 &&
	    cur.version >= req->meta.version)
		objects_done_when_durable(n, c, h->reqid, req, id, true);
	else if (obj_local_newest(n, id, &found, &cur, true) == 0 &&
	    cur.version >= req->meta.version)
		objects_done_when_durable(n, c, h->reqid, req, id, false);
	else
		node_send_error(c, h->reqid, WIRE_E_MISSING,
		    "the decided version is not here");
}

/*
 * Replica write: as primary (versioning, CAS; the decision is answered
 * at once, durability with CONFIRM), as a secondary (answered when
 * durable), or CONFIRM.
 */
static void
objects_r_put(struct node *n, struct conn *c, const struct wire_header *h,
    const struct wire_obj *req)
{
	struct store_id id;
	struct store_meta cur;
	struct wire_obj done;
	char why[128] = "";
	uint32_t err;
	int rc;

	if ((rc = obj_check_replica(n, req, &id)) != 0) {
		node_send_error(c, h->reqid, (uint32_t)rc,
		    wire_error_text((uint32_t)rc));
		return;
	}
	if (h->flags & WIRE_RP_CONFIRM) {
		objects_r_confirm(n, c, h, req, &id);
		return;
	}
	if (hash_checksum(req->data, req->len) != req->meta.checksum) {
		log_warnx("%s: write with a bad checksum refused",
		    conn_name(c));
		node_send_error(c, h->reqid, WIRE_E_CORRUPT,
		    "checksum mismatch in transit");
		return;
	}
	if (h->flags & WIRE_RP_PRIMARY) {
		done = *req;
		done.data = NULL;
		done.len = 0;
		err = objects_primary_write(n, &id, req, h->flags,
		    &done.meta.version, why, sizeof why);
		if (err != 0) {
			node_send_error(c, h->reqid, err,
			    why[0] ? why : wire_error_text(err));
			return;
		}
		/* The decision now; its commit overlaps the fan-out. */
		obj_send(c, WIRE_OBJ_DONE, WIRE_OD_DECIDED, h->reqid, &done);
		return;
	}
	if (store_peek_meta(n->store, &id, &cur) == 0 &&
	    cur.version >= req->meta.version) {
		/* We hold this version or a newer one (maybe only queued). */
		objects_done_when_durable(n, c, h->reqid, req, &id,
		    store_get_meta(n->store, &id, &cur) == 0 &&
		    cur.version >= req->meta.version);
		return;
	}
	if ((rc = obj_put_local(n, &id, req)) != 0) {
		node_send_error(c, h->reqid, obj_store_error(rc),
		    wire_error_text(obj_store_error(rc)));
		return;
	}
	seen_add(n->objs, &req->meta.op, &req->key, req->meta.version);
	objects_done_when_durable(n, c, h->reqid, req, &id, false);
}

/* A replica moving here (join, leave, repair): keep it if newer. */
static void
objects_xfer(struct node *n, struct conn *c, const struct wire_obj *o)
{
	int rc;

	if (o->dims != n->cfg.dims) {
		conn_close(c, "transfer with wrong dimensions");
		return;
	}
	rc = objects_store_if_newer(n, o);
	if (rc == STORE_CORRUPT)
		log_warnx("%s: transferred replica fails its checksum; "
		    "dropped", conn_name(c));
	else if (rc != 0)
		log_error("cannot store a transferred replica (%s)",
		    wire_error_text(obj_store_error(rc)));
}

/* An object body for a stored replica, under the given id. */
void
objects_obj_from_store(struct node *n, const struct store_id *id,
    const struct store_meta *meta, const void *data, size_t len,
    struct wire_obj *o)
{
	memset(o, 0, sizeof *o);
	o->dims = n->cfg.dims;
	o->point = id->point;
	o->key = id->key;
	o->index = id->replica;
	o->meta.version = meta->version;
	o->meta.writer = meta->writer;
	o->meta.checksum = meta->checksum;
	o->meta.mtime_ms = meta->mtime_ms;
	o->meta.flags = meta->flags & STORE_F_TOMBSTONE;
	o->meta.op.client = meta->op_client;
	o->meta.op.seq = meta->op_seq;
	o->data = data;
	o->len = (uint32_t)len;
}

/* Send one local replica as an XFER frame. */
void
objects_send_xfer(struct node *n, struct conn *c, const struct store_id *id,
    const struct store_meta *meta, const void *data, size_t len)
{
	struct wire_obj o;

	objects_obj_from_store(n, id, meta, data, len, &o);
	obj_send(c, WIRE_OBJ_XFER, 0, 0, &o);
}

/* ---- the coordinator ---------------------------------------------- */

/* Free op once it is finished and nothing refers to it. */
static void
op_release(struct op *op)
{
	if (!op->done || op->inflight > 0)
		return;
	if (op->retry != NULL)
		event_free(op->retry);
	free(op->data);
	free(op->best_data);
	free(op);
}

/* Answer the client with an error and finish. */
static void
op_fail(struct op *op, uint32_t code, const char *msg)
{
	struct node *n = op->n;

	if (op->done)
		return;
	op->done = true;
	op_set_phase(op, OP_DONE);
	node_send_error(transport_conn_by_serial(n->transport, op->client),
	    op->creqid, code, msg ? msg : wire_error_text(code));
	op_release(op);
}

/* Answer the client with an object body and finish. */
static void
op_reply(struct op *op, uint16_t type, const struct wire_meta *meta,
    const uint8_t *data, uint32_t len)
{
	struct node *n = op->n;
	struct wire_obj o;

	if (op->done)
		return;
	op->done = true;
	op_set_phase(op, OP_DONE);
	memset(&o, 0, sizeof o);
	o.key = op->key;
	o.meta = *meta;
	o.data = data;
	o.len = len;
	obj_send(transport_conn_by_serial(n->transport, op->client), type, 0,
	    op->creqid, &o);
	op_release(op);
}

/* Retry timer fired. */
static void
op_retry_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct op *op = arg;

	(void)fd;
	(void)ev;
	op_start(op);
}

/* Try again from the top (fresh lookups), with backoff, or give up. */
static void
op_retry(struct op *op, const char *why)
{
	struct node *n = op->n;
	uint64_t delay = 50u * (uint64_t)(1u << (op->attempts < 6 ?
	    op->attempts : 6));
	struct timeval tv = { (time_t)(delay / 1000),
	    (suseconds_t)(delay % 1000) * 1000 };

	op->why = why;
	if (++op->attempts > OP_MAX_ATTEMPTS ||
	    node_now_ms() - op->started_ms > OP_DEADLINE_MS) {
		char msg[160];

		snprintf(msg, sizeof msg, "gave up after %d attempts: %s",
		    op->attempts - 1, why);
		op_fail(op, WIRE_E_UNAVAIL, msg);
		return;
	}
	log_debug("retrying an object request: %s", why);
	op_set_phase(op, OP_BACKOFF);
	op->nocache = true;
	if (op->retry == NULL)
		op->retry = evtimer_new(n->base, op_retry_cb, op);
	evtimer_add(op->retry, &tv);
}

/* Send a request about replica slot to its owner; cb gets the answer. */
static void
op_call(struct op *op, int slot, uint16_t type, uint32_t flags,
    const struct wire_obj *o, rpc_cb cb)
{
	struct node *n = op->n;
	struct op_call *call = xcalloc(1, sizeof *call);
	struct conn *c;
	uint64_t reqid;

	call->op = op;
	call->slot = slot;
	op->inflight++;
	c = transport_peer(n->transport, op->rs.r[slot].addr);
	/* Never call back from here: callers loop over replicas. */
	reqid = rpc_new_on(n, c ? conn_serial(c) : 0, cb, call,
	    c ? OP_REPLICA_TIMEOUT_MS : 0);
	if (c != NULL)
		obj_send(c, type, flags, reqid, o);
}

/* Object body naming replica slot of op's key. */
static void
op_body(struct op *op, int slot, struct wire_obj *o)
{
	memset(o, 0, sizeof *o);
	o->dims = op->n->cfg.dims;
	o->point = op->rs.r[slot].p;
	o->key = op->key;
	o->index = op->rs.r[slot].index;
}

/* Unpack a call context; false (and cleanup) when the op is over. */
static struct op *
op_answer(void *arg, int *slot)
{
	struct op_call *call = arg;
	struct op *op;

	if (call == NULL)
		return NULL;
	op = call->op;
	*slot = call->slot;
	free(call);
	op->inflight--;
	if (op->done) {
		op_release(op);
		return NULL;
	}
	return op;
}

/* Error code of an ERROR reply (or -1 for anything else). */
static int64_t
op_error_code(const struct wire_header *h, const uint8_t *body, char *msg,
    size_t msglen)
{
	uint32_t code;

	if (h == NULL || h->type != WIRE_ERROR ||
	    wire_error_decode(body, h->len, &code, msg, msglen) != 0)
		return -1;
	return code;
}

/* A good copy from an OBJ_VALUE reply (checksum verified), or false. */
static bool
op_good_value(const struct wire_header *h, const uint8_t *body,
    struct wire_obj *o)
{
	if (h == NULL || h->type != WIRE_OBJ_VALUE ||
	    wire_obj_decode(body, h->len, o) != 0)
		return false;
	if (hash_checksum(o->data, o->len) != o->meta.checksum) {
		log_warnx("a replica sent a copy that fails its checksum; "
		    "trying the others");
		return false;
	}
	return true;
}

/* Keep the newest good copy seen. */
static void
op_keep_best(struct op *op, const struct wire_obj *o)
{
	if (op->have_best && o->meta.version <= op->best.version)
		return;
	free(op->best_data);
	op->best = o->meta;
	op->best_len = o->len;
	op->best_data = xmalloc(o->len ? o->len : 1);
	memcpy(op->best_data, o->data, o->len);
	op->have_best = true;
}

/* Every other replica answered a fallback read. */
static void
op_others_done(struct op *op)
{
	struct wire_obj o;

	if (op->kind == OP_GET) {
		if (op->have_best) {
			/* Read repair: give the primary the copy it lacked. */
			op_body(op, 0, &o);
			o.meta = op->best;
			o.data = op->best_data;
			o.len = op->best_len;
			obj_send(transport_peer(op->n->transport,
			    op->rs.r[0].addr), WIRE_OBJ_XFER, 0, 0, &o);
			if (op->best.flags & WIRE_OBJ_TOMBSTONE)
				op_fail(op, WIRE_E_NOTFOUND, NULL);
			else
				op_reply(op, WIRE_OBJ_VALUE, &op->best,
				    op->best_data, op->best_len);
		} else if (op->stale > 0) {
			op_retry(op, "replicas unreachable or moved");
		} else {
			op_fail(op, WIRE_E_NOTFOUND, NULL);
		}
		return;
	}
	/* A write whose primary had no copy (or an unsure one). */
	op->synced = true;
	if (op->stale > 0) {
		op_retry(op, "replicas unreachable or moved");
		return;
	}
	if (!op->have_best)
		op->absent_ok = true;
	op_write_primary(op); /* writes the best copy back first, if any */
}

/* One fallback read answered. */
static void
op_other_cb(struct node *n, void *arg, const struct wire_header *h,
    const uint8_t *body)
{
	struct wire_obj o;
	struct op *op;
	char msg[128];
	int slot;
	int64_t code;

	(void)n;
	if ((op = op_answer(arg, &slot)) == NULL)
		return;
	if (op_good_value(h, body, &o))
		op_keep_best(op, &o);
	else if ((code = op_error_code(h, body, msg, sizeof msg)) !=
	    WIRE_E_NOTFOUND && code != WIRE_E_CORRUPT)
		op->stale++;
	if (--op->waiting == 0)
		op_others_done(op);
}

/* Ask every replica but the primary for its copy. */
static void
op_read_others(struct op *op)
{
	struct wire_obj o;

	op_set_phase(op, OP_SYNCING);
	op->waiting = op->rs.n - 1;
	op->stale = 0;
	op->have_best = false;
	if (op->waiting == 0) {
		op_others_done(op);
		return;
	}
	for (int i = 1; i < op->rs.n && !op->done; i++) {
		op_body(op, i, &o);
		op_call(op, i, WIRE_OBJ_R_GET, 0, &o, op_other_cb);
	}
}

/* The primary answered a read. */
static void
op_primary_read_cb(struct node *n, void *arg, const struct wire_header *h,
    const uint8_t *body)
{
	struct wire_obj o;
	struct op *op;
	char msg[128];
	int slot;
	int64_t code;

	(void)n;
	if ((op = op_answer(arg, &slot)) == NULL)
		return;
	if (op_good_value(h, body, &o) && (h->flags & WIRE_OV_UNSURE) &&
	    op->rs.n > 1) {
		/* A primary that gained the space lately: the newest wins. */
		op_read_others(op);
		op_keep_best(op, &o);
		return;
	}
	if (op_good_value(h, body, &o)) {
		if (o.meta.flags & WIRE_OBJ_TOMBSTONE)
			op_fail(op, WIRE_E_NOTFOUND, NULL);
		else
			op_reply(op, WIRE_OBJ_VALUE, &o.meta, o.data, o.len);
		return;
	}
	code = op_error_code(h, body, msg, sizeof msg);
	if (code == WIRE_E_WRONG_OWNER || code == WIRE_E_UNAVAIL) {
		route_cache_forget_point(&op->n->cache, &op->rs.r[0].p,
		    op->n->cfg.dims);
		op_retry(op, "primary does not own the point");
		return;
	}
	op_read_others(op);
}

/* Acknowledge the write to the client. */
static void
op_ack(struct op *op)
{
	struct wire_meta meta = { .version = op->version };

	if (op->acked < op->rs.n)
		log_debug("write acknowledged with %d of %d replicas; the "
		    "rest follow or repair restores them", op->acked,
		    op->rs.n);
	op_reply(op, WIRE_OBJ_DONE, &meta, NULL, 0);
}

/* A replica answered the replication of the decided version. */
static void
op_replicate_cb(struct node *n, void *arg, const struct wire_header *h,
    const uint8_t *body)
{
	struct op *op;
	char msg[128];
	int slot, need;
	int64_t code;

	(void)n;
	if ((op = op_answer(arg, &slot)) == NULL)
		return;
	code = op_error_code(h, body, msg, sizeof msg);
	if (h != NULL && h->type == WIRE_OBJ_DONE) {
		op->acked++;
		if (slot == 0)
			op->primary_acked = true;
	} else {
		op->failed++;
		if (code == WIRE_E_NOSPACE)
			op->nospace++;
	}
	need = op->rs.n / 2 + 1;
	/* Durable at the primary and at a majority: that is the ack. */
	if (op->primary_acked && op->acked >= need) {
		op->durable = true;
		op_ack(op);
		return;
	}
	if (--op->waiting > 0)
		return;
	if (op->primary_acked)
		op->durable = true;
	/* Full disks do not empty themselves: ENOSPC now, not EIO in 30 s. */
	if (op->acked + op->failed - op->nospace < need) {
		log_warnx("write refused: %d of %d replicas are out of space",
		    op->nospace, op->rs.n);
		op_fail(op, WIRE_E_NOSPACE, "too few replicas have room for "
		    "the write");
		return;
	}
	/*
	 * Not durable at the primary: the decision may be lost with it, so
	 * decide again (the op id makes a decision that did land answer
	 * with its version).  Durable there but short of a majority:
	 * replicate the same version again once the set is known anew.
	 */
	op_retry(op, op->durable ? "too few replicas acknowledged the write" :
	    "the primary did not confirm its commit");
}

/*
 * Replicate the decided version: the primary confirms its commit (in the
 * first round; afterwards it stores like the others) while the other
 * replicas store the version, all in parallel.
 */
static void
op_replicate(struct op *op)
{
	struct wire_obj o;

	op_set_phase(op, OP_REPLICATING);
	op->waiting = op->rs.n;
	op->acked = op->failed = op->nospace = 0;
	op->primary_acked = false;
	for (int i = 0; i < op->rs.n && !op->done; i++) {
		bool confirm = i == 0 && !op->durable;

		op_body(op, i, &o);
		o.meta.version = op->version;
		o.meta.writer = op->rs.r[0].id;
		o.meta.checksum = op->checksum;
		o.meta.mtime_ms = objects_wall_ms();
		o.meta.flags = op->kind == OP_DEL ? WIRE_OBJ_TOMBSTONE : 0;
		o.meta.op = op->opid;
		if (!confirm) {
			o.data = op->data;
			o.len = op->len;
		} else {
			o.meta.checksum = hash_checksum(NULL, 0);
		}
		op_call(op, i, WIRE_OBJ_R_PUT, confirm ? WIRE_RP_CONFIRM : 0,
		    &o, op_replicate_cb);
	}
}

/* The primary answered a write (or a write-back of the newest copy). */
static void
op_primary_write_cb(struct node *n, void *arg, const struct wire_header *h,
    const uint8_t *body)
{
	struct wire_obj o;
	struct op *op;
	char msg[160];
	int slot;
	int64_t code;

	(void)n;
	if ((op = op_answer(arg, &slot)) == NULL)
		return;
	if (h != NULL && h->type == WIRE_OBJ_DONE &&
	    wire_obj_decode(body, h->len, &o) == 0) {
		if (op->phase == OP_WRITING_BACK) {
			/* The primary has the newest copy now: decide. */
			op_write_primary(op);
			return;
		}
		op->version = o.meta.version;
		op_replicate(op);
		return;
	}
	code = op_error_code(h, body, msg, sizeof msg);
	switch (code) {
	case WIRE_E_CONFLICT:
	case WIRE_E_NOSPACE:
	case WIRE_E_TOOBIG:
	case WIRE_E_PROTO:
		op_fail(op, (uint32_t)code, msg);
		break;
	case WIRE_E_MISSING:
		op_read_others(op);
		break;
	default:
		route_cache_forget_point(&op->n->cache, &op->rs.r[0].p,
		    op->n->cfg.dims);
		op_retry(op, h == NULL ? "primary did not answer" :
		    "primary refused the write");
	}
}

/* Send the write (or the write-back) to the primary. */
static void
op_write_primary(struct op *op)
{
	struct wire_obj o;
	uint32_t flags = WIRE_RP_PRIMARY;

	op_body(op, 0, &o);
	if (op->phase == OP_SYNCING && op->have_best) {
		op_set_phase(op, OP_WRITING_BACK);
		o.meta = op->best;
		o.data = op->best_data;
		o.len = op->best_len;
		op_call(op, 0, WIRE_OBJ_R_PUT, 0, &o, op_primary_write_cb);
		return;
	}
	op_set_phase(op, OP_DECIDING);
	if (op->absent_ok)
		flags |= WIRE_RP_ABSENT_OK;
	if (op->synced)
		flags |= WIRE_RP_SYNCED;
	o.cond = op->cond;
	o.cond_version = op->cond_version;
	o.meta.checksum = op->checksum;
	o.meta.flags = op->kind == OP_DEL ? WIRE_OBJ_TOMBSTONE : 0;
	o.meta.op = op->opid;
	o.data = op->data;
	o.len = op->len;
	op_call(op, 0, WIRE_OBJ_R_PUT, flags, &o, op_primary_write_cb);
}

/* The replica set is known: start the read or the write. */
static void
op_resolved_cb(struct node *n, void *arg, const struct replset *rs, int err)
{
	struct op *op = arg;
	struct wire_obj o;

	(void)n;
	op->inflight--;
	if (op->done) {
		op_release(op);
		return;
	}
	if (err != 0) {
		op_retry(op, "could not look up the replica set");
		return;
	}
	if (rs->n == 0) {
		op_fail(op, WIRE_E_NOROUTE, NULL);
		return;
	}
	op->rs = *rs;
	if (op->kind == OP_GET) {
		op_set_phase(op, OP_READING);
		op_body(op, 0, &o);
		op_call(op, 0, WIRE_OBJ_R_GET, 0, &o, op_primary_read_cb);
	} else if (op->durable) {
		op_replicate(op); /* decided and committed: never re-decide */
	} else {
		op_write_primary(op);
	}
}

/* (Re)start: resolve the replica set. */
static void
op_start(struct op *op)
{
	if (node_cut_off(op->n)) {
		/*
		 * The rest of the overlay serves our space meanwhile: wait
		 * for the link (a blip passes unnoticed), else give up.
		 */
		op_retry(op, "this node is cut off from the overlay: no "
		    "neighbour answers");
		return;
	}
	op->synced = false;
	op_set_phase(op, OP_RESOLVING);
	op->inflight++;
	resolve_replicas(op->n, &op->key, op->nocache, op_resolved_cb, op);
}

/* A client's GET/PUT/DEL. */
static void
objects_client(struct node *n, struct conn *c, const struct wire_header *h,
    const struct wire_obj *req)
{
	struct op *op;

	if (n->state != NODE_ACTIVE && n->state != NODE_LEAVING) {
		node_send_error(c, h->reqid, WIRE_E_UNAVAIL,
		    wire_error_text(WIRE_E_UNAVAIL));
		return;
	}
	op = xcalloc(1, sizeof *op);
	op->n = n;
	op->kind = h->type == WIRE_OBJ_GET ? OP_GET :
	    h->type == WIRE_OBJ_PUT ? OP_PUT : OP_DEL;
	op->client = conn_serial(c);
	op->creqid = h->reqid;
	op->key = req->key;
	op->cond = req->cond;
	op->cond_version = req->cond_version;
	op->opid = req->meta.op;
	if (op->opid.client == 0) {
		/* An old client: our own id still covers our retries. */
		op->opid.client = n->self.id != 0 ? n->self.id : 1;
		op->opid.seq = ++n->objs->op_seq;
	}
	op->started_ms = node_now_ms();
	if (op->kind == OP_PUT) {
		op->len = req->len;
		op->data = xmalloc(req->len ? req->len : 1);
		memcpy(op->data, req->data, req->len);
	}
	op->checksum = hash_checksum(op->data, op->len);
	if (op->kind == OP_PUT && req->meta.checksum != 0 &&
	    req->meta.checksum != op->checksum) {
		/* The client said what it sent; this is not it. */
		op->done = true;
		node_send_error(c, h->reqid, WIRE_E_CORRUPT,
		    "value does not match the client's checksum");
		op_release(op);
		return;
	}
	op_start(op);
}

/* Dispatch OBJ_* frames. */
void
objects_frame(struct node *n, struct conn *c, const struct wire_header *h,
    const uint8_t *body)
{
	struct wire_obj o;

	if (h->type == WIRE_OBJ_VALUE || h->type == WIRE_OBJ_DONE ||
	    h->type == WIRE_OBJ_WANT) {
		if (!rpc_complete(n, h, body))
			log_debug("late %s from %s ignored",
			    wire_type_name(h->type), conn_name(c));
		return;
	}
	if (wire_obj_decode(body, h->len, &o) != 0) {
		log_warnx("%s: malformed %s; dropping connection",
		    conn_name(c), wire_type_name(h->type));
		conn_close(c, "malformed frame");
		return;
	}
	switch (h->type) {
	case WIRE_OBJ_GET:
	case WIRE_OBJ_PUT:
	case WIRE_OBJ_DEL:
		objects_client(n, c, h, &o);
		break;
	case WIRE_OBJ_R_GET:
		objects_r_get(n, c, h, &o);
		break;
	case WIRE_OBJ_R_PUT:
		objects_r_put(n, c, h, &o);
		break;
	case WIRE_OBJ_XFER:
		objects_xfer(n, c, &o);
		break;
	default:
		conn_close(c, "unknown object message");
	}
}

/* Open the store; create the commit event. */
int
objects_init(struct node *n, char *err, size_t errlen)
{
	char dir[600];

	snprintf(dir, sizeof dir, "%s/store", n->cfg.data_dir);
	n->store = store_open(dir, n->cfg.dims,
	    n->cfg.store_map_mb ? n->cfg.store_map_mb << 20 : 0, err, errlen);
	if (n->store == NULL)
		return -1;
	n->objs = xcalloc(1, sizeof *n->objs);
	n->objs->seen = xcalloc(SEEN_MAX, sizeof *n->objs->seen);
	n->objs->bucket = xmalloc(SEEN_BUCKETS * sizeof *n->objs->bucket);
	for (int i = 0; i < SEEN_BUCKETS; i++)
		n->objs->bucket[i] = -1;
	n->objs->reap = event_new(n->base, store_event_fd(n->store),
	    EV_READ | EV_PERSIST, objects_reap_cb, n);
	event_add(n->objs->reap, NULL);
	return 0;
}

/* Commit what is pending and close the store. */
void
objects_free(struct node *n)
{
	if (n->objs != NULL) {
		/* Commit what is queued; answer whoever still waits. */
		store_commit(n->store);
		event_free(n->objs->reap);
		free(n->objs->seen);
		free(n->objs->bucket);
		free(n->objs);
		n->objs = NULL;
	}
	store_close(n->store);
	n->store = NULL;
}
