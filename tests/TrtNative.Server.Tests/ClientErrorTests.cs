using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using TrtNative.Server.Inference;
using Xunit;
using static TrtNative.Server.Tests.Http;

namespace TrtNative.Server.Tests;

/// <summary>A factory whose backends block in Run until a gate opens (one image per batch).</summary>
internal sealed class BlockingRunFactory(ServerOptions o, ManualResetEventSlim gate) : BackendFactory(o)
{
    public RecordingBackend? Last { get; private set; }
    public override IInferenceBackend Create(BackendKind kind, BackendSpec spec) => Last = new RecordingBackend(1, gate: gate);
}

public sealed class BlockingRunServerFactory : ServerFactory
{
    public ManualResetEventSlim Gate { get; } = new(false);
    internal BlockingRunFactory? Backends { get; private set; }
    public BlockingRunServerFactory()
    {
        // The fake stands in for the engine of a CPU service. On a GPU host a service would otherwise be a GPU one, and
        // its build runs the accuracy check (ModelService.CheckAccuracy): Run on the gated fake (blocked until the gate's
        // timeout) and a second, reference backend from this factory, which then is Last instead of the serving one.
        Settings["TrtNative:ForceCpu"] = "true";
        TestServices = s => s.AddSingleton<BackendFactory>(sp => Backends = new BlockingRunFactory(sp.GetRequiredService<ServerOptions>(), Gate));
    }
}

/// <summary>Client mistakes are 4xx with DeepDetect's status object, never 500/1007.</summary>
public class ClientErrorTests(BlockingRunServerFactory f) : IClassFixture<BlockingRunServerFactory>
{
    [Fact]
    public async Task DuplicateJsonKeysAre400NamingTheKey()
    {
        var c = f.CreateClient();
        string repo = TestModels.MeansRepo(f.Dir.Sub("dupkeys"));
        string body = MeansService(repo).ToJsonString().Replace("\"mllib\":\"tensorrt\"", "\"mllib\":\"tensorrt\",\"mllib\":\"caffe\"");
        var (code, resp) = await Send(c, HttpMethod.Put, "/services/dupkeys", body);
        Assert.Equal(HttpStatusCode.BadRequest, code);
        Assert.Equal(400, Code(resp));
        Assert.Contains("mllib", resp["status"]!.ToJsonString());
        Assert.Contains("duplicate", resp["status"]!.ToJsonString(), StringComparison.OrdinalIgnoreCase);
        (code, resp) = await Send(c, HttpMethod.Post, "/predict", "{\"service\":\"a\",\"service\":\"b\",\"data\":[\"x\"]}");
        Assert.Equal(HttpStatusCode.BadRequest, code);
        Assert.Contains("service", resp["status"]!.ToJsonString());
        // Nested objects too.
        (code, resp) = await Send(c, HttpMethod.Post, "/predict", "{\"service\":\"a\",\"parameters\":{\"output\":{\"best\":1,\"best\":2}},\"data\":[\"x\"]}");
        Assert.Equal(HttpStatusCode.BadRequest, code);
        Assert.Contains("best", resp["status"]!.ToJsonString());
    }

    [Fact]
    public async Task PredictRacingADeleteIs404ServiceNotFound()
    {
        var c = f.CreateClient();
        string repo = TestModels.MeansRepo(f.Dir.Sub("race"));
        Assert.Equal(HttpStatusCode.Created, (await Put(c, "/services/race", MeansService(repo))).code);
        await WaitForReady(c, "race");
        // First predict holds the (one-image) backend; the second waits in the queue when the DELETE comes.
        var first = Post(c, "/predict", Predict("race", Img.B64(Img.Uniform(1, 2, 3))));
        Assert.True(f.Backends!.Last!.Entered.Wait(TimeSpan.FromSeconds(20)), "the backend never ran");
        var second = Post(c, "/predict", Predict("race", Img.B64(Img.Uniform(4, 5, 6))));
        await Task.Delay(500);
        var delete = Delete(c, "/services/race");
        await Task.Delay(300);
        f.Gate.Set();
        var (dc, _) = await delete;
        Assert.Equal(HttpStatusCode.OK, dc);
        var (c1, b1) = await first;
        Assert.True(c1 == HttpStatusCode.OK || (c1, DdCode(b1)) == (HttpStatusCode.NotFound, 1002), b1.ToJsonString());
        var (c2, b2) = await second;
        Assert.True((c2, DdCode(b2)) == (HttpStatusCode.NotFound, 1002), $"{c2} {b2.ToJsonString()}");
        Assert.Contains("race", (string?)b2["status"]!["dd_msg"]);
    }
}

/// <summary>Oversized bodies without a Content-Length (chunked), over real Kestrel.</summary>
public class OversizedChunkedBodyTests
{
    [Fact]
    public async Task OversizedChunkedBodyIs400_1005()
    {
        int port = KestrelServer.FreePort();
        var app = ServerApp.Create(["--port", port.ToString()], b => b.Configuration["TrtNative:MaxRequestBytes"] = "1000");
        await app.StartAsync();
        try
        {
            using var c = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
            foreach (var (method, url) in new[] { (HttpMethod.Post, "/predict"), (HttpMethod.Put, "/services/big") })
            {
                var bytes = Encoding.UTF8.GetBytes(Predict("x", new string('A', 50_000)).ToJsonString());
                var content = new StreamContent(new ChunkedOnly(bytes));
                content.Headers.ContentType = new("application/json");
                var req = new HttpRequestMessage(method, url) { Content = content };
                req.Headers.TransferEncodingChunked = true;
                var r = await c.SendAsync(req);
                var body = JsonNode.Parse(await r.Content.ReadAsStringAsync())!.AsObject();
                Assert.True((r.StatusCode, DdCode(body)) == (HttpStatusCode.BadRequest, 1005), $"{url}: {r.StatusCode} {body.ToJsonString()}");
                Assert.Contains("1000-byte limit", (string?)body["status"]!["dd_msg"]);
            }
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }

    // A stream that cannot report its length, so the client sends chunks in several writes.
    private sealed class ChunkedOnly(byte[] data) : Stream
    {
        private int _pos;
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => _pos; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count)
        {
            int n = Math.Min(Math.Min(count, 4096), data.Length - _pos);
            Array.Copy(data, _pos, buffer, offset, n);
            _pos += n;
            return n;
        }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
