using System.Text;

namespace TrtNative.Runtime;

/// <summary>Arithmetic precision of an engine.</summary>
public enum Precision
{
    /// <summary>fp32 everywhere, TF32 off (cuDNN FMA math, cuBLASLt 32F compute): matches a CPU fp32 reference closely.</summary>
    Fp32,
    /// <summary>fp16 activations and weights with fp32 accumulation; inputs and outputs stay fp32.</summary>
    Fp16,
    /// <summary>bf16 activations and weights (fp32's range, 8 significant bits) with fp32 accumulation; inputs and outputs stay fp32.</summary>
    Bf16,
}

/// <summary>The names of <see cref="Precision"/> in configurations ("fp32", "fp16", "bf16": DeepDetect's datatype, the Sample's flags).</summary>
public static class PrecisionNames
{
    /// <summary>"fp32", "fp16" or "bf16".</summary>
    public static string Name(this Precision p) => p switch { Precision.Fp16 => "fp16", Precision.Bf16 => "bf16", _ => "fp32" };

    /// <summary>The precision named <paramref name="name"/> (any case); false for another name.</summary>
    public static bool TryParse(string? name, out Precision precision)
    {
        foreach (var p in Enum.GetValues<Precision>())
            if (string.Equals(p.Name(), name, StringComparison.OrdinalIgnoreCase)) { precision = p; return true; }
        precision = Precision.Fp32;
        return false;
    }

    /// <summary>The type the lowering computes in for <paramref name="p"/>.</summary>
    internal static Interop.NativeDType ActivationType(this Precision p) => p switch
    {
        Precision.Fp16 => Interop.NativeDType.Float16, Precision.Bf16 => Interop.NativeDType.BFloat16, _ => Interop.NativeDType.Float32,
    };
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

    /// <summary>Default of <see cref="OptimizationLevel"/>.</summary>
    public const int DefaultOptimizationLevel = 3;

    /// <summary>
    /// How many tactics autotuning tries, 0..5 like TensorRT's builder optimization level (default 3). For each
    /// convolution: 0-1 our direct kernel, cuDNN's legacy algorithms and the first cuDNN graph configuration that builds,
    /// none compiled at run time; 2 up to 4 graph configurations; 3 up to 12, of which up to 3 compiled at run time
    /// (NVRTC: seconds each, so this dominates a cold build); 4-5 up to 32, of which up to 8 compiled at run time.
    /// Tactics are timed at the profile's opt and min shapes, and from level 4 at its max shapes too (<see cref="TuningPoints"/>).
    /// </summary>
    public int OptimizationLevel
    {
        get => _optimizationLevel;
        set => _optimizationLevel = value is >= 0 and <= 5 ? value
            : throw new TrtNativeException(ErrorCode.InvalidArgument, $"optimization level must be 0..5, got {value}");
    }
    private int _optimizationLevel = DefaultOptimizationLevel;

    /// <summary>
    /// Automatic mixed precision (default true; applies to fp16 and bf16 engines): after the build, the engine and an
    /// fp32 engine of the same model run on calibration inputs and are compared node by node; nodes whose values leave
    /// the reduced type's range, turn NaN/inf or drift past the budget are kept in fp32 and the engine is rebuilt, until
    /// the outputs are finite and within rel L2 1e-2 (fp16) or 2e-2 (bf16) of fp32 (at most four rounds). The plan and
    /// <see cref="Engine.KeptInFp32"/> record which nodes and why. False builds pure fp16.
    /// </summary>
    public bool PrecisionProtection { get; set; } = true;

    /// <summary>
    /// The calibration runs of <see cref="PrecisionProtection"/>, each a full set of input tensors by name (e.g. sample
    /// images, preprocessed); null (default): two runs of standard-normal inputs at the profile's opt shapes. Like the
    /// timing cache, they steer the build but are not part of <see cref="Settings"/>.
    /// </summary>
    public IReadOnlyList<IReadOnlyDictionary<string, Ir.Tensor>>? CalibrationInputs { get; set; }

    /// <summary>
    /// The immutable options this config builds with (what a plan header records); the timing cache is not part of
    /// them. Throws <see cref="ErrorCode.Unsupported"/> for more than one optimization profile.
    /// </summary>
    public BuildSettings Settings()
    {
        if (OptimizationProfiles.Count > 1)
            throw new TrtNativeException(ErrorCode.Unsupported, "one optimization profile per engine is supported");
        var profile = new SortedDictionary<string, InputShapeRange>(StringComparer.Ordinal);
        foreach (var p in OptimizationProfiles)
            foreach (var (name, r) in p.Ranges)
                profile[name] = new InputShapeRange((long[])r.Min.Clone(), (long[])r.Opt.Clone(), (long[])r.Max.Clone());
        return new BuildSettings(Precision, MaxWorkspaceSize, Autotune, profile, PrecisionProtection, OptimizationLevel);
    }

    /// <summary>Canonical text of <see cref="Settings"/>, for comparison and display.</summary>
    public string Canonical() => Settings().Canonical();
}

/// <summary>
/// The options an engine was built with, typed and immutable: precision, workspace limit, autotuning, precision
/// protection and the optimization profile (min/opt/max per input, by name). Plan headers store them field by field; <see cref="Canonical"/>
/// is derived for comparison and display only. Equality compares every option.
/// </summary>
public sealed class BuildSettings : IEquatable<BuildSettings>
{
    /// <summary>Settings with the given options; <paramref name="profile"/> is copied (null: no profile).</summary>
    public BuildSettings(Precision precision, long maxWorkspaceSize, bool autotune, IReadOnlyDictionary<string, InputShapeRange>? profile = null,
        bool precisionProtection = true, int optimizationLevel = BuilderConfig.DefaultOptimizationLevel)
    {
        Precision = precision;
        MaxWorkspaceSize = maxWorkspaceSize;
        Autotune = autotune;
        PrecisionProtection = precisionProtection;
        OptimizationLevel = optimizationLevel;
        var p = new SortedDictionary<string, InputShapeRange>(StringComparer.Ordinal);
        if (profile is not null)
            foreach (var (name, r) in profile) p[name] = r;
        Profile = p;
    }

    /// <summary>The defaults of a new <see cref="BuilderConfig"/>.</summary>
    public static BuildSettings Default { get; } = new BuilderConfig().Settings();

    /// <summary>Arithmetic precision.</summary>
    public Precision Precision { get; }

    /// <summary>Upper bound for any layer's scratch memory in bytes.</summary>
    public long MaxWorkspaceSize { get; }

    /// <summary>Whether tactics were timed on the GPU.</summary>
    public bool Autotune { get; }

    /// <summary>Whether automatic mixed precision was on (<see cref="BuilderConfig.PrecisionProtection"/>).</summary>
    public bool PrecisionProtection { get; }

    /// <summary>How many tactics autotuning tried (<see cref="BuilderConfig.OptimizationLevel"/>).</summary>
    public int OptimizationLevel { get; }

    /// <summary>The profile's shape ranges by input name (ordinal order); empty when every input is static.</summary>
    public IReadOnlyDictionary<string, InputShapeRange> Profile { get; }

    /// <summary>"precision=Fp16;workspace=268435456;autotune=True;protection=True;level=3;input=[1,3,224,224]..[8,3,224,224] (opt [4,3,224,224])".</summary>
    public string Canonical()
    {
        var sb = new StringBuilder();
        sb.Append($"precision={Precision};workspace={MaxWorkspaceSize};autotune={Autotune};protection={PrecisionProtection};level={OptimizationLevel}");
        foreach (var (name, r) in Profile)
            sb.Append($";{name}={r}");
        return sb.ToString();
    }

    /// <inheritdoc/>
    public override string ToString() => Canonical();

    /// <inheritdoc/>
    public bool Equals(BuildSettings? other) =>
        other is not null && Precision == other.Precision && MaxWorkspaceSize == other.MaxWorkspaceSize && Autotune == other.Autotune
        && PrecisionProtection == other.PrecisionProtection && OptimizationLevel == other.OptimizationLevel
        && Profile.Count == other.Profile.Count
        && Profile.All(kv => other.Profile.TryGetValue(kv.Key, out var r)
            && r.Min.AsSpan().SequenceEqual(kv.Value.Min) && r.Opt.AsSpan().SequenceEqual(kv.Value.Opt) && r.Max.AsSpan().SequenceEqual(kv.Value.Max));

    /// <inheritdoc/>
    public override bool Equals(object? obj) => Equals(obj as BuildSettings);

    /// <inheritdoc/>
    public override int GetHashCode() => Canonical().GetHashCode(StringComparison.Ordinal);

    internal void Write(FormatWriter w)
    {
        w.I32((int)Precision);
        w.I64(MaxWorkspaceSize);
        w.I32(Autotune ? 1 : 0);
        w.I32(PrecisionProtection ? 1 : 0);
        w.I32(OptimizationLevel);
        w.I32(Profile.Count);
        foreach (var (name, r) in Profile)
        {
            w.Str(name);
            w.I32(r.Min.Length);
            foreach (var v in r.Min) w.I64(v);
            foreach (var v in r.Opt) w.I64(v);
            foreach (var v in r.Max) w.I64(v);
        }
    }

    /// <summary>Reads what <see cref="Write"/> wrote; a damaged field is a <see cref="FormatException"/>.</summary>
    internal static BuildSettings Read(ref FormatReader r)
    {
        int precision = r.I32("precision");
        if (!Enum.IsDefined((Precision)precision)) throw new FormatException($"unknown precision {precision}");
        long workspace = r.I64("workspace limit");
        int autotune = r.I32("autotune flag");
        if (autotune is not (0 or 1)) throw new FormatException($"autotune flag is {autotune}");
        int protection = r.I32("precision protection flag");
        if (protection is not (0 or 1)) throw new FormatException($"precision protection flag is {protection}");
        int level = r.I32("optimization level");
        if (level is < 0 or > 5) throw new FormatException($"optimization level is {level}");
        int count = r.I32("profile input count");
        if (count < 0 || count > r.Remaining) throw new FormatException($"profile input count {count}");
        var profile = new Dictionary<string, InputShapeRange>(StringComparer.Ordinal);
        for (int i = 0; i < count; i++)
        {
            string name = r.Str("profile input name");
            int rank = r.I32("profile rank");
            if (rank < 0 || (long)rank * 24 > r.Remaining) throw new FormatException($"profile rank {rank} for '{name}'");
            long[] Dims(ref FormatReader rr, string what)
            {
                var d = new long[rank];
                for (int k = 0; k < rank; k++) d[k] = rr.I64(what);
                return d;
            }
            var min = Dims(ref r, "profile min");
            var opt = Dims(ref r, "profile opt");
            var max = Dims(ref r, "profile max");
            if (!profile.TryAdd(name, new InputShapeRange(min, opt, max))) throw new FormatException($"profile names '{name}' twice");
        }
        return new BuildSettings((Precision)precision, workspace, autotune == 1, profile, protection == 1, level);
    }
}
