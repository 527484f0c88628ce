/*
 * wire.h: the canfs wire protocol, shared by canfsd, canctl and canfs.
 *
 * Every message is a frame: a fixed 24-byte header followed by a body of
 * at most WIRE_MAX_BODY bytes.  All integers are little-endian and written
 * with the explicit put/get helpers below; buffers are never cast to
 * structs.  A reader never trusts a length or count field: every get is
 * bounds-checked against the bytes present and sets a sticky error.
 *
 * Header layout (bump WIRE_VERSION on ANY change to a header or a body):
 *   u32 magic   "CANF"
 *   u16 version WIRE_VERSION
 *   u16 type    enum wire_type
 *   u32 flags   per type
 *   u32 len     body length
 *   u64 reqid   request id: replies echo it; 0 for one-way messages
 */
#ifndef CANFS_COMMON_WIRE_H
#define CANFS_COMMON_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "geom.h"
#include "hash.h"

#define WIRE_MAGIC 0x464e4143u /* "CANF" as little-endian bytes */
#define WIRE_VERSION 4
#define WIRE_HEADER_LEN 24
#define WIRE_MAX_BODY (8u << 20) /* 4 MiB values plus room to spare */
#define WIRE_ADDR_MAX 64	 /* "HOST:PORT" or "unix:PATH" */
#define WIRE_MAX_ZONES 16	 /* zones one node may hold */
#define WIRE_MAX_LIST 1024	 /* nodes in one list */
#define WIRE_MAX_HOPS 255

/*
 * Message types, in ranges per subsystem:
 *   0x01xx overlay membership and routing (peer to peer)
 *   0x02xx control requests from canctl/canfs to a daemon and replies
 */
enum wire_type {
	/* Membership.  All use the "membership body" below. */
	WIRE_HEARTBEAT = 0x0101,   /* self=sender, list=its neighbours,
				      a=store bytes used, b=bytes free */
	WIRE_JOIN_ACCEPT = 0x0102, /* self=owner, other=joiner with its zones,
				      list=neighbour candidates */
	WIRE_TAKEOVER = 0x0103,	   /* self=taker (new zones), a=dead id,
				      b=dead incarnation, list=dead's zones
				      neighbours as last known */
	WIRE_LEAVE = 0x0104,	   /* self=leaver, other=heir (new zones) */
	WIRE_HANDOVER = 0x0105,	   /* self=giver, other=zones given,
				      list=giver's neighbours */
	WIRE_HANDOVER_ACK = 0x0106, /* self=heir with its new zones */
	WIRE_ROUTED = 0x0107,	   /* routed envelope, see below */
	WIRE_LOOKUP_REPLY = 0x0108, /* self=owner, list=path taken (ids,
				       addrs), a=hops */
	WIRE_JOIN_REFUSED = 0x0109, /* error body: why a join failed */

	/* Control. */
	WIRE_STATUS_REQ = 0x0201,  /* empty body */
	WIRE_STATUS = 0x0202,	   /* self=node, list=neighbours,
				      a=uptime ms, b=requests routed,
				      body flags=enum node_state (0 joining,
				      1 active, 2 leaving, 3 left),
				      header flags=replication factor k */
	WIRE_ROUTE_REQ = 0x0203,   /* body: u8 dims, point */
	WIRE_LEAVE_REQ = 0x0204,   /* empty body; reply WIRE_OK when done */
	WIRE_LIST_REQ = 0x0205,	   /* body: u32 start; list local replicas */
	WIRE_LIST = 0x0206,	   /* summary body; header flag WIRE_LS_MORE
				      when more entries follow (ask again
				      with start + n) */
	WIRE_REPAIR_REQ = 0x0207,  /* empty body; start a repair pass now;
				      reply WIRE_OK */
	WIRE_STATFS_REQ = 0x0208,  /* empty body */
	WIRE_STATFS = 0x0209,	   /* u64 capacity, u64 used, u64 avail (bytes
				      of user data, i.e. raw space / k,
				      estimated from this node and its
				      neighbours), u32 nodes (estimate),
				      u32 k */
	WIRE_PROGRESS = 0x020a,	   /* interim reply (same reqid) to a long
				      request such as LEAVE_REQ: u64 done,
				      u64 total (replicas handed over) */
	WIRE_STATS_REQ = 0x020b,   /* empty body */
	WIRE_STATS = 0x020c,	   /* the daemon's metrics: stats body,
				      see wire_stats.h */
	WIRE_OK = 0x02fe,	   /* empty body */
	WIRE_ERROR = 0x02ff,	   /* error body */

	/*
	 * Objects.  All but DIGEST/WANT use the object body.  0x030x come
	 * from clients (point and index unused), 0x031x from peers.
	 */
	WIRE_OBJ_GET = 0x0301,	   /* key, data empty or a range (below) ->
				      OBJ_VALUE or ERROR NOTFOUND */
	WIRE_OBJ_VALUE = 0x0302,   /* meta and data */
	WIRE_OBJ_PUT = 0x0303,	   /* key, cond, data -> OBJ_DONE */
	WIRE_OBJ_DONE = 0x0304,	   /* meta.version = version written */
	WIRE_OBJ_DEL = 0x0305,	   /* key, cond -> OBJ_DONE (tombstone) */
	WIRE_OBJ_BATCH = 0x0306,   /* batch body: several GET/PUT/DEL ->
				      OBJ_BATCH_REPLY (see below) */
	WIRE_OBJ_BATCH_REPLY = 0x0307, /* batch body: one result per
				      sub-request, in the same order */
	WIRE_OBJ_PATCH = 0x0308,   /* key, cond, data = patch (below) ->
				      OBJ_DONE: write bytes inside a value */
	WIRE_OBJ_R_GET = 0x0311,   /* replica read (data empty or a range)
				      -> OBJ_VALUE / ERROR */
	WIRE_OBJ_R_PUT = 0x0312,   /* replica write, flags WIRE_RP_*; every
				      write carries its meta.op (idempotence) */
	WIRE_OBJ_XFER = 0x0313,	   /* one-way: a replica moving here */
	WIRE_OBJ_DIGEST = 0x0314,  /* summary body: replicas you should hold */
	WIRE_OBJ_WANT = 0x0315,	   /* want body: which of them to send */
};

/* Inner types carried by WIRE_ROUTED. */
enum wire_routed_type {
	WIRE_R_JOIN = 1,   /* inner: membership body, self=joiner */
	WIRE_R_LOOKUP = 2, /* inner: empty; owner replies LOOKUP_REPLY */
};

/* Flags of WIRE_HEARTBEAT. */
#define WIRE_HB_REPLY 0x1 /* answer to a heartbeat; never answered */
#define WIRE_HB_PROBE 0x2 /* a suspicious neighbour asks: answer at once */
#define WIRE_HB_MINORITY 0x4 /* the sender is in the minority of a split
				(quorum.h): check our own side */
/* Flags of WIRE_ROUTED. */
#define WIRE_RT_DIRECT 0x1 /* sent straight from the routing cache */
#define WIRE_RT_HERE 0x2   /* JOIN: the receiver must take it (no forward) */
/* Flags of WIRE_LIST. */
#define WIRE_LS_MORE 0x1
/* Flags of WIRE_ROUTE_REQ. */
#define WIRE_RQ_NOCACHE 0x1 /* route greedily; ignore the routing cache */
/* Flags of WIRE_OBJ_R_PUT. */
#define WIRE_RP_PRIMARY 0x1   /* serialization point: check cond, assign
				 the version */
#define WIRE_RP_ABSENT_OK 0x2 /* primary: a local miss means the object
				 is absent everywhere (checked) */
#define WIRE_RP_SYNCED 0x4    /* primary: the coordinator has just read the
				 other replicas and given the primary the
				 newest copy: trust the local one */
#define WIRE_RP_CONFIRM 0x8   /* primary: no data; answer OBJ_DONE once
				 meta.version (which it decided) is durable
				 here, ERROR MISSING if it is not here */
#define WIRE_RP_PATCH 0x10    /* data is a patch (wire_patch_split): the
				 primary applies it to its newest copy (the
				 condition checked as for a PUT); a secondary
				 applies it to version cond_version, checks
				 the result against meta.checksum, and
				 answers ERROR MISSING without that base */
/* Flags of WIRE_OBJ_DONE. */
#define WIRE_OD_DECIDED 0x1   /* a primary's decision (meta.version), sent
				 before its own commit: not yet durable */
#define WIRE_OD_PATCHED 0x2   /* a primary applied a patch: meta.checksum
				 is the result's, cond_version the version
				 patched (0: none), for the secondaries */
/* Flags of WIRE_OBJ_VALUE. */
#define WIRE_OV_UNSURE 0x1    /* the sender gained zones lately: its copy
				 may be older than the other replicas' */
#define WIRE_OV_RANGE 0x2     /* the data is the range asked for (its
				 bytes that exist), meta.checksum theirs */
/* Flags of WIRE_HANDOVER. */
#define WIRE_HO_LEAVE 0x1 /* the giver is leaving the overlay */

/* Error codes in WIRE_ERROR bodies (mapped to errno in one place). */
enum wire_error {
	WIRE_E_OK = 0,
	WIRE_E_PROTO = 1,     /* malformed request */
	WIRE_E_DIMS = 2,      /* dimension mismatch */
	WIRE_E_NOROUTE = 3,   /* greedy routing found no closer neighbour */
	WIRE_E_TTL = 4,	      /* too many hops */
	WIRE_E_BUSY = 5,      /* try again (e.g. a join or leave under way) */
	WIRE_E_NOTFOUND = 6,
	WIRE_E_TIMEOUT = 7,
	WIRE_E_UNAVAIL = 8,   /* node is leaving or not yet joined */
	WIRE_E_INTERNAL = 9,
	WIRE_E_CONFLICT = 10,	/* compare-and-swap lost: version differs */
	WIRE_E_MISSING = 11,	/* primary holds no copy: consult others */
	WIRE_E_WRONG_OWNER = 12, /* the point is not in the receiver's zones */
	WIRE_E_NOSPACE = 13,	/* a replica's disk or store is full */
	WIRE_E_CORRUPT = 14,	/* stored copy fails its checksum */
	WIRE_E_TOOBIG = 15,	/* value larger than WIRE_MAX_VALUE */
};

/* A decoded frame header. */
struct wire_header {
	uint16_t type;
	uint32_t flags;
	uint32_t len;
	uint64_t reqid;
};

/* One node as described on the wire. */
struct wire_node {
	uint64_t id;
	uint64_t inc;	 /* incarnation: start time in microseconds */
	uint32_t epoch;	 /* bumped on every change of this node's zones */
	char addr[WIRE_ADDR_MAX];
	uint8_t nzones;
	struct geom_zone zones[WIRE_MAX_ZONES];
};

/*
 * The membership body, shared by all 0x01xx messages except ROUTED, and by
 * STATUS:
 *   u8 dims, u8 flags, u64 a, u64 b, node self, node other,
 *   u32 n, node list[n]
 * where node = u64 id, u64 inc, u32 epoch, str addr, u8 nzones,
 *              nzones x (dims x (u32 lo, u8 bits))
 * and str = u16 len, bytes.  Zones are validated (dyadic, see geom.h).
 */
struct wire_membership {
	int dims;
	uint8_t flags;
	uint64_t a, b;
	struct wire_node self;
	struct wire_node other;
	uint32_t n;
	struct wire_node *list; /* owned; wire_membership_free() */
};

/*
 * The routed envelope:
 *   u8 dims, u8 hops, u16 inner_type, point (dims x u32),
 *   str origin address, u16 npath, npath x u64 path ids,
 *   inner body (the rest of the frame)
 * The header's reqid is the origin's request id; the owner replies to the
 * origin address directly with that reqid.
 */
#define WIRE_MAX_PATH 255
struct wire_routed {
	int dims;
	uint8_t hops;
	uint16_t inner_type;
	struct geom_point target;
	char origin[WIRE_ADDR_MAX];
	uint16_t npath;
	uint64_t path[WIRE_MAX_PATH];
	const uint8_t *inner; /* points into the decoded buffer */
	size_t inner_len;
};

/* Growable output buffer. */
struct wbuf {
	uint8_t *p;
	size_t len, cap;
};

/* Bounds-checked reader with a sticky error flag. */
struct rbuf {
	const uint8_t *p;
	size_t len, off;
	bool err;
};

void wbuf_init(struct wbuf *w);
void wbuf_free(struct wbuf *w);
void wbuf_put_u8(struct wbuf *w, uint8_t v);
void wbuf_put_u16(struct wbuf *w, uint16_t v);
void wbuf_put_u32(struct wbuf *w, uint32_t v);
void wbuf_put_u64(struct wbuf *w, uint64_t v);
void wbuf_put_bytes(struct wbuf *w, const void *p, size_t n);
/* u16 length then the bytes of a NUL-terminated string. */
void wbuf_put_str(struct wbuf *w, const char *s);

void rbuf_init(struct rbuf *r, const void *p, size_t len);
uint8_t rbuf_get_u8(struct rbuf *r);
uint16_t rbuf_get_u16(struct rbuf *r);
uint32_t rbuf_get_u32(struct rbuf *r);
uint64_t rbuf_get_u64(struct rbuf *r);
/* Pointer to the next n bytes (NULL and error if fewer remain). */
const uint8_t *rbuf_get_bytes(struct rbuf *r, size_t n);
/* A str into buf of size bufsz; error if it does not fit or has a NUL. */
void rbuf_get_str(struct rbuf *r, char *buf, size_t bufsz);
size_t rbuf_left(const struct rbuf *r);

/*
 * Start a frame in w: writes a header with a zero length.  Finish with
 * wire_frame_end(), which patches the body length in.
 */
void wire_frame_begin(struct wbuf *w, uint16_t type, uint32_t flags,
    uint64_t reqid);
void wire_frame_end(struct wbuf *w);

/*
 * Decode a header from WIRE_HEADER_LEN bytes.  Returns 0, or -1 with *why
 * set to a static reason (bad magic, unknown version, body too long).
 */
int wire_header_decode(const uint8_t *buf, struct wire_header *h,
    const char **why);

/* Encode/decode a membership body (see above).  Decode returns 0 or -1. */
void wire_membership_encode(struct wbuf *w, const struct wire_membership *m);
int wire_membership_decode(const uint8_t *body, size_t len,
    struct wire_membership *m);
void wire_membership_free(struct wire_membership *m);

/* Encode a routed envelope header; the caller appends the inner body. */
void wire_routed_encode(struct wbuf *w, const struct wire_routed *rt);
int wire_routed_decode(const uint8_t *body, size_t len,
    struct wire_routed *rt);

/* Error body: u32 code, str message. */
void wire_error_encode(struct wbuf *w, uint32_t code, const char *msg);
int wire_error_decode(const uint8_t *body, size_t len, uint32_t *code,
    char *msg, size_t msgsz);

/* Route request body: u8 dims, point. */
void wire_point_encode(struct wbuf *w, int dims, const struct geom_point *p);
int wire_point_decode(const uint8_t *body, size_t len, int *dims,
    struct geom_point *p);

/* Conditions of a write. */
enum wire_cond {
	WIRE_COND_NONE = 0,	  /* unconditional: last writer wins */
	WIRE_COND_VERSION = 1,	  /* only if the current version is cond_version */
	WIRE_COND_ABSENT = 2,	  /* only if the object does not exist */
};

#define WIRE_MAX_VALUE (4u << 20) /* largest object value */
#define WIRE_OBJ_TOMBSTONE 0x1	   /* meta flag: deleted */

/*
 * Identity of one logical write.  Every retry of a write, by the client or
 * by a coordinator, carries the same id, so a replica that has applied it
 * answers with its original version instead of deciding it again.
 * client 0 means "no id" (the coordinator then assigns one).
 */
struct wire_opid {
	uint64_t client; /* random per client process */
	uint64_t seq;	 /* the client's sequence number */
};

/*
 * A range (the data of a GET or R_GET that wants part of a value):
 *   u32 off, u32 len
 * The answer holds the value's bytes [off, off + len) that exist: fewer
 * (none) when the value ends before.
 */
#define WIRE_RANGE_LEN 8
void wire_range_encode(struct wbuf *w, uint32_t off, uint32_t len);
/* 0, or -1 when data is not a range. */
int wire_range_decode(const uint8_t *data, uint32_t dlen, uint32_t *off,
    uint32_t *len);
/* The part [*pos, *pos + *n) of a value of vlen bytes a range selects. */
void wire_range_clip(uint32_t off, uint32_t len, uint32_t vlen,
    uint32_t *pos, uint32_t *n);

/*
 * A patch (the data of OBJ_PATCH and of R_PUT with WIRE_RP_PATCH):
 *   u16 n (1..WIRE_PATCH_RANGES), n x (u32 off, u32 len, bytes[len])
 * filling the data exactly.  The value becomes the old one (empty when
 * absent) with each range's bytes written at its offset, in order, zeros
 * filling any gap past its end; its length is the larger of the old
 * length and the largest off + len, at most WIRE_MAX_VALUE.
 */
#define WIRE_PATCH_RANGES 256
/* Start a patch of n ranges in w; then wire_patch_range() n times. */
void wire_patch_begin(struct wbuf *w, uint16_t n);
void wire_patch_range(struct wbuf *w, uint32_t off, const void *p,
    uint32_t len);
/*
 * Check a patch: 0 with the end of its furthest range in *end (may be
 * NULL), or -1 when malformed or reaching past WIRE_MAX_VALUE.
 */
int wire_patch_check(const uint8_t *data, uint32_t len, uint32_t *end);
/*
 * Apply a patch to base (blen bytes; NULL when 0): a malloc'd result in
 * *out (never NULL) of *olen bytes.  0, or -1 when the patch is malformed
 * or base longer than WIRE_MAX_VALUE.
 */
int wire_patch_apply(const uint8_t *base, uint32_t blen,
    const uint8_t *patch, uint32_t plen, uint8_t **out, uint32_t *olen);

/* Version, writer, checksum, flags and write id of a stored value. */
struct wire_meta {
	uint64_t version;
	uint64_t writer;   /* node id of the primary that versioned it */
	uint64_t checksum; /* xxh3-64 of the data */
	uint64_t mtime_ms; /* wall clock of the write, for tombstone expiry */
	uint32_t flags;	   /* WIRE_OBJ_* */
	struct wire_opid op; /* the write that made this version */
};

/*
 * The object body:
 *   u8 dims (0 from clients), dims x u32 point, u64 key.hi, u64 key.lo,
 *   u8 index, u8 cond, u64 cond_version,
 *   u64 version, u64 writer, u64 checksum, u64 mtime_ms, u32 flags,
 *   u64 op.client, u64 op.seq, u32 len, data[len]   (len must be exactly the rest of the body)
 */
struct wire_obj {
	int dims;
	struct geom_point point;
	struct hash_key key;
	uint8_t index;
	uint8_t cond;
	uint64_t cond_version;
	struct wire_meta meta;
	const uint8_t *data; /* points into the decoded buffer */
	uint32_t len;
};

/*
 * The summary body, one entry per replica (DIGEST, LIST):
 *   u8 dims, u32 n, n x (point, u64 key.hi, u64 key.lo, u8 index,
 *   u64 version, u32 flags, u32 len, u8 ok)
 * ok = 0 when the stored copy fails its checksum.
 */
struct wire_summary_entry {
	struct geom_point point;
	struct hash_key key;
	uint8_t index;
	uint64_t version;
	uint32_t flags;
	uint32_t len;
	uint8_t ok;
};
struct wire_summary {
	int dims;
	uint32_t n;
	struct wire_summary_entry *e; /* owned; wire_summary_free() */
};
#define WIRE_MAX_SUMMARY 65536

/*
 * The want body: u32 n, n x u32 positions in the digest that the receiver
 * wants sent (missing or older), then u32 m, m x u32 positions whose point
 * it does not own.  Positions in neither list are held, at least as new.
 */
struct wire_want {
	uint32_t n;
	uint32_t *pos;	 /* owned; wire_want_free() */
	uint32_t nwrong;
	uint32_t *wrong; /* owned */
};

void wire_obj_encode(struct wbuf *w, const struct wire_obj *o);
int wire_obj_decode(const uint8_t *body, size_t len, struct wire_obj *o);
void wire_summary_encode(struct wbuf *w, const struct wire_summary *s);
int wire_summary_decode(const uint8_t *body, size_t len,
    struct wire_summary *s);
void wire_summary_free(struct wire_summary *s);
void wire_want_encode(struct wbuf *w, const struct wire_want *wt);
int wire_want_decode(const uint8_t *body, size_t len, struct wire_want *wt);
void wire_want_free(struct wire_want *wt);

/*
 * The batch body (OBJ_BATCH and OBJ_BATCH_REPLY):
 *   u16 n, n x (u16 type, u32 len, body[len])
 * 1 <= n <= WIRE_BATCH_MAX, and the items fill the body exactly.  Each
 * item is what a frame of that type would carry: in a request, type is
 * OBJ_GET, OBJ_PUT or OBJ_DEL with an object body (from a client: dims
 * 0); in a reply, item i answers sub-request i with OBJ_VALUE or OBJ_DONE
 * (an object body, as the single request's reply) or ERROR (an error body
 * whose message is shorter than WIRE_BATCH_MSG_MAX bytes).  The frame
 * limit (WIRE_MAX_BODY) bounds a batch's bytes.
 *
 * Each sub-request is coordinated exactly as the same request alone
 * (same op id rules, durability, errors) and they run concurrently; the
 * one reply comes when all have finished.  A well-formed batch is always
 * answered with OBJ_BATCH_REPLY of the same n (a daemon that cannot serve
 * it answers every item with the error), and counts as n requests toward
 * the connection's in-flight limit; a malformed one drops the connection.
 * The values of one reply hold at most WIRE_BATCH_MAX_DATA bytes in all:
 * a GET whose value does not fit is answered ERROR TOOBIG, and the client
 * reads it alone.
 */
#define WIRE_BATCH_MAX 256
#define WIRE_BATCH_MSG_MAX 256
#define WIRE_BATCH_MAX_DATA WIRE_MAX_VALUE
/* Bytes of one item besides its value, as a daemon's reply holds it. */
#define WIRE_BATCH_ITEM_OVERHEAD (2 + 4 + 4 + 2 + WIRE_BATCH_MSG_MAX)

struct wire_batch_item {
	uint16_t type;
	struct wire_obj o;	/* object types: the body (data points into
				   the decoded buffer) */
	uint32_t code;		/* WIRE_ERROR: the error code */
	char msg[WIRE_BATCH_MSG_MAX]; /* WIRE_ERROR: its text */
};
struct wire_batch {
	uint32_t n;
	struct wire_batch_item *items; /* decoded: owned, wire_batch_free() */
};

/* Encode a request or a reply (the items are the caller's). */
void wire_batch_encode(struct wbuf *w, const struct wire_batch *b);
/* Decode an OBJ_BATCH body (GET/PUT/DEL items only).  0 or -1. */
int wire_batch_decode(const uint8_t *body, size_t len, struct wire_batch *b);
/* Decode an OBJ_BATCH_REPLY body (VALUE/DONE/ERROR items only). */
int wire_batch_reply_decode(const uint8_t *body, size_t len,
    struct wire_batch *b);
void wire_batch_free(struct wire_batch *b);
/*
 * The item count a batch body claims (its first field), without decoding
 * the rest; 0 when the body is too short to hold one.  For accounting
 * only: the decoders check it against the items present.
 */
uint32_t wire_batch_count(const uint8_t *body, size_t len);

/* Human-readable name of a message type, for logs. */
const char *wire_type_name(uint16_t type);
/* Human-readable text for an error code. */
const char *wire_error_text(uint32_t code);

#endif
