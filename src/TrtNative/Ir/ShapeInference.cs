using TrtNative.Ops;

namespace TrtNative.Ir;

/// <summary>
/// Infers the type and shape of every value of a graph (into <see cref="Graph.Values"/>) and computes every value
/// that is known at build time: initializers, results of nodes whose inputs are all known, and shape values that
/// depend on a symbolic dimension (the Shape → Gather → Concat → Reshape chains exporters emit).
/// </summary>
/// <remarks>
/// Values that depend on symbols are evaluated by probing: the node runs twice, with each symbol bound to two
/// different primes, and an integer entry that is the same in both runs is a constant, one that is the same
/// multiple of the symbol in both is <c>k·symbol</c>. This reuses the reference kernels for every op instead of
/// needing a symbolic twin of each, and it handles float detours (Cast → Mul → Floor → Cast) for free.
/// </remarks>
public static class ShapeInference
{
    /// <summary>Largest constant (elements) computed at build time; bigger results stay as nodes.</summary>
    public const long MaxFoldedElements = 1L << 26;

    private static readonly long[] ProbeA = [1009, 1019, 1031, 1039];
    private static readonly long[] ProbeB = [1013, 1021, 1033, 1049];

    /// <summary>Fills <see cref="Graph.Values"/> and returns the build-time values by name (initializers included).</summary>
    public static Dictionary<string, Tensor> Run(Graph g, OpRegistry? registry = null)
    {
        registry ??= OpRegistry.Default;
        g.Values.Clear();
        var known = new Dictionary<string, Tensor>(g.Initializers);
        var probed = new Dictionary<string, (Tensor A, Tensor B)>();
        var symbols = new List<string>();

        foreach (var i in g.Inputs)
        {
            g.Values[i.Name] = i;
            foreach (var d in i.Shape ?? []) if (d.Symbol is { } s && !symbols.Contains(s)) symbols.Add(s);
        }
        if (symbols.Count > ProbeA.Length)
            throw new TrtNativeException(ErrorCode.Unsupported, $"at most {ProbeA.Length} symbolic dimensions are supported, the inputs have {symbols.Count}: {string.Join(", ", symbols)}");
        var bindA = symbols.Select((s, k) => (s, ProbeA[k])).ToDictionary(x => x.s, x => x.Item2);
        var bindB = symbols.Select((s, k) => (s, ProbeB[k])).ToDictionary(x => x.s, x => x.Item2);

        foreach (var (name, t) in g.Initializers)
        {
            g.Values[name] = new ValueInfo(name, t.Type, t.Shape.Select(Dim.Of).ToArray());
            if (t.IsSymbolic) { known.Remove(name); probed[name] = (t.Resolve(bindA), t.Resolve(bindB)); known[name] = t; }
        }

        foreach (var node in g.Nodes)
        {
            var def = registry.Get(node, g.Opset);
            var infos = new ValueInfo?[node.Inputs.Count];
            var constants = new Tensor?[node.Inputs.Count];
            for (int k = 0; k < node.Inputs.Count; k++)
            {
                var name = node.Inputs[k];
                if (name.Length == 0) continue;
                if (!g.Values.TryGetValue(name, out infos[k]))
                    throw new TrtNativeException(ErrorCode.InvalidModel, $"node '{node.Name}' ({node.QualifiedOp}): input '{name}' is not a graph input, an initializer or the output of an earlier node");
                constants[k] = known.GetValueOrDefault(name);
            }

            var ctx = new InferenceContext(node, g.Opset, infos, constants);
            def.Infer(ctx);
            for (int k = 0; k < node.Outputs.Count; k++)
            {
                if (node.Outputs[k].Length == 0) continue;
                g.Values[node.Outputs[k]] = ctx.Outputs[k]
                    ?? throw new TrtNativeException(ErrorCode.Internal, $"node '{node.Name}' ({node.QualifiedOp}): shape inference gave no result for output {k}");
            }

            if (node.OpType == "Shape" && node.Domain.Length == 0)
                EvaluateShapeOp(node, infos[0]!, known, probed, bindA, bindB);
            else
                Evaluate(node, def, g.Opset, ctx, known, probed, bindA, bindB);
        }

        foreach (var o in g.Outputs)
        {
            if (!g.Values.TryGetValue(o.Name, out var inferred))
                throw new TrtNativeException(ErrorCode.InvalidModel, $"graph output '{o.Name}' is not produced by any node, input or initializer");
            CheckDeclared(o, inferred);
        }
        return known;
    }

    /// <summary>A declared output shape must agree with what the nodes compute (where both are known).</summary>
    private static void CheckDeclared(ValueInfo declared, ValueInfo inferred)
    {
        if (declared.Shape is null || inferred.Shape is null) return;
        bool bad = declared.Shape.Length != inferred.Shape.Length
            || declared.Shape.Zip(inferred.Shape).Any(p => p.First.IsKnown && p.Second.IsKnown && p.First.Value != p.Second.Value);
        if (bad)
            throw new TrtNativeException(ErrorCode.ShapeMismatch,
                $"graph output '{declared.Name}' is declared as {declared.Shape.Format()} but the graph computes {inferred.Shape.Format()}");
    }

    private static void EvaluateShapeOp(Node node, ValueInfo input, Dictionary<string, Tensor> known,
        Dictionary<string, (Tensor A, Tensor B)> probed, Dictionary<string, long> bindA, Dictionary<string, long> bindB)
    {
        if (input.Shape is null) return;
        long rank = input.Shape.Length;
        long start = node.GetInt("start", 0), end = node.GetInt("end", rank);
        if (start < 0) start += rank;
        if (end < 0) end += rank;
        start = Math.Clamp(start, 0, rank);
        end = Math.Clamp(end, start, rank);
        var dims = input.Shape[(int)start..(int)end];
        var t = Tensor.FromDims(dims);
        known[node.Outputs[0]] = t;
        if (t.IsSymbolic) probed[node.Outputs[0]] = (t.Resolve(bindA), t.Resolve(bindB));
    }

    private static void Evaluate(Node node, OpDefinition def, int opset, InferenceContext ctx, Dictionary<string, Tensor> known,
        Dictionary<string, (Tensor A, Tensor B)> probed, Dictionary<string, long> bindA, Dictionary<string, long> bindB)
    {
        bool anyProbed = false;
        for (int k = 0; k < node.Inputs.Count; k++)
        {
            var name = node.Inputs[k];
            if (name.Length == 0) continue;
            if (!known.ContainsKey(name) && !probed.ContainsKey(name)) return;
            anyProbed |= probed.ContainsKey(name);
        }
        if (node.Inputs.Count == 0 && node.OpType != "Constant") return;
        foreach (var o in ctx.Outputs)
        {
            if (o?.Shape is null) return;
            var n = o.Shape.Product();
            long size = n is { IsKnown: true } p ? p.Value : ProbeA.Max() * ProbeA.Max();
            if (size > MaxFoldedElements) return;
        }

        if (!anyProbed)
        {
            var outs = RunKernel(node, def, opset, node.Inputs.Select(i => i.Length == 0 ? null : known[i]).ToArray());
            for (int k = 0; k < outs.Length; k++) if (outs[k] is { } t) known[node.Outputs[k]] = t;
            return;
        }

        Tensor? Pick(string name, bool a) => name.Length == 0 ? null
            : probed.TryGetValue(name, out var p) ? (a ? p.A : p.B) : known[name];
        var outA = RunKernel(node, def, opset, node.Inputs.Select(i => Pick(i, true)).ToArray(), bindA);
        var outB = RunKernel(node, def, opset, node.Inputs.Select(i => Pick(i, false)).ToArray(), bindB);
        for (int k = 0; k < outA.Length; k++)
        {
            if (outA[k] is not { } a || outB[k] is not { } b) continue;
            var name = node.Outputs[k];
            probed[name] = (a, b);
            if (Combine(a, b, bindA, bindB) is { } t) known[name] = t;
        }
    }

    private static Tensor?[] RunKernel(Node node, OpDefinition def, int opset, Tensor?[] inputs, IReadOnlyDictionary<string, long>? bindings = null)
    {
        var kc = new KernelContext(node, opset, inputs, bindings);
        def.Execute(kc);
        return kc.Outputs;
    }

    /// <summary>The symbolic value two probe runs agree on, or null when they do not fit the k·symbol form.</summary>
    private static Tensor? Combine(Tensor a, Tensor b, Dictionary<string, long> bindA, Dictionary<string, long> bindB)
    {
        if (!a.Shape.SequenceEqual(b.Shape)) return null;
        if (a.Ints is null || b.Ints is null)
            return a.Floats is { } fa && b.Floats is { } fb && fa.AsSpan().SequenceEqual(fb) ? a : null;
        if (a.Ints.AsSpan().SequenceEqual(b.Ints)) return a;
        if (a.Type != DataType.Int64 || a.Rank > 1) return null;
        var dims = new Dim[a.Ints.Length];
        for (int i = 0; i < dims.Length; i++)
        {
            long va = a.Ints[i], vb = b.Ints[i];
            if (va == vb) { dims[i] = Dim.Of(va); continue; }
            string? match = null;
            foreach (var (s, pa) in bindA)
            {
                long pb = bindB[s];
                if (va % pa == 0 && vb % pb == 0 && va / pa == vb / pb) { match = s; dims[i] = Dim.Sym(s, va / pa); break; }
            }
            if (match is null) return null;
        }
        return Tensor.FromDims(dims).Reshape(a.Shape);
    }
}
