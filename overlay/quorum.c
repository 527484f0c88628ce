/*
 * quorum.c: surveys of the volume of space reachable from this node, and
 * the minority state they lead to (quorum.h).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "node.h"
#include "quorum.h"
#include "rpc.h"
#include "xmalloc.h"

#define QUORUM_LOOKUP_MS 2000	/* one lookup's time */
#define QUORUM_INFLIGHT 8	/* lookups at once */
#define QUORUM_SAMPLES 16	/* lookups of a survey... */
#define QUORUM_SAMPLES_MAX 32	/* ...or this many when it is close */
#define QUORUM_CLOSE 0.15	/* "close": estimate within this of half */
#define QUORUM_OWNERS 256	/* owners remembered by one survey */
#define QUORUM_HINT_GAP_MS 1000	/* hints start a survey at most this often */

struct quorum {
	uint64_t gen;		/* survey generation (stale replies) */
	bool running;
	uint64_t started_ms;
	uint64_t verdict_ms;	/* when the last survey ended (0: never) */
	bool majority;		/* its verdict */
	uint64_t minority_ms;	/* since when in the minority (0: not) */
	uint64_t next_ms;	/* next survey while in the minority */
	bool hinted;		/* a neighbour said it is in the minority */

	/* The survey under way. */
	struct wire_node base[QUORUM_OWNERS];	/* counted at the start */
	int nbase;
	uint64_t owners[QUORUM_OWNERS];		/* ids counted since */
	int nowners;
	double counted;		/* volume of the owners counted */
	double rest;		/* 1 - volume counted at the start */
	int sent, hits, misses, inflight;
	uint64_t rng;
};

/* Volume of a node's zones. */
static double
quorum_volume(const struct wire_node *x, int dims)
{
	double v = 0;

	for (int i = 0; i < x->nzones; i++)
		v += geom_zone_share(&x->zones[i], dims);
	return v;
}

/* Was owner id counted already? */
static bool
quorum_counted(const struct quorum *q, uint64_t id)
{
	for (int i = 0; i < q->nowners; i++) {
		if (q->owners[i] == id)
			return true;
	}
	return false;
}

/* Count a live owner's volume once. */
static void
quorum_count(struct quorum *q, const struct wire_node *x, int dims)
{
	if (x->nzones == 0 || quorum_counted(q, x->id) ||
	    q->nowners == QUORUM_OWNERS)
		return;
	q->owners[q->nowners++] = x->id;
	q->counted += quorum_volume(x, dims);
}

/* Is p inside a zone counted at the start of the survey? */
static bool
quorum_in_base(const struct quorum *q, const struct geom_point *p, int dims)
{
	for (int i = 0; i < q->nbase; i++) {
		for (int z = 0; z < q->base[i].nzones; z++) {
			if (geom_zone_contains(&q->base[i].zones[z], p, dims))
				return true;
		}
	}
	return false;
}

/* xorshift64*: sample points need no cryptographic randomness. */
static uint64_t
quorum_rand(struct quorum *q)
{
	q->rng ^= q->rng >> 12;
	q->rng ^= q->rng << 25;
	q->rng ^= q->rng >> 27;
	return q->rng * 0x2545f4914f6cdd1dULL;
}

/*
 * A uniform random point of the space outside the zones counted at the
 * start (so the share of them answered estimates the rest), or false
 * when 256 draws all fell inside (the rest is too small to matter).
 */
static bool
quorum_sample(struct quorum *q, struct geom_point *p, int dims)
{
	for (int tries = 0; tries < 256; tries++) {
		memset(p, 0, sizeof *p);
		for (int i = 0; i < dims; i++)
			p->c[i] = (uint32_t)(quorum_rand(q) >> 32);
		if (!quorum_in_base(q, p, dims))
			return true;
	}
	return false;
}

/* The survey's estimate of the volume reachable from here. */
static double
quorum_estimate(const struct quorum *q)
{
	int done = q->hits + q->misses;

	if (done == 0)
		return 1 - q->rest;
	return 1 - q->rest + q->rest * (double)q->hits / done;
}

/* End the survey with a verdict, entering or leaving the minority. */
static void
quorum_finish(struct node *n, bool majority, const char *why)
{
	struct quorum *q = n->quorum;
	uint64_t now = node_now_ms();

	q->running = false;
	q->gen++;
	q->verdict_ms = now;
	q->majority = majority;
	log_debug("quorum survey: %s (%s; counted %.4f, estimate %.4f, "
	    "%d of %d lookups answered, %" PRIu64 " ms)",
	    majority ? "majority" : "minority", why, q->counted,
	    quorum_estimate(q), q->hits, q->hits + q->misses,
	    now - q->started_ms);
	if (!majority && q->minority_ms == 0) {
		q->minority_ms = now;
		q->next_ms = now + QUORUM_RETRY_MS;
		log_warnx("in the minority: live owners of less than half of "
		    "the space are reachable from here (%s; estimate %.2f); "
		    "this node takes nothing over and refuses requests until "
		    "it reaches half again", why, quorum_estimate(q));
	} else if (!majority) {
		q->next_ms = now + QUORUM_RETRY_MS;
	} else if (q->minority_ms != 0) {
		uint64_t since = q->minority_ms;

		q->minority_ms = 0;
		log_warnx("reaching half of the space again after %" PRIu64
		    " ms in the minority", now - since);
		node_minority_ended(n, since);
	}
}

static void quorum_send(struct node *n);

/* A sample's answer: its owner is alive and reachable from here. */
static void
quorum_lookup_cb(struct node *n, void *arg, const struct wire_header *h,
    const uint8_t *body)
{
	struct quorum *q = n->quorum;
	struct wire_membership m;

	if (q == NULL || !q->running || (uint64_t)(uintptr_t)arg != q->gen)
		return; /* a survey that ended */
	q->inflight--;
	if (h != NULL && h->type == WIRE_LOOKUP_REPLY &&
	    wire_membership_decode(body, h->len, &m) == 0) {
		q->hits++;
		quorum_count(q, &m.self, n->cfg.dims);
		wire_membership_free(&m);
	} else {
		q->misses++;
	}
	if (q->counted >= 0.5) {
		quorum_finish(n, true, "owners of half the space answered");
		return;
	}
	quorum_send(n);
}

/*
 * Keep QUORUM_INFLIGHT lookups going; decide once the samples are in:
 * QUORUM_SAMPLES, or QUORUM_SAMPLES_MAX when the estimate is close.
 */
static void
quorum_send(struct node *n)
{
	struct quorum *q = n->quorum;
	int want = QUORUM_SAMPLES;
	double est = quorum_estimate(q);

	if (est - 0.5 < QUORUM_CLOSE && 0.5 - est < QUORUM_CLOSE)
		want = QUORUM_SAMPLES_MAX;
	while (q->running && q->inflight < QUORUM_INFLIGHT && q->sent < want) {
		struct geom_point p;
		uint64_t reqid;

		if (!quorum_sample(q, &p, n->cfg.dims)) {
			quorum_finish(n, true, "nothing left to look up");
			return;
		}
		q->sent++;
		reqid = rpc_new(n, quorum_lookup_cb,
		    (void *)(uintptr_t)q->gen, QUORUM_LOOKUP_MS);
		q->inflight++;
		if (node_route_send(n, reqid, WIRE_R_LOOKUP, 0, &p, NULL,
		    false) != 0) {
			/* No live neighbour nearer to it: a miss. */
			rpc_cancel(n, reqid);
			q->inflight--;
			q->misses++;
		}
	}
	if (q->running && q->inflight == 0 && q->sent >= want)
		quorum_finish(n, quorum_estimate(q) >= 0.5,
		    "estimated from the lookups");
}

/* Start a survey unless one runs. */
static void
quorum_start(struct node *n)
{
	struct quorum *q = n->quorum;
	uint64_t now = node_now_ms();
	struct nbr *e;

	if (q->running)
		return;
	q->running = true;
	q->gen++;
	q->started_ms = now;
	q->hinted = false;
	q->nbase = q->nowners = 0;
	q->counted = 0;
	q->sent = q->hits = q->misses = q->inflight = 0;
	q->base[q->nbase++] = n->self;
	quorum_count(q, &n->self, n->cfg.dims);
	TAILQ_FOREACH(e, &n->nbrs, entry) {
		if (e->failed || e->heard_ms == 0 ||
		    now - e->heard_ms > 2 * (uint64_t)n->cfg.hb_ms ||
		    q->nbase == QUORUM_OWNERS)
			continue;
		q->base[q->nbase++] = e->info;
		quorum_count(q, &e->info, n->cfg.dims);
	}
	q->rest = q->counted >= 1 ? 0 : 1 - q->counted;
	if (q->counted >= 0.5) {
		quorum_finish(n, true, "we and our live neighbours hold half");
		return;
	}
	quorum_send(n);
}

/* Set up (node_start). */
void
quorum_init(struct node *n)
{
	struct quorum *q = xcalloc(1, sizeof *q);

	q->rng = n->self.id ^ (uint64_t)node_now_ms() << 20 ^
	    0x9e3779b97f4a7c15ULL;
	if (q->rng == 0)
		q->rng = 1;
	n->quorum = q;
}

/* Free (after rpc_fail_all: no lookup is left to call back). */
void
quorum_free(struct node *n)
{
	free(n->quorum);
	n->quorum = NULL;
}

bool
quorum_majority(struct node *n)
{
	struct quorum *q = n->quorum;

	if (!q->running && q->verdict_ms != 0 && q->majority &&
	    node_now_ms() - q->verdict_ms <= QUORUM_FRESH_MS)
		return true;
	quorum_start(n);
	/* It may have decided at once (we and our neighbours hold half). */
	return !q->running && q->majority &&
	    node_now_ms() - q->verdict_ms <= QUORUM_FRESH_MS;
}

void
quorum_hint(struct node *n)
{
	n->quorum->hinted = true;
}

/*
 * Every heartbeat: a hint from a neighbour in the minority starts a
 * survey (at most once a second); in the minority, one every
 * QUORUM_RETRY_MS finds out whether the link healed.
 */
void
quorum_tick(struct node *n, uint64_t now)
{
	struct quorum *q = n->quorum;

	if (q->running)
		return;
	if (q->minority_ms != 0 && now >= q->next_ms) {
		quorum_start(n);
		return;
	}
	if (q->hinted && q->minority_ms == 0 &&
	    now - q->verdict_ms >= QUORUM_HINT_GAP_MS)
		quorum_start(n);
}

uint64_t
quorum_minority_since(const struct node *n)
{
	return n->quorum != NULL ? n->quorum->minority_ms : 0;
}
