using System.Buffers.Binary;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using TrtNative.Server.Imaging;
using Xunit;
using static TrtNative.Server.Tests.Http;

namespace TrtNative.Server.Tests;

/// <summary>The KServe v2 / Open Inference Protocol API, on real Kestrel, next to DeepDetect's.</summary>
public class KServeTests
{
    [Fact]
    public async Task HealthMetadataAndReadiness()
    {
        using var d = new TempDir();
        // Creation answers before a CPU service's model has loaded, so that the failed build below is seen as one.
        await using var s = await KestrelServer.StartAsync("--model-root", d.Path, "--create-wait-seconds", "0");
        var (code, live) = await Get(s.Client, "/v2/health/live");
        Assert.Equal((HttpStatusCode.OK, true), (code, (bool)live["live"]!));
        var (rc, ready) = await Get(s.Client, "/v2/health/ready");
        Assert.Equal((HttpStatusCode.OK, true), (rc, (bool)ready["ready"]!)); // no services: nothing to wait for
        var (mc, server) = await Get(s.Client, "/v2");
        Assert.Equal(HttpStatusCode.OK, mc);
        Assert.Equal("trtnative", (string?)server["name"]);
        Assert.False(string.IsNullOrEmpty((string?)server["version"]));
        Assert.Contains("binary_tensor_data", server["extensions"]!.AsArray().Select(e => (string?)e));

        Assert.Equal(HttpStatusCode.Created, (await Put(s.Client, "/services/m", MeansService(TestModels.MeansRepo(d.Sub("m"))))).code);
        await WaitForReady(s.Client, "m");
        var (gc, meta) = await Get(s.Client, "/v2/models/m");
        Assert.Equal(HttpStatusCode.OK, gc);
        // A GPU model also lists its replicas, one per GPU (issue 14); a CPU model has none. The rest is the protocol's.
        var replicas = meta["replicas"];
        meta.Remove("replicas");
        if ((string?)meta["platform"] == "trtnative_onnx")
        {
            var r = Assert.Single(replicas!.AsArray());
            Assert.True((int?)r!["index"] == 0 && (int?)r["gpu"] >= 0 && (string?)r["state"] == "healthy", r.ToJsonString());
        }
        else Assert.Null(replicas);
        Assert.Equal("""{"name":"m","versions":["1"],"platform":"onnxruntime_onnx","inputs":[{"name":"data","datatype":"FP32","shape":[-1,3,4,4]}],"outputs":[{"name":"prob","datatype":"FP32","shape":[-1,3]}]}""",
            meta.ToJsonString().Replace("trtnative_onnx", "onnxruntime_onnx"));
        var (vc, _) = await Get(s.Client, "/v2/models/m/versions/1");
        Assert.Equal(HttpStatusCode.OK, vc);
        Assert.Equal(HttpStatusCode.NotFound, (await Get(s.Client, "/v2/models/m/versions/2")).code);
        var (nc, missing) = await Get(s.Client, "/v2/models/nosuch");
        Assert.Equal(HttpStatusCode.NotFound, nc);
        Assert.Contains("nosuch", (string?)missing["error"]);
        var (mr, mready) = await Get(s.Client, "/v2/models/m/ready");
        Assert.Equal((HttpStatusCode.OK, true), (mr, (bool)mready["ready"]!));

        // A service whose engine fails to build (nclasses contradicts what the model outputs) is not ready, nor is the server.
        var bad = MeansService(TestModels.MeansRepo(d.Sub("bad"), symbolicClasses: true), mllib: new JsonObject { ["nclasses"] = 5 });
        Assert.Equal(HttpStatusCode.Created, (await Put(s.Client, "/services/bad", bad)).code);
        // Its description still answers, naming why (the failed build's engine is gone: nothing may read it).
        var failed = await WaitWhileBuilding(s.Client, "bad");
        Assert.Equal("failed", (string?)failed["state"]);
        Assert.Contains("nclasses is 5", (string?)failed["error"]);
        var (br, bready) = await Get(s.Client, "/v2/models/bad/ready");
        Assert.Equal((HttpStatusCode.BadRequest, false), (br, (bool)bready["ready"]!));
        (rc, ready) = await Get(s.Client, "/v2/health/ready");
        Assert.Equal((HttpStatusCode.BadRequest, false), (rc, (bool)ready["ready"]!));
    }

    [Fact]
    public async Task InferGivesPredictsScoresForTheSameImage()
    {
        using var d = new TempDir();
        string demo = Path.Combine(TestModels.RepoRoot(), "demo", "digits");
        string repo = d.Sub("digits");
        foreach (var f in new[] { "digits.onnx", "corresp.txt" }) File.Copy(Path.Combine(demo, f), Path.Combine(repo, f));
        await using var s = await KestrelServer.StartAsync("--allowed-root", demo, "--model-root", d.Path);
        Assert.Equal(HttpStatusCode.Created, (await Put(s.Client, "/services/digits", ServerApp.DemoRequest(repo))).code);
        var (_, meta) = await Get(s.Client, "/v2/models/digits");
        string inName = (string)meta["inputs"]![0]!["name"]!, outName = (string)meta["outputs"]![0]!["name"]!;

        // /predict on the ten samples: every class's score.
        var paths = Enumerable.Range(0, 10).Select(k => Path.Combine(demo, "samples", $"digit_{k}.png")).ToArray();
        var predictBody = Predict("digits", paths);
        var (pc, pred) = await Post(s.Client, "/predict", predictBody);
        Assert.Equal(HttpStatusCode.OK, pc);
        var expected = new float[10][];
        for (int k = 0; k < 10; k++)
            expected[k] = Enumerable.Range(0, 10).Select(j => (float)Prob(pred, k, $"digit {j}")).ToArray();

        // The same images decoded and resized as the service does (8x8 grey, area), as pixels and as the model tensor.
        var input = new ImageInputParams { Width = 8, Height = 8, Bw = true, Scale = (float)(1.0 / 255.0), Interp = Interp.Area };
        var pixels = paths.Select(p => ImagePreprocessor.ToPixels(ImageDecoder.Decode(File.ReadAllBytes(p), true, 1 << 24), input)).ToArray();
        var tensors = pixels.Select(px =>
        {
            var t = new float[64];
            input.ToNormalization().ToPlanar(px, 8, 8, 1, t);
            return t;
        }).ToArray();

        long batchesBefore = await EngineBatches(s.Client);
        // UINT8 pixels [N,H,W,C]: the service's own preprocessing (scale) applies.
        var u8 = await Infer(s.Client, "digits", Request(inName, "UINT8", [10, 8, 8, 1], new JsonArray(pixels.SelectMany(p => p).Select(b => (JsonNode)(int)b).ToArray()), "u8"));
        Assert.Equal("u8", (string?)u8["id"]);
        Assert.Equal((outName, "FP32", "[10,10]"), ((string)u8["outputs"]![0]!["name"]!, (string)u8["outputs"]![0]!["datatype"]!, u8["outputs"]![0]!["shape"]!.ToJsonString()));
        AssertScores(expected, Floats(u8), 1e-6f);

        // FP32 [N,C,H,W], nested row-major arrays.
        var nested = new JsonArray(tensors.Select(t => (JsonNode)new JsonArray(new JsonArray(
            Enumerable.Range(0, 8).Select(y => (JsonNode)new JsonArray(t.Skip(y * 8).Take(8).Select(v => (JsonNode)v).ToArray())).ToArray()))).ToArray());
        AssertScores(expected, Floats(await Infer(s.Client, "digits", Request(inName, "FP32", [10, 1, 8, 8], nested))), 1e-6f);

        // FP32 as binary tensor data in, binary scores out.
        var bin = tensors.SelectMany(t => t).SelectMany(v => { var b = new byte[4]; BinaryPrimitives.WriteSingleLittleEndian(b, v); return b; }).ToArray();
        var binScores = await InferBinary(s.Client, "digits", inName, outName, "FP32", bin);
        AssertScores(expected, binScores, 1e-6f);
        // FP16 as binary: two bytes a value.
        var bin16 = tensors.SelectMany(t => t).SelectMany(v => { var b = new byte[2]; BinaryPrimitives.WriteHalfLittleEndian(b, (Half)v); return b; }).ToArray();
        AssertScores(expected, await InferBinary(s.Client, "digits", inName, outName, "FP16", bin16), 2e-2f);

        // FP16 (rounded to half precision): close, same top class.
        var fp16 = await Infer(s.Client, "digits", Request(inName, "FP16", [10, 1, 8, 8], new JsonArray(tensors.SelectMany(t => t).Select(v => (JsonNode)v).ToArray())));
        AssertScores(expected, Floats(fp16), 2e-2f);
        for (int k = 0; k < 10; k++) Assert.Equal(k, Array.IndexOf(Floats(fp16)[k], Floats(fp16)[k].Max()));

        // The same batching queue and engine as /predict ran them.
        Assert.True(await EngineBatches(s.Client) >= batchesBefore + 5);
    }

    [Fact]
    public async Task BadInferRequestsAre400WithTheReason()
    {
        using var d = new TempDir();
        await using var s = await KestrelServer.StartAsync("--model-root", d.Path);
        Assert.Equal(HttpStatusCode.Created, (await Put(s.Client, "/services/m", MeansService(TestModels.MeansRepo(d.Sub("m"))))).code);
        await WaitForReady(s.Client, "m");
        JsonArray Zeros(int n) => new(Enumerable.Range(0, n).Select(_ => (JsonNode)0).ToArray());
        var cases = new (string what, JsonObject body, string reason)[]
        {
            ("wrong input name", Request("x", "FP32", [1, 3, 4, 4], Zeros(48)), "unknown input 'x'"),
            ("wrong shape", Request("data", "FP32", [1, 3, 4, 5], Zeros(60)), "must be [N,3,4,4]"),
            ("UINT8 shape is NHWC", Request("data", "UINT8", [1, 3, 4, 4], Zeros(48)), "must be [N,4,4,3]"),
            ("datatype", Request("data", "INT64", [1, 3, 4, 4], Zeros(48)), "not supported"),
            ("too few values", Request("data", "FP32", [2, 3, 4, 4], Zeros(48)), "has 48 values, the shape holds 96"),
            ("not numbers", Request("data", "FP32", [1, 3, 4, 4], new JsonArray(Enumerable.Range(0, 48).Select(_ => (JsonNode)"a").ToArray())), "not a number"),
            ("UINT8 out of range", Request("data", "UINT8", [1, 4, 4, 3], new JsonArray(Enumerable.Range(0, 48).Select(_ => (JsonNode)300).ToArray())), "not a UINT8"),
            ("unknown output", WithOutput(Request("data", "FP32", [1, 3, 4, 4], Zeros(48)), "nope"), "unknown output 'nope'"),
            ("null input", new JsonObject { ["inputs"] = new JsonArray((JsonNode?)null) }, "inputs[0] is null"),
            ("null output", new JsonObject { ["inputs"] = new JsonArray(Request("data", "FP32", [1, 3, 4, 4], Zeros(48))["inputs"]![0]!.DeepClone()), ["outputs"] = new JsonArray((JsonNode?)null) }, "'outputs' holds a null"),
            ("FP32 overflow", Request("data", "FP32", [1, 3, 4, 4], new JsonArray(Enumerable.Range(0, 48).Select(i => (JsonNode)(i == 5 ? 1e39 : 0)).ToArray())), "data[5] is not a finite FP32 value"),
        };
        foreach (var (what, body, reason) in cases)
        {
            var (code, r) = await Post(s.Client, "/v2/models/m/infer", body);
            Assert.True(code == HttpStatusCode.BadRequest, $"{what}: {code} {r.ToJsonString()}");
            Assert.Contains(reason, (string?)r["error"]);
        }
        var (mc, malformed) = await Send(s.Client, HttpMethod.Post, "/v2/models/m/infer", "{oops");
        Assert.Equal(HttpStatusCode.BadRequest, mc);
        Assert.Contains("malformed", (string?)malformed["error"]);
        var (uc, unknown) = await Post(s.Client, "/v2/models/nosuch/infer", Request("data", "FP32", [1, 3, 4, 4], Zeros(48)));
        Assert.Equal(HttpStatusCode.NotFound, uc);
        Assert.NotNull(unknown["error"]);

        // A binary size that does not match the shape.
        var req = Request("data", "FP32", [1, 3, 4, 4], null);
        req["inputs"]![0]!["parameters"] = new JsonObject { ["binary_data_size"] = 100 };
        var (bc, br) = await SendBinary(s.Client, "/v2/models/m/infer", req, new byte[100]);
        Assert.Equal(HttpStatusCode.BadRequest, bc);
        Assert.Contains("binary_data_size 100", Encoding.UTF8.GetString(br));

        // And a good one on the same model: uniform B,G,R planes give their values back.
        var ok = await Infer(s.Client, "m", Request("data", "FP32", [1, 3, 4, 4],
            new JsonArray(Enumerable.Range(0, 48).Select(i => (JsonNode)(i / 16 + 1)).ToArray())));
        Assert.Equal([1f, 2f, 3f], Floats(ok)[0]);
    }

    private static JsonObject Request(string input, string dtype, long[] shape, JsonNode? data, string? id = null)
    {
        var inp = new JsonObject { ["name"] = input, ["shape"] = new JsonArray(shape.Select(x => (JsonNode)x).ToArray()), ["datatype"] = dtype };
        if (data != null) inp["data"] = data;
        var o = new JsonObject { ["inputs"] = new JsonArray(inp) };
        if (id != null) o["id"] = id;
        return o;
    }

    private static JsonObject WithOutput(JsonObject req, string name)
    {
        req["outputs"] = new JsonArray(new JsonObject { ["name"] = name });
        return req;
    }

    private static async Task<JsonObject> Infer(HttpClient c, string model, JsonObject body)
    {
        var (code, r) = await Post(c, $"/v2/models/{model}/infer", body);
        Assert.True(code == HttpStatusCode.OK, r.ToJsonString());
        return r;
    }

    private static float[][] Floats(JsonObject resp)
    {
        var o = resp["outputs"]![0]!;
        int n = (int)o["shape"]![0]!, k = (int)o["shape"]![1]!;
        var flat = o["data"]!.AsArray().Select(v => (float)(double)v!).ToArray();
        return Enumerable.Range(0, n).Select(i => flat[(i * k)..((i + 1) * k)]).ToArray();
    }

    private static void AssertScores(float[][] expected, float[][] actual, float tol)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            for (int j = 0; j < expected[i].Length; j++)
                Assert.True(Math.Abs(expected[i][j] - actual[i][j]) <= tol, $"image {i} class {j}: /predict {expected[i][j]:R}, infer {actual[i][j]:R}");
    }

    private static async Task<long> EngineBatches(HttpClient c) => (long)(await Get(c, "/services/digits")).body["body"]!["service_stats"]!["engine_batches"]!;

    private static async Task<(HttpStatusCode, byte[])> SendBinary(HttpClient c, string url, JsonObject header, byte[] binary)
    {
        var h = Encoding.UTF8.GetBytes(header.ToJsonString());
        var content = new ByteArrayContent([.. h, .. binary]);
        content.Headers.ContentType = new("application/octet-stream");
        content.Headers.Add("Inference-Header-Content-Length", h.Length.ToString());
        var r = await c.PostAsync(url, content);
        return (r.StatusCode, await r.Content.ReadAsByteArrayAsync());
    }

    private static async Task<float[][]> InferBinary(HttpClient c, string model, string input, string output, string dtype, byte[] tensor)
    {
        var req = Request(input, dtype, [10, 1, 8, 8], null);
        req["inputs"]![0]!["parameters"] = new JsonObject { ["binary_data_size"] = tensor.Length };
        req["outputs"] = new JsonArray(new JsonObject { ["name"] = output, ["parameters"] = new JsonObject { ["binary_data"] = true } });
        var h = Encoding.UTF8.GetBytes(req.ToJsonString());
        var content = new ByteArrayContent([.. h, .. tensor]);
        content.Headers.Add("Inference-Header-Content-Length", h.Length.ToString());
        var r = await c.PostAsync($"/v2/models/{model}/infer", content);
        var bytes = await r.Content.ReadAsByteArrayAsync();
        Assert.True(r.StatusCode == HttpStatusCode.OK, Encoding.UTF8.GetString(bytes));
        int jsonLen = int.Parse(r.Headers.GetValues("Inference-Header-Content-Length").Single());
        var head = JsonNode.Parse(bytes.AsSpan(0, jsonLen))!;
        var o = head["outputs"]![0]!;
        Assert.Null(o["data"]);
        Assert.Equal(400, (int)o["parameters"]!["binary_data_size"]!);
        Assert.Equal(jsonLen + 400, bytes.Length);
        return Enumerable.Range(0, 10).Select(i => Enumerable.Range(0, 10)
            .Select(j => BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(jsonLen + (i * 10 + j) * 4))).ToArray()).ToArray();
    }
}
