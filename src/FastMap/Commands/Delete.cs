using FastMap.Internal;

namespace FastMap;

public sealed unsafe partial class BpfMap
{
    /// <summary>
    /// <c>BPF_MAP_DELETE_ELEM</c> with the RFC's rules and order: flags other than
    /// <c>BPF_F_COMPARE</c>, and compare fields without it, are <c>-EINVAL</c> before the handle; then
    /// handle, write permission, key pointer; then, with the flag, <see cref="DeleteCompareChecked"/>,
    /// else the store's delete (arrays: <c>-EINVAL</c>, as <c>array_map_delete_elem</c>).
    /// </summary>
    internal static MapStatus DeleteCore(BpfMap? map, byte* key, ulong flags, byte* compare, uint offset, uint size)
    {
        if ((flags & ~(ulong)ElemFlags.Compare) != 0)
            return MapStatus.EINVAL;
        bool cmp = (flags & (ulong)ElemFlags.Compare) != 0;
        // A dropped flag must not turn a compare-and-delete into a plain delete (RFC).
        if (!cmp && (compare is not null || offset != 0 || size != 0))
            return MapStatus.EINVAL;
        if (map is null)
            return MapStatus.EBADF;
        if (cmp && map._hash is { } fast && map._comparable && map._canWrite && key is not null && compare is not null
            && map.WindowFits(offset, ref size))
            return map.CompareOutsideSection(fast, key, null, compare, offset, size);
        if (map.Enter(out Epoch.ThreadSlot t) is var entered && entered != MapStatus.Ok)
            return entered;
        MapStatus ret;
        if (!map._canWrite)
            ret = MapStatus.EPERM;
        else if (key is null)
            ret = MapStatus.EFAULT;
        else if (cmp)
            ret = map.DeleteCompareChecked(key, compare, offset, size);
        else if (map._hash is { } hash)
            ret = hash.Delete(key);                   // direct, as in UpdateCore
        else
            ret = map._store.Delete(key);
        Epoch.Exit(t);
        return ret;
    }
}
