using System.Runtime.CompilerServices;
using FastMap.Internal;

namespace FastMap;

public sealed unsafe partial class BpfMap
{
    /// <summary>
    /// <c>BPF_MAP_LOOKUP_ELEM</c> at pointer level, in the 6.18 check order: flags (before the handle),
    /// handle, read permission, <c>BPF_F_LOCK</c> without a lock, key pointer, absent key, value pointer.
    /// The one lookup path: the span and typed overloads and the C ABI all come here.
    /// </summary>
    /// <remarks>A hash map's copying lookup, once every check has passed, runs outside a read-side section
    /// (HashStore remarks, 4): it validates what it copied, and the closed flag is read again after the
    /// copy, so a lookup that raced the map's close answers <c>-EBADF</c>, never bytes of released pages.
    /// Every other case takes the general path, in a section.</remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static MapStatus LookupCore(BpfMap? map, byte* key, byte* value, ulong flags)
    {
        if ((flags & ~(ulong)ElemFlags.Lock) != 0)
            return MapStatus.EINVAL;
        if (map is null)
            return MapStatus.EBADF;
        if (flags == 0 && map._hash is { } hash && map._canRead && key is not null && value is not null)
        {
            if (Volatile.Read(ref map._closed) != 0)
                return MapStatus.EBADF;
            MapStatus st = hash.LookupCopy(key, value);
            // The copy's loads complete before the flag is read again; closed since then, the pages may
            // have been released under the copy: the answer is the close's.
            Volatile.ReadBarrier();
            return Volatile.Read(ref map._closed) == 0 ? st : MapStatus.EBADF;
        }
        return LookupInSection(map, key, value, flags);
    }

    private static MapStatus LookupInSection(BpfMap map, byte* key, byte* value, ulong flags)
    {
        if (map.Enter(out Epoch.ThreadSlot t) is var entered && entered != MapStatus.Ok)
            return entered;
        MapStatus ret;
        MapStore s = map._store;
        bool locked = flags != 0;
        if (!map._canRead)
            ret = MapStatus.EPERM;
        else if (locked && !s.HasSpinLock)
            ret = MapStatus.EINVAL;
        else if (key is null)
            ret = MapStatus.EFAULT;
        else if (value is null)
            ret = s.FindValue(key) is null ? MapStatus.ENOENT : MapStatus.EFAULT; // the kernel copies out last
        else
            ret = s.Lookup(key, value, locked);
        Epoch.Exit(t);
        return ret;
    }

    /// <summary>
    /// In-place lookup for the datapath: the address of the stored value, or null if absent (or the
    /// handle cannot read). The caller must be inside a read-side section; the address stays valid
    /// until the section ends, and is 8-byte aligned.
    /// </summary>
    internal byte* LookupPointer(byte* key)
    {
        if (key is null || EnterReader(out Epoch.ThreadSlot t) != MapStatus.Ok)
            return null;
        byte* v = null;
        if (_canRead)
        {
            _store.PinValues();                       // before the find: the pin's barrier orders it (HashStore remarks, 3)
            v = _store.FindValue(key);
            if (_shared is not null && v is not null)
                SharedDomain.Park(SharedDomain.ParkPoint.InSection);
        }
        Epoch.Exit(t); // the caller's own, outer section keeps the value alive
        return v;
    }
}
