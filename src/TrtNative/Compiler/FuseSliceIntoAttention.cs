using System.Runtime.InteropServices;
using TrtNative.Interop;
using TrtNative.Ir;

namespace TrtNative.Compiler;

/// <summary>
/// A layer-program pass: an attention input that is a slice copied out of a larger tensor — Q, K and V cut from one
/// packed in-projection, as torch's MultiheadAttention exports them — is read from that tensor where it lies, through
/// the attention's fixed dim (trtn_attention_params.fixed_axis / fixed_index), and the copy goes. ViT-B/16 loses 36
/// copies, each as large as the model's activations.
/// </summary>
/// <remarks>
/// The slice must cut one axis into equal chunks: the copy keeps every other axis whole (no permutation, unit steps,
/// same dtype), and its extent E on the cut axis divides both the axis and the start. The axis of n·E elements is then
/// read as [n, E] with chunk start / E held fixed, and the reshapes the attention sees on the slice (e.g. E = heads ×
/// head dim) carry over to the packed tensor. The slice must be read by this attention alone and be no engine output,
/// and nothing between the copy and the attention may write the packed tensor.
/// </remarks>
internal static class FuseSliceIntoAttention
{
    /// <summary>Rewrites <paramref name="p"/> in place; returns how many copies were removed.</summary>
    public static int Run(LayerProgram p)
    {
        int removed = 0;
        for (int i = 0; i < p.Layers.Count; i++)
        {
            if (p.Layers[i].Kind != LayerKind.Attention) continue;
            for (int k = 0; k < 3; k++)
            {
                if (TryFuse(p, i, k, out bool copyRemoved) && copyRemoved)
                {
                    removed++;
                    i--;  // the copy came before the attention, which is now one place earlier
                }
            }
        }
        return removed;
    }

    private static unsafe bool TryFuse(LayerProgram p, int attentionIndex, int input, out bool copyRemoved)
    {
        copyRemoved = false;
        var att = p.Layers[attentionIndex];
        var prm = MemoryMarshal.Read<AttentionParams>(att.Params);
        if (prm.FixedAxis[input] >= 0) return false;

        int view = att.Inputs[input];
        int slice = p.Root(view);
        int copyIndex = p.Producer(slice);
        if (copyIndex < 0 || copyIndex >= attentionIndex) return false;
        var copy = p.Layers[copyIndex];
        if (copy.Kind != LayerKind.Copy || copy.Inputs.Length != 1 || copy.Outputs is not [var written] || written != slice) return false;
        int packed = copy.Inputs[0];
        if (p.Tensors[packed].DType != p.Tensors[slice].DType) return false;
        if (p.Tensors[slice].Role != TensorRole.Activation || p.IsEngineOutput(slice) || p.Readers(slice).Any(r => r != attentionIndex)) return false;

        var src = p.Tensors[packed].Shape;
        var sliced = p.Tensors[slice].Shape;
        if (CutAxis(copy, src, sliced) is not { } cut) return false;
        int a = cut.Axis;
        long chunk = sliced[a].Value;

        // The attention's view of the slice reshapes it: its leading axes [0, s) must enumerate what comes before the
        // cut axis, the next ones [s, t) the chunk (none for a chunk of 1: torch's index into a stacked Q, K, V).
        var seen = p.Tensors[view].Shape;
        if (seen.Length + 1 > 5 || ChunkAxes(seen, sliced, a) is not { } s) return false;

        // Nothing between the copy and the attention writes the packed tensor.
        int packedRoot = p.Root(packed);
        for (int j = copyIndex + 1; j < attentionIndex; j++)
            if (p.Layers[j].Outputs.Any(o => p.Root(o) == packedRoot)) return false;

        var shape = seen.Take(s).Append(Dim.Of(src[a].Value / chunk)).Concat(seen.Skip(s)).ToArray();
        int alias = p.AddAlias(packed, shape, p.Tensors[slice].Name + ".packed");
        int* perm = input == 0 ? prm.QPerm : input == 1 ? prm.KPerm : prm.VPerm;
        for (int i = 0; i < 4; i++)
            if (perm[i] >= s) perm[i]++;  // the chunk axis is inserted at s
        prm.FixedAxis[input] = s;
        prm.FixedIndex[input] = (int)(cut.Start / chunk);

        var inputs = (int[])att.Inputs.Clone();
        inputs[input] = alias;
        p.Layers[attentionIndex] = new ProgramLayer
        {
            Name = att.Name, Kind = att.Kind, Params = LayerProgram.ParamBytes(prm), Inputs = inputs, Outputs = att.Outputs, Tactic = att.Tactic,
        };
        if (p.Readers(slice).Count == 0)
        {
            p.Layers.RemoveAt(copyIndex);
            copyRemoved = true;
        }
        return true;
    }

    /// <summary>
    /// Where the chunk axis goes in <paramref name="seen"/>, a reshape of <paramref name="sliced"/>: the s whose leading
    /// axes [0, s) hold exactly the elements before the cut axis <paramref name="a"/> and whose following axes hold
    /// the chunk; null when no such s exists (the reshape mixes the chunk with its neighbours).
    /// </summary>
    internal static int? ChunkAxes(Dim[] seen, Dim[] sliced, int a)
    {
        if (sliced[..a].Product() is not { } outer) return null;
        var chunk = sliced[a];
        Dim? prefix = Dim.Of(1);
        for (int s = 0; s <= seen.Length && prefix is { } ps; s++)
        {
            if (ps == outer)
            {
                Dim? run = Dim.Of(1);
                for (int t = s; t <= seen.Length && run is { } pr; t++)
                {
                    if (pr == chunk) return s;
                    if (t < seen.Length) run = Dim.Multiply(pr, seen[t]);
                }
            }
            if (s < seen.Length) prefix = Dim.Multiply(ps, seen[s]);
        }
        return null;
    }

    /// <summary>
    /// The one axis a plain slice copy cuts into equal chunks, and where its chunk starts; null for any other copy
    /// (permutation, strides, several cut axes, a chunk that does not tile the axis).
    /// </summary>
    private static unsafe (int Axis, long Start)? CutAxis(ProgramLayer copy, Dim[] src, Dim[] sliced)
    {
        if (src.Length != sliced.Length) return null;
        var cp = MemoryMarshal.Read<CopyParams>(copy.Params);
        int axis = -1;
        for (int d = 0; d < src.Length; d++)
        {
            if (cp.Perm[d] != d || cp.Step[d] != 1) return null;
            if (cp.Start[d] == 0 && src[d].Equals(sliced[d])) continue;
            if (axis >= 0 || !src[d].IsKnown || !sliced[d].IsKnown) return null;
            axis = d;
        }
        if (axis < 0) return null;
        long n = src[axis].Value, e = sliced[axis].Value, start = cp.Start[axis];
        if (e <= 0 || n % e != 0 || start % e != 0 || start + e > n) return null;
        return (axis, start);
    }
}
