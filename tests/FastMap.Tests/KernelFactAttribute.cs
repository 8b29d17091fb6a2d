using FastMap.Kernel;

namespace FastMap.Tests;

/// <summary>
/// When the kernel-backed tests (Kernel/, Differential/) skip: only when <c>bpf()</c> refuses a 1-entry map with
/// <c>EPERM</c> and the process is not root, i.e. a developer's plain user (no CAP_BPF, or
/// <c>kernel.unprivileged_bpf_disabled</c>). As root, which CI is, they always run, and any other failure (root
/// refused, no bpf() at all) still fails them with the probe's reason, as before: a broken CI machine must not
/// turn into a green run. Probed once, at discovery.
/// </summary>
internal static class KernelGate
{
    /// <summary>The skip reason, or null to run the kernel-backed tests.</summary>
    public static readonly string? SkipReason = Probe();

    private static string? Probe()
    {
        if (!OperatingSystem.IsLinux() || KernelBpf.IsAvailable || Environment.IsPrivilegedProcess)
            return null;
        int fd = KernelBpf.CreateMap(KernelBpf.MapType.Hash, 4, 4, 1);
        if (fd >= 0)
        {
            KernelBpf.Close(fd);
            return null;
        }
        if (fd != -KernelBpf.Errno.EPERM)
            return null;
        string sysctl;
        try
        {
            sysctl = "kernel.unprivileged_bpf_disabled=" + File.ReadAllText("/proc/sys/kernel/unprivileged_bpf_disabled").Trim();
        }
        catch (IOException)
        {
            sysctl = "kernel.unprivileged_bpf_disabled unreadable";
        }
        return $"not root: bpf(BPF_MAP_CREATE) is refused with EPERM ({sysctl}); this test compares with the kernel " +
               "and runs as root (CI does), or with CAP_BPF";
    }
}

/// <summary>A <see cref="FactAttribute"/> for a test that calls the kernel's <c>bpf()</c>: skipped (with the reason)
/// only as <see cref="KernelGate"/> says.</summary>
public sealed class KernelFactAttribute : FactAttribute
{
    /// <summary>Sets <see cref="FactAttribute.Skip"/> when bpf() is refused to a non-root user.</summary>
    public KernelFactAttribute()
    {
        if (KernelGate.SkipReason is { } reason)
            Skip = reason;
    }
}

/// <summary>The <see cref="TheoryAttribute"/> form of <see cref="KernelFactAttribute"/>.</summary>
public sealed class KernelTheoryAttribute : TheoryAttribute
{
    /// <summary>Sets <see cref="FactAttribute.Skip"/> when bpf() is refused to a non-root user.</summary>
    public KernelTheoryAttribute()
    {
        if (KernelGate.SkipReason is { } reason)
            Skip = reason;
    }
}
