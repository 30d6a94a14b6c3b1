using TrtNative.Ir;

namespace TrtNative.Ops;

/// <summary>
/// MaxPool (ceil_mode, dilations, pads, auto_pad, optional Indices output with storage_order), AveragePool
/// (count_include_pad, ceil_mode, pads, auto_pad, dilations), GlobalAveragePool, GlobalMaxPool; 1-D to 3-D.
/// </summary>
internal static class PoolOps
{
    public static void Register(OpRegistry r)
    {
        r.Add("MaxPool", ctx => InferPool(ctx, max: true), ctx => ExecPool(ctx, max: true));
        r.Add("AveragePool", ctx => InferPool(ctx, max: false), ctx => ExecPool(ctx, max: false));
        r.Add("GlobalAveragePool", InferGlobal, ctx => ExecGlobal(ctx, max: false));
        r.Add("GlobalMaxPool", InferGlobal, ctx => ExecGlobal(ctx, max: true));
    }

    private static Window Geometry(Node node, int opset, long[] spatial, Func<string, Exception> error)
    {
        bool ceil = opset >= 10 && node.GetInt("ceil_mode", 0) != 0;
        if (node.Has("dilations") && opset < 10) throw error("dilations are not part of this op before opset 10");
        return Window.Compute(node, spatial, null, ceil, error);
    }

    private static void InferPool(InferenceContext ctx, bool max)
    {
        var t = ctx.InputType(0);
        bool intOk = max && t is DataType.Int8 or DataType.UInt8;
        if (!t.IsFloating() && !intOk) throw ctx.Unsupported($"input type {t.OnnxName()} is not supported; {ctx.Node.OpType} takes floating types{(max ? ", int8 and uint8" : "")}");
        var x = ctx.InputShape(0);
        if (x.Length < 3) throw ctx.Error($"X must have rank ≥ 3 (N, C, spatial...), got {x.Format()}");
        var spatial = x[2..];
        if (!spatial.IsKnown()) throw ctx.Unsupported($"spatial dimensions of X {x.Format()} must be known at build time (only N and C may be symbolic)");
        var g = Geometry(ctx.Node, ctx.Opset, spatial.Values(), ctx.Error);
        if (!max && ctx.Opset < 19 && ctx.Node.Has("dilations")) throw ctx.Unsupported("AveragePool dilations are part of opset 19 and later");
        Dim[] shape = [x[0], x[1], .. g.Out.Select(Dim.Of)];
        ctx.SetOutput(0, t, shape);
        if (max && ctx.Node.Outputs.Count > 1 && ctx.Node.Outputs[1].Length > 0)
        {
            if (ctx.Opset < 8) throw ctx.Unsupported("the Indices output needs opset 8 or later");
            ctx.SetOutput(1, DataType.Int64, shape);
        }
    }

    private static void ExecPool(KernelContext ctx, bool max)
    {
        var x = ctx.Input(0);
        if (x.Rank < 3) throw ctx.Error($"X must have rank ≥ 3, got {x.Shape.Format()}");
        var inSp = x.Shape[2..];
        var g = Geometry(ctx.Node, ctx.Opset, inSp, ctx.Error);
        bool includePad = ctx.Node.GetInt("count_include_pad", 0) != 0;
        bool columnMajor = ctx.Node.GetInt("storage_order", 0) != 0;
        bool wantIndices = max && ctx.WantsOutput(1);
        int rank = inSp.Length;
        int n = (int)x.Shape[0], c = (int)x.Shape[1];
        long inSize = inSp.ElementCount(), outSize = g.Out.ElementCount(), kSize = g.Kernel.ElementCount();
        var xf = x.ToFloats();
        var y = new float[n * c * outSize];
        var idx = wantIndices ? new long[y.Length] : null;
        // Column-major strides of the spatial dims (storage_order = 1 indices).
        var colStride = new long[rank];
        for (long s = 1, d = 0; d < rank; d++) { colStride[d] = s; s *= inSp[d]; }

        Parallel.For(0, n * c, bc =>
        {
            Span<long> o = stackalloc long[rank];
            Span<long> k = stackalloc long[rank];
            long xOff = bc * inSize, yOff = bc * outSize;
            for (long q = 0; q < outSize; q++)
            {
                long r = q;
                for (int d = rank - 1; d >= 0; d--) { o[d] = r % g.Out[d]; r /= g.Out[d]; }
                float best = float.NegativeInfinity;
                long bestAt = -1;
                double sum = 0;
                long count = 0, padCount = 0;
                for (long kk = 0; kk < kSize; kk++)
                {
                    long rk = kk;
                    for (int d = rank - 1; d >= 0; d--) { k[d] = rk % g.Kernel[d]; rk /= g.Kernel[d]; }
                    long off = 0, colOff = 0;
                    bool inside = true, inPadded = true;
                    for (int d = 0; d < rank; d++)
                    {
                        long i = o[d] * g.Strides[d] + k[d] * g.Dilations[d] - g.PadsBegin[d];
                        if (i < -g.PadsBegin[d] || i >= inSp[d] + g.PadsEnd[d]) inPadded = false;
                        if (i < 0 || i >= inSp[d]) { inside = false; continue; }
                        off = off * inSp[d] + i;
                        colOff += i * colStride[d];
                    }
                    if (inPadded) padCount++;
                    if (!inside) continue;
                    float v = xf[xOff + off];
                    if (max) { if (v > best || bestAt < 0) { best = v; bestAt = columnMajor ? colOff : off; } }
                    else { sum += v; count++; }
                }
                if (max)
                {
                    y[yOff + q] = best;
                    if (idx is not null) idx[yOff + q] = xOff + bestAt;
                }
                else
                {
                    long div = includePad ? padCount : count;
                    y[yOff + q] = div == 0 ? 0 : (float)(sum / div);
                }
            }
        });

        var yShape = new long[] { n, c }.Concat(g.Out).ToArray();
        ctx.SetOutput(0, x.Type.IsFloating() ? Tensor.FromFloats(y, yShape, x.Type)
            : Tensor.FromInts(y.Select(v => (long)v).ToArray(), yShape, x.Type));
        if (idx is not null) ctx.SetOutput(1, Tensor.FromInts(idx, yShape));
    }

    private static void InferGlobal(InferenceContext ctx)
    {
        var t = ctx.InputType(0);
        if (!t.IsFloating()) throw ctx.Unsupported($"input type {t.OnnxName()} is not supported; {ctx.Node.OpType} takes floating types");
        var x = ctx.InputShape(0);
        if (x.Length < 3) throw ctx.Error($"X must have rank ≥ 3 (N, C, spatial...), got {x.Format()}");
        ctx.SetOutput(0, t, [x[0], x[1], .. Enumerable.Repeat(Dim.Of(1), x.Length - 2)]);
    }

    private static void ExecGlobal(KernelContext ctx, bool max)
    {
        var x = ctx.Input(0);
        if (x.Rank < 3) throw ctx.Error($"X must have rank ≥ 3, got {x.Shape.Format()}");
        long nc = x.Shape[0] * x.Shape[1], inner = x.Shape[2..].ElementCount();
        var xf = x.Floats!;
        var y = new float[nc];
        for (long i = 0; i < nc; i++)
        {
            var s = xf.AsSpan((int)(i * inner), (int)inner);
            if (max)
            {
                float m = float.NegativeInfinity;
                foreach (var v in s) if (v > m) m = v;
                y[i] = m;
            }
            else
            {
                double sum = 0;
                foreach (var v in s) sum += v;
                y[i] = (float)(sum / inner);
            }
        }
        var shape = new long[x.Rank];
        Array.Fill(shape, 1L);
        shape[0] = x.Shape[0];
        shape[1] = x.Shape[1];
        ctx.SetOutput(0, Tensor.FromFloats(y, shape, x.Type));
    }
}
