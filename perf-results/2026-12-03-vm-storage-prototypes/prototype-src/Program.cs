using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.InteropServices;
using FastMap;
using Proto;

[StructLayout(LayoutKind.Sequential, Size = 16)]
public readonly struct Key16(ulong a, ulong b) : IEquatable<Key16>
{ public readonly ulong A = a, B = b; public bool Equals(Key16 o) => A == o.A && B == o.B; public override bool Equals(object? o) => o is Key16 k && Equals(k); public override int GetHashCode() => unchecked((int)(A ^ (A >> 32) ^ B ^ (B >> 32))); }
[StructLayout(LayoutKind.Sequential, Size = 32)]
public struct Value32 { public ulong R, P0, P1, P2; public static Value32 Make(ulong r) => new() { R = r, P0 = r * 0x9E3779B97F4A7C15UL, P1 = ~r, P2 = r ^ 0xA5A5 }; }

public interface ISys { int Lookup(in Key16 k, out Value32 v); int Update(in Key16 k, in Value32 v); int Insert(in Key16 k, in Value32 v); string Name { get; } }
public sealed class CD(int cap) : ISys { readonly ConcurrentDictionary<Key16, Value32> d = new(2, cap); public string Name => "CD"; public int Lookup(in Key16 k, out Value32 v) => d.TryGetValue(k, out v) ? 0 : -2; public int Update(in Key16 k, in Value32 v) { d[k] = v; return 0; } public int Insert(in Key16 k, in Value32 v) => d.TryAdd(k, v) ? 0 : -17; }
public sealed class NB(int cap) : ISys { readonly NonBlocking.ConcurrentDictionary<Key16, Value32> d = new(2, cap); public string Name => "NonBlocking"; public int Lookup(in Key16 k, out Value32 v) => d.TryGetValue(k, out v) ? 0 : -2; public int Update(in Key16 k, in Value32 v) { d[k] = v; return 0; } public int Insert(in Key16 k, in Value32 v) => d.TryAdd(k, v) ? 0 : -17; }
public sealed class Dict(int cap) : ISys { readonly Dictionary<Key16, Value32> d = new(cap); public string Name => "Dictionary"; public int Lookup(in Key16 k, out Value32 v) => d.TryGetValue(k, out v) ? 0 : -2; public int Update(in Key16 k, in Value32 v) { d[k] = v; return 0; } public int Insert(in Key16 k, in Value32 v) => d.TryAdd(k, v) ? 0 : -17; }
public sealed class FM(uint max) : ISys { readonly BpfMap m = BpfMap.Create(new MapDefinition(MapType.Hash, 16, 32, max)); public string Name => "FastMap-old"; public int Lookup(in Key16 k, out Value32 v) => (int)m.Lookup<Key16, Value32>(in k, out v); public int Update(in Key16 k, in Value32 v) => (int)m.Update<Key16, Value32>(in k, in v, ElemFlags.Exist); public int Insert(in Key16 k, in Value32 v) => (int)m.Update<Key16, Value32>(in k, in v, ElemFlags.NoExist); }
public sealed unsafe class BK(uint max) : ISys { readonly BucketMap m = new(max); public string Name => "Bucket";
  public int Lookup(in Key16 k, out Value32 v) { Value32 x; fixed (Key16* kp = &k) { int r = m.Lookup((byte*)kp, (byte*)&x); v = x; return r; } }
  public int Update(in Key16 k, in Value32 v) { fixed (Key16* kp = &k) fixed (Value32* vp = &v) return m.UpdateExist((byte*)kp, (byte*)vp); }
  public int Insert(in Key16 k, in Value32 v) { fixed (Key16* kp = &k) fixed (Value32* vp = &v) return m.Insert((byte*)kp, (byte*)vp); } }
public sealed unsafe class IN(uint max) : ISys { readonly InlineMap m = new(max); public string Name => "Inline"; 
  public int Lookup(in Key16 k, out Value32 v) { Value32 x; fixed (Key16* kp = &k) { int r = m.Lookup((byte*)kp, (byte*)&x); v = x; return r; } }
  public int Update(in Key16 k, in Value32 v) { fixed (Key16* kp = &k) fixed (Value32* vp = &v) return m.UpdateExist((byte*)kp, (byte*)vp); }
  public int Insert(in Key16 k, in Value32 v) { fixed (Key16* kp = &k) fixed (Value32* vp = &v) return m.Insert((byte*)kp, (byte*)vp); } }

static class P
{
    static ulong Mix(ulong z) { z += 0x9E3779B97F4A7C15; z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9; z = (z ^ (z >> 27)) * 0x94D049BB133111EB; return z ^ (z >> 31); }
    static Key16 K(long i) => new(Mix(0x5EED + 2 * (ulong)i), Mix(0x5EED + 2 * (ulong)i + 1));
    static double Run<T>(T s, Key16[] q, int w, double secs) where T : ISys
    {
        ulong sink = 0; int n = q.Length, i = 0; long ops = 0; var sw = Stopwatch.StartNew(); long lim = (long)(secs * Stopwatch.Frequency);
        while (true)
        {
            for (int j = 0; j < 1024; j++)
            {
                if (w == 2) { var v = Value32.Make((ulong)j); sink += (ulong)s.Update(in q[i], in v); }
                else { s.Lookup(in q[i], out var v); sink += v.R; }
                if (++i == n) i = 0;
            }
            ops += 1024;
            if (sw.ElapsedTicks > lim) break;
        }
        GC.KeepAlive(sink);
        return sw.Elapsed.TotalNanoseconds / ops;
    }
    static void Main(string[] a)
    {
        int size = int.Parse(a[0]); double secs = a.Length > 1 ? double.Parse(a[1]) : 0.3; string only = a.Length > 2 ? a[2] : "";
        int present = size / 4 * 3;
        var rnd = new Random(42);
        var hits = new Key16[Math.Min(present, 1 << 20) * 2]; for (int i = 0; i < hits.Length; i++) hits[i] = K(rnd.Next(present));
        var miss = new Key16[hits.Length]; for (int i = 0; i < miss.Length; i++) miss[i] = K(size * 4L + rnd.Next(present));
        var sys = new List<ISys> { new CD(size), new NB(size), new Dict(size), new FM((uint)size), new BK((uint)size), new IN((uint)size) };
        if (only != "") sys = sys.Where(s => only.Split(',').Contains(s.Name)).ToList();
        foreach (var s in sys) for (int i = 0; i < present; i++) if (s.Insert(K(i), Value32.Make((ulong)i)) != 0) throw new Exception(s.Name + " insert");
        string[] wn = { "lookup-hit", "lookup-miss", "update-exist" };
        var res = new Dictionary<(string, int), List<double>>();
        for (int r = 0; r < 3; r++)
            for (int w = 0; w < 3; w++)
                for (int si = 0; si < sys.Count; si++)
                {
                    var s = sys[(si + r) % sys.Count];
                    double ns = Run(s, w == 1 ? miss : hits, w, secs);
                    (res.TryGetValue((s.Name, w), out var l) ? l : res[(s.Name, w)] = new()).Add(ns);
                }
        foreach (var w in new[] { 0, 1, 2 })
            Console.WriteLine($"{wn[w],-13} " + string.Join("  ", sys.Select(s => $"{s.Name}={string.Join("/", res[(s.Name, w)].Select(x => x.ToString("F1")))}")));
    }
}
