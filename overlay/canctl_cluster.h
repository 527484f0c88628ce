/*
 * canctl_cluster.h: canctl's view of a whole overlay -- `canctl status`
 * (every node, its metrics and the cluster's health) and `canctl map
 * --svg` -- and the gathering behind them: a walk of the overlay, then
 * STATUS and STATS from every node found, CTL_CLUSTER_THREADS nodes at a
 * time, so that a node that does not answer costs one timeout, not one
 * per node after it.  Linked into canctl only.
 */
#ifndef CANFS_OVERLAY_CANCTL_CLUSTER_H
#define CANFS_OVERLAY_CANCTL_CLUSTER_H

#include <stddef.h>

#include "canctl_health.h"
#include "canctl_obj.h"
#include "client.h"

#define CTL_CLUSTER_THREADS 16	/* nodes asked at once */

/* What canctl gathered about an overlay. */
struct ctl_cluster {
	struct client_walk w;	/* the walk (dims, k, live nodes) */
	struct ctl_node *nodes;	/* w.n live ones (by id), then the
				   w.unreachable lost ones */
	size_t n;
};

/*
 * Walk the overlay from o->daemon and ask every node found for STATUS
 * and STATS (o->timeout_ms each).  Returns 0 with *c filled (free with
 * ctl_cluster_free()), or -1 after a message when the walk fails.
 */
int ctl_cluster_gather(const struct ctl_opts *o, struct ctl_cluster *c);
void ctl_cluster_free(struct ctl_cluster *c);

/*
 * status: the cluster's health, totals and one line per node.  Returns
 * CTL_EXIT_OK when healthy, CTL_EXIT_DEGRADED or CTL_EXIT_UNAVAILABLE,
 * CTL_EXIT_FAIL when the daemon cannot be asked.
 */
int ctl_cluster_status(const struct ctl_opts *o);

/* map --svg FILE: the zones as an SVG picture (canctl_svg.h). */
int ctl_cluster_map_svg(const struct ctl_opts *o);

#endif
