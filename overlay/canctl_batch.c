/*
 * canctl_batch.c: canctl batch, many object commands in few requests.
 *
 * The commands (one per line of FILE or standard input) are parsed
 * first, all of them: a bad line is a usage error and nothing is sent.
 * Then they go to the daemon as OBJ_BATCH requests (client_batch.h), as
 * many per request as fit (at most WIRE_BATCH_MAX), one request at a
 * time, in order; the daemon runs the commands of one request
 * concurrently, so two commands about the same key in one batch may land
 * in either order.  One line (or JSON object) of outcome per command, in
 * input order.  No command is retried (a failed one is reported as
 * such), except a GET whose value did not fit its batch's reply, which is
 * then read alone.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "canctl_obj.h"
#include "client.h"
#include "client_batch.h"
#include "hash.h"
#include "json.h"
#include "wire.h"
#include "xmalloc.h"

#define CTL_BATCH_LINE 4096	/* longest command line */
#define CTL_BATCH_WORDS 8	/* words of one command */

/* One command of the input and its outcome. */
struct ctl_batch_cmd {
	unsigned line;		/* in the input, from 1 */
	uint16_t type;		/* WIRE_OBJ_GET, PUT or DEL */
	char *key;		/* as given */
	struct hash_key k;
	char hex[33];
	uint8_t cond;
	uint64_t cond_version;
	char *file;		/* put: the value's file; get: where to write
				   the value (NULL: nowhere) */
	/* outcome */
	bool done;
	uint32_t code;		/* WIRE_E_*: WIRE_E_OK when it succeeded */
	char *err;		/* failure text */
	uint64_t version;
	uint32_t length;	/* get: bytes of the value */
};

/* The commands of a batch input. */
struct ctl_batch {
	struct ctl_batch_cmd *c;
	size_t n, cap;
};

/* Op names of the input and output. */
static const char *
ctl_batch_op(uint16_t type)
{
	return type == WIRE_OBJ_GET ? "get" : type == WIRE_OBJ_PUT ? "put" :
	    "rm";
}

/* A usage error about a line of the input: exit 2. */
static void __attribute__((format(printf, 3, 4), noreturn))
ctl_batch_usage(const char *src, unsigned line, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	ctl_usage("batch: %s line %u: %s", src, line, msg);
}

/*
 * Parse the words of one command line into c; exits 2 on a bad line.
 * Grammar: get [--hex] KEY [OUT] | put [--if-version V | --if-absent]
 * [--hex] KEY IN | rm [--if-version V] [--hex] KEY.
 */
static void
ctl_batch_parse_cmd(const char *src, unsigned line, char **w, int nw,
    struct ctl_batch_cmd *c)
{
	bool hex = false, absent = false, ifv = false;
	int i = 1, rest;

	c->line = line;
	if (strcmp(w[0], "get") == 0)
		c->type = WIRE_OBJ_GET;
	else if (strcmp(w[0], "put") == 0)
		c->type = WIRE_OBJ_PUT;
	else if (strcmp(w[0], "rm") == 0)
		c->type = WIRE_OBJ_DEL;
	else
		ctl_batch_usage(src, line, "unknown command \"%s\" (get, put "
		    "or rm)", w[0]);
	for (; i < nw && w[i][0] == '-' && w[i][1] == '-'; i++) {
		if (strcmp(w[i], "--hex") == 0)
			hex = true;
		else if (strcmp(w[i], "--if-absent") == 0 &&
		    c->type == WIRE_OBJ_PUT)
			absent = true;
		else if (strcmp(w[i], "--if-version") == 0 &&
		    c->type != WIRE_OBJ_GET && i + 1 < nw) {
			if (ctl_number(w[++i], 0, UINT64_MAX,
			    &c->cond_version) == -1)
				ctl_batch_usage(src, line, "bad version "
				    "\"%s\"", w[i]);
			ifv = true;
		} else
			ctl_batch_usage(src, line, "option \"%s\" does not go "
			    "with %s here", w[i], w[0]);
	}
	if (absent && ifv)
		ctl_batch_usage(src, line, "--if-version and --if-absent "
		    "exclude each other");
	c->cond = absent ? WIRE_COND_ABSENT : ifv ? WIRE_COND_VERSION :
	    WIRE_COND_NONE;
	rest = nw - i;
	if (rest < 1 || rest > 2 || (c->type == WIRE_OBJ_PUT && rest != 2) ||
	    (c->type == WIRE_OBJ_DEL && rest != 1))
		ctl_batch_usage(src, line, "%s takes %s", w[0],
		    c->type == WIRE_OBJ_GET ? "KEY [OUTFILE]" :
		    c->type == WIRE_OBJ_PUT ? "KEY INFILE" : "KEY");
	c->key = xstrdup(w[i]);
	if (hex) {
		if (hash_key_parse(c->key, &c->k) == -1)
			ctl_batch_usage(src, line, "bad KEY \"%s\" for --hex: "
			    "32 hex digits", c->key);
	} else
		hash_key_of(c->key, strlen(c->key), &c->k);
	hash_key_format(&c->k, c->hex);
	if (rest == 2)
		c->file = xstrdup(w[i + 1]);
}

/* Read and parse every command of f (named src in messages). */
static void
ctl_batch_parse(FILE *f, const char *src, struct ctl_batch *b)
{
	char buf[CTL_BATCH_LINE + 2], *w[CTL_BATCH_WORDS], *save, *tok;
	unsigned line = 0;

	while (fgets(buf, sizeof buf, f) != NULL) {
		size_t len = strlen(buf);
		int nw = 0;

		line++;
		if (len > CTL_BATCH_LINE)
			ctl_batch_usage(src, line, "longer than %d bytes",
			    CTL_BATCH_LINE);
		for (tok = strtok_r(buf, " \t\r\n", &save); tok != NULL;
		    tok = strtok_r(NULL, " \t\r\n", &save)) {
			if (nw == CTL_BATCH_WORDS)
				ctl_batch_usage(src, line, "too many words");
			w[nw++] = tok;
		}
		if (nw == 0 || w[0][0] == '#')
			continue;
		if (b->n == b->cap) {
			b->cap = b->cap ? b->cap * 2 : 64;
			b->c = xreallocarray(b->c, b->cap, sizeof *b->c);
		}
		memset(&b->c[b->n], 0, sizeof b->c[b->n]);
		ctl_batch_parse_cmd(src, line, w, nw, &b->c[b->n]);
		b->n++;
	}
	if (ferror(f))
		exit(ctl_fail("batch: reading %s: %s", src, strerror(errno)));
}

/* Record a command's failure. */
static void
ctl_batch_failed(struct ctl_batch_cmd *c, uint32_t code, const char *msg)
{
	c->done = true;
	c->code = code == WIRE_E_OK ? WIRE_E_INTERNAL : code;
	free(c->err);
	c->err = xstrdup(msg);
}

/*
 * Read a put's value from its file (at most WIRE_MAX_VALUE bytes) into a
 * malloc'd buffer.  -1 after recording the command's failure.
 */
static int
ctl_batch_read(struct ctl_batch_cmd *c, uint8_t **buf, size_t *len)
{
	FILE *f = fopen(c->file, "rb");
	uint8_t *p;
	size_t n;
	char msg[512];

	if (f == NULL) {
		snprintf(msg, sizeof msg, "cannot open %s: %s", c->file,
		    strerror(errno));
		ctl_batch_failed(c, WIRE_E_INTERNAL, msg);
		return -1;
	}
	p = xmalloc(WIRE_MAX_VALUE + 1);
	n = fread(p, 1, WIRE_MAX_VALUE + 1, f);
	if (ferror(f) || n > WIRE_MAX_VALUE) {
		snprintf(msg, sizeof msg, ferror(f) ? "reading %s failed" :
		    "%s: value too large: more than %u bytes (4 MiB)",
		    c->file, WIRE_MAX_VALUE);
		ctl_batch_failed(c, ferror(f) ? WIRE_E_INTERNAL :
		    WIRE_E_TOOBIG, msg);
		fclose(f);
		free(p);
		return -1;
	}
	fclose(f);
	*buf = p;
	*len = n;
	return 0;
}

/*
 * Add command c to the batch.  1 when added, 0 when the batch is full
 * (send it first), -1 when the command failed here (recorded; also when
 * it cannot go in even an empty batch).
 */
static int
ctl_batch_add(struct client_batch *cb, struct ctl_batch_cmd *c)
{
	struct wire_obj req;
	uint8_t *data = NULL;
	size_t len = 0;
	int rc;

	memset(&req, 0, sizeof req);
	req.key = c->k;
	req.cond = c->cond;
	req.cond_version = c->cond_version;
	if (c->type == WIRE_OBJ_PUT) {
		if (ctl_batch_read(c, &data, &len) == -1)
			return -1;
		req.data = data;
		req.len = (uint32_t)len;
	}
	req.meta.checksum = hash_checksum(data, len);
	rc = client_batch_add(cb, c->type, &req);
	free(data);
	if (rc == -1 && client_batch_count(cb) > 0)
		return 0;
	if (rc < 0) {
		ctl_batch_failed(c, WIRE_E_TOOBIG, "does not fit a batch");
		return -1;
	}
	return 1;
}

/* Write a get's value to its file.  -1 after recording the failure. */
static int
ctl_batch_write(struct ctl_batch_cmd *c, const struct wire_obj *v)
{
	FILE *f = fopen(c->file, "wb");
	char msg[512];

	if (f == NULL || fwrite(v->data, 1, v->len, f) != v->len ||
	    fclose(f) != 0) {
		snprintf(msg, sizeof msg, "writing %s: %s", c->file,
		    strerror(errno));
		if (f != NULL)
			(void)fclose(f);
		ctl_batch_failed(c, WIRE_E_INTERNAL, msg);
		return -1;
	}
	return 0;
}

/* Record the outcome of command c: code, and the reply r when OK. */
static void
ctl_batch_take(struct ctl_batch_cmd *c, uint32_t code, const char *msg,
    const struct wire_obj *rp)
{
	struct wire_obj r;
	char text[256];

	if (code != WIRE_E_OK) {
		ctl_batch_failed(c, code, msg);
		return;
	}
	r = *rp;
	if (c->type == WIRE_OBJ_GET && (r.meta.flags & WIRE_OBJ_TOMBSTONE)) {
		ctl_batch_failed(c, WIRE_E_NOTFOUND, "not found");
		return;
	}
	if (c->type == WIRE_OBJ_GET &&
	    hash_checksum(r.data, r.len) != r.meta.checksum) {
		snprintf(text, sizeof text, "checksum mismatch: the value "
		    "received (%" PRIu32 " bytes) does not match its checksum "
		    "%016" PRIx64, r.len, r.meta.checksum);
		ctl_batch_failed(c, WIRE_E_CORRUPT, text);
		return;
	}
	if (c->type == WIRE_OBJ_GET && c->file != NULL &&
	    ctl_batch_write(c, &r) == -1)
		return;
	c->done = true;
	c->code = WIRE_E_OK;
	c->version = r.meta.version;
	c->length = r.len;
}

/*
 * A GET whose value did not fit its batch's reply: ask for it alone (a
 * single reply holds any value).
 */
static void
ctl_batch_get_alone(const struct ctl_opts *o, struct client_mux *m,
    struct ctl_batch_cmd *c)
{
	struct client_req *r;
	struct wire_obj req, v;
	uint8_t *buf = NULL;

	memset(&req, 0, sizeof req);
	req.key = c->k;
	r = client_mux_send_obj(m, WIRE_OBJ_GET, &req, o->timeout_ms);
	if (client_req_obj(r, WIRE_OBJ_VALUE, &v, &buf) == 0)
		ctl_batch_take(c, WIRE_E_OK, "", &v);
	else
		ctl_batch_failed(c, client_req_error_code(r),
		    client_req_error(r));
	free(buf);
	client_req_free(r);
}

/*
 * Send the commands in batches, one request at a time, until all are
 * done; a batch that fails as a whole fails each of its commands.
 */
static void
ctl_batch_run(const struct ctl_opts *o, struct client_mux *m,
    struct ctl_batch *b)
{
	struct client_batch *cb = client_batch_new();
	size_t next = 0, idx[WIRE_BATCH_MAX];

	while (next < b->n) {
		struct client_req *r;
		size_t k = 0;

		client_batch_reset(cb);
		for (; next < b->n; next++) {
			int rc = ctl_batch_add(cb, &b->c[next]);

			if (rc == 0)
				break;
			if (rc == 1)
				idx[k++] = next;
		}
		if (k == 0)
			continue;
		r = client_batch_send(cb, m, o->timeout_ms);
		if (client_batch_wait(cb, r) == -1) {
			for (size_t i = 0; i < k; i++)
				ctl_batch_failed(&b->c[idx[i]],
				    client_batch_error_code(cb),
				    client_batch_error(cb));
		} else {
			for (size_t i = 0; i < k; i++) {
				struct ctl_batch_cmd *c = &b->c[idx[i]];
				struct wire_obj v;
				const char *msg;
				uint32_t code = client_batch_result(cb, i, &v,
				    &msg);

				if (code == WIRE_E_TOOBIG &&
				    c->type == WIRE_OBJ_GET)
					ctl_batch_get_alone(o, m, c);
				else
					ctl_batch_take(c, code, msg, &v);
			}
		}
		client_req_free(r);
	}
	client_batch_free(cb);
}

/* Print the outcomes; the exit status (0: every command succeeded). */
static int
ctl_batch_print(const struct ctl_opts *o, const struct ctl_batch *b)
{
	char key[CTL_BATCH_LINE], err[1024];
	bool failed = false;
	struct json j;

	if (o->json) {
		json_init(&j, stdout);
		json_begin_array(&j);
	}
	for (size_t i = 0; i < b->n; i++) {
		const struct ctl_batch_cmd *c = &b->c[i];
		bool ok = c->code == WIRE_E_OK;
		const char *status = ok ? "ok" : c->code == WIRE_E_NOTFOUND ?
		    "notfound" : c->code == WIRE_E_CONFLICT ? "conflict" :
		    "error";

		failed |= !ok;
		if (!o->json) {
			printf("%u %s %s %s", c->line, ctl_batch_op(c->type),
			    ctl_esc(c->key, key, sizeof key), status);
			if (ok && c->type == WIRE_OBJ_GET)
				printf(" %" PRIu64 " %" PRIu32 "\n", c->version,
				    c->length);
			else if (ok)
				printf(" %" PRIu64 "\n", c->version);
			else
				printf(": %s\n", ctl_esc(c->err, err,
				    sizeof err));
			continue;
		}
		json_begin_object(&j);
		json_key_uint(&j, "line", c->line);
		json_key_string(&j, "op", ctl_batch_op(c->type));
		json_key_string(&j, "key", c->key);
		json_key_string(&j, "hex", c->hex);
		json_key_string(&j, "status", status);
		if (ok) {
			json_key_uint(&j, "version", c->version);
			if (c->type == WIRE_OBJ_GET)
				json_key_uint(&j, "length", c->length);
		} else {
			json_key_uint(&j, "code", c->code);
			json_key_string(&j, "error", c->err);
		}
		json_end_object(&j);
	}
	if (o->json) {
		json_end_array(&j);
		json_end(&j);
	}
	fflush(stdout);
	return failed ? CTL_EXIT_FAIL : CTL_EXIT_OK;
}

/* batch [FILE]: run the commands of FILE (or standard input). */
int
ctl_batch(const struct ctl_opts *o)
{
	const char *src = o->arg == NULL || strcmp(o->arg, "-") == 0 ?
	    "standard input" : o->arg;
	struct ctl_batch b = { NULL, 0, 0 };
	struct client_mux *m;
	FILE *f = stdin;
	char err[1024];
	int rc;

	if (src != o->arg) {
		/* stdin */
	} else if ((f = fopen(o->arg, "r")) == NULL)
		return ctl_fail("batch: cannot open %s: %s", o->arg,
		    strerror(errno));
	ctl_batch_parse(f, src, &b);
	if (f != stdin)
		fclose(f);
	if (b.n > 0) {
		if ((m = client_mux_connect(o->daemon, o->timeout_ms, err,
		    sizeof err)) == NULL) {
			rc = ctl_fail("batch: %s", err);
			goto out;
		}
		ctl_batch_run(o, m, &b);
		client_mux_close(m);
	}
	rc = ctl_batch_print(o, &b);
out:
	for (size_t i = 0; i < b.n; i++) {
		free(b.c[i].key);
		free(b.c[i].file);
		free(b.c[i].err);
	}
	free(b.c);
	return rc;
}
