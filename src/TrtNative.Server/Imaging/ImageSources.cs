using System.Runtime.InteropServices;
using TrtNative.Server.Api;

namespace TrtNative.Server.Imaging;

/// <summary>One entry of predict's data once resolved: what the answer calls it, and how to get its bytes.</summary>
public sealed record ImageEntry(string Uri, Func<CancellationToken, Task<byte[]>> Load);

/// <summary>
/// One string of predict's data: its <paramref name="Text"/>, or, for a long plain base64 string decoded while the body
/// was read, the <paramref name="Base64Bytes"/> it encodes (the text is then never built).
/// </summary>
public readonly record struct DataString(string? Text, byte[]? Base64Bytes)
{
    /// <summary>
    /// Longer strings cannot name an existing file (PATH_MAX; Windows' long-path limit), so one that is valid base64
    /// can only be base64, as <see cref="ImageSources.Resolve(IReadOnlyList{string}, IReadOnlyList{string})"/> reads it.
    /// </summary>
    public static int MaxPathChars { get; } = OperatingSystem.IsWindows() ? 32767 : 4096;

    /// <summary>A data string given as text.</summary>
    public static implicit operator DataString(string text) => new(text, null);
}

/// <summary>
/// Resolves predict's data strings: http(s) URLs (size and time limits), file:// URLs and local paths (files
/// or directories, only under the allowed roots, symlinks resolved first), data: URIs and bare base64.
/// </summary>
public sealed partial class ImageSources(HttpClient http, ServerOptions opts)
{
    /// <summary>Expands the data strings into entries in data order; directories add their files sorted by name.</summary>
    public List<ImageEntry> Resolve(IReadOnlyList<string> data, IReadOnlyList<string> allowedRoots) =>
        Resolve(data.Select(d => (DataString)d).ToList(), allowedRoots);

    /// <summary>As <see cref="Resolve(IReadOnlyList{string}, IReadOnlyList{string})"/>, with base64 strings possibly decoded already.</summary>
    public List<ImageEntry> Resolve(IReadOnlyList<DataString> data, IReadOnlyList<string> allowedRoots)
    {
        var list = new List<ImageEntry>();
        for (int i = 0; i < data.Count; i++)
        {
            int index = i;
            if (data[i].Base64Bytes is byte[] decoded)
            {
                list.Add(new ImageEntry(index.ToString(), _ => Task.FromResult(decoded)));
                continue;
            }
            string s = data[i].Text ?? throw new ArgumentException($"data[{i}] has neither text nor bytes");
            if (ClientLocations.IsHttp(s))
            {
                if (!Uri.TryCreate(s, UriKind.Absolute, out _))
                    throw DdException.InputError($"Could not read image(s): data[{i}] '{s}' is not a valid URL");
                list.Add(new ImageEntry(s, ct => DownloadAsync(s, ct)));
                continue;
            }
            if (s.StartsWith("data:", StringComparison.OrdinalIgnoreCase))
            {
                int comma = s.IndexOf(',');
                if (comma < 0 || !s[..comma].EndsWith(";base64", StringComparison.OrdinalIgnoreCase))
                    throw DdException.InputError($"Could not read image(s): data[{i}] is a data: URI without ';base64,'");
                var bytes = TryBase64(s.AsSpan(comma + 1)) ?? throw DdException.InputError($"Could not read image(s): data[{i}] has invalid base64");
                list.Add(new ImageEntry(index.ToString(), _ => Task.FromResult(bytes)));
                continue;
            }
            string? path = s.StartsWith("file://", StringComparison.OrdinalIgnoreCase) ? Uri.UnescapeDataString(s[7..]) : null;
            if (path == null && (File.Exists(s) || Directory.Exists(s))) path = s;
            if (path == null)
            {
                var b64 = s.Length >= 8 ? TryBase64(s) : null;
                if (b64 != null)
                {
                    list.Add(new ImageEntry(index.ToString(), _ => Task.FromResult(b64)));
                    continue;
                }
                if (s.StartsWith('/') || s.StartsWith("./") || s.StartsWith("../") || s.StartsWith('~'))
                {
                    CheckAllowed(s, allowedRoots, i);
                    throw DdException.InputError($"Could not read image(s): data[{i}] '{s}': no such file or directory");
                }
                if (s.Contains('/') || Path.HasExtension(s))
                {
                    CheckAllowed(s, allowedRoots, i);
                    throw DdException.InputError($"Could not read image(s): data[{i}] '{s}': no such file (relative paths are resolved on the server, from {Directory.GetCurrentDirectory()})");
                }
                throw DdException.InputError($"Could not read image(s): data[{i}] is neither a URL, an existing path nor base64");
            }
            string real = CheckAllowed(path, allowedRoots, i);
            if (Directory.Exists(real))
            {
                foreach (var f in Directory.GetFiles(real).OrderBy(f => f, StringComparer.Ordinal))
                {
                    string fr = CheckAllowed(f, allowedRoots, i);
                    list.Add(new ImageEntry(f, ct => ReadFileCappedAsync(fr, opts.MaxRequestBytes, ct)));
                }
            }
            else if (File.Exists(real))
            {
                var fi = new FileInfo(real);
                if (fi.Length > opts.MaxRequestBytes)
                    throw DdException.InputError($"Could not read image(s): '{s}' is {fi.Length} bytes, over the {opts.MaxRequestBytes}-byte limit");
                list.Add(new ImageEntry(s, ct => ReadFileCappedAsync(real, opts.MaxRequestBytes, ct)));
            }
            else throw DdException.InputError($"Could not read image(s): data[{i}] '{s}': no such file or directory");
        }
        return list;
    }

    private static string CheckAllowed(string path, IReadOnlyList<string> roots, int i)
    {
        if (ClientLocations.InvalidPathReason(path) is { } why) throw DdException.InputError($"Could not read image(s): data[{i}] {why}");
        string real = RealPath(path);
        foreach (var r in roots)
        {
            string rr = RealPath(r).TrimEnd('/');
            if (real == rr || real.StartsWith(rr + "/", StringComparison.Ordinal)) return real;
        }
        throw DdException.InputError($"Could not read image(s): data[{i}] '{path}' is outside the allowed roots ({string.Join(", ", roots)}); add one with --allowed-root");
    }

    /// <summary>
    /// Absolute path with every symlink resolved (realpath); for a missing path, its nearest existing ancestor resolved
    /// (so a symlinked parent cannot hide an escape) with the missing rest appended.
    /// </summary>
    public static string RealPath(string path)
    {
        string full = Path.GetFullPath(path);
        if (OperatingSystem.IsWindows()) return full;
        var missing = new Stack<string>();
        for (string head = full; ; )
        {
            nint p = Native.realpath(head, 0);
            if (p != 0)
            {
                string real;
                try { real = Marshal.PtrToStringUTF8(p)!; }
                finally { Native.free(p); }
                while (missing.Count > 0) real = Path.Combine(real, missing.Pop());
                return real;
            }
            string? parent = Path.GetDirectoryName(head);
            if (parent == null || parent == head) return full;
            missing.Push(Path.GetFileName(head));
            head = parent;
        }
    }

    /// <summary>Reads a file, refusing more than <paramref name="max"/> bytes (also for files whose size is not known up front).</summary>
    private static async Task<byte[]> ReadFileCappedAsync(string path, long max, CancellationToken ct)
    {
        // Fast path for regular files (the usual case; callers are already off the request thread): one
        // exact-size array and plain reads, instead of async reads through a 64 KiB buffer into a MemoryStream.
        using (var h = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read))
        {
            long len = RandomAccess.GetLength(h);
            if (len > max) throw new ImageReadException($"over the {max}-byte limit");
            if (len > 0)
            {
                var data = new byte[len];
                int got = 0, r;
                while (got < data.Length && (r = RandomAccess.Read(h, data.AsSpan(got), got)) > 0) got += r;
                Span<byte> probe = stackalloc byte[1];
                if (got == data.Length && RandomAccess.Read(h, probe, got) == 0) return data;
                // The file changed size while read: fall through to the general loop.
            }
        }
        ct.ThrowIfCancellationRequested();
        await using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, useAsync: true);
        var ms = new MemoryStream();
        var buf = new byte[1 << 16];
        int n;
        while ((n = await fs.ReadAsync(buf, ct)) > 0)
        {
            if (ms.Length + n > max) throw new ImageReadException($"over the {max}-byte limit");
            ms.Write(buf, 0, n);
        }
        return ms.ToArray();
    }

    private static byte[]? TryBase64(ReadOnlySpan<char> s)
    {
        // Sized exactly when there is no whitespace (the usual case), so the decoded bytes need no second copy.
        int pad = s.EndsWith("==") ? 2 : s.EndsWith("=") ? 1 : 0;
        var buf = new byte[s.Length % 4 == 0 ? s.Length / 4 * 3 - pad : s.Length * 3 / 4 + 3];
        if (!Convert.TryFromBase64Chars(s, buf, out int n) || n == 0) return null;
        return n == buf.Length ? buf : buf[..n];
    }

    private async Task<byte[]> DownloadAsync(string url, CancellationToken ct)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(TimeSpan.FromSeconds(opts.ImageDownloadTimeoutSeconds));
        try
        {
            using var resp = await http.GetAsync(url, HttpCompletionOption.ResponseHeadersRead, cts.Token);
            if (!resp.IsSuccessStatusCode) throw new ImageReadException($"'{url}' answered HTTP {(int)resp.StatusCode}");
            return await ReadLimitedAsync(resp, opts.MaxImageDownloadBytes, url, cts.Token);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new ImageReadException($"'{url}' took longer than {opts.ImageDownloadTimeoutSeconds} s");
        }
        catch (HttpRequestException e)
        {
            throw new ImageReadException($"'{url}': {e.Message}");
        }
    }

    /// <summary>Reads a response body, refusing more than <paramref name="max"/> bytes (declared or actual).</summary>
    public static async Task<byte[]> ReadLimitedAsync(HttpResponseMessage resp, long max, string url, CancellationToken ct)
    {
        if (resp.Content.Headers.ContentLength > max)
            throw new ImageReadException($"'{url}' is {resp.Content.Headers.ContentLength} bytes, over the {max}-byte limit");
        await using var s = await resp.Content.ReadAsStreamAsync(ct);
        var ms = new MemoryStream();
        var buf = new byte[81920];
        int n;
        while ((n = await s.ReadAsync(buf, ct)) > 0)
        {
            if (ms.Length + n > max) throw new ImageReadException($"'{url}' is over the {max}-byte limit");
            ms.Write(buf, 0, n);
        }
        return ms.ToArray();
    }

    private static partial class Native
    {
        // char *realpath(const char *path, char *resolved_path);
        [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8)]
        internal static partial nint realpath(string path, nint resolved);

        // void free(void *ptr);
        [LibraryImport("libc")]
        internal static partial void free(nint p);
    }
}
