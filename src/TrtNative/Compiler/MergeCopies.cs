using System.Runtime.InteropServices;
using TrtNative.Interop;

namespace TrtNative.Compiler;

/// <summary>
/// A layer-program pass: a copy whose output only feeds another copy becomes one copy. The fp16 engines' input took
/// two (fp32 → fp16, then NCHW → NHWC for the first convolution); the copy kernel converts the dtype and permutes in
/// the same pass, so the intermediate tensor is never written.
/// </summary>
/// <remarks>
/// Both copies must be plain permutations (no slicing, steps 1), and the first one's output must be read by nothing
/// else and be no engine output. When the second reads that output itself (same rank), output axis d of the second
/// copy is its input's dim perm₂[d], which is the first copy's input dim perm₁[perm₂[d]]. When it reads a reshaping
/// alias of it, the second must keep the element order (a dtype conversion: a patch-rows reshape between a layout
/// copy and the fp16 conversion): the first copy then writes the second's output, seen in its own shape.
/// </remarks>
internal static class MergeCopies
{
    /// <summary>Rewrites <paramref name="p"/> in place; returns how many copies were removed.</summary>
    public static int Run(LayerProgram p) => p.RewriteEach(i => TryMerge(p, i));

    private static unsafe bool TryMerge(LayerProgram p, int secondIndex)
    {
        var second = p.Layers[secondIndex];
        if (second.Kind != LayerKind.Copy || second.Inputs is not [var read]) return false;
        int mid = p.Root(read);
        bool throughAlias = read != mid;
        int firstIndex = p.Producer(mid);
        if (firstIndex < 0 || firstIndex >= secondIndex) return false;
        var first = p.Layers[firstIndex];
        if (first.Kind != LayerKind.Copy || first.Inputs.Length != 1 || first.Outputs is not [var written] || written != mid) return false;
        if (p.Tensors[mid].Role != TensorRole.Activation || p.IsEngineOutput(mid) || p.Readers(mid) is not [var only] || only != secondIndex) return false;

        int rank = p.Tensors[mid].Shape.Length, readRank = p.Tensors[read].Shape.Length;
        if (p.Tensors[first.Inputs[0]].Shape.Length != rank || p.Tensors[second.Outputs[0]].Shape.Length != readRank) return false;
        var a = MemoryMarshal.Read<CopyParams>(first.Params);
        var b = MemoryMarshal.Read<CopyParams>(second.Params);
        if (!IsPlainPermutation(a, rank) || !IsPlainPermutation(b, readRank)) return false;
        // Through an alias the second copy must move every element where it lies (a dtype conversion): a prefix slice
        // (start 0, step 1, a smaller output) would otherwise make the merged copy write mid's whole extent into it.
        if (throughAlias && (!IsIdentity(b, readRank) || !p.Tensors[second.Outputs[0]].Shape.SequenceEqual(p.Tensors[read].Shape))) return false;

        // The first copy's input must not change between the two copies.
        int source = p.Root(first.Inputs[0]);
        for (int j = firstIndex + 1; j < secondIndex; j++)
            if (p.Layers[j].Outputs.Any(o => p.Root(o) == source)) return false;

        var merged = new CopyParams();
        for (int d = 0; d < rank; d++)
        {
            merged.Perm[d] = throughAlias ? a.Perm[d] : a.Perm[b.Perm[d]];
            merged.Step[d] = 1;
        }
        int[] outputs = throughAlias ? [p.AddAlias(second.Outputs[0], p.Tensors[mid].Shape, p.Tensors[second.Outputs[0]].Name + ".as_written")] : second.Outputs;
        p.Layers[secondIndex] = new ProgramLayer
        {
            Name = second.Name, Kind = LayerKind.Copy, Params = LayerProgram.ParamBytes(merged), Inputs = first.Inputs, Outputs = outputs,
            Tactic = second.Tactic,
        };
        p.Layers.RemoveAt(firstIndex);
        return true;
    }

    private static unsafe bool IsIdentity(CopyParams c, int rank)
    {
        for (int d = 0; d < rank; d++)
            if (c.Perm[d] != d) return false;
        return true;
    }

    private static unsafe bool IsPlainPermutation(CopyParams c, int rank)
    {
        for (int d = 0; d < rank; d++)
            if (c.Start[d] != 0 || c.Step[d] != 1 || c.Perm[d] < 0 || c.Perm[d] >= rank) return false;
        return true;
    }
}
