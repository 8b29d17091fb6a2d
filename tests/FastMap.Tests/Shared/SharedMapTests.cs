using FastMap;
using static FastMap.Tests.Engine.TestMaps;

namespace FastMap.Tests.Shared;

/// <summary>A shared map within one process: created, pinned and opened again as a second handle (its own
/// attachment to the file, as another process would have), with every answer checked through both.</summary>
public sealed class SharedMapTests : IDisposable
{
    private readonly string _dir = Directory.CreateDirectory($"/dev/shm/fm-shared-{Environment.ProcessId}-{Guid.NewGuid():N}").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string PathOf(string name) => System.IO.Path.Combine(_dir, name);

    internal static BpfMap Shared(uint max = 64, MapType type = MapType.Hash, uint keySize = 16, uint valueSize = 32, MapFlags flags = MapFlags.None) =>
        Hash(keySize, valueSize, max, flags | MapFlags.Shared, type);

    [Fact]
    public void PinnedMapOpensAsASecondHandleThatSeesEveryWriteOfTheFirst()
    {
        using var a = Shared();
        Assert.True(a.IsShared);
        Assert.Equal(MapStatus.Ok, a.Pin(PathOf("m")));
        using var b = BpfMap.Open(PathOf("m"));
        Assert.Equal(a.Definition with { Name = null }, b.Definition with { Name = null });
        var v = new byte[32];
        for (int i = 0; i < 50; i++)
            Assert.Equal(MapStatus.Ok, a.Update(Key(i), Value(i, 1)));
        for (int i = 0; i < 50; i++)
        {
            Assert.Equal(MapStatus.Ok, b.Lookup(Key(i), v));
            Assert.Equal(Value(i, 1), v);
        }
        Assert.Equal(MapStatus.Ok, b.Delete(Key(3)));
        Assert.Equal(MapStatus.ENOENT, a.Lookup(Key(3), v));
        Assert.Equal(MapStatus.EBUSY, b.CompareAndDelete(Key(4), Rev(2), 0));
        Assert.Equal(MapStatus.Ok, b.CompareAndDelete(Key(4), Rev(1), 0));
        Assert.Equal(MapStatus.ENOENT, a.Lookup(Key(4), v));
        Assert.Equal(48, a.Count);
        Assert.Equal(48, b.Count);
    }

    [Fact]
    public void BatchCommandsOfOneHandleAreSeenByTheOther()
    {
        using var a = Shared(max: 512);
        Assert.Equal(MapStatus.Ok, a.Pin(PathOf("m")));
        using var b = BpfMap.Open(PathOf("m"));
        const int n = 300;
        var keys = new byte[n * 16];
        var values = new byte[n * 32];
        for (int i = 0; i < n; i++)
        {
            Key(i).CopyTo(keys, i * 16);
            Value(i, 1).CopyTo(values, i * 32);
        }
        Assert.Equal(MapStatus.Ok, a.UpdateBatch(keys, values, out int updated));
        Assert.Equal(n, updated);
        // b scans everything a wrote, each key once.
        var seen = new HashSet<int>();
        var cursor = new BatchCursor();
        var outKeys = new byte[64 * 16];
        var outValues = new byte[64 * 32];
        MapStatus st;
        do
        {
            st = b.LookupBatch(ref cursor, outKeys, outValues, out int got);
            Assert.True(st is MapStatus.Ok or MapStatus.ENOENT, st.ToString());
            for (int i = 0; i < got; i++)
                Assert.True(seen.Add(BitConverter.ToInt32(outKeys, i * 16)));
        }
        while (st == MapStatus.Ok);
        Assert.Equal(n, seen.Count);
        // b compare-deletes the first 100 (every other one with a stale revision: kept); a sees the result.
        var expected = new byte[100 * 8];
        for (int i = 0; i < 100; i++)
            Rev(i % 2 == 0 ? 1ul : 9ul).CopyTo(expected, i * 8);
        var results = new MapStatus[100];
        Assert.Equal(MapStatus.Ok, b.CompareAndDeleteBatch(keys.AsSpan(0, 100 * 16), expected, 0, results, out int done));
        Assert.Equal(100, done);
        var v = new byte[32];
        for (int i = 0; i < 100; i++)
        {
            Assert.Equal(i % 2 == 0 ? MapStatus.Ok : MapStatus.EBUSY, results[i]);
            Assert.Equal(i % 2 == 0 ? MapStatus.ENOENT : MapStatus.Ok, a.Lookup(Key(i), v));
        }
        Assert.Equal(MapStatus.Ok, a.DeleteBatch(keys.AsSpan(100 * 16, 100 * 16), out int deleted));
        Assert.Equal(100, deleted);
        Assert.Equal(n - 50 - 100, b.Count);
    }

    /// <summary>A file has 256 thread slots: a thread past them gets ENOMEM, never a crash, and a slot comes back when its
    /// thread is gone.</summary>
    [Fact]
    public void ThreadsPastTheFilesSlotsGetENOMEMAndSlotsComeBackWhenThreadsEnd()
    {
        using var a = Shared(max: 4096);
        const int threads = 270;
        var statuses = new MapStatus[threads];
        using var hold = new ManualResetEventSlim();
        using var started = new CountdownEvent(threads);
        var all = new Thread[threads];
        for (int i = 0; i < threads; i++)
        {
            int n = i;
            all[i] = new Thread(() =>
            {
                statuses[n] = a.Update(Key(n), Value(n, 1));
                started.Signal();
                hold.Wait();                                          // keep the slot: the thread lives on
            }, 256 * 1024);
            all[i].Start();
        }
        started.Wait();
        Assert.All(statuses, st => Assert.True(st is MapStatus.Ok or MapStatus.ENOMEM, st.ToString()));
        Assert.InRange(statuses.Count(st => st == MapStatus.ENOMEM), threads - 256, threads);
        hold.Set();
        foreach (Thread t in all)
            t.Join();
        for (int round = 0; round < 3; round++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();                            // the dead threads' slots are given back
        }
        var late = new Thread(() => statuses[0] = a.Update(Key(9999), Value(9999, 1)));
        late.Start();
        late.Join();
        Assert.Equal(MapStatus.Ok, statuses[0]);
    }

    [Fact]
    public void CapacityIsOneCountForEveryHandle()
    {
        using var a = Shared(max: 10);
        Assert.Equal(MapStatus.Ok, a.Pin(PathOf("m")));
        using var b = BpfMap.Open(PathOf("m"));
        var v = new byte[32];
        for (int i = 0; i < 10; i++)
            Assert.Equal(MapStatus.Ok, (i % 2 == 0 ? a : b).Update(Key(i), v));
        Assert.Equal(MapStatus.E2BIG, a.Update(Key(10), v));
        Assert.Equal(MapStatus.E2BIG, b.Update(Key(11), v));
        Assert.Equal(MapStatus.Ok, a.Delete(Key(0)));
        Assert.Equal(MapStatus.Ok, b.Update(Key(11), v));
        Assert.Equal(MapStatus.E2BIG, a.Update(Key(12), v));
    }

    [Fact]
    public void MapOutlivesItsCreatorWhilePinnedAndGoesWithThePath()
    {
        string path = PathOf("m");
        using (var a = Shared())
        {
            Assert.Equal(MapStatus.Ok, a.Update(Key(1), Value(1, 7)));
            Assert.Equal(MapStatus.Ok, a.Pin(path));
        }
        var v = new byte[32];
        using (var b = BpfMap.Open(path))
        {
            Assert.Equal(MapStatus.Ok, b.Lookup(Key(1), v));
            Assert.Equal(Value(1, 7), v);
        }
        File.Delete(path);
        Assert.Equal(MapStatus.ENOENT, BpfMap.Open(path, MapFlags.None, out _));
    }

    [Fact]
    public void PinAndOpenAnswerTheKernelsErrnos()
    {
        using var a = Shared();
        using var priv = Hash();
        string path = PathOf("m");
        Assert.Equal(MapStatus.Ok, a.Pin(path));
        Assert.Equal(MapStatus.EEXIST, a.Pin(path));
        Assert.Equal(MapStatus.ENOENT, a.Pin(PathOf("no/such/dir")));
        Assert.Equal(MapStatus.EFAULT, a.Pin(null));
        Assert.Equal(MapStatus.EOPNOTSUPP, priv.Pin(PathOf("p")));
        Assert.Equal(MapStatus.EEXIST, priv.Pin(path));              // the path checks come first, as the kernel's
        Assert.Equal(MapStatus.ENOENT, priv.Pin(PathOf("no/such/dir")));
        Assert.Equal(MapStatus.ENOENT, BpfMap.Open(PathOf("missing"), MapFlags.None, out _));
        Assert.Equal(MapStatus.EINVAL, BpfMap.Open(path, MapFlags.ReadOnly | MapFlags.WriteOnly, out _));
        Assert.Equal(MapStatus.EINVAL, BpfMap.Open(path, MapFlags.NoPrealloc, out _));
        Assert.Equal(MapStatus.EFAULT, BpfMap.Open(null, MapFlags.None, out _));
        File.WriteAllText(PathOf("text"), "not a map");
        Assert.Equal(MapStatus.EACCES, BpfMap.Open(PathOf("text"), MapFlags.None, out _)); // no map behind it (kernel: EACCES)
        Assert.Equal(MapStatus.EACCES, BpfMap.Open(_dir, MapFlags.None, out _));
        a.Dispose();
        Assert.Equal(MapStatus.EINVAL, a.Pin(PathOf("late")));    // a bad fd: the kernel's EINVAL
    }

    [Fact]
    public void ASecondPathKeepsTheMapAndAMapWithNoPathLeftCannotBePinnedAgain()
    {
        using var a = Shared();
        Assert.Equal(MapStatus.Ok, a.Pin(PathOf("one")));
        Assert.Equal(MapStatus.Ok, a.Pin(PathOf("two")));
        File.Delete(PathOf("one"));
        using (var b = BpfMap.Open(PathOf("two")))
            Assert.Equal(MapStatus.Ok, b.Update(Key(1), Value(1, 1)));
        File.Delete(PathOf("two"));
        Assert.Equal(MapStatus.ENOENT, a.Pin(PathOf("three")));       // FastMap's difference (BpfMap.Pin remarks)
        Assert.Equal(MapStatus.EINVAL, a.Pin(PathOf("nul\0name")));
        var v = new byte[32];
        Assert.Equal(MapStatus.Ok, a.Lookup(Key(1), v));            // the creator's handle keeps the map
    }

    [Fact]
    public void CreationAccessFlagsLimitOnlyTheCreatorsHandle()
    {
        using var a = Shared(flags: MapFlags.ReadOnly);
        Assert.Equal(MapStatus.EPERM, a.Update(Key(1), Value(1, 1)));
        Assert.Equal(MapStatus.Ok, a.Pin(PathOf("m")));
        using var b = BpfMap.Open(PathOf("m"));
        Assert.Equal(MapStatus.Ok, b.Update(Key(1), Value(1, 1)));   // as the kernel's: a pin does not keep the fd's mode
        var v = new byte[32];
        Assert.Equal(MapStatus.Ok, a.Lookup(Key(1), v));
    }

    [Fact]
    public void ReadOnlyHandleReadsButCannotWriteAndWriteOnlyHandleCannotRead()
    {
        using var a = Shared();
        Assert.Equal(MapStatus.Ok, a.Update(Key(1), Value(1, 1)));
        Assert.Equal(MapStatus.Ok, a.Pin(PathOf("m")));
        using var ro = BpfMap.Open(PathOf("m"), MapFlags.ReadOnly);
        using var wo = BpfMap.Open(PathOf("m"), MapFlags.WriteOnly);
        var v = new byte[32];
        Assert.Equal(MapStatus.Ok, ro.Lookup(Key(1), v));
        Assert.Equal(MapStatus.EPERM, ro.Update(Key(2), v));
        Assert.Equal(MapStatus.EPERM, ro.Delete(Key(1)));
        Assert.Equal(MapStatus.EPERM, wo.Lookup(Key(1), v));
        Assert.Equal(MapStatus.Ok, wo.Update(Key(2), Value(2, 1)));
        Assert.Equal(MapStatus.Ok, ro.Lookup(Key(2), v));
    }

    [Theory]
    [InlineData(MapType.Hash)]
    [InlineData(MapType.LruHash)]
    [InlineData(MapType.PercpuHash)]
    public void EveryHashTypeCanBeShared(MapType type)
    {
        using var a = Shared(type: type, max: 1000);
        Assert.Equal(MapStatus.Ok, a.Pin(PathOf("m")));
        using var b = BpfMap.Open(PathOf("m"));
        Assert.Equal(type, b.Type);
        var v = new byte[a.ValueBufferSize];
        var w = new byte[a.ValueBufferSize];
        for (int i = 0; i < 2000; i++)
        {
            v.AsSpan().Fill((byte)i);
            MapStatus st = a.Update(Key(i), v);
            Assert.True(st == MapStatus.Ok || (type != MapType.LruHash && st == MapStatus.E2BIG), st.ToString());
        }
        int found = 0;
        for (int i = 0; i < 2000; i++)
        {
            if (b.Lookup(Key(i), w) == MapStatus.Ok)
            {
                found++;
                Assert.All(w, x => Assert.Equal((byte)i, x));
            }
        }
        Assert.Equal(1000, found);
    }

    [Fact]
    public void ArraysAndSpinLockValuesCannotBeShared()
    {
        Assert.Equal(MapStatus.EINVAL, BpfMap.Create(new MapDefinition(MapType.Array, 4, 8, 4) { Flags = MapFlags.Shared }, out _));
        Assert.Equal(MapStatus.EOPNOTSUPP, BpfMap.Create(new MapDefinition(MapType.Hash, 4, 8, 4) { Flags = MapFlags.Shared, SpinLockOffset = 0 }, out _));
    }
}
