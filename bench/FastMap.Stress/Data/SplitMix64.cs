namespace FastMap.Stress.Data;

/// <summary>splitmix64, the key generator of WORKLOADS.md: key i = (mix(seed + 2i), mix(seed + 2i + 1)).</summary>
public static class SplitMix64
{
    public static ulong Mix(ulong x)
    {
        x += 0x9E3779B97F4A7C15UL;
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9UL;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBUL;
        return x ^ (x >> 31);
    }

    /// <summary>
    /// The inverse of <see cref="Mix"/>: every step is a bijection (an xor-shift by s undoes by xoring in the shifts
    /// by s, 2s, ...; an odd multiplier by its inverse mod 2^64). It tells a collector which key index a scanned key
    /// has without a key-to-index table.
    /// </summary>
    public static ulong Unmix(ulong x)
    {
        x ^= (x >> 31) ^ (x >> 62);
        x *= 0x319642B2D24D8EC3UL; // 0x94D049BB133111EB^-1 mod 2^64
        x ^= (x >> 27) ^ (x >> 54);
        x *= 0x96DE1B173F119089UL; // 0xBF58476D1CE4E5B9^-1 mod 2^64
        x ^= (x >> 30) ^ (x >> 60);
        return x - 0x9E3779B97F4A7C15UL;
    }

    public static Key16 Key(ulong seed, ulong i) => new(Mix(seed + 2 * i), Mix(seed + 2 * i + 1));

    /// <summary>The i of <see cref="Key"/>(seed, i), from the key alone.</summary>
    public static ulong IndexOf(ulong seed, in Key16 key) => (Unmix(key.A) - seed) >> 1;

    /// <summary>A small seeded stream for shuffles (not the key generator).</summary>
    public struct Rng(ulong seed)
    {
        private ulong _s = seed;
        public ulong Next() { _s += 0x9E3779B97F4A7C15UL; return Mix(_s); }
        public int Below(int n) => (int)((Next() >> 32) * (ulong)n >> 32);
    }
}
