using System.Runtime.CompilerServices;
using FastMap.Internal;

namespace FastMap;

/// <summary>
/// A FastMap map: the kernel's BPF hash (or array, percpu hash, LRU hash) map in user space, with
/// the RFC's atomic compare-and-delete. Every operation returns what <c>bpf()</c> would return, as a
/// <see cref="MapStatus"/>. Thread-safe: lookups take no lock, a writer takes its key's group lock.
/// </summary>
/// <remarks>
/// <para>Buffers follow the syscall's rules: a key span must hold exactly <see cref="KeySize"/> bytes,
/// an input value exactly <see cref="ValueBufferSize"/>, an output value at least that many. An empty
/// span stands for a NULL pointer (<see cref="MapStatus.EFAULT"/>); a span of the wrong length is
/// <see cref="MapStatus.EINVAL"/>. These span checks run first, before any of the command's own checks (which
/// then follow the kernel's order, as for C callers): on a closed map, a wrong span answers its
/// <see cref="MapStatus.EINVAL"/> or <see cref="MapStatus.EFAULT"/>, not <see cref="MapStatus.EBADF"/>.</para>
/// <para>Closing (<see cref="Dispose"/>) while other threads use the map is safe: operations that
/// start afterwards get <see cref="MapStatus.EBADF"/>, and the memory is freed only after every
/// operation and read-side section that could still see it has ended.</para>
/// </remarks>
public sealed unsafe partial class BpfMap : IDisposable
{
    private readonly MapStore _store;
    private readonly HashStore? _hash;      // the same store when it is a hash store: called directly on the hot paths
    private readonly MapFlags _flags;
    private readonly bool _canRead, _canWrite;
    private readonly bool _comparable;      // the store compares values and holds no spin lock (read once: no virtual calls per op)
    private readonly SharedDomain? _shared; // a shared map's file (its epoch is entered with the process's), or null
    private int _closed;

    private BpfMap(MapDefinition definition, MapStore store, uint valueBufferSize, bool canRead, bool canWrite)
    {
        Definition = definition;
        _store = store;
        _hash = store as HashStore;
        _shared = _hash?.Shared;
        _flags = definition.Flags;
        _canRead = canRead;
        _canWrite = canWrite;
        _comparable = store.ComparesValues && !store.HasSpinLock;
        ValueBufferSize = (int)valueBufferSize;
    }

    /// <summary>The definition the map was created with.</summary>
    public MapDefinition Definition { get; }

    /// <summary>The map's handle, like a file descriptor (see <see cref="FromHandle"/>).</summary>
    public int Handle { get; private set; } = -1;

    /// <summary>The map type.</summary>
    public MapType Type => Definition.Type;

    /// <summary>Key size in bytes.</summary>
    public int KeySize => (int)Definition.KeySize;

    /// <summary>Value size in bytes, as created.</summary>
    public int ValueSize => (int)Definition.ValueSize;

    /// <summary>
    /// Bytes of a value as lookups return it and updates take it: <see cref="ValueSize"/>, or for
    /// <see cref="MapType.PercpuHash"/> <c>round_up(ValueSize, 8) * </c><see cref="PossibleCpus"/>.
    /// </summary>
    public int ValueBufferSize { get; }

    /// <summary>Capacity.</summary>
    public int MaxEntries => (int)Definition.MaxEntries;

    /// <summary>True if values hold a spin lock (<see cref="MapDefinition.SpinLockOffset"/>).</summary>
    public bool HasSpinLock => _store.HasSpinLock;

    /// <summary>True once <see cref="Dispose"/> has run.</summary>
    public bool IsClosed => Volatile.Read(ref _closed) != 0;

    /// <summary>Keys present now (exact when no writer runs; a snapshot otherwise).</summary>
    public long Count
    {
        get
        {
            // The counts live in native memory that a close frees after a grace period.
            if (Enter(out Epoch.ThreadSlot t) != MapStatus.Ok)
                return 0;
            long n = _store.Count;
            Epoch.Exit(t);
            return n;
        }
    }

    /// <summary>Native bytes the map reserves: a full map commits this much (pages are committed as entries use them).</summary>
    public long MemoryBytes => _store.Bytes;

    /// <summary>The number of CPUs percpu values are laid out for (Linux: the CPUs listed in
    /// <c>/sys/devices/system/cpu/possible</c>, counted as the kernel's <c>num_possible_cpus()</c> counts them:
    /// "0,2-3" is 3, not 4).</summary>
    public static int PossibleCpus { get; } = ReadPossibleCpus();

    /// <summary>The map's store (tests and benchmarks look inside).</summary>
    internal MapStore Store => _store;

    /// <summary>The hash store, for tests that set its degenerate-hash hook; null for arrays.</summary>
    internal HashStore? HashStore => _store as HashStore;

    /// <summary>Finds an open map by handle; null for a bad or closed handle.</summary>
    public static BpfMap? FromHandle(int handle) => HandleTable.Get(handle);

    /// <summary>
    /// Closes the map: its handle becomes invalid at once (<see cref="MapStatus.EBADF"/>) and its memory
    /// is freed after a grace period. Safe to call concurrently with operations, and more than once.
    /// </summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0)
            return;
        InlineLayout.Close(Handle);                   // C inline reads call the library from now on (EBADF)
        HandleTable.Remove(Handle, this);
        // The closed flag is this map's "unlink": an operation that saw it clear entered its
        // section first, so the store outlives it (Epoch rule 4).
        Epoch.DeferDispose(_store);
        Epoch.Collect();
    }

    /// <summary>Enters a section and checks the map is open (the fd step of every command): <c>Ok</c>, or
    /// <c>-EBADF</c> (closed), or <c>-ENOMEM</c>
    /// (this thread's first section, and no memory for its epoch slot); on an error the section is not held.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal MapStatus Enter(out Epoch.ThreadSlot t)
    {
        if (!Epoch.TryEnterFast(out t))
            return Volatile.Read(ref _closed) != 0 ? MapStatus.EBADF : MapStatus.ENOMEM; // the fd check comes first
        if (Volatile.Read(ref _closed) == 0)
            return _shared is null || _shared.Bind() ? MapStatus.Ok : ExitWith(t, MapStatus.ENOMEM);
        return ExitWith(t, MapStatus.EBADF);
    }

    /// <summary><see cref="Enter"/> for a command that keeps what it read past its own checks (an in-place pointer, a scan's
    /// chain walks, get-next-key): in a shared map it also announces the file's epoch, so no process reuses what the
    /// caller may still reach until the caller's outermost section ends (SharedDomain rule 2). Writers and copying lookups
    /// validate what they read and need only <see cref="Enter"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal MapStatus EnterReader(out Epoch.ThreadSlot t)
    {
        MapStatus st = Enter(out t);
        if (st != MapStatus.Ok || _shared is null)
            return st;
        _shared.Announce(t);                    // the slot exists: Enter bound it
        return MapStatus.Ok;
    }

    private static MapStatus ExitWith(Epoch.ThreadSlot t, MapStatus status)
    {
        Epoch.Exit(t);
        return status;
    }

    /// <summary>Between groups of a long batch: leave the section (running any epoch advance that fell due),
    /// re-enter. False if the map was closed meanwhile (the caller stops with <c>-EBADF</c>, still in a section).</summary>
    private bool Resection(Epoch.ThreadSlot t)
    {
        Epoch.Exit(t);
        Epoch.EnterFast();
        return Volatile.Read(ref _closed) == 0;     // a shared map's owner id stays bound to this thread
    }

    private static int ReadPossibleCpus()
    {
        try
        {
            int n = CountCpuList(File.ReadAllText("/sys/devices/system/cpu/possible"));
            return n > 0 ? n : Environment.ProcessorCount;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or OverflowException)
        {
            return Environment.ProcessorCount;
        }
    }

    /// <summary>
    /// The number of CPUs in a kernel cpulist such as <c>/sys/devices/system/cpu/possible</c> holds ("0", "0-1",
    /// "0,2-3", "0-3,8-11", with surrounding whitespace and a trailing newline): the set bits of the mask, as the
    /// kernel's <c>num_possible_cpus()</c> (<c>cpumask_weight</c>) counts and sizes per-CPU values by. Not the highest
    /// number plus one: "0,2-3" is 3 CPUs. The kernel prints disjoint ranges in order, so the count is the sum of the
    /// range lengths (the parser of <c>src/FastMap.Kernel</c>'s <c>KernelBpf.PossibleCpus</c> counts the same way).
    /// </summary>
    /// <exception cref="FormatException">Not a cpulist (a part that is no number, or a range that runs backwards).</exception>
    /// <exception cref="OverflowException">A number past <see cref="int.MaxValue"/>.</exception>
    internal static int CountCpuList(string text)
    {
        int count = 0;
        foreach (string part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            int dash = part.IndexOf('-');
            int lo = ParseCpu(dash < 0 ? part : part[..dash]);
            int hi = dash < 0 ? lo : ParseCpu(part[(dash + 1)..]);
            if (hi < lo)
                throw new FormatException($"cpulist range {part} runs backwards");
            count = checked(count + (hi - lo + 1));
        }
        return count;
    }

    // A CPU number: decimal digits, whitespace around them allowed ("0 - 3"); no sign.
    private static int ParseCpu(string s) => int.Parse(s, System.Globalization.NumberStyles.AllowLeadingWhite
        | System.Globalization.NumberStyles.AllowTrailingWhite, System.Globalization.CultureInfo.InvariantCulture);
}
