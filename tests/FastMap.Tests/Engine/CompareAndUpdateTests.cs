using FastMap;
using static FastMap.Tests.Engine.CompareAndDeleteTests;
using static FastMap.Tests.Engine.TestMaps;

namespace FastMap.Tests.Engine;

/// <summary>
/// FastMap's compare-and-swap update (<c>BPF_MAP_UPDATE_ELEM</c> with <c>BPF_F_COMPARE</c>), every rule in its order,
/// through the .NET API and through the attr (<c>fm_bpf</c>'s path); the C functions are tested in tests/c.
/// </summary>
public class CompareAndUpdateTests
{
    private const int V = 40;                              // a 40-byte value: windows of every length and place

    /// <summary>Runs one compare-and-swap through the attr, as <c>fm_bpf</c> does.</summary>
    private static int ViaAttr(BpfMap m, byte[] key, byte[] value, byte[]? compare, uint off, uint size, ulong flags)
    {
        using var k = new Pinned(key);
        using var v = new Pinned(value);
        using var c = compare is null ? null : new Pinned(compare);
        var attr = new byte[BpfAttr.Size];
        BitConverter.TryWriteBytes(attr.AsSpan(0), m.Handle);
        BitConverter.TryWriteBytes(attr.AsSpan(8), (ulong)k);
        BitConverter.TryWriteBytes(attr.AsSpan(16), (ulong)v);
        BitConverter.TryWriteBytes(attr.AsSpan(24), flags | (ulong)ElemFlags.Compare);
        BitConverter.TryWriteBytes(attr.AsSpan(32), c is null ? 0ul : (ulong)c);
        BitConverter.TryWriteBytes(attr.AsSpan(40), off);
        BitConverter.TryWriteBytes(attr.AsSpan(44), size);
        return BpfAttr.ExecuteUnsafe((int)BpfCommand.MapUpdateElem, attr);
    }

    private static byte[] Read(BpfMap m, byte[] key)
    {
        var v = new byte[m.ValueBufferSize];
        Assert.Equal(MapStatus.Ok, m.Lookup(key, v));
        return v;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void EveryWindowOfA40ByteValueMatchesOrMismatchesAtItsFirstMiddleAndLastByte(bool viaAttr)
    {
        using var m = Hash(valueSize: V);
        byte[] key = Key(1);
        byte[] current = Value(1, 1, V);
        Assert.Equal(MapStatus.Ok, m.Update(key, current));
        ulong rev = 2;
        for (int off = 0; off < V; off++)
        {
            for (int len = 1; off + len <= V; len++)
            {
                foreach (int bad in new[] { 0, len / 2, len - 1 })
                {
                    byte[] cmp = current.AsSpan(off, len).ToArray();
                    cmp[bad] ^= 0x5A;
                    byte[] next = Value(1, rev, V);
                    MapStatus st = viaAttr
                        ? (MapStatus)ViaAttr(m, key, next, cmp, (uint)off, (uint)len, 0)
                        : m.CompareAndUpdate(key, next, cmp, (uint)off);
                    Assert.Equal(MapStatus.EBUSY, st);
                    Assert.Equal(current, Read(m, key));           // nothing written
                }
                byte[] replacement = Value(1, rev++, V);
                replacement[^1] = (byte)(off * 7 + len);          // every replacement differs somewhere in the window's reach
                byte[] match = current.AsSpan(off, len).ToArray();
                MapStatus ok = viaAttr
                    ? (MapStatus)ViaAttr(m, key, replacement, match, (uint)off, (uint)len, (ulong)ElemFlags.Exist)
                    : m.CompareAndUpdate(key, replacement, match, (uint)off, ElemFlags.Exist);
                Assert.Equal(MapStatus.Ok, ok);
                Assert.Equal(replacement, Read(m, key));
                current = replacement;
            }
        }
        // compare_size 0: the whole value (attr only; a span says its size).
        byte[] last = Value(1, 999, V);
        Assert.Equal(0, ViaAttr(m, key, last, current, 0, 0, 0));
        Assert.Equal(last, Read(m, key));
    }

    [Fact]
    public void AbsentKeyIsENOENTAndNothingIsInserted()
    {
        using var m = Hash();
        Assert.Equal(MapStatus.ENOENT, m.CompareAndUpdate(Key(1), Value(1, 2), Rev(1), 0));
        Assert.Equal(MapStatus.ENOENT, (MapStatus)ViaAttr(m, Key(1), Value(1, 2), Rev(1), 0, 8, 0));
        Assert.Equal(0, m.Count);
    }

    [Fact]
    public void TheChecksComeInTheirOrder()
    {
        using var m = Hash();
        byte[] k = Key(1);
        Assert.Equal(MapStatus.Ok, m.Update(k, Value(1, 7)));
        byte[] v = Value(1, 8);
        // Flags: NOEXIST (nothing to compare against), unknown bits, NOEXIST|EXIST, and F_LOCK without a lock.
        Assert.Equal(MapStatus.EINVAL, m.CompareAndUpdate(k, v, Rev(7), 0, ElemFlags.NoExist));
        Assert.Equal(MapStatus.EINVAL, m.CompareAndUpdate(k, v, Rev(7), 0, (ElemFlags)64));
        Assert.Equal(MapStatus.EINVAL, m.CompareAndUpdate(k, v, Rev(7), 0, ElemFlags.NoExist | ElemFlags.Exist));
        Assert.Equal(MapStatus.EINVAL, m.CompareAndUpdate(k, v, Rev(7), 0, ElemFlags.Lock));
        // Window past the value, overflow-safe.
        Assert.Equal(MapStatus.EINVAL, m.CompareAndUpdate(k, v, new byte[8], 25));
        Assert.Equal(MapStatus.EINVAL, m.CompareAndUpdate(k, v, new byte[1], uint.MaxValue));
        Assert.Equal(MapStatus.EINVAL, m.CompareAndUpdate(k, v, new byte[33], 0));
        // A NULL compare after the window check (attr only).
        Assert.Equal(MapStatus.EFAULT, (MapStatus)ViaAttr(m, k, v, null, 0, 8, 0));
        Assert.Equal(MapStatus.EINVAL, (MapStatus)ViaAttr(m, k, v, null, 30, 8, 0));
        // Flags before the window, and the ANY/EXIST pair alike.
        Assert.Equal(MapStatus.EINVAL, m.CompareAndUpdate(k, v, new byte[8], 30, ElemFlags.NoExist));
        Assert.Equal(MapStatus.EBUSY, m.CompareAndUpdate(k, v, Rev(6), 0, ElemFlags.Exist));
        Assert.Equal(Value(1, 7), Read(m, k));
        Assert.Equal(MapStatus.Ok, m.CompareAndUpdate(k, v, Rev(7), 0, ElemFlags.Any));
        Assert.Equal(v, Read(m, k));
    }

    [Fact]
    public void HandleAndPermissionComeFirst()
    {
        using var ro = Hash(flags: MapFlags.ReadOnly);
        Assert.Equal(MapStatus.EPERM, ro.CompareAndUpdate(Key(1), Value(1, 1), new byte[8], 30, ElemFlags.NoExist));
        using var closed = Hash();
        closed.Dispose();
        Assert.Equal(MapStatus.EBADF, closed.CompareAndUpdate(Key(1), Value(1, 1), Rev(1), 0));
        Assert.Equal(MapStatus.EBADF, (MapStatus)ViaAttr(closed, Key(1), Value(1, 1), Rev(1), 0, 8, 0));
    }

    [Theory]
    [InlineData(MapType.Array)]
    [InlineData(MapType.PercpuHash)]
    [InlineData(MapType.LruHash)]
    public void OtherMapTypesAreEOPNOTSUPPAfterTheWindowCheck(MapType type)
    {
        using var m = Hash(4, 8, 4, type: type);
        var value = new byte[m.ValueBufferSize];
        Assert.Equal(MapStatus.EOPNOTSUPP, m.CompareAndUpdate(BitConverter.GetBytes(1), value, Rev(0), 0));
        Assert.Equal(MapStatus.EINVAL, m.CompareAndUpdate(BitConverter.GetBytes(1), value, Rev(0), 4));
    }

    [Fact]
    public void SpinLockValueIsEOPNOTSUPPAndFLockWithTheCompareIsEINVAL()
    {
        using var m = Hash(4, 16, 4, spinLock: 8);
        Assert.Equal(MapStatus.Ok, m.Update(BitConverter.GetBytes(1), new byte[16]));
        Assert.Equal(MapStatus.EOPNOTSUPP, m.CompareAndUpdate(BitConverter.GetBytes(1), new byte[16], Rev(0), 0));
        Assert.Equal(MapStatus.EINVAL, m.CompareAndUpdate(BitConverter.GetBytes(1), new byte[16], Rev(0), 0, ElemFlags.Lock));
    }

    [Fact]
    public void ThroughTheAttrCompareFieldsWithoutTheFlagAreEINVALAndPlainUpdatesAreUnchanged()
    {
        using var m = Hash(4, 8, 4);
        using var key = new Pinned(BitConverter.GetBytes(1));
        using var value = new Pinned(BitConverter.GetBytes(5L));
        using var cmp = new Pinned(BitConverter.GetBytes(5L));
        var attr = new byte[BpfAttr.Size];
        BitConverter.TryWriteBytes(attr.AsSpan(0), m.Handle);
        BitConverter.TryWriteBytes(attr.AsSpan(8), (ulong)key);
        BitConverter.TryWriteBytes(attr.AsSpan(16), (ulong)value);
        Assert.Equal(0, BpfAttr.ExecuteUnsafe((int)BpfCommand.MapUpdateElem, attr));
        BitConverter.TryWriteBytes(attr.AsSpan(32), (ulong)cmp);
        Assert.Equal(-22, BpfAttr.ExecuteUnsafe((int)BpfCommand.MapUpdateElem, attr));  // compare without the flag
        BitConverter.TryWriteBytes(attr.AsSpan(24), (ulong)ElemFlags.Compare);
        Assert.Equal(0, BpfAttr.ExecuteUnsafe((int)BpfCommand.MapUpdateElem, attr));    // whole-value compare, 5 == 5
        attr[48] = 1;
        Assert.Equal(-22, BpfAttr.ExecuteUnsafe((int)BpfCommand.MapUpdateElem, attr));  // past the compare fields
    }

    /// <summary>A refresh that lands after the unlocked compare matched and before the lock: the compare under the
    /// lock sees it, and the swap answers EBUSY with the refresh kept. So does a delete (ENOENT).</summary>
    [Fact]
    public void AWriterBetweenTheUnlockedCompareAndTheLockIsSeen()
    {
        using var m = Hash();
        m.Update(Key(1), Value(1, 7));
        m.HashStore!.CompareUpdateRaceForTests = () => Assert.Equal(MapStatus.Ok, m.Update(Key(1), Value(1, 8)));
        Assert.Equal(MapStatus.EBUSY, m.CompareAndUpdate(Key(1), Value(1, 9), Rev(7), 0));
        Assert.Equal(Value(1, 8), Read(m, Key(1)));
        m.HashStore.CompareUpdateRaceForTests = () => Assert.Equal(MapStatus.Ok, m.Delete(Key(1)));
        Assert.Equal(MapStatus.ENOENT, m.CompareAndUpdate(Key(1), Value(1, 9), Rev(8), 0));
        Assert.Equal(0, m.Count);
        // A delete and a re-insert of the same key (a new slot, or the same one reused): the swap finds the key
        // again under the lock and compares the new value.
        m.Update(Key(1), Value(1, 7));
        m.HashStore.CompareUpdateRaceForTests = () =>
        {
            Assert.Equal(MapStatus.Ok, m.Delete(Key(1)));
            Assert.Equal(MapStatus.Ok, m.Update(Key(2), Value(2, 1)));
            Assert.Equal(MapStatus.Ok, m.Update(Key(1), Value(1, 7)));
        };
        Assert.Equal(MapStatus.Ok, m.CompareAndUpdate(Key(1), Value(1, 9), Rev(7), 0));
        m.HashStore.CompareUpdateRaceForTests = null;
        Assert.Equal(Value(1, 9), Read(m, Key(1)));
        Assert.Equal(Value(2, 1), Read(m, Key(2)));
    }

    [Fact]
    public void TypedOverloadSwapsOnARevision()
    {
        using var m = Hash();
        m.Update(Key(4), Value(4, 41));
        var key = new Key16(Key(4));
        var next = new Value32(Value(4, 42));
        Assert.Equal(MapStatus.EBUSY, m.CompareAndUpdate(key, next, 40ul, 0));
        Assert.Equal(MapStatus.Ok, m.CompareAndUpdate(key, next, 41ul, 0));
        Assert.Equal(Value(4, 42), Read(m, Key(4)));
    }

    [Fact]
    public void BatchGoesOnPastPerKeyOutcomesAndChecksArgumentsFirst()
    {
        using var m = Hash(max: 16);
        for (int i = 0; i < 4; i++)
            m.Update(Key(i), Value(i, 10));
        byte[] keys = [.. Key(0), .. Key(1), .. Key(2), .. Key(9)];
        byte[] values = [.. Value(0, 11), .. Value(1, 11), .. Value(2, 11), .. Value(9, 11)];
        byte[] expected = [.. Rev(10), .. Rev(9), .. Rev(10), .. Rev(10)];
        var results = new MapStatus[4];
        Assert.Equal(MapStatus.Ok, m.CompareAndUpdateBatch(keys, values, expected, 0, results, out int count));
        Assert.Equal(4, count);
        Assert.Equal(new[] { MapStatus.Ok, MapStatus.EBUSY, MapStatus.Ok, MapStatus.ENOENT }, results);
        Assert.Equal(Value(0, 11), Read(m, Key(0)));
        Assert.Equal(Value(1, 10), Read(m, Key(1)));
        Assert.Equal(Value(2, 11), Read(m, Key(2)));
        Assert.Equal(4, m.Count);
        // Argument errors before anything is written.
        Assert.Equal(MapStatus.EINVAL, m.CompareAndUpdateBatch(keys, values, new byte[4 * 8], 30, results, out _));
        using var lru = Hash(max: 16, type: MapType.LruHash);
        Assert.Equal(MapStatus.EOPNOTSUPP, lru.CompareAndUpdateBatch(keys, values, expected, 0, results, out _));
    }

    [Fact]
    public void BatchThroughTheAttrUsesTheDeleteBatchLayout()
    {
        using var m = Hash(8, 8, 16);
        for (ulong i = 0; i < 3; i++)
            m.Update(BitConverter.GetBytes(i), BitConverter.GetBytes(100 + i));
        using var keys = new Pinned([.. BitConverter.GetBytes(0ul), .. BitConverter.GetBytes(1ul), .. BitConverter.GetBytes(2ul)]);
        using var values = new Pinned([.. BitConverter.GetBytes(7ul), .. BitConverter.GetBytes(7ul), .. BitConverter.GetBytes(7ul)]);
        using var cmps = new Pinned([.. BitConverter.GetBytes(100ul), .. BitConverter.GetBytes(0ul), .. BitConverter.GetBytes(102ul)]);
        var res = new int[3];
        var resHandle = System.Runtime.InteropServices.GCHandle.Alloc(res, System.Runtime.InteropServices.GCHandleType.Pinned);
        try
        {
            var attr = new byte[BpfAttr.Size];
            BitConverter.TryWriteBytes(attr.AsSpan(16), (ulong)keys);
            BitConverter.TryWriteBytes(attr.AsSpan(24), (ulong)values);
            BitConverter.TryWriteBytes(attr.AsSpan(32), 3u);
            BitConverter.TryWriteBytes(attr.AsSpan(36), m.Handle);
            BitConverter.TryWriteBytes(attr.AsSpan(40), (ulong)ElemFlags.Compare);
            BitConverter.TryWriteBytes(attr.AsSpan(56), (ulong)cmps);
            BitConverter.TryWriteBytes(attr.AsSpan(64), 0u);
            BitConverter.TryWriteBytes(attr.AsSpan(68), 8u);
            BitConverter.TryWriteBytes(attr.AsSpan(72), (ulong)resHandle.AddrOfPinnedObject());
            Assert.Equal(0, BpfAttr.ExecuteUnsafe((int)BpfCommand.MapUpdateBatch, attr));
            Assert.Equal(3u, BitConverter.ToUInt32(attr, 32));
            Assert.Equal(new[] { 0, (int)MapStatus.EBUSY, 0 }, res);
            Assert.Equal(7ul, BitConverter.ToUInt64(Read(m, BitConverter.GetBytes(0ul))));
            Assert.Equal(101ul, BitConverter.ToUInt64(Read(m, BitConverter.GetBytes(1ul))));
            // Compare fields without the flag: EINVAL before the handle, as for the delete batch.
            BitConverter.TryWriteBytes(attr.AsSpan(40), 0ul);
            BitConverter.TryWriteBytes(attr.AsSpan(36), 12345);
            Assert.Equal(-22, BpfAttr.ExecuteUnsafe((int)BpfCommand.MapUpdateBatch, attr));
        }
        finally
        {
            resHandle.Free();
        }
    }

    internal readonly struct Value32
    {
        public readonly ulong A, B, C, D;
        public Value32(byte[] v)
        {
            A = BitConverter.ToUInt64(v, 0);
            B = BitConverter.ToUInt64(v, 8);
            C = BitConverter.ToUInt64(v, 16);
            D = BitConverter.ToUInt64(v, 24);
        }
    }
}
