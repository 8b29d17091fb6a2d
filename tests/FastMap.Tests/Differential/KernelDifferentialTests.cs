using System.Buffers.Binary;
using System.Text;
using FastMap.Kernel;
using static FastMap.Tests.Differential.DifferentialSupport;

namespace FastMap.Tests.Differential;

/// <summary>
/// FastMap against the running kernel (6.18 here), command by command: random seeded sequences on a FastMap map and a
/// kernel map of the same definition must give the same return code and the same output bytes after every operation,
/// and the same key set and values at every checkpoint. Iteration order differs by design, so get_next_key on a present
/// key is checked for validity, not for identity, and key sets are compared as sets.
/// </summary>
/// <remarks>
/// Reproduce a failure with the seed printed in its message: set <c>FASTMAP_DIFF_SEED</c> to run every configuration
/// with that seed (the default is the fixed one below, so runs are reproducible without it).
/// Also in this class (partial files): <c>.Create.cs</c> (the create-parameter table) and <c>.Attr.cs</c> (raw attrs
/// through <see cref="BpfAttr.ExecuteUnsafe"/> and <see cref="KernelBpf.Sys"/>).
/// </remarks>
public sealed partial class KernelDifferentialTests
{
    private const int DefaultSeed = 20260801;
    private const int OpsPerConfig = 2500;
    private const int CheckpointEvery = 50;
    private const int ENOENT = -2;

    /// <summary>One map definition a sequence runs on.</summary>
    public sealed record SeqConfig(string Name, MapType Type, uint KeySize, uint ValueSize, uint MaxEntries,
        MapFlags Flags = MapFlags.None, uint? LockOffset = null)
    {
        public override string ToString() => Name;
    }

    private static readonly SeqConfig[] s_configs =
    [
        new("hash_k4_v4_max8", MapType.Hash, 4, 4, 8),
        new("hash_k16_v32_max64", MapType.Hash, 16, 32, 64),
        new("hash_k3_v5_max16", MapType.Hash, 3, 5, 16),
        new("hash_k8_v1_max32", MapType.Hash, 8, 1, 32),
        new("hash_noprealloc_k4_v4_max16", MapType.Hash, 4, 4, 16, MapFlags.NoPrealloc),
        new("hash_noprealloc_k16_v32_max32", MapType.Hash, 16, 32, 32, MapFlags.NoPrealloc),
        new("hash_noprealloc_k3_v5_max8", MapType.Hash, 3, 5, 8, MapFlags.NoPrealloc),
        new("hash_noprealloc_k8_v1_max64", MapType.Hash, 8, 1, 64, MapFlags.NoPrealloc),
        new("percpu_k4_v4_max8", MapType.PercpuHash, 4, 4, 8),
        new("percpu_k16_v32_max32", MapType.PercpuHash, 16, 32, 32),
        new("percpu_k3_v5_max16", MapType.PercpuHash, 3, 5, 16),
        new("percpu_k8_v1_max64", MapType.PercpuHash, 8, 1, 64),
        new("percpu_noprealloc_k4_v4_max16", MapType.PercpuHash, 4, 4, 16, MapFlags.NoPrealloc),
        new("percpu_noprealloc_k3_v5_max8", MapType.PercpuHash, 3, 5, 8, MapFlags.NoPrealloc),
        new("array_v4_max8", MapType.Array, 4, 4, 8),
        new("array_v32_max64", MapType.Array, 4, 32, 64),
        new("array_v5_max16", MapType.Array, 4, 5, 16),
        new("array_v1_max32", MapType.Array, 4, 1, 32),
        new("lru_k4_v4_max16", MapType.LruHash, 4, 4, 16),
        new("lru_k16_v32_max64", MapType.LruHash, 16, 32, 64),
        new("lru_k3_v5_max32", MapType.LruHash, 3, 5, 32),
        new("lru_k8_v1_max64", MapType.LruHash, 8, 1, 64),
        new("hash_spinlock_k4_v8_lock0_max16", MapType.Hash, 4, 8, 16, LockOffset: 0),
        new("hash_spinlock_noprealloc_k4_v12_lock4_max8", MapType.Hash, 4, 12, 8, MapFlags.NoPrealloc, LockOffset: 4),
        new("array_spinlock_v8_lock4_max16", MapType.Array, 4, 8, 16, LockOffset: 4),
    ];

    public static TheoryData<string> Configs()
    {
        var data = new TheoryData<string>();
        foreach (SeqConfig c in s_configs)
            data.Add(c.Name);
        return data;
    }

    private static int Seed()
    {
        string? env = Environment.GetEnvironmentVariable("FASTMAP_DIFF_SEED");
        return env is null ? DefaultSeed : int.Parse(env, System.Globalization.CultureInfo.InvariantCulture);
    }

    [KernelTheory]
    [MemberData(nameof(Configs))]
    public void RandomSequencesAnswerAsTheKernelDoes(string config)
    {
        RequireKernel();
        SeqConfig c = s_configs.Single(x => x.Name == config);
        // Each configuration gets its own stream, derived from the one seed, so a failure names one seed to rerun.
        int baseSeed = Seed();
        string? pinError = RunPinned(() => new Sequence(c, baseSeed).Run(OpsPerConfig));
        if (c.Type == MapType.LruHash)
            Assert.True(pinError is null, "LRU sequences need CPU pinning to be deterministic on the kernel side: " + pinError);
    }

    private static int StableHash(string s)
    {
        int h = 17;
        foreach (char ch in s)
            h = (h * 31) + ch;
        return h;
    }

    /// <summary>One seeded run: a FastMap map, a kernel map, a model of the key set, and the op log.</summary>
    private sealed class Sequence
    {
        private readonly SeqConfig _c;
        private readonly int _seed;
        private readonly int _stream;
        private readonly Random _rng;
        private readonly byte[][] _keys;
        private readonly int _valueBytes;
        private readonly bool _array;
        private readonly bool _lru;
        private readonly int _lruCap;
        // The key set as both sides agreed it to be (hash types only; every array index always exists).
        private readonly HashSet<string> _present = [];
        private readonly Queue<string> _history = new();
        // "op errno" -> count, to prove the sequence reached the outcomes it is meant to compare.
        private readonly SortedDictionary<string, int> _outcomes = new(StringComparer.Ordinal);
        private int _op;

        public Sequence(SeqConfig c, int seed)
        {
            _c = c;
            _seed = seed;
            _stream = seed ^ StableHash(c.Name);
            _rng = new Random(_stream);
            _array = c.Type == MapType.Array;
            _lru = c.Type == MapType.LruHash;
            int cpus = KernelBpf.PossibleCpus;
            _valueBytes = c.Type == MapType.PercpuHash ? (int)((c.ValueSize + 7) & ~7u) * cpus : (int)c.ValueSize;
            // Kernel LRU (common list): target_free = clamp(max / cpus / 2, 1, 128) nodes move to a CPU's local free
            // list at a time, and the list is shrunk (an element evicted) when fewer than that are free globally.
            // Staying at or below max - 2 * target_free - 1 live keys keeps every update's node pop eviction-free.
            int targetFree = Math.Clamp((int)c.MaxEntries / cpus / 2, 1, 128);
            _lruCap = (int)c.MaxEntries - (2 * targetFree) - 1;
            _keys = _array ? ArrayKeys(c.MaxEntries) : HashKeys((int)c.KeySize, (int)(c.MaxEntries + (c.MaxEntries / 2) + 2));
        }

        // Indices in range, just past it, and far past it.
        private static byte[][] ArrayKeys(uint max)
        {
            var list = new List<byte[]>();
            for (uint i = 0; i < max + 3; i++)
                list.Add(U32(i));
            list.Add(U32(uint.MaxValue));
            list.Add(U32(1u << 31));
            return [.. list];
        }

        private static byte[] U32(uint v)
        {
            byte[] b = new byte[4];
            BinaryPrimitives.WriteUInt32LittleEndian(b, v);
            return b;
        }

        // Distinct keys: the id little-endian in the first bytes, a per-position pattern after it.
        private static byte[][] HashKeys(int keySize, int count)
        {
            var keys = new byte[count][];
            for (int id = 0; id < count; id++)
            {
                byte[] k = new byte[keySize];
                for (int i = 0; i < keySize; i++)
                    k[i] = i < 4 ? (byte)(((id + 1) * 0x9E3779B1u) >> (8 * i)) : (byte)((id * 31) + (i * 7) + 0x5A);
                keys[id] = k;
            }
            Assert.Equal(count, keys.Select(k => Hex(k)).Distinct().Count());
            return keys;
        }

        public void Run(int ops)
        {
            MapDefinition def = new(_c.Type, _c.KeySize, _c.ValueSize, _c.MaxEntries)
            {
                Flags = _c.Flags,
                SpinLockOffset = _c.LockOffset,
            };
            MapStatus created = BpfMap.Create(def, out BpfMap? fm);
            int fd = _c.LockOffset is uint lockOffset
                ? KernelBpf.CreateMapWithSpinLock((uint)_c.Type, _c.ValueSize, _c.MaxEntries, lockOffset, (uint)_c.Flags)
                : KernelBpf.CreateMap((uint)_c.Type, _c.KeySize, _c.ValueSize, _c.MaxEntries, (uint)_c.Flags);
            try
            {
                Assert.True(created == MapStatus.Ok, $"{_c.Name}: FastMap create gave {created}");
                Assert.True(fd >= 0, $"{_c.Name}: kernel create gave {Errno(fd)} {KernelBpf.LastBtfLog}");
                Assert.True(fm!.ValueBufferSize == _valueBytes,
                    $"{_c.Name}: FastMap value buffer {fm.ValueBufferSize} bytes, kernel {_valueBytes}");
                for (_op = 0; _op < ops; _op++)
                {
                    Step(fm, fd);
                    if ((_op + 1) % CheckpointEvery == 0)
                        Checkpoint(fm, fd);
                }
                Checkpoint(fm, fd);
                RequireOutcomes();
            }
            finally
            {
                fm?.Dispose();
                if (fd >= 0)
                    KernelBpf.Close(fd);
            }
        }

        private byte[] PickKey()
        {
            // Mostly present keys when there are some, so hits, EEXIST and deletes happen as often as misses.
            if (!_array && _present.Count > 0 && _rng.Next(3) == 0)
            {
                string hex = _present.ElementAt(_rng.Next(_present.Count));
                return Convert.FromHexString(hex);
            }
            return _keys[_rng.Next(_keys.Length)];
        }

        private T Pick<T>(T[] choices) => choices[_rng.Next(choices.Length)];

        private static readonly ulong[] s_updateFlags = [0, 0, 0, 1, 1, 2, 2, 4, 4 | 1, 4 | 2, 3, 1UL << 32, 8, 32];
        private static readonly ulong[] s_fillFlags = [0, 0, 0, 1, 1, 2];
        private static readonly ulong[] s_lookupFlags = [0, 0, 0, 0, 0, 0, 4, 4, 1, 2, 1UL << 32];
        private static readonly ulong[] s_lookupAndDeleteFlags = [0, 0, 0, 0, 0, 4, 1, 2];

        private void Step(BpfMap fm, int fd)
        {
            // Alternating phases of 250 ops: a filling phase drives the map to full (E2BIG), a mixed one drains it.
            bool filling = (_op / 250) % 2 == 0;
            int kind = _rng.Next(100);
            if (kind < (filling ? 65 : 35))
                DoUpdate(fm, fd);
            else if (kind < (filling ? 78 : 55))
                DoLookup(fm, fd);
            else if (kind < (filling ? 83 : 70))
                DoDelete(fm, fd);
            else if (kind < (filling ? 88 : 82))
                DoLookupAndDelete(fm, fd);
            else
                DoGetNextKey(fm, fd);
        }

        private void DoUpdate(BpfMap fm, int fd)
        {
            // While filling: any key of the universe and valid flags, so the map reaches full; else the whole mix.
            bool filling = (_op / 250) % 2 == 0 && _rng.Next(4) != 0;
            byte[] key = filling ? _keys[_rng.Next(_keys.Length)] : PickKey();
            ulong flags = filling ? Pick(s_fillFlags) : Pick(s_updateFlags);
            // LRU below capacity only: every kernel LRU update takes a node first (even one that then fails), so the
            // cap applies to each update, and a new key at the cap is swapped for a present one.
            if (_lru && _present.Count >= _lruCap && !_present.Contains(Hex(key)))
            {
                if (_present.Count == 0)
                    return;
                key = Convert.FromHexString(_present.ElementAt(_rng.Next(_present.Count)));
            }
            byte[] value = new byte[_valueBytes];
            _rng.NextBytes(value);
            string what = $"update key={Hex(key)} value={Hex(value)} flags=0x{flags:x}";
            int f = (int)fm.Update(key, value, (ElemFlags)flags);
            int k = KernelBpf.Update(fd, key, value, flags);
            Same(what, f, k);
            if (k == 0 && !_array)
                _present.Add(Hex(key));
        }

        private void DoLookup(BpfMap fm, int fd)
        {
            byte[] key = PickKey();
            ulong flags = Pick(s_lookupFlags);
            string what = $"lookup key={Hex(key)} flags=0x{flags:x}";
            byte[] fv = Sentinel(_valueBytes);
            byte[] kv = Sentinel(_valueBytes);
            int f = (int)fm.Lookup(key, fv, (ElemFlags)flags);
            int k = KernelBpf.Lookup(fd, key, kv, flags);
            Same(what, f, k);
            SameBytes(what, "value", fv, kv);
        }

        private void DoDelete(BpfMap fm, int fd)
        {
            byte[] key = PickKey();
            string what = $"delete key={Hex(key)}";
            int f = (int)fm.Delete(key);
            int k = KernelBpf.Delete(fd, key);
            Same(what, f, k);
            if (k == 0)
                _present.Remove(Hex(key));
        }

        private void DoLookupAndDelete(BpfMap fm, int fd)
        {
            byte[] key = PickKey();
            ulong flags = Pick(s_lookupAndDeleteFlags);
            string what = $"lookup_and_delete key={Hex(key)} flags=0x{flags:x}";
            byte[] fv = Sentinel(_valueBytes);
            byte[] kv = Sentinel(_valueBytes);
            int f = (int)fm.LookupAndDelete(key, fv, (ElemFlags)flags);
            int k = KernelBpf.LookupAndDelete(fd, key, kv, flags);
            Same(what, f, k);
            SameBytes(what, "value", fv, kv);
            if (k == 0)
                _present.Remove(Hex(key));
        }

        private void DoGetNextKey(BpfMap fm, int fd)
        {
            int mode = _rng.Next(3); // 0: NULL, 1: a key (present or not), 2: a key known to be absent
            byte[] key = mode == 0 ? [] : PickKey();
            if (mode == 2 && !_array)
            {
                byte[][] absent = [.. _keys.Where(x => !_present.Contains(Hex(x)))];
                key = absent.Length > 0 ? absent[_rng.Next(absent.Length)] : key;
            }
            bool present = _array ? key.Length == 4 && BinaryPrimitives.ReadUInt32LittleEndian(key) < _c.MaxEntries
                : key.Length > 0 && _present.Contains(Hex(key));
            string what = $"get_next_key key={(key.Length == 0 ? "NULL" : Hex(key))} ({(present ? "present" : "absent")})";
            byte[] fn = Sentinel((int)_c.KeySize);
            byte[] kn = Sentinel((int)_c.KeySize);
            int f = (int)fm.GetNextKey(key, fn);
            int k = KernelBpf.GetNextKey(fd, key, kn);
            if (_array || !present || _present.Count <= 1)
            {
                // Arrays iterate by index; from NULL or an absent key both sides start over; with one key, a present
                // key is also the last. Only which key comes first differs by design (bucket vs slot order).
                Same(what, f, k);
                if (_array)
                    SameBytes(what, "next_key", fn, kn);
                else if (k == 0)
                {
                    Check(_present.Contains(Hex(fn)), what, $"FastMap returned next_key {Hex(fn)}, which is not in the map");
                    Check(_present.Contains(Hex(kn)), what, $"kernel returned next_key {Hex(kn)}, which is not in the map (test model bug?)");
                }
            }
            else
            {
                // A present key among several: the successor depends on the order, so check each side is valid.
                Log(what, f, k);
                Check(f is 0 or ENOENT, what, $"FastMap gave {Errno(f)}, expected 0 or -ENOENT");
                Check(k is 0 or ENOENT, what, $"kernel gave {Errno(k)}");
                if (f == 0)
                    Check(_present.Contains(Hex(fn)) && Hex(fn) != Hex(key), what,
                        $"FastMap returned next_key {Hex(fn)}: not another key of the map");
            }
        }

        private static byte[] Sentinel(int length)
        {
            byte[] b = new byte[length];
            b.AsSpan().Fill(0xA5);
            return b;
        }

        /// <summary>Both iterations from NULL visit each key once; the sets and every value are equal.</summary>
        private void Checkpoint(BpfMap fm, int fd)
        {
            List<string> fk = Iterate((cur, next) => (int)fm.GetNextKey(cur, next), "FastMap");
            List<string> kk = Iterate((cur, next) => KernelBpf.GetNextKey(fd, cur, next), "kernel");
            var fs = fk.ToHashSet();
            var ks = kk.ToHashSet();
            if (!fs.SetEquals(ks))
                Fail("checkpoint", $"key sets differ. Only in FastMap: [{string.Join(' ', fs.Except(ks).Order())}]; " +
                    $"only in kernel: [{string.Join(' ', ks.Except(fs).Order())}]");
            if (!_array && !ks.SetEquals(_present))
                Fail("checkpoint", $"the kernel's key set is not what the replies implied (an LRU eviction?): " +
                    $"kernel-only [{string.Join(' ', ks.Except(_present).Order())}], " +
                    $"missing [{string.Join(' ', _present.Except(ks).Order())}]");
            foreach (string hex in kk)
            {
                byte[] key = Convert.FromHexString(hex);
                byte[] fv = Sentinel(_valueBytes);
                byte[] kv = Sentinel(_valueBytes);
                string what = $"checkpoint lookup key={hex}";
                Same(what, (int)fm.Lookup(key, fv), KernelBpf.Lookup(fd, key, kv));
                SameBytes(what, "value", fv, kv);
            }
        }

        private List<string> Iterate(Func<byte[], byte[], int> getNext, string side)
        {
            var seen = new List<string>();
            byte[] cur = [];
            // One more step than keys can exist proves the walk ends.
            int limit = (_array ? (int)_c.MaxEntries : _keys.Length) + 2;
            for (int i = 0; i <= limit; i++)
            {
                byte[] next = new byte[_c.KeySize];
                int r = getNext(cur, next);
                if (r == ENOENT)
                {
                    if (seen.Count != seen.Distinct().Count())
                        Fail("checkpoint", $"{side}'s iteration returned a key twice: {string.Join(' ', seen)}");
                    return seen;
                }
                if (r != 0)
                    Fail("checkpoint", $"{side}'s get_next_key after {(cur.Length == 0 ? "NULL" : Hex(cur))} gave {Errno(r)}");
                seen.Add(Hex(next));
                cur = next;
            }
            Fail("checkpoint", $"{side}'s iteration did not end after {limit} keys: {string.Join(' ', seen)}");
            return seen;
        }

        private void Same(string what, int fastMap, int kernel)
        {
            Log(what, fastMap, kernel);
            if (fastMap != kernel)
                Fail(what, $"FastMap returned {Errno(fastMap)}, the kernel {Errno(kernel)}");
        }

        private void SameBytes(string what, string field, byte[] fastMap, byte[] kernel)
        {
            if (!fastMap.AsSpan().SequenceEqual(kernel))
                Fail(what, $"{field} bytes differ: FastMap {Hex(fastMap)}, kernel {Hex(kernel)}");
        }

        private void Check(bool ok, string what, string message)
        {
            if (!ok)
                Fail(what, message);
        }

        private void RequireOutcomes()
        {
            string[] needed = _array
                ? ["update 0", "update -E2BIG", "update -EEXIST", "update -EINVAL", "lookup 0", "lookup -ENOENT",
                   "delete -EINVAL", "lookup_and_delete -ENOTSUPP(524)", "get_next_key 0", "get_next_key -ENOENT"]
                : ["update 0", "update -EEXIST", "update -ENOENT", "update -EINVAL", "lookup 0", "lookup -ENOENT",
                   "lookup -EINVAL", "delete 0", "delete -ENOENT", "lookup_and_delete 0", "lookup_and_delete -ENOENT",
                   "get_next_key 0"];
            // A full map must be reached, except under the LRU cap that keeps eviction out of the comparison.
            if (!_array && !_lru)
                needed = [.. needed, "update -E2BIG"];
            string[] missing = [.. needed.Where(n => !_outcomes.ContainsKey(n))];
            Check(missing.Length == 0, "end of run", $"the sequence never produced [{string.Join(", ", missing)}]; " +
                $"outcomes: {string.Join(", ", _outcomes.Select(o => $"{o.Key} x{o.Value}"))}");
        }

        private void Log(string what, int fastMap, int kernel)
        {
            string op = what[..what.IndexOf(' ', StringComparison.Ordinal)];
            if (op != "checkpoint")
            {
                string outcome = $"{op} {Errno(kernel)}";
                _outcomes[outcome] = _outcomes.GetValueOrDefault(outcome) + 1;
            }
            _history.Enqueue($"#{_op} {what} -> fm {Errno(fastMap)} / kernel {Errno(kernel)}");
            if (_history.Count > 12)
                _history.Dequeue();
        }

        private void Fail(string what, string message)
        {
            var sb = new StringBuilder();
            sb.Append($"{_c.Name}: seed={_seed} (FASTMAP_DIFF_SEED; stream {_stream}) op#{_op} {what}: {message}");
            sb.Append($"\n  definition: type={_c.Type} key={_c.KeySize} value={_c.ValueSize} max={_c.MaxEntries} flags={_c.Flags} lock={_c.LockOffset?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none"}");
            sb.Append($"\n  live keys (model): {_present.Count}");
            sb.Append("\n  last ops:");
            foreach (string h in _history)
                sb.Append("\n    ").Append(h);
            Assert.Fail(sb.ToString());
        }
    }
}
