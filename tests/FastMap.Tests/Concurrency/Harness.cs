using System.Collections.Concurrent;
using System.Runtime.InteropServices;

namespace FastMap.Tests.Concurrency;

/// <summary>
/// Tests that read or steer the process-wide epoch (parked readers, memory bounds, advance counts)
/// run alone: a reader parked by a parallel test would hold their epoch back.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class EpochSerialCollection
{
    public const string Name = "Epoch-serial";
}

/// <summary>
/// A 32-byte value that encodes its key: <c>[rev][key][mix(key, rev)][~key]</c>. A lookup that
/// copies bytes of another key's element, or of two elements, fails <see cref="Encodes"/>.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal struct KeyedValue
{
    public ulong Rev;
    public ulong Key;
    public ulong Check;
    public ulong NotKey;

    public const int Size = 32;

    public static KeyedValue For(ulong key, ulong rev) =>
        new() { Rev = rev, Key = key, Check = Mix(key, rev), NotKey = ~key };

    public readonly bool Encodes(ulong key) => Key == key && NotKey == ~key && Check == Mix(key, Rev);

    public static KeyedValue Read(ReadOnlySpan<byte> bytes) => MemoryMarshal.Read<KeyedValue>(bytes);

    public override readonly string ToString() => $"rev={Rev} key={Key} check={Check:x} notkey={NotKey:x}";

    private static ulong Mix(ulong key, ulong rev)
    {
        ulong x = key * 0x9E3779B97F4A7C15ul ^ (rev + 1) * 0xC2B2AE3D27D4EB4Ful;
        x ^= x >> 31;
        x *= 0xBF58476D1CE4E5B9ul;
        return x ^ x >> 29;
    }
}

internal static class Maps
{
    /// <summary>A plain hash map with 8-byte keys.</summary>
    public static BpfMap Hash(uint maxEntries, uint valueSize = KeyedValue.Size) =>
        BpfMap.Create(new MapDefinition(MapType.Hash, 8, valueSize, maxEntries));

    public static MapStatus Put(this BpfMap map, ulong key, ulong rev, ElemFlags flags = ElemFlags.Any) =>
        map.Update(key, KeyedValue.For(key, rev), flags);

    public static MapStatus Get(this BpfMap map, ulong key, out KeyedValue value) =>
        map.Lookup(key, out value);

    /// <summary>Every key, by walking <c>GET_NEXT_KEY</c> from the start (single-threaded use).</summary>
    public static HashSet<ulong> Keys(this BpfMap map)
    {
        var keys = new HashSet<ulong>();
        Span<byte> next = stackalloc byte[8];
        byte[] cur = [];
        int guard = 0;
        while (map.GetNextKey(cur, next) == MapStatus.Ok)
        {
            ulong k = MemoryMarshal.Read<ulong>(next);
            Assert.True(keys.Add(k), $"GET_NEXT_KEY returned key {k} twice");
            cur = next.ToArray();
            Assert.True(++guard <= map.MaxEntries, "GET_NEXT_KEY walked more keys than max_entries");
        }
        return keys;
    }

    public static byte[] KeyBytes(ulong key) => BitConverter.GetBytes(key);
}

/// <summary>Real threads, released together by a barrier; exceptions are collected and rethrown.</summary>
internal static class Threads
{
    public static void Run(int count, Action<int> body)
    {
        using var barrier = new Barrier(count);
        var errors = new ConcurrentQueue<Exception>();
        var threads = new Thread[count];
        for (int i = 0; i < count; i++)
        {
            int id = i;
            threads[i] = new Thread(() =>
            {
                try
                {
                    barrier.SignalAndWait();
                    body(id);
                }
                catch (Exception e)
                {
                    errors.Enqueue(e);
                }
            })
            { IsBackground = true, Name = $"fastmap-test-{id}" };
        }
        foreach (Thread t in threads)
            t.Start();
        foreach (Thread t in threads)
            t.Join();
        if (!errors.IsEmpty)
            throw new AggregateException(errors);
    }
}
