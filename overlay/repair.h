/*
 * repair.h: moving replicas and keeping k copies of everything.
 *
 * - Transfers: when a zone changes hands (join, leave, reassignment), its
 *   replicas are streamed to the new owner ahead of the membership message
 *   on the same connection, so the new owner has them before it answers
 *   for the zone.  Streams are flow-controlled (bounded output buffer).
 * - Anti-entropy: a periodic pass (and one forced by `canctl repair`) goes
 *   over every local replica, resolves its key's replica set, and sends
 *   each other member a digest of what it should hold.  Members answer
 *   with what they lack; we push those copies (rate-limited).  A local
 *   copy that is not ours any more (zone moved, replica set changed) is
 *   deleted once every member has confirmed holding that version.
 * - Tombstones older than --tombstone-ttl are dropped and never pushed.
 *
 * A node without a data dir (the simulator's, cansim) has no repair state:
 * repair_init is never called, every entry point below then does nothing,
 * and repair_stream_zones sends just the frame.
 */
#ifndef CANFS_OVERLAY_REPAIR_H
#define CANFS_OVERLAY_REPAIR_H

#include <stdint.h>

#include "geom.h"
#include "wire.h"

struct node;
struct conn;

void repair_init(struct node *n);
void repair_free(struct node *n);

/* Start a pass now (or as soon as the current one ends). */
void repair_request(struct node *n);
/* Every heartbeat: start the periodic pass when due. */
void repair_tick(struct node *n, uint64_t now);

/*
 * Stream every local replica in zones z[0..nz) to the node at addr, then
 * send the finished frame `then` (JOIN_ACCEPT, HANDOVER) on the same
 * connection.  The frame is taken over (freed after sending).
 */
void repair_stream_zones(struct node *n, const char *addr,
    const struct geom_zone *z, int nz, struct wbuf *then);

/* Counters and queue lengths, for the daemon's metrics (stats.c). */
struct repair_counts {
	uint64_t passes;		/* anti-entropy passes finished */
	uint64_t pushed;		/* replicas pushed by repair */
	uint64_t transferred;		/* replicas streamed to new owners */
	uint64_t deleted;		/* misplaced copies dropped */
	uint64_t expired;		/* tombstones dropped past their ttl */
	uint64_t backlog;		/* repair pushes queued */
	uint64_t transfer_backlog;	/* transfer pushes queued */
	/*
	 * Live objects whose primary copy is ours and for which the last
	 * pass found fewer than k copies: ours plus the members that
	 * confirmed holding the version (a member that lacked it, or did
	 * not answer, is short).  The pass queued pushes for those that
	 * lacked it, so the number says what the next pass will check.
	 */
	uint64_t under_replicated;
	uint64_t last_pass_ms;		/* duration of the last pass */
};
void repair_counts(struct node *n, struct repair_counts *rc);

/* Replicas streamed to new owners so far, of those queued (counters). */
void repair_transfer_progress(struct node *n, uint64_t *done,
    uint64_t *total);

/* OBJ_DIGEST from a peer, LIST_REQ from canctl verify. */
void repair_frame(struct node *n, struct conn *c, const struct wire_header *h,
    const uint8_t *body);

/* Drop every local replica (after a completed graceful leave). */
void repair_wipe(struct node *n);

#endif
