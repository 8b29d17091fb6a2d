using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using FastMap.Internal;

namespace FastMap.Fuzz;

/// <summary>
/// The fuzz target: an input is a short program of bpf commands, each carved as
/// <c>op, fd selector, attr length, attr bytes, then one control byte per pointer field</c> (see
/// ../README.md for the layout). Every command runs through <see cref="BpfAttr.Execute(int, byte*, uint)"/>,
/// the entry <c>fm_bpf</c> calls, and its answer is judged by the oracles (<see cref="AllowedErrnos"/>,
/// unchanged inputs, batch counts, <see cref="HashModel"/>).
/// </summary>
internal sealed unsafe class Target
{
    /// <summary>Commands one input runs at most: enough for create, fill, scan and delete sequences.</summary>
    private const int MaxCommands = 24;

    // op & 15 picks one: the implemented commands, the common element commands twice, and (15) any number.
    private static readonly int[] Commands = [0, 1, 2, 3, 4, 21, 24, 25, 26, 27, 1, 2, 3, 2, 4, -1];

    /// <summary>Prints each command and its answer (FASTMAP_FUZZ_TRACE=1; for triage, never while fuzzing).</summary>
    private static readonly bool Trace = Environment.GetEnvironmentVariable("FASTMAP_FUZZ_TRACE") == "1";

    private readonly LiveMaps _maps = new();
    private readonly GuardSlots _slots = new();
    private readonly HashModel _model = new();
    // The attr itself ends against a guard page too: reading past the size the caller gave faults.
    private readonly GuardedBuffer _attr = new(MaxAttr, GuardPlacement.AtEnd);
    private const int MaxAttr = 4097;
    private readonly byte[] _lastOut = new byte[8];   // the last key or cursor a command wrote: fed back as input

    /// <summary>Runs one input from the state every input starts from.</summary>
    public void Run(ReadOnlySpan<byte> data)
    {
        _maps.Reset();
        _model.Clear();
        _lastOut.AsSpan().Clear();
        var input = new Carver(data);
        for (int i = 0; i < MaxCommands && !input.Exhausted; i++)
            Step(ref input);
        _model.Verify(_maps.Model);
    }

    private void Step(ref Carver input)
    {
        byte op = input.Byte();
        int cmd = Commands[op & 15];
        if (cmd < 0)
            cmd = (op & 0x10) != 0 ? (int)input.U32() : input.Byte();   // unknown numbers, and known ones by number
        // BPF_OBJ_PIN and BPF_OBJ_GET take a path: fuzzed, they would link and open files anywhere (their errnos are
        // tested in tests/FastMap.Tests/Shared and tests/c/shared.c). Carved and skipped, so inputs keep their meaning.
        if (cmd is (int)BpfCommand.ObjPin or (int)BpfCommand.ObjGet)
            return;
        byte fdSelector = input.Byte();
        byte lengthByte = input.Byte();
        bool nullAttr = lengthByte == NullAttr;
        Span<byte> attr = _attr.Span[(MaxAttr - AttrLength(lengthByte))..];
        attr.Clear();
        input.Fill(attr[..Math.Min(attr.Length, AttrBytesCarved)]);

        // A pointer field the attr's end cuts in two would be a wild address: the caller's bug, not the engine's.
        foreach (int off in PointerFields.Offsets(cmd))
            if (off < attr.Length && off + 8 > attr.Length)
                attr[off..].Clear();

        bool batch = cmd is (int)BpfCommand.MapLookupBatch or (int)BpfCommand.MapLookupAndDeleteBatch
            or (int)BpfCommand.MapUpdateBatch or (int)BpfCommand.MapDeleteBatch;
        int fdOffset = batch ? 36 : 0;
        if (cmd == (int)BpfCommand.MapCreate)
            CreateLimits.Clamp(attr);
        else if (fdOffset + 4 <= attr.Length)
            BinaryPrimitives.WriteInt32LittleEndian(attr[fdOffset..], _maps.Choose(fdSelector, ref input));
        if (batch)
            ClampCount(attr);

        byte[] view = EngineView(attr);
        BpfMap? map = cmd == (int)BpfCommand.MapCreate ? null : BpfMap.FromHandle((int)PointerFields.U32(view, fdOffset));
        List<PointerField> fields = PointerFields.For(cmd, view, map);
        var placed = new List<(PointerField Field, nint Address, byte[]? Before)>(fields.Count);
        for (int slot = 0; slot < fields.Count; slot++)
        {
            PointerField f = fields[slot];
            if (f.Offset + 8 > attr.Length || BinaryPrimitives.ReadUInt64LittleEndian(attr[f.Offset..]) == 0)
                continue;                             // a zero (or absent) field stays NULL: CHECK_ATTR tails stay zero
            nint address = Place(slot, f, input.Byte(), ref input);
            BinaryPrimitives.WriteInt64LittleEndian(attr[f.Offset..], address);
            placed.Add((f, address, address != 0 && f.IsInput ? Bytes(address, f.Length) : null));
        }
        byte[] before = EngineView(attr);

        int ret = BpfAttr.Execute(cmd, nullAttr ? null : (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetReference(attr)), (uint)attr.Length);
        if (Trace)
            Console.Error.WriteLine($"  cmd {cmd} fd {(int)PointerFields.U32(view, fdOffset)} attr {attr.Length} bytes -> {ret}"
                + (ret < 0 ? $" ({(MapStatus)ret})" : "")
                + (cmd == 0 ? $" type {PointerFields.U32(view, 0)} key {PointerFields.U32(view, 4)} value {PointerFields.U32(view, 8)}"
                    + $" max {PointerFields.U32(view, 12)} flags 0x{PointerFields.U32(view, 16):x}" : ""));

        // bpf(cmd, NULL, size): fm_bpf's -EFAULT (fastmap.h), before anything else and for every command.
        OracleFailure.Check(!nullAttr || ret == (int)MapStatus.EFAULT, $"cmd {cmd} with a NULL attr answered {ret}");
        OracleFailure.Check(nullAttr || AllowedErrnos.Allows(cmd, ret), $"cmd {cmd} answered {ret}, not in README's errno table for it");
        // bpf_check_uarg_tail_zero comes before everything: such an attr runs no command at all.
        bool oversized = attr.Length > 4096 || (attr.Length > BpfAttr.Size && attr[BpfAttr.Size..].IndexOfAnyExcept((byte)0) >= 0);
        OracleFailure.Check(!oversized || ret == (int)MapStatus.E2BIG, $"cmd {cmd} ran on an oversized attr ({attr.Length} bytes): {ret}");
        var pointed = new Dictionary<int, byte[]?>();
        foreach ((PointerField f, nint address, byte[]? was) in placed)
        {
            byte[]? now = address == 0 ? null : Bytes(address, f.Length);
            pointed[f.Offset] = now;
            if (was is not null)
                OracleFailure.Check(now!.AsSpan().SequenceEqual(was), $"cmd {cmd} wrote into its input at attr offset {f.Offset}");
        }
        uint countAfter = batch && attr.Length >= 36 ? BinaryPrimitives.ReadUInt32LittleEndian(attr[32..]) : PointerFields.U32(before, 32);
        CheckAttrUntouched(cmd, batch, attr, before);
        RememberOutput(cmd, pointed);
        var executed = new Executed(cmd, ret, before, countAfter, pointed);
        if (batch && ret is 0 or (int)MapStatus.ENOENT or (int)MapStatus.ENOSPC or (int)MapStatus.E2BIG or (int)MapStatus.EFAULT)
            OracleFailure.Check(countAfter <= PointerFields.U32(before, 32), $"cmd {cmd}: count grew to {countAfter}");
        if (cmd is (int)BpfCommand.MapDeleteBatch or (int)BpfCommand.MapUpdateBatch && ret == 0)
            CheckResults(executed);

        if (cmd == (int)BpfCommand.MapCreate && ret > 0)
            CreateLimits.CheckCreated(view, ret, _maps);
        if (map is not null && ReferenceEquals(map, _maps.Model) && !oversized && !nullAttr)
        {
            _model.Apply(executed);
            _model.Verify(map);
        }
    }

    /// <summary>Attr bytes read from the input at most; a longer attr is zero past them.</summary>
    internal const int AttrBytesCarved = BpfAttr.Size + 8;

    /// <summary>The length byte that passes a NULL attr (the harness still carves no attr bytes for it).</summary>
    internal const byte NullAttr = 0xFE;

    /// <summary>0..168 bytes mostly; now and then a longer attr, with a zero or nonzero tail, or over a page.</summary>
    internal static int AttrLength(byte b) => b switch
    {
        < 0xF0 => b % (BpfAttr.Size + 1),
        < 0xF8 => BpfAttr.Size + 1 + (b & 7),     // a tail the fill makes nonzero (E2BIG) or zero (accepted)
        < 0xFC => 4096,
        < 0xFE => MaxAttr,
        NullAttr => 0,
        _ => BpfAttr.Size,
    };

    /// <summary>Batch counts: small enough for the harness's buffers, or (top bit set) raw with NULL arrays.</summary>
    private static void ClampCount(Span<byte> attr)
    {
        if (attr.Length < 36)
            return;
        uint n = BinaryPrimitives.ReadUInt32LittleEndian(attr[32..]);
        if ((n & 0x8000_0000) == 0)
            BinaryPrimitives.WriteUInt32LittleEndian(attr[32..], n % (PointerFields.MaxBufferedCount + 1));
    }

    /// <summary>
    /// Control byte: bits 0-1 NULL (0), guard after (1, 3) or before (2); bits 2-3 the fill: input
    /// bytes, a pattern (element i all byte (base + i) mod 8, base = bits 4-6: few distinct keys, so
    /// commands meet each other's keys), zeros, or the last key/cursor a command returned.
    /// </summary>
    private nint Place(int slot, PointerField f, byte control, ref Carver input)
    {
        if ((control & 3) == 0 || f.Length < 0)
            return 0;
        Span<byte> buf = _slots.Place(slot, f.Length, guardBefore: (control & 3) == 2);
        switch ((control >> 2) & 3)
        {
            case 0:
                input.Fill(buf);
                break;
            case 1:
                for (int i = 0; i * f.Element < buf.Length; i++)
                    buf.Slice(i * f.Element, Math.Min(f.Element, buf.Length - i * f.Element)).Fill((byte)(((control >> 4) + i) & 7));
                break;
            case 2:
                buf.Clear();
                break;
            default:
                for (int i = 0; i < buf.Length; i++)
                    buf[i] = _lastOut[i % _lastOut.Length];
                break;
        }
        return (nint)Unsafe.AsPointer(ref MemoryMarshal.GetReference(buf));
    }

    /// <summary>next_key or out_batch, when written: the next input's echo fill resumes from it.</summary>
    private void RememberOutput(int cmd, Dictionary<int, byte[]?> pointed)
    {
        int off = cmd switch
        {
            (int)BpfCommand.MapGetNextKey => 16,
            (int)BpfCommand.MapLookupBatch or (int)BpfCommand.MapLookupAndDeleteBatch => 8,
            _ => -1,
        };
        if (off >= 0 && pointed.TryGetValue(off, out byte[]? b) && b is { Length: > 0 })
        {
            _lastOut.AsSpan().Clear();
            b.AsSpan(0, Math.Min(b.Length, _lastOut.Length)).CopyTo(_lastOut);
        }
    }

    /// <summary>The engine writes back only a batch's count (offset 32); every other attr byte must be as given.</summary>
    private static void CheckAttrUntouched(int cmd, bool batch, Span<byte> attr, byte[] before)
    {
        byte[] after = EngineView(attr);
        for (int i = 0; i < after.Length; i++)
            OracleFailure.Check(after[i] == before[i] || (batch && i is >= 32 and < 36), $"cmd {cmd} wrote attr byte {i}");
    }

    /// <summary>Batch compare-and-delete (and compare-and-update): every processed key's result is 0, EBUSY or ENOENT.</summary>
    private static void CheckResults(Executed e)
    {
        if ((e.U64(40) & (ulong)ElemFlags.Compare) == 0 || e.Bytes(72) is not { } results)
            return;
        for (int i = 0; i < e.CountAfter; i++)
        {
            int r = BinaryPrimitives.ReadInt32LittleEndian(results.AsSpan(i * 4));
            OracleFailure.Check(r is 0 or (int)MapStatus.EBUSY or (int)MapStatus.ENOENT, $"compare batch results[{i}] = {r}");
        }
    }

    /// <summary>What the engine reads: the first 168 bytes of the attr, zero-padded.</summary>
    private static byte[] EngineView(ReadOnlySpan<byte> attr)
    {
        byte[] v = new byte[BpfAttr.Size];
        attr[..Math.Min(attr.Length, BpfAttr.Size)].CopyTo(v);
        return v;
    }

    private static byte[] Bytes(nint address, int length) => new ReadOnlySpan<byte>((void*)address, length).ToArray();
}
