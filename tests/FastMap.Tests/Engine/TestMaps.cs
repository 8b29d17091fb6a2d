using System.Buffers.Binary;
using FastMap;

namespace FastMap.Tests.Engine;

/// <summary>Small helpers shared by the engine tests: maps, keys and values as byte arrays.</summary>
internal static class TestMaps
{
    public static BpfMap Hash(uint keySize = 16, uint valueSize = 32, uint max = 64, MapFlags flags = MapFlags.None, MapType type = MapType.Hash, uint? spinLock = null)
    {
        MapStatus st = BpfMap.Create(new MapDefinition(type, keySize, valueSize, max) { Flags = flags, SpinLockOffset = spinLock }, out BpfMap? map);
        Assert.Equal(MapStatus.Ok, st);
        return map!;
    }

    public static byte[] Key(int i, int size = 16)
    {
        var k = new byte[size];
        if (size >= 4)
            BinaryPrimitives.WriteInt32LittleEndian(k, i);
        else
            for (int b = 0; b < size; b++)
                k[b] = (byte)(i >> (8 * b));
        if (size >= 8)
            BinaryPrimitives.WriteInt32LittleEndian(k.AsSpan(4), ~i);
        return k;
    }

    /// <summary>A value whose first 8 bytes are a revision and whose rest encodes the key.</summary>
    public static byte[] Value(int key, ulong revision, int size = 32)
    {
        var v = new byte[size];
        if (size >= 8)
            BinaryPrimitives.WriteUInt64LittleEndian(v, revision);
        for (int b = 8; b < size; b++)
            v[b] = (byte)(key * 31 + b);
        return v;
    }

    public static byte[] Rev(ulong revision)
    {
        var r = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(r, revision);
        return r;
    }
}
