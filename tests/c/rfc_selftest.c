/* The RFC's selftest (tools/testing/selftests/bpf/prog_tests/map_cmp_delete.c, "contract"),
 * ported by replacing syscall(__NR_bpf, ...) with fm_bpf(...). The attr is laid out by hand:
 * the installed <linux/bpf.h> predates the RFC's compare fields. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <fastmap.h>

#include "check.h"

/* union bpf_attr, the two members used here, at the kernel's offsets (sizeof == 168). */
union attr {
	struct { /* BPF_MAP_CREATE */
		uint32_t map_type;
		uint32_t key_size;
		uint32_t value_size;
		uint32_t max_entries;
		uint32_t map_flags;
		uint32_t inner_map_fd;
		uint32_t numa_node;
		char map_name[16];
	} create;
	struct { /* BPF_MAP_*_ELEM, with the RFC's patch 1/3 fields appended after flags */
		uint32_t map_fd;
		uint32_t pad;
		uint64_t key;
		uint64_t value; /* or next_key */
		uint64_t flags;
		uint64_t compare;
		uint32_t compare_offset;
		uint32_t compare_size;
	} elem;
	uint8_t bytes[168];
};
_Static_assert(sizeof(union attr) == 168, "sizeof(union bpf_attr)");
_Static_assert(offsetof(union attr, create.map_name) == 28, "map_name@28");
_Static_assert(offsetof(union attr, elem.key) == 8, "key@8");
_Static_assert(offsetof(union attr, elem.value) == 16, "value@16");
_Static_assert(offsetof(union attr, elem.flags) == 24, "flags@24");
_Static_assert(offsetof(union attr, elem.compare) == 32, "compare@32");
_Static_assert(offsetof(union attr, elem.compare_offset) == 40, "compare_offset@40");
_Static_assert(offsetof(union attr, elem.compare_size) == 44, "compare_size@44");

struct val {
	uint64_t revision; /* synchronization field we compare on */
	uint64_t payload;
};

static int map_create(uint32_t type, const char *name)
{
	union attr a;

	memset(&a, 0, sizeof(a));
	a.create.map_type = type;
	a.create.key_size = sizeof(uint32_t);
	a.create.value_size = sizeof(struct val);
	a.create.max_entries = 64;
	strncpy(a.create.map_name, name, sizeof(a.create.map_name) - 1);
	return fm_bpf(FM_BPF_MAP_CREATE, &a, sizeof(a));
}

static int elem(int cmd, int fd, const void *key, void *value, uint64_t flags)
{
	union attr a;

	memset(&a, 0, sizeof(a));
	a.elem.map_fd = (uint32_t)fd;
	a.elem.key = (uint64_t)(uintptr_t)key;
	a.elem.value = (uint64_t)(uintptr_t)value;
	a.elem.flags = flags;
	return fm_bpf(cmd, &a, sizeof(a));
}

static int cmp_delete_flags(int fd, const void *key, const void *compare, uint32_t off,
			    uint32_t size, uint64_t flags)
{
	union attr a;

	memset(&a, 0, sizeof(a));
	a.elem.map_fd = (uint32_t)fd;
	a.elem.key = (uint64_t)(uintptr_t)key;
	a.elem.flags = flags;
	a.elem.compare = (uint64_t)(uintptr_t)compare;
	a.elem.compare_offset = off;
	a.elem.compare_size = size;
	return fm_bpf(FM_BPF_MAP_DELETE_ELEM, &a, sizeof(a));
}

static int cmp_delete(int fd, const void *key, const void *compare, uint32_t off, uint32_t size)
{
	return cmp_delete_flags(fd, key, compare, off, size, FM_F_COMPARE);
}

int main(void)
{
	const uint32_t off = offsetof(struct val, revision);
	const uint32_t sz = sizeof(((struct val *)0)->revision);
	struct val v = { .revision = 10, .payload = 0xabc };
	struct val snap = v;
	uint32_t k = 1, ak = 0;
	int fd, afd;
	union attr a;

	fd = map_create(FM_MAP_TYPE_HASH, "cmp_hash");
	CHECK(fd >= 0);
	CHECK_RET(elem(FM_BPF_MAP_UPDATE_ELEM, fd, &k, &v, FM_ANY), 0);

	/* mismatch -> -EBUSY, entry preserved */
	snap.revision = 9;
	CHECK_RET(cmp_delete(fd, &k, &snap, off, sz), -EBUSY);
	CHECK_RET(elem(FM_BPF_MAP_LOOKUP_ELEM, fd, &k, &v, 0), 0);

	/* compare fields set but BPF_F_COMPARE omitted -> -EINVAL, entry preserved */
	CHECK_RET(cmp_delete_flags(fd, &k, &snap, off, sz, 0), -EINVAL);
	CHECK_RET(cmp_delete_flags(fd, &k, NULL, off + 8, 0, 0), -EINVAL);
	CHECK_RET(cmp_delete_flags(fd, &k, NULL, 0, sz, 0), -EINVAL);
	CHECK_RET(elem(FM_BPF_MAP_LOOKUP_ELEM, fd, &k, &v, 0), 0);

	/* ... and that check comes before the handle is resolved */
	CHECK_RET(cmp_delete_flags(12345, &k, &snap, off, sz, 0), -EINVAL);
	/* unknown flags next to BPF_F_COMPARE -> -EINVAL */
	CHECK_RET(cmp_delete_flags(fd, &k, &snap, off, sz, FM_F_COMPARE | FM_F_LOCK), -EINVAL);
	CHECK_RET(cmp_delete_flags(fd, &k, &snap, off, sz, FM_EXIST), -EINVAL);

	/* CHECK_ATTR: a nonzero byte after compare_size -> -EINVAL, entry preserved */
	memset(&a, 0, sizeof(a));
	a.elem.map_fd = (uint32_t)fd;
	a.elem.key = (uint64_t)(uintptr_t)&k;
	a.elem.flags = FM_F_COMPARE;
	a.elem.compare = (uint64_t)(uintptr_t)&v;
	a.bytes[48] = 1;
	CHECK_RET(fm_bpf(FM_BPF_MAP_DELETE_ELEM, &a, sizeof(a)), -EINVAL);
	CHECK_RET(elem(FM_BPF_MAP_LOOKUP_ELEM, fd, &k, &v, 0), 0);

	/* match -> 0, entry gone */
	snap.revision = 10;
	CHECK_RET(cmp_delete(fd, &k, &snap, off, sz), 0);
	CHECK_RET(elem(FM_BPF_MAP_LOOKUP_ELEM, fd, &k, &v, 0), -ENOENT);

	/* absent -> -ENOENT */
	CHECK_RET(cmp_delete(fd, &k, &snap, off, sz), -ENOENT);

	/* bad window -> -EINVAL */
	CHECK_RET(cmp_delete(fd, &k, &snap, 0, sizeof(struct val) + 8), -EINVAL);

	/* plain delete through the same command still works */
	CHECK_RET(elem(FM_BPF_MAP_UPDATE_ELEM, fd, &k, &v, FM_ANY), 0);
	CHECK_RET(elem(FM_BPF_MAP_DELETE_ELEM, fd, &k, NULL, 0), 0);
	CHECK_RET(elem(FM_BPF_MAP_DELETE_ELEM, fd, &k, NULL, 0), -ENOENT);

	/* lookup-and-delete and get-next-key through fm_bpf */
	CHECK_RET(elem(FM_BPF_MAP_UPDATE_ELEM, fd, &k, &v, FM_NOEXIST), 0);
	CHECK_RET(elem(FM_BPF_MAP_UPDATE_ELEM, fd, &k, &v, FM_NOEXIST), -EEXIST);
	{
		uint32_t next = 0;

		CHECK_RET(elem(FM_BPF_MAP_GET_NEXT_KEY, fd, NULL, &next, 0), 0);
		CHECK(next == k);
		CHECK_RET(elem(FM_BPF_MAP_GET_NEXT_KEY, fd, &k, &next, 0), -ENOENT);
	}
	memset(&snap, 0, sizeof(snap));
	CHECK_RET(elem(FM_BPF_MAP_LOOKUP_AND_DELETE_ELEM, fd, &k, &snap, 0), 0);
	CHECK(snap.payload == 0xabc);
	CHECK_RET(elem(FM_BPF_MAP_LOOKUP_AND_DELETE_ELEM, fd, &k, &snap, 0), -ENOENT);

	/* unsupported map type (no map_delete_elem_cmp op) -> -EOPNOTSUPP */
	afd = map_create(FM_MAP_TYPE_ARRAY, "cmp_arr");
	CHECK(afd >= 0);
	snap.revision = 10;
	CHECK_RET(cmp_delete(afd, &ak, &snap, off, sz), -EOPNOTSUPP);
	CHECK_RET(fm_map_close(afd), 0);
	CHECK_RET(fm_map_close(fd), 0);

	printf("rfc_selftest: %d checks passed\n", fm_checks_run);
	return 0;
}

CHECK_SITES_FIT();
