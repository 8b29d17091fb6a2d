using FastMap.Internal;

namespace FastMap;

public sealed unsafe partial class BpfMap
{
    /// <summary>
    /// <c>BPF_MAP_LOOKUP_AND_DELETE_ELEM</c>: flags (before the handle), handle, read and write
    /// permission, <c>BPF_F_LOCK</c> without a lock, key pointer, map type (arrays: the kernel's
    /// internal <c>ENOTSUPP</c>, 524), value pointer, then copy out and unlink under the key's lock.
    /// </summary>
    /// <remarks>One deliberate difference: a NULL value pointer is refused before anything is deleted
    /// (the kernel deletes, then fails the copy with <c>-EFAULT</c>); a bad argument never loses data.</remarks>
    internal static MapStatus LookupAndDeleteCore(BpfMap? map, byte* key, byte* value, ulong flags)
    {
        if ((flags & ~(ulong)ElemFlags.Lock) != 0)
            return MapStatus.EINVAL;
        if (map is null)
            return MapStatus.EBADF;
        if (map.Enter(out Epoch.ThreadSlot t) is var entered && entered != MapStatus.Ok)
            return entered;
        MapStatus ret;
        MapStore s = map._store;
        bool locked = flags != 0;
        if (!map._canRead || !map._canWrite)
            ret = MapStatus.EPERM;
        else if (locked && !s.HasSpinLock)
            ret = MapStatus.EINVAL;
        else if (key is null)
            ret = MapStatus.EFAULT;
        else if (!s.DeletesKeys)
            ret = MapStatus.ENOTSUPP;
        else if (value is null)
            ret = MapStatus.EFAULT;
        else
            ret = s.LookupAndDelete(key, value, locked);
        Epoch.Exit(t);
        return ret;
    }
}
