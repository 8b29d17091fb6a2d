/* Which membarrier command a cross-process epoch reclaimer needs, and what it costs. FastMap's epoch readers
 * announce with a plain store and then load shared data (no fence); the reclaimer issues a process-wide
 * barrier before scanning the announcements. With a map shared between processes (MAP_SHARED file) the
 * reader is in another process, which MEMBARRIER_CMD_PRIVATE_EXPEDITED never reaches. This file measures:
 *  1. what MEMBARRIER_CMD_QUERY reports;
 *  2. latency (median, p99, ns per call) of GLOBAL, GLOBAL_EXPEDITED and PRIVATE_EXPEDITED issued by process
 *     A (pinned to CPU 0) with (a) nothing else running, (b) a forked process B spinning on a MAP_SHARED page
 *     on CPU 1, registered for GLOBAL_EXPEDITED, (c) the same B not registered, (d) a second thread of A
 *     spinning on CPU 1 (what PRIVATE_EXPEDITED costs in a multithreaded process), each with the
 *     function-call IPIs CPU 1 received per call (CAL in /proc/interrupts): whether the barrier reached B;
 *  3. a store-buffering (Dekker) litmus across processes: B (reader, CPU 1) stores announce=1 (plain) then
 *     loads flag; A (reclaimer, CPU 0) stores flag=1, runs a barrier, loads announce. Both loads seeing 0 in
 *     one round is the forbidden outcome (the reclaimer misses the reader while the reader misses the
 *     unlink). Counted per barrier, with B registered and not, plus two controls: A fenced with mfence and
 *     nothing else (shows B's reordering alone suffices), and A fenced with mfence then busy-waiting as long
 *     as a membarrier call that IPIs nobody (~1 us) or one that IPIs B (~20 us): how much of a low count the
 *     call's duration alone explains;
 *  4. the reader-side alternative: ns per announce+load with a seq_cst fence (mfence) or a locked xchg,
 *     against the plain store+load.
 *     3a has B announce at once; in 3b B first issues [stores, default 48] cache-missing stores to random lines
 *     of a 128 MiB buffer, so its announce sits in the store buffer for microseconds, longer than one
 *     membarrier syscall, which is what lets a barrier that does not reach B be caught;
 *   cc -O2 -pthread -o membarrier_global bench/machine/membarrier_global.c && ./membarrier_global [rounds, default 600000] [stores]
 * Needs 2 CPUs; about 30 s. GLOBAL is synchronize_rcu: expedited (tens of us) if /sys/kernel/rcu_expedited
 * is 1, as on the 2-vCPU VM, milliseconds otherwise; so latency and litmus rows are capped by time (the
 * number of calls/rounds actually done is printed).
 * Measured on the 2-vCPU VM: perf-results/2026-12-04-vm-membarrier/SUMMARY.md. */
#define _GNU_SOURCE
#include <linux/membarrier.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef MEMBARRIER_CMD_GET_REGISTRATIONS
#define MEMBARRIER_CMD_GET_REGISTRATIONS (1 << 9)
#endif

static int membarrier(int cmd) { return (int)syscall(__NR_membarrier, cmd, 0, 0); }
static uint64_t nsnow(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return (uint64_t)t.tv_sec * 1000000000ull + t.tv_nsec; }
static void pin(int cpu) { cpu_set_t s; CPU_ZERO(&s); CPU_SET(cpu, &s); if (sched_setaffinity(0, sizeof s, &s)) { perror("sched_setaffinity"); exit(1); } }
#define CB() __asm__ __volatile__("" ::: "memory")
#define LD(p) __atomic_load_n(&(p), __ATOMIC_RELAXED)
#define ST(p, v) __atomic_store_n(&(p), (v), __ATOMIC_RELAXED)

/* The shared page: every hot word on its own cache line. */
struct shared {
    _Alignas(64) long go;        /* round number, written by A */
    _Alignas(64) long announce;  /* written by B (reader) */
    _Alignas(64) long flag;      /* written by A (reclaimer) */
    _Alignas(64) long rb;        /* B's load of flag */
    _Alignas(64) long done;      /* round B finished */
    _Alignas(64) long stop, ready, breg, bfence, spin, bdirty;
};
static struct shared *sh;

enum { NONE = 0, MFENCE = -1, MFENCE_WAIT = -2, MFENCE_WAIT_IPI = -3 };
static const char *cname(int c)
{
    switch (c) {
    case NONE: return "no barrier (compiler only)";
    case MFENCE: return "A: mfence only";
    case MFENCE_WAIT: return "A: mfence + busy-wait 1 PRIVATE call";
    case MFENCE_WAIT_IPI: return "A: mfence + busy-wait 1 IPI'ing call";
    case MEMBARRIER_CMD_GLOBAL: return "GLOBAL";
    case MEMBARRIER_CMD_GLOBAL_EXPEDITED: return "GLOBAL_EXPEDITED";
    case MEMBARRIER_CMD_PRIVATE_EXPEDITED: return "PRIVATE_EXPEDITED";
    }
    return "?";
}

static uint64_t xs = 88172645463325252ull;
static inline uint64_t rnd(void) { xs ^= xs << 13; xs ^= xs >> 7; xs ^= xs << 17; return xs; }
static unsigned amask = 1023; /* A's random delay before its flag store, in delay() iterations */
static inline void delay(unsigned n) { for (volatile unsigned i = 0; i < n; i++) ; }

/* Process B. mode 0: spin reading the shared page until stop. mode 1: litmus reader. */
#define DIRTY_MIB 128
static void child(int mode, int reg)
{
    pin(1);
    if (reg && membarrier(MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED)) { perror("register global expedited"); _exit(1); }
    int r = membarrier(MEMBARRIER_CMD_GET_REGISTRATIONS);
    ST(sh->breg, r);
    int dirty = mode == 1 ? (int)LD(sh->bdirty) : 0;
    size_t dlines = (size_t)DIRTY_MIB << 20 >> 6;
    long *dbuf = dirty ? mmap(0, dlines * 64, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0) : 0;
    if (dbuf == MAP_FAILED) { perror("mmap"); _exit(1); }
    __atomic_store_n(&sh->ready, 1, __ATOMIC_RELEASE);
    if (mode == 0) {
        long s = 0;
        while (!LD(sh->stop)) s += LD(sh->spin);
        _exit((int)(s & 1) & 0);
    }
    long last = 0;
    int fence = (int)LD(sh->bfence);
    xs ^= (uint64_t)getpid() * 0x9E3779B97F4A7C15ull;
    for (;;) {
        long g;
        while ((g = __atomic_load_n(&sh->go, __ATOMIC_ACQUIRE)) == last)
            if (LD(sh->stop)) _exit(0);
        last = g;
        delay(rnd() & 15);
        for (int k = 0; k < dirty; k++) dbuf[(rnd() % dlines) * 8] = g; /* cache-missing stores queued ahead of the announce */
        ST(sh->announce, 1);
        if (fence) __atomic_thread_fence(__ATOMIC_SEQ_CST); else CB();
        long f = LD(sh->flag);
        ST(sh->rb, f);
        __atomic_store_n(&sh->done, g, __ATOMIC_RELEASE);
    }
}

static pid_t spawn(int mode, int reg)
{
    memset(sh, 0, sizeof *sh);
    pid_t p = fork();
    if (p == 0) child(mode, reg);
    while (!__atomic_load_n(&sh->ready, __ATOMIC_ACQUIRE)) ;
    return p;
}
static void reap(pid_t p) { __atomic_store_n(&sh->stop, 1, __ATOMIC_RELEASE); waitpid(p, 0, 0); }

/* Function-call IPIs (the CAL line of /proc/interrupts) received by CPU 1 so far: how membarrier reaches a CPU. */
static long ipis_cpu1(void)
{
    char line[512]; long a = -1, b = -1;
    FILE *f = fopen("/proc/interrupts", "r");
    if (!f) return -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, " CAL: %ld %ld", &a, &b) == 2) break;
    fclose(f);
    return b;
}

static int cmp(const void *a, const void *b) { uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b; return x < y ? -1 : x > y; }
static uint64_t lat[4000];

/* Latency of cmd: up to n calls, stopping after budget_ns. */
static void latency(const char *scen, int cmd, int n, uint64_t budget_ns)
{
    int i; long c0 = ipis_cpu1(); uint64_t t0 = nsnow();
    for (i = 0; i < n && nsnow() - t0 < budget_ns; i++) {
        uint64_t a = nsnow();
        if (membarrier(cmd)) { printf("  %-34s %-18s error\n", scen, cname(cmd)); return; }
        lat[i] = nsnow() - a;
    }
    long c1 = ipis_cpu1();
    qsort(lat, i, sizeof lat[0], cmp);
    printf("  %-30s %-18s calls %5d  median %7.0f ns  p99 %7.0f ns  IPIs to CPU 1 per call %.2f\n", scen, cname(cmd), i,
           (double)lat[i / 2], (double)lat[i * 99 / 100], (double)(c1 - c0) / i);
}

static volatile int sib_stop;
static void *sibling(void *x) { (void)x; pin(1); long s = 0; while (!sib_stop) s += LD(sh->spin); return (void *)s; }

static uint64_t wait_ns = 1000;      /* busy-wait for the MFENCE_WAIT control: median PRIVATE_EXPEDITED latency in (c) */
static uint64_t wait_ipi_ns = 20000; /* for MFENCE_WAIT_IPI: median GLOBAL_EXPEDITED latency in (b), B registered */

static void busy(uint64_t ns) { uint64_t t = nsnow(); while (nsnow() - t < ns) ; }

/* Litmus: rounds (capped by budget_ns) of the SB test with barrier cmd on A's side. */
static int g_dirty;
static void litmus(int cmd, int breg, int bfence, long rounds, uint64_t budget_ns)
{
    memset(sh, 0, sizeof *sh);
    sh->bfence = bfence; sh->bdirty = g_dirty;
    pid_t p = fork();
    if (p == 0) child(1, breg);
    while (!__atomic_load_n(&sh->ready, __ATOMIC_ACQUIRE)) ;
    long breg_mask = LD(sh->breg);
    long forbidden = 0, a0 = 0, b0 = 0, i;
    long c0 = ipis_cpu1(); uint64_t t0 = nsnow();
    for (i = 1; i <= rounds; i++) {
        if ((i & 63) == 0 && nsnow() - t0 > budget_ns) break;
        ST(sh->announce, 0);
        ST(sh->flag, 0);
        __atomic_store_n(&sh->go, i, __ATOMIC_RELEASE);
        delay(rnd() & amask);
        ST(sh->flag, 1);
        if (cmd == NONE) CB();
        else if (cmd == MFENCE) __atomic_thread_fence(__ATOMIC_SEQ_CST);
        else if (cmd == MFENCE_WAIT) { __atomic_thread_fence(__ATOMIC_SEQ_CST); busy(wait_ns); }
        else if (cmd == MFENCE_WAIT_IPI) { __atomic_thread_fence(__ATOMIC_SEQ_CST); busy(wait_ipi_ns); }
        else if (membarrier(cmd)) { perror("membarrier"); break; }
        long ra = LD(sh->announce);
        while (__atomic_load_n(&sh->done, __ATOMIC_ACQUIRE) != i) ;
        long rb = LD(sh->rb);
        a0 += ra == 0; b0 += rb == 0;
        forbidden += ra == 0 && rb == 0;
    }
    i--;
    double secs = (nsnow() - t0) * 1e-9;
    long c1 = ipis_cpu1();
    reap(p);
    printf("  %-35s B %-12s B-regs 0x%02lx rounds %6ld (%4.2f s) IPIs/round %4.2f  A-saw-0 %6ld  B-saw-0 %6ld  FORBIDDEN %ld\n",
           cname(cmd), bfence ? "mfence" : (breg ? "registered" : "unregistered"), breg_mask, i, secs,
           (double)(c1 - c0) / (i ? i : 1), a0, b0, forbidden);
}

/* Reader-side cost: announce store + dependent-free load of shared data, per iteration. */
static void reader_cost(void)
{
    enum { N = 20000000 };
    static long ann, data;
    long s = 0; uint64_t t;
    pin(0);
    t = nsnow(); for (long i = 0; i < N; i++) { ST(ann, i); CB(); s += LD(data); CB(); } double plain = (nsnow() - t) / (double)N;
    t = nsnow(); for (long i = 0; i < N; i++) { ST(ann, i); __atomic_thread_fence(__ATOMIC_SEQ_CST); s += LD(data); } double fence = (nsnow() - t) / (double)N;
    t = nsnow(); for (long i = 0; i < N; i++) { __atomic_exchange_n(&ann, i, __ATOMIC_SEQ_CST); s += LD(data); } double xchg = (nsnow() - t) / (double)N;
    printf("  plain store + load            %6.2f ns per announce\n", plain);
    printf("  store + seq_cst fence + load  %6.2f ns per announce (fence adds %.2f)\n", fence, fence - plain);
    printf("  xchg (locked) + load          %6.2f ns per announce (adds %.2f)\n", xchg, xchg - plain);
    if (s == 42) puts("");
}

int main(int argc, char **argv)
{
    long rounds = argc > 1 ? atol(argv[1]) : 600000;
    int dirty = argc > 2 ? atoi(argv[2]) : 48;
    setvbuf(stdout, 0, _IONBF, 0);
    sh = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED) { perror("mmap"); return 1; }
    pin(0);

    int q = membarrier(MEMBARRIER_CMD_QUERY);
    printf("1. MEMBARRIER_CMD_QUERY = 0x%x\n", q);
    static const struct { int c; const char *n; } cmds[] = {
        {MEMBARRIER_CMD_GLOBAL, "GLOBAL"}, {MEMBARRIER_CMD_GLOBAL_EXPEDITED, "GLOBAL_EXPEDITED"},
        {MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED, "REGISTER_GLOBAL_EXPEDITED"},
        {MEMBARRIER_CMD_PRIVATE_EXPEDITED, "PRIVATE_EXPEDITED"},
        {MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, "REGISTER_PRIVATE_EXPEDITED"},
        {MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE, "PRIVATE_EXPEDITED_SYNC_CORE"},
        {MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE, "REGISTER_PRIVATE_EXPEDITED_SYNC_CORE"},
        {MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ, "PRIVATE_EXPEDITED_RSEQ"},
        {MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ, "REGISTER_PRIVATE_EXPEDITED_RSEQ"},
        {MEMBARRIER_CMD_GET_REGISTRATIONS, "GET_REGISTRATIONS"}};
    for (unsigned i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        printf("   %-38s (0x%03x) %s\n", cmds[i].n, cmds[i].c, (q > 0 && (q & cmds[i].c)) ? "supported" : "NOT supported");
    /* A registers only for PRIVATE_EXPEDITED (needed to issue it); it never registers GLOBAL_EXPEDITED,
     * so the forked B starts unregistered and registers itself or not. */
    if (membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED)) perror("register private expedited");
    printf("   A's registrations (GET_REGISTRATIONS) = 0x%x\n", membarrier(MEMBARRIER_CMD_GET_REGISTRATIONS));

    static const int lc[] = {MEMBARRIER_CMD_GLOBAL, MEMBARRIER_CMD_GLOBAL_EXPEDITED, MEMBARRIER_CMD_PRIVATE_EXPEDITED};
    const uint64_t gbudget = 1500000000ull, budget = 3000000000ull;
    printf("\n2. latency of one call from A (CPU 0); GLOBAL capped at %.1f s per scenario\n", gbudget * 1e-9);
    for (int s = 0; s < 4; s++) {
        pid_t p = 0; pthread_t th;
        const char *scen = s == 0 ? "(a) A alone" : s == 1 ? "(b) B registered, spinning" : s == 2 ? "(c) B unregistered, spinning" : "(d) A + own thread spinning";
        if (s == 1 || s == 2) p = spawn(0, s == 1);
        if (s == 3) { sib_stop = 0; pthread_create(&th, 0, sibling, 0); usleep(10000); }
        for (int k = 0; k < 3; k++) {
            latency(scen, lc[k], 2000, lc[k] == MEMBARRIER_CMD_GLOBAL ? gbudget : budget);
            if (s == 2 && lc[k] == MEMBARRIER_CMD_PRIVATE_EXPEDITED) wait_ns = lat[1000];
            if (s == 1 && lc[k] == MEMBARRIER_CMD_GLOBAL_EXPEDITED) wait_ipi_ns = lat[1000];
        }
        if (p) reap(p);
        if (s == 3) { sib_stop = 1; pthread_join(th, 0); }
    }

    for (int stress = 0; stress < 2; stress++) {
        g_dirty = stress ? dirty : 0;
        amask = stress ? 4095 : 1023;
        uint64_t key = stress ? 4000000000ull : 1000000000ull, ctl = 1000000000ull;
        if (stress) { /* back the buffer's memory once (first touch in this VM is slow), so B's setup is quick */
            void *w = mmap(0, (size_t)DIRTY_MIB << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
            if (w != MAP_FAILED) munmap(w, (size_t)DIRTY_MIB << 20);
        }
        printf("\n3%s. store-buffering litmus, A (reclaimer) CPU 0, B (reader, separate process) CPU 1; up to %ld rounds, at most %.1f s per membarrier row, %.1f s per control%s\n",
               stress ? "b" : "a", rounds, key * 1e-9, ctl * 1e-9,
               stress ? "; B first does cache-missing stores to random lines of 128 MiB, so its announce waits in the store buffer" : "");
        if (stress) printf("   stores queued ahead of the announce: %d\n", g_dirty);
        printf("   busy-waits in the mfence+wait controls: %llu ns (median PRIVATE_EXPEDITED in (c)), %llu ns (median GLOBAL_EXPEDITED in (b))\n",
               (unsigned long long)wait_ns, (unsigned long long)wait_ipi_ns);
        litmus(NONE, 0, 0, rounds, ctl);
        litmus(MFENCE, 0, 0, rounds, ctl);
        litmus(MFENCE_WAIT, 0, 0, rounds, ctl);
        if (stress) litmus(MFENCE_WAIT_IPI, 0, 0, rounds, key);
        litmus(MEMBARRIER_CMD_PRIVATE_EXPEDITED, 1, 0, rounds, key);
        litmus(MEMBARRIER_CMD_GLOBAL_EXPEDITED, 0, 0, rounds, key);
        litmus(MEMBARRIER_CMD_GLOBAL_EXPEDITED, 1, 0, rounds, key);
        litmus(MEMBARRIER_CMD_GLOBAL, 0, 0, rounds, key);
        litmus(MFENCE, 0, 1, rounds, ctl);
    }
    printf("\n4. reader side, one thread on CPU 0\n");
    reader_cost();
    return 0;
}
