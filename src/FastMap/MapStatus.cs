namespace FastMap;

/// <summary>
/// The result of every FastMap operation: 0 or a negative Linux errno, the value <c>bpf()</c> would
/// return. Expected outcomes (<see cref="ENOENT"/>, <see cref="EBUSY"/>, <see cref="EEXIST"/>) and
/// argument errors are statuses, never exceptions, so the hot path does not throw.
/// </summary>
public enum MapStatus
{
    /// <summary>Success.</summary>
    Ok = 0,
    /// <summary>The handle lacks the permission (<c>BPF_F_RDONLY</c>/<c>BPF_F_WRONLY</c>).</summary>
    EPERM = -1,
    /// <summary>No such key, or the end of an iteration.</summary>
    ENOENT = -2,
    /// <summary>A path's directory is not a directory (<see cref="BpfMap.Pin"/>, <see cref="BpfMap.Open(string?, MapFlags, out BpfMap?)"/>).</summary>
    ENOTDIR = -20,
    /// <summary>The map is full, or a size is too large.</summary>
    E2BIG = -7,
    /// <summary>Bad or closed handle.</summary>
    EBADF = -9,
    /// <summary>A shared map's pin path lies on another file system than the map's file (<see cref="BpfMap.Pin"/>).</summary>
    EXDEV = -18,
    /// <summary>A path name too long (<see cref="BpfMap.Open(string?, MapFlags, out BpfMap?)"/>).</summary>
    ENAMETOOLONG = -36,
    /// <summary>Too many symbolic links in a path (<see cref="BpfMap.Open(string?, MapFlags, out BpfMap?)"/>).</summary>
    ELOOP = -40,
    /// <summary>Out of memory.</summary>
    ENOMEM = -12,
    /// <summary>A required pointer or buffer is missing or too short.</summary>
    EFAULT = -14,
    /// <summary>Access denied: a spin-lock value with program-side access flags (<c>BPF_F_RDONLY_PROG</c>/<c>BPF_F_WRONLY_PROG</c>).</summary>
    EACCES = -13,
    /// <summary>Compare-and-delete or compare-and-swap update: the window no longer matches; nothing was deleted or written.</summary>
    EBUSY = -16,
    /// <summary>The key exists (<c>BPF_NOEXIST</c>).</summary>
    EEXIST = -17,
    /// <summary>An invalid argument, flag or size.</summary>
    EINVAL = -22,
    /// <summary>No room in the caller's buffer (batch commands).</summary>
    ENOSPC = -28,
    /// <summary>A shared map's file has another layout version than this build reads (<see cref="BpfMap.Open(string?, MapFlags, out BpfMap?)"/>).</summary>
    EPROTO = -71,
    /// <summary>The map type does not support the operation.</summary>
    EOPNOTSUPP = -95,
    /// <summary>The kernel-internal <c>ENOTSUPP</c> (524), which <c>bpf()</c> leaks to user space.</summary>
    ENOTSUPP = -524,
}
