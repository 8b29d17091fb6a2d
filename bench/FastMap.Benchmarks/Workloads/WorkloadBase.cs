using System.Collections.Concurrent;
using BenchmarkDotNet.Attributes;
using FastMap.Stress.Data;

namespace FastMap.Benchmarks.Workloads;

/// <summary>
/// The standard workloads of WORKLOADS.md at BenchmarkDotNet's resolution: a FastMap and a
/// <see cref="ConcurrentDictionary{TKey, TValue}"/> of <c>max_entries</c> = <see cref="Size"/>, each
/// prefilled with 3/4 of it from the splitmix64 key stream; hit keys are drawn from the prefilled
/// set and miss keys from a disjoint stream, in an order generated before the timed loop.
/// One invocation runs <see cref="Batch"/> operations (a single op is tens of nanoseconds) on the
/// next <see cref="Batch"/> keys of a 1 Mi-key random order, so at L successive invocations touch
/// cold entries as the stress run does, instead of re-reading the same thousand hot ones.
/// </summary>
[MemoryDiagnoser]
public abstract class WorkloadBase
{
    /// <summary>Operations per invocation.</summary>
    public const int Batch = 1024;
    private const ulong Seed = 0x5EED;

    /// <summary>S (cache-resident) and L (DRAM) of WORKLOADS.md.</summary>
    [Params(65_536, 4_194_304)]
    public int Size { get; set; }

    protected BpfMap Map = null!;
    protected ConcurrentDictionary<Key16, Value32> Peer = null!;
    protected Key16[] Present = [];   // the prefilled keys
    protected Key16[] HitOrder = [];  // OrderLength random present keys
    protected Key16[] MissOrder = []; // OrderLength keys that are never inserted
    protected ulong Revision = 1;
    private const int OrderLength = 1 << 20;
    private int _cursor;

    /// <summary>The next <see cref="Batch"/> hit keys (advances the cursor).</summary>
    protected ReadOnlySpan<Key16> Hits => HitOrder.AsSpan(Advance(), Batch);

    /// <summary>The next <see cref="Batch"/> miss keys (advances the cursor).</summary>
    protected ReadOnlySpan<Key16> Misses => MissOrder.AsSpan(Advance(), Batch);

    private int Advance()
    {
        int at = _cursor;
        _cursor = (at + Batch) & (OrderLength - 1);
        return at;
    }

    [GlobalSetup]
    public void Setup()
    {
        int fill = Size / 4 * 3;
        MapStatus st = BpfMap.Create(new MapDefinition(MapType.Hash, 16, 32, (uint)Size), out BpfMap? map);
        if (st != MapStatus.Ok)
            throw new InvalidOperationException($"BpfMap.Create: {st}");
        Map = map!;
        Peer = new ConcurrentDictionary<Key16, Value32>(Environment.ProcessorCount, Size);
        Present = new Key16[fill];
        for (int i = 0; i < fill; i++)
        {
            Present[i] = SplitMix64.Key(Seed, (ulong)i);
            Value32 v = Value32.Make(Revision);
            Map.Update(in Present[i], in v, ElemFlags.NoExist);
            Peer[Present[i]] = v;
        }
        var rng = new SplitMix64.Rng(Seed ^ 0xF00D);
        HitOrder = new Key16[OrderLength];
        MissOrder = new Key16[OrderLength];
        for (int i = 0; i < OrderLength; i++)
        {
            HitOrder[i] = Present[rng.Below(fill)];
            MissOrder[i] = SplitMix64.Key(Seed ^ 0xBAD, (ulong)i); // another seed: a disjoint stream
        }
    }

    [GlobalCleanup]
    public void Cleanup() => Map.Dispose();
}
