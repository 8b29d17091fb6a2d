using BenchmarkDotNet.Attributes;
using FastMap.Stress.Data;

namespace FastMap.Benchmarks.Workloads;

/// <summary>
/// gc-pass's delete phase alone: compare-and-delete the same <see cref="Keys"/> present keys (every third prefilled
/// key, so at S the whole stale third) with their current revision, by <c>CompareAndDeleteBatch</c> in calls of
/// <see cref="BatchKeys"/>, by one <c>CompareAndDelete</c> per key, and by ConcurrentDictionary's
/// <c>TryRemove(KeyValuePair)</c>. Each invocation deletes them all; the iteration setup puts them back (not timed),
/// so an iteration is one invocation.
/// </summary>
[InvocationCount(1)]
public class CollectDelete : WorkloadBase
{
    /// <summary>Keys deleted per invocation: 49,152 / 3 at S.</summary>
    public const int Keys = 16_384;
    private const int BatchKeys = 4096; // the stress run's gc-pass delete batch

    private Key16[] _keys = [];
    private ulong[] _revisions = [];
    private Value32[] _values = [];
    private readonly MapStatus[] _results = new MapStatus[BatchKeys];

    // The base class's global setup prefills the maps; the keys come on the first iteration setup.
    private void ChooseKeys()
    {
        _keys = new Key16[Keys];
        for (int i = 0; i < Keys; i++) _keys[i] = Present[3 * i];
        _revisions = new ulong[Keys];
        _values = new Value32[Keys];
        for (int i = 0; i < Keys; i++) { _revisions[i] = Revision; _values[i] = Value32.Make(Revision); }
        // One invocation makes only Keys / BatchKeys batch calls, so a short job would time the batch path's
        // tier-0 code (per-key calls tier up within the first invocation). Call both paths past the tiering
        // threshold with a stale revision (nothing is deleted) and give the background compiler time.
        ulong[] stale = new ulong[BatchKeys];
        for (int i = 0; i < 200; i++)
        {
            Map.CompareAndDeleteBatch<Key16, ulong>(_keys.AsSpan(0, BatchKeys), stale, 0, _results, out _);
            Map.CompareAndDelete(in _keys[i], 0ul, 0);
        }
        Thread.Sleep(500);
    }

    [IterationSetup]
    public void PutBack()
    {
        if (_keys.Length == 0) ChooseKeys();
        Map.UpdateBatch<Key16, Value32>(_keys, _values, out _);
        foreach (Key16 k in _keys) Peer[k] = _values[0];
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Keys)]
    public int FastMapPerKey()
    {
        int result = 0;
        foreach (ref readonly Key16 k in _keys.AsSpan())
            result |= (int)Map.CompareAndDelete(in k, Revision, 0);
        return result;
    }

    [Benchmark(OperationsPerInvoke = Keys)]
    public int FastMapBatch()
    {
        int result = 0;
        for (int off = 0; off < Keys; off += BatchKeys)
        {
            result |= (int)Map.CompareAndDeleteBatch<Key16, ulong>(_keys.AsSpan(off, BatchKeys), _revisions.AsSpan(off, BatchKeys), 0, _results, out _);
            foreach (MapStatus s in _results) result |= (int)s;
        }
        return result;
    }

    [Benchmark(OperationsPerInvoke = Keys)]
    public int ConcurrentDictionary()
    {
        int result = 0;
        Value32 v = _values[0];
        foreach (ref readonly Key16 k in _keys.AsSpan())
            result ^= Peer.TryRemove(new KeyValuePair<Key16, Value32>(k, v)) ? 1 : 0;
        return result;
    }
}
