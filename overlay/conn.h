/*
 * conn.h: the daemon's transport layer.
 *
 * Owns the listening sockets (TCP for peers and remote clients, a Unix
 * socket for local clients) and every connection.  A connection delivers
 * whole frames: the header is decoded and checked before the body is
 * buffered, so an absurd length closes the connection without allocating
 * it.  Outbound peer connections are pooled by address.
 *
 * This is the only module that touches sockets, so authentication and
 * encryption wrap every connection here, in one place (common/secure.h
 * does the cryptography).  When the process has a cluster secret
 * (transport_set_secret), every TCP connection, inbound and outbound,
 * starts in state HANDSHAKE: both sides send a HELLO at once, then an AUTH
 * proving they hold the secret; a peer that fails, sends anything else or
 * takes longer than CONN_HANDSHAKE_TIMEOUT_SEC is dropped with a logged
 * reason and never reaches the node.  Once OPEN, the input is a stream of
 * sealed records, opened into a plaintext buffer that the usual frame
 * reader parses; conn_send seals frames into records (frames sent during
 * the handshake wait in a queue).  A record that fails to open (altered,
 * replayed, reordered, oversized) closes the connection.
 *
 * Unix-socket connections are never encrypted: they do not leave the
 * machine, and who may connect is decided by the socket's owner, group
 * and mode (0660 by default).  Without a secret every connection is
 * plaintext, as before.
 *
 * Limits: CONN_MAX connections, of which at most CONN_MAX_PREAUTH may be
 * unauthenticated (the oldest is dropped for a new one, so a flood of
 * half-open connections cannot lock members out); CONN_MAX_INFLIGHT client
 * requests unanswered per connection; CONN_OUTPUT_CAP bytes queued for a
 * peer that does not read; frames of at most WIRE_MAX_BODY and records of
 * at most SECURE_RECORD_MAX, both checked before anything is buffered.
 */
#ifndef CANFS_OVERLAY_CONN_H
#define CANFS_OVERLAY_CONN_H

#include <stddef.h>
#include <stdint.h>

#include "wire.h"

struct event_base;
struct conn;
struct secure_key;
struct transport;

/* Upcalls into the owner of the transport (the node). */
struct conn_ops {
	/*
	 * A whole frame arrived on c.  body is valid only during the call.
	 * The callee may call conn_close(c); the transport stops reading
	 * from c afterwards.
	 */
	void (*frame)(struct conn *c, const struct wire_header *h,
	    const uint8_t *body, void *arg);
	/* c is closing (peer gone, error, or conn_close); last call for c. */
	void (*closed)(struct conn *c, void *arg);
};

/*
 * Set the cluster secret (copied; NULL for none) of every transport
 * created afterwards.  Process-wide, so that canfsd sets it once before
 * the node creates its transport.
 */
void transport_set_secret(const struct secure_key *k);

/* Create a transport on base; ops/arg receive frames from every conn. */
struct transport *transport_new(struct event_base *base,
    const struct conn_ops *ops, void *arg);
/* Close every connection and listener and free the transport. */
void transport_free(struct transport *t);

/* Listen on "HOST:PORT" (TCP).  Returns 0, or -1 with err filled in. */
int transport_listen_tcp(struct transport *t, const char *hostport,
    char *err, size_t errlen);
/*
 * Listen on a Unix socket at path (an existing stale socket is replaced),
 * with the given mode.  Returns 0, or -1 with err filled in.
 */
int transport_listen_unix(struct transport *t, const char *path, int mode,
    char *err, size_t errlen);

/*
 * The pooled outbound connection to a peer at "HOST:PORT", opened if
 * needed.  Frames sent before the connection completes are queued.
 * Returns NULL if addr cannot be parsed or the dial failed at once (a
 * refused loopback connect): nothing would ever be delivered on it.
 */
struct conn *transport_peer(struct transport *t, const char *addr);

/*
 * Our own address.  transport_peer() of it returns one end of an
 * in-process pair of connections (linked bufferevents), whose other end
 * is served like an accepted connection: a request to ourselves (a
 * replica we hold, a lookup we own) costs no socket and no encryption.
 */
void transport_set_self(struct transport *t, const char *addr);

/* Queue a finished frame on c.  A connection over its output cap closes. */
/*
 * Close the connection(s) to a peer address, if any: the next
 * transport_peer() dials afresh (a stalled TCP connection can take many
 * seconds of backoff to notice that a link is back).
 */
void transport_drop_peer(struct transport *t, const char *addr,
    const char *why);
/* Queue a frame on c; a NULL or closed c drops it. */
void conn_send(struct conn *c, const struct wbuf *frame);
/* Close c; it is freed later, never inside a callback that uses it. */
void conn_close(struct conn *c, const char *why);
/* "peer 127.0.0.2:7400", "client #12 (unix)"... for logs. */
const char *conn_name(const struct conn *c);
/* A number unique to this connection for the life of the process. */
uint64_t conn_serial(const struct conn *c);
/* Bytes queued for output and not yet written. */
size_t conn_pending(const struct conn *c);
/* Look a live connection up by serial (NULL if it has closed). */
struct conn *transport_conn_by_serial(struct transport *t, uint64_t serial);
/* Number of open connections. */
int transport_count(const struct transport *t);

/* Output buffer cap per connection; beyond it the peer is too slow. */
#define CONN_OUTPUT_CAP (64u << 20)
/* Connections accepted at once, beyond which new ones are refused. */
#define CONN_MAX 1024
/* Unauthenticated (handshaking) inbound connections at once. */
#define CONN_MAX_PREAUTH 128
/* Time for connect plus handshake before the connection is dropped. */
#define CONN_HANDSHAKE_TIMEOUT_SEC 5
/*
 * Client requests (0x02xx requests, OBJ_GET/PUT/DEL; a batch counts as
 * its number of items) received on one connection and not yet answered;
 * one more closes the connection.  As large as the deepest pipeline of
 * our own tools (tests/objtool -w).
 */
#define CONN_MAX_INFLIGHT 4096

#endif
