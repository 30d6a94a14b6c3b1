using System.Runtime.InteropServices;
using TrtNative.Interop;

namespace TrtNative.Compiler;

/// <summary>
/// A layer-program pass: an element-wise Add of a GEMM's result and another tensor of the same shape (a transformer's
/// residual connection) becomes the GEMM's residual input, which cuBLASLt adds as its C matrix (beta 1): the sum is
/// written once instead of the product being written, read back and written again.
/// </summary>
/// <remarks>
/// It works on the lowered program, after layouts are decided, so it sees what the GPU will do: the Add must read the
/// GEMM's output storage directly (through reshape aliases only) with no broadcasting, the GEMM must have no
/// activation (act(x) + r is not act(x + r)) and no residual yet, its output must be read by nothing else and not be an
/// engine output, and the other operand must already exist when the GEMM runs.
/// </remarks>
internal static class FuseResidualIntoGemm
{
    /// <summary>Rewrites <paramref name="p"/> in place; returns how many Adds were fused.</summary>
    public static int Run(LayerProgram p)
    {
        int fused = 0;
        for (int i = 0; i < p.Layers.Count; i++)
        {
            var add = p.Layers[i];
            if (!IsPlainAdd(add)) continue;
            for (int k = 0; k < 2; k++)
            {
                if (TryFuse(p, i, add.Inputs[k], add.Inputs[1 - k]))
                {
                    fused++;
                    i--;  // the Add is gone; the layer now at i has not been looked at
                    break;
                }
            }
        }
        return fused;
    }

    private static bool IsPlainAdd(ProgramLayer l)
    {
        if (l.Kind != LayerKind.Binary || l.Inputs.Length != 2 || l.Outputs.Length != 1) return false;
        var prm = MemoryMarshal.Read<BinaryParams>(l.Params);
        return prm.Op == (int)BinaryOp.Add && prm.Act.Kind == 0;
    }

    private static bool TryFuse(LayerProgram p, int addIndex, int product, int residual)
    {
        var add = p.Layers[addIndex];
        int root = p.Root(product);
        int gemmIndex = p.Producer(root);
        if (gemmIndex < 0 || gemmIndex >= addIndex) return false;
        var gemm = p.Layers[gemmIndex];
        if (gemm.Kind != LayerKind.Gemm || gemm.Outputs.Length != 1 || (gemm.Inputs.Length > 3 && gemm.Inputs[3] >= 0)) return false;
        if (MemoryMarshal.Read<GemmParams>(gemm.Params).Act.Kind != 0) return false;

        // The product is read by this Add alone and is no engine output.
        if (p.Tensors[root].Role != TensorRole.Activation || p.IsEngineOutput(root) || p.Readers(root) is not [var onlyReader] || onlyReader != addIndex)
            return false;

        // Same physical shape for the product view, the residual and the sum: a plain element-wise sum.
        var shape = p.Tensors[product].Shape;
        if (!shape.SequenceEqual(p.Tensors[residual].Shape) || !shape.SequenceEqual(p.Tensors[add.Outputs[0]].Shape)) return false;
        if (p.Tensors[residual].DType != p.Tensors[add.Outputs[0]].DType) return false;

        // The residual exists before the GEMM runs, and nothing between the two layers writes it.
        int residualRoot = p.Root(residual);
        int producer = p.Producer(residualRoot);
        if (producer >= gemmIndex) return false;
        for (int j = gemmIndex; j < addIndex; j++)
            if (p.Layers[j].Outputs.Any(o => p.Root(o) == residualRoot)) return false;

        // Inputs past the residual (a folded LayerNorm's scale and shift) stay where they are.
        var inputs = new int[Math.Max(4, gemm.Inputs.Length)];
        for (int j = 0; j < inputs.Length; j++) inputs[j] = j < gemm.Inputs.Length ? gemm.Inputs[j] : -1;
        inputs[3] = residual;
        p.Layers[gemmIndex] = new ProgramLayer
        {
            Name = gemm.Name + "+" + add.Name, Kind = gemm.Kind, Params = gemm.Params, Inputs = inputs, Outputs = [add.Outputs[0]],
            Tactic = gemm.Tactic,
        };
        p.Layers.RemoveAt(addIndex);
        return true;
    }

}
