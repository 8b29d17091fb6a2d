using FastMap.Internal;

namespace FastMap;

public sealed unsafe partial class BpfMap
{
    /// <summary>The <c>file_flags</c> <c>BPF_OBJ_GET</c> accepts.</summary>
    private const MapFlags ObjGetFlags = MapFlags.ReadOnly | MapFlags.WriteOnly;

    /// <summary>
    /// <c>BPF_OBJ_PIN</c>: gives the map a path, so that other processes can <see cref="Open(string?, MapFlags, out BpfMap?)"/> it. The map then
    /// lives until the path is removed and every process has closed it, as a pinned kernel map lives in bpffs.
    /// Only a map created with <see cref="MapFlags.Shared"/> lives in a file that can be pinned.
    /// </summary>
    /// <returns><c>Ok</c>, or in the kernel's order (measured: <c>docs/obj-pin-kernel.md</c>): <c>-EINVAL</c> (a closed
    /// map: the kernel answers a bad <c>bpf_fd</c> so, not <c>-EBADF</c>), <c>-EFAULT</c> (no path), <c>-ENOENT</c> (empty,
    /// or its directory is missing), <c>-ENOTDIR</c>, <c>-EACCES</c> (the directory refuses), <c>-EEXIST</c> (the path
    /// exists), then where the kernel answers <c>-EPERM</c> for a path outside bpffs: <c>-EOPNOTSUPP</c> (not a shared
    /// map) or <c>-EXDEV</c> (the path is on another file system than the map's file: <c>/dev/shm</c> or
    /// <c>$FASTMAP_SHM_DIR</c>).</returns>
    /// <remarks>FastMap's difference: a map whose every path has been removed cannot be given one again (<c>-ENOENT</c>:
    /// Linux does not link a file back once its last link is gone), where the kernel can pin such a map anew. Pin it
    /// to a second path first if it must move. A path with a NUL character (or, from C, bytes that are not UTF-8) is
    /// <c>-EINVAL</c>.</remarks>
    public MapStatus Pin(string? path)
    {
        if (Enter(out Epoch.ThreadSlot t) is var st && st != MapStatus.Ok)
            return st == MapStatus.EBADF ? MapStatus.EINVAL : st;
        st = path is null ? MapStatus.EFAULT
            : path.Length == 0 ? MapStatus.ENOENT
            : path.Contains('\0') ? MapStatus.EINVAL
            : _shared is not null ? _shared.Pin(path)
            : SharedDomain.CheckPinPath(path) is var p && p != MapStatus.Ok ? p : MapStatus.EOPNOTSUPP;
        Epoch.Exit(t);
        return st;
    }

    /// <summary>
    /// <c>BPF_OBJ_GET</c>: opens a map pinned at <paramref name="path"/> (by this or any other process), as a new
    /// handle. <paramref name="access"/> is <c>file_flags</c>: 0, <see cref="MapFlags.ReadOnly"/> (the handle cannot
    /// change the map: updates and deletes answer <c>-EPERM</c>, and its data pages are mapped read-only) or
    /// <see cref="MapFlags.WriteOnly"/> (lookups answer <c>-EPERM</c>).
    /// </summary>
    /// <returns><c>Ok</c>, or in the kernel's order (<c>docs/obj-pin-kernel.md</c>): <c>-EINVAL</c> (flags), <c>-EFAULT</c>
    /// (no path), <c>-ENOENT</c> (no such path), <c>-ENOTDIR</c>, <c>-EACCES</c> (the file's mode refuses this process;
    /// FastMap's difference: every handle, read-only too, needs read and write access to the file, where it announces
    /// its readers), <c>-EACCES</c> (not a map: a directory, or a file that is not a FastMap map, as the kernel answers
    /// for a path that is no BPF object), then FastMap's own: <c>-EINVAL</c> (a FastMap map's file that is damaged or
    /// truncated), <c>-EPROTO</c> (a FastMap map of another layout version), <c>-ENOMEM</c>.</returns>
    /// <remarks>As the kernel's, the handle's access comes from <paramref name="access"/> alone: the map's creation flags
    /// <see cref="MapFlags.ReadOnly"/> and <see cref="MapFlags.WriteOnly"/> limited only the creator's handle.</remarks>
    public static MapStatus Open(string? path, MapFlags access, out BpfMap? map)
    {
        map = null;
        if ((access & ~ObjGetFlags) != 0 || access == ObjGetFlags)
            return MapStatus.EINVAL;                                   // bpf_get_file_flag
        if (path is null)
            return MapStatus.EFAULT;
        if (path.Length == 0)
            return MapStatus.ENOENT;
        if (path.Contains('\0'))
            return MapStatus.EINVAL;                                   // no file has this name (a C path that is not UTF-8)
        SharedDomain? domain = SharedDomain.Open(path, writable: access != MapFlags.ReadOnly, StoredValueBytes, out MapStatus st,
            out string? name);
        if (domain is null)
            return st;
        SharedLayout l = domain.Layout;
        HashStore? store = HashStore.CreateShared(domain, fresh: false);
        if (store is null || (st = domain.Join(store)) != MapStatus.Ok)
        {
            domain.Detach();
            return store is null ? MapStatus.ENOMEM : st;
        }
        var definition = new MapDefinition((MapType)l.Type, l.KeySize, l.ValueSize, l.MaxEntries) { Flags = (MapFlags)(uint)l.Flags, Name = name };
        bool canRead = access != MapFlags.WriteOnly;
        bool canWrite = access != MapFlags.ReadOnly;
        return Register(definition, store, l.StoredValueSize, canRead, canWrite, out map);
    }

    /// <summary>Opens a pinned map or throws <see cref="InvalidOperationException"/> naming the errno.</summary>
    public static BpfMap Open(string path, MapFlags access = MapFlags.None)
    {
        MapStatus st = Open(path, access, out BpfMap? map);
        return st == MapStatus.Ok ? map! : throw new InvalidOperationException($"BPF_OBJ_GET {path} failed: {st}");
    }

    /// <summary>The value bytes a map of <paramref name="type"/> stores for <paramref name="valueSize"/>.</summary>
    private static ulong StoredValueBytes(MapType type, uint valueSize) =>
        type == MapType.PercpuHash ? ((valueSize + 7ul) & ~7ul) * (ulong)PossibleCpus : valueSize;

    /// <summary>True if the map lives in a file other processes can open (<see cref="MapFlags.Shared"/>).</summary>
    public bool IsShared => _shared is not null;
}
