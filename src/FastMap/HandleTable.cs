namespace FastMap.Internal;

/// <summary>
/// Handles name maps as file descriptors name kernel maps: small non-negative integers, the lowest
/// free one first, never a GC object's address. Lookups are lock-free (a volatile array read);
/// create and close take one lock.
/// </summary>
internal static class HandleTable
{
    private static BpfMap?[] s_maps = new BpfMap?[64];
    private static readonly Lock s_lock = new();

    /// <summary>Assigns a handle to <paramref name="map"/>; -1 if the table is full (<c>-EMFILE</c> territory).</summary>
    public static int Add(BpfMap map)
    {
        lock (s_lock)
        {
            BpfMap?[] maps = s_maps;
            // Handle 0 stays unused so a zero-initialised handle in a caller's struct is never valid.
            for (int i = 1; i < maps.Length; i++)
            {
                if (maps[i] is null)
                {
                    Volatile.Write(ref maps[i], map);
                    return i;
                }
            }
            if (maps.Length >= 1 << 20 || Allocations.ShouldFail())
                return -1;
            BpfMap?[] grown;
            try
            {
                grown = new BpfMap?[maps.Length * 2];
            }
            catch (OutOfMemoryException)
            {
                return -1;
            }
            Array.Copy(maps, grown, maps.Length);
            grown[maps.Length] = map;
            // Release: a reader that loads the new array sees every entry copied into it.
            Volatile.Write(ref s_maps, grown);
            return maps.Length;
        }
    }

    /// <summary>Test view: handles the table holds now (its next growth doubles it), and how many are in use.</summary>
    internal static (int Length, int Open) SizeForTests
    {
        get
        {
            BpfMap?[] maps = Volatile.Read(ref s_maps);
            int open = 0;
            foreach (BpfMap? m in maps)
                open += m is null ? 0 : 1;
            return (maps.Length, open);
        }
    }

    /// <summary>The map behind a handle, or null if the handle is bad or closed.</summary>
    public static BpfMap? Get(int handle)
    {
        BpfMap?[] maps = Volatile.Read(ref s_maps);
        return (uint)handle < (uint)maps.Length ? Volatile.Read(ref maps[handle]) : null;
    }

    /// <summary>Frees a handle if it still names <paramref name="map"/>.</summary>
    public static void Remove(int handle, BpfMap map)
    {
        lock (s_lock)
        {
            BpfMap?[] maps = s_maps;
            if ((uint)handle < (uint)maps.Length && ReferenceEquals(maps[handle], map))
                Volatile.Write(ref maps[handle], null);
        }
    }
}
