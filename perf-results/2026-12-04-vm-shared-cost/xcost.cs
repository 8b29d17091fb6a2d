using System.Buffers.Binary;
using System.Diagnostics;
using FastMap;
// Lookup and update cost: a private map vs a shared map opened as a second handle (its own attachment, as another
// process's), same size, same keys, rounds interleaved. Usage: xcost <entries> <rounds>
uint n = uint.Parse(args[0]);
int rounds = int.Parse(args[1]);
string dir = $"/dev/shm/xcost-{Environment.ProcessId}";
Directory.CreateDirectory(dir);
var def = new MapDefinition(MapType.Hash, 16, 32, n);
using var priv = BpfMap.Create(def);
using var creator = BpfMap.Create(def with { Flags = MapFlags.Shared });
if (creator.Pin(dir + "/m") != MapStatus.Ok) throw new Exception("pin");
using var shared = BpfMap.Open(dir + "/m");
var key = new byte[16]; var val = new byte[32];
int fill = (int)(n * 3 / 4);
for (int i = 0; i < fill; i++) { K(i); priv.Update(key, val); shared.Update(key, val); }
var rng = new Random(1);
int probes = 2_000_000;
var order = new int[probes]; for (int i = 0; i < probes; i++) order[i] = rng.Next(fill);
double Look(BpfMap m) { var sw = Stopwatch.StartNew(); for (int i = 0; i < probes; i++) { K(order[i]); m.Lookup(key, val); } return sw.Elapsed.TotalNanoseconds / probes; }
double Upd(BpfMap m) { var sw = Stopwatch.StartNew(); for (int i = 0; i < probes / 4; i++) { K(order[i]); m.Update(key, val); } return sw.Elapsed.TotalNanoseconds / (probes / 4); }
var rev = new byte[8];
double Churn(BpfMap m) { var sw = Stopwatch.StartNew(); for (int i = 0; i < probes / 4; i++) { K(order[i]); m.CompareAndDelete(key, rev, 0); m.Update(key, val); } return sw.Elapsed.TotalNanoseconds / (probes / 4); }
var lp = new List<double>(); var ls = new List<double>(); var up = new List<double>(); var us = new List<double>();
var cp = new List<double>(); var cs = new List<double>();
for (int r = 0; r < rounds; r++) { lp.Add(Look(priv)); ls.Add(Look(shared)); up.Add(Upd(priv)); us.Add(Upd(shared)); cp.Add(Churn(priv)); cs.Add(Churn(shared)); }
double Med(List<double> x) { x.Sort(); return x[x.Count / 2]; }
Console.WriteLine($"entries {n} fill {fill}: lookup private {Med(lp):F1} ns shared {Med(ls):F1} ns ({Med(ls)/Med(lp):F2}x); update-exist private {Med(up):F1} ns shared {Med(us):F1} ns ({Med(us)/Med(up):F2}x); cmpdel+insert pair private {Med(cp):F1} ns shared {Med(cs):F1} ns ({Med(cs)/Med(cp):F2}x)");
File.Delete(dir + "/m"); Directory.Delete(dir);
void K(int i) { BinaryPrimitives.WriteInt32LittleEndian(key, i); BinaryPrimitives.WriteInt32LittleEndian(key.AsSpan(4), ~i); }
