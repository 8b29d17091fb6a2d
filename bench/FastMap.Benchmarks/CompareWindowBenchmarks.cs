using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using FastMap.Internal;

namespace FastMap.Benchmarks;

/// <summary>
/// WindowCompare.Equal against ReadOnlySpan&lt;byte&gt;.SequenceEqual on equal windows (the worst
/// case: every byte is compared) at an odd offset, so no load is aligned. Both methods start from
/// the same refs, so the difference is the compare alone.
/// Run: <c>dotnet run -c Release -- --filter *CompareWindow* --job short</c>.
/// </summary>
/// <remarks>
/// One invocation compares <see cref="Windows"/> distinct window pairs: a single compare is ~1 ns,
/// below the harness overhead and its noise, and distinct windows keep the JIT from hoisting the
/// loads of an inlined compare out of the loop (which a call would not allow: unfair to the peer).
/// </remarks>
[MemoryDiagnoser]
[MinColumn] // on a shared, loaded machine the minimum is the least noisy estimate of the cost
public class CompareWindowBenchmarks
{
    private const int Windows = 32;

    // Odd, so neither side is 2-, 4-, 8- or 16-byte aligned; the stride keeps that true for every window.
    private const int Offset = 3;

    private byte[] _a = [];
    private byte[] _b = [];
    private int _stride;

    /// <summary>Window length: every scalar size class, each vector tier edge and a few loops.</summary>
    [Params(1, 2, 3, 4, 7, 8, 12, 15, 16, 17, 24, 31, 32, 33, 48, 63, 64, 100, 128, 255, 256)]
    public int Size { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        // Separate arrays with equal contents: no aliasing shortcut applies.
        _stride = (Size + 63) & ~63;
        _a = new byte[Offset + Windows * _stride + 64];
        new Random(42).NextBytes(_a);
        _b = (byte[])_a.Clone();
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Windows)]
    public bool SequenceEqual()
    {
        bool all = true;
        int size = Size;
        for (int i = 0; i < Windows; i++)
        {
            ref byte a = ref _a[Offset + i * _stride];
            ref byte b = ref _b[Offset + i * _stride];
            all &= MemoryMarshal.CreateReadOnlySpan(ref a, size).SequenceEqual(MemoryMarshal.CreateReadOnlySpan(ref b, size));
        }
        return all;
    }

    [Benchmark(OperationsPerInvoke = Windows)]
    public bool WindowCompareEqual()
    {
        bool all = true;
        nuint size = (nuint)Size;
        for (int i = 0; i < Windows; i++)
        {
            ref byte a = ref _a[Offset + i * _stride];
            ref byte b = ref _b[Offset + i * _stride];
            all &= WindowCompare.Equal(ref a, ref b, size);
        }
        return all;
    }
}
