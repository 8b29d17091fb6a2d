namespace FastMap.Fuzz;

/// <summary>
/// The maps commands run against: one small map of each kind, made afresh before every input, so
/// that an input means the same thing whichever inputs ran before it (AFL's stability, and a
/// deterministic replay). All hash maps use BPF_F_ZERO_SEED for the same reason:
/// iteration order and batch cursors then depend on the keys alone.
/// </summary>
internal sealed class LiveMaps
{
    /// <summary>The modelled map's capacity: small, so that E2BIG is reachable and a full check is cheap.</summary>
    public const int ModelMaxEntries = 6;
    public const int ModelKeySize = 4, ModelValueSize = 12;

    private const MapFlags Seed = MapFlags.ZeroSeed;
    private readonly MapDefinition[] _definitions =
    [
        new(MapType.Hash, ModelKeySize, ModelValueSize, ModelMaxEntries) { Flags = Seed, Name = "model" },
        new(MapType.LruHash, 4, 8, 4) { Flags = Seed, Name = "lru" },
        new(MapType.PercpuHash, 4, 4, 4) { Flags = Seed, Name = "percpu" },
        new(MapType.Array, 4, 12, 4) { Name = "array" },
        new(MapType.Hash, 4, 16, 4) { Flags = Seed, Name = "locked", SpinLockOffset = 8 },
        new(MapType.Hash, 4, 8, 4) { Flags = Seed | MapFlags.ReadOnly, Name = "rdonly" },
        new(MapType.Hash, 4, 8, 4) { Flags = Seed | MapFlags.WriteOnly, Name = "wronly" },
    ];

    private readonly BpfMap[] _maps;
    private BpfMap? _scratch;          // the last map a fuzzed BPF_MAP_CREATE made, closed after the input

    public LiveMaps()
    {
        _maps = [.. _definitions.Select(BpfMap.Create)];
        // A handle that was valid and is closed now: the next free number (a scratch map may take it
        // during an input; the harness resolves every fd afresh, so that stays consistent).
        BpfMap closed = BpfMap.Create(_definitions[1]);
        ClosedHandle = closed.Handle;
        closed.Dispose();
    }

    /// <summary>The plain HASH map the harness keeps a model of.</summary>
    public BpfMap Model => _maps[0];

    public int ClosedHandle { get; }

    /// <summary>
    /// Picks the map fd for a command: mostly the modelled map, each other live map, the fuzzed
    /// CREATE's map, and handles that name nothing (closed, 0, negative, any number).
    /// </summary>
    public int Choose(byte selector, ref Carver input) => (selector & 15) switch
    {
        <= 3 or 15 => _maps[0].Handle,
        var s and >= 4 and <= 9 => _maps[s - 3].Handle,
        10 => _scratch?.Handle ?? ClosedHandle,
        11 => ClosedHandle,
        12 => 0,
        13 => -1 - (selector >> 4),
        _ => (int)input.U32(),
    };

    /// <summary>Takes over a map a fuzzed CREATE made (closing the previous one): inputs may create many.</summary>
    public void Adopt(int handle)
    {
        BpfMap? made = BpfMap.FromHandle(handle) ?? throw new OracleFailure($"CREATE returned {handle}, which names no map");
        _scratch?.Dispose();
        _scratch = made;
    }

    /// <summary>
    /// Closes every map and makes the live ones again: the state every input starts from. Emptying
    /// them would be cheaper, but a store keeps history a delete does not undo (capacity tokens on
    /// per-CPU shards, retired slots), and so does the process-wide epoch: AFL measured 76% stability
    /// emptying maps, 82% remaking only the maps an input used, 95% remaking all (each close runs
    /// the epoch's collection, which leaves it in the same state before every input), at 60% of the
    /// speed. A saved crash must replay on its own, so determinism wins.
    /// </summary>
    public void Reset()
    {
        _scratch?.Dispose();
        _scratch = null;
        foreach (BpfMap m in _maps)
            m.Dispose();
        // Same order, lowest free handles: every input sees the same handle numbers.
        for (int i = 0; i < _maps.Length; i++)
            _maps[i] = BpfMap.Create(_definitions[i]);
    }

}
