/* wire.c: frame and body codecs (see wire.h for the formats). */
#include <stdlib.h>
#include <string.h>

#include "wire.h"
#include "xmalloc.h"

/* Start an empty output buffer. */
void
wbuf_init(struct wbuf *w)
{
	w->p = NULL;
	w->len = w->cap = 0;
}

/* Release an output buffer (safe twice). */
void
wbuf_free(struct wbuf *w)
{
	free(w->p);
	wbuf_init(w);
}

/* Make room for n more bytes. */
static uint8_t *
wbuf_reserve(struct wbuf *w, size_t n)
{
	if (w->cap - w->len < n) {
		size_t cap = w->cap ? w->cap : 256;

		while (cap - w->len < n)
			cap *= 2;
		w->p = xreallocarray(w->p, cap, 1);
		w->cap = cap;
	}
	return w->p + w->len;
}

/* Append one byte. */
void
wbuf_put_u8(struct wbuf *w, uint8_t v)
{
	*wbuf_reserve(w, 1) = v;
	w->len++;
}

/* Append a little-endian integer of n bytes. */
static void
wbuf_put_le(struct wbuf *w, uint64_t v, int n)
{
	uint8_t *p = wbuf_reserve(w, (size_t)n);

	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
	w->len += (size_t)n;
}

void
wbuf_put_u16(struct wbuf *w, uint16_t v)
{
	wbuf_put_le(w, v, 2);
}

void
wbuf_put_u32(struct wbuf *w, uint32_t v)
{
	wbuf_put_le(w, v, 4);
}

void
wbuf_put_u64(struct wbuf *w, uint64_t v)
{
	wbuf_put_le(w, v, 8);
}

/* Append raw bytes. */
void
wbuf_put_bytes(struct wbuf *w, const void *p, size_t n)
{
	if (n == 0)
		return;
	memcpy(wbuf_reserve(w, n), p, n);
	w->len += n;
}

/* Append a length-prefixed string (truncated at 65535 bytes). */
void
wbuf_put_str(struct wbuf *w, const char *s)
{
	size_t n = strlen(s);

	if (n > UINT16_MAX)
		n = UINT16_MAX;
	wbuf_put_u16(w, (uint16_t)n);
	wbuf_put_bytes(w, s, n);
}

/* Start reading len bytes at p. */
void
rbuf_init(struct rbuf *r, const void *p, size_t len)
{
	r->p = p;
	r->len = len;
	r->off = 0;
	r->err = false;
}

/* Bytes not yet read. */
size_t
rbuf_left(const struct rbuf *r)
{
	return r->err ? 0 : r->len - r->off;
}

/* Next n bytes, or NULL with the sticky error set. */
const uint8_t *
rbuf_get_bytes(struct rbuf *r, size_t n)
{
	const uint8_t *p;

	if (r->err || r->len - r->off < n) {
		r->err = true;
		return NULL;
	}
	p = r->p + r->off;
	r->off += n;
	return p;
}

/* Little-endian integer of n bytes; 0 on error. */
static uint64_t
rbuf_get_le(struct rbuf *r, int n)
{
	const uint8_t *p = rbuf_get_bytes(r, (size_t)n);
	uint64_t v = 0;

	if (p == NULL)
		return 0;
	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

uint8_t
rbuf_get_u8(struct rbuf *r)
{
	return (uint8_t)rbuf_get_le(r, 1);
}

uint16_t
rbuf_get_u16(struct rbuf *r)
{
	return (uint16_t)rbuf_get_le(r, 2);
}

uint32_t
rbuf_get_u32(struct rbuf *r)
{
	return (uint32_t)rbuf_get_le(r, 4);
}

uint64_t
rbuf_get_u64(struct rbuf *r)
{
	return rbuf_get_le(r, 8);
}

/* A length-prefixed string that must fit buf and contain no NUL. */
void
rbuf_get_str(struct rbuf *r, char *buf, size_t bufsz)
{
	uint16_t n = rbuf_get_u16(r);
	const uint8_t *p;

	if (bufsz == 0) {
		r->err = true;
		return;
	}
	buf[0] = '\0';
	if (r->err)
		return;
	if ((size_t)n >= bufsz) {
		r->err = true;
		return;
	}
	p = rbuf_get_bytes(r, n);
	if (p == NULL || memchr(p, '\0', n) != NULL) {
		r->err = true;
		return;
	}
	memcpy(buf, p, n);
	buf[n] = '\0';
}

/* Write a header with a zero length; wire_frame_end() fills it in. */
void
wire_frame_begin(struct wbuf *w, uint16_t type, uint32_t flags,
    uint64_t reqid)
{
	w->len = 0;
	wbuf_put_u32(w, WIRE_MAGIC);
	wbuf_put_u16(w, WIRE_VERSION);
	wbuf_put_u16(w, type);
	wbuf_put_u32(w, flags);
	wbuf_put_u32(w, 0);
	wbuf_put_u64(w, reqid);
}

/* Patch the body length into the header. */
void
wire_frame_end(struct wbuf *w)
{
	uint32_t len = (uint32_t)(w->len - WIRE_HEADER_LEN);

	for (int i = 0; i < 4; i++)
		w->p[12 + i] = (uint8_t)(len >> (8 * i));
}

/* Decode and sanity-check a header. */
int
wire_header_decode(const uint8_t *buf, struct wire_header *h,
    const char **why)
{
	struct rbuf r;

	rbuf_init(&r, buf, WIRE_HEADER_LEN);
	if (rbuf_get_u32(&r) != WIRE_MAGIC) {
		*why = "bad magic";
		return -1;
	}
	if (rbuf_get_u16(&r) != WIRE_VERSION) {
		*why = "unsupported protocol version";
		return -1;
	}
	h->type = rbuf_get_u16(&r);
	h->flags = rbuf_get_u32(&r);
	h->len = rbuf_get_u32(&r);
	h->reqid = rbuf_get_u64(&r);
	if (h->len > WIRE_MAX_BODY) {
		*why = "frame body too long";
		return -1;
	}
	return 0;
}

/* One zone: dims x (u32 lo, u8 bits). */
static void
zone_encode(struct wbuf *w, int dims, const struct geom_zone *z)
{
	for (int i = 0; i < dims; i++) {
		wbuf_put_u32(w, z->lo[i]);
		wbuf_put_u8(w, z->bits[i]);
	}
}

/* Decode and validate one zone. */
static void
zone_decode(struct rbuf *r, int dims, struct geom_zone *z)
{
	memset(z, 0, sizeof *z);
	for (int i = 0; i < dims; i++) {
		z->lo[i] = rbuf_get_u32(r);
		z->bits[i] = rbuf_get_u8(r);
	}
	if (!r->err && !geom_zone_valid(z, dims))
		r->err = true;
}

/* One node description. */
static void
node_encode(struct wbuf *w, int dims, const struct wire_node *n)
{
	wbuf_put_u64(w, n->id);
	wbuf_put_u64(w, n->inc);
	wbuf_put_u32(w, n->epoch);
	wbuf_put_str(w, n->addr);
	wbuf_put_u8(w, n->nzones);
	for (int i = 0; i < n->nzones; i++)
		zone_encode(w, dims, &n->zones[i]);
}

/* Smallest encoding of a node: ids, epoch, empty addr, no zones. */
#define NODE_MIN_LEN (8 + 8 + 4 + 2 + 1)

/* Decode one node description. */
static void
node_decode(struct rbuf *r, int dims, struct wire_node *n)
{
	memset(n, 0, sizeof *n);
	n->id = rbuf_get_u64(r);
	n->inc = rbuf_get_u64(r);
	n->epoch = rbuf_get_u32(r);
	rbuf_get_str(r, n->addr, sizeof n->addr);
	n->nzones = rbuf_get_u8(r);
	if (n->nzones > WIRE_MAX_ZONES) {
		r->err = true;
		return;
	}
	for (int i = 0; i < n->nzones && !r->err; i++)
		zone_decode(r, dims, &n->zones[i]);
}

/* Encode a membership body. */
void
wire_membership_encode(struct wbuf *w, const struct wire_membership *m)
{
	wbuf_put_u8(w, (uint8_t)m->dims);
	wbuf_put_u8(w, m->flags);
	wbuf_put_u64(w, m->a);
	wbuf_put_u64(w, m->b);
	node_encode(w, m->dims, &m->self);
	node_encode(w, m->dims, &m->other);
	wbuf_put_u32(w, m->n);
	for (uint32_t i = 0; i < m->n; i++)
		node_encode(w, m->dims, &m->list[i]);
}

/* Decode a membership body; the whole body must be consumed. */
int
wire_membership_decode(const uint8_t *body, size_t len,
    struct wire_membership *m)
{
	struct rbuf r;

	memset(m, 0, sizeof *m);
	rbuf_init(&r, body, len);
	m->dims = rbuf_get_u8(&r);
	if (m->dims < 1 || m->dims > GEOM_MAX_DIMS)
		return -1;
	m->flags = rbuf_get_u8(&r);
	m->a = rbuf_get_u64(&r);
	m->b = rbuf_get_u64(&r);
	node_decode(&r, m->dims, &m->self);
	node_decode(&r, m->dims, &m->other);
	m->n = rbuf_get_u32(&r);
	/* Check the count against the bytes present before allocating. */
	if (r.err || m->n > WIRE_MAX_LIST ||
	    (size_t)m->n * NODE_MIN_LEN > rbuf_left(&r))
		goto fail;
	if (m->n > 0)
		m->list = xcalloc(m->n, sizeof *m->list);
	for (uint32_t i = 0; i < m->n && !r.err; i++)
		node_decode(&r, m->dims, &m->list[i]);
	if (r.err || rbuf_left(&r) != 0)
		goto fail;
	return 0;
fail:
	wire_membership_free(m);
	return -1;
}

/* Free the list of a decoded membership body. */
void
wire_membership_free(struct wire_membership *m)
{
	free(m->list);
	m->list = NULL;
	m->n = 0;
}

/* Encode the routed envelope (without the inner body). */
void
wire_routed_encode(struct wbuf *w, const struct wire_routed *rt)
{
	wbuf_put_u8(w, (uint8_t)rt->dims);
	wbuf_put_u8(w, rt->hops);
	wbuf_put_u16(w, rt->inner_type);
	for (int i = 0; i < rt->dims; i++)
		wbuf_put_u32(w, rt->target.c[i]);
	wbuf_put_str(w, rt->origin);
	wbuf_put_u16(w, rt->npath);
	for (int i = 0; i < rt->npath; i++)
		wbuf_put_u64(w, rt->path[i]);
}

/* Decode a routed envelope; inner points into body. */
int
wire_routed_decode(const uint8_t *body, size_t len, struct wire_routed *rt)
{
	struct rbuf r;

	memset(rt, 0, sizeof *rt);
	rbuf_init(&r, body, len);
	rt->dims = rbuf_get_u8(&r);
	if (rt->dims < 1 || rt->dims > GEOM_MAX_DIMS)
		return -1;
	rt->hops = rbuf_get_u8(&r);
	rt->inner_type = rbuf_get_u16(&r);
	for (int i = 0; i < rt->dims; i++)
		rt->target.c[i] = rbuf_get_u32(&r);
	rbuf_get_str(&r, rt->origin, sizeof rt->origin);
	rt->npath = rbuf_get_u16(&r);
	if (rt->npath > WIRE_MAX_PATH)
		return -1;
	for (int i = 0; i < rt->npath; i++)
		rt->path[i] = rbuf_get_u64(&r);
	if (r.err)
		return -1;
	rt->inner = body + r.off;
	rt->inner_len = len - r.off;
	return 0;
}

/* Error body. */
void
wire_error_encode(struct wbuf *w, uint32_t code, const char *msg)
{
	wbuf_put_u32(w, code);
	wbuf_put_str(w, msg);
}

/* Decode an error body. */
int
wire_error_decode(const uint8_t *body, size_t len, uint32_t *code, char *msg,
    size_t msgsz)
{
	struct rbuf r;

	rbuf_init(&r, body, len);
	*code = rbuf_get_u32(&r);
	rbuf_get_str(&r, msg, msgsz);
	return r.err || rbuf_left(&r) != 0 ? -1 : 0;
}

/* Point body: u8 dims, dims x u32. */
void
wire_point_encode(struct wbuf *w, int dims, const struct geom_point *p)
{
	wbuf_put_u8(w, (uint8_t)dims);
	for (int i = 0; i < dims; i++)
		wbuf_put_u32(w, p->c[i]);
}

/* Decode a point body. */
int
wire_point_decode(const uint8_t *body, size_t len, int *dims,
    struct geom_point *p)
{
	struct rbuf r;

	memset(p, 0, sizeof *p);
	rbuf_init(&r, body, len);
	*dims = rbuf_get_u8(&r);
	if (*dims < 1 || *dims > GEOM_MAX_DIMS)
		return -1;
	for (int i = 0; i < *dims; i++)
		p->c[i] = rbuf_get_u32(&r);
	return r.err || rbuf_left(&r) != 0 ? -1 : 0;
}

/* Encode an object body. */
void
wire_obj_encode(struct wbuf *w, const struct wire_obj *o)
{
	wbuf_put_u8(w, (uint8_t)o->dims);
	for (int i = 0; i < o->dims; i++)
		wbuf_put_u32(w, o->point.c[i]);
	wbuf_put_u64(w, o->key.hi);
	wbuf_put_u64(w, o->key.lo);
	wbuf_put_u8(w, o->index);
	wbuf_put_u8(w, o->cond);
	wbuf_put_u64(w, o->cond_version);
	wbuf_put_u64(w, o->meta.version);
	wbuf_put_u64(w, o->meta.writer);
	wbuf_put_u64(w, o->meta.checksum);
	wbuf_put_u64(w, o->meta.mtime_ms);
	wbuf_put_u32(w, o->meta.flags);
	wbuf_put_u64(w, o->meta.op.client);
	wbuf_put_u64(w, o->meta.op.seq);
	wbuf_put_u32(w, o->len);
	wbuf_put_bytes(w, o->data, o->len);
}

/* Decode an object body; data points into body. */
int
wire_obj_decode(const uint8_t *body, size_t len, struct wire_obj *o)
{
	struct rbuf r;

	memset(o, 0, sizeof *o);
	rbuf_init(&r, body, len);
	o->dims = rbuf_get_u8(&r);
	if (o->dims > GEOM_MAX_DIMS)
		return -1;
	for (int i = 0; i < o->dims; i++)
		o->point.c[i] = rbuf_get_u32(&r);
	o->key.hi = rbuf_get_u64(&r);
	o->key.lo = rbuf_get_u64(&r);
	o->index = rbuf_get_u8(&r);
	o->cond = rbuf_get_u8(&r);
	o->cond_version = rbuf_get_u64(&r);
	o->meta.version = rbuf_get_u64(&r);
	o->meta.writer = rbuf_get_u64(&r);
	o->meta.checksum = rbuf_get_u64(&r);
	o->meta.mtime_ms = rbuf_get_u64(&r);
	o->meta.flags = rbuf_get_u32(&r);
	o->meta.op.client = rbuf_get_u64(&r);
	o->meta.op.seq = rbuf_get_u64(&r);
	o->len = rbuf_get_u32(&r);
	if (r.err || o->cond > WIRE_COND_ABSENT || o->len > WIRE_MAX_VALUE ||
	    rbuf_left(&r) != o->len)
		return -1;
	o->data = rbuf_get_bytes(&r, o->len);
	return r.err ? -1 : 0;
}

/* Bytes of one summary entry after the point. */
#define SUMMARY_ENTRY_LEN (8 + 8 + 1 + 8 + 4 + 4 + 1)

/* Encode a summary body. */
void
wire_summary_encode(struct wbuf *w, const struct wire_summary *s)
{
	wbuf_put_u8(w, (uint8_t)s->dims);
	wbuf_put_u32(w, s->n);
	for (uint32_t i = 0; i < s->n; i++) {
		const struct wire_summary_entry *e = &s->e[i];

		for (int j = 0; j < s->dims; j++)
			wbuf_put_u32(w, e->point.c[j]);
		wbuf_put_u64(w, e->key.hi);
		wbuf_put_u64(w, e->key.lo);
		wbuf_put_u8(w, e->index);
		wbuf_put_u64(w, e->version);
		wbuf_put_u32(w, e->flags);
		wbuf_put_u32(w, e->len);
		wbuf_put_u8(w, e->ok);
	}
}

/* Decode a summary body; the count is checked against the bytes. */
int
wire_summary_decode(const uint8_t *body, size_t len, struct wire_summary *s)
{
	struct rbuf r;
	size_t each;

	memset(s, 0, sizeof *s);
	rbuf_init(&r, body, len);
	s->dims = rbuf_get_u8(&r);
	s->n = rbuf_get_u32(&r);
	if (r.err || s->dims < 1 || s->dims > GEOM_MAX_DIMS ||
	    s->n > WIRE_MAX_SUMMARY) {
		s->n = 0;
		return -1;
	}
	each = (size_t)s->dims * 4 + SUMMARY_ENTRY_LEN;
	if (rbuf_left(&r) != (size_t)s->n * each) {
		s->n = 0;
		return -1;
	}
	if (s->n > 0)
		s->e = xcalloc(s->n, sizeof *s->e);
	for (uint32_t i = 0; i < s->n; i++) {
		struct wire_summary_entry *e = &s->e[i];

		for (int j = 0; j < s->dims; j++)
			e->point.c[j] = rbuf_get_u32(&r);
		e->key.hi = rbuf_get_u64(&r);
		e->key.lo = rbuf_get_u64(&r);
		e->index = rbuf_get_u8(&r);
		e->version = rbuf_get_u64(&r);
		e->flags = rbuf_get_u32(&r);
		e->len = rbuf_get_u32(&r);
		e->ok = rbuf_get_u8(&r);
	}
	if (r.err) {
		wire_summary_free(s);
		return -1;
	}
	return 0;
}

/* Free a decoded summary. */
void
wire_summary_free(struct wire_summary *s)
{
	free(s->e);
	s->e = NULL;
	s->n = 0;
}

/* Encode a want body. */
void
wire_want_encode(struct wbuf *w, const struct wire_want *wt)
{
	wbuf_put_u32(w, wt->n);
	for (uint32_t i = 0; i < wt->n; i++)
		wbuf_put_u32(w, wt->pos[i]);
	wbuf_put_u32(w, wt->nwrong);
	for (uint32_t i = 0; i < wt->nwrong; i++)
		wbuf_put_u32(w, wt->wrong[i]);
}

/* Read a u32 count and that many u32s (count checked against bytes). */
static uint32_t *
want_list(struct rbuf *r, uint32_t *n)
{
	uint32_t *v = NULL;

	*n = rbuf_get_u32(r);
	if (r->err || *n > WIRE_MAX_SUMMARY || rbuf_left(r) < (size_t)*n * 4) {
		r->err = true;
		*n = 0;
		return NULL;
	}
	if (*n > 0)
		v = xcalloc(*n, sizeof *v);
	for (uint32_t i = 0; i < *n; i++)
		v[i] = rbuf_get_u32(r);
	return v;
}

/* Free a decoded want body. */
void
wire_want_free(struct wire_want *wt)
{
	free(wt->pos);
	free(wt->wrong);
	memset(wt, 0, sizeof *wt);
}

/* Decode a want body. */
int
wire_want_decode(const uint8_t *body, size_t len, struct wire_want *wt)
{
	struct rbuf r;

	memset(wt, 0, sizeof *wt);
	rbuf_init(&r, body, len);
	wt->pos = want_list(&r, &wt->n);
	wt->wrong = want_list(&r, &wt->nwrong);
	if (r.err || rbuf_left(&r) != 0) {
		wire_want_free(wt);
		return -1;
	}
	return 0;
}

/* Bytes of an object body with dims 0 and no data (a client's). */
#define OBJ_MIN_LEN (1 + 8 + 8 + 1 + 1 + 8 + 8 + 8 + 8 + 8 + 4 + 8 + 8 + 4)
/* Bytes of an item's type and length. */
#define BATCH_ITEM_HDR (2 + 4)

_Static_assert(2 + (size_t)WIRE_BATCH_MAX * WIRE_BATCH_ITEM_OVERHEAD +
    WIRE_BATCH_MAX_DATA <= WIRE_MAX_BODY,
    "a daemon's batch reply must fit a frame");
_Static_assert(WIRE_BATCH_ITEM_OVERHEAD >= BATCH_ITEM_HDR + OBJ_MIN_LEN,
    "WIRE_BATCH_ITEM_OVERHEAD must cover an object body");

/* Encode a batch body (request or reply). */
void
wire_batch_encode(struct wbuf *w, const struct wire_batch *b)
{
	wbuf_put_u16(w, (uint16_t)b->n);
	for (uint32_t i = 0; i < b->n; i++) {
		const struct wire_batch_item *it = &b->items[i];
		size_t at;
		uint32_t len;

		wbuf_put_u16(w, it->type);
		at = w->len;
		wbuf_put_u32(w, 0);
		if (it->type == WIRE_ERROR)
			wire_error_encode(w, it->code, it->msg);
		else
			wire_obj_encode(w, &it->o);
		len = (uint32_t)(w->len - at - 4);
		for (int k = 0; k < 4; k++)
			w->p[at + (size_t)k] = (uint8_t)(len >> (8 * k));
	}
}

/* The count field of a batch body (see wire.h). */
uint32_t
wire_batch_count(const uint8_t *body, size_t len)
{
	struct rbuf r;

	rbuf_init(&r, body, len);
	return rbuf_get_u16(&r);
}

/* Is type allowed as an item of a request (reply false) or a reply? */
static bool
batch_type_ok(uint16_t type, bool reply)
{
	if (reply)
		return type == WIRE_OBJ_VALUE || type == WIRE_OBJ_DONE ||
		    type == WIRE_ERROR;
	return type == WIRE_OBJ_GET || type == WIRE_OBJ_PUT ||
	    type == WIRE_OBJ_DEL;
}

/*
 * Decode a batch body whose items must be of request or reply types.
 * The count is checked against the bytes present (every item takes at
 * least `least` bytes) before anything is allocated.
 */
static int
batch_decode(const uint8_t *body, size_t len, bool reply,
    struct wire_batch *b)
{
	size_t least = BATCH_ITEM_HDR + (reply ? 4 + 2 : OBJ_MIN_LEN);
	struct rbuf r;

	memset(b, 0, sizeof *b);
	rbuf_init(&r, body, len);
	b->n = rbuf_get_u16(&r);
	if (r.err || b->n == 0 || b->n > WIRE_BATCH_MAX ||
	    (size_t)b->n * least > rbuf_left(&r)) {
		b->n = 0;
		return -1;
	}
	b->items = xcalloc(b->n, sizeof *b->items);
	for (uint32_t i = 0; i < b->n; i++) {
		struct wire_batch_item *it = &b->items[i];
		uint32_t ilen;
		const uint8_t *p;

		it->type = rbuf_get_u16(&r);
		ilen = rbuf_get_u32(&r);
		if (r.err || !batch_type_ok(it->type, reply) ||
		    (p = rbuf_get_bytes(&r, ilen)) == NULL)
			goto fail;
		if (it->type == WIRE_ERROR ? wire_error_decode(p, ilen,
		    &it->code, it->msg, sizeof it->msg) != 0 :
		    wire_obj_decode(p, ilen, &it->o) != 0)
			goto fail;
	}
	if (rbuf_left(&r) != 0)
		goto fail;
	return 0;
fail:
	wire_batch_free(b);
	return -1;
}

/* Decode an OBJ_BATCH body. */
int
wire_batch_decode(const uint8_t *body, size_t len, struct wire_batch *b)
{
	return batch_decode(body, len, false, b);
}

/* Decode an OBJ_BATCH_REPLY body. */
int
wire_batch_reply_decode(const uint8_t *body, size_t len, struct wire_batch *b)
{
	return batch_decode(body, len, true, b);
}

/* Free a decoded batch. */
void
wire_batch_free(struct wire_batch *b)
{
	free(b->items);
	b->items = NULL;
	b->n = 0;
}

/* Message type names for logs. */
const char *
wire_type_name(uint16_t type)
{
	switch (type) {
	case WIRE_HEARTBEAT: return "HEARTBEAT";
	case WIRE_JOIN_ACCEPT: return "JOIN_ACCEPT";
	case WIRE_TAKEOVER: return "TAKEOVER";
	case WIRE_LEAVE: return "LEAVE";
	case WIRE_HANDOVER: return "HANDOVER";
	case WIRE_HANDOVER_ACK: return "HANDOVER_ACK";
	case WIRE_ROUTED: return "ROUTED";
	case WIRE_LOOKUP_REPLY: return "LOOKUP_REPLY";
	case WIRE_JOIN_REFUSED: return "JOIN_REFUSED";
	case WIRE_STATUS_REQ: return "STATUS_REQ";
	case WIRE_STATUS: return "STATUS";
	case WIRE_ROUTE_REQ: return "ROUTE_REQ";
	case WIRE_LEAVE_REQ: return "LEAVE_REQ";
	case WIRE_LIST_REQ: return "LIST_REQ";
	case WIRE_LIST: return "LIST";
	case WIRE_REPAIR_REQ: return "REPAIR_REQ";
	case WIRE_OBJ_GET: return "OBJ_GET";
	case WIRE_OBJ_VALUE: return "OBJ_VALUE";
	case WIRE_OBJ_PUT: return "OBJ_PUT";
	case WIRE_OBJ_DONE: return "OBJ_DONE";
	case WIRE_OBJ_DEL: return "OBJ_DEL";
	case WIRE_OBJ_BATCH: return "OBJ_BATCH";
	case WIRE_OBJ_BATCH_REPLY: return "OBJ_BATCH_REPLY";
	case WIRE_OBJ_PATCH: return "OBJ_PATCH";
	case WIRE_OBJ_R_GET: return "OBJ_R_GET";
	case WIRE_OBJ_R_PUT: return "OBJ_R_PUT";
	case WIRE_OBJ_XFER: return "OBJ_XFER";
	case WIRE_OBJ_DIGEST: return "OBJ_DIGEST";
	case WIRE_OBJ_WANT: return "OBJ_WANT";
	case WIRE_STATFS_REQ: return "STATFS_REQ";
	case WIRE_STATFS: return "STATFS";
	case WIRE_PROGRESS: return "PROGRESS";
	case WIRE_STATS_REQ: return "STATS_REQ";
	case WIRE_STATS: return "STATS";
	case WIRE_OK: return "OK";
	case WIRE_ERROR: return "ERROR";
	}
	return "UNKNOWN";
}

/* Error code text. */
const char *
wire_error_text(uint32_t code)
{
	switch (code) {
	case WIRE_E_OK: return "success";
	case WIRE_E_PROTO: return "malformed request";
	case WIRE_E_DIMS: return "dimension mismatch";
	case WIRE_E_NOROUTE: return "no route (no neighbour closer to the point)";
	case WIRE_E_TTL: return "too many hops";
	case WIRE_E_BUSY: return "busy, try again";
	case WIRE_E_NOTFOUND: return "not found";
	case WIRE_E_TIMEOUT: return "timed out";
	case WIRE_E_UNAVAIL: return "node not serving (joining or leaving)";
	case WIRE_E_INTERNAL: return "internal error";
	case WIRE_E_CONFLICT: return "version conflict";
	case WIRE_E_MISSING: return "replica holds no copy";
	case WIRE_E_WRONG_OWNER: return "point not owned by this node";
	case WIRE_E_NOSPACE: return "no space left on a replica";
	case WIRE_E_CORRUPT: return "stored copy is corrupt";
	case WIRE_E_TOOBIG: return "value too large";
	}
	return "unknown error";
}

/* ---- ranges ------------------------------------------------------- */

/* A range (see wire.h). */
void
wire_range_encode(struct wbuf *w, uint32_t off, uint32_t len)
{
	wbuf_put_u32(w, off);
	wbuf_put_u32(w, len);
}

/* Decode a range. */
int
wire_range_decode(const uint8_t *data, uint32_t dlen, uint32_t *off,
    uint32_t *len)
{
	struct rbuf r;

	rbuf_init(&r, data, dlen);
	*off = rbuf_get_u32(&r);
	*len = rbuf_get_u32(&r);
	return r.err || rbuf_left(&r) != 0 ? -1 : 0;
}

/* Clip a range to a value of vlen bytes. */
void
wire_range_clip(uint32_t off, uint32_t len, uint32_t vlen, uint32_t *pos,
    uint32_t *n)
{
	*pos = off < vlen ? off : vlen;
	*n = vlen - *pos < len ? vlen - *pos : len;
}

/* ---- patches ------------------------------------------------------ */

/* Start a patch of n ranges (see wire.h). */
void
wire_patch_begin(struct wbuf *w, uint16_t n)
{
	wbuf_put_u16(w, n);
}

/* One range of a patch. */
void
wire_patch_range(struct wbuf *w, uint32_t off, const void *p, uint32_t len)
{
	wbuf_put_u32(w, off);
	wbuf_put_u32(w, len);
	wbuf_put_bytes(w, p, len);
}

/*
 * Walk a patch: check it and, when out is not NULL, write each range
 * into out.  0 with the furthest end in *end, or -1.
 */
static int
wire_patch_walk(const uint8_t *data, uint32_t len, uint8_t *out,
    uint32_t *end)
{
	struct rbuf r;
	uint32_t n, far = 0;

	rbuf_init(&r, data, len);
	n = rbuf_get_u16(&r);
	if (r.err || n == 0 || n > WIRE_PATCH_RANGES)
		return -1;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t off = rbuf_get_u32(&r), rlen = rbuf_get_u32(&r);
		const uint8_t *p;

		/* Each within the limit first: the sum cannot wrap. */
		if (r.err || off > WIRE_MAX_VALUE || rlen > WIRE_MAX_VALUE ||
		    off + rlen > WIRE_MAX_VALUE ||
		    (p = rbuf_get_bytes(&r, rlen)) == NULL)
			return -1;
		if (out != NULL && rlen > 0)
			memcpy(out + off, p, rlen);
		if (off + rlen > far)
			far = off + rlen;
	}
	if (rbuf_left(&r) != 0)
		return -1;
	if (end != NULL)
		*end = far;
	return 0;
}

/* Check a patch (see wire.h). */
int
wire_patch_check(const uint8_t *data, uint32_t len, uint32_t *end)
{
	return wire_patch_walk(data, len, NULL, end);
}

/* Apply a patch to a value (see wire.h). */
int
wire_patch_apply(const uint8_t *base, uint32_t blen, const uint8_t *patch,
    uint32_t plen, uint8_t **out, uint32_t *olen)
{
	uint32_t far, len;
	uint8_t *p;

	if (blen > WIRE_MAX_VALUE || wire_patch_check(patch, plen, &far) != 0)
		return -1;
	len = far > blen ? far : blen;
	p = xcalloc(1, len > 0 ? len : 1);
	if (blen > 0)
		memcpy(p, base, blen);
	(void)wire_patch_walk(patch, plen, p, NULL);
	*out = p;
	*olen = len;
	return 0;
}
