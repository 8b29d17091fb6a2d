using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace FastMap.Internal;

/// <summary>
/// Overflow records: where a group's keys go when its own slots are all live or still in limbo. A
/// record holds <see cref="Slots"/> entries and links to the next record of the same group's chain.
/// Records are named by 32-bit ids (0: none), so a chain link is one 4-byte store.
/// </summary>
/// <remarks>
/// <code>
/// record (16-byte aligned): [0..16) control block (tags 0..3 used, 4..11 no slot)
///                           [16..20) next record id | [20..32) unused | [32..) Slots entries
/// </code>
/// <para>Ownership. A record belongs to one main group while it is linked; only that group's lock
/// holder writes it or its link (<see cref="HashStore"/> states the rest). This pool's spin lock guards
/// only the free lists and the growth of the chunk table; it is taken while a group lock is held.</para>
/// <para>Reuse. A record unlinked from its chain is retired with the epoch read after its unlink (the
/// pool lock's CAS orders the two) and reused only once <see cref="Epoch.IsSafe"/> says every reader
/// that could still be walking it has left (Epoch rule 4). Retires are pushed in epoch order, so the
/// oldest is always first in <c>_limbo</c>. Chunks are never freed before the map is; a replaced chunk
/// table waits for a grace period, as readers may still index it.</para>
/// </remarks>
internal sealed unsafe class Overflow : IDisposable
{
    /// <summary>Entries a record.</summary>
    public const int Slots = 4;
    /// <summary>Offset of the first entry in a record.</summary>
    public const int Header = 32;
    private const int NextOffset = 16;
    private const int ChunkShift = 8;               // 256 records a chunk
    private const uint ChunkMask = (1u << ChunkShift) - 1;

    private readonly uint _recordBytes;
    private nint _table;                            // byte*[]: chunk addresses; replaced when it grows
    private int _tableCapacity;
    private int _chunks;
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

    /// <summary>A pool for entries of <paramref name="stride"/> bytes.</summary>
    public Overflow(uint stride)
    {
        _recordBytes = (uint)((Header + Slots * stride + 15) & ~15L);
    }

    /// <summary>Native bytes held (chunks and lists).</summary>
    public long Bytes => (long)Volatile.Read(ref _chunks) * ((long)_recordBytes << ChunkShift)
        + (long)_tableCapacity * sizeof(nint) + (long)_freeCapacity * sizeof(uint) + (long)_limboCapacity * sizeof(Retired);

    /// <summary>Records linked or waiting (test view of how far chains reach).</summary>
    internal uint RecordsForTests => Volatile.Read(ref _fresh) - (uint)Volatile.Read(ref _freeCount);

    /// <summary>A record's address. Safe to read for a linked record, or one retired after the caller entered its section.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public byte* Address(uint id)
    {
        // Acquire: the chunk a linked id names was published (release) before the link naming it.
        byte** t = (byte**)Volatile.Read(ref _table);
        uint i = id - 1;
        return t[i >> ChunkShift] + (nuint)(i & ChunkMask) * _recordBytes;
    }

    /// <summary>The entries of a record.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static byte* Entries(byte* record) => record + Header;

    /// <summary>The link of a record to the next one of its chain (0: the last).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ref uint Next(byte* record) => ref *(uint*)(record + NextOffset);

    /// <summary>
    /// An empty record, not linked anywhere, or 0 when memory is exhausted. The caller fills it and then
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
            id = FreshLocked();
        }
        Release();
        if (id != 0)
        {
            byte* r = Address(id);
            Group.Init(r, Slots);
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
        // Both lists have room for every record ever made (AddChunkLocked), so this cannot overflow.
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

    private uint FreshLocked()
    {
        if (_fresh == uint.MaxValue - 1)
            return 0;
        uint i = _fresh;                              // the new record's index (id - 1)
        if ((i >> ChunkShift) >= (uint)_chunks && !AddChunkLocked())
            return 0;
        return ++_fresh;
    }

    private bool AddChunkLocked()
    {
        // The lists first: each holds up to every record ever made, so neither ever grows on its own
        // and the pool's memory changes only when its peak number of records does.
        int records = (_chunks + 1) << ChunkShift;
        if ((_freeCapacity < records && !Resize(ref _free, ref _freeCapacity, records))
            || (_limboCapacity < records && !Resize(ref _limbo, ref _limboCapacity, records)))
            return false;
        void* chunk = NativeBlock.AllocZeroed((nuint)_recordBytes << ChunkShift);
        if (chunk is null)
            return false;
        byte** table = (byte**)_table;
        if (_chunks == _tableCapacity)
        {
            int cap = Math.Max(16, _tableCapacity * 2);
            var grown = (byte**)NativeBlock.AllocZeroed((nuint)cap * (nuint)sizeof(nint));
            if (grown is null)
            {
                NativeBlock.Free(chunk);
                return false;
            }
            for (int c = 0; c < _chunks; c++)
                grown[c] = table[c];
            grown[_chunks] = (byte*)chunk;
            // Release: a reader that loads the new table sees every entry copied into it.
            Volatile.Write(ref _table, (nint)grown);
            _tableCapacity = cap;
            if (table is not null)
                Epoch.DeferFree(table); // readers may still index the old table
        }
        else
            table[_chunks] = (byte*)chunk;
        Volatile.Write(ref _chunks, _chunks + 1);
        return true;
    }

    /// <summary>Moves the waiting records to the front of the list (the consumed head goes).</summary>
    private void CompactLimboLocked()
    {
        Buffer.MemoryCopy(_limbo + _limboHead, _limbo, (long)_limboCount * sizeof(Retired), (long)_limboCount * sizeof(Retired));
        _limboHead = 0;
    }

    private static bool Resize<T>(ref T* items, ref int capacity, int wanted) where T : unmanaged
    {
        void* grown;
        try
        {
            grown = NativeMemory.Realloc(items, (nuint)wanted * (nuint)sizeof(T));
        }
        catch (OutOfMemoryException)
        {
            return false;                             // the caller answers ENOMEM; the old list is intact
        }
        items = (T*)grown;
        capacity = wanted;
        return true;
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

    /// <summary>Frees everything. Only after a grace period following the map's close.</summary>
    public void Dispose()
    {
        byte** table = (byte**)_table;
        for (int c = 0; c < _chunks; c++)
            NativeBlock.Free(table[c]);
        NativeBlock.Free(table);
        NativeMemory.Free(_free);
        NativeMemory.Free(_limbo);
        _table = 0;
        _chunks = 0;
    }
}
