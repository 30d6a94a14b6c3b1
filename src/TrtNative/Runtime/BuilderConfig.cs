using System.Text;

namespace TrtNative.Runtime;

/// <summary>Arithmetic precision of an engine.</summary>
public enum Precision
{
    /// <summary>fp32 everywhere, TF32 off (cuDNN FMA math, cuBLASLt 32F compute): matches a CPU fp32 reference closely.</summary>
    Fp32,
    /// <summary>fp16 activations and weights with fp32 accumulation; inputs and outputs stay fp32.</summary>
    Fp16,
}

/// <summary>The shapes one input may take: every dimension between <see cref="Min"/> and <see cref="Max"/>, tuned for <see cref="Opt"/>.</summary>
public sealed record InputShapeRange(long[] Min, long[] Opt, long[] Max)
{
    /// <summary>"[1,3,224,224]..[8,3,224,224] (opt [4,3,224,224])".</summary>
    public override string ToString() => $"[{string.Join(",", Min)}]..[{string.Join(",", Max)}] (opt [{string.Join(",", Opt)}])";
}

/// <summary>Shape ranges for the engine's inputs (TensorRT's optimization profile).</summary>
public sealed class OptimizationProfile
{
    private readonly SortedDictionary<string, InputShapeRange> _ranges = new(StringComparer.Ordinal);

    /// <summary>Sets the range of input <paramref name="input"/>. Each array has the input's rank; min ≤ opt ≤ max per dimension.</summary>
    public OptimizationProfile Set(string input, long[] min, long[] opt, long[] max)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (min.Length != opt.Length || opt.Length != max.Length)
            throw new TrtNativeException(ErrorCode.InvalidArgument, $"profile for '{input}': min, opt and max must have the same rank");
        for (int d = 0; d < min.Length; d++)
            if (min[d] < 1 || min[d] > opt[d] || opt[d] > max[d])
                throw new TrtNativeException(ErrorCode.InvalidArgument, $"profile for '{input}': dimension {d} needs 1 <= min <= opt <= max, got {min[d]}, {opt[d]}, {max[d]}");
        _ranges[input] = new InputShapeRange((long[])min.Clone(), (long[])opt.Clone(), (long[])max.Clone());
        return this;
    }

    /// <summary>The ranges set so far, by input name.</summary>
    public IReadOnlyDictionary<string, InputShapeRange> Ranges => _ranges;
}

/// <summary>How <see cref="Builder"/> builds an engine.</summary>
public sealed class BuilderConfig
{
    /// <summary>Arithmetic precision: fp16 by default (fp32 accumulation inside layers); fp32 on request, with TF32 off.</summary>
    public Precision Precision { get; set; } = Precision.Fp16;

    /// <summary>Upper bound for any layer's scratch memory in bytes (default 256 MiB).</summary>
    public long MaxWorkspaceSize { get; set; } = 256L << 20;

    /// <summary>Shape ranges of dynamic inputs. One profile per engine is supported.</summary>
    public List<OptimizationProfile> OptimizationProfiles { get; } = new();

    /// <summary>Tactic timings to reuse and extend (optional); save it with <see cref="TimingCacheFile"/>.</summary>
    public TimingCache? TimingCache { get; set; }

    /// <summary>Time the candidate cuDNN / cuBLASLt algorithms on the GPU (default true); false uses the libraries' heuristics.</summary>
    public bool Autotune { get; set; } = true;

    /// <summary>Canonical text recorded in plan headers: two configs that build the same engine give the same text.</summary>
    public string Canonical()
    {
        var sb = new StringBuilder();
        sb.Append($"precision={Precision};workspace={MaxWorkspaceSize};autotune={Autotune}");
        foreach (var p in OptimizationProfiles)
            foreach (var (name, r) in p.Ranges)
                sb.Append($";{name}={r}");
        return sb.ToString();
    }
}
