using System.Buffers.Binary;
using System.Globalization;
using System.Numerics;
using FastMap.Kernel;
using static FastMap.Tests.Differential.AttrBatchTarget;
using static FastMap.Tests.Differential.DifferentialSupport;

namespace FastMap.Tests.Differential;

/// <summary>
/// The batch commands (LOOKUP_BATCH 24, LOOKUP_AND_DELETE_BATCH 25, UPDATE_BATCH 26, DELETE_BATCH 27) on FastMap
/// against the running kernel: raw attrs through <see cref="BpfAttr.ExecuteUnsafe"/> and <see cref="KernelBpf.Sys"/>, and
/// FastMap's .NET batch API where it says the same thing.
/// </summary>
/// <remarks>
/// <para>What is compared, and what is not: FastMap's hash buckets are its slots (2 x roundup_pow_of_two(max)), the
/// kernel's are roundup_pow_of_two(max), so which keys share a bucket, when <c>-ENOSPC</c> happens and every hash
/// <c>out_batch</c> value differ by design. Hash scans are therefore compared as sets (each key once, the values, the
/// final <c>-ENOENT</c>), and hash cursors only as written or not. Array scans run the kernel's generic get-next-key
/// walk on both sides and are compared call by call: status, count, cursor and buffer bytes.</para>
/// <para>Seeds: <c>FASTMAP_DIFF_SEED</c> overrides the default, as for <see cref="KernelDifferentialTests"/>; every
/// failure message names the seed. Also in this class: <c>.Random.cs</c> (seeded mixed sequences). The attr builder,
/// the three targets (kernel, FastMap attr, FastMap API) and the scan loop are in <c>BatchDifferentialSupport.cs</c>.</para>
/// </remarks>
public sealed partial class BatchDifferentialTests
{
    private const int DefaultSeed = 20260802;
    private const int ENOENT = -2, E2BIG = -7, EINVAL = -22, ENOSPC = -28, ENOTSUPP = -524;
    private const ulong Lock = 4;
    private const uint BadFd = uint.MaxValue;

    private static int Seed()
    {
        string? env = Environment.GetEnvironmentVariable("FASTMAP_DIFF_SEED");
        return env is null ? DefaultSeed : int.Parse(env, CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// One test case's random stream, derived from the one seed and the case's name, and how a failure names it
    /// (the seed to set in <c>FASTMAP_DIFF_SEED</c>, and the stream).
    /// </summary>
    private static (Random Rng, string Label) Stream(string name)
    {
        int h = 17;
        foreach (char ch in name)
            h = (h * 31) + ch;
        int seed = Seed();
        return (new Random(seed ^ h), $"seed={seed} (FASTMAP_DIFF_SEED; stream {seed ^ h})");
    }

    private static string CmdName(int cmd) => cmd switch
    {
        CmdLookupBatch => "LOOKUP_BATCH",
        CmdLookupAndDeleteBatch => "LOOKUP_AND_DELETE_BATCH",
        CmdUpdateBatch => "UPDATE_BATCH",
        CmdDeleteBatch => "DELETE_BATCH",
        _ => cmd.ToString(CultureInfo.InvariantCulture),
    };

    /// <summary>
    /// A map definition a test runs on, named for the theory's display; <paramref name="Fill"/> is how many random
    /// keys the full-scan tests put in.
    /// </summary>
    private sealed record MapConfig(string Name, MapType Type, uint KeySize, uint ValueSize, uint MaxEntries,
        MapFlags Flags = MapFlags.None, uint? LockOffset = null, int Fill = 0);

    /// <summary>Theory data of configuration names (a failing case then names its configuration).</summary>
    private static TheoryData<string> Names(IEnumerable<string> names) => new(names);

    /// <summary>A value of <paramref name="length"/> random bytes, with the spin-lock word (if any) zeroed.</summary>
    private static byte[] RandomValue(Random rng, int length, uint? lockOffset)
    {
        byte[] v = new byte[length];
        rng.NextBytes(v);
        if (lockOffset is uint off)
            v.AsSpan((int)off, 4).Clear();
        return v;
    }

    /// <summary><paramref name="n"/> distinct random keys of <paramref name="keySize"/> bytes.</summary>
    private static List<byte[]> RandomKeys(Random rng, int keySize, int n)
    {
        var seen = new HashSet<string>();
        var keys = new List<byte[]>();
        while (keys.Count < n)
        {
            byte[] k = new byte[keySize];
            rng.NextBytes(k);
            if (seen.Add(Hex(k)))
                keys.Add(k);
        }
        return keys;
    }

    /// <summary>Packs keys (or values) back to back into a pinned buffer (of one element at least).</summary>
    private static byte[] Pack(IReadOnlyList<byte[]> items, int size)
    {
        byte[] b = Pinned(Math.Max(items.Count, 1) * size);
        for (int i = 0; i < items.Count; i++)
            items[i].CopyTo(b, i * size);
        return b;
    }

    /// <summary>The kernel's LRU eviction-free ceiling on one CPU (see <see cref="KernelDifferentialTests"/>'s sequence).</summary>
    private static int LruCap(uint max)
    {
        int targetFree = Math.Clamp((int)max / KernelBpf.PossibleCpus / 2, 1, 128);
        return (int)max - (2 * targetFree) - 1;
    }

    // ---- 1. errno order through raw attrs ------------------------------------------------------------------------

    /// <summary>A map the attr checks run on: max 4, key 4, value 8.</summary>
    private sealed record ErrnoMap(string Name, MapType Type, MapFlags Flags = MapFlags.None, uint? LockOffset = null);

    private static IEnumerable<ErrnoMap> ErrnoMaps()
    {
        (string, MapType, MapFlags)[] kinds =
        [
            ("hash", MapType.Hash, MapFlags.None),
            ("hash_noprealloc", MapType.Hash, MapFlags.NoPrealloc),
            ("percpu", MapType.PercpuHash, MapFlags.None),
            ("percpu_noprealloc", MapType.PercpuHash, MapFlags.NoPrealloc),
            ("lru", MapType.LruHash, MapFlags.None),
            ("array", MapType.Array, MapFlags.None),
        ];
        foreach ((string name, MapType type, MapFlags flags) in kinds)
        {
            yield return new(name, type, flags);
            yield return new(name + " RDONLY", type, flags | MapFlags.ReadOnly);
            yield return new(name + " WRONLY", type, flags | MapFlags.WriteOnly);
        }
        yield return new("hash_spinlock", MapType.Hash, MapFlags.None, 0);
        yield return new("hash_spinlock_noprealloc", MapType.Hash, MapFlags.NoPrealloc, 0);
        yield return new("array_spinlock", MapType.Array, MapFlags.None, 4);
        yield return new("array_spinlock RDONLY", MapType.Array, MapFlags.ReadOnly, 4);
    }

    /// <summary>One raw batch call: the attr fields that vary, and a patch for the rest.</summary>
    private sealed record AttrCase(string What, int Cmd, uint Count, ulong ElemFlags = 0, ulong Flags = 0, uint? In = null,
        uint? Fd = null, int Length = AttrSize, Action<byte[]>? Patch = null, bool NullKeys = false, bool NullValues = false);

    private static IEnumerable<AttrCase> AttrCases(int cmd, bool array)
    {
        bool lookup = cmd is CmdLookupBatch or CmdLookupAndDeleteBatch;
        uint n = lookup ? 4u : 1u;           // update/delete: one key, the one the map holds
        static Action<byte[]> Set(int at, byte b = 1) => a => a[at] = b;

        // The handle, before which only CHECK_ATTR and the attr size are looked at.
        yield return new("bad fd", cmd, n, Fd: BadFd);
        yield return new("bad fd, elem_flags=7 flags=1", cmd, n, 7, 1, Fd: BadFd);
        yield return new("bad fd, elem_flags=1<<40, count 0", cmd, 0, 1UL << 40, Fd: BadFd);
        yield return new("fd 1000000", cmd, n, Fd: 1_000_000);
        // CHECK_ATTR: the last field is batch.flags (ends at 56). 56..80 are FastMap's compare fields, which need
        // BPF_F_COMPARE (never set here).
        foreach (int at in new[] { 56, 63, 64, 68, 71, 72, 79, 80, 100, 167 })
            yield return new($"nonzero byte {at}", cmd, n, Patch: Set(at));
        foreach (int at in new[] { 56, 72, 167 })
            yield return new($"bad fd, nonzero byte {at}", cmd, n, Fd: BadFd, Patch: Set(at, 0x80));
        yield return new("176-byte attr, nonzero byte 170", cmd, n, Length: 176, Patch: Set(170));
        yield return new("176-byte attr, bad fd, nonzero byte 175", cmd, n, Fd: BadFd, Length: 176, Patch: Set(175));
        yield return new("176-byte attr, zero tail", cmd, n, Length: 176);
        yield return new("40-byte attr (no elem_flags)", cmd, n, 8, Length: 40);
        yield return new("48-byte attr (no flags)", cmd, n, Flags: 1, Length: 48);
        // elem_flags: only BPF_F_LOCK, and only with a spin lock (NOEXIST/EXIST included: not batch flags).
        foreach (ulong ef in new ulong[] { 1, 2, 3, 4, 5, 6, 7, 8, 16, 64, 1UL << 32, 1UL << 63 })
            yield return new($"elem_flags=0x{ef:x}", cmd, n, ef);
        if (cmd is not (CmdDeleteBatch or CmdUpdateBatch))  // FastMap's compare batches: pinned below
            yield return new("elem_flags=0x20 (BPF_F_COMPARE)", cmd, n, 32);
        // batch.flags: the hash walk checks it, the generic walks do not.
        foreach (ulong f in new ulong[] { 1, 2, 4, 1UL << 32, 1UL << 63 })
            yield return new($"flags=0x{f:x}", cmd, n, Flags: f);
        yield return new("flags=1 elem_flags=4", cmd, n, 4, 1);
        yield return new("flags=1 elem_flags=8", cmd, n, 8, 1);
        // count 0 does nothing, after the flag checks.
        yield return new("count 0", cmd, 0);
        yield return new("count 0, flags=1", cmd, 0, Flags: 1);
        yield return new("count 0, elem_flags=8", cmd, 0, 8);
        yield return new("count 0, elem_flags=4", cmd, 0, 4);
        yield return new("count 0, in_batch u32 max", cmd, 0, In: uint.MaxValue);
        yield return new("count 0, NULL keys and values", cmd, 0, NullKeys: true, NullValues: true);
        // Cursors: NULL and 0 are the start; far past every bucket count is the end for a hash, a restart for an array.
        yield return new("in_batch NULL", cmd, n);
        yield return new("in_batch NULL, count 1", cmd, 1);
        yield return new("in_batch 0", cmd, n, In: 0);
        foreach (uint at in new uint[] { 1u << 20, 0x7FFF_FFFF, uint.MaxValue })
        {
            yield return new($"in_batch 0x{at:x}", cmd, n, In: at);
            yield return new($"in_batch 0x{at:x}, flags=1", cmd, n, Flags: 1, In: at);
            yield return new($"in_batch 0x{at:x}, elem_flags=4", cmd, n, 4, In: at);
        }
        if (array)
        {
            foreach (uint at in new uint[] { 1, 2, 3, 4, 5 })
                yield return new($"array in_batch {at}", cmd, n, In: at);
        }
        // Bad pointers (NULL): the errno and the count the kernel leaves, not what it deleted first.
        if (cmd != CmdLookupAndDeleteBatch)
        {
            yield return new("NULL keys", cmd, n, NullKeys: true);
            if (cmd != CmdDeleteBatch)
                yield return new("NULL values", cmd, n, NullValues: true);
        }
        if (cmd == CmdLookupBatch)
        {
            yield return new("NULL out_batch", cmd, n, Patch: a => a.AsSpan(8, 8).Clear());
            yield return new("NULL out_batch, in_batch u32 max", cmd, n, In: uint.MaxValue, Patch: a => a.AsSpan(8, 8).Clear());
        }
    }

    /// <summary>
    /// Every batch command on every map type FastMap has (and RDONLY/WRONLY handles, and spin-lock values), through
    /// the same raw attr bytes on both sides: the return code, the count written back into the attr, whether
    /// <c>out_batch</c> was written (for arrays, its value), the key and value buffers, and the map's content after.
    /// The hash maps hold one key, so their outputs are comparable byte for byte despite the bucket layouts.
    /// </summary>
    [KernelFact]
    public void BatchAttrChecksAnswerAsTheKernelDoes()
    {
        RequireKernel();
        var mismatches = new List<string>();
        int cases = 0;
        RunPinned(() =>
        {
            foreach (ErrnoMap em in ErrnoMaps())
            {
                using var p = new BatchPair(em.Type, 4, 8, 4, em.Flags, em.LockOffset);
                bool array = em.Type == MapType.Array;
                bool writable = (em.Flags & MapFlags.ReadOnly) == 0;
                bool readable = (em.Flags & MapFlags.WriteOnly) == 0;
                byte[] key = [1, 0, 0, 0];
                byte[] value = new byte[p.ValueBytes];
                for (int i = 0; i < value.Length; i++)
                    value[i] = (byte)(0x10 + i);
                if (em.LockOffset is uint lo)
                    value.AsSpan((int)lo, 4).Clear();

                foreach (int cmd in new[] { CmdLookupBatch, CmdLookupAndDeleteBatch, CmdUpdateBatch, CmdDeleteBatch })
                {
                    foreach (AttrCase c in AttrCases(cmd, array))
                    {
                        cases++;
                        // The same state before every case: the one key present with its value.
                        if (writable)
                        {
                            int fu = p.Fm.UpdateElem(key, value), ku = p.Kernel.UpdateElem(key, value);
                            Assert.True(fu == 0 && ku == 0, $"{em.Name}: reset update FastMap {Errno(fu)}, kernel {Errno(ku)}");
                        }
                        string? diff = RunBoth(p, c, key, value, array);
                        if (diff is not null)
                            mismatches.Add($"{em.Name} {CmdName(cmd)} {c.What}: {diff}");
                    }
                }
                if (readable)
                {
                    // After the last case: the same content on both sides.
                    var fc = BatchScan.Contents(p.Fm, em.Name);
                    var kc = BatchScan.Contents(p.Kernel, em.Name);
                    if (!fc.OrderBy(e => e.Key).SequenceEqual(kc.OrderBy(e => e.Key)))
                        mismatches.Add($"{em.Name}: content after the cases differs: FastMap [{string.Join(' ', fc)}], kernel [{string.Join(' ', kc)}]");
                }
            }
        });
        Assert.True(cases > 1500, $"only {cases} cases ran");
        Assert.True(mismatches.Count == 0, $"{mismatches.Count} of {cases} batch attr cases differ:\n  " + string.Join("\n  ", mismatches));
    }

    /// <summary>Runs one case on both sides; null if they agree, else what differs.</summary>
    private static string? RunBoth(BatchPair p, AttrCase c, byte[] key, byte[] value, bool array)
    {
        var replies = new BatchReply[2];
        var buffers = new (byte[] Keys, byte[] Values)[2];
        AttrBatchTarget[] sides = [p.Fm, p.Kernel];
        for (int s = 0; s < 2; s++)
        {
            // Room for 8 entries, so a count the case does not mean to honour cannot overrun.
            byte[] keys = Pinned(8 * p.KeySize), values = Pinned(8 * p.ValueBytes);
            if (c.Cmd is CmdLookupBatch or CmdLookupAndDeleteBatch)
            {
                keys.AsSpan().Fill(0xA5);
                values.AsSpan().Fill(0xA5);
            }
            else
            {
                key.CopyTo(keys, 0);
                value.CopyTo(values, 0);
            }
            byte[] attr = sides[s].Attr(c.In, c.NullKeys ? null : keys, c.NullValues ? null : values, c.Count, c.ElemFlags,
                c.Flags, c.Fd, c.Length);
            c.Patch?.Invoke(attr);
            replies[s] = sides[s].Run(c.Cmd, attr);
            buffers[s] = (keys, values);
        }
        BatchReply f = replies[0], k = replies[1];
        // A hash out_batch is a bucket index of a different bucket array: compare whether it was written.
        bool sameOut = array ? f.OutBatch == k.OutBatch : f.OutBatch.HasValue == k.OutBatch.HasValue;
        if (f.Ret != k.Ret || f.Count != k.Count || !sameOut)
            return $"FastMap {f}, kernel {k}";
        // On -EFAULT the kernel has copied out what it reached before the bad pointer; FastMap refuses before the
        // first copy (and before deleting: HashBatch's remarks). Only the errno and the count are the contract there.
        if (k.Ret == -14)
            return null;
        if (!buffers[0].Keys.AsSpan().SequenceEqual(buffers[1].Keys) || !buffers[0].Values.AsSpan().SequenceEqual(buffers[1].Values))
            return $"both {k}, but the buffers differ: FastMap keys {Hex(buffers[0].Keys)} values {Hex(buffers[0].Values)}, " +
                $"kernel keys {Hex(buffers[1].Keys)} values {Hex(buffers[1].Values)}";
        return null;
    }

    /// <summary>
    /// What the kernel's generic batch walk does on an array, pinned as facts beside the call-by-call comparison:
    /// <c>batch.flags</c> is not checked (the hash walk's check is its own), an <c>in_batch</c> past the last index
    /// restarts at index 0 (it is the previous key of <c>array_map_get_next_key</c>), and the last index is the end.
    /// </summary>
    [KernelFact]
    public void ArrayLookupBatchIgnoresFlagsAndRestartsPastTheEndOnBothSides()
    {
        RequireKernel();
        using var p = new BatchPair(MapType.Array, 4, 8, 6);
        foreach (BatchTarget t in new BatchTarget[] { p.Kernel, p.Fm })
        {
            byte[] keys = Pinned(4 * 4), values = Pinned(4 * 8);
            Assert.Equal(new BatchReply(0, 2, 1), t.Lookup(false, null, 2, keys, values, flags: 1));
            Assert.Equal(new BatchReply(0, 2, 1), t.Lookup(false, null, 2, keys, values, flags: 1UL << 63));
            Assert.Equal(new BatchReply(0, 2, 1), t.Lookup(false, 6, 2, keys, values));
            Assert.Equal(new BatchReply(0, 2, 1), t.Lookup(false, uint.MaxValue, 2, keys, values));
            Assert.Equal([0, 0, 0, 0, 1, 0, 0, 0], keys[..8]);
            Assert.Equal(new BatchReply(ENOENT, 1, 5), t.Lookup(false, 4, 2, keys, values));
            Assert.Equal(new BatchReply(ENOENT, 0, null), t.Lookup(false, 5, 2, keys, values));
            Assert.Equal(new BatchReply(ENOENT, 6, 5), t.Lookup(false, null, 8, Pinned(8 * 4), Pinned(8 * 8)));
        }
        // The hash walk, by contrast: flags=1 is EINVAL, and a cursor far past the buckets is the end.
        using var h = new BatchPair(MapType.Hash, 4, 8, 6);
        foreach (BatchTarget t in new BatchTarget[] { h.Kernel, h.Fm })
        {
            Assert.Equal(0, t.UpdateElem([1, 0, 0, 0], new byte[8]));
            Assert.Equal(new BatchReply(EINVAL, 2, null), t.Lookup(false, null, 2, Pinned(8), Pinned(16), flags: 1));
            Assert.Equal(new BatchReply(ENOENT, 0, null), t.Lookup(false, uint.MaxValue, 2, Pinned(8), Pinned(16)));
        }
    }

    /// <summary>
    /// FastMap's batch compare-and-delete rides on DELETE_BATCH with <c>BPF_F_COMPARE</c> and fields after
    /// <c>batch.flags</c>; the 6.18 kernel refuses both (EINVAL), which is why the comparison above leaves them out.
    /// Pinned so that the extension stays the only place the two differ on DELETE_BATCH.
    /// </summary>
    [KernelFact]
    public void DeleteBatchWithCompareIsFastMapsExtensionAndTheKernelRefusesIt()
    {
        RequireKernel();
        using var p = new BatchPair(MapType.Hash, 4, 8, 4);
        byte[] key = [7, 0, 0, 0], value = [1, 2, 3, 4, 5, 6, 7, 8];
        Assert.Equal(0, p.Fm.UpdateElem(key, value));
        Assert.Equal(0, p.Kernel.UpdateElem(key, value));
        byte[] keys = Pack([key], 4), compares = Pack([value[..4]], 4), results = Pinned(4);

        byte[] ka = p.Kernel.Attr(null, keys, null, 1, 32, 0);
        Assert.Equal(new BatchReply(EINVAL, 1, null), p.Kernel.Run(CmdDeleteBatch, ka));
        ka = p.Kernel.Attr(null, keys, null, 1, 0, 0);
        BinaryPrimitives.WriteUInt64LittleEndian(ka.AsSpan(56), Address(compares));
        Assert.Equal(new BatchReply(EINVAL, 1, null), p.Kernel.Run(CmdDeleteBatch, ka));

        byte[] fa = p.Fm.Attr(null, keys, null, 1, 32, 0);
        BinaryPrimitives.WriteUInt64LittleEndian(fa.AsSpan(56), Address(compares));
        BinaryPrimitives.WriteUInt32LittleEndian(fa.AsSpan(68), 4);
        BinaryPrimitives.WriteUInt64LittleEndian(fa.AsSpan(72), Address(results));
        Assert.Equal(new BatchReply(0, 1, null), p.Fm.Run(CmdDeleteBatch, fa));
        Assert.Equal(0, BinaryPrimitives.ReadInt32LittleEndian(results));
        Assert.Empty(BatchScan.Contents(p.Fm, "after compare"));
    }

    /// <summary>
    /// FastMap's batch compare-and-swap update rides on UPDATE_BATCH with <c>BPF_F_COMPARE</c> and the delete batch's
    /// compare fields; the 6.18 kernel refuses the flag (EINVAL). Pinned so that the extension stays the only place
    /// the two differ on UPDATE_BATCH.
    /// </summary>
    [KernelFact]
    public void UpdateBatchWithCompareIsFastMapsExtensionAndTheKernelRefusesIt()
    {
        RequireKernel();
        using var p = new BatchPair(MapType.Hash, 4, 8, 4);
        byte[] key = [7, 0, 0, 0], value = [1, 2, 3, 4, 5, 6, 7, 8], next = [9, 9, 9, 9, 9, 9, 9, 9];
        Assert.Equal(0, p.Fm.UpdateElem(key, value));
        Assert.Equal(0, p.Kernel.UpdateElem(key, value));
        byte[] keys = Pack([key], 4), values = Pack([next], 8), compares = Pack([value[..4]], 4), results = Pinned(4);

        byte[] ka = p.Kernel.Attr(null, keys, values, 1, 32, 0);
        Assert.Equal(new BatchReply(EINVAL, 1, null), p.Kernel.Run(CmdUpdateBatch, ka));

        byte[] fa = p.Fm.Attr(null, keys, values, 1, 32, 0);
        BinaryPrimitives.WriteUInt64LittleEndian(fa.AsSpan(56), Address(compares));
        BinaryPrimitives.WriteUInt32LittleEndian(fa.AsSpan(68), 4);
        BinaryPrimitives.WriteUInt64LittleEndian(fa.AsSpan(72), Address(results));
        Assert.Equal(new BatchReply(0, 1, null), p.Fm.Run(CmdUpdateBatch, fa));
        Assert.Equal(0, BinaryPrimitives.ReadInt32LittleEndian(results));
    }

    /// <summary>
    /// LOOKUP_AND_DELETE_BATCH with a NULL keys, values or out_batch pointer on a map holding a key: both return
    /// -EFAULT with count 0, but the kernel has already unlinked the bucket it copied (it copies out after the delete
    /// and drops the entries), while FastMap refuses before deleting, by design (HashBatch's remarks). Pinned here so
    /// the difference stays deliberate, as for the single-element command in <see cref="KernelDifferentialTests"/>.
    /// </summary>
    [KernelTheory]
    [InlineData(16)]
    [InlineData(24)]
    [InlineData(8)]
    public void LookupAndDeleteBatchWithANullPointerFailsAlikeButOnlyTheKernelLosesTheKeys(int pointerOffset)
    {
        RequireKernel();
        using var p = new BatchPair(MapType.Hash, 4, 8, 4);
        byte[] key = [3, 0, 0, 0], value = [9, 8, 7, 6, 5, 4, 3, 2];
        foreach (AttrBatchTarget t in new[] { p.Kernel, p.Fm })
        {
            Assert.Equal(0, t.UpdateElem(key, value));
            byte[] a = t.Attr(null, Pinned(16), Pinned(32), 4, 0, 0);
            a.AsSpan(pointerOffset, 8).Clear();
            Assert.Equal(new BatchReply(-14, 0, null), t.Run(CmdLookupAndDeleteBatch, a));
        }
        Assert.Empty(BatchScan.Contents(p.Kernel, "kernel after EFAULT"));
        Assert.Equal(Hex(value), BatchScan.Contents(p.Fm, "FastMap after EFAULT")[Hex(key)]);
    }

    // ---- 2. full scans -------------------------------------------------------------------------------------------

    private static readonly MapConfig[] s_scans =
    [
        new("hash_k1_v8_max200_fill150", MapType.Hash, 1, 8, 200, Fill: 150),
        new("hash_k4_v32_max256_full", MapType.Hash, 4, 32, 256, Fill: 256),
        new("hash_k16_v100_max100_fill80", MapType.Hash, 16, 100, 100, Fill: 80),
        new("hash_k64_v8_max64_full", MapType.Hash, 64, 8, 64, Fill: 64),
        new("hash_noprealloc_k16_v32_max128_fill100", MapType.Hash, 16, 32, 128, MapFlags.NoPrealloc, Fill: 100),
        new("hash_k4_v8_max1000_fill3", MapType.Hash, 4, 8, 1000, Fill: 3),
        new("hash_k4_v8_max16_empty", MapType.Hash, 4, 8, 16, Fill: 0),
        new("percpu_k4_v8_max64_fill50", MapType.PercpuHash, 4, 8, 64, Fill: 50),
        new("percpu_k16_v100_max32_full", MapType.PercpuHash, 16, 100, 32, Fill: 32),
        new("percpu_noprealloc_k1_v32_max100_fill90", MapType.PercpuHash, 1, 32, 100, MapFlags.NoPrealloc, Fill: 90),
        new("lru_k4_v32_max256_fill100", MapType.LruHash, 4, 32, 256, Fill: 100),
        new("lru_k64_v100_max64_fill31", MapType.LruHash, 64, 100, 64, Fill: 31),
        new("hash_spinlock_k4_v8_max64_fill40", MapType.Hash, 4, 8, 64, LockOffset: 0, Fill: 40),
        new("hash_spinlock_noprealloc_k4_v12_max32_full", MapType.Hash, 4, 12, 32, MapFlags.NoPrealloc, 4, Fill: 32),
    ];

    public static TheoryData<string> ScanConfigs() => Names(s_scans.Select(c => c.Name));

    private static readonly int[] s_batchSizes = [1, 2, 5, 64, 1000];

    /// <summary>Fills both sides with the same keys and values by single updates; returns the model.</summary>
    private static Dictionary<string, string> Fill(BatchPair p, IEnumerable<BatchTarget> fmSides, IReadOnlyList<byte[]> keys,
        IReadOnlyList<byte[]> values, string what)
    {
        var model = new Dictionary<string, string>();
        for (int i = 0; i < keys.Count; i++)
        {
            int k = p.Kernel.UpdateElem(keys[i], values[i]);
            foreach (BatchTarget f in fmSides)
            {
                int r = f.UpdateElem(keys[i], values[i]);
                Assert.True(r == k, $"{what}: fill update {Hex(keys[i])}: {f.Name} {Errno(r)}, kernel {Errno(k)}");
            }
            Assert.True(k == 0, $"{what}: fill update {Hex(keys[i])} gave {Errno(k)}");
            model[Hex(keys[i])] = Hex(values[i]);
        }
        return model;
    }

    /// <summary>
    /// Full lookup_batch and lookup_and_delete_batch scans at counts 1, 2, 5, 64 and 1000 (growing the buffer on
    /// <c>-ENOSPC</c>, as libbpf users do) on the kernel, on FastMap through attrs and through the API: each returns
    /// every key once with its value and ends with <c>-ENOENT</c>; the deleting scans leave every map empty; a call
    /// from the cursor a scan ended on is <c>-ENOENT</c> with nothing, and the kernel's is n_buckets.
    /// </summary>
    [KernelTheory]
    [MemberData(nameof(ScanConfigs))]
    public void FullScansReturnTheSameEntriesAsTheKernel(string config)
    {
        RequireKernel();
        MapConfig c = s_scans.Single(x => x.Name == config);
        (Random rng, string seed) = Stream(config);
        if (c.Type == MapType.LruHash)
            Assert.True(c.Fill <= LruCap(c.MaxEntries), $"{config}: fill {c.Fill} is past the LRU's eviction-free {LruCap(c.MaxEntries)}");
        string? pinError = RunPinned(() =>
        {
            using var p = new BatchPair(c.Type, c.KeySize, c.ValueSize, c.MaxEntries, c.Flags, c.LockOffset);
            List<byte[]> keys = RandomKeys(rng, (int)c.KeySize, c.Fill);
            List<byte[]> values = [.. keys.Select(_ => RandomValue(rng, p.ValueBytes, c.LockOffset))];
            string what = $"{config} {seed}";
            Dictionary<string, string> model = Fill(p, [p.Fm], keys, values, what);
            uint kernelBuckets = BitOperations.RoundUpToPowerOf2(c.MaxEntries);
            ulong[] elemFlags = c.LockOffset is null ? [0] : [0, Lock];

            foreach (ulong ef in elemFlags)
            {
                foreach (int batch in s_batchSizes)
                {
                    string w = $"{what} batch={batch} elem_flags={ef}";
                    foreach (BatchTarget t in new BatchTarget[] { p.Kernel, p.Fm, p.Api })
                    {
                        BatchScan.Result r = BatchScan.Scan(t, false, batch, w, ef);
                        BatchScan.AssertIs(r, model, $"{w} {t.Name}");
                        if (t is AttrBatchTarget a)
                            AssertEndCursor(a, r, t == p.Kernel ? kernelBuckets : null, w);
                    }
                }
            }

            foreach (int batch in s_batchSizes)
            {
                string w = $"{what} delete batch={batch}";
                foreach (BatchTarget t in new BatchTarget[] { p.Kernel, p.Fm, p.Api })
                {
                    BatchScan.Result r = BatchScan.Scan(t, true, batch, w);
                    BatchScan.AssertIs(r, model, $"{w} {t.Name}");
                    Assert.True(BatchScan.Contents(t, w).Count == 0, $"{w}: {t.Name} is not empty after a deleting scan");
                    if (t is AttrBatchTarget a)
                        AssertEndCursor(a, r, t == p.Kernel ? kernelBuckets : null, w);
                    // Refill this side for the next one (FastMap's attr and API sides share one map).
                    foreach ((byte[] k, byte[] v) in keys.Zip(values))
                        Assert.Equal(0, t.UpdateElem(k, v));
                }
            }
        });
        if (c.Type == MapType.LruHash)
            Assert.True(pinError is null, "LRU maps need CPU pinning for the kernel side to be deterministic: " + pinError);
    }

    /// <summary>
    /// The last call of a scan wrote <c>out_batch</c> (the kernel: n_buckets); from it, a call returns
    /// <c>-ENOENT</c>, count 0, and leaves <c>out_batch</c> alone.
    /// </summary>
    private static void AssertEndCursor(AttrBatchTarget t, BatchScan.Result r, uint? expected, string what)
    {
        BatchReply last = r.Replies[^1];
        Assert.True(last.OutBatch is not null, $"{what}: {t.Name}'s last call did not write out_batch: {r.Calls}");
        if (expected is uint e)
            Assert.True(last.OutBatch == e, $"{what}: {t.Name}'s scan ended at {last.OutBatch}, expected n_buckets {e}");
        byte[] keys = Pinned(4 * t.KeySize), values = Pinned(4 * t.ValueBytes);
        foreach (bool delete in new[] { false, true })
        {
            BatchReply again = t.Lookup(delete, last.OutBatch, 4, keys, values);
            Assert.True(again == new BatchReply(ENOENT, 0, null), $"{what}: {t.Name} from the end cursor {last.OutBatch}: {again}");
        }
    }

    private static readonly MapConfig[] s_arrays =
    [
        new("array_v8_max10", MapType.Array, 4, 8, 10),
        new("array_v32_max100", MapType.Array, 4, 32, 100),
        new("array_v100_max7", MapType.Array, 4, 100, 7),
        new("array_v1_max3", MapType.Array, 4, 1, 3),
        new("array_spinlock_v8_max16", MapType.Array, 4, 8, 16, LockOffset: 4),
    ];

    public static TheoryData<string> ArrayConfigs() => Names(s_arrays.Select(c => c.Name));

    /// <summary>
    /// Array lookup_batch walks, from cursors NULL, 0, 1, max-2, max-1, max, max+1, 2^31 and u32 max at counts 1, 2,
    /// 3, 5, 64 and 1000 (and with <c>batch.flags</c> 1, and F_LOCK on a spin-lock array): every call's status, count,
    /// <c>out_batch</c> and key and value bytes are the kernel's. The API's scan returns the kernel's entries in order.
    /// </summary>
    [KernelTheory]
    [MemberData(nameof(ArrayConfigs))]
    public void ArrayScansMatchTheKernelCallByCall(string config)
    {
        RequireKernel();
        MapConfig c = s_arrays.Single(x => x.Name == config);
        (Random rng, string seed) = Stream(config);
        using var p = new BatchPair(c.Type, c.KeySize, c.ValueSize, c.MaxEntries, c.Flags, c.LockOffset);
        uint max = c.MaxEntries;
        // About half the indices get a value; the rest stay zero.
        for (uint i = 0; i < max; i++)
        {
            if (rng.Next(2) == 0)
                continue;
            byte[] key = BitConverter.GetBytes(i), value = RandomValue(rng, p.ValueBytes, c.LockOffset);
            int f = p.Fm.UpdateElem(key, value), k = p.Kernel.UpdateElem(key, value);
            Assert.True(f == 0 && k == 0, $"{config}: fill {i}: FastMap {Errno(f)}, kernel {Errno(k)}");
        }

        var mismatches = new List<string>();
        uint?[] starts = [null, 0, 1, max - 2, max - 1, max, max + 1, 1u << 31, uint.MaxValue];
        var runs = new List<(uint Count, ulong ElemFlags, ulong Flags)>();
        foreach (uint count in new uint[] { 1, 2, 3, 5, 64, 1000 })
            runs.Add((count, 0, 0));
        runs.Add((3, 0, 1));
        runs.Add((2, 0, 1UL << 63));
        if (c.LockOffset is not null)
            runs.Add((3, Lock, 0));
        foreach ((uint count, ulong ef, ulong flags) in runs)
        {
            foreach (uint? start in starts)
            {
                uint? cursor = start;
                for (int call = 0; call < (max / count) + 3; call++)
                {
                    string what = $"{config} {seed} count={count} elem_flags={ef} flags=0x{flags:x} " +
                        $"start={start?.ToString(CultureInfo.InvariantCulture) ?? "NULL"} call #{call + 1} " +
                        $"in_batch={cursor?.ToString(CultureInfo.InvariantCulture) ?? "NULL"}";
                    byte[] fk = Pinned((int)count * 4), fv = Pinned((int)count * p.ValueBytes);
                    byte[] kk = Pinned((int)count * 4), kv = Pinned((int)count * p.ValueBytes);
                    foreach (byte[] b in new[] { fk, fv, kk, kv })
                        b.AsSpan().Fill(0xA5);
                    BatchReply f = p.Fm.Lookup(false, cursor, count, fk, fv, ef, flags);
                    BatchReply k = p.Kernel.Lookup(false, cursor, count, kk, kv, ef, flags);
                    if (f != k)
                        mismatches.Add($"{what}: FastMap {f}, kernel {k}");
                    else if (!fk.AsSpan().SequenceEqual(kk) || !fv.AsSpan().SequenceEqual(kv))
                        mismatches.Add($"{what}: both {k}, buffers differ: FastMap {Hex(fk)} {Hex(fv)}, kernel {Hex(kk)} {Hex(kv)}");
                    if (f != k || k.Ret != 0)
                        break;
                    cursor = k.OutBatch;
                }
            }
        }
        Assert.True(mismatches.Count == 0, $"{mismatches.Count} array batch calls differ:\n  " + string.Join("\n  ", mismatches));

        foreach (int batch in new[] { 1, 3, 1000 })
        {
            BatchScan.Result kernel = BatchScan.Scan(p.Kernel, false, batch, config);
            BatchScan.Result api = BatchScan.Scan(p.Api, false, batch, config);
            Assert.Equal((int)max, kernel.Entries.Count);
            Assert.Equal(kernel.Entries, api.Entries);
            Assert.Equal(kernel.Replies.Select(r => (r.Ret, r.Count)), api.Replies.Select(r => (r.Ret, r.Count)));
        }
    }

    // ---- 3. update_batch ------------------------------------------------------------------------------------------

    private static readonly (string Name, MapType Type, MapFlags Flags)[] s_hashKinds =
    [
        ("hash", MapType.Hash, MapFlags.None),
        ("hash_noprealloc", MapType.Hash, MapFlags.NoPrealloc),
        ("percpu", MapType.PercpuHash, MapFlags.None),
        ("percpu_noprealloc", MapType.PercpuHash, MapFlags.NoPrealloc),
        ("lru", MapType.LruHash, MapFlags.None),
    ];

    public static TheoryData<string, bool> HashKinds()
    {
        var data = new TheoryData<string, bool>();
        foreach ((string name, _, _) in s_hashKinds)
        {
            data.Add(name, false);
            data.Add(name, true);
        }
        return data;
    }

    /// <summary>Both sides' content, each equal to the model.</summary>
    private static void AssertContents(BatchPair p, BatchTarget fm, IReadOnlyDictionary<string, string> model, string what)
    {
        BatchScan.AssertIs(BatchScan.Scan(p.Kernel, false, 64, what), model, what + " kernel");
        BatchScan.AssertIs(BatchScan.Scan(fm, false, 64, what), model, what + " " + fm.Name);
    }

    /// <summary>Runs an update batch on both sides; both must answer <paramref name="expected"/>; applies it to the model.</summary>
    private static void UpdateBoth(BatchPair p, BatchTarget fm, Dictionary<string, string> model, List<byte[]> keys,
        List<byte[]> values, BatchReply expected, string what)
    {
        BatchReply k = p.Kernel.Update(Pack(keys, p.KeySize), Pack(values, p.ValueBytes), (uint)keys.Count);
        BatchReply f = fm.Update(Pack(keys, p.KeySize), Pack(values, p.ValueBytes), (uint)keys.Count);
        Assert.True(k == f, $"{what}: {fm.Name} {f}, kernel {k}");
        Assert.True(k == expected, $"{what}: both {k}, expected {expected}");
        for (int i = 0; i < k.Count; i++)
            model[Hex(keys[i])] = Hex(values[i]);
    }

    /// <summary>
    /// update_batch applies its elements in order and stops at the first error with the count applied: 10 new keys;
    /// then 3 replacements and 7 new keys interleaved into a map of 16, which the hashes stop at the 7th new key with
    /// <c>-E2BIG</c> (replacements still succeed when full); then only replacements into the full map; a duplicate
    /// key (the last value wins); count 0. LRU maps evict instead: the same batches succeed whole on both sides.
    /// </summary>
    [KernelTheory]
    [MemberData(nameof(HashKinds))]
    public void UpdateBatchAppliesInOrderAndStopsWhenFullAsTheKernelDoes(string kind, bool api)
    {
        RequireKernel();
        (_, MapType type, MapFlags flags) = s_hashKinds.Single(x => x.Name == kind);
        bool lru = type == MapType.LruHash;
        (Random rng, string seed) = Stream("update " + kind + api);
        string? pinError = RunPinned(() =>
        {
            using var p = new BatchPair(type, 8, 16, 16, flags);
            BatchTarget fm = api ? p.Api : p.Fm;
            string what = $"{kind} via {fm.Name} {seed}";
            List<byte[]> universe = RandomKeys(rng, 8, 40);
            var model = new Dictionary<string, string>();
            List<byte[]> Values(int n) => [.. Enumerable.Range(0, n).Select(_ => RandomValue(rng, p.ValueBytes, null))];

            // LRU: 7 keys stay eviction-free on the kernel (LruCap(16)); the hashes take 10.
            int first = lru ? LruCap(16) : 10;
            List<byte[]> batch = universe.GetRange(0, first);
            UpdateBoth(p, fm, model, batch, Values(first), new BatchReply(0, (uint)first, null), what + " new keys");
            AssertContents(p, fm, model, what + " after new keys");
            if (lru)
            {
                // Past capacity: every update succeeds on both sides, each keeps at most max entries with the last
                // value written, and both evicted (the kernel's choice of victims is approximate: not compared).
                batch = universe.GetRange(first, 30);
                List<byte[]> values = Values(30);
                UpdateBoth(p, fm, model, batch, values, new BatchReply(0, 30, null), what + " 30 more keys");
                foreach (BatchTarget t in new[] { p.Kernel, fm })
                {
                    Dictionary<string, string> got = BatchScan.Contents(t, what);
                    Assert.True(got.Count is > 0 and <= 16, $"{what}: {t.Name} holds {got.Count} entries after overflowing an LRU of 16");
                    Assert.All(got, e => Assert.True(model[e.Key] == e.Value, $"{what}: {t.Name} {e.Key} = {e.Value}, last written {model[e.Key]}"));
                    Assert.True(got.ContainsKey(Hex(batch[^1])), $"{what}: {t.Name} evicted the key it inserted last");
                }
                return;
            }

            // E N E N N E N N N N: 10 present + 6 new fill 16; the 7th new key (index 9) is refused.
            batch = [universe[0], universe[10], universe[1], universe[11], universe[12], universe[2], universe[13], universe[14],
                universe[15], universe[16]];
            UpdateBoth(p, fm, model, batch, Values(10), new BatchReply(E2BIG, 9, null), what + " overflow");
            AssertContents(p, fm, model, what + " after overflow");
            Assert.Equal(16, model.Count);

            batch = [.. universe.GetRange(0, 16).Where(k => model.ContainsKey(Hex(k)))];
            UpdateBoth(p, fm, model, batch, Values(batch.Count), new BatchReply(0, (uint)batch.Count, null), what + " replacements when full");
            batch = [universe[3], universe[3], universe[16]];
            UpdateBoth(p, fm, model, batch, Values(3), new BatchReply(E2BIG, 2, null), what + " duplicate key then a new one when full");
            UpdateBoth(p, fm, model, [], [], new BatchReply(0, 0, null), what + " count 0");
            AssertContents(p, fm, model, what + " at the end");
        });
        if (lru)
            Assert.True(pinError is null, "LRU maps need CPU pinning for the kernel side to be deterministic: " + pinError);
    }

    /// <summary>
    /// Array update_batch: in-range indices apply, the first index past the end stops the batch with <c>-E2BIG</c>
    /// and the count applied; the content is the kernel's index by index.
    /// </summary>
    [KernelTheory]
    [InlineData(false)]
    [InlineData(true)]
    public void ArrayUpdateBatchStopsAtTheFirstIndexPastTheEnd(bool api)
    {
        RequireKernel();
        (Random rng, string seed) = Stream("array update " + api);
        using var p = new BatchPair(MapType.Array, 4, 12, 8);
        BatchTarget fm = api ? p.Api : p.Fm;
        List<byte[]> Keys(params uint[] ix) => [.. ix.Select(i => BitConverter.GetBytes(i))];
        List<byte[]> Values(int n) => [.. Enumerable.Range(0, n).Select(_ => RandomValue(rng, 12, null))];
        (List<byte[]> Keys, BatchReply Expected)[] steps =
        [
            (Keys(0, 1, 2, 8, 3), new BatchReply(E2BIG, 3, null)),
            (Keys(9), new BatchReply(E2BIG, 0, null)),
            (Keys(7, 6, 7, uint.MaxValue), new BatchReply(E2BIG, 3, null)),
            (Keys(5, 4, 3, 2, 1, 0), new BatchReply(0, 6, null)),
        ];
        foreach ((List<byte[]> keys, BatchReply expected) in steps)
        {
            List<byte[]> values = Values(keys.Count);
            BatchReply k = p.Kernel.Update(Pack(keys, 4), Pack(values, 12), (uint)keys.Count);
            BatchReply f = fm.Update(Pack(keys, 4), Pack(values, 12), (uint)keys.Count);
            Assert.True(k == f && k == expected, $"{seed} array update {string.Join(",", keys.Select(x => Hex(x)))}: {fm.Name} {f}, kernel {k}, expected {expected}");
            BatchScan.Result ks = BatchScan.Scan(p.Kernel, false, 8, "array"), fs = BatchScan.Scan(fm, false, 8, "array");
            Assert.Equal(ks.Entries, fs.Entries);
        }
    }

    // Spin-lock maps: the kernel side's BTF key is an int, and keys are indices below max on every type.
    private static readonly MapConfig[] s_locks =
    [
        new("hash_spinlock_v8_lock0", MapType.Hash, 4, 8, 16, LockOffset: 0),
        new("hash_spinlock_noprealloc_v12_lock4", MapType.Hash, 4, 12, 16, MapFlags.NoPrealloc, 4),
        new("array_spinlock_v8_lock4", MapType.Array, 4, 8, 16, LockOffset: 4),
    ];

    public static TheoryData<string> LockConfigs() => Names(s_locks.Select(c => c.Name));

    /// <summary>
    /// BPF_F_LOCK batches on a value with a <c>bpf_spin_lock</c> (BTF on the kernel side, a declared offset on
    /// FastMap's): update_batch with and without F_LOCK, on new and present keys, with nonzero bytes where the lock
    /// is (ignored on the way in); lookup scans with and without F_LOCK return zeroed lock bytes; delete_batch with
    /// F_LOCK; a deleting F_LOCK scan. Arrays take the generic walks and refuse the deleting ones (524).
    /// </summary>
    [KernelTheory]
    [MemberData(nameof(LockConfigs))]
    public void SpinLockBatchesWithFLockAnswerAsTheKernelDoes(string config)
    {
        RequireKernel();
        MapConfig c = s_locks.Single(x => x.Name == config);
        bool array = c.Type == MapType.Array;
        (Random rng, string seed) = Stream(config);
        uint max = c.MaxEntries, lockOffset = c.LockOffset!.Value;
        using var p = new BatchPair(c.Type, c.KeySize, c.ValueSize, max, c.Flags, lockOffset);
        var model = new Dictionary<string, string>();
        if (array)
        {
            for (uint i = 0; i < max; i++)
                model[Hex(BitConverter.GetBytes(i))] = Hex(new byte[c.ValueSize]);
        }
        string what = $"{config} {seed}";

        // Keys 0..max-1 (array indices), in a shuffled order; values carry junk in the lock word.
        uint[] order = [.. Enumerable.Range(0, (int)max).Select(i => (uint)i).OrderBy(_ => rng.Next())];
        void Update(uint[] ix, ulong elemFlags, BatchReply expected, string step)
        {
            List<byte[]> keys = [.. ix.Select(i => BitConverter.GetBytes(i))];
            List<byte[]> values = [.. ix.Select(_ => RandomValue(rng, (int)c.ValueSize, null))];
            BatchReply k = p.Kernel.Update(Pack(keys, 4), Pack(values, p.ValueBytes), (uint)ix.Length, elemFlags);
            BatchReply f = p.Fm.Update(Pack(keys, 4), Pack(values, p.ValueBytes), (uint)ix.Length, elemFlags);
            Assert.True(k == f && k == expected, $"{what} {step}: FastMap {f}, kernel {k}, expected {expected}");
            for (int i = 0; i < k.Count; i++)
            {
                values[i].AsSpan((int)lockOffset, 4).Clear();
                model[Hex(keys[i])] = Hex(values[i]);
            }
        }
        void Check(string step)
        {
            foreach (ulong ef in new ulong[] { 0, Lock })
            {
                foreach (int batch in new[] { 1, 3, 64 })
                {
                    BatchScan.AssertIs(BatchScan.Scan(p.Kernel, false, batch, what, ef), model, $"{what} {step} kernel batch={batch} elem_flags={ef}");
                    BatchScan.AssertIs(BatchScan.Scan(p.Fm, false, batch, what, ef), model, $"{what} {step} FastMap batch={batch} elem_flags={ef}");
                }
            }
        }

        Update(order[..6], Lock, new BatchReply(0, 6, null), "F_LOCK on new keys");
        Check("after F_LOCK inserts");
        Update(order[..3], Lock, new BatchReply(0, 3, null), "F_LOCK on present keys");
        Update([.. order[3..6], .. order[6..9]], 0, new BatchReply(0, 6, null), "no F_LOCK, present and new");
        Update([order[9], order[0], max + 3, order[10]], Lock, new BatchReply(array ? E2BIG : 0, array ? 2u : 4u, null),
            "F_LOCK with an index past the end (arrays: E2BIG; hashes: a key like any other)");
        Check("after the updates");

        List<byte[]> del = [.. order[..4].Select(i => BitConverter.GetBytes(i))];
        BatchReply kd = p.Kernel.Delete(Pack(del, 4), 4, Lock), fd = p.Fm.Delete(Pack(del, 4), 4, Lock);
        Assert.True(kd == fd && kd == (array ? new BatchReply(ENOTSUPP, 4, null) : new BatchReply(0, 4, null)),
            $"{what} delete_batch F_LOCK: FastMap {fd}, kernel {kd}");
        if (!array)
        {
            foreach (byte[] k in del)
                model.Remove(Hex(k));
        }
        Check("after delete_batch");

        if (array)
        {
            BatchReply kl = p.Kernel.Lookup(true, null, 4, Pinned(16), Pinned(64), Lock);
            BatchReply fl = p.Fm.Lookup(true, null, 4, Pinned(16), Pinned(64), Lock);
            Assert.True(kl == fl && kl.Ret == ENOTSUPP, $"{what} lookup_and_delete_batch F_LOCK: FastMap {fl}, kernel {kl}");
            return;
        }
        foreach (BatchTarget t in new BatchTarget[] { p.Kernel, p.Fm })
        {
            BatchScan.AssertIs(BatchScan.Scan(t, true, 3, what, Lock), model, $"{what} {t.Name} deleting F_LOCK scan");
            Assert.Empty(BatchScan.Contents(t, what));
        }
    }

    // ---- 4. delete_batch ------------------------------------------------------------------------------------------

    /// <summary>
    /// delete_batch deletes in order and stops at the first error: [present, present, missing, present] is
    /// <c>-ENOENT</c> with count 2 and the last key kept; all present is 0 with the full count; a key twice stops at
    /// the second; a missing first key deletes nothing; count 0 does nothing.
    /// </summary>
    [KernelTheory]
    [MemberData(nameof(HashKinds))]
    public void DeleteBatchStopsAtTheFirstMissingKeyAsTheKernelDoes(string kind, bool api)
    {
        RequireKernel();
        (_, MapType type, MapFlags flags) = s_hashKinds.Single(x => x.Name == kind);
        (Random rng, string seed) = Stream("delete " + kind + api);
        string? pinError = RunPinned(() =>
        {
            using var p = new BatchPair(type, 12, 20, 32, flags);
            BatchTarget fm = api ? p.Api : p.Fm;
            string what = $"{kind} via {fm.Name} {seed}";
            List<byte[]> keys = RandomKeys(rng, 12, 9);
            byte[] missing = keys[8];
            keys.RemoveAt(8);
            var model = Fill(p, [fm], keys, [.. keys.Select(_ => RandomValue(rng, p.ValueBytes, null))], what);

            (byte[][] Batch, BatchReply Expected)[] steps =
            [
                ([keys[0], keys[1], missing, keys[2]], new BatchReply(ENOENT, 2, null)),
                ([keys[2], keys[3], keys[4]], new BatchReply(0, 3, null)),
                ([keys[5], keys[5]], new BatchReply(ENOENT, 1, null)),
                ([missing, keys[6]], new BatchReply(ENOENT, 0, null)),
                ([], new BatchReply(0, 0, null)),
                ([keys[6], keys[7]], new BatchReply(0, 2, null)),
            ];
            foreach ((byte[][] batch, BatchReply expected) in steps)
            {
                string step = $"{what} delete [{string.Join(' ', batch.Select(k => Hex(k)))}]";
                BatchReply k = p.Kernel.Delete(Pack(batch, 12), (uint)batch.Length);
                BatchReply f = fm.Delete(Pack(batch, 12), (uint)batch.Length);
                Assert.True(k == f && k == expected, $"{step}: {fm.Name} {f}, kernel {k}, expected {expected}");
                for (int i = 0; i < k.Count; i++)
                    model.Remove(Hex(batch[i]));
                AssertContents(p, fm, model, step);
            }
            Assert.Empty(model);
        });
        if (type == MapType.LruHash)
            Assert.True(pinError is null, "LRU maps need CPU pinning for the kernel side to be deterministic: " + pinError);
    }
}
