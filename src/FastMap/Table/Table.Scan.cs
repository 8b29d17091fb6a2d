using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;

namespace FastMap.Internal;

/// <summary>
/// Batch scans and batch-friendly probes.
/// </summary>
/// <remarks>
/// <para><b>Buckets.</b> A batch cursor counts <i>buckets</i>, as the kernel's does, and a key's bucket
/// is its home slot, <c>tag &amp; mask</c>. The slot count is fixed for the table's life, so a key
/// keeps its bucket through every <see cref="Rebuild"/>, even though a rebuild re-places it. That is
/// what makes a cursor scan exact under concurrent writers: a key present for the whole scan lies
/// in exactly one bucket, and exactly one call covers that bucket.</para>
/// <para><b>Finding a bucket's keys.</b> By invariant P a key lives in the run of non-empty slots
/// that starts at its home slot. So once a sweep that started at or before bucket <c>b</c> meets an
/// empty slot at virtual position <c>v</c>, it has seen every key of every bucket in <c>[start, v)</c>.
/// A sweep therefore decides only at empty slots, and reads each slot word once (acquire), from one
/// array pointer loaded once: an array that a rebuild retires is never written again, so the sweep
/// sees one consistent array state per slot, and a key present throughout is in every array that is
/// current during the sweep. Keys inserted or deleted during the sweep may or may not be seen.</para>
/// <para>Positions past the last slot wrap (virtual position <c>v</c> is slot <c>v &amp; mask</c>):
/// the keys of the last buckets can sit at the start of the array. A key at virtual position
/// <c>v</c> in slot <c>s</c> with home <c>h</c> belongs to bucket <c>v - ((s - h) &amp; mask)</c>.</para>
/// </remarks>
internal sealed unsafe partial class Table
{
    /// <summary>One live slot a scan found: where, and the word it held.</summary>
    public struct ScanHit
    {
        /// <summary>Slot index in the array the scan read.</summary>
        public uint Slot;
        /// <summary>The key's bucket (home slot).</summary>
        public uint Bucket;
        /// <summary>The slot word as read.</summary>
        public ulong Word;
    }

    /// <summary>Buckets a batch cursor walks (the slot count, fixed for the table's life).</summary>
    public uint BucketCount => _slotCount;

    /// <summary>The element a slot word names.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public byte* ElementOf(ulong word) => Pool.Address((uint)word - IndexBias);

    /// <summary>The tag a live slot word carries.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint TagOfWord(ulong word) => (uint)(word >> 32);

    /// <summary>
    /// Collects the live keys of whole buckets <c>[from, next)</c>, at most <paramref name="max"/> of
    /// them, as the kernel's batch walk does: empty buckets are passed; a bucket that does not fit
    /// the room left ends the walk before it. Returns the number of hits in
    /// <paramref name="hits"/> (grown as needed) and sets <paramref name="next"/> to the first bucket
    /// not covered (<see cref="BucketCount"/> at the end). Zero hits with <paramref name="next"/> below
    /// the end means bucket <paramref name="next"/> alone holds more than <paramref name="max"/> keys.
    /// Lock-free; the caller is in a section, which keeps every hit's element readable until it leaves.
    /// </summary>
    public int CollectBuckets(uint from, uint max, ref ScanHit[] hits, out uint next, out nint array)
    {
        Epoch.AssertProtected();
        Debug.Assert(max > 0 && from < _slotCount);
        ulong* slots = Slots();
        array = (nint)slots;                 // the array the hits' slot numbers refer to
        ulong n = _slotCount;
        int len = 0;           // hits collected
        int committed = 0;     // hits of buckets known complete: below the last empty slot passed
        // A key's slot is at most n - 1 past its bucket, so by 2n every bucket below n is complete.
        for (ulong v = from; ; v++)
        {
            ulong w = v < 2 * n ? Volatile.Read(ref slots[v & _slotMask]) : Empty;
            if (w == Empty)
            {
                // Every bucket below v is complete (invariant P): decide whether the open run fits.
                if ((ulong)len > max)
                {
                    int kept = committed + FitWholeBuckets(hits, committed, len, (int)(max - (uint)committed), out uint cut);
                    next = cut;
                    return kept;
                }
                committed = len;
                if (v >= n)
                {
                    next = (uint)n;
                    return len;
                }
                continue;
            }
            if (w < IndexBias)
                continue;          // tombstone
            uint s = (uint)(v & _slotMask);
            uint home = (uint)(w >> 32) & _slotMask;
            ulong bucket = v - ((s - home) & _slotMask);
            if (bucket < from || bucket >= n)
                continue;          // an earlier bucket's key (or, past the wrap, a first bucket's)
            if (len == hits.Length)
                Array.Resize(ref hits, Math.Max(64, hits.Length * 2));
            hits[len++] = new ScanHit { Slot = s, Bucket = (uint)bucket, Word = w };
        }
    }

    /// <summary>
    /// The open run's hits <c>[start, end)</c> overflow by <c>end - start - room</c>: keeps the whole
    /// buckets that fit (sorted to the front of the range) and returns how many, with the first
    /// bucket left out in <paramref name="cut"/>.
    /// </summary>
    private static int FitWholeBuckets(ScanHit[] hits, int start, int end, int room, out uint cut)
    {
        // Runs are short (load <= 3/4): an insertion sort by bucket is enough.
        for (int i = start + 1; i < end; i++)
        {
            ScanHit h = hits[i];
            int j = i - 1;
            while (j >= start && hits[j].Bucket > h.Bucket)
            {
                hits[j + 1] = hits[j];
                j--;
            }
            hits[j + 1] = h;
        }
        // hits[start + room] is the first hit that does not fit; its whole bucket goes.
        cut = hits[start + room].Bucket;
        int kept = room;
        while (kept > 0 && hits[start + kept - 1].Bucket == cut)
            kept--;
        return kept;
    }

    /// <summary>
    /// Prefetches the home slot line of a tag: batch callers issue it several keys ahead, so that
    /// independent keys' cache misses overlap instead of queueing one after another.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void PrefetchHome(uint tag)
    {
        if (Sse.IsSupported)
            Sse.Prefetch0(Slots() + (tag & _slotMask));
    }

    /// <summary>
    /// Prefetches the element named by a tag's home slot if that slot holds the tag (the common case:
    /// at load 1/2 most keys sit in their home slot). Issued after <see cref="PrefetchHome"/> has had
    /// time to land. A stale read is harmless: it only warms a line. Caller is in a section.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void PrefetchElement(uint tag)
    {
        ulong w = Volatile.Read(ref Slots()[tag & _slotMask]);
        if (Sse.IsSupported && w >= IndexBias && (uint)(w >> 32) == tag)
            Sse.Prefetch0(Pool.Address((uint)w - IndexBias));
    }

    /// <summary>Prefetches an element a scan hit names (scan copies run ahead of their misses).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void PrefetchWord(ulong word)
    {
        if (Sse.IsSupported)
            Sse.Prefetch0(Pool.Address((uint)word - IndexBias));
    }

    /// <summary>
    /// Under the stripe of <paramref name="tag"/>: the slot of the key a scan saw as
    /// <paramref name="word"/> in slot <paramref name="slot"/> of <paramref name="array"/>, if that key
    /// is still live, else <c>uint.MaxValue</c>. Same array and same word: the same element is still
    /// there (an element index is not reused while the caller's section lasts, so no ABA). Otherwise
    /// (a rebuild moved it, or an update replaced it) the key is looked up again.
    /// </summary>
    public uint Relocate(nint array, uint slot, ulong word, uint tag)
    {
        ulong* cur = Slots();
        if ((nint)cur == array && cur[slot] == word)
            return slot;
        return Find(ElementOf(word), tag, out uint now) is null ? uint.MaxValue : now;
    }

    /// <summary>The element in a live slot of the current array (the caller holds its stripe).</summary>
    public byte* ElementAt(uint slot) => ElementOf(Slots()[slot]);
}
