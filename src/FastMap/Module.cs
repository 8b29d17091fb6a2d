// Locals are not zeroed on entry: every hot method's structs (probe hits, hashes, pipelines) are written
// before they are read, and NativeAOT zeroed a 336-byte frame on every update (measured: 5% of its time).
// stackalloc buffers here are cleared or fully written where they are made.
[module: System.Runtime.CompilerServices.SkipLocalsInit]
