using System.Security.Cryptography;
using FastMap.Internal;

namespace FastMap;

public sealed unsafe partial class BpfMap
{
    // Limits measured on the reference kernel (Linux 6.18, x86-64): see README's errno table.
    private const ulong KmallocMax = 1ul << 22;      // KMALLOC_MAX_SIZE
    private const ulong HtabElemHeader = 48;         // sizeof(struct htab_elem)
    private const uint PcpuMinUnit = 32768;          // PCPU_MIN_UNIT_SIZE
    private const uint HashMaxEntries = 1u << 27;    // n_buckets * sizeof(bucket) must fit in u32
    private const MapFlags HashFlagMask = MapFlags.NoPrealloc | MapFlags.NoCommonLru | MapFlags.NumaNode
        | MapFlags.ReadOnly | MapFlags.WriteOnly | MapFlags.ReadOnlyProg | MapFlags.WriteOnlyProg | MapFlags.ZeroSeed;
    private const MapFlags ArrayFlagMask = MapFlags.NumaNode | MapFlags.ReadOnly | MapFlags.WriteOnly
        | MapFlags.ReadOnlyProg | MapFlags.WriteOnlyProg;

    /// <summary>
    /// Checks a definition as <c>map_create</c> and the type's <c>map_alloc_check</c> do, in their
    /// order, without allocating anything. Pure: the same definition always gives the same answer.
    /// </summary>
    public static MapStatus CheckDefinition(MapDefinition definition)
    {
        ArgumentNullException.ThrowIfNull(definition);
        MapFlags f = definition.Flags;
        MapType type = definition.Type;
        if ((f & (MapFlags.ReadOnly | MapFlags.WriteOnly)) == (MapFlags.ReadOnly | MapFlags.WriteOnly))
            return MapStatus.EINVAL;                                   // bpf_get_file_flag
        if (type is not (MapType.Hash or MapType.Array or MapType.PercpuHash or MapType.LruHash))
            return MapStatus.EINVAL;                                   // unknown (or unimplemented) type
        bool lru = type == MapType.LruHash;
        bool percpu = type == MapType.PercpuHash;
        if (type == MapType.Array)
        {
            // array_map_alloc_check
            if (definition.MaxEntries == 0 || definition.KeySize != 4 || definition.ValueSize == 0
                || (f & ~ArrayFlagMask) != 0
                || (f & (MapFlags.ReadOnlyProg | MapFlags.WriteOnlyProg)) == (MapFlags.ReadOnlyProg | MapFlags.WriteOnlyProg))
                return MapStatus.EINVAL;
            if (definition.ValueSize > int.MaxValue)
                return MapStatus.E2BIG;
        }
        else
        {
            // htab_map_alloc_check (FastMap's LruCompare is a known flag only on LRU maps)
            if ((f & ~(lru ? HashFlagMask | MapFlags.LruCompare | MapFlags.Shared : HashFlagMask | MapFlags.Shared)) != 0
                || (f & (MapFlags.ReadOnlyProg | MapFlags.WriteOnlyProg)) == (MapFlags.ReadOnlyProg | MapFlags.WriteOnlyProg))
                return MapStatus.EINVAL;
            if (!lru && (f & MapFlags.NoCommonLru) != 0)
                return MapStatus.EINVAL;
            if (lru && (f & MapFlags.NoPrealloc) != 0)
                return MapStatus.ENOTSUPP;
            // A NUMA node with per-CPU values or per-CPU LRU lists (the .NET flag means node 0).
            if ((percpu || (f & MapFlags.NoCommonLru) != 0) && (f & MapFlags.NumaNode) != 0)
                return MapStatus.EINVAL;
            if (definition.MaxEntries == 0 || definition.KeySize == 0 || definition.ValueSize == 0)
                return MapStatus.EINVAL;
            if ((ulong)definition.KeySize + definition.ValueSize >= KmallocMax - HtabElemHeader)
                return MapStatus.E2BIG;
            if (percpu && ((definition.ValueSize + 7) & ~7u) > PcpuMinUnit)
                return MapStatus.E2BIG;
            // htab_map_alloc
            if (definition.MaxEntries > HashMaxEntries)
                return MapStatus.E2BIG;
        }
        if (definition.Name is { } name && !IsValidName(name))
            return MapStatus.EINVAL;
        if (definition.SpinLockOffset is uint off)
        {
            if (lru || percpu)
                return MapStatus.EOPNOTSUPP;                           // map_check_btf
            if ((off & 3) != 0 || (ulong)off + 4 > definition.ValueSize)
                return MapStatus.EINVAL;                               // BTF: lock inside the value, aligned
            if ((f & (MapFlags.ReadOnlyProg | MapFlags.WriteOnlyProg)) != 0)
                return MapStatus.EACCES;                               // special fields need program write access
            if ((f & MapFlags.Shared) != 0)
                return MapStatus.EOPNOTSUPP;                           // FastMap's: a lock word no other process could recover
        }
        return MapStatus.Ok;
    }

    private static bool IsValidName(string name)
    {
        // bpf_obj_name_cpy: at most BPF_OBJ_NAME_LEN - 1 (15) characters of [A-Za-z0-9_.].
        if (name.Length > 15)
            return false;
        foreach (char c in name)
            if (!(char.IsAsciiLetterOrDigit(c) || c == '_' || c == '.'))
                return false;
        return true;
    }

    /// <summary>
    /// Creates a map (<c>BPF_MAP_CREATE</c>): validates first (<see cref="CheckDefinition"/>), then
    /// allocates. On success <paramref name="map"/> is open and has a <see cref="Handle"/>.
    /// </summary>
    public static MapStatus Create(MapDefinition definition, out BpfMap? map)
    {
        map = null;
        MapStatus st = CheckDefinition(definition);
        if (st != MapStatus.Ok)
            return st;
        uint valueBytes = definition.Type == MapType.PercpuHash
            ? ((definition.ValueSize + 7) & ~7u) * (uint)PossibleCpus
            : definition.ValueSize;
        int lockOff = definition.SpinLockOffset is uint o ? (int)o : -1;
        // Every map type's store reserves its memory at once and the kernel commits pages as entries use
        // them, so NO_PREALLOC needs no path of its own (capacity is counted the same way either way).
        MapStore? store;
        ulong seed = (definition.Flags & MapFlags.ZeroSeed) != 0 ? 0 : BitConverter.ToUInt64(RandomNumberGenerator.GetBytes(8));
        if (definition.Type == MapType.Array)
            store = ArrayStore.Create(definition.ValueSize, lockOff, definition.MaxEntries);
        else if ((definition.Flags & MapFlags.Shared) != 0)
        {
            var layout = SharedLayout.Compute(definition.Type, definition.KeySize, definition.ValueSize, valueBytes, definition.MaxEntries,
                definition.Flags, seed, SharedLayout.ShardsForThisMachine());
            store = CreateShared(layout, definition.Name, out st);
            if (store is null)
                return st;
        }
        else
        {
            store = HashStore.Create(definition.KeySize, valueBytes, lockOff, definition.MaxEntries, seed,
                lru: definition.Type == MapType.LruHash,
                compares: definition.Type == MapType.Hash || (definition.Flags & MapFlags.LruCompare) != 0);
        }
        if (store is null)
            return MapStatus.ENOMEM;
        return Register(definition, store, valueBytes, (definition.Flags & MapFlags.WriteOnly) == 0,
            (definition.Flags & MapFlags.ReadOnly) == 0, out map);
    }

    /// <summary>Gives a new store a handle (and, for a private hash map, its inline-read layout): the last step of a
    /// create or an open; <c>-ENOMEM</c> if the handle table cannot grow (the store is then disposed).</summary>
    private static MapStatus Register(MapDefinition definition, MapStore store, uint valueBytes, bool canRead, bool canWrite, out BpfMap? map)
    {
        map = null;
        var created = new BpfMap(definition, store, valueBytes, canRead, canWrite);
        int handle = HandleTable.Add(created);
        if (handle < 0)
        {
            store.Dispose();
            return MapStatus.ENOMEM;
        }
        created.Handle = handle;
        // A shared map's reads go through the library: an inline in-place lookup would not announce in its file.
        if (created._shared is null)
            InlineLayout.Publish(handle, store as HashStore, canRead, canWrite);
        map = created;
        return MapStatus.Ok;
    }

    /// <summary>A new shared map's file, store and this process's place in it; null with the errno.</summary>
    private static HashStore? CreateShared(SharedLayout layout, string? name, out MapStatus status)
    {
        SharedDomain? domain = SharedDomain.Create(layout, name, out status);
        if (domain is null)
            return null;
        HashStore? store = HashStore.CreateShared(domain, fresh: true);
        if (store is null || (status = domain.Join(store)) != MapStatus.Ok)
        {
            domain.Detach();
            status = store is null ? MapStatus.ENOMEM : status;
            return null;
        }
        return store;
    }

    /// <summary>Creates a map or throws <see cref="InvalidOperationException"/> naming the errno.</summary>
    public static BpfMap Create(MapDefinition definition)
    {
        MapStatus st = Create(definition, out BpfMap? map);
        return st == MapStatus.Ok ? map! : throw new InvalidOperationException($"BPF_MAP_CREATE failed: {st}");
    }
}
