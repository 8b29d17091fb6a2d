using System.Buffers.Binary;
using FastMap.Kernel;
using static FastMap.Tests.Differential.DifferentialSupport;

namespace FastMap.Tests.Differential;

// The attr-level differential: the same union bpf_attr bytes through BpfAttr.ExecuteUnsafe and through bpf(). Pointers come
// from pinned arrays (one set per side, so outputs can be compared); map fds differ per side and are patched in.
public sealed partial class KernelDifferentialTests
{
    private const int CmdCreate = 0, CmdLookup = 1, CmdUpdate = 2, CmdDelete = 3, CmdGetNextKey = 4, CmdLookupAndDelete = 21;
    private const uint BadFd = uint.MaxValue;         // -1: no such fd on either side
    private const int AttrSize = 168;

    private static readonly int[] s_elemCmds = [CmdLookup, CmdUpdate, CmdDelete, CmdGetNextKey, CmdLookupAndDelete];

    /// <summary>Pointer-bearing buffers of one side.</summary>
    private sealed class Side
    {
        public readonly byte[] Key = Pinned(4);
        public readonly byte[] Value = Pinned(8);
        public readonly byte[] Out = Pinned(8);
    }

    /// <summary>An ELEM attr; pointer arguments are "k" (key), "v" (value), "o" (out) or null.</summary>
    private static byte[] ElemAttr(uint fd, Side s, string? key, string? value, ulong flags, int length = AttrSize)
    {
        byte[] a = new byte[length];
        BinaryPrimitives.WriteUInt32LittleEndian(a, fd);
        BinaryPrimitives.WriteUInt64LittleEndian(a.AsSpan(8), Address(Buffer(s, key)));
        BinaryPrimitives.WriteUInt64LittleEndian(a.AsSpan(16), Address(Buffer(s, value)));
        BinaryPrimitives.WriteUInt64LittleEndian(a.AsSpan(24), flags);
        return a;
    }

    private static byte[]? Buffer(Side s, string? which) => which switch
    {
        "k" => s.Key,
        "v" => s.Value,
        "o" => s.Out,
        null => null,
        _ => throw new ArgumentException(which),
    };

    private static string CmdName(int cmd) => cmd switch
    {
        CmdCreate => "CREATE",
        CmdLookup => "LOOKUP",
        CmdUpdate => "UPDATE",
        CmdDelete => "DELETE",
        CmdGetNextKey => "GET_NEXT_KEY",
        CmdLookupAndDelete => "LOOKUP_AND_DELETE",
        _ => cmd.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    /// <summary>Same bytes to both sides (no fd of either side inside).</summary>
    private static void SameRaw(List<string> mismatches, string what, int cmd, byte[] attr)
    {
        int f = BpfAttr.ExecuteUnsafe(cmd, attr);
        int k = KernelBpf.Raw(cmd, attr);
        // A create that succeeded returns a handle or fd: compare success, and close both.
        if (cmd == CmdCreate)
        {
            if (f >= 0)
                BpfMap.FromHandle(f)?.Dispose();
            if (k >= 0)
                KernelBpf.Close(k);
            f = Math.Min(f, 0);
            k = Math.Min(k, 0);
        }
        if (f != k)
            mismatches.Add($"{CmdName(cmd)} {what}: FastMap {Errno(f)}, kernel {Errno(k)}");
    }

    [KernelFact]
    public void AttrChecksBeforeTheFdAnswerAsTheKernelDoes()
    {
        RequireKernel();
        var mismatches = new List<string>();
        var side = new Side();
        int[] allCmds = [CmdCreate, .. s_elemCmds];

        foreach (int cmd in allCmds)
        {
            // bpf_check_uarg_tail_zero: nonzero past 168 is E2BIG; zeros past it are fine; more than a page is E2BIG.
            foreach (int at in new[] { 168, 170, 175, 4095 })
            {
                byte[] a = ElemAttr(BadFd, side, null, null, 0, Math.Max(176, at + 1));
                a[at] = 1;
                SameRaw(mismatches, $"nonzero byte at {at} of a {a.Length}-byte attr", cmd, a);
            }
            SameRaw(mismatches, "zero tail past 168 (176 bytes)", cmd, ElemAttr(BadFd, side, null, null, 0, 176));
            SameRaw(mismatches, "4097 zero bytes", cmd, new byte[4097]);
            SameRaw(mismatches, "4096 zero bytes", cmd, ElemAttr(BadFd, side, null, null, 0, 4096));
            // Short attrs: the missing part reads as zero.
            foreach (int len in new[] { 4, 24, 32 })
                SameRaw(mismatches, $"{len}-byte attr, bad fd", cmd, ElemAttr(BadFd, side, null, null, 0, 32)[..len]);
        }

        // CHECK_ATTR: nonzero bytes after each command's last field. DELETE's positions start at 48, where the 6.18
        // kernel (last field: key) and the RFC (last field: compare_size) agree.
        var tails = new Dictionary<int, int[]>
        {
            [CmdLookup] = [32, 33, 47, 100, 167],
            [CmdUpdate] = [32, 33, 47, 100, 167],
            [CmdLookupAndDelete] = [32, 40, 100, 167],
            [CmdGetNextKey] = [24, 31, 32, 100, 167],
            [CmdDelete] = [48, 100, 167],
            [CmdCreate] = [92, 100, 167],
        };
        foreach ((int cmd, int[] positions) in tails)
        {
            foreach (int at in positions)
            {
                byte[] a = cmd == CmdCreate ? HashCreateAttr() : ElemAttr(BadFd, side, "k", "v", 0);
                a[at] = 0x80;
                SameRaw(mismatches, $"nonzero byte at {at} (after the last field)", cmd, a);
            }
        }

        // Flags with a bad fd: LOOKUP and LOOKUP_AND_DELETE check flags first (EINVAL), UPDATE resolves the fd first
        // (EBADF); DELETE's nonzero flags are EINVAL before the fd on 6.18 and under the RFC (only bit 5 differs).
        foreach (ulong flags in new ulong[] { 0, 1, 2, 3, 4, 8, 4 | 1, 1UL << 32 })
        {
            SameRaw(mismatches, $"bad fd flags=0x{flags:x}", CmdLookup, ElemAttr(BadFd, side, "k", "o", flags));
            SameRaw(mismatches, $"bad fd flags=0x{flags:x}", CmdUpdate, ElemAttr(BadFd, side, "k", "v", flags));
            SameRaw(mismatches, $"bad fd flags=0x{flags:x}", CmdLookupAndDelete, ElemAttr(BadFd, side, "k", "o", flags));
            SameRaw(mismatches, $"bad fd flags=0x{flags:x}", CmdDelete, ElemAttr(BadFd, side, "k", null, flags));
            SameRaw(mismatches, $"fd 1000000 flags=0x{flags:x}", CmdUpdate, ElemAttr(1000000, side, "k", "v", flags));
        }
        SameRaw(mismatches, "bad fd", CmdGetNextKey, ElemAttr(BadFd, side, "k", "o", 0));
        SameRaw(mismatches, "bad fd NULL pointers", CmdGetNextKey, ElemAttr(BadFd, side, null, null, 0));
        // Compare fields without BPF_F_COMPARE: EINVAL before the fd under the RFC, EINVAL by CHECK_ATTR on 6.18.
        foreach (int at in new[] { 32, 40, 44 })
        {
            byte[] a = ElemAttr(BadFd, side, "k", null, 0);
            a[at] = 1;
            SameRaw(mismatches, $"bad fd, compare field byte {at} without the flag", CmdDelete, a);
        }

        // CREATE fields FastMap does not take from the attr (map_extra), the NUMA node, and an unterminated name.
        byte[] extra = HashCreateAttr();
        extra[64] = 1;
        SameRaw(mismatches, "map_extra=1", CmdCreate, extra);
        foreach ((uint flags, uint node) in new[] { (4u, 0u), (4u, 1u), (4u, 64u), (0u, 5u), (4u, uint.MaxValue) })
        {
            byte[] a = HashCreateAttr();
            BinaryPrimitives.WriteUInt32LittleEndian(a.AsSpan(16), flags);
            BinaryPrimitives.WriteUInt32LittleEndian(a.AsSpan(24), node);
            SameRaw(mismatches, $"map_flags=0x{flags:x} numa_node={node}", CmdCreate, a);
        }
        byte[] unterminated = HashCreateAttr();
        "sixteen_chars_xx"u8.CopyTo(unterminated.AsSpan(28));
        SameRaw(mismatches, "16-byte unterminated name", CmdCreate, unterminated);
        byte[] named = HashCreateAttr();
        "fifteen_chars_x"u8.CopyTo(named.AsSpan(28));
        SameRaw(mismatches, "15-byte name", CmdCreate, named);

        Assert.True(mismatches.Count == 0, $"{mismatches.Count} attr cases differ:\n  " + string.Join("\n  ", mismatches));
    }

    private static byte[] HashCreateAttr()
    {
        byte[] a = new byte[AttrSize];
        BinaryPrimitives.WriteUInt32LittleEndian(a, (uint)MapType.Hash);
        BinaryPrimitives.WriteUInt32LittleEndian(a.AsSpan(4), 4);
        BinaryPrimitives.WriteUInt32LittleEndian(a.AsSpan(8), 8);
        BinaryPrimitives.WriteUInt32LittleEndian(a.AsSpan(12), 4);
        return a;
    }

    /// <summary>One map on each side with the same definition, and each side's pointer buffers.</summary>
    private sealed class AttrPair : IDisposable
    {
        public readonly BpfMap Fm;
        public readonly int Fd;
        public readonly Side F = new(), K = new();

        public AttrPair(MapType type, uint flags, uint keySize = 4, uint valueSize = 8)
        {
            Assert.Equal(MapStatus.Ok, BpfMap.Create(new MapDefinition(type, keySize, valueSize, 4) { Flags = (MapFlags)flags }, out BpfMap? fm));
            Fm = fm!;
            Fd = KernelBpf.CreateMap((uint)type, keySize, valueSize, 4, flags);
            Assert.True(Fd >= 0, $"kernel create gave {Errno(Fd)}");
            foreach (Side s in new[] { F, K })
            {
                s.Key.AsSpan().Clear();
                s.Key[0] = 1;
                for (int i = 0; i < s.Value.Length; i++)
                    s.Value[i] = (byte)(0x10 + i);
            }
        }

        /// <summary>Runs one command on both sides; records a mismatch of the code or of the output buffer.</summary>
        public void Same(List<string> mismatches, string what, int cmd, string? key, string? value, ulong flags,
            Action<byte[]>? patch = null)
        {
            F.Out.AsSpan().Fill(0xA5);
            K.Out.AsSpan().Fill(0xA5);
            byte[] fa = ElemAttr((uint)Fm.Handle, F, key, value, flags);
            byte[] ka = ElemAttr((uint)Fd, K, key, value, flags);
            patch?.Invoke(fa);
            patch?.Invoke(ka);
            int f = BpfAttr.ExecuteUnsafe(cmd, fa);
            int k = KernelBpf.Sys(cmd, ka);
            if (f != k)
                mismatches.Add($"{Fm.Definition.Type} flags=0x{(uint)Fm.Definition.Flags:x} {CmdName(cmd)} {what}: FastMap {Errno(f)}, kernel {Errno(k)}");
            else if (!F.Out.AsSpan().SequenceEqual(K.Out))
                mismatches.Add($"{CmdName(cmd)} {what}: output FastMap {Hex(F.Out)}, kernel {Hex(K.Out)}");
        }

        public void Dispose()
        {
            Fm.Dispose();
            KernelBpf.Close(Fd);
        }
    }

    [KernelFact]
    public void AttrChecksOnAMapAnswerAsTheKernelDoesIncludingReadOnlyAndWriteOnlyHandles()
    {
        RequireKernel();
        var m = new List<string>();
        const uint RdOnly = 1u << 3, WrOnly = 1u << 4;

        using (var p = new AttrPair(MapType.Hash, 0))
        {
            p.Same(m, "NULL key", CmdLookup, null, "o", 0);
            p.Same(m, "NULL key", CmdUpdate, null, "v", 0);
            p.Same(m, "NULL value", CmdUpdate, "k", null, 0);
            p.Same(m, "NULL key flags=3", CmdUpdate, null, "v", 3);
            p.Same(m, "NULL value flags=3", CmdUpdate, "k", null, 3);
            p.Same(m, "flags=3", CmdUpdate, "k", "v", 3);
            p.Same(m, "flags=LOCK without a lock", CmdUpdate, "k", "v", 4);
            p.Same(m, "empty map, NULL key and NULL next_key", CmdGetNextKey, null, null, 0);
            p.Same(m, "absent key, NULL value", CmdLookup, "k", null, 0);
            p.Same(m, "insert", CmdUpdate, "k", "v", 1);
            p.Same(m, "present", CmdLookup, "k", "o", 0);
            p.Same(m, "present, NULL value", CmdLookup, "k", null, 0);
            p.Same(m, "flags=LOCK without a lock", CmdLookup, "k", "o", 4);
            p.Same(m, "flags=LOCK without a lock", CmdLookupAndDelete, "k", "o", 4);
            p.Same(m, "NULL key, NULL next_key", CmdGetNextKey, null, null, 0);
            p.Same(m, "NULL key", CmdGetNextKey, null, "o", 0);
            p.Same(m, "only key", CmdGetNextKey, "k", "o", 0);
            p.Same(m, "NULL key", CmdDelete, null, null, 0);
            p.Same(m, "NULL key", CmdLookupAndDelete, null, "o", 0);
            p.Same(m, "present", CmdLookupAndDelete, "k", "o", 0);
            p.Same(m, "absent", CmdLookupAndDelete, "k", "o", 0);
            p.Same(m, "absent", CmdDelete, "k", null, 0);
        }

        using (var p = new AttrPair(MapType.Hash, RdOnly))
        {
            p.Same(m, "RDONLY absent", CmdLookup, "k", "o", 0);
            p.Same(m, "RDONLY flags=2", CmdLookup, "k", "o", 2);
            p.Same(m, "RDONLY flags=LOCK", CmdLookup, "k", "o", 4);
            p.Same(m, "RDONLY", CmdUpdate, "k", "v", 0);
            p.Same(m, "RDONLY flags=3", CmdUpdate, "k", "v", 3);
            p.Same(m, "RDONLY flags=LOCK", CmdUpdate, "k", "v", 4);
            p.Same(m, "RDONLY NULL key", CmdUpdate, null, "v", 0);
            p.Same(m, "RDONLY", CmdDelete, "k", null, 0);
            p.Same(m, "RDONLY NULL key", CmdDelete, null, null, 0);
            p.Same(m, "RDONLY NULL key", CmdGetNextKey, null, "o", 0);
            p.Same(m, "RDONLY", CmdLookupAndDelete, "k", "o", 0);
            p.Same(m, "RDONLY flags=2", CmdLookupAndDelete, "k", "o", 2);
            p.Same(m, "RDONLY flags=LOCK", CmdLookupAndDelete, "k", "o", 4);
        }

        using (var p = new AttrPair(MapType.Hash, WrOnly))
        {
            p.Same(m, "WRONLY insert", CmdUpdate, "k", "v", 0);
            p.Same(m, "WRONLY", CmdLookup, "k", "o", 0);
            p.Same(m, "WRONLY flags=2", CmdLookup, "k", "o", 2);
            p.Same(m, "WRONLY flags=LOCK", CmdLookup, "k", "o", 4);
            p.Same(m, "WRONLY NULL key", CmdLookup, null, "o", 0);
            p.Same(m, "WRONLY flags=LOCK", CmdUpdate, "k", "v", 4);
            p.Same(m, "WRONLY", CmdGetNextKey, null, "o", 0);
            p.Same(m, "WRONLY", CmdLookupAndDelete, "k", "o", 0);
            p.Same(m, "WRONLY flags=1", CmdLookupAndDelete, "k", "o", 1);
            p.Same(m, "WRONLY present", CmdDelete, "k", null, 0);
            p.Same(m, "WRONLY absent", CmdDelete, "k", null, 0);
        }

        using (var p = new AttrPair(MapType.Array, 0, 4, 8))
        {
            p.Same(m, "array index 1", CmdUpdate, "k", "v", 0);
            p.Same(m, "array index 1", CmdLookup, "k", "o", 0);
            p.Same(m, "array", CmdDelete, "k", null, 0);
            p.Same(m, "array", CmdLookupAndDelete, "k", "o", 0);
            p.Same(m, "array NULL key", CmdLookupAndDelete, null, "o", 0);
            p.Same(m, "array NULL key", CmdGetNextKey, null, "o", 0);
            p.Same(m, "array index 1", CmdGetNextKey, "k", "o", 0);
            p.Same(m, "array NOEXIST", CmdUpdate, "k", "v", 1);
        }

        using (var p = new AttrPair(MapType.PercpuHash, 0, 4, 4))
        {
            // 2 possible CPUs x round_up(4, 8) = 16 bytes would overrun the 8-byte buffers: only pre-copy errors here.
            p.Same(m, "percpu absent", CmdDelete, "k", null, 0);
            p.Same(m, "percpu flags=LOCK", CmdLookup, "k", "o", 4);
        }

        Assert.True(m.Count == 0, $"{m.Count} attr cases on maps differ:\n  " + string.Join("\n  ", m));
    }

    /// <summary>
    /// LOOKUP_AND_DELETE with a NULL value pointer on a present key: both return -EFAULT, but the kernel has already
    /// deleted the key (it copies out after the delete) while FastMap refuses before deleting, by design
    /// (LookupAndDelete.cs remarks). Pinned here so the difference stays deliberate.
    /// </summary>
    [KernelFact]
    public void LookupAndDeleteWithANullValueFailsAlikeButOnlyTheKernelLosesTheKey()
    {
        RequireKernel();
        var m = new List<string>();
        using var p = new AttrPair(MapType.Hash, 0);
        p.Same(m, "insert", CmdUpdate, "k", "v", 0);
        p.Same(m, "NULL value", CmdLookupAndDelete, "k", null, 0);
        Assert.Empty(m);
        Assert.Equal(MapStatus.Ok, p.Fm.Lookup(p.F.Key, p.F.Out));
        Assert.Equal(ENOENT, KernelBpf.Lookup(p.Fd, p.K.Key, p.K.Out));
    }

    /// <summary>
    /// DELETE with BPF_F_COMPARE or a nonzero <c>value</c> field: FastMap follows the RFC (patch 2/3), which the 6.18
    /// kernel predates, so these are asserted against the RFC's rules, and the kernel's 6.18 answer is pinned beside.
    /// </summary>
    [KernelFact]
    public void DeleteFollowsTheRfcWhereTheRunningKernelPredatesIt()
    {
        RequireKernel();
        const ulong Compare = 32;
        using var p = new AttrPair(MapType.Hash, 0);
        byte[] expected = Pinned(8);

        int Fm(ulong flags, byte[]? cmp, uint off, uint size, uint? fd = null, Action<byte[]>? patch = null)
        {
            byte[] a = ElemAttr(fd ?? (uint)p.Fm.Handle, p.F, "k", null, flags);
            BinaryPrimitives.WriteUInt64LittleEndian(a.AsSpan(32), Address(cmp));
            BinaryPrimitives.WriteUInt32LittleEndian(a.AsSpan(40), off);
            BinaryPrimitives.WriteUInt32LittleEndian(a.AsSpan(44), size);
            patch?.Invoke(a);
            return BpfAttr.ExecuteUnsafe(CmdDelete, a);
        }

        Assert.Equal(0, (int)p.Fm.Update(p.F.Key, p.F.Value));
        p.F.Value.CopyTo(expected, 0);
        expected[2] ^= 0xFF;
        Assert.Equal((int)MapStatus.EBUSY, Fm(Compare, expected, 0, 4));                  // stale: kept
        Assert.Equal((int)MapStatus.EINVAL, Fm(Compare, expected, 6, 4));                 // window past value_size
        Assert.Equal((int)MapStatus.EINVAL, Fm(Compare, expected, 1, 0));                 // size 0 = whole value, off 1
        Assert.Equal((int)MapStatus.EFAULT, Fm(Compare, null, 0, 4));                     // compare pointer NULL
        Assert.Equal((int)MapStatus.EINVAL, Fm(Compare | 4, expected, 0, 4));             // any other flag
        Assert.Equal((int)MapStatus.EBADF, Fm(Compare, expected, 0, 4, BadFd));
        Assert.Equal((int)MapStatus.EINVAL, Fm(Compare, expected, 0, 4, null, a => a[48] = 1));
        expected[2] ^= 0xFF;
        Assert.Equal(0, Fm(Compare, expected, 0, 4));                                     // match: deleted
        Assert.Equal((int)MapStatus.ENOENT, Fm(Compare, expected, 0, 4));                 // gone
        Assert.Equal(0, (int)p.Fm.Update(p.F.Key, p.F.Value));
        Assert.Equal(0, Fm(Compare, p.F.Value, 0, 0));                                    // whole value
        // A nonzero value field is no compare field: the RFC ignores it, so this is a plain delete.
        Assert.Equal(0, (int)p.Fm.Update(p.F.Key, p.F.Value));
        Assert.Equal(0, Fm(0, null, 0, 0, null, a => a[16] = 1));

        // The 6.18 kernel: DELETE's last field is key, so flags and anything after key is EINVAL.
        byte[] ka = ElemAttr((uint)p.Fd, p.K, "k", null, Compare);
        Assert.Equal(-22, KernelBpf.Sys(CmdDelete, ka));
        byte[] kv = ElemAttr((uint)p.Fd, p.K, "k", null, 0);
        kv[16] = 1;
        Assert.Equal(-22, KernelBpf.Sys(CmdDelete, kv));

        // Not a plain hash: EOPNOTSUPP after the window check; a bad window is still EINVAL.
        using var arr = new AttrPair(MapType.Array, 0);
        byte[] aa = ElemAttr((uint)arr.Fm.Handle, arr.F, "k", null, Compare);
        BinaryPrimitives.WriteUInt64LittleEndian(aa.AsSpan(32), Address(expected));
        BinaryPrimitives.WriteUInt32LittleEndian(aa.AsSpan(44), 4);
        Assert.Equal((int)MapStatus.EOPNOTSUPP, BpfAttr.ExecuteUnsafe(CmdDelete, aa));
        BinaryPrimitives.WriteUInt32LittleEndian(aa.AsSpan(40), 6);
        Assert.Equal((int)MapStatus.EINVAL, BpfAttr.ExecuteUnsafe(CmdDelete, aa));
        using var ro = new AttrPair(MapType.Hash, 1u << 3);
        byte[] ra = ElemAttr((uint)ro.Fm.Handle, ro.F, "k", null, Compare);
        BinaryPrimitives.WriteUInt32LittleEndian(ra.AsSpan(40), 100);                     // bad window, but EPERM first
        Assert.Equal((int)MapStatus.EPERM, BpfAttr.ExecuteUnsafe(CmdDelete, ra));
    }
}
