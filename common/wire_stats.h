/*
 * wire_stats.h: the STATS body, a daemon's metrics as one list.
 *
 * A daemon answers WIRE_STATS_REQ with every metric it keeps, named as
 * Prometheus names them (base units, counters ending in _total), so that
 * `canctl status`/`top` and the --metrics HTTP endpoint read the same
 * numbers and a new metric needs no new message:
 *
 *   u32 n, n x metric
 *   metric = str name, str label_key, str label_value, u8 kind,
 *            then by kind:
 *              COUNTER    u64 value
 *              GAUGE      f64 value
 *              HISTOGRAM  u64 count, f64 sum, u8 nb,
 *                         nb x (f64 upper bound, u64 cumulative count)
 *
 * f64 is the IEEE 754 bit pattern as a u64.  Names match
 * [a-zA-Z_:][a-zA-Z0-9_:]*; a label key is empty (no label) or a name;
 * label values are printable ASCII without '"' and '\', so a metric can
 * be printed in the Prometheus text format without escaping.  Values are
 * finite, bucket bounds strictly increase and their counts never
 * decrease nor pass count (the +Inf bucket is count itself).
 */
#ifndef CANFS_COMMON_WIRE_STATS_H
#define CANFS_COMMON_WIRE_STATS_H

#include <stdint.h>

#include "wire.h"

#define WIRE_STATS_NAME_MAX 63		/* bytes of a name or label */
#define WIRE_STATS_MAX 4096		/* metrics in one body */
#define WIRE_STATS_BUCKETS 24		/* bounds of one histogram */

enum wire_stats_kind {
	WIRE_STATS_COUNTER = 0,
	WIRE_STATS_GAUGE = 1,
	WIRE_STATS_HISTOGRAM = 2,
};

struct wire_metric {
	char name[WIRE_STATS_NAME_MAX + 1];
	char label_key[WIRE_STATS_NAME_MAX + 1];	/* "" = no label */
	char label_value[WIRE_STATS_NAME_MAX + 1];
	uint8_t kind;			/* enum wire_stats_kind */
	uint64_t count;			/* counter value; histogram count */
	double value;			/* gauge value; histogram sum */
	uint8_t nb;			/* histogram buckets */
	double le[WIRE_STATS_BUCKETS];	/* upper bounds, increasing */
	uint64_t cum[WIRE_STATS_BUCKETS]; /* observations <= le[i] */
};

struct wire_stats {
	uint32_t n;
	struct wire_metric *m;		/* owned; wire_stats_free() */
};

void wire_stats_encode(struct wbuf *w, const struct wire_stats *s);
/* 0, or -1 for a malformed body (s is then empty). */
int wire_stats_decode(const uint8_t *body, size_t len, struct wire_stats *s);
void wire_stats_free(struct wire_stats *s);

/* The first metric named name with that label value ("" for none). */
const struct wire_metric *wire_stats_find(const struct wire_stats *s,
    const char *name, const char *label_value);

/* Is s a valid metric or label name (see above)? */
int wire_stats_name_ok(const char *s);

#endif
