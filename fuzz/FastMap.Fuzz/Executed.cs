namespace FastMap.Fuzz;

/// <summary>What one command was given and what it left: the inputs the oracles judge.</summary>
internal sealed class Executed(int cmd, int ret, byte[] attr, uint countAfter, Dictionary<int, byte[]?> pointed)
{
    public int Cmd { get; } = cmd;

    public int Ret { get; } = ret;

    /// <summary>The engine's view of the attr before the call (<see cref="BpfAttr.Size"/> bytes).</summary>
    public byte[] Attr { get; } = attr;

    /// <summary>Batch <c>count</c> as the caller's attr holds it after the call.</summary>
    public uint CountAfter { get; } = countAfter;

    public uint U32(int offset) => PointerFields.U32(Attr, offset);

    public ulong U64(int offset) => PointerFields.U64(Attr, offset);

    /// <summary>The bytes the pointer at attr <paramref name="offset"/> pointed to, after the call; null for NULL.</summary>
    public byte[]? Bytes(int offset) => pointed.TryGetValue(offset, out byte[]? b) ? b : null;
}
