using TrtNative.Compiler;
using TrtNative.Ir;

namespace TrtNative.Runtime;

/// <summary>
/// The input shapes a build times tactics at. A layer's fastest tactic depends on its shapes: at batch 1 a ViT GEMM
/// has a dozen output tiles for 132 SMs and wants split-K or small tiles, at batch 32 it does not. Timing at the opt
/// shapes alone (as TensorRT does within one profile) ran every batch with the opt batch's choices. The points are the
/// profile's opt shapes (their tactics are the layers' defaults), then its min shapes, and at optimization level 4 and
/// above its max shapes; a point equal to an earlier one is left out.
/// </summary>
internal static class TuningPoints
{
    /// <summary>Optimization level from which the profile's max shapes are a tuning point too.</summary>
    internal const int MaxShapesFromLevel = 4;

    /// <summary>The tuning points of <paramref name="profile"/>: each input's shape at each point, opt first.</summary>
    public static IReadOnlyList<IReadOnlyDictionary<string, long[]>> Of(IReadOnlyDictionary<string, InputShapeRange> profile, int optimizationLevel)
    {
        var points = new List<IReadOnlyDictionary<string, long[]>>();
        void Add(Func<InputShapeRange, long[]> pick)
        {
            var point = profile.ToDictionary(kv => kv.Key, kv => pick(kv.Value), StringComparer.Ordinal);
            if (!points.Any(p => p.All(kv => kv.Value.AsSpan().SequenceEqual(point[kv.Key]))))
                points.Add(point);
        }
        Add(r => r.Opt);
        Add(r => r.Min);
        if (optimizationLevel >= MaxShapesFromLevel) Add(r => r.Max);
        return points;
    }

    /// <summary>
    /// Gives every layer whose timing-cache key was chosen before (at an earlier point, or by an earlier layer) that
    /// tactic in <paramref name="tactics"/>, records the other layers' choices in <paramref name="chosenFor"/> and
    /// returns those layers (the ones to cache). Layers without a key (not tunable) are left alone. One key, one tactic:
    /// a warm build that reads the cache then gives the plan the timed build gave.
    /// </summary>
    public static List<int> KeepEarlierChoices(IReadOnlyList<string?> keys, int[] tactics, Dictionary<string, int> chosenFor)
    {
        var fresh = new List<int>();
        for (int i = 0; i < keys.Count; i++)
        {
            if (keys[i] is not { } key) continue;
            if (chosenFor.TryGetValue(key, out int earlier)) { tactics[i] = earlier; continue; }
            chosenFor[key] = tactics[i];
            fresh.Add(i);
        }
        return fresh;
    }

    /// <summary>
    /// What each layer runs at each point, as the shim takes it: the layer's first output's element count at point k
    /// (under <paramref name="bindings"/>[k]) with the tactic chosen there. Empty when one tactic serves every point.
    /// </summary>
    public static List<ShapeTactic> ShapeTactics(LayerProgram program, ProgramLayer layer, IReadOnlyList<IReadOnlyDictionary<string, long>> bindings,
        IReadOnlyList<int> tactics)
    {
        if (bindings.Count != tactics.Count)
            throw new TrtNativeException(ErrorCode.Internal, $"layer '{layer.Name}': {tactics.Count} tactics for {bindings.Count} tuning points");
        if (tactics.Distinct().Count() < 2) return new();
        var output = program.Tensors[layer.Outputs[0]].Shape;
        return bindings.Select((b, k) => new ShapeTactic(output.Resolve(b).Aggregate(1L, (a, d) => a * d), tactics[k])).ToList();
    }
}
