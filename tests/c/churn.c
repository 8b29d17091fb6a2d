/* Thread churn: many short-lived pthreads, each doing a few operations including a read-side
 * section, must leave nothing growing behind (epoch slots, handles, memory). Threads run in
 * small waves so at most WAVE are alive at once.
 *
 * What is checked: every call of every thread succeeds; handles (each worker opens and closes
 * one) stay below the number of threads alive at once; afterwards the map answers normally;
 * and resident memory after all threads is within a bound of
 * what it was after the first tenth of them (a per-thread leak of even ~1 KiB would exceed it).
 * Usage: churn [threads] [max-growth-KiB]. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <fastmap.h>

#include "check.h"

#define WAVE 8

struct val {
	uint64_t revision;
	uint64_t payload;
};

static int g_fd;
static unsigned long g_failures;
static int g_max_handle;

static void *worker(void *arg)
{
	uint32_t k = (uint32_t)(uintptr_t)arg;
	struct val v = { k, ~(uint64_t)k }, out;
	struct val *p;
	int bad = 0, fd, seen;

	bad |= fm_map_update_elem(g_fd, &k, &v, FM_NOEXIST) != 0;
	fm_read_lock();
	p = fm_map_lookup_elem_ptr(g_fd, &k);
	bad |= p == NULL;
	if (p != NULL)
		__atomic_store_n(&p->revision, (uint64_t)k + 1, __ATOMIC_RELEASE);
	fm_read_unlock();
	bad |= fm_map_lookup_elem(g_fd, &k, &out) != 0 || out.revision != (uint64_t)k + 1;
	v.revision = (uint64_t)k + 1;
	bad |= fm_map_delete_elem_cmp(g_fd, &k, &v.revision, 0, 8) != 0;
	/* A handle of its own: handles are lowest-free, so they must not climb with thread count. */
	fd = fm_map_create(FM_MAP_TYPE_HASH, NULL, sizeof(k), sizeof(v), 1, NULL);
	bad |= fd < 0 || fm_map_update_elem(fd, &k, &v, FM_ANY) != 0 || fm_map_close(fd) != 0;
	seen = __atomic_load_n(&g_max_handle, __ATOMIC_RELAXED);
	while (fd > seen && !__atomic_compare_exchange_n(&g_max_handle, &seen, fd, 0,
							 __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
	if (bad)
		__atomic_add_fetch(&g_failures, 1, __ATOMIC_RELAXED);
	return NULL;
}

/* Exits while inside a read-side section (a bug in the caller, but one the library must survive). */
static void *exit_inside_section(void *arg)
{
	uint32_t k = (uint32_t)(uintptr_t)arg;

	fm_read_lock();
	(void)fm_map_lookup_elem_ptr(g_fd, &k);
	return NULL;
}

static long rss_kib(void)
{
	long pages = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f == NULL)
		return -1;
	if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
		resident = -1;
	fclose(f);
	return resident < 0 ? -1 : resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static void run(uint32_t from, uint32_t to)
{
	pthread_t t[WAVE];
	uint32_t base, i, n;

	for (base = from; base < to; base += n) {
		n = to - base < WAVE ? to - base : WAVE;
		for (i = 0; i < n; i++)
			CHECK_RET(pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)(base + i)), 0);
		for (i = 0; i < n; i++)
			CHECK_RET(pthread_join(t[i], NULL), 0);
	}
}

int main(int argc, char **argv)
{
	uint32_t threads = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 0) : 10000;
	long max_growth = argc > 2 ? strtol(argv[2], NULL, 0) : 8192;
	uint32_t warm = threads / 10, k = 0, next;
	long rss_warm, rss_end;
	struct val v = { 1, 2 };
	int fd2;

	g_fd = fm_map_create(FM_MAP_TYPE_HASH, "churn", sizeof(uint32_t), sizeof(struct val), threads, NULL);
	CHECK(g_fd >= 0);
	run(0, warm);
	rss_warm = rss_kib();
	run(warm, threads);
	rss_end = rss_kib();
	printf("churn: %u threads, %lu failed, highest handle %d, RSS %ld KiB after %u threads, %ld KiB after all "
	       "(growth %ld KiB, bound %ld KiB)\n", threads, g_failures, g_max_handle, rss_warm, warm, rss_end,
	       rss_end - rss_warm, max_growth);
	CHECK(g_failures == 0);
	/* The churn map plus at most WAVE live worker maps, whatever the thread count. */
	CHECK(g_max_handle <= g_fd + WAVE + 1);
	CHECK(rss_warm > 0 && rss_end > 0);
	CHECK(rss_end - rss_warm <= max_growth);

	/* Everything still works: every worker deleted its key, and the map takes new ones. */
	CHECK_RET(fm_map_get_next_key(g_fd, NULL, &next), -ENOENT);
	CHECK_RET(fm_map_update_elem(g_fd, &k, &v, FM_NOEXIST), 0);
	fm_read_lock();
	CHECK(fm_map_lookup_elem_ptr(g_fd, &k) != NULL);
	fm_read_unlock();
	fd2 = fm_map_create(FM_MAP_TYPE_HASH, NULL, 4, 16, 4, NULL);
	CHECK(fd2 >= 0);

	/* Threads that exit inside a section hold back reuse until their slots are reclaimed, but
	 * must never block anyone: delete/insert cycles on a full map keep succeeding. */
	for (k = 0; k < WAVE; k++) {
		pthread_t t;

		CHECK_RET(pthread_create(&t, NULL, exit_inside_section, (void *)(uintptr_t)k), 0);
		CHECK_RET(pthread_join(t, NULL), 0);
	}
	for (k = 0; k < 4; k++)
		CHECK_RET(fm_map_update_elem(fd2, &k, &v, FM_NOEXIST), 0);
	for (k = 0; k < threads; k++) {
		uint32_t slot = k % 4;

		CHECK_RET(fm_map_delete_elem(fd2, &slot), 0);
		CHECK_RET(fm_map_update_elem(fd2, &slot, &v, FM_NOEXIST), 0);
	}
	CHECK_RET(fm_map_close(fd2), 0);
	CHECK_RET(fm_map_close(g_fd), 0);
	return 0;
}

CHECK_SITES_FIT();
