using FastMap.Internal;

namespace FastMap;

public sealed unsafe partial class BpfMap
{
    /// <summary>
    /// FastMap's bulk lookup (no <c>bpf()</c> command has one): for each of <paramref name="count"/> keys,
    /// <c>results[i]</c> is 0 with value i copied out, or <c>-ENOENT</c> with value i untouched. Checks: handle
    /// (<c>-EBADF</c>), read permission (<c>-EPERM</c>), then null keys, values or results with a count above 0
    /// (<c>-EFAULT</c>); count 0 does nothing. Each key is looked up as <see cref="LookupCore"/> would (the same
    /// answer, linearized on its own: the call is not a snapshot); the store overlaps the keys' cache misses.
    /// </summary>
    /// <remarks>Hash maps run it outside a read-side section (HashStore remarks, 4) and read the closed flag again
    /// at the end: a call that raced the map's close answers <c>-EBADF</c> and its results are not to be used.</remarks>
    internal static MapStatus LookupBulkCore(BpfMap? map, byte* keys, byte* values, int* results, uint count)
    {
        if (map is null || Volatile.Read(ref map._closed) != 0)
            return MapStatus.EBADF;
        if (!map._canRead)
            return MapStatus.EPERM;
        if (count == 0)
            return MapStatus.Ok;
        if (keys is null || values is null || results is null)
            return MapStatus.EFAULT;
        if (map._hash is { } hash)
            hash.LookupMany(keys, values, results, count);
        else
        {
            if (map.Enter(out Epoch.ThreadSlot t) is var entered && entered != MapStatus.Ok)
                return entered;
            map._store.LookupMany(keys, values, results, count);
            Epoch.Exit(t);
        }
        // The copies' loads complete before the flag is read again (as in LookupCore).
        Volatile.ReadBarrier();
        return Volatile.Read(ref map._closed) == 0 ? MapStatus.Ok : MapStatus.EBADF;
    }
}
