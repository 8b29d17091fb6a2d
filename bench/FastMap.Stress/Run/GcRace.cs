using System.Diagnostics;
using FastMap.Stress.Data;
using FastMap.Stress.Systems;

namespace FastMap.Stress.Run;

/// <summary>One gc-race run's inputs and counters (one writer, one collector).</summary>
public sealed class GcRaceShared(KeySpace ks, bool inPlace, bool compare)
{
    public readonly KeySpace Ks = ks;
    public readonly bool InPlace = inPlace, Compare = compare;
    public readonly Refresher Writer = new(ks, inPlace);

    public long WriterTicks;
    public long Scanned, Deleted, Busy, Wrong, CollectorTicks, Passes;
    public long ReinsertFailures;

    public string Variant => (InPlace ? "inplace" : "update") + "/" + (Compare ? "cmpdel" : "delete");
}

/// <summary>
/// gc-race (WORKLOADS.md): a writer refreshes random present keys, a collector scans, snapshots revisions and deletes
/// a random third it judged stale, with plain delete or with compare-and-delete on the snapshot.
/// </summary>
/// <remarks>
/// <para>
/// A deletion is counted wrong when a refresh newer than the collector's snapshot had <em>completed</em> before the
/// collector called delete: the writer publishes the revision in <see cref="KeySpace.Revisions"/> (release) after its
/// update or in-place store returns, and the collector reads it (acquire) just before its delete. That is a lower
/// bound for plain delete (refreshes still in flight are not counted), and exact for compare-and-delete, which must
/// then fail with -EBUSY: a nonzero count there is a broken compare-and-delete (or the kernel's lookup + delete).
/// </para>
/// <para>
/// The collector scans in chunks of at most 65,536 present keys (scan, then delete the chosen third) and after each
/// chunk re-inserts what it deleted, with the key's latest revision, outside its timed part: the fill stays steady,
/// and the map is whole when the run ends, so later workloads and rounds see the same key set.
/// </para>
/// </remarks>
public static class GcRace
{
    public const int Chunk = 65_536;

    public static void Writer<TMap>(ref TMap m, GcRaceShared g, long deadline) where TMap : struct, IMapUnderTest
    {
        long start = Stopwatch.GetTimestamp(), now;
        do
        {
            g.Writer.Step64(ref m);
            now = Stopwatch.GetTimestamp();
        } while (now < deadline);
        g.WriterTicks = now - start;
    }

    public static void Collector<TMap>(ref TMap m, GcRaceShared g, long deadline) where TMap : struct, IMapUnderTest
    {
        KeySpace ks = g.Ks;
        int total = ks.TotalPresent, chunk = Math.Min(Chunk, total), pos = 0;
        var snap = new Value32[chunk];
        var snapSlot = new int[chunk];
        var deleted = new int[chunk];
        var rng = new SplitMix64.Rng(ks.Seed ^ 0xC011EC7);
        long scanned = 0, del = 0, busy = 0, wrong = 0, ticks = 0, passes = 0, reinsertFailures = 0;
        while (Stopwatch.GetTimestamp() < deadline)
        {
            long t0 = Stopwatch.GetTimestamp();
            int live = 0;
            for (int j = 0; j < chunk; j++)
            {
                int code = pos + j;
                if (code >= total) code -= total;
                int s = ks.Slot(code / ks.Present, code % ks.Present);
                if (m.Lookup(in ks.Keys[s], out snap[live]) == St.Ok) snapSlot[live++] = s;
            }
            scanned += chunk;
            int nd = 0;
            for (int j = 0; j < live; j++)
            {
                if (rng.Below(3) != 0) continue; // judged stale: a random third
                int s = snapSlot[j];
                ulong completed = Volatile.Read(ref ks.Revisions[s]);
                int st = g.Compare ? m.CompareAndDelete(in ks.Keys[s], in snap[j]) : m.Delete(in ks.Keys[s]);
                if (st == St.Ok)
                {
                    del++;
                    deleted[nd++] = s;
                    if (completed > snap[j].Revision) wrong++;
                }
                else if (st == St.EBUSY) busy++;
            }
            ticks += Stopwatch.GetTimestamp() - t0;
            passes++;
            for (int j = 0; j < nd; j++)
            {
                int s = deleted[j];
                int st = m.Insert(in ks.Keys[s], Value32.Make(Volatile.Read(ref ks.Revisions[s])));
                if (st != St.Ok && st != St.EEXIST) reinsertFailures++;
            }
            pos += chunk;
            if (pos >= total) pos -= total;
        }
        g.Scanned = scanned; g.Deleted = del; g.Busy = busy; g.Wrong = wrong;
        g.CollectorTicks = ticks; g.Passes = passes; g.ReinsertFailures = reinsertFailures;
    }
}
