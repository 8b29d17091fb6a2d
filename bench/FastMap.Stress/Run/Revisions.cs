namespace FastMap.Stress.Run;

/// <summary>
/// Where the gc-race/gc-pass writer publishes each key's last completed revision and the collector reads it: a
/// struct, so the loops generic over it compile to a plain array or pointer access.
/// </summary>
public interface IRevisions
{
    /// <summary>The revision cell of key slot <paramref name="slot"/> (index in <see cref="Data.KeySpace.Keys"/>).</summary>
    ref ulong this[int slot] { get; }
}

/// <summary>In-process: <see cref="Data.KeySpace.Revisions"/> of the map's view.</summary>
public readonly struct ArrayRevisions(ulong[] revisions) : IRevisions
{
    private readonly ulong[] _a = revisions;
    public ref ulong this[int slot] => ref _a[slot];
}

/// <summary>
/// Cross-process: the revision cells of a MAP_SHARED file (<see cref="XprocFile"/>) that the writer process and the
/// collector process both map; bounds are checked against the key count the file was made for.
/// </summary>
public readonly unsafe struct SharedRevisions(ulong* cells, int count) : IRevisions
{
    private readonly ulong* _p = cells;
    private readonly int _n = count;
    public ref ulong this[int slot]
    {
        get
        {
            if ((uint)slot >= (uint)_n) throw new IndexOutOfRangeException();
            return ref _p[slot];
        }
    }
}
