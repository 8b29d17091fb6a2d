using FastMap.Internal;

namespace FastMap;

public sealed unsafe partial class BpfMap
{
    /// <summary>
    /// <c>BPF_MAP_GET_NEXT_KEY</c>: handle, read permission, then the map type's walk: a NULL or absent
    /// key gives the first key, a present key the next one, the end <c>-ENOENT</c>; a NULL output
    /// pointer is <c>-EFAULT</c>, checked last as the kernel copies out last.
    /// </summary>
    internal static MapStatus GetNextKeyCore(BpfMap? map, byte* key, byte* nextKey)
    {
        if (map is null)
            return MapStatus.EBADF;
        if (map.EnterReader(out Epoch.ThreadSlot t) is var entered && entered != MapStatus.Ok)
            return entered;
        MapStatus ret = map._canRead ? map._store.GetNextKey(key, nextKey) : MapStatus.EPERM;
        Epoch.Exit(t);
        return ret;
    }
}
