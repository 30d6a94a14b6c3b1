using System.Net;
using Microsoft.Extensions.DependencyInjection;
using TrtNative.Server.Inference;
using Xunit;
using static TrtNative.Server.Tests.Http;

namespace TrtNative.Server.Tests;

/// <summary>A backend whose every run fails with an exception the server knows nothing about.</summary>
public sealed class ThrowingBackend : IInferenceBackend
{
    public const string Why = "backend exploded";
    public string Kind => "fake-throwing";
    public int MaxBatchSize => 4;
    public int OutputSize => 3;
    public long DeviceMemoryBytes => 0;
    public float[] Run(IReadOnlyList<PreparedImage> images) => throw new InvalidOperationException(Why);
    public void Dispose() { }
}

public sealed class ThrowingServerFactory : ServerFactory
{
    public ThrowingServerFactory() =>
        TestServices = s => s.AddSingleton<BackendFactory>(sp => new FixedBackendFactory(sp.GetRequiredService<ServerOptions>(), new ThrowingBackend()));
}

/// <summary>
/// The exception handler: one failure, thrown below the handlers, answered in each API's own format (DeepDetect's
/// status object, KServe's {"error"}).
/// </summary>
public class ErrorMappingTests(ThrowingServerFactory f) : IClassFixture<ThrowingServerFactory>
{
    private readonly HttpClient _c = f.CreateClient();

    [Fact]
    public async Task AnUnexpectedFailureIs500_1007OnDeepDetectAnd500ErrorOnKServe()
    {
        string repo = TestModels.MeansRepo(f.Dir.Sub("boom"));
        Assert.Equal(HttpStatusCode.Created, (await Put(_c, "/services/boom", MeansService(repo))).code);

        var (dc, dd) = await Post(_c, "/predict", Predict("boom", Img.B64(Img.Uniform(1, 2, 3))));
        Assert.Equal((HttpStatusCode.InternalServerError, 500, 1007), (dc, Code(dd), DdCode(dd)));
        Assert.Equal("InternalError", (string?)dd["status"]!["msg"]);
        Assert.Contains(ThrowingBackend.Why, (string?)dd["status"]!["dd_msg"]);
        Assert.Null(dd["error"]);

        var infer = new System.Text.Json.Nodes.JsonObject
        {
            ["inputs"] = new System.Text.Json.Nodes.JsonArray(new System.Text.Json.Nodes.JsonObject
            {
                ["name"] = "data", ["datatype"] = "FP32", ["shape"] = new System.Text.Json.Nodes.JsonArray(1, 3, 4, 4),
                ["data"] = new System.Text.Json.Nodes.JsonArray(Enumerable.Range(0, 48).Select(i => (System.Text.Json.Nodes.JsonNode?)0.5).ToArray()),
            }),
        };
        var (kc, ks) = await Post(_c, "/v2/models/boom/infer", infer);
        Assert.Equal(HttpStatusCode.InternalServerError, kc);
        Assert.Contains(ThrowingBackend.Why, (string?)ks["error"]);
        Assert.Null(ks["status"]);
    }

    [Fact]
    public async Task RoutesThatDoNotExistAnswerInTheirProtocol()
    {
        // DeepDetect's clients read status from every answer; routing's own 404/405 used to have an empty body.
        var (nc, nb) = await Get(_c, "/services/");
        Assert.Equal((HttpStatusCode.NotFound, 404), (nc, Code(nb)));
        Assert.Contains("no route GET /services/", nb.ToJsonString());
        var (mc, mb) = await Get(_c, "/predict");
        Assert.Equal((HttpStatusCode.MethodNotAllowed, 405), (mc, Code(mb)));
        Assert.Contains("GET is not allowed on /predict", mb.ToJsonString());
        var (kc, kb) = await Get(_c, "/v2/models/nosuch/foo");
        Assert.Equal(HttpStatusCode.NotFound, kc);
        Assert.Equal("no route GET /v2/models/nosuch/foo", (string?)kb["error"]);
    }

    [Fact]
    public async Task ADomainErrorKeepsItsRowInEachFormat()
    {
        var (dc, dd) = await Get(_c, "/services/nosuch");
        Assert.Equal((HttpStatusCode.NotFound, 404, 1002), (dc, Code(dd), DdCode(dd)));
        Assert.Contains("nosuch", (string?)dd["status"]!["dd_msg"]);
        var (kc, ks) = await Get(_c, "/v2/models/nosuch");
        Assert.Equal(HttpStatusCode.NotFound, kc);
        Assert.Equal("Service Not Found: 'nosuch'", (string?)ks["error"]);
        Assert.Single(ks);
    }
}
