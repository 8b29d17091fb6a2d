using System.Buffers.Binary;
using FastMap.Internal;

namespace FastMap;

/// <summary>
/// The command layer: takes the kernel's <c>union bpf_attr</c> bytes (with the RFC's compare fields)
/// and answers as <c>bpf()</c> does, so programs written against the syscall port by replacing
/// <c>syscall(__NR_bpf, ...)</c>. Pointers inside the attr are trusted to be valid or NULL: NULL gives
/// <c>-EFAULT</c>, like an unmapped address in the kernel.
/// </summary>
/// <remarks>
/// <para><b>Unsafe.</b> An attr is raw pointers: the commands read keys, values and compare windows from,
/// and write values, keys, cursors and results to, whatever addresses its bytes hold, for as many bytes as
/// the map's sizes and the attr's <c>count</c> say. A wrong address corrupts this process's memory or
/// crashes it; nothing here can check it (as no userspace library can probe an address). Both entry
/// points say so: <see cref="Execute(int, byte*, uint)"/> can only be called from an <c>unsafe</c> context,
/// and <see cref="ExecuteUnsafe(int, Span{byte})"/> carries it in its name. Safe code wants
/// <see cref="BpfMap"/>'s span and typed methods, which build no pointers from caller bytes.</para>
/// </remarks>
public static unsafe class BpfAttr
{
    /// <summary><c>sizeof(union bpf_attr)</c> on the reference kernel (6.18): FastMap knows this many bytes.</summary>
    public const int Size = 168;

    // ELEM layout: map_fd@0, key@8, value/next_key@16, flags@24, then the RFC's fields.
    internal const int MapFdOffset = 0, KeyOffset = 8, ValueOffset = 16, FlagsOffset = 24;
    internal const int CompareOffset = 32, CompareOffsetOffset = 40, CompareSizeOffset = 44;

    // BATCH layout: in_batch@0, out_batch@8, keys@16, values@24, count@32, map_fd@36, elem_flags@40,
    // flags@48 (the kernel's, ending at 56); then FastMap's batch compare-and-delete fields, used only
    // by BPF_MAP_DELETE_BATCH with BPF_F_COMPARE in elem_flags: compares@56 (count windows of
    // compare_size bytes), compare_offset@64, compare_size@68, results@72 (count int32 results).
    internal const int InBatchOffset = 0, OutBatchOffset = 8, KeysOffset = 16, ValuesOffset = 24, CountOffset = 32,
        BatchFdOffset = 36, ElemFlagsOffset = 40, BatchFlagsOffset = 48, KernelBatchEnd = 56,
        ComparesOffset = 56, BatchCompareOffsetOffset = 64, BatchCompareSizeOffset = 68, ResultsOffset = 72, BatchEnd = 80;
    private const int PageSize = 4096;

    // OBJ layout (BPF_OBJ_PIN, BPF_OBJ_GET): pathname@0 (a pointer), bpf_fd@8, file_flags@12, path_fd@16 (s32);
    // the last field ends at 20. (BpfCommand has no members for them: the numbers of enum bpf_cmd.)
    internal const int PathnameOffset = 0, BpfFdOffset = 8, FileFlagsOffset = 12, PathFdOffset = 16, ObjEnd = 20;

    /// <summary>
    /// <c>bpf(cmd, attr, size)</c>, as C's <c>fm_bpf</c>: runs one command on the caller's attr. The pointers
    /// inside the attr are dereferenced unchecked (see the class remarks).
    /// </summary>
    /// <param name="cmd">The <c>enum bpf_cmd</c> number.</param>
    /// <param name="attr">The attr: <paramref name="size"/> readable bytes. The batch commands write <c>count</c>
    /// (offset 32) back, as the kernel writes <c>uattr->batch.count</c>; nothing else in the attr is written.</param>
    /// <param name="size">Bytes of <paramref name="attr"/>.</param>
    /// <returns>0 (or a new handle for <see cref="BpfCommand.MapCreate"/>), or a negative errno: <c>-EFAULT</c>
    /// for a NULL <paramref name="attr"/>, <c>-E2BIG</c> for a size above a page, else as
    /// <see cref="ExecuteUnsafe(int, Span{byte})"/>.</returns>
    public static int Execute(int cmd, byte* attr, uint size)
    {
        if (attr is null)
            return (int)MapStatus.EFAULT;
        if (size > PageSize)
            return (int)MapStatus.E2BIG;
        return ExecuteUnsafe(cmd, new Span<byte>(attr, (int)size));
    }

    /// <summary>
    /// Runs one command on the caller's attr bytes (any size up to a page). <b>Unsafe despite its safe
    /// signature:</b> the attr's pointer fields (key, value, keys, values, cursors, compares, results) are
    /// dereferenced as raw addresses of this process, reading and writing as many bytes as the map's sizes
    /// and the attr's <c>count</c> say. Put only addresses of live buffers of the right sizes there (or 0);
    /// anything else corrupts memory or crashes the process. See the class remarks.
    /// </summary>
    /// <param name="cmd">The <c>enum bpf_cmd</c> number.</param>
    /// <param name="attr">The attr bytes. The batch commands write <c>count</c> (offset 32) back, as
    /// the kernel writes <c>uattr->batch.count</c>; nothing else in the attr is written.</param>
    /// <returns>0 (or a new handle for <see cref="BpfCommand.MapCreate"/>) or a negative errno.</returns>
    public static int ExecuteUnsafe(int cmd, Span<byte> attr)
    {
        // bpf_check_uarg_tail_zero: a larger attr is accepted only if the part we do not know is zero.
        if (attr.Length > PageSize)
            return (int)MapStatus.E2BIG;
        if (attr.Length > Size && attr[Size..].IndexOfAnyExcept((byte)0) >= 0)
            return (int)MapStatus.E2BIG;
        Span<byte> a = stackalloc byte[Size];
        a.Clear();
        attr[..Math.Min(attr.Length, Size)].CopyTo(a);
        return (BpfCommand)cmd switch
        {
            BpfCommand.MapCreate => CreateFromAttr(a),
            BpfCommand.MapLookupElem => Elem(a, 32, static (m, k, v, f, _) => BpfMap.LookupCore(m, k, v, f)),
            BpfCommand.MapUpdateElem => Update(a),
            BpfCommand.MapDeleteElem => Delete(a),
            BpfCommand.MapGetNextKey => Elem(a, 24, static (m, k, v, _, _) => BpfMap.GetNextKeyCore(m, k, v)),
            BpfCommand.MapLookupAndDeleteElem => Elem(a, 32, static (m, k, v, f, _) => BpfMap.LookupAndDeleteCore(m, k, v, f)),
            BpfCommand.MapLookupBatch or BpfCommand.MapLookupAndDeleteBatch
                or BpfCommand.MapUpdateBatch or BpfCommand.MapDeleteBatch => Batch((BpfCommand)cmd, a, attr),
            BpfCommand.ObjPin => ObjPin(a),
            BpfCommand.ObjGet => ObjGet(a),
            _ => (int)MapStatus.EINVAL,
        };
    }

    private static int Batch(BpfCommand cmd, Span<byte> a, Span<byte> caller)
    {
        ulong elemFlags = BinaryPrimitives.ReadUInt64LittleEndian(a[ElemFlagsOffset..]);
        bool compare = cmd is BpfCommand.MapDeleteBatch or BpfCommand.MapUpdateBatch && (elemFlags & (ulong)ElemFlags.Compare) != 0;
        // CHECK_ATTR, before the handle: FastMap's compare fields count as the batch struct's last
        // ones, and (as the RFC rules for DELETE_ELEM) they must be zero without BPF_F_COMPARE.
        if (!TailIsZero(a, BatchEnd) || (!compare && !TailIsZero(a, KernelBatchEnd)))
            return (int)MapStatus.EINVAL;
        BpfMap? map = HandleTable.Get((int)BinaryPrimitives.ReadUInt32LittleEndian(a[BatchFdOffset..]));
        byte* keys = Ptr(a, KeysOffset), values = Ptr(a, ValuesOffset);
        ulong flags = BinaryPrimitives.ReadUInt64LittleEndian(a[BatchFlagsOffset..]);
        MapStatus st;
        fixed (byte* pa = a)
        {
            uint* count = (uint*)(pa + CountOffset);
            st = cmd switch
            {
                BpfCommand.MapLookupBatch or BpfCommand.MapLookupAndDeleteBatch => BpfMap.LookupBatchCore(map,
                    cmd == BpfCommand.MapLookupAndDeleteBatch, Ptr(a, InBatchOffset), Ptr(a, OutBatchOffset),
                    keys, values, count, elemFlags, flags),
                BpfCommand.MapUpdateBatch when compare => BpfMap.UpdateCompareBatchCore(map, keys, values, Ptr(a, ComparesOffset),
                    BinaryPrimitives.ReadUInt32LittleEndian(a[BatchCompareOffsetOffset..]),
                    BinaryPrimitives.ReadUInt32LittleEndian(a[BatchCompareSizeOffset..]),
                    (int*)Ptr(a, ResultsOffset), count, elemFlags),
                BpfCommand.MapUpdateBatch => BpfMap.UpdateBatchCore(map, keys, values, count, elemFlags),
                _ when compare => BpfMap.DeleteCompareBatchCore(map, keys, Ptr(a, ComparesOffset),
                    BinaryPrimitives.ReadUInt32LittleEndian(a[BatchCompareOffsetOffset..]),
                    BinaryPrimitives.ReadUInt32LittleEndian(a[BatchCompareSizeOffset..]),
                    (int*)Ptr(a, ResultsOffset), count, elemFlags),
                _ => BpfMap.DeleteBatchCore(map, keys, count, elemFlags),
            };
        }
        // put_user(count): back into the caller's attr (an attr too short to hold count asked for 0).
        if (caller.Length >= CountOffset + 4)
            a.Slice(CountOffset, 4).CopyTo(caller[CountOffset..]);
        return (int)st;
    }

    private static byte* Ptr(ReadOnlySpan<byte> a, int offset) => (byte*)BinaryPrimitives.ReadUInt64LittleEndian(a[offset..]);

    private delegate MapStatus ElemOp(BpfMap? map, byte* key, byte* value, ulong flags, int unused);

    /// <summary>CHECK_ATTR: every byte after the command's last field must be zero.</summary>
    private static bool TailIsZero(ReadOnlySpan<byte> a, int end) => a[end..].IndexOfAnyExcept((byte)0) < 0;

    private static int Elem(ReadOnlySpan<byte> a, int end, ElemOp op)
    {
        if (!TailIsZero(a, end))
            return (int)MapStatus.EINVAL;
        BpfMap? map = HandleTable.Get((int)BinaryPrimitives.ReadUInt32LittleEndian(a[MapFdOffset..]));
        byte* key = (byte*)BinaryPrimitives.ReadUInt64LittleEndian(a[KeyOffset..]);
        byte* value = (byte*)BinaryPrimitives.ReadUInt64LittleEndian(a[ValueOffset..]);
        ulong flags = BinaryPrimitives.ReadUInt64LittleEndian(a[FlagsOffset..]);
        return (int)op(map, key, value, flags, 0);
    }

    /// <summary>UPDATE_ELEM: the kernel's attr ends at flags (32); with <c>BPF_F_COMPARE</c>, FastMap's compare-and-swap
    /// reads the compare fields at delete's offsets, so they count as the attr's last fields (48).</summary>
    private static int Update(ReadOnlySpan<byte> a)
    {
        ulong flags = BinaryPrimitives.ReadUInt64LittleEndian(a[FlagsOffset..]);
        if ((flags & (ulong)ElemFlags.Compare) == 0)
            return Elem(a, 32, static (m, k, v, f, _) => BpfMap.UpdateCore(m, k, v, f));
        if (!TailIsZero(a, 48))
            return (int)MapStatus.EINVAL;
        BpfMap? map = HandleTable.Get((int)BinaryPrimitives.ReadUInt32LittleEndian(a[MapFdOffset..]));
        return (int)BpfMap.UpdateCompareCore(map, Ptr(a, KeyOffset), Ptr(a, ValueOffset), flags, Ptr(a, CompareOffset),
            BinaryPrimitives.ReadUInt32LittleEndian(a[CompareOffsetOffset..]), BinaryPrimitives.ReadUInt32LittleEndian(a[CompareSizeOffset..]));
    }

    private static int Delete(ReadOnlySpan<byte> a)
    {
        if (!TailIsZero(a, 48))
            return (int)MapStatus.EINVAL;
        BpfMap? map = HandleTable.Get((int)BinaryPrimitives.ReadUInt32LittleEndian(a[MapFdOffset..]));
        byte* key = (byte*)BinaryPrimitives.ReadUInt64LittleEndian(a[KeyOffset..]);
        ulong flags = BinaryPrimitives.ReadUInt64LittleEndian(a[FlagsOffset..]);
        byte* compare = (byte*)BinaryPrimitives.ReadUInt64LittleEndian(a[CompareOffset..]);
        uint off = BinaryPrimitives.ReadUInt32LittleEndian(a[CompareOffsetOffset..]);
        uint size = BinaryPrimitives.ReadUInt32LittleEndian(a[CompareSizeOffset..]);
        return (int)BpfMap.DeleteCore(map, key, flags, compare, off, size);
    }

    /// <summary>
    /// BPF_OBJ_PIN, in the kernel's order (docs/obj-pin-kernel.md): CHECK_ATTR and the flags (<c>file_flags</c> must be
    /// 0 and <c>path_fd</c> 0: FastMap does not take <c>BPF_F_PATH_FD</c>, so it is an unknown flag here), then the
    /// handle (<c>-EINVAL</c> for one that names no open map, as the kernel answers for an fd that is no BPF object),
    /// then the path.
    /// </summary>
    private static int ObjPin(ReadOnlySpan<byte> a)
    {
        if (!TailIsZero(a, ObjEnd)
            || BinaryPrimitives.ReadUInt32LittleEndian(a[FileFlagsOffset..]) != 0
            || BinaryPrimitives.ReadInt32LittleEndian(a[PathFdOffset..]) != 0)
            return (int)MapStatus.EINVAL;
        return RawCommands.ObjPin((int)BinaryPrimitives.ReadUInt32LittleEndian(a[BpfFdOffset..]), Ptr(a, PathnameOffset));
    }

    /// <summary>
    /// BPF_OBJ_GET, in the kernel's order: CHECK_ATTR, <c>bpf_fd</c> (must be 0) and <c>path_fd</c> (must be 0: no
    /// <c>BPF_F_PATH_FD</c>), then <c>file_flags</c> (0, <c>BPF_F_RDONLY</c> or <c>BPF_F_WRONLY</c>; anything else,
    /// <c>BPF_F_PATH_FD</c> included, is <c>-EINVAL</c>, as both together are), then the path.
    /// </summary>
    private static int ObjGet(ReadOnlySpan<byte> a)
    {
        if (!TailIsZero(a, ObjEnd)
            || BinaryPrimitives.ReadUInt32LittleEndian(a[BpfFdOffset..]) != 0
            || BinaryPrimitives.ReadInt32LittleEndian(a[PathFdOffset..]) != 0)
            return (int)MapStatus.EINVAL;
        return RawCommands.ObjGet(Ptr(a, PathnameOffset), BinaryPrimitives.ReadUInt32LittleEndian(a[FileFlagsOffset..]));
    }

    private static int CreateFromAttr(ReadOnlySpan<byte> a)
    {
        // CREATE layout (6.18): map_type@0 key_size@4 value_size@8 max_entries@12 map_flags@16
        // inner_map_fd@20 numa_node@24 map_name@28[16] map_ifindex@44 btf_fd@48 btf_key_type_id@52
        // btf_value_type_id@56 btf_vmlinux_value_type_id@60 map_extra@64 value_type_btf_obj_fd@72
        // map_token_fd@76 excl_prog_hash@80 excl_prog_hash_size@88; last field ends at 92.
        if (!TailIsZero(a, 92))
            return (int)MapStatus.EINVAL;
        uint type = BinaryPrimitives.ReadUInt32LittleEndian(a);
        uint flags = BinaryPrimitives.ReadUInt32LittleEndian(a[16..]);
        uint numaNode = BinaryPrimitives.ReadUInt32LittleEndian(a[24..]);
        // No BTF, offload, tokens or exclusive programs in user space: FastMap declares spin locks
        // through fm_map_create's options instead.
        if (a[44..92].IndexOfAnyExcept((byte)0) >= 0)
            return (int)MapStatus.EINVAL;
        if ((flags & (uint)MapFlags.NumaNode) != 0 && numaNode == uint.MaxValue)
            flags &= ~(uint)MapFlags.NumaNode;        // NUMA_NO_NODE: as if no node were named
        else if ((flags & (uint)MapFlags.NumaNode) != 0 && numaNode != 0)
            return (int)MapStatus.EINVAL;             // one NUMA node here (nr_node_ids == 1)
        ReadOnlySpan<byte> rawName = a.Slice(28, 16);
        int nul = rawName.IndexOf((byte)0);
        if (nul < 0)
            return (int)MapStatus.EINVAL;             // bpf_obj_name_cpy: no terminator in 16 bytes
        string? name = nul == 0 ? null : System.Text.Encoding.ASCII.GetString(rawName[..nul]);
        var def = new MapDefinition((MapType)type,
            BinaryPrimitives.ReadUInt32LittleEndian(a[4..]),
            BinaryPrimitives.ReadUInt32LittleEndian(a[8..]),
            BinaryPrimitives.ReadUInt32LittleEndian(a[12..]))
        { Flags = (MapFlags)flags, Name = name };
        MapStatus st = BpfMap.Create(def, out BpfMap? map);
        return st == MapStatus.Ok ? map!.Handle : (int)st;
    }
}
