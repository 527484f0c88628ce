/*
 * progress.c: the progress reporter of long command-line operations (see
 * progress.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "progress.h"

/* Milliseconds of CLOCK_MONOTONIC. */
static uint64_t
progress_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Set p up (see progress.h). */
void
progress_init(struct progress *p, FILE *f, const char *label,
    const char *unit, enum progress_mode mode)
{
	memset(p, 0, sizeof *p);
	p->f = f;
	if (mode == PROGRESS_AUTO)
		mode = isatty(fileno(f)) ? PROGRESS_TTY : PROGRESS_PLAIN;
	p->mode = mode;
	snprintf(p->label, sizeof p->label, "%s", label);
	snprintf(p->unit, sizeof p->unit, "%s", unit);
}

/* Replace the note (see progress.h). */
void
progress_note(struct progress *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->note, sizeof p->note, fmt, ap);
	va_end(ap);
}

/* A duration as M:SS or H:MM:SS (see progress.h). */
char *
progress_duration(uint64_t ms, char *buf, size_t len)
{
	uint64_t s = (ms + 500) / 1000;

	if (s >= 3600)
		snprintf(buf, len, "%llu:%02u:%02u",
		    (unsigned long long)(s / 3600), (unsigned)(s / 60 % 60),
		    (unsigned)(s % 60));
	else
		snprintf(buf, len, "%u:%02u", (unsigned)(s / 60),
		    (unsigned)(s % 60));
	return buf;
}

/* Append to buf at *off, never past len (a full buffer just stops). */
static void
progress_cat(char *buf, size_t len, size_t *off, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*off >= len)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf + *off, len - *off, fmt, ap);
	va_end(ap);
	if (n > 0)
		*off = *off + (size_t)n >= len ? len - 1 : *off + (size_t)n;
}

/*
 * Units done per second since the first update, or -1 before
 * PROGRESS_ETA_MS have passed or while nothing was done.
 */
static double
progress_rate(const struct progress *p, uint64_t now_ms)
{
	uint64_t ms = now_ms > p->t0_ms ? now_ms - p->t0_ms : 0;

	if (ms < PROGRESS_ETA_MS || p->done <= p->done0)
		return -1;
	return (double)(p->done - p->done0) * 1000.0 / (double)ms;
}

/* The line for the current state (see progress.h). */
char *
progress_format(const struct progress *p, uint64_t now_ms, bool bar,
    bool final, char *buf, size_t len)
{
	uint64_t done = p->total > 0 && p->done > p->total ? p->total :
	    p->done;
	double rate = progress_rate(p, now_ms);
	size_t off = 0;
	char t[32];

	if (len == 0)
		return buf;
	buf[0] = '\0';
	if (p->total > 0) {
		unsigned pct = (unsigned)(done * 100 / p->total);
		int cells = (int)(done * PROGRESS_BAR / p->total);

		if (bar)
			progress_cat(buf, len, &off, "%s [%.*s%.*s] ", p->label,
			    cells, "##########################################",
			    PROGRESS_BAR - cells,
			    "..........................................");
		else
			progress_cat(buf, len, &off, "%s: ", p->label);
		progress_cat(buf, len, &off, "%u%% %llu/%llu %s", pct,
		    (unsigned long long)p->done, (unsigned long long)p->total,
		    p->unit);
	} else
		progress_cat(buf, len, &off, "%s: %llu %s", p->label,
		    (unsigned long long)p->done, p->unit);
	if (p->note[0] != '\0')
		progress_cat(buf, len, &off, ", %s", p->note);
	if (final) {
		progress_cat(buf, len, &off, ", in %s", progress_duration(
		    now_ms > p->t0_ms ? now_ms - p->t0_ms : 0, t, sizeof t));
		return buf;
	}
	if (!bar && rate >= 0)
		progress_cat(buf, len, &off, ", %.0f/s", rate);
	if (p->total == 0)
		return buf;
	if (rate > 0 && done < p->total)
		progress_cat(buf, len, &off, ", ETA %s", progress_duration(
		    (uint64_t)((double)(p->total - done) / rate * 1000.0), t,
		    sizeof t));
	else if (done < p->total)
		progress_cat(buf, len, &off, ", ETA -");
	return buf;
}

/* Draw the line: in place on a terminal, as a new line otherwise. */
static void
progress_print(struct progress *p, uint64_t now_ms, bool final)
{
	char line[PROGRESS_LINE];
	int n;

	progress_format(p, now_ms, p->mode == PROGRESS_TTY, final, line,
	    sizeof line);
	if (p->mode == PROGRESS_TTY) {
		/* Pad over a longer previous line instead of relying on
		   escape sequences. */
		n = (int)strlen(line);
		fprintf(p->f, "\r%s%*s", line, p->width > n ? p->width - n : 0,
		    "");
		p->width = n;
		if (final)
			fputc('\n', p->f);
	} else
		fprintf(p->f, "%s\n", line);
	fflush(p->f);
	p->last_ms = now_ms;
}

/* Record progress and print when due (see progress.h). */
void
progress_update_at(struct progress *p, uint64_t done, uint64_t total,
    uint64_t now_ms)
{
	uint64_t every = p->mode == PROGRESS_TTY ? PROGRESS_TTY_MS :
	    PROGRESS_PLAIN_MS;

	if (p->finished)
		return;
	if (!p->started) {
		p->started = true;
		p->t0_ms = now_ms;
		p->done0 = done;
		/* The first plain line comes after one interval, so that a
		   quick operation prints only its final line. */
		p->last_ms = now_ms;
		if (p->mode == PROGRESS_TTY)
			p->last_ms = now_ms - every;
	}
	p->done = done;
	p->total = total;
	if (p->mode == PROGRESS_QUIET || now_ms - p->last_ms < every)
		return;
	progress_print(p, now_ms, false);
}

/* progress_update_at() now. */
void
progress_update(struct progress *p, uint64_t done, uint64_t total)
{
	progress_update_at(p, done, total, progress_now_ms());
}

/* The final line (see progress.h). */
void
progress_done_at(struct progress *p, uint64_t now_ms)
{
	if (p->finished)
		return;
	p->finished = true;
	if (p->mode == PROGRESS_QUIET || !p->started)
		return;
	progress_print(p, now_ms, true);
}

/* progress_done_at() now. */
void
progress_done(struct progress *p)
{
	progress_done_at(p, progress_now_ms());
}

/* Erase the terminal line (see progress.h). */
void
progress_clear(struct progress *p)
{
	if (p->mode != PROGRESS_TTY || p->width == 0 || p->finished)
		return;
	fprintf(p->f, "\r%*s\r", p->width, "");
	fflush(p->f);
	p->width = 0;
	/* Draw again at the next update. */
	p->last_ms -= PROGRESS_TTY_MS;
}
