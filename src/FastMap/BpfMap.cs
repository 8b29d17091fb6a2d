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
/// <see cref="MapStatus.EINVAL"/>.</para>
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
    private int _closed;

    private BpfMap(MapDefinition definition, MapStore store, uint valueBufferSize)
    {
        Definition = definition;
        _store = store;
        _hash = store as HashStore;
        _flags = definition.Flags;
        _canRead = (_flags & MapFlags.WriteOnly) == 0;
        _canWrite = (_flags & MapFlags.ReadOnly) == 0;
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

    /// <summary>The number of CPUs percpu values are laid out for (Linux: <c>/sys/devices/system/cpu/possible</c>).</summary>
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
            return MapStatus.Ok;
        Epoch.Exit(t);
        return MapStatus.EBADF;
    }

    /// <summary>Between groups of a long batch: leave the section (running any epoch advance that fell due),
    /// re-enter. False if the map was closed meanwhile (the caller stops with <c>-EBADF</c>, still in a section).</summary>
    private bool Resection(Epoch.ThreadSlot t)
    {
        Epoch.Exit(t);
        Epoch.EnterFast();
        return Volatile.Read(ref _closed) == 0;
    }

    private static int ReadPossibleCpus()
    {
        try
        {
            // "0-1" or "0,2-3": the highest CPU number plus one, as num_possible_cpus() counts.
            string text = File.ReadAllText("/sys/devices/system/cpu/possible").Trim();
            int max = 0;
            foreach (string part in text.Split(','))
            {
                string last = part.Contains('-') ? part[(part.IndexOf('-') + 1)..] : part;
                max = Math.Max(max, int.Parse(last, System.Globalization.CultureInfo.InvariantCulture));
            }
            return max + 1;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
            return Environment.ProcessorCount;
        }
    }
}
