using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace FastMap.Internal;

/// <summary>
/// Process-wide epoch-based reclamation: FastMap's counterpart of RCU's read-side sections and
/// deferred free. One domain serves every map, as RCU serves every kernel map.
/// </summary>
/// <remarks>
/// <para>Rules (each is asserted or relied on where named):</para>
/// <list type="number">
/// <item>The global epoch <c>G</c> only grows, by one, and only in <see cref="TryAdvance"/>.</item>
/// <item>A reader announces the epoch it read on entry; an announced epoch never exceeds <c>G</c>
///   (it was read from <c>G</c>, and <c>G</c> only grows). 0 means "not in a section".</item>
/// <item><c>G</c> advances from <c>e</c> to <c>e+1</c> only if no announced epoch is below <c>e</c>.
///   So when <c>G = e+2</c>, every reader announced at or before <c>e</c> has left its section.</item>
/// <item>Memory unlinked and then retired with tag <c>e</c> (the value of <c>G</c> read after the
///   unlink) is reused only once <c>G &gt;= e + 2</c> (<see cref="IsSafe"/>). A reader that could have
///   seen the memory entered before the unlink with an announced epoch &lt;= e, and blocks the
///   advance from e+1 to e+2 until it leaves.</item>
/// <item>Never wait for a grace period while in a section or holding a group lock: the wait
///   would wait for itself. FastMap never waits for one at all: allocation that finds no safe
///   memory takes fresh memory instead (bounded while readers make progress), so a delete
///   followed by an insert on a full map succeeds at once, as in the kernel.</item>
/// <item>Sections nest: only the outermost enter announces and only the outermost exit clears.</item>
/// <item>Advances run outside sections: a store that has retired enough (or needs retired memory back)
///   asks for one (<see cref="RequestAdvance"/>), and the thread advances at its outermost exit. From
///   inside, its own announcement would refuse the advance whenever another thread had advanced
///   meanwhile (rule 3).</item>
/// </list>
/// <para>Ordering. Announcing is a store followed by loads of the table, which needs store-to-load
/// ordering against the reclaimer's scan. Readers pay no fence for it: the reclaimer calls
/// <see cref="Interlocked.MemoryBarrierProcessWide"/> (membarrier on Linux) before it scans, which
/// forces a full barrier on every core running this process, so each reader's announce is either
/// visible to the scan or ordered after the reclaimer's earlier stores (the unlink); then the reader
/// cannot find the unlinked memory. This is liburcu's "membarrier" flavour. The reader's store and
/// its later loads are volatile accesses, which the JIT and ILC do not reorder with each other.</para>
/// <para>Thread slots. A thread takes a slot on its first section and keeps it; the slot's
/// <see cref="ThreadSlot"/> owner object lives in a thread-static, so when the thread dies the owner
/// becomes garbage and its finalizer frees the slot. Before the slot table grows, a collection runs
/// so dead threads' slots come back first: the table is bounded by the peak number of live threads.
/// A thread that exits inside a section is treated as having left it once its owner is finalized
/// (a dead thread reads nothing); until then it holds back reclamation, like a task that exits
/// holding rcu_read_lock.</para>
/// <para>Shared maps. A command on a map that lives in a file (<see cref="SharedDomain"/>) also announces the file's
/// epoch in the file, once per outermost section; the thread's due word then asks its outermost exit (here, or
/// fastmap.h's inline <c>fm_read_unlock</c> through <c>fm__advance</c>) to clear those announcements as well, so a
/// pointer into a shared map stays protected in every process for exactly the caller's section.</para>
/// </remarks>
internal static unsafe partial class Epoch
{
    // Slot layout: one 64-byte line per thread so two readers never share a line. Native memory, so that
    // fastmap.h's inline fm_read_lock/fm_read_unlock use the same slot and depth as .NET does.
    // [0..8) announced epoch (0 = quiescent) | [8..12) owner flag | [12..16) nesting depth
    // [16..20) an advance is due at the outermost exit (rule 7) | rest padding.
    private const int SlotBytes = 64;
    private const int OwnerOffset = 8, DepthOffset = 12, AdvanceDueOffset = 16;
    private const int ChunkSlots = 256;        // slots per chunk; chunks never move or free
    private const int MaxChunks = 1024;        // 262,144 threads alive at once, far past any use

    // G, alone on its line pair (every reader loads it on entry, the reclaimer stores it rarely), in native
    // memory so its address is fixed for fastmap.h's inline fm_read_lock. Never freed.
    private static readonly long* s_global = AllocGlobal();

    private static long* AllocGlobal()
    {
        var p = (long*)NativeMemory.AlignedAlloc(128, 128);
        NativeMemory.Clear(p, 128);
        p[8] = 1;
        return p + 8;
    }

    private static readonly byte** s_chunks = (byte**)NativeMemory.AllocZeroed(MaxChunks, (nuint)sizeof(byte*));
    private static int s_chunkCount;           // chunks published; grows under s_growLock
    private static readonly Lock s_growLock = new();

    /// <summary>
    /// The calling thread's slot owner. Its own class on purpose: a thread-static in a class with a
    /// static constructor (Epoch has one) is reached through a slower runtime helper. Measured here: 4.5 ns
    /// an access against 1.1 ns, and every command enters a section.
    /// </summary>
    private static class PerThread
    {
        [ThreadStatic] public static ThreadSlot? Slot;
    }

    /// <summary>Current global epoch (for tagging retired memory after an unlink).</summary>
    public static long Current
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => Volatile.Read(ref *s_global);
    }

    /// <summary>True if the calling thread is inside a section.</summary>
    public static bool IsProtected => PerThread.Slot is { Depth: > 0 };

    /// <summary>The calling thread's nesting depth (0 outside any section).</summary>
    public static int Depth => PerThread.Slot?.Depth ?? 0;

    /// <summary>Enters a read-side section (nests). Pair with <see cref="Exit()"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Enter() => EnterFast();

    /// <summary>
    /// Enters a section for the commands' hot paths: returns the thread's slot owner so the exit
    /// needs no second thread-static lookup. Pair with <see cref="Exit(ThreadSlot)"/> on the same thread.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static ThreadSlot EnterFast()
    {
        ThreadSlot t = PerThread.Slot ?? Attach();
        if (t.Depth++ == 0)
        {
            // Rule 2: the announced value is one read of G. Volatile.Write is a release store:
            // nothing this thread did before the section moves into it; store-to-load ordering
            // against the reclaimer comes from its process-wide barrier (see remarks).
            Volatile.Write(ref *(long*)t.Slot, Volatile.Read(ref *s_global));
        }
        return t;
    }

    /// <summary>Leaves a section entered with <see cref="EnterFast"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Exit(ThreadSlot t)
    {
        if (--t.Depth == 0)
        {
            Volatile.Write(ref *(long*)t.Slot, 0); // release, as in Exit()
            if (t.AdvanceDue != 0)
                RunDueAdvance(t);
        }
    }

    /// <summary>Leaves a read-side section; the outermost exit makes the thread quiescent.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Exit()
    {
        ThreadSlot? t = PerThread.Slot;
        AssertEntered(t);
        if (t is null || t.Depth == 0)
            return; // unbalanced exit (a C caller's extra fm_read_unlock): ignore, never underflow
        if (--t.Depth == 0)
        {
            // Release: every load of the section completes before the reclaimer can see 0 here.
            Volatile.Write(ref *(long*)t.Slot, 0);
            if (t.AdvanceDue != 0)
                RunDueAdvance(t);
        }
    }

    /// <summary>
    /// <see cref="Exit()"/> for C callers (fm_read_unlock): an unmatched call, with the thread in no section
    /// (or never attached), does nothing at all, with no assertion: fastmap.h documents it as ignored.
    /// </summary>
    internal static void ExitIfInside()
    {
        if (PerThread.Slot is { Depth: > 0 } t)
            Exit(t);
    }

    /// <summary>Requests at one epoch after which the thread tries again (see <see cref="RequestAdvance"/>).</summary>
    private const int RetryAfter = 64;

    /// <summary>Asks for an advance at the calling thread's outermost exit: a store found retired memory
    /// it wanted to reuse still inside its grace period. One attempt per thread and epoch, and another
    /// every <see cref="RetryAfter"/> requests while the epoch has not moved: an attempt may cost a
    /// process-wide barrier, but the reader that refused the last one is usually gone a moment later (a
    /// writer's section lasts one operation), and a thread that never tried again would stall reclamation
    /// for good whenever it is the only one retiring (measured: a collector against a refreshing writer
    /// stopped advancing after 54 epochs, and every insert after that went to an overflow record).</summary>
    public static void RequestAdvance()
    {
        if (PerThread.Slot is not { } t)
            return;
        if (t.LastAttempt != Volatile.Read(ref *s_global) || ++t.Refused >= RetryAfter)
        {
            t.Refused = 0;
            t.AdvanceDue |= DueAdvance;
        }
    }

    private static void RunDueAdvance(ThreadSlot t)
    {
        int due = t.AdvanceDue;
        t.AdvanceDue = 0;
        if ((due & DueShared) != 0)
            t.LeaveShared();
        if ((due & DueAdvance) != 0)
        {
            t.LastAttempt = Volatile.Read(ref *s_global);
            TryAdvance();
        }
    }

    /// <summary>Bits of a slot's due word: an advance of this process's epoch (rule 7); announcements in shared maps'
    /// files to clear (<see cref="SharedDomain"/>, rule 2 there).</summary>
    private const int DueAdvance = 1, DueShared = 2;

    /// <summary>True if memory retired with <paramref name="tag"/> may be reused now (rule 4).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool IsSafe(long tag) => Volatile.Read(ref *s_global) >= tag + 2;

    /// <summary>
    /// Tries to advance the global epoch by one (rule 3). Never waits; returns the epoch in force
    /// afterwards. Must not be called with a group or shard lock held (it may issue a process-wide
    /// barrier: 1.5 to 56 us, see below).
    /// </summary>
    public static long TryAdvance()
    {
        long g = Volatile.Read(ref *s_global);
        // An announcement below g that is already visible blocks the advance whatever the barrier
        // would reveal, so look first and skip the barrier then (it costs 1.5 us in a quiet process
        // and 56 us while another thread of the process runs, the IPI's price: measured on the 2-core
        // VM, perf-results/2026-11-28-vm-batch/README.md, finding 2). Returning without advancing is
        // always safe; only an advance needs the barrier.
        if (AnyAnnouncedBelow(g))
            return g;
        // Pairs with every reader's fence-free announce (remarks): after this, each announce is
        // visible below, or that reader's loads are ordered after our earlier unlinks.
        Interlocked.MemoryBarrierProcessWide();
        if (AnyAnnouncedBelow(g))
            return g;
        // The CAS is also the barrier that orders our scan before the new epoch becomes visible;
        // losing it means another thread advanced from g, which is just as good.
        long seen = Interlocked.CompareExchange(ref *s_global, g + 1, g);
        if (seen == g && Volatile.Read(ref s_deferredCount) != 0)
            DrainDeferred();
        return seen == g ? g + 1 : seen;
    }

    /// <summary>True if some thread's visible announcement is an epoch below <paramref name="g"/>.</summary>
    private static bool AnyAnnouncedBelow(long g)
    {
        int chunks = Volatile.Read(ref s_chunkCount);
        for (int c = 0; c < chunks; c++)
        {
            byte* chunk = s_chunks[c];
            for (int i = 0; i < ChunkSlots; i++)
            {
                long a = Volatile.Read(ref *(long*)(chunk + i * SlotBytes));
                if (a != 0 && a < g)
                    return true;
            }
        }
        return false;
    }

    /// <summary>
    /// <see cref="EnterFast"/> for the commands: false, and no section, when this is the thread's first section
    /// and the memory for its slot is not there (the command answers <c>-ENOMEM</c>; a later call may succeed).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static bool TryEnterFast(out ThreadSlot t)
    {
        ThreadSlot? s = PerThread.Slot ?? TryAttach();
        if (s is null)
        {
            t = null!;
            return false;
        }
        if (s.Depth++ == 0)
            Volatile.Write(ref *(long*)s.Slot, Volatile.Read(ref *s_global)); // as EnterFast (rule 2)
        t = s;
        return true;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ThreadSlot? TryAttach()
    {
        try
        {
            return Attach();
        }
        catch (OutOfMemoryException)
        {
            return null;
        }
    }

    private static ThreadSlot Attach()
    {
        byte* slot = ClaimSlot();
        if (slot is null)
        {
            // Dead threads' owners may be waiting for finalization: collect once, then retry.
            GC.Collect();
            GC.WaitForPendingFinalizers();
            slot = ClaimSlot();
            if (slot is null)
                slot = Grow();
        }
        var t = new ThreadSlot(slot);
        PerThread.Slot = t;
        return t;
    }

    private static byte* ClaimSlot()
    {
        int chunks = Volatile.Read(ref s_chunkCount);
        for (int c = 0; c < chunks; c++)
        {
            byte* chunk = s_chunks[c];
            for (int i = 0; i < ChunkSlots; i++)
            {
                int* owner = (int*)(chunk + i * SlotBytes + OwnerOffset);
                // CAS: two attaching threads must not both take one slot.
                if (Volatile.Read(ref *owner) == 0 && Interlocked.CompareExchange(ref *owner, 1, 0) == 0)
                    return chunk + i * SlotBytes;
            }
        }
        return null;
    }

    private static byte* Grow()
    {
        lock (s_growLock)
        {
            byte* s = ClaimSlot();
            if (s is not null)
                return s;
            int c = s_chunkCount;
            if (c == MaxChunks)
                throw new InvalidOperationException("FastMap: more than 262,144 threads alive in read-side sections.");
            // Chunks are never freed (scanners read them without a lock), so they are not counted as a map's memory.
            byte* chunk = (byte*)Allocations.TryAlloc(ChunkSlots * SlotBytes, SlotBytes);
            if (chunk is null)
                throw new OutOfMemoryException("FastMap: no memory for a chunk of epoch slots.");
            Allocations.Account(-(ChunkSlots * SlotBytes));
            *(int*)(chunk + OwnerOffset) = 1; // slot 0 is ours
            s_chunks[c] = chunk;
            // Release: a scanner that sees the new count sees the chunk pointer and its zeroes.
            Volatile.Write(ref s_chunkCount, c + 1);
            return chunk;
        }
    }

    /// <summary>Owns one slot for one thread; its finalizer returns the slot when the thread dies.</summary>
    internal sealed class ThreadSlot(byte* slot)
    {
        public readonly byte* Slot = slot;

        /// <summary>Nesting depth of the thread's sections (in the slot: fastmap.h's inline sections share it).</summary>
        public ref int Depth => ref *(int*)(Slot + DepthOffset);

        /// <summary>Nonzero when the outermost exit has work: an advance (rule 7), shared announcements to clear.</summary>
        public ref int AdvanceDue => ref *(int*)(Slot + AdvanceDueOffset);

        /// <summary>Shared maps' files this thread announced in during its current outermost section.</summary>
        private SharedDomain[]? _shared;        // made on the first shared map the thread uses
        private int _sharedCount;

        /// <summary>Records that the thread announced in <paramref name="d"/>'s file: cleared at the outermost exit.</summary>
        public void HoldShared(SharedDomain d)
        {
            _shared ??= new SharedDomain[2];
            if (_sharedCount == _shared.Length)
                Array.Resize(ref _shared, _sharedCount * 2);
            _shared[_sharedCount++] = d;
            AdvanceDue |= DueShared;
        }

        /// <summary>Clears every announcement of the section that just ended (and runs the advances they owe).</summary>
        public void LeaveShared()
        {
            for (int i = 0; i < _sharedCount; i++)
            {
                _shared![i].Leave();
                _shared[i] = null!;
            }
            _sharedCount = 0;
        }

        /// <summary>The global epoch when this thread last attempted an advance.</summary>
        public long LastAttempt;

        /// <summary>Requests since the last attempt, while the epoch stayed <see cref="LastAttempt"/>.</summary>
        public int Refused;

        ~ThreadSlot()
        {
            // The thread is gone (its thread-static no longer reaches us): it reads nothing more. The slot is
            // cleared before its owner flag, so the next thread to claim it starts at depth 0.
            Volatile.Write(ref *(long*)Slot, 0);
            Depth = 0;
            AdvanceDue = 0;
            Volatile.Write(ref *(int*)(Slot + OwnerOffset), 0);
        }
    }

    /// <summary>The calling thread's slot owner, or null if it has none yet.</summary>
    internal static ThreadSlot? CurrentSlot => PerThread.Slot;

    /// <summary>Address of the global epoch G (fastmap.h's inline fm_read_lock reads it).</summary>
    internal static long* GlobalAddress => s_global;

    /// <summary>The calling thread's slot, attaching one on first use (fastmap.h caches it per thread).</summary>
    internal static byte* AttachCurrent() => (PerThread.Slot ?? Attach()).Slot;

    /// <summary>Runs the advance that fell due for the calling thread (fastmap.h's inline fm_read_unlock calls this
    /// when its outermost exit finds the flag set).</summary>
    internal static void RunDueAdvanceForCurrent()
    {
        if (PerThread.Slot is { } t && t.Depth == 0 && t.AdvanceDue != 0)
            RunDueAdvance(t);
    }
}
