using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using SkiaSharp;
using TrtNative.Server.Api;
using TrtNative.Server.Imaging;
using TrtNative.Server.Inference;
using Xunit;
using static TrtNative.Server.Tests.Http;

namespace TrtNative.Server.Tests;

/// <summary>A [Fact] that runs only when TRTN_SERVER_BENCH=1 (timings are printed, never asserted).</summary>
public sealed class BenchmarkFactAttribute : FactAttribute
{
    public BenchmarkFactAttribute([System.Runtime.CompilerServices.CallerFilePath] string? sourceFilePath = null,
        [System.Runtime.CompilerServices.CallerLineNumber] int sourceLineNumber = -1) : base(sourceFilePath, sourceLineNumber)
    {
        if (Environment.GetEnvironmentVariable("TRTN_SERVER_BENCH") != "1")
            Skip = "benchmark: set TRTN_SERVER_BENCH=1 to run (prints timings, asserts only correctness)";
    }
}

/// <summary>A ResNet-shaped backend that returns at once: 1000 softmax-like scores per item, class (item index % 1000) highest.</summary>
public sealed class InstantBackend(int max) : IInferenceBackend
{
    public long Batches;
    public long Items;
    public string Kind => "instant";
    public int MaxBatchSize => max;
    public int OutputSize => 1000;
    public long DeviceMemoryBytes => 0;
    public float[] Run(IReadOnlyList<PreparedImage> images)
    {
        int batch = images.Count;
        Interlocked.Increment(ref Batches);
        Interlocked.Add(ref Items, batch);
        var y = new float[batch * 1000];
        for (int b = 0; b < batch; b++)
        {
            for (int k = 0; k < 1000; k++) y[b * 1000 + k] = 0.0001f * (k % 7);
            y[b * 1000 + 500] = 0.9f;
        }
        return y;
    }
    public void Dispose() { }
}

public sealed class InstantFactory(ServerOptions o, InstantBackend be) : BackendFactory(o)
{
    public override IInferenceBackend Create(BackendKind kind, BackendSpec spec) => be;
}

public sealed class BenchFactory : ServerFactory
{
    public InstantBackend Backend { get; } = new(32);
    public BenchFactory()
    {
        Settings["TrtNative:MaxBatchDelayMs"] = "2"; // the server default
        TestServices = s => s.AddSingleton<BackendFactory>(sp => new InstantFactory(sp.GetRequiredService<ServerOptions>(), Backend));
    }
}

/// <summary>
/// Stopwatch harness over the real predict pipeline with <see cref="InstantBackend"/>: where a predict's CPU time
/// goes on this machine. Run: TRTN_SERVER_BENCH=1 dotnet test tests/TrtNative.Server.Tests --filter PipelineBenchmark
/// --logger "console;verbosity=detailed".
/// </summary>
public class PipelineBenchmark(BenchFactory f, ITestOutputHelper o) : IClassFixture<BenchFactory>
{
    /// <summary>A photo-like JPEG (gradients + noise, so the entropy decoder has work).</summary>
    internal static byte[] Jpeg(int w, int h, int seed = 1)
    {
        var rng = new Random(seed);
        using var bmp = new SKBitmap(new SKImageInfo(w, h, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            bmp.SetPixel(x, y, new SKColor((byte)(x * 255 / w), (byte)(y * 255 / h), (byte)rng.Next(256)));
        using var data = bmp.Encode(SKEncodedImageFormat.Jpeg, 90);
        return data.ToArray();
    }

    private (double p50, double p99, double mean) Time(int n, Action a)
    {
        for (int i = 0; i < Math.Max(3, n / 10); i++) a();
        var t = new double[n];
        for (int i = 0; i < n; i++)
        {
            long s = Stopwatch.GetTimestamp();
            a();
            t[i] = Stopwatch.GetElapsedTime(s).TotalMilliseconds;
        }
        Array.Sort(t);
        return (t[n / 2], t[Math.Min(n - 1, (int)(n * 0.99))], t.Average());
    }

    private bool _quiet;

    private void Report(string what, (double p50, double p99, double mean) r)
    {
        if (!_quiet) o.WriteLine($"{what,-48} p50 {r.p50,8:F3} ms  p99 {r.p99,8:F3} ms  mean {r.mean,8:F3} ms");
    }

    [BenchmarkFact]
    public void Stages()
    {
        var p224 = new ImageInputParams { Width = 224, Height = 224, Mean = [104f, 117f, 123f] };
        var p224crop = p224 with { Width = 256, Height = 256, CropWidth = 224, CropHeight = 224 };
        var j224 = Jpeg(224, 224);
        var j500 = Jpeg(500, 375);
        string file = Path.Combine(f.Dir.Path, "bench224.jpg");
        File.WriteAllBytes(file, j224);
        var body = new JsonObject
        {
            ["service"] = "r50",
            ["parameters"] = new JsonObject { ["input"] = new JsonObject { ["width"] = 224, ["height"] = 224 }, ["output"] = new JsonObject { ["best"] = 1 } },
            ["data"] = new JsonArray(file),
        }.ToJsonString();
        var bodyUtf8 = Encoding.UTF8.GetBytes(body);
        var d224 = ImageDecoder.Decode(j224, false, long.MaxValue);
        var d500 = ImageDecoder.Decode(j500, false, long.MaxValue);
        Assert.Equal((224, 224), (d224.Width, d224.Height));
        var t = ImagePreprocessor.ToTensor(d224, p224);
        Assert.Equal(3 * 224 * 224, t.Length);

        // Two passes, the first only warms up: tiered JIT would otherwise time the first stages at tier 0.
        for (int pass = 0; pass < 2; pass++)
        {
            _quiet = pass == 0;
            // As /predict parses: in place from the body's UTF-8 bytes.
            Report("JSON parse (predict body)", Time(2000, () =>
            {
                JsonRead.ParseObject(bodyUtf8, out var doc);
                doc.Dispose();
            }));
            var sources = f.Services.GetRequiredService<ImageSources>();
            Report("data entry resolve (local file)", Time(2000, () => sources.Resolve([file], [f.Dir.Path])));
            Report("file read 224 JPEG (" + j224.Length + " B)", Time(500, () => sources.Resolve([file], [f.Dir.Path])[0].Load(default).GetAwaiter().GetResult()));
            Report("decode 224x224 JPEG", Time(300, () => ImageDecoder.Decode(j224, false, long.MaxValue)));
            Report("decode 500x375 JPEG", Time(200, () => ImageDecoder.Decode(j500, false, long.MaxValue)));
            Report("tensor 224 -> 224 (no resize) + mean", Time(300, () => ImagePreprocessor.ToTensor(d224, p224)));
            Report("tensor 500x375 -> 224 cubic + mean", Time(200, () => ImagePreprocessor.ToTensor(d500, p224)));
            Report("tensor 500x375 -> 256 cubic, crop 224", Time(200, () => ImagePreprocessor.ToTensor(d500, p224crop)));
            Report("tensor 500x375 -> 224 linear", Time(200, () => ImagePreprocessor.ToTensor(d500, p224 with { Interp = Interp.Linear })));
        }
    }

    private async Task<HttpClient> Service()
    {
        var c = f.CreateClient();
        string repo = TestModels.MeansRepo(f.Dir.Sub("r50"), 3, 224, 224);
        var (code, _) = await Put(c, "/services/r50", MeansService(repo, 224, 224, mllib: new JsonObject { ["maxBatchSize"] = 32 }));
        Assert.Equal(System.Net.HttpStatusCode.Created, code);
        return c;
    }

    private static string Body(string file) => new JsonObject
    {
        ["service"] = "r50",
        ["parameters"] = new JsonObject { ["output"] = new JsonObject { ["best"] = 1 } },
        ["data"] = new JsonArray(file),
    }.ToJsonString();

    [BenchmarkFact]
    public async Task EndToEnd()
    {
        var c = await Service();
        string file = Path.Combine(f.Dir.Path, "e2e224.jpg");
        File.WriteAllBytes(file, Jpeg(224, 224));
        string body = Body(file);

        string photo = Path.Combine(f.Dir.Path, "e2e500.jpg");
        File.WriteAllBytes(photo, Jpeg(500, 375));

        async Task<(double head, double rt)> One(string? b = null)
        {
            long s = Stopwatch.GetTimestamp();
            var r = await c.PostAsync("/predict", new StringContent(b ?? body, Encoding.UTF8, "application/json"));
            var j = JsonNode.Parse(await r.Content.ReadAsStringAsync())!;
            double rt = Stopwatch.GetElapsedTime(s).TotalMilliseconds;
            Assert.Equal(200, (int)j["status"]!["code"]!);
            Assert.Equal("500", (string?)j["body"]!["predictions"]![0]!["classes"]![0]!["cat"]);
            return ((double)j["head"]!["time"]!, rt);
        }

        for (int i = 0; i < 50; i++) await One();
        long alloc0 = GC.GetTotalAllocatedBytes(), gen2 = GC.CollectionCount(2);
        var heads = new List<double>();
        var rts = new List<double>();
        for (int i = 0; i < 400; i++)
        {
            var (h, rt) = await One();
            heads.Add(h);
            rts.Add(rt);
        }
        heads.Sort();
        rts.Sort();
        o.WriteLine($"single predict (TestServer) head.time p50 {heads[200]:F3} ms p99 {heads[396]:F3} ms; round trip p50 {rts[200]:F3} ms p99 {rts[396]:F3} ms");
        o.WriteLine($"  allocated {(GC.GetTotalAllocatedBytes() - alloc0) / 400 / 1024.0:F0} KiB per predict (server + test client), gen-2 GCs {GC.CollectionCount(2) - gen2} in 400 predicts");

        var photoBody = Body(photo);
        var ph = new List<double>();
        for (int i = 0; i < 250; i++) ph.Add((await One(photoBody)).head);
        ph = ph.Skip(50).Order().ToList();
        o.WriteLine($"single predict of a 500x375 JPEG (cubic to 224): head.time p50 {ph[100]:F3} ms p99 {ph[198]:F3} ms");

        // The same predicts with the image in the body as base64: a 224x224 JPEG and a 1920x1080 one (large-object-heap sized).
        foreach (var (w, h, n) in new[] { (224, 224, 400), (1920, 1080, 100) })
        {
            string b64Body = new JsonObject
            {
                ["service"] = "r50",
                ["parameters"] = new JsonObject { ["output"] = new JsonObject { ["best"] = 1 } },
                ["data"] = new JsonArray(Convert.ToBase64String(Jpeg(w, h))),
            }.ToJsonString();
            for (int i = 0; i < 20; i++) await One(b64Body);
            long a0 = GC.GetTotalAllocatedBytes(), g2 = GC.CollectionCount(2);
            var bh = new List<double>();
            for (int i = 0; i < n; i++) bh.Add((await One(b64Body)).head);
            bh.Sort();
            o.WriteLine($"single base64 predict of a {w}x{h} JPEG ({b64Body.Length / 1024} KiB body): head.time p50 {bh[n / 2]:F3} ms p99 {bh[n * 99 / 100]:F3} ms; " +
                        $"allocated {(GC.GetTotalAllocatedBytes() - a0) / n / 1024.0:F0} KiB per predict, gen-2 GCs {GC.CollectionCount(2) - g2} in {n}");
        }

        foreach (int clients in new[] { 8, 64 })
        {
            long b0 = Interlocked.Read(ref f.Backend.Batches), i0 = Interlocked.Read(ref f.Backend.Items);
            long g0 = GC.CollectionCount(2);
            int done = 0;
            var sw = Stopwatch.StartNew();
            var until = TimeSpan.FromSeconds(5);
            await Task.WhenAll(Enumerable.Range(0, clients).Select(_ => Task.Run(async () =>
            {
                while (sw.Elapsed < until)
                {
                    await One();
                    Interlocked.Increment(ref done);
                }
            })));
            double secs = sw.Elapsed.TotalSeconds;
            long batches = f.Backend.Batches - b0, items = f.Backend.Items - i0;
            o.WriteLine($"{clients} concurrent clients: {done / secs:F0} images/s, {batches} batches, avg batch {(double)items / Math.Max(1, batches):F1}, gen-2 GCs {GC.CollectionCount(2) - g0}");
        }
    }
}
