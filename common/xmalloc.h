/*
 * xmalloc.h: allocation that never returns NULL.
 *
 * Running out of memory in the daemon is not recoverable in any useful way,
 * so these wrappers check for overflow and exit with a message instead of
 * returning NULL.  xfree-style cleanup is plain free(), which accepts NULL.
 */
#ifndef CANFS_COMMON_XMALLOC_H
#define CANFS_COMMON_XMALLOC_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t nmemb, size_t size);
/* realloc of an array of nmemb elements of size bytes, overflow-checked. */
void *xreallocarray(void *ptr, size_t nmemb, size_t size);
char *xstrdup(const char *s);
/* printf into a freshly allocated string. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
