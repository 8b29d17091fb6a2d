using System.Runtime.InteropServices;
using FastMap.Internal;

namespace FastMap.Native;

// BPF_OBJ_PIN and BPF_OBJ_GET of shared maps (FM_F_SHARED). The path is a NUL-terminated UTF-8 string; a NULL
// path is passed through as null, so that the engine answers -EFAULT at the kernel's position in the check
// order (after the handle for a pin, after the flags for a get).
internal static unsafe partial class Exports
{
    [UnmanagedCallersOnly(EntryPoint = Prefix + "obj_pin")]
    private static int ObjPin(int fd, byte* pathname)
    {
        try
        {
            return Result(RawCommands.ObjPin(fd, pathname));
        }
        catch (Exception e)
        {
            return Guard(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = Prefix + "obj_get")]
    private static int ObjGet(byte* pathname, uint fileFlags)
    {
        try
        {
            return Result(RawCommands.ObjGet(pathname, fileFlags));
        }
        catch (Exception e)
        {
            return Guard(e);
        }
    }
}
