using System.Runtime.InteropServices;

namespace FastMap;

/// <summary>
/// Where a batch scan resumes: the kernel's opaque <c>in_batch</c>/<c>out_batch</c> u32 (a bucket
/// index for hash maps, the last index returned for arrays). <see cref="Start"/> (the default) is
/// the kernel's NULL <c>in_batch</c>.
/// </summary>
public readonly record struct BatchCursor
{
    private readonly bool _set;

    /// <summary>A cursor at <paramref name="position"/>, as a previous call's <c>out_batch</c> held it.</summary>
    /// <param name="position">The u32 cursor value.</param>
    public BatchCursor(uint position)
    {
        Position = position;
        _set = true;
    }

    /// <summary>The start of the map (a NULL <c>in_batch</c>).</summary>
    public static BatchCursor Start => default;

    /// <summary>True for <see cref="Start"/>.</summary>
    public bool IsStart => !_set;

    /// <summary>The u32 the kernel would read from <c>in_batch</c> (0 at the start).</summary>
    public uint Position { get; }
}

// Batch commands: the kernel's four, and FastMap's batch compare-and-delete. Spans give the counts:
// a batch of n keys is n * KeySize bytes (a length that is not a multiple is EINVAL), with values
// n * ValueBufferSize bytes; zero keys is the kernel's count 0, which does nothing. As in BpfMap.Api.cs, these
// span checks come first, before the command's own checks (the handle's EBADF included).
public sealed unsafe partial class BpfMap
{
    /// <summary>
    /// Copies out whole buckets of entries from <paramref name="cursor"/> on
    /// (<c>BPF_MAP_LOOKUP_BATCH</c>): as many as fit in <paramref name="keys"/>.
    /// </summary>
    /// <param name="cursor">In: where to resume (<see cref="BatchCursor.Start"/> first). Out: where the next call resumes.</param>
    /// <param name="keys">Room for n keys (n * <see cref="KeySize"/> bytes).</param>
    /// <param name="values">Room for n values (at least n * <see cref="ValueBufferSize"/> bytes).</param>
    /// <param name="count">Entries copied.</param>
    /// <param name="flags"><see cref="ElemFlags.Lock"/> (maps with a spin lock) or none.</param>
    /// <returns><see cref="MapStatus.Ok"/> (call again), <see cref="MapStatus.ENOENT"/> (the scan is done; the last
    /// entries are in the buffers), <see cref="MapStatus.ENOSPC"/> (the next bucket alone does not fit: pass larger
    /// buffers), or an argument error.</returns>
    /// <remarks>A full scan returns every key present for its whole duration exactly once, and no key absent
    /// for its whole duration, under any concurrent writers.</remarks>
    public MapStatus LookupBatch(ref BatchCursor cursor, Span<byte> keys, Span<byte> values, out int count, ElemFlags flags = ElemFlags.Any) =>
        ScanBatch(false, ref cursor, keys, values, out count, flags);

    /// <summary>
    /// <see cref="LookupBatch"/> that also deletes what it returns (<c>BPF_MAP_LOOKUP_AND_DELETE_BATCH</c>):
    /// each entry is copied and unlinked under its group's lock, so every returned value was the entry's
    /// last. Not for arrays (<see cref="MapStatus.ENOTSUPP"/>).
    /// </summary>
    /// <param name="cursor">As for <see cref="LookupBatch"/>.</param>
    /// <param name="keys">As for <see cref="LookupBatch"/>.</param>
    /// <param name="values">As for <see cref="LookupBatch"/>.</param>
    /// <param name="count">Entries copied and deleted.</param>
    /// <param name="flags">As for <see cref="LookupBatch"/>.</param>
    /// <returns>As <see cref="LookupBatch"/>.</returns>
    public MapStatus LookupAndDeleteBatch(ref BatchCursor cursor, Span<byte> keys, Span<byte> values, out int count, ElemFlags flags = ElemFlags.Any) =>
        ScanBatch(true, ref cursor, keys, values, out count, flags);

    /// <summary>Creates or replaces n entries in order (<c>BPF_MAP_UPDATE_BATCH</c>), stopping at the first error.</summary>
    /// <param name="keys">n keys.</param>
    /// <param name="values">n values (exactly n * <see cref="ValueBufferSize"/> bytes).</param>
    /// <param name="count">Entries applied before the first error (all n on success).</param>
    /// <param name="flags"><see cref="ElemFlags.Lock"/> or none (the kernel refuses <c>BPF_NOEXIST</c>/<c>BPF_EXIST</c> here).</param>
    /// <returns><see cref="MapStatus.Ok"/>, or the first element's error (for example <see cref="MapStatus.E2BIG"/> when full).</returns>
    public MapStatus UpdateBatch(ReadOnlySpan<byte> keys, ReadOnlySpan<byte> values, out int count, ElemFlags flags = ElemFlags.Any)
    {
        count = 0;
        MapStatus? bad = CheckBatchKeys(keys, out uint n) ?? (values.Length != (long)n * ValueBufferSize ? MapStatus.EINVAL : null);
        if (bad is { } st)
            return st;
        uint c = n;
        fixed (byte* k = keys)
        fixed (byte* v = values)
            st = UpdateBatchCore(this, k, v, &c, (ulong)flags);
        count = Processed(st, c, n);
        return st;
    }

    /// <summary>Deletes n keys in order (<c>BPF_MAP_DELETE_BATCH</c>), stopping at the first error: a missing
    /// key stops it with <see cref="MapStatus.ENOENT"/>, as in the kernel (a collector wants
    /// <see cref="CompareAndDeleteBatch"/>, which goes on).</summary>
    /// <param name="keys">n keys.</param>
    /// <param name="count">Keys deleted before the first error.</param>
    /// <param name="flags"><see cref="ElemFlags.Lock"/> (accepted on spin-lock maps, no effect) or none.</param>
    /// <returns><see cref="MapStatus.Ok"/> or the first error.</returns>
    public MapStatus DeleteBatch(ReadOnlySpan<byte> keys, out int count, ElemFlags flags = ElemFlags.Any)
    {
        count = 0;
        if (CheckBatchKeys(keys, out uint n) is { } st)
            return st;
        uint c = n;
        fixed (byte* k = keys)
            st = DeleteBatchCore(this, k, &c, (ulong)flags);
        count = Processed(st, c, n);
        return st;
    }

    /// <summary>
    /// Batch compare-and-delete: for each key i, deletes it only if its value's window
    /// <c>[offset, offset + size)</c> equals window i of <paramref name="expected"/>, atomically against
    /// every other writer; <paramref name="results"/>[i] gets <see cref="MapStatus.Ok"/>,
    /// <see cref="MapStatus.EBUSY"/> (changed; kept) or <see cref="MapStatus.ENOENT"/>, and the batch
    /// goes on past those. The window size is <c>expected.Length / n</c>.
    /// </summary>
    /// <param name="keys">n keys.</param>
    /// <param name="expected">n windows of the same size, back to back.</param>
    /// <param name="offset">Where the window starts in the value.</param>
    /// <param name="results">At least n results.</param>
    /// <param name="count">Keys processed (n unless the call failed).</param>
    /// <returns><see cref="MapStatus.Ok"/>, or an argument error before anything is deleted: <see cref="MapStatus.EINVAL"/>
    /// (window outside the value, or spans that do not divide), <see cref="MapStatus.EOPNOTSUPP"/> (neither a
    /// <see cref="MapType.Hash"/> map nor an <see cref="MapType.LruHash"/> map created with <see cref="MapFlags.LruCompare"/>,
    /// or a spin-lock value), <see cref="MapStatus.EPERM"/>.</returns>
    public MapStatus CompareAndDeleteBatch(ReadOnlySpan<byte> keys, ReadOnlySpan<byte> expected, uint offset,
        Span<MapStatus> results, out int count)
    {
        count = 0;
        if (CheckBatchKeys(keys, out uint n) is { } st)
            return st;
        if (n == 0)
            return MapStatus.Ok;
        if (expected.IsEmpty || expected.Length % n != 0 || results.Length < n)
            return MapStatus.EINVAL;
        uint c = n;
        fixed (byte* k = keys)
        fixed (byte* e = expected)
        fixed (MapStatus* r = results)
            st = DeleteCompareBatchCore(this, k, e, offset, (uint)(expected.Length / n), (int*)r, &c);
        count = Processed(st, c, n);
        return st;
    }

    /// <summary>
    /// Batch compare-and-swap update (FastMap's): for each key i, replaces its value with value i only if its value's
    /// window <c>[offset, offset + size)</c> equals window i of <paramref name="expected"/>, atomically against every
    /// other writer; <paramref name="results"/>[i] gets <see cref="MapStatus.Ok"/>, <see cref="MapStatus.EBUSY"/> (changed;
    /// not written) or <see cref="MapStatus.ENOENT"/>, and the batch goes on past those. The window size is
    /// <c>expected.Length / n</c>.
    /// </summary>
    /// <param name="keys">n keys.</param>
    /// <param name="values">n values (<see cref="ValueBufferSize"/> bytes each).</param>
    /// <param name="expected">n windows of the same size, back to back.</param>
    /// <param name="offset">Where the window starts in the value.</param>
    /// <param name="results">At least n results.</param>
    /// <param name="count">Keys processed (n unless the call failed).</param>
    /// <returns>As <see cref="CompareAndDeleteBatch(ReadOnlySpan{byte}, ReadOnlySpan{byte}, uint, Span{MapStatus}, out int)"/>;
    /// also <see cref="MapStatus.EINVAL"/> when <paramref name="values"/> does not hold n values.</returns>
    public MapStatus CompareAndUpdateBatch(ReadOnlySpan<byte> keys, ReadOnlySpan<byte> values, ReadOnlySpan<byte> expected, uint offset,
        Span<MapStatus> results, out int count)
    {
        count = 0;
        if (CheckBatchKeys(keys, out uint n) is { } st)
            return st;
        if (n == 0)
            return MapStatus.Ok;
        if (values.Length != (long)n * ValueBufferSize || expected.IsEmpty || expected.Length % n != 0 || results.Length < n)
            return MapStatus.EINVAL;
        uint c = n;
        fixed (byte* k = keys)
        fixed (byte* v = values)
        fixed (byte* e = expected)
        fixed (MapStatus* r = results)
            st = UpdateCompareBatchCore(this, k, v, e, offset, (uint)(expected.Length / n), (int*)r, &c);
        count = Processed(st, c, n);
        return st;
    }

    /// <summary>Typed <see cref="CompareAndUpdateBatch(ReadOnlySpan{byte}, ReadOnlySpan{byte}, ReadOnlySpan{byte}, uint, Span{MapStatus}, out int)"/>.</summary>
    /// <param name="keys">n keys.</param>
    /// <param name="values">n values.</param>
    /// <param name="expected">n windows (for example revisions).</param>
    /// <param name="offset">Where the window starts in the value.</param>
    /// <param name="results">At least n results.</param>
    /// <param name="count">Keys processed.</param>
    /// <returns>As the span overload; <see cref="MapStatus.EINVAL"/> for a size mismatch.</returns>
    public MapStatus CompareAndUpdateBatch<TKey, TValue, TCompare>(ReadOnlySpan<TKey> keys, ReadOnlySpan<TValue> values,
        ReadOnlySpan<TCompare> expected, uint offset, Span<MapStatus> results, out int count)
        where TKey : unmanaged where TValue : unmanaged where TCompare : unmanaged
    {
        count = 0;
        if (sizeof(TKey) != KeySize || sizeof(TValue) != ValueBufferSize || values.Length != keys.Length || expected.Length != keys.Length)
            return MapStatus.EINVAL;
        return CompareAndUpdateBatch(MemoryMarshal.AsBytes(keys), MemoryMarshal.AsBytes(values), MemoryMarshal.AsBytes(expected), offset,
            results, out count);
    }

    /// <summary>Typed <see cref="LookupBatch"/>: <typeparamref name="TKey"/> and <typeparamref name="TValue"/> must have the map's sizes.</summary>
    /// <param name="cursor">As for the span overload.</param>
    /// <param name="keys">n keys' room.</param>
    /// <param name="values">At least n values' room.</param>
    /// <param name="count">Entries copied.</param>
    /// <param name="flags">As for the span overload.</param>
    /// <returns>As the span overload; <see cref="MapStatus.EINVAL"/> for a size mismatch.</returns>
    public MapStatus LookupBatch<TKey, TValue>(ref BatchCursor cursor, Span<TKey> keys, Span<TValue> values, out int count,
        ElemFlags flags = ElemFlags.Any) where TKey : unmanaged where TValue : unmanaged
    {
        count = 0;
        if (sizeof(TKey) != KeySize || sizeof(TValue) != ValueBufferSize)
            return MapStatus.EINVAL;
        return LookupBatch(ref cursor, MemoryMarshal.AsBytes(keys), MemoryMarshal.AsBytes(values), out count, flags);
    }

    /// <summary>Typed <see cref="UpdateBatch"/>.</summary>
    /// <param name="keys">n keys.</param>
    /// <param name="values">n values.</param>
    /// <param name="count">Entries applied.</param>
    /// <param name="flags">As for the span overload.</param>
    /// <returns>As the span overload; <see cref="MapStatus.EINVAL"/> for a size mismatch.</returns>
    public MapStatus UpdateBatch<TKey, TValue>(ReadOnlySpan<TKey> keys, ReadOnlySpan<TValue> values, out int count,
        ElemFlags flags = ElemFlags.Any) where TKey : unmanaged where TValue : unmanaged
    {
        count = 0;
        if (sizeof(TKey) != KeySize || sizeof(TValue) != ValueBufferSize)
            return MapStatus.EINVAL;
        return UpdateBatch(MemoryMarshal.AsBytes(keys), MemoryMarshal.AsBytes(values), out count, flags);
    }

    /// <summary>Typed <see cref="DeleteBatch"/>.</summary>
    /// <param name="keys">n keys.</param>
    /// <param name="count">Keys deleted.</param>
    /// <param name="flags">As for the span overload.</param>
    /// <returns>As the span overload; <see cref="MapStatus.EINVAL"/> for a size mismatch.</returns>
    public MapStatus DeleteBatch<TKey>(ReadOnlySpan<TKey> keys, out int count, ElemFlags flags = ElemFlags.Any) where TKey : unmanaged
    {
        count = 0;
        if (sizeof(TKey) != KeySize)
            return MapStatus.EINVAL;
        return DeleteBatch(MemoryMarshal.AsBytes(keys), out count, flags);
    }

    /// <summary>Typed <see cref="CompareAndDeleteBatch"/>: the window is <c>sizeof(TCompare)</c> bytes at <paramref name="offset"/>.</summary>
    /// <param name="keys">n keys.</param>
    /// <param name="expected">n expected windows (for example <see cref="ulong"/> revisions).</param>
    /// <param name="offset">Where the window starts in the value.</param>
    /// <param name="results">At least n results.</param>
    /// <param name="count">Keys processed.</param>
    /// <returns>As the span overload; <see cref="MapStatus.EINVAL"/> for a size mismatch or fewer windows than keys.</returns>
    public MapStatus CompareAndDeleteBatch<TKey, TCompare>(ReadOnlySpan<TKey> keys, ReadOnlySpan<TCompare> expected, uint offset,
        Span<MapStatus> results, out int count) where TKey : unmanaged where TCompare : unmanaged
    {
        count = 0;
        if (sizeof(TKey) != KeySize || expected.Length != keys.Length)
            return MapStatus.EINVAL;
        return CompareAndDeleteBatch(MemoryMarshal.AsBytes(keys), MemoryMarshal.AsBytes(expected), offset, results, out count);
    }

    private MapStatus ScanBatch(bool delete, ref BatchCursor cursor, Span<byte> keys, Span<byte> values, out int count, ElemFlags flags)
    {
        count = 0;
        if (CheckBatchKeys(keys, out uint n) is { } st)
            return st;
        if (values.Length < (long)n * ValueBufferSize)
            return MapStatus.EINVAL;
        uint c = n;
        uint position = cursor.Position;
        uint next = uint.MaxValue;
        fixed (byte* k = keys)
        fixed (byte* v = values)
            st = LookupBatchCore(this, delete, cursor.IsStart ? null : (byte*)&position, (byte*)&next, k, v, &c, (ulong)flags, 0);
        // A scan that fails before it starts leaves count as passed in (the kernel's order); say 0.
        count = st is MapStatus.Ok or MapStatus.ENOENT or MapStatus.ENOSPC ? (int)c : 0;
        if (next != uint.MaxValue)
            cursor = new BatchCursor(next);           // out_batch was written (a cursor is never u32 max)
        return st;
    }

    /// <summary>
    /// The count a write batch reports: the kernel leaves <c>count</c> as passed in when a check fails
    /// before the first element, and a batch that stopped at an error processed fewer than n, so an
    /// error with the count unchanged means nothing was processed.
    /// </summary>
    private static int Processed(MapStatus st, uint c, uint n) => st != MapStatus.Ok && c == n ? 0 : (int)c;

    private MapStatus? CheckBatchKeys(ReadOnlySpan<byte> keys, out uint n)
    {
        n = (uint)(keys.Length / KeySize);
        return keys.Length % KeySize != 0 ? MapStatus.EINVAL : null;
    }
}
