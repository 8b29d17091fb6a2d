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

/**
 * @brief The bpf(2) entry point: same commands, attr layout and answers as the kernel, so a
 * program written against syscall(__NR_bpf, cmd, attr, size) runs by calling this instead.
 *
 * @p attr is the kernel's union bpf_attr. For the *_ELEM commands: map_fd@0, key@8,
 * value/next_key@16, flags@24, and the RFC's compare fields compare@32 (a pointer),
 * compare_offset@40, compare_size@44 (u32 each). Handles are FastMap handles, not file
 * descriptors. Pointers inside @p attr are read as pointers of this process.
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
