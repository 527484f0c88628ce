/* atime.c: the access-time policy of a mount (see atime.h). */
#include <stdint.h>
#include <string.h>

#include "atime.h"

/* -1, 0, 1 as a is before, equal to, after b. */
static int
atime_cmp(const struct timespec *a, const struct timespec *b)
{
	if (a->tv_sec != b->tv_sec)
		return a->tv_sec < b->tv_sec ? -1 : 1;
	if (a->tv_nsec != b->tv_nsec)
		return a->tv_nsec < b->tv_nsec ? -1 : 1;
	return 0;
}

/* Is an access at now due to move atime (see atime.h)? */
bool
atime_due(enum atime_mode mode, const struct timespec *atime,
    const struct timespec *mtime, const struct timespec *ctime,
    const struct timespec *now)
{
	if (mode == ATIME_NOATIME || atime_cmp(now, atime) <= 0)
		return false;
	if (mode == ATIME_STRICT)
		return true;
	if (atime_cmp(atime, mtime) <= 0 || atime_cmp(atime, ctime) <= 0)
		return true;
	/* now > atime here: the unsigned difference is exact. */
	return (uint64_t)now->tv_sec - (uint64_t)atime->tv_sec >=
	    ATIME_RELATIME_MAX;
}

/* Apply one atime mount option (see atime.h). */
int
atime_option(const char *opt, enum atime_mode *mode, bool *nodiratime)
{
	static const char *const nop[] = { "norelatime", "lazytime",
	    "nolazytime" };

	if (strcmp(opt, "relatime") == 0 || strcmp(opt, "atime") == 0 ||
	    strcmp(opt, "nostrictatime") == 0)
		*mode = ATIME_RELATIME;
	else if (strcmp(opt, "strictatime") == 0)
		*mode = ATIME_STRICT;
	else if (strcmp(opt, "noatime") == 0)
		*mode = ATIME_NOATIME;
	else if (strcmp(opt, "nodiratime") == 0)
		*nodiratime = true;
	else if (strcmp(opt, "diratime") == 0)
		*nodiratime = false;
	else {
		for (size_t i = 0; i < sizeof nop / sizeof nop[0]; i++)
			if (strcmp(opt, nop[i]) == 0)
				return 0;
		return -1;
	}
	return 0;
}
