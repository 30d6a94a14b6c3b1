using System.Text.RegularExpressions;
using TrtNative.Tests.Support;
using Xunit;

namespace TrtNative.Tests.Interop;

/// <summary>
/// The shim's CUDA sources keep the rule that programmatic dependent launch (on unless TRTN_PDL=0, device.cuh) relies on: every
/// kernel starts by waiting for the kernel before it, and every launch goes through launch_kernel. A kernel that read
/// its inputs before the wait, or a launch that bypassed the helper, would race only on a GPU and only with the switch
/// on, so the rule is checked here on the source text, where CI sees it.
/// </summary>
public class KernelSourceTests
{
    private static readonly string[] SourceExtensions = [".cu", ".cuh", ".cpp", ".h"];

    private static IEnumerable<(string File, string Text)> CudaSources()
    {
        string src = RepoRoot.Combine("native", "src");
        return Directory.EnumerateFiles(src, "*.*", SearchOption.AllDirectories)
            .Where(f => SourceExtensions.Contains(Path.GetExtension(f)))
            .Select(f => (Path.GetRelativePath(src, f), File.ReadAllText(f)));
    }

    // Line comments only: the shim's sources have no block comments in code.
    private static string WithoutComments(string text) => Regex.Replace(text, @"//[^\n]*", "");

    /// <summary>The names of the kernels defined in <paramref name="source"/>, each with whether its body starts with the wait.</summary>
    private static List<(string Kernel, bool WaitsFirst)> Kernels(string source)
    {
        string text = WithoutComments(source);
        var kernels = new List<(string, bool)>();
        foreach (Match m in Regex.Matches(text, @"__global__[^{;]*\{"))
        {
            string name = Regex.Match(m.Value, @"(\w+)\s*\([^()]*(\([^()]*\)[^()]*)*\)\s*\{$").Groups[1].Value;
            kernels.Add((name, text[(m.Index + m.Length)..].TrimStart().StartsWith("wait_for_producer();", StringComparison.Ordinal)));
        }
        return kernels;
    }

    private static bool HasChevronLaunch(string source) => WithoutComments(source).Contains("<<<", StringComparison.Ordinal);

    [Fact]
    public void EveryKernelWaitsForTheKernelBeforeItFirst()
    {
        int count = 0;
        foreach (var (file, text) in CudaSources())
            foreach (var (kernel, waitsFirst) in Kernels(text))
            {
                count++;
                Assert.True(waitsFirst, $"{file}: kernel {kernel} does not start with wait_for_producer(); (device.cuh says why)");
            }
        // The count keeps the check from passing on a tree where no kernel was found (a moved folder, a renamed macro).
        Assert.True(count >= 30, $"only {count} kernels found under native/src");
    }

    [Fact]
    public void EveryLaunchGoesThroughLaunchKernel()
    {
        foreach (var (file, text) in CudaSources())
            Assert.False(HasChevronLaunch(text), $"{file}: a <<<...>>> launch; launch through launch_kernel (device.cuh)");
    }

    [Fact]
    public void TheChecksFindAWaitThatComesLateAndAChevronLaunch()
    {
        const string late = "template <int N>\n__global__ void __launch_bounds__(128) late(float* y) {\n    y[0] = 1.f;\n    wait_for_producer();\n}\n"
            + "__global__ void early(float* y) {\n    // why\n    wait_for_producer();\n    y[0] = 1.f;\n}\n";
        Assert.Equal([("late", false), ("early", true)], Kernels(late));
        Assert.True(HasChevronLaunch("void run() { k<<<1, 1, 0, 0>>>(p); }"));
        Assert.False(HasChevronLaunch("// k<<<grid, block>>>(p) in a comment\nlaunch_kernel(k, 1, 1, 0, s, p);"));
    }
}
