using TrtNative.Cuda;
using Xunit;

// One GPU, shared device memory and the global CudaDiagnostics counters: run tests one at a time.
[assembly: Xunit.v3.Parallelization(Mode = Xunit.Sdk.ParallelMode.None)]

namespace TrtNative.GpuTests;

/// <summary>The skip gate for GPU tests: every test starts with <see cref="Require"/>.</summary>
internal static class Gpu
{
    /// <summary>
    /// The optimization level of the model tests' builds: 1 unless TRTN_GPU_TEST_OPT_LEVEL says otherwise. The tests
    /// check numerics, which every tactic family reaches at level 1 (direct kernel, legacy algorithms, the first graph
    /// configuration); the default level's runtime-compiled graph configurations cost seconds per convolution and are
    /// covered by the native self-test, and the benchmark builds at the default.
    /// </summary>
    public static int TestOptimizationLevel =>
        int.TryParse(Environment.GetEnvironmentVariable("TRTN_GPU_TEST_OPT_LEVEL"), out int level) ? level : 1;

    /// <summary>Skips the calling test, with the reason CUDA is unusable here, unless a GPU is present.</summary>
    public static void Require()
    {
        bool available = CudaPlatform.IsAvailable(out string reason);
        Assert.SkipUnless(available, "no usable CUDA GPU: " + reason);
    }
}
