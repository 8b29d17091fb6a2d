using System.Globalization;
using System.Text;
using FastMap.Kernel;
using static FastMap.Tests.Differential.DifferentialSupport;

namespace FastMap.Tests.Differential;

// The randomised part of the batch differential: seeded sequences of batch and single-element commands.
public sealed partial class BatchDifferentialTests
{
    private const int RandomOps = 600;

    private static readonly MapConfig[] s_random =
    [
        new("hash_k4_v8_max16", MapType.Hash, 4, 8, 16),
        new("hash_noprealloc_k16_v32_max32", MapType.Hash, 16, 32, 32, MapFlags.NoPrealloc),
        new("percpu_k4_v8_max16", MapType.PercpuHash, 4, 8, 16),
        new("percpu_noprealloc_k3_v12_max16", MapType.PercpuHash, 3, 12, 16, MapFlags.NoPrealloc),
        new("lru_k8_v16_max64", MapType.LruHash, 8, 16, 64),
        new("hash_spinlock_k4_v8_max16", MapType.Hash, 4, 8, 16, LockOffset: 0),
        new("array_v8_max16", MapType.Array, 4, 8, 16),
        new("array_spinlock_v8_max8", MapType.Array, 4, 8, 8, LockOffset: 4),
    ];

    public static TheoryData<string> RandomConfigs() => Names(s_random.Select(c => c.Name));

    /// <summary>
    /// A seeded mix of batch and single-element commands on both sides. Each update/delete batch and single op must
    /// give the kernel's status and count; lookup batches are checked where the bucket layouts allow it: a full scan
    /// returns the model exactly (each key once, its value, a final <c>-ENOENT</c>), a single call returns a subset of
    /// the model with the right values (all of it when it says <c>-ENOENT</c>), and a single lookup_and_delete_batch
    /// call deletes exactly what it returned (the two sides are then brought back in line by single deletes).
    /// Array lookup batches are compared call by call. The content is compared every 50 ops and at the end.
    /// </summary>
    [KernelTheory]
    [MemberData(nameof(RandomConfigs))]
    public void RandomBatchSequencesAnswerAsTheKernelDoes(string config)
    {
        RequireKernel();
        MapConfig c = s_random.Single(x => x.Name == config);
        string? pinError = RunPinned(() => new RandomBatchSequence(c).Run(RandomOps));
        if (c.Type == MapType.LruHash)
            Assert.True(pinError is null, "LRU maps need CPU pinning for the kernel side to be deterministic: " + pinError);
    }

    /// <summary>One seeded run; see <see cref="RandomBatchSequencesAnswerAsTheKernelDoes"/>.</summary>
    private sealed class RandomBatchSequence
    {
        private readonly MapConfig _c;
        private readonly string _seed;
        private readonly Random _rng;
        private readonly bool _array;
        private readonly bool _lru;
        private readonly int _lruCap;
        private readonly byte[][] _universe;
        private readonly Dictionary<string, string> _model = [];
        private readonly Queue<string> _history = new();
        private readonly SortedDictionary<string, int> _outcomes = new(StringComparer.Ordinal);
        private BatchPair _p = null!;
        private int _op;

        public RandomBatchSequence(MapConfig c)
        {
            _c = c;
            (_rng, _seed) = Stream(c.Name);
            _array = c.Type == MapType.Array;
            _lru = c.Type == MapType.LruHash;
            _lruCap = LruCap(c.MaxEntries);
            if (_array)
            {
                var ix = Enumerable.Range(0, (int)c.MaxEntries + 3).Select(i => (uint)i).Append(uint.MaxValue).Append(1u << 31);
                _universe = [.. ix.Select(i => BitConverter.GetBytes(i))];
            }
            else
                _universe = [.. RandomKeys(_rng, (int)c.KeySize, (int)(c.MaxEntries + (c.MaxEntries / 2) + 2))];
        }

        private bool HasLock => _c.LockOffset is not null;

        public void Run(int ops)
        {
            using (_p = new BatchPair(_c.Type, _c.KeySize, _c.ValueSize, _c.MaxEntries, _c.Flags, _c.LockOffset))
            {
                if (_array)
                {
                    for (uint i = 0; i < _c.MaxEntries; i++)
                        _model[Hex(BitConverter.GetBytes(i))] = Hex(new byte[_p.ValueBytes]);
                }
                for (_op = 0; _op < ops; _op++)
                {
                    if (_array)
                        ArrayStep();
                    else
                        HashStep();
                    if ((_op + 1) % 50 == 0)
                        Checkpoint();
                }
                Checkpoint();
                RequireOutcomes();
            }
        }

        /// <summary>Phases of 100 ops: a filling one drives the map to full (E2BIG), a mixed one drains it.</summary>
        private bool Filling => (_op / 100) % 2 == 0;

        private void HashStep()
        {
            int kind = _rng.Next(100);
            if (Filling)
            {
                // Nothing deletes here, so every phase reaches a full map.
                if (kind < 25)
                    SingleUpdate();
                else if (kind < 70)
                    UpdateBatch();
                else if (kind < 80)
                    FullScan(false);
                else if (kind < 92)
                    OneLookupCall(false);
                else
                    SingleLookup();
                return;
            }
            if (kind < 10)
                SingleUpdate();
            else if (kind < 18)
                SingleDelete();
            else if (kind < 43)
                UpdateBatch();
            else if (kind < 66)
                DeleteBatch();
            else if (kind < 76)
                FullScan(false);
            else if (kind < 86)
                OneLookupCall(false);
            else if (kind < 96)
                OneLookupCall(true);
            else if (kind < 98)
                FullScan(true);
            else
                SingleLookup();
        }

        private void ArrayStep()
        {
            int kind = _rng.Next(100);
            if (kind < 30)
                UpdateBatch();
            else if (kind < 45)
                SingleUpdate();
            else if (kind < 80)
                ArrayWalk();
            else if (kind < 88)
                DeleteBatch();
            else if (kind < 94)
                ArrayLookupAndDelete();
            else
                FullScan(false);
        }

        private byte[] NewValue() => RandomValue(_rng, _p.ValueBytes, null);

        /// <summary>A value as both sides store it: the spin-lock word reads back as zero.</summary>
        private string Stored(byte[] value)
        {
            byte[] v = (byte[])value.Clone();
            if (_c.LockOffset is uint off)
                v.AsSpan((int)off, 4).Clear();
            return Hex(v);
        }

        private byte[] PickKey(bool preferPresent)
        {
            if (!_array && preferPresent && _model.Count > 0 && _rng.Next(3) != 0)
                return Convert.FromHexString(_model.Keys.ElementAt(_rng.Next(_model.Count)));
            return _universe[_rng.Next(_universe.Length)];
        }

        /// <summary>Keys for an update; on an LRU, new keys past the eviction-free ceiling become present ones.</summary>
        private List<byte[]> UpdateKeys(int n)
        {
            var keys = new List<byte[]>();
            var live = new HashSet<string>(_model.Keys);
            for (int i = 0; i < n; i++)
            {
                byte[] k = PickKey(!Filling && _rng.Next(3) == 0);
                if (_lru && !live.Contains(Hex(k)) && live.Count >= _lruCap)
                {
                    if (live.Count == 0)
                        continue;
                    k = Convert.FromHexString(live.ElementAt(_rng.Next(live.Count)));
                }
                live.Add(Hex(k));
                keys.Add(k);
            }
            return keys;
        }

        private T Pick<T>(params T[] choices) => choices[_rng.Next(choices.Length)];

        private void SingleUpdate()
        {
            byte[] key = UpdateKeys(1).FirstOrDefault() ?? PickKey(true);
            ulong flags = Pick<ulong>(0, 0, 0, 1, 2) | (HasLock && _rng.Next(3) == 0 ? Lock : 0);
            byte[] value = NewValue();
            int f = _p.Fm.UpdateElem(key, value, flags), k = _p.Kernel.UpdateElem(key, value, flags);
            Same($"update key={Hex(key)} flags=0x{flags:x}", f, k);
            if (k == 0)
                _model[Hex(key)] = Stored(value);
        }

        private void SingleDelete()
        {
            byte[] key = PickKey(true);
            int f = _p.Fm.DeleteElem(key), k = _p.Kernel.DeleteElem(key);
            Same($"delete key={Hex(key)}", f, k);
            if (k == 0)
                _model.Remove(Hex(key));
        }

        private void SingleLookup()
        {
            byte[] key = PickKey(true);
            byte[] fv = new byte[_p.ValueBytes], kv = new byte[_p.ValueBytes];
            int f = (int)_p.Map.Lookup(key, fv), k = KernelBpf.Lookup(_p.Fd, key, kv);
            string what = $"lookup key={Hex(key)}";
            Same(what, f, k);
            if (k == 0 && (Hex(fv) != Hex(kv) || Hex(kv) != _model[Hex(key)]))
                Fail(what, $"values: FastMap {Hex(fv)}, kernel {Hex(kv)}, model {_model[Hex(key)]}");
        }

        /// <summary>An element-level error can come from either; elem_flags, batch.flags and permissions stop a
        /// batch before its first element, where the API reports count 0 and the attr the caller's count.</summary>
        private BatchTarget FmTarget(bool argumentsValid) => argumentsValid && _rng.Next(3) == 0 ? _p.Api : _p.Fm;

        private (ulong ElemFlags, ulong Flags) BatchFlags()
        {
            ulong ef = _rng.Next(12) switch
            {
                0 => Pick<ulong>(1, 2, 3, 4, 8, 1UL << 32),   // 4 (BPF_F_LOCK) is invalid without a spin lock
                1 or 2 or 3 => HasLock ? Lock : 0,
                _ => 0,
            };
            return (ef, _rng.Next(12) == 0 ? Pick<ulong>(1, 1UL << 40) : 0);
        }

        private void UpdateBatch()
        {
            int n = _rng.Next(0, 8);
            List<byte[]> keys = UpdateKeys(n);
            List<byte[]> values = [.. keys.Select(_ => NewValue())];
            (ulong ef, ulong flags) = BatchFlags();
            bool valid = flags == 0 && (ef == 0 || (ef == Lock && HasLock));
            BatchTarget fm = FmTarget(valid);
            string what = $"update_batch [{string.Join(' ', keys.Select(k => Hex(k)))}] elem_flags=0x{ef:x} flags=0x{flags:x} via {fm.Name}";
            BatchReply k = _p.Kernel.Update(Pack(keys, _p.KeySize), Pack(values, _p.ValueBytes), (uint)keys.Count, ef, flags);
            BatchReply f = fm.Update(Pack(keys, _p.KeySize), Pack(values, _p.ValueBytes), (uint)keys.Count, ef, flags);
            SameReply(what, f, k);
            for (int i = 0; i < k.Count && (k.Ret == 0 || k.Count < keys.Count); i++)
                _model[Hex(keys[i])] = Stored(values[i]);
        }

        private void DeleteBatch()
        {
            int n = _rng.Next(0, 7);
            List<byte[]> keys = [.. Enumerable.Range(0, n).Select(_ => PickKey(_rng.Next(5) != 0))];
            (ulong ef, ulong flags) = BatchFlags();
            bool valid = flags == 0 && (ef == 0 || (ef == Lock && HasLock)) && !_array;
            BatchTarget fm = FmTarget(valid);
            string what = $"delete_batch [{string.Join(' ', keys.Select(k => Hex(k)))}] elem_flags=0x{ef:x} flags=0x{flags:x} via {fm.Name}";
            BatchReply k = _p.Kernel.Delete(Pack(keys, _p.KeySize), (uint)keys.Count, ef, flags);
            BatchReply f = fm.Delete(Pack(keys, _p.KeySize), (uint)keys.Count, ef, flags);
            SameReply(what, f, k);
            for (int i = 0; i < k.Count && (k.Ret == 0 || k.Count < keys.Count); i++)
                _model.Remove(Hex(keys[i]));
        }

        private void FullScan(bool delete)
        {
            int room = Pick(1, 2, 3, 5, 8, 64);
            ulong ef = HasLock && _rng.Next(2) == 0 ? Lock : 0;
            BatchTarget fm = _rng.Next(2) == 0 ? _p.Api : _p.Fm;
            string what = $"{(delete ? "lookup_and_delete_batch" : "lookup_batch")} full scan room={room} elem_flags={ef} via {fm.Name}";
            Log(what, "scan", "scan");
            BatchScan.AssertIs(BatchScan.Scan(_p.Kernel, delete, room, Where(what), ef), _model, Where(what) + " kernel");
            BatchScan.AssertIs(BatchScan.Scan(fm, delete, room, Where(what), ef), _model, Where(what) + " " + fm.Name);
            if (delete)
                _model.Clear();
        }

        /// <summary>One lookup(_and_delete)_batch call from the start on each side, checked against the model.</summary>
        private void OneLookupCall(bool delete)
        {
            uint room = (uint)_rng.Next(1, 7);
            ulong ef = HasLock && _rng.Next(2) == 0 ? Lock : 0;
            string what = $"one {(delete ? "lookup_and_delete_batch" : "lookup_batch")} call room={room} elem_flags={ef}";
            var got = new List<Dictionary<string, string>>();
            var replies = new List<BatchReply>();
            foreach (BatchTarget t in new BatchTarget[] { _p.Kernel, _p.Fm })
            {
                byte[] keys = Pinned((int)room * _p.KeySize), values = Pinned((int)room * _p.ValueBytes);
                BatchReply r = t.Lookup(delete, null, room, keys, values, ef);
                replies.Add(r);
                Count($"{(delete ? "lookup_and_delete_batch" : "lookup_batch")} {t.Name} {Errno(r.Ret)}");
                if (r.Ret is not (0 or ENOENT or ENOSPC) || r.Count > room || (r.Ret == ENOSPC) != (r.Count == 0 && _model.Count > 0))
                    Fail(what, $"{t.Name} answered {r} with {_model.Count} entries in the map");
                var entries = new Dictionary<string, string>();
                for (int i = 0; i < r.Count; i++)
                {
                    string k = Hex(keys.AsSpan(i * _p.KeySize, _p.KeySize)), v = Hex(values.AsSpan(i * _p.ValueBytes, _p.ValueBytes));
                    if (!_model.TryGetValue(k, out string? want) || want != v || !entries.TryAdd(k, v))
                        Fail(what, $"{t.Name} returned {k}={v}: model has {want ?? "no such key"} (or the key came twice)");
                }
                if (r.Ret == ENOENT && entries.Count != _model.Count)
                    Fail(what, $"{t.Name} ended the map (-ENOENT) after {entries.Count} of {_model.Count} entries");
                got.Add(entries);
            }
            _history.Enqueue($"#{_op} {what} -> kernel {replies[0]} / FastMap {replies[1]}");
            if (!delete)
                return;
            // Each side deleted what it returned: bring them back in line by deleting the other side's keys.
            foreach (string k in got[1].Keys.Where(k => !got[0].ContainsKey(k)))
                Same($"resync: kernel delete {k}", 0, _p.Kernel.DeleteElem(Convert.FromHexString(k)));
            foreach (string k in got[0].Keys.Where(k => !got[1].ContainsKey(k)))
                Same($"resync: FastMap delete {k}", _p.Fm.DeleteElem(Convert.FromHexString(k)), 0);
            foreach (string k in got[0].Keys.Concat(got[1].Keys))
                _model.Remove(k);
        }

        /// <summary>Array lookup_batch from a random cursor, up to three calls, compared byte for byte.</summary>
        private void ArrayWalk()
        {
            uint max = _c.MaxEntries;
            uint? cursor = _rng.Next(8) switch
            {
                0 => null,
                1 => uint.MaxValue,
                2 => max - 1,
                _ => (uint)_rng.Next((int)max + 3),
            };
            uint count = (uint)Pick(1, 2, 3, 5, 20);
            ulong ef = _rng.Next(10) switch { 0 => 8, 1 or 2 or 3 => Lock, _ => 0 };
            ulong flags = _rng.Next(6) == 0 ? 1u : 0u;
            for (int call = 0; call < 3; call++)
            {
                string what = $"array lookup_batch in_batch={cursor?.ToString(CultureInfo.InvariantCulture) ?? "NULL"} count={count} elem_flags=0x{ef:x} flags=0x{flags:x}";
                byte[] fk = Pinned((int)count * 4), fv = Pinned((int)count * _p.ValueBytes);
                byte[] kk = Pinned((int)count * 4), kv = Pinned((int)count * _p.ValueBytes);
                BatchReply f = _p.Fm.Lookup(false, cursor, count, fk, fv, ef, flags);
                BatchReply k = _p.Kernel.Lookup(false, cursor, count, kk, kv, ef, flags);
                SameReply(what, f, k);
                if (!fk.AsSpan().SequenceEqual(kk) || !fv.AsSpan().SequenceEqual(kv))
                    Fail(what, $"buffers differ: FastMap {Hex(fk)} {Hex(fv)}, kernel {Hex(kk)} {Hex(kv)}");
                for (int i = 0; k.Ret is 0 or ENOENT && i < k.Count; i++)
                {
                    string key = Hex(kk.AsSpan(i * 4, 4)), value = Hex(kv.AsSpan(i * _p.ValueBytes, _p.ValueBytes));
                    if (_model[key] != value)
                        Fail(what, $"index {key} = {value}, model {_model[key]}");
                }
                if (k.Ret != 0)
                    return;
                cursor = k.OutBatch;
            }
        }

        private void ArrayLookupAndDelete()
        {
            uint count = (uint)_rng.Next(0, 4);
            ulong ef = _rng.Next(3) == 0 ? 8UL : 0UL;
            byte[] keys = Pinned(4 * 4), values = Pinned(4 * _p.ValueBytes);
            BatchReply f = _p.Fm.Lookup(true, null, count, keys, values, ef);
            BatchReply k = _p.Kernel.Lookup(true, null, count, keys, values, ef);
            SameReply($"array lookup_and_delete_batch count={count} elem_flags=0x{ef:x}", f, k);
        }

        private void Checkpoint()
        {
            Log("checkpoint", "-", "-");
            BatchScan.AssertIs(BatchScan.Scan(_p.Kernel, false, 64, Where("checkpoint")), _model, Where("checkpoint") + " kernel");
            BatchScan.AssertIs(BatchScan.Scan(_p.Fm, false, 64, Where("checkpoint")), _model, Where("checkpoint") + " FastMap");
        }

        private void RequireOutcomes()
        {
            string[] needed = _array
                ? ["update_batch 0", "update_batch -E2BIG", "update_batch -EINVAL", "delete_batch -ENOTSUPP(524)",
                   "lookup_batch 0", "lookup_batch -ENOENT", "lookup_batch -EINVAL"]
                : ["update_batch 0", "update_batch -EINVAL", "delete_batch 0", "delete_batch -ENOENT",
                   "lookup_and_delete_batch kernel 0", "lookup_and_delete_batch kernel -ENOENT", "lookup_batch kernel 0"];
            if (!_array && !_lru)
                needed = [.. needed, "update_batch -E2BIG"];
            string[] missing = [.. needed.Where(n => !_outcomes.ContainsKey(n))];
            if (missing.Length > 0)
                Fail("end of run", $"the sequence never produced [{string.Join(", ", missing)}]; outcomes: " +
                    string.Join(", ", _outcomes.Select(o => $"{o.Key} x{o.Value}")));
        }

        private void Count(string outcome) => _outcomes[outcome] = _outcomes.GetValueOrDefault(outcome) + 1;

        private void Log(string what, string fastMap, string kernel)
        {
            string op = what.Split(' ')[0];
            if (op is not ("checkpoint" or "resync:" or "one"))
                Count($"{(op == "array" ? what.Split(' ')[1] : op)} {kernel}");
            _history.Enqueue($"#{_op} {what} -> FastMap {fastMap} / kernel {kernel}");
            while (_history.Count > 12)
                _history.Dequeue();
        }

        private void Same(string what, int fastMap, int kernel)
        {
            Log(what, Errno(fastMap), Errno(kernel));
            if (fastMap != kernel)
                Fail(what, $"FastMap returned {Errno(fastMap)}, the kernel {Errno(kernel)}");
        }

        private void SameReply(string what, BatchReply fastMap, BatchReply kernel)
        {
            Log(what, fastMap.ToString(), Errno(kernel.Ret));
            // Hash cursors index different bucket arrays; array cursors are indices and must match.
            bool sameOut = _array ? fastMap.OutBatch == kernel.OutBatch : fastMap.OutBatch.HasValue == kernel.OutBatch.HasValue;
            if (fastMap.Ret != kernel.Ret || fastMap.Count != kernel.Count || !sameOut)
                Fail(what, $"FastMap {fastMap}, kernel {kernel}");
        }

        private string Where(string what) => $"{_c.Name}: {_seed} op#{_op} {what}";

        private void Fail(string what, string message)
        {
            var sb = new StringBuilder();
            sb.Append(Where(what)).Append(": ").Append(message);
            sb.Append($"\n  definition: type={_c.Type} key={_c.KeySize} value={_c.ValueSize} max={_c.MaxEntries} flags={_c.Flags} lock={_c.LockOffset?.ToString(CultureInfo.InvariantCulture) ?? "none"}");
            sb.Append($"\n  live keys (model): {_model.Count}");
            sb.Append("\n  last ops:");
            foreach (string h in _history)
                sb.Append("\n    ").Append(h);
            Assert.Fail(sb.ToString());
        }
    }
}
