namespace FastMap.Internal;

internal static unsafe partial class Epoch
{
    // Whole things wait here for their grace period: a closed map's store (DeferDispose, from
    // BpfMap.Dispose), or a NativeBlock (DeferFree; no caller uses it now). Rare, so a lock and a
    // managed list are fine; slots and overflow records have their own reuse rules (limbo stamps in
    // HashStore, the limbo list in Overflow).
    private static readonly List<(long Tag, nint Block, IDisposable? Owner)> s_deferred = [];
    private static readonly Lock s_deferredLock = new();
    private static int s_deferredCount;     // s_deferred.Count, readable without the lock

    /// <summary>
    /// Frees <paramref name="block"/> (from <see cref="NativeBlock.AllocZeroed"/>) once every reader
    /// that could see it has left its section (rule 4). Call only after the block is unreachable
    /// for new readers; the tag is read here, after that unlink.
    /// </summary>
    public static void DeferFree(void* block)
    {
        if (block is null)
            return;
        long tag = Current;
        lock (s_deferredLock)
        {
            s_deferred.Add((tag, (nint)block, null));
            s_deferredCount = s_deferred.Count;
        }
    }

    /// <summary>Disposes <paramref name="owner"/> (a closed map's table) after a grace period.</summary>
    public static void DeferDispose(IDisposable owner)
    {
        long tag = Current;
        lock (s_deferredLock)
        {
            s_deferred.Add((tag, 0, owner));
            s_deferredCount = s_deferred.Count;
        }
    }

    /// <summary>Advances if it can and frees the deferred blocks that became safe.</summary>
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
                if (s_deferred[i].Owner is { } owner)
                    owner.Dispose();
                else
                    NativeBlock.Free((void*)s_deferred[i].Block);
                s_deferred.RemoveAt(i);
            }
            s_deferredCount = s_deferred.Count;
        }
    }

    /// <summary>Test view: blocks still waiting for a grace period.</summary>
    internal static int DeferredCountForTests
    {
        get { lock (s_deferredLock) return s_deferred.Count; }
    }
}
