using System.Runtime.CompilerServices;

namespace FastMap.Internal;

internal sealed unsafe partial class SharedDomain
{
    // Thread slots' undo and intent areas, and the recovery of a dead process (the protocol: SharedDomain.cs remarks).

    private byte* ThreadSlot(int s) => _threads + (nuint)s * _threadStride;

    /// <summary>The undo area of lock owner <paramref name="owner"/>: [0..8) the value's offset in the file + 1
    /// (0: no write under way), [<see cref="SharedLayout.ThreadHead"/>..) the value's bytes before the write.</summary>
    public byte* UndoArea(int owner) => ThreadSlot(owner - 1) + UndoOffset;

    /// <summary>Offset of the undo bytes from <see cref="UndoArea"/>.</summary>
    public const int UndoBytesOffset = SharedLayout.ThreadHead - UndoOffset;

    /// <summary>
    /// A thread's capacity intent, in its thread slot: what recovery needs to give back exactly the tokens a dead
    /// thread held. Every field is written by its thread only, each under the lock named.
    /// </summary>
    [System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Sequential)]
    public struct Intent
    {
        /// <summary>1 while the thread holds a token it took and has neither spent on a published key nor given back
        /// (set and cleared under a shard lock; cleared by a key's publication under its group's lock).</summary>
        public int Held;
        /// <summary>The shard operation under way (<c>Capacity.Op*</c>), under that shard's lock: with
        /// <see cref="Before"/> and <see cref="Shard"/> it tells whether the count changed before the holder died.</summary>
        public int Op;
        /// <summary>The tag a held token is being spent on (its offset in the file + 1), under its group's lock.</summary>
        public long Spend;
        /// <summary>The tag of a key being deleted whose token is not yet back (offset + 1), under its group's lock.</summary>
        public long Giving;
        /// <summary>The shard's count before <see cref="Op"/>.</summary>
        public long Before;
        /// <summary>The shard <see cref="Op"/> works on.</summary>
        public int Shard;
        private readonly int _pad;
    }

    private const int IntentOffset = 24;

    /// <summary>The capacity intent of lock owner <paramref name="owner"/> (a thread slot + 1).</summary>
    public Intent* IntentOf(int owner) => (Intent*)(ThreadSlot(owner - 1) + IntentOffset);

    /// <summary>Recovers the locks of a dead owner found holding one (see remarks).</summary>
    public void RecoverOwner(int owner)
    {
        if ((uint)(owner - 1) >= SharedLayout.ThreadSlots)
        {
            _store?.RecoverLocksOf(owner, null);
            return;
        }
        ulong o = Volatile.Read(ref *(ulong*)(ThreadSlot(owner - 1) + OwnerOffset));
        if (o == 0)
        {
            _store?.RecoverLocksOf(owner, null);
            return;
        }
        RecoverProcess((int)(uint)o - 1, (uint)(o >> 32));
    }

    /// <summary>Recovers every dead process's thread slots (at a join, and before a shared map answers <c>-E2BIG</c>: a
    /// dead thread may hold a token). True if there was one.</summary>
    public bool RecoverAllDead()
    {
        bool any = false;
        // One liveness probe (a syscall) per process slot and generation seen, not one per thread slot.
        Span<ulong> alive = stackalloc ulong[SharedLayout.ProcSlots];
        Span<ulong> dead = stackalloc ulong[SharedLayout.ProcSlots];
        alive.Clear();
        dead.Clear();
        for (int s = 0; s < SharedLayout.ThreadSlots; s++)
        {
            ulong o = Volatile.Read(ref *(ulong*)(ThreadSlot(s) + OwnerOffset));
            int p = (int)(uint)o - 1;
            if (o == 0 || (uint)p >= SharedLayout.ProcSlots || alive[p] == o)
                continue;
            if (dead[p] != o)
            {
                if (ProcessAlive(p, (uint)(o >> 32)))
                {
                    alive[p] = o;
                    continue;
                }
                dead[p] = o;
            }
            RecoverProcess(p, (uint)(o >> 32));
            any = true;
        }
        return any;
    }

    /// <summary>Recovers every thread slot of process slot <paramref name="p"/>'s generation <paramref name="gen"/>,
    /// which must be dead. Idempotent.</summary>
    private void RecoverProcess(int p, uint gen)
    {
        if (ProcessAlive(p, gen))
            return;
        AcquireRecoveryLock();
        // A read-only attachment maps the map's pages read-only; its repairs need them writable for the while (its fd is
        // open for writing: every attachment's is). Its own threads write nothing meanwhile: their handle cannot.
        if (!Writable)
            _ = Posix.Mprotect((nint)(Base + Layout.Capacity), (nuint)(Layout.FileBytes - Layout.Capacity), Posix.PROT_READ | Posix.PROT_WRITE);
        Park(ParkPoint.Recovering);
        ulong dead = (uint)(p + 1) | ((ulong)gen << 32);
        for (int s = 0; s < SharedLayout.ThreadSlots; s++)
        {
            byte* t = ThreadSlot(s);
            if (Volatile.Read(ref *(ulong*)(t + OwnerOffset)) != dead)
                continue;
            _store?.RecoverLocksOf(s + 1, t + UndoOffset);
            Volatile.Write(ref *(long*)t, 0);                    // no longer announced
            *(long*)(t + UndoOffset) = 0;
            *(Intent*)(t + IntentOffset) = default;
            Interlocked.CompareExchange(ref *(ulong*)(t + OwnerOffset), 0, dead); // free (release: after the repairs)
        }
        if (!Writable)
            _ = Posix.Mprotect((nint)(Base + Layout.Capacity), (nuint)(Layout.FileBytes - Layout.Capacity), Posix.PROT_READ);
        Volatile.Write(ref *_recoveryLock, 0);
    }

    private void AcquireRecoveryLock()
    {
        // Recovery takes locks (the recovery lock, capacity shards) as this thread of this file: whatever command ran
        // last on the thread may have been another map's.
        t_inRecovery = true;                  // a claim from here must not recover in turn (no slot free: it would recurse)
        int mine = SlotOfThisThread();
        t_inRecovery = false;
        int me = mine >= 0 ? mine + 1 : 1;
        CurrentOwner = me;
        var spin = new SpinWait();
        for (int n = 1; ; n++)
        {
            int held = Volatile.Read(ref *_recoveryLock);
            if (held == 0 && Interlocked.CompareExchange(ref *_recoveryLock, me, 0) == 0)
                return;
            // A recoverer that died mid-way is taken over: recovery is idempotent.
            if (held != 0 && (n & 1023) == 0 && !OwnerAlive(held) && Interlocked.CompareExchange(ref *_recoveryLock, me, held) == held)
                return;
            spin.SpinOnce(sleep1Threshold: -1);
        }
    }
}
