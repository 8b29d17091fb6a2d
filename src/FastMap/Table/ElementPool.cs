using System.Diagnostics;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace FastMap.Internal;

/// <summary>
/// Fixed-size elements (key, then value, each rounded up to 8 bytes) in native chunks, named by a
/// 32-bit index, plus the map's capacity tokens. The kernel's <c>pcpu_freelist</c> is the model:
/// state is sharded by the caller's processor so two writers rarely share a line.
/// </summary>
/// <remarks>
/// <para>Locks. Each shard has one spin lock guarding its tokens, its free stack, its bump range and
/// its three limbo stacks. A shard lock is the innermost lock: it may be taken while a stripe is
/// held, never the other way round, and two shard locks are held together only in
/// <see cref="TryTakeTokenSlow"/>, which takes them all in ascending order.</para>
/// <para>Tokens (capacity). A shard's tokens plus live keys sum to <c>max_entries</c>. A new key
/// takes one, a delete gives one back at once, so a delete followed by an insert on a full map
/// succeeds at once, as in the kernel. Tokens never move between shards; when the caller's shard
/// is empty, the slow path holds every shard lock, so "no token anywhere" is a true instant and
/// <c>-E2BIG</c> is exact.</para>
/// <para>Memory. An element that was published (a lock-free reader may hold it) is retired into the
/// limbo stack of the epoch read under the shard lock, and becomes free only when
/// <see cref="Epoch.IsSafe"/> says every reader that could see it has left (Epoch rule 4). An element
/// that was never published is freed at once. When no safe element is left, the pool takes one
/// from another shard, then (if enough limbo is waiting) advances the epoch outside the command's
/// own announcement and retries, then allocates a small new chunk: allocation never waits for
/// readers, and memory stays bounded while readers make progress.</para>
/// <para>Epoch advances. Each costs a process-wide barrier (2.5 us measured here), so a retire only
/// requests one every <c>_advanceEvery</c> retires and the command runs it after leaving its section
/// (<see cref="AdvanceIfRequested"/>): from inside, its own announcement would refuse the advance
/// whenever another thread had advanced meanwhile.</para>
/// </remarks>
internal sealed unsafe class ElementPool : IDisposable
{
    public const uint None = uint.MaxValue;

    [StructLayout(LayoutKind.Sequential)]
    private struct Stack
    {
        public uint* Items;
        public int Count;
        public int Capacity;
        public long Epoch;   // limbo only: the epoch every item was retired in
    }

    // One shard per 192-byte block (three cache lines) so two processors never share one.
    [StructLayout(LayoutKind.Sequential, Size = 192)]
    private struct Shard
    {
        public int Lock;
        public int RetiredSinceAdvance;
        public long Tokens;
        public uint BumpNext;   // never-used elements [BumpNext, BumpEnd)
        public uint BumpEnd;
        public Stack Free;
        public Stack Limbo0;
        public Stack Limbo1;
        public Stack Limbo2;
    }

    /// <summary>Bytes per element: <c>round_up(key, 8) + round_up(value, 8)</c>.</summary>
    public readonly int Stride;
    private readonly int _shift;             // elements per chunk = 1 << _shift
    private readonly uint _chunkMask;
    private nint _chunkTable;                // byte*[]; grows; old tables wait for a grace period
    private byte** _chunks => (byte**)_chunkTable;
    private int _chunkCapacity;
    private uint _elementCount;              // elements that exist (memory accounting)
    private uint _nextIndex;                 // first index of the next chunk
    private readonly Shard* _shards;
    private readonly int _shardMask;
    private readonly int _advanceEvery;      // retires per shard between epoch-advance attempts
    private readonly Lock _growLock = new();
    private readonly List<nint> _blocks = [];
    private byte* _base;                     // the first (preallocated) block, set once in the constructor
    private uint _baseCount;
    private int _disposed;
    private int _closed;                     // managed fields: readable after the native memory is gone
    private int _advanceRequested;

    /// <summary>Creates a pool with <paramref name="tokens"/> capacity tokens.</summary>
    /// <param name="stride">Element size in bytes (a multiple of 8).</param>
    /// <param name="tokens">Capacity (<c>max_entries</c>); 0 for arrays, whose slots always exist.</param>
    /// <param name="prealloc">Elements to allocate now (the kernel preallocates by default).</param>
    /// <param name="growthHint">Expected total elements, to size chunks.</param>
    /// <param name="spare">Elements beyond capacity that limbo may hold before the pool grows.</param>
    private ElementPool(int stride, long tokens, uint prealloc, uint growthHint, uint spare)
    {
        Stride = stride;
        // 64 Ki elements a chunk at most (3 MiB at 48 bytes): growth stays cheap and a chunk
        // index is one shift. Small maps use small chunks. TODO measure other chunk sizes.
        _shift = Math.Clamp(BitOperations.Log2(BitOperations.RoundUpToPowerOf2(Math.Max(growthHint, 64u))), 6, 16);
        _chunkMask = (1u << _shift) - 1;
        int shards = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Clamp(Environment.ProcessorCount, 1, 64));
        _shardMask = shards - 1;
        _shards = (Shard*)NativeBlock.AllocZeroed((nuint)(shards * sizeof(Shard)));
        // Each attempt costs a process-wide barrier (microseconds), so attempts are spaced out;
        // but limbo holds up to three attempts' worth of retires per shard before they are safe,
        // so the spacing stays under a quarter of the spares per shard. TODO measure.
        _advanceEvery = (int)Math.Clamp(spare / (uint)(4 * shards), 16u, 4096u);
        for (int s = 0; s < shards; s++)
            _shards[s].Tokens = tokens / shards + (s == 0 ? tokens % shards : 0);
        _chunkCapacity = 16;
        _chunkTable = (nint)NativeBlock.AllocZeroed((nuint)(_chunkCapacity * sizeof(byte*)));
        if (prealloc > 0 && AddChunks(prealloc, spread: true, out _))
        {
            _base = _chunks[0];
            _baseCount = prealloc;
        }
    }

    /// <summary>Creates a pool, or returns null if the memory is not there (<c>-ENOMEM</c>).</summary>
    public static ElementPool? Create(int stride, long tokens, uint prealloc, uint growthHint, uint spare)
    {
        try
        {
            var pool = new ElementPool(stride, tokens, prealloc, growthHint, spare);
            if (pool._shards is null || pool._chunks is null || (prealloc > 0 && pool._elementCount < prealloc))
            {
                pool.Dispose();
                return null;
            }
            return pool;
        }
        catch (OutOfMemoryException)
        {
            return null;
        }
    }

    /// <summary>Elements allocated so far (for memory accounting).</summary>
    public long ElementCount => Volatile.Read(ref _elementCount);

    /// <summary>Native bytes this pool holds.</summary>
    public long Bytes => ElementCount * Stride + (long)_chunkCapacity * sizeof(byte*);

    /// <summary>The caller's shard: its current processor, as the kernel uses this_cpu.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int CurrentShard() => Thread.GetCurrentProcessorId() & _shardMask;

    /// <summary>The element's address. Reading it is safe while the index is reachable or in limbo.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public byte* Address(uint index)
    {
        // The preallocated block is one array: one multiply, no chunk-table load on the chain from
        // slot word to element.
        if (index < _baseCount)
            return _base + (nuint)index * (nuint)Stride;
        // The chunk table pointer and the chunk were published (release) before any slot named an
        // index in them, and the reader acquired that slot word, so both loads see them.
        byte** chunks = (byte**)Volatile.Read(ref _chunkTable);
        return chunks[index >> _shift] + (nuint)(index & _chunkMask) * (nuint)Stride;
    }

    // ---- tokens ------------------------------------------------------------------------------

    /// <summary>Takes one capacity token for a new key; false means the map is full.</summary>
    public bool TryTakeToken(int shard)
    {
        Shard* s = _shards + shard;
        LockShard(s);
        bool ok = s->Tokens > 0;
        if (ok)
            s->Tokens--;
        UnlockShard(s);
        return ok || TryTakeTokenSlow();
    }

    private bool TryTakeTokenSlow()
    {
        // All shard locks, ascending: while they are all held no token can appear or vanish, so
        // "none anywhere" is exact (a false E2BIG here would break the capacity contract).
        for (int i = 0; i <= _shardMask; i++)
            LockShard(_shards + i);
        bool ok = false;
        for (int i = 0; i <= _shardMask && !ok; i++)
        {
            if (_shards[i].Tokens > 0)
            {
                _shards[i].Tokens--;
                ok = true;
            }
        }
        for (int i = _shardMask; i >= 0; i--)
            UnlockShard(_shards + i);
        return ok;
    }

    /// <summary>Gives a token back (a key was deleted, or an insert failed after taking one).</summary>
    public void ReturnToken(int shard)
    {
        Shard* s = _shards + shard;
        LockShard(s);
        s->Tokens++;
        UnlockShard(s);
    }

    /// <summary>Tokens left in all shards (a racy sum, for statistics).</summary>
    public long TokensApprox
    {
        get
        {
            long n = 0;
            for (int i = 0; i <= _shardMask; i++)
                n += Volatile.Read(ref _shards[i].Tokens);
            return n;
        }
    }

    // ---- elements ----------------------------------------------------------------------------

    /// <summary>Takes an element no reader can see; <see cref="None"/> when memory is exhausted.</summary>
    public uint Alloc(int shard)
    {
        Shard* s = _shards + shard;
        LockShard(s);
        uint idx = PopLocked(s);
        UnlockShard(s);
        return idx != None ? idx : AllocSlow(shard);
    }

    private uint AllocSlow(int shard)
    {
        // 1. Another shard's free elements, one shard lock at a time: no barrier needed.
        uint idx = PopAny(shard, 1);
        if (idx != None)
            return idx;
        // 2. If enough of our limbo is waiting, advance (a process-wide barrier each; three
        //    tries, as one advance may land while another thread's command still holds the
        //    previous epoch) and reuse it. Advancing whenever the free stack runs dry would shrink epochs to
        //    a retire or two and pay a barrier per allocation; waiting for half an advance
        //    interval's worth keeps batches large. Our own announcement would refuse the advance
        //    once another thread advanced during this command, so when the command's section is
        //    the only one (it holds no element reference before publishing), leave and re-enter
        //    it, then check the map is still open.
        long pending = 0;
        for (int i = 0; i <= _shardMask; i++) // a racy sum is enough for a heuristic
            pending += Volatile.Read(ref _shards[i].Limbo0.Count) + Volatile.Read(ref _shards[i].Limbo1.Count) + Volatile.Read(ref _shards[i].Limbo2.Count);
        if (pending >= Math.Max(1, _advanceEvery / 2))
        {
            for (int attempt = 0; attempt < 3 && idx == None; attempt++)
            {
                // Re-announce before every attempt: two writers here at once would otherwise each
                // hold the epoch the other just advanced from, and both would fail every attempt.
                if (Epoch.Depth == 1)
                {
                    Epoch.Exit();
                    Epoch.Enter();
                    if (IsClosed)
                        return None; // closed meanwhile: our pool may be freed after this section
                }
                Epoch.TryAdvance();
                idx = PopAny(shard, 0);                // ours first, then the others'
            }
            if (idx != None)
                return idx;
        }
        // 3. Fresh memory: readers are slow, and we never wait for them (Epoch rule 5).
        // The caller keeps the new range's first element: popping it from the shard afterwards
        // could find the range already taken by another thread of the shard, if this one was
        // preempted in between (found by the close-while-in-use test: a false ENOMEM).
        lock (_growLock)
            return AddChunks(GrowStep, spread: false, out uint first, into: shard) ? first : None;
    }

    /// <summary>Pops from shards <c>shard + from</c>, <c>shard + from + 1</c>, ... (wrapping), one lock at a time.</summary>
    private uint PopAny(int shard, int from)
    {
        for (int i = from; i <= _shardMask; i++)
        {
            Shard* o = _shards + ((shard + i) & _shardMask);
            LockShard(o);
            uint idx = PopLocked(o);
            UnlockShard(o);
            if (idx != None)
                return idx;
        }
        return None;
    }

    /// <summary>Elements added per growth: a quarter of the spares' worth of retires, at least a cache
    /// line's worth of indices, so growth while a reader is parked comes in modest steps.</summary>
    private uint GrowStep => (uint)Math.Max(64, _advanceEvery * (_shardMask + 1));

    /// <summary>Frees an element that was never published: no reader can hold it.</summary>
    public void FreeNow(int shard, uint index)
    {
        Shard* s = _shards + shard;
        LockShard(s);
        bool ok = Push(&s->Free, index);
        UnlockShard(s);
        Debug.Assert(ok, "free stack growth failed; the element leaks (harmless, counted in memory).");
    }

    /// <summary>
    /// Retires an element after it was unlinked: it is reused only after a grace period. The
    /// caller must have made the unlink visible (a release store); it may hold a stripe lock. Every
    /// <c>_advanceEvery</c> retires this requests an epoch advance, which the command runs after
    /// leaving its section (<see cref="AdvanceIfRequested"/>).
    /// </summary>
    public void Retire(int shard, uint index)
    {
        Shard* s = _shards + shard;
        LockShard(s);
        bool advance = RetireLocked(s, index);
        UnlockShard(s);
        if (advance)
            Volatile.Write(ref _advanceRequested, 1); // done by the command after it leaves its section
    }

    /// <summary>
    /// A delete's bookkeeping in one shard-lock hold: gives the key's capacity token back and
    /// retires its element (as <see cref="ReturnToken"/> then <see cref="Retire"/>, one atomic
    /// acquisition instead of two). Called under the key's stripe, after the unlink's release store.
    /// </summary>
    public void ReturnTokenAndRetire(int shard, uint index)
    {
        Shard* s = _shards + shard;
        LockShard(s);
        s->Tokens++;
        bool advance = RetireLocked(s, index);
        UnlockShard(s);
        if (advance)
            Volatile.Write(ref _advanceRequested, 1);
    }

    /// <summary>Pushes a retired element into the limbo of the current epoch; true if an advance is due.</summary>
    private bool RetireLocked(Shard* s, uint index)
    {
        // The tag is read under the shard lock, after the unlink (the lock's CAS orders them), so
        // tags pushed into this shard never decrease and a bucket holding another epoch of the
        // same residue mod 3 is at least three epochs old: safe by rule 4.
        long e = Epoch.Current;
        Stack* bucket = Limbo(s, e);
        if (bucket->Count > 0 && bucket->Epoch != e)
        {
            Debug.Assert(Epoch.IsSafe(bucket->Epoch), "limbo bucket reused before its grace period ended");
            MoveToFree(s, bucket);
        }
        bucket->Epoch = e;
        bool ok = Push(bucket, index);
        Debug.Assert(ok, "limbo growth failed; the element leaks (harmless, counted in memory).");
        bool advance = ++s->RetiredSinceAdvance >= _advanceEvery;
        if (advance)
            s->RetiredSinceAdvance = 0;
        return advance;
    }

    /// <summary>
    /// Called by a command after it left its section: runs an epoch advance that a retire asked
    /// for. Advancing from inside the section would be refused by our own announcement whenever
    /// another thread has advanced meanwhile (Epoch rule 3).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void AdvanceIfRequested()
    {
        if (Volatile.Read(ref _advanceRequested) != 0 && Interlocked.Exchange(ref _advanceRequested, 0) != 0)
            Epoch.TryAdvance();
    }

    /// <summary>Set (before the grace period starts) when the map closes: allocation then gives up.</summary>
    public void MarkClosed() => Interlocked.Exchange(ref _closed, 1); // full fence: before the grace period's tag is read

    /// <summary>True once the map is closed.</summary>
    public bool IsClosed => Volatile.Read(ref _closed) != 0;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Stack* Limbo(Shard* s, long epoch) => &s->Limbo0 + (int)(epoch % 3);

    private uint PopLocked(Shard* s)
    {
        if (s->Free.Count == 0)
            ReclaimLocked(s);
        if (s->Free.Count > 0)
            return s->Free.Items[--s->Free.Count];
        if (s->BumpNext < s->BumpEnd)
            return s->BumpNext++;
        return None;
    }

    private static void ReclaimLocked(Shard* s)
    {
        for (int i = 0; i < 3; i++)
        {
            Stack* b = &s->Limbo0 + i;
            if (b->Count > 0 && Epoch.IsSafe(b->Epoch))
                MoveToFree(s, b);
        }
    }

    private static void MoveToFree(Shard* s, Stack* bucket)
    {
        if (s->Free.Count == 0)
        {
            // Swap the buffers: O(1), and the emptied free buffer becomes the limbo's.
            (s->Free, *bucket) = (*bucket, s->Free);
            s->Free.Epoch = 0;
            bucket->Count = 0;
            return;
        }
        for (int i = 0; i < bucket->Count; i++)
            if (!Push(&s->Free, bucket->Items[i]))
                break;
        bucket->Count = 0;
    }

    private static bool Push(Stack* st, uint value)
    {
        if (st->Count == st->Capacity)
        {
            int cap = Math.Max(64, st->Capacity * 2);
            void* grown;
            try
            {
                grown = NativeMemory.Realloc(st->Items, (nuint)cap * sizeof(uint));
            }
            catch (OutOfMemoryException)
            {
                return false;
            }
            st->Items = (uint*)grown;
            st->Capacity = cap;
        }
        st->Items[st->Count++] = value;
        return true;
    }

    /// <summary>Adds <paramref name="count"/> fresh elements in one block. Indices are chunk-aligned
    /// (a chunk is <c>1 &lt;&lt; _shift</c> indices) but the block holds only <paramref name="count"/>
    /// elements: the tail of its last chunk is index space that is never handed out. Caller holds
    /// <c>_growLock</c> or is the constructor. <paramref name="first"/> is the block's first index;
    /// without <paramref name="spread"/> it is the caller's, not the shard's.</summary>
    private bool AddChunks(uint count, bool spread, out uint first, int into = 0)
    {
        first = None;
        uint chunkElems = 1u << _shift;
        uint chunks = (count + chunkElems - 1) >> _shift;
        ulong end = (ulong)_nextIndex + (ulong)chunks * chunkElems;
        if (end >= None - 1)
            return false; // indices are 32-bit, with two values reserved by the slot encoding
        byte* block = (byte*)NativeBlock.AllocZeroed((nuint)count * (nuint)Stride);
        if (block is null)
            return false;
        _blocks.Add((nint)block);
        first = _nextIndex;
        int firstChunk = (int)(first >> _shift);
        byte** table = _chunks;
        int cap = _chunkCapacity;
        if (firstChunk + (int)chunks > _chunkCapacity)
        {
            cap = Math.Max(_chunkCapacity * 2, firstChunk + (int)chunks);
            table = (byte**)NativeBlock.AllocZeroed((nuint)cap * (nuint)sizeof(byte*));
            if (table is null)
                return false;
            Buffer.MemoryCopy(_chunks, table, (long)cap * sizeof(byte*), (long)_chunkCapacity * sizeof(byte*));
        }
        for (uint c = 0; c < chunks; c++)
            table[firstChunk + c] = block + (nuint)c * chunkElems * (nuint)Stride;
        if (table != _chunks)
        {
            byte** old = _chunks;
            _chunkCapacity = cap;
            // Release: a reader that loads the new table sees its filled entries.
            Volatile.Write(ref _chunkTable, (nint)table);
            Epoch.DeferFree(old); // readers may still index the old table (its entries stay valid)
        }
        _nextIndex = (uint)end;
        // Hand the new range out as bump ranges: one shard (growth) or split over all (prealloc).
        if (spread)
        {
            uint per = count / (uint)(_shardMask + 1);
            uint next = first;
            for (int i = 0; i <= _shardMask; i++)
            {
                uint n = i == _shardMask ? first + count - next : per;
                _shards[i].BumpNext = next;
                _shards[i].BumpEnd = next + n;
                next += n;
            }
        }
        else
        {
            // Growth for one allocation: its caller takes the first element (out first) and the
            // shard the rest.
            Shard* s = _shards + into;
            LockShard(s);
            for (uint i = s->BumpNext; i < s->BumpEnd; i++) // keep any unused bump range
                Push(&s->Free, i);
            s->BumpNext = first + 1;
            s->BumpEnd = first + count;
            UnlockShard(s);
        }
        Volatile.Write(ref _elementCount, _elementCount + count);
        return true;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void LockShard(Shard* s)
    {
        // Shard critical sections are a few instructions; contention means the other core holds it.
        if (Interlocked.CompareExchange(ref s->Lock, 1, 0) != 0)
            SpinLockSlow(&s->Lock);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void UnlockShard(Shard* s) => Volatile.Write(ref s->Lock, 0); // release: our writes first

    internal static void SpinLockSlow(int* word)
    {
        var spin = new SpinWait();
        do
        {
            // Never sleeps: a holder may be inside a read-side section, and sleeping here would only
            // delay it (locks are held for bounded work and never across a grace-period wait).
            spin.SpinOnce(sleep1Threshold: -1);
        }
        while (Volatile.Read(ref *word) != 0 || Interlocked.CompareExchange(ref *word, 1, 0) != 0);
    }

    /// <summary>Frees everything. Only after a grace period following the map's close.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        foreach (nint b in _blocks)
            NativeBlock.Free((void*)b);
        _blocks.Clear();
        if (_shards is not null)
        {
            for (int i = 0; i <= _shardMask; i++)
            {
                NativeMemory.Free(_shards[i].Free.Items);
                NativeMemory.Free(_shards[i].Limbo0.Items);
                NativeMemory.Free(_shards[i].Limbo1.Items);
                NativeMemory.Free(_shards[i].Limbo2.Items);
            }
            NativeBlock.Free(_shards);
        }
        NativeBlock.Free(_chunks);
    }
}
