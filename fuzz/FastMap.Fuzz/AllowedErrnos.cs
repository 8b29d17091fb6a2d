using static FastMap.MapStatus;

namespace FastMap.Fuzz;

/// <summary>
/// The negative errno values README's errno table documents, collected per command (the union of
/// every row that applies to it). Any other return is an oracle failure: either the engine answers
/// something the table does not promise, or the table is incomplete. Both are worth a report.
/// </summary>
internal static class AllowedErrnos
{
    // Every command: an attr over a page or with nonzero bytes past 168 (E2BIG), and CHECK_ATTR's
    // nonzero bytes after the command's last field (EINVAL).
    private static readonly MapStatus[] Any = [E2BIG, EINVAL];

    private static readonly Dictionary<BpfCommand, MapStatus[]> PerCommand = new()
    {
        // ENOMEM is not in README's table, but the kernel answers it too: array_map_alloc asks
        // bpf_map_area_alloc for max_entries * round_up(value_size, 8) bytes at once, and a size no
        // allocation can meet fails with -ENOMEM (FastMap: its address-space reservation fails).
        [BpfCommand.MapCreate] = [EINVAL, ENOTSUPP, E2BIG, EOPNOTSUPP, ENOMEM],
        [BpfCommand.MapLookupElem] = [EINVAL, EBADF, EPERM, EFAULT, ENOENT],
        // EOPNOTSUPP and EBUSY: compare-and-update (BPF_F_COMPARE in flags), FastMap's extension, from its
        // doc comment (src/FastMap/Commands/UpdateCompare.cs); README's table does not list it yet.
        [BpfCommand.MapUpdateElem] = [EBADF, EPERM, EINVAL, EFAULT, EEXIST, ENOENT, E2BIG, EOPNOTSUPP, EBUSY],
        [BpfCommand.MapDeleteElem] = [EINVAL, EBADF, EPERM, EFAULT, ENOENT, EOPNOTSUPP, EBUSY],
        [BpfCommand.MapGetNextKey] = [EBADF, EPERM, ENOENT, EFAULT],
        [BpfCommand.MapLookupAndDeleteElem] = [EINVAL, EBADF, EPERM, EFAULT, ENOTSUPP, ENOENT],
        // NULL out_batch, keys or values with entries to copy: EFAULT (README, "Batch differences").
        [BpfCommand.MapLookupBatch] = [EINVAL, EBADF, EPERM, ENOENT, ENOSPC, EFAULT],
        [BpfCommand.MapLookupAndDeleteBatch] = [EINVAL, EBADF, EPERM, ENOTSUPP, ENOENT, ENOSPC, EFAULT],
        // Element by element: an update's own errors can end the batch; elem_flags refuse
        // NOEXIST/EXIST, so only E2BIG (full map, array index) and EFAULT (NULL arrays) remain.
        // EOPNOTSUPP: the batch compare-and-update (UpdateCompare.cs, as above) on a map that cannot compare.
        [BpfCommand.MapUpdateBatch] = [EINVAL, EBADF, EPERM, EFAULT, E2BIG, EOPNOTSUPP],
        [BpfCommand.MapDeleteBatch] = [EINVAL, EBADF, EPERM, ENOTSUPP, ENOENT, EFAULT, EOPNOTSUPP],
    };

    /// <summary>True if <paramref name="ret"/> is a documented answer of <paramref name="cmd"/>.</summary>
    public static bool Allows(int cmd, int ret)
    {
        if (ret == 0)
            return cmd != (int)BpfCommand.MapCreate;  // CREATE answers a handle, and handle 0 is never given
        if (cmd == (int)BpfCommand.MapCreate && ret > 0)
            return true;
        if (ret > 0)
            return false;
        var st = (MapStatus)ret;
        return Array.IndexOf(Any, st) >= 0
            || (PerCommand.TryGetValue((BpfCommand)cmd, out MapStatus[]? set) && Array.IndexOf(set, st) >= 0);
    }
}
