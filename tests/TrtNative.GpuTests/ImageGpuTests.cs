using TrtNative.Cuda;
using TrtNative.Ir;
using TrtNative.Runtime;
using Xunit;

namespace TrtNative.GpuTests;

/// <summary>GPU image preprocessing (<see cref="ImageBatchStager"/>) against the CPU path, and feeding an engine through bound buffers.</summary>
public class ImageGpuTests
{
    private readonly ITestOutputHelper _out;

    public ImageGpuTests(ITestOutputHelper output) => _out = output;

    private static ImageNormalization[] Normalizations() =>
    [
        new ImageNormalization(3, 1f, sourceChannels: [2, 1, 0]),                                     // BGR, raw 0..255
        new ImageNormalization(3, 0.0039f, mean: [0.485f, 0.456f, 0.406f], std: [0.229f, 0.224f, 0.225f]), // RGB, ImageNet
        new ImageNormalization(3, 1f / 255f, mean: [104f, 117f, 123f], sourceChannels: [2, 1, 0]),   // BGR with mean only
    ];

    [Fact]
    public void StagerMatchesTheCpuNormalisationBitForBit()
    {
        EngineGpuTests.RequireEngine();
        const int batch = 5, h = 13, w = 17, c = 3;
        int seed = Random.Shared.Next();
        var rng = new Random(seed);
        using var ctx = CudaContext.Create();
        using var stager = new ImageBatchStager(ctx, 8, h, w, c);
        var norms = Normalizations();
        var pixels = new byte[batch][];
        for (int i = 0; i < batch; i++)
        {
            pixels[i] = new byte[h * w * c];
            rng.NextBytes(pixels[i]);
            pixels[i].CopyTo(stager.Image(i));
            stager.SetNormalization(i, norms[i % norms.Length]);
        }
        var want = new float[batch * c * h * w];
        for (int i = 0; i < batch; i++)
            norms[i % norms.Length].ToPlanar(pixels[i], h, w, c, want.AsSpan(i * c * h * w, c * h * w));

        using var stream = CudaStream.Create(ctx);
        using var planar = DeviceBuffer<float>.Allocate(ctx, want.Length);
        stager.EnqueueNormalize(stream, batch, planar);
        stream.Synchronize();
        var got = planar.ToArray();
        int diff = Enumerable.Range(0, want.Length).Count(k => BitConverter.SingleToInt32Bits(got[k]) != BitConverter.SingleToInt32Bits(want[k]));
        _out.WriteLine($"fp32 planar: {diff} of {want.Length} values differ from the CPU path (seed {seed})");
        Assert.Equal(0, diff);

        using var half = DeviceBuffer<Half>.Allocate(ctx, want.Length);
        stager.EnqueueNormalize(stream, batch, half, planar: false);
        stream.Synchronize();
        var got16 = half.ToArray();
        int diff16 = 0;
        for (int n = 0; n < batch; n++)
            for (int ch = 0; ch < c; ch++)
                for (int p = 0; p < h * w; p++)
                    if (got16[(n * h * w + p) * c + ch] != (Half)want[(n * c + ch) * h * w + p]) diff16++;
        _out.WriteLine($"fp16 interleaved: {diff16} values differ from the rounded CPU values");
        Assert.Equal(0, diff16);

        // Bad calls name the problem and leave the stager usable.
        var e = Assert.Throws<TrtNativeException>(() => stager.EnqueueNormalize(stream, 9, planar));
        Assert.Contains("1..8", e.Message);
        using var small = DeviceBuffer<float>.Allocate(ctx, 10);
        e = Assert.Throws<TrtNativeException>(() => stager.EnqueueNormalize(stream, batch, small));
        Assert.Contains("destination holds 10 values", e.Message);
        e = Assert.Throws<TrtNativeException>(() => stager.EnqueueNormalize(stream, 6, planar));
        Assert.Contains("image 5 has no normalisation", e.Message);
        stager.EnqueueNormalize(stream, batch, planar);
        stream.Synchronize();
        Assert.Equal(want, planar.ToArray());
    }

    [Fact]
    public void EngineFedThroughBoundBuffersMatchesRunOnCpuNormalisedInput()
    {
        EngineGpuTests.RequireEngine();
        const int h = 16, w = 16, c = 3, max = 9;
        int seed = Random.Shared.Next();
        var rng = new Random(seed);
        using var ctx = CudaContext.Create();
        using var engine = new Builder(ctx).Build(EngineGpuTests.SmallNet(seed),
            EngineGpuTests.Config(Precision.Fp32, "input", [1, c, h, w], [max, c, h, w], [max, c, h, w]));
        using var ec = engine.CreateContext();
        using var stager = new ImageBatchStager(ctx, max, h, w, c);
        using var input = DeviceBuffer<float>.Allocate(ctx, max * c * h * w);
        using var output = DeviceBuffer<float>.Allocate(ctx, max * 10);
        using var hostOut = PinnedBuffer<float>.Allocate(ctx, max * 10);
        using var stream = CudaStream.Create(ctx);
        ec.SetTensorAddress("input", input.DevicePointer);
        ec.SetTensorAddress("probs", output.DevicePointer);
        var norms = Normalizations();
        // Batch sizes change from run to run, as under a server's dynamic batching; each shape keeps its graph.
        foreach (int batch in new[] { 4, 7, 4, 7, 1, 9, 4 })
        {
            var cpu = new float[batch * c * h * w];
            for (int i = 0; i < batch; i++)
            {
                var px = stager.Image(i);
                rng.NextBytes(px);
                var n = norms[(i + batch) % norms.Length];
                stager.SetNormalization(i, n);
                n.ToPlanar(px, h, w, c, cpu.AsSpan(i * c * h * w, c * h * w));
            }
            ec.SetInputShape("input", [batch, c, h, w]);
            stager.EnqueueNormalize(stream, batch, input);
            ec.EnqueueAsync(stream);
            output.EnqueueCopyTo(hostOut, stream, batch * 10);
            stream.Synchronize();
            var got = hostOut.Span[..(batch * 10)].ToArray();
            var state = ec.GraphState;
            // Reference: the host-array path on the same context, fed the CPU-normalised floats.
            var want = ec.Run(new Dictionary<string, Tensor> { ["input"] = Tensor.FromFloats(cpu, [batch, c, h, w]) })["probs"].Floats!;
            double err = EngineGpuTests.RelL2(got, want);
            _out.WriteLine($"batch {batch}: graph {state}, rel L2 vs Run on CPU-normalised input {err:E3} (seed {seed})");
            Assert.True(err <= 1e-6, $"batch {batch}: rel L2 {err:E3} (seed {seed})");
        }
    }

    /// <summary>The GPU JPEG path's staging: only the chosen slots are uploaded, the rest are what device work wrote.</summary>
    [Fact]
    public void StagerUploadsChosenSlotsAndNormalisesWhatTheDeviceHolds()
    {
        EngineGpuTests.RequireEngine();
        const int h = 5, w = 7, c = 3;
        var rng = new Random(11);
        using var ctx = CudaContext.Create();
        using var stager = new ImageBatchStager(ctx, 4, h, w, c);
        using var stream = CudaStream.Create(ctx);
        using var output = DeviceBuffer<float>.Allocate(ctx, 4 * c * h * w);
        var norm = new ImageNormalization(3, 1f);
        stager.DevicePixels.Clear();
        var px = new byte[4][];
        for (int i = 0; i < 4; i++)
        {
            px[i] = new byte[h * w * c];
            rng.NextBytes(px[i]);
            px[i].CopyTo(stager.Image(i));
            stager.SetNormalization(i, norm);
        }
        stager.EnqueueUpload(stream, 1, 2);
        stager.EnqueueNormalizeOnDevice(stream, 4, output);
        stream.Synchronize();
        var got = output.ToArray();
        for (int i = 0; i < 4; i++)
        {
            var want = new float[c * h * w];
            norm.ToPlanar(i is 1 or 2 ? px[i] : new byte[h * w * c], h, w, c, want);
            Assert.Equal(want, got.AsSpan(i * c * h * w, c * h * w).ToArray());
        }
        Assert.Throws<TrtNativeException>(() => stager.EnqueueUpload(stream, 3, 2));
    }

    /// <summary>nvJPEG refuses what is not a JPEG, per file; a resize of a refused or unknown image is an error naming it.</summary>
    [Fact]
    public void JpegDecoderRefusesNonJpegsPerFileAndValidatesResizes()
    {
        EngineGpuTests.RequireEngine();
        using var ctx = CudaContext.Create();
        using var stream = CudaStream.Create(ctx);
        using var decoder = new GpuJpegDecoder(ctx, 2);
        _out.WriteLine($"hardware decoder: {decoder.IsHardware}");
        var results = new GpuJpegImage[2];
        decoder.Decode(stream, [new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G', 13, 10, 26, 10 }, new byte[] { 0xFF, 0xD8, 0xFF }], results);
        Assert.All(results, r => Assert.False(r.Decoded));
        Assert.All(results, r => Assert.True(r.Error is ErrorCode.InvalidArgument or ErrorCode.Unsupported, r.ToString()));
        using var dst = DeviceBuffer<byte>.Allocate(ctx, 64 * 64 * 3);
        var e = Assert.Throws<TrtNativeException>(() => decoder.EnqueueResize(stream, [new JpegResize(0, 0, 64, 64, 0, 0, ResizeFilter.Linear)], dst, 64, 64, 3));
        Assert.Contains("image 0 was not decoded", e.Message);
        e = Assert.Throws<TrtNativeException>(() => decoder.Decode(stream, [new byte[1], new byte[1], new byte[1]], results));
        Assert.Contains("1..2", e.Message);
    }
}
