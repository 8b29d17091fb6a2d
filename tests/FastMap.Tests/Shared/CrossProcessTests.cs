using System.Diagnostics;
using FastMap.Tests.Concurrency;
using static FastMap.Tests.Engine.TestMaps;

namespace FastMap.Tests.Shared;

/// <summary>A shared map used by this process and a second one (tests/FastMap.SharedPeer): the same answers as in one
/// process, histories that stay linearizable across the two, and a process killed at chosen points of every
/// operation (<c>FASTMAP_TEST_PARK</c>) leaving the map whole for the survivor.</summary>
[Collection("processes")]
public sealed class CrossProcessTests : IDisposable
{
    private readonly string _dir = Directory.CreateDirectory($"/dev/shm/fm-xproc-{Environment.ProcessId}-{Guid.NewGuid():N}").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private (BpfMap Map, string Path) Pinned(uint max)
    {
        BpfMap m = SharedMapTests.Shared(max: max);
        string path = System.IO.Path.Combine(_dir, "m");
        Assert.Equal(MapStatus.Ok, m.Pin(path));
        return (m, path);
    }

    [Fact]
    public void TwoProcessesSeeOneMapWithOneCapacity()
    {
        (BpfMap m, string path) = Pinned(8);
        using var _ = m;
        using var peer = Peer.Start();
        Assert.Equal(MapStatus.Ok, peer.Status($"open {path}"));
        for (int k = 0; k < 4; k++)
            Assert.Equal(MapStatus.Ok, m.Update(Key(k), Value(k, 1)));
        for (int k = 0; k < 4; k++)
            Assert.Equal("0 1", peer.Send($"get {k}"));
        for (int k = 4; k < 8; k++)
            Assert.Equal(MapStatus.Ok, peer.Status($"upd {k} 2"));
        Assert.Equal(MapStatus.E2BIG, m.Update(Key(8), Value(8, 1)));
        Assert.Equal(MapStatus.E2BIG, peer.Status("upd 9 1"));
        Assert.Equal(MapStatus.Ok, peer.Status("del 0"));
        Assert.Equal(MapStatus.Ok, m.Update(Key(8), Value(8, 1)));
        Assert.Equal(MapStatus.EBUSY, peer.Status("cmpdel 1 9"));
        Assert.Equal(MapStatus.Ok, peer.Status("cmpdel 1 1"));
        var v = new byte[32];
        Assert.Equal(MapStatus.ENOENT, m.Lookup(Key(1), v));
        Assert.Equal(MapStatus.Ok, peer.Status("cmpupd 4 2 3"));
        Assert.Equal(MapStatus.Ok, m.Lookup(Key(4), v));
        Assert.Equal(Value(4, 3), v);
        Assert.Equal("7", peer.Send("count"));
        Assert.Equal(7, m.Count);
    }

    /// <summary>Rounds of ~28 operations a process (the checker takes 64 calls a history), both processes released at
    /// one Stopwatch tick (CLOCK_MONOTONIC, one clock for the machine), each round starting from the last one's state.</summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void HistoriesOfTwoProcessesAreLinearizable(int seed)
    {
        const int keys = 4, ops = 28, rounds = 12;
        const uint max = 3;
        (BpfMap m, string path) = Pinned(max);
        using var _ = m;
        using var peer = Peer.Start();
        Assert.Equal(MapStatus.Ok, peer.Status($"open {path}"));
        var v = new byte[32];
        int initial = 0;
        for (int round = 0; round < rounds; round++)
        {
            var history = new List<HistoryOp>();
            long start = Stopwatch.GetTimestamp() + Stopwatch.Frequency / 20;
            peer.Post($"hist {seed * 1000 + round} {ops} {keys} {start}");
            var rng = new Random(seed * 7919 + round);
            while (Stopwatch.GetTimestamp() < start)
                Thread.SpinWait(10);
            for (int i = 0; i < ops; i++)
            {
                Thread.SpinWait(rng.Next(0, 400));
                int k = rng.Next(keys), kind = rng.Next(5), arg = rng.Next(1, 4);
                var op = Describe(0, kind, k, arg);
                op.Invoke = Stopwatch.GetTimestamp();
                op.Status = kind switch
                {
                    0 => m.Update(Key(k), Value(k, (ulong)arg)),
                    1 => m.Lookup(Key(k), v),
                    2 => m.Delete(Key(k)),
                    3 => m.CompareAndDelete(Key(k), Rev((ulong)arg), 0),
                    _ => m.Update(Key(k), Value(k, (ulong)arg), ElemFlags.NoExist),
                };
                op.Return = Stopwatch.GetTimestamp();
                if (kind == 1 && op.Status == MapStatus.Ok)
                    op.ReadRev = (int)BitConverter.ToUInt64(v);
                history.Add(op);
            }
            for (string line; (line = peer.ReadLine()) != "end";)
            {
                string[] f = line.Split(' ');   // H op k arg result rev invoke response
                var op = Describe(1, int.Parse(f[1]), int.Parse(f[2]), int.Parse(f[3]));
                op.Status = (MapStatus)int.Parse(f[4]);
                op.ReadRev = op.Kind == OpKind.Lookup && op.Status == MapStatus.Ok ? int.Parse(f[5]) : 0;
                op.Invoke = long.Parse(f[6]);
                op.Return = long.Parse(f[7]);
                history.Add(op);
            }
            int next = 0;
            for (int k = 0; k < keys; k++)
            {
                var op = new HistoryOp { Thread = -1, Kind = OpKind.Lookup, Key = k, Invoke = Stopwatch.GetTimestamp() };
                op.Status = m.Lookup(Key(k), v);
                op.Return = Stopwatch.GetTimestamp();
                op.ReadRev = op.Status == MapStatus.Ok ? (int)BitConverter.ToUInt64(v) : 0;
                next |= op.ReadRev << (3 * k);
                history.Add(op);
            }
            Assert.True(LinearizabilityChecker.IsLinearizable(history, initial, (int)max),
                $"not linearizable across processes (seed {seed}, round {round}):\n" + LinearizabilityChecker.Describe(history, initial));
            initial = next;
        }
    }

    /// <summary>
    /// The gc race across processes: the peer refreshes every key's revision (compare-and-swap, logged with the tick
    /// each completed at) while this process collects with compare-and-delete on the revisions it snapshotted. A delete
    /// that succeeded after a refresh of that revision had completed would have killed a live entry: there must be none.
    /// </summary>
    [Fact]
    public void CollectorInOneProcessNeverDeletesWhatTheDatapathInAnotherRefreshed()
    {
        const int keys = 64;
        (BpfMap m, string path) = Pinned(256);
        using var _ = m;
        for (int k = 0; k < keys; k++)
            Assert.Equal(MapStatus.Ok, m.Update(Key(k), Value(k, 1)));
        using var peer = Peer.Start();
        Assert.Equal(MapStatus.Ok, peer.Status($"open {path}"));
        peer.Post($"refreshlog 400 {keys}");
        var deletes = new List<(int Key, ulong Rev, long Invoke)>();
        var snapshot = new ulong[keys];
        var v = new byte[32];
        for (int pass = 0; pass < 60; pass++)
        {
            for (int k = 0; k < keys; k++)
                snapshot[k] = m.Lookup(Key(k), v) == MapStatus.Ok ? BitConverter.ToUInt64(v) : 0;
            for (int k = 0; k < keys; k++)
            {
                if (snapshot[k] == 0 || (k + pass) % 3 != 0)
                    continue;                                   // a third judged stale each pass
                long invoke = Stopwatch.GetTimestamp();
                if (m.CompareAndDelete(Key(k), Rev(snapshot[k]), 0) == MapStatus.Ok)
                {
                    deletes.Add((k, snapshot[k], invoke));
                    // Back with a revision no refresh can reach in this test (refreshes add one).
                    Assert.Equal(MapStatus.Ok, m.Update(Key(k), Value(k, 1_000_000ul * (ulong)(pass + 1) + (ulong)k)));
                }
            }
        }
        var refreshed = new Dictionary<(int, ulong), long>();
        for (string line; (line = peer.ReadLine()) != "end";)
        {
            string[] f = line.Split(' ');   // R k from completed
            refreshed[(int.Parse(f[1]), ulong.Parse(f[2]))] = long.Parse(f[3]);
        }
        Assert.NotEmpty(deletes);
        Assert.NotEmpty(refreshed);
        var wrong = deletes.Where(d => refreshed.TryGetValue((d.Key, d.Rev), out long done) && done < d.Invoke).ToList();
        Assert.True(wrong.Count == 0, $"{wrong.Count} live entries deleted, e.g. key {wrong.FirstOrDefault().Key} rev {wrong.FirstOrDefault().Rev}");
    }

    /// <summary>The kernel's answers, op for op, against a shared map written by two processes: each random command runs
    /// on a kernel hash map here and on the FastMap map either here or in the peer.</summary>
    [KernelFact]
    public void TwoProcessesOnOneSharedMapAnswerAsOneKernelMap()
    {
        const int keys = 12;
        const uint max = 8;
        (BpfMap m, string path) = Pinned(max);
        using var _ = m;
        int kfd = FastMap.Kernel.KernelBpf.CreateMap((uint)MapType.Hash, 16, 32, max);
        Assert.True(kfd >= 0, $"kernel map: {kfd}");
        try
        {
            using var peer = Peer.Start();
            Assert.Equal(MapStatus.Ok, peer.Status($"open {path}"));
            var rng = new Random(42);
            var kv = new byte[32];
            var fv = new byte[32];
            for (int i = 0; i < 600; i++)
            {
                int k = rng.Next(keys), op = rng.Next(5);
                ulong rev = (ulong)rng.Next(1, 1000);
                bool there = rng.Next(2) == 0;
                int kernel;
                string mine;
                switch (op)
                {
                    case 0 or 1 or 2:
                        var flags = (ElemFlags)op;
                        kernel = FastMap.Kernel.KernelBpf.Update(kfd, Key(k), Value(k, rev), (ulong)flags);
                        mine = there ? peer.Send($"upd {k} {rev} {op}") : ((int)m.Update(Key(k), Value(k, rev), flags)).ToString();
                        break;
                    case 3:
                        kernel = FastMap.Kernel.KernelBpf.Delete(kfd, Key(k));
                        mine = there ? peer.Send($"del {k}") : ((int)m.Delete(Key(k))).ToString();
                        break;
                    default:
                        kernel = FastMap.Kernel.KernelBpf.Lookup(kfd, Key(k), kv);
                        if (there)
                            mine = peer.Send($"get {k}");
                        else
                        {
                            MapStatus st = m.Lookup(Key(k), fv);
                            mine = $"{(int)st} {BitConverter.ToUInt64(fv)}";
                        }
                        string expect = $"{kernel} {(kernel == 0 ? BitConverter.ToUInt64(kv) : BitConverter.ToUInt64(fv))}";
                        if (kernel != 0)
                            mine = mine.Split(' ')[0] + " " + expect.Split(' ')[1];   // no value to compare on a miss
                        Assert.True(expect == mine, $"op {i}: lookup k{k} ({(there ? "peer" : "here")}): kernel {expect}, FastMap {mine}");
                        continue;
                }
                Assert.True(kernel.ToString() == mine, $"op {i}: op {op} k{k} ({(there ? "peer" : "here")}): kernel {kernel}, FastMap {mine}");
            }
        }
        finally
        {
            FastMap.Kernel.KernelBpf.Close(kfd);
        }
    }

    private static HistoryOp Describe(int thread, int kind, int k, int arg) => kind switch
    {
        0 => new HistoryOp { Thread = thread, Kind = OpKind.Update, Key = k, Rev = arg, Flags = ElemFlags.Any },
        1 => new HistoryOp { Thread = thread, Kind = OpKind.Lookup, Key = k },
        2 => new HistoryOp { Thread = thread, Kind = OpKind.Delete, Key = k },
        3 => new HistoryOp { Thread = thread, Kind = OpKind.CompareAndDelete, Key = k, Rev = arg },
        _ => new HistoryOp { Thread = thread, Kind = OpKind.Update, Key = k, Rev = arg, Flags = ElemFlags.NoExist },
    };

    /// <summary>
    /// A process killed at <paramref name="point"/> of the operation <paramref name="command"/>: the survivor's own
    /// operations on the same key and group go on (recovery takes the dead process's locks back), the key ends as
    /// if the killed operation had happened or had not (<paramref name="after"/>: its revision, 0 for absent), never
    /// in between, and no capacity is lost: the map still takes exactly max_entries keys.
    /// </summary>
    [Theory]
    [InlineData(SharedPoint.GroupLocked, "upd 3 5", 1)]
    [InlineData(SharedPoint.ValueOdd, "upd 3 5", 1)]      // undone from the dead writer's copy
    [InlineData(SharedPoint.Unlinked, "del 3", 0)]
    [InlineData(SharedPoint.TokenTaken, "upd 3 5 1", 1)]  // an insert of key 9 is below; key 3 unchanged
    [InlineData(SharedPoint.ShardLocked, "upd 9 5", 1)]
    [InlineData(SharedPoint.Published, "upd 9 5", 1)]
    [InlineData(SharedPoint.InSection, "ptr 3", 1)]
    public void KilledAtAnyPointTheSurvivorGoesOnAndNothingIsLost(SharedPoint point, string command, int after)
    {
        const uint max = 16;
        (BpfMap m, string path) = Pinned(max);
        using var _ = m;
        for (int k = 0; k < 8; k++)
            Assert.Equal(MapStatus.Ok, m.Update(Key(k), Value(k, 1)));
        using (var peer = Peer.Start(((int)point).ToString()))
        {
            Assert.Equal(MapStatus.Ok, peer.Status($"open {path}"));
            string cmd = point == SharedPoint.TokenTaken ? "upd 9 5" : command;
            peer.Post(cmd);
            Assert.Equal($"parked {(int)point}", peer.ReadLine());
            peer.Kill();
        }
        var v = new byte[32];
        MapStatus st = m.Lookup(Key(3), v);
        if (after == 0)
            Assert.Equal(MapStatus.ENOENT, st);
        else
        {
            Assert.Equal(MapStatus.Ok, st);
            Assert.Equal(Value(3, (ulong)after), v);          // whole: the old value, not half of the new one
        }
        // Key 9: present only if the killed insert published it.
        bool nine = m.Lookup(Key(9), v) == MapStatus.Ok;
        Assert.Equal(point == SharedPoint.Published, nine);
        // The survivor writes the dead process's key and group (a lock it held is taken back).
        Assert.Equal(MapStatus.Ok, m.Update(Key(3), Value(3, 7)));
        Assert.Equal(MapStatus.Ok, m.Delete(Key(3)));
        // Capacity: exactly max_entries keys fit.
        int present = 0;
        for (int k = 0; k < 64; k++)
            if (m.Lookup(Key(k), v) == MapStatus.Ok)
                present++;
        int added = 0;
        for (int k = 100; k < 200 && m.Update(Key(k), Value(k, 1), ElemFlags.NoExist) == MapStatus.Ok; k++)
            added++;
        Assert.Equal((int)max, present + added);
        Assert.Equal(MapStatus.E2BIG, m.Update(Key(300), Value(300, 1)));
        // Reclamation advances: a dead process's announcement holds nothing back.
        var domain = m.HashStore!.Shared!;
        long g = domain.Current;
        domain.TryAdvance();
        domain.TryAdvance();
        Assert.Equal(g + 2, domain.Current);
    }

    [Fact]
    public void ARecovererKilledWhileRecoveringIsRecoveredInTurn()
    {
        (BpfMap m, string path) = Pinned(16);
        using var _ = m;
        for (int k = 0; k < 8; k++)
            Assert.Equal(MapStatus.Ok, m.Update(Key(k), Value(k, 1)));
        using (var first = Peer.Start(((int)SharedPoint.ValueOdd).ToString()))
        {
            Assert.Equal(MapStatus.Ok, first.Status($"open {path}"));
            first.Post("upd 3 5");
            Assert.Equal("parked 1", first.ReadLine());
            first.Kill();
        }
        using (var second = Peer.Start(((int)SharedPoint.Recovering).ToString()))
        {
            second.Post($"open {path}");                      // its join recovers the first, and parks doing it
            Assert.Equal("parked 8", second.ReadLine());
            second.Kill();
        }
        var v = new byte[32];
        Assert.Equal(MapStatus.Ok, m.Update(Key(3), Value(3, 6), ElemFlags.Exist));
        Assert.Equal(MapStatus.Ok, m.Lookup(Key(3), v));
        Assert.Equal(Value(3, 6), v);
    }
}

/// <summary>The park points of <c>FASTMAP_TEST_PARK</c> (SharedDomain.ParkPoint), for test data.</summary>
public enum SharedPoint
{
    ValueOdd = 1, Unlinked = 2, TokenTaken = 3, Published = 4, InSection = 5, PoolLocked = 6, ShardLocked = 7, Recovering = 8,
    GroupLocked = 9,
}
