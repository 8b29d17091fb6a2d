using System.Buffers.Binary;
using FastMap.Internal;
using static FastMap.Tests.Engine.TestMaps;

namespace FastMap.Tests.Shared;

/// <summary>Files that are not whole FastMap maps: opening one gives an errno; a map whose indices and offsets were
/// overwritten in the file keeps answering (with errnos, or wrong bytes), and never reads or writes outside its memory.</summary>
public sealed class DamagedFileTests : IDisposable
{
    private readonly string _dir = Directory.CreateDirectory($"/dev/shm/fm-damaged-{Environment.ProcessId}-{Guid.NewGuid():N}").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Pinned(out BpfMap map, uint max = 64)
    {
        map = SharedMapTests.Shared(max: max);
        string path = Path.Combine(_dir, "m");
        Assert.Equal(MapStatus.Ok, map.Pin(path));
        return path;
    }

    private string CopyWith(string path, Action<FileStream> change)
    {
        string copy = Path.Combine(_dir, $"copy-{Guid.NewGuid():N}");
        File.Copy(path, copy);
        using (var f = new FileStream(copy, FileMode.Open, FileAccess.ReadWrite))
            change(f);
        return copy;
    }

    private static void WriteAt(FileStream f, long offset, ReadOnlySpan<byte> bytes)
    {
        f.Position = offset;
        f.Write(bytes);
    }

    [Fact]
    public void TruncatedHeaderlessOrEditedFilesAreRefused()
    {
        string path = Pinned(out BpfMap m);
        using var owner = m;
        long bytes = new FileInfo(path).Length;
        Assert.Equal(MapStatus.EINVAL, BpfMap.Open(CopyWith(path, f => f.SetLength(bytes / 2)), MapFlags.None, out _));
        Assert.Equal(MapStatus.EINVAL, BpfMap.Open(CopyWith(path, f => f.SetLength(100)), MapFlags.None, out _));
        Assert.Equal(MapStatus.EACCES, BpfMap.Open(CopyWith(path, f => f.SetLength(4)), MapFlags.None, out _));
        // Every header byte but the magic's: a flipped bit is refused.
        for (int at = 8; at < 96; at += 3)
        {
            int i = at;
            string copy = CopyWith(path, f =>
            {
                f.Position = i;
                int b = f.ReadByte();
                WriteAt(f, i, [(byte)(b ^ 0x10)]);
            });
            MapStatus st = BpfMap.Open(copy, MapFlags.None, out BpfMap? opened);
            opened?.Dispose();
            Assert.True(st is MapStatus.EINVAL or MapStatus.EPROTO, $"header byte {i}: {st}");
        }
        Assert.Equal(MapStatus.EACCES, BpfMap.Open(CopyWith(path, f => WriteAt(f, 0, "NOTAMAP!"u8)), MapFlags.None, out _));
    }

    [Fact]
    public void AnotherLayoutVersionIsRefusedWithEPROTO()
    {
        string path = Pinned(out BpfMap m);
        using var owner = m;
        var version = new byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(version, SharedLayout.LayoutVersion + 1);
        Assert.Equal(MapStatus.EPROTO, BpfMap.Open(CopyWith(path, f => WriteAt(f, 8, version)), MapFlags.None, out _));
    }

    /// <summary>Random values over the file's indices and offsets (chain links, the pool's counts and lists, lock owners,
    /// thread and process slots, intents, undo offsets), then operations through a second handle: every answer is a
    /// status, and the process lives.</summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void DamagedIndicesGiveAnswersNotWildAccesses(int seed)
    {
        string path = Pinned(out BpfMap m, max: 256);
        using var owner = m;
        var v = new byte[32];
        for (int k = 0; k < 200; k++)
            Assert.Equal(MapStatus.Ok, m.Update(Key(k), Value(k, 1)));
        SharedLayout l = m.HashStore!.Shared!.Layout;
        m.Dispose();                                            // the survivor below is the only process on the file
        var rng = new Random(seed);
        using (var f = new FileStream(path, FileMode.Open, FileAccess.ReadWrite))
        {
            ulong groups = 1ul << l.GroupBits;
            (ulong Start, ulong Bytes)[] regions =
            [
                (l.Chain, groups * 4), (l.Pool, 64), (l.FreeList, 256), (l.LimboList, 256), (l.Owners, groups * 4),
                (l.Threads, 16 * (ulong)l.ThreadStride), (l.Procs, 64 * 8), (l.Capacity, l.ShardCount * 128ul),
            ];
            for (int i = 0; i < 64; i++)
            {
                (ulong start, ulong bytes) = regions[rng.Next(regions.Length)];
                long at = (long)(start + (ulong)rng.NextInt64((long)bytes / 4) * 4);
                var word = new byte[4];
                BinaryPrimitives.WriteUInt32LittleEndian(word, rng.Next(4) switch { 0 => uint.MaxValue, 1 => 0x8000_0000u, 2 => (uint)rng.Next(1, 5000), _ => (uint)rng.Next() });
                WriteAt(f, at, word);
            }
        }
        MapStatus open = BpfMap.Open(path, MapFlags.None, out BpfMap? b);
        Assert.True(open is MapStatus.Ok or MapStatus.ENOMEM, open.ToString());
        if (b is null)
            return;
        using (b)
        {
            var ops = new Random(seed * 31);
            var keys = new byte[16 * 8];
            var values = new byte[32 * 8];
            for (int i = 0; i < 3000; i++)
            {
                int k = ops.Next(400);
                MapStatus st = ops.Next(6) switch
                {
                    0 => b.Update(Key(k), Value(k, 2)),
                    1 => b.Lookup(Key(k), v),
                    2 => b.Delete(Key(k)),
                    3 => b.CompareAndDelete(Key(k), Rev(1), 0),
                    4 => b.GetNextKey(Key(k), new byte[16]),
                    _ => LookupSome(b, keys, values),
                };
                Assert.True(st <= 0);                           // a status; reaching here means no fault
            }
        }
    }

    private static MapStatus LookupSome(BpfMap b, byte[] keys, byte[] values)
    {
        var cursor = new BatchCursor();
        return b.LookupBatch(ref cursor, keys, values, out _);
    }
}
