using System.Numerics;
using System.Runtime.InteropServices;

namespace FastMap.Internal;

/// <summary>
/// Where everything of a shared map sits in its file: a header, then the domain page (epoch, pin word,
/// recovery lock), the process and thread tables, the capacity shards, the overflow pool's state and
/// lists, the group lock owners, and the store's arrays. Every position is an offset from the file's
/// start, computed by <see cref="Compute"/> from the definition alone, so a process that opens the file
/// trusts no offset it reads: it recomputes the layout and requires the header to match it field by field.
/// </summary>
/// <remarks>
/// <code>
/// [0, 4096)        header (<see cref="Header"/>), written once before the file is visible, never after
/// [4096, 8192)     domain page: [0..8) epoch G | [64..68) pin word | [128..132) recovery lock | [192..196) readers'
///                  fence word | [256..264) capacity tokens recovery gave back
/// procs            <see cref="ProcSlots"/> x 64 B: [0..4) pid | [4..8) generation | [8..12) state
/// threads          <see cref="ThreadSlots"/> x stride: [0..8) announced epoch | [8..12) process + 1 | [12..16) generation
///                  | [16..24) undo: value offset + 1 (0: none) | [64..) undo bytes (value_size, rounded to 8)
/// capacity         shard count x 128 B (<see cref="Capacity"/>)
/// pool             64 B (<see cref="Overflow"/>'s state) | free list (MaxRecords x 4 B) | limbo list (2 MaxRecords x 16 B)
/// owners           groups x 4 B: the thread slot (+1) holding each group's lock, 0 when free
/// ctrl | chain | entries | records   as in a private map (<see cref="HashStore"/>, <see cref="Overflow"/>)
/// </code>
/// <para>The file is sparse: pages are committed as they are first written, as a private map's are.</para>
/// </remarks>
internal readonly unsafe struct SharedLayout
{
    /// <summary>"FMSHARE1" little-endian.</summary>
    public const ulong Magic = 0x314552414853_4D46;
    /// <summary>This build's layout: a file of another version is refused (<c>-EPROTO</c>), never read.</summary>
    public const uint LayoutVersion = 1;
    public const int HeaderBytes = 4096, DomainBytes = 4096;
    public const int ProcSlots = 64, ProcBytes = 64;
    public const int ThreadSlots = 256, ThreadHead = 64;
    public const int GlobalOffset = 0, PinOffset = 64, RecoveryLockOffset = 128;
    private const ulong Page = 4096;

    public readonly uint Type, KeySize, ValueSize, StoredValueSize, MaxEntries;
    public readonly ulong Flags, Seed;
    public readonly int GroupBits;
    public readonly uint Slots, Stride, ShardCount, MaxRecords, RecordBytes, ThreadStride;
    public readonly ulong Procs, Threads, Capacity, Pool, FreeList, LimboList, Owners, Ctrl, Chain, Entries, Records, FileBytes;

    private SharedLayout(uint type, uint keySize, uint valueSize, uint storedValueSize, uint maxEntries, ulong flags, ulong seed,
        uint shardCount)
    {
        Type = type;
        KeySize = keySize;
        ValueSize = valueSize;
        StoredValueSize = storedValueSize;
        MaxEntries = maxEntries;
        Flags = flags;
        Seed = seed;
        ShardCount = shardCount;
        (GroupBits, Slots, ulong stride) = HashStore.Geometry(keySize, storedValueSize, maxEntries);
        Stride = (uint)stride;
        // As many records as keys (4 entries each: every key could be in one, four times over for records waiting out a
        // grace period, where a private map would take fresh memory), in a sparse file: only records used cost pages.
        MaxRecords = maxEntries + 64;
        RecordBytes = Overflow.RecordBytesFor(Stride);
        ThreadStride = ThreadHead + ((storedValueSize + 63) & ~63u);
        ulong groups = 1ul << GroupBits;
        ulong at = HeaderBytes + DomainBytes;
        Procs = Take(ref at, ProcSlots * (ulong)ProcBytes);
        Threads = Take(ref at, ThreadSlots * (ulong)ThreadStride);
        Capacity = Take(ref at, shardCount * 128ul);
        Pool = Take(ref at, 64);
        FreeList = Take(ref at, MaxRecords * 4ul);
        LimboList = Take(ref at, MaxRecords * 32ul);   // two entries a record (Overflow.CompactLimboLocked)
        Owners = Take(ref at, groups * 4);
        Ctrl = Take(ref at, groups * Group.CtrlBytes);
        Chain = Take(ref at, groups * 4);
        Entries = Take(ref at, groups * Slots * stride);
        Records = Take(ref at, (ulong)MaxRecords * RecordBytes);
        FileBytes = at;
    }

    private static ulong Take(ref ulong at, ulong bytes)
    {
        ulong start = at;
        at = (at + bytes + Page - 1) & ~(Page - 1);
        return start;
    }

    /// <summary>The layout of a map with this definition; sizes are the command layer's, already checked.</summary>
    public static SharedLayout Compute(MapType type, uint keySize, uint valueSize, uint storedValueSize, uint maxEntries, MapFlags flags,
        ulong seed, uint shardCount) =>
        new((uint)type, keySize, valueSize, storedValueSize, maxEntries, (ulong)flags, seed, shardCount);

    /// <summary>Shards for a new map: one per processor, a power of two, at most 64 (as a private map's).</summary>
    public static uint ShardsForThisMachine() =>
        BitOperations.RoundUpToPowerOf2((uint)Math.Clamp(Environment.ProcessorCount, 1, 64));

    /// <summary>The header as stored at offset 0.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct Header
    {
        public ulong Magic;
        public uint Version, HeaderSize;
        public uint Type, KeySize, ValueSize, StoredValueSize, MaxEntries, ShardCount;
        public ulong Flags, Seed, FileBytes;
        public int SpinLockOffset;
        public uint State;                     // 1 once the file is complete (it is made before it is visible)
        public fixed byte Name[16];
        public ulong Check;                    // a hash of every field above
    }

    /// <summary>The state value of a complete file.</summary>
    public const uint Ready = 1;

    /// <summary>Writes the header for this layout (the file is not yet visible to anyone).</summary>
    public unsafe void WriteHeader(byte* file, string? name)
    {
        var h = (Header*)file;
        h->Magic = Magic;
        h->Version = LayoutVersion;
        h->HeaderSize = (uint)sizeof(Header);
        h->Type = Type;
        h->KeySize = KeySize;
        h->ValueSize = ValueSize;
        h->StoredValueSize = StoredValueSize;
        h->MaxEntries = MaxEntries;
        h->ShardCount = ShardCount;
        h->Flags = Flags;
        h->Seed = Seed;
        h->FileBytes = FileBytes;
        h->SpinLockOffset = -1;
        h->State = Ready;
        if (name is not null)
            for (int i = 0; i < name.Length && i < 15; i++)
                h->Name[i] = (byte)name[i];
        h->Check = CheckOf(h);
    }

    private static unsafe ulong CheckOf(Header* h)
    {
        // FNV-1a over the bytes before Check: a torn or edited header never passes.
        ulong x = 0xcbf29ce484222325;
        var p = (byte*)h;
        for (int i = 0; i < (int)Marshal.OffsetOf<Header>(nameof(Header.Check)); i++)
            x = (x ^ p[i]) * 0x100000001b3;
        return x;
    }

    /// <summary>
    /// Reads a header copied out of a file of <paramref name="fileBytes"/> bytes: the layout it describes,
    /// or the errno that refuses it (<c>-EACCES</c>: not a FastMap map; <c>-EINVAL</c>: damaged, truncated or impossible;
    /// <c>-EPROTO</c>: a FastMap map of another layout version). <paramref name="storedValueFor"/> gives the
    /// value bytes a map of that type stores (percpu: this machine's CPUs; a file made for another count is refused).
    /// </summary>
    public static unsafe MapStatus Read(Header* h, long fileBytes, Func<MapType, uint, ulong> storedValueFor, out SharedLayout layout,
        out string? name)
    {
        layout = default;
        name = null;
        if (h->Magic != Magic)
            return MapStatus.EACCES;            // not a FastMap map: the kernel's answer for a path that is no BPF object
        if (fileBytes < HeaderBytes)
            return MapStatus.EINVAL;
        if (h->Version != LayoutVersion)
            return MapStatus.EPROTO;
        if (h->HeaderSize != (uint)sizeof(Header) || h->Check != CheckOf(h) || h->State != Ready)
            return MapStatus.EINVAL;
        var type = (MapType)h->Type;
        var def = new MapDefinition(type, h->KeySize, h->ValueSize, h->MaxEntries) { Flags = (MapFlags)(uint)h->Flags };
        if (h->Flags > uint.MaxValue || (def.Flags & MapFlags.Shared) == 0 || type == MapType.Array
            || BpfMap.CheckDefinition(def) != MapStatus.Ok || h->SpinLockOffset != -1)
            return MapStatus.EINVAL;
        if (storedValueFor(type, h->ValueSize) != h->StoredValueSize)
            return MapStatus.EINVAL;
        if (h->ShardCount is 0 or > 64 || !BitOperations.IsPow2(h->ShardCount))
            return MapStatus.EINVAL;
        layout = new SharedLayout(h->Type, h->KeySize, h->ValueSize, h->StoredValueSize, h->MaxEntries, h->Flags, h->Seed, h->ShardCount);
        if (layout.FileBytes != h->FileBytes || (ulong)fileBytes < layout.FileBytes)
            return MapStatus.EINVAL;
        int n = 0;
        while (n < 15 && h->Name[n] != 0)
            n++;
        if (n > 0)
            name = new string((sbyte*)h->Name, 0, n);
        return MapStatus.Ok;
    }
}
