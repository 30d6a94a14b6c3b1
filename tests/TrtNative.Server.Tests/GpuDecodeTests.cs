using System.Buffers.Binary;
using System.Net;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using SkiaSharp;
using TrtNative.Runtime;
using TrtNative.Server.Imaging;
using TrtNative.Server.Inference;
using Xunit;
using static TrtNative.Server.Tests.Http;

namespace TrtNative.Server.Tests;

/// <summary>Which files the header check sends to the GPU decoder, on real files.</summary>
public class JpegRoutingTests
{
    private static byte[] File(string name) => System.IO.File.ReadAllBytes(TestModels.Fixture(name));

    [Theory]
    [InlineData("baseline.jpg", 0xC0, 3)]
    [InlineData("progressive.jpg", 0xC2, 3)]
    [InlineData("gray.jpg", 0xC0, 1)]
    public void UprightYCbCrAndGreyJpegsGoToTheGpu(string name, int process, int components)
    {
        var h = JpegHeader.Read(File(name));
        Assert.NotNull(h);
        Assert.Equal((40, 30, process, components, 8, 1), (h!.Width, h.Height, h.Process, h.Components, h.Precision, h.Orientation));
        Assert.Null(JpegHeader.WhyNotGpu(h, 40_000_000));
        Assert.True(JpegHeader.GpuDecodable(File(name), 40_000_000));
        // Over the server's pixel limit: the CPU path refuses it with its own message.
        Assert.Contains("over the limit", JpegHeader.WhyNotGpu(h, 1000));
    }

    [Theory]
    [InlineData("cmyk.jpg", "4 components")]
    [InlineData("exif6.jpg", "EXIF orientation 6")]
    public void CmykAndRotatedJpegsStayOnTheCpu(string name, string why)
    {
        var h = JpegHeader.Read(File(name));
        Assert.NotNull(h);
        Assert.Contains(why, JpegHeader.WhyNotGpu(h!, 40_000_000));
        Assert.False(JpegHeader.GpuDecodable(File(name), 40_000_000));
    }

    [Theory]
    [InlineData("gray8.png")]
    [InlineData("rgba.png")]
    [InlineData("img.bmp")]
    [InlineData("anim.gif")]
    [InlineData("img.webp")]
    public void OtherFormatsAreNotJpegs(string name)
    {
        Assert.Null(JpegHeader.Read(File(name)));
        Assert.False(JpegHeader.GpuDecodable(File(name), 40_000_000));
    }

    /// <summary>An APP1 EXIF segment with one IFD0 entry (orientation), little- or big-endian TIFF.</summary>
    internal static byte[] WithExifOrientation(byte[] jpeg, int orientation, bool littleEndian)
    {
        var tiff = new byte[8 + 2 + 12 + 4];
        tiff[0] = tiff[1] = (byte)(littleEndian ? 'I' : 'M');
        void U16(int at, int v) { if (littleEndian) BinaryPrimitives.WriteUInt16LittleEndian(tiff.AsSpan(at), (ushort)v); else BinaryPrimitives.WriteUInt16BigEndian(tiff.AsSpan(at), (ushort)v); }
        void U32(int at, int v) { if (littleEndian) BinaryPrimitives.WriteUInt32LittleEndian(tiff.AsSpan(at), (uint)v); else BinaryPrimitives.WriteUInt32BigEndian(tiff.AsSpan(at), (uint)v); }
        U16(2, 42);
        U32(4, 8);
        U16(8, 1);              // one entry
        U16(10, 0x0112);        // orientation
        U16(12, 3);             // SHORT
        U32(14, 1);
        U16(18, orientation);
        return Insert(jpeg, 0xE1, [.. "Exif\0\0"u8, .. tiff]);
    }

    /// <summary>An Adobe APP14 segment with the given colour transform.</summary>
    internal static byte[] WithAdobe(byte[] jpeg, byte transform) => Insert(jpeg, 0xEE, [.. "Adobe"u8, 0, 100, 0, 0, 0, 0, transform]);

    private static byte[] Insert(byte[] jpeg, byte marker, byte[] payload)
    {
        var seg = new byte[4 + payload.Length];
        seg[0] = 0xFF;
        seg[1] = marker;
        BinaryPrimitives.WriteUInt16BigEndian(seg.AsSpan(2), (ushort)(payload.Length + 2));
        payload.CopyTo(seg, 4);
        return [.. jpeg.AsSpan(0, 2), .. seg, .. jpeg.AsSpan(2)];
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void ExifOrientationDecidesInBothByteOrders(bool littleEndian)
    {
        var baseline = File("baseline.jpg");
        Assert.True(JpegHeader.GpuDecodable(WithExifOrientation(baseline, 1, littleEndian), 40_000_000));
        for (int o = 2; o <= 8; o++)
        {
            var rotated = WithExifOrientation(baseline, o, littleEndian);
            Assert.Equal(o, JpegHeader.Read(rotated)!.Orientation);
            Assert.False(JpegHeader.GpuDecodable(rotated, 40_000_000));
            // The CPU path reads the same orientation (SkiaSharp), so the routing and the decoder agree.
            using var codec = SKCodec.Create(new SKMemoryStream(rotated));
            Assert.Equal(o, (int)codec.EncodedOrigin);
        }
    }

    [Fact]
    public void RgbCodedAndYcckJpegsStayOnTheCpu()
    {
        var baseline = File("baseline.jpg");
        Assert.True(JpegHeader.GpuDecodable(WithAdobe(baseline, 1), 40_000_000));   // Adobe, YCbCr
        Assert.Contains("RGB-coded", JpegHeader.WhyNotGpu(JpegHeader.Read(WithAdobe(baseline, 0))!, 40_000_000));
        Assert.Equal("YCCK", JpegHeader.WhyNotGpu(JpegHeader.Read(WithAdobe(baseline, 2))!, 40_000_000));
        // Pillow's CMYK file carries its own Adobe marker (read, whatever the components say).
        Assert.InRange(JpegHeader.Read(File("cmyk.jpg"))!.AdobeTransform, 0, 2);
    }

    [Fact]
    public void DamagedHeadersAreNotJpegs()
    {
        var baseline = File("baseline.jpg");
        Assert.Null(JpegHeader.Read([]));
        Assert.Null(JpegHeader.Read(baseline.AsSpan(0, 20)));  // ends before the frame header
        var bad = (byte[])baseline.Clone();
        bad[2] = 0x00;                                          // not a marker after SOI
        Assert.Null(JpegHeader.Read(bad));
    }
}

/// <summary>A stand-in for nvJPEG: "decodes" (the CPU path, into its own device slots) every file it does not refuse.</summary>
internal sealed class FakeGpuStage(Func<EncodedJpeg, bool> refuse, int imageBytes) : IGpuJpegStage
{
    public Dictionary<int, byte[]> Device { get; } = [];
    public List<int> Refused { get; } = [];
    public void DecodeInto(IReadOnlyList<EncodedJpeg> files, ReadOnlySpan<int> slots, Span<bool> decoded)
    {
        for (int k = 0; k < files.Count; k++)
        {
            if (refuse(files[k]))
            {
                lock (Refused) Refused.Add(slots[k]);
                continue;
            }
            var px = new byte[imageBytes];
            files[k].DecodeOnCpu(px);
            Device[slots[k]] = px;
            decoded[k] = true;
        }
    }
}

/// <summary>The retry wiring: items the GPU decoder refuses come out of the CPU path; the others are left to the GPU.</summary>
public class BatchStagingTests
{
    private static readonly ImageInputParams Input = new() { Width = 10, Height = 8, CropWidth = 8, CropHeight = 6, Interp = Interp.Area };

    private static byte[] CpuPath(byte[] file) => ImagePreprocessor.ToPixels(ImageDecoder.Decode(file, false, 1 << 20), Input);

    [Fact]
    public void RefusedJpegsTakeTheCpuPathAndTheRestAreUntouched()
    {
        var baseline = System.IO.File.ReadAllBytes(TestModels.Fixture("baseline.jpg"));
        var progressive = System.IO.File.ReadAllBytes(TestModels.Fixture("progressive.jpg"));
        var gray = System.IO.File.ReadAllBytes(TestModels.Fixture("gray.jpg"));
        var garbage = baseline.AsSpan(0, 300).ToArray();   // a header the check accepts, no image data
        int bytes = Input.OutWidth * Input.OutHeight * 3;
        var norm = Input.ToNormalization();
        var pixels = Enumerable.Range(0, bytes).Select(i => (byte)i).ToArray();
        var images = new List<PreparedImage>
        {
            PreparedImage.FromJpeg(new EncodedJpeg(baseline, Input, 1 << 20), norm),     // 0: GPU
            new(pixels, norm),                                                          // 1: pixels
            PreparedImage.FromJpeg(new EncodedJpeg(progressive, Input, 1 << 20), norm),  // 2: refused -> CPU
            PreparedImage.FromTensor(new float[bytes], 3),                              // 3: tensor (the caller's)
            PreparedImage.FromJpeg(new EncodedJpeg(garbage, Input, 1 << 20), norm),      // 4: refused, unreadable on the CPU too
            PreparedImage.FromJpeg(new EncodedJpeg(gray, Input, 1 << 20), norm),         // 5: GPU
        };
        var host = Enumerable.Range(0, images.Count).Select(_ => Enumerable.Repeat((byte)0xEE, bytes).ToArray()).ToArray();
        var fake = new FakeGpuStage(j => j.Data == progressive || j.Data == garbage, bytes);
        var upload = new bool[images.Count];
        var errors = new Exception?[images.Count];

        int taken = BatchStaging.Stage(images, fake, i => host[i], upload, errors);

        Assert.Equal(2, taken);
        Assert.Equal([true, false, true, false, true, true], images.Select((_, i) => fake.Device.ContainsKey(i) || fake.Refused.Contains(i)));
        Assert.Equal([2, 4], fake.Refused);
        Assert.Equal([false, true, true, false, false, false], upload);
        Assert.Equal(pixels, host[1]);
        Assert.Equal(CpuPath(progressive), host[2]);                     // the refused file, exactly the CPU path
        Assert.Equal(CpuPath(baseline), fake.Device[0]);
        foreach (int untouched in new[] { 0, 3, 4, 5 }) Assert.All(host[untouched], v => Assert.Equal(0xEE, v));
        Assert.IsType<ImageReadException>(errors[4]);
        Assert.Equal(1, errors.Count(e => e != null));
    }

    [Fact]
    public void WithoutAGpuDecoderEveryJpegTakesTheCpuPath()
    {
        var baseline = System.IO.File.ReadAllBytes(TestModels.Fixture("baseline.jpg"));
        int bytes = Input.OutWidth * Input.OutHeight * 3;
        var images = new List<PreparedImage> { PreparedImage.FromJpeg(new EncodedJpeg(baseline, Input, 1 << 20), Input.ToNormalization()) };
        var host = new[] { new byte[bytes] };
        var upload = new bool[1];
        Assert.Equal(0, BatchStaging.Stage(images, null, i => host[i], upload, new Exception?[1]));
        Assert.True(upload[0]);
        Assert.Equal(CpuPath(baseline), host[0]);
    }
}

/// <summary>SplitGpuJpegStage: a batch's files cut between decoders, each file to one of them with its own slot.</summary>
public class SplitGpuJpegStageTests
{
    private static readonly ImageInputParams Input = new() { Width = 10, Height = 8 };

    // A part that records the slots it was given and refuses the slots in `refuse`.
    private sealed class RecordingPart(Action<string> say, params int[] refuse) : IGpuJpegStage
    {
        public List<int> Slots { get; } = [];
        public Exception? Throw { get; init; }
        public void DecodeInto(IReadOnlyList<EncodedJpeg> files, ReadOnlySpan<int> slots, Span<bool> decoded)
        {
            Assert.Equal(files.Count, slots.Length);
            Assert.Equal(files.Count, decoded.Length);
            say("part");
            if (Throw != null) throw Throw;
            for (int k = 0; k < slots.Length; k++)
            {
                Assert.Equal((byte)slots[k], files[k].Data[0]);  // file k arrives with its own slot
                Slots.Add(slots[k]);
                decoded[k] = !refuse.Contains(slots[k]);
            }
        }
    }

    private static List<EncodedJpeg> Files(int n) =>
        Enumerable.Range(0, n).Select(i => new EncodedJpeg([(byte)(2 * i), 0xD8], Input, 1 << 20)).ToList();

    [Fact]
    public void EachFileGoesToOnePartWithItsSlotAndTheDecodedFlagsComeBackInOrder()
    {
        var events = new List<string>();
        void Say(string e) { lock (events) events.Add(e); }
        var parts = new[] { new RecordingPart(Say), new RecordingPart(Say, 4), new RecordingPart(Say, 12) };
        var stage = new SplitGpuJpegStage(parts, () => Say("fork"), () => Say("join"), () => Say("settle"));
        int[] slots = Enumerable.Range(0, 7).Select(i => 2 * i).ToArray();  // file i in slot 2i
        var decoded = new bool[7];

        stage.DecodeInto(Files(7), slots, decoded);

        Assert.Equal([[0, 2], [4, 6], [8, 10, 12]], parts.Select(p => p.Slots.ToArray()));  // 7 files: 2, 2 and 3
        Assert.Equal([true, true, false, true, true, true, false], decoded);
        Assert.Equal(["fork", "part", "part", "part", "join"], events);
    }

    [Fact]
    public void ABatchOfOneFileUsesTheFirstDecoderAloneWithoutForking()
    {
        var events = new List<string>();
        var parts = new[] { new RecordingPart(events.Add), new RecordingPart(events.Add) };
        var decoded = new bool[1];
        new SplitGpuJpegStage(parts, () => events.Add("fork"), () => events.Add("join"), () => events.Add("settle")).DecodeInto(Files(1), [0], decoded);
        Assert.Equal(["part"], events);
        Assert.Equal([0], parts[0].Slots);
        Assert.True(decoded[0]);
    }

    [Fact]
    public void APartsErrorComesOutAsItselfAfterTheStreamsJoinAndSettle()
    {
        var events = new List<string>();
        void Say(string e) { lock (events) events.Add(e); }
        var failure = new TrtNative.TrtNativeException(TrtNative.ErrorCode.CudaError, "device lost");
        var parts = new[] { new RecordingPart(Say), new RecordingPart(Say) { Throw = failure } };
        var stage = new SplitGpuJpegStage(parts, () => Say("fork"), () => Say("join"), () => Say("settle"));
        var thrown = Assert.Throws<TrtNative.TrtNativeException>(() => stage.DecodeInto(Files(4), [0, 2, 4, 6], new bool[4]));
        Assert.Same(failure, thrown);
        Assert.Equal(["join", "settle"], events[^2..]);
    }
}

/// <summary>
/// The resize kernel's arithmetic (native/src/kernels/image_resize.cu: per output pixel, the row sums over the
/// horizontal taps, then the sum of those over the vertical taps, weights from the same double expressions) written in
/// C#, against the CPU path (Resampler's separable passes, then the crop). Stated tolerance: equal byte for byte, every
/// filter, RGB, RGB → grey and grey. (On the GPU, lanczos4's sin() may differ by an ulp: the native self-test allows ±1
/// there.)
/// </summary>
public class ResizeKernelReferenceTests
{
    // One axis, one output coordinate: tap positions and weights exactly as the kernel's Taps.
    private static (int[] idx, float[] w) Taps(Interp mode, int src, int dst, int d)
    {
        double scale = (double)src / dst;
        if (mode == Interp.Area && scale <= 1.0) mode = Interp.Linear;
        if (mode == Interp.Nearest) return ([Math.Min((int)Math.Floor(d * scale), src - 1)], [1f]);
        if (mode == Interp.Area)
        {
            int count = (int)Math.Ceiling(scale) + 1;
            double x0 = d * scale, x1 = x0 + scale;
            int first = (int)Math.Floor(x0);
            var ai = new int[count];
            var aw = new float[count];
            for (int k = 0; k < count; k++)
            {
                int sx = first + k;
                ai[k] = Math.Clamp(sx, 0, src - 1);
                aw[k] = (float)(Math.Max(0.0, Math.Min(x1, (double)(sx + 1)) - Math.Max(x0, sx)) / scale);
            }
            return (ai, aw);
        }
        int taps = mode == Interp.Linear ? 2 : mode == Interp.Cubic ? 4 : 8;
        double fx = (d + 0.5) * scale - 0.5;
        int s0 = (int)Math.Floor(fx);
        double f = fx - s0, sum = 0;
        var tw = new double[taps];
        for (int k = 0; k < taps; k++)
        {
            double t = f - (k - taps / 2 + 1), a = -0.75, at = Math.Abs(t);
            tw[k] = mode switch
            {
                Interp.Linear => Math.Max(0.0, 1 - at),
                Interp.Cubic => at <= 1 ? ((a + 2) * at - (a + 3)) * at * at + 1 : at < 2 ? ((a * at - 5 * a) * at + 8 * a) * at - 4 * a : 0,
                _ => at < 1e-12 ? 1 : at >= 4 ? 0 : 4 * Math.Sin(Math.PI * t) * Math.Sin(Math.PI * t / 4) / (Math.PI * t * (Math.PI * t)),
            };
            sum += tw[k];
        }
        var idx = new int[taps];
        var w = new float[taps];
        for (int k = 0; k < taps; k++)
        {
            idx[k] = Math.Clamp(s0 + k - taps / 2 + 1, 0, src - 1);
            w[k] = (float)(tw[k] / sum);
        }
        return (idx, w);
    }

    /// <summary>The kernel for one item: decoded RGB (srcC 3) or grey (1) source → out window of the resize.</summary>
    internal static byte[] Kernel(byte[] src, int sw, int sh, int srcC, int outC, JpegResize r, int ow, int oh)
    {
        var mode = (Interp)(int)r.Filter;
        var dst = new byte[ow * oh * outC];
        for (int oy = 0; oy < oh; oy++)
        for (int ox = 0; ox < ow; ox++)
        {
            var (xi, xw) = Taps(mode, sw, r.Width, ox + r.CropX);
            var (yi, yw) = Taps(mode, sh, r.Height, oy + r.CropY);
            var acc = new float[outC];
            for (int j = 0; j < yi.Length; j++)
            {
                var h = new float[outC];
                for (int k = 0; k < xi.Length; k++)
                {
                    int p = (yi[j] * sw + xi[k]) * srcC;
                    if (srcC == 3 && outC == 1) h[0] += xw[k] * (float)((src[p] * 4899 + src[p + 1] * 9617 + src[p + 2] * 1868 + 8192) >> 14);
                    else for (int c = 0; c < outC; c++) h[c] += xw[k] * src[p + c];
                }
                for (int c = 0; c < outC; c++) acc[c] += yw[j] * h[c];
            }
            for (int c = 0; c < outC; c++) dst[(oy * ow + ox) * outC + c] = (byte)Math.Clamp((int)MathF.Round(acc[c], MidpointRounding.ToEven), 0, 255);
        }
        return dst;
    }

    public static TheoryData<Interp, int, int, int, int> Cases()
    {
        var d = new TheoryData<Interp, int, int, int, int>();
        foreach (var m in Enum.GetValues<Interp>())
        {
            d.Add(m, 97, 61, 32, 24);   // shrink
            d.Add(m, 13, 11, 30, 22);   // enlarge
            d.Add(m, 30, 22, 30, 22);   // same size
            d.Add(m, 250, 190, 26, 21); // shrink a lot (area: 11 taps)
            d.Add(m, 40, 9, 20, 30);    // shrink one axis, enlarge the other
        }
        return d;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void KernelMathEqualsTheCpuPath(Interp interp, int sw, int sh, int rw, int rh)
    {
        var rnd = new Random(sw * 31 + rh);
        var rgb = new byte[sw * sh * 3];
        rnd.NextBytes(rgb);
        foreach (bool bw in new[] { false, true })
        {
            var p = new ImageInputParams { Width = rw, Height = rh, CropWidth = rw - 3, CropHeight = rh - 2, Interp = interp, Bw = bw };
            var job = new EncodedJpeg([], p, 1 << 20).GpuResize(0, 0);
            // The CPU path: decode gives RGB, or grey through OpenCV's formula (ImageDecoder), then ToPixels.
            var decoded = bw
                ? new DecodedImage(Enumerable.Range(0, sw * sh).Select(i => (byte)((rgb[3 * i] * 4899 + rgb[3 * i + 1] * 9617 + rgb[3 * i + 2] * 1868 + 8192) >> 14)).ToArray(), sw, sh, 1)
                : new DecodedImage(rgb, sw, sh, 3);
            var cpu = ImagePreprocessor.ToPixels(decoded, p);
            var gpu = Kernel(rgb, sw, sh, 3, bw ? 1 : 3, job, p.OutWidth, p.OutHeight);
            Assert.Equal(cpu, gpu);
            if (bw) Assert.Equal(cpu, Kernel(decoded.Pixels, sw, sh, 1, 1, job, p.OutWidth, p.OutHeight));  // grey source (a 1-component JPEG)
        }
    }

    [Fact]
    public void GpuResizeHasTheCpuPathsGeometry()
    {
        var p = new ImageInputParams { Width = 256, Height = 250, CropWidth = 224, CropHeight = 223, Interp = Interp.Lanczos4 };
        var r = new EncodedJpeg([], p, 1).GpuResize(3, 1000);
        Assert.Equal(new JpegResize(3, 1000, 256, 250, 16, 13, ResizeFilter.Lanczos4), r);
        Assert.Equal(224 * 223 * 3, new EncodedJpeg([], p, 1).PixelBytes);
        foreach (var i in Enum.GetValues<Interp>()) Assert.Equal(i.ToString(), EncodedJpeg.Filter(i).ToString());
    }
}

/// <summary>
/// A pipelined backend that takes encoded JPEGs as the GPU backend does (<see cref="BatchStaging"/> with a
/// <see cref="FakeGpuStage"/> that refuses progressive files) and runs ONNX Runtime on the result.
/// </summary>
internal sealed class JpegTakingBackend(OnnxRuntimeBackend inner, int imageBytes) : IPipelinedBackend
{
    public FakeGpuStage Stage { get; } = new(j => JpegHeader.Read(j.Data)?.Process == 0xC2, imageBytes);
    public int JpegItems;
    public string Kind => "fake-gpu-decode";
    public int MaxBatchSize => inner.MaxBatchSize;
    public int OutputSize => inner.OutputSize;
    public long DeviceMemoryBytes => 0;
    public bool DecodesJpeg => true;
    public float[] Run(IReadOnlyList<PreparedImage> images) => Submit(images).Complete();
    public IPendingBatch Submit(IReadOnlyList<PreparedImage> images)
    {
        int n = images.Count;
        var host = Enumerable.Range(0, n).Select(_ => new byte[imageBytes]).ToArray();
        var upload = new bool[n];
        var errors = new Exception?[n];
        lock (Stage) BatchStaging.Stage(images, Stage, i => host[i], upload, errors);
        Interlocked.Add(ref JpegItems, images.Count(i => i.Jpeg != null));
        var items = images.Select((im, i) => im.Tensor != null ? im
            : new PreparedImage(upload[i] ? host[i] : Stage.Device.GetValueOrDefault(i) ?? new byte[imageBytes], im.Normalization)).ToList();
        return new Pending(inner.Run(items), errors.Any(e => e != null) ? errors : null);
    }
    private sealed class Pending(float[] y, Exception?[]? errors) : IPendingBatch
    {
        public float[] Complete() => y;
        public IReadOnlyList<Exception?>? ItemErrors => errors;
    }
    public void Dispose() => inner.Dispose();
}

/// <summary>Serves "tensorrt" services on <see cref="JpegTakingBackend"/> (as if a GPU were there).</summary>
internal sealed class JpegTakingFactory(ServerOptions o, ManualResetEventSlim? buildGate = null) : BackendFactory(o)
{
    public List<JpegTakingBackend> Made { get; } = [];
    public override int GpuCount => 1;
    public override BackendKind Select(string mllib, out string reason)
    {
        reason = "fake GPU";
        return mllib == "onnxruntime" ? BackendKind.Cpu : BackendKind.Gpu;
    }
    public override IInferenceBackend Create(BackendKind kind, BackendSpec spec)
    {
        var cpu = new OnnxRuntimeBackend(spec);
        if (kind == BackendKind.Cpu) return cpu;
        buildGate?.Wait(TimeSpan.FromSeconds(60));
        var b = new JpegTakingBackend(cpu, spec.Channels * spec.Height * spec.Width);
        lock (Made) Made.Add(b);
        return b;
    }
}

public sealed class JpegTakingServerFactory : ServerFactory
{
    public JpegTakingServerFactory() =>
        TestServices = s => s.AddSingleton<BackendFactory>(sp => new JpegTakingFactory(sp.GetRequiredService<ServerOptions>()));
}

/// <summary><see cref="JpegTakingServerFactory"/> whose engine builds wait for <see cref="Gate"/>.</summary>
public sealed class SlowJpegTakingServerFactory : ServerFactory
{
    public ManualResetEventSlim Gate { get; } = new(false);
    public SlowJpegTakingServerFactory() =>
        TestServices = s => s.AddSingleton<BackendFactory>(sp => new JpegTakingFactory(sp.GetRequiredService<ServerOptions>(), Gate));
}

/// <summary>
/// The decoding route does not depend on when a predict comes: one sent during the build (found on the H200, where
/// it went through the CPU decoder and the same file sent later through nvJPEG, with other scores) hands its JPEG over
/// encoded like one sent after.
/// </summary>
public class JpegRouteDuringBuildTests(SlowJpegTakingServerFactory f) : IClassFixture<SlowJpegTakingServerFactory>
{
    [Fact]
    public async Task AJpegSentDuringTheBuildTakesTheRouteOfOneSentAfter()
    {
        var c = f.CreateClient();
        string repo = TestModels.MeansRepo(f.Dir.Sub("during"), h: 8, w: 8);
        var (code, body) = await Put(c, "/services/during", MeansService(repo, w: 8, h: 8, input: new JsonObject { ["interp"] = "area" }));
        Assert.True(code == HttpStatusCode.Created, body.ToJsonString());
        Assert.Equal("building", (string?)(await Get(c, "/services/during")).body["body"]!["state"]);
        string jpeg = Img.B64(System.IO.File.ReadAllBytes(TestModels.Fixture("baseline.jpg")));
        var during = Post(c, "/predict", Predict("during", jpeg));
        await Task.Delay(300);   // the predict has arrived (it waits for the build up to BuildWaitSeconds, 90 s here)
        f.Gate.Set();
        var (dc, d) = await during;
        Assert.True(dc == HttpStatusCode.OK, d.ToJsonString());
        var backend = Assert.Single(((JpegTakingFactory)f.Services.GetRequiredService<BackendFactory>()).Made);
        Assert.Equal(1, backend.JpegItems);
        var (ac, a) = await Post(c, "/predict", Predict("during", jpeg));
        Assert.Equal(HttpStatusCode.OK, ac);
        Assert.Equal(2, backend.JpegItems);
        foreach (var cat in new[] { "chan zero", "chan one", "chan two" }) Assert.Equal(Prob(a, 0, cat), Prob(d, 0, cat));
    }
}

/// <summary>The predict path with a backend that decodes JPEGs: routing, the CPU retry and per-item failures, end to end.</summary>
public class GpuDecodeWiringTests(JpegTakingServerFactory f) : IClassFixture<JpegTakingServerFactory>
{
    private async Task<HttpClient> Ready(string name, string lib)
    {
        var c = f.CreateClient();
        string repo = TestModels.MeansRepo(f.Dir.Sub(name), h: 8, w: 8);
        var (code, body) = await Put(c, $"/services/{name}", MeansService(repo, w: 8, h: 8, input: new JsonObject { ["interp"] = "area" }, lib: lib));
        Assert.True(code == HttpStatusCode.Created, body.ToJsonString());
        await WaitForReady(c, name);
        return c;
    }

    [Fact]
    public async Task JpegsHandedOverEncodedGiveTheCpuPathsPredictions()
    {
        var gpu = await Ready("fakegpu", "tensorrt");
        var cpu = await Ready("plaincpu", "onnxruntime");
        var files = new[] { "baseline.jpg", "progressive.jpg", "gray.jpg", "exif6.jpg", "cmyk.jpg", "gray8.png" }
            .Select(n => Img.B64(System.IO.File.ReadAllBytes(TestModels.Fixture(n)))).ToArray();
        var (gc, g) = await Post(gpu, "/predict", Predict("fakegpu", files));
        var (cc, c) = await Post(cpu, "/predict", Predict("plaincpu", files));
        Assert.Equal(HttpStatusCode.OK, gc);
        Assert.Equal(HttpStatusCode.OK, cc);
        for (int i = 0; i < files.Length; i++)
            foreach (var cat in new[] { "chan zero", "chan one", "chan two" })
                Assert.Equal(Prob(c, i, cat), Prob(g, i, cat), 5);
        var backend = Assert.Single(((JpegTakingFactory)f.Services.GetRequiredService<BackendFactory>()).Made);
        // baseline, progressive and grey went over encoded; exif6, cmyk and the PNG were decoded by the predict.
        Assert.Equal(3, backend.JpegItems);
        Assert.Single(backend.Stage.Refused);                 // the progressive one: retried on the CPU
        Assert.Equal(2, backend.Stage.Device.Count);

        // A file the header check accepts but no decoder can read: 400 naming it, as on the CPU path; never a 500.
        var broken = System.IO.File.ReadAllBytes(TestModels.Fixture("progressive.jpg")).AsSpan(0, 400).ToArray();
        var (bc, b) = await Post(gpu, "/predict", Predict("fakegpu", files[0], Img.B64(broken)));
        Assert.Equal((HttpStatusCode.BadRequest, 1005), (bc, DdCode(b)));
        Assert.Contains("Could not read image '1'", (string?)b["status"]!["dd_msg"]);
    }
}
