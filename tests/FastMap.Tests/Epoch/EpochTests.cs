using System.Diagnostics;
using FastMap.Tests.Concurrency;
using E = FastMap.Internal.Epoch;

namespace FastMap.Tests.Epoch;

/// <summary>Unit tests of the process-wide epoch: nesting, the advance rule, grace periods, slots.</summary>
[Collection(EpochSerialCollection.Name)]
public sealed class EpochTests
{
    /// <summary>Runs <paramref name="body"/> on a fresh thread (its own slot and nesting depth).</summary>
    private static void OnFreshThread(Action body) => Threads.Run(1, _ => body());

    [Fact]
    public void SectionsNestAndOnlyTheOutermostExitLeaves()
    {
        OnFreshThread(() =>
        {
            Assert.Equal(0, E.DepthForTests);
            Assert.False(E.IsProtected);
            E.Enter();
            E.Enter();
            E.Enter();
            Assert.Equal(3, E.DepthForTests);
            Assert.True(E.IsProtected);
            Assert.True(ReadSection.IsActive);
            E.Exit();
            E.Exit();
            Assert.Equal(1, E.DepthForTests);
            Assert.True(E.IsProtected);
            E.Exit();
            Assert.Equal(0, E.DepthForTests);
            Assert.False(E.IsProtected);
            using (ReadSection.Enter())
            using (ReadSection.Enter())
                Assert.Equal(2, E.DepthForTests);
            Assert.Equal(0, E.DepthForTests);
        });
    }

    [Fact]
    public void AnInnerExitDoesNotReleaseTheOuterSectionsEpoch()
    {
        OnFreshThread(() =>
        {
            E.Enter();
            long e = E.Current;
            E.Enter();
            E.Exit(); // inner exit: still protected, still announced
            for (int i = 0; i < 10; i++)
                E.TryAdvance();
            Assert.True(E.Current <= e + 1, $"epoch advanced from {e} to {E.Current} past a nested section");
            E.Exit();
        });
        AdvanceTwice();
    }

    [Fact]
    public void TryAdvanceCannotAdvanceTwicePastAParkedReader()
    {
        using var reader = new ParkedReader();
        long e = reader.EpochAfterEnter; // the reader announced at most e
        for (int i = 0; i < 100; i++)
        {
            E.TryAdvance();
            Assert.True(E.Current <= e + 1, $"rule 3: global epoch {E.Current} with a reader parked at <= {e}");
        }
        reader.Release();
        long before = E.Current;
        AdvanceTwice();
        Assert.True(E.Current >= before + 2);
    }

    [Fact]
    public void AParkedNestedReaderAlsoHoldsTheEpoch()
    {
        using var reader = new ParkedReader(nesting: 3);
        long e = reader.EpochAfterEnter;
        for (int i = 0; i < 20; i++)
            E.TryAdvance();
        Assert.True(E.Current <= e + 1);
    }

    [Fact]
    public void RetiredTagIsNotSafeWhileAReaderThatEnteredBeforeItIsParked()
    {
        var reader = new ParkedReader();
        try
        {
            long tag = E.Current; // retired now, after the reader entered
            for (int i = 0; i < 50; i++)
            {
                E.TryAdvance();
                Assert.False(E.IsSafe(tag), $"tag {tag} safe at epoch {E.Current} while a reader from <= {reader.EpochAfterEnter} is parked");
            }
        }
        finally
        {
            reader.Release();
        }
        long tag2 = E.Current;
        AdvanceTwice();
        Assert.True(E.IsSafe(tag2), $"tag {tag2} not safe at epoch {E.Current} after the reader left and two advances");
    }

    [Fact]
    public void ATagRetiredBeforeTheReaderEnteredDoesNotWaitForIt()
    {
        long tag = E.Current;
        using var reader = new ParkedReader();
        // The reader announced at least tag, so one advance past it is allowed, but a second is
        // not: a tag is safe only at tag + 2, which needs the reader gone if it entered at tag.
        for (int i = 0; i < 10; i++)
            E.TryAdvance();
        Assert.True(E.Current <= reader.EpochAfterEnter + 1);
        Assert.Equal(E.IsSafe(tag), E.Current >= tag + 2);
    }

    [Fact]
    public void TheGlobalEpochOnlyGrowsAndAdvancesByOne()
    {
        long last = E.Current;
        for (int i = 0; i < 1000; i++)
        {
            long now = E.TryAdvance();
            Assert.True(now >= last, $"epoch went back from {last} to {now}");
            last = E.Current;
        }
        Threads.Run(2, _ =>
        {
            for (int i = 0; i < 2000; i++)
            {
                long before = E.Current;
                long after = E.TryAdvance();
                Assert.True(after >= before);
            }
        });
    }

    [Fact]
    public void AnUnbalancedExitIsIgnored()
    {
        WithDebugAssertsRecorded(failures =>
        {
            OnFreshThread(() =>
            {
                E.Exit(); // no slot yet
                Assert.Equal(0, E.DepthForTests);
                E.Enter();
                E.Exit();
                E.Exit(); // one too many
                E.Exit();
                Assert.Equal(0, E.DepthForTests);
                Assert.False(E.IsProtected);
                E.Enter(); // still works, and still announces
                Assert.Equal(1, E.DepthForTests);
                long e = E.Current;
                for (int i = 0; i < 10; i++)
                    E.TryAdvance();
                Assert.True(E.Current <= e + 1);
                E.Exit();
                Assert.Equal(0, E.DepthForTests);
            });
            // In a Debug build each extra Exit trips the assert that names the caller's mistake.
            Assert.All(failures, m => Assert.Contains("without a matching Enter", m));
        });
        AdvanceTwice();
    }

    [Fact]
    [Trait("Category", "Stress")]
    public void ShortLivedThreadsDoNotGrowTheSlotTableWithoutBound()
    {
        CollectDeadThreads();
        int baselineOwned = E.OwnedSlotsForTests;
        int baselineCapacity = E.SlotCapacityForTests;
        const int total = 2000, batch = 16;
        for (int b = 0; b < total / batch; b++)
        {
            Threads.Run(batch, _ =>
            {
                using (ReadSection.Enter())
                using (ReadSection.Enter())
                    Assert.True(ReadSection.IsActive);
            });
        }
        CollectDeadThreads();
        int owned = E.OwnedSlotsForTests;
        // Live threads (xunit's, the thread pool's) may own a few more slots than at the start.
        Assert.True(owned <= baselineOwned + 32, $"slots owned: {baselineOwned} before, {owned} after {total} short-lived threads");
        Assert.True(E.SlotCapacityForTests <= Math.Max(baselineCapacity, 256) + 256,
            $"slot capacity grew from {baselineCapacity} to {E.SlotCapacityForTests}");
        // Dead threads left no announced epoch behind.
        AdvanceTwice();
    }

    [Fact]
    public void AThreadThatDiesInsideASectionStopsHoldingTheEpochOnceCollected()
    {
        long e = 0;
        OnFreshThread(() =>
        {
            E.Enter(); // never left: the thread exits inside its section
            e = E.Current;
        });
        CollectDeadThreads();
        AdvanceTwice();
        Assert.True(E.Current >= e + 2, $"a dead thread's section still holds the epoch at {E.Current} (entered at <= {e})");
    }

    private static void CollectDeadThreads()
    {
        for (int i = 0; i < 3; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }
    }

    /// <summary>Two advances must succeed when no test reader is parked (this collection runs alone).</summary>
    private static void AdvanceTwice()
    {
        for (int n = 0; n < 2; n++)
        {
            long g = E.Current;
            long after = E.TryAdvance();
            Assert.True(after == g + 1 || E.Current > g,
                $"could not advance from {g}: a section is still open somewhere");
        }
    }

    /// <summary>Routes Debug.Assert failures to a list for the duration (they would end the process).</summary>
    private static void WithDebugAssertsRecorded(Action<List<string>> body)
    {
        var recorder = new RecordingListener();
        var saved = new TraceListener[Trace.Listeners.Count];
        Trace.Listeners.CopyTo(saved, 0);
        Trace.Listeners.Clear();
        Trace.Listeners.Add(recorder);
        try
        {
            body(recorder.Failures);
        }
        finally
        {
            Trace.Listeners.Clear();
            Trace.Listeners.AddRange(saved);
        }
    }

    private sealed class RecordingListener : TraceListener
    {
        public List<string> Failures { get; } = [];

        public override void Fail(string? message, string? detailMessage)
        {
            lock (Failures)
                Failures.Add(message ?? "");
        }

        public override void Write(string? message) { }

        public override void WriteLine(string? message) { }
    }
}
