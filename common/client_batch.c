/* client_batch.c: batches of object requests on a client_mux (see .h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_batch.h"
#include "log.h"
#include "xmalloc.h"

#define CLIENT_BATCH_ERR 512	/* error texts, with their NUL */
/* An item's escaped error text: every byte may become "\xNN". */
#define CLIENT_BATCH_ESC (4 * WIRE_BATCH_MSG_MAX + 1)

struct client_batch {
	struct wbuf body;	/* u16 count (patched at send), then items */
	uint32_t n;
	uint16_t type[WIRE_BATCH_MAX];	/* each item's request type */
	struct hash_key key[WIRE_BATCH_MAX];

	char peer[128];		/* the mux's spec at the last send */

	/* The outcome of the last wait. */
	uint8_t *reply;		/* the reply's body, owned */
	struct wire_batch res;	/* decoded; items point into reply */
	char **esc;		/* res.n escaped error texts (NULL if none) */
	bool have_res;
	bool broken;
	uint32_t err_code;
	char err[CLIENT_BATCH_ERR];
};

/* A new empty batch. */
struct client_batch *
client_batch_new(void)
{
	struct client_batch *b = xcalloc(1, sizeof *b);

	wbuf_init(&b->body);
	wbuf_put_u16(&b->body, 0);
	return b;
}

/* Drop the results of the last wait. */
static void
client_batch_drop_results(struct client_batch *b)
{
	if (b->esc != NULL) {
		for (uint32_t i = 0; i < b->res.n; i++)
			free(b->esc[i]);
		free(b->esc);
		b->esc = NULL;
	}
	wire_batch_free(&b->res);
	free(b->reply);
	b->reply = NULL;
	b->have_res = false;
	b->broken = false;
	b->err_code = WIRE_E_OK;
	b->err[0] = '\0';
}

/* Free a batch (accepts NULL). */
void
client_batch_free(struct client_batch *b)
{
	if (b == NULL)
		return;
	client_batch_drop_results(b);
	wbuf_free(&b->body);
	free(b);
}

/* Empty a batch for reuse. */
void
client_batch_reset(struct client_batch *b)
{
	client_batch_drop_results(b);
	b->body.len = 0;
	wbuf_put_u16(&b->body, 0);
	b->n = 0;
}

/* Add one sub-request (see client_batch.h). */
int
client_batch_add(struct client_batch *b, uint16_t type,
    const struct wire_obj *req)
{
	size_t at = b->body.len, lenat;
	uint32_t len;

	if ((type != WIRE_OBJ_GET && type != WIRE_OBJ_PUT &&
	    type != WIRE_OBJ_DEL) || req->len > WIRE_MAX_VALUE)
		return -2;
	if (b->n == WIRE_BATCH_MAX)
		return -1;
	wbuf_put_u16(&b->body, type);
	lenat = b->body.len;
	wbuf_put_u32(&b->body, 0);
	wire_obj_encode(&b->body, req);
	if (b->body.len > WIRE_MAX_BODY) {
		b->body.len = at; /* take it back out */
		return -1;
	}
	len = (uint32_t)(b->body.len - lenat - 4);
	for (int k = 0; k < 4; k++)
		b->body.p[lenat + (size_t)k] = (uint8_t)(len >> (8 * k));
	b->type[b->n] = type;
	b->key[b->n] = req->key;
	return (int)b->n++;
}

/* Items in the batch. */
size_t
client_batch_count(const struct client_batch *b)
{
	return b->n;
}

/* Bytes of the batch body. */
size_t
client_batch_bytes(const struct client_batch *b)
{
	return b->body.len;
}

/* Send the batch as one request. */
struct client_req *
client_batch_send(struct client_batch *b, struct client_mux *m,
    int timeout_ms)
{
	client_batch_drop_results(b);
	snprintf(b->peer, sizeof b->peer, "%s", client_mux_peer(m));
	b->body.p[0] = (uint8_t)b->n;
	b->body.p[1] = (uint8_t)(b->n >> 8);
	return client_mux_send(m, WIRE_OBJ_BATCH, 0, b->body.p, b->body.len,
	    timeout_ms);
}

/* The whole batch failed: record why; -1. */
static int __attribute__((format(printf, 2, 3)))
client_batch_fail(struct client_batch *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(b->err, sizeof b->err, fmt, ap);
	va_end(ap);
	return -1;
}

/*
 * Check the decoded reply against the batch: item i answers request i
 * with the type it expects, for its key.  0, or -1 with the reason.
 */
static int
client_batch_check(struct client_batch *b, const char *peer)
{
	if (b->res.n != b->n)
		return client_batch_fail(b, "%s: batch reply with %u results "
		    "for %u requests", peer, b->res.n, b->n);
	for (uint32_t i = 0; i < b->n; i++) {
		const struct wire_batch_item *it = &b->res.items[i];
		uint16_t want = b->type[i] == WIRE_OBJ_GET ? WIRE_OBJ_VALUE :
		    WIRE_OBJ_DONE;

		if (it->type == WIRE_ERROR)
			continue;
		if (it->type != want)
			return client_batch_fail(b, "%s: batch item %u: "
			    "unexpected reply %s to %s", peer, i,
			    wire_type_name(it->type),
			    wire_type_name(b->type[i]));
		if (it->o.key.hi != b->key[i].hi ||
		    it->o.key.lo != b->key[i].lo)
			return client_batch_fail(b, "%s: batch item %u: reply "
			    "for another key", peer, i);
	}
	return 0;
}

/* Escape the error texts of the results, for client_batch_result(). */
static void
client_batch_escape(struct client_batch *b)
{
	char buf[CLIENT_BATCH_ESC];

	b->esc = xcalloc(b->res.n, sizeof *b->esc);
	for (uint32_t i = 0; i < b->res.n; i++) {
		const struct wire_batch_item *it = &b->res.items[i];

		if (it->type != WIRE_ERROR)
			continue;
		if (it->msg[0] == '\0')
			b->esc[i] = xstrdup(wire_error_text(it->code));
		else
			b->esc[i] = xstrdup(log_escape(it->msg,
			    strlen(it->msg), buf, sizeof buf));
	}
}

/* Wait for the reply to the batch and check it (see client_batch.h). */
int
client_batch_wait(struct client_batch *b, struct client_req *r)
{
	const char *peer = b->peer;
	struct wire_header h;
	size_t len = 0;
	char msg[WIRE_BATCH_MSG_MAX], esc[CLIENT_BATCH_ESC];

	client_batch_drop_results(b);
	if (client_req_wait(r, &h, &b->reply, &len) == -1) {
		b->broken = client_req_broken(r);
		return client_batch_fail(b, "%s", client_req_error(r));
	}
	if (h.type == WIRE_ERROR) {
		/* The whole batch refused (not by this project's daemons). */
		if (wire_error_decode(b->reply, len, &b->err_code, msg,
		    sizeof msg) == -1) {
			b->err_code = WIRE_E_PROTO;
			return client_batch_fail(b, "%s: malformed ERROR reply",
			    peer);
		}
		return client_batch_fail(b, "%s", msg[0] == '\0' ?
		    wire_error_text(b->err_code) :
		    log_escape(msg, strlen(msg), esc, sizeof esc));
	}
	if (h.type != WIRE_OBJ_BATCH_REPLY)
		return client_batch_fail(b, "%s: unexpected reply %s (0x%04x) "
		    "to OBJ_BATCH", peer, wire_type_name(h.type), h.type);
	if (wire_batch_reply_decode(b->reply, len, &b->res) == -1)
		return client_batch_fail(b, "%s: malformed OBJ_BATCH_REPLY",
		    peer);
	if (client_batch_check(b, peer) == -1) {
		wire_batch_free(&b->res);
		return -1;
	}
	client_batch_escape(b);
	b->have_res = true;
	return 0;
}

/* Item i's outcome (see client_batch.h). */
uint32_t
client_batch_result(const struct client_batch *b, size_t i,
    struct wire_obj *reply, const char **msg)
{
	const struct wire_batch_item *it;

	if (!b->have_res || i >= b->res.n) {
		if (msg != NULL)
			*msg = "no result";
		return WIRE_E_INTERNAL;
	}
	it = &b->res.items[i];
	if (it->type == WIRE_ERROR) {
		if (msg != NULL)
			*msg = b->esc[i];
		return it->code;
	}
	if (reply != NULL)
		*reply = it->o;
	if (msg != NULL)
		*msg = "";
	return WIRE_E_OK;
}

/* The last wait's failure. */
const char *
client_batch_error(const struct client_batch *b)
{
	return b->err;
}

uint32_t
client_batch_error_code(const struct client_batch *b)
{
	return b->err_code;
}

bool
client_batch_broken(const struct client_batch *b)
{
	return b->broken;
}
