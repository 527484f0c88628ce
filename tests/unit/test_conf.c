/*
 * test_conf.c: the configuration file parser (overlay/conf.c).
 *
 * Checks: comments, blank lines, CRLF, tabs, inline comments and a last
 * line without a newline; every error (unknown key, missing '=', no key,
 * no value, a key set twice, a control character, a line or a file too
 * long) names the file and the right line; CONF_MULTI keys keep every
 * value in order; conf_load refuses what it should (missing, a directory,
 * a FIFO, writable by others).  Then fuzz-ish passes: random bytes, and
 * bit flips, truncations and byte insertions over a valid file, after
 * which either the parse failed with a "PATH:" message or every entry
 * holds up (a known key, a trimmed non-empty value without control
 * characters, lines in order).
 */
#include <sys/stat.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../overlay/conf.h"

static const struct conf_key keys[] = {
	{ "listen", 0 },
	{ "join", CONF_MULTI },
	{ "heartbeat", 0 },
	{ "data", 0 },
	{ "fail-after", 0 },
	{ NULL, 0 },
};

/* Parse a C string as the file "t.conf"; err gets the message. */
static int
parse(struct conf_file *cf, const char *text, char *err, size_t errlen)
{
	return conf_parse(cf, "t.conf", text, strlen(text), keys, err, errlen);
}

/* The parse fails with exactly the message want. */
static void
expect_error(const char *text, const char *want)
{
	struct conf_file cf;
	char err[512];

	memset(err, 0, sizeof err);
	assert_int_equal(parse(&cf, text, err, sizeof err), -1);
	assert_string_equal(err, want);
	assert_null(cf.entries);
	assert_int_equal(cf.nentries, 0);
}

static void
test_good(void **state)
{
	struct conf_file cf;
	char err[256] = "";
	const char *text =
	    "# a comment\n"
	    "\n"
	    "   \t  \n"
	    "  # an indented comment\n"
	    "listen = 10.0.0.1:7400\n"
	    "heartbeat=250   # ms, a comment after the value\r\n"
	    "\tdata\t=\t/srv/canfs data#1  \t\n"
	    "join = 10.0.0.2:7400\n"
	    "join = 10.0.0.3:7400,10.0.0.4:7400";	/* no final newline */

	(void)state;
	assert_int_equal(parse(&cf, text, err, sizeof err), 0);
	assert_string_equal(cf.path, "t.conf");
	assert_int_equal(cf.nentries, 5);
	assert_string_equal(cf.entries[0].key->name, "listen");
	assert_string_equal(cf.entries[0].value, "10.0.0.1:7400");
	assert_int_equal(cf.entries[0].line, 5);
	assert_string_equal(cf.entries[1].key->name, "heartbeat");
	assert_string_equal(cf.entries[1].value, "250");
	assert_int_equal(cf.entries[1].line, 6);
	/* Inner blanks stay; a '#' not after a blank is part of the value. */
	assert_string_equal(cf.entries[2].value, "/srv/canfs data#1");
	assert_int_equal(cf.entries[2].line, 7);
	assert_string_equal(cf.entries[3].value, "10.0.0.2:7400");
	assert_string_equal(cf.entries[4].value,
	    "10.0.0.3:7400,10.0.0.4:7400");
	assert_int_equal(cf.entries[4].line, 9);
	assert_ptr_equal(cf.entries[3].key, cf.entries[4].key);
	conf_free(&cf);
	assert_null(cf.path);
	conf_free(&cf);		/* twice is fine */
}

static void
test_empty(void **state)
{
	struct conf_file cf;
	char err[64] = "";

	(void)state;
	assert_int_equal(conf_parse(&cf, "e.conf", "", 0, keys, err,
	    sizeof err), 0);
	assert_int_equal(cf.nentries, 0);
	conf_free(&cf);
	assert_int_equal(parse(&cf, "\n\n# only\n\r\n", err, sizeof err), 0);
	assert_int_equal(cf.nentries, 0);
	conf_free(&cf);
}

static void
test_unknown_key(void **state)
{
	(void)state;
	expect_error("listen = 1.2.3.4:5\n# x\nhearbeat = 100\n",
	    "t.conf:3: unknown key 'hearbeat'");
	/* Keys are case-sensitive, and "--" is not part of them. */
	expect_error("Heartbeat = 1\n", "t.conf:1: unknown key 'Heartbeat'");
	expect_error("--heartbeat = 1\n",
	    "t.conf:1: unknown key '--heartbeat'");
	expect_error("fail_after = 3\n", "t.conf:1: unknown key 'fail_after'");
	/* A long key is cut in the message. */
	expect_error("aaaaaaaaaabbbbbbbbbbccccccccccddddddddddeeeee = 1\n",
	    "t.conf:1: unknown key "
	    "'aaaaaaaaaabbbbbbbbbbccccccccccdddddddddd...'");
}

static void
test_missing_equals(void **state)
{
	(void)state;
	expect_error("heartbeat 100\n", "t.conf:1: missing '=' after "
	    "'heartbeat'");
	expect_error("\n\nheartbeat\n", "t.conf:3: missing '=' after "
	    "'heartbeat'");
	expect_error("heartbeat: 100\n", "t.conf:1: missing '=' after "
	    "'heartbeat'");
	expect_error("heartbeat", "t.conf:1: missing '=' after 'heartbeat'");
	expect_error("= 100\n", "t.conf:1: expected KEY = VALUE, not "
	    "'= 100'");
	expect_error("[section]\n", "t.conf:1: expected KEY = VALUE, not "
	    "'[section]'");
	/* Bytes quoted from the file are escaped. */
	expect_error("\xc3\xa9t\xc3\xa9 = 1\n", "t.conf:1: expected KEY = "
	    "VALUE, not '\\xc3\\xa9t\\xc3\\xa9 = 1'");
}

static void
test_no_value(void **state)
{
	(void)state;
	expect_error("heartbeat =\n", "t.conf:1: no value for 'heartbeat'");
	expect_error("heartbeat =   \t\n", "t.conf:1: no value for "
	    "'heartbeat'");
	expect_error("heartbeat = # 100\n", "t.conf:1: no value for "
	    "'heartbeat'");
	expect_error("heartbeat =#100\n", "t.conf:1: no value for "
	    "'heartbeat'");
}

static void
test_duplicate(void **state)
{
	(void)state;
	expect_error("heartbeat = 100\nlisten = a:1\n\nheartbeat = 200\n",
	    "t.conf:4: 'heartbeat' is set again (first on line 1)");
	/* Even with the same value: one of the two was meant to go. */
	expect_error("data = /x\ndata = /x\n",
	    "t.conf:2: 'data' is set again (first on line 1)");
}

static void
test_control_chars(void **state)
{
	struct conf_file cf;
	char err[256];
	const char nul[] = "heartbeat = 1\nlisten = a\0b:1\n";

	(void)state;
	assert_int_equal(conf_parse(&cf, "t.conf", nul, sizeof nul - 1, keys,
	    err, sizeof err), -1);
	assert_string_equal(err, "t.conf:2: control character 0x00 in "
	    "column 11");
	expect_error("data = /x\x1b[31m\n", "t.conf:1: control character "
	    "0x1b in column 10");
	expect_error("data = /x\x7f\n", "t.conf:1: control character 0x7f "
	    "in column 10");
	/* A lone CR in the middle is not a line end. */
	expect_error("data = /x\ry\n", "t.conf:1: control character 0x0d "
	    "in column 10");
}

static void
test_long_lines(void **state)
{
	struct conf_file cf;
	char err[256], *text;
	size_t n = CONF_LINE_MAX + 16;

	(void)state;
	text = calloc(1, n + 8);
	assert_non_null(text);
	/* Exactly CONF_LINE_MAX bytes, and with a CR after it: fine. */
	memcpy(text, "data = ", 7);
	memset(text + 7, 'x', CONF_LINE_MAX - 7);
	memcpy(text + CONF_LINE_MAX, "\r\n", 3);
	assert_int_equal(parse(&cf, text, err, sizeof err), 0);
	assert_int_equal(cf.nentries, 1);
	assert_int_equal(strlen(cf.entries[0].value), CONF_LINE_MAX - 7);
	conf_free(&cf);
	/* One byte more: an error, also in a comment, on the right line. */
	memset(text, 0, n + 8);
	memcpy(text, "# ok\n#", 6);
	memset(text + 6, 'y', CONF_LINE_MAX);
	assert_int_equal(parse(&cf, text, err, sizeof err), -1);
	assert_string_equal(err, "t.conf:2: line longer than 1024 bytes");
	free(text);
}

static void
test_file_too_large(void **state)
{
	struct conf_file cf;
	char err[256];
	size_t n = CONF_FILE_MAX + 1;
	char *text = malloc(n);

	(void)state;
	assert_non_null(text);
	memset(text, '\n', n);
	assert_int_equal(conf_parse(&cf, "big.conf", text, n, keys, err,
	    sizeof err), -1);
	assert_string_equal(err, "big.conf: larger than 1048576 bytes");
	/* Exactly the limit, all blank lines: fine. */
	assert_int_equal(conf_parse(&cf, "big.conf", text, n - 1, keys, err,
	    sizeof err), 0);
	conf_free(&cf);
	free(text);
}

/* Write text to a fresh temporary file of that mode; returns its path. */
static char *
tmpconf(const char *text, mode_t mode)
{
	char *path = strdup("/tmp/test_conf.XXXXXX");
	int fd;

	assert_non_null(path);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (int)strlen(text));
	close(fd);
	assert_int_equal(chmod(path, mode), 0);
	return path;
}

static void
test_load(void **state)
{
	struct conf_file cf;
	char err[512], want[600], dir[] = "/tmp/test_conf_dir.XXXXXX";
	char fifo[128], *path;

	(void)state;
	path = tmpconf("heartbeat = 300\n", 0644);
	assert_int_equal(conf_load(&cf, path, keys, err, sizeof err), 0);
	assert_int_equal(cf.nentries, 1);
	assert_string_equal(cf.entries[0].value, "300");
	conf_free(&cf);
	/* Errors name the file. */
	assert_int_equal(chmod(path, 0646), 0);
	assert_int_equal(conf_load(&cf, path, keys, err, sizeof err), -1);
	snprintf(want, sizeof want, "%s: writable by anyone: refused "
	    "(chmod o-w)", path);
	assert_string_equal(err, want);
	unlink(path);
	assert_int_equal(conf_load(&cf, path, keys, err, sizeof err), -1);
	snprintf(want, sizeof want, "%s: No such file or directory", path);
	assert_string_equal(err, want);
	free(path);
	path = tmpconf("listen = a:1\nnope = 1\n", 0600);
	assert_int_equal(conf_load(&cf, path, keys, err, sizeof err), -1);
	snprintf(want, sizeof want, "%s:2: unknown key 'nope'", path);
	assert_string_equal(err, want);
	unlink(path);
	free(path);
	/* A directory, and a FIFO (which must not block the open). */
	assert_non_null(mkdtemp(dir));
	assert_int_equal(conf_load(&cf, dir, keys, err, sizeof err), -1);
	snprintf(want, sizeof want, "%s: not a regular file", dir);
	assert_string_equal(err, want);
	snprintf(fifo, sizeof fifo, "%s/fifo", dir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	assert_int_equal(conf_load(&cf, fifo, keys, err, sizeof err), -1);
	snprintf(want, sizeof want, "%s: not a regular file", fifo);
	assert_string_equal(err, want);
	unlink(fifo);
	rmdir(dir);
}

/*
 * After any parse: a failure left cf empty with a "t.conf:" message; a
 * success gave entries that hold up.
 */
static void
check_outcome(int rc, const struct conf_file *cf, const char *err)
{
	int last = 0;

	if (rc != 0) {
		assert_int_equal(rc, -1);
		assert_int_equal(strncmp(err, "t.conf:", 7), 0);
		for (const char *p = err; *p != '\0'; p++)
			assert_true(*p >= 0x20 && *p < 0x7f);
		assert_null(cf->entries);
		return;
	}
	for (size_t i = 0; i < cf->nentries; i++) {
		const struct conf_entry *e = &cf->entries[i];
		size_t len = strlen(e->value);

		assert_true(e->key >= keys && e->key < keys + 5);
		assert_true(len > 0 && len <= CONF_LINE_MAX);
		assert_true(e->value[0] != ' ' && e->value[0] != '\t');
		assert_true(e->value[len - 1] != ' ' &&
		    e->value[len - 1] != '\t');
		for (size_t j = 0; j < len; j++)
			assert_true((unsigned char)e->value[j] >= 0x20 ||
			    e->value[j] == '\t');
		assert_true(e->line > last);
		last = e->line;
	}
}

/* Parse len bytes of buf and check the outcome. */
static void
fuzz_one(const char *buf, size_t len)
{
	struct conf_file cf;
	char err[300];
	int rc;

	memset(err, 'Z', sizeof err);
	rc = conf_parse(&cf, "t.conf", buf, len, keys, err, sizeof err);
	check_outcome(rc, &cf, err);
	conf_free(&cf);
}

static void
test_fuzz(void **state)
{
	static const char good[] =
	    "# canfsd\nlisten = 10.0.0.1:7400 # here\r\njoin = a:1\n"
	    "join=b:2\n\theartbeat\t=\t200\n\ndata = /srv/x y\n";
	static const char alphabet[] = "=#\n\r\t -_:/aehlrtbjoin0123\x01\xff";
	char buf[sizeof good + 8], rnd[256];
	uint32_t seed = 12345;

	(void)state;
	/* Truncation at every offset, and every single-bit flip. */
	for (size_t n = 0; n <= sizeof good - 1; n++)
		fuzz_one(good, n);
	for (size_t i = 0; i < sizeof good - 1; i++) {
		for (int b = 0; b < 8; b++) {
			memcpy(buf, good, sizeof good - 1);
			buf[i] ^= (char)(1 << b);
			fuzz_one(buf, sizeof good - 1);
		}
	}
	/* A byte of the alphabet inserted at every offset. */
	for (size_t i = 0; i < sizeof good; i++) {
		for (size_t a = 0; a < sizeof alphabet - 1; a++) {
			memcpy(buf, good, i);
			buf[i] = alphabet[a];
			memcpy(buf + i + 1, good + i, sizeof good - 1 - i);
			fuzz_one(buf, sizeof good);
		}
	}
	/* Random strings over the alphabet, then over every byte. */
	for (int k = 0; k < 20000; k++) {
		size_t len = (size_t)(k % (int)sizeof rnd);

		for (size_t i = 0; i < len; i++) {
			seed = seed * 1103515245u + 12345u;
			rnd[i] = k < 10000 ?
			    alphabet[(seed >> 16) % (sizeof alphabet - 1)] :
			    (char)(seed >> 16);
		}
		fuzz_one(rnd, len);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_unknown_key),
		cmocka_unit_test(test_missing_equals),
		cmocka_unit_test(test_no_value),
		cmocka_unit_test(test_duplicate),
		cmocka_unit_test(test_control_chars),
		cmocka_unit_test(test_long_lines),
		cmocka_unit_test(test_file_too_large),
		cmocka_unit_test(test_load),
		cmocka_unit_test(test_fuzz),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
