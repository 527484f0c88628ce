/*
 * canctl_top.h: `canctl top`, a daemon's (or with --all every daemon's)
 * request rates, bytes, latency and hops, refreshed every second like
 * `juicefs stats`, from the metrics of WIRE_STATS (common/wire_stats.h,
 * the names in README "Metrics").  Linked into canctl only.
 *
 * Rates are differences of counters between two samples divided by the
 * time between them; latency quantiles are estimated from the
 * differences of the histograms' cumulative bucket counts, interpolating
 * linearly within a bucket, as Prometheus' histogram_quantile() does.
 */
#ifndef CANFS_OVERLAY_CANCTL_TOP_H
#define CANFS_OVERLAY_CANCTL_TOP_H

#include <stdbool.h>
#include <stdint.h>

#include "canctl_obj.h"

struct wire_metric;

/* Long options of top (getopt values past canctl_obj.h's). */
enum {
	CTL_OPT_INTERVAL = 0x180,
	CTL_OPT_COUNT,
};
#define CTL_TOP_LONGOPTS						\
	{ "interval", required_argument, NULL, CTL_OPT_INTERVAL },	\
	{ "count", required_argument, NULL, CTL_OPT_COUNT }

#define CTL_TOP_HELP_SYNOPSIS						\
"    canctl [OPTIONS] top [--all] [--interval SEC] [--count N]\n"

#define CTL_TOP_HELP_OPTIONS						\
"  top only:\n"								\
"        --interval SEC  seconds between samples (default 1; 0.1 to\n"	\
"                        3600)\n"					\
"        --count N       stop after N samples (default: until\n"	\
"                        interrupted)\n"				\
"        --all           every node found by a walk, summed (as for\n"	\
"                        repair)\n"

#define CTL_TOP_HELP_COMMANDS						\
"    top         the daemon's requests per second by type (get, put,\n"	\
"                del, batch, and route: lookups it sent into the\n"	\
"                overlay), failures per second, mean, p50 and p99\n"	\
"                latency (estimated from the latency histograms),\n"	\
"                mean hops of lookups, object bytes in and out per\n"	\
"                second, and the store's objects and bytes, repair\n"	\
"                backlog and under-replicated objects; with --all the\n"\
"                sum over every node found by a walk at the start, one\n"\
"                row per node below.  A terminal is redrawn every\n"	\
"                interval; otherwise (or with --json) one line per\n"	\
"                sample is printed\n"

#define CTL_TOP_HELP_JSON						\
"    top:        one object per sample and line: {\"time\",\n"		\
"                \"interval\", \"nodes\", \"unreachable\", \"types\":\n"\
"                {TYPE: {\"ops\", \"errors\", \"mean\", \"p50\",\n"	\
"                \"p99\", \"total\"}}, \"hops_mean\", \"bytes_in\",\n"	\
"                \"bytes_out\", \"store_objects\", \"store_bytes\",\n"	\
"                \"repair_backlog\", \"under_replicated\", \"per_node\":\n"\
"                [{\"addr\", \"ok\", \"ops\", \"store_objects\",\n"	\
"                \"store_bytes\", \"repair_backlog\"}]}   (ops, errors\n"\
"                and bytes per second; latencies in seconds, null\n"	\
"                without requests; total: requests since the daemons\n"	\
"                started)\n"

/*
 * Take option ch (CTL_OPT_INTERVAL, CTL_OPT_COUNT) into o.  Returns 0, or
 * -1 when ch is not one of top's; exits 2 on a bad argument.
 */
int ctl_top_option(int ch, const char *arg, struct ctl_opts *o);
/* Check top's options against cmd (exits 2 on misuse). */
void ctl_top_check_opts(const struct ctl_opts *o, const char *cmd);
/* top: the command; returns the exit status. */
int ctl_top(const struct ctl_opts *o);

/*
 * The q-quantile (0 <= q <= 1) of count observations spread over buckets
 * with upper bounds le[0..nb) and cumulative counts cum[0..nb) (the rest,
 * count - cum[nb-1], above the last bound): linear within the bucket
 * holding rank q * count, from the bound below (0 for the first).  An
 * observation past the last bound counts as the last bound.  NaN when
 * count is 0.
 */
double ctl_top_quantile(const double *le, const uint64_t *cum, int nb,
    uint64_t count, double q);

/*
 * now - before, for a counter or histogram of one series (*out: count,
 * value (sum), cum).  A series that went backwards (the daemon
 * restarted) or whose buckets changed counts from zero: *out = *now.
 */
void ctl_top_delta(const struct wire_metric *now,
    const struct wire_metric *before, struct wire_metric *out);

#endif
