using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace FastMap.Internal;

/// <summary>
/// The store of <c>HASH</c>, <c>PERCPU_HASH</c> and <c>LRU_HASH</c> maps: groups of inline entries in
/// native memory, found by a SIMD match of one-byte tags.
/// </summary>
/// <remarks>
/// <para><b>Layout.</b> A power of two of groups, chosen by the top bits of the key's hash. Group g has a
/// 16-byte control block (<see cref="Group"/>: 11 tags, an outbound count and a word) in one array, four
/// to a cache line, and up to 11 entries (key, then value, each rounded up to 8 bytes) in a second
/// array. A map holds <c>max_entries / 0.8</c> slots, spread evenly over the groups. A key lives in a
/// slot of its home group or, when that is full, of one of the next <see cref="Window"/> - 1 groups
/// (linear probing over groups, never wrapping past the last one; the outbound counts say how far a
/// lookup must go), or else in an overflow record (<see cref="Overflow"/>) of its home group's chain.
/// Keys never move. A lookup is one control-line read (cached at S: 16 bytes a group) and one entry
/// read: one cache miss where the kernel's and FastMap's earlier layouts took two.</para>
/// <para><b>Concurrency.</b></para>
/// <list type="number">
/// <item>Locks. Group g's lock (bit 0 of its word) guards every write to g's control block (tags,
///   outbound count, word), g's entries, and g's overflow records and their links. A key's home lock
///   guards the decision that the key is absent: every writer of a key takes its home group's lock
///   first, then, in ascending order, the locks of the groups it writes in the key's window (a key in
///   its home group or its records needs no other). Windows never wrap, so every thread takes group
///   locks in ascending index order and no cycle can form. Inner locks: a value's spin lock, a capacity
///   shard, the overflow pool (taken under group locks, never the other way round).</item>
/// <item>Unlocked reads. Lookups, get-next-key and batch scans read without any lock: one
///   <see cref="Vector128"/> load gives a block's tags, count and word at one instant, then entries are
///   read. (a) An entry's bytes are written while its tag is not live, and the tag is published by a
///   release store, so a reader that sees a live tag sees a complete key and value. (b) A key's bytes
///   never change while its tag is live. (c) A value overwritten in place is written between two version
///   steps of its block's word (odd during the write, release stores, a write barrier after the first),
///   and a copying reader takes the version with the tags and re-reads it after a read barrier: a moved
///   or odd version means retry, so a copy is never torn. A reader that holds a value in place sees
///   such overwrites (that is the in-place contract). (d) A deleted slot keeps its bytes until reused.
///   In a map whose values were handed out by address it is reused only after a grace period (limbo
///   below), so a reader that found it in a section still reads that key's last value, and never another
///   key's; every other reader validates against the block's version (4). (e) Outbound counts are raised
///   before the tag they account for is published, and lowered only after it is unlinked, so a key
///   present throughout is reached by every probe that looks for it.</item>
/// <item>Limbo. A delete turns the tag into a limbo stamp (<see cref="Group.Limbo"/>): first any stamp
///   (the unlink: readers stop matching), then, after the capacity return's full barrier, either the stamp
///   of the epoch read after the unlink (Epoch rule 4), or, if no value's address was ever handed out, the
///   empty tag: the slot is free at once. Only section holders with an address need the grace period (a
///   copying reader validates instead, and writers re-check what they found under the lock), and the pin
///   word says whether there can be any: <see cref="PinValues"/> sets it with a full barrier before the find
///   that hands an address out, and the unlink reads it after its own barrier, so either that find sees the
///   unlink or the unlink sees the pin (Dekker). The pin is sticky. Stamps are read only by lock holders,
///   so the first one is never used. An insert reuses a limbo slot only when <see cref="Group.LimboSafe"/>.
///   Overflow records are unlinked when they hold no live key and retired through the epoch always
///   (<see cref="Overflow.Retire"/>); a reader walking one keeps a valid link to the rest of the chain.</item>
/// <item>Lookups outside sections. A copying lookup (and a bulk lookup, and the no-write half of a compare:
///   <see cref="PeekCompare"/>) runs without a read-side section, so
///   no grace period waits for it; what it reads may be reused under it. It is still exact because (a)
///   the store's memory is type-stable: never unmapped while the process lives, a closed map's pages only
///   released (reading them gives zeros), overflow ids bounds-checked and chain walks bounded; (b) every
///   change that could pair a reader's snapshot with other bytes moves the block's version: in-place
///   writes (2c), unlinks, and (in the home group's word) every chain link change, and a reused record's
///   version keeps counting; (c) a hit's value is taken only if its block's version did not move, a miss
///   that walked a chain only if the home group's version did not move; (d) the command re-checks the
///   map's closed flag after the reads (a map closed meanwhile answers <c>-EBADF</c>).</item>
/// <item>Linearizability. A hit is linearized at the tag snapshot it matched in; a miss at the snapshot of
///   the last block it read (keys never move, and (e)). Writers decide under the home lock; answers a
///   write may give without writing (EEXIST, ENOENT, a compare-and-delete's EBUSY) come from a validated
///   unlocked read and are linearized there.</item>
/// <item>Shared maps (<see cref="SharedDomain"/>, <see cref="SharedLayout"/>). Everything above holds with these
///   substitutions: a group's lock is its entry in the owners array (a CAS from 0 to the holder's owner id, released by
///   a store of 0; the word's lock bit is never set), so a lock whose holder died can be told and taken back; the epoch
///   of limbo stamps and retires is the file's (<see cref="EpochNow"/>); an in-place write first copies the old value
///   to the writer's undo area (<see cref="WriteInPlace"/>); an insert's spend and a delete's token are announced
///   in the writer's intent (<see cref="SharedDomain.Intent"/>). What recovery repairs is in HashStore.Recovery.cs.
///   Other processes' readers run the same unlocked reads (2, 4) on the same bytes: the file's pages are mapped for as
///   long as the map is open in the process, and kept mapped (as zeros) after it closes.</item>
/// </list>
/// </remarks>
internal sealed unsafe partial class HashStore : MapStore, IRecoverable
{
    /// <summary>Slots per <c>max_entries</c>: live keys fill at most 80% of them (F14 runs to 86%; the rest
    /// is room for slots waiting in limbo).</summary>
    private const double MaxLoad = 0.8;

    /// <summary>Groups a key may live in: its home group and the next seven. Past that (reached only by
    /// degenerate hashes or a parked reader's limbo) keys go to the home group's overflow records.</summary>
    private const int Window = 8;

    private readonly int _groupBits;        // groups = 1 << _groupBits
    private readonly uint _groupCount;
    private readonly uint _slots;           // slots of a main group (6..11; fewer only below 9 entries)
    private readonly uint _stride;          // bytes an entry: round_up(key, 8) + round_up(value, 8)
    private readonly uint _groupBytes;      // _slots * _stride
    private readonly uint _valueOffset;     // round_up(key, 8)
    private readonly byte* _ctrl;           // _groupCount control blocks
    private readonly byte* _entries;        // _groupCount * _groupBytes
    private readonly uint* _chain;          // each main group's first overflow record (0: none)
    private readonly NativeRegion _ctrlMem, _entryMem, _chainMem;
    private readonly Overflow _overflow;
    /// <summary>The epoch memory is stamped with and checked against: the file's in a shared map, else the process's.</summary>
    private long EpochNow => _shared is null ? Epoch.Current : _shared.Current;

    /// <summary>Asks for an advance of the epoch this store's memory waits on (rule 7).</summary>
    private void RequestAdvance()
    {
        if (_shared is null)
            Epoch.RequestAdvance();
        else
            _shared.RequestAdvance();
    }

    private readonly Capacity _capacity;
    private readonly ulong _seed;
    private readonly int _bucketBits;       // batch buckets = 1 << _bucketBits (>= groups)
    private readonly int _tagBucketBits;    // _bucketBits - _groupBits: a bucket's bits below its group's, all in the tag
    private readonly bool _bucketFromTag;   // ...when there are at most 7 of them (always, for the sizes create allows)
    private readonly bool _lru;
    private readonly bool _compares;
    private readonly int _retireEvery;      // retires between epoch advances (Epoch rule 7)
    private readonly uint _maxEntries;
    private uint _evictHand;
    private int _disposed;
    private readonly int* _pinned;          // nonzero once a value's address was handed out (remarks, 3); native for fastmap.h
    private readonly SharedDomain? _shared; // a shared map's file: its epoch, owner-id locks, recovery (null: a private map)
    private readonly uint* _owners;         // shared: each group's lock holder (an owner id), instead of the word's lock bit

    /// <summary>Bytes after the control blocks for the pin word (a line of its own).</summary>
    private const int PinBytes = 64;
    private long _recordLinks, _recordUnlinks;    // overflow records linked and unlinked so far (rare paths)
    private long _evictions;                      // LRU: keys evicted so far

    /// <summary>Test hook: when nonzero, hashes are taken modulo this and re-spread, so keys share whole
    /// hash values (long chains, every tag colliding).</summary>
    internal ulong HashModuloForTests;

    private HashStore(uint keySize, uint valueSize, int spinLockOffset, uint maxEntries, ulong seed, bool lru, bool compares,
        int groupBits, uint slots, NativeRegion ctrl, NativeRegion entries, NativeRegion chain, Capacity capacity)
        : this(keySize, valueSize, spinLockOffset, maxEntries, seed, lru, compares, groupBits, slots, ctrl.Base, entries.Base,
            (uint*)chain.Base, capacity, null)
    {
        _ctrlMem = ctrl;
        _entryMem = entries;
        _chainMem = chain;
        byte* tail = ctrl.Base + (nuint)_groupCount * Group.CtrlBytes + PinBytes;
        _overflow = new Overflow(_stride, (nint*)tail, (Overflow.State*)(tail + Overflow.SegmentTableBytes));
        _pinned = (int*)(ctrl.Base + (nuint)_groupCount * Group.CtrlBytes);
        if (slots < Group.Tags)
            for (uint g = 0; g < _groupCount; g++)
                Group.Init(_ctrl + (nuint)g * Group.CtrlBytes, (int)slots);
    }

    /// <summary>A shared map's store over its file (<see cref="SharedLayout"/>); <paramref name="fresh"/>: a new file,
    /// whose control blocks and capacity are set up here.</summary>
    private HashStore(SharedDomain shared, Capacity capacity, nint* segmentTable, bool fresh)
        : this(shared.Layout.KeySize, shared.Layout.StoredValueSize, -1, shared.Layout.MaxEntries, shared.Layout.Seed,
            shared.Layout.Type == (uint)MapType.LruHash,
            shared.Layout.Type == (uint)MapType.Hash || (shared.Layout.Flags & (ulong)MapFlags.LruCompare) != 0,
            shared.Layout.GroupBits, shared.Layout.Slots, shared.Base + shared.Layout.Ctrl, shared.Base + shared.Layout.Entries,
            (uint*)(shared.Base + shared.Layout.Chain), capacity, shared)
    {
        _overflow = new Overflow(_stride, segmentTable, shared);
        _pinned = shared.Pinned;
        _owners = (uint*)(shared.Base + shared.Layout.Owners);
        if (fresh && _slots < Group.Tags)
            for (uint g = 0; g < _groupCount; g++)
                Group.Init(_ctrl + (nuint)g * Group.CtrlBytes, (int)_slots);
    }

    private HashStore(uint keySize, uint valueSize, int spinLockOffset, uint maxEntries, ulong seed, bool lru, bool compares,
        int groupBits, uint slots, byte* ctrl, byte* entries, uint* chain, Capacity capacity, SharedDomain? shared)
        : base(keySize, valueSize, spinLockOffset)
    {
        _maxEntries = maxEntries;
        _groupBits = groupBits;
        _groupCount = 1u << groupBits;
        _slots = slots;
        _valueOffset = (keySize + 7) & ~7u;
        _stride = _valueOffset + ((valueSize + 7) & ~7u);
        _groupBytes = slots * _stride;
        _ctrl = ctrl;
        _entries = entries;
        _chain = chain;
        _capacity = capacity;
        _seed = seed;
        _lru = lru;
        _compares = compares;
        _shared = shared;
        _bucketBits = Math.Max(groupBits, BitOperations.Log2(BitOperations.RoundUpToPowerOf2(maxEntries)));
        _tagBucketBits = _bucketBits - groupBits;
        _bucketFromTag = _tagBucketBits <= 7;
        // An advance costs a process-wide barrier (1.5 us alone, 56 us with another thread of the process
        // running: Epoch.TryAdvance), and limbo slots wait two advances: a sixteenth of the slots
        // between advances keeps limbo well inside the fifth of the slots no key may use.
        _retireEvery = (int)Math.Clamp((long)_groupCount * slots / 16, 64, 1 << 20);
        _overflow = null!;                      // set by the public constructors
    }

    /// <summary>The groups (as a power of two), slots a group and bytes an entry of a map of these sizes.</summary>
    public static (int GroupBits, uint Slots, ulong Stride) Geometry(uint keySize, uint valueSize, uint maxEntries)
    {
        ulong slotsWanted = Math.Max(2ul, (ulong)Math.Ceiling(maxEntries / MaxLoad));
        int groupBits = BitOperations.Log2(BitOperations.RoundUpToPowerOf2((slotsWanted + Group.Tags - 1) / Group.Tags));
        ulong groups = 1ul << groupBits;
        uint slots = (uint)((slotsWanted + groups - 1) / groups);
        ulong stride = ((keySize + 7ul) & ~7ul) + ((valueSize + 7ul) & ~7ul);
        return (groupBits, slots, stride);
    }

    /// <summary>
    /// A shared map's store over <paramref name="shared"/>'s file: a new file's (<paramref name="fresh"/>) is set up,
    /// an opened one's is taken as it stands. Null without memory for the process's own small tables.
    /// </summary>
    public static HashStore? CreateShared(SharedDomain shared, bool fresh)
    {
        SharedLayout l = shared.Layout;
        var table = (nint*)System.Runtime.InteropServices.NativeMemory.AllocZeroed(Overflow.SegmentTableBytes); // this process's addresses of the records; never freed (a lookup outside a section may read it after close): 320 B a shared handle
        if (table is null)
            return null;
        var capacity = Capacity.InFile(shared.Base + l.Capacity, (int)l.ShardCount, l.MaxEntries, shared, fresh);
        var store = new HashStore(shared, capacity, table, fresh);
        return store._overflow.AllocSink() ? store : null;
    }

    /// <summary>Builds a store, or returns null when the memory is not there (<c>-ENOMEM</c>).</summary>
    /// <param name="keySize">Key bytes.</param>
    /// <param name="valueSize">Stored value bytes (percpu: every CPU's copy).</param>
    /// <param name="spinLockOffset">The value's spin lock, or -1.</param>
    /// <param name="maxEntries">Capacity.</param>
    /// <param name="seed">Hash seed.</param>
    /// <param name="lru">Evict on a full insert (<c>LRU_HASH</c>).</param>
    /// <param name="compares">Compare-and-delete and compare-and-swap allowed (<c>HASH</c>, and <c>LRU_HASH</c> with
    /// <see cref="MapFlags.LruCompare"/>: its evictions take the victim's home lock, as the compares do).</param>
    public static HashStore? Create(uint keySize, uint valueSize, int spinLockOffset, uint maxEntries, ulong seed, bool lru, bool compares)
    {
        // Sizes: the command layer has bounded key + value below 4 MiB and max_entries to 2^27, so every
        // product below fits in 64 bits; NativeRegion refuses what no address space holds.
        (int groupBits, uint slots, ulong stride) = Geometry(keySize, valueSize, maxEntries);
        ulong groups = 1ul << groupBits;
        // After the groups: the pin word (a line of its own), then the overflow pool's segment table and state, all in
        // memory that stays mapped as long as the control blocks do.
        var ctrl = NativeRegion.Map(groups * Group.CtrlBytes + PinBytes + Overflow.SegmentTableBytes + Overflow.StateBytes);
        var entries = NativeRegion.Map(groups * slots * stride);
        var chain = NativeRegion.Map(groups * sizeof(uint));
        Capacity? capacity = ctrl.Base is null || entries.Base is null || chain.Base is null ? null : Capacity.Create(maxEntries);
        if (capacity is null)
        {
            // Nothing was published: no reader can have seen these, so they are unmapped, not kept type-stable.
            ctrl.Unmap();
            entries.Unmap();
            chain.Unmap();
            return null;
        }
        return new HashStore(keySize, valueSize, spinLockOffset, maxEntries, seed, lru, compares, groupBits, slots, ctrl, entries, chain,
            capacity);
    }

    /// <summary>A shared map's file, or null for a private map.</summary>
    internal SharedDomain? Shared => _shared;

    /// <inheritdoc/>
    public override bool DeletesKeys => true;

    /// <inheritdoc/>
    public override bool ComparesValues => _compares;

    /// <inheritdoc/>
    public override long Count => _maxEntries - _capacity.Available;

    /// <inheritdoc/>
    /// <remarks>The overflow records' range is reserved whole but counted only as records are used.</remarks>
    public override long Bytes => _shared is not null ? (long)_shared.Layout.FileBytes
        : (long)(_ctrlMem.Length + _entryMem.Length + _chainMem.Length) + _overflow.Bytes + _capacity.Bytes;

    /// <summary>Test view: overflow records linked or waiting for reuse.</summary>
    internal uint OverflowRecordsForTests => _overflow.RecordsForTests;

    /// <summary>Test view: the step in which overflow records are counted in <see cref="Bytes"/> (64 records,
    /// and their places in the free lists).</summary>
    internal long OverflowStepBytesForTests => _overflow.StepBytes;

    /// <summary>Test view: overflow records linked, and unlinked, since the map was made.</summary>
    internal (long Linked, long Unlinked) RecordTrafficForTests => (Volatile.Read(ref _recordLinks), Volatile.Read(ref _recordUnlinks));

    /// <summary>Test view: keys an LRU map has evicted so far.</summary>
    internal long EvictionsForTests => Volatile.Read(ref _evictions);

    /// <summary>Test view: the batch bucket of a key, and the number of buckets.</summary>
    internal (uint Bucket, uint Buckets) BucketForTests(ReadOnlySpan<byte> key)
    {
        fixed (byte* k = key)
            return (BucketOf(KeySize == 16 ? Hash<Key16Shape>(k) : Hash<AnyKeyShape>(k)), 1u << _bucketBits);
    }

    /// <summary>Test view: slots of a main group, and groups.</summary>
    internal (uint Slots, uint Groups) GeometryForTests => (_slots, _groupCount);

    /// <summary>Test view, for a quiescent map: the sum of the main groups' outbound counts, and their live tags.</summary>
    internal (long Outbound, long LiveTags) GroupTotalsForTests
    {
        get
        {
            long outbound = 0, live = 0;
            for (uint g = 0; g < _groupCount; g++)
            {
                Vector128<byte> c = Vector128.Load(CtrlOf(g));
                outbound += Group.CountOf(c);
                live += BitOperations.PopCount(Group.LiveMask(c));
            }
            return (outbound, live);
        }
    }

    /// <inheritdoc/>
    /// <remarks>A sticky flag, set with a full barrier before the caller's find: an unlink either is visible to
    /// that find, or reads the flag set after its own barrier and keeps the slot in limbo (remarks, 3).</remarks>
    public override void PinValues()
    {
        if (Volatile.Read(ref *_pinned) == 0)
            Interlocked.Exchange(ref *_pinned, 1);
    }

    /// <summary>Test view: whether a value's address was ever handed out.</summary>
    internal bool PinnedForTests => Volatile.Read(ref *_pinned) != 0;

    /// <summary>Fills the geometry fields of a C inline-read descriptor (<see cref="InlineLayout"/>).</summary>
    internal void Describe(InlineLayout.Descriptor* d)
    {
        d->Pinned = (nint)_pinned;
        d->KeySize = KeySize;
        d->ValueSize = ValueSize;
        d->ValueOffset = _valueOffset;
        d->Stride = _stride;
        d->GroupBytes = _groupBytes;
        d->GroupBits = (uint)_groupBits;
        d->Seed = _seed;
        d->Ctrl = (nint)_ctrl;
        d->Entries = (nint)_entries;
    }

    // ---- hashing and addressing ---------------------------------------------------------------

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ulong Hash<TKey>(byte* key) where TKey : struct, IKeyShape
    {
        ulong h = TKey.Hash(key, KeySize, _seed);
        return HashModuloForTests == 0 ? h : KeyHash.Mix(h % HashModuloForTests);
    }

    /// <summary>A key's group: the top bits of its hash.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private uint GroupOf(ulong h) => (uint)((h >> 32) >> (32 - _groupBits));

    /// <summary>A key's batch bucket: more top bits (a group holds whole buckets).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private uint BucketOf(ulong h) => (uint)((h >> 32) >> (32 - _bucketBits));

    /// <summary>A key's tag: the live bit and the seven hash bits right below the group's (Hash16's best
    /// mixed bits are its high ones).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private byte TagOf(ulong h) => (byte)(Group.Live | ((uint)(h >> (57 - _groupBits)) & 0x7F));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private byte* CtrlOf(uint g) => _ctrl + (nuint)g * Group.CtrlBytes;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private byte* EntriesOf(uint g) => _entries + (nuint)g * _groupBytes;

    // ---- the group lock -----------------------------------------------------------------------

    /// <summary>Takes group g's lock (spins; critical sections are short and never wait for a grace period).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void LockGroup(uint g)
    {
        if (_owners is not null)
        {
            LockShared(g);
            return;
        }
        ref uint w = ref Group.Word(CtrlOf(g));
        uint v = Volatile.Read(ref w) & ~Group.Lock;
        // The CAS is the acquire barrier: nothing of the critical section moves above it.
        if (Interlocked.CompareExchange(ref w, v | Group.Lock, v) != v)
            LockGroupSlow(ref w);
    }

    private static void LockGroupSlow(ref uint w)
    {
        var spin = new SpinWait();
        while (true)
        {
            uint v = Volatile.Read(ref w);
            if ((v & Group.Lock) == 0 && Interlocked.CompareExchange(ref w, v | Group.Lock, v) == v)
                return;
            spin.SpinOnce(sleep1Threshold: -1); // never sleeps: the holder may be in a section
        }
    }

    /// <summary>A shared map's group lock: the owners array holds the holder's owner id (the word's lock bit is never
    /// set), so a lock whose holder died can be told and taken back (<see cref="SharedDomain"/>'s recovery).</summary>
    private void LockShared(uint g)
    {
        int me = SharedDomain.CurrentOwner;
        if (Interlocked.CompareExchange(ref *(int*)(_owners + g), me, 0) != 0) // acquire (a full barrier)
            Spin.Acquire((int*)(_owners + g), me, _shared);
        SharedDomain.Park(SharedDomain.ParkPoint.GroupLocked);
    }

    /// <summary>Releases group g's lock: a release store, so every write of the critical section comes first.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void UnlockGroup(uint g)
    {
        if (_owners is not null)
        {
            Volatile.Write(ref _owners[g], 0);
            return;
        }
        ref uint w = ref Group.Word(CtrlOf(g));
        Volatile.Write(ref w, w & ~Group.Lock); // only the holder writes W, so the plain read is current
    }

    /// <summary>Takes the locks of groups <paramref name="first"/> to <paramref name="last"/>, ascending
    /// (the caller may already hold locks of lower groups, never of higher ones).</summary>
    private void LockRange(uint first, uint last)
    {
        for (uint x = first; x <= last; x++)
            LockGroup(x);
    }

    /// <summary>Releases the locks of groups <paramref name="first"/> to <paramref name="last"/>.</summary>
    private void UnlockRange(uint first, uint last)
    {
        for (uint x = last + 1; x-- > first;)
            UnlockGroup(x);
    }

    /// <summary>The last group of home g's window.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private uint WindowEnd(uint g) => Math.Min(g + Window - 1, _groupCount - 1);

    /// <summary>Releases the store's pages (its address ranges stay reserved: a lookup outside a section may
    /// still be reading them, and reads zeros) and frees the rest. Only after a grace period following the
    /// map's close.</summary>
    public override void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        if (_shared is not null)
        {
            _shared.Detach();                     // the map stays in its file for the other processes
            return;
        }
        _ctrlMem.Release();
        _entryMem.Release();
        _chainMem.Release();
        _overflow.Dispose();
        _capacity.Dispose();
    }

    /// <summary>Bumps a block's version by one full step (even to even) under its group's lock: for changes a
    /// reader outside a section must notice (an unlink, a chain link), which are not value writes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void BumpVersion(byte* ctrl)
    {
        ref uint w = ref Group.Word(ctrl);
        Volatile.Write(ref w, w + 2 * Group.Version); // release: the change it covers is stored first
    }
}
