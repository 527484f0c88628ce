/*
 * fuzz_main.c: standalone driver for LLVMFuzzerTestOneInput when the
 * target is not built with libFuzzer (build/tests/frame-fuzz for the wire
 * decoders, build/tests/meta-fuzz for the file system's records).
 *
 *   frame-fuzz [-t SECONDS] [-n ITERATIONS] [-s SEED] [corpus file|dir...]
 *
 * Replays every corpus file, then feeds random mutations of the corpus
 * (bit flips, byte and word overwrites, truncation, splicing, inserts,
 * deletes, random lengths, header length fix-ups) until the time or
 * iteration budget runs out.  The mutations come from a seeded PRNG, so a
 * run is reproducible from its seed and corpus.  A crash is the target
 * aborting (or a sanitizer report); reaching the end means none happened.
 * With neither -t nor -n it runs for 10 seconds.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_INPUT 65536 /* mutants never grow past this */
#define FUZZ_MAX_FILE (1u << 20)

/* One corpus entry. */
struct fuzz_input {
	uint8_t *p;
	size_t len;
};

static const char *progname = "frame-fuzz"; /* for messages */
static struct fuzz_input *corpus;
static size_t ncorpus, corpus_cap;
static uint64_t prng_state;

/* splitmix64. */
static uint64_t
prng_next(void)
{
	uint64_t z = (prng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Value in [0, n); n > 0. */
static size_t
prng_below(size_t n)
{
	return (size_t)(prng_next() % n);
}

/* Add a copy of len bytes to the corpus. */
static void
corpus_add(const uint8_t *p, size_t len)
{
	if (ncorpus == corpus_cap) {
		corpus_cap = corpus_cap ? corpus_cap * 2 : 16;
		corpus = realloc(corpus, corpus_cap * sizeof *corpus);
		if (corpus == NULL)
			abort();
	}
	corpus[ncorpus].p = malloc(len ? len : 1);
	if (corpus[ncorpus].p == NULL)
		abort();
	if (len > 0)
		memcpy(corpus[ncorpus].p, p, len);
	corpus[ncorpus].len = len;
	ncorpus++;
}

/* Read one file into the corpus.  Returns 0 or -1. */
static int
corpus_load_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	size_t len;

	if (f == NULL) {
		fprintf(stderr, "%s: %s: %s\n", progname, path, strerror(errno));
		return -1;
	}
	buf = malloc(FUZZ_MAX_FILE);
	if (buf == NULL)
		abort();
	len = fread(buf, 1, FUZZ_MAX_FILE, f);
	if (ferror(f)) {
		fprintf(stderr, "%s: %s: read error\n", progname, path);
		fclose(f);
		free(buf);
		return -1;
	}
	fclose(f);
	corpus_add(buf, len);
	free(buf);
	return 0;
}

/* A file, or every regular file under a directory (sorted, recursive). */
static int
corpus_load(const char *path)
{
	struct dirent **names;
	struct stat st;
	int n, rc = 0;

	if (stat(path, &st) != 0) {
		fprintf(stderr, "%s: %s: %s\n", progname, path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return S_ISREG(st.st_mode) ? corpus_load_file(path) : 0;
	n = scandir(path, &names, NULL, alphasort);
	if (n < 0) {
		fprintf(stderr, "%s: %s: %s\n", progname, path, strerror(errno));
		return -1;
	}
	for (int i = 0; i < n; i++) {
		char *sub;

		if (names[i]->d_name[0] != '.' &&
		    asprintf(&sub, "%s/%s", path, names[i]->d_name) >= 0) {
			if (corpus_load(sub) != 0)
				rc = -1;
			free(sub);
		}
		free(names[i]);
	}
	free(names);
	return rc;
}

/* Write v little-endian into n bytes at p. */
static void
put_le(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Values that sit on the decoders' limits. */
static uint64_t
interesting(void)
{
	static const uint64_t v[] = {
		0, 1, 2, 7, 8, 9, 15, 16, 17, 23, 24, 31, 32, 33, 63, 64, 65,
		127, 128, 255, 256, 1023, 1024, 1025, 0x7fff, 0x8000, 0xffff,
		0x10000, WIRE_MAX_BODY, WIRE_MAX_BODY + 1, 0x7fffffff,
		0x80000000u, 0xffffffffu, UINT64_MAX,
	};

	return v[prng_below(sizeof v / sizeof v[0])];
}

/*
 * Walk the frames in buf and make the first one whose length runs past the
 * end claim exactly the rest of the input, so that mutated bodies still
 * reach the decoders instead of stopping at "partial frame".
 */
static void
fix_last_length(uint8_t *buf, size_t len)
{
	size_t off = 0;

	while (len - off >= WIRE_HEADER_LEN) {
		uint32_t flen = (uint32_t)buf[off + 12] |
		    (uint32_t)buf[off + 13] << 8 |
		    (uint32_t)buf[off + 14] << 16 |
		    (uint32_t)buf[off + 15] << 24;
		size_t rest = len - off - WIRE_HEADER_LEN;

		if (flen >= rest) {
			put_le(buf + off + 12, rest, 4);
			return;
		}
		off += WIRE_HEADER_LEN + flen;
	}
}

/* Apply one random mutation to buf (len bytes, room for cap). */
static size_t
mutate_once(uint8_t *buf, size_t len, size_t cap)
{
	const struct fuzz_input *other = &corpus[prng_below(ncorpus)];
	size_t at, n;

	switch (prng_below(11)) {
	case 0: /* flip one bit */
		if (len > 0) {
			at = prng_below(len);
			buf[at] ^= (uint8_t)(1u << prng_below(8));
		}
		break;
	case 1: /* random byte */
		if (len > 0)
			buf[prng_below(len)] = (uint8_t)prng_next();
		break;
	case 2: /* an interesting u8/u16/u32 anywhere */
		n = (size_t)1 << prng_below(3);
		if (len >= n)
			put_le(buf + prng_below(len - n + 1), interesting(),
			    (int)n);
		break;
	case 3: /* truncate */
		len = len > 0 ? prng_below(len) : 0;
		break;
	case 4: /* splice: our prefix, another input's suffix */
		at = len > 0 ? prng_below(len + 1) : 0;
		n = other->len > 0 ? prng_below(other->len + 1) : 0;
		if (at + (other->len - n) > cap)
			break;
		memmove(buf + at, other->p + n, other->len - n);
		len = at + (other->len - n);
		break;
	case 5: /* append a whole other input (another frame) */
		if (len + other->len <= cap) {
			if (other->len > 0)
				memcpy(buf + len, other->p, other->len);
			len += other->len;
		}
		break;
	case 6: /* insert random bytes */
		n = 1 + prng_below(16);
		at = prng_below(len + 1);
		if (len + n > cap)
			break;
		memmove(buf + at + n, buf + at, len - at);
		for (size_t i = 0; i < n; i++)
			buf[at + i] = (uint8_t)prng_next();
		len += n;
		break;
	case 7: /* delete a range */
		if (len > 0) {
			at = prng_below(len);
			n = 1 + prng_below(len - at);
			memmove(buf + at, buf + at + n, len - at - n);
			len -= n;
		}
		break;
	case 8: /* random length of random bytes after a kept prefix */
		at = len > 0 ? prng_below(len + 1) : 0;
		n = prng_below(prng_below(2) ? 64 : 4096);
		if (at + n > cap)
			break;
		for (size_t i = 0; i < n; i++)
			buf[at + i] = (uint8_t)prng_next();
		len = at + n;
		break;
	case 9: /* duplicate a range (repeated zones, nodes, frames) */
		if (len > 0) {
			at = prng_below(len);
			n = 1 + prng_below(len - at);
			if (len + n > cap)
				break;
			memmove(buf + at + n, buf + at, len - at);
			len += n;
		}
		break;
	default: /* repair the frame length so the body is decoded */
		fix_last_length(buf, len);
		break;
	}
	return len;
}

/* Run one input from an exactly-sized copy (so ASan sees over-reads). */
static void
run_one(const uint8_t *p, size_t len)
{
	uint8_t *copy = malloc(len ? len : 1);

	if (copy == NULL)
		abort();
	if (len > 0)
		memcpy(copy, p, len);
	LLVMFuzzerTestOneInput(copy, len);
	free(copy);
}

/* Seconds since an arbitrary start. */
static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Seed input when no corpus is given: an empty STATUS_REQ frame. */
static void
corpus_default(void)
{
	struct wbuf w;

	wbuf_init(&w);
	wire_frame_begin(&w, WIRE_STATUS_REQ, 0, 1);
	wire_frame_end(&w);
	corpus_add(w.p, w.len);
	wbuf_free(&w);
}

static void
usage(void)
{
	fprintf(stderr, "usage: %s [-t seconds] [-n iterations] "
	    "[-s seed] [corpus file|dir ...]\n", progname);
	exit(2);
}

int
main(int argc, char **argv)
{
	double seconds = -1, start;
	long long iters = -1;
	uint64_t seed = 1, runs = 0;
	uint8_t *buf;
	char *end;
	int ch;

	if (argc > 0 && argv[0] != NULL)
		progname = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 :
		    argv[0];
	while ((ch = getopt(argc, argv, "t:n:s:")) != -1) {
		switch (ch) {
		case 't':
			seconds = strtod(optarg, &end);
			if (*end != '\0' || seconds < 0)
				usage();
			break;
		case 'n':
			iters = strtoll(optarg, &end, 10);
			if (*end != '\0' || iters < 0)
				usage();
			break;
		case 's':
			seed = strtoull(optarg, &end, 0);
			if (*end != '\0')
				usage();
			break;
		default:
			usage();
		}
	}
	if (seconds < 0 && iters < 0)
		seconds = 10;
	for (int i = optind; i < argc; i++) {
		if (corpus_load(argv[i]) != 0)
			return 1;
	}
	if (ncorpus == 0)
		corpus_default();

	/* The corpus as it is. */
	for (size_t i = 0; i < ncorpus; i++, runs++)
		run_one(corpus[i].p, corpus[i].len);

	/* Then mutants, until the budget is spent. */
	prng_state = seed;
	buf = malloc(FUZZ_MAX_INPUT);
	if (buf == NULL)
		abort();
	start = now();
	for (long long it = 0; iters < 0 || it < iters; it++, runs++) {
		const struct fuzz_input *in = &corpus[prng_below(ncorpus)];
		size_t len = in->len < FUZZ_MAX_INPUT ? in->len :
		    FUZZ_MAX_INPUT;
		int nmut = 1 + (int)prng_below(4);

		if (seconds >= 0 && (it & 255) == 0 && now() - start >= seconds)
			break;
		if (len > 0)
			memcpy(buf, in->p, len);
		for (int m = 0; m < nmut; m++)
			len = mutate_once(buf, len, FUZZ_MAX_INPUT);
		run_one(buf, len);
	}
	free(buf);
	for (size_t i = 0; i < ncorpus; i++)
		free(corpus[i].p);
	free(corpus);
	printf("%s: %" PRIu64 " inputs, 0 crashes\n", progname, runs);
	return 0;
}
