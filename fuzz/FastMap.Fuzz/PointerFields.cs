using System.Buffers.Binary;

namespace FastMap.Fuzz;

/// <summary>One pointer field of an attr and the bytes the command's contract says it may touch.</summary>
/// <param name="Offset">Where the pointer sits in the attr.</param>
/// <param name="Length">Bytes the engine may read or write through it; -1 when that is more than a
/// harness buffer holds (the field then gets NULL).</param>
/// <param name="Element">Size of one element (a key, a value, a window), for pattern fills.</param>
/// <param name="IsInput">True if the engine only reads it: the harness checks it comes back unchanged.</param>
internal readonly record struct PointerField(int Offset, int Length, int Element, bool IsInput);

/// <summary>
/// Which attr fields of each command are pointers, and how many bytes each points to: the same
/// contract a bpf() caller keeps (fastmap.h documents each). Sizes come from the map the fd names
/// when it names one; for a bad fd, from a default shape, so an engine that wrongly went on would
/// still touch guarded bytes.
/// </summary>
internal static class PointerFields
{
    /// <summary>Batch counts above this are passed raw only with NULL arrays (no buffer could hold them).</summary>
    public const uint MaxBufferedCount = 64;

    /// <param name="cmd">The command number.</param>
    /// <param name="attr">The engine's view of the attr: <see cref="BpfAttr.Size"/> bytes, zero-padded.</param>
    /// <param name="map">The map the fd names, or null.</param>
    public static List<PointerField> For(int cmd, ReadOnlySpan<byte> attr, BpfMap? map)
    {
        int k = map?.KeySize ?? 8;
        int v = map?.ValueBufferSize ?? 16;
        int valueSize = map?.ValueSize ?? 16;
        var f = new List<PointerField>(6);
        switch ((BpfCommand)cmd)
        {
            case BpfCommand.MapLookupElem or BpfCommand.MapLookupAndDeleteElem:
                f.Add(new(8, k, k, true));
                f.Add(new(16, v, v, false));
                break;
            case BpfCommand.MapUpdateElem:
                f.Add(new(8, k, k, true));
                f.Add(new(16, v, v, true));
                // Compare-and-update (BPF_F_COMPARE in flags, work in progress at this writing) reads a
                // window at delete's offsets; without the flag a nonzero field is EINVAL before any read.
                if ((U64(attr, 24) & (ulong)ElemFlags.Compare) != 0)
                    AddWindow(f, 32, U32(attr, 44), valueSize, 1);
                break;
            case BpfCommand.MapDeleteElem:
                f.Add(new(8, k, k, true));
                AddWindow(f, 32, U32(attr, 44), valueSize, 1);
                break;
            case BpfCommand.MapGetNextKey:
                f.Add(new(8, k, k, true));
                f.Add(new(16, k, k, false));
                break;
            case BpfCommand.MapLookupBatch or BpfCommand.MapLookupAndDeleteBatch:
            {
                uint n = U32(attr, 32);
                // The cursor is an opaque u32 (fastmap.h): 4 bytes read from in_batch, 4 written to out_batch.
                f.Add(new(0, 4, 4, true));
                f.Add(new(8, 4, 4, false));
                f.Add(new(16, Times(n, k), k, false));
                f.Add(new(24, Times(n, v), v, false));
                break;
            }
            case BpfCommand.MapUpdateBatch or BpfCommand.MapDeleteBatch:
            {
                uint n = U32(attr, 32);
                // BPF_F_COMPARE in elem_flags: FastMap's fields after the kernel's batch struct (delete's,
                // and the update batch's compare-and-update, work in progress at this writing).
                bool compare = (U64(attr, 40) & (ulong)ElemFlags.Compare) != 0;
                // Write batches have no cursor: whatever in_batch/out_batch point to must be left alone.
                f.Add(new(0, 4, 4, true));
                f.Add(new(8, 4, 4, true));
                f.Add(new(16, Times(n, k), k, true));
                f.Add(new(24, Times(n, v), v, true));
                if (compare)
                {
                    AddWindow(f, 56, U32(attr, 68), valueSize, n);
                    f.Add(new(72, Times(n, 4), 4, false));
                }
                break;
            }
        }
        return f;
    }

    /// <summary><paramref name="n"/> compare windows of compare_size bytes (the whole value when it is 0), back to back.</summary>
    private static void AddWindow(List<PointerField> f, int offset, uint size, int valueSize, uint n)
    {
        int w = size == 0 ? valueSize : size <= GuardSlots.MaxBytes ? (int)size : -1;
        f.Add(new(offset, w < 0 ? -1 : Times(n, w), Math.Max(w, 1), true));
    }

    private static int Times(uint n, int size)
    {
        ulong bytes = (ulong)n * (ulong)size;
        return bytes <= GuardSlots.MaxBytes ? (int)bytes : -1;
    }

    /// <summary>Offsets of every pointer field a command may have (to keep a field that the caller's attr
    /// cuts in two from becoming a wild address).</summary>
    public static ReadOnlySpan<int> Offsets(int cmd) => (BpfCommand)cmd switch
    {
        BpfCommand.MapLookupElem or BpfCommand.MapUpdateElem or BpfCommand.MapDeleteElem
            or BpfCommand.MapGetNextKey or BpfCommand.MapLookupAndDeleteElem => [8, 16, 32],
        BpfCommand.MapLookupBatch or BpfCommand.MapLookupAndDeleteBatch
            or BpfCommand.MapUpdateBatch or BpfCommand.MapDeleteBatch => [0, 8, 16, 24, 56, 72],
        _ => [],
    };

    /// <summary>A u32 field of the engine's view of the attr (<see cref="BpfAttr.Size"/> bytes, zero-padded).</summary>
    public static uint U32(ReadOnlySpan<byte> attr, int offset) => BinaryPrimitives.ReadUInt32LittleEndian(attr[offset..]);

    public static ulong U64(ReadOnlySpan<byte> attr, int offset) => BinaryPrimitives.ReadUInt64LittleEndian(attr[offset..]);
}
