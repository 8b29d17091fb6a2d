using BenchmarkDotNet.Attributes;
using FastMap.Stress.Data;

namespace FastMap.Benchmarks.Workloads;

/// <summary>lookup-hit: look a present key up and copy its 32-byte value out.</summary>
public class LookupHit : WorkloadBase
{
    [Benchmark(Baseline = true, OperationsPerInvoke = Batch)]
    public ulong ConcurrentDictionary()
    {
        ulong result = 0;
        foreach (ref readonly Key16 k in Hits)
        {
            Peer.TryGetValue(k, out Value32 v);
            result ^= v.Revision;
        }
        return result;
    }

    [Benchmark(OperationsPerInvoke = Batch)]
    public ulong FastMap()
    {
        ulong result = 0;
        foreach (ref readonly Key16 k in Hits)
        {
            Map.Lookup(in k, out Value32 v);
            result ^= v.Revision;
        }
        return result;
    }
}

/// <summary>lookup-miss: look an absent key up.</summary>
public class LookupMiss : WorkloadBase
{
    [Benchmark(Baseline = true, OperationsPerInvoke = Batch)]
    public int ConcurrentDictionary()
    {
        int result = 0;
        foreach (ref readonly Key16 k in Misses)
            result ^= Peer.TryGetValue(k, out _) ? 1 : 0;
        return result;
    }

    [Benchmark(OperationsPerInvoke = Batch)]
    public int FastMap()
    {
        int result = 0;
        foreach (ref readonly Key16 k in Misses)
            result ^= (int)Map.Lookup(in k, out Value32 _);
        return result;
    }
}
