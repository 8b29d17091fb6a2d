using System.Runtime.CompilerServices;

namespace FastMap.Internal;

internal sealed unsafe partial class SharedDomain
{
    // ---- threads ---------------------------------------------------------------------------------

    /// <summary>The calling thread's slots, by domain number (slot + 1; 0: none), and the advances it owes.</summary>
    private sealed class Member
    {
        public int[] Slots = new int[4];
        public bool[] Due = new bool[4];
        public bool[] Listed = new bool[4];       // in the thread's Epoch list of files to leave at its outermost exit

        ~Member()
        {
            // The thread has died: its slots go back (it is in no section, it holds no lock).
            for (int n = 0; n < Slots.Length; n++)
                if (Slots[n] != 0 && Volatile.Read(ref s_domains[n]) is { } d)
                    d.ReleaseThreadSlot(Slots[n] - 1);
        }
    }

    [ThreadStatic] private static Member? t_member;
    [ThreadStatic] private static bool t_inRecovery;

    /// <summary>The calling thread's slot in this file, taken on first use; -1 if all are taken.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int SlotOfThisThread()
    {
        Member? m = t_member;
        if (m is not null && _number < m.Slots.Length && m.Slots[_number] != 0)
            return m.Slots[_number] - 1;
        return ClaimThreadSlot();
    }

    private int ClaimThreadSlot()
    {
        Member m = t_member ??= new Member();
        if (_number >= m.Slots.Length)
        {
            int n = Math.Max(_number + 1, m.Slots.Length * 2);
            Array.Resize(ref m.Slots, n);
            Array.Resize(ref m.Due, n);
            Array.Resize(ref m.Listed, n);
        }
        ulong mine = (uint)(_proc + 1) | ((ulong)_gen << 32);
        for (int s = 0; s < SharedLayout.ThreadSlots; s++)
        {
            byte* t = ThreadSlot(s);
            if (Volatile.Read(ref *(ulong*)(t + OwnerOffset)) != 0)
                continue;
            if (Interlocked.CompareExchange(ref *(ulong*)(t + OwnerOffset), mine, 0) == 0)
            {
                m.Slots[_number] = s + 1;
                return s;
            }
        }
        // All taken: perhaps by dead processes whose slots nobody has recovered yet.
        for (int s = 0; s < SharedLayout.ThreadSlots && !t_inRecovery; s++)
        {
            ulong o = Volatile.Read(ref *(ulong*)(ThreadSlot(s) + OwnerOffset));
            if (o != 0 && !ProcessAlive((int)(uint)o - 1, (uint)(o >> 32)))
            {
                RecoverProcess((int)(uint)o - 1, (uint)(o >> 32));
                return ClaimThreadSlot();
            }
        }
        return -1;
    }

    private void ReleaseThreadSlot(int s)
    {
        lock (this)                            // against Detach, which unmaps the tables
        {
            if (_detached != 0)
                return;
            byte* t = ThreadSlot(s);
            ulong mine = (uint)(_proc + 1) | ((ulong)_gen << 32);
            if (Volatile.Read(ref *(ulong*)(t + OwnerOffset)) != mine)
                return;
            Volatile.Write(ref *(long*)t, 0);
            Interlocked.CompareExchange(ref *(ulong*)(t + OwnerOffset), 0, mine);
        }
    }

    // ---- the file's epoch --------------------------------------------------------------------

    /// <summary>The file's epoch G.</summary>
    public long Current
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => Volatile.Read(ref *_global);
    }

    /// <summary>True if memory retired with <paramref name="tag"/> may be reused (Epoch rule 4, on the file's G).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool IsSafe(long tag) => Current >= tag + 2;

    /// <summary>
    /// Enters the file's epoch for the calling thread's current command (rule 2 above): announces G unless the
    /// thread already has, inside its current outermost section, and sets <see cref="CurrentOwner"/>. False when the
    /// thread cannot have a slot (all <see cref="SharedLayout.ThreadSlots"/> are held by live threads: <c>-ENOMEM</c>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Announce(Epoch.ThreadSlot t)
    {
        int s = SlotOfThisThread();
        if (s < 0)
            return false;
        CurrentOwner = s + 1;
        long* e = (long*)ThreadSlot(s);
        if (*e == 0)
        {
            // Rule 2: a plain store; store-to-load order against a reclaimer in any process comes from its global
            // membarrier, or, if some process could not register for it, from this fence.
            Volatile.Write(ref *e, Current);
            if (Volatile.Read(ref *_readersFence) != 0)
                Interlocked.MemoryBarrier();
            Hold(t);
        }
        return true;
    }

    /// <summary>Binds the calling thread to its slot in this file for a command that validates what it reads (a write, a
    /// copying read): sets <see cref="CurrentOwner"/>, announces nothing. False when no slot is to be had (<c>-ENOMEM</c>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Bind()
    {
        int s = SlotOfThisThread();
        CurrentOwner = s + 1;
        return s >= 0;
    }

    /// <summary>Has the thread's outermost exit call <see cref="Leave"/> (once a section: the due flag says it is listed).</summary>
    private void Hold(Epoch.ThreadSlot t)
    {
        Member m = t_member!;
        if (!m.Listed[_number])
        {
            m.Listed[_number] = true;
            t.HoldShared(this);
        }
    }

    /// <summary>Called by <see cref="Epoch"/> at the thread's outermost exit: clears the announcement and runs an
    /// advance the thread owes this file.</summary>
    internal void Leave()
    {
        Member? m = t_member;
        if (m is null || _number >= m.Slots.Length || m.Slots[_number] == 0)
            return;
        Volatile.Write(ref *(long*)ThreadSlot(m.Slots[_number] - 1), 0); // release: the section's loads come first
        m.Listed[_number] = false;
        if (m.Due[_number])
        {
            m.Due[_number] = false;
            TryAdvance();
        }
    }

    /// <summary>Asks for an advance of the file's epoch at the calling thread's outermost exit (rule 7). Called by a
    /// store inside a command, so the thread is in a section and bound to a slot here.</summary>
    public void RequestAdvance()
    {
        Member? m = t_member;
        if (m is null || _number >= m.Slots.Length || m.Slots[_number] == 0 || m.Due[_number])
            return;
        m.Due[_number] = true;
        if (Epoch.CurrentSlot is { } t)
            Hold(t);
    }

    /// <summary>Tries to advance G by one (rule 3 across processes); never waits. Outside sections only.</summary>
    public long TryAdvance()
    {
        long g = Current;
        if (AnyLiveAnnouncedBelow(g))
            return g;
        // Every CPU running a registered process passes a full barrier: an announcement stored before it is
        // visible to the scan below, and a reader that announces after it sees the unlinks that preceded it.
        if (Volatile.Read(ref s_membarrier) == 1)
            _ = Posix.Membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED);
        else
            _ = Posix.Membarrier(MEMBARRIER_CMD_GLOBAL);
        Interlocked.MemoryBarrier();
        if (AnyLiveAnnouncedBelow(g))
            return g;
        return Interlocked.CompareExchange(ref *_global, g + 1, g) == g ? g + 1 : Current;
    }

    private bool AnyLiveAnnouncedBelow(long g)
    {
        for (int s = 0; s < SharedLayout.ThreadSlots; s++)
        {
            byte* t = ThreadSlot(s);
            long e = Volatile.Read(ref *(long*)t);
            if (e == 0 || e >= g)
                continue;
            ulong o = Volatile.Read(ref *(ulong*)(t + OwnerOffset));
            if (o != 0 && ProcessAlive((int)(uint)o - 1, (uint)(o >> 32)))
                return true;                      // rule 3 (a dead process's slot is skipped: rule 3 above)
        }
        return false;
    }
}
