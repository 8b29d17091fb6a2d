namespace FastMap.Internal;

internal sealed unsafe partial class HashStore
{
    /// <summary>
    /// Recovery of a shared map (<see cref="SharedDomain"/>'s protocol): takes back every lock that
    /// <paramref name="owner"/>, a thread of a dead process, holds, and repairs what it may have left half done
    /// under them. Runs under the file's recovery lock, so no two recoverers repair one group.
    /// </summary>
    /// <remarks>
    /// <para>What a writer can leave when it dies holding group g's lock, and the repair:</para>
    /// <list type="number">
    /// <item>A value overwritten in place, cut in half: its block's version is odd. The writer copied the old bytes to its
    ///   undo area, then published the value's offset, before making the version odd; they are copied back and the
    ///   version made even, so the update did not happen.</item>
    /// <item>An unlink's first stamp (<c>Group.Limbo(0)</c>), never replaced by the retire epoch's: every such stamp of g's
    ///   blocks is re-stamped with the current epoch, so the slot waits a full grace period (conservative for a
    ///   stamp that was a true one).</item>
    /// <item>Capacity: the thread's intent (<see cref="SharedDomain.Intent"/>) says which token it held and why; a token
    ///   taken for an insert whose tag never went live, and the token of a key it unlinked and had not given back,
    ///   are given back (<see cref="Capacity.RecoverLocks"/>), so no capacity is lost. This runs first, while the dead
    ///   thread's group locks still keep its tags as it left them.</item>
    /// <item>Everything else a writer does is one store (a tag, a link, a count) and is whole. What can be left over: an
    ///   outbound count raised for a key never published, or not yet lowered after its key's unlink (a lookup probes
    ///   one group further than it needs to), an empty overflow record linked for a key never written (inserts reuse
    ///   it), and a record taken from the pool by a thread that died before linking it (lost to the map).</item>
    /// </list>
    /// <para>Shard locks and the pool's lock guard single stores, so releasing them is their whole repair.</para>
    /// </remarks>
    public void RecoverLocksOf(int owner, byte* undo)
    {
        long undoAt = undo is null ? 0 : Volatile.Read(ref *(long*)undo) - 1; // the value's offset in the file, or -1
        // Tokens first, while the dead thread's group locks still keep its tags as it left them.
        byte* b = _shared!.Base;
        _capacity.RecoverLocks(owner, (uint)(owner - 1) < SharedLayout.ThreadSlots ? _shared.IntentOf(owner) : null,
            tagAt => (ulong)tagAt < _shared.Layout.FileBytes && b[tagAt] >= Group.Live);
        for (uint g = 0; g < _groupCount; g++)
        {
            if (Volatile.Read(ref _owners[g]) != (uint)owner)
                continue;
            RepairBlock(CtrlOf(g), EntriesOf(g), _slots, undo, undoAt);
            uint steps = 0;
            for (uint id = Volatile.Read(ref _chain[g]); id != 0 && steps++ <= _overflow.Capacity;
                 id = Volatile.Read(ref Overflow.Next(_overflow.Address(id))))
            {
                byte* r = _overflow.Address(id);
                RepairBlock(r, Overflow.Entries(r), Overflow.Slots, undo, undoAt);
            }
            Interlocked.CompareExchange(ref *(int*)(_owners + g), 0, owner); // release (a full barrier: the repairs first)
        }
        _overflow.RecoverLock(owner);
    }

    private void RepairBlock(byte* ctrl, byte* entries, uint slots, byte* undo, long undoAt)
    {
        ref uint w = ref Group.Word(ctrl);
        uint v = Volatile.Read(ref w);
        if ((v & Group.Version) != 0)
        {
            long first = entries - _shared!.Base;
            if (undo is not null && undoAt >= first && undoAt + ValueSize <= first + (long)slots * _stride)
                Buffer.MemoryCopy(undo + SharedDomain.UndoBytesOffset, _shared.Base + undoAt, ValueSize, ValueSize);
            Volatile.Write(ref w, v + Group.Version); // even: the old value, and readers that retried see it whole
        }
        byte restamp = Group.Limbo(EpochNow);
        for (int i = 0; i < Group.Tags; i++)
            if (ctrl[i] == Group.Limbo(0))
                Volatile.Write(ref ctrl[i], restamp);
    }
}
