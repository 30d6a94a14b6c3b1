using TrtNative.Ir;

namespace TrtNative.Compiler;

/// <summary>
/// When a reshape of a value stored in some memory order is a view of the same memory, and in which memory order its
/// output then lies. The lowering keeps values in whatever order their producer wrote (batch-first memory seen
/// sequence-first, NHWC seen NCHW); a reshape that only regroups axes lying next to each other in memory needs no copy
/// in any order, not only in the logical one.
/// </summary>
internal static class ReshapeView
{
    /// <summary>
    /// The memory order of <paramref name="outLogical"/> (physical axis i holds output axis result[i]) when reshaping a
    /// value of logical shape <paramref name="inLogical"/> stored in memory order <paramref name="inPerm"/> moves no
    /// data; null when it would.
    /// </summary>
    /// <remarks>
    /// Size-1 axes are ignored (they may lie anywhere in memory). The other axes of input and output are matched into
    /// runs of equal product (a run-time size only with a multiple of itself: batch·12 splits into batch and 12). A
    /// run whose input axes lie next to each other in memory, in their logical order, is one block: its output axes
    /// take its place in memory, in their logical order. Size-1 output axes go right after their logical predecessor,
    /// so a reshape of a value in logical order stays in logical order.
    /// </remarks>
    public static int[]? Of(Dim[] inLogical, int[] inPerm, Dim[] outLogical)
    {
        if (inLogical.Concat(outLogical).Any(d => d.IsKnown && d.Factor == 0)) return null;
        var ins = NonUnitAxes(inLogical);
        var outs = NonUnitAxes(outLogical);

        // Runs of equal product: (first input, input count, first output, output count) over ins and outs.
        var runs = new List<(int I, int Ni, int O, int No)>();
        int i = 0, o = 0;
        while (i < ins.Count && o < outs.Count)
        {
            int i0 = i, o0 = o;
            Dim pa = inLogical[ins[i++]], pb = outLogical[outs[o++]];
            while (pa != pb)
            {
                if (Smaller(pa, pb) is not { } inSmaller) return null;
                if (inSmaller && i < ins.Count && Dim.Multiply(pa, inLogical[ins[i]]) is { } na) { pa = na; i++; }
                else if (!inSmaller && o < outs.Count && Dim.Multiply(pb, outLogical[outs[o]]) is { } nb) { pb = nb; o++; }
                else return null;
            }
            runs.Add((i0, i - i0, o0, o - o0));
        }
        if (i != ins.Count || o != outs.Count) return null;

        // Memory positions among the input's non-unit axes.
        var memoryOrder = inPerm.Where(ins.Contains).ToList();
        var order = new List<(int Position, int Run)>();
        for (int r = 0; r < runs.Count; r++)
        {
            var (ri, ni, _, _) = runs[r];
            int first = memoryOrder.IndexOf(ins[ri]);
            for (int k = 1; k < ni; k++)
                if (memoryOrder.IndexOf(ins[ri + k]) != first + k) return null;  // a merge of axes apart in memory
            order.Add((first, r));
        }
        var result = new List<int>();
        foreach (var (_, r) in order.OrderBy(e => e.Position))
            for (int k = 0; k < runs[r].No; k++) result.Add(outs[runs[r].O + k]);
        for (int a = 0; a < outLogical.Length; a++)
        {
            if (outs.Contains(a)) continue;
            result.Insert(a == 0 ? 0 : result.IndexOf(a - 1) + 1, a);
        }
        return result.ToArray();
    }

    /// <summary>
    /// Whether a is the smaller of two unequal products; a run-time size counts as larger than any known one (it stands
    /// for the batch, which the reshape must keep whole); null for two different symbols.
    /// </summary>
    private static bool? Smaller(Dim a, Dim b) =>
        a.IsKnown && b.IsKnown ? a.Factor < b.Factor
        : a.IsKnown != b.IsKnown ? a.IsKnown
        : a.Symbol == b.Symbol ? a.Factor < b.Factor
        : null;

    private static List<int> NonUnitAxes(Dim[] shape) =>
        Enumerable.Range(0, shape.Length).Where(a => !(shape[a].IsKnown && shape[a].Value == 1)).ToList();
}
