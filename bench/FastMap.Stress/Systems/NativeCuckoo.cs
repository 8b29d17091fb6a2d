using System.Runtime.InteropServices;
using FastMap.Stress.Data;

namespace FastMap.Stress.Systems;

/// <summary>The ck_* functions of bench/peers/cuckoo_shim.cpp. Per-op calls are SuppressGCTransition function
/// pointers (a direct call, as a C++ program makes it); the scans and batches keep the transition.</summary>
public sealed unsafe class CuckooAbi
{
    public delegate* unmanaged<ulong, void*> Create;
    public delegate* unmanaged<void*, void> Destroy;
    public delegate* unmanaged[SuppressGCTransition]<void*, void*, void*, int> Find;
    public delegate* unmanaged[SuppressGCTransition]<void*, void*, void*, int> Insert;
    public delegate* unmanaged[SuppressGCTransition]<void*, void*, void*, ulong, int> Update;
    public delegate* unmanaged[SuppressGCTransition]<void*, void*, int> Erase;
    public delegate* unmanaged[SuppressGCTransition]<void*, void*, ulong, int> EraseCmp;
    public delegate* unmanaged[SuppressGCTransition]<void*, void*, void*, ulong, int> UpdateCmp;
    public delegate* unmanaged<void*, void*, ulong*, ulong, int*, void> EraseCmpBatch;
    public delegate* unmanaged<void*, void*, void*, ulong, ulong*, int> Scan;

    /// <summary>Builds the shim with bench/peers/build.sh if needed, then binds it; or gives why not.</summary>
    public static CuckooAbi? Load(out string? reason)
    {
        IntPtr h = NativePeers.Load("libcuckoo_shim.so", "cuckoo_shim.cpp", out reason);
        if (h == IntPtr.Zero)
        {
            if (!File.Exists("/usr/include/libcuckoo/cuckoohash_map.hh"))
                reason = "libcuckoo is not installed: apt-get install -y libcuckoo-dev (.ci/run does this), then run again";
            return null;
        }
        try
        {
            reason = null;
            return new CuckooAbi
            {
                Create = (delegate* unmanaged<ulong, void*>)NativeLibrary.GetExport(h, "ck_create"),
                Destroy = (delegate* unmanaged<void*, void>)NativeLibrary.GetExport(h, "ck_destroy"),
                Find = (delegate* unmanaged[SuppressGCTransition]<void*, void*, void*, int>)NativeLibrary.GetExport(h, "ck_find"),
                Insert = (delegate* unmanaged[SuppressGCTransition]<void*, void*, void*, int>)NativeLibrary.GetExport(h, "ck_insert"),
                Update = (delegate* unmanaged[SuppressGCTransition]<void*, void*, void*, ulong, int>)NativeLibrary.GetExport(h, "ck_update"),
                Erase = (delegate* unmanaged[SuppressGCTransition]<void*, void*, int>)NativeLibrary.GetExport(h, "ck_erase"),
                EraseCmp = (delegate* unmanaged[SuppressGCTransition]<void*, void*, ulong, int>)NativeLibrary.GetExport(h, "ck_erase_cmp"),
                UpdateCmp = (delegate* unmanaged[SuppressGCTransition]<void*, void*, void*, ulong, int>)NativeLibrary.GetExport(h, "ck_update_cmp"),
                EraseCmpBatch = (delegate* unmanaged<void*, void*, ulong*, ulong, int*, void>)NativeLibrary.GetExport(h, "ck_erase_cmp_batch"),
                Scan = (delegate* unmanaged<void*, void*, void*, ulong, ulong*, int>)NativeLibrary.GetExport(h, "ck_scan"),
            };
        }
        catch (EntryPointNotFoundException e) { reason = e.Message; return null; }
    }
}

/// <summary>libcuckoo cuckoohash_map through the C shim; compare-and-delete is erase_fn (atomic).</summary>
public readonly unsafe struct CuckooMap(CuckooAbi abi, void* map) : IMapUnderTest
{
    private readonly CuckooAbi _abi = abi;
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

    public int Insert(in Key16 key, in Value32 value)
    {
        fixed (Key16* k = &key)
        fixed (Value32* v = &value)
            return _abi.Insert(_m, k, v);
    }

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

    /// <summary>ck_scan: one locked_table copy of the whole map (every bucket lock held throughout).</summary>
    public int Scan(Span<Key16> keys, Span<Value32> values, out int count)
    {
        ulong n;
        int st;
        fixed (Key16* k = keys)
        fixed (Value32* v = values)
            st = _abi.Scan(_m, k, v, (ulong)Math.Min(keys.Length, values.Length), &n);
        count = (int)n;
        return st;
    }

    /// <summary>ck_erase_cmp_batch: erase_fn comparing the revision, per key, looped in C++.</summary>
    public int CollectBatch(ReadOnlySpan<Key16> keys, ReadOnlySpan<ulong> revisions, Span<int> results)
    {
        fixed (Key16* k = keys)
        fixed (ulong* r = revisions)
        fixed (int* o = results)
            _abi.EraseCmpBatch(_m, k, r, (ulong)keys.Length, o);
        return St.Ok;
    }

    public int Restore(ReadOnlySpan<Key16> keys, ReadOnlySpan<Value32> values) => Batches.UpdateEach(this, keys, values);
    public int LookupBulk(ReadOnlySpan<Key16> keys, Span<Value32> values, Span<int> results) => Batches.LookupEach(in this, keys, values, results);
    public void Dispose() => _abi.Destroy(_m);
}

public sealed unsafe class CuckooSystem : MapSystem
{
    private CuckooAbi? _abi;
    private string? _reason;
    private bool _probed;

    public override string Name => "libcuckoo";
    public override MemoryKind Memory => MemoryKind.Rss;
    public override string Notes => "cuckoohash_map via C shim; cmpdel = erase_fn; gc-pass: locked_table copy, then erase_fn per key (looped in C++)";

    public override string? Unavailable
    {
        get
        {
            if (!_probed) { _abi = CuckooAbi.Load(out _reason); _probed = true; }
            return _reason;
        }
    }

    public override MapInstance? Create(int maxEntries, out string? error)
    {
        if (Unavailable is { } r) { error = r; return null; }
        void* m = _abi!.Create((ulong)maxEntries);
        if (m == null) { error = "ck_create failed"; return null; }
        error = null;
        return new MapInstance<CuckooMap>(new CuckooMap(_abi, m)) { System = this };
    }
}
