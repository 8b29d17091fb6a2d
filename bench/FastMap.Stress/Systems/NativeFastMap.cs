using System.Runtime.InteropServices;
using FastMap.Stress.Data;

namespace FastMap.Stress.Systems;

/// <summary>The fm_* entry points of libfastmap.so (include/fastmap.h), bound once with NativeLibrary. Per-op calls
/// are SuppressGCTransition function pointers: a direct call, as a C program makes it, without the managed-to-native
/// transition a C caller never pays (what remains is the library's own entry: NativeAOT's transition, the handle,
/// the checks, errno).</summary>
public sealed unsafe class FastMapAbi
{
    public delegate* unmanaged<uint, byte*, uint, uint, uint, void*, int> Create;
    public delegate* unmanaged<int, int> Close;
    public delegate* unmanaged[SuppressGCTransition]<int, void*, void*, int> Lookup;
    public delegate* unmanaged[SuppressGCTransition]<int, void*, void*, ulong, int> Update;
    public delegate* unmanaged[SuppressGCTransition]<int, void*, int> Delete;
    public delegate* unmanaged[SuppressGCTransition]<int, void*, void*, uint, uint, int> DeleteCmp;
    public delegate* unmanaged[SuppressGCTransition]<int, void*, void*, void*, uint, uint, ulong, int> UpdateCmp; // optional
    public delegate* unmanaged<void> ReadLock;
    public delegate* unmanaged<void> ReadUnlock;
    public delegate* unmanaged<int, void*, void*> LookupPtr;
    // The batch exports, optional: a libfastmap.so built before them still runs every other workload.
    public delegate* unmanaged<int, void*, void*, void*, void*, uint*, ulong, int> LookupBatch;
    public delegate* unmanaged<int, void*, void*, uint*, ulong, int> UpdateBatch;
    public delegate* unmanaged<int, void*, void*, uint, uint, int*, uint*, int> DeleteBatchCmp;
    public delegate* unmanaged[SuppressGCTransition]<int, void*, void*, int*, uint, int> LookupBulk; // optional: null before it existed
    // The refresh in a section (lock, lookup_ptr, store, lookup_ptr, unlock) as one C function of the reads shim.
    public delegate* unmanaged[SuppressGCTransition]<int, void*, ulong, int> StoreRevision;
    public string Path = "";
    /// <summary>How lookups reach the map: fastmap.h's inline reads (the shim) or the library's exports, and why.</summary>
    public string Reads = "";

    /// <summary>Null when the library has the batch exports gc-pass calls, else why not.</summary>
    public string? BatchUnavailable =>
        LookupBatch != null && UpdateBatch != null && DeleteBatchCmp != null ? null
            : $"{Path} has no batch exports (built before them: rebuild with scripts/build-native.sh)";

    /// <summary>Loads the library and binds every export, or gives why not.</summary>
    public static FastMapAbi? Load(string? explicitPath, out string? reason)
    {
        string path = explicitPath ?? System.IO.Path.Combine(Repo.Root, "build/native-prefix/lib/libfastmap.so");
        if (!File.Exists(path)) { reason = $"libfastmap.so not found at {path} (build it, or pass --native-lib)"; return null; }
        if (!NativeLibrary.TryLoad(path, out IntPtr h)) { reason = $"NativeLibrary.TryLoad({path}) failed"; return null; }
        var abi = new FastMapAbi { Path = path };
        string? missing = null;
        IntPtr Get(string name)
        {
            if (NativeLibrary.TryGetExport(h, name, out IntPtr p)) return p;
            missing ??= name;
            return IntPtr.Zero;
        }
        abi.Create = (delegate* unmanaged<uint, byte*, uint, uint, uint, void*, int>)Get("fm_map_create");
        abi.Close = (delegate* unmanaged<int, int>)Get("fm_map_close");
        abi.Lookup = (delegate* unmanaged[SuppressGCTransition]<int, void*, void*, int>)Get("fm_map_lookup_elem");
        abi.Update = (delegate* unmanaged[SuppressGCTransition]<int, void*, void*, ulong, int>)Get("fm_map_update_elem");
        abi.Delete = (delegate* unmanaged[SuppressGCTransition]<int, void*, int>)Get("fm_map_delete_elem");
        abi.DeleteCmp = (delegate* unmanaged[SuppressGCTransition]<int, void*, void*, uint, uint, int>)Get("fm_map_delete_elem_cmp");
        abi.ReadLock = (delegate* unmanaged<void>)Get("fm_read_lock");
        abi.ReadUnlock = (delegate* unmanaged<void>)Get("fm_read_unlock");
        abi.LookupPtr = (delegate* unmanaged<int, void*, void*>)Get("fm_map_lookup_elem_ptr");
        if (missing is not null) { reason = $"{path} lacks export {missing}"; return null; }
        if (NativeLibrary.TryGetExport(h, "fm_map_lookup_batch", out IntPtr lb)
            && NativeLibrary.TryGetExport(h, "fm_map_update_batch", out IntPtr ub)
            && NativeLibrary.TryGetExport(h, "fm_map_delete_batch_cmp", out IntPtr db))
        {
            abi.LookupBatch = (delegate* unmanaged<int, void*, void*, void*, void*, uint*, ulong, int>)lb;
            abi.UpdateBatch = (delegate* unmanaged<int, void*, void*, uint*, ulong, int>)ub;
            abi.DeleteBatchCmp = (delegate* unmanaged<int, void*, void*, uint, uint, int*, uint*, int>)db;
        }
        if (NativeLibrary.TryGetExport(h, "fm_map_update_elem_cmp", out IntPtr uc))
            abi.UpdateCmp = (delegate* unmanaged[SuppressGCTransition]<int, void*, void*, void*, uint, uint, ulong, int>)uc;
        if (NativeLibrary.TryGetExport(h, "fm_map_lookup_bulk", out IntPtr lk))
            abi.LookupBulk = (delegate* unmanaged[SuppressGCTransition]<int, void*, void*, int*, uint, int>)lk;
        abi.BindInlineReads(h);
        reason = null;
        return abi;
    }

    /// <summary>
    /// A C program's lookups (and compare-and-deletes) are fastmap.h's inline functions, not calls into the library:
    /// when bench/peers/libfastmap_reads.so (those functions, compiled) was linked with the library loaded here,
    /// lookups, in-place refreshes and compare-and-deletes go through it, one call per op as for the other C peers.
    /// Otherwise through the exports.
    /// </summary>
    private void BindInlineReads(IntPtr lib)
    {
        string prefix = System.IO.Path.Combine(Repo.Root, "build/native-prefix");
        IntPtr shim = NativePeers.Load("libfastmap_reads.so", "fastmap_reads.c", out string? why,
            System.IO.Path.Combine(prefix, "include/fastmap.h"), System.IO.Path.Combine(prefix, "lib/libfastmap.so"));
        if (shim == IntPtr.Zero) { Reads = "reads: library exports (" + why + ")"; return; }
        var library = (delegate* unmanaged<void*>)NativeLibrary.GetExport(shim, "fms_library");
        if (!NativeLibrary.TryGetExport(lib, "fm__layouts", out IntPtr layouts) || library() != (void*)layouts)
        {
            Reads = "reads: library exports (libfastmap_reads.so was linked with another libfastmap.so)";
            return;
        }
        Lookup = (delegate* unmanaged[SuppressGCTransition]<int, void*, void*, int>)NativeLibrary.GetExport(shim, "fms_lookup");
        StoreRevision = (delegate* unmanaged[SuppressGCTransition]<int, void*, ulong, int>)NativeLibrary.GetExport(shim, "fms_store_revision");
        DeleteCmp = (delegate* unmanaged[SuppressGCTransition]<int, void*, void*, uint, uint, int>)NativeLibrary.GetExport(shim, "fms_delete_cmp");
        Reads = "reads: fastmap.h inline (bench/peers/fastmap_reads.c)";
    }
}

/// <summary>FastMap through its C ABI: one unmanaged call per op, as a C program makes it.</summary>
public readonly unsafe struct NativeFastMap(FastMapAbi abi, int fd) : IMapUnderTest, IBatchScanner
{
    private readonly FastMapAbi _abi = abi;
    private readonly int _fd = fd;

    public int Lookup(in Key16 key, out Value32 value)
    {
        System.Runtime.CompilerServices.Unsafe.SkipInit(out value);
        fixed (Key16* k = &key)
        fixed (Value32* v = &value)
            return _abi.Lookup(_fd, k, v);
    }

    public int Update(in Key16 key, in Value32 value, Upd flags)
    {
        fixed (Key16* k = &key)
        fixed (Value32* v = &value)
            return _abi.Update(_fd, k, v, (ulong)flags);
    }

    public int Insert(in Key16 key, in Value32 value) => Update(key, value, Upd.NoExist);

    public int Delete(in Key16 key)
    {
        fixed (Key16* k = &key)
            return _abi.Delete(_fd, k);
    }

    public int CompareAndDelete(in Key16 key, in Value32 expected)
    {
        fixed (Key16* k = &key)
        fixed (Value32* e = &expected)
            return _abi.DeleteCmp(_fd, k, e, 0, 8);
    }

    public int CompareAndUpdate(in Key16 key, in Value32 value, in Value32 expected)
    {
        if (_abi.UpdateCmp == null)
            return St.EOPNOTSUPP;                     // a libfastmap.so from before the export
        fixed (Key16* k = &key)
        fixed (Value32* v = &value)
        fixed (Value32* e = &expected)
            return _abi.UpdateCmp(_fd, k, v, e, 0, 8, 0);
    }

    public int StoreRevisionInPlace(in Key16 key, ulong revision)
    {
        if (_abi.StoreRevision != null)
        {
            fixed (Key16* k = &key)
                return _abi.StoreRevision(_fd, k, revision);
        }
        _abi.ReadLock();
        try
        {
            fixed (Key16* k = &key)
            {
                void* p = _abi.LookupPtr(_fd, k);
                if (p == null) return 0;
                Volatile.Write(ref *(ulong*)p, revision); // the datapath's single aligned 8-byte store
                // Still linked after the store? (The section keeps the address from being reused meanwhile.)
                return _abi.LookupPtr(_fd, k) == p ? 1 : -1;
            }
        }
        finally { _abi.ReadUnlock(); }
    }

    /// <summary>fm_map_lookup_batch, <see cref="Batches.ScanRoom"/> entries a call.</summary>
    public int Scan(Span<Key16> keys, Span<Value32> values, out int count) => Batches.ScanAll(in this, keys, values, out count);

    public int Next(bool start, ref uint cursor, Span<Key16> keys, Span<Value32> values, out int count)
    {
        uint inBatch = cursor, outBatch = cursor, n = (uint)keys.Length;
        int st;
        fixed (Key16* k = keys)
        fixed (Value32* v = values)
            st = _abi.LookupBatch(_fd, start ? null : &inBatch, &outBatch, k, v, &n, 0);
        count = st is 0 or St.ENOENT or St.ENOSPC ? (int)n : 0;
        cursor = outBatch;
        return st;
    }

    /// <summary>fm_map_delete_batch_cmp on the 8-byte revision window at offset 0.</summary>
    public int CollectBatch(ReadOnlySpan<Key16> keys, ReadOnlySpan<ulong> revisions, Span<int> results)
    {
        uint n = (uint)keys.Length;
        fixed (Key16* k = keys)
        fixed (ulong* r = revisions)
        fixed (int* o = results)
            return _abi.DeleteBatchCmp(_fd, k, r, 0, 8, o, &n);
    }

    public int Restore(ReadOnlySpan<Key16> keys, ReadOnlySpan<Value32> values)
    {
        uint n = (uint)keys.Length;
        int st;
        fixed (Key16* k = keys)
        fixed (Value32* v = values)
            st = _abi.UpdateBatch(_fd, k, v, &n, 0);
        // An argument error leaves count as passed in: then nothing was applied.
        return Batches.FinishUpdate(this, st, st != 0 && n == (uint)keys.Length ? 0 : (int)n, keys, values);
    }

    /// <summary>fm_map_lookup_bulk when the library has it, else key by key.</summary>
    public int LookupBulk(ReadOnlySpan<Key16> keys, Span<Value32> values, Span<int> results)
    {
        if (_abi.LookupBulk == null) return Batches.LookupEach(in this, keys, values, results);
        int st;
        fixed (Key16* k = keys)
        fixed (Value32* v = values)
        fixed (int* r = results)
            st = _abi.LookupBulk(_fd, k, v, r, (uint)keys.Length);
        if (st != 0) return -1;
        int found = 0;
        foreach (int x in results[..keys.Length]) found += x == 0 ? 1 : 0;
        return found;
    }

    public void Dispose() => _abi.Close(_fd);
}

public sealed unsafe class NativeFastMapSystem(string? nativeLib) : MapSystem
{
    private FastMapAbi? _abi;
    private string? _reason;
    private bool _probed;

    public override string Name => "FastMap-C";
    public override bool InPlace => true;
    public override MemoryKind Memory => MemoryKind.Rss;
    public override string Notes => $"libfastmap.so (NativeAOT) via delegate* unmanaged; {_abi?.Reads}; gc-pass: fm_map_lookup_batch, fm_map_delete_batch_cmp";
    public override string? GcPassUnavailable => Unavailable ?? _abi!.BatchUnavailable;

    public override string? Unavailable
    {
        get
        {
            if (!_probed) { _abi = FastMapAbi.Load(nativeLib, out _reason); _probed = true; }
            return _reason;
        }
    }

    public override MapInstance? Create(int maxEntries, out string? error)
    {
        if (Unavailable is { } r) { error = r; return null; }
        int fd = _abi!.Create(1 /* HASH */, null, 16, 32, (uint)maxEntries, null);
        if (fd < 0) { error = $"fm_map_create failed: {fd}"; return null; }
        error = null;
        return new MapInstance<NativeFastMap>(new NativeFastMap(_abi, fd)) { System = this };
    }
}
