/* hash.c: keys and points from xxh3 (see hash.h). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "hash.h"

/*
 * Seeds: a fixed odd constant mixed with (replica, dimension) so that each
 * (i, j) pair is an independent hash function.  Changing these changes
 * where every object lives: it is part of the on-disk and wire format.
 */
#define HASH_SEED_BASE 0x9e3779b97f4a7c15ULL
#define HASH_SEED_NODE 0xc2b2ae3d27d4eb4fULL

/* Seed for hash function (i, j). */
static uint64_t
point_seed(uint64_t base, unsigned i, int j)
{
	return base ^ ((uint64_t)i << 32 | (uint64_t)(unsigned)j) *
	    0xff51afd7ed558ccdULL;
}

/* Key of a name. */
void
hash_key_of(const void *name, size_t len, struct hash_key *k)
{
	XXH128_hash_t h = XXH3_128bits(name, len);

	k->hi = h.high64;
	k->lo = h.low64;
}

/* Point of replica i of key k. */
void
hash_replica_point(const struct hash_key *k, unsigned i, int d,
    struct geom_point *p)
{
	uint8_t raw[16];

	/* Hash a fixed little-endian encoding, independent of the host. */
	for (int b = 0; b < 8; b++) {
		raw[b] = (uint8_t)(k->hi >> (8 * b));
		raw[8 + b] = (uint8_t)(k->lo >> (8 * b));
	}
	memset(p, 0, sizeof *p);
	for (int j = 0; j < d; j++)
		p->c[j] = (uint32_t)(XXH3_64bits_withSeed(raw, sizeof raw,
		    point_seed(HASH_SEED_BASE, i, j)) >> 32);
}

/* Point a node joins at. */
void
hash_node_point(uint64_t node_id, int d, struct geom_point *p)
{
	uint8_t raw[8];

	for (int b = 0; b < 8; b++)
		raw[b] = (uint8_t)(node_id >> (8 * b));
	memset(p, 0, sizeof *p);
	for (int j = 0; j < d; j++)
		p->c[j] = (uint32_t)(XXH3_64bits_withSeed(raw, sizeof raw,
		    point_seed(HASH_SEED_NODE, 0, j)) >> 32);
}

/* Value checksum. */
uint64_t
hash_checksum(const void *data, size_t len)
{
	return XXH3_64bits(data, len);
}

/* 32 hex digits. */
char *
hash_key_format(const struct hash_key *k, char *buf)
{
	snprintf(buf, 33, "%016" PRIx64 "%016" PRIx64, k->hi, k->lo);
	return buf;
}

/* Parse 32 hex digits. */
int
hash_key_parse(const char *s, struct hash_key *k)
{
	uint64_t part[2] = { 0, 0 };

	if (strlen(s) != 32)
		return -1;
	for (int i = 0; i < 32; i++) {
		int c = s[i], v;

		if (c >= '0' && c <= '9')
			v = c - '0';
		else if (c >= 'a' && c <= 'f')
			v = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v = c - 'A' + 10;
		else
			return -1;
		part[i / 16] = part[i / 16] << 4 | (uint64_t)v;
	}
	k->hi = part[0];
	k->lo = part[1];
	return 0;
}
