/*
 * client.h: clients for talking to a canfsd daemon: a small blocking one
 * (struct client) and a multiplexed one built on it (struct client_mux,
 * further down), which many threads share with many requests in flight.
 *
 * Used by canctl and by the FUSE front end.  A struct client carries one
 * request at a time: client_call() sends a frame and reads frames until
 * the one echoing its request id arrives, skipping any others (late
 * replies to calls that timed out, one-way messages).  Every wait is
 * bounded by poll() against a deadline, and a peer is never trusted: each
 * header goes through wire_header_decode() and bodies are capped at
 * WIRE_MAX_BODY.  Writes use MSG_NOSIGNAL, so a dead daemon gives an error,
 * never SIGPIPE.
 *
 * Security: after client_set_secret(), every TCP connection starts with
 * the mutual handshake of common/secure.h (within the connect timeout)
 * and is then encrypted and authenticated record by record; a daemon that
 * does not prove it holds the same secret is refused.  Unix-socket
 * connections stay plaintext: they never leave the machine, and the
 * socket's owner, group and mode decide who may connect.  Without a
 * secret every connection is plaintext, and a daemon that requires the
 * secret is reported as such ("the daemon requires the cluster secret").
 *
 * Threads: the library's only global state is that secret, set once
 * before any thread connects; otherwise different connections may be
 * used from different threads freely.  One struct client is NOT locked
 * internally: it must be used by one thread at a time (a thread of its own,
 * or callers that serialise with their own mutex around client_call() and
 * client_error()).  To share one connection between threads, or to keep
 * several requests in flight on it, use a struct client_mux.
 *
 * Failure: a timeout while waiting for a reply leaves the connection usable
 * (a partly read frame is kept and finished by the next call; the late
 * reply is then skipped by its request id).  Any other error -- the peer
 * closed, a bad header, a failed or timed-out send -- breaks the
 * connection for good: later calls fail at once and the caller should
 * client_close() it and connect again.
 */
#ifndef CANFS_COMMON_CLIENT_H
#define CANFS_COMMON_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire.h"

struct client;
struct secure_key;

/*
 * Use the cluster secret k (copied; see secure_key_load()) for every TCP
 * connection made from now on, or none with NULL.  Process-wide: call it
 * once at start, before any thread uses client_connect().
 */
void client_set_secret(const struct secure_key *k);

/*
 * Connect to a daemon.  spec is "unix:PATH" or "HOST:PORT", where HOST is
 * an IPv4 address, an IPv6 address in brackets ("[::1]:7400") or a name
 * resolved with getaddrinfo (every address is tried in turn).  The connect
 * is bounded by timeout_ms in total (negative: no limit), the secure
 * handshake included when a secret is set.  Returns a new connection, or
 * NULL with a message such as "cannot connect to 127.0.0.1:7400:
 * Connection refused" or "127.0.0.1:7400: secure handshake failed:
 * authentication failed: the peer does not hold this cluster's secret" in
 * err (errlen bytes, always NUL-terminated when errlen > 0; err may be
 * NULL).
 */
struct client *client_connect(const char *spec, int timeout_ms, char *err,
    size_t errlen);

/*
 * Send one request and wait for its reply.  The request is a frame of the
 * given type and flags with len bytes of body (body may be NULL when len is
 * 0).  On success returns 0, with the reply's header in *reply_header and
 * its body in *reply_body: a malloc'd buffer of *reply_len bytes that the
 * caller frees, or NULL when the body is empty.  Any of the three output
 * pointers may be NULL to discard that part.  The reply may be of any type
 * (WIRE_ERROR included): interpreting it is the caller's job.
 *
 * The whole call (send and receive) is bounded by timeout_ms (negative: no
 * limit).  Returns -1 on failure, with the reason in client_error(); the
 * outputs are then untouched.
 */
int client_call(struct client *c, uint16_t type, uint32_t flags,
    const void *body, size_t len, struct wire_header *reply_header,
    uint8_t **reply_body, size_t *reply_len, int timeout_ms);

/*
 * Wait for another reply to the last client_call() (requests that answer
 * with WIRE_PROGRESS frames before their final reply).  Same outputs and
 * errors as client_call().
 */
int client_more(struct client *c, struct wire_header *reply_header,
    uint8_t **reply_body, size_t *reply_len, int timeout_ms);

/*
 * client_call() for the common case: expect a reply of type want (a
 * WIRE_ERROR reply fails), decode it as a membership body into *m when m
 * is non-NULL (free it with wire_membership_free()) and store the reply's
 * header flags in *flags when flags is non-NULL.  Returns 0, or -1 with the
 * reason in client_error(): for a WIRE_ERROR reply the daemon's own message
 * (escaped; or the code's text when empty), with its code in
 * client_error_code().  An error reply leaves the connection usable.
 */
int client_request(struct client *c, uint16_t type, uint32_t flags,
    const void *body, size_t len, uint16_t want, struct wire_membership *m,
    uint32_t *reply_flags, int timeout_ms);

/*
 * An object request (GET, PUT, DEL): send req as an object body and expect
 * a reply of type want (OBJ_VALUE, OBJ_DONE) for the same key.  On success
 * returns 0 with the reply decoded into *reply, whose data points into
 * *buf: a malloc'd buffer the caller frees (after it is done with reply).
 * Failure as for client_request(): -1 with client_error(), and for a
 * WIRE_ERROR reply its code in client_error_code() (NOTFOUND, CONFLICT...).
 */
int client_obj_request(struct client *c, uint16_t type,
    const struct wire_obj *req, uint16_t want, struct wire_obj *reply,
    uint8_t **buf, int timeout_ms);

/*
 * LIST_REQ: the daemon's local replicas from position start on (u32 body).
 * The reply is a summary body with header flags CLIENT_LIST_MORE when more
 * entries follow: ask again with start + s->n.  Returns 0 with the page in
 * *s (free with wire_summary_free()) and *more set, or -1 as for
 * client_request().
 */
#define CLIENT_LIST_MORE 0x1 /* to become WIRE_LS_MORE in wire.h */
int client_list(struct client *c, uint32_t start, struct wire_summary *s,
    bool *more, int timeout_ms);

/*
 * Text of the last error on c, e.g. "unix:/run/canfs/canfsd.sock: timed
 * out after 5000 ms waiting for a reply".  Valid until the next call on c;
 * "" when there was none.
 */
const char *client_error(const struct client *c);

/* WIRE_E_* code of the last WIRE_ERROR reply, or WIRE_E_OK (0). */
uint32_t client_error_code(const struct client *c);

/* True once the connection is broken (see above) and must be replaced. */
bool client_broken(const struct client *c);

/* The spec the connection was made with, for messages. */
const char *client_peer(const struct client *c);

/* Close the connection and free it.  Accepts NULL. */
void client_close(struct client *c);

/* The live nodes of an overlay, as found by client_walk(). */
struct client_walk {
	int dims;
	struct wire_node *nodes; /* as each node describes itself; by id */
	size_t n;
	size_t unreachable;	 /* named by neighbours, not answering */
	struct wire_node *lost;	 /* those unreachable nodes: id and
				    address as a neighbour named them, no
				    zones */
	uint32_t replicas;	 /* replication factor k (STATUS header
				    flags) of the first node; others that
				    differ are warned about */
};

/*
 * Walk the overlay breadth first from the daemon at spec: ask each node
 * for STATUS (timeout_ms per node) and follow the addresses in neighbour
 * lists, keeping every live node once (by id; each address is dialled
 * once), at most max_nodes.  Trouble with other nodes -- unreachable,
 * perhaps dead; another dimension count; an address now answered by a
 * different node -- is passed as one line of text to warn(arg, line) when
 * warn is non-NULL, and never fails the walk.  Returns 0 with the result
 * in *w (free with client_walk_free()), or -1 with a message in err when
 * the first daemon cannot be asked.  Blocking: one node at a time.
 */
int client_walk(const char *spec, int timeout_ms, size_t max_nodes,
    void (*warn)(void *arg, const char *line), void *arg,
    struct client_walk *w, char *err, size_t errlen);
void client_walk_free(struct client_walk *w);

/*
 * The multiplexed connection.
 *
 * One connection to a daemon, any number of requests in flight on it, any
 * number of threads using it at once.  The daemon answers every request
 * with its request id, in any order (up to 4,096 unanswered requests per
 * connection: CONN_MAX_INFLIGHT).  Each request gets a fresh id, is put in
 * a table of pending requests and sent whole under a send lock (so frames
 * never interleave, and a secure connection seals them in order); its
 * caller then waits on its own condition variable until the reply with
 * that id is handed to it, or its deadline passes.
 *
 * Replies are read leader/follower style, not by a thread of the mux's
 * own: while nobody reads, a thread waiting for a reply becomes the
 * reader; it reads frames (bounded by its own deadline) and hands each to
 * the request it answers, waking that request's waiter, until its own
 * reply is in or its deadline passes; then it passes the reading on to
 * another waiter.  We chose this over a dedicated reader thread because
 * (1) a lone caller reads its own reply, one wake-up per request as with
 * a struct client, where a reader thread costs a second wake-up and
 * context switch on every reply (measured over a Unix socket on a loaded
 * 2-core machine, STATUS round trips one at a time: 14-19 us of client
 * CPU and 1 context switch per request, as a struct client's 13-18 us,
 * against 21-29 us and 2 through a reader thread; with 8 threads sharing
 * one connection, both designs pay the hand-off to the waiter, 25-33 us
 * and about 2.5 switches per request, where 8 separate connections cost
 * 12-13 us: noise next to a store write's milliseconds, and one
 * connection instead of 8 for the daemon's single event loop); (2) no
 * thread per connection, and nothing to stop: a mux
 * survives fork() (canfs makes its first requests before it daemonizes),
 * provided no request is in progress in another thread at the time.  The
 * price: the socket is read only while someone waits, so replies to
 * requests nobody waits for any more stay unread until the next wait
 * (callers bound them with their window: the daemon drops a client over
 * 64 MiB behind), and an idle connection's death is noticed at its next
 * request, which then fails as broken.  A sender that finds the socket
 * full while nobody reads reads replies meanwhile (the daemon may be
 * waiting for us to take its replies, and their waiters may all be
 * sending).
 *
 * The reader keeps every property of struct client (it IS a struct client
 * underneath: the same connect, secure handshake, records, frame reading
 * and sending): each header goes through wire_header_decode(), bodies are
 * capped at WIRE_MAX_BODY, sends use MSG_NOSIGNAL, and every wait -- for
 * the turn to send, the send, the reply -- is bounded by the request's
 * deadline with poll() or a timed wait.  A reply whose request is no
 * longer waited for (it timed out, or was freed unanswered) is read and
 * dropped; so are one-way frames (request id 0) and WIRE_PROGRESS interim
 * replies: requests that report progress (LEAVE_REQ) belong on a plain
 * struct client, which can return them (client_more()); on a mux such a
 * request just waits for its final reply.  A frame that a reader's
 * deadline cut short is finished by the next reader.
 *
 * Failure: a request that times out fails alone (the connection stays
 * usable; its late reply is skipped).  Anything that breaks the stream --
 * the daemon closed it, a bad header or record, a send that failed or
 * timed out part-way -- fails every pending request at once with that
 * reason (client_req_broken() true), and every later one at once: close
 * the mux and connect again.
 *
 * The mux does not bound the number of requests in flight: callers keep
 * a window (and remember that k large replies in flight may arrive
 * together: the daemon drops a connection whose output exceeds 64 MiB).
 *
 * Requests: client_mux_send*() sends and returns a request at once, which
 * client_req_wait() or a typed wait (client_req_reply(), _obj(), _list())
 * then waits for.  So a caller pipelines by sending several requests
 * before waiting for any.  A request is always returned, even when it
 * could not be sent (the wait then fails at once with the reason), and
 * must be freed with client_req_free(), which also forgets it if it is
 * still pending.  Each request is waited for once, by one thread at a
 * time; different requests are independent.
 */
struct client_mux;
struct client_req;

/*
 * Connect (as client_connect(): same spec, timeout, handshake and
 * errors).  NULL with a message in err.
 */
struct client_mux *client_mux_connect(const char *spec, int timeout_ms,
    char *err, size_t errlen);

/*
 * Close the connection and free it.  Every request made on it must have
 * been freed, and no thread may be using it.  Accepts NULL.
 */
void client_mux_close(struct client_mux *m);

/*
 * Send a request (a frame of the given type and flags with len bytes of
 * body); its deadline, timeout_ms from now (negative: none), bounds the
 * wait for the send lock, the send and the wait for the reply.  Never
 * NULL: a request that could not be sent fails its wait.
 */
struct client_req *client_mux_send(struct client_mux *m, uint16_t type,
    uint32_t flags, const void *body, size_t len, int timeout_ms);

/* Send req as an object body (GET, PUT, DEL); see client_req_obj(). */
struct client_req *client_mux_send_obj(struct client_mux *m, uint16_t type,
    const struct wire_obj *req, int timeout_ms);

/* Send LIST_REQ from position start; see client_req_list(). */
struct client_req *client_mux_send_list(struct client_mux *m, uint32_t start,
    int timeout_ms);

/*
 * Wait for the reply to r (until its deadline).  Returns 0 with the
 * outputs as client_call(): the reply's header, its body (malloc'd, the
 * caller frees; NULL when empty) and length; any of them may be NULL
 * (a body not taken is freed with r).  The reply may be of any type.
 * Returns -1 on failure, with the reason in client_req_error(r).
 */
int client_req_wait(struct client_req *r, struct wire_header *reply_header,
    uint8_t **reply_body, size_t *reply_len);

/* Wait, then check and decode the reply as client_request() does. */
int client_req_reply(struct client_req *r, uint16_t want,
    struct wire_membership *m, uint32_t *reply_flags);

/*
 * Wait for the reply to a request sent by client_mux_send_obj(), and
 * check and decode it as client_obj_request() does: 0 with *reply
 * pointing into *buf (the caller frees it), or -1 (for a WIRE_ERROR
 * reply, its code in client_req_error_code()).
 */
int client_req_obj(struct client_req *r, uint16_t want, struct wire_obj *reply,
    uint8_t **buf);

/* Wait for a LIST page, as client_list(); free *s with wire_summary_free(). */
int client_req_list(struct client_req *r, struct wire_summary *s, bool *more);

/*
 * The outcome of a failed wait: its text (as client_error(); "" if none),
 * the WIRE_E_* code of a WIRE_ERROR reply (else WIRE_E_OK), and whether
 * it failed with the connection (which then must be replaced).
 */
const char *client_req_error(const struct client_req *r);
uint32_t client_req_error_code(const struct client_req *r);
bool client_req_broken(const struct client_req *r);

/* Free a request; one still pending is forgotten (its reply skipped). */
void client_req_free(struct client_req *r);

/*
 * True once the connection is broken; client_mux_error() then gives the
 * reason (else "").  Requests in flight now, for load balancing.  The
 * spec it was made with.  All thread-safe.
 */
bool client_mux_broken(struct client_mux *m);
const char *client_mux_error(struct client_mux *m);
size_t client_mux_inflight(struct client_mux *m);
const char *client_mux_peer(const struct client_mux *m);

#endif
