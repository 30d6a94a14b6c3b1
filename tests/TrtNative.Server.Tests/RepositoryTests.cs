using System.Formats.Tar;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using TrtNative.Server.Repository;
using Xunit;
using static TrtNative.Server.Tests.Http;

namespace TrtNative.Server.Tests;

/// <summary>Safe extraction of model archives.</summary>
public class ArchiveTests
{
    private static readonly (string, byte[])[] Ok = [("model.onnx", [1, 2, 3]), ("sub/corresp.txt", "0 a\n"u8.ToArray())];

    [Fact]
    public void TarGzAndZipExtract()
    {
        using var d = new TempDir();
        Archives.TarGz(Path.Combine(d.Path, "m.tar.gz"), Ok);
        var files = ArchiveExtractor.Extract(Path.Combine(d.Path, "m.tar.gz"), d.Sub("t"), 1 << 20, 100);
        Assert.Equal(2, files.Count);
        Assert.Equal("0 a\n", File.ReadAllText(Path.Combine(d.Path, "t", "sub", "corresp.txt")));
        Archives.Zip(Path.Combine(d.Path, "m.zip"), Ok);
        ArchiveExtractor.Extract(Path.Combine(d.Path, "m.zip"), d.Sub("z"), 1 << 20, 100);
        Assert.Equal([1, 2, 3], File.ReadAllBytes(Path.Combine(d.Path, "z", "model.onnx")));
    }

    [Theory]
    [InlineData("../evil.txt")]
    [InlineData("sub/../../evil.txt")]
    [InlineData("/tmp/evil-abs.txt")]
    public void EntriesEscapingTheRepositoryAreRefused(string name)
    {
        using var d = new TempDir();
        string dest = d.Sub("repo");
        Archives.TarGz(Path.Combine(d.Path, "bad.tgz"), [("ok.txt", [1]), (name, [6, 6, 6])]);
        var e = Assert.Throws<UnsafeArchiveException>(() => ArchiveExtractor.Extract(Path.Combine(d.Path, "bad.tgz"), dest, 1 << 20, 100));
        Assert.Contains(name, e.Message);
        Assert.False(File.Exists(Path.Combine(d.Path, "evil.txt")));
        Assert.False(File.Exists("/tmp/evil-abs.txt"));
        Archives.Zip(Path.Combine(d.Path, "bad.zip"), [(name, [6])]);
        Assert.Throws<UnsafeArchiveException>(() => ArchiveExtractor.Extract(Path.Combine(d.Path, "bad.zip"), dest, 1 << 20, 100));
        Assert.False(File.Exists(Path.Combine(d.Path, "evil.txt")));
    }

    [Theory]
    [InlineData(TarEntryType.SymbolicLink, "/etc/passwd")]
    [InlineData(TarEntryType.SymbolicLink, "../../outside")]
    [InlineData(TarEntryType.HardLink, "/etc/passwd")]
    [InlineData(TarEntryType.HardLink, "../outside")]
    public void LinksPointingOutAreRefused(TarEntryType type, string target)
    {
        using var d = new TempDir();
        var link = new PaxTarEntry(type, "link") { LinkName = target };
        Archives.TarGz(Path.Combine(d.Path, "l.tgz"), [("ok.txt", [1])], [link]);
        var e = Assert.Throws<UnsafeArchiveException>(() => ArchiveExtractor.Extract(Path.Combine(d.Path, "l.tgz"), d.Sub("repo"), 1 << 20, 100));
        Assert.Contains("outside the repository", e.Message);
        Assert.False(File.Exists(Path.Combine(d.Path, "repo", "link")) || Directory.Exists(Path.Combine(d.Path, "repo", "link")));
    }

    [Fact]
    public void WritingThroughAnInsideLinkCannotEscape()
    {
        using var d = new TempDir();
        // "dir" → "." is inside; then "dir/x" lands inside too. A link to a sibling directory is refused.
        var inside = new PaxTarEntry(TarEntryType.SymbolicLink, "dir") { LinkName = "." };
        Archives.TarGz(Path.Combine(d.Path, "i.tgz"), [], [inside, new PaxTarEntry(TarEntryType.RegularFile, "dir/x") { DataStream = new MemoryStream([9]) }]);
        ArchiveExtractor.Extract(Path.Combine(d.Path, "i.tgz"), d.Sub("repo"), 1 << 20, 100);
        Assert.Equal([9], File.ReadAllBytes(Path.Combine(d.Path, "repo", "x")));
    }

    [Fact]
    public void ChainedInsideLinksThatEscapePhysicallyAreRemoved()
    {
        using var d = new TempDir();
        // "d" → "." is inside; "e" → "d/d/d/.." is inside lexically but physically the repository's parent.
        Archives.TarGz(Path.Combine(d.Path, "c.tgz"), [], [
            new PaxTarEntry(TarEntryType.SymbolicLink, "d") { LinkName = "." },
            new PaxTarEntry(TarEntryType.SymbolicLink, "e") { LinkName = "d/d/d/.." }]);
        string repo = d.Sub("repo");
        Assert.Throws<UnsafeArchiveException>(() => ArchiveExtractor.Extract(Path.Combine(d.Path, "c.tgz"), repo, 1 << 20, 100));
        Assert.Empty(Directory.GetFileSystemEntries(repo));
    }

    [Fact]
    public void SizeAndEntryLimits()
    {
        using var d = new TempDir();
        Archives.TarGz(Path.Combine(d.Path, "big.tgz"), [("a", new byte[5000]), ("b", new byte[5000])]);
        Assert.Contains("more than 8000 bytes", Assert.Throws<UnsafeArchiveException>(() => ArchiveExtractor.Extract(Path.Combine(d.Path, "big.tgz"), d.Sub("r1"), 8000, 100)).Message);
        Assert.Contains("more than 1 entries", Assert.Throws<UnsafeArchiveException>(() => ArchiveExtractor.Extract(Path.Combine(d.Path, "big.tgz"), d.Sub("r2"), 1 << 20, 1)).Message);
        File.WriteAllBytes(Path.Combine(d.Path, "junk.tar.gz"), "not gzip at all"u8.ToArray());
        Assert.Throws<UnsafeArchiveException>(() => ArchiveExtractor.Extract(Path.Combine(d.Path, "junk.tar.gz"), d.Sub("r3"), 1 << 20, 10));
    }
}

/// <summary>A tiny loopback HTTP server (HttpListener) serving fixed bytes per path, counting hits.</summary>
public sealed class LoopbackFiles : IDisposable
{
    private readonly HttpListener _l = new();
    private readonly Dictionary<string, byte[]> _files = new();
    public Dictionary<string, int> Hits { get; } = new();
    public string Base { get; }
    public int DelayMs { get; set; }

    public LoopbackFiles()
    {
        int port = KestrelServer.FreePort();
        Base = $"http://127.0.0.1:{port}/";
        _l.Prefixes.Add(Base);
        _l.Start();
        _ = Task.Run(Loop);
    }

    public string Add(string path, byte[] data) { lock (_files) _files[path] = data; return Base + path; }

    private async Task Loop()
    {
        while (_l.IsListening)
        {
            HttpListenerContext ctx;
            try { ctx = await _l.GetContextAsync(); } catch { return; }
            string p = ctx.Request.Url!.AbsolutePath.TrimStart('/');
            lock (_files) Hits[p] = Hits.GetValueOrDefault(p) + 1;
            if (DelayMs > 0) await Task.Delay(DelayMs);
            byte[]? data;
            lock (_files) _files.TryGetValue(p, out data);
            try
            {
                if (data == null) { ctx.Response.StatusCode = 404; ctx.Response.Close(); continue; }
                ctx.Response.ContentLength64 = data.Length;
                await ctx.Response.OutputStream.WriteAsync(data);
                ctx.Response.Close();
            }
            catch (HttpListenerException) { }
        }
    }

    public void Dispose() { _l.Stop(); _l.Close(); }
}

public sealed class SmallLimitsFactory : ServerFactory
{
    public SmallLimitsFactory()
    {
        Settings["TrtNative:MaxImageDownloadBytes"] = "20000";
        Settings["TrtNative:ImageDownloadTimeoutSeconds"] = "1";
        Settings["TrtNative:MaxModelDownloadBytes"] = "100000";
    }
}

/// <summary>model.init, config.json, http images, restart.</summary>
public class RepositoryServiceTests(SmallLimitsFactory f) : IClassFixture<SmallLimitsFactory>
{
    private readonly HttpClient _c = f.CreateClient();

    [Fact]
    public async Task InitOverHttpDownloadsOnceAndExtracts()
    {
        using var web = new LoopbackFiles();
        using var d = new TempDir();
        Archives.TarGz(Path.Combine(d.Path, "model.tar.gz"), Archives.MeansFiles());
        string url = web.Add("models/model.tar.gz", File.ReadAllBytes(Path.Combine(d.Path, "model.tar.gz")));
        string repo = f.Dir.Sub("httpinit");
        var body = MeansService(repo);
        body["model"]!["init"] = url;
        var (code, resp) = await Put(_c, "/services/httpinit", body);
        Assert.True(code == HttpStatusCode.Created, resp.ToJsonString());
        Assert.True(File.Exists(Path.Combine(repo, "model.tar.gz")));  // kept as {repo}/{last segment}
        Assert.True(File.Exists(Path.Combine(repo, "means.onnx")));
        var (_, pred) = await Post(_c, "/predict", Predict("httpinit", Img.B64(Img.Uniform(0, 0, 42))));
        Assert.Equal("zero", (string?)pred["body"]!["predictions"]![0]!["classes"]![0]!["cat"]); // labels from the archive
        Assert.Equal(42.0, Prob(pred, 0, "zero"), 4);

        // Re-create: the archive is already there, so it is not fetched again.
        await Delete(_c, "/services/httpinit");
        (code, _) = await Put(_c, "/services/httpinit", body);
        Assert.Equal(HttpStatusCode.Created, code);
        Assert.Equal(1, web.Hits["models/model.tar.gz"]);
    }

    [Fact]
    public async Task InitFailuresAre400_1006()
    {
        using var web = new LoopbackFiles();
        using var d = new TempDir();
        Archives.TarGz(Path.Combine(d.Path, "evil.tgz"), [.. Archives.MeansFiles(), ("../escaped.txt", [1])]);
        string evil = web.Add("evil.tgz", File.ReadAllBytes(Path.Combine(d.Path, "evil.tgz")));
        string big = web.Add("big.tar.gz", new byte[200_000]);
        Archives.Zip(Path.Combine(d.Path, "local.zip"), Archives.MeansFiles());
        var cases = new (string name, string init)[]
        {
            ("i404", web.Base + "missing.tar.gz"),
            ("ievil", evil),
            ("ibig", big),
            ("ilocalmissing", "/nonexistent/model.zip"),
            ("inotarchive", web.Add("model.bin", [1, 2, 3])),
        };
        foreach (var (name, init) in cases)
        {
            var body = MeansService(f.Dir.Sub(name));
            body["model"]!["init"] = init;
            var (code, resp) = await Put(_c, $"/services/{name}", body);
            Assert.True(code == HttpStatusCode.BadRequest && DdCode(resp) == 1006, $"{name}: {code} {resp.ToJsonString()}");
        }
        Assert.False(File.Exists(Path.Combine(f.Dir.Path, "escaped.txt")));
        // A local zip archive path works.
        var ok = MeansService(f.Dir.Sub("ilocalzip"));
        ok["model"]!["init"] = Path.Combine(d.Path, "local.zip");
        var (oc, or) = await Put(_c, "/services/ilocalzip", ok);
        Assert.True(oc == HttpStatusCode.Created, or.ToJsonString());
        Assert.True(File.Exists(Path.Combine(f.Dir.Path, "ilocalzip", "means.onnx")));
        // And a file:// URL to a tar.gz.
        Archives.TarGz(Path.Combine(d.Path, "local.tgz"), Archives.MeansFiles());
        var fu = MeansService(f.Dir.Sub("ifileurl"));
        fu["model"]!["init"] = "file://" + Path.Combine(d.Path, "local.tgz");
        (oc, or) = await Put(_c, "/services/ifileurl", fu);
        Assert.True(oc == HttpStatusCode.Created, or.ToJsonString());
        Assert.True(File.Exists(Path.Combine(f.Dir.Path, "ifileurl", "corresp.txt")));
    }

    [Fact]
    public async Task HttpImagesWithLimits()
    {
        string repo = TestModels.MeansRepo(f.Dir.Sub("httpimg"));
        Assert.Equal(HttpStatusCode.Created, (await Put(_c, "/services/httpimg", MeansService(repo))).code);
        using var web = new LoopbackFiles();
        string ok = web.Add("a.png", Img.Uniform(0, 0, 77));
        var (code, body) = await Post(_c, "/predict", Predict("httpimg", ok));
        Assert.Equal(HttpStatusCode.OK, code);
        Assert.Equal(ok, (string?)body["body"]!["predictions"]![0]!["uri"]);
        Assert.Equal(77.0, Prob(body, 0, "chan zero"), 4);

        string big = web.Add("big.png", new byte[50_000]);
        (code, body) = await Post(_c, "/predict", Predict("httpimg", big));
        Assert.Equal((HttpStatusCode.BadRequest, 1005), (code, DdCode(body)));
        Assert.Contains("limit", (string?)body["status"]!["dd_msg"]);
        (code, body) = await Post(_c, "/predict", Predict("httpimg", web.Base + "nothing.png"));
        Assert.Equal((HttpStatusCode.BadRequest, 1005), (code, DdCode(body)));
        web.DelayMs = 3000;
        (code, body) = await Post(_c, "/predict", Predict("httpimg", ok));
        Assert.Equal((HttpStatusCode.BadRequest, 1005), (code, DdCode(body)));
        Assert.Contains("longer than", (string?)body["status"]!["dd_msg"]);
    }
}
