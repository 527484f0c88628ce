/*
 * canctl_health.h: the health of a whole overlay in one word, as
 * `canctl status` reports it, computed from what canctl gathered about
 * every node (the walk's zones, each node's STATUS and STATS).
 *
 * Pure: no I/O, so that the rules are unit-tested (test_canctl_health.c).
 *
 *   unavailable  some part of the key space has no live owner: the live
 *                nodes' zones leave a gap (a node died and was not taken
 *                over yet, or cannot be reached)
 *   degraded     everything has an owner, but: a node named by a
 *                neighbour does not answer; zones overlap; some node
 *                reports under-replicated objects or a repair backlog;
 *                fewer live nodes than the replication factor k
 *   healthy      none of that
 *
 * Metrics that a node did not report (an older daemon without STATS) are
 * unknown: they neither count nor make the cluster degraded.
 */
#ifndef CANFS_OVERLAY_CANCTL_HEALTH_H
#define CANFS_OVERLAY_CANCTL_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire.h"

#define CTL_HEALTH_REASONS 8	/* reasons kept, at most */
#define CTL_HEALTH_REASON_TXT 128

/* Node states, as STATUS and canfs_node_state give them. */
enum ctl_node_state {
	CTL_NODE_UNKNOWN = -1,	/* did not answer */
	CTL_NODE_JOINING = 0,
	CTL_NODE_ACTIVE = 1,
	CTL_NODE_LEAVING = 2,
	CTL_NODE_LEFT = 3,
};

/* One node as canctl sees it; a metric it did not report is < 0. */
struct ctl_node {
	struct wire_node n;	/* id, address, zones (nzones 0 when
				   unreachable) */
	bool reachable;		/* answered STATUS */
	bool have_stats;	/* answered STATS */
	int state;		/* enum ctl_node_state */
	uint64_t uptime_ms;	/* from STATUS */
	double replicas;	/* canfs_store_objects: replicas held */
	double bytes;		/* canfs_store_bytes */
	double avail;		/* canfs_store_avail_bytes */
	double backlog;		/* canfs_repair_backlog */
	double under;		/* canfs_under_replicated */
	double cut_off;		/* canfs_cut_off: 1 alone, 2 minority */
	char err[256];		/* why it did not answer (escaped) */
};

enum ctl_health_word {
	CTL_HEALTHY = 0,
	CTL_DEGRADED = 1,
	CTL_UNAVAILABLE = 2,
};

/* How the live nodes' zones cover the space. */
enum ctl_tiling {
	CTL_TILE_EXACT = 0,	/* every point owned exactly once */
	CTL_TILE_OVERLAPS,	/* every point owned, some twice */
	CTL_TILE_GAPS,		/* some point owned by nobody */
};

/* The summary of a cluster. */
struct ctl_health {
	int word;		/* enum ctl_health_word */
	int tiling;		/* enum ctl_tiling */
	double covered;		/* fraction of the space owned (0..1) */
	double volume;		/* sum of zone shares (1 when exact) */
	size_t nodes;		/* live (answered) */
	size_t active, joining, leaving, left;
	size_t unreachable;	/* named by neighbours, not answering */
	size_t cut_off;		/* live but cut off or in a minority */
	size_t nostats;		/* live but gave no metrics */
	size_t zones;
	bool have_stats;	/* some node gave metrics */
	double replicas, bytes, avail, backlog, under; /* sums over nodes
				   with metrics */
	double objects;		/* replicas / k */
	int nreasons;
	char reason[CTL_HEALTH_REASONS][CTL_HEALTH_REASON_TXT];
};

/* The word for a health value: "healthy", "degraded", "unavailable". */
const char *ctl_health_name(int word);

/*
 * A byte count for people, as status and the map show them: "0 B",
 * "1.5 KiB", "23.4 MiB", ...; "-" when b < 0 (unknown).  Returns buf.
 */
char *ctl_health_bytes(double b, char *buf, size_t len);

/* The word for a node state: "active", ..., "unreachable" for unknown. */
const char *ctl_health_state_name(int state);

/*
 * How the zones of nodes[0..n) cover the d-dimensional space: the
 * fraction covered in *covered and the sum of the zone shares in
 * *volume.  Zones come from halving, so two zones either nest or are
 * disjoint; a zone within another (or equal to one listed earlier)
 * overlaps it.  Returns an enum ctl_tiling.
 */
int ctl_health_tiling(const struct ctl_node *nodes, size_t n, int d,
    double *covered, double *volume);

/*
 * Summarise nodes[0..n) of a d-dimensional overlay with replication
 * factor k into *h: counts, sums, tiling, the health word and the
 * reasons for anything but healthy.
 */
void ctl_health_summarise(const struct ctl_node *nodes, size_t n, int d,
    uint32_t k, struct ctl_health *h);

#endif
