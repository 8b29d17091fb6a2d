/* Calls every export of libfastmap.so with good and bad arguments and checks each return value
 * and errno against include/fastmap.h. Exit status = ordinal of the first failed check. */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <fastmap.h>

#include "check.h"

/* The opts layout is ABI: pin it the way the kernel pins uapi structs with BUILD_BUG_ON. */
_Static_assert(sizeof(size_t) == 8, "LP64 only");
_Static_assert(offsetof(struct fm_map_create_opts, sz) == 0, "sz first");
_Static_assert(offsetof(struct fm_map_create_opts, map_flags) == 8, "map_flags@8");
_Static_assert(offsetof(struct fm_map_create_opts, has_spin_lock) == 12, "has_spin_lock@12");
_Static_assert(offsetof(struct fm_map_create_opts, spin_lock_off) == 16, "spin_lock_off@16");
_Static_assert(sizeof(struct fm_map_create_opts) == 24, "20 bytes of fields + tail padding");
_Static_assert(offsetof(struct fm_map_create_opts, fm_map_create_opts__last_field) + 4 == 20,
	       "__last_field names the last field");
_Static_assert(FM_MAP_TYPE_HASH == 1 && FM_MAP_TYPE_ARRAY == 2 && FM_MAP_TYPE_PERCPU_HASH == 5 &&
	       FM_MAP_TYPE_LRU_HASH == 9, "kernel map type numbers");
_Static_assert(FM_ANY == 0 && FM_NOEXIST == 1 && FM_EXIST == 2 && FM_F_LOCK == 4 &&
	       FM_F_COMPARE == 32, "kernel elem flag values");
_Static_assert(FM_F_NO_PREALLOC == 1 && FM_F_RDONLY == 8 && FM_F_WRONLY == 16 &&
	       FM_F_ZERO_SEED == 64, "kernel map flag values");

struct val {
	uint64_t revision;
	uint64_t payload;
};

#define REV_OFF ((uint32_t)offsetof(struct val, revision))
#define REV_SZ  ((uint32_t)sizeof(uint64_t))

static int hash(uint32_t max)
{
	return fm_map_create(FM_MAP_TYPE_HASH, "drv_hash", sizeof(uint32_t), sizeof(struct val), max, NULL);
}

static void test_create(void)
{
	int fd;

	fd = fm_map_create(FM_MAP_TYPE_HASH, NULL, 4, 16, 8, NULL);
	CHECK(fd >= 0);
	CHECK_RET(fm_map_close(fd), 0);
	fd = fm_map_create(FM_MAP_TYPE_HASH, "ok_name.1", 4, 16, 8, NULL);
	CHECK(fd >= 0);
	CHECK_RET(fm_map_close(fd), 0);

	CHECK_ERR(fm_map_create(0, NULL, 4, 16, 8, NULL), EINVAL);
	CHECK_ERR(fm_map_create(9999, NULL, 4, 16, 8, NULL), EINVAL);
	CHECK_ERR(fm_map_create(FM_MAP_TYPE_HASH, NULL, 0, 16, 8, NULL), EINVAL);
	CHECK_ERR(fm_map_create(FM_MAP_TYPE_HASH, NULL, 4, 0, 8, NULL), EINVAL);
	CHECK_ERR(fm_map_create(FM_MAP_TYPE_HASH, NULL, 4, 16, 0, NULL), EINVAL);
	CHECK_ERR(fm_map_create(FM_MAP_TYPE_HASH, "bad name!", 4, 16, 8, NULL), EINVAL);
	{
		FM_OPTS(fm_map_create_opts, o, .map_flags = FM_F_RDONLY | FM_F_WRONLY);
		CHECK_ERR(fm_map_create(FM_MAP_TYPE_HASH, NULL, 4, 16, 8, &o), EINVAL);
	}
	{
		FM_OPTS(fm_map_create_opts, o, .map_flags = 1u << 20);
		CHECK_ERR(fm_map_create(FM_MAP_TYPE_HASH, NULL, 4, 16, 8, &o), EINVAL);
	}
	{
		FM_OPTS(fm_map_create_opts, o, .map_flags = FM_F_NO_PREALLOC);
		CHECK_ERR(fm_map_create(FM_MAP_TYPE_LRU_HASH, NULL, 4, 16, 8, &o), FM_ENOTSUPP);
		fd = fm_map_create(FM_MAP_TYPE_HASH, NULL, 4, 16, 8, &o);
		CHECK(fd >= 0);
		CHECK_RET(fm_map_close(fd), 0);
	}
}

/* libbpf's OPTS_VALID/OPTS_GET rules, applied by the export layer. */
static void test_opts(void)
{
	struct {
		struct fm_map_create_opts o;
		uint8_t newer[16]; /* a caller compiled against a larger, future struct */
	} big;
	struct fm_map_create_opts o;
	uint32_t k = 1;
	struct val v = { 1, 2 };
	int fd;

	memset(&o, 0, sizeof(o));
	o.sz = sizeof(size_t) - 1;
	CHECK_ERR(fm_map_create(FM_MAP_TYPE_HASH, NULL, 4, 16, 8, &o), EINVAL);
	o.sz = 0;
	CHECK_ERR(fm_map_create(FM_MAP_TYPE_HASH, NULL, 4, 16, 8, &o), EINVAL);

	/* Exactly sizeof(size_t): every field defaults. */
	o.sz = sizeof(size_t);
	o.map_flags = FM_F_RDONLY; /* past sz: must be ignored */
	fd = fm_map_create(FM_MAP_TYPE_HASH, NULL, 4, 16, 8, &o);
	CHECK(fd >= 0);
	CHECK_RET(fm_map_update_elem(fd, &k, &v, FM_ANY), 0);
	CHECK_RET(fm_map_close(fd), 0);

	/* An older struct that ends after map_flags: map_flags is honoured. */
	o.sz = offsetof(struct fm_map_create_opts, has_spin_lock);
	o.map_flags = FM_F_RDONLY;
	o.has_spin_lock = 1; /* past sz: ignored */
	fd = fm_map_create(FM_MAP_TYPE_HASH, NULL, 4, 16, 8, &o);
	CHECK(fd >= 0);
	CHECK_ERR(fm_map_update_elem(fd, &k, &v, FM_ANY), EPERM);
	CHECK_RET(fm_map_close(fd), 0);

	/* Tail padding of our own struct counts as unknown bytes (FM_OPTS zeroes it). */
	memset(&o, 0, sizeof(o));
	o.sz = sizeof(o);
	((uint8_t *)&o)[20] = 1;
	CHECK_ERR(fm_map_create(FM_MAP_TYPE_HASH, NULL, 4, 16, 8, &o), EINVAL);

	/* A newer, larger struct: accepted while the unknown tail is zero. */
	memset(&big, 0, sizeof(big));
	big.o.sz = sizeof(big);
	fd = fm_map_create(FM_MAP_TYPE_HASH, NULL, 4, 16, 8, &big.o);
	CHECK(fd >= 0);
	CHECK_RET(fm_map_close(fd), 0);
	big.newer[15] = 0x80;
	CHECK_ERR(fm_map_create(FM_MAP_TYPE_HASH, NULL, 4, 16, 8, &big.o), EINVAL);
	big.newer[15] = 0;
	big.newer[0] = 1;
	CHECK_ERR(fm_map_create(FM_MAP_TYPE_HASH, NULL, 4, 16, 8, &big.o), EINVAL);
}

static void test_update_lookup(void)
{
	uint32_t k, miss = 77;
	struct val v = { 5, 6 }, out;
	int fd = hash(4);

	CHECK(fd >= 0);
	k = 1;
	CHECK_RET(fm_map_update_elem(fd, &k, &v, FM_ANY), 0);
	memset(&out, 0, sizeof(out));
	CHECK_RET(fm_map_lookup_elem(fd, &k, &out), 0);
	CHECK(out.revision == 5 && out.payload == 6);
	CHECK_RET(fm_map_lookup_elem_flags(fd, &k, &out, 0), 0);

	CHECK_ERR(fm_map_update_elem(fd, &k, &v, FM_NOEXIST), EEXIST);
	CHECK_ERR(fm_map_update_elem(fd, &miss, &v, FM_EXIST), ENOENT);
	CHECK_ERR(fm_map_update_elem(fd, &k, &v, 3), EINVAL);
	CHECK_ERR(fm_map_update_elem(fd, &k, &v, FM_F_COMPARE), EINVAL);
	CHECK_ERR(fm_map_update_elem(fd, &k, &v, FM_F_LOCK), EINVAL); /* no spin lock */
	CHECK_ERR(fm_map_update_elem(fd, NULL, &v, FM_ANY), EFAULT);
	CHECK_ERR(fm_map_update_elem(fd, &k, NULL, FM_ANY), EFAULT);
	CHECK_ERR(fm_map_update_elem(12345, &k, &v, FM_ANY), EBADF);
	CHECK_ERR(fm_map_update_elem(-1, &k, &v, FM_ANY), EBADF);

	v.revision = 9;
	CHECK_RET(fm_map_update_elem(fd, &k, &v, FM_EXIST), 0);
	CHECK_RET(fm_map_lookup_elem(fd, &k, &out), 0);
	CHECK(out.revision == 9);

	CHECK_ERR(fm_map_lookup_elem(fd, &miss, &out), ENOENT);
	CHECK_ERR(fm_map_lookup_elem(fd, NULL, &out), EFAULT);
	CHECK_ERR(fm_map_lookup_elem(fd, &k, NULL), EFAULT);
	CHECK_ERR(fm_map_lookup_elem(12345, &k, &out), EBADF);
	CHECK_ERR(fm_map_lookup_elem_flags(fd, &k, &out, FM_EXIST), EINVAL);
	CHECK_ERR(fm_map_lookup_elem_flags(fd, &k, &out, FM_F_LOCK), EINVAL); /* no spin lock */

	/* Capacity: E2BIG on the fifth new key; replacing and EXIST-on-missing keep their answers. */
	for (k = 2; k <= 4; k++)
		CHECK_RET(fm_map_update_elem(fd, &k, &v, FM_NOEXIST), 0);
	k = 5;
	CHECK_ERR(fm_map_update_elem(fd, &k, &v, FM_ANY), E2BIG);
	CHECK_ERR(fm_map_update_elem(fd, &k, &v, FM_EXIST), ENOENT);
	k = 4;
	CHECK_RET(fm_map_update_elem(fd, &k, &v, FM_ANY), 0);
	CHECK_RET(fm_map_delete_elem(fd, &k), 0);
	k = 5;
	CHECK_RET(fm_map_update_elem(fd, &k, &v, FM_NOEXIST), 0); /* a delete frees room at once */
	CHECK_RET(fm_map_close(fd), 0);
}

static void test_delete(void)
{
	uint32_t k = 1;
	struct val v = { 1, 2 };
	int fd = hash(8), afd;

	CHECK(fd >= 0);
	CHECK_RET(fm_map_update_elem(fd, &k, &v, FM_ANY), 0);
	CHECK_ERR(fm_map_delete_elem_flags(fd, &k, FM_EXIST), EINVAL);
	CHECK_ERR(fm_map_delete_elem_flags(fd, &k, FM_F_LOCK), EINVAL);
	CHECK_ERR(fm_map_delete_elem(fd, NULL), EFAULT);
	CHECK_ERR(fm_map_delete_elem(12345, &k), EBADF);
	CHECK_RET(fm_map_delete_elem_flags(fd, &k, 0), 0);
	CHECK_ERR(fm_map_delete_elem(fd, &k), ENOENT);
	CHECK_RET(fm_map_update_elem(fd, &k, &v, FM_ANY), 0);
	CHECK_RET(fm_map_delete_elem(fd, &k), 0);
	CHECK_ERR(fm_map_lookup_elem(fd, &k, &v), ENOENT);
	CHECK_RET(fm_map_close(fd), 0);

	afd = fm_map_create(FM_MAP_TYPE_ARRAY, NULL, 4, sizeof(v), 4, NULL);
	CHECK(afd >= 0);
	k = 0;
	CHECK_ERR(fm_map_delete_elem(afd, &k), EINVAL);
	CHECK_RET(fm_map_close(afd), 0);
}

static void test_delete_cmp(void)
{
	uint32_t k = 1, miss = 2;
	struct val v = { 10, 0xabc }, snap = v, out;
	int fd = hash(8), afd, lfd, pfd, sfd, rofd;

	CHECK(fd >= 0);
	CHECK_RET(fm_map_update_elem(fd, &k, &v, FM_ANY), 0);

	snap.revision = 9;
	CHECK_ERR(fm_map_delete_elem_cmp(fd, &k, &snap.revision, REV_OFF, REV_SZ), EBUSY);
	CHECK_RET(fm_map_lookup_elem(fd, &k, &out), 0);
	snap.revision = 10;
	/* Window checks: past value_size, overflowing, offset with a whole-value size. */
	CHECK_ERR(fm_map_delete_elem_cmp(fd, &k, &snap, 0, sizeof(v) + 8), EINVAL);
	CHECK_ERR(fm_map_delete_elem_cmp(fd, &k, &snap, 9, 8), EINVAL);
	CHECK_ERR(fm_map_delete_elem_cmp(fd, &k, &snap, 0xffffffffu, 8), EINVAL);
	CHECK_ERR(fm_map_delete_elem_cmp(fd, &k, &snap, 8, 0), EINVAL);
	CHECK_ERR(fm_map_delete_elem_cmp(fd, &k, NULL, REV_OFF, REV_SZ), EFAULT);
	CHECK_ERR(fm_map_delete_elem_cmp(fd, NULL, &snap, REV_OFF, REV_SZ), EFAULT);
	CHECK_ERR(fm_map_delete_elem_cmp(12345, &k, &snap, REV_OFF, REV_SZ), EBADF);
	CHECK_ERR(fm_map_delete_elem_cmp(fd, &miss, &snap, REV_OFF, REV_SZ), ENOENT);
	/* The payload window alone, then the whole value (size 0). */
	CHECK_ERR(fm_map_delete_elem_cmp(fd, &k, &snap.revision, 8, 8), EBUSY);
	CHECK_RET(fm_map_lookup_elem(fd, &k, &out), 0);
	CHECK_RET(fm_map_delete_elem_cmp(fd, &k, &snap, 0, 0), 0);
	CHECK_ERR(fm_map_lookup_elem(fd, &k, &out), ENOENT);
	CHECK_ERR(fm_map_delete_elem_cmp(fd, &k, &snap, 0, 0), ENOENT);
	/* Exactly the last byte is a valid window. */
	CHECK_RET(fm_map_update_elem(fd, &k, &v, FM_ANY), 0);
	CHECK_RET(fm_map_delete_elem_cmp(fd, &k, (const uint8_t *)&v + 15, 15, 1), 0);
	CHECK_RET(fm_map_close(fd), 0);

	/* Map types without the op; the window is still checked first. */
	afd = fm_map_create(FM_MAP_TYPE_ARRAY, NULL, 4, sizeof(v), 4, NULL);
	CHECK(afd >= 0);
	k = 0;
	CHECK_ERR(fm_map_delete_elem_cmp(afd, &k, &snap, REV_OFF, REV_SZ), EOPNOTSUPP);
	CHECK_ERR(fm_map_delete_elem_cmp(afd, &k, &snap, 0, 64), EINVAL);
	CHECK_RET(fm_map_close(afd), 0);
	lfd = fm_map_create(FM_MAP_TYPE_LRU_HASH, NULL, 4, sizeof(v), 4, NULL);
	CHECK(lfd >= 0);
	CHECK_ERR(fm_map_delete_elem_cmp(lfd, &k, &snap, REV_OFF, REV_SZ), EOPNOTSUPP);
	CHECK_RET(fm_map_close(lfd), 0);
	pfd = fm_map_create(FM_MAP_TYPE_PERCPU_HASH, NULL, 4, sizeof(v), 4, NULL);
	CHECK(pfd >= 0);
	CHECK_ERR(fm_map_delete_elem_cmp(pfd, &k, &snap, REV_OFF, REV_SZ), EOPNOTSUPP);
	CHECK_RET(fm_map_close(pfd), 0);

	/* A value with a spin lock: raw compare refused (the RFC's map->record rule). */
	{
		FM_OPTS(fm_map_create_opts, o, .has_spin_lock = 1, .spin_lock_off = 8);
		sfd = fm_map_create(FM_MAP_TYPE_HASH, NULL, 4, sizeof(v), 4, &o);
		CHECK(sfd >= 0);
		k = 1;
		CHECK_RET(fm_map_update_elem(sfd, &k, &v, FM_F_LOCK), 0);
		CHECK_RET(fm_map_lookup_elem_flags(sfd, &k, &out, FM_F_LOCK), 0);
		CHECK(out.revision == v.revision);
		CHECK_ERR(fm_map_delete_elem_cmp(sfd, &k, &snap, REV_OFF, REV_SZ), EOPNOTSUPP);
		CHECK_RET(fm_map_close(sfd), 0);
	}

	/* A read-only handle: EPERM, before the window check. */
	{
		FM_OPTS(fm_map_create_opts, o, .map_flags = FM_F_RDONLY);
		rofd = fm_map_create(FM_MAP_TYPE_HASH, NULL, 4, sizeof(v), 4, &o);
		CHECK(rofd >= 0);
		CHECK_ERR(fm_map_delete_elem_cmp(rofd, &k, &snap, REV_OFF, REV_SZ), EPERM);
		CHECK_ERR(fm_map_delete_elem_cmp(rofd, &k, &snap, 0, 64), EPERM);
		CHECK_ERR(fm_map_delete_elem(rofd, &k), EPERM);
		CHECK_ERR(fm_map_lookup_and_delete_elem(rofd, &k, &out), EPERM);
		CHECK_ERR(fm_map_lookup_elem(rofd, &k, &out), ENOENT); /* reading is allowed */
		CHECK_RET(fm_map_close(rofd), 0);
	}
}

static void test_lookup_and_delete(void)
{
	uint32_t k = 3;
	struct val v = { 7, 8 }, out;
	int fd = hash(8), afd, wofd;

	CHECK(fd >= 0);
	CHECK_RET(fm_map_update_elem(fd, &k, &v, FM_ANY), 0);
	CHECK_ERR(fm_map_lookup_and_delete_elem(fd, NULL, &out), EFAULT);
	CHECK_ERR(fm_map_lookup_and_delete_elem(12345, &k, &out), EBADF);
	memset(&out, 0, sizeof(out));
	CHECK_RET(fm_map_lookup_and_delete_elem(fd, &k, &out), 0);
	CHECK(out.revision == 7 && out.payload == 8);
	CHECK_ERR(fm_map_lookup_elem(fd, &k, &out), ENOENT);
	CHECK_ERR(fm_map_lookup_and_delete_elem(fd, &k, &out), ENOENT);
	CHECK_RET(fm_map_close(fd), 0);

	afd = fm_map_create(FM_MAP_TYPE_ARRAY, NULL, 4, sizeof(v), 4, NULL);
	CHECK(afd >= 0);
	k = 0;
	CHECK_ERR(fm_map_lookup_and_delete_elem(afd, &k, &out), FM_ENOTSUPP);
	CHECK_RET(fm_map_close(afd), 0);

	{
		FM_OPTS(fm_map_create_opts, o, .map_flags = FM_F_WRONLY);
		wofd = fm_map_create(FM_MAP_TYPE_HASH, NULL, 4, sizeof(v), 4, &o);
		CHECK(wofd >= 0);
		CHECK_RET(fm_map_update_elem(wofd, &k, &v, FM_ANY), 0); /* writing is allowed */
		CHECK_ERR(fm_map_lookup_and_delete_elem(wofd, &k, &out), EPERM);
		CHECK_ERR(fm_map_lookup_elem(wofd, &k, &out), EPERM);
		CHECK_ERR(fm_map_get_next_key(wofd, NULL, &k), EPERM);
		CHECK_RET(fm_map_close(wofd), 0);
	}
}

static void test_get_next_key(void)
{
	enum { N = 50 };
	uint8_t seen[N];
	uint32_t k, next, cur, miss = 1000;
	struct val v = { 0, 0 };
	int fd = hash(N), n = 0, first;

	CHECK(fd >= 0);
	CHECK_ERR(fm_map_get_next_key(fd, NULL, &next), ENOENT); /* empty map */
	for (k = 0; k < N; k++) {
		v.payload = k;
		CHECK_RET(fm_map_update_elem(fd, &k, &v, FM_NOEXIST), 0);
	}
	memset(seen, 0, sizeof(seen));
	CHECK_RET(fm_map_get_next_key(fd, NULL, &next), 0);
	first = (int)next;
	for (;;) {
		if (next >= N || seen[next]) {
			CHECK(!"get_next_key returned a key twice or a key never inserted");
		}
		seen[next] = 1;
		n++;
		cur = next;
		if (fm_map_get_next_key(fd, &cur, &next) != 0)
			break;
	}
	CHECK(n == N);
	CHECK_ERR(fm_map_get_next_key(fd, &cur, &next), ENOENT); /* the end */
	CHECK_RET(fm_map_get_next_key(fd, &miss, &next), 0);      /* absent key: restart */
	CHECK(next == (uint32_t)first);
	CHECK_ERR(fm_map_get_next_key(fd, NULL, NULL), EFAULT);
	CHECK_ERR(fm_map_get_next_key(12345, NULL, &next), EBADF);
	CHECK_RET(fm_map_close(fd), 0);
}

static void test_read_section(void)
{
	uint32_t k = 4, miss = 5;
	struct val v = { 1, 2 }, out;
	struct val *p;
	int fd = hash(8);

	CHECK(fd >= 0);
	CHECK_RET(fm_map_update_elem(fd, &k, &v, FM_ANY), 0);
	fm_read_lock();
	fm_read_lock(); /* nests */
	p = fm_map_lookup_elem_ptr(fd, &k);
	CHECK(p != NULL);
	CHECK(((uintptr_t)p & 7) == 0);
	CHECK(p->revision == 1 && p->payload == 2);
	__atomic_store_n(&p->revision, 42, __ATOMIC_RELEASE); /* the datapath's in-place refresh */
	fm_read_unlock();
	CHECK(p->revision == 42); /* still inside the outer section */
	errno = 0;
	CHECK(fm_map_lookup_elem_ptr(fd, &miss) == NULL);
	CHECK_RET(errno, ENOENT);
	errno = 0;
	CHECK(fm_map_lookup_elem_ptr(fd, NULL) == NULL);
	CHECK_RET(errno, EFAULT);
	errno = 0;
	CHECK(fm_map_lookup_elem_ptr(12345, &k) == NULL);
	CHECK(errno != 0);
	fm_read_unlock();
	CHECK_RET(fm_map_lookup_elem(fd, &k, &out), 0);
	CHECK(out.revision == 42 && out.payload == 2);
	/* The refreshed revision is what compare-and-delete sees. */
	v.revision = 1;
	CHECK_ERR(fm_map_delete_elem_cmp(fd, &k, &v.revision, REV_OFF, REV_SZ), EBUSY);
	v.revision = 42;
	CHECK_RET(fm_map_delete_elem_cmp(fd, &k, &v.revision, REV_OFF, REV_SZ), 0);

	/* Deleting or closing inside a section: the pointer stays readable until the section ends. */
	CHECK_RET(fm_map_update_elem(fd, &k, &v, FM_ANY), 0);
	fm_read_lock();
	p = fm_map_lookup_elem_ptr(fd, &k);
	CHECK(p != NULL);
	CHECK_RET(fm_map_delete_elem(fd, &k), 0);
	CHECK(fm_map_lookup_elem_ptr(fd, &k) == NULL);
	CHECK_RET(fm_map_close(fd), 0);
	CHECK(fm_map_lookup_elem_ptr(fd, &k) == NULL);
	CHECK(p->revision == 42 && p->payload == 2);
	fm_read_unlock();
}

/* Values stay 8-byte aligned whatever the key size (the kernel rounds the key up to 8). */
static void test_value_alignment(void)
{
	static const uint32_t key_sizes[] = { 1, 3, 4, 5, 7, 9, 13, 16, 33 };
	uint8_t key[64];
	uint64_t value[3] = { 1, 2, 3 };
	size_t i;
	uint32_t j;

	for (i = 0; i < sizeof(key_sizes) / sizeof(key_sizes[0]); i++) {
		int fd = fm_map_create(FM_MAP_TYPE_HASH, NULL, key_sizes[i], sizeof(value), 16, NULL);

		CHECK(fd >= 0);
		for (j = 0; j < 16; j++) {
			void *p;

			memset(key, (int)j, sizeof(key));
			CHECK_RET(fm_map_update_elem(fd, key, value, FM_NOEXIST), 0);
			fm_read_lock();
			p = fm_map_lookup_elem_ptr(fd, key);
			CHECK(p != NULL && ((uintptr_t)p & 7) == 0);
			CHECK(memcmp(p, value, sizeof(value)) == 0);
			fm_read_unlock();
		}
		CHECK_RET(fm_map_close(fd), 0);
	}
}

static void test_array_and_close(void)
{
	uint32_t k = 0, big = 4;
	struct val v = { 3, 4 }, out;
	int afd = fm_map_create(FM_MAP_TYPE_ARRAY, "arr", 4, sizeof(v), 4, NULL), fd;

	CHECK(afd >= 0);
	CHECK_RET(fm_map_lookup_elem(afd, &k, &out), 0); /* every index exists, zeroed */
	CHECK(out.revision == 0 && out.payload == 0);
	CHECK_RET(fm_map_update_elem(afd, &k, &v, FM_ANY), 0);
	CHECK_RET(fm_map_lookup_elem(afd, &k, &out), 0);
	CHECK(out.revision == 3);
	CHECK_ERR(fm_map_update_elem(afd, &k, &v, FM_NOEXIST), EEXIST);
	CHECK_ERR(fm_map_lookup_elem(afd, &big, &out), ENOENT);
	CHECK_RET(fm_map_close(afd), 0);

	fd = hash(4);
	CHECK(fd >= 0);
	CHECK_RET(fm_map_close(fd), 0);
	CHECK_ERR(fm_map_close(fd), EBADF);
	CHECK_ERR(fm_map_close(-1), EBADF);
	CHECK_ERR(fm_map_lookup_elem(fd, &k, &out), EBADF);
	CHECK_ERR(fm_map_update_elem(fd, &k, &v, FM_ANY), EBADF);
	CHECK_ERR(fm_map_delete_elem(fd, &k), EBADF);
	CHECK_ERR(fm_map_get_next_key(fd, NULL, &k), EBADF);
}

static void test_bpf_entry(void)
{
	/* union bpf_attr's BPF_MAP_CREATE part: map_type, key_size, value_size, max_entries, map_flags. */
	uint8_t attr[168];
	uint32_t u;
	int fd;

	memset(attr, 0, sizeof(attr));
	u = FM_MAP_TYPE_HASH;
	memcpy(attr + 0, &u, 4);
	u = 4;
	memcpy(attr + 4, &u, 4);
	u = 16;
	memcpy(attr + 8, &u, 4);
	u = 8;
	memcpy(attr + 12, &u, 4);
	fd = fm_bpf(FM_BPF_MAP_CREATE, attr, sizeof(attr));
	CHECK(fd >= 0);
	CHECK_RET(fm_map_close(fd), 0);
	CHECK_ERR(fm_bpf(FM_BPF_MAP_CREATE, NULL, sizeof(attr)), EFAULT);
	CHECK_ERR(fm_bpf(9999, attr, sizeof(attr)), EINVAL);
}

int main(void)
{
	/* The library the program loaded is the one this header describes. */
	CHECK(fm_version() == FM_VERSION);
	CHECK(fm_version() >> 16 == FM_VERSION_MAJOR);
	test_create();
	test_opts();
	test_update_lookup();
	test_delete();
	test_delete_cmp();
	test_lookup_and_delete();
	test_get_next_key();
	test_read_section();
	test_value_alignment();
	test_array_and_close();
	test_bpf_entry();
	printf("abi_driver: %d checks passed\n", fm_checks_run);
	return 0;
}

CHECK_SITES_FIT();
