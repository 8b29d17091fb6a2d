using System.Runtime.InteropServices;
using FastMap.Stress.Data;

namespace FastMap.Stress.Systems;

/// <summary>
/// The ct_* functions of bench/peers/ctable.c. Per-op calls are SuppressGCTransition function pointers: a direct
/// call, as a C program makes it, without the managed-to-native transition a C caller never pays.
/// </summary>
public sealed unsafe class CTableAbi
{
    public delegate* unmanaged<ulong, void*> Create;
    public delegate* unmanaged<void*, void> Destroy;
    public delegate* unmanaged[SuppressGCTransition]<void*, void*, void*, int> Find;
    public delegate* unmanaged[SuppressGCTransition]<void*, void*, void*, ulong, int> Update;
    public delegate* unmanaged[SuppressGCTransition]<void*, void*, int> Erase;
    public delegate* unmanaged[SuppressGCTransition]<void*, void*, ulong, int> EraseCmp;
    public delegate* unmanaged[SuppressGCTransition]<void*, void*, void*, ulong, int> UpdateCmp;

    public static CTableAbi? Load(out string? reason)
    {
        IntPtr h = NativePeers.Load("libctable.so", "ctable.c", out reason);
        if (h == IntPtr.Zero) return null;
        try
        {
            return new CTableAbi
            {
                Create = (delegate* unmanaged<ulong, void*>)NativeLibrary.GetExport(h, "ct_create"),
                Destroy = (delegate* unmanaged<void*, void>)NativeLibrary.GetExport(h, "ct_destroy"),
                Find = (delegate* unmanaged[SuppressGCTransition]<void*, void*, void*, int>)NativeLibrary.GetExport(h, "ct_find"),
                Update = (delegate* unmanaged[SuppressGCTransition]<void*, void*, void*, ulong, int>)NativeLibrary.GetExport(h, "ct_update"),
                Erase = (delegate* unmanaged[SuppressGCTransition]<void*, void*, int>)NativeLibrary.GetExport(h, "ct_erase"),
                EraseCmp = (delegate* unmanaged[SuppressGCTransition]<void*, void*, ulong, int>)NativeLibrary.GetExport(h, "ct_erase_cmp"),
                UpdateCmp = (delegate* unmanaged[SuppressGCTransition]<void*, void*, void*, ulong, int>)NativeLibrary.GetExport(h, "ct_update_cmp"),
            };
        }
        catch (EntryPointNotFoundException e) { reason = e.Message; return null; }
    }
}

/// <summary>The plain C table: one thread only, the non-concurrent limit in C.</summary>
public readonly unsafe struct CTableMap(CTableAbi abi, void* map) : IMapUnderTest
{
    private readonly CTableAbi _abi = abi;
    private readonly void* _m = map;

    public int Lookup(in Key16 key, out Value32 value)
    {
        System.Runtime.CompilerServices.Unsafe.SkipInit(out value);
        fixed (Key16* k = &key)
        fixed (Value32* v = &value)
            return _abi.Find(_m, k, v);
    }

    public int Update(in Key16 key, in Value32 value, Upd flags)
    {
        fixed (Key16* k = &key)
        fixed (Value32* v = &value)
            return _abi.Update(_m, k, v, (ulong)flags);
    }

    public int Insert(in Key16 key, in Value32 value) => Update(key, value, Upd.NoExist);

    public int Delete(in Key16 key)
    {
        fixed (Key16* k = &key)
            return _abi.Erase(_m, k);
    }

    public int CompareAndDelete(in Key16 key, in Value32 expected)
    {
        fixed (Key16* k = &key)
            return _abi.EraseCmp(_m, k, expected.Revision);
    }

    public int CompareAndUpdate(in Key16 key, in Value32 value, in Value32 expected)
    {
        fixed (Key16* k = &key)
        fixed (Value32* v = &value)
            return _abi.UpdateCmp(_m, k, v, expected.Revision);
    }

    public int StoreRevisionInPlace(in Key16 key, ulong revision) => 0;

    // gc-pass needs a second thread; these keep the interface whole.
    public int Scan(Span<Key16> keys, Span<Value32> values, out int count) { count = 0; return St.EOPNOTSUPP; }
    public int CollectBatch(ReadOnlySpan<Key16> keys, ReadOnlySpan<ulong> revisions, Span<int> results) =>
        Batches.CompareAndDeleteEach(this, keys, revisions, results);
    public int Restore(ReadOnlySpan<Key16> keys, ReadOnlySpan<Value32> values) => Batches.UpdateEach(this, keys, values);
    public int LookupBulk(ReadOnlySpan<Key16> keys, Span<Value32> values, Span<int> results) => Batches.LookupEach(in this, keys, values, results);
    public void Dispose() => _abi.Destroy(_m);
}

public sealed unsafe class CTableSystem : MapSystem
{
    private CTableAbi? _abi;
    private string? _reason;
    private bool _probed;

    public override string Name => "C-table";
    public override int MaxThreads => 1;
    public override MemoryKind Memory => MemoryKind.Rss;
    public override string Notes => "bench/peers/ctable.c: 1 thread only, the non-concurrent limit in C (linear probing, inline entries)";

    public override string? Unavailable
    {
        get
        {
            if (!_probed) { _abi = CTableAbi.Load(out _reason); _probed = true; }
            return _reason;
        }
    }

    public override MapInstance? Create(int maxEntries, out string? error)
    {
        if (Unavailable is { } r) { error = r; return null; }
        void* m = _abi!.Create((ulong)maxEntries);
        if (m == null) { error = "ct_create failed"; return null; }
        error = null;
        return new MapInstance<CTableMap>(new CTableMap(_abi, m)) { System = this };
    }
}
