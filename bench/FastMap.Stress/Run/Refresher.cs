using System.Runtime.CompilerServices;
using FastMap.Stress.Data;
using FastMap.Stress.Systems;

namespace FastMap.Stress.Run;

/// <summary>
/// The writer of gc-race and gc-pass: refreshes present keys in a random order, each with a new revision, and
/// publishes every revision that landed in <see cref="KeySpace.Revisions"/>, so the collector can tell a live entry
/// from a stale one.
/// </summary>
public sealed class Refresher
{
    private readonly KeySpace _ks;
    private readonly Key16[] _keys;
    private readonly int[] _slots;
    private readonly bool _inPlace;
    private int _next;
    private ulong _revision;

    public long Ops, Hits, Lost;

    /// <summary>
    /// A writer over every present key of <paramref name="ks"/> (the read order of one thread), with revisions past
    /// anything written to this view before.
    /// </summary>
    public Refresher(KeySpace ks, bool inPlace)
    {
        _ks = ks;
        _inPlace = inPlace;
        _revision = ks.NextWriterRevision;
        ks.NextWriterRevision += 1UL << 36;
        int[] order = ks.Order(0, 1, 0);
        _keys = new Key16[order.Length];
        _slots = new int[order.Length];
        for (int i = 0; i < order.Length; i++) { int s = ks.SlotOfCode(order[i]); _slots[i] = s; _keys[i] = ks.Keys[s]; }
    }

    /// <summary>The next 64 refreshes: update with a new revision, or one in-place store of it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Step64<TMap>(ref TMap m) where TMap : struct, IMapUnderTest =>
        Step64(ref m, new ArrayRevisions(_ks.Revisions));

    /// <summary>
    /// <see cref="Step64{TMap}(ref TMap)"/>, publishing into <paramref name="published"/> (xproc-gc-race/xproc-gc-pass:
    /// the MAP_SHARED revision file the collector process reads) instead of <see cref="KeySpace.Revisions"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Step64<TMap, TRev>(ref TMap m, TRev published) where TMap : struct, IMapUnderTest where TRev : struct, IRevisions
    {
        Key16[] keys = _keys;
        int i = _next;
        for (int k = 0; k < 64; k++)
        {
            ulong rev = ++_revision;
            int landed = _inPlace
                ? m.StoreRevisionInPlace(in keys[i], rev)
                : m.Update(in keys[i], Value32.Make(rev), Upd.Any) == St.Ok ? 1 : 0;
            if (landed < 0) Lost++;
            if (landed > 0)
            {
                // Release: the refresh is in the map before the collector can see this revision.
                Volatile.Write(ref published[_slots[i]], rev);
                Hits++;
            }
            if (++i == keys.Length) i = 0;
        }
        _next = i;
        Ops += 64;
    }
}
