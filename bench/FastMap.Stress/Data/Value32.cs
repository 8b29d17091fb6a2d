using System.Runtime.InteropServices;

namespace FastMap.Stress.Data;

/// <summary>The standard 32-byte value: a u64 revision at offset 0, then 24 payload bytes.</summary>
[StructLayout(LayoutKind.Sequential, Size = 32)]
public struct Value32 : IEquatable<Value32>
{
    public ulong Revision;
    public ulong P0, P1, P2;

    /// <summary>
    /// The value every system stores for a revision. The payload is a function of the revision, so a peer that can
    /// only compare whole values (ConcurrentDictionary's TryRemove(KeyValuePair)) decides exactly as a revision
    /// window would.
    /// </summary>
    public static Value32 Make(ulong revision) => new()
    {
        Revision = revision,
        P0 = revision * 0x9E3779B97F4A7C15UL,
        P1 = ~revision,
        P2 = revision ^ 0xA5A5A5A5A5A5A5A5UL,
    };

    public readonly bool Equals(Value32 other) =>
        Revision == other.Revision && P0 == other.P0 && P1 == other.P1 && P2 == other.P2;
    public override readonly bool Equals(object? obj) => obj is Value32 v && Equals(v);
    public override readonly int GetHashCode() => Revision.GetHashCode();
}
