using System.Runtime.InteropServices;

namespace FastMap.Internal;

/// <summary>
/// What fastmap.h's inline reads (<c>fm_map_lookup_elem</c>, <c>fm_map_lookup_elem_ptr</c>) read instead of calling
/// the library: one 128-byte descriptor per handle number, in a table whose address never changes. The header's
/// <c>struct fm__layout</c> mirrors <see cref="Descriptor"/>; <see cref="Version"/> names this layout (and the
/// store layout behind it), and an inline reader that finds another version calls the library instead.
/// </summary>
/// <remarks>
/// <para>Protocol. A descriptor is written only by the map's create and close (handles are assigned and freed under
/// the handle table's lock, so one writer at a time per handle). A rewrite makes <c>Gen</c> odd, writes the fields,
/// makes it even again (release stores, a write barrier after the first). An inline reader reads <c>Gen</c>, the
/// fields, then <c>Gen</c> again after a read barrier, and uses the fields only if both readings are the same even
/// number and <c>State</c> says inline reads may run; it dereferences nothing before that. The store's memory is
/// type-stable (HashStore remarks, 4), so pointers from any consistent snapshot, even a stale one, are safe to read.
/// After its lookup the reader reads <c>State</c> and <c>Gen</c> again: a map closed or replaced meanwhile makes it
/// call the library, which answers for the map as it is then.</para>
/// <para>Lifetime. The table is never freed; a descriptor is rewritten in place when its handle number is reused.</para>
/// </remarks>
internal static unsafe class InlineLayout
{
    /// <summary>The layout version fastmap.h's inline reads were written for (<c>FM__LAYOUT_VERSION</c>).</summary>
    public const uint Version = 1;

    /// <summary>Handles below this have a descriptor; others always call the library.</summary>
    public const int Handles = 1 << 16;

    /// <summary>State: inline reads may run (an open hash map, readable handle, no spin lock).</summary>
    public const uint Inline = 1;

    /// <summary>Flags: the handle may write (so an inline compare-and-delete may answer).</summary>
    public const uint CanWrite = 1;

    /// <summary>Flags: the store compares values (<see cref="MapStore.ComparesValues"/>).</summary>
    public const uint Compares = 2;

    /// <summary>The C layout (<c>struct fm__layout</c> in fastmap.h): 128 bytes.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 128)]
    public struct Descriptor
    {
        [FieldOffset(0)] public uint Gen;
        [FieldOffset(4)] public uint State;
        [FieldOffset(8)] public uint Version;
        [FieldOffset(12)] public uint KeySize;
        [FieldOffset(16)] public uint ValueSize;
        [FieldOffset(20)] public uint ValueOffset;
        [FieldOffset(24)] public uint Stride;
        [FieldOffset(28)] public uint GroupBytes;
        [FieldOffset(32)] public uint GroupBits;
        [FieldOffset(36)] public uint Flags;
        [FieldOffset(40)] public ulong Seed;
        [FieldOffset(48)] public nint Ctrl;
        [FieldOffset(56)] public nint Entries;
        [FieldOffset(64)] public nint Pinned;
    }

    private static readonly Descriptor* s_table = AllocTable();

    private static Descriptor* AllocTable()
    {
        // 8 MiB of address space, committed page by page as handles are used.
        var region = NativeRegion.Map((ulong)Handles * (ulong)sizeof(Descriptor));
        return (Descriptor*)region.Base;
    }

    /// <summary>The table's address (fastmap.h fetches it once through <c>fm__layouts</c>).</summary>
    public static Descriptor* Table => s_table;

    /// <summary>Test view: a copy of handle's descriptor.</summary>
    internal static Descriptor DescriptorForTests(int handle) => s_table[handle];

    /// <summary>Publishes a new map's descriptor under its handle: inline reads for a readable hash store without a
    /// spin lock, the library call for everything else.</summary>
    public static void Publish(int handle, HashStore? store, bool readable, bool writable)
    {
        if ((uint)handle >= Handles || s_table is null)
            return;
        Descriptor* d = s_table + handle;
        Volatile.Write(ref d->Gen, d->Gen + 1);      // odd: a reader that overlaps the rewrite will not use it
        Volatile.WriteBarrier();                      // the odd generation is visible before any field changes
        d->State = 0;
        d->Version = Version;
        if (store is not null && readable && !store.HasSpinLock)
        {
            store.Describe(d);
            d->Flags = (writable ? CanWrite : 0) | (store.ComparesValues ? Compares : 0);
            d->State = Inline;
        }
        Volatile.Write(ref d->Gen, d->Gen + 1);      // even again; release: the fields first
    }

    /// <summary>Marks a closing map's descriptor: inline reads stop and call the library (which answers EBADF).</summary>
    public static void Close(int handle)
    {
        if ((uint)handle >= Handles || s_table is null)
            return;
        Volatile.Write(ref s_table[handle].State, 0u); // release: ordered after the map's closed flag was set
    }
}
