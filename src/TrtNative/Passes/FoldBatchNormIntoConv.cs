using TrtNative.Ir;

namespace TrtNative.Passes;

public static partial class GraphPasses
{
    /// <summary>
    /// Folds an inference BatchNormalization into the Conv before it: with s = scale / sqrt(var + eps),
    /// W' = W·s (per output channel) and B' = (B − mean)·s + beta. Applies when the Conv's weights (and bias, if
    /// any) and all BatchNormalization parameters are constants and the Conv's output is read only by the
    /// BatchNormalization. A BatchNormalization not after such a Conv is left as it is: the reference kernel and
    /// the engine run it as a per-channel scale and shift.
    /// </summary>
    public static Graph FoldBatchNormIntoConv(Graph g, PassLog log)
    {
        const string pass = nameof(FoldBatchNormIntoConv);
        g = g.Clone();
        var consumers = g.Consumers();
        foreach (var bn in g.Nodes.ToList())
        {
            if (bn.OpType != "BatchNormalization" || bn.Domain.Length != 0) continue;
            if (bn.GetInt("spatial", 1) != 1 || bn.GetInt("training_mode", 0) != 0) continue;
            if (bn.Outputs.Skip(1).Any(o => o.Length > 0 && (g.IsOutput(o) || consumers.ContainsKey(o)))) continue;
            var convOut = bn.Input(0);
            var conv = g.Nodes.FirstOrDefault(n => n.Outputs.Contains(convOut));
            if (conv is null || conv.OpType != "Conv" || conv.Domain.Length != 0) continue;
            if (!GraphEdit.OnlyFeeds(g, consumers, convOut, bn)) continue;

            var w = GraphEdit.FloatConstant(g, conv.Input(1));
            var b = conv.HasInput(2) ? GraphEdit.FloatConstant(g, conv.Input(2)) : null;
            if (w is null || w.Rank < 3 || (conv.HasInput(2) && b is null)) continue;
            long m = w.Shape[0];
            var p = new Tensor?[4];
            for (int k = 0; k < 4; k++) p[k] = GraphEdit.FloatConstant(g, bn.Input(k + 1));
            if (p.Any(t => t is null || t.Length != m) || (b is not null && b.Length != m)) continue;
            float[] scale = p[0]!.Floats!, beta = p[1]!.Floats!, mean = p[2]!.Floats!, variance = p[3]!.Floats!;
            double eps = bn.GetFloat("epsilon", 1e-5f);

            var w2 = new float[w.Length];
            var b2 = new float[m];
            long per = w.Length / m;
            for (long c = 0; c < m; c++)
            {
                double s = scale[c] / Math.Sqrt(variance[c] + eps);
                for (long k = c * per; k < (c + 1) * per; k++) w2[k] = (float)(w.Floats![k] * s);
                b2[c] = (float)(((b?.Floats![c] ?? 0.0) - mean[c]) * s + beta[c]);
            }
            string wName = GraphEdit.FreshName(g, $"{conv.Input(1)}_bn"), bName = GraphEdit.FreshName(g, $"{conv.Name}_bias_bn");
            g.Initializers[wName] = GraphEdit.Floats(w2, w.Shape, w.Type);
            g.Initializers[bName] = GraphEdit.Floats(b2, [m], b?.Type ?? w.Type);

            var folded = conv.Clone();
            folded.Inputs.Clear();
            folded.Inputs.AddRange([conv.Input(0), wName, bName]);
            folded.Outputs[folded.Outputs.IndexOf(convOut)] = bn.Outputs[0];
            g.Nodes[g.Nodes.IndexOf(conv)] = folded;
            g.Nodes.Remove(bn);
            consumers = g.Consumers();
            log.Note(pass, $"folded BatchNormalization '{bn.Name}' into Conv '{conv.Name}' (weights '{wName}', bias '{bName}')");
        }
        return g;
    }
}
