/*
 * conf.c: the configuration file parser (see conf.h).
 *
 * The text is taken line by line with explicit lengths, never as C
 * strings, so a NUL byte or a missing final newline cannot make a line
 * run on; every byte quoted in a message is escaped first.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "log.h"
#include "xmalloc.h"

/* Bytes of a key or value quoted in a message, before "...". */
#define CONF_QUOTE_BYTES 40

/* Where the parser is, and where its message goes. */
struct conf_pos {
	const char *path;
	int line;		/* 0: the file as a whole */
	char *err;
	size_t errlen;
};

/* Set the message "PATH:LINE: what" (or "PATH: what").  Returns -1. */
static int __attribute__((format(printf, 2, 3)))
conf_error(const struct conf_pos *pos, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (pos->line > 0)
		snprintf(pos->err, pos->errlen, "%s:%d: %s", pos->path,
		    pos->line, msg);
	else
		snprintf(pos->err, pos->errlen, "%s: %s", pos->path, msg);
	return -1;
}

/* Escape len bytes at p for a message, cut to CONF_QUOTE_BYTES. */
static const char *
conf_quote(const char *p, size_t len, char *buf, size_t bufsz)
{
	size_t n = len > CONF_QUOTE_BYTES ? CONF_QUOTE_BYTES : len;
	size_t o;

	log_escape(p, n, buf, bufsz);
	o = strlen(buf);
	if (n < len && o + 4 <= bufsz)
		memcpy(buf + o, "...", 4);
	return buf;
}

/* Space or tab. */
static bool
conf_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* A byte of a key: ASCII letters, digits, '-' and '_'. */
static bool
conf_keychar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* The key of the table named by the len bytes at p, or NULL. */
static const struct conf_key *
conf_find(const struct conf_key *keys, const char *p, size_t len)
{
	for (; keys->name != NULL; keys++) {
		if (strlen(keys->name) == len && memcmp(keys->name, p, len) == 0)
			return keys;
	}
	return NULL;
}

/* The first entry already set for key, or NULL. */
static const struct conf_entry *
conf_seen(const struct conf_file *cf, const struct conf_key *key)
{
	for (size_t i = 0; i < cf->nentries; i++) {
		if (cf->entries[i].key == key)
			return &cf->entries[i];
	}
	return NULL;
}

/* Append a setting (the value is copied). */
static void
conf_add(struct conf_file *cf, const struct conf_key *key, const char *v,
    size_t vlen, int line)
{
	struct conf_entry *e;
	char *value = xmalloc(vlen + 1);

	memcpy(value, v, vlen);
	value[vlen] = '\0';
	cf->entries = xreallocarray(cf->entries, cf->nentries + 1,
	    sizeof *cf->entries);
	e = &cf->entries[cf->nentries++];
	e->key = key;
	e->value = value;
	e->line = line;
}

/*
 * The value of a setting: from v0 to the end of the line or to a comment
 * (a '#' at its start or after a blank), without trailing blanks.
 * Returns its end.
 */
static size_t
conf_value_end(const char *p, size_t v0, size_t len)
{
	size_t end;

	for (end = v0; end < len; end++) {
		if (p[end] == '#' && (end == v0 || conf_blank(p[end - 1])))
			break;
	}
	while (end > v0 && conf_blank(p[end - 1]))
		end--;
	return end;
}

/* Parse one line of len bytes (no newline).  Returns 0 or -1 with err. */
static int
conf_line(struct conf_file *cf, const struct conf_pos *pos,
    const struct conf_key *keys, const char *p, size_t len)
{
	const struct conf_key *key;
	const struct conf_entry *prev;
	size_t i = 0, k0, klen, v0, vend;
	char q[CONF_QUOTE_BYTES * 4 + 8];

	for (size_t j = 0; j < len; j++) {
		unsigned char c = (unsigned char)p[j];

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return conf_error(pos, "control character 0x%02x in "
			    "column %zu", c, j + 1);
	}
	while (i < len && conf_blank(p[i]))
		i++;
	if (i == len || p[i] == '#')
		return 0;
	for (k0 = i; i < len && conf_keychar(p[i]); i++)
		;
	if ((klen = i - k0) == 0)
		return conf_error(pos, "expected KEY = VALUE, not '%s'",
		    conf_quote(p + k0, len - k0, q, sizeof q));
	while (i < len && conf_blank(p[i]))
		i++;
	if (i == len || p[i] != '=')
		return conf_error(pos, "missing '=' after '%s'",
		    conf_quote(p + k0, klen, q, sizeof q));
	if ((key = conf_find(keys, p + k0, klen)) == NULL)
		return conf_error(pos, "unknown key '%s'",
		    conf_quote(p + k0, klen, q, sizeof q));
	for (i++; i < len && conf_blank(p[i]); i++)
		;
	v0 = i;
	if ((vend = conf_value_end(p, v0, len)) == v0)
		return conf_error(pos, "no value for '%s'", key->name);
	if (!(key->flags & CONF_MULTI) && (prev = conf_seen(cf, key)) != NULL)
		return conf_error(pos, "'%s' is set again (first on line %d)",
		    key->name, prev->line);
	conf_add(cf, key, p + v0, vend - v0, pos->line);
	return 0;
}

/* Parse a whole file's text (see conf.h). */
int
conf_parse(struct conf_file *cf, const char *path, const char *text,
    size_t len, const struct conf_key *keys, char *err, size_t errlen)
{
	struct conf_pos pos = { path, 0, err, errlen };
	const char *nl;
	size_t off = 0, eol, n;

	memset(cf, 0, sizeof *cf);
	if (len > CONF_FILE_MAX)
		return conf_error(&pos, "larger than %d bytes", CONF_FILE_MAX);
	cf->path = xstrdup(path);
	while (off < len) {
		pos.line++;
		nl = memchr(text + off, '\n', len - off);
		eol = nl != NULL ? (size_t)(nl - text) : len;
		n = eol - off;
		if (n > 0 && text[off + n - 1] == '\r')
			n--;
		if (n > CONF_LINE_MAX) {
			conf_error(&pos, "line longer than %d bytes",
			    CONF_LINE_MAX);
			goto fail;
		}
		if (conf_line(cf, &pos, keys, text + off, n) != 0)
			goto fail;
		off = eol + 1;
	}
	return 0;
fail:
	conf_free(cf);
	return -1;
}

/*
 * Read at most CONF_FILE_MAX + 1 bytes of fd into a fresh buffer (so that
 * a larger file is seen as such whatever fstat said).  Returns the buffer
 * and its length in *lenp, or NULL with errno set.
 */
static char *
conf_read_fd(int fd, size_t *lenp)
{
	size_t cap = CONF_FILE_MAX + 1, len = 0;
	char *buf = xmalloc(cap);
	ssize_t got;

	while (len < cap) {
		got = read(fd, buf + len, cap - len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			free(buf);
			return NULL;
		}
		if (got == 0)
			break;
		len += (size_t)got;
	}
	*lenp = len;
	return buf;
}

/*
 * Read and parse the file at path.  It must be a regular file that others
 * cannot write: it tells a root daemon which files to use.
 */
int
conf_load(struct conf_file *cf, const char *path,
    const struct conf_key *keys, char *err, size_t errlen)
{
	struct conf_pos pos = { path, 0, err, errlen };
	struct stat st;
	size_t len;
	char *text;
	int fd, rc;

	memset(cf, 0, sizeof *cf);
	/* O_NONBLOCK: a FIFO must not hang the start; refused below. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return conf_error(&pos, "%s", strerror(errno));
	if (fstat(fd, &st) != 0) {
		rc = errno;
		close(fd);
		return conf_error(&pos, "%s", strerror(rc));
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return conf_error(&pos, "not a regular file");
	}
	if (st.st_mode & S_IWOTH) {
		close(fd);
		return conf_error(&pos, "writable by anyone: refused "
		    "(chmod o-w)");
	}
	text = conf_read_fd(fd, &len);
	rc = errno;
	close(fd);
	if (text == NULL)
		return conf_error(&pos, "%s", strerror(rc));
	rc = conf_parse(cf, path, text, len, keys, err, errlen);
	free(text);
	return rc;
}

/* Free a parsed file. */
void
conf_free(struct conf_file *cf)
{
	for (size_t i = 0; i < cf->nentries; i++)
		free(cf->entries[i].value);
	free(cf->entries);
	free(cf->path);
	memset(cf, 0, sizeof *cf);
}
