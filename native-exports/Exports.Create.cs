using System.Runtime.InteropServices;
using FastMap.Internal;

namespace FastMap.Native;

internal static unsafe partial class Exports
{
    // struct fm_map_create_opts as this library was compiled (see include/fastmap.h):
    //   [0..8) size_t sz | [8..12) map_flags | [12..16) has_spin_lock | [16..20) spin_lock_off | [20..24) pad
    private const int OptsMapFlagsOffset = 8;
    private const int OptsHasSpinLockOffset = 12;
    private const int OptsSpinLockOffOffset = 16;
    /// <summary><c>offsetofend(struct fm_map_create_opts, fm_map_create_opts__last_field)</c>.</summary>
    private const int OptsKnownSize = 20;

    [UnmanagedCallersOnly(EntryPoint = Prefix + "map_create")]
    private static int MapCreate(uint mapType, byte* name, uint keySize, uint valueSize, uint maxEntries, byte* opts)
    {
        try
        {
            int ret = ReadCreateOpts(opts, out uint mapFlags, out bool hasSpinLock, out uint spinLockOff);
            if (ret == 0)
                ret = RawCommands.Create(mapType, name, keySize, valueSize, maxEntries, mapFlags, hasSpinLock, spinLockOff);
            return Result(ret);
        }
        catch (Exception e)
        {
            return Guard(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = Prefix + "map_close")]
    private static int MapClose(int fd)
    {
        try
        {
            return Result(RawCommands.Close(fd));
        }
        catch (Exception e)
        {
            return Guard(e);
        }
    }

    /// <summary>
    /// libbpf's <c>OPTS_VALID</c> and <c>OPTS_GET</c>: NULL means defaults; <c>sz</c> below
    /// <c>sizeof(size_t)</c> is <c>-EINVAL</c>; a caller's struct larger than ours must be zero past
    /// our last field (a newer caller asking for something we cannot do must not be ignored); a
    /// smaller one gets 0 for every field it does not reach.
    /// </summary>
    private static int ReadCreateOpts(byte* opts, out uint mapFlags, out bool hasSpinLock, out uint spinLockOff)
    {
        mapFlags = 0;
        hasSpinLock = false;
        spinLockOff = 0;
        if (opts == null)
            return 0;

        nuint sz = *(nuint*)opts;
        if (sz < (nuint)sizeof(nuint))
            return (int)MapStatus.EINVAL;
        // Our own tail padding [20..24) counts as unknown too, as in libbpf: FM_OPTS zeroes it.
        for (nuint i = OptsKnownSize; i < sz; i++)
        {
            if (opts[i] != 0)
                return (int)MapStatus.EINVAL;
        }

        if (sz >= OptsMapFlagsOffset + sizeof(uint))
            mapFlags = *(uint*)(opts + OptsMapFlagsOffset);
        if (sz >= OptsHasSpinLockOffset + sizeof(uint))
            hasSpinLock = *(uint*)(opts + OptsHasSpinLockOffset) != 0;
        if (sz >= OptsSpinLockOffOffset + sizeof(uint))
            spinLockOff = *(uint*)(opts + OptsSpinLockOffOffset);
        return 0;
    }
}
