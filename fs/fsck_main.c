/*
 * fsck_main.c: canfs-fsck, the file system checker (fsck.h), as "canctl
 * fsck" runs it: options, the run, the report (text or JSON), the exit
 * status.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsck.h"
#include "json.h"
#include "kv.h"
#include "log.h"
#include "secure.h"
#include "client.h"

#define FSCK_DEFAULT_DAEMON "unix:/run/canfs/canfsd.sock"
#define FSCK_TIMEOUT_MS 40000	/* per request, as a mount's io_timeout */
#define FSCK_CONNS 8		/* requests in flight */
#define FSCK_GRACE_S 86400	/* --grace default: a day */
#define FSCK_INTERVAL_S 86400	/* --interval default */
#define FSCK_SWEEP_RATE 500	/* --rate default of a sweep */

static const char fsck_help[] =
"NAME\n"
"    canfs-fsck, canctl fsck - check and repair a canfs file system\n"
"\n"
"SYNOPSIS\n"
"    canctl [--daemon ADDR] [--secret-file PATH] fsck [--repair | --sweep]\n"
"           [--grace SECONDS] [--interval SECONDS] [--rate OPS] [--json]\n"
"           [--quiet] [--timeout MS]\n"
"\n"
"DESCRIPTION\n"
"    Lists every node's replicas, walks the tree from the root and\n"
"    reports names without inodes, inodes without names, wrong link\n"
"    counts, chunks outside their file's extents and orphan objects (no\n"
"    name reaches them).  Only problems whose objects were all last\n"
"    written more than the grace ago count: the others are shown as\n"
"    recent (an operation may be in flight).  See canctl(8).\n"
"\n"
"OPTIONS\n"
"    -d, --daemon ADDR    the daemon(s), as canfs's SOURCE (default:\n"
"                         $CANFS_DAEMON, else " FSCK_DEFAULT_DAEMON ")\n"
"        --secret-file PATH  the cluster secret for TCP (default:\n"
"                         $CANFS_SECRET_FILE)\n"
"        --repair         repair what is found: remove names without\n"
"                         inodes, put inodes without names in\n"
"                         /lost+found as #INO, set link counts, add\n"
"                         unrecorded chunks to their file's extents,\n"
"                         delete unlinked inodes and orphans\n"
"        --sweep          the background sweep: delete orphans only, and\n"
"                         only if no other sweep started within the\n"
"                         interval (the record r/sweep); --rate defaults\n"
"                         to 500\n"
"        --grace SECONDS  objects written more recently are left alone\n"
"                         (default 86400)\n"
"        --interval SECONDS  the sweep's interval (default 86400)\n"
"        --rate OPS       at most OPS store operations per second (0,\n"
"                         the default without --sweep: no limit)\n"
"    -j, --json           print one JSON report\n"
"    -q, --quiet          no progress, no list of problems\n"
"    -t, --timeout MS     per request (default 40000)\n"
"    -h, --help           this text\n"
"\n"
"EXIT STATUS (as fsck(8), or'ed)\n"
"    0 clean, 1 problems fixed, 4 problems left, 8 the check could not be\n"
"    completed (a node or record could not be read), 16 usage error\n";

/* A usage error: message, hint, exit 16. */
static void __attribute__((format(printf, 1, 2), noreturn))
fsck_usage(const char *fmt, ...)
{
	va_list ap;

	fputs("canfs-fsck: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry 'canctl fsck --help' for more information.\n", stderr);
	exit(FSCK_EXIT_USAGE);
}

/* A whole decimal number in [0, max], else a usage error. */
static uint64_t
fsck_number(const char *opt, const char *s, uint64_t max)
{
	char *end;
	uint64_t v;

	errno = 0;
	if (*s < '0' || *s > '9' || (v = strtoull(s, &end, 10), errno != 0) ||
	    *end != '\0' || v > max)
		fsck_usage("bad %s \"%s\": a whole number from 0 to %" PRIu64,
		    opt, s, max);
	return v;
}

/* Parse the command line into o; *secret the --secret-file. */
static void
fsck_parse(int argc, char **argv, struct fsck_opts *o, const char **secret)
{
	enum { O_SECRET = 0x100, O_REPAIR, O_SWEEP, O_GRACE, O_INTERVAL,
	    O_RATE };
	static const struct option longopts[] = {
		{ "daemon", required_argument, NULL, 'd' },
		{ "secret-file", required_argument, NULL, O_SECRET },
		{ "repair", no_argument, NULL, O_REPAIR },
		{ "sweep", no_argument, NULL, O_SWEEP },
		{ "grace", required_argument, NULL, O_GRACE },
		{ "interval", required_argument, NULL, O_INTERVAL },
		{ "rate", required_argument, NULL, O_RATE },
		{ "json", no_argument, NULL, 'j' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *env = getenv("CANFS_DAEMON");
	bool have_rate = false;
	int ch;

	memset(o, 0, sizeof *o);
	o->daemon = env != NULL && env[0] != '\0' ? env : FSCK_DEFAULT_DAEMON;
	env = getenv("CANFS_SECRET_FILE");
	*secret = env != NULL && env[0] != '\0' ? env : NULL;
	o->timeout_ms = FSCK_TIMEOUT_MS;
	o->grace_s = FSCK_GRACE_S;
	o->interval_s = FSCK_INTERVAL_S;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":d:jqt:h", longopts, NULL)) !=
	    -1) {
		switch (ch) {
		case 'd': o->daemon = optarg; break;
		case O_SECRET: *secret = optarg; break;
		case O_REPAIR: o->repair = true; break;
		case O_SWEEP: o->sweep = true; break;
		case O_GRACE:
			o->grace_s = fsck_number("--grace", optarg,
			    UINT32_MAX);
			break;
		case O_INTERVAL:
			o->interval_s = fsck_number("--interval", optarg,
			    UINT32_MAX);
			break;
		case O_RATE:
			o->rate = fsck_number("--rate", optarg, 10000000);
			have_rate = true;
			break;
		case 'j': o->json = true; break;
		case 'q': o->quiet = true; break;
		case 't':
			o->timeout_ms = (int)fsck_number("--timeout", optarg,
			    86400000);
			if (o->timeout_ms == 0)
				o->timeout_ms = -1;
			break;
		case 'h':
			fputs(fsck_help, stdout);
			exit(0);
		case ':':
			fsck_usage("option '%s' needs an argument",
			    argv[optind - 1]);
		default:
			fsck_usage("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		fsck_usage("fsck takes no arguments (\"%s\")", argv[optind]);
	if (o->repair && o->sweep)
		fsck_usage("--repair and --sweep exclude each other");
	if (o->sweep && !have_rate)
		o->rate = FSCK_SWEEP_RATE;
}

/* One problem as a line of text. */
static void
fsck_print_problem(const struct fsck_problem *p)
{
	static const char *const how[] = { "", "fixed", "recent, left "
	    "alone" };
	char hex[33], esc[1024];

	printf("%s: ", fsck_kind_name(p->kind));
	switch (p->kind) {
	case FSCK_P_NOINODE:
		printf("\"%s\" in directory %" PRIu64 " -> inode %" PRIu64,
		    log_escape(p->name, strlen(p->name), esc, sizeof esc),
		    p->parent, p->ino);
		break;
	case FSCK_P_NLINK:
		printf("inode %" PRIu64 " has %" PRIu32 ", %" PRIu32
		    " counted", p->ino, p->have, p->want);
		break;
	case FSCK_P_UNRECORDED:
		printf("inode %" PRIu64 " chunk %" PRIu64, p->ino, p->index);
		break;
	case FSCK_P_ORPHAN:
		printf("key %s", hash_key_format(&p->key, hex));
		break;
	case FSCK_P_FROZEN:
		printf("directory %" PRIu64 " shard %u/%" PRIx64, p->ino,
		    (unsigned)(p->shard >> 58),
		    p->shard & ((UINT64_C(1) << 58) - 1));
		break;
	default:
		printf("inode %" PRIu64, p->ino);
	}
	if (p->outcome < 3 && how[p->outcome][0] != '\0')
		printf(" (%s)", how[p->outcome]);
	putchar('\n');
}

/* Counts per kind and outcome. */
static void
fsck_count(const struct fsck *f, size_t c[FSCK_P_NKINDS][3])
{
	memset(c, 0, sizeof(size_t) * FSCK_P_NKINDS * 3);
	for (size_t i = 0; i < f->npb; i++)
		c[f->pb[i].kind][f->pb[i].outcome < 3 ? f->pb[i].outcome : 0]++;
}

/* The text report. */
static void
fsck_report_text(const struct fsck *f, int status)
{
	size_t c[FSCK_P_NKINDS][3], shown = 0;

	fsck_count(f, c);
	for (size_t i = 0; i < f->npb && !f->o.quiet; i++) {
		if (shown++ < FSCK_SHOW_MAX)
			fsck_print_problem(&f->pb[i]);
	}
	if (shown > FSCK_SHOW_MAX)
		printf("... and %zu more\n", shown - FSCK_SHOW_MAX);
	printf("nodes %zu listed%s, objects %zu, directories %zu, files %zu, "
	    "chunks %zu\n", f->nodes, f->unlisted ? " (some not)" : "",
	    f->objs.n, f->dirs, f->files, f->chunks);
	for (int k = 0; k < FSCK_P_NKINDS; k++) {
		size_t n = c[k][0] + c[k][1] + c[k][2];

		if (n > 0)
			printf("%-28s %zu: %zu fixed, %zu left, %zu recent\n",
			    fsck_kind_name((enum fsck_kind)k), n,
			    c[k][FSCK_R_FIXED], c[k][FSCK_R_LEFT],
			    c[k][FSCK_R_RECENT]);
	}
	if (f->incomplete)
		printf("incomplete: %s (no orphan or nameless inode was "
		    "looked for)\n", f->why);
	printf("%s\n", status == 0 ? "clean" : status & FSCK_EXIT_OPERR ?
	    "the check could not be completed" : status & FSCK_EXIT_LEFT ?
	    "problems left" : "problems fixed");
}

/* The JSON report. */
static void
fsck_report_json(const struct fsck *f, int status)
{
	static const char *const how[] = { "left", "fixed", "recent" };
	size_t c[FSCK_P_NKINDS][3];
	struct json j;
	char hex[33];

	fsck_count(f, c);
	json_init(&j, stdout);
	json_begin_object(&j);
	json_key_uint(&j, "status", (uint64_t)status);
	json_key_uint(&j, "nodes", f->nodes);
	json_key_uint(&j, "unlisted", f->unlisted);
	json_key_uint(&j, "objects", f->objs.n);
	json_key_uint(&j, "directories", f->dirs);
	json_key_uint(&j, "files", f->files);
	json_key_uint(&j, "chunks", f->chunks);
	json_key(&j, "incomplete");
	if (f->incomplete)
		json_string(&j, f->why);
	else
		json_null(&j);
	json_key(&j, "counts");
	json_begin_object(&j);
	for (int k = 0; k < FSCK_P_NKINDS; k++) {
		json_key(&j, fsck_kind_label((enum fsck_kind)k));
		json_begin_object(&j);
		for (int o = 0; o < 3; o++)
			json_key_uint(&j, how[o], c[k][o]);
		json_end_object(&j);
	}
	json_end_object(&j);
	json_key(&j, "problems");
	json_begin_array(&j);
	for (size_t i = 0; i < f->npb && i < FSCK_SHOW_MAX; i++) {
		const struct fsck_problem *p = &f->pb[i];

		json_begin_object(&j);
		json_key_string(&j, "kind", fsck_kind_label(p->kind));
		json_key_string(&j, "outcome", how[p->outcome < 3 ?
		    p->outcome : 0]);
		if (p->kind != FSCK_P_ORPHAN)
			json_key_uint(&j, "ino", p->ino);
		if (p->kind == FSCK_P_NOINODE) {
			json_key_uint(&j, "parent", p->parent);
			json_key_string(&j, "name", p->name);
		}
		if (p->kind == FSCK_P_NLINK) {
			json_key_uint(&j, "have", p->have);
			json_key_uint(&j, "want", p->want);
		}
		if (p->kind == FSCK_P_UNRECORDED)
			json_key_uint(&j, "index", p->index);
		if (p->kind == FSCK_P_ORPHAN || p->kind == FSCK_P_UNRECORDED ||
		    p->kind == FSCK_P_FROZEN)
			json_key_string(&j, "key", hash_key_format(&p->key,
			    hex));
		json_end_object(&j);
	}
	json_end_array(&j);
	json_end_object(&j);
	json_end(&j);
}

/* Load the cluster secret; exits 8 when it cannot. */
static void
fsck_secret(const char *path)
{
	struct secure_key k;
	char err[512];

	if (path == NULL)
		return;
	if (secure_key_load(path, &k, err, sizeof err) != 0) {
		fprintf(stderr, "canfs-fsck: %s\n", err);
		exit(FSCK_EXIT_OPERR);
	}
	client_set_secret(&k);
	secure_key_wipe(&k);
}

int
main(int argc, char **argv)
{
	static struct fsck f;
	const char *secret;
	char err[1024];
	int status;

	log_init("canfs-fsck", LOG_LVL_ERROR);
	fsck_parse(argc, argv, &f.o, &secret);
	fsck_secret(secret);
	if ((f.kv = kv_open(f.o.daemon, FSCK_CONNS, f.o.timeout_ms, err,
	    sizeof err)) == NULL) {
		fprintf(stderr, "canfs-fsck: %s\n", err);
		return FSCK_EXIT_OPERR;
	}
	f.now_us = fsck_now_us();
	if (f.o.sweep && !fsck_sweep_turn(&f, err, sizeof err)) {
		if (!f.o.quiet)
			printf("sweep skipped: %s\n", err);
		kv_close(f.kv);
		return FSCK_EXIT_CLEAN;
	}
	if (fsck_scan(&f) == 0)
		fsck_repair(&f);
	status = fsck_exit_status(&f);
	if (f.o.json)
		fsck_report_json(&f, status);
	else
		fsck_report_text(&f, status);
	kv_close(f.kv);
	fsck_free(&f);
	return status;
}
