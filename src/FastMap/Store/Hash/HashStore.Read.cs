using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace FastMap.Internal;

internal sealed unsafe partial class HashStore
{
    /// <summary>Where a key was found, as one tag snapshot showed it.</summary>
    internal struct Hit
    {
        /// <summary>The control block holding the key's tag (a main group's, or an overflow record's).</summary>
        public byte* Ctrl;
        /// <summary>The entry: key at 0, value at <see cref="_valueOffset"/>.</summary>
        public byte* Entry;
        /// <summary>That block's word W, from the snapshot the tag matched in.</summary>
        public uint Word;
        /// <summary>The main group whose block holds the key, or, for a record, the key's home group.</summary>
        public uint Group;
        /// <summary>The overflow record's id, or 0 for a main group.</summary>
        public uint Record;
        /// <summary>The slot in the block.</summary>
        public int Slot;
    }

    /// <summary>
    /// Finds a key of hash <paramref name="h"/>: its home group, the next groups while their outbound counts
    /// say keys were placed past them (within the window), then the home group's overflow records if its
    /// word says it has some. Lock-free. A caller in a section may use the entry until it leaves (2d); a
    /// caller outside one must check the hit's version after reading it (4c).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool Find<TKey>(byte* key, ulong h, out Hit hit) where TKey : struct, IKeyShape
    {
        uint home = GroupOf(h);
        var tag = Vector128.Create(TagOf(h));
        byte* ctrl = CtrlOf(home);
        Vector128<byte> c = Vector128.LoadAligned(ctrl);
        // Acquire: the entry reads below are not satisfied before the tags that publish them (2a).
        Volatile.ReadBarrier();
        if (MatchIn<TKey>(key, c, tag, ctrl, EntriesOf(home), home, out hit))
            return true;
        uint homeWord = Group.WordOf(c);
        if (Group.CountOf(c) != 0 || (homeWord & Group.Ext) != 0)
            return FindFurther<TKey>(key, tag, home, c, homeWord, out hit);
        hit = default;
        return false;
    }

    /// <summary>The tag matches of one block whose entry holds the key.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool MatchIn<TKey>(byte* key, Vector128<byte> c, Vector128<byte> tag, byte* ctrl, byte* entries, uint g, out Hit hit)
        where TKey : struct, IKeyShape
    {
        for (uint m = Group.Match(c, tag); m != 0; m &= m - 1)
        {
            int i = BitOperations.TrailingZeroCount(m);
            byte* e = entries + (nuint)i * _stride;
            if (TKey.Equal(e, key, KeySize))
            {
                hit = new Hit { Ctrl = ctrl, Entry = e, Word = Group.WordOf(c), Group = g, Slot = i };
                return true;
            }
        }
        hit = default;
        return false;
    }

    /// <summary>The rest of a probe: the window's next groups, then the home group's records. A miss that
    /// walked records is taken only if the home group's version did not move meanwhile (4c).</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool FindFurther<TKey>(byte* key, Vector128<byte> tag, uint home, Vector128<byte> c, uint homeWord, out Hit hit)
        where TKey : struct, IKeyShape
    {
        // Go on while the block just read says keys of earlier homes were placed past it (2e).
        for (uint g = home + 1, end = WindowEnd(home); g <= end && Group.CountOf(c) != 0; g++)
        {
            byte* ctrl = CtrlOf(g);
            c = Vector128.LoadAligned(ctrl);
            Volatile.ReadBarrier();
            if (MatchIn<TKey>(key, c, tag, ctrl, EntriesOf(g), g, out hit))
                return true;
        }
        while ((homeWord & Group.Ext) != 0)
        {
            // Acquire: a record's fill was published (release) before the link that names it.
            uint id = Volatile.Read(ref _chain[home]);
            for (uint steps = 0; id != 0 && steps <= _overflow.Capacity; steps++)
            {
                byte* r = _overflow.TryAddress(id);
                if (r is null)
                    break;                            // an id read from reused memory: the check below retries
                c = Vector128.LoadAligned(r);
                Volatile.ReadBarrier();
                if (MatchIn<TKey>(key, c, tag, r, Overflow.Entries(r), home, out hit))
                {
                    hit.Record = id;
                    return true;
                }
                id = Volatile.Read(ref Overflow.Next(r));
            }
            Volatile.ReadBarrier();                   // the walk's loads complete before the version is read again
            uint now = Volatile.Read(ref Group.Word(CtrlOf(home)));
            if (Group.SameVersion(homeWord, now))
                break;                                // no link changed during the walk: the miss stands
            homeWord = now;                           // a chain changed under the walk: walk it again
        }
        hit = default;
        return false;
    }

    /// <inheritdoc/>
    public override MapStatus Lookup(byte* key, byte* value, bool underLock) =>
        underLock ? LookupLocked(key, value) : LookupCopy(key, value);

    /// <summary>
    /// The copying lookup, for the command layer's direct call: the key's shape picked once, then a
    /// fast path that handles the common case inline (key in its home group, no writer mid-copy) and
    /// leaves everything else (further groups, records, a retry) to an out-of-line call.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public MapStatus LookupCopy(byte* key, byte* value) =>
        KeySize == 16 ? LookupCopy<Key16Shape>(key, value) : LookupCopy<AnyKeyShape>(key, value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private MapStatus LookupCopy<TKey>(byte* key, byte* value) where TKey : struct, IKeyShape
    {
        // No section needed (remarks of the class, 4): the hit's version is checked after the copy.
        ulong h = Hash<TKey>(key);
        uint g = GroupOf(h);
        byte* ctrl = CtrlOf(g);
        Vector128<byte> c = Vector128.LoadAligned(ctrl);
        Volatile.ReadBarrier();                       // tags before the entries they publish (2a)
        uint m;
        for (m = Group.Match(c, Vector128.Create(TagOf(h))); m != 0; m &= m - 1)
        {
            byte* e = EntriesOf(g) + (nuint)BitOperations.TrailingZeroCount(m) * _stride;
            if (!TKey.Equal(e, key, KeySize))
                continue;
            uint w = Group.WordOf(c);
            if ((w & Group.Version) != 0)
                break;                                // a writer is mid-write: the slow path waits
            CopyBytes(e + _valueOffset, value, ValueSize);
            Volatile.ReadBarrier();                   // the copy's loads complete before the version is read again (2c)
            if (!Group.SameVersion(w, Volatile.Read(ref Group.Word(ctrl))))
                break;
            ClearLockWord(value);
            return MapStatus.Ok;
        }
        if (m == 0 && Group.CountOf(c) == 0 && (Group.WordOf(c) & Group.Ext) == 0)
            return MapStatus.ENOENT;
        return LookupSlow<TKey>(key, value, h);
    }

    /// <summary>The general copying lookup: every group of the window, the records, retries.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private MapStatus LookupSlow<TKey>(byte* key, byte* value, ulong h) where TKey : struct, IKeyShape
    {
        while (true)
        {
            if (!Find<TKey>(key, h, out Hit hit))
                return MapStatus.ENOENT;
            if (TryCopyValue(in hit, value))
                return MapStatus.Ok;
        }
    }

    /// <summary>A <c>BPF_F_LOCK</c> lookup: the copy under the value's spin lock, which every in-place
    /// write of a locked value holds.</summary>
    private MapStatus LookupLocked(byte* key, byte* value)
    {
        bool found = KeySize == 16
            ? Find<Key16Shape>(key, Hash<Key16Shape>(key), out Hit hit)
            : Find<AnyKeyShape>(key, Hash<AnyKeyShape>(key), out hit);
        if (!found)
            return MapStatus.ENOENT;
        CopyOutLocked(hit.Entry + _valueOffset, value);
        return MapStatus.Ok;
    }

    /// <summary>
    /// Copies a hit's value if no in-place write overlapped the copy (2c); false means look again.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool TryCopyValue(in Hit hit, byte* dst)
    {
        if ((hit.Word & Group.Version) == 0)
        {
            CopyBytes(hit.Entry + _valueOffset, dst, ValueSize);
            // The copy's loads complete before the version is read again.
            Volatile.ReadBarrier();
            if (Group.SameVersion(hit.Word, Volatile.Read(ref Group.Word(hit.Ctrl))))
            {
                ClearLockWord(dst);
                return true;
            }
        }
        WaitForWriter();
        return false;
    }

    /// <summary>A writer is overwriting a value in place (a few stores): wait a moment, then look again.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void WaitForWriter()
    {
        Thread.SpinWait(8);
        // A shared map's writer may have died mid-write (its version stays odd): now and then, recover the dead.
        if (_shared is not null && (++t_waits & 4095) == 0)
            _shared.RecoverAllDead();
    }

    [ThreadStatic] private static int t_waits;

    /// <inheritdoc/>
    public override byte* FindValue(byte* key)
    {
        bool found = KeySize == 16
            ? Find<Key16Shape>(key, Hash<Key16Shape>(key), out Hit hit)
            : Find<AnyKeyShape>(key, Hash<AnyKeyShape>(key), out hit);
        return found ? hit.Entry + _valueOffset : null;
    }

    // ---- iteration ----------------------------------------------------------------------------

    /// <inheritdoc/>
    /// <remarks>The order is group by group: a group's slots, then its overflow records' slots. Lock-free,
    /// like the kernel's <c>htab_map_get_next_key</c>: a key present throughout is never skipped while the
    /// caller walks from one key to the next (keys never move).</remarks>
    public override MapStatus GetNextKey(byte* key, byte* nextKey)
    {
        uint g = 0, record = 0;
        int slot = -1;                                // the position after which to look
        if (key is not null)
        {
            ulong h = KeySize == 16 ? Hash<Key16Shape>(key) : Hash<AnyKeyShape>(key);
            bool found = KeySize == 16 ? Find<Key16Shape>(key, h, out Hit hit) : Find<AnyKeyShape>(key, h, out hit);
            if (found)
            {
                g = hit.Group;
                record = hit.Record;
                slot = hit.Slot;
            }
        }
        while (true)
        {
            byte* e = NextLive(g, record, slot, out byte* ctrl, out uint word);
            if (e is null)
                return MapStatus.ENOENT;
            if (nextKey is null)
                return MapStatus.EFAULT;
            Buffer.MemoryCopy(e, nextKey, KeySize, KeySize);
            // The slot may be freed and refilled under the copy (remarks, 2d): keep the key only if its block's
            // version did not move (an unlink moves it), so it is a key that was there, whole.
            Volatile.ReadBarrier();
            if (Group.SameVersion(word, Volatile.Read(ref Group.Word(ctrl))))
                return MapStatus.Ok;
        }
    }

    /// <summary>The first live entry after (group g, record, slot) in iteration order, or null; with its block and
    /// the block's word from the snapshot its tag was live in.</summary>
    private byte* NextLive(uint g, uint record, int slot, out byte* ctrl, out uint word)
    {
        for (; g < _groupCount; g++, record = 0, slot = -1)
        {
            if (record == 0)
            {
                ctrl = CtrlOf(g);
                byte* e = LiveAfter(ctrl, EntriesOf(g), slot, out word);
                if (e is not null)
                    return e;
                record = Volatile.Read(ref _chain[g]); // acquire, as in FindInChain
                slot = -1;
            }
            for (uint steps = 0; record != 0 && steps <= _overflow.Capacity; steps++) // bounded: a shared file may be damaged
            {
                ctrl = _overflow.Address(record);
                byte* e = LiveAfter(ctrl, Overflow.Entries(ctrl), slot, out word);
                if (e is not null)
                    return e;
                record = Volatile.Read(ref Overflow.Next(ctrl));
                slot = -1;
            }
        }
        ctrl = null;
        word = 0;
        return null;
    }

    /// <summary>The entry of the first live tag after <paramref name="slot"/> in one block, or null.</summary>
    private byte* LiveAfter(byte* ctrl, byte* entries, int slot, out uint word)
    {
        Vector128<byte> c = Vector128.LoadAligned(ctrl);
        word = Group.WordOf(c);
        uint live = Group.LiveMask(c) & (~0u << (slot + 1));
        Volatile.ReadBarrier();
        return live == 0 ? null : entries + (nuint)BitOperations.TrailingZeroCount(live) * _stride;
    }

    // ---- bulk lookup --------------------------------------------------------------------------

    /// <inheritdoc/>
    public override void LookupMany(byte* keys, byte* values, int* results, uint n)
    {
        if (KeySize == 16)
            LookupMany<Key16Shape>(keys, values, results, n);
        else
            LookupMany<AnyKeyShape>(keys, values, results, n);
    }

    /// <summary>Keys ahead whose control line is prefetched, and whose first candidate entry is.</summary>
    private const int FarAhead = 8, NearAhead = 4, Ring = 16;

    /// <summary>One key's work in a <see cref="Pipeline{TKey, TStep}"/>: a struct, so each loop is compiled apart.</summary>
    private interface IKeyStep
    {
        /// <summary>Runs key i (hash <paramref name="h"/>); returns its result.</summary>
        MapStatus Run(HashStore store, byte* key, ulong h, uint i);
    }

    /// <summary>
    /// A software pipeline over independent keys, as DPDK's bulk lookup and boost's bulk visit run: key
    /// i + 8 is hashed and its control line prefetched, key i + 4's first tag match (its control line has
    /// landed by then) has its entry prefetched, and key i runs; the misses of several keys overlap.
    /// </summary>
    private void Pipeline<TKey, TStep>(byte* keys, int* results, uint n, TStep step)
        where TKey : struct, IKeyShape where TStep : struct, IKeyStep
    {
        ulong* hashes = stackalloc ulong[Ring];
        uint ks = KeySize;
        for (uint j = 0; j < n && j < FarAhead; j++)
            hashes[j] = PrefetchGroup<TKey>(keys + (nuint)j * ks);
        for (uint i = 0; i < n; i++)
        {
            if (i + FarAhead < n)
                hashes[(i + FarAhead) % Ring] = PrefetchGroup<TKey>(keys + (nuint)(i + FarAhead) * ks);
            if (i + NearAhead < n)
                PrefetchCandidate(hashes[(i + NearAhead) % Ring]);
            results[i] = (int)step.Run(this, keys + (nuint)i * ks, hashes[i % Ring], i);
        }
    }

    private struct LookupStep<TKey> : IKeyStep where TKey : struct, IKeyShape
    {
        public byte* Values;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public readonly MapStatus Run(HashStore store, byte* key, ulong h, uint i) =>
            store.LookupHashed<TKey>(key, h, Values + (nuint)i * store.ValueSize);
    }

    private void LookupMany<TKey>(byte* keys, byte* values, int* results, uint n) where TKey : struct, IKeyShape =>
        Pipeline<TKey, LookupStep<TKey>>(keys, results, n, new LookupStep<TKey> { Values = values });

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private MapStatus LookupHashed<TKey>(byte* key, ulong h, byte* value) where TKey : struct, IKeyShape
    {
        while (true)
        {
            if (!Find<TKey>(key, h, out Hit hit))
                return MapStatus.ENOENT;
            if (TryCopyValue(in hit, value))
                return MapStatus.Ok;
        }
    }

    /// <summary>Hashes a key and prefetches its group's control line; returns the hash.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ulong PrefetchGroup<TKey>(byte* key) where TKey : struct, IKeyShape
    {
        ulong h = Hash<TKey>(key);
        if (Sse.IsSupported)
            Sse.Prefetch0(CtrlOf(GroupOf(h)));
        return h;
    }

    /// <summary>Prefetches the entry of the first tag match in a key's main group (a stale read only warms a line).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void PrefetchCandidate(ulong h)
    {
        uint g = GroupOf(h);
        uint m = Group.Match(Vector128.LoadAligned(CtrlOf(g)), Vector128.Create(TagOf(h)));
        if (m != 0 && Sse.IsSupported)
        {
            byte* e = EntriesOf(g) + (nuint)BitOperations.TrailingZeroCount(m) * _stride;
            Sse.Prefetch0(e);
            Sse.Prefetch0(e + _stride - 1);          // an entry may straddle two lines
        }
    }
}
