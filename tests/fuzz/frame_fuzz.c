/*
 * frame_fuzz.c: fuzz target for the wire decoders.
 *
 * The input is a byte stream as a peer would send it: frames one after
 * another.  Each header goes through wire_header_decode(); each body is
 * copied to an exactly-sized heap buffer (so ASan sees a read one byte past
 * the end) and handed to the decoder for its type, or to every decoder when
 * the type is unknown.  A body that decodes must re-encode to exactly its
 * own bytes (the encodings are canonical) and hold only valid zones;
 * anything else is a decoder bug and aborts.
 *
 * Built with libFuzzer by `make fuzz`, or with fuzz_main.c as a standalone
 * replay-and-mutate driver (build/tests/frame-fuzz).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "geom.h"
#include "wire.h"
#include "wire_stats.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The encoder must reproduce the decoded bytes exactly. */
static void
fuzz_same(const struct wbuf *w, const uint8_t *body, size_t len)
{
	if (w->len != len || (len > 0 && memcmp(w->p, body, len) != 0))
		abort();
}

/* Every decoded zone must satisfy the dyadic invariant. */
static void
fuzz_check_node(const struct wire_node *n, int dims)
{
	char buf[256];

	if (n->nzones > WIRE_MAX_ZONES || memchr(n->addr, '\0',
	    sizeof n->addr) == NULL)
		abort();
	for (int i = 0; i < n->nzones; i++) {
		if (!geom_zone_valid(&n->zones[i], dims))
			abort();
		geom_zone_format(&n->zones[i], dims, buf, sizeof buf);
	}
}

/* Membership body. */
static void
fuzz_membership(const uint8_t *body, size_t len)
{
	struct wire_membership m;
	struct wbuf w;

	if (wire_membership_decode(body, len, &m) != 0) {
		if (m.list != NULL || m.n != 0)
			abort();
		return;
	}
	if (m.dims < 1 || m.dims > GEOM_MAX_DIMS || m.n > WIRE_MAX_LIST)
		abort();
	fuzz_check_node(&m.self, m.dims);
	fuzz_check_node(&m.other, m.dims);
	for (uint32_t i = 0; i < m.n; i++)
		fuzz_check_node(&m.list[i], m.dims);
	wbuf_init(&w);
	wire_membership_encode(&w, &m);
	fuzz_same(&w, body, len);
	wbuf_free(&w);
	wire_membership_free(&m);
}

/* Routed envelope; a JOIN carries a membership body inside. */
static void
fuzz_routed(const uint8_t *body, size_t len)
{
	struct wire_routed rt;
	struct wbuf w;

	if (wire_routed_decode(body, len, &rt) != 0)
		return;
	if (rt.npath > WIRE_MAX_PATH || rt.inner < body ||
	    rt.inner + rt.inner_len != body + len)
		abort();
	wbuf_init(&w);
	wire_routed_encode(&w, &rt);
	wbuf_put_bytes(&w, rt.inner, rt.inner_len);
	fuzz_same(&w, body, len);
	wbuf_free(&w);
	/* Whatever the inner type claims, the inner decoder must hold up. */
	if (rt.inner_len > 0) {
		uint8_t *inner = malloc(rt.inner_len);

		if (inner == NULL)
			abort();
		memcpy(inner, rt.inner, rt.inner_len);
		fuzz_membership(inner, rt.inner_len);
		free(inner);
	}
}

/* Error body, into a roomy and a tight message buffer. */
static void
fuzz_error(const uint8_t *body, size_t len)
{
	static const size_t sizes[] = { 256, 8, 1 };
	uint32_t code;
	char msg[256];
	struct wbuf w;

	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		if (wire_error_decode(body, len, &code, msg, sizes[i]) != 0)
			continue;
		if (strlen(msg) >= sizes[i])
			abort();
		(void)wire_error_text(code);
		wbuf_init(&w);
		wire_error_encode(&w, code, msg);
		fuzz_same(&w, body, len);
		wbuf_free(&w);
	}
}

/* Point body. */
static void
fuzz_point(const uint8_t *body, size_t len)
{
	struct geom_point p;
	struct wbuf w;
	int dims;

	if (wire_point_decode(body, len, &dims, &p) != 0)
		return;
	if (dims < 1 || dims > GEOM_MAX_DIMS)
		abort();
	wbuf_init(&w);
	wire_point_encode(&w, dims, &p);
	fuzz_same(&w, body, len);
	wbuf_free(&w);
}

/* Object body; data must be the rest of the body. */
static void
fuzz_obj(const uint8_t *body, size_t len)
{
	struct wire_obj o;
	struct wbuf w;

	if (wire_obj_decode(body, len, &o) != 0)
		return;
	if (o.dims > GEOM_MAX_DIMS || o.cond > WIRE_COND_ABSENT ||
	    o.len > WIRE_MAX_VALUE || o.data + o.len != body + len)
		abort();
	wbuf_init(&w);
	wire_obj_encode(&w, &o);
	fuzz_same(&w, body, len);
	wbuf_free(&w);
}

/*
 * A patch (OBJ_PATCH, R_PUT with WIRE_RP_PATCH): a patch that checks
 * stays within the value limit and applies to any base (here: the
 * patch's own bytes), giving at least that base's length with the base's
 * bytes before the first range kept; one that does not check never
 * applies.
 */
static void
fuzz_patch(const uint8_t *body, size_t len)
{
	struct wire_obj o;
	uint32_t end, olen, first;
	uint8_t *out;

	if (wire_obj_decode(body, len, &o) != 0)
		return;
	if (wire_patch_check(o.data, o.len, &end) != 0) {
		if (wire_patch_apply(NULL, 0, o.data, o.len, &out, &olen) == 0)
			abort();
		return;
	}
	if (end > WIRE_MAX_VALUE || o.len < 2 + 8)
		abort();
	if (wire_patch_apply(o.data, o.len, o.data, o.len, &out, &olen) != 0)
		abort();
	if (olen != (end > o.len ? end : o.len))
		abort();
	/* The first range's offset (u16 n, then u32 off). */
	first = (uint32_t)o.data[2] | (uint32_t)o.data[3] << 8 |
	    (uint32_t)o.data[4] << 16 | (uint32_t)o.data[5] << 24;
	if (o.data[0] == 1 && o.data[1] == 0 && first > 0 &&
	    memcmp(out, o.data, first < o.len ? first : o.len) != 0)
		abort();
	free(out);
}

/*
 * The data of a GET or R_GET: a range decodes only from exactly 8
 * bytes, and its clip to any value length stays inside that value.
 */
static void
fuzz_range(const uint8_t *body, size_t len)
{
	struct wire_obj o;
	uint32_t off, rlen, pos, n;

	if (wire_obj_decode(body, len, &o) != 0)
		return;
	if (wire_range_decode(o.data, o.len, &off, &rlen) != 0) {
		if (o.len == WIRE_RANGE_LEN)
			abort();
		return;
	}
	if (o.len != WIRE_RANGE_LEN)
		abort();
	for (uint32_t vlen = 0; vlen < 3 * WIRE_RANGE_LEN; vlen++) {
		wire_range_clip(off, rlen, vlen, &pos, &n);
		if (pos > vlen || n > vlen - pos || n > rlen ||
		    (off < vlen && pos != off))
			abort();
	}
	wire_range_clip(off, rlen, WIRE_MAX_VALUE, &pos, &n);
	if ((uint64_t)pos + n > WIRE_MAX_VALUE)
		abort();
}

/* Summary body (DIGEST, LIST). */
static void
fuzz_summary(const uint8_t *body, size_t len)
{
	struct wire_summary s;
	struct wbuf w;

	if (wire_summary_decode(body, len, &s) != 0) {
		/* s.n may keep the peer's count; nothing is left allocated. */
		if (s.e != NULL)
			abort();
		return;
	}
	if (s.dims < 1 || s.dims > GEOM_MAX_DIMS || s.n > WIRE_MAX_SUMMARY)
		abort();
	wbuf_init(&w);
	wire_summary_encode(&w, &s);
	fuzz_same(&w, body, len);
	wbuf_free(&w);
	wire_summary_free(&s);
}

/* Want body. */
static void
fuzz_want(const uint8_t *body, size_t len)
{
	struct wire_want wt;
	struct wbuf w;

	if (wire_want_decode(body, len, &wt) != 0) {
		if (wt.pos != NULL || wt.wrong != NULL)
			abort();
		return;
	}
	wbuf_init(&w);
	wire_want_encode(&w, &wt);
	fuzz_same(&w, body, len);
	wbuf_free(&w);
	wire_want_free(&wt);
}

/* Batch body, as a request (reply false) or a reply. */
static void
fuzz_batch(const uint8_t *body, size_t len, bool reply)
{
	struct wire_batch b;
	struct wbuf w;

	if ((reply ? wire_batch_reply_decode(body, len, &b) :
	    wire_batch_decode(body, len, &b)) != 0) {
		if (b.items != NULL || b.n != 0)
			abort();
		return;
	}
	if (b.n < 1 || b.n > WIRE_BATCH_MAX ||
	    wire_batch_count(body, len) != b.n)
		abort();
	for (uint32_t i = 0; i < b.n; i++) {
		const struct wire_batch_item *it = &b.items[i];

		if (it->type == WIRE_ERROR) {
			if (!reply || strlen(it->msg) >= sizeof it->msg)
				abort();
			continue;
		}
		if (reply != (it->type == WIRE_OBJ_VALUE ||
		    it->type == WIRE_OBJ_DONE))
			abort();
		if (it->o.len > WIRE_MAX_VALUE || it->o.data < body ||
		    it->o.data + it->o.len > body + len)
			abort();
	}
	wbuf_init(&w);
	wire_batch_encode(&w, &b);
	fuzz_same(&w, body, len);
	wbuf_free(&w);
	wire_batch_free(&b);
}

/* Stats body. */
static void
fuzz_stats(const uint8_t *body, size_t len)
{
	struct wire_stats s;
	struct wbuf w;

	if (wire_stats_decode(body, len, &s) != 0) {
		if (s.m != NULL || s.n != 0)
			abort();
		return;
	}
	if (s.n > WIRE_STATS_MAX)
		abort();
	wbuf_init(&w);
	wire_stats_encode(&w, &s);
	fuzz_same(&w, body, len);
	wbuf_free(&w);
	wire_stats_free(&s);
}

/* Hand one body to the decoder(s) for its type. */
static void
fuzz_body(uint16_t type, const uint8_t *body, size_t len)
{
	(void)wire_type_name(type);
	switch (type) {
	case WIRE_HEARTBEAT:
	case WIRE_JOIN_ACCEPT:
	case WIRE_TAKEOVER:
	case WIRE_LEAVE:
	case WIRE_HANDOVER:
	case WIRE_HANDOVER_ACK:
	case WIRE_LOOKUP_REPLY:
	case WIRE_STATUS:
		fuzz_membership(body, len);
		break;
	case WIRE_ROUTED:
		fuzz_routed(body, len);
		break;
	case WIRE_JOIN_REFUSED:
	case WIRE_ERROR:
		fuzz_error(body, len);
		break;
	case WIRE_ROUTE_REQ:
		fuzz_point(body, len);
		break;
	case WIRE_OBJ_GET:
	case WIRE_OBJ_R_GET:
		fuzz_obj(body, len);
		fuzz_range(body, len);
		break;
	case WIRE_OBJ_VALUE:
	case WIRE_OBJ_PUT:
	case WIRE_OBJ_DONE:
	case WIRE_OBJ_DEL:
	case WIRE_OBJ_R_PUT:
	case WIRE_OBJ_XFER:
		fuzz_obj(body, len);
		break;
	case WIRE_OBJ_PATCH:
		fuzz_obj(body, len);
		fuzz_patch(body, len);
		break;
	case WIRE_LIST:
	case WIRE_OBJ_DIGEST:
		fuzz_summary(body, len);
		break;
	case WIRE_OBJ_WANT:
		fuzz_want(body, len);
		break;
	case WIRE_OBJ_BATCH:
		fuzz_batch(body, len, false);
		break;
	case WIRE_OBJ_BATCH_REPLY:
		fuzz_batch(body, len, true);
		break;
	case WIRE_STATS:
		fuzz_stats(body, len);
		break;
	default:
		/* Unknown or bodiless types: every decoder must hold up. */
		fuzz_membership(body, len);
		fuzz_routed(body, len);
		fuzz_error(body, len);
		fuzz_point(body, len);
		fuzz_obj(body, len);
		fuzz_summary(body, len);
		fuzz_want(body, len);
		fuzz_batch(body, len, false);
		fuzz_batch(body, len, true);
		fuzz_stats(body, len);
		break;
	}
}

/* Decode a stream of frames; stop at a bad header or a partial frame. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	while (size >= WIRE_HEADER_LEN) {
		struct wire_header h;
		const char *why = NULL;
		uint8_t *body;

		if (wire_header_decode(data, &h, &why) != 0) {
			if (why == NULL)
				abort();
			break;
		}
		if (h.len > WIRE_MAX_BODY)
			abort();
		data += WIRE_HEADER_LEN;
		size -= WIRE_HEADER_LEN;
		if (h.len > size)
			break; /* a peer would wait for the rest */
		body = malloc(h.len ? h.len : 1);
		if (body == NULL)
			abort();
		memcpy(body, data, h.len);
		fuzz_body(h.type, body, h.len);
		free(body);
		data += h.len;
		size -= h.len;
	}
	return 0;
}
