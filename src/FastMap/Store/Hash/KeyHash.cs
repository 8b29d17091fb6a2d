using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;

namespace FastMap.Internal;

/// <summary>
/// The key hash: 64 bits from a seeded multiply-xorshift over 8-byte words (tail bytes zero
/// padded), finished with murmur3's fmix64; 16-byte keys take a one-multiply path. It need not be jhash: iteration order is not part of
/// the contract, only the set of keys is.
/// </summary>
internal static unsafe class KeyHash
{
    private const ulong K0 = 0x9E3779B97F4A7C15; // golden ratio, odd
    private const ulong K1 = 0xBF58476D1CE4E5B9; // splitmix64 constants
    private const ulong K2 = 0x94D049BB133111EB;

    /// <summary>Hashes <paramref name="length"/> bytes at <paramref name="key"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Hash(byte* key, uint length, ulong seed)
    {
        if (length == 16)
            return Hash16(key, seed);
        ulong h = seed ^ (length * K0);
        uint i = 0;
        for (; i + 8 <= length; i += 8)
            h = (h ^ Unsafe.ReadUnaligned<ulong>(key + i)) * K1;
        if (i < length)
        {
            ulong tail = 0;
            for (uint j = 0; i + j < length; j++)
                tail |= (ulong)key[i + j] << (int)(8 * j);
            h = (h ^ tail) * K2;
        }
        return Finish(h);
    }

    /// <summary>
    /// The hash of a 16-byte key (the flow keys of the standard workloads): one 64x64->128 multiply
    /// of the two seeded words, folded (wyhash's "mum"). Four chained multiplies took a fifth of a
    /// cached lookup; this takes one. Both words are mixed with the seed, so the multiply's zero
    /// operand depends on the per-map random seed, not on the key alone.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Hash16(byte* key, ulong seed)
    {
        ulong a = Unsafe.ReadUnaligned<ulong>(key) ^ seed ^ K0;
        ulong b = Unsafe.ReadUnaligned<ulong>(key + 8) ^ BitOperations.RotateLeft(seed, 32) ^ K1;
        // hi ^ lo of the 128-bit product, as two independent multiplies: Math.BigMul's out parameter
        // makes the JIT pass the low half through the stack (a store-forwarding delay on every lookup).
        ulong hi = Bmi2.X64.IsSupported ? Bmi2.X64.MultiplyNoFlags(a, b) : Math.BigMul(a, b, out _);
        return hi ^ (a * b);
    }

    /// <summary>A bijective mix (splitmix64's finaliser): the degenerate test hash spreads its few values with it.</summary>
    public static ulong Mix(ulong h) => Finish(h + K0);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Finish(ulong h)
    {
        h ^= h >> 33;
        h *= 0xFF51AFD7ED558CCD;
        h ^= h >> 33;
        h *= 0xC4CEB9FE1A85EC53;
        h ^= h >> 33;
        return h;
    }
}

/// <summary>How a store hashes and compares keys of one shape: a struct, so each shape's loops are compiled apart.</summary>
internal unsafe interface IKeyShape
{
    /// <summary>The 64-bit hash of a key of <paramref name="size"/> bytes.</summary>
    static abstract ulong Hash(byte* key, uint size, ulong seed);

    /// <summary>True if the stored key equals <paramref name="key"/>.</summary>
    static abstract bool Equal(byte* stored, byte* key, uint size);
}

/// <summary>16-byte keys (the flow keys of the standard workloads): two words, no size switch.</summary>
internal unsafe struct Key16Shape : IKeyShape
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Hash(byte* key, uint size, ulong seed) => KeyHash.Hash16(key, seed);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Equal(byte* stored, byte* key, uint size) =>
        Unsafe.ReadUnaligned<ulong>(stored) == Unsafe.ReadUnaligned<ulong>(key)
        && Unsafe.ReadUnaligned<ulong>(stored + 8) == Unsafe.ReadUnaligned<ulong>(key + 8);
}

/// <summary>Any key size.</summary>
internal unsafe struct AnyKeyShape : IKeyShape
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Hash(byte* key, uint size, ulong seed) => KeyHash.Hash(key, size, seed);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Equal(byte* stored, byte* key, uint size) => size switch
    {
        8 => Unsafe.ReadUnaligned<ulong>(stored) == Unsafe.ReadUnaligned<ulong>(key),
        4 => Unsafe.ReadUnaligned<uint>(stored) == Unsafe.ReadUnaligned<uint>(key),
        16 => Key16Shape.Equal(stored, key, 16),
        _ => WindowCompare.Equal(ref *stored, ref *key, size),
    };
}
