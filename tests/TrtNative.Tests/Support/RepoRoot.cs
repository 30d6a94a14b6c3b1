namespace TrtNative.Tests.Support;

/// <summary>The repository's root folder, found above the test assembly (tests that read sources, headers or demo files).</summary>
public static class RepoRoot
{
    private static readonly Lazy<string> Root = new(Find);

    /// <summary>The root folder (the one holding native/CMakeLists.txt).</summary>
    public static string Path => Root.Value;

    /// <summary>A path under the root.</summary>
    public static string Combine(params string[] parts) => System.IO.Path.Combine([Root.Value, .. parts]);

    private static string Find()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(System.IO.Path.Combine(d.FullName, "native", "CMakeLists.txt"))) return d.FullName;
        throw new InvalidOperationException("native/CMakeLists.txt not found above " + AppContext.BaseDirectory);
    }
}
