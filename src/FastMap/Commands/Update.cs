using FastMap.Internal;

namespace FastMap;

public sealed unsafe partial class BpfMap
{
    /// <summary>
    /// <c>BPF_MAP_UPDATE_ELEM</c> at pointer level, in the 6.18 order: handle, write permission,
    /// <c>BPF_F_LOCK</c> without a lock, key and value pointers, flags, then under the stripe lock
    /// <c>-EEXIST</c>/<c>-ENOENT</c> before <c>-E2BIG</c>.
    /// </summary>
    internal static MapStatus UpdateCore(BpfMap? map, byte* key, byte* value, ulong flags)
    {
        if (map is null || !map.EnterOpen())
            return MapStatus.EBADF;
        MapStatus ret;
        Table t = map._table;
        bool locked = (flags & (ulong)ElemFlags.Lock) != 0;
        if (!map.CanWrite)
            ret = MapStatus.EPERM;
        else if (locked && t.SpinLockOffset < 0)
            ret = MapStatus.EINVAL;
        else if (key is null || value is null)
            ret = MapStatus.EFAULT;
        else if ((flags & ~(ulong)ElemFlags.Lock) > (ulong)ElemFlags.Exist)
            ret = MapStatus.EINVAL;
        else
            ret = map.UpdateElement(key, value, flags);
        map.Leave();
        return ret;
    }

    /// <summary>One update after every argument check (the map's <c>map_update_elem</c>); the caller is in a section.</summary>
    private MapStatus UpdateElement(byte* key, byte* value, ulong flags)
    {
        if (_table.IsArray)
            return UpdateArray(key, value, flags);
        if ((flags & (ulong)ElemFlags.Lock) != 0 && TryUpdateInPlace(key, value, flags, out MapStatus ret))
            return ret;                               // done under the value's lock
        return UpdateHash(key, value, flags);
    }

    private MapStatus UpdateArray(byte* key, byte* value, ulong flags)
    {
        Table t = _table;
        uint index = *(uint*)key;
        if (index >= Definition.MaxEntries)
            return MapStatus.E2BIG;
        if ((flags & (ulong)ElemFlags.NoExist) != 0)
            return MapStatus.EEXIST;                  // every array slot always exists
        if ((flags & (ulong)ElemFlags.Lock) != 0)
        {
            t.CopyInLocked(t.ValueOf(t.ArrayElement(index)), value);
            return MapStatus.Ok;
        }
        int shard = t.Pool.CurrentShard();
        uint fresh = t.Pool.Alloc(shard);
        if (fresh == ElementPool.None)
            return t.Pool.IsClosed ? MapStatus.EBADF : MapStatus.ENOMEM;
        byte* e = t.Pool.Address(fresh);
        *(uint*)e = index;
        t.CopyInFresh(t.ValueOf(e), value);
        t.Pool.Retire(shard, t.ArrayReplace(index, fresh));
        return MapStatus.Ok;
    }

    /// <summary>BPF_F_LOCK on an existing key: copy in place under the value lock, as the kernel's
    /// fast path does. False if the key is absent (the caller inserts it normally).</summary>
    private bool TryUpdateInPlace(byte* key, byte* value, ulong flags, out MapStatus ret)
    {
        Table t = _table;
        uint tag = t.Tag(key);
        t.LockStripe(tag);
        byte* e = t.Find(key, tag, out _);
        bool done = true;
        if (e is not null)
        {
            if ((flags & (ulong)ElemFlags.NoExist) != 0)
                ret = MapStatus.EEXIST;
            else
            {
                t.CopyInLocked(t.ValueOf(e), value);
                ret = MapStatus.Ok;
            }
        }
        else if ((flags & (ulong)ElemFlags.Exist) != 0)
            ret = MapStatus.ENOENT;
        else
        {
            ret = MapStatus.Ok;
            done = false;
        }
        t.UnlockStripe(tag);
        return done;
    }

    private MapStatus UpdateHash(byte* key, byte* value, ulong flags)
    {
        Table t = _table;
        ElementPool pool = t.Pool;
        int shard = pool.CurrentShard();
        uint tag = t.Tag(key);
        // Fill a fresh element before taking the stripe: no reader can see it yet, and the
        // critical section shrinks to the slot decision (the kernel's LRU also allocates first).
        uint fresh = pool.Alloc(shard);
        if (fresh == ElementPool.None)
            return pool.IsClosed ? MapStatus.EBADF : MapStatus.ENOMEM; // closed while we allocated
        byte* fe = pool.Address(fresh);
        Buffer.MemoryCopy(key, fe, KeySize, KeySize);
        t.CopyInFresh(t.ValueOf(fe), value);

        // LRU: a full map makes room first (never while holding a stripe: eviction takes one).
        bool lru = Definition.Type == MapType.LruHash;
        bool haveToken = false;
        if (lru)
        {
            for (int tries = 0; tries < 8 && !haveToken; tries++)
                haveToken = pool.TryTakeToken(shard) || (t.EvictOne(shard) && pool.TryTakeToken(shard));
            if (!haveToken)
            {
                pool.FreeNow(shard, fresh);
                return MapStatus.ENOMEM;              // the kernel's LRU: no node could be taken
            }
        }

        MapStatus ret = MapStatus.Ok;
        uint retire = ElementPool.None;
        t.LockStripe(tag);
        byte* e = t.Find(key, tag, out uint slot);
        if (e is not null)
        {
            if ((flags & (ulong)ElemFlags.NoExist) != 0)
                ret = MapStatus.EEXIST;
            else
                retire = t.Replace(slot, tag, fresh);
        }
        else if ((flags & (ulong)ElemFlags.Exist) != 0)
            ret = MapStatus.ENOENT;
        else if (!haveToken && !(haveToken = pool.TryTakeToken(shard)))
            ret = MapStatus.E2BIG;
        else
        {
            bool placed = t.Insert(tag, fresh);
            System.Diagnostics.Debug.Assert(placed, "no free slot although live <= slots / 2");
            haveToken = !placed;                      // spent on the new key, or given back below
            if (!placed)
                ret = MapStatus.ENOMEM;
        }
        t.UnlockStripe(tag);

        // Frees after unlock, as the kernel's free_htab_elem.
        if (ret != MapStatus.Ok)
            pool.FreeNow(shard, fresh);
        if (haveToken)
            pool.ReturnToken(shard);                  // LRU replacement or failure: the token was not spent
        if (retire != ElementPool.None)
            pool.Retire(shard, retire);
        if (t.NeedsRebuild)
            t.Rebuild();
        return ret;
    }
}
