using System.Runtime.InteropServices;
using FastMap.Kernel;
using FastMap.Stress.Data;

namespace FastMap.Stress.Systems;

/// <summary>
/// The kernel's BPF_MAP_TYPE_HASH through bpf() (FastMap.Kernel.KernelBpf). The kernel has no compare-and-delete:
/// CompareAndDelete is lookup, compare, delete: three steps, not atomic, which gc-race exposes.
/// </summary>
public readonly struct KernelHashMap(int fd) : IMapUnderTest
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

    public int StoreRevisionInPlace(in Key16 key, ulong revision) => 0;
    public void Dispose() => KernelBpf.Close(Fd);
}

public sealed class KernelHashSystem(bool prealloc) : MapSystem
{
    public override string Name => prealloc ? "kernel-hash" : "kernel-hash-noprealloc";
    public override bool AtomicCompareAndDelete => false;
    public override MemoryKind Memory => MemoryKind.KernelMemlock;
    public override string Notes => "bpf() syscall per op; cmpdel = lookup + delete (not atomic)" +
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
