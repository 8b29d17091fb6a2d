namespace FastMap.Fuzz;

/// <summary>
/// Runs every file of a corpus (or one file) through the target, uninstrumented, in name order:
/// the regression test <c>test.sh</c> runs. Each input starts from the same state
/// (<see cref="LiveMaps.Reset"/>), so the outcome does not depend on the order or on the machine.
/// </summary>
internal static class Replay
{
    public static int Run(string path)
    {
        string[] files = Directory.Exists(path)
            ? [.. Directory.GetFiles(path).Order(StringComparer.Ordinal)]
            : File.Exists(path) ? [path] : [];
        if (files.Length == 0)
        {
            Console.Error.WriteLine($"replay: no inputs at {path}");
            return 2;
        }
        var target = new Target();
        int failed = 0;
        foreach (string f in files)
        {
            try
            {
                target.Run(File.ReadAllBytes(f));
            }
            catch (Exception e)
            {
                failed++;
                Console.Error.WriteLine($"FAIL {f}: {e.GetType().Name}: {e.Message}");
                if (e is not OracleFailure)
                    Console.Error.WriteLine(e.StackTrace);
            }
        }
        Console.WriteLine($"replay: {files.Length} inputs ran, {files.Length - failed} passed, {failed} failed ({path})");
        return failed == 0 ? 0 : 1;
    }
}
