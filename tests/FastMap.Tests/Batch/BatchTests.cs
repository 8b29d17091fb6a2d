using System.Buffers.Binary;
using System.Runtime.InteropServices;
using FastMap;
using FastMap.Tests.Engine;

namespace FastMap.Tests.Batch;

/// <summary>The batch commands' semantics on FastMap alone: cursors, counts, errnos, per-key results.</summary>
public class BatchTests
{
    private static BpfMap Filled(int n, uint max = 256, uint keySize = 16, MapType type = MapType.Hash, MapFlags flags = MapFlags.None)
    {
        BpfMap m = TestMaps.Hash(keySize: keySize, max: max, type: type, flags: flags);
        for (int i = 0; i < n; i++)
            Assert.Equal(MapStatus.Ok, m.Update(TestMaps.Key(i, (int)keySize), TestMaps.Value(i, (ulong)i)));
        return m;
    }

    /// <summary>Scans the whole map with batches of <paramref name="batch"/>; returns keys in order returned.</summary>
    internal static List<int> ScanAll(BpfMap m, int batch, bool delete = false, List<MapStatus>? statuses = null)
    {
        var keys = new byte[batch * m.KeySize];
        var values = new byte[batch * m.ValueBufferSize];
        var seen = new List<int>();
        BatchCursor cursor = BatchCursor.Start;
        for (int guard = 0; guard < 100_000; guard++)
        {
            MapStatus st = delete
                ? m.LookupAndDeleteBatch(ref cursor, keys, values, out int count)
                : m.LookupBatch(ref cursor, keys, values, out count);
            statuses?.Add(st);
            if (st == MapStatus.ENOSPC)
            {
                // A bucket bigger than the buffer: what libbpf users do, retry with more room.
                Assert.Equal(0, count);
                keys = new byte[keys.Length * 2];
                values = new byte[values.Length * 2];
                continue;
            }
            Assert.True(st is MapStatus.Ok or MapStatus.ENOENT, $"unexpected {st}");
            for (int i = 0; i < count; i++)
            {
                int k = BinaryPrimitives.ReadInt32LittleEndian(keys.AsSpan(i * m.KeySize));
                seen.Add(k);
                // The value returned is the key's own (Value encodes the key in its payload).
                Assert.Equal(TestMaps.Value(k, (ulong)k), values.AsSpan(i * m.ValueBufferSize, m.ValueBufferSize).ToArray());
            }
            if (st == MapStatus.ENOENT)
                return seen;
        }
        throw new InvalidOperationException("scan did not end");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(7)]
    [InlineData(64)]
    [InlineData(1000)]
    public void FullScanReturnsEveryKeyOnce(int batch)
    {
        using BpfMap m = Filled(150);
        List<int> seen = ScanAll(m, batch);
        Assert.Equal(Enumerable.Range(0, 150), seen.Order());
    }

    [Fact]
    public void LookupAndDeleteBatchEmptiesTheMap()
    {
        using BpfMap m = Filled(100);
        List<int> seen = ScanAll(m, 9, delete: true);
        Assert.Equal(Enumerable.Range(0, 100), seen.Order());
        Assert.Equal(0, m.Count);
        Assert.Empty(ScanAll(m, 9));
    }

    [Fact]
    public void EmptyMapEndsAtOnceWithEnoent()
    {
        using BpfMap m = Filled(0);
        var statuses = new List<MapStatus>();
        Assert.Empty(ScanAll(m, 4, statuses: statuses));
        Assert.Equal([MapStatus.ENOENT], statuses);
    }

    [Fact]
    public void CursorPastTheEndIsEnoentAndUnchanged()
    {
        using BpfMap m = Filled(10);
        var cursor = new BatchCursor(uint.MaxValue - 1);
        Assert.Equal(MapStatus.ENOENT, m.LookupBatch(ref cursor, new byte[16 * 4], new byte[32 * 4], out int count));
        Assert.Equal(0, count);
        Assert.Equal(uint.MaxValue - 1, cursor.Position);
    }

    [Fact]
    public void BucketThatDoesNotFitIsEnospcWithTheBucketAsCursor()
    {
        using BpfMap m = TestMaps.Hash(max: 64);
        m.HashStore!.HashModuloForTests = 1;             // every key has one hash: one bucket
        for (int i = 0; i < 3; i++)
            Assert.Equal(MapStatus.Ok, m.Update(TestMaps.Key(i), TestMaps.Value(i, 0)));
        BatchCursor cursor = BatchCursor.Start;
        Assert.Equal(MapStatus.ENOSPC, m.LookupBatch(ref cursor, new byte[16 * 2], new byte[32 * 2], out int count));
        Assert.Equal(0, count);
        Assert.Equal(m.HashStore!.BucketForTests(TestMaps.Key(0)).Bucket, cursor.Position);
        Assert.False(cursor.IsStart);
        Assert.Equal(MapStatus.ENOENT, m.LookupBatch(ref cursor, new byte[16 * 3], new byte[32 * 3], out count));
        Assert.Equal(3, count);
    }

    [Fact]
    public void ZeroCountDoesNothing()
    {
        using BpfMap m = Filled(5);
        BatchCursor cursor = BatchCursor.Start;
        Assert.Equal(MapStatus.Ok, m.LookupBatch(ref cursor, [], [], out int count));
        Assert.Equal(0, count);
        Assert.True(cursor.IsStart);
    }

    [Fact]
    public void UpdateBatchStopsAtFirstErrorWithCount()
    {
        using BpfMap m = TestMaps.Hash(max: 4);
        var keys = new byte[6 * 16];
        var values = new byte[6 * 32];
        for (int i = 0; i < 6; i++)
        {
            TestMaps.Key(i).CopyTo(keys, i * 16);
            TestMaps.Value(i, 1).CopyTo(values, i * 32);
        }
        Assert.Equal(MapStatus.E2BIG, m.UpdateBatch(keys, values, out int count));
        Assert.Equal(4, count);
        Assert.Equal(4, m.Count);
        Assert.Equal(MapStatus.EINVAL, m.UpdateBatch(keys, values, out _, ElemFlags.NoExist));
        Assert.Equal(MapStatus.EINVAL, m.UpdateBatch(keys, values, out _, ElemFlags.Lock));
    }

    [Fact]
    public void DeleteBatchStopsAtFirstMissingKey()
    {
        using BpfMap m = Filled(5);
        byte[] keys = [.. TestMaps.Key(0), .. TestMaps.Key(1), .. TestMaps.Key(999), .. TestMaps.Key(3)];
        Assert.Equal(MapStatus.ENOENT, m.DeleteBatch(keys, out int count));
        Assert.Equal(2, count);
        Assert.Equal(MapStatus.Ok, m.Lookup(TestMaps.Key(3), new byte[32]));
    }

    [Fact]
    public void CompareAndDeleteBatchGivesPerKeyResultsAndGoesOn()
    {
        using BpfMap m = Filled(6);
        // keys 0..5 hold revision i. Expect: 0 match, 1 stale, 999 absent, 3 match, 4 stale, 5 match.
        int[] ks = [0, 1, 999, 3, 4, 5];
        ulong[] revs = [0, 77, 0, 3, 99, 5];
        byte[] keys = ks.SelectMany(k => TestMaps.Key(k)).ToArray();
        byte[] cmp = revs.SelectMany(TestMaps.Rev).ToArray();
        var results = new MapStatus[ks.Length];
        Assert.Equal(MapStatus.Ok, m.CompareAndDeleteBatch(keys, cmp, 0, results, out int count));
        Assert.Equal(6, count);
        Assert.Equal([MapStatus.Ok, MapStatus.EBUSY, MapStatus.ENOENT, MapStatus.Ok, MapStatus.EBUSY, MapStatus.Ok], results);
        Assert.Equal(3, m.Count);                     // 1, 2 (not in the batch) and 4
        Assert.Equal(MapStatus.Ok, m.Lookup(TestMaps.Key(1), new byte[32]));
        Assert.Equal(MapStatus.Ok, m.Lookup(TestMaps.Key(4), new byte[32]));
    }

    [Fact]
    public void CompareAndDeleteBatchArgumentErrorsDeleteNothing()
    {
        using BpfMap m = Filled(4);
        byte[] keys = Enumerable.Range(0, 4).SelectMany(k => TestMaps.Key(k)).ToArray();
        byte[] cmp = Enumerable.Range(0, 4).SelectMany(k => TestMaps.Rev((ulong)k)).ToArray();
        var results = new MapStatus[4];
        Assert.Equal(MapStatus.EINVAL, m.CompareAndDeleteBatch(keys, cmp, 25, results, out int count)); // 25 + 8 > 32
        Assert.Equal(0, count);
        Assert.Equal(4, m.Count);
        using BpfMap lru = Filled(4, type: MapType.LruHash);
        Assert.Equal(MapStatus.EOPNOTSUPP, lru.CompareAndDeleteBatch(keys, cmp, 0, results, out _));
        Assert.Equal(4, lru.Count);
    }

    [Fact]
    public void ArrayLookupBatchWalksIndicesLikeTheGenericKernelWalk()
    {
        using BpfMap a = TestMaps.Hash(keySize: 4, valueSize: 8, max: 5, type: MapType.Array);
        var keys = new byte[4 * 2];
        var values = new byte[8 * 2];
        BatchCursor c = BatchCursor.Start;
        var got = new List<uint>();
        var st = new List<MapStatus>();
        for (int i = 0; i < 4; i++)
        {
            MapStatus s = a.LookupBatch(ref c, keys, values, out int n);
            st.Add(s);
            for (int j = 0; j < n; j++)
                got.Add(BinaryPrimitives.ReadUInt32LittleEndian(keys.AsSpan(j * 4)));
            if (s == MapStatus.ENOENT)
                break;
        }
        Assert.Equal([0u, 1, 2, 3, 4], got);
        Assert.Equal([MapStatus.Ok, MapStatus.Ok, MapStatus.ENOENT], st);
        Assert.Equal(MapStatus.ENOTSUPP, a.LookupAndDeleteBatch(ref c, keys, values, out _));
        Assert.Equal(MapStatus.ENOTSUPP, a.DeleteBatch(keys, out _));
    }

    [Fact]
    public void SpanArgumentErrorsAreEinvalAndTouchNothing()
    {
        using BpfMap m = Filled(8);
        BatchCursor c = BatchCursor.Start;
        Assert.Equal(MapStatus.EINVAL, m.LookupBatch(ref c, new byte[17], new byte[64], out int n));   // not whole keys
        Assert.Equal(MapStatus.EINVAL, m.LookupBatch(ref c, new byte[32], new byte[63], out n));   // values short
        Assert.True(c.IsStart);
        Assert.Equal(MapStatus.EINVAL, m.UpdateBatch(new byte[32], new byte[32], out n));          // 2 keys, 1 value
        Assert.Equal(MapStatus.EINVAL, m.DeleteBatch(new byte[15], out n));
        byte[] keys = [.. TestMaps.Key(0), .. TestMaps.Key(1)];
        Assert.Equal(MapStatus.EINVAL, m.CompareAndDeleteBatch(keys, new byte[15], 0, new MapStatus[2], out n)); // windows do not divide
        Assert.Equal(MapStatus.EINVAL, m.CompareAndDeleteBatch(keys, new byte[16], 0, new MapStatus[1], out n)); // results short
        Assert.Equal(MapStatus.EINVAL, m.LookupBatch<long, long>(ref c, new long[2], new long[2], out n));       // wrong types
        Assert.Equal(0, n);
        Assert.Equal(8, m.Count);
    }

    [Fact]
    public void HandleAndPermissionErrors()
    {
        BpfMap closed = Filled(2);
        closed.Dispose();
        BatchCursor c = BatchCursor.Start;
        var k = new byte[32];
        var v = new byte[64];
        Assert.Equal(MapStatus.EBADF, closed.LookupBatch(ref c, k, v, out _));
        Assert.Equal(MapStatus.EBADF, closed.UpdateBatch(k, v, out _));
        Assert.Equal(MapStatus.EBADF, closed.DeleteBatch(k, out _));
        Assert.Equal(MapStatus.EBADF, closed.CompareAndDeleteBatch(k, new byte[16], 0, new MapStatus[2], out _));

        using BpfMap ro = Filled(0, flags: MapFlags.ReadOnly);
        Assert.Equal(MapStatus.EPERM, ro.UpdateBatch(k, v, out _));
        Assert.Equal(MapStatus.EPERM, ro.DeleteBatch(k, out _));
        Assert.Equal(MapStatus.EPERM, ro.LookupAndDeleteBatch(ref c, k, v, out _));
        Assert.Equal(MapStatus.EPERM, ro.CompareAndDeleteBatch(k, new byte[16], 0, new MapStatus[2], out _));
        Assert.Equal(MapStatus.ENOENT, ro.LookupBatch(ref c, k, v, out _));
        using BpfMap wo = Filled(0, flags: MapFlags.WriteOnly);
        Assert.Equal(MapStatus.EPERM, wo.LookupBatch(ref c, k, v, out _));
        Assert.Equal(MapStatus.EPERM, wo.LookupAndDeleteBatch(ref c, k, v, out _));
        Assert.Equal(MapStatus.EINVAL, wo.UpdateBatch(k, v, out _, ElemFlags.Lock));   // no spin lock
        Assert.Equal(MapStatus.Ok, wo.UpdateBatch(k, v, out int applied));
        Assert.Equal(2, applied);
    }

    [Fact]
    public void BatchCompareAndDeleteThroughTheAttrLayout()
    {
        using BpfMap m = Filled(4);
        byte[] keys = [.. TestMaps.Key(0), .. TestMaps.Key(1), .. TestMaps.Key(2)];
        byte[] cmp = [.. TestMaps.Rev(0), .. TestMaps.Rev(5), .. TestMaps.Rev(2)];
        var results = new int[3];
        GCHandle hk = GCHandle.Alloc(keys, GCHandleType.Pinned), hc = GCHandle.Alloc(cmp, GCHandleType.Pinned),
            hr = GCHandle.Alloc(results, GCHandleType.Pinned);
        try
        {
            var attr = new byte[BpfAttr.Size];
            void Put64(int at, ulong x) => BinaryPrimitives.WriteUInt64LittleEndian(attr.AsSpan(at), x);
            void Put32(int at, uint x) => BinaryPrimitives.WriteUInt32LittleEndian(attr.AsSpan(at), x);
            Put64(16, (ulong)hk.AddrOfPinnedObject());
            Put32(32, 3);                             // count
            Put32(36, (uint)m.Handle);
            Put64(40, (ulong)ElemFlags.Compare);      // elem_flags
            Put64(56, (ulong)hc.AddrOfPinnedObject()); // compares
            Put32(64, 0);                             // compare_offset
            Put32(68, 8);                             // compare_size
            Put64(72, (ulong)hr.AddrOfPinnedObject()); // results
            Assert.Equal(0, BpfAttr.ExecuteUnsafe((int)BpfCommand.MapDeleteBatch, attr));
            Assert.Equal(3u, BinaryPrimitives.ReadUInt32LittleEndian(attr.AsSpan(32)));   // count written back
            Assert.Equal([0, (int)MapStatus.EBUSY, 0], results);
            Assert.Equal(2, m.Count);

            // The compare fields without BPF_F_COMPARE are refused before anything happens.
            Put64(40, 0);
            Put32(32, 3);
            Assert.Equal((int)MapStatus.EINVAL, BpfAttr.ExecuteUnsafe((int)BpfCommand.MapDeleteBatch, attr));
            // ... and with the flag, the tail after results must be zero.
            Put64(40, (ulong)ElemFlags.Compare);
            attr[80] = 1;
            Assert.Equal((int)MapStatus.EINVAL, BpfAttr.ExecuteUnsafe((int)BpfCommand.MapDeleteBatch, attr));
            attr[80] = 0;
            // Other flags beside BPF_F_COMPARE: EINVAL, after the handle.
            Put64(40, (ulong)(ElemFlags.Compare | ElemFlags.Lock));
            Assert.Equal((int)MapStatus.EINVAL, BpfAttr.ExecuteUnsafe((int)BpfCommand.MapDeleteBatch, attr));
            Put32(36, 99999);
            Assert.Equal((int)MapStatus.EBADF, BpfAttr.ExecuteUnsafe((int)BpfCommand.MapDeleteBatch, attr));
            Assert.Equal(2, m.Count);
        }
        finally
        {
            hk.Free();
            hc.Free();
            hr.Free();
        }
    }
}
