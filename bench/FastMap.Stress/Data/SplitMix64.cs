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

    public static Key16 Key(ulong seed, ulong i) => new(Mix(seed + 2 * i), Mix(seed + 2 * i + 1));

    /// <summary>A small seeded stream for shuffles (not the key generator).</summary>
    public struct Rng(ulong seed)
    {
        private ulong _s = seed;
        public ulong Next() { _s += 0x9E3779B97F4A7C15UL; return Mix(_s); }
        public int Below(int n) => (int)((Next() >> 32) * (ulong)n >> 32);
    }
}
