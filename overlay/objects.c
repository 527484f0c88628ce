/*
 * objects.c: the object layer's entry points (objects.h): dispatch of
 * OBJ_* frames to the coordinator (coord.c, batches through batch.c) and
 * the replica side (replica.c), the store's lifetime, and the helpers
 * both sides share.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "batch.h"
#include "conn.h"
#include "coord.h"
#include "host.h"
#include "log.h"
#include "node.h"
#include "objects.h"
#include "replica.h"
#include "rpc.h"
#include "store.h"
#include "xmalloc.h"

/* Wall clock in ms (host.h: the simulator's clock in cansim). */
uint64_t
objects_wall_ms(void)
{
	return host_wall_us() / 1000;
}

/* Wall clock in microseconds, the floor of new versions. */
uint64_t
objects_wall_us(void)
{
	return host_wall_us();
}

/* Build a frame with an object body. */
void
objects_build_frame(struct wbuf *w, uint16_t type, uint32_t flags,
    uint64_t reqid, const struct wire_obj *o)
{
	wbuf_init(w);
	wire_frame_begin(w, type, flags, reqid);
	wire_obj_encode(w, o);
	wire_frame_end(w);
}

/* Send an object body on c. */
void
objects_send_obj(struct conn *c, uint16_t type, uint32_t flags, uint64_t reqid,
    const struct wire_obj *o)
{
	struct wbuf w;

	if (c == NULL)
		return;
	objects_build_frame(&w, type, flags, reqid, o);
	conn_send(c, &w);
	wbuf_free(&w);
}

/* Map a store result to a wire error code. */
uint32_t
objects_wire_error(int rc)
{
	switch (rc) {
	case STORE_NOTFOUND: return WIRE_E_NOTFOUND;
	case STORE_CORRUPT: return WIRE_E_CORRUPT;
	case STORE_FULL: return WIRE_E_NOSPACE;
	}
	return WIRE_E_INTERNAL;
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
	if (meta->nops > 0 && meta->ops[0].version == meta->version) {
		o->meta.op.client = meta->ops[0].client;
		o->meta.op.seq = meta->ops[0].seq;
	}
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
	objects_send_obj(c, WIRE_OBJ_XFER, 0, 0, &o);
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
	if (h->type == WIRE_OBJ_BATCH) {
		batch_client(n, c, h, body);
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
	case WIRE_OBJ_PATCH:
		coord_client(n, c, h, &o);
		break;
	case WIRE_OBJ_R_GET:
	case WIRE_OBJ_R_PUT:
	case WIRE_OBJ_XFER:
		replica_frame(n, c, h, &o);
		break;
	default:
		conn_close(c, "unknown object message");
	}
}

/* Open the store; set up the replica side. */
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
	n->objs->rep = replica_new(n);
	return 0;
}

/* Commit what is pending and close the store. */
void
objects_free(struct node *n)
{
	if (n->objs != NULL) {
		/* Commit what is queued; answer whoever still waits. */
		store_commit(n->store);
		replica_free(n->objs->rep);
		free(n->objs);
		n->objs = NULL;
	}
	store_close(n->store);
	n->store = NULL;
}
