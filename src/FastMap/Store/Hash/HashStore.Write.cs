using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace FastMap.Internal;

internal sealed unsafe partial class HashStore
{
    /// <inheritdoc/>
    public override MapStatus Update(byte* key, byte* value, ulong flags) =>
        KeySize == 16 ? Update<Key16Shape>(key, value, flags) : Update<AnyKeyShape>(key, value, flags);

    /// <summary>
    /// An existing key is overwritten in place: found without a lock, then under its group's lock its slot is
    /// checked again (a live tag, the key's bytes) and the value is written between two version steps.
    /// Everything else decides under the lock.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private MapStatus Update<TKey>(byte* key, byte* value, ulong flags) where TKey : struct, IKeyShape
    {
        ulong h = Hash<TKey>(key);
        bool noExist = (flags & (ulong)ElemFlags.NoExist) != 0;
        bool exist = (flags & (ulong)ElemFlags.Exist) != 0;
        // LRU updates always take a node first, as the kernel's do (prealloc_lru_pop), so they go the locked way.
        // So do inserts (BPF_NOEXIST): their key is usually absent, and an unlocked find would only be done again.
        if (!_lru && !noExist)
        {
            if (Find<TKey>(key, h, out Hit hit))
            {
                uint home = GroupOf(h);
                LockGroup(home);                      // the key's lock, then its block's (ascending)
                if (hit.Group != home)
                    LockGroup(hit.Group);
                // Found without a lock, the slot may have been freed and reused since (limbo is kept only in
                // pinned maps, 3): under the lock it is the key's if its tag is live and holds the key's bytes.
                bool live = hit.Ctrl[hit.Slot] >= Group.Live && TKey.Equal(hit.Entry, key, KeySize);
                if (live)
                    WriteInPlace(in hit, value);
                if (hit.Group != home)
                    UnlockGroup(hit.Group);
                UnlockGroup(home);
                if (live)
                    return MapStatus.Ok;
            }
            else if (exist)
                return MapStatus.ENOENT;              // linearized at the lookup
        }
        return UpdateLocked<TKey>(key, value, h, noExist, exist);
    }

    /// <summary>The kernel's <c>htab_map_update_elem</c> under the bucket lock: <c>-EEXIST</c>,
    /// <c>-ENOENT</c>, then <c>-E2BIG</c> for a new key in a full map.</summary>
    private MapStatus UpdateLocked<TKey>(byte* key, byte* value, ulong h, bool noExist, bool exist) where TKey : struct, IKeyShape
    {
        int shard = _capacity.CurrentShard();
        bool token = false;
        // LRU: a full map makes room first, never while holding a group lock (eviction takes one).
        if (_lru && !(token = TakeTokenEvicting(shard)))
            return MapStatus.ENOMEM;                  // the kernel's LRU: no node could be taken
        uint g = GroupOf(h);
        MapStatus ret = MapStatus.Ok;
        LockGroup(g);
        if (Find<TKey>(key, h, out Hit hit))
        {
            if (noExist)
                ret = MapStatus.EEXIST;
            else
            {
                if (hit.Group != g)
                    LockGroup(hit.Group);
                WriteInPlace(in hit, value);
                if (hit.Group != g)
                    UnlockGroup(hit.Group);
            }
        }
        else if (exist)
            ret = MapStatus.ENOENT;
        else if (!token && !(token = _capacity.TryTake(shard)))
            ret = MapStatus.E2BIG;
        else if (Place(g, h, key, value))
            token = false;                            // spent on the new key
        else
            ret = MapStatus.ENOMEM;                   // no overflow record could be had
        UnlockGroup(g);
        if (token)
            _capacity.Return(shard);                  // not spent: a replacement, or a failure
        return ret;
    }

    /// <summary>
    /// Overwrites a live value in place, under its group's lock, between two version steps of its block
    /// (remarks of the class, 2c). In a shared map the value's old bytes go to the writer's undo area first, and its
    /// offset after them (release), so a process killed while the version is odd leaves what recovery needs to put
    /// the value back (<see cref="RecoverLocksOf"/>); the undo is cleared once the version is even again.
    /// </summary>
    private void WriteInPlace(in Hit hit, byte* src)
    {
        byte* stored = hit.Entry + _valueOffset;
        byte* undo = null;
        if (_shared is not null)
        {
            undo = _shared.UndoArea(SharedDomain.CurrentOwner);
            Buffer.MemoryCopy(stored, undo + SharedDomain.UndoBytesOffset, ValueSize, ValueSize);
            Volatile.Write(ref *(long*)undo, (long)(stored - _shared.Base) + 1);
        }
        ref uint w = ref Group.Word(hit.Ctrl);
        uint v = w;                                   // only the group's lock holder writes W
        Volatile.Write(ref w, v + Group.Version);     // odd: copying readers of this block retry
        // The odd version is visible before any byte of the value (StoreStore; free on x64).
        Volatile.WriteBarrier();
        CopyInLive(stored, src);
        if (undo is not null)
            SharedDomain.Park(SharedDomain.ParkPoint.ValueOdd);
        Volatile.Write(ref w, v + 2 * Group.Version); // even again; release: the value's bytes first
        if (undo is not null)
            Volatile.Write(ref *(long*)undo, 0);
    }

    /// <summary>
    /// Under home group g's lock: puts a new key in the first free slot of its window, taking the next
    /// groups' locks (ascending) as it goes and raising the outbound count of every group it passes before
    /// the tag is published (2e); past the window, in the first free slot of g's overflow records, or of a
    /// new record at the chain's end. False if no record could be had.
    /// </summary>
    private bool Place(uint g, ulong h, byte* key, byte* value)
    {
        byte tag = TagOf(h);
        uint end = WindowEnd(g), x = g;
        int slot;
        while ((slot = FreeSlot(CtrlOf(x))) < 0 && x < end)
            LockGroup(++x);
        if (slot >= 0)
        {
            for (uint p = g; p < x; p++)
                Volatile.Write(ref CtrlOf(p)[Group.CountOffset], (byte)(CtrlOf(p)[Group.CountOffset] + 1));
            Fill(CtrlOf(x), EntriesOf(x) + (nuint)slot * _stride, slot, tag, key, value);
        }
        UnlockRange(g + 1, x);
        return slot >= 0 || PlaceInRecord(g, tag, key, value);
    }

    /// <summary>Under home group g's lock: the key goes to g's overflow records (its window is full).</summary>
    private bool PlaceInRecord(uint g, byte tag, byte* key, byte* value)
    {
        // The window is full of live keys and limbo: ask for an advance (at this thread's exit) so limbo
        // ends sooner. Not earlier: limbo in a window is normal, and an advance can cost a process-wide
        // barrier (measured: asking on every insert that met limbo made delete + insert 250 ns, not 60).
        RequestAdvance();
        uint last = 0, steps = 0;
        for (uint id = _chain[g]; id != 0 && steps++ <= _overflow.Capacity; id = Overflow.Next(_overflow.Address(id)))
        {
            byte* r = _overflow.Address(id);
            int slot = FreeSlot(r);
            if (slot >= 0)
            {
                Fill(r, Overflow.Entries(r) + (nuint)slot * _stride, slot, tag, key, value);
                return true;
            }
            last = id;
        }
        uint fresh = _overflow.Alloc();
        if (fresh == 0)
            return false;
        byte* nr = _overflow.Address(fresh);
        // Linked empty (Alloc made it whole: tags empty, no link), then filled: a key's tag is never live in a record
        // no chain reaches, so a shared map's recovery can judge an insert by its tag alone. Readers that walk the
        // chain meanwhile find an empty record.
        if (last == 0)
        {
            // Release stores: the record is complete before its link, the link before the ext bit (readers
            // that see the bit load the link; a reader that loads a link sees the record).
            Volatile.Write(ref _chain[g], fresh);
            ref uint w = ref Group.Word(CtrlOf(g));
            Volatile.Write(ref w, w | Group.Ext);
        }
        else
            Volatile.Write(ref Overflow.Next(_overflow.Address(last)), fresh);
        BumpVersion(CtrlOf(g));                       // (4b)
        Fill(nr, Overflow.Entries(nr), 0, tag, key, value);
        Interlocked.Increment(ref _recordLinks);
        return true;
    }

    /// <summary>A free slot of a block: an empty one, else one whose limbo is over; -1 if none. The caller
    /// holds the lock under which the block's stamps are written.</summary>
    private int FreeSlot(byte* ctrl)
    {
        // Read after that lock's acquire (a CAS): every stamp in the block was written before it, with an
        // epoch read from G, so this reading is at least as new as each of them, as LimboSafe requires.
        long global = EpochNow;
        Vector128<byte> c = Vector128.LoadAligned(ctrl);
        uint empty = Vector128.Equals(c, Vector128<byte>.Zero).ExtractMostSignificantBits() & Group.TagMask;
        if (empty != 0)
            return BitOperations.TrailingZeroCount(empty);
        for (uint m = ~Group.LiveMask(c) & Group.TagMask; m != 0; m &= m - 1)
        {
            int i = BitOperations.TrailingZeroCount(m);
            byte t = ctrl[i];
            if (t != Group.NoSlot && Group.LimboSafe(t, global))
                return i;
        }
        return -1;
    }

    /// <summary>Fills a slot no reader matches (empty, or out of limbo) and publishes it with its tag.</summary>
    private void Fill(byte* ctrl, byte* entry, int slot, byte tag, byte* key, byte* value)
    {
        SharedDomain.Intent* it = null;
        if (_shared is not null)
        {
            // The token's spend, announced for recovery: the tag going live is the spend (SharedDomain.Intent).
            it = _shared.IntentOf(SharedDomain.CurrentOwner);
            Volatile.Write(ref it->Spend, ctrl + slot - _shared.Base + 1);
        }
        CopyBytes(key, entry, KeySize);
        CopyInFresh(entry + _valueOffset, value);
        Volatile.Write(ref ctrl[slot], tag);          // release: the entry's bytes first (2a)
        if (it is not null)
        {
            SharedDomain.Park(SharedDomain.ParkPoint.Published);
            it->Held = 0;
            it->Spend = 0;
        }
    }

    // ---- deletes ------------------------------------------------------------------------------

    /// <inheritdoc/>
    public override MapStatus Delete(byte* key) => KeySize == 16 ? Delete<Key16Shape>(key) : Delete<AnyKeyShape>(key);

    private MapStatus Delete<TKey>(byte* key) where TKey : struct, IKeyShape
    {
        ulong h = Hash<TKey>(key);
        if (!Find<TKey>(key, h, out Hit hit))
            return MapStatus.ENOENT;                  // linearized at the lookup: nothing to write
        return LockedDelete<TKey>(key, h, null, 0, 0, in hit, -1);
    }

    /// <summary>
    /// Deletes under the key's locks: its home group's, then (ascending) every group up to the one that
    /// holds it, whose outbound counts the delete lowers. With <paramref name="compare"/>, only if the window
    /// still matches (<c>-EBUSY</c> otherwise). <paramref name="seen"/> is where an unlocked find saw the key (or
    /// default): if its block's version has not moved since, nothing was unlinked there (3), so the key is still in
    /// that slot and is not looked for again. <paramref name="shard"/> is the caller's capacity shard, or -1.
    /// </summary>
    private MapStatus LockedDelete<TKey>(byte* key, ulong h, byte* compare, uint offset, uint size, in Hit seen, int shard)
        where TKey : struct, IKeyShape
    {
        uint g = GroupOf(h);
        LockGroup(g);
        MapStatus ret = MapStatus.ENOENT;
        Hit hit = seen;
        bool found = false;
        if (hit.Ctrl is not null)
        {
            LockRange(g + 1, hit.Group);
            found = Group.SameVersion(hit.Word, Volatile.Read(ref Group.Word(hit.Ctrl)));
            if (!found)
                UnlockRange(g + 1, hit.Group);
        }
        // Exact: only holders of g's lock insert or delete the key.
        if (!found && (found = Find<TKey>(key, h, out hit)))
            LockRange(g + 1, hit.Group);
        if (found)
        {
            // Under the locks no other writer of the key runs. A datapath store through an in-place pointer
            // is not excluded (nor is it in the kernel): compare a word written with one aligned store.
            if (compare is not null && !WindowCompare.Equal(ref *(hit.Entry + _valueOffset + offset), ref *compare, size))
                ret = MapStatus.EBUSY;
            else
            {
                Unlink(g, in hit, shard >= 0 ? shard : _capacity.CurrentShard());
                ret = MapStatus.Ok;
            }
            UnlockRange(g + 1, hit.Group);
        }
        UnlockGroup(g);
        return ret;
    }

    /// <summary>
    /// Under the locks of home group g up to the key's group: unlinks a live entry (remarks of the class,
    /// 3), gives its capacity token back before the locks are released (so no insert can find the key gone
    /// and the map still full), lowers the outbound counts its insert raised, and unlinks its overflow
    /// record if that held the record's last live key.
    /// </summary>
    private void Unlink(uint g, in Hit hit, int shard)
    {
        ref byte tag = ref hit.Ctrl[hit.Slot];
        if (_shared is not null)                      // the token to give back, announced for recovery (SharedDomain.Intent)
            Volatile.Write(ref _shared.IntentOf(SharedDomain.CurrentOwner)->Giving, hit.Ctrl + hit.Slot - _shared.Base + 1);
        Volatile.Write(ref tag, Group.Limbo(0));      // the unlink: readers stop matching; the stamp is not used
        if (_shared is not null)
            SharedDomain.Park(SharedDomain.ParkPoint.Unlinked);
        BumpVersion(hit.Ctrl);                        // a reader outside a section that matched it must look again (4b)
        bool due = _capacity.ReturnRetired(shard, _retireEvery); // a locked CAS: the unlink is visible before the read below
        bool pinned = Volatile.Read(ref *_pinned) != 0; // after the barrier above: the Dekker pair of PinValues (3)
        tag = pinned ? Group.Limbo(EpochNow) : Group.Empty; // the retire epoch, read after the unlink (Epoch rule 4)
        // The groups the key's insert passed: their counts come down only now, after the unlink (2e).
        for (uint p = g; p < hit.Group; p++)
            Volatile.Write(ref CtrlOf(p)[Group.CountOffset], (byte)(CtrlOf(p)[Group.CountOffset] - 1));
        if (due && pinned)
            RequestAdvance();                         // run at this thread's outermost exit (Epoch rule 7)
        if (hit.Record != 0 && Group.LiveMask(Vector128.LoadAligned(hit.Ctrl)) == 0)
            RemoveRecord(g, hit.Record);
    }

    /// <summary>Under group g's lock: unlinks an overflow record with no live key and retires it. A reader
    /// inside it still follows its (unchanged) link to the rest of the chain.</summary>
    private void RemoveRecord(uint g, uint id)
    {
        uint next = Overflow.Next(_overflow.Address(id));
        if (_chain[g] == id)
        {
            Volatile.Write(ref _chain[g], next);      // release, as every link store
            if (next == 0)
            {
                ref uint w = ref Group.Word(CtrlOf(g));
                Volatile.Write(ref w, w & ~Group.Ext);
            }
        }
        else
        {
            uint prev = _chain[g], steps = 0;
            while (Overflow.Next(_overflow.Address(prev)) != id && prev != 0 && steps++ <= _overflow.Capacity)
                prev = Overflow.Next(_overflow.Address(prev));
            if (prev == 0 || Overflow.Next(_overflow.Address(prev)) != id)
                return;                               // not on its chain: only a damaged shared file gets here; leave it
            Volatile.Write(ref Overflow.Next(_overflow.Address(prev)), next);
        }
        BumpVersion(CtrlOf(g));                       // a chain walk outside a section that missed must look again (4b)
        _overflow.Retire(id);                         // its lock's CAS orders the unlink before the epoch it reads
        Interlocked.Increment(ref _recordUnlinks);
    }

    /// <inheritdoc/>
    public override MapStatus LookupAndDelete(byte* key, byte* value, bool underLock) =>
        KeySize == 16 ? LookupAndDelete<Key16Shape>(key, value, underLock) : LookupAndDelete<AnyKeyShape>(key, value, underLock);

    private MapStatus LookupAndDelete<TKey>(byte* key, byte* value, bool underLock) where TKey : struct, IKeyShape
    {
        ulong h = Hash<TKey>(key);
        uint g = GroupOf(h);
        MapStatus ret = MapStatus.ENOENT;
        LockGroup(g);
        if (Find<TKey>(key, h, out Hit hit))
        {
            LockRange(g + 1, hit.Group);
            CopyOutUnderGroupLock(hit.Entry + _valueOffset, value, underLock);
            Unlink(g, in hit, _capacity.CurrentShard());
            UnlockRange(g + 1, hit.Group);
            ret = MapStatus.Ok;
        }
        UnlockGroup(g);
        return ret;
    }

    /// <summary>Copies a value out while holding its group's lock: no in-place write can overlap it.</summary>
    private void CopyOutUnderGroupLock(byte* stored, byte* dst, bool underLock)
    {
        if (underLock)
            CopyOutLocked(stored, dst);
        else
        {
            CopyBytes(stored, dst, ValueSize);
            ClearLockWord(dst);
        }
    }

    // ---- compare-and-delete -------------------------------------------------------------------

    /// <inheritdoc/>
    public override MapStatus CompareAndDelete(byte* key, byte* compare, uint offset, uint size) =>
        KeySize == 16
            ? CompareAndDelete<Key16Shape>(key, Hash<Key16Shape>(key), compare, offset, size, -1)
            : CompareAndDelete<AnyKeyShape>(key, Hash<AnyKeyShape>(key), compare, offset, size, -1);

    /// <summary>
    /// The RFC's compare-and-delete. A validated unlocked compare answers <c>-ENOENT</c> or <c>-EBUSY</c>
    /// with no write (linearized at its snapshot: a stale revision costs no lock); a match is decided
    /// again under the group lock, where the compare and the unlink are one step against every writer.
    /// </summary>
    private MapStatus CompareAndDelete<TKey>(byte* key, ulong h, byte* compare, uint offset, uint size, int shard)
        where TKey : struct, IKeyShape
    {
        MapStatus st = Peek<TKey>(key, h, compare, offset, size, out Hit hit);
        return st != MapStatus.Ok ? st : LockedDelete<TKey>(key, h, compare, offset, size, in hit, shard);
    }

    /// <summary>What a compare saw without a lock: the key's hash and where it was, for the locked half.</summary>
    internal struct Seen
    {
        public ulong H;
        public Hit Hit;
    }

    /// <summary>
    /// The no-write half of a compare (delete or swap): a validated unlocked compare of the key's window.
    /// <c>-ENOENT</c> or <c>-EBUSY</c> are final answers (linearized at the snapshot they came from); <c>Ok</c>
    /// means the window matched at that snapshot, and <paramref name="seen"/> is for
    /// <see cref="CompareAndDeleteSeen"/> or <see cref="CompareAndUpdateSeen"/>, which decide again under the lock.
    /// Reads only, so a caller may run it outside a read-side section, on the terms of lookups outside sections
    /// (remarks, 4: type-stable memory; the command re-checks the map's closed flag after it).
    /// </summary>
    internal MapStatus PeekCompare(byte* key, byte* compare, uint offset, uint size, out Seen seen)
    {
        seen = default;
        if (KeySize == 16)
            return Peek<Key16Shape>(key, seen.H = Hash<Key16Shape>(key), compare, offset, size, out seen.Hit);
        return Peek<AnyKeyShape>(key, seen.H = Hash<AnyKeyShape>(key), compare, offset, size, out seen.Hit);
    }

    /// <summary>The locked half of compare-and-delete after a matching <see cref="PeekCompare"/>; in a section.</summary>
    internal MapStatus CompareAndDeleteSeen(byte* key, byte* compare, uint offset, uint size, in Seen seen) =>
        KeySize == 16
            ? LockedDelete<Key16Shape>(key, seen.H, compare, offset, size, in seen.Hit, -1)
            : LockedDelete<AnyKeyShape>(key, seen.H, compare, offset, size, in seen.Hit, -1);

    /// <summary>The locked half of compare-and-swap after a matching <see cref="PeekCompare"/>; in a section.</summary>
    internal MapStatus CompareAndUpdateSeen(byte* key, byte* value, byte* compare, uint offset, uint size, in Seen seen) =>
        KeySize == 16
            ? LockedCompareUpdate<Key16Shape>(key, seen.H, value, compare, offset, size, seen.Hit)
            : LockedCompareUpdate<AnyKeyShape>(key, seen.H, value, compare, offset, size, seen.Hit);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private MapStatus Peek<TKey>(byte* key, ulong h, byte* compare, uint offset, uint size, out Hit hit)
        where TKey : struct, IKeyShape
    {
        while (true)
        {
            if (!Find<TKey>(key, h, out hit))
                return MapStatus.ENOENT;
            if ((hit.Word & Group.Version) == 0)
            {
                bool equal = WindowCompare.Equal(ref *(hit.Entry + _valueOffset + offset), ref *compare, size);
                Volatile.ReadBarrier();               // the compare's loads complete before the version is read again
                if (Group.SameVersion(hit.Word, Volatile.Read(ref Group.Word(hit.Ctrl))))
                    return equal ? MapStatus.Ok : MapStatus.EBUSY;
            }
            WaitForWriter();
        }
    }

    /// <inheritdoc/>
    public override void CompareAndDeleteMany(byte* keys, byte* compares, uint offset, uint size, int* results, uint n)
    {
        if (KeySize == 16)
            CompareAndDeleteMany<Key16Shape>(keys, compares, offset, size, results, n);
        else
            CompareAndDeleteMany<AnyKeyShape>(keys, compares, offset, size, results, n);
    }

    private struct CompareDeleteStep<TKey> : IKeyStep where TKey : struct, IKeyShape
    {
        public byte* Compares;
        public uint Offset, Size;
        public int Shard;                             // the caller's capacity shard, read once for the batch

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public readonly MapStatus Run(HashStore store, byte* key, ulong h, uint i) =>
            store.CompareAndDelete<TKey>(key, h, Compares + (nuint)i * Size, Offset, Size, Shard);
    }

    /// <summary>The collector's loop, pipelined (<see cref="Pipeline{TKey, TStep}"/>): key i + 8's control line
    /// and key i + 4's candidate entry are in flight while key i is decided.</summary>
    private void CompareAndDeleteMany<TKey>(byte* keys, byte* compares, uint offset, uint size, int* results, uint n)
        where TKey : struct, IKeyShape =>
        Pipeline<TKey, CompareDeleteStep<TKey>>(keys, results, n, new CompareDeleteStep<TKey> { Compares = compares, Offset = offset, Size = size, Shard = _capacity.CurrentShard() });

    // ---- compare-and-swap update (FastMap's extension) ---------------------------------------------

    /// <summary>Test hook: runs between a compare-and-swap's unlocked compare and its lock (a writer that lands
    /// there must make the swap answer <c>-EBUSY</c>).</summary>
    internal Action? CompareUpdateRaceForTests;

    /// <inheritdoc/>
    public override MapStatus CompareAndUpdate(byte* key, byte* value, byte* compare, uint offset, uint size) =>
        KeySize == 16
            ? CompareAndUpdate<Key16Shape>(key, Hash<Key16Shape>(key), value, compare, offset, size)
            : CompareAndUpdate<AnyKeyShape>(key, Hash<AnyKeyShape>(key), value, compare, offset, size);

    /// <summary>
    /// Replaces a value only if its window still equals <paramref name="compare"/>. As compare-and-delete: a
    /// validated unlocked compare answers <c>-ENOENT</c> or <c>-EBUSY</c> with no write (linearized at its
    /// snapshot); a match is decided again under the key's home lock and its block's lock, where the compare and
    /// the in-place write (between two version steps, so a copying reader sees the old value or the new one,
    /// never a mix) are one step against every writer, all of which take the home lock first.
    /// </summary>
    private MapStatus CompareAndUpdate<TKey>(byte* key, ulong h, byte* value, byte* compare, uint offset, uint size)
        where TKey : struct, IKeyShape
    {
        MapStatus st = Peek<TKey>(key, h, compare, offset, size, out Hit hit);
        return st != MapStatus.Ok ? st : LockedCompareUpdate<TKey>(key, h, value, compare, offset, size, hit);
    }

    /// <summary>The locked half of compare-and-swap: <paramref name="hit"/> is where an unlocked compare matched.</summary>
    private MapStatus LockedCompareUpdate<TKey>(byte* key, ulong h, byte* value, byte* compare, uint offset, uint size, Hit hit)
        where TKey : struct, IKeyShape
    {
        CompareUpdateRaceForTests?.Invoke();          // a writer may land here: what follows must see it
        uint home = GroupOf(h);
        LockGroup(home);
        // Found without a lock, the slot may have been freed and reused since (3): it is still the key's if its
        // tag is live and holds the key's bytes. If not, find the key again: exact under the home lock.
        bool found = hit.Ctrl[hit.Slot] >= Group.Live && TKey.Equal(hit.Entry, key, KeySize);
        if (!found)
            found = Find<TKey>(key, h, out hit);
        MapStatus ret = MapStatus.ENOENT;
        if (found)
        {
            if (hit.Group != home)
                LockGroup(hit.Group);
            // Only an in-place pointer's store can change the window now (not excluded, as for delete).
            if (!WindowCompare.Equal(ref *(hit.Entry + _valueOffset + offset), ref *compare, size))
                ret = MapStatus.EBUSY;
            else
            {
                WriteInPlace(in hit, value);
                ret = MapStatus.Ok;
            }
            if (hit.Group != home)
                UnlockGroup(hit.Group);
        }
        UnlockGroup(home);
        return ret;
    }

    /// <inheritdoc/>
    public override void CompareAndUpdateMany(byte* keys, byte* values, uint valueSize, byte* compares, uint offset, uint size,
        int* results, uint n)
    {
        for (uint i = 0; i < n; i++)
            results[i] = (int)CompareAndUpdate(keys + (nuint)i * KeySize, values + (nuint)i * valueSize,
                compares + (nuint)i * size, offset, size);
    }

    // ---- LRU ----------------------------------------------------------------------------------

    /// <summary>Takes a token, evicting keys while the map is full. Call with no group lock held.</summary>
    private bool TakeTokenEvicting(int shard)
    {
        for (int tries = 0; tries < 8; tries++)
        {
            if (_capacity.TryTake(shard))
                return true;
            // Nothing to evict, although the map was full a moment ago: the keys that held its tokens were deleted
            // while the hand went round, and their tokens are back. Not a reason to give up (it answered a false
            // ENOMEM against a collector deleting in batches); only tries that keep finding neither are.
            EvictOne(shard);
        }
        return _capacity.TryTake(shard);
    }

    /// <summary>
    /// Evicts one key and returns its token to <paramref name="shard"/>: a clock hand over the groups picks
    /// the next group holding a key, and its first one goes. An approximation, as the kernel's LRU is (and,
    /// like the kernel's syscall lookups, ours set no reference bit). Call with no group lock held.
    /// </summary>
    private bool EvictOne(int shard)
    {
        for (uint n = 0; n < 2 * _groupCount; n++)
        {
            uint x = Interlocked.Increment(ref _evictHand) & (_groupCount - 1);
            Vector128<byte> c = Vector128.LoadAligned(CtrlOf(x));
            if (Group.LiveMask(c) == 0 && (Group.WordOf(c) & Group.Ext) == 0)
                continue;
            if (!FirstLive(x, out Hit hit))
                continue;
            // The victim's locks: its home group's first, then up to x (a key placed in x lives at or past
            // its home). Read without a lock, the victim is checked again under them.
            uint home = KeySize == 16 ? GroupOf(Hash<Key16Shape>(hit.Entry)) : GroupOf(Hash<AnyKeyShape>(hit.Entry));
            if (home > hit.Group)
                continue;                             // its slot was reused for another key meanwhile: look again
            LockRange(home, hit.Group);
            bool still = hit.Ctrl[hit.Slot] >= Group.Live
                && (KeySize == 16 ? GroupOf(Hash<Key16Shape>(hit.Entry)) : GroupOf(Hash<AnyKeyShape>(hit.Entry))) == home;
            if (still)
            {
                Unlink(home, in hit, shard);
                Interlocked.Increment(ref _evictions);    // a slow path already (locks, a scan): the count is free
            }
            UnlockRange(home, hit.Group);
            if (still)
                return true;
        }
        return false;
    }

    /// <summary>Group x's first live entry (its slots, then its records'), read without a lock.</summary>
    private bool FirstLive(uint x, out Hit hit)
    {
        byte* ctrl = CtrlOf(x);
        uint live = Group.LiveMask(Vector128.LoadAligned(ctrl));
        Volatile.ReadBarrier();
        if (live != 0)
        {
            int i = BitOperations.TrailingZeroCount(live);
            hit = new Hit { Ctrl = ctrl, Entry = EntriesOf(x) + (nuint)i * _stride, Group = x, Slot = i };
            return true;
        }
        uint steps = 0;
        for (uint id = Volatile.Read(ref _chain[x]); id != 0 && steps++ <= _overflow.Capacity;
             id = Volatile.Read(ref Overflow.Next(_overflow.Address(id))))
        {
            byte* r = _overflow.Address(id);
            live = Group.LiveMask(Vector128.LoadAligned(r));
            Volatile.ReadBarrier();
            if (live != 0)
            {
                int i = BitOperations.TrailingZeroCount(live);
                hit = new Hit { Ctrl = r, Entry = Overflow.Entries(r) + (nuint)i * _stride, Group = x, Record = id, Slot = i };
                return true;
            }
        }
        hit = default;
        return false;
    }
}
