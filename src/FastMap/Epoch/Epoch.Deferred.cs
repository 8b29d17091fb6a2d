namespace FastMap.Internal;

internal static unsafe partial class Epoch
{
    // Whole things wait here for their grace period: a closed map's store (DeferDispose, from
    // BpfMap.Dispose). Rare, so a lock and a managed list are fine; slots and overflow records have
    // their own reuse rules (limbo stamps in HashStore, the limbo list in Overflow).
    private static readonly List<(long Tag, IDisposable Owner)> s_deferred = [];
    private static readonly Lock s_deferredLock = new();
    private static int s_deferredCount;     // s_deferred.Count, readable without the lock

    /// <summary>Disposes <paramref name="owner"/> (a closed map's table) after a grace period.</summary>
    public static void DeferDispose(IDisposable owner)
    {
        long tag = Current;
        lock (s_deferredLock)
        {
            s_deferred.Add((tag, owner));
            s_deferredCount = s_deferred.Count;
        }
    }

    /// <summary>Advances if it can and disposes the deferred stores that became safe.</summary>
    public static void Collect()
    {
        TryAdvance();
        DrainDeferred();
    }

    private static void DrainDeferred()
    {
        lock (s_deferredLock)
        {
            for (int i = s_deferred.Count - 1; i >= 0; i--)
            {
                if (!IsSafe(s_deferred[i].Tag))
                    continue;
                s_deferred[i].Owner.Dispose();
                s_deferred.RemoveAt(i);
            }
            s_deferredCount = s_deferred.Count;
        }
    }

    /// <summary>Test view: stores still waiting for a grace period.</summary>
    internal static int DeferredCountForTests
    {
        get { lock (s_deferredLock) return s_deferred.Count; }
    }
}
