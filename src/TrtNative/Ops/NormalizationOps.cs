using TrtNative.Ir;

namespace TrtNative.Ops;

/// <summary>
/// BatchNormalization (inference form, and training_mode=1 from opset 14), InstanceNormalization, LayerNormalization, Softmax / LogSoftmax / Hardmax
/// (2-D coercion before opset 13, single axis from 13), and the Reduce* family (axes as attribute or, from
/// ReduceSum-13 and the others' opset 18, as input; keepdims; noop_with_empty_axes). Statistics are accumulated in double.
/// </summary>
internal static class NormalizationOps
{
    public static void Register(OpRegistry r)
    {
        r.Add("BatchNormalization", InferBatchNorm, ExecBatchNorm);
        r.Add("InstanceNormalization", InferInstanceNorm, ExecInstanceNorm, minOpset: 6);
        r.Add("LayerNormalization", InferLayerNorm, ExecLayerNorm, minOpset: 17);
        r.Add("Softmax", InferSoftmax, ctx => ExecSoftmax(ctx, SoftmaxKind.Softmax));
        r.Add("LogSoftmax", InferSoftmax, ctx => ExecSoftmax(ctx, SoftmaxKind.LogSoftmax));
        r.Add("Hardmax", InferSoftmax, ctx => ExecSoftmax(ctx, SoftmaxKind.Hardmax));
        r.Add("ArgMax", InferArg, ctx => ExecArg(ctx, max: true));
        r.Add("ArgMin", InferArg, ctx => ExecArg(ctx, max: false));
        r.Add("CumSum", InferCumSum, ExecCumSum, minOpset: 11);
        r.Add("LRN", InferSameFloat, ExecLrn);
        r.Add("MeanVarianceNormalization", InferSameFloat, ExecMvn, minOpset: 9);
        foreach (var kind in Enum.GetValues<ReduceKind>())
        {
            var k = kind;
            int axesInputFrom = k == ReduceKind.ReduceSum ? 13 : 18;
            r.Add(k.ToString(), ctx => InferReduce(ctx, axesInputFrom), ctx => ExecReduce(ctx, k, axesInputFrom));
        }
    }

    // ---------------------------------------------------------------- BatchNormalization

    /// <summary>
    /// True for the opset-14+ training form (training_mode=1: Y from the batch's own statistics, optional outputs
    /// running_mean and running_var). The older training forms — is_test=0 before opset 7, and the mean / var /
    /// saved_mean / saved_var outputs of opsets 7–13 — are refused, and so are statistics outputs in inference mode.
    /// </summary>
    private static bool BatchNormTraining(Node node, int opset, Func<string, Exception> error, Func<string, Exception> unsupported)
    {
        bool training = node.GetInt("training_mode", 0) != 0;
        if (training && opset < 14)
            throw unsupported("training_mode=1 is an opset-14 attribute; before opset 14 only the inference form is supported");
        if (opset < 7 && node.GetInt("is_test", 0) == 0 && node.Outputs.Skip(1).Any(o => o.Length > 0))
            throw unsupported("training (is_test=0 with running statistics outputs) is not supported (inference form only before opset 14)");
        if (training)
        {
            if (node.Outputs.Count > 3)
                throw error($"training_mode=1 has at most 3 outputs (Y, running_mean, running_var), got {node.Outputs.Count}");
            return true;
        }
        for (int k = 1; k < node.Outputs.Count; k++)
            if (node.Outputs[k].Length > 0)
            {
                if (opset >= 14) throw error($"output {k} ('{node.Outputs[k]}') is only produced with training_mode=1; in inference mode Y is the only output");
                throw unsupported($"output {k} ('{node.Outputs[k]}', a training-mode statistic) is not supported before opset 14; only Y is");
            }
        return false;
    }

    private static void InferBatchNorm(InferenceContext ctx)
    {
        var t = ctx.InputType(0);
        if (!t.IsFloating()) throw ctx.Unsupported($"input type {t.OnnxName()} is not supported; BatchNormalization takes floating types");
        bool training = BatchNormTraining(ctx.Node, ctx.Opset, ctx.Error, ctx.Unsupported);
        var x = ctx.InputShape(0);
        if (x.Length < 2) throw ctx.Error($"X must have rank ≥ 2, got {x.Format()}");
        if (ctx.InputCount < 5) throw ctx.Error("needs inputs X, scale, B, mean, var");
        bool spatial = ctx.Opset >= 9 || ctx.Node.GetInt("spatial", 1) != 0;
        var want = spatial ? new[] { x[1] } : x[1..];
        for (int k = 1; k < 5; k++)
        {
            var s = ctx.InputShape(k);
            bool ok = s.Length == want.Length && s.Zip(want).All(p => p.First == p.Second || !p.First.IsKnown || !p.Second.IsKnown);
            if (!ok) throw ctx.Error($"input {k} must have shape {want.Format()}{(spatial ? "" : " (spatial=0)")}, got {s.Format()}");
        }
        ctx.SetOutput(0, t, x);
        if (training)
        {
            // running_mean and running_var take the types of input_mean and input_var (T2, which may differ from T at opset 15).
            ctx.SetOutput(1, ctx.InputType(3), [x[1]]);
            ctx.SetOutput(2, ctx.InputType(4), [x[1]]);
        }
    }

    private static void ExecBatchNorm(KernelContext ctx)
    {
        if (BatchNormTraining(ctx.Node, ctx.Opset, ctx.Error, ctx.Unsupported))
        {
            ExecBatchNormTraining(ctx);
            return;
        }
        var x = ctx.Input(0);
        float[] scale = ctx.Input(1).ToFloats(), bias = ctx.Input(2).ToFloats(), mean = ctx.Input(3).ToFloats(), var = ctx.Input(4).ToFloats();
        double eps = ctx.Node.GetFloat("epsilon", 1e-5f);
        bool spatial = ctx.Opset >= 9 || ctx.Node.GetInt("spatial", 1) != 0;
        long n = x.Shape[0], c = x.Shape[1];
        long inner = x.Shape[2..].ElementCount();
        long groups = spatial ? c : c * inner;      // how many (a, b) pairs
        long run = spatial ? inner : 1;              // contiguous elements sharing one pair
        if (scale.Length != groups || bias.Length != groups || mean.Length != groups || var.Length != groups)
            throw ctx.Error($"scale, B, mean and var must have {groups} elements for X {x.Shape.Format()}");
        var a = new float[groups];
        var b = new float[groups];
        for (long i = 0; i < groups; i++)
        {
            double inv = 1.0 / Math.Sqrt(var[i] + eps);
            a[i] = (float)(scale[i] * inv);
            b[i] = (float)(bias[i] - mean[i] * scale[i] * inv);
        }
        var xf = x.Floats!;
        var y = new float[xf.Length];
        Parallel.For(0, n * groups, q =>
        {
            long g = q % groups;
            int off = (int)(q * run);
            float ag = a[g], bg = b[g];
            for (int i = 0; i < run; i++) y[off + i] = xf[off + i] * ag + bg;
        });
        ctx.SetOutput(0, Tensor.FromFloats(y, x.Shape, x.Type));
    }

    /// <summary>
    /// training_mode=1: per channel, the mean and population variance (divided by N, not N − 1) of X over every axis
    /// but 1 normalize Y, and blend into the running statistics: running = input·momentum + current·(1 − momentum).
    /// </summary>
    private static void ExecBatchNormTraining(KernelContext ctx)
    {
        var x = ctx.Input(0);
        if (x.Rank < 2) throw ctx.Error($"X must have rank ≥ 2, got {x.Shape.Format()}");
        Tensor inMean = ctx.Input(3), inVar = ctx.Input(4);
        float[] scale = ctx.Input(1).ToFloats(), bias = ctx.Input(2).ToFloats(), runMean = inMean.ToFloats(), runVar = inVar.ToFloats();
        double eps = ctx.Node.GetFloat("epsilon", 1e-5f), momentum = ctx.Node.GetFloat("momentum", 0.9f);
        long n = x.Shape[0], c = x.Shape[1], inner = x.Shape[2..].ElementCount();
        if (scale.Length != c || bias.Length != c || runMean.Length != c || runVar.Length != c)
            throw ctx.Error($"scale, B, input_mean and input_var must have {c} elements for X {x.Shape.Format()}");
        if (n * inner == 0) throw ctx.Error($"training_mode=1 needs at least one value per channel to take statistics from; X is {x.Shape.Format()}");

        var xf = x.Floats!;
        var mean = new double[c];
        var variance = new double[c];
        Parallel.For(0, c, ch =>
        {
            double sum = 0;
            for (long b = 0; b < n; b++)
                foreach (var v in xf.AsSpan((int)((b * c + ch) * inner), (int)inner)) sum += v;
            double mu = sum / (n * inner), sq = 0;
            for (long b = 0; b < n; b++)
                foreach (var v in xf.AsSpan((int)((b * c + ch) * inner), (int)inner)) { double d = v - mu; sq += d * d; }
            mean[ch] = mu;
            variance[ch] = sq / (n * inner);
        });

        var y = new float[xf.Length];
        Parallel.For(0, n * c, q =>
        {
            long ch = q % c;
            double a = scale[ch] / Math.Sqrt(variance[ch] + eps), b = bias[ch] - mean[ch] * a;
            int off = (int)(q * inner);
            for (int i = 0; i < inner; i++) y[off + i] = ShapeCast.RoundTo((float)(xf[off + i] * a + b), x.Type);
        });
        ctx.SetOutput(0, Tensor.FromFloats(y, x.Shape, x.Type));
        if (ctx.WantsOutput(1))
            ctx.SetOutput(1, Tensor.FromFloats(Blend(runMean, mean, momentum, inMean.Type), [c], inMean.Type));
        if (ctx.WantsOutput(2))
            ctx.SetOutput(2, Tensor.FromFloats(Blend(runVar, variance, momentum, inVar.Type), [c], inVar.Type));
    }

    private static float[] Blend(float[] running, double[] current, double momentum, DataType type) =>
        running.Select((r, i) => ShapeCast.RoundTo((float)(r * momentum + current[i] * (1 - momentum)), type)).ToArray();

    // ---------------------------------------------------------------- InstanceNormalization

    private static void InferInstanceNorm(InferenceContext ctx)
    {
        var t = ctx.InputType(0);
        if (!t.IsFloating()) throw ctx.Unsupported($"input type {t.OnnxName()} is not supported");
        var x = ctx.InputShape(0);
        if (x.Length < 3) throw ctx.Error($"X must have rank ≥ 3, got {x.Format()}");
        for (int k = 1; k <= 2; k++)
            if (ctx.InputShape(k) is not { Length: 1 } s || s[0] != x[1] && s[0].IsKnown && x[1].IsKnown)
                throw ctx.Error($"input {k} must have shape [{x[1]}], got {ctx.InputShape(k).Format()}");
        ctx.SetOutput(0, t, x);
    }

    private static void ExecInstanceNorm(KernelContext ctx)
    {
        var x = ctx.Input(0);
        float[] scale = ctx.Input(1).ToFloats(), bias = ctx.Input(2).ToFloats();
        double eps = ctx.Node.GetFloat("epsilon", 1e-5f);
        long c = x.Shape[1], inner = x.Shape[2..].ElementCount();
        var xf = x.Floats!;
        var y = new float[xf.Length];
        Parallel.For(0, x.Shape[0] * c, q =>
        {
            var row = xf.AsSpan((int)(q * inner), (int)inner);
            var (mu, inv) = MeanInvStd(row, eps);
            float s = (float)(scale[q % c] * inv), b = (float)(bias[q % c] - mu * scale[q % c] * inv);
            var dst = y.AsSpan((int)(q * inner), (int)inner);
            for (int i = 0; i < row.Length; i++) dst[i] = row[i] * s + b;
        });
        ctx.SetOutput(0, Tensor.FromFloats(y, x.Shape, x.Type));
    }

    private static (double Mean, double InvStd) MeanInvStd(ReadOnlySpan<float> row, double eps)
    {
        double sum = 0;
        foreach (var v in row) sum += v;
        double mu = sum / row.Length, sq = 0;
        foreach (var v in row) { double d = v - mu; sq += d * d; }
        return (mu, 1.0 / Math.Sqrt(sq / row.Length + eps));
    }

    // ---------------------------------------------------------------- LayerNormalization

    private static int NormAxis(long axis, int rank, Func<string, Exception> error, string what = "axis")
    {
        long a = axis < 0 ? axis + rank : axis;
        if (a < 0 || a >= Math.Max(rank, 1)) throw error($"{what} {axis} is out of range for rank {rank}");
        return (int)a;
    }

    private static void InferLayerNorm(InferenceContext ctx)
    {
        var t = ctx.InputType(0);
        if (!t.IsFloating()) throw ctx.Unsupported($"input type {t.OnnxName()} is not supported; LayerNormalization takes floating types");
        var x = ctx.InputShape(0);
        int axis = NormAxis(ctx.Node.GetInt("axis", -1), x.Length, ctx.Error);
        for (int k = 1; k <= 2; k++)
        {
            if (!ctx.HasInput(k)) { if (k == 1) throw ctx.Error("input Scale is required"); continue; }
            var s = ctx.InputShape(k);
            if (!Broadcast.CanExpandTo(s, x)) throw ctx.Error($"{(k == 1 ? "Scale" : "B")} {s.Format()} cannot be broadcast to X {x.Format()}");
        }
        ctx.SetOutput(0, t, x);
        var stat = x.Select((d, i) => i < axis ? d : Dim.Of(1)).ToArray();
        var statType = ctx.Node.GetInt("stash_type", 1) == 1 ? DataType.Float : t;
        ctx.SetOutput(1, statType, stat);
        ctx.SetOutput(2, statType, stat);
    }

    private static void ExecLayerNorm(KernelContext ctx)
    {
        var x = ctx.Input(0);
        int axis = NormAxis(ctx.Node.GetInt("axis", -1), x.Rank, ctx.Error);
        double eps = ctx.Node.GetFloat("epsilon", 1e-5f);
        long rows = x.Shape[..axis].ElementCount(), cols = x.Shape[axis..].ElementCount();
        var scaleT = ctx.Input(1);
        var biasT = ctx.OptionalInput(2);
        // Scale and B usually cover the normalized dims exactly; anything else is broadcast to X's full shape.
        float[] PerElement(Tensor t, out bool full)
        {
            var f = t.ToFloats();
            full = f.Length != cols || !Broadcast.CanExpandTo(t.Shape, x.Shape[axis..]);
            if (!full) return f;
            return Broadcast.Expand(Tensor.FromFloats(f, t.Shape), x.Shape).Floats!;
        }
        var scale = PerElement(scaleT, out bool scaleFull);
        bool biasFull = false;
        var bias = biasT is null ? null : PerElement(biasT, out biasFull);
        var xf = x.Floats!;
        var y = new float[xf.Length];
        var means = new float[rows];
        var invs = new float[rows];
        Parallel.For(0, rows, r =>
        {
            int off = (int)(r * cols);
            var row = xf.AsSpan(off, (int)cols);
            var (mu, inv) = MeanInvStd(row, eps);
            means[r] = (float)mu;
            invs[r] = (float)inv;
            int so = scaleFull ? off : 0, bo = biasFull ? off : 0;
            for (int i = 0; i < cols; i++)
            {
                float v = (float)((row[i] - mu) * inv) * scale[so + i];
                if (bias is not null) v += bias[bo + i];
                y[off + i] = v;
            }
        });
        ctx.SetOutput(0, Tensor.FromFloats(y, x.Shape, x.Type));
        var statShape = x.Shape.Select((d, i) => i < axis ? d : 1L).ToArray();
        var statType = ctx.Node.GetInt("stash_type", 1) == 1 ? DataType.Float : x.Type;
        if (ctx.WantsOutput(1)) ctx.SetOutput(1, Tensor.FromFloats(means, statShape, statType));
        if (ctx.WantsOutput(2)) ctx.SetOutput(2, Tensor.FromFloats(invs, statShape, statType));
    }

    // ---------------------------------------------------------------- Softmax family

    private enum SoftmaxKind { Softmax, LogSoftmax, Hardmax }

    private static void InferSoftmax(InferenceContext ctx)
    {
        var t = ctx.InputType(0);
        if (!t.IsFloating()) throw ctx.Unsupported($"input type {t.OnnxName()} is not supported; {ctx.Node.OpType} takes floating types");
        var x = ctx.InputShape(0);
        long axis = ctx.Node.GetInt("axis", ctx.Opset >= 13 ? -1 : 1);
        long a = axis < 0 ? axis + x.Length : axis;
        // Before opset 13 the axis may equal the rank (everything in one row).
        if (a < 0 || a > x.Length || ctx.Opset >= 13 && a == x.Length && x.Length > 0)
            throw ctx.Error($"axis {axis} is out of range for rank {x.Length}");
        ctx.SetOutput(0, t, x);
    }

    private static void ExecSoftmax(KernelContext ctx, SoftmaxKind kind)
    {
        var x = ctx.Input(0);
        int rank = x.Rank;
        long axis = ctx.Node.GetInt("axis", ctx.Opset >= 13 ? -1 : 1);
        if (axis < 0) axis += rank;
        long outer, len, inner;
        if (ctx.Opset < 13)
        {
            // Coerced to 2-D [prod(shape[:axis]), prod(shape[axis:])], softmax over each row.
            outer = x.Shape[..(int)axis].ElementCount();
            len = x.Shape[(int)axis..].ElementCount();
            inner = 1;
        }
        else
        {
            outer = x.Shape[..(int)axis].ElementCount();
            len = x.Shape[(int)axis];
            inner = x.Shape[((int)axis + 1)..].ElementCount();
        }
        var xf = x.Floats!;
        var y = new float[xf.Length];
        Parallel.For(0, outer * inner, q =>
        {
            long o = q / inner, i = q % inner;
            long baseOff = o * len * inner + i;
            float max = float.NegativeInfinity;
            long arg = 0;
            for (long k = 0; k < len; k++)
            {
                float v = xf[baseOff + k * inner];
                if (v > max) { max = v; arg = k; }
            }
            if (kind == SoftmaxKind.Hardmax)
            {
                for (long k = 0; k < len; k++) y[baseOff + k * inner] = k == arg ? 1 : 0;
                return;
            }
            double sum = 0;
            for (long k = 0; k < len; k++) sum += Math.Exp(xf[baseOff + k * inner] - max);
            if (kind == SoftmaxKind.Softmax)
            {
                double inv = 1 / sum;
                for (long k = 0; k < len; k++) y[baseOff + k * inner] = (float)(Math.Exp(xf[baseOff + k * inner] - max) * inv);
            }
            else
            {
                double lse = Math.Log(sum);
                for (long k = 0; k < len; k++) y[baseOff + k * inner] = (float)(xf[baseOff + k * inner] - max - lse);
            }
        });
        ctx.SetOutput(0, Tensor.FromFloats(y, x.Shape, x.Type));
    }

    // ---------------------------------------------------------------- Reduce*

    internal enum ReduceKind { ReduceMean, ReduceSum, ReduceMax, ReduceMin, ReduceProd, ReduceSumSquare, ReduceL1, ReduceL2, ReduceLogSum, ReduceLogSumExp }

    /// <summary>The reduced axes (sorted, non-negative), or null for "none" (noop_with_empty_axes with no axes).</summary>
    private static int[]? ReduceAxes(Node node, int opset, int axesInputFrom, int rank, long[]? axesInput, bool hasAxesInput, Func<string, Exception> error)
    {
        long[]? axes;
        if (opset >= axesInputFrom)
        {
            if (node.Has("axes")) throw error($"from opset {axesInputFrom} the axes are an input, not an attribute");
            axes = hasAxesInput ? axesInput : null;
        }
        else axes = node.GetInts("axes");
        if (axes is null || axes.Length == 0)
        {
            if (opset >= axesInputFrom && node.GetInt("noop_with_empty_axes", 0) != 0) return null;
            return Enumerable.Range(0, rank).ToArray();
        }
        var set = new SortedSet<int>();
        foreach (var a in axes)
        {
            long v = a < 0 ? a + rank : a;
            if (v < 0 || v >= rank) throw error($"axis {a} is out of range for rank {rank}");
            if (!set.Add((int)v)) throw error($"axis {a} is repeated");
        }
        return set.ToArray();
    }

    private static void InferReduce(InferenceContext ctx, int axesInputFrom)
    {
        var t = ctx.InputType(0);
        if (t == DataType.Bool || t == DataType.String) throw ctx.Unsupported($"input type {t.OnnxName()} is not supported");
        var x = ctx.InputShape(0);
        long[]? axesValue = null;
        bool hasAxes = ctx.Opset >= axesInputFrom && ctx.HasInput(1);
        if (hasAxes) axesValue = ctx.RequireConstant(1, "axes").ResolveInts();
        var axes = ReduceAxes(ctx.Node, ctx.Opset, axesInputFrom, x.Length, axesValue, hasAxes, ctx.Error);
        bool keep = ctx.Node.GetInt("keepdims", 1) != 0;
        if (axes is null) { ctx.SetOutput(0, t, x); return; }
        var shape = new List<Dim>();
        for (int d = 0; d < x.Length; d++)
        {
            if (!axes.Contains(d)) shape.Add(x[d]);
            else if (keep) shape.Add(Dim.Of(1));
        }
        ctx.SetOutput(0, t, shape.ToArray());
    }

    private static void ExecReduce(KernelContext ctx, ReduceKind kind, int axesInputFrom)
    {
        var x = ctx.Input(0);
        bool hasAxes = ctx.Opset >= axesInputFrom && ctx.HasInput(1);
        var axes = ReduceAxes(ctx.Node, ctx.Opset, axesInputFrom, x.Rank, hasAxes ? ctx.InputInts(1) : null, hasAxes, ctx.Error);
        if (axes is null) { ctx.SetOutput(0, x); return; }
        bool keep = ctx.Node.GetInt("keepdims", 1) != 0;
        var keepShape = x.Shape.Select((d, i) => axes.Contains(i) ? 1L : d).ToArray();
        var outShape = keep ? keepShape : x.Shape.Where((d, i) => !axes.Contains(i)).ToArray();
        long count = axes.Aggregate(1L, (p, a) => p * x.Shape[a]);
        long outN = keepShape.ElementCount();
        var values = x.Floats is { } f ? Array.ConvertAll(f, v => (double)v) : Array.ConvertAll(x.ResolveInts(), v => (double)v);

        var acc = new double[outN];
        double init = kind switch
        {
            ReduceKind.ReduceMax => double.NegativeInfinity,
            ReduceKind.ReduceMin => double.PositiveInfinity,
            ReduceKind.ReduceProd => 1,
            _ => 0,
        };
        Array.Fill(acc, init);
        double[]? shift = null;
        var plan = Broadcast.Plan(x.Shape, x.Shape, keepShape);
        if (kind == ReduceKind.ReduceLogSumExp)
        {
            shift = new double[outN];
            Array.Fill(shift, double.NegativeInfinity);
            plan.ForEachRow((o, s, _, len) =>
            {
                for (int k = 0; k < len; k++) { ref var m = ref shift[o[1] + k * s[1]]; m = Math.Max(m, values[o[0] + k * s[0]]); }
            });
            for (long i = 0; i < outN; i++) if (double.IsInfinity(shift[i])) shift[i] = 0;
        }
        plan.ForEachRow((o, s, _, len) =>
        {
            int xi = o[0], ai = o[1], sx = s[0], sa = s[1];
            for (int k = 0; k < len; k++, xi += sx, ai += sa)
            {
                double v = values[xi];
                ref var a = ref acc[ai];
                switch (kind)
                {
                    case ReduceKind.ReduceMax: if (v > a || double.IsNaN(v)) a = v; break;
                    case ReduceKind.ReduceMin: if (v < a || double.IsNaN(v)) a = v; break;
                    case ReduceKind.ReduceProd: a *= v; break;
                    case ReduceKind.ReduceSumSquare or ReduceKind.ReduceL2: a += v * v; break;
                    case ReduceKind.ReduceL1: a += Math.Abs(v); break;
                    case ReduceKind.ReduceLogSumExp: a += Math.Exp(v - shift![ai]); break;
                    default: a += v; break;
                }
            }
        });
        for (long i = 0; i < outN; i++)
            acc[i] = kind switch
            {
                ReduceKind.ReduceMean => acc[i] / count,
                ReduceKind.ReduceL2 => Math.Sqrt(acc[i]),
                ReduceKind.ReduceLogSum => Math.Log(acc[i]),
                ReduceKind.ReduceLogSumExp => Math.Log(acc[i]) + shift![i],
                _ => acc[i],
            };
        ctx.SetOutput(0, x.Type.IsFloating()
            ? Tensor.FromFloats(Array.ConvertAll(acc, v => (float)v), outShape, x.Type)
            : Tensor.FromInts(Array.ConvertAll(acc, v => ElementwiseOps.Wrap(x.Type, (long)v)), outShape, x.Type));
    }

    // ---------------------------------------------------------------- ArgMax / ArgMin, CumSum, LRN, MVN

    /// <summary>Outer size, axis length and inner size of a shape split at one axis.</summary>
    private static (long Outer, long Len, long Inner) Split(long[] shape, int axis) =>
        (shape[..axis].ElementCount(), shape[axis], shape[(axis + 1)..].ElementCount());

    private static void InferArg(InferenceContext ctx)
    {
        var t = ctx.InputType(0);
        if (t == DataType.Bool || t == DataType.String) throw ctx.Unsupported($"input type {t.OnnxName()} is not supported");
        var x = ctx.InputShape(0);
        int axis = NormAxis(ctx.Node.GetInt("axis", 0), x.Length, ctx.Error);
        bool keep = ctx.Node.GetInt("keepdims", 1) != 0;
        var shape = new List<Dim>();
        for (int d = 0; d < x.Length; d++) if (d != axis) shape.Add(x[d]); else if (keep) shape.Add(Dim.Of(1));
        ctx.SetOutput(0, DataType.Int64, shape.ToArray());
    }

    private static void ExecArg(KernelContext ctx, bool max)
    {
        var x = ctx.Input(0);
        int axis = NormAxis(ctx.Node.GetInt("axis", 0), x.Rank, ctx.Error);
        bool keep = ctx.Node.GetInt("keepdims", 1) != 0, last = ctx.Node.GetInt("select_last_index", 0) != 0;
        var v = x.Floats is { } f ? Array.ConvertAll(f, z => (double)z) : Array.ConvertAll(x.ResolveInts(), z => (double)z);
        var (outer, len, inner) = Split(x.Shape, axis);
        var y = new long[outer * inner];
        for (long o = 0; o < outer; o++)
            for (long i = 0; i < inner; i++)
            {
                long best = 0;
                double bv = v[o * len * inner + i];
                for (long k = 1; k < len; k++)
                {
                    double c = v[(o * len + k) * inner + i];
                    bool better = max ? c > bv || last && c == bv : c < bv || last && c == bv;
                    if (better) { best = k; bv = c; }
                }
                y[o * inner + i] = best;
            }
        var shape = x.Shape.Select((d, k) => k == axis ? 1L : d).Where((d, k) => keep || k != axis).ToArray();
        ctx.SetOutput(0, Tensor.FromInts(y, shape));
    }

    private static void InferCumSum(InferenceContext ctx)
    {
        var t = ctx.InputType(0);
        if (t == DataType.Bool || t == DataType.String) throw ctx.Unsupported($"input type {t.OnnxName()} is not supported");
        if (ctx.InputShape(1) is { Length: > 1 } s) throw ctx.Error($"axis must be a scalar or 1-element tensor, got {s.Format()}");
        ctx.SetOutput(0, t, ctx.InputShape(0));
    }

    private static void ExecCumSum(KernelContext ctx)
    {
        var x = ctx.Input(0);
        int axis = NormAxis(ctx.InputInts(1)[0], x.Rank, ctx.Error);
        bool exclusive = ctx.Node.GetInt("exclusive", 0) != 0, reverse = ctx.Node.GetInt("reverse", 0) != 0;
        var (outer, len, inner) = Split(x.Shape, axis);
        var v = x.Floats is { } f ? Array.ConvertAll(f, z => (double)z) : Array.ConvertAll(x.ResolveInts(), z => (double)z);
        var y = new double[v.Length];
        for (long o = 0; o < outer; o++)
            for (long i = 0; i < inner; i++)
            {
                double acc = 0;
                for (long q = 0; q < len; q++)
                {
                    long k = reverse ? len - 1 - q : q;
                    long at = (o * len + k) * inner + i;
                    if (exclusive) { y[at] = acc; acc += v[at]; }
                    else { acc += v[at]; y[at] = acc; }
                }
            }
        ctx.SetOutput(0, x.Type.IsFloating() ? Tensor.FromFloats(Array.ConvertAll(y, z => (float)z), x.Shape, x.Type)
            : Tensor.FromInts(Array.ConvertAll(y, z => ElementwiseOps.Wrap(x.Type, (long)z)), x.Shape, x.Type));
    }

    private static void InferSameFloat(InferenceContext ctx)
    {
        var t = ctx.InputType(0);
        if (!t.IsFloating()) throw ctx.Unsupported($"input type {t.OnnxName()} is not supported; {ctx.Node.OpType} takes floating types");
        var x = ctx.InputShape(0);
        if (ctx.Node.OpType == "LRN" && x.Length < 3) throw ctx.Error($"X must have rank ≥ 3, got {x.Format()}");
        ctx.SetOutput(0, t, x);
    }

    private static void ExecLrn(KernelContext ctx)
    {
        var x = ctx.Input(0);
        long size = ctx.Node.GetInt("size", 0);
        if (size < 1) throw ctx.Error("attribute size must be ≥ 1");
        double alpha = ctx.Node.GetFloat("alpha", 1e-4f), beta = ctx.Node.GetFloat("beta", 0.75f), bias = ctx.Node.GetFloat("bias", 1f);
        long c = x.Shape[1], inner = x.Shape[2..].ElementCount(), before = (size - 1) / 2, after = size - 1 - before;
        var xf = x.Floats!;
        var y = new float[xf.Length];
        Parallel.For(0, x.Shape[0], n =>
        {
            for (long ch = 0; ch < c; ch++)
                for (long i = 0; i < inner; i++)
                {
                    double sq = 0;
                    for (long k = Math.Max(0, ch - before); k <= Math.Min(c - 1, ch + after); k++)
                    {
                        double v = xf[(n * c + k) * inner + i];
                        sq += v * v;
                    }
                    long at = (n * c + ch) * inner + i;
                    y[at] = (float)(xf[at] / Math.Pow(bias + alpha / size * sq, beta));
                }
        });
        ctx.SetOutput(0, Tensor.FromFloats(y, x.Shape, x.Type));
    }

    private static void ExecMvn(KernelContext ctx)
    {
        var x = ctx.Input(0);
        var axes = (ctx.Node.GetInts("axes") ?? [0, 2, 3]).Select(a => NormAxis(a, x.Rank, ctx.Error)).ToHashSet();
        var keepShape = x.Shape.Select((d, i) => axes.Contains(i) ? 1L : d).ToArray();
        long groups = keepShape.ElementCount(), count = x.Length / Math.Max(groups, 1);
        var plan = Broadcast.Plan(x.Shape, x.Shape, keepShape);
        var xf = x.Floats!;
        var sum = new double[groups];
        var sq = new double[groups];
        plan.ForEachRow((o, s, _, len) =>
        {
            for (int k = 0; k < len; k++) { double v = xf[o[0] + k * s[0]]; sum[o[1] + k * s[1]] += v; sq[o[1] + k * s[1]] += v * v; }
        });
        var mean = new double[groups];
        var den = new double[groups];
        for (long g = 0; g < groups; g++)
        {
            mean[g] = sum[g] / count;
            den[g] = Math.Sqrt(Math.Max(0, sq[g] / count - mean[g] * mean[g])) + 1e-9;
        }
        var y = new float[xf.Length];
        plan.ForEachRow((o, s, _, len) =>
        {
            for (int k = 0; k < len; k++) { int xi = o[0] + k * s[0], gi = o[1] + k * s[1]; y[xi] = (float)((xf[xi] - mean[gi]) / den[gi]); }
        });
        ctx.SetOutput(0, Tensor.FromFloats(y, x.Shape, x.Type));
    }
}
