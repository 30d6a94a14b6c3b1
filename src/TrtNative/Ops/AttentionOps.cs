using TrtNative.Ir;

namespace TrtNative.Ops;

/// <summary>
/// <c>trtnative.Attention(Qsrc, Ksrc, Vsrc)</c>: fused scaled-dot-product attention over permuted views of its
/// inputs, made by the FuseAttention pass. Attributes q_perm, k_perm, v_perm, o_perm (ints, one per axis) and scale
/// (float). Each operand is read through its permutation — view axis i is tensor dim perm[i] — giving
/// Q [..., Sq, D], K [..., Skv, D] (not transposed) and V [..., Skv, Dv] with equal leading dims (no broadcasting);
/// O = softmax(scale · Q Kᵀ, over Skv) · V has the view [..., Sq, Dv], and output dim o_perm[i] is O's view axis i.
/// Rank 3 or 4, the same for every operand. The layout is the GPU layer's (TRTN_LAYER_ATTENTION), so the
/// transposes an exporter puts around attention become part of the op instead of copies.
/// </summary>
internal static class AttentionOps
{
    public static void Register(OpRegistry r) => r.Add("Attention", Infer, Execute, Node.TrtNativeDomain);

    /// <summary>The permutation attributes, in input order, then the output's.</summary>
    public static readonly string[] PermAttributes = ["q_perm", "k_perm", "v_perm", "o_perm"];

    /// <summary>The attribute's permutation of <paramref name="rank"/> axes; throws naming the attribute otherwise.</summary>
    public static int[] Perm(Node node, string attr, int rank, Func<string, Exception> error)
    {
        var p = node.GetInts(attr) ?? throw error($"attribute '{attr}' is missing");
        if (p.Length != rank || p.Any(a => a < 0 || a >= rank) || p.Distinct().Count() != rank)
            throw error($"{attr} [{string.Join(",", p)}] is not a permutation of the {rank} axes");
        return p.Select(a => (int)a).ToArray();
    }

    /// <summary>The shape of the output tensor for an O view: dim o_perm[i] is view axis i.</summary>
    public static T[] Unview<T>(T[] view, int[] oPerm)
    {
        var t = new T[view.Length];
        for (int i = 0; i < view.Length; i++) t[oPerm[i]] = view[i];
        return t;
    }

    private static void Infer(InferenceContext ctx)
    {
        if (ctx.InputCount != 3) throw ctx.Error($"needs 3 inputs (Q, K, V), got {ctx.InputCount}");
        var type = ctx.InputType(0);
        if (!type.IsFloating()) throw ctx.Unsupported($"input type {type.OnnxName()} is not supported; Attention takes floating types");
        int r = ctx.InputRank(0);
        if (r is not (3 or 4)) throw ctx.Unsupported($"rank {r} is not supported (3 or 4)");
        var views = new Dim[3][];
        for (int k = 0; k < 3; k++)
        {
            if (ctx.InputType(k) != type) throw ctx.Error($"input {k} is {ctx.InputType(k).OnnxName()}, input 0 is {type.OnnxName()}");
            var s = ctx.InputShape(k);
            if (s.Length != r) throw ctx.Error($"input {k} has rank {s.Length}, input 0 has rank {r}");
            var p = Perm(ctx.Node, PermAttributes[k], r, ctx.Error);
            views[k] = p.Select(a => s[a]).ToArray();
        }
        var oPerm = Perm(ctx.Node, "o_perm", r, ctx.Error);
        if (!ctx.Node.Has("scale")) throw ctx.Error("attribute 'scale' is missing");
        Dim[] q = views[0], k_ = views[1], v = views[2];
        string Views() => $"Q {q.Format()}, K {k_.Format()}, V {v.Format()}";
        if (q[^1] != k_[^1]) throw ctx.Error($"Q and K views differ in the head size: {Views()}");
        if (k_[^2] != v[^2]) throw ctx.Error($"K and V views differ in the key count: {Views()}");
        for (int a = 0; a < r - 2; a++)
            if (q[a] != k_[a] || q[a] != v[a]) throw ctx.Error($"the views' leading dims differ (no broadcasting): {Views()}");
        var o = q[..^1].Append(v[^1]).ToArray();
        ctx.SetOutput(0, type, Unview(o, oPerm));
    }

    /// <summary>Reference kernel: scores in double, a numerically stable softmax, fp32 output.</summary>
    private static void Execute(KernelContext ctx)
    {
        Tensor qt = ctx.Input(0), kt = ctx.Input(1), vt = ctx.Input(2);
        int r = qt.Rank;
        if (r is not (3 or 4) || kt.Rank != r || vt.Rank != r) throw ctx.Unsupported($"ranks {qt.Rank}, {kt.Rank}, {vt.Rank}: Attention takes three tensors of rank 3 or 4");
        var (qs, qst) = View(qt, Perm(ctx.Node, "q_perm", r, ctx.Error));
        var (ks, kst) = View(kt, Perm(ctx.Node, "k_perm", r, ctx.Error));
        var (vs, vst) = View(vt, Perm(ctx.Node, "v_perm", r, ctx.Error));
        var oPerm = Perm(ctx.Node, "o_perm", r, ctx.Error);
        double scale = ctx.Node.GetFloat("scale", float.NaN);
        if (double.IsNaN(scale)) throw ctx.Error("attribute 'scale' is missing");
        long sq = qs[^2], d = qs[^1], skv = ks[^2], dv = vs[^1];
        if (ks[^1] != d || vs[^2] != skv || !qs[..^2].SequenceEqual(ks[..^2]) || !qs[..^2].SequenceEqual(vs[..^2]))
            throw ctx.Error($"views Q {qs.Format()}, K {ks.Format()}, V {vs.Format()} do not fit Q [..,Sq,D], K [..,Skv,D], V [..,Skv,Dv]");

        var os = qs[..^1].Append(dv).ToArray();
        var outShape = Unview(os, oPerm);
        var outStrides = ShapeHelpers.Strides(outShape);
        var ost = oPerm.Select(a => outStrides[a]).ToArray(); // stride of each O view axis in the output
        long lead = ShapeHelpers.Product(qs, 0, r - 2);
        float[] q = qt.ToFloats(), k = kt.ToFloats(), v = vt.ToFloats();
        var y = new float[outShape.ElementCount()];

        Parallel.For(0, lead * sq, row =>
        {
            long l = row / sq, i = row % sq;
            long qo = 0, ko = 0, vo = 0, oo = 0;
            for (int a = r - 3; a >= 0; a--)
            {
                long c = l % qs[a];
                l /= qs[a];
                qo += c * qst[a]; ko += c * kst[a]; vo += c * vst[a]; oo += c * ost[a];
            }
            qo += i * qst[^2];
            oo += i * ost[^2];
            var p = new double[skv];
            double max = double.NegativeInfinity;
            for (long j = 0; j < skv; j++)
            {
                double s = 0;
                long kj = ko + j * kst[^2];
                for (long e = 0; e < d; e++) s += (double)q[qo + e * qst[^1]] * k[kj + e * kst[^1]];
                p[j] = scale * s;
                if (p[j] > max) max = p[j];
            }
            double sum = 0;
            for (long j = 0; j < skv; j++) { p[j] = Math.Exp(p[j] - max); sum += p[j]; }
            var acc = new double[dv];
            for (long j = 0; j < skv; j++)
            {
                double pj = p[j];
                long vj = vo + j * vst[^2];
                for (long e = 0; e < dv; e++) acc[e] += pj * v[vj + e * vst[^1]];
            }
            for (long e = 0; e < dv; e++) y[oo + e * ost[^1]] = (float)(acc[e] / sum);
        });
        ctx.SetOutput(0, Tensor.FromFloats(y, outShape, qt.Type));
    }

    /// <summary>The view's shape and the tensor strides of its axes.</summary>
    private static (long[] Shape, long[] Strides) View(Tensor t, int[] perm)
    {
        var strides = ShapeHelpers.Strides(t.Shape);
        return (perm.Select(a => t.Shape[a]).ToArray(), perm.Select(a => strides[a]).ToArray());
    }
}
