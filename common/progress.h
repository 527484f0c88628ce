/*
 * progress.h: a progress reporter for long command-line operations
 * (canctl leave, repair, verify; canfs fsck).
 *
 * The caller says how far it got, as often as it likes; the reporter
 * decides what to print and when, on its own stream (stderr, so that
 * stdout stays clean for results and --json):
 *
 *   on a terminal   one line redrawn in place at most 5 times a second,
 *                   "verify [#########...........] 45% 1234/2750 nodes,
 *                   ETA 0:12", ended with a newline by progress_done();
 *   otherwise       a plain line every 5 seconds ("verify: 45% 1234/2750
 *                   nodes, 210/s, ETA 0:12") and a final one, so logs
 *                   stay short;
 *   quiet           nothing at all.
 *
 * The ETA is (total - done) / rate, with the rate measured from the first
 * update on; before a second has passed or anything was done it reads
 * "ETA -".  A total of 0 means unknown: no bar, no percentage, no ETA,
 * just the count.  An optional note (progress_note()) is appended, e.g.
 * "12345 replicas listed".
 *
 * Use:
 *	struct progress p;
 *	progress_init(&p, stderr, "verify", "nodes", PROGRESS_AUTO);
 *	for (...) progress_update(&p, done, total);
 *	progress_done(&p);
 *
 * No dynamic memory, no global state, not thread-safe (one thread drives
 * one reporter).  The *_at() forms take the time in milliseconds (any
 * monotonic origin) instead of reading CLOCK_MONOTONIC, for tests.
 */
#ifndef CANFS_COMMON_PROGRESS_H
#define CANFS_COMMON_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define PROGRESS_TTY_MS 200	/* a terminal line is redrawn at most
				   this often */
#define PROGRESS_PLAIN_MS 5000	/* a plain line at most this often */
#define PROGRESS_ETA_MS 1000	/* measure this long before an ETA */
#define PROGRESS_BAR 20		/* cells in the bar */
#define PROGRESS_LINE 160	/* bytes of one line, at most */

enum progress_mode {
	PROGRESS_AUTO,		/* TTY when the stream is a terminal, else
				   PLAIN */
	PROGRESS_TTY,
	PROGRESS_PLAIN,
	PROGRESS_QUIET,
};

struct progress {
	FILE *f;
	enum progress_mode mode;	/* TTY, PLAIN or QUIET once set up */
	char label[32];			/* "verify" */
	char unit[32];			/* "nodes", "replicas" */
	char note[64];			/* appended after the count, or "" */
	uint64_t done, total;		/* the last update; total 0: unknown */
	uint64_t done0;			/* done at the first update */
	uint64_t t0_ms;			/* time of the first update */
	uint64_t last_ms;		/* time of the last line printed */
	bool started;			/* an update came */
	bool finished;
	int width;			/* length of the line on the terminal */
};

/*
 * Set p up to report on f (usually stderr) as "label" counting "unit".
 * Both strings are copied (truncated to fit).
 */
void progress_init(struct progress *p, FILE *f, const char *label,
    const char *unit, enum progress_mode mode);

/* Replace the note shown after the count ("" for none); printf format. */
void progress_note(struct progress *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Record done of total (0: unknown) and print if it is time to. */
void progress_update(struct progress *p, uint64_t done, uint64_t total);
void progress_update_at(struct progress *p, uint64_t done, uint64_t total,
    uint64_t now_ms);

/*
 * Print the final state (the last update, with the time taken instead of
 * the ETA) and end the line.  Prints nothing when quiet, or when nothing
 * was ever updated.  Later calls on p print nothing.
 */
void progress_done(struct progress *p);
void progress_done_at(struct progress *p, uint64_t now_ms);

/*
 * On a terminal, erase the progress line so that a message can be
 * printed on a clean line (the next update draws it again).  Nothing
 * otherwise.
 */
void progress_clear(struct progress *p);

/*
 * The line for the current state at now_ms, without "\r" or newline:
 * with the bar when bar is true, "ETA" or, when final, the time taken.
 * Returns buf (always NUL-terminated).  For the printing above and tests.
 */
char *progress_format(const struct progress *p, uint64_t now_ms, bool bar,
    bool final, char *buf, size_t len);

/* Format a duration in ms as "M:SS" or "H:MM:SS" into buf; returns buf. */
char *progress_duration(uint64_t ms, char *buf, size_t len);

#endif
