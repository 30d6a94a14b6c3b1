using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using Xunit;

namespace TrtNative.Server.Tests;

/// <summary>
/// DeepDetect's own Python client and bench.py (tests/deepdetect-client, copied unchanged) against real Kestrel:
/// tests/deepdetect-client/run_dd_client.py makes every image-classification call of the client and runs bench.py
/// over batch sizes 1..16, against a server holding the demo's 'digits' service on the CPU backend. Skips, saying why, without python3 + cv2 + requests or the vendored folder (the GPU host's
/// bundle has neither); with TRTN_REQUIRE_DD_CLIENT=1 (set by .ci/run) those are failures instead.
/// </summary>
public class DeepDetectClientTests(ITestOutputHelper output)
{
    // Git blob ids of jolibrain/deepdetect's clients/python/dd_client/ files at 7c4eae3ce0f2 (what "unchanged" means).
    private static readonly (string File, string Blob)[] Vendored =
    [
        ("dd_client/__init__.py", "591127009b7e1c29fd3abd24b4fd4ae94c7d0b0e"),
        ("dd_client/bench.py", "ef01903f251d70d78d28f6cdbfee160e47ee324d"),
    ];

    private static bool Required => Environment.GetEnvironmentVariable("TRTN_REQUIRE_DD_CLIENT") == "1";

    private static void Unavailable(string why)
    {
        if (Required) Assert.Fail($"{why} (TRTN_REQUIRE_DD_CLIENT=1)");
        Assert.Skip(why);
    }

    private static string ClientDir()
    {
        string? root = null;
        try { root = TestModels.RepoRoot(); }
        catch (InvalidOperationException) { }
        string? dir = root == null ? null : Path.Combine(root, "tests", "deepdetect-client");
        if (dir == null || !File.Exists(Path.Combine(dir, "run_dd_client.py")))
            Unavailable($"tests/deepdetect-client not found above {AppContext.BaseDirectory} (not a source checkout)");
        return dir!;
    }

    [Fact]
    public void VendoredClientIsDeepDetectsUnchanged()
    {
        string dir = ClientDir();
        foreach (var (file, blob) in Vendored)
        {
            byte[] content = File.ReadAllBytes(Path.Combine(dir, file));
            byte[] header = Encoding.ASCII.GetBytes($"blob {content.Length}\0");
            string id = Convert.ToHexStringLower(SHA1.HashData([.. header, .. content]));
            Assert.True(id == blob, $"{file} differs from DeepDetect's (git blob {id}, expected {blob}): the vendored client must stay unchanged; fix the server instead");
        }
    }

    [Fact]
    public async Task DdClientAndBenchRunUnchangedAgainstKestrel()
    {
        string dir = ClientDir();
        string python = FindPython();
        string demo = Path.Combine(TestModels.RepoRoot(), "demo", "digits");
        using var work = new TempDir();
        using var models = new TempDir();
        // The demo service as --demo makes it, from a repository of this test's own (--demo's copy in the temporary
        // folder is shared with every other server started with --demo on this machine).
        string repo = models.Sub("digits");
        foreach (var f in new[] { "digits.onnx", "corresp.txt" }) File.Copy(Path.Combine(demo, f), Path.Combine(repo, f));
        await using var s = await KestrelServer.StartAsync("--cpu", "--allowed-root", demo, "--model-root", models.Path, "--model-root", work.Path);
        var (created, body) = await Http.Put(s.Client, "/services/digits", ServerApp.DemoRequest(repo));
        Assert.True(created == System.Net.HttpStatusCode.Created, body.ToJsonString());
        var (rc, text) = await RunAsync(python, ["-B", Path.Combine(dir, "run_dd_client.py"), "--host", "127.0.0.1", "--port", s.Port.ToString(),
            "--demo-dir", demo, "--work", work.Path], TimeSpan.FromMinutes(8));
        output.WriteLine(text);
        Assert.True(rc == 0, $"run_dd_client.py exited with {rc}:\n{text}");
        Assert.Contains("dd_client and bench.py: all checks passed", text);
        Assert.Equal(15, text.Split('\n').Count(l => l.StartsWith(">>> batch size = ") && l.TrimEnd().EndsWith("fail = False")));
    }

    // /usr/bin/python3 first: the Debian packages (python3-opencv, python3-requests) are installed for it.
    private static string FindPython()
    {
        var chosen = Environment.GetEnvironmentVariable("TRTNATIVE_PYTHON");
        var tried = new List<string>();
        foreach (var candidate in string.IsNullOrEmpty(chosen) ? ["/usr/bin/python3", "python3"] : new[] { chosen })
        {
            try
            {
                var (rc, text) = RunAsync(candidate, ["-c", "import cv2, requests"], TimeSpan.FromMinutes(1)).GetAwaiter().GetResult();
                if (rc == 0) return candidate;
                tried.Add($"{candidate}: {text.Trim().Split('\n')[^1]}");
            }
            catch (System.ComponentModel.Win32Exception e)
            {
                tried.Add($"{candidate}: {e.Message}");
            }
        }
        Unavailable($"no python3 with cv2 and requests (apt-get install python3-opencv python3-requests); tried {string.Join("; ", tried)}");
        return "";
    }

    private static async Task<(int rc, string output)> RunAsync(string file, string[] args, TimeSpan timeout)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["PYTHONUNBUFFERED"] = "1";
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {file}");
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await p.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            await p.WaitForExitAsync();
            return (-1, $"timed out after {timeout}\n{await stdout}\n{await stderr}");
        }
        string err = await stderr;
        return (p.ExitCode, await stdout + (err.Length > 0 ? "\n--- stderr ---\n" + err : ""));
    }
}
