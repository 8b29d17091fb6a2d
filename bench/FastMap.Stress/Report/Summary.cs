using FastMap.Stress.Run;

namespace FastMap.Stress.Report;

/// <summary>Medians over rounds of one (size, workload, threads, system).</summary>
public sealed record OpSummary(string Size, int MaxEntries, string Workload, int Threads, string System, int Rounds,
    double Mops, double MopsSd, double NsPerOp, double P50, double P99, double P999, double AllocMax, long Errors);

public sealed record GcSummary(string Size, int MaxEntries, string System, string Variant, bool Atomic, int Rounds,
    double CollectorEntriesPerSec, double DeletedPerSec, long WrongTotal, double WrongPerSec, double WriterOpsPerSec);

/// <summary>gc-pass medians over every measured pass of every round; sums of the deletion outcomes.</summary>
public sealed record GcPassSummary(string Size, int MaxEntries, string System, bool Atomic, int Passes,
    double PassDeletesPerSec, double DeletePhasePerSec, double ScanEntriesPerSec, double WriterOpsPerSec,
    double PassMs, double Scanned, long Deleted, long Busy, long WrongTotal, double CollectorOnCpu);

public sealed class Summary
{
    public static readonly string[] FastMapSystems = ["FastMap", "FastMap-C"];
    public readonly List<OpSummary> Ops;
    public readonly List<GcSummary> Gc;
    public readonly List<GcPassSummary> GcPass;
    /// <summary>xproc-gc-race and xproc-gc-pass: the same summaries, writer in a second process.</summary>
    public readonly List<GcSummary> XprocGc;
    public readonly List<GcPassSummary> XprocGcPass;

    public Summary(RunResults r)
    {
        Ops = [.. r.Ops.GroupBy(x => (x.Size, x.MaxEntries, x.Workload, x.Threads, x.System)).Select(g => new OpSummary(
            g.Key.Size, g.Key.MaxEntries, g.Key.Workload, g.Key.Threads, g.Key.System, g.Count(),
            Stats.Median(g.Select(x => x.Mops)), Stats.StdDev(g.Select(x => x.Mops)), Stats.Median(g.Select(x => x.NsPerOp)),
            Stats.Median(g.Select(x => x.P50)), Stats.Median(g.Select(x => x.P99)), Stats.Median(g.Select(x => x.P999)),
            g.Max(x => x.AllocBytesPerOp), g.Sum(x => x.Errors)))];
        Gc = GcOf(r.Gc);
        GcPass = PassOf(r.GcPass);
        XprocGc = GcOf(r.XprocGc);
        XprocGcPass = PassOf(r.XprocGcPass);
    }

    private static List<GcSummary> GcOf(List<GcRow> rows) =>
        [.. rows.GroupBy(x => (x.Size, x.MaxEntries, x.System, x.Variant, x.Atomic)).Select(g => new GcSummary(
            g.Key.Size, g.Key.MaxEntries, g.Key.System, g.Key.Variant, g.Key.Atomic, g.Count(),
            Stats.Median(g.Select(x => x.CollectorEntriesPerSec)), Stats.Median(g.Select(x => x.DeletedPerSec)),
            g.Sum(x => x.Wrong), Stats.Median(g.Select(x => x.WrongPerSec)), Stats.Median(g.Select(x => x.WriterOpsPerSec))))];

    private static List<GcPassSummary> PassOf(List<GcPassRow> rows) =>
        [.. rows.GroupBy(x => (x.Size, x.MaxEntries, x.System, x.Atomic)).Select(g => new GcPassSummary(
            g.Key.Size, g.Key.MaxEntries, g.Key.System, g.Key.Atomic, g.Count(),
            Stats.Median(g.Select(x => x.PassDeletesPerSec)), Stats.Median(g.Select(x => x.DeletePhasePerSec)),
            Stats.Median(g.Select(x => x.ScanEntriesPerSec)), Stats.Median(g.Select(x => x.WriterOpsPerSec)),
            Stats.Median(g.Select(x => x.PassSeconds * 1e3)), Stats.Median(g.Select(x => (double)x.Scanned)),
            g.Sum(x => (long)x.Deleted), g.Sum(x => (long)x.Busy), g.Sum(x => (long)x.Wrong), Stats.Median(g.Select(x => x.CollectorOnCpu))))];

    public GcPassSummary? FindPass(string size, string system, bool xproc = false) =>
        (xproc ? XprocGcPass : GcPass).FirstOrDefault(x => x.Size == size && x.System == system);

    /// <summary>gc-pass (or xproc-gc-pass) ratio a/b of a median rate (same run), NaN when either is missing.</summary>
    public double PassRatio(string size, string a, string b, Func<GcPassSummary, double> rate, bool xproc = false)
    {
        var x = FindPass(size, a, xproc);
        var y = FindPass(size, b, xproc);
        return x is null || y is null || rate(y) <= 0 ? double.NaN : rate(x) / rate(y);
    }

    public GcSummary? FindGc(string size, string system, string variant, bool xproc) =>
        (xproc ? XprocGc : Gc).FirstOrDefault(x => x.Size == size && x.System == system && x.Variant == variant);

    /// <summary>gc-race (or xproc-gc-race) collector-rate ratio a/b of one variant, NaN when either is missing.</summary>
    public double GcRatio(string size, string variant, string a, string b, bool xproc)
    {
        var x = FindGc(size, a, variant, xproc);
        var y = FindGc(size, b, variant, xproc);
        return x is null || y is null || y.CollectorEntriesPerSec <= 0 ? double.NaN : x.CollectorEntriesPerSec / y.CollectorEntriesPerSec;
    }

    public OpSummary? Find(string size, string workload, int threads, string system) =>
        Ops.FirstOrDefault(x => x.Size == size && x.Workload == workload && x.Threads == threads && x.System == system);

    /// <summary>Throughput ratio a/b (medians of the same run), NaN when either is missing.</summary>
    public double Ratio(string size, string workload, int threads, string a, string b)
    {
        var x = Find(size, workload, threads, a);
        var y = Find(size, workload, threads, b);
        return x is null || y is null || y.Mops <= 0 ? double.NaN : x.Mops / y.Mops;
    }
}
