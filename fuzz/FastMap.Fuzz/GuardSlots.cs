using FastMap.Internal;

namespace FastMap.Fuzz;

/// <summary>
/// Where an attr's pointers point: per pointer field, two guard-page buffers made once per process
/// (mmap per command would cost more than the command). A buffer of n bytes is placed either so
/// its last byte touches a PROT_NONE page (an over-read or over-write of one byte faults) or so its
/// first byte does (an under-read faults). The engine trusts attr pointers as the kernel trusts a
/// mapped address, so the harness always hands it exactly the bytes the command's contract names;
/// a fault then is the engine touching bytes it was not given.
/// </summary>
internal sealed unsafe class GuardSlots : IDisposable
{
    /// <summary>Largest buffer a slot holds; a field that would need more gets NULL.</summary>
    public const int MaxBytes = 1 << 16;

    /// <summary>Pointer fields one command uses at most (a batch compare-and-delete: six).</summary>
    public const int Count = 6;

    private readonly GuardedBuffer[] _atEnd = new GuardedBuffer[Count];
    private readonly GuardedBuffer[] _atStart = new GuardedBuffer[Count];

    public GuardSlots()
    {
        for (int i = 0; i < Count; i++)
        {
            _atEnd[i] = new GuardedBuffer(MaxBytes, GuardPlacement.AtEnd);
            _atStart[i] = new GuardedBuffer(MaxBytes, GuardPlacement.AtStart);
        }
    }

    /// <summary>The <paramref name="length"/> bytes slot <paramref name="slot"/> hands out, against the chosen guard.</summary>
    public Span<byte> Place(int slot, int length, bool guardBefore)
    {
        if ((uint)length > MaxBytes)
            throw new ArgumentOutOfRangeException(nameof(length));
        return guardBefore
            ? _atStart[slot].Span[..length]
            : _atEnd[slot].Span[(MaxBytes - length)..];
    }

    public void Dispose()
    {
        foreach (GuardedBuffer b in _atEnd)
            b.Dispose();
        foreach (GuardedBuffer b in _atStart)
            b.Dispose();
    }
}
