using TrtNative.Ir;
using TrtNative.Ops;

namespace TrtNative.Passes;

/// <summary>An activation found after a value: what it computes, the nodes it spans and the value it produces.</summary>
internal sealed record ActivationMatch(Activation Activation, List<Node> Nodes, string Output)
{
    /// <summary>
    /// The activation applied to <paramref name="value"/>, when <paramref name="value"/> feeds nothing else and is
    /// not a graph output: Relu, Clip with constant bounds (attributes before opset 11, inputs from 11), Sigmoid,
    /// Tanh, LeakyRelu, HardSigmoid, HardSwish, and SiLU written as Mul(x, Sigmoid(x)).
    /// </summary>
    public static ActivationMatch? Find(Graph g, Dictionary<string, List<Node>> consumers, string value)
    {
        if (g.IsOutput(value) || !consumers.TryGetValue(value, out var readers)) return null;
        if (readers.Count == 2 && FindSilu(g, consumers, value, readers) is { } silu) return silu;
        if (readers.Count != 1) return null;
        var n = readers[0];
        if (n.Domain.Length != 0 || n.Input(0) != value || n.Outputs.Count < 1 || n.Outputs[0].Length == 0) return null;
        Activation? act = n.OpType switch
        {
            "Relu" => new Activation(ActivationKind.Relu),
            "Sigmoid" => new Activation(ActivationKind.Sigmoid),
            "Tanh" => new Activation(ActivationKind.Tanh),
            "HardSwish" => new Activation(ActivationKind.HardSwish),
            "LeakyRelu" => new Activation(ActivationKind.LeakyRelu, n.GetFloat("alpha", 0.01f)),
            "HardSigmoid" => new Activation(ActivationKind.HardSigmoid, n.GetFloat("alpha", 0.2f), n.GetFloat("beta", 0.5f)),
            "Clip" => ClipBounds(g, n),
            _ => null,
        };
        return act is { } a ? new ActivationMatch(a, [n], n.Outputs[0]) : null;
    }

    /// <summary>Clip as an activation when its bounds are constants (float.MinValue / MaxValue when absent).</summary>
    private static Activation? ClipBounds(Graph g, Node n)
    {
        if (g.Opset < 11)
            return new Activation(ActivationKind.Clip, n.GetFloat("min", float.MinValue), n.GetFloat("max", float.MaxValue));
        float lo = float.MinValue, hi = float.MaxValue;
        if (n.HasInput(1)) { if (GraphEdit.FloatConstant(g, n.Input(1)) is { Length: 1 } t) lo = t.Floats![0]; else return null; }
        if (n.HasInput(2)) { if (GraphEdit.FloatConstant(g, n.Input(2)) is { Length: 1 } t) hi = t.Floats![0]; else return null; }
        return new Activation(ActivationKind.Clip, lo, hi);
    }

    /// <summary>x → Sigmoid → s, Mul(x, s) (either operand order), with s read only by the Mul.</summary>
    private static ActivationMatch? FindSilu(Graph g, Dictionary<string, List<Node>> consumers, string x, List<Node> readers)
    {
        var sig = readers.FirstOrDefault(r => r.OpType == "Sigmoid" && r.Domain.Length == 0);
        var mul = readers.FirstOrDefault(r => r.OpType == "Mul" && r.Domain.Length == 0);
        if (sig is null || mul is null || sig.Outputs.Count != 1) return null;
        var s = sig.Outputs[0];
        if (!GraphEdit.OnlyFeeds(g, consumers, s, mul)) return null;
        bool operands = (mul.Input(0) == x && mul.Input(1) == s) || (mul.Input(0) == s && mul.Input(1) == x);
        if (!operands || mul.Inputs.Count != 2) return null;
        return new ActivationMatch(new Activation(ActivationKind.Silu), [sig, mul], mul.Outputs[0]);
    }
}
