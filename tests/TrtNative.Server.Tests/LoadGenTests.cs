using System.Text.Json.Nodes;
using TrtNative.Sample.LoadGen;
using Xunit;

namespace TrtNative.Server.Tests;

/// <summary>The Sample's load generator against real Kestrel on loopback, CPU backend, the digits demo model.</summary>
public class LoadGenTests(ITestOutputHelper output)
{
    /// <summary>A repository (folder <paramref name="name"/>) with a copy of demo/digits and the demo's creation body for it.</summary>
    private static JsonObject DigitsService(TempDir d, string name = "digits")
    {
        string repo = d.Sub(name);
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
        Assert.Equal((null, null, null, null, null), (st.HostSubmitMs, st.GpuDecodeMs, st.GpuPrepareMs, st.GpuEngineMs, st.HostSubmitBusy));
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
            trtnative_batch_stage_seconds_sum{otel_scope_name="TrtNative.Server",service="a",stage="gpu_decode"} 0.012
            trtnative_batch_stage_seconds_count{otel_scope_name="TrtNative.Server",service="a",stage="gpu_decode"} 10
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
        Assert.Equal(1.2, st.GpuDecodeMs);     // only after: 0.012 s over 10
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

    private static ClassScore[] Scores(params (string Cat, double Prob)[] classes) => classes.Select(c => new ClassScore(c.Cat, c.Prob)).ToArray();

    [Fact]
    public void ComparesTheScoresOfTwoServicesByLabel()
    {
        var reference = Scores(("cat", 0.7), ("dog", 0.2), ("fox", 0.1));

        // The same scores in another order: matched by label, not by position.
        var same = ReferenceAccuracy.Compare("a.jpg", Scores(("dog", 0.2), ("cat", 0.7), ("fox", 0.1)), reference);
        Assert.Equal(("a.jpg", 3, "cat", 0.7, "cat", 0.7, true, 0.0),
            (same.Image, same.Classes, same.Top1, same.Top1Prob, same.ReferenceTop1, same.ReferenceTop1Prob, same.Top1Agrees, same.RelL2));

        // The top class swapped with the second: top-1 disagrees; ‖(0.2-0.7, 0.7-0.2, 0)‖ / ‖(0.7, 0.2, 0.1)‖.
        var swapped = ReferenceAccuracy.Compare("b.jpg", Scores(("dog", 0.7), ("cat", 0.2), ("fox", 0.1)), reference);
        Assert.False(swapped.Top1Agrees);
        Assert.Equal(("dog", "cat"), (swapped.Top1, swapped.ReferenceTop1));
        Assert.Equal(Math.Sqrt(0.5 / 0.54), swapped.RelL2, 12);

        // A small difference keeps top-1: rel L2 = 0.01 / ‖reference‖.
        var near = ReferenceAccuracy.Compare("c.jpg", Scores(("cat", 0.71), ("dog", 0.2), ("fox", 0.1)), reference);
        Assert.True(near.Top1Agrees);
        Assert.Equal(0.01 / Math.Sqrt(0.54), near.RelL2, 12);

        // All-zero reference: 0 when equal, infinite otherwise.
        Assert.Equal(0.0, ReferenceAccuracy.Compare("z", Scores(("a", 0)), Scores(("a", 0))).RelL2);
        Assert.Equal(double.PositiveInfinity, ReferenceAccuracy.Compare("z", Scores(("a", 1)), Scores(("a", 0))).RelL2);

        var report = AccuracyReport.Of("ref", [same, swapped, near]);
        Assert.Equal((3, 2, swapped.RelL2), (report.Images, report.Top1Agree, report.RelL2Max));
        Assert.Equal((swapped.RelL2 + near.RelL2) / 3, report.RelL2Mean, 12);
        Assert.Equal("accuracy vs reference service ref: top-1 agrees on 2/3 images, rel L2 max 0.962 (mean 0.325)", report.Line());
    }

    [Fact]
    public void DifferentClassesAreAnErrorThatSaysWhichDiffer()
    {
        var reference = Scores(("cat", 0.7), ("dog", 0.2), ("fox", 0.1));
        string Error(ClassScore[] measured, ClassScore[]? refs = null) =>
            Assert.Throws<InvalidOperationException>(() => ReferenceAccuracy.Compare("x.jpg", measured, refs ?? reference)).Message;

        Assert.Equal("x.jpg: the measured service gave 2 classes, the reference service 3: not the same model or labels, or a threshold dropped some",
            Error(Scores(("cat", 0.7), ("dog", 0.2))));
        Assert.Equal("x.jpg: the measured service's class 'owl' is not among the reference service's classes (e.g. 'cat'): not the same labels",
            Error(Scores(("cat", 0.7), ("dog", 0.2), ("owl", 0.1))));
        Assert.Equal("x.jpg: class 'cat' appears twice in the measured service's answer", Error(Scores(("cat", 0.7), ("cat", 0.2), ("dog", 0.1))));
        Assert.Equal("x.jpg: class 'dog' appears twice in the reference service's answer",
            Error(Scores(("cat", 0.7), ("dog", 0.2), ("fox", 0.1)), Scores(("cat", 0.7), ("dog", 0.2), ("dog", 0.1))));
        Assert.Equal("x.jpg: no classes from the measured service", Error([]));
    }

    [Fact]
    public void ReadsTheClassesOfAPredictAnswer()
    {
        var answer = JsonNode.Parse("""{"status":{"code":200},"body":{"predictions":[{"uri":"0","classes":[{"prob":0.75,"cat":"n01 tench"},{"prob":-2.5e-3,"cat":"7","last":true}]}]}}""");
        Assert.Equal([new ClassScore("n01 tench", 0.75), new ClassScore("7", -0.0025)], ReferenceAccuracy.Classes(answer));
        Assert.Equal("the answer has no body.predictions", Assert.Throws<FormatException>(() => ReferenceAccuracy.Classes(JsonNode.Parse("""{"body":{"predictions":[]}}"""))).Message);
        Assert.Equal("the prediction has no classes[]", Assert.Throws<FormatException>(() => ReferenceAccuracy.Classes(JsonNode.Parse("""{"body":{"predictions":[{"uri":"0"}]}}"""))).Message);
        Assert.StartsWith("a class without a cat or a numeric prob", Assert.Throws<FormatException>(() =>
            ReferenceAccuracy.Classes(JsonNode.Parse("""{"body":{"predictions":[{"classes":[{"cat":"a","prob":"high"}]}]}}"""))).Message);
    }

    /// <summary>The options of a short run against <paramref name="s"/>'s service "measured" (created with <paramref name="create"/>).</summary>
    private static LoadGenOptions ShortRun(KestrelServer s, string? reference, JsonObject? create) => new()
    {
        Server = new Uri($"http://127.0.0.1:{s.Port}"),
        Service = "measured",
        CreateBody = create,
        ReferenceService = reference,
        Concurrency = [1],
        Duration = TimeSpan.FromSeconds(0.3),
        Warmup = TimeSpan.Zero,
        ReadyTimeout = TimeSpan.FromSeconds(60),
    };

    private static async Task CreateAsync(KestrelServer s, string name, JsonObject body)
    {
        using var r = await s.Client.PutAsync("/services/" + name, new StringContent(body.ToJsonString()));
        Assert.Equal(System.Net.HttpStatusCode.Created, r.StatusCode);
    }

    [Fact]
    public async Task TwoServicesOnTheSameModelAgreeOnEveryImage()
    {
        using var d = new TempDir();
        string imgs = d.Sub("img");
        await using var s = await KestrelServer.StartAsync("--allowed-root", imgs, "--model-root", d.Path);
        await CreateAsync(s, "reference", DigitsService(d, "reference"));
        var o = ShortRun(s, "Reference", DigitsService(d, "measured")); // the reference's name is lower-cased like the service's
        var images = LoadImages.Synthetic([(64, 48), (32, 32)], 2, imgs);
        foreach (bool base64 in new[] { false, true })
        {
            o.Base64 = base64;
            using var gen = new LoadGenerator(o, output.WriteLine);
            var r = await gen.RunAsync(images);
            output.WriteLine(r.Table());
            var a = r.Accuracy!;
            Assert.Equal(("reference", 4, 4), (a.ReferenceService, a.Images, a.Top1Agree));
            Assert.InRange(a.RelL2Max, 0, 1e-6);
            Assert.Equal(images.Select(i => i.Path), a.PerImage.Select(i => i.Image));
            Assert.All(a.PerImage, i => Assert.Equal(10, i.Classes)); // every class, not output.best's 3
            Assert.All(a.PerImage, i => Assert.StartsWith("digit ", i.Top1));
            Assert.Contains("accuracy vs reference service reference: top-1 agrees on 4/4 images, rel L2 max ", r.Table());
            var json = JsonNode.Parse(r.ToJson())!["accuracy"]!;
            Assert.Equal(("reference", 4, 4), ((string?)json["reference_service"], (int)json["images"]!, (int)json["top1_agree"]!));
            Assert.Equal(a.RelL2Max, (double)json["rel_l2_max"]!);
            Assert.Equal(a.RelL2Mean, (double)json["rel_l2_mean"]!);
            Assert.Equal(4, json["per_image"]!.AsArray().Count);
            Assert.Equal(a.PerImage[0].Top1, (string?)json["per_image"]![0]!["top1"]);
            Assert.True((bool)json["per_image"]![0]!["top1_agrees"]!);
            // The check's predicts came before the level: its server counters hold only the level's images.
            CheckLevel(r.Levels.Single(), 1, 32);
            o.CreateBody = null;
        }
    }

    [Fact]
    public async Task AMissingOrDifferentReferenceServiceIsAClearErrorBeforeAnyLoad()
    {
        using var d = new TempDir();
        string imgs = d.Sub("img");
        await using var s = await KestrelServer.StartAsync("--allowed-root", imgs, "--model-root", d.Path);
        var images = LoadImages.Synthetic([(32, 32)], 2, imgs);

        // Missing: never created, even with a creation body for the measured service.
        using (var gen = new LoadGenerator(ShortRun(s, "nosuch", DigitsService(d, "measured"))))
        {
            var e = await Assert.ThrowsAsync<InvalidOperationException>(() => gen.RunAsync(images));
            Assert.Equal($"accuracy vs reference service 'nosuch': the service does not exist on http://127.0.0.1:{s.Port}/ " +
                         "(--reference-service is never created: create it first)", e.Message);
        }
        using (var r = await s.Client.GetAsync("/services/nosuch")) Assert.Equal(System.Net.HttpStatusCode.NotFound, r.StatusCode);
        // Nothing was measured on the measured service (which was created before the check).
        using (var r = await s.Client.GetAsync("/services/measured"))
            Assert.Equal(0, (long)JsonNode.Parse(await r.Content.ReadAsStringAsync())!["body"]!["service_stats"]!["inference_count"]!);

        // The same model with other labels: the classes do not match.
        var body = DigitsService(d, "relabelled");
        File.WriteAllLines(Path.Combine((string)body["model"]!["repository"]!, "corresp.txt"), Enumerable.Range(0, 10).Select(i => $"{i} class {i}"));
        await CreateAsync(s, "relabelled", body);
        var o = ShortRun(s, "relabelled", create: null);
        using (var gen = new LoadGenerator(o))
        {
            var e = await Assert.ThrowsAsync<InvalidOperationException>(() => gen.RunAsync(images));
            Assert.StartsWith($"accuracy vs reference service 'relabelled': {images[0].Path}: the measured service's class 'digit ", e.Message);
            Assert.Matches("' is not among the reference service's classes \\(e\\.g\\. 'class [0-9]'\\): not the same labels$", e.Message);
        }

        // A predict that fails: the images are sent by path and this one is outside the server's allowed root.
        var outside = LoadImages.Synthetic([(32, 32)], 1, d.Sub("outside"));
        await CreateAsync(s, "reference", DigitsService(d, "reference"));
        o.ReferenceService = "reference";
        using (var gen = new LoadGenerator(o))
        {
            var e = await Assert.ThrowsAsync<InvalidOperationException>(() => gen.RunAsync(outside));
            Assert.StartsWith($"accuracy vs reference service 'reference': predict of {outside[0].Path} on service 'measured' answered 4", e.Message);
        }
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
