using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using FastMap.Kernel;

namespace FastMap.Tests.Differential;

/// <summary>
/// Shared plumbing of the kernel differential tests: the kernel gate (fail; skip only for a non-root user whom
/// bpf() refuses with EPERM, see <see cref="KernelFactAttribute"/>), a pinned
/// runner thread, pinned buffers whose addresses can go into raw attrs, and formatting.
/// </summary>
internal static class DifferentialSupport
{
    /// <summary>Fails the calling test with the probe's reason when <c>bpf()</c> cannot be used here.</summary>
    public static void RequireKernel() =>
        Assert.True(KernelBpf.IsAvailable,
            "The differential tests compare FastMap with the running kernel and need bpf() (root): " + KernelBpf.UnavailableReason);

    // DllImport, not LibraryImport: the generated stub needs unsafe code, which this project keeps out.
    [DllImport("libc", SetLastError = true)]
    private static extern int sched_setaffinity(int pid, nint cpusetsize, ulong[] mask);

    /// <summary>
    /// Runs <paramref name="body"/> on a fresh thread pinned to CPU 0 and rethrows its failure. The kernel's LRU keeps
    /// per-CPU free lists and evicts when the local list is empty and the global one holds fewer than
    /// <c>target_free</c> nodes; on one CPU that happens only near capacity, so pinning makes the kernel's side of a
    /// below-capacity LRU sequence deterministic. The other map types do not care, and are pinned for uniformity.
    /// </summary>
    /// <returns>Null if the thread was pinned, else why not.</returns>
    public static string? RunPinned(Action body)
    {
        ExceptionDispatchInfo? failure = null;
        string? pinError = null;
        var thread = new Thread(() =>
        {
            try
            {
                if (sched_setaffinity(0, sizeof(ulong), [1UL]) != 0)
                    pinError = "sched_setaffinity(CPU 0) failed: errno " + Marshal.GetLastPInvokeError();
                body();
            }
            catch (Exception e)
            {
                failure = ExceptionDispatchInfo.Capture(e);
            }
        }, 16 * 1024 * 1024);
        thread.Start();
        thread.Join();
        failure?.Throw();
        return pinError;
    }

    /// <summary>A byte array on the pinned object heap: its address stays valid for raw attrs.</summary>
    public static byte[] Pinned(int length) => GC.AllocateArray<byte>(length, pinned: true);

    /// <summary>The address of a pinned array (<see cref="Pinned"/>), or 0 (NULL) for null.</summary>
    public static ulong Address(byte[]? pinned) =>
        pinned is null ? 0 : (ulong)Marshal.UnsafeAddrOfPinnedArrayElement(pinned, 0);

    /// <summary>An errno result as the kernel would print it: 0, a descriptor, or -NAME.</summary>
    public static string Errno(int r) => r >= 0 ? r.ToString(System.Globalization.CultureInfo.InvariantCulture) : r switch
    {
        -1 => "-EPERM",
        -2 => "-ENOENT",
        -7 => "-E2BIG",
        -9 => "-EBADF",
        -12 => "-ENOMEM",
        -13 => "-EACCES",
        -14 => "-EFAULT",
        -16 => "-EBUSY",
        -17 => "-EEXIST",
        -22 => "-EINVAL",
        -28 => "-ENOSPC",
        -95 => "-EOPNOTSUPP",
        -524 => "-ENOTSUPP(524)",
        _ => r.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    /// <summary>Lower-case hex of some bytes.</summary>
    public static string Hex(ReadOnlySpan<byte> bytes) => Convert.ToHexStringLower(bytes);
}
