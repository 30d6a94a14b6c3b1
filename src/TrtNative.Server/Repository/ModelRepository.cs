using System.Text.Json;
using System.Text.Json.Nodes;
using TrtNative.Server.Api;
using TrtNative.Server.Imaging;

namespace TrtNative.Server.Repository;

/// <summary>What a repository scan found.</summary>
/// <param name="ModelPath">The .onnx model.</param>
/// <param name="LabelsPath">The corresp*.txt file, if any.</param>
/// <param name="Labels">Class index → label.</param>
public sealed record RepositoryContents(string ModelPath, string? LabelsPath, IReadOnlyDictionary<int, string> Labels);

/// <summary>
/// A DeepDetect model repository: a directory holding an *.onnx model, an optional corresp*.txt label file,
/// config.json (the creation request, as DeepDetect writes it) and built engine files. Handles model.init
/// (http(s)/file URL or local archive path: fetched with size and time limits, then extracted safely).
/// </summary>
public sealed class ModelRepository(HttpClient http, ServerOptions opts)
{
    /// <summary>Name of the file DeepDetect writes the creation request into.</summary>
    public const string ConfigFile = "config.json";

    /// <summary>
    /// Makes sure the repository exists and is writable (creating it when asked). Returns the creation's change to the
    /// repository: dispose it uncommitted and the directories made here are removed again.
    /// </summary>
    public RepositoryChange Prepare(string repository, bool create)
    {
        if (ClientLocations.InvalidPathReason(repository) is { } why) throw DdException.BadMllib($"model.repository {why}");
        string full = Path.GetFullPath(repository);
        CheckInsideModelRoots(full, repository);
        string? createdRoot = null;
        if (!Directory.Exists(full))
        {
            if (!create) throw DdException.BadMllib($"model repository '{repository}' does not exist (set model.create_repository to create it)");
            createdRoot = full;
            for (string? p = Path.GetDirectoryName(full); p != null && !Directory.Exists(p); p = Path.GetDirectoryName(p)) createdRoot = p;
            try { Directory.CreateDirectory(full); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // mkdir -p may have made some levels before failing: remove them.
                try { RepositoryChange.Remove(createdRoot); } catch (Exception r) when (r is IOException or UnauthorizedAccessException) { }
                throw DdException.BadMllib($"could not create model repository '{repository}': {e.Message}");
            }
        }
        var change = new RepositoryChange(full, createdRoot);
        string probe = Path.Combine(full, $".write-test-{Guid.NewGuid():N}");
        try
        {
            File.WriteAllBytes(probe, []);
            File.Delete(probe);
            if (createdRoot != null) MarkCreated(full);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            change.Dispose();
            throw DdException.BadMllib($"model repository '{repository}' is not writable: {e.Message}");
        }
        return change;
    }

    /// <summary>The file that marks a repository directory this server made (only those may be removed by clear=dir).</summary>
    public const string CreatedMarker = ".trtnative-repository";

    /// <summary>Marks <paramref name="repo"/> as made by this server.</summary>
    public static void MarkCreated(string repo) =>
        File.WriteAllText(Path.Combine(repo, CreatedMarker), "made by TrtNative.Server: DELETE /services/{name}?clear=dir may remove this directory\n");

    /// <summary>
    /// 400/1006 unless <paramref name="full"/> (symlinks resolved) lies strictly inside one of the model roots: a client
    /// may not make the server create, fill or later delete directories anywhere else.
    /// </summary>
    public void CheckInsideModelRoots(string full, string asGiven)
    {
        string real = ImageSources.RealPath(full).TrimEnd('/');
        var roots = opts.EffectiveModelRoots;
        foreach (var root in roots)
        {
            string rr = ImageSources.RealPath(root).TrimEnd('/');
            if (real == rr) throw DdException.BadMllib($"model.repository '{asGiven}' is a model root itself; use a folder inside it");
            if (real.StartsWith(rr + "/", StringComparison.Ordinal)) return;
        }
        throw DdException.BadMllib($"model.repository '{asGiven}' is outside the model roots ({string.Join(", ", roots)}); " +
            "start the server with --model-root DIR to allow another");
    }

    /// <summary>
    /// 400/400 unless clear=dir may remove <paramref name="repo"/>: inside the model roots and made by this server
    /// (it holds <see cref="CreatedMarker"/>). A directory the server did not make is the user's.
    /// </summary>
    public void CheckRemovable(string repo)
    {
        string marker = Path.Combine(repo, CreatedMarker);
        if (!File.Exists(marker) || new FileInfo(marker).LinkTarget != null)
            throw DdException.WrongType($"clear=dir refused: repository '{repo}' was not created by this server (it has no {CreatedMarker} " +
                "file), so it is left in place; use clear=mem, lib or full");
        try
        {
            CheckInsideModelRoots(repo, repo);
        }
        catch (DdException e)
        {
            throw DdException.WrongType($"clear=dir refused: {e.Message}");
        }
    }

    /// <summary>
    /// Fetches model.init and extracts it in <paramref name="change"/>'s staging folder, then moves the result into the
    /// repository (recoverably, until the change is committed). A fetched archive is kept as {repo}/{last URL segment}
    /// and not fetched again, but only once an install from it succeeded; a kept archive that fails is deleted.
    /// </summary>
    public async Task InitAsync(string init, RepositoryChange change, CancellationToken ct)
    {
        string repo = change.Repository;
        RepositoryChange.RemoveStale(repo);
        string local;
        string? cacheAs = null;
        bool cached = false;
        if (ClientLocations.IsHttp(init))
        {
            if (!Uri.TryCreate(init, UriKind.Absolute, out var url)) throw DdException.BadMllib($"model.init '{init}' is not a valid URL");
            string name = Path.GetFileName(url.AbsolutePath);
            if (string.IsNullOrEmpty(name) || name is "." or "..") throw DdException.BadMllib($"model.init URL '{init}' has no file name");
            local = Path.Combine(repo, name);
            if (File.Exists(local))
            {
                cached = true;
            }
            else
            {
                cacheAs = local;
                local = Path.Combine(change.Staging, "download", name);
                Directory.CreateDirectory(Path.GetDirectoryName(local)!);
                await DownloadAsync(init, local, ct);
            }
        }
        else
        {
            local = init.StartsWith("file://", StringComparison.OrdinalIgnoreCase) ? Uri.UnescapeDataString(init[7..]) : init;
            if (!File.Exists(local)) throw DdException.BadMllib($"model.init '{init}' not found");
        }
        if (local.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase))
        {
            string dst = Path.Combine(repo, Path.GetFileName(local));
            if (cacheAs != null) change.InstallFile(local, dst);
            else if (Path.GetFullPath(dst) != Path.GetFullPath(local))
            {
                string staged = Path.Combine(change.Staging, "onnx-" + Path.GetFileName(local));
                File.Copy(local, staged);
                change.InstallFile(staged, dst);
            }
            return;
        }
        if (!ArchiveExtractor.IsArchive(local))
            throw DdException.BadMllib($"model.init '{init}' is not an archive (.tar.gz, .tgz, .tar, .zip) or an .onnx file");
        string content = Path.Combine(change.Staging, "content");
        try
        {
            ArchiveExtractor.Extract(local, content, opts.MaxExtractBytes, opts.MaxArchiveEntries);
        }
        catch (UnsafeArchiveException e)
        {
            if (cached) File.Delete(local); // fetched again next time
            throw DdException.BadMllib($"model.init '{init}': {e.Message}; nothing was installed", e);
        }
        change.Install(content);
        if (cacheAs != null) change.InstallFile(local, cacheAs);
    }

    private async Task DownloadAsync(string url, string dest, CancellationToken ct)
    {
        string tmp = dest + ".part";
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(TimeSpan.FromSeconds(opts.ModelDownloadTimeoutSeconds));
        try
        {
            using var resp = await http.GetAsync(url, HttpCompletionOption.ResponseHeadersRead, cts.Token);
            if (!resp.IsSuccessStatusCode) throw DdException.BadMllib($"fetching model.init '{url}' failed: HTTP {(int)resp.StatusCode}");
            long max = opts.MaxModelDownloadBytes;
            if (resp.Content.Headers.ContentLength > max)
                throw DdException.BadMllib($"model.init '{url}' is {resp.Content.Headers.ContentLength} bytes, over the {max}-byte limit");
            await using (var s = await resp.Content.ReadAsStreamAsync(cts.Token))
            await using (var o = new FileStream(tmp, FileMode.Create, FileAccess.Write))
            {
                var buf = new byte[1 << 16];
                long n = 0;
                int r;
                while ((r = await s.ReadAsync(buf, cts.Token)) > 0)
                {
                    n += r;
                    if (n > max) throw DdException.BadMllib($"model.init '{url}' is over the {max}-byte limit");
                    await o.WriteAsync(buf.AsMemory(0, r), cts.Token);
                }
            }
            File.Move(tmp, dest, overwrite: true);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw DdException.BadMllib($"fetching model.init '{url}' took longer than {opts.ModelDownloadTimeoutSeconds} s");
        }
        catch (HttpRequestException e)
        {
            throw DdException.BadMllib($"fetching model.init '{url}' failed: {e.Message}", e);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }

    /// <summary>Finds the model and labels; no .onnx → 400/1006.</summary>
    public static RepositoryContents Scan(string repo)
    {
        var models = Directory.GetFiles(repo, "*.onnx").OrderBy(f => f, StringComparer.Ordinal).ToList();
        if (models.Count == 0) throw DdException.BadMllib($"no .onnx model in repository '{repo}'");
        // Several models: prefer model.onnx, else the first by name (reported in the service description).
        string model = models.FirstOrDefault(m => Path.GetFileName(m) == "model.onnx") ?? models[0];
        string? corresp = Directory.GetFiles(repo, "corresp*.txt").OrderBy(f => f, StringComparer.Ordinal).FirstOrDefault();
        return new RepositoryContents(model, corresp, corresp == null ? new Dictionary<int, string>() : ReadLabels(corresp));
    }

    /// <summary>The largest class index a label file may name.</summary>
    public const int MaxClassIndex = (1 << 20) - 1;

    /// <summary>Reads "index label…" lines, split at the first space.</summary>
    public static Dictionary<int, string> ReadLabels(string path)
    {
        var d = new Dictionary<int, string>();
        int lineNo = 0;
        foreach (var raw in File.ReadLines(path))
        {
            lineNo++;
            string line = raw.TrimEnd('\r');
            if (line.Trim().Length == 0) continue;
            int sp = line.IndexOf(' ');
            string idx = sp < 0 ? line : line[..sp];
            if (!int.TryParse(idx, out int i))
                throw DdException.BadMllib($"{Path.GetFileName(path)} line {lineNo}: '{line}' does not start with a class index");
            // GET /services/{name} lists every label up to the largest index.
            if (i is < 0 or > MaxClassIndex)
                throw DdException.BadMllib($"{Path.GetFileName(path)} line {lineNo}: class index {i} is outside 0..{MaxClassIndex}");
            d[i] = sp < 0 ? "" : line[(sp + 1)..];
        }
        return d;
    }

    /// <summary>The parameters object of an existing config.json, or null.</summary>
    public static JsonObject? ReadConfigParameters(string repo)
    {
        string p = Path.Combine(repo, ConfigFile);
        if (!File.Exists(p)) return null;
        try
        {
            return JsonNode.Parse(File.ReadAllText(p)) is JsonObject o ? o["parameters"] as JsonObject : null;
        }
        catch (JsonException e)
        {
            throw DdException.BadMllib($"{p} is not valid JSON: {e.Message}");
        }
    }

    /// <summary>Writes the creation request to config.json, as DeepDetect does.</summary>
    public static void WriteConfig(string repo, JsonObject request)
    {
        string p = Path.Combine(repo, ConfigFile);
        File.WriteAllText(p + ".tmp", request.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        File.Move(p + ".tmp", p, overwrite: true);
    }
}
