using BenchmarkDotNet.Attributes;
using FastMap.Stress.Data;

namespace FastMap.Benchmarks.Workloads;

/// <summary>update-exist: overwrite a present key's value (BPF_EXIST).</summary>
public class UpdateExist : WorkloadBase
{
    [Benchmark(Baseline = true, OperationsPerInvoke = Batch)]
    public void ConcurrentDictionary()
    {
        Value32 v = Value32.Make(++Revision);
        foreach (ref readonly Key16 k in Hits)
            Peer[k] = v;
    }

    [Benchmark(OperationsPerInvoke = Batch)]
    public int FastMap()
    {
        int result = 0;
        Value32 v = Value32.Make(++Revision);
        foreach (ref readonly Key16 k in Hits)
            result |= (int)Map.Update(in k, in v, ElemFlags.Exist);
        return result;
    }
}

/// <summary>
/// cmpdel-stale: compare-and-delete a present key with a wrong revision: -EBUSY, nothing deleted.
/// (ConcurrentDictionary's nearest operation is TryRemove of a key-value pair that does not match.)
/// </summary>
public class CmpDelStale : WorkloadBase
{
    [Benchmark(Baseline = true, OperationsPerInvoke = Batch)]
    public int ConcurrentDictionary()
    {
        int result = 0;
        Value32 stale = Value32.Make(0);
        foreach (ref readonly Key16 k in Hits)
            result ^= Peer.TryRemove(new KeyValuePair<Key16, Value32>(k, stale)) ? 1 : 0;
        return result;
    }

    [Benchmark(OperationsPerInvoke = Batch)]
    public int FastMap()
    {
        int result = 0;
        foreach (ref readonly Key16 k in Hits)
            result ^= (int)Map.CompareAndDelete(in k, 0ul, 0);
        return result;
    }
}

/// <summary>
/// cmpdel-match: compare-and-delete a present key with its current revision, then re-insert it
/// (2 operations). Every key carries revision 1 from setup and is re-inserted with it, so the
/// compare always matches (a key drawn twice in one batch is simply matched again).
/// </summary>
public class CmpDelMatch : WorkloadBase
{
    private const int Pairs = Batch / 2;

    [Benchmark(Baseline = true, OperationsPerInvoke = Batch)]
    public int ConcurrentDictionary()
    {
        int result = 0;
        Value32 v = Value32.Make(1);
        foreach (ref readonly Key16 k in Hits[..Pairs])
        {
            result ^= Peer.TryRemove(new KeyValuePair<Key16, Value32>(k, v)) ? 1 : 0;
            result ^= Peer.TryAdd(k, v) ? 2 : 0;
        }
        return result;
    }

    [Benchmark(OperationsPerInvoke = Batch)]
    public int FastMap()
    {
        int result = 0;
        Value32 v = Value32.Make(1);
        foreach (ref readonly Key16 k in Hits[..Pairs])
        {
            result |= (int)Map.CompareAndDelete(in k, 1ul, 0);
            result |= (int)Map.Update(in k, in v, ElemFlags.NoExist);
        }
        return result;
    }
}

/// <summary>churn: delete one present key and insert one new key (fill stays constant; 2 operations).</summary>
public class Churn : WorkloadBase
{
    private const int Pairs = Batch / 2;
    private long _next;

    [Benchmark(Baseline = true, OperationsPerInvoke = Batch)]
    public int ConcurrentDictionary()
    {
        int result = 0;
        Value32 v = Value32.Make(1);
        for (int i = 0; i < Pairs; i++)
        {
            // The present window slides: delete key j, insert key j + fill (a fresh key).
            long j = _next++;
            result ^= Peer.TryRemove(SplitMix64.Key(0x5EED, (ulong)j), out _) ? 1 : 0;
            result ^= Peer.TryAdd(SplitMix64.Key(0x5EED, (ulong)(j + Present.Length)), v) ? 2 : 0;
        }
        return result;
    }

    private long _nextFastMap;

    [Benchmark(OperationsPerInvoke = Batch)]
    public int FastMap()
    {
        int result = 0;
        Value32 v = Value32.Make(1);
        for (int i = 0; i < Pairs; i++)
        {
            long j = _nextFastMap++;
            Key16 old = SplitMix64.Key(0x5EED, (ulong)j), fresh = SplitMix64.Key(0x5EED, (ulong)(j + Present.Length));
            result |= (int)Map.Delete(in old);
            result |= (int)Map.Update(in fresh, in v, ElemFlags.NoExist);
        }
        return result;
    }
}
