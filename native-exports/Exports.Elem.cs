using System.Runtime.InteropServices;
using FastMap.Internal;

namespace FastMap.Native;

// The *_ELEM commands. Each shim is one engine call; NULL key/value/compare pointers are passed
// through because the engine reports them with -EFAULT at the kernel's position in the check order
// (after flags, handle and permission), which a check here would overtake.
internal static unsafe partial class Exports
{
    [UnmanagedCallersOnly(EntryPoint = Prefix + "map_lookup_elem")]
    private static int MapLookupElem(int fd, byte* key, byte* value)
    {
        try
        {
            return Result(RawCommands.Lookup(fd, key, value, 0));
        }
        catch (Exception e)
        {
            return Guard(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = Prefix + "map_lookup_elem_flags")]
    private static int MapLookupElemFlags(int fd, byte* key, byte* value, ulong flags)
    {
        try
        {
            return Result(RawCommands.Lookup(fd, key, value, flags));
        }
        catch (Exception e)
        {
            return Guard(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = Prefix + "map_update_elem")]
    private static int MapUpdateElem(int fd, byte* key, byte* value, ulong flags)
    {
        try
        {
            return Result(RawCommands.Update(fd, key, value, flags));
        }
        catch (Exception e)
        {
            return Guard(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = Prefix + "map_delete_elem")]
    private static int MapDeleteElem(int fd, byte* key)
    {
        try
        {
            return Result(RawCommands.Delete(fd, key, 0));
        }
        catch (Exception e)
        {
            return Guard(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = Prefix + "map_delete_elem_flags")]
    private static int MapDeleteElemFlags(int fd, byte* key, ulong flags)
    {
        try
        {
            return Result(RawCommands.Delete(fd, key, flags));
        }
        catch (Exception e)
        {
            return Guard(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = Prefix + "map_delete_elem_cmp")]
    private static int MapDeleteElemCmp(int fd, byte* key, byte* compare, uint compareOffset, uint compareSize)
    {
        try
        {
            return Result(RawCommands.DeleteCompare(fd, key, compare, compareOffset, compareSize));
        }
        catch (Exception e)
        {
            return Guard(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = Prefix + "map_update_elem_cmp")]
    private static int MapUpdateElemCmp(int fd, byte* key, byte* value, byte* compare, uint compareOffset, uint compareSize, ulong flags)
    {
        try
        {
            return Result(RawCommands.UpdateCompare(fd, key, value, compare, compareOffset, compareSize, flags));
        }
        catch (Exception e)
        {
            return Guard(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = Prefix + "map_lookup_and_delete_elem")]
    private static int MapLookupAndDeleteElem(int fd, byte* key, byte* value)
    {
        try
        {
            return Result(RawCommands.LookupAndDelete(fd, key, value, 0));
        }
        catch (Exception e)
        {
            return Guard(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = Prefix + "map_get_next_key")]
    private static int MapGetNextKey(int fd, byte* key, byte* nextKey)
    {
        try
        {
            return Result(RawCommands.GetNextKey(fd, key, nextKey));
        }
        catch (Exception e)
        {
            return Guard(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = Prefix + "bpf")]
    private static int Bpf(int cmd, byte* attr, uint size)
    {
        try
        {
            return Result(RawCommands.Bpf(cmd, attr, size));
        }
        catch (Exception e)
        {
            return Guard(e);
        }
    }
}
