using TrtNative.Cuda;
using Xunit;

// One GPU, shared device memory and the global CudaDiagnostics counters: run tests one at a time.
[assembly: Xunit.v3.Parallelization(Mode = Xunit.Sdk.ParallelMode.None)]

namespace TrtNative.GpuTests;

/// <summary>The skip gate for GPU tests: every test starts with <see cref="Require"/>.</summary>
internal static class Gpu
{
    /// <summary>Skips the calling test, with the reason CUDA is unusable here, unless a GPU is present.</summary>
    public static void Require()
    {
        bool available = CudaPlatform.IsAvailable(out string reason);
        Assert.SkipUnless(available, "no usable CUDA GPU: " + reason);
    }
}
