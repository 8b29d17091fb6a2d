using System.Diagnostics;
using FastMap.Stress.Data;
using FastMap.Stress.Systems;
using Spectre.Console;

namespace FastMap.Stress.Run;

/// <summary>
/// Runs every selected (size, round, workload, threads, system), peers interleaved: within a round each workload is
/// measured on every system before the next workload starts, and the system order rotates from round to round.
/// One map per system per size is created, prefilled once and reused by every workload and round.
/// </summary>
public sealed partial class Runner(StressOptions o, IReadOnlyList<MapSystem> systems, RunResults results)
{
    private static long Ticks(double seconds) => (long)(seconds * Stopwatch.Frequency);

    public int CountSteps()
    {
        int perRound = 0;
        foreach (var w in o.Workloads)
            foreach (var s in systems)
            {
                if (w == Workload.GcRace) perRound += s.MaxThreads >= 2 ? (s.InPlace ? 4 : 2) : 0;
                else if (w == Workload.GcPass) perRound += GcPassReady(s) ? 1 : 0;
                else if (w == Workload.XprocGcRace) perRound += s.Name == XprocFastMap ? 4 : s.Name == XprocKernel ? 2 : 0;
                else if (w == Workload.XprocGcPass) perRound += s.Name is XprocFastMap or XprocKernel ? 1 : 0;
                else if (w == Workload.XprocLookup) perRound += s.Name == XprocFastMap ? 1 : 0;
                else perRound += o.Threads.Count(t => t <= s.MaxThreads);
            }
        return o.Sizes.Count * (o.Rounds * perRound + systems.Count) + o.Rounds;
    }

    private static bool GcPassReady(MapSystem s)
    {
        try { return s.GcPassUnavailable is null; } catch (Exception) { return false; }
    }

    public void Run(ProgressTask task, Action refresh)
    {
        try { RunSizes(task, refresh); }
        finally { XprocCleanup(); }
    }

    private void RunSizes(ProgressTask task, Action refresh)
    {
        int maxThreads = Math.Max(2, o.Threads.Max());
        using var workers = new Workers(maxThreads);
        var dram = new Dram(o.DramBytes);
        // Only xproc workloads: the maps the other workloads share are not needed (the xproc ones make their own).
        bool sharedMaps = o.Workloads.Any(w => !w.IsXproc());
        List<MapSystem> xsys = o.Workloads.Any(w => w.IsXproc()) ? XprocSystems() : [];
        if (xsys.Count > 0)
            Note($"xproc workloads: {string.Join(", ", xsys.Select(s => s.Name))} only; ConcurrentDictionary, NonBlocking, libcuckoo, Dictionary, the C table and FastMap-C hold their map in one process's memory and cannot be shared with a second process");
        foreach (var (sizeName, entries) in o.Sizes)
        {
            int partitions = 1 << (int)Math.Ceiling(Math.Log2(Math.Max(1, o.Threads.Max())));
            task.Description = $"{sizeName}: keys";
            refresh();
            var ks = new KeySpace(entries, partitions, o.Seed);
            var maps = new List<MapInstance>();
            var views = new Dictionary<MapInstance, KeySpace>();
            foreach (var sys in systems)
            {
                if (!sharedMaps) { task.Increment(1); continue; }
                task.Description = $"{sizeName}: create + prefill {sys.Name}";
                refresh();
                var view = ks.ForMap();
                var m = CreateAndPrefill(workers, sys, sizeName, view);
                if (m is not null) { maps.Add(m); views[m] = view; }
                task.Increment(1);
            }
            GcPassBuffers? gcPassBuffers = null;
            using var xs = new XprocSize();
            // Single-threaded systems sit out gc-pass as they do gc-race; say why any other one does.
            foreach (var m in maps.Where(m => o.Workloads.Contains(Workload.GcPass) && m.System.MaxThreads >= 2 && !GcPassReady(m.System)))
                Note($"{m.System.Name}: no gc-pass: {m.System.GcPassUnavailable}");
            for (int round = 1; round <= o.Rounds; round++)
            {
                var order = maps.Skip((round - 1) % Math.Max(1, maps.Count)).Concat(maps.Take((round - 1) % Math.Max(1, maps.Count))).ToList();
                foreach (var w in o.Workloads)
                {
                    if (w.IsXproc())
                    {
                        var xorder = xsys.Skip((round - 1) % Math.Max(1, xsys.Count)).Concat(xsys.Take((round - 1) % Math.Max(1, xsys.Count))).ToList();
                        if (w == Workload.XprocGcRace) XprocGcRace(workers, ks, xorder, sizeName, round, task, refresh);
                        else if (w == Workload.XprocGcPass)
                            XprocGcPass(workers, ks, xs, xorder, () => gcPassBuffers ??= new GcPassBuffers(entries), sizeName, round, task, refresh);
                        else XprocLookup(workers, ks, xs, xsys, sizeName, round, task, refresh);
                        continue;
                    }
                    if (w == Workload.GcRace)
                    {
                        foreach (var m in order)
                        {
                            if (m.System.MaxThreads < 2) continue;
                            // On a map of its own, prefilled like the others and closed after: gc-race deletes at full
                            // speed and refreshes in place (FastMap keeps freed slots in limbo once a value's address
                            // was handed out), and what that leaves behind (keys displaced past limbo, overflow
                            // records) would otherwise be the next round's starting state for the op workloads
                            // (measured on FastMap at S: lookup-miss 8.3 ns before a gc-race on the shared map,
                            // 15-17.5 ns in the rounds after it).
                            task.Description = $"{sizeName} r{round} gc-race: create + prefill {m.System.Name}";
                            refresh();
                            var raceView = ks.ForMap();
                            var race = CreateAndPrefill(workers, m.System, sizeName, raceView, record: false);
                            if (race is null) continue;
                            try
                            {
                                foreach (bool inPlace in m.System.InPlace ? new[] { false, true } : [false])
                                    foreach (bool compare in new[] { false, true })
                                    {
                                        task.Description = $"{sizeName} r{round} gc-race {(inPlace ? "inplace" : "update")}/{(compare ? "cmpdel" : "delete")} {m.System.Name}";
                                        refresh();
                                        results.Gc.Add(MeasureGc(workers, race, raceView, sizeName, round, inPlace, compare));
                                        task.Increment(1);
                                    }
                            }
                            finally { race.Dispose(); }
                        }
                        continue;
                    }
                    if (w == Workload.GcPass)
                    {
                        foreach (var m in order.Where(m => GcPassReady(m.System)))
                        {
                            task.Description = $"{sizeName} r{round}/{o.Rounds} gc-pass {m.System.Name}";
                            refresh();
                            gcPassBuffers ??= new GcPassBuffers(entries);
                            MeasureGcPass(workers, m, views[m], gcPassBuffers, sizeName, round);
                            task.Increment(1);
                        }
                        continue;
                    }
                    foreach (int threads in o.Threads)
                    {
                        var runnable = order.Where(m => threads <= m.System.MaxThreads).ToList();
                        task.Description = $"{sizeName} r{round}/{o.Rounds} {w.Name()} t{threads} ({runnable.Count} systems, interleaved)";
                        refresh();
                        results.Ops.AddRange(MeasureInterleaved(workers, runnable, views, sizeName, round, w, threads));
                        task.Increment(runnable.Count);
                    }
                }
                if (sizeName == o.Sizes[0].Name)
                {
                    task.Description = $"r{round} DRAM pointer chase ({o.DramBytes >> 20} MiB)";
                    refresh();
                    results.Dram.Add(new DramRow(round, o.DramBytes, dram.Measure(Math.Max(o.Seconds, 0.05))));
                    task.Increment(1);
                }
            }
            foreach (var m in maps) m.Dispose();
            maps.Clear();
            views.Clear();
            GC.Collect();
        }
        dram.Release();
    }

    private MapInstance? CreateAndPrefill(Workers workers, MapSystem sys, string sizeName, KeySpace ks, bool record = true)
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        long heap0 = GC.GetTotalMemory(true), rss0 = Rss();
        long t0 = Stopwatch.GetTimestamp();
        MapInstance? m;
        try { m = sys.Create(ks.Size, out string? error); if (m is null) { Note($"{sys.Name} at {sizeName}: {error}"); return null; } }
        catch (Exception e) { Note($"{sys.Name} at {sizeName}: create threw {e.GetType().Name}: {e.Message}"); return null; }
        // Concurrent systems prefill from two threads, one partition set each (the L prefill dominates setup).
        int stride = sys.MaxThreads >= 2 ? Math.Min(2, ks.Partitions) : 1, failures = 0;
        workers.Run(stride, t => Interlocked.Add(ref failures, m.Prefill(ks, t, stride)));
        double secs = (Stopwatch.GetTimestamp() - t0) / (double)Stopwatch.Frequency;
        if (failures != 0) Note($"{sys.Name} at {sizeName}: {failures} prefill inserts failed");
        long heap1 = GC.GetTotalMemory(true), rss1 = Rss();
        long bytes = sys.Memory switch
        {
            MemoryKind.ManagedHeap => heap1 - heap0,
            MemoryKind.KernelMemlock or MemoryKind.OwnAccounting => m.OwnAccountingBytes() ?? -1,
            _ => rss1 - rss0,
        };
        if (record)
            results.Memory.Add(new MemRow(sizeName, ks.Size, sys.Name, sys.Memory.ToString(), bytes, ks.TotalPresent, secs));
        return m;
    }

    /// <summary>
    /// One workload at one thread count on every system of a round: a warm-up each, then <see cref="StressOptions.Slices"/>
    /// slices each, systems taking turns (the first system of each turn rotates), so noise from the host falls on all
    /// of them alike. A system's figures add its slices up.
    /// </summary>
    private List<OpRow> MeasureInterleaved(Workers workers, List<MapInstance> maps, Dictionary<MapInstance, KeySpace> views,
        string sizeName, int round, Workload w, int threads)
    {
        var ctxs = new List<ThreadCtx[]>();
        var wall = new double[maps.Count];
        foreach (var m in maps)
        {
            var ctx = new ThreadCtx[threads];
            for (int t = 0; t < threads; t++) { ctx[t] = new ThreadCtx(views[m], threads, t); ctx[t].Prepare(w); }
            ctxs.Add(ctx);
            RunSlice(workers, m, ctx, w, o.WarmupSeconds, 0); // warm-up: not counted
            foreach (var c in ctx) c.Reset();
        }
        for (int s = 0; s < o.Slices; s++)
            for (int j = 0; j < maps.Count; j++)
            {
                int i = (j + s) % maps.Count;
                wall[i] += RunSlice(workers, maps[i], ctxs[i], w, o.SliceWarmupSeconds, o.Seconds / o.Slices);
            }
        var rows = new List<OpRow>();
        for (int i = 0; i < maps.Count; i++)
        {
            ThreadCtx[] ctx = ctxs[i];
            foreach (var c in ctx) c.Finish(w);
            long iterations = ctx.Sum(c => c.Iterations);
            long ops = iterations * w.OpsPerIteration();
            var h = ctx[0].Hist.Copy();
            for (int t = 1; t < threads; t++) h.Add(ctx[t].Hist);
            double tickNs = 1e9 / Stopwatch.Frequency, secs = wall[i];
            double nsPerOp = secs * 1e9 * threads / ops; // per-thread latency view; Mops/s is the aggregate
            long errors = ctx.Sum(c => c.Errors);
            MapInstance m = maps[i];
            if (errors > 0) Note($"{m.System.Name} {sizeName} {w.Name()} t{threads} r{round}: {errors} unexpected statuses");
            rows.Add(new OpRow(sizeName, views[m].Size, w.Name(), m.System.Name, threads, round, secs, ops, nsPerOp,
                ops / secs / 1e6, h.GetValueAtPercentile(50) * tickNs, h.GetValueAtPercentile(99) * tickNs,
                h.GetValueAtPercentile(99.9) * tickNs, (double)ctx.Sum(c => c.AllocatedBytes) / ops, errors));
        }
        return rows;
    }

    /// <summary>Runs one slice on every thread of a system; returns its wall seconds (first thread's start to last one's end).</summary>
    private static double RunSlice(Workers workers, MapInstance m, ThreadCtx[] ctx, Workload w, double warmSeconds, double seconds)
    {
        long warm = Stopwatch.GetTimestamp() + Ticks(warmSeconds);
        long deadline = warm + Ticks(seconds);
        workers.Run(ctx.Length, t => m.RunThread(w, ctx[t], warm, deadline));
        return (ctx.Max(c => c.EndTicks) - ctx.Min(c => c.StartTicks)) / (double)Stopwatch.Frequency;
    }

    private GcRow MeasureGc(Workers workers, MapInstance m, KeySpace ks, string sizeName, int round, bool inPlace, bool compare)
    {
        var g = new GcRaceShared(ks, inPlace, compare);
        long deadline = Stopwatch.GetTimestamp() + Ticks(o.GcSeconds);
        workers.Run(2, t => { if (t == 0) m.RunGcWriter(g, deadline); else m.RunGcCollector(g, deadline); });
        workers.Run(1, _ => g.Reconciled = m.ReconcileGc(g));
        return GcRowOf(g, m.System, ks, sizeName, round, "gc-race");
    }

    /// <summary>A gc-race run's row (gc-race and xproc-gc-race), with its notes.</summary>
    private GcRow GcRowOf(GcRaceShared g, MapSystem sys, KeySpace ks, string sizeName, int round, string workload)
    {
        if (g.WriterLost > 0) Note($"{sys.Name} {sizeName} {workload} {g.Variant} r{round}: {g.WriterLost} in-place stores landed in an element unlinked under the writer (lost refreshes; not counted as wrong deletions)");
        if (g.Reconciled > 0) Note($"{sys.Name} {sizeName} {workload} {g.Variant} r{round}: {g.Reconciled} re-inserted keys were behind the writer's published revision after the run and were set to it (untimed) before the next variant");
        foreach (string d in g.WrongDetails) Note($"{sys.Name} {sizeName} {workload} {g.Variant} r{round}: wrong deletion: {d}");
        if (g.ReinsertFailures > 0) Note($"{sys.Name} {sizeName} {workload} {g.Variant}: {g.ReinsertFailures} re-inserts failed");
        double f = Stopwatch.Frequency;
        double collectorSecs = Math.Max(g.CollectorTicks, 1) / f, wall = Math.Max(g.WriterTicks, 1) / f;
        return new GcRow(sizeName, ks.Size, sys.Name, g.Variant, g.Compare && sys.AtomicCompareAndDelete, round,
            wall, g.Scanned / collectorSecs, g.Deleted / collectorSecs, g.Wrong, g.Wrong / wall, g.Busy,
            g.WriterOps / wall, g.Passes);
    }

    /// <summary>
    /// One gc-pass run: passes for about <see cref="StressOptions.GcSeconds"/> of wall time (at least one), after an
    /// unmeasured warm-up pass where a pass is cheap (up to 2^20 entries).
    /// </summary>
    private void MeasureGcPass(Workers workers, MapInstance m, KeySpace ks, GcPassBuffers buffers, string sizeName, int round)
    {
        var g = new GcPassShared(ks, buffers, o.GcSeconds, warmUp: ks.Size <= 1 << 20, o.GcWriterMops);
        workers.Run(2, t => { if (t == 0) m.RunGcPassWriter(g); else m.RunGcPassCollector(g); });
        RecordGcPass(g, m.System, ks, sizeName, round, results.GcPass, "gc-pass");
    }

    /// <summary>A gc-pass run's rows (gc-pass and xproc-gc-pass) into <paramref name="into"/>, with its notes.</summary>
    private void RecordGcPass(GcPassShared g, MapSystem sys, KeySpace ks, string sizeName, int round, List<GcPassRow> into, string workload)
    {
        string where = $"{sys.Name} {sizeName} {workload} r{round}";
        if (g.ScanErrors > 0) Note($"{where}: {g.ScanErrors} scans failed (last: status {g.LastScanStatus} after {g.LastScanned} entries)");
        if (g.ScanMismatches > 0) Note($"{where}: {g.ScanMismatches} scans did not return every present key once (last: {g.LastScanned} of {ks.TotalPresent})");
        if (g.CollectErrors > 0) Note($"{where}: {g.CollectErrors} unexpected collect statuses");
        if (g.Absent > 0) Note($"{where}: {g.Absent} stale keys were already absent");
        if (g.UnknownKeys > 0) Note($"{where}: {g.UnknownKeys} scanned keys are not keys of the run");
        if (g.RestoreFailures > 0) Note($"{where}: {g.RestoreFailures} restores failed");
        double f = Stopwatch.Frequency;
        for (int i = 0; i < g.Passes.Count; i++)
        {
            PassCounts p = g.Passes[i];
            into.Add(new GcPassRow(sizeName, ks.Size, sys.Name, sys.AtomicCompareAndDelete, round, i,
                p.Scanned, p.Stale, p.Deleted, p.Busy, p.Wrong, p.ScanTicks / f, p.DecideTicks / f,
                Math.Max(p.DeleteTicks, 1) / f, p.WriterOps, Math.Max(p.WriterTicks, 1) / f,
                p.RunNs + p.WaitNs > 0 ? (double)p.RunNs / (p.RunNs + p.WaitNs) : double.NaN));
        }
    }

    private void Note(string s)
    {
        lock (results.Notes) { if (!results.Notes.Contains(s)) results.Notes.Add(s); }
    }

    /// <summary>Resident set size from /proc/self/statm (pages), or 0 off Linux.</summary>
    public static long Rss()
    {
        try
        {
            string[] f = File.ReadAllText("/proc/self/statm").Split(' ');
            return long.Parse(f[1]) * Environment.SystemPageSize;
        }
        catch (IOException) { return 0; }
    }
}
