using System.Runtime.InteropServices;
using Xunit.Abstractions;

namespace FastMap.Tests.Concurrency;

/// <summary>
/// <see cref="MapFlags.LruCompare"/>: compare-and-delete and compare-and-swap on an LRU map (Cilium's conntrack map is
/// one), a FastMap extension. The flag's errnos, the RFC's answers without it, and a full map under inserts that evict
/// while a collector's batch compare-and-delete runs: nothing wrongly deleted, and no instance of a key both evicted
/// and claimed by a compare.
/// </summary>
public sealed class LruCompareTests(ITestOutputHelper output)
{
    [StructLayout(LayoutKind.Sequential)]
    private struct Rec
    {
        public ulong Rev;      // unique per insert or refresh: names one instance of a key's value
        public ulong Key;
    }

    private static MapStatus Create(MapType type, MapFlags flags, uint key, out BpfMap? map) =>
        BpfMap.Create(new MapDefinition(type, key, 16, 64) { Flags = flags }, out map);

    [Theory]
    [InlineData(MapType.Hash)]
    [InlineData(MapType.PercpuHash)]
    [InlineData(MapType.Array)]
    public void TheFlagOnAnyOtherTypeIsEINVALAsAnUnknownFlag(MapType type)
    {
        Assert.Equal(MapStatus.EINVAL, Create(type, MapFlags.LruCompare, type == MapType.Array ? 4u : 8u, out BpfMap? map));
        Assert.Null(map);
    }

    [Fact]
    public void WithoutTheFlagAnLruMapAnswersAsTheRfc()
    {
        Assert.Equal(MapStatus.Ok, Create(MapType.LruHash, MapFlags.None, 8, out BpfMap? map));
        using BpfMap m = map!;
        Assert.Equal(MapStatus.Ok, m.Update(1ul, new Rec { Rev = 1, Key = 1 }));
        Assert.Equal(MapStatus.EOPNOTSUPP, m.CompareAndDelete(1ul, 1ul, 0));
        Assert.Equal(MapStatus.EOPNOTSUPP, m.CompareAndUpdate(1ul, new Rec { Rev = 2, Key = 1 }, 1ul, 0));
        Assert.Equal(MapStatus.EINVAL, m.CompareAndDelete(1ul, 1ul, 12));  // the window first, as for every type
    }

    [Fact]
    public void WithTheFlagEveryCompareWorksAsOnAHashMap()
    {
        Assert.Equal(MapStatus.Ok, Create(MapType.LruHash, MapFlags.LruCompare, 8, out BpfMap? map));
        using BpfMap m = map!;
        Assert.Equal(MapStatus.Ok, m.Update(1ul, new Rec { Rev = 1, Key = 1 }));
        Assert.Equal(MapStatus.EBUSY, m.CompareAndDelete(1ul, 9ul, 0));
        Assert.Equal(MapStatus.EBUSY, m.CompareAndUpdate(1ul, new Rec { Rev = 2, Key = 1 }, 9ul, 0));
        Assert.Equal(MapStatus.Ok, m.CompareAndUpdate(1ul, new Rec { Rev = 2, Key = 1 }, 1ul, 0));
        Assert.Equal(MapStatus.Ok, m.CompareAndDelete(1ul, 2ul, 0));
        Assert.Equal(MapStatus.ENOENT, m.CompareAndDelete(1ul, 2ul, 0));
        Assert.Equal(MapStatus.ENOENT, m.CompareAndUpdate(1ul, new Rec { Rev = 3, Key = 1 }, 2ul, 0));
        // Batches.
        Assert.Equal(MapStatus.Ok, m.Update(2ul, new Rec { Rev = 5, Key = 2 }));
        var results = new MapStatus[2];
        Assert.Equal(MapStatus.Ok, m.CompareAndUpdateBatch<ulong, Rec, ulong>([2ul, 3ul], [new Rec { Rev = 6, Key = 2 }, default],
            [5ul, 5ul], 0, results, out _));
        Assert.Equal([MapStatus.Ok, MapStatus.ENOENT], results);
        Assert.Equal(MapStatus.Ok, m.CompareAndDeleteBatch<ulong, ulong>([2ul, 3ul], [6ul, 6ul], 0, results, out _));
        Assert.Equal([MapStatus.Ok, MapStatus.ENOENT], results);
        Assert.Equal(0, m.Count);
    }

    [Fact]
    public void FromTheAttrTheFlagIsAMapFlag()
    {
        var attr = new byte[BpfAttr.Size];
        BitConverter.TryWriteBytes(attr.AsSpan(0), (uint)MapType.LruHash);
        BitConverter.TryWriteBytes(attr.AsSpan(4), 8u);
        BitConverter.TryWriteBytes(attr.AsSpan(8), 16u);
        BitConverter.TryWriteBytes(attr.AsSpan(12), 8u);
        BitConverter.TryWriteBytes(attr.AsSpan(16), (uint)MapFlags.LruCompare);
        int fd = BpfAttr.ExecuteUnsafe((int)BpfCommand.MapCreate, attr);
        Assert.True(fd > 0, $"create: {fd}");
        BitConverter.TryWriteBytes(attr.AsSpan(0), (uint)MapType.Hash);
        Assert.Equal((int)MapStatus.EINVAL, BpfAttr.ExecuteUnsafe((int)BpfCommand.MapCreate, attr));
        Assert.Equal(0, FastMap.Internal.RawCommands.Close(fd));
    }

    /// <summary>
    /// A full LRU map: the datapath inserts new keys (each insert evicts) and refreshes recent ones, every value a
    /// revision never used before; a collector scans, then batch compare-and-deletes everything it saw on the
    /// revision it saw. Every instance (key, revision) ends exactly once (evicted, deleted by the collector,
    /// overwritten by a refresh, or present at the end): a compare that claimed an instance already evicted would
    /// count it twice. And no delete succeeds on a revision older than one confirmed before its batch began.
    /// </summary>
    [Theory]
    [InlineData(128, 1)]
    [InlineData(512, 2)]
    public void EvictionAndTheCollectorsComparesNeverClaimTheSameInstance(int max, int seed)
    {
        Assert.Equal(MapStatus.Ok, BpfMap.Create(new MapDefinition(MapType.LruHash, 8, 16, (uint)max) { Flags = MapFlags.LruCompare },
            out BpfMap? created));
        using BpfMap map = created!;
        const int KeyRange = 1 << 16;
        var confirmed = new long[KeyRange];
        long rev = 0, instances = 0, overwritten = 0, deleted = 0, wrong = 0, passes = 0, compared = 0;
        int stop = 0;
        Threads.Run(2, t =>
        {
            if (t == 0)
            {
                try
                {
                    Datapath();
                }
                finally
                {
                    Volatile.Write(ref stop, 1);              // a failed assertion must not leave the collector running
                }
                return;
            }
            Collector();
        });
        long evicted = map.HashStore!.EvictionsForTests;
        long present = map.Count;
        output.WriteLine($"max {max}: {instances} instances, {evicted} evicted, {deleted} collected in {passes} passes, "
            + $"{overwritten} overwritten by refreshes, {present} present");
        Assert.Equal(0, wrong);
        // How many compares still match by the time their batch runs is the scheduler's (0 of thousands in one run, the
        // datapath having refreshed or evicted every key first); that compares ran against evictions is what matters.
        Assert.True(passes > 0 && evicted > 0 && compared > 0, "the race never happened");
        Assert.Equal(instances, evicted + deleted + overwritten + present);

        void Datapath()
        {
                var rng = new Random(seed);
                ulong next = 0;
                for (int i = 0; i < 60_000; i++)
                {
                    if (rng.Next(2) == 0 || next < 8)
                    {
                        ulong k = next++ % KeyRange;
                        ulong r = (ulong)Interlocked.Increment(ref rev);
                        MapStatus st = map.Update(k, new Rec { Rev = r, Key = k }, ElemFlags.NoExist);
                        if (st == MapStatus.Ok)
                        {
                            Interlocked.Increment(ref instances);
                            Volatile.Write(ref confirmed[k], (long)r);
                        }
                        else
                            Assert.Fail($"insert of a new key: {st} (count {map.Count}, evicted {map.HashStore!.EvictionsForTests}, records {map.HashStore.OverflowRecordsForTests})");
                    }
                    else
                    {
                        ulong k = (next - 1 - (ulong)rng.Next((int)Math.Min(next, (ulong)max))) % KeyRange;
                        ulong r = (ulong)Interlocked.Increment(ref rev);
                        MapStatus st = map.Update(k, new Rec { Rev = r, Key = k }, ElemFlags.Exist);
                        if (st == MapStatus.Ok)
                        {
                            Interlocked.Increment(ref overwritten);   // the old instance ends, a new one begins
                            Interlocked.Increment(ref instances);
                            Volatile.Write(ref confirmed[k], (long)r);
                        }
                        else
                            Assert.Equal(MapStatus.ENOENT, st);   // evicted or collected meanwhile
                    }
                }
        }

        void Collector()
        {
            var keys = new ulong[max];
            var recs = new Rec[max];
            var results = new MapStatus[max];
            while (Volatile.Read(ref stop) == 0)
            {
                // Snapshot: one scan.
                var seenKeys = new List<ulong>();
                var seenRevs = new List<ulong>();
                var cursor = default(BatchCursor);
                MapStatus st;
                do
                {
                    st = map.LookupBatch<ulong, Rec>(ref cursor, keys, recs, out int n);
                    for (int i = 0; i < n; i++)
                    {
                        // A GC pass judges a third of the keys idle. The other two thirds stay until evicted, so the map
                        // fills and inserts must evict however fast the collector runs (deleting everything it saw, it once
                        // kept the map from ever filling: no eviction, nothing tested).
                        if (keys[i] % 3 != 0)
                            continue;
                        seenKeys.Add(keys[i]);
                        seenRevs.Add(recs[i].Rev);
                    }
                }
                while (st == MapStatus.Ok);
                Assert.Equal(MapStatus.ENOENT, st);
                long[] before = seenKeys.Select(k => Volatile.Read(ref confirmed[k])).ToArray();
                var res = new MapStatus[seenKeys.Count];
                Assert.Equal(MapStatus.Ok, map.CompareAndDeleteBatch<ulong, ulong>(seenKeys.ToArray(), seenRevs.ToArray(), 0, res, out int done));
                Assert.Equal(seenKeys.Count, done);
                compared += done;
                for (int i = 0; i < res.Length; i++)
                {
                    Assert.True(res[i] is MapStatus.Ok or MapStatus.EBUSY or MapStatus.ENOENT, $"{res[i]}");
                    if (res[i] != MapStatus.Ok)
                        continue;
                    deleted++;
                    if ((ulong)before[i] > seenRevs[i])
                        wrong++;                            // a refresh confirmed before the batch was deleted
                }
                passes++;
            }
        }
    }
}
