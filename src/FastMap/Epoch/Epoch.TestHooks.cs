namespace FastMap.Internal;

internal static unsafe partial class Epoch
{
    /// <summary>Test view: the calling thread's nesting depth (0 outside any section).</summary>
    internal static int DepthForTests => PerThread.Slot?.Depth ?? 0;

    /// <summary>Test view: how many thread slots are owned now.</summary>
    internal static int OwnedSlotsForTests
    {
        get
        {
            int n = 0, chunks = Volatile.Read(ref s_chunkCount);
            for (int c = 0; c < chunks; c++)
                for (int i = 0; i < ChunkSlots; i++)
                    n += Volatile.Read(ref *(int*)(s_chunks[c] + i * SlotBytes + OwnerOffset)) != 0 ? 1 : 0;
            return n;
        }
    }

    /// <summary>Test view: slot capacity (chunks times slots per chunk).</summary>
    internal static int SlotCapacityForTests => Volatile.Read(ref s_chunkCount) * ChunkSlots;
}
