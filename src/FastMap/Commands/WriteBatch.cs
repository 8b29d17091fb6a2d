using FastMap.Internal;

namespace FastMap;

public sealed unsafe partial class BpfMap
{
    /// <summary>
    /// Elements a write batch processes per read-side section. A batch leaves and re-enters its
    /// section between groups so that the elements it retires (and other threads') can be reused
    /// during a long batch, and runs any epoch advance its retires asked for.
    /// 256 is an estimate, not a measured optimum: a section of 256 ops at S lasts on the order of 10 us (at ~40 ns an
    /// op), short enough not to hold reclamation back, at one Enter/Exit per 256 ops.
    /// </summary>
    private const int BatchSectionOps = 256;

    /// <summary>
    /// <c>BPF_MAP_UPDATE_BATCH</c> (<c>generic_map_update_batch</c>): write permission; elem_flags
    /// only <c>BPF_F_LOCK</c>, and only with a lock (<c>-EINVAL</c>; so <c>BPF_NOEXIST</c> and
    /// <c>BPF_EXIST</c> are refused, as on 6.18); <c>batch.flags</c> is not checked; count 0 does
    /// nothing; then element by element, stopping at the first error with <c>count</c> = elements applied.
    /// </summary>
    internal static MapStatus UpdateBatchCore(BpfMap? map, byte* keys, byte* values, uint* count, ulong elemFlags)
    {
        if (map is null)
            return MapStatus.EBADF;
        if (map.Enter(out Epoch.ThreadSlot t) is var entered && entered != MapStatus.Ok)
            return entered;
        MapStatus ret;
        if (!map._canWrite)
            ret = MapStatus.EPERM;
        else if (!map.BatchElemFlagsValid(elemFlags))
            ret = MapStatus.EINVAL;
        else if (count is null)
            ret = MapStatus.EFAULT;
        else
            ret = map.UpdateMany(t, keys, values, count, elemFlags);
        Epoch.Exit(t);
        return ret;
    }

    /// <summary>
    /// <c>BPF_MAP_DELETE_BATCH</c> (<c>generic_map_delete_batch</c>): write permission; arrays have no
    /// delete batch (<c>ENOTSUPP</c>, 524); elem_flags as for the update batch; then key by key,
    /// stopping at the first error (a missing key is <c>-ENOENT</c>) with <c>count</c> = keys deleted.
    /// </summary>
    internal static MapStatus DeleteBatchCore(BpfMap? map, byte* keys, uint* count, ulong elemFlags)
    {
        if (map is null)
            return MapStatus.EBADF;
        if (map.Enter(out Epoch.ThreadSlot t) is var entered && entered != MapStatus.Ok)
            return entered;
        MapStatus ret;
        if (!map._canWrite)
            ret = MapStatus.EPERM;
        else if (!map._store.DeletesKeys)
            ret = MapStatus.ENOTSUPP;                 // array_map_ops has no map_delete_batch
        else if (!map.BatchElemFlagsValid(elemFlags))
            ret = MapStatus.EINVAL;
        else if (count is null)
            ret = MapStatus.EFAULT;
        else
            ret = map.DeleteMany(t, keys, count);
        Epoch.Exit(t);
        return ret;
    }

    /// <summary>
    /// Batch compare-and-delete (FastMap's; the kernel has none): for each key, the single-element
    /// compare-and-delete, with its result in <c>results[i]</c> (0, <c>-EBUSY</c> or <c>-ENOENT</c>);
    /// those are a collector's expected outcomes, so the batch goes on past them. Argument errors fail
    /// the whole call before anything is deleted, in the single-element order: handle, write
    /// permission (<c>-EPERM</c>), other elem_flags besides <c>BPF_F_COMPARE</c> (<c>-EINVAL</c>), window (<c>-EINVAL</c>), map type and spin-lock value
    /// (<c>-EOPNOTSUPP</c>); then count 0 does nothing, and NULL keys, compares or results are
    /// <c>-EFAULT</c>. <c>count</c> returns the keys processed.
    /// </summary>
    internal static MapStatus DeleteCompareBatchCore(BpfMap? map, byte* keys, byte* compares, uint offset, uint size,
        int* results, uint* count, ulong elemFlags = (ulong)ElemFlags.Compare) =>
        CompareBatchCore(map, keys, null, compares, offset, size, results, count, elemFlags);

    /// <summary>
    /// The two compare batches share their checks, in the order above, and their loop: compare-and-delete, or with
    /// <paramref name="swap"/> compare-and-swap with <paramref name="values"/> (which must then not be NULL).
    /// </summary>
    private static MapStatus CompareBatchCore(BpfMap? map, byte* keys, byte* values, byte* compares, uint offset, uint size,
        int* results, uint* count, ulong elemFlags, bool swap = false)
    {
        if (map is null)
            return MapStatus.EBADF;
        if (map.Enter(out Epoch.ThreadSlot t) is var entered && entered != MapStatus.Ok)
            return entered;
        MapStatus ret;
        if (!map._canWrite)
            ret = MapStatus.EPERM;
        else if (elemFlags != (ulong)ElemFlags.Compare)
            ret = MapStatus.EINVAL;                   // BPF_F_COMPARE goes with no other flag (as in DELETE_ELEM)
        else if ((ret = map.CheckCompareWindow(offset, ref size)) != MapStatus.Ok)
        {
            // window, type or spin-lock value: ret says which
        }
        else if (count is null)
            ret = MapStatus.EFAULT;
        else if (*count == 0)
            ret = MapStatus.Ok;
        else if (keys is null || compares is null || results is null || (swap && values is null))
        {
            *count = 0;
            ret = MapStatus.EFAULT;
        }
        else
            ret = map.CompareMany(t, keys, swap ? values : null, compares, offset, size, results, count);
        Epoch.Exit(t);
        return ret;
    }

    /// <summary>elem_flags of the generic batch commands: nothing but a <c>BPF_F_LOCK</c> the map can honour.</summary>
    private bool BatchElemFlagsValid(ulong elemFlags) =>
        (elemFlags & ~(ulong)ElemFlags.Lock) == 0
        && ((elemFlags & (ulong)ElemFlags.Lock) == 0 || _store.HasSpinLock);

    private MapStatus UpdateMany(Epoch.ThreadSlot t, byte* keys, byte* values, uint* count, ulong elemFlags) =>
        ForEachElement(t, count, keys is null || values is null,
            new UpdateOp { Keys = keys, Values = values, KeySize = Definition.KeySize, ValueSize = _store.ValueSize, Flags = elemFlags });

    private MapStatus DeleteMany(Epoch.ThreadSlot t, byte* keys, uint* count) =>
        ForEachElement(t, count, keys is null, new DeleteOp { Keys = keys, KeySize = Definition.KeySize });

    /// <summary>One element of a generic write batch (a struct, so the loop is specialised, not dispatched).</summary>
    private interface IElementOp
    {
        MapStatus Apply(BpfMap map, uint i);
    }

    private struct UpdateOp : IElementOp
    {
        public byte* Keys, Values;
        public uint KeySize, ValueSize;
        public ulong Flags;

        public readonly MapStatus Apply(BpfMap map, uint i) =>
            map._store.Update(Keys + (nuint)i * KeySize, Values + (nuint)i * ValueSize, Flags);
    }

    private struct DeleteOp : IElementOp
    {
        public byte* Keys;
        public uint KeySize;

        public readonly MapStatus Apply(BpfMap map, uint i) => map._store.Delete(Keys + (nuint)i * KeySize);
    }

    /// <summary>
    /// The kernel's generic batch loop: count 0 does nothing; count is set to 0, then element by
    /// element (a missing input array is the kernel's failed copy_from_user, <c>-EFAULT</c>), stopping
    /// at the first error with <c>count</c> = elements done. Leaves and re-enters the section every
    /// <see cref="BatchSectionOps"/> elements; a close meanwhile stops it with <c>-EBADF</c>.
    /// </summary>
    private MapStatus ForEachElement<TOp>(Epoch.ThreadSlot t, uint* count, bool missingInput, TOp op) where TOp : struct, IElementOp
    {
        uint max = *count;
        if (max == 0)
            return MapStatus.Ok;
        *count = 0;
        MapStatus err = MapStatus.Ok;
        uint cp = 0;
        for (; cp < max; cp++)
        {
            if (missingInput)
            {
                err = MapStatus.EFAULT;
                break;
            }
            if (cp % BatchSectionOps == BatchSectionOps - 1 && !Resection(t))
            {
                err = MapStatus.EBADF;
                break;
            }
            err = op.Apply(this, cp);
            if (err != MapStatus.Ok)
                break;
        }
        *count = cp;
        return err;
    }

    /// <summary>
    /// The compare batches' loop, one group of <see cref="BatchSectionOps"/> keys a read-side section: the store's
    /// pipelined compare-and-delete (it overlaps the cache misses of independent keys), or, with
    /// <paramref name="values"/>, its compare-and-swap.
    /// </summary>
    private MapStatus CompareMany(Epoch.ThreadSlot t, byte* keys, byte* values, byte* compares, uint offset, uint size,
        int* results, uint* count)
    {
        uint max = *count;
        *count = 0;
        uint ks = Definition.KeySize, vs = _store.ValueSize;
        for (uint done = 0; done < max;)
        {
            if (done > 0 && !Resection(t))
            {
                *count = done;
                return MapStatus.EBADF;
            }
            uint n = Math.Min(BatchSectionOps, max - done);
            byte* k = keys + (nuint)done * ks, c = compares + (nuint)done * size;
            if (values is null)
                _store.CompareAndDeleteMany(k, c, offset, size, results + done, n);
            else
                _store.CompareAndUpdateMany(k, values + (nuint)done * vs, vs, c, offset, size, results + done, n);
            done += n;
        }
        *count = max;
        return MapStatus.Ok;
    }
}
