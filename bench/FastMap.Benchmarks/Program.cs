using BenchmarkDotNet.Running;

// Micro-benchmarks (BenchmarkDotNet): one class per operation; see README "Benchmarks".
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
