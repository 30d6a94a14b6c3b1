using TrtNative.Ir;

namespace TrtNative.Ops;

/// <summary>
/// Conv (1-D, 2-D, 3-D; groups, depthwise, dilations, strides, pads, auto_pad; kernel_shape taken from W).
/// The kernel is im2col + <see cref="Sgemm"/> per image and group; depthwise convolutions use direct loops.
/// </summary>
internal static class ConvOps
{
    public static void Register(OpRegistry r)
    {
        r.Add("Conv", InferConv, ctx => ctx.SetOutput(0, Conv(ctx, ctx.Input(0), ctx.Input(1), ctx.OptionalInput(2), null, Activation.None)));
        r.Add("ConvTranspose", InferConvTranspose, ExecConvTranspose);
    }

    // ---------------------------------------------------------------- ConvTranspose

    /// <summary>Geometry of a transposed convolution: begin pads and output size per spatial dim (ONNX's formulas).</summary>
    private static (long[] Kernel, long[] Strides, long[] Dil, long[] PadBegin, long[] Out) TransposeGeometry(Node node, long[] input, long[] kernel, Func<string, Exception> error)
    {
        int rank = input.Length;
        var ks = node.GetInts("kernel_shape");
        if (ks is not null && !ks.SequenceEqual(kernel)) throw error($"kernel_shape [{string.Join(",", ks)}] does not match W's spatial shape {kernel.Format()}");
        long[] Attr(string name, long fill, int count)
        {
            var v = node.GetInts(name) ?? Enumerable.Repeat(fill, count).ToArray();
            if (v.Length != count) throw error($"{name} has {v.Length} values, expected {count}");
            return v;
        }
        var strides = Attr("strides", 1, rank);
        var dil = Attr("dilations", 1, rank);
        var outPad = Attr("output_padding", 0, rank);
        var pads = Attr("pads", 0, 2 * rank);
        var outputShape = node.GetInts("output_shape");
        var autoPad = node.GetString("auto_pad", "NOTSET");
        if (autoPad is not ("NOTSET" or "" or "VALID" or "SAME_UPPER" or "SAME_LOWER"))
            throw error($"auto_pad '{autoPad}' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID");
        if (outputShape is not null && outputShape.Length == rank + 2) outputShape = outputShape[2..];
        if (outputShape is not null && outputShape.Length != rank) throw error($"output_shape has {outputShape.Length} values, expected {rank}");
        if (outputShape is null && autoPad is "SAME_UPPER" or "SAME_LOWER") outputShape = input.Select((v, d) => v * strides[d]).ToArray();
        var pb = new long[rank];
        var output = new long[rank];
        for (int d = 0; d < rank; d++)
        {
            long full = strides[d] * (input[d] - 1) + outPad[d] + (kernel[d] - 1) * dil[d] + 1;
            if (outputShape is not null)
            {
                // Floor division, as ONNX's reference: a negative total (output_shape larger than the full result)
                // extends the end with zeros.
                long total = full - outputShape[d], half = (long)Math.Floor(total / 2.0);
                pb[d] = autoPad == "SAME_UPPER" ? half : total - half;
                output[d] = outputShape[d];
            }
            else
            {
                if (autoPad != "VALID") pb[d] = pads[d];
                output[d] = autoPad == "VALID" ? full : full - pads[d] - pads[d + rank];
            }
            if (output[d] < 1) throw error($"the output size in spatial dimension {d} would be {output[d]}");
        }
        return (kernel, strides, dil, pb, output);
    }

    private static void InferConvTranspose(InferenceContext ctx)
    {
        var tx = ctx.InputType(0);
        if (!tx.IsFloating()) throw ctx.Unsupported($"input type {tx.OnnxName()} is not supported; ConvTranspose takes floating types");
        var x = ctx.InputShape(0);
        var w = ctx.InputShape(1);
        if (x.Length < 3 || w.Length != x.Length) throw ctx.Error($"X {x.Format()} and W {w.Format()} must have equal rank ≥ 3");
        if (!w.IsKnown()) throw ctx.Unsupported($"W's shape {w.Format()} must be known at build time");
        long group = ctx.Node.GetInt("group", 1);
        if (x[1].IsKnown && x[1].Value != w[0].Value) throw ctx.Error($"X has {x[1]} channels, W {w.Format()} expects {w[0]}");
        if (group < 1 || w[0].Value % group != 0) throw ctx.Error($"group={group} must divide the {w[0]} input channels");
        long m = w[1].Value * group;
        if (ctx.HasInput(2) && ctx.InputShape(2) is var b && (b.Length != 1 || b[0].IsKnown && b[0].Value != m))
            throw ctx.Error($"B must be [{m}], got {b.Format()}");
        var spatial = x[2..];
        if (!spatial.IsKnown()) throw ctx.Unsupported($"spatial dimensions of X {x.Format()} must be known at build time");
        var g = TransposeGeometry(ctx.Node, spatial.Values(), w[2..].Values(), ctx.Error);
        ctx.SetOutput(0, tx, [x[0], Dim.Of(m), .. g.Out.Select(Dim.Of)]);
    }

    private static void ExecConvTranspose(KernelContext ctx)
    {
        var x = ctx.Input(0);
        var w = ctx.Input(1);
        var bias = ctx.OptionalInput(2)?.ToFloats();
        int group = (int)ctx.Node.GetInt("group", 1);
        int n = (int)x.Shape[0], c = (int)x.Shape[1], cg = c / group, mg = (int)w.Shape[1], m = mg * group;
        if (w.Shape[0] != c || c % group != 0) throw ctx.Error($"X {x.Shape.Format()}, W {w.Shape.Format()} and group={group} do not agree");
        var inSp = x.Shape[2..];
        var (kernel, strides, dil, pb, outSp) = TransposeGeometry(ctx.Node, inSp, w.Shape[2..], ctx.Error);
        int rank = inSp.Length;
        long inSize = inSp.ElementCount(), outSize = outSp.ElementCount(), kSize = kernel.ElementCount();
        int rows = (int)(mg * kSize);
        var xf = x.ToFloats();
        var wf = w.ToFloats();
        var y = new float[n * m * outSize];
        var cols = new float[rows * inSize];
        for (int gi = 0; gi < group; gi++)
        {
            // W_g is [cg, mg·k]; the columns are W_gᵀ · X_g.
            var wt = MatrixOps.Transpose(wf.AsSpan((int)(gi * cg * (long)rows), cg * rows).ToArray(), cg, rows);
            for (int b = 0; b < n; b++)
            {
                Sgemm.Multiply(rows, (int)inSize, cg, wt, cg, xf.AsSpan((int)((b * (long)c + gi * cg) * inSize)), (int)inSize, cols, (int)inSize, accumulate: false);
                int yBase = (int)((b * (long)m + gi * mg) * outSize);
                Parallel.For(0, mg, oc =>
                {
                    Span<long> kk = stackalloc long[rank];
                    Span<long> ii = stackalloc long[rank];
                    for (long k = 0; k < kSize; k++)
                    {
                        long rk = k;
                        for (int d = rank - 1; d >= 0; d--) { kk[d] = rk % kernel[d]; rk /= kernel[d]; }
                        var src = cols.AsSpan((int)((oc * kSize + k) * inSize), (int)inSize);
                        for (long q = 0; q < inSize; q++)
                        {
                            long rq = q;
                            for (int d = rank - 1; d >= 0; d--) { ii[d] = rq % inSp[d]; rq /= inSp[d]; }
                            long off = 0;
                            bool inside = true;
                            for (int d = 0; d < rank; d++)
                            {
                                long o = ii[d] * strides[d] + kk[d] * dil[d] - pb[d];
                                if (o < 0 || o >= outSp[d]) { inside = false; break; }
                                off = off * outSp[d] + o;
                            }
                            if (inside) y[yBase + oc * outSize + off] += src[(int)q];
                        }
                    }
                });
            }
        }
        if (bias is not null)
            for (long bm = 0; bm < n * (long)m; bm++)
                for (long i = 0; i < outSize; i++) y[bm * outSize + i] += bias[bm % m];
        ctx.SetOutput(0, Tensor.FromFloats(y, new long[] { n, m }.Concat(outSp).ToArray(), x.Type));
    }

    /// <summary>Shape function shared with trtnative.FusedConv.</summary>
    internal static void InferConv(InferenceContext ctx)
    {
        var tx = ctx.InputType(0);
        if (!tx.IsFloating()) throw ctx.Unsupported($"input type {tx.OnnxName()} is not supported; Conv takes floating types");
        var x = ctx.InputShape(0);
        var w = ctx.InputShape(1);
        if (x.Length < 3) throw ctx.Error($"X must have rank ≥ 3 (N, C, spatial...), got {x.Format()}");
        if (w.Length != x.Length) throw ctx.Error($"W {w.Format()} must have the rank of X {x.Format()}");
        if (!w.IsKnown()) throw ctx.Unsupported($"W's shape {w.Format()} must be known at build time");
        long group = ctx.Node.GetInt("group", 1);
        long m = w[0].Value, cg = w[1].Value;
        if (group < 1 || m % group != 0) throw ctx.Error($"group={group} must divide the {m} output channels of W");
        if (x[1].IsKnown && x[1].Value != cg * group)
            throw ctx.Error($"X has {x[1]} channels but W {w.Format()} with group={group} expects {cg * group}");
        if (ctx.HasInput(2))
        {
            var b = ctx.InputShape(2);
            if (b.Length != 1 || b[0].IsKnown && b[0].Value != m) throw ctx.Error($"B must be [{m}], got {b.Format()}");
        }
        var spatial = x[2..];
        if (!spatial.IsKnown()) throw ctx.Unsupported($"spatial dimensions of X {x.Format()} must be known at build time (only the batch may be symbolic)");
        var kernel = w[2..].Values();
        var g = Window.Compute(ctx.Node, spatial.Values(), kernel, ceilMode: false, ctx.Error);
        ctx.SetOutput(0, tx, [x[0], Dim.Of(m), .. g.Out.Select(Dim.Of)]);
    }

    /// <summary>Y = act(conv(X, W) + B + R), R (optional) of Y's shape. Shared with trtnative.FusedConv.</summary>
    internal static Tensor Conv(KernelContext ctx, Tensor x, Tensor w, Tensor? bias, Tensor? residual, Activation act)
    {
        if (x.Rank < 3 || w.Rank != x.Rank) throw ctx.Error($"X {x.Shape.Format()} and W {w.Shape.Format()} must have equal rank ≥ 3");
        int group = (int)ctx.Node.GetInt("group", 1);
        int n = (int)x.Shape[0], c = (int)x.Shape[1], m = (int)w.Shape[0], cg = (int)w.Shape[1];
        if (c != cg * group || m % group != 0) throw ctx.Error($"X {x.Shape.Format()}, W {w.Shape.Format()} and group={group} do not agree");
        var inSp = x.Shape[2..];
        var g = Window.Compute(ctx.Node, inSp, w.Shape[2..], ceilMode: false, ctx.Error);
        int mg = m / group;
        long inSize = inSp.ElementCount(), outSize = g.Out.ElementCount(), kSize = g.Kernel.ElementCount();
        var xf = x.ToFloats();
        var wf = w.ToFloats();
        var yShape = new long[] { n, m }.Concat(g.Out).ToArray();
        var y = new float[yShape.ElementCount()];

        if (cg == 1 && mg == 1 && group > 1)
            Depthwise(xf, wf, y, n, c, inSp, g);
        else
        {
            int kRows = (int)(cg * kSize);
            bool direct = kSize == 1 && g.IsIdentityWindow();
            var col = direct ? null : new float[kRows * outSize];
            for (int b = 0; b < n; b++)
                for (int gi = 0; gi < group; gi++)
                {
                    int xOff = (int)((b * (long)c + gi * cg) * inSize);
                    float[] src = xf;
                    int srcOff = xOff;
                    if (!direct)
                    {
                        Im2Col(xf, xOff, cg, inSp, g, col!);
                        src = col!;
                        srcOff = 0;
                    }
                    int yOff = (int)((b * (long)m + gi * mg) * outSize);
                    Sgemm.Multiply(mg, (int)outSize, kRows, wf.AsSpan((int)(gi * mg * (long)kRows)), kRows,
                        src.AsSpan(srcOff), (int)outSize, y.AsSpan(yOff), (int)outSize, accumulate: false);
                }
        }

        float[]? bf = bias?.ToFloats();
        if (bias is not null && bf!.Length != m) throw ctx.Error($"B has {bf.Length} elements, expected {m}");
        float[]? rf = residual?.ToFloats();
        if (residual is not null && !residual.Shape.SequenceEqual(yShape))
            throw ctx.Error($"residual {residual.Shape.Format()} must have the output's shape {yShape.Format()}");
        if (bf is not null || rf is not null || act.Kind != ActivationKind.None)
        {
            Parallel.For(0, n * m, bm =>
            {
                var span = y.AsSpan((int)(bm * outSize), (int)outSize);
                float bv = bf is null ? 0 : bf[bm % m];
                if (rf is not null)
                {
                    var rs = rf.AsSpan((int)(bm * outSize), (int)outSize);
                    for (int i = 0; i < span.Length; i++) span[i] += bv + rs[i];
                }
                else if (bv != 0) for (int i = 0; i < span.Length; i++) span[i] += bv;
                act.Apply(span);
            });
        }
        return Tensor.FromFloats(y, yShape, x.Type);
    }

    /// <summary>Unfolds one group of one image into [cg·kernel, out] columns (zero where the window is in the padding).</summary>
    private static void Im2Col(float[] x, int xOff, int cg, long[] inSp, Window g, float[] col)
    {
        int rank = inSp.Length;
        long inSize = inSp.ElementCount(), outSize = g.Out.ElementCount(), kSize = g.Kernel.ElementCount();
        int outLast = (int)g.Out[rank - 1], inLast = (int)inSp[rank - 1];
        int sLast = (int)g.Strides[rank - 1], dLast = (int)g.Dilations[rank - 1], pLast = (int)g.PadsBegin[rank - 1];
        long outerOut = outSize / outLast;
        Parallel.For(0, (int)(cg * kSize), row =>
        {
            int ch = (int)(row / kSize);
            long kIdx = row % kSize;
            // kernel offsets per dim
            Span<long> kOff = stackalloc long[rank];
            long rem = kIdx;
            for (int d = rank - 1; d >= 0; d--) { kOff[d] = rem % g.Kernel[d]; rem /= g.Kernel[d]; }
            Span<long> o = stackalloc long[rank];
            var dst = col.AsSpan((int)(row * outSize), (int)outSize);
            int chOff = (int)(xOff + ch * inSize);
            for (long q = 0; q < outerOut; q++)
            {
                // output coordinates of the outer dims
                long r2 = q;
                for (int d = rank - 2; d >= 0; d--) { o[d] = r2 % g.Out[d]; r2 /= g.Out[d]; }
                long inOff = 0;
                bool inside = true;
                for (int d = 0; d < rank - 1; d++)
                {
                    long i = o[d] * g.Strides[d] + kOff[d] * g.Dilations[d] - g.PadsBegin[d];
                    if (i < 0 || i >= inSp[d]) { inside = false; break; }
                    inOff = inOff * inSp[d] + i;
                }
                var line = dst.Slice((int)(q * outLast), outLast);
                if (!inside) { line.Clear(); continue; }
                int baseIdx = (int)(chOff + inOff * inLast);
                int start = (int)(kOff[rank - 1] * dLast - pLast);
                if (sLast == 1 && start >= 0 && start + outLast <= inLast)
                {
                    x.AsSpan(baseIdx + start, outLast).CopyTo(line);
                    continue;
                }
                for (int ow = 0, iw = start; ow < outLast; ow++, iw += sLast)
                    line[ow] = iw >= 0 && iw < inLast ? x[baseIdx + iw] : 0;
            }
        });
    }

    /// <summary>One filter per channel (group = C = M): direct loops, parallel over (image, channel).</summary>
    private static void Depthwise(float[] x, float[] w, float[] y, int n, int c, long[] inSp, Window g)
    {
        int rank = inSp.Length;
        long inSize = inSp.ElementCount(), outSize = g.Out.ElementCount(), kSize = g.Kernel.ElementCount();
        Parallel.For(0, n * c, bc =>
        {
            int ch = bc % c;
            int xOff = (int)(bc * inSize), yOff = (int)(bc * outSize), wOff = (int)(ch * kSize);
            if (rank == 2)
            {
                int ih = (int)inSp[0], iw = (int)inSp[1], oh = (int)g.Out[0], ow = (int)g.Out[1];
                int kh = (int)g.Kernel[0], kw = (int)g.Kernel[1], sh = (int)g.Strides[0], sw = (int)g.Strides[1];
                int dh = (int)g.Dilations[0], dw = (int)g.Dilations[1], ph = (int)g.PadsBegin[0], pw = (int)g.PadsBegin[1];
                for (int oy = 0; oy < oh; oy++)
                    for (int ox = 0; ox < ow; ox++)
                    {
                        float s = 0;
                        for (int ky = 0; ky < kh; ky++)
                        {
                            int yy = oy * sh + ky * dh - ph;
                            if (yy < 0 || yy >= ih) continue;
                            int rowOff = xOff + yy * iw;
                            for (int kx = 0; kx < kw; kx++)
                            {
                                int xx = ox * sw + kx * dw - pw;
                                if (xx < 0 || xx >= iw) continue;
                                s += x[rowOff + xx] * w[wOff + ky * kw + kx];
                            }
                        }
                        y[yOff + oy * ow + ox] = s;
                    }
                return;
            }
            Span<long> o = stackalloc long[rank];
            Span<long> kk = stackalloc long[rank];
            for (long q = 0; q < outSize; q++)
            {
                long r = q;
                for (int d = rank - 1; d >= 0; d--) { o[d] = r % g.Out[d]; r /= g.Out[d]; }
                float s = 0;
                for (long k = 0; k < kSize; k++)
                {
                    long rk = k;
                    for (int d = rank - 1; d >= 0; d--) { kk[d] = rk % g.Kernel[d]; rk /= g.Kernel[d]; }
                    long off = 0;
                    bool inside = true;
                    for (int d = 0; d < rank; d++)
                    {
                        long i = o[d] * g.Strides[d] + kk[d] * g.Dilations[d] - g.PadsBegin[d];
                        if (i < 0 || i >= inSp[d]) { inside = false; break; }
                        off = off * inSp[d] + i;
                    }
                    if (inside) s += x[xOff + off] * w[wOff + k];
                }
                y[yOff + q] = s;
            }
        });
    }
}

/// <summary>
/// Sliding-window geometry shared by Conv and the pools: kernel, strides, dilations, begin/end pads (from
/// <c>pads</c> or <c>auto_pad</c>) and the output spatial size.
/// </summary>
internal sealed record Window(long[] Kernel, long[] Strides, long[] Dilations, long[] PadsBegin, long[] PadsEnd, long[] Out)
{
    /// <summary>True when every output position reads exactly its own input position (1×1, stride 1, no pads).</summary>
    public bool IsIdentityWindow() => Kernel.All(k => k == 1) && Strides.All(s => s == 1) && PadsBegin.All(p => p == 0) && PadsEnd.All(p => p == 0);

    /// <summary>
    /// Reads <c>kernel_shape</c> (checked against <paramref name="kernel"/> when given), <c>strides</c>, <c>dilations</c>,
    /// <c>pads</c>, <c>auto_pad</c> and computes the output size. Pools with <paramref name="ceilMode"/> round up, but a
    /// last window that would start in the end padding is dropped (as ONNX Runtime and PyTorch do).
    /// </summary>
    public static Window Compute(Node node, long[] input, long[]? kernel, bool ceilMode, Func<string, Exception> error)
    {
        int rank = input.Length;
        var ks = node.GetInts("kernel_shape");
        if (kernel is null)
            kernel = ks ?? throw error("attribute kernel_shape is required");
        else if (ks is not null && !ks.SequenceEqual(kernel))
            throw error($"kernel_shape [{string.Join(",", ks)}] does not match W's spatial shape {kernel.Format()}");
        if (kernel.Length != rank) throw error($"kernel has {kernel.Length} spatial dimensions, X has {rank}");
        var strides = node.GetInts("strides") ?? Enumerable.Repeat(1L, rank).ToArray();
        var dil = node.GetInts("dilations") ?? Enumerable.Repeat(1L, rank).ToArray();
        if (strides.Length != rank) throw error($"strides has {strides.Length} values, expected {rank}");
        if (dil.Length != rank) throw error($"dilations has {dil.Length} values, expected {rank}");
        if (strides.Any(s => s < 1) || dil.Any(d => d < 1) || kernel.Any(k => k < 1))
            throw error("kernel sizes, strides and dilations must be ≥ 1");
        var pb = new long[rank];
        var pe = new long[rank];
        var output = new long[rank];
        var autoPad = node.GetString("auto_pad", "NOTSET");
        switch (autoPad)
        {
            case "NOTSET" or "":
                var pads = node.GetInts("pads") ?? new long[2 * rank];
                if (pads.Length != 2 * rank) throw error($"pads has {pads.Length} values, expected {2 * rank}");
                if (pads.Any(p => p < 0)) throw error("negative pads are not supported");
                for (int d = 0; d < rank; d++) { pb[d] = pads[d]; pe[d] = pads[d + rank]; }
                break;
            case "VALID":
                break;
            case "SAME_UPPER" or "SAME_LOWER":
                for (int d = 0; d < rank; d++)
                {
                    long o = (input[d] + strides[d] - 1) / strides[d];
                    long total = Math.Max(0, (o - 1) * strides[d] + (kernel[d] - 1) * dil[d] + 1 - input[d]);
                    long small = total / 2;
                    (pb[d], pe[d]) = autoPad == "SAME_UPPER" ? (small, total - small) : (total - small, small);
                }
                break;
            default:
                throw error($"auto_pad '{autoPad}' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID");
        }
        for (int d = 0; d < rank; d++)
        {
            long span = (kernel[d] - 1) * dil[d] + 1;
            long room = input[d] + pb[d] + pe[d] - span;
            if (room < 0) throw error($"the window ({span} after dilation) is larger than the padded input ({input[d] + pb[d] + pe[d]}) in spatial dimension {d}");
            long o = ceilMode ? (room + strides[d] - 1) / strides[d] + 1 : room / strides[d] + 1;
            if (ceilMode && (o - 1) * strides[d] >= input[d] + pb[d]) o--;
            output[d] = o;
        }
        return new Window(kernel, strides, dil, pb, pe, output);
    }
}
