/* nbr.c: the neighbour table and node-level zone predicates (see nbr.h). */
#include <stdlib.h>
#include <string.h>


#include "host.h"
#include "nbr.h"
#include "xmalloc.h"

/* Find by (id, inc). */
struct nbr *
nbr_find(struct nbr_list *l, uint64_t id, uint64_t inc)
{
	struct nbr *n;

	TAILQ_FOREACH(n, l, entry) {
		if (n->info.id == id && n->info.inc == inc)
			return n;
	}
	return NULL;
}

/* Add a copy of info. */
struct nbr *
nbr_add(struct nbr_list *l, const struct wire_node *info, uint64_t now_ms)
{
	struct nbr *n = xcalloc(1, sizeof *n);

	n->info = *info;
	n->first_ms = now_ms;
	TAILQ_INSERT_TAIL(l, n, entry);
	return n;
}

/* Unlink and free. */
void
nbr_remove(struct nbr_list *l, struct nbr *n)
{
	TAILQ_REMOVE(l, n, entry);
	host_timer_free(n->takeover);
	free(n->nbrs);
	free(n);
}

/* Keep a copy of n's own neighbour list. */
void
nbr_set_list(struct nbr *n, const struct wire_node *list, uint32_t cnt)
{
	free(n->nbrs);
	n->nbrs = NULL;
	n->nnbrs = cnt;
	if (cnt > 0) {
		n->nbrs = xcalloc(cnt, sizeof *n->nbrs);
		memcpy(n->nbrs, list, cnt * sizeof *n->nbrs);
	}
}

/* Any zone of a abuts any zone of b. */
bool
nbr_nodes_adjacent(const struct wire_node *a, const struct wire_node *b,
    int dims)
{
	for (int i = 0; i < a->nzones; i++) {
		for (int j = 0; j < b->nzones; j++) {
			if (geom_zone_adjacent(&a->zones[i], &b->zones[j],
			    dims))
				return true;
		}
	}
	return false;
}

/* Any zone of a overlaps any zone of b. */
bool
nbr_nodes_overlap(const struct wire_node *a, const struct wire_node *b,
    int dims)
{
	for (int i = 0; i < a->nzones; i++) {
		for (int j = 0; j < b->nzones; j++) {
			if (geom_zone_overlaps(&a->zones[i], &b->zones[j],
			    dims))
				return true;
		}
	}
	return false;
}

/* Adjacent or overlapping. */
bool
nbr_nodes_near(const struct wire_node *a, const struct wire_node *b, int dims)
{
	return nbr_nodes_adjacent(a, b, dims) || nbr_nodes_overlap(a, b, dims);
}

/* Sum of zone shares. */
double
nbr_node_share(const struct wire_node *n, int dims)
{
	double s = 0;

	for (int i = 0; i < n->nzones; i++)
		s += geom_zone_share(&n->zones[i], dims);
	return s;
}

/* Distance from the nearest zone. */
geom_dist_t
nbr_node_dist2(const struct wire_node *n, const struct geom_point *p,
    int dims)
{
	geom_dist_t best = ~(geom_dist_t)0;

	for (int i = 0; i < n->nzones; i++) {
		geom_dist_t d = geom_zone_dist2(&n->zones[i], p, dims);

		if (d < best)
			best = d;
	}
	return best;
}

/* Some zone contains p. */
bool
nbr_node_contains(const struct wire_node *n, const struct geom_point *p,
    int dims)
{
	for (int i = 0; i < n->nzones; i++) {
		if (geom_zone_contains(&n->zones[i], p, dims))
			return true;
	}
	return false;
}
