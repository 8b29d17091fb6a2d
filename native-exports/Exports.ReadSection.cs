using System.Runtime.InteropServices;
using FastMap.Internal;

namespace FastMap.Native;

// The read-side section and the in-place pointer: the datapath half of the ABI (rcu_read_lock and a
// BPF program's bpf_map_lookup_elem). These return void or a pointer, so there is no errno result
// to carry a failure; see each shim for what it does instead.
internal static unsafe partial class Exports
{
    [UnmanagedCallersOnly(EntryPoint = Prefix + "read_lock")]
    private static void ReadLock()
    {
        try
        {
            RawCommands.ReadLock();
        }
        catch (Exception e)
        {
            // Only the thread's first section allocates (its epoch slot). Returning would let the
            // caller dereference pointers with no protection, so stop here, as rcu would BUG().
            Environment.FailFast("fm_read_lock: could not enter a read-side section", e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = Prefix + "read_unlock")]
    private static void ReadUnlock()
    {
        try
        {
            RawCommands.ReadUnlock();
        }
        catch (Exception e)
        {
            Environment.FailFast("fm_read_unlock without a matching fm_read_lock on this thread", e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = Prefix + "map_lookup_elem_ptr")]
    private static byte* MapLookupElemPtr(int fd, byte* key)
    {
        // LookupPtr reads key_size bytes at once, so a NULL key is caught here (the header's EFAULT).
        if (key == null)
        {
            SetErrno(MapStatus.EFAULT);
            return null;
        }

        try
        {
            byte* value = RawCommands.LookupPtr(fd, key);
            if (value == null)
                SetErrno(MapStatus.ENOENT);
            return value;
        }
        catch (Exception e)
        {
            _ = Guard(e);
            return null;
        }
    }
}
