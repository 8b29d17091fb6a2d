/* Shared maps (FM_F_SHARED): processes killed at any instruction, and the map stays usable and consistent.
 *
 * The parent creates a shared hash map (key 16 bytes, value 32 bytes, MAX_ENTRIES 64, keys 0..47 used) and
 * pins it in a fresh directory under $FASTMAP_SHM_DIR or /dev/shm. Then, for N rounds (argv[1], default 300):
 *  - it forks and execs itself as a child ("child" <pin> <seed> <revbase>; exec, because the NativeAOT runtime
 *    the parent already started does not survive fork), with FASTMAP_TEST_PARK=<point>:<nth> in the child's
 *    environment (a random point of {1,2,3,4,5,6,7,9}, nth in 1..30, 1..3 for point 6), or in a quarter of
 *    the rounds no park;
 *  - a third of the rounds, and every point-6 round, are prefilled: the parent adds prefill keys (ids from
 *    PREFILL_BASE, in its model too) until the map holds MAX_ENTRIES - 0..4, so the child's inserts meet -E2BIG
 *    and full windows and take overflow records (point 6, the overflow pool's lock, is reached only then); the
 *    parent deletes them again after its own operations;
 *  - the child opens the pin with fm_obj_get() and runs random operations on keys 0..47 (update
 *    any/noexist/exist, delete, compare-and-delete and compare-and-swap on bytes [0, 8) = the revision,
 *    lookups, a read section with fm_map_lookup_elem_ptr()), and in a quarter of them batch commands:
 *    fm_map_update_batch, fm_map_delete_batch, fm_map_delete_batch_cmp, fm_map_update_batch_cmp (1..6 distinct
 *    keys; per-key results checked), a whole scan with fm_map_lookup_batch (count and digest of (key, revision)
 *    checked), and one fm_map_lookup_and_delete_batch call from a random cursor (whose entries a
 *    fm_map_lookup_batch from the same cursor announced just before; prefill keys too). On its stdout (a pipe) it
 *    writes "B ..." before each operation and "R <ret> ..." after it, so the parent knows every completed
 *    operation and at most one in flight, and checks each result against its model of the map as it reads it;
 *  - the parent kills the child (SIGKILL) when it reads "parked <point>", or, with no park, 0-3 ms after the
 *    child's first operation (an arbitrary instruction), reaps it, and checks the map against its model:
 *    every key present/absent with its revision (the in-flight operation may show done or not done: a single
 *    one on its key; an update or delete batch, or the lookup-and-delete batch, any prefix of its keys; a compare
 *    batch any subset; nothing else on any key), every value whole (bytes 8..31 are a pattern of the key and
 *    the revision, so a value cut in half shows), the iteration yields exactly the model's keys; then it runs
 *    its own random operations (single and batch, checked against the model) and, in a quarter of the rounds,
 *    fills the map with fresh keys until -E2BIG
 *    (present + added == MAX_ENTRIES: no capacity lost nor invented) and deletes them again.
 * At the end: the same count and fill, and compare-and-delete still answers 0 / -EBUSY / -ENOENT. A hang
 * anywhere fails: a per-round alarm() (ROUND_ALARM s) prints the round, its phase and the park point.
 * Summary: rounds, kills by point, parks seen, in-flight operations found done / not done (batches among them,
 * and those found partly done), operations, prefilled rounds, final counts.
 * Usage: kill_storm [rounds [seed]]. Environment: KILL_STORM_POINTS="1,7" parks only at those points;
 * KILL_STORM_VERBOSE=1 prints each round's point and in-flight operation to stderr; KILL_STORM_NO_FILLS=1 leaves
 * out the fills during the rounds (the final one stays); KILL_STORM_NO_CHILD=1 runs no children (a control);
 * KILL_STORM_NO_PREFILL=1 prefills no round (point 6 then is never reached). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <fastmap.h>

#include "check.h"

#define MAX_ENTRIES 64
#define NKEYS 48
#define NALL (NKEYS + MAX_ENTRIES) /* model indexes: the child's keys 0..NKEYS-1, then the prefill keys */
#define PREFILL_BASE 500000u       /* id of prefill key i (model index NKEYS + i) */
#define FRESH_BASE 1000000u
#define BMAX 6               /* keys in a batch */
#define ROUND_ALARM 30       /* seconds a round may take before it counts as a hang */
#define PARK_WAIT_MS 10000   /* how long the parent waits for "parked" */
#define PARENT_OPS 24        /* the parent's own operations per round */
#define CHILD_MAX_OPS 500000 /* a child that never parks stops here */
#define LINE_MAX_LEN 1024

struct key {
	uint64_t id;
	uint64_t tag;
};

struct val {
	uint64_t rev; /* the compare window: [0, 8) */
	uint64_t pat[3];
};

/* One operation. Single ones (n 1): U update, D delete, C compare-and-delete, S compare-and-swap, L lookup,
 * P read section. Batches: b update batch, d delete batch, c delete batch cmp, s update batch cmp (n distinct
 * keys), l a full scan with fm_map_lookup_batch() (n 0), x one fm_map_lookup_and_delete_batch() call from a
 * random cursor (its n keys, with their revisions in xrev[], are what a fm_map_lookup_batch() from the same
 * cursor returned just before). */
struct op {
	char kind;
	unsigned n;
	unsigned key[BMAX];     /* model indexes */
	unsigned flags;         /* U: FM_ANY, FM_NOEXIST, FM_EXIST */
	uint64_t newrev;        /* key i gets newrev + i */
	uint64_t cmprev[BMAX];
	uint64_t xrev[BMAX];
	uint32_t cursor;        /* x */
};

struct ent {
	int present;
	uint64_t rev;
};

extern char **environ;

/* ---- values ------------------------------------------------------------------------------------- */

static uint64_t id_of(unsigned idx) { return idx < NKEYS ? idx : PREFILL_BASE + (idx - NKEYS); }

/* The model index of a key id, or -1 for a key no model holds. */
static int idx_of(uint64_t id)
{
	if (id < NKEYS)
		return (int)id;
	if (id >= PREFILL_BASE && id < PREFILL_BASE + MAX_ENTRIES)
		return (int)(id - PREFILL_BASE) + NKEYS;
	return -1;
}

static void make_key(struct key *k, uint64_t id)
{
	k->id = id;
	k->tag = id * 0x9E3779B97F4A7C15ull ^ 0x5eedf00d;
}

static uint64_t pattern(uint64_t id, uint64_t rev, int i)
{
	return (id << 40) ^ (rev * 0xD6E8FEB86659FD93ull) ^ ((uint64_t)(i + 1) * 0x0101010101010101ull);
}

static void make_val(struct val *v, uint64_t id, uint64_t rev)
{
	int i;

	v->rev = rev;
	for (i = 0; i < 3; i++)
		v->pat[i] = pattern(id, rev, i);
}

static int val_whole(const struct val *v, uint64_t id)
{
	int i;

	for (i = 0; i < 3; i++)
		if (v->pat[i] != pattern(id, v->rev, i))
			return 0;
	return 1;
}

/* An order-free digest of (key, revision) pairs, for a scan's result. */
static uint64_t mix(uint64_t id, uint64_t rev)
{
	uint64_t x = id * 0x9E3779B97F4A7C15ull ^ rev * 0xC2B2AE3D27D4EB4Full;

	x ^= x >> 31;
	x *= 0xBF58476D1CE4E5B9ull;
	return x ^ (x >> 29);
}

/* ---- one operation, as the child and the parent run it ------------------------------------------ */

static uint64_t rng_state;

static uint64_t rnd(void)
{
	uint64_t x = rng_state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

static unsigned rndn(unsigned n) { return (unsigned)(rnd() % n); }

static int is_batch(char kind) { return strchr("bdcslx", kind) != NULL; }

/* Picks an operation. known[] is what the caller last saw of each key (rev, or 0 if absent / unknown). With
 * batches, a quarter are batch commands. 'x' gets its keys from the caller (child_main). */
static void pick_op(struct op *o, const uint64_t *known, uint64_t *nextrev, int batches)
{
	unsigned r = rndn(100), i, j;

	memset(o, 0, sizeof(*o));
	o->n = 1;
	o->key[0] = rndn(NKEYS);
	o->newrev = (*nextrev)++;
	/* mostly the revision last seen, so that compares succeed often; sometimes one that is not */
	o->cmprev[0] = rndn(4) ? known[o->key[0]] : known[o->key[0]] + 1;
	if (batches && rndn(4) == 0) {
		static const char kinds[] = "bbddccsslx";
		o->kind = kinds[rndn(sizeof(kinds) - 1)];
		if (o->kind == 'l' || o->kind == 'x') {
			o->n = 0;
			o->cursor = rndn(64);
			return;
		}
		o->n = 1 + rndn(BMAX);
		for (i = 1; i < o->n; i++) {
			do {
				o->key[i] = rndn(NKEYS);
				for (j = 0; j < i && o->key[j] != o->key[i]; j++)
					;
			} while (j < i); /* distinct keys */
			o->cmprev[i] = rndn(4) ? known[o->key[i]] : known[o->key[i]] + 1;
		}
		*nextrev += o->n - 1;
		return;
	}
	if (r < 20) {
		o->kind = 'U';
		o->flags = FM_ANY;
	} else if (r < 32) {
		o->kind = 'U';
		o->flags = FM_NOEXIST;
	} else if (r < 44) {
		o->kind = 'U';
		o->flags = FM_EXIST;
	} else if (r < 54) {
		o->kind = 'D';
	} else if (r < 66) {
		o->kind = 'C';
	} else if (r < 80) {
		o->kind = 'S';
	} else if (r < 90) {
		o->kind = 'L';
	} else {
		o->kind = 'P';
	}
}

/* Runs o on the map. Returns the call's result; aux[] gets what else the parent checks (singles: the revision
 * a lookup saw; b, d: count; c, s: count and the per-key results; l: keys found and their digest; x: count),
 * *naux how many. *whole is 0 if a value read was not whole. */
static int run_op(int fd, const struct op *o, uint64_t *aux, int *naux, int *whole)
{
	struct key k, ks[BMAX];
	struct val v, got, vs[BMAX];
	uint64_t cmps[BMAX];
	int32_t res[BMAX];
	uint32_t count = o->n, i;
	void *p;
	int ret;

	make_key(&k, id_of(o->key[0]));
	aux[0] = 0;
	*naux = 1;
	*whole = 1;
	for (i = 0; i < o->n; i++) {
		make_key(&ks[i], id_of(o->key[i]));
		make_val(&vs[i], id_of(o->key[i]), o->newrev + i);
		cmps[i] = o->cmprev[i];
	}
	switch (o->kind) {
	case 'U':
		make_val(&v, o->key[0], o->newrev);
		return fm_map_update_elem(fd, &k, &v, o->flags);
	case 'D':
		return fm_map_delete_elem(fd, &k);
	case 'C':
		return fm_map_delete_elem_cmp(fd, &k, &o->cmprev[0], 0, 8);
	case 'S':
		make_val(&v, o->key[0], o->newrev);
		return fm_map_update_elem_cmp(fd, &k, &v, &o->cmprev[0], 0, 8, FM_EXIST);
	case 'L':
		ret = fm_map_lookup_elem(fd, &k, &got);
		if (ret == 0) {
			aux[0] = got.rev;
			*whole = val_whole(&got, o->key[0]);
		}
		return ret;
	case 'P':
		fm_read_lock();
		p = fm_map_lookup_elem_ptr(fd, &k);
		if (p != NULL) {
			memcpy(&got, p, sizeof(got));
			ret = 0;
		} else {
			ret = -errno;
		}
		fm_read_unlock();
		if (ret == 0) {
			aux[0] = got.rev;
			*whole = val_whole(&got, o->key[0]);
		}
		return ret;
	case 'b':
		ret = fm_map_update_batch(fd, ks, vs, &count, 0);
		aux[0] = count;
		return ret;
	case 'd':
		ret = fm_map_delete_batch(fd, ks, &count, 0);
		aux[0] = count;
		return ret;
	case 'c':
	case 's':
		for (i = 0; i < BMAX; i++)
			res[i] = 12345;
		ret = o->kind == 'c' ? fm_map_delete_batch_cmp(fd, ks, cmps, 0, 8, res, &count)
				     : fm_map_update_batch_cmp(fd, ks, vs, cmps, 0, 8, res, &count);
		aux[0] = count;
		for (i = 0; i < o->n; i++)
			aux[1 + i] = (uint64_t)(int64_t)res[i];
		*naux = 1 + (int)o->n;
		return ret;
	case 'l': {
		/* a whole scan, 8 entries a call (more for a bucket that needs it) */
		struct key bk[64];
		struct val bv[64];
		uint32_t in = 0, outc = 0, room = 8, j, calls = 0;
		uint64_t found = 0, digest = 0;

		for (;;) {
			count = room;
			ret = fm_map_lookup_batch(fd, calls == 0 ? NULL : &in, &outc, bk, bv, &count, 0);
			calls++;
			for (j = 0; j < count; j++) {
				if (!val_whole(&bv[j], bk[j].id))
					*whole = 0;
				found++;
				digest += mix(bk[j].id, bv[j].rev);
			}
			if (ret == -ENOENT) {
				ret = 0;
				break;
			}
			if (ret == -ENOSPC && room < 64) {
				room *= 2;
				in = outc;
				continue;
			}
			if (ret != 0 || calls > 4 * MAX_ENTRIES)
				break;
			in = outc;
		}
		aux[0] = found;
		aux[1] = digest;
		*naux = 2;
		return ret;
	}
	case 'x': {
		struct key bk[BMAX];
		struct val bv[BMAX];
		uint32_t in = o->cursor, outc = 0;

		count = BMAX;
		ret = fm_map_lookup_and_delete_batch(fd, &in, &outc, bk, bv, &count, 0);
		aux[0] = count;
		if (count != o->n)
			*whole = 0; /* reported as a mismatch below */
		for (i = 0; i < count && i < o->n; i++)
			if (bk[i].id != id_of(o->key[i]) || bv[i].rev != o->xrev[i] || !val_whole(&bv[i], bk[i].id))
				*whole = 0;
		return ret;
	}
	}
	return -9999;
}

static int model_count_in(const struct ent *m)
{
	int i, c = 0;

	for (i = 0; i < NALL; i++)
		c += m[i].present;
	return c;
}

/* One key's operation (kind U D C S L P) on model m: the expected result, and m updated. */
static int model_elem(char kind, unsigned flags, unsigned key, uint64_t newrev, uint64_t cmprev, struct ent *m)
{
	struct ent *e = &m[key];

	switch (kind) {
	case 'U':
		if (flags == FM_NOEXIST && e->present)
			return -EEXIST;
		if (flags == FM_EXIST && !e->present)
			return -ENOENT;
		if (!e->present && model_count_in(m) >= MAX_ENTRIES)
			return -E2BIG;
		e->present = 1;
		e->rev = newrev;
		return 0;
	case 'D':
		if (!e->present)
			return -ENOENT;
		e->present = 0;
		return 0;
	case 'C':
		if (!e->present)
			return -ENOENT;
		if (e->rev != cmprev)
			return -EBUSY;
		e->present = 0;
		return 0;
	case 'S':
		if (!e->present)
			return -ENOENT;
		if (e->rev != cmprev)
			return -EBUSY;
		e->rev = newrev;
		return 0;
	default: /* L, P */
		return e->present ? 0 : -ENOENT;
	}
}

/* What o does to model m if only the keys in mask are done: the expected result, m updated, res[0] the count
 * and res[1 + i] key i's result (c, s). The whole call is mask (1 << n) - 1; a batch stopped by an error
 * applies the keys before it. */
static int model_op(const struct op *o, unsigned mask, struct ent *m, int *res)
{
	unsigned i;
	int ret = 0, r;

	res[0] = 0;
	switch (o->kind) {
	case 'b':
	case 'd':
		for (i = 0; i < o->n && (mask >> i & 1); i++) {
			r = model_elem(o->kind == 'b' ? 'U' : 'D', FM_ANY, o->key[i], o->newrev + i, 0, m);
			if (r != 0)
				return r;
			res[0]++;
		}
		return 0;
	case 'c':
	case 's':
		for (i = 0; i < o->n; i++)
			res[1 + i] = mask >> i & 1 ? model_elem(o->kind == 'c' ? 'C' : 'S', 0, o->key[i], o->newrev + i,
							       o->cmprev[i], m)
						   : 99999;
		res[0] = (int)o->n;
		return 0;
	case 'x':
		for (i = 0; i < o->n; i++)
			if (mask >> i & 1) {
				m[o->key[i]].present = 0;
				res[0]++;
			}
		return 0;
	case 'l':
		return 0;
	default:
		if (mask & 1)
			ret = model_elem(o->kind, o->flags, o->key[0], o->newrev, o->cmprev[0], m);
		return ret;
	}
}

static void fmt_op(char *buf, size_t n, const struct op *o)
{
	size_t off;
	unsigned i;

	off = (size_t)snprintf(buf, n, "%c flags %u newrev %" PRIu64 " keys", o->kind, o->flags, o->newrev);
	for (i = 0; i < o->n && off < n; i++)
		off += (size_t)snprintf(buf + off, n - off, " %u(%s %" PRIu64 ")", o->key[i], o->kind == 'x' ? "rev" : "cmp",
					o->kind == 'x' ? o->xrev[i] : o->cmprev[i]);
	if (o->kind == 'x' && off < n)
		snprintf(buf + off, n - off, " cursor %u", o->cursor);
}

/* The "B" line for o (the child writes it, the parent parses it). */
static void fmt_B(char *buf, size_t n, const struct op *o)
{
	size_t off;
	unsigned i;

	off = (size_t)snprintf(buf, n, "B %c %u %u %" PRIu64 " %u", o->kind, o->n, o->flags, o->newrev, o->cursor);
	for (i = 0; i < o->n && off < n; i++)
		off += (size_t)snprintf(buf + off, n - off, " %u %" PRIu64 " %" PRIu64, o->key[i], o->cmprev[i],
					o->xrev[i]);
	if (off < n)
		snprintf(buf + off, n - off, "\n");
}

static int parse_B(const char *line, struct op *o)
{
	char *end;
	const char *s = line + 4;
	unsigned i;

	memset(o, 0, sizeof(*o));
	if (strlen(line) < 5 || line[0] != 'B' || line[1] != ' ' || line[3] != ' ')
		return -1;
	o->kind = line[2];
	o->n = (unsigned)strtoul(s, &end, 10);
	if (end == s || o->n > BMAX)
		return -1;
	o->flags = (unsigned)strtoul(s = end, &end, 10);
	o->newrev = strtoull(s = end, &end, 10);
	o->cursor = (uint32_t)strtoul(s = end, &end, 10);
	if (end == s)
		return -1;
	for (i = 0; i < o->n; i++) {
		o->key[i] = (unsigned)strtoul(s = end, &end, 10);
		if (end == s || o->key[i] >= (o->kind == 'x' ? NALL : NKEYS))
			return -1;
		o->cmprev[i] = strtoull(s = end, &end, 10);
		o->xrev[i] = strtoull(s = end, &end, 10);
		if (end == s)
			return -1;
	}
	return strchr("UDCSLPbdcslx", o->kind) != NULL && *end == '\0' ? 0 : -1;
}

/* ---- the child ---------------------------------------------------------------------------------- */

static void out(const char *s)
{
	size_t len = strlen(s), off = 0;

	while (off < len) {
		ssize_t n = write(1, s + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			_exit(4);
		off += (size_t)n;
	}
}

static int child_main(const char *pin, uint64_t seed, uint64_t revbase)
{
	uint64_t known[NKEYS] = { 0 }, nextrev = revbase, aux[2 + BMAX];
	struct op o;
	char line[LINE_MAX_LEN];
	long i;
	int fd, ret, whole, naux, j;
	unsigned u;

	rng_state = seed | 1;
	fd = fm_obj_get(pin, 0);
	if (fd < 0) {
		snprintf(line, sizeof(line), "X fm_obj_get %d\n", fd);
		out(line);
		return 3;
	}
	out("O\n");
	for (i = 0; i < CHILD_MAX_OPS; i++) {
		pick_op(&o, known, &nextrev, 1);
		if (o.kind == 'x') {
			/* what the call will take: a lookup batch from the same cursor (this process is the only one
			 * using the map now) */
			struct key bk[BMAX];
			struct val bv[BMAX];
			uint32_t in = o.cursor, outc = 0, count = BMAX;

			ret = fm_map_lookup_batch(fd, &in, &outc, bk, bv, &count, 0);
			if (ret != 0 && ret != -ENOENT && ret != -ENOSPC) {
				snprintf(line, sizeof(line), "X lookup batch before x: %d\n", ret);
				out(line);
				return 3;
			}
			for (u = 0; u < count; u++) {
				if (idx_of(bk[u].id) < 0) {
					snprintf(line, sizeof(line), "X lookup batch: foreign key %" PRIu64 "\n", bk[u].id);
					out(line);
					return 3;
				}
				o.key[u] = (unsigned)idx_of(bk[u].id);
				o.xrev[u] = bv[u].rev;
			}
			o.n = count;
		}
		fmt_B(line, sizeof(line), &o);
		out(line);
		ret = run_op(fd, &o, aux, &naux, &whole);
		if (!whole) {
			snprintf(line, sizeof(line), "X op %c: a value not whole, or x took other entries than its preview"
				 " (ret %d count %" PRIu64 ", preview %u)\n", o.kind, ret, aux[0], o.n);
			out(line);
			return 3;
		}
		{
			size_t off = (size_t)snprintf(line, sizeof(line), "R %d", ret);
			for (j = 0; j < naux; j++)
				off += (size_t)snprintf(line + off, sizeof(line) - off, " %" PRIu64, aux[j]);
			snprintf(line + off, sizeof(line) - off, "\n");
		}
		out(line);
		/* what this process now knows of the keys */
		switch (o.kind) {
		case 'b':
		case 'd':
			for (u = 0; u < aux[0] && u < o.n; u++)
				known[o.key[u]] = o.kind == 'b' ? o.newrev + u : 0;
			if (o.kind == 'd' && ret == -ENOENT && aux[0] < o.n)
				known[o.key[aux[0]]] = 0;
			break;
		case 'c':
		case 's':
			for (u = 0; u < o.n; u++)
				if ((int)aux[1 + u] == 0)
					known[o.key[u]] = o.kind == 's' ? o.newrev + u : 0;
				else if ((int)aux[1 + u] == -ENOENT)
					known[o.key[u]] = 0;
			break;
		case 'x':
			for (u = 0; u < o.n; u++)
				if (o.key[u] < NKEYS)
					known[o.key[u]] = 0;
			break;
		case 'l':
			break;
		default:
			if (ret == 0) {
				if (o.kind == 'U' || o.kind == 'S')
					known[o.key[0]] = o.newrev;
				else if (o.kind == 'D' || o.kind == 'C')
					known[o.key[0]] = 0;
				else
					known[o.key[0]] = aux[0];
			} else if (ret == -ENOENT) {
				known[o.key[0]] = 0;
			}
		}
	}
	fm_map_close(fd);
	out("E\n");
	return 0;
}

/* ---- the parent --------------------------------------------------------------------------------- */

static char dir[256];
static char pin[300];
static char self_exe[4096];
static pid_t main_pid;
static volatile pid_t child_pid;
static volatile int cur_round = -1, cur_point;
static const char *volatile phase = "setup";
static struct ent model[NALL];
static int mfd = -1;

static void cleanup(void)
{
	if (getpid() != main_pid)
		return;
	if (child_pid > 0) {
		kill(child_pid, SIGKILL);
		waitpid(child_pid, NULL, 0);
		child_pid = 0;
	}
	if (pin[0] != '\0')
		unlink(pin);
	if (dir[0] != '\0')
		rmdir(dir);
}

static void on_alarm(int sig)
{
	char msg[256];
	int n;

	(void)sig;
	n = snprintf(msg, sizeof(msg), "HANG: round %d, park point %d, phase '%s': no progress in %d s\n",
		     cur_round, cur_point, phase, ROUND_ALARM);
	if (n > 0)
		(void)!write(2, msg, (size_t)n);
	if (child_pid > 0)
		kill(child_pid, SIGKILL);
	if (pin[0] != '\0')
		unlink(pin);
	if (dir[0] != '\0')
		rmdir(dir);
	_exit(250);
}

static long long now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "FAIL round %d (park point %d, phase '%s'): ", cur_round, cur_point, phase);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* Looks a key up through the library and checks the value is whole. */
static int probe(uint64_t id, uint64_t *rev)
{
	struct key k;
	struct val got;
	int ret;

	make_key(&k, id);
	ret = fm_map_lookup_elem(mfd, &k, &got);
	*rev = 0;
	if (ret == 0) {
		if (!val_whole(&got, id))
			fail("key %" PRIu64 ": value not whole: rev %" PRIu64 " pat %016" PRIx64 " %016" PRIx64 " %016" PRIx64,
			     id, got.rev, got.pat[0], got.pat[1], got.pat[2]);
		*rev = got.rev;
	} else if (ret != -ENOENT) {
		fail("key %" PRIu64 ": lookup returned %d", id, ret);
	}
	return ret;
}

/* For a failure's message: is key id among the keys iteration yields (1), not (0), or did iteration fail (-1)? */
static int iter_has(uint64_t id)
{
	struct key k, next;
	int ret, steps = 0;

	ret = fm_map_get_next_key(mfd, NULL, &next);
	while (ret == 0 && steps++ < 4 * MAX_ENTRIES) {
		if (next.id == id)
			return 1;
		k = next;
		ret = fm_map_get_next_key(mfd, &k, &next);
	}
	return ret == -ENOENT ? 0 : -1;
}

struct stats {
	long kills[10];  /* by point; [0] = no park, killed after a delay */
	long parks[10];  /* "parked <point>" seen */
	long missed;     /* park rounds that never parked (the child ended or the wait ran out) */
	long inflight_done, inflight_not_done, no_inflight;
	long batch_inflight, batch_partial; /* in-flight batches; of them, found with some keys done and some not */
	long child_ops, child_batches, parent_ops, fills, prefills;
};

static struct stats st;

/* The map against the model; the in-flight operation (if any) may show done or not done: a single one on its
 * key; an update or delete batch (and x) any prefix of its keys; a compare batch any subset. Returns 1 if it
 * showed done (some key of it), 0 not done, -1 if there was none. */
static int check_map(const struct op *inflight)
{
	static struct ent obs[NALL], tmp[NALL];
	unsigned idx, seen[NALL] = { 0 }, n = 0, mask, full, i, nmasks;
	struct key k, next;
	int ret, result = -1, res[1 + BMAX], ok, j;
	char buf[LINE_MAX_LEN];

	phase = "check: lookups";
	for (idx = 0; idx < NALL; idx++)
		obs[idx].present = probe(id_of(idx), &obs[idx].rev) == 0;

	if (inflight != NULL) {
		phase = "check: the operation in flight";
		full = (1u << inflight->n) - 1;
		nmasks = (inflight->kind == 'c' || inflight->kind == 's') ? full + 1 : inflight->n + 1;
		ok = 0;
		for (i = 0; i < nmasks && !ok; i++) {
			/* not done first, then more and more of it */
			mask = (inflight->kind == 'c' || inflight->kind == 's') ? i : (1u << i) - 1;
			memcpy(tmp, model, sizeof(tmp));
			(void)model_op(inflight, mask, tmp, res);
			ok = 1;
			for (j = 0; j < (int)inflight->n && ok; j++) {
				idx = inflight->key[j];
				if (obs[idx].present != tmp[idx].present || (obs[idx].present && obs[idx].rev != tmp[idx].rev))
					ok = 0;
			}
			if (ok) {
				result = mask != 0 && memcmp(tmp, model, sizeof(tmp)) != 0;
				if (is_batch(inflight->kind)) {
					st.batch_inflight++;
					st.batch_partial += mask != 0 && mask != full;
				}
				memcpy(model, tmp, sizeof(tmp));
			}
		}
		if (inflight->n == 0)
			result = 0;
		if (!ok) {
			size_t off;
			fmt_op(buf, sizeof(buf), inflight);
			off = strlen(buf);
			off += (size_t)snprintf(buf + off, sizeof(buf) - off, "; map / model before:");
			for (j = 0; j < (int)inflight->n && off < sizeof(buf); j++) {
				idx = inflight->key[j];
				off += (size_t)snprintf(buf + off, sizeof(buf) - off, " key %u: %d/%" PRIu64 " vs %d/%" PRIu64,
							idx, obs[idx].present, obs[idx].rev, model[idx].present,
							model[idx].present ? model[idx].rev : 0);
			}
			fail("in-flight operation: its keys show no state it may leave (%s)", buf);
		}
	}
	for (idx = 0; idx < NALL; idx++) {
		if (obs[idx].present != model[idx].present || (obs[idx].present && obs[idx].rev != model[idx].rev)) {
			if (inflight != NULL)
				fmt_op(buf, sizeof(buf), inflight);
			else
				snprintf(buf, sizeof(buf), "none");
			fail("key %u (id %" PRIu64 "): present %d rev %" PRIu64 ", model: present %d rev %" PRIu64
			     " (in iteration: %d; in flight: %s)", idx, id_of(idx), obs[idx].present, obs[idx].rev,
			     model[idx].present, model[idx].rev, iter_has(id_of(idx)), buf);
		}
	}

	phase = "check: iteration";
	ret = fm_map_get_next_key(mfd, NULL, &next);
	while (ret == 0) {
		j = idx_of(next.id);
		if (j < 0 || next.tag != (next.id * 0x9E3779B97F4A7C15ull ^ 0x5eedf00d))
			fail("iteration: foreign key %" PRIu64 "/%" PRIx64, next.id, next.tag);
		if (seen[j]++)
			fail("iteration: key %" PRIu64 " twice", next.id);
		if (!model[j].present)
			fail("iteration: key %" PRIu64 " is not in the map", next.id);
		if (++n > MAX_ENTRIES)
			fail("iteration: more than %d keys", MAX_ENTRIES);
		k = next;
		ret = fm_map_get_next_key(mfd, &k, &next);
	}
	if (ret != -ENOENT)
		fail("iteration: get_next_key returned %d", ret);
	for (idx = 0; idx < NALL; idx++)
		if (model[idx].present && !seen[idx])
			fail("iteration: key %" PRIu64 " missing", id_of(idx));
	return result;
}

static int model_count(void) { return model_count_in(model); }

/* Checks a completed operation's result against the model, and applies it. */
static void check_result(const char *who, const struct op *o, int ret, const uint64_t *aux, int naux)
{
	char buf[LINE_MAX_LEN];
	int exp, res[1 + BMAX], j, bad = 0;
	uint64_t found = 0, digest = 0;
	unsigned idx;

	fmt_op(buf, sizeof(buf), o);
	if (o->kind == 'l') {
		for (idx = 0; idx < NALL; idx++)
			if (model[idx].present) {
				found++;
				digest += mix(id_of(idx), model[idx].rev);
			}
		if (ret != 0 || naux < 2 || aux[0] != found || aux[1] != digest)
			fail("%s %s: returned %d, %" PRIu64 " keys (digest %" PRIx64 "), model: %" PRIu64 " keys (digest %"
			     PRIx64 ")", who, buf, ret, naux >= 1 ? aux[0] : 0, naux >= 2 ? aux[1] : 0, found, digest);
		return;
	}
	if (o->kind == 'x') {
		/* its keys were what a lookup batch returned just before: in the model with those revisions */
		for (j = 0; j < (int)o->n; j++)
			if (!model[o->key[j]].present || model[o->key[j]].rev != o->xrev[j])
				fail("%s %s: a lookup batch returned key %u rev %" PRIu64 ", model: present %d rev %" PRIu64,
				     who, buf, o->key[j], o->xrev[j], model[o->key[j]].present, model[o->key[j]].rev);
		if ((ret != 0 && ret != -ENOENT && ret != -ENOSPC) || naux < 1 || aux[0] != o->n)
			fail("%s %s: returned %d count %" PRIu64 ", its preview %u keys", who, buf, ret,
			     naux >= 1 ? aux[0] : 0, o->n);
		(void)model_op(o, (1u << o->n) - 1, model, res);
		return;
	}
	exp = model_op(o, (1u << o->n) - 1, model, res);
	if (ret != exp || naux < 1)
		bad = 1;
	else if ((o->kind == 'L' || o->kind == 'P') && ret == 0 && aux[0] != model[o->key[0]].rev)
		bad = 1;
	else if (is_batch(o->kind) && aux[0] != (uint64_t)res[0])
		bad = 1;
	else if (o->kind == 'c' || o->kind == 's') {
		if (naux < 1 + (int)o->n)
			bad = 1;
		for (j = 0; j < (int)o->n && !bad; j++)
			if ((int)(int64_t)aux[1 + j] != res[1 + j])
				bad = 1;
	}
	if (bad) {
		char got[256], want[256];
		size_t go = 0, wo = 0;
		for (j = 0; j < naux && go < sizeof(got); j++)
			go += (size_t)snprintf(got + go, sizeof(got) - go, " %" PRId64, (int64_t)aux[j]);
		for (j = 0; j < 1 + (int)o->n && wo < sizeof(want); j++)
			wo += (size_t)snprintf(want + wo, sizeof(want) - wo, " %d", res[j]);
		fail("%s %s: returned %d,%s; model: %d,%s (single ops: rev / model rev %" PRIu64 ")", who, buf, ret, got,
		     exp, is_batch(o->kind) ? want : "", model[o->key[0]].rev);
	}
}

/* Fills the map with fresh keys until -E2BIG: present + added must be MAX_ENTRIES. Deletes them again
 * unless keep. Returns the number added. */
static int fill_check(int keep)
{
	struct key k;
	struct val v;
	int present = model_count(), added = 0, ret, i;
	uint64_t rev;

	phase = "fill: before";
	for (i = 0; i < NKEYS; i++)
		if ((probe((unsigned)i, &rev) == 0) != model[i].present || rev != (model[i].present ? model[i].rev : 0))
			fail("key %d: present %d rev %" PRIu64 ", model: present %d rev %" PRIu64, i, rev != 0, rev,
			     model[i].present, model[i].rev);
	phase = "fill";
	for (;;) {
		make_key(&k, FRESH_BASE + (unsigned)added);
		make_val(&v, FRESH_BASE + (unsigned)added, 1);
		ret = fm_map_update_elem(mfd, &k, &v, FM_NOEXIST);
		if (ret == -E2BIG)
			break;
		if (ret != 0)
			fail("fill: update of fresh key %d returned %d", added, ret);
		if (++added > MAX_ENTRIES * 2)
			fail("fill: more than %d fresh keys fit", MAX_ENTRIES * 2);
	}
	phase = "fill: after the inserts";
	for (i = 0; i < NKEYS; i++)
		if ((probe((unsigned)i, &rev) == 0) != model[i].present || rev != (model[i].present ? model[i].rev : 0))
			fail("key %d: present %d rev %" PRIu64 ", model: present %d rev %" PRIu64 " (fresh keys added: %d)",
			     i, rev != 0, rev, model[i].present, model[i].rev, added);
	phase = "fill";
	if (present + added != MAX_ENTRIES)
		fail("fill: %d present + %d added = %d, max_entries %d (capacity %s)", present, added,
		     present + added, MAX_ENTRIES, present + added < MAX_ENTRIES ? "lost" : "invented");
	if (!keep) {
		phase = "fill: delete";
		for (i = 0; i < added; i++) {
			make_key(&k, FRESH_BASE + (unsigned)i);
			ret = fm_map_delete_elem(mfd, &k);
			if (ret != 0)
				fail("fill: delete of fresh key %d returned %d", i, ret);
		}
	}
	return added;
}

/* The parent's own operations, each checked against the model (single ones and b, d, c, s, l batches). */
static void parent_ops(int count, uint64_t *nextrev)
{
	uint64_t known[NKEYS], aux[2 + BMAX];
	struct op o;
	char buf[LINE_MAX_LEN];
	int i, ret, whole, naux;

	phase = "parent ops";
	for (i = 0; i < NKEYS; i++)
		known[i] = model[i].present ? model[i].rev : 0;
	for (i = 0; i < count; i++) {
		do
			pick_op(&o, known, nextrev, 1);
		while (o.kind == 'x');
		ret = run_op(mfd, &o, aux, &naux, &whole);
		fmt_op(buf, sizeof(buf), &o);
		if (!whole)
			fail("parent %s: value not whole", buf);
		check_result("parent", &o, ret, aux, naux);
		for (naux = 0; naux < (int)o.n; naux++)
			known[o.key[naux]] = model[o.key[naux]].present ? model[o.key[naux]].rev : 0;
	}
}

static const int points[] = { 1, 2, 3, 4, 5, 6, 7, 9 };
#define NPOINTS ((int)(sizeof(points) / sizeof(points[0])))
/* The points the rounds park at: all of points[], or those KILL_STORM_POINTS lists ("1,2,9"; to chase one). */
static int use_points[NPOINTS], n_use_points;

static int parse_R(const char *line, int *ret, uint64_t *aux, int *naux)
{
	const char *p = line + 1;
	char *end;

	*ret = (int)strtol(p, &end, 10);
	if (line[0] != 'R' || end == p)
		return -1;
	for (*naux = 0; *naux < 2 + BMAX; (*naux)++) {
		p = end;
		aux[*naux] = strtoull(p, &end, 10);
		if (end == p)
			break;
	}
	return *end == '\0' ? 0 : -1;
}

/* Reads what the child says until it parks (park rounds), the delay runs out after "O" (delay rounds), or
 * it ends. Checks every completed operation against the model. Returns with the child killed and reaped;
 * inflight and have_inflight give the operation started and not reported. */

/* Takes the first whole line out of the child's read buffer (rbuf, rlen bytes) into line; 0 if there is none yet. */
static int next_line(char *rbuf, size_t *rlen, char *line, size_t cap)
{
	char *nl = memchr(rbuf, '\n', *rlen);
	size_t ll;

	if (nl == NULL)
		return 0;
	ll = (size_t)(nl - rbuf);
	if (ll >= cap)
		fail("child line too long");
	memcpy(line, rbuf, ll);
	line[ll] = '\0';
	memmove(rbuf, nl + 1, *rlen - ll - 1);
	*rlen -= ll + 1;
	return 1;
}

static void run_child(int round, int point, int nth, uint64_t seed, uint64_t revbase, struct stats *st,
		      struct op *inflight, int *have_inflight)
{
	char envbuf[64], seedbuf[32], revbuf[32], line[LINE_MAX_LEN];
	char *argv[6], **envp;
	static char rbuf[1 << 16];
	size_t nenv = 0, i, rlen = 0;
	int pfd[2], status, parked = 0, opened = 0, eof = 0, killed = 0, ret, naux;
	long long deadline, kill_at = -1;
	uint64_t aux[2 + BMAX];
	pid_t pid;

	(void)round;
	for (i = 0; environ[i] != NULL; i++)
		nenv++;
	envp = calloc(nenv + 2, sizeof(char *));
	CHECK(envp != NULL);
	nenv = 0;
	for (i = 0; environ[i] != NULL; i++)
		if (strncmp(environ[i], "FASTMAP_TEST_PARK=", 18) != 0)
			envp[nenv++] = environ[i];
	if (point != 0) {
		snprintf(envbuf, sizeof(envbuf), "FASTMAP_TEST_PARK=%d:%d", point, nth);
		envp[nenv++] = envbuf;
	}
	envp[nenv] = NULL;
	snprintf(seedbuf, sizeof(seedbuf), "%" PRIu64, seed);
	snprintf(revbuf, sizeof(revbuf), "%" PRIu64, revbase);
	argv[0] = self_exe;
	argv[1] = "child";
	argv[2] = pin;
	argv[3] = seedbuf;
	argv[4] = revbuf;
	argv[5] = NULL;

	CHECK(pipe2(pfd, O_CLOEXEC) == 0);
	phase = "fork";
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		/* only async-signal-safe calls until exec: the runtime is not fork-safe */
		if (dup2(pfd[1], 1) < 0)
			_exit(126);
		execve(self_exe, argv, envp);
		_exit(127);
	}
	child_pid = pid;
	close(pfd[1]);
	free(envp);

	*have_inflight = 0;
	phase = point ? "waiting for the park" : "waiting for the kill";
	deadline = now_us() + (long long)PARK_WAIT_MS * 1000;
	while (!eof && !killed) {
		long long t = now_us(), until = kill_at >= 0 && kill_at < deadline ? kill_at : deadline;
		struct pollfd pf = { .fd = pfd[0], .events = POLLIN };
		int ms = until > t ? (int)((until - t + 999) / 1000) : 0;
		ssize_t n;

		if (t >= until) {
			if (kill_at < 0 || t < kill_at)
				st->missed++; /* the wait ran out */
			kill(pid, SIGKILL);
			killed = 1;
			break;
		}
		if (kill_at >= 0 && until - t < 1000)
			ms = 0; /* sub-millisecond: spin */
		ret = poll(&pf, 1, ms);
		if (ret < 0 && errno == EINTR)
			continue;
		CHECK(ret >= 0);
		if (ret == 0)
			continue;
		n = read(pfd[0], rbuf + rlen, sizeof(rbuf) - 1 - rlen);
		if (n < 0 && errno == EINTR)
			continue;
		CHECK(n >= 0);
		if (n == 0) {
			eof = 1;
			break;
		}
		rlen += (size_t)n;
		/* whole lines */
		while (next_line(rbuf, &rlen, line, sizeof(line))) {

			if (line[0] == 'O') {
				opened = 1;
				if (point == 0)
					kill_at = now_us() + (long long)rndn(3001); /* 0-3 ms into its operations */
			} else if (line[0] == 'B') {
				if (*have_inflight)
					fail("child started an operation before reporting the last one");
				if (parse_B(line, inflight) != 0)
					fail("child said '%s'", line);
				*have_inflight = 1;
			} else if (line[0] == 'R') {
				if (!*have_inflight || parse_R(line, &ret, aux, &naux) != 0)
					fail("child said '%s'", line);
				*have_inflight = 0;
				st->child_ops++;
				st->child_batches += is_batch(inflight->kind);
				check_result("child", inflight, ret, aux, naux);
			} else if (strncmp(line, "parked ", 7) == 0) {
				int p = atoi(line + 7);
				if (p != point)
					fail("child parked at %d, asked for %d", p, point);
				parked = 1;
				st->parks[p]++;
				kill(pid, SIGKILL);
				killed = 1;
				/* keep reading: nothing should follow but EOF */
			} else if (line[0] == 'X') {
				fail("child: %s", line + 2);
			} else if (line[0] == 'E') {
				/* ended its operations without parking */
			} else {
				fail("child said '%s'", line);
			}
		}
	}
	if (!killed && !eof)
		kill(pid, SIGKILL);
	phase = "draining the pipe";
	/* after the kill, any complete lines already written; a "parked" line after a kill is possible too */
	for (;;) {
		ssize_t n = read(pfd[0], rbuf + rlen, sizeof(rbuf) - 1 - rlen);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		rlen += (size_t)n;
		while (next_line(rbuf, &rlen, line, sizeof(line))) {
			if (line[0] == 'R' && *have_inflight && parse_R(line, &ret, aux, &naux) == 0) {
				*have_inflight = 0;
				st->child_ops++;
				st->child_batches += is_batch(inflight->kind);
				check_result("child", inflight, ret, aux, naux);
			} else if (line[0] == 'B' && !*have_inflight) {
				if (parse_B(line, inflight) != 0)
					fail("child said '%s'", line);
				*have_inflight = 1;
			} else if (strncmp(line, "parked ", 7) == 0 && !parked) {
				parked = 1;
				st->parks[atoi(line + 7) % 10]++;
			} else if (line[0] == 'X') {
				fail("child: %s", line + 2);
			}
		}
	}
	close(pfd[0]);
	phase = "reaping";
	CHECK(waitpid(pid, &status, 0) == pid);
	child_pid = 0;
	if (!opened)
		fail("child never opened the map (status %#x)", status);
	if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
		fail("child exited with %d", WEXITSTATUS(status));
	if (WIFSIGNALED(status) && WTERMSIG(status) != SIGKILL)
		fail("child died of signal %d", WTERMSIG(status));
	if (point != 0 && !parked && !killed)
		st->missed++;
	st->kills[point] += WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
}

int main(int argc, char **argv)
{
	FM_OPTS(fm_map_create_opts, opts, .map_flags = FM_F_SHARED);
	struct op inflight;
	uint64_t nextrev = 1, seed;
	const char *base;
	long rounds = 300, r;
	int have_inflight, point, nth, i, res, added, present, prefilled, verbose = getenv("KILL_STORM_VERBOSE") != NULL;
	struct key k;
	struct val v;
	ssize_t n;

	if (argc >= 5 && strcmp(argv[1], "child") == 0)
		return child_main(argv[2], strtoull(argv[3], NULL, 10), strtoull(argv[4], NULL, 10));
	if (argc >= 2)
		rounds = strtol(argv[1], NULL, 10);
	seed = argc >= 3 ? strtoull(argv[2], NULL, 10) : (uint64_t)time(NULL) ^ (uint64_t)getpid() << 20;
	rng_state = seed | 1;
	for (i = 0; i < NPOINTS; i++)
		if (getenv("KILL_STORM_POINTS") == NULL || strchr(getenv("KILL_STORM_POINTS"), '0' + points[i]) != NULL)
			use_points[n_use_points++] = points[i];
	CHECK(n_use_points > 0);
	printf("kill_storm: %ld rounds, seed %" PRIu64 "\n", rounds, seed);
	fflush(stdout);

	memset(&st, 0, sizeof(st));
	main_pid = getpid();
	unsetenv("FASTMAP_TEST_PARK"); /* the parent must never park */
	signal(SIGALRM, on_alarm);
	alarm(ROUND_ALARM);
	n = readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1);
	CHECK(n > 0);
	self_exe[n] = '\0';

	base = getenv("FASTMAP_SHM_DIR");
	snprintf(dir, sizeof(dir), "%s/fm-kill-storm-XXXXXX", base != NULL && base[0] != '\0' ? base : "/dev/shm");
	CHECK(mkdtemp(dir) != NULL);
	snprintf(pin, sizeof(pin), "%s/map", dir);
	atexit(cleanup);

	mfd = fm_map_create(FM_MAP_TYPE_HASH, "kill_storm", sizeof(struct key), sizeof(struct val), MAX_ENTRIES,
			    &opts);
	CHECK(mfd >= 0);
	CHECK_RET(fm_obj_pin(mfd, pin), 0);
	memset(model, 0, sizeof(model));
	/* start half full */
	for (i = 0; i < NKEYS; i += 2) {
		make_key(&k, (unsigned)i);
		make_val(&v, (unsigned)i, nextrev);
		CHECK_RET(fm_map_update_elem(mfd, &k, &v, FM_NOEXIST), 0);
		model[i].present = 1;
		model[i].rev = nextrev++;
	}

	for (r = 0; r < rounds; r++) {
		alarm(ROUND_ALARM);
		cur_round = (int)r;
		if (rndn(4) == 0) {
			point = 0;
			nth = 0;
		} else {
			point = use_points[rndn((unsigned)n_use_points)];
			/* point 6 is reached only by inserts that need an overflow record: not often */
			nth = 1 + (int)rndn(point == 6 ? 3 : 30);
		}
		cur_point = point;
		/* a third of the rounds, and every point-6 round, run near full: prefill keys up to MAX_ENTRIES - 0..4,
		 * so inserts meet -E2BIG and full windows, and take overflow records */
		prefilled = getenv("KILL_STORM_NO_PREFILL") == NULL && (point == 6 || rndn(3) == 0);
		if (prefilled) {
			int want = MAX_ENTRIES - (int)rndn(5);

			phase = "prefill";
			for (i = NKEYS; i < NALL && model_count() < want; i++) {
				make_key(&k, id_of((unsigned)i));
				make_val(&v, id_of((unsigned)i), nextrev);
				CHECK_RET(fm_map_update_elem(mfd, &k, &v, FM_NOEXIST), 0);
				model[i].present = 1;
				model[i].rev = nextrev++;
			}
			st.prefills++;
		}
		/* every child and the parent take their revisions from disjoint ranges */
		if (getenv("KILL_STORM_NO_CHILD") == NULL) /* a control run: the parent's operations and fills alone */
			run_child((int)r, point, nth, rnd(), (uint64_t)(r + 1) << 32, &st, &inflight, &have_inflight);
		else
			have_inflight = 0;
		if (verbose) {
			char buf[LINE_MAX_LEN] = "none";
			if (have_inflight)
				fmt_op(buf, sizeof(buf), &inflight);
			fprintf(stderr, "round %ld: point %d nth %d, in flight: %s\n", r, point, nth, buf);
		}
		res = check_map(have_inflight ? &inflight : NULL);
		if (res == 1)
			st.inflight_done++;
		else if (res == 0)
			st.inflight_not_done++;
		else
			st.no_inflight++;
		parent_ops(PARENT_OPS, &nextrev);
		st.parent_ops += PARENT_OPS;
		if (prefilled) {
			phase = "prefill: delete";
			for (i = NKEYS; i < NALL; i++) {
				if (!model[i].present)
					continue;
				make_key(&k, id_of((unsigned)i));
				CHECK_RET(fm_map_delete_elem(mfd, &k), 0);
				model[i].present = 0;
			}
		}
		if (rndn(4) == 0 && getenv("KILL_STORM_NO_FILLS") == NULL) { /* no_fills: only the final one */
			if (verbose)
				fprintf(stderr, "round %ld: fill check\n", r);
			fill_check(0);
			st.fills++;
			cur_point = -1;
			(void)check_map(NULL);
		}
	}

	alarm(ROUND_ALARM);
	cur_round = -1;
	cur_point = 0;
	phase = "final";
	(void)check_map(NULL);
	present = 0;
	for (i = 0; i < NKEYS; i++) {
		uint64_t rev;
		if (probe((unsigned)i, &rev) == 0)
			present++;
	}
	CHECK(present == model_count());
	added = fill_check(1);
	CHECK(present + added == MAX_ENTRIES);

	/* compare-and-delete still works: a wrong revision is -EBUSY, the right one deletes, then -ENOENT */
	phase = "final compare-and-delete";
	for (i = 0; i < NKEYS; i++) {
		uint64_t wrong;
		if (!model[i].present)
			continue;
		make_key(&k, (unsigned)i);
		wrong = model[i].rev + 1;
		CHECK_ERR(fm_map_delete_elem_cmp(mfd, &k, &wrong, 0, 8), EBUSY);
		CHECK_RET(fm_map_delete_elem_cmp(mfd, &k, &model[i].rev, 0, 8), 0);
		CHECK_ERR(fm_map_delete_elem_cmp(mfd, &k, &model[i].rev, 0, 8), ENOENT);
		model[i].present = 0;
	}
	for (i = 0; i < added; i++) {
		make_key(&k, FRESH_BASE + (unsigned)i);
		v.rev = 1;
		CHECK_RET(fm_map_delete_elem_cmp(mfd, &k, &v.rev, 0, 8), 0);
	}
	/* empty now: the whole capacity is there */
	CHECK(fill_check(0) == MAX_ENTRIES);
	CHECK_RET(fm_map_close(mfd), 0);

	printf("kill_storm: %ld rounds; kills: delay %ld", rounds, st.kills[0]);
	for (i = 0; i < NPOINTS; i++)
		printf(", p%d %ld", points[i], st.kills[points[i]]);
	printf("; parks seen:");
	for (i = 0; i < NPOINTS; i++)
		printf(" p%d %ld", points[i], st.parks[points[i]]);
	printf("; parks missed %ld; in-flight done %ld, not done %ld, none %ld (batches %ld, partly done %ld); ops: child"
	       " %ld (batches %ld), parent %ld; prefilled rounds %ld; fills %ld; final: present %d + added %d = %d"
	       " (max_entries %d)\n",
	       st.missed, st.inflight_done, st.inflight_not_done, st.no_inflight, st.batch_inflight, st.batch_partial,
	       st.child_ops, st.child_batches, st.parent_ops, st.prefills, st.fills, present, added, present + added,
	       MAX_ENTRIES);
	return 0;
}

CHECK_SITES_FIT();
