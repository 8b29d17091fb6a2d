/* The batch exports of libfastmap.so, checked against include/fastmap.h: counts in and out, the
 * cursor, every errno, per-key results of fm_map_delete_batch_cmp(), and the same commands through
 * fm_bpf() with the documented attr layout. Exit status = ordinal of the first failed check. */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <fastmap.h>

#include "check.h"

_Static_assert(FM_BPF_MAP_LOOKUP_BATCH == 24 && FM_BPF_MAP_LOOKUP_AND_DELETE_BATCH == 25 &&
	       FM_BPF_MAP_UPDATE_BATCH == 26 && FM_BPF_MAP_DELETE_BATCH == 27, "kernel bpf_cmd numbers");

/* The batch part of union bpf_attr as fm_bpf() documents it: the kernel's struct (to 56), then
 * FastMap's compare fields for BPF_MAP_DELETE_BATCH with BPF_F_COMPARE (to 80). */
struct batch_attr {
	uint64_t in_batch;
	uint64_t out_batch;
	uint64_t keys;
	uint64_t values;
	uint32_t count;
	uint32_t map_fd;
	uint64_t elem_flags;
	uint64_t flags;
	uint64_t compares;
	uint32_t compare_offset;
	uint32_t compare_size;
	uint64_t results;
};
_Static_assert(offsetof(struct batch_attr, in_batch) == 0, "in_batch@0");
_Static_assert(offsetof(struct batch_attr, out_batch) == 8, "out_batch@8");
_Static_assert(offsetof(struct batch_attr, keys) == 16, "keys@16");
_Static_assert(offsetof(struct batch_attr, values) == 24, "values@24");
_Static_assert(offsetof(struct batch_attr, count) == 32, "count@32");
_Static_assert(offsetof(struct batch_attr, map_fd) == 36, "map_fd@36");
_Static_assert(offsetof(struct batch_attr, elem_flags) == 40, "elem_flags@40");
_Static_assert(offsetof(struct batch_attr, flags) == 48, "flags@48: the kernel's struct ends at 56");
_Static_assert(offsetof(struct batch_attr, compares) == 56, "compares@56");
_Static_assert(offsetof(struct batch_attr, compare_offset) == 64, "compare_offset@64");
_Static_assert(offsetof(struct batch_attr, compare_size) == 68, "compare_size@68");
_Static_assert(offsetof(struct batch_attr, results) == 72, "results@72");
_Static_assert(sizeof(struct batch_attr) == 80, "80 bytes");

/* The whole union, so tail bytes past 80 can be set: sizeof(union bpf_attr) on 6.18. */
union attr {
	struct batch_attr b;
	uint8_t raw[168];
};

struct val {
	uint64_t revision;
	uint64_t payload; /* encodes the key: a value returned for the wrong key shows */
};

#define REV_OFF ((uint32_t)offsetof(struct val, revision))
#define REV_SZ  ((uint32_t)sizeof(uint64_t))
#define MAXN    512

static struct val val_of(uint32_t k)
{
	struct val v = { k + 1000u, (uint64_t)k * 7 + 1 };

	return v;
}

static int filled(uint32_t type, uint32_t n, uint32_t max, uint32_t map_flags)
{
	FM_OPTS(fm_map_create_opts, o, .map_flags = map_flags);
	int fd = fm_map_create(type, "batch", sizeof(uint32_t), sizeof(struct val), max, &o);
	uint32_t k;

	CHECK(fd >= 0);
	for (k = 0; k < n; k++) {
		struct val v = val_of(k);

		CHECK_RET(fm_map_update_elem(fd, &k, &v, FM_ANY), 0);
	}
	return fd;
}

static uint32_t present(int fd, uint32_t n)
{
	uint32_t k, c = 0;
	struct val out;

	for (k = 0; k < n; k++)
		c += fm_map_lookup_elem(fd, &k, &out) == 0;
	return c;
}

/* Scans a hash map to the end with `room` entries a call (doubled on -ENOSPC, as libbpf users do),
 * optionally deleting. seen[k] counts how often key k came back; each value must be val_of(k).
 * Returns the number of -ENOSPC answers. */
static int scan(int fd, uint32_t room, int delete, uint8_t *seen, uint32_t n)
{
	static uint32_t keys[MAXN];
	static struct val vals[MAXN];
	uint8_t cur[8], next[8]; /* max(4, key_size) bytes would do; 8 shows only 4 are written */
	void *in = NULL;
	int enospc = 0, calls;

	memset(seen, 0, n);
	for (calls = 0; calls < 100000; calls++) {
		uint32_t count = room, i;
		int ret;

		memset(next, 0xa5, sizeof(next));
		errno = 0;
		ret = delete ? fm_map_lookup_and_delete_batch(fd, in, next, keys, vals, &count, 0)
			     : fm_map_lookup_batch(fd, in, next, keys, vals, &count, 0);
		CHECK(ret == 0 || ret == -ENOENT || ret == -ENOSPC);
		CHECK(ret == 0 || errno == -ret);
		CHECK(count <= room);
		CHECK(next[4] == 0xa5 && next[7] == 0xa5);
		if (ret == -ENOSPC) {
			CHECK(count == 0 && room * 2 <= MAXN);
			enospc++;
			room *= 2;
			continue;
		}
		for (i = 0; i < count; i++) {
			struct val want = val_of(keys[i]);

			CHECK(keys[i] < n && seen[keys[i]] < 255);
			seen[keys[i]]++;
			CHECK(memcmp(&vals[i], &want, sizeof(want)) == 0);
		}
		if (ret == -ENOENT)
			return enospc;
		memcpy(cur, next, sizeof(cur));
		in = cur;
	}
	CHECK(!"scan did not end");
	return enospc;
}

static void test_lookup_scan(void)
{
	static const uint32_t rooms[] = { 1, 2, 3, 7, 64, MAXN };
	uint8_t seen[300];
	uint32_t keys[4], count, k, cur;
	struct val vals[4];
	size_t r;
	int fd, wofd, enospc = 0;

	/* A fixed seed: the layout is reproducible, so 200 keys in 512 buckets surely share one. */
	fd = filled(FM_MAP_TYPE_HASH, 200, 256, FM_F_ZERO_SEED);
	for (r = 0; r < sizeof(rooms) / sizeof(rooms[0]); r++) {
		enospc += scan(fd, rooms[r], 0, seen, sizeof(seen));
		for (k = 0; k < sizeof(seen); k++)
			CHECK(seen[k] == (k < 200)); /* every key exactly once */
	}
	CHECK(enospc > 0); /* a bucket of two met room 1 */
	CHECK(present(fd, 200) == 200); /* lookup deletes nothing */

	/* count 0 does nothing; argument errors in the documented order. */
	count = 0;
	CHECK_RET(fm_map_lookup_batch(fd, NULL, &cur, keys, vals, &count, 0), 0);
	CHECK(count == 0);
	count = 4;
	CHECK_ERR(fm_map_lookup_batch(fd, NULL, &cur, keys, vals, NULL, 0), EFAULT);
	CHECK_ERR(fm_map_lookup_batch(fd, NULL, &cur, keys, vals, &count, FM_F_LOCK), EINVAL);
	CHECK_ERR(fm_map_lookup_batch(fd, NULL, &cur, keys, vals, &count, FM_EXIST), EINVAL);
	CHECK(count == 4); /* refused before the first entry: count as passed */
	CHECK_ERR(fm_map_lookup_batch(fd, NULL, NULL, keys, vals, &count, 0), EFAULT);
	CHECK(count == 0);
	count = 4;
	CHECK_ERR(fm_map_lookup_batch(fd, NULL, &cur, NULL, vals, &count, 0), EFAULT);
	count = 4;
	CHECK_ERR(fm_map_lookup_batch(fd, NULL, &cur, keys, NULL, &count, 0), EFAULT);
	/* A cursor past the last bucket: the end, nothing copied, out_batch untouched. */
	k = 0xffffffffu;
	cur = 77;
	count = 4;
	CHECK_ERR(fm_map_lookup_batch(fd, &k, &cur, keys, vals, &count, 0), ENOENT);
	CHECK(count == 0 && cur == 77);
	CHECK_RET(fm_map_close(fd), 0);

	/* An empty map ends at once, with out_batch at the end. */
	fd = filled(FM_MAP_TYPE_HASH, 0, 16, 0);
	count = 4;
	CHECK_ERR(fm_map_lookup_batch(fd, NULL, &cur, keys, vals, &count, 0), ENOENT);
	CHECK(count == 0);
	CHECK_RET(fm_map_close(fd), 0);

	wofd = filled(FM_MAP_TYPE_HASH, 3, 16, FM_F_WRONLY);
	count = 4;
	CHECK_ERR(fm_map_lookup_batch(wofd, NULL, &cur, keys, vals, &count, 0), EPERM);
	CHECK_ERR(fm_map_lookup_and_delete_batch(wofd, NULL, &cur, keys, vals, &count, 0), EPERM);
	CHECK_RET(fm_map_close(wofd), 0);
}

static void test_lookup_and_delete(void)
{
	uint8_t seen[300];
	uint32_t keys[4], count, k, cur;
	struct val vals[4];
	int fd, rofd, lfd;

	fd = filled(FM_MAP_TYPE_HASH, 100, 128, 0);
	/* Refused arguments delete nothing. */
	count = 4;
	CHECK_ERR(fm_map_lookup_and_delete_batch(fd, NULL, NULL, keys, vals, &count, 0), EFAULT);
	count = 4;
	CHECK_ERR(fm_map_lookup_and_delete_batch(fd, NULL, &cur, keys, NULL, &count, 0), EFAULT);
	CHECK_ERR(fm_map_lookup_and_delete_batch(fd, NULL, &cur, keys, vals, &count, FM_F_LOCK), EINVAL);
	CHECK(present(fd, 100) == 100);

	scan(fd, 9, 1, seen, sizeof(seen));
	for (k = 0; k < sizeof(seen); k++)
		CHECK(seen[k] == (k < 100));
	CHECK(present(fd, 100) == 0);
	CHECK_ERR(fm_map_get_next_key(fd, NULL, &k), ENOENT); /* empty */
	count = 4;
	CHECK_ERR(fm_map_lookup_batch(fd, NULL, &cur, keys, vals, &count, 0), ENOENT);
	CHECK(count == 0);
	CHECK_RET(fm_map_close(fd), 0);

	rofd = filled(FM_MAP_TYPE_HASH, 0, 16, FM_F_RDONLY);
	CHECK_ERR(fm_map_lookup_and_delete_batch(rofd, NULL, &cur, keys, vals, &count, 0), EPERM);
	CHECK_RET(fm_map_close(rofd), 0);

	/* LRU maps scan and drain like hash maps. */
	lfd = filled(FM_MAP_TYPE_LRU_HASH, 40, 64, 0);
	scan(lfd, 5, 1, seen, sizeof(seen));
	for (k = 0; k < sizeof(seen); k++)
		CHECK(seen[k] == (k < 40));
	CHECK(present(lfd, 40) == 0);
	CHECK_RET(fm_map_close(lfd), 0);
}

static void test_update_batch(void)
{
	uint32_t keys[8] = { 0, 1, 2, 3, 4, 5, 6, 7 }, count, k;
	struct val vals[8], out;
	int fd, rofd, afd;

	for (k = 0; k < 8; k++)
		vals[k] = val_of(keys[k]);
	fd = filled(FM_MAP_TYPE_HASH, 0, 8, 0);
	count = 8;
	CHECK_RET(fm_map_update_batch(fd, keys, vals, &count, 0), 0);
	CHECK(count == 8);
	CHECK(present(fd, 8) == 8);

	/* The map is full: two replacements apply, the first new key stops the batch. */
	keys[0] = 5;
	keys[1] = 6;
	keys[2] = 100;
	keys[3] = 7;
	vals[0].payload = 55;
	vals[1].payload = 66;
	vals[3].payload = 77;
	count = 4;
	CHECK_ERR(fm_map_update_batch(fd, keys, vals, &count, 0), E2BIG);
	CHECK(count == 2);
	k = 5;
	CHECK_RET(fm_map_lookup_elem(fd, &k, &out), 0);
	CHECK(out.payload == 55);
	k = 7;
	CHECK_RET(fm_map_lookup_elem(fd, &k, &out), 0);
	CHECK(out.payload == val_of(7).payload); /* after the error: untouched */
	k = 100;
	CHECK_ERR(fm_map_lookup_elem(fd, &k, &out), ENOENT);

	/* Argument errors, count as passed; NULL arrays with entries to do: count 0. */
	count = 2;
	CHECK_ERR(fm_map_update_batch(fd, keys, vals, &count, FM_NOEXIST), EINVAL);
	CHECK_ERR(fm_map_update_batch(fd, keys, vals, &count, FM_EXIST), EINVAL);
	CHECK_ERR(fm_map_update_batch(fd, keys, vals, &count, FM_F_LOCK), EINVAL); /* no spin lock */
	CHECK(count == 2);
	CHECK_ERR(fm_map_update_batch(fd, keys, vals, NULL, 0), EFAULT);
	CHECK_ERR(fm_map_update_batch(fd, NULL, vals, &count, 0), EFAULT);
	CHECK(count == 0);
	count = 2;
	CHECK_ERR(fm_map_update_batch(fd, keys, NULL, &count, 0), EFAULT);
	CHECK(count == 0);
	CHECK_RET(fm_map_update_batch(fd, NULL, NULL, &count, 0), 0); /* count 0: nothing read */
	CHECK_RET(fm_map_close(fd), 0);

	{
		FM_OPTS(fm_map_create_opts, o, .map_flags = FM_F_RDONLY);
		rofd = fm_map_create(FM_MAP_TYPE_HASH, NULL, 4, sizeof(out), 8, &o);
		CHECK(rofd >= 0);
		count = 1;
		CHECK_ERR(fm_map_update_batch(rofd, keys, vals, &count, 0), EPERM);
		CHECK_RET(fm_map_close(rofd), 0);
	}

	/* Arrays: an index past the end stops the batch with E2BIG. */
	afd = fm_map_create(FM_MAP_TYPE_ARRAY, NULL, 4, sizeof(out), 4, NULL);
	CHECK(afd >= 0);
	keys[0] = 0;
	keys[1] = 3;
	keys[2] = 4;
	count = 3;
	CHECK_ERR(fm_map_update_batch(afd, keys, vals, &count, 0), E2BIG);
	CHECK(count == 2);
	k = 3;
	CHECK_RET(fm_map_lookup_elem(afd, &k, &out), 0);
	CHECK(out.payload == vals[1].payload);
	CHECK_RET(fm_map_close(afd), 0);
}

static void test_delete_batch(void)
{
	uint32_t keys[4] = { 1, 2, 999, 3 }, count;
	int fd = filled(FM_MAP_TYPE_HASH, 8, 8, 0), afd;

	count = 4;
	CHECK_ERR(fm_map_delete_batch(fd, keys, &count, 0), ENOENT);
	CHECK(count == 2);
	CHECK(present(fd, 8) == 6); /* 1 and 2 gone; 3, after the missing key, stays */
	CHECK(present(fd, 4) == 2);

	count = 1;
	CHECK_ERR(fm_map_delete_batch(fd, keys + 3, &count, FM_F_COMPARE), EINVAL);
	CHECK_ERR(fm_map_delete_batch(fd, keys + 3, &count, FM_F_LOCK), EINVAL); /* no spin lock */
	CHECK_ERR(fm_map_delete_batch(fd, keys + 3, NULL, 0), EFAULT);
	CHECK(count == 1 && present(fd, 8) == 6);
	CHECK_ERR(fm_map_delete_batch(fd, NULL, &count, 0), EFAULT);
	CHECK(count == 0);
	CHECK_RET(fm_map_delete_batch(fd, NULL, &count, 0), 0);
	count = 1;
	CHECK_RET(fm_map_delete_batch(fd, keys + 3, &count, 0), 0);
	CHECK(count == 1 && present(fd, 8) == 5);
	CHECK_RET(fm_map_close(fd), 0);

	afd = fm_map_create(FM_MAP_TYPE_ARRAY, NULL, 4, sizeof(struct val), 4, NULL);
	CHECK(afd >= 0);
	keys[0] = 0;
	count = 1;
	CHECK_ERR(fm_map_delete_batch(afd, keys, &count, 0), FM_ENOTSUPP);
	CHECK(count == 1);
	CHECK_RET(fm_map_close(afd), 0);
}

static void test_delete_batch_cmp(void)
{
	enum { N = 6 };
	uint32_t keys[N], count;
	uint64_t revs[N];
	struct val whole[N];
	int32_t results[N];
	int fd = filled(FM_MAP_TYPE_HASH, 8, 16, 0), lfd, afd, rofd;
	int i;

	/* match, stale, absent, match, the same key twice (the second finds it gone), match */
	keys[0] = 0;
	keys[1] = 1;
	keys[2] = 50;
	keys[3] = 3;
	keys[4] = 3;
	keys[5] = 5;
	for (i = 0; i < N; i++)
		revs[i] = val_of(keys[i]).revision;
	revs[1]--;
	memset(results, 0x77, sizeof(results));
	count = N;
	CHECK_RET(fm_map_delete_batch_cmp(fd, keys, revs, REV_OFF, REV_SZ, results, &count), 0);
	CHECK(count == N);
	CHECK_RET(results[0], 0);
	CHECK_RET(results[1], -EBUSY);
	CHECK_RET(results[2], -ENOENT);
	CHECK_RET(results[3], 0);
	CHECK_RET(results[4], -ENOENT);
	CHECK_RET(results[5], 0);
	CHECK(present(fd, 8) == 5); /* 0, 3 and 5 gone */
	CHECK(present(fd, 2) == 1); /* 1, stale, kept */

	/* Argument errors: nothing deleted, results untouched. Every remaining key would match. */
	keys[0] = 1;
	keys[1] = 2;
	keys[2] = 4;
	for (i = 0; i < 3; i++) {
		revs[i] = val_of(keys[i]).revision;
		whole[i] = val_of(keys[i]);
	}
	memset(results, 0x77, sizeof(results));
	count = 3;
	CHECK_ERR(fm_map_delete_batch_cmp(fd, keys, revs, 12, 8, results, &count), EINVAL);
	CHECK_ERR(fm_map_delete_batch_cmp(fd, keys, revs, 8, 0, results, &count), EINVAL);
	CHECK_ERR(fm_map_delete_batch_cmp(fd, keys, revs, 0xffffffffu, 8, results, &count), EINVAL);
	CHECK_ERR(fm_map_delete_batch_cmp(12345, keys, revs, REV_OFF, REV_SZ, results, &count), EBADF);
	CHECK_ERR(fm_map_delete_batch_cmp(fd, keys, revs, REV_OFF, REV_SZ, results, NULL), EFAULT);
	CHECK(count == 3);
	CHECK_ERR(fm_map_delete_batch_cmp(fd, keys, revs, REV_OFF, REV_SZ, NULL, &count), EFAULT);
	CHECK(count == 0);
	count = 3;
	CHECK_ERR(fm_map_delete_batch_cmp(fd, NULL, revs, REV_OFF, REV_SZ, results, &count), EFAULT);
	count = 3;
	CHECK_ERR(fm_map_delete_batch_cmp(fd, keys, NULL, REV_OFF, REV_SZ, results, &count), EFAULT);
	CHECK(count == 0);
	CHECK_RET(fm_map_delete_batch_cmp(fd, NULL, NULL, REV_OFF, REV_SZ, NULL, &count), 0);
	CHECK(present(fd, 8) == 5);
	CHECK(results[0] == 0x77777777 && results[2] == 0x77777777);

	/* compare_size 0: whole values, one value_size window per key. */
	whole[1].payload++;
	count = 3;
	CHECK_RET(fm_map_delete_batch_cmp(fd, keys, whole, 0, 0, results, &count), 0);
	CHECK(count == 3);
	CHECK(results[0] == 0 && results[1] == -EBUSY && results[2] == 0);
	CHECK(present(fd, 8) == 3);
	CHECK_RET(fm_map_close(fd), 0);

	/* Map types without compare-and-delete, and a read-only handle: nothing deleted. */
	lfd = filled(FM_MAP_TYPE_LRU_HASH, 4, 8, 0);
	count = 3;
	CHECK_ERR(fm_map_delete_batch_cmp(lfd, keys, revs, REV_OFF, REV_SZ, results, &count), EOPNOTSUPP);
	CHECK(count == 3 && present(lfd, 4) == 4);
	CHECK_RET(fm_map_close(lfd), 0);
	afd = filled(FM_MAP_TYPE_ARRAY, 4, 4, 0);
	CHECK_ERR(fm_map_delete_batch_cmp(afd, keys, revs, REV_OFF, REV_SZ, results, &count), EOPNOTSUPP);
	CHECK_ERR(fm_map_delete_batch_cmp(afd, keys, revs, 0, 64, results, &count), EINVAL);
	CHECK_RET(fm_map_close(afd), 0);
	rofd = filled(FM_MAP_TYPE_HASH, 0, 8, FM_F_RDONLY);
	CHECK_ERR(fm_map_delete_batch_cmp(rofd, keys, revs, 0, 64, results, &count), EPERM);
	CHECK_RET(fm_map_close(rofd), 0);
}

/* Every batch command through fm_bpf(), with the attr layout fastmap.h documents. */
static void test_bpf_batch(void)
{
	uint32_t keys[8], out_keys[8 + 3], cur, next, k; /* + 3: room for a call that starts at 8 */
	struct val vals[8], out_vals[8 + 3];
	uint64_t revs[8];
	int32_t results[8];
	union attr a;
	int fd = filled(FM_MAP_TYPE_HASH, 0, 16, 0), i, total = 0, ret;

	for (k = 0; k < 8; k++) {
		keys[k] = k;
		vals[k] = val_of(k);
		revs[k] = vals[k].revision;
	}
	memset(&a, 0, sizeof(a));
	a.b.keys = (uintptr_t)keys;
	a.b.values = (uintptr_t)vals;
	a.b.count = 8;
	a.b.map_fd = (uint32_t)fd;
	CHECK_RET(fm_bpf(FM_BPF_MAP_UPDATE_BATCH, &a, sizeof(a)), 0);
	CHECK(a.b.count == 8 && present(fd, 8) == 8);

	/* A scan, 3 a call: count is written back into the attr. */
	memset(&a, 0, sizeof(a));
	a.b.out_batch = (uintptr_t)&next;
	a.b.map_fd = (uint32_t)fd;
	for (i = 0; i < 100; i++) {
		a.b.keys = (uintptr_t)(out_keys + total);
		a.b.values = (uintptr_t)(out_vals + total);
		a.b.count = 3;
		ret = fm_bpf(FM_BPF_MAP_LOOKUP_BATCH, &a, sizeof(a.b));
		if (ret == -ENOSPC) {
			/* The next bucket holds more than 3 keys (the hash seed is random): nothing was copied, and
			 * the call with room for the rest must go on from the same cursor. */
			CHECK(a.b.count == 0);
			a.b.count = 8 + 3 - (uint32_t)total;
			ret = fm_bpf(FM_BPF_MAP_LOOKUP_BATCH, &a, sizeof(a.b));
		}
		CHECK(ret == 0 || ret == -ENOENT);
		total += (int)a.b.count;
		CHECK(total <= 8);
		if (ret == -ENOENT)
			break;
		cur = next;
		a.b.in_batch = (uintptr_t)&cur;
	}
	CHECK(total == 8);
	for (i = 0; i < 8; i++)
		CHECK(out_vals[i].payload == val_of(out_keys[i]).payload);
	a.b.flags = 1;
	a.b.in_batch = 0;
	CHECK_ERR(fm_bpf(FM_BPF_MAP_LOOKUP_BATCH, &a, sizeof(a)), EINVAL); /* batch.flags on a hash map */

	/* Batch compare-and-delete: key 1 stale, 9 absent. */
	revs[1]--;
	keys[2] = 9;
	memset(&a, 0, sizeof(a));
	a.b.keys = (uintptr_t)keys;
	a.b.count = 4;
	a.b.map_fd = (uint32_t)fd;
	a.b.elem_flags = FM_F_COMPARE;
	a.b.compares = (uintptr_t)revs;
	a.b.compare_offset = REV_OFF;
	a.b.compare_size = REV_SZ;
	a.b.results = (uintptr_t)results;
	/* Refused before anything is deleted: a tail byte past 80, other elem_flags, a bad window. */
	a.raw[100] = 1;
	CHECK_ERR(fm_bpf(FM_BPF_MAP_DELETE_BATCH, &a, sizeof(a)), EINVAL);
	a.raw[100] = 0;
	a.b.elem_flags = FM_F_COMPARE | FM_F_LOCK;
	CHECK_ERR(fm_bpf(FM_BPF_MAP_DELETE_BATCH, &a, sizeof(a)), EINVAL);
	a.b.elem_flags = FM_F_COMPARE;
	a.b.compare_offset = 9;
	CHECK_ERR(fm_bpf(FM_BPF_MAP_DELETE_BATCH, &a, sizeof(a)), EINVAL);
	a.b.compare_offset = REV_OFF;
	CHECK(a.b.count == 4 && present(fd, 8) == 8);
	CHECK_RET(fm_bpf(FM_BPF_MAP_DELETE_BATCH, &a, sizeof(a)), 0);
	CHECK(a.b.count == 4);
	CHECK(results[0] == 0 && results[1] == -EBUSY && results[2] == -ENOENT && results[3] == 0);
	CHECK(present(fd, 8) == 6);

	/* Without BPF_F_COMPARE the extension must be zero; then a plain delete batch. */
	keys[0] = 4;
	keys[1] = 5;
	a.b.count = 2;
	a.b.elem_flags = 0;
	CHECK_ERR(fm_bpf(FM_BPF_MAP_DELETE_BATCH, &a, sizeof(a)), EINVAL);
	CHECK(present(fd, 8) == 6);
	a.b.compares = 0;
	a.b.compare_offset = 0;
	a.b.compare_size = 0;
	a.b.results = 0;
	CHECK_RET(fm_bpf(FM_BPF_MAP_DELETE_BATCH, &a, sizeof(a)), 0);
	CHECK(a.b.count == 2 && present(fd, 8) == 4);
	a.b.compare_size = 8; /* also for the other batch commands */
	CHECK_ERR(fm_bpf(FM_BPF_MAP_UPDATE_BATCH, &a, sizeof(a)), EINVAL);
	CHECK(a.b.count == 2);

	/* Lookup-and-delete drains the rest. */
	memset(&a, 0, sizeof(a));
	a.b.out_batch = (uintptr_t)&next;
	a.b.keys = (uintptr_t)out_keys;
	a.b.values = (uintptr_t)out_vals;
	a.b.count = 8;
	a.b.map_fd = (uint32_t)fd;
	CHECK_ERR(fm_bpf(FM_BPF_MAP_LOOKUP_AND_DELETE_BATCH, &a, sizeof(a.b)), ENOENT);
	CHECK(a.b.count == 4 && present(fd, 8) == 0);
	a.b.map_fd = 12345;
	CHECK_ERR(fm_bpf(FM_BPF_MAP_LOOKUP_BATCH, &a, sizeof(a.b)), EBADF);
	CHECK_RET(fm_map_close(fd), 0);
}

/* A bad or closed handle: EBADF from every batch function, before anything else. */
static void test_ebadf(void)
{
	uint32_t keys[2] = { 0, 1 }, count = 2, cur;
	struct val vals[2];
	uint64_t revs[2] = { 0, 0 };
	int32_t results[2];
	int fd = filled(FM_MAP_TYPE_HASH, 0, 4, 0), bad;

	CHECK_RET(fm_map_close(fd), 0);
	for (bad = 0; bad < 3; bad++) {
		int h = bad == 0 ? fd : bad == 1 ? -1 : 12345;

		CHECK_ERR(fm_map_lookup_batch(h, NULL, &cur, keys, vals, &count, 0), EBADF);
		CHECK_ERR(fm_map_lookup_and_delete_batch(h, NULL, &cur, keys, vals, &count, 0), EBADF);
		CHECK_ERR(fm_map_update_batch(h, keys, vals, &count, 0), EBADF);
		CHECK_ERR(fm_map_delete_batch(h, keys, &count, 0), EBADF);
		CHECK_ERR(fm_map_delete_batch_cmp(h, keys, revs, 0, 8, results, &count), EBADF);
		CHECK_ERR(fm_map_delete_batch_cmp(h, keys, revs, 0, 64, results, NULL), EBADF);
		CHECK(count == 2);
	}
}

/* Arrays: lookup_batch walks indexes in order (the cursor is the last index); no delete batches. */
static void test_array(void)
{
	uint32_t keys[3], count, cur = 0, next, seen = 0, i;
	struct val vals[3];
	int afd = filled(FM_MAP_TYPE_ARRAY, 10, 10, 0), ret = 0, calls;

	for (calls = 0; calls < 10 && ret != -ENOENT; calls++) {
		count = 3;
		ret = fm_map_lookup_batch(afd, calls ? &cur : NULL, &next, keys, vals, &count, 0);
		CHECK(ret == 0 || ret == -ENOENT);
		for (i = 0; i < count; i++) {
			CHECK(keys[i] == seen);
			CHECK(vals[i].payload == val_of(seen).payload);
			seen++;
		}
		cur = next;
	}
	CHECK(ret == -ENOENT && seen == 10 && calls == 4);
	count = 3;
	CHECK_ERR(fm_map_lookup_batch(afd, &cur, &next, keys, vals, &count, 0), ENOENT);
	CHECK(count == 0); /* a cursor at the last index */
	CHECK_ERR(fm_map_delete_batch(afd, keys, &count, 0), FM_ENOTSUPP);
	CHECK_ERR(fm_map_lookup_and_delete_batch(afd, NULL, &next, keys, vals, &count, 0), FM_ENOTSUPP);
	CHECK_RET(fm_map_close(afd), 0);
}

/* fm_map_lookup_bulk (a FastMap extension): every key's single-lookup answer, a missing key's value
 * untouched, and the argument errors in order. */
static void test_lookup_bulk(void)
{
	uint32_t keys[MAXN];
	struct val vals[MAXN];
	int32_t results[MAXN];
	uint32_t i, n = 200;
	int fd = filled(FM_MAP_TYPE_HASH, n, MAXN, 0);

	for (i = 0; i < MAXN; i++)
		keys[i] = (i * 7919u) % (2 * n); /* half of them absent */
	memset(vals, 0xEE, sizeof vals);
	CHECK_RET(fm_map_lookup_bulk(fd, keys, vals, results, MAXN), 0);
	for (i = 0; i < MAXN; i++) {
		struct val want = val_of(keys[i]);
		const uint8_t *raw = (const uint8_t *)&vals[i];

		if (keys[i] < n) {
			CHECK(results[i] == 0);
			CHECK(vals[i].revision == want.revision && vals[i].payload == want.payload);
		} else {
			CHECK(results[i] == -ENOENT);
			CHECK(raw[0] == 0xEE && raw[sizeof(struct val) - 1] == 0xEE);
		}
	}
	CHECK_RET(fm_map_lookup_bulk(fd, NULL, NULL, NULL, 0), 0);
	CHECK_ERR(fm_map_lookup_bulk(fd, NULL, vals, results, 1), EFAULT);
	CHECK_ERR(fm_map_lookup_bulk(fd, keys, NULL, results, 1), EFAULT);
	CHECK_ERR(fm_map_lookup_bulk(fd, keys, vals, NULL, 1), EFAULT);
	CHECK_ERR(fm_map_lookup_bulk(12345, keys, vals, results, 1), EBADF);
	CHECK_RET(fm_map_close(fd), 0);
	CHECK_ERR(fm_map_lookup_bulk(fd, keys, vals, results, 1), EBADF);
	fd = filled(FM_MAP_TYPE_HASH, 1, 4, FM_F_WRONLY);
	CHECK_ERR(fm_map_lookup_bulk(fd, keys, vals, results, 1), EPERM);
	CHECK_RET(fm_map_close(fd), 0);
}

int main(void)
{
	test_lookup_bulk();
	test_lookup_scan();
	test_lookup_and_delete();
	test_update_batch();
	test_delete_batch();
	test_delete_batch_cmp();
	test_bpf_batch();
	test_ebadf();
	test_array();
	printf("batch: %d checks passed\n", fm_checks_run);
	return 0;
}

CHECK_SITES_FIT();
