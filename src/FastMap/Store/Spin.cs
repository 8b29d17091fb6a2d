namespace FastMap.Internal;

/// <summary>The slow paths of FastMap's spin locks (group locks, value locks, shard locks).</summary>
internal static unsafe class Spin
{
    /// <summary>Spins until <paramref name="word"/> goes from 0 to 1 under this thread's CAS.</summary>
    public static void Acquire(int* word) => Acquire(word, 1, null);

    /// <summary>Spins until <paramref name="word"/> goes from 0 to <paramref name="me"/> under this thread's CAS. In a
    /// shared map (<paramref name="shared"/>), a holder that stays is checked now and then: a dead process's lock
    /// is recovered (<see cref="SharedDomain.RecoverOwner"/>).</summary>
    public static void Acquire(int* word, int me, SharedDomain? shared)
    {
        var spin = new SpinWait();
        for (int n = 1; ; n++)
        {
            // Never sleeps: a holder may be inside a read-side section, and sleeping here would only
            // delay it (locks are held for bounded work and never across a grace-period wait).
            spin.SpinOnce(sleep1Threshold: -1);
            int held = Volatile.Read(ref *word);
            if (held == 0 && Interlocked.CompareExchange(ref *word, me, 0) == 0)
                return;
            if (shared is not null && held != 0 && (n & DeadCheckMask) == 0 && !shared.OwnerAlive(held))
                shared.RecoverOwner(held);
        }
    }

    /// <summary>A spinner on a shared map's lock checks its holder every this many + 1 spins (a syscall: rare).</summary>
    public const int DeadCheckMask = 255;
}
