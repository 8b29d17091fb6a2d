using System.Runtime.CompilerServices;

namespace FastMap.Internal;

/// <summary>
/// One map type's storage, under the command layer: what <c>struct bpf_map_ops</c> is to the kernel's
/// <c>syscall.c</c>. The commands (<c>Commands/</c>) check handles, permissions, flags and pointers in
/// the kernel's order and then call one method here; a store answers only for keys and values (the
/// errnos the kernel's map type gives under its bucket lock) and owns everything beneath: layout,
/// locks, capacity and when its memory may be reused.
/// </summary>
/// <remarks>
/// <para>Every method runs inside the caller's read-side section (<see cref="Epoch"/>), which is what
/// keeps memory a lock-free read may still see from being reused; arguments are already checked
/// (pointers the kernel would dereference are non-null unless a method says otherwise).</para>
/// <para>Stores: <see cref="HashStore"/> serves <c>HASH</c>, <c>PERCPU_HASH</c> (a value layout) and
/// <c>LRU_HASH</c> (an eviction policy), as the kernel's <c>hashtab.c</c> serves all three;
/// <see cref="ArrayStore"/> serves <c>ARRAY</c>.</para>
/// </remarks>
internal abstract unsafe class MapStore : IDisposable
{
    /// <summary>Key bytes.</summary>
    public readonly uint KeySize;

    /// <summary>Value bytes as lookups return them and updates take them (percpu: every CPU's copy).</summary>
    public readonly uint ValueSize;

    /// <summary>Offset of the 4-byte spin lock inside the value, or -1.</summary>
    public readonly int SpinLockOffset;

    protected MapStore(uint keySize, uint valueSize, int spinLockOffset)
    {
        KeySize = keySize;
        ValueSize = valueSize;
        SpinLockOffset = spinLockOffset;
    }

    /// <summary>True if values hold a spin lock.</summary>
    public bool HasSpinLock => SpinLockOffset >= 0;

    /// <summary>Keys can be deleted (<c>map_delete_elem</c> that can succeed, lookup-and-delete and the
    /// delete batches): false for arrays, whose every index always exists.</summary>
    public abstract bool DeletesKeys { get; }

    /// <summary>The RFC's compare-and-delete (only <c>htab_map_ops</c> has <c>map_delete_elem_cmp</c>).</summary>
    public abstract bool ComparesValues { get; }

    /// <summary>Keys present now (exact when no writer runs).</summary>
    public abstract long Count { get; }

    /// <summary>Native bytes reserved for the map (what a fully used map commits).</summary>
    public abstract long Bytes { get; }

    // ---- reads --------------------------------------------------------------------------------

    /// <summary>Copies a key's value out (<c>-ENOENT</c> if absent); <paramref name="underLock"/>: under
    /// the value's spin lock (<c>BPF_F_LOCK</c>). The copy is never torn by a concurrent writer.</summary>
    public abstract MapStatus Lookup(byte* key, byte* value, bool underLock);

    /// <summary>The stored value of a key, in place, or null. Valid until the caller's section ends when the
    /// store was pinned first (<see cref="PinValues"/>).</summary>
    public abstract byte* FindValue(byte* key);

    /// <summary>Called before a value's address is handed out (<c>lookup_elem_ptr</c>, <c>LookupRef</c>): from
    /// then on the store keeps deleted memory for a grace period, so an address found inside a section keeps
    /// naming its key until the section ends. Stores that never reuse memory ignore it.</summary>
    public virtual void PinValues()
    {
    }

    /// <summary><c>map_get_next_key</c>: a null or absent key gives the first key; the end is
    /// <c>-ENOENT</c>; a null <paramref name="nextKey"/> is <c>-EFAULT</c>, checked last (the kernel
    /// copies out last).</summary>
    public abstract MapStatus GetNextKey(byte* key, byte* nextKey);

    /// <summary>
    /// <c>map_lookup_batch</c> / <c>map_lookup_and_delete_batch</c> after the command's checks
    /// (permissions, elem_flags, a non-null <paramref name="count"/>); <paramref name="batchFlags"/> is
    /// <c>attr->batch.flags</c>, which the hash walk checks and the generic walk does not.
    /// </summary>
    public abstract MapStatus LookupBatch(bool delete, byte* inBatch, byte* outBatch, byte* keys, byte* values,
        uint* count, bool underLock, ulong batchFlags);

    /// <summary>
    /// Copies the values of <paramref name="n"/> keys out (FastMap's bulk lookup): <c>results[i]</c> is 0 or
    /// <c>-ENOENT</c>. Stores overlap the keys' cache misses.
    /// </summary>
    public abstract void LookupMany(byte* keys, byte* values, int* results, uint n);

    // ---- writes -------------------------------------------------------------------------------

    /// <summary><c>map_update_elem</c> after the command's checks: <c>-EEXIST</c>, <c>-ENOENT</c>, then
    /// <c>-E2BIG</c> for a new key in a full map, in that order.</summary>
    public abstract MapStatus Update(byte* key, byte* value, ulong flags);

    /// <summary><c>map_delete_elem</c>: <c>-ENOENT</c> if absent (arrays: <c>-EINVAL</c>).</summary>
    public abstract MapStatus Delete(byte* key);

    /// <summary>Copies a key's value out and deletes the key, atomically. Only where <see cref="DeletesKeys"/>.</summary>
    public abstract MapStatus LookupAndDelete(byte* key, byte* value, bool underLock);

    /// <summary>
    /// The RFC's compare-and-delete after every argument check (the window is inside the value):
    /// <c>-ENOENT</c> if absent, <c>-EBUSY</c> if <c>value[offset, offset + size)</c> differs from
    /// <paramref name="compare"/>, else the key is deleted; atomically against every other writer.
    /// Only where <see cref="ComparesValues"/>.
    /// </summary>
    public abstract MapStatus CompareAndDelete(byte* key, byte* compare, uint offset, uint size);

    /// <summary>
    /// <see cref="CompareAndDelete"/> for <paramref name="n"/> keys and windows (<paramref name="size"/> bytes
    /// apart), results into <paramref name="results"/>; stores overlap the keys' cache misses.
    /// </summary>
    public abstract void CompareAndDeleteMany(byte* keys, byte* compares, uint offset, uint size, int* results, uint n);

    /// <summary>
    /// FastMap's compare-and-swap update (an extension of the RFC) after every argument check: <c>-ENOENT</c> if
    /// absent, <c>-EBUSY</c> if <c>value[offset, offset + size)</c> differs from <paramref name="compare"/>, else the
    /// value is replaced; the compare and the replace are one step against every other writer. Only where
    /// <see cref="ComparesValues"/>.
    /// </summary>
    public abstract MapStatus CompareAndUpdate(byte* key, byte* value, byte* compare, uint offset, uint size);

    /// <summary><see cref="CompareAndUpdate"/> for <paramref name="n"/> keys, values (<paramref name="valueSize"/>
    /// bytes apart) and windows (<paramref name="size"/> bytes apart), results into <paramref name="results"/>.</summary>
    public abstract void CompareAndUpdateMany(byte* keys, byte* values, uint valueSize, byte* compares, uint offset, uint size,
        int* results, uint n);

    /// <summary>Frees every native block. Only after a grace period following the map's close.</summary>
    public abstract void Dispose();

    // ---- values and the embedded spin lock (shared by the stores) -----------------------------

    /// <summary>Copies value bytes; common sizes are constant-size copies the JIT turns into a few vector
    /// moves instead of a call to memmove (measured: a third of a cached lookup's time).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void CopyBytes(byte* src, byte* dst, uint size)
    {
        switch (size)
        {
            case 4: Unsafe.CopyBlockUnaligned(dst, src, 4); break;
            case 8: Unsafe.CopyBlockUnaligned(dst, src, 8); break;
            case 16: Unsafe.CopyBlockUnaligned(dst, src, 16); break;
            case 32: Unsafe.CopyBlockUnaligned(dst, src, 32); break;
            case 64: Unsafe.CopyBlockUnaligned(dst, src, 64); break;
            default: Buffer.MemoryCopy(src, dst, size, size); break;
        }
    }

    /// <summary>Takes the spin lock embedded in a value (<c>BPF_F_LOCK</c>).</summary>
    protected void LockValue(byte* value)
    {
        int* word = (int*)(value + SpinLockOffset);
        // The CAS is the acquire barrier.
        if (Interlocked.CompareExchange(ref *word, 1, 0) != 0)
            Spin.Acquire(word);
    }

    /// <summary>Releases the spin lock embedded in a value.</summary>
    protected void UnlockValue(byte* value) => Volatile.Write(ref *(int*)(value + SpinLockOffset), 0); // release: the copy first

    /// <summary>Copies a stored value out under its spin lock; the lock bytes of the copy read 0, as the kernel's do.</summary>
    protected void CopyOutLocked(byte* stored, byte* dst)
    {
        LockValue(stored);
        CopyBytes(stored, dst, ValueSize);
        UnlockValue(stored);
        *(int*)(dst + SpinLockOffset) = 0;
    }

    /// <summary>Zeroes the spin-lock bytes of a value copied out (no-op without a lock).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    protected void ClearLockWord(byte* dst)
    {
        if (SpinLockOffset >= 0)
            *(int*)(dst + SpinLockOffset) = 0;
    }

    /// <summary>Fills a value no reader can see yet: the caller's bytes, with the lock word zeroed.</summary>
    protected void CopyInFresh(byte* stored, byte* src)
    {
        CopyBytes(src, stored, ValueSize);
        ClearLockWord(stored);
    }

    /// <summary>Overwrites a live value in place. With a spin lock, every byte but the lock word, under the
    /// lock (so a <c>BPF_F_LOCK</c> lookup never sees half of it); without, a plain copy.</summary>
    protected void CopyInLive(byte* stored, byte* src)
    {
        if (SpinLockOffset < 0)
        {
            CopyBytes(src, stored, ValueSize);
            return;
        }
        LockValue(stored);
        uint off = (uint)SpinLockOffset;
        Buffer.MemoryCopy(src, stored, off, off);
        Buffer.MemoryCopy(src + off + 4, stored + off + 4, ValueSize - off - 4, ValueSize - off - 4);
        UnlockValue(stored);
    }
}
