using System.Security.Cryptography;
using TrtNative.Cuda;

namespace TrtNative.Runtime;

/// <summary>One measured choice: the tactic picked for a layer and how long it took.</summary>
/// <param name="TacticId">The tactic's identifier (opaque to the cache, e.g. "cudnn:IMPLICIT_PRECOMP_GEMM:ws=0").</param>
/// <param name="Milliseconds">Measured time of one run of the layer with that tactic.</param>
public readonly record struct TimingEntry(string TacticId, double Milliseconds);

/// <summary>
/// Tactic timings keyed by layer signature plus GPU and library versions (see <see cref="Key"/>), so a later build
/// can skip re-measuring. In memory; not thread-safe. Persist with <see cref="TimingCacheFile"/>.
/// </summary>
public sealed class TimingCache
{
    private readonly Dictionary<string, TimingEntry> _entries = new(StringComparer.Ordinal);

    /// <summary>Number of entries.</summary>
    public int Count => _entries.Count;

    /// <summary>All entries.</summary>
    public IReadOnlyDictionary<string, TimingEntry> Entries => _entries;

    /// <summary>
    /// The cache key for a layer: its signature (op, shapes, data types, attributes, in a canonical string chosen by
    /// the builder) plus what makes timings comparable: GPU, compute capability, cuDNN and cuBLASLt versions.
    /// </summary>
    public static string Key(string layerSignature, string gpuName, ComputeCapability computeCapability, long cudnnVersion, long cublasLtVersion) =>
        $"{layerSignature}|gpu={gpuName}|sm={computeCapability.Sm}|cudnn={cudnnVersion}|cublasLt={cublasLtVersion}";

    /// <summary>Looks up a key.</summary>
    public bool TryGet(string key, out TimingEntry entry) => _entries.TryGetValue(key, out entry);

    /// <summary>Records a timing, replacing any entry for <paramref name="key"/>.</summary>
    public void Set(string key, string tacticId, double milliseconds)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        ArgumentException.ThrowIfNullOrEmpty(tacticId);
        if (!double.IsFinite(milliseconds) || milliseconds < 0)
            throw new TrtNativeException(ErrorCode.InvalidArgument, $"Timing for '{key}' must be a finite non-negative time, got {milliseconds}.");
        _entries[key] = new TimingEntry(tacticId, milliseconds);
    }

    /// <summary>
    /// Adds <paramref name="other"/>'s entries. Where both have a key, the faster measurement wins (both were measured
    /// on the same GPU and libraries, since those are part of the key).
    /// </summary>
    public void Merge(TimingCache other)
    {
        ArgumentNullException.ThrowIfNull(other);
        foreach (var (k, v) in other._entries)
            if (!_entries.TryGetValue(k, out var mine) || v.Milliseconds < mine.Milliseconds)
                _entries[k] = v;
    }
}

/// <summary>
/// The timing cache file. Layout (little-endian): "TRTNTCCH", u32 format version, u32 entry count, entries
/// (key, tactic id as length-prefixed UTF-8, time as f64 ms) in key order, 32-byte SHA-256 of everything before it.
/// Written atomically. A timing cache is only an optimization, so a damaged file can be ignored (pass
/// <c>onCorrupt</c>) and rebuilt by re-measuring; without a callback it is a <see cref="ErrorCode.CorruptPlan"/> error.
/// </summary>
public static class TimingCacheFile
{
    /// <summary>The format version this code writes and reads.</summary>
    public const int FormatVersion = 1;

    private static ReadOnlySpan<byte> Magic => "TRTNTCCH"u8;

    /// <summary>
    /// Loads a cache. A missing file gives an empty cache. A damaged file (bad magic, truncated, checksum, unknown
    /// version) throws <see cref="TrtNativeException"/> with <see cref="ErrorCode.CorruptPlan"/>, unless
    /// <paramref name="onCorrupt"/> is given: then it is called with the message and an empty cache is returned.
    /// </summary>
    public static TimingCache Load(string path, Action<string>? onCorrupt = null)
    {
        if (!File.Exists(path))
            return new TimingCache();
        try
        {
            return Parse(File.ReadAllBytes(path), path);
        }
        catch (TrtNativeException e) when (onCorrupt is not null && e.Code == ErrorCode.CorruptPlan)
        {
            onCorrupt(e.Message + " Ignoring it; timings will be measured again.");
            return new TimingCache();
        }
    }

    /// <summary>Writes <paramref name="cache"/> to <paramref name="path"/> atomically (old file or new file, never a torn one).</summary>
    public static void Save(string path, TimingCache cache) => Save(path, cache, null);

    internal static void Save(string path, TimingCache cache, Func<Stream, Stream>? wrap)
    {
        ArgumentNullException.ThrowIfNull(cache);
        byte[] bytes = Encode(cache);
        AtomicFile.Write(path, s => s.Write(bytes), wrap);
    }

    /// <summary>
    /// Loads what is at <paramref name="path"/> (ignoring a damaged file through <paramref name="onCorrupt"/>, or
    /// throwing without it), merges <paramref name="cache"/> into it (faster timing wins), saves atomically and
    /// returns the merged cache. For several builds sharing one cache file.
    /// </summary>
    public static TimingCache MergeAndSave(string path, TimingCache cache, Action<string>? onCorrupt = null)
    {
        var merged = Load(path, onCorrupt);
        merged.Merge(cache);
        Save(path, merged);
        return merged;
    }

    internal static byte[] Encode(TimingCache cache)
    {
        var w = new FormatWriter();
        w.Bytes(Magic);
        w.U32(FormatVersion);
        w.U32((uint)cache.Count);
        foreach (var (k, v) in cache.Entries.OrderBy(e => e.Key, StringComparer.Ordinal))
        {
            w.Str(k);
            w.Str(v.TacticId);
            w.F64(v.Milliseconds);
        }
        return w.ToArrayWithChecksum();
    }

    internal static TimingCache Parse(ReadOnlySpan<byte> data, string source)
    {
        const int checksum = 32;
        if (data.Length < Magic.Length || !data[..Magic.Length].SequenceEqual(Magic))
            throw Corrupt(source, "bad magic: not a TrtNative timing cache");
        if (data.Length < Magic.Length + 8 + checksum)
            throw Corrupt(source, $"truncated: {data.Length} bytes");
        if (!data[^checksum..].SequenceEqual(SHA256.HashData(data[..^checksum])))
            throw Corrupt(source, "checksum mismatch (truncated, modified or damaged)");
        var r = new FormatReader(data[..^checksum]);
        var cache = new TimingCache();
        try
        {
            r.Bytes(Magic.Length, "magic");
            uint version = r.U32("format version");
            if (version != FormatVersion)
                throw Corrupt(source, $"format version {version}, this TrtNative reads version {FormatVersion}");
            uint count = r.U32("entry count");
            for (uint i = 0; i < count; i++)
            {
                string key = r.Str($"entry {i} key");
                string tactic = r.Str($"entry {i} tactic");
                double ms = r.F64($"entry {i} time");
                if (key.Length == 0 || tactic.Length == 0 || !double.IsFinite(ms) || ms < 0)
                    throw new FormatException($"entry {i} is invalid");
                cache.Set(key, tactic, ms);
            }
            if (r.Remaining != 0)
                throw new FormatException($"{r.Remaining} unexpected bytes after {count} entries");
        }
        catch (FormatException e)
        {
            throw Corrupt(source, e.Message);
        }
        return cache;
    }

    private static TrtNativeException Corrupt(string source, string what) =>
        new(ErrorCode.CorruptPlan, $"Timing cache '{source}' is corrupt: {what}.");
}
