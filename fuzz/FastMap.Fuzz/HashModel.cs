using System.Buffers.Binary;
using static FastMap.MapStatus;

namespace FastMap.Fuzz;

/// <summary>
/// A model of the plain HASH map (<see cref="LiveMaps.Model"/>): a dictionary updated by the
/// commands that succeeded on it. Each answer is checked against the model before it is applied
/// (a lookup returns the modelled value, E2BIG comes only when the model is full, EBUSY only when
/// the window differs...), and after every command the map's contents, listed through the .NET
/// API, must equal the model's.
/// </summary>
internal sealed class HashModel
{
    private const int K = LiveMaps.ModelKeySize, V = LiveMaps.ModelValueSize, Max = LiveMaps.ModelMaxEntries;
    private readonly Dictionary<uint, byte[]> _entries = [];

    public void Clear() => _entries.Clear();

    /// <summary>Checks one command's answer on the modelled map and applies its effect.</summary>
    public void Apply(Executed e)
    {
        switch ((BpfCommand)e.Cmd)
        {
            case BpfCommand.MapLookupElem:
                Lookup(e, delete: false);
                break;
            case BpfCommand.MapLookupAndDeleteElem:
                Lookup(e, delete: true);
                break;
            case BpfCommand.MapUpdateElem:
                Update(e);
                break;
            case BpfCommand.MapDeleteElem:
                Delete(e);
                break;
            case BpfCommand.MapGetNextKey:
                GetNextKey(e);
                break;
            case BpfCommand.MapLookupBatch or BpfCommand.MapLookupAndDeleteBatch:
                LookupBatch(e, e.Cmd == (int)BpfCommand.MapLookupAndDeleteBatch);
                break;
            case BpfCommand.MapUpdateBatch:
                UpdateBatch(e);
                break;
            case BpfCommand.MapDeleteBatch:
                if ((e.U64(40) & (ulong)ElemFlags.Compare) != 0)
                    CompareBatch(e, update: false);
                else
                    DeleteBatch(e);
                break;
        }
    }

    private void Lookup(Executed e, bool delete)
    {
        byte[]? key = e.Bytes(8), value = e.Bytes(16);
        switch ((MapStatus)e.Ret)
        {
            case Ok:
                byte[] want = Present(key!, "lookup answered 0");
                Check(value!.AsSpan().SequenceEqual(want), $"lookup of {Hex(key!)} returned {Hex(value!)}, model holds {Hex(want)}");
                if (delete)
                    _entries.Remove(KeyAt(key!, 0));
                break;
            case ENOENT:
                Check(key is not null && !Has(key, 0), "ENOENT for a key the model holds (or a NULL key)");
                break;
        }
    }

    private void Update(Executed e)
    {
        if ((e.U64(24) & (ulong)ElemFlags.Compare) != 0)
        {
            CompareUpdate(e);
            return;
        }
        byte[]? key = e.Bytes(8), value = e.Bytes(16);
        ulong flags = e.U64(24);
        bool present = key is not null && Has(key, 0);
        switch ((MapStatus)e.Ret)
        {
            case Ok:
                Check(flags <= (ulong)ElemFlags.Exist, $"update with flags {flags} succeeded");
                Check(flags != (ulong)ElemFlags.NoExist || !present, "NOEXIST update of a present key succeeded");
                Check(flags != (ulong)ElemFlags.Exist || present, "EXIST update of an absent key succeeded");
                Check(present || _entries.Count < Max, $"a new key went into a full map ({_entries.Count} of {Max})");
                _entries[KeyAt(key!, 0)] = value!;
                break;
            case EEXIST:
                Check(flags == (ulong)ElemFlags.NoExist && present, "EEXIST without NOEXIST on a present key");
                break;
            case ENOENT:
                Check(flags == (ulong)ElemFlags.Exist && !present, "ENOENT without EXIST on an absent key");
                break;
            case E2BIG:
                Check(!present && _entries.Count >= Max, $"E2BIG with {_entries.Count} of {Max} keys (key present: {present})");
                break;
        }
    }

    /// <summary>
    /// Compare-and-update (FastMap's extension; its contract is UpdateCompare.cs's doc comment, not yet
    /// README's table): NOEXIST is refused; absent is ENOENT, a window that differs EBUSY with nothing
    /// written, else the value is replaced.
    /// </summary>
    private void CompareUpdate(Executed e)
    {
        byte[]? key = e.Bytes(8), compare = e.Bytes(32);
        uint off = e.U32(40), size = e.U32(44);
        switch ((MapStatus)e.Ret)
        {
            case Ok:
                byte[] v = Present(key!, "compare-and-update answered 0");
                Check((e.U64(24) & 3) != (ulong)ElemFlags.NoExist, "compare-and-update with NOEXIST succeeded");
                Check(WindowEquals(v, off, size, compare!, 0), "compare-and-update replaced a value whose window differs");
                _entries[KeyAt(key!, 0)] = e.Bytes(16)!;
                break;
            case ENOENT:
                Check(key is not null && !Has(key, 0), "compare-and-update: ENOENT for a key the model holds");
                break;
            case EBUSY:
                Check(key is not null && Has(key, 0), "compare-and-update: EBUSY on an absent key");
                Check(!WindowEquals(_entries[KeyAt(key!, 0)], off, size, compare!, 0), "compare-and-update: EBUSY although the window matches");
                break;
        }
    }

    private void Delete(Executed e)
    {
        byte[]? key = e.Bytes(8), compare = e.Bytes(32);
        bool cmp = (e.U64(24) & (ulong)ElemFlags.Compare) != 0;
        uint off = e.U32(40), size = e.U32(44);
        switch ((MapStatus)e.Ret)
        {
            case Ok:
                byte[] v = Present(key!, "delete answered 0");
                Check(!cmp || WindowEquals(v, off, size, compare!, 0), "compare-and-delete removed a key whose window differs");
                _entries.Remove(KeyAt(key!, 0));
                break;
            case ENOENT:
                Check(key is not null && !Has(key, 0), "delete: ENOENT for a key the model holds");
                break;
            case EBUSY:
                Check(cmp && key is not null && Has(key, 0), "EBUSY without a compare on a present key");
                Check(!WindowEquals(_entries[KeyAt(key!, 0)], off, size, compare!, 0), "EBUSY although the window matches");
                break;
        }
    }

    private void GetNextKey(Executed e)
    {
        byte[]? key = e.Bytes(8), next = e.Bytes(16);
        bool fromStart = key is null || !Has(key, 0);
        if (e.Ret == (int)Ok)
        {
            Check(next is not null && Has(next, 0), "GET_NEXT_KEY returned a key the model lacks");
            Check(fromStart || !next!.AsSpan().SequenceEqual(key), "GET_NEXT_KEY returned the key it was given");
        }
        else if (e.Ret == (int)ENOENT && fromStart)
            Check(_entries.Count == 0, "GET_NEXT_KEY from the start answered ENOENT on a non-empty map");
    }

    private void LookupBatch(Executed e, bool delete)
    {
        if (e.Ret is not ((int)Ok or (int)ENOENT or (int)ENOSPC))
            return;                                   // failed before the scan: nothing copied or deleted
        uint n = e.CountAfter;
        Check(n <= e.U32(32), $"batch count grew from {e.U32(32)} to {n}");
        Check(e.Ret != (int)ENOSPC || n == 0, "ENOSPC after copying entries");
        if (n == 0)
            return;
        byte[] keys = e.Bytes(16)!, values = e.Bytes(24)!;
        var seen = new HashSet<uint>();
        for (int i = 0; i < n; i++)
        {
            uint k = KeyAt(keys, i);
            Check(seen.Add(k), $"batch returned key {k:x8} twice");
            Check(_entries.TryGetValue(k, out byte[]? want), $"batch returned key {k:x8} the model lacks");
            Check(values.AsSpan(i * V, V).SequenceEqual(want), $"batch returned a stale value for {k:x8}");
        }
        if (delete)
            foreach (uint k in seen)
                _entries.Remove(k);
    }

    private void UpdateBatch(Executed e)
    {
        uint n = e.U32(32), c = e.CountAfter;
        if ((e.U64(40) & (ulong)ElemFlags.Compare) != 0)
        {
            CompareBatch(e, update: true);
            return;
        }
        // Checks before the first element leave count as passed and apply nothing; element errors
        // (and success) report the elements applied.
        if (e.Ret is not ((int)Ok or (int)E2BIG or (int)EFAULT) || n == 0)
            return;
        Check(c <= n && (e.Ret != (int)Ok || c == n), $"update batch: ret {e.Ret}, count {c} of {n}");
        byte[]? keys = e.Bytes(16), values = e.Bytes(24);
        for (int i = 0; i < c; i++)
        {
            uint k = KeyAt(keys!, i);
            Check(_entries.ContainsKey(k) || _entries.Count < Max, "update batch put a new key into a full map");
            _entries[k] = values!.AsSpan(i * V, V).ToArray();
        }
        if (e.Ret == (int)E2BIG)
            Check(c < n && !Has(keys!, (int)c) && _entries.Count >= Max, $"update batch E2BIG at element {c} of {n} with {_entries.Count} of {Max}");
        if (e.Ret == (int)EFAULT)
            Check(c == 0, "update batch EFAULT after applying elements");
    }

    private void DeleteBatch(Executed e)
    {
        uint n = e.U32(32), c = e.CountAfter;
        if (e.Ret is not ((int)Ok or (int)ENOENT or (int)EFAULT) || n == 0)
            return;
        Check(c <= n && (e.Ret != (int)Ok || c == n), $"delete batch: ret {e.Ret}, count {c} of {n}");
        byte[]? keys = e.Bytes(16);
        for (int i = 0; i < c; i++)
        {
            Check(Has(keys!, i), "delete batch deleted a key the model lacks");
            _entries.Remove(KeyAt(keys!, i));
        }
        if (e.Ret == (int)ENOENT)
            Check(c < n && !Has(keys!, (int)c), $"delete batch ENOENT at element {c}, which the model holds");
    }

    /// <summary>Batch compare-and-delete, or compare-and-update (UpdateCompare.cs): key by key, in order,
    /// results[i] is ENOENT (absent), EBUSY (window differs, nothing done) or 0 (deleted, or value i stored).</summary>
    private void CompareBatch(Executed e, bool update)
    {
        uint n = e.U32(32), c = e.CountAfter;
        if (e.Ret != (int)Ok || n == 0)
            return;                                   // argument errors fail the whole call, deleting nothing
        Check(c == n, $"compare batch answered 0 with count {c} of {n}");
        byte[] keys = e.Bytes(16)!, compares = e.Bytes(56)!, results = e.Bytes(72)!;
        uint off = e.U32(64), size = e.U32(68);
        uint w = size == 0 ? V : size;
        for (int i = 0; i < n; i++)
        {
            var r = (MapStatus)BinaryPrimitives.ReadInt32LittleEndian(results.AsSpan(i * 4));
            uint k = KeyAt(keys, i);
            bool present = _entries.TryGetValue(k, out byte[]? v);
            bool match = present && WindowEquals(v!, off, size, compares, (int)(i * w));
            MapStatus want = !present ? ENOENT : match ? Ok : EBUSY;
            Check(r == want, $"compare batch: results[{i}] for {k:x8} is {r}, the model says {want}");
            if (want == Ok && update)
                _entries[k] = e.Bytes(24)!.AsSpan(i * V, V).ToArray();
            else if (want == Ok)
                _entries.Remove(k);
        }
    }

    /// <summary>The map's contents, listed with GetNextKey and Lookup, must equal the model's.</summary>
    public void Verify(BpfMap map)
    {
        Check(map.Count == _entries.Count, $"map holds {map.Count} keys, model {_entries.Count}");
        byte[] key = new byte[K], next = new byte[K], value = new byte[V];
        var listed = new HashSet<uint>();
        MapStatus st = map.GetNextKey(default, next);
        for (; st == Ok; st = map.GetNextKey(key, next))
        {
            uint k = KeyAt(next, 0);
            Check(listed.Add(k), $"GetNextKey listed {k:x8} twice");
            Check(_entries.TryGetValue(k, out byte[]? want), $"map holds {k:x8}, the model does not");
            Check(map.Lookup(next, value) == Ok && value.AsSpan().SequenceEqual(want),
                $"map's value for {k:x8} is {Hex(value)}, model {Hex(want!)}");
            next.CopyTo(key, 0);
        }
        Check(st == ENOENT && listed.Count == _entries.Count, $"listing ended with {st} after {listed.Count} of {_entries.Count} keys");
    }

    private bool Has(byte[] keys, int i) => _entries.ContainsKey(KeyAt(keys, i));

    private byte[] Present(byte[] key, string what)
    {
        Check(_entries.TryGetValue(KeyAt(key, 0), out byte[]? v), $"{what} for {Hex(key)}, which the model lacks");
        return v!;
    }

    /// <summary>value[off, off+size) against compare[at, at+size); size 0 is the whole value.</summary>
    private static bool WindowEquals(byte[] value, uint off, uint size, byte[] compare, int at)
    {
        int w = size == 0 ? V : (int)size;
        return value.AsSpan((int)off, w).SequenceEqual(compare.AsSpan(at, w));
    }

    private static uint KeyAt(byte[] keys, int i) => BinaryPrimitives.ReadUInt32LittleEndian(keys.AsSpan(i * K, K));

    private static string Hex(byte[] b) => Convert.ToHexString(b);

    private static void Check(bool condition, string what) => OracleFailure.Check(condition, "model: " + what);
}
