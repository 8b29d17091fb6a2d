using FastMap.Tests.Epoch;

namespace FastMap.Tests.Concurrency;

/// <summary>
/// Epoch-based reclamation seen from the map: readers holding in-place values while writers delete,
/// re-insert and replace; memory reuse once no reader is parked; a parked reader's element is not
/// reused, and does not stop a full map from taking a delete followed by an insert.
/// </summary>
[Collection(EpochSerialCollection.Name)]
public sealed class ReclamationTests
{
    [Theory]
    [Trait("Category", "Stress")]
    [InlineData(64u, 0u, 1)]
    [InlineData(256u, 0u, 2)]
    [InlineData(256u, 100u, 3)]
    public void ReadersHoldingInPlaceValuesNeverSeeAnotherKeysBytes(uint max, uint modulo, int seed)
    {
        const int readers = 2, writers = 2, readerRounds = 3000, checksPerRound = 20;
        using BpfMap map = Maps.Hash(max);
        map.Table.HashModuloForTests = modulo;
        for (ulong k = 0; k < max; k++)
            Assert.Equal(MapStatus.Ok, map.Put(k, 0));
        int readersLeft = readers;
        long held = 0;
        Threads.Run(readers + writers, id =>
        {
            var rng = new Random(seed * 100 + id);
            if (id < readers)
            {
                for (int r = 0; r < readerRounds; r++)
                {
                    using (ReadSection.Enter())
                    {
                        ulong k1 = (ulong)rng.Next((int)max), k2 = (ulong)rng.Next((int)max);
                        Span<byte> a = map.LookupInPlace(Maps.KeyBytes(k1));
                        Span<byte> b = map.LookupInPlace(Maps.KeyBytes(k2));
                        byte[]? sa = a.IsEmpty ? null : a.ToArray();
                        byte[]? sb = b.IsEmpty ? null : b.ToArray();
                        if (sa is not null)
                            AssertEncodes(sa, k1, id, r);
                        if (sb is not null)
                            AssertEncodes(sb, k2, id, r);
                        Interlocked.Add(ref held, (sa is null ? 0 : 1) + (sb is null ? 0 : 1));
                        for (int c = 0; c < checksPerRound; c++)
                        {
                            // Nested sections come and go; the outer one keeps both values alive.
                            using (ReadSection.Enter())
                            {
                                if (sa is not null && !a.SequenceEqual(sa))
                                    Assert.Fail($"reader {id} round {r}: held value of key {k1} changed to {KeyedValue.Read(a)} (was {KeyedValue.Read(sa)})");
                            }
                            if (sb is not null && !b.SequenceEqual(sb))
                                Assert.Fail($"reader {id} round {r}: held value of key {k2} changed to {KeyedValue.Read(b)} (was {KeyedValue.Read(sb)})");
                            Thread.SpinWait(50);
                        }
                    }
                }
                Interlocked.Decrement(ref readersLeft);
            }
            else
            {
                ulong rev = 1;
                int ops = 0;
                // Writers run until the readers are done (a count, not a clock), at most 2M ops.
                while (Volatile.Read(ref readersLeft) > 0 && ops++ < 2_000_000)
                {
                    ulong k = (ulong)rng.Next((int)max);
                    if ((k & 1) != (ulong)(id - readers))
                        k ^= 1; // each writer owns one parity, so its statuses are exact
                    // Each status is exact (this writer alone writes key k); the message names the step.
                    void Expect(MapStatus st, string what)
                    {
                        if (st != MapStatus.Ok)
                            Assert.Fail($"writer {id} op {ops}: {what} of key {k} gave {st} (map count {map.Count}, memory {map.MemoryBytes} bytes)");
                    }
                    switch (rng.Next(3))
                    {
                        case 0: // replace: retires the old element
                            Expect(map.Put(k, rev++), "replace");
                            break;
                        case 1: // delete and re-insert: the element goes to limbo, a new one comes in
                            Expect(map.Delete(k), "delete");
                            Expect(map.Put(k, rev++, ElemFlags.NoExist), "re-insert after delete");
                            break;
                        default: // compare-and-delete of the current revision, then re-insert
                            Expect(map.Get(k, out KeyedValue v), "lookup");
                            Expect(map.CompareAndDelete(k, v.Rev, 0), $"compare-and-delete of revision {v.Rev}");
                            Expect(map.Put(k, rev++, ElemFlags.NoExist), "re-insert after compare-and-delete");
                            break;
                    }
                }
            }
        });
        Assert.True(Volatile.Read(ref held) > 0, "readers never held a value");
        Assert.Equal(max, (uint)map.Count);
    }

    private static void AssertEncodes(byte[] bytes, ulong key, int reader, int round)
    {
        KeyedValue v = KeyedValue.Read(bytes);
        if (!v.Encodes(key))
            Assert.Fail($"reader {reader} round {round}: in-place value of key {key} holds {v}");
    }

    /// <summary>Runs delete/insert cycles over every key of a full map from two threads.</summary>
    private static void Churn(BpfMap map, int cycles, ref ulong rev, int threads = 2)
    {
        ulong max = (ulong)map.MaxEntries, baseRev = rev;
        Threads.Run(threads, t =>
        {
            for (int c = 0; c < cycles; c++)
            {
                for (ulong k = (ulong)t; k < max; k += (ulong)threads)
                {
                    Assert.Equal(MapStatus.Ok, map.Delete(k));
                    Assert.Equal(MapStatus.Ok, map.Put(k, baseRev + (ulong)c, ElemFlags.NoExist));
                    Assert.Equal(MapStatus.Ok, map.Put(k, baseRev + (ulong)c + 1, ElemFlags.Exist));
                }
            }
        });
        rev += (ulong)cycles + 1;
    }

    [Theory]
    [Trait("Category", "Stress")]
    [InlineData(1)]
    [InlineData(2)]
    public void MemoryStopsGrowingUnderChurnOnceNoReaderIsParked(int writers)
    {
        const uint max = 1024;
        using BpfMap map = Maps.Hash(max);
        for (ulong k = 0; k < max; k++)
            Assert.Equal(MapStatus.Ok, map.Put(k, 0));
        long initial = map.Table.Pool.ElementCount;
        ulong rev = 1;
        Churn(map, 20, ref rev, writers); // warm-up: limbo and free stacks reach their working size
        long elements = map.Table.Pool.ElementCount, bytes = map.MemoryBytes;
        var history = new List<long> { elements };
        for (int phase = 0; phase < 10; phase++)
        {
            Churn(map, 20, ref rev, writers); // 10 x 20 x 2048 retires: far more than any spare capacity
            history.Add(map.Table.Pool.ElementCount);
        }
        long grown = map.Table.Pool.ElementCount - elements;
        string why = $"element pool: {initial} preallocated, grew by {grown} elements after warm-up ({bytes} bytes to {map.MemoryBytes}); per phase: {string.Join(", ", history)}; epoch {FastMap.Internal.Epoch.Current}";
        if (writers == 1)
        {
            // One writer: every section is its own, so every retired element comes back and the
            // preallocated spares suffice forever.
            Assert.True(map.Table.Pool.ElementCount == initial, why);
        }
        else
        {
            // Two writers on two cores: a writer preempted inside its section holds the epoch for a
            // scheduler quantum, and the other allocates fresh memory meanwhile (never waits), so
            // how much it grows depends on the scheduler; a loose sanity bound only.
            Assert.True(map.Table.Pool.ElementCount <= 64 * initial, why);
            // What is deterministic: once every thread makes progress again, retired memory comes
            // back and the pool stops growing (here: one writer, whose sections are its own).
            long settled = map.Table.Pool.ElementCount;
            for (int phase = 0; phase < 5; phase++)
                Churn(map, 20, ref rev, 1);
            Assert.True(map.Table.Pool.ElementCount == settled, why + $"; then one writer grew it from {settled} to {map.Table.Pool.ElementCount}");
        }
        Assert.Equal(max, (uint)map.Count);
    }

    [Fact]
    public void ADeleteThenInsertOnAFullMapSucceedsAtOnceWhileAReaderIsParked()
    {
        const uint max = 64;
        using BpfMap map = Maps.Hash(max);
        for (ulong k = 0; k < max; k++)
            Assert.Equal(MapStatus.Ok, map.Put(k, 0));
        using var reader = new ParkedReader(map, key: 5);
        Assert.NotNull(reader.Held);
        var live = Enumerable.Range(0, (int)max).Select(k => (ulong)k).ToList();
        live.Remove(5);
        live.Insert(0, 5); // the held key goes first: its element is unlinked and retired at once
        ulong next = 1000;
        for (int i = 0; i < 2000; i++)
        {
            int idx = i % live.Count;
            Assert.Equal(MapStatus.Ok, map.Delete(live[idx]));
            live[idx] = next++;
            Assert.Equal(MapStatus.Ok, map.Put(live[idx], (ulong)i, ElemFlags.NoExist));
            Assert.Equal(MapStatus.E2BIG, map.Put(1_000_000_000 + (ulong)i, 0));
        }
        Assert.True(reader.HeldBytesUnchanged(), "the parked reader's element was reused while it was in its section");
        Assert.Equal(max, (uint)map.Count);
    }

    [Fact]
    [Trait("Category", "Stress")]
    public void RetiredElementIsNotReusedWhileAReaderIsParkedAndMemoryIsReusedAfterItLeaves()
    {
        const uint max = 256;
        using BpfMap map = Maps.Hash(max);
        for (ulong k = 0; k < max; k++)
            Assert.Equal(MapStatus.Ok, map.Put(k, 0));
        var reader = new ParkedReader(map, key: 7);
        try
        {
            Assert.True(KeyedValue.Read(reader.Held!).Encodes(7));
            ulong rev = 1;
            long before = map.Table.Pool.ElementCount;
            for (int round = 0; round < 8; round++)
            {
                // Replace key 7 (retiring the held element) and churn everything else.
                Assert.Equal(MapStatus.Ok, map.Put(7, 1_000_000 + (ulong)round));
                Churn(map, 4, ref rev);
                Assert.True(reader.HeldBytesUnchanged(), $"round {round}: the held element was reused");
            }
            // Nothing retired since the reader parked could be reused, so fresh memory was taken.
            Assert.True(map.Table.Pool.ElementCount > before, "the pool did not grow although no retired element was reusable");
        }
        finally
        {
            reader.Release();
        }

        // The reader left: after warm-up churn, memory stops growing.
        ulong r2 = 10_000;
        Churn(map, 10, ref r2);
        long settled = map.Table.Pool.ElementCount;
        Churn(map, 40, ref r2);
        Assert.True(map.Table.Pool.ElementCount <= settled,
            $"the pool kept growing after the reader left: {settled} -> {map.Table.Pool.ElementCount}");
    }
}
