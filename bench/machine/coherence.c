/* What a cache line written by the other core costs on this machine: random read-modify-writes of 64-byte
 * lines in a shared, cache-resident array, from 1 thread and from 2 (with 2, a line was last written by the
 * other core half of the time), plain and locked (lock xadd). No map involved: the bound any table that
 * writes shared lines on every update runs into.
 *   cc -O2 -pthread -o coherence bench/machine/coherence.c && ./coherence [MiB, default 4]
 * Measured on the 2-vCPU VM (perf-results/2026-12-03-vm-storage-v2/SUMMARY.md): 6.2 ns per locked RMW from one
 * thread, 29 ns per thread from two, so two threads did 0.43x the work of one. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
static uint64_t *arr; static size_t lines; static long ops=20000000; static int locked;
static void *run(void *a){ uint64_t x=(uintptr_t)a*0x9E3779B97F4A7C15ull+1; for(long i=0;i<ops;i++){ x^=x<<13;x^=x>>7;x^=x<<17; uint64_t *p=arr+(x%lines)*8; if(locked) __atomic_fetch_add(p,1,__ATOMIC_SEQ_CST); else (*(volatile uint64_t*)p)++; } return NULL; }
int main(int argc,char**argv){ size_t mb=argc>1?atoi(argv[1]):4; lines=mb*1024*1024/64; arr=aligned_alloc(64,lines*64); for(size_t i=0;i<lines*8;i++)arr[i]=0;
 for(int rep=0;rep<3;rep++) for(locked=0;locked<2;locked++) for(int t=1;t<=2;t++){ pthread_t th[2]; double t0=now(); for(int i=0;i<t;i++)pthread_create(&th[i],0,run,(void*)(uintptr_t)(i+1+rep*7)); for(int i=0;i<t;i++)pthread_join(th[i],0); double t1=now();
   printf("%s %d thread(s): %.1f ns per op per thread\n", locked?"lock xadd":"plain rmw", t, (t1-t0)*1e9/ops); } }
