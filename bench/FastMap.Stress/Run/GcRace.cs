using System.Diagnostics;
using FastMap.Stress.Data;
using FastMap.Stress.Systems;

namespace FastMap.Stress.Run;

/// <summary>One gc-race run's inputs and counters (one writer, one collector).</summary>
/// <remarks><paramref name="localWriter"/> false: xproc-gc-race, whose writer runs in the writer process
/// (<see cref="XprocWriter"/>); its counts then come back in <see cref="WriterOps"/> and <see cref="WriterLost"/>.</remarks>
public sealed class GcRaceShared(KeySpace ks, bool inPlace, bool compare, bool localWriter = true)
{
    public readonly KeySpace Ks = ks;
    public readonly bool InPlace = inPlace, Compare = compare;
    public readonly Refresher? Writer = localWriter ? new(ks, inPlace) : null;

    public long WriterTicks, WriterOps, WriterLost;
    /// <summary>Keys <see cref="GcRace.Reconcile"/> set after the run.</summary>
    public int Reconciled;
    public long Scanned, Deleted, Busy, Wrong, CollectorTicks, Passes;
    public long ReinsertFailures;
    /// <summary>The first wrong deletions of a compare-and-delete run, described (slot, snapshot and completed revision,
    /// and whether the snapshot revision was one the collector itself had re-inserted).</summary>
    public readonly List<string> WrongDetails = [];
    /// <summary>The revision each key slot was last re-inserted with by the collector (for <see cref="WrongDetails"/>
    /// and <see cref="GcRace.Reconcile"/>); made here, before the run's deadline is set (at L it is 32 MiB to fault in).</summary>
    public readonly ulong[] Reinserted = new ulong[ks.Size];
    /// <summary>1 for every key slot the collector re-inserted in this run (a revision of 0 is a valid re-insert).</summary>
    public readonly bool[] ReinsertedAny = new bool[ks.Size];

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

    /// <summary>
    /// After a run, with the writer stopped (untimed): every key the collector re-inserted whose stored revision is
    /// older than the last one the writer published is set to that one. A plain delete does not know the revision it
    /// deleted: a refresh that landed after the scan and was published after the re-insert read the published revisions
    /// leaves the key a revision behind, and the next variant on this map (gc-race runs them one after the other on
    /// one map) would count that key's compare-and-delete as a wrong deletion. Returns the keys set.
    /// </summary>
    public static int Reconcile<TMap, TRev>(ref TMap m, GcRaceShared g, TRev published)
        where TMap : struct, IMapUnderTest where TRev : struct, IRevisions
    {
        // A compare-and-delete deleted exactly its snapshot revision, and the re-insert is never older than that.
        if (g.Compare) return 0;
        int fixedKeys = 0;
        bool[] re = g.ReinsertedAny;
        for (int s = 0; s < re.Length; s++)
        {
            if (!re[s]) continue;
            ulong p = Volatile.Read(ref published[s]);
            if (m.Lookup(in g.Ks.Keys[s], out Value32 v) == St.Ok && v.Revision < p)
            {
                m.Update(in g.Ks.Keys[s], Value32.Make(p), Upd.Exist);
                fixedKeys++;
            }
        }
        return fixedKeys;
    }

    public static void Writer<TMap>(ref TMap m, GcRaceShared g, long deadline) where TMap : struct, IMapUnderTest
    {
        long start = Stopwatch.GetTimestamp(), now;
        Refresher w = g.Writer!;
        do
        {
            w.Step64(ref m);
            now = Stopwatch.GetTimestamp();
        } while (now < deadline);
        g.WriterTicks = now - start;
        (g.WriterOps, g.WriterLost) = (w.Ops, w.Lost);
    }

    public static void Collector<TMap>(ref TMap m, GcRaceShared g, long deadline) where TMap : struct, IMapUnderTest =>
        Collector(ref m, g, deadline, new ArrayRevisions(g.Ks.Revisions));

    /// <summary>The collector, reading completed revisions from <paramref name="completedRevisions"/> (xproc-gc-race:
    /// the shared file the writer process publishes into).</summary>
    public static void Collector<TMap, TRev>(ref TMap m, GcRaceShared g, long deadline, TRev completedRevisions)
        where TMap : struct, IMapUnderTest where TRev : struct, IRevisions
    {
        KeySpace ks = g.Ks;
        int total = ks.TotalPresent, chunk = Math.Min(Chunk, total), pos = 0;
        var snap = new Value32[chunk];
        var snapSlot = new int[chunk];
        var deleted = new int[chunk];
        var deletedRev = new ulong[chunk];
        var rng = new SplitMix64.Rng(ks.Seed ^ 0xC011EC7);
        ulong[] reinserted = g.Reinserted;
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
                ulong completed = Volatile.Read(ref completedRevisions[s]);
                int st = g.Compare ? m.CompareAndDelete(in ks.Keys[s], in snap[j]) : m.Delete(in ks.Keys[s]);
                if (st == St.Ok)
                {
                    del++;
                    deletedRev[nd] = snap[j].Revision;
                    deleted[nd++] = s;
                    if (completed > snap[j].Revision)
                    {
                        wrong++;
                        if (g.Compare && g.WrongDetails.Count < 8)
                            g.WrongDetails.Add($"slot {s}: snapshot revision 0x{snap[j].Revision:X}, completed 0x{completed:X} (published before the call), " +
                                               $"the collector's last re-insert of the key 0x{reinserted[s]:X}" +
                                               (snap[j].Revision == reinserted[s] ? " (= the snapshot: the key held the collector's re-insert after the writer's newer update had returned)" : ""));
                    }
                }
                else if (st == St.EBUSY) busy++;
            }
            ticks += Stopwatch.GetTimestamp() - t0;
            passes++;
            for (int j = 0; j < nd; j++)
            {
                int s = deleted[j];
                // Not older than what was deleted: the writer updates the map, then publishes, so a key the scan saw at a
                // new revision can be deleted before that revision is published; re-inserted with the published one, it
                // went back a revision, and the next chunk counted its compare-and-delete on that older snapshot as a wrong
                // deletion (seen on FastMap, FastMap-C and ConcurrentDictionary alike: the snapshot was the collector's own
                // re-insert, the completed revision one writer cycle newer).
                ulong rev = Math.Max(deletedRev[j], Volatile.Read(ref completedRevisions[s]));
                int st = m.Insert(in ks.Keys[s], Value32.Make(rev));
                if (st != St.Ok && st != St.EEXIST) reinsertFailures++;
                if (st == St.Ok) { reinserted[s] = rev; g.ReinsertedAny[s] = true; }
            }
            pos += chunk;
            if (pos >= total) pos -= total;
        }
        g.Scanned = scanned; g.Deleted = del; g.Busy = busy; g.Wrong = wrong;
        g.CollectorTicks = ticks; g.Passes = passes; g.ReinsertFailures = reinsertFailures;
    }
}
