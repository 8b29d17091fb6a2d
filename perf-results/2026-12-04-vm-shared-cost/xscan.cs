using System.Buffers.Binary;
using System.Diagnostics;
using FastMap;
uint n = uint.Parse(args[0]);
string dir = $"/dev/shm/xscan-{Environment.ProcessId}";
Directory.CreateDirectory(dir);
var def = new MapDefinition(MapType.Hash, 16, 32, n);
using var priv = BpfMap.Create(def);
using var shared = BpfMap.Create(def with { Flags = MapFlags.Shared });
var key = new byte[16]; var val = new byte[32];
int fill = (int)(n * 3 / 4);
for (int i = 0; i < fill; i++) { BinaryPrimitives.WriteInt32LittleEndian(key, i); priv.Update(key, val); shared.Update(key, val); }
var keys = new byte[4096 * 16]; var vals = new byte[4096 * 32];
double Scan(BpfMap m) { var sw = Stopwatch.StartNew(); var c = new BatchCursor(); long tot = 0; MapStatus st; do { st = m.LookupBatch(ref c, keys, vals, out int got); tot += got; } while (st == MapStatus.Ok); return sw.Elapsed.TotalNanoseconds / tot; }
for (int r = 0; r < 5; r++) Console.WriteLine($"scan ns/entry: private {Scan(priv):F1} shared {Scan(shared):F1}");
Directory.Delete(dir);
