namespace FastMap.Tests.Concurrency;

/// <summary>
/// Races whose outcome is exact: two compare-and-deletes of one revision (TestRemove2), and an
/// update racing a compare-and-delete of the revision it replaces.
/// </summary>
public sealed class ExactlyOnceTests
{
    private const ulong Key = 42;

    /// <summary>Two workers run <paramref name="work"/> once per round; the main thread prepares and checks.</summary>
    private static void Rounds(int rounds, Action<int> prepare, Func<int, int, MapStatus> work, Action<int, MapStatus, MapStatus> check)
    {
        using var start = new Barrier(3);
        using var end = new Barrier(3);
        var results = new MapStatus[2];
        Exception? failure = null;
        var workers = new Thread[2];
        for (int w = 0; w < 2; w++)
        {
            int id = w;
            workers[w] = new Thread(() =>
            {
                for (int r = 0; r < rounds; r++)
                {
                    start.SignalAndWait();
                    try
                    {
                        results[id] = work(id, r);
                    }
                    catch (Exception e)
                    {
                        failure ??= e;
                    }
                    end.SignalAndWait();
                }
            })
            { IsBackground = true };
            workers[w].Start();
        }
        var errors = new List<string>();
        for (int r = 0; r < rounds; r++)
        {
            prepare(r);
            start.SignalAndWait();
            end.SignalAndWait();
            try
            {
                check(r, results[0], results[1]);
            }
            catch (Exception e) when (errors.Count < 10)
            {
                errors.Add($"round {r}: {e.Message}");
            }
        }
        foreach (Thread t in workers)
            t.Join();
        if (failure is not null)
            throw failure;
        Assert.True(errors.Count == 0, string.Join("\n", errors));
    }

    [Fact]
    [Trait("Category", "Stress")]
    public void TwoCompareAndDeletesOfTheSameRevisionSucceedExactlyOnce()
    {
        using BpfMap map = Maps.Hash(16);
        Rounds(5000,
            r => Assert.Equal(MapStatus.Ok, map.Put(Key, (ulong)r)),
            (w, r) => map.CompareAndDelete(Key, (ulong)r, 0),
            (r, a, b) =>
            {
                Assert.True((a, b) is (MapStatus.Ok, MapStatus.ENOENT) or (MapStatus.ENOENT, MapStatus.Ok), $"got {a} and {b}");
                Assert.Equal(MapStatus.ENOENT, map.Get(Key, out _));
                Assert.Equal(0, map.Count);
            });
    }

    [Fact]
    [Trait("Category", "Stress")]
    public void TwoCompareAndDeletesOfTheSameRevisionAmongOtherKeysSucceedExactlyOnce()
    {
        // The same race with neighbours in the probe chain (one home slot for every key).
        using BpfMap map = Maps.Hash(64);
        map.HashStore!.HashModuloForTests = 1;
        for (ulong k = 100; k < 140; k++)
            Assert.Equal(MapStatus.Ok, map.Put(k, k));
        Rounds(3000,
            r => Assert.Equal(MapStatus.Ok, map.Put(Key, (ulong)r)),
            (w, r) => map.CompareAndDelete(Key, (ulong)r, 0),
            (r, a, b) =>
            {
                Assert.True((a, b) is (MapStatus.Ok, MapStatus.ENOENT) or (MapStatus.ENOENT, MapStatus.Ok), $"got {a} and {b}");
                Assert.Equal(MapStatus.ENOENT, map.Get(Key, out _));
                Assert.Equal(40, map.Count);
            });
        for (ulong k = 100; k < 140; k++)
        {
            Assert.Equal(MapStatus.Ok, map.Get(k, out KeyedValue v));
            Assert.True(v.Encodes(k) && v.Rev == k, v.ToString());
        }
    }

    [Fact]
    [Trait("Category", "Stress")]
    public void AnExistUpdateRacingACompareAndDeleteOfTheOldRevisionHasExactlyOneWinner()
    {
        using BpfMap map = Maps.Hash(16);
        int updaterWon = 0, deleterWon = 0;
        Rounds(5000,
            r => Assert.Equal(MapStatus.Ok, map.Put(Key, (ulong)(2 * r))),
            (w, r) => w == 0 ? map.Put(Key, (ulong)(2 * r + 1), ElemFlags.Exist) : map.CompareAndDelete(Key, (ulong)(2 * r), 0),
            (r, update, cad) =>
            {
                MapStatus now = map.Get(Key, out KeyedValue v);
                if (update == MapStatus.Ok)
                {
                    // The update came first: the revision changed, so the compare must fail and keep it.
                    Assert.Equal(MapStatus.EBUSY, cad);
                    Assert.Equal(MapStatus.Ok, now);
                    Assert.True(v.Encodes(Key) && v.Rev == (ulong)(2 * r + 1), v.ToString());
                    updaterWon++;
                }
                else
                {
                    Assert.Equal(MapStatus.ENOENT, update);
                    Assert.Equal(MapStatus.Ok, cad);
                    Assert.Equal(MapStatus.ENOENT, now);
                    deleterWon++;
                }
                map.Delete(Key);
            });
        Assert.Equal(5000, updaterWon + deleterWon);
    }

    [Fact]
    [Trait("Category", "Stress")]
    public void AnAnyUpdateRacingACompareAndDeleteAlwaysLeavesTheNewRevision()
    {
        using BpfMap map = Maps.Hash(16);
        Rounds(5000,
            r => Assert.Equal(MapStatus.Ok, map.Put(Key, (ulong)(2 * r))),
            (w, r) => w == 0 ? map.Put(Key, (ulong)(2 * r + 1)) : map.CompareAndDelete(Key, (ulong)(2 * r), 0),
            (r, update, cad) =>
            {
                Assert.Equal(MapStatus.Ok, update); // either replaces or re-inserts after the delete
                Assert.True(cad is MapStatus.Ok or MapStatus.EBUSY, cad.ToString());
                Assert.Equal(MapStatus.Ok, map.Get(Key, out KeyedValue v));
                Assert.True(v.Encodes(Key) && v.Rev == (ulong)(2 * r + 1), v.ToString());
                Assert.Equal(1, map.Count);
            });
    }

    [Fact]
    public void ACompareAndDeleteAfterTheUpdaterChangedTheRevisionGetsEBUSYAndKeepsTheEntry()
    {
        // Ordered by a flag, not by time: the deleter starts only after the update returned.
        using BpfMap map = Maps.Hash(16);
        int updated = -1;
        Rounds(2000,
            r => Assert.Equal(MapStatus.Ok, map.Put(Key, (ulong)(2 * r))),
            (w, r) =>
            {
                if (w == 0)
                {
                    MapStatus st = map.Put(Key, (ulong)(2 * r + 1), ElemFlags.Exist);
                    Volatile.Write(ref updated, r);
                    return st;
                }
                var spin = new SpinWait();
                while (Volatile.Read(ref updated) != r)
                    spin.SpinOnce();
                return map.CompareAndDelete(Key, (ulong)(2 * r), 0);
            },
            (r, update, cad) =>
            {
                Assert.Equal(MapStatus.Ok, update);
                Assert.Equal(MapStatus.EBUSY, cad);
                Assert.Equal(MapStatus.Ok, map.Get(Key, out KeyedValue v));
                Assert.True(v.Encodes(Key) && v.Rev == (ulong)(2 * r + 1), v.ToString());
                Assert.Equal(MapStatus.Ok, map.CompareAndDelete(Key, (ulong)(2 * r + 1), 0));
            });
    }
}
