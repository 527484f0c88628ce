/*
 * canfs.c: the FUSE front end of the canfs shared file system.
 *
 *   canfs [options] SOURCE MOUNTPOINT
 *   canfs SOURCE MOUNTPOINT -o opt1,opt2     (mount.fuse3, fstab)
 *
 * SOURCE names the canfsd daemon(s): unix:PATH or HOST:PORT, several
 * separated by commas for failover.  canfs connects first (an unreachable
 * daemon fails the mount with a message), makes sure the root directory
 * exists, mounts, and then serves in the background (-f: foreground).
 */
#include "fs.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bg.h"
#include "client.h"
#include "dir.h"
#include "inode.h"
#include "kv.h"
#include "lease.h"
#include "locks.h"
#include "log.h"
#include "meta.h"
#include "itab.h"
#include "ops.h"
#include "reap.h"
#include "secure.h"

#define CANFS_VERSION "0.1"
/*
 * Bytes of a small file kept in its inode (meta.h).  64 KiB holds 95% of
 * the files of /usr/include, /usr/share/doc and Python's library on the
 * development machine (78% are under 16 KiB): each of them is written
 * and closed in one store update and read with no request after open,
 * for at most 64 KiB more in every read of its inode.
 */
#define CANFS_INLINE_DEFAULT 65536u

/* Command-line options of our own (the rest go to libfuse). */
struct canfs_opts {
	char *source;
	double entry_timeout;
	double negative_timeout;
	double attr_timeout;
	unsigned io_timeout;	/* seconds */
	unsigned conns;
	unsigned bg_threads;
	unsigned readahead;
	unsigned max_dirty;
	unsigned patch;		/* partial chunk writes as patches */
	unsigned lock_lease;	/* seconds */
	int read_ahead_kb;	/* kernel readahead; -1: our choice */
	char *chunk_size;
	char *inline_max;
	char *dir_shard_size;
	char *log_file;
	char *log_level;
	char *secret_file;
	int no_default_permissions;
	enum atime_mode atime;	/* relatime, strictatime, noatime */
	bool nodiratime;
	bool readonly;		/* ro (or -r) given */
	int show_help;
	int show_version;
};

enum { CANFS_KEY_HELP, CANFS_KEY_VERSION, CANFS_KEY_ATIME, CANFS_KEY_RO,
    CANFS_KEY_RW };

#define CANFS_OPT(t, f, v) { t, offsetof(struct canfs_opts, f), v }
static const struct fuse_opt canfs_optspec[] = {
	CANFS_OPT("entry_timeout=%lf", entry_timeout, 0),
	CANFS_OPT("negative_timeout=%lf", negative_timeout, 0),
	CANFS_OPT("attr_timeout=%lf", attr_timeout, 0),
	CANFS_OPT("io_timeout=%u", io_timeout, 0),
	CANFS_OPT("conns=%u", conns, 0),
	CANFS_OPT("bg_threads=%u", bg_threads, 0),
	CANFS_OPT("readahead=%u", readahead, 0),
	CANFS_OPT("max_dirty=%u", max_dirty, 0),
	CANFS_OPT("patch=%u", patch, 0),
	CANFS_OPT("lock_lease=%u", lock_lease, 0),
	CANFS_OPT("read_ahead_kb=%d", read_ahead_kb, 0),
	CANFS_OPT("chunk_size=%s", chunk_size, 0),
	CANFS_OPT("inline_max=%s", inline_max, 0),
	CANFS_OPT("dir_shard_size=%s", dir_shard_size, 0),
	CANFS_OPT("log=%s", log_file, 0),
	CANFS_OPT("log_level=%s", log_level, 0),
	CANFS_OPT("secret_file=%s", secret_file, 0),
	CANFS_OPT("--secret-file=%s", secret_file, 0),
	CANFS_OPT("--secret-file %s", secret_file, 0),
	CANFS_OPT("no_default_permissions", no_default_permissions, 1),
	FUSE_OPT_KEY("relatime", CANFS_KEY_ATIME),
	FUSE_OPT_KEY("norelatime", CANFS_KEY_ATIME),
	FUSE_OPT_KEY("strictatime", CANFS_KEY_ATIME),
	FUSE_OPT_KEY("nostrictatime", CANFS_KEY_ATIME),
	FUSE_OPT_KEY("atime", CANFS_KEY_ATIME),
	FUSE_OPT_KEY("noatime", CANFS_KEY_ATIME),
	FUSE_OPT_KEY("diratime", CANFS_KEY_ATIME),
	FUSE_OPT_KEY("nodiratime", CANFS_KEY_ATIME),
	FUSE_OPT_KEY("lazytime", CANFS_KEY_ATIME),
	FUSE_OPT_KEY("nolazytime", CANFS_KEY_ATIME),
	FUSE_OPT_KEY("ro", CANFS_KEY_RO),
	FUSE_OPT_KEY("-r", CANFS_KEY_RO),
	FUSE_OPT_KEY("rw", CANFS_KEY_RW),
	FUSE_OPT_KEY("-h", CANFS_KEY_HELP),
	FUSE_OPT_KEY("--help", CANFS_KEY_HELP),
	FUSE_OPT_KEY("-V", CANFS_KEY_VERSION),
	FUSE_OPT_KEY("--version", CANFS_KEY_VERSION),
	FUSE_OPT_END
};

/* Print usage. */
static void
canfs_usage(const char *prog)
{
	printf(
"usage: %s [options] SOURCE MOUNTPOINT\n"
"       %s SOURCE MOUNTPOINT -o opt[,opt...]\n"
"\n"
"Mount the canfs shared file system served by canfsd.  SOURCE is\n"
"unix:PATH or HOST:PORT; list several, comma-separated, to fail over.\n"
"\n"
"canfs options:\n"
"    -o entry_timeout=S     seconds the kernel caches names (default 1)\n"
"    -o negative_timeout=S  seconds the kernel caches missing names\n"
"                           (default 0: files made elsewhere show at once)\n"
"    -o attr_timeout=S      seconds the kernel caches attributes (default 1)\n"
"    -o io_timeout=S        limit of each daemon request (default 40: more\n"
"                           than the daemon's own 30 s of retries)\n"
"    -o conns=N             requests in flight to the daemon, 8 per\n"
"                           connection (default 32)\n"
"    -o bg_threads=N        background I/O threads, 0..64 (default 16;\n"
"                           0: each job runs in the request asking for it)\n"
"    -o readahead=N         chunks read ahead of sequential reads (default 4)\n"
"    -o read_ahead_kb=N     the kernel's readahead for this mount, set in\n"
"                           /sys/class/bdi when we may (root); default\n"
"                           1024, 0 leaves the kernel's 128\n"
"    -o max_dirty=N         dirty chunk buffers per open file (default 16)\n"
"    -o patch=0|1           send a partial chunk write as its changed bytes\n"
"                           (default 1; 0: read the chunk, merge, write it\n"
"                           whole, for daemons older than 0.9)\n"
"    -o chunk_size=BYTES    chunk size of new files, 4K..4M (default 1M)\n"
"    -o inline_max=BYTES    small files up to this size keep their data in\n"
"                           their inode, 0..64K (default 64K; 0: never)\n"
"    -o dir_shard_size=BYTES  a directory shard splits when a change would\n"
"                           make it larger, 1K..4M (default 32K)\n"
"    -o lock_lease=S        seconds a lock (or the rename lease) outlives\n"
"                           a dead or cut-off mount, 3..3600 (default 30)\n"
"    -o secret_file=PATH    the cluster secret for TCP daemons (also\n"
"    --secret-file PATH     $CANFS_SECRET_FILE); unix: sources need none\n"
"    -o log=FILE            log to FILE (in the background: else nowhere)\n"
"    -o log_level=LEVEL     error, warn, info or debug (default warn)\n"
"    -o relatime            a read sets a file's or directory's access\n"
"                           time when it is not newer than the mtime or\n"
"                           ctime, or a day old (default; written in the\n"
"                           background)\n"
"    -o strictatime         a read always sets the access time (the kernel\n"
"                           then keeps no cached pages across opens)\n"
"    -o noatime             reads never set it (utimensat(2) still does)\n"
"    -o nodiratime          listings never set a directory's access time\n"
"    -o no_default_permissions  no permission checks at all (default:\n"
"                           the kernel checks modes and owners)\n"
"    -o allow_other         let other users in (needs user_allow_other in\n"
"                           /etc/fuse.conf unless mounted by root)\n"
"    -h, --help             this text and the libfuse options\n"
"    -V, --version          print the version\n"
"\n", prog, prog);
}

/* Sort positional arguments: SOURCE first, the mountpoint to libfuse. */
/*
 * Options of an fstab line meant for mount(8) and systemd, not for the
 * file system, that mount.fuse3 passes on: dropped here (libfuse would
 * refuse them and fail the mount).
 */
static bool
canfs_fstab_only(const char *arg)
{
	static const char *const words[] = { "defaults", "_netdev",
	    "nofail", "auto", "noauto", "user", "users", "nouser", "owner",
	    "group", NULL };

	if (strncmp(arg, "x-", 2) == 0 || strncmp(arg, "comment=", 8) == 0)
		return true;
	for (int i = 0; words[i] != NULL; i++) {
		if (strcmp(arg, words[i]) == 0)
			return true;
	}
	return false;
}

static int
canfs_opt_proc(void *data, const char *arg, int key, struct fuse_args *out)
{
	struct canfs_opts *o = data;

	(void)out;
	switch (key) {
	case FUSE_OPT_KEY_NONOPT:
		if (o->source == NULL) {
			o->source = strdup(arg);
			return 0;
		}
		return 1;
	case CANFS_KEY_HELP:
		o->show_help = 1;
		return 0;
	case CANFS_KEY_VERSION:
		o->show_version = 1;
		return 0;
	case CANFS_KEY_ATIME:
		(void)atime_option(arg, &o->atime, &o->nodiratime);
		/* Of these, libfuse 3 passes only (no)atime to the kernel. */
		return strcmp(arg, "noatime") == 0 || strcmp(arg, "atime") == 0;
	case CANFS_KEY_RO:
	case CANFS_KEY_RW:
		o->readonly = key == CANFS_KEY_RO;
		return 1; /* for libfuse too: a kernel mount flag */
	case FUSE_OPT_KEY_OPT:
		return !canfs_fstab_only(arg);
	}
	return 1;
}

/* Parse "1048576", "512K", "1M".  0 on bad input. */
static uint32_t
canfs_parse_size(const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s)
		return 0;
	if (*end == 'k' || *end == 'K')
		v <<= 10, end++;
	else if (*end == 'm' || *end == 'M')
		v <<= 20, end++;
	if (*end != '\0' || v > UINT32_MAX)
		return 0;
	return (uint32_t)v;
}

/* Check our options and fill fs->o.  -1 with a message on bad values. */
static int
canfs_check_opts(const struct canfs_opts *co, struct fs_opts *o)
{
	o->entry_timeout = co->entry_timeout;
	o->negative_timeout = co->negative_timeout;
	o->attr_timeout = co->attr_timeout;
	o->timeout_ms = (int)co->io_timeout * 1000;
	o->conns = (int)co->conns;
	o->bg_threads = (int)co->bg_threads;
	o->readahead = (int)co->readahead;
	o->max_dirty = (int)co->max_dirty;
	o->patch = co->patch != 0;
	o->lock_lease_ms = (int)co->lock_lease * 1000;
	o->atime = co->atime;
	o->nodiratime = co->nodiratime;
	o->readonly = co->readonly;
	o->chunk_size = META_CHUNK_DEFAULT;
	if (co->chunk_size != NULL)
		o->chunk_size = canfs_parse_size(co->chunk_size);
	o->dir_shard_size = DIR_SHARD_SIZE_DEFAULT;
	if (co->dir_shard_size != NULL)
		o->dir_shard_size = canfs_parse_size(co->dir_shard_size);
	if (o->dir_shard_size < DIR_SHARD_SIZE_MIN ||
	    o->dir_shard_size > WIRE_MAX_VALUE) {
		fprintf(stderr, "canfs: dir_shard_size must be 1K..4M\n");
		return -1;
	}
	if (o->entry_timeout < 0 || o->entry_timeout > 3600 ||
	    o->negative_timeout < 0 || o->negative_timeout > 3600 ||
	    o->attr_timeout < 0 || o->attr_timeout > 3600) {
		fprintf(stderr, "canfs: timeouts must be 0..3600 seconds\n");
		return -1;
	}
	if (co->io_timeout < 1 || co->io_timeout > 3600 || co->conns < 1 ||
	    co->conns > 256 || co->bg_threads > 64 || co->readahead > 64 ||
	    co->max_dirty < 1 || co->max_dirty > 256 || co->patch > 1) {
		fprintf(stderr, "canfs: io_timeout 1..3600, conns 1..256, "
		    "bg_threads 0..64, readahead 0..64, max_dirty 1..256, "
		    "patch 0..1\n");
		return -1;
	}
	if (co->lock_lease < 3 || co->lock_lease > 3600) {
		fprintf(stderr, "canfs: lock_lease must be 3..3600 seconds\n");
		return -1;
	}
	if (o->chunk_size < META_CHUNK_MIN || o->chunk_size > META_CHUNK_MAX ||
	    o->chunk_size % META_CHUNK_MIN != 0) {
		fprintf(stderr, "canfs: chunk_size must be a multiple of 4K "
		    "from 4K to 4M\n");
		return -1;
	}
	o->inline_max = CANFS_INLINE_DEFAULT;
	if (co->inline_max != NULL) {
		o->inline_max = canfs_parse_size(co->inline_max);
		if ((o->inline_max == 0 && strcmp(co->inline_max, "0") != 0) ||
		    o->inline_max > META_INLINE_MAX) {
			fprintf(stderr, "canfs: inline_max must be 0..64K "
			    "bytes\n");
			return -1;
		}
	}
	return 0;
}

/* A path as /proc/self/mountinfo writes it (octal escapes for blanks). */
static void
canfs_escape(const char *in, char *out, size_t outlen)
{
	size_t o = 0;

	for (; *in != '\0' && o + 5 < outlen; in++) {
		if (*in == ' ' || *in == '\t' || *in == '\n' || *in == '\\')
			o += (size_t)snprintf(out + o, outlen - o, "\\%03o",
			    (unsigned char)*in);
		else
			out[o++] = *in;
	}
	out[o] = '\0';
}

/* Load the cluster secret for TCP connections.  -1 with a message. */
static int
canfs_secret(const struct canfs_opts *co)
{
	const char *path = co->secret_file;
	struct secure_key k;
	char err[512];

	if (path == NULL)
		path = getenv("CANFS_SECRET_FILE");
	if (path == NULL || path[0] == '\0')
		return 0;
	if (secure_key_load(path, &k, err, sizeof err) != 0) {
		fprintf(stderr, "canfs: %s\n", err);
		return -1;
	}
	client_set_secret(&k);
	secure_key_wipe(&k);
	return 0;
}

/* Make sure the root directory exists (concurrent first mounts agree). */
static int
canfs_root(struct fs *fs)
{
	struct itab_ent *n = itab_get(fs->nodes, META_ROOT_INO);
	struct meta_inode in;
	struct hash_key k;
	struct wbuf w;
	int rc;

	/* The directory object first: an inode always has its directory. */
	if ((rc = dir_create(fs, META_ROOT_INO)) != 0)
		goto out;
	rc = inode_read(fs, n, 0, &in, NULL);
	if (rc == -ENOENT) {
		meta_inode_init(&in);
		in.mode = S_IFDIR | 0755;
		in.uid = (uint32_t)getuid();
		in.gid = (uint32_t)getgid();
		in.nlink = 2;
		clock_gettime(CLOCK_REALTIME, &in.mtime);
		in.atime = in.ctime = in.mtime;
		in.chunk_size = META_CHUNK_DEFAULT;
		wbuf_init(&w);
		meta_inode_encode(&w, META_ROOT_INO, &in);
		meta_key_inode(META_ROOT_INO, &k);
		rc = kv_put(fs->kv, &k, w.p, w.len, WIRE_COND_ABSENT, 0, NULL);
		wbuf_free(&w);
		if (rc == 0)
			log_info("created the root directory");
		/* Or another mount did. */
		if (rc == 0 || rc == -KV_ECONFLICT)
			rc = inode_read(fs, n, 0, &in, NULL);
	}
	if (rc == 0 && !S_ISDIR(in.mode)) {
		fprintf(stderr, "canfs: inode 1 is not a directory\n");
		rc = -ENOTDIR;
	}
	if (rc == 0)
		meta_inode_free(&in);
out:
	if (rc != 0 && rc != -ENOTDIR)
		fprintf(stderr, "canfs: cannot set up the root directory: "
		    "%s\n", strerror(rc == -KV_ECONFLICT ? EIO : -rc));
	itab_put(fs->nodes, n);
	return rc;
}

/* Add the libfuse options we always want. */
static void
canfs_fuse_args(struct fuse_args *args, const struct canfs_opts *co)
{
	char *opts = NULL, *fsname;
	size_t len = strlen(co->source) + 8;

	fsname = malloc(len);
	snprintf(fsname, len, "fsname=%s", co->source);
	fuse_opt_add_opt_escaped(&opts, fsname);
	free(fsname);
	fuse_opt_add_opt(&opts, "subtype=canfs");
	if (!co->no_default_permissions)
		fuse_opt_add_opt(&opts, "default_permissions");
	fuse_opt_add_arg(args, "-o");
	fuse_opt_add_arg(args, opts);
	free(opts);
}

/*
 * Set the kernel's readahead for our mount (its bdi): the default 128 KiB
 * cuts sequential reads into small requests.  Only root may; anyone else
 * keeps the default.  The device number comes from /proc/self/mountinfo:
 * a stat() of the mountpoint would ask our own, not yet running, loop.
 */
static void
canfs_read_ahead(const char *mountpoint, int kb)
{
	char line[4096], mnt[PATH_MAX], dev[32] = "", path[96];
	FILE *f;

	if (kb <= 0 || (f = fopen("/proc/self/mountinfo", "r")) == NULL)
		return;
	while (fgets(line, sizeof line, f) != NULL) {
		char d[32], m[PATH_MAX], *type = strstr(line, " - fuse.canfs ");

		if (type != NULL && sscanf(line, "%*s %*s %31s %*s %4095s", d,
		    m) == 2) {
			/* mountinfo escapes blanks as \040 etc.; so do we. */
			canfs_escape(mountpoint, mnt, sizeof mnt);
			if (strcmp(m, mnt) == 0)
				snprintf(dev, sizeof dev, "%s", d);
		}
	}
	fclose(f);
	if (dev[0] == '\0')
		return;
	snprintf(path, sizeof path, "/sys/class/bdi/%s/read_ahead_kb", dev);
	if ((f = fopen(path, "w")) == NULL) {
		log_info("cannot set %s: %s", path, strerror(errno));
		return;
	}
	fprintf(f, "%d\n", kb);
	if (fclose(f) != 0)
		log_info("cannot set %s: %s", path, strerror(errno));
}

/* Serve until unmounted; returns the loop's result. */
static int
canfs_serve(struct fs *fs, const struct fuse_cmdline_opts *fo)
{
	struct fuse_loop_config *cfg;
	int rc;

	if (fo->singlethread)
		return fuse_session_loop(fs->se);
	cfg = fuse_loop_cfg_create();
	fuse_loop_cfg_set_clone_fd(cfg, (unsigned)fo->clone_fd);
	if (fo->max_idle_threads != UINT_MAX) /* UINT_MAX: not given */
		fuse_loop_cfg_set_idle_threads(cfg, fo->max_idle_threads);
	/* libfuse's default is 10; more lets readahead run in parallel. */
	fuse_loop_cfg_set_max_threads(cfg,
	    fo->max_threads == 10 ? 16 : fo->max_threads);
	rc = fuse_session_loop_mt(fs->se, cfg);
	fuse_loop_cfg_destroy(cfg);
	return rc;
}

/* Log the store counters at unmount. */
static void
canfs_log_stats(struct fs *fs)
{
	struct kv_stats st;

	kv_get_stats(fs->kv, &st);
	log_info("requests: %" PRIu64 " gets, %" PRIu64 " puts, %" PRIu64
	    " dels (%" PRIu64 " batches), %" PRIu64 " conflicts, %" PRIu64
	    " retries, %" PRIu64 " failovers, %" PRIu64 " errors; %" PRIu64
	    " bytes in, %" PRIu64 " out; mean ms: get %.2f, put %.2f, del "
	    "%.2f", st.gets, st.puts, st.dels, st.batches, st.conflicts,
	    st.retries, st.failovers, st.errors,
	    st.bytes_in, st.bytes_out,
	    st.gets ? st.get_us / 1000.0 / (double)st.gets : 0.0,
	    st.puts ? st.put_us / 1000.0 / (double)st.puts : 0.0,
	    st.dels ? st.del_us / 1000.0 / (double)st.dels : 0.0);
}

/* Parse everything; 0 to go on, else the exit status (+1: exit 0). */
static int
canfs_parse(struct fuse_args *args, struct canfs_opts *co,
    struct fuse_cmdline_opts *fo, struct fs *fs)
{
	int level;

	if (fuse_opt_parse(args, co, canfs_optspec, canfs_opt_proc) == -1)
		return 1;
	if (co->show_help) {
		canfs_usage(args->argv[0]);
		fuse_cmdline_help();
		fuse_lowlevel_help();
		return -1;
	}
	if (co->show_version) {
		printf("canfs %s (wire protocol %d)\n", CANFS_VERSION,
		    WIRE_VERSION);
		fuse_lowlevel_version();
		return -1;
	}
	if (fuse_parse_cmdline(args, fo) != 0)
		return 1;
	if (co->source == NULL || fo->mountpoint == NULL) {
		fprintf(stderr, "usage: canfs [options] SOURCE MOUNTPOINT "
		    "(canfs --help for more)\n");
		return 1;
	}
	level = fo->debug ? LOG_LVL_DEBUG : LOG_LVL_WARN;
	if (co->log_level != NULL &&
	    (level = log_parse_level(co->log_level)) < 0) {
		fprintf(stderr, "canfs: unknown log level %s\n", co->log_level);
		return 1;
	}
	log_init("canfs", level);
	if (canfs_check_opts(co, &fs->o) == -1)
		return 1;
	canfs_fuse_args(args, co);
	return 0;
}

/* Parse, connect, check the root, mount, serve, clean up. */
int
main(int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct canfs_opts co = { .entry_timeout = 1.0, .attr_timeout = 1.0,
	    .io_timeout = 40, .conns = 32, .bg_threads = 16, .readahead = 4,
	    .max_dirty = 16, .patch = 1, .read_ahead_kb = 1024,
	    .lock_lease = LOCKS_LEASE_DEFAULT_MS / 1000 };
	struct fuse_cmdline_opts fo;
	struct fs fs;
	char err[512];
	int rc, logfd = -1;

	memset(&fs, 0, sizeof fs);
	memset(&fo, 0, sizeof fo);
	if ((rc = canfs_parse(&args, &co, &fo, &fs)) != 0) {
		fuse_opt_free_args(&args);
		return rc < 0 ? 0 : rc;
	}
	rc = 1;
	if (co.log_file != NULL && (logfd = open(co.log_file,
	    O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644)) == -1) {
		fprintf(stderr, "canfs: %s: %s\n", co.log_file,
		    strerror(errno));
		goto out_args;
	}
	if (canfs_secret(&co) != 0)
		goto out_args;
	fs.nodes = itab_new();
	if ((fs.kv = kv_open(co.source, fs.o.conns, fs.o.timeout_ms, err,
	    sizeof err)) == NULL) {
		fprintf(stderr, "canfs: %s\n", err);
		goto out_nodes;
	}
	if (canfs_root(&fs) != 0)
		goto out_kv;
	fs.se = fuse_session_new(&args, &ops_table, sizeof ops_table, &fs);
	if (fs.se == NULL)
		goto out_kv;
	if (fuse_set_signal_handlers(fs.se) != 0)
		goto out_session;
	if (fuse_session_mount(fs.se, fo.mountpoint) != 0)
		goto out_signals;
	canfs_read_ahead(fo.mountpoint, co.read_ahead_kb);
	if (fuse_daemonize(fo.foreground) != 0)
		goto out_unmount;
	if (logfd != -1)
		dup2(logfd, STDERR_FILENO);
	log_info("mounted %s on %s", co.source, fo.mountpoint);
	fs.bg = bg_start(fs.o.bg_threads);
	fs.reap = reap_new(&fs);
	fs.lease = lease_new(fs.o.lock_lease_ms);
	if ((fs.locks = locks_new(&fs, fs.o.lock_lease_ms, err,
	    sizeof err)) == NULL) {
		log_error("%s", err);
		goto out_unmount;
	}
	rc = canfs_serve(&fs, &fo) != 0;
	/* Blocked lock requests get EINTR; our locks go at once. */
	locks_free(fs.locks);
	fs.locks = NULL;
out_unmount:
	fuse_session_unmount(fs.se);
out_signals:
	fuse_remove_signal_handlers(fs.se);
out_session:
	/* Runs ops_destroy (the last flush), which needs the workers. */
	fuse_session_destroy(fs.se);
	if (fs.reap != NULL && reap_pending(fs.reap) > 0)
		log_info("deleting %" PRIu64 " chunks of removed files before "
		    "exit", reap_pending(fs.reap));
	bg_stop(fs.bg);	/* works off the removal queue first */
	reap_free(fs.reap);
	lease_free(fs.lease);
	if (fs.bg != NULL)
		canfs_log_stats(&fs);
out_kv:
	kv_close(fs.kv);
out_nodes:
	itab_free(fs.nodes);
	if (logfd != -1)
		close(logfd);
out_args:
	free(fo.mountpoint);
	free(co.source);
	free(co.chunk_size);
	free(co.dir_shard_size);
	free(co.log_file);
	free(co.log_level);
	free(co.secret_file);
	fuse_opt_free_args(&args);
	return rc;
}
