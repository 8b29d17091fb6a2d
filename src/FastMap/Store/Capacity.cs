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

    private Capacity(Shard* shards, int count, long tokens)
    {
        _shards = shards;
        _mask = count - 1;
        for (int s = 0; s < count; s++)
            _shards[s].Tokens = tokens / count + (s == 0 ? tokens % count : 0);
    }

    /// <summary><paramref name="tokens"/> tokens spread over one shard per processor, or null when the memory is
    /// not there (<c>-ENOMEM</c>).</summary>
    public static Capacity? Create(long tokens)
    {
        int count = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Clamp(Environment.ProcessorCount, 1, 64));
        var shards = (Shard*)Allocations.TryAlloc((nuint)(count * sizeof(Shard)), 128);
        return shards is null ? null : new Capacity(shards, count, tokens);
    }

    /// <summary>Native bytes held.</summary>
    public long Bytes => (_mask + 1) * sizeof(Shard);

    /// <summary>The caller's shard: its current processor, as the kernel uses this_cpu.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int CurrentShard() => Thread.GetCurrentProcessorId() & _mask;

    /// <summary>Takes one token for a new key; false means the map is full.</summary>
    public bool TryTake(int shard)
    {
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

    /// <summary>Gives a token back (an insert that took one did not happen). Contains a full barrier (the
    /// shard lock's CAS).</summary>
    public void Return(int shard)
    {
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
            long n = 0;
            for (int i = 0; i <= _mask; i++)
                n += Volatile.Read(ref _shards[i].Tokens);
            return n;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void LockShard(Shard* s)
    {
        // The CAS is the acquire barrier (and a full one): nothing of the critical section moves above it.
        if (Interlocked.CompareExchange(ref s->Lock, 1, 0) != 0)
            Spin.Acquire(&s->Lock);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void UnlockShard(Shard* s) => Volatile.Write(ref s->Lock, 0); // release: the count first

    /// <summary>Frees the shards. Only after a grace period following the map's close.</summary>
    public void Dispose() => Allocations.Free(_shards, (nuint)((_mask + 1) * sizeof(Shard)));
}
