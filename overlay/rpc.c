/* rpc.c: the table of outstanding requests, with timeouts (see rpc.h). */
#include <stdlib.h>
#include <sys/queue.h>

#include "host.h"
#include "node.h"
#include "rpc.h"
#include "xmalloc.h"

#define RPC_BUCKETS 1024

/*
 * Why a request's timer runs out.  A closed connection fires the timer at
 * once with a reason; the strongest reason wins (a gone client beats a
 * closed link: nobody would read a resent request's answer).
 */
enum rpc_fire {
	RPC_FIRE_DEADLINE,	/* its time ran out */
	RPC_FIRE_CLOSED,	/* the connection it was sent on closed */
	RPC_FIRE_GONE,		/* the client it answers has gone */
};

struct rpc {
	uint64_t reqid;
	rpc_cb cb;
	rpc_retry_cb retry;	/* asked before failing; NULL = just fail */
	void *arg;
	struct node *n;
	uint64_t conn;		/* serial of the connection sent on, 0 = any */
	uint64_t client;	/* serial of the client answered, 0 = none */
	uint64_t deadline_ms;	/* end of the wait (node_now_ms) */
	enum rpc_fire fire;
	struct host_timer *timer;
	LIST_ENTRY(rpc) entry;
};
LIST_HEAD(rpc_bucket, rpc);

struct rpc_table {
	struct rpc_bucket b[RPC_BUCKETS];
	int count;
};

/* The node's table, created on first use. */
static struct rpc_table *
rpc_table(struct node *n)
{
	if (n->rpcs == NULL)
		n->rpcs = xcalloc(1, sizeof *n->rpcs);
	return n->rpcs;
}

/* Find by id. */
static struct rpc *
rpc_find(struct node *n, uint64_t reqid)
{
	struct rpc *r;

	if (n->rpcs == NULL || reqid == 0)
		return NULL;
	LIST_FOREACH(r, &n->rpcs->b[reqid % RPC_BUCKETS], entry) {
		if (r->reqid == reqid)
			return r;
	}
	return NULL;
}

/* (Re)start r's timer to run out at r->deadline_ms. */
static void
rpc_arm(struct rpc *r)
{
	uint64_t now = node_now_ms();
	uint64_t ms = r->deadline_ms > now ? r->deadline_ms - now : 0;

	host_timer_add(r->timer, ms);
}

/* Run r's timer at once, for the given reason (the strongest one wins). */
static void
rpc_fire_now(struct rpc *r, enum rpc_fire why)
{
	if (why > r->fire)
		r->fire = why;
	host_timer_add(r->timer, 0);
}

/* Unlink r, free it, then call it back: the table is consistent by then. */
static void
rpc_end(struct node *n, struct rpc *r, const struct wire_header *h,
    const uint8_t *body)
{
	rpc_cb cb = r->cb;
	void *arg = r->arg;

	LIST_REMOVE(r, entry);
	n->rpcs->count--;
	host_timer_free(r->timer);
	free(r);
	cb(n, arg, h, body);
}

/*
 * The timer ran out, or a bound connection closed: let the retry hook
 * send the request again, else fail it.
 */
static void
rpc_timer_cb(void *arg)
{
	struct rpc *r = arg;
	struct node *n = r->n;
	uint64_t reqid = r->reqid;
	enum rpc_fire why = r->fire;

	r->fire = RPC_FIRE_DEADLINE;
	if (why != RPC_FIRE_GONE && r->retry != NULL &&
	    r->retry(n, r->arg, reqid,
	    why == RPC_FIRE_CLOSED ? RPC_CLOSED : RPC_TIMEOUT)) {
		/* Sent again.  The hook may have ended or re-armed it. */
		r = rpc_find(n, reqid);
		if (r == NULL || host_timer_pending(r->timer))
			return;
		/*
		 * Resent after a close: it keeps the deadline it had.  Not
		 * after the deadline itself, even when our millisecond clock
		 * still reads a hair short of it (libevent's timer runs on
		 * its own clock): that would ask the hook twice.
		 */
		if (why == RPC_FIRE_CLOSED &&
		    r->deadline_ms > node_now_ms()) {
			rpc_arm(r);
			return;
		}
	}
	if ((r = rpc_find(n, reqid)) != NULL)
		rpc_end(n, r, NULL, NULL);
}

/* Register a request. */
uint64_t
rpc_new(struct node *n, rpc_cb cb, void *arg, int timeout_ms)
{
	return rpc_new_on(n, 0, cb, arg, timeout_ms);
}

/* Register a request bound to a connection. */
uint64_t
rpc_new_on(struct node *n, uint64_t conn, rpc_cb cb, void *arg,
    int timeout_ms)
{
	struct rpc_table *t = rpc_table(n);
	struct rpc *r = xcalloc(1, sizeof *r);

	r->reqid = n->next_reqid++;
	r->conn = conn;
	r->cb = cb;
	r->arg = arg;
	r->n = n;
	r->deadline_ms = node_now_ms() + (uint64_t)(timeout_ms > 0 ?
	    timeout_ms : 0);
	r->timer = host_timer_new(n->base, rpc_timer_cb, r);
	rpc_arm(r);
	LIST_INSERT_HEAD(&t->b[r->reqid % RPC_BUCKETS], r, entry);
	t->count++;
	return r->reqid;
}

/* Set the retry hook. */
void
rpc_set_retry(struct node *n, uint64_t reqid, rpc_retry_cb retry)
{
	struct rpc *r = rpc_find(n, reqid);

	if (r != NULL)
		r->retry = retry;
}

/* Bind to the client connection that waits for the answer. */
void
rpc_set_client(struct node *n, uint64_t reqid, uint64_t client)
{
	struct rpc *r = rpc_find(n, reqid);

	if (r != NULL)
		r->client = client;
}

/* Bind to the connection the request was (re)sent on. */
void
rpc_bind(struct node *n, uint64_t reqid, uint64_t conn)
{
	struct rpc *r = rpc_find(n, reqid);

	if (r != NULL)
		r->conn = conn;
}

/* New deadline. */
void
rpc_rearm(struct node *n, uint64_t reqid, int timeout_ms)
{
	struct rpc *r = rpc_find(n, reqid);

	if (r == NULL)
		return;
	r->deadline_ms = node_now_ms() + (uint64_t)(timeout_ms > 0 ?
	    timeout_ms : 0);
	if (r->fire == RPC_FIRE_DEADLINE)	/* else it fires at once */
		rpc_arm(r);
}

/* Complete the request this frame answers. */
bool
rpc_complete(struct node *n, const struct wire_header *h, const uint8_t *body)
{
	struct rpc *r = rpc_find(n, h->reqid);

	if (r == NULL)
		return false;
	rpc_end(n, r, h, body);
	return true;
}

/* Forget a request. */
void
rpc_cancel(struct node *n, uint64_t reqid)
{
	struct rpc *r = rpc_find(n, reqid);

	if (r == NULL)
		return;
	LIST_REMOVE(r, entry);
	n->rpcs->count--;
	host_timer_free(r->timer);
	free(r);
}

/*
 * A connection closed: the requests bound to it fail (or are retried)
 * through their timer, fired at once, never from inside this call.
 */
void
rpc_conn_closed(struct node *n, uint64_t conn)
{
	struct rpc *r;

	if (n->rpcs == NULL || n->rpcs->count == 0 || conn == 0)
		return;
	for (int i = 0; i < RPC_BUCKETS; i++) {
		LIST_FOREACH(r, &n->rpcs->b[i], entry) {
			if (r->client == conn) {
				r->client = 0;
				rpc_fire_now(r, RPC_FIRE_GONE);
			} else if (r->conn == conn) {
				r->conn = 0;
				rpc_fire_now(r, RPC_FIRE_CLOSED);
			}
		}
	}
}

/* Fail everything (shutdown). */
void
rpc_fail_all(struct node *n)
{
	/* Callbacks may start requests meanwhile: sweep until none is left. */
	while (n->rpcs != NULL && n->rpcs->count > 0) {
		for (int i = 0; i < RPC_BUCKETS; i++) {
			struct rpc *r;

			while ((r = LIST_FIRST(&n->rpcs->b[i])) != NULL)
				rpc_end(n, r, NULL, NULL);
		}
	}
	free(n->rpcs);
	n->rpcs = NULL;
}

/* Outstanding requests. */
int
rpc_count(const struct node *n)
{
	return n->rpcs ? n->rpcs->count : 0;
}
