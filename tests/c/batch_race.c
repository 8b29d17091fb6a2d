/* A batch GC pass against a concurrent refresher. One thread keeps refreshing the hot keys (a new
 * revision each time, written with fm_map_update_elem); the main thread runs GC passes: a
 * fm_map_lookup_batch() scan that snapshots every revision, then one fm_map_delete_batch_cmp() of
 * every key against its snapshot. The property: no key whose refresh completed after its snapshot
 * and before the delete call began is deleted; such a key's result must be -EBUSY.
 *
 * How it is checked (as in stress.c). Revisions come from one atomic counter, and one thread
 * refreshes, so a key's revision only grows. After an update returns, the refresher publishes its
 * revision as confirmed for the key (seq_cst). Right before the delete call the collector reads
 * every confirmed revision c; a key deleted with snapshot s although c > s was refreshed after the
 * snapshot and before the call: a violation. A refresh that lands while the call runs is
 * concurrent with it, and either order is correct, so it is not counted.
 *
 * What else is deterministic here: the cold keys (three in four) are never refreshed, so their
 * result is always 0, and the collector re-inserts them with fm_map_update_batch() each pass; every
 * key is present for the whole scan (the refresher only replaces values, and it re-creates a hot
 * key the collector deleted before the next scan starts), so the scan returns each key exactly
 * once; and the collector waits for half a sweep of refreshes between scan and delete, so some hot
 * keys are confirmed newer than their snapshot every pass and -EBUSY is always seen.
 *
 * Sizes come from argv: batch_race [passes] [keys]. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <fastmap.h>

#include "check.h"

#define HOT(k) (((k) & 3) == 0)
#define ROOM   16 /* entries per lookup_batch call: few, so a scan takes many calls */

struct val {
	uint64_t revision;
	uint64_t payload;
};

static int g_fd;
static uint32_t g_keys;
static uint64_t g_next_rev = 1;
static int g_stop;
static uint64_t *g_confirmed;     /* [key]: the newest revision whose update has returned */
static unsigned long g_refreshes; /* updates returned, for the collector's waits */
static unsigned long g_sweeps;    /* full passes over the hot keys */

static uint64_t next_rev(void)
{
	return __atomic_add_fetch(&g_next_rev, 1, __ATOMIC_RELAXED);
}

static void *refresher(void *arg)
{
	uint32_t k = 0;

	(void)arg;
	while (!__atomic_load_n(&g_stop, __ATOMIC_ACQUIRE)) {
		struct val v = { next_rev(), k };

		/* FM_ANY: a replacement, or the re-creation of a key the collector deleted. */
		CHECK_RET(fm_map_update_elem(g_fd, &k, &v, FM_ANY), 0);
		/* Sequentially consistent: a collector that reads this finds the update complete. */
		__atomic_store_n(&g_confirmed[k], v.revision, __ATOMIC_SEQ_CST);
		__atomic_add_fetch(&g_refreshes, 1, __ATOMIC_SEQ_CST);
		k += 4;
		if (k >= g_keys) {
			k = 0;
			__atomic_add_fetch(&g_sweeps, 1, __ATOMIC_SEQ_CST);
		}
	}
	return NULL;
}

static void wait_until(unsigned long *counter, unsigned long target)
{
	while (__atomic_load_n(counter, __ATOMIC_SEQ_CST) < target)
		sched_yield();
}

/* The scan: every key exactly once, its revision into snap[key]. keys and vals hold g_keys
 * entries; a call asks for ROOM, or more after -ENOSPC (a bucket larger than the room). */
static void snapshot(uint64_t *snap, uint8_t *seen, uint32_t *keys, struct val *vals)
{
	uint32_t room = ROOM, cur = 0, next = 0, count, i;
	int ret, calls;

	memset(seen, 0, g_keys);
	for (calls = 0, ret = 0; ret != -ENOENT; calls++) {
		CHECK(calls < 1000000);
		count = room;
		ret = fm_map_lookup_batch(g_fd, calls ? &cur : NULL, &next, keys, vals, &count, 0);
		CHECK(ret == 0 || ret == -ENOENT || ret == -ENOSPC);
		if (ret == -ENOSPC) {
			CHECK(count == 0 && room * 2 <= g_keys);
			room *= 2;
		}
		for (i = 0; i < count; i++) {
			CHECK(keys[i] < g_keys && seen[keys[i]] == 0);
			CHECK(vals[i].payload == keys[i]);
			seen[keys[i]] = 1;
			snap[keys[i]] = vals[i].revision;
		}
		cur = next;
	}
	for (i = 0; i < g_keys; i++)
		CHECK(seen[i] == 1);
}

int main(int argc, char **argv)
{
	uint32_t passes, pass, k, n, cold;
	uint32_t *keys, *cold_keys, *scan_keys;
	uint64_t *snap, *confirmed;
	struct val *cold_vals, *scan_vals;
	int32_t *results;
	uint8_t *seen;
	pthread_t t;
	unsigned long deleted = 0, busy = 0, absent = 0, confirmed_busy = 0, violations = 0;

	passes = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 0) : 100;
	g_keys = argc > 2 ? (uint32_t)strtoul(argv[2], NULL, 0) : 1024;
	CHECK(g_keys >= 16 && g_keys % 4 == 0);
	g_confirmed = calloc(g_keys, sizeof(uint64_t));
	confirmed = calloc(g_keys, sizeof(uint64_t));
	snap = calloc(g_keys, sizeof(uint64_t));
	keys = calloc(g_keys, sizeof(uint32_t));
	cold_keys = calloc(g_keys, sizeof(uint32_t));
	cold_vals = calloc(g_keys, sizeof(struct val));
	results = calloc(g_keys, sizeof(int32_t));
	seen = calloc(g_keys, 1);
	scan_keys = calloc(g_keys, sizeof(uint32_t));
	scan_vals = calloc(g_keys, sizeof(struct val));
	CHECK(g_confirmed && confirmed && snap && keys && cold_keys && cold_vals && results && seen);
	CHECK(scan_keys && scan_vals);

	g_fd = fm_map_create(FM_MAP_TYPE_HASH, "batch_race", sizeof(uint32_t), sizeof(struct val),
			     g_keys, NULL);
	CHECK(g_fd >= 0);
	for (k = 0, cold = 0; k < g_keys; k++) {
		keys[k] = k;
		if (!HOT(k))
			cold_keys[cold++] = k;
	}
	CHECK_RET(pthread_create(&t, NULL, refresher, NULL), 0);

	for (pass = 0; pass < passes; pass++) {
		unsigned long since;

		/* Re-create the cold keys (all deleted by the previous pass), then let the refresher
		 * re-create the hot keys it lost: one full sweep started after the delete. */
		for (k = 0; k < cold; k++) {
			cold_vals[k].revision = next_rev();
			cold_vals[k].payload = cold_keys[k];
		}
		n = cold;
		CHECK_RET(fm_map_update_batch(g_fd, cold_keys, cold_vals, &n, 0), 0);
		CHECK(n == cold);
		since = __atomic_load_n(&g_sweeps, __ATOMIC_SEQ_CST);
		wait_until(&g_sweeps, since + 2);

		snapshot(snap, seen, scan_keys, scan_vals);
		/* Half a sweep of refreshes completes after the scan: those keys must come back -EBUSY. */
		since = __atomic_load_n(&g_refreshes, __ATOMIC_SEQ_CST);
		wait_until(&g_refreshes, since + g_keys / 8);
		for (k = 0; k < g_keys; k++)
			confirmed[k] = __atomic_load_n(&g_confirmed[k], __ATOMIC_SEQ_CST);

		n = g_keys;
		CHECK_RET(fm_map_delete_batch_cmp(g_fd, keys, snap, offsetof(struct val, revision),
						  sizeof(uint64_t), results, &n), 0);
		CHECK(n == g_keys);
		for (k = 0; k < g_keys; k++) {
			int32_t r = results[k];

			CHECK(r == 0 || r == -EBUSY || r == -ENOENT);
			deleted += r == 0;
			busy += r == -EBUSY;
			absent += r == -ENOENT;
			if (!HOT(k))
				CHECK(r == 0); /* never refreshed: idle */
			if (confirmed[k] > snap[k]) {
				confirmed_busy += r == -EBUSY;
				if (r != -EBUSY && violations++ < 10)
					fprintf(stderr, "pass %u key %u: result %d with snapshot %llu, "
						"although revision %llu was confirmed before the call\n",
						pass, k, r, (unsigned long long)snap[k],
						(unsigned long long)confirmed[k]);
			}
		}
	}
	__atomic_store_n(&g_stop, 1, __ATOMIC_RELEASE);
	CHECK_RET(pthread_join(t, NULL), 0);

	printf("batch_race: %u passes, %lu deleted, %lu -EBUSY (%lu confirmed before the call), "
	       "%lu -ENOENT, %lu violations\n", passes, deleted, busy, confirmed_busy, absent, violations);
	CHECK(violations == 0);
	CHECK(absent == 0);                             /* only the collector deletes */
	CHECK(deleted >= (unsigned long)passes * cold); /* every cold key, every pass */
	CHECK(confirmed_busy >= (unsigned long)passes); /* the wait above makes some every pass */
	CHECK_RET(fm_map_close(g_fd), 0);
	free(g_confirmed);
	free(confirmed);
	free(snap);
	free(keys);
	free(cold_keys);
	free(cold_vals);
	free(results);
	free(seen);
	free(scan_keys);
	free(scan_vals);
	return 0;
}

CHECK_SITES_FIT();
