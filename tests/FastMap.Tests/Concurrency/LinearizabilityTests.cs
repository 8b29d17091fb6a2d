namespace FastMap.Tests.Concurrency;

/// <summary>
/// Concurrent histories of update (ANY/NOEXIST/EXIST), delete, compare-and-delete (8-byte revision
/// at offset 0) and lookup on a small hash map, each checked against the sequential model for the
/// same statuses and values. Small key sets and max_entries make -E2BIG, -EBUSY and -EEXIST common.
/// </summary>
public sealed class LinearizabilityTests
{
    private const ulong KeyBase = 0x5EED_0000;

    [Theory]
    [Trait("Category", "Stress")]
    [InlineData(2, 12, 4, 2, 300)]
    [InlineData(3, 7, 4, 2, 300)]
    [InlineData(3, 8, 3, 3, 200)]
    [InlineData(4, 6, 5, 3, 150)]
    public void ConcurrentHistoriesOfEveryWriteAndLookupAreLinearizable(int threads, int opsPerThread, int keys, int maxEntries, int histories)
    {
        for (int h = 0; h < histories; h++)
        {
            int seed = h * 7919 + threads * 31 + keys;
            RunOne(seed, threads, opsPerThread, keys, maxEntries, batched: false);
        }
    }

    /// <summary>
    /// The same histories with the batch commands: two consecutive compare-and-deletes, deletes or
    /// plain updates of a thread go as one batch call. Each element of a batch is its own atomic
    /// operation, somewhere inside the call, so both get the call's interval (the checker may then
    /// order them either way: a weaker constraint than the batch's real order, so a reported
    /// violation is real). Delete and update batches stop at the first error; the elements after it
    /// never ran and leave the history.
    /// </summary>
    [Theory]
    [Trait("Category", "Stress")]
    [InlineData(2, 12, 4, 2, 300)]
    [InlineData(3, 8, 3, 3, 200)]
    public void BatchElementsAreLinearizableOperations(int threads, int opsPerThread, int keys, int maxEntries, int histories)
    {
        for (int h = 0; h < histories; h++)
        {
            int seed = h * 6007 + threads * 37 + keys;
            RunOne(seed, threads, opsPerThread, keys, maxEntries, batched: true);
        }
    }

    private static void RunOne(int seed, int threads, int opsPerThread, int keys, int maxEntries, bool batched)
    {
        var rng = new Random(seed);
        using BpfMap map = Maps.Hash((uint)maxEntries, 16);

        // Prefill: a random subset, at most max_entries keys.
        int initial = 0, filled = 0;
        for (int k = 0; k < keys && filled < maxEntries; k++)
        {
            if (rng.Next(2) == 0)
                continue;
            int rev = rng.Next(1, 4);
            Assert.Equal(MapStatus.Ok, map.Update(KeyBase + (ulong)k, Value(k, rev)));
            initial |= rev << k * 3;
            filled++;
        }

        var plans = new HistoryOp[threads][];
        for (int t = 0; t < threads; t++)
        {
            var tr = new Random(seed * 131 + t);
            plans[t] = new HistoryOp[opsPerThread];
            for (int i = 0; i < opsPerThread; i++)
            {
                int roll = tr.Next(100);
                plans[t][i] = new HistoryOp
                {
                    Thread = t,
                    Key = tr.Next(keys),
                    Kind = roll < 35 ? OpKind.Update : roll < 48 ? OpKind.Delete : roll < 64 ? OpKind.CompareAndDelete
                        : roll < 80 ? OpKind.CompareAndUpdate : OpKind.Lookup,
                    Flags = (ElemFlags)tr.Next(3),
                    Rev = tr.Next(1, 4),
                    Expect = tr.Next(1, 4),
                };
            }
        }

        long clock = 0;
        var spins = new int[threads][];
        for (int t = 0; t < threads; t++)
        {
            var sr = new Random(seed * 17 + t);
            spins[t] = Enumerable.Range(0, opsPerThread).Select(_ => sr.Next(0, 40)).ToArray();
        }
        Threads.Run(threads, t =>
        {
            HistoryOp[] plan = plans[t];
            for (int i = 0; i < plan.Length; i++)
            {
                Thread.SpinWait(spins[t][i]);
                if (batched && i + 1 < plan.Length && Batchable(plan[i], plan[i + 1]))
                    ExecuteBatch(map, plan[i], plan[++i], ref clock);
                else
                    Execute(map, plan[i], ref clock);
            }
        });

        // Final state: sequential lookups of every key, after every concurrent call returned.
        var history = plans.SelectMany(p => p).Where(o => o.Invoke != 0).ToList();
        for (int k = 0; k < keys; k++)
        {
            var op = new HistoryOp { Thread = -1, Kind = OpKind.Lookup, Key = k };
            Execute(map, op, ref clock);
            history.Add(op);
        }
        int live = history.Count(o => o.Thread == -1 && o.Status == MapStatus.Ok);
        Assert.Equal(live, map.Count);

        Assert.True(LinearizabilityChecker.IsLinearizable(history, initial, maxEntries),
            $"not linearizable (seed {seed}, {threads} threads, {keys} keys, max_entries {maxEntries}):\n"
            + LinearizabilityChecker.Describe(history, initial));
    }

    private static void Execute(BpfMap map, HistoryOp op, ref long clock)
    {
        ulong key = KeyBase + (ulong)op.Key;
        op.Invoke = Interlocked.Increment(ref clock);
        switch (op.Kind)
        {
            case OpKind.Update:
                op.Status = map.Update(key, Value(op.Key, op.Rev), op.Flags);
                break;
            case OpKind.Delete:
                op.Status = map.Delete(key);
                break;
            case OpKind.CompareAndDelete:
                op.Status = map.CompareAndDelete(key, (ulong)op.Rev, 0);
                break;
            case OpKind.CompareAndUpdate:
                op.Status = map.CompareAndUpdate(key, Value(op.Key, op.Rev), (ulong)op.Expect, 0);
                break;
            default:
                op.Status = map.Lookup(key, out (ulong Rev, ulong Key) v);
                op.ReadRev = op.Status != MapStatus.Ok ? 0 : v.Key == key && v.Rev is >= 1 and <= 7 ? (int)v.Rev : -1;
                break;
        }
        op.Return = Interlocked.Increment(ref clock);
    }

    private static bool Batchable(HistoryOp a, HistoryOp b) =>
        a.Kind == b.Kind && a.Kind switch
        {
            OpKind.CompareAndDelete or OpKind.CompareAndUpdate or OpKind.Delete => true,
            OpKind.Update => a.Flags == ElemFlags.Any && b.Flags == ElemFlags.Any, // UPDATE_BATCH takes no NOEXIST/EXIST
            _ => false,
        };

    private static void ExecuteBatch(BpfMap map, HistoryOp a, HistoryOp b, ref long clock)
    {
        ulong[] keys = [KeyBase + (ulong)a.Key, KeyBase + (ulong)b.Key];
        long invoke = Interlocked.Increment(ref clock);
        int done;
        MapStatus st;
        switch (a.Kind)
        {
            case OpKind.CompareAndDelete:
                var results = new MapStatus[2];
                st = map.CompareAndDeleteBatch<ulong, ulong>(keys, [(ulong)a.Rev, (ulong)b.Rev], 0, results, out done);
                Assert.Equal((MapStatus.Ok, 2), (st, done));
                (a.Status, b.Status) = (results[0], results[1]);
                break;
            case OpKind.CompareAndUpdate:
                var swapped = new MapStatus[2];
                st = map.CompareAndUpdateBatch<ulong, (ulong, ulong), ulong>(keys, [Value(a.Key, a.Rev), Value(b.Key, b.Rev)],
                    [(ulong)a.Expect, (ulong)b.Expect], 0, swapped, out done);
                Assert.Equal((MapStatus.Ok, 2), (st, done));
                (a.Status, b.Status) = (swapped[0], swapped[1]);
                break;
            case OpKind.Delete:
                st = map.DeleteBatch<ulong>(keys, out done);
                (a.Status, b.Status) = done == 2 ? (MapStatus.Ok, MapStatus.Ok) : done == 1 ? (MapStatus.Ok, st) : (st, st);
                break;
            default:
                st = map.UpdateBatch<ulong, (ulong, ulong)>(keys, [Value(a.Key, a.Rev), Value(b.Key, b.Rev)], out done);
                (a.Status, b.Status) = done == 2 ? (MapStatus.Ok, MapStatus.Ok) : done == 1 ? (MapStatus.Ok, st) : (st, st);
                break;
        }
        long ret = Interlocked.Increment(ref clock);
        a.Invoke = invoke;
        a.Return = ret;
        if (a.Kind is OpKind.CompareAndDelete or OpKind.CompareAndUpdate || done >= 1)
        {
            b.Invoke = invoke;                        // the second element ran (else it stays out of the history)
            b.Return = ret;
        }
    }

    private static (ulong Rev, ulong Key) Value(int key, int rev) => ((ulong)rev, KeyBase + (ulong)key);

    [Fact]
    public void TheCheckerRejectsANonLinearizableHistory()
    {
        // Sanity check of the checker itself: a lookup that returns after a completed delete
        // began, and still sees the key, is not linearizable.
        var ops = new List<HistoryOp>
        {
            new() { Kind = OpKind.Delete, Key = 0, Invoke = 1, Return = 2, Status = MapStatus.Ok },
            new() { Kind = OpKind.Lookup, Key = 0, Invoke = 3, Return = 4, Status = MapStatus.Ok, ReadRev = 1 },
        };
        Assert.False(LinearizabilityChecker.IsLinearizable(ops, initial: 1, maxEntries: 2));
        ops[1].Invoke = 0; // overlapping: the lookup may come first
        Assert.True(LinearizabilityChecker.IsLinearizable(ops, initial: 1, maxEntries: 2));
        // Two compare-and-deletes of the same revision cannot both succeed, in any order.
        var twice = new List<HistoryOp>
        {
            new() { Kind = OpKind.CompareAndDelete, Key = 0, Rev = 1, Invoke = 1, Return = 4, Status = MapStatus.Ok },
            new() { Kind = OpKind.CompareAndDelete, Key = 0, Rev = 1, Invoke = 2, Return = 3, Status = MapStatus.Ok },
        };
        Assert.False(LinearizabilityChecker.IsLinearizable(twice, initial: 1, maxEntries: 2));
        // Two compare-and-swaps from revision 1 cannot both succeed (the second would find revision 2 or 3)...
        var swaps = new List<HistoryOp>
        {
            new() { Kind = OpKind.CompareAndUpdate, Key = 0, Expect = 1, Rev = 2, Invoke = 1, Return = 4, Status = MapStatus.Ok },
            new() { Kind = OpKind.CompareAndUpdate, Key = 0, Expect = 1, Rev = 3, Invoke = 2, Return = 3, Status = MapStatus.Ok },
        };
        Assert.False(LinearizabilityChecker.IsLinearizable(swaps, initial: 1, maxEntries: 2));
        // ...but one that expects the other's revision may follow it.
        swaps[1].Expect = 2;
        Assert.True(LinearizabilityChecker.IsLinearizable(swaps, initial: 1, maxEntries: 2));
    }
}
