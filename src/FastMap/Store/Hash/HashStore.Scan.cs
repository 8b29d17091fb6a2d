using System.Numerics;
using System.Runtime.Intrinsics;

namespace FastMap.Internal;

/// <remarks>
/// <para><b>Batch buckets.</b> A batch cursor counts buckets, as the kernel's does: there are
/// <c>roundup_pow_of_two(max_entries)</c> of them (at least one a group), a key's bucket is the top bits of
/// its hash, and its group the fewer top bits, so every group holds whole buckets and a key's bucket never
/// changes. A call walks groups from the cursor's, taking whole buckets while they fit.</para>
/// <para><b>Exactness.</b> Keys never move (a key lives in a slot of its home group's window or of the
/// group's overflow chain until deleted, and the outbound counts lead every walk of its home to it), so a
/// key present for a whole scan is found whenever a call reads its home group, and exactly one call
/// covers its bucket: it is returned once. Keys inserted or deleted during
/// the scan may or may not be. Values are copied under the version check of their block (remarks of the
/// class, 2c), so none is torn. <c>LOOKUP_AND_DELETE_BATCH</c> reads each group under its lock, so what it
/// returns is exactly what it deleted.</para>
/// </remarks>
internal sealed unsafe partial class HashStore
{
    /// <summary>A live slot a scan found.</summary>
    private struct ScanHit
    {
        public uint Bucket;
        public byte* Ctrl;
        public byte* Entry;
        public uint Group;
        public uint Record;
        public int Slot;
    }

    /// <summary>A thread's scan scratch, kept between calls up to this many hits.</summary>
    private const int MaxCachedHits = 1 << 12;

    [ThreadStatic] private static ScanHit[]? t_hits;

    /// <inheritdoc/>
    /// <remarks>The kernel's <c>__htab_map_lookup_and_delete_batch</c>: <c>batch.flags</c> must be 0; count
    /// 0 does nothing; a cursor past the last bucket is <c>-ENOENT</c> with nothing written; a bucket that
    /// does not fit the room left ends the call (<c>-ENOSPC</c> if nothing was copied); the end is
    /// <c>-ENOENT</c> with the last entries. Deliberate differences, both to lose nothing on a bad
    /// argument: a null <c>out_batch</c> is <c>-EFAULT</c> before the walk, and null keys or values are
    /// <c>-EFAULT</c> before the first bucket would be copied (the kernel deletes, then fails the copy).</remarks>
    public override MapStatus LookupBatch(bool delete, byte* inBatch, byte* outBatch, byte* keys, byte* values,
        uint* count, bool underLock, ulong batchFlags)
    {
        if (batchFlags != 0)
            return MapStatus.EINVAL;
        uint max = *count;
        if (max == 0)
            return MapStatus.Ok;
        *count = 0;
        uint buckets = 1u << _bucketBits;
        uint from = inBatch is null ? 0 : *(uint*)inBatch;
        if (from >= buckets)
            return MapStatus.ENOENT;                  // out_batch is not written
        if (outBatch is null)
            return MapStatus.EFAULT;

        ScanHit[] hits = t_hits ?? new ScanHit[64];
        MapStatus ret = MapStatus.ENOENT;
        uint next = buckets, copied = 0;
        uint ks = KeySize, vs = ValueSize;
        for (uint g = from >> (_bucketBits - _groupBits); g < _groupCount; g++)
        {
            if (delete)
                LockGroup(g);
            int n = CollectGroup(g, from, delete, ref hits, out uint last);
            bool fits = copied + (uint)n <= max;
            if (!fits)
                SortByBucket(hits, n);                // whole buckets only: cut at a bucket edge
            int i = 0;
            while (i < n)
            {
                uint b = hits[i].Bucket;
                int j = i + 1;
                while (j < n && hits[j].Bucket == b && !fits)
                    j++;
                if (!fits && copied + (uint)(j - i) > max)
                {
                    next = b;
                    ret = copied == 0 ? MapStatus.ENOSPC : MapStatus.Ok;
                    break;
                }
                if (keys is null || values is null)
                {
                    // Nothing copied or deleted yet (a null pointer fails the first copy).
                    if (delete)
                        UnlockRange(g, last);
                    if (hits.Length <= MaxCachedHits)
                        t_hits = hits;
                    return MapStatus.EFAULT;
                }
                for (; i < j; i++, copied++)
                {
                    ref ScanHit hit = ref hits[i];
                    byte* dk = keys + (nuint)copied * ks, dv = values + (nuint)copied * vs;
                    if (delete)
                    {
                        CopyBytes(hit.Entry, dk, ks);
                        CopyOutUnderGroupLock(hit.Entry + _valueOffset, dv, underLock);
                        var h = new Hit { Ctrl = hit.Ctrl, Entry = hit.Entry, Group = hit.Group, Record = hit.Record, Slot = hit.Slot };
                        Unlink(g, in h, _capacity.CurrentShard());
                    }
                    else
                        CopyEntry(in hit, dk, dv, underLock);
                }
            }
            if (delete)
                UnlockRange(g, last);
            if (next != buckets)
                break;
        }
        if (hits.Length <= MaxCachedHits)
            t_hits = hits;                            // grows once per thread; a huge chain's scratch is not kept
        *count = copied;
        *(uint*)outBatch = next;
        return ret;
    }

    /// <summary>
    /// The live keys whose home is group g and whose bucket is at least <paramref name="from"/>: in g's
    /// window (g, then the next groups while the one before says keys were placed past it) and in g's
    /// records. A slot's home is its key's hash (stored keys are hashed again: a group may hold keys of
    /// earlier homes). With <paramref name="locked"/> the caller holds g's lock, and each further group's
    /// lock is taken here, ascending; <paramref name="last"/> is the last group locked or read.
    /// </summary>
    private int CollectGroup(uint g, uint from, bool locked, ref ScanHit[] hits, out uint last)
    {
        int n = 0;
        Vector128<byte> c = default;
        uint end = WindowEnd(g);
        last = g;
        for (uint x = g; x <= end; x++)
        {
            if (x > g)
            {
                if (Group.CountOf(c) == 0)
                    break;                            // no key of g (or earlier) was placed past x - 1 (2e)
                if (locked)
                    LockGroup(x);
                last = x;
            }
            byte* ctrl = CtrlOf(x);
            c = Vector128.LoadAligned(ctrl);
            n = CollectBlock(g, c, ctrl, EntriesOf(x), x, 0, from, ref hits, n);
        }
        for (uint id = Volatile.Read(ref _chain[g]); id != 0;)
        {
            byte* r = _overflow.Address(id);
            n = CollectBlock(g, Vector128.LoadAligned(r), r, Overflow.Entries(r), g, id, from, ref hits, n);
            id = Volatile.Read(ref Overflow.Next(r));
        }
        return n;
    }

    private int CollectBlock(uint home, Vector128<byte> c, byte* ctrl, byte* entries, uint g, uint record, uint from,
        ref ScanHit[] hits, int n)
    {
        Volatile.ReadBarrier();                       // tags before the entries they publish (2a)
        for (uint live = Group.LiveMask(c); live != 0; live &= live - 1)
        {
            int i = BitOperations.TrailingZeroCount(live);
            byte* e = entries + (nuint)i * _stride;
            ulong h = KeySize == 16 ? Hash<Key16Shape>(e) : Hash<AnyKeyShape>(e);
            uint bucket = BucketOf(h);
            if (GroupOf(h) != home || bucket < from)
                continue;                             // another home's key, or returned by an earlier call
            if (n == hits.Length)
                Array.Resize(ref hits, hits.Length * 2);
            hits[n++] = new ScanHit { Bucket = bucket, Ctrl = ctrl, Entry = e, Group = g, Record = record, Slot = i };
        }
        return n;
    }

    /// <summary>Copies a scanned entry out; the value under its block's version check (2c), or its spin lock.</summary>
    private void CopyEntry(in ScanHit hit, byte* dstKey, byte* dstValue, bool underLock)
    {
        CopyBytes(hit.Entry, dstKey, KeySize);        // a key's bytes never change while it is live
        byte* v = hit.Entry + _valueOffset;
        if (underLock)
        {
            CopyOutLocked(v, dstValue);
            return;
        }
        ref uint w = ref Group.Word(hit.Ctrl);
        while (true)
        {
            uint before = Volatile.Read(ref w);
            if ((before & Group.Version) == 0)
            {
                CopyBytes(v, dstValue, ValueSize);
                Volatile.ReadBarrier();
                if (Group.SameVersion(before, Volatile.Read(ref w)))
                    break;
            }
            WaitForWriter();
        }
        ClearLockWord(dstValue);
    }

    /// <summary>Sorts hits by bucket (a group's handful: insertion sort).</summary>
    private static void SortByBucket(ScanHit[] hits, int n)
    {
        for (int i = 1; i < n; i++)
        {
            ScanHit h = hits[i];
            int j = i - 1;
            while (j >= 0 && hits[j].Bucket > h.Bucket)
            {
                hits[j + 1] = hits[j];
                j--;
            }
            hits[j + 1] = h;
        }
    }
}
