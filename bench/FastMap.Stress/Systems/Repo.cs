namespace FastMap.Stress.Systems;

/// <summary>The repository root: the nearest ancestor of the working directory or the binary holding FastMap.sln.</summary>
public static class Repo
{
    public static readonly string Root = Find();

    private static string Find()
    {
        foreach (string start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
            for (var d = new DirectoryInfo(start); d is not null; d = d.Parent)
                if (File.Exists(Path.Combine(d.FullName, "FastMap.sln"))) return d.FullName;
        return Environment.CurrentDirectory;
    }
}
