using System.Text;

namespace FastMap.Tests.Concurrency;

internal enum OpKind { Update, Delete, CompareAndDelete, CompareAndUpdate, Lookup }

/// <summary>One completed call: what was asked, what came back, and its logical invoke/return ticks.</summary>
internal sealed class HistoryOp
{
    public int Thread;
    public OpKind Kind;
    public int Key;
    public ElemFlags Flags;
    public int Rev;            // Update, CompareAndUpdate: the new revision; CompareAndDelete: the expected one
    public int Expect;         // CompareAndUpdate: the expected revision
    public long Invoke;
    public long Return;
    public MapStatus Status;
    public int ReadRev;        // Lookup Ok: the revision read (-1: bytes did not encode the key)

    public override string ToString() => Kind switch
    {
        OpKind.Update => $"T{Thread} [{Invoke},{Return}] Update(k{Key}, rev {Rev}, {Flags}) = {Status}",
        OpKind.Delete => $"T{Thread} [{Invoke},{Return}] Delete(k{Key}) = {Status}",
        OpKind.CompareAndDelete => $"T{Thread} [{Invoke},{Return}] CompareAndDelete(k{Key}, rev {Rev}) = {Status}",
        OpKind.CompareAndUpdate => $"T{Thread} [{Invoke},{Return}] CompareAndUpdate(k{Key}, rev {Expect} -> {Rev}) = {Status}",
        _ => $"T{Thread} [{Invoke},{Return}] Lookup(k{Key}) = {Status}" + (Status == MapStatus.Ok ? $" rev {ReadRev}" : ""),
    };
}

/// <summary>
/// Wing &amp; Gong's linearizability check with Lowe's memo: searches for an order of the calls that
/// respects real time (a call that returned before another was invoked comes first) and in which the
/// sequential model gives every call the status (and lookup revision) it really got.
/// </summary>
/// <remarks>Model state: 3 bits per key (0 = absent, else the revision 1..7), at most 10 keys.</remarks>
internal static class LinearizabilityChecker
{
    public static int Apply(int state, HistoryOp op, int maxEntries, out MapStatus status, out int readRev)
    {
        int shift = op.Key * 3;
        int cur = state >> shift & 7;
        readRev = 0;
        switch (op.Kind)
        {
            case OpKind.Update:
                if (cur != 0)
                {
                    status = op.Flags == ElemFlags.NoExist ? MapStatus.EEXIST : MapStatus.Ok;
                    return status == MapStatus.Ok ? (state & ~(7 << shift)) | op.Rev << shift : state;
                }
                if (op.Flags == ElemFlags.Exist)
                {
                    status = MapStatus.ENOENT;
                    return state;
                }
                status = Count(state) >= maxEntries ? MapStatus.E2BIG : MapStatus.Ok;
                return status == MapStatus.Ok ? state | op.Rev << shift : state;
            case OpKind.Delete:
                status = cur != 0 ? MapStatus.Ok : MapStatus.ENOENT;
                return state & ~(7 << shift);
            case OpKind.CompareAndDelete:
                status = cur == 0 ? MapStatus.ENOENT : cur != op.Rev ? MapStatus.EBUSY : MapStatus.Ok;
                return status == MapStatus.Ok ? state & ~(7 << shift) : state;
            case OpKind.CompareAndUpdate:
                status = cur == 0 ? MapStatus.ENOENT : cur != op.Expect ? MapStatus.EBUSY : MapStatus.Ok;
                return status == MapStatus.Ok ? (state & ~(7 << shift)) | op.Rev << shift : state;
            default:
                status = cur != 0 ? MapStatus.Ok : MapStatus.ENOENT;
                readRev = cur;
                return state;
        }
    }

    private static int Count(int state)
    {
        int n = 0;
        for (; state != 0; state >>= 3)
            n += (state & 7) != 0 ? 1 : 0;
        return n;
    }

    /// <summary>True if the history is linearizable from <paramref name="initial"/>.</summary>
    public static bool IsLinearizable(IReadOnlyList<HistoryOp> ops, int initial, int maxEntries)
    {
        if (ops.Count > 64)
            throw new ArgumentException("at most 64 calls per history");
        var memo = new HashSet<(ulong, int)>();
        ulong full = ops.Count == 64 ? ulong.MaxValue : (1ul << ops.Count) - 1;
        return Search(0, initial);

        bool Search(ulong done, int state)
        {
            if (done == full)
                return true;
            if (!memo.Add((done, state)))
                return false;
            long firstReturn = long.MaxValue;
            for (int i = 0; i < ops.Count; i++)
                if ((done & 1ul << i) == 0)
                    firstReturn = Math.Min(firstReturn, ops[i].Return);
            for (int i = 0; i < ops.Count; i++)
            {
                HistoryOp op = ops[i];
                // Minimal: invoked before every pending call returned.
                if ((done & 1ul << i) != 0 || op.Invoke > firstReturn)
                    continue;
                int next = Apply(state, op, maxEntries, out MapStatus st, out int rr);
                if (st != op.Status || (op.Kind == OpKind.Lookup && st == MapStatus.Ok && rr != op.ReadRev))
                    continue;
                if (Search(done | 1ul << i, next))
                    return true;
            }
            return false;
        }
    }

    public static string Describe(IEnumerable<HistoryOp> ops, int initial)
    {
        var sb = new StringBuilder();
        sb.Append("initial:");
        for (int k = 0; k < 10; k++)
            if ((initial >> k * 3 & 7) != 0)
                sb.Append($" k{k}=rev{initial >> k * 3 & 7}");
        sb.AppendLine();
        foreach (HistoryOp op in ops.OrderBy(o => o.Invoke))
            sb.AppendLine(op.ToString());
        return sb.ToString();
    }
}
