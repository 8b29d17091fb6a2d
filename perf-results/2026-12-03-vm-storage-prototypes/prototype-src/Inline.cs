using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Proto;

// Prototype: groups of 12 inline 48-byte entries; ctrl 16 B = 12 tags + W (bit0 lock, bit1 ext, bits2.. version; odd = in progress).
public sealed unsafe class InlineMap
{
    const int S = 12, Stride = 48;
    readonly byte* _ctrl; readonly byte* _ent; readonly uint _g; readonly ulong _seed;
    [DllImport("libc")] static extern int madvise(void* a, nuint l, int adv);
    static byte* Alloc(nuint n) { nuint sz = (n + (2u<<20) - 1) & ~((2u<<20)-1); var p = (byte*)NativeMemory.AlignedAlloc(sz, 2u<<20); madvise(p, sz, 14); NativeMemory.Clear(p, sz); return p; }
    public InlineMap(uint max, double alpha = 0.8) { _g = (uint)Math.Ceiling(max / (S * alpha)); _ctrl = Alloc((nuint)_g * 16); _ent = Alloc((nuint)_g * S * Stride); _seed = 0x1234567; }
    public long Bytes => (long)_g * (16 + S * Stride);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static ulong Hash16(byte* key, ulong seed) { ulong a = Unsafe.ReadUnaligned<ulong>(key) ^ seed ^ 0x9E3779B97F4A7C15; ulong b = Unsafe.ReadUnaligned<ulong>(key + 8) ^ BitOperations.RotateLeft(seed, 32) ^ 0xBF58476D1CE4E5B9; ulong hi = Math.BigMul(a, b, out ulong lo); return hi ^ lo; }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int Lookup(byte* key, byte* value)
    {
        ulong h = Hash16(key, _seed);
        uint g = (uint)(((ulong)(uint)(h >> 32) * _g) >> 32);
        Vector128<byte> t = Vector128.Create((byte)(0x80 | (byte)h));
        ulong k0 = Unsafe.ReadUnaligned<ulong>(key), k1 = Unsafe.ReadUnaligned<ulong>(key + 8);
        while (true)
        {
            byte* c = _ctrl + (nuint)g * 16;
            Vector128<byte> v = Vector128.LoadAligned(c);
            uint w = v.AsUInt32().GetElement(3);
            uint m = Vector128.Equals(v, t).ExtractMostSignificantBits() & 0xFFF;
            while (m != 0)
            {
                byte* e = _ent + ((nuint)g * S + (uint)BitOperations.TrailingZeroCount(m)) * Stride;
                if (Unsafe.ReadUnaligned<ulong>(e) == k0 && Unsafe.ReadUnaligned<ulong>(e + 8) == k1)
                {
                    Unsafe.CopyBlockUnaligned(value, e + 16, 32);
                    Volatile.ReadBarrier();
                    uint w2 = Volatile.Read(ref *(uint*)(c + 12));
                    if (((w ^ w2) & ~3u) == 0 && (w & 4) == 0) return 0;
                    goto retry;
                }
                m &= m - 1;
            }
            if ((w & 2) == 0) return -2;
            g = g + 1 == _g ? 0 : g + 1;
            continue;
        retry:
            Thread.SpinWait(1);
            g = (uint)(((ulong)(uint)(h >> 32) * _g) >> 32);
        }
    }

    public int Insert(byte* key, byte* value)
    {
        ulong h = Hash16(key, _seed);
        uint g = (uint)(((ulong)(uint)(h >> 32) * _g) >> 32);
        while (true)
        {
            byte* c = _ctrl + (nuint)g * 16;
            for (int i = 0; i < S; i++)
                if (c[i] == 0)
                {
                    byte* e = _ent + ((nuint)g * S + (uint)i) * Stride;
                    Unsafe.CopyBlockUnaligned(e, key, 16); Unsafe.CopyBlockUnaligned(e + 16, value, 32);
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
        while (true)
        {
            byte* c = _ctrl + (nuint)g * 16;
            Vector128<byte> v = Vector128.LoadAligned(c);
            uint m = Vector128.Equals(v, t).ExtractMostSignificantBits() & 0xFFF;
            while (m != 0)
            {
                int i = BitOperations.TrailingZeroCount(m);
                byte* e = _ent + ((nuint)g * S + (uint)i) * Stride;
                if (Unsafe.ReadUnaligned<ulong>(e) == k0 && Unsafe.ReadUnaligned<ulong>(e + 8) == k1)
                {
                    ref uint W = ref *(uint*)(c + 12);
                    uint w = Volatile.Read(ref W) & ~5u;
                    if (Interlocked.CompareExchange(ref W, w | 5, w) != w) { Thread.SpinWait(1); goto again; }
                    if (Volatile.Read(ref c[i]) != t.GetElement(0)) { Volatile.Write(ref W, w); goto again; } // recheck (proto: skip key recheck)
                    Unsafe.CopyBlockUnaligned(e + 16, value, 32);
                    Volatile.Write(ref W, w + 8);
                    return 0;
                }
                m &= m - 1;
            }
            if ((v.AsUInt32().GetElement(3) & 2) == 0) return -2;
            g = g + 1 == _g ? 0 : g + 1;
            continue;
        again:
            g = (uint)(((ulong)(uint)(h >> 32) * _g) >> 32);
        }
    }
}
