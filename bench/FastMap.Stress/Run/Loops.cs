using System.Diagnostics;
using System.Runtime.CompilerServices;
using FastMap.Stress.Data;
using FastMap.Stress.Systems;

namespace FastMap.Stress.Run;

/// <summary>One loop iteration of a workload. A struct, so each (system, op) pair compiles to its own loop.</summary>
public interface IOp
{
    /// <summary>Runs iteration i; returns a value for the sink, or <see cref="Loops.Err"/> on an unexpected status.</summary>
    static abstract ulong Run<TMap>(ref TMap m, ThreadCtx c, int i) where TMap : struct, IMapUnderTest;
}

public struct LookupHitOp : IOp
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Run<TMap>(ref TMap m, ThreadCtx c, int i) where TMap : struct, IMapUnderTest =>
        m.Lookup(in c.Q[i], out Value32 v) == St.Ok ? v.Revision : Loops.Err;
}

public struct LookupMissOp : IOp
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Run<TMap>(ref TMap m, ThreadCtx c, int i) where TMap : struct, IMapUnderTest =>
        m.Lookup(in c.Q[i], out Value32 v) == St.ENOENT ? 1 : Loops.Err;
}

/// <summary>One call for <see cref="Workloads.BulkKeys"/> present keys of the thread's random order (a sliding window).</summary>
public struct BulkLookupOp : IOp
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Run<TMap>(ref TMap m, ThreadCtx c, int i) where TMap : struct, IMapUnderTest
    {
        int start = c.BulkNext;
        c.BulkNext = start + 2 * Workloads.BulkKeys <= c.QLen ? start + Workloads.BulkKeys : 0;
        return m.LookupBulk(c.Q.AsSpan(start, Workloads.BulkKeys), c.BulkValues, c.BulkResults) == Workloads.BulkKeys
            ? c.BulkValues[0].Revision : Loops.Err;
    }
}

public struct UpdateExistOp : IOp
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Run<TMap>(ref TMap m, ThreadCtx c, int i) where TMap : struct, IMapUnderTest
    {
        ulong r = ++c.QRev[i];
        Value32 v = Value32.Make(r);
        return m.Update(in c.Q[i], in v, Upd.Exist) == St.Ok ? r : Loops.Err;
    }
}

public struct CmpdelStaleOp : IOp
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Run<TMap>(ref TMap m, ThreadCtx c, int i) where TMap : struct, IMapUnderTest
    {
        Value32 wrong = Value32.Make(c.QRev[i] ^ (1UL << 63));
        return m.CompareAndDelete(in c.Q[i], in wrong) == St.EBUSY ? 1 : Loops.Err;
    }
}

public struct CmpdelMatchOp : IOp
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Run<TMap>(ref TMap m, ThreadCtx c, int i) where TMap : struct, IMapUnderTest
    {
        Value32 v = Value32.Make(c.QRev[i]);
        int a = m.CompareAndDelete(in c.Q[i], in v);
        int b = m.Insert(in c.Q[i], in v);
        return (a | b) == 0 ? v.Revision : Loops.Err;
    }
}

/// <summary>Compare-and-swap update of a present key on a revision that is not its own: -EBUSY, nothing written.</summary>
public struct CmpupdStaleOp : IOp
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Run<TMap>(ref TMap m, ThreadCtx c, int i) where TMap : struct, IMapUnderTest
    {
        Value32 wrong = Value32.Make(c.QRev[i] ^ (1UL << 63));
        return m.CompareAndUpdate(in c.Q[i], in wrong, in wrong) == St.EBUSY ? 1 : Loops.Err;
    }
}

/// <summary>Compare-and-swap update of an owned key on its current revision: the value is written (with the same
/// revision, so the next pass over the key matches again, and the map's contents stay as the other workloads expect).</summary>
public struct CmpupdMatchOp : IOp
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Run<TMap>(ref TMap m, ThreadCtx c, int i) where TMap : struct, IMapUnderTest
    {
        Value32 v = Value32.Make(c.QRev[i]);
        return m.CompareAndUpdate(in c.Q[i], in v, in v) == St.Ok ? v.Revision : Loops.Err;
    }
}

public struct ChurnOp : IOp
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Run<TMap>(ref TMap m, ThreadCtx c, int i) where TMap : struct, IMapUnderTest
    {
        KeySpace ks = c.Ks;
        int p = c.Owned[c.ChurnNext];
        if (++c.ChurnNext == c.Owned.Length) c.ChurnNext = 0;
        int start = ks.WindowStart(p);
        int del = p * ks.PartLength + start;
        int ins = ks.NextSlot(p);
        int a = m.Delete(in ks.Keys[del]);
        Value32 v = Value32.Make(ks.Revisions[ins]);
        int b = m.Insert(in ks.Keys[ins], in v);
        ks.SetWindowStart(p, start + 1 == ks.PartLength ? 0 : start + 1);
        return (a | b) == 0 ? 1 : Loops.Err;
    }
}

public static class Loops
{
    public const ulong Err = ulong.MaxValue;

    /// <summary>Every 64th iteration is timed on its own into the histogram (Stopwatch ticks are ns on Linux).</summary>
    public const int SampleEvery = 64;

    public static void Run<TMap>(ref TMap m, Workload w, ThreadCtx c, long warmupUntil, long deadline)
        where TMap : struct, IMapUnderTest
    {
        switch (w)
        {
            case Workload.LookupHit: Loop<TMap, LookupHitOp>(ref m, c, warmupUntil, deadline); break;
            case Workload.LookupMiss: Loop<TMap, LookupMissOp>(ref m, c, warmupUntil, deadline); break;
            case Workload.BulkLookup: Loop<TMap, BulkLookupOp>(ref m, c, warmupUntil, deadline); break;
            case Workload.UpdateExist: Loop<TMap, UpdateExistOp>(ref m, c, warmupUntil, deadline); break;
            case Workload.CmpdelStale: Loop<TMap, CmpdelStaleOp>(ref m, c, warmupUntil, deadline); break;
            case Workload.CmpdelMatch: Loop<TMap, CmpdelMatchOp>(ref m, c, warmupUntil, deadline); break;
            case Workload.CmpupdStale: Loop<TMap, CmpupdStaleOp>(ref m, c, warmupUntil, deadline); break;
            case Workload.CmpupdMatch: Loop<TMap, CmpupdMatchOp>(ref m, c, warmupUntil, deadline); break;
            case Workload.Churn: Loop<TMap, ChurnOp>(ref m, c, warmupUntil, deadline); break;
            default: throw new ArgumentOutOfRangeException(nameof(w));
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Loop<TMap, TOp>(ref TMap m, ThreadCtx c, long warmupUntil, long deadline)
        where TMap : struct, IMapUnderTest where TOp : struct, IOp
    {
        int n = c.QLen, i = 0;
        ulong sink = 0;
        long errors = 0, iterations = 0;
        while (Stopwatch.GetTimestamp() < warmupUntil)
            for (int k = 0; k < SampleEvery; k++)
            {
                sink ^= TOp.Run(ref m, c, i);
                if (++i == n) i = 0;
            }

        var hist = c.Hist;
        long alloc0 = GC.GetAllocatedBytesForCurrentThread();
        long start = Stopwatch.GetTimestamp(), t1;
        do
        {
            for (int k = 0; k < SampleEvery - 1; k++)
            {
                ulong r = TOp.Run(ref m, c, i);
                if (++i == n) i = 0;
                if (r == Err) errors++; else sink ^= r;
            }
            long t0 = Stopwatch.GetTimestamp();
            ulong rr = TOp.Run(ref m, c, i);
            t1 = Stopwatch.GetTimestamp();
            if (++i == n) i = 0;
            if (rr == Err) errors++; else sink ^= rr;
            hist.RecordValue(Math.Max(1, t1 - t0));
            iterations += SampleEvery;
        } while (t1 < deadline);
        // Added up: a measurement is several slices, interleaved with other systems' (Runner.MeasureInterleaved).
        c.AllocatedBytes += GC.GetAllocatedBytesForCurrentThread() - alloc0;
        c.StartTicks = start;
        c.EndTicks = t1;
        c.Iterations += iterations;
        c.Errors += errors;
        c.Sink ^= sink;
    }
}
