using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Proto;

// Prototype of shape 1: 64-byte buckets = 12 tags + W (4 B) + 12 x u32 element index; elements (key+value, 48 B) pooled.
// Update is copy-on-update: a fresh element, its index published with one release store, the old one freed (no grace in the proto).
public sealed unsafe class BucketMap
{
    const int S = 12, Stride = 48;
    readonly byte* _b; readonly byte* _el; readonly uint _g; readonly ulong _seed; readonly uint[] _free; int _freeN; uint _next;
    [DllImport("libc")] static extern int madvise(void* a, nuint l, int adv);
    static byte* Alloc(nuint n) { nuint sz = (n + (2u<<20) - 1) & ~((2u<<20)-1); var p = (byte*)NativeMemory.AlignedAlloc(sz, 2u<<20); madvise(p, sz, 14); NativeMemory.Clear(p, sz); return p; }
    public BucketMap(uint max, double alpha = 0.8) { _g = (uint)Math.Ceiling(max / (S * alpha)); _b = Alloc((nuint)_g * 64); uint els = max + max / 8 + 64; _el = Alloc((nuint)els * Stride); _free = new uint[els]; _seed = 0x1234567; _next = 1; }
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static ulong Hash16(byte* key, ulong seed) { ulong a = Unsafe.ReadUnaligned<ulong>(key) ^ seed ^ 0x9E3779B97F4A7C15; ulong b = Unsafe.ReadUnaligned<ulong>(key + 8) ^ BitOperations.RotateLeft(seed, 32) ^ 0xBF58476D1CE4E5B9; ulong hi = Math.BigMul(a, b, out ulong lo); return hi ^ lo; }
    uint AllocEl() => _freeN > 0 ? _free[--_freeN] : _next++;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int Lookup(byte* key, byte* value)
    {
        ulong h = Hash16(key, _seed);
        uint g = (uint)(((ulong)(uint)(h >> 32) * _g) >> 32);
        Vector128<byte> t = Vector128.Create((byte)(0x80 | (byte)h));
        ulong k0 = Unsafe.ReadUnaligned<ulong>(key), k1 = Unsafe.ReadUnaligned<ulong>(key + 8);
        while (true)
        {
            byte* c = _b + (nuint)g * 64;
            Vector128<byte> v = Vector128.LoadAligned(c);
            uint m = Vector128.Equals(v, t).ExtractMostSignificantBits() & 0xFFF;
            while (m != 0)
            {
                uint idx = Volatile.Read(ref *(uint*)(c + 16 + 4 * BitOperations.TrailingZeroCount(m)));
                byte* e = _el + (nuint)idx * Stride;
                if (Unsafe.ReadUnaligned<ulong>(e) == k0 && Unsafe.ReadUnaligned<ulong>(e + 8) == k1)
                {
                    Unsafe.CopyBlockUnaligned(value, e + 16, 32);
                    return 0;
                }
                m &= m - 1;
            }
            if ((v.AsUInt32().GetElement(3) & 2) == 0) return -2;
            g = g + 1 == _g ? 0 : g + 1;
        }
    }

    public int Insert(byte* key, byte* value)
    {
        ulong h = Hash16(key, _seed);
        uint g = (uint)(((ulong)(uint)(h >> 32) * _g) >> 32);
        while (true)
        {
            byte* c = _b + (nuint)g * 64;
            for (int i = 0; i < S; i++)
                if (c[i] == 0)
                {
                    uint el = AllocEl(); byte* e = _el + (nuint)el * Stride;
                    Unsafe.CopyBlockUnaligned(e, key, 16); Unsafe.CopyBlockUnaligned(e + 16, value, 32);
                    Volatile.Write(ref *(uint*)(c + 16 + 4 * i), el);
                    Volatile.Write(ref c[i], (byte)(0x80 | (byte)h));
                    return 0;
                }
            *(uint*)(c + 12) |= 2;
            g = g + 1 == _g ? 0 : g + 1;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int UpdateExist(byte* key, byte* value)
    {
        ulong h = Hash16(key, _seed);
        uint g = (uint)(((ulong)(uint)(h >> 32) * _g) >> 32);
        Vector128<byte> t = Vector128.Create((byte)(0x80 | (byte)h));
        ulong k0 = Unsafe.ReadUnaligned<ulong>(key), k1 = Unsafe.ReadUnaligned<ulong>(key + 8);
        uint fresh = AllocEl(); byte* fe = _el + (nuint)fresh * Stride;
        Unsafe.CopyBlockUnaligned(fe, key, 16); Unsafe.CopyBlockUnaligned(fe + 16, value, 32);
        while (true)
        {
            byte* c = _b + (nuint)g * 64;
            ref uint W = ref *(uint*)(c + 12);
            uint w = Volatile.Read(ref W) & ~1u;
            if (Interlocked.CompareExchange(ref W, w | 1, w) != w) { Thread.SpinWait(1); continue; }
            Vector128<byte> v = Vector128.LoadAligned(c);
            uint m = Vector128.Equals(v, t).ExtractMostSignificantBits() & 0xFFF;
            while (m != 0)
            {
                ref uint slot = ref *(uint*)(c + 16 + 4 * BitOperations.TrailingZeroCount(m));
                byte* e = _el + (nuint)slot * Stride;
                if (Unsafe.ReadUnaligned<ulong>(e) == k0 && Unsafe.ReadUnaligned<ulong>(e + 8) == k1)
                {
                    uint old = slot;
                    Volatile.Write(ref slot, fresh);
                    Volatile.Write(ref W, w);
                    _free[_freeN++] = old;
                    return 0;
                }
                m &= m - 1;
            }
            Volatile.Write(ref W, w);
            if ((w & 2) == 0) { _free[_freeN++] = fresh; return -2; }
            g = g + 1 == _g ? 0 : g + 1;
        }
    }
}
