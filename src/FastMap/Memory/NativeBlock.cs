using System.Runtime.InteropServices;

namespace FastMap.Internal;

/// <summary>
/// Page-aligned native allocations that <see cref="Epoch.DeferFree"/> frees after a grace period. The stores'
/// big arrays no longer come from here (they are <see cref="NativeRegion"/>s); nothing allocates a block now.
/// Blocks of 2 MiB or more are 2 MiB-aligned and advised <c>MADV_HUGEPAGE</c>, as regions are.
/// </summary>
internal static unsafe class NativeBlock
{
    private const nuint HugePage = 2u << 20;
    private const int MADV_HUGEPAGE = 14;

    [DllImport("libc", EntryPoint = "madvise")]
    private static extern int Madvise(void* addr, nuint length, int advice);

    /// <summary>Allocates <paramref name="bytes"/> zeroed bytes, or returns null when out of memory.</summary>
    public static void* AllocZeroed(nuint bytes)
    {
        if (bytes == 0)
            bytes = 1;
        bool huge = bytes >= HugePage;
        nuint align = huge ? HugePage : 64;
        nuint size = huge ? (bytes + HugePage - 1) & ~(HugePage - 1) : bytes;
        void* p;
        try
        {
            p = NativeMemory.AlignedAlloc(size, align);
        }
        catch (OutOfMemoryException)
        {
            return null;
        }
        if (p is null)
            return null;
        if (huge && OperatingSystem.IsLinux())
            _ = Madvise(p, size, MADV_HUGEPAGE); // advice only: failure (THP off) costs speed, not correctness
        NativeMemory.Clear(p, size);
        return p;
    }

    /// <summary>Frees a block from <see cref="AllocZeroed"/> (null is ignored).</summary>
    public static void Free(void* p)
    {
        if (p is not null)
            NativeMemory.AlignedFree(p);
    }
}
