/*
 * secure.h: the cluster secret, the peer handshake and record encryption.
 *
 * Every member of a cluster holds the same 32-byte pre-shared key (the
 * "cluster secret", a file of mode 0600).  A connection between two
 * holders starts with a mutual challenge-response that proves possession
 * of the key to both sides without revealing it, and derives fresh session
 * keys; after it, the byte stream in each direction is a sequence of
 * records sealed with libsodium's crypto_secretstream_xchacha20poly1305
 * (one stream per direction), so a record that was altered, replayed,
 * reordered, dropped from the middle or truncated fails to open.  All of
 * the cryptography is libsodium's; nothing here is home-made.
 *
 * This module does no I/O: the handshake is a state machine over byte
 * buffers and records are sealed and opened in memory, so that the
 * daemon's event loop (overlay/conn.c) and the blocking client library
 * (common/client.c) drive the same code, and unit tests drive it with no
 * sockets at all.
 *
 * The handshake.  Both sides send the same two messages, in order, and
 * may send them without waiting (the initiator is the side that connected):
 *
 *   HELLO (SECURE_HELLO_LEN = 72 bytes)
 *     u32 magic "CANS", u8 version SECURE_VERSION, u8 role (0 initiator,
 *     1 responder), u16 zero, 32 random bytes (nonce), 32 bytes: an
 *     ephemeral crypto_kx (X25519) public key, new for every session
 *   AUTH (SECURE_AUTH_LEN = 56 bytes), sent once the peer's HELLO is in
 *     24 bytes: header of the sender's outgoing secretstream
 *     32 bytes: crypto_auth (HMAC-SHA-512-256) tag over
 *               HELLO(initiator) || HELLO(responder) || those 24 bytes
 *
 * Keys: the two crypto_kx session keys of the ephemeral key pairs, then
 * master = crypto_generichash (BLAKE2b, keyed with the cluster secret)
 * over a label, both HELLOs and those kx keys; crypto_kdf_derive_from_key
 * splits the master into an authentication key and a stream key per
 * direction.  Only a holder of the cluster secret can produce a valid AUTH
 * over the transcript, so a man in the middle can neither pass nor swap
 * the ephemeral keys; and as the ephemeral secret keys are wiped once the
 * session keys exist, a cluster secret stolen later does not decrypt
 * recorded sessions (forward secrecy).  Fresh nonces and key pairs on both
 * sides make every session's keys new, so a recorded handshake or record
 * cannot be replayed into another session; direction-bound keys and the
 * role byte stop a peer's own messages from being reflected back at it.
 *
 * Records: u32 n (little-endian) then n bytes of secretstream ciphertext
 * (SECURE_ABYTES more than the plaintext).  The length prefix is also the
 * additional data of the record, and n is checked against SECURE_RECORD_MAX
 * before anything is buffered, so a peer cannot make the reader allocate
 * more than one bounded record.  Records carry an arbitrary slice of the
 * plaintext byte stream; they need not line up with frames.
 *
 * Errors: functions that can fail return -1 and leave a static reason in
 * secure_error(s) (or in err for the key functions); a session that failed
 * stays failed.  Secrets are wiped with sodium_memzero when freed.
 */
#ifndef CANFS_COMMON_SECURE_H
#define CANFS_COMMON_SECURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SECURE_KEY_LEN 32
#define SECURE_MAGIC 0x534e4143u /* "CANS" as little-endian bytes */
#define SECURE_VERSION 1
#define SECURE_HELLO_LEN 72
#define SECURE_AUTH_LEN 56
#define SECURE_HS_MSG_MAX 72		/* longest handshake message */
#define SECURE_ABYTES 17		/* secretstream overhead per record */
#define SECURE_RECORD_HDR 4		/* the u32 length prefix */
#define SECURE_RECORD_MAX (64u << 10)	/* plaintext bytes per record */
/* Largest whole record on the wire: prefix, ciphertext, tag. */
#define SECURE_RECORD_WIRE_MAX \
	(SECURE_RECORD_HDR + SECURE_RECORD_MAX + SECURE_ABYTES)

/* The cluster secret. */
struct secure_key {
	uint8_t k[SECURE_KEY_LEN];
};

enum secure_role {
	SECURE_INITIATOR = 0, /* the side that connected */
	SECURE_RESPONDER = 1, /* the side that accepted */
};

/* Handshake progress of a session. */
enum secure_state {
	SECURE_WANT_HELLO,   /* our HELLO is out; waiting for the peer's */
	SECURE_WANT_AUTH,    /* our AUTH is out; waiting for the peer's */
	SECURE_ESTABLISHED,  /* records may flow both ways */
	SECURE_FAILED,	     /* see secure_error(); close the connection */
};

struct secure_session;

/*
 * Read the cluster secret from path: 32 raw bytes, or 64 hex digits with
 * optional surrounding white space (what secure_key_create writes).  The
 * file must be a regular file that neither group nor others may access
 * (mode 0600 or stricter): a looser file is refused, since the secret is
 * the whole security of the cluster.  Returns 0, or -1 with a message
 * such as "key file /etc/canfs/secret is readable by group or others
 * (mode 0644): run chmod 600 on it" in err (always NUL-terminated).
 */
int secure_key_load(const char *path, struct secure_key *k, char *err,
    size_t errlen);

/*
 * Create a new secret at path: 32 random bytes from the system's CSPRNG,
 * written as 64 hex digits and a newline, mode 0600.  Never overwrites: an
 * existing path (even a dangling symlink) is an error.  Returns 0, or -1
 * with a message in err.
 */
int secure_key_create(const char *path, char *err, size_t errlen);

/* Overwrite the key with zeros. */
void secure_key_wipe(struct secure_key *k);

/*
 * Start a handshake with key k (copied) in the given role.  Writes our
 * HELLO (SECURE_HELLO_LEN bytes) to hello_out, which the caller sends
 * first.  Never fails except on a broken libsodium, which is fatal.
 * Free with secure_session_free().
 */
struct secure_session *secure_session_new(const struct secure_key *k,
    enum secure_role role, uint8_t *hello_out);

/* Wipe and free a session.  Accepts NULL. */
void secure_session_free(struct secure_session *s);

enum secure_state secure_state(const struct secure_session *s);

/* Static text of the failure that put s in SECURE_FAILED, or "". */
const char *secure_error(const struct secure_session *s);

/*
 * Bytes of the next handshake message s waits for: SECURE_HELLO_LEN or
 * SECURE_AUTH_LEN, or 0 once established or failed.
 */
size_t secure_hs_need(const struct secure_session *s);

/*
 * Feed exactly secure_hs_need(s) bytes of the peer's next handshake
 * message.  A message to send back (our AUTH, after the peer's HELLO) is
 * written to out (SECURE_HS_MSG_MAX bytes of room) with its length in
 * *outlen (0 when there is none).  Returns 0, or -1 when the peer failed
 * a check (the session is then SECURE_FAILED; the reason in
 * secure_error(), e.g. that it does not hold the same cluster secret).
 */
int secure_hs_consume(struct secure_session *s, const uint8_t *in,
    size_t len, uint8_t *out, size_t *outlen);

/*
 * Check the first len bytes (fewer than secure_hs_need) of the peer's
 * next message before the rest arrives.  Returns -1 (the session is then
 * SECURE_FAILED) when they cannot begin a HELLO -- a plaintext canfs
 * frame, say, whose sender would otherwise wait for a reply until the
 * handshake timeout -- else 0.
 */
int secure_hs_peek(struct secure_session *s, const uint8_t *in, size_t len);

/*
 * True when buf (len bytes, at least 4) starts with the HELLO magic: lets
 * a plaintext endpoint tell "the peer wants a secure session" from noise.
 */
bool secure_is_hello(const uint8_t *buf, size_t len);

/* Bytes a record of plain_len plaintext bytes takes on the wire. */
size_t secure_sealed_len(size_t plain_len);

/*
 * Seal plain_len bytes (1 to SECURE_RECORD_MAX) into one record at out,
 * which has room for secure_sealed_len(plain_len) bytes.  s must be
 * established.  Returns 0, or -1 (a bad length or a session not
 * established: a bug of the caller's).
 */
int secure_seal(struct secure_session *s, const uint8_t *plain,
    size_t plain_len, uint8_t *out);

/*
 * Check a record's length prefix (SECURE_RECORD_HDR bytes at hdr).
 * Returns the size of the whole record (prefix included, at most
 * SECURE_RECORD_WIRE_MAX), or 0 when the length is out of bounds (the
 * session is then SECURE_FAILED with the reason in secure_error()).
 */
size_t secure_record_size(struct secure_session *s, const uint8_t *hdr);

/*
 * Open one whole record (rec_len bytes, prefix included, as measured by
 * secure_record_size) into out, which has room for SECURE_RECORD_MAX
 * bytes; the plaintext length goes to *plain_len.  Returns 0, or -1 when
 * the record is malformed, forged, altered, replayed or out of order (the
 * session is then SECURE_FAILED; nothing is written to out).
 */
int secure_open(struct secure_session *s, const uint8_t *rec, size_t rec_len,
    uint8_t *out, size_t *plain_len);

#endif
