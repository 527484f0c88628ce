/*
 * node.h: one CAN node: its zones, its neighbours, and the membership
 * protocol (join, heartbeats, failure detection and takeover, graceful
 * leave with handover, background zone reassignment).
 *
 * Everything runs on one event loop; no locks.  The node reaches the
 * network only through the transport (conn.h), the clock, timers and
 * random bytes only through host.h (libevent and the kernel in canfsd,
 * a virtual clock in the simulator, cansim), and every request it sends
 * and waits for, whatever module sent it, is in one table (rpc.h).
 */
#ifndef CANFS_OVERLAY_NODE_H
#define CANFS_OVERLAY_NODE_H

#include <stdbool.h>
#include <stdint.h>

#include "nbr.h"
#include "route.h"
#include "threadclock.h"
#include "tomb.h"
#include "wire.h"

struct event_base;
struct host_timer;
struct conn;
struct transport;

#define NODE_MAX_JOIN 8

/* Settings from the command line. */
struct node_config {
	char listen[WIRE_ADDR_MAX];    /* TCP HOST:PORT to bind */
	char advertise[WIRE_ADDR_MAX]; /* address peers use to reach us */
	char join[NODE_MAX_JOIN][WIRE_ADDR_MAX];
	int njoin;
	char data_dir[512];
	char socket_path[512];	       /* local client socket, "" = none */
	int socket_mode;
	int dims;
	int replicas;
	int hb_ms;		       /* heartbeat interval */
	int fail_after;		       /* silent intervals before failed */
	uint64_t node_id;	       /* 0 = load or generate in data dir */
	size_t store_map_mb;	       /* LMDB map size (sparse) */
	int repair_sec;		       /* seconds between repair passes */
	int tombstone_sec;	       /* tombstones are kept this long */
	int repair_mbps;	       /* repair/transfer rate limit, MiB/s */
};

enum node_state {
	NODE_JOINING,	/* waiting for a JOIN_ACCEPT */
	NODE_ACTIVE,	/* owns zones and serves */
	NODE_LEAVING,	/* handing its zones to an heir */
	NODE_LEFT,	/* handed over; about to exit */
};

/* How long a joiner we admitted may stay silent before it is judged. */
#define NODE_JOIN_GRACE_MS 30000

struct node {
	struct event_base *base;
	struct node_config cfg;
	struct transport *transport;
	enum node_state state;
	struct wire_node self;	/* our id, incarnation, epoch, zones */
	struct nbr_list nbrs;
	struct route_cache cache;
	uint64_t next_reqid;	/* request ids (rpc.c); 0 is never one */
	uint64_t start_ms;
	uint64_t routed;	/* routed messages handled */
	uint64_t space_used;	/* our store, refreshed every tick */
	uint64_t space_avail;
	struct host_timer *tick; /* heartbeat and failure detection */
	int ticks;
	uint64_t last_tick_ms;	/* when the tick last ran (stall detection) */
	struct threadclock last_tick_clock; /* the loop thread's clocks then */

	/* Joining (the join itself is a request in rpcs: member.c). */
	int join_next;		/* which bootstrap to try next */

	/* Handing a zone over (graceful leave or reassignment). */
	bool handing;		/* a HANDOVER is outstanding (in rpcs) */
	uint64_t hand_reqid;	/* ...its request id */
	uint64_t hand_heir_id, hand_heir_inc;
	int hand_zone;		/* zone index given; -1 = all (leave) */
	struct geom_zone hand_given; /* the zone given (reassignment) */
	uint64_t hand_unsure_ms;	/* a reassignment failed then: the heir
					   may have taken it all the same
					   (member_handover_landed) */
	/*
	 * The last handover we took as heir: until its giver has our ACK
	 * it still claims the zone, which is no overlap to settle.
	 */
	uint64_t took_from_id, took_from_inc, took_ms;
	uint64_t tried[8];	/* heirs that did not take a handover */
	int ntried;
	uint64_t leave_client;	/* conn serial to answer when left */
	uint64_t leave_client_reqid;
	int leave_tries;
	uint64_t leave_base_done;	/* transfer counters when leave began */
	uint64_t leave_base_total;
	void (*on_left)(struct node *);	/* called once handover is done */

	/*
	 * Every request we wait for, by id (rpc.c): object calls, repair
	 * digests, lookups (for clients and our own), our join, a handover.
	 */
	struct rpc_table *rpcs;
	struct store *store;	/* local replicas (store.c) */
	struct objects *objs;	/* object layer state (objects.c) */
	struct repair *repair;	/* anti-entropy state (repair.c) */
	struct quorum *quorum;	/* split surveys, minority (quorum.c) */
	struct stats *stats;	/* counters and histograms (stats.c) */

	uint64_t resume_until_ms; /* resumed saved zones; yield on overlap */
	/*
	 * Since when no neighbour answers (0: some do).  A node that hears
	 * from none of its neighbours is far more likely cut off than the
	 * sole survivor: it takes nothing over and refuses requests, so the
	 * rest of the overlay alone accepts writes (see node_cut_off()).
	 */
	uint64_t cut_off_ms;
	/*
	 * When we last gained space (join, handover, takeover, resume) or
	 * learned that another node had claimed some of ours (we were taken
	 * for dead: a stall of ours, a cut link).  For a while after, our
	 * copies may be older than the other replicas' (writes made while
	 * the space was elsewhere): as primary we then check them
	 * (replica.c, "unsure").
	 */
	uint64_t gained_ms;
	uint64_t contested_logged_ms;
	bool cover_pending;	/* a lookup of a neighbour-table hole */
	unsigned cover_tries;	/* such lookups failed in a row (cover.c) */

	/* Our last takeover, to settle a conflicting one. */
	uint64_t last_takeover_id;
	uint64_t last_takeover_ms;	/* no reassignment right after one */
	/*
	 * Zones we took over recently, and from whom: if that very node
	 * (same incarnation) turns out to be alive (we suspected it wrongly,
	 * e.g. under load), it gets them back.
	 */
	struct node_taken {
		struct geom_zone zone;
		uint64_t from_id, from_inc;
	} taken[WIRE_MAX_ZONES];
	int ntaken;
	double last_takeover_share;	/* our share before it */
	struct tomb_set gone;	/* nodes known dead or departed */
};

/* Monotonic milliseconds. */
uint64_t node_now_ms(void);
/* Remember that node (id, inc) is dead or gone (see tomb.h). */
void node_mark_gone(struct node *n, uint64_t id, uint64_t inc);

/* Create a node; nothing is sent until node_start(). */
struct node *node_new(struct event_base *base, const struct node_config *cfg);
/*
 * Listen, then either start a new overlay owning the whole space (no
 * bootstrap peers) or begin joining.  Returns 0, or -1 with err set.
 */
int node_start(struct node *n, char *err, size_t errlen);
/*
 * Begin a graceful leave; on_left runs once the zones are handed over (or
 * at once if we are alone).  A second call does nothing.
 */
void node_leave(struct node *n, void (*on_left)(struct node *));
void node_free(struct node *n);

/* Frame dispatch from the transport. */
void node_frame(struct conn *c, const struct wire_header *h,
    const uint8_t *body, void *arg);
void node_conn_closed(struct conn *c, void *arg);

/* Helpers shared with control.c. */
void node_send_membership(struct node *n, struct conn *c, uint16_t type,
    uint32_t flags, uint64_t reqid, const struct wire_membership *m);
void node_send_error(struct conn *c, uint64_t reqid, uint32_t code,
    const char *msg);
void node_send_empty(struct conn *c, uint16_t type, uint64_t reqid);
/* Neighbours as a wire list (caller frees); alive ones only. */
struct wire_node *node_nbr_list(struct node *n, uint32_t *cnt);
/*
 * Start a lookup of target on behalf of client conn c (reqid creqid): a
 * request in rpcs until the owner answers (forward.c).  Dropped if c
 * closes; sent straight to a cached owner (use_cache), it is routed
 * greedily instead if that connection closes, and the cache entry is
 * forgotten then or when no answer comes in time.
 */
void node_lookup(struct node *n, struct conn *c, uint64_t creqid,
    const struct geom_point *target, bool use_cache);

/* Shared by node.c, member.c and forward.c. */
void node_set_state(struct node *n, enum node_state s);
/* 16 hex digits, from a small rotating buffer: for log lines only. */
const char *node_idstr(uint64_t id);
/* Our zones changed: optionally merge siblings; bump epoch; log. */
void node_zones_changed(struct node *n, bool merge);
/*
 * Another node may have acted as owner of some of our space (why says
 * how we know): distrust our copies for a while (gained_ms).
 */
void node_space_contested(struct node *n, const char *why);
/* Take news of node x into the table (see node.c). */
struct nbr *node_learn(struct node *n, const struct wire_node *x,
    bool direct);
void node_prune(struct node *n);
/* The failure timeout: --fail-after heartbeats. */
uint64_t node_fail_ms(const struct node *n);
uint64_t node_taken_ttl(const struct node *n);
void node_forget_old_incarnations(struct node *n, const struct wire_node *x);
void node_heartbeat_addr(struct node *n, const char *addr);
void node_heartbeat_all(struct node *n);
/*
 * True while no neighbour answers (see cut_off_ms) or while in the
 * minority of a split (quorum.h): serve no requests.
 */
bool node_cut_off(const struct node *n);
/* A survey found half of the space reachable again (quorum.c). */
void node_minority_ended(struct node *n, uint64_t since);

/* Routed messages (forward.c). */
void node_on_routed(struct node *n, struct conn *c,
    const struct wire_header *h, const uint8_t *body);
/*
 * Send a routed message toward target: straight to the cached owner when
 * use_cache and the cache knows it, else to the greedy next hop.  Returns
 * 0, or -1 when there is no neighbour to send to.
 */
int node_route_send(struct node *n, uint64_t reqid, uint16_t inner_type,
    uint32_t flags, const struct geom_point *target, const struct wbuf *inner,
    bool use_cache);

/* A routed lookup of target whose first hop is the node at addr. */
int node_route_send_via(struct node *n, const char *addr, uint64_t reqid,
    const struct geom_point *target);

/* Holes in the neighbour table (cover.c): every few heartbeats. */
void cover_check(struct node *n);

/* Control requests (control.c). */
void control_frame(struct node *n, struct conn *c, const struct wire_header *h,
    const uint8_t *body);

#endif
