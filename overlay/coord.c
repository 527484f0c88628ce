/*
 * coord.c: the coordinator of the object store (coord.h): a client's GET,
 * PUT or DELETE resolved to its replica set and driven through the
 * phases of enum coord_phase.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "conn.h"
#include "coord.h"
#include "log.h"
#include "node.h"
#include "objects.h"
#include "resolve.h"
#include "rpc.h"
#include "stats.h"
#include "xmalloc.h"

#define COORD_REPLICA_TIMEOUT_MS 5000
#define COORD_MAX_ATTEMPTS 10
#define COORD_DEADLINE_MS 30000

enum coord_kind { COORD_GET, COORD_PUT, COORD_DEL, COORD_PATCH };

/*
 * Where a coordinated request stands.  A write goes RESOLVING ->
 * DECIDING (the primary checks the condition and assigns the version)
 * -> REPLICATING (the primary confirms its commit while the others
 * store the version) -> DONE; SYNCING and WRITING_BACK are the detour
 * when the primary has no copy it trusts.  Once the primary has
 * confirmed, a retry only replicates the decided version again: the
 * condition is never decided twice.
 *
 * A PATCH is decided like a PUT, the primary applying it to its newest
 * copy; the other replicas get the patch with the version it applied to
 * and the result's checksum (WIRE_RP_PATCH).  One that lacks that version
 * answers MISSING: if the write then falls short of a majority, the
 * coordinator reads the primary's whole value (FETCHING) and replicates
 * that instead.
 */
enum coord_phase {
	COORD_RESOLVING,	 /* looking up the replica set */
	COORD_READING,	 /* GET: asked the primary */
	COORD_SYNCING,	 /* asked the other replicas for their copies */
	COORD_WRITING_BACK, /* installing the newest copy at the primary */
	COORD_DECIDING,	 /* write: the primary checks and versions it */
	COORD_REPLICATING, /* write: commit at the primary, store elsewhere */
	COORD_FETCHING,	 /* patch: reading the primary's whole value */
	COORD_BACKOFF,	 /* waiting to try again */
	COORD_DONE,
};

static const char *const coord_phase_names[] = {
	"resolving", "reading", "syncing", "writing-back", "deciding",
	"replicating", "fetching", "backoff", "done",
};

/* One client request being coordinated. */
struct coord_op {
	struct node *n;
	enum coord_kind kind;
	enum coord_phase phase;
	bool done;
	coord_done_fn done_fn;	/* where the outcome goes; NULL: to the
				   client connection (client, creqid) */
	void *done_arg;
	struct wire_opid opid;	/* the client's id for this write */
	bool durable;		/* the primary confirmed its commit */
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
	uint64_t started_us;	/* monotonic (stats_now_us()): the deadline
				   and the latency histogram (stats.h) */
	struct replset rs;
	uint64_t version;	/* assigned by the primary */
	int waiting, acked, failed, stale; /* acked counts slot 0 too */
	int nospace;		/* fan-out replicas that answered NOSPACE */
	bool saw_nospace;	/* some replica did, in any attempt */
	bool synced;		/* the others were read this attempt */
	bool unsure;		/* the primary gained its space lately */
	bool extended;		/* owners beyond the set were asked too */
	int set_n;		/* members of the set (rs.n before extending) */
	bool have_best;		/* a good copy seen from the others */
	struct wire_meta best;
	uint8_t *best_data;
	uint32_t best_len;
	struct event *retry;
	const char *why;	/* last reason for a retry */

	/* PATCH (op->data is the patch). */
	bool full;		/* replicate the whole value full_data */
	uint8_t *full_data;
	uint32_t full_len;
	bool patched;		/* the primary told us base and checksum */
	uint64_t base_version;	/* the version the primary patched */
	uint64_t result_checksum; /* the checksum of what it made */
	int patch_missed;	/* replicas that lack the base, this round */
	struct wire_meta full_meta; /* of the whole value (full) */

	/* GET of a range: only the range travels, when the primary is sure. */
	bool ranged;
	uint8_t range[WIRE_RANGE_LEN];	/* as sent (wire_range_encode) */
	uint32_t roff, rlen;
	bool range_whole;	/* ask for whole copies: the primary is unsure */
	bool sliced;		/* the answer holds the range already */
};

/* Per-request context: which op, which replica. */
struct coord_call {
	struct coord_op *op;
	int slot;
};

static void coord_start(struct coord_op *op);
static void coord_write_primary(struct coord_op *op);
static void coord_replicate(struct coord_op *op);
static void coord_fetch_full(struct coord_op *op);

/* Move op to phase p (logged: the one place a phase changes). */
static void
coord_set_phase(struct coord_op *op, enum coord_phase p)
{
	if (op->phase != p && op->kind != COORD_GET)
		log_debug("write %016" PRIx64 ":%" PRIu64 ": %s -> %s",
		    op->opid.client, op->opid.seq, coord_phase_names[op->phase],
		    coord_phase_names[p]);
	op->phase = p;
}

/* ---- the coordinator ---------------------------------------------- */

/* Count op's answer in the daemon's metrics; code is WIRE_E_OK or why. */
static void
coord_count(struct coord_op *op, uint32_t code, uint32_t len)
{
	static const enum stats_req types[] = {
		[COORD_GET] = STATS_GET,
		[COORD_PUT] = STATS_PUT,
		[COORD_DEL] = STATS_DEL,
		[COORD_PATCH] = STATS_PUT,
	};
	struct stats *s = op->n->stats;

	/* Not found and a lost compare-and-swap are answers, not failures. */
	stats_request(s, types[op->kind], op->started_us, code == WIRE_E_OK ||
	    code == WIRE_E_NOTFOUND || code == WIRE_E_CONFLICT);
	s->bytes_out += len;
}

/* Free op once it is finished and nothing refers to it. */
static void
coord_release(struct coord_op *op)
{
	if (!op->done || op->inflight > 0)
		return;
	if (op->retry != NULL)
		event_free(op->retry);
	free(op->data);
	free(op->full_data);
	free(op->best_data);
	free(op);
}

/* Answer the client with an error and finish. */
static void
coord_fail(struct coord_op *op, uint32_t code, const char *msg)
{
	struct node *n = op->n;

	if (op->done)
		return;
	if (op->attempts > 0 && op->kind != COORD_GET)
		log_debug("write %016" PRIx64 ":%" PRIu64 ": %s after %d "
		    "retries (last: %s)", op->opid.client, op->opid.seq,
		    wire_error_text(code), op->attempts, op->why ? op->why : "");
	op->done = true;
	coord_set_phase(op, COORD_DONE);
	coord_count(op, code, 0);
	if (op->done_fn != NULL)
		op->done_fn(n, op->done_arg, WIRE_ERROR, NULL, code,
		    msg ? msg : wire_error_text(code));
	else
		node_send_error(transport_conn_by_serial(n->transport,
		    op->client), op->creqid, code,
		    msg ? msg : wire_error_text(code));
	coord_release(op);
}

/* Answer the client with an object body and finish. */
static void
coord_reply(struct coord_op *op, uint16_t type, const struct wire_meta *meta,
    const uint8_t *data, uint32_t len)
{
	struct node *n = op->n;
	struct wire_obj o;

	if (op->done)
		return;
	op->done = true;
	coord_set_phase(op, COORD_DONE);
	coord_count(op, WIRE_E_OK, type == WIRE_OBJ_VALUE ? len : 0);
	memset(&o, 0, sizeof o);
	o.key = op->key;
	o.meta = *meta;
	o.data = data;
	o.len = len;
	if (op->ranged && !op->sliced && type == WIRE_OBJ_VALUE) {
		uint32_t pos, cnt;

		wire_range_clip(op->roff, op->rlen, len, &pos, &cnt);
		o.data = data + pos;
		o.len = cnt;
		o.meta.checksum = hash_checksum(o.data, o.len);
	}
	if (op->done_fn != NULL)
		op->done_fn(n, op->done_arg, type, &o, WIRE_E_OK, NULL);
	else
		objects_send_obj(transport_conn_by_serial(n->transport,
		    op->client), type, 0, op->creqid, &o);
	coord_release(op);
}

/* Retry timer fired. */
static void
coord_retry_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct coord_op *op = arg;

	(void)fd;
	(void)ev;
	coord_start(op);
}

/* Try again from the top (fresh lookups), with backoff, or give up. */
static void
coord_retry(struct coord_op *op, const char *why)
{
	struct node *n = op->n;
	uint64_t delay = 50u * (uint64_t)(1u << (op->attempts < 6 ?
	    op->attempts : 6));
	struct timeval tv = { (time_t)(delay / 1000),
	    (suseconds_t)(delay % 1000) * 1000 };

	op->why = why;
	if (++op->attempts > COORD_MAX_ATTEMPTS ||
	    stats_now_us() - op->started_us >
	    (uint64_t)COORD_DEADLINE_MS * 1000) {
		char msg[160];

		snprintf(msg, sizeof msg, "gave up after %d attempts: %s%s",
		    op->attempts - 1, why, op->saw_nospace ? " (replicas "
		    "out of space)" : "");
		/*
		 * Full disks were among the reasons no majority took it
		 * (one full, another slow or failing): ENOSPC tells the
		 * user what to fix, where EIO would not.  Seen in
		 * disk_full: a write one full replica short, retried for
		 * 30 s, then EIO.
		 */
		coord_fail(op, op->saw_nospace ? WIRE_E_NOSPACE :
		    WIRE_E_UNAVAIL, msg);
		return;
	}
	log_debug("retrying an object request: %s", why);
	coord_set_phase(op, COORD_BACKOFF);
	op->nocache = true;
	if (op->retry == NULL)
		op->retry = evtimer_new(n->base, coord_retry_cb, op);
	evtimer_add(op->retry, &tv);
}

/* Send a request about replica slot to its owner; cb gets the answer. */
static void
coord_call(struct coord_op *op, int slot, uint16_t type, uint32_t flags,
    const struct wire_obj *o, rpc_cb cb)
{
	struct node *n = op->n;
	struct coord_call *call = xcalloc(1, sizeof *call);
	struct conn *c;
	uint64_t reqid;

	call->op = op;
	call->slot = slot;
	op->inflight++;
	c = transport_peer(n->transport, op->rs.r[slot].addr);
	/* Never call back from here: callers loop over replicas. */
	reqid = rpc_new_on(n, c ? conn_serial(c) : 0, cb, call,
	    c ? COORD_REPLICA_TIMEOUT_MS : 0);
	if (c != NULL)
		objects_send_obj(c, type, flags, reqid, o);
}

/* Object body naming replica slot of op's key. */
static void
coord_body(struct coord_op *op, int slot, struct wire_obj *o)
{
	memset(o, 0, sizeof *o);
	o->dims = op->n->cfg.dims;
	o->point = op->rs.r[slot].p;
	o->key = op->key;
	o->index = op->rs.r[slot].index;
}

/* Unpack a call context; false (and cleanup) when the op is over. */
static struct coord_op *
coord_answer(void *arg, int *slot)
{
	struct coord_call *call = arg;
	struct coord_op *op;

	if (call == NULL)
		return NULL;
	op = call->op;
	*slot = call->slot;
	free(call);
	op->inflight--;
	if (op->done) {
		coord_release(op);
		return NULL;
	}
	return op;
}

/* Error code of an ERROR reply (or -1 for anything else). */
static int64_t
coord_error_code(const struct wire_header *h, const uint8_t *body, char *msg,
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
coord_good_value(const struct wire_header *h, const uint8_t *body,
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
coord_keep_best(struct coord_op *op, const struct wire_obj *o)
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

static void coord_read_extended(struct coord_op *op);

/* Every other replica answered a fallback read. */
static void
coord_others_done(struct coord_op *op)
{
	struct wire_obj o;

	/*
	 * Nothing in the set, or a primary that gained its space lately: the
	 * holders of the copies may have dropped out of the set (a takeover,
	 * a handover) before repair moved the copies.  Ask them too, once.
	 */
	if (!op->extended && op->stale == 0 && (!op->have_best || op->unsure)) {
		coord_read_extended(op);
		return;
	}
	op->rs.n = op->set_n; /* the owners beyond the set were only read */
	if (op->kind == COORD_GET) {
		if (op->have_best) {
			/* Read repair: give the primary the copy it lacked. */
			coord_body(op, 0, &o);
			o.meta = op->best;
			o.data = op->best_data;
			o.len = op->best_len;
			objects_send_obj(transport_peer(op->n->transport,
			    op->rs.r[0].addr), WIRE_OBJ_XFER, 0, 0, &o);
			if (op->best.flags & WIRE_OBJ_TOMBSTONE)
				coord_fail(op, WIRE_E_NOTFOUND, NULL);
			else
				coord_reply(op, WIRE_OBJ_VALUE, &op->best,
				    op->best_data, op->best_len);
		} else if (op->stale > 0) {
			coord_retry(op, "replicas unreachable or moved");
		} else {
			coord_fail(op, WIRE_E_NOTFOUND, NULL);
		}
		return;
	}
	/* A write whose primary had no copy (or an unsure one). */
	op->synced = true;
	if (op->stale > 0) {
		coord_retry(op, "replicas unreachable or moved");
		return;
	}
	if (!op->have_best)
		op->absent_ok = true;
	coord_write_primary(op); /* writes the best copy back first, if any */
}

/* One fallback read answered. */
static void
coord_other_cb(struct node *n, void *arg, const struct wire_header *h,
    const uint8_t *body)
{
	struct wire_obj o;
	struct coord_op *op;
	char msg[128];
	int slot;
	int64_t code;

	(void)n;
	if ((op = coord_answer(arg, &slot)) == NULL)
		return;
	if (coord_good_value(h, body, &o))
		coord_keep_best(op, &o);
	else if ((code = coord_error_code(h, body, msg, sizeof msg)) !=
	    WIRE_E_NOTFOUND && code != WIRE_E_CORRUPT && slot < op->set_n)
		op->stale++; /* (owners beyond the set are best effort) */
	if (--op->waiting == 0)
		coord_others_done(op);
}

/* Read slots first.. of the set (coord_other_cb gathers the answers). */
static void
coord_ask_others(struct coord_op *op, int first)
{
	struct wire_obj o;

	op->waiting = op->rs.n - first;
	if (op->waiting == 0) {
		coord_others_done(op);
		return;
	}
	for (int i = first; i < op->rs.n && !op->done; i++) {
		coord_body(op, i, &o);
		coord_call(op, i, WIRE_OBJ_R_GET, 0, &o, coord_other_cb);
	}
}

/* The owners beyond the set are known: ask those not asked yet. */
static void
coord_extended_cb(struct node *n, void *arg, const struct replset *rs,
    int err)
{
	struct coord_op *op = arg;
	int first = op->rs.n;

	(void)n;
	op->inflight--;
	if (op->done) {
		coord_release(op);
		return;
	}
	if (err == 0) {
		for (int i = 0; i < rs->n && op->rs.n < RESOLVE_MAX; i++) {
			bool asked = false;

			for (int j = 0; j < op->rs.n; j++)
				if (op->rs.r[j].id == rs->r[i].id)
					asked = true;
			if (!asked)
				op->rs.r[op->rs.n++] = rs->r[i];
		}
	}
	coord_ask_others(op, first);
}

/* Look up the owners that follow the set in probe order, then ask them. */
static void
coord_read_extended(struct coord_op *op)
{
	int want = 2 * op->n->cfg.replicas + 1;

	op->extended = true;
	op->inflight++;
	resolve_owners(op->n, &op->key, false, want < RESOLVE_MAX ? want :
	    RESOLVE_MAX, coord_extended_cb, op);
}

/* Ask every replica but the primary for its copy. */
static void
coord_read_others(struct coord_op *op)
{
	coord_set_phase(op, COORD_SYNCING);
	op->stale = 0;
	op->have_best = false;
	coord_ask_others(op, 1);
}

/* The primary answered a read. */
static void
coord_primary_read_cb(struct node *n, void *arg, const struct wire_header *h,
    const uint8_t *body)
{
	struct wire_obj o;
	struct coord_op *op;
	char msg[128];
	int slot;
	int64_t code;

	(void)n;
	if ((op = coord_answer(arg, &slot)) == NULL)
		return;
	if (coord_good_value(h, body, &o) && (h->flags & WIRE_OV_UNSURE) &&
	    (h->flags & WIRE_OV_RANGE)) {
		/* A range is no copy to compare: ask it for the whole. */
		op->range_whole = true;
		coord_body(op, 0, &o);
		coord_call(op, 0, WIRE_OBJ_R_GET, 0, &o, coord_primary_read_cb);
		return;
	}
	if (coord_good_value(h, body, &o) && (h->flags & WIRE_OV_UNSURE)) {
		/* A primary that gained the space lately: the newest wins. */
		op->unsure = true;
		coord_read_others(op);
		coord_keep_best(op, &o);
		return;
	}
	if (coord_good_value(h, body, &o)) {
		op->sliced = (h->flags & WIRE_OV_RANGE) != 0;
		if (o.meta.flags & WIRE_OBJ_TOMBSTONE)
			coord_fail(op, WIRE_E_NOTFOUND, NULL);
		else
			coord_reply(op, WIRE_OBJ_VALUE, &o.meta, o.data, o.len);
		return;
	}
	code = coord_error_code(h, body, msg, sizeof msg);
	if (code == WIRE_E_WRONG_OWNER || code == WIRE_E_UNAVAIL) {
		route_cache_forget_point(&op->n->cache, &op->rs.r[0].p,
		    op->n->cfg.dims);
		coord_retry(op, "primary does not own the point");
		return;
	}
	coord_read_others(op);
}

/* Acknowledge the write to the client. */
static void
coord_ack(struct coord_op *op)
{
	struct wire_meta meta = { .version = op->version };

	if (op->acked < op->rs.n)
		log_debug("write acknowledged with %d of %d replicas; the "
		    "rest follow or repair restores them", op->acked,
		    op->rs.n);
	coord_reply(op, WIRE_OBJ_DONE, &meta, NULL, 0);
}

/* The primary answered the read of the value a patch made. */
static void
coord_fetch_cb(struct node *n, void *arg, const struct wire_header *h,
    const uint8_t *body)
{
	struct wire_obj o;
	struct coord_op *op;
	int slot;

	(void)n;
	if ((op = coord_answer(arg, &slot)) == NULL)
		return;
	if (!coord_good_value(h, body, &o) || o.meta.version < op->version) {
		/* Not committed there yet, or the primary moved: again. */
		coord_retry(op, "the patched value could not be read back");
		return;
	}
	/*
	 * This version or a later one (decided after ours, so it holds our
	 * bytes unless they were overwritten): what the others should have.
	 */
	free(op->full_data);
	op->full_len = o.len;
	op->full_data = xmalloc(o.len ? o.len : 1);
	memcpy(op->full_data, o.data, o.len);
	op->full_meta = o.meta;
	op->full = true;
	coord_replicate(op);
}

/* Read the primary's whole value of a patched key (see COORD_FETCHING). */
static void
coord_fetch_full(struct coord_op *op)
{
	struct wire_obj o;

	coord_set_phase(op, COORD_FETCHING);
	coord_body(op, 0, &o);
	coord_call(op, 0, WIRE_OBJ_R_GET, 0, &o, coord_fetch_cb);
}

/* A replica answered the replication of the decided version. */
static void
coord_replicate_cb(struct node *n, void *arg, const struct wire_header *h,
    const uint8_t *body)
{
	struct coord_op *op;
	char msg[128];
	int slot, need;
	int64_t code;

	(void)n;
	if ((op = coord_answer(arg, &slot)) == NULL)
		return;
	code = coord_error_code(h, body, msg, sizeof msg);
	if (h != NULL && h->type == WIRE_OBJ_DONE) {
		op->acked++;
		if (slot == 0)
			op->primary_acked = true;
	} else {
		op->failed++;
		if (code == WIRE_E_MISSING && slot > 0 && !op->full)
			op->patch_missed++;
		if (code == WIRE_E_NOSPACE) {
			op->nospace++;
			op->saw_nospace = true;
		}
		if (code == WIRE_E_NOSPACE && slot == 0 && !op->durable) {
			/*
			 * The primary could not commit what it decided: its
			 * disk is full, and full disks do not empty
			 * themselves.  ENOSPC now, not EIO in 30 s.
			 */
			coord_fail(op, WIRE_E_NOSPACE, "the primary replica "
			    "is out of space");
			return;
		}
	}
	need = op->rs.n / 2 + 1;
	/* Durable at the primary and at a majority: that is the ack. */
	if (op->primary_acked && op->acked >= need) {
		op->durable = true;
		coord_ack(op);
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
		coord_fail(op, WIRE_E_NOSPACE, "too few replicas have room for "
		    "the write");
		return;
	}
	if (op->durable && op->patch_missed > 0) {
		/* Replicas without the patched version: send the value. */
		coord_fetch_full(op);
		return;
	}
	/*
	 * Not durable at the primary: the decision may be lost with it, so
	 * decide again (the op id makes a decision that did land answer
	 * with its version).  Durable there but short of a majority:
	 * replicate the same version again once the set is known anew.
	 */
	coord_retry(op, op->durable ?
	    "too few replicas acknowledged the write" :
	    "the primary did not confirm its commit");
}

/*
 * Replicate the decided version: the primary confirms its commit (in the
 * first round; afterwards it stores like the others) while the other
 * replicas store the version, all in parallel.
 */
static void
coord_replicate(struct coord_op *op)
{
	struct wire_obj o;
	uint32_t flags;

	coord_set_phase(op, COORD_REPLICATING);
	op->waiting = op->rs.n;
	op->acked = op->failed = op->nospace = op->patch_missed = 0;
	op->primary_acked = false;
	for (int i = 0; i < op->rs.n && !op->done; i++) {
		bool confirm = i == 0 && !op->durable;

		coord_body(op, i, &o);
		o.meta.version = op->version;
		o.meta.writer = op->rs.r[0].id;
		o.meta.checksum = op->checksum;
		o.meta.mtime_ms = objects_wall_ms();
		o.meta.flags = op->kind == COORD_DEL ? WIRE_OBJ_TOMBSTONE : 0;
		o.meta.op = op->opid;
		if (confirm) {
			o.meta.checksum = hash_checksum(NULL, 0);
		} else if (op->full) {
			o.meta = op->full_meta;
			o.data = op->full_data;
			o.len = op->full_len;
		} else {
			o.data = op->data;
			o.len = op->len;
		}
		if (!confirm && !op->full && op->kind == COORD_PATCH) {
			o.cond_version = op->base_version;
			o.meta.checksum = op->result_checksum;
			flags = WIRE_RP_PATCH;
		} else {
			flags = confirm ? WIRE_RP_CONFIRM : 0;
		}
		coord_call(op, i, WIRE_OBJ_R_PUT, flags, &o,
		    coord_replicate_cb);
	}
}

/* The primary answered a write (or a write-back of the newest copy). */
static void
coord_primary_write_cb(struct node *n, void *arg, const struct wire_header *h,
    const uint8_t *body)
{
	struct wire_obj o;
	struct coord_op *op;
	char msg[160];
	int slot;
	int64_t code;

	(void)n;
	if ((op = coord_answer(arg, &slot)) == NULL)
		return;
	if (h != NULL && h->type == WIRE_OBJ_DONE &&
	    wire_obj_decode(body, h->len, &o) == 0) {
		if (op->phase == COORD_WRITING_BACK) {
			/* The primary has the newest copy now: decide. */
			coord_write_primary(op);
			return;
		}
		op->version = o.meta.version;
		if (op->kind == COORD_PATCH && !op->full) {
			op->patched = (h->flags & WIRE_OD_PATCHED) != 0;
			op->base_version = o.cond_version;
			op->result_checksum = o.meta.checksum;
			if (!op->patched) {
				/*
				 * Applied by an earlier attempt: the base is
				 * unknown, so the value itself goes out once
				 * the primary has committed it.
				 */
				op->durable = false;
				coord_fetch_full(op);
				return;
			}
		}
		coord_replicate(op);
		return;
	}
	code = coord_error_code(h, body, msg, sizeof msg);
	switch (code) {
	case WIRE_E_CONFLICT:
	case WIRE_E_NOSPACE:
	case WIRE_E_TOOBIG:
	case WIRE_E_PROTO:
		coord_fail(op, (uint32_t)code, msg);
		break;
	case WIRE_E_MISSING:
		op->unsure = true; /* no copy it trusts */
		coord_read_others(op);
		break;
	default:
		route_cache_forget_point(&op->n->cache, &op->rs.r[0].p,
		    op->n->cfg.dims);
		coord_retry(op, h == NULL ? "primary did not answer" :
		    "primary refused the write");
	}
}

/* Send the write (or the write-back) to the primary. */
static void
coord_write_primary(struct coord_op *op)
{
	struct wire_obj o;
	uint32_t flags = WIRE_RP_PRIMARY;

	coord_body(op, 0, &o);
	if (op->phase == COORD_SYNCING && op->have_best) {
		coord_set_phase(op, COORD_WRITING_BACK);
		o.meta = op->best;
		o.data = op->best_data;
		o.len = op->best_len;
		coord_call(op, 0, WIRE_OBJ_R_PUT, 0, &o,
		    coord_primary_write_cb);
		return;
	}
	coord_set_phase(op, COORD_DECIDING);
	if (op->absent_ok)
		flags |= WIRE_RP_ABSENT_OK;
	if (op->synced)
		flags |= WIRE_RP_SYNCED;
	if (op->kind == COORD_PATCH)
		flags |= WIRE_RP_PATCH;
	o.cond = op->cond;
	o.cond_version = op->cond_version;
	o.meta.checksum = op->checksum;
	o.meta.flags = op->kind == COORD_DEL ? WIRE_OBJ_TOMBSTONE : 0;
	o.meta.op = op->opid;
	o.data = op->data;
	o.len = op->len;
	coord_call(op, 0, WIRE_OBJ_R_PUT, flags, &o, coord_primary_write_cb);
}

/* The replica set is known: start the read or the write. */
static void
coord_resolved_cb(struct node *n, void *arg, const struct replset *rs, int err)
{
	struct coord_op *op = arg;
	struct wire_obj o;

	(void)n;
	op->inflight--;
	if (op->done) {
		coord_release(op);
		return;
	}
	if (err != 0) {
		coord_retry(op, "could not look up the replica set");
		return;
	}
	if (rs->n == 0) {
		coord_fail(op, WIRE_E_NOROUTE, NULL);
		return;
	}
	op->rs = *rs;
	op->set_n = rs->n;
	op->unsure = op->extended = false;
	if (op->kind == COORD_GET) {
		coord_set_phase(op, COORD_READING);
		coord_body(op, 0, &o);
		if (op->ranged && !op->range_whole) {
			o.data = op->range;
			o.len = sizeof op->range;
		}
		coord_call(op, 0, WIRE_OBJ_R_GET, 0, &o, coord_primary_read_cb);
	} else if (op->durable) {
		coord_replicate(op); /* committed: never decide again */
	} else {
		coord_write_primary(op);
	}
}

/* (Re)start: resolve the replica set. */
static void
coord_start(struct coord_op *op)
{
	if (node_cut_off(op->n)) {
		/*
		 * The rest of the overlay serves our space meanwhile: wait
		 * for the link (a blip passes unnoticed), else give up.
		 */
		coord_retry(op, "this node is cut off from the overlay: no "
		    "neighbour answers");
		return;
	}
	op->synced = false;
	coord_set_phase(op, COORD_RESOLVING);
	op->inflight++;
	resolve_replicas(op->n, &op->key, op->nocache, coord_resolved_cb, op);
}

/*
 * A new op for a GET/PUT/DEL (type) from a client, its outcome going to
 * done (or, when done is NULL, to connection c with reqid); started, or
 * failed at once.
 */
static void
coord_begin(struct node *n, uint16_t type, const struct wire_obj *req,
    struct conn *c, uint64_t reqid, coord_done_fn done, void *arg)
{
	struct coord_op *op = xcalloc(1, sizeof *op);

	op->started_us = stats_now_us();
	op->n = n;
	op->kind = type == WIRE_OBJ_GET ? COORD_GET :
	    type == WIRE_OBJ_PUT ? COORD_PUT :
	    type == WIRE_OBJ_PATCH ? COORD_PATCH : COORD_DEL;
	op->done_fn = done;
	op->done_arg = arg;
	op->client = c != NULL ? conn_serial(c) : 0;
	op->creqid = reqid;
	op->key = req->key;
	op->cond = req->cond;
	op->cond_version = req->cond_version;
	op->opid = req->meta.op;
	if (n->state != NODE_ACTIVE && n->state != NODE_LEAVING) {
		coord_fail(op, WIRE_E_UNAVAIL, NULL);
		return;
	}
	if (op->opid.client == 0) {
		/* An old client: our own id still covers our retries. */
		op->opid.client = n->self.id != 0 ? n->self.id : 1;
		op->opid.seq = ++n->objs->op_seq;
	}
	if (op->kind == COORD_GET && req->len != 0) {
		if (wire_range_decode(req->data, req->len, &op->roff,
		    &op->rlen) != 0) {
			coord_fail(op, WIRE_E_PROTO, "malformed range");
			return;
		}
		op->ranged = true;
		/* Exactly a range (decoded): pass it on as it came. */
		memcpy(op->range, req->data, sizeof op->range);
	}
	if (op->kind == COORD_PATCH &&
	    wire_patch_check(req->data, req->len, NULL) != 0) {
		coord_fail(op, WIRE_E_PROTO, "malformed patch");
		return;
	}
	if (op->kind == COORD_PUT || op->kind == COORD_PATCH) {
		n->stats->bytes_in += req->len;
		op->len = req->len;
		op->data = xmalloc(req->len ? req->len : 1);
		memcpy(op->data, req->data, req->len);
	}
	op->checksum = hash_checksum(op->data, op->len);
	if ((op->kind == COORD_PUT || op->kind == COORD_PATCH) &&
	    req->meta.checksum != 0 &&
	    req->meta.checksum != op->checksum) {
		/* The client said what it sent; this is not it. */
		coord_fail(op, WIRE_E_CORRUPT,
		    "value does not match the client's checksum");
		return;
	}
	coord_start(op);
}

/* A client's GET/PUT/DEL. */
void
coord_client(struct node *n, struct conn *c, const struct wire_header *h,
    const struct wire_obj *req)
{
	coord_begin(n, h->type, req, c, h->reqid, NULL, NULL);
}

/* A GET/PUT/DEL whose outcome goes to a callback (see coord.h). */
void
coord_request(struct node *n, uint16_t type, const struct wire_obj *req,
    coord_done_fn done, void *arg)
{
	coord_begin(n, type, req, NULL, 0, done, arg);
}
