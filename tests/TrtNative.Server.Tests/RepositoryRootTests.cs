using System.Net;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Configuration;
using Xunit;
using static TrtNative.Server.Tests.Http;

namespace TrtNative.Server.Tests;

/// <summary>Repositories live only under the model roots; clear=dir removes only what the server made.</summary>
public class RepositoryRootTests(ServerFactory f) : IClassFixture<ServerFactory>
{
    private readonly HttpClient _c = f.CreateClient();

    private static string MeansArchive(TempDir d)
    {
        string a = Path.Combine(d.Path, "m.tgz");
        Archives.TarGz(a, Archives.MeansFiles());
        return a;
    }

    [Fact]
    public async Task ARepositoryOutsideTheRootsIsRefusedAndUntouched()
    {
        using var outside = new TempDir();
        // A user's directory with a model and a config.json of their own.
        string user = TestModels.MeansRepo(outside.Sub("user"));
        File.WriteAllText(Path.Combine(user, "config.json"), "{\"mine\":true}");
        var (code, resp) = await Put(_c, "/services/outside1", MeansService(user));
        Assert.Equal((HttpStatusCode.BadRequest, 1006), (code, DdCode(resp)));
        Assert.Contains("outside the model roots", (string?)resp["status"]!["dd_msg"]);
        Assert.Contains("--model-root", (string?)resp["status"]!["dd_msg"]);
        Assert.Equal("{\"mine\":true}", File.ReadAllText(Path.Combine(user, "config.json")));

        // create_repository outside: nothing is made.
        using var d = new TempDir();
        string made = Path.Combine(outside.Path, "new", "repo");
        var body = MeansService(made);
        body["model"]!["create_repository"] = true;
        body["model"]!["init"] = MeansArchive(d);
        (code, resp) = await Put(_c, "/services/outside2", body);
        Assert.Equal((HttpStatusCode.BadRequest, 1006), (code, DdCode(resp)));
        Assert.False(Directory.Exists(Path.Combine(outside.Path, "new")));
    }

    [Fact]
    public async Task ALinkOutOfARootAndTheRootItselfAreRefused()
    {
        using var outside = new TempDir();
        string link = Path.Combine(f.Dir.Path, "to-outside");
        Directory.CreateSymbolicLink(link, outside.Path);
        using var d = new TempDir();
        var body = MeansService(Path.Combine(link, "repo"));
        body["model"]!["create_repository"] = true;
        body["model"]!["init"] = MeansArchive(d);
        var (code, resp) = await Put(_c, "/services/vialink", body);
        Assert.Equal((HttpStatusCode.BadRequest, 1006), (code, DdCode(resp)));
        Assert.Contains("outside the model roots", (string?)resp["status"]!["dd_msg"]);
        Assert.Empty(Directory.GetFileSystemEntries(outside.Path));

        (code, resp) = await Put(_c, "/services/theroot", MeansService(f.Dir.Path));
        Assert.Equal((HttpStatusCode.BadRequest, 1006), (code, DdCode(resp)));
        Assert.Contains("is a model root", (string?)resp["status"]!["dd_msg"]);
    }

    [Fact]
    public async Task ClearDirRemovesOnlyARepositoryTheServerMade()
    {
        // A repository the user made: clear=dir is refused, the files and the service stay.
        string user = TestModels.MeansRepo(f.Dir.Sub("userrepo"));
        Assert.Equal(HttpStatusCode.Created, (await Put(_c, "/services/userrepo", MeansService(user))).code);
        var (code, resp) = await Delete(_c, "/services/userrepo?clear=dir");
        Assert.Equal((HttpStatusCode.BadRequest, 400), (code, DdCode(resp)));
        Assert.Contains("not created by this server", (string?)resp["status"]!["dd_msg"]);
        Assert.True(File.Exists(Path.Combine(user, "means.onnx")));
        Assert.Equal(HttpStatusCode.OK, (await Get(_c, "/services/userrepo")).code);

        // One the server made (create_repository): removed.
        using var d = new TempDir();
        string made = Path.Combine(f.Dir.Path, "servermade", "repo");
        var body = MeansService(made);
        body["model"]!["create_repository"] = true;
        body["model"]!["init"] = MeansArchive(d);
        (code, resp) = await Put(_c, "/services/servermade", body);
        Assert.True(code == HttpStatusCode.Created, resp.ToJsonString());
        (code, _) = await Delete(_c, "/services/servermade?clear=dir");
        Assert.Equal(HttpStatusCode.OK, code);
        Assert.False(Directory.Exists(made));
    }

    [Fact]
    public void ModelRootsFromTheCommandLineAndTheDefault()
    {
        var o = ServerOptions.From(new ConfigurationBuilder().AddInMemoryCollection(ServerOptions.ParseArgs(["--model-root", "/m1", "--model-root=/m2"], [])).Build());
        Assert.Equal(["/m1", "/m2"], o.EffectiveModelRoots);
        o = ServerOptions.From(new ConfigurationBuilder().AddInMemoryCollection(ServerOptions.ParseArgs([], [])).Build());
        Assert.Equal([Path.Combine(Directory.GetCurrentDirectory(), "models")], o.EffectiveModelRoots);
    }
}
