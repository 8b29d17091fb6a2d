using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

// Every export takes and returns only blittable types, so no marshalling stub is generated and a
// wrong signature is a compile error rather than a silent copy (the runtime's NativeAOT guidance).
[assembly: DisableRuntimeMarshalling]

namespace FastMap.Native;

/// <summary>
/// The C ABI of <c>include/fastmap.h</c>: one thin shim per function. Each shim checks what the
/// header says it checks, calls one method of <c>FastMap.Internal.RawCommands</c>, and turns a
/// negative result into <c>errno</c> as libbpf does. The engine already returns <c>-EFAULT</c> for a
/// NULL key or value in the kernel's order (after the flag, handle and permission checks), so the
/// shims pass those pointers through instead of checking them first.
/// </summary>
/// <remarks>
/// No managed exception may cross into C: in NativeAOT an exception escaping an
/// <see cref="UnmanagedCallersOnlyAttribute"/> method ends the process. Every int-returning shim
/// therefore wraps its one call in <see cref="Guard"/>'s catch-all. The engine throws only on out
/// of memory; anything else (a NullReferenceException from an unmapped low address the caller
/// passed) is reported as a bad address.
/// </remarks>
internal static unsafe partial class Exports
{
    /// <summary>Every entry point is <c>Prefix + name</c>: <c>fmrt_map_create</c> for the header's
    /// <c>fm_map_create</c>. The <c>fm_*</c> symbols themselves are defined in <c>errno_guard.c</c>, which keeps
    /// the caller's errno across the runtime's start-up and thread attach, and calls these; only they are
    /// exported (the version script in the project file).</summary>
    internal const string Prefix = "fmrt_";

    /// <summary>
    /// Sets <c>errno</c> for a failed call and passes the result through. Successful calls leave
    /// errno untouched, as libbpf's <c>libbpf_err</c> does.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Result(int ret)
    {
        if (ret < 0)
            *__errno_location() = -ret;
        return ret;
    }

    /// <summary>Maps an exception that reached the boundary to the negative errno the caller sees.</summary>
    private static int Guard(Exception e) => Result(e is OutOfMemoryException
        ? (int)MapStatus.ENOMEM
        : (int)MapStatus.EFAULT);

    /// <summary>Sets errno for the shims that return a pointer instead of an int.</summary>
    private static void SetErrno(MapStatus status) => *__errno_location() = -(int)status;

    // glibc's per-thread errno. Bound at link time (DirectPInvoke "libc" in the csproj), so the
    // call is a plain PLT call: no dlopen, no marshalling (DisableRuntimeMarshalling above). No GC
    // transition either: __errno_location only returns a thread-local address, never blocks, and
    // failed calls are hot paths too (a compare-and-delete of a refreshed entry answers -EBUSY; the
    // transition measured 5-7 ns there).
    [DllImport("libc"), SuppressGCTransition]
    private static extern int* __errno_location();
}
