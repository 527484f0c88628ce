/*
 * conf.h: the daemon's configuration file (/etc/canfs/canfsd.conf).
 *
 * One setting per line, "KEY = VALUE".  Blank lines and lines whose first
 * non-blank character is '#' are ignored; a '#' preceded by a blank ends
 * the value (a comment after it).  A key is letters, digits, '-' and '_';
 * the value runs from the first non-blank after '=' to the last non-blank
 * before any comment, taken as is (no quoting, no escapes).  A line is at
 * most CONF_LINE_MAX bytes (a trailing "\r" is dropped), the whole file at
 * most CONF_FILE_MAX; NUL and other control characters but tab are
 * refused.
 *
 * The parser checks the syntax, that every key is one of the caller's and
 * that no key is set twice unless it is CONF_MULTI; what a value means is
 * the caller's business, which reports a bad one with the entry's line.
 * Every error reads "PATH:LINE: what" (or "PATH: what" for the file as a
 * whole), without a program name, and escapes the bytes it quotes.
 */
#ifndef CANFS_OVERLAY_CONF_H
#define CANFS_OVERLAY_CONF_H

#include <stddef.h>

#define CONF_LINE_MAX 1024		/* bytes per line, without "\n" */
#define CONF_FILE_MAX (1024 * 1024)	/* bytes per file */

#define CONF_MULTI 0x1			/* the key may be set on many lines */

/* A key the caller accepts; a table of them ends with a NULL name. */
struct conf_key {
	const char *name;
	int flags;			/* CONF_MULTI */
};

/* One setting, in file order. */
struct conf_entry {
	const struct conf_key *key;	/* points into the caller's table */
	char *value;			/* NUL-terminated, owned by the file */
	int line;			/* 1-based */
};

/* A parsed file: its path (for messages) and its settings. */
struct conf_file {
	char *path;
	struct conf_entry *entries;
	size_t nentries;
};

/*
 * Parse len bytes of text (need not be NUL-terminated) read from path,
 * accepting the keys of the table keys.  On success fills cf (free it
 * with conf_free) and returns 0; on the first error returns -1 with cf
 * empty and the message in err.
 */
int conf_parse(struct conf_file *cf, const char *path, const char *text,
    size_t len, const struct conf_key *keys, char *err, size_t errlen);
/* Read the file at path and conf_parse it.  Returns 0 or -1 with err. */
int conf_load(struct conf_file *cf, const char *path,
    const struct conf_key *keys, char *err, size_t errlen);
/* Free what cf holds and empty it; an empty cf is fine. */
void conf_free(struct conf_file *cf);

#endif
