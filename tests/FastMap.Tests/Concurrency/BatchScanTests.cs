using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using FastMap.Internal;

namespace FastMap.Tests.Concurrency;

/// <summary>
/// The batch scan's guarantee under real concurrent writers: a full scan returns every key present
/// for its whole duration exactly once, and no key absent for its whole duration; returned values
/// are whole elements of the returned key. Also: lookup-and-delete batches hand each key to exactly
/// one deleter, and the single-threaded scan equals the model on small, wrapping tables.
/// </summary>
public sealed class BatchScanTests
{
    private const ulong Stable = 1_000_000, Gone = 2_000_000, Churn = 3_000_000;

    /// <summary>One full scan with <paramref name="batch"/>-entry calls (ENOSPC: retried with more room).</summary>
    private static List<(ulong Key, KeyedValue Value)> Scan(BpfMap map, int batch, bool delete = false)
    {
        var keys = new ulong[batch];
        var values = new KeyedValue[batch];
        var got = new List<(ulong, KeyedValue)>();
        BatchCursor cursor = BatchCursor.Start;
        for (int calls = 0; ; calls++)
        {
            Assert.True(calls < 1_000_000, "the scan did not end");
            MapStatus st = delete
                ? map.LookupAndDeleteBatch(ref cursor, MemoryMarshal.AsBytes(keys.AsSpan()), MemoryMarshal.AsBytes(values.AsSpan()), out int n)
                : map.LookupBatch<ulong, KeyedValue>(ref cursor, keys, values, out n);
            if (st == MapStatus.ENOSPC)
            {
                Assert.Equal(0, n);
                keys = new ulong[keys.Length * 2];
                values = new KeyedValue[keys.Length];
                continue;
            }
            Assert.True(st is MapStatus.Ok or MapStatus.ENOENT, $"scan call gave {st}");
            for (int i = 0; i < n; i++)
                got.Add((keys[i], values[i]));
            if (st == MapStatus.ENOENT)
                return got;
        }
    }

    [Theory]
    [Trait("Category", "Stress")]
    [InlineData(0u, 7)]        // real hashes: a few overflow records come and go
    [InlineData(0u, 1)]        // count 1: every multi-key bucket goes through ENOSPC and a retry
    [InlineData(300u, 16)]     // degenerate hash: long overflow chains, many keys per bucket
    public void FullScansUnderChurnAndOverflowTrafficReturnStableKeysExactlyOnce(uint hashModulo, int batch)
    {
        using BpfMap map = Maps.Hash(2048);
        map.HashStore!.HashModuloForTests = hashModulo;
        for (ulong k = 0; k < 600; k++)
            Assert.Equal(MapStatus.Ok, map.Put(Stable + k, 1));
        for (ulong k = 0; k < 300; k++)
            Assert.Equal(MapStatus.Ok, map.Put(Gone + k, 1));
        for (ulong k = 0; k < 300; k++)
            Assert.Equal(MapStatus.Ok, map.Delete(Gone + k));
        long unlinksBefore = map.HashStore!.RecordTrafficForTests.Unlinked;

        int stop = 0, scans = 0;
        var failures = new ConcurrentQueue<string>();
        Threads.Run(3, t =>
        {
            if (t < 2)
            {
                // Writers: a sliding window of 300 live keys each (insert the next, delete the
                // oldest, refresh one at random): deleted slots wait in limbo, so groups fill and
                // overflow records are linked, then unlinked as they empty, while the scans run.
                var rng = new Random(17 + t);
                ulong next = Churn + (ulong)t * 100_000_000, rev = 1;
                while (Volatile.Read(ref stop) == 0)
                {
                    map.Put(next, ++rev);
                    if (next >= Churn + (ulong)t * 100_000_000 + 300)
                    {
                        map.Delete(next - 300);
                        map.Put(next - (ulong)rng.Next(1, 300), ++rev);
                    }
                    next++;
                }
                return;
            }
            try
            {
                // At least 40 scans, and on until three overflow records have been unlinked under them.
                var guard = System.Diagnostics.Stopwatch.StartNew();
                for (int s = 0; s < 40 || (map.HashStore!.RecordTrafficForTests.Unlinked < unlinksBefore + 3 && guard.Elapsed.TotalSeconds < 60); s++)
                {
                    var seen = new Dictionary<ulong, int>();
                    foreach ((ulong key, KeyedValue value) in Scan(map, batch))
                    {
                        if (!value.Encodes(key))
                            failures.Enqueue($"scan {s}: key {key} came with {value}");
                        seen[key] = seen.GetValueOrDefault(key) + 1;
                        if (key >= Gone && key < Churn)
                            failures.Enqueue($"scan {s}: key {key}, absent for the whole scan, was returned");
                    }
                    for (ulong k = 0; k < 600; k++)
                        if (seen.GetValueOrDefault(Stable + k) != 1)
                            failures.Enqueue($"scan {s}: stable key {Stable + k} returned {seen.GetValueOrDefault(Stable + k)} times");
                    scans++;
                    if (!failures.IsEmpty)
                        break;
                }
            }
            finally
            {
                Volatile.Write(ref stop, 1);
            }
        });
        Assert.True(failures.IsEmpty, string.Join("\n", failures.Take(10)));
        Assert.True(scans >= 40, $"{scans} scans");
        // The property is only interesting if the chains the scans walked changed under them.
        long unlinked = map.HashStore!.RecordTrafficForTests.Unlinked - unlinksBefore;
        Assert.True(unlinked >= 3, $"only {unlinked} overflow records were unlinked during the scans");
    }

    [Theory]
    [Trait("Category", "Stress")]
    [InlineData(4096)]   // every group fits a call: the straight copy (each block under one version check)
    [InlineData(3)]      // calls end inside groups: the general walk, and straight copies from mid-group cursors
    public void ScannedValuesAreNeverTornByInPlaceRefreshes(int batch)
    {
        // Few keys, all refreshed in place as fast as a writer can: a scan that copied a value while a refresh
        // was halfway through it, and did not notice, returns one whose check word is not its revision's.
        using BpfMap map = Maps.Hash(256);
        for (ulong k = 0; k < 96; k++)
            Assert.Equal(MapStatus.Ok, map.Put(k, 1));
        int stop = 0;
        long refreshes = 0;
        var failures = new ConcurrentQueue<string>();
        Threads.Run(2, t =>
        {
            if (t == 0)
            {
                ulong rev = 1;
                for (ulong k = 0; Volatile.Read(ref stop) == 0; k = (k + 7) % 96)
                {
                    map.Put(k, ++rev, ElemFlags.Exist);
                    refreshes++;
                }
                return;
            }
            try
            {
                for (int s = 0; s < 3000 && failures.IsEmpty; s++)
                {
                    var got = Scan(map, batch);
                    if (got.Count != 96)
                        failures.Enqueue($"scan {s}: {got.Count} keys, not 96");
                    foreach ((ulong key, KeyedValue value) in got)
                        if (!value.Encodes(key))
                            failures.Enqueue($"scan {s}: key {key} came with a torn value {value}");
                }
            }
            finally
            {
                Volatile.Write(ref stop, 1);
            }
        });
        Assert.True(failures.IsEmpty, string.Join("\n", failures.Take(10)));
        Assert.True(refreshes > 10_000, $"only {refreshes} refreshes ran during the scans");
    }

    [Fact]
    [Trait("Category", "Stress")]
    public void LookupAndDeleteBatchesHandEachKeyToExactlyOneDeleter()
    {
        for (int round = 0; round < 20; round++)
        {
            const int N = 3000;
            using BpfMap map = Maps.Hash(4096);
            for (ulong k = 0; k < N; k++)
                Assert.Equal(MapStatus.Ok, map.Put(k, k + 1));
            var taken = new List<ulong>[3];
            Threads.Run(3, t =>
            {
                taken[t] = [];
                if (t < 2)
                {
                    // Two scanning deleters.
                    foreach ((ulong key, KeyedValue value) in Scan(map, 5 + 11 * t, delete: true))
                    {
                        Assert.True(value.Encodes(key) && value.Rev == key + 1, $"key {key} came with {value}");
                        taken[t].Add(key);
                    }
                    return;
                }
                // A third deleter by key: compare-and-delete batches over every key, in order.
                var rng = new Random(round);
                ulong[] keys = Enumerable.Range(0, N).Select(i => (ulong)i).OrderBy(_ => rng.Next()).ToArray();
                ulong[] revs = keys.Select(k => k + 1).ToArray();
                var results = new MapStatus[64];
                for (int i = 0; i < N; i += 64)
                {
                    int n = Math.Min(64, N - i);
                    Assert.Equal(MapStatus.Ok, map.CompareAndDeleteBatch<ulong, ulong>(keys.AsSpan(i, n), revs.AsSpan(i, n), 0, results, out int done));
                    Assert.Equal(n, done);
                    for (int j = 0; j < n; j++)
                    {
                        Assert.True(results[j] is MapStatus.Ok or MapStatus.ENOENT, $"key {keys[i + j]}: {results[j]}");
                        if (results[j] == MapStatus.Ok)
                            taken[2].Add(keys[i + j]);
                    }
                }
            });
            List<ulong> all = [.. taken[0], .. taken[1], .. taken[2]];
            Assert.Equal(N, all.Count);                       // nobody got a key twice ...
            Assert.Equal(N, all.Distinct().Count());          // ... or a key two deleters got
            Assert.Equal(0, map.Count);
        }
    }

    [Fact]
    public void KeysPresentThroughoutAreReturnedOnceWhenOtherKeysComeAndGoBetweenCalls()
    {
        // Deterministic interleaving: between the calls of a scan, other keys are inserted and deleted,
        // the epoch is advanced (limbo slots become reusable), and with a degenerate hash overflow
        // records are linked and unlinked in the chains the cursor is walking. Keys present throughout
        // must come back exactly once, and deleted keys never.
        for (int seed = 0; seed < 200; seed++)
        {
            var rng = new Random(seed);
            uint max = (uint)rng.Next(8, 200);
            using BpfMap map = Maps.Hash(max);
            map.HashStore!.HashModuloForTests = (ulong)(seed % 3 == 0 ? rng.Next(1, 8) : 0);
            var stable = new HashSet<ulong>();
            for (int i = 0; i < 4 * max; i++)
            {
                ulong k = (ulong)rng.Next(1_000_000);
                if (map.Put(k, 1, ElemFlags.NoExist) == MapStatus.Ok)
                    stable.Add(k);
                if (stable.Count > max / 2 && rng.Next(2) == 0)
                {
                    ulong victim = stable.ElementAt(rng.Next(stable.Count));
                    Assert.Equal(MapStatus.Ok, map.Delete(victim));   // its slot goes to limbo
                    stable.Remove(victim);
                }
            }
            var keys = new ulong[rng.Next(1, 5)];
            var values = new KeyedValue[keys.Length];
            var seen = new Dictionary<ulong, int>();
            BatchCursor cursor = BatchCursor.Start;
            ulong churn = 2_000_000;
            for (MapStatus st = MapStatus.Ok; st != MapStatus.ENOENT;)
            {
                st = map.LookupBatch<ulong, KeyedValue>(ref cursor, keys, values, out int n);
                if (st == MapStatus.ENOSPC)
                {
                    keys = new ulong[keys.Length * 2];
                    values = new KeyedValue[keys.Length];
                    continue;
                }
                for (int i = 0; i < n; i++)
                    seen[keys[i]] = seen.GetValueOrDefault(keys[i]) + 1;
                // Other keys come and go, and their limbo slots become reusable.
                for (int c = rng.Next(4); c >= 0; c--, churn++)
                    if (map.Put(churn, 1) == MapStatus.Ok && rng.Next(3) != 0)
                        map.Delete(churn);
                FastMap.Internal.Epoch.Collect();
                FastMap.Internal.Epoch.Collect();
            }
            foreach (ulong k in stable)
                Assert.True(seen.GetValueOrDefault(k) == 1, $"seed {seed}: key {k} returned {seen.GetValueOrDefault(k)} times");
            Assert.True(seen.Keys.All(k => stable.Contains(k) || k >= 2_000_000), $"seed {seed}: a deleted key was returned");
        }
    }

    [Fact]
    public void ScansOfSmallTablesEqualTheModel()
    {
        // Maps of 1..32 entries: one or a few groups of fewer than 12 slots, and overflow records.
        for (int seed = 0; seed < 400; seed++)
        {
            var rng = new Random(seed);
            uint max = (uint)rng.Next(1, 33);
            using BpfMap map = Maps.Hash(max);
            var model = new Dictionary<ulong, ulong>();
            for (int op = 0; op < 200; op++)
            {
                ulong k = (ulong)rng.Next(3 * (int)max);
                if (rng.Next(3) == 0)
                {
                    map.Delete(k);
                    model.Remove(k);
                }
                else if (map.Put(k, (ulong)op) == MapStatus.Ok)
                    model[k] = (ulong)op;
            }
            List<(ulong Key, KeyedValue Value)> got = Scan(map, rng.Next(1, 6));
            Assert.Equal(model.Keys.Order(), got.Select(g => g.Key).Order());
            foreach ((ulong key, KeyedValue value) in got)
                Assert.Equal(model[key], value.Rev);
        }
    }

    [Fact]
    public void EveryCallReturnsWholeBucketsInCursorOrder()
    {
        // For every room from 1 to past the map's size: each call returns whole buckets (every key of
        // a bucket it touches), the cursor only moves forward past what was returned, ENOSPC comes
        // only when the next bucket alone is larger than the room, and the scan returns every key once.
        using BpfMap map = Maps.Hash(64);
        map.HashStore!.HashModuloForTests = 23;       // few hash values: buckets of several keys
        for (ulong k = 0; k < 40; k++)
            Assert.Equal(MapStatus.Ok, map.Put(k, 1));
        var bucketOf = new Dictionary<ulong, uint>();
        for (ulong k = 0; k < 40; k++)
            bucketOf[k] = BucketOf(map, k);
        for (int room = 1; room <= 45; room++)
        {
            var keys = new ulong[room];
            var values = new KeyedValue[room];
            var seen = new List<ulong>();
            BatchCursor cursor = BatchCursor.Start;
            uint lastBucket = 0;
            for (MapStatus st = MapStatus.Ok; st != MapStatus.ENOENT;)
            {
                uint from = cursor.Position;
                st = map.LookupBatch<ulong, KeyedValue>(ref cursor, keys, values, out int n);
                if (st == MapStatus.ENOSPC)
                {
                    Assert.Equal(0, n);
                    int size = bucketOf.Count(kv => kv.Value == cursor.Position);
                    Assert.True(size > room, $"room {room}: ENOSPC at bucket {cursor.Position}, which holds {size} keys");
                    break;                                // this room cannot scan the map: the kernel's answer
                }
                var buckets = keys.Take(n).Select(k => bucketOf[k]).Distinct().ToList();
                foreach (uint b in buckets)
                {
                    Assert.InRange(b, from, st == MapStatus.ENOENT ? uint.MaxValue : cursor.Position - 1);
                    Assert.True(b >= lastBucket, $"room {room}: bucket {b} after bucket {lastBucket}");
                    var whole = bucketOf.Where(kv => kv.Value == b).Select(kv => kv.Key).Order();
                    Assert.Equal(whole, keys.Take(n).Where(k => bucketOf[k] == b).Order());
                }
                if (buckets.Count > 0)
                    lastBucket = buckets.Max();
                seen.AddRange(keys.Take(n));
                if (st == MapStatus.ENOENT)
                    Assert.Equal(Enumerable.Range(0, 40).Select(k => (ulong)k), seen.Order());
            }
        }
    }

    private static uint BucketOf(BpfMap map, ulong key) => map.HashStore!.BucketForTests(Maps.KeyBytes(key)).Bucket;
}
