using FastMap;
using static FastMap.Tests.Engine.TestMaps;

namespace FastMap.Tests.Engine;

/// <summary>
/// One case per errno rule of the command layer (README's errno table), through the .NET API.
/// The kernel itself is compared in Differential/; these pin the rules that matter by name.
/// </summary>
public class ErrnoTableTests
{
    [Fact]
    public void UpdateNoExistOnPresentKeyIsEEXIST()
    {
        using var m = Hash();
        Assert.Equal(MapStatus.Ok, m.Update(Key(1), Value(1, 1), ElemFlags.NoExist));
        Assert.Equal(MapStatus.EEXIST, m.Update(Key(1), Value(1, 2), ElemFlags.NoExist));
    }

    [Fact]
    public void UpdateExistOnAbsentKeyIsENOENT()
    {
        using var m = Hash();
        Assert.Equal(MapStatus.ENOENT, m.Update(Key(1), Value(1, 1), ElemFlags.Exist));
    }

    [Fact]
    public void UpdateExistOnAbsentKeyInFullMapIsENOENTNotE2BIG()
    {
        using var m = Hash(max: 2);
        Assert.Equal(MapStatus.Ok, m.Update(Key(1), Value(1, 1)));
        Assert.Equal(MapStatus.Ok, m.Update(Key(2), Value(2, 1)));
        Assert.Equal(MapStatus.ENOENT, m.Update(Key(3), Value(3, 1), ElemFlags.Exist));
        Assert.Equal(MapStatus.E2BIG, m.Update(Key(3), Value(3, 1)));
    }

    [Theory]
    [InlineData(3ul)]
    [InlineData(8ul)]
    [InlineData(32ul)]
    [InlineData(1ul << 32)]
    public void UpdateWithUnknownFlagsIsEINVAL(ulong flags)
    {
        using var m = Hash();
        Assert.Equal(MapStatus.EINVAL, m.Update(Key(1), Value(1, 1), (ElemFlags)flags));
        Assert.Equal(0, m.Count);
    }

    [Fact]
    public void UpdateWithLockOnMapWithoutSpinLockIsEINVAL()
    {
        using var m = Hash();
        Assert.Equal(MapStatus.EINVAL, m.Update(Key(1), Value(1, 1), ElemFlags.Lock));
    }

    [Theory]
    [InlineData(1ul)]
    [InlineData(2ul)]
    [InlineData(8ul)]
    public void LookupWithFlagsOtherThanLockIsEINVAL(ulong flags)
    {
        using var m = Hash();
        m.Update(Key(1), Value(1, 1));
        Assert.Equal(MapStatus.EINVAL, m.Lookup(Key(1), new byte[32], (ElemFlags)flags));
    }

    [Fact]
    public void LookupOfAbsentKeyIsENOENT()
    {
        using var m = Hash();
        Assert.Equal(MapStatus.ENOENT, m.Lookup(Key(9), new byte[32]));
    }

    [Fact]
    public void DeleteOfAbsentKeyIsENOENT()
    {
        using var m = Hash();
        Assert.Equal(MapStatus.ENOENT, m.Delete(Key(9)));
    }

    [Fact]
    public void ReadOnlyHandleRefusesWritesWithEPERM()
    {
        using var m = Hash(flags: MapFlags.ReadOnly);
        Assert.Equal(MapStatus.EPERM, m.Update(Key(1), Value(1, 1)));
        Assert.Equal(MapStatus.EPERM, m.Delete(Key(1)));
        Assert.Equal(MapStatus.EPERM, m.CompareAndDelete(Key(1), Rev(1), 0));
        Assert.Equal(MapStatus.EPERM, m.LookupAndDelete(Key(1), new byte[32]));
        Assert.Equal(MapStatus.ENOENT, m.Lookup(Key(1), new byte[32]));
    }

    [Fact]
    public void WriteOnlyHandleRefusesReadsWithEPERM()
    {
        using var m = Hash(flags: MapFlags.WriteOnly);
        Assert.Equal(MapStatus.Ok, m.Update(Key(1), Value(1, 1)));
        Assert.Equal(MapStatus.EPERM, m.Lookup(Key(1), new byte[32]));
        Assert.Equal(MapStatus.EPERM, m.GetNextKey(default, new byte[16]));
        Assert.Equal(MapStatus.EPERM, m.LookupAndDelete(Key(1), new byte[32]));
        Assert.Equal(MapStatus.Ok, m.Delete(Key(1)));
    }

    [Fact]
    public void RdonlyWithWronlyAtCreateIsEINVAL()
    {
        Assert.Equal(MapStatus.EINVAL, BpfMap.Create(new MapDefinition(MapType.Hash, 4, 4, 4) { Flags = MapFlags.ReadOnly | MapFlags.WriteOnly }, out _));
    }

    [Theory]
    [InlineData(0u, 4u, 4u, 4u, MapStatus.EINVAL)]       // unknown type
    [InlineData(99u, 4u, 4u, 4u, MapStatus.EINVAL)]
    [InlineData(1u, 0u, 4u, 4u, MapStatus.EINVAL)]       // zero key
    [InlineData(1u, 4u, 0u, 4u, MapStatus.EINVAL)]       // zero value
    [InlineData(1u, 4u, 4u, 0u, MapStatus.EINVAL)]       // zero max_entries
    [InlineData(1u, 4u, 4194252u, 1u, MapStatus.E2BIG)]  // key + value >= KMALLOC_MAX_SIZE - 48
    [InlineData(1u, 4u, 4u, 134217729u, MapStatus.E2BIG)] // max_entries > 2^27
    [InlineData(5u, 4u, 32769u, 1u, MapStatus.E2BIG)]    // percpu value above PCPU_MIN_UNIT_SIZE
    [InlineData(2u, 8u, 4u, 4u, MapStatus.EINVAL)]       // array key must be 4 bytes
    public void CreateChecksGiveTheKernelsErrno(uint type, uint key, uint value, uint max, MapStatus expected)
    {
        Assert.Equal(expected, BpfMap.Create(new MapDefinition((MapType)type, key, value, max), out BpfMap? m));
        Assert.Null(m);
    }

    [Fact]
    public void LruWithNoPreallocIsTheKernelsInternalENOTSUPP()
    {
        Assert.Equal(MapStatus.ENOTSUPP, BpfMap.Create(new MapDefinition(MapType.LruHash, 4, 4, 4) { Flags = MapFlags.NoPrealloc }, out _));
        Assert.Equal(-524, (int)MapStatus.ENOTSUPP);
    }

    [Theory]
    [InlineData(MapType.LruHash)]
    [InlineData(MapType.PercpuHash)]
    public void SpinLockOnLruOrPercpuIsEOPNOTSUPP(MapType type)
    {
        Assert.Equal(MapStatus.EOPNOTSUPP, BpfMap.Create(new MapDefinition(type, 4, 8, 4) { SpinLockOffset = 0 }, out _));
    }

    [Fact]
    public void BadMapNameIsEINVAL()
    {
        Assert.Equal(MapStatus.EINVAL, BpfMap.Create(new MapDefinition(MapType.Hash, 4, 4, 4) { Name = "no spaces" }, out _));
        Assert.Equal(MapStatus.EINVAL, BpfMap.Create(new MapDefinition(MapType.Hash, 4, 4, 4) { Name = "sixteen_chars_xx" }, out _));
        Assert.Equal(MapStatus.Ok, BpfMap.Create(new MapDefinition(MapType.Hash, 4, 4, 4) { Name = "ct_map.v4" }, out BpfMap? ok));
        ok!.Dispose();
    }

    [Fact]
    public void ArrayDeleteIsEINVALAndLookupAndDeleteIsENOTSUPP()
    {
        using var m = Hash(4, 8, 4, type: MapType.Array);
        Assert.Equal(MapStatus.EINVAL, m.Delete(BitConverter.GetBytes(1)));
        Assert.Equal(MapStatus.ENOTSUPP, m.LookupAndDelete(BitConverter.GetBytes(1), new byte[8]));
    }

    [Fact]
    public void ArrayUpdatesFollowTheKernel()
    {
        using var m = Hash(4, 8, 4, type: MapType.Array);
        Assert.Equal(MapStatus.E2BIG, m.Update(BitConverter.GetBytes(4), new byte[8]));
        Assert.Equal(MapStatus.EEXIST, m.Update(BitConverter.GetBytes(1), new byte[8], ElemFlags.NoExist));
        Assert.Equal(MapStatus.Ok, m.Update(BitConverter.GetBytes(1), BitConverter.GetBytes(77L), ElemFlags.Exist));
        var v = new byte[8];
        Assert.Equal(MapStatus.Ok, m.Lookup(BitConverter.GetBytes(1), v));
        Assert.Equal(77L, BitConverter.ToInt64(v));
        Assert.Equal(MapStatus.Ok, m.Lookup(BitConverter.GetBytes(3), v));
        Assert.Equal(0L, BitConverter.ToInt64(v));
        Assert.Equal(MapStatus.ENOENT, m.Lookup(BitConverter.GetBytes(4), v));
    }

    [Fact]
    public void ArrayGetNextKeyWalksIndicesAndEndsWithENOENT()
    {
        using var m = Hash(4, 8, 3, type: MapType.Array);
        var next = new byte[4];
        Assert.Equal(MapStatus.Ok, m.GetNextKey(default, next));
        Assert.Equal(0, BitConverter.ToInt32(next));
        Assert.Equal(MapStatus.Ok, m.GetNextKey(BitConverter.GetBytes(1), next));
        Assert.Equal(2, BitConverter.ToInt32(next));
        Assert.Equal(MapStatus.ENOENT, m.GetNextKey(BitConverter.GetBytes(2), next));
        Assert.Equal(MapStatus.Ok, m.GetNextKey(BitConverter.GetBytes(77), next));
        Assert.Equal(0, BitConverter.ToInt32(next));
    }

    [Fact]
    public void ClosedMapGivesEBADFEverywhere()
    {
        var m = Hash();
        m.Update(Key(1), Value(1, 1));
        m.Dispose();
        Assert.Equal(MapStatus.EBADF, m.Lookup(Key(1), new byte[32]));
        Assert.Equal(MapStatus.EBADF, m.Update(Key(1), Value(1, 1)));
        Assert.Equal(MapStatus.EBADF, m.Delete(Key(1)));
        Assert.Equal(MapStatus.EBADF, m.CompareAndDelete(Key(1), Rev(1), 0));
        Assert.Equal(MapStatus.EBADF, m.LookupAndDelete(Key(1), new byte[32]));
        Assert.Equal(MapStatus.EBADF, m.GetNextKey(default, new byte[16]));
        // The handle no longer names this map (a parallel test may already hold the same number, as a
        // closed fd's number is reused).
        Assert.NotSame(m, BpfMap.FromHandle(m.Handle));
        m.Dispose(); // twice is fine
    }
}
