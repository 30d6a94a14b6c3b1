using System.Text.Json.Nodes;
using TrtNative.Sample.LoadGen;
using Xunit;

namespace TrtNative.Server.Tests;

/// <summary>The Sample's load generator against real Kestrel on loopback, CPU backend, the digits demo model.</summary>
public class LoadGenTests(ITestOutputHelper output)
{
    /// <summary>A repository with a copy of demo/digits and the demo's creation body for it.</summary>
    private static JsonObject DigitsService(TempDir d)
    {
        string repo = d.Sub("digits");
        string demo = Path.Combine(TestModels.RepoRoot(), "demo", "digits");
        foreach (var f in new[] { "digits.onnx", "corresp.txt" }) File.Copy(Path.Combine(demo, f), Path.Combine(repo, f));
        var body = ServerApp.DemoRequest(repo);
        body["mllib"] = "onnxruntime"; // the CPU backend whatever the machine
        return body;
    }

    private static void CheckLevel(LevelResult l, int perRequest, int maxBatch)
    {
        Assert.True(l.Succeeded > 0, $"{l.Concurrency} clients: nothing succeeded");
        Assert.Equal(0, l.Errors);
        Assert.Empty(l.ErrorKinds);
        Assert.Equal(l.Requests, l.Succeeded + l.Errors);
        Assert.Equal(l.Succeeded * perRequest, l.Images);
        Assert.InRange(l.ImagesPerSecond, l.Images / l.Seconds * 0.99, l.Images / l.Seconds * 1.01);
        var lat = l.LatencyMs!;
        Assert.True(lat.P50 > 0 && lat.P50 <= lat.P90 && lat.P90 <= lat.P99 && lat.P99 <= lat.Max, $"percentiles out of order: {lat}");
        Assert.InRange(lat.Mean, 0.001, lat.Max);
        // The server batched exactly the images the measured requests sent (the warm-up was over before the first reading).
        Assert.Equal("service_stats", l.Server.Source);
        Assert.Equal(l.Images, l.Server.BatchedImages);
        Assert.Equal(l.Images, l.Server.InferenceCount);
        Assert.InRange(l.Server.Batches!.Value, 1, l.Images);
        Assert.InRange(l.Server.AvgBatchSize!.Value, 1.0, maxBatch);
        // The server's side from /metrics: every measured image waited in the queue, every batch ran; the CPU backend
        // reports no GPU stages.
        var st = l.Stages!;
        Assert.True(st.QueueMs >= 0 && st.RequestMs > 0 && st.BatchRunMs > 0, $"stages: {st}");
        Assert.Equal((null, null, null, null), (st.HostSubmitMs, st.GpuPrepareMs, st.GpuEngineMs, st.HostSubmitBusy));
    }

    [Fact]
    public void StagesAreMeansOfTheMetricsBetweenTwoReadings()
    {
        const string before = """
            # TYPE trtnative_batch_stage_seconds histogram
            trtnative_batch_stage_seconds_sum{otel_scope_name="TrtNative.Server",service="a",stage="host_submit"} 1.0
            trtnative_batch_stage_seconds_count{otel_scope_name="TrtNative.Server",service="a",stage="host_submit"} 10
            trtnative_batch_stage_seconds_sum{otel_scope_name="TrtNative.Server",service="b",stage="host_submit"} 5.0
            trtnative_batch_stage_seconds_count{otel_scope_name="TrtNative.Server",service="b",stage="host_submit"} 1
            trtnative_request_duration_seconds_sum{endpoint="predict",code="200"} 2.0
            trtnative_request_duration_seconds_count{endpoint="predict",code="200"} 100
            """;
        const string after = """
            trtnative_batch_stage_seconds_sum{otel_scope_name="TrtNative.Server",service="a",stage="host_submit"} 1.5 1733450000000
            trtnative_batch_stage_seconds_count{otel_scope_name="TrtNative.Server",service="a",stage="host_submit"} 20
            trtnative_batch_stage_seconds_sum{otel_scope_name="TrtNative.Server",service="a",stage="gpu_engine"} 0.02
            trtnative_batch_stage_seconds_count{otel_scope_name="TrtNative.Server",service="a",stage="gpu_engine"} 10
            trtnative_batch_stage_seconds_sum{otel_scope_name="TrtNative.Server",service="b",stage="host_submit"} 9.0
            trtnative_batch_stage_seconds_count{otel_scope_name="TrtNative.Server",service="b",stage="host_submit"} 2
            trtnative_request_duration_seconds_sum{endpoint="predict",code="200"} 3.0
            trtnative_request_duration_seconds_count{endpoint="predict",code="200"} 150
            trtnative_request_duration_seconds_sum{endpoint="services",code="200"} 0.5
            trtnative_request_duration_seconds_count{endpoint="services",code="200"} 50
            """;
        var st = ServerStages.Between(before, after, "a", 2.0);
        Assert.Equal(50.0, st.HostSubmitMs);   // 0.5 s over 10 batches
        Assert.Equal(2.0, st.GpuEngineMs);     // only after: 0.02 s over 10
        Assert.Equal(0.25, st.HostSubmitBusy); // 0.5 s of 2 s
        Assert.Equal(15.0, st.RequestMs);      // every endpoint: 1.5 s over 100 requests
        Assert.Null(st.GpuPrepareMs);
        Assert.Null(st.QueueMs);
        Assert.Equal(0, ServerStages.Sum(after, "trtnative_batch_stage_seconds_sum", ("service", "c")));
    }

    [Fact]
    public async Task CreatesTheServiceAndMeasuresLevelsByPathAndBase64()
    {
        using var d = new TempDir();
        string imgs = d.Sub("img");
        await using var s = await KestrelServer.StartAsync("--allowed-root", imgs, "--model-root", d.Path);
        var o = new LoadGenOptions
        {
            Server = new Uri($"http://127.0.0.1:{s.Port}"),
            Service = "LoadTest", // names are lower-cased by the server; the generator follows
            CreateBody = DigitsService(d),
            Concurrency = [1, 6],
            Duration = TimeSpan.FromSeconds(1.5),
            Warmup = TimeSpan.FromSeconds(0.3),
            MaxRequestsPerLevel = 400,
            SyntheticSizes = [(64, 48), (320, 240)],
            SyntheticCount = 2,
            SyntheticFolder = imgs,
            RequestTimeout = TimeSpan.FromSeconds(30),
            ReadyTimeout = TimeSpan.FromSeconds(60),
        };
        var images = LoadImages.Synthetic(o.SyntheticSizes, o.SyntheticCount, o.SyntheticFolder);
        Assert.Equal(4, images.Count);
        Assert.All(images, i => Assert.Equal([0xFF, 0xD8], i.Bytes[..2])); // JPEG SOI

        using (var gen = new LoadGenerator(o, output.WriteLine))
        {
            var r = await gen.RunAsync(images);
            output.WriteLine(r.Table());
            Assert.Equal(("loadtest", "path", "onnxruntime-cpu"), (r.Service, r.DataMode, r.Backend));
            Assert.Equal([1, 6], r.Levels.Select(l => l.Concurrency));
            foreach (var l in r.Levels) CheckLevel(l, 1, 32);
            Assert.Equal(1.0, r.Levels[0].Server.AvgBatchSize); // one client: one image per batch
            var json = JsonNode.Parse(r.ToJson())!;
            Assert.Equal(r.Levels[1].Images, (long)json["levels"]![1]!["images"]!);
            Assert.Equal(r.Levels[1].LatencyMs!.P99, (double)json["levels"]![1]!["latency_ms"]!["p99"]!);
        }

        // The service now exists: used as it is, three base64 images per predict.
        o.CreateBody = null;
        o.Base64 = true;
        o.ImagesPerRequest = 3;
        o.Concurrency = [3];
        using (var gen = new LoadGenerator(o, output.WriteLine))
        {
            var r = await gen.RunAsync(images);
            output.WriteLine(r.Table());
            Assert.Equal("base64", r.DataMode);
            CheckLevel(r.Levels[0], 3, 32);
        }
    }

    [Fact]
    public async Task CountsFailedRequestsByKind()
    {
        using var d = new TempDir();
        await using var s = await KestrelServer.StartAsync("--model-root", d.Path); // no allowed root: every path is refused
        var o = new LoadGenOptions
        {
            Server = new Uri($"http://127.0.0.1:{s.Port}"),
            Service = "refused",
            CreateBody = DigitsService(d),
            Concurrency = [2],
            Duration = TimeSpan.FromSeconds(1),
            Warmup = TimeSpan.Zero,
            MaxRequestsPerLevel = 30,
        };
        var images = LoadImages.Synthetic([(32, 32)], 1, d.Sub("img"));
        using var gen = new LoadGenerator(o);
        var l = (await gen.RunAsync(images)).Levels.Single();
        Assert.Equal(0, l.Succeeded);
        Assert.InRange(l.Errors, 1, 30); // bounded by MaxRequestsPerLevel
        Assert.Equal(l.Requests, l.Errors);
        var (kind, e) = Assert.Single(l.ErrorKinds);
        Assert.StartsWith("http 4", kind);
        Assert.Equal(l.Errors, e.Count);
        Assert.Contains("allowed", e.FirstMessage, StringComparison.OrdinalIgnoreCase);
        Assert.Null(l.LatencyMs);
        Assert.Equal(0, l.Server.BatchedImages);
    }

    [Fact]
    public void ParsesDurationsSizesAndLevels()
    {
        Assert.Equal(TimeSpan.FromSeconds(15), LoadGenOptions.ParseDuration("15s"));
        Assert.Equal(TimeSpan.FromMilliseconds(500), LoadGenOptions.ParseDuration("500ms"));
        Assert.Equal(TimeSpan.FromMinutes(2), LoadGenOptions.ParseDuration("2m"));
        Assert.Equal(TimeSpan.FromSeconds(2.5), LoadGenOptions.ParseDuration("2.5"));
        Assert.Throws<FormatException>(() => LoadGenOptions.ParseDuration("soon"));
        Assert.Equal([(640, 480), (1920, 1080)], LoadGenOptions.ParseSizes("640x480, 1920x1080"));
        Assert.Throws<FormatException>(() => LoadGenOptions.ParseSizes("640"));
        Assert.Equal([1, 16, 64, 256], LoadGenOptions.ParseLevels("1,16,64,256"));
        Assert.Equal([4, 8], LoadGenOptions.ParseLevels(" 4, ,8,"));
        Assert.Equal("--concurrency: '0' is not a concurrency level (1 or more)", Assert.Throws<FormatException>(() => LoadGenOptions.ParseLevels("0,4")).Message);
        Assert.Equal("--concurrency: '4-8' is not a concurrency level (1 or more)", Assert.Throws<FormatException>(() => LoadGenOptions.ParseLevels("4-8")).Message);
        Assert.Equal("--concurrency: no concurrency level given", Assert.Throws<FormatException>(() => LoadGenOptions.ParseLevels(" , ")).Message);
    }

    /// <summary>The one parser of number lists, with the arguments decodebench gives it for --decoders and --batch.</summary>
    [Fact]
    public void ParsesCountsAndRanges()
    {
        int[] Decoders(string s) => LoadGenOptions.ParseCounts(s, "--decoders", "count", min: 0);
        (int Min, int Max)[] Batches(string s) => LoadGenOptions.ParseRanges(s, "--batch", "batch size", min: 1);
        string Error(Action parse) => Assert.Throws<FormatException>(parse).Message;

        Assert.Equal([1, 2, 4], Decoders("1,2,4"));
        Assert.Equal([0], Decoders("0"));
        Assert.Equal([0, 3], Decoders(" 0 ,,3"));
        Assert.Equal("--decoders: 'x' is not a count (0 or more)", Error(() => Decoders("1,x")));
        Assert.Equal("--decoders: '-1' is not a count (0 or more)", Error(() => Decoders("-1")));
        Assert.Equal("--decoders: '1-2' is not a count (0 or more)", Error(() => Decoders("1-2")));
        Assert.Equal("--decoders: no count given", Error(() => Decoders("")));

        Assert.Equal([(16, 16), (64, 64), (128, 128)], Batches("16,64,128"));
        Assert.Equal([(16, 24), (8, 8), (5, 5)], Batches("16-24, 8 ,5-5"));
        foreach (var bad in new[] { "0", "16-8", "4-x", "x", "0-4", "1-2-3", "-4", "4-" })
            Assert.Equal($"--batch: '{bad}' is neither a batch size (1 or more) nor a range A-B with 1 <= A <= B", Error(() => Batches("2," + bad)));
        Assert.Equal("--batch: no batch size given", Error(() => Batches(",")));
    }
}
