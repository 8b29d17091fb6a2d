using FastMap;
using static FastMap.Tests.Engine.TestMaps;

namespace FastMap.Tests.Engine;

/// <summary>Bad input everywhere gives an errno, never an exception or a crash, and leaves the map as it was.</summary>
public class BadInputTests
{
    private static void AssertUnchanged(BpfMap m, int expectedKey)
    {
        Assert.Equal(1, m.Count);
        var v = new byte[32];
        Assert.Equal(MapStatus.Ok, m.Lookup(Key(expectedKey), v));
        Assert.Equal(Value(expectedKey, 1), v);
    }

    [Fact]
    public void EmptySpansAreEFAULTAndWrongLengthsAreEINVAL()
    {
        using var m = Hash();
        m.Update(Key(1), Value(1, 1));
        Assert.Equal(MapStatus.EFAULT, m.Lookup(default, new byte[32]));
        Assert.Equal(MapStatus.EFAULT, m.Lookup(Key(1), default));
        Assert.Equal(MapStatus.EINVAL, m.Lookup(new byte[15], new byte[32]));
        Assert.Equal(MapStatus.EINVAL, m.Lookup(new byte[17], new byte[32]));
        Assert.Equal(MapStatus.EINVAL, m.Lookup(Key(1), new byte[31]));
        Assert.Equal(MapStatus.EFAULT, m.Update(default, Value(2, 1)));
        Assert.Equal(MapStatus.EFAULT, m.Update(Key(2), default));
        Assert.Equal(MapStatus.EINVAL, m.Update(Key(2), new byte[31]));
        Assert.Equal(MapStatus.EINVAL, m.Update(Key(2), new byte[33]));
        Assert.Equal(MapStatus.EFAULT, m.Delete(default));
        Assert.Equal(MapStatus.EINVAL, m.Delete(new byte[3]));
        Assert.Equal(MapStatus.EINVAL, m.CompareAndDelete(Key(1), default, 0));
        Assert.Equal(MapStatus.EFAULT, m.LookupAndDelete(Key(1), default));
        Assert.Equal(MapStatus.EINVAL, m.LookupAndDelete(Key(1), new byte[8]));
        Assert.Equal(MapStatus.EINVAL, m.GetNextKey(Key(1), new byte[8]));
        Assert.Equal(MapStatus.EINVAL, m.GetNextKey(new byte[5], new byte[16]));
        AssertUnchanged(m, 1);
    }

    // The documented order (BpfMap.Api.cs, README): a .NET method checks its spans before any check of the command,
    // the handle's included; with right spans it answers what C and bpf() answer, in the kernel's order.
    [Fact]
    public void SpanChecksComeBeforeTheHandleCheck()
    {
        var m = Hash();
        m.Dispose();
        Assert.Equal(MapStatus.EINVAL, m.Lookup(new byte[15], new byte[32]));
        Assert.Equal(MapStatus.EFAULT, m.Lookup(default, new byte[32]));
        Assert.Equal(MapStatus.EINVAL, m.Update(Key(1), new byte[31]));
        Assert.Equal(MapStatus.EFAULT, m.Delete(default));
        Assert.Equal(MapStatus.EINVAL, m.CompareAndDelete(Key(1), default, 0));
        Assert.Equal(MapStatus.EINVAL, m.Lookup(1L, out long _));
        Assert.Equal(MapStatus.EINVAL, m.DeleteBatch(new byte[17], out _));
        // Unknown flags are refused before the handle (the kernel's order), but after the spans.
        Assert.Equal(MapStatus.EFAULT, m.Lookup(default, new byte[32], (ElemFlags)0x100));
        Assert.Equal(MapStatus.EINVAL, m.Lookup(Key(1), new byte[32], (ElemFlags)0x100));
        // Right spans: the command's answer, as C gets it.
        Assert.Equal(MapStatus.EBADF, m.Lookup(Key(1), new byte[32]));
        Assert.Equal(MapStatus.EBADF, m.Update(Key(1), Value(1, 1)));
        Assert.Equal(MapStatus.EBADF, m.Delete(Key(1)));
        Assert.Equal(MapStatus.EBADF, m.DeleteBatch(Key(1), out _));
    }

    [Fact]
    public void TypedOverloadsWithTheWrongSizeAreEINVAL()
    {
        using var m = Hash();
        m.Update(Key(1), Value(1, 1));
        Assert.Equal(MapStatus.EINVAL, m.Update(1L, 2L));
        Assert.Equal(MapStatus.EINVAL, m.Lookup(1L, out long _));
        Assert.Equal(MapStatus.EINVAL, m.Delete(1));
        Assert.Equal(MapStatus.EINVAL, m.CompareAndDelete(1, 1L, 0));
        Assert.Equal(MapStatus.EINVAL, m.LookupAndDelete(1L, out long _));
        AssertUnchanged(m, 1);
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(0)]
    [InlineData(99999)]
    [InlineData(int.MaxValue)]
    [InlineData(int.MinValue)]
    public void BadHandlesAreEBADFThroughTheAttr(int fd)
    {
        using var key = new CompareAndDeleteTests.Pinned(new byte[16]);
        using var val = new CompareAndDeleteTests.Pinned(new byte[32]);
        Assert.Equal(-9, Elem(BpfCommand.MapLookupElem, fd, key, val, 0));
        Assert.Equal(-9, Elem(BpfCommand.MapUpdateElem, fd, key, val, 0));
        Assert.Equal(-9, Elem(BpfCommand.MapDeleteElem, fd, key, 0, 0));
        Assert.Equal(-9, Elem(BpfCommand.MapGetNextKey, fd, key, val, 0));
        Assert.Equal(-9, Elem(BpfCommand.MapLookupAndDeleteElem, fd, key, val, 0));
    }

    [Fact]
    public void NullPointersAreEFAULTThroughTheAttrAndChangeNothing()
    {
        using var m = Hash();
        m.Update(Key(1), Value(1, 1));
        using var key = new CompareAndDeleteTests.Pinned(Key(1));
        using var val = new CompareAndDeleteTests.Pinned(new byte[32]);
        Assert.Equal(-14, Elem(BpfCommand.MapLookupElem, m.Handle, 0, val, 0));
        Assert.Equal(-14, Elem(BpfCommand.MapLookupElem, m.Handle, key, 0, 0));
        Assert.Equal(-14, Elem(BpfCommand.MapUpdateElem, m.Handle, 0, val, 0));
        Assert.Equal(-14, Elem(BpfCommand.MapUpdateElem, m.Handle, key, 0, 0));
        Assert.Equal(-14, Elem(BpfCommand.MapDeleteElem, m.Handle, 0, 0, 0));
        Assert.Equal(-14, Elem(BpfCommand.MapLookupAndDeleteElem, m.Handle, key, 0, 0));
        Assert.Equal(-14, Elem(BpfCommand.MapGetNextKey, m.Handle, 0, 0, 0));   // a first key exists
        Assert.Equal(-2, Elem(BpfCommand.MapGetNextKey, m.Handle, key, 0, 0));   // the end comes before the copy-out
        AssertUnchanged(m, 1);
    }

    [Theory]
    [InlineData(1ul << 1)]
    [InlineData(1ul << 3)]
    [InlineData(1ul << 4)]
    [InlineData(1ul << 6)]
    [InlineData(1ul << 63)]
    public void UnknownDeleteFlagsAreEINVALAndDeleteNothing(ulong flags)
    {
        using var m = Hash();
        m.Update(Key(1), Value(1, 1));
        using var key = new CompareAndDeleteTests.Pinned(Key(1));
        Assert.Equal(-22, Elem(BpfCommand.MapDeleteElem, m.Handle, key, 0, flags));
        AssertUnchanged(m, 1);
    }

    private static int Elem(BpfCommand cmd, int fd, ulong key, ulong value, ulong flags)
    {
        var attr = new byte[BpfAttr.Size];
        BitConverter.TryWriteBytes(attr.AsSpan(0), fd);
        BitConverter.TryWriteBytes(attr.AsSpan(8), key);
        BitConverter.TryWriteBytes(attr.AsSpan(16), value);
        BitConverter.TryWriteBytes(attr.AsSpan(24), flags);
        return BpfAttr.ExecuteUnsafe((int)cmd, attr);
    }

    [Fact]
    public void AttrTailBeyondWhatFastMapKnowsMustBeZero()
    {
        var attr = new byte[200];
        attr[190] = 1;
        Assert.Equal(-7, BpfAttr.ExecuteUnsafe(1, attr));
        Assert.Equal(-7, BpfAttr.ExecuteUnsafe(1, new byte[4097]));
        attr[190] = 0;
        attr[40] = 1; // past LOOKUP's last field
        Assert.Equal(-22, BpfAttr.ExecuteUnsafe(1, attr));
        Assert.Equal(-22, BpfAttr.ExecuteUnsafe(77, new byte[168]));
    }

    [Fact]
    public void CreateThroughTheAttrRejectsWhatFastMapHasNot()
    {
        var attr = new byte[168];
        BitConverter.TryWriteBytes(attr.AsSpan(0), 1u);
        BitConverter.TryWriteBytes(attr.AsSpan(4), 4u);
        BitConverter.TryWriteBytes(attr.AsSpan(8), 4u);
        BitConverter.TryWriteBytes(attr.AsSpan(12), 4u);
        int fd = BpfAttr.ExecuteUnsafe(0, attr);
        Assert.True(fd > 0);
        BpfMap.FromHandle(fd)!.Dispose();
        BitConverter.TryWriteBytes(attr.AsSpan(48), 3u);          // btf_fd
        Assert.Equal(-22, BpfAttr.ExecuteUnsafe(0, attr));
        BitConverter.TryWriteBytes(attr.AsSpan(48), 0u);
        attr.AsSpan(28, 16).Fill((byte)'a');                      // name without a terminator
        Assert.Equal(-22, BpfAttr.ExecuteUnsafe(0, attr));
    }

    [Fact]
    public void HugeSizesAreRefusedBeforeAnyAllocation()
    {
        Assert.Equal(MapStatus.E2BIG, BpfMap.Create(new MapDefinition(MapType.Hash, uint.MaxValue, uint.MaxValue, 1), out _));
        Assert.Equal(MapStatus.E2BIG, BpfMap.Create(new MapDefinition(MapType.Hash, 16, 32, uint.MaxValue), out _));
        Assert.Equal(MapStatus.E2BIG, BpfMap.Create(new MapDefinition(MapType.Array, 4, uint.MaxValue, 1), out _));
    }
}
