/* dir.c: directory objects under CAS (see dir.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "dir.h"
#include "fs.h"
#include "inode.h"
#include "kv.h"
#include "log.h"
#include "itab.h"

/* Read and decode the directory object of n, caching it. */
static int
dir_fetch(struct fs *fs, struct itab_ent *n, struct meta_dir *d,
    uint64_t *version)
{
	struct hash_key k;
	struct kv_value v;
	int rc;

	meta_key_dir(n->ino, &k);
	if ((rc = inode_get(fs, &k, inode_seen(fs, n, true), &v)) != 0)
		return rc;
	if (meta_dir_decode(v.data, v.len, d) != 0) {
		log_error("directory %" PRIx64 ": object does not decode "
		    "(%zu bytes)", n->ino, v.len);
		kv_value_free(&v);
		return -EIO;
	}
	*version = v.version;
	kv_value_free(&v);
	itab_dir_store(fs->nodes, n, d, *version);
	return 0;
}

/* Read a directory (see inode.h). */
int
dir_read(struct fs *fs, struct itab_ent *n, int max_age_ms, struct meta_dir *d,
    uint64_t *version)
{
	uint64_t ver;

	meta_dir_init(d);
	if (version == NULL)
		version = &ver;
	if (max_age_ms != 0 &&
	    itab_dir_cached(fs->nodes, n, max_age_ms, d, version))
		return 0;
	return dir_fetch(fs, n, d, version);
}

/* Create an empty directory object. */
int
dir_create(struct fs *fs, uint64_t ino)
{
	struct meta_dir d;
	struct hash_key k;
	struct wbuf w;
	int rc;

	meta_dir_init(&d);
	wbuf_init(&w);
	meta_dir_encode(&w, &d);
	meta_key_dir(ino, &k);
	rc = kv_put(fs->kv, &k, w.p, w.len, WIRE_COND_ABSENT, 0, NULL);
	wbuf_free(&w);
	return rc == -KV_ECONFLICT ? 0 : rc;
}

/* Read-modify-CAS of a directory. */
int
dir_update(struct fs *fs, struct itab_ent *n, dir_fn fn, void *arg)
{
	struct meta_dir d;
	struct hash_key k;
	uint64_t ver, nver;
	struct wbuf w;
	int rc = 0, tries;

	meta_key_dir(n->ino, &k);
	if (!itab_dir_cached(fs->nodes, n, -1, &d, &ver) &&
	    (rc = dir_fetch(fs, n, &d, &ver)) != 0)
		return rc;
	wbuf_init(&w);
	for (tries = 0; tries < INODE_MAX_TRIES; tries++) {
		if ((rc = fn(&d, arg)) < 0)
			break;
		if (rc == INODE_UNCHANGED) {
			rc = 0;
			break;
		}
		if (meta_dir_encoded_len(&d) > WIRE_MAX_VALUE) {
			rc = -ENOSPC;
			break;
		}
		w.len = 0;
		meta_dir_encode(&w, &d);
		rc = kv_put(fs->kv, &k, w.p, w.len, WIRE_COND_VERSION, ver,
		    &nver);
		if (rc == 0) {
			itab_dir_store(fs->nodes, n, &d, nver);
			break;
		}
		meta_dir_free(&d);
		/*
		 * A conflict is always another writer's change: the store
		 * answers a retried write that landed with its version.
		 */
		if (rc != -KV_ECONFLICT)
			break;
		inode_backoff(tries);
		if ((rc = dir_fetch(fs, n, &d, &ver)) != 0)
			break;
	}
	if (tries == INODE_MAX_TRIES) {
		log_error("directory %" PRIx64 ": gave up after %d conflicts",
		    n->ino, tries);
		rc = -EIO;
	}
	wbuf_free(&w);
	meta_dir_free(&d);
	return rc;
}

/* Delete an empty directory object atomically. */
int
dir_remove_empty(struct fs *fs, struct itab_ent *n)
{
	struct meta_dir d;
	struct hash_key k;
	uint64_t ver;
	int rc;

	meta_key_dir(n->ino, &k);
	for (int tries = 0; tries < INODE_MAX_TRIES; tries++) {
		if ((rc = dir_fetch(fs, n, &d, &ver)) != 0)
			return rc;
		rc = d.n > 0 ? -ENOTEMPTY : 0;
		meta_dir_free(&d);
		if (rc != 0)
			return rc;
		rc = kv_del(fs->kv, &k, WIRE_COND_VERSION, ver);
		/* After a conflict the next read finds it gone or not. */
		if (rc != -KV_ECONFLICT) {
			if (rc == 0)
				itab_forget_cache(fs->nodes, n);
			return rc;
		}
		inode_backoff(tries);
	}
	return -EIO;
}
