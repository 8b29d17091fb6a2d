namespace FastMap.Fuzz;

/// <summary>
/// An oracle violation. Thrown, not logged: SharpFuzz reports any exception out of the target as a
/// crash to AFL, and replay counts it as a failed input.
/// </summary>
internal sealed class OracleFailure(string message) : Exception(message)
{
    /// <summary>Throws unless <paramref name="condition"/> holds.</summary>
    public static void Check(bool condition, string what)
    {
        if (!condition)
            throw new OracleFailure(what);
    }
}
