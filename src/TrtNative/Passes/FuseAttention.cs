using TrtNative.Ir;
using TrtNative.Ops;

namespace TrtNative.Passes;

public static partial class GraphPasses
{
    /// <summary>
    /// Fuses scaled-dot-product attention, O = MatMul(Softmax(MatMul(Qx, KT), last axis), V), into one
    /// <c>trtnative.Attention(Q, K, V)</c> (see <see cref="AttentionOps"/>). A Mul or Div by a scalar constant on
    /// Qx, on KT or on the scores becomes the scale (several multiply); Transposes feeding Qx, KT and V are looked
    /// through into the operands' permutations (KT is read as K: its last two view axes swapped), and a Transpose
    /// reading O becomes the output permutation. The scores, their scaled forms, the softmax and O must each be read
    /// only by the next node of the pattern and not be graph outputs; so must a scaled Qx or KT. Rank 3 or 4, the
    /// same everywhere, leading (batch, head) dims equal without broadcasting. torch's rank-3 form, whose operands
    /// are Reshapes merging batch and heads, is made rank 4 over the unmerged tensors (see SplitMergedHeads).
    /// </summary>
    public static Graph FuseAttention(Graph g, PassLog log)
    {
        const string pass = nameof(FuseAttention);
        g = g.Clone();
        ShapeInference.Run(g);
        foreach (var softmax in g.Nodes.Where(n => n.Domain.Length == 0 && n.OpType == "Softmax").ToList())
        {
            var consumers = g.Consumers();
            var producers = g.Producers();
            if (MatchAttention(g, consumers, producers, softmax) is not { } m) continue;

            var split = SplitMergedHeads(g, producers, m);
            if (split is not null) m = split.Value.Match;
            var fused = new Node("Attention", [m.Q.Source, m.K.Source, m.V.Source], [m.Output], m.Name, Node.TrtNativeDomain)
                .Set("q_perm", m.Q.Perm.Select(a => (long)a).ToArray())
                .Set("k_perm", m.K.Perm.Select(a => (long)a).ToArray())
                .Set("v_perm", m.V.Perm.Select(a => (long)a).ToArray())
                .Set("o_perm", m.OPerm.Select(a => (long)a).ToArray())
                .Set("scale", (float)m.Scale);
            int at = m.Nodes.Max(n => g.Nodes.IndexOf(n));
            g.Nodes[at] = fused;
            if (split is { } sp)
            {
                g.Nodes.InsertRange(at, sp.Before);
                g.Nodes.Insert(g.Nodes.IndexOf(fused) + 1, sp.After);
            }
            foreach (var n in m.Nodes) g.Nodes.Remove(n);
            // Transposes looked through on the way to the sources (and, when the heads were split, the 3-D head
            // reshapes) stay while something else reads them.
            foreach (var t in m.Q.Transposes.Concat(m.K.Transposes).Concat(m.V.Transposes).Concat(split?.Replaced ?? []).Distinct())
                if (!g.IsOutput(t.Outputs[0]) && !g.Nodes.Any(n => n.Inputs.Contains(t.Outputs[0]))) g.Nodes.Remove(t);
            log.Note(pass, $"fused {string.Join(" + ", m.Nodes.Select(n => $"{n.OpType} '{n.Name}'"))} -> {(split is null ? "" : "4-D ")}Attention(q_perm [{string.Join(",", m.Q.Perm)}], " +
                           $"k_perm [{string.Join(",", m.K.Perm)}], v_perm [{string.Join(",", m.V.Perm)}], o_perm [{string.Join(",", m.OPerm)}], scale {m.Scale:G6})");
        }
        return g;
    }

    /// <summary>An attention operand: the tensor it reads and the permutation that views it; the nodes absorbed.</summary>
    private sealed record AttentionOperand(string Source, int[] Perm, double Scale, List<Node> Scalers, List<Node> Transposes);

    private sealed record AttentionMatch(string Name, AttentionOperand Q, AttentionOperand K, AttentionOperand V, int[] OPerm,
        double Scale, string Output, List<Node> Nodes);

    private static AttentionMatch? MatchAttention(Graph g, Dictionary<string, List<Node>> consumers, Dictionary<string, Node> producers, Node softmax)
    {
        var scores = softmax.Input(0);
        var xs = g.Values.GetValueOrDefault(scores)?.Shape;
        if (xs is null || xs.Length is not (3 or 4) || softmax.Outputs.Count != 1) return null;
        int r = xs.Length;
        long axis = softmax.GetInt("axis", g.Opset >= 13 ? -1 : 1);
        if ((axis < 0 ? axis + r : axis) != r - 1) return null;

        // Softmax → MatMul(P, V).
        var p = softmax.Outputs[0];
        if (!GraphEdit.OnlyFeeds(g, consumers, p)) return null;
        var pv = consumers[p][0];
        if (pv.Domain.Length != 0 || pv.OpType != "MatMul" || pv.Input(0) != p || pv.Input(1) == p) return null;
        var nodes = new List<Node> { softmax, pv };

        // Scores: MatMul(Qx, KT), possibly scaled (each step read only by the next).
        double scale = 1;
        string cur = scores;
        Node? qk = null;
        while (GraphEdit.OnlyFeeds(g, consumers, cur) && producers.TryGetValue(cur, out var prod))
        {
            if (ScalarScale(g, prod, cur) is { } s) { scale *= s.Factor; nodes.Add(prod); cur = s.Other; continue; }
            if (prod.Domain.Length == 0 && prod.OpType == "MatMul" && prod.Outputs.Count == 1) qk = prod;
            break;
        }
        if (qk is null) return null;
        nodes.Add(qk);

        if (Operand(g, consumers, producers, qk.Input(0), r, allowScale: true) is not { } q) return null;
        if (Operand(g, consumers, producers, qk.Input(1), r, allowScale: true) is not { } kt) return null;
        if (Operand(g, consumers, producers, pv.Input(1), r, allowScale: false) is not { } v) return null;
        var kPerm = (int[])kt.Perm.Clone();
        (kPerm[r - 2], kPerm[r - 1]) = (kPerm[r - 1], kPerm[r - 2]);
        var k = kt with { Perm = kPerm };

        // The views must fit Q [.., Sq, D], K [.., Skv, D], V [.., Skv, Dv] with equal leading dims: MatMul would
        // broadcast unequal ones, the fused layer does not.
        Dim[]? ViewOf(AttentionOperand o) => g.Values.GetValueOrDefault(o.Source)?.Shape is { } s && s.Length == r ? o.Perm.Select(a => s[a]).ToArray() : null;
        if (ViewOf(q) is not { } qv || ViewOf(k) is not { } kv || ViewOf(v) is not { } vv) return null;
        if (qv[^1] != kv[^1] || kv[^2] != vv[^2]) return null;
        for (int a = 0; a < r - 2; a++) if (qv[a] != kv[a] || qv[a] != vv[a]) return null;
        if (!g.Values.TryGetValue(q.Source, out var qInfo) || !qInfo.Type.IsFloating()
            || new[] { k.Source, v.Source }.Any(s => g.Values.GetValueOrDefault(s)?.Type != qInfo.Type)) return null;

        nodes.AddRange(q.Scalers);
        nodes.AddRange(k.Scalers);
        scale *= q.Scale * k.Scale;

        // O, or a Transpose of it.
        var output = pv.Outputs[0];
        var oPerm = Enumerable.Range(0, r).ToArray();
        if (GraphEdit.OnlyFeeds(g, consumers, output) && consumers[output][0] is { Domain.Length: 0, OpType: "Transpose" } ot
            && TransposePerm(ot, r) is { } t)
        {
            for (int i = 0; i < r; i++) oPerm[t[i]] = i;   // Y dim j is O axis t[j], so O axis t[j] goes to dim j
            output = ot.Outputs[0];
            nodes.Add(ot);
        }
        return new AttentionMatch(softmax.Name, q, k, v, oPerm, scale, output, nodes);
    }

    /// <summary>
    /// torch's nn.MultiheadAttention merges batch and heads: each of Q, K, V is Reshape(X [S, B, E]) to
    /// [S, B·H, D], viewed [B·H, S, D]. When X lives batch-first in memory (as it does on the GPU), no 3-D view of
    /// that reshape exists and the lowering must copy. Reading X reshaped to [S, B, H, D] instead — a view of the
    /// same memory — with the merged axis split in the permutations gives a 4-D attention over the same data; its
    /// [S', B, H, Dv] output is reshaped back for the readers of the 3-D one. Returns the rewritten match with the
    /// new Reshapes (before: the operands', after: the output's), or null when the three operands are not all such
    /// reshapes with the same B and H.
    /// </summary>
    private static (AttentionMatch Match, List<Node> Before, Node After, List<Node> Replaced)? SplitMergedHeads(Graph g, Dictionary<string, Node> producers, AttentionMatch m)
    {
        if (m.Q.Perm.Length != 3 || g.Opset < 5) return null;   // the new Reshapes take their shape as an input
        var outShape = g.Values.GetValueOrDefault(m.Output)?.Shape;
        if (outShape is null) return null;
        var operands = new[] { m.Q, m.K, m.V };
        var merged = new List<(string X, long H, long D)>();
        var replaced = new List<Node>();
        Dim? batch = null;
        foreach (var o in operands)
        {
            // The merged axis is the views' leading one; it must be source dim 1, made of X's dim 1 times H.
            if (o.Perm[0] != 1 || !producers.TryGetValue(o.Source, out var reshape) || reshape.Domain.Length != 0 || reshape.OpType != "Reshape") return null;
            var x = reshape.Input(0);
            Dim[]? xs = g.Values.GetValueOrDefault(x)?.Shape, a = g.Values.GetValueOrDefault(o.Source)?.Shape;
            if (xs is not { Length: 3 } || a is not { Length: 3 } || xs[0] != a[0] || !xs[2].IsKnown || !a[2].IsKnown || a[2].Value <= 0) return null;
            long h = xs[2].Value / a[2].Value;
            if (h < 2 || h * a[2].Value != xs[2].Value || Dim.Multiply(xs[1], Dim.Of(h)) != a[1]) return null;
            if (batch is { } b && (b != xs[1] || merged[0].H != h)) return null;
            batch = xs[1];
            merged.Add((x, h, a[2].Value));
            replaced.Add(reshape);
        }
        // The output's merged axis (where O's leading view axis goes) is split the same way; every other output dim
        // must be written as "copy the input's" (before it) or known (after it) in the Reshape back.
        int jb = m.OPerm[0];
        var back = new long[3];
        for (int j = 0; j < 3; j++)
        {
            if (j < jb) back[j] = 0;
            else if (j == jb) back[j] = -1;
            else if (outShape[j].IsKnown && outShape[j].Value > 0) back[j] = outShape[j].Value;
            else return null;
        }

        int[] Split(int[] perm, int mergedDim) =>
            perm.SelectMany(a => a == mergedDim ? new[] { a, a + 1 } : [a < mergedDim ? a : a + 1]).ToArray();
        var before = new List<Node>();
        var sources = new List<AttentionOperand>();
        var type = g.Values[m.Q.Source].Type;
        for (int k = 0; k < 3; k++)
        {
            var (x, h, d) = merged[k];
            var o = operands[k];
            // The same X for two operands (self-attention on one tensor) is reshaped once.
            var existing = before.FirstOrDefault(n => n.Inputs[0] == x);
            string src;
            if (existing is not null) src = existing.Outputs[0];
            else
            {
                src = GraphEdit.FreshName(g, o.Source + "_heads");
                var shapeName = GraphEdit.FreshName(g, o.Source + "_heads_shape");
                g.Initializers[shapeName] = Tensor.FromInts([0, 0, h, d], [4]);
                g.Values[shapeName] = new ValueInfo(shapeName, DataType.Int64, Shapes.Of(4));
                var xs = g.Values[x].Shape!;
                g.Values[src] = new ValueInfo(src, type, [xs[0], xs[1], Dim.Of(h), Dim.Of(d)]);
                before.Add(new Node("Reshape", [x, shapeName], [src], GraphEdit.FreshName(g, o.Source + "_split_heads")));
            }
            sources.Add(o with { Source = src, Perm = Split(o.Perm, 1) });
        }
        var out4 = GraphEdit.FreshName(g, m.Output + "_heads");
        var backShape = GraphEdit.FreshName(g, m.Output + "_merge_shape");
        g.Initializers[backShape] = Tensor.FromInts(back, [3]);
        g.Values[backShape] = new ValueInfo(backShape, DataType.Int64, Shapes.Of(3));
        var after = new Node("Reshape", [out4, backShape], [m.Output], GraphEdit.FreshName(g, m.Name + "_merge_heads"));
        var oPerm = new[] { jb, jb + 1 }.Concat(m.OPerm.Skip(1).Select(j => j < jb ? j : j + 1)).ToArray();
        return (m with { Q = sources[0], K = sources[1], V = sources[2], OPerm = oPerm, Output = out4 }, before, after, replaced);
    }

    /// <summary>
    /// Walks from <paramref name="value"/> up through Transposes (and, when allowed, Mul/Div by a scalar constant
    /// whose result reaches the operand through values read once) to the tensor the operand really reads; its permutation maps the operand's axes
    /// to that tensor's dims.
    /// </summary>
    private static AttentionOperand? Operand(Graph g, Dictionary<string, List<Node>> consumers, Dictionary<string, Node> producers,
        string value, int rank, bool allowScale)
    {
        var perm = Enumerable.Range(0, rank).ToArray();
        double scale = 1;
        var scalers = new List<Node>();
        var transposes = new List<Node>();
        string cur = value;
        // A scaling is absorbed only while every value from it down to the operand is read by the next node alone:
        // past a Transpose that something else reads, the scaled value must stay.
        bool exclusive = true;
        while (producers.TryGetValue(cur, out var prod))
        {
            exclusive &= GraphEdit.OnlyFeeds(g, consumers, cur);
            if (prod.Domain.Length == 0 && prod.OpType == "Transpose" && TransposePerm(prod, rank) is { } t)
            {
                // Operand axis i is prod's output axis perm[i] = prod's input dim t[perm[i]].
                perm = perm.Select(a => t[a]).ToArray();
                transposes.Add(prod);
                cur = prod.Input(0);
                continue;
            }
            if (allowScale && exclusive && ScalarScale(g, prod, cur) is { } s)
            {
                scale *= s.Factor;
                scalers.Add(prod);
                cur = s.Other;
                continue;
            }
            break;
        }
        if (g.Values.GetValueOrDefault(cur)?.Shape?.Length != rank) return null;
        return new AttentionOperand(cur, perm, scale, scalers, transposes);
    }

    /// <summary>The Transpose's permutation when it has <paramref name="rank"/> axes.</summary>
    private static int[]? TransposePerm(Node t, int rank)
    {
        var p = t.GetInts("perm")?.Select(a => (int)a).ToArray() ?? Enumerable.Range(0, rank).Reverse().ToArray();
        return p.Length == rank && p.Order().SequenceEqual(Enumerable.Range(0, rank)) ? p : null;
    }

    /// <summary>
    /// <paramref name="n"/> as a scaling of its other input: Mul by a one-element float constant (either side),
    /// Div by one (divisor side only). The constant may not raise the rank (a [1,1,1,1] on a 3-D value would).
    /// </summary>
    private static (double Factor, string Other)? ScalarScale(Graph g, Node n, string output)
    {
        if (n.Domain.Length != 0 || n.Inputs.Count != 2 || n.Outputs.Count != 1 || n.Outputs[0] != output) return null;
        int outRank = g.Values.GetValueOrDefault(output)?.Shape?.Length ?? -1;
        (double, string)? Try(int constIndex, bool divide)
        {
            var c = GraphEdit.FloatConstant(g, n.Inputs[constIndex]);
            var other = n.Inputs[1 - constIndex];
            if (c is null || c.Length != 1 || c.Rank > outRank || GraphEdit.Constant(g, other) is not null) return null;
            if (g.Values.GetValueOrDefault(other)?.Shape?.Length != outRank) return null;
            double f = c.Floats![0];
            if (divide && f == 0 || !double.IsFinite(f)) return null;
            return (divide ? 1 / f : f, other);
        }
        return n.OpType switch
        {
            "Mul" => Try(1, false) ?? Try(0, false),
            "Div" => Try(1, true),
            _ => null,
        };
    }
}
