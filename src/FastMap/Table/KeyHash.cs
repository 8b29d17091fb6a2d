using System.Numerics;
using System.Runtime.CompilerServices;

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
        ulong hi = Math.BigMul(a, b, out ulong lo);
        return hi ^ lo;
    }

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
