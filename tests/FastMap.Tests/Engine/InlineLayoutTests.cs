using System.Runtime.InteropServices;
using FastMap.Internal;

namespace FastMap.Tests.Engine;

/// <summary>
/// The descriptors fastmap.h's inline reads use (<see cref="InlineLayout"/>): the C layout, what create publishes for
/// each kind of map, and that close and handle reuse retire a descriptor. The C side of the same contract is
/// tests/c/inline_reads.c (static asserts on <c>struct fm__layout</c>, and its answers against the library's).
/// </summary>
public sealed class InlineLayoutTests
{
    [Fact]
    public void DescriptorHasTheHeadersLayout()
    {
        Assert.Equal(128, Marshal.SizeOf<InlineLayout.Descriptor>());
        (string Field, int Offset)[] expected =
        [
            ("Gen", 0), ("State", 4), ("Version", 8), ("KeySize", 12), ("ValueSize", 16), ("ValueOffset", 20),
            ("Stride", 24), ("GroupBytes", 28), ("GroupBits", 32), ("Flags", 36), ("Seed", 40), ("Ctrl", 48),
            ("Entries", 56), ("Pinned", 64),
        ];
        foreach (var (field, offset) in expected)
            Assert.Equal(offset, (int)Marshal.OffsetOf<InlineLayout.Descriptor>(field));
    }

    [Fact]
    public void AnOpenHashMapIsDescribedAndCloseRetiresIt()
    {
        var m = TestMaps.Hash(16, 32, 1000);
        InlineLayout.Descriptor d = InlineLayout.DescriptorForTests(m.Handle);
        uint gen = d.Gen;
        Assert.Equal(0u, gen & 1);
        Assert.Equal(InlineLayout.Inline, d.State);
        Assert.Equal(InlineLayout.Version, d.Version);
        Assert.Equal(16u, d.KeySize);
        Assert.Equal(32u, d.ValueSize);
        Assert.Equal(InlineLayout.CanWrite | InlineLayout.Compares, d.Flags);
        Assert.NotEqual(0, d.Ctrl);
        Assert.NotEqual(0, d.Entries);
        Assert.True(d.Stride >= 16 + 32 && d.GroupBytes >= d.Stride && d.GroupBytes % d.Stride == 0);
        int handle = m.Handle;
        m.Dispose();
        Assert.Equal(0u, InlineLayout.DescriptorForTests(handle).State); // inline readers now ask the library: EBADF
        // The number comes back (lowest first; tests running alongside take handles too, so keep creating until it
        // does), with a newer even generation: a snapshot taken before the close is refused.
        var made = new List<BpfMap>();
        try
        {
            BpfMap again;
            do made.Add(again = TestMaps.Hash(4, 8, 10));
            while (again.Handle != handle && made.Count < 10_000);
            Assert.Equal(handle, again.Handle);
            d = InlineLayout.DescriptorForTests(handle);
            Assert.True(d.Gen > gen && (d.Gen & 1) == 0, $"generation {d.Gen} after {gen}");
            Assert.Equal(4u, d.KeySize);
        }
        finally
        {
            foreach (BpfMap m2 in made)
                m2.Dispose();
        }
    }

    [Theory]
    [InlineData(MapType.Hash, MapFlags.ReadOnly, InlineLayout.Inline, InlineLayout.Compares)]
    [InlineData(MapType.Hash, MapFlags.WriteOnly, 0u, 0u)]           // cannot read: the library answers EPERM
    [InlineData(MapType.LruHash, MapFlags.None, InlineLayout.Inline, InlineLayout.CanWrite)] // no compare-and-delete
    [InlineData(MapType.Array, MapFlags.None, 0u, 0u)]
    public void EachKindOfMapGetsWhatItsReadsMayDoInline(MapType type, MapFlags flags, uint state, uint expectFlags)
    {
        Assert.Equal(MapStatus.Ok, BpfMap.Create(new MapDefinition(type, 4, 8, 16) { Flags = flags }, out BpfMap? m));
        using (m)
        {
            InlineLayout.Descriptor d = InlineLayout.DescriptorForTests(m!.Handle);
            Assert.Equal(state, d.State);
            if (state != 0)
                Assert.Equal(expectFlags, d.Flags);
        }
    }

    [Fact]
    public void SpinLockValuesAreNotReadInline()
    {
        Assert.Equal(MapStatus.Ok, BpfMap.Create(new MapDefinition(MapType.Hash, 4, 16, 16) { SpinLockOffset = 8 }, out BpfMap? m));
        using (m)
            Assert.Equal(0u, InlineLayout.DescriptorForTests(m!.Handle).State); // a copy must take the lock: the library's
    }
}
