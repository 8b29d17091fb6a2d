using FastMap.Internal;

namespace FastMap;

public sealed unsafe partial class BpfMap
{
    /// <summary>
    /// <c>BPF_MAP_UPDATE_ELEM</c> at pointer level, in the 6.18 order: handle, write permission,
    /// <c>BPF_F_LOCK</c> without a lock, key and value pointers, flags; then the store decides under its
    /// lock (<c>-EEXIST</c>/<c>-ENOENT</c> before <c>-E2BIG</c>). <c>BPF_F_COMPARE</c> is <c>-EINVAL</c> here, as the
    /// kernel's update answers: the compare-and-swap takes its own entry (<see cref="UpdateCompareCore"/>).
    /// </summary>
    internal static MapStatus UpdateCore(BpfMap? map, byte* key, byte* value, ulong flags)
    {
        if (map is null)
            return MapStatus.EBADF;
        if (map.Enter(out Epoch.ThreadSlot t) is var entered && entered != MapStatus.Ok)
            return entered;
        MapStatus ret;
        if (!map._canWrite)
            ret = MapStatus.EPERM;
        else if ((flags & (ulong)ElemFlags.Lock) != 0 && !map._store.HasSpinLock)
            ret = MapStatus.EINVAL;
        else if (key is null || value is null)
            ret = MapStatus.EFAULT;
        else if ((flags & ~(ulong)ElemFlags.Lock) > (ulong)ElemFlags.Exist)
            ret = MapStatus.EINVAL;
        else if (map._hash is { } hash)
            ret = hash.Update(key, value, flags);     // a direct call: NativeAOT cannot devirtualize _store (no PGO)
        else
            ret = map._store.Update(key, value, flags);
        Epoch.Exit(t);
        return ret;
    }
}
