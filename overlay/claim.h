/*
 * claim.h: the rule that settles two claims on the same space.
 *
 * Zones only ever come from halving (common/geom.h), so two claims that
 * overlap are equal or one lies within the other.  They arise when the
 * membership protocol races: a takeover of a node that was alive after
 * all, a handover whose acknowledgement was lost, a joiner admitted
 * twice, a partition healing.  Whatever the cause, both nodes see the
 * same two claims and apply the same rule, so exactly one keeps each
 * contested piece:
 *
 *   - the finer claim keeps the space: a node whose zone contains a
 *     smaller zone of the other carves that piece out and keeps the rest
 *     (a finer claim is a later split, made by someone who owned the
 *     space at the time);
 *   - equal claims go to the smaller (id, incarnation).
 *
 * The loser's copies of objects in the piece it gives up are then
 * misplaced, and the repair pass pushes every one the winner lacks (or
 * holds older) to it before dropping it (overlay/repair.c), so a write
 * acknowledged on either side survives.
 */
#ifndef CANFS_OVERLAY_CLAIM_H
#define CANFS_OVERLAY_CLAIM_H

#include "wire.h"

/*
 * Apply the rule to self's zones against x's: the zones self keeps go to
 * out[] (WIRE_MAX_ZONES of them at most), their count to *nout.  Returns
 * 1 when self gives something up, 0 when it keeps all it has (no overlap,
 * or x is the one to give way), -1 when the pieces self would keep do not
 * fit in WIRE_MAX_ZONES zones (or the zones are not from one split tree):
 * then self keeps everything and the overlap stays until it can merge.
 */
int claim_settle(const struct wire_node *self, const struct wire_node *x,
    int dims, struct geom_zone *out, int *nout);

/*
 * Remove from z[0..*nz) (disjoint zones of one split tree) every part
 * that overlaps one of minus[0..nminus): zones within a piece go, pieces
 * within a zone are carved out of it.  Used by settle, and by a takeover,
 * which takes only what no live node claims.  Returns -1 (z unchanged)
 * when the pieces left do not fit in WIRE_MAX_ZONES zones.
 */
int claim_subtract(struct geom_zone *z, int *nz, const struct geom_zone *minus,
    int nminus, int dims);

#endif
