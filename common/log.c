/* log.c: leveled logging (see log.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

int log_level = LOG_LVL_INFO;
static char log_prog[32] = "canfs";
static char log_tag[64];

static const char *const log_names[] = { "error", "warn", "info", "debug" };

/* Set the program name and level. */
void
log_init(const char *progname, int level)
{
	snprintf(log_prog, sizeof log_prog, "%s", progname);
	log_level = level;
}

/* Tag later lines (e.g. with the node id). */
void
log_set_tag(const char *tag)
{
	snprintf(log_tag, sizeof log_tag, "%s", tag);
}

/* Parse a level name or digit. */
int
log_parse_level(const char *s)
{
	for (int i = 0; i < 4; i++) {
		if (strcmp(s, log_names[i]) == 0)
			return i;
	}
	if (s[0] >= '0' && s[0] <= '3' && s[1] == '\0')
		return s[0] - '0';
	return -1;
}

/* Write one line: time, program, tag, level, message, optional suffix. */
static void
log_vwrite(int level, const char *suffix, const char *fmt, va_list ap)
{
	char msg[1024], when[32];
	struct timespec ts;
	struct tm tm;

	vsnprintf(msg, sizeof msg, fmt, ap);
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof when, "%H:%M:%S", &tm);
	fprintf(stderr, "%s.%03ld %s%s%s %s: %s%s%s\n", when,
	    ts.tv_nsec / 1000000, log_prog, log_tag[0] ? " " : "", log_tag,
	    log_names[level], msg, suffix ? ": " : "", suffix ? suffix : "");
}

/* Log at a level (callers normally use the macros, which check first). */
void
log_msg(int level, const char *fmt, ...)
{
	va_list ap;

	if (level > log_level)
		return;
	va_start(ap, fmt);
	log_vwrite(level, NULL, fmt, ap);
	va_end(ap);
}

/* Log an error with strerror(errno). */
void
log_warn(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LVL_ERROR, strerror(saved), fmt, ap);
	va_end(ap);
	errno = saved;
}

/* Log and exit. */
void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LVL_ERROR, NULL, fmt, ap);
	va_end(ap);
	exit(1);
}

/* Log with strerror(errno) and exit. */
void
fatal(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LVL_ERROR, strerror(saved), fmt, ap);
	va_end(ap);
	exit(1);
}

/* Escape untrusted bytes for printing. */
char *
log_escape(const void *data, size_t len, char *buf, size_t bufsz)
{
	const unsigned char *p = data;
	size_t o = 0;

	if (bufsz == 0)
		return buf;
	for (size_t i = 0; i < len; i++) {
		if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\') {
			if (o + 1 >= bufsz)
				break;
			buf[o++] = (char)p[i];
		} else {
			if (o + 4 >= bufsz)
				break;
			snprintf(buf + o, 5, "\\x%02x", p[i]);
			o += 4;
		}
	}
	buf[o] = '\0';
	return buf;
}
