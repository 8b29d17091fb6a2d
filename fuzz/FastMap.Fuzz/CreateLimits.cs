using System.Buffers.Binary;

namespace FastMap.Fuzz;

/// <summary>
/// BPF_MAP_CREATE from fuzzed attrs: sizes are cut down so a created map stays small (a fuzzed
/// max_entries of 2^27 would reserve gigabytes on every run), except where the raw size is what
/// the create must refuse (E2BIG), which is kept so those checks stay reachable. A created map must
/// be what the attr asked for.
/// </summary>
internal static class CreateLimits
{
    private const uint HashMaxEntries = 1u << 27, KmallocMax = 1u << 22, HtabElemHeader = 48, PcpuMinUnit = 32768;

    public static void Clamp(Span<byte> attr)
    {
        uint type = Read(attr, 0), key = Read(attr, 4), value = Read(attr, 8), max = Read(attr, 12);
        bool hashTooBig = type != (uint)MapType.Array && (ulong)key + value >= KmallocMax - HtabElemHeader;
        bool percpuTooBig = type == (uint)MapType.PercpuHash && ((ulong)value + 7 & ~7ul) > PcpuMinUnit;
        if (!hashTooBig)
            WriteLow(attr, 4, key % 65);
        if (!hashTooBig && !percpuTooBig && value <= int.MaxValue)
            WriteLow(attr, 8, value % 257);
        if (max <= HashMaxEntries)
            WriteLow(attr, 12, max % 257);
    }

    /// <summary>The map a CREATE answered with has the attr's type, sizes, flags and name; it becomes the scratch map.</summary>
    public static void CheckCreated(byte[] view, int handle, LiveMaps maps)
    {
        BpfMap? m = BpfMap.FromHandle(handle);
        OracleFailure.Check(m is not null, $"CREATE answered {handle}, which names no map");
        MapDefinition d = m!.Definition;
        uint flags = PointerFields.U32(view, 16) & ~(uint)MapFlags.NumaNode;   // NUMA_NO_NODE drops the flag
        ReadOnlySpan<byte> rawName = view.AsSpan(28, 16);
        string? name = rawName.IndexOf((byte)0) is var nul and > 0 ? System.Text.Encoding.ASCII.GetString(rawName[..nul]) : null;
        OracleFailure.Check((uint)d.Type == PointerFields.U32(view, 0) && d.KeySize == PointerFields.U32(view, 4)
            && d.ValueSize == PointerFields.U32(view, 8) && d.MaxEntries == PointerFields.U32(view, 12)
            && ((uint)d.Flags & ~(uint)MapFlags.NumaNode) == flags && d.Name == name,
            $"CREATE made {d}, not what the attr asked for");
        maps.Adopt(handle);
    }

    /// <summary>A u32 field as far as the attr holds it (the engine zero-pads the rest).</summary>
    private static uint Read(ReadOnlySpan<byte> attr, int off)
    {
        Span<byte> b = stackalloc byte[4];
        b.Clear();
        if (off < attr.Length)
            attr[off..Math.Min(attr.Length, off + 4)].CopyTo(b);
        return BinaryPrimitives.ReadUInt32LittleEndian(b);
    }

    /// <summary>Writes the bytes of <paramref name="v"/> the attr has room for: v never exceeds the
    /// field's old value, so it fits in as many bytes as that did.</summary>
    private static void WriteLow(Span<byte> attr, int off, uint v)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, v);
        if (off < attr.Length)
            b[..Math.Min(4, attr.Length - off)].CopyTo(attr[off..]);
    }
}
