using TrtNative.Ir;
using TrtNative.Ops;

namespace TrtNative.Passes;

public static partial class GraphPasses
{
    /// <summary>
    /// Fuses Gemm + activation into <c>trtnative.FusedGemm(A, B, C?)</c>, and MatMul [+ Add(constant bias over the
    /// last dimension)] [+ activation] into <c>trtnative.FusedMatMul(A, B, Bias?)</c> (at least one of the two must
    /// follow). Intermediates must be read only by the next node of the pattern and must not be graph outputs.
    /// GELU (Erf/Tanh formulas) is left unfused: the fused kernels have no GELU.
    /// </summary>
    public static Graph FuseGemmActivation(Graph g, PassLog log)
    {
        const string pass = nameof(FuseGemmActivation);
        g = g.Clone();
        ShapeInference.Run(g);
        foreach (var node in g.Nodes.Where(n => n.Domain.Length == 0 && n.OpType is "Gemm" or "MatMul").ToList())
        {
            if (node.Outputs.Count != 1 || node.Inputs.Count < 2) continue;
            var consumers = g.Consumers();
            var matched = new List<Node> { node };
            var parts = new List<string>();
            string cur = node.Outputs[0];
            string bias = "";

            if (node.OpType == "MatMul")
            {
                if (!MatMulRanksOk(g, node)) continue;
                if (SingleReader(g, consumers, cur, "Add") is { } add && LastDimBias(g, add, cur) is { } b)
                {
                    bias = b.Name;
                    if (b.Tensor is { } t) g.Initializers[bias] = t;
                    matched.Add(add);
                    parts.Add($"Add '{add.Name}' (bias)");
                    cur = add.Outputs[0];
                }
            }
            var am = ActivationMatch.Find(g, consumers, cur);
            if (am is not null)
            {
                matched.AddRange(am.Nodes);
                parts.AddRange(am.Nodes.Select(n => $"{n.OpType} '{n.Name}'"));
                cur = am.Output;
            }
            if (matched.Count == 1) continue;

            var fused = node.Clone();
            fused.Domain = Node.TrtNativeDomain;
            fused.OpType = node.OpType == "Gemm" ? "FusedGemm" : "FusedMatMul";
            fused.Outputs[0] = cur;
            if (bias.Length > 0) fused.Inputs.Add(bias);
            var act = am?.Activation ?? Activation.None;
            act.WriteTo(fused);

            int at = matched.Max(n => g.Nodes.IndexOf(n));
            g.Nodes[at] = fused;
            foreach (var n in matched) g.Nodes.Remove(n);
            log.Note(pass, $"fused {node.OpType} '{node.Name}' + {string.Join(" + ", parts)} -> {fused.OpType}({act}{(bias.Length > 0 ? ", bias" : "")})");
        }
        return g;
    }

    /// <summary>FusedMatMul keeps MatMul's batched semantics only for operands of rank 2 or more.</summary>
    private static bool MatMulRanksOk(Graph g, Node mm) =>
        g.Values.GetValueOrDefault(mm.Input(0))?.Shape is { Length: >= 2 }
        && g.Values.GetValueOrDefault(mm.Input(1))?.Shape is { Length: >= 2 }
        && g.Values.GetValueOrDefault(mm.Outputs[0])?.Shape is { Length: >= 2 };

    /// <summary>
    /// The constant operand of <paramref name="add"/> as a 1-D bias over the MatMul output's last dimension: its name,
    /// and a new reshaped tensor when it was written [1,..,1,N] rather than [N]. Null when it is not such a bias.
    /// </summary>
    private static (string Name, Tensor? Tensor)? LastDimBias(Graph g, Node add, string mmOut)
    {
        var name = add.Input(0) == mmOut ? add.Input(1) : add.Input(0);
        var k = GraphEdit.FloatConstant(g, name);
        var y = g.Values.GetValueOrDefault(mmOut)?.Shape;
        if (k is null || y is null || k.Rank == 0 || k.Rank > y.Length || !y[^1].IsKnown) return null;
        if (k.Shape[^1] != y[^1].Value || k.Shape[..^1].Any(d => d != 1)) return null;
        if (k.Rank == 1) return (name, null);
        return (GraphEdit.FreshName(g, $"{name}_1d"), k.Reshape([k.Shape[^1]]));
    }
}
