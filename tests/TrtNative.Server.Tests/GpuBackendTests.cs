using TrtNative.Cuda;
using TrtNative.Server.Imaging;
using TrtNative.Server.Inference;
using Xunit;

namespace TrtNative.Server.Tests;

/// <summary>A fact that is skipped, with the probe's reason, where no CUDA GPU is usable.</summary>
public sealed class GpuFactAttribute : FactAttribute
{
    public GpuFactAttribute([System.Runtime.CompilerServices.CallerFilePath] string? sourceFilePath = null,
        [System.Runtime.CompilerServices.CallerLineNumber] int sourceLineNumber = -1) : base(sourceFilePath, sourceLineNumber)
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

    private static List<PreparedImage> Images(Random rnd, int n)
    {
        var norms = new[]
        {
            new ImageInputParams { Width = 4, Height = 4, Scale = 1f / 255f }.ToNormalization(),                                   // BGR
            new ImageInputParams { Width = 4, Height = 4, Rgb = true, Mean = [0.5f, 0.4f, 0.3f], Std = [0.2f, 0.3f, 0.4f], Scale = 0.0039f }.ToNormalization(),
        };
        return Enumerable.Range(0, n).Select(i =>
        {
            var px = new byte[48];
            rnd.NextBytes(px);
            return new PreparedImage(px, norms[i % 2]);
        }).ToList();
    }

    [GpuFact]
    public void MatchesCpuAtChangingBatchSizesAndReusesItsPlan()
    {
        using var d = new TempDir();
        string repo = TestModels.MeansRepo(d.Sub("m"));
        var rnd = new Random(3);
        using var cpu = new OnnxRuntimeBackend(Spec(repo, "fp32"));
        // Batch sizes as dynamic batching produces them: padded to 1, 2, 3, 4, 6, 8 on the GPU.
        var batches = new[] { 5, 1, 8, 3, 5, 7, 2 }.Select(n => Images(rnd, n)).ToList();
        var want = batches.Select(cpu.Run).ToList();
        using (var gpu = new TrtNativeGpuBackend(Spec(repo, "fp32")))
        {
            Assert.Equal("built", gpu.Source);
            Assert.True(File.Exists(gpu.EngineFile));
            // DeepDetect's name, then the GPU model (PlanFiles.DeviceTag).
            Assert.EndsWith($"TRTengine_arch{CudaDevice.Get(0).ComputeCapability.Sm}_fp32_bs8_{PlanFiles.DeviceTag(CudaDevice.Get(0).Name)}", gpu.EngineFile);
            Assert.True(gpu.DeviceMemoryBytes > 0);
            for (int k = 0; k < batches.Count; k++)
            {
                var got = gpu.Run(batches[k]);
                Assert.Equal(want[k].Length, got.Length);
                for (int i = 0; i < want[k].Length; i++) Assert.Equal(want[k][i], got[i], 4);
            }
            // Pipelined: two batches in flight (sharing the device buffers on one stream), a third is refused.
            var p1 = gpu.Submit(batches[2]);
            var p2 = gpu.Submit(batches[3]);
            Assert.Throws<InvalidOperationException>(() => gpu.Submit(batches[4]));
            var g1 = p1.Complete();
            var g2 = p2.Complete();
            for (int i = 0; i < want[2].Length; i++) Assert.Equal(want[2][i], g1[i], 4);
            for (int i = 0; i < want[3].Length; i++) Assert.Equal(want[3][i], g2[i], 4);
        }
        using var again = new TrtNativeGpuBackend(Spec(repo, "fp32"));
        Assert.StartsWith("loaded plan", again.Source);
        var got2 = again.Run(batches[0]);
        for (int i = 0; i < want[0].Length; i++) Assert.Equal(want[0][i], got2[i], 4);
        using var fp16 = new TrtNativeGpuBackend(Spec(repo, "fp16"));
        var got16 = fp16.Run(batches[2]);
        for (int i = 0; i < want[2].Length; i++)
            Assert.True(Math.Abs(want[2][i] - got16[i]) <= 1e-2 * Math.Max(1, Math.Abs(want[2][i])), $"fp16 score {i}: {got16[i]} vs CPU {want[2][i]}");
    }

    /// <summary>
    /// Tensor items (KServe FP32/FP16) next to image items in one batch: each tensor item reaches the engine as it is,
    /// each image item normalised, as on the CPU backend; a tensor batch after an image batch in flight stays correct.
    /// </summary>
    [GpuFact]
    public void TensorItemsMixWithImagesAsOnTheCpu()
    {
        using var d = new TempDir();
        string repo = TestModels.MeansRepo(d.Sub("m"));
        var rnd = new Random(5);
        var mixed = Images(rnd, 6);
        for (int i = 0; i < mixed.Count; i += 2)
            mixed[i] = PreparedImage.FromTensor(Enumerable.Range(0, 48).Select(_ => (float)(rnd.NextDouble() * 4 - 2)).ToArray(), 3);
        using var cpu = new OnnxRuntimeBackend(Spec(repo, "fp32"));
        var want = cpu.Run(mixed);
        var images = Images(rnd, 3);
        var wantImages = cpu.Run(images);
        using var gpu = new TrtNativeGpuBackend(Spec(repo, "fp32"));
        var p1 = gpu.Submit(images);
        var p2 = gpu.Submit(mixed);
        var g1 = p1.Complete();
        var g2 = p2.Complete();
        for (int i = 0; i < wantImages.Length; i++) Assert.Equal(wantImages[i], g1[i], 4);
        for (int i = 0; i < want.Length; i++) Assert.Equal(want[i], g2[i], 4);
    }
}

public class BatchBucketTests
{
    [Fact]
    public void BucketsHoldTheBatchWithAtMostAThirdPadding()
    {
        Assert.Equal([1, 2, 3, 4, 6, 6, 8, 8, 12, 12, 12, 12, 16], Enumerable.Range(1, 13).Select(n => TrtNativeGpuBackend.BatchBucket(n, 128)));
        Assert.Equal(128, TrtNativeGpuBackend.BatchBucket(97, 128));
        Assert.Equal(100, TrtNativeGpuBackend.BatchBucket(97, 100)); // capped at the profile's max
        Assert.Equal(14, Enumerable.Range(1, 128).Select(n => TrtNativeGpuBackend.BatchBucket(n, 128)).Distinct().Count());
        for (int n = 1; n <= 256; n++)
        {
            int b = TrtNativeGpuBackend.BatchBucket(n, 256);
            Assert.InRange(b, n, Math.Max(n, (int)Math.Ceiling(n * 1.5)));
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => TrtNativeGpuBackend.BatchBucket(0, 8));
        Assert.Throws<ArgumentOutOfRangeException>(() => TrtNativeGpuBackend.BatchBucket(9, 8));
    }
}
