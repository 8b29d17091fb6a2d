using System.Runtime.CompilerServices;
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
    /// A compare (delete when <paramref name="value"/> is null, else swap) whose every argument check has passed, on a
    /// hash store that compares. Its no-write answers (<c>-ENOENT</c>, <c>-EBUSY</c>) come from a validated unlocked
    /// compare outside any read-side section, as a copying lookup runs (HashStore remarks, 4): the closed flag is
    /// read before and again after it, so one that raced the map's close answers <c>-EBADF</c>. Only a match enters
    /// a section, for the locked half, which decides again. A collector's stale revisions cost no section.
    /// </summary>
    private MapStatus CompareOutsideSection(HashStore hash, byte* key, byte* value, byte* compare, uint offset, uint size)
    {
        if (Volatile.Read(ref _closed) != 0)
            return MapStatus.EBADF;
        MapStatus st = hash.PeekCompare(key, compare, offset, size, out HashStore.Seen seen);
        Volatile.ReadBarrier();                       // the compare's loads complete before the flag is read again
        if (Volatile.Read(ref _closed) != 0)
            return MapStatus.EBADF;
        if (st != MapStatus.Ok)
            return st;
        if (Enter(out Epoch.ThreadSlot t) is var entered && entered != MapStatus.Ok)
            return entered;
        st = value is null
            ? hash.CompareAndDeleteSeen(key, compare, offset, size, in seen)
            : hash.CompareAndUpdateSeen(key, value, compare, offset, size, in seen);
        Epoch.Exit(t);
        return st;
    }

    /// <summary>True when the window lies inside the value (size 0 becomes the whole value): the first compare check.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool WindowFits(uint offset, ref uint size)
    {
        uint valueSize = Definition.ValueSize;
        size = size != 0 ? size : valueSize;
        return size <= valueSize && offset <= valueSize - size;
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
        if (_comparable)
            return MapStatus.Ok;                      // the common case, decided at create
        if (!_store.ComparesValues)
            return MapStatus.EOPNOTSUPP;              // only htab_map_ops has map_delete_elem_cmp
        if (_store.HasSpinLock)
            return MapStatus.EOPNOTSUPP;              // map->record: raw bytes would never match
        return MapStatus.Ok;
    }
}
