using System.Runtime.InteropServices;
using TrtNative.Interop;
using TrtNative.Ir;

namespace TrtNative.Compiler;

/// <summary>
/// A layer-program pass for the squeeze-excitation tail: x [N,H,W,C] times a per-sample channel gate s [N,1,1,C],
/// then a 1×1 convolution (W [K,C]), becomes the gate applied to the weights instead, W'[n] = W · diag(s[n]) (a small
/// broadcast multiply, [1,K,C] × [N,1,C]), and one batched GEMM y[n] = x[n] · W'[n]ᵀ with the convolution's bias,
/// residual and activation. The gated activation x·s — as large as x — is never written and read back.
/// </summary>
/// <remarks>
/// Worth it only while the gated weights are smaller than the gated activation, i.e. H·W at least twice K: early,
/// large-resolution blocks (EfficientNet's and MobileNetV3's), not the 7×7 ones at the end.
/// </remarks>
internal static class FuseScaleIntoPointwiseConv
{
    /// <summary>Rewrites <paramref name="p"/> in place; returns how many gate + convolution pairs were rewritten.</summary>
    public static int Run(LayerProgram p) => p.RewriteEach(i => TryFuse(p, i));

    private static bool TryFuse(LayerProgram p, int mulIndex)
    {
        var mul = p.Layers[mulIndex];
        if (mul.Kind != LayerKind.Binary || mul.Inputs.Length != 2 || mul.Outputs.Length != 1) return false;
        var mp = MemoryMarshal.Read<BinaryParams>(mul.Params);
        if (mp.Op != (int)BinaryOp.Mul || mp.Act.Kind != 0) return false;
        int gated = mul.Outputs[0], root = p.Root(gated);
        if (p.Tensors[root].Role != TensorRole.Activation || p.IsEngineOutput(root) || p.Readers(root) is not [var convIndex]) return false;
        var conv = p.Layers[convIndex];
        if (conv.Kind != LayerKind.Conv || conv.Inputs[0] != gated) return false;
        var cp = MemoryMarshal.Read<ConvParams>(conv.Params);
        if (cp.Groups != 1 || cp.StrideH != 1 || cp.StrideW != 1 || cp.PadH != 0 || cp.PadW != 0 || cp.DilationH != 1 || cp.DilationW != 1) return false;

        // Which operand is the activation [N,H,W,C] and which the gate [N,1,1,C].
        Dim[] Shape(int id) => p.Tensors[id].Shape;
        int x = -1, s = -1;
        for (int k = 0; k < 2; k++)
        {
            Dim[] a = Shape(mul.Inputs[k]), b = Shape(mul.Inputs[1 - k]);
            if (a.Length == 4 && b.Length == 4 && a[0] == b[0] && a[3] == b[3] && b[1] == Dim.Of(1) && b[2] == Dim.Of(1)
                && a[1].IsKnown && a[2].IsKnown && a[1].Value * a[2].Value > 1)
            {
                x = mul.Inputs[k];
                s = mul.Inputs[1 - k];
            }
        }
        if (x < 0) return false;
        Dim[] xs = Shape(x), ws = Shape(conv.Inputs[1]), ys = Shape(conv.Outputs[0]);
        if (ws.Length != 4 || ws[1] != Dim.Of(1) || ws[2] != Dim.Of(1) || ws[3] != xs[3] || !ws[0].IsKnown) return false;
        long hw = xs[1].Value * xs[2].Value, k0 = ws[0].Value;
        if (hw < 2 * k0) return false;  // the gated weights would not be smaller than the gated activation
        Dim n = xs[0], c = xs[3], kd = ws[0];
        var dt = p.Tensors[x].DType;

        string stem = conv.Name;
        int w3 = p.AddAlias(conv.Inputs[1], [Dim.Of(1), kd, c], stem + ".w3");
        int s3 = p.AddAlias(s, [n, Dim.Of(1), c], stem + ".gate3");
        int gatedW = p.AddTensor(stem + ".gated_w", dt, [n, kd, c], TensorRole.Activation);
        int x3 = p.AddAlias(x, [n, Dim.Of(hw), c], stem + ".x3");
        int y3 = p.AddAlias(conv.Outputs[0], [n, Dim.Of(hw), kd], stem + ".y3");
        int bias = -1;
        if (cp.HasBias != 0 && conv.Inputs.Length > 2 && conv.Inputs[2] >= 0)
        {
            // The convolution's bias is float32; a GEMM's has the output's type.
            var b = p.Tensors[p.Root(conv.Inputs[2])];
            var values = MemoryMarshal.Cast<byte, float>(b.Data).ToArray();
            bias = dt switch
            {
                NativeDType.Float16 => p.AddTensor(stem + ".bias16", dt, [kd], TensorRole.Weight, MemoryMarshal.AsBytes(values.Select(v => (Half)v).ToArray().AsSpan()).ToArray()),
                NativeDType.BFloat16 => p.AddTensor(stem + ".bias16", dt, [kd], TensorRole.Weight, MemoryMarshal.AsBytes(values.Select(BFloat16.FromFloat).ToArray().AsSpan()).ToArray()),
                _ => conv.Inputs[2],
            };
        }
        int residual = cp.HasResidual != 0 && conv.Inputs.Length > 3 && conv.Inputs[3] >= 0 ? p.AddAlias(conv.Inputs[3], [n, Dim.Of(hw), kd], stem + ".r3") : -1;

        var gate = new ProgramLayer
        {
            Name = mul.Name + "->weights", Kind = LayerKind.Binary, Params = mul.Params, Inputs = [w3, s3], Outputs = [gatedW],
        };
        var gemm = new ProgramLayer
        {
            Name = stem, Kind = LayerKind.Gemm,
            Params = LayerProgram.ParamBytes(new GemmParams { TransB = 1, Alpha = 1f, HasBias = bias >= 0 ? 1 : 0, Act = cp.Act, Tactic = -1 }),
            Inputs = residual >= 0 ? [x3, gatedW, bias, residual] : bias >= 0 ? [x3, gatedW, bias] : [x3, gatedW],
            Outputs = [y3],
        };
        // Both run where the convolution ran: x and the gate are ready by then, and nothing overwrites them.
        p.Layers[convIndex] = gemm;
        p.Layers.Insert(convIndex, gate);
        p.Layers.RemoveAt(mulIndex);
        return true;
    }
}
