using System.Net;
using System.Text.Json.Nodes;
using Xunit;
using static TrtNative.Server.Tests.Http;

namespace TrtNative.Server.Tests;

/// <summary>config.json is read only with model.init (as DeepDetect); a PUT's own parameters are validated and win.</summary>
public class ConfigJsonTests(ServerFactory f) : IClassFixture<ServerFactory>
{
    private readonly HttpClient _c = f.CreateClient();

    private string RepoWithStoredConfig(string name, JsonObject? input = null, JsonObject? mllib = null)
    {
        string repo = TestModels.MeansRepo(f.Dir.Sub(name));
        File.WriteAllText(Path.Combine(repo, "config.json"), MeansService(repo, input: input, mllib: mllib).ToJsonString());
        return repo;
    }

    [Fact]
    public async Task WithoutInitTheRequestsParametersAreUsed()
    {
        string repo = RepoWithStoredConfig("noinit", input: new JsonObject { ["scale"] = 2.0 });
        var (code, resp) = await Put(_c, "/services/noinit", MeansService(repo, input: new JsonObject { ["scale"] = 100.0, ["rgb"] = true }));
        Assert.True(code == HttpStatusCode.Created, resp.ToJsonString());
        var (_, pred) = await Post(_c, "/predict", Predict("noinit", Img.B64(Img.Uniform(3, 0, 0))));
        Assert.Equal(300.0, Prob(pred, 0, "chan zero"), 4); // rgb: channel 0 is R = 3, × 100
        var (_, svc) = await Get(_c, "/services/noinit");
        Assert.Equal(100.0, (double)svc["body"]!["parameters"]!["input"]!["scale"]!);
        // The request is what config.json holds now.
        var cfg = JsonNode.Parse(File.ReadAllText(Path.Combine(repo, "config.json")))!;
        Assert.Equal(100.0, (double)cfg["parameters"]!["input"]!["scale"]!);
    }

    [Fact]
    public async Task AStoredConfigDoesNotSkipValidation()
    {
        var cases = new (string name, JsonObject? input, JsonObject? mllib, int http, int dd, string what)[]
        {
            ("v_int8", null, new JsonObject { ["datatype"] = "int8" }, 400, 1006, "int8"),
            ("v_batch0", null, new JsonObject { ["maxBatchSize"] = 0 }, 400, 1006, "maxBatchSize"),
            ("v_width", new JsonObject { ["width"] = 100000 }, null, 400, 1005, "width"),
        };
        foreach (var (name, input, mllib, http, dd, what) in cases)
        {
            string repo = RepoWithStoredConfig(name, mllib: new JsonObject { ["maxBatchSize"] = 16 });
            var (code, resp) = await Put(_c, $"/services/{name}", MeansService(repo, input: input, mllib: mllib));
            Assert.True((int)code == http && DdCode(resp) == dd, $"{name}: {code} {resp.ToJsonString()}");
            Assert.Contains(what, (string?)resp["status"]!["dd_msg"]);
        }
    }

    [Fact]
    public async Task WithInitTheArchivesConfigFillsInAndTheRequestWins()
    {
        using var d = new TempDir();
        string shipped = MeansService("ignored", input: new JsonObject { ["scale"] = 2.0, ["rgb"] = true }).ToJsonString();
        string archive = Path.Combine(d.Path, "withcfg.tar.gz");
        Archives.TarGz(archive, [.. Archives.MeansFiles(), ("config.json", System.Text.Encoding.UTF8.GetBytes(shipped))]);

        // The request says nothing about scale/rgb: the archive's config.json supplies them.
        var body = MeansService(f.Dir.Sub("initcfg1"));
        body["model"]!["init"] = archive;
        var (code, resp) = await Put(_c, "/services/initcfg1", body);
        Assert.True(code == HttpStatusCode.Created, resp.ToJsonString());
        var (_, pred) = await Post(_c, "/predict", Predict("initcfg1", Img.B64(Img.Uniform(5, 0, 0))));
        Assert.Equal(10.0, Prob(pred, 0, "zero"), 4);

        // The request sets scale: it wins over the archive's.
        body = MeansService(f.Dir.Sub("initcfg2"), input: new JsonObject { ["scale"] = 3.0 });
        body["model"]!["init"] = archive;
        (code, resp) = await Put(_c, "/services/initcfg2", body);
        Assert.True(code == HttpStatusCode.Created, resp.ToJsonString());
        (_, pred) = await Post(_c, "/predict", Predict("initcfg2", Img.B64(Img.Uniform(5, 0, 0))));
        Assert.Equal(15.0, Prob(pred, 0, "zero"), 4);

        // And it is validated: the archive's parameters do not excuse a bad request.
        body = MeansService(f.Dir.Sub("initcfg3"), mllib: new JsonObject { ["datatype"] = "int8" });
        body["model"]!["init"] = archive;
        (code, resp) = await Put(_c, "/services/initcfg3", body);
        Assert.Equal((HttpStatusCode.BadRequest, 1006), (code, DdCode(resp)));
    }
}
