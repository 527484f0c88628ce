/*
 * canfsd.c: the canfs overlay daemon.  Options (command line and
 * configuration file), data directory, signals, daemonizing, systemd
 * notification, and the event loop; the node does the rest.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "conf.h"
#include "conn.h"
#include "log.h"
#include "metrics.h"
#include "nbr.h"
#include "node.h"
#include "sdnotify.h"
#include "secure.h"

#define DEFAULT_LISTEN "127.0.0.1:7400"
#define DEFAULT_DATA "/var/lib/canfs"
#define DEFAULT_SOCKET "/run/canfs/canfsd.sock"
#define DEFAULT_CONF "/etc/canfs/canfsd.conf"

static struct event_base *canfsd_base;
static int canfsd_signals;

/* Options that do not belong to the node's configuration. */
struct canfsd_extra {
	char secret_file[512];		/* --secret-file, "" for none */
	gid_t socket_gid;		/* --socket-group */
	int have_socket_gid;
	int foreground;			/* --foreground */
	int level;			/* --log-level */
	char conf[512];			/* the file read, "" for none */
	int conf_given;			/* --config on the command line */
	int join_from_conf;		/* cfg->join came from the file */
	char metrics[WIRE_ADDR_MAX];	/* --metrics HOST:PORT, "" for none */
};

enum {
	OPT_HB = 256, OPT_FAIL, OPT_NODEID, OPT_SOCKMODE, OPT_REPAIR,
	OPT_TOMB, OPT_RATE, OPT_STORE, OPT_SECRET, OPT_SOCKGROUP, OPT_METRICS
};

#define CANFSD_SHORTOPTS "c:l:a:j:d:s:D:k:v:fh"

/*
 * Every option.  The configuration file's keys are the long names but
 * "config" and "help" (canfsd_conf_keys()).
 */
static const struct option canfsd_opts[] = {
	{ "config", required_argument, NULL, 'c' },
	{ "listen", required_argument, NULL, 'l' },
	{ "advertise", required_argument, NULL, 'a' },
	{ "join", required_argument, NULL, 'j' },
	{ "data", required_argument, NULL, 'd' },
	{ "socket", required_argument, NULL, 's' },
	{ "socket-mode", required_argument, NULL, OPT_SOCKMODE },
	{ "socket-group", required_argument, NULL, OPT_SOCKGROUP },
	{ "secret-file", required_argument, NULL, OPT_SECRET },
	{ "dims", required_argument, NULL, 'D' },
	{ "replicas", required_argument, NULL, 'k' },
	{ "heartbeat", required_argument, NULL, OPT_HB },
	{ "fail-after", required_argument, NULL, OPT_FAIL },
	{ "node-id", required_argument, NULL, OPT_NODEID },
	{ "repair-interval", required_argument, NULL, OPT_REPAIR },
	{ "tombstone-ttl", required_argument, NULL, OPT_TOMB },
	{ "repair-rate", required_argument, NULL, OPT_RATE },
	{ "store-size", required_argument, NULL, OPT_STORE },
	{ "metrics", required_argument, NULL, OPT_METRICS },
	{ "log-level", required_argument, NULL, 'v' },
	{ "foreground", no_argument, NULL, 'f' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};
#define CANFSD_NOPTS (sizeof canfsd_opts / sizeof canfsd_opts[0])

/* Where the option being applied comes from: a file's line, or argv. */
static const char *canfsd_from_file;	/* NULL: the command line */
static int canfsd_from_line;

static void
canfsd_usage(FILE *f)
{
	fprintf(f,
"usage: canfsd [options]\n"
"\n"
"Run one node of a canfs overlay (a CAN: Content-Addressable Network).\n"
"With no --join and no saved peers, start a new overlay owning the whole\n"
"key space; otherwise join the overlay through the given peer(s).\n"
"\n"
"  -c, --config FILE         settings to read first, lines 'KEY = VALUE'\n"
"                            with KEY a long option below without its\n"
"                            dashes; the command line overrides them\n"
"                            (default %s\n"
"                            if it exists; 'none' for no file)\n"
"  -l, --listen HOST:PORT    TCP address to listen on (default %s)\n"
"  -a, --advertise HOST:PORT address peers should use to reach this node\n"
"                            (default: the --listen address; required when\n"
"                            listening on 0.0.0.0)\n"
"  -j, --join HOST:PORT[,..] bootstrap peer(s) of an existing overlay; may\n"
"                            be repeated (up to %d)\n"
"  -d, --data DIR            data directory: node id, saved peers, objects\n"
"                            (default %s; kept at mode 0700)\n"
"  -s, --socket PATH         local client socket (default %s;\n"
"                            'none' for no socket)\n"
"      --socket-mode MODE    permissions of the socket, octal (default 0660)\n"
"      --socket-group GROUP  group of the socket (name or number; default\n"
"                            the daemon's): its members may use the daemon\n"
"      --secret-file PATH    the cluster secret (make one with 'canctl\n"
"                            init-secret PATH'; mode 0600, the same file on\n"
"                            every member).  Every TCP connection must then\n"
"                            prove it holds the secret and is encrypted;\n"
"                            the Unix socket is guarded by its mode and\n"
"                            group.  Without it the overlay is open to\n"
"                            anyone who can reach it (a warning is logged)\n"
"  -D, --dims D              dimensions of the key space, 1-%d (default 2);\n"
"                            every node of an overlay must use the same\n"
"  -k, --replicas K          copies of every object (default 3)\n"
"      --heartbeat MS        heartbeat interval in ms (default 1000)\n"
"      --fail-after N        intervals of silence before a neighbour is\n"
"                            suspected and probed (default 3); declared\n"
"                            failed if still silent one interval later\n"
"      --node-id HEX         use this node id instead of the saved one\n"
"      --repair-interval SEC seconds between anti-entropy passes (default 30)\n"
"      --repair-rate MIBPS   bandwidth for repair pushes, MiB/s (default 100)\n"
"      --tombstone-ttl SEC   how long deletes are remembered (default 86400);\n"
"                            a node down longer must rejoin with an empty\n"
"                            data directory\n"
"      --store-size MIB      largest size of the local store (default 65536;\n"
"                            sparse: disk is used only as data arrives)\n"
"      --metrics HOST:PORT   serve the node's metrics for Prometheus over\n"
"                            HTTP at http://HOST:PORT/metrics (numeric\n"
"                            address, e.g. 127.0.0.1:9474; default none:\n"
"                            off).  Anyone who can reach it can read them\n"
"  -v, --log-level LEVEL     error, warn, info or debug (default info)\n"
"  -f, --foreground          stay in the foreground and log to stderr (in\n"
"                            the file: foreground = yes)\n"
"  -h, --help                show this help\n"
"\n"
"SIGQUIT stops the node without leaving: it keeps its zones and replicas\n"
"and resumes them when started again on the same data directory (use it\n"
"for reboots, upgrades, or stopping a whole overlay).\n"
"SIGTERM or SIGINT (or 'canctl leave') makes the node leave gracefully:\n"
"its zones are handed to a neighbour before it exits.  A second signal\n"
"exits at once (neighbours then take over after --fail-after beats).\n"
"Under systemd (NOTIFY_SOCKET set) the daemon reports READY=1 once it is\n"
"active in the overlay, and its zones and neighbours in STATUS=.\n",
	    DEFAULT_CONF, DEFAULT_LISTEN, NODE_MAX_JOIN, DEFAULT_DATA,
	    DEFAULT_SOCKET, GEOM_MAX_DIMS);
}

/*
 * Print an error, prefixed with the file and line when it is about a
 * setting of the configuration file, and exit 2.
 */
static void __attribute__((noreturn, format(printf, 1, 2)))
canfsd_bad_usage(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "canfsd: ");
	if (canfsd_from_file != NULL)
		fprintf(stderr, "%s:%d: ", canfsd_from_file, canfsd_from_line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (canfsd_from_file == NULL)
		fprintf(stderr, "\nTry 'canfsd --help'.\n");
	else
		fprintf(stderr, "\n");
	exit(2);
}

/* How an option is named in messages: "--name" on the command line. */
static const char *
canfsd_dash(void)
{
	return canfsd_from_file != NULL ? "" : "--";
}

/* Parse a bounded decimal integer option. */
static int
canfsd_int(const char *opt, const char *s, int lo, int hi)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
		canfsd_bad_usage("%s%s must be a number from %d to %d, not '%s'",
		    canfsd_dash(), opt, lo, hi, s);
	return (int)v;
}

/* Add comma-separated bootstrap peers. */
static void
canfsd_add_join(struct node_config *cfg, const char *arg)
{
	char *copy = strdup(arg), *save = NULL;

	if (copy == NULL)
		canfsd_bad_usage("out of memory");
	for (char *tok = strtok_r(copy, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save)) {
		if (cfg->njoin >= NODE_MAX_JOIN)
			canfsd_bad_usage("at most %d %sjoin peers",
			    NODE_MAX_JOIN, canfsd_dash());
		if (strlen(tok) >= WIRE_ADDR_MAX || strchr(tok, ':') == NULL)
			canfsd_bad_usage("%sjoin wants HOST:PORT, not '%s'",
			    canfsd_dash(), tok);
		snprintf(cfg->join[cfg->njoin++], WIRE_ADDR_MAX, "%s", tok);
	}
	free(copy);
}

/* Create dir (and parents) with the given mode if missing. */
static int
canfsd_mkdirs(const char *dir, mode_t mode)
{
	char path[512];

	snprintf(path, sizeof path, "%s", dir);
	for (char *p = path + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0755) != 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(path, mode) != 0 && errno != EEXIST)
		return -1;
	return 0;
}

/* The defaults, before the file and the command line. */
static void
canfsd_defaults(struct node_config *cfg, struct canfsd_extra *x)
{
	memset(cfg, 0, sizeof *cfg);
	memset(x, 0, sizeof *x);
	snprintf(cfg->listen, sizeof cfg->listen, "%s", DEFAULT_LISTEN);
	snprintf(cfg->data_dir, sizeof cfg->data_dir, "%s", DEFAULT_DATA);
	snprintf(cfg->socket_path, sizeof cfg->socket_path, "%s",
	    DEFAULT_SOCKET);
	cfg->socket_mode = 0660;
	cfg->dims = 2;
	cfg->replicas = 3;
	cfg->hb_ms = 1000;
	cfg->fail_after = 3;
	cfg->repair_sec = 30;
	cfg->tombstone_sec = 86400;
	cfg->repair_mbps = 100;
	cfg->store_map_mb = 65536;
	x->level = LOG_LVL_INFO;
}

/*
 * Addresses and paths: --listen, --advertise, --join, --data, --socket,
 * --secret-file.  A --join on the command line replaces the file's.
 */
static void
canfsd_apply_addr(struct node_config *cfg, struct canfsd_extra *x,
    const struct option *o, const char *arg)
{
	switch (o->val) {
	case 'l':
	case 'a':
		if (strlen(arg) >= WIRE_ADDR_MAX || strchr(arg, ':') == NULL)
			canfsd_bad_usage("%s%s wants HOST:PORT, not '%s'",
			    canfsd_dash(), o->name, arg);
		snprintf(o->val == 'l' ? cfg->listen : cfg->advertise,
		    WIRE_ADDR_MAX, "%s", arg);
		break;
	case 'j':
		if (canfsd_from_file == NULL && x->join_from_conf)
			cfg->njoin = 0;
		x->join_from_conf = canfsd_from_file != NULL;
		canfsd_add_join(cfg, arg);
		break;
	case 'd':
		if (strlen(arg) >= sizeof cfg->data_dir - 16)
			canfsd_bad_usage("%sdata path too long", canfsd_dash());
		snprintf(cfg->data_dir, sizeof cfg->data_dir, "%s", arg);
		break;
	case 's':
		if (strlen(arg) >= 100)
			canfsd_bad_usage("%ssocket path too long (a Unix "
			    "socket path has 107 bytes)", canfsd_dash());
		snprintf(cfg->socket_path, sizeof cfg->socket_path, "%s",
		    strcmp(arg, "none") == 0 ? "" : arg);
		break;
	case OPT_METRICS:
		if (strcmp(arg, "none") == 0) {
			x->metrics[0] = '\0';
			break;
		}
		if (strlen(arg) >= sizeof x->metrics || !metrics_addr_ok(arg))
			canfsd_bad_usage("%smetrics wants a numeric HOST:PORT "
			    "(port 1-65535) or none, not '%s'", canfsd_dash(),
			    arg);
		snprintf(x->metrics, sizeof x->metrics, "%s", arg);
		break;
	case OPT_SECRET:
		if (strlen(arg) >= sizeof x->secret_file)
			canfsd_bad_usage("%ssecret-file path too long",
			    canfsd_dash());
		snprintf(x->secret_file, sizeof x->secret_file, "%s", arg);
		break;
	}
}

/* --socket-group: a group name or number. */
static void
canfsd_apply_group(struct canfsd_extra *x, const char *arg)
{
	struct group *gr = getgrnam(arg);
	char *end;
	long gid;

	if (gr != NULL) {
		x->socket_gid = gr->gr_gid;
	} else {
		errno = 0;
		gid = strtol(arg, &end, 10);
		if (errno != 0 || end == arg || *end != '\0' || gid < 0)
			canfsd_bad_usage("%ssocket-group: no group '%s'",
			    canfsd_dash(), arg);
		x->socket_gid = (gid_t)gid;
	}
	x->have_socket_gid = 1;
}

/* yes/no for a flag set in the file (the command line has no "no"). */
static int
canfsd_bool(const char *opt, const char *arg)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };

	if (arg == NULL)
		return 1;
	for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
		if (strcmp(arg, yes[i]) == 0)
			return 1;
		if (strcmp(arg, no[i]) == 0)
			return 0;
	}
	canfsd_bad_usage("%s wants yes or no, not '%s'", opt, arg);
}

/* --socket-mode, --node-id, --log-level, --foreground. */
static void
canfsd_apply_misc(struct node_config *cfg, struct canfsd_extra *x,
    const struct option *o, const char *arg)
{
	char *end;

	switch (o->val) {
	case OPT_SOCKMODE:
		errno = 0;
		cfg->socket_mode = (int)strtol(arg, &end, 8);
		if (errno != 0 || end == arg || *end != '\0' ||
		    cfg->socket_mode < 0 || cfg->socket_mode > 0777)
			canfsd_bad_usage("%ssocket-mode wants an octal mode "
			    "such as 0660, not '%s'", canfsd_dash(), arg);
		break;
	case OPT_SOCKGROUP:
		canfsd_apply_group(x, arg);
		break;
	case OPT_NODEID:
		errno = 0;
		cfg->node_id = strtoull(arg, &end, 16);
		if (errno != 0 || end == arg || *end != '\0' ||
		    cfg->node_id == 0)
			canfsd_bad_usage("%snode-id wants a non-zero hex "
			    "number, not '%s'", canfsd_dash(), arg);
		break;
	case 'v':
		if ((x->level = log_parse_level(arg)) < 0)
			canfsd_bad_usage("unknown log level '%s'", arg);
		break;
	case 'f':
		x->foreground = canfsd_bool(o->name, arg);
		break;
	}
}

/* The numbers: --dims, --replicas, --heartbeat, ... */
static void
canfsd_apply_num(struct node_config *cfg, const struct option *o,
    const char *arg)
{
	switch (o->val) {
	case 'D':
		cfg->dims = canfsd_int(o->name, arg, 1, GEOM_MAX_DIMS);
		break;
	case 'k':
		cfg->replicas = canfsd_int(o->name, arg, 1, 16);
		break;
	case OPT_HB:
		cfg->hb_ms = canfsd_int(o->name, arg, 10, 600000);
		break;
	case OPT_FAIL:
		cfg->fail_after = canfsd_int(o->name, arg, 2, 1000);
		break;
	case OPT_REPAIR:
		cfg->repair_sec = canfsd_int(o->name, arg, 1, 86400);
		break;
	case OPT_TOMB:
		cfg->tombstone_sec = canfsd_int(o->name, arg, 1, 365 * 86400);
		break;
	case OPT_RATE:
		cfg->repair_mbps = canfsd_int(o->name, arg, 1, 100000);
		break;
	case OPT_STORE:
		cfg->store_map_mb = (size_t)canfsd_int(o->name, arg, 1,
		    1 << 30);
		break;
	}
}

/* Apply one option from the command line or the file; exits if bad. */
static void
canfsd_apply(struct node_config *cfg, struct canfsd_extra *x,
    const struct option *o, const char *arg)
{
	switch (o->val) {
	case 'l': case 'a': case 'j': case 'd': case 's': case OPT_SECRET:
	case OPT_METRICS:
		canfsd_apply_addr(cfg, x, o, arg);
		break;
	case OPT_SOCKMODE: case OPT_SOCKGROUP: case OPT_NODEID: case 'v':
	case 'f':
		canfsd_apply_misc(cfg, x, o, arg);
		break;
	default:
		canfsd_apply_num(cfg, o, arg);
		break;
	}
}

/* The option whose getopt value is ch (short or long alike). */
static const struct option *
canfsd_opt(int ch)
{
	for (const struct option *o = canfsd_opts; o->name != NULL; o++) {
		if (o->val == ch)
			return o;
	}
	return NULL;
}

/* The option of that long name (a key of the file: always one). */
static const struct option *
canfsd_opt_named(const char *name)
{
	for (const struct option *o = canfsd_opts; o->name != NULL; o++) {
		if (strcmp(o->name, name) == 0)
			return o;
	}
	fatalx("no option %s", name);
}

/*
 * First pass over argv: --help at once, and which configuration file to
 * read; the other options wait for the second pass, after the file.
 */
static void
canfsd_prescan(int argc, char **argv, struct canfsd_extra *x)
{
	int ch;

	opterr = 0;
	while ((ch = getopt_long(argc, argv, CANFSD_SHORTOPTS, canfsd_opts,
	    NULL)) != -1) {
		if (ch == 'h') {
			canfsd_usage(stdout);
			exit(0);
		}
		if (ch != 'c')
			continue;
		if (strlen(optarg) >= sizeof x->conf)
			canfsd_bad_usage("--config path too long");
		snprintf(x->conf, sizeof x->conf, "%s", optarg);
		x->conf_given = 1;
	}
	opterr = 1;
	optind = 0;	/* glibc: start over from scratch */
}

/*
 * Read the configuration file and apply its settings: the --config file,
 * else DEFAULT_CONF when it exists.  A file that cannot be read, a bad
 * line or a bad value is an error naming the file and line (exit 2).
 */
static void
canfsd_config(struct node_config *cfg, struct canfsd_extra *x)
{
	struct conf_key keys[CANFSD_NOPTS];
	struct conf_file cf;
	struct stat st;
	char err[1024];
	size_t nk = 0;

	if (!x->conf_given) {
		if (stat(DEFAULT_CONF, &st) != 0 && errno == ENOENT)
			return;
		snprintf(x->conf, sizeof x->conf, "%s", DEFAULT_CONF);
	}
	if (strcmp(x->conf, "none") == 0) {
		x->conf[0] = '\0';
		return;
	}
	for (const struct option *o = canfsd_opts; o->name != NULL; o++) {
		if (o->val == 'c' || o->val == 'h')
			continue;
		keys[nk].name = o->name;
		keys[nk++].flags = o->val == 'j' ? CONF_MULTI : 0;
	}
	keys[nk].name = NULL;
	if (conf_load(&cf, x->conf, keys, err, sizeof err) != 0) {
		fprintf(stderr, "canfsd: %s\n", err);
		exit(2);
	}
	canfsd_from_file = cf.path;
	for (size_t i = 0; i < cf.nentries; i++) {
		canfsd_from_line = cf.entries[i].line;
		canfsd_apply(cfg, x, canfsd_opt_named(cf.entries[i].key->name),
		    cf.entries[i].value);
	}
	canfsd_from_file = NULL;
	conf_free(&cf);
}

/*
 * The settings: defaults, then the configuration file, then the command
 * line, each overriding the one before.  Exits on bad usage.
 */
static void
canfsd_options(int argc, char **argv, struct node_config *cfg,
    struct canfsd_extra *x)
{
	const struct option *o;
	int ch;

	canfsd_defaults(cfg, x);
	canfsd_prescan(argc, argv, x);
	canfsd_config(cfg, x);
	while ((ch = getopt_long(argc, argv, CANFSD_SHORTOPTS, canfsd_opts,
	    NULL)) != -1) {
		if (ch == 'c')
			continue;
		if ((o = canfsd_opt(ch)) == NULL) {
			fprintf(stderr, "Try 'canfsd --help'.\n");
			exit(2);
		}
		canfsd_apply(cfg, x, o, optarg);
	}
	if (optind < argc)
		canfsd_bad_usage("unexpected argument '%s'", argv[optind]);
	if (cfg->advertise[0] == '\0' && (strncmp(cfg->listen, "0.0.0.0:",
	    8) == 0 || strncmp(cfg->listen, "[::]:", 5) == 0))
		canfsd_bad_usage("listening on all addresses needs "
		    "--advertise HOST:PORT");
}

/*
 * Load the cluster secret into the transport (before anything connects).
 * Returns 0, or -1 after printing why.
 */
static int
canfsd_secret(const struct canfsd_extra *x)
{
	struct secure_key k;
	char err[512];

	if (x->secret_file[0] == '\0')
		return 0;
	if (secure_key_load(x->secret_file, &k, err, sizeof err) != 0) {
		fprintf(stderr, "canfsd: %s\n", err);
		return -1;
	}
	transport_set_secret(&k);
	secure_key_wipe(&k);
	log_info("cluster secret from %s: TCP connections are "
	    "authenticated and encrypted", x->secret_file);
	return 0;
}

/* Keep the data directory private (0700): it holds every object. */
static int
canfsd_private_dir(const char *dir)
{
	struct stat st;

	if (stat(dir, &st) != 0)
		return -1;
	if ((st.st_mode & 077) == 0)
		return 0;
	log_warnx("data directory %s had mode %04o; making it 0700", dir,
	    (unsigned)(st.st_mode & 07777));
	return chmod(dir, 0700);
}

/* Give the local socket its --socket-group.  Returns 0 or -1 with err. */
static int
canfsd_socket_group(const struct node_config *cfg,
    const struct canfsd_extra *x, char *err, size_t errlen)
{
	if (!x->have_socket_gid || cfg->socket_path[0] == '\0')
		return 0;
	if (chown(cfg->socket_path, (uid_t)-1, x->socket_gid) != 0) {
		snprintf(err, errlen, "cannot give %.200s group %u: %s",
		    cfg->socket_path, (unsigned)x->socket_gid,
		    strerror(errno));
		return -1;
	}
	return 0;
}

static struct sdnotify canfsd_sn = { .fd = -1 };

/* The node has left: stop the loop once the goodbyes are written. */
static void
canfsd_on_left(struct node *n)
{
	struct timeval tv = { 0, 300000 };

	(void)n;
	log_info("left the overlay; exiting");
	sdnotify_stop(&canfsd_sn, "left the overlay");
	event_base_loopexit(canfsd_base, &tv);
}

/*
 * SIGQUIT: stop without leaving.  The zones and replicas stay in the data
 * directory and the node resumes them when restarted (a reboot, an
 * upgrade, stopping a whole overlay); neighbours take over only if it
 * stays away longer than --fail-after heartbeats.
 */
static void
canfsd_quit_cb(evutil_socket_t sig, short ev, void *arg)
{
	(void)ev;
	(void)arg;
	log_info("signal %d: stopping without leaving (zones kept for a "
	    "restart)", (int)sig);
	sdnotify_stop(&canfsd_sn, "stopping without leaving (zones "
	    "kept for a restart)");
	event_base_loopbreak(canfsd_base);
}

/* SIGTERM/SIGINT: leave gracefully; a second signal exits at once. */
static void
canfsd_signal_cb(evutil_socket_t sig, short ev, void *arg)
{
	struct node *n = arg;

	(void)ev;
	if (++canfsd_signals > 1) {
		log_warnx("signal %d again: exiting without handover",
		    (int)sig);
		sdnotify_stop(&canfsd_sn, "exiting without handover");
		event_base_loopbreak(canfsd_base);
		return;
	}
	log_info("signal %d: leaving the overlay", (int)sig);
	sdnotify_stop(&canfsd_sn, "leaving the overlay: handing zones "
	    "over");
	node_leave(n, canfsd_on_left);
}

/*
 * Detach from the terminal before starting, but let the parent report
 * whether the start worked: the child writes "" (ok) or an error message
 * to a pipe, and the parent exits 0 or 1 accordingly.  Returns the pipe's
 * write end in the child.  Logs go to DATA/canfsd.log.
 */
static int
canfsd_daemonize(const char *data_dir)
{
	char path[600], msg[600];
	int fds[2], fd;
	ssize_t got;
	pid_t pid;

	if (pipe(fds) != 0)
		fatal("pipe");
	if ((pid = fork()) < 0)
		fatal("fork");
	if (pid > 0) {
		close(fds[1]);
		got = read(fds[0], msg, sizeof msg - 1);
		if (got == 0) {
			fprintf(stderr, "canfsd: failed to start; see "
			    "%s/canfsd.log\n", data_dir);
			_exit(1);
		}
		msg[got < 0 ? 0 : got] = '\0';
		if (strcmp(msg, "ok") != 0) {
			fprintf(stderr, "canfsd: %s\n", msg);
			_exit(1);
		}
		_exit(0);
	}
	close(fds[0]);
	setsid();
	snprintf(path, sizeof path, "%s/canfsd.log", data_dir);
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd >= 0) {
		dup2(fd, STDERR_FILENO);
		close(fd);
	}
	fd = open("/dev/null", O_RDWR);
	if (fd >= 0) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
	return fds[1];
}

/*
 * The event loop.  With epoll, coalesce the changes of one loop turn into
 * one epoll_ctl per descriptor: every frame queued enables a write event
 * that the write then disables, which otherwise costs two system calls
 * per frame under load.  (Safe here: we never dup() a descriptor that is
 * in the loop.)
 */
static struct event_base *
canfsd_new_base(void)
{
	struct event_config *ec = event_config_new();
	struct event_base *b;

	if (ec == NULL)
		return NULL;
	event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	b = event_base_new_with_config(ec);
	event_config_free(ec);
	return b;
}

/* Log the settings in force, so that the log shows what the file did. */
static void
canfsd_log_settings(const struct node_config *cfg,
    const struct canfsd_extra *x)
{
	log_info("settings%s%s: listen %s, data %s, socket %s, dims %d, "
	    "replicas %d, heartbeat %d ms, fail-after %d, repair-interval "
	    "%d s, repair-rate %d MiB/s, tombstone-ttl %d s, store-size %zu "
	    "MiB, metrics %s, %d join peer%s", x->conf[0] != '\0' ? " from " :
	    "", x->conf, cfg->listen, cfg->data_dir,
	    cfg->socket_path[0] != '\0' ? cfg->socket_path : "none", cfg->dims,
	    cfg->replicas, cfg->hb_ms, cfg->fail_after, cfg->repair_sec,
	    cfg->repair_mbps, cfg->tombstone_sec, cfg->store_map_mb,
	    x->metrics[0] != '\0' ? x->metrics : "none", cfg->njoin,
	    cfg->njoin == 1 ? "" : "s");
}

/*
 * The data directory (private) and the socket's directory.  Returns 0,
 * or -1 after printing why.
 */
static int
canfsd_dirs(const struct node_config *cfg)
{
	char dir[512], *slash;

	if (canfsd_mkdirs(cfg->data_dir, 0700) != 0 ||
	    canfsd_private_dir(cfg->data_dir) != 0) {
		fprintf(stderr, "canfsd: cannot create data directory %s: %s\n",
		    cfg->data_dir, strerror(errno));
		return -1;
	}
	if (cfg->socket_path[0] == '\0')
		return 0;
	snprintf(dir, sizeof dir, "%s", cfg->socket_path);
	if ((slash = strrchr(dir, '/')) != NULL && slash != dir) {
		*slash = '\0';
		/* Searchable, so --socket-mode/--socket-group rule. */
		canfsd_mkdirs(dir, 0755);
	}
	return 0;
}

/* Run the loop until the node leaves or a signal stops it. */
static void
canfsd_run(struct node *n)
{
	struct event *sigterm, *sigint, *sigquit;

	sigterm = evsignal_new(canfsd_base, SIGTERM, canfsd_signal_cb, n);
	sigint = evsignal_new(canfsd_base, SIGINT, canfsd_signal_cb, n);
	sigquit = evsignal_new(canfsd_base, SIGQUIT, canfsd_quit_cb, n);
	if (sigterm == NULL || sigint == NULL || sigquit == NULL)
		fatalx("cannot create the signal events");
	evsignal_add(sigterm, NULL);
	evsignal_add(sigint, NULL);
	evsignal_add(sigquit, NULL);
	sdnotify_start(&canfsd_sn, n);
	event_base_dispatch(canfsd_base);
	sdnotify_free(&canfsd_sn);
	event_free(sigterm);
	event_free(sigint);
	event_free(sigquit);
}

int
main(int argc, char **argv)
{
	struct node_config cfg;
	struct canfsd_extra x;
	struct metrics *metrics = NULL;
	struct node *n;
	int ready_fd = -1, metrics_fd = -1;
	char err[512];

	canfsd_options(argc, argv, &cfg, &x);
	log_init("canfsd", x.level);
	signal(SIGPIPE, SIG_IGN);
	if (canfsd_secret(&x) != 0 || canfsd_dirs(&cfg) != 0)
		return 1;
	/* Bound now, so that a port in use is reported on the terminal. */
	if (x.metrics[0] != '\0' &&
	    (metrics_fd = metrics_listen(x.metrics, err, sizeof err)) == -1) {
		fprintf(stderr, "canfsd: %s\n", err);
		return 2;
	}
	if (!x.foreground)
		ready_fd = canfsd_daemonize(cfg.data_dir);
	canfsd_base = canfsd_new_base();
	if (canfsd_base == NULL || event_base_priority_init(canfsd_base, 3) != 0)
		fatalx("cannot create the event loop");
	canfsd_log_settings(&cfg, &x);
	if (x.secret_file[0] == '\0')
		log_warnx("WARNING: no --secret-file: this overlay is OPEN. "
		    "Anyone who can reach %s can join it, read, write and "
		    "delete every object and disturb routing, and all traffic "
		    "is plaintext.  Use this only on a trusted, isolated "
		    "network or for tests", cfg.listen);
	n = node_new(canfsd_base, &cfg);
	n->on_left = canfsd_on_left;
	if (node_start(n, err, sizeof err) != 0 ||
	    canfsd_socket_group(&cfg, &x, err, sizeof err) != 0 ||
	    (metrics_fd != -1 && (metrics = metrics_start(n, metrics_fd, err,
	    sizeof err)) == NULL)) {
		if (ready_fd >= 0 && write(ready_fd, err, strlen(err)) < 0)
			log_warn("pipe");
		fprintf(stderr, "canfsd: %s\n", err);
		return 1;
	}
	if (ready_fd >= 0) {
		if (write(ready_fd, "ok", 2) != 2)
			log_warn("pipe");
		close(ready_fd);
	}
	if (metrics != NULL)
		log_info("metrics at http://%s/metrics", x.metrics);
	canfsd_run(n);
	metrics_free(metrics);
	node_free(n);
	event_base_free(canfsd_base);
	return 0;
}
