using FastMap;
using FastMap.Tests.Concurrency;
using FastMap.Tests.Engine;

namespace FastMap.Tests.Batch;

/// <summary>
/// Batches and reclamation: a batch must not hold its read-side section for its whole length,
/// or the elements it retires could not be reused until it ends. Serial, like the other tests
/// that measure memory: a reader parked by a parallel test would hold the epoch back.
/// </summary>
[Collection(EpochSerialCollection.Name)]
public class BatchReclamationTests
{
    [Fact]
    public void LongBatchesSpanManySectionsAndLetReclamationRun()
    {
        // 20,000 updates and deletes in single calls: the batch leaves and re-enters its section
        // every few hundred elements, so the elements it retires are reused, not piled up.
        using BpfMap m = TestMaps.Hash(max: 4096);
        const int N = 20_000;
        var keys = new byte[N * 16];
        var values = new byte[N * 32];
        for (int i = 0; i < N; i++)
        {
            TestMaps.Key(i % 4096).CopyTo(keys, i * 16);
            TestMaps.Value(i % 4096, (ulong)i).CopyTo(values, i * 32);
        }
        long before = m.MemoryBytes;
        for (int round = 0; round < 5; round++)
        {
            Assert.Equal(MapStatus.Ok, m.UpdateBatch(keys, values, out int n));
            Assert.Equal(N, n);
        }
        Assert.Equal(4096, m.Count);
        Assert.True(m.MemoryBytes <= before * 2, $"memory grew from {before} to {m.MemoryBytes} bytes");
        Assert.Equal(MapStatus.Ok, m.DeleteBatch(keys.AsSpan(0, 4096 * 16), out int d));
        Assert.Equal(4096, d);
        Assert.Equal(0, m.Count);
    }
}
