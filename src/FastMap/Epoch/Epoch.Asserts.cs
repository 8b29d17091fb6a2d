using System.Diagnostics;

namespace FastMap.Internal;

internal static partial class Epoch
{
    [Conditional("DEBUG")]
    private static void AssertEntered(object? slot) =>
        Debug.Assert(slot is ThreadSlot { Depth: > 0 },
            "Epoch.Exit without a matching Enter: every read-side section must be left exactly once, on the thread that entered it.");

    /// <summary>Asserts that the caller is inside a section (the lock-free read paths' precondition).</summary>
    [Conditional("DEBUG")]
    public static void AssertProtected() =>
        Debug.Assert(IsProtected,
            "lock-free table read outside a read-side section: enter Epoch (or a ReadSection) first, as rcu_read_lock() precedes a lookup.");
}
