using System.Runtime.InteropServices;

namespace FastMap.Stress.Data;

/// <summary>The standard 16-byte flow-like key (WORKLOADS.md): two splitmix64 words.</summary>
[StructLayout(LayoutKind.Sequential, Size = 16)]
public readonly struct Key16(ulong a, ulong b) : IEquatable<Key16>
{
    public readonly ulong A = a;
    public readonly ulong B = b;

    public bool Equals(Key16 other) => A == other.A && B == other.B;
    public override bool Equals(object? obj) => obj is Key16 k && Equals(k);

    // The words are already splitmix64 output, so folding them is a good hash; this is what the managed peers
    // (Dictionary, ConcurrentDictionary) get, and it costs them one xor, not HashCode.Combine's mixing.
    public override int GetHashCode() => unchecked((int)(A ^ (A >> 32) ^ B ^ (B >> 32)));
}
