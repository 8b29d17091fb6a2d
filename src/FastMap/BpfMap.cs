using System.Runtime.CompilerServices;
using FastMap.Internal;

namespace FastMap;

/// <summary>
/// A FastMap map: the kernel's BPF hash (or array, percpu hash, LRU hash) map in user space, with
/// the RFC's atomic compare-and-delete. Every operation returns what <c>bpf()</c> would return, as a
/// <see cref="MapStatus"/>. Thread-safe: lookups take no lock, writers take one stripe lock.
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
    private readonly Table _table;
    private readonly MapFlags _flags;
    private int _closed;

    // Hot-path copies of the definition, so a typed lookup reads one object.
    private readonly int _keySize;
    private readonly int _valueBytes;
    private readonly bool _plainRead;      // a hashed table without a spin lock, on a readable handle

    private BpfMap(MapDefinition definition, Table table, uint valueBufferSize)
    {
        Definition = definition;
        _table = table;
        _flags = definition.Flags;
        ValueBufferSize = (int)valueBufferSize;
        _keySize = (int)definition.KeySize;
        _valueBytes = (int)valueBufferSize;
        _plainRead = !table.IsArray && table.SpinLockOffset < 0 && (_flags & MapFlags.WriteOnly) == 0;
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
    public bool HasSpinLock => _table.SpinLockOffset >= 0;

    /// <summary>True once <see cref="Dispose"/> has run.</summary>
    public bool IsClosed => Volatile.Read(ref _closed) != 0;

    /// <summary>Keys present now (exact when no writer runs; a snapshot otherwise).</summary>
    public long Count
    {
        get
        {
            if (_table.IsArray)
                return MaxEntries;
            // The tokens live in native memory that a close frees after a grace period.
            if (!EnterOpen())
                return 0;
            long n = MaxEntries - _table.Pool.TokensApprox;
            Epoch.Exit();
            return n;
        }
    }

    /// <summary>Native bytes the map holds: slots, locks and elements (spares included).</summary>
    public long MemoryBytes => _table.Bytes;

    /// <summary>The number of CPUs percpu values are laid out for (Linux: <c>/sys/devices/system/cpu/possible</c>).</summary>
    public static int PossibleCpus { get; } = ReadPossibleCpus();

    internal Table Table => _table;

    private bool CanRead => (_flags & MapFlags.WriteOnly) == 0;

    private bool CanWrite => (_flags & MapFlags.ReadOnly) == 0;

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
        HandleTable.Remove(Handle, this);
        _table.Pool.MarkClosed();
        // The closed flag is this map's "unlink": an operation that saw it clear entered its
        // section first, so the table outlives it (Epoch rule 4).
        Epoch.DeferDispose(_table);
        Epoch.Collect();
    }

    /// <summary>Enters a section and checks the map is open (the fd step of every command).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool EnterOpen()
    {
        Epoch.Enter();
        if (Volatile.Read(ref _closed) == 0)
            return true;
        Epoch.Exit();
        return false;
    }

    /// <summary>Leaves the command's section, then runs deferred epoch work (outside the section).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Leave()
    {
        Epoch.Exit();
        _table.Pool.AdvanceIfRequested();
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
