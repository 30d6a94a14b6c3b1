using TrtNative.Cuda;
using TrtNative.Server.Inference;
using Xunit;

namespace TrtNative.Server.Tests;

/// <summary>A fact that is skipped, with the probe's reason, where no CUDA GPU is usable.</summary>
public sealed class GpuFactAttribute : FactAttribute
{
    public GpuFactAttribute()
    {
        if (!CudaPlatform.IsAvailable(out var why)) Skip = "no GPU: " + why;
    }
}

/// <summary>The GPU backend against the CPU backend (runs only on a GPU host with libtrtnative; see demo/gpu for the device check).</summary>
public class GpuBackendTests
{
    private static BackendSpec Spec(string repo, string dtype) =>
        new(Path.Combine(repo, "means.onnx"), repo, ModelInfo.Read(Path.Combine(repo, "means.onnx")), 3, 4, 4, 8, dtype, 0, 0,
            "TRTengine", ReadEngine: true, WriteEngine: true, CpuThreads: 1);

    [GpuFact]
    public void MatchesCpuAndReusesItsPlan()
    {
        using var d = new TempDir();
        string repo = TestModels.MeansRepo(d.Sub("m"));
        var rnd = new Random(3);
        var x = Enumerable.Range(0, 5 * 48).Select(_ => (float)rnd.NextDouble()).ToArray();
        using var cpu = new OnnxRuntimeBackend(Spec(repo, "fp32"));
        var want = cpu.Run(x, 5);
        using (var gpu = new TrtNativeGpuBackend(Spec(repo, "fp32")))
        {
            Assert.Equal("built", gpu.Source);
            Assert.True(File.Exists(gpu.EngineFile));
            Assert.Matches("TRTengine_arch\\d+_fp32_bs8$", gpu.EngineFile);
            Assert.True(gpu.DeviceMemoryBytes > 0);
            var got = gpu.Run(x, 5);
            for (int i = 0; i < want.Length; i++) Assert.Equal(want[i], got[i], 4);
        }
        using var again = new TrtNativeGpuBackend(Spec(repo, "fp32"));
        Assert.StartsWith("loaded plan", again.Source);
        var got2 = again.Run(x, 5);
        for (int i = 0; i < want.Length; i++) Assert.Equal(want[i], got2[i], 4);
    }
}
