using System.Diagnostics;
using FastMap.Stress.Data;
using FastMap.Stress.Systems;
using Spectre.Console;

namespace FastMap.Stress.Run;

/// <summary>
/// The cross-process workloads: xproc-gc-race and xproc-gc-pass (the writer in a second process, the collector in this
/// one) and xproc-lookup (lookups through a second handle of a shared map against the private map).
/// </summary>
/// <remarks>
/// Peers: FastMap (a <c>MapFlags.Shared</c> map pinned under a fresh /dev/shm directory, opened by the writer process
/// with <c>BpfMap.Open</c>) and the kernel (<c>kernel-hash</c>: a BPF hash map pinned in bpffs, opened by the writer
/// process with <c>BPF_OBJ_GET</c>). The other systems live in one process's memory and cannot take part.
/// xproc-gc-race takes a fresh map per system and round, as gc-race does; xproc-gc-pass uses one map per system and
/// size for every round, as gc-pass uses the shared maps.
/// </remarks>
public sealed partial class Runner
{
    public const string XprocFastMap = "FastMap", XprocKernel = "kernel-hash", BpfFs = "/sys/fs/bpf";

    private XprocChild? _child;
    private string? _xdir;
    private int _xseq;

    /// <summary>One pinned map, its revision file, and the writer process's handle of it.</summary>
    private sealed class XprocMap(XprocChild child, int id, MapInstance map, string pin, XprocFile file, KeySpace view) : IDisposable
    {
        public readonly int Id = id;
        public readonly MapInstance Map = map;
        public readonly string Pin = pin;
        public readonly XprocFile File = file;
        public readonly KeySpace View = view;
        public bool ChildOpen;

        public void Dispose()
        {
            try { if (ChildOpen && !child.Exited) child.Send($"close {Id}"); }
            catch (Exception) { /* the writer process is gone: its handles went with it */ }
            Map.Dispose();
            try { System.IO.File.Delete(Pin); } catch (IOException) { }
            File.Dispose();
            try { System.IO.File.Delete(File.Path); } catch (IOException) { }
        }
    }

    /// <summary>Per size: the gc-pass maps (every round), and xproc-lookup's private map and shared map (its creator's
    /// handle and the second handle the lookups go through).</summary>
    private sealed class XprocSize : IDisposable
    {
        public readonly Dictionary<string, XprocMap?> PassMaps = [];
        public MapInstance? LookupPrivate, LookupCreator, LookupShared;
        public KeySpace? PrivateView, SharedView;
        public string? LookupPin;

        public void Dispose()
        {
            LookupShared?.Dispose();
            LookupCreator?.Dispose();
            LookupPrivate?.Dispose();
            if (LookupPin is not null) try { File.Delete(LookupPin); } catch (IOException) { }
            foreach (var m in PassMaps.Values) m?.Dispose();
        }
    }

    /// <summary>The systems of the xproc workloads this run has, and why any is missing (noted once).</summary>
    private List<MapSystem> XprocSystems()
    {
        var list = new List<MapSystem>();
        foreach (string name in new[] { XprocFastMap, XprocKernel })
        {
            var sys = systems.FirstOrDefault(s => s.Name == name);
            if (sys is null) { Note($"xproc: {name} not in this run's systems; its xproc rows are missing"); continue; }
            if (sys is KernelHashSystem && BpfFsProblem() is { } why) { Note($"xproc: {name} skipped: {why}"); continue; }
            list.Add(sys);
        }
        return list;
    }

    private static string? _bpffs;

    /// <summary>Null when bpffs is mounted at /sys/fs/bpf (mounting it, as root, when it is not), else why not.</summary>
    private static string? BpfFsProblem()
    {
        if (_bpffs is not null) return _bpffs.Length == 0 ? null : _bpffs;
        static bool Mounted() => File.ReadLines("/proc/self/mounts").Any(l => l.Split(' ') is [_, BpfFs, "bpf", ..]);
        try
        {
            if (!Mounted())
            {
                var p = Process.Start(new ProcessStartInfo("mount", ["-t", "bpf", "bpf", BpfFs]) { RedirectStandardError = true, RedirectStandardOutput = true });
                p?.WaitForExit();
            }
            _bpffs = Mounted() ? "" : $"bpffs is not mounted at {BpfFs} and `mount -t bpf bpf {BpfFs}` failed";
        }
        catch (Exception e) { _bpffs = $"bpffs check failed: {e.Message}"; }
        return _bpffs.Length == 0 ? null : _bpffs;
    }

    private XprocChild Child()
    {
        if (_child is { Exited: false }) return _child;
        if (_child is not null) throw new InvalidOperationException("the writer process exited: " + _child.Stderr);
        _xdir ??= Directory.CreateDirectory($"/dev/shm/fastmap-stress-{Environment.ProcessId}").FullName;
        _child = XprocChild.Start();
        return _child;
    }

    /// <summary>Ends the writer process and removes the run's /dev/shm directory.</summary>
    private void XprocCleanup()
    {
        _child?.Dispose();
        _child = null;
        if (_xdir is not null)
        {
            try { Directory.Delete(_xdir, recursive: true); } catch (IOException) { }
            _xdir = null;
        }
    }

    /// <summary>A new pinned map of <paramref name="sys"/>, prefilled like the others, opened by the writer process.</summary>
    private XprocMap? CreateXprocMap(Workers workers, MapSystem sys, KeySpace ks, string sizeName)
    {
        XprocChild child = Child();
        child.EnsureKeys(ks);
        int id = ++_xseq;
        var view = ks.ForMap();
        string pin = sys is KernelHashSystem ? $"{BpfFs}/fastmap-stress-{Environment.ProcessId}-{id}" : Path.Combine(_xdir!, $"map-{id}");
        GC.Collect();
        string? error;
        MapInstance? m = sys switch
        {
            FastMapManagedSystem f => f.CreateShared(ks.Size, pin, out error),
            KernelHashSystem k => k.CreatePinned(ks.Size, pin, out error),
            _ => throw new ArgumentException(sys.Name),
        };
        if (m is null) { Note($"xproc: {sys.Name} at {sizeName}: {error}"); return null; }
        // The same entries as the other maps' prefill, by batch updates (a fresh map per round and system: the kernel's
        // L prefill key by key took several seconds a map).
        int failures = 0;
        workers.Run(1, _ => failures = m.PrefillBatch(view));
        if (failures != 0) Note($"xproc: {sys.Name} at {sizeName}: {failures} prefill inserts failed");
        var file = XprocFile.Create(Path.Combine(_xdir!, $"revisions-{id}"), view.Size);
        var xm = new XprocMap(child, id, m, pin, file, view);
        try
        {
            child.Send($"open {id} {(sys is KernelHashSystem ? "kernel" : "fastmap")} {pin} {file.Path}");
            xm.ChildOpen = true;
        }
        catch (Exception e)
        {
            xm.Dispose();
            Note($"xproc: {sys.Name} at {sizeName}: the writer process could not open {pin}: {e.Message}");
            return null;
        }
        return xm;
    }

    /// <summary>xproc-gc-race of one round: each system on a fresh map, every variant gc-race runs for it.</summary>
    private void XprocGcRace(Workers workers, KeySpace ks, List<MapSystem> xsys, string sizeName, int round, ProgressTask task, Action refresh)
    {
        foreach (var sys in xsys)
        {
            int variants = sys.InPlace ? 4 : 2;
            task.Description = $"{sizeName} r{round} xproc-gc-race: create + prefill + open {sys.Name}";
            refresh();
            XprocMap? xm = null;
            try
            {
                xm = CreateXprocMap(workers, sys, ks, sizeName);
                if (xm is null) { task.Increment(variants); continue; }
                foreach (bool inPlace in sys.InPlace ? new[] { false, true } : [false])
                    foreach (bool compare in new[] { false, true })
                    {
                        task.Description = $"{sizeName} r{round} xproc-gc-race {(inPlace ? "inplace" : "update")}/{(compare ? "cmpdel" : "delete")} {sys.Name}";
                        refresh();
                        results.XprocGc.Add(MeasureXprocGc(workers, xm, sys, sizeName, round, inPlace, compare));
                        task.Increment(1);
                        variants--;
                    }
            }
            catch (Exception e)
            {
                Note($"xproc-gc-race {sys.Name} {sizeName} r{round}: {e.GetType().Name}: {e.Message}");
                task.Increment(variants);
            }
            finally { xm?.Dispose(); }
        }
    }

    private GcRow MeasureXprocGc(Workers workers, XprocMap xm, MapSystem sys, string sizeName, int round, bool inPlace, bool compare)
    {
        XprocChild child = Child();
        var g = new GcRaceShared(xm.View, inPlace, compare, localWriter: false);
        XprocFile f = xm.File;
        Volatile.Write(ref f.Refreshing, 0);
        Volatile.Write(ref f.Deadline, long.MaxValue);
        Volatile.Write(ref f.Run, 1);
        child.Post($"race {xm.Id} {(inPlace ? 1 : 0)}");
        try
        {
            child.WaitRefreshing(f);
            // The writer stops at the deadline as the in-process one does (the collector finishes its chunk after it).
            long deadline = Stopwatch.GetTimestamp() + Ticks(o.GcSeconds);
            Volatile.Write(ref f.Deadline, deadline);
            workers.Run(1, _ => xm.Map.RunXprocGcCollector(g, f.Revisions, deadline));
        }
        finally { Volatile.Write(ref f.Run, 0); }
        string[] a = child.Read().Split(' ');
        (g.WriterOps, g.WriterLost, g.WriterTicks) = (long.Parse(a[1]), long.Parse(a[2]), long.Parse(a[3]));
        workers.Run(1, _ => g.Reconciled = xm.Map.ReconcileXprocGc(g, f.Revisions));
        return GcRowOf(g, sys, xm.View, sizeName, round, "xproc-gc-race");
    }

    /// <summary>xproc-gc-pass of one round: each system's map of this size (made on first use).</summary>
    private void XprocGcPass(Workers workers, KeySpace ks, XprocSize xs, List<MapSystem> xsys, Func<GcPassBuffers> buffers,
        string sizeName, int round, ProgressTask task, Action refresh)
    {
        foreach (var sys in xsys)
        {
            task.Description = $"{sizeName} r{round}/{o.Rounds} xproc-gc-pass {sys.Name}";
            refresh();
            try
            {
                XprocMap? xm = PassMap(workers, ks, xs, sys, sizeName);
                if (xm is null) continue;
                XprocChild child = Child();
                var g = new GcPassShared(xm.View, buffers(), o.GcSeconds, warmUp: xm.View.Size <= 1 << 20, o.GcWriterMops,
                    new RemoteWriter(child, xm.File));
                child.Send($"pass {xm.Id} {g.TicksPer64.ToString("R", System.Globalization.CultureInfo.InvariantCulture)}");
                workers.Run(1, _ => xm.Map.RunXprocGcPassCollector(g, xm.File.Revisions));
                RecordGcPass(g, sys, xm.View, sizeName, round, results.XprocGcPass, "xproc-gc-pass");
            }
            catch (Exception e)
            {
                Note($"xproc-gc-pass {sys.Name} {sizeName} r{round}: {e.GetType().Name}: {e.Message}");
            }
            finally { task.Increment(1); }
        }
    }

    private XprocMap? PassMap(Workers workers, KeySpace ks, XprocSize xs, MapSystem sys, string sizeName)
    {
        if (!xs.PassMaps.TryGetValue(sys.Name, out XprocMap? xm))
            xs.PassMaps[sys.Name] = xm = CreateXprocMap(workers, sys, ks, sizeName);
        return xm;
    }

    /// <summary>
    /// xproc-lookup of one round: lookup-hit at 1 thread on a private FastMap map and on a second handle (BpfMap.Open of
    /// the pin) of a shared FastMap map, both made for it at this size, prefilled alike and used by nothing else (a map
    /// gc-pass or churn went through answers lookups at other speeds), interleaved slice by slice as every op workload is.
    /// </summary>
    private void XprocLookup(Workers workers, KeySpace ks, XprocSize xs, List<MapSystem> xsys, string sizeName, int round,
        ProgressTask task, Action refresh)
    {
        try
        {
            if (xsys.FirstOrDefault(s => s.Name == XprocFastMap) is not FastMapManagedSystem fm)
            {
                Note($"xproc-lookup at {sizeName}: needs the FastMap system");
                return;
            }
            if (xs.LookupShared is null)
            {
                task.Description = $"{sizeName} xproc-lookup: create + prefill a private and a shared map, open a second handle";
                refresh();
                _xdir ??= Directory.CreateDirectory($"/dev/shm/fastmap-stress-{Environment.ProcessId}").FullName;
                xs.LookupPin = Path.Combine(_xdir, $"lookup-{++_xseq}");
                xs.PrivateView = ks.ForMap();
                xs.SharedView = ks.ForMap();
                xs.LookupPrivate = fm.Create(ks.Size, out string? error) ?? throw new InvalidOperationException(error);
                xs.LookupCreator = fm.CreateShared(ks.Size, xs.LookupPin, out error) ?? throw new InvalidOperationException(error);
                foreach (var (m, v) in new[] { (xs.LookupPrivate, xs.PrivateView), (xs.LookupCreator, xs.SharedView) })
                {
                    // Key by key from two threads, as every op workload's map is prefilled (same placement history).
                    int stride = Math.Min(2, v.Partitions), failures = 0;
                    workers.Run(stride, t => Interlocked.Add(ref failures, m.Prefill(v, t, stride)));
                    if (failures != 0) Note($"xproc-lookup at {sizeName}: {failures} prefill inserts failed");
                }
                xs.LookupShared = new FastMapSharedHandleSystem().Open(xs.LookupPin, out error) ?? throw new InvalidOperationException(error);
                // Untimed: a lookup of every present key on both, so the shared handle's new mapping has its pages in
                // this process's page table as the private map has after its prefill (a first touch of a page of the
                // mapping is a minor fault; measured here at L: 0.1 s slices right after a shorter warm-up put the shared
                // handle at 1.6-8.6x the private map's ns per lookup, p99 10-16 us, which a 4 s measurement did not show).
                TouchAll(workers, xs.LookupShared, xs.SharedView, sizeName);
                TouchAll(workers, xs.LookupPrivate, xs.PrivateView, sizeName);
            }
            task.Description = $"{sizeName} r{round}/{o.Rounds} xproc-lookup t1 (FastMap private, shared handle, interleaved)";
            refresh();
            var pair = new List<MapInstance> { xs.LookupPrivate!, xs.LookupShared };
            if (round % 2 == 0) pair.Reverse();
            var v2 = new Dictionary<MapInstance, KeySpace> { [xs.LookupPrivate!] = xs.PrivateView!, [xs.LookupShared] = xs.SharedView! };
            foreach (var row in MeasureInterleaved(workers, pair, v2, sizeName, round, Workload.LookupHit, 1))
                results.Ops.Add(row with { Workload = Workload.XprocLookup.Name() });
        }
        catch (Exception e)
        {
            Note($"xproc-lookup {sizeName} r{round}: {e.GetType().Name}: {e.Message}");
        }
        finally { task.Increment(1); }
    }

    /// <summary>One untimed lookup of every present key, on a measuring thread.</summary>
    private void TouchAll(Workers workers, MapInstance m, KeySpace view, string sizeName)
    {
        int found = 0;
        workers.Run(1, _ => found = m.LookupAll(view));
        if (found != view.TotalPresent) Note($"xproc-lookup at {sizeName}: {m.System.Name} found {found} of {view.TotalPresent} present keys");
    }
}
