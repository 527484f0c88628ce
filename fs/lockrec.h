/*
 * lockrec.h: the lock record of one file, its codec, and the rules of
 * POSIX (fcntl) and BSD (flock) locks applied to it.  Pure: no store, no
 * clock (the caller passes the time), so it is unit-tested and fuzzed.
 *
 * Every lock held on a file, on any machine, is an entry in the file's
 * lock object, "l/<ino hex>" (meta.h).  An entry names its holder as the
 * mount that took it (a random 64-bit id per mount) and the owner within
 * that mount (the kernel's lock owner: a process's files table for fcntl
 * locks, an open file description for flock), with the holder's pid for
 * F_GETLK.  Each entry carries a lease: the wall-clock time (ms) it
 * expires unless its mount renews it.  An expired entry is ignored by
 * every check and dropped by the next change, so the locks of a mount
 * that died (or was cut off) free themselves.
 *
 * Record (LOCKREC_VERSION 1), little-endian:
 *   u8 version, u16 n, n x (u64 mount, u64 owner, u32 pid, u8 kind,
 *   u8 type, u64 start, u64 end, u64 expires_ms)
 * kind is LOCKREC_POSIX or LOCKREC_FLOCK (the two never conflict, as on
 * Linux); type LOCKREC_READ or LOCKREC_WRITE; [start, end] is an
 * inclusive byte range, end <= LOCKREC_EOF (INT64_MAX, "to the end of
 * the file", the kernel's OFFSET_MAX); a flock entry covers [0, EOF].
 * The decoder insists on exactly n entries, valid kinds, types and
 * ranges, and n <= LOCKREC_MAX.
 */
#ifndef CANFS_FS_LOCKREC_H
#define CANFS_FS_LOCKREC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire.h"

#define LOCKREC_VERSION 1
#define LOCKREC_MAX 4096		/* entries in one record */
#define LOCKREC_EOF ((uint64_t)INT64_MAX)

enum lockrec_kind { LOCKREC_POSIX = 1, LOCKREC_FLOCK = 2 };
enum lockrec_type { LOCKREC_READ = 0, LOCKREC_WRITE = 1, LOCKREC_UNLOCK = 2 };

struct lockrec_entry {
	uint64_t mount, owner;
	uint32_t pid;
	uint8_t kind, type;
	uint64_t start, end;	/* inclusive */
	uint64_t expires_ms;
};

struct lockrec {
	struct lockrec_entry *e;	/* owned */
	size_t n, cap;
};

/* A request: who wants what. */
struct lockrec_req {
	uint64_t mount, owner;
	uint32_t pid;
	uint8_t kind, type;	/* type LOCKREC_UNLOCK to unlock */
	uint64_t start, end;
};

void lockrec_init(struct lockrec *r);
void lockrec_free(struct lockrec *r);
void lockrec_encode(struct wbuf *w, const struct lockrec *r);
/* 0, or -1 (r left empty) on any malformation. */
int lockrec_decode(const uint8_t *p, size_t len, struct lockrec *r);

/*
 * The first live entry that conflicts with q (another holder, same kind,
 * overlapping range, one of the two a write lock), or NULL.
 */
const struct lockrec_entry *lockrec_conflict(const struct lockrec *r,
    const struct lockrec_req *q, uint64_t now_ms);

/*
 * Apply q as POSIX does: drop expired entries; the holder's own entries
 * of that kind lose the range [start, end] (split where needed); then,
 * unless q unlocks, the range is added with q's type, merged with the
 * holder's adjacent or overlapping entries of the same type.  Entries
 * the holder keeps or gains get expires_ms.  The caller checked
 * lockrec_conflict() first.  -1 when the record would pass LOCKREC_MAX.
 */
int lockrec_apply(struct lockrec *r, const struct lockrec_req *q,
    uint64_t now_ms, uint64_t expires_ms);

/* Drop every entry of (mount, owner, kind).  True when any went. */
bool lockrec_drop_owner(struct lockrec *r, uint64_t mount, uint64_t owner,
    int kind);
/* Renew the entries of mount; true when it holds any. */
bool lockrec_renew(struct lockrec *r, uint64_t mount, uint64_t expires_ms);
/* True when mount holds some live entry. */
bool lockrec_holds(const struct lockrec *r, uint64_t mount, uint64_t now_ms);

#endif
