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
    [InlineData(64u, 6u, 4)]   // six hash values: every insert probes into the next groups or records
    public void ReadersHoldingInPlaceValuesNeverSeeAnotherKeysBytes(uint max, uint modulo, int seed)
    {
        const int readers = 2, writers = 2, readerRounds = 3000, checksPerRound = 20;
        using BpfMap map = Maps.Hash(max);
        map.HashStore!.HashModuloForTests = modulo;
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
                        if (sa is not null && !NamesKey(sa, k1))
                            Assert.Fail($"reader {id} round {r}: in-place value of key {k1} holds {KeyedValue.Read(sa)}");
                        if (sb is not null && !NamesKey(sb, k2))
                            Assert.Fail($"reader {id} round {r}: in-place value of key {k2} holds {KeyedValue.Read(sb)}");
                        Interlocked.Add(ref held, (sa is null ? 0 : 1) + (sb is null ? 0 : 1));
                        for (int c = 0; c < checksPerRound; c++)
                        {
                            // Nested sections come and go; the outer one keeps both slots from reuse. A
                            // replace of the same key lands in place (the holder sees it; its revision
                            // words may be mid-write), but the key words never name another key.
                            using (ReadSection.Enter())
                            {
                                if (sa is not null && !NamesKey(a, k1))
                                    Assert.Fail($"reader {id} round {r}: held value of key {k1} now holds {KeyedValue.Read(a)} (was {KeyedValue.Read(sa)})");
                            }
                            if (sb is not null && !NamesKey(b, k2))
                                Assert.Fail($"reader {id} round {r}: held value of key {k2} now holds {KeyedValue.Read(b)} (was {KeyedValue.Read(sb)})");
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
                        case 0: // replace: written in place
                            Expect(map.Put(k, rev++), "replace");
                            break;
                        case 1: // delete and re-insert: the slot goes to limbo, the key takes another
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

    /// <summary>True if a held value's key words (8..16 and 24..32) still name <paramref name="key"/>.</summary>
    private static bool NamesKey(ReadOnlySpan<byte> held, ulong key)
    {
        KeyedValue v = KeyedValue.Read(held);
        return v.Key == key && v.NotKey == ~key;
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
        long initial = map.MemoryBytes;
        ulong rev = 1;
        Churn(map, 20, ref rev, writers); // warm-up: limbo and overflow records reach their working size
        long bytes = map.MemoryBytes;
        var history = new List<long> { bytes };
        for (int phase = 0; phase < 10; phase++)
        {
            Churn(map, 20, ref rev, writers); // 10 x 20 x 1024 deletes into limbo: far more than the spare slots
            history.Add(map.MemoryBytes);
        }
        string why = $"{initial} bytes after the fill, {bytes} after warm-up; per phase: {string.Join(", ", history)}; " +
            $"overflow records {map.HashStore!.OverflowRecordsForTests}; epoch {FastMap.Internal.Epoch.Current}";
        if (writers == 1)
        {
            // One writer: every section is its own, so limbo comes back after each advance and memory
            // reaches a steady size during the warm-up. How many overflow records the busiest moment needs
            // still creeps up now and then by a record (a peak of a random process), so allow one
            // accounting step past the warm-up's size, no more, for 200,000 more deletes.
            Assert.True(map.MemoryBytes <= bytes + map.HashStore!.OverflowStepBytesForTests, why);
        }
        else
        {
            // Two writers on two cores: a writer preempted inside its section holds the epoch for a
            // scheduler quantum, and the other takes overflow records meanwhile (never waits), so
            // how much it grows depends on the scheduler; a loose sanity bound only.
            Assert.True(map.MemoryBytes <= 16 * initial, why);
            // What is deterministic: once every thread makes progress again, limbo comes back and the
            // map stops growing (here: one writer, whose sections are its own).
            long settled = map.MemoryBytes;
            for (int phase = 0; phase < 5; phase++)
                Churn(map, 20, ref rev, 1);
            Assert.True(map.MemoryBytes == settled, why + $"; then one writer grew it from {settled} to {map.MemoryBytes}");
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
    public void ADeletedSlotIsNotReusedWhileAReaderIsParkedAndMemoryIsReusedAfterItLeaves()
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
            long before = map.MemoryBytes;
            for (int round = 0; round < 8; round++)
            {
                // Delete key 7 (its slot, which the reader holds, goes to limbo), re-insert it elsewhere,
                // and churn everything else.
                Assert.Equal(MapStatus.Ok, map.Delete(7ul));
                Assert.Equal(MapStatus.Ok, map.Put(7, 1_000_000 + (ulong)round, ElemFlags.NoExist));
                Churn(map, 4, ref rev);
                Assert.True(reader.HeldBytesUnchanged(), $"round {round}: the held slot was reused");
            }
            // No slot deleted since the reader parked could be reused, so overflow records were taken.
            Assert.True(map.MemoryBytes > before, "memory did not grow although no deleted slot was reusable");
        }
        finally
        {
            reader.Release();
        }

        // The reader left: after warm-up churn, memory stops growing.
        ulong r2 = 10_000;
        Churn(map, 10, ref r2);
        long settled = map.MemoryBytes;
        Churn(map, 40, ref r2);
        Assert.True(map.MemoryBytes <= settled,
            $"memory kept growing after the reader left: {settled} -> {map.MemoryBytes}");
    }

    [Fact]
    public void AHolderOfAnInPlaceValueSeesUpdatesOfItsKeyAndKeepsADeletedKeysBytes()
    {
        // The in-place contract: an update of the held key lands in place (the holder sees the new
        // value, as a kernel array map's holder does); a delete leaves the held bytes as they were
        // until the section ends (the slot is in limbo), and a re-insert of the key goes elsewhere.
        using BpfMap map = Maps.Hash(64);
        Assert.Equal(MapStatus.Ok, map.Put(5, 1));
        using (ReadSection.Enter())
        {
            Span<byte> held = map.LookupInPlace(Maps.KeyBytes(5));
            Assert.Equal(1ul, KeyedValue.Read(held).Rev);
            Assert.Equal(MapStatus.Ok, map.Put(5, 2));
            Assert.Equal(2ul, KeyedValue.Read(held).Rev);
            Assert.True(KeyedValue.Read(held).Encodes(5));
            Assert.Equal(MapStatus.Ok, map.Delete(5ul));
            Assert.Equal(MapStatus.Ok, map.Put(5, 3, ElemFlags.NoExist));
            for (ulong k = 100; k < 140; k++)      // other keys come and go around it
            {
                Assert.Equal(MapStatus.Ok, map.Put(k, k));
                Assert.Equal(MapStatus.Ok, map.Delete(k));
            }
            FastMap.Internal.Epoch.Collect();
            Assert.Equal(2ul, KeyedValue.Read(held).Rev);   // the deleted key's last value, untouched
            Assert.True(KeyedValue.Read(held).Encodes(5));
            Assert.Equal(3ul, KeyedValue.Read(map.LookupInPlace(Maps.KeyBytes(5))).Rev);
        }
    }
}
