/*
 * canctl_obj.h: the object commands of canctl (put, get, rm, batch,
 * repair, verify), and what canctl.c shares with them: the parsed options, the
 * exit statuses and a few helpers.  Linked into canctl only.
 */
#ifndef CANFS_OVERLAY_CANCTL_OBJ_H
#define CANFS_OVERLAY_CANCTL_OBJ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client.h"

/* Exit statuses; scripts may tell a lost compare-and-swap and a miss. */
enum {
	CTL_EXIT_OK = 0,
	CTL_EXIT_FAIL = 1,	/* failed, or verify found problems */
	CTL_EXIT_USAGE = 2,
	CTL_EXIT_CONFLICT = 3,	/* --if-version / --if-absent did not hold */
	CTL_EXIT_NOTFOUND = 4,	/* no such object */
	CTL_EXIT_DEGRADED = 5,	/* status: the cluster is degraded */
	CTL_EXIT_UNAVAILABLE = 6, /* status: part of the space unowned */
};

/* Parsed command line. */
struct ctl_opts {
	const char *daemon;
	const char *secret_file; /* --secret-file, NULL for none */
	const char *arg;	/* the command's operand (KEY, POINT) or NULL */
	bool json;
	int timeout_ms;		/* -2: not given; -1: no limit */
	/* route */
	bool have_replica, have_random, have_seed, force_key, no_cache;
	unsigned replica;
	unsigned long random_n;
	uint64_t seed;
	/* objects */
	bool key_hex;		/* --hex: KEY is 32 hex digits */
	bool have_if_version;	/* --if-version V */
	uint64_t if_version;
	bool if_absent;		/* --if-absent */
	bool meta;		/* get --meta */
	bool all;		/* repair --all, top --all */
	/* status, map, progress */
	bool local;		/* status --local: the daemon's node only */
	bool quiet;		/* --quiet: no progress on stderr */
	const char *svg;	/* map --svg FILE ("-": stdout) */
	const char *axes;	/* map --axes I,J */
	const char *slice;	/* map --slice xI=F,... */
	/* top (canctl_top.c) */
	double interval;	/* --interval SEC; 0: not given */
	uint64_t count;		/* --count N; 0: not given */
};

/* Long options of status, map and the progress reports. */
enum {
	CTL_OPT_LOCAL = 0x300,
	CTL_OPT_SVG,
	CTL_OPT_AXES,
	CTL_OPT_SLICE,
};

/* Long options of the object commands (getopt values past any char). */
enum {
	CTL_OPT_IF_VERSION = 0x100,
	CTL_OPT_IF_ABSENT,
	CTL_OPT_HEX,
	CTL_OPT_META,
	CTL_OPT_ALL,
};
#define CTL_OBJ_LONGOPTS						\
	{ "if-version", required_argument, NULL, CTL_OPT_IF_VERSION },	\
	{ "if-absent", no_argument, NULL, CTL_OPT_IF_ABSENT },		\
	{ "hex", no_argument, NULL, CTL_OPT_HEX },			\
	{ "meta", no_argument, NULL, CTL_OPT_META },			\
	{ "all", no_argument, NULL, CTL_OPT_ALL }

/* Pieces of canctl --help (concatenated into its text by canctl.c). */
#define CTL_OBJ_HELP_SYNOPSIS						\
"    canctl [OPTIONS] put [--if-version V | --if-absent] [--hex] KEY <FILE\n"\
"    canctl [OPTIONS] get [--meta] [--hex] KEY\n"			\
"    canctl [OPTIONS] rm [--if-version V] [--hex] KEY\n"		\
"    canctl [OPTIONS] batch [FILE]\n"					\
"    canctl [OPTIONS] repair [--all] [--quiet]\n"					\
"    canctl [OPTIONS] verify [--quiet]\n"

#define CTL_OBJ_HELP_OPTIONS						\
"  put, get and rm:\n"							\
"        --hex           KEY is the object's 128-bit key as 32 hex\n"	\
"                        digits (as verify prints them), not a name\n"	\
"        --if-version V  put/rm: only if the object's current version\n"\
"                        is V (compare-and-swap), else exit 3\n"	\
"        --if-absent     put: only if the object does not exist (or is\n"\
"                        deleted), else exit 3\n"			\
"        --meta          get: print the version, writer, checksum,\n"	\
"                        length and time instead of the value\n"	\
"  repair and top:\n"							\
"        --all           ask every node found by a walk, not just the\n"\
"                        daemon\n"

#define CTL_OBJ_HELP_COMMANDS						\
"    put KEY     store standard input (any bytes, at most 4 MiB) as the\n"\
"                value of object KEY, replacing any value it has, and\n"\
"                print the new version.  KEY is any string (its xxh3-128\n"\
"                hash is the key) or, with --hex, the key itself.  The\n"\
"                daemon writes all k replicas before answering.  With\n"\
"                --if-version V the write happens only while the current\n"\
"                version is V; with --if-absent only while the object\n"\
"                does not exist; otherwise exit 3 and nothing is written\n"\
"    get KEY     write the value of object KEY to standard output,\n"	\
"                byte for byte, after checking it against its checksum\n"\
"                (a mismatch is an error and nothing is written).  Exit 4\n"\
"                when there is no such object (never written, or\n"	\
"                deleted).  --meta (or --json) prints the metadata\n"	\
"                instead: version, writer node, checksum, length, time\n"\
"    rm KEY      delete object KEY (it becomes a tombstone, kept for a\n"\
"                while so that repair cannot bring the old value back);\n"\
"                print the tombstone's version.  --if-version V as for\n"\
"                put\n"								\
"    batch [FILE]\n"								\
"                run the object commands of FILE (or standard input),\n"\
"                one per line: \"get [--hex] KEY [OUTFILE]\", \"put\n"	\
"                [--if-version V | --if-absent] [--hex] KEY INFILE\",\n"	\
"                \"rm [--if-version V] [--hex] KEY\" (blank lines and\n"\
"                lines starting with # are skipped; a KEY is one word,\n"\
"                not starting with --).  They go to the daemon as batch\n"\
"                requests of up to 256 commands each (as many as fit\n"	\
"                8 MiB), whose commands run concurrently, so two about\n"\
"                one key in one batch may land in either order.  get\n"	\
"                writes the value to OUTFILE when given (after checking\n"\
"                its checksum).  Prints one line per command, in input\n"\
"                order: \"LINE OP KEY ok VERSION [LENGTH]\" (LENGTH for\n"\
"                get), or \"LINE OP KEY STATUS: MESSAGE\" with STATUS\n"\
"                notfound, conflict or error.  Exit 0 when every command\n"\
"                succeeded, else 1 (a bad line: 2, and nothing is sent)\n"\
"    repair      ask the daemon to start an anti-entropy pass now (each\n"\
"                replica is compared with the other members of its\n"	\
"                replica set and missing or stale copies are sent); it\n"\
"                returns once the pass is started, not finished.  --all\n"\
"                asks every node found by a walk\n"			\
"    verify      check the replication of every object: walk the\n"	\
"                overlay, list every node's stored replicas, compute\n"	\
"                each key's expected replica set from the zone map (as\n"\
"                the daemons do) and report keys, keys with all their\n"\
"                copies good, under-replicated keys (a member of the set\n"\
"                lacks the newest version, or holds it corrupt), copies\n"\
"                failing their checksum, extra copies outside the\n"	\
"                expected set (normal while repair catches up after a\n"\
"                zone change) and tombstones, then the first 20 problem\n"\
"                keys.  Exit 0 when every live object has all its good\n"\
"                copies, else 1.  Nodes that cannot be reached leave\n"	\
"                gaps in the map, and their replicas count as missing.\n"\
"                The listing is not a snapshot: writes during it may\n"	\
"                show up as transient problems\n"

#define CTL_OBJ_HELP_JSON						\
"    put, rm:    {\"key\", \"hex\", \"version\"}   (key as given, hex the\n"\
"                32-digit key; versions are decimal numbers)\n"		\
"    get:        {\"key\", \"hex\", \"version\", \"writer\", \"checksum\",\n"\
"                \"length\", \"mtime_ms\"}   (writer and checksum: 16 hex\n"\
"                digits); the value itself is never printed as JSON\n"	\
"    batch:      [{\"line\", \"op\", \"key\", \"hex\", \"status\",\n"	\
"                \"version\", \"length\"} or {..., \"status\", \"code\",\n"\
"                \"error\"}], one per command in input order\n"	\
"    repair:     {\"nodes\", \"started\", \"failed\"}\n"		\
"    verify:     {\"nodes\", \"unreachable\", \"keys\", \"k\", \"full\",\n"\
"                \"under_replicated\", \"corrupt\", \"extra\",\n"	\
"                \"tombstones\", \"problems\": [{\"key\", \"good\",\n"	\
"                \"want\"}]}   (corrupt and extra count copies, the rest\n"\
"                keys; problems lists the first 20)\n"

/* In canctl.c. */
void ctl_usage(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
int ctl_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int ctl_number(const char *s, uint64_t min, uint64_t max, uint64_t *v);
const char *ctl_esc(const char *s, char *buf, size_t len);
int ctl_walk(const struct ctl_opts *o, struct client_walk *w);
struct progress;
void ctl_progress_start(const struct ctl_opts *o, struct progress *p,
    const char *label, const char *unit);

/*
 * Take option ch (a CTL_OPT_* value, argument arg) into o.  Returns 0, or
 * -1 when ch is not an object option; exits 2 on a bad argument.
 */
int ctl_obj_option(int ch, const char *arg, struct ctl_opts *o);

/*
 * Check the object options and operands against cmd (exits 2 on misuse).
 * Returns true when cmd is an object command.
 */
bool ctl_obj_check_opts(const struct ctl_opts *o, const char *cmd, int nargs);

/* The commands; each returns the exit status. */
int ctl_obj_put(const struct ctl_opts *o);
int ctl_obj_get(const struct ctl_opts *o);
int ctl_obj_rm(const struct ctl_opts *o);
int ctl_obj_repair(const struct ctl_opts *o);
int ctl_obj_verify(const struct ctl_opts *o);
/* In canctl_batch.c: batch [FILE]. */
int ctl_batch(const struct ctl_opts *o);

#endif
