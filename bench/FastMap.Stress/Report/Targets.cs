using FastMap.Stress.Run;

namespace FastMap.Stress.Report;

/// <summary>One target (issue 4's, or the benchmark issue's gc-pass), checked against this run.</summary>
public sealed record TargetCheck(string Target, string Where, string System, double Value, double Goal, bool? Met, string Unit)
{
    public string Verdict => Met switch { true => "met", false => "**missed**", null => "not measured" };
}

/// <summary>Issue 4's targets and the gc-pass ones (ratios in one run, medians).</summary>
public static class Targets
{
    private static readonly (string Workload, double Goal)[] VsConcurrentDictionary =
    [
        ("update-exist", 5), ("churn", 3), ("cmpdel-match", 3), ("cmpdel-stale", 3), ("lookup-hit", 1.3), ("lookup-miss", 1.3),
    ];

    public static List<TargetCheck> Check(Summary s, RunResults r)
    {
        var list = new List<TargetCheck>();
        var sizes = s.Ops.Select(x => x.Size).Distinct().ToList();
        var threads = s.Ops.Select(x => x.Threads).Distinct().Order().ToList();
        foreach (string fm in Summary.FastMapSystems)
        {
            GcPassTargets(s, fm, list);
            if (!s.Ops.Any(x => x.System == fm)) continue;
            foreach (string size in sizes)
                foreach (int t in threads)
                {
                    foreach (var (w, goal) in VsConcurrentDictionary)
                    {
                        double ratio = s.Ratio(size, w, t, fm, "ConcurrentDictionary");
                        if (!double.IsNaN(ratio))
                            list.Add(new TargetCheck($"{w} >= {goal}x ConcurrentDictionary", $"{size} t{t}", fm, ratio, goal, ratio >= goal, "x"));
                    }
                    foreach (string k in new[] { "kernel-hash", "kernel-hash-noprealloc" })
                        foreach (var (w, _) in VsConcurrentDictionary)
                        {
                            double ratio = s.Ratio(size, w, t, fm, k);
                            if (!double.IsNaN(ratio))
                                list.Add(new TargetCheck($"{w} >= 20x {k}", $"{size} t{t}", fm, ratio, 20, ratio >= 20, "x"));
                        }
                }
            var rows = s.Ops.Where(x => x.System == fm).ToList();
            if (rows.Count > 0)
            {
                double alloc = rows.Max(x => x.AllocMax);
                list.Add(new TargetCheck("0 bytes allocated per op", "every workload", fm, alloc, 0, alloc == 0, "B/op"));
            }
            foreach (var m in r.Memory.Where(x => x.System == fm))
                list.Add(new TargetCheck("memory per entry <= 72 B at max_entries", m.Size, fm, m.PerMaxEntry, 72, m.PerMaxEntry <= 72, "B"));
            if (threads.Contains(1) && threads.Contains(2))
                foreach (string size in sizes)
                    foreach (var (w, goal) in new[] { ("lookup-hit", 1.8), ("lookup-miss", 1.8), ("update-exist", 1.5) })
                    {
                        var a = s.Find(size, w, 1, fm);
                        var b = s.Find(size, w, 2, fm);
                        if (a is null || b is null) continue;
                        double ratio = b.Mops / a.Mops;
                        list.Add(new TargetCheck($"{w}: 2 threads >= {goal}x 1 thread", size, fm, ratio, goal, ratio >= goal, "x"));
                    }
            foreach (var g in s.Gc.Where(x => x.System == fm && x.Variant.EndsWith("cmpdel", StringComparison.Ordinal)))
                list.Add(new TargetCheck("gc-race with compare-and-delete: 0 live entries deleted", $"{g.Size} {g.Variant}", fm,
                    g.WrongTotal, 0, g.WrongTotal == 0, " entries"));
        }
        if (s.Ops.Count > 0)
            list.Add(new TargetCheck("compare window >= Span.SequenceEqual (faster up to 32 B)", "bench/FastMap.Benchmarks",
                "FastMap", double.NaN, double.NaN, null, ""));
        return list;
    }

    /// <summary>gc-pass deletes per second over the whole pass (scan + decide + delete), in millions, at S and L.</summary>
    private static readonly Dictionary<string, double> GcPassGoal = new() { ["S"] = 15, ["L"] = 8 };

    /// <summary>The benchmark issue's gc-pass targets, on the whole-pass figure (medians, one run).</summary>
    private static void GcPassTargets(Summary s, string fm, List<TargetCheck> list)
    {
        static double Pass(GcPassSummary x) => x.PassDeletesPerSec;
        foreach (var g in s.GcPass.Where(x => x.System == fm))
        {
            if (GcPassGoal.TryGetValue(g.Size, out double goal))
                list.Add(new TargetCheck($"gc-pass: collector deletes >= {goal} M entries/s (scan + decide + delete)", g.Size, fm,
                    g.PassDeletesPerSec / 1e6, goal, g.PassDeletesPerSec / 1e6 >= goal, " M/s"));
            double vsCuckoo = s.PassRatio(g.Size, fm, "libcuckoo", Pass);
            if (!double.IsNaN(vsCuckoo))
                list.Add(new TargetCheck("gc-pass: ahead of libcuckoo (locked_table scan + erase_fn)", g.Size, fm, vsCuckoo, 1, vsCuckoo > 1, "x"));
            foreach (string k in new[] { "kernel-hash", "kernel-hash-noprealloc" })
            {
                double ratio = s.PassRatio(g.Size, fm, k, Pass);
                if (!double.IsNaN(ratio))
                    list.Add(new TargetCheck($"gc-pass: >= 50x {k} (LOOKUP_BATCH + DELETE_ELEM per key)", g.Size, fm, ratio, 50, ratio >= 50, "x"));
            }
            list.Add(new TargetCheck("gc-pass: 0 live entries deleted", g.Size, fm, g.WrongTotal, 0, g.WrongTotal == 0, " entries"));
        }
    }
}
