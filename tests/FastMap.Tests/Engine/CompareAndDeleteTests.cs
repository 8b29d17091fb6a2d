using FastMap;
using static FastMap.Tests.Engine.TestMaps;

namespace FastMap.Tests.Engine;

/// <summary>The RFC selftest's scenarios (patch 3/3) and every rule of patch 2/3, in its order.</summary>
public class CompareAndDeleteTests
{
    [Fact]
    public void MatchingRevisionDeletes()
    {
        using var m = Hash();
        m.Update(Key(1), Value(1, 7));
        Assert.Equal(MapStatus.Ok, m.CompareAndDelete(Key(1), Rev(7), 0));
        Assert.Equal(MapStatus.ENOENT, m.Lookup(Key(1), new byte[32]));
    }

    [Fact]
    public void StaleRevisionIsEBUSYAndTheEntryStays()
    {
        using var m = Hash();
        m.Update(Key(1), Value(1, 8));
        Assert.Equal(MapStatus.EBUSY, m.CompareAndDelete(Key(1), Rev(7), 0));
        var v = new byte[32];
        Assert.Equal(MapStatus.Ok, m.Lookup(Key(1), v));
        Assert.Equal(Value(1, 8), v);
    }

    [Fact]
    public void DeletedKeyIsENOENT()
    {
        using var m = Hash();
        m.Update(Key(1), Value(1, 7));
        Assert.Equal(MapStatus.Ok, m.Delete(Key(1)));
        Assert.Equal(MapStatus.ENOENT, m.CompareAndDelete(Key(1), Rev(7), 0));
    }

    [Theory]
    [InlineData(25u, 8)]   // 25 + 8 > 32
    [InlineData(32u, 1)]
    [InlineData(uint.MaxValue, 1)] // overflow-safe: off > value_size - size
    [InlineData(0u, 33)]
    public void WindowPastTheValueIsEINVAL(uint offset, int size)
    {
        using var m = Hash();
        m.Update(Key(1), Value(1, 7));
        Assert.Equal(MapStatus.EINVAL, m.CompareAndDelete(Key(1), new byte[size], offset));
        Assert.Equal(MapStatus.Ok, m.Lookup(Key(1), new byte[32]));
    }

    [Fact]
    public void WindowAtTheEndOfTheValueIsAccepted()
    {
        using var m = Hash();
        byte[] v = Value(1, 7);
        m.Update(Key(1), v);
        Assert.Equal(MapStatus.Ok, m.CompareAndDelete(Key(1), v.AsSpan(31, 1), 31));
    }

    [Fact]
    public void CompareFieldsWithoutTheFlagAreEINVALThroughTheAttr()
    {
        using var m = Hash(4, 8, 4);
        using var key = new Pinned(BitConverter.GetBytes(1));
        using var value = new Pinned(BitConverter.GetBytes(5L));
        using var cmp = new Pinned(BitConverter.GetBytes(5L));
        Assert.Equal(0, Run(BpfCommand.MapUpdateElem, m.Handle, key, value, 0, 0, 0, 0));
        Assert.Equal(-22, Run(BpfCommand.MapDeleteElem, m.Handle, key, 0, 0, cmp, 0, 0));
        Assert.Equal(-22, Run(BpfCommand.MapDeleteElem, m.Handle, key, 0, 0, 0, 4, 0));
        Assert.Equal(-22, Run(BpfCommand.MapDeleteElem, m.Handle, key, 0, 0, 0, 0, 8));
        // before the handle: a bad fd still gives EINVAL
        Assert.Equal(-22, Run(BpfCommand.MapDeleteElem, 12345, key, 0, 0, 0, 0, 8));
        // flags other than BPF_F_COMPARE, also before the handle
        Assert.Equal(-22, Run(BpfCommand.MapDeleteElem, 12345, key, 0, (ulong)ElemFlags.Lock, 0, 0, 0));
        Assert.Equal(1, m.Count);
        // size 0 means the whole value
        Assert.Equal(0, Run(BpfCommand.MapDeleteElem, m.Handle, key, 0, (ulong)ElemFlags.Compare, cmp, 0, 0));
        Assert.Equal(0, m.Count);
    }

    [Fact]
    public void NullComparePointerIsEFAULTAfterTheWindowAndTypeChecks()
    {
        using var m = Hash(4, 8, 4);
        using var key = new Pinned(BitConverter.GetBytes(1));
        using var value = new Pinned(BitConverter.GetBytes(5L));
        Assert.Equal(0, Run(BpfCommand.MapUpdateElem, m.Handle, key, value, 0, 0, 0, 0));
        Assert.Equal(-14, Run(BpfCommand.MapDeleteElem, m.Handle, key, 0, (ulong)ElemFlags.Compare, 0, 0, 8));
        Assert.Equal(-22, Run(BpfCommand.MapDeleteElem, m.Handle, key, 0, (ulong)ElemFlags.Compare, 0, 4, 8));
        Assert.Equal(1, m.Count);
    }

    [Theory]
    [InlineData(MapType.Array)]
    [InlineData(MapType.PercpuHash)]
    [InlineData(MapType.LruHash)]
    public void OtherMapTypesAreEOPNOTSUPPAfterTheWindowCheck(MapType type)
    {
        using var m = Hash(4, 8, 4, type: type);
        Assert.Equal(MapStatus.EOPNOTSUPP, m.CompareAndDelete(BitConverter.GetBytes(1), Rev(0), 0));
        Assert.Equal(MapStatus.EINVAL, m.CompareAndDelete(BitConverter.GetBytes(1), Rev(0), 4));
    }

    [Fact]
    public void SpinLockValueIsEOPNOTSUPP()
    {
        using var m = Hash(4, 16, 4, spinLock: 8);
        Assert.Equal(MapStatus.Ok, m.Update(BitConverter.GetBytes(1), new byte[16]));
        Assert.Equal(MapStatus.EOPNOTSUPP, m.CompareAndDelete(BitConverter.GetBytes(1), Rev(0), 0));
    }

    [Fact]
    public void ReadOnlyHandleWithBadWindowIsEPERM()
    {
        using var m = Hash(flags: MapFlags.ReadOnly);
        Assert.Equal(MapStatus.EPERM, m.CompareAndDelete(Key(1), new byte[8], 30));
    }

    [Fact]
    public void MismatchAtAnyByteOfTheWindowIsEBUSY()
    {
        using var m = Hash();
        byte[] v = Value(3, 0x0102030405060708);
        m.Update(Key(3), v);
        for (int off = 0; off < 32; off += 5)
        {
            for (int len = 1; off + len <= 32; len += 3)
            {
                for (int bad = 0; bad < len; bad++)
                {
                    byte[] cmp = v.AsSpan(off, len).ToArray();
                    cmp[bad] ^= 0x40;
                    Assert.Equal(MapStatus.EBUSY, m.CompareAndDelete(Key(3), cmp, (uint)off));
                }
            }
        }
        Assert.Equal(MapStatus.Ok, m.CompareAndDelete(Key(3), v.AsSpan(5, 20), 5));
    }

    [Fact]
    public void TypedOverloadComparesARevision()
    {
        using var m = Hash();
        m.Update(Key(4), Value(4, 41));
        Assert.Equal(MapStatus.EBUSY, m.CompareAndDelete(Key(4).AsSpan().ToArray().AsSpan(), Rev(40), 0));
        var key = new Key16(Key(4));
        Assert.Equal(MapStatus.EBUSY, m.CompareAndDelete(key, 40ul, 0));
        Assert.Equal(MapStatus.Ok, m.CompareAndDelete(key, 41ul, 0));
    }

    internal readonly struct Key16
    {
        public readonly ulong A, B;
        public Key16(byte[] k)
        {
            A = BitConverter.ToUInt64(k, 0);
            B = BitConverter.ToUInt64(k, 8);
        }
    }

    /// <summary>A pinned byte array whose address goes into an attr (tests hold no raw pointers).</summary>
    internal sealed class Pinned(byte[] bytes) : IDisposable
    {
        private System.Runtime.InteropServices.GCHandle _h = System.Runtime.InteropServices.GCHandle.Alloc(bytes, System.Runtime.InteropServices.GCHandleType.Pinned);

        public static implicit operator ulong(Pinned p) => (ulong)p._h.AddrOfPinnedObject();

        public void Dispose() => _h.Free();
    }

    private static int Run(BpfCommand cmd, int fd, ulong key, ulong value, ulong flags, ulong compare, uint off, uint size)
    {
        var attr = new byte[BpfAttr.Size];
        BitConverter.TryWriteBytes(attr.AsSpan(0), fd);
        BitConverter.TryWriteBytes(attr.AsSpan(8), key);
        BitConverter.TryWriteBytes(attr.AsSpan(16), value);
        BitConverter.TryWriteBytes(attr.AsSpan(24), flags);
        BitConverter.TryWriteBytes(attr.AsSpan(32), compare);
        BitConverter.TryWriteBytes(attr.AsSpan(40), off);
        BitConverter.TryWriteBytes(attr.AsSpan(44), size);
        return BpfAttr.ExecuteUnsafe((int)cmd, attr);
    }
}
