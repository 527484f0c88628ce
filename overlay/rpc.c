/* rpc.c: outstanding requests by id, with timeouts (see rpc.h). */
#include <stdlib.h>
#include <sys/queue.h>

#include <event2/event.h>

#include "node.h"
#include "rpc.h"
#include "xmalloc.h"

#define RPC_BUCKETS 1024

struct rpc {
	uint64_t reqid;
	rpc_cb cb;
	void *arg;
	struct node *n;
	uint64_t conn;		/* serial of the connection, 0 = any */
	struct event *timer;
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

/* Unlink and free one request. */
static void
rpc_free(struct node *n, struct rpc *r)
{
	LIST_REMOVE(r, entry);
	n->rpcs->count--;
	event_free(r->timer);
	free(r);
}

/* The request timed out. */
static void
rpc_timeout_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct rpc *r = arg;
	struct node *n = r->n;
	rpc_cb cb = r->cb;
	void *cbarg = r->arg;

	(void)fd;
	(void)ev;
	rpc_free(n, r);
	cb(n, cbarg, NULL, NULL);
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
	struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };

	r->reqid = n->next_reqid++;
	r->conn = conn;
	r->cb = cb;
	r->arg = arg;
	r->n = n;
	r->timer = evtimer_new(n->base, rpc_timeout_cb, r);
	evtimer_add(r->timer, &tv);
	LIST_INSERT_HEAD(&t->b[r->reqid % RPC_BUCKETS], r, entry);
	t->count++;
	return r->reqid;
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

/* Complete the request this frame answers. */
bool
rpc_complete(struct node *n, const struct wire_header *h, const uint8_t *body)
{
	struct rpc *r = rpc_find(n, h->reqid);
	rpc_cb cb;
	void *arg;

	if (r == NULL)
		return false;
	cb = r->cb;
	arg = r->arg;
	rpc_free(n, r);
	cb(n, arg, h, body);
	return true;
}

/* Forget a request. */
void
rpc_cancel(struct node *n, uint64_t reqid)
{
	struct rpc *r = rpc_find(n, reqid);

	if (r != NULL)
		rpc_free(n, r);
}

/*
 * Fail the requests bound to a closed connection.  They fail through
 * their timer, fired at once, never from inside this call: a connection
 * can close in the middle of a caller's loop over replicas.
 */
void
rpc_conn_closed(struct node *n, uint64_t conn)
{
	struct timeval now = { 0, 0 };
	struct rpc *r;

	if (n->rpcs == NULL || n->rpcs->count == 0)
		return;
	for (int i = 0; i < RPC_BUCKETS; i++) {
		LIST_FOREACH(r, &n->rpcs->b[i], entry) {
			if (r->conn == conn) {
				r->conn = 0;
				evtimer_add(r->timer, &now);
			}
		}
	}
}

/* Fail everything (shutdown). */
void
rpc_fail_all(struct node *n)
{
	if (n->rpcs == NULL)
		return;
	for (int i = 0; i < RPC_BUCKETS; i++) {
		struct rpc *r;

		while ((r = LIST_FIRST(&n->rpcs->b[i])) != NULL) {
			rpc_cb cb = r->cb;
			void *arg = r->arg;

			rpc_free(n, r);
			cb(n, arg, NULL, NULL);
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
