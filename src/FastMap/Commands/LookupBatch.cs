using FastMap.Internal;

namespace FastMap;

public sealed unsafe partial class BpfMap
{
    /// <summary>
    /// <c>BPF_MAP_LOOKUP_BATCH</c> and <c>BPF_MAP_LOOKUP_AND_DELETE_BATCH</c> after the dispatcher's
    /// handle step, in the kernel's order: read (and, to delete, write) permission (<c>-EPERM</c>);
    /// arrays have no lookup-and-delete batch (<c>ENOTSUPP</c>, 524); elem_flags other than a valid
    /// <c>BPF_F_LOCK</c> (<c>-EINVAL</c>); then the hash walk (<see cref="HashBatch"/>) or, for arrays,
    /// the kernel's generic get-next-key walk (<see cref="ArrayBatch"/>). <paramref name="count"/> is
    /// in-out, as <c>attr->batch.count</c>.
    /// </summary>
    internal static MapStatus LookupBatchCore(BpfMap? map, bool delete, byte* inBatch, byte* outBatch,
        byte* keys, byte* values, uint* count, ulong elemFlags, ulong flags)
    {
        if (map is null || !map.EnterOpen())
            return MapStatus.EBADF;
        MapStatus ret;
        Table t = map._table;
        if (!map.CanRead || (delete && !map.CanWrite))
            ret = MapStatus.EPERM;
        else if (delete && t.IsArray)
            ret = MapStatus.ENOTSUPP;                 // array_map_ops has no lookup_and_delete_batch
        else if ((elemFlags & ~(ulong)ElemFlags.Lock) != 0
                 || ((elemFlags & (ulong)ElemFlags.Lock) != 0 && t.SpinLockOffset < 0))
            ret = MapStatus.EINVAL;
        else if (count is null)
            ret = MapStatus.EFAULT;                   // the C ABI's count pointer (inline in the attr)
        else if (t.IsArray)
            ret = map.ArrayBatch(inBatch, outBatch, keys, values, count, elemFlags);
        else if (flags != 0)
            ret = MapStatus.EINVAL;                   // the hash walk checks batch.flags; the generic one does not
        else
            ret = map.HashBatch(delete, inBatch, outBatch, keys, values, count, elemFlags);
        map.Leave();
        return ret;
    }

    /// <summary>A thread's scan scratch (16 bytes a hit), kept between calls up to this many hits.</summary>
    private const int MaxCachedHits = 1 << 16;

    [ThreadStatic] private static Table.ScanHit[]? t_hits;

    /// <summary>
    /// The kernel's <c>__htab_map_lookup_and_delete_batch</c>: the cursor is a u32 bucket index
    /// (NULL: 0); whole buckets are returned; a bucket that does not fit ends the call, with
    /// <c>-ENOSPC</c> if nothing was copied; past the last bucket <c>-ENOENT</c> comes with the last
    /// entries. Buckets are home slots (<see cref="Table.CollectBuckets"/>), so a full scan returns
    /// every key present throughout exactly once, even across rebuilds.
    /// </summary>
    /// <remarks>
    /// Deliberate differences, both to lose nothing on a bad argument: a NULL <c>out_batch</c> is
    /// <c>-EFAULT</c> before the walk, not after it (the kernel has deleted and copied by then; the
    /// errno is the same in every case), and NULL keys or values are <c>-EFAULT</c> before the first
    /// bucket that would be copied is deleted. The whole call runs in one read-side section: the
    /// scan's slot words name elements that must not be reused before they are copied.
    /// </remarks>
    private MapStatus HashBatch(bool delete, byte* inBatch, byte* outBatch, byte* keys, byte* values, uint* count, ulong elemFlags)
    {
        uint max = *count;
        if (max == 0)
            return MapStatus.Ok;
        *count = 0;
        Table t = _table;
        uint from = inBatch is null ? 0 : *(uint*)inBatch;
        if (from >= t.BucketCount)
            return MapStatus.ENOENT;                  // out_batch is not written
        if (outBatch is null)
            return MapStatus.EFAULT;

        Table.ScanHit[] hits = t_hits ??= new Table.ScanHit[64];
        int n = t.CollectBuckets(from, max, ref hits, out uint next, out nint array);
        if (hits.Length <= MaxCachedHits)
            t_hits = hits;                            // grows once per thread; a huge batch's scratch is not kept
        MapStatus ret = next >= t.BucketCount ? MapStatus.ENOENT : n == 0 ? MapStatus.ENOSPC : MapStatus.Ok;
        if (n > 0 && (keys is null || values is null))
            return MapStatus.EFAULT;                  // count stays 0, as the kernel leaves it

        bool locked = (elemFlags & (ulong)ElemFlags.Lock) != 0;
        uint ks = Definition.KeySize, vs = t.ValueSize;
        int shard = t.Pool.CurrentShard();
        uint copied = 0;
        // Elements are scattered: overlap their misses. Measured (S, 2-core VM): 4 ahead 53 ns an
        // entry, 8 ahead 43, 16 ahead 38, 32 ahead 35, 64 ahead 47 (noisy; a miss here costs
        // hundreds of ns, so the scan is bound by misses in flight, not instructions).
        const int Ahead = 16;
        for (int i = 0; i < n && i < Ahead; i++)
            t.PrefetchWord(hits[i].Word);
        for (int i = 0; i < n; i++)
        {
            if (i + Ahead < n)
                t.PrefetchWord(hits[i + Ahead].Word);
            ref Table.ScanHit h = ref hits[i];
            byte* dstKey = keys + (nuint)copied * ks;
            byte* dstValue = values + (nuint)copied * vs;
            if (!delete)
            {
                byte* e = t.ElementOf(h.Word);
                Table.CopyValue(e, dstKey, ks);
                t.CopyOut(t.ValueOf(e), dstValue, locked);
                copied++;
                continue;
            }
            uint tag = Table.TagOfWord(h.Word);
            uint removed = ElementPool.None;
            t.LockStripe(tag);
            uint slot = t.Relocate(array, h.Slot, h.Word, tag);
            if (slot != uint.MaxValue)
            {
                byte* e = t.ElementAt(slot);
                Table.CopyValue(e, dstKey, ks);
                t.CopyOut(t.ValueOf(e), dstValue, locked);
                removed = t.Remove(slot, shard);
            }
            t.UnlockStripe(tag);
            if (removed != ElementPool.None)
                copied++;                             // else deleted by another writer since the scan
        }
        *count = copied;
        *(uint*)outBatch = next;
        return ret;
    }

    /// <summary>
    /// The kernel's <c>generic_map_lookup_batch</c> on an array: the cursor is the last key returned
    /// (a u32 index; NULL starts before 0, an index past the end restarts at 0, as get-next-key does),
    /// entries are copied until <c>count</c> or the end (<c>-ENOENT</c>); <c>out_batch</c> is written
    /// only if something was copied. <c>batch.flags</c> is not checked (as the generic walk does not).
    /// NULL keys or values are <c>-EFAULT</c> before the first copy (the kernel has copied the first
    /// key by then; the errno and count are the same).
    /// </summary>
    private MapStatus ArrayBatch(byte* inBatch, byte* outBatch, byte* keys, byte* values, uint* count, ulong elemFlags)
    {
        uint max = *count;
        if (max == 0)
            return MapStatus.Ok;
        *count = 0;
        Table t = _table;
        uint entries = Definition.MaxEntries;
        bool started = inBatch is not null;
        uint prev = started ? *(uint*)inBatch : 0;
        uint vs = t.ValueSize;
        uint cp = 0;
        MapStatus ret = MapStatus.Ok;
        while (cp < max)
        {
            // array_map_get_next_key: none or out of range gives 0; the last index ends the walk.
            if (started && prev == entries - 1)
            {
                ret = MapStatus.ENOENT;
                break;
            }
            uint index = !started || prev >= entries ? 0 : prev + 1;
            if (keys is null || values is null)
                return MapStatus.EFAULT;
            ((uint*)keys)[cp] = index;
            t.CopyOut(t.ValueOf(t.ArrayElement(index)), values + (nuint)cp * vs, (elemFlags & (ulong)ElemFlags.Lock) != 0);
            cp++;
            prev = index;
            started = true;
        }
        *count = cp;
        if (cp > 0)
        {
            if (outBatch is null)
                return MapStatus.EFAULT;
            *(uint*)outBatch = prev;
        }
        return ret;
    }
}
