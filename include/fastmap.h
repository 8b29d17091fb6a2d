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
 * Build: cc app.c $(pkg-config --cflags --libs fastmap)
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

/* Map types: the numbers of the kernel's enum bpf_map_type. */
#define FM_MAP_TYPE_HASH         1  /**< BPF_MAP_TYPE_HASH: the only type with compare-and-delete. */
#define FM_MAP_TYPE_ARRAY        2  /**< BPF_MAP_TYPE_ARRAY: 4-byte index keys, every slot present. */
#define FM_MAP_TYPE_PERCPU_HASH  5  /**< BPF_MAP_TYPE_PERCPU_HASH. */
#define FM_MAP_TYPE_LRU_HASH     9  /**< BPF_MAP_TYPE_LRU_HASH: a full map evicts on insert. */

/* Element flags (update/lookup/delete): the kernel's BPF_* values. */
#define FM_ANY        0   /**< BPF_ANY: create or replace. */
#define FM_NOEXIST    1   /**< BPF_NOEXIST: create only (-EEXIST if present). */
#define FM_EXIST      2   /**< BPF_EXIST: replace only (-ENOENT if absent). */
#define FM_F_LOCK     4   /**< BPF_F_LOCK: copy the value under its embedded spin lock. */
#define FM_F_COMPARE  32  /**< BPF_F_COMPARE (RFC): delete only if the compare window matches. */

/* Map creation flags (opts.map_flags): the kernel's BPF_F_* values. */
#define FM_F_NO_PREALLOC  1   /**< BPF_F_NO_PREALLOC: allocate entries on demand. */
#define FM_F_RDONLY       8   /**< BPF_F_RDONLY: the handle cannot write (-EPERM). */
#define FM_F_WRONLY       16  /**< BPF_F_WRONLY: the handle cannot read (-EPERM). */
#define FM_F_ZERO_SEED    64  /**< BPF_F_ZERO_SEED: fixed hash seed, reproducible layout. */

/* Commands for fm_bpf(): the numbers of the kernel's enum bpf_cmd. */
#define FM_BPF_MAP_CREATE                  0
#define FM_BPF_MAP_LOOKUP_ELEM             1
#define FM_BPF_MAP_UPDATE_ELEM             2
#define FM_BPF_MAP_DELETE_ELEM             3
#define FM_BPF_MAP_GET_NEXT_KEY            4
#define FM_BPF_MAP_LOOKUP_AND_DELETE_ELEM  21
#define FM_BPF_MAP_LOOKUP_BATCH            24
#define FM_BPF_MAP_LOOKUP_AND_DELETE_BATCH 25
#define FM_BPF_MAP_UPDATE_BATCH            26
#define FM_BPF_MAP_DELETE_BATCH            27 /**< with FM_F_COMPARE in elem_flags: fm_map_delete_batch_cmp() */

/** The kernel-internal ENOTSUPP, which bpf(2) returns to user space (not in <errno.h>). */
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
 *   -ENOMEM.
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
 * @param flags FM_ANY, FM_NOEXIST or FM_EXIST, optionally | FM_F_LOCK.
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
 * @param fd             map handle (FM_MAP_TYPE_HASH).
 * @param key            key_size bytes.
 * @param compare        the expected bytes (size of them).
 * @param compare_offset start of the window in the value.
 * @param compare_size   window length; 0 means value_size.
 * @return 0 (deleted), or in this order: -EBADF, -EPERM (FM_F_RDONLY handle), -EFAULT (key
 *   NULL), -EINVAL (window past value_size, overflow-safe), -EOPNOTSUPP (not a plain hash
 *   map, or the value holds a spin lock), -EFAULT (compare NULL), -ENOENT (absent),
 *   -EBUSY (the window differs; nothing was deleted).
 */
FM_API int fm_map_delete_elem_cmp(int fd, const void *key, const void *compare,
				  uint32_t compare_offset, uint32_t compare_size);

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
 * @brief Iterates keys (BPF_MAP_GET_NEXT_KEY), in bucket order.
 * @param fd       map handle.
 * @param key      the previous key, or NULL for the first; a key not in the map also
 *                 restarts at the first (as in the kernel).
 * @param[out] next_key key_size bytes.
 * @return 0, or -EBADF, -EPERM (FM_F_WRONLY handle), -EFAULT (next_key NULL), -ENOENT (no
 *   more keys; an empty map).
 */
FM_API int fm_map_get_next_key(int fd, const void *key, /*out*/ void *next_key);

/*
 * Batch commands (BPF_MAP_*_BATCH): many entries per call, as libbpf's bpf_map_*_batch().
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

/**
 * @brief Copies out entries from a cursor on (BPF_MAP_LOOKUP_BATCH). Hash maps return whole
 * buckets: a bucket that does not fit in the room left ends the call before it.
 *
 * A full scan returns every key present for the whole scan exactly once, and no key absent for
 * the whole scan, under any concurrent writers (also across the map's internal rebuilds); keys
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
 * (BPF_MAP_LOOKUP_AND_DELETE_BATCH). Each entry is copied and unlinked under its bucket lock,
 * so every value returned is the entry's last (in-place writers aside, see Memory above).
 * An entry another thread deletes first is skipped, so *count can be below the room, even 0
 * with a return of 0: call again. Arguments as fm_map_lookup_batch(). Nothing is deleted
 * when an argument is refused.
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
 * @param fd             map handle (FM_MAP_TYPE_HASH).
 * @param keys           *count keys, back to back.
 * @param compares       *count windows of compare_size bytes (value_size if 0), back to back.
 * @param compare_offset start of the window in the value.
 * @param compare_size   window length; 0 means value_size (whole values).
 * @param[out] results   *count int32_t per-key results.
 * @param count          in: keys; out: keys processed (all of them unless the call failed).
 * @return 0 (see @p results), or in this order, nothing deleted: -EBADF, -EPERM (FM_F_RDONLY
 *   handle), -EINVAL (window past value_size, overflow-safe), -EOPNOTSUPP (not a plain hash
 *   map, or the value holds a spin lock), -EFAULT (count NULL, *count left as is; keys,
 *   compares or results NULL while *count > 0, *count set to 0). Also -EBADF if the handle is
 *   closed during the call: the first *count results are valid.
 */
FM_API int fm_map_delete_batch_cmp(int fd, const void *keys, const void *compares,
				   uint32_t compare_offset, uint32_t compare_size,
				   /*out*/ int32_t *results, uint32_t *count);

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
 * compare_offset@40, compare_size@44 (u32 each). Handles are FastMap handles, not file
 * descriptors. Pointers inside @p attr are read as pointers of this process.
 *
 * For the *_BATCH commands, the kernel's batch layout: in_batch@0, out_batch@8, keys@16,
 * values@24 (pointers, u64 each), count@32 (u32, in-out: written back into @p attr),
 * map_fd@36 (u32), elem_flags@40, flags@48 (u64; for the hash lookup batches it must be 0,
 * else -EINVAL). Then FastMap's extension, read only by FM_BPF_MAP_DELETE_BATCH with
 * FM_F_COMPARE in elem_flags (which then must be exactly FM_F_COMPARE, else -EINVAL), making
 * it fm_map_delete_batch_cmp(): compares@56 (a pointer to count windows of compare_size
 * bytes, back to back), compare_offset@64, compare_size@68 (u32 each; 0 = whole value),
 * results@72 (a pointer to count int32_t results); 80 bytes in all. Without FM_F_COMPARE,
 * bytes 56..80 must be zero; bytes from 80 on must always be zero (-EINVAL, checked before
 * the handle).
 * @param cmd  FM_BPF_* command.
 * @param attr the union bpf_attr; BPF_MAP_CREATE writes nothing back (the handle is the return).
 * @param size bytes of @p attr the caller passes.
 * @return what the command returns (BPF_MAP_CREATE: a handle), or -EINVAL (unknown command,
 *   nonzero bytes after the command's last field), -E2BIG (size larger than a page, or nonzero
 *   bytes past the end of the library's union bpf_attr), -EFAULT (attr NULL), or the command's
 *   errors as listed for the fm_map_* function of the same command.
 */
FM_API int fm_bpf(int cmd, void *attr, unsigned int size);

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
 * Calling it without a matching fm_read_lock() is a programming error: the process may be
 * aborted, or later sections of that thread may fail to protect their pointers.
 */
FM_API void fm_read_unlock(void);

/**
 * @brief Pointer to the stored value of @p key (bpf_map_lookup_elem() of a BPF program).
 * Call only inside fm_read_lock()/fm_read_unlock(); the pointer is valid until the
 * outermost section ends. It is 8-byte aligned. Writing through it is allowed (the
 * datapath's in-place refresh); a writer of more than one aligned word races with readers.
 * @param fd  map handle.
 * @param key key_size bytes.
 * @return the value pointer, or NULL with errno set: ENOENT (absent, or not an open
 *   handle), EFAULT (key NULL). Array maps answer too (every index < max_entries exists).
 */
FM_API void *fm_map_lookup_elem_ptr(int fd, const void *key);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* FASTMAP_H */
