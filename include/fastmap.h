/* SPDX-License-Identifier: MIT */
/**
 * @file fastmap.h
 * @brief C API of libfastmap.so: a userspace BPF hash map with compare-and-delete.
 *
 * FastMap answers like the Linux kernel's BPF hash map through bpf(2), plus the
 * RFC's BPF_F_COMPARE (compare-and-delete on a byte window of the value). The
 * functions follow libbpf's bpf.h: mandatory arguments are positional, optional
 * ones travel in an opts struct that carries its own size.
 *
 * Errors. Every function returning int returns 0 on success (fm_map_create: a
 * handle >= 0) or a negative errno, and on failure also sets errno to the
 * positive value, as libbpf does. Successful calls leave errno alone. A NULL
 * where a pointer is required gives -EFAULT. No exception or signal escapes
 * the library for a bad argument.
 *
 * Threads. Any thread may call any function, including threads the library
 * has never seen; the first call attaches the thread. Each thread that enters
 * a read-side section (fm_read_lock()) is given an epoch slot, and the slot
 * is returned when the thread exits, so short-lived threads leave no growing
 * state behind. A thread that exits while still inside a read-side section is
 * treated as having left it only once its slot is reclaimed after exit; until
 * then it holds back reclamation of deleted entries (memory grows, nothing is
 * corrupted), much like a task that exits holding rcu_read_lock(). Always pair
 * fm_read_lock() with fm_read_unlock() before a thread returns.
 *
 * Memory. Values are stored 8-byte aligned (as the kernel places a value after
 * a key rounded up to 8 bytes), so a datapath may refresh an aligned 8-byte
 * field (a revision, a timestamp) with one atomic store through the pointer
 * from fm_map_lookup_elem_ptr(). Compare-and-delete is atomic against every
 * other map operation. An in-place writer takes no lock (nor does a BPF
 * program in the kernel: the RFC's atomicity boundary), so compare a single
 * aligned word that such writers store whole: a refresh that completed before
 * the delete was called is always seen (-EBUSY); one that lands while the
 * delete runs may be lost with the entry, as either order is then correct.
 *
 * Signals. libfastmap.so carries the .NET runtime (NativeAOT). It starts on the process's first
 * fm_* call and then, for the whole process:
 *  - handles SIGSEGV and SIGFPE (managed code turns null dereferences and divisions by zero into
 *    exceptions this way). A fault outside the library's managed code goes to the handler that was
 *    installed before the first fm_* call; if there was none, the default action is restored and
 *    the fault repeats, so the process dies of SIGSEGV/SIGFPE (and dumps core) as without FastMap,
 *    on any thread. A handler the host installs before its first call keeps working, on the same
 *    kind of stack (SA_ONSTACK is kept). Such a handler should siglongjmp out or `_exit`: returning
 *    from a fault it did not fix repeats the fault forever. A handler installed after the first
 *    call replaces the runtime's; for faults that are not its own it should chain to the previous
 *    handler (sigaction's third argument).
 *  - handles SIGRTMIN, the runtime's signal for suspending threads for garbage collection; the
 *    handler chains to a previous one. Do not use SIGRTMIN yourself. A thread that blocks it can
 *    delay a collection until it leaves its fm_* call.
 *  - SIGPIPE: the runtime's start-up sets it to SIG_IGN; the library saves the host's disposition
 *    before and restores it after, so SIGPIPE stays as the host set it.
 * No environment variable or build setting turns these off. tests/c/signal_host.c checks each.
 *
 * Shared maps. A map created with FM_F_SHARED (hash, per-CPU hash or LRU hash) lives in a file on a
 * tmpfs instead of in the process: an unnamed file (O_TMPFILE) in /dev/shm, or in $FASTMAP_SHM_DIR
 * if set. fm_obj_pin() gives it a path on that same file system (BPF_OBJ_PIN; bpffs has no part
 * in it), and any process that may read and write the file opens it with fm_obj_get() (BPF_OBJ_GET),
 * getting its own handle to the same entries. Clean up as for a pinned kernel map: unlink(2) the
 * path; the map goes when its path is removed and every process has closed it (or exited). A pin is
 * a plain file, so rename(2) and chmod(2) work on it as on any other; every handle, a read-only one
 * too, needs read and write permission on it (its readers announce themselves there).
 *  - A handle from fm_obj_get(path, FM_F_RDONLY) maps the map's data read-only: updates and
 *    deletes through it answer -EPERM. FM_F_WRONLY gives a handle whose lookups answer -EPERM.
 *  - The inline reads (below) are not used for shared maps: every call on one goes through the
 *    library, which also keeps the processes' epochs apart.
 *  - Crashes: a process killed at any instruction (SIGKILL included) leaves the map usable and
 *    whole for the others. Locks it held are taken back by the next process that waits on one,
 *    a value it was overwriting is put back as it was, capacity tokens it held are returned,
 *    and its read-side sections stop holding back reclamation at once. What a crash can still
 *    leave: a lookup that probes one group further than it needs, an empty overflow record,
 *    and a record it had taken and not linked (README: "Shared maps").
 *  - A map whose every path has been removed cannot be pinned again (-ENOENT: Linux does not
 *    link a file back once its last link is gone); pin a second path first to move one.
 *  - At most 64 processes attach to one map at once (-ENOMEM past that) and 256 of their
 *    threads use it at once (a thread takes a slot on its first call and keeps it until it exits).
 *  - fork(2): a child must not use a shared map its parent had open when it forked (nor any
 *    other FastMap map: the runtime does not survive fork). The child also inherits the
 *    parent's liveness lock on the map's file, so the map cannot tell a dead parent from a live
 *    one while the child runs. Fork before the first fm_* call, or exec(2) in the child.
 *
 * Build: cc app.c $(pkg-config --cflags --libs fastmap)
 * CMake: find_package(FastMap CONFIG REQUIRED); target_link_libraries(app PRIVATE FastMap::fastmap)
 */
#ifndef FASTMAP_H
#define FASTMAP_H

#include <stddef.h>
#include <stdint.h>
#include <string.h> /* memset, for FM_OPTS */

#ifndef FM_API
#  if defined(_WIN32)
#    define FM_API __declspec(dllimport)
#  elif defined(__GNUC__) && __GNUC__ >= 4
#    define FM_API __attribute__((visibility("default")))
#  else
#    define FM_API
#  endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

/** Major version of this header (Directory.Build.props' VersionPrefix; the library is built from the same). */
#define FM_VERSION_MAJOR 0
/** Minor version of this header. */
#define FM_VERSION_MINOR 1
/** Patch version of this header. */
#define FM_VERSION_PATCH 0
/** The version as one number: major << 16 | minor << 8 | patch, as fm_version() returns it. */
#define FM_VERSION ((FM_VERSION_MAJOR << 16) | (FM_VERSION_MINOR << 8) | FM_VERSION_PATCH)

/* Map types: the numbers of the kernel's enum bpf_map_type. */
#define FM_MAP_TYPE_HASH         1  /**< BPF_MAP_TYPE_HASH: compare-and-delete and compare-and-swap (also LRU_HASH with FM_F_LRU_COMPARE). */
#define FM_MAP_TYPE_ARRAY        2  /**< BPF_MAP_TYPE_ARRAY: 4-byte index keys, every slot present. */
#define FM_MAP_TYPE_PERCPU_HASH  5  /**< BPF_MAP_TYPE_PERCPU_HASH. */
#define FM_MAP_TYPE_LRU_HASH     9  /**< BPF_MAP_TYPE_LRU_HASH: a full map evicts on insert. */

/* Element flags (update/lookup/delete): the kernel's BPF_* values. */
#define FM_ANY        0   /**< BPF_ANY: create or replace. */
#define FM_NOEXIST    1   /**< BPF_NOEXIST: create only (-EEXIST if present). */
#define FM_EXIST      2   /**< BPF_EXIST: replace only (-ENOENT if absent). */
#define FM_F_LOCK     4   /**< BPF_F_LOCK: copy the value under its embedded spin lock. */
#define FM_F_COMPARE  32  /**< BPF_F_COMPARE (RFC): delete (and, FastMap's extension, update) only if the compare window matches. */

/* Map creation flags (opts.map_flags): the kernel's BPF_F_* values. */
#define FM_F_NO_PREALLOC  1   /**< BPF_F_NO_PREALLOC: accepted by hash and per-CPU hash maps, as by the kernel (LRU: -FM_ENOTSUPP;
                                   array: -EINVAL), with no effect: every map reserves its memory at create and the
                                   kernel commits its pages as entries use them. */
#define FM_F_RDONLY       8   /**< BPF_F_RDONLY: the handle cannot write (-EPERM). */
#define FM_F_WRONLY       16  /**< BPF_F_WRONLY: the handle cannot read (-EPERM). */
#define FM_F_ZERO_SEED    64  /**< BPF_F_ZERO_SEED: fixed hash seed, reproducible layout. */
#define FM_F_RDONLY_PROG  128 /**< BPF_F_RDONLY_PROG: BPF programs may only read (accepted; FastMap runs no programs). */
#define FM_F_WRONLY_PROG  256 /**< BPF_F_WRONLY_PROG: BPF programs may only write (accepted, as above). Not with
                                   FM_F_RDONLY_PROG (-EINVAL), and neither on a map with a spin lock (-EACCES). */
#define FM_F_LRU_COMPARE  (1u << 30) /**< FastMap's own: an FM_MAP_TYPE_LRU_HASH map that accepts the compare
                                        functions (compare-and-delete, compare-and-swap, single and batch),
                                        atomic against its evictions (an evicted entry is -ENOENT). Any other
                                        map type refuses it (-EINVAL, the kernel's answer to an unknown
                                        flag); without it an LRU map answers -EOPNOTSUPP, as the RFC's. */
#define FM_F_SHARED       (1u << 29) /**< FastMap's own: a hash, per-CPU hash or LRU hash map that lives in a
                                        file on a tmpfs (/dev/shm or $FASTMAP_SHM_DIR), so that fm_obj_pin()
                                        can give it a path and other processes can fm_obj_get() it (see
                                        "Shared maps" above). Arrays refuse it (-EINVAL), and so does a map
                                        with a spin lock in its value (-EOPNOTSUPP). */

/* Commands for fm_bpf(): the numbers of the kernel's enum bpf_cmd. */
#define FM_BPF_MAP_CREATE                  0  /**< BPF_MAP_CREATE: fm_map_create(); returns the handle. */
#define FM_BPF_MAP_LOOKUP_ELEM             1  /**< BPF_MAP_LOOKUP_ELEM: fm_map_lookup_elem_flags(). */
#define FM_BPF_MAP_UPDATE_ELEM             2  /**< BPF_MAP_UPDATE_ELEM: fm_map_update_elem(); with FM_F_COMPARE, fm_map_update_elem_cmp(). */
#define FM_BPF_MAP_DELETE_ELEM             3  /**< BPF_MAP_DELETE_ELEM: fm_map_delete_elem_flags(); with FM_F_COMPARE, fm_map_delete_elem_cmp(). */
#define FM_BPF_MAP_GET_NEXT_KEY            4  /**< BPF_MAP_GET_NEXT_KEY: fm_map_get_next_key(). */
#define FM_BPF_OBJ_PIN                     6  /**< BPF_OBJ_PIN: fm_obj_pin() (FM_F_SHARED maps). */
#define FM_BPF_OBJ_GET                     7  /**< BPF_OBJ_GET: fm_obj_get(); returns the new handle. */
#define FM_BPF_MAP_LOOKUP_AND_DELETE_ELEM  21 /**< BPF_MAP_LOOKUP_AND_DELETE_ELEM: fm_map_lookup_and_delete_elem() (flags 0 or FM_F_LOCK). */
#define FM_BPF_MAP_LOOKUP_BATCH            24 /**< BPF_MAP_LOOKUP_BATCH: fm_map_lookup_batch(). */
#define FM_BPF_MAP_LOOKUP_AND_DELETE_BATCH 25 /**< BPF_MAP_LOOKUP_AND_DELETE_BATCH: fm_map_lookup_and_delete_batch(). */
#define FM_BPF_MAP_UPDATE_BATCH            26 /**< BPF_MAP_UPDATE_BATCH: fm_map_update_batch(); with FM_F_COMPARE in elem_flags, fm_map_update_batch_cmp(). */
#define FM_BPF_MAP_DELETE_BATCH            27 /**< BPF_MAP_DELETE_BATCH: fm_map_delete_batch(); with FM_F_COMPARE in elem_flags, fm_map_delete_batch_cmp(). */

/** The kernel-internal ENOTSUPP, which bpf(2) returns to user space (not in errno.h). */
#define FM_ENOTSUPP 524

/**
 * @brief Optional arguments of fm_map_create().
 *
 * Declare with FM_OPTS() so that sz is set and every other byte is zero. A
 * caller compiled against a newer, larger struct is accepted as long as the
 * bytes this library does not know are zero; an older, smaller struct gets
 * defaults (0) for the fields it lacks.
 */
struct fm_map_create_opts {
	size_t   sz;            /**< sizeof(struct fm_map_create_opts) as the caller compiled it */
	uint32_t map_flags;     /**< FM_F_* creation flags */
	uint32_t has_spin_lock; /**< nonzero: the value holds a 4-byte spin lock at spin_lock_off */
	uint32_t spin_lock_off; /**< byte offset of that spin lock in the value (4-byte aligned) */
};
/** The last field of struct fm_map_create_opts (libbpf's convention for opts structs). */
#define fm_map_create_opts__last_field spin_lock_off

/**
 * Declares and zero-initialises an opts struct named NAME with its sz set,
 * then applies designated initialisers:
 * `FM_OPTS(fm_map_create_opts, o, .map_flags = FM_F_NO_PREALLOC);`
 * (libbpf's LIBBPF_OPTS, and like it a GNU C statement expression: GCC or Clang;
 * the memset also zeroes padding, which the size
 * check inspects).
 */
#define FM_OPTS(TYPE, NAME, ...)                                        \
	struct TYPE NAME = ({                                           \
		memset(&NAME, 0, sizeof(struct TYPE));                  \
		(struct TYPE){ .sz = sizeof(struct TYPE), __VA_ARGS__ }; \
	})

/**
 * @brief The version of the library the program loaded, encoded as FM_VERSION is. A program
 * built against this header can check fm_version() >> 16 == FM_VERSION_MAJOR (what the soname
 * libfastmap.so.MAJOR promises) and fm_version() >= FM_VERSION for what it uses. Needs no map
 * and does not start the library's runtime.
 * @return major << 16 | minor << 8 | patch.
 */
FM_API uint32_t fm_version(void);

/**
 * @brief Creates a map (BPF_MAP_CREATE).
 * @param map_type    FM_MAP_TYPE_*.
 * @param name        map name (alnum, '_' and '.', at most 15 characters) or NULL.
 *                    Unlike libbpf, a longer name is refused rather than truncated.
 * @param key_size    key size in bytes (4 for FM_MAP_TYPE_ARRAY).
 * @param value_size  value size in bytes.
 * @param max_entries capacity.
 * @param opts        optional arguments, or NULL for defaults.
 * @return a handle >= 0, or
 *   -EINVAL (unknown type or flag, a zero size or capacity, RDONLY with WRONLY, a bad name,
 *           a bad spin lock offset, opts->sz < sizeof(size_t), nonzero bytes past the known
 *           fields of a larger opts struct),
 *   -E2BIG (key/value or capacity too large),
 *   -EOPNOTSUPP (a spin lock in an LRU or per-CPU map),
 *   -FM_ENOTSUPP (FM_MAP_TYPE_LRU_HASH with FM_F_NO_PREALLOC),
 *   -EACCES (a spin lock with FM_F_RDONLY_PROG or FM_F_WRONLY_PROG: the kernel refuses a value
 *           with special fields that programs could not write),
 *   -ENOMEM (the memory is not there; refused before any of it is touched).
 */
FM_API int fm_map_create(uint32_t map_type, const char *name, uint32_t key_size,
			 uint32_t value_size, uint32_t max_entries,
			 const struct fm_map_create_opts *opts);

/**
 * @brief Closes a handle. Safe while other threads use the map: calls that start afterwards
 * get -EBADF, and the memory is freed only once every call and read-side section that could
 * still see it has ended, so pointers from fm_map_lookup_elem_ptr() stay valid until then.
 * Handles are reused, lowest first, as file descriptors are.
 * @param fd handle from fm_map_create().
 * @return 0, or -EBADF (not an open handle).
 */
FM_API int fm_map_close(int fd);

/**
 * @brief Copies the value of @p key into @p value (BPF_MAP_LOOKUP_ELEM, flags 0).
 * @param fd    map handle.
 * @param key   key_size bytes.
 * @param[out] value value_size bytes (per-CPU maps: round_up(value_size, 8) * CPUs).
 * @return 0, or -EBADF, -EPERM (FM_F_WRONLY handle), -EFAULT (key or value NULL), -ENOENT.
 */
FM_API int fm_map_lookup_elem(int fd, const void *key, /*out*/ void *value);

/**
 * @brief Lookup with flags (BPF_MAP_LOOKUP_ELEM).
 * @param fd    map handle.
 * @param key   key_size bytes.
 * @param[out] value value_size bytes.
 * @param flags 0 or FM_F_LOCK (copy under the value's spin lock).
 * @return 0, or -EINVAL (unknown flags, checked before the handle; FM_F_LOCK without a spin
 *   lock), -EBADF, -EPERM, -EFAULT, -ENOENT.
 */
FM_API int fm_map_lookup_elem_flags(int fd, const void *key, /*out*/ void *value,
				    uint64_t flags);

/**
 * @brief Creates or replaces an entry (BPF_MAP_UPDATE_ELEM). Readers never see a half-written value.
 * @param fd    map handle.
 * @param key   key_size bytes.
 * @param value value_size bytes.
 * @param flags FM_ANY, FM_NOEXIST or FM_EXIST, optionally | FM_F_LOCK. FM_F_COMPARE is -EINVAL
 *              here, as the kernel answers; compare-and-swap is fm_map_update_elem_cmp().
 * @return 0, or -EBADF, -EPERM (FM_F_RDONLY handle), -EINVAL (unknown flags; FM_F_LOCK without
 *   a spin lock), -EFAULT (key or value NULL), -EEXIST (FM_NOEXIST, present),
 *   -ENOENT (FM_EXIST, absent), -E2BIG (map full), -ENOMEM.
 */
FM_API int fm_map_update_elem(int fd, const void *key, const void *value, uint64_t flags);

/**
 * @brief Deletes an entry (BPF_MAP_DELETE_ELEM, flags 0).
 * @param fd  map handle.
 * @param key key_size bytes.
 * @return 0, or -EBADF, -EPERM (FM_F_RDONLY handle), -EFAULT (key NULL), -ENOENT,
 *   -EINVAL (FM_MAP_TYPE_ARRAY).
 */
FM_API int fm_map_delete_elem(int fd, const void *key);

/**
 * @brief Delete with flags (BPF_MAP_DELETE_ELEM).
 * @param fd    map handle.
 * @param key   key_size bytes.
 * @param flags 0. FM_F_COMPARE here is compare-and-delete with no compare bytes (-EFAULT, as
 *              bpf(2) answers); use fm_map_delete_elem_cmp() instead. Any other flag: -EINVAL.
 * @return as fm_map_delete_elem(), and -EINVAL for unknown flags, checked before the handle.
 */
FM_API int fm_map_delete_elem_flags(int fd, const void *key, uint64_t flags);

/**
 * @brief Compare-and-delete (BPF_MAP_DELETE_ELEM with BPF_F_COMPARE): deletes @p key only if
 * the value bytes [compare_offset, compare_offset + size) still equal @p compare, where
 * size = compare_size, or value_size if compare_size is 0. The compare and the unlink are
 * one atomic step against every other map operation.
 * @param fd             map handle (FM_MAP_TYPE_HASH, or LRU_HASH made with FM_F_LRU_COMPARE).
 * @param key            key_size bytes.
 * @param compare        the expected bytes (size of them).
 * @param compare_offset start of the window in the value.
 * @param compare_size   window length; 0 means value_size.
 * @return 0 (deleted), or in this order: -EBADF, -EPERM (FM_F_RDONLY handle), -EFAULT (key
 *   NULL), -EINVAL (window past value_size, overflow-safe), -EOPNOTSUPP (not a hash or LRU-compare
 *   map, or the value holds a spin lock), -EFAULT (compare NULL), -ENOENT (absent),
 *   -EBUSY (the window differs; nothing was deleted).
 */
FM_API int fm_map_delete_elem_cmp(int fd, const void *key, const void *compare,
				  uint32_t compare_offset, uint32_t compare_size);

/**
 * @brief Compare-and-swap update, a FastMap extension beyond the RFC (BPF_MAP_UPDATE_ELEM with
 * FM_F_COMPARE, which the RFC defers): replaces @p key's value with @p value only if the current
 * value's bytes [compare_offset, compare_offset + size) still equal @p compare (size as for
 * fm_map_delete_elem_cmp()). The compare and the write are one atomic step against every other
 * map operation, and a copying reader sees the old value or the new one, never a mix. An agent's
 * read-compute-write that must not overwrite a refresh landing in between uses this.
 * @param fd             map handle (FM_MAP_TYPE_HASH, or LRU_HASH made with FM_F_LRU_COMPARE).
 * @param key            key_size bytes.
 * @param value          value_size bytes: the new value.
 * @param compare        the expected bytes.
 * @param compare_offset start of the window in the value.
 * @param compare_size   window length; 0 means value_size.
 * @param flags          FM_ANY or FM_EXIST (alike: a compare needs an existing value); the
 *                       library adds FM_F_COMPARE.
 * @return 0 (replaced), or in this order: -EBADF, -EPERM (FM_F_RDONLY handle), -EINVAL
 *   (FM_F_LOCK on a map without a spin lock), -EFAULT (key or value NULL), -EINVAL (unknown
 *   flags, FM_NOEXIST, FM_F_LOCK: a compare reads raw bytes), -EINVAL (window past value_size,
 *   overflow-safe), -EOPNOTSUPP (not a hash or LRU-compare map, or the value holds a spin lock),
 *   -EFAULT (compare NULL), -ENOENT (absent), -EBUSY (the window differs; nothing written).
 */
FM_API int fm_map_update_elem_cmp(int fd, const void *key, const void *value, const void *compare,
				  uint32_t compare_offset, uint32_t compare_size, uint64_t flags);

/**
 * @brief Copies out and deletes an entry in one step (BPF_MAP_LOOKUP_AND_DELETE_ELEM).
 * @param fd    map handle.
 * @param key   key_size bytes.
 * @param[out] value value_size bytes.
 * @return 0, or -EBADF, -EPERM (the handle lacks read or write), -EFAULT (key or value NULL),
 *   -FM_ENOTSUPP (FM_MAP_TYPE_ARRAY), -ENOENT.
 */
FM_API int fm_map_lookup_and_delete_elem(int fd, const void *key, /*out*/ void *value);

/**
 * @brief Iterates keys (BPF_MAP_GET_NEXT_KEY), in the map's storage order (group by group: its
 * slots, then its overflow records; arrays: by index), which is not the kernel's order.
 * @param fd       map handle.
 * @param key      the previous key, or NULL for the first; a key not in the map also
 *                 restarts at the first (as in the kernel).
 * @param[out] next_key key_size bytes.
 * @return 0, or -EBADF, -EPERM (FM_F_WRONLY handle), -EFAULT (next_key NULL), -ENOENT (no
 *   more keys; an empty map).
 */
FM_API int fm_map_get_next_key(int fd, const void *key, /*out*/ void *next_key);

/**
 * @name Batch commands
 * BPF_MAP_*_BATCH: many entries per call, as libbpf's bpf_map_*_batch().
 *
 * count is in-out everywhere: in, how many entries the buffers hold (keys: count * key_size
 * bytes; values: count * the value size fm_map_lookup_elem() uses); out, how many were
 * processed. *count == 0 does nothing and returns 0. The checks of the handle, permission,
 * flags, map type, compare window and a NULL count leave *count as passed; after them, *count
 * is set to the entries done when the call returns (0 if none), also on error.
 *
 * The scan cursor (in_batch, out_batch) is opaque: a u32 that FastMap reads and writes as 4
 * bytes (hash maps: a bucket index; arrays: the last index returned). Give the cursor buffers
 * max(4, key_size) bytes, the kernel's convention, so code stays portable to bpf(2). Start a
 * scan with in_batch NULL and pass the previous call's out_batch as the next in_batch.
 */
/**@{*/

/**
 * @brief Copies out entries from a cursor on (BPF_MAP_LOOKUP_BATCH). Hash maps return whole
 * buckets: a bucket that does not fit in the room left ends the call before it.
 *
 * A full scan returns every key present for the whole scan exactly once, and no key absent for
 * the whole scan, under any concurrent writers (keys never move inside the map); keys
 * added or deleted during the scan may or may not be returned. Each value is a consistent copy.
 * @param fd          map handle.
 * @param in_batch    the cursor to resume from (4 bytes read), or NULL to start.
 * @param[out] out_batch the cursor for the next call (4 bytes written).
 * @param[out] keys   room for *count keys.
 * @param[out] values room for *count values.
 * @param count       in: room, in entries; out: entries copied.
 * @param elem_flags  0, or FM_F_LOCK (copy each value under its spin lock).
 * @return 0 (more may follow: call again with out_batch), or in this order: -EBADF, -EPERM
 *   (FM_F_WRONLY handle), -EINVAL (elem_flags other than FM_F_LOCK; FM_F_LOCK without a spin
 *   lock), -EFAULT (count NULL); then with *count > 0:
 *   -ENOENT, the scan is done. This is how every scan ends, and it comes *with data*: the
 *           *count entries (possibly 0) of this call are valid, so use them before stopping.
 *           A hash cursor past the last bucket gives -ENOENT with *count 0 at once, and
 *           out_batch is not written; an array cursor at the last index likewise.
 *   -EFAULT (keys or values NULL when there is an entry to copy, *count 0; out_batch NULL:
 *           hash maps refuse it before the walk, *count 0, arrays after copying, as bpf(2)),
 *   -ENOSPC (hash maps: the next bucket alone holds more than *count entries; *count 0 and
 *           out_batch is that bucket: call again with more room).
 */
FM_API int fm_map_lookup_batch(int fd, void *in_batch, /*out*/ void *out_batch,
			       /*out*/ void *keys, /*out*/ void *values, uint32_t *count,
			       uint64_t elem_flags);

/**
 * @brief fm_map_lookup_batch() that also deletes what it returns
 * (BPF_MAP_LOOKUP_AND_DELETE_BATCH). Each entry is copied and unlinked under its group's lock,
 * so every value returned is the entry's last (in-place writers aside, see Memory above).
 * An entry another thread deletes first is skipped, so *count can be below the room, even 0
 * with a return of 0: call again. Arguments as fm_map_lookup_batch(). Nothing is deleted
 * when an argument is refused.
 * @param fd          map handle (readable and writable).
 * @param in_batch    the cursor to resume from (4 bytes read), or NULL to start.
 * @param[out] out_batch the cursor for the next call (4 bytes written).
 * @param[out] keys   room for *count keys.
 * @param[out] values room for *count values.
 * @param count       in: room, in entries; out: entries copied and deleted.
 * @param elem_flags  0, or FM_F_LOCK (copy each value under its spin lock).
 * @return as fm_map_lookup_batch(), with -EPERM when the handle lacks read or write, and
 *   -FM_ENOTSUPP (FM_MAP_TYPE_ARRAY) after -EPERM and before the elem_flags check.
 */
FM_API int fm_map_lookup_and_delete_batch(int fd, void *in_batch, /*out*/ void *out_batch,
					  /*out*/ void *keys, /*out*/ void *values,
					  uint32_t *count, uint64_t elem_flags);

/**
 * @brief Creates or replaces *count entries in order (BPF_MAP_UPDATE_BATCH), each as
 * fm_map_update_elem() with FM_ANY, stopping at the first error.
 * @param fd         map handle.
 * @param keys       *count keys, back to back (arrays: u32 indexes).
 * @param values     *count values, back to back.
 * @param count      in: entries; out: entries applied (all of them on success; on an element's
 *                   error, the entries before it, which stay applied).
 * @param elem_flags 0, or FM_F_LOCK. FM_NOEXIST and FM_EXIST are refused, as by bpf(2).
 * @return 0, or in this order: -EBADF, -EPERM (FM_F_RDONLY handle), -EINVAL (elem_flags other
 *   than FM_F_LOCK; FM_F_LOCK without a spin lock), -EFAULT (count NULL; keys or values NULL,
 *   *count 0); then the first element's error: -E2BIG (map full; arrays: index >= max_entries),
 *   -ENOMEM, or -EBADF (the handle was closed during the call).
 */
FM_API int fm_map_update_batch(int fd, const void *keys, const void *values, uint32_t *count,
			       uint64_t elem_flags);

/**
 * @brief Deletes *count keys in order (BPF_MAP_DELETE_BATCH), stopping at the first error:
 * a missing key stops the batch, as in the kernel. A collector whose keys may have gone
 * meanwhile wants fm_map_delete_batch_cmp(), which goes on.
 * @param fd         map handle.
 * @param keys       *count keys, back to back.
 * @param count      in: keys; out: keys deleted before the first error (all on success).
 * @param elem_flags 0, or FM_F_LOCK on a map with a spin lock (no effect).
 * @return 0, or in this order: -EBADF, -EPERM (FM_F_RDONLY handle), -FM_ENOTSUPP
 *   (FM_MAP_TYPE_ARRAY), -EINVAL (other elem_flags, FM_F_COMPARE included), -EFAULT (count
 *   NULL; keys NULL, *count 0); then the first key's error: -ENOENT (absent: keys before it
 *   are deleted, it and those after it are not touched), or -EBADF (closed during the call).
 */
FM_API int fm_map_delete_batch(int fd, const void *keys, uint32_t *count, uint64_t elem_flags);

/**
 * @brief Batch compare-and-delete: for each i < *count, fm_map_delete_elem_cmp() of key i with
 * window i of @p compares (BPF_MAP_DELETE_BATCH with FM_F_COMPARE). A collector's pass: snapshot
 * with fm_map_lookup_batch(), then delete every idle key whose revision is unchanged.
 *
 * Each key's compare and unlink is one atomic step (as fm_map_delete_elem_cmp()); the batch as
 * a whole is not atomic. Per-key outcomes go to @p results and the batch goes on past them:
 * results[i] is 0 (deleted), -EBUSY (the window differs: the entry was refreshed, it stays) or
 * -ENOENT (absent). Argument errors fail the whole call before any key is touched.
 * @param fd             map handle (FM_MAP_TYPE_HASH, or LRU_HASH made with FM_F_LRU_COMPARE).
 * @param keys           *count keys, back to back.
 * @param compares       *count windows of compare_size bytes (value_size if 0), back to back.
 * @param compare_offset start of the window in the value.
 * @param compare_size   window length; 0 means value_size (whole values).
 * @param[out] results   *count int32_t per-key results.
 * @param count          in: keys; out: keys processed (all of them unless the call failed).
 * @return 0 (see @p results), or in this order, nothing deleted: -EBADF, -EPERM (FM_F_RDONLY
 *   handle), -EINVAL (window past value_size, overflow-safe), -EOPNOTSUPP (not a hash or LRU-compare
 *   map, or the value holds a spin lock), -EFAULT (count NULL, *count left as is; keys,
 *   compares or results NULL while *count > 0, *count set to 0). Also -EBADF if the handle is
 *   closed during the call: the first *count results are valid.
 */
FM_API int fm_map_delete_batch_cmp(int fd, const void *keys, const void *compares,
				   uint32_t compare_offset, uint32_t compare_size,
				   /*out*/ int32_t *results, uint32_t *count);

/**
 * @brief Batch compare-and-swap update, a FastMap extension: for each i < *count,
 * fm_map_update_elem_cmp() of key i with value i and window i (BPF_MAP_UPDATE_BATCH with
 * FM_F_COMPARE). Per-key outcomes go to @p results (0 replaced, -EBUSY window differs,
 * -ENOENT absent) and the batch goes on past them; the batch as a whole is not atomic.
 * @param fd             map handle (FM_MAP_TYPE_HASH, or LRU_HASH made with FM_F_LRU_COMPARE).
 * @param keys           *count keys, back to back.
 * @param values         *count values of value_size bytes, back to back.
 * @param compares       *count windows of compare_size bytes (value_size if 0), back to back.
 * @param compare_offset start of the window in the value.
 * @param compare_size   window length; 0 means value_size.
 * @param[out] results   *count int32_t per-key results.
 * @param count          in: keys; out: keys processed.
 * @return as fm_map_delete_batch_cmp(), nothing written on an argument error; also -EFAULT for
 *   values NULL while *count > 0.
 */
FM_API int fm_map_update_batch_cmp(int fd, const void *keys, const void *values, const void *compares,
				   uint32_t compare_offset, uint32_t compare_size,
				   /*out*/ int32_t *results, uint32_t *count);
/**@}*/

/**
 * @brief Bulk lookup, a FastMap extension (bpf(2) has none): looks up @p count keys in one call
 * and copies each found value out, overlapping the keys' cache misses (key i + 8's control line
 * and key i + 4's entry are fetched while key i is looked up).
 *
 * Each key's answer is what fm_map_lookup_elem() gives for it; the call as a whole is not a
 * snapshot. Needs no read-side section.
 * @param fd          map handle.
 * @param keys        @p count keys, back to back.
 * @param[out] values room for @p count values (each as fm_map_lookup_elem() copies it); value i
 *                    is written only when results[i] is 0.
 * @param[out] results @p count int32_t per-key results: 0 (found, value copied) or -ENOENT.
 * @param count       keys to look up; 0 does nothing.
 * @return 0 (see @p results), or in this order: -EBADF (also if the handle is closed during the
 *   call: then no result is to be used), -EPERM (FM_F_WRONLY handle), -EFAULT (keys, values or
 *   results NULL while @p count > 0).
 */
FM_API int fm_map_lookup_bulk(int fd, const void *keys, /*out*/ void *values,
			      /*out*/ int32_t *results, uint32_t count);

/**
 * @brief The bpf(2) entry point: same commands, attr layout and answers as the kernel, so a
 * program written against syscall(__NR_bpf, cmd, attr, size) runs by calling this instead.
 *
 * @p attr is the kernel's union bpf_attr. For the *_ELEM commands: map_fd@0, key@8,
 * value/next_key@16, flags@24, and the RFC's compare fields compare@32 (a pointer),
 * compare_offset@40, compare_size@44 (u32 each). FM_BPF_MAP_UPDATE_ELEM with FM_F_COMPARE in
 * flags reads the same three fields (fm_map_update_elem_cmp()); without the flag, bytes from 32
 * on must be zero, as the kernel's update requires. Handles are FastMap handles, not file
 * descriptors. Pointers inside @p attr are read as pointers of this process.
 *
 * For the *_BATCH commands, the kernel's batch layout: in_batch@0, out_batch@8, keys@16,
 * values@24 (pointers, u64 each), count@32 (u32, in-out: written back into @p attr),
 * map_fd@36 (u32), elem_flags@40, flags@48 (u64; for the hash lookup batches it must be 0,
 * else -EINVAL). Then FastMap's extension, read only by FM_BPF_MAP_DELETE_BATCH and
 * FM_BPF_MAP_UPDATE_BATCH with FM_F_COMPARE in elem_flags (which then must be exactly
 * FM_F_COMPARE, else -EINVAL), making them fm_map_delete_batch_cmp() and
 * fm_map_update_batch_cmp() (values@24 holds the new values): compares@56 (a pointer to count windows of compare_size
 * bytes, back to back), compare_offset@64, compare_size@68 (u32 each; 0 = whole value),
 * results@72 (a pointer to count int32_t results); 80 bytes in all. Without FM_F_COMPARE,
 * bytes 56..80 must be zero; bytes from 80 on must always be zero (-EINVAL, checked before
 * the handle).
 *
 * For FM_BPF_OBJ_PIN and FM_BPF_OBJ_GET, the kernel's layout: pathname@0 (a pointer to a
 * NUL-terminated path), bpf_fd@8 (u32: the handle to pin; must be 0 for OBJ_GET), file_flags@12
 * (u32), path_fd@16 (s32); bytes from 20 on must be zero. Both answer -EINVAL for those checks
 * before anything else, as the kernel does: OBJ_PIN for file_flags other than 0 and OBJ_GET for
 * file_flags other than 0, FM_F_RDONLY or FM_F_WRONLY (the kernel's BPF_F_PATH_FD is not
 * supported: it is an unknown flag here), and both for a nonzero path_fd. Then as fm_obj_pin()
 * and fm_obj_get().
 * @param cmd  FM_BPF_* command.
 * @param attr the union bpf_attr; BPF_MAP_CREATE writes nothing back (the handle is the return).
 * @param size bytes of @p attr the caller passes.
 * @return what the command returns (BPF_MAP_CREATE and BPF_OBJ_GET: a handle), or -EINVAL (unknown command,
 *   nonzero bytes after the command's last field), -E2BIG (size larger than a page, or nonzero
 *   bytes past the end of the library's union bpf_attr), -EFAULT (attr NULL), or the command's
 *   errors as listed for the fm_map_* function of the same command.
 */
FM_API int fm_bpf(int cmd, void *attr, unsigned int size);

/**
 * @brief Gives a shared map a path (BPF_OBJ_PIN), so that other processes can fm_obj_get() it. The map
 * then lives until the path is unlinked and every process has closed it. The path is a new hard link
 * of the map's own file (mode 0600 & ~umask, owned by its creator), so it must be on that file's file
 * system (/dev/shm, or $FASTMAP_SHM_DIR), not on bpffs. A map may be pinned under several paths.
 * @param fd       handle of a map created with FM_F_SHARED.
 * @param pathname the new path (UTF-8, NUL-terminated).
 * @return 0, or in the kernel's order: -EINVAL (@p fd is not an open handle, as the kernel answers for
 *   an fd that is no BPF object; checked before the path), -EFAULT (@p pathname NULL), then the path's
 *   lookup: -ENOENT ("" or a missing directory), -ENOTDIR (a component is not a directory), -EACCES
 *   (a directory refuses search or write), -EEXIST (the path exists, whatever it is); then, where the
 *   kernel answers -EPERM for a path outside bpffs: -EOPNOTSUPP (the map was not created with
 *   FM_F_SHARED) or -EXDEV (the path is on another file system than the map's file).
 */
FM_API int fm_obj_pin(int fd, const char *pathname);

/**
 * @brief Opens a shared map pinned at @p pathname, by this or any other process (BPF_OBJ_GET).
 * Close the new handle with fm_map_close(); unlink(2) the path to remove the pin.
 * @param pathname  a path given by fm_obj_pin() (UTF-8, NUL-terminated). Symlinks are followed.
 * @param file_flags 0 (read and write), FM_F_RDONLY (updates and deletes answer -EPERM; the map's data
 *                   is mapped read-only into this process) or FM_F_WRONLY (lookups answer -EPERM).
 * @return a new handle >= 0, or in the kernel's order: -EINVAL (other @p file_flags, or FM_F_RDONLY
 *   with FM_F_WRONLY; checked before the path), -EFAULT (@p pathname NULL), -ENOENT ("" or no such
 *   path), -ENOTDIR (a component is not a directory), -EACCES (a directory refuses search, or the
 *   file's mode refuses this process: unlike the kernel's, every handle, a read-only one too, needs
 *   read and write access to the file), -EACCES (not a map: a directory, or a file that is not a
 *   FastMap map, as the kernel answers for a path that is no BPF object); then FastMap's own: -EINVAL
 *   (a FastMap map's file that is damaged or truncated), -EPROTO (a FastMap map of another layout
 *   version: another library version made it), -ENOMEM (no memory, or every process slot of the
 *   map's file is held by a live process).
 */
FM_API int fm_obj_get(const char *pathname, uint32_t file_flags);

/**
 * @brief Enters a read-side section of the calling thread (like rcu_read_lock()). Sections
 * nest; only the outermost fm_read_unlock() leaves. Inside one, pointers from
 * fm_map_lookup_elem_ptr() stay valid. Keep sections short: a thread in a section holds
 * back the reuse of deleted entries. Aborts the process only if the thread's epoch slot
 * cannot be allocated.
 */
FM_API void fm_read_lock(void);

/**
 * @brief Leaves a read-side section entered by fm_read_lock() on the same thread.
 * Only the outermost call ends the section (pointers from fm_map_lookup_elem_ptr() are
 * invalid from then on).
 *
 * A call without a matching fm_read_lock() on this thread (the thread is in no section, or
 * has never entered one) is a programming error that the library ignores: it does nothing,
 * leaves errno alone, and the thread's next fm_read_lock() enters a section as usual (the
 * nesting depth never goes below zero, so no later section is left unprotected). It does not
 * abort: the check is the depth the library keeps anyway, ignoring the call costs nothing and
 * puts no pointer of any thread at risk, whereas an abort would take down the host for an
 * unlock that had nothing left to protect. The inline fm_read_unlock() answers the same (it
 * hands a depth-0 call to the library). An extra unlock inside nested sections cannot be told
 * from the inner section's own: the outer section then ends one unlock early, so pair the calls.
 */
FM_API void fm_read_unlock(void);

/**
 * @brief Pointer to the stored value of @p key (bpf_map_lookup_elem() of a BPF program).
 * Call only inside fm_read_lock()/fm_read_unlock(); the pointer is valid until the
 * outermost section ends. It is 8-byte aligned. Writing through it is allowed (the
 * datapath's in-place refresh); a writer of more than one aligned word races with readers.
 * Called by a thread that is in no read-side section, it returns NULL with errno EINVAL
 * (the kernel's answer to a call in the wrong context), checked before the key and the
 * handle: a pointer handed out there would be unprotected (the .NET LookupInPlace and
 * LookupRef answer empty outside a ReadSection likewise). The inline version answers the same.
 * @param fd  map handle.
 * @param key key_size bytes.
 * @return the value pointer, or NULL with errno set, in this order: EINVAL (the calling
 *   thread is in no read-side section), EFAULT (key NULL), ENOENT (absent, or not an open
 *   handle). Array maps answer too (every index < max_entries exists).
 */
FM_API void *fm_map_lookup_elem_ptr(int fd, const void *key);

/* ---- Internal: what the inline reads below fetch once from the library -------------------------
 * Not for programs: call fm_map_lookup_elem() and fm_read_lock() instead. */

/** @brief Internal. The table of map layouts the inline reads use; its layout version and size. */
FM_API const void *fm__layouts(/*out*/ uint32_t *version, /*out*/ uint32_t *handles);
/** @brief Internal. The calling thread's epoch slot (attached on first use). */
FM_API void *fm__thread(void);
/** @brief Internal. The address of the global epoch. */
FM_API const int64_t *fm__epoch(void);
/** @brief Internal. Runs an epoch advance that fell due for the calling thread. */
FM_API void fm__advance(void);

/* ---- Inline reads ---------------------------------------------------------------------------------
 * With GCC or Clang on x86-64 (SSE2), fm_map_lookup_elem(), fm_map_lookup_elem_ptr(), fm_read_lock(),
 * fm_read_unlock() and fm_map_delete_elem_cmp() are inline functions over the map's layout, which the
 * library publishes, so the common case costs no call into the library (liburcu's "static" flavour,
 * here on by default). They answer exactly as the library does: a key in its home group, or absent
 * with nothing placed past the group, is decided inline, and so is a compare-and-delete whose window
 * differs (-EBUSY, nothing to write); anything else (keys in neighbour groups or overflow records, a
 * writer in the middle of the value, a compare that matches, any argument the library would refuse, a
 * closed or replaced handle, another layout version, array maps, spin-lock values, write-only handles,
 * shared maps (FM_F_SHARED)) calls the library, and so does fm_map_lookup_elem_ptr() from a thread this unit has seen in no
 * read-side section. Writes are always the library's. Define FM_NO_INLINE before including this
 * header to call the library every time. Taking a function's address gives the library's function. */
#if !defined(FM_NO_INLINE) && (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__) && defined(__SSE2__)
#define FM_INLINE_READS 1
#include <emmintrin.h>
#include <errno.h>

#define FM__LAYOUT_VERSION 1u /* src/FastMap/Abi/InlineLayout.cs: Version */
#define FM__STATE_INLINE   1u
#define FM__CAN_WRITE      1u /* the handle may write (not FM_F_RDONLY) */
#define FM__COMPARES       2u /* the compares are supported (a hash map, or LRU with FM_F_LRU_COMPARE) */
#define FM__INLINE static inline __attribute__((always_inline))

/* One map's layout (InlineLayout.Descriptor): 128 bytes. */
struct fm__layout {
	uint32_t gen;   /* even: stable; odd: being rewritten */
	uint32_t state; /* FM__STATE_INLINE: inline reads may run */
	uint32_t version;
	uint32_t key_size;
	uint32_t value_size;
	uint32_t value_offset;
	uint32_t stride;
	uint32_t group_bytes;
	uint32_t group_bits;
	uint32_t flags; /* FM__CAN_WRITE, FM__COMPARES */
	uint64_t seed;
	const uint8_t *ctrl;
	const uint8_t *entries;
	const int32_t *pinned; /* nonzero once a value's address was handed out */
	uint8_t pad1[56];
};

/* A thread's epoch slot (Epoch.cs): announced epoch, owner, nesting depth, an advance due. */
struct fm__slot {
	int64_t announce;
	int32_t owner;
	int32_t depth;
	int32_t advance_due;
};

static __thread struct fm__slot *fm__self;
static const struct fm__layout *fm__table;  /* per translation unit: fetched once */
static uint32_t fm__table_handles;          /* 0 until fetched, or when the version differs */
static int fm__table_fetched;
static const int64_t *fm__global;

FM__INLINE const struct fm__layout *fm__layout_of(int fd)
{
	if (!__atomic_load_n(&fm__table_fetched, __ATOMIC_ACQUIRE)) {
		uint32_t version = 0, handles = 0;
		const void *t = fm__layouts(&version, &handles);

		__atomic_store_n(&fm__table, (const struct fm__layout *)t, __ATOMIC_RELAXED);
		__atomic_store_n(&fm__table_handles, version == FM__LAYOUT_VERSION ? handles : 0u, __ATOMIC_RELAXED);
		__atomic_store_n(&fm__table_fetched, 1, __ATOMIC_RELEASE);
	}
	if ((uint32_t)fd >= __atomic_load_n(&fm__table_handles, __ATOMIC_RELAXED))
		return NULL;
	return __atomic_load_n(&fm__table, __ATOMIC_RELAXED) + fd;
}

FM__INLINE uint64_t fm__fmix(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xFF51AFD7ED558CCDull;
	h ^= h >> 33;
	h *= 0xC4CEB9FE1A85EC53ull;
	return h ^ (h >> 33);
}

/* The library's key hash (KeyHash.cs), bit for bit. */
FM__INLINE uint64_t fm__hash(const void *key, uint32_t n, uint64_t seed)
{
	const uint8_t *k = (const uint8_t *)key;
	uint64_t a, b, h;
	uint32_t i = 0, j;

	/* n is the map's key size, known only at run time: hide the caller's object from the compiler so
	 * it does not check the 8-byte reads below against, say, a 4-byte key of a map it cannot see. */
	__asm__("" : "+r"(k));

	if (n == 16) {
		__extension__ typedef unsigned __int128 fm__u128;
		fm__u128 p;

		memcpy(&a, k, 8);
		memcpy(&b, k + 8, 8);
		a ^= seed ^ 0x9E3779B97F4A7C15ull;
		b ^= ((seed << 32) | (seed >> 32)) ^ 0xBF58476D1CE4E5B9ull;
		p = (fm__u128)a * b;
		return (uint64_t)(p >> 64) ^ (uint64_t)p;
	}
	h = seed ^ ((uint64_t)n * 0x9E3779B97F4A7C15ull);
	for (; i + 8 <= n; i += 8) {
		memcpy(&a, k + i, 8);
		h = (h ^ a) * 0xBF58476D1CE4E5B9ull;
	}
	if (i < n) {
		uint64_t tail = 0;

		for (j = 0; i + j < n; j++)
			tail |= (uint64_t)k[i + j] << (8 * j);
		h = (h ^ tail) * 0x94D049BB133111EBull;
	}
	return fm__fmix(h);
}

/* Bytes equal: 8 at a time, then the tail. Inline, as the library's compare is; libc's memcmp would
 * be a call through the PLT for a size known only at run time. */
FM__INLINE int fm__same(const uint8_t *a, const uint8_t *b, uint32_t n)
{
	uint64_t x, y;
	uint32_t i = 0;

	for (; i + 8 <= n; i += 8) {
		memcpy(&x, a + i, 8);
		memcpy(&y, b + i, 8);
		if (x != y)
			return 0;
	}
	for (; i < n; i++)
		if (a[i] != b[i])
			return 0;
	return 1;
}

/* A value copy: 16 bytes at a time, then 8, 4, 2, 1. */
FM__INLINE void fm__copy(uint8_t *d, const uint8_t *s, uint32_t n)
{
	uint32_t i = 0;

	/* n is the map's value size, not what the caller's type says: keep GCC's -Warray-bounds from
	 * judging the 16-byte steps against a smaller object it can see (as fm__hash does for keys). */
	__asm__("" : "+r"(d));

	for (; i + 16 <= n; i += 16)
		_mm_storeu_si128((__m128i *)(d + i), _mm_loadu_si128((const __m128i *)(s + i)));
	if (n - i >= 8) {
		uint64_t x;

		memcpy(&x, s + i, 8);
		memcpy(d + i, &x, 8);
		i += 8;
	}
	if (n - i >= 4) {
		uint32_t x;

		memcpy(&x, s + i, 4);
		memcpy(d + i, &x, 4);
		i += 4;
	}
	if (n - i >= 2) {
		uint16_t x;

		memcpy(&x, s + i, 2);
		memcpy(d + i, &x, 2);
		i += 2;
	}
	if (n - i == 1)
		d[i] = s[i];
}

/* Where a key would be: the layout it was found with, its entry, and the fields the caller needs. */
struct fm__probe {
	const struct fm__layout *l;
	uint32_t gen;
	uint32_t word;
	const uint8_t *ctrl;
	const uint8_t *entry;    /* the value's first byte */
	uint32_t value_size;
	uint32_t flags;
};

/* Reads fd's layout into registers, uses it only if it was consistent (nothing is dereferenced before
 * gen is read again), then probes the key's home group: 0 found (p->entry), -ENOENT absent, 1 undecided.
 * With want_address, only in a map already pinned: the library pins a map (with a full barrier) before it
 * hands out its first address, so that deletes keep freed slots out of reuse for a grace period; the pin
 * is read before the tags, so a delete that saw no pin is visible to this probe. */
FM__INLINE int fm__probe(int fd, const void *key, struct fm__probe *p, int want_address)
{
	const struct fm__layout *l = fm__layout_of(fd);
	const uint8_t *ctrl, *entries;
	const int32_t *pinned;
	uint32_t gen, g, m, w, tag, key_size, group_bits, group_bytes, stride, value_offset;
	uint64_t h, seed;
	__m128i c;

	if (!l || !key)
		return 1;
	gen = __atomic_load_n(&l->gen, __ATOMIC_ACQUIRE);
	if ((gen & 1) || __atomic_load_n(&l->state, __ATOMIC_RELAXED) != FM__STATE_INLINE
	    || __atomic_load_n(&l->version, __ATOMIC_RELAXED) != FM__LAYOUT_VERSION)
		return 1;
	key_size = __atomic_load_n(&l->key_size, __ATOMIC_RELAXED);
	group_bits = __atomic_load_n(&l->group_bits, __ATOMIC_RELAXED);
	group_bytes = __atomic_load_n(&l->group_bytes, __ATOMIC_RELAXED);
	stride = __atomic_load_n(&l->stride, __ATOMIC_RELAXED);
	value_offset = __atomic_load_n(&l->value_offset, __ATOMIC_RELAXED);
	p->value_size = __atomic_load_n(&l->value_size, __ATOMIC_RELAXED);
	p->flags = __atomic_load_n(&l->flags, __ATOMIC_RELAXED);
	seed = __atomic_load_n(&l->seed, __ATOMIC_RELAXED);
	ctrl = __atomic_load_n(&l->ctrl, __ATOMIC_RELAXED);
	entries = __atomic_load_n(&l->entries, __ATOMIC_RELAXED);
	pinned = __atomic_load_n(&l->pinned, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_ACQUIRE); /* the fields are read before gen is read again */
	if (__atomic_load_n(&l->gen, __ATOMIC_RELAXED) != gen)
		return 1;
	if (want_address && __atomic_load_n(pinned, __ATOMIC_ACQUIRE) == 0)
		return 1; /* the library pins the map, then answers */
	p->l = l;
	p->gen = gen;
	__asm__("" : "+r"(key)); /* as in fm__hash: the key's size is the map's, not what the caller's type says */
	h = fm__hash(key, key_size, seed);
	g = (uint32_t)((h >> 32) >> (32 - group_bits));
	tag = 0x80u | (uint32_t)((h >> (57 - group_bits)) & 0x7F);
	p->ctrl = ctrl + (size_t)g * 16;
	c = _mm_load_si128((const __m128i *)p->ctrl);
	__atomic_thread_fence(__ATOMIC_ACQUIRE); /* tags before the entries they publish */
	w = (uint32_t)_mm_cvtsi128_si32(_mm_srli_si128(c, 12));
	p->word = w;
	m = (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(c, _mm_set1_epi8((char)tag))) & 0x7FFu;
	for (; m; m &= m - 1) {
		const uint8_t *e = entries + (size_t)g * group_bytes + (size_t)__builtin_ctz(m) * stride;

		if (key_size == 16 ? fm__same(e, (const uint8_t *)key, 16) : fm__same(e, (const uint8_t *)key, key_size)) {
			p->entry = e + value_offset;
			return 0;
		}
	}
	/* Absent here is absent everywhere only if no key was placed past this group (outbound count
	 * at byte 11) and the group has no overflow records (bit 1 of the word). */
	if (((const uint8_t *)p->ctrl)[11] != 0 || (w & 2))
		return 1;
	return -ENOENT;
}

/* The layout did not change and the map stayed open while the probe's answer was read. */
FM__INLINE int fm__still(const struct fm__probe *p)
{
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	return __atomic_load_n(&p->l->state, __ATOMIC_RELAXED) == FM__STATE_INLINE
		&& __atomic_load_n(&p->l->gen, __ATOMIC_RELAXED) == p->gen;
}

FM__INLINE int fm__lookup_elem_inline(int fd, const void *key, void *value)
{
	struct fm__probe p;
	int r = fm__probe(fd, key, &p, 0);

	if (r == 0) {
		if (!value || (p.word & 4)) /* NULL value, or a writer in the middle of one */
			r = 1;
		else {
			fm__copy((uint8_t *)value, p.entry, p.value_size);
			__atomic_thread_fence(__ATOMIC_ACQUIRE); /* the copy completes before the word is read again */
			if (((__atomic_load_n((const uint32_t *)(p.ctrl + 12), __ATOMIC_RELAXED) ^ p.word) & ~3u) != 0)
				r = 1;
		}
	}
	if (r != 1 && !fm__still(&p))
		r = 1;
	if (r == 1)
		return (fm_map_lookup_elem)(fd, key, value);
	if (r < 0)
		errno = -r;
	return r;
}

FM__INLINE void *fm__lookup_elem_ptr_inline(int fd, const void *key)
{
	struct fm__probe p;
	const struct fm__slot *t = fm__self;
	int r;

	/* Outside a read-side section the library answers (NULL, EINVAL). This unit may not know the
	 * thread's slot yet (its section was the library's fm_read_lock()): the library decides then too. */
	if (!t || t->depth == 0)
		return (fm_map_lookup_elem_ptr)(fd, key);
	r = fm__probe(fd, key, &p, 1);

	if (r != 1 && !fm__still(&p))
		r = 1;
	if (r == 1)
		return (fm_map_lookup_elem_ptr)(fd, key);
	if (r < 0) {
		errno = -r;
		return NULL;
	}
	return (void *)p.entry;
}

/* Compare-and-delete decides inline only what needs no write: after every check the library makes
 * before the store passes (a writable hash or LRU-compare map, compare not NULL, the window inside the value),
 * a key absent from its home group with nothing placed past it (-ENOENT), or present with a window
 * that differs (-EBUSY), validated like a copying lookup: the library's unlocked compare, linearized
 * at the same point. A match (the delete itself) and everything else is the library's. */
FM__INLINE int fm__delete_elem_cmp_inline(int fd, const void *key, const void *compare, uint32_t offset, uint32_t size)
{
	struct fm__probe p;
	int r = fm__probe(fd, key, &p, 0);

	if (r != 1) {
		uint32_t n = size ? size : p.value_size;

		__asm__("" : "+r"(compare)); /* n bytes, as the caller promised; not what its type says */
		if ((p.flags & (FM__CAN_WRITE | FM__COMPARES)) != (FM__CAN_WRITE | FM__COMPARES) || !compare
		    || n > p.value_size || offset > p.value_size - n)
			r = 1; /* a check fails: the library answers, in its order */
		else if (r == 0) {
			if ((p.word & 4) || fm__same(p.entry + offset, (const uint8_t *)compare, n))
				r = 1; /* a writer mid-value, or a match: the locked delete is the library's */
			else {
				__atomic_thread_fence(__ATOMIC_ACQUIRE); /* the compare completes before the word is read again */
				r = ((__atomic_load_n((const uint32_t *)(p.ctrl + 12), __ATOMIC_RELAXED) ^ p.word) & ~3u) != 0
					? 1 : -EBUSY;
			}
		}
	}
	if (r != 1 && !fm__still(&p))
		r = 1;
	if (r == 1)
		return (fm_map_delete_elem_cmp)(fd, key, compare, offset, size);
	errno = -r;
	return r;
}

static inline struct fm__slot *fm__me(void)
{
	struct fm__slot *t = fm__self;

	if (!t)
		t = fm__self = (struct fm__slot *)fm__thread();
	return t;
}

static inline void fm__read_lock_inline(void)
{
	struct fm__slot *t = fm__me();

	if (t->depth++ == 0) {
		const int64_t *g = __atomic_load_n(&fm__global, __ATOMIC_RELAXED);

		if (!g)
			__atomic_store_n(&fm__global, g = fm__epoch(), __ATOMIC_RELAXED);
		/* Release: nothing before the section moves into it. Store-to-load ordering against the
		 * reclaimer comes from its process-wide barrier, as for the library's own sections. */
		__atomic_store_n(&t->announce, __atomic_load_n(g, __ATOMIC_ACQUIRE), __ATOMIC_RELEASE);
	}
}

static inline void fm__read_unlock_inline(void)
{
	struct fm__slot *t = fm__self;

	if (!t || t->depth == 0) {
		(fm_read_unlock)(); /* without a matching fm_read_lock(): the library's answer */
		return;
	}
	if (--t->depth == 0) {
		__atomic_store_n(&t->announce, 0, __ATOMIC_RELEASE); /* every load of the section comes first */
		if (t->advance_due)
			fm__advance();
	}
}

#define fm_map_lookup_elem(fd, key, value) fm__lookup_elem_inline((fd), (key), (value))
#define fm_map_lookup_elem_ptr(fd, key)    fm__lookup_elem_ptr_inline((fd), (key))
#define fm_map_delete_elem_cmp(fd, key, compare, offset, size) \
	fm__delete_elem_cmp_inline((fd), (key), (compare), (offset), (size))
#define fm_read_lock()                     fm__read_lock_inline()
#define fm_read_unlock()                   fm__read_unlock_inline()
#endif /* inline reads */

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* FASTMAP_H */
