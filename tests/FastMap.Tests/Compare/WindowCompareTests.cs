using System.Runtime.InteropServices;
using FastMap.Internal;

namespace FastMap.Tests.Compare;

/// <summary>
/// WindowCompare against its scalar reference and SequenceEqual, modelled on dotnet/runtime's
/// SequenceEqual.byte.cs. CI runs this class twice: as is (SIMD tiers) and with
/// DOTNET_EnableHWIntrinsic=0 (the scalar ulong/uint/byte path), so both paths are proven.
/// </summary>
[Trait("Category", "Compare")]
public sealed class WindowCompareTests
{
    // Every length through two Vector256 (each tier boundary and the overlap cases), plus lengths
    // that run the block loops with and without a partial final block.
    public static TheoryData<int> Lengths()
    {
        var data = new TheoryData<int>();
        for (int n = 0; n <= 64; n++)
            data.Add(n);
        foreach (int n in new[] { 100, 255, 256, 1000 })
            data.Add(n);
        return data;
    }

    [Theory]
    [MemberData(nameof(Lengths))]
    public void EqualWindowsCompareEqual(int length)
    {
        byte[] a = Pattern(length, seed: 1);
        byte[] b = (byte[])a.Clone();

        Assert.True(Equal(a, b));
        Assert.True(EqualScalar(a, b));
    }

    [Theory]
    [MemberData(nameof(Lengths))]
    public void MismatchAtEveryIndexIsFound(int length)
    {
        byte[] a = Pattern(length, seed: 2);
        byte[] b = (byte[])a.Clone();

        for (int i = 0; i < length; i++)
        {
            // 0x01 and 0x80 flip the lowest and highest bit of the lane; 0xFF flips all of them.
            foreach (byte flip in new byte[] { 0x01, 0x80, 0xFF })
            {
                b[i] ^= flip;
                Assert.False(Equal(a, b), $"length {length}: mismatch at {i} (xor 0x{flip:X2}) not found");
                Assert.False(EqualScalar(a, b), $"length {length}: scalar missed mismatch at {i}");
                b[i] ^= flip;
            }
        }
        Assert.True(Equal(a, b));
    }

    [Theory]
    [MemberData(nameof(Lengths))]
    public void OffsetsZeroToFifteenOnBothSidesDoNotChangeTheResult(int length)
    {
        // Each side misaligned independently, so every load pairing (aligned/unaligned) is tried.
        byte[] bufA = new byte[length + 16];
        byte[] bufB = new byte[length + 16];
        byte[] window = Pattern(length, seed: 3);

        for (int offA = 0; offA < 16; offA++)
        {
            for (int offB = 0; offB < 16; offB++)
            {
                Span<byte> a = bufA.AsSpan(offA, length);
                Span<byte> b = bufB.AsSpan(offB, length);
                window.CopyTo(a);
                window.CopyTo(b);
                Assert.True(Equal(a, b), $"length {length}, offsets {offA}/{offB}: equal windows differ");

                // First, middle and last byte: head load, block loop and overlapping tail load.
                foreach (int i in length == 0 ? [] : new[] { 0, length / 2, length - 1 })
                {
                    b[i] ^= 0x40;
                    Assert.False(Equal(a, b), $"length {length}, offsets {offA}/{offB}: mismatch at {i} not found");
                    b[i] ^= 0x40;
                }
            }
        }
    }

    [Theory]
    [MemberData(nameof(Lengths))]
    public void WindowsEndingRightBeforeAGuardPageAreNeverOverRead(int length)
    {
        // Both windows end at a no-access page: a load past the end faults and kills the run.
        using var bufA = new GuardedBuffer(length, GuardPlacement.AtEnd);
        using var bufB = new GuardedBuffer(length, GuardPlacement.AtEnd);
        AssertEqualAndEveryMismatchFound(bufA.Span, bufB.Span, length);
    }

    [Theory]
    [MemberData(nameof(Lengths))]
    public void WindowsStartingRightAfterAGuardPageAreNeverUnderRead(int length)
    {
        using var bufA = new GuardedBuffer(length, GuardPlacement.AtStart);
        using var bufB = new GuardedBuffer(length, GuardPlacement.AtStart);
        AssertEqualAndEveryMismatchFound(bufA.Span, bufB.Span, length);
    }

    [Theory]
    [MemberData(nameof(Lengths))]
    public void GuardedWindowAgainstAnOrdinaryArrayIsNeverOverRead(int length)
    {
        // Only one side guarded: an over-read of just that side would otherwise hide behind the other.
        using var guarded = new GuardedBuffer(length, GuardPlacement.AtEnd);
        byte[] plain = new byte[length];
        AssertEqualAndEveryMismatchFound(guarded.Span, plain, length);
        AssertEqualAndEveryMismatchFound(plain, guarded.Span, length);
    }

    [Theory]
    [MemberData(nameof(Lengths))]
    public void GuardBytesThatDifferAroundTheWindowDoNotAffectTheResult(int length)
    {
        // 32 bytes each side: wider than any load, so an over- or under-read would see the difference.
        const int Guard = 32;
        byte[] window = Pattern(length, seed: 4);

        foreach ((byte ga, byte gb) in new[] { ((byte)0xAA, (byte)0x55), ((byte)0x00, (byte)0xFF), ((byte)0xFF, (byte)0x00) })
        {
            byte[] bufA = new byte[Guard + length + Guard];
            byte[] bufB = new byte[Guard + length + Guard];
            bufA.AsSpan().Fill(ga);
            bufB.AsSpan().Fill(gb);
            window.CopyTo(bufA.AsSpan(Guard));
            window.CopyTo(bufB.AsSpan(Guard));

            Assert.True(Equal(bufA.AsSpan(Guard, length), bufB.AsSpan(Guard, length)),
                $"length {length}: guard bytes 0x{ga:X2}/0x{gb:X2} leaked into the result");
        }
    }

    [Fact]
    public void AWindowComparedWithItselfIsEqual()
    {
        byte[] a = Pattern(300, seed: 5);
        for (int length = 0; length <= a.Length; length++)
            Assert.True(Equal(a.AsSpan(0, length), a.AsSpan(0, length)));
    }

    [Fact]
    public void OverlappingWindowsOfOneBufferCompareByContent()
    {
        // a and b alias with a shift: equal only when the bytes really repeat.
        byte[] same = new byte[200];
        same.AsSpan().Fill(7);
        byte[] ramp = Pattern(200, seed: 6);
        for (int length = 0; length <= 150; length++)
        {
            for (int shift = 1; shift <= 17; shift += 8)
            {
                Assert.True(Equal(same.AsSpan(0, length), same.AsSpan(shift, length)));
                Assert.Equal(
                    ramp.AsSpan(0, length).SequenceEqual(ramp.AsSpan(shift, length)),
                    Equal(ramp.AsSpan(0, length), ramp.AsSpan(shift, length)));
            }
        }
    }

    [Fact]
    public void AgreesWithScalarAndSequenceEqualOnRandomSeededInputs()
    {
        // Seeded, so a failure names a reproducible case. Half the cases are equal (the slow, all-bytes
        // path); the rest differ in 1..3 random bytes, which may cancel when rewritten to the same value.
        var rng = new Random(20240611);
        byte[] bufA = new byte[1100];
        byte[] bufB = new byte[1100];

        for (int iter = 0; iter < 20_000; iter++)
        {
            int length = rng.Next(4) == 0 ? rng.Next(1025) : rng.Next(80);
            int offA = rng.Next(16);
            int offB = rng.Next(16);
            Span<byte> a = bufA.AsSpan(offA, length);
            Span<byte> b = bufB.AsSpan(offB, length);
            rng.NextBytes(a);
            a.CopyTo(b);
            if (length > 0 && rng.Next(2) == 0)
            {
                int edits = 1 + rng.Next(3);
                for (int e = 0; e < edits; e++)
                    b[rng.Next(length)] = (byte)rng.Next(256);
            }

            bool expected = a.SequenceEqual(b);
            Assert.True(expected == EqualScalar(a, b), $"iter {iter}: EqualScalar disagrees (length {length}, offsets {offA}/{offB})");
            Assert.True(expected == Equal(a, b), $"iter {iter}: Equal disagrees (length {length}, offsets {offA}/{offB})");
        }
    }

    [Fact]
    public void GuardedBufferHasNoAccessPagesOnTheGuardedSide()
    {
        // Proves the tool the guard tests rely on, without faulting: the kernel reports EFAULT instead.
        foreach (int length in new[] { 0, 1, 15, 4096, 5000 })
        {
            using var end = new GuardedBuffer(length, GuardPlacement.AtEnd);
            Assert.False(end.IsReadable(length), $"length {length}: byte after the end is readable");
            if (length > 0)
                Assert.True(end.IsReadable(length - 1));

            using var start = new GuardedBuffer(length, GuardPlacement.AtStart);
            Assert.False(start.IsReadable(-1), $"length {length}: byte before the start is readable");
            if (length > 0)
                Assert.True(start.IsReadable(0));
        }
    }

    [Fact]
    public void GuardedBufferIsZeroedWritableAndIndexable()
    {
        using var buf = new GuardedBuffer(100);
        Assert.Equal(100, buf.Span.Length);
        Assert.True(buf.Span.IndexOfAnyExcept((byte)0) < 0);
        buf[99] = 42;
        Assert.Equal(42, buf.Span[99]);
        Assert.Throws<IndexOutOfRangeException>(() => buf[100]);
    }

    private static void AssertEqualAndEveryMismatchFound(Span<byte> a, Span<byte> b, int length)
    {
        Pattern(length, seed: 7).CopyTo(a);
        Pattern(length, seed: 7).CopyTo(b);
        Assert.True(Equal(a, b), $"length {length}: equal guarded windows differ");
        for (int i = 0; i < length; i++)
        {
            b[i] ^= 0x5A;
            Assert.False(Equal(a, b), $"length {length}: mismatch at {i} not found");
            b[i] ^= 0x5A;
        }
    }

    private static bool Equal(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b)
    {
        Assert.Equal(a.Length, b.Length);
        return WindowCompare.Equal(ref MemoryMarshal.GetReference(a), ref MemoryMarshal.GetReference(b), (nuint)a.Length);
    }

    private static bool EqualScalar(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b)
    {
        Assert.Equal(a.Length, b.Length);
        return WindowCompare.EqualScalar(ref MemoryMarshal.GetReference(a), ref MemoryMarshal.GetReference(b), (nuint)a.Length);
    }

    // Distinct, non-repeating-ish bytes so a shifted or misplaced load rarely matches by chance.
    private static byte[] Pattern(int length, int seed)
    {
        byte[] p = new byte[length];
        new Random(seed).NextBytes(p);
        return p;
    }
}
