using System.Diagnostics;

namespace FastMap.Tests.Shared;

/// <summary>A second process on a shared map: tests/FastMap.SharedPeer, driven one command a line (its Program.cs lists
/// them). Killed (SIGKILL) when disposed, as a crashed process would end.</summary>
internal sealed class Peer : IDisposable
{
    private readonly Process _p;

    private Peer(Process p) => _p = p;

    /// <summary>The peer's assembly, built next to this one's configuration (the test project references it for the build).</summary>
    private static string PeerDll()
    {
        string here = AppContext.BaseDirectory;                       // .../tests/FastMap.Tests/bin/<config>/net10.0/
        string config = new DirectoryInfo(here).Parent!.Name;
        string root = Path.GetFullPath(Path.Combine(here, "../../../../.."));
        string dll = Path.Combine(root, "tests/FastMap.SharedPeer/bin", config, "net10.0/FastMap.SharedPeer.dll");
        Assert.True(File.Exists(dll), $"peer not built: {dll}");
        return dll;
    }

    /// <summary>Starts a peer; <paramref name="park"/> sets its <c>FASTMAP_TEST_PARK</c> (point[:nth]).</summary>
    public static Peer Start(string? park = null)
    {
        var psi = new ProcessStartInfo("dotnet", PeerDll())
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        if (park is not null)
            psi.Environment["FASTMAP_TEST_PARK"] = park;
        return new Peer(Process.Start(psi)!);
    }

    /// <summary>Sends one command and returns its answer line (fails the test after a minute without one).</summary>
    public string Send(string command)
    {
        _p.StandardInput.WriteLine(command);
        _p.StandardInput.Flush();
        return ReadLine();
    }

    /// <summary>Sends a command without waiting for its answer (one that parks, or runs for a while).</summary>
    public void Post(string command)
    {
        _p.StandardInput.WriteLine(command);
        _p.StandardInput.Flush();
    }

    /// <summary>The next line the peer writes.</summary>
    public string ReadLine()
    {
        Task<string?> t = _p.StandardOutput.ReadLineAsync();
        Assert.True(t.Wait(TimeSpan.FromMinutes(1)), "the peer did not answer within a minute");
        return t.Result ?? throw new InvalidOperationException($"the peer exited (code {(_p.HasExited ? _p.ExitCode : -1)})");
    }

    /// <summary>The status number of an answer ("0", "-2 ...").</summary>
    public MapStatus Status(string command) => (MapStatus)int.Parse(Send(command).Split(' ')[0]);

    /// <summary>SIGKILL, and waits until the process is gone (the kernel has dropped its locks then).</summary>
    public void Kill()
    {
        if (!_p.HasExited)
            _p.Kill();
        _p.WaitForExit();
    }

    public void Dispose()
    {
        Kill();
        _p.Dispose();
    }
}
