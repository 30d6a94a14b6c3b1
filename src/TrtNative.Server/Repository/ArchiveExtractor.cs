using System.Formats.Tar;
using System.IO.Compression;
using TrtNative.Server.Api;

namespace TrtNative.Server.Repository;

/// <summary>Thrown for an archive that is unsafe or unreadable; reported as 400/1006.</summary>
public sealed class UnsafeArchiveException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// Extracts tar, tar.gz/tgz and zip archives into a directory without letting any entry land outside it:
/// absolute names and ".." escapes are refused, as are symlinks and hardlinks whose target resolves outside;
/// device files and FIFOs are refused; total size and entry count are capped.
/// </summary>
public static class ArchiveExtractor
{
    /// <summary>True when the file name has an archive extension this extractor reads.</summary>
    public static bool IsArchive(string name)
    {
        name = name.ToLowerInvariant();
        return name.EndsWith(".tar.gz") || name.EndsWith(".tgz") || name.EndsWith(".zip") || name.EndsWith(".tar");
    }

    /// <summary>Extracts <paramref name="archive"/> into <paramref name="dest"/>; returns the files written.</summary>
    public static List<string> Extract(string archive, string dest, long maxBytes, int maxEntries)
    {
        string root = Path.GetFullPath(dest).TrimEnd('/') + "/";
        Directory.CreateDirectory(root);
        try
        {
            string n = archive.ToLowerInvariant();
            if (n.EndsWith(".zip")) return ExtractZip(archive, root, maxBytes, maxEntries);
            using var fs = File.OpenRead(archive);
            Stream s = n.EndsWith(".tar") ? fs : new GZipStream(fs, CompressionMode.Decompress);
            using (s) return ExtractTar(s, root, maxBytes, maxEntries);
        }
        catch (Exception e) when (e is InvalidDataException or IOException or FormatException)
        {
            throw new UnsafeArchiveException($"'{Path.GetFileName(archive)}' could not be extracted: {e.Message}", e);
        }
    }

    // entryName: as the archive gives it, which may be null (an unnamed entry is refused like an empty name).
    private static string Target(string root, string? entryName)
    {
        string name = entryName ?? "";
        if (ClientLocations.InvalidPathReason(name) is { } why) throw new UnsafeArchiveException($"an archive entry's name {why}");
        if (name.StartsWith('/') || name.StartsWith('\\') || (name.Length > 1 && name[1] == ':'))
            throw new UnsafeArchiveException($"archive entry '{name}' has an absolute path");
        string full = Path.GetFullPath(Path.Combine(root, name.Replace('\\', '/')));
        if (!full.StartsWith(root, StringComparison.Ordinal) && full + "/" != root)
            throw new UnsafeArchiveException($"archive entry '{name}' would be written outside the repository");
        // A directory on the way may be a symlink made by an earlier entry: resolve it before writing.
        string? parent = Path.GetDirectoryName(full);
        if (parent != null && Directory.Exists(parent))
        {
            string real = Imaging.ImageSources.RealPath(parent).TrimEnd('/') + "/";
            string realRoot = Imaging.ImageSources.RealPath(root).TrimEnd('/') + "/";
            if (!real.StartsWith(realRoot, StringComparison.Ordinal))
                throw new UnsafeArchiveException($"archive entry '{name}' goes through a link that leaves the repository");
        }
        return full;
    }

    private static void CheckLink(string root, string entryPath, string linkTarget, bool hard, string name)
    {
        string resolved = hard || linkTarget.StartsWith('/')
            ? (linkTarget.StartsWith('/') ? linkTarget : Path.Combine(root, linkTarget))
            : Path.Combine(Path.GetDirectoryName(entryPath)!, linkTarget);
        resolved = Path.GetFullPath(resolved);
        if (!(resolved + "/").StartsWith(root, StringComparison.Ordinal))
            throw new UnsafeArchiveException($"archive entry '{name}' is a {(hard ? "hard" : "symbolic ")}link to '{linkTarget}', outside the repository");
    }

    private static List<string> ExtractTar(Stream s, string root, long maxBytes, int maxEntries)
    {
        var written = new List<string>();
        var links = new List<string>();
        long total = 0;
        int count = 0;
        using var reader = new TarReader(s);
        TarEntry? e;
        while ((e = reader.GetNextEntry()) != null)
        {
            if (++count > maxEntries) throw new UnsafeArchiveException($"archive has more than {maxEntries} entries");
            if (e.EntryType is TarEntryType.GlobalExtendedAttributes or TarEntryType.ExtendedAttributes) continue;
            string path = Target(root, e.Name);
            switch (e.EntryType)
            {
                case TarEntryType.Directory:
                    Directory.CreateDirectory(path);
                    break;
                case TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile:
                    total += e.Length;
                    if (total > maxBytes) throw new UnsafeArchiveException($"archive expands to more than {maxBytes} bytes (the MaxExtractBytes limit)");
                    Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                    if (File.Exists(path) || Directory.Exists(path))
                    {
                        if (new FileInfo(path).LinkTarget != null) File.Delete(path); // never write through a link
                    }
                    using (var o = new FileStream(path, FileMode.Create, FileAccess.Write))
                    {
                        e.DataStream?.CopyTo(o);
                        if (o.Length != e.Length) throw new UnsafeArchiveException($"archive entry '{e.Name}' is truncated ({o.Length} of {e.Length} bytes)");
                    }
                    written.Add(path);
                    break;
                case TarEntryType.SymbolicLink:
                    CheckLink(root, path, e.LinkName, false, e.Name);
                    Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                    if (File.Exists(path) || Directory.Exists(path)) File.Delete(path);
                    File.CreateSymbolicLink(path, e.LinkName);
                    links.Add(path);
                    break;
                case TarEntryType.HardLink:
                {
                    CheckLink(root, path, e.LinkName, true, e.Name);
                    string src = Target(root, e.LinkName);
                    if (!File.Exists(src)) throw new UnsafeArchiveException($"archive entry '{e.Name}' links to '{e.LinkName}', which is not in the archive");
                    Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                    File.Copy(src, path, overwrite: true); // a copy, so no two names share an inode
                    written.Add(path);
                    break;
                }
                default:
                    throw new UnsafeArchiveException($"archive entry '{e.Name}' has unsupported type {e.EntryType}");
            }
        }
        VerifyLinks(root, links);
        return written;
    }

    private static List<string> ExtractZip(string archive, string root, long maxBytes, int maxEntries)
    {
        var written = new List<string>();
        var links = new List<string>();
        using var z = ZipFile.OpenRead(archive);
        if (z.Entries.Count > maxEntries) throw new UnsafeArchiveException($"archive has more than {maxEntries} entries");
        long total = 0;
        foreach (var e in z.Entries)
        {
            string path = Target(root, e.FullName);
            int mode = (e.ExternalAttributes >> 16) & 0xF000;
            if (e.FullName.EndsWith('/')) { Directory.CreateDirectory(path); continue; }
            if (mode == 0xA000)
            {
                using var sr = new StreamReader(e.Open());
                string target = sr.ReadToEnd();
                CheckLink(root, path, target, false, e.FullName);
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                if (File.Exists(path)) File.Delete(path);
                File.CreateSymbolicLink(path, target);
                links.Add(path);
                continue;
            }
            total += e.Length;
            if (total > maxBytes) throw new UnsafeArchiveException($"archive expands to more than {maxBytes} bytes (the MaxExtractBytes limit)");
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            if (File.Exists(path) && new FileInfo(path).LinkTarget != null) File.Delete(path);
            using (var i = e.Open())
            using (var o = new FileStream(path, FileMode.Create, FileAccess.Write))
            {
                // Length may lie: count while copying.
                var buf = new byte[81920];
                long n = 0;
                int r;
                while ((r = i.Read(buf)) > 0)
                {
                    n += r;
                    if (n > e.Length || total - e.Length + n > maxBytes) throw new UnsafeArchiveException($"zip entry '{e.FullName}' is larger than declared");
                    o.Write(buf, 0, r);
                }
            }
            written.Add(path);
        }
        VerifyLinks(root, links);
        return written;
    }

    /// <summary>
    /// Each link was checked lexically when made; chains of links (a → ".", b → "a/a/..") can still resolve
    /// outside physically, so resolve every link now and remove them all if one escapes.
    /// </summary>
    private static void VerifyLinks(string root, List<string> links)
    {
        string realRoot = Imaging.ImageSources.RealPath(root).TrimEnd('/') + "/";
        foreach (var l in links)
        {
            string real = Imaging.ImageSources.RealPath(l);
            if (!(real + "/").StartsWith(realRoot, StringComparison.Ordinal))
            {
                foreach (var x in links) File.Delete(x);
                throw new UnsafeArchiveException($"archive link '{l[root.Length..]}' resolves to '{real}', outside the repository");
            }
        }
    }
}
