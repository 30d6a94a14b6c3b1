using TrtNative.Ir;

namespace TrtNative.Passes;

public static partial class GraphPasses
{
    /// <summary>
    /// Folds a constant scale applied to a matrix product's output columns into its weights: MatMul(A, W) [+ Add(bias
    /// over the last dimension)] [→ Transpose] → Mul(c) (or Div(c)) becomes MatMul(A, W·c) [+ bias·c] [→ Transpose],
    /// one element-wise pass fewer. W is a constant [K, N]; c is a scalar or varies along the one axis that holds the
    /// product's last dimension (ConvNeXt's layer scale, [C,1,1] after the Transpose back to NCHW). Every
    /// intermediate must be read only by the next node of the pattern and must not be a graph output. The scaled
    /// weights and bias are new initializers, so a weight shared with another node is left as it was.
    /// </summary>
    public static Graph FoldScaleIntoMatMul(Graph g, PassLog log)
    {
        const string pass = nameof(FoldScaleIntoMatMul);
        g = g.Clone();
        ShapeInference.Run(g);
        foreach (var mul in g.Nodes.Where(n => n.Domain.Length == 0 && n.OpType is "Mul" or "Div" && n.Inputs.Count == 2).ToList())
        {
            var consumers = g.Consumers();
            if (ScalePattern(g, consumers, mul) is not { } m) continue;
            // The scaled value is an intermediate (ScalePattern checked), so this cannot fail; it runs first so a
            // failure would leave the graph unchanged.
            if (!GraphEdit.Bypass(g, mul, m.Scaled, mul.Outputs[0])) continue;
            var w = GraphEdit.FloatConstant(g, m.MatMul.Input(1))!;
            long k = w.Shape[0], n = w.Shape[1];
            var scaledW = new float[w.Floats!.Length];
            for (long r = 0; r < k; r++)
                for (long c = 0; c < n; c++)
                    scaledW[r * n + c] = w.Floats[r * n + c] * m.Scale[c];
            string wName = GraphEdit.FreshName(g, m.MatMul.Input(1) + "_scaled");
            g.Initializers[wName] = Tensor.FromFloats(scaledW, [k, n], w.Type);
            m.MatMul.Inputs[1] = wName;
            if (m.BiasAdd is { } add)
            {
                int bi = add.Input(0) == m.MatMul.Outputs[0] ? 1 : 0;
                var bias = GraphEdit.FloatConstant(g, add.Input(bi))!;
                var scaledB = new float[bias.Floats!.Length];
                for (int i = 0; i < scaledB.Length; i++) scaledB[i] = bias.Floats[i] * m.Scale[i % n];
                string bName = GraphEdit.FreshName(g, add.Input(bi) + "_scaled");
                g.Initializers[bName] = Tensor.FromFloats(scaledB, (long[])bias.Shape.Clone(), bias.Type);
                add.Inputs[bi] = bName;
            }
            log.Note(pass, $"folded {mul.OpType} '{mul.Name}' by a constant into the weights of MatMul '{m.MatMul.Name}'" +
                           (m.BiasAdd is not null ? " and its bias" : ""));
        }
        return g;
    }

    private sealed record ScaleMatch(Node MatMul, Node? BiasAdd, string Scaled, float[] Scale);

    /// <summary>The MatMul whose output columns <paramref name="mul"/> scales, and the scale per column; null if none.</summary>
    private static ScaleMatch? ScalePattern(Graph g, Dictionary<string, List<Node>> consumers, Node mul)
    {
        // Which operand is the constant: for Div only the divisor can be.
        int ci = GraphEdit.FloatConstant(g, mul.Input(1)) is not null ? 1 : mul.OpType == "Mul" && GraphEdit.FloatConstant(g, mul.Input(0)) is not null ? 0 : -1;
        if (ci < 0) return null;
        var c = GraphEdit.FloatConstant(g, mul.Input(ci))!;
        string scaled = mul.Input(1 - ci);
        var yShape = g.Values.GetValueOrDefault(scaled)?.Shape;
        var outShape = g.Values.GetValueOrDefault(mul.Outputs[0])?.Shape;
        if (yShape is null || outShape is null || c.Rank > yShape.Length || outShape.Length != yShape.Length) return null;
        for (int i = 0; i < yShape.Length; i++) if (!yShape[i].Equals(outShape[i])) return null;  // c must not broadcast y

        // Walk back: [Transpose] <- [Add bias] <- MatMul(A, W[K,N]).
        string cur = scaled;
        int[]? perm = null;
        var producer = Producer(g, cur);
        if (producer is { OpType: "Transpose", Domain: "" } t && GraphEdit.OnlyFeeds(g, consumers, cur, mul))
        {
            perm = t.GetInts("perm")?.Select(v => (int)v).ToArray();
            if (perm is null || perm.Length != yShape.Length) return null;
            cur = t.Input(0);
            producer = Producer(g, cur);
        }
        Node? biasAdd = null;
        if (producer is { OpType: "Add", Domain: "" } add && add.Inputs.Count == 2)
        {
            var next = perm is null ? mul : Producer(g, scaled)!;
            if (!GraphEdit.OnlyFeeds(g, consumers, cur, next)) return null;
            biasAdd = add;
            string other = Producer(g, add.Input(0)) is { OpType: "MatMul" } ? add.Input(0) : add.Input(1);
            cur = other;
            producer = Producer(g, cur);
        }
        if (producer is not { OpType: "MatMul", Domain: "" } mm || mm.Inputs.Count != 2) return null;
        var w = GraphEdit.FloatConstant(g, mm.Input(1));
        var mmShape = g.Values.GetValueOrDefault(mm.Outputs[0])?.Shape;
        if (w is null || w.Rank != 2 || mmShape is null || mmShape.Length < 2 || mmShape.Length != yShape.Length) return null;
        long n = w.Shape[1];
        var firstReader = biasAdd ?? (perm is not null ? Producer(g, scaled)! : mul);
        if (!GraphEdit.OnlyFeeds(g, consumers, mm.Outputs[0], firstReader)) return null;
        if (biasAdd is not null)
        {
            var b = GraphEdit.FloatConstant(g, biasAdd.Input(0) == mm.Outputs[0] ? biasAdd.Input(1) : biasAdd.Input(0));
            if (b is null || b.Rank == 0 || b.Shape[^1] != n || b.Shape[..^1].Any(d => d != 1)) return null;
        }

        // The scale per output column: a scalar, or constant along every axis but the one holding the last dim.
        int rank = yShape.Length;
        int lastAxis = rank - 1;                                     // in the MatMul output
        int axisInY = perm is null ? lastAxis : Array.IndexOf(perm, lastAxis);
        var full = new long[rank];
        for (int i = 0; i < rank; i++) full[i] = i < rank - c.Rank ? 1 : c.Shape[i - (rank - c.Rank)];
        for (int i = 0; i < rank; i++)
            if (full[i] != 1 && i != axisInY) return null;
        if (full[axisInY] != 1 && full[axisInY] != n) return null;
        var scale = new float[n];
        for (long i = 0; i < n; i++)
        {
            float v = c.Floats![full[axisInY] == 1 ? 0 : i];
            scale[i] = mul.OpType == "Div" ? 1f / v : v;
            if (!float.IsFinite(scale[i])) return null;
        }
        return new ScaleMatch(mm, biasAdd, scaled, scale);
    }

    private static Node? Producer(Graph g, string value) => g.Nodes.FirstOrDefault(n => n.Outputs.Contains(value));
}
