/*
 * atime.h: when a read moves a file's access time (the relatime,
 * strictatime and noatime mount options).
 *
 * Pure functions only: the deferred inode update that applies the
 * decision is ops_atime() (ops.h).  The kernel never updates the atime
 * of a FUSE inode itself (it marks them S_NOATIME), so canfs does it.
 */
#ifndef CANFS_FS_ATIME_H
#define CANFS_FS_ATIME_H

#include <stdbool.h>
#include <time.h>

/* The atime policy of a mount. */
enum atime_mode {
	ATIME_RELATIME,		/* when older than mtime/ctime or a day old */
	ATIME_STRICT,		/* on every access */
	ATIME_NOATIME		/* never on access */
};

/* Age in seconds past which relatime updates an atime anyway (Linux's). */
#define ATIME_RELATIME_MAX (24 * 60 * 60)

/*
 * Should an access at now set the atime of a record with these times to
 * now?  Never when now is not later than atime (atime only moves
 * forward, so a late or repeated update cannot undo a newer one);
 * otherwise strictatime: yes; relatime: when atime <= mtime, atime <=
 * ctime, or atime is at least ATIME_RELATIME_MAX seconds before now;
 * noatime: no.  Any values are safe (no overflow).
 */
bool atime_due(enum atime_mode mode, const struct timespec *atime,
    const struct timespec *mtime, const struct timespec *ctime,
    const struct timespec *now);

/*
 * Apply the mount option opt (without "-o") to *mode and *nodiratime,
 * the last option given winning: relatime, nostrictatime and atime set
 * relatime; strictatime; noatime; nodiratime and diratime; norelatime,
 * lazytime and nolazytime are accepted and change nothing (as in Linux,
 * only strictatime turns relatime off; canfs always writes atimes
 * lazily).  Returns 0, or -1 when opt is not an atime option.
 */
int atime_option(const char *opt, enum atime_mode *mode, bool *nodiratime);

#endif
