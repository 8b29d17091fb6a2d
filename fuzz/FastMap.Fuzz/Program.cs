using SharpFuzz;

namespace FastMap.Fuzz;

/// <summary>
/// <c>FastMap.Fuzz</c>: with no arguments, the AFL++ target (run by scripts/fuzz.sh over an
/// instrumented FastMap.dll); with <c>--replay DIR|FILE</c>, the corpus regression run.
/// </summary>
internal static class Program
{
    /// <summary>Inputs past this are cut: a program of 24 commands never needs more.</summary>
    private const int MaxInput = 1 << 16;

    private static int Main(string[] args)
    {
        if (args.Length == 2 && args[0] == "--replay")
            return Replay.Run(args[1]);
        if (args.Length == 2 && args[0] == "--write-seeds")
            return Seeds.Write(args[1]);
        if (args.Length != 0)
        {
            Console.Error.WriteLine("usage: FastMap.Fuzz [--replay DIR|FILE | --write-seeds DIR]   (no arguments: run under afl-fuzz)");
            return 2;
        }
        // Out of process: a guard-page fault kills the process that runs the inputs; SharpFuzz's
        // server then reports a crash to AFL and starts a new one, where in-process fuzzing would
        // lose the fork server. The target is made on the first input, in the child only.
        Target? target = null;
        byte[] buffer = new byte[MaxInput];
        Fuzzer.OutOfProcess.Run(stream =>
        {
            target ??= new Target();
            int n = 0, read;
            while (n < buffer.Length && (read = stream.Read(buffer, n, buffer.Length - n)) > 0)
                n += read;
            target.Run(buffer.AsSpan(0, n));
        });
        return 0;
    }
}
