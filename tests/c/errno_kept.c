/* Successful calls leave errno alone (fastmap.h, "Errors"): every export, the process's first call
 * (the runtime's start-up runs inside it), a new thread's first calls (its attach), and calls made
 * under an address-space limit (the runtime's allocator fails and retries inside them). Before every
 * call errno holds a sentinel; after a successful one it must still hold it, after a failed one it
 * must hold the result's errno. Exit status = ordinal of the first failed check. */
#include "check.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include <fastmap.h>

#define SENTINEL 4242

/* A call that must succeed and keep the sentinel. */
#define KEPT(call)                                          \
	do {                                                \
		errno = SENTINEL;                           \
		long long r_ = (long long)(call);           \
		CHECK(r_ >= 0);                             \
		CHECK(errno == SENTINEL);                   \
	} while (0)

/* A call that returns a pointer (NULL only on failure) or nothing. */
#define KEPT_PTR(call)                                      \
	do {                                                \
		errno = SENTINEL;                           \
		CHECK((call) != NULL);                      \
		CHECK(errno == SENTINEL);                   \
	} while (0)

#define KEPT_VOID(call)                                     \
	do {                                                \
		errno = SENTINEL;                           \
		call;                                       \
		CHECK(errno == SENTINEL);                   \
	} while (0)

/* bpf(2)'s attr for the element commands: map_fd, key, value, flags. */
struct elem_attr {
	uint32_t map_fd;
	uint32_t pad;
	uint64_t key;
	uint64_t value;
	uint64_t flags;
};

static int hash_fd;

/* Every export once, successfully, on a hash map of 8-byte keys and 16-byte values. */
static void every_export(int fd)
{
	uint64_t k = 7, k2 = 8, next = 0, cur = 0;
	uint64_t v[2] = { 1, 2 }, out[2];
	uint64_t keys[4] = { 20, 21, 22, 23 }, vals[8] = { 0 }, got_keys[4], got_vals[8];
	int32_t results[4];
	uint32_t count;

	KEPT(fm_map_update_elem(fd, &k, v, FM_ANY));
	KEPT(fm_map_update_elem(fd, &k2, v, FM_NOEXIST));
	KEPT(fm_map_lookup_elem(fd, &k, out));
	KEPT(fm_map_lookup_elem_flags(fd, &k, out, 0));
	KEPT(fm_map_get_next_key(fd, NULL, &next));
	KEPT_VOID(fm_read_lock());
	KEPT_PTR(fm_map_lookup_elem_ptr(fd, &k));
	KEPT_VOID(fm_read_unlock());
	KEPT(fm_map_delete_elem_cmp(fd, &k2, &v[0], 0, 8));
	KEPT(fm_map_lookup_and_delete_elem(fd, &k, out));
	KEPT(fm_map_update_elem(fd, &k, v, FM_ANY));
	KEPT(fm_map_delete_elem(fd, &k));
	KEPT(fm_map_update_elem(fd, &k, v, FM_ANY));
	KEPT(fm_map_delete_elem_flags(fd, &k, 0));

	count = 4;
	KEPT(fm_map_update_batch(fd, keys, vals, &count, 0));
	count = 4;
	KEPT(fm_map_lookup_bulk(fd, keys, got_vals, results, count));
	/* Room for less than every key, so more follow and the call returns 0, not the end's -ENOENT; but
	 * at least the first bucket's keys, or it is -ENOSPC (which keys share a bucket is the seed's). */
	for (int del = 0; del < 2; del++) {
		for (uint32_t room = 1;; room++) {
			count = room;
			errno = SENTINEL;
			int r = del ? fm_map_lookup_and_delete_batch(fd, NULL, &cur, got_keys, got_vals, &count, 0)
				    : fm_map_lookup_batch(fd, NULL, &cur, got_keys, got_vals, &count, 0);
			if (r == 0) {
				CHECK(errno == SENTINEL);
				break;
			}
			CHECK(r == -ENOSPC && errno == ENOSPC && room < 4);
		}
	}
	count = 4; /* the four present again, whichever the scan took */
	KEPT(fm_map_update_batch(fd, keys, vals, &count, 0));
	uint64_t rev0 = 0, newer[2] = { 5, 6 };
	KEPT(fm_map_update_elem_cmp(fd, &keys[0], newer, &rev0, 0, 8, FM_ANY));
	count = 1;
	KEPT(fm_map_update_batch_cmp(fd, &keys[0], newer, &newer[0], 0, 8, results, &count));
	uint64_t rest[2] = { 21, 22 }, zero[2] = { 0, 0 };
	count = 2;
	KEPT(fm_map_delete_batch_cmp(fd, rest, zero, 0, 8, results, &count));
	uint64_t last = 23;
	count = 1;
	KEPT(fm_map_delete_batch(fd, &last, &count, 0));

	struct elem_attr a = { .map_fd = (uint32_t)fd, .key = (uintptr_t)&k, .value = (uintptr_t)v };
	KEPT(fm_bpf(FM_BPF_MAP_UPDATE_ELEM, &a, sizeof(a)));
	a.value = (uintptr_t)out;
	KEPT(fm_bpf(FM_BPF_MAP_LOOKUP_ELEM, &a, sizeof(a)));

	/* The header's internals, which its inline reads call on a thread's first use. */
	uint32_t version = 0, handles = 0;
	KEPT_PTR(fm__layouts(&version, &handles));
	KEPT_PTR(fm__thread());
	KEPT_PTR(fm__epoch());
	KEPT_VOID(fm__advance());
}

/* A failed call: -errno returned, and errno set to it. */
static void failed_call_sets_errno(void)
{
	uint64_t k = 999, out[2];

	errno = SENTINEL;
	CHECK(fm_map_lookup_elem(hash_fd, &k, out) == -ENOENT);
	CHECK(errno == ENOENT);
	errno = SENTINEL;
	CHECK(fm_map_create(FM_MAP_TYPE_HASH, NULL, 0, 8, 8, NULL) == -EINVAL);
	CHECK(errno == EINVAL);
}

static void *new_thread(void *arg)
{
	(void)arg;
	uint64_t k = 7, v[2] = { 3, 4 }, out[2];

	/* This thread's first calls of each kind: the runtime attaches the thread inside the first. */
	KEPT(fm_map_lookup_elem(hash_fd, &k, out));
	KEPT(fm_map_update_elem(hash_fd, &k, v, FM_ANY));
	KEPT_VOID(fm_read_lock());
	KEPT_VOID(fm_read_unlock());
	every_export(hash_fd);
	return NULL;
}

static void in_new_threads(int n)
{
	for (int i = 0; i < n; i++) {
		pthread_t t;

		CHECK(pthread_create(&t, NULL, new_thread, NULL) == 0);
		CHECK(pthread_join(t, NULL) == 0);
	}
}

static unsigned long long vm_size_bytes(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	unsigned long long kb = 0;

	CHECK(f != NULL);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmSize: %llu kB", &kb) == 1)
			break;
	fclose(f);
	CHECK(kb > 0);
	return kb * 1024;
}

/* Under an address-space limit a little above what the process has mapped: creates fail with
 * -ENOMEM once the room is gone, and every call that succeeds meanwhile keeps errno. */
static void under_address_space_limit(void)
{
	struct rlimit old, lim;

	CHECK(getrlimit(RLIMIT_AS, &old) == 0);
	lim = old;
	lim.rlim_cur = vm_size_bytes() + (256ull << 20);
	CHECK(setrlimit(RLIMIT_AS, &lim) == 0);

	int made = 0, refused = 0, fds[64];
	for (int i = 0; i < 64; i++) {
		errno = SENTINEL;
		int fd = fm_map_create(FM_MAP_TYPE_HASH, NULL, 8, 16, 1u << 18, NULL); /* ~16 MiB reserved */
		if (fd >= 0) {
			CHECK(errno == SENTINEL);
			fds[made++] = fd;
			every_export(fd);
		} else {
			CHECK(fd == -ENOMEM);
			CHECK(errno == ENOMEM);
			refused++;
			break;
		}
	}
	CHECK(made > 0);
	CHECK(refused > 0);
	every_export(hash_fd);
	in_new_threads(2);
	for (int i = 0; i < made; i++)
		KEPT(fm_map_close(fds[i]));
	CHECK(setrlimit(RLIMIT_AS, &old) == 0);
}

int main(void)
{
	/* The process's first call into the library: the runtime starts inside it. */
	errno = SENTINEL;
	hash_fd = fm_map_create(FM_MAP_TYPE_HASH, "errno", 8, 16, 64, NULL);
	CHECK(hash_fd >= 0);
	CHECK(errno == SENTINEL);

	/* Each map type's first create (per-CPU sizing reads sysfs). */
	int fd;
	KEPT(fd = fm_map_create(FM_MAP_TYPE_PERCPU_HASH, NULL, 8, 16, 64, NULL));
	KEPT(fm_map_close(fd));
	KEPT(fd = fm_map_create(FM_MAP_TYPE_LRU_HASH, NULL, 8, 16, 64, NULL));
	KEPT(fm_map_close(fd));
	KEPT(fd = fm_map_create(FM_MAP_TYPE_ARRAY, NULL, 4, 16, 64, NULL));
	KEPT(fm_map_close(fd));
	FM_OPTS(fm_map_create_opts, o, .map_flags = FM_F_NO_PREALLOC);
	KEPT(fd = fm_map_create(FM_MAP_TYPE_HASH, NULL, 8, 16, 64, &o));
	KEPT(fm_map_close(fd));

	every_export(hash_fd);
	failed_call_sets_errno();
	in_new_threads(8);
	under_address_space_limit();
	KEPT(fm_map_close(hash_fd));
	printf("errno_kept: %d checks passed\n", fm_checks_run);
	return 0;
}

CHECK_SITES_FIT();
