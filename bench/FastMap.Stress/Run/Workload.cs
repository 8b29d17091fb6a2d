namespace FastMap.Stress.Run;

/// <summary>The standard workloads of shared/bench/WORKLOADS.md, in the order a round runs them.</summary>
/// <remarks>
/// The order matters: every workload before churn leaves the map's key set as it was, and churn keeps the fill at
/// 3/4 (it slides the present window), so one prefill per size serves every workload and round. gc-race and gc-pass
/// restore what their collectors deleted before they return.
/// </remarks>
/// <remarks>The xproc workloads (cross-process: the writer in a second process, <see cref="XprocWriter"/>) run on maps
/// of their own (a shared FastMap map pinned under /dev/shm, a kernel map pinned in bpffs), never on the maps the
/// other workloads share; xproc-lookup reads the private FastMap map and a second handle of the shared one.</remarks>
public enum Workload { LookupHit, LookupMiss, BulkLookup, UpdateExist, CmpdelStale, CmpdelMatch, CmpupdStale, CmpupdMatch, Churn, GcRace, GcPass, XprocGcRace, XprocGcPass, XprocLookup }

public static class Workloads
{
    public static readonly Workload[] All = Enum.GetValues<Workload>();

    public static string Name(this Workload w) => w switch
    {
        Workload.LookupHit => "lookup-hit",
        Workload.LookupMiss => "lookup-miss",
        Workload.BulkLookup => "bulk-lookup",
        Workload.UpdateExist => "update-exist",
        Workload.Churn => "churn",
        Workload.CmpdelMatch => "cmpdel-match",
        Workload.CmpdelStale => "cmpdel-stale",
        Workload.CmpupdMatch => "cmpupd-match",
        Workload.CmpupdStale => "cmpupd-stale",
        Workload.GcRace => "gc-race",
        Workload.GcPass => "gc-pass",
        Workload.XprocGcRace => "xproc-gc-race",
        Workload.XprocGcPass => "xproc-gc-pass",
        Workload.XprocLookup => "xproc-lookup",
        _ => w.ToString(),
    };

    public static Workload Parse(string s) =>
        All.FirstOrDefault(w => w.Name() == s.Trim().ToLowerInvariant(), (Workload)(-1)) is var w && (int)w >= 0
            ? w
            : throw new ArgumentException($"unknown workload '{s}'; known: {string.Join(", ", All.Select(Name))}");

    /// <summary>The cross-process workloads (Runner.Xproc.cs).</summary>
    public static bool IsXproc(this Workload w) => w is Workload.XprocGcRace or Workload.XprocGcPass or Workload.XprocLookup;

    /// <summary>Keys a bulk-lookup call looks up (WORKLOADS.md).</summary>
    public const int BulkKeys = 64;

    /// <summary>Map operations one loop iteration makes (churn and cmpdel-match make two; bulk-lookup counts keys).</summary>
    public static int OpsPerIteration(this Workload w) => w switch
    {
        Workload.Churn or Workload.CmpdelMatch => 2,
        Workload.BulkLookup => BulkKeys,
        _ => 1,
    };

    /// <summary>Reads that may use every key; writes use only the thread's own partitions.</summary>
    public static bool ReadsAllKeys(this Workload w) =>
        w is Workload.LookupHit or Workload.LookupMiss or Workload.BulkLookup or Workload.CmpdelStale or Workload.CmpupdStale;
}
