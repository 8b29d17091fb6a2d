namespace FastMap.Tests.Concurrency;

/// <summary>
/// Closing a map while other threads use it: nothing crashes, an operation either completes
/// normally or gets -EBADF, and once a thread saw -EBADF (or the close returned) every later
/// operation gets -EBADF. Batches included: a batch that spans the close stops with -EBADF when it
/// re-enters its section, with the count of what it did.
/// </summary>
[Collection(EpochSerialCollection.Name)]
public sealed class CloseWhileInUseTests
{
    [Fact]
    [Trait("Category", "Stress")]
    public void ClosingAMapWhileThreadsHammerItNeverCrashesAndLaterOpsGetEBADF()
    {
        const int maps = 60, hammers = 3;
        const uint max = 64;
        for (int m = 0; m < maps; m++)
        {
            BpfMap map = Maps.Hash(max);
            int handle = map.Handle;
            for (ulong k = 0; k < max; k += 2)
                Assert.Equal(MapStatus.Ok, map.Put(k, 0));
            long opsDone = 0;
            int closeAfter = 2000 + m * 97 % 3000;
            Threads.Run(hammers + 1, id =>
            {
                if (id == hammers)
                {
                    var spin = new SpinWait();
                    while (Interlocked.Read(ref opsDone) < closeAfter)
                        spin.SpinOnce();
                    map.Dispose();
                    // Try hard to free the table while the hammers are still in flight.
                    for (int i = 0; i < 8; i++)
                        FastMap.Internal.Epoch.Collect();
                    return;
                }
                var rng = new Random(m * 10 + id);
                bool closedSeen = false;
                for (int i = 0; i < 200_000; i++)
                {
                    MapStatus st = OneOp(map, rng, id);
                    Interlocked.Increment(ref opsDone);
                    if (closedSeen && st != MapStatus.EBADF)
                        Assert.Fail($"map {m} hammer {id} op {i}: {st} after an earlier -EBADF");
                    if (st == MapStatus.EBADF)
                    {
                        if (!closedSeen && !map.IsClosed)
                            Assert.Fail($"map {m} hammer {id} op {i}: -EBADF before the map was closed");
                        closedSeen = true;
                        if (i % 64 == 63)
                            break; // enough ops after the close
                    }
                }
                Assert.True(closedSeen, "the close never became visible to this thread");
            });

            Assert.True(map.IsClosed);
            var rng2 = new Random(m);
            for (int i = 0; i < 200; i++)
                Assert.Equal(MapStatus.EBADF, OneOp(map, rng2, 0));
            using (ReadSection.Enter())
                Assert.True(map.LookupInPlace(Maps.KeyBytes(0)).IsEmpty);
            Assert.NotSame(map, BpfMap.FromHandle(handle));
            map.Dispose(); // twice is fine
        }
    }

    /// <summary>One random command; returns its status (in-place reads return Ok, ENOENT or EBADF).</summary>
    private static MapStatus OneOp(BpfMap map, Random rng, int id)
    {
        ulong key = (ulong)rng.Next((int)map.MaxEntries);
        MapStatus st;
        int which = rng.Next(13);
        t_case = which;
        switch (which)
        {
            case 8:
            {
                // Batches long enough to leave and re-enter their section mid-call (every 256).
                ulong[] keys = Enumerable.Range(0, 300).Select(i => (key + (ulong)i) % (ulong)map.MaxEntries).ToArray();
                KeyedValue[] values = keys.Select(k => KeyedValue.For(k, (ulong)id)).ToArray();
                st = map.UpdateBatch<ulong, KeyedValue>(keys, values, out int done);
                Allowed(st, MapStatus.Ok, MapStatus.E2BIG);
                Assert.InRange(done, 0, 300);
                return st;
            }
            case 9:
            {
                ulong[] keys = Enumerable.Range(0, 300).Select(i => (ulong)rng.Next((int)map.MaxEntries)).ToArray();
                st = map.CompareAndDeleteBatch<ulong, ulong>(keys, keys.Select(_ => (ulong)id).ToArray(), 0, new MapStatus[300], out int done);
                Allowed(st, MapStatus.Ok);
                Assert.InRange(done, 0, 300);
                return st;
            }
            case 10:
            {
                st = map.DeleteBatch<ulong>([key, (key + 1) % (ulong)map.MaxEntries], out int done);
                Allowed(st, MapStatus.Ok, MapStatus.ENOENT);
                return st;
            }
            case 11:
            case 12:
            {
                // One scan call (lookup, or lookup-and-delete): every entry returned is whole.
                var cursor = new BatchCursor((uint)rng.Next(64));
                var keys = new ulong[16];
                var values = new KeyedValue[16];
                st = rng.Next(2) == 0
                    ? map.LookupBatch<ulong, KeyedValue>(ref cursor, keys, values, out int n)
                    : map.LookupAndDeleteBatch(ref cursor, System.Runtime.InteropServices.MemoryMarshal.AsBytes(keys.AsSpan()),
                        System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()), out n);
                Allowed(st, MapStatus.Ok, MapStatus.ENOENT, MapStatus.ENOSPC);
                for (int i = 0; i < n; i++)
                    if (!values[i].Encodes(keys[i]))
                        Assert.Fail($"batch scan returned key {keys[i]} with {values[i]}");
                return st == MapStatus.EBADF ? st : MapStatus.Ok;
            }
            case 0:
                st = map.Put(key, (ulong)id);
                Allowed(st, MapStatus.Ok, MapStatus.E2BIG);
                return st;
            case 1:
                st = map.Delete(key);
                Allowed(st, MapStatus.Ok, MapStatus.ENOENT);
                return st;
            case 2:
                st = map.CompareAndDelete(key, (ulong)id, 0);
                Allowed(st, MapStatus.Ok, MapStatus.ENOENT, MapStatus.EBUSY);
                return st;
            case 3:
                st = map.Get(key, out KeyedValue v);
                Allowed(st, MapStatus.Ok, MapStatus.ENOENT);
                if (st == MapStatus.Ok && !v.Encodes(key))
                    Assert.Fail($"lookup of key {key} read {v}");
                return st;
            case 4:
                st = map.LookupAndDelete(key, out KeyedValue d);
                Allowed(st, MapStatus.Ok, MapStatus.ENOENT);
                if (st == MapStatus.Ok && !d.Encodes(key))
                    Assert.Fail($"lookup-and-delete of key {key} read {d}");
                return st;
            case 5:
                Span<byte> next = stackalloc byte[8];
                st = map.GetNextKey(Maps.KeyBytes(key), next);
                Allowed(st, MapStatus.Ok, MapStatus.ENOENT);
                return st;
            default:
                // In place, inside a section that may span the close: the value keeps naming its key (an
                // update lands in place, a delete leaves the bytes; neither lets another key's bytes in).
                using (ReadSection.Enter())
                {
                    bool open = !map.IsClosed;
                    Span<byte> held = map.LookupInPlace(Maps.KeyBytes(key));
                    if (held.IsEmpty)
                        return map.IsClosed && !open ? MapStatus.EBADF : MapStatus.ENOENT;
                    if (KeyedValue.Read(held) is var first && (first.Key != key || first.NotKey != ~key))
                        Assert.Fail($"in-place value of key {key} holds {first}");
                    for (int i = 0; i < 16; i++)
                    {
                        Thread.SpinWait(20);
                        KeyedValue now = KeyedValue.Read(held);
                        if (now.Key != key || now.NotKey != ~key)
                            Assert.Fail($"in-place value of key {key} now holds {now} (closed: {map.IsClosed})");
                    }
                    return MapStatus.Ok;
                }
        }
    }

    [ThreadStatic] private static int t_case;

    private static void Allowed(MapStatus st, params MapStatus[] ok)
    {
        if (st != MapStatus.EBADF && Array.IndexOf(ok, st) < 0)
            Assert.Fail($"unexpected status {st} (case {t_case})");
    }
}
