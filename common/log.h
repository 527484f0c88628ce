/*
 * log.h: leveled logging to stderr (or syslog-style file), tagged with the
 * program name and the node id once it is known.
 *
 * The level is checked before anything is formatted, so debug logging on a
 * hot path costs one comparison when it is off.  Strings that came from a
 * peer must go through log_escape() before they are printed.
 */
#ifndef CANFS_COMMON_LOG_H
#define CANFS_COMMON_LOG_H

#include <stddef.h>

enum log_level {
	LOG_LVL_ERROR = 0,
	LOG_LVL_WARN = 1,
	LOG_LVL_INFO = 2,
	LOG_LVL_DEBUG = 3,
};

extern int log_level;

/* Set the program name and level. */
void log_init(const char *progname, int level);
/* Tag every later line with this string (e.g. the node id). */
void log_set_tag(const char *tag);
/* Parse "error", "warn", "info", "debug" (or 0-3). Returns -1 if unknown. */
int log_parse_level(const char *s);

void log_msg(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Like log_msg at error level, with ": strerror(errno)" appended. */
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Log and exit(1): for broken invariants of our own, never for peer input. */
void fatalx(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/*
 * Copy untrusted bytes into buf as printable ASCII (\xNN escapes),
 * truncating to fit.  Returns buf.
 */
char *log_escape(const void *data, size_t len, char *buf, size_t bufsz);

#define log_error(...) do {						\
	if (log_level >= LOG_LVL_ERROR) log_msg(LOG_LVL_ERROR, __VA_ARGS__); \
} while (0)
#define log_warnx(...) do {						\
	if (log_level >= LOG_LVL_WARN) log_msg(LOG_LVL_WARN, __VA_ARGS__); \
} while (0)
#define log_info(...) do {						\
	if (log_level >= LOG_LVL_INFO) log_msg(LOG_LVL_INFO, __VA_ARGS__); \
} while (0)
#define log_debug(...) do {						\
	if (log_level >= LOG_LVL_DEBUG) log_msg(LOG_LVL_DEBUG, __VA_ARGS__); \
} while (0)

#endif
