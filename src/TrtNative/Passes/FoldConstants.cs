using TrtNative.Ir;

namespace TrtNative.Passes;

public static partial class GraphPasses
{
    /// <summary>
    /// Replaces every node whose outputs are all known at build time by initializers: Constant nodes, nodes over
    /// constants, and the Shape → Gather → Concat chains whose results depend only on symbolic dimensions (those
    /// become symbolic initializers, resolved once the symbols are bound). Graph output names are kept: a folded
    /// graph output simply becomes an initializer of that name.
    /// </summary>
    public static Graph FoldConstants(Graph g, PassLog log)
    {
        const string pass = nameof(FoldConstants);
        g = g.Clone();

        // Constant nodes first, straight from their attribute: this needs no kernel and no inference.
        foreach (var node in g.Nodes.ToList())
        {
            if (node.OpType != "Constant" || node.Domain.Length != 0 || node.Outputs.Count != 1) continue;
            if (ConstantValue(node) is not { } t) continue;
            g.Nodes.Remove(node);
            g.Initializers[node.Outputs[0]] = t;
            log.Note(pass, $"Constant '{node.Name}' -> initializer '{node.Outputs[0]}' {t}");
        }

        var known = ShapeInference.Run(g);
        foreach (var node in g.Nodes.ToList())
        {
            var outs = node.Outputs.Where(o => o.Length > 0).ToList();
            if (outs.Count == 0 || !outs.All(known.ContainsKey)) continue;
            g.Nodes.Remove(node);
            foreach (var o in outs) g.Initializers[o] = known[o];
            log.Note(pass, $"folded {node.QualifiedOp} '{node.Name}' -> initializer{(outs.Count > 1 ? "s" : "")} " +
                string.Join(", ", outs.Select(o => $"'{o}' {known[o]}")));
        }
        return g;
    }

    /// <summary>The tensor a Constant node holds, or null for forms we leave to the kernel (sparse, strings).</summary>
    private static Tensor? ConstantValue(Node n)
    {
        if (n.GetTensor("value") is { } t) return t;
        if (n.Attributes.TryGetValue("value_float", out var f)) return Tensor.Scalar(f.Float);
        if (n.GetFloats("value_floats") is { } fs) return Tensor.FromFloats((float[])fs.Clone(), [fs.Length]);
        if (n.Attributes.TryGetValue("value_int", out var i)) return Tensor.FromInts([i.Int], []);
        if (n.GetInts("value_ints") is { } ints) return Tensor.FromInts((long[])ints.Clone(), [ints.Length]);
        return null;
    }
}
