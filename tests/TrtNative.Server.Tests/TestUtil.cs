using System.Formats.Tar;
using System.IO.Compression;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using Google.Protobuf;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Onnx;
using SkiaSharp;

namespace TrtNative.Server.Tests;

/// <summary>A temporary directory removed at dispose.</summary>
public sealed class TempDir : IDisposable
{
    public TempDir() => Directory.CreateDirectory(Path);
    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "trtn-srv-" + Guid.NewGuid().ToString("N")[..10]);
    public string Sub(string name) { var p = System.IO.Path.Combine(Path, name); Directory.CreateDirectory(p); return p; }
    public void Dispose() { try { Directory.Delete(Path, true); } catch (IOException) { } }
}

/// <summary>Tiny ONNX models written with the protobuf classes.</summary>
public static class TestModels
{
    /// <summary>The backend a "tensorrt" service gets on this machine: the GPU one where CUDA works, else ONNX Runtime CPU.</summary>
    public static string ExpectedBackend => TrtNative.Server.Inference.GpuProbe.IsAvailable(out _) ? "trtnative-gpu" : "onnxruntime-cpu";

    /// <summary>
    /// "prob"[N, C] = per-channel mean of "data"[N, C, H, W] (GlobalAveragePool + Flatten): with a uniform image,
    /// each score is exactly the preprocessed channel value, so tests see the tensor the server built.
    /// </summary>
    /// <param name="path">Where the model is written.</param>
    /// <param name="c">Input channels (and classes).</param>
    /// <param name="h">Input height.</param>
    /// <param name="w">Input width.</param>
    /// <param name="batch">Fixed batch size, or -1 for a symbolic batch dim.</param>
    /// <param name="symbolicClasses">Declare the output's class dim symbolic (so a backend must learn it by running).</param>
    public static void WriteMeans(string path, int c, int h, int w, long batch = -1, bool symbolicClasses = false)
    {
        var g = new GraphProto { Name = "means" };
        g.Node.Add(new NodeProto { OpType = "GlobalAveragePool", Input = { "data" }, Output = { "gap" }, Name = "gap" });
        var flat = new NodeProto { OpType = "Flatten", Input = { "gap" }, Output = { "prob" }, Name = "flat" };
        flat.Attribute.Add(new AttributeProto { Name = "axis", I = 1, Type = AttributeProto.Types.AttributeType.Int });
        g.Node.Add(flat);
        g.Input.Add(Vi("data", batch, c, h, w));
        g.Output.Add(Vi("prob", batch, symbolicClasses ? ClassesDim : c));
        var m = new ModelProto { IrVersion = 7, Graph = g, ProducerName = "trtnative-tests" };
        m.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 13 });
        File.WriteAllBytes(path, m.ToByteArray());
    }

    private const long ClassesDim = -2;

    // Dims: -1 is the symbolic "batch", ClassesDim the symbolic "classes", others fixed.
    private static ValueInfoProto Vi(string name, params long[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims)
            shape.Dim.Add(d == -1 ? new TensorShapeProto.Types.Dimension { DimParam = "batch" }
                : d == ClassesDim ? new TensorShapeProto.Types.Dimension { DimParam = "classes" }
                : new TensorShapeProto.Types.Dimension { DimValue = d });
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = 1, Shape = shape } },
        };
    }

    /// <summary>A repository holding the means model and a 3-line corresp.txt.</summary>
    public static string MeansRepo(string dir, int c = 3, int h = 4, int w = 4, bool labels = true, long batch = -1, bool symbolicClasses = false)
    {
        Directory.CreateDirectory(dir);
        WriteMeans(System.IO.Path.Combine(dir, "means.onnx"), c, h, w, batch, symbolicClasses);
        if (labels) File.WriteAllText(System.IO.Path.Combine(dir, "corresp.txt"), "0 chan zero\n1 chan one\n2 chan two\n");
        return dir;
    }

    /// <summary>The repository root (walks up to the folder that has demo/digits).</summary>
    public static string RepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d != null; d = d.Parent)
            if (File.Exists(System.IO.Path.Combine(d.FullName, "demo", "digits", "digits.onnx"))) return d.FullName;
        throw new InvalidOperationException("demo/digits not found above " + AppContext.BaseDirectory);
    }

    public static string Fixture(string name) => System.IO.Path.Combine(AppContext.BaseDirectory, "fixtures", name);
}

/// <summary>Images made in memory.</summary>
public static class Img
{
    public static byte[] Uniform(byte r, byte g, byte b, int w = 16, int h = 12, SKEncodedImageFormat fmt = SKEncodedImageFormat.Png)
    {
        using var bmp = new SKBitmap(new SKImageInfo(w, h, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        bmp.Erase(new SKColor(r, g, b));
        using var data = bmp.Encode(fmt, 100);
        return data.ToArray();
    }

    public static string B64(byte[] b) => Convert.ToBase64String(b);
}

/// <summary>JSON calls.</summary>
public static class Http
{
    public static async Task<(HttpStatusCode code, JsonObject body)> Send(HttpClient c, HttpMethod m, string url, string? body = null)
    {
        var req = new HttpRequestMessage(m, url);
        if (body != null) req.Content = new StringContent(body, Encoding.UTF8, "application/json");
        var r = await c.SendAsync(req);
        string text = await r.Content.ReadAsStringAsync();
        return (r.StatusCode, JsonNode.Parse(text) as JsonObject ?? throw new Exception("not an object: " + text));
    }

    public static Task<(HttpStatusCode code, JsonObject body)> Put(HttpClient c, string url, JsonNode body) => Send(c, HttpMethod.Put, url, body.ToJsonString());
    public static Task<(HttpStatusCode code, JsonObject body)> Post(HttpClient c, string url, JsonNode body) => Send(c, HttpMethod.Post, url, body.ToJsonString());
    public static Task<(HttpStatusCode code, JsonObject body)> Get(HttpClient c, string url) => Send(c, HttpMethod.Get, url);
    public static Task<(HttpStatusCode code, JsonObject body)> Delete(HttpClient c, string url) => Send(c, HttpMethod.Delete, url);

    /// <summary>
    /// Polls GET /services/{name} until its state is no longer "building" and returns the service's body. How long a
    /// build takes depends on the backend: a GPU engine build with its lanes' warm-up and accuracy check, with other
    /// tests building on the same GPU, takes many times ONNX Runtime's session creation. So the wait follows the state,
    /// with a deadline (minutes) that only a hung build reaches.
    /// </summary>
    public static async Task<JsonObject> WaitWhileBuilding(HttpClient c, string name, double timeoutSeconds = 300)
    {
        var deadline = DateTime.UtcNow.AddSeconds(timeoutSeconds);
        while (true)
        {
            var (code, b) = await Get(c, $"/services/{name}");
            var svc = b["body"] as JsonObject;
            if (code != HttpStatusCode.OK || svc == null || (string?)svc["state"] != "building") return svc ?? b;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"service '{name}' is still building after {timeoutSeconds} s");
            await Task.Delay(50);
        }
    }

    /// <summary><see cref="WaitWhileBuilding"/>, then asserts the service is ready (the body says why not).</summary>
    public static async Task<JsonObject> WaitForReady(HttpClient c, string name, double timeoutSeconds = 300)
    {
        var svc = await WaitWhileBuilding(c, name, timeoutSeconds);
        if ((string?)svc["state"] != "ready") throw new InvalidOperationException($"service '{name}' did not become ready: {svc.ToJsonString()}");
        return svc;
    }

    public static int DdCode(JsonObject o) => (int?)o["status"]?["dd_code"] ?? 0;
    public static int Code(JsonObject o) => (int)o["status"]!["code"]!;

    /// <summary>A creation body for the means model.</summary>
    public static JsonObject MeansService(string repo, int w = 4, int h = 4, JsonObject? input = null, JsonObject? mllib = null, string lib = "tensorrt")
    {
        var inp = input ?? new JsonObject();
        inp["connector"] ??= "image";
        inp["width"] ??= w;
        inp["height"] ??= h;
        return new JsonObject
        {
            ["description"] = "means",
            ["mllib"] = lib,
            ["type"] = "supervised",
            ["model"] = new JsonObject { ["repository"] = repo },
            ["parameters"] = new JsonObject { ["input"] = inp, ["mllib"] = mllib ?? new JsonObject { ["maxBatchSize"] = 16 } },
        };
    }

    public static JsonObject Predict(string service, params string[] data) => new()
    {
        ["service"] = service,
        ["parameters"] = new JsonObject { ["output"] = new JsonObject { ["best"] = -1 } },
        ["data"] = new JsonArray(data.Select(d => (JsonNode)d).ToArray()),
    };

    /// <summary>prob of the class whose cat is <paramref name="cat"/> in prediction <paramref name="i"/>.</summary>
    public static double Prob(JsonObject resp, int i, string cat) =>
        (double)resp["body"]!["predictions"]![i]!["classes"]!.AsArray().First(c => (string)c!["cat"]! == cat)!["prob"]!;
}

/// <summary>The in-process server (TestServer) with test settings.</summary>
public class ServerFactory : WebApplicationFactory<Program>
{
    public TempDir Dir { get; } = new();
    public Dictionary<string, string?> Settings { get; } = new()
    {
        ["TrtNative:MaxBatchDelayMs"] = "5",
        // Generous: on a GPU the test classes build some fifty services at once, and a predict has waited more than
        // 20 s for its service's build there (409/1008 where the test expected a result).
        ["TrtNative:BuildWaitSeconds"] = "90",
        ["TrtNative:CpuThreads"] = "1",
    };

    public ServerFactory()
    {
        Settings["TrtNative:AllowedRoots:0"] = Dir.Path;
        Settings["TrtNative:ModelRoots:0"] = Dir.Path;
    }

    public Action<IServiceCollection>? TestServices { get; set; }

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        foreach (var (k, v) in Settings) builder.UseSetting(k, v);
        if (TestServices != null) builder.ConfigureTestServices(TestServices);
    }

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        Dir.Dispose();
    }
}

/// <summary>Real Kestrel on 127.0.0.1 and a free port.</summary>
public sealed class KestrelServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    public int Port { get; }
    public HttpClient Client { get; }
    public IServiceProvider Services => _app.Services;

    private KestrelServer(WebApplication app, int port)
    {
        _app = app;
        Port = port;
        Client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
    }

    public static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int p = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return p;
    }

    public static async Task<KestrelServer> StartAsync(params string[] extraArgs)
    {
        int port = FreePort();
        var app = ServerApp.Create(["--port", port.ToString(), "--max-batch-delay-ms", "5", "--cpu-threads", "1", .. extraArgs]);
        await app.StartAsync();
        return new KestrelServer(app, port);
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>Archives for model.init.</summary>
public static class Archives
{
    /// <summary>A tar.gz with the given regular files (name → bytes) and optional extra entries.</summary>
    public static void TarGz(string path, IEnumerable<(string name, byte[] data)> files, IEnumerable<TarEntry>? extra = null)
    {
        using var fs = File.Create(path);
        using var gz = new GZipStream(fs, CompressionLevel.Fastest);
        using var tw = new TarWriter(gz, TarEntryFormat.Pax);
        foreach (var (name, data) in files)
        {
            var e = new PaxTarEntry(TarEntryType.RegularFile, name) { DataStream = new MemoryStream(data) };
            tw.WriteEntry(e);
        }
        foreach (var e in extra ?? []) tw.WriteEntry(e);
    }

    public static void Zip(string path, IEnumerable<(string name, byte[] data)> files)
    {
        using var fs = File.Create(path);
        using var z = new ZipArchive(fs, ZipArchiveMode.Create);
        foreach (var (name, data) in files)
        {
            using var s = z.CreateEntry(name).Open();
            s.Write(data);
        }
    }

    public static (string, byte[])[] MeansFiles()
    {
        using var d = new TempDir();
        string p = Path.Combine(d.Path, "m.onnx");
        TestModels.WriteMeans(p, 3, 4, 4);
        return [("means.onnx", File.ReadAllBytes(p)), ("corresp.txt", Encoding.UTF8.GetBytes("0 zero\n1 one\n2 two\n"))];
    }
}

/// <summary>
/// Reads Prometheus text exposition: a sample is found by its name and its exact label set, in any order (the
/// exporter sorts labels and adds the meter's otel_scope_name, which is not part of what a test names).
/// </summary>
public static class Prom
{
    private static readonly System.Text.RegularExpressions.Regex Sample = new(@"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$");
    private static readonly System.Text.RegularExpressions.Regex Label = new("([a-zA-Z_][a-zA-Z0-9_]*)=\"((?:[^\"\\\\]|\\\\.)*)\"");

    /// <summary>The value of the sample <paramref name="name"/>{<paramref name="labels"/>}, or null when there is none.</summary>
    public static double? Value(string text, string name, params (string name, string value)[] labels)
    {
        var want = labels.ToDictionary(l => l.name, l => l.value);
        foreach (var line in text.Split('\n'))
        {
            var m = Sample.Match(line);
            if (!m.Success || m.Groups[1].Value != name) continue;
            var have = Label.Matches(m.Groups[2].Value).Where(l => l.Groups[1].Value != "otel_scope_name")
                .ToDictionary(l => l.Groups[1].Value, l => l.Groups[2].Value.Replace("\\\"", "\"").Replace("\\\\", "\\"));
            if (have.Count == want.Count && want.All(kv => have.TryGetValue(kv.Key, out var v) && v == kv.Value))
                return m.Groups[3].Value switch
                {
                    "+Inf" => double.PositiveInfinity,
                    "-Inf" => double.NegativeInfinity,
                    var v => double.Parse(v, System.Globalization.CultureInfo.InvariantCulture),
                };
        }
        return null;
    }
}
