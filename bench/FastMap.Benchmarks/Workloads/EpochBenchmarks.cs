using BenchmarkDotNet.Attributes;

namespace FastMap.Benchmarks.Workloads;

/// <summary>Epoch micro-operations: the read-side section every FastMap command enters and leaves.</summary>
public class EpochBenchmarks
{
    private const int Batch = 1024;

    [Benchmark(OperationsPerInvoke = Batch)]
    public void EnterAndLeaveASection()
    {
        for (int i = 0; i < Batch; i++)
        {
            using var section = ReadSection.Enter();
        }
    }

    [Benchmark(OperationsPerInvoke = Batch)]
    public void NestedSection()
    {
        using var outer = ReadSection.Enter();
        for (int i = 0; i < Batch; i++)
        {
            using var inner = ReadSection.Enter();
        }
    }
}
