/*
 * lease.h: the rename lease, a cluster-wide lock with an expiry.
 *
 * Moving a directory to another directory can make a cycle when two
 * machines move two directories into each other at once: each kernel
 * checks ancestry in its own cache only.  Such renames therefore run
 * one at a time in the whole filesystem (Linux does the same locally
 * with s_vfs_rename_mutex), under a lease held in one object of the
 * store, "r/lease": { u8 version (1), u64 holder (a random id per
 * mount; 0: free), u32 lease_ms }.
 *
 * - Acquire: compare-and-swap from a free record (or absent) to one
 *   naming us.  The version last seen is remembered, so that on a quiet
 *   filesystem acquiring is one CAS and releasing another.
 * - Expiry needs no synchronised clocks: a waiter that sees the same
 *   version of a held record for lease_ms (by its own monotonic clock,
 *   counted across calls) takes it over with a CAS on that version.  The
 *   holder trusts its lease for half that from the moment it sent its
 *   write, and renews it (a CAS) when it needs longer: a renewal that
 *   loses means a waiter took over, and the holder gives up with EIO.
 * - A mount that dies holding the lease (kill -9) delays the next
 *   directory move by up to lease_ms; nothing else is held.
 * - Writes carry op ids (kv.h), so a retried acquire that had landed
 *   answers with its own version, never a conflict.  A write whose
 *   outcome is unknown (EIO) may leave the record naming us: the next
 *   acquire of this mount takes it as free.
 * - Acquiring waits no longer than the mount's io_timeout: then EIO.
 *
 * On a mount, one holder at a time (a mutex, held from acquire to
 * release; the kernel serialises cross-directory renames anyway).
 * Tests only: CANFS_TEST_LEASE_HOLD_MS=N in canfs's environment makes it
 * sleep N ms after each acquire (fs_rename kills it meanwhile).
 */
#ifndef CANFS_FS_LEASE_H
#define CANFS_FS_LEASE_H

#include <stdint.h>
#include <time.h>

struct fs;
struct lease;

#define LEASE_MS 30000		/* how long a holding lasts unrenewed */
#define LEASE_VERSION 1		/* of the record */

/* A holding of the lease. */
struct lease_hold {
	uint64_t version;	/* of the record we wrote last */
	struct timespec at;	/* monotonic: when that write was sent */
};

/*
 * The lease state of a mount whose holdings last ms unrenewed (the
 * mount's lock_lease, at most 300 s; 0: LEASE_MS); free with lease_free
 * (accepts NULL).
 */
struct lease *lease_new(int ms);
void lease_free(struct lease *l);

/*
 * Take the lease (waiting for it, taking over an expired one), within
 * the mount's io_timeout.  0 with *h filled, or -EIO (also on timeout).
 * On success the caller must call lease_release(), on every path.
 */
int lease_acquire(struct fs *fs, struct lease_hold *h);

/*
 * Before a write that needs the lease: 0 when it is still ours for a
 * while (renewing it after half its time), -EIO when it was lost.
 */
int lease_check(struct fs *fs, struct lease_hold *h);

/* Give the lease back (a CAS on the version we wrote). */
void lease_release(struct fs *fs, struct lease_hold *h);

#endif
