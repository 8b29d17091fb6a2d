using FastMap.Internal;

namespace FastMap;

public sealed unsafe partial class BpfMap
{
    /// <summary>
    /// FastMap's compare-and-swap update (<c>BPF_MAP_UPDATE_ELEM</c> with <c>BPF_F_COMPARE</c>; an extension beyond
    /// the RFC, which defers it). The update's own checks in the 6.18 order (handle, write permission,
    /// <c>BPF_F_LOCK</c> without a lock, key and value pointers, flags past <c>BPF_EXIST</c>), then the compare's:
    /// <c>BPF_NOEXIST</c> (a compare needs a value) and <c>BPF_F_LOCK</c> (a compare reads raw bytes; only maps
    /// without a spin lock compare) are <c>-EINVAL</c>; then the window (<c>-EINVAL</c>), the map type and a
    /// spin-lock value (<c>-EOPNOTSUPP</c>) as for compare-and-delete; a NULL compare is <c>-EFAULT</c>. Then the
    /// store: absent <c>-ENOENT</c>, a mismatch <c>-EBUSY</c> with nothing written, else the value is replaced,
    /// the compare and the write one step against every writer. <c>BPF_ANY</c> and <c>BPF_EXIST</c> act alike.
    /// </summary>
    internal static MapStatus UpdateCompareCore(BpfMap? map, byte* key, byte* value, ulong flags, byte* compare, uint offset, uint size)
    {
        if (map is null)
            return MapStatus.EBADF;
        if (map._hash is { } fast && map._comparable && map._canWrite && key is not null && value is not null && compare is not null
            && CheckCompareUpdateFlags(flags) == MapStatus.Ok && map.WindowFits(offset, ref size))
            return map.CompareOutsideSection(fast, key, value, compare, offset, size); // every check passed: as below
        if (map.Enter(out Epoch.ThreadSlot t) is var entered && entered != MapStatus.Ok)
            return entered;
        MapStatus ret;
        if (!map._canWrite)
            ret = MapStatus.EPERM;
        else if ((flags & (ulong)ElemFlags.Lock) != 0 && !map._store.HasSpinLock)
            ret = MapStatus.EINVAL;
        else if (key is null || value is null)
            ret = MapStatus.EFAULT;
        else if ((ret = CheckCompareUpdateFlags(flags)) != MapStatus.Ok
            || (ret = map.CheckCompareWindow(offset, ref size)) != MapStatus.Ok)
        {
            // flags, window, type or spin-lock value: ret says which
        }
        else if (compare is null)
            ret = MapStatus.EFAULT;
        else if (map._hash is { } hash)
            ret = hash.CompareAndUpdate(key, value, compare, offset, size); // direct, as in UpdateCore
        else
            ret = map._store.CompareAndUpdate(key, value, compare, offset, size);
        Epoch.Exit(t);
        return ret;
    }

    /// <summary>Flags of a compare-and-swap update: <c>BPF_F_COMPARE</c> with <c>BPF_ANY</c> or <c>BPF_EXIST</c>.</summary>
    private static MapStatus CheckCompareUpdateFlags(ulong flags)
    {
        ulong rest = flags & ~(ulong)(ElemFlags.Lock | ElemFlags.Compare);
        if (rest > (ulong)ElemFlags.Exist)
            return MapStatus.EINVAL;                  // as update: unknown flags, or NOEXIST|EXIST
        if (rest == (ulong)ElemFlags.NoExist || (flags & (ulong)ElemFlags.Lock) != 0)
            return MapStatus.EINVAL;                  // nothing to compare against; raw bytes under a spin lock
        return MapStatus.Ok;
    }

    /// <summary>
    /// Batch compare-and-swap update (FastMap's): for each key, the single-element compare-and-swap with its value
    /// and window, its result in <c>results[i]</c> (0, <c>-EBUSY</c> or <c>-ENOENT</c>), going on past them, as the
    /// batch compare-and-delete does and in its order: handle, write permission, elem_flags other than
    /// <c>BPF_F_COMPARE</c> (<c>-EINVAL</c>), window (<c>-EINVAL</c>), map type and spin-lock value (<c>-EOPNOTSUPP</c>);
    /// then count 0 does nothing, and NULL keys, values, compares or results are <c>-EFAULT</c>. <c>count</c>
    /// returns the keys processed.
    /// </summary>
    internal static MapStatus UpdateCompareBatchCore(BpfMap? map, byte* keys, byte* values, byte* compares, uint offset, uint size,
        int* results, uint* count, ulong elemFlags = (ulong)ElemFlags.Compare) =>
        CompareBatchCore(map, keys, values, compares, offset, size, results, count, elemFlags, swap: true);
}
