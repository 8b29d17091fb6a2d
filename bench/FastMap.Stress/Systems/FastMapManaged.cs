using FastMap.Stress.Data;

namespace FastMap.Stress.Systems;

#if HAVE_BPFMAP
/// <summary>FastMap through its .NET API (generic struct overloads), as an application calls it.</summary>
public readonly struct FastMapManaged(BpfMap map) : IMapUnderTest, IBatchScanner
{
    private readonly BpfMap _map = map;

    public int Lookup(in Key16 key, out Value32 value) => (int)_map.Lookup<Key16, Value32>(in key, out value);
    public int Update(in Key16 key, in Value32 value, Upd flags) =>
        (int)_map.Update<Key16, Value32>(in key, in value, (ElemFlags)(ulong)flags);
    public int Insert(in Key16 key, in Value32 value) =>
        (int)_map.Update<Key16, Value32>(in key, in value, ElemFlags.NoExist);
    public int Delete(in Key16 key) => (int)_map.Delete<Key16>(in key);
    public int CompareAndDelete(in Key16 key, in Value32 expected) =>
        (int)_map.CompareAndDelete<Key16, ulong>(in key, in expected.Revision, 0);

    public int CompareAndUpdate(in Key16 key, in Value32 value, in Value32 expected) =>
        (int)_map.CompareAndUpdate<Key16, Value32, ulong>(in key, in value, in expected.Revision, 0);

    public int StoreRevisionInPlace(in Key16 key, ulong revision)
    {
        using (ReadSection.Enter())
        {
            ref Value32 v = ref _map.LookupRef<Key16, Value32>(in key);
            if (System.Runtime.CompilerServices.Unsafe.IsNullRef(ref v)) return 0;
            Volatile.Write(ref v.Revision, revision); // the datapath's single aligned 8-byte store
            // Still linked after the store? (The section keeps the address from being reused meanwhile.)
            return System.Runtime.CompilerServices.Unsafe.AreSame(ref v, ref _map.LookupRef<Key16, Value32>(in key)) ? 1 : -1;
        }
    }

    /// <summary>LookupBatch (typed), <see cref="Batches.ScanRoom"/> entries a call.</summary>
    public int Scan(Span<Key16> keys, Span<Value32> values, out int count) => Batches.ScanAll(in this, keys, values, out count);

    public int Next(bool start, ref uint cursor, Span<Key16> keys, Span<Value32> values, out int count)
    {
        BatchCursor c = start ? BatchCursor.Start : new BatchCursor(cursor);
        MapStatus st = _map.LookupBatch<Key16, Value32>(ref c, keys, values, out count);
        cursor = c.Position;
        return (int)st;
    }

    /// <summary>CompareAndDeleteBatch on the 8-byte revision window at offset 0.</summary>
    public int CollectBatch(ReadOnlySpan<Key16> keys, ReadOnlySpan<ulong> revisions, Span<int> results) =>
        (int)_map.CompareAndDeleteBatch<Key16, ulong>(keys, revisions, 0, System.Runtime.InteropServices.MemoryMarshal.Cast<int, MapStatus>(results), out _);

    public int Restore(ReadOnlySpan<Key16> keys, ReadOnlySpan<Value32> values)
    {
        MapStatus st = _map.UpdateBatch<Key16, Value32>(keys, values, out int applied);
        return Batches.FinishUpdate(this, (int)st, applied, keys, values);
    }

    /// <summary>LookupBulk: one call for the whole group of keys.</summary>
    public int LookupBulk(ReadOnlySpan<Key16> keys, Span<Value32> values, Span<int> results)
    {
        if (_map.LookupBulk<Key16, Value32>(keys, values, System.Runtime.InteropServices.MemoryMarshal.Cast<int, MapStatus>(results)) != MapStatus.Ok)
            return -1;
        int found = 0;
        foreach (int r in results[..keys.Length]) found += r == 0 ? 1 : 0;
        return found;
    }

    public void Dispose() => _map.Dispose();
}
#endif

public sealed class FastMapManagedSystem : MapSystem
{
    public override string Name => "FastMap";
    public override bool InPlace => true;
    public override MemoryKind Memory => MemoryKind.OwnAccounting;
    public override string Notes => ".NET API (BpfMap, generic struct overloads); gc-pass: LookupBatch, CompareAndDeleteBatch";

#if HAVE_BPFMAP
    public override string? Unavailable => null;

    public override MapInstance? Create(int maxEntries, out string? error)
    {
        MapStatus s = BpfMap.Create(new MapDefinition(MapType.Hash, 16, 32, (uint)maxEntries) { Flags = MapFlags.None },
            out BpfMap? map);
        if (s != MapStatus.Ok || map is null) { error = $"BpfMap.Create failed: {s}"; return null; }
        error = null;
        return new MapInstance<FastMapManaged>(new FastMapManaged(map)) { System = this, Accounting = () => map.MemoryBytes };
    }

    /// <summary>
    /// xproc workloads: a <see cref="MapFlags.Shared"/> map (it lives in a tmpfs file) pinned at
    /// <paramref name="pinPath"/> (a new path under /dev/shm), which the writer process opens with BpfMap.Open.
    /// </summary>
    public MapInstance? CreateShared(int maxEntries, string pinPath, out string? error)
    {
        MapStatus s = BpfMap.Create(new MapDefinition(MapType.Hash, 16, 32, (uint)maxEntries) { Flags = MapFlags.Shared },
            out BpfMap? map);
        if (s != MapStatus.Ok || map is null) { error = $"BpfMap.Create(Shared) failed: {s}"; return null; }
        if ((s = map.Pin(pinPath)) != MapStatus.Ok)
        {
            map.Dispose();
            error = $"Pin({pinPath}) failed: {s}";
            return null;
        }
        error = null;
        return new MapInstance<FastMapManaged>(new FastMapManaged(map)) { System = this, Accounting = () => map.MemoryBytes };
    }
#else
    public MapInstance? CreateShared(int maxEntries, string pinPath, out string? error)
    {
        error = Unavailable;
        return null;
    }
    public override string? Unavailable =>
        "the FastMap .NET API (BpfMap) is not in src/FastMap yet; this build was made without it";

    public override MapInstance? Create(int maxEntries, out string? error)
    {
        error = Unavailable;
        return null;
    }
#endif
}

/// <summary>
/// xproc-lookup's second handle: a shared FastMap map opened by path (BpfMap.Open) in the stress process, measured
/// against the private FastMap map of the same size. Not a system of its own: it has no map to create.
/// </summary>
public sealed class FastMapSharedHandleSystem : MapSystem
{
    public override string Name => "FastMap-shared";
    public override bool InPlace => true;
    public override MemoryKind Memory => MemoryKind.OwnAccounting;
    public override string Notes => "xproc-lookup only: a MapFlags.Shared map pinned under /dev/shm, opened again with BpfMap.Open";
    public override string? Unavailable => null;

    public override MapInstance? Create(int maxEntries, out string? error)
    {
        error = "FastMap-shared opens a pinned map; it creates none";
        return null;
    }

#if HAVE_BPFMAP
    /// <summary>A new handle of the map pinned at <paramref name="path"/>.</summary>
    public MapInstance? Open(string path, out string? error)
    {
        MapStatus s = BpfMap.Open(path, MapFlags.None, out BpfMap? map);
        if (s != MapStatus.Ok || map is null) { error = $"BpfMap.Open({path}) failed: {s}"; return null; }
        error = null;
        return new MapInstance<FastMapManaged>(new FastMapManaged(map)) { System = this, Accounting = () => map.MemoryBytes };
    }
#else
    public MapInstance? Open(string path, out string? error)
    {
        error = "the FastMap .NET API (BpfMap) is not in this build";
        return null;
    }
#endif
}
