using System.Globalization;
using FastMap.Stress.Run;

namespace FastMap.Stress;

/// <summary>The run's typed options; <see cref="Describe"/> is printed with the results.</summary>
public sealed class StressOptions
{
    public const int S = 65_536, L = 4_194_304;

    public List<(string Name, int Entries)> Sizes { get; set; } = [("S", S), ("L", L)];
    public List<int> Threads { get; set; } = [1, 2];
    /// <summary>Timed seconds per measurement of one system (its <see cref="Slices"/> slices together).</summary>
    public double Seconds { get; set; } = 0.1;
    /// <summary>
    /// Slices a measurement is cut into. Within a round and workload, systems take turns slice by slice (A B C A B C
    /// ...), so a change in the host's speed (these VMs share cores and memory with other tenants; a DRAM access
    /// costs 150-600 ns depending on the hour) falls on every system alike instead of on whichever ran then.
    /// </summary>
    public int Slices { get; set; } = 5;
    /// <summary>gc-race seconds per variant (longer: the race is a rate); gc-pass wall seconds of passes per system and round (at least one).</summary>
    public double GcSeconds { get; set; } = 0.3;
    /// <summary>gc-pass writer refreshes per second, in millions; 0: as fast as it can. Default 2: every system's
    /// collector then faces the same refresh pressure. Unpaced, a faster map's writer refreshes more entries (measured:
    /// FastMap's 5.8-22.9 M/s across the rounds of one run, libcuckoo's 3.6-11), which its collector must then keep,
    /// so the deleted-per-second figure fell for the faster map: it measured the writer, not the collector.</summary>
    public double GcWriterMops { get; set; } = 2;
    public int Rounds { get; set; } = 3;
    public List<Workload> Workloads { get; set; } = [.. Run.Workloads.All];
    public List<string>? Systems { get; set; }
    public string? Out { get; set; }
    public bool Quick { get; set; }
    public string? NativeLib { get; set; }
    public ulong Seed { get; set; } = 0x5EED;
    public long DramBytes { get; set; } = 512L << 20;
    public bool Plots { get; set; } = true;

    /// <summary>Warm-up of a system before its first slice of a measurement.</summary>
    public double WarmupSeconds => Math.Min(Seconds / 5, 0.05);

    /// <summary>Warm-up at the start of every slice: the caches hold another system's data after its turn.</summary>
    public double SliceWarmupSeconds => Math.Min(Seconds / Slices / 5, 0.005);

    /// <summary>--quick: tiny sizes and durations, a smoke run for CI.</summary>
    public void ApplyQuick()
    {
        Quick = true;
        Sizes = [("S", 4_096), ("L", 32_768)];
        Seconds = 0.02;
        Slices = 2;
        GcSeconds = 0.05;
        Rounds = 2;
        DramBytes = 64L << 20;
    }

    public static List<(string, int)> ParseSizes(string s) =>
        [.. s.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(x => x.ToUpperInvariant() switch
        {
            "S" => ("S", S),
            "L" => ("L", L),
            var n => (n, int.Parse(n, CultureInfo.InvariantCulture)),
        })];

    public string Describe() => string.Join(" ", new[]
    {
        $"--sizes {string.Join(',', Sizes.Select(z => z.Name is "S" or "L" && (z.Entries == S || z.Entries == L) ? z.Name : z.Entries.ToString(CultureInfo.InvariantCulture)))}",
        $"--threads {string.Join(',', Threads)}",
        $"--seconds {Seconds.ToString(CultureInfo.InvariantCulture)}",
        $"--slices {Slices}",
        $"--gc-seconds {GcSeconds.ToString(CultureInfo.InvariantCulture)}",
        GcWriterMops > 0 ? $"--gc-writer-mops {GcWriterMops.ToString(CultureInfo.InvariantCulture)}" : "",
        $"--rounds {Rounds}",
        $"--workloads {string.Join(',', Workloads.Select(w => w.Name()))}",
        $"--systems {(Systems is null ? "all" : string.Join(',', Systems))}",
        $"--seed 0x{Seed:X}",
        Quick ? "(--quick)" : "",
    }.Where(x => x.Length > 0));
}
