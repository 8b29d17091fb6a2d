using System.Globalization;
using FastMap.Stress.Run;
using Spectre.Console;

namespace FastMap.Stress.Report;

/// <summary>The results table printed at the end of a run.</summary>
public static class ResultsTable
{
    private static string F(double x, string f = "F2") => double.IsNaN(x) ? "n/a" : x.ToString(f, CultureInfo.InvariantCulture);

    public static void Print(Summary s, List<TargetCheck> targets, RunResults r)
    {
        var t = new Table().Border(TableBorder.Simple).Title("median Mops/s (ratio FastMap/this)");
        t.AddColumn("size");
        t.AddColumn("workload");
        t.AddColumn("thr");
        var systems = s.Ops.Select(x => x.System).Distinct().ToList();
        foreach (var sys in systems) t.AddColumn(new TableColumn(Markup.Escape(sys)).RightAligned());
        foreach (var g in s.Ops.GroupBy(x => (x.Size, x.Workload, x.Threads)))
        {
            var cells = new List<string> { g.Key.Size, g.Key.Workload, g.Key.Threads.ToString(CultureInfo.InvariantCulture) };
            foreach (var sys in systems)
            {
                var x = g.FirstOrDefault(y => y.System == sys);
                double ratio = s.Ratio(g.Key.Size, g.Key.Workload, g.Key.Threads, "FastMap", sys);
                cells.Add(x is null ? "" : $"{F(x.Mops)}{(double.IsNaN(ratio) || sys == "FastMap" ? "" : $" ({F(ratio, "F1")}x)")}{(x.Errors > 0 ? " [red]![/]" : "")}");
            }
            t.AddRow([.. cells]);
        }
        AnsiConsole.Write(t);

        if (s.Gc.Count > 0)
        {
            var gt = new Table().Border(TableBorder.Simple).Title("gc-race");
            foreach (var c in new[] { "size", "system", "variant", "collector Mentries/s", "wrong deletions", "wrong/s" }) gt.AddColumn(c);
            foreach (var g in s.Gc)
                gt.AddRow(g.Size, Markup.Escape(g.System), g.Variant, F(g.CollectorEntriesPerSec / 1e6), g.WrongTotal.ToString(CultureInfo.InvariantCulture), F(g.WrongPerSec, "F0"));
            AnsiConsole.Write(gt);
        }
        if (s.GcPass.Count > 0)
        {
            var pt = new Table().Border(TableBorder.Simple).Title("gc-pass (medians; M/s)");
            foreach (var c in new[] { "size", "system", "passes", "pass deletes", "delete phase", "scan entries", "wrong", "writer Mops/s", "on CPU", "FastMap/this" }) pt.AddColumn(c);
            foreach (var g in s.GcPass)
                pt.AddRow(g.Size, Markup.Escape(g.System), g.Passes.ToString(CultureInfo.InvariantCulture), F(g.PassDeletesPerSec / 1e6), F(g.DeletePhasePerSec / 1e6),
                    F(g.ScanEntriesPerSec / 1e6), g.WrongTotal.ToString(CultureInfo.InvariantCulture), F(g.WriterOpsPerSec / 1e6), F(g.CollectorOnCpu * 100, "F0") + "%",
                    F(s.PassRatio(g.Size, "FastMap", g.System, x => x.PassDeletesPerSec), "F1"));
            AnsiConsole.Write(pt);
        }
        if (s.XprocGc.Count > 0)
        {
            var gt = new Table().Border(TableBorder.Simple).Title("xproc-gc-race (writer in a second process)");
            foreach (var c in new[] { "size", "system", "variant", "collector Mentries/s", "in-process", "wrong deletions", "wrong/s", "writer Mops/s" }) gt.AddColumn(c);
            foreach (var g in s.XprocGc)
                gt.AddRow(g.Size, Markup.Escape(g.System), g.Variant, F(g.CollectorEntriesPerSec / 1e6),
                    F((s.FindGc(g.Size, g.System, g.Variant, xproc: false)?.CollectorEntriesPerSec ?? double.NaN) / 1e6),
                    g.WrongTotal.ToString(CultureInfo.InvariantCulture), F(g.WrongPerSec, "F0"), F(g.WriterOpsPerSec / 1e6));
            AnsiConsole.Write(gt);
        }
        if (s.XprocGcPass.Count > 0)
        {
            var pt = new Table().Border(TableBorder.Simple).Title("xproc-gc-pass (writer in a second process; medians; M/s)");
            foreach (var c in new[] { "size", "system", "passes", "pass deletes", "in-process", "delete phase", "scan entries", "wrong", "writer Mops/s", "on CPU", "FastMap/this" }) pt.AddColumn(c);
            foreach (var g in s.XprocGcPass)
                pt.AddRow(g.Size, Markup.Escape(g.System), g.Passes.ToString(CultureInfo.InvariantCulture), F(g.PassDeletesPerSec / 1e6),
                    F((s.FindPass(g.Size, g.System)?.PassDeletesPerSec ?? double.NaN) / 1e6), F(g.DeletePhasePerSec / 1e6),
                    F(g.ScanEntriesPerSec / 1e6), g.WrongTotal.ToString(CultureInfo.InvariantCulture), F(g.WriterOpsPerSec / 1e6), F(g.CollectorOnCpu * 100, "F0") + "%",
                    F(s.PassRatio(g.Size, "FastMap", g.System, x => x.PassDeletesPerSec, xproc: true), "F1"));
            AnsiConsole.Write(pt);
        }
        foreach (var x in targets.Where(y => y.Informational && y.Target.StartsWith("cross-process", StringComparison.Ordinal)))
            AnsiConsole.MarkupLineInterpolated($"{x.Target} at {x.Where}: {F(x.Value)}x");
        if (r.Dram.Count > 0)
            AnsiConsole.MarkupLineInterpolated($"DRAM random access: {F(Stats.Median(r.Dram.Select(d => d.NsPerHop)), "F1")} ns");
        int met = targets.Count(x => x.Met == true), missed = targets.Count(x => x.Met == false);
        AnsiConsole.MarkupLineInterpolated($"targets: {met} met, {missed} missed, {targets.Count(x => x.Met is null && !x.Informational)} not measured here, {targets.Count(x => x.Informational)} reported without a target");
        foreach (var n in r.Notes) AnsiConsole.MarkupLineInterpolated($"[yellow]note[/]: {n}");
    }
}
