using System.Buffers.Binary;
using System.Globalization;
using FastMap.Kernel;
using static FastMap.Tests.Differential.DifferentialSupport;

namespace FastMap.Tests.Differential;

/// <summary>What one batch call answered: the return code, the count written back, and <c>out_batch</c> (null: not written).</summary>
internal readonly record struct BatchReply(int Ret, uint Count, uint? OutBatch)
{
    public override string ToString() =>
        $"{Errno(Ret)} count={Count} out_batch={(OutBatch is uint o ? o.ToString(CultureInfo.InvariantCulture) : "unwritten")}";
}

/// <summary>
/// One map a batch differential drives: the kernel's through <c>bpf()</c>, or FastMap's through
/// <see cref="BpfAttr.ExecuteUnsafe"/> or through the .NET API. Key and value buffers are the caller's and must come from
/// <see cref="DifferentialSupport.Pinned"/>, since their addresses go into raw attrs.
/// </summary>
internal abstract class BatchTarget
{
    protected BatchTarget(string name, int keySize, int valueBytes)
    {
        Name = name;
        KeySize = keySize;
        ValueBytes = valueBytes;
    }

    /// <summary>"kernel", "FastMap attr" or "FastMap API", for messages.</summary>
    public string Name { get; }

    /// <summary>Bytes per key.</summary>
    public int KeySize { get; }

    /// <summary>Bytes per value in a batch buffer (per-CPU maps: every possible CPU's, each rounded up to 8).</summary>
    public int ValueBytes { get; }

    /// <summary>LOOKUP_BATCH or LOOKUP_AND_DELETE_BATCH; <paramref name="inBatch"/> null passes a NULL <c>in_batch</c>.</summary>
    public abstract BatchReply Lookup(bool delete, uint? inBatch, uint count, byte[] keys, byte[] values,
        ulong elemFlags = 0, ulong flags = 0);

    /// <summary>UPDATE_BATCH of the first <paramref name="count"/> keys and values.</summary>
    public abstract BatchReply Update(byte[] keys, byte[] values, uint count, ulong elemFlags = 0, ulong flags = 0);

    /// <summary>DELETE_BATCH of the first <paramref name="count"/> keys.</summary>
    public abstract BatchReply Delete(byte[] keys, uint count, ulong elemFlags = 0, ulong flags = 0);

    /// <summary>Single-element UPDATE_ELEM.</summary>
    public abstract int UpdateElem(byte[] key, byte[] value, ulong flags = 0);

    /// <summary>Single-element DELETE_ELEM.</summary>
    public abstract int DeleteElem(byte[] key);
}

/// <summary>
/// A map driven through raw <c>union bpf_attr</c> bytes: <see cref="KernelBpf.Sys"/> for the kernel,
/// <see cref="BpfAttr.ExecuteUnsafe"/> for FastMap. The same builder makes both sides' attrs, so they differ only in the map
/// fd and the buffer addresses.
/// </summary>
internal sealed class AttrBatchTarget : BatchTarget
{
    public const int CmdLookupBatch = 24, CmdLookupAndDeleteBatch = 25, CmdUpdateBatch = 26, CmdDeleteBatch = 27;
    public const int AttrSize = 168;
    private const uint Sentinel = 0xA5A5A5A5;

    private readonly bool _kernel;
    private readonly byte[] _in = Pinned(4);
    private readonly byte[] _out = Pinned(4);

    public AttrBatchTarget(bool kernel, int fd, int keySize, int valueBytes)
        : base(kernel ? "kernel" : "FastMap attr", keySize, valueBytes)
    {
        _kernel = kernel;
        Fd = (uint)fd;
    }

    /// <summary>The map fd (kernel) or handle (FastMap) that goes into <c>map_fd</c>.</summary>
    public uint Fd { get; }

    /// <summary>
    /// A BATCH attr of <paramref name="length"/> bytes (at least 40, so that the count the kernel writes back at 32
    /// stays inside it) with this side's buffers; <paramref name="fd"/> overrides <see cref="Fd"/>.
    /// </summary>
    public byte[] Attr(uint? inBatch, byte[]? keys, byte[]? values, uint count, ulong elemFlags, ulong flags,
        uint? fd = null, int length = AttrSize)
    {
        if (length < 40)
            throw new ArgumentOutOfRangeException(nameof(length), "the kernel writes count at 32..36 whatever the size");
        byte[] a = new byte[Math.Max(length, 56)];
        if (inBatch is uint position)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(_in, position);
            BinaryPrimitives.WriteUInt64LittleEndian(a.AsSpan(0), Address(_in));
        }
        BinaryPrimitives.WriteUInt64LittleEndian(a.AsSpan(8), Address(_out));
        BinaryPrimitives.WriteUInt64LittleEndian(a.AsSpan(16), Address(keys));
        BinaryPrimitives.WriteUInt64LittleEndian(a.AsSpan(24), Address(values));
        BinaryPrimitives.WriteUInt32LittleEndian(a.AsSpan(32), count);
        BinaryPrimitives.WriteUInt32LittleEndian(a.AsSpan(36), fd ?? Fd);
        BinaryPrimitives.WriteUInt64LittleEndian(a.AsSpan(40), elemFlags);
        BinaryPrimitives.WriteUInt64LittleEndian(a.AsSpan(48), flags);
        return length == a.Length ? a : a[..length];
    }

    /// <summary>Runs <paramref name="cmd"/> on an attr from <see cref="Attr"/>; reads back count and out_batch.</summary>
    public BatchReply Run(int cmd, byte[] attr)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(_out, Sentinel);
        int r = _kernel ? KernelBpf.Sys(cmd, attr) : BpfAttr.ExecuteUnsafe(cmd, attr);
        uint outBatch = BinaryPrimitives.ReadUInt32LittleEndian(_out);
        return new BatchReply(r, BinaryPrimitives.ReadUInt32LittleEndian(attr.AsSpan(32)), outBatch == Sentinel ? null : outBatch);
    }

    public override BatchReply Lookup(bool delete, uint? inBatch, uint count, byte[] keys, byte[] values,
        ulong elemFlags = 0, ulong flags = 0) =>
        Run(delete ? CmdLookupAndDeleteBatch : CmdLookupBatch, Attr(inBatch, keys, values, count, elemFlags, flags));

    public override BatchReply Update(byte[] keys, byte[] values, uint count, ulong elemFlags = 0, ulong flags = 0) =>
        Run(CmdUpdateBatch, Attr(null, keys, values, count, elemFlags, flags));

    public override BatchReply Delete(byte[] keys, uint count, ulong elemFlags = 0, ulong flags = 0) =>
        Run(CmdDeleteBatch, Attr(null, keys, null, count, elemFlags, flags));

    public override int UpdateElem(byte[] key, byte[] value, ulong flags = 0) => _kernel
        ? KernelBpf.Update((int)Fd, key, value, flags)
        : (int)BpfMap.FromHandle((int)Fd)!.Update(key, value, (ElemFlags)flags);

    public override int DeleteElem(byte[] key) => _kernel
        ? KernelBpf.Delete((int)Fd, key)
        : (int)BpfMap.FromHandle((int)Fd)!.Delete(key);
}

/// <summary>
/// FastMap through <see cref="BpfMap"/>'s batch methods (<see cref="BatchCursor"/>, spans). The API has no
/// <c>batch.flags</c>, and its count is 0 when a call fails before the first element (the attr keeps the caller's),
/// so callers compare it with the kernel only on scans and element-level outcomes. <see cref="BatchReply.OutBatch"/>
/// is the cursor the API holds after the call (null while it is still <see cref="BatchCursor.Start"/>).
/// </summary>
internal sealed class ApiBatchTarget(BpfMap map) : BatchTarget("FastMap API", map.KeySize, map.ValueBufferSize)
{
    public override BatchReply Lookup(bool delete, uint? inBatch, uint count, byte[] keys, byte[] values,
        ulong elemFlags = 0, ulong flags = 0)
    {
        Assert.Equal(0UL, flags);
        BatchCursor cursor = inBatch is uint p ? new BatchCursor(p) : BatchCursor.Start;
        Span<byte> k = keys.AsSpan(0, (int)count * KeySize), v = values.AsSpan(0, (int)count * ValueBytes);
        MapStatus st = delete
            ? map.LookupAndDeleteBatch(ref cursor, k, v, out int n, (ElemFlags)elemFlags)
            : map.LookupBatch(ref cursor, k, v, out n, (ElemFlags)elemFlags);
        return new BatchReply((int)st, (uint)n, cursor.IsStart ? null : cursor.Position);
    }

    public override BatchReply Update(byte[] keys, byte[] values, uint count, ulong elemFlags = 0, ulong flags = 0)
    {
        Assert.Equal(0UL, flags);
        MapStatus st = map.UpdateBatch(keys.AsSpan(0, (int)count * KeySize), values.AsSpan(0, (int)count * ValueBytes),
            out int n, (ElemFlags)elemFlags);
        return new BatchReply((int)st, (uint)n, null);
    }

    public override BatchReply Delete(byte[] keys, uint count, ulong elemFlags = 0, ulong flags = 0)
    {
        Assert.Equal(0UL, flags);
        MapStatus st = map.DeleteBatch(keys.AsSpan(0, (int)count * KeySize), out int n, (ElemFlags)elemFlags);
        return new BatchReply((int)st, (uint)n, null);
    }

    public override int UpdateElem(byte[] key, byte[] value, ulong flags = 0) => (int)map.Update(key, value, (ElemFlags)flags);

    public override int DeleteElem(byte[] key) => (int)map.Delete(key);
}

/// <summary>One definition, created on both sides: a FastMap map and a kernel map, each with an attr target.</summary>
internal sealed class BatchPair : IDisposable
{
    public BatchPair(MapType type, uint keySize, uint valueSize, uint maxEntries, MapFlags flags = MapFlags.None,
        uint? lockOffset = null)
    {
        var def = new MapDefinition(type, keySize, valueSize, maxEntries) { Flags = flags, SpinLockOffset = lockOffset };
        MapStatus created = BpfMap.Create(def, out BpfMap? fm);
        int fd = lockOffset is uint off
            ? KernelBpf.CreateMapWithSpinLock((uint)type, valueSize, maxEntries, off, (uint)flags)
            : KernelBpf.CreateMap((uint)type, keySize, valueSize, maxEntries, (uint)flags);
        if (created != MapStatus.Ok || fd < 0)
        {
            fm?.Dispose();
            if (fd >= 0)
                KernelBpf.Close(fd);
            Assert.Fail($"create {type} key={keySize} value={valueSize} max={maxEntries} flags={flags} lock={lockOffset}: " +
                $"FastMap {created}, kernel {Errno(fd)} {(lockOffset is null ? "" : KernelBpf.LastBtfLog)}");
        }
        Map = fm!;
        Fd = fd;
        Fm = new AttrBatchTarget(false, Map.Handle, Map.KeySize, Map.ValueBufferSize);
        Kernel = new AttrBatchTarget(true, fd, Map.KeySize, Map.ValueBufferSize);
        Api = new ApiBatchTarget(Map);
    }

    public BpfMap Map { get; }

    public int Fd { get; }

    public AttrBatchTarget Fm { get; }

    public AttrBatchTarget Kernel { get; }

    public ApiBatchTarget Api { get; }

    public int KeySize => Map.KeySize;

    public int ValueBytes => Map.ValueBufferSize;

    public void Dispose()
    {
        Map.Dispose();
        KernelBpf.Close(Fd);
    }
}

/// <summary>Scans and content reads shared by the batch differential tests.</summary>
internal static class BatchScan
{
    /// <summary>What a full scan returned: entries in order (key hex, value hex) and every call's reply.</summary>
    public sealed record Result(List<(string Key, string Value)> Entries, List<BatchReply> Replies)
    {
        public Dictionary<string, string> AsDictionary() => Entries.ToDictionary(e => e.Key, e => e.Value);

        public string Calls => string.Join(", ", Replies);
    }

    /// <summary>
    /// A full scan from a NULL <c>in_batch</c> with room for <paramref name="batch"/> entries per call, as libbpf users
    /// write it: on <c>-ENOSPC</c> (count 0) the room doubles for a retry from the same cursor, and goes back to
    /// <paramref name="batch"/> after it; <c>0</c> resumes from <c>out_batch</c>; <c>-ENOENT</c> ends it, with the
    /// last entries. Fails on anything else, a 0 that returned nothing or did not move the cursor forward, or a scan
    /// that does not end. (Array cursors are the last index returned, so they move forward too.)
    /// </summary>
    public static Result Scan(BatchTarget t, bool delete, int batch, string what, ulong elemFlags = 0)
    {
        var entries = new List<(string, string)>();
        var replies = new List<BatchReply>();
        uint? cursor = null;
        int room = batch;
        for (int guard = 0; guard < 100_000; guard++)
        {
            byte[] keys = Pinned(room * t.KeySize), values = Pinned(room * t.ValueBytes);
            BatchReply r = t.Lookup(delete, cursor, (uint)room, keys, values, elemFlags);
            replies.Add(r);
            string where = $"{what}: {t.Name} {(delete ? "lookup_and_delete_batch" : "lookup_batch")} room={room} " +
                $"in_batch={cursor?.ToString(CultureInfo.InvariantCulture) ?? "NULL"} call #{replies.Count}";
            if (r.Ret == -28)
            {
                // out_batch names the bucket that did not fit: at or after in_batch.
                Assert.True(r.Count == 0 && r.OutBatch >= (cursor ?? 0), $"{where}: -ENOSPC with {r}");
                room *= 2;
                continue;
            }
            Assert.True(r.Ret is 0 or -2, $"{where}: {r}");
            Assert.True(r.Count <= room, $"{where}: count {r.Count} > room");
            Assert.True(r.Ret != 0 || (r.Count > 0 && r.OutBatch is uint o && (cursor is null || o > cursor)), $"{where}: 0 without progress: {r}");
            for (int i = 0; i < r.Count; i++)
                entries.Add((Hex(keys.AsSpan(i * t.KeySize, t.KeySize)), Hex(values.AsSpan(i * t.ValueBytes, t.ValueBytes))));
            if (r.Ret == -2)
                return new Result(entries, replies);
            Assert.True(r.OutBatch is not null, $"{where}: 0 without out_batch");
            cursor = r.OutBatch;
            room = batch;
        }
        Assert.Fail($"{what}: {t.Name}'s scan did not end");
        return null!;
    }

    /// <summary>Fails unless every key of the scan appears once and the entries are exactly <paramref name="model"/>.</summary>
    public static void AssertIs(Result scan, IReadOnlyDictionary<string, string> model, string what)
    {
        var dup = scan.Entries.GroupBy(e => e.Key).Where(g => g.Count() > 1).Select(g => g.Key).ToList();
        Assert.True(dup.Count == 0, $"{what}: keys returned more than once: {string.Join(' ', dup)}; calls: {scan.Calls}");
        var got = scan.AsDictionary();
        var missing = model.Keys.Where(k => !got.ContainsKey(k)).Order().ToList();
        var extra = got.Keys.Where(k => !model.ContainsKey(k)).Order().ToList();
        var wrong = model.Where(kv => got.TryGetValue(kv.Key, out string? v) && v != kv.Value)
            .Select(kv => $"{kv.Key}: got {got[kv.Key]}, want {kv.Value}").ToList();
        Assert.True(missing.Count == 0 && extra.Count == 0 && wrong.Count == 0,
            $"{what}: {scan.Entries.Count} entries; missing [{string.Join(' ', missing)}], unexpected [{string.Join(' ', extra)}], " +
            $"wrong values [{string.Join("; ", wrong)}]; calls: {scan.Calls}");
    }

    /// <summary>The whole content of a side by a plain lookup_batch scan with ample room.</summary>
    public static Dictionary<string, string> Contents(BatchTarget t, string what)
    {
        Result r = Scan(t, false, 64, what + " (contents)");
        Assert.True(r.Entries.Count == r.Entries.Select(e => e.Key).Distinct().Count(), $"{what}: {t.Name} returned a key twice");
        return r.AsDictionary();
    }
}
