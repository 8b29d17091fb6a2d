using System.Runtime.InteropServices;

namespace FastMap.Internal;

/// <summary>
/// The pointer-and-handle entry points the C ABI shims call: one line each, so the exports stay
/// thin and .NET and C share every check of the command, in the same order. (The .NET span methods
/// check their spans before they reach these, so a wrong span answers first there: BpfMap.Api.cs.)
/// Each returns 0 (or a handle) or a negative errno.
/// </summary>
internal static unsafe class RawCommands
{
    public static int Create(uint mapType, byte* name, uint keySize, uint valueSize, uint maxEntries,
        uint mapFlags, bool hasSpinLock, uint spinLockOffset)
    {
        string? n = name is null ? null : Marshal.PtrToStringUTF8((nint)name, Math.Min(StrLen(name, 17), 17));
        var def = new MapDefinition((MapType)mapType, keySize, valueSize, maxEntries)
        {
            Flags = (MapFlags)mapFlags,
            Name = string.IsNullOrEmpty(n) ? null : n,
            SpinLockOffset = hasSpinLock ? spinLockOffset : null,
        };
        MapStatus st = BpfMap.Create(def, out BpfMap? map);
        return st == MapStatus.Ok ? map!.Handle : (int)st;
    }

    private static int StrLen(byte* s, int max)
    {
        int i = 0;
        while (i < max && s[i] != 0)
            i++;
        return i;
    }

    public static int Close(int fd)
    {
        BpfMap? map = HandleTable.Get(fd);
        if (map is null)
            return (int)MapStatus.EBADF;
        map.Dispose();
        return 0;
    }

    public static int Lookup(int fd, byte* key, byte* value, ulong flags) =>
        (int)BpfMap.LookupCore(HandleTable.Get(fd), key, value, flags);

    public static int Update(int fd, byte* key, byte* value, ulong flags) =>
        (int)BpfMap.UpdateCore(HandleTable.Get(fd), key, value, flags);

    public static int Delete(int fd, byte* key, ulong flags) =>
        (int)BpfMap.DeleteCore(HandleTable.Get(fd), key, flags, null, 0, 0);

    public static int DeleteCompare(int fd, byte* key, byte* compare, uint compareOffset, uint compareSize) =>
        (int)BpfMap.DeleteCore(HandleTable.Get(fd), key, (ulong)ElemFlags.Compare, compare, compareOffset, compareSize);

    public static int UpdateCompare(int fd, byte* key, byte* value, byte* compare, uint compareOffset, uint compareSize, ulong flags) =>
        (int)BpfMap.UpdateCompareCore(HandleTable.Get(fd), key, value, flags | (ulong)ElemFlags.Compare, compare, compareOffset, compareSize);

    public static int LookupAndDelete(int fd, byte* key, byte* value, ulong flags) =>
        (int)BpfMap.LookupAndDeleteCore(HandleTable.Get(fd), key, value, flags);

    public static int GetNextKey(int fd, byte* key, byte* nextKey) =>
        (int)BpfMap.GetNextKeyCore(HandleTable.Get(fd), key, nextKey);

    public static int Bpf(int cmd, byte* attr, uint size) => BpfAttr.Execute(cmd, attr, size);

    /// <summary>
    /// BPF_OBJ_PIN (fm_obj_pin), in the kernel's order: the handle first (a handle that names no open map is
    /// <c>-EINVAL</c>, as bpf(2) answers for an fd that is no BPF object, before the path is read), then
    /// <see cref="BpfMap.Pin(string?)"/> (a NULL <paramref name="pathname"/> is its <c>-EFAULT</c>).
    /// </summary>
    public static int ObjPin(int fd, byte* pathname)
    {
        BpfMap? map = HandleTable.Get(fd);
        if (map is null)
            return (int)MapStatus.EINVAL;                              // bpf_obj_pin_user: bpf_fd_probe_obj
        return (int)map.Pin(PathOf(pathname));
    }

    /// <summary>BPF_OBJ_GET (fm_obj_get): <see cref="BpfMap.Open(string?, MapFlags, out BpfMap?)"/>, which checks
    /// <paramref name="fileFlags"/> before the path; the new handle, or a negative errno.</summary>
    public static int ObjGet(byte* pathname, uint fileFlags)
    {
        MapStatus st = BpfMap.Open(PathOf(pathname), (MapFlags)fileFlags, out BpfMap? map);
        return st == MapStatus.Ok ? map!.Handle : (int)st;
    }

    /// <summary>A C path (NUL-terminated, UTF-8), or null for NULL: the commands answer <c>-EFAULT</c> for it in
    /// their own order. Bytes that are not UTF-8 give "\0", which the commands refuse (<c>-EINVAL</c>): decoded with
    /// replacement characters, they would name another file.</summary>
    private static string? PathOf(byte* pathname)
    {
        if (pathname is null)
            return null;
        var bytes = new ReadOnlySpan<byte>(pathname, System.Runtime.InteropServices.MemoryMarshal.CreateReadOnlySpanFromNullTerminated(pathname).Length);
        try
        {
            return StrictUtf8.GetString(bytes);
        }
        catch (System.Text.DecoderFallbackException)
        {
            return "\0";
        }
    }

    private static readonly System.Text.UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public static int LookupBatch(int fd, byte* inBatch, byte* outBatch, byte* keys, byte* values, uint* count, ulong elemFlags) =>
        (int)BpfMap.LookupBatchCore(HandleTable.Get(fd), false, inBatch, outBatch, keys, values, count, elemFlags, 0);

    public static int LookupAndDeleteBatch(int fd, byte* inBatch, byte* outBatch, byte* keys, byte* values, uint* count, ulong elemFlags) =>
        (int)BpfMap.LookupBatchCore(HandleTable.Get(fd), true, inBatch, outBatch, keys, values, count, elemFlags, 0);

    public static int UpdateBatch(int fd, byte* keys, byte* values, uint* count, ulong elemFlags) =>
        (int)BpfMap.UpdateBatchCore(HandleTable.Get(fd), keys, values, count, elemFlags);

    public static int DeleteBatch(int fd, byte* keys, uint* count, ulong elemFlags) =>
        (int)BpfMap.DeleteBatchCore(HandleTable.Get(fd), keys, count, elemFlags);

    public static int DeleteBatchCompare(int fd, byte* keys, byte* compares, uint compareOffset, uint compareSize, int* results, uint* count) =>
        (int)BpfMap.DeleteCompareBatchCore(HandleTable.Get(fd), keys, compares, compareOffset, compareSize, results, count);

    public static int UpdateBatchCompare(int fd, byte* keys, byte* values, byte* compares, uint compareOffset, uint compareSize,
        int* results, uint* count) =>
        (int)BpfMap.UpdateCompareBatchCore(HandleTable.Get(fd), keys, values, compares, compareOffset, compareSize, results, count);

    public static int LookupBulk(int fd, byte* keys, byte* values, int* results, uint count) =>
        (int)BpfMap.LookupBulkCore(HandleTable.Get(fd), keys, values, results, count);

    public static byte* LookupPtr(int fd, byte* key) => HandleTable.Get(fd) is { } map ? map.LookupPointer(key) : null;

    public static void ReadLock() => Epoch.Enter();

    /// <summary>fm_read_unlock: leaves the thread's innermost section; without one (depth 0) does nothing.</summary>
    public static void ReadUnlock() => Epoch.ExitIfInside();
}
