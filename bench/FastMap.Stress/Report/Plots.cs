using ScottPlot;

namespace FastMap.Stress.Report;

/// <summary>PNG plots with ScottPlot: throughput per workload and system, latency percentiles, gc-race, gc-pass.</summary>
public static class Plots
{
    private static readonly IPalette Palette = new ScottPlot.Palettes.Category10();

    public static List<string> Write(string dir, Summary s)
    {
        var files = new List<string>();
        var systems = s.Ops.Select(x => x.System).Distinct().ToList();
        foreach (var size in s.Ops.Select(x => x.Size).Distinct())
            foreach (int t in s.Ops.Select(x => x.Threads).Distinct().Order())
            {
                var rows = s.Ops.Where(x => x.Size == size && x.Threads == t).ToList();
                if (rows.Count == 0) continue;
                var workloads = rows.Select(x => x.Workload).Distinct().ToList();
                files.Add(Grouped(Path.Combine(dir, $"throughput-{size}-t{t}.png"), $"Throughput, size {size}, {t} thread(s) (log scale)",
                    "Mops/s", workloads, systems, (w, sys) => rows.FirstOrDefault(x => x.Workload == w && x.System == sys)?.Mops));
                files.Add(Grouped(Path.Combine(dir, $"latency-p99-{size}-t{t}.png"), $"Latency p99 (sampled), size {size}, {t} thread(s) (log scale)",
                    "ns", workloads, systems, (w, sys) => rows.FirstOrDefault(x => x.Workload == w && x.System == sys)?.P99));
            }
        foreach (var size in s.Ops.Select(x => x.Size).Distinct())
        {
            var rows = s.Ops.Where(x => x.Size == size && x.Threads == 1 && x.Workload == "lookup-hit").ToList();
            if (rows.Count == 0) continue;
            files.Add(Grouped(Path.Combine(dir, $"latency-lookup-hit-{size}.png"), $"lookup-hit latency percentiles, size {size}, 1 thread (log scale)",
                "ns", ["p50", "p99", "p99.9"], [.. rows.Select(x => x.System)],
                (p, sys) => rows.FirstOrDefault(x => x.System == sys) is { } x ? p switch { "p50" => x.P50, "p99" => x.P99, _ => x.P999 } : null));
        }
        if (s.Gc.Count > 0)
        {
            var labels = s.Gc.Select(g => g.Variant).Distinct().ToList();
            var gsys = s.Gc.Select(g => g.System).Distinct().ToList();
            foreach (var size in s.Gc.Select(g => g.Size).Distinct())
            {
                var rows = s.Gc.Where(g => g.Size == size).ToList();
                files.Add(Grouped(Path.Combine(dir, $"gc-race-collector-{size}.png"), $"gc-race: collector entries/s, size {size} (log scale)",
                    "Mentries/s", labels, gsys, (v, sys) => rows.FirstOrDefault(g => g.Variant == v && g.System == sys)?.CollectorEntriesPerSec / 1e6));
                files.Add(Grouped(Path.Combine(dir, $"gc-race-wrong-{size}.png"), $"gc-race: live entries wrongly deleted per second, size {size} (log scale; 0 not drawn)",
                    "wrong deletions/s", labels, gsys, (v, sys) => rows.FirstOrDefault(g => g.Variant == v && g.System == sys)?.WrongPerSec));
            }
        }
        foreach (var size in s.GcPass.Select(g => g.Size).Distinct())
        {
            var rows = s.GcPass.Where(g => g.Size == size).ToList();
            files.Add(Grouped(Path.Combine(dir, $"gc-pass-{size}.png"), $"gc-pass: collector rates, size {size} (log scale)",
                "M/s", ["pass deletes/s", "delete-phase deletes/s", "scan entries/s"], [.. rows.Select(g => g.System)],
                (metric, sys) => rows.FirstOrDefault(g => g.System == sys) is { } g
                    ? metric switch { "pass deletes/s" => g.PassDeletesPerSec, "delete-phase deletes/s" => g.DeletePhasePerSec, _ => g.ScanEntriesPerSec } / 1e6
                    : null));
        }
        return files;
    }

    /// <summary>Grouped bars on a log10 axis; missing or non-positive values are not drawn.</summary>
    private static string Grouped(string path, string title, string unit, IReadOnlyList<string> groups,
        IReadOnlyList<string> series, Func<string, string, double?> value)
    {
        var plt = new Plot();
        int n = series.Count;
        double width = 0.8 / Math.Max(1, n);
        double lo = double.MaxValue, hi = double.MinValue;
        for (int si = 0; si < n; si++)
        {
            var color = Palette.GetColor(si);
            for (int gi = 0; gi < groups.Count; gi++)
            {
                double? v = value(groups[gi], series[si]);
                if (v is not > 0) continue;
                double lv = Math.Log10(v.Value);
                lo = Math.Min(lo, lv); hi = Math.Max(hi, lv);
                plt.Add.Bar(new Bar
                {
                    Position = gi + (si - (n - 1) / 2.0) * width,
                    Value = lv,
                    ValueBase = -10,
                    Size = width * 0.95,
                    FillColor = color,
                    LineWidth = 0,
                });
            }
            plt.Legend.ManualItems.Add(new LegendItem { LabelText = series[si], FillColor = color });
        }
        if (lo == double.MaxValue) { lo = 0; hi = 1; }
        int floor = (int)Math.Floor(lo) - 1, ceil = (int)Math.Ceiling(hi) + 1;
        double[] ticks = [.. Enumerable.Range(floor, ceil - floor + 1).Select(x => (double)x)];
        plt.Axes.Left.SetTicks(ticks, [.. ticks.Select(x => Math.Pow(10, x).ToString("G4", System.Globalization.CultureInfo.InvariantCulture))]);
        plt.Axes.Bottom.SetTicks([.. Enumerable.Range(0, groups.Count).Select(x => (double)x)], [.. groups]);
        plt.Axes.SetLimits(-0.6, groups.Count - 0.4, floor, ceil);
        plt.Title(title);
        plt.YLabel(unit);
        plt.ShowLegend(Edge.Right); // outside the data area, so no bar is hidden
        plt.SavePng(path, Math.Max(1000, 170 * groups.Count + 220), 560);
        return path;
    }
}
