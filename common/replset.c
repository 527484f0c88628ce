/* replset.c: expected replica sets and the verify audit (see replset.h). */
#include <stdlib.h>
#include <string.h>

#include "geom.h"
#include "replset.h"

/* Position of the node whose zone holds p, or REPLSET_GAP. */
static size_t
replset_owner(const struct wire_node *nodes, size_t n, int dims,
    const struct geom_point *p)
{
	for (size_t i = 0; i < n; i++) {
		for (int z = 0; z < nodes[i].nzones; z++) {
			if (geom_zone_contains(&nodes[i].zones[z], p, dims))
				return i;
		}
	}
	return REPLSET_GAP;
}

/* The expected replica set of key (see replset.h). */
int
replset_expected(const struct hash_key *key, unsigned k, int dims,
    const struct wire_node *nodes, size_t n,
    struct replset_member out[REPLSET_MAX])
{
	unsigned want = k < REPLSET_MAX ? k : REPLSET_MAX;
	unsigned probes = (unsigned)REPLSET_PROBES(want);
	struct geom_point p;
	int have = 0;

	for (unsigned i = 0; i < probes && (unsigned)have < want; i++) {
		size_t owner;
		bool dup = false;

		hash_replica_point(key, i, dims, &p);
		owner = replset_owner(nodes, n, dims, &p);
		for (int j = 0; j < have && owner != REPLSET_GAP; j++) {
			if (out[j].node == owner)
				dup = true;
		}
		if (dup)
			continue;
		out[have].index = (uint8_t)i;
		out[have].node = owner;
		have++;
	}
	return have;
}

/* Order copies by key, then holder, then index. */
static int
replset_copy_cmp(const void *a, const void *b)
{
	const struct replset_copy *x = a, *y = b;

	if (x->key.hi != y->key.hi)
		return x->key.hi < y->key.hi ? -1 : 1;
	if (x->key.lo != y->key.lo)
		return x->key.lo < y->key.lo ? -1 : 1;
	if (x->node != y->node)
		return x->node < y->node ? -1 : 1;
	return (x->index > y->index) - (x->index < y->index);
}

/* The state of member m given the key's copies c[0, nc) and version. */
static enum replset_state
replset_member_state(const struct replset_member *m,
    const struct replset_copy *c, size_t nc, uint64_t version)
{
	enum replset_state s = REPLSET_MISSING;

	if (m->node == REPLSET_GAP)
		return REPLSET_UNKNOWN;
	for (size_t i = 0; i < nc; i++) {
		if (c[i].node != m->node || c[i].index != m->index)
			continue;
		if (c[i].version == version && c[i].ok)
			return REPLSET_GOOD;
		if (c[i].version == version)
			s = REPLSET_CORRUPT;
		else if (s == REPLSET_MISSING)
			s = REPLSET_STALE;
	}
	return s;
}

/* Audit the copies c[0, nc) of one key into *v. */
static void
replset_audit_key(const struct replset_copy *c, size_t nc,
    const struct wire_node *nodes, size_t nnodes, int dims, unsigned k,
    struct replset_verdict *v)
{
	memset(v, 0, sizeof *v);
	v->key = c[0].key;
	v->copies = nc;
	for (size_t i = 0; i < nc; i++) {
		if (c[i].version > v->version)
			v->version = c[i].version;
		v->corrupt += !c[i].ok;
	}
	for (size_t i = 0; i < nc; i++) {
		if (c[i].version == v->version &&
		    (c[i].flags & WIRE_OBJ_TOMBSTONE))
			v->tombstone = true;
	}
	v->want = replset_expected(&v->key, k, dims, nodes, nnodes, v->set);
	for (int m = 0; m < v->want; m++) {
		v->state[m] = replset_member_state(&v->set[m], c, nc,
		    v->version);
		v->good += v->state[m] == REPLSET_GOOD;
	}
	for (size_t i = 0; i < nc; i++) {
		bool member = false;

		for (int m = 0; m < v->want; m++) {
			if (v->set[m].node == c[i].node &&
			    v->set[m].index == c[i].index)
				member = true;
		}
		v->extra += !member;
	}
}

/* Audit every key (see replset.h). */
void
replset_audit(struct replset_copy *copies, size_t ncopies,
    const struct wire_node *nodes, size_t nnodes, int dims, unsigned k,
    void (*fn)(void *arg, const struct replset_verdict *v,
    const struct replset_copy *c, size_t nc), void *arg,
    struct replset_totals *t)
{
	struct replset_verdict v;
	size_t start, end;

	memset(t, 0, sizeof *t);
	if (ncopies > 1)
		qsort(copies, ncopies, sizeof *copies, replset_copy_cmp);
	for (start = 0; start < ncopies; start = end) {
		for (end = start + 1; end < ncopies &&
		    copies[end].key.hi == copies[start].key.hi &&
		    copies[end].key.lo == copies[start].key.lo; end++)
			;
		replset_audit_key(copies + start, end - start, nodes, nnodes,
		    dims, k, &v);
		t->keys++;
		t->corrupt += v.corrupt;
		t->extra += v.extra;
		if (v.tombstone)
			t->tombstones++;
		else if (v.good < v.want)
			t->under++;
		else
			t->full++;
		if (fn != NULL)
			fn(arg, &v, copies + start, end - start);
	}
}

/* Member state names. */
const char *
replset_state_name(enum replset_state s)
{
	switch (s) {
	case REPLSET_GOOD: return "good";
	case REPLSET_MISSING: return "missing";
	case REPLSET_STALE: return "stale";
	case REPLSET_CORRUPT: return "corrupt";
	case REPLSET_UNKNOWN: return "unknown";
	}
	return "?";
}
