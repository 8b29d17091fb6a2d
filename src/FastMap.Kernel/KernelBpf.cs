using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;

namespace FastMap.Kernel;

/// <summary>
/// A thin wrapper of the Linux <c>bpf()</c> syscall, for differential tests (FastMap against the kernel) and for the
/// benchmark (the kernel as a peer). Every call returns what the kernel returned: 0 or a new fd on success, or a
/// negative errno. A kernel error never throws.
/// </summary>
/// <remarks>
/// <para>
/// Every call passes a zeroed <see cref="AttrSize"/>-byte <c>union bpf_attr</c> on the stack. Lookup, Update and Delete
/// do not allocate.
/// </para>
/// <para>
/// Buffer sizes are checked against the map before the kernel sees a pointer, because the kernel reads and writes
/// <c>key_size</c>/<c>value_size</c> bytes with no idea how long a span is. A span that is too short throws
/// <see cref="ArgumentException"/>: that is the caller's bug, not a kernel error. The sizes come from the map's
/// creation here, or are read once with <c>BPF_OBJ_GET_INFO_BY_FD</c> for fds made elsewhere. Per-CPU maps need
/// <c>round_up(value_size, 8) * </c><see cref="PossibleCpus"/> bytes for each value. An fd that is not a map is passed
/// through unchecked, so the kernel gives its own errno. Close map fds with <see cref="Close"/> so the size record is
/// dropped.
/// </para>
/// <para>
/// Exotic attrs (nonzero tail bytes, NULL or bad pointers, odd sizes) go through <see cref="Raw"/>, which passes bytes
/// only. For attrs that must hold pointers, use <see cref="RawWithBuffers"/>: it pins up to four spans and writes their
/// addresses (0 for an empty span, i.e. NULL) at the given attr offsets. Offsets are in <see cref="Attr"/>. Unsafe code
/// could do the same: inside <c>fixed (byte* p = buffer)</c>, write <c>(ulong)p</c> with
/// <c>MemoryMarshal.Write(attr[offset..], (ulong)p)</c> and call <see cref="Sys"/> before the <c>fixed</c> block ends.
/// </para>
/// </remarks>
public static unsafe class KernelBpf
{
    /// <summary>
    /// The size of <c>union bpf_attr</c> passed by the typed calls. The kernel copies <c>min(size, sizeof attr)</c> and
    /// requires any bytes past its own size to be zero, so a zeroed 168-byte attr suits older and newer kernels alike.
    /// </summary>
    public const int AttrSize = 168;

    /// <summary><c>enum bpf_cmd</c> values used here (UAPI <c>include/uapi/linux/bpf.h</c>).</summary>
    public static class Cmd
    {
        /// <summary><c>BPF_MAP_CREATE</c>.</summary>
        public const int MapCreate = 0;
        /// <summary><c>BPF_MAP_LOOKUP_ELEM</c>.</summary>
        public const int MapLookupElem = 1;
        /// <summary><c>BPF_MAP_UPDATE_ELEM</c>.</summary>
        public const int MapUpdateElem = 2;
        /// <summary><c>BPF_MAP_DELETE_ELEM</c>.</summary>
        public const int MapDeleteElem = 3;
        /// <summary><c>BPF_MAP_GET_NEXT_KEY</c>.</summary>
        public const int MapGetNextKey = 4;
        /// <summary><c>BPF_OBJ_PIN</c>.</summary>
        public const int ObjPin = 6;
        /// <summary><c>BPF_OBJ_GET</c>.</summary>
        public const int ObjGet = 7;
        /// <summary><c>BPF_MAP_GET_FD_BY_ID</c>.</summary>
        public const int MapGetFdById = 14;
        /// <summary><c>BPF_OBJ_GET_INFO_BY_FD</c>.</summary>
        public const int ObjGetInfoByFd = 15;
        /// <summary><c>BPF_BTF_LOAD</c>.</summary>
        public const int BtfLoad = 18;
        /// <summary><c>BPF_MAP_LOOKUP_AND_DELETE_ELEM</c>.</summary>
        public const int MapLookupAndDeleteElem = 21;
        /// <summary><c>BPF_MAP_FREEZE</c>.</summary>
        public const int MapFreeze = 22;
        /// <summary><c>BPF_MAP_LOOKUP_BATCH</c>.</summary>
        public const int MapLookupBatch = 24;
        /// <summary><c>BPF_MAP_LOOKUP_AND_DELETE_BATCH</c>.</summary>
        public const int MapLookupAndDeleteBatch = 25;
        /// <summary><c>BPF_MAP_UPDATE_BATCH</c>.</summary>
        public const int MapUpdateBatch = 26;
        /// <summary><c>BPF_MAP_DELETE_BATCH</c>.</summary>
        public const int MapDeleteBatch = 27;
    }

    /// <summary><c>enum bpf_map_type</c> values used here.</summary>
    public static class MapType
    {
        /// <summary><c>BPF_MAP_TYPE_HASH</c>.</summary>
        public const uint Hash = 1;
        /// <summary><c>BPF_MAP_TYPE_ARRAY</c>.</summary>
        public const uint Array = 2;
        /// <summary><c>BPF_MAP_TYPE_PERCPU_HASH</c>.</summary>
        public const uint PercpuHash = 5;
        /// <summary><c>BPF_MAP_TYPE_PERCPU_ARRAY</c>.</summary>
        public const uint PercpuArray = 6;
        /// <summary><c>BPF_MAP_TYPE_LRU_HASH</c>.</summary>
        public const uint LruHash = 9;
        /// <summary><c>BPF_MAP_TYPE_LRU_PERCPU_HASH</c>.</summary>
        public const uint LruPercpuHash = 10;
        /// <summary><c>BPF_MAP_TYPE_HASH_OF_MAPS</c>.</summary>
        public const uint HashOfMaps = 13;
        /// <summary><c>BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE</c>.</summary>
        public const uint PercpuCgroupStorage = 21;
    }

    /// <summary>Element flags (<c>flags</c>/<c>elem_flags</c>) and map flags (<c>map_flags</c>).</summary>
    public static class Flags
    {
        /// <summary><c>BPF_ANY</c>: create or replace.</summary>
        public const ulong Any = 0;
        /// <summary><c>BPF_NOEXIST</c>: create only.</summary>
        public const ulong NoExist = 1;
        /// <summary><c>BPF_EXIST</c>: replace only.</summary>
        public const ulong Exist = 2;
        /// <summary><c>BPF_F_LOCK</c>: copy the value under its <c>bpf_spin_lock</c>.</summary>
        public const ulong Lock = 4;
        /// <summary>Map flag <c>BPF_F_NO_PREALLOC</c>.</summary>
        public const uint NoPrealloc = 1;
        /// <summary>Map flag <c>BPF_F_RDONLY</c> (per-fd mode).</summary>
        public const uint ReadOnly = 1 << 3;
        /// <summary>Map flag <c>BPF_F_WRONLY</c> (per-fd mode).</summary>
        public const uint WriteOnly = 1 << 4;
        /// <summary>Map flag <c>BPF_F_ZERO_SEED</c>.</summary>
        public const uint ZeroSeed = 1 << 6;
        /// <summary>OBJ_PIN/OBJ_GET <c>file_flags</c> bit <c>BPF_F_PATH_FD</c>: resolve the path against <c>path_fd</c>.</summary>
        public const uint PathFd = 1 << 14;
    }

    /// <summary>Positive errno values; the calls return their negation.</summary>
    public static class Errno
    {
        /// <summary>EPERM.</summary>
        public const int EPERM = 1;
        /// <summary>ENOENT.</summary>
        public const int ENOENT = 2;
        /// <summary>E2BIG.</summary>
        public const int E2BIG = 7;
        /// <summary>EBADF.</summary>
        public const int EBADF = 9;
        /// <summary>ENOMEM.</summary>
        public const int ENOMEM = 12;
        /// <summary>EACCES.</summary>
        public const int EACCES = 13;
        /// <summary>EFAULT.</summary>
        public const int EFAULT = 14;
        /// <summary>EBUSY.</summary>
        public const int EBUSY = 16;
        /// <summary>EEXIST.</summary>
        public const int EEXIST = 17;
        /// <summary>ENOTDIR.</summary>
        public const int ENOTDIR = 20;
        /// <summary>EINVAL.</summary>
        public const int EINVAL = 22;
        /// <summary>ENOSPC.</summary>
        public const int ENOSPC = 28;
        /// <summary>ENOSYS.</summary>
        public const int ENOSYS = 38;
        /// <summary>EOPNOTSUPP.</summary>
        public const int EOPNOTSUPP = 95;
        /// <summary>ENOTSUPP: kernel-internal, but it reaches userspace from several map commands.</summary>
        public const int ENOTSUPP = 524;
    }

    /// <summary>
    /// Byte offsets inside <c>union bpf_attr</c>. Checked with <c>offsetof</c> against the UAPI header and unchanged
    /// since these fields were added; pointers are <c>__aligned_u64</c>.
    /// </summary>
    public static class Attr
    {
        /// <summary>CREATE <c>map_type</c> (u32).</summary>
        public const int MapType = 0;
        /// <summary>CREATE <c>key_size</c> (u32).</summary>
        public const int KeySize = 4;
        /// <summary>CREATE <c>value_size</c> (u32).</summary>
        public const int ValueSize = 8;
        /// <summary>CREATE <c>max_entries</c> (u32).</summary>
        public const int MaxEntries = 12;
        /// <summary>CREATE <c>map_flags</c> (u32).</summary>
        public const int MapFlags = 16;
        /// <summary>CREATE <c>inner_map_fd</c> (u32).</summary>
        public const int InnerMapFd = 20;
        /// <summary>CREATE <c>numa_node</c> (u32).</summary>
        public const int NumaNode = 24;
        /// <summary>CREATE <c>map_name</c> (16 bytes, NUL-terminated).</summary>
        public const int MapName = 28;
        /// <summary>Length of <c>map_name</c> (<c>BPF_OBJ_NAME_LEN</c>).</summary>
        public const int MapNameLength = 16;
        /// <summary>CREATE <c>map_ifindex</c> (u32).</summary>
        public const int MapIfindex = 44;
        /// <summary>CREATE <c>btf_fd</c> (u32).</summary>
        public const int BtfFd = 48;
        /// <summary>CREATE <c>btf_key_type_id</c> (u32).</summary>
        public const int BtfKeyTypeId = 52;
        /// <summary>CREATE <c>btf_value_type_id</c> (u32).</summary>
        public const int BtfValueTypeId = 56;

        /// <summary>ELEM <c>map_fd</c> (u32).</summary>
        public const int ElemMapFd = 0;
        /// <summary>ELEM <c>key</c> (pointer).</summary>
        public const int ElemKey = 8;
        /// <summary>ELEM <c>value</c> (pointer).</summary>
        public const int ElemValue = 16;
        /// <summary>ELEM <c>next_key</c> (pointer; shares the slot of <c>value</c>).</summary>
        public const int ElemNextKey = 16;
        /// <summary>ELEM <c>flags</c> (u64).</summary>
        public const int ElemFlags = 24;

        /// <summary>BATCH <c>in_batch</c> (pointer; NULL = from the start).</summary>
        public const int BatchInBatch = 0;
        /// <summary>BATCH <c>out_batch</c> (pointer).</summary>
        public const int BatchOutBatch = 8;
        /// <summary>BATCH <c>keys</c> (pointer).</summary>
        public const int BatchKeys = 16;
        /// <summary>BATCH <c>values</c> (pointer).</summary>
        public const int BatchValues = 24;
        /// <summary>BATCH <c>count</c> (u32, in/out).</summary>
        public const int BatchCount = 32;
        /// <summary>BATCH <c>map_fd</c> (u32).</summary>
        public const int BatchMapFd = 36;
        /// <summary>BATCH <c>elem_flags</c> (u64).</summary>
        public const int BatchElemFlags = 40;
        /// <summary>BATCH <c>flags</c> (u64).</summary>
        public const int BatchFlags = 48;

        /// <summary>BTF_LOAD <c>btf</c> (pointer).</summary>
        public const int Btf = 0;
        /// <summary>BTF_LOAD <c>btf_log_buf</c> (pointer).</summary>
        public const int BtfLogBuf = 8;
        /// <summary>BTF_LOAD <c>btf_size</c> (u32).</summary>
        public const int BtfSize = 16;
        /// <summary>BTF_LOAD <c>btf_log_size</c> (u32).</summary>
        public const int BtfLogSize = 20;
        /// <summary>BTF_LOAD <c>btf_log_level</c> (u32).</summary>
        public const int BtfLogLevel = 24;

        /// <summary>OBJ_GET_INFO_BY_FD <c>info.bpf_fd</c> (u32).</summary>
        public const int InfoFd = 0;
        /// <summary>OBJ_GET_INFO_BY_FD <c>info.info_len</c> (u32, in/out).</summary>
        public const int InfoLen = 4;
        /// <summary>OBJ_GET_INFO_BY_FD <c>info.info</c> (pointer).</summary>
        public const int Info = 8;

        /// <summary>OBJ_PIN/OBJ_GET <c>pathname</c> (pointer to a NUL-terminated path).</summary>
        public const int ObjPathname = 0;
        /// <summary>OBJ_PIN <c>bpf_fd</c> (u32; must be 0 for OBJ_GET).</summary>
        public const int ObjBpfFd = 8;
        /// <summary>OBJ_PIN/OBJ_GET <c>file_flags</c> (u32).</summary>
        public const int ObjFileFlags = 12;
        /// <summary>OBJ_PIN/OBJ_GET <c>path_fd</c> (s32; only with <see cref="Flags.PathFd"/>).</summary>
        public const int ObjPathFd = 16;
    }

    // ---- syscall plumbing -------------------------------------------------------------------------------------

    // __NR_bpf: 321 on x86_64, 280 on arm64 (the asm-generic table). 0 = unknown here, calls give -ENOSYS.
    private static readonly long s_sysBpf = RuntimeInformation.ProcessArchitecture switch
    {
        Architecture.X64 => 321,
        Architecture.Arm64 => 280,
        _ => 0,
    };

    // syscall(2) is variadic. A fixed-arity import is sound on x86_64 SysV (glibc's syscall is assembly that only
    // reads the integer registers, so the %al vector count is irrelevant) and on Linux arm64 (variadic arguments go in
    // the same registers as fixed ones).
    [DllImport("libc", SetLastError = true)]
    private static extern long syscall(long number, long cmd, byte* attr, long size);

    [DllImport("libc", SetLastError = true)]
    private static extern int close(int fd);

    [DllImport("libc")]
    private static extern uint geteuid();

    /// <summary>Issues <c>bpf(cmd, attr, attr.Length)</c> on pinned memory; the only place the syscall is made.</summary>
    private static int Call(int cmd, Span<byte> attr)
    {
        if (s_sysBpf == 0)
            return -Errno.ENOSYS;
        long r;
        fixed (byte* p = attr)
            r = syscall(s_sysBpf, cmd, p, attr.Length);
        if (r < 0)
            return -Marshal.GetLastPInvokeError();
        // Every bpf() command returns 0 or a new fd. A new fd may reuse the number of one closed elsewhere, so any
        // size record for that number is stale.
        if (r > 0)
            s_shapes.TryRemove((int)r, out _);
        return (int)r;
    }

    private static void Put32(Span<byte> attr, int offset, uint value) => MemoryMarshal.Write(attr[offset..], in value);

    private static void Put64(Span<byte> attr, int offset, ulong value) => MemoryMarshal.Write(attr[offset..], in value);

    private static uint Get32(ReadOnlySpan<byte> attr, int offset) => MemoryMarshal.Read<uint>(attr[offset..]);

    // ---- availability -----------------------------------------------------------------------------------------

    private static readonly Lazy<string?> s_unavailable = new(Probe);

    /// <summary>True when <c>bpf()</c> can create a map here (Linux, root or CAP_BPF). Probed once.</summary>
    public static bool IsAvailable => s_unavailable.Value is null;

    /// <summary>Why <see cref="IsAvailable"/> is false, or null when it is true.</summary>
    public static string? UnavailableReason => s_unavailable.Value;

    private static string? Probe()
    {
        if (!OperatingSystem.IsLinux())
            return "bpf() exists only on Linux; this is " + RuntimeInformation.OSDescription + ".";
        if (s_sysBpf == 0)
            return "No bpf() syscall number is known for " + RuntimeInformation.ProcessArchitecture + ".";
        try
        {
            int fd = CreateMap(MapType.Hash, 4, 4, 1);
            if (fd >= 0)
            {
                Close(fd);
                return null;
            }
            return $"BPF_MAP_CREATE of a 1-entry HASH map failed with -{-fd} ({Marshal.GetPInvokeErrorMessage(-fd)}) " +
                   $"as euid {geteuid()}; bpf() needs root or CAP_BPF, and kernel.unprivileged_bpf_disabled blocks others.";
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return "libc's syscall() could not be bound: " + e.Message;
        }
    }

    /// <summary>
    /// The number of possible CPUs (<c>/sys/devices/system/cpu/possible</c>, e.g. <c>0-1</c> gives 2), which sizes
    /// per-CPU values as <c>round_up(value_size, 8)</c> bytes per CPU.
    /// </summary>
    public static int PossibleCpus => s_possibleCpus.Value;

    private static readonly Lazy<int> s_possibleCpus = new(() =>
    {
        try
        {
            return ParseCpuList(File.ReadAllText("/sys/devices/system/cpu/possible"));
        }
        catch (IOException)
        {
            return Environment.ProcessorCount;
        }
        catch (UnauthorizedAccessException)
        {
            return Environment.ProcessorCount;
        }
    });

    // A cpulist: "0", "0-1", "0-3,5,7-8". The count is the sum of the range lengths (num_possible_cpus(): the set bits).
    // FastMap's own count (BpfMap.CountCpuList) must agree: a unit test feeds both the same masks.
    internal static int ParseCpuList(string text)
    {
        int count = 0;
        foreach (string part in text.Trim().Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            int dash = part.IndexOf('-');
            int lo = int.Parse(dash < 0 ? part : part[..dash], System.Globalization.CultureInfo.InvariantCulture);
            int hi = dash < 0 ? lo : int.Parse(part[(dash + 1)..], System.Globalization.CultureInfo.InvariantCulture);
            count += hi - lo + 1;
        }
        return count > 0 ? count : Environment.ProcessorCount;
    }

    // ---- buffer-size records ----------------------------------------------------------------------------------

    // What the kernel reads or writes per element of one map: key bytes, value bytes (per-CPU maps: rounded up to 8
    // and times the possible CPUs), and the batch cursor's bytes (a u32 bucket index for hash maps, a key otherwise).
    private readonly record struct Shape(uint KeySize, ulong ValueBytes, uint CursorBytes);

    private static readonly ConcurrentDictionary<int, Shape> s_shapes = new();

    private static Shape MakeShape(uint mapType, uint keySize, uint valueSize)
    {
        bool perCpu = mapType is MapType.PercpuHash or MapType.PercpuArray or MapType.LruPercpuHash
            or MapType.PercpuCgroupStorage;
        ulong valueBytes = perCpu ? ((valueSize + 7UL) & ~7UL) * (ulong)PossibleCpus : valueSize;
        bool hashCursor = mapType is MapType.Hash or MapType.PercpuHash or MapType.LruHash or MapType.LruPercpuHash
            or MapType.HashOfMaps;
        return new Shape(keySize, valueBytes, hashCursor ? 4u : keySize);
    }

    private static bool TryGetShape(int fd, out Shape shape) =>
        s_shapes.TryGetValue(fd, out shape) || TryLoadShape(fd, out shape);

    // Slow path for fds not created here: only bpf-map fds are asked (bpf_obj_get_info_by_fd answers progs and BTF
    // objects with other layouts), and a failure leaves the call unchecked for the kernel to reject.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static bool TryLoadShape(int fd, out Shape shape)
    {
        shape = default;
        if (fd < 0)
            return false;
        try
        {
            if (new FileInfo("/proc/self/fd/" + fd.ToString(System.Globalization.CultureInfo.InvariantCulture)).LinkTarget
                != "anon_inode:bpf-map")
                return false;
        }
        catch (IOException)
        {
            return false;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }

        // struct bpf_map_info: type@0, id@4, key_size@8, value_size@12 (u32 each).
        Span<byte> info = stackalloc byte[16];
        Span<byte> attr = stackalloc byte[AttrSize];
        attr.Clear();
        info.Clear();
        int r;
        fixed (byte* pInfo = info)
        {
            Put32(attr, Attr.InfoFd, (uint)fd);
            Put32(attr, Attr.InfoLen, (uint)info.Length);
            Put64(attr, Attr.Info, (ulong)pInfo);
            r = Call(Cmd.ObjGetInfoByFd, attr);
        }
        if (r < 0)
            return false;
        shape = MakeShape(Get32(info, 0), Get32(info, 8), Get32(info, 12));
        s_shapes[fd] = shape;
        return true;
    }

    private static void Need(int have, ulong need, string param)
    {
        if ((ulong)have < need)
            ThrowTooShort(have, need, param);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowTooShort(int have, ulong need, string param) =>
        throw new ArgumentException(
            $"The map reads or writes {need} bytes here, but the span has {have}; the kernel would overrun it.", param);

    // ---- create -----------------------------------------------------------------------------------------------

    /// <summary><c>BPF_MAP_CREATE</c>.</summary>
    /// <param name="mapType">A <see cref="MapType"/> value.</param>
    /// <param name="keySize">Key bytes.</param>
    /// <param name="valueSize">Value bytes (per CPU, for per-CPU maps).</param>
    /// <param name="maxEntries">Capacity.</param>
    /// <param name="mapFlags"><see cref="Flags"/> map flags.</param>
    /// <param name="name">
    /// Optional name; up to 15 ASCII characters (the kernel allows letters, digits, '_' and '.'). A longer name is
    /// passed unterminated so the kernel rejects it with <c>-EINVAL</c>.
    /// </param>
    /// <returns>The map fd, or a negative errno.</returns>
    public static int CreateMap(uint mapType, uint keySize, uint valueSize, uint maxEntries, uint mapFlags = 0,
        string? name = null)
    {
        Span<byte> attr = stackalloc byte[AttrSize];
        attr.Clear();
        Put32(attr, Attr.MapType, mapType);
        Put32(attr, Attr.KeySize, keySize);
        Put32(attr, Attr.ValueSize, valueSize);
        Put32(attr, Attr.MaxEntries, maxEntries);
        Put32(attr, Attr.MapFlags, mapFlags);
        if (name is not null)
        {
            byte[] bytes = Encoding.UTF8.GetBytes(name);
            bytes.AsSpan(0, Math.Min(bytes.Length, Attr.MapNameLength)).CopyTo(attr[Attr.MapName..]);
        }
        return Created(Call(Cmd.MapCreate, attr), mapType, keySize, valueSize);
    }

    private static int Created(int fd, uint mapType, uint keySize, uint valueSize)
    {
        if (fd >= 0)
            s_shapes[fd] = MakeShape(mapType, keySize, valueSize);
        return fd;
    }

    /// <summary>The verifier log of the last failed BTF load in <see cref="CreateMapWithSpinLock"/>, for diagnosis.</summary>
    public static string? LastBtfLog { get; private set; }

    // BTF type ids in the blob built by BuildSpinLockBtf.
    private const uint BtfIntId = 1;
    private const uint BtfValueId = 3;

    /// <summary>
    /// Creates a map whose values hold a <c>struct bpf_spin_lock</c>, so <c>BPF_F_LOCK</c> can be compared with the
    /// kernel. Loads a minimal BTF blob (<c>int</c>; <c>struct bpf_spin_lock { int val; }</c>; a value struct of
    /// <paramref name="valueSize"/> bytes with <c>lock</c> at <paramref name="spinLockOffset"/> and, where it fits, an
    /// <c>int data</c> beside it), creates the map with that BTF, then closes the BTF fd (the map keeps a reference).
    /// The key is an <c>int</c>, 4 bytes.
    /// </summary>
    /// <param name="mapType"><see cref="MapType.Hash"/> or <see cref="MapType.Array"/>; LRU and per-CPU hash give -EOPNOTSUPP.</param>
    /// <param name="valueSize">Value bytes; the lock needs 4 of them, 4-aligned.</param>
    /// <param name="maxEntries">Capacity.</param>
    /// <param name="spinLockOffset">Byte offset of the lock inside the value; a multiple of 4.</param>
    /// <param name="mapFlags"><see cref="Flags"/> map flags.</param>
    /// <returns>The map fd, or a negative errno from BTF_LOAD or MAP_CREATE.</returns>
    public static int CreateMapWithSpinLock(uint mapType, uint valueSize, uint maxEntries, uint spinLockOffset = 0,
        uint mapFlags = 0)
    {
        byte[] btf = BuildSpinLockBtf(valueSize, spinLockOffset);
        int btfFd = LoadBtf(btf, log: null);
        if (btfFd < 0)
        {
            byte[] log = new byte[64 * 1024];
            LoadBtf(btf, log);
            int end = Array.IndexOf(log, (byte)0);
            LastBtfLog = Encoding.ASCII.GetString(log, 0, end < 0 ? log.Length : end);
            return btfFd;
        }

        Span<byte> attr = stackalloc byte[AttrSize];
        attr.Clear();
        Put32(attr, Attr.MapType, mapType);
        Put32(attr, Attr.KeySize, 4);
        Put32(attr, Attr.ValueSize, valueSize);
        Put32(attr, Attr.MaxEntries, maxEntries);
        Put32(attr, Attr.MapFlags, mapFlags);
        Put32(attr, Attr.BtfFd, (uint)btfFd);
        Put32(attr, Attr.BtfKeyTypeId, BtfIntId);
        Put32(attr, Attr.BtfValueTypeId, BtfValueId);
        int fd = Created(Call(Cmd.MapCreate, attr), mapType, 4, valueSize);
        Close(btfFd);
        return fd;
    }

    private static int LoadBtf(byte[] btf, byte[]? log)
    {
        Span<byte> attr = stackalloc byte[AttrSize];
        attr.Clear();
        fixed (byte* pBtf = btf)
        fixed (byte* pLog = log)
        {
            Put64(attr, Attr.Btf, (ulong)pBtf);
            Put32(attr, Attr.BtfSize, (uint)btf.Length);
            if (log is not null)
            {
                Put64(attr, Attr.BtfLogBuf, (ulong)pLog);
                Put32(attr, Attr.BtfLogSize, (uint)log.Length);
                Put32(attr, Attr.BtfLogLevel, 1);
            }
            return Call(Cmd.BtfLoad, attr);
        }
    }

    // The raw BTF format (Documentation/bpf/btf.rst), native endian:
    //   header (24 bytes): magic u16 0xEB9F, version u8 1, flags u8, hdr_len u32, type_off u32, type_len u32,
    //                      str_off u32, str_len u32 (offsets relative to the end of the header)
    //   struct btf_type (12 bytes): name_off u32, info u32 ([31] kind_flag, [28:24] kind, [15:0] vlen), size u32
    //   INT is followed by a u32 encoding ([27:24] encoding, [23:16] bit offset, [7:0] bits);
    //   STRUCT by vlen members of 12 bytes: name_off u32, type u32, offset u32 (in bits).
    // Types: [1] int, [2] struct bpf_spin_lock { int val; }, [3] struct fm_lock_value { lock; int data; }.
    private static byte[] BuildSpinLockBtf(uint valueSize, uint lockOffset)
    {
        const uint KindInt = 1, KindStruct = 4, IntSigned = 1;
        const uint SpinLockId = 2;

        var strings = new List<byte> { 0 };
        uint Str(string s)
        {
            uint off = (uint)strings.Count;
            strings.AddRange(Encoding.ASCII.GetBytes(s));
            strings.Add(0);
            return off;
        }

        // An int member next to the lock, as the spec's probe value struct has, when the value has room for one.
        uint? dataOffset = lockOffset >= 4 ? 0u : lockOffset + 8 <= valueSize ? lockOffset + 4 : null;

        var types = new List<uint>();
        types.AddRange([Str("int"), KindInt << 24, 4, (IntSigned << 24) | 32]);
        types.AddRange([Str("bpf_spin_lock"), (KindStruct << 24) | 1, 4, Str("val"), BtfIntId, 0]);
        types.AddRange([Str("fm_lock_value"), (KindStruct << 24) | (dataOffset is null ? 1u : 2u), valueSize]);
        // The kernel requires members in ascending bit offset ("Invalid member bits_offset" otherwise).
        if (dataOffset is uint d && d < lockOffset)
            types.AddRange([Str("data"), BtfIntId, d * 8]);
        types.AddRange([Str("lock"), SpinLockId, lockOffset * 8]);
        if (dataOffset is uint e && e > lockOffset)
            types.AddRange([Str("data"), BtfIntId, e * 8]);

        uint typeLen = (uint)types.Count * 4;
        uint strLen = (uint)strings.Count;
        byte[] blob = new byte[24 + typeLen + strLen];
        Span<byte> s = blob;
        MemoryMarshal.Write(s, (ushort)0xEB9F);
        s[2] = 1;
        Put32(s, 4, 24);
        Put32(s, 8, 0);
        Put32(s, 12, typeLen);
        Put32(s, 16, typeLen);
        Put32(s, 20, strLen);
        MemoryMarshal.AsBytes(CollectionsMarshal.AsSpan(types)).CopyTo(s[24..]);
        CollectionsMarshal.AsSpan(strings).CopyTo(s[(int)(24 + typeLen)..]);
        return blob;
    }

    // ---- element commands -------------------------------------------------------------------------------------

    /// <summary><c>BPF_MAP_LOOKUP_ELEM</c>: copies the value of <paramref name="key"/> into <paramref name="value"/>.</summary>
    /// <param name="fd">Map fd.</param>
    /// <param name="key">Key bytes (at least <c>key_size</c>); empty passes NULL.</param>
    /// <param name="value">Receives the value (at least the value size; per-CPU maps: all CPUs).</param>
    /// <param name="flags">0 or <see cref="Flags.Lock"/>.</param>
    /// <returns>0 or a negative errno.</returns>
    public static int Lookup(int fd, ReadOnlySpan<byte> key, Span<byte> value, ulong flags = 0)
    {
        if (TryGetShape(fd, out Shape m))
        {
            Need(key.Length, key.IsEmpty ? 0 : m.KeySize, nameof(key));
            Need(value.Length, value.IsEmpty ? 0 : m.ValueBytes, nameof(value));
        }
        return Elem(Cmd.MapLookupElem, fd, key, value, flags);
    }

    /// <summary><c>BPF_MAP_UPDATE_ELEM</c>.</summary>
    /// <param name="fd">Map fd.</param>
    /// <param name="key">Key bytes.</param>
    /// <param name="value">Value bytes.</param>
    /// <param name="flags"><see cref="Flags.Any"/>, <see cref="Flags.NoExist"/> or <see cref="Flags.Exist"/>, optionally with <see cref="Flags.Lock"/>.</param>
    /// <returns>0 or a negative errno.</returns>
    public static int Update(int fd, ReadOnlySpan<byte> key, ReadOnlySpan<byte> value, ulong flags = 0)
    {
        if (TryGetShape(fd, out Shape m))
        {
            Need(key.Length, key.IsEmpty ? 0 : m.KeySize, nameof(key));
            Need(value.Length, value.IsEmpty ? 0 : m.ValueBytes, nameof(value));
        }
        return Elem(Cmd.MapUpdateElem, fd, key, value, flags);
    }

    /// <summary><c>BPF_MAP_DELETE_ELEM</c>.</summary>
    /// <param name="fd">Map fd.</param>
    /// <param name="key">Key bytes.</param>
    /// <param name="flags">Must be 0 on 6.18 (anything else is -EINVAL).</param>
    /// <returns>0 or a negative errno.</returns>
    public static int Delete(int fd, ReadOnlySpan<byte> key, ulong flags = 0)
    {
        if (TryGetShape(fd, out Shape m))
            Need(key.Length, key.IsEmpty ? 0 : m.KeySize, nameof(key));
        return Elem(Cmd.MapDeleteElem, fd, key, default, flags);
    }

    /// <summary><c>BPF_MAP_LOOKUP_AND_DELETE_ELEM</c>.</summary>
    /// <param name="fd">Map fd.</param>
    /// <param name="key">Key bytes.</param>
    /// <param name="value">Receives the removed value.</param>
    /// <param name="flags">0 or <see cref="Flags.Lock"/>.</param>
    /// <returns>0 or a negative errno.</returns>
    public static int LookupAndDelete(int fd, ReadOnlySpan<byte> key, Span<byte> value, ulong flags = 0)
    {
        if (TryGetShape(fd, out Shape m))
        {
            Need(key.Length, key.IsEmpty ? 0 : m.KeySize, nameof(key));
            Need(value.Length, value.IsEmpty ? 0 : m.ValueBytes, nameof(value));
        }
        return Elem(Cmd.MapLookupAndDeleteElem, fd, key, value, flags);
    }

    /// <summary><c>BPF_MAP_GET_NEXT_KEY</c>.</summary>
    /// <param name="fd">Map fd.</param>
    /// <param name="key">The current key; empty passes NULL, which asks for the first key.</param>
    /// <param name="nextKey">Receives the next key.</param>
    /// <returns>0, <c>-ENOENT</c> past the last key, or another negative errno.</returns>
    public static int GetNextKey(int fd, ReadOnlySpan<byte> key, Span<byte> nextKey)
    {
        if (TryGetShape(fd, out Shape m))
        {
            Need(key.Length, key.IsEmpty ? 0 : m.KeySize, nameof(key));
            Need(nextKey.Length, nextKey.IsEmpty ? 0 : m.KeySize, nameof(nextKey));
        }
        return Elem(Cmd.MapGetNextKey, fd, key, nextKey, 0);
    }

    // One pinning site for all ELEM commands. The value span is read-only here only to accept both directions; for
    // lookups it came from a writable Span, so the kernel writing through the pointer is sound.
    private static int Elem(int cmd, int fd, ReadOnlySpan<byte> key, ReadOnlySpan<byte> value, ulong flags)
    {
        Span<byte> attr = stackalloc byte[AttrSize];
        attr.Clear();
        fixed (byte* k = key)
        fixed (byte* v = value)
        {
            Put32(attr, Attr.ElemMapFd, (uint)fd);
            Put64(attr, Attr.ElemKey, (ulong)k);
            Put64(attr, Attr.ElemValue, (ulong)v);
            Put64(attr, Attr.ElemFlags, flags);
            return Call(cmd, attr);
        }
    }

    /// <summary>Closes an fd and forgets its buffer sizes.</summary>
    /// <param name="fd">The fd.</param>
    /// <returns>0 or a negative errno.</returns>
    public static int Close(int fd)
    {
        s_shapes.TryRemove(fd, out _);
        return close(fd) < 0 ? -Marshal.GetLastPInvokeError() : 0;
    }

    // ---- pinning (bpffs) --------------------------------------------------------------------------------------

    /// <summary>
    /// <c>BPF_OBJ_PIN</c>: makes <paramref name="path"/> (a new name in a bpf filesystem) hold the map, program or link
    /// of <paramref name="fd"/>. The kernel's answers are measured in docs/obj-pin-kernel.md: checks run attr (file
    /// flags, <c>path_fd</c>) → fd → path lookup → "is bpffs" → write permission on the directory.
    /// </summary>
    /// <param name="fd">A bpf object fd (its own open mode is not recorded in the pin).</param>
    /// <param name="path">The path, passed NUL-terminated in UTF-8; null passes a NULL pointer.</param>
    /// <param name="fileFlags">0 or <see cref="Flags.PathFd"/>; any other bit is <c>-EINVAL</c>.</param>
    /// <param name="pathFd">Directory fd for a relative <paramref name="path"/>; read only with <see cref="Flags.PathFd"/>.</param>
    /// <returns>0 or a negative errno.</returns>
    public static int ObjPin(int fd, string? path, uint fileFlags = 0, int pathFd = 0) =>
        Obj(Cmd.ObjPin, fd, path, fileFlags, pathFd);

    /// <summary>
    /// <c>BPF_OBJ_GET</c>: opens the object pinned at <paramref name="path"/> and returns a new fd whose mode follows
    /// <paramref name="fileFlags"/> (0 = read-write, <see cref="Flags.ReadOnly"/>, <see cref="Flags.WriteOnly"/>), after
    /// the pin file's mode allows that access.
    /// </summary>
    /// <param name="path">The path, passed NUL-terminated in UTF-8; null passes a NULL pointer.</param>
    /// <param name="fileFlags">0, <see cref="Flags.ReadOnly"/> or <see cref="Flags.WriteOnly"/>, optionally with
    /// <see cref="Flags.PathFd"/>; both modes or any other bit is <c>-EINVAL</c>.</param>
    /// <param name="pathFd">Directory fd for a relative <paramref name="path"/>; read only with <see cref="Flags.PathFd"/>.</param>
    /// <returns>A new fd, or a negative errno.</returns>
    public static int ObjGet(string? path, uint fileFlags = 0, int pathFd = 0) =>
        Obj(Cmd.ObjGet, 0, path, fileFlags, pathFd);

    private static int Obj(int cmd, int fd, string? path, uint fileFlags, int pathFd)
    {
        byte[]? bytes = null;
        if (path is not null)
        {
            bytes = new byte[Encoding.UTF8.GetByteCount(path) + 1];
            Encoding.UTF8.GetBytes(path, bytes);
        }
        Span<byte> attr = stackalloc byte[AttrSize];
        attr.Clear();
        fixed (byte* p = bytes)
        {
            Put64(attr, Attr.ObjPathname, (ulong)p);
            Put32(attr, Attr.ObjBpfFd, (uint)fd);
            Put32(attr, Attr.ObjFileFlags, fileFlags);
            Put32(attr, Attr.ObjPathFd, (uint)pathFd);
            return Call(cmd, attr);
        }
    }

    // ---- batch commands ---------------------------------------------------------------------------------------

    /// <summary>
    /// <c>BPF_MAP_LOOKUP_BATCH</c>. For hash maps the cursor is a u32 bucket index; other maps use a key-sized cursor.
    /// </summary>
    /// <param name="fd">Map fd.</param>
    /// <param name="inBatch">Cursor from the previous call; empty passes NULL (start).</param>
    /// <param name="outBatch">Receives the cursor for the next call.</param>
    /// <param name="keys">Room for <paramref name="count"/> keys.</param>
    /// <param name="values">Room for <paramref name="count"/> values.</param>
    /// <param name="count">In: elements wanted. Out: the count the kernel wrote back (as libbpf, also on errors).</param>
    /// <param name="elemFlags">0 or <see cref="Flags.Lock"/>.</param>
    /// <param name="flags">Must be 0.</param>
    /// <returns>0, <c>-ENOENT</c> at the end (with data), <c>-ENOSPC</c>, or another negative errno.</returns>
    public static int LookupBatch(int fd, Span<byte> inBatch, Span<byte> outBatch, Span<byte> keys, Span<byte> values,
        ref uint count, ulong elemFlags = 0, ulong flags = 0)
    {
        CheckBatch(fd, inBatch, outBatch, keys, values, count);
        return Batch(Cmd.MapLookupBatch, fd, inBatch, outBatch, keys, values, ref count, elemFlags, flags);
    }

    /// <summary><c>BPF_MAP_LOOKUP_AND_DELETE_BATCH</c>; the same shape as <see cref="LookupBatch"/>.</summary>
    /// <param name="fd">Map fd.</param>
    /// <param name="inBatch">Cursor from the previous call; empty passes NULL (start).</param>
    /// <param name="outBatch">Receives the cursor for the next call.</param>
    /// <param name="keys">Room for <paramref name="count"/> keys.</param>
    /// <param name="values">Room for <paramref name="count"/> values.</param>
    /// <param name="count">In: elements wanted. Out: the count the kernel wrote back.</param>
    /// <param name="elemFlags">0 or <see cref="Flags.Lock"/>.</param>
    /// <param name="flags">Must be 0.</param>
    /// <returns>0, <c>-ENOENT</c> at the end (with data), <c>-ENOSPC</c>, or another negative errno.</returns>
    public static int LookupAndDeleteBatch(int fd, Span<byte> inBatch, Span<byte> outBatch, Span<byte> keys,
        Span<byte> values, ref uint count, ulong elemFlags = 0, ulong flags = 0)
    {
        CheckBatch(fd, inBatch, outBatch, keys, values, count);
        return Batch(Cmd.MapLookupAndDeleteBatch, fd, inBatch, outBatch, keys, values, ref count, elemFlags, flags);
    }

    /// <summary><c>BPF_MAP_UPDATE_BATCH</c>: stops at the first failing element.</summary>
    /// <param name="fd">Map fd.</param>
    /// <param name="keys"><paramref name="count"/> keys.</param>
    /// <param name="values"><paramref name="count"/> values.</param>
    /// <param name="count">In: elements given. Out: elements applied.</param>
    /// <param name="elemFlags">0 or <see cref="Flags.Lock"/> (NOEXIST/EXIST are -EINVAL on 6.18).</param>
    /// <param name="flags">Not checked by 6.18.</param>
    /// <returns>0 or a negative errno.</returns>
    public static int UpdateBatch(int fd, ReadOnlySpan<byte> keys, ReadOnlySpan<byte> values, ref uint count,
        ulong elemFlags = 0, ulong flags = 0)
    {
        CheckBatch(fd, default, default, keys, values, count);
        return Batch(Cmd.MapUpdateBatch, fd, default, default, keys, values, ref count, elemFlags, flags);
    }

    /// <summary><c>BPF_MAP_DELETE_BATCH</c>: stops at the first failing key (e.g. <c>-ENOENT</c>).</summary>
    /// <param name="fd">Map fd.</param>
    /// <param name="keys"><paramref name="count"/> keys.</param>
    /// <param name="count">In: keys given. Out: keys deleted.</param>
    /// <param name="elemFlags">0 or <see cref="Flags.Lock"/>.</param>
    /// <param name="flags">Not checked by 6.18.</param>
    /// <returns>0 or a negative errno.</returns>
    public static int DeleteBatch(int fd, ReadOnlySpan<byte> keys, ref uint count, ulong elemFlags = 0, ulong flags = 0)
    {
        CheckBatch(fd, default, default, keys, default, count);
        return Batch(Cmd.MapDeleteBatch, fd, default, default, keys, default, ref count, elemFlags, flags);
    }

    private static void CheckBatch(int fd, ReadOnlySpan<byte> inBatch, ReadOnlySpan<byte> outBatch,
        ReadOnlySpan<byte> keys, ReadOnlySpan<byte> values, uint count)
    {
        if (!TryGetShape(fd, out Shape m))
            return;
        Need(inBatch.Length, inBatch.IsEmpty ? 0 : m.CursorBytes, nameof(inBatch));
        Need(outBatch.Length, outBatch.IsEmpty ? 0 : m.CursorBytes, nameof(outBatch));
        Need(keys.Length, keys.IsEmpty ? 0 : count * (ulong)m.KeySize, nameof(keys));
        Need(values.Length, values.IsEmpty ? 0 : count * m.ValueBytes, nameof(values));
    }

    // One pinning site for all BATCH commands; spans that are only read by the kernel arrive as ReadOnlySpan.
    private static int Batch(int cmd, int fd, ReadOnlySpan<byte> inBatch, ReadOnlySpan<byte> outBatch,
        ReadOnlySpan<byte> keys, ReadOnlySpan<byte> values, ref uint count, ulong elemFlags, ulong flags)
    {
        Span<byte> attr = stackalloc byte[AttrSize];
        attr.Clear();
        int r;
        fixed (byte* pIn = inBatch)
        fixed (byte* pOut = outBatch)
        fixed (byte* pKeys = keys)
        fixed (byte* pValues = values)
        {
            Put64(attr, Attr.BatchInBatch, (ulong)pIn);
            Put64(attr, Attr.BatchOutBatch, (ulong)pOut);
            Put64(attr, Attr.BatchKeys, (ulong)pKeys);
            Put64(attr, Attr.BatchValues, (ulong)pValues);
            Put32(attr, Attr.BatchCount, count);
            Put32(attr, Attr.BatchMapFd, (uint)fd);
            Put64(attr, Attr.BatchElemFlags, elemFlags);
            Put64(attr, Attr.BatchFlags, flags);
            r = Call(cmd, attr);
        }
        // The kernel writes the processed count back into the attr (put_user on uattr->batch.count).
        count = Get32(attr, Attr.BatchCount);
        return r;
    }

    // ---- raw access -------------------------------------------------------------------------------------------

    /// <summary>
    /// <c>bpf(cmd, attr, attr.Length)</c> on the caller's bytes; the kernel may write back into them (e.g. a batch
    /// <c>count</c>). No size checks: this is for attrs the typed calls cannot express.
    /// </summary>
    /// <param name="cmd">A <see cref="Cmd"/> value (or any other).</param>
    /// <param name="attr">The attr, of any length (the kernel rejects more than a page, or nonzero unknown tail bytes).</param>
    /// <returns>0, an fd, or a negative errno.</returns>
    public static int Sys(int cmd, Span<byte> attr) => Call(cmd, attr);

    /// <summary>
    /// <c>bpf(cmd, copy of attr, attr.Length)</c>: like <see cref="Sys"/>, but the caller's bytes stay unchanged.
    /// </summary>
    /// <param name="cmd">A <see cref="Cmd"/> value (or any other).</param>
    /// <param name="attr">The attr bytes, of any length.</param>
    /// <returns>0, an fd, or a negative errno.</returns>
    public static int Raw(int cmd, ReadOnlySpan<byte> attr)
    {
        Span<byte> copy = attr.Length <= 512 ? stackalloc byte[attr.Length] : new byte[attr.Length];
        attr.CopyTo(copy);
        return Call(cmd, copy);
    }

    /// <summary>
    /// Writes the addresses of up to four pinned buffers into <paramref name="attr"/> (u64 each, at the given offsets;
    /// an empty buffer writes 0, i.e. NULL) and issues <c>bpf(cmd, attr, attr.Length)</c> while they are pinned.
    /// Offset -1 leaves a slot unused. The written addresses are meaningless after the call returns; write-backs such as
    /// a batch <c>count</c> are visible in <paramref name="attr"/>.
    /// </summary>
    /// <param name="cmd">A <see cref="Cmd"/> value.</param>
    /// <param name="attr">The attr; pointer slots are overwritten.</param>
    /// <param name="offset0">Attr offset of the first pointer (e.g. <see cref="Attr.ElemKey"/>).</param>
    /// <param name="buffer0">The first buffer.</param>
    /// <param name="offset1">Attr offset of the second pointer, or -1.</param>
    /// <param name="buffer1">The second buffer.</param>
    /// <param name="offset2">Attr offset of the third pointer, or -1.</param>
    /// <param name="buffer2">The third buffer.</param>
    /// <param name="offset3">Attr offset of the fourth pointer, or -1.</param>
    /// <param name="buffer3">The fourth buffer.</param>
    /// <returns>0, an fd, or a negative errno.</returns>
    public static int RawWithBuffers(int cmd, Span<byte> attr, int offset0, Span<byte> buffer0,
        int offset1 = -1, Span<byte> buffer1 = default, int offset2 = -1, Span<byte> buffer2 = default,
        int offset3 = -1, Span<byte> buffer3 = default)
    {
        fixed (byte* p0 = buffer0)
        fixed (byte* p1 = buffer1)
        fixed (byte* p2 = buffer2)
        fixed (byte* p3 = buffer3)
        {
            PutPointer(attr, offset0, p0);
            PutPointer(attr, offset1, p1);
            PutPointer(attr, offset2, p2);
            PutPointer(attr, offset3, p3);
            return Call(cmd, attr);
        }
    }

    private static void PutPointer(Span<byte> attr, int offset, byte* p)
    {
        if (offset < 0)
            return;
        ArgumentOutOfRangeException.ThrowIfGreaterThan(offset, attr.Length - 8, nameof(offset));
        Put64(attr, offset, (ulong)p);
    }
}
