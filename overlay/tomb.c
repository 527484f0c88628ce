/*
 * tomb.c: tombstones of dead and departed nodes (see tomb.h).
 */
#include <stddef.h>

#include "tomb.h"

/* The live entry for (id, inc), or NULL. */
static struct tomb *
tomb_find(struct tomb_set *s, uint64_t id, uint64_t inc, uint64_t now_ms)
{
	for (int i = 0; i < TOMB_MAX; i++) {
		struct tomb *t = &s->t[i];

		if (t->until_ms > now_ms && t->id == id && t->inc == inc)
			return t;
	}
	return NULL;
}

void
tomb_mark(struct tomb_set *s, uint64_t id, uint64_t inc, uint64_t now_ms)
{
	struct tomb *t = tomb_find(s, id, inc, now_ms);

	if (t == NULL) {
		t = &s->t[s->next];
		s->next = (s->next + 1) % TOMB_MAX;
	}
	t->id = id;
	t->inc = inc;
	t->until_ms = now_ms + TOMB_TTL_MS;
}

bool
tomb_is_dead(const struct tomb_set *s, uint64_t id, uint64_t inc,
    uint64_t now_ms)
{
	return tomb_find((struct tomb_set *)s, id, inc, now_ms) != NULL;
}

bool
tomb_clear(struct tomb_set *s, uint64_t id, uint64_t inc, uint64_t now_ms)
{
	struct tomb *t = tomb_find(s, id, inc, now_ms);

	if (t == NULL)
		return false;
	t->until_ms = 0;
	return true;
}
