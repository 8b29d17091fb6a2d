using System.Diagnostics;
using System.Runtime.InteropServices;

namespace FastMap.Stress.Report;

/// <summary>What the results were measured on.</summary>
public static class Machine
{
    public static List<(string Key, string Value)> Describe()
    {
        var d = new List<(string, string)>
        {
            ("host", Environment.MachineName),
            ("cpu", CpuModel()),
            ("cores", $"{Environment.ProcessorCount} logical"),
            ("caches", Caches()),
            ("memory", MemTotal()),
            ("kernel", Read("/proc/sys/kernel/osrelease") ?? RuntimeInformation.OSDescription),
            ("os", RuntimeInformation.OSDescription),
            (".NET", RuntimeInformation.FrameworkDescription + $" ({RuntimeInformation.ProcessArchitecture})"),
            ("GC", $"server={System.Runtime.GCSettings.IsServerGC}, latency={System.Runtime.GCSettings.LatencyMode}"),
            ("THP", Read("/sys/kernel/mm/transparent_hugepage/enabled") ?? "unknown"),
            ("timer", $"Stopwatch {Stopwatch.Frequency} Hz, back-to-back read {TimerOverheadNs():F1} ns"),
        };
        return d;
    }

    private static string? Read(string path)
    {
        try { return File.ReadAllText(path).Trim(); } catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
    }

    private static string CpuModel()
    {
        string? info = Read("/proc/cpuinfo");
        var line = info?.Split('\n').FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal));
        return line is null ? "unknown" : line[(line.IndexOf(':') + 1)..].Trim();
    }

    private static string MemTotal()
    {
        var line = Read("/proc/meminfo")?.Split('\n').FirstOrDefault(l => l.StartsWith("MemTotal", StringComparison.Ordinal));
        return line?.Split(':')[1].Trim() ?? "unknown";
    }

    /// <summary>Cache sizes from sysfs, or from getconf where sysfs has none (some VMs).</summary>
    public static string Caches()
    {
        var parts = new List<string>();
        try
        {
            foreach (var dir in Directory.GetDirectories("/sys/devices/system/cpu/cpu0/cache", "index*").Order())
                parts.Add($"L{Read(dir + "/level")} {Read(dir + "/type")} {Read(dir + "/size")}");
        }
        catch (IOException) { }
        if (parts.Count > 0) return string.Join(", ", parts) + " (sysfs)";
        try
        {
            var psi = new ProcessStartInfo("getconf", ["-a"]) { RedirectStandardOutput = true, RedirectStandardError = true };
            using var p = Process.Start(psi)!;
            string o = p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            foreach (var l in o.Split('\n'))
            {
                var f = l.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (f.Length == 2 && f[0].EndsWith("CACHE_SIZE", StringComparison.Ordinal) && long.TryParse(f[1], out long b) && b > 0)
                    parts.Add($"{f[0].Replace("_CACHE_SIZE", "").Replace("LEVEL", "L")} {b / 1024} KiB");
            }
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or IOException) { }
        return parts.Count > 0 ? string.Join(", ", parts) + " (getconf; no sysfs cache info)" : "unknown";
    }

    public static double TimerOverheadNs()
    {
        long best = long.MaxValue;
        for (int i = 0; i < 10_000; i++)
        {
            long a = Stopwatch.GetTimestamp(), b = Stopwatch.GetTimestamp();
            best = Math.Min(best, b - a);
        }
        return best * 1e9 / Stopwatch.Frequency;
    }
}
