/*
 * canfsd.c: the canfs overlay daemon.  Options, data directory, signals,
 * daemonizing, and the event loop; the node does the rest.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "conn.h"
#include "log.h"
#include "node.h"
#include "secure.h"

#define DEFAULT_LISTEN "127.0.0.1:7400"
#define DEFAULT_DATA "/var/lib/canfs"
#define DEFAULT_SOCKET "/run/canfs/canfsd.sock"

static struct event_base *canfsd_base;
static int canfsd_signals;

/* Options that do not belong to the node's configuration. */
struct canfsd_extra {
	const char *secret_file;	/* --secret-file, NULL for none */
	gid_t socket_gid;		/* --socket-group */
	int have_socket_gid;
};

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
"  -v, --log-level LEVEL     error, warn, info or debug (default info)\n"
"  -f, --foreground          stay in the foreground and log to stderr\n"
"  -h, --help                show this help\n"
"\n"
"SIGQUIT stops the node without leaving: it keeps its zones and replicas\n"
"and resumes them when started again on the same data directory (use it\n"
"for reboots, upgrades, or stopping a whole overlay).\n"
"SIGTERM or SIGINT (or 'canctl leave') makes the node leave gracefully:\n"
"its zones are handed to a neighbour before it exits.  A second signal\n"
"exits at once (neighbours then take over after --fail-after beats).\n",
	    DEFAULT_LISTEN, NODE_MAX_JOIN, DEFAULT_DATA, DEFAULT_SOCKET,
	    GEOM_MAX_DIMS);
}

/* Print an error and the usage hint, exit 2. */
static void __attribute__((noreturn, format(printf, 1, 2)))
canfsd_bad_usage(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "canfsd: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'canfsd --help'.\n");
	exit(2);
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
		canfsd_bad_usage("%s must be a number from %d to %d, not '%s'",
		    opt, lo, hi, s);
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
			canfsd_bad_usage("at most %d --join peers",
			    NODE_MAX_JOIN);
		if (strlen(tok) >= WIRE_ADDR_MAX || strchr(tok, ':') == NULL)
			canfsd_bad_usage("--join wants HOST:PORT, not '%s'",
			    tok);
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

/* Parse the command line into cfg; exits on bad usage. */
static void
canfsd_options(int argc, char **argv, struct node_config *cfg,
    struct canfsd_extra *x, int *foreground, int *level)
{
	enum { OPT_HB = 256, OPT_FAIL, OPT_NODEID, OPT_SOCKMODE, OPT_REPAIR,
	    OPT_TOMB, OPT_RATE, OPT_STORE, OPT_SECRET, OPT_SOCKGROUP };
	static const struct option opts[] = {
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
		{ "log-level", required_argument, NULL, 'v' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

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
	while ((ch = getopt_long(argc, argv, "l:a:j:d:s:D:k:v:fh", opts,
	    NULL)) != -1) {
		switch (ch) {
		case 'l':
		case 'a':
			if (strlen(optarg) >= WIRE_ADDR_MAX ||
			    strchr(optarg, ':') == NULL)
				canfsd_bad_usage("--%s wants HOST:PORT, not "
				    "'%s'", ch == 'l' ? "listen" : "advertise",
				    optarg);
			snprintf(ch == 'l' ? cfg->listen : cfg->advertise,
			    WIRE_ADDR_MAX, "%s", optarg);
			break;
		case 'j':
			canfsd_add_join(cfg, optarg);
			break;
		case 'd':
			if (strlen(optarg) >= sizeof cfg->data_dir - 16)
				canfsd_bad_usage("--data path too long");
			snprintf(cfg->data_dir, sizeof cfg->data_dir, "%s",
			    optarg);
			break;
		case 's':
			if (strlen(optarg) >= 100)
				canfsd_bad_usage("--socket path too long "
				    "(a Unix socket path has 107 bytes)");
			snprintf(cfg->socket_path, sizeof cfg->socket_path,
			    "%s", strcmp(optarg, "none") == 0 ? "" : optarg);
			break;
		case OPT_SOCKMODE: {
			char *end;

			cfg->socket_mode = (int)strtol(optarg, &end, 8);
			if (*end != '\0' || cfg->socket_mode < 0 ||
			    cfg->socket_mode > 0777)
				canfsd_bad_usage("--socket-mode wants an octal "
				    "mode such as 0660");
			break;
		}
		case OPT_SOCKGROUP: {
			struct group *gr = getgrnam(optarg);
			char *end;
			long gid;

			if (gr != NULL) {
				x->socket_gid = gr->gr_gid;
			} else {
				errno = 0;
				gid = strtol(optarg, &end, 10);
				if (errno != 0 || end == optarg || *end != '\0' ||
				    gid < 0)
					canfsd_bad_usage("--socket-group: no "
					    "group '%s'", optarg);
				x->socket_gid = (gid_t)gid;
			}
			x->have_socket_gid = 1;
			break;
		}
		case OPT_SECRET:
			x->secret_file = optarg;
			break;
		case 'D':
			cfg->dims = canfsd_int("--dims", optarg, 1,
			    GEOM_MAX_DIMS);
			break;
		case 'k':
			cfg->replicas = canfsd_int("--replicas", optarg, 1, 16);
			break;
		case OPT_HB:
			cfg->hb_ms = canfsd_int("--heartbeat", optarg, 10,
			    600000);
			break;
		case OPT_FAIL:
			cfg->fail_after = canfsd_int("--fail-after", optarg, 2,
			    1000);
			break;
		case OPT_REPAIR:
			cfg->repair_sec = canfsd_int("--repair-interval",
			    optarg, 1, 86400);
			break;
		case OPT_TOMB:
			cfg->tombstone_sec = canfsd_int("--tombstone-ttl",
			    optarg, 1, 365 * 86400);
			break;
		case OPT_RATE:
			cfg->repair_mbps = canfsd_int("--repair-rate", optarg,
			    1, 100000);
			break;
		case OPT_STORE:
			cfg->store_map_mb = (size_t)canfsd_int("--store-size",
			    optarg, 1, 1 << 30);
			break;
		case OPT_NODEID: {
			char *end;

			cfg->node_id = strtoull(optarg, &end, 16);
			if (*end != '\0' || cfg->node_id == 0)
				canfsd_bad_usage("--node-id wants a non-zero "
				    "hex number");
			break;
		}
		case 'v':
			if ((*level = log_parse_level(optarg)) < 0)
				canfsd_bad_usage("unknown log level '%s'",
				    optarg);
			break;
		case 'f':
			*foreground = 1;
			break;
		case 'h':
			canfsd_usage(stdout);
			exit(0);
		default:
			fprintf(stderr, "Try 'canfsd --help'.\n");
			exit(2);
		}
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

	if (x->secret_file == NULL)
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

/* The node has left: stop the loop once the goodbyes are written. */
static void
canfsd_on_left(struct node *n)
{
	struct timeval tv = { 0, 300000 };

	(void)n;
	log_info("left the overlay; exiting");
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
		event_base_loopbreak(canfsd_base);
		return;
	}
	log_info("signal %d: leaving the overlay", (int)sig);
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

int
main(int argc, char **argv)
{
	struct node_config cfg;
	struct canfsd_extra x;
	struct event *sigterm, *sigint, *sigquit;
	struct node *n;
	int foreground = 0, level = LOG_LVL_INFO, ready_fd = -1;
	char err[512];

	canfsd_options(argc, argv, &cfg, &x, &foreground, &level);
	log_init("canfsd", level);
	signal(SIGPIPE, SIG_IGN);
	if (canfsd_secret(&x) != 0)
		return 1;
	if (canfsd_mkdirs(cfg.data_dir, 0700) != 0 ||
	    canfsd_private_dir(cfg.data_dir) != 0) {
		fprintf(stderr, "canfsd: cannot create data directory %s: %s\n",
		    cfg.data_dir, strerror(errno));
		return 1;
	}
	if (cfg.socket_path[0] != '\0') {
		char dir[512], *slash;

		snprintf(dir, sizeof dir, "%s", cfg.socket_path);
		if ((slash = strrchr(dir, '/')) != NULL && slash != dir) {
			*slash = '\0';
			/* Searchable, so --socket-mode/--socket-group rule. */
			canfsd_mkdirs(dir, 0755);
		}
	}
	if (!foreground)
		ready_fd = canfsd_daemonize(cfg.data_dir);
	canfsd_base = canfsd_new_base();
	if (canfsd_base == NULL || event_base_priority_init(canfsd_base, 3) != 0)
		fatalx("cannot create the event loop");
	if (x.secret_file == NULL)
		log_warnx("WARNING: no --secret-file: this overlay is OPEN. "
		    "Anyone who can reach %s can join it, read, write and "
		    "delete every object and disturb routing, and all traffic "
		    "is plaintext.  Use this only on a trusted, isolated "
		    "network or for tests", cfg.listen);
	n = node_new(canfsd_base, &cfg);
	n->on_left = canfsd_on_left;
	if (node_start(n, err, sizeof err) != 0 ||
	    canfsd_socket_group(&cfg, &x, err, sizeof err) != 0) {
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
	sigterm = evsignal_new(canfsd_base, SIGTERM, canfsd_signal_cb, n);
	sigint = evsignal_new(canfsd_base, SIGINT, canfsd_signal_cb, n);
	sigquit = evsignal_new(canfsd_base, SIGQUIT, canfsd_quit_cb, n);
	evsignal_add(sigterm, NULL);
	evsignal_add(sigint, NULL);
	evsignal_add(sigquit, NULL);
	event_base_dispatch(canfsd_base);
	event_free(sigterm);
	event_free(sigint);
	event_free(sigquit);
	node_free(n);
	event_base_free(canfsd_base);
	return 0;
}
