using FastMap.Tests.Epoch;
using static FastMap.Tests.Engine.TestMaps;

namespace FastMap.Tests.Engine;

/// <summary>
/// What the group store adds over a plain map (HashStore remarks): values overwritten in place, outbound counts
/// that must come back to zero on a map that never rebuilds, overflow records that are all unlinked again.
/// </summary>
public sealed class HashStoreTests
{
    [Fact]
    public void AnInPlaceHolderSeesUpdatesOfItsKeyAndNeverAnotherKeysValue()
    {
        using BpfMap map = Hash(max: 8);                     // one group: a freed slot is the next insert's choice
        Assert.Equal(MapStatus.Ok, map.Update(Key(1), Value(1, 1)));
        using (ReadSection.Enter())
        {
            Span<byte> held = map.LookupInPlace(Key(1));
            Assert.Equal(Value(1, 1), held.ToArray());

            // An update lands in place: the holder sees it (the kernel's copy-on-update would keep the old element).
            Assert.Equal(MapStatus.Ok, map.Update(Key(1), Value(1, 2), ElemFlags.Exist));
            Assert.Equal(Value(1, 2), held.ToArray());

            // A delete, then inserts that would take the freed slot: the section holds it in limbo, so the holder
            // still reads its key's last value, never the newcomers'.
            Assert.Equal(MapStatus.Ok, map.Delete(Key(1)));
            for (int k = 10; k < 18; k++)
                Assert.Equal(MapStatus.Ok, map.Update(Key(k), Value(k, 9), ElemFlags.NoExist));
            Assert.Equal(Value(1, 2), held.ToArray());
        }
    }

    [Theory]
    [InlineData(0u, 1)]          // the real hash: spills into the next groups at 100% fill
    [InlineData(7u, 2)]          // seven hash values: every tag collides, windows fill, keys go to overflow records
    [InlineData(64u, 3)]
    public void ChurnOnAMapThatNeverRebuildsLeavesNoOutboundCountOrRecordBehind(uint modulo, int seed)
    {
        const int max = 4096;
        using BpfMap map = Hash(max: max);
        map.HashStore!.HashModuloForTests = modulo;
        var rng = new Random(seed);
        var present = new List<int>(max);
        int next = 0;
        for (; next < max; next++)
        {
            Assert.Equal(MapStatus.Ok, map.Update(Key(next), Value(next, 1), ElemFlags.NoExist));
            present.Add(next);
        }
        long peakOutbound = 0;
        for (int round = 0; round < 40; round++)
        {
            // A GC pass: delete a random third, then the datapath inserts as many fresh keys.
            for (int i = 0; i < max / 3; i++)
            {
                int at = rng.Next(present.Count);
                Assert.Equal(MapStatus.Ok, map.Delete(Key(present[at])));
                present[at] = present[^1];
                present.RemoveAt(present.Count - 1);
            }
            for (int i = present.Count; i < max; i++, next++)
            {
                Assert.Equal(MapStatus.Ok, map.Update(Key(next), Value(next, 1), ElemFlags.NoExist));
                present.Add(next);
            }
            Assert.Equal(MapStatus.E2BIG, map.Update(Key(next), Value(next, 1), ElemFlags.NoExist));
            (long outbound, long live) = map.HashStore.GroupTotalsForTests;
            peakOutbound = Math.Max(peakOutbound, outbound);
            Assert.True(live <= max, $"round {round}: {live} live tags for {max} keys");
        }
        foreach (int k in present)
            Assert.Equal(MapStatus.Ok, map.Lookup(Key(k), new byte[32]));
        Assert.True(peakOutbound > 0, "the test never made a key live away from its home group");

        foreach (int k in present)
            Assert.Equal(MapStatus.Ok, map.Delete(Key(k)));
        (long outboundEnd, long liveEnd) = map.HashStore.GroupTotalsForTests;
        Assert.Equal(0, liveEnd);
        Assert.Equal(0, outboundEnd);
        (long linked, long unlinked) = map.HashStore.RecordTrafficForTests;
        Assert.Equal(linked, unlinked);
        if (modulo != 0)
            Assert.True(linked > 0, "a degenerate hash must have used overflow records");
        Assert.Equal(0, map.Count);
    }
}
