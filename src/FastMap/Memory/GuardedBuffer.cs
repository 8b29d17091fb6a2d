using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace FastMap.Internal;

/// <summary>
/// Test allocator: <see cref="Length"/> usable bytes with a no-access (PROT_NONE) page on each side,
/// so a read or write one byte outside the buffer faults (SIGSEGV) instead of silently passing.
/// Modelled on dotnet/runtime's <c>BoundedMemory</c>.
/// </summary>
/// <remarks>
/// <para>Layout (pages from mmap):</para>
/// <code>
/// [guard page][ ...slack... | usable bytes ][guard page]     placement AtEnd (default)
/// [guard page][ usable bytes | ...slack... ][guard page]     placement AtStart
/// </code>
/// <para>AtEnd catches over-reads (the common bug: a wide tail load); AtStart catches under-reads.
/// The slack between the usable bytes and the far guard page is readable, so each placement guards
/// one side exactly. Linux only (mmap flag values are the x86-64/arm64 ones).</para>
/// </remarks>
internal sealed unsafe class GuardedBuffer : IDisposable
{
    // <sys/mman.h> values, identical on Linux x86-64 and arm64.
    private const int PROT_NONE = 0x0;
    private const int PROT_READ = 0x1;
    private const int PROT_WRITE = 0x2;
    private const int MAP_PRIVATE = 0x02;
    private const int MAP_ANONYMOUS = 0x20;
    private static readonly nint MAP_FAILED = -1;

    private byte* _mapping;           // start of the whole mapping (the leading guard page)
    private readonly nuint _mappingBytes;
    private readonly byte* _data;     // first usable byte

    /// <summary>Allocates <paramref name="length"/> usable bytes (zeroed) between guard pages.</summary>
    /// <param name="length">Usable bytes; 0 is allowed (the span then sits against a guard page).</param>
    /// <param name="placement">Which edge of the usable bytes touches a guard page exactly.</param>
    public GuardedBuffer(int length, GuardPlacement placement = GuardPlacement.AtEnd)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        nuint page = (nuint)Environment.SystemPageSize;
        nuint dataPages = ((nuint)length + page - 1) / page;
        if (dataPages == 0)
            dataPages = 1;                 // keep one readable page so both guards stay distinct
        _mappingBytes = (dataPages + 2) * page;

        // Map everything inaccessible, then open the middle: no window where a guard is readable.
        nint p = mmap(0, _mappingBytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            throw new OutOfMemoryException($"mmap({_mappingBytes}) failed, errno {Marshal.GetLastPInvokeError()}");
        _mapping = (byte*)p;

        byte* middle = _mapping + page;
        if (mprotect((nint)middle, dataPages * page, PROT_READ | PROT_WRITE) != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            _ = munmap((nint)_mapping, _mappingBytes);
            _mapping = null;
            throw new InvalidOperationException($"mprotect failed, errno {errno}");
        }

        _data = placement == GuardPlacement.AtEnd
            ? middle + dataPages * page - (nuint)length
            : middle;
        Length = length;
        Placement = placement;
    }

    /// <summary>Usable bytes.</summary>
    public int Length { get; }

    /// <summary>Which edge of the usable bytes touches a guard page.</summary>
    public GuardPlacement Placement { get; }

    /// <summary>The usable bytes. Valid until <see cref="Dispose"/>.</summary>
    public Span<byte> Span
    {
        get
        {
            ObjectDisposedException.ThrowIf(_mapping == null, this);
            return new Span<byte>(_data, Length);
        }
    }

    /// <summary>Reference to usable byte <paramref name="index"/> (bounds-checked).</summary>
    /// <param name="index">0 &lt;= index &lt; <see cref="Length"/>.</param>
    public ref byte this[int index]
    {
        get
        {
            ObjectDisposedException.ThrowIf(_mapping == null, this);
            if ((uint)index >= (uint)Length)
                throw new IndexOutOfRangeException($"index {index} outside [0, {Length})");
            return ref Unsafe.AsRef<byte>(_data + index);
        }
    }

    /// <summary>
    /// True if the byte at <paramref name="offset"/> from the first usable byte can be read, asked of
    /// the kernel without touching it (a write(2) from it into a pipe fails with EFAULT otherwise).
    /// Lets a test prove the guard pages exist without faulting the test process.
    /// </summary>
    /// <param name="offset">Offset from the first usable byte; may be -1 or <see cref="Length"/>.</param>
    public bool IsReadable(int offset)
    {
        ObjectDisposedException.ThrowIf(_mapping == null, this);
        byte* p = _data + offset;
        if (p < _mapping || p >= _mapping + _mappingBytes)
            throw new ArgumentOutOfRangeException(nameof(offset), "offset lies outside this buffer's mapping");

        int* fds = stackalloc int[2];
        if (pipe(fds) != 0)
            throw new InvalidOperationException($"pipe failed, errno {Marshal.GetLastPInvokeError()}");
        try
        {
            return write(fds[1], (nint)p, 1) == 1;
        }
        finally
        {
            _ = close(fds[0]);
            _ = close(fds[1]);
        }
    }

    /// <summary>Unmaps the buffer; later access through <see cref="Span"/> or the indexer throws.</summary>
    public void Dispose()
    {
        Free();
        GC.SuppressFinalize(this);
    }

    ~GuardedBuffer() => Free();

    private void Free()
    {
        if (_mapping != null)
        {
            _ = munmap((nint)_mapping, _mappingBytes);
            _mapping = null;
        }
    }

    [DllImport("libc", SetLastError = true)]
    private static extern nint mmap(nint addr, nuint length, int prot, int flags, int fd, nint offset);

    [DllImport("libc", SetLastError = true)]
    private static extern int mprotect(nint addr, nuint length, int prot);

    [DllImport("libc", SetLastError = true)]
    private static extern int munmap(nint addr, nuint length);

    [DllImport("libc", SetLastError = true)]
    private static extern int pipe(int* fds);

    [DllImport("libc", SetLastError = true)]
    private static extern nint write(int fd, nint buf, nuint count);

    [DllImport("libc", SetLastError = true)]
    private static extern int close(int fd);
}

/// <summary>Which edge of a <see cref="GuardedBuffer"/>'s usable bytes touches a guard page.</summary>
internal enum GuardPlacement
{
    /// <summary>The byte after the last usable byte is a guard page: over-reads fault.</summary>
    AtEnd,

    /// <summary>The byte before the first usable byte is a guard page: under-reads fault.</summary>
    AtStart,
}
