using TrtNative.Server.Imaging;

namespace TrtNative.Server.Api;

/// <summary>Paths and URLs as clients give them (predict's data, model.repository, model.init, archive entries).</summary>
public static class ClientLocations
{
    /// <summary>Whether <paramref name="s"/> is meant as an http(s) URL (it may still be malformed: <see cref="Uri.TryCreate(string, UriKind, out Uri)"/>).</summary>
    public static bool IsHttp(string s) =>
        s.StartsWith("http://", StringComparison.OrdinalIgnoreCase) || s.StartsWith("https://", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// Why <paramref name="path"/> cannot name a file (empty, a NUL character, longer than
    /// <see cref="DataString.MaxPathChars"/>), or null if it can. Checked before any path work: resolving a very long
    /// missing path walks up one parent at a time.
    /// </summary>
    public static string? InvalidPathReason(string path) =>
        path.Length == 0 ? "is an empty path"
        : path.Length > DataString.MaxPathChars ? $"is a path of {path.Length} characters, over the limit of {DataString.MaxPathChars}"
        : path.Contains('\0') ? "contains a NUL character"
        : null;
}
