using System.Runtime.CompilerServices;

namespace FastMap.Internal;

internal sealed unsafe partial class SharedDomain
{
    // The test hook of the kill tests (tests/FastMap.Tests/Shared/CrossProcessTests.cs, tests/c/kill_storm.c).

    /// <summary>Points of a shared map's code where a test can park a process (then kill it): see <see cref="Park"/>.</summary>
    public enum ParkPoint
    {
        /// <summary>A value overwritten in place, its block's version odd.</summary>
        ValueOdd = 1,
        /// <summary>A key unlinked, its token not yet given back.</summary>
        Unlinked = 2,
        /// <summary>A token taken for an insert, the key not yet placed.</summary>
        TokenTaken = 3,
        /// <summary>A new key's tag published, the token's spend not yet recorded.</summary>
        Published = 4,
        /// <summary>Inside a read-side section, holding a value's address.</summary>
        InSection = 5,
        /// <summary>Holding the overflow pool's lock.</summary>
        PoolLocked = 6,
        /// <summary>Holding a capacity shard's lock, its count changed.</summary>
        ShardLocked = 7,
        /// <summary>Holding the recovery lock, recovering a dead process.</summary>
        Recovering = 8,
        /// <summary>Holding a group lock, nothing changed yet.</summary>
        GroupLocked = 9,
    }

    private static readonly int s_parkPoint = ParseParkSetting(out s_parkCountdown);
    private static int s_parkCountdown;

    private static int ParseParkSetting(out int nth)
    {
        // FASTMAP_TEST_PARK=<point>[:<nth>]: a test's child process parks (prints "parked <point>" on fd 1 and sleeps for
        // good) at the nth time it reaches the point. Unset, every Park call is one compare of a static.
        nth = 1;
        string? v = Environment.GetEnvironmentVariable("FASTMAP_TEST_PARK");
        if (string.IsNullOrEmpty(v))
            return 0;
        string[] parts = v.Split(':');
        if (parts.Length > 1 && int.TryParse(parts[1], out int n) && n > 0)
            nth = n;
        return int.TryParse(parts[0], out int p) ? p : 0;
    }

    /// <summary>The test hook: parks the process at <paramref name="point"/> if <c>FASTMAP_TEST_PARK</c> names it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Park(ParkPoint point)
    {
        if (s_parkPoint == (int)point)
            ParkSlow(point);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ParkSlow(ParkPoint point)
    {
        if (Interlocked.Decrement(ref s_parkCountdown) != 0)
            return;
        byte[] line = System.Text.Encoding.ASCII.GetBytes($"parked {(int)point}\n");
        fixed (byte* p = line)
            _ = Posix.Write(1, p, (nuint)line.Length);
        Thread.Sleep(Timeout.Infinite);
    }
}
