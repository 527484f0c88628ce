/*
 * hash.h: names to keys, keys to points.
 *
 * An object is named by a 128-bit key (xxh3-128 of its name).  Replica i of
 * key K lives at point P_i(K): coordinate j is xxh3-64 of K seeded with a
 * value derived from (i, j).  A node's own point (where it joins) is derived
 * the same way from its 64-bit id.  Everything here is pure and
 * deterministic, so every node computes the same points.
 */
#ifndef CANFS_COMMON_HASH_H
#define CANFS_COMMON_HASH_H

#include <stddef.h>
#include <stdint.h>

#include "geom.h"

/* A 128-bit object key. */
struct hash_key {
	uint64_t hi;
	uint64_t lo;
};

/* Key of an arbitrary name (bytes). */
void hash_key_of(const void *name, size_t len, struct hash_key *k);

/* Point of replica i (0-based) of key k in d dimensions. */
void hash_replica_point(const struct hash_key *k, unsigned i, int d,
    struct geom_point *p);

/* The point a node with this id joins at. */
void hash_node_point(uint64_t node_id, int d, struct geom_point *p);

/* xxh3-64 checksum of a value. */
uint64_t hash_checksum(const void *data, size_t len);

/* Format k as 32 lowercase hex digits (buf of at least 33 bytes). */
char *hash_key_format(const struct hash_key *k, char *buf);

/* Parse 32 hex digits. Returns -1 on bad input. */
int hash_key_parse(const char *s, struct hash_key *k);

#endif
