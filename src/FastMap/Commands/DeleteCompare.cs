using FastMap.Internal;

namespace FastMap;

public sealed unsafe partial class BpfMap
{
    /// <summary>
    /// The RFC's compare-and-delete after the handle, permission and key steps: window
    /// (<c>-EINVAL</c>, overflow-safe; size 0 means the whole value), map type (<c>-EOPNOTSUPP</c>),
    /// spin-lock value (<c>-EOPNOTSUPP</c>), compare pointer (<c>-EFAULT</c>); then under the stripe
    /// lock absent is <c>-ENOENT</c>, a mismatch <c>-EBUSY</c>, and a match unlinks.
    /// </summary>
    private MapStatus DeleteCompareChecked(byte* key, byte* compare, uint offset, uint size)
    {
        MapStatus st = CheckCompareWindow(offset, ref size);
        if (st != MapStatus.Ok)
            return st;
        if (compare is null)
            return MapStatus.EFAULT;
        return CompareAndUnlink(key, _table.Tag(key), compare, offset, size);
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
        if (Definition.Type != MapType.Hash)
            return MapStatus.EOPNOTSUPP;              // only htab_map_ops has map_delete_elem_cmp
        if (_table.SpinLockOffset >= 0)
            return MapStatus.EOPNOTSUPP;              // map->record: raw bytes would never match
        return MapStatus.Ok;
    }

    /// <summary>The locked step of compare-and-delete, after every check; the caller is in a section.</summary>
    private MapStatus CompareAndUnlink(byte* key, uint tag, byte* compare, uint offset, uint size)
    {
        Table t = _table;
        MapStatus ret;
        t.LockStripe(tag);
        byte* e = t.Find(key, tag, out uint slot);
        if (e is null)
            ret = MapStatus.ENOENT;
        // The compare reads under the stripe lock: atomic against every other writer of this key.
        // A datapath store through an in-place reference is not excluded (nor is it in the kernel):
        // compare a word written with one aligned store, such as a revision.
        else if (!WindowCompare.Equal(ref *(t.ValueOf(e) + offset), ref *compare, size))
            ret = MapStatus.EBUSY;
        else
        {
            t.Remove(slot, t.Pool.CurrentShard());
            ret = MapStatus.Ok;
        }
        t.UnlockStripe(tag);
        return ret;
    }
}
