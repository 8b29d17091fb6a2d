using System.Runtime.InteropServices;
using Xunit.Abstractions;

namespace FastMap.Tests.Concurrency;

/// <summary>
/// Why compare-and-swap update exists: an agent reads an entry, computes a new value and writes it back while the
/// datapath keeps refreshing the entry's revision (by update, and by a store through an in-place pointer). With the
/// compare on the revision the agent read, no refresh that was confirmed before the agent's call is overwritten;
/// with a plain update, some are (counted and reported, not asserted: how many depends on scheduling).
/// </summary>
public sealed class CompareAndUpdateRaceTests(ITestOutputHelper output)
{
    private const int Keys = 16;

    [StructLayout(LayoutKind.Sequential)]
    private struct Entry
    {
        public ulong Rev;        // the datapath's revision: the compare window [0, 8)
        public ulong Marks;      // how many times the agent rewrote the entry
        public ulong Key;
        public ulong Pad;
    }

    private sealed class Outcome
    {
        public long Calls, Written, Busy, Lost;
    }

    [Theory]
    [InlineData(true, 1)]
    [InlineData(true, 2)]
    [InlineData(false, 3)]
    public void NoConfirmedRefreshIsOverwrittenByACompareAndSwap(bool inPlace, int seed)
    {
        Outcome cas = Run(inPlace, seed, compare: true);
        Outcome plain = Run(inPlace, seed, compare: false);
        output.WriteLine($"{(inPlace ? "in-place" : "update")} refreshes: compare-and-swap {cas.Written} written, {cas.Busy} EBUSY, "
            + $"{cas.Lost} refreshes lost; plain update {plain.Written} written, {plain.Lost} refreshes lost");
        Assert.Equal(0, cas.Lost);
        Assert.True(cas.Written > 0, "the agent never got a write in: the test checked nothing");
        Assert.True(cas.Busy + cas.Written == cas.Calls);
    }

    /// <summary>
    /// Two datapath threads, each the only refresher of its half of the keys (so a key's revisions only grow), and an
    /// agent that reads, computes and writes back. <c>confirmed[k]</c> is the newest revision whose refresh has
    /// returned; the agent reads it just before its call, so a write of revision r while that was above r lost a
    /// refresh that had already been confirmed. A store through an in-place pointer is not excluded by any writer's
    /// lock (nor is it in the kernel), so one that lands during the agent's own call may be overwritten by it. So the
    /// datapath also announces each refresh before it stores it (<c>storing[k]</c>), and after a write the agent takes
    /// the announced revision as the key's floor: any store that landed during its call was announced by then (the
    /// announcement is stored first, and stores become visible in order), and only a refresh confirmed above the
    /// floor counts against a later call. (Reading <c>confirmed</c> for the floor instead undercounts: a store can land
    /// during the call and be confirmed only after the agent looked.)
    /// </summary>
    private static Outcome Run(bool inPlace, int seed, bool compare)
    {
        using BpfMap map = BpfMap.Create(new MapDefinition(MapType.Hash, 8, 32, Keys));
        var confirmed = new long[Keys];
        var storing = new long[Keys];
        for (ulong k = 0; k < Keys; k++)
            Assert.Equal(MapStatus.Ok, map.Update(k, new Entry { Rev = 1, Key = k }));
        Array.Fill(confirmed, 1);
        var outcome = new Outcome();
        int stop = 0;
        const int AgentCalls = 20_000;
        Threads.Run(3, t =>
        {
            if (t < 2)
            {
                // Datapath: refresh keys k with k % 2 == t, each to a higher revision than the last.
                var rng = new Random(seed * 31 + t);
                var revs = new ulong[Keys];
                Array.Fill(revs, 1ul);
                while (Volatile.Read(ref stop) == 0)
                {
                    ulong k = (ulong)(rng.Next(Keys / 2) * 2 + t);
                    ulong rev = ++revs[k];
                    Volatile.Write(ref storing[k], (long)rev);   // announced before the store (see above)
                    if (inPlace)
                    {
                        using (ReadSection.Enter())
                        {
                            ref Entry e = ref map.LookupRef<ulong, Entry>(in k);
                            Volatile.Write(ref e.Rev, rev);   // one aligned 8-byte store, as a BPF program's
                        }
                    }
                    else
                    {
                        Assert.True(map.Lookup(k, out Entry cur) == MapStatus.Ok);
                        Assert.Equal(MapStatus.Ok, map.Update(k, cur with { Rev = rev }, ElemFlags.Exist));
                    }
                    Volatile.Write(ref confirmed[k], (long)rev);
                }
                return;
            }
            // The agent: read, compute, write back; compare-and-swap on the revision it read, or a plain update.
            var ar = new Random(seed * 31 + 7);
            var floor = new long[Keys];
            for (int i = 0; i < AgentCalls; i++)
            {
                ulong k = (ulong)ar.Next(Keys);
                Assert.Equal(MapStatus.Ok, map.Lookup(k, out Entry seen));
                Entry next = seen with { Marks = seen.Marks + 1 };
                long before = Volatile.Read(ref confirmed[k]);
                MapStatus st = compare ? map.CompareAndUpdate(k, next, seen.Rev, 0) : map.Update(k, next, ElemFlags.Exist);
                outcome.Calls++;
                if (st == MapStatus.EBUSY)
                {
                    outcome.Busy++;
                    continue;
                }
                Assert.Equal(MapStatus.Ok, st);
                outcome.Written++;
                if ((ulong)before > seen.Rev && before > floor[k])
                    outcome.Lost++;                      // wrote revision seen.Rev over a newer one confirmed before the call
                // Full fence first: the call ends with a release store (the group unlock), and x86 lets a later load pass
                // an earlier store, so without it the floor could be read before this call's write is visible, and a
                // store that the write then overwrote would count against the next call.
                Interlocked.MemoryBarrier();
                floor[k] = Volatile.Read(ref storing[k]);   // refreshes that landed during the call may be gone: not the next call's
            }
            Volatile.Write(ref stop, 1);
        });
        return outcome;
    }
}
