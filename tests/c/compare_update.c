/* FastMap's compare-and-swap update through the C functions and through fm_bpf(): every answer in
 * its order, the batch form's per-key results, and the attr layouts (compare fields of an
 * UPDATE_ELEM at the delete's offsets; an UPDATE_BATCH laid out like the delete batch).
 * Exit status = ordinal of the first failed check. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <fastmap.h>

#include "check.h"

struct val {
	uint64_t rev;
	uint64_t data[4]; /* 40 bytes in all */
};

union attr {
	struct {
		uint32_t map_fd;
		uint32_t pad;
		uint64_t key;
		uint64_t value;
		uint64_t flags;
		uint64_t compare;
		uint32_t compare_offset;
		uint32_t compare_size;
	} elem;
	struct {
		uint64_t in_batch, out_batch, keys, values;
		uint32_t count, map_fd;
		uint64_t elem_flags, flags;
		uint64_t compares;
		uint32_t compare_offset, compare_size;
		uint64_t results;
	} batch;
	uint8_t bytes[168];
};
_Static_assert(offsetof(union attr, elem.compare) == 32, "compare@32");
_Static_assert(offsetof(union attr, batch.compares) == 56, "compares@56");
_Static_assert(offsetof(union attr, batch.results) == 72, "results@72");

static uint64_t rev_of(int fd, uint32_t key)
{
	struct val v;

	CHECK_RET(fm_map_lookup_elem(fd, &key, &v), 0);
	return v.rev;
}

int main(void)
{
	int fd = fm_map_create(FM_MAP_TYPE_HASH, "cmpupd", 4, sizeof(struct val), 16, NULL);
	CHECK(fd >= 0);
	uint32_t k = 1, absent = 99;
	struct val v = { .rev = 7, .data = { 1, 2, 3, 4 } }, next = { .rev = 8, .data = { 5, 6, 7, 8 } };
	uint64_t want = 7, stale = 6;

	CHECK_RET(fm_map_update_elem(fd, &k, &v, FM_ANY), 0);

	/* The order: handle, permission, F_LOCK without a lock, NULL key/value, flags, window, type, NULL compare, store. */
	CHECK_ERR(fm_map_update_elem_cmp(-1, &k, &next, &want, 0, 8, FM_ANY), EBADF);
	CHECK_ERR(fm_map_update_elem_cmp(fd, &k, &next, &want, 0, 8, FM_F_LOCK), EINVAL);
	CHECK_ERR(fm_map_update_elem_cmp(fd, NULL, &next, &want, 0, 8, FM_ANY), EFAULT);
	CHECK_ERR(fm_map_update_elem_cmp(fd, &k, NULL, &want, 0, 8, FM_ANY), EFAULT);
	CHECK_ERR(fm_map_update_elem_cmp(fd, &k, &next, &want, 0, 8, FM_NOEXIST), EINVAL);
	CHECK_ERR(fm_map_update_elem_cmp(fd, &k, &next, &want, 0, 8, 64), EINVAL);
	CHECK_ERR(fm_map_update_elem_cmp(fd, &k, &next, &want, 33, 8, FM_ANY), EINVAL);
	CHECK_ERR(fm_map_update_elem_cmp(fd, &k, &next, &want, UINT32_MAX, 1, FM_ANY), EINVAL);
	CHECK_ERR(fm_map_update_elem_cmp(fd, &k, &next, NULL, 0, 8, FM_ANY), EFAULT);
	CHECK_ERR(fm_map_update_elem_cmp(fd, &absent, &next, &want, 0, 8, FM_ANY), ENOENT);
	CHECK_ERR(fm_map_update_elem_cmp(fd, &k, &next, &stale, 0, 8, FM_EXIST), EBUSY);
	CHECK(rev_of(fd, k) == 7);
	CHECK_RET(fm_map_update_elem_cmp(fd, &k, &next, &want, 0, 8, FM_EXIST), 0);
	CHECK(rev_of(fd, k) == 8);
	/* compare_size 0: the whole value. */
	CHECK_RET(fm_map_update_elem_cmp(fd, &k, &v, &next, 0, 0, FM_ANY), 0);
	CHECK(rev_of(fd, k) == 7);
	/* The plain update with FM_F_COMPARE: the kernel's answer, unchanged. Through fm_bpf the flag asks for
	 * the swap, and a NULL compare is then -EFAULT after the window check. */
	CHECK_ERR(fm_map_update_elem(fd, &k, &next, FM_F_COMPARE), EINVAL);

	/* Other map types: EOPNOTSUPP after the window check. */
	int afd = fm_map_create(FM_MAP_TYPE_ARRAY, NULL, 4, sizeof(struct val), 4, NULL);
	int lfd = fm_map_create(FM_MAP_TYPE_LRU_HASH, NULL, 4, sizeof(struct val), 4, NULL);
	CHECK(afd >= 0 && lfd >= 0);
	uint32_t zero = 0;
	CHECK_ERR(fm_map_update_elem_cmp(afd, &zero, &next, &want, 0, 8, FM_ANY), EOPNOTSUPP);
	CHECK_ERR(fm_map_update_elem_cmp(lfd, &zero, &next, &want, 0, 8, FM_ANY), EOPNOTSUPP);
	CHECK_ERR(fm_map_update_elem_cmp(lfd, &zero, &next, &want, 36, 8, FM_ANY), EINVAL);

	/* Through fm_bpf: the compare fields at the delete's offsets, read only with FM_F_COMPARE. */
	union attr a;
	memset(&a, 0, sizeof(a));
	a.elem.map_fd = (uint32_t)fd;
	a.elem.key = (uintptr_t)&k;
	a.elem.value = (uintptr_t)&next;
	a.elem.compare = (uintptr_t)&want;
	a.elem.compare_size = 8;
	CHECK_ERR(fm_bpf(FM_BPF_MAP_UPDATE_ELEM, &a, sizeof(a)), EINVAL); /* compare fields without the flag */
	a.elem.flags = FM_F_COMPARE;
	a.elem.compare = (uintptr_t)&stale;
	CHECK_ERR(fm_bpf(FM_BPF_MAP_UPDATE_ELEM, &a, sizeof(a)), EBUSY);
	a.elem.compare = (uintptr_t)&want;
	CHECK_RET(fm_bpf(FM_BPF_MAP_UPDATE_ELEM, &a, sizeof(a)), 0);
	CHECK(rev_of(fd, k) == 8);

	/* Batch: per-key results, going on past them. */
	uint32_t keys[3] = { 1, 2, 3 };
	struct val vals[3], news[3];
	for (int i = 0; i < 3; i++) {
		vals[i] = (struct val){ .rev = 10 };
		news[i] = (struct val){ .rev = 11 };
	}
	CHECK_RET(fm_map_update_elem(fd, &keys[1], &vals[1], FM_ANY), 0);
	CHECK_RET(fm_map_update_elem(fd, &keys[2], &vals[2], FM_ANY), 0);
	uint64_t cmps[3] = { 8, 9, 10 };
	int32_t results[3];
	uint32_t count = 3;
	CHECK_RET(fm_map_update_batch_cmp(fd, keys, news, cmps, 0, 8, results, &count), 0);
	CHECK(count == 3);
	CHECK(results[0] == 0 && results[1] == -EBUSY && results[2] == 0);
	CHECK(rev_of(fd, 1) == 11 && rev_of(fd, 2) == 10 && rev_of(fd, 3) == 11);
	count = 3;
	CHECK_ERR(fm_map_update_batch_cmp(fd, keys, NULL, cmps, 0, 8, results, &count), EFAULT);
	CHECK(count == 0);
	count = 3;
	CHECK_ERR(fm_map_update_batch_cmp(lfd, keys, news, cmps, 0, 8, results, &count), EOPNOTSUPP);

	/* Batch through fm_bpf: BPF_MAP_UPDATE_BATCH with FM_F_COMPARE, laid out like the delete batch. */
	uint64_t cmps2[3] = { 11, 10, 0 };
	memset(&a, 0, sizeof(a));
	a.batch.keys = (uintptr_t)keys;
	a.batch.values = (uintptr_t)vals;
	a.batch.count = 3;
	a.batch.map_fd = (uint32_t)fd;
	a.batch.elem_flags = FM_F_COMPARE;
	a.batch.compares = (uintptr_t)cmps2;
	a.batch.compare_size = 8;
	a.batch.results = (uintptr_t)results;
	CHECK_RET(fm_bpf(FM_BPF_MAP_UPDATE_BATCH, &a, sizeof(a)), 0);
	CHECK(a.batch.count == 3);
	CHECK(results[0] == 0 && results[1] == 0 && results[2] == -EBUSY);
	CHECK(rev_of(fd, 1) == 10 && rev_of(fd, 2) == 10 && rev_of(fd, 3) == 11);

	/* FM_F_LRU_COMPARE: an LRU map that compares; any other type refuses the flag. */
	FM_OPTS(fm_map_create_opts, lo, .map_flags = FM_F_LRU_COMPARE);
	CHECK_ERR(fm_map_create(FM_MAP_TYPE_HASH, NULL, 4, sizeof(struct val), 4, &lo), EINVAL);
	int cfd = fm_map_create(FM_MAP_TYPE_LRU_HASH, NULL, 4, sizeof(struct val), 4, &lo);
	CHECK(cfd >= 0);
	CHECK_RET(fm_map_update_elem(cfd, &k, &v, FM_ANY), 0);
	CHECK_ERR(fm_map_update_elem_cmp(cfd, &k, &next, &stale, 0, 8, FM_ANY), EBUSY);
	CHECK_RET(fm_map_update_elem_cmp(cfd, &k, &next, &want, 0, 8, FM_ANY), 0);
	CHECK_ERR(fm_map_delete_elem_cmp(cfd, &k, &want, 0, 8), EBUSY);
	uint64_t eight = 8;
	CHECK_RET(fm_map_delete_elem_cmp(cfd, &k, &eight, 0, 8), 0);
	CHECK_RET(fm_map_close(cfd), 0);

	CHECK_RET(fm_map_close(fd), 0);
	CHECK_RET(fm_map_close(afd), 0);
	CHECK_RET(fm_map_close(lfd), 0);
	return 0;
}

CHECK_SITES_FIT();
