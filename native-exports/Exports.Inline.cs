using System.Runtime.InteropServices;
using FastMap.Internal;

namespace FastMap.Native;

// What fastmap.h's inline reads need from the library, fetched once and cached by the header: the table of map
// layouts, the calling thread's epoch slot, the global epoch's address, and a way to run an epoch advance that
// fell due. Internal to the header (double underscore): programs call fm_map_lookup_elem and fm_read_lock.
internal static unsafe partial class Exports
{
    [UnmanagedCallersOnly(EntryPoint = Prefix + "_layouts")]
    private static void* Layouts(uint* version, uint* handles)
    {
        if (version != null)
            *version = InlineLayout.Version;
        if (handles != null)
            *handles = InlineLayout.Handles;
        return InlineLayout.Table;
    }

    [UnmanagedCallersOnly(EntryPoint = Prefix + "_thread")]
    private static void* Thread()
    {
        try
        {
            return Epoch.AttachCurrent();
        }
        catch (Exception e)
        {
            // As fm_read_lock: without a slot the caller has no protection, so stop here, as rcu would BUG().
            Environment.FailFast("fm__thread: could not attach an epoch slot", e);
            return null;
        }
    }

    [UnmanagedCallersOnly(EntryPoint = Prefix + "_epoch")]
    private static long* EpochAddress() => Epoch.GlobalAddress;

    [UnmanagedCallersOnly(EntryPoint = Prefix + "_advance")]
    private static void Advance()
    {
        try
        {
            Epoch.RunDueAdvanceForCurrent();
        }
        catch (Exception)
        {
            // An advance is only ever an optimisation of memory reuse: skipping one is safe.
        }
    }
}
