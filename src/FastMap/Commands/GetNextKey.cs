using FastMap.Internal;

namespace FastMap;

public sealed unsafe partial class BpfMap
{
    /// <summary>
    /// <c>BPF_MAP_GET_NEXT_KEY</c>: handle, read permission, then the kernel's semantics: a NULL or
    /// absent key gives the first key, a present key the next one in slot order, the end
    /// <c>-ENOENT</c>; a NULL output pointer is <c>-EFAULT</c>, checked last as the kernel copies out last.
    /// </summary>
    internal static MapStatus GetNextKeyCore(BpfMap? map, byte* key, byte* nextKey)
    {
        if (map is null || !map.EnterOpen())
            return MapStatus.EBADF;
        MapStatus ret;
        if (!map.CanRead)
            ret = MapStatus.EPERM;
        else if (map._table.IsArray)
        {
            // array_map_get_next_key: NULL or out of range gives 0; the last index ends.
            uint max = map.Definition.MaxEntries;
            uint index = key is null ? uint.MaxValue : *(uint*)key;
            uint next = index >= max ? 0 : index + 1;
            ret = index != uint.MaxValue && index == max - 1 ? MapStatus.ENOENT
                : nextKey is null ? MapStatus.EFAULT : MapStatus.Ok;
            if (ret == MapStatus.Ok)
                *(uint*)nextKey = next;
        }
        else
        {
            Table t = map._table;
            uint from = uint.MaxValue;
            if (key is not null)
                t.Find(key, t.Tag(key), out from);   // absent: from stays MaxValue, the first key
            byte* e = t.NextLive(from, out _);
            ret = e is null ? MapStatus.ENOENT : nextKey is null ? MapStatus.EFAULT : MapStatus.Ok;
            if (ret == MapStatus.Ok)
                Buffer.MemoryCopy(e, nextKey, map.KeySize, map.KeySize);
        }
        map.Leave();
        return ret;
    }
}
