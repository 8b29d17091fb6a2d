using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace FastMap.Internal;

/// <summary>
/// Overflow records: where a group's keys go when its window's slots are all live or still in limbo. A
/// record holds <see cref="Slots"/> entries and links to the next record of the same group's chain.
/// Records are named by 32-bit ids (0: none), so a chain link is one 4-byte store.
/// </summary>
/// <remarks>
/// <code>
/// record (16-byte aligned): [0..16) control block (tags 0..3 used, 4..10 no slot)
///                           [16..20) next record id | [20..32) unused | [32..) Slots entries
/// </code>
/// <para>Memory. Records live in segments: segment k holds <c>base &lt;&lt; k</c> records in one region the
/// kernel commits page by page as records are first used, so an id's address is a shift, a <c>lzcnt</c>
/// and a multiplication, and every segment is type-stable (never unmapped; see
/// <see cref="NativeRegion.Release"/>). Segments are added, never moved, and published (release) before
/// any record of theirs is handed out; a reader that follows a link it read without a lock bounds-checks
/// the id (<see cref="TryAddress"/>).</para>
/// <para>Ownership. A record belongs to one main group while it is linked; only that group's lock
/// holder writes it or its link (<see cref="HashStore"/> states the rest). This pool's spin lock guards
/// only the free lists and the segments' growth; it is taken while a group lock is held.</para>
/// <para>Reuse. A record unlinked from its chain is retired with the epoch read after its unlink (the
/// pool lock's CAS orders the two) and reused only once <see cref="Epoch.IsSafe"/> says every reader
/// in a section that could still be walking it has left (Epoch rule 4). Readers outside sections detect
/// a reuse by versions instead: a reused record's version keeps counting. Retires are pushed in epoch
/// order, so the oldest is always first in <c>_limbo</c>.</para>
/// </remarks>
internal sealed unsafe class Overflow : IDisposable
{
    /// <summary>Entries a record.</summary>
    public const int Slots = 4;
    /// <summary>Offset of the first entry in a record.</summary>
    public const int Header = 32;
    private const int NextOffset = 16;
    private const int MaxSegments = 40;

    private readonly uint _recordBytes;
    private readonly uint _base;                    // records in segment 0 (a power of two)
    private readonly int _baseBits;
    private readonly NativeRegion[] _segments = new NativeRegion[MaxSegments];
    private readonly nint* _segmentBase;            // segment addresses, read without a lock
    private int _segmentCount;
    private readonly State* _st;                    // the pool's counts and lock: native, or in a shared map's file
    private readonly SharedDomain? _shared;         // a shared map's file (fixed lists and records, its epoch), or null
    private readonly uint _maxRecords;              // ids above this are never handed out (a shared file's records area)

    private uint* _free;                            // ids safe to reuse now
    private int _freeCapacity;
    private Retired* _limbo;                        // retired ids, oldest first, from Head
    private int _limboCapacity;

    /// <summary>The pool's mutable counts (64 bytes): in a shared map they live in its file, so every process
    /// sees one pool. Guarded by <see cref="Lock"/>, except <see cref="Fresh"/>, also read without it.</summary>
    [StructLayout(LayoutKind.Sequential, Size = 64)]
    public struct State
    {
        public int Lock;                            // 0, or the holder (1 in a private map; its owner id in a shared one)
        public uint Fresh;                          // records handed out at least once: ids 1..Fresh
        public int FreeCount;
        public int LimboHead, LimboCount;
        // A move from limbo to the free list changes three counts: they are saved here first (Moving = 1), so a
        // shared map's recovery can put them back if the holder died in between (RecoverLock).
        public int Moving;
        public int SavedFree, SavedHead, SavedCount;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct Retired
    {
        public uint Id;
        public long Epoch;
    }

    /// <summary>Bytes of a record for entries of <paramref name="stride"/> bytes.</summary>
    public static uint RecordBytesFor(uint stride) => (uint)((Header + Slots * (ulong)stride + 15) & ~15ul);

    /// <summary>Bytes of the segment table a store provides (<see cref="Overflow(uint, nint*, State*)"/>).</summary>
    public const int SegmentTableBytes = MaxSegments * 8;

    /// <summary>Bytes of the state a private store provides after the segment table (<see cref="State"/>).</summary>
    public const int StateBytes = 64;

    /// <summary>A pool for entries of <paramref name="stride"/> bytes. Segment 0 holds up to 4,096 records and
    /// at most about 32 MiB of them (at least one); each later segment doubles.</summary>
    /// <param name="stride">Bytes an entry.</param>
    /// <param name="segmentTable"><see cref="SegmentTableBytes"/> zeroed bytes in memory that stays mapped for
    /// the life of the process (the store's control region): readers outside sections look segments up in it,
    /// also after the map closed, when it reads as zeros and no segment is found.</param>
    /// <param name="state"><see cref="StateBytes"/> zeroed bytes of that same memory, for the pool's counts.</param>
    public Overflow(uint stride, nint* segmentTable, State* state)
    {
        _recordBytes = RecordBytesFor(stride);
        ulong fit = Math.Max(1, (32ul << 20) / _recordBytes);
        _base = (uint)Math.Min(4096, 1ul << BitOperations.Log2(fit));
        _baseBits = BitOperations.Log2(_base);
        _segmentBase = segmentTable;
        _st = state;
        _maxRecords = uint.MaxValue - 1;
    }

    /// <summary>A shared map's pool: its state, lists and records at fixed places of the file (<see cref="SharedLayout"/>),
    /// <paramref name="segmentTable"/> private to this process (addresses are this process's), filled here.</summary>
    public Overflow(uint stride, nint* segmentTable, SharedDomain shared)
    {
        SharedLayout l = shared.Layout;
        _recordBytes = RecordBytesFor(stride);
        _base = 64;
        _baseBits = 6;
        _segmentBase = segmentTable;
        _shared = shared;
        _st = (State*)(shared.Base + l.Pool);
        _free = (uint*)(shared.Base + l.FreeList);
        _limbo = (Retired*)(shared.Base + l.LimboList);
        _freeCapacity = (int)l.MaxRecords;
        _limboCapacity = 2 * (int)l.MaxRecords;      // twice: a compaction then never overlaps (CompactLimboLocked)
        _maxRecords = l.MaxRecords;
        // Segment k holds ids base*(2^k - 1) + 1 ..: contiguous in the file from the records area.
        for (int k = 0; k < MaxSegments; k++)
        {
            ulong first = ((ulong)_base << k) - _base;
            if (first >= _maxRecords)
                break;
            segmentTable[k] = (nint)(shared.Base + l.Records + first * _recordBytes);
            _segmentCount = k + 1;
        }
    }

    /// <summary>Bytes of records handed out so far, counted 64 records at a time (what a full use of them
    /// commits), and of the lists.</summary>
    public long Bytes => (((long)Volatile.Read(ref _st->Fresh) + 63) & ~63L) * _recordBytes
        + (long)_freeCapacity * sizeof(uint) + (long)_limboCapacity * sizeof(Retired);

    /// <summary>How much <see cref="Bytes"/> grows by at a time, at most: 64 records, and 256 places in each list.</summary>
    public long StepBytes => 64L * _recordBytes + 256L * (sizeof(uint) + sizeof(Retired));

    /// <summary>Records linked or waiting (test view of how far chains reach).</summary>
    internal uint RecordsForTests => Volatile.Read(ref _st->Fresh) - (uint)Volatile.Read(ref _st->FreeCount);

    /// <summary>The most records a chain walk can meet: a walker that goes past this many is in a loop of
    /// links it read from reused memory.</summary>
    public uint Capacity => Math.Min(Volatile.Read(ref _st->Fresh), _maxRecords);

    /// <summary>The segment and index of record <paramref name="i"/> (0-based): segment k starts at
    /// <c>base * (2^k - 1)</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private (int Segment, nuint Index) Locate(uint i)
    {
        int k = BitOperations.Log2((i >> _baseBits) + 1);
        return (k, (nuint)(i - (uint)(((ulong)_base << k) - _base)));
    }

    /// <summary>A record's address, for an id read under its group's lock.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public byte* Address(uint id)
    {
        if (_shared is not null)
            return TryAddress(id) is var r && r is not null ? r : _sink; // an id from a damaged file: never a wild access
        (int k, nuint index) = Locate(id - 1);
        return (byte*)_segmentBase[k] + index * _recordBytes;
    }

    /// <summary>A shared map's stand-in for a record whose id a damaged file gave out of range: reads find nothing in
    /// it (no live tag, no link), writes land in it harmlessly. Private to the process.</summary>
    private byte* _sink;

    /// <summary>Allocates the sink (a shared map only; false without memory).</summary>
    public bool AllocSink()
    {
        _sink = (byte*)NativeMemory.AlignedAlloc(_recordBytes, 64);
        if (_sink is null)
            return false;
        NativeMemory.Clear(_sink, _recordBytes);
        Group.Init(_sink, Slots);
        return true;
    }

    /// <summary>A record's address for an id read without a lock (perhaps from a record being reused, or
    /// from a closed map's released memory), or null if no published segment holds it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public byte* TryAddress(uint id)
    {
        if (id == 0 || id > _maxRecords)
            return null;
        (int k, nuint index) = Locate(id - 1);
        // Acquire: a published segment's address is complete, and it is never withdrawn.
        nint b = k < MaxSegments ? Volatile.Read(ref _segmentBase[k]) : 0;
        return b == 0 ? null : (byte*)b + index * _recordBytes;
    }

    /// <summary>The entries of a record.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static byte* Entries(byte* record) => record + Header;

    /// <summary>The link of a record to the next one of its chain (0: the last).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ref uint Next(byte* record) => ref *(uint*)(record + NextOffset);

    /// <summary>
    /// An empty record, not linked anywhere, or 0 when none is to be had. The caller fills it and then
    /// links it with a release store, which publishes the fill.
    /// </summary>
    public uint Alloc()
    {
        Acquire();
        if (_shared is not null)
            SharedDomain.Park(SharedDomain.ParkPoint.PoolLocked);
        uint id = 0;
        if (!SaneLocked())
        {
            Release();
            return 0;                                 // a damaged file: no record, the insert answers ENOMEM
        }
        if (_st->FreeCount == 0)
            ReclaimLocked();
        if (_st->FreeCount > 0)
            id = _free[--_st->FreeCount];
        else
        {
            if (_st->LimboCount > 0)
                RequestAdvance();                     // retired records exist but are not safe yet
            if (_st->Fresh < _maxRecords && EnsureSegmentLocked(_st->Fresh) && EnsureListsLocked(_st->Fresh + 1))
                id = ++_st->Fresh;
        }
        Release();
        if (id != 0)
        {
            byte* r = Address(id);
            // Tags empty, the version left counting (a reader outside a section that read this record
            // before it was reused must see its version move), no link.
            uint w = Group.Word(r);
            Group.Init(r, Slots);
            Group.Word(r) = (w + 2 * Group.Version) & ~(Group.Version | Group.Lock | Group.Ext);
            Next(r) = 0;
        }
        return id;
    }

    /// <summary>
    /// Retires a record its owner has just unlinked (release store): reused after a grace period.
    /// </summary>
    public void Retire(uint id)
    {
        Acquire();                                    // its CAS orders the unlink before the epoch read below
        if (SaneLocked())
        {
            if (_st->LimboHead + _st->LimboCount == _limboCapacity)
                CompactLimboLocked();
            // Both lists have room for every record ever handed out (EnsureListsLocked), so this cannot overflow. The
            // entry is written past the count, then the count covers it (one store): a holder killed in between leaves
            // the list as it was (in a shared map; the record is then lost to the pool, never handed out twice).
            _limbo[_st->LimboHead + _st->LimboCount] = new Retired { Id = id, Epoch = CurrentEpoch };
            Volatile.Write(ref _st->LimboCount, _st->LimboCount + 1);
        }
        Release();
    }

    private void ReclaimLocked()
    {
        while (_st->LimboCount > 0 && IsSafe(_limbo[_st->LimboHead].Epoch))
        {
            // Written past the free count first; then the three counts move together, saved before (State.Moving).
            _free[_st->FreeCount] = _limbo[_st->LimboHead].Id;
            _st->SavedFree = _st->FreeCount;
            _st->SavedHead = _st->LimboHead;
            _st->SavedCount = _st->LimboCount;
            Volatile.Write(ref _st->Moving, 1);
            _st->FreeCount++;
            _st->LimboHead++;
            _st->LimboCount--;
            Volatile.Write(ref _st->Moving, 0);
        }
        if (_st->LimboCount == 0)
            _st->LimboHead = 0;
    }

    /// <summary>Under the lock: the counts fit the lists (always, unless a shared map's file was damaged; then the
    /// pool hands out nothing rather than index past its lists).</summary>
    private bool SaneLocked()
    {
        State* st = _st;
        return (uint)st->FreeCount <= (uint)_freeCapacity && (uint)st->LimboHead <= (uint)_limboCapacity
            && (uint)st->LimboCount <= (uint)(_limboCapacity - st->LimboHead) && st->Fresh <= _maxRecords;
    }

    private long CurrentEpoch => _shared is null ? Epoch.Current : _shared.Current;

    private bool IsSafe(long tag) => _shared is null ? Epoch.IsSafe(tag) : _shared.IsSafe(tag);

    private void RequestAdvance()
    {
        if (_shared is null)
            Epoch.RequestAdvance();
        else
            _shared.RequestAdvance();
    }

    /// <summary>Maps the segment that record <paramref name="i"/> (0-based) falls in, if it is not yet.</summary>
    private bool EnsureSegmentLocked(uint i)
    {
        if (i >= uint.MaxValue - 1)
            return false;
        (int k, _) = Locate(i);
        if (k >= MaxSegments)
            return false;
        if (k < _segmentCount)
            return true;
        if (_shared is not null)
            return false;
        var region = NativeRegion.Map(((ulong)_base << k) * _recordBytes);
        if (region.Base is null)
            return false;
        _segments[k] = region;
        Volatile.Write(ref _segmentBase[k], (nint)region.Base); // release: before any id in it is handed out
        _segmentCount = k + 1;
        return true;
    }

    /// <summary>Grows both lists to hold <paramref name="records"/> ids (in steps of 256), so neither ever
    /// grows on its own and the pool's memory changes only when its peak number of records does.</summary>
    private bool EnsureListsLocked(uint records)
    {
        if (records <= _freeCapacity && records <= _limboCapacity)
            return true;
        if (_shared is not null)
            return false;                             // a shared map's lists are fixed, sized for every record
        int want = (int)Math.Min(((ulong)records + 255) & ~255ul, int.MaxValue / 16);
        // A failed grow leaves both lists intact (the first may have grown: harmless) and the caller answers ENOMEM.
        return Allocations.TryGrow(ref _free, ref _freeCapacity, want) && Allocations.TryGrow(ref _limbo, ref _limboCapacity, want);
    }

    /// <summary>Moves the waiting records to the front of the list (the consumed head goes).</summary>
    private void CompactLimboLocked()
    {
        // The copy runs first and the head moves last (one store). With the list twice the records (a shared map's), a
        // full list has LimboHead >= LimboCount, so the copy does not overlap its source, and a holder killed during it
        // leaves the list as it was.
        Buffer.MemoryCopy(_limbo + _st->LimboHead, _limbo, (long)_st->LimboCount * sizeof(Retired), (long)_st->LimboCount * sizeof(Retired));
        _st->LimboHead = 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Acquire()
    {
        // The CAS is a full barrier: the caller's unlink (a release store) is ordered before what follows.
        int me = _shared is null ? 1 : SharedDomain.CurrentOwner;
        if (Interlocked.CompareExchange(ref _st->Lock, me, 0) != 0)
            Spin.Acquire(&_st->Lock, me, _shared);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Release() => Volatile.Write(ref _st->Lock, 0);

    /// <summary>Recovery (<see cref="SharedDomain"/>): releases the pool's lock if <paramref name="owner"/>, a dead
    /// thread, holds it. Each change under it is one store, or a list entry written before the count that covers
    /// it, or (a move from limbo to the free list) three counts saved before they change and put back here, so the
    /// pool is whole whatever instruction the holder died at, and no id is ever in both lists; a record it took and had not linked yet
    /// is lost to this map (as an element cut in half would be).</summary>
    public void RecoverLock(int owner)
    {
        if (Volatile.Read(ref _st->Lock) != owner)
            return;
        if (_st->Moving != 0)
        {
            // Killed between the three counts of a move: back to before it (the entry written past the free count is
            // outside it again, and the id is still first in limbo).
            _st->FreeCount = _st->SavedFree;
            _st->LimboHead = _st->SavedHead;
            _st->LimboCount = _st->SavedCount;
            _st->Moving = 0;
        }
        Interlocked.CompareExchange(ref _st->Lock, 0, owner);
    }

    /// <summary>Releases the records' pages (the ranges stay reserved) and frees the lists. Only after a
    /// grace period following the map's close.</summary>
    public void Dispose()
    {
        if (_shared is not null)
            return;                                   // the file's: it stays with the file
        for (int k = 0; k < _segmentCount; k++)
            _segments[k].Release();
        Allocations.Free(_free, (nuint)_freeCapacity * sizeof(uint));
        Allocations.Free(_limbo, (nuint)_limboCapacity * (nuint)sizeof(Retired));
        _free = null;
        _limbo = null;
        _freeCapacity = _limboCapacity = 0;
        // The segment table lives in the store's control region, which stays mapped (released with it).
    }
}
