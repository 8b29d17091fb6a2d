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
        // Without a matching fm_read_lock on this thread (depth 0): nothing happens (fastmap.h).
        try
        {
            RawCommands.ReadUnlock();
        }
        catch (Exception e)
        {
            // Only an epoch advance due at the outermost exit can throw; an unmatched unlock is ignored
            // (Epoch.ExitIfInside). A section left half-way is not safe to go on from, as in ReadLock.
            Environment.FailFast("fm_read_unlock: could not leave the read-side section", e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = Prefix + "map_lookup_elem_ptr")]
    private static byte* MapLookupElemPtr(int fd, byte* key)
    {
        // The pointer is only protected inside a read-side section (as the .NET LookupInPlace/LookupRef
        // require ReadSection.IsActive): outside one, refuse first, whatever the arguments (the header's
        // EINVAL). fastmap.h's inline lookup hands these calls here.
        if (!Epoch.IsProtected)
        {
            SetErrno(MapStatus.EINVAL);
            return null;
        }

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
