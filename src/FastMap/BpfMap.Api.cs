using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using FastMap.Internal;

namespace FastMap;

// The .NET surface: spans and unmanaged structs in, statuses out.
// Check order. Every method first checks its own arguments, before the map is looked at at all: a span's
// emptiness (EFAULT, the NULL pointer it stands for), its length (EINVAL), a typed overload's sizeof against
// the map's sizes (EINVAL), an empty compare window (EINVAL). Only then does it pin and call the pointer-level
// command (the *Core methods, which C callers reach directly), and that runs the command's own checks in the
// kernel's order (flags before the handle, then handle, permission, ...: README's errno table). So .NET and C
// answer alike whenever the spans are right; with a wrong span the .NET answer is the span's, even where the
// command would have refused earlier (a closed handle's EBADF, unknown flags' EINVAL, a read-only handle's EPERM).
public sealed unsafe partial class BpfMap
{
    /// <summary>Looks a key up and copies its value out (<c>BPF_MAP_LOOKUP_ELEM</c>).</summary>
    /// <param name="key">Exactly <see cref="KeySize"/> bytes.</param>
    /// <param name="value">At least <see cref="ValueBufferSize"/> bytes; receives the value.</param>
    /// <param name="flags"><see cref="ElemFlags.Lock"/> to copy under the value's spin lock, else none.</param>
    /// <returns><see cref="MapStatus.Ok"/>, <see cref="MapStatus.ENOENT"/>, or an argument error.</returns>
    public MapStatus Lookup(ReadOnlySpan<byte> key, Span<byte> value, ElemFlags flags = ElemFlags.Any)
    {
        MapStatus st = CheckKey(key) ?? CheckOut(value) ?? MapStatus.Ok;
        if (st != MapStatus.Ok)
            return st;
        fixed (byte* k = key)
        fixed (byte* v = value)
            return LookupCore(this, k, v, (ulong)flags);
    }

    /// <summary>Creates or replaces a key's value (<c>BPF_MAP_UPDATE_ELEM</c>).</summary>
    /// <param name="key">Exactly <see cref="KeySize"/> bytes.</param>
    /// <param name="value">Exactly <see cref="ValueBufferSize"/> bytes.</param>
    /// <param name="flags"><see cref="ElemFlags.Any"/>, <see cref="ElemFlags.NoExist"/> or <see cref="ElemFlags.Exist"/>, optionally with <see cref="ElemFlags.Lock"/>.</param>
    /// <returns><see cref="MapStatus.Ok"/>, <see cref="MapStatus.EEXIST"/>, <see cref="MapStatus.ENOENT"/>, <see cref="MapStatus.E2BIG"/> (full), or an argument error.</returns>
    public MapStatus Update(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value, ElemFlags flags = ElemFlags.Any)
    {
        MapStatus st = CheckKey(key) ?? CheckIn(value) ?? MapStatus.Ok;
        if (st != MapStatus.Ok)
            return st;
        fixed (byte* k = key)
        fixed (byte* v = value)
            return UpdateCore(this, k, v, (ulong)flags);
    }

    /// <summary>Deletes a key (<c>BPF_MAP_DELETE_ELEM</c>).</summary>
    /// <param name="key">Exactly <see cref="KeySize"/> bytes.</param>
    /// <returns><see cref="MapStatus.Ok"/>, <see cref="MapStatus.ENOENT"/>, or an argument error.</returns>
    public MapStatus Delete(ReadOnlySpan<byte> key)
    {
        MapStatus st = CheckKey(key) ?? MapStatus.Ok;
        if (st != MapStatus.Ok)
            return st;
        fixed (byte* k = key)
            return DeleteCore(this, k, 0, null, 0, 0);
    }

    /// <summary>
    /// Compare-and-delete (<c>BPF_MAP_DELETE_ELEM</c> with <c>BPF_F_COMPARE</c>): deletes the key only if
    /// the value's bytes <c>[offset, offset + expected.Length)</c> still equal <paramref name="expected"/>,
    /// atomically against every other writer.
    /// </summary>
    /// <param name="key">Exactly <see cref="KeySize"/> bytes.</param>
    /// <param name="expected">The window's expected bytes (for example a revision).</param>
    /// <param name="offset">Where the window starts in the value.</param>
    /// <returns><see cref="MapStatus.Ok"/> (deleted), <see cref="MapStatus.EBUSY"/> (changed; kept),
    /// <see cref="MapStatus.ENOENT"/> (absent), <see cref="MapStatus.EINVAL"/> (window outside the value),
    /// <see cref="MapStatus.EOPNOTSUPP"/> (neither a <see cref="MapType.Hash"/> map nor an <see cref="MapType.LruHash"/> map
    /// created with <see cref="MapFlags.LruCompare"/>, or a spin-lock value).</returns>
    public MapStatus CompareAndDelete(ReadOnlySpan<byte> key, ReadOnlySpan<byte> expected, uint offset)
    {
        MapStatus st = CheckKey(key) ?? MapStatus.Ok;
        if (st != MapStatus.Ok)
            return st;
        if (expected.IsEmpty)
            return MapStatus.EINVAL; // size 0 would mean "whole value" in the attr; a span says its size
        fixed (byte* k = key)
        fixed (byte* c = expected)
            return DeleteCore(this, k, (ulong)ElemFlags.Compare, c, offset, (uint)expected.Length);
    }

    /// <summary>
    /// Compare-and-swap update, FastMap's extension (<c>BPF_MAP_UPDATE_ELEM</c> with <c>BPF_F_COMPARE</c>): replaces the
    /// key's value with <paramref name="value"/> only if the bytes <c>[offset, offset + expected.Length)</c> of the
    /// current value still equal <paramref name="expected"/>, the compare and the write one step against every other
    /// writer; a copying reader sees the old value or the new one, never a mix.
    /// </summary>
    /// <param name="key">Exactly <see cref="KeySize"/> bytes.</param>
    /// <param name="value">Exactly <see cref="ValueBufferSize"/> bytes: the new value.</param>
    /// <param name="expected">The window's expected bytes (for example the revision the caller read).</param>
    /// <param name="offset">Where the window starts in the value.</param>
    /// <param name="flags"><see cref="ElemFlags.Any"/> or <see cref="ElemFlags.Exist"/> (alike here); <see cref="ElemFlags.NoExist"/>
    /// and <see cref="ElemFlags.Lock"/> are <see cref="MapStatus.EINVAL"/>.</param>
    /// <returns><see cref="MapStatus.Ok"/> (replaced), <see cref="MapStatus.EBUSY"/> (changed; not written),
    /// <see cref="MapStatus.ENOENT"/> (absent), <see cref="MapStatus.EINVAL"/> (window outside the value, or flags),
    /// <see cref="MapStatus.EOPNOTSUPP"/> (neither a <see cref="MapType.Hash"/> map nor an <see cref="MapType.LruHash"/> map
    /// created with <see cref="MapFlags.LruCompare"/>, or a spin-lock value).</returns>
    public MapStatus CompareAndUpdate(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value, ReadOnlySpan<byte> expected, uint offset,
        ElemFlags flags = ElemFlags.Any)
    {
        MapStatus st = CheckKey(key) ?? CheckIn(value) ?? MapStatus.Ok;
        if (st != MapStatus.Ok)
            return st;
        if (expected.IsEmpty)
            return MapStatus.EINVAL; // size 0 would mean "whole value" in the attr; a span says its size
        fixed (byte* k = key)
        fixed (byte* v = value)
        fixed (byte* c = expected)
            return UpdateCompareCore(this, k, v, (ulong)(flags | ElemFlags.Compare), c, offset, (uint)expected.Length);
    }

    /// <summary>Copies a key's value out and deletes it, atomically (<c>BPF_MAP_LOOKUP_AND_DELETE_ELEM</c>).</summary>
    /// <param name="key">Exactly <see cref="KeySize"/> bytes.</param>
    /// <param name="value">At least <see cref="ValueBufferSize"/> bytes; receives the value.</param>
    /// <param name="flags"><see cref="ElemFlags.Lock"/> or none.</param>
    /// <returns><see cref="MapStatus.Ok"/>, <see cref="MapStatus.ENOENT"/>, or an error.</returns>
    public MapStatus LookupAndDelete(ReadOnlySpan<byte> key, Span<byte> value, ElemFlags flags = ElemFlags.Any)
    {
        MapStatus st = CheckKey(key) ?? CheckOut(value) ?? MapStatus.Ok;
        if (st != MapStatus.Ok)
            return st;
        fixed (byte* k = key)
        fixed (byte* v = value)
            return LookupAndDeleteCore(this, k, v, (ulong)flags);
    }

    /// <summary>
    /// The key after <paramref name="key"/> (<c>BPF_MAP_GET_NEXT_KEY</c>); an empty or absent key gives
    /// the first key; <see cref="MapStatus.ENOENT"/> at the end.
    /// </summary>
    /// <param name="key">Empty (start), or exactly <see cref="KeySize"/> bytes.</param>
    /// <param name="nextKey">At least <see cref="KeySize"/> bytes; receives the next key.</param>
    /// <returns><see cref="MapStatus.Ok"/> or <see cref="MapStatus.ENOENT"/>, or an argument error.</returns>
    public MapStatus GetNextKey(ReadOnlySpan<byte> key, Span<byte> nextKey)
    {
        MapStatus st = (key.IsEmpty ? null : CheckKey(key)) ?? (nextKey.Length < KeySize ? MapStatus.EINVAL : MapStatus.Ok);
        if (st != MapStatus.Ok)
            return st;
        fixed (byte* k = key)
        fixed (byte* n = nextKey)
            return GetNextKeyCore(this, k, n);
    }

    /// <summary>Typed lookup: <typeparamref name="TKey"/> and <typeparamref name="TValue"/> must have the map's sizes.</summary>
    /// <param name="key">The key.</param>
    /// <param name="value">Receives the value (default when not found).</param>
    /// <param name="flags"><see cref="ElemFlags.Lock"/> or none.</param>
    /// <returns>As <see cref="Lookup(ReadOnlySpan{byte}, Span{byte}, ElemFlags)"/>; <see cref="MapStatus.EINVAL"/> for a size mismatch.</returns>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public MapStatus Lookup<TKey, TValue>(in TKey key, out TValue value, ElemFlags flags = ElemFlags.Any)
        where TKey : unmanaged where TValue : unmanaged
    {
        Unsafe.SkipInit(out value);
        if (sizeof(TKey) != KeySize || sizeof(TValue) != ValueBufferSize)
        {
            value = default;
            return MapStatus.EINVAL;
        }
        fixed (TKey* k = &key)
        fixed (TValue* v = &value)
        {
            MapStatus st = LookupCore(this, (byte*)k, (byte*)v, (ulong)flags);
            if (st != MapStatus.Ok)
                *v = default;
            return st;
        }
    }

    /// <summary>
    /// Bulk lookup, a FastMap extension: looks up n keys in one call and copies each found value out, overlapping
    /// the keys' cache misses (as DPDK's bulk lookup and boost's bulk visit do). <paramref name="results"/>[i] is
    /// <see cref="MapStatus.Ok"/> (value i copied) or <see cref="MapStatus.ENOENT"/> (value i untouched). Each key's
    /// answer is what <see cref="Lookup(ReadOnlySpan{byte}, Span{byte}, ElemFlags)"/> gives; the call is not a snapshot.
    /// </summary>
    /// <param name="keys">n keys (n * <see cref="KeySize"/> bytes).</param>
    /// <param name="values">Room for n values (at least n * <see cref="ValueBufferSize"/> bytes).</param>
    /// <param name="results">At least n results.</param>
    /// <returns><see cref="MapStatus.Ok"/> (see <paramref name="results"/>), or <see cref="MapStatus.EINVAL"/> for spans that do
    /// not fit, <see cref="MapStatus.EBADF"/>, <see cref="MapStatus.EPERM"/>.</returns>
    public MapStatus LookupBulk(ReadOnlySpan<byte> keys, Span<byte> values, Span<MapStatus> results)
    {
        if (keys.Length % KeySize != 0)
            return MapStatus.EINVAL;
        int n = keys.Length / KeySize;
        if (values.Length < (long)n * ValueBufferSize || results.Length < n)
            return MapStatus.EINVAL;
        fixed (byte* k = keys)
        fixed (byte* v = values)
        fixed (MapStatus* r = results)
            return LookupBulkCore(this, k, v, (int*)r, (uint)n);
    }

    /// <summary>Typed <see cref="LookupBulk(ReadOnlySpan{byte}, Span{byte}, Span{MapStatus})"/>: <typeparamref name="TKey"/> and
    /// <typeparamref name="TValue"/> must have the map's sizes.</summary>
    /// <param name="keys">n keys.</param>
    /// <param name="values">Room for n values.</param>
    /// <param name="results">At least n results.</param>
    /// <returns>As the span overload; <see cref="MapStatus.EINVAL"/> for a size mismatch.</returns>
    public MapStatus LookupBulk<TKey, TValue>(ReadOnlySpan<TKey> keys, Span<TValue> values, Span<MapStatus> results)
        where TKey : unmanaged where TValue : unmanaged
    {
        if (sizeof(TKey) != KeySize || sizeof(TValue) != ValueBufferSize || values.Length < keys.Length || results.Length < keys.Length)
            return MapStatus.EINVAL;
        fixed (TKey* k = keys)
        fixed (TValue* v = values)
        fixed (MapStatus* r = results)
            return LookupBulkCore(this, (byte*)k, (byte*)v, (int*)r, (uint)keys.Length);
    }

    /// <summary>Typed update.</summary>
    /// <param name="key">The key.</param>
    /// <param name="value">The value.</param>
    /// <param name="flags">As for <see cref="Update(ReadOnlySpan{byte}, ReadOnlySpan{byte}, ElemFlags)"/>.</param>
    /// <returns>As the span overload; <see cref="MapStatus.EINVAL"/> for a size mismatch.</returns>
    public MapStatus Update<TKey, TValue>(in TKey key, in TValue value, ElemFlags flags = ElemFlags.Any)
        where TKey : unmanaged where TValue : unmanaged
    {
        if (sizeof(TKey) != KeySize || sizeof(TValue) != ValueBufferSize)
            return MapStatus.EINVAL;
        fixed (TKey* k = &key)
        fixed (TValue* v = &value)
            return UpdateCore(this, (byte*)k, (byte*)v, (ulong)flags);
    }

    /// <summary>Typed delete.</summary>
    /// <param name="key">The key.</param>
    /// <returns>As the span overload; <see cref="MapStatus.EINVAL"/> for a size mismatch.</returns>
    public MapStatus Delete<TKey>(in TKey key) where TKey : unmanaged
    {
        if (sizeof(TKey) != KeySize)
            return MapStatus.EINVAL;
        fixed (TKey* k = &key)
            return DeleteCore(this, (byte*)k, 0, null, 0, 0);
    }

    /// <summary>Typed compare-and-delete: the window is <c>sizeof(TCompare)</c> bytes at <paramref name="offset"/>.</summary>
    /// <param name="key">The key.</param>
    /// <param name="expected">The window's expected contents (for example a <see cref="ulong"/> revision).</param>
    /// <param name="offset">Where the window starts in the value.</param>
    /// <returns>As the span overload.</returns>
    public MapStatus CompareAndDelete<TKey, TCompare>(in TKey key, in TCompare expected, uint offset)
        where TKey : unmanaged where TCompare : unmanaged
    {
        if (sizeof(TKey) != KeySize)
            return MapStatus.EINVAL;
        fixed (TKey* k = &key)
        fixed (TCompare* c = &expected)
            return DeleteCore(this, (byte*)k, (ulong)ElemFlags.Compare, (byte*)c, offset, (uint)sizeof(TCompare));
    }

    /// <summary>Typed compare-and-swap update: the window is <c>sizeof(TCompare)</c> bytes at <paramref name="offset"/>.</summary>
    /// <param name="key">The key.</param>
    /// <param name="value">The new value.</param>
    /// <param name="expected">The window's expected contents (for example a <see cref="ulong"/> revision).</param>
    /// <param name="offset">Where the window starts in the value.</param>
    /// <param name="flags">As for the span overload.</param>
    /// <returns>As the span overload; <see cref="MapStatus.EINVAL"/> for a size mismatch.</returns>
    public MapStatus CompareAndUpdate<TKey, TValue, TCompare>(in TKey key, in TValue value, in TCompare expected, uint offset,
        ElemFlags flags = ElemFlags.Any)
        where TKey : unmanaged where TValue : unmanaged where TCompare : unmanaged
    {
        if (sizeof(TKey) != KeySize || sizeof(TValue) != ValueBufferSize)
            return MapStatus.EINVAL;
        fixed (TKey* k = &key)
        fixed (TValue* v = &value)
        fixed (TCompare* c = &expected)
            return UpdateCompareCore(this, (byte*)k, (byte*)v, (ulong)(flags | ElemFlags.Compare), (byte*)c, offset, (uint)sizeof(TCompare));
    }

    /// <summary>Typed lookup-and-delete.</summary>
    /// <param name="key">The key.</param>
    /// <param name="value">Receives the value.</param>
    /// <param name="flags"><see cref="ElemFlags.Lock"/> or none.</param>
    /// <returns>As the span overload; <see cref="MapStatus.EINVAL"/> for a size mismatch.</returns>
    public MapStatus LookupAndDelete<TKey, TValue>(in TKey key, out TValue value, ElemFlags flags = ElemFlags.Any)
        where TKey : unmanaged where TValue : unmanaged
    {
        value = default;
        if (sizeof(TKey) != KeySize || sizeof(TValue) != ValueBufferSize)
            return MapStatus.EINVAL;
        fixed (TKey* k = &key)
        fixed (TValue* v = &value)
            return LookupAndDeleteCore(this, (byte*)k, (byte*)v, (ulong)flags);
    }

    /// <summary>
    /// The stored value of <paramref name="key"/>, in place, for a datapath that refreshes a revision
    /// with one aligned store. Empty if absent (or the handle cannot read). Valid only inside a
    /// <see cref="ReadSection"/> and until it ends; the memory is then reused for other keys.
    /// </summary>
    /// <param name="key">Exactly <see cref="KeySize"/> bytes.</param>
    /// <returns>The value's bytes (8-byte aligned), or an empty span.</returns>
    public Span<byte> LookupInPlace(ReadOnlySpan<byte> key)
    {
        System.Diagnostics.Debug.Assert(ReadSection.IsActive, "LookupInPlace outside a ReadSection: the span would outlive its memory's protection.");
        if (key.Length != KeySize || !ReadSection.IsActive)
            return default;
        fixed (byte* k = key)
        {
            byte* v = LookupPointer(k);
            return v is null ? default : new Span<byte>(v, ValueBufferSize);
        }
    }

    /// <summary>
    /// Typed in-place lookup: a reference to the stored value, or a null reference
    /// (<see cref="Unsafe.IsNullRef{T}(ref readonly T)"/>) if absent. Valid only inside a
    /// <see cref="ReadSection"/>, until it ends.
    /// </summary>
    /// <param name="key">The key.</param>
    /// <returns>A reference to the value in the map, or a null reference.</returns>
    public ref TValue LookupRef<TKey, TValue>(in TKey key) where TKey : unmanaged where TValue : unmanaged
    {
        if (sizeof(TKey) != KeySize || sizeof(TValue) != ValueBufferSize || !ReadSection.IsActive)
            return ref Unsafe.NullRef<TValue>();
        fixed (TKey* k = &key)
        {
            byte* v = LookupPointer((byte*)k);
            return ref v is null ? ref Unsafe.NullRef<TValue>() : ref *(TValue*)v;
        }
    }

    private MapStatus? CheckKey(ReadOnlySpan<byte> key) =>
        key.IsEmpty ? MapStatus.EFAULT : key.Length != KeySize ? MapStatus.EINVAL : null;

    private MapStatus? CheckIn(ReadOnlySpan<byte> value) =>
        value.IsEmpty ? MapStatus.EFAULT : value.Length != ValueBufferSize ? MapStatus.EINVAL : null;

    private MapStatus? CheckOut(Span<byte> value) =>
        value.IsEmpty ? MapStatus.EFAULT : value.Length < ValueBufferSize ? MapStatus.EINVAL : null;
}

/// <summary>
/// A read-side section, like <c>rcu_read_lock()</c>: in-place references from
/// <see cref="BpfMap.LookupInPlace"/> and <see cref="BpfMap.LookupRef{TKey, TValue}"/> stay valid until
/// it is disposed. Sections nest and are per thread; dispose on the thread that entered.
/// Keep them short: a thread inside a section holds back the reuse of deleted elements.
/// </summary>
[StructLayout(LayoutKind.Auto)]
public readonly struct ReadSection : IDisposable
{
    private readonly bool _entered;

    private ReadSection(bool entered) => _entered = entered;

    /// <summary>Enters a section.</summary>
    /// <returns>The section; dispose it (a <c>using</c> statement) to leave.</returns>
    public static ReadSection Enter()
    {
        Internal.Epoch.Enter();
        return new ReadSection(true);
    }

    /// <summary>True if the calling thread is inside a section.</summary>
    public static bool IsActive => Internal.Epoch.IsProtected;

    /// <summary>Leaves the section (a default-constructed value does nothing).</summary>
    public void Dispose()
    {
        if (_entered)
            Internal.Epoch.Exit();
    }
}
