/*
 * batch.c: a client's OBJ_BATCH (batch.h): every sub-request coordinated
 * by coord.c as if it came alone, all at once, and one OBJ_BATCH_REPLY
 * once the last has finished.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "conn.h"
#include "coord.h"
#include "log.h"
#include "node.h"
#include "objects.h"
#include "stats.h"
#include "xmalloc.h"

/* The outcome of one sub-request. */
struct batch_res {
	uint16_t type;		/* VALUE, DONE or ERROR; 0 while running */
	struct hash_key key;
	struct wire_meta meta;
	uint8_t *data;		/* VALUE: a copy of the value, owned */
	uint32_t len;
	uint32_t code;		/* ERROR */
	char msg[WIRE_BATCH_MSG_MAX];
};

struct batch;

/* What a sub-request's callback gets: its batch and its position. */
struct batch_call {
	struct batch *b;
	uint32_t i;
};

/* One batch being coordinated. */
struct batch {
	struct node *n;
	uint64_t client;	/* conn serial of the client */
	uint64_t reqid;		/* its request id */
	uint64_t started_us;	/* arrival, for its latency (stats.h) */
	uint32_t count;		/* sub-requests */
	uint32_t running;	/* not finished yet (+1 while starting) */
	size_t data;		/* value bytes held for the reply */
	struct batch_res *res;	/* count outcomes, in request order */
	struct batch_call *calls;
};

/* Free a batch and the values it holds. */
static void
batch_free(struct batch *b)
{
	for (uint32_t i = 0; i < b->count; i++)
		free(b->res[i].data);
	free(b->res);
	free(b->calls);
	free(b);
}

/* Every sub-request finished: send the reply (if the client is still
 * there) and free the batch. */
static void
batch_finish(struct batch *b)
{
	struct wire_batch rb;
	struct conn *c;
	struct wbuf w;

	rb.n = b->count;
	rb.items = xcalloc(b->count, sizeof *rb.items);
	for (uint32_t i = 0; i < b->count; i++) {
		struct wire_batch_item *it = &rb.items[i];
		const struct batch_res *r = &b->res[i];

		it->type = r->type;
		if (r->type == WIRE_ERROR) {
			it->code = r->code;
			memcpy(it->msg, r->msg, sizeof it->msg);
			continue;
		}
		it->o.key = r->key;
		it->o.meta = r->meta;
		it->o.data = r->data;
		it->o.len = r->len;
	}
	if ((c = transport_conn_by_serial(b->n->transport, b->client)) != NULL) {
		wbuf_init(&w);
		wire_frame_begin(&w, WIRE_OBJ_BATCH_REPLY, 0, b->reqid);
		wire_batch_encode(&w, &rb);
		wire_frame_end(&w);
		conn_send(c, &w);
		wbuf_free(&w);
	}
	free(rb.items);
	stats_request(b->n->stats, STATS_BATCH, b->started_us, true);
	batch_free(b);
}

/* Record an error outcome (message cut to fit the reply's limit). */
static void
batch_set_error(struct batch_res *r, uint32_t code, const char *msg)
{
	r->type = WIRE_ERROR;
	r->code = code;
	snprintf(r->msg, sizeof r->msg, "%s", msg);
}

/*
 * One sub-request finished (coord_done_fn).  A value is copied while the
 * reply has room for it; beyond WIRE_BATCH_MAX_DATA it is answered TOOBIG
 * instead, for the client to read alone.
 */
static void
batch_item_done(struct node *n, void *arg, uint16_t type,
    const struct wire_obj *reply, uint32_t code, const char *msg)
{
	struct batch_call *call = arg;
	struct batch *b = call->b;
	struct batch_res *r = &b->res[call->i];

	(void)n;
	if (type == WIRE_ERROR) {
		batch_set_error(r, code, msg);
	} else if (type == WIRE_OBJ_VALUE &&
	    reply->len > WIRE_BATCH_MAX_DATA - b->data) {
		batch_set_error(r, WIRE_E_TOOBIG, "the batch reply is full: "
		    "read this object alone");
	} else {
		r->type = type;
		r->key = reply->key;
		r->meta = reply->meta;
		if (type == WIRE_OBJ_VALUE && reply->len > 0) {
			r->data = xmalloc(reply->len);
			memcpy(r->data, reply->data, reply->len);
			r->len = reply->len;
			b->data += reply->len;
		}
	}
	if (--b->running == 0)
		batch_finish(b);
}

/* An OBJ_BATCH from c (see batch.h). */
void
batch_client(struct node *n, struct conn *c, const struct wire_header *h,
    const uint8_t *body)
{
	struct wire_batch req;
	struct batch *b;

	/*
	 * Without a request id a batch would escape the connection's
	 * in-flight limit (and its reply could not be matched): malformed.
	 */
	if (h->reqid == 0 || wire_batch_decode(body, h->len, &req) != 0) {
		log_warnx("%s: malformed %s; dropping connection",
		    conn_name(c), wire_type_name(h->type));
		conn_close(c, "malformed frame");
		return;
	}
	b = xcalloc(1, sizeof *b);
	b->started_us = stats_now_us();
	b->n = n;
	b->client = conn_serial(c);
	b->reqid = h->reqid;
	b->count = req.n;
	b->res = xcalloc(req.n, sizeof *b->res);
	b->calls = xcalloc(req.n, sizeof *b->calls);
	/* Sub-requests may finish at once: hold the batch until all began. */
	b->running = req.n + 1;
	log_debug("%s: batch of %u requests", conn_name(c), req.n);
	for (uint32_t i = 0; i < req.n; i++) {
		b->calls[i].b = b;
		b->calls[i].i = i;
		coord_request(n, req.items[i].type, &req.items[i].o,
		    batch_item_done, &b->calls[i]);
	}
	wire_batch_free(&req);
	if (--b->running == 0)
		batch_finish(b);
}
