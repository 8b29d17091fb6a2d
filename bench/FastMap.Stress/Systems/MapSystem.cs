using FastMap.Stress.Data;
using FastMap.Stress.Run;

namespace FastMap.Stress.Systems;

/// <summary>How a system's memory per entry is measured.</summary>
public enum MemoryKind
{
    /// <summary>GC heap delta (GC.GetTotalMemory(true)) around create + prefill.</summary>
    ManagedHeap,
    /// <summary>Process RSS delta (/proc/self/statm) around create + prefill.</summary>
    Rss,
    /// <summary>The kernel's own accounting: memlock in /proc/self/fdinfo/&lt;fd&gt;.</summary>
    KernelMemlock,
    /// <summary>The system's own accounting of the native bytes it holds (FastMap's MemoryBytes):
    /// an RSS delta misses memory that malloc recycles from an earlier map.</summary>
    OwnAccounting,
}

/// <summary>A system's description, and the factory for its maps.</summary>
public abstract class MapSystem
{
    public abstract string Name { get; }
    public virtual int MaxThreads => int.MaxValue;
    public virtual bool AtomicCompareAndDelete => true;
    public virtual bool InPlace => false;
    public abstract MemoryKind Memory { get; }
    /// <summary>Null when usable, else why not (printed, and the system is skipped).</summary>
    public abstract string? Unavailable { get; }
    public virtual string Notes => "";
    /// <summary>Null when the system can run gc-pass (it also needs <see cref="MaxThreads"/> >= 2), else why not.</summary>
    public virtual string? GcPassUnavailable => MaxThreads < 2 ? "gc-pass needs a writer thread beside the collector" : null;

    /// <summary>Creates an empty map of capacity <paramref name="maxEntries"/>, or null with a reason.</summary>
    public abstract MapInstance? Create(int maxEntries, out string? error);
}

/// <summary>A live map of one system, with the measurement entry points bound to its struct type.</summary>
public abstract class MapInstance : IDisposable
{
    public required MapSystem System { get; init; }
    public abstract void Dispose();
    /// <summary>Extra memory the system reports itself (kernel memlock), or null.</summary>
    public virtual long? OwnAccountingBytes() => null;

    /// <summary>Inserts the present window of partitions p with p % stride == first; returns failed inserts.</summary>
    public abstract int Prefill(KeySpace ks, int first, int stride);
    /// <summary>
    /// <see cref="Prefill"/> of every partition through the system's batch update (<see cref="IMapUnderTest.Restore"/>,
    /// 4,096 entries a call), with no other thread writing: the same entries, in far fewer calls (the kernel: one
    /// BPF_MAP_UPDATE_BATCH per 4,096 keys instead of a bpf() per key). Returns failed inserts.
    /// </summary>
    public abstract int PrefillBatch(KeySpace ks);
    /// <summary>Looks every present key up once (untimed warm-up); returns how many were found.</summary>
    public abstract int LookupAll(KeySpace ks);
    public abstract void RunThread(Workload w, ThreadCtx c, long warmupUntil, long deadline);
    public abstract void RunGcWriter(GcRaceShared g, long deadline);
    public abstract void RunGcCollector(GcRaceShared g, long deadline);
    public abstract void RunGcPassWriter(GcPassShared g);
    public abstract void RunGcPassCollector(GcPassShared g);
    /// <summary><see cref="GcRace.Reconcile"/> after a gc-race run (in-process revisions).</summary>
    public abstract int ReconcileGc(GcRaceShared g);
    /// <summary><see cref="GcRace.Reconcile"/> after an xproc-gc-race run (the shared revision file).</summary>
    public abstract int ReconcileXprocGc(GcRaceShared g, SharedRevisions revisions);
    /// <summary>xproc-gc-race's collector: the writer runs in another process and publishes into <paramref name="revisions"/>.</summary>
    public abstract void RunXprocGcCollector(GcRaceShared g, SharedRevisions revisions, long deadline);
    /// <summary>xproc-gc-pass's collector: the writer runs in another process and publishes into <paramref name="revisions"/>.</summary>
    public abstract void RunXprocGcPassCollector(GcPassShared g, SharedRevisions revisions);
}

/// <summary>Binds the generic loops to one struct system type.</summary>
public sealed class MapInstance<TMap> : MapInstance where TMap : struct, IMapUnderTest
{
    private TMap _map;
    public MapInstance(TMap map) { _map = map; }
    /// <summary>The system's map (a copy of the struct: handles, not state).</summary>
    public TMap Map => _map;
    public override void Dispose() => _map.Dispose();

    public Func<long?>? Accounting { get; init; }
    public override long? OwnAccountingBytes() => Accounting?.Invoke();

    public override int Prefill(KeySpace ks, int first, int stride)
    {
        int failures = 0;
        for (int p = first; p < ks.Partitions; p += stride)
            for (int r = 0; r < ks.Present; r++)
            {
                int s = ks.Slot(p, r);
                if (_map.Insert(in ks.Keys[s], Value32.Make(ks.Revisions[s])) != St.Ok) failures++;
            }
        return failures;
    }

    public override int PrefillBatch(KeySpace ks)
    {
        const int batch = 4096;
        var keys = new Key16[batch];
        var values = new Value32[batch];
        int n = 0, failures = 0;
        for (int p = 0; p < ks.Partitions; p++)
            for (int r = 0; r < ks.Present; r++)
            {
                int s = ks.Slot(p, r);
                keys[n] = ks.Keys[s];
                values[n] = Value32.Make(ks.Revisions[s]);
                if (++n == batch) { failures += _map.Restore(keys, values); n = 0; }
            }
        if (n > 0) failures += _map.Restore(keys.AsSpan(0, n), values.AsSpan(0, n));
        return failures;
    }

    public override int LookupAll(KeySpace ks)
    {
        int found = 0;
        for (int p = 0; p < ks.Partitions; p++)
            for (int r = 0; r < ks.Present; r++)
                found += _map.Lookup(in ks.Keys[ks.Slot(p, r)], out _) == St.Ok ? 1 : 0;
        return found;
    }

    public override void RunThread(Workload w, ThreadCtx c, long warmupUntil, long deadline) =>
        Loops.Run(ref _map, w, c, warmupUntil, deadline);

    public override void RunGcWriter(GcRaceShared g, long deadline) => GcRace.Writer(ref _map, g, deadline);
    public override void RunGcCollector(GcRaceShared g, long deadline) => GcRace.Collector(ref _map, g, deadline);
    public override void RunGcPassWriter(GcPassShared g) => GcPass.Writer(ref _map, g);
    public override void RunGcPassCollector(GcPassShared g) => GcPass.Collector(ref _map, g);
    public override int ReconcileGc(GcRaceShared g) => GcRace.Reconcile(ref _map, g, new ArrayRevisions(g.Ks.Revisions));
    public override int ReconcileXprocGc(GcRaceShared g, SharedRevisions revisions) => GcRace.Reconcile(ref _map, g, revisions);
    public override void RunXprocGcCollector(GcRaceShared g, SharedRevisions revisions, long deadline) =>
        GcRace.Collector(ref _map, g, deadline, revisions);
    public override void RunXprocGcPassCollector(GcPassShared g, SharedRevisions revisions) =>
        GcPass.Collector(ref _map, g, revisions);
}
