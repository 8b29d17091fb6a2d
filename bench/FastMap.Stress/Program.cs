using System.CommandLine;
using System.Globalization;
using FastMap.Stress;
using FastMap.Stress.Report;
using FastMap.Stress.Run;
using FastMap.Stress.Systems;
using Spectre.Console;

// The stress run (issue 4, parts 2-4): every workload of shared/bench/WORKLOADS.md on FastMap and its peers, in one
// process, peers interleaved over several rounds; writes perf-results/<date>-<host>/.

// The writer (datapath) process of xproc-gc-race and xproc-gc-pass: this program again, driven over stdin/stdout
// (Run/Xproc.cs). Not an option of the command line users see.
if (args is ["--xproc-writer", ..])
    return XprocWriter.Serve();

var sizes = new Option<string>("--sizes") { Description = "Sizes: S (65,536), L (4,194,304) or numbers, comma-separated", DefaultValueFactory = _ => "S,L" };
var threads = new Option<string>("--threads") { Description = "Thread counts, comma-separated", DefaultValueFactory = _ => "1,2" };
var seconds = new Option<double?>("--seconds") { Description = "Timed seconds per measurement (default 0.1)" };
var slices = new Option<int?>("--slices") { Description = "Slices a measurement is cut into; systems take turns slice by slice within a round (default 5)" };
var gcSeconds = new Option<double?>("--gc-seconds") { Description = "Seconds per gc-race variant, and of gc-pass passes per system and round (default 0.3)" };
var gcWriterMops = new Option<double?>("--gc-writer-mops") { Description = "gc-pass writer refreshes per second in millions; 0: as fast as it can (default 2: the same pressure on every system)" };
var rounds = new Option<int?>("--rounds") { Description = "Rounds; medians are over rounds (default 3)" };
var workloads = new Option<string>("--workloads") { Description = "Workloads or 'all': " + string.Join(",", Workloads.All.Select(w => w.Name())), DefaultValueFactory = _ => "all" };
var systemsOpt = new Option<string>("--systems") { Description = "Systems or 'all': FastMap,FastMap-C,kernel-hash,kernel-hash-noprealloc,ConcurrentDictionary,NonBlocking,libcuckoo,Dictionary,C-table", DefaultValueFactory = _ => "all" };
var outOpt = new Option<string?>("--out") { Description = "Output directory (default perf-results/<yyyy-MM-dd>-<host>/)" };
var quick = new Option<bool>("--quick") { Description = "Smoke run: tiny sizes and durations (CI)" };
var nativeLib = new Option<string?>("--native-lib") { Description = "Path to libfastmap.so (default build/native-prefix/lib/libfastmap.so)" };
var seed = new Option<string>("--seed") { Description = "Key seed (hex with 0x, or decimal)", DefaultValueFactory = _ => "0x5EED" };
var noPlots = new Option<bool>("--no-plots") { Description = "Skip the PNG plots" };

var root = new RootCommand("FastMap stress run: FastMap against the kernel's BPF hash map, ConcurrentDictionary, NonBlocking and libcuckoo, with Dictionary and a plain C table as single-threaded limits")
{
    sizes, threads, seconds, slices, gcSeconds, gcWriterMops, rounds, workloads, systemsOpt, outOpt, quick, nativeLib, seed, noPlots,
};

root.SetAction(pr =>
{
    var o = new StressOptions();
    if (pr.GetValue(quick)) o.ApplyQuick();
    else o.Sizes = StressOptions.ParseSizes(pr.GetValue(sizes)!);
    if (pr.GetResult(sizes) is { Implicit: false }) o.Sizes = StressOptions.ParseSizes(pr.GetValue(sizes)!);
    o.Threads = [.. pr.GetValue(threads)!.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(x => int.Parse(x.Trim(), CultureInfo.InvariantCulture))];
    if (pr.GetValue(seconds) is { } sec) o.Seconds = sec;
    if (pr.GetValue(slices) is { } sl) o.Slices = sl;
    if (pr.GetValue(gcSeconds) is { } gsec) o.GcSeconds = gsec;
    if (pr.GetValue(gcWriterMops) is { } wm) o.GcWriterMops = wm;
    if (pr.GetValue(rounds) is { } rr) o.Rounds = rr;
    string wl = pr.GetValue(workloads)!;
    if (wl != "all") o.Workloads = [.. wl.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(Workloads.Parse).Distinct().OrderBy(w => w)];
    string sy = pr.GetValue(systemsOpt)!;
    if (sy != "all") o.Systems = [.. sy.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)];
    o.NativeLib = pr.GetValue(nativeLib);
    o.Plots = !pr.GetValue(noPlots);
    string sd = pr.GetValue(seed)!;
    o.Seed = sd.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
        ? ulong.Parse(sd[2..], NumberStyles.HexNumber, CultureInfo.InvariantCulture)
        : ulong.Parse(sd, CultureInfo.InvariantCulture);
    o.Out = pr.GetValue(outOpt);
    return Stress.Execute(o, "dotnet run -c Release --project bench/FastMap.Stress -- " + string.Join(' ', args));
});

return root.Parse(args).Invoke();

namespace FastMap.Stress
{
    internal static class Stress
    {
        public static int Execute(StressOptions o, string commandLine)
        {
            // Piped to a file, the console's width is unknown and Spectre assumes 80 columns, which breaks the tables
            // into fragments: render them at a width that fits every system's column instead.
            if (Console.IsOutputRedirected)
                AnsiConsole.Profile.Width = 240;
            MapSystem[] all =
            [
                new FastMapManagedSystem(), new NativeFastMapSystem(o.NativeLib), new KernelHashSystem(prealloc: true),
                new KernelHashSystem(prealloc: false), new ConcurrentDictionarySystem(), new NonBlockingSystem(), new CuckooSystem(),
                new DictionarySystem(), new CTableSystem(),
            ];
            if (o.Systems is { } want)
            {
                var unknown = want.Where(w => !all.Any(s => s.Name.Equals(w, StringComparison.OrdinalIgnoreCase))).ToList();
                if (unknown.Count > 0)
                {
                    AnsiConsole.MarkupLineInterpolated($"[red]unknown system(s): {string.Join(", ", unknown)}[/]; known: {string.Join(", ", all.Select(s => s.Name))}");
                    return 2;
                }
                all = [.. all.Where(s => want.Any(w => s.Name.Equals(w, StringComparison.OrdinalIgnoreCase)))];
            }
            var used = new List<MapSystem>();
            var skipped = new List<(string, string)>();
            foreach (var s in all)
            {
                string? why;
                try { why = s.Unavailable; } catch (Exception e) { why = e.GetType().Name + ": " + e.Message; }
                if (why is null) used.Add(s);
                else
                {
                    skipped.Add((s.Name, why));
                    AnsiConsole.MarkupLineInterpolated($"[yellow]skipping {s.Name}[/]: {why}");
                }
            }
            if (o.Threads.Any(t => t < 1) || o.Rounds < 1 || o.Seconds <= 0 || o.Slices < 1)
            {
                AnsiConsole.MarkupLine("[red]--threads, --rounds, --seconds and --slices must be positive[/]");
                return 2;
            }

            string outDir = o.Out ?? Path.Combine(Repo.Root, "perf-results", $"{DateTime.UtcNow:yyyy-MM-dd}-{Environment.MachineName}");
            Directory.CreateDirectory(outDir);
            AnsiConsole.MarkupLineInterpolated($"[bold]FastMap stress run[/]: {o.Describe()}");
            AnsiConsole.MarkupLineInterpolated($"systems: {string.Join(", ", used.Select(s => s.Name))}; output: {outDir}");

            var results = new RunResults { Started = DateTime.UtcNow };
            var runner = new Runner(o, used, results);
            AnsiConsole.Progress()
                .AutoRefresh(false) // no render thread competing with the measured threads on 2 cores
                .AutoClear(false)
                .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
                .Start(ctx =>
                {
                    var task = ctx.AddTask("starting", maxValue: runner.CountSteps());
                    runner.Run(task, ctx.Refresh);
                    task.Description = "done";
                    task.Value = task.MaxValue;
                    ctx.Refresh();
                });
            results.Finished = DateTime.UtcNow;

            var summary = new Summary(results);
            var targets = Targets.Check(summary, results);
            var plots = new List<string>();
            if (o.Plots)
            {
                try { plots = Plots.Write(outDir, summary); }
                catch (Exception e) { AnsiConsole.MarkupLineInterpolated($"[yellow]plots skipped[/]: {e.GetType().Name}: {e.Message}"); }
            }
            Writer.Markdown(Path.Combine(outDir, "results.md"), o, commandLine, results, summary, targets, used, skipped, plots);
            Writer.Csv(Path.Combine(outDir, "results.csv"), results, summary);
            ResultsTable.Print(summary, targets, results);
            AnsiConsole.MarkupLineInterpolated($"wrote [bold]{Path.Combine(outDir, "results.md")}[/], results.csv, results-rounds.csv and {plots.Count} plots");
            return 0;
        }
    }
}
