using System.Runtime.InteropServices;
using TrtNative.Server.Api;

namespace TrtNative.Server.Imaging;

/// <summary>One entry of predict's data once resolved: what the answer calls it, and how to get its bytes.</summary>
public sealed record ImageEntry(string Uri, Func<CancellationToken, Task<byte[]>> Load);

/// <summary>
/// Resolves predict's data strings: http(s) URLs (size and time limits), file:// URLs and local paths (files
/// or directories, only under the allowed roots, symlinks resolved first), data: URIs and bare base64.
/// </summary>
public sealed partial class ImageSources(HttpClient http, ServerOptions opts)
{
    /// <summary>Expands the data strings into entries in data order; directories add their files sorted by name.</summary>
    public List<ImageEntry> Resolve(IReadOnlyList<string> data, IReadOnlyList<string> allowedRoots)
    {
        var list = new List<ImageEntry>();
        for (int i = 0; i < data.Count; i++)
        {
            string s = data[i];
            int index = i;
            if (s.StartsWith("http://", StringComparison.OrdinalIgnoreCase) || s.StartsWith("https://", StringComparison.OrdinalIgnoreCase))
            {
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
        string real = RealPath(path);
        foreach (var r in roots)
        {
            string rr = RealPath(r).TrimEnd('/');
            if (real == rr || real.StartsWith(rr + "/", StringComparison.Ordinal)) return real;
        }
        throw DdException.InputError($"Could not read image(s): data[{i}] '{path}' is outside the allowed roots ({string.Join(", ", roots)}); add one with --allowed-root");
    }

    /// <summary>Absolute path with every symlink resolved (realpath), or the normalised path where it does not exist.</summary>
    public static string RealPath(string path)
    {
        string full = Path.GetFullPath(path);
        if (OperatingSystem.IsWindows()) return full;
        nint p = Native.realpath(full, 0);
        if (p == 0)
        {
            // Missing file: resolve the nearest existing parent so a symlinked parent cannot hide an escape.
            string? parent = Path.GetDirectoryName(full);
            return parent != null && parent != full ? Path.Combine(RealPath(parent), Path.GetFileName(full)) : full;
        }
        try { return Marshal.PtrToStringUTF8(p)!; }
        finally { Native.free(p); }
    }

    /// <summary>Reads a file, refusing more than <paramref name="max"/> bytes (also for files whose size is not known up front).</summary>
    private static async Task<byte[]> ReadFileCappedAsync(string path, long max, CancellationToken ct)
    {
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
        var buf = new byte[s.Length * 3 / 4 + 3];
        if (!Convert.TryFromBase64Chars(s, buf, out int n) || n == 0) return null;
        return buf[..n];
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
