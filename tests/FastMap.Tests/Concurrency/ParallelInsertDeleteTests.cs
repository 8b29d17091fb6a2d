namespace FastMap.Tests.Concurrency;

/// <summary>
/// test_map_parallel: threads insert and delete disjoint key ranges; the final key set and count are
/// exact. And capacity under concurrency: exactly max_entries keys fit, never one more or less.
/// </summary>
public sealed class ParallelInsertDeleteTests
{
    [Theory]
    [Trait("Category", "Stress")]
    [InlineData(2, 4096)]
    [InlineData(4, 10000)]
    [InlineData(3, 999)]
    public void ParallelInsertsAndDeletesOfDisjointRangesLeaveExactlyTheSurvivors(int threads, int keys)
    {
        using BpfMap map = Maps.Hash((uint)keys);
        Threads.Run(threads, t =>
        {
            int lo = keys * t / threads, hi = keys * (t + 1) / threads;
            for (int k = lo; k < hi; k++)
                Check(map.Put((ulong)k, (ulong)k, ElemFlags.NoExist), MapStatus.Ok, "insert", k);
            for (int k = lo; k < hi; k++)
            {
                Check(map.Get((ulong)k, out KeyedValue v), MapStatus.Ok, "lookup", k);
                Assert.True(v.Encodes((ulong)k) && v.Rev == (ulong)k, v.ToString());
            }
            for (int k = lo; k < hi; k += 3)
                Check(map.Delete((ulong)k), MapStatus.Ok, "delete", k);
            for (int k = lo; k < hi; k++)
            {
                bool deleted = (k - lo) % 3 == 0;
                Check(map.Put((ulong)k, (ulong)k, ElemFlags.NoExist), deleted ? MapStatus.Ok : MapStatus.EEXIST, "re-insert", k);
                if (deleted)
                    Check(map.Delete((ulong)k), MapStatus.Ok, "delete again", k);
                else
                    Check(map.Put((ulong)k, (ulong)k + 1, ElemFlags.Exist), MapStatus.Ok, "replace", k);
            }
            for (int k = lo; k < hi; k += 3)
                Check(map.Delete((ulong)k), MapStatus.ENOENT, "delete absent", k);
        });

        var expected = new HashSet<ulong>();
        for (int t = 0; t < threads; t++)
        {
            int lo = keys * t / threads, hi = keys * (t + 1) / threads;
            for (int k = lo; k < hi; k++)
                if ((k - lo) % 3 != 0)
                    expected.Add((ulong)k);
        }
        Assert.Equal(expected.Count, map.Count);
        HashSet<ulong> actual = map.Keys();
        Assert.True(expected.SetEquals(actual), $"key set differs: {expected.Except(actual).Count()} missing, {actual.Except(expected).Count()} extra");
        foreach (ulong k in expected)
        {
            Assert.Equal(MapStatus.Ok, map.Get(k, out KeyedValue v));
            Assert.True(v.Encodes(k) && v.Rev == k + 1, v.ToString());
        }
    }

    private static void Check(MapStatus actual, MapStatus expected, string what, int key)
    {
        if (actual != expected)
            Assert.Fail($"{what} of key {key}: expected {expected}, got {actual}");
    }

    public static TheoryData<uint> Capacities => [1, 2, 3, 5, 8, 63, 64, 65, 100, 1000, 4097];

    [Theory]
    [MemberData(nameof(Capacities))]
    public void FillingToExactlyMaxEntriesFromTwoThreadsSucceedsAndTheNextNewKeyGetsE2BIG(uint max)
    {
        using BpfMap map = Maps.Hash(max);
        Threads.Run(2, t =>
        {
            for (ulong k = (ulong)t; k < max; k += 2)
                Check(map.Put(k, k, ElemFlags.NoExist), MapStatus.Ok, "fill", (int)k);
        });
        Assert.Equal(max, (uint)map.Count);
        Threads.Run(2, t =>
        {
            for (ulong k = max + (ulong)t; k < max + 64; k += 2)
                Check(map.Put(k, k), MapStatus.E2BIG, "insert into a full map", (int)k);
        });
        // Replacing an existing key needs no capacity.
        Assert.Equal(MapStatus.Ok, map.Put(0, 7, ElemFlags.Exist));
        Assert.Equal(MapStatus.Ok, map.Put(0, 8));
        Assert.Equal(MapStatus.Ok, map.Delete(0ul));
        Assert.Equal(MapStatus.Ok, map.Put(max + 1000, 1, ElemFlags.NoExist));
        Assert.Equal(MapStatus.E2BIG, map.Put(max + 1001, 1));
        Assert.Equal(max, (uint)map.Count);
        Assert.Equal(max, (uint)map.Keys().Count);
    }

    [Theory]
    [Trait("Category", "Stress")]
    [InlineData(1u, 2000)]
    [InlineData(3u, 1000)]
    [InlineData(64u, 200)]
    [InlineData(1000u, 20)]
    public void RacingInsertersOfTwiceMaxEntriesNewKeysGetExactlyMaxEntriesSuccesses(uint max, int rounds)
    {
        using BpfMap map = Maps.Hash(max);
        for (int r = 0; r < rounds; r++)
        {
            var ok = new int[2];
            Threads.Run(2, t =>
            {
                // Interleaved key ranges, so both threads stay busy until the map fills.
                for (ulong i = 0; i < max; i++)
                {
                    ulong k = 2 * i + (ulong)t;
                    MapStatus st = map.Put(k, (ulong)r, ElemFlags.NoExist);
                    if (st == MapStatus.Ok)
                        ok[t]++;
                    else if (st != MapStatus.E2BIG)
                        Assert.Fail($"round {r}: insert of key {k} gave {st}");
                }
            });
            Assert.Equal((int)max, ok[0] + ok[1]);
            Assert.Equal(max, (uint)map.Count);
            HashSet<ulong> keys = map.Keys();
            Assert.Equal((int)max, keys.Count);
            // Empty it again from two threads, each deleting the keys it inserted.
            Threads.Run(2, t =>
            {
                foreach (ulong k in keys)
                    if ((int)(k & 1) == t)
                        Check(map.Delete(k), MapStatus.Ok, "delete", (int)k);
            });
            Assert.Equal(0, map.Count);
            Assert.Empty(map.Keys());
        }
    }

    [Fact]
    [Trait("Category", "Stress")]
    public void DeleteThenInsertOnAFullMapFromTwoThreadsNeverGetsE2BIG()
    {
        const uint max = 128;
        using BpfMap map = Maps.Hash(max);
        for (ulong k = 0; k < max; k++)
            Assert.Equal(MapStatus.Ok, map.Put(k, 0));
        Threads.Run(2, t =>
        {
            // Each thread owns half of the keys; after deleting one it inserts a replacement key.
            var mine = new List<ulong>();
            for (ulong k = (ulong)t; k < max; k += 2)
                mine.Add(k);
            ulong next = 1_000_000ul * (ulong)(t + 1);
            for (int i = 0; i < 20000; i++)
            {
                int idx = i % mine.Count;
                Check(map.Delete(mine[idx]), MapStatus.Ok, "delete", (int)mine[idx]);
                mine[idx] = next++;
                Check(map.Put(mine[idx], (ulong)i, ElemFlags.NoExist), MapStatus.Ok, "insert after delete", (int)mine[idx]);
            }
        });
        Assert.Equal(max, (uint)map.Count);
        Assert.Equal(MapStatus.E2BIG, map.Put(5_000_000, 0));
    }
}
