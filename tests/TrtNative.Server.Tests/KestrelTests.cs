using System.Net;
using System.Text.Json.Nodes;
using SkiaSharp;
using Microsoft.Extensions.Configuration;
using Xunit;
using static TrtNative.Server.Tests.Http;

namespace TrtNative.Server.Tests;

/// <summary>Real Kestrel on 127.0.0.1 and a free port.</summary>
public class KestrelTests(ITestOutputHelper output)
{
    [Fact]
    public void DefaultsAndCommandLine()
    {
        var o = ServerOptions.From(new ConfigurationBuilder().AddInMemoryCollection(ServerOptions.ParseArgs([], [])).Build());
        Assert.Equal(("127.0.0.1", 8080, false), (o.Host, o.Port, o.Demo));
        Assert.True(o.GpuDecode);
        foreach (var args in new[] { new[] { "--gpu-decode", "false" }, ["--gpu-decode=false"] })
            Assert.False(ServerOptions.From(new ConfigurationBuilder().AddInMemoryCollection(ServerOptions.ParseArgs(args, [])).Build()).GpuDecode);
        var rest = new List<string>();
        var cfg = ServerOptions.ParseArgs(["--host", "0.0.0.0", "--port=9001", "--demo", "--allowed-root", "/a", "--allowed-root=/b", "--environment=Development"], rest);
        o = ServerOptions.From(new ConfigurationBuilder().AddInMemoryCollection(cfg).Build());
        Assert.Equal(("0.0.0.0", 9001, true), (o.Host, o.Port, o.Demo));
        Assert.Equal(["/a", "/b"], o.AllowedRoots);
        Assert.Equal(["--environment=Development"], rest);
    }

    // The server's options from a command line alone.
    private static ServerOptions ParseOptions(params string[] args) =>
        ServerOptions.From(new ConfigurationBuilder().AddInMemoryCollection(ServerOptions.ParseArgs(args, [])).Build());

    // An integer option: its default, values given as "--flag value" and "--flag=value", and out-of-range values refused
    // with a message naming the switch, its configuration key and the allowed range.
    private static void AssertIntOption(string flag, string key, Func<ServerOptions, int> read, int byDefault, int low, int high, string range)
    {
        Assert.Equal(byDefault, read(ParseOptions()));
        Assert.Equal(low, read(ParseOptions(flag, low.ToString())));
        Assert.Equal(high, read(ParseOptions($"{flag}={high}")));
        foreach (var bad in new[] { low - 1, high + 1 })
            Assert.Contains($"{flag} (TrtNative:{key}) must be {range}, got {bad}",
                Assert.Throws<ArgumentException>(() => ParseOptions(flag, bad.ToString())).Message);
    }

    [Theory]
    [InlineData("--build-wait-seconds", "BuildWaitSeconds")]
    [InlineData("--create-wait-seconds", "CreateWaitSeconds")]
    public void WaitsDefaultToThirtySecondsAndNegativeOrHugeOnesAreRefused(string flag, string key)
    {
        Func<ServerOptions, double> read = key == "BuildWaitSeconds" ? o => o.BuildWaitSeconds : o => o.CreateWaitSeconds;
        Assert.Equal(30, read(ParseOptions()));
        Assert.Equal(0, read(ParseOptions(flag, "0")));
        Assert.Equal(2.5, read(ParseOptions($"{flag}=2.5")));
        foreach (var bad in new[] { "-1", "NaN", "1e12" })
            Assert.Contains($"{flag} (TrtNative:{key}) must be 0 to 86400 seconds, got",
                Assert.Throws<ArgumentException>(() => ParseOptions(flag, bad)).Message);
    }

    [Fact]
    public void TheHelpTextNamesEverySwitch()
    {
        // --jpeg-decoders-per-batch was mapped but missing from --help once.
        var missing = ServerOptions.SwitchMappings.Keys.Where(k => !ServerApp.Usage.Contains(k + " ", StringComparison.Ordinal)).ToList();
        Assert.True(missing.Count == 0, "--help does not name: " + string.Join(", ", missing));
    }

    [Fact]
    public void GpuLanesDefaultToTwoAndOutOfRangeIsRefused() =>
        AssertIntOption("--gpu-lanes", "GpuLanes", o => o.GpuLanes, 2, 1, 2, "1 or 2");

    [Fact]
    public void GpuBatchesInFlightDefaultToTwoAndOutOfRangeIsRefused() =>
        AssertIntOption("--gpu-batches-in-flight", "GpuBatchesInFlight", o => o.GpuBatchesInFlight, 2, 2, 4, "2 to 4");

    [Fact]
    public void JpegDecodersPerBatchDefaultToOneAndOutOfRangeIsRefused() =>
        AssertIntOption("--jpeg-decoders-per-batch", "JpegDecodersPerBatch", o => o.JpegDecodersPerBatch, 1, 1, 4, "1 to 4");

    [Fact]
    public async Task ServesTheApiOverTcp()
    {
        using var d = new TempDir();
        await using var s = await KestrelServer.StartAsync("--allowed-root", d.Path, "--model-root", d.Path);
        var (code, info) = await Get(s.Client, "/info");
        Assert.Equal(HttpStatusCode.OK, code);
        Assert.Equal("/info", (string?)info["head"]!["method"]);
        string repo = TestModels.MeansRepo(d.Sub("tcp"));
        Assert.Equal(HttpStatusCode.Created, (await Put(s.Client, "/services/tcp", MeansService(repo))).code);
        string img = Path.Combine(d.Path, "x.png");
        File.WriteAllBytes(img, Img.Uniform(5, 6, 7));
        var results = await Task.WhenAll(Enumerable.Range(0, 16).Select(i => Post(s.Client, "/predict", Predict("tcp", img, Img.B64(Img.Uniform(0, 0, (byte)i))))));
        for (int i = 0; i < 16; i++)
        {
            Assert.Equal(HttpStatusCode.OK, results[i].code);
            Assert.Equal(7.0, Prob(results[i].body, 0, "chan zero"), 4);
            Assert.Equal(i, Prob(results[i].body, 1, "chan zero"), 4);
        }
        var (bc, bad) = await Send(s.Client, HttpMethod.Post, "/predict", "{oops");
        Assert.Equal(HttpStatusCode.BadRequest, bc);
        Assert.Null(bad["status"]!["dd_code"]);
        string metrics = await s.Client.GetStringAsync("/metrics");
        Assert.Equal(1, Prom.Value(metrics, "trtnative_requests_total", ("endpoint", "POST /predict"), ("code", "400")));
        Assert.Equal(HttpStatusCode.OK, (await Delete(s.Client, "/services/tcp")).code);
    }

    [Fact]
    public async Task OversizedBodyIsRefused()
    {
        int port = KestrelServer.FreePort();
        var app = ServerApp.Create(["--port", port.ToString()], b => b.Configuration["TrtNative:MaxRequestBytes"] = "1000");
        await app.StartAsync();
        try
        {
            using var c = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
            var (code, body) = await Post(c, "/predict", Predict("x", new string('A', 5000)));
            Assert.Equal((HttpStatusCode.BadRequest, 1005), (code, DdCode(body)));
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }

    [Fact]
    public async Task RestartReusesRepositoryConfigAndFetchedArchive()
    {
        using var d = new TempDir();
        using var web = new LoopbackFiles();
        Archives.TarGz(Path.Combine(d.Path, "m.tar.gz"), Archives.MeansFiles());
        string url = web.Add("m.tar.gz", File.ReadAllBytes(Path.Combine(d.Path, "m.tar.gz")));
        string repo = d.Sub("restart");
        var body = MeansService(repo, input: new JsonObject { ["scale"] = 0.5 });
        body["model"]!["init"] = url;
        double first;
        await using (var s1 = await KestrelServer.StartAsync("--model-root", d.Path))
        {
            Assert.Equal(HttpStatusCode.Created, (await Put(s1.Client, "/services/m", body)).code);
            var (_, p) = await Post(s1.Client, "/predict", Predict("m", Img.B64(Img.Uniform(0, 0, 64))));
            first = Prob(p, 0, "zero");
            Assert.Equal(32.0, first, 4);
        }
        // A new server process state: the same creation (init and all) reuses the downloaded archive, the
        // extracted model and config.json; a bare creation with only the repository uses its own parameters (as
        // DeepDetect, config.json is read only with model.init): scale 1, not the stored 0.5.
        await using (var s2 = await KestrelServer.StartAsync("--model-root", d.Path))
        {
            var bare = new JsonObject
            {
                ["mllib"] = "tensorrt",
                ["model"] = new JsonObject { ["repository"] = repo },
                ["parameters"] = new JsonObject { ["input"] = new JsonObject { ["connector"] = "image" } },
            };
            var (code, resp) = await Put(s2.Client, "/services/m", bare);
            Assert.True(code == HttpStatusCode.Created, resp.ToJsonString());
            var (_, p) = await Post(s2.Client, "/predict", Predict("m", Img.B64(Img.Uniform(0, 0, 64))));
            Assert.Equal(64.0, Prob(p, 0, "zero"), 6);
            Assert.Equal(HttpStatusCode.OK, (await Delete(s2.Client, "/services/m")).code);
            Assert.Equal(HttpStatusCode.Created, (await Put(s2.Client, "/services/m", body)).code);
            (_, p) = await Post(s2.Client, "/predict", Predict("m", Img.B64(Img.Uniform(0, 0, 64))));
            Assert.Equal(first, Prob(p, 0, "zero"), 6);
        }
        Assert.Equal(1, web.Hits["m.tar.gz"]);
    }

    [Fact]
    public async Task DemoClassifiesSamplesAndHeldOutSet()
    {
        string root = TestModels.RepoRoot();
        string demo = Path.Combine(root, "demo", "digits");
        await using var s = await KestrelServer.StartAsync("--demo", "--demo-dir", demo);
        // The demo service is registered at start-up; its build (a GPU build tunes tactics) may take a while.
        for (int i = 0; i < 100 && (await Get(s.Client, "/services/digits")).code != HttpStatusCode.OK; i++) await Task.Delay(100);
        var svc = await WaitForReady(s.Client, "digits");
        Assert.Equal(TestModels.ExpectedBackend, (string?)svc["backend"]);
        // The committed samples, by path (the demo folder is an allowed root).
        var paths = Enumerable.Range(0, 10).Select(k => Path.Combine(demo, "samples", $"digit_{k}.png")).ToArray();
        var (pc, pred) = await Post(s.Client, "/predict", new JsonObject { ["service"] = "digits", ["data"] = new JsonArray(paths.Select(p => (JsonNode)p).ToArray()) });
        Assert.Equal(HttpStatusCode.OK, pc);
        for (int k = 0; k < 10; k++)
            Assert.Equal($"digit {k}", (string?)pred["body"]!["predictions"]![k]!["classes"]![0]!["cat"]);

        // The held-out split, upscaled 8x as the samples are, as base64 PNGs through the whole pipeline.
        var raw = File.ReadAllBytes(Path.Combine(demo, "test_set.bin"));
        int n = raw.Length / 65, correct = 0;
        var batches = Enumerable.Range(0, n).Chunk(50).Select(async idx =>
        {
            var data = new JsonArray(idx.Select(i => (JsonNode)Img.B64(Upscaled(raw.AsSpan(i * 65 + 1, 64).ToArray()))).ToArray());
            var (c, r) = await Post(s.Client, "/predict", new JsonObject { ["service"] = "digits", ["data"] = data });
            Assert.Equal(HttpStatusCode.OK, c);
            return idx.Select((i, j) => (string?)r["body"]!["predictions"]![j]!["classes"]![0]!["cat"] == $"digit {raw[i * 65]}").Count(x => x);
        });
        foreach (var t in await Task.WhenAll(batches)) correct += t;
        double acc = (double)correct / n;
        output.WriteLine($"demo accuracy through the server: {correct}/{n} = {acc:F4}");
        Assert.True(acc >= 0.97, $"accuracy {acc:F4}");
    }

    private static byte[] Upscaled(byte[] px8)
    {
        using var bmp = new SKBitmap(new SKImageInfo(64, 64, SKColorType.Gray8, SKAlphaType.Opaque));
        for (int y = 0; y < 64; y++)
            for (int x = 0; x < 64; x++) { byte v = px8[(y / 8) * 8 + x / 8]; bmp.SetPixel(x, y, new SKColor(v, v, v)); }
        using var data = bmp.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }
}
