using System.Diagnostics;
using System.Globalization;
using System.IO.MemoryMappedFiles;
using FastMap.Kernel;
using FastMap.Stress.Data;
using FastMap.Stress.Systems;

namespace FastMap.Stress.Run;

/// <summary>
/// The memory the two processes of xproc-gc-race / xproc-gc-pass share for one map: a file under the run's /dev/shm
/// directory, mapped MAP_SHARED (MemoryMappedFile) by both. Page 0 holds the handshake words, each on its own cache
/// line; from byte 4096 on, one u64 per key slot: the revision of the key's last <em>completed</em> refresh, which the
/// writer publishes (release) after its update or in-place store returns, exactly as the in-process writer does into
/// <see cref="KeySpace.Revisions"/>, and the collector reads (acquire) before its delete.
/// </summary>
public sealed unsafe class XprocFile : IDisposable
{
    private const int Header = 4096;
    private const int RunAt = 0, RefreshingAt = 64, CountAt = 128, DeadlineAt = 192;

    private readonly MemoryMappedFile _mmf;
    private readonly MemoryMappedViewAccessor _view;
    private readonly byte* _base;
    public readonly string Path;
    public readonly int Count;

    private XprocFile(string path, MemoryMappedFile mmf, int count)
    {
        Path = path;
        _mmf = mmf;
        _view = mmf.CreateViewAccessor(0, Header + 8L * count, MemoryMappedFileAccess.ReadWrite);
        byte* p = null;
        _view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
        _base = p + _view.PointerOffset;
        Count = count;
    }

    /// <summary>A new file (zeros: every key at revision 0, as prefilled) for <paramref name="count"/> key slots.</summary>
    public static XprocFile Create(string path, int count)
    {
        var mmf = MemoryMappedFile.CreateFromFile(path, FileMode.CreateNew, null, Header + 8L * count, MemoryMappedFileAccess.ReadWrite);
        var f = new XprocFile(path, mmf, count);
        *(long*)(f._base + CountAt) = count;
        f.Prefault();
        return f;
    }

    /// <summary>
    /// Writes every page of the mapping (a 0 over a 0, before any revision is published), so that no first touch of a
    /// page, a minor fault, falls into a timed window: at L the cells are 32 MiB, and on this VM a fault cost tens of
    /// microseconds, which made the writer's first 0.3 s at L mostly faults.
    /// </summary>
    public void Prefault()
    {
        long bytes = Header + 8L * Count;
        for (long at = Header; at < bytes; at += 4096)
            Interlocked.CompareExchange(ref *(long*)(_base + at), 0, 0);
    }

    /// <summary>The writer process's mapping of a file <see cref="Create"/> made.</summary>
    public static XprocFile Open(string path)
    {
        var mmf = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.ReadWrite);
        using (var header = mmf.CreateViewAccessor(0, Header, MemoryMappedFileAccess.Read))
        {
            long count = header.ReadInt64(CountAt);
            return new XprocFile(path, mmf, checked((int)count));
        }
    }

    /// <summary>Collector → writer: refresh while this is nonzero.</summary>
    public ref long Run => ref *(long*)(_base + RunAt);

    /// <summary>Writer → collector: 1 from the writer's first refresh of a window until it stops.</summary>
    public ref long Refreshing => ref *(long*)(_base + RefreshingAt);

    /// <summary>Collector → writer (xproc-gc-race): the Stopwatch tick (CLOCK_MONOTONIC, one clock for every process)
    /// the writer stops at, as the in-process gc-race writer stops at the run's deadline; long.MaxValue until set.</summary>
    public ref long Deadline => ref *(long*)(_base + DeadlineAt);

    public SharedRevisions Revisions => new((ulong*)(_base + Header), Count);

    public void Dispose()
    {
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _mmf.Dispose();
    }
}

/// <summary>
/// The writer (datapath) process of xproc-gc-race and xproc-gc-pass: the stress executable started with
/// <c>--xproc-writer</c>. It opens the maps the stress process pinned (FastMap: <c>BpfMap.Open</c>; the kernel's:
/// <c>BPF_OBJ_GET</c>) and runs the in-process workloads' writer (<see cref="Refresher"/>, same key order, same
/// pacing) against them, publishing completed revisions into the map's <see cref="XprocFile"/>.
/// </summary>
/// <remarks>
/// One command a line on stdin, one answer a line on stdout ("error ..." on failure):
/// <code>
///   keys &lt;entries&gt; &lt;partitions&gt; &lt;seed&gt;          -> ok   (the run's KeySpace at this size)
///   open &lt;id&gt; fastmap|kernel &lt;map path&gt; &lt;file&gt;  -> ok   (FastMap maps: one untimed batch scan of the whole map, so
///                                                    its pages are mapped, as a datapath's that has run for a while)
///   race &lt;id&gt; &lt;inplace 0|1&gt;                        -> done &lt;ops&gt; &lt;lost&gt; &lt;ticks&gt;  (refreshes until the file's Deadline, or Run clears)
///   pass &lt;id&gt; &lt;ticks per 64, 0 = unpaced&gt;           -> ok   (a new writer for one gc-pass run)
///   go                                           -> parked &lt;ops&gt; &lt;ticks&gt;  (one pass window, until Run clears)
///   close &lt;id&gt;                                   -> ok
///   quit
/// </code>
/// </remarks>
public static class XprocWriter
{
    private abstract class Entry : IDisposable
    {
        public required XprocFile File;
        public Refresher? Pass;
        public double PassTicksPer64;
        public abstract (long Ops, long Lost, long Ticks) Race(Refresher w);
        public abstract (long Ops, long Ticks) Window(Refresher w, double ticksPer64);
        public abstract void Touch(KeySpace ks);
        public abstract void Dispose();
    }

    private sealed class Entry<TMap>(TMap map) : Entry where TMap : struct, IMapUnderTest
    {
        private TMap _map = map;

        public override (long, long, long) Race(Refresher w)
        {
            SharedRevisions revs = File.Revisions;
            ref long run = ref File.Run;
            Volatile.Write(ref File.Refreshing, 1);
            long start = Stopwatch.GetTimestamp();
            ref long deadline = ref File.Deadline;
            long now;
            do
            {
                w.Step64(ref _map, revs);
                now = Stopwatch.GetTimestamp();
            } while (now < Volatile.Read(ref deadline) && Volatile.Read(ref run) != 0);
            long ticks = now - start;
            Volatile.Write(ref File.Refreshing, 0);
            return (w.Ops, w.Lost, ticks);
        }

        /// <summary>GcPass.Writer's window, with the file's Run for the in-process Run flag.</summary>
        public override (long, long) Window(Refresher w, double ticksPer64)
        {
            SharedRevisions revs = File.Revisions;
            ref long run = ref File.Run;
            long ops0 = w.Ops, t0 = Stopwatch.GetTimestamp();
            Volatile.Write(ref File.Refreshing, 1);
            if (ticksPer64 == 0)
                do w.Step64(ref _map, revs); while (Volatile.Read(ref run) != 0);
            else
            {
                for (long steps = 0; Volatile.Read(ref run) != 0; steps++)
                {
                    while (Stopwatch.GetTimestamp() - t0 < steps * ticksPer64 && Volatile.Read(ref run) != 0) Thread.SpinWait(8);
                    w.Step64(ref _map, revs);
                }
            }
            long ticks = Stopwatch.GetTimestamp() - t0;
            long ops = w.Ops - ops0;
            Volatile.Write(ref File.Refreshing, 0);
            return (ops, ticks);
        }

        /// <summary>A whole batch scan (every bucket and entry, in order), or a lookup of every present key.</summary>
        public override void Touch(KeySpace ks)
        {
            if (_map is IBatchScanner scanner)
            {
                var keys = new Key16[Batches.ScanRoom];
                var values = new Value32[Batches.ScanRoom];
                uint cursor = 0;
                bool start = true;
                for (int calls = 0; calls < 1 << 24; calls++)
                {
                    int st = scanner.Next(start, ref cursor, keys, values, out _);
                    start = false;
                    if (st != St.Ok) return;
                }
                return;
            }
            for (int p = 0; p < ks.Partitions; p++)
                for (int r = 0; r < ks.Present; r++)
                    _map.Lookup(in ks.Keys[ks.Slot(p, r)], out _);
        }

        public override void Dispose()
        {
            _map.Dispose();
            File.Dispose();
        }
    }

    public static int Serve()
    {
        var output = Console.Out;
        KeySpace? ks = null;
        var maps = new Dictionary<int, Entry>();
        string? line;
        while ((line = Console.ReadLine()) is not null)
        {
            string[] a = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (a.Length == 0) continue;
            string answer;
            try
            {
                switch (a[0])
                {
                    case "keys":
                        ks = new KeySpace(Int(a[1]), Int(a[2]), ulong.Parse(a[3], CultureInfo.InvariantCulture));
                        answer = "ok";
                        break;
                    case "open":
                    {
                        int id = Int(a[1]);
                        var file = XprocFile.Open(a[4]);
                        file.Prefault();
                        Entry e = OpenMap(a[2], a[3], file);
                        maps[id] = e;
                        if (a[2] == "fastmap") e.Touch(ks!);
                        answer = "ok";
                        break;
                    }
                    case "race":
                    {
                        var (ops, lost, ticks) = maps[Int(a[1])].Race(new Refresher(ks!, inPlace: a[2] == "1"));
                        answer = $"done {ops} {lost} {ticks}";
                        break;
                    }
                    case "pass":
                    {
                        Entry e = maps[Int(a[1])];
                        e.Pass = new Refresher(ks!, inPlace: false);
                        e.PassTicksPer64 = double.Parse(a[2], CultureInfo.InvariantCulture);
                        _current = e;
                        answer = "ok";
                        break;
                    }
                    case "go":
                    {
                        Entry e = _current!;
                        var (ops, ticks) = e.Window(e.Pass!, e.PassTicksPer64);
                        answer = $"parked {ops} {ticks}";
                        break;
                    }
                    case "close":
                        if (maps.Remove(Int(a[1]), out Entry? c)) c.Dispose();
                        answer = "ok";
                        break;
                    case "quit":
                        foreach (var e in maps.Values) e.Dispose();
                        return 0;
                    default:
                        answer = "error unknown command " + a[0];
                        break;
                }
            }
            catch (Exception e)
            {
                answer = $"error {e.GetType().Name}: {e.Message.ReplaceLineEndings(" ")}";
            }
            output.WriteLine(answer);
            output.Flush();
        }
        return 0;
    }

    private static Entry? _current;

    private static int Int(string s) => int.Parse(s, CultureInfo.InvariantCulture);

    private static Entry OpenMap(string kind, string path, XprocFile file)
    {
        switch (kind)
        {
            case "kernel":
            {
                int fd = KernelBpf.ObjGet(path);
                if (fd < 0) throw new InvalidOperationException($"BPF_OBJ_GET {path}: {fd}");
                return new Entry<KernelHashMap>(new KernelHashMap(fd)) { File = file };
            }
#if HAVE_BPFMAP
            case "fastmap":
            {
                MapStatus st = BpfMap.Open(path, MapFlags.None, out BpfMap? map);
                if (st != MapStatus.Ok || map is null) throw new InvalidOperationException($"BpfMap.Open {path}: {st}");
                return new Entry<FastMapManaged>(new FastMapManaged(map)) { File = file };
            }
#endif
            default:
                throw new ArgumentException("unknown map kind " + kind);
        }
    }
}

/// <summary>The stress process's end of the writer process: started once per run, on first use.</summary>
public sealed class XprocChild : IDisposable
{
    private readonly Process _p;
    private readonly List<string> _stderr = [];
    private (int, int, ulong)? _keys;

    private XprocChild(Process p)
    {
        _p = p;
        _p.ErrorDataReceived += (_, e) => { if (e.Data is { Length: > 0 } d) lock (_stderr) _stderr.Add(d); };
        _p.BeginErrorReadLine();
    }

    /// <summary>The same program: <c>dotnet &lt;dll&gt;</c> when the stress run is hosted by dotnet, else its apphost.</summary>
    public static XprocChild Start()
    {
        string host = Environment.ProcessPath ?? "dotnet";
        string dll = typeof(XprocChild).Assembly.Location;
        var psi = new ProcessStartInfo(host)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (Path.GetFileNameWithoutExtension(host).Equals("dotnet", StringComparison.OrdinalIgnoreCase))
            psi.ArgumentList.Add(dll);
        psi.ArgumentList.Add("--xproc-writer");
        return new XprocChild(Process.Start(psi) ?? throw new InvalidOperationException("the writer process did not start"));
    }

    public int Pid => _p.Id;
    public bool Exited => _p.HasExited;

    public string Stderr
    {
        get { lock (_stderr) return string.Join(" | ", _stderr); }
    }

    public void Post(string command)
    {
        _p.StandardInput.WriteLine(command);
        _p.StandardInput.Flush();
    }

    /// <summary>The next answer; throws on "error ...", on exit, or after <paramref name="timeoutSeconds"/>.</summary>
    public string Read(double timeoutSeconds = 600)
    {
        Task<string?> t = _p.StandardOutput.ReadLineAsync();
        if (!t.Wait(TimeSpan.FromSeconds(timeoutSeconds)))
            throw new TimeoutException($"the writer process did not answer within {timeoutSeconds} s");
        string line = t.Result ?? throw new InvalidOperationException(
            $"the writer process exited (code {(_p.WaitForExit(5000) ? _p.ExitCode : -1)}){(Stderr.Length > 0 ? ": " + Stderr : "")}");
        if (line.StartsWith("error", StringComparison.Ordinal))
            throw new InvalidOperationException("the writer process: " + line);
        return line;
    }

    public string Send(string command)
    {
        Post(command);
        return Read();
    }

    public void EnsureKeys(KeySpace ks)
    {
        if (_keys == (ks.Size, ks.Partitions, ks.Seed)) return;
        Send($"keys {ks.Size} {ks.Partitions} {ks.Seed}");
        _keys = (ks.Size, ks.Partitions, ks.Seed);
    }

    /// <summary>Spins until the writer is refreshing (the file's Refreshing word), as GcPass's StartWriter does.</summary>
    public void WaitRefreshing(XprocFile f)
    {
        long give = Stopwatch.GetTimestamp() + 120 * Stopwatch.Frequency;
        int n = 0;
        while (Volatile.Read(ref f.Refreshing) == 0)
        {
            if ((++n & 1023) == 0)
            {
                if (_p.HasExited) throw new InvalidOperationException($"the writer process exited (code {_p.ExitCode}){(Stderr.Length > 0 ? ": " + Stderr : "")}");
                if (Stopwatch.GetTimestamp() > give) throw new TimeoutException("the writer process did not start refreshing");
            }
            Thread.SpinWait(16);
        }
    }

    public void Dispose()
    {
        try
        {
            if (!_p.HasExited)
            {
                Post("quit");
                if (!_p.WaitForExit(10_000)) _p.Kill();
            }
        }
        catch (Exception e) when (e is IOException or InvalidOperationException) { }
        _p.Dispose();
    }
}

/// <summary>xproc-gc-pass's <see cref="IRemoteWriter"/>: "go" and the Refreshing word to start, Run cleared and "parked" to park.</summary>
public sealed class RemoteWriter(XprocChild child, XprocFile file) : IRemoteWriter
{
    public void Start()
    {
        Volatile.Write(ref file.Refreshing, 0);
        Volatile.Write(ref file.Run, 1);
        child.Post("go");
        child.WaitRefreshing(file);
    }

    public (long Ops, long Ticks) Park()
    {
        Volatile.Write(ref file.Run, 0);
        string[] a = child.Read().Split(' ');
        if (a[0] != "parked") throw new InvalidOperationException("the writer process answered " + string.Join(' ', a));
        return (long.Parse(a[1], CultureInfo.InvariantCulture), long.Parse(a[2], CultureInfo.InvariantCulture));
    }
}
