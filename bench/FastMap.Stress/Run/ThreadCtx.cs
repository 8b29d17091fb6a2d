using FastMap.Stress.Data;
using HdrHistogram;

namespace FastMap.Stress.Run;

/// <summary>One measuring thread's inputs (prepared before the timed loop) and outputs.</summary>
public sealed class ThreadCtx(KeySpace ks, int threads, int t)
{
    public readonly KeySpace Ks = ks;
    public readonly int Threads = threads, T = t;

    // Inputs: the keys this thread names, in its order, with their slots and current revisions.
    public Key16[] Q = [];
    private Key16[] _keys = [];
    public int[] QSlot = [];
    public ulong[] QRev = [];
    public int QLen;
    public int[] Owned = [];
    public int ChurnNext;
    // bulk-lookup: where the next call's keys start in Q, and its outputs.
    public int BulkNext;
    public readonly Value32[] BulkValues = new Value32[Workloads.BulkKeys];
    public readonly int[] BulkResults = new int[Workloads.BulkKeys];

    // Outputs of the timed part.
    public long Iterations, Errors, AllocatedBytes, StartTicks, EndTicks;
    public ulong Sink;
    public readonly LongHistogram Hist = new(60L * 1_000_000_000, 3);

    /// <summary>Clears the outputs (after a warm-up, before the counted slices).</summary>
    public void Reset()
    {
        Hist.Reset();
        Iterations = Errors = AllocatedBytes = 0;
    }

    public void Prepare(Workload w)
    {
        Reset();
        Owned = Ks.Owned(Threads, T);
        ChurnNext = 0;
        BulkNext = 0;
        if (w == Workload.LookupMiss)
        {
            Q = Ks.Misses(T);
            QLen = Q.Length;
            return;
        }
        if (w == Workload.Churn) { QLen = 1; return; }
        int[] order = Ks.Order(w.ReadsAllKeys() ? 0 : 1, Threads, T);
        if (_keys.Length < order.Length)
        {
            _keys = new Key16[order.Length];
            QSlot = new int[order.Length];
            QRev = new ulong[order.Length];
        }
        Q = _keys;
        for (int i = 0; i < order.Length; i++)
        {
            int s = Ks.SlotOfCode(order[i]);
            QSlot[i] = s;
            Q[i] = Ks.Keys[s];
            QRev[i] = Ks.Revisions[s];
        }
        QLen = order.Length;
    }

    /// <summary>Writes back the revisions update-exist advanced (this thread owned those keys).</summary>
    public void Finish(Workload w)
    {
        if (w != Workload.UpdateExist) return;
        for (int i = 0; i < QLen; i++) Ks.Revisions[QSlot[i]] = QRev[i];
    }
}
