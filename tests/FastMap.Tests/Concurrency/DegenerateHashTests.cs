namespace FastMap.Tests.Concurrency;

/// <summary>
/// A degenerate hash (<c>HashModuloForTests</c> 1, 100, 1000) crowds keys into a few groups' windows and
/// overflow chains, so writers of different home groups claim slots in the same groups and records. Values
/// encode their key: a reader that copies a torn or foreign entry is caught.
/// </summary>
[Collection(EpochSerialCollection.Name)] // asserts a memory bound, which a parallel test's reader would hold back
public sealed class DegenerateHashTests
{
    private const int KeysPerWriter = 256;

    [Theory]
    [Trait("Category", "Stress")]
    [InlineData(1u, 1)]
    [InlineData(100u, 2)]
    [InlineData(1000u, 3)]
    [InlineData(0u, 4)]
    public void LongProbeChainsKeepEveryKeyExactWhileWritersAndReadersRace(uint modulo, int seed)
    {
        const int writers = 2, readers = 2, writerOps = 20000, readerOps = 30000;
        using BpfMap map = Maps.Hash(writers * KeysPerWriter);
        map.HashStore!.HashModuloForTests = modulo; // before any insert
        var models = new ulong[writers][];     // 0 = absent, else the revision
        int readerFaults = 0;
        string? firstFault = null;

        Threads.Run(writers + readers, id =>
        {
            var rng = new Random(seed * 1000 + id);
            if (id < writers)
            {
                // Writer: owns keys [id*256, id*256+256); its model is exact for them.
                var model = models[id] = new ulong[KeysPerWriter];
                ulong nextRev = 1;
                for (int i = 0; i < writerOps; i++)
                {
                    int slot = rng.Next(KeysPerWriter);
                    ulong key = (ulong)(id * KeysPerWriter + slot);
                    int roll = rng.Next(100);
                    if (roll < 40)
                    {
                        ElemFlags f = (ElemFlags)rng.Next(3);
                        MapStatus want = model[slot] != 0 ? (f == ElemFlags.NoExist ? MapStatus.EEXIST : MapStatus.Ok)
                            : (f == ElemFlags.Exist ? MapStatus.ENOENT : MapStatus.Ok);
                        ulong rev = nextRev++;
                        Expect(map.Put(key, rev, f), want, "update", key, i);
                        if (want == MapStatus.Ok)
                            model[slot] = rev;
                    }
                    else if (roll < 65)
                    {
                        Expect(map.Delete(key), model[slot] != 0 ? MapStatus.Ok : MapStatus.ENOENT, "delete", key, i);
                        model[slot] = 0;
                    }
                    else if (roll < 80)
                    {
                        bool stale = rng.Next(3) == 0;
                        ulong rev = stale ? model[slot] + 1_000_000 : model[slot];
                        MapStatus want = model[slot] == 0 ? MapStatus.ENOENT : stale ? MapStatus.EBUSY : MapStatus.Ok;
                        Expect(map.CompareAndDelete(key, rev, 0), want, "compare-and-delete", key, i);
                        if (want == MapStatus.Ok)
                            model[slot] = 0;
                    }
                    else
                    {
                        MapStatus st = map.Get(key, out KeyedValue v);
                        Expect(st, model[slot] != 0 ? MapStatus.Ok : MapStatus.ENOENT, "lookup", key, i);
                        if (st == MapStatus.Ok && !(v.Encodes(key) && v.Rev == model[slot]))
                            Assert.Fail($"writer {id} op {i}: key {key} read {v}, expected rev {model[slot]}");
                    }
                }
            }
            else
            {
                // Reader: any key; whatever it finds must be that key's bytes, copied or in place.
                for (int i = 0; i < readerOps; i++)
                {
                    ulong key = (ulong)rng.Next(writers * KeysPerWriter);
                    KeyedValue v;
                    bool found;
                    if ((i & 1) == 0)
                    {
                        found = map.Get(key, out v) == MapStatus.Ok;
                    }
                    else
                    {
                        using (ReadSection.Enter())
                        {
                            Span<byte> span = map.LookupInPlace(Maps.KeyBytes(key));
                            found = !span.IsEmpty;
                            v = found ? KeyedValue.Read(span) : default;
                        }
                    }
                    if (found && !v.Encodes(key))
                    {
                        Interlocked.Increment(ref readerFaults);
                        Interlocked.CompareExchange(ref firstFault, $"reader {id} op {i}: key {key} read {v}", null);
                    }
                }
            }
        });

        Assert.True(readerFaults == 0, $"{readerFaults} torn or foreign reads; first: {firstFault}");
        var live = new HashSet<ulong>();
        for (int w = 0; w < writers; w++)
        {
            for (int s = 0; s < KeysPerWriter; s++)
            {
                ulong key = (ulong)(w * KeysPerWriter + s);
                MapStatus st = map.Get(key, out KeyedValue v);
                Assert.Equal(models[w][s] != 0 ? MapStatus.Ok : MapStatus.ENOENT, st);
                if (st == MapStatus.Ok)
                {
                    Assert.True(v.Encodes(key) && v.Rev == models[w][s], v.ToString());
                    live.Add(key);
                }
            }
        }
        Assert.Equal(live.Count, map.Count);
        Assert.True(live.SetEquals(map.Keys()));
    }

    private static void Expect(MapStatus actual, MapStatus expected, string what, ulong key, int op)
    {
        if (actual != expected)
            Assert.Fail($"op {op}: {what} of key {key}: expected {expected}, got {actual}");
    }

    [Theory]
    [Trait("Category", "Stress")]
    [InlineData(0u)]
    [InlineData(1000u)]
    [InlineData(100u)]
    [InlineData(1u)]
    public void ManyDeleteInsertCyclesReuseLimboAndKeepEveryKeyFindable(uint modulo)
    {
        const uint max = 256;
        const int window = 100, steps = 30000;
        using BpfMap map = Maps.Hash(max);
        map.HashStore!.HashModuloForTests = modulo;
        // Two threads, each a sliding window of fresh keys: insert the newest, delete the oldest.
        // Every delete leaves a slot in limbo, which inserts may take only after a grace period;
        // meanwhile new keys go to overflow records, which are unlinked again as they empty.
        Threads.Run(2, t =>
        {
            ulong Key(long n) => (ulong)t << 40 | (ulong)n;
            long lo = 0, hi = 0;
            for (int i = 0; i < steps; i++)
            {
                Expect(map.Put(Key(hi), (ulong)hi, ElemFlags.NoExist), MapStatus.Ok, "insert", Key(hi), i);
                hi++;
                if (hi - lo > window)
                {
                    Expect(map.Delete(Key(lo)), MapStatus.Ok, "delete", Key(lo), i);
                    lo++;
                }
                if (i % 1000 == 999)
                {
                    for (long n = lo; n < hi; n++)
                    {
                        Expect(map.Get(Key(n), out KeyedValue v), MapStatus.Ok, "lookup live", Key(n), i);
                        Assert.True(v.Encodes(Key(n)) && v.Rev == (ulong)n, v.ToString());
                    }
                    for (long n = Math.Max(0, lo - 50); n < lo; n++)
                        Expect(map.Get(Key(n), out _), MapStatus.ENOENT, "lookup deleted", Key(n), i);
                }
            }
        });
        Assert.Equal(2 * window, map.Count);
        Assert.Equal(2 * window, map.Keys().Count);
        // A record stays linked only while it holds a live key, so linked records never outnumber keys.
        (long linked, long unlinked) = map.HashStore!.RecordTrafficForTests;
        Assert.True(linked - unlinked <= 2 * window, $"overflow records: {linked} linked, {unlinked} unlinked");
        // Every key shares one of 1 or 100 hash values: chains of records. Whether one of them empties (and is
        // unlinked) while two threads interleave their keys in it is the scheduler's (seen: 31 linked, 0 unlinked
        // in one run of seven); that records come back is what the one-thread phase below asserts.
        if (modulo is 1 or 100)
            Assert.True(linked > 0, $"overflow records: {linked} linked, {unlinked} unlinked");
        // How many records the two threads needed depends on the scheduler (a writer preempted in its
        // section holds the epoch, and the other's deletes wait in limbo meanwhile). What is
        // deterministic: one thread alone reuses limbo and records, so after it settles it takes no more.
        long lo1 = 0, hi1 = 0;
        void OneThread(int n)
        {
            for (int i = 0; i < n; i++)
            {
                ulong k = 3ul << 40 | (ulong)hi1++;
                Expect(map.Put(k, k, ElemFlags.NoExist), MapStatus.Ok, "insert", k, i);
                if (hi1 - lo1 > (max - 2 * window) / 2)
                    Expect(map.Delete(3ul << 40 | (ulong)lo1++), MapStatus.Ok, "delete", k, i);
            }
        }
        OneThread(steps);
        long settled = map.MemoryBytes;
        OneThread(steps);
        Assert.True(map.MemoryBytes == settled, $"one thread grew the map from {settled} to {map.MemoryBytes} bytes ({map.HashStore!.OverflowRecordsForTests} records)");
    }
}
