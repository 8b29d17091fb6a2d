using FastMap.Stress.Run;

namespace FastMap.Stress.Report;

/// <summary>
/// One target, checked against this run: <see cref="Value"/> is the median's, <see cref="RoundsMet"/> of
/// <see cref="Rounds"/> rounds held it on their own figures. Met when the median holds it and at least two rounds of
/// three do (the storage issue's rule).
/// </summary>
public sealed record TargetCheck(string Target, string Where, string System, double Value, double Goal, bool? Met, string Unit,
    int RoundsMet = 0, int Rounds = 0)
{
    public string Verdict => Met switch { true => "met", false => "**missed**", null => Informational ? "reported (no target)" : "not measured" };

    /// <summary>A figure reported with the targets that has no goal (<see cref="Goal"/> NaN).</summary>
    public bool Informational => double.IsNaN(Goal);

    /// <summary>"2/3" when rounds were judged one by one, else empty.</summary>
    public string RoundsText => Rounds > 0 ? $"{RoundsMet}/{Rounds}" : "";
}

/// <summary>The storage issue's targets (ratios within one run; medians, and rounds one by one).</summary>
public static class Targets
{
    private static readonly string[] Lookups = ["lookup-hit", "lookup-miss"];
    private static readonly string[] Writes = ["update-exist", "churn", "cmpdel-match", "cmpdel-stale"];
    private static readonly string[] Kernels = ["kernel-hash", "kernel-hash-noprealloc"];
    /// <summary>The compare-and-swap issue's: at least 3x ConcurrentDictionary's TryUpdate, 20x the kernel's lookup + update.</summary>
    private static readonly string[] CompareUpdates = ["cmpupd-match", "cmpupd-stale"];

    /// <summary>gc-pass (and xproc-gc-pass): FastMap's whole-pass rate over the kernel's.</summary>
    private const double GcPassKernelGoal = 50;

    /// <summary>gc-pass deletes per second over the whole pass (scan + decide + delete), in millions, at S and L.</summary>
    private static readonly Dictionary<string, double> GcPassGoal = new() { ["S"] = 15, ["L"] = 8 };

    /// <summary>Rounds needed out of <paramref name="rounds"/>: two of three (at least two thirds).</summary>
    private static int Needed(int rounds) => (2 * rounds + 2) / 3;

    public static List<TargetCheck> Check(Summary s, RunResults r)
    {
        var list = new List<TargetCheck>();
        var sizes = s.Ops.Select(x => x.Size).Distinct().ToList();
        var threads = s.Ops.Select(x => x.Threads).Distinct().Order().ToList();
        const string fm = "FastMap";
        foreach (string size in sizes)
            foreach (int t in threads)
            {
                foreach (string w in Lookups)
                    foreach (string peer in new[] { "ConcurrentDictionary", "NonBlocking", "libcuckoo" })
                        Ratio(list, s, r, $"{w} >= 1.3x {peer}", size, w, t, fm, peer, 1.3);
                foreach (string w in Writes)
                {
                    foreach (string peer in new[] { "ConcurrentDictionary", "NonBlocking" })
                        Ratio(list, s, r, $"{w} >= 3x {peer}", size, w, t, fm, peer, 3);
                    Ratio(list, s, r, $"{w} >= 1.2x libcuckoo", size, w, t, fm, "libcuckoo", 1.2);
                }
                foreach (string w in CompareUpdates)
                {
                    Ratio(list, s, r, $"{w} >= 3x ConcurrentDictionary", size, w, t, fm, "ConcurrentDictionary", 3);
                    foreach (string k in Kernels)
                        Ratio(list, s, r, $"{w} >= 20x {k}", size, w, t, fm, k, 20);
                }
                foreach (string k in Kernels)
                    foreach (string w in Lookups.Concat(Writes))
                        Ratio(list, s, r, $"{w} >= 20x {k}", size, w, t, fm, k, 20);
                foreach (string w in Lookups.Concat(Writes).Append("bulk-lookup"))
                    CPath(list, s, r, size, w, t);
            }
        foreach (string size in sizes)
            BulkTarget(list, s, r, size);
        GcPassTargets(list, s, r, fm);
        var rows = s.Ops.Where(x => x.System == fm).ToList();
        if (rows.Count > 0)
        {
            // Bytes per op over each timed run: a run that allocated nothing shows 0. One-off allocations of a thread's
            // first call (its epoch slot, a scan's scratch) would show as a few bytes per million ops, not as "per op".
            double alloc = rows.Max(x => x.AllocMax);
            list.Add(new TargetCheck("0 bytes allocated per op", "every workload", fm, alloc, 0, alloc < 0.001, "B/op"));
        }
        foreach (var m in r.Memory.Where(x => x.System == fm))
            list.Add(new TargetCheck("memory per entry <= 64 B at max_entries (K16/V32)", m.Size, fm, m.PerMaxEntry, 64, m.PerMaxEntry <= 64, "B"));
        if (threads.Contains(1) && threads.Contains(2))
            foreach (string size in sizes)
                foreach (var (w, goal) in new[] { ("lookup-hit", 1.8), ("lookup-miss", 1.8), ("update-exist", 1.5) })
                    Scaling(list, s, r, size, w, goal, fm);
        foreach (var g in s.Gc.Where(x => x.System == fm && x.Variant.EndsWith("cmpdel", StringComparison.Ordinal)))
            list.Add(new TargetCheck("gc-race with compare-and-delete: 0 live entries deleted", $"{g.Size} {g.Variant}", fm,
                g.WrongTotal, 0, g.WrongTotal == 0, " entries"));
        XprocTargets(list, s, fm);
        return list;
    }

    /// <summary>
    /// The cross-process workloads: no live entry deleted by FastMap's compare-and-delete (xproc-gc-race, xproc-gc-pass);
    /// FastMap's collector over the kernel's (xproc-gc-pass: the in-process gc-pass target's 50x; xproc-gc-race: reported,
    /// as gc-race has no kernel ratio target); and the cost of a lookup through a shared map's second handle.
    /// </summary>
    private static void XprocTargets(List<TargetCheck> list, Summary s, string fm)
    {
        const string k = "kernel-hash";
        foreach (var g in s.XprocGc.Where(x => x.System == fm && x.Variant.EndsWith("cmpdel", StringComparison.Ordinal)))
            list.Add(new TargetCheck("xproc-gc-race with compare-and-delete: 0 live entries deleted", $"{g.Size} {g.Variant}", fm,
                g.WrongTotal, 0, g.WrongTotal == 0, " entries"));
        foreach (var g in s.XprocGc.Where(x => x.System == fm && x.Variant.StartsWith("update/", StringComparison.Ordinal)))
        {
            double ratio = s.GcRatio(g.Size, g.Variant, fm, k, xproc: true);
            if (double.IsNaN(ratio)) continue;
            double inProcess = s.GcRatio(g.Size, g.Variant, fm, k, xproc: false);
            list.Add(new TargetCheck($"xproc-gc-race: collector entries/s FastMap / {k} (in-process gc-race: {(double.IsNaN(inProcess) ? "not run" : inProcess.ToString("F1", System.Globalization.CultureInfo.InvariantCulture) + "x")}; no target there)",
                $"{g.Size} {g.Variant}", fm, ratio, double.NaN, null, "x"));
        }
        foreach (var g in s.XprocGcPass.Where(x => x.System == fm))
        {
            double ratio = s.PassRatio(g.Size, fm, k, x => x.PassDeletesPerSec, xproc: true);
            if (!double.IsNaN(ratio))
                list.Add(new TargetCheck($"xproc-gc-pass: >= {GcPassKernelGoal}x {k} (writer in a second process; the in-process gc-pass target)", g.Size, fm,
                    ratio, GcPassKernelGoal, ratio >= GcPassKernelGoal, "x"));
            list.Add(new TargetCheck("xproc-gc-pass: 0 live entries deleted", g.Size, fm, g.WrongTotal, 0, g.WrongTotal == 0, " entries"));
        }
        foreach (var priv in s.Ops.Where(x => x.Workload == "xproc-lookup" && x.System == fm))
        {
            var shared = s.Find(priv.Size, priv.Workload, priv.Threads, "FastMap-shared");
            if (shared is null) continue;
            var inv = System.Globalization.CultureInfo.InvariantCulture;
            list.Add(new TargetCheck($"cross-process lookup cost: ns per lookup-hit, shared map's second handle {shared.NsPerOp.ToString("F1", inv)} ns / private map {priv.NsPerOp.ToString("F1", inv)} ns",
                $"{priv.Size} t{priv.Threads}", "FastMap-shared", shared.NsPerOp / priv.NsPerOp, double.NaN, null, "x"));
        }
    }

    /// <summary>Throughput a/b >= goal, on the medians and round by round.</summary>
    private static void Ratio(List<TargetCheck> list, Summary s, RunResults r, string target, string size, string w, int t,
        string a, string b, double goal)
    {
        double median = s.Ratio(size, w, t, a, b);
        if (double.IsNaN(median)) return;
        var perRound = RoundPairs(r, size, w, t, a, b).Select(p => p.A.Mops / p.B.Mops).ToList();
        int held = perRound.Count(x => x >= goal);
        list.Add(new TargetCheck(target, $"{size} t{t}", a, median, goal,
            median >= goal && held >= Needed(perRound.Count), "x", held, perRound.Count));
    }

    /// <summary>FastMap-C's ns per op at most 5 more than FastMap's (.NET), on the medians and round by round.</summary>
    private static void CPath(List<TargetCheck> list, Summary s, RunResults r, string size, string w, int t)
    {
        var c = s.Find(size, w, t, "FastMap-C");
        var n = s.Find(size, w, t, "FastMap");
        if (c is null || n is null) return;
        double median = c.NsPerOp - n.NsPerOp;
        var perRound = RoundPairs(r, size, w, t, "FastMap-C", "FastMap").Select(p => p.A.NsPerOp - p.B.NsPerOp).ToList();
        int held = perRound.Count(x => x <= 5);
        list.Add(new TargetCheck($"{w}: FastMap-C within 5 ns of FastMap", $"{size} t{t}", "FastMap-C", median, 5,
            median <= 5 && held >= Needed(perRound.Count), " ns more", held, perRound.Count));
    }

    /// <summary>Bulk lookup at L, one thread: single lookups' ns per op over the bulk lookup's ns per key, >= 3.</summary>
    private static void BulkTarget(List<TargetCheck> list, Summary s, RunResults r, string size)
    {
        if (size != "L") return;
        var bulk = s.Find(size, "bulk-lookup", 1, "FastMap");
        var single = s.Find(size, "lookup-hit", 1, "FastMap");
        if (bulk is null || single is null) return;
        double median = single.NsPerOp / bulk.NsPerOp;
        var perRound = r.Ops.Where(x => x.Size == size && x.Threads == 1 && x.System == "FastMap" && x.Workload == "bulk-lookup")
            .Join(r.Ops.Where(x => x.Size == size && x.Threads == 1 && x.System == "FastMap" && x.Workload == "lookup-hit"),
                b => b.Round, l => l.Round, (b, l) => l.NsPerOp / b.NsPerOp).ToList();
        int held = perRound.Count(x => x >= 3);
        list.Add(new TargetCheck("bulk lookup: ns per key >= 3x faster than single lookups", $"{size} t1", "FastMap", median, 3,
            median >= 3 && held >= Needed(perRound.Count), "x", held, perRound.Count));
    }

    /// <summary>Two threads' throughput over one thread's, on the medians and round by round.</summary>
    private static void Scaling(List<TargetCheck> list, Summary s, RunResults r, string size, string w, double goal, string fm)
    {
        var a = s.Find(size, w, 1, fm);
        var b = s.Find(size, w, 2, fm);
        if (a is null || b is null) return;
        double median = b.Mops / a.Mops;
        var perRound = r.Ops.Where(x => x.Size == size && x.Workload == w && x.System == fm && x.Threads == 2)
            .Join(r.Ops.Where(x => x.Size == size && x.Workload == w && x.System == fm && x.Threads == 1),
                two => two.Round, one => one.Round, (two, one) => two.Mops / one.Mops).ToList();
        int held = perRound.Count(x => x >= goal);
        list.Add(new TargetCheck($"{w}: 2 threads >= {goal}x 1 thread", size, fm, median, goal,
            median >= goal && held >= Needed(perRound.Count), "x", held, perRound.Count));
    }

    /// <summary>The same (size, workload, threads) of systems a and b in each round that measured both.</summary>
    private static IEnumerable<(OpRow A, OpRow B)> RoundPairs(RunResults r, string size, string w, int t, string a, string b) =>
        r.Ops.Where(x => x.Size == size && x.Workload == w && x.Threads == t && x.System == a)
            .Join(r.Ops.Where(x => x.Size == size && x.Workload == w && x.Threads == t && x.System == b),
                x => x.Round, y => y.Round, (x, y) => (x, y))
            .Where(p => p.y.Mops > 0);

    /// <summary>The gc-pass targets, on the whole-pass figure: over libcuckoo by 1.5x and at least 15 M/s (S) or 8 M/s (L);
    /// 50x the kernel's; no live entry deleted.</summary>
    private static void GcPassTargets(List<TargetCheck> list, Summary s, RunResults r, string fm)
    {
        static double Pass(GcPassSummary x) => x.PassDeletesPerSec;
        foreach (var g in s.GcPass.Where(x => x.System == fm))
        {
            if (GcPassGoal.TryGetValue(g.Size, out double goal))
            {
                var perRound = r.GcPass.Where(x => x.Size == g.Size && x.System == fm).GroupBy(x => x.Round)
                    .Select(x => Stats.Median(x.Select(p => p.PassDeletesPerSec)) / 1e6).ToList();
                int held = perRound.Count(x => x >= goal);
                list.Add(new TargetCheck($"gc-pass: collector deletes >= {goal} M entries/s (scan + decide + delete)", g.Size, fm,
                    g.PassDeletesPerSec / 1e6, goal, g.PassDeletesPerSec / 1e6 >= goal && held >= Needed(perRound.Count), " M/s",
                    held, perRound.Count));
            }
            double vsCuckoo = s.PassRatio(g.Size, fm, "libcuckoo", Pass);
            if (!double.IsNaN(vsCuckoo))
            {
                var perRound = RoundPassRatios(r, g.Size, fm, "libcuckoo").ToList();
                int held = perRound.Count(x => x >= 1.5);
                list.Add(new TargetCheck("gc-pass: >= 1.5x libcuckoo (locked_table scan + erase_fn)", g.Size, fm, vsCuckoo, 1.5,
                    vsCuckoo >= 1.5 && held >= Needed(perRound.Count), "x", held, perRound.Count));
            }
            foreach (string k in Kernels)
            {
                double ratio = s.PassRatio(g.Size, fm, k, Pass);
                if (!double.IsNaN(ratio))
                    list.Add(new TargetCheck($"gc-pass: >= {GcPassKernelGoal}x {k} (LOOKUP_BATCH + DELETE_ELEM per key)", g.Size, fm, ratio, GcPassKernelGoal, ratio >= GcPassKernelGoal, "x"));
            }
            list.Add(new TargetCheck("gc-pass: 0 live entries deleted", g.Size, fm, g.WrongTotal, 0, g.WrongTotal == 0, " entries"));
        }
    }

    private static IEnumerable<double> RoundPassRatios(RunResults r, string size, string a, string b)
    {
        var ra = r.GcPass.Where(x => x.Size == size && x.System == a).GroupBy(x => x.Round)
            .ToDictionary(x => x.Key, x => Stats.Median(x.Select(p => p.PassDeletesPerSec)));
        var rb = r.GcPass.Where(x => x.Size == size && x.System == b).GroupBy(x => x.Round)
            .ToDictionary(x => x.Key, x => Stats.Median(x.Select(p => p.PassDeletesPerSec)));
        foreach (var (round, va) in ra)
            if (rb.TryGetValue(round, out double vb) && vb > 0)
                yield return va / vb;
    }
}
