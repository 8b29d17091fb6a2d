// A user's first program against the FastMap NuGet package. scripts/test-packages.sh copies this file into a
// fresh `dotnet new console` project in a temporary directory, adds the package from a local folder feed and
// runs it; nothing here refers to the source tree. Every line it prints is checked; "fastmap-package: ok" last.
using System.Runtime.InteropServices;
using FastMap;

static void Expect(bool ok, string what)
{
    if (!ok)
    {
        Console.Error.WriteLine("fastmap-package: FAILED: " + what);
        Environment.Exit(1);
    }
}

MapStatus st = BpfMap.Create(new MapDefinition(MapType.Hash, (uint)sizeof(ulong), (uint)Marshal.SizeOf<Flow>(), 1024),
    out BpfMap? created);
Expect(st == MapStatus.Ok && created is not null, "create: " + st);
using BpfMap map = created!;

// update + lookup
for (ulong k = 1; k <= 100; k++)
    Expect(map.Update(in k, new Flow { Revision = 1, Packets = k }) == MapStatus.Ok, "update " + k);
ulong seven = 7;
Expect(map.Lookup(in seven, out Flow got) == MapStatus.Ok && got.Packets == 7 && got.Revision == 1, "lookup 7");
Console.WriteLine("lookup: ok");

// compare-and-delete on a revision: a stale revision keeps the entry (EBUSY), the current one deletes it
Expect(map.Update(in seven, new Flow { Revision = 2, Packets = 8 }) == MapStatus.Ok, "refresh 7");
Expect(map.CompareAndDelete(in seven, 1UL, offset: 0) == MapStatus.EBUSY, "stale compare-and-delete");
Expect(map.CompareAndDelete(in seven, 2UL, offset: 0) == MapStatus.Ok, "current compare-and-delete");
Expect(map.Lookup(in seven, out Flow _) == MapStatus.ENOENT, "7 gone");
Console.WriteLine("compare-and-delete: ok");

// a collector's pass: snapshot in batches, then delete the odd keys by their snapshot revisions; key 9 is
// refreshed between snapshot and delete and must survive
var keys = new ulong[16];
var values = new Flow[16];
var seenKeys = new List<ulong>();
var seenRevs = new List<ulong>();
var cursor = BatchCursor.Start;
do
{
    st = map.LookupBatch(ref cursor, keys.AsSpan(), values.AsSpan(), out int n);
    Expect(st is MapStatus.Ok or MapStatus.ENOENT, "lookup batch: " + st);
    for (int i = 0; i < n; i++)
    {
        seenKeys.Add(keys[i]);
        seenRevs.Add(values[i].Revision);
    }
} while (st == MapStatus.Ok);
Expect(seenKeys.Count == 99 && seenKeys.Distinct().Count() == 99, "the scan saw " + seenKeys.Count + " keys, not 99");

ulong nine = 9;
Expect(map.Update(in nine, new Flow { Revision = 5, Packets = 10 }) == MapStatus.Ok, "refresh 9");
var idleKeys = new List<ulong>();
var idleRevs = new List<ulong>();
for (int i = 0; i < seenKeys.Count; i++)
{
    if (seenKeys[i] % 2 == 1)
    {
        idleKeys.Add(seenKeys[i]);
        idleRevs.Add(seenRevs[i]);
    }
}
var results = new MapStatus[idleKeys.Count];
st = map.CompareAndDeleteBatch<ulong, ulong>(idleKeys.ToArray(), idleRevs.ToArray(), 0, results, out int done);
Expect(st == MapStatus.Ok && done == idleKeys.Count, "compare-and-delete batch: " + st + ", " + done);
for (int i = 0; i < idleKeys.Count; i++)
    Expect(results[i] == (idleKeys[i] == 9 ? MapStatus.EBUSY : MapStatus.Ok), "batch result for " + idleKeys[i] + ": " + results[i]);
Expect(map.Lookup(in nine, out Flow kept) == MapStatus.Ok && kept.Revision == 5, "9 kept");
ulong eleven = 11;
Expect(map.Lookup(in eleven, out Flow _) == MapStatus.ENOENT, "11 deleted");
Console.WriteLine($"batch: ok ({idleKeys.Count - 1} deleted, 1 kept)");
Console.WriteLine("fastmap-package: ok");

/// <summary>A flow's value: the revision the collector compares first, then a counter.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct Flow
{
    public ulong Revision;
    public ulong Packets;
}
