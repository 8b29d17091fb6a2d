namespace FastMap;

// Every value in this file is the Linux UAPI's (include/uapi/linux/bpf.h) or the RFC's
// (BPF_F_COMPARE = 32, "bpf: compare-and-delete (BPF_F_COMPARE) for hash maps", patch 1/3),
// so that a program written against bpf() can switch to FastMap without renumbering.

/// <summary>Map types FastMap implements; the numbers are <c>enum bpf_map_type</c>'s.</summary>
public enum MapType : uint
{
    /// <summary><c>BPF_MAP_TYPE_HASH</c>: compare-and-delete and compare-and-swap update (as is <see cref="LruHash"/>
    /// created with <see cref="MapFlags.LruCompare"/>).</summary>
    Hash = 1,
    /// <summary><c>BPF_MAP_TYPE_ARRAY</c>: 4-byte index keys, every slot always present.</summary>
    Array = 2,
    /// <summary><c>BPF_MAP_TYPE_PERCPU_HASH</c>: values travel as <c>round_up(value_size, 8) * possible CPUs</c>.</summary>
    PercpuHash = 5,
    /// <summary><c>BPF_MAP_TYPE_LRU_HASH</c>: inserts into a full map evict an old entry.</summary>
    LruHash = 9,
}

/// <summary>Map creation flags (<c>BPF_F_*</c> of <c>map_flags</c>).</summary>
[Flags]
public enum MapFlags : uint
{
    /// <summary>No flags.</summary>
    None = 0,
    /// <summary><c>BPF_F_NO_PREALLOC</c>: accepted by hash and per-CPU hash maps, as by the kernel (LRU: <c>-ENOTSUPP</c>;
    /// array: <c>-EINVAL</c>), with no effect: every map reserves its memory at create and the kernel commits its pages as
    /// entries use them, and capacity is counted the same way.</summary>
    NoPrealloc = 1u << 0,
    /// <summary><c>BPF_F_NO_COMMON_LRU</c> (LRU maps only).</summary>
    NoCommonLru = 1u << 1,
    /// <summary><c>BPF_F_NUMA_NODE</c>: accepted, meaning node 0, FastMap's one node (no NUMA placement); refused
    /// (<c>-EINVAL</c>) as the kernel refuses it, on per-CPU hash maps and with <see cref="NoCommonLru"/>. Through
    /// <see cref="BpfAttr"/>, a <c>numa_node</c> other than 0 is <c>-EINVAL</c> and <c>NUMA_NO_NODE</c> is as if no
    /// node were named.</summary>
    NumaNode = 1u << 2,
    /// <summary><c>BPF_F_RDONLY</c>: the handle may not write (<c>-EPERM</c>).</summary>
    ReadOnly = 1u << 3,
    /// <summary><c>BPF_F_WRONLY</c>: the handle may not read (<c>-EPERM</c>).</summary>
    WriteOnly = 1u << 4,
    /// <summary><c>BPF_F_ZERO_SEED</c>: a fixed hash seed, for reproducible layouts.</summary>
    ZeroSeed = 1u << 6,
    /// <summary><c>BPF_F_RDONLY_PROG</c>: no effect on the command side.</summary>
    ReadOnlyProg = 1u << 7,
    /// <summary><c>BPF_F_WRONLY_PROG</c>: no effect on the command side.</summary>
    WriteOnlyProg = 1u << 8,
    /// <summary>FastMap's own (<c>FM_F_LRU_COMPARE</c>; a bit the kernel does not use): an LRU hash map that accepts
    /// compare-and-delete and compare-and-swap update, single and batch, atomic against its evictions. Any other map
    /// type refuses it as the kernel refuses an unknown flag (<c>-EINVAL</c>); without it an LRU map answers as the
    /// RFC's (<c>-EOPNOTSUPP</c>).</summary>
    LruCompare = 1u << 30,
    /// <summary>FastMap's own (<c>FM_F_SHARED</c>; a bit the kernel does not use): a hash, per-CPU hash or LRU hash map
    /// that lives in a file on a tmpfs (<c>/dev/shm</c>, or <c>$FASTMAP_SHM_DIR</c>) so that <see cref="BpfMap.Pin"/>
    /// can give it a path and other processes can <see cref="BpfMap.Open(string?, MapFlags, out BpfMap?)"/> it. Refused (<c>-EINVAL</c>) on arrays and
    /// with a spin lock in the value (<c>-EOPNOTSUPP</c>). Without it a map lives in its process only.</summary>
    Shared = 1u << 29,
}

/// <summary>Per-element command flags (<c>flags</c> of the <c>BPF_MAP_*_ELEM</c> commands).</summary>
[Flags]
public enum ElemFlags : ulong
{
    /// <summary><c>BPF_ANY</c>: create or replace.</summary>
    Any = 0,
    /// <summary><c>BPF_NOEXIST</c>: create only (<c>-EEXIST</c> if present).</summary>
    NoExist = 1,
    /// <summary><c>BPF_EXIST</c>: replace only (<c>-ENOENT</c> if absent).</summary>
    Exist = 2,
    /// <summary><c>BPF_F_LOCK</c>: copy the value under its embedded spin lock.</summary>
    Lock = 4,
    /// <summary><c>BPF_F_COMPARE</c> (RFC): delete only if the compare window still matches (and, FastMap's extension,
    /// update only if it matches).</summary>
    Compare = 32,
}

/// <summary>The <c>enum bpf_cmd</c> numbers that FastMap's command layer answers.</summary>
public enum BpfCommand
{
    /// <summary><c>BPF_MAP_CREATE</c>.</summary>
    MapCreate = 0,
    /// <summary><c>BPF_MAP_LOOKUP_ELEM</c>.</summary>
    MapLookupElem = 1,
    /// <summary><c>BPF_MAP_UPDATE_ELEM</c>.</summary>
    MapUpdateElem = 2,
    /// <summary><c>BPF_MAP_DELETE_ELEM</c> (with <c>BPF_F_COMPARE</c>: compare-and-delete).</summary>
    MapDeleteElem = 3,
    /// <summary><c>BPF_MAP_GET_NEXT_KEY</c>.</summary>
    MapGetNextKey = 4,
    /// <summary><c>BPF_OBJ_PIN</c>: a path for a shared map (<see cref="BpfMap.Pin"/>).</summary>
    ObjPin = 6,
    /// <summary><c>BPF_OBJ_GET</c>: opens a pinned shared map (<see cref="BpfMap.Open(string?, MapFlags, out BpfMap?)"/>).</summary>
    ObjGet = 7,
    /// <summary><c>BPF_MAP_LOOKUP_AND_DELETE_ELEM</c>.</summary>
    MapLookupAndDeleteElem = 21,
    /// <summary><c>BPF_MAP_LOOKUP_BATCH</c>.</summary>
    MapLookupBatch = 24,
    /// <summary><c>BPF_MAP_LOOKUP_AND_DELETE_BATCH</c>.</summary>
    MapLookupAndDeleteBatch = 25,
    /// <summary><c>BPF_MAP_UPDATE_BATCH</c>.</summary>
    MapUpdateBatch = 26,
    /// <summary><c>BPF_MAP_DELETE_BATCH</c> (with <c>BPF_F_COMPARE</c> in elem_flags: batch compare-and-delete).</summary>
    MapDeleteBatch = 27,
}
