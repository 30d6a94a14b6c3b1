using System.Net;
using System.Text.Json.Nodes;
using Xunit;
using static TrtNative.Server.Tests.Http;

namespace TrtNative.Server.Tests;

/// <summary>Every endpoint and the status table, in process (WebApplicationFactory / TestServer).</summary>
public class ApiTests(ServerFactory f) : IClassFixture<ServerFactory>
{
    private readonly HttpClient _c = f.CreateClient();

    private async Task<string> CreateMeans(string name, JsonObject? input = null, JsonObject? mllib = null, bool labels = true, string lib = "tensorrt")
    {
        string repo = TestModels.MeansRepo(f.Dir.Sub(name), labels: labels);
        var (code, body) = await Put(_c, $"/services/{name}", MeansService(repo, input: input, mllib: mllib, lib: lib));
        Assert.True(code == HttpStatusCode.Created, body.ToJsonString());
        return repo;
    }

    [Fact]
    public async Task InfoListsServicesWithoutRequiringStatus()
    {
        await CreateMeans("info_svc");
        var (code, body) = await Get(_c, "/info");
        Assert.Equal(HttpStatusCode.OK, code);
        Assert.Equal("/info", (string?)body["head"]!["method"]);
        Assert.False(string.IsNullOrEmpty((string?)body["head"]!["version"]));
        Assert.Contains(body["head"]!["services"]!.AsArray(), s => (string?)s!["name"] == "info_svc");
    }

    [Fact]
    public async Task CreateGetDeleteRoundTrip()
    {
        string repo = TestModels.MeansRepo(f.Dir.Sub("rt"));
        var (code, body) = await Put(_c, "/services/RoundTrip", MeansService(repo));
        Assert.Equal(HttpStatusCode.Created, code);
        Assert.Equal(201, Code(body));
        Assert.Equal("Created", (string?)body["status"]!["msg"]);
        Assert.Null(body["status"]!["dd_code"]);

        (code, body) = await Get(_c, "/services/roundtrip?status=true");
        Assert.Equal(HttpStatusCode.OK, code);
        var svc = body["body"]!;
        Assert.Equal("roundtrip", (string?)svc["name"]); // lower-cased
        Assert.Equal("classification", (string?)svc["mltype"]);
        Assert.Equal("supervised", (string?)svc["type"]);
        Assert.Equal("tensorrt", (string?)svc["mllib"]);
        Assert.Equal(repo, (string?)svc["repository"]);
        Assert.Equal(4, (int)svc["width"]!);
        Assert.Equal("image", (string?)svc["parameters"]!["input"]!["connector"]);
        Assert.Equal(["chan zero", "chan one", "chan two"], svc["labels"]!.AsArray().Select(l => (string)l!).ToArray());
        Assert.NotNull(svc["service_stats"]!["predict_count"]);
        if (!TrtNative.Cuda.CudaPlatform.IsAvailable(out _))
        {
            // mllib tensorrt without a GPU: ONNX Runtime CPU, and the service says why.
            Assert.Equal("onnxruntime-cpu", (string?)svc["backend"]);
            Assert.StartsWith("no GPU", (string?)svc["backend_reason"]);
        }
        else
        {
            Assert.Equal("trtnative-gpu", (string?)svc["backend"]);
        }
        (code, body) = await Get(_c, "/services/roundtrip?labels=false");
        Assert.Null(body["body"]!["labels"]);

        // config.json holds the creation request, as DeepDetect writes it.
        var cfg = JsonNode.Parse(File.ReadAllText(Path.Combine(repo, "config.json")))!;
        Assert.Equal("tensorrt", (string?)cfg["mllib"]);
        Assert.Equal(4, (int)cfg["parameters"]!["input"]!["width"]!);

        (code, body) = await Delete(_c, "/services/roundtrip");
        Assert.Equal(HttpStatusCode.OK, code);
        Assert.Equal(200, Code(body));
        Assert.True(File.Exists(Path.Combine(repo, "means.onnx"))); // clear=mem keeps files
        (code, body) = await Get(_c, "/services/roundtrip");
        Assert.Equal(HttpStatusCode.NotFound, code);
        Assert.Equal(1002, DdCode(body));
    }

    [Fact]
    public async Task PostAlsoCreates()
    {
        string repo = TestModels.MeansRepo(f.Dir.Sub("postc"));
        var (code, _) = await Post(_c, "/services/postc", MeansService(repo));
        Assert.Equal(HttpStatusCode.Created, code);
    }

    [Theory]
    [InlineData("lib")]
    [InlineData("full")]
    [InlineData("dir")]
    public async Task DeleteClearModes(string clear)
    {
        string name = "clear_" + clear;
        string repo;
        if (clear == "dir")
        {
            // clear=dir removes only a repository the server made (the user's own is refused: RepositoryRootTests).
            using var d = new TempDir();
            Archives.TarGz(Path.Combine(d.Path, "m.tgz"), Archives.MeansFiles());
            repo = Path.Combine(f.Dir.Path, name);
            var body = MeansService(repo);
            body["model"]!["create_repository"] = true;
            body["model"]!["init"] = Path.Combine(d.Path, "m.tgz");
            Assert.Equal(HttpStatusCode.Created, (await Put(_c, $"/services/{name}", body)).code);
        }
        else repo = await CreateMeans(name);
        File.WriteAllText(Path.Combine(repo, "TRTengine_arch90_fp32_bs16"), "x");
        var (code, _) = await Delete(_c, $"/services/{name}?clear={clear}");
        Assert.Equal(HttpStatusCode.OK, code);
        Assert.False(File.Exists(Path.Combine(repo, "TRTengine_arch90_fp32_bs16")));
        switch (clear)
        {
            case "lib": Assert.True(File.Exists(Path.Combine(repo, "means.onnx"))); break;
            case "full": Assert.True(Directory.Exists(repo)); Assert.Empty(Directory.GetFileSystemEntries(repo)); break;
            case "dir": Assert.False(Directory.Exists(repo)); break;
        }
    }

    [Fact]
    public async Task PredictComputesTheDocumentedTensor()
    {
        // Default BGR order, scale, mean, std: score c = ((pixel_c × scale) − mean[c]) / std[c].
        var input = new JsonObject { ["scale"] = 0.5, ["mean"] = new JsonArray(1.0, 2.0, 3.0), ["std"] = new JsonArray(2.0, 4.0, 8.0) };
        await CreateMeans("tensor", input: input);
        var (code, body) = await Post(_c, "/predict", Predict("tensor", Img.B64(Img.Uniform(100, 60, 20))));
        Assert.Equal(HttpStatusCode.OK, code);
        Assert.Equal(200, Code(body));
        Assert.Equal("/predict", (string?)body["head"]!["method"]);
        Assert.Equal("tensor", (string?)body["head"]!["service"]);
        Assert.True((double)body["head"]!["time"]! > 0);
        Assert.Equal((20 * 0.5 - 1) / 2, Prob(body, 0, "chan zero"), 5);  // B
        Assert.Equal((60 * 0.5 - 2) / 4, Prob(body, 0, "chan one"), 5);   // G
        Assert.Equal((100 * 0.5 - 3) / 8, Prob(body, 0, "chan two"), 5);  // R
        Assert.Equal("0", (string?)body["body"]!["predictions"]![0]!["uri"]);

        // rgb=true at predict time swaps the order for this call only.
        var req = Predict("tensor", Img.B64(Img.Uniform(100, 60, 20)));
        req["parameters"]!["input"] = new JsonObject { ["rgb"] = true };
        (_, body) = await Post(_c, "/predict", req);
        Assert.Equal((100 * 0.5 - 1) / 2, Prob(body, 0, "chan zero"), 5);
        (_, body) = await Post(_c, "/predict", Predict("tensor", Img.B64(Img.Uniform(100, 60, 20))));
        Assert.Equal((20 * 0.5 - 1) / 2, Prob(body, 0, "chan zero"), 5);
    }

    [Fact]
    public async Task BestThresholdLastAndOrder()
    {
        await CreateMeans("best");
        string a = Img.B64(Img.Uniform(30, 20, 10)), b = Img.B64(Img.Uniform(1, 200, 100));
        var req = Predict("best", a, b);
        req["parameters"]!["output"] = new JsonObject { ["best"] = 2 };
        var (code, body) = await Post(_c, "/predict", req);
        Assert.Equal(HttpStatusCode.OK, code);
        var preds = body["body"]!["predictions"]!.AsArray();
        Assert.Equal(["0", "1"], preds.Select(p => (string)p!["uri"]!).ToArray());
        var c0 = preds[0]!["classes"]!.AsArray();
        Assert.Equal(2, c0.Count);
        Assert.Equal("chan two", (string?)c0[0]!["cat"]);  // R = 30 is the largest
        Assert.Equal(30.0, (double)c0[0]!["prob"]!, 5);
        Assert.Null(c0[0]!["last"]);
        Assert.True((bool)c0[1]!["last"]!);
        Assert.Equal("chan one", (string?)preds[1]!["classes"]![0]!["cat"]);

        req["parameters"]!["output"] = new JsonObject { ["best"] = -1, ["confidence_threshold"] = 15.0 };
        (_, body) = await Post(_c, "/predict", req);
        var cats = body["body"]!["predictions"]![0]!["classes"]!.AsArray().Select(c => (string)c!["cat"]!).ToArray();
        Assert.Equal(["chan two", "chan one"], cats); // 30, 20 kept; 10 dropped

        req["parameters"]!["output"] = new JsonObject { ["best"] = -1 };
        (_, body) = await Post(_c, "/predict", req);
        Assert.Equal(3, body["body"]!["predictions"]![1]!["classes"]!.AsArray().Count);
    }

    [Fact]
    public async Task NoLabelFileGivesIndexCats()
    {
        await CreateMeans("nolabels", labels: false);
        var (_, body) = await Post(_c, "/predict", Predict("nolabels", Img.B64(Img.Uniform(1, 2, 250))));
        Assert.Equal("0", (string?)body["body"]!["predictions"]![0]!["classes"]![0]!["cat"]); // B = 250
    }

    [Fact]
    public async Task DataUriFilePathFileUrlAndDirectory()
    {
        await CreateMeans("sources", mllib: new JsonObject { ["maxBatchSize"] = 4 });
        string dir = f.Dir.Sub("imgs");
        File.WriteAllBytes(Path.Combine(dir, "b.png"), Img.Uniform(0, 0, 2));
        File.WriteAllBytes(Path.Combine(dir, "a.png"), Img.Uniform(0, 0, 1));
        string file = Path.Combine(dir, "a.png");
        string dataUri = "data:image/png;base64," + Img.B64(Img.Uniform(0, 0, 3));
        var (code, body) = await Post(_c, "/predict", Predict("sources", file, "file://" + Path.Combine(dir, "b.png"), dataUri, dir));
        Assert.Equal(HttpStatusCode.OK, code);
        var preds = body["body"]!["predictions"]!.AsArray();
        Assert.Equal([file, "file://" + Path.Combine(dir, "b.png"), "2", Path.Combine(dir, "a.png"), Path.Combine(dir, "b.png")],
            preds.Select(p => (string)p!["uri"]!).ToArray());
        Assert.Equal([1.0, 2.0, 3.0, 1.0, 2.0], preds.Select((_, i) => Prob(body, i, "chan zero")).ToArray());
        var (_, svc) = await Get(_c, "/services/sources");
        Assert.Equal(5, (int)svc["body"]!["service_stats"]!["inference_count"]!);
    }

    [Fact]
    public async Task MetricsInPrometheusFormat()
    {
        await CreateMeans("metrics");
        await Post(_c, "/predict", Predict("metrics", Img.B64(Img.Uniform(1, 2, 3))));
        await Post(_c, "/predict", Predict("nosuch", Img.B64(Img.Uniform(1, 2, 3))));
        var r = await _c.GetAsync("/metrics");
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        Assert.StartsWith("text/plain", r.Content.Headers.ContentType!.ToString());
        string t = await r.Content.ReadAsStringAsync();
        Assert.Contains("# TYPE trtnative_requests_total counter", t);
        Assert.True(Prom.Value(t, "trtnative_requests_total", ("endpoint", "POST /predict"), ("code", "200")) >= 1, t);
        Assert.True(Prom.Value(t, "trtnative_requests_total", ("endpoint", "POST /predict"), ("code", "404")) >= 1, t);
        Assert.True(Prom.Value(t, "trtnative_batch_size_count", ("service", "metrics")) >= 1, t);
        Assert.True(Prom.Value(t, "trtnative_queue_time_seconds_bucket", ("service", "metrics"), ("le", "+Inf")) >= 1, t);
        Assert.NotNull(Prom.Value(t, "trtnative_engine_build_seconds", ("service", "metrics"), ("backend", TestModels.ExpectedBackend)));
        Assert.True(Prom.Value(t, "trtnative_batch_run_seconds_count", ("service", "metrics")) >= 1, t);
        if (TestModels.ExpectedBackend == "onnxruntime-cpu")
            Assert.DoesNotContain("trtnative_gpu_memory_bytes{", t); // no GPU backend active
        else
            Assert.True(Prom.Value(t, "trtnative_gpu_memory_bytes", ("service", "metrics")) >= 1, t);
        Assert.True(Prom.Value(t, "trtnative_request_duration_seconds_count", ("endpoint", "POST /predict")) >= 1, t);
        foreach (var line in t.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            Assert.Matches("^(# (HELP|TYPE) .+|[a-z_]+(\\{.*\\})? [-+0-9.eEInf]+)$", line);
    }

    // ---- the status table, one row at a time ----

    [Fact]
    public async Task MalformedJsonIs400WithoutDdCode()
    {
        var (code, body) = await Send(_c, HttpMethod.Post, "/predict", "{\"service\": ");
        Assert.Equal(HttpStatusCode.BadRequest, code);
        Assert.Equal(400, Code(body));
        Assert.Null(body["status"]!["dd_code"]);
        (code, body) = await Send(_c, HttpMethod.Put, "/services/badjson", "not json");
        Assert.Equal(HttpStatusCode.BadRequest, code);
        Assert.Null(body["status"]!["dd_code"]);
    }

    [Fact]
    public async Task PredictWithoutServiceIs400WithoutDdCode()
    {
        var (code, body) = await Send(_c, HttpMethod.Post, "/predict", "{\"data\":[\"x\"]}");
        Assert.Equal(HttpStatusCode.BadRequest, code);
        Assert.Null(body["status"]!["dd_code"]);
    }

    [Fact]
    public async Task WrongJsonTypeIs400_400()
    {
        await CreateMeans("types");
        var (code, body) = await Send(_c, HttpMethod.Post, "/predict", "{\"service\":\"types\",\"data\":\"notalist\"}");
        Assert.Equal((HttpStatusCode.BadRequest, 400), (code, DdCode(body)));
        (code, body) = await Send(_c, HttpMethod.Post, "/predict", "[1,2]");
        Assert.Equal((HttpStatusCode.BadRequest, 400), (code, DdCode(body)));
        var req = Predict("types", Img.B64(Img.Uniform(1, 2, 3)));
        req["parameters"]!["output"] = new JsonObject { ["best"] = "two" };
        (code, body) = await Post(_c, "/predict", req);
        Assert.Equal((HttpStatusCode.BadRequest, 400), (code, DdCode(body)));
        string repo = TestModels.MeansRepo(f.Dir.Sub("types2"));
        (code, body) = await Put(_c, "/services/types2", MeansService(repo, input: new JsonObject { ["width"] = "wide" }));
        Assert.Equal((HttpStatusCode.BadRequest, 400), (code, DdCode(body)));
        Assert.Contains("width", (string?)body["status"]!["dd_msg"]);
    }

    [Fact]
    public async Task UnknownMllibIs404_1000()
    {
        string repo = TestModels.MeansRepo(f.Dir.Sub("caffe"));
        var (code, body) = await Put(_c, "/services/caffe", MeansService(repo, lib: "caffe"));
        Assert.Equal((HttpStatusCode.NotFound, 1000), (code, DdCode(body)));
    }

    [Fact]
    public async Task NoDataIs400_1001()
    {
        await CreateMeans("nodata");
        var (code, body) = await Send(_c, HttpMethod.Post, "/predict", "{\"service\":\"nodata\"}");
        Assert.Equal((HttpStatusCode.BadRequest, 1001), (code, DdCode(body)));
        (code, body) = await Send(_c, HttpMethod.Post, "/predict", "{\"service\":\"nodata\",\"data\":[]}");
        Assert.Equal((HttpStatusCode.BadRequest, 1001), (code, DdCode(body)));
    }

    [Fact]
    public async Task UnknownServiceIs404_1002()
    {
        var (code, body) = await Post(_c, "/predict", Predict("ghost", "abc"));
        Assert.Equal((HttpStatusCode.NotFound, 1002), (code, DdCode(body)));
        Assert.Equal("NotFound", (string?)body["status"]!["msg"]);
        (code, body) = await Delete(_c, "/services/ghost");
        Assert.Equal((HttpStatusCode.NotFound, 1002), (code, DdCode(body)));
    }

    [Fact]
    public async Task WrongConnectorIs404_1004()
    {
        string repo = TestModels.MeansRepo(f.Dir.Sub("csv"));
        var (code, body) = await Put(_c, "/services/csv", MeansService(repo, input: new JsonObject { ["connector"] = "csv" }));
        Assert.Equal((HttpStatusCode.NotFound, 1004), (code, DdCode(body)));
    }

    [Fact]
    public async Task BadImagesAre400_1005AndAffectNothingElse()
    {
        await CreateMeans("badimg");
        byte[] png = Img.Uniform(5, 6, 7, 64, 64);
        var bad = new Dictionary<string, string>
        {
            ["truncated"] = Img.B64(png[..(png.Length / 2)]),
            ["not an image"] = Img.B64("hello, this is plain text and not an image at all"u8.ToArray()),
            ["huge"] = Img.B64(HugePng()),
            ["garbage"] = "this is neither a path nor base64!",
        };
        string zero = Path.Combine(f.Dir.Path, "zero.png");
        File.WriteAllBytes(zero, []);
        bad["zero bytes"] = zero;
        foreach (var (what, data) in bad)
        {
            var (code, body) = await Post(_c, "/predict", Predict("badimg", Img.B64(png), data));
            Assert.True(code == HttpStatusCode.BadRequest && DdCode(body) == 1005, $"{what}: {code} {body.ToJsonString()}");
            Assert.Contains("Could not read image(s)", (string?)body["status"]!["dd_msg"]);
        }
        var (ok, good) = await Post(_c, "/predict", Predict("badimg", Img.B64(png)));
        Assert.Equal(HttpStatusCode.OK, ok);
        Assert.Equal(7.0, Prob(good, 0, "chan zero"), 5);
        var (_, svc) = await Get(_c, "/services/badimg");
        Assert.Equal(5, (int)svc["body"]!["service_stats"]!["predict_failure"]!);
        Assert.Equal(1, (int)svc["body"]!["service_stats"]!["predict_success"]!);
    }

    /// <summary>A valid PNG header claiming 100000 x 100000 pixels (no pixel data needed to be refused).</summary>
    private static byte[] HugePng()
    {
        byte[] png = Img.Uniform(1, 1, 1, 8, 8);
        var b = (byte[])png.Clone();
        // IHDR data starts at 16: width, height big-endian; fix the CRC after.
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(16), 100_000);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(20), 100_000);
        uint crc = Crc32(b.AsSpan(12, 17));
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(29), crc);
        return b;
    }

    private static uint Crc32(ReadOnlySpan<byte> data)
    {
        uint c = 0xFFFFFFFF;
        foreach (byte x in data)
        {
            c ^= x;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320 ^ (c >> 1) : c >> 1;
        }
        return ~c;
    }

    [Fact]
    public async Task PathOutsideAllowedRootsIs400_1005()
    {
        await CreateMeans("roots");
        using var outside = new TempDir();
        string img = Path.Combine(outside.Path, "x.png");
        File.WriteAllBytes(img, Img.Uniform(1, 2, 3));
        foreach (var p in new[] { img, "/etc/passwd", "file:///etc/hostname", outside.Path, Path.Combine(f.Dir.Path, "..", Path.GetFileName(outside.Path), "x.png") })
        {
            var (code, body) = await Post(_c, "/predict", Predict("roots", p));
            Assert.True(code == HttpStatusCode.BadRequest && DdCode(body) == 1005, $"{p}: {body.ToJsonString()}");
            Assert.Contains("outside the allowed roots", (string?)body["status"]!["dd_msg"]);
        }
        // Strings that cannot be paths or URLs are the client's error, named, not a 500 (a 300 KB path of missing
        // folders once took the server down, resolving one parent at a time).
        var notPaths = new (string data, string reason)[]
        {
            ("/" + string.Concat(Enumerable.Repeat("a-/", 100_000)), "over the limit"),
            (Path.Combine(f.Dir.Path, "ok\0.jpg"), "NUL character"),
            ("file://", "empty path"),
            ("http://[::1", "not a valid URL"),
            ("http:// bad host/x.jpg", "not a valid URL"),
        };
        foreach (var (data, reason) in notPaths)
        {
            var (code, body) = await Post(_c, "/predict", Predict("roots", data));
            Assert.True(code == HttpStatusCode.BadRequest && DdCode(body) == 1005, $"{data[..Math.Min(40, data.Length)]}: {body.ToJsonString()}");
            Assert.Contains(reason, (string?)body["status"]!["dd_msg"]);
        }
        // A symlink inside an allowed root that points outside is refused too.
        string link = Path.Combine(f.Dir.Path, "escape.png");
        File.CreateSymbolicLink(link, img);
        var (c2, b2) = await Post(_c, "/predict", Predict("roots", link));
        Assert.Equal((HttpStatusCode.BadRequest, 1005), (c2, DdCode(b2)));
    }

    [Fact]
    public async Task BadInputParameterIs400_1005()
    {
        string repo = TestModels.MeansRepo(f.Dir.Sub("crop"));
        var (code, body) = await Put(_c, "/services/crop", MeansService(repo, input: new JsonObject { ["crop_width"] = 10 }));
        Assert.Equal((HttpStatusCode.BadRequest, 1005), (code, DdCode(body)));
        (code, body) = await Put(_c, "/services/crop", MeansService(repo, input: new JsonObject { ["interp"] = "bogus" }));
        Assert.Equal((HttpStatusCode.BadRequest, 1005), (code, DdCode(body)));
        (code, body) = await Put(_c, "/services/crop", MeansService(repo, input: new JsonObject { ["std"] = new JsonArray(1.0, 0.0, 1.0) }));
        Assert.Equal((HttpStatusCode.BadRequest, 1005), (code, DdCode(body)));
        Assert.Contains("std must be finite and non-zero", body.ToJsonString());
        (code, body) = await Put(_c, "/services/crop", MeansService(repo, input: new JsonObject { ["mean"] = new JsonArray(1.0, 2.0) }));
        Assert.Equal((HttpStatusCode.BadRequest, 1005), (code, DdCode(body)));
        Assert.Contains("mean has 2 values for 3 channel(s)", body.ToJsonString());
        // Finite values whose product overflows fp32 would make every input inf.
        (code, body) = await Put(_c, "/services/crop", MeansService(repo, input: new JsonObject { ["scale"] = 1e38 }));
        Assert.Equal((HttpStatusCode.BadRequest, 1005), (code, DdCode(body)));
        Assert.Contains("out of fp32's range", (string?)body["status"]!["dd_msg"]);
        await CreateMeans("crop2");
        var req = Predict("crop2", Img.B64(Img.Uniform(1, 2, 3)));
        req["parameters"]!["input"] = new JsonObject { ["width"] = 8, ["height"] = 8 }; // model needs 4x4
        (code, body) = await Post(_c, "/predict", req);
        Assert.Equal((HttpStatusCode.BadRequest, 1005), (code, DdCode(body)));
    }

    private string LabelsRepo(string name, string corresp)
    {
        string repo = TestModels.MeansRepo(f.Dir.Sub(name));
        File.WriteAllText(Path.Combine(repo, "corresp.txt"), corresp);
        return repo;
    }

    [Fact]
    public async Task BadMllibParametersAre400_1006()
    {
        var cases = new (string name, JsonObject body)[]
        {
            ("missingrepo", MeansService(Path.Combine(f.Dir.Path, "does-not-exist"))),
            ("emptyrepo", MeansService(f.Dir.Sub("empty"))),
            ("int8", MeansService(TestModels.MeansRepo(f.Dir.Sub("int8")), mllib: new JsonObject { ["datatype"] = "int8" })),
            ("fp64", MeansService(TestModels.MeansRepo(f.Dir.Sub("fp64")), mllib: new JsonObject { ["datatype"] = "fp64" })),
            ("nclasses", MeansService(TestModels.MeansRepo(f.Dir.Sub("ncl")), mllib: new JsonObject { ["nclasses"] = 1000 })),
            ("channels", MeansService(TestModels.MeansRepo(f.Dir.Sub("chan")), input: new JsonObject { ["bw"] = true })),
            ("initfail", WithInit(MeansService(f.Dir.Sub("initfail")), "http://127.0.0.1:1/nothing.tar.gz")),
            ("initurl", WithInit(MeansService(f.Dir.Sub("initurl")), "http://[::1")),
            ("nulrepo", MeansService(Path.Combine(f.Dir.Path, "a\0b"))),
            ("emptypath", MeansService("")),
            ("labelbeyond", MeansService(LabelsRepo("labelbeyond", "0 a\n3 d\n"))),
            ("labelnegative", MeansService(LabelsRepo("labelnegative", "-5 neg\n"))),
            ("labelhuge", MeansService(LabelsRepo("labelhuge", "2147483647 big\n"))),
        };
        var reasons = new Dictionary<string, string>
        {
            ["initurl"] = "is not a valid URL", ["nulrepo"] = "NUL character", ["emptypath"] = "empty path",
            ["labelbeyond"] = "names class 3, but the model has 3 classes", ["labelnegative"] = "class index -5 is outside",
            ["labelhuge"] = "class index 2147483647 is outside",
        };
        foreach (var (name, body) in cases)
        {
            var (code, resp) = await Put(_c, $"/services/{name}", body);
            Assert.True(code == HttpStatusCode.BadRequest && DdCode(resp) == 1006, $"{name}: {code} {resp.ToJsonString()}");
            if (reasons.TryGetValue(name, out var reason)) Assert.Contains(reason, (string?)resp["status"]!["dd_msg"]);
        }
        var (_, r) = await Put(_c, "/services/int8b", MeansService(TestModels.MeansRepo(f.Dir.Sub("int8b")), mllib: new JsonObject { ["datatype"] = "int8" }));
        Assert.Contains("not supported yet", (string?)r["status"]!["dd_msg"]);
        // fp16 is accepted (CPU backend computes in fp32; reported in the service).
        var (okc, _) = await Put(_c, "/services/fp16", MeansService(TestModels.MeansRepo(f.Dir.Sub("fp16")), mllib: new JsonObject { ["datatype"] = "fp16" }));
        Assert.Equal(HttpStatusCode.Created, okc);
        var (bf16, _) = await Put(_c, "/services/bf16", MeansService(TestModels.MeansRepo(f.Dir.Sub("bf16")), mllib: new JsonObject { ["datatype"] = "bf16" }));
        Assert.Equal(HttpStatusCode.Created, bf16);
        // Precision protection is a boolean (default true); pure fp16 is asked for with false.
        var (pure, _) = await Put(_c, "/services/fp16pure", MeansService(TestModels.MeansRepo(f.Dir.Sub("fp16pure")),
            mllib: new JsonObject { ["datatype"] = "fp16", ["precisionProtection"] = false }));
        Assert.Equal(HttpStatusCode.Created, pure);
        var (badc, bad) = await Put(_c, "/services/fp16maybe", MeansService(TestModels.MeansRepo(f.Dir.Sub("fp16maybe")),
            mllib: new JsonObject { ["datatype"] = "fp16", ["precisionProtection"] = "maybe" }));
        Assert.Equal(HttpStatusCode.BadRequest, badc);
        Assert.Contains("parameters.mllib.precisionProtection", (string?)bad["status"]!["dd_msg"]);
        // The optimization level (tactics autotuning tries) is 0..5.
        var (lvl, _) = await Put(_c, "/services/level1", MeansService(TestModels.MeansRepo(f.Dir.Sub("level1")),
            mllib: new JsonObject { ["datatype"] = "fp16", ["optimizationLevel"] = 1 }));
        Assert.Equal(HttpStatusCode.Created, lvl);
        var (badl, badLevel) = await Put(_c, "/services/level6", MeansService(TestModels.MeansRepo(f.Dir.Sub("level6")),
            mllib: new JsonObject { ["datatype"] = "fp16", ["optimizationLevel"] = 6 }));
        Assert.Equal(HttpStatusCode.BadRequest, badl);
        Assert.Contains("parameters.mllib.optimizationLevel must be in 0..5", (string?)badLevel["status"]!["dd_msg"]);
    }

    private static JsonObject WithInit(JsonObject body, string init)
    {
        body["model"]!["init"] = init;
        return body;
    }

    /// <summary>A means model whose node is an op ONNX Runtime does not know: metadata is fine, the session build fails.</summary>
    internal static string WriteUnloadableModel(string dir)
    {
        TestModels.WriteMeans(Path.Combine(dir, "m.onnx"), 3, 4, 4);
        var model = global::Onnx.ModelProto.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(dir, "m.onnx")));
        model.Graph.Node[0].OpType = "NoSuchOp";
        File.WriteAllBytes(Path.Combine(dir, "m.onnx"), Google.Protobuf.MessageExtensions.ToByteArray(model));
        return dir;
    }

    [Fact]
    public async Task ModelOnnxRuntimeCannotLoadIs400_1006AndLeavesNoService()
    {
        string dir = WriteUnloadableModel(f.Dir.Sub("broken"));
        // An ONNX Runtime service (a "tensorrt" one builds on the GPU where there is one, minutes, in the background).
        var (code, body) = await Put(_c, "/services/broken", MeansService(dir, lib: "onnxruntime"));
        Assert.Equal((HttpStatusCode.BadRequest, 1006), (code, DdCode(body))); // as DeepDetect: refused at creation
        string msg = (string?)body["status"]!["dd_msg"] ?? "";
        Assert.Contains("cannot be served", msg);
        Assert.Contains("NoSuchOp", msg);
        Assert.Equal(HttpStatusCode.NotFound, (await Get(_c, "/services/broken")).code);
        Assert.False(File.Exists(Path.Combine(dir, "config.json"))); // the repository as it was
        // The name is free again: a loadable model under it is created.
        var (again, _) = await Put(_c, "/services/broken", MeansService(TestModels.MeansRepo(f.Dir.Sub("broken-fixed")), lib: "onnxruntime"));
        Assert.Equal(HttpStatusCode.Created, again);
    }

    [Fact]
    public async Task ExistingServiceIs409_1014()
    {
        await CreateMeans("twice");
        string repo = TestModels.MeansRepo(f.Dir.Sub("twice2"));
        var (code, body) = await Put(_c, "/services/TWICE", MeansService(repo));
        Assert.Equal((HttpStatusCode.Conflict, 1014), (code, DdCode(body)));
    }

    [Fact]
    public async Task CreateRepositoryMakesTheDirectory()
    {
        string repo = Path.Combine(f.Dir.Path, "made", "deep");
        var body = MeansService(repo);
        body["model"]!["create_repository"] = true;
        var (code, resp) = await Put(_c, "/services/made", body);
        // Created, but empty: no model → 1006; the refused creation removes the directories it made.
        Assert.Equal((HttpStatusCode.BadRequest, 1006), (code, DdCode(resp)));
        Assert.Contains("no .onnx model", (string?)resp["status"]!["dd_msg"]);
        Assert.False(Directory.Exists(Path.Combine(f.Dir.Path, "made")));
        // With a model to install, the directory is made and kept.
        using var d = new TempDir();
        Archives.TarGz(Path.Combine(d.Path, "m.tgz"), Archives.MeansFiles());
        body["model"]!["init"] = Path.Combine(d.Path, "m.tgz");
        (code, resp) = await Put(_c, "/services/made", body);
        Assert.True(code == HttpStatusCode.Created, resp.ToJsonString());
        Assert.True(File.Exists(Path.Combine(repo, "means.onnx")));
    }
}

/// <summary>A server whose creations answer before the model has loaded (<c>--create-wait-seconds 0</c>).</summary>
public sealed class NoCreateWaitFactory : ServerFactory
{
    public NoCreateWaitFactory() => Settings["TrtNative:CreateWaitSeconds"] = "0";
}

public class AsyncBuildFailureTests(NoCreateWaitFactory f) : IClassFixture<NoCreateWaitFactory>
{
    [Fact]
    public async Task ModelThatFailsToBuildAfterCreationIs500_1007()
    {
        var c = f.CreateClient();
        string dir = ApiTests.WriteUnloadableModel(f.Dir.Sub("broken"));
        var (code, _) = await Put(c, "/services/broken", MeansService(dir));
        Assert.Equal(HttpStatusCode.Created, code); // the load goes on in the background
        var (pc, body) = await Post(c, "/predict", Predict("broken", Img.B64(Img.Uniform(1, 2, 3))));
        Assert.Equal((HttpStatusCode.InternalServerError, 1007), (pc, DdCode(body)));
        Assert.Contains("failed to build", (string?)body["status"]!["dd_msg"]);
        var (_, svc) = await Get(c, "/services/broken");
        Assert.Equal("failed", (string?)svc["body"]!["state"]);
    }
}
