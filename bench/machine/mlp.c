/* How many DRAM misses this machine overlaps: k independent pointer chases through a 1 GiB array (random
 * cycles, 64-byte nodes), interleaved in one loop, so k misses can be in flight at once. ns per load at
 * k = 1 is the DRAM latency; if it stops falling as k grows, that k is the memory parallelism one core
 * gets, and no software pipeline (bulk lookup, batch compare-and-delete) does better per key.
 *   cc -O2 -o mlp bench/machine/mlp.c && ./mlp [MiB, default 1024] */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
	size_t mib = argc > 1 ? (size_t)atoi(argv[1]) : 1024, n = mib * 1024 * 1024 / 64, i;
	uint64_t *next = aligned_alloc(64, n * 64), x = 88172645463325252ull;
	uint32_t *perm = malloc(n * sizeof(uint32_t));

	if (!next || !perm)
		return 1;
	for (i = 0; i < n; i++)
		perm[i] = (uint32_t)i;
	for (i = n - 1; i > 0; i--) { /* one random cycle through every node */
		size_t j;
		uint32_t t;

		x ^= x << 13; x ^= x >> 7; x ^= x << 17;
		j = x % (i + 1);
		t = perm[i]; perm[i] = perm[j]; perm[j] = t;
	}
	for (i = 0; i < n; i++)
		next[perm[i] * 8] = perm[(i + 1) % n];
	for (int k = 1; k <= 32; k *= 2) {
		uint64_t p[32];
		long steps = 4000000 / k;
		double t0;

		for (int c = 0; c < k; c++)
			p[c] = perm[(size_t)c * (n / k)];
		t0 = now();
		for (long s = 0; s < steps; s++)
			for (int c = 0; c < k; c++)
				p[c] = next[p[c] * 8];
		printf("%2d chains: %6.1f ns per load (%lu)\n", k, (now() - t0) * 1e9 / (double)(steps * k), (unsigned long)(p[0] & 1));
	}
	return 0;
}
