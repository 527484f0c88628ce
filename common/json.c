/* json.c: streaming JSON writer (see json.h). */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "log.h"

/* Start writing a document to f. */
void
json_init(struct json *j, FILE *f)
{
	memset(j, 0, sizeof *j);
	j->f = f;
}

/* Separator before a value (or a key) at the current level. */
static void
json_sep(struct json *j)
{
	if (j->after_key) {
		j->after_key = false;
		return;
	}
	if (j->depth > 0) {
		if (j->need_comma[j->depth - 1])
			fputs(", ", j->f);
		j->need_comma[j->depth - 1] = true;
	}
}

/* Open a nesting level with c. */
static void
json_open(struct json *j, char c)
{
	json_sep(j);
	if (j->depth >= JSON_MAX_DEPTH)
		fatalx("json: nesting deeper than %d", JSON_MAX_DEPTH);
	fputc(c, j->f);
	j->need_comma[j->depth++] = false;
}

/* Close a nesting level with c. */
static void
json_close(struct json *j, char c)
{
	if (j->depth == 0)
		fatalx("json: close without open");
	j->depth--;
	fputc(c, j->f);
}

void
json_begin_object(struct json *j)
{
	json_open(j, '{');
}

void
json_end_object(struct json *j)
{
	json_close(j, '}');
}

void
json_begin_array(struct json *j)
{
	json_open(j, '[');
}

void
json_end_array(struct json *j)
{
	json_close(j, ']');
}

/*
 * Length of the valid UTF-8 sequence at s (n bytes available), or 0 when
 * it is not one: overlong forms, surrogates and values past U+10FFFF are
 * rejected.
 */
static size_t
json_utf8_len(const unsigned char *s, size_t n)
{
	size_t len;
	uint32_t cp;

	if (s[0] < 0xc2 || s[0] > 0xf4)
		return 0;
	len = s[0] < 0xe0 ? 2 : s[0] < 0xf0 ? 3 : 4;
	if (n < len)
		return 0;
	cp = s[0] & (0x3f >> (len - 1));
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return len;
}

/* Write s as a quoted, escaped JSON string. */
static void
json_quote(FILE *f, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t n = strlen(str);

	fputc('"', f);
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = s[i];
		size_t u;

		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch == '\n')
			fputs("\\n", f);
		else if (ch == '\t')
			fputs("\\t", f);
		else if (ch == '\r')
			fputs("\\r", f);
		else if (ch < 0x20 || ch == 0x7f)
			fprintf(f, "\\u%04x", ch);
		else if (ch < 0x80)
			fputc(ch, f);
		else if ((u = json_utf8_len(s + i, n - i)) > 0) {
			fwrite(s + i, 1, u, f);
			i += u - 1;
		} else
			fputs("\\ufffd", f);
	}
	fputc('"', f);
}

/* An object member's name. */
void
json_key(struct json *j, const char *key)
{
	json_sep(j);
	json_quote(j->f, key);
	fputs(": ", j->f);
	j->after_key = true;
}

void
json_string(struct json *j, const char *s)
{
	json_sep(j);
	json_quote(j->f, s);
}

void
json_key_string(struct json *j, const char *key, const char *s)
{
	json_key(j, key);
	json_string(j, s);
}

void
json_key_uint(struct json *j, const char *key, uint64_t v)
{
	json_key(j, key);
	json_uint(j, v);
}

void
json_key_double(struct json *j, const char *key, double v)
{
	json_key(j, key);
	json_double(j, v);
}

/* A string built with printf (truncated at 1 KiB). */
void
json_stringf(struct json *j, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	json_string(j, buf);
}

void
json_uint(struct json *j, uint64_t v)
{
	json_sep(j);
	fprintf(j->f, "%" PRIu64, v);
}

void
json_int(struct json *j, int64_t v)
{
	json_sep(j);
	fprintf(j->f, "%" PRId64, v);
}

/* Shortest form that reads back exactly; null when not finite. */
void
json_double(struct json *j, double v)
{
	char buf[64];

	json_sep(j);
	if (!isfinite(v)) {
		fputs("null", j->f);
		return;
	}
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(buf, sizeof buf, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	fputs(buf, j->f);
}

void
json_bool(struct json *j, bool v)
{
	json_sep(j);
	fputs(v ? "true" : "false", j->f);
}

void
json_null(struct json *j)
{
	json_sep(j);
	fputs("null", j->f);
}

/* "zones": [{"lo": [...], "hi": [...]}, ...] with hi exclusive. */
void
json_wire_zones(struct json *j, const struct wire_node *n, int dims)
{
	json_key(j, "zones");
	json_begin_array(j);
	for (int z = 0; z < n->nzones; z++) {
		json_begin_object(j);
		json_key(j, "lo");
		json_begin_array(j);
		for (int i = 0; i < dims; i++)
			json_uint(j, n->zones[z].lo[i]);
		json_end_array(j);
		json_key(j, "hi");
		json_begin_array(j);
		for (int i = 0; i < dims; i++)
			json_uint(j, geom_zone_hi(&n->zones[z], i));
		json_end_array(j);
		json_end_object(j);
	}
	json_end_array(j);
}

/* "id": "hex", "addr": "...", and the zones when wanted. */
void
json_wire_node(struct json *j, const struct wire_node *n, int dims,
    bool zones)
{
	json_key(j, "id");
	json_stringf(j, "%016" PRIx64, n->id);
	json_key_string(j, "addr", n->addr);
	if (zones)
		json_wire_zones(j, n, dims);
}

/* A JSON array of nodes, each {"id", "addr", "zones"}. */
void
json_wire_nodes(struct json *j, const struct wire_node *nodes, size_t n,
    int dims)
{
	json_begin_array(j);
	for (size_t i = 0; i < n; i++) {
		json_begin_object(j);
		json_wire_node(j, &nodes[i], dims, true);
		json_end_object(j);
	}
	json_end_array(j);
}


/* Newline and flush. */
void
json_end(struct json *j)
{
	fputc('\n', j->f);
	fflush(j->f);
}
