using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace FastMap.Internal;

/// <summary>
/// A map's capacity: <c>max_entries</c> tokens, one per key that may exist. A new key takes one, a
/// delete gives one back at once, so a delete followed by an insert on a full map succeeds at once,
/// as in the kernel, and <c>-E2BIG</c> comes at exactly <c>max_entries</c> keys.
/// </summary>
/// <remarks>
/// <para>Tokens are sharded by the caller's processor (the kernel's <c>pcpu_freelist</c> is the model), so
/// two writers rarely share a line. Each shard's spin lock guards its count. A shard lock is the innermost
/// lock: it is taken while a group lock is held, never the other way round. Tokens never move between
/// shards; when the caller's shard is empty, <see cref="TakeSlow"/> holds every shard lock (ascending),
/// so "no token anywhere" is a true instant and the <c>-E2BIG</c> it gives is exact.</para>
/// <para>Every take and return is a locked instruction (the lock's CAS), which a delete relies on: the
/// return after its unlink orders the unlink before the epoch it reads next (Epoch rule 4).</para>
/// <para>Shared maps (<see cref="SharedDomain"/>): the shards live in the map's file and a shard lock holds its owner's
/// id. Each count change is announced in the thread's intent first (the operation, the shard, the count before), so
/// recovery can tell whether a dead thread's change happened; the tokens a dead thread held go to the file's pending
/// count, which a take reads before it answers <c>-E2BIG</c> (so recovery never waits on a shard lock).</para>
/// </remarks>
internal sealed unsafe class Capacity : IDisposable
{
    // One shard a 128-byte block: two processors never share a line, nor an adjacent-line prefetch pair.
    [StructLayout(LayoutKind.Explicit, Size = 128)]
    private struct Shard
    {
        [FieldOffset(0)] public int Lock;
        [FieldOffset(4)] public int Returned;   // returns since this shard last asked for an epoch advance
        [FieldOffset(8)] public long Tokens;
    }

    private readonly Shard* _shards;
    private readonly int _mask;
    private readonly SharedDomain? _shared;     // a shared map's file holds the shards; lock holders are its owner ids
    private readonly long* _pending;            // shared: tokens recovery gave back, taken before any E2BIG (in the file)

    private Capacity(Shard* shards, int count, long tokens, SharedDomain? shared, bool fill)
    {
        _shards = shards;
        _mask = count - 1;
        _shared = shared;
        _pending = shared is null ? null : shared.PendingTokens;
        if (fill)
            for (int s = 0; s < count; s++)
                _shards[s].Tokens = tokens / count + (s == 0 ? tokens % count : 0);
    }

    /// <summary>A shared map's capacity over <paramref name="shards"/> in its file (<see cref="SharedLayout"/>); a new
    /// file's shards are filled (<paramref name="fill"/>), an opened one's are taken as they are.</summary>
    public static Capacity InFile(byte* shards, int count, long tokens, SharedDomain shared, bool fill) =>
        new((Shard*)shards, count, tokens, shared, fill);

    /// <summary>Bytes a shard takes.</summary>
    public const int ShardBytes = 128;

    /// <summary><paramref name="tokens"/> tokens spread over one shard per processor, or null when the memory is
    /// not there (<c>-ENOMEM</c>).</summary>
    public static Capacity? Create(long tokens)
    {
        int count = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Clamp(Environment.ProcessorCount, 1, 64));
        var shards = (Shard*)Allocations.TryAlloc((nuint)(count * sizeof(Shard)), 128);
        return shards is null ? null : new Capacity(shards, count, tokens, null, fill: true);
    }

    /// <summary>Native bytes held.</summary>
    public long Bytes => (_mask + 1) * sizeof(Shard);

    /// <summary>The caller's shard: its current processor, as the kernel uses this_cpu.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int CurrentShard() => Thread.GetCurrentProcessorId() & _mask;

    /// <summary>Shard operations a shared map's thread announces in its intent (<see cref="SharedDomain.Intent"/>).</summary>
    private const int OpTake = 1, OpReturn = 2, OpReturnRetired = 3;

    /// <summary>Takes one token for a new key; false means the map is full.</summary>
    public bool TryTake(int shard)
    {
        if (_shared is not null)
            return TryTakeShared(shard);
        Shard* s = _shards + shard;
        LockShard(s);
        bool ok = s->Tokens > 0;
        if (ok)
            s->Tokens--;
        UnlockShard(s);
        return ok || TakeSlow();
    }

    private bool TakeSlow()
    {
        // All shard locks, ascending: while they are all held no token can appear or vanish, so
        // "none anywhere" is exact (a false E2BIG here would break the capacity contract).
        for (int i = 0; i <= _mask; i++)
            LockShard(_shards + i);
        bool ok = false;
        for (int i = 0; i <= _mask && !ok; i++)
        {
            if (_shards[i].Tokens > 0)
            {
                _shards[i].Tokens--;
                ok = true;
            }
        }
        for (int i = _mask; i >= 0; i--)
            UnlockShard(_shards + i);
        return ok;
    }

    // ---- a shared map's: each count change is announced in the thread's intent (see SharedDomain.Intent) ----

    private bool TryTakeShared(int shard)
    {
        SharedDomain.Intent* it = _shared!.IntentOf(SharedDomain.CurrentOwner);
        Shard* s = _shards + shard;
        LockShard(s);
        bool ok = TakeLocked(s, shard, it);
        UnlockShard(s);
        // Before an E2BIG: every shard, then a token recovery gave back, then one a dead process still holds (recovery
        // waits on no live lock, so it may run under the caller's group locks).
        ok = ok || TakeFromAnyShard(it) || TakePendingHeld(it)
            || (_shared.RecoverAllDead() && (TakePendingHeld(it) || TakeFromAnyShard(it)));
        if (ok)
            SharedDomain.Park(SharedDomain.ParkPoint.TokenTaken);
        return ok;
    }

    /// <summary>As <see cref="TakeSlow"/>: every shard lock, ascending, so "no token anywhere" is a true instant (an
    /// exact E2BIG); the take announced in the thread's intent.</summary>
    private bool TakeFromAnyShard(SharedDomain.Intent* it)
    {
        bool ok = false;
        for (int i = 0; i <= _mask; i++)
            LockShard(_shards + i);
        for (int i = 0; i <= _mask && !ok; i++)
            ok = TakeLocked(_shards + i, i, it);
        for (int i = _mask; i >= 0; i--)
            UnlockShard(_shards + i);
        return ok;
    }

    /// <summary><see cref="TakePending"/>, recorded in the taker's intent as a held token.</summary>
    private bool TakePendingHeld(SharedDomain.Intent* it)
    {
        if (!TakePending())
            return false;
        // Not crash-exact for this one store: a taker killed right here loses the token (the pending count is
        // recovery's own, rare path).
        it->Held = 1;
        return true;
    }

    /// <summary>Under shard <paramref name="index"/>'s lock: takes a token if it has one, announcing the change first.</summary>
    private static bool TakeLocked(Shard* s, int index, SharedDomain.Intent* it)
    {
        long before = s->Tokens;
        if (before <= 0)
            return false;
        it->Shard = index;
        it->Before = before;
        Volatile.Write(ref it->Op, OpTake);
        s->Tokens = before - 1;
        SharedDomain.Park(SharedDomain.ParkPoint.ShardLocked);
        it->Held = 1;
        it->Op = 0;
        return true;
    }

    /// <summary>Gives a token back to a shared map's shard: true when a retired one makes <paramref name="every"/> since the
    /// shard last asked for an advance (counted under the lock, as a private map's).</summary>
    private bool ReturnShared(int shard, bool retired, int every = int.MaxValue)
    {
        SharedDomain.Intent* it = _shared!.IntentOf(SharedDomain.CurrentOwner);
        Shard* s = _shards + shard;
        LockShard(s);
        it->Shard = shard;
        it->Before = s->Tokens;
        Volatile.Write(ref it->Op, retired ? OpReturnRetired : OpReturn);
        s->Tokens = it->Before + 1;
        if (retired)
            it->Giving = 0;
        else
            it->Held = 0;
        it->Op = 0;
        bool due = retired && ++s->Returned >= every;
        if (due)
            s->Returned = 0;
        UnlockShard(s);
        return due;
    }

    /// <summary>Recovery (<see cref="SharedDomain"/>): completes or forgets the shard operation a dead thread died in,
    /// releases its shard locks, and gives back every token its intent says it held: one taken and not spent on a
    /// published key, one of a key it unlinked and had not yet given back. <paramref name="live"/> tells whether the tag at
    /// a file offset is live; the dead thread's group lock still guards every tag its intent names.</summary>
    public void RecoverLocks(int owner, SharedDomain.Intent* it, Func<long, bool> live)
    {
        for (int i = 0; i <= _mask; i++)
        {
            Shard* s = _shards + i;
            if (Volatile.Read(ref s->Lock) != owner)
                continue;
            if (it is not null && it->Op != 0 && it->Shard == i)
            {
                bool changed = s->Tokens != it->Before;
                if (changed && it->Op == OpTake)
                    it->Held = 1;
                else if (changed && it->Op == OpReturn)
                    it->Held = 0;
                else if (changed && it->Op == OpReturnRetired)
                    it->Giving = 0;
                it->Op = 0;
            }
            Volatile.Write(ref s->Lock, 0);
        }
        if (it is not null)
        {
            int back = (it->Held != 0 && !(it->Spend != 0 && live(it->Spend - 1)) ? 1 : 0)
                + (it->Giving != 0 && !live(it->Giving - 1) ? 1 : 0);
            // Into the file's pending count, without a shard lock: the recoverer may hold shard locks itself.
            if (back > 0)
                Interlocked.Add(ref *_pending, back);
            *it = default;
        }
    }

    /// <summary>Takes one of the tokens recovery gave back (<see cref="RecoverLocks"/>), if any: lock-free.</summary>
    private bool TakePending()
    {
        long n;
        while ((n = Volatile.Read(ref *_pending)) > 0)
            if (Interlocked.CompareExchange(ref *_pending, n - 1, n) == n)
                return true;
        return false;
    }

    /// <summary>Gives a token back (an insert that took one did not happen). Contains a full barrier (the
    /// shard lock's CAS).</summary>
    public void Return(int shard)
    {
        if (_shared is not null)
        {
            ReturnShared(shard, retired: false);
            return;
        }
        Shard* s = _shards + shard;
        LockShard(s);
        s->Tokens++;
        UnlockShard(s);
    }

    /// <summary>
    /// Gives a deleted key's token back and counts the retire that goes with it: true every
    /// <paramref name="every"/> retires of this shard, when the caller should ask for an epoch advance
    /// (Epoch rule 7). Counting here costs nothing more (the shard lock is held anyway), where a per-thread
    /// count would cost a thread-static access on every delete. Contains a full barrier.
    /// </summary>
    public bool ReturnRetired(int shard, int every)
    {
        if (_shared is not null)
            return ReturnShared(shard, retired: true, every);
        Shard* s = _shards + shard;
        LockShard(s);
        s->Tokens++;
        bool due = ++s->Returned >= every;
        if (due)
            s->Returned = 0;
        UnlockShard(s);
        return due;
    }

    /// <summary>Tokens left in all shards (a racy sum: exact only with no writer running).</summary>
    public long Available
    {
        get
        {
            long n = _pending is null ? 0 : Volatile.Read(ref *_pending);
            for (int i = 0; i <= _mask; i++)
                n += Volatile.Read(ref _shards[i].Tokens);
            return n;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void LockShard(Shard* s)
    {
        // The CAS is the acquire barrier (and a full one): nothing of the critical section moves above it.
        int me = _shared is null ? 1 : SharedDomain.CurrentOwner;
        if (Interlocked.CompareExchange(ref s->Lock, me, 0) != 0)
            Spin.Acquire(&s->Lock, me, _shared);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void UnlockShard(Shard* s) => Volatile.Write(ref s->Lock, 0); // release: the count first

    /// <summary>Frees the shards. Only after a grace period following the map's close.</summary>
    public void Dispose()
    {
        if (_shared is null)
            Allocations.Free(_shards, (nuint)((_mask + 1) * sizeof(Shard)));
    }
}
