using System.Buffers.Binary;
using FastMap.Kernel;
using static FastMap.Kernel.KernelBpf;

namespace FastMap.Tests.Kernel;

/// <summary>
/// Proves the bpf() wrapper against the documented 6.18 semantics (shared/spec/KERNEL-SEMANTICS.md). These need root
/// and bpf(); when the kernel is not usable they fail with the probe's reason rather than skip, since every machine
/// and CI runner here has it, except for a non-root user whom bpf() refuses with EPERM: then they skip, saying so
/// (<see cref="KernelFactAttribute"/>).
/// </summary>
public sealed class KernelBpfTests
{
    private const int ENOENT = -KernelBpf.Errno.ENOENT;

    /// <summary>An fd that closes itself; fails the test with the probe reason when bpf() is unusable.</summary>
    private sealed class Map : IDisposable
    {
        public int Fd { get; }

        public Map(int fd)
        {
            Assert.True(fd >= 0, $"map create failed with {fd}");
            Fd = fd;
        }

        public static Map Hash(uint keySize, uint valueSize, uint maxEntries, uint mapFlags = 0)
        {
            RequireKernel();
            return new Map(CreateMap(KernelBpf.MapType.Hash, keySize, valueSize, maxEntries, mapFlags));
        }

        public void Dispose() => Assert.Equal(0, Close(Fd));
    }

    private static void RequireKernel() =>
        Assert.True(IsAvailable, "bpf() is required for these tests: " + UnavailableReason);

    private static byte[] Key4(uint k)
    {
        byte[] b = new byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, k);
        return b;
    }

    private static byte[] Filled(int length, byte seed)
    {
        byte[] b = new byte[length];
        for (int i = 0; i < b.Length; i++)
            b[i] = (byte)(seed + i);
        return b;
    }

    [KernelFact]
    public void KernelIsAvailable()
    {
        RequireKernel();
        Assert.Null(UnavailableReason);
    }

    [KernelFact]
    public void CreateHashGivesAnFd()
    {
        using var m = Map.Hash(16, 32, 4);
        Assert.True(m.Fd >= 0);
    }

    [KernelFact]
    public void CreateWithBadSizesIsEinvalAndLongNameIsEinval()
    {
        RequireKernel();
        Assert.Equal(-KernelBpf.Errno.EINVAL, CreateMap(KernelBpf.MapType.Hash, 0, 4, 4));
        Assert.Equal(-KernelBpf.Errno.EINVAL, CreateMap(KernelBpf.MapType.Hash, 4, 4, 4, name: "sixteen_chars_xx"));
        using var named = new Map(CreateMap(KernelBpf.MapType.Hash, 4, 4, 4, name: "fm_kernel_test"));
    }

    [KernelFact]
    public void UpdateThenLookupRoundTrips()
    {
        using var m = Map.Hash(16, 32, 4);
        byte[] key = Filled(16, 1), value = Filled(32, 100), got = new byte[32];

        Assert.Equal(ENOENT, Lookup(m.Fd, key, got));
        Assert.Equal(0, Update(m.Fd, key, value));
        Assert.Equal(0, Lookup(m.Fd, key, got));
        Assert.Equal(value, got);

        byte[] replaced = Filled(32, 7);
        Assert.Equal(0, Update(m.Fd, key, replaced, KernelBpf.Flags.Exist));
        Assert.Equal(0, Lookup(m.Fd, key, got));
        Assert.Equal(replaced, got);
    }

    [KernelFact]
    public void NoExistOnAnExistingKeyIsEexistAndKeepsTheValue()
    {
        using var m = Map.Hash(16, 32, 4);
        byte[] key = Filled(16, 1), value = Filled(32, 100), got = new byte[32];
        Assert.Equal(0, Update(m.Fd, key, value, KernelBpf.Flags.NoExist));

        Assert.Equal(-KernelBpf.Errno.EEXIST, Update(m.Fd, key, Filled(32, 9), KernelBpf.Flags.NoExist));
        Assert.Equal(0, Lookup(m.Fd, key, got));
        Assert.Equal(value, got);
    }

    [KernelFact]
    public void ExistOnAMissingKeyIsEnoent()
    {
        using var m = Map.Hash(16, 32, 4);
        Assert.Equal(ENOENT, Update(m.Fd, Filled(16, 1), Filled(32, 2), KernelBpf.Flags.Exist));
    }

    [KernelFact]
    public void NewKeyInAFullMapIsE2bigButReplacementSucceeds()
    {
        using var m = Map.Hash(16, 32, 4);
        for (byte i = 0; i < 4; i++)
            Assert.Equal(0, Update(m.Fd, Filled(16, i), Filled(32, i)));

        Assert.Equal(-KernelBpf.Errno.E2BIG, Update(m.Fd, Filled(16, 200), Filled(32, 0)));
        Assert.Equal(0, Update(m.Fd, Filled(16, 2), Filled(32, 50)));
        // EXIST on a missing key in a full map: check_flags comes before the capacity test.
        Assert.Equal(ENOENT, Update(m.Fd, Filled(16, 200), Filled(32, 0), KernelBpf.Flags.Exist));
    }

    [KernelFact]
    public void UnknownUpdateFlagsAndDeleteFlagsAreEinval()
    {
        using var m = Map.Hash(4, 8, 4);
        Assert.Equal(-KernelBpf.Errno.EINVAL, Update(m.Fd, Key4(1), new byte[8], 3));
        Assert.Equal(-KernelBpf.Errno.EINVAL, Update(m.Fd, Key4(1), new byte[8], KernelBpf.Flags.Lock));
        Assert.Equal(-KernelBpf.Errno.EINVAL, Delete(m.Fd, Key4(1), KernelBpf.Flags.Exist));
        Assert.Equal(-KernelBpf.Errno.EINVAL, Lookup(m.Fd, Key4(1), new byte[8], KernelBpf.Flags.Lock));
    }

    [KernelFact]
    public void DeleteOfAMissingKeyIsEnoentAndDeleteRemoves()
    {
        using var m = Map.Hash(4, 8, 4);
        Assert.Equal(ENOENT, Delete(m.Fd, Key4(1)));
        Assert.Equal(0, Update(m.Fd, Key4(1), Filled(8, 3)));
        Assert.Equal(0, Delete(m.Fd, Key4(1)));
        Assert.Equal(ENOENT, Lookup(m.Fd, Key4(1), new byte[8]));
        Assert.Equal(ENOENT, Delete(m.Fd, Key4(1)));
    }

    [KernelFact]
    public void LookupAndDeleteReturnsTheValueOnce()
    {
        using var m = Map.Hash(4, 8, 4);
        byte[] got = new byte[8];
        Assert.Equal(0, Update(m.Fd, Key4(5), Filled(8, 40)));
        Assert.Equal(0, LookupAndDelete(m.Fd, Key4(5), got));
        Assert.Equal(Filled(8, 40), got);
        Assert.Equal(ENOENT, LookupAndDelete(m.Fd, Key4(5), got));
    }

    [KernelFact]
    public void GetNextKeyFromNullWalksEveryKeyThenEnoent()
    {
        using var m = Map.Hash(4, 8, 16);
        byte[] next = new byte[4];
        Assert.Equal(ENOENT, GetNextKey(m.Fd, default, next));

        uint[] keys = [3, 17, 99, 1000, 42];
        foreach (uint k in keys)
            Assert.Equal(0, Update(m.Fd, Key4(k), new byte[8]));

        var seen = new List<uint>();
        Assert.Equal(0, GetNextKey(m.Fd, default, next));
        seen.Add(BinaryPrimitives.ReadUInt32LittleEndian(next));
        int r;
        while ((r = GetNextKey(m.Fd, Key4(seen[^1]), next)) == 0)
            seen.Add(BinaryPrimitives.ReadUInt32LittleEndian(next));

        Assert.Equal(ENOENT, r);
        Assert.Equal(keys.Order(), seen.Order());
        // A key that is not present restarts from the first key.
        Assert.Equal(0, GetNextKey(m.Fd, Key4(123456), next));
        Assert.Equal(seen[0], BinaryPrimitives.ReadUInt32LittleEndian(next));
    }

    [KernelFact]
    public void LookupBatchOverTwentyKeysReturnsAllWithAFinalEnoent()
    {
        using var m = Map.Hash(4, 8, 64);
        for (uint k = 0; k < 20; k++)
            Assert.Equal(0, Update(m.Fd, Key4(k), Key4(k * 3).Concat(Key4(k + 1)).ToArray()));

        // One call with room for everything: ENOENT together with all 20 elements.
        byte[] keys = new byte[32 * 4], values = new byte[32 * 8], outBatch = new byte[4];
        uint count = 32;
        Assert.Equal(ENOENT, LookupBatch(m.Fd, default, outBatch, keys, values, ref count));
        Assert.Equal(20u, count);
        AssertPairs(keys, values, (int)count, expectedKeys: 20);

        // Walked in steps of 7: buckets are never split, the last step ends in ENOENT with data.
        var all = new List<uint>();
        byte[] inBatch = new byte[4];
        bool first = true;
        int r;
        do
        {
            count = 7;
            r = LookupBatch(m.Fd, first ? default : inBatch, outBatch, keys, values, ref count);
            Assert.True(r is 0 or ENOENT, $"lookup_batch returned {r}");
            for (int i = 0; i < count; i++)
                all.Add(BinaryPrimitives.ReadUInt32LittleEndian(keys.AsSpan(i * 4)));
            outBatch.CopyTo(inBatch);
            first = false;
        }
        while (r == 0);
        Assert.Equal(Enumerable.Range(0, 20).Select(i => (uint)i), all.Order());
    }

    private static void AssertPairs(byte[] keys, byte[] values, int count, int expectedKeys)
    {
        var seen = new HashSet<uint>();
        for (int i = 0; i < count; i++)
        {
            uint k = BinaryPrimitives.ReadUInt32LittleEndian(keys.AsSpan(i * 4));
            Assert.Equal(k * 3, BinaryPrimitives.ReadUInt32LittleEndian(values.AsSpan(i * 8)));
            Assert.Equal(k + 1, BinaryPrimitives.ReadUInt32LittleEndian(values.AsSpan(i * 8 + 4)));
            Assert.True(seen.Add(k));
        }
        Assert.Equal(expectedKeys, seen.Count);
    }

    [KernelFact]
    public void LookupAndDeleteBatchEmptiesTheMap()
    {
        using var m = Map.Hash(4, 8, 64);
        for (uint k = 0; k < 20; k++)
            Assert.Equal(0, Update(m.Fd, Key4(k), Key4(k * 3).Concat(Key4(k + 1)).ToArray()));

        byte[] keys = new byte[32 * 4], values = new byte[32 * 8], outBatch = new byte[4];
        uint count = 32;
        Assert.Equal(ENOENT, LookupAndDeleteBatch(m.Fd, default, outBatch, keys, values, ref count));
        Assert.Equal(20u, count);
        AssertPairs(keys, values, (int)count, expectedKeys: 20);
        Assert.Equal(ENOENT, GetNextKey(m.Fd, default, new byte[4]));
    }

    [KernelFact]
    public void UpdateBatchAppliesAllAndRejectsNoExist()
    {
        using var m = Map.Hash(4, 8, 64);
        byte[] keys = new byte[10 * 4], values = new byte[10 * 8];
        for (uint k = 0; k < 10; k++)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(keys.AsSpan((int)k * 4), k);
            BinaryPrimitives.WriteUInt32LittleEndian(values.AsSpan((int)k * 8), k * 3);
            BinaryPrimitives.WriteUInt32LittleEndian(values.AsSpan((int)k * 8 + 4), k + 1);
        }

        uint count = 10;
        Assert.Equal(-KernelBpf.Errno.EINVAL, UpdateBatch(m.Fd, keys, values, ref count, KernelBpf.Flags.NoExist));
        count = 10;
        Assert.Equal(0, UpdateBatch(m.Fd, keys, values, ref count));
        Assert.Equal(10u, count);

        byte[] got = new byte[8];
        Assert.Equal(0, Lookup(m.Fd, Key4(9), got));
        Assert.Equal(27u, BinaryPrimitives.ReadUInt32LittleEndian(got));
    }

    [KernelFact]
    public void DeleteBatchStopsAtTheFirstMissingKey()
    {
        using var m = Map.Hash(4, 8, 16);
        foreach (uint k in new uint[] { 0, 1, 2, 3 })
            Assert.Equal(0, Update(m.Fd, Key4(k), new byte[8]));

        byte[] keys = [.. Key4(0), .. Key4(1), .. Key4(999), .. Key4(3)];
        uint count = 4;
        Assert.Equal(ENOENT, DeleteBatch(m.Fd, keys, ref count));
        Assert.Equal(2u, count);
        Assert.Equal(0, Lookup(m.Fd, Key4(3), new byte[8]));
        Assert.Equal(ENOENT, Lookup(m.Fd, Key4(1), new byte[8]));
    }

    [KernelFact]
    public void SpinLockLookupZeroesTheLockWord()
    {
        RequireKernel();
        int fd = CreateMapWithSpinLock(KernelBpf.MapType.Hash, 8, 4);
        using var m = new Map(fd >= 0 ? fd : throw new InvalidOperationException($"spin-lock map: {fd}; BTF log: {LastBtfLog}"));

        byte[] value = [.. Key4(0xdeadbeef), .. Key4(42)], got = new byte[8];
        Assert.Equal(0, Update(m.Fd, Key4(1), value));

        Assert.Equal(0, Lookup(m.Fd, Key4(1), got, KernelBpf.Flags.Lock));
        Assert.Equal(0u, BinaryPrimitives.ReadUInt32LittleEndian(got));
        Assert.Equal(42u, BinaryPrimitives.ReadUInt32LittleEndian(got.AsSpan(4)));

        // Without F_LOCK the copied-out lock bytes are re-initialised too.
        got.AsSpan().Fill(0xff);
        Assert.Equal(0, Lookup(m.Fd, Key4(1), got));
        Assert.Equal(0u, BinaryPrimitives.ReadUInt32LittleEndian(got));

        Assert.Equal(0, Update(m.Fd, Key4(1), [.. Key4(7), .. Key4(43)], KernelBpf.Flags.Exist | KernelBpf.Flags.Lock));
        Assert.Equal(-KernelBpf.Errno.EEXIST, Update(m.Fd, Key4(1), value, KernelBpf.Flags.NoExist | KernelBpf.Flags.Lock));
        Assert.Equal(ENOENT, Update(m.Fd, Key4(2), value, KernelBpf.Flags.Exist | KernelBpf.Flags.Lock));
        Assert.Equal(-KernelBpf.Errno.EINVAL, Update(m.Fd, Key4(1), value, KernelBpf.Flags.Lock | 3));
        Assert.Equal(0, Lookup(m.Fd, Key4(1), got, KernelBpf.Flags.Lock));
        Assert.Equal(43u, BinaryPrimitives.ReadUInt32LittleEndian(got.AsSpan(4)));
    }

    [KernelFact]
    public void SpinLockAtANonzeroOffsetWorksAndLruRejectsIt()
    {
        RequireKernel();
        using var m = new Map(CreateMapWithSpinLock(KernelBpf.MapType.Hash, 16, 4, spinLockOffset: 8));
        byte[] got = new byte[16];
        Assert.Equal(0, Update(m.Fd, Key4(1), Filled(16, 1)));
        Assert.Equal(0, Lookup(m.Fd, Key4(1), got, KernelBpf.Flags.Lock));
        Assert.Equal(0u, BinaryPrimitives.ReadUInt32LittleEndian(got.AsSpan(8)));
        Assert.Equal(Filled(16, 1)[..8], got[..8]);

        Assert.Equal(-KernelBpf.Errno.EOPNOTSUPP, CreateMapWithSpinLock(KernelBpf.MapType.LruHash, 8, 4));
    }

    [KernelFact]
    public void HotCallsDoNotAllocate()
    {
        using var m = Map.Hash(4, 8, 16);
        byte[] key = Key4(1), value = new byte[8], got = new byte[8];
        for (int i = 0; i < 100; i++)
        {
            Update(m.Fd, key, value);
            Lookup(m.Fd, key, got);
            Delete(m.Fd, key);
        }

        // Results are OR-ed rather than asserted in the loop: xunit's Assert.Equal allocates. Three attempts, the
        // least counted: a one-off allocation of the runtime on this thread (a method tiering up mid-loop, seen once
        // in seven full runs) shows in one attempt, an allocation per call in every one.
        int errors = 0;
        long allocated = long.MaxValue;
        for (int attempt = 0; attempt < 3 && allocated != 0; attempt++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 1000; i++)
                errors |= Update(m.Fd, key, value) | Lookup(m.Fd, key, got) | Delete(m.Fd, key);
            allocated = Math.Min(allocated, GC.GetAllocatedBytesForCurrentThread() - before);
        }
        Assert.True(errors == 0, $"a bpf() call failed: OR of the statuses {errors}");
        Assert.True(allocated == 0, $"{allocated} bytes allocated by 3,000 calls, in each of three attempts");
    }

    [KernelFact]
    public void TooShortSpansThrowInsteadOfLettingTheKernelOverrunThem()
    {
        using var m = Map.Hash(16, 32, 4);
        Assert.Throws<ArgumentException>(() => Lookup(m.Fd, new byte[15], new byte[32]));
        Assert.Throws<ArgumentException>(() => Lookup(m.Fd, new byte[16], new byte[31]));
        Assert.Throws<ArgumentException>(() => GetNextKey(m.Fd, default, new byte[8]));
        uint count = 2;
        Assert.Throws<ArgumentException>(() =>
            LookupBatch(m.Fd, default, new byte[4], new byte[16], new byte[64], ref count));
    }

    [KernelFact]
    public void FdsMadeElsewhereAreSizedFromTheKernel()
    {
        RequireKernel();
        // Create through Raw so the wrapper has no size record, then check it learned one.
        byte[] attr = new byte[AttrSize];
        BinaryPrimitives.WriteUInt32LittleEndian(attr.AsSpan(KernelBpf.Attr.MapType), KernelBpf.MapType.Hash);
        BinaryPrimitives.WriteUInt32LittleEndian(attr.AsSpan(KernelBpf.Attr.KeySize), 8);
        BinaryPrimitives.WriteUInt32LittleEndian(attr.AsSpan(KernelBpf.Attr.ValueSize), 24);
        BinaryPrimitives.WriteUInt32LittleEndian(attr.AsSpan(KernelBpf.Attr.MaxEntries), 4);
        using var m = new Map(Raw(KernelBpf.Cmd.MapCreate, attr));

        Assert.Throws<ArgumentException>(() => Lookup(m.Fd, new byte[8], new byte[23]));
        Assert.Equal(0, Update(m.Fd, new byte[8], new byte[24]));
    }

    [KernelFact]
    public void PerCpuValuesAreSizedPerPossibleCpu()
    {
        RequireKernel();
        string text = File.ReadAllText("/sys/devices/system/cpu/possible").Trim();
        Assert.True(PossibleCpus >= 1);
        if (!text.Contains(','))
        {
            string[] r = text.Split('-');
            Assert.Equal(r.Length == 1 ? 1 : int.Parse(r[1]) - int.Parse(r[0]) + 1, PossibleCpus);
        }

        using var m = new Map(CreateMap(KernelBpf.MapType.PercpuHash, 4, 4, 4));
        byte[] values = new byte[8 * PossibleCpus];
        Assert.Equal(0, Update(m.Fd, Key4(1), values));
        Assert.Equal(0, Lookup(m.Fd, Key4(1), values));
        Assert.Throws<ArgumentException>(() => Lookup(m.Fd, Key4(1), new byte[4]));
    }

    [KernelFact]
    public void BadFdIsEbadf()
    {
        RequireKernel();
        Assert.Equal(-KernelBpf.Errno.EBADF, Update(99999, Key4(1), new byte[8]));
        Assert.Equal(-KernelBpf.Errno.EBADF, Close(99999));
    }

    [KernelFact]
    public void RawAttrsReachTheKernelUnchanged()
    {
        using var m = Map.Hash(4, 8, 4);
        byte[] key = Key4(1), value = new byte[8];
        Assert.Equal(0, Update(m.Fd, key, value));

        // NULL key pointer: EFAULT from the key copy.
        byte[] attr = new byte[AttrSize];
        BinaryPrimitives.WriteUInt32LittleEndian(attr.AsSpan(KernelBpf.Attr.ElemMapFd), (uint)m.Fd);
        Assert.Equal(-KernelBpf.Errno.EFAULT, RawWithBuffers(KernelBpf.Cmd.MapLookupElem, attr, KernelBpf.Attr.ElemKey, default, KernelBpf.Attr.ElemValue, value));
        Assert.Equal(0, RawWithBuffers(KernelBpf.Cmd.MapLookupElem, attr, KernelBpf.Attr.ElemKey, key, KernelBpf.Attr.ElemValue, value));

        // A nonzero byte after the ELEM fields: CHECK_ATTR gives EINVAL before anything else.
        attr[AttrSize - 1] = 1;
        Assert.Equal(-KernelBpf.Errno.EINVAL, RawWithBuffers(KernelBpf.Cmd.MapLookupElem, attr, KernelBpf.Attr.ElemKey, key, KernelBpf.Attr.ElemValue, value));
    }

    [KernelFact]
    public void TheKernelAttrIsExactly168Bytes()
    {
        RequireKernel();
        // Byte 167 is inside the kernel's union (CHECK_ATTR: EINVAL); byte 168 is past it (tail check: E2BIG).
        byte[] attr = new byte[AttrSize + 1];
        BinaryPrimitives.WriteUInt32LittleEndian(attr.AsSpan(KernelBpf.Attr.MapType), KernelBpf.MapType.Hash);
        BinaryPrimitives.WriteUInt32LittleEndian(attr.AsSpan(KernelBpf.Attr.KeySize), 4);
        BinaryPrimitives.WriteUInt32LittleEndian(attr.AsSpan(KernelBpf.Attr.ValueSize), 4);
        BinaryPrimitives.WriteUInt32LittleEndian(attr.AsSpan(KernelBpf.Attr.MaxEntries), 1);

        attr[AttrSize - 1] = 1;
        Assert.Equal(-KernelBpf.Errno.EINVAL, Raw(KernelBpf.Cmd.MapCreate, attr.AsSpan(0, AttrSize)));
        attr[AttrSize - 1] = 0;
        attr[AttrSize] = 1;
        Assert.Equal(-KernelBpf.Errno.E2BIG, Raw(KernelBpf.Cmd.MapCreate, attr));
    }
}
