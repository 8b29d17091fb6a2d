using System.Runtime.InteropServices;
using FastMap.Internal;

namespace FastMap.Native;

// The batch commands. As for the *_ELEM shims, every pointer (count included) is passed through:
// the engine reports NULL with -EFAULT at the kernel's position in the check order (after the
// handle, permission and flag checks), and for the scans only when the pointer would be used.
internal static unsafe partial class Exports
{
    [UnmanagedCallersOnly(EntryPoint = Prefix + "map_lookup_batch")]
    private static int MapLookupBatch(int fd, byte* inBatch, byte* outBatch, byte* keys, byte* values, uint* count, ulong elemFlags)
    {
        try
        {
            return Result(RawCommands.LookupBatch(fd, inBatch, outBatch, keys, values, count, elemFlags));
        }
        catch (Exception e)
        {
            return Guard(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = Prefix + "map_lookup_and_delete_batch")]
    private static int MapLookupAndDeleteBatch(int fd, byte* inBatch, byte* outBatch, byte* keys, byte* values, uint* count, ulong elemFlags)
    {
        try
        {
            return Result(RawCommands.LookupAndDeleteBatch(fd, inBatch, outBatch, keys, values, count, elemFlags));
        }
        catch (Exception e)
        {
            return Guard(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = Prefix + "map_update_batch")]
    private static int MapUpdateBatch(int fd, byte* keys, byte* values, uint* count, ulong elemFlags)
    {
        try
        {
            return Result(RawCommands.UpdateBatch(fd, keys, values, count, elemFlags));
        }
        catch (Exception e)
        {
            return Guard(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = Prefix + "map_delete_batch")]
    private static int MapDeleteBatch(int fd, byte* keys, uint* count, ulong elemFlags)
    {
        try
        {
            return Result(RawCommands.DeleteBatch(fd, keys, count, elemFlags));
        }
        catch (Exception e)
        {
            return Guard(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = Prefix + "map_delete_batch_cmp")]
    private static int MapDeleteBatchCmp(int fd, byte* keys, byte* compares, uint compareOffset, uint compareSize,
        int* results, uint* count)
    {
        try
        {
            return Result(RawCommands.DeleteBatchCompare(fd, keys, compares, compareOffset, compareSize, results, count));
        }
        catch (Exception e)
        {
            return Guard(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = Prefix + "map_update_batch_cmp")]
    private static int MapUpdateBatchCmp(int fd, byte* keys, byte* values, byte* compares, uint compareOffset, uint compareSize,
        int* results, uint* count)
    {
        try
        {
            return Result(RawCommands.UpdateBatchCompare(fd, keys, values, compares, compareOffset, compareSize, results, count));
        }
        catch (Exception e)
        {
            return Guard(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = Prefix + "map_lookup_bulk")]
    private static int MapLookupBulk(int fd, byte* keys, byte* values, int* results, uint count)
    {
        try
        {
            return Result(RawCommands.LookupBulk(fd, keys, values, results, count));
        }
        catch (Exception e)
        {
            return Guard(e);
        }
    }
}
