using System.Buffers.Binary;
using System.Runtime.InteropServices;
using FastMap.Kernel;
using static FastMap.Kernel.KernelBpf;

namespace FastMap.Tests.Kernel;

/// <summary>
/// What the kernel (6.18) answers to <c>BPF_OBJ_PIN</c> and <c>BPF_OBJ_GET</c> on a HASH map, so that FastMap's
/// fm_obj_pin/fm_obj_get can give the same errnos. These tests document the kernel: every expected value was measured
/// on it (docs/obj-pin-kernel.md has the table, in the kernel's check order). They need root; /sys/fs/bpf is mounted
/// as bpffs when it is not one yet, and each test works in its own directory there, removed afterwards.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class KernelObjPinTests : IDisposable
{
    private const int EPERM = -KernelBpf.Errno.EPERM;
    private const int ENOENT = -KernelBpf.Errno.ENOENT;
    private const int EACCES = -KernelBpf.Errno.EACCES;
    private const int EFAULT = -KernelBpf.Errno.EFAULT;
    private const int EEXIST = -KernelBpf.Errno.EEXIST;
    private const int ENOTDIR = -KernelBpf.Errno.ENOTDIR;
    private const int EINVAL = -KernelBpf.Errno.EINVAL;
    private const uint RDONLY = KernelBpf.Flags.ReadOnly;
    private const uint WRONLY = KernelBpf.Flags.WriteOnly;
    private const uint Nobody = 65534;

    private readonly List<int> _fds = [];
    private readonly List<string> _outside = [];
    private string? _dir;

    /// <summary>This test's own directory on bpffs (created on first use).</summary>
    private string Dir => _dir ??= BpfFs.NewDirectory();

    private string PinPath(string name = "m") => Path.Combine(Dir, name);

    public void Dispose()
    {
        foreach (int fd in _fds)
            KernelBpf.Close(fd);
        if (_dir is not null && Directory.Exists(_dir))
            Directory.Delete(_dir, recursive: true);
        foreach (string p in _outside)
        {
            if (File.Exists(p))
                File.Delete(p);
            else if (Directory.Exists(p))
                Directory.Delete(p, recursive: true);
        }
    }

    // ---- helpers -------------------------------------------------------------------------------------------------

    /// <summary>Keeps an fd (asserting it is one) to close at the end.</summary>
    private int Own(int fd)
    {
        Assert.True(fd >= 0, $"expected an fd, got {fd}");
        _fds.Add(fd);
        return fd;
    }

    private int NewMap(uint mapFlags = 0)
    {
        Assert.True(IsAvailable, "bpf() is required for these tests: " + UnavailableReason);
        return Own(CreateMap(KernelBpf.MapType.Hash, 4, 4, 8, mapFlags));
    }

    /// <summary>A HASH map pinned at <see cref="PinPath"/>; returns the creator's fd.</summary>
    private int PinnedMap(string name = "m", uint mapFlags = 0)
    {
        int fd = NewMap(mapFlags);
        Assert.Equal(0, ObjPin(fd, PinPath(name)));
        return fd;
    }

    /// <summary>A path outside bpffs, on /tmp (tmpfs or the root fs), removed afterwards.</summary>
    private string Outside(string name)
    {
        string p = Path.Combine(Path.GetTempPath(), $"fm-objpin-{Environment.ProcessId}-{Guid.NewGuid():N}-{name}");
        Assert.False(BpfFs.IsBpfFs(Path.GetTempPath()), "the temp directory must not be bpffs");
        _outside.Add(p);
        return p;
    }

    private static byte[] U32(uint v)
    {
        byte[] b = new byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, v);
        return b;
    }

    private static int Put(int fd, uint k, uint v) => Update(fd, U32(k), U32(v));

    private static int Get(int fd, uint k) => Lookup(fd, U32(k), new byte[4]);

    private static int Del(int fd, uint k) => Delete(fd, U32(k));

    private static int Next(int fd) => GetNextKey(fd, default, new byte[4]);

    /// <summary>OBJ_PIN or OBJ_GET through a raw attr, for fields the typed calls keep zero.</summary>
    private static int RawObj(int cmd, string path, int bpfFd, uint fileFlags, int pathFd, int size = AttrSize,
        byte tailByte = 0)
    {
        byte[] name = System.Text.Encoding.UTF8.GetBytes(path + "\0");
        byte[] attr = new byte[Math.Max(size, 24)];
        BinaryPrimitives.WriteUInt32LittleEndian(attr.AsSpan(KernelBpf.Attr.ObjBpfFd), (uint)bpfFd);
        BinaryPrimitives.WriteUInt32LittleEndian(attr.AsSpan(KernelBpf.Attr.ObjFileFlags), fileFlags);
        BinaryPrimitives.WriteInt32LittleEndian(attr.AsSpan(KernelBpf.Attr.ObjPathFd), pathFd);
        attr[20] = tailByte; // the first byte past path_fd: CHECK_ATTR(BPF_OBJ) requires it to be 0
        return RawWithBuffers(cmd, attr.AsSpan(0, size), KernelBpf.Attr.ObjPathname, name);
    }

    private static uint MapId(int fd)
    {
        byte[] info = new byte[16]; // struct bpf_map_info: type@0, id@4
        byte[] attr = new byte[AttrSize];
        BinaryPrimitives.WriteUInt32LittleEndian(attr.AsSpan(KernelBpf.Attr.InfoFd), (uint)fd);
        BinaryPrimitives.WriteUInt32LittleEndian(attr.AsSpan(KernelBpf.Attr.InfoLen), (uint)info.Length);
        Assert.Equal(0, RawWithBuffers(KernelBpf.Cmd.ObjGetInfoByFd, attr, KernelBpf.Attr.Info, info));
        return BinaryPrimitives.ReadUInt32LittleEndian(info.AsSpan(4));
    }

    private static int MapFdById(uint id)
    {
        byte[] attr = new byte[AttrSize];
        BinaryPrimitives.WriteUInt32LittleEndian(attr, id); // map_id@0
        return Raw(KernelBpf.Cmd.MapGetFdById, attr);
    }

    // ---- BPF_OBJ_PIN ---------------------------------------------------------------------------------------------

    [KernelFact]
    public void PinToNewPathIsZeroAndMakesA0600LessUmaskFile()
    {
        PinnedMap();
        var mode = File.GetUnixFileMode(PinPath());
        Assert.Equal((UnixFileMode)(0b110_000_000 & ~Cred.Umask()), mode); // S_IFREG | (0600 & ~umask)
        Assert.Equal(EEXIST, ObjPin(_fds[0], PinPath())); // the same path again
    }

    [KernelFact]
    public void PinWithAFdThatIsNoBpfObjectIsEinval()
    {
        int fd = PinnedMap();
        using var file = File.OpenHandle(Outside("file"), FileMode.Create, FileAccess.ReadWrite);
        int regular = (int)file.DangerousGetHandle();
        foreach (int bad in new[] { 9999, -1, regular })
        {
            Assert.Equal(EINVAL, ObjPin(bad, PinPath("n")));
            // The fd is checked before the path is looked at: existing path, NULL, missing dir, outside bpffs.
            Assert.Equal(EINVAL, ObjPin(bad, PinPath()));
            Assert.Equal(EINVAL, ObjPin(bad, null));
            Assert.Equal(EINVAL, ObjPin(bad, Path.Combine(Dir, "nodir", "x")));
            Assert.Equal(EINVAL, ObjPin(bad, Outside("x")));
        }
        Assert.Equal(0, ObjPin(fd, PinPath("n")));
    }

    [KernelFact]
    public void PinFileFlagsOtherThanPathFdAreEinvalBeforeEverythingElse()
    {
        int fd = NewMap();
        foreach (uint flags in new[] { 1u, RDONLY, WRONLY, 1u << 5, 1u << 31 })
        {
            Assert.Equal(EINVAL, ObjPin(fd, PinPath(), flags));
            Assert.Equal(EINVAL, ObjPin(fd, null, flags));
            Assert.Equal(EINVAL, ObjPin(9999, PinPath(), flags));
        }
        // path_fd without BPF_F_PATH_FD, and nonzero attr bytes past path_fd.
        Assert.Equal(EINVAL, ObjPin(fd, PinPath(), 0, pathFd: 5));
        Assert.Equal(EINVAL, ObjPin(fd, null, 0, pathFd: 5));
        Assert.Equal(EINVAL, RawObj(KernelBpf.Cmd.ObjPin, PinPath(), fd, 0, 0, tailByte: 1));
        // BPF_F_PATH_FD is accepted; an absolute path ignores path_fd.
        Assert.Equal(0, ObjPin(fd, PinPath("abs"), KernelBpf.Flags.PathFd, pathFd: 0));
        // The kernel takes a 12-byte attr (path_fd and beyond read as 0).
        Assert.Equal(0, RawObj(KernelBpf.Cmd.ObjPin, PinPath("short"), fd, 0, 0, size: 12));
    }

    [KernelFact]
    public void PinPathErrorsComeFromTheLookupThenBpffsThenPermission()
    {
        int fd = PinnedMap();
        Assert.Equal(EFAULT, ObjPin(fd, null));
        Assert.Equal(ENOENT, ObjPin(fd, ""));
        Assert.Equal(ENOENT, ObjPin(fd, Path.Combine(Dir, "nodir", "x")));
        Assert.Equal(ENOENT, ObjPin(fd, PinPath("new") + "/")); // trailing slash on a new name
        Assert.Equal(ENOTDIR, ObjPin(fd, Path.Combine(PinPath(), "x"))); // a pin used as a directory
        Assert.Equal(EEXIST, ObjPin(fd, Dir)); // an existing directory
        Assert.Equal(EEXIST, ObjPin(fd, BpfFs.Root));
        File.CreateSymbolicLink(PinPath("link"), PinPath());
        Assert.Equal(EEXIST, ObjPin(fd, PinPath("link"))); // an existing symlink (not followed)

        // Outside bpffs: a new name is EPERM, but an existing name is EEXIST and a missing directory ENOENT, since
        // the lookup comes first.
        string outsideFile = Outside("exists");
        File.WriteAllText(outsideFile, "x");
        Assert.Equal(EPERM, ObjPin(fd, Outside("new")));
        Assert.Equal(EPERM, ObjPin(fd, "/dev/shm/" + Path.GetFileName(Outside("shm"))));
        Assert.Equal(EEXIST, ObjPin(fd, outsideFile));
        Assert.Equal(ENOENT, ObjPin(fd, Path.Combine(Outside("nodir"), "x")));
    }

    [KernelFact]
    public void PinAsNonRootNeedsWriteOnTheDirectoryButBpffsIsCheckedFirst()
    {
        int fd = PinnedMap();
        string sub = Path.Combine(Dir, "private");
        Directory.CreateDirectory(sub);
        File.SetUnixFileMode(sub, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute); // 0700
        Assert.Equal(0, ObjPin(fd, Path.Combine(sub, "m")));
        File.SetUnixFileMode(Dir, (UnixFileMode)0b111_101_101); // 0755, root's
        string outsideDir = Outside("dir755");
        Directory.CreateDirectory(outsideDir);
        File.SetUnixFileMode(outsideDir, (UnixFileMode)0b111_101_101);

        var r = Cred.AsUser(Nobody, () => new[]
        {
            ObjPin(fd, PinPath("n")),                  // new name in a 0755 root dir on bpffs
            ObjPin(fd, PinPath()),                     // existing name there
            ObjPin(fd, Path.Combine(outsideDir, "n")), // new name in a 0755 root dir outside bpffs
            ObjPin(fd, Path.Combine(sub, "n")),        // no search permission on the dir
            ObjPin(fd, Path.Combine(sub, "m")),        // ... even for an existing name
            ObjPin(9999, Path.Combine(sub, "n")),      // a bad fd still comes first
        });
        Assert.Equal(new[] { EACCES, EEXIST, EPERM, EACCES, EACCES, EINVAL }, r);
    }

    [KernelFact]
    public void PinDoesNotRecordTheFdModeAndNonRootCanPinWhereItMayWrite()
    {
        PinnedMap();
        int ro = Own(ObjGet(PinPath(), RDONLY));
        Assert.Equal(0, ObjPin(ro, PinPath("fromro")));
        int rw = Own(ObjGet(PinPath("fromro"), 0));
        Assert.Equal(0, Put(rw, 1, 1)); // read-write again through the new pin

        File.SetUnixFileMode(Dir, (UnixFileMode)0b111_111_111 | UnixFileMode.StickyBit); // 1777, like bpffs's root
        var r = Cred.AsUser(Nobody, () =>
        {
            int pin = ObjPin(ro, PinPath("nobody"));
            int got = ObjGet(PinPath("nobody"), RDONLY); // its own pin: 0600 less the umask
            if (got >= 0)
                KernelBpf.Close(got);
            return new[] { pin, got >= 0 ? 0 : got };
        });
        Assert.Equal(new[] { 0, 0 }, r);
        Assert.Equal(UnixFileMode.None, File.GetUnixFileMode(PinPath("nobody")) & ~(UnixFileMode)0b110_000_000);
    }

    // ---- BPF_OBJ_GET ---------------------------------------------------------------------------------------------

    [KernelFact]
    public void GetFileFlags()
    {
        PinnedMap();
        foreach (uint ok in new[] { 0u, RDONLY, WRONLY, KernelBpf.Flags.PathFd, RDONLY | KernelBpf.Flags.PathFd })
            Own(ObjGet(PinPath(), ok));
        foreach (uint bad in new[] { RDONLY | WRONLY, 1u, 1u << 5, 1u << 31, 1u << 2 })
        {
            Assert.Equal(EINVAL, ObjGet(PinPath(), bad));
            // Flags are checked before the path: missing, NULL, a directory, outside bpffs.
            Assert.Equal(EINVAL, ObjGet(PinPath("missing"), bad));
            Assert.Equal(EINVAL, ObjGet(null, bad));
            Assert.Equal(EINVAL, ObjGet(Dir, bad));
            Assert.Equal(EINVAL, ObjGet("/dev/null", bad));
        }
        Assert.Equal(EINVAL, ObjGet(PinPath(), 0, pathFd: 5)); // path_fd without BPF_F_PATH_FD
        Assert.Equal(EINVAL, RawObj(KernelBpf.Cmd.ObjGet, PinPath(), bpfFd: 3, 0, 0)); // bpf_fd must be 0
        Assert.Equal(EINVAL, RawObj(KernelBpf.Cmd.ObjGet, PinPath(), 0, 0, 0, tailByte: 1));
        Own(RawObj(KernelBpf.Cmd.ObjGet, PinPath(), 0, 0, 0, size: 12));
    }

    [KernelFact]
    public void GetPathErrors()
    {
        PinnedMap();
        Assert.Equal(EFAULT, ObjGet(null, 0));
        Assert.Equal(ENOENT, ObjGet("", 0));
        Assert.Equal(ENOENT, ObjGet(PinPath("missing"), 0));
        Assert.Equal(ENOENT, ObjGet(Path.Combine(Dir, "nodir", "x"), 0));
        Assert.Equal(ENOTDIR, ObjGet(Path.Combine(PinPath(), "x"), 0));
        // Found, but not a bpf object: EACCES (directories on bpffs, its root, anything outside).
        Assert.Equal(EACCES, ObjGet(Dir, 0));
        Assert.Equal(EACCES, ObjGet(Dir, RDONLY));
        Assert.Equal(EACCES, ObjGet(BpfFs.Root, 0));
        string outsideFile = Outside("file");
        File.WriteAllText(outsideFile, "x");
        Assert.Equal(EACCES, ObjGet(outsideFile, 0));
        Assert.Equal(EACCES, ObjGet(outsideFile, RDONLY));
        Assert.Equal(EACCES, ObjGet(Path.GetTempPath(), 0));
        Assert.Equal(ENOENT, ObjGet(Outside("missing"), 0));
        // Symlinks (bpffs allows them) are followed.
        File.CreateSymbolicLink(PinPath("link"), PinPath());
        Own(ObjGet(PinPath("link"), 0));
        File.CreateSymbolicLink(PinPath("outlink"), outsideFile);
        Assert.Equal(EACCES, ObjGet(PinPath("outlink"), 0));
        // bpffs cannot hold a regular file made by userspace: creating one is refused.
        Assert.Throws<UnauthorizedAccessException>(() => File.WriteAllText(PinPath("regular"), "x"));
    }

    // ---- fd modes: file_flags vs map_flags -----------------------------------------------------------------------

    [KernelFact]
    public void GotFdModesGateTheElementCommands()
    {
        int creator = PinnedMap();
        Assert.Equal(0, Put(creator, 1, 1));

        int ro = Own(ObjGet(PinPath(), RDONLY));
        Assert.Equal(0, Get(ro, 1));
        Assert.Equal(0, Next(ro));
        Assert.Equal(EPERM, Put(ro, 2, 2));
        Assert.Equal(EPERM, Del(ro, 1));
        Assert.Equal(EPERM, Del(ro, 9)); // the mode before the key: not ENOENT

        int wo = Own(ObjGet(PinPath(), WRONLY));
        Assert.Equal(EPERM, Get(wo, 1));
        Assert.Equal(EPERM, Get(wo, 9)); // not ENOENT
        Assert.Equal(EPERM, Next(wo));
        Assert.Equal(0, Put(wo, 2, 2));
        Assert.Equal(0, Del(wo, 2));

        int rw = Own(ObjGet(PinPath(), 0));
        Assert.Equal(0, Put(rw, 3, 3));
        Assert.Equal(0, Get(rw, 3));
    }

    [KernelFact]
    public void MapFlagsRdonlyWronlyBindOnlyTheCreatorsFd()
    {
        int ro = PinnedMap("ro", RDONLY);
        Assert.Equal(EPERM, Put(ro, 1, 1));
        Assert.Equal(ENOENT, Get(ro, 1));
        int rw = Own(ObjGet(PinPath("ro"), 0));
        Assert.Equal(0, Put(rw, 1, 1));
        Assert.Equal(0, Get(rw, 1));
        int w = Own(ObjGet(PinPath("ro"), WRONLY));
        Assert.Equal(0, Put(w, 2, 2));
        Assert.Equal(EPERM, Get(w, 2));

        int wo = PinnedMap("wo", WRONLY);
        Assert.Equal(0, Put(wo, 1, 1));
        Assert.Equal(EPERM, Get(wo, 1));
        int rw2 = Own(ObjGet(PinPath("wo"), 0));
        Assert.Equal(0, Get(rw2, 1));
        int r = Own(ObjGet(PinPath("wo"), RDONLY));
        Assert.Equal(0, Get(r, 1));
        Assert.Equal(EPERM, Put(r, 1, 1));

        Assert.Equal(EINVAL, CreateMap(KernelBpf.MapType.Hash, 4, 4, 8, RDONLY | WRONLY));
        Assert.Equal(UnixFileMode.None, File.GetUnixFileMode(PinPath("ro")) & ~(UnixFileMode)0b110_000_000); // no trace in the mode
    }

    // ---- pin file mode -------------------------------------------------------------------------------------------

    [KernelFact]
    public void GetChecksThePinsFileModeForTheAccessAsked()
    {
        PinnedMap();
        string p = PinPath();
        int[] Try() => Cred.AsUser(Nobody, () =>
        {
            int[] r = [ObjGet(p, 0), ObjGet(p, RDONLY), ObjGet(p, WRONLY), ObjGet(p, RDONLY | WRONLY)];
            foreach (int fd in r)
                if (fd >= 0)
                    KernelBpf.Close(fd);
            return r.Select(x => x >= 0 ? 0 : x).ToArray();
        });

        // Root's pin, 0400: others have nothing. 0444: others may read.
        File.SetUnixFileMode(p, UnixFileMode.UserRead);
        Assert.Equal(new[] { EACCES, EACCES, EACCES, EINVAL }, Try());
        File.SetUnixFileMode(p, UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        Assert.Equal(new[] { EACCES, 0, EACCES, EINVAL }, Try());

        // Owned by nobody: 0 needs rw, RDONLY r, WRONLY w.
        Assert.Equal(0, Cred.Chown(p, Nobody, Nobody));
        File.SetUnixFileMode(p, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        Assert.Equal(new[] { 0, 0, 0, EINVAL }, Try());
        File.SetUnixFileMode(p, UnixFileMode.UserRead);
        Assert.Equal(new[] { EACCES, 0, EACCES, EINVAL }, Try());
        File.SetUnixFileMode(p, UnixFileMode.UserWrite);
        Assert.Equal(new[] { EACCES, EACCES, 0, EINVAL }, Try());
        File.SetUnixFileMode(p, UnixFileMode.None);
        Assert.Equal(new[] { EACCES, EACCES, EACCES, EINVAL }, Try());

        // Root bypasses the mode.
        Own(ObjGet(p, 0));

        // No search permission on the directory: EACCES, even for a missing name.
        File.SetUnixFileMode(Dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        File.SetUnixFileMode(p, (UnixFileMode)0b110_110_110);
        Assert.Equal(new[] { EACCES, EACCES }, Cred.AsUser(Nobody, () => new[] { ObjGet(p, RDONLY), ObjGet(PinPath("missing"), 0) }));
    }

    // ---- lifetime ------------------------------------------------------------------------------------------------

    [KernelFact]
    public void APinKeepsTheMapAliveUntilUnlinkedAndTheLastFdCloses()
    {
        int creator = NewMap();
        Assert.Equal(0, Put(creator, 5, 55));
        uint id = MapId(creator);
        Assert.Equal(0, ObjPin(creator, PinPath()));
        _fds.Remove(creator);
        Assert.Equal(0, KernelBpf.Close(creator));

        int got = ObjGet(PinPath(), 0);
        Assert.True(got >= 0);
        byte[] v = new byte[4];
        Assert.Equal(0, Lookup(got, U32(5), v));
        Assert.Equal(55u, BinaryPrimitives.ReadUInt32LittleEndian(v));
        Assert.Equal(id, MapId(got));

        File.Move(PinPath(), PinPath("renamed")); // bpffs allows rename
        Assert.Equal(ENOENT, ObjGet(PinPath(), 0));
        File.Delete(PinPath("renamed"));
        Assert.Equal(ENOENT, ObjGet(PinPath("renamed"), 0));
        Assert.Equal(0, Lookup(got, U32(5), v)); // the open fd still holds it
        Assert.Equal(0, KernelBpf.Close(got));

        // The map is freed after the last reference goes (deferred work): its id stops resolving.
        int byId = 0;
        for (int i = 0; i < 200; i++)
        {
            byId = MapFdById(id);
            if (byId < 0)
                break;
            KernelBpf.Close(byId);
            Thread.Sleep(10);
        }
        Assert.Equal(ENOENT, byId);
    }

    // ---- environment ---------------------------------------------------------------------------------------------

    /// <summary>bpffs at /sys/fs/bpf, mounted when it is not one yet.</summary>
    private static class BpfFs
    {
        public const string Root = "/sys/fs/bpf";
        private const long BpfFsMagic = 0xCAFE4A11;
        private static readonly Lazy<string?> s_problem = new(Mount);

        [DllImport("libc", SetLastError = true)]
        private static extern int statfs(string path, byte[] buf);

        [DllImport("libc", SetLastError = true)]
        private static extern int mount(string source, string target, string fsType, ulong flags, IntPtr data);

        public static bool IsBpfFs(string path)
        {
            byte[] buf = new byte[256]; // struct statfs; f_type is the first word on 64-bit Linux
            return statfs(path, buf) == 0 && BitConverter.ToInt64(buf, 0) == BpfFsMagic;
        }

        private static string? Mount()
        {
            if (IsBpfFs(Root))
                return null;
            if (mount("bpf", Root, "bpf", 0, IntPtr.Zero) != 0)
                return $"mount -t bpf bpf {Root} failed: errno {Marshal.GetLastPInvokeError()}";
            return IsBpfFs(Root) ? null : $"{Root} is still not bpffs after mounting";
        }

        public static string NewDirectory()
        {
            Assert.True(s_problem.Value is null, s_problem.Value);
            string dir = Path.Combine(Root, $"fastmap-objpin-{Environment.ProcessId}-{Guid.NewGuid():N}");
            Directory.CreateDirectory(dir);
            return dir;
        }
    }

    /// <summary>
    /// Runs code as another user on one dedicated thread: the raw setresuid/setresgid/setgroups syscalls change only the
    /// calling thread's credentials (glibc's wrappers would change every thread's), and dropping uid 0 clears the
    /// thread's capabilities, so DAC applies. The thread ends afterwards and is never used again.
    /// </summary>
    private static class Cred
    {
        [DllImport("libc", SetLastError = true)]
        private static extern long syscall(long number, long a, long b, long c);

        [DllImport("libc", SetLastError = true)]
        private static extern int chown(string path, uint owner, uint group);

        private static (long SetGroups, long SetResUid, long SetResGid) Numbers =>
            RuntimeInformation.ProcessArchitecture switch
            {
                Architecture.X64 => (116, 117, 119),
                Architecture.Arm64 => (159, 147, 149),
                _ => throw new PlatformNotSupportedException(),
            };

        public static int Chown(string path, uint uid, uint gid) => chown(path, uid, gid);

        public static T AsUser<T>(uint uid, Func<T> body)
        {
            T result = default!;
            Exception? error = null;
            var thread = new Thread(() =>
            {
                try
                {
                    var n = Numbers;
                    if (syscall(n.SetGroups, 0, 0, 0) != 0 || syscall(n.SetResGid, uid, uid, uid) != 0 ||
                        syscall(n.SetResUid, uid, uid, uid) != 0)
                        throw new InvalidOperationException($"dropping to uid {uid} failed: errno {Marshal.GetLastPInvokeError()}");
                    result = body();
                }
                catch (Exception e)
                {
                    error = e;
                }
            });
            thread.Start();
            thread.Join();
            if (error is not null)
                throw new InvalidOperationException("as uid " + uid + ": " + error.Message, error);
            return result;
        }

        /// <summary>The process umask, from /proc/self/status.</summary>
        public static int Umask()
        {
            foreach (string line in File.ReadLines("/proc/self/status"))
                if (line.StartsWith("Umask:", StringComparison.Ordinal))
                    return Convert.ToInt32(line["Umask:".Length..].Trim(), 8);
            return 18; // 022
        }
    }
}
