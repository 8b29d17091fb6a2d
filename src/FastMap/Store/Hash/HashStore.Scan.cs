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
        bool direct = !delete && !underLock && keys is not null && values is not null;
        for (uint g = from >> (_bucketBits - _groupBits); g < _groupCount; g++)
        {
            if (direct)
            {
                int d = CopyGroupDirect(g, from, keys + (nuint)copied * ks, values + (nuint)copied * vs, max - copied);
                if (d >= 0)
                {
                    copied += (uint)d;
                    continue;
                }
            }
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
                if (!delete)
                {
                    CopyRuns(hits, i, j, keys + (nuint)copied * ks, values + (nuint)copied * vs, underLock);
                    copied += (uint)(j - i);
                    i = j;
                }
                for (; i < j; i++, copied++)
                {
                    ref ScanHit hit = ref hits[i];
                    byte* dk = keys + (nuint)copied * ks, dv = values + (nuint)copied * vs;
                    CopyBytes(hit.Entry, dk, ks);
                    CopyOutUnderGroupLock(hit.Entry + _valueOffset, dv, underLock);
                    var h = new Hit { Ctrl = hit.Ctrl, Entry = hit.Entry, Group = hit.Group, Record = hit.Record, Slot = hit.Slot };
                    Unlink(g, in h, _capacity.CurrentShard());
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
    /// records. With <paramref name="locked"/> the caller holds g's lock, and each further group's lock is
    /// taken here, ascending; <paramref name="last"/> is the last group locked or read.
    /// </summary>
    /// <remarks>
    /// A key's bucket is the top bits of its hash, and its tag holds the 7 bits below its group's: so a key
    /// known to live in its home group has its bucket in hand without hashing it again. Keys in g's records
    /// are g's. Keys in g's own block are all g's when nothing was placed past g - 1, which is read after
    /// the block: a key of an earlier home in the snapshot was counted in g - 1 before it was published
    /// (2e), and is either still counted when the count is read, or was unlinked meanwhile, which moved
    /// the block's version, read again last. Otherwise (and in the further groups of the window) each key
    /// is hashed to find its home.
    /// </remarks>
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
            bool home = x == g && _bucketFromTag && OnlyHomeKeys(g, c);
            n = CollectBlock(g, c, ctrl, EntriesOf(x), x, 0, from, home, ref hits, n);
        }
        uint steps = 0;                                // every chain walk is bounded: a shared map's file may be damaged
        for (uint id = Volatile.Read(ref _chain[g]); id != 0 && steps++ <= _overflow.Capacity;)
        {
            byte* r = _overflow.Address(id);
            n = CollectBlock(g, Vector128.LoadAligned(r), r, Overflow.Entries(r), g, id, from, _bucketFromTag, ref hits, n);
            id = Volatile.Read(ref Overflow.Next(r));
        }
        return n;
    }

    /// <summary>
    /// A scan without locks, copied straight out when all of group g's keys fit the room left: its own block,
    /// the blocks its keys were placed in past it, its records, each block's entries at or past bucket
    /// <paramref name="from"/> copied under one version check of the block (2c), again if a writer moved it.
    /// Returns how many, or -1 when they may not fit (the general walk, <see cref="CollectGroup"/>, cuts at a
    /// bucket edge). Nothing is written past <paramref name="room"/> entries.
    /// </summary>
    private int CopyGroupDirect(uint g, uint from, byte* dstKeys, byte* dstValues, uint room)
    {
        if (!_bucketFromTag)
            return -1;
        int n = 0;
        if (!CopyBlockDirect(g, CtrlOf(g), EntriesOf(g), BlockKind.Own, from, dstKeys, dstValues, room, ref n, out Vector128<byte> c))
            return -1;
        uint end = WindowEnd(g);
        for (uint x = g + 1; x <= end && Group.CountOf(c) != 0; x++)
        {
            if (!CopyBlockDirect(g, CtrlOf(x), EntriesOf(x), BlockKind.Further, from, dstKeys, dstValues, room, ref n, out c))
                return -1;
        }
        uint steps = 0;
        for (uint id = Volatile.Read(ref _chain[g]); id != 0 && steps++ <= _overflow.Capacity;
             id = Volatile.Read(ref Overflow.Next(_overflow.Address(id))))
        {
            byte* r = _overflow.Address(id);
            if (!CopyBlockDirect(g, r, Overflow.Entries(r), BlockKind.Record, from, dstKeys, dstValues, room, ref n, out _))
                return -1;
        }
        for (int x = 0; x < n; x++)
            ClearLockWord(dstValues + (nuint)x * ValueSize);
        return n;
    }

    /// <summary>Which keys a block holds: group g's own block (its keys, and maybe earlier homes'), a further block of
    /// g's window (any home's), one of g's records (only g's).</summary>
    private enum BlockKind { Own, Further, Record }

    /// <summary>One block of <see cref="CopyGroupDirect"/>: copies home's keys in it to entries [n, ...) and advances
    /// n; false if they might not fit. <paramref name="c"/> is the block snapshot the copy was validated against.</summary>
    private bool CopyBlockDirect(uint home, byte* ctrl, byte* entries, BlockKind kind, uint from,
        byte* dstKeys, byte* dstValues, uint room, ref int n, out Vector128<byte> c)
    {
        uint ks = KeySize, vs = ValueSize;
        bool partial = from > home << _tagBucketBits; // the cursor is inside this group: skip buckets before it
        while (true)
        {
            c = Vector128.LoadAligned(ctrl);
            uint before = Group.WordOf(c);
            if ((before & Group.Version) != 0)
            {
                WaitForWriter();
                continue;
            }
            uint live = Group.LiveMask(c);
            if (live == 0)
                return true;
            if ((uint)(n + BitOperations.PopCount(live)) > room)
                return false;
            bool fromTag = kind == BlockKind.Record || (kind == BlockKind.Own && OnlyHomeKeys(home, c));
            Volatile.ReadBarrier();                   // tags before the entries they publish (2a)
            int m = n;
            for (; live != 0; live &= live - 1)
            {
                int i = BitOperations.TrailingZeroCount(live);
                byte* e = entries + (nuint)i * _stride;
                if (fromTag)
                {
                    if (partial && ((home << _tagBucketBits) | (uint)((ctrl[i] & 0x7F) >> (7 - _tagBucketBits))) < from)
                        continue;
                }
                else
                {
                    ulong h = KeySize == 16 ? Hash<Key16Shape>(e) : Hash<AnyKeyShape>(e);
                    if (GroupOf(h) != home || BucketOf(h) < from)
                        continue;                     // another home's key, or returned by an earlier call
                }
                CopyBytes(e, dstKeys + (nuint)m * ks, ks);
                CopyBytes(e + _valueOffset, dstValues + (nuint)m * vs, vs);
                m++;
            }
            Volatile.ReadBarrier();                   // the copies complete before the word is read again
            if (Group.SameVersion(before, Volatile.Read(ref Group.Word(ctrl))))
            {
                n = m;
                return true;
            }
        }
    }

    /// <summary>True if the snapshot <paramref name="c"/> of group g's block holds only keys whose home is g (remarks of
    /// <see cref="CollectGroup"/>). The loads are volatile, so they happen in program order after the snapshot's.</summary>
    private bool OnlyHomeKeys(uint g, Vector128<byte> c)
    {
        if (g == 0)
            return true;                              // windows do not wrap: nothing is placed before group 0
        if (Volatile.Read(ref CtrlOf(g - 1)[Group.CountOffset]) != 0)
            return false;
        return Group.SameVersion(Group.WordOf(c), Volatile.Read(ref Group.Word(CtrlOf(g))));
    }

    private int CollectBlock(uint home, Vector128<byte> c, byte* ctrl, byte* entries, uint g, uint record, uint from,
        bool knownHome, ref ScanHit[] hits, int n)
    {
        Volatile.ReadBarrier();                       // tags before the entries they publish (2a)
        uint live = Group.LiveMask(c);
        if (n + BitOperations.PopCount(live) > hits.Length)
            Array.Resize(ref hits, Math.Max(hits.Length * 2, n + 16));
        for (; live != 0; live &= live - 1)
        {
            int i = BitOperations.TrailingZeroCount(live);
            byte* e = entries + (nuint)i * _stride;
            uint bucket;
            if (knownHome)
                bucket = (home << _tagBucketBits) | (uint)((ctrl[i] & 0x7F) >> (7 - _tagBucketBits));
            else
            {
                ulong h = KeySize == 16 ? Hash<Key16Shape>(e) : Hash<AnyKeyShape>(e);
                if (GroupOf(h) != home)
                    continue;                         // another home's key
                bucket = BucketOf(h);
            }
            if (bucket < from)
                continue;                             // returned by an earlier call
            hits[n++] = new ScanHit { Bucket = bucket, Ctrl = ctrl, Entry = e, Group = g, Record = record, Slot = i };
        }
        return n;
    }

    /// <summary>
    /// Copies hits [i, j) out, for a scan without the group locks: each block's run of hits under one version
    /// check of the block (remarks of the class, 2c), copied again if a writer moved it; with a spin lock, value by
    /// value under it.
    /// </summary>
    private void CopyRuns(ScanHit[] hits, int i, int j, byte* dstKeys, byte* dstValues, bool underLock)
    {
        uint ks = KeySize, vs = ValueSize;
        while (i < j)
        {
            byte* ctrl = hits[i].Ctrl;
            int k = i + 1;
            while (k < j && hits[k].Ctrl == ctrl)
                k++;
            if (underLock)
            {
                for (int x = i; x < k; x++)
                    CopyEntry(in hits[x], dstKeys + (nuint)(x - i) * ks, dstValues + (nuint)(x - i) * vs, true);
            }
            else
            {
                ref uint w = ref Group.Word(ctrl);
                while (true)
                {
                    uint before = Volatile.Read(ref w);
                    if ((before & Group.Version) == 0)
                    {
                        for (int x = i; x < k; x++)
                        {
                            byte* e = hits[x].Entry;
                            CopyBytes(e, dstKeys + (nuint)(x - i) * ks, ks); // a live key's bytes never change
                            CopyBytes(e + _valueOffset, dstValues + (nuint)(x - i) * vs, vs);
                        }
                        Volatile.ReadBarrier();
                        if (Group.SameVersion(before, Volatile.Read(ref w)))
                            break;
                    }
                    WaitForWriter();
                }
                for (int x = i; x < k; x++)
                    ClearLockWord(dstValues + (nuint)(x - i) * vs);
            }
            dstKeys += (nuint)(k - i) * ks;
            dstValues += (nuint)(k - i) * vs;
            i = k;
        }
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
