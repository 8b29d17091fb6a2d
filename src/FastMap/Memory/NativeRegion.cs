using System.Runtime.InteropServices;

namespace FastMap.Internal;

/// <summary>
/// A zeroed block of anonymous memory from <c>mmap</c>, for a store's big arrays. The kernel commits
/// its pages on first touch, so a map pays for the memory its entries use (a <c>NO_PREALLOC</c> map
/// that stays small stays small), and a size the machine cannot give fails at once with no page
/// touched. Blocks of 2 MiB or more start 2 MiB-aligned and are advised <c>MADV_HUGEPAGE</c>: at 4 Mi
/// entries a lookup touches a control line and an entry at random, and with 4 KiB pages each is also
/// a TLB miss (a page walk costs about as much as the access itself in these VMs).
/// </summary>
internal readonly unsafe struct NativeRegion
{
    private const nuint HugePage = 2u << 20;
    private const int PROT_READ = 0x1, PROT_WRITE = 0x2, MAP_PRIVATE = 0x02, MAP_ANONYMOUS = 0x20;
    private const int MADV_HUGEPAGE = 14, MADV_DONTNEED = 4;

    /// <summary>The first byte (64-byte aligned at least), or null for a region that was not mapped.</summary>
    public readonly byte* Base;

    /// <summary>Bytes mapped (whole pages).</summary>
    public readonly nuint Length;

    private NativeRegion(byte* p, nuint length)
    {
        Base = p;
        Length = length;
    }

    /// <summary>Maps <paramref name="bytes"/> zeroed bytes; a region with a null <see cref="Base"/> if the
    /// memory is not there (the caller answers <c>-ENOMEM</c>).</summary>
    public static NativeRegion Map(ulong bytes)
    {
        nuint page = (nuint)Environment.SystemPageSize;
        if (bytes == 0)
            bytes = 1;
        // Past the 47-bit user address space no mapping can succeed: refuse before the arithmetic can wrap.
        if (bytes > 1ul << 46 || Allocations.ShouldFail())
            return default;
        bool huge = bytes >= HugePage;
        // Whole pages, not whole huge pages: the start is 2 MiB-aligned so every full 2 MiB of the block can be a
        // huge page, and the tail past the last one stays in small pages (rounding the length up to 2 MiB cost up to
        // 2 MiB a block: 4 bytes an entry on a 64 Ki-entry map).
        nuint length = ((nuint)bytes + page - 1) & ~(page - 1);
        // Over-map by one alignment unit, then trim both ends, so the block starts on a huge page.
        nuint over = huge ? length + HugePage : length;
        nint p = mmap(0, over, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == -1)
            return default;
        nuint start = (nuint)p;
        if (huge)
        {
            nuint aligned = (start + HugePage - 1) & ~(HugePage - 1);
            if (aligned > start)
                _ = munmap((nint)start, aligned - start);
            nuint tail = start + over - (aligned + length);
            if (tail > 0)
                _ = munmap((nint)(aligned + length), tail);
            start = aligned;
            // Advice only: with THP off this costs speed, not correctness.
            _ = madvise((nint)start, length, MADV_HUGEPAGE);
        }
        Allocations.Account((long)length);
        return new NativeRegion((byte*)start, length);
    }

    /// <summary>Unmaps the region (a region that was not mapped is ignored). Only for a region no reader can
    /// have seen (a create that failed); a store's regions are released with <see cref="Release"/>.</summary>
    public void Unmap()
    {
        if (Base is null)
            return;
        _ = munmap((nint)Base, Length);
        Allocations.Account(-(long)Length);
    }

    /// <summary>
    /// Gives the region's pages back to the kernel but keeps its addresses mapped (reading them yields
    /// zeros, at no memory cost). A store's memory is type-stable: a lookup that runs without a read-side
    /// section may still be reading it after the map closed, and must never fault. The address range stays
    /// reserved for the life of the process.
    /// </summary>
    public void Release()
    {
        if (Base is null)
            return;
        _ = madvise((nint)Base, Length, MADV_DONTNEED);
        Allocations.Account(-(long)Length);
    }

    [DllImport("libc", EntryPoint = "mmap")]
    private static extern nint mmap(nint addr, nuint length, int prot, int flags, int fd, nint offset);

    [DllImport("libc", EntryPoint = "munmap")]
    private static extern int munmap(nint addr, nuint length);

    [DllImport("libc", EntryPoint = "madvise")]
    private static extern int madvise(nint addr, nuint length, int advice);
}
