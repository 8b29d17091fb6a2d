using System.Runtime.InteropServices;

namespace FastMap.Internal;

/// <summary>The few libc calls a shared map needs: files, mappings, open-file-description locks, membarrier.
/// Each returns what libc returns; <see cref="Errno"/> gives the errno after a failure.</summary>
internal static unsafe partial class Posix
{
    public const int O_RDONLY = 0, O_RDWR = 2, O_CREAT = 0x40, O_EXCL = 0x80, O_CLOEXEC = 0x80000, O_NOFOLLOW = 0x20000;
    public const int O_TMPFILE = 0x410000;                 // __O_TMPFILE | O_DIRECTORY
    public const int PROT_NONE = 0, PROT_READ = 1, PROT_WRITE = 2;
    public const int MAP_SHARED = 1, MAP_PRIVATE = 2, MAP_FIXED = 0x10, MAP_ANONYMOUS = 0x20, MAP_NORESERVE = 0x4000;
    public const int AT_FDCWD = -100, AT_SYMLINK_FOLLOW = 0x400;
    public const int F_OFD_GETLK = 36, F_OFD_SETLK = 37;
    public const short F_RDLCK = 0, F_WRLCK = 1, F_UNLCK = 2;
    public const int S_IFMT = 0xF000, S_IFREG = 0x8000;

    public const int EPERM = 1, ENOENT = 2, EINTR = 4, EBADF = 9, EAGAIN = 11, ENOMEM = 12, EACCES = 13, EEXIST = 17, EXDEV = 18,
        ENOTDIR = 20, EISDIR = 21, EINVAL = 22, ENOSPC = 28, EROFS = 30, ELOOP = 40, ENAMETOOLONG = 36;

    /// <summary><c>struct flock</c> (x86-64 and arm64 layout).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct Flock
    {
        public short Type;
        public short Whence;
        public long Start;
        public long Len;
        public int Pid;
    }

    /// <summary>The fields of <c>struct stat</c> a shared map reads (x86-64 layout: 144 bytes).</summary>
    [StructLayout(LayoutKind.Explicit, Size = 144)]
    public struct Stat
    {
        [FieldOffset(24)] public uint Mode;
        [FieldOffset(48)] public long Size;
    }

    public static int Errno => Marshal.GetLastPInvokeError();

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Open(string path, int flags, uint mode);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    public static partial int Close(int fd);

    [LibraryImport("libc", EntryPoint = "ftruncate", SetLastError = true)]
    public static partial int Ftruncate(int fd, long length);

    [LibraryImport("libc", EntryPoint = "fstat", SetLastError = true)]
    public static partial int Fstat(int fd, Stat* st);

    [LibraryImport("libc", EntryPoint = "linkat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Linkat(int olddirfd, string oldpath, int newdirfd, string newpath, int flags);

    [LibraryImport("libc", EntryPoint = "mmap", SetLastError = true)]
    public static partial nint Mmap(nint addr, nuint length, int prot, int flags, int fd, long offset);

    [LibraryImport("libc", EntryPoint = "munmap", SetLastError = true)]
    public static partial int Munmap(nint addr, nuint length);

    [LibraryImport("libc", EntryPoint = "mprotect", SetLastError = true)]
    public static partial int Mprotect(nint addr, nuint length, int prot);

    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    public static partial int FcntlLock(int fd, int cmd, Flock* lk);

    [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
    public static partial nint Write(int fd, byte* buf, nuint count);

    [LibraryImport("libc", EntryPoint = "getpid")]
    public static partial int GetPid();

    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    private static partial long Syscall3(long number, long a, long b, long c);

    private const long SYS_membarrier = 324;  // x86-64

    /// <summary><c>membarrier(cmd, 0, 0)</c>: 0 (or the query's mask), or -1 with errno.</summary>
    public static long Membarrier(int cmd) => Syscall3(SYS_membarrier, cmd, 0, 0);
}
