namespace FastMap.Stress.Data;

/// <summary>
/// The keys of one size, shared by every system at that size so all of them see the same keys and orders.
/// </summary>
/// <remarks>
/// <para>
/// The <c>max_entries</c> keys are split into <see cref="Partitions"/> partitions of <see cref="PartLength"/> keys.
/// Each partition is a cycle; the keys in the map are a window of <see cref="Present"/> (= 3/4) consecutive keys of
/// it, starting at <see cref="WindowStart"/>. Churn deletes the window's first key and inserts the key just past its
/// end, so the fill stays at exactly 3/4 and the map never needs refilling; every other workload reads the window.
/// </para>
/// <para>
/// A query is coded as <c>(r &lt;&lt; PartBits) | p</c>: the r-th present key of partition p. Mutating workloads
/// give thread t of T the partitions p with p % T == t, so per-key revisions in <see cref="Revisions"/> have one
/// writer; lookups and cmpdel-stale use every partition. Orders are random permutations fixed per (kind, T, t), made
/// once; the keys they name are copied to a per-thread array before each timed loop, which then reads it in order.
/// </para>
/// </remarks>
public sealed class KeySpace
{
    public readonly int Size, Partitions, PartBits, PartLength, Present;
    public readonly Key16[] Keys;          // [p * PartLength + pos]
    public readonly ulong[] Revisions;     // current revision of each key, same index as Keys
    private readonly int[] _windowStart;   // [p * Pad]: one cache line each, churn threads write their own
    private const int Pad = 16;
    public readonly ulong Seed;
    public readonly int OrderLength;
    private readonly Dictionary<(int kind, int threads, int t), int[]> _orders;
    private readonly Dictionary<int, Key16[]> _misses;

    /// <summary>Revisions the gc-race writer starts from; raised past anything written before each run.</summary>
    public ulong NextWriterRevision = 1UL << 40;

    public KeySpace(int size, int partitions, ulong seed, int maxOrder = 1 << 20)
    {
        if (size % partitions != 0) throw new ArgumentException("size must divide by the partition count");
        Size = size; Partitions = partitions; Seed = seed;
        PartBits = partitions <= 1 ? 0 : (int)Math.Ceiling(Math.Log2(partitions));
        PartLength = size / partitions;
        Present = PartLength / 4 * 3;
        Keys = new Key16[size];
        Revisions = new ulong[size];
        _windowStart = new int[partitions * Pad];
        _orders = [];
        _misses = [];
        Parallel.For(0, size, i => Keys[i] = SplitMix64.Key(seed, (ulong)i));
        OrderLength = Math.Min(maxOrder, Present * partitions);
    }

    private KeySpace(KeySpace shared)
    {
        (Size, Partitions, PartBits, PartLength, Present, Seed, OrderLength) =
            (shared.Size, shared.Partitions, shared.PartBits, shared.PartLength, shared.Present, shared.Seed, shared.OrderLength);
        (Keys, _orders, _misses) = (shared.Keys, shared._orders, shared._misses);
        Revisions = new ulong[Size];
        _windowStart = new int[Partitions * Pad];
    }

    /// <summary>
    /// A view for one system's map: the same keys and orders, its own window starts and revisions (churn and the
    /// writes move them, per map).
    /// </summary>
    public KeySpace ForMap() => new(this);

    public int TotalPresent => Present * Partitions;
    public int WindowStart(int p) => _windowStart[p * Pad];
    public void SetWindowStart(int p, int v) => _windowStart[p * Pad] = v;

    /// <summary>Index in <see cref="Keys"/> of the r-th present key of partition p.</summary>
    public int Slot(int p, int r)
    {
        int x = _windowStart[p * Pad] + r;
        if (x >= PartLength) x -= PartLength;
        return p * PartLength + x;
    }

    public int SlotOfCode(int code) => Slot(code & ((1 << PartBits) - 1), code >> PartBits);

    /// <summary>
    /// Index in <see cref="Keys"/> (and <see cref="Revisions"/>) of a key a scan returned, by inverting the key
    /// generator; -1 for a key that is not one of <see cref="Keys"/>.
    /// </summary>
    public int IndexOfKey(in Key16 key)
    {
        ulong i = SplitMix64.IndexOf(Seed, key);
        return i < (ulong)Size && Keys[i].Equals(key) ? (int)i : -1;
    }

    /// <summary>Index of the key churn inserts next in partition p (just past the window).</summary>
    public int NextSlot(int p) => Slot(p, Present);

    /// <summary>Partitions thread t of T owns for mutating workloads.</summary>
    public int[] Owned(int threads, int t) =>
        [.. Enumerable.Range(0, Partitions).Where(p => p % threads == t)];

    /// <summary>A random order of present-key codes: kind 0 = all partitions (reads), 1 = owned partitions.</summary>
    public int[] Order(int kind, int threads, int t)
    {
        lock (_orders)
        {
            if (_orders.TryGetValue((kind, threads, t), out var o)) return o;
            int[] parts = kind == 0 ? [.. Enumerable.Range(0, Partitions)] : Owned(threads, t);
            int n = parts.Length * Present;
            var all = new int[n];
            for (int i = 0; i < n; i++) all[i] = ((i / parts.Length) << PartBits) | parts[i % parts.Length];
            var rng = new SplitMix64.Rng(Seed ^ (ulong)(kind * 1000 + threads * 100 + t + 1) * 0x51ED27UL);
            int len = Math.Min(OrderLength, n);
            for (int i = 0; i < len; i++) { int j = i + rng.Below(n - i); (all[i], all[j]) = (all[j], all[i]); }
            o = all[..len];
            _orders[(kind, threads, t)] = o;
            return o;
        }
    }

    /// <summary>Thread t's miss keys: a key stream disjoint from <see cref="Keys"/> (indexes from 2^40 on).</summary>
    public Key16[] Misses(int t)
    {
        lock (_misses)
        {
            if (_misses.TryGetValue(t, out var m)) return m;
            m = new Key16[OrderLength];
            ulong first = (1UL << 40) + ((ulong)t << 32);
            for (int i = 0; i < m.Length; i++) m[i] = SplitMix64.Key(Seed, first + (ulong)i);
            _misses[t] = m;
            return m;
        }
    }
}
