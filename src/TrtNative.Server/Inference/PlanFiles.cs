using System.Security.Cryptography;
using System.Text;

namespace TrtNative.Server.Inference;

/// <summary>
/// Names of the engine plans a service keeps in its repository. DeepDetect names a plan
/// <c>{tensorRTEngineFile}_arch{SM}_{dtype}_bs{maxBatchSize}</c>; two GPU models of one compute capability (an H100
/// PCIe and an H100 SXM, an A100 40 GB and 80 GB) would then share a file, and a plan tuned on one would be loaded,
/// or rejected as stale and rebuilt, on the other. So the GPU model's tag (<see cref="DeviceTag"/>) follows:
/// <c>{tensorRTEngineFile}_arch{SM}_{dtype}_bs{maxBatchSize}_{gpu}</c>. A GPU of the same model finds the plan and
/// loads it; another model builds its own.
/// </summary>
public static class PlanFiles
{
    private const int MaxTagChars = 32;

    /// <summary>The plan file name (no directory) for a GPU model.</summary>
    public static string Plan(string engineFileName, int sm, string deviceName, string dataType, int maxBatchSize) =>
        $"{engineFileName}_arch{sm}_{dataType}_bs{maxBatchSize}_{DeviceTag(deviceName)}";

    /// <summary>
    /// A short file-name-safe tag for a GPU model: the device name lower-cased, without a leading "NVIDIA", every run of
    /// other characters than a–z and 0–9 made one '-' ("NVIDIA H100 80GB HBM3" → "h100-80gb-hbm3"). A name longer than
    /// 32 characters keeps its first 23 and a hash of the whole name, so two long names never share a tag by truncation.
    /// </summary>
    public static string DeviceTag(string deviceName)
    {
        string name = deviceName.Trim();
        if (name.StartsWith("NVIDIA ", StringComparison.OrdinalIgnoreCase)) name = name[7..];
        var sb = new StringBuilder(name.Length);
        foreach (char ch in name.ToLowerInvariant())
        {
            if (ch is (>= 'a' and <= 'z') or (>= '0' and <= '9')) sb.Append(ch);
            else if (sb.Length > 0 && sb[^1] != '-') sb.Append('-');
        }
        string tag = sb.ToString().Trim('-');
        if (tag.Length > 0 && tag.Length <= MaxTagChars) return tag;
        string hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(deviceName)))[..8];
        return tag.Length == 0 ? "gpu-" + hash : $"{tag[..(MaxTagChars - 9)].TrimEnd('-')}-{hash}";
    }
}
