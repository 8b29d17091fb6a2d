// As in src/FastMap/Module.cs: the shims' locals are written before they are read.
[module: System.Runtime.CompilerServices.SkipLocalsInit]
