// A minimal single-threaded C open-addressing table of Key16 -> Value32: the stress run's "plain C table", a
// limit reference (what a program gets with no concurrency and no kernel semantics), like .NET's Dictionary.
// Linear probing over slots that hold key and value inline, at most 3/4 full, backward-shift deletion (no
// tombstones), a one-multiply hash. Every function returns 0 or a negative errno, like the map commands.
// Build: bench/peers/build.sh (cc -O2 -shared -fPIC).
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
	uint64_t a, b;
} key16;

typedef struct {
	uint64_t revision;
	uint64_t payload[3];
} value32;

typedef struct {
	key16 key;
	value32 value;
	uint64_t used; // 0: empty
} slot;

typedef struct {
	slot *slots;
	uint64_t mask, count, max;
} table;

static inline uint64_t hash(const key16 *k)
{
	uint64_t h = k->a ^ (k->b * 0x9E3779B97F4A7C15ull);
	return h ^ (h >> 29);
}

static inline int same(const key16 *x, const key16 *y)
{
	return x->a == y->a && x->b == y->b;
}

void *ct_create(uint64_t max_entries)
{
	uint64_t n = 8;
	while (n < max_entries + max_entries / 3 + 1)
		n <<= 1;
	table *t = calloc(1, sizeof *t);
	if (!t)
		return NULL;
	t->slots = calloc(n, sizeof(slot));
	if (!t->slots) {
		free(t);
		return NULL;
	}
	t->mask = n - 1;
	t->max = max_entries;
	return t;
}

void ct_destroy(void *m)
{
	table *t = m;
	free(t->slots);
	free(t);
}

// The slot holding key, or the empty slot where it would go.
static inline uint64_t probe(const table *t, const key16 *k)
{
	uint64_t i = hash(k) & t->mask;
	while (t->slots[i].used && !same(&t->slots[i].key, k))
		i = (i + 1) & t->mask;
	return i;
}

int ct_find(void *m, const void *key, void *value)
{
	const table *t = m;
	uint64_t i = probe(t, key);
	if (!t->slots[i].used)
		return -ENOENT;
	memcpy(value, &t->slots[i].value, sizeof(value32));
	return 0;
}

// flags: 0 any, 1 noexist, 2 exist (BPF_ANY, BPF_NOEXIST, BPF_EXIST).
int ct_update(void *m, const void *key, const void *value, uint64_t flags)
{
	table *t = m;
	uint64_t i = probe(t, key);
	if (t->slots[i].used) {
		if (flags == 1)
			return -EEXIST;
		memcpy(&t->slots[i].value, value, sizeof(value32));
		return 0;
	}
	if (flags == 2)
		return -ENOENT;
	if (t->count == t->max)
		return -E2BIG;
	memcpy(&t->slots[i].key, key, sizeof(key16));
	memcpy(&t->slots[i].value, value, sizeof(value32));
	t->slots[i].used = 1;
	t->count++;
	return 0;
}

// Backward-shift deletion: later entries of the run move up, so probes never need tombstones.
static void remove_at(table *t, uint64_t i)
{
	uint64_t j = i;
	for (;;) {
		j = (j + 1) & t->mask;
		if (!t->slots[j].used)
			break;
		uint64_t home = hash(&t->slots[j].key) & t->mask;
		// Move j to i unless its home lies cyclically in (i, j].
		if (((j - home) & t->mask) >= ((j - i) & t->mask)) {
			t->slots[i] = t->slots[j];
			i = j;
		}
	}
	t->slots[i].used = 0;
	t->count--;
}

int ct_erase(void *m, const void *key)
{
	table *t = m;
	uint64_t i = probe(t, key);
	if (!t->slots[i].used)
		return -ENOENT;
	remove_at(t, i);
	return 0;
}

// Compare-and-delete on the revision (single-threaded: trivially "atomic").
int ct_update_cmp(void *m, const void *key, const void *value, uint64_t revision)
{
	table *t = m;
	uint64_t i = probe(t, key);
	if (!t->slots[i].used)
		return -ENOENT;
	if (t->slots[i].value.revision != revision)
		return -EBUSY;
	memcpy(&t->slots[i].value, value, sizeof(t->slots[i].value));
	return 0;
}

int ct_erase_cmp(void *m, const void *key, uint64_t revision)
{
	table *t = m;
	uint64_t i = probe(t, key);
	if (!t->slots[i].used)
		return -ENOENT;
	if (t->slots[i].value.revision != revision)
		return -EBUSY;
	remove_at(t, i);
	return 0;
}
