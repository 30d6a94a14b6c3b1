using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using TrtNative.Server.Api;
using TrtNative.Server.Imaging;
using Xunit;
using static TrtNative.Server.Tests.Http;

namespace TrtNative.Server.Tests;

/// <summary>The predict body read once from UTF-8: base64 images decoded straight from it, every encoding still accepted.</summary>
public class RequestPathTests(ServerFactory f) : IClassFixture<ServerFactory>
{
    private static readonly byte[] Photo = PipelineBenchmark.Jpeg(300, 200, seed: 3); // noisy: well over 4096 base64 characters

    [Fact]
    public void LongPlainBase64IsDecodedFromTheBytesAndEverythingElseStaysText()
    {
        string b64 = Convert.ToBase64String(Photo);
        Assert.True(b64.Length > DataString.MaxPathChars);
        string escaped = b64.Replace("/", "\\/");       // what some JSON encoders send
        string wrapped = string.Join("\\n", b64.Chunk(76).Select(c => new string(c))); // MIME line breaks
        string json = $"{{\"data\":[\"{b64}\",\"{Convert.ToBase64String(Photo[..100])}\",\"{wrapped}\",\"/some/path.jpg\",\"{escaped}\",\"data:image/jpeg;base64,{b64}\"]}}";
        var o = JsonRead.ParseObject(Encoding.UTF8.GetBytes(json), out var doc);
        using (doc)
        {
            var d = JsonRead.Data(o, "data", "data")!;
            Assert.Equal(6, d.Count);
            Assert.Equal(Photo, d[0].Base64Bytes);
            Assert.Null(d[0].Text);
            Assert.Equal((Convert.ToBase64String(Photo[..100]), null), (d[1].Text, d[1].Base64Bytes)); // short: could be a path
            Assert.Equal(Photo, d[2].Base64Bytes);                                                   // line breaks are skipped, as Convert does
            Assert.Equal("/some/path.jpg", d[3].Text);
            Assert.Equal(Photo, d[4].Base64Bytes);
            Assert.StartsWith("data:image/jpeg;base64,", d[5].Text);
        }
        var bad = JsonRead.ParseObject(Encoding.UTF8.GetBytes("{\"data\":[\"x\", 3]}"), out var doc2);
        using (doc2)
        {
            var e = Assert.Throws<DdException>(() => JsonRead.Data(bad, "data", "data"));
            Assert.Equal((400, 400), (e.HttpCode, e.DdCode));
            Assert.Contains("data[1]", e.Message);
        }
    }

    [Fact]
    public async Task EveryEncodingOfALargeImagePredictsAsItsFile()
    {
        var c = f.CreateClient();
        string repo = TestModels.MeansRepo(f.Dir.Sub("enc"), 3, 8, 8);
        var (code, _) = await Put(c, "/services/enc", MeansService(repo, 8, 8));
        Assert.Equal(HttpStatusCode.Created, code);
        string file = Path.Combine(f.Dir.Path, "enc.jpg");
        File.WriteAllBytes(file, Photo);
        var (rc, byPath) = await Post(c, "/predict", Predict("enc", file));
        Assert.Equal(HttpStatusCode.OK, rc);
        string b64 = Convert.ToBase64String(Photo);
        string[] encodings = [b64, b64.Replace("/", "\\/"), string.Join("\\n", b64.Chunk(76).Select(ch => new string(ch))), "data:image/jpeg;base64," + b64];
        string body = "{\"service\":\"enc\",\"parameters\":{\"output\":{\"best\":-1}},\"data\":[" + string.Join(",", encodings.Select(e => $"\"{e}\"")) + "]}";
        var (bc, all) = await Send(c, HttpMethod.Post, "/predict", body);
        Assert.Equal(HttpStatusCode.OK, bc);
        var preds = all["body"]!["predictions"]!.AsArray();
        Assert.Equal(4, preds.Count);
        for (int i = 0; i < 4; i++)
        {
            Assert.Equal(i.ToString(), (string?)preds[i]!["uri"]);
            foreach (var cat in new[] { "chan zero", "chan one", "chan two" })
                Assert.Equal(Prob(byPath, 0, cat), Prob(all, i, cat));
        }
        Assert.InRange(Prob(byPath, 0, "chan zero"), 1, 254); // a real photo mean, not an empty image
    }

    [Fact]
    public async Task AnswersCarryTheirContentLengthAndUtf8Json()
    {
        // Real Kestrel: the headers are the ones on the wire (an in-process client could compute a length itself).
        await using var s = await KestrelServer.StartAsync("--model-root", f.Dir.Path);
        var c = s.Client;
        string repo = TestModels.MeansRepo(f.Dir.Sub("len"));
        Assert.Equal(HttpStatusCode.Created, (await Put(c, "/services/len", MeansService(repo))).code);
        foreach (var (method, url, body) in new[]
                 {
                     (HttpMethod.Post, "/predict", Predict("len", Img.B64(Img.Uniform(200, 100, 50))).ToJsonString()),
                     (HttpMethod.Get, "/services/len", null),
                     (HttpMethod.Post, "/predict", "{\"service\":\"nosuch\",\"data\":[\"x\"]}"), // an error answer, with a quote to escape
                 })
        {
            var req = new HttpRequestMessage(method, url);
            if (body != null) req.Content = new StringContent(body, Encoding.UTF8, "application/json");
            var r = await c.SendAsync(req, HttpCompletionOption.ResponseHeadersRead);
            long? declared = r.Content.Headers.ContentLength; // read before the body is buffered (which would compute one)
            Assert.NotEqual(true, r.Headers.TransferEncodingChunked);
            var bytes = await r.Content.ReadAsByteArrayAsync();
            Assert.Equal(bytes.Length, declared);
            Assert.Equal("application/json; charset=utf-8", r.Content.Headers.ContentType!.ToString());
            var o = JsonNode.Parse(bytes)!.AsObject();
            Assert.Equal((int)r.StatusCode, (int)o["status"]!["code"]!);
            Assert.Equal(o.ToJsonString(), Encoding.UTF8.GetString(bytes)); // the same text as the JSON writer's defaults
        }
    }

    [Fact]
    public async Task ABodyThatIsNotUtf8Is400WithoutDdCode()
    {
        var c = f.CreateClient();
        foreach (var (method, url) in new[] { (HttpMethod.Post, "/predict"), (HttpMethod.Put, "/services/notutf8") })
        {
            var req = new HttpRequestMessage(method, url) { Content = new ByteArrayContent([(byte)'{', (byte)'"', 0xFF, 0xFE, (byte)'"', (byte)':', (byte)'1', (byte)'}']) };
            var r = await c.SendAsync(req);
            var body = JsonNode.Parse(await r.Content.ReadAsStringAsync())!;
            Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
            Assert.Null(body["status"]!["dd_code"]);
            Assert.Contains("UTF-8", (string?)body["status"]!["detail"]);
        }
    }
}
