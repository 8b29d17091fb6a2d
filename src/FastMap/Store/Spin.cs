namespace FastMap.Internal;

/// <summary>The slow paths of FastMap's spin locks (group locks, value locks, shard locks).</summary>
internal static unsafe class Spin
{
    /// <summary>Spins until <paramref name="word"/> goes from 0 to 1 under this thread's CAS.</summary>
    public static void Acquire(int* word)
    {
        var spin = new SpinWait();
        do
        {
            // Never sleeps: a holder may be inside a read-side section, and sleeping here would only
            // delay it (locks are held for bounded work and never across a grace-period wait).
            spin.SpinOnce(sleep1Threshold: -1);
        }
        while (Volatile.Read(ref *word) != 0 || Interlocked.CompareExchange(ref *word, 1, 0) != 0);
    }
}
