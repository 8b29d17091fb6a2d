using System.Diagnostics;
using System.Runtime.InteropServices;

namespace FastMap.Stress.Systems;

/// <summary>The native peers' shared libraries (bench/peers/), built with bench/peers/build.sh when missing or stale.</summary>
public static class NativePeers
{
    private static readonly Lock s_lock = new();
    private static string? s_buildError;
    private static bool s_built;

    /// <summary>Loads bench/peers/out/<paramref name="so"/> (building the peers first if it is missing, or older than
    /// its source or any of <paramref name="inputs"/>), or gives why not.</summary>
    public static IntPtr Load(string so, string source, out string? reason, params string[] inputs)
    {
        string peers = Path.Combine(Repo.Root, "bench/peers");
        string path = Path.Combine(peers, "out", so);
        string src = Path.Combine(peers, source);
        lock (s_lock)
        {
            bool stale = !File.Exists(path) || inputs.Append(src)
                .Any(f => File.Exists(f) && File.GetLastWriteTimeUtc(f) > File.GetLastWriteTimeUtc(path));
            if (!s_built && stale)
            {
                s_built = true;
                try
                {
                    var psi = new ProcessStartInfo("bash", [Path.Combine(peers, "build.sh")])
                    { RedirectStandardError = true, RedirectStandardOutput = true };
                    using var p = Process.Start(psi)!;
                    string err = p.StandardError.ReadToEnd();
                    p.WaitForExit();
                    if (p.ExitCode != 0)
                        s_buildError = $"bench/peers/build.sh exited {p.ExitCode}: {err.Trim()}";
                }
                catch (Exception e) { s_buildError = "could not run bench/peers/build.sh: " + e.Message; }
            }
        }
        if (!File.Exists(path))
        {
            reason = s_buildError ?? $"{path} was not built";
            return IntPtr.Zero;
        }
        if (!NativeLibrary.TryLoad(path, out IntPtr h)) { reason = $"NativeLibrary.TryLoad({path}) failed"; return IntPtr.Zero; }
        reason = null;
        return h;
    }
}
