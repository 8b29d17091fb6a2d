/* A conntrack-style table on FastMap: datapath threads look flows up inside a read-side section
 * and refresh the entry's last-seen revision in place (one aligned 8-byte store, as a BPF
 * program would), while a garbage collector removes idle flows with compare-and-delete.
 *
 * Why compare-and-delete: the GC decides a flow is stale from a snapshot. If a packet refreshes
 * the flow between the snapshot and the delete, a plain delete would drop a live connection. With
 * fm_map_delete_elem_cmp() on the revision, such a delete fails with -EBUSY and the flow stays.
 * Passes alternate between the per-flow GC and the batch GC (fm_map_lookup_batch() snapshots,
 * one fm_map_delete_batch_cmp() deletes), which decide the same way with far fewer calls.
 *
 * Build: cc -pthread conntrack_gc.c $(pkg-config --cflags --libs fastmap)
 * Run:   ./conntrack_gc   (exits 0 when every flow the datapath kept alive survived the GC) */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <fastmap.h>

#define FLOWS      512
#define HOT_FLOWS  64   /* flows 0..63 keep receiving packets */
#define GC_PASSES  50
#define WORKERS    2
#define GC_ROOM    64   /* flows a fm_map_lookup_batch() call copies at most */

struct ct_key {                /* a 5-tuple, padded to 16 bytes */
	uint32_t saddr, daddr;
	uint16_t sport, dport;
	uint8_t  proto, pad[3];
};

struct ct_entry {
	uint64_t last_seen;    /* "time" of the last packet: the compared revision */
	uint64_t packets;      /* statistics, not compared */
	uint32_t state;
	uint32_t pad;
};

static int ct;
static uint64_t clock_now = 1; /* a logical clock: one tick per GC pass */
static int stop;
static unsigned long sweeps[WORKERS]; /* full passes over a worker's hot flows */

static struct ct_key flow_key(uint32_t i)
{
	struct ct_key k;

	memset(&k, 0, sizeof(k));
	k.saddr = 0x0a000001u + i;
	k.daddr = 0x0a0000feu;
	k.sport = (uint16_t)(10000 + i);
	k.dport = 443;
	k.proto = 6;
	return k;
}

/* Datapath: per packet, find the flow and stamp it, without taking any map lock. */
static void *datapath(void *arg)
{
	uint32_t i = (uint32_t)(uintptr_t)arg;

	while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
		struct ct_key k = flow_key(i);
		struct ct_entry *e;

		fm_read_lock();
		e = fm_map_lookup_elem_ptr(ct, &k);
		if (e != NULL) {
			__atomic_store_n(&e->last_seen, __atomic_load_n(&clock_now, __ATOMIC_ACQUIRE),
					 __ATOMIC_RELEASE);
			__atomic_add_fetch(&e->packets, 1, __ATOMIC_RELAXED);
		}
		fm_read_unlock();
		i += WORKERS;
		if (i >= HOT_FLOWS) {
			i = (uint32_t)(uintptr_t)arg;
			__atomic_add_fetch(&sweeps[i], 1, __ATOMIC_RELEASE);
		}
	}
	return NULL;
}

/* GC: walk the table; a flow idle for more than `timeout` ticks is deleted only if it is still
 * the snapshot the GC judged (same last_seen). Returns how many flows it removed. */
static int gc_pass(uint64_t now, uint64_t timeout, int *raced)
{
	struct ct_key cur, next;
	struct ct_key *prev = NULL;
	int removed = 0;

	while (fm_map_get_next_key(ct, prev, &next) == 0) {
		struct ct_entry snap;

		cur = next;
		prev = &cur;
		if (fm_map_lookup_elem(ct, &cur, &snap) != 0)
			continue;
		if (now - snap.last_seen <= timeout)
			continue;
		switch (fm_map_delete_elem_cmp(ct, &cur, &snap.last_seen,
					       offsetof(struct ct_entry, last_seen),
					       sizeof(snap.last_seen))) {
		case 0:
			removed++;
			break;
		case -EBUSY: /* a packet arrived after the snapshot: the flow lives on */
		case -ENOENT:
			(*raced)++;
			break;
		default:
			perror("fm_map_delete_elem_cmp");
			return -1;
		}
	}
	return removed;
}

/* The same pass in batches: snapshot the table GC_ROOM flows a call, then hand every idle flow to
 * one fm_map_delete_batch_cmp() with the last_seen it was judged on. Per-flow outcomes come back
 * in results[]; the batch does not stop at a flow that was refreshed or is gone. */
static int gc_pass_batch(uint64_t now, uint64_t timeout, int *raced)
{
	static struct ct_key keys[FLOWS], idle[FLOWS];
	static struct ct_entry snap[FLOWS];
	static uint64_t idle_seen[FLOWS];
	static int32_t results[FLOWS];
	struct ct_key cursor, next; /* the cursor is 4 bytes; key-sized buffers are portable to bpf(2) */
	uint32_t room = GC_ROOM, count, n_idle = 0, i;
	void *in = NULL;
	int ret, removed = 0;

	do {
		count = room;
		ret = fm_map_lookup_batch(ct, in, &next, keys, snap, &count, 0);
		if (ret == -ENOSPC) { /* one bucket holds more than room flows: ask for more */
			room = room * 2 < FLOWS ? room * 2 : FLOWS;
			continue;
		}
		if (ret != 0 && ret != -ENOENT) {
			perror("fm_map_lookup_batch");
			return -1;
		}
		for (i = 0; i < count && n_idle < FLOWS; i++) {
			if (now - snap[i].last_seen > timeout) {
				idle[n_idle] = keys[i];
				idle_seen[n_idle++] = snap[i].last_seen;
			}
		}
		cursor = next;
		in = &cursor;
	} while (ret != -ENOENT); /* the last call's flows arrive with -ENOENT */

	count = n_idle;
	if (fm_map_delete_batch_cmp(ct, idle, idle_seen, offsetof(struct ct_entry, last_seen),
				    sizeof(uint64_t), results, &count) != 0) {
		perror("fm_map_delete_batch_cmp");
		return -1;
	}
	for (i = 0; i < count; i++) {
		if (results[i] == 0)
			removed++;
		else            /* -EBUSY: refreshed after the snapshot; -ENOENT: already gone */
			(*raced)++;
	}
	return removed;
}

static void wait_for_sweeps(void)
{
	unsigned long start[WORKERS];
	int w;

	for (w = 0; w < WORKERS; w++)
		start[w] = __atomic_load_n(&sweeps[w], __ATOMIC_ACQUIRE);
	for (w = 0; w < WORKERS; w++)
		while (__atomic_load_n(&sweeps[w], __ATOMIC_ACQUIRE) < start[w] + 2)
			sched_yield();
}

int main(void)
{
	pthread_t w[WORKERS];
	int removed = 0, raced = 0, n, i, alive = 0, rc = 0;

	ct = fm_map_create(FM_MAP_TYPE_HASH, "conntrack", sizeof(struct ct_key),
			   sizeof(struct ct_entry), FLOWS, NULL);
	if (ct < 0) {
		fprintf(stderr, "fm_map_create: %s\n", strerror(-ct));
		return 1;
	}
	for (i = 0; i < FLOWS; i++) {
		struct ct_key k = flow_key((uint32_t)i);
		struct ct_entry e = { .last_seen = 1, .state = 1 };

		if (fm_map_update_elem(ct, &k, &e, FM_NOEXIST) != 0) {
			perror("fm_map_update_elem");
			return 1;
		}
	}
	for (i = 0; i < WORKERS; i++)
		pthread_create(&w[i], NULL, datapath, (void *)(uintptr_t)i);

	for (i = 0; i < GC_PASSES; i++) {
		uint64_t now = __atomic_add_fetch(&clock_now, 1, __ATOMIC_ACQ_REL);

		/* Let the traffic catch up with the clock: two full sweeps by every worker mean
		 * each hot flow was stamped after the tick (a real GC runs every few seconds,
		 * so hot flows are always fresh; this keeps the example deterministic). */
		wait_for_sweeps();

		n = i & 1 ? gc_pass_batch(now, 2, &raced) : gc_pass(now, 2, &raced);
		if (n < 0)
			return 1;
		removed += n;
	}
	__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
	for (i = 0; i < WORKERS; i++)
		pthread_join(w[i], NULL);

	/* Idle flows are gone; every hot flow survived. */
	for (i = 0; i < FLOWS; i++) {
		struct ct_key k = flow_key((uint32_t)i);
		struct ct_entry e;
		int present = fm_map_lookup_elem(ct, &k, &e) == 0;

		alive += present;
		if (i < HOT_FLOWS && !present) {
			fprintf(stderr, "hot flow %d was deleted while in use\n", i);
			rc = 1;
		}
	}
	printf("conntrack_gc: %d idle flows removed, %d deletes lost the race (-EBUSY/-ENOENT), "
	       "%d flows alive\n", removed, raced, alive);
	if (removed != FLOWS - HOT_FLOWS)
		rc = 1;
	fm_map_close(ct);
	return rc;
}
