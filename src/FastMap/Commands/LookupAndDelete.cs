using FastMap.Internal;

namespace FastMap;

public sealed unsafe partial class BpfMap
{
    /// <summary>
    /// <c>BPF_MAP_LOOKUP_AND_DELETE_ELEM</c>: flags (before the handle), handle, read and write
    /// permission, <c>BPF_F_LOCK</c> without a lock, key pointer, map type (arrays: the kernel's
    /// internal <c>ENOTSUPP</c>, 524), value pointer, then copy out and unlink under the stripe lock.
    /// </summary>
    /// <remarks>One deliberate difference: a NULL value pointer is refused before anything is deleted
    /// (the kernel deletes, then fails the copy with <c>-EFAULT</c>); a bad argument never loses data.</remarks>
    internal static MapStatus LookupAndDeleteCore(BpfMap? map, byte* key, byte* value, ulong flags)
    {
        if ((flags & ~(ulong)ElemFlags.Lock) != 0)
            return MapStatus.EINVAL;
        if (map is null || !map.EnterOpen())
            return MapStatus.EBADF;
        MapStatus ret;
        Table t = map._table;
        if (!map.CanRead || !map.CanWrite)
            ret = MapStatus.EPERM;
        else if ((flags & (ulong)ElemFlags.Lock) != 0 && t.SpinLockOffset < 0)
            ret = MapStatus.EINVAL;
        else if (key is null)
            ret = MapStatus.EFAULT;
        else if (t.IsArray)
            ret = MapStatus.ENOTSUPP;
        else if (value is null)
            ret = MapStatus.EFAULT;
        else
        {
            uint tag = t.Tag(key);
            uint removed = ElementPool.None;
            t.LockStripe(tag);
            byte* e = t.Find(key, tag, out uint slot);
            if (e is not null)
            {
                t.CopyOut(t.ValueOf(e), value, (flags & (ulong)ElemFlags.Lock) != 0);
                removed = t.Remove(slot, t.Pool.CurrentShard());
            }
            t.UnlockStripe(tag);
            ret = removed == ElementPool.None ? MapStatus.ENOENT : MapStatus.Ok;
        }
        map.Leave();
        return ret;
    }
}
