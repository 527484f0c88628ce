/*
 * canctl_health.c: a cluster's health from what canctl gathered (see
 * canctl_health.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canctl_health.h"
#include "geom.h"
#include "xmalloc.h"

/* The word for a health value. */
const char *
ctl_health_name(int word)
{
	switch (word) {
	case CTL_HEALTHY:
		return "healthy";
	case CTL_DEGRADED:
		return "degraded";
	}
	return "unavailable";
}

/* A byte count for people (see canctl_health.h). */
char *
ctl_health_bytes(double b, char *buf, size_t len)
{
	static const char *unit[] = { "B", "KiB", "MiB", "GiB", "TiB",
	    "PiB" };
	int u = 0;

	if (b < 0) {
		snprintf(buf, len, "-");
		return buf;
	}
	while (b >= 1024 && u < 5) {
		b /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%.0f B", b);
	else
		snprintf(buf, len, "%.*f %s", b < 10 ? 2 : b < 100 ? 1 : 0, b,
		    unit[u]);
	return buf;
}

/* The word for a node state. */
const char *
ctl_health_state_name(int state)
{
	switch (state) {
	case CTL_NODE_JOINING:
		return "joining";
	case CTL_NODE_ACTIVE:
		return "active";
	case CTL_NODE_LEAVING:
		return "leaving";
	case CTL_NODE_LEFT:
		return "left";
	}
	return "unreachable";
}

/*
 * True when the zones, disjoint dyadic boxes counted by depth in
 * count[], make up exactly the whole space: carry pairs of equal depth
 * upwards; an odd count on the way leaves a piece that 1 does not have.
 * Consumes count[].
 */
static bool
ctl_health_whole(size_t *count, int maxd)
{
	for (int d = maxd; d > 0; d--) {
		if (count[d] % 2 != 0)
			return false;
		count[d - 1] += count[d] / 2;
	}
	return count[0] == 1;
}

/* How the zones cover the space (see canctl_health.h). */
int
ctl_health_tiling(const struct ctl_node *nodes, size_t n, int d,
    double *covered, double *volume)
{
	size_t count[GEOM_MAX_DIMS * 32 + 1] = { 0 };
	const struct geom_zone **z;
	size_t nz = 0, cap = 0;
	bool overlap = false;

	for (size_t i = 0; i < n; i++)
		cap += nodes[i].n.nzones;
	z = xcalloc(cap ? cap : 1, sizeof *z);
	for (size_t i = 0; i < n; i++)
		for (int j = 0; j < nodes[i].n.nzones; j++)
			z[nz++] = &nodes[i].n.zones[j];
	*covered = *volume = 0;
	for (size_t i = 0; i < nz; i++) {
		bool inside = false;

		*volume += geom_zone_share(z[i], d);
		for (size_t j = 0; j < nz && !inside; j++) {
			if (j == i || !geom_zone_overlaps(z[i], z[j], d))
				continue;
			overlap = true;
			/* Count one of two equal zones: the first. */
			inside = geom_zone_equal(z[i], z[j], d) ? j < i :
			    geom_zone_within(z[i], z[j], d);
		}
		if (inside)
			continue;
		*covered += geom_zone_share(z[i], d);
		count[geom_zone_depth(z[i], d)]++;
	}
	free(z);
	if (!ctl_health_whole(count, GEOM_MAX_DIMS * 32))
		return CTL_TILE_GAPS;
	return overlap ? CTL_TILE_OVERLAPS : CTL_TILE_EXACT;
}

/* Add a reason (printf format) to h, when there is room. */
static void __attribute__((format(printf, 2, 3)))
ctl_health_reason(struct ctl_health *h, const char *fmt, ...)
{
	va_list ap;

	if (h->nreasons >= CTL_HEALTH_REASONS)
		return;
	va_start(ap, fmt);
	vsnprintf(h->reason[h->nreasons++], CTL_HEALTH_REASON_TXT, fmt, ap);
	va_end(ap);
}

/* Count the nodes and add up their metrics into h. */
static void
ctl_health_count(const struct ctl_node *nodes, size_t n, struct ctl_health *h)
{
	for (size_t i = 0; i < n; i++) {
		const struct ctl_node *x = &nodes[i];

		if (!x->reachable) {
			h->unreachable++;
			continue;
		}
		h->nodes++;
		h->zones += x->n.nzones;
		h->active += x->state == CTL_NODE_ACTIVE;
		h->joining += x->state == CTL_NODE_JOINING;
		h->leaving += x->state == CTL_NODE_LEAVING;
		h->left += x->state == CTL_NODE_LEFT;
		if (!x->have_stats) {
			h->nostats++;
			continue;
		}
		h->have_stats = true;
		h->replicas += x->replicas > 0 ? x->replicas : 0;
		h->bytes += x->bytes > 0 ? x->bytes : 0;
		h->avail += x->avail > 0 ? x->avail : 0;
		h->backlog += x->backlog > 0 ? x->backlog : 0;
		h->under += x->under > 0 ? x->under : 0;
		h->cut_off += x->cut_off > 0;
	}
}

/* Summarise a cluster (see canctl_health.h). */
void
ctl_health_summarise(const struct ctl_node *nodes, size_t n, int d,
    uint32_t k, struct ctl_health *h)
{
	memset(h, 0, sizeof *h);
	ctl_health_count(nodes, n, h);
	h->objects = k > 0 ? h->replicas / k : 0;
	h->tiling = ctl_health_tiling(nodes, n, d, &h->covered, &h->volume);
	if (h->tiling == CTL_TILE_GAPS)
		ctl_health_reason(h, "%.6g%% of the key space has no live "
		    "owner", 100 * (1 - h->covered));
	if (h->tiling == CTL_TILE_OVERLAPS)
		ctl_health_reason(h, "zones overlap (total volume %.9g)",
		    h->volume);
	if (h->unreachable > 0)
		ctl_health_reason(h, "%zu node(s) named by neighbours do not "
		    "answer", h->unreachable);
	if (h->cut_off > 0)
		ctl_health_reason(h, "%zu node(s) cut off or in the minority "
		    "of a split: they refuse requests", h->cut_off);
	if (h->under > 0)
		ctl_health_reason(h, "%.0f under-replicated object(s) "
		    "reported", h->under);
	if (h->backlog > 0)
		ctl_health_reason(h, "repair backlog of %.0f", h->backlog);
	if (k > 0 && h->nodes < k)
		ctl_health_reason(h, "%zu live node(s), fewer than k = %u "
		    "replicas", h->nodes, (unsigned)k);
	if (h->tiling == CTL_TILE_GAPS)
		h->word = CTL_UNAVAILABLE;
	else
		h->word = h->nreasons > 0 ? CTL_DEGRADED : CTL_HEALTHY;
}
