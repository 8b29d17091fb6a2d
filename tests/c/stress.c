/* Datapath threads refresh revisions in place through fm_map_lookup_elem_ptr() inside read
 * sections while a collector compare-and-deletes with snapshotted revisions. The property: a
 * collector delete never succeeds for an entry whose refresh was confirmed before the delete was
 * called (such a delete must give -EBUSY), i.e. no live entry is ever deleted.
 *
 * How it is checked. Each key has one datapath writer (key % DATAPATHS), so its revision only
 * grows. Every entry carries its generation in payload (the collector re-inserts a deleted key with
 * the next generation). A writer stores a fresh revision r and, still inside its section, looks the
 * key up again: if it finds the same element, that element was live *after* the store, and it
 * publishes r as confirmed for (key, generation). Right before each compare-and-delete the
 * collector reads the confirmed revision c; a delete that succeeds with snapshot s although c > s
 * deleted an entry known to be live when the call began: a violation.
 *
 * Why "before the call": a store that lands while the delete runs, between its compare and its
 * unlink, is not excluded by any lock (the RFC's atomicity boundary: in-place writers take no
 * bucket lock, in the kernel or here). Such a refresh is concurrent with the delete, and either
 * order is a correct answer; an earlier version of this test counted those and failed whenever
 * the collector was preempted inside that window.
 *
 * Sizes come from argv so CI and a longer local run share the code: stress [rounds] [keys]. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <fastmap.h>

#include "check.h"

#define DATAPATHS 2

struct val {
	uint64_t revision;
	uint64_t payload; /* generation */
};

static int g_fd;
static uint32_t g_keys;
static uint32_t g_rounds;
static uint64_t g_next_rev = 1;       /* unique revisions, atomically incremented */
static int g_stop;
static uint64_t *g_confirmed;         /* [key][gen]: largest revision confirmed live */
static unsigned long g_refresh[DATAPATHS];

static uint64_t next_rev(void)
{
	return __atomic_add_fetch(&g_next_rev, 1, __ATOMIC_RELAXED);
}

static size_t slot(uint32_t k, uint64_t gen)
{
	return (size_t)k * (g_rounds + 1) + (size_t)gen;
}

static void *datapath(void *arg)
{
	const uint32_t me = (uint32_t)(uintptr_t)arg;
	uint32_t k = me;

	while (!__atomic_load_n(&g_stop, __ATOMIC_ACQUIRE)) {
		struct val *p, *q;

		fm_read_lock();
		p = fm_map_lookup_elem_ptr(g_fd, &k);
		if (p != NULL) {
			uint64_t gen = __atomic_load_n(&p->payload, __ATOMIC_RELAXED);
			uint64_t r = next_rev();

			/* The refresh: one aligned 8-byte store, as a datapath would do it. */
			__atomic_store_n(&p->revision, r, __ATOMIC_SEQ_CST);
			q = fm_map_lookup_elem_ptr(g_fd, &k);
			if (q == p && gen <= g_rounds) {
				uint64_t *c = &g_confirmed[slot(k, gen)];

				if (__atomic_load_n(c, __ATOMIC_RELAXED) < r) /* one writer per key */
					__atomic_store_n(c, r, __ATOMIC_SEQ_CST);
			}
			g_refresh[me]++;
		}
		fm_read_unlock();
		k += DATAPATHS;
		if (k >= g_keys)
			k = me;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t dp[DATAPATHS];
	unsigned long deleted = 0, busy = 0, violations = 0, refreshes = 0;
	uint32_t k, round, i;

	g_rounds = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 0) : 200;
	g_keys = argc > 2 ? (uint32_t)strtoul(argv[2], NULL, 0) : 256;
	g_confirmed = calloc((size_t)g_keys * (g_rounds + 1), sizeof(uint64_t));
	CHECK(g_confirmed != NULL);

	g_fd = fm_map_create(FM_MAP_TYPE_HASH, "stress", sizeof(uint32_t), sizeof(struct val), g_keys, NULL);
	CHECK(g_fd >= 0);
	for (k = 0; k < g_keys; k++) {
		struct val v = { next_rev(), 0 };

		CHECK_RET(fm_map_update_elem(g_fd, &k, &v, FM_NOEXIST), 0);
	}
	for (i = 0; i < DATAPATHS; i++)
		CHECK_RET(pthread_create(&dp[i], NULL, datapath, (void *)(uintptr_t)i), 0);

	for (round = 0; round < g_rounds; round++) {
		for (k = 0; k < g_keys; k++) {
			struct val snap;
			int ret;

			uint64_t confirmed;

			CHECK_RET(fm_map_lookup_elem(g_fd, &k, &snap), 0);
			if ((k & 3) == 0)
				sched_yield(); /* widen the snapshot-to-delete window */
			/* Sequentially consistent: every confirmation published before this load
			 * finished its store and re-lookup before the delete below begins. */
			confirmed = snap.payload <= g_rounds
				? __atomic_load_n(&g_confirmed[slot(k, snap.payload)], __ATOMIC_SEQ_CST) : 0;
			ret = fm_map_delete_elem_cmp(g_fd, &k, &snap.revision, 0, sizeof(snap.revision));
			if (ret == 0) {
				struct val v = { next_rev(), snap.payload + 1 };

				deleted++;
				if (confirmed > snap.revision && violations++ < 10)
					fprintf(stderr, "key %u gen %llu: deleted with revision %llu after "
						"revision %llu was confirmed live\n", k,
						(unsigned long long)snap.payload,
						(unsigned long long)snap.revision,
						(unsigned long long)confirmed);
				CHECK_RET(fm_map_update_elem(g_fd, &k, &v, FM_NOEXIST), 0);
			} else {
				CHECK_RET(ret, -EBUSY);
				busy++;
			}
		}
	}
	__atomic_store_n(&g_stop, 1, __ATOMIC_RELEASE);
	for (i = 0; i < DATAPATHS; i++) {
		CHECK_RET(pthread_join(dp[i], NULL), 0);
		refreshes += g_refresh[i];
	}

	printf("stress: %lu deletes, %lu -EBUSY, %lu refreshes, %lu violations\n", deleted, busy,
	       refreshes, violations);
	CHECK(violations == 0);
	CHECK(deleted > 0);
	CHECK(busy > 0);
	CHECK(refreshes > 0);
	CHECK_RET(fm_map_close(g_fd), 0);
	free(g_confirmed);
	return 0;
}

CHECK_SITES_FIT();
