/*
 * canctl_obj.c: canctl's object commands (see canctl_obj.h).
 *
 * put, get and rm are one object request each to the daemon, which
 * coordinates the replicas; they go over a multiplexed connection
 * (client_mux), the same path as canfs's requests.  repair pokes the
 * anti-entropy pass of one daemon or all.  verify needs no daemon support
 * beyond STATUS and LIST_REQ: it lists every node's replicas, up to
 * CTL_OBJ_LIST_WINDOW nodes at once (one connection each, its next page
 * requested as soon as the last one is in), and audits them against the
 * replica sets computed from the zone map (common/replset.h).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "canctl_obj.h"
#include "client.h"
#include "hash.h"
#include "json.h"
#include "progress.h"
#include "replset.h"
#include "resolve.h"
#include "wire.h"
#include "xmalloc.h"

/* verify must compute the replica sets exactly as the daemons do. */
_Static_assert(REPLSET_MAX == RESOLVE_MAX, "replset.h and resolve.h differ");
_Static_assert(REPLSET_PROBES(1) == RESOLVE_PROBES(1) &&
    REPLSET_PROBES(3) == RESOLVE_PROBES(3) &&
    REPLSET_PROBES(16) == RESOLVE_PROBES(16),
    "replset.h and resolve.h differ");

#define CTL_OBJ_PROBLEMS 20	/* problem keys verify lists */
#define CTL_OBJ_PROBLEMS_TXT "20"
#define CTL_OBJ_NAME_TXT 256	/* an escaped KEY in messages */
#define CTL_OBJ_LIST_WINDOW 8	/* nodes verify lists at once */

/* A KEY operand: its key, and how to name it in messages. */
struct ctl_obj_key {
	struct hash_key key;
	char hex[33];
	char name[CTL_OBJ_NAME_TXT]; /* escaped for printing */
};

/* Take an object option into o (see canctl_obj.h). */
int
ctl_obj_option(int ch, const char *arg, struct ctl_opts *o)
{
	switch (ch) {
	case CTL_OPT_IF_VERSION:
		if (ctl_number(arg, 0, UINT64_MAX, &o->if_version) == -1)
			ctl_usage("bad --if-version \"%s\": a version number "
			    "(decimal, as put prints it)", arg);
		o->have_if_version = true;
		return 0;
	case CTL_OPT_IF_ABSENT:
		o->if_absent = true;
		return 0;
	case CTL_OPT_HEX:
		o->key_hex = true;
		return 0;
	case CTL_OPT_META:
		o->meta = true;
		return 0;
	case CTL_OPT_ALL:
		o->all = true;
		return 0;
	}
	return -1;
}

/* Check object options against cmd (see canctl_obj.h). */
bool
ctl_obj_check_opts(const struct ctl_opts *o, const char *cmd, int nargs)
{
	bool put = strcmp(cmd, "put") == 0, get = strcmp(cmd, "get") == 0,
	    rm = strcmp(cmd, "rm") == 0, repair = strcmp(cmd, "repair") == 0,
	    verify = strcmp(cmd, "verify") == 0,
	    batch = strcmp(cmd, "batch") == 0;

	if (o->key_hex && !put && !get && !rm)
		ctl_usage("--hex goes with put, get and rm");
	if (o->have_if_version && !put && !rm)
		ctl_usage("--if-version goes with put and rm");
	if (o->if_absent && !put)
		ctl_usage("--if-absent goes with put only");
	if (o->have_if_version && o->if_absent)
		ctl_usage("--if-version and --if-absent exclude each other");
	if (o->meta && !get)
		ctl_usage("--meta goes with get only");
	if (o->all && !repair && strcmp(cmd, "top") != 0)
		ctl_usage("--all goes with repair and top only");
	if ((put || get || rm) && nargs != 1)
		ctl_usage("%s needs one KEY", cmd);
	if ((repair || verify) && nargs > 0)
		ctl_usage("%s takes no arguments", cmd);
	if (batch && nargs > 1)
		ctl_usage("batch takes at most one FILE (the options of its "
		    "commands go in the file)");
	return put || get || rm || repair || verify || batch;
}

/* The key of the KEY operand; a bad --hex KEY is a usage error. */
static void
ctl_obj_key(const struct ctl_opts *o, struct ctl_obj_key *k)
{
	if (o->key_hex) {
		if (hash_key_parse(o->arg, &k->key) == -1)
			ctl_usage("bad KEY \"%s\" for --hex: 32 hex digits",
			    o->arg);
	} else
		hash_key_of(o->arg, strlen(o->arg), &k->key);
	hash_key_format(&k->key, k->hex);
	ctl_esc(o->arg, k->name, sizeof k->name);
}

/*
 * Report a failed object request r and return the exit status: 3 for a
 * lost condition, 4 for a miss, else 1.
 */
static int
ctl_obj_failed(const struct client_req *r, const char *cmd,
    const struct ctl_obj_key *k)
{
	const char *why = client_req_error(r);

	switch (client_req_error_code(r)) {
	case WIRE_E_NOTFOUND:
		ctl_fail("%s %s: not found", cmd, k->name);
		return CTL_EXIT_NOTFOUND;
	case WIRE_E_CONFLICT:
		if (strcmp(why, wire_error_text(WIRE_E_CONFLICT)) == 0)
			ctl_fail("%s %s: version conflict", cmd, k->name);
		else
			ctl_fail("%s %s: version conflict (%s)", cmd, k->name,
			    why);
		return CTL_EXIT_CONFLICT;
	}
	return ctl_fail("%s %s: %s", cmd, k->name, why);
}

/*
 * Send one object request for k and wait for a reply of type want.
 * Returns the exit status; on CTL_EXIT_OK *reply and *buf as for
 * client_obj_request() (the caller frees *buf).
 */
static int
ctl_obj_call(const struct ctl_opts *o, const char *cmd,
    const struct ctl_obj_key *k, uint16_t type, struct wire_obj *req,
    uint16_t want, struct wire_obj *reply, uint8_t **buf)
{
	struct client_mux *m;
	struct client_req *r;
	char err[1024];
	int rc = CTL_EXIT_OK;

	req->dims = 0;
	req->key = k->key;
	if ((m = client_mux_connect(o->daemon, o->timeout_ms, err,
	    sizeof err)) == NULL)
		return ctl_fail("%s %s: %s", cmd, k->name, err);
	r = client_mux_send_obj(m, type, req, o->timeout_ms);
	if (client_req_obj(r, want, reply, buf) == -1)
		rc = ctl_obj_failed(r, cmd, k);
	client_req_free(r);
	client_mux_close(m);
	return rc;
}

/* Print the outcome of a write: the version, or a JSON object. */
static void
ctl_obj_print_version(const struct ctl_opts *o, const struct ctl_obj_key *k,
    uint64_t version)
{
	struct json j;

	if (!o->json) {
		printf("%" PRIu64 "\n", version);
		return;
	}
	json_init(&j, stdout);
	json_begin_object(&j);
	json_key_string(&j, "key", o->arg);
	json_key_string(&j, "hex", k->hex);
	json_key_uint(&j, "version", version);
	json_end_object(&j);
	json_end(&j);
}

/*
 * Read all of standard input into a malloc'd buffer (*len bytes).
 * Returns 0, or -1 after a message when it fails or holds more than
 * WIRE_MAX_VALUE bytes.
 */
static int
ctl_obj_read_stdin(const char *name, uint8_t **buf, size_t *len)
{
	size_t cap = 65536, n = 0;
	uint8_t *p = xmalloc(cap);

	for (;;) {
		ssize_t r;

		if (n == cap) {
			/* One byte past the limit tells "too big". */
			cap = cap * 2 > WIRE_MAX_VALUE + 1 ?
			    WIRE_MAX_VALUE + 1 : cap * 2;
			p = xreallocarray(p, cap, 1);
		}
		r = read(STDIN_FILENO, p + n, cap - n);
		if (r == 0)
			break;
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			ctl_fail("put %s: reading standard input: %s", name,
			    strerror(errno));
			goto fail;
		}
		n += (size_t)r;
		if (n > WIRE_MAX_VALUE) {
			ctl_fail("put %s: value too large: more than %u bytes "
			    "(4 MiB) on standard input", name, WIRE_MAX_VALUE);
			goto fail;
		}
	}
	*buf = p;
	*len = n;
	return 0;
fail:
	free(p);
	return -1;
}

/* put KEY: store standard input as the value. */
int
ctl_obj_put(const struct ctl_opts *o)
{
	struct ctl_obj_key k;
	struct wire_obj req, reply;
	uint8_t *data, *rbuf = NULL;
	size_t len;
	int rc;

	ctl_obj_key(o, &k);
	if (ctl_obj_read_stdin(k.name, &data, &len) == -1)
		return CTL_EXIT_FAIL;
	memset(&req, 0, sizeof req);
	req.cond = o->if_absent ? WIRE_COND_ABSENT : o->have_if_version ?
	    WIRE_COND_VERSION : WIRE_COND_NONE;
	req.cond_version = o->if_version;
	req.meta.checksum = hash_checksum(data, len);
	req.data = data;
	req.len = (uint32_t)len;
	rc = ctl_obj_call(o, "put", &k, WIRE_OBJ_PUT, &req, WIRE_OBJ_DONE,
	    &reply, &rbuf);
	if (rc == CTL_EXIT_OK)
		ctl_obj_print_version(o, &k, reply.meta.version);
	free(rbuf);
	free(data);
	return rc;
}

/* Print a value's metadata (get --meta / --json). */
static void
ctl_obj_print_meta(const struct ctl_opts *o, const struct ctl_obj_key *k,
    const struct wire_obj *v)
{
	char when[64] = "?";
	time_t secs = (time_t)(v->meta.mtime_ms / 1000);
	struct json j;
	struct tm tm;

	if (o->json) {
		json_init(&j, stdout);
		json_begin_object(&j);
		json_key_string(&j, "key", o->arg);
		json_key_string(&j, "hex", k->hex);
		json_key_uint(&j, "version", v->meta.version);
		json_key(&j, "writer");
		json_stringf(&j, "%016" PRIx64, v->meta.writer);
		json_key(&j, "checksum");
		json_stringf(&j, "%016" PRIx64, v->meta.checksum);
		json_key_uint(&j, "length", v->len);
		json_key_uint(&j, "mtime_ms", v->meta.mtime_ms);
		json_end_object(&j);
		json_end(&j);
		return;
	}
	if (gmtime_r(&secs, &tm) != NULL)
		snprintf(when + strftime(when, sizeof when - 8,
		    "%Y-%m-%dT%H:%M:%S", &tm), 8, ".%03uZ",
		    (unsigned)(v->meta.mtime_ms % 1000));
	printf("key       %s\n", k->hex);
	printf("version   %" PRIu64 "\n", v->meta.version);
	printf("writer    %016" PRIx64 "\n", v->meta.writer);
	printf("checksum  %016" PRIx64 "\n", v->meta.checksum);
	printf("length    %" PRIu32 "\n", v->len);
	printf("mtime     %s (%" PRIu64 " ms)\n", when, v->meta.mtime_ms);
}

/* get KEY: the value on standard output, or its metadata. */
int
ctl_obj_get(const struct ctl_opts *o)
{
	struct ctl_obj_key k;
	struct wire_obj req, v;
	uint8_t *rbuf = NULL;
	int rc;

	ctl_obj_key(o, &k);
	memset(&req, 0, sizeof req);
	rc = ctl_obj_call(o, "get", &k, WIRE_OBJ_GET, &req, WIRE_OBJ_VALUE, &v,
	    &rbuf);
	if (rc != CTL_EXIT_OK)
		goto out;
	if (v.meta.flags & WIRE_OBJ_TOMBSTONE) {
		(void)ctl_fail("get %s: not found", k.name);
		rc = CTL_EXIT_NOTFOUND;
	} else if (hash_checksum(v.data, v.len) != v.meta.checksum)
		rc = ctl_fail("get %s: checksum mismatch: the value received "
		    "(%" PRIu32 " bytes) does not match its checksum "
		    "%016" PRIx64, k.name, v.len, v.meta.checksum);
	else if (o->meta || o->json)
		ctl_obj_print_meta(o, &k, &v);
	else if (fwrite(v.data, 1, v.len, stdout) != v.len ||
	    fflush(stdout) == EOF)
		rc = ctl_fail("get %s: writing standard output: %s", k.name,
		    strerror(errno));
out:
	free(rbuf);
	return rc;
}

/* rm KEY: delete (write a tombstone). */
int
ctl_obj_rm(const struct ctl_opts *o)
{
	struct ctl_obj_key k;
	struct wire_obj req, reply;
	uint8_t *rbuf = NULL;
	int rc;

	ctl_obj_key(o, &k);
	memset(&req, 0, sizeof req);
	req.cond = o->have_if_version ? WIRE_COND_VERSION : WIRE_COND_NONE;
	req.cond_version = o->if_version;
	req.meta.checksum = hash_checksum(NULL, 0);
	rc = ctl_obj_call(o, "rm", &k, WIRE_OBJ_DEL, &req, WIRE_OBJ_DONE,
	    &reply, &rbuf);
	if (rc == CTL_EXIT_OK)
		ctl_obj_print_version(o, &k, reply.meta.version);
	free(rbuf);
	return rc;
}

/* Send REPAIR_REQ to spec; -1 with the reason in err. */
static int
ctl_obj_repair_at(const char *spec, int timeout_ms, char *err, size_t errlen)
{
	struct client *c;
	int rc;

	if ((c = client_connect(spec, timeout_ms, err, errlen)) == NULL)
		return -1;
	rc = client_request(c, WIRE_REPAIR_REQ, 0, NULL, 0, WIRE_OK, NULL,
	    NULL, timeout_ms);
	if (rc == -1)
		snprintf(err, errlen, "%s", client_error(c));
	client_close(c);
	return rc;
}

/* repair [--all]: start an anti-entropy pass on one node or all. */
int
ctl_obj_repair(const struct ctl_opts *o)
{
	struct client_walk w;
	struct progress p;
	struct json j;
	char err[1024], esc[256];
	size_t started = 0, failed = 0, nodes = 1;
	int rc;

	if (!o->all) {
		if (ctl_obj_repair_at(o->daemon, o->timeout_ms, err,
		    sizeof err) == -1)
			failed++;
		else
			started++;
		if (failed)
			ctl_fail("repair failed: %s", err);
		else if (!o->json)
			printf("repair pass started\n");
	} else {
		if (ctl_walk(o, &w) == -1)
			return CTL_EXIT_FAIL;
		nodes = w.n;
		ctl_progress_start(o, &p, "repair", "nodes asked");
		for (size_t i = 0; i < w.n; i++) {
			progress_update(&p, i, w.n);
			ctl_esc(w.nodes[i].addr, esc, sizeof esc);
			rc = ctl_obj_repair_at(w.nodes[i].addr, o->timeout_ms,
			    err, sizeof err);
			progress_clear(&p);
			if (rc == -1) {
				ctl_fail("repair failed on node %016" PRIx64
				    " at %s: %s", w.nodes[i].id, esc, err);
				failed++;
				continue;
			}
			started++;
			if (!o->json)
				printf("repair pass started on %016" PRIx64
				    "  %s\n", w.nodes[i].id, esc);
		}
		progress_note(&p, "%zu started, %zu failed", started, failed);
		progress_update(&p, w.n, w.n);
		progress_done(&p);
		client_walk_free(&w);
	}
	if (o->json) {
		json_init(&j, stdout);
		json_begin_object(&j);
		json_key_uint(&j, "nodes", nodes);
		json_key_uint(&j, "started", started);
		json_key_uint(&j, "failed", failed);
		json_end_object(&j);
		json_end(&j);
	}
	return failed > 0 ? CTL_EXIT_FAIL : CTL_EXIT_OK;
}

/* Copies gathered by verify. */
struct ctl_obj_census {
	struct replset_copy *c;
	size_t n, cap;
	size_t unlisted;	/* nodes whose listing failed */
	size_t listed;		/* nodes done, listed or not */
	struct progress *p;	/* the progress report */
};

/* A node being listed by verify: its connection and the page asked for. */
struct ctl_obj_lister {
	size_t node;		/* index in the walk */
	struct client_mux *m;
	struct client_req *r;	/* LIST_REQ in flight, from start */
	uint32_t start;
};

/*
 * Take a LIST page of l's node into the census.  Returns 1 when more
 * pages follow (start moved on), 0 when the listing is complete, -1 with
 * the reason in err (copies already added stay).
 */
static int
ctl_obj_list_page(const struct client_walk *w, struct ctl_obj_lister *l,
    struct ctl_obj_census *cs, char *err, size_t errlen)
{
	struct wire_summary s;
	bool more;
	int rc = 0;

	if (client_req_list(l->r, &s, &more) == -1) {
		snprintf(err, errlen, "%s", client_req_error(l->r));
		return -1;
	}
	if (s.dims != w->dims || (more && s.n == 0) ||
	    s.n > UINT32_MAX - l->start) {
		snprintf(err, errlen, "bad LIST reply (%d dimensions, "
		    "%" PRIu32 " entries from %" PRIu32 ")", s.dims, s.n,
		    l->start);
		rc = -1;
	}
	for (uint32_t e = 0; e < s.n && rc == 0; e++) {
		struct replset_copy *cp;

		if (cs->n == cs->cap) {
			cs->cap = cs->cap ? 2 * cs->cap : 1024;
			cs->c = xreallocarray(cs->c, cs->cap, sizeof *cs->c);
		}
		cp = &cs->c[cs->n++];
		cp->key = s.e[e].key;
		cp->node = l->node;
		cp->index = s.e[e].index;
		cp->version = s.e[e].version;
		cp->flags = s.e[e].flags;
		cp->len = s.e[e].len;
		cp->ok = s.e[e].ok != 0;
	}
	if (rc == 0)
		l->start += s.n;
	wire_summary_free(&s);
	return rc == 0 ? more : -1;
}

/* A node whose replicas could not be listed (they count as missing). */
static void
ctl_obj_unlisted(const struct client_walk *w, size_t i,
    struct ctl_obj_census *cs, const char *err)
{
	char esc[256];

	progress_clear(cs->p);
	ctl_fail("verify: cannot list the replicas of node %016" PRIx64
	    " at %s (they count as missing): %s", w->nodes[i].id,
	    ctl_esc(w->nodes[i].addr, esc, sizeof esc), err);
	cs->unlisted++;
}

/* Report the listing's progress: nodes done, replicas seen. */
static void
ctl_obj_list_progress(const struct client_walk *w, struct ctl_obj_census *cs)
{
	progress_note(cs->p, "%zu replicas", cs->n);
	progress_update(cs->p, cs->listed, w->n);
}

/*
 * List every node's replicas into the census: CTL_OBJ_LIST_WINDOW nodes
 * at a time, each over its own connection with its next page in flight,
 * so that the daemons work in parallel.  Pages of one node are asked for
 * one after the other (each starts where the last one ended).
 */
static void
ctl_obj_list_all(const struct ctl_opts *o, const struct client_walk *w,
    struct ctl_obj_census *cs)
{
	struct ctl_obj_lister ls[CTL_OBJ_LIST_WINDOW];
	size_t next = 0, active = 0, turn = 0;
	char err[1024];

	memset(ls, 0, sizeof ls);
	for (;;) {
		struct ctl_obj_lister *l;
		int rc;

		/* Start nodes into the free slots. */
		for (size_t j = 0; j < CTL_OBJ_LIST_WINDOW && next < w->n; ) {
			if (ls[j].m != NULL) {
				j++;
				continue;
			}
			l = &ls[j];
			l->node = next++;
			l->start = 0;
			l->m = client_mux_connect(w->nodes[l->node].addr,
			    o->timeout_ms, err, sizeof err);
			if (l->m == NULL) { /* the slot stays free */
				ctl_obj_unlisted(w, l->node, cs, err);
				cs->listed++;
				continue;
			}
			l->r = client_mux_send_list(l->m, 0, o->timeout_ms);
			active++;
			j++;
		}
		if (active == 0)
			break;
		/* Wait for the slots in turn; the others keep working. */
		while (ls[turn].m == NULL)
			turn = (turn + 1) % CTL_OBJ_LIST_WINDOW;
		l = &ls[turn];
		turn = (turn + 1) % CTL_OBJ_LIST_WINDOW;
		rc = ctl_obj_list_page(w, l, cs, err, sizeof err);
		client_req_free(l->r);
		l->r = NULL;
		if (rc == 1) {
			l->r = client_mux_send_list(l->m, l->start,
			    o->timeout_ms);
			ctl_obj_list_progress(w, cs);
			continue;
		}
		if (rc == -1)
			ctl_obj_unlisted(w, l->node, cs, err);
		client_mux_close(l->m);
		l->m = NULL;
		active--;
		cs->listed++;
		ctl_obj_list_progress(w, cs);
	}
}

/* The first problem keys of an audit, kept for the report. */
struct ctl_obj_problems {
	struct replset_verdict v[CTL_OBJ_PROBLEMS];
	size_t n;
};

/* One audited key: keep it when it is a live one lacking good copies. */
static void
ctl_obj_verify_key(void *arg, const struct replset_verdict *v,
    const struct replset_copy *c, size_t nc)
{
	struct ctl_obj_problems *pb = arg;

	(void)c;
	(void)nc;
	if (!v->tombstone && v->good < v->want && pb->n < CTL_OBJ_PROBLEMS)
		pb->v[pb->n++] = *v;
}

/* verify --json: the totals and the problem keys. */
static void
ctl_obj_verify_json(const struct client_walk *w, size_t unlisted,
    const struct replset_totals *t, const struct ctl_obj_problems *pb)
{
	struct json j;
	char hex[33];

	json_init(&j, stdout);
	json_begin_object(&j);
	json_key_uint(&j, "nodes", w->n);
	json_key_uint(&j, "unreachable", w->unreachable + unlisted);
	json_key_uint(&j, "keys", t->keys);
	json_key_uint(&j, "k", w->replicas);
	json_key_uint(&j, "full", t->full);
	json_key_uint(&j, "under_replicated", t->under);
	json_key_uint(&j, "corrupt", t->corrupt);
	json_key_uint(&j, "extra", t->extra);
	json_key_uint(&j, "tombstones", t->tombstones);
	json_key(&j, "problems");
	json_begin_array(&j);
	for (size_t i = 0; i < pb->n; i++) {
		json_begin_object(&j);
		json_key_string(&j, "key", hash_key_format(&pb->v[i].key,
		    hex));
		json_key_uint(&j, "good", (uint64_t)pb->v[i].good);
		json_key_uint(&j, "want", (uint64_t)pb->v[i].want);
		json_end_object(&j);
	}
	json_end_array(&j);
	json_end_object(&j);
	json_end(&j);
}

/* One problem key in text: its expected members and what each holds. */
static void
ctl_obj_verify_problem(const struct client_walk *w,
    const struct replset_verdict *v)
{
	char hex[33], esc[256];

	printf("  %s  version %" PRIu64 ": %d of %d good\n",
	    hash_key_format(&v->key, hex), v->version, v->good, v->want);
	for (int m = 0; m < v->want; m++) {
		const struct replset_member *mb = &v->set[m];

		if (mb->node == REPLSET_GAP)
			printf("    replica %-3u %-16s  %-21s  %s\n", mb->index,
			    "(unknown node)", "(gap in the map)",
			    replset_state_name(v->state[m]));
		else
			printf("    replica %-3u %016" PRIx64 "  %-21s  %s\n",
			    mb->index, w->nodes[mb->node].id,
			    ctl_esc(w->nodes[mb->node].addr, esc, sizeof esc),
			    replset_state_name(v->state[m]));
	}
}

/* verify as text: the totals, then the problem keys. */
static void
ctl_obj_verify_text(const struct client_walk *w, size_t unlisted,
    const struct replset_totals *t, const struct ctl_obj_problems *pb)
{
	printf("nodes             %zu", w->n);
	if (w->unreachable + unlisted > 0)
		printf(" (%zu more unreachable)", w->unreachable + unlisted);
	printf("\nreplicas (k)      %" PRIu32 "\n", w->replicas);
	printf("keys              %zu\n", t->keys);
	printf("full              %zu\n", t->full);
	printf("under-replicated  %zu\n", t->under);
	printf("corrupt copies    %zu\n", t->corrupt);
	printf("extra copies      %zu%s\n", t->extra, t->extra > 0 ?
	    "  (outside the expected set: normal while repair catches up)" :
	    "");
	printf("tombstones        %zu\n", t->tombstones);
	if (pb->n > 0)
		printf("under-replicated keys%s:\n", t->under > pb->n ?
		    " (the first " CTL_OBJ_PROBLEMS_TXT ")" : "");
	for (size_t i = 0; i < pb->n; i++)
		ctl_obj_verify_problem(w, &pb->v[i]);
	printf("%s\n", t->under == 0 ? "OK: every live object has all its "
	    "good copies" : "PROBLEMS: some live objects lack good copies");
}

/* verify: audit every replica against the expected replica sets. */
int
ctl_obj_verify(const struct ctl_opts *o)
{
	struct ctl_obj_census cs = { 0 };
	struct ctl_obj_problems *pb;
	struct progress p;
	struct replset_totals t;
	struct client_walk w;

	if (ctl_walk(o, &w) == -1)
		return CTL_EXIT_FAIL;
	if (w.replicas == 0) {
		client_walk_free(&w);
		return ctl_fail("verify: the daemon reports no replication "
		    "factor (k = 0)");
	}
	ctl_progress_start(o, &p, "verify", "nodes listed");
	cs.p = &p;
	ctl_obj_list_progress(&w, &cs);
	ctl_obj_list_all(o, &w, &cs);
	progress_done(&p);
	if (w.unreachable > 0)
		ctl_fail("verify: %zu node(s) did not answer the walk; their "
		    "zones are gaps in the map and the replicas placed there "
		    "count as missing", w.unreachable);
	pb = xcalloc(1, sizeof *pb);
	replset_audit(cs.c, cs.n, w.nodes, w.n, w.dims, w.replicas,
	    ctl_obj_verify_key, pb, &t);
	if (o->json)
		ctl_obj_verify_json(&w, cs.unlisted, &t, pb);
	else
		ctl_obj_verify_text(&w, cs.unlisted, &t, pb);
	free(pb);
	free(cs.c);
	client_walk_free(&w);
	return t.under == 0 ? CTL_EXIT_OK : CTL_EXIT_FAIL;
}
