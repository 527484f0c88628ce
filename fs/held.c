/* held.c: the per-thread count of short locks held (see held.h). */
#include "held.h"
#include "log.h"

__thread int held_locks;

/* Fatal when a short lock is held (see held.h). */
void
held_check(const char *what)
{
	if (held_locks != 0)
		fatalx("lock order broken: %s while holding %d short "
		    "lock(s) (fs.h, Locking)", what, held_locks);
}
