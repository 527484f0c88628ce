/* member.c: join, graceful leave with handover, reassignment (member.h). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "claim.h"
#include "conn.h"
#include "hash.h"
#include "log.h"
#include "member.h"
#include "node.h"
#include "repair.h"
#include "rpc.h"
#include "store.h"
#include "xmalloc.h"

#define MEMBER_JOIN_RETRY_MS 3000
#define MEMBER_HANDOVER_TIMEOUT_MS 10000	/* a leave's: it tries others */
#define MEMBER_REASSIGN_TIMEOUT_MS 30000	/* a spare zone's: its replicas
						   may take long to stream */
#define MEMBER_LEAVE_TRIES 5
#define MEMBER_REASSIGN_TICKS 3	/* try reassignment every N heartbeats */
#define MEMBER_SAVE_TICKS 1	/* save the peers file every N heartbeats */
#define MEMBER_OVERLAP_FAILS 2	/* settle overlaps older than this many
				   failure timeouts (member_settle_claims) */

/*
 * Our join is one request in the node's table (rpc.c) at any time while
 * we are joining: sent to a bootstrap peer and resent through the next
 * one when no answer comes, or, after a refusal, waiting a little before
 * it is sent again.
 */
static void member_join_cb(struct node *n, void *arg,
    const struct wire_header *h, const uint8_t *body);

/* Send our JOIN under request reqid, routed to our point from a bootstrap. */
static void
member_join_send(struct node *n, uint64_t reqid)
{
	struct wire_membership m;
	struct wire_routed rt;
	struct wbuf w;
	const char *addr = n->cfg.join[n->join_next++ % n->cfg.njoin];

	memset(&m, 0, sizeof m);
	m.dims = n->cfg.dims;
	m.self = n->self;
	m.self.nzones = 0;
	memset(&rt, 0, sizeof rt);
	rt.dims = n->cfg.dims;
	rt.inner_type = WIRE_R_JOIN;
	hash_node_point(n->self.id, n->cfg.dims, &rt.target);
	memcpy(rt.origin, n->self.addr, sizeof rt.origin);
	log_info("joining the overlay through %s", addr);
	wbuf_init(&w);
	wire_frame_begin(&w, WIRE_ROUTED, 0, reqid);
	wire_routed_encode(&w, &rt);
	wire_membership_encode(&w, &m);
	wire_frame_end(&w);
	conn_send(transport_peer(n->transport, addr), &w);
	wbuf_free(&w);
	rpc_rearm(n, reqid, MEMBER_JOIN_RETRY_MS);
}

/* No answer to our join in time: try again, through the next peer. */
static bool
member_join_expired(struct node *n, void *arg, uint64_t reqid,
    enum rpc_event ev)
{
	(void)arg;
	(void)ev;
	if (n->state != NODE_JOINING)
		return false;	/* joined through another attempt */
	log_warnx("no answer to our join yet; trying again");
	member_join_send(n, reqid);
	return true;
}

/* The pause after a refusal is over: send the join again. */
static bool
member_join_resume(struct node *n, void *arg, uint64_t reqid,
    enum rpc_event ev)
{
	(void)arg;
	(void)ev;
	if (n->state != NODE_JOINING)
		return false;
	rpc_set_retry(n, reqid, member_join_expired);
	member_join_send(n, reqid);
	return true;
}

/* Start joining: send our JOIN to the next bootstrap peer. */
void
member_send_join(struct node *n)
{
	uint64_t reqid;

	if (n->cfg.njoin == 0)
		return;
	reqid = rpc_new(n, member_join_cb, NULL, MEMBER_JOIN_RETRY_MS);
	rpc_set_retry(n, reqid, member_join_expired);
	member_join_send(n, reqid);
}

/*
 * Our join was refused; try again soon (maybe through another peer).
 * The next attempt is a request at once, sent when its pause is over.
 */
static void
member_join_refused(struct node *n, const struct wire_header *h,
    const uint8_t *body)
{
	uint32_t code;
	char msg[256], safe[256];
	uint64_t reqid;

	if (wire_error_decode(body, h->len, &code, msg, sizeof msg) != 0) {
		code = WIRE_E_PROTO;
		snprintf(msg, sizeof msg, "unexpected %s",
		    wire_type_name(h->type));
	}
	log_escape(msg, strlen(msg), safe, sizeof safe);
	if (n->state != NODE_JOINING) {
		log_debug("late join refusal ignored: %s", safe);
		return;
	}
	log_warnx("join refused (%s): %s; retrying", wire_error_text(code),
	    safe);
	reqid = rpc_new(n, member_join_cb, NULL, MEMBER_JOIN_RETRY_MS / 2);
	rpc_set_retry(n, reqid, member_join_resume);
}

/*
 * CAN's uniform-partitioning refinement: if a neighbour holds a bigger
 * zone than ours, let it split instead.  Returns the neighbour or NULL.
 */
static struct nbr *
member_bigger_neighbour(struct node *n)
{
	int mine = geom_zone_depth(&n->self.zones[0], n->cfg.dims);
	int best = mine;
	struct nbr *e, *pick = NULL;

	TAILQ_FOREACH(e, &n->nbrs, entry) {
		if (e->failed || e->heard_ms == 0)
			continue;
		for (int i = 0; i < e->info.nzones; i++) {
			int d = geom_zone_depth(&e->info.zones[i],
			    n->cfg.dims);

			if (d < best || (d == best && d < mine &&
			    pick != NULL && e->info.id < pick->info.id)) {
				best = d;
				pick = e;
			}
		}
	}
	return pick;
}

/* Pass a join on to a neighbour that must take it (no further forward). */
static void
member_pass_join(struct node *n, const struct wire_header *h,
    const struct wire_routed *rt, struct nbr *to)
{
	struct wire_routed fwd = *rt;
	struct wbuf w;

	fwd.hops++;
	if (fwd.npath < WIRE_MAX_PATH)
		fwd.path[fwd.npath++] = n->self.id;
	wbuf_init(&w);
	wire_frame_begin(&w, WIRE_ROUTED, h->flags | WIRE_RT_HERE, h->reqid);
	wire_routed_encode(&w, &fwd);
	wbuf_put_bytes(&w, rt->inner, rt->inner_len);
	wire_frame_end(&w);
	conn_send(transport_peer(n->transport, to->info.addr), &w);
	wbuf_free(&w);
}

/*
 * Admit a joiner: give it a spare zone if we hold several, else split
 * ours and give it the half that contains its point.  The joiner gets
 * our neighbour list to find its own neighbours; ours learn of the change
 * from the heartbeats we send at once.
 */
void
member_handle_join(struct node *n, const struct wire_header *h,
    const struct wire_routed *rt)
{
	struct conn *origin = transport_peer(n->transport, rt->origin);
	struct wire_membership m, acc;
	struct wire_node joiner;
	struct geom_point p;
	struct nbr *bigger, *e;
	struct wbuf w;

	if (wire_membership_decode(rt->inner, rt->inner_len, &m) != 0 ||
	    m.dims != n->cfg.dims) {
		wire_membership_free(&m);
		node_send_error(origin, h->reqid, WIRE_E_PROTO,
		    "malformed join");
		return;
	}
	joiner = m.self;
	wire_membership_free(&m);
	if (n->state != NODE_ACTIVE || n->handing) {
		/* Said here too: the joiner only sees "busy". */
		log_info("join of %s refused: %s", node_idstr(joiner.id),
		    n->state != NODE_ACTIVE ? "we are not active" :
		    "a handover of ours is under way");
		node_send_error(origin, h->reqid, WIRE_E_BUSY,
		    "owner is busy (leaving or handing over)");
		return;
	}
	if (joiner.id == n->self.id || joiner.addr[0] == '\0') {
		node_send_error(origin, h->reqid, WIRE_E_PROTO,
		    "joiner has our node id or no address");
		return;
	}
	if (!(h->flags & WIRE_RT_HERE) && n->self.nzones == 1 &&
	    (bigger = member_bigger_neighbour(n)) != NULL) {
		member_pass_join(n, h, rt, bigger);
		return;
	}
	joiner.nzones = 1;
	if (n->self.nzones > 1) {
		joiner.zones[0] = n->self.zones[--n->self.nzones];
	} else {
		struct geom_zone low, high;

		if (geom_zone_split(&n->self.zones[0], n->cfg.dims, &low,
		    &high) != 0) {
			node_send_error(origin, h->reqid, WIRE_E_BUSY,
			    "zone too small to split");
			return;
		}
		hash_node_point(joiner.id, n->cfg.dims, &p);
		joiner.zones[0] = geom_zone_contains(&high, &p, n->cfg.dims) ?
		    high : low;
		n->self.zones[0] = geom_zone_contains(&high, &p, n->cfg.dims) ?
		    low : high;
	}
	log_info("admitting %s (%s)", node_idstr(joiner.id), joiner.addr);
	node_zones_changed(n, false);
	memset(&acc, 0, sizeof acc);
	acc.dims = n->cfg.dims;
	acc.self = n->self;
	acc.other = joiner;
	acc.list = node_nbr_list(n, &acc.n);
	/* The replicas of the zone go first, the accept after them. */
	wbuf_init(&w);
	wire_frame_begin(&w, WIRE_JOIN_ACCEPT, 0, h->reqid);
	wire_membership_encode(&w, &acc);
	wire_frame_end(&w);
	free(acc.list);
	repair_stream_zones(n, rt->origin, joiner.zones, 1, &w);
	if ((e = node_learn(n, &joiner, true)) != NULL)
		e->admitted_ms = node_now_ms();
	node_prune(n);
	node_heartbeat_all(n);
}

/* Add zones we were given; refuse overlaps and overflow. */
static int
member_add_zones(struct node *n, const struct wire_node *given)
{
	if (n->self.nzones + given->nzones > WIRE_MAX_ZONES)
		return -1;
	for (int i = 0; i < given->nzones; i++) {
		for (int j = 0; j < n->self.nzones; j++) {
			if (geom_zone_overlaps(&given->zones[i],
			    &n->self.zones[j], n->cfg.dims))
				return -1;
		}
	}
	for (int i = 0; i < given->nzones; i++)
		n->self.zones[n->self.nzones++] = given->zones[i];
	n->gained_ms = node_now_ms();
	node_zones_changed(n, true);
	return 0;
}

/*
 * A repeated join answered twice, the second time overlapping what the
 * first gave us: its admitter no longer claims the zone it gave, so
 * ignoring it would leave a hole.  Take what of it we do not hold yet.
 */
static int
member_add_rest(struct node *n, const struct wire_node *given)
{
	struct wire_node rest = *given;
	int nrest = given->nzones;

	if (claim_subtract(rest.zones, &nrest, n->self.zones,
	    n->self.nzones, n->cfg.dims) != 0)
		return -1;
	rest.nzones = (uint8_t)nrest;
	if (rest.nzones == 0)
		return 0;
	log_warnx("a repeated join's accept overlaps the zone we were given: "
	    "taking the %d piece(s) of it we do not hold", rest.nzones);
	return member_add_zones(n, &rest);
}

/* Learn a list of nodes second hand, then drop what is no longer near. */
static void
member_learn_list(struct node *n, const struct wire_membership *m)
{
	for (uint32_t i = 0; i < m->n; i++)
		node_learn(n, &m->list[i], false);
	node_prune(n);
}

/*
 * A zone's replicas were streamed (XFER) ahead of a JOIN_ACCEPT or
 * HANDOVER on the same connection, and are queued in our store; reads see
 * committed state only, so they must be durable before we answer for the
 * zone, or a read there would find nothing.  (One wait for the commit
 * thread: joins and handovers are rare.)
 */
static void
member_commit_streamed(struct node *n)
{
	if (n->store != NULL)
		store_commit(n->store);
}

/* The owner admitted us. */
static void
member_on_join_accept(struct node *n, const struct wire_membership *m)
{
	struct nbr *owner;

	member_commit_streamed(n);
	if (m->other.id != n->self.id || m->other.inc != n->self.inc)
		return;
	if (n->state != NODE_JOINING && n->state != NODE_ACTIVE)
		return;
	if (member_add_zones(n, &m->other) != 0 &&
	    member_add_rest(n, &m->other) != 0) {
		log_warnx("join accept from %s overlaps our zones; ignored",
		    node_idstr(m->self.id));
		return;
	}
	if (n->state == NODE_JOINING)
		log_info("joined the overlay; %s admitted us",
		    node_idstr(m->self.id));
	else
		log_warnx("a repeated join gave us a second zone");
	node_set_state(n, NODE_ACTIVE);
	owner = node_learn(n, &m->self, true);
	if (owner != NULL)
		nbr_set_list(owner, m->list, m->n);
	member_learn_list(n, m);
	node_heartbeat_all(n);
}

/* The answer to our join: acceptance, or a refusal (retried). */
static void
member_join_cb(struct node *n, void *arg, const struct wire_header *h,
    const uint8_t *body)
{
	struct wire_membership m;

	(void)arg;
	if (h == NULL)
		return;	/* shutting down, or joined through another attempt */
	if (h->type != WIRE_JOIN_ACCEPT) {
		member_join_refused(n, h, body);
		return;
	}
	if (wire_membership_decode(body, h->len, &m) != 0)
		return;	/* checked by node_frame: cannot happen */
	member_on_join_accept(n, &m);
	wire_membership_free(&m);
}

static void member_handover_cb(struct node *n, void *arg,
    const struct wire_header *h, const uint8_t *body);
static bool member_handover_expired(struct node *n, void *arg,
    uint64_t reqid, enum rpc_event ev);

/*
 * Send our zone(s) to an heir: all of them (leave) or one (reassign).
 * The handover is a request in the node's table until the heir answers
 * (member_handover_cb), or for MEMBER_HANDOVER_TIMEOUT_MS (a leave) or
 * MEMBER_REASSIGN_TIMEOUT_MS (a spare zone).
 */
static void
member_start_handover(struct node *n, struct nbr *heir, int zone)
{
	struct wire_membership m;
	struct wbuf w;
	uint64_t reqid;

	memset(&m, 0, sizeof m);
	m.dims = n->cfg.dims;
	m.self = n->self;
	m.other.id = heir->info.id;
	m.other.inc = heir->info.inc;
	if (zone < 0) {
		m.other.nzones = n->self.nzones;
		memcpy(m.other.zones, n->self.zones, sizeof m.other.zones);
	} else {
		m.other.nzones = 1;
		m.other.zones[0] = n->self.zones[zone];
		n->hand_given = n->self.zones[zone];
	}
	m.list = node_nbr_list(n, &m.n);
	n->handing = true;
	reqid = rpc_new(n, member_handover_cb, NULL, zone < 0 ?
	    MEMBER_HANDOVER_TIMEOUT_MS : MEMBER_REASSIGN_TIMEOUT_MS);
	rpc_set_retry(n, reqid, member_handover_expired);
	n->hand_reqid = reqid;
	n->hand_heir_id = heir->info.id;
	n->hand_heir_inc = heir->info.inc;
	n->hand_zone = zone;
	log_info("handing %s to %s (%s)", zone < 0 ? "all our zones" :
	    "a spare zone", node_idstr(heir->info.id), heir->info.addr);
	/* The replicas go first, the handover after them. */
	wbuf_init(&w);
	wire_frame_begin(&w, WIRE_HANDOVER,
	    n->state == NODE_LEAVING ? WIRE_HO_LEAVE : 0, reqid);
	wire_membership_encode(&w, &m);
	wire_frame_end(&w);
	free(m.list);
	repair_stream_zones(n, heir->info.addr, m.other.zones,
	    m.other.nzones, &w);
}

/* True when one of e's zones is the sibling of one of ours. */
static bool
member_can_merge(struct node *n, const struct nbr *e)
{
	for (int i = 0; i < e->info.nzones; i++) {
		for (int j = 0; j < n->self.nzones; j++) {
			if (geom_zone_siblings(&e->info.zones[i],
			    &n->self.zones[j], n->cfg.dims))
				return true;
		}
	}
	return false;
}

/*
 * The heir for a leave: a live neighbour that can merge one of our zones
 * with its own, else the one with the smallest volume; neighbours that
 * already failed to answer are skipped.
 */
static struct nbr *
member_choose_heir(struct node *n)
{
	struct nbr *e, *pick = NULL;
	bool pick_merge = false;
	double pick_share = 0;

	TAILQ_FOREACH(e, &n->nbrs, entry) {
		bool merge;
		double share;
		bool tried = false;

		if (e->failed || e->heard_ms == 0)
			continue;
		for (int i = 0; i < n->ntried; i++)
			if (n->tried[i] == e->info.id)
				tried = true;
		if (tried || e->info.nzones + n->self.nzones > WIRE_MAX_ZONES)
			continue;
		merge = member_can_merge(n, e);
		share = nbr_node_share(&e->info, n->cfg.dims);
		if (pick == NULL || (merge && !pick_merge) ||
		    (merge == pick_merge && (share < pick_share ||
		    (share == pick_share && e->info.id < pick->info.id)))) {
			pick = e;
			pick_merge = merge;
			pick_share = share;
		}
	}
	return pick;
}

static void member_leave_progress(struct node *n);

/*
 * Leaving is over.  After a completed handover our replicas live at the
 * heir, so the local copies are dropped: a later restart on this data dir
 * must not bring back versions that were deleted meanwhile.
 */
static void
member_finish_leave(struct node *n, bool handed_over)
{
	if (n->leave_client != 0)
		member_leave_progress(n);
	if (handed_over)
		repair_wipe(n);
	n->self.nzones = 0;
	member_save_state(n);
	node_set_state(n, NODE_LEFT);
	node_send_empty(transport_conn_by_serial(n->transport,
	    n->leave_client), WIRE_OK, n->leave_client_reqid);
	if (n->on_left != NULL)
		n->on_left(n);
}

/* Pick an heir and hand everything to it. */
static void
member_start_leave(struct node *n)
{
	struct nbr *heir = member_choose_heir(n);

	if (heir == NULL) {
		log_warnx("no live neighbour to hand our zones to%s",
		    TAILQ_EMPTY(&n->nbrs) ? " (last node: the overlay ends)" :
		    "; neighbours will take over after we stop");
		member_finish_leave(n, false);
		return;
	}
	member_start_handover(n, heir, -1);
}

/* Begin a graceful leave. */
void
node_leave(struct node *n, void (*on_left)(struct node *))
{
	if (on_left != NULL)
		n->on_left = on_left;
	if (n->state == NODE_LEAVING)
		return;
	if (n->state != NODE_ACTIVE) {
		node_set_state(n, NODE_LEFT);
		if (n->on_left != NULL)
			n->on_left(n);
		return;
	}
	node_set_state(n, NODE_LEAVING);
	n->ntried = 0;
	repair_transfer_progress(n, &n->leave_base_done, &n->leave_base_total);
	if (!n->handing)
		member_start_leave(n);
	/* else: member_tick starts it when the reassignment is done */
}

/* We are an heir: take the zones, answer, tell our neighbours. */
static void
member_on_handover(struct node *n, struct conn *c,
    const struct wire_header *h, const struct wire_membership *m)
{
	struct wire_membership ack;
	struct nbr *giver;

	member_commit_streamed(n);
	if (n->state != NODE_ACTIVE || n->handing ||
	    m->other.id != n->self.id || m->other.inc != n->self.inc) {
		node_send_error(c, h->reqid, WIRE_E_BUSY,
		    "cannot take a handover now");
		return;
	}
	if (member_add_zones(n, &m->other) != 0) {
		node_send_error(c, h->reqid, WIRE_E_BUSY,
		    "handover overlaps our zones or is too many zones");
		return;
	}
	/*
	 * Gained space: our copies may miss writes (the giver may itself
	 * have taken the zone over lately, with only part of its data), so
	 * we are unsure until repair has been round (replica.c).
	 */
	n->gained_ms = node_now_ms();
	n->took_from_id = m->self.id;
	n->took_from_inc = m->self.inc;
	n->took_ms = node_now_ms();
	log_info("%s handed us %d zone(s)%s", node_idstr(m->self.id),
	    m->other.nzones, (h->flags & WIRE_HO_LEAVE) ? " and is leaving" :
	    "");
	giver = nbr_find(&n->nbrs, m->self.id, m->self.inc);
	if (h->flags & WIRE_HO_LEAVE)
		node_mark_gone(n, m->self.id, m->self.inc);
	if (giver != NULL && (h->flags & WIRE_HO_LEAVE))
		nbr_remove(&n->nbrs, giver);
	route_cache_forget(&n->cache, m->self.id);
	member_learn_list(n, m);
	memset(&ack, 0, sizeof ack);
	ack.dims = n->cfg.dims;
	ack.self = n->self;
	node_send_membership(n, c, WIRE_HANDOVER_ACK, 0, h->reqid, &ack);
	node_heartbeat_all(n);
	/* Replica sets that now meet us twice need another member. */
	repair_request(n);
}

/* Tell every neighbour we are gone and who has our zones now. */
static void
member_announce_leave(struct node *n, const struct wire_node *heir)
{
	struct wire_membership m;
	struct nbr *e;

	memset(&m, 0, sizeof m);
	m.dims = n->cfg.dims;
	m.self = n->self;
	m.other = *heir;
	TAILQ_FOREACH(e, &n->nbrs, entry) {
		if (!e->failed)
			node_send_membership(n,
			    transport_peer(n->transport, e->info.addr),
			    WIRE_LEAVE, 0, 0, &m);
	}
}

/* The heir has our zone(s). */
static void
member_on_handover_ack(struct node *n, const struct wire_membership *m)
{
	n->handing = false;
	if (n->state == NODE_LEAVING) {
		log_info("handover to %s complete", node_idstr(m->self.id));
		member_announce_leave(n, &m->self);
		member_finish_leave(n, true);
		return;
	}
	for (int i = 0; i < n->self.nzones; i++) {
		if (geom_zone_equal(&n->self.zones[i], &n->hand_given,
		    n->cfg.dims)) {
			n->self.zones[i] = n->self.zones[--n->self.nzones];
			break;
		}
	}
	node_zones_changed(n, false);
	node_learn(n, &m->self, true);
	node_prune(n);
	node_heartbeat_all(n);
}

/*
 * The handover failed: the tick tries another heir (leave) or gives up
 * (reassignment).  The heir is remembered so as not to pick it again.
 */
static void
member_handover_failed(struct node *n)
{
	n->handing = false;
	if (n->state != NODE_LEAVING)
		n->hand_unsure_ms = node_now_ms();
	if (n->ntried < MEMBER_LEAVE_TRIES)
		n->tried[n->ntried++] = n->hand_heir_id;
}

/*
 * A neighbour was declared failed: if it is the heir of our handover, the
 * handover has failed now, not at its timeout (30 s for a spare zone,
 * during which we would refuse every join: seen in the overlay scenario,
 * an heir killed just as the handover began).
 */
void
member_heir_failed(struct node *n, uint64_t id, uint64_t inc)
{
	if (!n->handing || n->hand_heir_id != id || n->hand_heir_inc != inc)
		return;
	log_warnx("handover to %s failed: the heir is declared failed",
	    node_idstr(id));
	rpc_cancel(n, n->hand_reqid);
	member_handover_failed(n);
}

/* The heir said no. */
static void
member_handover_refused(struct node *n, uint32_t code, const char *msg)
{
	log_warnx("handover refused by %s (%s): %s",
	    node_idstr(n->hand_heir_id), wire_error_text(code), msg);
	member_handover_failed(n);
}

/* No answer from the heir in time: say so; the handover then fails. */
static bool
member_handover_expired(struct node *n, void *arg, uint64_t reqid,
    enum rpc_event ev)
{
	(void)arg;
	(void)reqid;
	(void)ev;
	log_warnx("handover to %s timed out", node_idstr(n->hand_heir_id));
	return false;
}

/* The heir's answer to our handover (h == NULL: none in time, or exit). */
static void
member_handover_cb(struct node *n, void *arg, const struct wire_header *h,
    const uint8_t *body)
{
	struct wire_membership m;
	uint32_t code;
	char msg[256], safe[256];

	(void)arg;
	if (h == NULL) {
		member_handover_failed(n);
		return;
	}
	if (h->type == WIRE_HANDOVER_ACK &&
	    wire_membership_decode(body, h->len, &m) == 0) {
		if (m.self.id == n->hand_heir_id)
			member_on_handover_ack(n, &m);
		else
			member_handover_refused(n, WIRE_E_PROTO,
			    "acknowledged by another node");
		wire_membership_free(&m);
		return;
	}
	if (wire_error_decode(body, h->len, &code, msg, sizeof msg) != 0) {
		code = WIRE_E_PROTO;
		snprintf(msg, sizeof msg, "unexpected %s",
		    wire_type_name(h->type));
	}
	log_escape(msg, strlen(msg), safe, sizeof safe);
	member_handover_refused(n, code, safe);
}

/* JOIN_ACCEPT (for an attempt we gave up on) and HANDOVER. */
void
member_frame(struct node *n, struct conn *c, const struct wire_header *h,
    const struct wire_membership *m)
{
	switch (h->type) {
	case WIRE_JOIN_ACCEPT:
		member_on_join_accept(n, m);
		break;
	case WIRE_HANDOVER:
		member_on_handover(n, c, h, m);
		break;
	}
}

/*
 * Background reassignment: a node holding more than one zone merges
 * siblings it holds, and gives a spare zone to the single-zone owner of
 * its sibling, which merges the two; the overlay drifts back toward one
 * zone per node.  (A spare whose sibling is split further stays until a
 * joiner takes it: joins hand out spare zones before splitting.)
 */
static void
member_reassign(struct node *n)
{
	struct nbr *e;

	if (n->self.nzones <= 1)
		return;
	for (int i = 0; i < n->self.nzones; i++) {
		for (int j = i + 1; j < n->self.nzones; j++) {
			if (geom_zone_siblings(&n->self.zones[i],
			    &n->self.zones[j], n->cfg.dims)) {
				node_zones_changed(n, true);
				node_heartbeat_all(n);
				return;
			}
		}
	}
	for (int i = 0; i < n->self.nzones; i++) {
		struct geom_zone sib;

		if (geom_zone_parent(&n->self.zones[i], n->cfg.dims, NULL,
		    &sib) != 0)
			continue;
		TAILQ_FOREACH(e, &n->nbrs, entry) {
			if (e->failed || e->heard_ms == 0 ||
			    e->info.nzones != 1 ||
			    !geom_zone_equal(&e->info.zones[0], &sib,
			    n->cfg.dims))
				continue;
			member_start_handover(n, e, i);
			return;
		}
	}
}

/* Save our neighbours' addresses, to rejoin through them after restart. */
static void
member_save_peers(struct node *n)
{
	char path[600], tmp[640];
	struct nbr *e;
	FILE *f;

	if (n->cfg.data_dir[0] == '\0')
		return;	/* nothing kept across restarts (simulator) */
	snprintf(path, sizeof path, "%s/peers", n->cfg.data_dir);
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	if ((f = fopen(tmp, "w")) == NULL) {
		log_warn("cannot write %s", tmp);
		return;
	}
	TAILQ_FOREACH(e, &n->nbrs, entry) {
		if (!e->failed && e->heard_ms != 0)
			fprintf(f, "%s\n", e->info.addr);
	}
	if (fclose(f) != 0 || rename(tmp, path) != 0)
		log_warn("cannot save %s", path);
}

/* Bootstrap from the saved peers file when no --join was given. */
void
member_load_peers(struct node *n)
{
	char path[600], line[WIRE_ADDR_MAX + 2];
	FILE *f;

	if (n->cfg.njoin > 0 || n->cfg.data_dir[0] == '\0')
		return;
	snprintf(path, sizeof path, "%s/peers", n->cfg.data_dir);
	if ((f = fopen(path, "r")) == NULL)
		return;
	while (n->cfg.njoin < NODE_MAX_JOIN &&
	    fgets(line, sizeof line, f) != NULL) {
		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '\0' || strlen(line) >= WIRE_ADDR_MAX ||
		    strcmp(line, n->self.addr) == 0)
			continue;
		memcpy(n->cfg.join[n->cfg.njoin++], line, strlen(line) + 1);
	}
	fclose(f);
	if (n->cfg.njoin > 0)
		log_info("rejoining through %d saved peer(s) from %s",
		    n->cfg.njoin, path);
}

/* Write DATA/state: dims, then one line per zone (lo and bits). */
void
member_save_state(struct node *n)
{
	char path[600], tmp[640];
	FILE *f;
	int fd;

	if (n->cfg.data_dir[0] == '\0')
		return;
	snprintf(path, sizeof path, "%s/state", n->cfg.data_dir);
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	if ((f = fopen(tmp, "w")) == NULL) {
		log_warn("cannot write %s", tmp);
		return;
	}
	fprintf(f, "canfs-state 1\ndims %d\n", n->cfg.dims);
	for (int i = 0; i < n->self.nzones; i++) {
		fprintf(f, "zone");
		for (int j = 0; j < n->cfg.dims; j++)
			fprintf(f, " %u/%u", n->self.zones[i].lo[j],
			    n->self.zones[i].bits[j]);
		fprintf(f, "\n");
	}
	fflush(f);
	fd = fileno(f);
	if (fsync(fd) != 0 || fclose(f) != 0 || rename(tmp, path) != 0)
		log_warn("cannot save %s", path);
}

/* Read DATA/state into zones; returns how many (0 if none or bad). */
static int
member_load_state(struct node *n, struct geom_zone *zones)
{
	char path[600], line[512];
	int nz = 0, dims = 0;
	FILE *f;

	if (n->cfg.data_dir[0] == '\0')
		return 0;
	snprintf(path, sizeof path, "%s/state", n->cfg.data_dir);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	while (fgets(line, sizeof line, f) != NULL && nz < WIRE_MAX_ZONES) {
		char *p = line + 4, *end;
		struct geom_zone z;

		if (sscanf(line, "dims %d", &dims) == 1)
			continue;
		if (strncmp(line, "zone", 4) != 0)
			continue;
		memset(&z, 0, sizeof z);
		for (int j = 0; j < n->cfg.dims; j++) {
			unsigned long lo = strtoul(p, &end, 10), bits;

			if (*end != '/')
				goto bad;
			bits = strtoul(end + 1, &p, 10);
			if (lo > UINT32_MAX || bits > 32)
				goto bad;
			z.lo[j] = (uint32_t)lo;
			z.bits[j] = (uint8_t)bits;
		}
		if (!geom_zone_valid(&z, n->cfg.dims))
			goto bad;
		zones[nz++] = z;
	}
	fclose(f);
	if (dims != n->cfg.dims && nz > 0) {
		log_error("%s is for d=%d, not d=%d; not resuming", path, dims,
		    n->cfg.dims);
		return 0;
	}
	return nz;
bad:
	fclose(f);
	log_error("%s is damaged; joining afresh", path);
	return 0;
}

/* Resume the zones saved before a restart. */
bool
member_resume(struct node *n)
{
	struct geom_zone zones[WIRE_MAX_ZONES];
	int nz = member_load_state(n, zones);

	if (nz == 0)
		return false;
	memcpy(n->self.zones, zones, sizeof zones);
	n->self.nzones = (uint8_t)nz;
	n->state = NODE_ACTIVE;
	n->gained_ms = node_now_ms();
	n->resume_until_ms = node_now_ms() +
	    4 * (uint64_t)n->cfg.fail_after * (uint64_t)n->cfg.hb_ms;
	log_info("resuming %d saved zone(s); telling %d saved peer(s)", nz,
	    n->cfg.njoin);
	node_zones_changed(n, false);
	for (int i = 0; i < n->cfg.njoin; i++)
		node_heartbeat_addr(n, n->cfg.join[i]);
	return true;
}

/* Our saved zones are (partly) someone else's now: join afresh. */
void
member_resume_conflict(struct node *n, const struct wire_node *other)
{
	log_warnx("%s (%s) holds part of our saved space: it was taken over "
	    "while we were down", node_idstr(other->id), other->addr);
	member_rejoin(n, "our saved zones are not ours");
}

/*
 * A reassignment that timed out (its acknowledgement lost or late, the
 * zone's replicas slow to stream) may have landed: the heir took the
 * zone and merged it with its own.  When the heir's claims show it, the
 * handover is complete after all: drop the zone, as the acknowledgement
 * would have.  (Else we would keep it, the finer claim would win it back
 * from the heir, and the next reassignment would start it all again.)
 */
static bool
member_handover_landed(struct node *n, struct nbr *e)
{
	if (n->hand_unsure_ms == 0 || n->handing ||
	    e->info.id != n->hand_heir_id || e->info.inc != n->hand_heir_inc)
		return false;
	if (node_now_ms() - n->hand_unsure_ms > 4 * node_taken_ttl(n)) {
		n->hand_unsure_ms = 0;
		return false;
	}
	for (int j = 0; j < e->info.nzones; j++) {
		if (!geom_zone_within(&n->hand_given, &e->info.zones[j],
		    n->cfg.dims))
			continue;
		for (int i = 0; i < n->self.nzones; i++) {
			if (!geom_zone_equal(&n->self.zones[i], &n->hand_given,
			    n->cfg.dims))
				continue;
			log_warnx("the zone we handed to %s landed after all "
			    "(its claims hold it): dropping it",
			    node_idstr(e->info.id));
			n->self.zones[i] = n->self.zones[--n->self.nzones];
			n->hand_unsure_ms = 0;
			node_zones_changed(n, false);
			return true;
		}
	}
	return false;
}

/* The overlap rule took part of our space: keep keep[0..nkeep). */
static void
member_keep_zones(struct node *n, struct nbr *e, const struct geom_zone *keep,
    int nkeep)
{
	memcpy(n->self.zones, keep, (size_t)nkeep * sizeof *keep);
	n->self.nzones = nkeep;
	node_space_contested(n, "gave up contested space");
	route_cache_forget(&n->cache, e->info.id);
	if (n->self.nzones == 0) {
		member_rejoin(n, "no zone left");
		return;
	}
	node_zones_changed(n, true);
	node_prune(n);
	node_heartbeat_all(n);
	/* Our copies there are misplaced now: push them to the winner. */
	repair_request(n);
}

/*
 * A neighbour whose zones overlap ours spoke (claim.h).  Membership
 * changes pass through short overlaps (a handover between the heir's
 * taking the zone and the giver's hearing of it), and the specific
 * remedies (a takeover given back when its victim speaks, two takers of
 * one dead node) act within a heartbeat or two; only an overlap that
 * outlasts them, MEMBER_OVERLAP_FAILS failure timeouts, is settled by
 * the general rule.  Returns true when we gave something up.
 */
bool
member_settle_claims(struct node *n, struct nbr *e)
{
	struct geom_zone keep[WIRE_MAX_ZONES];
	uint64_t now = node_now_ms();
	int nkeep, r;

	if (!nbr_nodes_overlap(&e->info, &n->self, n->cfg.dims)) {
		e->overlap_ms = 0;
		return false;
	}
	/*
	 * Only early in the overlap: later the heir may already have given
	 * way by the general rule (ours is the finer claim), and both giving
	 * way would leave a hole.
	 */
	if ((e->overlap_ms == 0 || now - e->overlap_ms <
	    MEMBER_OVERLAP_FAILS * node_fail_ms(n) / 2) &&
	    member_handover_landed(n, e)) {
		e->overlap_ms = 0;
		if (n->self.nzones == 0) {
			member_rejoin(n, "no zone left");
			return true;
		}
		node_prune(n);
		node_heartbeat_all(n);
		return true;
	}
	if (e->overlap_ms == 0) {
		e->overlap_ms = now;
		return false;
	}
	if (n->state != NODE_ACTIVE || n->handing ||
	    now - e->overlap_ms < MEMBER_OVERLAP_FAILS * node_fail_ms(n))
		return false;
	/*
	 * It handed us the zone lately and still claims it: our ACK has
	 * not reached it yet (a giver busy streaming can take seconds).
	 * Settling now would have us give the zone back as it drops it
	 * (seen in split: a hole of 1/8 of the space).  Its handover
	 * times out within MEMBER_REASSIGN_TIMEOUT_MS; then the rule
	 * applies.
	 */
	if (e->info.id == n->took_from_id && e->info.inc == n->took_from_inc &&
	    now - n->took_ms < MEMBER_REASSIGN_TIMEOUT_MS + node_fail_ms(n))
		return false;
	r = claim_settle(&n->self, &e->info, n->cfg.dims, keep, &nkeep);
	if (r < 0) {
		log_warnx("%s claims space we claim too, and what we would "
		    "keep does not fit in %d zones: keeping it all for now",
		    node_idstr(e->info.id), WIRE_MAX_ZONES);
		e->overlap_ms = now; /* say it again in a while, not at once */
		return false;
	}
	if (r == 0)
		return false; /* the other side gives way */
	log_warnx("%s (%s) has claimed space we claim too for %" PRIu64
	    " ms: the finer claim keeps it (equal ones: the smaller id); "
	    "giving up %s of ours", node_idstr(e->info.id), e->info.addr,
	    now - e->overlap_ms, nkeep == 0 ? "all" : "part");
	e->overlap_ms = 0;
	member_keep_zones(n, e, keep, nkeep);
	return true;
}

/*
 * Before we forget our neighbours to join afresh: join through those that
 * spoke to us lately, then the configured peers (which may have died long
 * ago: a bootstrap is needed only once).
 */
static void
member_join_through_nbrs(struct node *n)
{
	char join[NODE_MAX_JOIN][WIRE_ADDR_MAX];
	int nj = 0;
	struct nbr *e;

	TAILQ_FOREACH(e, &n->nbrs, entry) {
		if (nj < NODE_MAX_JOIN && !e->failed && e->heard_ms != 0 &&
		    e->info.addr[0] != '\0')
			memcpy(join[nj++], e->info.addr, WIRE_ADDR_MAX);
	}
	for (int i = 0; i < n->cfg.njoin && nj < NODE_MAX_JOIN; i++) {
		bool dup = false;

		for (int j = 0; j < nj; j++)
			dup = dup || strcmp(join[j], n->cfg.join[i]) == 0;
		if (!dup)
			memcpy(join[nj++], n->cfg.join[i], WIRE_ADDR_MAX);
	}
	memcpy(n->cfg.join, join, sizeof join);
	n->cfg.njoin = nj;
	n->join_next = 0;
}

/* We hold no zone any more (all given back or given up): join afresh. */
void
member_rejoin(struct node *n, const char *why)
{
	struct nbr *e;

	log_warnx("%s; joining afresh", why);
	member_join_through_nbrs(n);
	while ((e = TAILQ_FIRST(&n->nbrs)) != NULL)
		nbr_remove(&n->nbrs, e);
	n->self.nzones = 0;
	n->resume_until_ms = 0;
	member_save_state(n);
	node_set_state(n, NODE_JOINING);
	member_send_join(n);
}

/* Tell the client waiting on our leave how the handover goes. */
static void
member_leave_progress(struct node *n)
{
	struct conn *c = transport_conn_by_serial(n->transport,
	    n->leave_client);
	uint64_t done, total;
	struct wbuf w;

	if (c == NULL)
		return;
	repair_transfer_progress(n, &done, &total);
	wbuf_init(&w);
	wire_frame_begin(&w, WIRE_PROGRESS, 0, n->leave_client_reqid);
	wbuf_put_u64(&w, done - n->leave_base_done);
	wbuf_put_u64(&w, total - n->leave_base_total);
	wire_frame_end(&w);
	conn_send(c, &w);
	wbuf_free(&w);
}

/* Pending leave, reassignment, peers file. */
void
member_tick(struct node *n, uint64_t now)
{
	if (n->state == NODE_LEAVING && n->leave_client != 0)
		member_leave_progress(n);
	if (n->state == NODE_LEAVING && !n->handing) {
		if (n->ntried >= MEMBER_LEAVE_TRIES) {
			log_error("could not hand our zones over; leaving "
			    "anyway: neighbours will take over");
			member_finish_leave(n, false);
			return;
		}
		member_start_leave(n);
		return;
	}
	/*
	 * No reassignment while a takeover of ours may still be contested:
	 * giving our own zone away as a spare and then yielding the taken one
	 * would leave us with nothing.
	 */
	if (n->state == NODE_ACTIVE && !n->handing &&
	    n->ticks % MEMBER_REASSIGN_TICKS == 0 &&
	    now - n->last_takeover_ms > node_taken_ttl(n))
		member_reassign(n);
	if (n->ticks % MEMBER_SAVE_TICKS == 0)
		member_save_peers(n);
}
