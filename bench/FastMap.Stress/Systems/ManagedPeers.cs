using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using FastMap.Stress.Data;

namespace FastMap.Stress.Systems;

/// <summary>
/// ConcurrentDictionary&lt;Key16,Value32&gt;. Value32 is not atomically writable, so every overwrite allocates a new
/// node (that is the peer as users run it). Compare-and-delete is TryRemove(KeyValuePair), which compares the whole
/// value; -EBUSY and -ENOENT are not told apart (both are "false").
/// </summary>
public struct ConcurrentDictionaryMap(int capacity) : IMapUnderTest
{
    private readonly ConcurrentDictionary<Key16, Value32> _d =
        new(concurrencyLevel: Environment.ProcessorCount, capacity: capacity);

    public readonly int Lookup(in Key16 key, out Value32 value) => _d.TryGetValue(key, out value) ? St.Ok : St.ENOENT;

    public readonly int Update(in Key16 key, in Value32 value, Upd flags)
    {
        switch (flags)
        {
            case Upd.NoExist:
                return _d.TryAdd(key, value) ? St.Ok : St.EEXIST;
            case Upd.Exist:
                // No replace-only call exists: the indexer is the peer's fastest overwrite. It would insert an absent
                // key (update-exist only names present keys), and it skips the existence check, which favours the peer.
                _d[key] = value;
                return St.Ok;
            default:
                _d[key] = value;
                return St.Ok;
        }
    }

    public readonly int Insert(in Key16 key, in Value32 value) => _d.TryAdd(key, value) ? St.Ok : St.EEXIST;
    public readonly int Delete(in Key16 key) => _d.TryRemove(key, out _) ? St.Ok : St.ENOENT;
    public readonly int CompareAndDelete(in Key16 key, in Value32 expected) =>
        _d.TryRemove(new KeyValuePair<Key16, Value32>(key, expected)) ? St.Ok : St.EBUSY;
    /// <summary>TryUpdate: compares the whole value (the payload is a function of the revision); a miss is told apart
    /// from a mismatch only on the failure path.</summary>
    public readonly int CompareAndUpdate(in Key16 key, in Value32 value, in Value32 expected) =>
        _d.TryUpdate(key, value, expected) ? St.Ok : _d.ContainsKey(key) ? St.EBUSY : St.ENOENT;
    public readonly int StoreRevisionInPlace(in Key16 key, ulong revision) => 0;

    /// <summary>Enumeration (lock-free, no snapshot: each entry is seen once if it is present throughout).</summary>
    public readonly int Scan(Span<Key16> keys, Span<Value32> values, out int count) => Batches.CopyAll(_d, keys, values, out count);

    /// <summary>TryRemove(KeyValuePair) per key (whole value; the payload is a function of the revision).</summary>
    public readonly int CollectBatch(ReadOnlySpan<Key16> keys, ReadOnlySpan<ulong> revisions, Span<int> results) =>
        Batches.CompareAndDeleteEach(this, keys, revisions, results);

    public readonly int Restore(ReadOnlySpan<Key16> keys, ReadOnlySpan<Value32> values) => Batches.UpdateEach(this, keys, values);
    public readonly int LookupBulk(ReadOnlySpan<Key16> keys, Span<Value32> values, Span<int> results) => Batches.LookupEach(in this, keys, values, results);
    public readonly void Dispose() => _d.Clear();
}

/// <summary>
/// NonBlocking.ConcurrentDictionary&lt;Key16,Value32&gt; (NuGet NonBlocking, lock-free), called exactly as
/// <see cref="ConcurrentDictionaryMap"/> is.
/// </summary>
public struct NonBlockingMap(int capacity) : IMapUnderTest
{
    private readonly NonBlocking.ConcurrentDictionary<Key16, Value32> _d =
        new(concurrencyLevel: Environment.ProcessorCount, capacity: capacity);

    public readonly int Lookup(in Key16 key, out Value32 value) => _d.TryGetValue(key, out value) ? St.Ok : St.ENOENT;

    public readonly int Update(in Key16 key, in Value32 value, Upd flags)
    {
        if (flags == Upd.NoExist) return _d.TryAdd(key, value) ? St.Ok : St.EEXIST;
        _d[key] = value; // as for ConcurrentDictionary: the indexer is the fastest overwrite
        return St.Ok;
    }

    public readonly int Insert(in Key16 key, in Value32 value) => _d.TryAdd(key, value) ? St.Ok : St.EEXIST;
    public readonly int Delete(in Key16 key) => _d.TryRemove(key, out _) ? St.Ok : St.ENOENT;
    public readonly int CompareAndDelete(in Key16 key, in Value32 expected) =>
        _d.TryRemove(new KeyValuePair<Key16, Value32>(key, expected)) ? St.Ok : St.EBUSY;
    public readonly int CompareAndUpdate(in Key16 key, in Value32 value, in Value32 expected) =>
        _d.TryUpdate(key, value, expected) ? St.Ok : _d.ContainsKey(key) ? St.EBUSY : St.ENOENT;
    public readonly int StoreRevisionInPlace(in Key16 key, ulong revision) => 0;
    public readonly int Scan(Span<Key16> keys, Span<Value32> values, out int count) => Batches.CopyAll(_d, keys, values, out count);
    public readonly int CollectBatch(ReadOnlySpan<Key16> keys, ReadOnlySpan<ulong> revisions, Span<int> results) =>
        Batches.CompareAndDeleteEach(this, keys, revisions, results);
    public readonly int Restore(ReadOnlySpan<Key16> keys, ReadOnlySpan<Value32> values) => Batches.UpdateEach(this, keys, values);
    public readonly int LookupBulk(ReadOnlySpan<Key16> keys, Span<Value32> values, Span<int> results) => Batches.LookupEach(in this, keys, values, results);
    public readonly void Dispose() => _d.Clear();
}

public sealed class NonBlockingSystem : MapSystem
{
    public override string Name => "NonBlocking";
    public override MemoryKind Memory => MemoryKind.ManagedHeap;
    public override string? Unavailable => null;
    public override string Notes => "NonBlocking.ConcurrentDictionary (lock-free), called as ConcurrentDictionary is";
    public override MapInstance? Create(int maxEntries, out string? error)
    {
        error = null;
        return new MapInstance<NonBlockingMap>(new NonBlockingMap(maxEntries)) { System = this };
    }
}

/// <summary>Dictionary&lt;Key16,Value32&gt;: one thread only, the non-concurrent limit.</summary>
public struct DictionaryMap(int capacity) : IMapUnderTest
{
    private readonly Dictionary<Key16, Value32> _d = new(capacity);

    public readonly int Lookup(in Key16 key, out Value32 value) => _d.TryGetValue(key, out value) ? St.Ok : St.ENOENT;

    public readonly int Update(in Key16 key, in Value32 value, Upd flags)
    {
        if (flags == Upd.NoExist) return _d.TryAdd(key, value) ? St.Ok : St.EEXIST;
        if (flags == Upd.Exist)
        {
            ref Value32 v = ref CollectionsMarshal.GetValueRefOrNullRef(_d, key);
            if (Unsafe.IsNullRef(ref v)) return St.ENOENT;
            v = value;
            return St.Ok;
        }
        _d[key] = value;
        return St.Ok;
    }

    public readonly int Insert(in Key16 key, in Value32 value) => _d.TryAdd(key, value) ? St.Ok : St.EEXIST;
    public readonly int Delete(in Key16 key) => _d.Remove(key) ? St.Ok : St.ENOENT;

    public readonly int CompareAndDelete(in Key16 key, in Value32 expected)
    {
        ref Value32 v = ref CollectionsMarshal.GetValueRefOrNullRef(_d, key);
        if (Unsafe.IsNullRef(ref v)) return St.ENOENT;
        if (v.Revision != expected.Revision) return St.EBUSY;
        _d.Remove(key);
        return St.Ok;
    }

    public readonly int CompareAndUpdate(in Key16 key, in Value32 value, in Value32 expected)
    {
        ref Value32 v = ref CollectionsMarshal.GetValueRefOrNullRef(_d, key);
        if (Unsafe.IsNullRef(ref v)) return St.ENOENT;
        if (v.Revision != expected.Revision) return St.EBUSY;
        v = value;
        return St.Ok;
    }

    public readonly int StoreRevisionInPlace(in Key16 key, ulong revision) => 0;

    // gc-pass needs a second thread; these keep the interface whole.
    public readonly int Scan(Span<Key16> keys, Span<Value32> values, out int count) => Batches.CopyAll(_d, keys, values, out count);
    public readonly int CollectBatch(ReadOnlySpan<Key16> keys, ReadOnlySpan<ulong> revisions, Span<int> results) =>
        Batches.CompareAndDeleteEach(this, keys, revisions, results);
    public readonly int Restore(ReadOnlySpan<Key16> keys, ReadOnlySpan<Value32> values) => Batches.UpdateEach(this, keys, values);
    public readonly int LookupBulk(ReadOnlySpan<Key16> keys, Span<Value32> values, Span<int> results) => Batches.LookupEach(in this, keys, values, results);
    public readonly void Dispose() => _d.Clear();
}

public sealed class ConcurrentDictionarySystem : MapSystem
{
    public override string Name => "ConcurrentDictionary";
    public override MemoryKind Memory => MemoryKind.ManagedHeap;
    public override string? Unavailable => null;
    public override string Notes => "cmpdel = TryRemove(KeyValuePair) (whole value); update-exist uses the indexer; gc-pass: enumeration, then TryRemove(KeyValuePair) per key";
    public override MapInstance? Create(int maxEntries, out string? error)
    {
        error = null;
        return new MapInstance<ConcurrentDictionaryMap>(new ConcurrentDictionaryMap(maxEntries)) { System = this };
    }
}

public sealed class DictionarySystem : MapSystem
{
    public override string Name => "Dictionary";
    public override int MaxThreads => 1;
    public override MemoryKind Memory => MemoryKind.ManagedHeap;
    public override string? Unavailable => null;
    public override string Notes => "1 thread only: the non-concurrent limit";
    public override MapInstance? Create(int maxEntries, out string? error)
    {
        error = null;
        return new MapInstance<DictionaryMap>(new DictionaryMap(maxEntries)) { System = this };
    }
}
