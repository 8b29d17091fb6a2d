using System.Buffers.Binary;

namespace FastMap.Fuzz;

/// <summary>
/// Writes the hand-made seeds of fuzz/corpus (<c>--write-seeds DIR</c>): one valid instance of
/// each command, each map kind, and the edges the errno table names. Building them here, in the
/// target's own input format, keeps that format in one place: change <see cref="Target"/>'s
/// carving and these change with it.
/// </summary>
internal static class Seeds
{
    // Fd selectors (LiveMaps.Choose) and pointer control bytes (Target.Place).
    private const byte Model = 0, Lru = 4, Percpu = 5, Array = 6, Locked = 7, ReadOnly = 8, WriteOnly = 9, Closed = 11;
    // Seeds use only fills that read no input bytes (patterns, zeros), so no seed depends on the
    // buffer sizes Target derives from the maps.
    private const byte Zeros = 1 | (2 << 2), Null = 0;

    /// <summary>A pattern fill: element i all byte (base + i) mod 8; guard after.</summary>
    private static byte Pattern(int b) => (byte)(1 | (1 << 2) | (b << 4));

    public static int Write(string dir)
    {
        Directory.CreateDirectory(dir);
        var seeds = new Dictionary<string, Program>
        {
            ["seed-create-hash"] = new Program().Create(MapType.Hash, 4, 8, 16, "seed"),
            ["seed-create-percpu-lru"] = new Program().Create(MapType.PercpuHash, 8, 20, 4, "").Create(MapType.LruHash, 2, 3, 2, "l.r_u"),
            ["seed-create-e2big"] = new Program().Create(MapType.Hash, 4, 8, (1u << 27) + 1, ""),
            ["seed-update-lookup"] = new Program().Update(Model, 1, 0).Lookup(Model, 1),
            ["seed-update-flags"] = new Program().Update(Model, 1, 1).Update(Model, 1, 1).Update(Model, 2, 2).Update(Model, 1, 2),
            ["seed-delete"] = new Program().Update(Model, 3, 0).Delete(Model, 3).Delete(Model, 3),
            ["seed-compare-delete"] = new Program().Update(Model, 3, 0, Pattern(5)).CompareDelete(Model, 3, Pattern(6), 0, 4)
                .CompareDelete(Model, 3, Pattern(5), 4, 8),
            ["seed-get-next-key"] = new Program().Update(Model, 1, 0).Update(Model, 2, 0).GetNextKey(Model, null).GetNextKey(Model, 1),
            ["seed-lookup-and-delete"] = new Program().Update(Model, 4, 0).LookupAndDelete(Model, 4).LookupAndDelete(Model, 4),
            ["seed-lookup-batch"] = new Program().UpdateBatch(Model, 0, 5).LookupBatch(Model, 8, delete: false),
            ["seed-lookup-and-delete-batch"] = new Program().UpdateBatch(Model, 2, 4).LookupBatch(Model, 2, delete: true).LookupBatch(Model, 8, delete: true),
            ["seed-update-batch-full"] = new Program().UpdateBatch(Model, 0, 8),
            ["seed-delete-batch"] = new Program().UpdateBatch(Model, 1, 3).DeleteBatch(Model, 1, 2).DeleteBatch(Model, 1, 3),
            ["seed-compare-delete-batch"] = new Program().UpdateBatch(Model, 0, 4).CompareDeleteBatch(Model, 0, 1, 4, 0, 0)
                .CompareDeleteBatch(Model, 0, 0, 3, 4, 8).CompareDeleteBatch(Model, 0, 0, 4, 0, 0),
            // Compare-and-update (FastMap's extension, UpdateCompare.cs): a mismatch, a swap, an absent key.
            ["seed-compare-update"] = new Program().Update(Model, 3, 0, Pattern(5)).CompareUpdate(Model, 3, Pattern(2), Pattern(6), 0, 4)
                .CompareUpdate(Model, 3, Pattern(2), Pattern(5), 4, 8).CompareUpdate(Model, 4, Pattern(2), Pattern(5), 0, 0),
            ["seed-compare-update-batch"] = new Program().UpdateBatch(Model, 0, 4).CompareUpdateBatch(Model, 0, 1, 4)
                .CompareUpdateBatch(Model, 0, 0, 5),
            ["seed-lru"] = new Program().UpdateBatch(Lru, 0, 6).LookupBatch(Lru, 8, delete: false).Lookup(Lru, 5),
            ["seed-percpu"] = new Program().Update(Percpu, 2, 0).Lookup(Percpu, 2).LookupBatch(Percpu, 4, delete: true),
            ["seed-array"] = new Program().Update(Array, 0, 0).Lookup(Array, 0).LookupBatch(Array, 4, delete: false).Delete(Array, 0),
            ["seed-spin-lock"] = new Program().Update(Locked, 1, 4).Lookup(Locked, 1, 4).CompareDelete(Locked, 1, Pattern(7), 0, 4)
                .Lookup(Model, 1, 0, 0).Update(Model, 2, 0, Null),
            ["seed-permissions"] = new Program().Update(ReadOnly, 1, 0).Lookup(WriteOnly, 1).Update(WriteOnly, 1, 0),
            ["seed-bad-handles"] = new Program().Lookup(Closed, 1).Update(12, 1, 0).Delete(13, 1),
            ["seed-unknown-and-sizes"] = new Program().Unknown(5).Unknown(0xffff_ffff).Lookup(Model, 1, attrLengthByte: 0xFD)
                .Lookup(Model, 1, attrLengthByte: 0xF0).Lookup(Model, 1, attrLengthByte: Target.NullAttr).Update(Model, 1, 0),
        };
        foreach ((string name, Program p) in seeds)
            File.WriteAllBytes(Path.Combine(dir, name), p.Bytes());
        Console.WriteLine($"wrote {seeds.Count} seeds to {dir}");
        return 0;
    }

    /// <summary>Builds one input: commands in the carving order <see cref="Target"/> reads.</summary>
    private sealed class Program
    {
        private readonly List<byte> _b = [];

        public byte[] Bytes() => [.. _b];

        public Program Create(MapType type, uint key, uint value, uint max, string name)
        {
            byte[] a = new byte[44];
            W32(a, 0, (uint)type); W32(a, 4, key); W32(a, 8, value); W32(a, 12, max);
            System.Text.Encoding.ASCII.GetBytes(name).CopyTo(a, 28);
            return Cmd(0, Model, a);
        }

        public Program Update(byte fd, int key, ulong flags, byte value = 1 | (1 << 2) | (7 << 4)) =>
            Elem(2, fd, 32, flags, (8, Pattern(key)), (16, value));

        public Program Lookup(byte fd, int key, ulong flags = 0, byte attrLengthByte = 0) =>
            Elem(1, fd, 32, flags, [(8, Pattern(key)), (16, Zeros)], attrLengthByte);

        public Program Delete(byte fd, int key) => Elem(3, fd, 32, 0, (8, Pattern(key)));

        public Program CompareDelete(byte fd, int key, byte compare, uint off, uint size)
        {
            byte[] a = Attr(48, 0);
            W64(a, 24, (ulong)ElemFlags.Compare); W32(a, 40, off); W32(a, 44, size);
            return Cmd(3, fd, a, (8, Pattern(key)), (32, compare));
        }

        public Program CompareUpdate(byte fd, int key, byte value, byte compare, uint off, uint size)
        {
            byte[] a = Attr(48, 0);
            W64(a, 24, (ulong)ElemFlags.Compare); W32(a, 40, off); W32(a, 44, size);
            return Cmd(2, fd, a, (8, Pattern(key)), (16, value), (32, compare));
        }

        /// <summary>Keys firstKey+i with windows firstCompare+i over whole values; new values are pattern 7.</summary>
        public Program CompareUpdateBatch(byte fd, int firstKey, int firstCompare, uint count)
        {
            byte[] a = Attr(80, count);
            W64(a, 40, (ulong)ElemFlags.Compare);
            return Cmd(8, fd, a, (16, Pattern(firstKey)), (24, Pattern(7)), (56, Pattern(firstCompare)), (72, Zeros));
        }

        public Program GetNextKey(byte fd, int? key) =>
            key is int k ? Elem(4, fd, 24, 0, (8, Pattern(k)), (16, Zeros)) : Elem(4, fd, 24, 0, (16, Zeros));

        public Program LookupAndDelete(byte fd, int key) => Elem(21, fd, 32, 0, (8, Pattern(key)), (16, Zeros));

        public Program LookupBatch(byte fd, uint count, bool delete)
        {
            byte[] a = Attr(56, count);
            return Cmd(delete ? 7 : 6, fd, a, (8, Zeros), (16, Zeros), (24, Zeros));
        }

        public Program UpdateBatch(byte fd, int firstKey, uint count) =>
            Cmd(8, fd, Attr(56, count), (16, Pattern(firstKey)), (24, Pattern(firstKey)));

        public Program DeleteBatch(byte fd, int firstKey, uint count) => Cmd(9, fd, Attr(56, count), (16, Pattern(firstKey)));

        /// <summary>Key i is byte firstKey+i, window i byte firstCompare+i: equal bases match the values
        /// UpdateBatch wrote (deleted), others do not (EBUSY); a deleted key then answers ENOENT.</summary>
        public Program CompareDeleteBatch(byte fd, int firstKey, int firstCompare, uint count, uint off, uint size)
        {
            byte[] a = Attr(80, count);
            W64(a, 40, (ulong)ElemFlags.Compare); W32(a, 64, off); W32(a, 68, size);
            return Cmd(9, fd, a, (16, Pattern(firstKey)), (56, Pattern(firstCompare)), (72, Zeros));
        }

        public Program Unknown(uint cmd)
        {
            _b.Add(0x1F);                             // table slot 15, number as a u32
            Span<byte> n = stackalloc byte[4];
            BinaryPrimitives.WriteUInt32LittleEndian(n, cmd);
            _b.AddRange(n);
            _b.Add(Model);
            _b.Add(32);
            _b.AddRange(new byte[32]);
            return this;
        }

        private Program Elem(int cmd, byte fd, int length, ulong flags, params (int Offset, byte Control)[] pointers) =>
            Elem(cmd, fd, length, flags, pointers, 0);

        private Program Elem(int cmd, byte fd, int length, ulong flags, (int Offset, byte Control)[] pointers, byte attrLengthByte)
        {
            byte[] a = new byte[length];
            if (length >= 32)
                W64(a, 24, flags);
            int index = System.Array.IndexOf([0, 1, 2, 3, 4, 21], cmd);
            return Cmd(index, fd, a, attrLengthByte, pointers);
        }

        private static byte[] Attr(int length, uint count)
        {
            byte[] a = new byte[length];
            W32(a, 32, count);
            return a;
        }

        private Program Cmd(int tableIndex, byte fd, byte[] attr, params (int Offset, byte Control)[] pointers) =>
            Cmd(tableIndex, fd, attr, 0, pointers);

        /// <summary>op, fd selector, attr length, attr (pointer fields marked nonzero), control bytes.</summary>
        private Program Cmd(int tableIndex, byte fd, byte[] attr, byte attrLengthByte, (int Offset, byte Control)[] pointers)
        {
            foreach ((int off, _) in pointers)
                W64(attr, off, 1);                    // nonzero: the harness replaces it with a buffer (or NULL)
            byte lengthByte = attrLengthByte != 0 ? attrLengthByte : (byte)attr.Length;
            int length = Target.AttrLength(lengthByte);
            byte[] full = new byte[Math.Min(length, Target.AttrBytesCarved)];
            attr.AsSpan(0, Math.Min(attr.Length, full.Length)).CopyTo(full);   // a shorter length cuts the attr
            if (full.Length > BpfAttr.Size)
                full[BpfAttr.Size] = 1;               // a nonzero byte past the known 168: E2BIG
            _b.Add((byte)tableIndex);
            _b.Add(fd);
            _b.Add(lengthByte);
            _b.AddRange(full);
            foreach ((_, byte control) in pointers.Where(p => p.Offset + 8 <= length).OrderBy(p => p.Offset))
            {
                if ((control & 3) != 0 && ((control >> 2) & 3) == 0)
                    throw new InvalidOperationException("seeds take no raw fills (their length depends on the map)");
                _b.Add(control);
            }
            return this;
        }

        private static void W32(byte[] a, int off, uint v) => BinaryPrimitives.WriteUInt32LittleEndian(a.AsSpan(off), v);

        private static void W64(byte[] a, int off, ulong v) => BinaryPrimitives.WriteUInt64LittleEndian(a.AsSpan(off), v);
    }
}
