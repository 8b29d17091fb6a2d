using static FastMap.Tests.Engine.TestMaps;

namespace FastMap.Tests.Engine;

/// <summary>The bulk lookup (a FastMap extension): each key's answer is the single lookup's; argument errors.</summary>
public sealed class BulkLookupTests
{
    [Theory]
    [InlineData(16u, 32u, 1000u, 0u)]
    [InlineData(8u, 40u, 64u, 3u)]      // degenerate hash: keys in neighbour groups and overflow records
    [InlineData(4u, 8u, 7u, 0u)]        // a one-group map
    [InlineData(20u, 100u, 300u, 0u)]   // odd key and value sizes
    public void EveryKeyGetsTheSingleLookupsAnswer(uint keySize, uint valueSize, uint max, uint modulo)
    {
        using BpfMap m = Hash(keySize, valueSize, max);
        if (modulo != 0)
            m.HashStore!.HashModuloForTests = modulo;
        var rng = new Random((int)(keySize * 1000 + max));
        var model = new Dictionary<int, byte[]>();
        for (int i = 0; i < 3 * max; i++)
        {
            int k = rng.Next((int)(2 * max));
            if (rng.Next(3) == 0)
            {
                m.Delete(Key(k, (int)keySize));
                model.Remove(k);
            }
            else if (m.Update(Key(k, (int)keySize), Value(k, (ulong)i, (int)valueSize)) == MapStatus.Ok)
                model[k] = Value(k, (ulong)i, (int)valueSize);
        }
        int n = 3 * (int)max;
        var asked = Enumerable.Range(0, n).Select(_ => rng.Next((int)(2 * max))).ToArray();
        byte[] keys = asked.SelectMany(k => Key(k, (int)keySize)).ToArray();
        var values = new byte[n * valueSize];
        Array.Fill(values, (byte)0xEE);              // a missing key's value must stay as it was
        var results = new MapStatus[n];
        Assert.Equal(MapStatus.Ok, m.LookupBulk(keys, values, results));
        for (int i = 0; i < n; i++)
        {
            var got = values.AsSpan(i * (int)valueSize, (int)valueSize);
            if (model.TryGetValue(asked[i], out byte[]? want))
            {
                Assert.Equal(MapStatus.Ok, results[i]);
                Assert.True(got.SequenceEqual(want), $"key {asked[i]} at {i}");
            }
            else
            {
                Assert.Equal(MapStatus.ENOENT, results[i]);
                Assert.True(got.IndexOfAnyExcept((byte)0xEE) < 0, $"absent key {asked[i]} at {i}: value written");
            }
        }
    }

    [Fact]
    public void ArgumentErrorsAndArrays()
    {
        using BpfMap m = Hash();
        Assert.Equal(MapStatus.Ok, m.Update(Key(1), Value(1, 7)));
        var results = new MapStatus[2];
        Assert.Equal(MapStatus.EINVAL, m.LookupBulk(new byte[17], new byte[64], results));      // not whole keys
        Assert.Equal(MapStatus.EINVAL, m.LookupBulk(new byte[32], new byte[63], results));      // values too short
        Assert.Equal(MapStatus.EINVAL, m.LookupBulk(new byte[32], new byte[64], results[..1])); // results too short
        Assert.Equal(MapStatus.Ok, m.LookupBulk([], [], []));                                   // count 0
        Assert.Equal(MapStatus.EINVAL, m.LookupBulk<ulong, ulong>([1ul], new ulong[1], results)); // sizes differ

        using BpfMap writeOnly = Hash(flags: MapFlags.WriteOnly);
        Assert.Equal(MapStatus.EPERM, writeOnly.LookupBulk(Key(1), new byte[32], results));

        var closed = Hash();
        closed.Dispose();
        Assert.Equal(MapStatus.EBADF, closed.LookupBulk(Key(1), new byte[32], results));

        using BpfMap array = Hash(keySize: 4, valueSize: 8, max: 4, type: MapType.Array);
        Assert.Equal(MapStatus.Ok, array.Update(BitConverter.GetBytes(2), BitConverter.GetBytes(99ul)));
        var vals = new byte[16];
        Assert.Equal(MapStatus.Ok, array.LookupBulk([.. BitConverter.GetBytes(2), .. BitConverter.GetBytes(9)], vals, results));
        Assert.Equal([MapStatus.Ok, MapStatus.ENOENT], results);
        Assert.Equal(99ul, BitConverter.ToUInt64(vals));
    }
}
