using FastMap.Internal;

namespace FastMap;

public sealed unsafe partial class BpfMap
{
    /// <summary>
    /// The RFC's compare-and-delete after the handle, permission and key steps: window
    /// (<c>-EINVAL</c>, overflow-safe; size 0 means the whole value), map type (<c>-EOPNOTSUPP</c>),
    /// spin-lock value (<c>-EOPNOTSUPP</c>), compare pointer (<c>-EFAULT</c>); then the store: absent is
    /// <c>-ENOENT</c>, a mismatch <c>-EBUSY</c>, a match unlinks, atomically against every writer.
    /// </summary>
    private MapStatus DeleteCompareChecked(byte* key, byte* compare, uint offset, uint size)
    {
        MapStatus st = CheckCompareWindow(offset, ref size);
        if (st != MapStatus.Ok)
            return st;
        if (compare is null)
            return MapStatus.EFAULT;
        // CheckCompareWindow let only stores that compare through, and those are hash stores: a direct call.
        return _hash is { } hash ? hash.CompareAndDelete(key, compare, offset, size) : _store.CompareAndDelete(key, compare, offset, size);
    }

    /// <summary>
    /// The compare arguments' checks, shared with the batch: window (<c>-EINVAL</c>, overflow-safe;
    /// size 0 becomes the whole value), map type and spin-lock value (<c>-EOPNOTSUPP</c>).
    /// </summary>
    private MapStatus CheckCompareWindow(uint offset, ref uint size)
    {
        uint valueSize = Definition.ValueSize;
        size = size != 0 ? size : valueSize;
        if (size > valueSize || offset > valueSize - size)
            return MapStatus.EINVAL;
        if (!_store.ComparesValues)
            return MapStatus.EOPNOTSUPP;              // only htab_map_ops has map_delete_elem_cmp
        if (_store.HasSpinLock)
            return MapStatus.EOPNOTSUPP;              // map->record: raw bytes would never match
        return MapStatus.Ok;
    }
}
