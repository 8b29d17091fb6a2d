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
internal sealed unsafe class SharedDomain
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

    // ---- test hook --------------------------------------------------------------------------

    /// <summary>Points of a shared map's code where a test can park a process (then kill it): see <see cref="Park"/>.</summary>
    public enum ParkPoint
    {
        /// <summary>A value overwritten in place, its block's version odd.</summary>
        ValueOdd = 1,
        /// <summary>A key unlinked, its token not yet given back.</summary>
        Unlinked = 2,
        /// <summary>A token taken for an insert, the key not yet placed.</summary>
        TokenTaken = 3,
        /// <summary>A new key's tag published, the token's spend not yet recorded.</summary>
        Published = 4,
        /// <summary>Inside a read-side section, holding a value's address.</summary>
        InSection = 5,
        /// <summary>Holding the overflow pool's lock.</summary>
        PoolLocked = 6,
        /// <summary>Holding a capacity shard's lock, its count changed.</summary>
        ShardLocked = 7,
        /// <summary>Holding the recovery lock, recovering a dead process.</summary>
        Recovering = 8,
        /// <summary>Holding a group lock, nothing changed yet.</summary>
        GroupLocked = 9,
    }

    private static readonly int s_parkPoint = ParseParkSetting(out s_parkCountdown);
    private static int s_parkCountdown;

    private static int ParseParkSetting(out int nth)
    {
        // FASTMAP_TEST_PARK=<point>[:<nth>]: a test's child process parks (prints "parked <point>" on fd 1 and sleeps for
        // good) at the nth time it reaches the point. Unset, every Park call is one compare of a static.
        nth = 1;
        string? v = Environment.GetEnvironmentVariable("FASTMAP_TEST_PARK");
        if (string.IsNullOrEmpty(v))
            return 0;
        string[] parts = v.Split(':');
        if (parts.Length > 1 && int.TryParse(parts[1], out int n) && n > 0)
            nth = n;
        return int.TryParse(parts[0], out int p) ? p : 0;
    }

    /// <summary>The test hook: parks the process at <paramref name="point"/> if <c>FASTMAP_TEST_PARK</c> names it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Park(ParkPoint point)
    {
        if (s_parkPoint == (int)point)
            ParkSlow(point);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ParkSlow(ParkPoint point)
    {
        if (Interlocked.Decrement(ref s_parkCountdown) != 0)
            return;
        byte[] line = System.Text.Encoding.ASCII.GetBytes($"parked {(int)point}\n");
        fixed (byte* p = line)
            _ = Posix.Write(1, p, (nuint)line.Length);
        Thread.Sleep(Timeout.Infinite);
    }

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
        nint p = Posix.Mmap(0, (nuint)layout.FileBytes, Posix.PROT_READ | Posix.PROT_WRITE, Posix.MAP_SHARED | Posix.MAP_NORESERVE, fd, 0);
        if (p == -1)
        {
            Posix.Close(fd);
            status = MapStatus.ENOMEM;
            return null;
        }
        layout.WriteHeader((byte*)p, name);
        *(long*)((byte*)p + SharedLayout.HeaderBytes + SharedLayout.GlobalOffset) = 1;
        status = MapStatus.Ok;
        return new SharedDomain(layout, (byte*)p, (nuint)layout.FileBytes, fd, writable: true);
    }

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
            status = Posix.Errno switch
            {
                Posix.ENOENT => MapStatus.ENOENT,
                Posix.EACCES or Posix.EPERM or Posix.EROFS => MapStatus.EACCES,
                Posix.ENOTDIR => MapStatus.ENOTDIR,
                Posix.ENOMEM => MapStatus.ENOMEM,
                Posix.EISDIR => MapStatus.EACCES,   // not a map: the kernel's answer for a path that is no BPF object
                Posix.ENAMETOOLONG => MapStatus.ENAMETOOLONG,
                Posix.ELOOP => MapStatus.ELOOP,
                _ => MapStatus.EINVAL,
            };
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
        nint m = Posix.Mmap(0, (nuint)layout.FileBytes, Posix.PROT_READ | Posix.PROT_WRITE, Posix.MAP_SHARED | Posix.MAP_NORESERVE, fd, 0);
        if (m == -1)
        {
            Posix.Close(fd);
            status = MapStatus.ENOMEM;
            return null;
        }
        if (!writable)
        {
            // Everything past the thread slots is the map itself: read-only for this handle, enforced by the MMU.
            ulong from = layout.Capacity;
            _ = Posix.Mprotect(m + (nint)from, (nuint)(layout.FileBytes - from), Posix.PROT_READ);
        }
        return new SharedDomain(layout, (byte*)m, (nuint)layout.FileBytes, fd, writable);
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
        if (Posix.Linkat(Posix.AT_FDCWD, $"/proc/self/fd/{_fd}", Posix.AT_FDCWD, path, Posix.AT_SYMLINK_FOLLOW) == 0)
            return MapStatus.Ok;
        return Posix.Errno switch
        {
            Posix.EEXIST => MapStatus.EEXIST,
            Posix.ENOENT => MapStatus.ENOENT,
            Posix.ENOTDIR => MapStatus.ENOTDIR,
            Posix.EACCES or Posix.EPERM or Posix.EROFS => MapStatus.EACCES,
            Posix.EXDEV => MapStatus.EXDEV,
            Posix.ENOSPC or Posix.ENOMEM => MapStatus.ENOMEM,
            Posix.ENAMETOOLONG => MapStatus.ENAMETOOLONG,
            Posix.ELOOP => MapStatus.ELOOP,
            _ => MapStatus.EINVAL,
        };
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

    private byte* ThreadSlot(int s) => _threads + (nuint)s * _threadStride;

    /// <summary>The undo area of lock owner <paramref name="owner"/>: [0..8) the value's offset in the file + 1
    /// (0: no write under way), [<see cref="SharedLayout.ThreadHead"/>..) the value's bytes before the write.</summary>
    public byte* UndoArea(int owner) => ThreadSlot(owner - 1) + UndoOffset;

    /// <summary>Offset of the undo bytes from <see cref="UndoArea"/>.</summary>
    public const int UndoBytesOffset = SharedLayout.ThreadHead - UndoOffset;

    /// <summary>
    /// A thread's capacity intent, in its thread slot: what recovery needs to give back exactly the tokens a dead
    /// thread held. Every field is written by its thread only, each under the lock named.
    /// </summary>
    [System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Sequential)]
    public struct Intent
    {
        /// <summary>1 while the thread holds a token it took and has neither spent on a published key nor given back
        /// (set and cleared under a shard lock; cleared by a key's publication under its group's lock).</summary>
        public int Held;
        /// <summary>The shard operation under way (<c>Capacity.Op*</c>), under that shard's lock: with
        /// <see cref="Before"/> and <see cref="Shard"/> it tells whether the count changed before the holder died.</summary>
        public int Op;
        /// <summary>The tag a held token is being spent on (its offset in the file + 1), under its group's lock.</summary>
        public long Spend;
        /// <summary>The tag of a key being deleted whose token is not yet back (offset + 1), under its group's lock.</summary>
        public long Giving;
        /// <summary>The shard's count before <see cref="Op"/>.</summary>
        public long Before;
        /// <summary>The shard <see cref="Op"/> works on.</summary>
        public int Shard;
        private readonly int _pad;
    }

    private const int IntentOffset = 24;

    /// <summary>The capacity intent of lock owner <paramref name="owner"/> (a thread slot + 1).</summary>
    public Intent* IntentOf(int owner) => (Intent*)(ThreadSlot(owner - 1) + IntentOffset);

    /// <summary>Recovers the locks of a dead owner found holding one (see remarks).</summary>
    public void RecoverOwner(int owner)
    {
        if ((uint)(owner - 1) >= SharedLayout.ThreadSlots)
        {
            _store?.RecoverLocksOf(owner, null);
            return;
        }
        ulong o = Volatile.Read(ref *(ulong*)(ThreadSlot(owner - 1) + OwnerOffset));
        if (o == 0)
        {
            _store?.RecoverLocksOf(owner, null);
            return;
        }
        RecoverProcess((int)(uint)o - 1, (uint)(o >> 32));
    }

    /// <summary>Recovers every dead process's thread slots (at a join, and before a shared map answers <c>-E2BIG</c>: a
    /// dead thread may hold a token). True if there was one.</summary>
    public bool RecoverAllDead()
    {
        bool any = false;
        // One liveness probe (a syscall) per process slot and generation seen, not one per thread slot.
        Span<ulong> alive = stackalloc ulong[SharedLayout.ProcSlots];
        Span<ulong> dead = stackalloc ulong[SharedLayout.ProcSlots];
        alive.Clear();
        dead.Clear();
        for (int s = 0; s < SharedLayout.ThreadSlots; s++)
        {
            ulong o = Volatile.Read(ref *(ulong*)(ThreadSlot(s) + OwnerOffset));
            int p = (int)(uint)o - 1;
            if (o == 0 || (uint)p >= SharedLayout.ProcSlots || alive[p] == o)
                continue;
            if (dead[p] != o)
            {
                if (ProcessAlive(p, (uint)(o >> 32)))
                {
                    alive[p] = o;
                    continue;
                }
                dead[p] = o;
            }
            RecoverProcess(p, (uint)(o >> 32));
            any = true;
        }
        return any;
    }

    /// <summary>Recovers every thread slot of process slot <paramref name="p"/>'s generation <paramref name="gen"/>,
    /// which must be dead. Idempotent.</summary>
    private void RecoverProcess(int p, uint gen)
    {
        if (ProcessAlive(p, gen))
            return;
        AcquireRecoveryLock();
        // A read-only attachment maps the map's pages read-only; its repairs need them writable for the while (its fd is
        // open for writing: every attachment's is). Its own threads write nothing meanwhile: their handle cannot.
        if (!Writable)
            _ = Posix.Mprotect((nint)(Base + Layout.Capacity), (nuint)(Layout.FileBytes - Layout.Capacity), Posix.PROT_READ | Posix.PROT_WRITE);
        Park(ParkPoint.Recovering);
        ulong dead = (uint)(p + 1) | ((ulong)gen << 32);
        for (int s = 0; s < SharedLayout.ThreadSlots; s++)
        {
            byte* t = ThreadSlot(s);
            if (Volatile.Read(ref *(ulong*)(t + OwnerOffset)) != dead)
                continue;
            _store?.RecoverLocksOf(s + 1, t + UndoOffset);
            Volatile.Write(ref *(long*)t, 0);                    // no longer announced
            *(long*)(t + UndoOffset) = 0;
            *(Intent*)(t + IntentOffset) = default;
            Interlocked.CompareExchange(ref *(ulong*)(t + OwnerOffset), 0, dead); // free (release: after the repairs)
        }
        if (!Writable)
            _ = Posix.Mprotect((nint)(Base + Layout.Capacity), (nuint)(Layout.FileBytes - Layout.Capacity), Posix.PROT_READ);
        Volatile.Write(ref *_recoveryLock, 0);
    }

    private void AcquireRecoveryLock()
    {
        // Recovery takes locks (the recovery lock, capacity shards) as this thread of this file: whatever command ran
        // last on the thread may have been another map's.
        t_inRecovery = true;                  // a claim from here must not recover in turn (no slot free: it would recurse)
        int mine = SlotOfThisThread();
        t_inRecovery = false;
        int me = mine >= 0 ? mine + 1 : 1;
        CurrentOwner = me;
        var spin = new SpinWait();
        for (int n = 1; ; n++)
        {
            int held = Volatile.Read(ref *_recoveryLock);
            if (held == 0 && Interlocked.CompareExchange(ref *_recoveryLock, me, 0) == 0)
                return;
            // A recoverer that died mid-way is taken over: recovery is idempotent.
            if (held != 0 && (n & 1023) == 0 && !OwnerAlive(held) && Interlocked.CompareExchange(ref *_recoveryLock, me, held) == held)
                return;
            spin.SpinOnce(sleep1Threshold: -1);
        }
    }

    // ---- threads ---------------------------------------------------------------------------------

    /// <summary>The calling thread's slots, by domain number (slot + 1; 0: none), and the advances it owes.</summary>
    private sealed class Member
    {
        public int[] Slots = new int[4];
        public bool[] Due = new bool[4];
        public bool[] Listed = new bool[4];       // in the thread's Epoch list of files to leave at its outermost exit

        ~Member()
        {
            // The thread has died: its slots go back (it is in no section, it holds no lock).
            for (int n = 0; n < Slots.Length; n++)
                if (Slots[n] != 0 && Volatile.Read(ref s_domains[n]) is { } d)
                    d.ReleaseThreadSlot(Slots[n] - 1);
        }
    }

    [ThreadStatic] private static Member? t_member;
    [ThreadStatic] private static bool t_inRecovery;

    /// <summary>The calling thread's slot in this file, taken on first use; -1 if all are taken.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int SlotOfThisThread()
    {
        Member? m = t_member;
        if (m is not null && _number < m.Slots.Length && m.Slots[_number] != 0)
            return m.Slots[_number] - 1;
        return ClaimThreadSlot();
    }

    private int ClaimThreadSlot()
    {
        Member m = t_member ??= new Member();
        if (_number >= m.Slots.Length)
        {
            int n = Math.Max(_number + 1, m.Slots.Length * 2);
            Array.Resize(ref m.Slots, n);
            Array.Resize(ref m.Due, n);
            Array.Resize(ref m.Listed, n);
        }
        ulong mine = (uint)(_proc + 1) | ((ulong)_gen << 32);
        for (int s = 0; s < SharedLayout.ThreadSlots; s++)
        {
            byte* t = ThreadSlot(s);
            if (Volatile.Read(ref *(ulong*)(t + OwnerOffset)) != 0)
                continue;
            if (Interlocked.CompareExchange(ref *(ulong*)(t + OwnerOffset), mine, 0) == 0)
            {
                m.Slots[_number] = s + 1;
                return s;
            }
        }
        // All taken: perhaps by dead processes whose slots nobody has recovered yet.
        for (int s = 0; s < SharedLayout.ThreadSlots && !t_inRecovery; s++)
        {
            ulong o = Volatile.Read(ref *(ulong*)(ThreadSlot(s) + OwnerOffset));
            if (o != 0 && !ProcessAlive((int)(uint)o - 1, (uint)(o >> 32)))
            {
                RecoverProcess((int)(uint)o - 1, (uint)(o >> 32));
                return ClaimThreadSlot();
            }
        }
        return -1;
    }

    private void ReleaseThreadSlot(int s)
    {
        lock (this)                            // against Detach, which unmaps the tables
        {
            if (_detached != 0)
                return;
            byte* t = ThreadSlot(s);
            ulong mine = (uint)(_proc + 1) | ((ulong)_gen << 32);
            if (Volatile.Read(ref *(ulong*)(t + OwnerOffset)) != mine)
                return;
            Volatile.Write(ref *(long*)t, 0);
            Interlocked.CompareExchange(ref *(ulong*)(t + OwnerOffset), 0, mine);
        }
    }

    // ---- the file's epoch --------------------------------------------------------------------

    /// <summary>The file's epoch G.</summary>
    public long Current
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => Volatile.Read(ref *_global);
    }

    /// <summary>True if memory retired with <paramref name="tag"/> may be reused (Epoch rule 4, on the file's G).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool IsSafe(long tag) => Current >= tag + 2;

    /// <summary>
    /// Enters the file's epoch for the calling thread's current command (rule 2 above): announces G unless the
    /// thread already has, inside its current outermost section, and sets <see cref="CurrentOwner"/>. False when the
    /// thread cannot have a slot (all <see cref="SharedLayout.ThreadSlots"/> are held by live threads: <c>-ENOMEM</c>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Announce(Epoch.ThreadSlot t)
    {
        int s = SlotOfThisThread();
        if (s < 0)
            return false;
        CurrentOwner = s + 1;
        long* e = (long*)ThreadSlot(s);
        if (*e == 0)
        {
            // Rule 2: a plain store; store-to-load order against a reclaimer in any process comes from its global
            // membarrier, or, if some process could not register for it, from this fence.
            Volatile.Write(ref *e, Current);
            if (Volatile.Read(ref *_readersFence) != 0)
                Interlocked.MemoryBarrier();
            Hold(t);
        }
        return true;
    }

    /// <summary>Binds the calling thread to its slot in this file for a command that validates what it reads (a write, a
    /// copying read): sets <see cref="CurrentOwner"/>, announces nothing. False when no slot is to be had (<c>-ENOMEM</c>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Bind()
    {
        int s = SlotOfThisThread();
        CurrentOwner = s + 1;
        return s >= 0;
    }

    /// <summary>Has the thread's outermost exit call <see cref="Leave"/> (once a section: the due flag says it is listed).</summary>
    private void Hold(Epoch.ThreadSlot t)
    {
        Member m = t_member!;
        if (!m.Listed[_number])
        {
            m.Listed[_number] = true;
            t.HoldShared(this);
        }
    }

    /// <summary>Called by <see cref="Epoch"/> at the thread's outermost exit: clears the announcement and runs an
    /// advance the thread owes this file.</summary>
    internal void Leave()
    {
        Member? m = t_member;
        if (m is null || _number >= m.Slots.Length || m.Slots[_number] == 0)
            return;
        Volatile.Write(ref *(long*)ThreadSlot(m.Slots[_number] - 1), 0); // release: the section's loads come first
        m.Listed[_number] = false;
        if (m.Due[_number])
        {
            m.Due[_number] = false;
            TryAdvance();
        }
    }

    /// <summary>Asks for an advance of the file's epoch at the calling thread's outermost exit (rule 7). Called by a
    /// store inside a command, so the thread is in a section and bound to a slot here.</summary>
    public void RequestAdvance()
    {
        Member? m = t_member;
        if (m is null || _number >= m.Slots.Length || m.Slots[_number] == 0 || m.Due[_number])
            return;
        m.Due[_number] = true;
        if (Epoch.CurrentSlot is { } t)
            Hold(t);
    }

    /// <summary>Tries to advance G by one (rule 3 across processes); never waits. Outside sections only.</summary>
    public long TryAdvance()
    {
        long g = Current;
        if (AnyLiveAnnouncedBelow(g))
            return g;
        // Every CPU running a registered process passes a full barrier: an announcement stored before it is
        // visible to the scan below, and a reader that announces after it sees the unlinks that preceded it.
        if (Volatile.Read(ref s_membarrier) == 1)
            _ = Posix.Membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED);
        else
            _ = Posix.Membarrier(MEMBARRIER_CMD_GLOBAL);
        Interlocked.MemoryBarrier();
        if (AnyLiveAnnouncedBelow(g))
            return g;
        return Interlocked.CompareExchange(ref *_global, g + 1, g) == g ? g + 1 : Current;
    }

    private bool AnyLiveAnnouncedBelow(long g)
    {
        for (int s = 0; s < SharedLayout.ThreadSlots; s++)
        {
            byte* t = ThreadSlot(s);
            long e = Volatile.Read(ref *(long*)t);
            if (e == 0 || e >= g)
                continue;
            ulong o = Volatile.Read(ref *(ulong*)(t + OwnerOffset));
            if (o != 0 && ProcessAlive((int)(uint)o - 1, (uint)(o >> 32)))
                return true;                      // rule 3 (a dead process's slot is skipped: rule 3 above)
        }
        return false;
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
