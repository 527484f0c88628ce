/* secure.c: cluster secret, handshake and records over libsodium (secure.h). */
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "log.h"
#include "secure.h"
#include "wire.h"
#include "xmalloc.h"

#define SECURE_NONCE_LEN 32
#define SECURE_STREAM_HDR crypto_secretstream_xchacha20poly1305_HEADERBYTES
#define SECURE_TAG_LEN crypto_auth_BYTES
#define SECURE_TRANSCRIPT_LEN (2 * SECURE_HELLO_LEN)
#define SECURE_KEYFILE_MAX 256	/* a key file is never longer */
#define SECURE_KDF_CTX "canfs-hs" /* crypto_kdf context: 8 bytes */
#define SECURE_LABEL "canfs secure session v1"

/* Sub-key ids of crypto_kdf: authentication and stream key per direction. */
enum { SECURE_KDF_AUTH = 1, SECURE_KDF_STREAM = 3 }; /* + role (0 or 1) */

_Static_assert(SECURE_ABYTES == crypto_secretstream_xchacha20poly1305_ABYTES,
    "SECURE_ABYTES must match libsodium");
_Static_assert(SECURE_AUTH_LEN == SECURE_STREAM_HDR + SECURE_TAG_LEN,
    "AUTH is a stream header and a tag");
_Static_assert(SECURE_HELLO_LEN == 8 + SECURE_NONCE_LEN +
    crypto_kx_PUBLICKEYBYTES, "HELLO layout");
_Static_assert(SECURE_HS_MSG_MAX >= SECURE_HELLO_LEN &&
    SECURE_HS_MSG_MAX >= SECURE_AUTH_LEN, "handshake buffers");
_Static_assert(SECURE_KEY_LEN == crypto_kdf_KEYBYTES, "key size");
_Static_assert(sizeof SECURE_KDF_CTX - 1 == crypto_kdf_CONTEXTBYTES,
    "kdf context");

struct secure_session {
	enum secure_role role;
	enum secure_state state;
	const char *why;		/* static reason once FAILED */
	uint8_t psk[SECURE_KEY_LEN];	/* wiped once the keys are derived */
	uint8_t kx_sk[crypto_kx_SECRETKEYBYTES]; /* ephemeral; wiped too */
	uint8_t hello[2][SECURE_HELLO_LEN]; /* by role: the transcript */
	uint8_t peer_auth[crypto_auth_KEYBYTES];   /* until the peer's AUTH */
	uint8_t peer_stream[crypto_secretstream_xchacha20poly1305_KEYBYTES];
	crypto_secretstream_xchacha20poly1305_state tx; /* our records */
	crypto_secretstream_xchacha20poly1305_state rx; /* the peer's */
};

/* printf into a caller's error buffer. */
static void __attribute__((format(printf, 3, 4)))
secure_errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* libsodium must be initialised once; a failure is a broken system. */
static void
secure_sodium_init(void)
{
	if (sodium_init() < 0)
		fatalx("libsodium failed to initialise");
}

/* Value of a hex digit, or -1. */
static int
secure_hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	ch = tolower(ch);
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

/*
 * Decode the contents of a key file: 32 raw bytes, or 64 hex digits with
 * white space around them.  Returns 0 or -1.
 */
static int
secure_key_parse(const uint8_t *buf, size_t len, struct secure_key *k)
{
	size_t lo = 0, hi = len;

	if (len == SECURE_KEY_LEN) {
		memcpy(k->k, buf, SECURE_KEY_LEN);
		return 0;
	}
	while (lo < hi && isspace(buf[lo]))
		lo++;
	while (hi > lo && isspace(buf[hi - 1]))
		hi--;
	if (hi - lo != 2 * SECURE_KEY_LEN)
		return -1;
	for (size_t i = 0; i < SECURE_KEY_LEN; i++) {
		int a = secure_hexval(buf[lo + 2 * i]);
		int b = secure_hexval(buf[lo + 2 * i + 1]);

		if (a < 0 || b < 0)
			return -1;
		k->k[i] = (uint8_t)(a << 4 | b);
	}
	return 0;
}

/* Load the cluster secret (see secure.h). */
int
secure_key_load(const char *path, struct secure_key *k, char *err,
    size_t errlen)
{
	uint8_t buf[SECURE_KEYFILE_MAX + 1];
	struct stat st;
	size_t len = 0;
	ssize_t n;
	int fd, rc = -1;

	secure_sodium_init();
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1) {
		secure_errf(err, errlen, "cannot open key file %s: %s", path,
		    strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		secure_errf(err, errlen, "key file %s is not a regular file",
		    path);
		goto out;
	}
	if ((st.st_mode & 077) != 0) {
		secure_errf(err, errlen, "key file %s is accessible by group "
		    "or others (mode %04o): run chmod 600 on it (and consider "
		    "making a new secret)", path,
		    (unsigned)(st.st_mode & 07777));
		goto out;
	}
	while (len < sizeof buf &&
	    (n = read(fd, buf + len, sizeof buf - len)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			secure_errf(err, errlen, "cannot read key file %s: %s",
			    path, strerror(errno));
			goto out;
		}
		len += (size_t)n;
	}
	if (len > SECURE_KEYFILE_MAX || secure_key_parse(buf, len, k) != 0) {
		secure_errf(err, errlen, "key file %s holds no key: want 64 "
		    "hex digits or 32 raw bytes (make one with 'canctl "
		    "init-secret %s')", path, path);
		goto out;
	}
	rc = 0;
out:
	sodium_memzero(buf, sizeof buf);
	close(fd);
	return rc;
}

/* Create a new secret file (see secure.h). */
int
secure_key_create(const char *path, char *err, size_t errlen)
{
	uint8_t key[SECURE_KEY_LEN];
	char hex[2 * SECURE_KEY_LEN + 2];
	size_t off = 0, len;
	int fd;

	secure_sodium_init();
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0600);
	if (fd == -1) {
		secure_errf(err, errlen, "cannot create key file %s: %s%s",
		    path, strerror(errno), errno == EEXIST ?
		    " (never overwritten: remove it first if you mean to "
		    "replace the cluster's secret)" : "");
		return -1;
	}
	randombytes_buf(key, sizeof key);
	sodium_bin2hex(hex, sizeof hex, key, sizeof key);
	sodium_memzero(key, sizeof key);
	len = strlen(hex);
	hex[len++] = '\n';
	/* The umask can only remove bits; make sure of 0600 exactly. */
	if (fchmod(fd, 0600) != 0)
		goto fail;
	while (off < len) {
		ssize_t n = write(fd, hex + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto fail;
		off += (size_t)n;
	}
	if (fsync(fd) != 0 || close(fd) != 0) {
		fd = -1;
		goto fail;
	}
	sodium_memzero(hex, sizeof hex);
	return 0;
fail:
	secure_errf(err, errlen, "cannot write key file %s: %s", path,
	    strerror(errno));
	sodium_memzero(hex, sizeof hex);
	if (fd != -1)
		close(fd);
	unlink(path);
	return -1;
}

/* Zero a key. */
void
secure_key_wipe(struct secure_key *k)
{
	sodium_memzero(k, sizeof *k);
}

/* Put s in FAILED with a static reason; returns -1 for the caller. */
static int
secure_fail(struct secure_session *s, const char *why)
{
	if (s->state != SECURE_FAILED) {
		s->state = SECURE_FAILED;
		s->why = why;
	}
	sodium_memzero(s->psk, sizeof s->psk);
	sodium_memzero(s->kx_sk, sizeof s->kx_sk);
	sodium_memzero(s->peer_auth, sizeof s->peer_auth);
	sodium_memzero(s->peer_stream, sizeof s->peer_stream);
	return -1;
}

/* Start a handshake (see secure.h). */
struct secure_session *
secure_session_new(const struct secure_key *k, enum secure_role role,
    uint8_t *hello_out)
{
	struct secure_session *s;
	uint8_t *h;

	secure_sodium_init();
	s = xcalloc(1, sizeof *s);
	s->role = role;
	s->state = SECURE_WANT_HELLO;
	s->why = "";
	memcpy(s->psk, k->k, sizeof s->psk);
	h = s->hello[role];
	h[0] = SECURE_MAGIC & 0xff;
	h[1] = SECURE_MAGIC >> 8 & 0xff;
	h[2] = SECURE_MAGIC >> 16 & 0xff;
	h[3] = SECURE_MAGIC >> 24;
	h[4] = SECURE_VERSION;
	h[5] = (uint8_t)role;
	h[6] = h[7] = 0;
	randombytes_buf(h + 8, SECURE_NONCE_LEN);
	if (crypto_kx_keypair(h + 8 + SECURE_NONCE_LEN, s->kx_sk) != 0)
		fatalx("libsodium: crypto_kx_keypair failed");
	memcpy(hello_out, h, SECURE_HELLO_LEN);
	return s;
}

/* Wipe and free. */
void
secure_session_free(struct secure_session *s)
{
	if (s == NULL)
		return;
	sodium_memzero(s, sizeof *s);
	free(s);
}

enum secure_state
secure_state(const struct secure_session *s)
{
	return s->state;
}

const char *
secure_error(const struct secure_session *s)
{
	return s->why;
}

/* Size of the next expected handshake message. */
size_t
secure_hs_need(const struct secure_session *s)
{
	switch (s->state) {
	case SECURE_WANT_HELLO:
		return SECURE_HELLO_LEN;
	case SECURE_WANT_AUTH:
		return SECURE_AUTH_LEN;
	default:
		return 0;
	}
}

/* Little-endian u32 at p. */
static uint32_t
secure_get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

/* True when buf starts with the HELLO magic. */
bool
secure_is_hello(const uint8_t *buf, size_t len)
{
	return len >= 4 && secure_get_u32(buf) == SECURE_MAGIC;
}

/* Check the peer's HELLO; NULL when it is acceptable, else why not. */
static const char *
secure_check_hello(const struct secure_session *s, const uint8_t *in)
{
	uint32_t magic = secure_get_u32(in);

	if (magic == WIRE_MAGIC)
		return "the peer sent a plaintext canfs frame: it runs "
		    "without the cluster secret (--secret-file)";
	if (magic != SECURE_MAGIC)
		return "not a canfs secure handshake (bad magic)";
	if (in[4] != SECURE_VERSION)
		return "unsupported secure handshake version";
	if (in[5] != (s->role == SECURE_INITIATOR ? SECURE_RESPONDER :
	    SECURE_INITIATOR) || in[6] != 0 || in[7] != 0)
		return "the peer claims our own role (a reflected handshake?)";
	if (sodium_memcmp(in + 8, s->hello[s->role] + 8,
	    SECURE_NONCE_LEN) == 0)
		return "the peer echoed our nonce (a reflected handshake?)";
	return NULL;
}

/*
 * Both HELLOs are in: derive the keys, start our outgoing stream and write
 * our AUTH to out.  Keeps the peer's keys for its AUTH.  Returns 0, or -1
 * when the peer's ephemeral public key is unusable.
 */
static int
secure_derive(struct secure_session *s, uint8_t *out)
{
	uint8_t master[crypto_kdf_KEYBYTES];
	uint8_t my_auth[crypto_auth_KEYBYTES];
	uint8_t my_stream[crypto_secretstream_xchacha20poly1305_KEYBYTES];
	uint8_t msg[SECURE_TRANSCRIPT_LEN + SECURE_STREAM_HDR];
	uint8_t kx[2][crypto_kx_SESSIONKEYBYTES]; /* [0] I->R, [1] R->I */
	crypto_generichash_state gh;
	int me = (int)s->role, peer = 1 - me, rc;
	const uint8_t *my_pk = s->hello[me] + 8 + SECURE_NONCE_LEN;
	const uint8_t *peer_pk = s->hello[peer] + 8 + SECURE_NONCE_LEN;

	/* Ephemeral X25519: the same two keys on both sides, in order. */
	if (s->role == SECURE_INITIATOR)
		rc = crypto_kx_client_session_keys(kx[1], kx[0], my_pk,
		    s->kx_sk, peer_pk);
	else
		rc = crypto_kx_server_session_keys(kx[0], kx[1], my_pk,
		    s->kx_sk, peer_pk);
	sodium_memzero(s->kx_sk, sizeof s->kx_sk);
	if (rc != 0) {
		sodium_memzero(kx, sizeof kx);
		return secure_fail(s, "bad key-exchange public key from the "
		    "peer");
	}
	crypto_generichash_init(&gh, s->psk, sizeof s->psk, sizeof master);
	crypto_generichash_update(&gh, (const uint8_t *)SECURE_LABEL,
	    sizeof SECURE_LABEL - 1);
	crypto_generichash_update(&gh, s->hello[SECURE_INITIATOR],
	    SECURE_HELLO_LEN);
	crypto_generichash_update(&gh, s->hello[SECURE_RESPONDER],
	    SECURE_HELLO_LEN);
	crypto_generichash_update(&gh, kx[0], sizeof kx[0]);
	crypto_generichash_update(&gh, kx[1], sizeof kx[1]);
	crypto_generichash_final(&gh, master, sizeof master);
	sodium_memzero(kx, sizeof kx);
	sodium_memzero(&gh, sizeof gh);
	sodium_memzero(s->psk, sizeof s->psk);
	crypto_kdf_derive_from_key(my_auth, sizeof my_auth,
	    SECURE_KDF_AUTH + (uint64_t)me, SECURE_KDF_CTX, master);
	crypto_kdf_derive_from_key(s->peer_auth, sizeof s->peer_auth,
	    SECURE_KDF_AUTH + (uint64_t)peer, SECURE_KDF_CTX, master);
	crypto_kdf_derive_from_key(my_stream, sizeof my_stream,
	    SECURE_KDF_STREAM + (uint64_t)me, SECURE_KDF_CTX, master);
	crypto_kdf_derive_from_key(s->peer_stream, sizeof s->peer_stream,
	    SECURE_KDF_STREAM + (uint64_t)peer, SECURE_KDF_CTX, master);
	sodium_memzero(master, sizeof master);

	/* AUTH = our stream header, tag over transcript || header. */
	crypto_secretstream_xchacha20poly1305_init_push(&s->tx, out,
	    my_stream);
	memcpy(msg, s->hello[SECURE_INITIATOR], SECURE_HELLO_LEN);
	memcpy(msg + SECURE_HELLO_LEN, s->hello[SECURE_RESPONDER],
	    SECURE_HELLO_LEN);
	memcpy(msg + SECURE_TRANSCRIPT_LEN, out, SECURE_STREAM_HDR);
	crypto_auth(out + SECURE_STREAM_HDR, msg, sizeof msg, my_auth);
	sodium_memzero(my_auth, sizeof my_auth);
	sodium_memzero(my_stream, sizeof my_stream);
	return 0;
}

/* Verify the peer's AUTH and start its incoming stream. */
static int
secure_verify(struct secure_session *s, const uint8_t *in)
{
	uint8_t msg[SECURE_TRANSCRIPT_LEN + SECURE_STREAM_HDR];

	memcpy(msg, s->hello[SECURE_INITIATOR], SECURE_HELLO_LEN);
	memcpy(msg + SECURE_HELLO_LEN, s->hello[SECURE_RESPONDER],
	    SECURE_HELLO_LEN);
	memcpy(msg + SECURE_TRANSCRIPT_LEN, in, SECURE_STREAM_HDR);
	if (crypto_auth_verify(in + SECURE_STREAM_HDR, msg, sizeof msg,
	    s->peer_auth) != 0)
		return secure_fail(s, "authentication failed: the peer does "
		    "not hold this cluster's secret");
	if (crypto_secretstream_xchacha20poly1305_init_pull(&s->rx, in,
	    s->peer_stream) != 0)
		return secure_fail(s, "bad stream header from the peer");
	sodium_memzero(s->peer_auth, sizeof s->peer_auth);
	sodium_memzero(s->peer_stream, sizeof s->peer_stream);
	s->state = SECURE_ESTABLISHED;
	return 0;
}

/* Reject a HELLO by its first bytes (see secure.h). */
int
secure_hs_peek(struct secure_session *s, const uint8_t *in, size_t len)
{
	uint32_t magic;

	if (s->state != SECURE_WANT_HELLO || len < 4)
		return s->state == SECURE_FAILED ? -1 : 0;
	magic = secure_get_u32(in);
	if (magic == WIRE_MAGIC)
		return secure_fail(s, "the peer sent a plaintext canfs frame: "
		    "it runs without the cluster secret (--secret-file)");
	if (magic != SECURE_MAGIC)
		return secure_fail(s, "not a canfs secure handshake (bad "
		    "magic)");
	return 0;
}

/* Feed the peer's next handshake message (see secure.h). */
int
secure_hs_consume(struct secure_session *s, const uint8_t *in, size_t len,
    uint8_t *out, size_t *outlen)
{
	const char *why;

	*outlen = 0;
	if (len != secure_hs_need(s) || len == 0)
		return secure_fail(s, s->state == SECURE_FAILED ? s->why :
		    "handshake message of the wrong length");
	if (s->state == SECURE_WANT_AUTH)
		return secure_verify(s, in);
	if ((why = secure_check_hello(s, in)) != NULL)
		return secure_fail(s, why);
	memcpy(s->hello[1 - (int)s->role], in, SECURE_HELLO_LEN);
	if (secure_derive(s, out) != 0)
		return -1;
	*outlen = SECURE_AUTH_LEN;
	s->state = SECURE_WANT_AUTH;
	return 0;
}

/* Wire size of a record. */
size_t
secure_sealed_len(size_t plain_len)
{
	return SECURE_RECORD_HDR + plain_len + SECURE_ABYTES;
}

/* Seal one record (see secure.h). */
int
secure_seal(struct secure_session *s, const uint8_t *plain, size_t plain_len,
    uint8_t *out)
{
	uint32_t n = (uint32_t)(plain_len + SECURE_ABYTES);

	if (s->state != SECURE_ESTABLISHED || plain_len == 0 ||
	    plain_len > SECURE_RECORD_MAX)
		return -1;
	out[0] = n & 0xff;
	out[1] = n >> 8 & 0xff;
	out[2] = n >> 16 & 0xff;
	out[3] = n >> 24;
	/* The prefix is additional data: a changed length fails the tag. */
	crypto_secretstream_xchacha20poly1305_push(&s->tx,
	    out + SECURE_RECORD_HDR, NULL, plain, plain_len, out,
	    SECURE_RECORD_HDR, crypto_secretstream_xchacha20poly1305_TAG_MESSAGE);
	return 0;
}

/* Bounds of a record from its prefix (see secure.h). */
size_t
secure_record_size(struct secure_session *s, const uint8_t *hdr)
{
	uint32_t n = secure_get_u32(hdr);

	if (s->state != SECURE_ESTABLISHED) {
		secure_fail(s, s->state == SECURE_FAILED ? s->why :
		    "record before the handshake finished");
		return 0;
	}
	if (n <= SECURE_ABYTES || n > SECURE_RECORD_MAX + SECURE_ABYTES) {
		secure_fail(s, "record length out of bounds");
		return 0;
	}
	return SECURE_RECORD_HDR + (size_t)n;
}

/* Open one record (see secure.h). */
int
secure_open(struct secure_session *s, const uint8_t *rec, size_t rec_len,
    uint8_t *out, size_t *plain_len)
{
	unsigned long long mlen = 0;
	unsigned char tag = 0;
	size_t size;

	if (rec_len < SECURE_RECORD_HDR)
		return secure_fail(s, "truncated record");
	if ((size = secure_record_size(s, rec)) == 0)
		return -1;
	if (size != rec_len)
		return secure_fail(s, "record length does not match its "
		    "prefix");
	if (crypto_secretstream_xchacha20poly1305_pull(&s->rx, out, &mlen,
	    &tag, rec + SECURE_RECORD_HDR, rec_len - SECURE_RECORD_HDR, rec,
	    SECURE_RECORD_HDR) != 0)
		return secure_fail(s, "record failed authentication (altered, "
		    "replayed, reordered or forged)");
	if (tag != crypto_secretstream_xchacha20poly1305_TAG_MESSAGE)
		return secure_fail(s, "unexpected record tag");
	*plain_len = (size_t)mlen;
	return 0;
}
