/*
 * The public symbols of libfastmap.so: each keeps the caller's errno across a successful call.
 *
 * fastmap.h promises what libbpf promises: a failed call sets errno to its negative result's
 * errno, a successful call leaves errno alone. The library's exports are managed code
 * (NativeAOT, `[UnmanagedCallersOnly]` methods named fmrt_*), and the runtime under them writes
 * errno on its own: its start-up on a process's first call, its thread attach on a thread's first
 * call, its allocator under an address-space limit. Managed code runs only after those, too late to
 * save anything, so the save and the restore live here, in C, before the first instruction of the
 * runtime. Every function is the same three steps: save errno, call the managed export, put errno
 * back unless the call failed (a negative int, or NULL from fm_map_lookup_elem_ptr). Functions
 * that report no error put it back always.
 *
 * Only the fm_* names are exported (the version script in FastMap.Native.csproj); fmrt_* stay
 * local to the library. Cost: one direct call and a thread-local load and store (errno), about a
 * nanosecond next to the runtime's own transition.
 */
#define _POSIX_C_SOURCE 200809L /* struct sigaction under -std=c11 */
#define FM_NO_INLINE 1 /* the library defines the real functions; the header's inline reads are for callers */
#include "../include/fastmap.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>

#define RT(name) fmrt_##name

/* The managed exports (native-exports/Exports*.cs), one per public function, same signatures. */
int RT(map_create)(uint32_t, const char *, uint32_t, uint32_t, uint32_t, const struct fm_map_create_opts *);
int RT(map_close)(int);
int RT(map_lookup_elem)(int, const void *, void *);
int RT(map_lookup_elem_flags)(int, const void *, void *, uint64_t);
int RT(map_update_elem)(int, const void *, const void *, uint64_t);
int RT(map_delete_elem)(int, const void *);
int RT(map_delete_elem_flags)(int, const void *, uint64_t);
int RT(map_delete_elem_cmp)(int, const void *, const void *, uint32_t, uint32_t);
int RT(map_update_elem_cmp)(int, const void *, const void *, const void *, uint32_t, uint32_t, uint64_t);
int RT(map_lookup_and_delete_elem)(int, const void *, void *);
int RT(map_get_next_key)(int, const void *, void *);
int RT(map_lookup_batch)(int, void *, void *, void *, void *, uint32_t *, uint64_t);
int RT(map_lookup_and_delete_batch)(int, void *, void *, void *, void *, uint32_t *, uint64_t);
int RT(map_update_batch)(int, const void *, const void *, uint32_t *, uint64_t);
int RT(map_delete_batch)(int, const void *, uint32_t *, uint64_t);
int RT(map_delete_batch_cmp)(int, const void *, const void *, uint32_t, uint32_t, int32_t *, uint32_t *);
int RT(map_update_batch_cmp)(int, const void *, const void *, const void *, uint32_t, uint32_t, int32_t *, uint32_t *);
int RT(map_lookup_bulk)(int, const void *, void *, int32_t *, uint32_t);
int RT(bpf)(int, void *, unsigned int);
int RT(obj_pin)(int, const char *);
int RT(obj_get)(const char *, uint32_t);
void RT(read_lock)(void);
void RT(read_unlock)(void);
void *RT(map_lookup_elem_ptr)(int, const void *);
const void *RT(_layouts)(uint32_t *, uint32_t *);
void *RT(_thread)(void);
const int64_t *RT(_epoch)(void);
void RT(_advance)(void);

/*
 * The runtime starts on the process's first call, and its start-up sets SIGPIPE to SIG_IGN for the
 * whole process (so that its own socket writes get EPIPE), replacing SIG_DFL or a handler the host
 * installed. A C host did not ask for that: the first call starts the runtime here, between saving
 * SIGPIPE's disposition and putting it back. Later calls pay one load and a predicted branch.
 */
static int started;
static pthread_once_t start_once = PTHREAD_ONCE_INIT;

static void start_runtime(void)
{
	struct sigaction host;
	int saved = sigaction(SIGPIPE, NULL, &host) == 0;

	(void)RT(_epoch)(); /* any export starts the runtime; this one does nothing else */
	if (saved)
		sigaction(SIGPIPE, &host, NULL);
	__atomic_store_n(&started, 1, __ATOMIC_RELEASE);
}

#define START()                                                                   \
	do {                                                                      \
		if (__builtin_expect(!__atomic_load_n(&started, __ATOMIC_ACQUIRE), 0)) \
			pthread_once(&start_once, start_runtime);                 \
	} while (0)

/* The library's version, from Directory.Build.props (FastMap.Native.csproj passes it): the header
 * it ships with must say the same, or the build stops here. */
#if !defined(FM_BUILD_MAJOR) || FM_BUILD_MAJOR != FM_VERSION_MAJOR || FM_BUILD_MINOR != FM_VERSION_MINOR || \
	FM_BUILD_PATCH != FM_VERSION_PATCH
#error "include/fastmap.h's FM_VERSION_* differ from Directory.Build.props' VersionPrefix"
#endif

uint32_t fm_version(void) { return FM_VERSION; } /* plain C: no runtime start, errno untouched */

/* An int call: a negative result is the failure whose errno the export has set. */
#define KEEP_ERRNO_INT(call)                  \
	do {                                  \
		int saved_ = errno;           \
		START();                      \
		int ret_ = (call);            \
		if (ret_ >= 0)                \
			errno = saved_;       \
		return ret_;                  \
	} while (0)

/* A call that reports no error through errno. */
#define KEEP_ERRNO_ALWAYS(type, call)         \
	do {                                  \
		int saved_ = errno;           \
		START();                      \
		type ret_ = (call);           \
		errno = saved_;               \
		return ret_;                  \
	} while (0)

#define KEEP_ERRNO_VOID(call)                 \
	do {                                  \
		int saved_ = errno;           \
		START();                      \
		call;                         \
		errno = saved_;               \
	} while (0)

int fm_map_create(uint32_t map_type, const char *name, uint32_t key_size, uint32_t value_size,
		  uint32_t max_entries, const struct fm_map_create_opts *opts)
{
	KEEP_ERRNO_INT(RT(map_create)(map_type, name, key_size, value_size, max_entries, opts));
}

int fm_map_close(int fd) { KEEP_ERRNO_INT(RT(map_close)(fd)); }

int fm_map_lookup_elem(int fd, const void *key, void *value)
{
	KEEP_ERRNO_INT(RT(map_lookup_elem)(fd, key, value));
}

int fm_map_lookup_elem_flags(int fd, const void *key, void *value, uint64_t flags)
{
	KEEP_ERRNO_INT(RT(map_lookup_elem_flags)(fd, key, value, flags));
}

int fm_map_update_elem(int fd, const void *key, const void *value, uint64_t flags)
{
	KEEP_ERRNO_INT(RT(map_update_elem)(fd, key, value, flags));
}

int fm_map_delete_elem(int fd, const void *key) { KEEP_ERRNO_INT(RT(map_delete_elem)(fd, key)); }

int fm_map_delete_elem_flags(int fd, const void *key, uint64_t flags)
{
	KEEP_ERRNO_INT(RT(map_delete_elem_flags)(fd, key, flags));
}

int fm_map_delete_elem_cmp(int fd, const void *key, const void *compare, uint32_t compare_offset,
			   uint32_t compare_size)
{
	KEEP_ERRNO_INT(RT(map_delete_elem_cmp)(fd, key, compare, compare_offset, compare_size));
}

int fm_map_update_elem_cmp(int fd, const void *key, const void *value, const void *compare,
			   uint32_t compare_offset, uint32_t compare_size, uint64_t flags)
{
	KEEP_ERRNO_INT(RT(map_update_elem_cmp)(fd, key, value, compare, compare_offset, compare_size, flags));
}

int fm_map_lookup_and_delete_elem(int fd, const void *key, void *value)
{
	KEEP_ERRNO_INT(RT(map_lookup_and_delete_elem)(fd, key, value));
}

int fm_map_get_next_key(int fd, const void *key, void *next_key)
{
	KEEP_ERRNO_INT(RT(map_get_next_key)(fd, key, next_key));
}

int fm_map_lookup_batch(int fd, void *in_batch, void *out_batch, void *keys, void *values,
			uint32_t *count, uint64_t elem_flags)
{
	KEEP_ERRNO_INT(RT(map_lookup_batch)(fd, in_batch, out_batch, keys, values, count, elem_flags));
}

int fm_map_lookup_and_delete_batch(int fd, void *in_batch, void *out_batch, void *keys,
				   void *values, uint32_t *count, uint64_t elem_flags)
{
	KEEP_ERRNO_INT(RT(map_lookup_and_delete_batch)(fd, in_batch, out_batch, keys, values, count,
						       elem_flags));
}

int fm_map_update_batch(int fd, const void *keys, const void *values, uint32_t *count,
			uint64_t elem_flags)
{
	KEEP_ERRNO_INT(RT(map_update_batch)(fd, keys, values, count, elem_flags));
}

int fm_map_delete_batch(int fd, const void *keys, uint32_t *count, uint64_t elem_flags)
{
	KEEP_ERRNO_INT(RT(map_delete_batch)(fd, keys, count, elem_flags));
}

int fm_map_delete_batch_cmp(int fd, const void *keys, const void *compares,
			    uint32_t compare_offset, uint32_t compare_size, int32_t *results,
			    uint32_t *count)
{
	KEEP_ERRNO_INT(RT(map_delete_batch_cmp)(fd, keys, compares, compare_offset, compare_size,
						results, count));
}

int fm_map_update_batch_cmp(int fd, const void *keys, const void *values, const void *compares,
			    uint32_t compare_offset, uint32_t compare_size, int32_t *results, uint32_t *count)
{
	KEEP_ERRNO_INT(RT(map_update_batch_cmp)(fd, keys, values, compares, compare_offset, compare_size, results,
						count));
}

int fm_map_lookup_bulk(int fd, const void *keys, void *values, int32_t *results, uint32_t count)
{
	KEEP_ERRNO_INT(RT(map_lookup_bulk)(fd, keys, values, results, count));
}

int fm_bpf(int cmd, void *attr, unsigned int size) { KEEP_ERRNO_INT(RT(bpf)(cmd, attr, size)); }

int fm_obj_pin(int fd, const char *pathname) { KEEP_ERRNO_INT(RT(obj_pin)(fd, pathname)); }

int fm_obj_get(const char *pathname, uint32_t file_flags) { KEEP_ERRNO_INT(RT(obj_get)(pathname, file_flags)); }

void fm_read_lock(void) { KEEP_ERRNO_VOID(RT(read_lock)()); }

void fm_read_unlock(void) { KEEP_ERRNO_VOID(RT(read_unlock)()); }

void *fm_map_lookup_elem_ptr(int fd, const void *key)
{
	int saved = errno;
	START();
	void *p = RT(map_lookup_elem_ptr)(fd, key);

	if (p)
		errno = saved;
	return p;
}

const void *fm__layouts(uint32_t *version, uint32_t *handles)
{
	KEEP_ERRNO_ALWAYS(const void *, RT(_layouts)(version, handles));
}

void *fm__thread(void) { KEEP_ERRNO_ALWAYS(void *, RT(_thread)()); }

const int64_t *fm__epoch(void) { KEEP_ERRNO_ALWAYS(const int64_t *, RT(_epoch)()); }

void fm__advance(void) { KEEP_ERRNO_VOID(RT(_advance)()); }
