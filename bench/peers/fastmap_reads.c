/* FastMap-C's inline calls as a C program makes them: fastmap.h's fm_map_lookup_elem(),
 * fm_read_lock(), fm_map_lookup_elem_ptr(), fm_read_unlock() and fm_map_delete_elem_cmp(), compiled
 * here and called by the stress harness through one function call per op (as it calls the other C
 * peers). Writes need no shim: a C program calls the library's exports for them, and so does the
 * harness.
 * Built by build.sh against the installed header and library (build/native-prefix). */
#include <stdint.h>

#include <fastmap.h>

#ifndef FM_INLINE_READS
#error "fastmap_reads.c measures the header's inline reads: GCC or Clang on x86-64"
#endif

/* The library this shim was linked with: the harness checks it is the one it loaded. */
const void *fms_library(void)
{
	return (const void *)&fm__layouts;
}

int fms_lookup(int fd, const void *key, void *value)
{
	return fm_map_lookup_elem(fd, key, value);
}

/* The collector's compare-and-delete: -EBUSY (the window differs) and -ENOENT are decided inline,
 * a match calls the library for the delete. */
int fms_delete_cmp(int fd, const void *key, const void *compare, uint32_t offset, uint32_t size)
{
	return fm_map_delete_elem_cmp(fd, key, compare, offset, size);
}

/* The datapath's refresh: in a section, find the value, store the revision (one aligned 8-byte
 * store), and check the entry is still linked. 1 refreshed, 0 absent, -1 deleted meanwhile. */
int fms_store_revision(int fd, const void *key, uint64_t revision)
{
	uint64_t *p;
	int r = 0;

	fm_read_lock();
	p = (uint64_t *)fm_map_lookup_elem_ptr(fd, key);
	if (p) {
		__atomic_store_n(p, revision, __ATOMIC_RELEASE);
		r = fm_map_lookup_elem_ptr(fd, key) == p ? 1 : -1;
	}
	fm_read_unlock();
	return r;
}
