/* Shared maps (FM_F_SHARED): processes killed at any instruction, and the map stays usable and consistent.
 *
 * The parent creates a shared hash map (key 16 bytes, value 32 bytes, MAX_ENTRIES 64, keys 0..47 used) and
 * pins it in a fresh directory under $FASTMAP_SHM_DIR or /dev/shm. Then, for N rounds (argv[1], default 300):
 *  - it forks and execs itself as a child ("child" <pin> <seed> <revbase>; exec, because the NativeAOT runtime
 *    the parent already started does not survive fork), with FASTMAP_TEST_PARK=<point>:<nth> in the child's
 *    environment (a random point of {1,2,3,4,5,7,9}, nth in 1..30), or in a quarter of the rounds no park;
 *  - the child opens the pin with fm_obj_get() and runs random operations on keys 0..47 (update
 *    any/noexist/exist, delete, compare-and-delete and compare-and-swap on bytes [0, 8) = the revision,
 *    lookups, a read section with fm_map_lookup_elem_ptr()). On its stdout (a pipe) it writes "B ..." before
 *    each operation and "R <ret> <rev>" after it, so the parent knows every completed operation and at most
 *    one in flight, and checks each result against its model of the map as it reads it;
 *  - the parent kills the child (SIGKILL) when it reads "parked <point>", or, with no park, 0-3 ms after the
 *    child's first operation (an arbitrary instruction), reaps it, and checks the map against its model:
 *    every key present/absent with its revision (the in-flight operation's key may show the operation done or
 *    not done), every value whole (bytes 8..31 are a pattern of the key and the revision, so a value cut in
 *    half shows), the iteration yields exactly the model's keys; then it runs its own random operations
 *    (checked against the model) and, in a quarter of the rounds, fills the map with fresh keys until -E2BIG
 *    (present + added == MAX_ENTRIES: no capacity lost nor invented) and deletes them again.
 * At the end: the same count and fill, and compare-and-delete still answers 0 / -EBUSY / -ENOENT. A hang
 * anywhere fails: a per-round alarm() (ROUND_ALARM s) prints the round, its phase and the park point.
 * Summary: rounds, kills by point, parks seen, in-flight operations found done / not done, final counts.
 * Usage: kill_storm [rounds [seed]]. Environment: KILL_STORM_POINTS="1,7" parks only at those points;
 * KILL_STORM_VERBOSE=1 prints each round's point and in-flight operation to stderr; KILL_STORM_NO_FILLS=1 leaves
 * out the fills during the rounds (the final one stays); KILL_STORM_NO_CHILD=1 runs no children (a control). */
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
#define FRESH_BASE 1000000u
#define ROUND_ALARM 30       /* seconds a round may take before it counts as a hang */
#define PARK_WAIT_MS 10000   /* how long the parent waits for "parked" */
#define PARENT_OPS 24        /* the parent's own operations per round */
#define CHILD_MAX_OPS 500000 /* a child that never parks stops here */

struct key {
	uint64_t id;
	uint64_t tag;
};

struct val {
	uint64_t rev; /* the compare window: [0, 8) */
	uint64_t pat[3];
};

struct op {
	char kind;      /* U update, D delete, C compare-and-delete, S compare-and-swap, L lookup, P read section */
	unsigned key;   /* 0..NKEYS-1 */
	unsigned flags; /* U: FM_ANY, FM_NOEXIST, FM_EXIST */
	uint64_t newrev;
	uint64_t cmprev;
};

struct ent {
	int present;
	uint64_t rev;
};

extern char **environ;

/* ---- values ------------------------------------------------------------------------------------- */

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

/* Picks an operation. known[] is what the caller last saw of each key (rev, or 0 if absent / unknown). */
static void pick_op(struct op *o, const uint64_t *known, uint64_t *nextrev)
{
	unsigned r = rndn(100);

	memset(o, 0, sizeof(*o));
	o->key = rndn(NKEYS);
	o->newrev = (*nextrev)++;
	/* mostly the revision last seen, so that compares succeed often; sometimes one that is not */
	o->cmprev = rndn(4) ? known[o->key] : known[o->key] + 1;
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

/* Runs o on the map. Returns the call's result; *rev gets the revision a lookup saw. *whole is 0 if a value
 * read was not whole. */
static int run_op(int fd, const struct op *o, uint64_t *rev, int *whole)
{
	struct key k;
	struct val v, got;
	void *p;
	int ret;

	make_key(&k, o->key);
	*rev = 0;
	*whole = 1;
	switch (o->kind) {
	case 'U':
		make_val(&v, o->key, o->newrev);
		return fm_map_update_elem(fd, &k, &v, o->flags);
	case 'D':
		return fm_map_delete_elem(fd, &k);
	case 'C':
		return fm_map_delete_elem_cmp(fd, &k, &o->cmprev, 0, 8);
	case 'S':
		make_val(&v, o->key, o->newrev);
		return fm_map_update_elem_cmp(fd, &k, &v, &o->cmprev, 0, 8, FM_EXIST);
	case 'L':
		ret = fm_map_lookup_elem(fd, &k, &got);
		if (ret == 0) {
			*rev = got.rev;
			*whole = val_whole(&got, o->key);
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
			*rev = got.rev;
			*whole = val_whole(&got, o->key);
		}
		return ret;
	}
	return -9999;
}

/* What o does to e, by the model: the expected result, and e updated. */
static int model_apply(const struct op *o, struct ent *e)
{
	switch (o->kind) {
	case 'U':
		if (o->flags == FM_NOEXIST && e->present)
			return -EEXIST;
		if (o->flags == FM_EXIST && !e->present)
			return -ENOENT;
		e->present = 1;
		e->rev = o->newrev;
		return 0;
	case 'D':
		if (!e->present)
			return -ENOENT;
		e->present = 0;
		return 0;
	case 'C':
		if (!e->present)
			return -ENOENT;
		if (e->rev != o->cmprev)
			return -EBUSY;
		e->present = 0;
		return 0;
	case 'S':
		if (!e->present)
			return -ENOENT;
		if (e->rev != o->cmprev)
			return -EBUSY;
		e->rev = o->newrev;
		return 0;
	default: /* L, P */
		return e->present ? 0 : -ENOENT;
	}
}

static void fmt_op(char *buf, size_t n, const struct op *o)
{
	snprintf(buf, n, "%c key %u flags %u newrev %" PRIu64 " cmprev %" PRIu64, o->kind, o->key, o->flags,
		 o->newrev, o->cmprev);
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
	uint64_t known[NKEYS] = { 0 }, nextrev = revbase, rev;
	struct op o;
	char line[160];
	long i;
	int fd, ret, whole;

	rng_state = seed | 1;
	fd = fm_obj_get(pin, 0);
	if (fd < 0) {
		snprintf(line, sizeof(line), "X fm_obj_get %d\n", fd);
		out(line);
		return 3;
	}
	out("O\n");
	for (i = 0; i < CHILD_MAX_OPS; i++) {
		pick_op(&o, known, &nextrev);
		snprintf(line, sizeof(line), "B %c %u %u %" PRIu64 " %" PRIu64 "\n", o.kind, o.key, o.flags, o.newrev,
			 o.cmprev);
		out(line);
		ret = run_op(fd, &o, &rev, &whole);
		if (!whole) {
			snprintf(line, sizeof(line), "X value of key %u not whole (rev %" PRIu64 ")\n", o.key, rev);
			out(line);
			return 3;
		}
		snprintf(line, sizeof(line), "R %d %" PRIu64 "\n", ret, rev);
		out(line);
		/* what this process now knows of the key */
		if (ret == 0) {
			if (o.kind == 'U' || o.kind == 'S')
				known[o.key] = o.newrev;
			else if (o.kind == 'D' || o.kind == 'C')
				known[o.key] = 0;
			else
				known[o.key] = rev;
		} else if (ret == -ENOENT) {
			known[o.key] = 0;
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
static struct ent model[NKEYS];
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
static int probe(unsigned id, uint64_t *rev)
{
	struct key k;
	struct val got;
	int ret;

	make_key(&k, id);
	ret = fm_map_lookup_elem(mfd, &k, &got);
	*rev = 0;
	if (ret == 0) {
		if (!val_whole(&got, id))
			fail("key %u: value not whole: rev %" PRIu64 " pat %016" PRIx64 " %016" PRIx64 " %016" PRIx64,
			     id, got.rev, got.pat[0], got.pat[1], got.pat[2]);
		*rev = got.rev;
	} else if (ret != -ENOENT) {
		fail("key %u: lookup returned %d", id, ret);
	}
	return ret;
}

/* For a failure's message: is key id among the keys iteration yields (1), not (0), or did iteration fail (-1)? */
static int iter_has(unsigned id)
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

/* The map against the model; the in-flight operation (if any) may show done or not done on its key.
 * Returns 1 if it showed done, 0 not done, -1 if there was none. */
static int check_map(const struct op *inflight)
{
	struct ent done;
	uint64_t rev;
	unsigned id, seen[NKEYS] = { 0 }, n = 0;
	struct key k, next;
	int ret, result = -1, present;
	char buf[160];

	phase = "check: lookups";
	for (id = 0; id < NKEYS; id++) {
		ret = probe(id, &rev);
		present = ret == 0;
		if (inflight != NULL && inflight->key == id) {
			done = model[id];
			(void)model_apply(inflight, &done);
			if (present == model[id].present && (!present || rev == model[id].rev)) {
				result = 0; /* not done (or done with no effect) */
			} else if (present == done.present && (!present || rev == done.rev)) {
				result = 1;
				model[id] = done;
			} else {
				fmt_op(buf, sizeof(buf), inflight);
				fail("in-flight key %u: present %d rev %" PRIu64 "; model before: present %d rev %" PRIu64
				     ", after: present %d rev %" PRIu64 " (op %s)",
				     id, present, rev, model[id].present, model[id].rev, done.present, done.rev, buf);
			}
		} else if (present != model[id].present || (present && rev != model[id].rev)) {
			if (inflight != NULL)
				fmt_op(buf, sizeof(buf), inflight);
			else
				snprintf(buf, sizeof(buf), "none");
			fail("key %u: present %d rev %" PRIu64 ", model: present %d rev %" PRIu64
			     " (in iteration: %d; in flight: %s)", id, present, rev, model[id].present, model[id].rev,
			     iter_has(id), buf);
		}
	}

	phase = "check: iteration";
	ret = fm_map_get_next_key(mfd, NULL, &next);
	while (ret == 0) {
		if (next.id >= NKEYS || next.tag != (next.id * 0x9E3779B97F4A7C15ull ^ 0x5eedf00d))
			fail("iteration: foreign key %" PRIu64 "/%" PRIx64, next.id, next.tag);
		if (seen[next.id]++)
			fail("iteration: key %" PRIu64 " twice", next.id);
		if (!model[next.id].present)
			fail("iteration: key %" PRIu64 " is not in the map", next.id);
		if (++n > MAX_ENTRIES)
			fail("iteration: more than %d keys", MAX_ENTRIES);
		k = next;
		ret = fm_map_get_next_key(mfd, &k, &next);
	}
	if (ret != -ENOENT)
		fail("iteration: get_next_key returned %d", ret);
	for (id = 0; id < NKEYS; id++)
		if (model[id].present && !seen[id])
			fail("iteration: key %u missing", id);
	return result;
}

static int model_count(void)
{
	int i, c = 0;

	for (i = 0; i < NKEYS; i++)
		c += model[i].present;
	return c;
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

/* The parent's own operations, each checked against the model. */
static void parent_ops(int count, uint64_t *nextrev)
{
	uint64_t known[NKEYS], rev;
	struct op o;
	char buf[160];
	int i, ret, exp, whole;

	phase = "parent ops";
	for (i = 0; i < NKEYS; i++)
		known[i] = model[i].present ? model[i].rev : 0;
	for (i = 0; i < count; i++) {
		pick_op(&o, known, nextrev);
		ret = run_op(mfd, &o, &rev, &whole);
		fmt_op(buf, sizeof(buf), &o);
		if (!whole)
			fail("parent %s: value not whole (rev %" PRIu64 ")", buf, rev);
		exp = model_apply(&o, &model[o.key]);
		if (ret != exp || ((o.kind == 'L' || o.kind == 'P') && ret == 0 && rev != model[o.key].rev))
			fail("parent %s: returned %d rev %" PRIu64 ", model: %d rev %" PRIu64, buf, ret, rev, exp,
			     model[o.key].rev);
		known[o.key] = model[o.key].present ? model[o.key].rev : 0;
	}
}

static const int points[] = { 1, 2, 3, 4, 5, 7, 9 };
#define NPOINTS ((int)(sizeof(points) / sizeof(points[0])))
/* The points the rounds park at: all of points[], or those KILL_STORM_POINTS lists ("1,2,9"; to chase one). */
static int use_points[NPOINTS], n_use_points;

struct stats {
	long kills[10];  /* by point; [0] = no park, killed after a delay */
	long parks[10];  /* "parked <point>" seen */
	long missed;     /* park rounds that never parked (the child ended or the wait ran out) */
	long inflight_done, inflight_not_done, no_inflight;
	long child_ops, parent_ops, fills;
};

/* Reads what the child says until it parks (park rounds), the delay runs out after "O" (delay rounds), or
 * it ends. Checks every completed operation against the model. Returns with the child killed and reaped;
 * inflight and have_inflight give the operation started and not reported. */
static void run_child(int round, int point, int nth, uint64_t seed, uint64_t revbase, struct stats *st,
		      struct op *inflight, int *have_inflight)
{
	char envbuf[64], seedbuf[32], revbuf[32], line[256], buf[160];
	char *argv[6], **envp;
	static char rbuf[1 << 16];
	size_t nenv = 0, i, rlen = 0;
	int pfd[2], status, parked = 0, opened = 0, eof = 0, killed = 0, ret, exp;
	long long deadline, kill_at = -1;
	uint64_t rev;
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
		for (;;) {
			char *nl = memchr(rbuf, '\n', rlen);
			size_t ll;

			if (nl == NULL)
				break;
			ll = (size_t)(nl - rbuf);
			if (ll >= sizeof(line))
				fail("child line too long");
			memcpy(line, rbuf, ll);
			line[ll] = '\0';
			memmove(rbuf, nl + 1, rlen - ll - 1);
			rlen -= ll + 1;

			if (line[0] == 'O') {
				opened = 1;
				if (point == 0)
					kill_at = now_us() + (long long)rndn(3001); /* 0-3 ms into its operations */
			} else if (line[0] == 'B') {
				char kind;
				if (*have_inflight)
					fail("child started an operation before reporting the last one");
				memset(inflight, 0, sizeof(*inflight));
				if (sscanf(line, "B %c %u %u %" SCNu64 " %" SCNu64, &kind, &inflight->key,
					   &inflight->flags, &inflight->newrev, &inflight->cmprev) != 5 ||
				    inflight->key >= NKEYS)
					fail("child said '%s'", line);
				inflight->kind = kind;
				*have_inflight = 1;
			} else if (line[0] == 'R') {
				if (!*have_inflight || sscanf(line, "R %d %" SCNu64, &ret, &rev) != 2)
					fail("child said '%s'", line);
				*have_inflight = 0;
				st->child_ops++;
				fmt_op(buf, sizeof(buf), inflight);
				exp = model_apply(inflight, &model[inflight->key]);
				if (ret != exp || ((inflight->kind == 'L' || inflight->kind == 'P') && ret == 0 &&
						   rev != model[inflight->key].rev))
					fail("child %s: returned %d rev %" PRIu64 ", model: %d rev %" PRIu64, buf, ret, rev,
					     exp, model[inflight->key].rev);
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
		for (;;) {
			char *nl = memchr(rbuf, '\n', rlen);
			size_t ll;

			if (nl == NULL)
				break;
			ll = (size_t)(nl - rbuf);
			if (ll >= sizeof(line))
				fail("child line too long");
			memcpy(line, rbuf, ll);
			line[ll] = '\0';
			memmove(rbuf, nl + 1, rlen - ll - 1);
			rlen -= ll + 1;
			if (line[0] == 'R' && *have_inflight && sscanf(line, "R %d %" SCNu64, &ret, &rev) == 2) {
				*have_inflight = 0;
				st->child_ops++;
				fmt_op(buf, sizeof(buf), inflight);
				exp = model_apply(inflight, &model[inflight->key]);
				if (ret != exp || ((inflight->kind == 'L' || inflight->kind == 'P') && ret == 0 &&
						   rev != model[inflight->key].rev))
					fail("child %s: returned %d rev %" PRIu64 ", model: %d rev %" PRIu64, buf, ret, rev,
					     exp, model[inflight->key].rev);
			} else if (line[0] == 'B' && !*have_inflight) {
				char kind;
				memset(inflight, 0, sizeof(*inflight));
				if (sscanf(line, "B %c %u %u %" SCNu64 " %" SCNu64, &kind, &inflight->key,
					   &inflight->flags, &inflight->newrev, &inflight->cmprev) != 5 ||
				    inflight->key >= NKEYS)
					fail("child said '%s'", line);
				inflight->kind = kind;
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
	struct stats st;
	struct op inflight;
	uint64_t nextrev = 1, seed;
	const char *base;
	long rounds = 300, r;
	int have_inflight, point, nth, i, res, added, present, verbose = getenv("KILL_STORM_VERBOSE") != NULL;
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
			nth = 1 + (int)rndn(30);
		}
		cur_point = point;
		/* every child and the parent take their revisions from disjoint ranges */
		if (getenv("KILL_STORM_NO_CHILD") == NULL) /* a control run: the parent's operations and fills alone */
			run_child((int)r, point, nth, rnd(), (uint64_t)(r + 1) << 32, &st, &inflight, &have_inflight);
		else
			have_inflight = 0;
		if (verbose) {
			char buf[160] = "none";
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
	printf("; parks missed %ld; in-flight done %ld, not done %ld, none %ld; ops: child %ld, parent %ld; fills %ld;"
	       " final: present %d + added %d = %d (max_entries %d)\n",
	       st.missed, st.inflight_done, st.inflight_not_done, st.no_inflight, st.child_ops, st.parent_ops, st.fills,
	       present, added, present + added, MAX_ENTRIES);
	return 0;
}

CHECK_SITES_FIT();
