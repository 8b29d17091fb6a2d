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
[MemoryDiagnoser]
public class CompareWindowBenchmarks
{
    // Odd, so neither side is 2-, 4-, 8- or 16-byte aligned.
    private const int Offset = 3;

    private byte[] _a = [];
    private byte[] _b = [];

    /// <summary>Window length: every scalar size class, each vector tier edge and a few loops.</summary>
    [Params(1, 2, 3, 4, 7, 8, 12, 15, 16, 17, 24, 31, 32, 33, 48, 63, 64, 100, 128, 255, 256)]
    public int Size { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        // Separate arrays with equal contents: no aliasing shortcut applies.
        _a = new byte[Offset + Size + 64];
        new Random(42).NextBytes(_a);
        _b = (byte[])_a.Clone();
    }

    [Benchmark(Baseline = true)]
    public bool SequenceEqual()
    {
        ref byte a = ref _a[Offset];
        ref byte b = ref _b[Offset];
        return MemoryMarshal.CreateReadOnlySpan(ref a, Size).SequenceEqual(MemoryMarshal.CreateReadOnlySpan(ref b, Size));
    }

    [Benchmark]
    public bool WindowCompareEqual()
    {
        ref byte a = ref _a[Offset];
        ref byte b = ref _b[Offset];
        return WindowCompare.Equal(ref a, ref b, (nuint)Size);
    }
}
