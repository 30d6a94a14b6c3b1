using TrtNative.Ir;

namespace TrtNative.Passes;

public static partial class GraphPasses
{
    /// <summary>
    /// Rewrites Reshape → Transpose → Reshape, where the first Reshape merges axes that the second splits apart again,
    /// as one Reshape that only splits and one Transpose. torch 2 exports nn.MultiheadAttention's heads that way:
    /// X [S, B, E] → [S, B·H, D] → transposed [B·H, S, D] → [B, H, S, D]; the same data is X → [S, B, H, D] transposed
    /// (1, 2, 0, 3). A split is a view of any memory order and a transpose is a permutation, so the lowering needs no
    /// copy, where merging B and H needs X sequence-first in memory (on the GPU, ViT's first encoder layer has it
    /// batch-first and paid three copies for each of Q, K and V).
    /// </summary>
    /// <remarks>
    /// The two Reshapes' shapes must be known as far as the rewrite needs: every axis of X and of the first Reshape's
    /// output is cut into the coarsest common pieces (a run-time size only as a multiple of itself: B·H is B then H),
    /// and the final shape must be exactly those pieces in the transposed order, no size-1 axes, nothing merged. The
    /// intermediate values must be read only by the chain. A piece that is a run-time size is written 0 (copy) in the
    /// new Reshape's shape where it is X's axis at the same index, else -1 (once).
    /// </remarks>
    public static Graph SplitBeforeTranspose(Graph g, PassLog log)
    {
        const string pass = nameof(SplitBeforeTranspose);
        if (g.Opset < 5) return g.Clone();  // the new Reshape takes its shape as an input (opset 5 on)
        g = g.Clone();
        ShapeInference.Run(g);
        foreach (var last in g.Nodes.Where(n => n.Domain.Length == 0 && n.OpType == "Reshape").ToList())
        {
            var producers = g.Producers();
            var consumers = g.Consumers();
            if (!producers.TryGetValue(last.Input(0), out var t) || t.Domain.Length != 0 || t.OpType != "Transpose") continue;
            if (!producers.TryGetValue(t.Input(0), out var first) || first.Domain.Length != 0 || first.OpType != "Reshape") continue;
            if (!GraphEdit.OnlyFeeds(g, consumers, t.Outputs[0], last) || !GraphEdit.OnlyFeeds(g, consumers, first.Outputs[0], t)) continue;
            Dim[]? x = g.Values.GetValueOrDefault(first.Input(0))?.Shape, a = g.Values.GetValueOrDefault(first.Outputs[0])?.Shape,
                y = g.Values.GetValueOrDefault(last.Outputs[0])?.Shape;
            if (x is null || a is null || y is null || TransposePerm(t, a.Length) is not { } perm) continue;
            if (x.Concat(a).Concat(y).Any(d => d.IsKnown && d.Factor <= 1)) continue;  // size-1 (or empty) axes: not this pattern
            if (CommonPieces(x, a) is not { } cut || cut.Pieces.Count == a.Length) continue;  // nothing merged: nothing to gain

            // The pieces in the transposed order, and the permutation that puts them there.
            var order = perm.SelectMany(axis => cut.Of2[axis]).ToArray();
            if (!order.Select(k => cut.Pieces[k]).SequenceEqual(y)) continue;
            if (SplitShape(x, cut.Pieces, cut.Of1) is not { } shape) continue;

            string split = GraphEdit.FreshName(g, first.Outputs[0] + "_split");
            string shapeName = GraphEdit.FreshName(g, first.Outputs[0] + "_split_shape");
            g.Initializers[shapeName] = Tensor.FromInts(shape, [shape.Length]);
            var reshape = new Node("Reshape", [first.Input(0), shapeName], [split], GraphEdit.FreshName(g, first.Name + "_split"));
            var transpose = new Node("Transpose", [split], [last.Outputs[0]], GraphEdit.FreshName(g, t.Name + "_pieces"))
                .Set("perm", order.Select(k => (long)k).ToArray());
            int at = g.Nodes.IndexOf(last);
            g.Nodes[at] = transpose;
            g.Nodes.Insert(at, reshape);
            g.Nodes.Remove(t);
            g.Nodes.Remove(first);
            log.Note(pass, $"Reshape '{first.Name}' {a.Format()} → Transpose '{t.Name}' → Reshape '{last.Name}' {y.Format()} -> " +
                           $"Reshape {cut.Pieces.Format()} (splits only) → Transpose [{string.Join(",", order)}]");
        }
        ShapeInference.Run(g);
        return g;
    }

    /// <summary>
    /// The coarsest pieces both <paramref name="s1"/> and <paramref name="s2"/> (shapes of equal element count, no
    /// size-1 axes) are cut into, in row-major order, with the pieces of each axis of each; null when a cut would need
    /// an unknown quotient (two run-time sizes, or a known size that does not divide).
    /// </summary>
    internal static (List<Dim> Pieces, List<int>[] Of1, List<int>[] Of2)? CommonPieces(Dim[] s1, Dim[] s2)
    {
        var pieces = new List<Dim>();
        var of1 = s1.Select(_ => new List<int>()).ToArray();
        var of2 = s2.Select(_ => new List<int>()).ToArray();
        int i = 0, j = 0;
        if (s1.Length == 0 || s2.Length == 0) return null;
        Dim p = s1[0], q = s2[0];
        while (true)
        {
            of1[i].Add(pieces.Count);
            of2[j].Add(pieces.Count);
            if (p == q)
            {
                pieces.Add(p);
                i++;
                j++;
                if (i == s1.Length || j == s2.Length) return i == s1.Length && j == s2.Length ? (pieces, of1, of2) : null;
                p = s1[i];
                q = s2[j];
            }
            else if (Dim.Divide(q, p) is { } restQ)
            {
                pieces.Add(p);
                if (++i == s1.Length) return null;
                p = s1[i];
                q = restQ;
            }
            else if (Dim.Divide(p, q) is { } restP)
            {
                pieces.Add(q);
                if (++j == s2.Length) return null;
                q = s2[j];
                p = restP;
            }
            else return null;
        }
    }

    /// <summary>The new Reshape's shape constant for <paramref name="pieces"/> of <paramref name="x"/>; null when it cannot be written.</summary>
    private static long[]? SplitShape(Dim[] x, List<Dim> pieces, List<int>[] ofX)
    {
        var shape = new long[pieces.Count];
        bool inferred = false;
        for (int k = 0; k < pieces.Count; k++)
        {
            if (pieces[k].IsKnown) shape[k] = pieces[k].Value;
            else if (k < x.Length && x[k] == pieces[k] && ofX[k] is [var only] && only == k) shape[k] = 0;
            else if (!inferred) { shape[k] = -1; inferred = true; }
            else return null;
        }
        return shape;
    }
}
