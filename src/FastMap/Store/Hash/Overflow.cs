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
    private uint _fresh;                            // records handed out at least once: ids 1.._fresh
    private int _lock;

    private uint* _free;                            // ids safe to reuse now
    private int _freeCount, _freeCapacity;
    private Retired* _limbo;                        // retired ids, oldest first, from _limboHead
    private int _limboHead, _limboCount, _limboCapacity;

    [StructLayout(LayoutKind.Sequential)]
    private struct Retired
    {
        public uint Id;
        public long Epoch;
    }

    /// <summary>Bytes of the segment table a store provides (<see cref="Overflow(uint, nint*)"/>).</summary>
    public const int SegmentTableBytes = MaxSegments * 8;

    /// <summary>A pool for entries of <paramref name="stride"/> bytes. Segment 0 holds up to 4,096 records and
    /// at most about 32 MiB of them (at least one); each later segment doubles.</summary>
    /// <param name="stride">Bytes an entry.</param>
    /// <param name="segmentTable"><see cref="SegmentTableBytes"/> zeroed bytes in memory that stays mapped for
    /// the life of the process (the store's control region): readers outside sections look segments up in it,
    /// also after the map closed, when it reads as zeros and no segment is found.</param>
    public Overflow(uint stride, nint* segmentTable)
    {
        _recordBytes = (uint)((Header + Slots * (ulong)stride + 15) & ~15ul);
        ulong fit = Math.Max(1, (32ul << 20) / _recordBytes);
        _base = (uint)Math.Min(4096, 1ul << BitOperations.Log2(fit));
        _baseBits = BitOperations.Log2(_base);
        _segmentBase = segmentTable;
    }

    /// <summary>Bytes of records handed out so far, counted 64 records at a time (what a full use of them
    /// commits), and of the lists.</summary>
    public long Bytes => (((long)Volatile.Read(ref _fresh) + 63) & ~63L) * _recordBytes
        + (long)_freeCapacity * sizeof(uint) + (long)_limboCapacity * sizeof(Retired);

    /// <summary>How much <see cref="Bytes"/> grows by at a time, at most: 64 records, and 256 places in each list.</summary>
    public long StepBytes => 64L * _recordBytes + 256L * (sizeof(uint) + sizeof(Retired));

    /// <summary>Records linked or waiting (test view of how far chains reach).</summary>
    internal uint RecordsForTests => Volatile.Read(ref _fresh) - (uint)Volatile.Read(ref _freeCount);

    /// <summary>The most records a chain walk can meet: a walker that goes past this many is in a loop of
    /// links it read from reused memory.</summary>
    public uint Capacity => Volatile.Read(ref _fresh);

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
        (int k, nuint index) = Locate(id - 1);
        return (byte*)_segmentBase[k] + index * _recordBytes;
    }

    /// <summary>A record's address for an id read without a lock (perhaps from a record being reused, or
    /// from a closed map's released memory), or null if no published segment holds it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public byte* TryAddress(uint id)
    {
        if (id == 0)
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
        uint id = 0;
        if (_freeCount == 0)
            ReclaimLocked();
        if (_freeCount > 0)
            id = _free[--_freeCount];
        else
        {
            if (_limboCount > 0)
                Epoch.RequestAdvance();               // retired records exist but are not safe yet
            if (EnsureSegmentLocked(_fresh) && EnsureListsLocked(_fresh + 1))
                id = ++_fresh;
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
        if (_limboHead + _limboCount == _limboCapacity)
            CompactLimboLocked();
        // Both lists have room for every record ever handed out (EnsureListsLocked), so this cannot overflow.
        _limbo[_limboHead + _limboCount++] = new Retired { Id = id, Epoch = Epoch.Current };
        Release();
    }

    private void ReclaimLocked()
    {
        while (_limboCount > 0 && Epoch.IsSafe(_limbo[_limboHead].Epoch))
        {
            _free[_freeCount++] = _limbo[_limboHead].Id;
            _limboHead++;
            _limboCount--;
        }
        if (_limboCount == 0)
            _limboHead = 0;
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
        int want = (int)Math.Min(((ulong)records + 255) & ~255ul, int.MaxValue / 16);
        // A failed grow leaves both lists intact (the first may have grown: harmless) and the caller answers ENOMEM.
        return Allocations.TryGrow(ref _free, ref _freeCapacity, want) && Allocations.TryGrow(ref _limbo, ref _limboCapacity, want);
    }

    /// <summary>Moves the waiting records to the front of the list (the consumed head goes).</summary>
    private void CompactLimboLocked()
    {
        Buffer.MemoryCopy(_limbo + _limboHead, _limbo, (long)_limboCount * sizeof(Retired), (long)_limboCount * sizeof(Retired));
        _limboHead = 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Acquire()
    {
        // The CAS is a full barrier: the caller's unlink (a release store) is ordered before what follows.
        if (Interlocked.CompareExchange(ref _lock, 1, 0) != 0)
            fixed (int* l = &_lock)
                Spin.Acquire(l);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Release() => Volatile.Write(ref _lock, 0);

    /// <summary>Releases the records' pages (the ranges stay reserved) and frees the lists. Only after a
    /// grace period following the map's close.</summary>
    public void Dispose()
    {
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
