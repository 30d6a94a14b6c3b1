using TrtNative.Ir;

namespace TrtNative.Passes;

public static partial class GraphPasses
{
    private static bool IsReshapeLike(Node n) =>
        n.Domain.Length == 0 && n.OpType is "Reshape" or "Flatten" or "Squeeze" or "Unsqueeze" && n.Outputs.Count == 1;

    /// <summary>
    /// Collapses chains of Reshape / Flatten / Squeeze / Unsqueeze (each intermediate read only by the next and not
    /// a graph output) into one Reshape with a constant target, when the final shape is fully known or can be
    /// written with Reshape's 0 (copy the input dimension) and −1 (infer one dimension); then removes every such node
    /// whose output shape equals its input shape (inferred shapes, symbolic dimensions compared exactly).
    /// </summary>
    public static Graph RemoveNoOpReshapes(Graph g, PassLog log)
    {
        const string pass = nameof(RemoveNoOpReshapes);
        g = g.Clone();
        ShapeInference.Run(g);

        var consumers = g.Consumers();
        for (int i = 0; i < g.Nodes.Count; i++)
        {
            var second = g.Nodes[i];
            if (!IsReshapeLike(second)) continue;
            var mid = second.Input(0);
            var first = g.Nodes.Take(i).LastOrDefault(n => n.Outputs.Contains(mid));
            if (first is null || !IsReshapeLike(first) || !GraphEdit.OnlyFeeds(g, consumers, mid, second)) continue;
            var x = first.Input(0);
            var xs = g.Values.GetValueOrDefault(x)?.Shape;
            var zs = g.Values.GetValueOrDefault(second.Outputs[0])?.Shape;
            if (xs is null || zs is null || ReshapeTarget(xs, zs) is not { } target) continue;

            var merged = new Node("Reshape", [x], second.Outputs, second.Name);
            if (g.Opset < 5) merged.Set("shape", target);
            else
            {
                var tName = GraphEdit.FreshName(g, $"{second.Name}_shape");
                g.Initializers[tName] = Tensor.FromInts(target, [target.Length]);
                g.Values[tName] = new ValueInfo(tName, DataType.Int64, Shapes.Of(target.Length));
                merged.Inputs.Add(tName);
            }
            g.Nodes[i] = merged;
            g.Nodes.Remove(first);
            i--;
            consumers = g.Consumers();
            log.Note(pass, $"collapsed {first.OpType} '{first.Name}' + {second.OpType} '{second.Name}' -> Reshape {xs.Format()} -> {zs.Format()} (target [{string.Join(",", target)}])");
        }

        foreach (var n in g.Nodes.Where(IsReshapeLike).ToList())
        {
            var xs = g.Values.GetValueOrDefault(n.Input(0))?.Shape;
            var ys = g.Values.GetValueOrDefault(n.Outputs[0])?.Shape;
            if (xs is null || ys is null || !xs.SequenceEqual(ys)) continue;
            if (GraphEdit.Bypass(g, n, n.Input(0), n.Outputs[0]))
                log.Note(pass, $"removed {n.OpType} '{n.Name}': output shape {ys.Format()} equals its input's");
        }
        return g;
    }

    /// <summary>
    /// A Reshape target turning shape <paramref name="from"/> into <paramref name="to"/>: known sizes as they are,
    /// a symbolic size equal to the input's at the same position as 0, at most one other symbolic size as −1.
    /// Null when that is not enough (or a size is 0, which 0 would misread).
    /// </summary>
    private static long[]? ReshapeTarget(Dim[] from, Dim[] to)
    {
        var target = new long[to.Length];
        int inferred = 0;
        for (int d = 0; d < to.Length; d++)
        {
            if (to[d].IsKnown)
            {
                if (to[d].Value <= 0) return null;
                target[d] = to[d].Value;
            }
            else if (d < from.Length && from[d] == to[d]) target[d] = 0;
            else { target[d] = -1; inferred++; }
        }
        return inferred <= 1 ? target : null;
    }
}
