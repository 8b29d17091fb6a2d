using FastMap.Internal;

namespace FastMap;

public sealed unsafe partial class BpfMap
{
    /// <summary>
    /// <c>BPF_MAP_LOOKUP_BATCH</c> and <c>BPF_MAP_LOOKUP_AND_DELETE_BATCH</c> after the dispatcher's
    /// handle step, in the kernel's order: read (and, to delete, write) permission (<c>-EPERM</c>);
    /// a map type without deletes has no lookup-and-delete batch (<c>ENOTSUPP</c>, 524); elem_flags other
    /// than a valid <c>BPF_F_LOCK</c> (<c>-EINVAL</c>); then the map type's walk (hash: buckets, see
    /// <c>HashStore.Scan.cs</c>; array: the kernel's generic get-next-key walk). <paramref name="count"/>
    /// is in-out, as <c>attr->batch.count</c>. The whole call runs in one read-side section.
    /// </summary>
    internal static MapStatus LookupBatchCore(BpfMap? map, bool delete, byte* inBatch, byte* outBatch,
        byte* keys, byte* values, uint* count, ulong elemFlags, ulong flags)
    {
        if (map is null)
            return MapStatus.EBADF;
        if (map.EnterReader(out Epoch.ThreadSlot t) is var entered && entered != MapStatus.Ok)
            return entered;
        MapStatus ret;
        MapStore s = map._store;
        if (!map._canRead || (delete && !map._canWrite))
            ret = MapStatus.EPERM;
        else if (delete && !s.DeletesKeys)
            ret = MapStatus.ENOTSUPP;                 // array_map_ops has no lookup_and_delete_batch
        else if (!map.BatchElemFlagsValid(elemFlags))
            ret = MapStatus.EINVAL;
        else if (count is null)
            ret = MapStatus.EFAULT;                   // the C ABI's count pointer (inline in the attr)
        else
            ret = s.LookupBatch(delete, inBatch, outBatch, keys, values, count, elemFlags != 0, flags);
        Epoch.Exit(t);
        return ret;
    }
}
