/*
 * replset.h: the replica set a key should have, computed from a zone map,
 * and an audit of the copies actually stored against it.
 *
 * This is the offline twin of overlay/resolve.h: given every node's zones
 * (as a walk of the overlay finds them), replset_expected() returns the
 * set the daemons themselves compute -- probe replica points P_i(K) for
 * i = 0, 1, 2, ... up to REPLSET_PROBES(k), the owner of each is the node
 * whose zone contains it, and the set is the first k distinct owners in
 * probe order (k capped at REPLSET_MAX).  The two must stay in step: a
 * change to resolve.h's rule is a change here too.
 *
 * replset_audit() is the arithmetic behind `canctl verify`.  Everything
 * here is pure: no I/O, no global state.
 */
#ifndef CANFS_COMMON_REPLSET_H
#define CANFS_COMMON_REPLSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hash.h"
#include "wire.h"

/*
 * Copies of RESOLVE_MAX and RESOLVE_PROBES(k) (overlay/resolve.h); the unit
 * test and canctl_obj.c check at compile time that they agree.
 */
#define REPLSET_MAX 16
#define REPLSET_PROBES(k) 64
#define REPLSET_GAP ((size_t)-1) /* probe point in no known zone */

/* One member of an expected replica set. */
struct replset_member {
	uint8_t index; /* replica index: which hash function placed it */
	size_t node;   /* position in the node array, or REPLSET_GAP */
};

/*
 * The expected replica set of key among nodes[0, n) in dims dimensions with
 * replication factor k, in probe order (member 0 is the primary), into
 * out[].  Returns the member count: at most min(k, REPLSET_MAX), fewer when
 * the probes meet fewer distinct owners (fewer nodes than k, or an unlucky
 * key).  A probe point that lies in no node's zone (the map has a gap: a
 * node did not answer the walk) yields a member with node = REPLSET_GAP;
 * its owner is unknown, so it is counted as distinct from every other
 * member -- the conservative choice for an audit.
 */
int replset_expected(const struct hash_key *key, unsigned k, int dims,
    const struct wire_node *nodes, size_t n,
    struct replset_member out[REPLSET_MAX]);

/* One stored replica, as some node's LIST reported it. */
struct replset_copy {
	struct hash_key key;
	size_t node;	  /* position in the node array of the holder */
	uint8_t index;	  /* replica index it is stored under */
	uint64_t version;
	uint32_t flags;	  /* WIRE_OBJ_* (WIRE_OBJ_TOMBSTONE) */
	uint32_t len;	  /* value length */
	bool ok;	  /* false: the stored copy fails its checksum */
};

/* What an expected member holds of a key's newest version. */
enum replset_state {
	REPLSET_GOOD = 0,    /* the newest version, checksum intact */
	REPLSET_MISSING = 1, /* no copy under this index on this node */
	REPLSET_STALE = 2,   /* only an older version */
	REPLSET_CORRUPT = 3, /* the newest version, failing its checksum */
	REPLSET_UNKNOWN = 4, /* the member's node is unknown (a gap) */
};

/* The audit of one key. */
struct replset_verdict {
	struct hash_key key;
	uint64_t version;  /* newest version seen on any node */
	bool tombstone;	   /* that version is a deletion */
	int want;	   /* members of the expected set */
	int good;	   /* members in state REPLSET_GOOD */
	size_t copies;	   /* copies of the key seen, all versions */
	size_t corrupt;	   /* of them failing their checksum */
	size_t extra;	   /* of them outside the expected set */
	struct replset_member set[REPLSET_MAX];
	enum replset_state state[REPLSET_MAX]; /* per member of set */
};

/* Totals over all keys of an audit. */
struct replset_totals {
	size_t keys;	   /* distinct keys seen */
	size_t full;	   /* live keys with good == want */
	size_t under;	   /* live keys with good < want */
	size_t corrupt;	   /* copies failing their checksum (all keys) */
	size_t extra;	   /* copies outside their expected set (all keys) */
	size_t tombstones; /* keys whose newest version is a tombstone */
};

/*
 * Audit copies[0, ncopies) against the expected sets on the map
 * nodes[0, nnodes) (dims, k as for replset_expected()).  A key is "live"
 * when its newest version is not a tombstone; only live keys count as full
 * or under-replicated.  Sorts copies by key (then node, index) in place.
 * Calls fn (when non-NULL) once per key in key order with its verdict and
 * its copies (a slice of the sorted array; valid during the call), and
 * fills *t.
 */
void replset_audit(struct replset_copy *copies, size_t ncopies,
    const struct wire_node *nodes, size_t nnodes, int dims, unsigned k,
    void (*fn)(void *arg, const struct replset_verdict *v,
    const struct replset_copy *c, size_t nc), void *arg,
    struct replset_totals *t);

/* Name of a member state, for reports ("good", "missing", ...). */
const char *replset_state_name(enum replset_state s);

#endif
