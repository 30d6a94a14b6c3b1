using System.Net;
using System.Text.Json.Nodes;
using Xunit;
using static TrtNative.Server.Tests.Http;

namespace TrtNative.Server.Tests;

/// <summary>GET /openapi/v1.json: one OpenAPI document for the DeepDetect and the KServe v2 routes.</summary>
public class OpenApiTests(ServerFactory f) : IClassFixture<ServerFactory>
{
    private readonly HttpClient _c = f.CreateClient();

    [Fact]
    public async Task DocumentListsBothApisWithTheirAnswers()
    {
        var (code, doc) = await Get(_c, "/openapi/v1.json");
        Assert.Equal(HttpStatusCode.OK, code);
        Assert.StartsWith("3.", (string?)doc["openapi"]);
        var paths = doc["paths"]!.AsObject();
        foreach (var p in new[] { "/info", "/services/{name}", "/predict", "/v2", "/v2/models/{name}", "/v2/models/{name}/infer" })
            Assert.True(paths.ContainsKey(p), $"{p} is not in the document: {string.Join(", ", paths.Select(k => k.Key))}");

        var service = paths["/services/{name}"]!.AsObject();
        foreach (var m in new[] { "get", "put", "post", "delete" }) Assert.True(service.ContainsKey(m), $"/services/{{name}} lacks {m}");
        Assert.Equal(["DeepDetect"], service["put"]!["tags"]!.AsArray().Select(t => (string?)t));

        // The typed answers are described, not just named: predict's 200 is the PredictResponse record.
        var predictOk = paths["/predict"]!["post"]!["responses"]!["200"]!["content"]!["application/json"]!["schema"]!;
        Assert.EndsWith("PredictResponse", (string?)predictOk["$ref"]);
        var schemas = doc["components"]!["schemas"]!.AsObject();
        var predict = schemas["PredictResponse"]!["properties"]!.AsObject();
        Assert.True(predict.ContainsKey("status") && predict.ContainsKey("head") && predict.ContainsKey("body"), predict.ToJsonString());
        Assert.True(paths["/predict"]!["post"]!["responses"]!.AsObject().ContainsKey("404"), "predict's error rows are not listed");

        var infer = paths["/v2/models/{name}/infer"]!["post"]!;
        Assert.Equal(["KServe v2"], infer["tags"]!.AsArray().Select(t => (string?)t));
        var inferBody = infer["requestBody"]!["content"]!.AsObject();
        Assert.True(inferBody.ContainsKey("application/octet-stream"), inferBody.ToJsonString()); // the binary tensor extension
        var inferSchema = inferBody["application/json"]!["schema"]!;
        string? inferRef = (string?)inferSchema["$ref"];
        Assert.True(inferRef?.EndsWith("InferRequest") == true || inferSchema["properties"]?["inputs"] != null, inferSchema.ToJsonString());
    }

    [Theory]
    [InlineData("application/x-www-form-urlencoded")] // curl -d
    [InlineData("text/plain")]
    public async Task DescribedBodiesAreNotEnforcedContentTypes(string contentType)
    {
        // The document describes the bodies; routing must not refuse another content type with 415.
        async Task<(HttpStatusCode, System.Text.Json.Nodes.JsonObject)> Send(HttpMethod m, string url, string body)
        {
            using var req = new HttpRequestMessage(m, url) { Content = new StringContent(body, System.Text.Encoding.UTF8, contentType) };
            using var r = await _c.SendAsync(req);
            return (r.StatusCode, System.Text.Json.Nodes.JsonNode.Parse(await r.Content.ReadAsStringAsync())!.AsObject());
        }
        var (pc, p) = await Send(HttpMethod.Post, "/predict", """{"service":"nosuch","data":["x"]}""");
        Assert.Equal((HttpStatusCode.NotFound, 1002), (pc, DdCode(p)));
        var (sc, s) = await Send(HttpMethod.Put, "/services/typed", """{"mllib":"caffe2"}""");
        Assert.Equal((HttpStatusCode.NotFound, 1000), (sc, DdCode(s)));
        var (ic, i) = await Send(HttpMethod.Post, "/v2/models/nosuch/infer", "{}");
        Assert.Equal(HttpStatusCode.NotFound, ic);
        Assert.NotNull(i["error"]);
    }
}
