using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace FastMap.Internal;

/// <summary>
/// Every native allocation a map makes goes through here (<see cref="NativeRegion.Map"/> for its big arrays,
/// <see cref="TryAlloc"/> for the small ones), so that it is counted and so that a test can make it fail.
/// </summary>
/// <remarks>
/// <para>Failure injection (the kernel's failslab is the model): <see cref="FailNth"/> arms a process-wide
/// countdown, and the allocation that takes it to zero fails as if the memory were not there. Every site
/// answers that failure as it answers real exhaustion: the command returns <c>-ENOMEM</c>, and nothing is
/// lost or half-done. Disarmed, <see cref="ShouldFail"/> is one relaxed load and a predicted branch, and it is
/// reached only when memory is being allocated, never per operation.</para>
/// <para>Accounting: <see cref="LiveBytes"/> is what the maps hold now: regions mapped and not yet unmapped or
/// released, plus small blocks not yet freed. A store's regions are released (not unmapped) at close, since
/// they stay type-stable for readers outside sections; released pages cost nothing and do not count.</para>
/// </remarks>
internal static unsafe class Allocations
{
    private static int s_armed;          // nonzero while a countdown runs
    private static long s_countdown;     // the allocation that takes this to 0 fails
    private static long s_attempts;      // allocations attempted while armed
    private static long s_liveBytes;

    /// <summary>Bytes held by maps now (regions mapped and not released, small blocks not freed).</summary>
    public static long LiveBytes => Volatile.Read(ref s_liveBytes);

    /// <summary>Test hook: the <paramref name="n"/>th allocation from now (1 = the next) fails, once.</summary>
    internal static void FailNth(long n)
    {
        Volatile.Write(ref s_attempts, 0);
        Volatile.Write(ref s_countdown, n);
        Volatile.Write(ref s_armed, 1);
    }

    /// <summary>Test hook: stops injecting; returns the allocations attempted since <see cref="FailNth"/>.</summary>
    internal static long Disarm()
    {
        Volatile.Write(ref s_armed, 0);
        return Volatile.Read(ref s_attempts);
    }

    /// <summary>True when this allocation is the one armed to fail. Every allocation site asks first.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool ShouldFail() => Volatile.Read(ref s_armed) != 0 && CountDown();

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static bool CountDown()
    {
        Interlocked.Increment(ref s_attempts);
        return Interlocked.Decrement(ref s_countdown) == 0;
    }

    /// <summary>Counts <paramref name="bytes"/> in (positive) or out (negative) of <see cref="LiveBytes"/>.</summary>
    public static void Account(long bytes) => Interlocked.Add(ref s_liveBytes, bytes);

    /// <summary>A zeroed block of <paramref name="bytes"/> aligned to <paramref name="align"/>, or null when the
    /// memory is not there (or a test made this allocation fail). Free it with <see cref="Free"/>.</summary>
    public static void* TryAlloc(nuint bytes, nuint align)
    {
        if (ShouldFail())
            return null;
        void* p;
        try
        {
            p = NativeMemory.AlignedAlloc(bytes, align);
        }
        catch (OutOfMemoryException)
        {
            return null;
        }
        NativeMemory.Clear(p, bytes);
        Account((long)bytes);
        return p;
    }

    /// <summary>Frees a block of <paramref name="bytes"/> from <see cref="TryAlloc"/> (null is ignored).</summary>
    public static void Free(void* p, nuint bytes)
    {
        if (p is null)
            return;
        NativeMemory.AlignedFree(p);
        Account(-(long)bytes);
    }

    /// <summary>Grows an array from <see cref="TryAlloc"/> (or null) of <paramref name="capacity"/> items to
    /// <paramref name="wanted"/> items; false leaves it as it was.</summary>
    public static bool TryGrow<T>(ref T* items, ref int capacity, int wanted) where T : unmanaged
    {
        if (capacity >= wanted)
            return true;
        var grown = (T*)TryAlloc((nuint)wanted * (nuint)sizeof(T), 16);
        if (grown is null)
            return false;
        if (items is not null)
            Buffer.MemoryCopy(items, grown, (long)wanted * sizeof(T), (long)capacity * sizeof(T));
        Free(items, (nuint)capacity * (nuint)sizeof(T));
        items = grown;
        capacity = wanted;
        return true;
    }
}
