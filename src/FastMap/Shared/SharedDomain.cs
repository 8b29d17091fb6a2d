using System.Runtime.CompilerServices;

namespace FastMap.Internal;

/// <summary>
/// One process's attachment to a shared map's file: its process slot, its threads' slots, the file's epoch,
/// and the recovery of what a dead process left behind. A shared map's store (<see cref="HashStore"/>) takes
/// its locks, epochs and limbo stamps from here instead of from the process's <see cref="Epoch"/>.
/// </summary>
/// <remarks>
/// <para>Epoch rules across processes (the process-local <see cref="Epoch"/>'s rules 1 to 7 hold for the file's
/// epoch G, with these additions):</para>
/// <list type="number">
/// <item>G lives in the file; every process reads and advances the same G.</item>
/// <item>A thread announces G in its thread slot (in the file) when a command on the map enters a section, and
///   clears it at the thread's outermost section exit (<see cref="Epoch"/> calls <see cref="Leave"/>), so a
///   pointer from <c>fm_map_lookup_elem_ptr</c> stays protected for the caller's whole <c>fm_read_lock</c> section.
///   Readers pay no fence: the reclaimer's barrier is <c>membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED)</c>, which
///   runs a full barrier on every CPU that is running a process registered for it, and every process registers
///   when it attaches. A process that cannot register sets the file's fence word, and from then on every
///   reader of every process fences after announcing (a process-private barrier would not reach them).</item>
/// <item>An announcement blocks an advance only while its process lives: a slot whose process (and generation)
///   is dead is skipped, so a process killed inside a section stops holding back reclamation at once.</item>
/// </list>
/// <para>Liveness. Each attachment holds an open-file-description write lock on one byte (past the file's end,
/// at <see cref="LockBase"/> + its process slot) for as long as it is attached; the kernel drops the lock when
/// the process dies, however it dies. A process is alive when its slot's generation is unchanged and
/// <c>F_OFD_GETLK</c> finds the lock held. A forked child shares its parent's open file description and so keeps
/// the lock: a parent that forks after attaching counts as alive until the child exits or closes the file.</para>
/// <para>Recovery protocol. Every lock of the file (group locks in the owners array, capacity shard locks, the
/// overflow pool's lock, the recovery lock) holds its holder's thread slot + 1. A thread that has spun on a lock
/// for a while checks the holder; if the holder's process is dead it calls <see cref="RecoverOwner"/>, which,
/// under the recovery lock, has the store adopt and repair every lock the dead thread holds (undoing a value
/// write cut in half from the thread slot's undo copy, re-stamping limbo it may have left half-stamped) and then
/// frees the thread slot. A process that claims a dead process's slot recovers all of that process's thread
/// slots first. Recovery takes no lock but the recovery lock and dead threads' locks (by CAS), so it cannot
/// wait on a live thread, and it is idempotent, so a recoverer that dies is simply recovered after.</para>
/// </remarks>
internal sealed unsafe partial class SharedDomain
{
    /// <summary>The lock bytes' offset: far past any file's end (locks need no bytes there).</summary>
    private const long LockBase = 1L << 48;
    private const int ProcGenOffset = 4, ProcStateOffset = 8;
    private const int OwnerOffset = 8, UndoOffset = 16;
    private const int MEMBARRIER_CMD_QUERY = 0, MEMBARRIER_CMD_GLOBAL = 1, MEMBARRIER_CMD_GLOBAL_EXPEDITED = 2,
        MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED = 4;

    public readonly SharedLayout Layout;
    public readonly byte* Base;
    private readonly nuint _length;
    private readonly int _fd;
    private readonly long* _global;
    private readonly int* _readersFence;
    private readonly int* _recoveryLock;
    private readonly byte* _procs, _threads;
    private readonly uint _threadStride;
    private int _proc = -1;
    private uint _gen;
    private readonly int _number;
    private int _detached;
    private IRecoverable? _store;

    /// <summary>The pin word (a private map keeps it after its control blocks; a shared one here, where a
    /// read-only opener may write it).</summary>
    public readonly int* Pinned;

    /// <summary>Capacity tokens recovery gave back, in the domain page (<see cref="Capacity"/> takes them before any E2BIG).</summary>
    public long* PendingTokens => (long*)(Base + SharedLayout.HeaderBytes + SharedLayout.RecoveryLockOffset + 128);

    /// <summary>True if this attachment may change the map (its data pages are mapped writable).</summary>
    public readonly bool Writable;

    private static readonly Lock s_numbersLock = new();
    private static SharedDomain?[] s_domains = new SharedDomain?[16];
    private static int s_domainCount;
    private static int s_membarrier = -1;        // 1: global expedited registered; 0: readers must fence

    /// <summary>The lock owner id (thread slot + 1) of the calling thread in the map its current command runs on.</summary>
    [ThreadStatic] public static int CurrentOwner;

    private SharedDomain(SharedLayout layout, byte* b, nuint length, int fd, bool writable)
    {
        Layout = layout;
        Base = b;
        _length = length;
        _fd = fd;
        Writable = writable;
        byte* domain = b + SharedLayout.HeaderBytes;
        _global = (long*)(domain + SharedLayout.GlobalOffset);
        Pinned = (int*)(domain + SharedLayout.PinOffset);
        _recoveryLock = (int*)(domain + SharedLayout.RecoveryLockOffset);
        _readersFence = (int*)(domain + SharedLayout.RecoveryLockOffset + 64);
        _procs = b + layout.Procs;
        _threads = b + layout.Threads;
        _threadStride = layout.ThreadStride;
        lock (s_numbersLock)
        {
            if (s_domainCount == s_domains.Length)
                Array.Resize(ref s_domains, s_domains.Length * 2);
            _number = s_domainCount++;
            Volatile.Write(ref s_domains[_number], this);
        }
    }

    // ---- files ---------------------------------------------------------------------------------

    /// <summary>The directory new shared maps' files are made in: <c>$FASTMAP_SHM_DIR</c>, else <c>/dev/shm</c>.</summary>
    public static string Directory => Environment.GetEnvironmentVariable("FASTMAP_SHM_DIR") is { Length: > 0 } d ? d : "/dev/shm";

    /// <summary>Makes a new, unnamed map file (<c>O_TMPFILE</c>) of <paramref name="layout"/>, maps it and writes its
    /// header; null with the errno if the file or the mapping cannot be had.</summary>
    public static SharedDomain? Create(SharedLayout layout, string? name, out MapStatus status)
    {
        int fd = Posix.Open(Directory, Posix.O_TMPFILE | Posix.O_RDWR | Posix.O_CLOEXEC, 0x180); // 0600: the creator's, as a pin's
        if (fd < 0)
        {
            status = Posix.Errno == Posix.EACCES ? MapStatus.EACCES : MapStatus.ENOMEM;
            return null;
        }
        if (Allocations.ShouldFail() || Posix.Ftruncate(fd, (long)layout.FileBytes) != 0)
        {
            Posix.Close(fd);
            status = MapStatus.ENOMEM;
            return null;
        }
        byte* p = MapWhole(fd, layout.FileBytes);
        if (p is null)
        {
            Posix.Close(fd);
            status = MapStatus.ENOMEM;
            return null;
        }
        layout.WriteHeader(p, name);
        *(long*)(p + SharedLayout.HeaderBytes + SharedLayout.GlobalOffset) = 1;
        status = MapStatus.Ok;
        return new SharedDomain(layout, p, (nuint)layout.FileBytes, fd, writable: true);
    }

    /// <summary>The whole file, shared, read and write, its pages committed as they are first touched; null if no range of
    /// addresses is to be had.</summary>
    private static byte* MapWhole(int fd, ulong bytes)
    {
        nint p = Posix.Mmap(0, (nuint)bytes, Posix.PROT_READ | Posix.PROT_WRITE, Posix.MAP_SHARED | Posix.MAP_NORESERVE, fd, 0);
        return p == -1 ? null : (byte*)p;
    }

    /// <summary>The status for a path call's errno (open, linkat), as the kernel answers the same path lookups.</summary>
    private static MapStatus PathStatus(int errno) => errno switch
    {
        Posix.ENOENT => MapStatus.ENOENT,
        Posix.ENOTDIR => MapStatus.ENOTDIR,
        Posix.EACCES or Posix.EPERM or Posix.EROFS => MapStatus.EACCES,
        Posix.EISDIR => MapStatus.EACCES,       // open: not a map, the kernel's answer for a path that is no BPF object
        Posix.EEXIST => MapStatus.EEXIST,       // linkat: the pin path exists
        Posix.EXDEV => MapStatus.EXDEV,         // linkat: another file system than the map's file
        Posix.ENOSPC or Posix.ENOMEM => MapStatus.ENOMEM,
        Posix.ENAMETOOLONG => MapStatus.ENAMETOOLONG,
        Posix.ELOOP => MapStatus.ELOOP,
        _ => MapStatus.EINVAL,
    };

    /// <summary>
    /// Opens a pinned map's file: the errno the kernel's <c>BPF_OBJ_GET</c> would give for the path (missing:
    /// <c>-ENOENT</c>; the file's mode refuses the access: <c>-EACCES</c>), then <c>-EINVAL</c> for a file that is not a
    /// complete FastMap map of a layout this build can check, <c>-EPROTO</c> for another layout version.
    /// </summary>
    public static SharedDomain? Open(string path, bool writable, Func<MapType, uint, ulong> storedValueFor, out MapStatus status,
        out string? name)
    {
        name = null;
        // Read and write even for a read-only handle: a reader announces its epoch in the file. Its data pages are
        // mapped read-only below, so the handle cannot change the map.
        int fd = Posix.Open(path, Posix.O_RDWR | Posix.O_CLOEXEC, 0);
        if (fd < 0)
        {
            status = PathStatus(Posix.Errno);
            return null;
        }
        Posix.Stat st;
        SharedLayout.Header header;
        if (Posix.Fstat(fd, &st) != 0 || (st.Mode & Posix.S_IFMT) != Posix.S_IFREG || st.Size < sizeof(ulong))
        {
            Posix.Close(fd);
            status = MapStatus.EACCES;          // no BPF object behind the path, in the kernel's words
            return null;
        }
        // The header is copied out of the mapping before it is checked: a writer of the file cannot change it under the checks.
        nint p = Posix.Mmap(0, SharedLayout.HeaderBytes, Posix.PROT_READ, Posix.MAP_SHARED, fd, 0);
        if (p == -1)
        {
            Posix.Close(fd);
            status = MapStatus.ENOMEM;
            return null;
        }
        header = *(SharedLayout.Header*)p;
        _ = Posix.Munmap(p, SharedLayout.HeaderBytes);
        status = SharedLayout.Read(&header, st.Size, storedValueFor, out SharedLayout layout, out name);
        if (status != MapStatus.Ok)
        {
            Posix.Close(fd);
            return null;
        }
        byte* m = MapWhole(fd, layout.FileBytes);
        if (m is null)
        {
            Posix.Close(fd);
            status = MapStatus.ENOMEM;
            return null;
        }
        if (!writable)
        {
            // Everything past the thread slots is the map itself: read-only for this handle, enforced by the MMU.
            ulong from = layout.Capacity;
            _ = Posix.Mprotect((nint)(m + from), (nuint)(layout.FileBytes - from), Posix.PROT_READ);
        }
        return new SharedDomain(layout, m, (nuint)layout.FileBytes, fd, writable);
    }

    /// <summary>The path checks <c>BPF_OBJ_PIN</c> makes before it looks at the map (for a map that cannot be pinned):
    /// <c>-ENOENT</c>, <c>-ENOTDIR</c>, <c>-EACCES</c>, <c>-EEXIST</c>, or <c>Ok</c>.</summary>
    public static MapStatus CheckPinPath(string path)
    {
        if (System.IO.File.Exists(path) || System.IO.Directory.Exists(path) || new FileInfo(path).LinkTarget is not null)
            return MapStatus.EEXIST;
        string? dir = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path));
        if (dir is null || System.IO.Directory.Exists(dir))
            return MapStatus.Ok;
        return System.IO.File.Exists(dir) ? MapStatus.ENOTDIR : MapStatus.ENOENT;
    }

    /// <summary>Gives the map's file a path (<c>BPF_OBJ_PIN</c>): <c>-EEXIST</c> if the path exists, <c>-ENOENT</c> if its
    /// directory does not, <c>-EXDEV</c> if it is on another file system than the map's file.</summary>
    public MapStatus Pin(string path)
    {
        // A hard link of the open file (an O_TMPFILE file, or one already pinned), made atomically: the path
        // appears only with a complete map behind it.
        return Posix.Linkat(Posix.AT_FDCWD, $"/proc/self/fd/{_fd}", Posix.AT_FDCWD, path, Posix.AT_SYMLINK_FOLLOW) == 0
            ? MapStatus.Ok : PathStatus(Posix.Errno);
    }

    // ---- joining and leaving -------------------------------------------------------------------

    /// <summary>
    /// Takes a process slot (recovering whatever its previous, dead holder left) and registers this process for
    /// the global membarrier. <c>Ok</c>, or <c>-ENOMEM</c> when all <see cref="SharedLayout.ProcSlots"/>
    /// slots are held by live attachments.
    /// </summary>
    public MapStatus Join(IRecoverable store)
    {
        _store = store;
        RegisterMembarrier();
        if (Volatile.Read(ref s_membarrier) == 0)
            Interlocked.Exchange(ref *_readersFence, 1);
        for (int p = 0; p < SharedLayout.ProcSlots; p++)
        {
            if (!TryLockByte(p))
                continue;
            // Ours until we close: whoever held it before is dead (or never was).
            byte* slot = _procs + p * SharedLayout.ProcBytes;
            ref uint gen = ref *(uint*)(slot + ProcGenOffset);
            uint dead = Volatile.Read(ref gen);
            _proc = p;
            _gen = dead + 1;
            Volatile.Write(ref gen, _gen);    // from here every slot of generation `dead` is a dead process's
            // The joining thread takes its own slot first: recovery's locks need an owner id.
            int mine = SlotOfThisThread();
            if (mine < 0)
                return MapStatus.ENOMEM;
            CurrentOwner = mine + 1;
            RecoverProcess(p, dead);
            *(int*)slot = Posix.GetPid();
            Volatile.Write(ref *(int*)(slot + ProcStateOffset), 1);
            RecoverAllDead();                 // and whatever other dead processes left
            return MapStatus.Ok;
        }
        return MapStatus.ENOMEM;
    }

    private static void RegisterMembarrier()
    {
        if (Volatile.Read(ref s_membarrier) >= 0)
            return;
        long mask = Posix.Membarrier(MEMBARRIER_CMD_QUERY);
        bool ok = mask > 0 && (mask & MEMBARRIER_CMD_GLOBAL_EXPEDITED) != 0
            && Posix.Membarrier(MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED) == 0;
        Volatile.Write(ref s_membarrier, ok ? 1 : 0);
    }

    private bool TryLockByte(int p)
    {
        var lk = new Posix.Flock { Type = Posix.F_WRLCK, Whence = 0, Start = LockBase + p, Len = 1 };
        return Posix.FcntlLock(_fd, Posix.F_OFD_SETLK, &lk) == 0;
    }

    /// <summary>True if process slot <paramref name="p"/> is held now by generation <paramref name="gen"/>.</summary>
    public bool ProcessAlive(int p, uint gen)
    {
        if ((uint)p >= SharedLayout.ProcSlots)
            return false;
        if (Volatile.Read(ref *(uint*)(_procs + p * SharedLayout.ProcBytes + ProcGenOffset)) != gen)
            return false;
        if (p == _proc)
            return true;
        var lk = new Posix.Flock { Type = Posix.F_WRLCK, Whence = 0, Start = LockBase + p, Len = 1 };
        if (Posix.FcntlLock(_fd, Posix.F_OFD_GETLK, &lk) != 0)
            return true;                         // cannot tell: never treat a live process as dead
        return lk.Type != Posix.F_UNLCK;
    }

    /// <summary>True if the thread whose lock owner id is <paramref name="owner"/> belongs to a live process (an id
    /// out of range, read from a damaged file, counts as dead so that its lock can be taken back).</summary>
    public bool OwnerAlive(int owner)
    {
        if ((uint)(owner - 1) >= SharedLayout.ThreadSlots)
            return false;
        ulong o = Volatile.Read(ref *(ulong*)(ThreadSlot(owner - 1) + OwnerOffset));
        return o != 0 && ProcessAlive((int)(uint)o - 1, (uint)(o >> 32));
    }

    // ---- leaving -----------------------------------------------------------------------------

    /// <summary>
    /// Detaches after the last handle closed and a grace period passed: frees this process's thread slots and its
    /// process slot, and keeps the address range mapped (as zeros, read-only: a lookup outside a section may still
    /// read it) for the life of the process. Closing the file drops the liveness lock.
    /// </summary>
    public void Detach()
    {
        lock (this)
        {
            if (_detached != 0)
                return;
            _detached = 1;
        }
        if (_proc >= 0)
        {
            ulong mine = (uint)(_proc + 1) | ((ulong)_gen << 32);
            for (int s = 0; s < SharedLayout.ThreadSlots; s++)
            {
                byte* t = ThreadSlot(s);
                if (Volatile.Read(ref *(ulong*)(t + OwnerOffset)) == mine)
                {
                    Volatile.Write(ref *(long*)t, 0);
                    Interlocked.CompareExchange(ref *(ulong*)(t + OwnerOffset), 0, mine);
                }
            }
            Volatile.Write(ref *(int*)(_procs + _proc * SharedLayout.ProcBytes + ProcStateOffset), 0);
        }
        Volatile.Write(ref s_domains[_number], null);
        _ = Posix.Mmap((nint)Base, _length, Posix.PROT_READ, Posix.MAP_PRIVATE | Posix.MAP_ANONYMOUS | Posix.MAP_FIXED | Posix.MAP_NORESERVE, -1, 0);
        Posix.Close(_fd);
    }
}

/// <summary>A store that can take back the locks of a dead thread of a shared map (<see cref="SharedDomain"/>'s recovery protocol).</summary>
internal unsafe interface IRecoverable
{
    /// <summary>Adopts and repairs every lock held by <paramref name="owner"/>, whose process is dead;
    /// <paramref name="undo"/> is its undo area (<see cref="SharedDomain.UndoArea"/>), or null.</summary>
    void RecoverLocksOf(int owner, byte* undo);
}
