using System.Formats.Tar;
using System.IO.Compression;
using System.Net;
using System.Text.Json.Nodes;
using Xunit;
using static TrtNative.Server.Tests.Http;

namespace TrtNative.Server.Tests;

public sealed class InitLimitsFactory : ServerFactory
{
    public InitLimitsFactory() => Settings["TrtNative:MaxExtractBytes"] = "300000";
}

/// <summary>A refused or interrupted model.init leaves the repository as it was and caches nothing.</summary>
public class InitStagingTests(InitLimitsFactory f) : IClassFixture<InitLimitsFactory>
{
    private readonly HttpClient _c = f.CreateClient();

    private static string[] Entries(string dir) =>
        Directory.Exists(dir) ? Directory.GetFileSystemEntries(dir, "*", SearchOption.AllDirectories).Select(p => p[(dir.Length + 1)..]).Order().ToArray() : [];

    private async Task<(HttpStatusCode code, JsonObject body)> PutInit(string name, string repo, string init, bool create = false)
    {
        var body = MeansService(repo);
        body["model"]!["init"] = init;
        if (create) body["model"]!["create_repository"] = true;
        return await Put(_c, $"/services/{name}", body);
    }

    private static byte[] Random(int n)
    {
        var b = new byte[n];
        new Random(n).NextBytes(b);
        return b;
    }

    [Fact]
    public async Task ABadEntryLeavesNothingBehindAndALaterPutDoesNotServeIt()
    {
        using var d = new TempDir();
        string archive = Path.Combine(d.Path, "bad.tgz");
        // Good files and a link first, then an entry that escapes: refused as a whole.
        Archives.TarGz(archive, [.. Archives.MeansFiles(), ("weights/w.bin", [1, 2, 3])],
            [new PaxTarEntry(TarEntryType.SymbolicLink, "alias.onnx") { LinkName = "means.onnx" },
             new PaxTarEntry(TarEntryType.RegularFile, "../escaped.txt") { DataStream = new MemoryStream([6]) }]);
        string repo = f.Dir.Sub("badentry");
        File.WriteAllText(Path.Combine(repo, "notes.txt"), "the user's");
        var (code, resp) = await PutInit("badentry", repo, archive);
        Assert.Equal((HttpStatusCode.BadRequest, 1006), (code, DdCode(resp)));
        Assert.Contains("../escaped.txt", (string?)resp["status"]!["dd_msg"]);
        Assert.Equal(["notes.txt"], Entries(repo));
        // Without init, the refused archive's model is not there to serve.
        (code, resp) = await Put(_c, "/services/badentry", MeansService(repo));
        Assert.Equal((HttpStatusCode.BadRequest, 1006), (code, DdCode(resp)));
        Assert.Contains("no .onnx model", (string?)resp["status"]!["dd_msg"]);
    }

    [Fact]
    public async Task ATruncatedArchiveLeavesNoHalfWrittenFiles()
    {
        using var d = new TempDir();
        string archive = Path.Combine(d.Path, "cut.tar.gz");
        Archives.TarGz(archive, [.. Archives.MeansFiles(), ("weights.bin", Random(200_000))]);
        var bytes = File.ReadAllBytes(archive);
        File.WriteAllBytes(archive, bytes[..(bytes.Length * 2 / 3)]);
        string repo = f.Dir.Sub("truncated");
        var (code, resp) = await PutInit("truncated", repo, archive);
        Assert.True((code, DdCode(resp)) == (HttpStatusCode.BadRequest, 1006), resp.ToJsonString());
        Assert.Empty(Entries(repo));
    }

    [Fact]
    public async Task TheExtractionSizeCapRefusesWithAClearErrorAndLeavesNothing()
    {
        using var d = new TempDir();
        string archive = Path.Combine(d.Path, "filler.tar.gz");
        // Compresses to almost nothing, expands past the 300000-byte cap.
        Archives.TarGz(archive, [.. Archives.MeansFiles(), ("filler.bin", new byte[1_000_000])]);
        string repo = f.Dir.Sub("filler");
        var (code, resp) = await PutInit("filler", repo, archive);
        Assert.Equal((HttpStatusCode.BadRequest, 1006), (code, DdCode(resp)));
        Assert.Contains("300000", (string?)resp["status"]!["dd_msg"]);
        Assert.Empty(Entries(repo));
    }

    [Fact]
    public async Task AFailedDownloadIsNotCachedAndIsFetchedAgain()
    {
        using var web = new LoopbackFiles();
        using var d = new TempDir();
        Archives.TarGz(Path.Combine(d.Path, "bad.tgz"), [.. Archives.MeansFiles(), ("../escaped.txt", [1])]);
        string url = web.Add("m/model.tgz", File.ReadAllBytes(Path.Combine(d.Path, "bad.tgz")));
        string repo = f.Dir.Sub("refetch");
        var (code, _) = await PutInit("refetch", repo, url);
        Assert.Equal(HttpStatusCode.BadRequest, code);
        Assert.Empty(Entries(repo));
        // The publisher fixes the archive: the next PUT fetches it again and succeeds.
        Archives.TarGz(Path.Combine(d.Path, "good.tgz"), Archives.MeansFiles());
        web.Add("m/model.tgz", File.ReadAllBytes(Path.Combine(d.Path, "good.tgz")));
        (code, var resp) = await PutInit("refetch", repo, url);
        Assert.True(code == HttpStatusCode.Created, resp.ToJsonString());
        Assert.Equal(2, web.Hits["m/model.tgz"]);
        // On a GPU the service also writes its engine plan (TRTengine_...) beside the model, the server's file, not the download's.
        Assert.Equal(["config.json", "corresp.txt", "means.onnx", "model.tgz"],
            Entries(repo).Where(e => !e.StartsWith('.') && !e.StartsWith("TRTengine_", StringComparison.Ordinal)).ToArray());
    }

    [Fact]
    public async Task ARefusedCreationRemovesTheRepositoryItCreated()
    {
        using var d = new TempDir();
        string archive = Path.Combine(d.Path, "noonnx.zip");
        Archives.Zip(archive, [("corresp.txt", "0 a\n"u8.ToArray())]);
        string repo = Path.Combine(f.Dir.Path, "made-by-put", "deep");
        var (code, resp) = await PutInit("madebyput", repo, archive, create: true);
        Assert.Equal((HttpStatusCode.BadRequest, 1006), (code, DdCode(resp)));
        Assert.False(Directory.Exists(Path.Combine(f.Dir.Path, "made-by-put")));
    }

    [Fact]
    public async Task AValidArchiveWhoseServiceIsRefusedIsRolledBack()
    {
        using var d = new TempDir();
        string archive = Path.Combine(d.Path, "ok.tgz");
        Archives.TarGz(archive, Archives.MeansFiles());
        string repo = f.Dir.Sub("rollback");
        File.WriteAllText(Path.Combine(repo, "corresp.txt"), "0 mine\n");
        var body = MeansService(repo, input: new JsonObject { ["bw"] = true }); // the model wants 3 channels
        body["model"]!["init"] = archive;
        var (code, resp) = await Put(_c, "/services/rollback", body);
        Assert.Equal((HttpStatusCode.BadRequest, 1006), (code, DdCode(resp)));
        Assert.Equal(["corresp.txt"], Entries(repo));
        Assert.Equal("0 mine\n", File.ReadAllText(Path.Combine(repo, "corresp.txt")));
    }
}
