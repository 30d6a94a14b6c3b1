using TrtNative.Ir;
using TrtNative.Ops;

namespace TrtNative.Passes;

public static partial class GraphPasses
{
    /// <summary>
    /// Fuses Conv [+ Add(per-channel constant) as bias] [+ Add(residual)] [+ activation] into
    /// <c>trtnative.FusedConv(X, W, B?, R?)</c>, Y = act(conv(X, W) + B + R). The residual must have exactly the
    /// Conv output's shape and type and must not be computed from the Conv's output. Every intermediate value
    /// must be read only by the next node of the pattern and must not be a graph output. A Conv whose only match is
    /// a bias Add stays a standard Conv with the bias as its B input.
    /// </summary>
    public static Graph FuseConvActivation(Graph g, PassLog log)
    {
        const string pass = nameof(FuseConvActivation);
        g = g.Clone();
        ShapeInference.Run(g);
        foreach (var conv in g.Nodes.Where(n => n.OpType == "Conv" && n.Domain.Length == 0).ToList())
        {
            if (conv.Outputs.Count != 1) continue;
            var consumers = g.Consumers();
            var matched = new List<Node> { conv };
            var parts = new List<string>();
            string cur = conv.Outputs[0];
            string bias = conv.Input(2);
            string residual = "";
            Activation act = Activation.None;

            if (SingleReader(g, consumers, cur, "Add") is { } biasAdd && ChannelBias(g, conv, biasAdd, cur) is { } newBias)
            {
                bias = GraphEdit.FreshName(g, $"{conv.Name}_bias");
                g.Initializers[bias] = newBias;
                matched.Add(biasAdd);
                parts.Add($"Add '{biasAdd.Name}' (bias)");
                cur = biasAdd.Outputs[0];
            }
            if (SingleReader(g, consumers, cur, "Add") is { } resAdd)
            {
                var r = resAdd.Input(0) == cur ? resAdd.Input(1) : resAdd.Input(0);
                if (r != cur && g.Values.TryGetValue(r, out var ri) && g.Values.TryGetValue(cur, out var ci)
                    && ri.Shape is not null && ci.Shape is not null && ri.Shape.SequenceEqual(ci.Shape) && ri.Type == ci.Type
                    && !GraphEdit.DependsOn(g, r, conv))
                {
                    residual = r;
                    matched.Add(resAdd);
                    parts.Add($"Add '{resAdd.Name}' (residual '{r}')");
                    cur = resAdd.Outputs[0];
                }
            }
            if (ActivationMatch.Find(g, consumers, cur) is { } am)
            {
                act = am.Activation;
                matched.AddRange(am.Nodes);
                parts.AddRange(am.Nodes.Select(n => $"{n.OpType} '{n.Name}'"));
                cur = am.Output;
            }
            if (matched.Count == 1) continue;

            var fused = conv.Clone();
            fused.Outputs[0] = cur;
            fused.Inputs.Clear();
            fused.Inputs.AddRange([conv.Input(0), conv.Input(1), bias]);
            string result;
            if (residual.Length == 0 && act.Kind == ActivationKind.None)
            {
                result = "Conv with bias";
            }
            else
            {
                fused.OpType = "FusedConv";
                fused.Domain = Node.TrtNativeDomain;
                if (residual.Length > 0) fused.Inputs.Add(residual);
                act.WriteTo(fused);
                result = $"FusedConv({act}{(residual.Length > 0 ? ", residual" : "")})";
            }
            while (fused.Inputs.Count > 0 && fused.Inputs[^1].Length == 0) fused.Inputs.RemoveAt(fused.Inputs.Count - 1);

            // The last node of the pattern is where every input (the residual included) is available.
            int at = matched.Max(n => g.Nodes.IndexOf(n));
            g.Nodes[at] = fused;
            foreach (var n in matched) g.Nodes.Remove(n);
            log.Note(pass, $"fused Conv '{conv.Name}' + {string.Join(" + ", parts)} -> {result}");
        }
        return g;
    }

    /// <summary>The one node reading <paramref name="value"/> when it has op type <paramref name="op"/> (ai.onnx) and two inputs.</summary>
    private static Node? SingleReader(Graph g, Dictionary<string, List<Node>> consumers, string value, string op)
    {
        if (!GraphEdit.OnlyFeeds(g, consumers, value)) return null;
        var n = consumers[value][0];
        return n.OpType == op && n.Domain.Length == 0 && n.Inputs.Count == 2 && n.Outputs.Count == 1 ? n : null;
    }

    /// <summary>
    /// The Conv bias after adding <paramref name="add"/>'s constant operand, when that operand is per output channel
    /// ([C,1,1], [1,C,1,1], ...) or a single value; null otherwise.
    /// </summary>
    private static Tensor? ChannelBias(Graph g, Node conv, Node add, string convOut)
    {
        var k = GraphEdit.FloatConstant(g, add.Input(0) == convOut ? add.Input(1) : add.Input(0));
        var w = g.Values.GetValueOrDefault(conv.Input(1))?.Shape;
        if (k is null || w is null || w.Length < 3 || !w[0].IsKnown) return null;
        long m = w[0].Value;
        int rank = w.Length;                      // the Conv output has the weight's rank
        if (k.Rank > rank) return null;
        var padded = Enumerable.Repeat(1L, rank - k.Rank).Concat(k.Shape).ToArray();
        bool perChannel = padded[1] == m && padded.Where((_, i) => i != 1).All(d => d == 1);
        if (!perChannel && k.Length != 1) return null;

        float[]? old = null;
        if (conv.HasInput(2))
        {
            if (GraphEdit.FloatConstant(g, conv.Input(2)) is not { } b || b.Length != m) return null;
            old = b.Floats;
        }
        var sum = new float[m];
        for (int c = 0; c < m; c++) sum[c] = (old?[c] ?? 0f) + k.Floats![perChannel ? c : 0];
        return GraphEdit.Floats(sum, [m], k.Type);
    }
}
