/*
 * json.h: a tiny streaming JSON writer for command-line output.
 *
 * Values are written straight to a FILE as they come; the writer tracks
 * nesting only to place commas.  Output is compact ("{"a": 1, "b": [2]}").
 * Strings are escaped per RFC 8259; bytes that are not valid UTF-8 become
 * U+FFFD, so whatever a peer sends, the output stays valid JSON.  Doubles
 * that JSON cannot express (NaN, infinities) are written as null.
 *
 * Use: json_init, then values; inside an object every value is preceded
 * by json_key.  json_end() writes the final newline.
 */
#ifndef CANFS_COMMON_JSON_H
#define CANFS_COMMON_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "wire.h"

#define JSON_MAX_DEPTH 32

struct json {
	FILE *f;
	int depth;			/* open objects and arrays */
	bool need_comma[JSON_MAX_DEPTH]; /* per level: a value came before */
	bool after_key;			/* the next value follows a key */
};

void json_init(struct json *j, FILE *f);
void json_begin_object(struct json *j);
void json_end_object(struct json *j);
void json_begin_array(struct json *j);
void json_end_array(struct json *j);
/* An object member's name; the next call writes its value. */
void json_key(struct json *j, const char *key);
void json_string(struct json *j, const char *s);
void json_uint(struct json *j, uint64_t v);
void json_int(struct json *j, int64_t v);
void json_double(struct json *j, double v);
void json_bool(struct json *j, bool v);
void json_null(struct json *j);
/* An object member: json_key then the value. */
void json_key_string(struct json *j, const char *key, const char *s);
void json_key_uint(struct json *j, const char *key, uint64_t v);
void json_key_double(struct json *j, const char *key, double v);
/* A string built with printf. */
void json_stringf(struct json *j, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/*
 * Wire nodes, in the shape canctl documents: a member "zones": [{"lo":
 * [...], "hi": [...]}] (integer coordinates, hi exclusive, up to 2^32);
 * the members "id" (16 hex digits) and "addr", plus "zones" when asked;
 * and an array of {"id", "addr", "zones"} objects.
 */
void json_wire_zones(struct json *j, const struct wire_node *n, int dims);
void json_wire_node(struct json *j, const struct wire_node *n, int dims,
    bool zones);
void json_wire_nodes(struct json *j, const struct wire_node *nodes,
    size_t n, int dims);
/* Finish the document with a newline and flush. */
void json_end(struct json *j);

#endif
