using FastMap.Stress.Data;

namespace FastMap.Stress.Systems;

/// <summary>Statuses every system answers with: 0 or the negative errno the kernel would give.</summary>
public static class St
{
    public const int Ok = 0, ENOENT = -2, E2BIG = -7, EBUSY = -16, EEXIST = -17, ENOSPC = -28, EOPNOTSUPP = -95;
}

/// <summary>Update flags with the kernel's numbers (BPF_ANY, BPF_NOEXIST, BPF_EXIST).</summary>
public enum Upd : ulong { Any = 0, NoExist = 1, Exist = 2 }

/// <summary>
/// One map system under test. Implementations are structs, so the timed loop (generic over the struct) is compiled
/// once per system and calls them directly: no interface dispatch inside the loop, and no allocation by the harness.
/// </summary>
public interface IMapUnderTest : IDisposable
{
    /// <summary>Copy the value out: 0 or -ENOENT.</summary>
    int Lookup(in Key16 key, out Value32 value);
    /// <summary>0, -ENOENT (Exist), -EEXIST (NoExist), -E2BIG.</summary>
    int Update(in Key16 key, in Value32 value, Upd flags);
    /// <summary>Update with BPF_NOEXIST.</summary>
    int Insert(in Key16 key, in Value32 value);
    /// <summary>0 or -ENOENT.</summary>
    int Delete(in Key16 key);
    /// <summary>
    /// Delete only if the stored revision (8-byte window at offset 0) equals <c>expected.Revision</c>: 0, -EBUSY,
    /// -ENOENT. Systems without a window compare the whole value (the payload is a function of the revision).
    /// Atomic unless <see cref="MapSystem.AtomicCompareAndDelete"/> says otherwise.
    /// </summary>
    int CompareAndDelete(in Key16 key, in Value32 expected);
    /// <summary>
    /// cmpupd: replace the value with <paramref name="value"/> only if the stored revision (8-byte window at offset 0)
    /// equals <c>expected.Revision</c>: 0, -EBUSY, -ENOENT. Systems without a window compare the whole value
    /// (ConcurrentDictionary's TryUpdate). Atomic unless <see cref="MapSystem.AtomicCompareAndDelete"/> says otherwise.
    /// </summary>
    int CompareAndUpdate(in Key16 key, in Value32 value, in Value32 expected);
    /// <summary>
    /// gc-race's datapath refresh: one aligned 8-byte store of the revision into the stored value, in place, inside
    /// a read-side section. Returns 1 when the store landed in the live element (a second in-place lookup in the same
    /// section still finds that element), 0 when the key is absent, -1 when the element was unlinked under the
    /// writer (the refresh is lost, whatever the collector does). Only for systems with <see cref="MapSystem.InPlace"/>.
    /// </summary>
    int StoreRevisionInPlace(in Key16 key, ulong revision);

    /// <summary>
    /// gc-pass's scan: copies every entry out to <paramref name="keys"/> and <paramref name="values"/> from index 0
    /// on, the way the system scans fastest (each system says how), while other threads write. 0 with
    /// <paramref name="count"/> entries, or a negative errno (-ENOSPC: more entries than room).
    /// </summary>
    int Scan(Span<Key16> keys, Span<Value32> values, out int count);

    /// <summary>
    /// gc-pass's delete of keys judged stale: <paramref name="results"/>[i] is 0 (deleted), -EBUSY (the stored
    /// revision is no longer <paramref name="revisions"/>[i]; kept) or -ENOENT. Compare-and-delete where the system
    /// has one (atomic unless <see cref="MapSystem.AtomicCompareAndDelete"/> says otherwise); the kernel's is a plain
    /// delete. Returns 0, or an error of the whole call (no result is then valid).
    /// </summary>
    int CollectBatch(ReadOnlySpan<Key16> keys, ReadOnlySpan<ulong> revisions, Span<int> results);

    /// <summary>Creates or replaces entries, with no other thread writing; returns how many failed.</summary>
    int Restore(ReadOnlySpan<Key16> keys, ReadOnlySpan<Value32> values);

    /// <summary>
    /// bulk-lookup: looks every key up, copying found values out, in one call where the system has one (FastMap),
    /// else key by key (<see cref="Batches.LookupEach"/>). <paramref name="results"/>[i] is 0 or -ENOENT; returns how
    /// many were found.
    /// </summary>
    int LookupBulk(ReadOnlySpan<Key16> keys, Span<Value32> values, Span<int> results);
}
