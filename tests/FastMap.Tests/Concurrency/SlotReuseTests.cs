using System.Collections.Concurrent;
using FastMap.Tests.Epoch;

namespace FastMap.Tests.Concurrency;

/// <summary>
/// Deleted slots wait out a grace period only in maps whose values were handed out by address (HashStore remarks,
/// 3: the pin). In other maps a freed slot is reused at once, so nothing found without a lock may be trusted
/// after it: writers re-check under the lock, scans and get-next-key validate against the block's version.
/// </summary>
public sealed class SlotReuseTests
{
    /// <summary>One group of ten slots for eight keys: a delete then an insert needs the freed slot by the third time.</summary>
    private static BpfMap OneGroup() => Maps.Hash(8);

    private static int CycleAndCountRecords(BpfMap map)
    {
        for (ulong k = 0; k < 8; k++)
            Assert.Equal(MapStatus.Ok, map.Put(k, 1));
        for (ulong k = 0; k < 5; k++)
        {
            Assert.Equal(MapStatus.Ok, map.Delete(k));
            Assert.Equal(MapStatus.Ok, map.Put(100 + k, 1, ElemFlags.NoExist));
        }
        return (int)map.HashStore!.OverflowRecordsForTests;
    }

    [Fact]
    public void AnUnpinnedMapReusesAFreedSlotAtOnce()
    {
        using BpfMap map = OneGroup();
        using var reader = new ParkedReader();        // holds the epoch back: only an immediate reuse avoids records
        Assert.Equal(0, CycleAndCountRecords(map));
        Assert.False(map.HashStore!.PinnedForTests);
    }

    [Fact]
    public void APinnedMapKeepsFreedSlotsForAGracePeriod()
    {
        using BpfMap map = OneGroup();
        Assert.Equal(MapStatus.Ok, map.Put(999, 1));
        using (ReadSection.Enter())
            Assert.False(map.LookupInPlace(BitConverter.GetBytes(999UL)).IsEmpty); // hands an address out: pins
        Assert.Equal(MapStatus.Ok, map.Delete(999UL));
        Assert.True(map.HashStore!.PinnedForTests);
        using var reader = new ParkedReader();        // no grace period can end: freed slots stay in limbo
        Assert.True(CycleAndCountRecords(map) > 0, "the inserts took slots still in limbo");
    }

    [Fact]
    public void CopyingLookupsAndPresenceChecksDoNotPin()
    {
        using BpfMap map = OneGroup();
        Assert.Equal(MapStatus.Ok, map.Put(1, 1));
        Assert.Equal(MapStatus.Ok, map.Get(1, out _));
        Assert.Equal(MapStatus.EFAULT, map.Lookup(BitConverter.GetBytes(1UL), Span<byte>.Empty)); // finds, then cannot copy
        Assert.False(map.HashStore!.PinnedForTests);
    }

    [Fact]
    [Trait("Category", "Stress")]
    public void AnUpdateNeverLandsInASlotReusedByAnotherKey()
    {
        // The updater refreshes keys 0..31 (BPF_EXIST) while the churner deletes each, puts a stranger in its
        // place (the freed slot, at once: the map is unpinned), checks the stranger's value, and restores the
        // key. An update that found its key, lost the race to the delete and still wrote the slot under its lock
        // would leave the stranger with the key's value.
        using BpfMap map = Maps.Hash(64);
        for (ulong k = 0; k < 32; k++)
            Assert.Equal(MapStatus.Ok, map.Put(k, 1));
        int stop = 0;
        long updates = 0;
        var failures = new ConcurrentQueue<string>();
        Threads.Run(2, t =>
        {
            if (t == 0)
            {
                ulong rev = 1;
                for (ulong k = 0; Volatile.Read(ref stop) == 0; k = (k + 1) % 32)
                {
                    map.Put(k, ++rev, ElemFlags.Exist);
                    updates++;
                }
                return;
            }
            try
            {
                ulong stranger = 1_000_000;
                for (int round = 0; round < 20_000 && failures.IsEmpty; round++)
                    for (ulong k = 0; k < 32; k++, stranger++)
                    {
                        map.Delete(k);
                        Assert.Equal(MapStatus.Ok, map.Put(stranger, 7, ElemFlags.NoExist));
                        if (map.Get(stranger, out KeyedValue v) != MapStatus.Ok || !v.Encodes(stranger) || v.Rev != 7)
                            failures.Enqueue($"round {round}: stranger {stranger} holds {v}");
                        map.Delete(stranger);
                        map.Put(k, 1);
                    }
            }
            finally
            {
                Volatile.Write(ref stop, 1);
            }
        });
        Assert.True(failures.IsEmpty, string.Join("\n", failures.Take(5)));
        Assert.True(updates > 10_000, $"only {updates} updates ran");
    }

    [Fact]
    [Trait("Category", "Stress")]
    public void GetNextKeyReturnsOnlyWholeKeysWhileSlotsAreReused()
    {
        // 16-byte keys (a, ~a): a key copied while its slot was freed and refilled would mix two of them.
        Assert.Equal(MapStatus.Ok, BpfMap.Create(new MapDefinition(MapType.Hash, 16, 8, 64), out BpfMap? created));
        using BpfMap map = created!;
        static (ulong, ulong) Key(ulong a) => (a, ~a);
        for (ulong a = 0; a < 40; a++)
            Assert.Equal(MapStatus.Ok, map.Update(Key(a), a));
        int stop = 0;
        long walks = 0;
        var failures = new ConcurrentQueue<string>();
        Threads.Run(2, t =>
        {
            if (t == 0)
            {
                for (ulong a = 40; Volatile.Read(ref stop) == 0; a++)
                {
                    map.Delete(Key(a - 40));
                    map.Update(Key(a), a);
                }
                return;
            }
            try
            {
                var next = new byte[16];
                for (int w = 0; w < 20_000 && failures.IsEmpty; w++, walks++)
                {
                    MapStatus st = map.GetNextKey(default, next);
                    for (int steps = 0; st == MapStatus.Ok && steps < 200; steps++)
                    {
                        ulong a = BitConverter.ToUInt64(next, 0), b = BitConverter.ToUInt64(next, 8);
                        if (b != ~a)
                            failures.Enqueue($"walk {w}: get-next-key gave a key made of two: {a:x16} {b:x16}");
                        st = map.GetNextKey(next.ToArray(), next);
                    }
                }
            }
            finally
            {
                Volatile.Write(ref stop, 1);
            }
        });
        Assert.True(failures.IsEmpty, string.Join("\n", failures.Take(5)));
        Assert.True(walks >= 20_000);
    }
}
