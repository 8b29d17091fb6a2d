using System.Runtime.CompilerServices;

namespace FastMap.Internal;

/// <summary>
/// The store of <c>ARRAY</c> maps: <c>max_entries</c> values that always exist, indexed by the 4-byte key.
/// </summary>
/// <remarks>
/// <para>Layout: element i at <c>i * stride</c>: an 8-byte header (a word W: [31..2 version][0 lock]) and
/// the value, rounded up to 8 bytes. Values are written in place, as the kernel's
/// <c>array_map_update_elem</c> writes them; a holder of an in-place pointer sees the new bytes.</para>
/// <para>Concurrency. An element's lock (bit 0 of its W) serialises its writers (the kernel leaves them
/// unserialised; FastMap does not let two updates of one index interleave). A writer makes the version odd,
/// writes, and makes it even again (release stores, a write barrier after the first); a copying reader
/// reads the version, copies, and after a read barrier reads it again, retrying on an odd or moved
/// version, so a copy is never torn. With a spin lock in the value, writers also take it, so a
/// <c>BPF_F_LOCK</c> lookup (under that lock) sees whole values. Nothing is ever freed before the map is.</para>
/// </remarks>
internal sealed unsafe class ArrayStore : MapStore
{
    private const int Header = 8;
    private const uint Lock = 1, Version = 4;

    private readonly NativeRegion _mem;
    private readonly byte* _base;
    private readonly uint _stride;
    private readonly uint _max;

    private ArrayStore(uint valueSize, int spinLockOffset, uint maxEntries, NativeRegion mem, uint stride)
        : base(4, valueSize, spinLockOffset)
    {
        _mem = mem;
        _base = mem.Base;
        _stride = stride;
        _max = maxEntries;
    }

    /// <summary>Builds a store, or null when the memory is not there (<c>-ENOMEM</c>).</summary>
    public static ArrayStore? Create(uint valueSize, int spinLockOffset, uint maxEntries)
    {
        uint stride = (uint)(Header + ((valueSize + 7ul) & ~7ul)); // the command layer bounds value_size
        var mem = NativeRegion.Map((ulong)maxEntries * stride);
        return mem.Base is null ? null : new ArrayStore(valueSize, spinLockOffset, maxEntries, mem, stride);
    }

    /// <inheritdoc/>
    public override bool DeletesKeys => false;

    /// <inheritdoc/>
    public override bool ComparesValues => false;

    /// <inheritdoc/>
    public override long Count => _max;

    /// <inheritdoc/>
    public override long Bytes => (long)_mem.Length;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private byte* Element(uint index) => _base + (nuint)index * _stride;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ref uint Word(byte* element) => ref *(uint*)element;

    /// <inheritdoc/>
    public override MapStatus Lookup(byte* key, byte* value, bool underLock)
    {
        uint index = *(uint*)key;
        if (index >= _max)
            return MapStatus.ENOENT;
        CopyOut(index, value, underLock);
        return MapStatus.Ok;
    }

    private void CopyOut(uint index, byte* dst, bool underLock)
    {
        byte* e = Element(index);
        if (underLock)
        {
            CopyOutLocked(e + Header, dst);
            return;
        }
        ref uint w = ref Word(e);
        while (true)
        {
            uint before = Volatile.Read(ref w);
            if ((before & Version) == 0)
            {
                CopyBytes(e + Header, dst, ValueSize);
                Volatile.ReadBarrier();               // the copy's loads complete before the version is read again
                if (((before ^ Volatile.Read(ref w)) & ~Lock) == 0)
                    break;
            }
            Thread.SpinWait(8);                       // a writer is mid-copy (a few stores)
        }
        ClearLockWord(dst);
    }

    /// <inheritdoc/>
    public override byte* FindValue(byte* key)
    {
        uint index = *(uint*)key;
        return index < _max ? Element(index) + Header : null;
    }

    /// <inheritdoc/>
    /// <remarks><c>array_map_get_next_key</c>: a null or out-of-range key gives index 0; the last index ends.</remarks>
    public override MapStatus GetNextKey(byte* key, byte* nextKey)
    {
        uint index = key is null ? uint.MaxValue : *(uint*)key;
        if (index != uint.MaxValue && index == _max - 1)
            return MapStatus.ENOENT;
        if (nextKey is null)
            return MapStatus.EFAULT;
        *(uint*)nextKey = index >= _max ? 0 : index + 1;
        return MapStatus.Ok;
    }

    /// <inheritdoc/>
    /// <remarks>
    /// The kernel's <c>generic_map_lookup_batch</c>: the cursor is the last key returned (NULL starts before
    /// 0; an index past the end restarts at 0, as get-next-key does); entries are copied until <c>count</c>
    /// or the end (<c>-ENOENT</c>); <c>out_batch</c> is written only if something was copied;
    /// <c>batch.flags</c> is not checked. Null keys or values are <c>-EFAULT</c> before the first copy.
    /// </remarks>
    public override MapStatus LookupBatch(bool delete, byte* inBatch, byte* outBatch, byte* keys, byte* values,
        uint* count, bool underLock, ulong batchFlags)
    {
        uint max = *count;
        if (max == 0)
            return MapStatus.Ok;
        *count = 0;
        bool started = inBatch is not null;
        uint prev = started ? *(uint*)inBatch : 0;
        uint cp = 0;
        MapStatus ret = MapStatus.Ok;
        while (cp < max)
        {
            if (started && prev == _max - 1)
            {
                ret = MapStatus.ENOENT;
                break;
            }
            uint index = !started || prev >= _max ? 0 : prev + 1;
            if (keys is null || values is null)
                return MapStatus.EFAULT;
            ((uint*)keys)[cp] = index;
            CopyOut(index, values + (nuint)cp * ValueSize, underLock);
            cp++;
            prev = index;
            started = true;
        }
        *count = cp;
        if (cp > 0)
        {
            if (outBatch is null)
                return MapStatus.EFAULT;
            *(uint*)outBatch = prev;
        }
        return ret;
    }

    /// <inheritdoc/>
    public override void LookupMany(byte* keys, byte* values, int* results, uint n)
    {
        for (uint i = 0; i < n; i++)
            results[i] = (int)Lookup(keys + (nuint)i * 4, values + (nuint)i * ValueSize, false);
    }

    /// <inheritdoc/>
    /// <remarks><c>array_map_update_elem</c>: an index past the end is <c>-E2BIG</c>; <c>BPF_NOEXIST</c> is
    /// <c>-EEXIST</c> (every index exists); else the value is written in place.</remarks>
    public override MapStatus Update(byte* key, byte* value, ulong flags)
    {
        uint index = *(uint*)key;
        if (index >= _max)
            return MapStatus.E2BIG;
        if ((flags & (ulong)ElemFlags.NoExist) != 0)
            return MapStatus.EEXIST;
        byte* e = Element(index);
        ref uint w = ref Word(e);
        uint v = Volatile.Read(ref w) & ~Lock;
        // The CAS takes the element's lock and is the acquire barrier.
        while (Interlocked.CompareExchange(ref w, v | Lock, v) != v)
        {
            Thread.SpinWait(1);
            v = Volatile.Read(ref w) & ~Lock;
        }
        // Held: W = v | Lock with an even version (every writer leaves it even).
        Volatile.Write(ref w, (v + Version) | Lock);  // odd: copying readers retry
        Volatile.WriteBarrier();                      // the odd version is visible before any byte of the value
        CopyInLive(e + Header, value);
        Volatile.Write(ref w, v + 2 * Version);       // even and unlocked; release: the value's bytes first
        return MapStatus.Ok;
    }

    /// <inheritdoc/>
    public override MapStatus Delete(byte* key) => MapStatus.EINVAL; // array_map_delete_elem

    /// <inheritdoc/>
    public override MapStatus LookupAndDelete(byte* key, byte* value, bool underLock) => MapStatus.ENOTSUPP;

    /// <inheritdoc/>
    public override MapStatus CompareAndDelete(byte* key, byte* compare, uint offset, uint size) => MapStatus.EOPNOTSUPP;

    /// <inheritdoc/>
    public override void CompareAndDeleteMany(byte* keys, byte* compares, uint offset, uint size, int* results, uint n)
    {
        for (uint i = 0; i < n; i++)
            results[i] = (int)MapStatus.EOPNOTSUPP;
    }

    /// <inheritdoc/>
    public override MapStatus CompareAndUpdate(byte* key, byte* value, byte* compare, uint offset, uint size) => MapStatus.EOPNOTSUPP;

    /// <inheritdoc/>
    public override void CompareAndUpdateMany(byte* keys, byte* values, uint valueSize, byte* compares, uint offset, uint size,
        int* results, uint n)
    {
        for (uint i = 0; i < n; i++)
            results[i] = (int)MapStatus.EOPNOTSUPP;
    }

    /// <inheritdoc/>
    public override void Dispose() => _mem.Unmap();
}
