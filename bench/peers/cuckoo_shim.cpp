// A C shim over libcuckoo's cuckoohash_map<Key16, Value32> (header-only C++), for the stress run's libcuckoo peer.
// Every function returns 0 or a negative errno, like the kernel's map commands.
// Build: bench/peers/build.sh (g++ -O2 -shared -fPIC).
#include <libcuckoo/cuckoohash_map.hh>
#include <cerrno>
#include <cstdint>
#include <cstring>

namespace {

struct Key16 {
    uint64_t a, b;
    bool operator==(const Key16 &o) const { return a == o.a && b == o.b; }
};

struct Value32 {
    uint64_t revision; // the 8-byte compare window at offset 0
    uint64_t payload[3];
};

static_assert(sizeof(Key16) == 16, "key is 16 bytes");
static_assert(sizeof(Value32) == 32, "value is 32 bytes");

struct KeyHash {
    // Keys are splitmix64 output already; one multiply-fold mixes the two words.
    size_t operator()(const Key16 &k) const {
        uint64_t h = (k.a ^ (k.b * 0x9E3779B97F4A7C15ULL));
        return static_cast<size_t>(h ^ (h >> 29));
    }
};

using Map = libcuckoo::cuckoohash_map<Key16, Value32, KeyHash>;

Map *M(void *m) { return static_cast<Map *>(m); }

} // namespace

extern "C" {

enum { CK_ANY = 0, CK_NOEXIST = 1, CK_EXIST = 2 };

void *ck_create(uint64_t capacity) {
    try {
        return new Map(static_cast<size_t>(capacity));
    } catch (...) {
        return nullptr;
    }
}

void ck_destroy(void *m) { delete M(m); }

int ck_find(void *m, const void *key, void *value) {
    const Key16 &k = *static_cast<const Key16 *>(key);
    return M(m)->find_fn(k, [value](const Value32 &v) { std::memcpy(value, &v, sizeof v); }) ? 0 : -ENOENT;
}

int ck_insert(void *m, const void *key, const void *value) {
    try {
        return M(m)->insert(*static_cast<const Key16 *>(key), *static_cast<const Value32 *>(value)) ? 0 : -EEXIST;
    } catch (...) {
        return -ENOMEM;
    }
}

int ck_update(void *m, const void *key, const void *value, uint64_t flags) {
    const Key16 &k = *static_cast<const Key16 *>(key);
    const Value32 &v = *static_cast<const Value32 *>(value);
    try {
        switch (flags) {
        case CK_NOEXIST: return M(m)->insert(k, v) ? 0 : -EEXIST;
        case CK_EXIST: return M(m)->update(k, v) ? 0 : -ENOENT;
        case CK_ANY: M(m)->insert_or_assign(k, v); return 0;
        default: return -EINVAL;
        }
    } catch (...) {
        return -ENOMEM;
    }
}

int ck_erase(void *m, const void *key) { return M(m)->erase(*static_cast<const Key16 *>(key)) ? 0 : -ENOENT; }

// Compare-and-delete with erase_fn: under the bucket locks, erase only if the revision still matches.
int ck_erase_cmp(void *m, const void *key, uint64_t expected_revision) {
    bool matched = false;
    bool found = M(m)->erase_fn(*static_cast<const Key16 *>(key), [&](Value32 &v) {
        matched = v.revision == expected_revision;
        return matched;
    });
    return !found ? -ENOENT : matched ? 0 : -EBUSY;
}

// cmpupd: replace the value only if the stored revision is the expected one, under the bucket locks (update_fn).
int ck_update_cmp(void *m, const void *key, const void *value, uint64_t expected_revision) {
    bool matched = false;
    bool found = M(m)->update_fn(*static_cast<const Key16 *>(key), [&](Value32 &v) {
        matched = v.revision == expected_revision;
        if (matched)
            v = *static_cast<const Value32 *>(value);
    });
    return !found ? -ENOENT : matched ? 0 : -EBUSY;
}

// gc-pass's delete: ck_erase_cmp for each key, looped here so that the harness pays no managed-to-native
// transition per key (a C++ collector would call erase_fn directly). results[i] as ck_erase_cmp's return.
void ck_erase_cmp_batch(void *m, const void *keys, const uint64_t *expected_revisions, uint64_t n, int32_t *results) {
    const Key16 *k = static_cast<const Key16 *>(keys);
    for (uint64_t i = 0; i < n; i++)
        results[i] = ck_erase_cmp(m, &k[i], expected_revisions[i]);
}

// gc-pass's scan: libcuckoo iterates only through a locked_table, which holds every bucket lock until it is
// destroyed, so writers wait for the whole copy. Copies at most room entries; *count gets the entries copied.
int ck_scan(void *m, void *keys, void *values, uint64_t room, uint64_t *count) {
    Key16 *k = static_cast<Key16 *>(keys);
    Value32 *v = static_cast<Value32 *>(values);
    uint64_t n = 0;
    int ret = 0;
    try {
        auto table = M(m)->lock_table();
        for (const auto &kv : table) {
            if (n == room) {
                ret = -ENOSPC;
                break;
            }
            k[n] = kv.first;
            v[n] = kv.second;
            n++;
        }
    } catch (...) {
        ret = -ENOMEM;
    }
    *count = n;
    return ret;
}

uint64_t ck_size(void *m) { return M(m)->size(); }

} // extern "C"
