using FastMap.Stress.Data;

namespace FastMap.Stress.Systems;

/// <summary>One call of a cursor scan shaped like <c>BPF_MAP_LOOKUP_BATCH</c> (FastMap, its C ABI, the kernel).</summary>
public interface IBatchScanner
{
    /// <summary>
    /// Copies up to <c>keys.Length</c> entries from <paramref name="cursor"/> on (from the start when
    /// <paramref name="start"/>) and moves the cursor. 0 (call again), -ENOENT (the scan is done; the entries of this
    /// call are valid), -ENOSPC (the next bucket alone does not fit), or another negative errno.
    /// </summary>
    int Next(bool start, ref uint cursor, Span<Key16> keys, Span<Value32> values, out int count);
}

/// <summary>The gc-pass loops that systems share: a whole cursor scan, and per-key fallbacks.</summary>
public static class Batches
{
    /// <summary>
    /// Entries asked for per scan call. Measured on FastMap at L (2-core VM): 1,024 to 16,384 scan within noise of
    /// each other; 4,096 keeps a call's buffers (192 KiB) in L2.
    /// </summary>
    public const int ScanRoom = 4096;

    /// <summary>Scans the whole map into the spans with <see cref="ScanRoom"/> entries a call; see <see cref="IMapUnderTest.Scan"/>.</summary>
    public static int ScanAll<TScan>(in TScan s, Span<Key16> keys, Span<Value32> values, out int count)
        where TScan : struct, IBatchScanner
    {
        int n = 0, room = ScanRoom, st;
        uint cursor = 0;
        bool start = true;
        while (true)
        {
            int r = Math.Min(room, keys.Length - n);
            if (r == 0) { st = St.ENOSPC; break; }
            st = s.Next(start, ref cursor, keys.Slice(n, r), values.Slice(n, r), out int c);
            n += c;
            if (st == St.ENOSPC && r == room) { room *= 2; start = false; continue; } // a bucket larger than the room
            if (st != St.Ok) break;
            start = false;
            room = ScanRoom;
        }
        count = n;
        return st == St.ENOENT ? St.Ok : st;
    }

    /// <summary>Copies every entry an enumeration yields (the managed peers' scan).</summary>
    public static int CopyAll(IEnumerable<KeyValuePair<Key16, Value32>> source, Span<Key16> keys, Span<Value32> values, out int count)
    {
        int n = 0;
        foreach (var kv in source)
        {
            if (n == keys.Length) { count = n; return St.ENOSPC; }
            keys[n] = kv.Key;
            values[n] = kv.Value;
            n++;
        }
        count = n;
        return St.Ok;
    }

    /// <summary><see cref="IMapUnderTest.CollectBatch"/> as one <see cref="IMapUnderTest.CompareAndDelete"/> per key.</summary>
    public static int CompareAndDeleteEach<TMap>(TMap m, ReadOnlySpan<Key16> keys, ReadOnlySpan<ulong> revisions, Span<int> results)
        where TMap : struct, IMapUnderTest
    {
        for (int i = 0; i < keys.Length; i++) results[i] = m.CompareAndDelete(in keys[i], Value32.Make(revisions[i]));
        return St.Ok;
    }

    /// <summary><see cref="IMapUnderTest.Restore"/> as one create-or-replace update per key; returns the failures.</summary>
    /// <summary>bulk-lookup for systems without a bulk call: one lookup a key.</summary>
    public static int LookupEach<TMap>(in TMap m, ReadOnlySpan<Key16> keys, Span<Value32> values, Span<int> results)
        where TMap : struct, IMapUnderTest
    {
        int found = 0;
        for (int i = 0; i < keys.Length; i++)
            found += (results[i] = m.Lookup(in keys[i], out values[i])) == St.Ok ? 1 : 0;
        return found;
    }

    public static int UpdateEach<TMap>(TMap m, ReadOnlySpan<Key16> keys, ReadOnlySpan<Value32> values)
        where TMap : struct, IMapUnderTest
    {
        int failures = 0;
        for (int i = 0; i < keys.Length; i++)
            if (m.Update(in keys[i], in values[i], Upd.Any) != St.Ok) failures++;
        return failures;
    }

    /// <summary>
    /// The end of a batch update that stopped after <paramref name="applied"/> entries with <paramref name="status"/>:
    /// the rest go one by one (so one refused entry does not drop the ones after it); returns the failures.
    /// </summary>
    public static int FinishUpdate<TMap>(TMap m, int status, int applied, ReadOnlySpan<Key16> keys, ReadOnlySpan<Value32> values)
        where TMap : struct, IMapUnderTest =>
        status == St.Ok ? 0 : UpdateEach(m, keys[applied..], values[applied..]);
}
