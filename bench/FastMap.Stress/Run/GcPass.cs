using System.Diagnostics;
using System.Globalization;
using FastMap.Stress.Data;
using FastMap.Stress.Systems;

namespace FastMap.Stress.Run;

/// <summary>The collector's buffers at one size, shared by every system and pass there (at L about 230 MiB).</summary>
public sealed class GcPassBuffers
{
    // Scan snapshot: every entry, key and whole value (what a lookup batch copies out).
    public readonly Key16[] Keys;
    public readonly Value32[] Values;
    // The stale third: keys and snapshot revisions, back to back as the delete batch takes them. A third of a
    // 3/4 fill is a quarter of max_entries; a third of it leaves room for any hash skew.
    public readonly Key16[] Stale;
    public readonly ulong[] StaleRevisions;
    // Per delete batch: the revision each key's last completed refresh published, and the results.
    public readonly ulong[] Completed = new ulong[GcPass.DeleteBatch];
    public readonly int[] Results = new int[GcPass.DeleteBatch];

    public GcPassBuffers(int maxEntries)
    {
        Keys = new Key16[maxEntries];
        Values = new Value32[maxEntries];
        Stale = new Key16[maxEntries / 3 + GcPass.DeleteBatch];
        StaleRevisions = new ulong[maxEntries / 3 + GcPass.DeleteBatch];
        // Touch every page now: a fresh large array's pages fault in on first write, which cost the first pass
        // that used them 0.7 s at L here (a whole scan's worth), and whichever system came first would pay it.
        Keys.AsSpan().Clear();
        Values.AsSpan().Clear();
        Stale.AsSpan().Clear();
        StaleRevisions.AsSpan().Clear();
    }
}

/// <summary>One gc-pass run (one system, one round): the writer's control, the passes' rows and what went wrong.</summary>
/// <remarks><paramref name="remote"/> set: xproc-gc-pass, whose writer runs in the writer process and is started and
/// parked through it.</remarks>
public sealed class GcPassShared(KeySpace ks, GcPassBuffers buffers, double seconds, bool warmUp, double writerMops,
    IRemoteWriter? remote = null)
{
    public readonly KeySpace Ks = ks;
    public readonly GcPassBuffers Buf = buffers;
    public readonly Refresher? Writer = remote is null ? new(ks, inPlace: false) : null;
    internal readonly IRemoteWriter? Remote = remote;
    /// <summary>Passes go on while the run's wall time is under this (at least one is measured).</summary>
    public readonly double Seconds = seconds;
    /// <summary>Run one unmeasured pass first (JIT, caches, the map's allocator).</summary>
    public readonly bool WarmUp = warmUp;
    /// <summary>Stopwatch ticks per 64 refreshes for a paced writer; 0: unpaced.</summary>
    public readonly double TicksPer64 = writerMops > 0 ? 64 * Stopwatch.Frequency / (writerMops * 1e6) : 0;
    public readonly List<PassCounts> Passes = [];
    public long ScanErrors, ScanMismatches, CollectErrors, RestoreFailures, UnknownKeys, Absent;
    public int LastScanned, LastScanStatus;

    // The writer refreshes only while a pass is timed: it parks between passes, so the restore runs alone and the
    // writer's rate is the rate it kept up during the passes.
    internal readonly SemaphoreSlim Go = new(0), Parked = new(0);
    internal volatile bool Run, Stopping, Refreshing, WriterExited;
    internal Exception? WriterFault;
    internal long WindowOps, WindowTicks;
}

/// <summary>What one pass measured: the three timed phases and the outcome of every delete.</summary>
/// <remarks><c>RunNs</c>/<c>WaitNs</c>: the collector thread's time on a CPU and runnable but waiting for one during
/// the pass (<c>/proc/thread-self/schedstat</c>), which tells a pass slowed by other processes on a shared machine.</remarks>
public readonly record struct PassCounts(int Scanned, int Stale, int Deleted, int Busy, int Wrong,
    long ScanTicks, long DecideTicks, long DeleteTicks, long WriterOps, long WriterTicks, long RunNs, long WaitNs);

/// <summary>
/// gc-pass (the benchmark issue's GC pass over WORKLOADS.md's sizes): one writer refreshes random present keys with
/// update (a new revision each time) for the whole pass; one collector scans the whole map with the system's scan
/// (FastMap: <c>LookupBatch</c>), snapshotting key and revision, decides the stale third, and deletes it with the
/// system's collect call (FastMap: <c>CompareAndDeleteBatch</c> on the snapshot revision; the kernel: one
/// <c>BPF_MAP_DELETE_ELEM</c> per key, which has no compare).
/// </summary>
/// <remarks>
/// <para>
/// Timed: scan, decide and delete, each on its own clock; the pass's figure is entries deleted per second of their
/// sum. Not timed: reading the published revisions before each delete batch (the wrong-deletion check) and
/// restoring what was deleted after the pass, with the writer parked, so that every pass starts from the same fill.
/// </para>
/// <para>
/// Stale: <c>(key.A ^ key.B) % 3 == pass % 3</c>, the same third in every system for a given pass. A deletion is
/// counted wrong when a refresh newer than the snapshot had <em>completed</em> (its revision published) before the
/// collect call of its batch started: exact for an atomic compare-and-delete, which must answer -EBUSY then (so
/// FastMap's count must be 0), and a lower bound for the kernel's plain delete (refreshes completing inside a batch
/// are not counted).
/// </para>
/// </remarks>
/// <summary>The writer of xproc-gc-pass, in another process: <see cref="Start"/> returns once it is refreshing,
/// <see cref="Park"/> once it has stopped, with the refreshes and ticks of the window.</summary>
public interface IRemoteWriter
{
    void Start();
    (long Ops, long Ticks) Park();
}

public static class GcPass
{
    /// <summary>Keys per collect call: 4,096, the lookup batch's size. FastMap's collect loop pipelines
    /// prefetches over independent keys, so any size past a few dozen keeps its pipeline full; measured
    /// at S (collector alone): delete batches of 64 to 16,384 keys and scan batches of 256 to 65,536
    /// entries gave the same rates within noise.</summary>
    public const int DeleteBatch = 4096;

    /// <summary>Measured passes per run at most (S passes take a millisecond).</summary>
    public const int MaxPasses = 200;

    public static void Writer<TMap>(ref TMap m, GcPassShared g) where TMap : struct, IMapUnderTest
    {
        Refresher w = g.Writer!;
        try
        {
            while (true)
            {
                g.Go.Wait();
                if (g.Stopping) return;
                long ops0 = w.Ops, t0 = Stopwatch.GetTimestamp();
                g.Refreshing = true;
                if (g.TicksPer64 == 0)
                    do w.Step64(ref m); while (g.Run);
                else
                {
                    // Paced: each 64 refreshes wait for their slot of the schedule (spinning, as a datapath core would).
                    for (long steps = 0; g.Run; steps++)
                    {
                        while (Stopwatch.GetTimestamp() - t0 < steps * g.TicksPer64 && g.Run) Thread.SpinWait(8);
                        w.Step64(ref m);
                    }
                }
                g.WindowTicks = Stopwatch.GetTimestamp() - t0;
                g.WindowOps = w.Ops - ops0;
                g.Refreshing = false;
                g.Parked.Release(); // also publishes the window's counts to the collector
            }
        }
        catch (Exception e)
        {
            g.WriterFault = e;
        }
        finally
        {
            g.WriterExited = true;
            g.Parked.Release();
        }
    }

    public static void Collector<TMap>(ref TMap m, GcPassShared g) where TMap : struct, IMapUnderTest =>
        Collector(ref m, g, new ArrayRevisions(g.Ks.Revisions));

    /// <summary>The collector, reading completed revisions from <paramref name="completedRevisions"/> (xproc-gc-pass:
    /// the shared file the writer process publishes into).</summary>
    public static void Collector<TMap, TRev>(ref TMap m, GcPassShared g, TRev completedRevisions)
        where TMap : struct, IMapUnderTest where TRev : struct, IRevisions
    {
        try
        {
            // Unrecorded passes first, for a fifth of a second: the .NET systems' code is still being tiered up by the
            // JIT for about that long (call counting, then a 100 ms quiet period), and one pass took 1-2 ms.
            long warm = Stopwatch.GetTimestamp() + Stopwatch.Frequency / 5;
            if (g.WarmUp)
                do OnePass(ref m, g, 0, record: false, completedRevisions);
                while (Stopwatch.GetTimestamp() < warm);
            long end = Stopwatch.GetTimestamp() + (long)(g.Seconds * Stopwatch.Frequency);
            for (int pass = 0; pass < MaxPasses; pass++)
            {
                OnePass(ref m, g, pass, record: true, completedRevisions);
                if (Stopwatch.GetTimestamp() >= end) break;
            }
        }
        finally
        {
            if (g.Run) Park(g);
            g.Stopping = true;
            g.Go.Release();
        }
    }

    private static void StartWriter(GcPassShared g)
    {
        g.Run = true;
        if (g.Remote is { } remote)
        {
            remote.Start();
            return;
        }
        g.Go.Release();
        // Time nothing before the writer is refreshing: the pass must race it from its first call.
        while (!g.Refreshing)
        {
            if (g.WriterExited) throw new InvalidOperationException("the gc-pass writer failed", g.WriterFault);
            Thread.SpinWait(16);
        }
    }

    private static void Park(GcPassShared g)
    {
        g.Run = false;
        if (g.Remote is { } remote)
        {
            (g.WindowOps, g.WindowTicks) = remote.Park();
            return;
        }
        g.Parked.Wait();
        if (g.WriterExited) throw new InvalidOperationException("the gc-pass writer failed", g.WriterFault);
    }

    private static void OnePass<TMap, TRev>(ref TMap m, GcPassShared g, int pass, bool record, TRev revisions)
        where TMap : struct, IMapUnderTest where TRev : struct, IRevisions
    {
        KeySpace ks = g.Ks;
        GcPassBuffers b = g.Buf;
        StartWriter(g);
        var (run0, wait0) = SchedStat();

        // 1. Scan: every entry, key and value.
        long t0 = Stopwatch.GetTimestamp();
        int st = m.Scan(b.Keys, b.Values, out int scanned);
        long t1 = Stopwatch.GetTimestamp();

        // 2. Decide: the stale third, with its snapshot revisions, packed for the collect calls.
        Key16[] keys = b.Keys, stale = b.Stale;
        Value32[] values = b.Values;
        ulong[] staleRev = b.StaleRevisions;
        ulong third = (ulong)(pass % 3);
        int nStale = 0, room = stale.Length - 1;
        for (int i = 0; i < scanned && nStale < room; i++)
        {
            // Branch-free: write every entry at the end of the stale list and keep it only if it is stale (a third
            // of random keys is a branch that mispredicts a third of the time).
            ref readonly Key16 k = ref keys[i];
            stale[nStale] = k;
            staleRev[nStale] = values[i].Revision;
            nStale += (k.A ^ k.B) % 3 == third ? 1 : 0;
        }
        long t2 = Stopwatch.GetTimestamp();

        // 3. Delete, a batch at a time. Deleted keys are packed to the front of Stale for the restore.
        long deleteTicks = 0;
        int deleted = 0, busy = 0, wrong = 0;
        ulong[] completed = b.Completed;
        int[] results = b.Results;
        for (int off = 0; off < nStale; off += DeleteBatch)
        {
            int n = Math.Min(DeleteBatch, nStale - off);
            // Untimed: the revisions whose refresh had completed before this call (acquire: pairs with the
            // writer's release after its update returned).
            for (int j = 0; j < n; j++)
            {
                int at = ks.IndexOfKey(in stale[off + j]);
                completed[j] = at < 0 ? 0 : Volatile.Read(ref revisions[at]);
                if (at < 0) g.UnknownKeys++;
            }
            long a = Stopwatch.GetTimestamp();
            int cs = m.CollectBatch(stale.AsSpan(off, n), staleRev.AsSpan(off, n), results.AsSpan(0, n));
            deleteTicks += Stopwatch.GetTimestamp() - a;
            if (cs != St.Ok) { g.CollectErrors++; continue; }
            for (int j = 0; j < n; j++)
            {
                switch (results[j])
                {
                    case St.Ok:
                        if (completed[j] > staleRev[off + j]) wrong++;
                        stale[deleted++] = stale[off + j];
                        break;
                    case St.EBUSY: busy++; break;
                    case St.ENOENT: g.Absent++; break;
                    default: g.CollectErrors++; break;
                }
            }
        }
        var (run1, wait1) = SchedStat();
        Park(g);

        if (st != St.Ok) g.ScanErrors++;
        if (scanned != ks.TotalPresent) g.ScanMismatches++;
        (g.LastScanned, g.LastScanStatus) = (scanned, st);
        if (record)
            g.Passes.Add(new PassCounts(scanned, nStale, deleted, busy, wrong, t1 - t0, t2 - t1, deleteTicks,
                g.WindowOps, g.WindowTicks, run1 - run0, wait1 - wait0));

        // Untimed, writer parked: put the deleted keys back with the revision of their last refresh.
        for (int j = 0; j < deleted; j++)
        {
            int at = ks.IndexOfKey(in stale[j]);
            values[j] = Value32.Make(at < 0 ? 0 : revisions[at]);
        }
        g.RestoreFailures += m.Restore(stale.AsSpan(0, deleted), values.AsSpan(0, deleted));
    }

    /// <summary>This thread's ns on a CPU and ns runnable but waiting (Linux schedstat), or zeros elsewhere.</summary>
    private static (long Run, long Wait) SchedStat()
    {
        try
        {
            string[] f = File.ReadAllText("/proc/thread-self/schedstat").Split(' ');
            return (long.Parse(f[0], CultureInfo.InvariantCulture), long.Parse(f[1], CultureInfo.InvariantCulture));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return (0, 0);
        }
    }
}
