/* claim.c: settle overlapping claims (see claim.h). */
#include <string.h>

#include "claim.h"
#include "geom.h"

/* x wins a tie: the smaller (id, incarnation). */
static bool
claim_x_wins_tie(const struct wire_node *self, const struct wire_node *x)
{
	if (x->id != self->id)
		return x->id < self->id;
	return x->inc < self->inc;
}

/* Remove piece g (within one of out[0..*n)) from the zones in out. */
static int
claim_remove(struct geom_zone *out, int *n, const struct geom_zone *g,
    int dims)
{
	struct geom_zone rest[WIRE_MAX_ZONES];

	for (int i = 0; i < *n; i++) {
		int k;

		if (!geom_zone_within(g, &out[i], dims))
			continue;
		k = geom_zone_carve(&out[i], g, dims, rest, WIRE_MAX_ZONES);
		if (k < 0 || *n - 1 + k > WIRE_MAX_ZONES)
			return -1;
		out[i] = out[--*n];
		memcpy(&out[*n], rest, (size_t)k * sizeof *rest);
		*n += k;
		return 0;
	}
	return -1;
}

int
claim_subtract(struct geom_zone *z, int *nz, const struct geom_zone *minus,
    int nminus, int dims)
{
	struct geom_zone out[WIRE_MAX_ZONES];
	int n = *nz;

	memcpy(out, z, (size_t)n * sizeof *out);
	for (int m = 0; m < nminus; m++) {
		/* Whole zones within the piece go; a piece within one, carved. */
		for (int i = 0; i < n; i++) {
			if (geom_zone_within(&out[i], &minus[m], dims))
				out[i--] = out[--n];
		}
		for (int i = 0; i < n; i++) {
			if (!geom_zone_overlaps(&out[i], &minus[m], dims))
				continue;
			if (claim_remove(out, &n, &minus[m], dims) != 0)
				return -1;
			break; /* out's zones are disjoint: one held it */
		}
	}
	memcpy(z, out, (size_t)n * sizeof *out);
	*nz = n;
	return 0;
}

int
claim_settle(const struct wire_node *self, const struct wire_node *x,
    int dims, struct geom_zone *out, int *nout)
{
	struct geom_zone give[WIRE_MAX_ZONES];
	int ngive = 0, n = self->nzones;

	/*
	 * Decide on the claims as both sides see them (never on pieces left
	 * by a carve: the other side does not see those), then give up.
	 */
	for (int i = 0; i < self->nzones; i++) {
		for (int j = 0; j < x->nzones; j++) {
			const struct geom_zone *ours = &self->zones[i];
			const struct geom_zone *theirs = &x->zones[j];

			if (!geom_zone_overlaps(ours, theirs, dims) ||
			    ngive == WIRE_MAX_ZONES)
				continue; /* (x's zones overlap each other) */
			if (geom_zone_equal(ours, theirs, dims) ?
			    claim_x_wins_tie(self, x) :
			    geom_zone_within(theirs, ours, dims))
				give[ngive++] = *theirs;
		}
	}
	memcpy(out, self->zones, (size_t)n * sizeof *out);
	if (claim_subtract(out, &n, give, ngive, dims) != 0) {
		*nout = self->nzones;
		memcpy(out, self->zones, (size_t)self->nzones * sizeof *out);
		return -1;
	}
	*nout = n;
	return ngive > 0 ? 1 : 0;
}
