using TrtNative.Ir;

namespace TrtNative.Passes;

public static partial class GraphPasses
{
    /// <summary>
    /// Replaces the exact GELU as exporters write it before opset 20, Mul(Mul(x, Add(Erf(Div(x, √2)), 1)), 0.5)
    /// (or Mul(x, 1/√2) for the Div; operands of Add and the Muls in either order), by one trtnative.Gelu(x): four
    /// passes over the (large) MLP activations fewer. Every intermediate must be read only by the next node of the
    /// chain and must not be a graph output; x must not be a constant. The new node takes the last Mul's name and
    /// output. Runs after constant folding, so the scalars are initializers.
    /// </summary>
    public static Graph FuseGelu(Graph g, PassLog log)
    {
        const string pass = nameof(FuseGelu);
        g = g.Clone();
        foreach (var erf in g.Nodes.Where(n => n.OpType == "Erf" && n.Domain.Length == 0).ToList())
        {
            var consumers = g.Consumers();
            var producers = g.Producers();
            if (GeluChain(g, consumers, producers, erf) is not { } m) continue;
            var gelu = new Node("Gelu", [m.X], [m.Mul2.Outputs[0]], m.Mul2.Name, Node.TrtNativeDomain);
            g.Nodes[g.Nodes.IndexOf(m.Mul2)] = gelu;
            foreach (var n in new[] { m.Div, erf, m.Add, m.Mul1 }) g.Nodes.Remove(n);
            log.Note(pass, $"fused {m.Div.OpType} '{m.Div.Name}', Erf '{erf.Name}', Add '{m.Add.Name}', Mul '{m.Mul1.Name}' and Mul '{m.Mul2.Name}' into trtnative.Gelu('{m.X}')");
        }
        return g;
    }

    private sealed record GeluMatch(string X, Node Div, Node Add, Node Mul1, Node Mul2);

    private static GeluMatch? GeluChain(Graph g, Dictionary<string, List<Node>> consumers, Dictionary<string, Node> producers, Node erf)
    {
        bool Scalar(string name, float want, float tol) => GraphEdit.FloatConstant(g, name) is { Floats: { Length: 1 } f } && MathF.Abs(f[0] - want) <= tol;
        string? Other(Node n, string one) => n.Inputs.Count == 2 && n.Inputs[0] == one ? n.Inputs[1] : n.Inputs.Count == 2 && n.Inputs[1] == one ? n.Inputs[0] : null;
        Node? OnlyReader(string value) => GraphEdit.OnlyFeeds(g, consumers, value) ? consumers[value][0] : null;

        if (erf.Inputs.Count != 1 || !producers.TryGetValue(erf.Inputs[0], out var div) || !GraphEdit.OnlyFeeds(g, consumers, erf.Inputs[0])) return null;
        if (div.Domain.Length != 0 || div.Inputs.Count != 2) return null;
        string x = div.Inputs[0];
        if (!(div.OpType == "Div" && Scalar(div.Inputs[1], MathF.Sqrt(2), 1e-3f) || div.OpType == "Mul" && Scalar(div.Inputs[1], 1 / MathF.Sqrt(2), 1e-3f))) return null;
        if (GraphEdit.Constant(g, x) is not null) return null;
        if (OnlyReader(erf.Outputs[0]) is not { OpType: "Add", Domain: "" } add || Other(add, erf.Outputs[0]) is not { } one || !Scalar(one, 1f, 1e-6f)) return null;
        if (OnlyReader(add.Outputs[0]) is not { OpType: "Mul", Domain: "" } mul1 || Other(mul1, add.Outputs[0]) != x) return null;
        if (OnlyReader(mul1.Outputs[0]) is not { OpType: "Mul", Domain: "" } mul2 || Other(mul2, mul1.Outputs[0]) is not { } half || !Scalar(half, 0.5f, 1e-6f)) return null;
        return new GeluMatch(x, div, add, mul1, mul2);
    }
}
