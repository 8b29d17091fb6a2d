using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace FastMap.Stress.Run;

/// <summary>
/// The machine's DRAM random-access latency: a dependent pointer chase over one random cycle (Sattolo) through a
/// buffer larger than the last-level cache, one hop per 64-byte line. A reference row: no map op that misses the
/// cache can beat it.
/// </summary>
public sealed class Dram(long bufferBytes)
{
    private const int LineInts = 16;
    private int[]? _next;
    public long BufferBytes { get; } = bufferBytes;

    private int[] Build()
    {
        int lines = (int)(BufferBytes / 64);
        var perm = new int[lines];
        for (int i = 0; i < lines; i++) perm[i] = i;
        var rng = new Data.SplitMix64.Rng(0xD7A11);
        for (int i = lines - 1; i > 0; i--) { int j = rng.Below(i); (perm[i], perm[j]) = (perm[j], perm[i]); }
        var next = GC.AllocateUninitializedArray<int>(lines * LineInts);
        for (int i = 0; i < lines; i++) next[perm[i] * LineInts] = perm[(i + 1) % lines] * LineInts;
        return next;
    }

    /// <summary>Chases for about <paramref name="seconds"/>; returns ns per hop.</summary>
    public double Measure(double seconds)
    {
        _next ??= Build();
        Chase(_next, 0, 1 << 16, out _); // warm the TLB and the branch
        long deadline = Stopwatch.GetTimestamp() + (long)(seconds * Stopwatch.Frequency);
        long hops = 0, start = Stopwatch.GetTimestamp(), now;
        int at = 0;
        do
        {
            at = Chase(_next, at, 4096, out _);
            hops += 4096;
            now = Stopwatch.GetTimestamp();
        } while (now < deadline);
        return (now - start) * (1e9 / Stopwatch.Frequency) / hops;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int Chase(int[] next, int at, int hops, out int last)
    {
        for (int h = 0; h < hops; h++) at = next[at];
        last = at;
        return at;
    }

    public void Release() => _next = null;
}
