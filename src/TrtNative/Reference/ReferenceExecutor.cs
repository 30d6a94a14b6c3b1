using TrtNative.Ir;
using TrtNative.Ops;

namespace TrtNative.Reference;

/// <summary>Options of the reference executor.</summary>
public sealed record ReferenceOptions
{
    /// <summary>
    /// Round every floating-point tensor to fp16 where an fp16 engine stores one: weights, inputs and each node's
    /// outputs (the arithmetic inside a node stays fp32, as fp16 engines accumulate in fp32).
    /// </summary>
    public bool RoundToFp16 { get; init; }
}

/// <summary>
/// Runs a graph on the CPU in fp32 with the reference kernels. It exists to check passes and GPU results, not to
/// be fast.
/// </summary>
public static class ReferenceExecutor
{
    /// <summary>Runs <paramref name="g"/> on <paramref name="inputs"/> and returns its outputs by name.</summary>
    public static Dictionary<string, Tensor> Run(Graph g, IReadOnlyDictionary<string, Tensor> inputs, ReferenceOptions? options = null, OpRegistry? registry = null)
    {
        options ??= new ReferenceOptions();
        registry ??= OpRegistry.Default;
        var bindings = BindInputs(g, inputs);

        var values = new Dictionary<string, Tensor>();
        foreach (var (name, t) in g.Initializers) values[name] = Prepare(t.Resolve(bindings), options);
        foreach (var i in g.Inputs) values[i.Name] = Prepare(inputs[i.Name], options);

        // Free each intermediate after its last reader, so large models fit.
        var remaining = new Dictionary<string, int>();
        foreach (var n in g.Nodes) foreach (var i in n.Inputs) if (i.Length > 0) remaining[i] = remaining.GetValueOrDefault(i) + 1;
        var keep = g.Outputs.Select(o => o.Name).ToHashSet();

        foreach (var node in g.Nodes)
        {
            var def = registry.Get(node, g.Opset);
            var ins = new Tensor?[node.Inputs.Count];
            for (int k = 0; k < ins.Length; k++)
            {
                var name = node.Inputs[k];
                if (name.Length == 0) continue;
                ins[k] = values.TryGetValue(name, out var t) ? t
                    : throw new TrtNativeException(ErrorCode.InvalidModel, $"node '{node.Name}': input '{name}' has no value (graph not in topological order?)");
            }
            var ctx = new KernelContext(node, g.Opset, ins, bindings);
            def.Execute(ctx);
            for (int k = 0; k < node.Outputs.Count; k++)
            {
                if (node.Outputs[k].Length == 0) continue;
                var t = ctx.Outputs[k] ?? throw new TrtNativeException(ErrorCode.Internal, $"node '{node.Name}' ({node.QualifiedOp}): kernel produced no output {k}");
                values[node.Outputs[k]] = options.RoundToFp16 ? RoundToHalf(t) : t;
            }
            foreach (var i in node.Inputs)
                if (i.Length > 0 && --remaining[i] == 0 && !keep.Contains(i) && !g.Initializers.ContainsKey(i)) values.Remove(i);
        }

        return g.Outputs.ToDictionary(o => o.Name, o => values.TryGetValue(o.Name, out var t) ? t
            : throw new TrtNativeException(ErrorCode.InvalidModel, $"graph output '{o.Name}' was not computed"));
    }

    /// <summary>Checks inputs against the graph's declared inputs and returns the values of symbolic dimensions.</summary>
    public static Dictionary<string, long> BindInputs(Graph g, IReadOnlyDictionary<string, Tensor> inputs)
    {
        var bindings = new Dictionary<string, long>();
        foreach (var i in g.Inputs)
        {
            if (!inputs.TryGetValue(i.Name, out var t))
                throw new TrtNativeException(ErrorCode.InvalidArgument, $"no value given for input '{i.Name}' {i.Shape.Format()}");
            if (t.Type != i.Type && !(t.Type.IsFloating() && i.Type.IsFloating()))
                throw new TrtNativeException(ErrorCode.InvalidArgument, $"input '{i.Name}' expects {i.Type.OnnxName()}, got {t.Type.OnnxName()}");
            if (i.Shape is null) continue;
            if (t.Rank != i.Shape.Length)
                throw new TrtNativeException(ErrorCode.ShapeMismatch, $"input '{i.Name}' expects rank {i.Shape.Length} {i.Shape.Format()}, got {t.Shape.Format()}");
            for (int d = 0; d < t.Rank; d++)
            {
                var want = i.Shape[d];
                if (want.IsKnown)
                {
                    if (want.Value != t.Shape[d])
                        throw new TrtNativeException(ErrorCode.ShapeMismatch, $"input '{i.Name}' expects {i.Shape.Format()}, got {t.Shape.Format()} (dimension {d})");
                }
                else if (want.Factor == 1)
                {
                    if (bindings.TryGetValue(want.Symbol!, out var v) && v != t.Shape[d])
                        throw new TrtNativeException(ErrorCode.ShapeMismatch, $"input '{i.Name}': dimension '{want.Symbol}' is {t.Shape[d]} here but {v} in another input");
                    bindings[want.Symbol!] = t.Shape[d];
                }
            }
        }
        return bindings;
    }

    private static Tensor Prepare(Tensor t, ReferenceOptions options) => options.RoundToFp16 ? RoundToHalf(t) : t;

    /// <summary>A copy of a floating tensor with every value rounded to the nearest fp16; other tensors unchanged.</summary>
    public static Tensor RoundToHalf(Tensor t)
    {
        if (t.Floats is null) return t;
        var r = new float[t.Floats.Length];
        for (int i = 0; i < r.Length; i++) r[i] = (float)(Half)t.Floats[i];
        return Tensor.FromFloats(r, t.Shape, t.Type);
    }
}
