/*
 * node.c: CAN membership: zones, heartbeats, failure detection and
 * takeover, routing of overlay messages, and frame dispatch.
 *
 * Join and handover (leave and reassignment) live in member.c.
 */
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
#include "host.h"
#include "log.h"
#include "member.h"
#include "node.h"
#include "objects.h"
#include "quorum.h"
#include "repair.h"
#include "rpc.h"
#include "stats.h"
#include "store.h"
#include "xmalloc.h"

static const char *const node_state_names[] = {
	"joining", "active", "leaving", "left"
};

/* Monotonic milliseconds: the host's clock (virtual in the simulator). */
uint64_t
node_now_ms(void)
{
	return host_now_ms();
}

/* The one place the node's state changes. */
void
node_set_state(struct node *n, enum node_state s)
{
	if (n->state == s)
		return;
	log_info("state %s -> %s", node_state_names[n->state],
	    node_state_names[s]);
	n->state = s;
}

/* Id text for logs (static buffer rotation, for log lines only). */
const char *
node_idstr(uint64_t id)
{
	static char buf[4][17];
	static int i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof buf[i], "%016" PRIx64, id);
	return buf[i];
}

/* Encode and queue a membership-body message on c. */
void
node_send_membership(struct node *n, struct conn *c, uint16_t type,
    uint32_t flags, uint64_t reqid, const struct wire_membership *m)
{
	struct wbuf w;

	(void)n;
	if (c == NULL)
		return;
	wbuf_init(&w);
	wire_frame_begin(&w, type, flags, reqid);
	wire_membership_encode(&w, m);
	wire_frame_end(&w);
	conn_send(c, &w);
	wbuf_free(&w);
}

/* Queue an error reply. */
void
node_send_error(struct conn *c, uint64_t reqid, uint32_t code,
    const char *msg)
{
	struct wbuf w;

	if (c == NULL)
		return;
	wbuf_init(&w);
	wire_frame_begin(&w, WIRE_ERROR, 0, reqid);
	wire_error_encode(&w, code, msg);
	wire_frame_end(&w);
	conn_send(c, &w);
	wbuf_free(&w);
}

/* Queue a frame with an empty body. */
void
node_send_empty(struct conn *c, uint16_t type, uint64_t reqid)
{
	struct wbuf w;

	if (c == NULL)
		return;
	wbuf_init(&w);
	wire_frame_begin(&w, type, 0, reqid);
	wire_frame_end(&w);
	conn_send(c, &w);
	wbuf_free(&w);
}

/* Our live neighbours as a wire list (caller frees). */
struct wire_node *
node_nbr_list(struct node *n, uint32_t *cnt)
{
	struct wire_node *list;
	struct nbr *e;
	uint32_t i = 0, total = 0;

	TAILQ_FOREACH(e, &n->nbrs, entry)
		total++;
	list = xcalloc(total ? total : 1, sizeof *list);
	/*
	 * Only neighbours heard directly: passing on second-hand news would
	 * let a dead node's entry circulate between nodes that never heard
	 * it, each re-learning it from the other.
	 */
	TAILQ_FOREACH(e, &n->nbrs, entry) {
		if (e->failed || e->heard_ms == 0 || e->info.nzones == 0 ||
		    i >= WIRE_MAX_LIST)
			continue;
		list[i++] = e->info;
	}
	*cnt = i;
	return list;
}

void
node_space_contested(struct node *n, const char *why)
{
	uint64_t now = node_now_ms();

	n->gained_ms = now;
	if (now - n->contested_logged_ms > 10000) {
		n->contested_logged_ms = now;
		log_warnx("%s: our copies may miss writes made elsewhere; "
		    "checking them against the other replicas for a while",
		    why);
	}
}

/* Record a change of our zones: merge siblings, bump the epoch. */
void
node_zones_changed(struct node *n, bool merge)
{
	char buf[256];
	bool merged = true;

	while (merge && merged) {
		merged = false;
		for (int i = 0; i < n->self.nzones && !merged; i++) {
			for (int j = i + 1; j < n->self.nzones; j++) {
				struct geom_zone parent;

				if (!geom_zone_siblings(&n->self.zones[i],
				    &n->self.zones[j], n->cfg.dims))
					continue;
				geom_zone_parent(&n->self.zones[i],
				    n->cfg.dims, &parent, NULL);
				n->self.zones[i] = parent;
				n->self.zones[j] =
				    n->self.zones[--n->self.nzones];
				merged = true;
				break;
			}
		}
	}
	n->self.epoch++;
	member_save_state(n);
	for (int i = 0; i < n->self.nzones; i++) {
		log_info("zone %d/%d: %s (%.6f%%)", i + 1, n->self.nzones,
		    geom_zone_format(&n->self.zones[i], n->cfg.dims, buf,
		    sizeof buf),
		    100 * geom_zone_share(&n->self.zones[i], n->cfg.dims));
	}
}

void
node_mark_gone(struct node *n, uint64_t id, uint64_t inc)
{
	tomb_mark(&n->gone, id, inc, node_now_ms());
}

/*
 * We hear again from a node we took for dead (a cut link healed).  Our own
 * connection to it may still hold frames queued during the cut, stuck in
 * TCP's retransmission backoff for up to minutes (seen: 46 s after a split
 * healed): dial afresh, so that our answers reach it now.  Only outgoing
 * connections are dropped, never the one this news came on.
 */
static void
node_redial(struct node *n, const char *addr)
{
	if (addr[0] != '\0')
		transport_drop_peer(n->transport, addr,
		    "heard again after taken for dead: dialling afresh");
}

/*
 * Take what a message says about node x into the table.  direct means x
 * itself told us (its word is final); second-hand news only wins with a
 * newer epoch.  Unknown nodes are added only when they are adjacent to us
 * or claim space that overlaps ours (nbr_nodes_near).
 * Returns the entry, or NULL when x is us or not (or no longer) near us.
 */
struct nbr *
node_learn(struct node *n, const struct wire_node *x, bool direct)
{
	struct nbr *e;

	if (x->id == n->self.id)
		return NULL; /* us, or our own earlier incarnation */
	if (tomb_is_dead(&n->gone, x->id, x->inc, node_now_ms())) {
		if (!direct)
			return NULL; /* stale news of a dead node */
		/* It speaks: alive after all. */
		tomb_clear(&n->gone, x->id, x->inc, node_now_ms());
		node_redial(n, x->addr);
	}
	e = nbr_find(&n->nbrs, x->id, x->inc);
	if (e == NULL) {
		if (x->nzones == 0 || x->addr[0] == '\0' ||
		    !nbr_nodes_near(x, &n->self, n->cfg.dims))
			return NULL;
		e = nbr_add(&n->nbrs, x, node_now_ms());
		e->owner = n;
		log_debug("new neighbour %s at %s%s", node_idstr(x->id),
		    x->addr, direct ? "" : " (second hand)");
	} else if (direct || x->epoch > e->info.epoch) {
		/*
		 * Zones we know of only second hand (a restarted node that
		 * spoke to us while resuming, then rejoined: its new zone's
		 * accept may still be streaming to it): it has not spoken for
		 * them yet, so its silence since its last word to us says
		 * nothing about them.  Judge it only once it speaks, or after
		 * the joiner's grace.  (Taking such a zone over would leave
		 * two owners once the joiner installs it.  The new zone may
		 * lie within its old ones: its join point is the same.)
		 */
		if (!direct) {
			e->admitted_ms = node_now_ms();
			/*
			 * Declared failed on older news (a restarted node's
			 * resume heartbeat, then silence while it joined
			 * afresh): the takeover would take the zones just
			 * learned, which are its new, live ones.
			 */
			if (e->failed) {
				log_info("news of %s's zones since we took it "
				    "for dead: takeover held until it speaks",
				    node_idstr(x->id));
				e->failed = false;
				e->suspect_ms = 0;
				if (e->takeover != NULL)
					host_timer_del(e->takeover);
			}
		}
		e->info = *x;
	}
	if (direct) {
		e->heard_ms = node_now_ms();
		e->admitted_ms = 0;
		if (e->suspect_ms != 0)
			log_debug("neighbour %s answered; no longer suspected",
			    node_idstr(e->info.id));
		e->suspect_ms = 0;
		if (e->failed) {
			log_warnx("neighbour %s is alive after all; takeover "
			    "cancelled", node_idstr(e->info.id));
			node_redial(n, x->addr);
			n->stats->false_suspicions++;
			e->failed = false;
			if (e->takeover != NULL)
				host_timer_del(e->takeover);
		}
	}
	return e;
}

/*
 * A node restarted and resumed its zones: its old incarnation is not dead,
 * so drop it without a takeover.  (One that restarted empty is joining;
 * its old incarnation's zones are taken over as usual.)
 */
void
node_forget_old_incarnations(struct node *n, const struct wire_node *x)
{
	struct nbr *e, *next;

	if (x->nzones == 0)
		return;
	for (e = TAILQ_FIRST(&n->nbrs); e != NULL; e = next) {
		next = TAILQ_NEXT(e, entry);
		if (e->info.id == x->id && e->info.inc < x->inc) {
			log_info("%s restarted and resumed its zones",
			    node_idstr(x->id));
			nbr_remove(&n->nbrs, e);
		}
	}
}

/* Drop entries no longer near us (failed ones wait for takeover). */
void
node_prune(struct node *n)
{
	struct nbr *e, *next;

	for (e = TAILQ_FIRST(&n->nbrs); e != NULL; e = next) {
		next = TAILQ_NEXT(e, entry);
		if (e->failed)
			continue;
		if (n->self.nzones > 0 &&
		    nbr_nodes_near(&e->info, &n->self, n->cfg.dims))
			continue;
		log_debug("%s is no longer a neighbour",
		    node_idstr(e->info.id));
		nbr_remove(&n->nbrs, e);
	}
}

/* Send one heartbeat (our zones and our neighbour list) to addr. */
static void
node_heartbeat_to(struct node *n, const char *addr, uint32_t flags)
{
	struct wire_membership m;

	memset(&m, 0, sizeof m);
	m.dims = n->cfg.dims;
	m.self = n->self;
	m.a = n->space_used;
	m.b = n->space_avail;
	m.list = node_nbr_list(n, &m.n);
	if (quorum_minority_since(n) != 0)
		flags |= WIRE_HB_MINORITY;
	node_send_membership(n, transport_peer(n->transport, addr),
	    WIRE_HEARTBEAT, flags, 0, &m);
	n->stats->hb_sent++;
	free(m.list);
}

/* Heartbeat an address we have no entry for (resuming after restart). */
void
node_heartbeat_addr(struct node *n, const char *addr)
{
	node_heartbeat_to(n, addr, 0);
}

/*
 * Heartbeat every live neighbour now.  While cut off, the failed ones too:
 * they are our way back, and their answer ends the cut.
 */
void
node_heartbeat_all(struct node *n)
{
	struct nbr *e;

	TAILQ_FOREACH(e, &n->nbrs, entry) {
		if (!e->failed || node_cut_off(n))
			node_heartbeat_to(n, e->info.addr, 0);
	}
}

bool
node_cut_off(const struct node *n)
{
	return n->cut_off_ms != 0 || quorum_minority_since(n) != 0;
}

/*
 * True when some neighbour spoke to us within the last two heartbeat
 * intervals.  (Not just "not declared failed": when a cable is pulled,
 * all neighbours fall silent together but are declared failed one tick
 * apart, and the first takeover timer must not see the others as alive.)
 */
static bool
node_hears_someone(struct node *n, uint64_t now)
{
	struct nbr *e;

	TAILQ_FOREACH(e, &n->nbrs, entry) {
		if (!e->failed && e->heard_ms != 0 &&
		    now - e->heard_ms <= 2 * (uint64_t)n->cfg.hb_ms)
			return true;
	}
	return false;
}

/* No neighbour answers: stop taking over and serving (see cut_off_ms). */
static void
node_begin_cut_off(struct node *n, uint64_t now)
{
	if (n->cut_off_ms != 0)
		return;
	n->cut_off_ms = now;
	log_warnx("no neighbour answers: this node seems cut off from the "
	    "overlay; it takes nothing over and refuses requests until one "
	    "answers");
}

/*
 * We reach the overlay again after a cut (alone, or in the minority of a
 * split) that began at since.  Meanwhile the others may have taken our
 * zones over: for a while any overlapping claim makes us yield and join
 * afresh, as after a restart (we accepted no writes, so nothing is lost).
 * Neighbours still failed get a fresh failure window.
 */
static void
node_cut_ended(struct node *n, uint64_t since, uint64_t now)
{
	uint64_t window = 4 * (uint64_t)n->cfg.fail_after *
	    (uint64_t)n->cfg.hb_ms;
	struct nbr *e;

	/*
	 * A short cut (a blip, or a stall of our own): whoever took our
	 * zones still gives them back when we speak (node_return_taken).
	 */
	if (now - since > node_taken_ttl(n) / 2)
		n->resume_until_ms = now + window;
	TAILQ_FOREACH(e, &n->nbrs, entry) {
		if (!e->failed)
			continue;
		e->failed = false;
		e->heard_ms = now;
		e->suspect_ms = 0;
		if (e->takeover != NULL)
			host_timer_del(e->takeover);
	}
}

/* Someone speaks to us again after a cut of our own. */
static void
node_end_cut_off(struct node *n, uint64_t now)
{
	log_warnx("reconnected after %" PRIu64 " ms cut off",
	    now - n->cut_off_ms);
	node_cut_ended(n, n->cut_off_ms, now);
	n->cut_off_ms = 0;
}

/* A survey reaches half of the space again (quorum.c). */
void
node_minority_ended(struct node *n, uint64_t since)
{
	node_cut_ended(n, since, node_now_ms());
}

/* How long a neighbour may be silent before it is declared failed. */
uint64_t
node_fail_ms(const struct node *n)
{
	return (uint64_t)n->cfg.fail_after * (uint64_t)n->cfg.hb_ms;
}

/* How long a takeover can be undone (reassignment waits as long). */
uint64_t
node_taken_ttl(const struct node *n)
{
	return 4 * node_fail_ms(n);
}

/*
 * x speaks, so it is alive: give back any zone we recently took over from
 * that same incarnation while x still claims it.  (Two nodes that wrongly
 * declared each other dead would otherwise both hold both zones.)
 */
static bool
node_return_taken(struct node *n, const struct wire_node *x)
{
	bool changed = false;

	if (n->ntaken == 0 ||
	    node_now_ms() - n->last_takeover_ms > node_taken_ttl(n))
		return false;
	for (int t = 0; t < n->ntaken; t++) {
		struct node_taken *tk = &n->taken[t];
		bool claimed = false;

		if (tk->from_id != x->id || tk->from_inc != x->inc)
			continue;
		for (int j = 0; j < x->nzones; j++) {
			if (geom_zone_overlaps(&tk->zone, &x->zones[j],
			    n->cfg.dims))
				claimed = true;
		}
		for (int i = 0; claimed && i < n->self.nzones; i++) {
			if (!geom_zone_equal(&n->self.zones[i], &tk->zone,
			    n->cfg.dims))
				continue;
			n->self.zones[i] = n->self.zones[--n->self.nzones];
			changed = true;
			break;
		}
		n->taken[t--] = n->taken[--n->ntaken];
	}
	if (changed) {
		log_warnx("%s is alive after all: giving back the zones we "
		    "took over from it", node_idstr(x->id));
		n->stats->false_suspicions++;
		node_zones_changed(n, false);
	}
	return changed;
}

/* A heartbeat from a node: its zones and its neighbour list. */
static void
node_on_heartbeat(struct node *n, const struct wire_header *h,
    const struct wire_membership *m)
{
	struct nbr *e;

	n->stats->hb_received++;
	if (n->state != NODE_ACTIVE && n->state != NODE_LEAVING)
		return;
	if (n->cut_off_ms != 0)
		node_end_cut_off(n, node_now_ms());
	if (h->flags & WIRE_HB_MINORITY)
		quorum_hint(n);
	if (n->resume_until_ms != 0) {
		if (node_now_ms() > n->resume_until_ms) {
			n->resume_until_ms = 0;
		} else {
			const struct wire_node *x = NULL;

			if (m->self.id != n->self.id &&
			    nbr_nodes_overlap(&m->self, &n->self, n->cfg.dims))
				x = &m->self;
			for (uint32_t i = 0; i < m->n && x == NULL; i++) {
				if (m->list[i].id != n->self.id &&
				    nbr_nodes_overlap(&m->list[i], &n->self,
				    n->cfg.dims))
					x = &m->list[i];
			}
			if (x != NULL) {
				member_resume_conflict(n, x);
				return;
			}
		}
	}
	if (nbr_nodes_overlap(&m->self, &n->self, n->cfg.dims)) {
		/* Whoever gives way, writes may have been decided there. */
		log_debug("%s claims space that overlaps ours (epoch %u)",
		    node_idstr(m->self.id), m->self.epoch);
		node_space_contested(n, "a neighbour claims space that "
		    "overlaps ours");
	}
	node_forget_old_incarnations(n, &m->self);
	if (node_return_taken(n, &m->self) && n->self.nzones == 0) {
		member_rejoin(n, "gave back the last zone we held");
		return;
	}
	e = node_learn(n, &m->self, true);
	if (e != NULL) {
		nbr_set_list(e, m->list, m->n);
		e->space_used = m->a;
		e->space_avail = m->b;
		if (member_settle_claims(n, e) && n->self.nzones == 0)
			return;
	}
	for (uint32_t i = 0; i < m->n; i++)
		node_learn(n, &m->list[i], false);
	node_prune(n);
	/*
	 * Not our neighbour: tell it so, so it drops us.  A neighbour that
	 * suspects us (WIRE_HB_PROBE) gets its answer at once.
	 */
	if ((e == NULL || (h->flags & WIRE_HB_PROBE)) &&
	    !(h->flags & WIRE_HB_REPLY) && m->self.addr[0] != '\0')
		node_heartbeat_to(n, m->self.addr, WIRE_HB_REPLY);
}

/*
 * The rank of this node among the dead node's neighbours as candidates to
 * take its zone over: smallest total volume first, ties to the smaller id.
 * Rank r waits r heartbeat intervals, so the best candidate alive acts
 * first and the others see its TAKEOVER before their turn.
 */
static int
node_takeover_rank(struct node *n, struct nbr *dead)
{
	double mine = nbr_node_share(&n->self, n->cfg.dims);
	int rank = 0;

	for (uint32_t i = 0; i < dead->nnbrs; i++) {
		const struct wire_node *x = &dead->nbrs[i];
		struct nbr *known;
		double share;

		if (x->id == n->self.id)
			continue;
		known = nbr_find(&n->nbrs, x->id, x->inc);
		if (known != NULL && known->failed)
			continue;
		share = nbr_node_share(known ? &known->info : x, n->cfg.dims);
		if (share < mine || (share == mine && x->id < n->self.id))
			rank++;
	}
	return rank;
}

/*
 * The parts of a dead node's zones that no live node claims (us included):
 * what a takeover takes.  Its zones may be stale: it may have split one
 * for a joiner or handed one on just before it died, and a live node may
 * have taken part over already.  Returns the count in z, or -1 when the
 * parts do not fit in WIRE_MAX_ZONES zones.
 */
static int
node_unclaimed(struct node *n, struct nbr *dead, struct geom_zone *z)
{
	int nz = dead->info.nzones;
	struct nbr *e;

	memcpy(z, dead->info.zones, (size_t)nz * sizeof *z);
	if (claim_subtract(z, &nz, n->self.zones, n->self.nzones,
	    n->cfg.dims) != 0)
		return -1;
	TAILQ_FOREACH(e, &n->nbrs, entry) {
		if (e == dead || e->failed)
			continue;
		if (claim_subtract(z, &nz, e->info.zones, e->info.nzones,
		    n->cfg.dims) != 0)
			return -1;
	}
	return nz;
}

/* Tell the dead node's neighbours and ours that we took its space. */
static void
node_announce_takeover(struct node *n, struct nbr *dead,
    const struct wire_node *before)
{
	struct wire_membership m;
	struct nbr *e;

	memset(&m, 0, sizeof m);
	m.dims = n->cfg.dims;
	m.self = n->self;
	m.other = *before;
	m.a = dead->info.id;
	m.b = dead->info.inc;
	m.n = dead->nnbrs;
	m.list = dead->nbrs;
	/*
	 * The dead node too: if it is alive after all (a stall, a cut link
	 * healing), it must learn at once that it is no longer alone in its
	 * space (node_on_takeover), before it decides more writes there.
	 */
	if (dead->info.addr[0] != '\0')
		node_send_membership(n, transport_peer(n->transport,
		    dead->info.addr), WIRE_TAKEOVER, 0, 0, &m);
	for (uint32_t i = 0; i < dead->nnbrs; i++) {
		const struct wire_node *x = &dead->nbrs[i];

		if ((x->id == n->self.id && x->inc == n->self.inc) ||
		    x->addr[0] == '\0' || nbr_find(&n->nbrs, x->id, x->inc))
			continue;
		node_send_membership(n, transport_peer(n->transport, x->addr),
		    WIRE_TAKEOVER, 0, 0, &m);
	}
	TAILQ_FOREACH(e, &n->nbrs, entry) {
		if (e != dead && !e->failed)
			node_send_membership(n,
			    transport_peer(n->transport, e->info.addr),
			    WIRE_TAKEOVER, 0, 0, &m);
	}
}

static void node_takeover_cb(void *arg);

/* Run the takeover of failed neighbour e in delay ms. */
static void
node_takeover_later(struct node *n, struct nbr *e, uint64_t delay)
{
	if (e->takeover == NULL)
		e->takeover = host_timer_new(n->base, node_takeover_cb, e);
	host_timer_add(e->takeover, delay);
}

/* Our turn to take a dead neighbour's zones, unless someone did. */
static void
node_takeover_cb(void *arg)
{
	struct nbr *dead = arg;
	struct node *n = dead->owner;
	struct geom_zone unclaimed[WIRE_MAX_ZONES];
	struct wire_node before;
	int nfree;

	if (n->state != NODE_ACTIVE)
		return; /* a later-ranked neighbour will act */
	if (!node_hears_someone(n, node_now_ms())) {
		/* Then the others will take ours: we must not take theirs. */
		node_begin_cut_off(n, node_now_ms());
		log_warnx("not taking over %s: no neighbour answers us either",
		    node_idstr(dead->info.id));
		return;
	}
	if (n->resume_until_ms != 0 && node_now_ms() < n->resume_until_ms) {
		/*
		 * Back from a long cut: our view is the stale one, and the
		 * "dead" node is more likely alive and busy taking our
		 * return.  Judge it again after the window.
		 */
		node_takeover_later(n, dead, n->resume_until_ms -
		    node_now_ms() + (uint64_t)n->cfg.hb_ms);
		return;
	}
	if (!quorum_majority(n)) {
		if (quorum_minority_since(n) != 0) {
			log_info("not taking over %s: in the minority",
			    node_idstr(dead->info.id));
			return;
		}
		/* A survey is under way: ask again in a heartbeat. */
		node_takeover_later(n, dead, (uint64_t)n->cfg.hb_ms);
		return;
	}
	nfree = node_unclaimed(n, dead, unclaimed);
	if (nfree == 0) {
		log_info("space of failed %s already taken over",
		    node_idstr(dead->info.id));
		node_mark_gone(n, dead->info.id, dead->info.inc);
		nbr_remove(&n->nbrs, dead);
		node_prune(n);
		return;
	}
	if (nfree < 0 || n->self.nzones + nfree > WIRE_MAX_ZONES) {
		log_warnx("cannot take over %s: would hold too many zones",
		    node_idstr(dead->info.id));
		return;
	}
	if (nfree != dead->info.nzones ||
	    memcmp(unclaimed, dead->info.zones, (size_t)nfree *
	    sizeof *unclaimed) != 0)
		log_info("part of failed %s's space is claimed by live nodes: "
		    "taking the rest", node_idstr(dead->info.id));
	before = n->self;
	if (node_now_ms() - n->last_takeover_ms > node_taken_ttl(n))
		n->ntaken = 0;
	for (int i = 0; i < nfree; i++) {
		n->self.zones[n->self.nzones++] = unclaimed[i];
		if (n->ntaken < WIRE_MAX_ZONES) {
			struct node_taken *t = &n->taken[n->ntaken++];

			t->zone = unclaimed[i];
			t->from_id = dead->info.id;
			t->from_inc = dead->info.inc;
		}
	}
	n->gained_ms = node_now_ms();
	/* No merge yet: a conflicting takeover must find the zones intact. */
	node_zones_changed(n, false);
	n->last_takeover_id = dead->info.id;
	n->last_takeover_ms = node_now_ms();
	n->last_takeover_share = nbr_node_share(&before, n->cfg.dims);
	log_warnx("took over the zones of failed %s (%s)",
	    node_idstr(dead->info.id), dead->info.addr);
	for (uint32_t i = 0; i < dead->nnbrs; i++)
		node_learn(n, &dead->nbrs[i], false);
	node_announce_takeover(n, dead, &before);
	repair_request(n);
	route_cache_forget(&n->cache, dead->info.id);
	node_mark_gone(n, dead->info.id, dead->info.inc);
	nbr_remove(&n->nbrs, dead);
	node_prune(n);
	node_heartbeat_all(n);
}

/* A neighbour went silent: arm our takeover timer by rank. */
static void
node_declare_failed(struct node *n, struct nbr *e)
{
	uint64_t now = node_now_ms();
	int rank = node_takeover_rank(n, e);
	uint64_t delay = (uint64_t)rank * (uint64_t)n->cfg.hb_ms +
	    (uint64_t)n->cfg.hb_ms / 4;

	log_warnx("neighbour %s (%s) silent for %" PRIu64 " ms: failed; "
	    "takeover rank %d", node_idstr(e->info.id), e->info.addr,
	    now - e->heard_ms, rank);
	e->failed = true;
	route_cache_forget(&n->cache, e->info.id);
	member_heir_failed(n, e->info.id, e->info.inc);
	node_takeover_later(n, e, delay);
}

/*
 * Someone took a dead node's zones.  If we took the same zones, the
 * better claim (smaller volume before the takeover, then smaller id) keeps
 * them and the other gives them back.
 */
static void
node_on_takeover(struct node *n, const struct wire_membership *m)
{
	struct nbr *dead = nbr_find(&n->nbrs, m->a, m->b);
	const struct wire_node *taker = &m->self, *before = &m->other;
	double their = nbr_node_share(before, n->cfg.dims);

	if (m->a == n->self.id && m->b == n->self.inc) {
		/*
		 * We were taken for dead (a stall of ours, a cut link, a
		 * join whose accept came late).  Speak to the taker itself:
		 * it gives the zones back when we do (node_return_taken),
		 * but its zones now overlap ours, so it is no neighbour of
		 * ours and node_heartbeat_all() would not reach it.
		 */
		node_space_contested(n, "a neighbour took over our zones "
		    "believing us dead");
		n->stats->taken_for_dead++;
		node_learn(n, taker, true);
		node_heartbeat_all(n);
		if (taker->addr[0] != '\0')
			node_heartbeat_to(n, taker->addr, 0);
		return;
	}
	node_mark_gone(n, m->a, m->b);
	if (dead != NULL)
		nbr_remove(&n->nbrs, dead);
	route_cache_forget(&n->cache, m->a);
	if (n->last_takeover_id == m->a && taker->id != n->self.id &&
	    nbr_nodes_overlap(taker, &n->self, n->cfg.dims) &&
	    (their < n->last_takeover_share ||
	    (their == n->last_takeover_share && taker->id < n->self.id))) {
		int kept = 0;

		for (int i = 0; i < n->self.nzones; i++) {
			bool theirs = false;

			for (int j = 0; j < taker->nzones; j++) {
				if (geom_zone_equal(&n->self.zones[i],
				    &taker->zones[j], n->cfg.dims))
					theirs = true;
			}
			if (!theirs)
				n->self.zones[kept++] = n->self.zones[i];
		}
		log_warnx("%s has the better claim on %s's zones; yielding",
		    node_idstr(taker->id), node_idstr(m->a));
		n->self.nzones = (uint8_t)kept;
		node_zones_changed(n, false);
		if (n->self.nzones == 0) {
			/* Our own zone had gone as a spare: start over. */
			log_warnx("no zone left after yielding; joining afresh");
			node_set_state(n, NODE_JOINING);
			member_send_join(n);
			return;
		}
	}
	node_learn(n, taker, true);
	for (uint32_t i = 0; i < m->n; i++)
		node_learn(n, &m->list[i], false);
	node_prune(n);
	node_heartbeat_all(n);
}

/* A neighbour left gracefully: forget it without a takeover. */
static void
node_on_leave(struct node *n, const struct wire_membership *m)
{
	struct nbr *e = nbr_find(&n->nbrs, m->self.id, m->self.inc);

	log_info("neighbour %s left; %s is its heir", node_idstr(m->self.id),
	    node_idstr(m->other.id));
	node_mark_gone(n, m->self.id, m->self.inc);
	if (e != NULL)
		nbr_remove(&n->nbrs, e);
	route_cache_forget(&n->cache, m->self.id);
	node_learn(n, &m->other, false);
	node_prune(n);
}

/* Failure detection: neighbours silent too long are declared failed. */
static void
node_check_neighbours(struct node *n, uint64_t now)
{
	uint64_t limit = node_fail_ms(n);
	struct nbr *e, *next;

	for (e = TAILQ_FIRST(&n->nbrs); e != NULL; e = next) {
		next = TAILQ_NEXT(e, entry);
		if (e->failed)
			continue;
		/*
		 * A joiner we admitted hears nothing from us until its
		 * replicas and our accept have been streamed to it, which
		 * can take longer than the failure timeout: taking its zone
		 * back then would leave two owners once the accept lands.
		 * Likewise a node whose new space we know only second hand
		 * (node_learn).
		 */
		if (e->admitted_ms != 0 &&
		    now - e->admitted_ms < NODE_JOIN_GRACE_MS)
			continue;
		if (e->heard_ms != 0 && now - e->heard_ms > limit &&
		    e->suspect_ms == 0) {
			/*
			 * Suspect first: a heartbeat late by a few ms (a busy
			 * loop on either side, frames queued behind bulk
			 * data) must not cost a takeover.  Probe, and judge at
			 * a later tick, once the input waiting in our sockets
			 * has been read.
			 */
			log_info("neighbour %s (%s) silent for %" PRIu64
			    " ms: suspected, probing", node_idstr(e->info.id),
			    e->info.addr, now - e->heard_ms);
			e->suspect_ms = now;
			n->stats->suspicions++;
			node_heartbeat_to(n, e->info.addr, WIRE_HB_PROBE);
		} else if (e->heard_ms != 0 && now - e->heard_ms > limit &&
		    now - e->suspect_ms >= (uint64_t)n->cfg.hb_ms / 2) {
			node_declare_failed(n, e);
			if (!node_hears_someone(n, now))
				node_begin_cut_off(n, now);
		} else if (e->heard_ms == 0 && now - e->first_ms > 2 * limit) {
			/* Second-hand news never confirmed: stale. */
			log_debug("dropping unconfirmed %s",
			    node_idstr(e->info.id));
			nbr_remove(&n->nbrs, e);
		}
	}
}

/*
 * While cut off, dial our old neighbours afresh about once a second: a
 * connection stuck in TCP's backoff could take many seconds to notice
 * that the link is back.
 */
static void
node_redial_failed(struct node *n)
{
	struct nbr *e;

	TAILQ_FOREACH(e, &n->nbrs, entry) {
		if (e->failed)
			transport_drop_peer(n->transport, e->info.addr,
			    "cut off: dialling afresh");
	}
}

/* Every heartbeat interval. */
static void
node_tick_cb(void *arg)
{
	struct node *n = arg;
	uint64_t now = node_now_ms(), oncpu_ms;
	struct threadclock clk;
	int64_t wait_ms;
	bool stalled;

	host_timer_add(n->tick, (uint64_t)n->cfg.hb_ms);
	n->ticks++;
	threadclock_read(&clk);
	stalled = n->last_tick_ms != 0 &&
	    now - n->last_tick_ms > 2 * (uint64_t)n->cfg.hb_ms;
	/*
	 * Say where the time went: on a CPU (our own work on the loop),
	 * waiting for one (the machine's load), or neither (blocked).
	 */
	if (stalled) {
		threadclock_diff(&n->last_tick_clock, &clk, &oncpu_ms, &wait_ms);
		log_warnx("event loop stalled for %" PRIu64 " ms (on a CPU %"
		    PRIu64 " ms, waiting for one %" PRId64 " ms): failure "
		    "checks wait a tick", now - n->last_tick_ms, oncpu_ms,
		    wait_ms);
	}
	n->last_tick_clock = clk;
	if (stalled && (n->state == NODE_ACTIVE || n->state == NODE_LEAVING) &&
	    now - n->last_tick_ms > node_fail_ms(n))
		node_space_contested(n, "stalled past the failure timeout "
		    "(neighbours may have taken us for dead)");
	n->last_tick_ms = now;
	/* (A joining node's join retries itself: member.c.) */
	if (n->state != NODE_ACTIVE && n->state != NODE_LEAVING)
		return;
	/*
	 * After a stall of our own loop, our neighbours' heartbeats still
	 * wait unread in the sockets: judge them only once they are read.
	 */
	if (!stalled)
		node_check_neighbours(n, now);
	if (node_cut_off(n) &&
	    n->ticks % (1 + 1000 / (uint64_t)n->cfg.hb_ms) == 0)
		node_redial_failed(n);
	quorum_tick(n, now);
	if (n->store == NULL ||
	    store_space(n->store, &n->space_used, &n->space_avail) != 0)
		n->space_used = n->space_avail = 0;
	node_heartbeat_all(n);
	member_tick(n, now);
	repair_tick(n, now);
	if (n->ticks % 3 == 1)
		cover_check(n);
}

/* Read or create the node id kept in the data dir. */
static int
node_load_id(struct node *n, char *err, size_t errlen)
{
	char path[600], tmp[640], buf[64];
	FILE *f;
	int fd;

	snprintf(path, sizeof path, "%s/node-id", n->cfg.data_dir);
	if ((f = fopen(path, "r")) != NULL) {
		char *end;

		if (fgets(buf, sizeof buf, f) == NULL)
			buf[0] = '\0';
		fclose(f);
		n->self.id = strtoull(buf, &end, 16);
		if (end == buf || n->self.id == 0) {
			snprintf(err, errlen, "%s: not a node id", path);
			return -1;
		}
		return 0;
	}
	if (host_random(&n->self.id, sizeof n->self.id) != 0 ||
	    n->self.id == 0) {
		snprintf(err, errlen, "cannot generate a node id");
		return -1;
	}
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || dprintf(fd, "%016" PRIx64 "\n", n->self.id) < 0 ||
	    fsync(fd) != 0 || close(fd) != 0 || rename(tmp, path) != 0) {
		snprintf(err, errlen, "cannot write %s: %s", path,
		    strerror(errno));
		return -1;
	}
	return 0;
}

/* Create a node. */
struct node *
node_new(struct event_base *base, const struct node_config *cfg)
{
	static const struct conn_ops ops = { node_frame, node_conn_closed };
	struct node *n = xcalloc(1, sizeof *n);

	n->base = base;
	n->cfg = *cfg;
	TAILQ_INIT(&n->nbrs);
	route_cache_init(&n->cache);
	n->transport = transport_new(base, &ops, n);
	n->self.inc = host_wall_us();
	snprintf(n->self.addr, sizeof n->self.addr, "%s",
	    cfg->advertise[0] ? cfg->advertise : cfg->listen);
	transport_set_self(n->transport, n->self.addr);
	n->next_reqid = 1;
	n->start_ms = node_now_ms();
	n->hand_zone = -1;
	n->stats = stats_new();
	return n;
}

/* Listen, then found a new overlay or start joining one. */
int
node_start(struct node *n, char *err, size_t errlen)
{
	char tag[32];

	if (n->cfg.node_id != 0)
		n->self.id = n->cfg.node_id;
	else if (node_load_id(n, err, errlen) != 0)
		return -1;
	snprintf(tag, sizeof tag, "[%s]", node_idstr(n->self.id));
	log_set_tag(tag);
	/*
	 * Without a data dir (the simulator's nodes) a node keeps membership
	 * and routing only: no store, no objects, no repair (repair.h).
	 */
	if (n->cfg.data_dir[0] != '\0') {
		if (objects_init(n, err, errlen) != 0)
			return -1;
		repair_init(n);
	}
	quorum_init(n);
	if (transport_listen_tcp(n->transport, n->cfg.listen, err,
	    errlen) != 0)
		return -1;
	if (n->cfg.socket_path[0] != '\0' &&
	    transport_listen_unix(n->transport, n->cfg.socket_path,
	    n->cfg.socket_mode, err, errlen) != 0)
		return -1;
	n->tick = host_timer_new(n->base, node_tick_cb, n);
	host_timer_add(n->tick, (uint64_t)n->cfg.hb_ms);
	member_load_peers(n);
	if (member_resume(n))
		return 0;
	if (n->cfg.njoin == 0) {
		n->state = NODE_ACTIVE;
		n->self.nzones = 1;
		geom_zone_whole(&n->self.zones[0], n->cfg.dims);
		log_info("started a new overlay at %s (d=%d, k=%d)",
		    n->self.addr, n->cfg.dims, n->cfg.replicas);
		node_zones_changed(n, false);
		return 0;
	}
	n->state = NODE_JOINING;
	member_send_join(n);
	return 0;
}

/* Free the node and everything it owns. */
void
node_free(struct node *n)
{
	struct nbr *e;

	if (n == NULL)
		return;
	rpc_fail_all(n);
	quorum_free(n);
	repair_free(n);
	objects_free(n);
	while ((e = TAILQ_FIRST(&n->nbrs)) != NULL)
		nbr_remove(&n->nbrs, e);
	host_timer_free(n->tick);
	transport_free(n->transport);
	stats_free(n->stats);
	free(n);
}

/* Decode a membership body or drop the connection that sent it. */
static bool
node_decode_membership(struct node *n, struct conn *c,
    const struct wire_header *h, const uint8_t *body,
    struct wire_membership *m)
{
	if (wire_membership_decode(body, h->len, m) != 0) {
		log_warnx("%s: malformed %s; dropping connection",
		    conn_name(c), wire_type_name(h->type));
		conn_close(c, "malformed frame");
		return false;
	}
	if (m->dims != n->cfg.dims) {
		log_warnx("%s: %s for d=%d but this overlay has d=%d; "
		    "dropping connection", conn_name(c),
		    wire_type_name(h->type), m->dims, n->cfg.dims);
		wire_membership_free(m);
		conn_close(c, "dimension mismatch");
		return false;
	}
	return true;
}

/* A frame with a (decoded, checked) membership body. */
static void
node_on_membership(struct node *n, struct conn *c,
    const struct wire_header *h, const uint8_t *body,
    const struct wire_membership *m)
{
	switch (h->type) {
	case WIRE_HEARTBEAT:
		node_on_heartbeat(n, h, m);
		break;
	case WIRE_TAKEOVER:
		node_on_takeover(n, m);
		break;
	case WIRE_LEAVE:
		node_on_leave(n, m);
		break;
	case WIRE_HANDOVER:
		member_frame(n, c, h, m);
		break;
	case WIRE_JOIN_ACCEPT:
		/*
		 * Our join request takes it (member.c); an accept for an
		 * attempt we have given up on counts all the same: its owner
		 * has given the zone away.
		 */
		if (!rpc_complete(n, h, body))
			member_frame(n, c, h, m);
		break;
	default:	/* LOOKUP_REPLY, HANDOVER_ACK: answers to our requests */
		if (!rpc_complete(n, h, body))
			log_debug("late %s from %s ignored",
			    wire_type_name(h->type), conn_name(c));
	}
}

/* An error reply: it answers one of our requests (rpc.c), or is late. */
static void
node_on_error(struct node *n, struct conn *c, const struct wire_header *h,
    const uint8_t *body)
{
	uint32_t code;
	char msg[256], safe[256];

	if (wire_error_decode(body, h->len, &code, msg, sizeof msg) != 0) {
		log_warnx("%s: malformed %s; dropping connection",
		    conn_name(c), wire_type_name(h->type));
		conn_close(c, "malformed frame");
		return;
	}
	if (rpc_complete(n, h, body))
		return;
	log_escape(msg, strlen(msg), safe, sizeof safe);
	log_debug("error for unknown request %" PRIu64 " from %s: %s",
	    h->reqid, conn_name(c), safe);
}

/* Dispatch one frame from any connection. */
void
node_frame(struct conn *c, const struct wire_header *h, const uint8_t *body,
    void *arg)
{
	struct node *n = arg;
	struct wire_membership m;

	switch (h->type) {
	case WIRE_HEARTBEAT:
	case WIRE_JOIN_ACCEPT:
	case WIRE_TAKEOVER:
	case WIRE_LEAVE:
	case WIRE_HANDOVER:
	case WIRE_HANDOVER_ACK:
	case WIRE_LOOKUP_REPLY:
		if (!node_decode_membership(n, c, h, body, &m))
			return;
		node_on_membership(n, c, h, body, &m);
		wire_membership_free(&m);
		return;
	case WIRE_ROUTED:
		node_on_routed(n, c, h, body);
		return;
	case WIRE_ERROR:
	case WIRE_JOIN_REFUSED:
		node_on_error(n, c, h, body);
		return;
	case WIRE_OBJ_DIGEST:
	case WIRE_LIST_REQ:
	case WIRE_REPAIR_REQ:
		if (n->store == NULL)
			break;
		repair_frame(n, c, h, body);
		return;
	default:
		if ((h->type & 0xff00) == 0x0300 && n->store == NULL)
			break;
		if ((h->type & 0xff00) == 0x0300) {
			objects_frame(n, c, h, body);
			return;
		}
		if ((h->type & 0xff00) == 0x0200) {
			control_frame(n, c, h, body);
			return;
		}
		log_warnx("%s: unknown message type 0x%04x; dropping "
		    "connection", conn_name(c), h->type);
		conn_close(c, "unknown message type");
		return;
	}
	/* An object or repair frame, and we keep no objects. */
	log_warnx("%s: %s, but this node keeps no objects; dropping "
	    "connection", conn_name(c), wire_type_name(h->type));
	conn_close(c, "no object store");
}

/* A connection closed: requests bound to it fail or are resent (rpc.c). */
void
node_conn_closed(struct conn *c, void *arg)
{
	struct node *n = arg;

	rpc_conn_closed(n, conn_serial(c));
}
