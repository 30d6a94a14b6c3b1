using System.Runtime.InteropServices;
using System.Security.Cryptography;
using TrtNative.Ir;

namespace TrtNative.Runtime;

/// <summary>
/// Precision protection's decision — the nodes kept in fp32, each with its reason — as an entry of the timing cache,
/// so that a build which has made it once on this GPU skips the two observed engines and their calibration runs.
/// Keyed like a timing (GPU, compute capability, cuDNN and cuBLASLt versions) and by what the decision depends on: the
/// model, the optimized graph it names nodes of (another version of the passes may name or fuse them otherwise), the
/// reduced type and the calibration inputs.
/// </summary>
internal static class ProtectionCache
{
    // Part of the key: a change to how nodes are chosen makes older decisions misses.
    private const string Version = "precision-protection/1";
    private const string Prefix = "keep:";

    /// <summary>The entry's key for the engine of <paramref name="header"/>, lowered from <paramref name="optimized"/>, built in <paramref name="precision"/>.</summary>
    public static string Key(PlanHeader header, Graph optimized, Precision precision, IReadOnlyList<IReadOnlyDictionary<string, Tensor>> calibration) =>
        TimingCache.Key($"{Version}|model={header.ModelHash}|graph={Hash(optimized)}|{precision.Name()}|calibration={Hash(calibration)}",
            header.GpuName, header.ComputeCapability, header.CudnnVersion, header.CublasLtVersion);

    /// <summary>SHA-256 (hex) of the graph's nodes: each one's op, name, inputs and outputs, in order.</summary>
    private static string Hash(Graph g)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var n in g.Nodes)
            sha.AppendData(System.Text.Encoding.UTF8.GetBytes($"{n.QualifiedOp}\0{n.Name}\0{string.Join("\0", n.Inputs)}\0>{string.Join("\0", n.Outputs)}\n"));
        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }

    /// <summary>The kept nodes as the entry's tactic id ("keep:" for none).</summary>
    public static string Encode(IReadOnlyDictionary<string, string> keepFp32) =>
        Prefix + string.Join("&", keepFp32.Select(kv => Uri.EscapeDataString(kv.Key) + "=" + Uri.EscapeDataString(kv.Value)));

    /// <summary>The kept nodes of an entry, in their order; null when the id is not such a decision.</summary>
    public static IReadOnlyDictionary<string, string>? Decode(string tacticId)
    {
        if (!tacticId.StartsWith(Prefix, StringComparison.Ordinal)) return null;
        var keep = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var pair in tacticId[Prefix.Length..].Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            int eq = pair.IndexOf('=');
            if (eq <= 0) return null;
            if (!keep.TryAdd(Uri.UnescapeDataString(pair[..eq]), Uri.UnescapeDataString(pair[(eq + 1)..]))) return null;
        }
        return keep;
    }

    /// <summary>SHA-256 (hex) of the calibration runs: each input's name, shape and values, in name order.</summary>
    private static string Hash(IReadOnlyList<IReadOnlyDictionary<string, Tensor>> calibration)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Span<byte> word = stackalloc byte[8];
        foreach (var run in calibration)
        {
            foreach (var (name, t) in run.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            {
                sha.AppendData(System.Text.Encoding.UTF8.GetBytes(name + "\0"));
                foreach (long d in t.Shape)
                {
                    BitConverter.TryWriteBytes(word, d);
                    sha.AppendData(word);
                }
                if (t.Floats is { } f) sha.AppendData(MemoryMarshal.AsBytes(f.AsSpan()));
                else foreach (long v in t.ResolveInts()) { BitConverter.TryWriteBytes(word, v); sha.AppendData(word); }
            }
            sha.AppendData("|"u8);
        }
        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }
}
