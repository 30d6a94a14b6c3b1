using System.Runtime.InteropServices;
using TrtNative.Interop;
using TrtNative.Ir;

namespace TrtNative.Compiler;

/// <summary>
/// A layer-program pass for the reduced types (fp16, bf16): a LayerNorm whose output only a GEMM reads, as its A, is
/// folded into that GEMM (<c>norm_a</c>): the GEMM reads the LayerNorm's input and normalises each row of A itself. A
/// transformer's pre-norm (ViT's ln_1 and ln_2, ConvNeXt's channels-last norm) then is not written and read back.
/// </summary>
/// <remarks>
/// The shim's normalising GEMM is fp16/bf16 only, so fp32 programs are left alone (there the fusion would only move
/// the LayerNorm inside the layer). The LayerNorm must normalise exactly A's rows: the block of its input's dims from
/// its axis on must be the GEMM's K (the last dim of A's view, with A not transposed), and its input and output must
/// hold the same elements in the same type. Its output must be read by this GEMM alone, as A, and be no engine output;
/// its input must not be written between the two layers. The GEMM must be one the shim's normalising kernel runs (B
/// stored [N, K], K and N multiples of 8). <c>TRTN_FUSE_LAYERNORM=0</c> leaves the program unchanged,
/// for the A/B (as the native TRTN_* switches do).
/// </remarks>
internal static class FuseLayerNormIntoGemm
{
    /// <summary>Rewrites <paramref name="p"/> in place; returns how many LayerNorms were fused.</summary>
    public static int Run(LayerProgram p)
    {
        if (!p.Reduced || Environment.GetEnvironmentVariable("TRTN_FUSE_LAYERNORM") == "0") return 0;
        return p.RewriteEach(i => TryFuse(p, i));
    }

    private static bool TryFuse(LayerProgram p, int normIndex)
    {
        var norm = p.Layers[normIndex];
        if (norm.Kind != LayerKind.LayerNorm || norm.Inputs.Length < 2 || norm.Outputs is not [var normalized]) return false;
        var ln = MemoryMarshal.Read<LayerNormParams>(norm.Params);
        int x = norm.Inputs[0], root = p.Root(normalized);
        var type = p.ActivationType;
        if (p.Tensors[x].DType != type || p.Tensors[normalized].DType != type) return false;

        // The normalised tensor is read by one GEMM alone, as its A, and is no engine output.
        if (p.Tensors[root].Role != TensorRole.Activation || p.IsEngineOutput(root) || p.Readers(root) is not [var gemmIndex] || gemmIndex <= normIndex)
            return false;
        var gemm = p.Layers[gemmIndex];
        if (gemm.Kind != LayerKind.Gemm || gemm.Outputs.Length != 1 || p.Root(gemm.Inputs[0]) != root) return false;
        if (gemm.Inputs.Skip(1).Any(t => t >= 0 && p.Root(t) == root)) return false;
        var prm = MemoryMarshal.Read<GemmParams>(gemm.Params);
        if (prm.TransA != 0 || prm.TransB == 0 || prm.NormA != 0) return false;
        int a = gemm.Inputs[0];
        if (p.Tensors[a].DType != type || p.Tensors[gemm.Outputs[0]].DType != type) return false;
        // Only where the shim's normalising kernel can run the layer (B stored [N, K], K and N multiples of 8): it needs
        // no workspace, while cuBLASLt's tactics need a normalised copy of A there, which a large batch may not fit
        // within the workspace limit; the LayerNorm as a layer of its own writes into the arena instead.
        if (p.Tensors[gemm.Outputs[0]].Shape is not [.., { IsKnown: true } n] || n.Value % 8 != 0) return false;

        // The rows the LayerNorm normalises (its input's dims from the axis on, as the shim's kernel reads them) are A's rows.
        var xShape = p.Tensors[x].Shape;
        var aShape = p.Tensors[a].Shape;
        if (ln.Axis < 0 || ln.Axis >= xShape.Length || aShape.Length == 0) return false;
        if (xShape[ln.Axis..].Product() is not { IsKnown: true } k || k.Value <= 0 || k.Value % 8 != 0 || aShape[^1] != k) return false;
        if (xShape.Product() is not { } count || count != p.Tensors[normalized].Shape.Product() || count != aShape.Product()) return false;

        // The LayerNorm's input still holds what it read when the GEMM runs.
        int xRoot = p.Root(x);
        for (int j = normIndex + 1; j < gemmIndex; j++)
            if (p.Layers[j].Outputs.Any(o => p.Root(o) == xRoot)) return false;

        var inputs = new int[6];
        for (int j = 0; j < inputs.Length; j++) inputs[j] = j < gemm.Inputs.Length ? gemm.Inputs[j] : -1;
        inputs[0] = xShape.SequenceEqual(aShape) ? x : p.AddAlias(x, aShape, p.Tensors[x].Name + ".rows");
        inputs[4] = norm.Inputs[1];
        inputs[5] = ln.HasBias != 0 && norm.Inputs.Length > 2 ? norm.Inputs[2] : -1;
        prm.NormA = 1;
        prm.NormEpsilon = ln.Epsilon;
        p.Layers[gemmIndex] = new ProgramLayer
        {
            Name = norm.Name + "+" + gemm.Name, Kind = gemm.Kind, Params = LayerProgram.ParamBytes(prm), Inputs = inputs, Outputs = gemm.Outputs,
            Tactic = gemm.Tactic,
        };
        p.Layers.RemoveAt(normIndex);
        return true;
    }
}
