namespace FastMap.Tests.Concurrency;

/// <summary>
/// Copying lookups run outside read-side sections (HashStore remarks, 4), so no grace period waits for
/// them: a slot they are copying from can be deleted, pass its limbo and be refilled with another key under
/// them. They must notice (block versions) and never return a torn value or another key's bytes; bulk lookups
/// (the same reads, pipelined) likewise.
/// </summary>
[Collection(EpochSerialCollection.Name)] // epoch advances as fast as the writers can make them
public sealed class SectionFreeLookupTests
{
    [Theory]
    [Trait("Category", "Stress")]
    [InlineData(64u, 0u, 1)]      // keys in their own groups, slots reused as fast as limbo allows
    [InlineData(64u, 6u, 2)]      // six hash values: keys in neighbour groups and overflow records
    [InlineData(16u, 1u, 3)]      // one hash value: every key in one chain of records
    public void CopyingLookupsNeverReturnTornOrForeignValuesWhileSlotsAreReused(uint max, uint modulo, int seed)
    {
        const int readers = 2, writers = 2, readsPerReader = 400_000;
        using BpfMap map = Maps.Hash(max);
        map.HashStore!.HashModuloForTests = modulo;
        for (ulong k = 0; k < max; k++)
            Assert.Equal(MapStatus.Ok, map.Put(k, 0));
        int readersLeft = readers;
        long hits = 0;
        Threads.Run(readers + writers, id =>
        {
            void Read(int id, Random rng)
            {
                // Reader 0 looks keys up one by one, reader 1 in bulk calls of 8.
                Span<ulong> keys = stackalloc ulong[8];
                var values = new KeyedValue[8];
                var results = new MapStatus[8];
                for (int r = 0; r < readsPerReader; r += keys.Length)
                {
                    for (int i = 0; i < keys.Length; i++)
                        keys[i] = (ulong)rng.Next((int)max);
                    if (id == 0)
                        for (int i = 0; i < keys.Length; i++)
                            results[i] = map.Get(keys[i], out values[i]);
                    else
                        Assert.Equal(MapStatus.Ok, map.LookupBulk<ulong, KeyedValue>(keys, values, results));
                    for (int i = 0; i < keys.Length; i++)
                    {
                        if (results[i] == MapStatus.Ok)
                        {
                            if (!values[i].Encodes(keys[i]))
                                Assert.Fail($"reader {id} read {r + i}: key {keys[i]} came back with {values[i]}");
                            Interlocked.Increment(ref hits);
                        }
                        else if (results[i] != MapStatus.ENOENT)
                            Assert.Fail($"reader {id} read {r + i}: key {keys[i]} gave {results[i]}");
                    }
                }
            }

            var rng = new Random(seed * 100 + id);
            if (id < readers)
            {
                try
                {
                    Read(id, rng);
                }
                finally
                {
                    Interlocked.Decrement(ref readersLeft); // also on a failure: the writers must stop
                }
                return;
            }
            // Writers own a parity each: delete and re-insert (a new slot; the old one goes through limbo
            // and is refilled with some key), update in place, and advance the epoch often so limbo ends.
            ulong rev = 1;
            for (int op = 0; Volatile.Read(ref readersLeft) > 0; op++)
            {
                ulong k = ((ulong)rng.Next((int)max) & ~1ul) + (ulong)(id - readers);
                if (k >= max)
                    continue;
                if (rng.Next(3) == 0)
                    Assert.Equal(MapStatus.Ok, map.Put(k, rev++));
                else
                {
                    Assert.Equal(MapStatus.Ok, map.Delete(k));
                    Assert.Equal(MapStatus.Ok, map.Put(k, rev++, ElemFlags.NoExist));
                }
                if (op % 64 == 0)
                    FastMap.Internal.Epoch.TryAdvance();
            }
        });
        Assert.True(hits > 0, "no lookup found a key");
    }
}
