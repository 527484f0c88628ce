/*
 * wire_stats.c: encode and decode the STATS body (wire_stats.h).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "wire_stats.h"
#include "xmalloc.h"

/* The bit pattern of a double, and back. */
static uint64_t
stats_f64_bits(double d)
{
	uint64_t u;

	memcpy(&u, &d, sizeof u);
	return u;
}

static double
stats_bits_f64(uint64_t u)
{
	double d;

	memcpy(&d, &u, sizeof d);
	return d;
}

/* A metric or label name: [a-zA-Z_:][a-zA-Z0-9_:]*, not empty. */
int
wire_stats_name_ok(const char *s)
{
	if (*s == '\0' || (*s >= '0' && *s <= '9'))
		return 0;
	for (; *s != '\0'; s++) {
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || *s == '_' || *s == ':'))
			return 0;
	}
	return 1;
}

/* A label value printable without escaping. */
static int
stats_value_ok(const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s < 0x20 || *s > 0x7e || *s == '"' || *s == '\\')
			return 0;
	}
	return 1;
}

/* Append the STATS body of s. */
void
wire_stats_encode(struct wbuf *w, const struct wire_stats *s)
{
	wbuf_put_u32(w, s->n);
	for (uint32_t i = 0; i < s->n; i++) {
		const struct wire_metric *m = &s->m[i];

		wbuf_put_str(w, m->name);
		wbuf_put_str(w, m->label_key);
		wbuf_put_str(w, m->label_value);
		wbuf_put_u8(w, m->kind);
		switch (m->kind) {
		case WIRE_STATS_COUNTER:
			wbuf_put_u64(w, m->count);
			break;
		case WIRE_STATS_GAUGE:
			wbuf_put_u64(w, stats_f64_bits(m->value));
			break;
		default:
			wbuf_put_u64(w, m->count);
			wbuf_put_u64(w, stats_f64_bits(m->value));
			wbuf_put_u8(w, m->nb);
			for (int b = 0; b < m->nb; b++) {
				wbuf_put_u64(w, stats_f64_bits(m->le[b]));
				wbuf_put_u64(w, m->cum[b]);
			}
		}
	}
}

/* Read one histogram's numbers into m; -1 when they are inconsistent. */
static int
stats_get_histogram(struct rbuf *r, struct wire_metric *m)
{
	m->count = rbuf_get_u64(r);
	m->value = stats_bits_f64(rbuf_get_u64(r));
	m->nb = rbuf_get_u8(r);
	if (r->err || m->nb > WIRE_STATS_BUCKETS || !isfinite(m->value))
		return -1;
	for (int b = 0; b < m->nb; b++) {
		m->le[b] = stats_bits_f64(rbuf_get_u64(r));
		m->cum[b] = rbuf_get_u64(r);
		if (r->err || !isfinite(m->le[b]) || m->cum[b] > m->count ||
		    (b > 0 && (m->le[b] <= m->le[b - 1] ||
		    m->cum[b] < m->cum[b - 1])))
			return -1;
	}
	return 0;
}

/* Read one metric; -1 when it is malformed. */
static int
stats_get_metric(struct rbuf *r, struct wire_metric *m)
{
	rbuf_get_str(r, m->name, sizeof m->name);
	rbuf_get_str(r, m->label_key, sizeof m->label_key);
	rbuf_get_str(r, m->label_value, sizeof m->label_value);
	m->kind = rbuf_get_u8(r);
	if (r->err || !wire_stats_name_ok(m->name) ||
	    (m->label_key[0] != '\0' && !wire_stats_name_ok(m->label_key)) ||
	    (m->label_key[0] == '\0' && m->label_value[0] != '\0') ||
	    !stats_value_ok(m->label_value))
		return -1;
	switch (m->kind) {
	case WIRE_STATS_COUNTER:
		m->count = rbuf_get_u64(r);
		return r->err ? -1 : 0;
	case WIRE_STATS_GAUGE:
		m->value = stats_bits_f64(rbuf_get_u64(r));
		return r->err || !isfinite(m->value) ? -1 : 0;
	case WIRE_STATS_HISTOGRAM:
		return stats_get_histogram(r, m);
	default:
		return -1;
	}
}

/*
 * Decode a STATS body.  The smallest metric takes 16 bytes (three empty
 * strings, a kind, a value), so a count the body cannot hold is refused
 * before anything is allocated.
 */
int
wire_stats_decode(const uint8_t *body, size_t len, struct wire_stats *s)
{
	struct rbuf r;

	memset(s, 0, sizeof *s);
	rbuf_init(&r, body, len);
	s->n = rbuf_get_u32(&r);
	if (r.err || s->n > WIRE_STATS_MAX ||
	    (size_t)s->n * 16 > rbuf_left(&r)) {
		s->n = 0;
		return -1;
	}
	if (s->n > 0)
		s->m = xcalloc(s->n, sizeof *s->m);
	for (uint32_t i = 0; i < s->n; i++) {
		if (stats_get_metric(&r, &s->m[i]) != 0) {
			wire_stats_free(s);
			return -1;
		}
	}
	if (rbuf_left(&r) != 0) {
		wire_stats_free(s);
		return -1;
	}
	return 0;
}

/* Free a decoded (or built) body. */
void
wire_stats_free(struct wire_stats *s)
{
	free(s->m);
	s->m = NULL;
	s->n = 0;
}

/* The first metric named name whose label value is label_value. */
const struct wire_metric *
wire_stats_find(const struct wire_stats *s, const char *name,
    const char *label_value)
{
	for (uint32_t i = 0; i < s->n; i++) {
		if (strcmp(s->m[i].name, name) == 0 &&
		    strcmp(s->m[i].label_value, label_value) == 0)
			return &s->m[i];
	}
	return NULL;
}
