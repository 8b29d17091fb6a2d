namespace FastMap.Stress.Run;

/// <summary>One timed measurement (one round of one system, workload, size and thread count).</summary>
public sealed record OpRow(string Size, int MaxEntries, string Workload, string System, int Threads, int Round,
    double Seconds, long Ops, double NsPerOp, double Mops, double P50, double P99, double P999,
    double AllocBytesPerOp, long Errors);

/// <summary>One gc-race run.</summary>
public sealed record GcRow(string Size, int MaxEntries, string System, string Variant, bool Atomic, int Round,
    double Seconds, double CollectorEntriesPerSec, double DeletedPerSec, long Wrong, double WrongPerSec, long Busy,
    double WriterOpsPerSec, long Passes);

/// <summary>
/// One gc-pass pass (<see cref="GcPass"/>): the timed phases in seconds and the outcome of its deletes.
/// <c>CollectorOnCpu</c>: the share of the pass the collector was running when it could run (below 1: other processes
/// took its CPU; NaN where schedstat is missing).
/// </summary>
public sealed record GcPassRow(string Size, int MaxEntries, string System, bool Atomic, int Round, int Pass,
    int Scanned, int Stale, int Deleted, int Busy, int Wrong, double ScanSeconds, double DecideSeconds,
    double DeleteSeconds, long WriterOps, double WriterSeconds, double CollectorOnCpu)
{
    public double PassSeconds => ScanSeconds + DecideSeconds + DeleteSeconds;
    /// <summary>The GC figure: entries deleted per second of scan + decide + delete.</summary>
    public double PassDeletesPerSec => Deleted / PassSeconds;
    public double DeletePhasePerSec => Deleted / DeleteSeconds;
    public double ScanEntriesPerSec => Scanned / ScanSeconds;
    public double WriterOpsPerSec => WriterOps / WriterSeconds;
}

/// <summary>Memory of one system at one size, measured around create + prefill.</summary>
public sealed record MemRow(string Size, int MaxEntries, string System, string Kind, long Bytes, int Entries,
    double PrefillSeconds)
{
    public double PerEntry => Entries == 0 ? double.NaN : (double)Bytes / Entries;
    public double PerMaxEntry => MaxEntries == 0 ? double.NaN : (double)Bytes / MaxEntries;
}

/// <summary>The DRAM pointer-chase reference.</summary>
public sealed record DramRow(int Round, long BufferBytes, double NsPerHop);

/// <summary>Everything one run measured.</summary>
public sealed class RunResults
{
    public readonly List<OpRow> Ops = [];
    public readonly List<GcRow> Gc = [];
    public readonly List<GcPassRow> GcPass = [];
    /// <summary>xproc-gc-race: gc-race with the writer in a second process.</summary>
    public readonly List<GcRow> XprocGc = [];
    /// <summary>xproc-gc-pass: gc-pass with the writer in a second process.</summary>
    public readonly List<GcPassRow> XprocGcPass = [];
    public readonly List<MemRow> Memory = [];
    public readonly List<DramRow> Dram = [];
    public readonly List<string> Notes = [];
    public DateTime Started, Finished;
}

public static class Stats
{
    public static double Median(IEnumerable<double> xs)
    {
        var a = xs.Where(x => !double.IsNaN(x)).OrderBy(x => x).ToArray();
        if (a.Length == 0) return double.NaN;
        return a.Length % 2 == 1 ? a[a.Length / 2] : (a[a.Length / 2 - 1] + a[a.Length / 2]) / 2;
    }

    public static double StdDev(IEnumerable<double> xs)
    {
        var a = xs.Where(x => !double.IsNaN(x)).ToArray();
        if (a.Length < 2) return 0;
        double m = a.Average();
        return Math.Sqrt(a.Sum(x => (x - m) * (x - m)) / (a.Length - 1));
    }
}
