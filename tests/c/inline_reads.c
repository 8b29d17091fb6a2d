/* fastmap.h's inline reads (FM_INLINE_READS) answer exactly as the library does, and decide the common
 * case without calling it.
 *
 * The library's lookups are reached through the linker (-Wl,--wrap=fm_map_lookup_elem and
 * =fm_map_lookup_elem_ptr): every call the inline code makes into the library is counted by the
 * __wrap_ functions below, and the reference answers come from __real_, so a test can say both "same
 * answer as the library" and "the library was (not) asked".
 *
 *   1. Differential, sparse: every key in its home group. Same return, errno, value bytes and value
 *      pointer as the library, for present and absent keys, key sizes 4..40, hash, LRU and per-CPU maps
 *      (every CPU's copy, as the library stores them), and, once the first address handed out has
 *      pinned the map, no library call at all (which also proves the inline hash is the library's,
 *      bit for bit).
 *   2. Differential, full: keys in neighbour groups and overflow records, deletes leaving limbo slots.
 *      Same answers; some lookups decided inline and some by the library.
 *   3. Everything inline reads must hand to the library: closed, negative and huge handles, NULL key
 *      or value, write-only handles, array and spin-lock maps: the library's answers.
 *   4. Compare-and-delete: -ENOENT and -EBUSY decided inline, the library's answer (and errno) for
 *      bad windows, NULL pointers, read-only handles, LRU and per-CPU maps; a match deletes, once.
 *   5. A handle reused by a map of another geometry: no stale layout is used.
 *   6. Threads: a writer replaces and deletes values while readers copy them inline: never a torn or
 *      foreign value. A closer replaces the map under the readers: EBADF or a consistent value.
 *   7. Sections: an inline fm_read_lock() holds back reuse of a deleted entry's memory, also after
 *      unmatched unlocks (ignored, as the library ignores them); inline and library lock/unlock pair
 *      up across each other.
 *
 * Usage: inline_reads [writer-ops] */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <fastmap.h>

#include "check.h"

#ifndef FM_INLINE_READS
#error "this test checks fastmap.h's inline reads: build with GCC or Clang on x86-64, without FM_NO_INLINE"
#endif

/* struct fm__layout mirrors InlineLayout.Descriptor (src/FastMap/Abi/InlineLayout.cs) byte for byte;
 * the managed side asserts the same offsets (InlineLayoutTests). */
#include <stddef.h>
_Static_assert(sizeof(struct fm__layout) == 128, "descriptor size");
_Static_assert(offsetof(struct fm__layout, gen) == 0 && offsetof(struct fm__layout, state) == 4
	       && offsetof(struct fm__layout, version) == 8 && offsetof(struct fm__layout, key_size) == 12
	       && offsetof(struct fm__layout, value_size) == 16 && offsetof(struct fm__layout, value_offset) == 20
	       && offsetof(struct fm__layout, stride) == 24 && offsetof(struct fm__layout, group_bytes) == 28
	       && offsetof(struct fm__layout, group_bits) == 32 && offsetof(struct fm__layout, flags) == 36
	       && offsetof(struct fm__layout, seed) == 40 && offsetof(struct fm__layout, ctrl) == 48
	       && offsetof(struct fm__layout, entries) == 56 && offsetof(struct fm__layout, pinned) == 64,
	       "descriptor field offsets");
_Static_assert(offsetof(struct fm__slot, announce) == 0 && offsetof(struct fm__slot, depth) == 12
	       && offsetof(struct fm__slot, advance_due) == 16, "epoch slot offsets (Epoch.cs)");

int __real_fm_map_lookup_elem(int fd, const void *key, void *value);
void *__real_fm_map_lookup_elem_ptr(int fd, const void *key);
int __real_fm_map_delete_elem_cmp(int fd, const void *key, const void *compare, uint32_t offset, uint32_t size);

static long g_lib_calls; /* lookups the inline code handed to the library */

int __wrap_fm_map_lookup_elem(int fd, const void *key, void *value)
{
	__atomic_add_fetch(&g_lib_calls, 1, __ATOMIC_RELAXED);
	return __real_fm_map_lookup_elem(fd, key, value);
}

void *__wrap_fm_map_lookup_elem_ptr(int fd, const void *key)
{
	__atomic_add_fetch(&g_lib_calls, 1, __ATOMIC_RELAXED);
	return __real_fm_map_lookup_elem_ptr(fd, key);
}

int __wrap_fm_map_delete_elem_cmp(int fd, const void *key, const void *compare, uint32_t offset, uint32_t size)
{
	__atomic_add_fetch(&g_lib_calls, 1, __ATOMIC_RELAXED);
	return __real_fm_map_delete_elem_cmp(fd, key, compare, offset, size);
}

static long lib_calls(void)
{
	return __atomic_load_n(&g_lib_calls, __ATOMIC_RELAXED);
}

#define MAX_KEY   40
#define MAX_VALUE 4096 /* room for a per-CPU value of every CPU */

static uint64_t mix(uint64_t x)
{
	x += 0x9E3779B97F4A7C15ull;
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
	return x ^ (x >> 31);
}

/* Key i of n bytes: distinct for distinct i (the first 4 bytes are i itself). */
static void make_key(uint8_t *k, uint32_t n, uint32_t i)
{
	uint32_t j;

	for (j = 0; j < n; j++)
		k[j] = (uint8_t)(mix((uint64_t)i * 64 + j / 8) >> (8 * (j % 8)));
	memcpy(k, &i, n < 4 ? n : 4);
}

static void make_value(uint8_t *v, uint32_t n, uint32_t i)
{
	uint32_t j;

	for (j = 0; j < n; j++)
		v[j] = (uint8_t)(mix(~(uint64_t)i * 131 + j) & 0xFF);
}

/* One key through the inline and the library path: same answer, errno, bytes and pointer. */
static void same_answer(int fd, const void *key, uint32_t value_size)
{
	uint8_t a[MAX_VALUE], b[MAX_VALUE];
	int ra, rb, ea, eb;
	void *pa, *pb;

	memset(a, 0xA5, sizeof(a));
	memset(b, 0xA5, sizeof(b));
	errno = 0;
	ra = fm_map_lookup_elem(fd, key, a);
	ea = errno;
	errno = 0;
	rb = __real_fm_map_lookup_elem(fd, key, b);
	eb = errno;
	CHECK_RET(ra, rb);
	if (ra != 0)
		CHECK_RET(ea, eb);
	CHECK(memcmp(a, b, sizeof(a)) == 0);
	(void)value_size;

	fm_read_lock();
	errno = 0;
	pa = fm_map_lookup_elem_ptr(fd, key);
	ea = errno;
	errno = 0;
	pb = __real_fm_map_lookup_elem_ptr(fd, key);
	eb = errno;
	CHECK(pa == pb);
	if (!pa)
		CHECK_RET(ea, eb);
	fm_read_unlock();
}

static int create(uint32_t type, uint32_t key_size, uint32_t value_size, uint32_t max, uint32_t flags)
{
	FM_OPTS(fm_map_create_opts, o, .map_flags = flags);
	int fd = fm_map_create(type, "inline", key_size, value_size, max, &o);

	CHECK(fd >= 0);
	return fd;
}

/* 1. Sparse maps: every lookup decided inline, with the library's answers. */
static void sparse(void)
{
	static const uint32_t key_sizes[] = { 4, 8, 13, 16, 24, 40 };
	static const uint32_t types[] = { FM_MAP_TYPE_HASH, FM_MAP_TYPE_LRU_HASH, FM_MAP_TYPE_PERCPU_HASH };
	uint8_t k[MAX_KEY], v[MAX_VALUE];
	size_t s, t;
	uint32_t i;

	for (t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
		for (s = 0; s < sizeof(key_sizes) / sizeof(key_sizes[0]); s++) {
			const uint32_t n = key_sizes[s], vs = 8 + 4 * (uint32_t)s;
			/* A fixed seed: the placement, and so "every key at home", is the same every run. */
			int fd = create(types[t], n, vs, 4096, FM_F_ZERO_SEED);
			long before;

			for (i = 0; i < 256; i++) {
				make_key(k, n, i);
				make_value(v, vs, i);
				CHECK_RET(fm_map_update_elem(fd, k, v, FM_NOEXIST), 0);
			}
			/* The first address handed out is the library's: it pins the map (deletes keep freed
			 * slots for a grace period from then on); after that, inline. */
			before = lib_calls();
			fm_read_lock();
			CHECK(fm_map_lookup_elem_ptr(fd, k) != NULL);
			fm_read_unlock();
			CHECK_RET(lib_calls() - before, 1);
			before = lib_calls();
			for (i = 0; i < 512; i++) { /* 256 present, 256 absent */
				make_key(k, n, i);
				same_answer(fd, k, vs);
			}
			CHECK_RET(lib_calls() - before, 0); /* __real_ calls are not counted: these are the inline code's */
			CHECK_RET(fm_map_close(fd), 0);
		}
	}
}

/* 2. Full maps: neighbour groups, overflow records and limbo slots, still the library's answers. */
static void full(void)
{
	static const uint32_t key_sizes[] = { 4, 16, 13 };
	uint8_t k[MAX_KEY], v[MAX_VALUE];
	size_t s;
	uint32_t i;

	for (s = 0; s < sizeof(key_sizes) / sizeof(key_sizes[0]); s++) {
		const uint32_t n = key_sizes[s], max = 2000;
		int fd = create(FM_MAP_TYPE_HASH, n, 16, max, FM_F_ZERO_SEED);
		long before, handed;

		for (i = 0; i < max; i++) {
			make_key(k, n, i);
			make_value(v, 16, i);
			CHECK_RET(fm_map_update_elem(fd, k, v, FM_NOEXIST), 0);
		}
		for (i = 0; i < max; i += 3) { /* delete a third, refill with other keys */
			make_key(k, n, i);
			CHECK_RET(fm_map_delete_elem(fd, k), 0);
			make_key(k, n, max + i);
			make_value(v, 16, max + i);
			CHECK_RET(fm_map_update_elem(fd, k, v, FM_NOEXIST), 0);
		}
		before = lib_calls();
		for (i = 0; i < 2 * max; i++) {
			make_key(k, n, i);
			same_answer(fd, k, 16);
		}
		handed = lib_calls() - before;
		CHECK(handed > 0);                 /* some keys are off their home group: the library decides */
		CHECK(handed < 2L * 2 * max);      /* and the rest was decided inline */
		CHECK_RET(fm_map_close(fd), 0);
	}
}

/* 3. What the inline code must hand to the library, with the library's answers. */
static void handed(void)
{
	uint8_t k[MAX_KEY], v[MAX_VALUE];
	long before;
	int fd;

	memset(v, 0x3C, sizeof(v));
	make_key(k, 4, 5);

	/* A closed handle (EBADF, and ENOENT from the pointer lookup), and handles never opened. */
	fd = create(FM_MAP_TYPE_HASH, 4, 8, 64, 0);
	CHECK_RET(fm_map_update_elem(fd, k, v, FM_ANY), 0);
	CHECK_RET(fm_map_close(fd), 0);
	before = lib_calls();
	same_answer(fd, k, 8);
	CHECK_ERR(fm_map_lookup_elem(fd, k, v), EBADF);
	same_answer(-1, k, 8);
	same_answer(1 << 20, k, 8);
	same_answer(0x7FFFFFFF, k, 8);
	CHECK(lib_calls() - before >= 8);

	/* NULL key or value: EFAULT, from the library. */
	fd = create(FM_MAP_TYPE_HASH, 4, 8, 64, 0);
	CHECK_RET(fm_map_update_elem(fd, k, v, FM_ANY), 0);
	same_answer(fd, NULL, 8);
	CHECK_ERR(fm_map_lookup_elem(fd, k, NULL), EFAULT);
	CHECK_ERR(fm_map_lookup_elem(fd, NULL, v), EFAULT);
	CHECK_RET(fm_map_close(fd), 0);

	/* Write-only handles (EPERM), array, per-CPU and spin-lock maps. */
	fd = create(FM_MAP_TYPE_HASH, 4, 8, 64, FM_F_WRONLY);
	CHECK_RET(fm_map_update_elem(fd, k, v, FM_ANY), 0);
	before = lib_calls();
	same_answer(fd, k, 8);
	CHECK_ERR(fm_map_lookup_elem(fd, k, v), EPERM);
	CHECK(lib_calls() - before == 3);
	CHECK_RET(fm_map_close(fd), 0);

	fd = create(FM_MAP_TYPE_ARRAY, 4, 8, 16, 0);
	CHECK_RET(fm_map_update_elem(fd, k, v, FM_ANY), 0);
	before = lib_calls();
	same_answer(fd, k, 8);
	make_key(k, 4, 99);
	same_answer(fd, k, 8);
	CHECK(lib_calls() - before == 4);
	CHECK_RET(fm_map_close(fd), 0);

	make_key(k, 4, 5);
	{
		FM_OPTS(fm_map_create_opts, o, .has_spin_lock = 1, .spin_lock_off = 8);

		fd = fm_map_create(FM_MAP_TYPE_HASH, "locked", 4, 16, 64, &o);
		CHECK(fd >= 0);
		memset(v, 0, 16);
		CHECK_RET(fm_map_update_elem(fd, k, v, FM_ANY), 0);
		before = lib_calls();
		same_answer(fd, k, 16);
		CHECK(lib_calls() - before == 2);
		CHECK_RET(fm_map_close(fd), 0);
	}
}

/* 4. Compare-and-delete: inline answers only what needs no write (-ENOENT, -EBUSY), the library's
 * answers for everything, in its order of checks. */
static void same_cmp(int fd, const void *key, const void *compare, uint32_t offset, uint32_t size)
{
	int ra, rb, ea, eb;

	errno = 0;
	ra = fm_map_delete_elem_cmp(fd, key, compare, offset, size);
	ea = errno;
	CHECK(ra != 0); /* callers pass cases that delete nothing */
	errno = 0;
	rb = __real_fm_map_delete_elem_cmp(fd, key, compare, offset, size);
	eb = errno;
	CHECK_RET(ra, rb);
	CHECK_RET(ea, eb);
}

static void compare_delete(void)
{
	static const uint32_t windows[][2] = { { 0, 0 }, { 0, 8 }, { 8, 8 }, { 3, 13 }, { 0, 32 }, { 31, 1 },
					       { 0, 33 }, { 33, 0 }, { 30, 4 }, { 0xFFFFFFFFu, 2 } };
	uint8_t k[MAX_KEY], v[MAX_VALUE], other[MAX_VALUE];
	size_t w;
	uint32_t i;
	long before;
	int fd, ro, lru;

	fd = create(FM_MAP_TYPE_HASH, 16, 32, 4096, FM_F_ZERO_SEED);
	for (i = 0; i < 256; i++) {
		make_key(k, 16, i);
		make_value(v, 32, i);
		CHECK_RET(fm_map_update_elem(fd, k, v, FM_NOEXIST), 0);
	}
	/* Present keys with windows that differ (in every byte), absent keys, bad windows, a NULL compare or key: the
	 * library's answer every time; no call into it for the valid windows of a sparse map. */
	before = lib_calls();
	for (i = 0; i < 512; i++) {
		make_key(k, 16, i);
		make_value(other, 32, i);
		for (w = 0; w < 32; w++)
			other[w] ^= 0xFF; /* every byte differs from the stored value */
		for (w = 0; w < sizeof(windows) / sizeof(windows[0]); w++)
			same_cmp(fd, k, other + (windows[w][0] < 32 ? windows[w][0] : 0), windows[w][0], windows[w][1]);
		same_cmp(fd, k, NULL, 0, 8);
	}
	same_cmp(fd, NULL, other, 0, 8);
	CHECK_RET(lib_calls() - before, 512L * 5 + 1); /* 4 bad windows and a NULL compare a key, a NULL key */

	/* A match deletes (through the library), once. */
	for (i = 0; i < 256; i += 2) {
		make_key(k, 16, i);
		make_value(v, 32, i);
		before = lib_calls();
		CHECK_RET(fm_map_delete_elem_cmp(fd, k, v + 8, 8, 16), 0);
		CHECK_RET(lib_calls() - before, 1);
		CHECK_ERR(fm_map_delete_elem_cmp(fd, k, v + 8, 8, 16), ENOENT);
		CHECK_ERR(fm_map_lookup_elem(fd, k, other), ENOENT);
	}
	CHECK_RET(fm_map_close(fd), 0);

	/* Read-only handles, LRU and per-CPU maps (-EOPNOTSUPP), closed handles: the library's answer. */
	ro = create(FM_MAP_TYPE_HASH, 16, 32, 64, FM_F_RDONLY);
	lru = create(FM_MAP_TYPE_LRU_HASH, 16, 32, 64, 0);
	fd = create(FM_MAP_TYPE_PERCPU_HASH, 16, 32, 64, 0);
	make_key(k, 16, 1);
	make_value(v, 32, 1);
	CHECK_RET(fm_map_update_elem(lru, k, v, FM_ANY), 0);
	memset(other, 0, sizeof(other));
	CHECK_RET(fm_map_update_elem(fd, k, other, FM_ANY), 0);
	before = lib_calls();
	same_cmp(ro, k, v, 0, 8);
	same_cmp(lru, k, other, 0, 8);
	same_cmp(fd, k, v, 0, 8);
	CHECK_RET(lib_calls() - before, 3);
	CHECK_RET(fm_map_close(ro), 0);
	CHECK_RET(fm_map_close(lru), 0);
	CHECK_RET(fm_map_close(fd), 0);
	same_cmp(fd, k, v, 0, 8);
}

/* 5. A handle number reused by a map of another geometry. */
static void reuse(void)
{
	uint8_t k[MAX_KEY], v[MAX_VALUE], got[MAX_VALUE];
	int a, b;
	uint32_t i;

	a = create(FM_MAP_TYPE_HASH, 4, 8, 64, 0);
	make_key(k, 4, 7);
	make_value(v, 8, 7);
	CHECK_RET(fm_map_update_elem(a, k, v, FM_ANY), 0);
	CHECK_RET(fm_map_lookup_elem(a, k, got), 0); /* the old layout is in use... */
	CHECK_RET(fm_map_close(a), 0);
	b = create(FM_MAP_TYPE_HASH, 40, 64, 100000, 0);
	CHECK_RET(b, a);                               /* ...and the handle comes back, lowest first */
	CHECK_ERR(fm_map_lookup_elem(b, k, got), ENOENT);
	for (i = 0; i < 100; i++) {
		make_key(k, 40, i);
		make_value(v, 64, i);
		CHECK_RET(fm_map_update_elem(b, k, v, FM_ANY), 0);
	}
	for (i = 0; i < 200; i++) {
		make_key(k, 40, i);
		same_answer(b, k, 64);
		if (i < 100) {
			make_value(v, 64, i);
			CHECK_RET(fm_map_lookup_elem(b, k, got), 0);
			CHECK(memcmp(got, v, 64) == 0);
		}
	}
	CHECK_RET(fm_map_close(b), 0);
}

/* 6. Copies are never torn or foreign while a writer replaces values and deletes keys, and a map
 * replaced under the readers gives EBADF or a consistent value. A value is four equal words
 * (key << 48 | generation << 40 | count): a copy is whole if its words are equal and name its key. */
#define T_KEYS 64

static int g_fd;
static int g_stop;
static int g_closing; /* phase 2: the handle may be closed under the readers */

static uint64_t word(uint32_t key, uint64_t gen, uint64_t count)
{
	return (uint64_t)key << 48 | (gen & 0xFF) << 40 | (count & 0xFFFFFFFFFFull);
}

static void *reader(void *arg)
{
	uint64_t seed = (uintptr_t)arg, n = 0;

	while (!__atomic_load_n(&g_stop, __ATOMIC_ACQUIRE)) {
		uint32_t key = 1 + (uint32_t)(mix(seed + n++) % T_KEYS);
		uint64_t v[4], *p;
		int r = fm_map_lookup_elem(__atomic_load_n(&g_fd, __ATOMIC_RELAXED), &key, v);

		if (r == 0) {
			CHECK(v[0] == v[1] && v[1] == v[2] && v[2] == v[3]);
			CHECK_RET(v[0] >> 48, key);
		} else if (r != -ENOENT) {
			CHECK_RET(r, -EBADF);
			CHECK(__atomic_load_n(&g_closing, __ATOMIC_RELAXED));
		}

		/* Through a pointer, words may mix two writes of the key, but never another key's. */
		fm_read_lock();
		p = fm_map_lookup_elem_ptr(__atomic_load_n(&g_fd, __ATOMIC_RELAXED), &key);
		if (p) {
			int j;

			for (j = 0; j < 4; j++)
				CHECK_RET(__atomic_load_n(&p[j], __ATOMIC_RELAXED) >> 48, key);
		}
		fm_read_unlock();
	}
	return NULL;
}

static void writer_ops(unsigned long ops, uint64_t gen, int closer)
{
	unsigned long i;

	for (i = 0; i < ops; i++) {
		uint32_t key = 1 + (uint32_t)(mix(i * 7919 + gen) % T_KEYS);
		uint64_t w = word(key, gen, i), v[4] = { w, w, w, w };
		int fd = __atomic_load_n(&g_fd, __ATOMIC_RELAXED), r;

		if (closer && i % 5000 == 4999) { /* replace the map: close, then create its successor */
			CHECK_RET(fm_map_close(fd), 0);
			gen++;
			fd = create(FM_MAP_TYPE_HASH, 4, 32, 2 * T_KEYS, 0);
			__atomic_store_n(&g_fd, fd, __ATOMIC_RELAXED);
		}
		r = i % 5 == 0 ? fm_map_delete_elem(fd, &key) : fm_map_update_elem(fd, &key, v, FM_ANY);
		CHECK(r == 0 || r == -ENOENT);
	}
}

static void threads(unsigned long ops)
{
	pthread_t t[2];
	int phase, j;

	for (phase = 0; phase < 2; phase++) {
		g_fd = create(FM_MAP_TYPE_HASH, 4, 32, 2 * T_KEYS, 0);
		__atomic_store_n(&g_closing, phase, __ATOMIC_RELAXED);
		__atomic_store_n(&g_stop, 0, __ATOMIC_RELAXED);
		for (j = 0; j < 2; j++)
			CHECK_RET(pthread_create(&t[j], NULL, reader, (void *)(uintptr_t)(j * 1000003 + phase)), 0);
		writer_ops(ops, (uint64_t)phase * 100, phase);
		__atomic_store_n(&g_stop, 1, __ATOMIC_RELEASE);
		for (j = 0; j < 2; j++)
			CHECK_RET(pthread_join(t[j], NULL), 0);
		CHECK_RET(fm_map_close(g_fd), 0);
	}
}

/* 7. An inline section holds back the reuse of a deleted entry's memory. */
static int g_ready, g_done;
static uint64_t g_seen;

static void *holder(void *arg)
{
	const int library_outer = (int)(uintptr_t)arg;
	uint32_t key = 1;
	uint64_t *p;

	/* Unmatched unlocks, before the thread has a slot and after a balanced pair, are ignored (the
	 * library's answer): they must not leave the depth below zero, or the section below would not
	 * be announced and would protect nothing. */
	fm_read_unlock();
	fm_read_lock();
	(fm_read_unlock)();        /* an inline lock ended by the library's unlock */
	(fm_read_unlock)();
	fm_read_unlock();
	/* The section that must hold: the inline lock; or the library's, with an inline pair nested
	 * inside that must not end it. The inline unlock below ends either. */
	if (library_outer) {
		(fm_read_lock)();
		fm_read_lock();
		fm_read_unlock();
	} else
		fm_read_lock();
	p = fm_map_lookup_elem_ptr(g_fd, &key);
	CHECK(p != NULL);
	__atomic_store_n(&g_ready, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&g_done, __ATOMIC_ACQUIRE))
		sched_yield();
	g_seen = __atomic_load_n(p, __ATOMIC_RELAXED);
	fm_read_unlock();
	return NULL;
}

static void sections(void)
{
	int library_outer;

	for (library_outer = 0; library_outer < 2; library_outer++) {
		uint64_t v = 0x1111;
		uint32_t key = 1, round, other;
		pthread_t t;

		g_ready = g_done = 0;
		g_fd = create(FM_MAP_TYPE_HASH, 4, 8, 32, 0);
		CHECK_RET(fm_map_update_elem(g_fd, &key, &v, FM_ANY), 0);
		CHECK_RET(pthread_create(&t, NULL, holder, (void *)(uintptr_t)library_outer), 0);
		while (!__atomic_load_n(&g_ready, __ATOMIC_ACQUIRE))
			sched_yield();
		CHECK_RET(fm_map_delete_elem(g_fd, &key), 0);
		/* Churn every other key through the map, over and over: without the holder's section, the
		 * deleted entry's slot is free for them once an epoch passes (checked by breaking the
		 * inline lock: this then fails). */
		v = 0x2222;
		for (round = 0; round < 2000; round++) {
			for (other = 2; other < 32; other++)
				CHECK(fm_map_update_elem(g_fd, &other, &v, FM_NOEXIST) == 0);
			for (other = 2; other < 32; other++)
				CHECK_RET(fm_map_delete_elem(g_fd, &other), 0);
		}
		__atomic_store_n(&g_done, 1, __ATOMIC_RELEASE);
		CHECK_RET(pthread_join(t, NULL), 0);
		CHECK_RET(g_seen, 0x1111);
		CHECK_RET(fm_map_close(g_fd), 0);
	}
}

int main(int argc, char **argv)
{
	unsigned long ops = argc > 1 ? strtoul(argv[1], NULL, 10) : 200000;

	sparse();
	full();
	handed();
	compare_delete();
	reuse();
	threads(ops);
	sections();
	printf("inline_reads: %d checks passed\n", fm_checks_run);
	return 0;
}

CHECK_SITES_FIT();
