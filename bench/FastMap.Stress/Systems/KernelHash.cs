using System.Runtime.InteropServices;
using FastMap.Kernel;
using FastMap.Stress.Data;

namespace FastMap.Stress.Systems;

/// <summary>
/// The kernel's BPF_MAP_TYPE_HASH through bpf() (FastMap.Kernel.KernelBpf). The kernel has no compare-and-delete:
/// CompareAndDelete is lookup, compare, delete: three steps, not atomic, which gc-race exposes.
/// </summary>
public readonly struct KernelHashMap(int fd) : IMapUnderTest, IBatchScanner
{
    public readonly int Fd = fd;

    private static ReadOnlySpan<byte> K(in Key16 key) => MemoryMarshal.AsBytes(new ReadOnlySpan<Key16>(in key));
    private static ReadOnlySpan<byte> V(in Value32 v) => MemoryMarshal.AsBytes(new ReadOnlySpan<Value32>(in v));

    public int Lookup(in Key16 key, out Value32 value)
    {
        value = default;
        return KernelBpf.Lookup(Fd, K(key), MemoryMarshal.AsBytes(new Span<Value32>(ref value)));
    }

    public int Update(in Key16 key, in Value32 value, Upd flags) => KernelBpf.Update(Fd, K(key), V(value), (ulong)flags);
    public int Insert(in Key16 key, in Value32 value) => KernelBpf.Update(Fd, K(key), V(value), KernelBpf.Flags.NoExist);
    public int Delete(in Key16 key) => KernelBpf.Delete(Fd, K(key));

    public int CompareAndDelete(in Key16 key, in Value32 expected)
    {
        int s = Lookup(key, out Value32 cur);
        if (s != 0) return s;
        if (cur.Revision != expected.Revision) return St.EBUSY;
        return Delete(key); // a refresh landing between the lookup and here is lost: not atomic
    }

    public int CompareAndUpdate(in Key16 key, in Value32 value, in Value32 expected)
    {
        int s = Lookup(key, out Value32 cur);
        if (s != 0) return s;
        if (cur.Revision != expected.Revision) return St.EBUSY;
        return Update(key, value, Upd.Exist); // lookup, compare, update: not atomic
    }

    public int StoreRevisionInPlace(in Key16 key, ulong revision) => 0;

    /// <summary>BPF_MAP_LOOKUP_BATCH, <see cref="Batches.ScanRoom"/> entries a call (the cursor is a u32 bucket index).</summary>
    public int Scan(Span<Key16> keys, Span<Value32> values, out int count) => Batches.ScanAll(in this, keys, values, out count);

    public int Next(bool start, ref uint cursor, Span<Key16> keys, Span<Value32> values, out int count)
    {
        uint inBatch = cursor, outBatch = cursor, n = (uint)keys.Length;
        int st = KernelBpf.LookupBatch(Fd, start ? default : MemoryMarshal.AsBytes(new Span<uint>(ref inBatch)),
            MemoryMarshal.AsBytes(new Span<uint>(ref outBatch)), MemoryMarshal.AsBytes(keys), MemoryMarshal.AsBytes(values), ref n);
        count = st is 0 or St.ENOENT or St.ENOSPC ? (int)n : 0;
        cursor = outBatch;
        return st;
    }

    /// <summary>
    /// One BPF_MAP_DELETE_ELEM per key: the kernel has no compare, so a key refreshed since the scan is deleted
    /// anyway (gc-pass counts those). BPF_MAP_DELETE_BATCH would not be faster for the race and stops at the first
    /// missing key.
    /// </summary>
    public int CollectBatch(ReadOnlySpan<Key16> keys, ReadOnlySpan<ulong> revisions, Span<int> results)
    {
        for (int i = 0; i < keys.Length; i++) results[i] = Delete(in keys[i]);
        return St.Ok;
    }

    public int Restore(ReadOnlySpan<Key16> keys, ReadOnlySpan<Value32> values)
    {
        uint n = (uint)keys.Length;
        int st = KernelBpf.UpdateBatch(Fd, MemoryMarshal.AsBytes(keys), MemoryMarshal.AsBytes(values), ref n);
        // An argument error leaves count as passed in: then nothing was applied.
        return Batches.FinishUpdate(this, st, st != 0 && n == (uint)keys.Length ? 0 : (int)n, keys, values);
    }

    public int LookupBulk(ReadOnlySpan<Key16> keys, Span<Value32> values, Span<int> results) => Batches.LookupEach(in this, keys, values, results);
    public void Dispose() => KernelBpf.Close(Fd);
}

public sealed class KernelHashSystem(bool prealloc) : MapSystem
{
    public override string Name => prealloc ? "kernel-hash" : "kernel-hash-noprealloc";
    public override bool AtomicCompareAndDelete => false;
    public override MemoryKind Memory => MemoryKind.KernelMemlock;
    public override string Notes => "bpf() syscall per op; cmpdel = lookup + delete (not atomic); gc-pass: BPF_MAP_LOOKUP_BATCH, then DELETE_ELEM per key (no compare)" +
                                    (prealloc ? "" : "; BPF_F_NO_PREALLOC");

    public override string? Unavailable
    {
        get
        {
            try { return KernelBpf.IsAvailable ? null : "kernel BPF hash map not available: " + KernelBpf.UnavailableReason; }
            catch (Exception e) { return "kernel BPF hash map not available: " + e.Message; }
        }
    }

    public override MapInstance? Create(int maxEntries, out string? error)
    {
        int fd = KernelBpf.CreateMap(KernelBpf.MapType.Hash, 16, 32, (uint)maxEntries,
            prealloc ? 0u : KernelBpf.Flags.NoPrealloc);
        if (fd < 0) { error = $"BPF_MAP_CREATE failed: {fd}"; return null; }
        error = null;
        return new MapInstance<KernelHashMap>(new KernelHashMap(fd)) { System = this, Accounting = () => Memlock(fd) };
    }

    /// <summary>xproc workloads: a new map pinned at <paramref name="pinPath"/> (bpffs), which the writer process opens with BPF_OBJ_GET.</summary>
    public MapInstance? CreatePinned(int maxEntries, string pinPath, out string? error)
    {
        MapInstance? m = Create(maxEntries, out error);
        if (m is null) return null;
        int fd = ((MapInstance<KernelHashMap>)m).Map.Fd;
        int st = KernelBpf.ObjPin(fd, pinPath);
        if (st != 0)
        {
            m.Dispose();
            error = $"BPF_OBJ_PIN {pinPath} failed: {st}";
            return null;
        }
        return m;
    }

    /// <summary>The kernel's own charge for the map (memlock in fdinfo), which RSS does not show.</summary>
    private static long? Memlock(int fd)
    {
        try
        {
            foreach (string line in File.ReadLines($"/proc/self/fdinfo/{fd}"))
                if (line.StartsWith("memlock:", StringComparison.Ordinal))
                    return long.Parse(line.AsSpan(8).Trim());
        }
        catch (IOException) { }
        return null;
    }
}
