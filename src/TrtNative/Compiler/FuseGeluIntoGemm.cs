using System.Runtime.InteropServices;
using TrtNative.Interop;

namespace TrtNative.Compiler;

/// <summary>
/// A layer-program pass for the reduced types (fp16, bf16): an exact GELU that only reads a GEMM's product becomes the
/// GEMM's activation in its tanh form, which cuBLASLt computes in its epilogue. The transformer MLP's widest tensor (4 × the model width)
/// is then written once instead of written, read back and written again.
/// </summary>
/// <remarks>
/// The tanh form is a numerics choice, made for fp16 and bf16 layers only (fp32 layers keep the exact GELU). It differs
/// from the erf form by at most 4.7e-4 in absolute terms (at x ≈ ±2.7; the difference is the same at x and −x). For
/// positive inputs that is under half a unit in the last place wherever |GELU| ≥ 0.25 in fp16 (≥ 0.12 in bf16), i.e.
/// below the rounding that storing the result already makes. For negative inputs GELU is small (≥ −0.17) and the same absolute 4.7e-4 is
/// many fp16 ulps of such a value; what matters there is its size next to the O(1) values the next GEMM sums it with.
/// The GEMM must have no activation and no residual (cuBLASLt's epilogue order relative to its C input is not relied
/// on), its product must be read by the GELU alone and not be an engine output.
/// </remarks>
internal static class FuseGeluIntoGemm
{
    /// <summary>Rewrites <paramref name="p"/> in place; returns how many GELUs were fused.</summary>
    public static int Run(LayerProgram p) => p.RewriteEach(i => TryFuse(p, i));

    private static bool TryFuse(LayerProgram p, int geluIndex)
    {
        var gelu = p.Layers[geluIndex];
        if (gelu.Kind != LayerKind.Unary || gelu.Inputs.Length != 1 || gelu.Outputs.Length != 1) return false;
        if (MemoryMarshal.Read<UnaryParams>(gelu.Params).Op != (int)UnaryOp.Gelu) return false;

        int product = gelu.Inputs[0];
        int root = p.Root(product);
        int gemmIndex = p.Producer(root);
        if (gemmIndex < 0 || gemmIndex >= geluIndex) return false;
        var gemm = p.Layers[gemmIndex];
        if (gemm.Kind != LayerKind.Gemm || gemm.Outputs.Length != 1 || (gemm.Inputs.Length > 3 && gemm.Inputs[3] >= 0)) return false;
        var prm = MemoryMarshal.Read<GemmParams>(gemm.Params);
        if (prm.Act.Kind != 0) return false;

        // A reduced type in and out: the approximation hides under that type's rounding only.
        int output = gelu.Outputs[0];
        var type = p.Tensors[root].DType;
        if (type is not (NativeDType.Float16 or NativeDType.BFloat16) || p.Tensors[output].DType != type) return false;
        if (p.Tensors[root].Role != TensorRole.Activation || p.IsEngineOutput(root) || p.Readers(root) is not [var onlyReader] || onlyReader != geluIndex)
            return false;
        // The GEMM will write the GELU's output tensor in place of its own: same shape, so same GEMM dimensions.
        if (!p.Tensors[root].Shape.SequenceEqual(p.Tensors[output].Shape)) return false;

        prm.Act = new NativeActivation { Kind = (int)UnaryOp.GeluTanh };
        p.Layers[gemmIndex] = new ProgramLayer
        {
            Name = gemm.Name + "+" + gelu.Name, Kind = gemm.Kind, Params = LayerProgram.ParamBytes(prm), Inputs = gemm.Inputs, Outputs = [output],
            Tactic = gemm.Tactic,
        };
        p.Layers.RemoveAt(geluIndex);
        return true;
    }

}
