/* Edges where a caller can hurt itself (issue 12), built inline and with FM_NO_INLINE:
 *   1. fm_map_lookup_elem_ptr() outside a read-side section answers NULL with errno EINVAL, checked
 *      before the key and the handle, inline as in the library: also for a key the inline probe could
 *      answer by itself (a pinned map, the key in its home group). Inside a section entered through
 *      either the inline fm_read_lock() or the library's, it answers the pointer.
 *   2. An unmatched fm_read_unlock() (inline or the library's) does nothing: errno is untouched, and
 *      the thread's sections still work afterwards (the depth never goes below zero).
 * Exit status = ordinal of the first failed check. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include <fastmap.h>

#include "check.h"

static int g_fd;
static const uint32_t g_key = 7;

/* NULL and errno EINVAL, and errno is what the call set (not left from before). */
#define CHECK_NOT_IN_SECTION(call)              \
	do {                                    \
		errno = 0;                      \
		CHECK((call) == NULL);          \
		CHECK_RET(errno, EINVAL);       \
	} while (0)

/* 1. Outside a section: EINVAL first, whatever the arguments; inside: the usual answers. */
static void ptr_outside_section(void)
{
	uint32_t miss = 8;
	uint64_t *p;

	CHECK_NOT_IN_SECTION(fm_map_lookup_elem_ptr(g_fd, &g_key)); /* present, pinned: inline could answer */
	CHECK_NOT_IN_SECTION((fm_map_lookup_elem_ptr)(g_fd, &g_key)); /* the library's function */
	CHECK_NOT_IN_SECTION(fm_map_lookup_elem_ptr(g_fd, &miss));   /* absent */
	CHECK_NOT_IN_SECTION(fm_map_lookup_elem_ptr(g_fd, NULL));    /* before the key check (EFAULT) */
	CHECK_NOT_IN_SECTION(fm_map_lookup_elem_ptr(12345, &g_key)); /* before the handle check */

	fm_read_lock();
	p = fm_map_lookup_elem_ptr(g_fd, &g_key);
	CHECK(p != NULL && *p == 0x1111);
	CHECK((fm_map_lookup_elem_ptr)(g_fd, &g_key) == p);
	errno = 0;
	CHECK(fm_map_lookup_elem_ptr(g_fd, &miss) == NULL);
	CHECK_RET(errno, ENOENT);
	errno = 0;
	CHECK(fm_map_lookup_elem_ptr(g_fd, NULL) == NULL);
	CHECK_RET(errno, EFAULT);
	fm_read_unlock();
	CHECK_NOT_IN_SECTION(fm_map_lookup_elem_ptr(g_fd, &g_key)); /* the section ended */

	/* The library's section counts for the inline lookup, and the inline section for the library's. */
	(fm_read_lock)();
	CHECK(fm_map_lookup_elem_ptr(g_fd, &g_key) == p);
	(fm_read_unlock)();
	CHECK_NOT_IN_SECTION(fm_map_lookup_elem_ptr(g_fd, &g_key));
	fm_read_lock();
	CHECK((fm_map_lookup_elem_ptr)(g_fd, &g_key) == p);
	fm_read_unlock();
	CHECK_NOT_IN_SECTION((fm_map_lookup_elem_ptr)(g_fd, &g_key));
}

/* 2. Unmatched unlocks: no effect, errno kept. */
static void unmatched_unlock(void)
{
	errno = 4242;
	fm_read_unlock();
	CHECK_RET(errno, 4242);
	(fm_read_unlock)();
	CHECK_RET(errno, 4242);
	fm_read_lock();
	fm_read_unlock();
	fm_read_unlock(); /* one too many, after a balanced pair */
	(fm_read_unlock)();
	CHECK_RET(errno, 4242);
	/* Still outside: an unlock did not push the depth below zero... */
	CHECK_NOT_IN_SECTION(fm_map_lookup_elem_ptr(g_fd, &g_key));
	/* ...so one lock enters a section again, and one unlock leaves it. */
	fm_read_lock();
	errno = 4242;
	CHECK(fm_map_lookup_elem_ptr(g_fd, &g_key) != NULL);
	CHECK_RET(errno, 4242);
	fm_read_unlock();
	CHECK_NOT_IN_SECTION(fm_map_lookup_elem_ptr(g_fd, &g_key));
}

/* A thread that starts with an unmatched unlock (no epoch slot yet), then runs both checks. */
static void *fresh_thread(void *arg)
{
	(void)arg;
	errno = 4242;
	fm_read_unlock();
	CHECK_RET(errno, 4242);
	CHECK_NOT_IN_SECTION(fm_map_lookup_elem_ptr(g_fd, &g_key)); /* never in a section */
	unmatched_unlock();
	ptr_outside_section();
	return NULL;
}

int main(void)
{
	uint64_t v = 0x1111;
	pthread_t t;

	g_fd = fm_map_create(FM_MAP_TYPE_HASH, "edges", sizeof(uint32_t), sizeof(v), 64, NULL);
	CHECK(g_fd >= 0);
	CHECK_RET(fm_map_update_elem(g_fd, &g_key, &v, FM_ANY), 0);
	/* Pin the map (the library does on the first address it hands out): from now on the inline probe
	 * can answer a pointer lookup by itself. */
	fm_read_lock();
	CHECK(fm_map_lookup_elem_ptr(g_fd, &g_key) != NULL);
	fm_read_unlock();

	ptr_outside_section();
	unmatched_unlock();
	CHECK_RET(pthread_create(&t, NULL, fresh_thread, NULL), 0);
	CHECK_RET(pthread_join(t, NULL), 0);

	CHECK_RET(fm_map_close(g_fd), 0);
	printf("edges: %d checks passed\n", fm_checks_run);
	return 0;
}

CHECK_SITES_FIT();
