using System.Buffers.Binary;
using System.Diagnostics;
using FastMap;

// The peer of the cross-process tests: one command a line on stdin, one answer a line on stdout.
//   open <path> [access]      -> status            (access: the BPF_OBJ_GET file_flags, decimal)
//   upd <k> <rev> [flags]     -> status            (key k, value: revision rev, then bytes that encode k)
//   get <k>                   -> status rev
//   del <k>                   -> status
//   cmpdel <k> <rev>          -> status            (compare-and-delete on the revision, bytes [0, 8))
//   cmpupd <k> <rev> <new>    -> status            (compare-and-swap update on the revision)
//   ptr <k>                   -> found rev         (enters a read-side section and stays in it: in-place lookup)
//   unlock                    -> ok                (leaves that section)
//   count                     -> keys
//   hist <seed> <ops> <keys> <start> -> from Stopwatch tick <start>: one "H op k arg result rev invoke response" line an operation, then "end"
//   refresh <ms> <keys>       -> "end updates"     (the datapath: bumps every key's revision in place, round after round)
//   refreshlog <rounds> <keys> -> as refresh, a round at a time: one "R k from completed" line a refresh, then "end"
//   quit
// Keys are 16 bytes and values 32, as tests/FastMap.Tests' TestMaps makes them. Timestamps are Stopwatch ticks
// (CLOCK_MONOTONIC: one clock for every process of the machine).
BpfMap? map = null;
ReadSection section = default;
bool inSection = false;
string? line;
var stdout = Console.Out;
while ((line = Console.ReadLine()) is not null)
{
    string[] a = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
    if (a.Length == 0)
        continue;
    string answer;
    switch (a[0])
    {
        case "open":
            answer = ((int)BpfMap.Open(a[1], a.Length > 2 ? (MapFlags)uint.Parse(a[2]) : MapFlags.None, out map)).ToString();
            break;
        case "upd":
            answer = ((int)map!.Update(Key(int.Parse(a[1])), Value(int.Parse(a[1]), ulong.Parse(a[2])),
                a.Length > 3 ? (ElemFlags)ulong.Parse(a[3]) : ElemFlags.Any)).ToString();
            break;
        case "get":
        {
            var v = new byte[32];
            MapStatus st = map!.Lookup(Key(int.Parse(a[1])), v);
            answer = $"{(int)st} {BinaryPrimitives.ReadUInt64LittleEndian(v)}";
            break;
        }
        case "del":
            answer = ((int)map!.Delete(Key(int.Parse(a[1])))).ToString();
            break;
        case "cmpdel":
            answer = ((int)map!.CompareAndDelete(Key(int.Parse(a[1])), Rev(ulong.Parse(a[2])), 0)).ToString();
            break;
        case "cmpupd":
            answer = ((int)map!.CompareAndUpdate(Key(int.Parse(a[1])), Value(int.Parse(a[1]), ulong.Parse(a[3])),
                Rev(ulong.Parse(a[2])), 0)).ToString();
            break;
        case "ptr":
        {
            if (!inSection)
                section = ReadSection.Enter();
            inSection = true;
            Span<byte> stored = map!.LookupInPlace(Key(int.Parse(a[1])));
            answer = stored.IsEmpty ? "0 0" : $"1 {BinaryPrimitives.ReadUInt64LittleEndian(stored)}";
            break;
        }
        case "unlock":
            if (inSection)
                section.Dispose();
            inSection = false;
            answer = "ok";
            break;
        case "count":
            answer = map!.Count.ToString();
            break;
        case "hist":
            History(map!, int.Parse(a[1]), int.Parse(a[2]), int.Parse(a[3]), long.Parse(a[4]), stdout);
            answer = "end";
            break;
        case "refresh":
            answer = $"end {Refresh(map!, int.Parse(a[1]), int.Parse(a[2]))}";
            break;
        case "refreshlog":
            RefreshLog(map!, int.Parse(a[1]), int.Parse(a[2]), stdout);
            answer = "end";
            break;
        case "quit":
            map?.Dispose();
            return 0;
        default:
            answer = "?";
            break;
    }
    stdout.WriteLine(answer);
    stdout.Flush();
}
return 0;

static byte[] Key(int i)
{
    var k = new byte[16];
    BinaryPrimitives.WriteInt32LittleEndian(k, i);
    BinaryPrimitives.WriteInt32LittleEndian(k.AsSpan(4), ~i);
    return k;
}

static byte[] Value(int key, ulong revision)
{
    var v = new byte[32];
    BinaryPrimitives.WriteUInt64LittleEndian(v, revision);
    for (int b = 8; b < 32; b++)
        v[b] = (byte)(key * 31 + b);
    return v;
}

static byte[] Rev(ulong revision)
{
    var r = new byte[8];
    BinaryPrimitives.WriteUInt64LittleEndian(r, revision);
    return r;
}

// Random single-key operations with their invoke and response times, for the parent's linearizability check.
static void History(BpfMap map, int seed, int ops, int keys, long start, TextWriter o)
{
    var rng = new Random(seed);
    var v = new byte[32];
    var lines = new List<string>(ops);
    while (Stopwatch.GetTimestamp() < start)
        Thread.SpinWait(10);                       // both processes start together (the parent spins to the same tick)
    for (int i = 0; i < ops; i++)
    {
        Thread.SpinWait(rng.Next(0, 400));
        int k = rng.Next(keys);
        int op = rng.Next(5);
        ulong arg = (ulong)rng.Next(1, 4);
        long t0 = Stopwatch.GetTimestamp();
        MapStatus st;
        ulong rev = 0;
        switch (op)
        {
            case 0:
                st = map.Update(Key(k), Value(k, arg));
                break;
            case 1:
                st = map.Lookup(Key(k), v);
                rev = BinaryPrimitives.ReadUInt64LittleEndian(v);
                break;
            case 2:
                st = map.Delete(Key(k));
                break;
            case 3:
                st = map.CompareAndDelete(Key(k), Rev(arg), 0);
                break;
            default:
                st = map.Update(Key(k), Value(k, arg), ElemFlags.NoExist);
                break;
        }
        long t1 = Stopwatch.GetTimestamp();
        lines.Add($"H {op} {k} {arg} {(int)st} {rev} {t0} {t1}");
    }
    foreach (string l in lines)
        o.WriteLine(l);
}

// The datapath of the gc race: every key's revision goes up by one a round, written in place through the
// revision word (one aligned 8-byte store), as a packet path refreshes a conntrack entry.
static long Refresh(BpfMap map, int ms, int keys)
{
    long updates = 0;
    var until = Stopwatch.GetTimestamp() + ms * Stopwatch.Frequency / 1000;
    var v = new byte[32];
    while (Stopwatch.GetTimestamp() < until)
    {
        for (int k = 0; k < keys; k++)
        {
            if (map.Lookup(Key(k), v) != MapStatus.Ok)
                continue;
            ulong rev = BinaryPrimitives.ReadUInt64LittleEndian(v);
            if (map.CompareAndUpdate(Key(k), Value(k, rev + 1), Rev(rev), 0) == MapStatus.Ok)
                updates++;
        }
    }
    return updates;
}

// The gc race's datapath, logged: each successful refresh of key k from revision r, with the tick it completed at.
static void RefreshLog(BpfMap map, int rounds, int keys, TextWriter o)
{
    var v = new byte[32];
    var lines = new List<string>();
    for (int round = 0; round < rounds; round++)
    {
        for (int k = 0; k < keys; k++)
        {
            if (map.Lookup(Key(k), v) != MapStatus.Ok)
                continue;
            ulong rev = BinaryPrimitives.ReadUInt64LittleEndian(v);
            if (map.CompareAndUpdate(Key(k), Value(k, rev + 1), Rev(rev), 0) == MapStatus.Ok)
                lines.Add($"R {k} {rev} {Stopwatch.GetTimestamp()}");
        }
    }
    foreach (string l in lines)
        o.WriteLine(l);
}
