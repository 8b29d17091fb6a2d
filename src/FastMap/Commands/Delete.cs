using FastMap.Internal;

namespace FastMap;

public sealed unsafe partial class BpfMap
{
    /// <summary>
    /// <c>BPF_MAP_DELETE_ELEM</c> with the RFC's rules and order: flags other than
    /// <c>BPF_F_COMPARE</c>, and compare fields without it, are <c>-EINVAL</c> before the handle; then
    /// handle, write permission, key pointer; then, with the flag, <see cref="DeleteCompareChecked"/>.
    /// </summary>
    internal static MapStatus DeleteCore(BpfMap? map, byte* key, ulong flags, byte* compare, uint offset, uint size)
    {
        if ((flags & ~(ulong)ElemFlags.Compare) != 0)
            return MapStatus.EINVAL;
        bool cmp = (flags & (ulong)ElemFlags.Compare) != 0;
        // A dropped flag must not turn a compare-and-delete into a plain delete (RFC).
        if (!cmp && (compare is not null || offset != 0 || size != 0))
            return MapStatus.EINVAL;
        if (map is null || !map.EnterOpen())
            return MapStatus.EBADF;
        MapStatus ret;
        if (!map.CanWrite)
            ret = MapStatus.EPERM;
        else if (key is null)
            ret = MapStatus.EFAULT;
        else if (cmp)
            ret = map.DeleteCompareChecked(key, compare, offset, size);
        else if (map._table.IsArray)
            ret = MapStatus.EINVAL;                   // array_map_delete_elem
        else
            ret = map.DeleteHash(key);
        map.Leave();
        return ret;
    }

    private MapStatus DeleteHash(byte* key)
    {
        Table t = _table;
        uint tag = t.Tag(key);
        uint removed = ElementPool.None;
        t.LockStripe(tag);
        if (t.Find(key, tag, out uint slot) is not null)
            removed = t.Remove(slot, t.Pool.CurrentShard());
        t.UnlockStripe(tag);
        // Table.Remove gave the token back and retired the element: reused after a grace period.
        return removed == ElementPool.None ? MapStatus.ENOENT : MapStatus.Ok;
    }
}
