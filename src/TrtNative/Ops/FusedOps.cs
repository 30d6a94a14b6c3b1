using TrtNative.Ir;

namespace TrtNative.Ops;

/// <summary>
/// The fused ops our passes create (domain <see cref="Node.TrtNativeDomain"/>), with the activation attributes of
/// <see cref="Activation"/>: FusedConv(X, W, B?, R?) = act(conv(X, W) + B + R); FusedGemm(A, B, C?) = act(Gemm);
/// FusedMatMul(A, B, Bias?) = act(MatMul(A, B) + Bias), Bias 1-D over the last dimension; Gelu(X) = the exact (erf)
/// GELU, 0.5·X·(1 + erf(X/√2)), element-wise.
/// </summary>
internal static class FusedOps
{
    public static void Register(OpRegistry r)
    {
        const string d = Node.TrtNativeDomain;
        r.Add("FusedConv", InferFusedConv, ctx => ctx.SetOutput(0, ConvOps.Conv(ctx, ctx.Input(0), ctx.Input(1), ctx.OptionalInput(2), ctx.OptionalInput(3), Act(ctx.Node, ctx.Unsupported))), d);
        r.Add("FusedGemm", ctx => { Act(ctx.Node, ctx.Unsupported); MatrixOps.InferGemm(ctx, fused: true); },
            ctx => ctx.SetOutput(0, MatrixOps.ExecGemm(ctx, ctx.Input(0), ctx.Input(1), ctx.OptionalInput(2), Act(ctx.Node, ctx.Unsupported))), d);
        r.Add("FusedMatMul", InferFusedMatMul, ExecFusedMatMul, d);
        ElementwiseOps.Unary(r, "Gelu", _ => ElementwiseOps.Gelu, domain: d);
    }

    /// <summary>The node's activation; an unknown name is reported as unsupported with the node named.</summary>
    private static Activation Act(Node node, Func<string, Exception> unsupported)
    {
        try { return Activation.FromNode(node); }
        catch (TrtNativeException e) { throw unsupported(e.Message); }
    }

    private static void InferFusedConv(InferenceContext ctx)
    {
        Act(ctx.Node, ctx.Unsupported);
        ConvOps.InferConv(ctx);
        if (ctx.HasInput(3))
        {
            var y = ctx.Outputs[0]!.Shape!;
            var r = ctx.InputShape(3);
            if (r.Length != y.Length || r.Zip(y).Any(p => p.First != p.Second && p.First.IsKnown && p.Second.IsKnown))
                throw ctx.Error($"residual R {r.Format()} must have the output's shape {y.Format()}");
        }
    }

    private static void InferFusedMatMul(InferenceContext ctx)
    {
        Act(ctx.Node, ctx.Unsupported);
        MatrixOps.InferMatMul(ctx);
        if (ctx.HasInput(2))
        {
            var y = ctx.Outputs[0]!.Shape!;
            var b = ctx.InputShape(2);
            if (b.Length != 1 || y.Length == 0 || b[0] != y[^1] && b[0].IsKnown && y[^1].IsKnown)
                throw ctx.Error($"Bias must be 1-D over the last dimension of the result {y.Format()}, got {b.Format()}");
        }
    }

    private static void ExecFusedMatMul(KernelContext ctx)
    {
        var act = Act(ctx.Node, ctx.Unsupported);
        var y = MatrixOps.MatMul(ctx.Input(0), ctx.Input(1));
        var yf = y.Floats!;
        float[]? bias = ctx.OptionalInput(2)?.ToFloats();
        int n = y.Rank == 0 ? 1 : (int)y.Shape[^1];
        if (bias is not null && bias.Length != n) throw ctx.Error($"Bias has {bias.Length} elements, the result's last dimension is {n}");
        if (bias is null && act.Kind == ActivationKind.None) { ctx.SetOutput(0, y); return; }
        int rows = n == 0 ? 0 : yf.Length / n;
        Parallel.For(0, rows, r =>
        {
            var row = yf.AsSpan(r * n, n);
            if (bias is not null) for (int j = 0; j < n; j++) row[j] += bias[j];
            act.Apply(row);
        });
        ctx.SetOutput(0, y);
    }
}
