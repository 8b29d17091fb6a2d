using FastMap.Internal;

namespace FastMap;

public sealed unsafe partial class BpfMap
{
    /// <summary>
    /// <c>BPF_MAP_LOOKUP_ELEM</c> at pointer level, in the 6.18 check order: flags (before the handle),
    /// handle, read permission, <c>BPF_F_LOCK</c> without a lock, key pointer, absent key, value pointer.
    /// </summary>
    internal static MapStatus LookupCore(BpfMap? map, byte* key, byte* value, ulong flags)
    {
        if ((flags & ~(ulong)ElemFlags.Lock) != 0)
            return MapStatus.EINVAL;
        if (map is null || !map.EnterOpen())
            return MapStatus.EBADF;
        MapStatus ret;
        Table t = map._table;
        if (!map.CanRead)
            ret = MapStatus.EPERM;
        else if ((flags & (ulong)ElemFlags.Lock) != 0 && t.SpinLockOffset < 0)
            ret = MapStatus.EINVAL;
        else if (key is null)
            ret = MapStatus.EFAULT;
        else
        {
            byte* e = map.FindElement(key);
            if (e is null)
                ret = MapStatus.ENOENT;
            else if (value is null)
                ret = MapStatus.EFAULT;   // the kernel copies out last
            else
            {
                t.CopyOut(t.ValueOf(e), value, (flags & (ulong)ElemFlags.Lock) != 0);
                ret = MapStatus.Ok;
            }
        }
        map.Leave();
        return ret;
    }

    /// <summary>The element of a key, or null. Caller is in a section.</summary>
    private byte* FindElement(byte* key)
    {
        Table t = _table;
        if (t.IsArray)
        {
            uint index = *(uint*)key;
            return index < Definition.MaxEntries ? t.ArrayElement(index) : null;
        }
        return t.Find(key, t.Tag(key), out _);
    }

    /// <summary>
    /// In-place lookup for the datapath: the address of the stored value, or null if absent (or the
    /// handle cannot read). The caller must be inside a read-side section; the address stays valid
    /// until the section ends, and is 8-byte aligned.
    /// </summary>
    internal byte* LookupPointer(byte* key)
    {
        if (key is null || !EnterOpen())
            return null;
        byte* e = CanRead ? FindElement(key) : null;
        Epoch.Exit(); // the caller's own, outer section keeps the element alive
        return e is null ? null : _table.ValueOf(e);
    }
}
