using SkiaSharp;
using TrtNative.Cuda;
using TrtNative.Runtime;
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
    private static BackendSpec Spec(string repo, string dtype, int lanes = 2, int inFlight = 2, int jpegDecoders = 1) =>
        new(Path.Combine(repo, "means.onnx"), repo, ModelInfo.Read(Path.Combine(repo, "means.onnx")), 3, 4, 4, 8, dtype, 0, 0,
            "TRTengine", ReadEngine: true, WriteEngine: true, CpuThreads: 1, GpuLanes: lanes)
        { GpuBatchesInFlight = inFlight, JpegDecodersPerBatch = jpegDecoders };

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
    public void APlanThatCannotBeSavedFailsTheBackendWithoutLeakingTheEngine()
    {
        using var d = new TempDir();
        string repo = TestModels.MeansRepo(d.Sub("m"));
        var dev = CudaDevice.Get(0);
        // A directory where the plan goes: the build succeeds, saving the plan over it fails.
        Directory.CreateDirectory(Path.Combine(repo, PlanFiles.Plan("TRTengine", dev.ComputeCapability.Sm, dev.Name, "fp32", 8)));
        long leakedBefore = CudaDiagnostics.LeakedAllocations;
        Assert.ThrowsAny<Exception>(() => new TrtNativeGpuBackend(Spec(repo, "fp32")));
        // An engine the constructor did not free is only reclaimed by a finalizer, which counts it as leaked.
        for (int i = 0; i < 2; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }
        Assert.Equal(leakedBefore, CudaDiagnostics.LeakedAllocations);
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
            // Pipelined: two batches in flight (each on its own lane: stream, context, device buffers), a third is refused.
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
    /// A GPU lane count other than 1 or 2, batches in flight other than 2 to 4 or JPEG decoders per batch other than 1 to
    /// 4 are refused with the reason, before any GPU work (runs everywhere).
    /// </summary>
    [Fact]
    public void LaneAndBatchesInFlightCountsOutOfRangeAreRefused()
    {
        using var d = new TempDir();
        string repo = TestModels.MeansRepo(d.Sub("m"));
        foreach (int lanes in new[] { 0, 3 })
        {
            var e = Assert.Throws<TrtNativeException>(() => new TrtNativeGpuBackend(Spec(repo, "fp32", lanes)));
            Assert.Equal(ErrorCode.InvalidArgument, e.Code);
            Assert.Contains($"GPU lanes {lanes} must be 1 or 2", e.Message);
        }
        foreach (int inFlight in new[] { 1, 5 })
        {
            var e = Assert.Throws<TrtNativeException>(() => new TrtNativeGpuBackend(Spec(repo, "fp32", inFlight: inFlight)));
            Assert.Equal(ErrorCode.InvalidArgument, e.Code);
            Assert.Contains($"GPU batches in flight {inFlight} must be 2 to 4", e.Message);
        }
        foreach (int decoders in new[] { 0, 5 })
        {
            var e = Assert.Throws<TrtNativeException>(() => new TrtNativeGpuBackend(Spec(repo, "fp32", jpegDecoders: decoders)));
            Assert.Equal(ErrorCode.InvalidArgument, e.Code);
            Assert.Contains($"JPEG decoders per batch {decoders} must be 1 to 4", e.Message);
        }
    }

    /// <summary>
    /// Two lanes (a stream, an execution context and device buffers each) give exactly the scores of one lane (both
    /// staging sets on one stream and context) for the same pipelined batches: pixel, JPEG, mixed tensor items, at
    /// changing batch sizes; so do three batches in flight on two lanes (the batches taking the lanes in turn), and
    /// each batch's JPEGs split between three decoders (SplitGpuJpegStage: three threads and streams).
    /// Both lanes' contexts have their CUDA graphs captured by the warm-up.
    /// </summary>
    [GpuFact]
    public void TwoLanesGiveTheScoresOfOneLane()
    {
        using var d = new TempDir();
        string repo = TestModels.MeansRepo(d.Sub("m"));
        var rnd = new Random(11);
        var input = new ImageInputParams { Width = 4, Height = 4, Interp = Interp.Linear, Scale = 1f / 255f };
        var norm = input.ToNormalization();
        var baseline = File.ReadAllBytes(TestModels.Fixture("baseline.jpg"));
        var photo = GpuJpegTests.Photo(640, 480, 12);
        List<PreparedImage> Jpegs(int n) => Enumerable.Range(0, n)
            .Select(i => PreparedImage.FromJpeg(new EncodedJpeg(i % 2 == 0 ? photo : baseline, input, 1 << 20), norm)).ToList();
        List<PreparedImage> Mixed(int n)
        {
            var items = Images(rnd, n);
            for (int i = 0; i < n; i += 3) items[i] = PreparedImage.FromTensor(Enumerable.Range(0, 48).Select(_ => (float)(rnd.NextDouble() * 4 - 2)).ToArray(), 3);
            if (n > 1) items[1] = Jpegs(1)[0];
            return items;
        }
        var batches = new List<List<PreparedImage>> { Images(rnd, 5), Jpegs(8), Images(rnd, 1), Mixed(7), Jpegs(3), Images(rnd, 8), Mixed(2), Images(rnd, 5) };

        // The same pipelined order as a replica's worker: submit the next batch, then, with as many in flight as the
        // backend takes, complete the oldest.
        static List<float[]> Pipelined(TrtNativeGpuBackend gpu, List<List<PreparedImage>> batches)
        {
            var got = new List<float[]>();
            var pending = new Queue<IPendingBatch>();
            void CompleteOldest()
            {
                var oldest = pending.Dequeue();
                got.Add(oldest.Complete());
                Assert.Null(oldest.ItemErrors);
            }
            foreach (var b in batches)
            {
                pending.Enqueue(gpu.Submit(b));
                if (pending.Count == gpu.MaxInFlight) CompleteOldest();
            }
            while (pending.Count > 0) CompleteOldest();
            return got;
        }

        using var one = new TrtNativeGpuBackend(Spec(repo, "fp32", lanes: 1));
        using var two = new TrtNativeGpuBackend(Spec(repo, "fp32", lanes: 2));
        Assert.StartsWith("loaded plan", two.Source);  // the same engine, so the same tactics
        Assert.Equal((1, 2), (one.Lanes, two.Lanes));
        Assert.Equal([GraphState.Replaying], one.LaneGraphStates);
        Assert.Equal([GraphState.Replaying, GraphState.Replaying], two.LaneGraphStates);
        Assert.True(two.DeviceMemoryBytes > one.DeviceMemoryBytes, $"two lanes hold {two.DeviceMemoryBytes} bytes, one lane {one.DeviceMemoryBytes}");
        var want = Pipelined(one, batches);
        var got = Pipelined(two, batches);
        for (int k = 0; k < batches.Count; k++) Assert.Equal(want[k], got[k]);
        using (var three = new TrtNativeGpuBackend(Spec(repo, "fp32", lanes: 2, inFlight: 3)))
        {
            Assert.Equal(3, three.MaxInFlight);
            var deeper = Pipelined(three, batches);
            for (int k = 0; k < batches.Count; k++) Assert.Equal(want[k], deeper[k]);
        }
        using (var split = new TrtNativeGpuBackend(Spec(repo, "fp32", jpegDecoders: 3)))
        {
            var parts = Pipelined(split, batches);
            for (int k = 0; k < batches.Count; k++) Assert.Equal(want[k], parts[k]);
            Assert.Equal(one.GpuDecodedImages, split.GpuDecodedImages);
        }
        Assert.Equal(one.GpuDecodedImages, two.GpuDecodedImages);
        Assert.Equal(one.CpuRetriedImages, two.CpuRetriedImages);
        // Again, the other way round through the staging sets (each lane now runs the batches the other ran).
        var again = Pipelined(two, [Images(rnd, 1), .. batches]);
        for (int k = 0; k < batches.Count; k++) Assert.Equal(want[k], again[k + 1]);
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

/// <summary>
/// The GPU JPEG path (nvJPEG + the resize kernel) against the CPU path (SkiaSharp + Resampler) on the same files. Stated
/// bound, per file and filter, over the prepared 8-bit pixels: mean |GPU − CPU| ≤ 1.5 levels and at most 1% of the
/// bytes more than 8 levels apart on photo-like images; in grey (bw) the photos' mean ≤ 0.05 levels, since grey is
/// luma only (the chroma terms cancel in OpenCV's weights) and what the two decoders may differ in there is IDCT
/// rounding. The resize itself equals the CPU's byte for byte (ResizeKernelReferenceTests, native self-test). The first
/// H200 run showed why the colour bound needs nvJPEG's interpolated chroma upsampling (jpeg.cpp asks for it): without it
/// the 4:2:0 photos' RGB differed by mean 2–4.7 levels (8–14% over 8) for every filter while bw stayed ≤ 0.005 and the
/// 1-component gray.jpg matched exactly. The 40×30 fixtures (a hard red | blue edge, enlarged to 64×48) get the mean
/// bound only, since an upsampling difference at the edge is spread over many output pixels there.
/// </summary>
public class GpuJpegTests
{
    internal static byte[] Photo(int w, int h, int seed)
    {
        var rnd = new Random(seed);
        using var bmp = new SKBitmap(new SKImageInfo(w, h, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        var px = new byte[w * h * 4];
        for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
        {
            int i = (y * w + x) * 4;
            double cx = x - w * 0.4, cy = y - h * 0.6;
            bool disc = cx * cx + cy * cy < h * h / 9.0;
            px[i] = (byte)Math.Clamp(x * 255 / w + rnd.Next(-12, 13), 0, 255);
            px[i + 1] = (byte)Math.Clamp((disc ? 40 : y * 255 / h) + rnd.Next(-12, 13), 0, 255);
            px[i + 2] = (byte)Math.Clamp(((x / 16 + y / 16) % 2 == 0 ? 200 : 60) + rnd.Next(-12, 13), 0, 255);
            px[i + 3] = 255;
        }
        System.Runtime.InteropServices.Marshal.Copy(px, 0, bmp.GetPixels(), px.Length);
        using var data = bmp.Encode(SKEncodedImageFormat.Jpeg, 90);
        return data.ToArray();
    }

    private static (double Mean, double Over8) Diff(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b)
    {
        long sum = 0, over = 0;
        for (int i = 0; i < a.Length; i++)
        {
            int d = Math.Abs(a[i] - b[i]);
            sum += d;
            if (d > 8) over++;
        }
        return ((double)sum / a.Length, (double)over / a.Length);
    }

    [GpuFact]
    public void GpuPathMatchesTheCpuPathWithinTheStatedBound()
    {
        var photos = new[] { Photo(640, 480, 1), Photo(1920, 1080, 2), Photo(500, 375, 3) };
        var fixtures = new[] { "baseline.jpg", "progressive.jpg", "gray.jpg" }.Select(n => File.ReadAllBytes(TestModels.Fixture(n))).ToArray();
        var files = photos.Concat(fixtures).ToArray();
        using var ctx = TrtNative.Cuda.CudaContext.Create(0);
        using var stream = TrtNative.Cuda.CudaStream.Create(ctx);
        using var decoder = new GpuJpegDecoder(ctx, files.Length);
        Console.WriteLine($"nvJPEG hardware decoder: {decoder.IsHardware}");
        var failures = new List<string>();
        foreach (bool bw in new[] { false, true })
        foreach (var interp in Enum.GetValues<Interp>())
        {
            var p = new ImageInputParams { Width = 256, Height = 240, CropWidth = 224, CropHeight = 224, Interp = interp, Bw = bw };
            var small = p with { Width = 64, Height = 48, CropWidth = 0, CropHeight = 0 };
            using var stager = new ImageBatchStager(ctx, files.Length, 224, 224, p.Channels);
            var jpegs = files.Select((f, i) => new EncodedJpeg(f, i < photos.Length ? p : small, 40_000_000)).ToList();
            var stage = new GpuJpegStage(decoder, stream, stager);
            var decoded = new bool[files.Length];
            var photoJobs = jpegs.Take(photos.Length).ToList();
            stage.DecodeInto(photoJobs, Enumerable.Range(0, photoJobs.Count).ToArray(), decoded);
            stream.Synchronize();
            var device = stager.DevicePixels.ToArray();
            for (int i = 0; i < photoJobs.Count; i++)
            {
                Assert.True(decoded[i], $"nvJPEG refused photo {i}");
                var cpu = new byte[stager.ImageBytes];
                photoJobs[i].DecodeOnCpu(cpu);
                var (mean, over8) = Diff(device.AsSpan(i * stager.ImageBytes, stager.ImageBytes), cpu);
                Console.WriteLine($"photo {i} {interp} bw={bw}: mean |d| {mean:F3}, > 8 levels {over8:P3}");
                if (mean > (bw ? 0.05 : 1.5) || over8 > 0.01) failures.Add($"photo {i} {interp} bw={bw}: mean {mean:F3}, over 8: {over8:P3}");
            }
            using var smallStager = new ImageBatchStager(ctx, fixtures.Length, 48, 64, p.Channels);
            var fixtureJobs = jpegs.Skip(photos.Length).ToList();
            new GpuJpegStage(decoder, stream, smallStager).DecodeInto(fixtureJobs, Enumerable.Range(0, fixtureJobs.Count).ToArray(), decoded);
            stream.Synchronize();
            device = smallStager.DevicePixels.ToArray();
            for (int i = 0; i < fixtureJobs.Count; i++)
            {
                Assert.True(decoded[i], $"nvJPEG refused fixture {i}");
                var cpu = new byte[smallStager.ImageBytes];
                fixtureJobs[i].DecodeOnCpu(cpu);
                var (mean, over8) = Diff(device.AsSpan(i * smallStager.ImageBytes, smallStager.ImageBytes), cpu);
                Console.WriteLine($"fixture {i} {interp} bw={bw}: mean |d| {mean:F3}, > 8 levels {over8:P3}");
                if (mean > 1.5) failures.Add($"fixture {i} {interp} bw={bw}: mean {mean:F3}");
            }
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [GpuFact]
    public void DecoderRefusesBadFilesAloneAndTheBackendRetriesOrFailsThoseItemsOnly()
    {
        var baseline = File.ReadAllBytes(TestModels.Fixture("baseline.jpg"));
        var headerOnly = baseline.AsSpan(0, 300).ToArray();   // frame header, no scan: nvJPEG and SkiaSharp both refuse it
        Assert.True(JpegHeader.GpuDecodable(headerOnly, 1 << 20));
        using (var ctx = TrtNative.Cuda.CudaContext.Create(0))
        using (var stream = TrtNative.Cuda.CudaStream.Create(ctx))
        using (var decoder = new GpuJpegDecoder(ctx, 4))
        {
            var results = new GpuJpegImage[3];
            decoder.Decode(stream, [baseline, headerOnly, Photo(320, 240, 4)], results);
            stream.Synchronize();
            Assert.True(results[0].Decoded && results[0].Width == 40 && results[0].Height == 30, results[0].ToString());
            Assert.False(results[1].Decoded, results[1].ToString());
            Assert.True(results[2].Decoded && results[2].Width == 320, results[2].ToString());
            Assert.Throws<TrtNativeException>(() => decoder.Decode(stream, [baseline, baseline, baseline, baseline, baseline], results));
        }

        using var d = new TempDir();
        string repo = TestModels.MeansRepo(d.Sub("m"));
        var spec = new BackendSpec(Path.Combine(repo, "means.onnx"), repo, ModelInfo.Read(Path.Combine(repo, "means.onnx")), 3, 4, 4, 8, "fp32", 0, 0,
            "TRTengine", ReadEngine: false, WriteEngine: false, CpuThreads: 1);
        using var gpu = new TrtNativeGpuBackend(spec);
        Assert.True(gpu.DecodesJpeg, gpu.GpuDecode);
        var input = new ImageInputParams { Width = 4, Height = 4, Interp = Interp.Area, Scale = 1f / 255f };
        var norm = input.ToNormalization();
        var progressive = File.ReadAllBytes(TestModels.Fixture("progressive.jpg"));
        var items = new List<PreparedImage>
        {
            PreparedImage.FromJpeg(new EncodedJpeg(baseline, input, 1 << 20), norm),
            PreparedImage.FromJpeg(new EncodedJpeg(headerOnly, input, 1 << 20), norm),
            PreparedImage.FromJpeg(new EncodedJpeg(progressive, input, 1 << 20), norm),
            PreparedImage.FromJpeg(new EncodedJpeg(Photo(640, 480, 5), input, 1 << 20), norm),
        };
        var pending = gpu.Submit(items);
        var got = pending.Complete();
        Assert.NotNull(pending.ItemErrors);
        Assert.Equal([false, true, false, false], pending.ItemErrors!.Select(e => e != null));
        // The readable items against the CPU backend on CPU-path pixels: the model averages 16 pixels per channel.
        using var cpu = new OnnxRuntimeBackend(spec);
        var want = cpu.Run(items.Where((_, i) => i != 1).Select(it =>
        {
            var px = new byte[48];
            it.Jpeg!.DecodeOnCpu(px);
            return new PreparedImage(px, norm);
        }).ToList());
        var readable = new[] { 0, 2, 3 };
        for (int k = 0; k < readable.Length; k++)
            for (int c = 0; c < 3; c++)
                Assert.True(Math.Abs(want[k * 3 + c] - got[readable[k] * 3 + c]) <= 3f / 255f, $"item {readable[k]} class {c}: {got[readable[k] * 3 + c]} vs CPU {want[k * 3 + c]}");
        Assert.True(gpu.GpuDecodedImages + gpu.CpuRetriedImages == 4, $"{gpu.GpuDecodedImages} + {gpu.CpuRetriedImages}");
        Assert.Throws<UnreadableImageException>(() => gpu.Run(items));

        using var off = new TrtNativeGpuBackend(spec with { GpuDecode = false });
        Assert.False(off.DecodesJpeg);
        Assert.StartsWith("off", off.GpuDecode);
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
