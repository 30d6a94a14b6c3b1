using TrtNative.Ir;

namespace TrtNative.Ops;

/// <summary>Computes the output types and shapes of one node.</summary>
public delegate void InferFn(InferenceContext ctx);

/// <summary>Runs one node on host tensors (the fp32 reference semantics of the op).</summary>
public delegate void KernelFn(KernelContext ctx);

/// <summary>An op the compiler understands: its shape function and its reference kernel.</summary>
public sealed record OpDefinition(string Domain, string OpType, InferFn Infer, KernelFn Execute, int MinOpset, int MaxOpset);

/// <summary>
/// The set of supported ops. Each op family registers itself in its own file (Ops/*.cs); <see cref="Default"/>
/// holds them all. Lookups by (domain, op type, opset) fail with an error naming the node, the op, the opset and
/// what is supported.
/// </summary>
public sealed class OpRegistry
{
    private readonly Dictionary<(string Domain, string Op), List<OpDefinition>> _ops = new();

    /// <summary>Every op of every family.</summary>
    public static OpRegistry Default { get; } = CreateDefault();

    private static OpRegistry CreateDefault()
    {
        var r = new OpRegistry();
        foreach (var register in OpFamilies.All) register(r);
        return r;
    }

    /// <summary>Adds an op (optionally only for an opset range, for ops whose meaning changed).</summary>
    public void Add(string opType, InferFn infer, KernelFn execute, string domain = "", int minOpset = 1, int maxOpset = int.MaxValue)
    {
        if (!_ops.TryGetValue((domain, opType), out var list)) _ops[(domain, opType)] = list = new();
        list.Add(new OpDefinition(domain, opType, infer, execute, minOpset, maxOpset));
    }

    /// <summary>The definition for a node at an opset, or null when unsupported.</summary>
    public OpDefinition? Find(string domain, string opType, int opset)
    {
        if (domain == "ai.onnx") domain = "";
        if (!_ops.TryGetValue((domain, opType), out var list)) return null;
        return list.FirstOrDefault(d => opset >= d.MinOpset && opset <= d.MaxOpset);
    }

    /// <summary>True when the op type exists in the domain at any opset.</summary>
    public bool Knows(string domain, string opType) => _ops.ContainsKey((domain == "ai.onnx" ? "" : domain, opType));

    /// <summary>The definition for <paramref name="node"/>; throws <see cref="ErrorCode.Unsupported"/> naming what is supported.</summary>
    public OpDefinition Get(Node node, int opset)
    {
        var d = Find(node.Domain, node.OpType, opset);
        if (d is not null) return d;
        string why = Knows(node.Domain, node.OpType)
            ? $"op {node.QualifiedOp} is supported only for opsets {string.Join(", ", _ops[(node.Domain == "ai.onnx" ? "" : node.Domain, node.OpType)].Select(x => x.MaxOpset == int.MaxValue ? $"{x.MinOpset}+" : $"{x.MinOpset}-{x.MaxOpset}"))}"
            : $"op {node.QualifiedOp} is not supported";
        throw new TrtNativeException(ErrorCode.Unsupported,
            $"node '{node.Name}': {why} (model opset {opset}). Supported ops: {string.Join(", ", SupportedOps)}");
    }

    /// <summary>Names of the supported standard ops, sorted.</summary>
    public IEnumerable<string> SupportedOps => _ops.Keys.Where(k => k.Domain == "").Select(k => k.Op).Order(StringComparer.Ordinal);
}
