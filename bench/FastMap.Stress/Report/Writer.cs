using System.Globalization;
using System.Text;
using FastMap.Stress.Run;
using FastMap.Stress.Systems;

namespace FastMap.Stress.Report;

/// <summary>Writes results.md, results.csv and results-rounds.csv.</summary>
public static class Writer
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;
    private static string F(double x, string fmt = "F2") => double.IsNaN(x) ? "n/a" : x.ToString(fmt, Inv);

    /// <summary>Mops/s with enough digits for the kernel's ~1 Mops and FastMap's tens.</summary>
    private static string M(double x) => double.IsNaN(x) ? "n/a" : x >= 100 ? x.ToString("F0", Inv) : x >= 1 ? x.ToString("F2", Inv) : x.ToString("F3", Inv);

    public static void Markdown(string path, StressOptions o, string commandLine, RunResults r, Summary s,
        List<TargetCheck> targets, IReadOnlyList<MapSystem> used, IReadOnlyList<(string Name, string Reason)> skipped,
        IReadOnlyList<string> plots)
    {
        var b = new StringBuilder();
        b.AppendLine($"# FastMap stress run, {r.Started:yyyy-MM-dd HH:mm} UTC");
        b.AppendLine();
        b.AppendLine("Workloads of `shared/bench/WORKLOADS.md` (16-byte keys, 32-byte values, revision at offset 0; prefill 3/4 of `max_entries`).");
        b.AppendLine("Ratios compare medians of the same run; peers are interleaved within each round and the system order rotates per round.");
        b.AppendLine();
        b.AppendLine("## Command");
        b.AppendLine();
        b.AppendLine("```");
        b.AppendLine(commandLine);
        b.AppendLine("```");
        b.AppendLine();
        b.AppendLine($"Options: `{o.Describe()}`. Warm-up {F(o.WarmupSeconds * 1000, "F0")} ms before each timed part; run took {(r.Finished - r.Started).TotalSeconds:F0} s.");
        b.AppendLine();
        b.AppendLine("## Machine");
        b.AppendLine();
        b.AppendLine("| | |");
        b.AppendLine("| --- | --- |");
        foreach (var (k, v) in Machine.Describe()) b.AppendLine($"| {k} | {v.Replace("|", "/")} |");
        b.AppendLine();
        b.AppendLine("## Systems");
        b.AppendLine();
        foreach (var sys in used) b.AppendLine($"- **{sys.Name}**: {sys.Notes}{(sys.MaxThreads == 1 ? "" : "")}");
        foreach (var (n, why) in skipped) b.AppendLine($"- ~~{n}~~ skipped: {why}");
        b.AppendLine();
        if (r.Ops.Count > 0)
            b.AppendLine("How measured: each thread runs the op on its own random key order (generated and copied to a per-thread array before the timed loop). " +
                         $"Every {Loops.SampleEvery}th iteration is timed alone with `Stopwatch.GetTimestamp` into an HdrHistogram (so percentiles include the ~timer overhead above; " +
                         "for churn and cmpdel-match one sample is the pair of ops). Mops/s is aggregate over threads; ns/op is per thread (threads / throughput). " +
                         "B/op: `GC.GetAllocatedBytesForCurrentThread` around each timed loop, summed over threads, the largest over rounds.");
        if (r.Notes.Count > 0)
        {
            b.AppendLine();
            b.AppendLine("## Notes from the run");
            b.AppendLine();
            foreach (var n in r.Notes) b.AppendLine($"- {n}");
        }
        b.AppendLine();
        b.AppendLine("## Targets (the storage issue's: a target is met when it holds on the medians and in at least 2 of 3 rounds)");
        b.AppendLine();
        b.AppendLine("| target | where | system | median | goal | rounds held | verdict |");
        b.AppendLine("| --- | --- | --- | ---: | ---: | ---: | --- |");
        foreach (var t in targets)
            b.AppendLine($"| {t.Target} | {t.Where} | {t.System} | {F(t.Value)}{t.Unit} | {(t.Informational ? "-" : F(t.Goal, "G") + t.Unit)} | {t.RoundsText} | {t.Verdict}{(t.Met == false && t.Goal > 0 && t.Unit is "x" or " M/s" ? $" ({F(t.Value / t.Goal * 100, "F0")}% of goal)" : "")} |");

        foreach (var size in s.Ops.Select(x => (x.Size, x.MaxEntries)).Distinct())
        {
            b.AppendLine();
            b.AppendLine($"## Size {size.Size} ({size.MaxEntries:N0} max_entries, {size.MaxEntries / 4 * 3:N0} prefilled)");
            foreach (var w in s.Ops.Where(x => x.Size == size.Size).Select(x => x.Workload).Distinct())
            {
                b.AppendLine();
                b.AppendLine($"### {w}");
                b.AppendLine();
                b.AppendLine("| system | threads | Mops/s (median ± sd) | ns/op | p50 ns | p99 ns | p99.9 ns | B/op | errors | FastMap/this | FastMap-C/this |");
                b.AppendLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
                foreach (var x in s.Ops.Where(x => x.Size == size.Size && x.Workload == w).OrderBy(x => x.Threads).ThenByDescending(x => x.Mops))
                    b.AppendLine($"| {x.System} | {x.Threads} | {M(x.Mops)} ± {M(x.MopsSd)} | {F(x.NsPerOp, "F1")} | {F(x.P50, "F0")} | {F(x.P99, "F0")} | {F(x.P999, "F0")} | {F(x.AllocMax, "F1")} | {x.Errors} | " +
                                 $"{F(s.Ratio(x.Size, w, x.Threads, "FastMap", x.System))} | {F(s.Ratio(x.Size, w, x.Threads, "FastMap-C", x.System))} |");
            }
        }

        if (r.Dram.Count > 0)
        {
            b.AppendLine();
            b.AppendLine("## DRAM reference");
            b.AppendLine();
            b.AppendLine($"Dependent pointer chase over {r.Dram[0].BufferBytes >> 20} MiB (one random cycle through 64-byte lines): " +
                         $"**{F(Stats.Median(r.Dram.Select(d => d.NsPerHop)), "F1")} ns** per access (median of {r.Dram.Count}; one access = {F(1e3 / Stats.Median(r.Dram.Select(d => d.NsPerHop)), "F1")} M/s on one thread). " +
                         "An L-size op that misses the cache once cannot be faster than this on one thread.");
        }

        if (s.Gc.Count > 0)
        {
            b.AppendLine();
            b.AppendLine("## gc-race");
            b.AppendLine();
            b.AppendLine("Each system runs it on a map of its own, prefilled like the shared one and closed after, so what it leaves behind is not the next round's starting state. " +
                         "One writer refreshes random present keys (`update`: update with a new revision; `inplace`: one aligned 8-byte store of the revision into the value through the in-place lookup inside a read section). " +
                         "One collector scans chunks of at most 65,536 keys, snapshots revisions, then deletes a random third (`delete`: plain delete; `cmpdel`: compare-and-delete on the snapshot revision; the kernel's `cmpdel` is lookup + delete, not atomic) and re-inserts what it deleted, untimed. " +
                         "A deletion is *wrong* when a refresh newer than the snapshot had completed before the collector called delete (a lower bound for plain delete, exact for compare-and-delete).");
            b.AppendLine();
            b.AppendLine("| size | system | variant | atomic | collector Mentries/s | deleted M/s | wrong deletions | wrong/s | writer Mops/s |");
            b.AppendLine("| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: |");
            foreach (var g in s.Gc.OrderBy(g => g.MaxEntries).ThenBy(g => g.System).ThenBy(g => g.Variant))
                b.AppendLine($"| {g.Size} | {g.System} | {g.Variant} | {(g.Variant.EndsWith("cmpdel", StringComparison.Ordinal) ? (g.Atomic ? "yes" : "no") : "-")} | {M(g.CollectorEntriesPerSec / 1e6)} | {M(g.DeletedPerSec / 1e6)} | {g.WrongTotal} | {F(g.WrongPerSec, "F0")} | {M(g.WriterOpsPerSec / 1e6)} |");
        }

        if (s.XprocGc.Count > 0) XprocGcSection(b, s);

        if (s.GcPass.Count > 0) GcPassSection(b, s, o);

        if (s.XprocGcPass.Count > 0) XprocGcPassSection(b, s);

        if (s.Ops.Any(x => x.Workload == "xproc-lookup")) XprocLookupSection(b, s, targets);

        b.AppendLine();
        b.AppendLine("## Memory");
        b.AppendLine();
        b.AppendLine("Measured around create + prefill: managed peers by GC heap delta, native ones by process RSS delta, the kernel by its own `memlock` accounting (fdinfo). " +
                     "B/entry divides by the prefilled entries; B/max_entry by `max_entries`.");
        b.AppendLine();
        b.AppendLine("| size | system | measured by | MiB | B/entry | B/max_entry | prefill s |");
        b.AppendLine("| --- | --- | --- | ---: | ---: | ---: | ---: |");
        foreach (var m in r.Memory)
            b.AppendLine($"| {m.Size} | {m.System} | {m.Kind} | {F(m.Bytes / 1048576.0, "F1")} | {F(m.PerEntry, "F1")} | {F(m.PerMaxEntry, "F1")} | {F(m.PrefillSeconds)} |");

        if (plots.Count > 0)
        {
            b.AppendLine();
            b.AppendLine("## Plots");
            b.AppendLine();
            foreach (var p in plots) b.AppendLine($"![{Path.GetFileNameWithoutExtension(p)}]({Path.GetFileName(p)})");
        }
        File.WriteAllText(path, b.ToString());
    }

    private static void GcPassSection(StringBuilder b, Summary s, StressOptions o)
    {
        b.AppendLine();
        b.AppendLine("## gc-pass");
        b.AppendLine();
        b.AppendLine($"One writer refreshes random present keys with update (a new revision each) for the whole pass ({(o.GcWriterMops > 0 ? $"paced at {o.GcWriterMops.ToString(Inv)} M/s" : "as fast as it can")}). One collector scans the whole map, snapshotting key and revision " +
                     $"(FastMap: `LookupBatch`, {Batches.ScanRoom:N0} entries a call; kernel: `BPF_MAP_LOOKUP_BATCH`, the same; libcuckoo: one `locked_table` copy, every bucket lock held; ConcurrentDictionary: enumeration), " +
                     "decides the stale third (`(key.A ^ key.B) % 3 == pass % 3`, the same keys in every system) and deletes it " +
                     $"(FastMap: `CompareAndDeleteBatch` on the snapshot revision, {GcPass.DeleteBatch:N0} keys a call; kernel: `BPF_MAP_DELETE_ELEM` per key, no compare; libcuckoo: `erase_fn` comparing the revision, per key; ConcurrentDictionary: `TryRemove(KeyValuePair)` per key). " +
                     "The deleted keys are restored after each pass with the writer parked, untimed, so every pass starts from the same fill. " +
                     "At S, each system's run starts with 0.2 s of unrecorded passes (the JIT tiers .NET code up for about that long).");
        b.AppendLine();
        b.AppendLine("*Pass* is entries deleted per second of scan + decide + delete (the GC figure the targets use); *delete phase* the same over the delete calls alone; *scan* entries copied per second of the scan. " +
                     "A deletion is *wrong* when a refresh newer than the snapshot had completed (its revision published) before the delete call of its batch started: exact for an atomic compare-and-delete, a lower bound for the kernel's plain delete. " +
                     "*Kept* counts stale-judged keys a compare-and-delete left because they were refreshed. *Collector on CPU*: the share of the pass the collector thread ran while it was runnable (`/proc/thread-self/schedstat`); below 100% other processes took its CPU. " +
                     "Medians over every measured pass of every round; counts are totals.");
        GcPassTables(b, s, xproc: false);
    }

    private const string XprocWhy = "The writer (datapath) is a second process: this program started again with `--xproc-writer` (Run/Xproc.cs), the collector runs in the stress process. " +
        "FastMap: a `MapFlags.Shared` map pinned under a fresh /dev/shm directory, opened by the writer with `BpfMap.Open`; kernel-hash: a BPF hash map pinned in bpffs (/sys/fs/bpf), opened by the writer with `BPF_OBJ_GET`. " +
        "The writer publishes the revision of each refresh it completed into a file both processes map MAP_SHARED (release after the update or in-place store returned; the collector reads it, acquire, before its delete), so a wrong deletion is judged exactly as in-process. " +
        "ConcurrentDictionary, NonBlocking, libcuckoo, Dictionary, the C table and FastMap-C keep their map in one process's memory and cannot be shared, so they take no part.";

    private static void XprocGcSection(StringBuilder b, Summary s)
    {
        b.AppendLine();
        b.AppendLine("## xproc-gc-race");
        b.AppendLine();
        b.AppendLine("gc-race (above) with the writer in a second process: the same sizes, variants, chunks, untimed re-inserts and counting; a fresh map per system and round. " + XprocWhy +
                     " Start and stop: words in the shared file; the collector's time starts once the writer is refreshing, and the writer stops at the same deadline as the collector (CLOCK_MONOTONIC is one clock for both processes), as in-process.");
        b.AppendLine();
        b.AppendLine("| size | system | variant | atomic | collector Mentries/s | in-process collector Mentries/s | deleted M/s | wrong deletions | wrong/s | writer Mops/s | FastMap/this collector |");
        b.AppendLine("| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (var g in s.XprocGc.OrderBy(g => g.MaxEntries).ThenBy(g => g.System).ThenBy(g => g.Variant))
            b.AppendLine($"| {g.Size} | {g.System} | {g.Variant} | {(g.Variant.EndsWith("cmpdel", StringComparison.Ordinal) ? (g.Atomic ? "yes" : "no") : "-")} | {M(g.CollectorEntriesPerSec / 1e6)} | " +
                         $"{M((s.FindGc(g.Size, g.System, g.Variant, xproc: false)?.CollectorEntriesPerSec ?? double.NaN) / 1e6)} | {M(g.DeletedPerSec / 1e6)} | {g.WrongTotal} | {F(g.WrongPerSec, "F0")} | {M(g.WriterOpsPerSec / 1e6)} | " +
                         $"{F(s.GcRatio(g.Size, g.Variant, "FastMap", g.System, xproc: true))} |");
    }

    private static void XprocGcPassSection(StringBuilder b, Summary s)
    {
        b.AppendLine();
        b.AppendLine("## xproc-gc-pass");
        b.AppendLine();
        b.AppendLine("gc-pass (above) with the writer in a second process: the same scan, decide, collect calls, pacing, restore and counting; one map per system and size for every round. " + XprocWhy +
                     " Start and park: \"go\" on the writer's stdin and the shared file's Refreshing word (the pass is timed only once the writer is refreshing); the Run word cleared and \"parked <ops> <ticks>\" on its stdout.");
        GcPassTables(b, s, xproc: true);
    }

    /// <summary>One gc-pass table a size, in-process or cross-process (which adds the in-process pass rate beside its own).</summary>
    private static void GcPassTables(StringBuilder b, Summary s, bool xproc)
    {
        List<GcPassSummary> rows = xproc ? s.XprocGcPass : s.GcPass;
        foreach (var size in rows.Select(x => (x.Size, x.MaxEntries)).Distinct())
        {
            b.AppendLine();
            b.AppendLine($"### {size.Size} ({size.MaxEntries:N0} max_entries)");
            b.AppendLine();
            b.AppendLine("| system | atomic | passes | pass ms | pass M deletes/s | " + (xproc ? "in-process pass M deletes/s | " : "") +
                         "delete phase M/s | scan M entries/s | scanned/pass | deleted | kept (refreshed) | wrong | writer Mops/s | collector on CPU | FastMap/this pass | FastMap/this delete phase |");
            b.AppendLine("| --- | --- | ---: | ---: | ---: | " + (xproc ? "---: | " : "") + "---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
            foreach (var g in rows.Where(x => x.Size == size.Size).OrderByDescending(x => x.PassDeletesPerSec))
                b.AppendLine($"| {g.System} | {(g.Atomic ? "yes" : "no")} | {g.Passes} | {F(g.PassMs, g.PassMs >= 100 ? "F0" : "F2")} | {M(g.PassDeletesPerSec / 1e6)} | " +
                             (xproc ? $"{M((s.FindPass(g.Size, g.System)?.PassDeletesPerSec ?? double.NaN) / 1e6)} | " : "") +
                             $"{M(g.DeletePhasePerSec / 1e6)} | {M(g.ScanEntriesPerSec / 1e6)} | {g.Scanned:F0} | {g.Deleted} | {g.Busy} | {g.WrongTotal} | {M(g.WriterOpsPerSec / 1e6)} | {F(g.CollectorOnCpu * 100, "F0")}% | " +
                             $"{F(s.PassRatio(g.Size, "FastMap", g.System, x => x.PassDeletesPerSec, xproc))} | {F(s.PassRatio(g.Size, "FastMap", g.System, x => x.DeletePhasePerSec, xproc))} |");
        }
    }

    private static void XprocLookupSection(StringBuilder b, Summary s, List<TargetCheck> targets)
    {
        b.AppendLine();
        b.AppendLine("## xproc-lookup: the cost of a cross-process lookup");
        b.AppendLine();
        b.AppendLine("lookup-hit, 1 thread, random present keys, in the stress process: `FastMap` on a private map and `FastMap-shared` on a second handle " +
                     "(`BpfMap.Open` of the pin) of a `MapFlags.Shared` map; both made for this workload at each size, prefilled alike and used by nothing else; interleaved slice by slice within each round as every op workload is. " +
                     "Before the first round both look every present key up once, untimed: the second handle's new mapping gets its pages into the page table (a first touch of each 4 KiB tmpfs page is a minor fault, which without this put the shared handle at 1.6-8.6x the private map at L in 0.1 s slices). " +
                     "Full rows (p50/p99, B/op) are in the size sections above under `xproc-lookup`.");
        b.AppendLine();
        b.AppendLine("| size | private ns/lookup | shared handle ns/lookup | shared / private |");
        b.AppendLine("| --- | ---: | ---: | ---: |");
        foreach (var priv in s.Ops.Where(x => x.Workload == "xproc-lookup" && x.System == "FastMap"))
        {
            var sh = s.Find(priv.Size, priv.Workload, priv.Threads, "FastMap-shared");
            b.AppendLine($"| {priv.Size} | {F(priv.NsPerOp, "F1")} | {F(sh?.NsPerOp ?? double.NaN, "F1")} | {F((sh?.NsPerOp ?? double.NaN) / priv.NsPerOp)} |");
        }
    }

    public static void Csv(string path, RunResults r, Summary s)
    {
        var b = new StringBuilder();
        b.AppendLine("kind,size,max_entries,workload,variant,system,threads,rounds,mops_median,mops_sd,ns_per_op,p50_ns,p99_ns,p999_ns,alloc_bytes_per_op,errors,collector_entries_per_s,deleted_per_s,wrong_deletions,wrong_per_s,writer_ops_per_s,mem_bytes,bytes_per_entry,bytes_per_max_entry,ns_per_access,pass_deleted_per_s,delete_phase_deleted_per_s,scan_entries_per_s,passes,kept_busy");
        foreach (var x in s.Ops)
            b.AppendLine(string.Join(',', "op", x.Size, x.MaxEntries, x.Workload, "", x.System, x.Threads, x.Rounds, C(x.Mops), C(x.MopsSd), C(x.NsPerOp), C(x.P50), C(x.P99), C(x.P999), C(x.AllocMax), x.Errors, "", "", "", "", "", "", "", "", "", "", "", "", "", ""));
        foreach (var g in s.Gc)
            b.AppendLine(string.Join(',', "gc-race", g.Size, g.MaxEntries, "gc-race", g.Variant, g.System, 2, g.Rounds, "", "", "", "", "", "", "", "", C(g.CollectorEntriesPerSec), C(g.DeletedPerSec), g.WrongTotal, C(g.WrongPerSec), C(g.WriterOpsPerSec), "", "", "", "", "", "", "", "", ""));
        foreach (var g in s.XprocGc)
            b.AppendLine(string.Join(',', "xproc-gc-race", g.Size, g.MaxEntries, "xproc-gc-race", g.Variant, g.System, 2, g.Rounds, "", "", "", "", "", "", "", "", C(g.CollectorEntriesPerSec), C(g.DeletedPerSec), g.WrongTotal, C(g.WrongPerSec), C(g.WriterOpsPerSec), "", "", "", "", "", "", "", "", ""));
        foreach (var m in r.Memory)
            b.AppendLine(string.Join(',', "memory", m.Size, m.MaxEntries, "", m.Kind, m.System, "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", m.Bytes, C(m.PerEntry), C(m.PerMaxEntry), "", "", "", "", "", ""));
        foreach (var g in s.GcPass)
            b.AppendLine(string.Join(',', "gc-pass", g.Size, g.MaxEntries, "gc-pass", "cmpdel-batch", g.System, 2, "", "", "", "", "", "", "", "", "", C(g.ScanEntriesPerSec), "", g.WrongTotal, "", C(g.WriterOpsPerSec), "", "", "", "", C(g.PassDeletesPerSec), C(g.DeletePhasePerSec), C(g.ScanEntriesPerSec), g.Passes, g.Busy));
        foreach (var g in s.XprocGcPass)
            b.AppendLine(string.Join(',', "xproc-gc-pass", g.Size, g.MaxEntries, "xproc-gc-pass", "cmpdel-batch", g.System, 2, "", "", "", "", "", "", "", "", "", C(g.ScanEntriesPerSec), "", g.WrongTotal, "", C(g.WriterOpsPerSec), "", "", "", "", C(g.PassDeletesPerSec), C(g.DeletePhasePerSec), C(g.ScanEntriesPerSec), g.Passes, g.Busy));
        if (r.Dram.Count > 0)
            b.AppendLine(string.Join(',', "dram", "", "", "pointer-chase", $"{r.Dram[0].BufferBytes >> 20}MiB", "DRAM", 1, r.Dram.Count, "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", C(Stats.Median(r.Dram.Select(d => d.NsPerHop))), "", "", "", "", ""));
        File.WriteAllText(path, b.ToString());

        var rb = new StringBuilder("size,max_entries,workload,system,threads,round,seconds,ops,ns_per_op,mops,p50_ns,p99_ns,p999_ns,alloc_bytes_per_op,errors\n");
        foreach (var x in r.Ops)
            rb.AppendLine(string.Join(',', x.Size, x.MaxEntries, x.Workload, x.System, x.Threads, x.Round, C(x.Seconds), x.Ops, C(x.NsPerOp), C(x.Mops), C(x.P50), C(x.P99), C(x.P999), C(x.AllocBytesPerOp), x.Errors));
        File.WriteAllText(Path.ChangeExtension(path, null) + "-rounds.csv", rb.ToString());

        if (r.XprocGcPass.Count > 0) PassCsv(Path.ChangeExtension(path, null) + "-xproc-gc-passes.csv", r.XprocGcPass);
        if (r.GcPass.Count > 0) PassCsv(Path.ChangeExtension(path, null) + "-gc-passes.csv", r.GcPass);
    }

    private static void PassCsv(string path, List<GcPassRow> rows)
    {
        var pb = new StringBuilder("size,max_entries,system,atomic,round,pass,scanned,stale,deleted,kept_busy,wrong,scan_s,decide_s,delete_s,pass_deleted_per_s,delete_phase_deleted_per_s,scan_entries_per_s,writer_ops,writer_ops_per_s,collector_on_cpu\n");
        foreach (var x in rows)
            pb.AppendLine(string.Join(',', x.Size, x.MaxEntries, x.System, x.Atomic, x.Round, x.Pass, x.Scanned, x.Stale, x.Deleted, x.Busy, x.Wrong,
                C(x.ScanSeconds), C(x.DecideSeconds), C(x.DeleteSeconds), C(x.PassDeletesPerSec), C(x.DeletePhasePerSec), C(x.ScanEntriesPerSec), x.WriterOps, C(x.WriterOpsPerSec), C(x.CollectorOnCpu)));
        File.WriteAllText(path, pb.ToString());
    }

    private static string C(double x) => double.IsNaN(x) ? "" : x.ToString("G6", Inv);
}
