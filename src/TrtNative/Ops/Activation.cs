using TrtNative.Ir;

namespace TrtNative.Ops;

/// <summary>Activations that fused ops apply after their main computation.</summary>
public enum ActivationKind { None, Relu, Clip, Sigmoid, Silu, HardSwish, HardSigmoid, LeakyRelu, Tanh }

/// <summary>
/// An activation with its parameters, as stored on fused nodes: attribute <c>activation</c> (lower-case kind name),
/// <c>act_alpha</c>, <c>act_beta</c>. Clip: alpha = min, beta = max. LeakyRelu: alpha = slope.
/// HardSigmoid: alpha, beta as in ONNX. HardSwish: x·HardSigmoid(x) with alpha = 1/6, beta = 0.5.
/// </summary>
public readonly record struct Activation(ActivationKind Kind, float Alpha = 0, float Beta = 0)
{
    public static readonly Activation None = new(ActivationKind.None);

    /// <summary>Reads the activation attributes of a fused node.</summary>
    public static Activation FromNode(Node n)
    {
        var name = n.GetString("activation", "none");
        if (!Enum.TryParse<ActivationKind>(name, ignoreCase: true, out var kind))
            throw new TrtNativeException(ErrorCode.Unsupported, $"node '{n.Name}': unknown fused activation '{name}'");
        return new Activation(kind, n.GetFloat("act_alpha", 0), n.GetFloat("act_beta", 0));
    }

    /// <summary>Writes the activation attributes onto a fused node.</summary>
    public void WriteTo(Node n)
    {
        n.Set("activation", Kind.ToString().ToLowerInvariant());
        if (Kind is ActivationKind.Clip or ActivationKind.LeakyRelu or ActivationKind.HardSigmoid) { n.Set("act_alpha", Alpha); n.Set("act_beta", Beta); }
    }

    /// <summary>Applies the activation to one value (fp32 reference semantics).</summary>
    public float Apply(float x) => Kind switch
    {
        ActivationKind.None => x,
        ActivationKind.Relu => x > 0 ? x : 0,
        ActivationKind.Clip => MathF.Min(MathF.Max(x, Alpha), Beta),
        ActivationKind.Sigmoid => 1f / (1f + MathF.Exp(-x)),
        ActivationKind.Silu => x / (1f + MathF.Exp(-x)),
        ActivationKind.HardSwish => x * MathF.Max(0, MathF.Min(1, x / 6f + 0.5f)),
        ActivationKind.HardSigmoid => MathF.Max(0, MathF.Min(1, Alpha * x + Beta)),
        ActivationKind.LeakyRelu => x >= 0 ? x : Alpha * x,
        ActivationKind.Tanh => MathF.Tanh(x),
        _ => throw new InvalidOperationException(Kind.ToString()),
    };

    /// <summary>Applies the activation in place.</summary>
    public void Apply(Span<float> xs)
    {
        if (Kind == ActivationKind.None) return;
        for (int i = 0; i < xs.Length; i++) xs[i] = Apply(xs[i]);
    }

    public override string ToString() => Kind switch
    {
        ActivationKind.Clip => $"clip({Alpha:G6},{Beta:G6})",
        ActivationKind.LeakyRelu => $"leakyrelu({Alpha:G6})",
        ActivationKind.HardSigmoid => $"hardsigmoid({Alpha:G6},{Beta:G6})",
        _ => Kind.ToString().ToLowerInvariant(),
    };
}
