using System.Net;
using System.Text.Json.Nodes;
using Xunit;
using static TrtNative.Server.Tests.Http;

namespace TrtNative.Server.Tests;

/// <summary>DeepDetect options the server does not implement are refused (400/1006 naming the option), never ignored.</summary>
public class UnsupportedOptionTests(ServerFactory f) : IClassFixture<ServerFactory>
{
    private readonly HttpClient _c = f.CreateClient();

    public static TheoryData<string, string, string> Options => new()
    {
        { "output", "bbox", "true" },
        { "output", "template", "\"{{#body}}{{/body}}\"" },
        { "output", "image", "true" },
        { "mllib", "extract_layer", "\"fc7\"" },
    };

    [Theory]
    [MemberData(nameof(Options))]
    public async Task PredictRefusesTheOption(string section, string key, string json)
    {
        string svc = "unsup_p_" + key;
        string repo = TestModels.MeansRepo(f.Dir.Sub(svc));
        Assert.Equal(HttpStatusCode.Created, (await Put(_c, $"/services/{svc}", MeansService(repo))).code);
        var req = Predict(svc, Img.B64(Img.Uniform(1, 2, 3)));
        req["parameters"]![section] = new JsonObject { [key] = JsonNode.Parse(json) };
        var (code, body) = await Post(_c, "/predict", req);
        Assert.Equal((HttpStatusCode.BadRequest, 1006), (code, DdCode(body)));
        Assert.Contains($"parameters.{section}.{key}", (string?)body["status"]!["dd_msg"]);
        Assert.Contains("not supported", (string?)body["status"]!["dd_msg"]);
    }

    [Theory]
    [MemberData(nameof(Options))]
    public async Task ServiceCreationRefusesTheOption(string section, string key, string json)
    {
        string svc = "unsup_c_" + key;
        string repo = TestModels.MeansRepo(f.Dir.Sub(svc));
        var body = MeansService(repo);
        var sec = body["parameters"]![section] as JsonObject ?? new JsonObject();
        sec[key] = JsonNode.Parse(json);
        body["parameters"]![section] = sec;
        var (code, resp) = await Put(_c, $"/services/{svc}", body);
        Assert.Equal((HttpStatusCode.BadRequest, 1006), (code, DdCode(resp)));
        Assert.Contains($"parameters.{section}.{key}", (string?)resp["status"]!["dd_msg"]);
    }

    [Fact]
    public async Task ExplicitlyOffIsAccepted()
    {
        string repo = TestModels.MeansRepo(f.Dir.Sub("unsup_off"));
        Assert.Equal(HttpStatusCode.Created, (await Put(_c, "/services/unsup_off", MeansService(repo))).code);
        var req = Predict("unsup_off", Img.B64(Img.Uniform(1, 2, 3)));
        req["parameters"]!["output"] = new JsonObject { ["bbox"] = false, ["best"] = 1 };
        var (code, body) = await Post(_c, "/predict", req);
        Assert.True(code == HttpStatusCode.OK, body.ToJsonString());
    }
}
