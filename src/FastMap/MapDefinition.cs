namespace FastMap;

/// <summary>
/// What <c>BPF_MAP_CREATE</c> takes: the type, the fixed key and value sizes, the capacity and the
/// flags. Validated by <see cref="BpfMap.Create(MapDefinition, out BpfMap?)"/> in the kernel's order.
/// </summary>
/// <param name="Type">The map type (<c>map_type</c>).</param>
/// <param name="KeySize">Key size in bytes (<c>key_size</c>); 4 for arrays.</param>
/// <param name="ValueSize">Value size in bytes (<c>value_size</c>).</param>
/// <param name="MaxEntries">Capacity (<c>max_entries</c>): the number of keys the map holds at most.</param>
public sealed record MapDefinition(MapType Type, uint KeySize, uint ValueSize, uint MaxEntries)
{
    /// <summary>Creation flags (<c>map_flags</c>).</summary>
    public MapFlags Flags { get; init; }

    /// <summary>Map name (<c>map_name</c>): at most 15 characters of letters, digits, '_' and '.'.</summary>
    public string? Name { get; init; }

    /// <summary>
    /// Offset of a 4-byte spin lock inside the value (what BTF's <c>struct bpf_spin_lock</c> is to the
    /// kernel), or null for none. <see cref="ElemFlags.Lock"/> copies values under it; plain lookups
    /// return its bytes zeroed; compare-and-delete is refused (<c>-EOPNOTSUPP</c>).
    /// </summary>
    public uint? SpinLockOffset { get; init; }
}
