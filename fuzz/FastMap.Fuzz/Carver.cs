using System.Buffers.Binary;

namespace FastMap.Fuzz;

/// <summary>
/// Carves typed values off the front of a fuzz input. Past the end every read gives zeros, so any
/// input (even an empty one) is a valid program: AFL can cut an input anywhere and still get a run
/// whose meaning is the prefix's, which keeps its trimming and splicing useful.
/// </summary>
internal ref struct Carver(ReadOnlySpan<byte> data)
{
    private ReadOnlySpan<byte> _rest = data;

    public readonly bool Exhausted => _rest.IsEmpty;

    public byte Byte()
    {
        if (_rest.IsEmpty)
            return 0;
        byte b = _rest[0];
        _rest = _rest[1..];
        return b;
    }

    public uint U32()
    {
        Span<byte> b = stackalloc byte[4];
        Fill(b);
        return BinaryPrimitives.ReadUInt32LittleEndian(b);
    }

    /// <summary>Copies the next bytes into <paramref name="dst"/>; what the input lacks is zero.</summary>
    public void Fill(scoped Span<byte> dst)
    {
        int n = Math.Min(dst.Length, _rest.Length);
        _rest[..n].CopyTo(dst);
        dst[n..].Clear();
        _rest = _rest[n..];
    }
}
