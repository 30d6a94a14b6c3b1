using TrtNative.Ir;
using static TrtNative.Ops.ShapeHelpers;

namespace TrtNative.Ops;

/// <summary>Resize (nearest, linear, cubic; the older Upsample and opset-10 Resize: nearest and linear) and Pad (constant, reflect, edge, wrap).</summary>
internal static class ResizeOps
{
    public static void Register(OpRegistry r)
    {
        r.Add("Pad", PadInfer, PadKernel);
        r.Add("Resize", ResizeInfer, ResizeKernel, minOpset: 10);
        r.Add("Upsample", ResizeInfer, ResizeKernel, minOpset: 7, maxOpset: 10);
    }

    // ---------------------------------------------------------------- Pad

    private sealed record PadSpec(string Mode, long[] Begin, long[] End);

    /// <summary>Pads per axis from the attribute (opset &lt; 11: "paddings" at opset 1, "pads" later) or input 1, with optional axes (input 3, opset 18).</summary>
    private static PadSpec ReadPad(Node node, int opset, int rank, Func<int, string, Tensor?> input, Func<string, Exception> error, Func<string, Exception> unsupported)
    {
        var mode = node.GetString("mode", "constant");
        if (mode is not ("constant" or "reflect" or "edge" or "wrap"))
            throw unsupported($"mode '{mode}' is not supported; supported: constant, reflect, edge, wrap");
        long[] pads;
        int[] axes;
        if (opset < 11)
        {
            pads = node.GetInts(opset < 2 ? "paddings" : "pads") ?? node.GetInts("pads") ?? throw error("attribute 'pads' is missing");
            axes = Enumerable.Range(0, rank).ToArray();
        }
        else
        {
            var p = input(1, "pads") ?? throw error("input 1 (pads) is missing");
            pads = p.AsDims().Select(d => d.IsKnown ? d.Value : throw unsupported($"pads {p} must be numbers")).ToArray();
            axes = opset >= 18 && input(3, "axes") is { } a
                ? Axes(a.AsDims().Select(d => d.IsKnown ? d.Value : throw unsupported($"axes {a} must be numbers")), rank, error)
                : Enumerable.Range(0, rank).ToArray();
        }
        if (pads.Length != 2 * axes.Length)
            throw error($"pads [{string.Join(",", pads)}] must have {2 * axes.Length} entries (begin and end for each of {axes.Length} axes)");
        var begin = new long[rank];
        var end = new long[rank];
        for (int k = 0; k < axes.Length; k++) { begin[axes[k]] = pads[k]; end[axes[k]] = pads[k + axes.Length]; }
        return new PadSpec(mode, begin, end);
    }

    private static void PadInfer(InferenceContext ctx)
    {
        var x = ctx.InputShape(0);
        var spec = ReadPad(ctx.Node, ctx.Opset, x.Length, (i, role) => ctx.HasInput(i) ? ctx.RequireConstant(i, role) : null, ctx.Error, ctx.Unsupported);
        var output = new Dim[x.Length];
        for (int d = 0; d < x.Length; d++)
        {
            long pad = spec.Begin[d] + spec.End[d];
            output[d] = Dim.Add(x[d], Dim.Of(pad))
                ?? throw ctx.Unsupported($"padding the symbolic dimension '{x[d]}' (axis {d}) by {pad} gives a size that is not of the form k*symbol");
            if (output[d].IsKnown && output[d].Value < 0) throw ctx.Error($"pads make axis {d} of {x.Format()} negative");
            if (spec.Mode is "reflect" or "edge" or "wrap" && x[d].IsKnown && x[d].Value == 0 && pad > 0)
                throw ctx.Error($"mode '{spec.Mode}' cannot pad the empty axis {d}");
        }
        ctx.SetOutput(0, ctx.InputType(0), output);
    }

    private static void PadKernel(KernelContext ctx)
    {
        var x = ctx.Input(0);
        var spec = ReadPad(ctx.Node, ctx.Opset, x.Rank, (i, _) => ctx.OptionalInput(i), ctx.Error, ctx.Unsupported);
        double fill = ctx.Opset < 11 ? ctx.Node.GetFloat("value", 0) : ctx.OptionalInput(2) is { } v ? ScalarValue(v) : 0;
        var strides = Strides(x.Shape);
        var offsets = new long[x.Rank][];
        for (int d = 0; d < x.Rank; d++)
        {
            long n = x.Shape[d], len = n + spec.Begin[d] + spec.End[d];
            if (len < 0) throw ctx.Error($"pads make axis {d} of {x.Shape.Format()} negative");
            offsets[d] = new long[len];
            for (long c = 0; c < len; c++)
            {
                long i = c - spec.Begin[d];
                if (i < 0 || i >= n)
                {
                    if (n == 0 && spec.Mode != "constant") throw ctx.Error($"mode '{spec.Mode}' cannot pad the empty axis {d}");
                    i = spec.Mode switch
                    {
                        "edge" => Math.Clamp(i, 0, n - 1),
                        "reflect" => Reflect(i, n),
                        "wrap" => ((i % n) + n) % n,
                        _ => -1,
                    };
                }
                offsets[d][c] = i < 0 ? -1 : i * strides[d];
            }
        }
        ctx.SetOutput(0, Remap(x, offsets.Select(o => (long)o.Length).ToArray(), OffsetMap(offsets), fill));
    }

    /// <summary>Mirror index without repeating the edge (numpy "reflect"), folding as often as needed.</summary>
    private static long Reflect(long i, long n)
    {
        if (n == 1) return 0;
        long period = 2 * (n - 1);
        i = ((i % period) + period) % period;
        return i < n ? i : period - i;
    }

    // ---------------------------------------------------------------- Resize / Upsample

    private enum Mode { Nearest, Linear, Cubic }

    /// <summary>What is needed to size the output: per-axis scales, or output sizes (one of them null).</summary>
    private sealed record ResizeSpec(Mode Mode, double[]? Scales, Dim[]? Sizes, double[]? Roi);

    private static Mode ReadMode(Node node, int opset, Func<string, Exception> unsupported)
    {
        var mode = node.GetString("mode", "nearest");
        // Upsample and Resize-10 define nearest and linear only; cubic arrives with Resize-11.
        bool cubic = node.OpType == "Resize" && opset >= 11;
        return mode switch
        {
            "nearest" => Mode.Nearest,
            "linear" or "bilinear" => Mode.Linear,
            "cubic" when cubic => Mode.Cubic,
            _ => throw unsupported($"mode '{mode}' is not supported; supported: nearest, linear{(cubic ? ", cubic" : $" ({node.OpType}-{opset}; cubic needs Resize-11 or later)")}"),
        };
    }

    /// <summary>
    /// Reads scales/sizes/roi by opset: Upsample 7 (scales attribute), Upsample 9 and Resize 10 (scales input 1),
    /// Resize 11+ (roi input 1, scales input 2, sizes input 3; empty tensors mean absent), Resize 18 (axes attribute).
    /// </summary>
    private static ResizeSpec ReadResize(Node node, int opset, Dim[] inShape, Func<int, string, Tensor?> input, Func<string, Exception> error, Func<string, Exception> unsupported)
    {
        var mode = ReadMode(node, opset, unsupported);
        int rank = inShape.Length;
        bool isUpsample = node.OpType == "Upsample";
        if (isUpsample && opset < 9)
        {
            var s = node.GetFloats("scales") ?? throw error("attribute 'scales' is missing");
            return new ResizeSpec(mode, CheckScales(s.Select(v => (double)v).ToArray(), rank, error), null, null);
        }
        if (isUpsample || opset < 11)
        {
            var s = input(1, "scales") ?? throw error("input 1 (scales) is missing");
            return new ResizeSpec(mode, CheckScales(Doubles(s), rank, error), null, null);
        }

        if (node.GetInt("antialias", 0) != 0) throw unsupported("antialias=1 is not supported");
        var axesAttr = opset >= 18 ? node.GetInts("axes") : null;
        var axes = axesAttr is null ? Enumerable.Range(0, rank).ToArray() : Axes(axesAttr, rank, error);
        var roiT = input(1, "roi");
        var scalesT = input(2, "scales");
        var sizesT = input(3, "sizes");
        if (scalesT is { Length: 0 }) scalesT = null;
        if (sizesT is { Length: 0 }) sizesT = null;
        if ((scalesT is null) == (sizesT is null)) throw error("exactly one of scales and sizes must be given");

        double[]? roi = null;
        if (roiT is { Length: > 0 } && node.GetString("coordinate_transformation_mode", "half_pixel") == "tf_crop_and_resize")
        {
            var r = Doubles(roiT);
            if (r.Length != 2 * axes.Length) throw error($"roi has {r.Length} entries, expected {2 * axes.Length}");
            roi = new double[2 * rank];
            for (int d = 0; d < rank; d++) { roi[d] = 0; roi[d + rank] = 1; }
            for (int k = 0; k < axes.Length; k++) { roi[axes[k]] = r[k]; roi[axes[k] + rank] = r[k + axes.Length]; }
        }

        if (scalesT is not null)
        {
            var s = Doubles(scalesT);
            if (s.Length != axes.Length) throw error($"scales has {s.Length} entries, expected {axes.Length}");
            var full = Enumerable.Repeat(1.0, rank).ToArray();
            for (int k = 0; k < axes.Length; k++) full[axes[k]] = s[k];
            return new ResizeSpec(mode, CheckScales(full, rank, error), null, roi);
        }

        var sizes = sizesT!.AsDims();
        if (sizes.Length != axes.Length) throw error($"sizes has {sizes.Length} entries, expected {axes.Length}");
        var outSizes = (Dim[])inShape.Clone();
        for (int k = 0; k < axes.Length; k++) outSizes[axes[k]] = sizes[k];
        var policy = opset >= 18 ? node.GetString("keep_aspect_ratio_policy", "stretch") : "stretch";
        if (policy != "stretch")
        {
            if (axes.Any(a => !inShape[a].IsKnown || !outSizes[a].IsKnown))
                throw unsupported($"keep_aspect_ratio_policy '{policy}' needs known sizes on the resized axes");
            var ratios = axes.Select(a => (double)outSizes[a].Value / inShape[a].Value);
            double scale = policy switch
            {
                "not_larger" => ratios.Min(),
                "not_smaller" => ratios.Max(),
                _ => throw unsupported($"keep_aspect_ratio_policy '{policy}' is not supported; supported: stretch, not_larger, not_smaller"),
            };
            var full = Enumerable.Repeat(1.0, rank).ToArray();
            foreach (var a in axes)
            {
                full[a] = scale;
                outSizes[a] = Dim.Of((long)Math.Round(scale * inShape[a].Value, MidpointRounding.ToEven));
            }
            return new ResizeSpec(mode, full, outSizes, roi);
        }
        return new ResizeSpec(mode, null, outSizes, roi);
    }

    private static double[] CheckScales(double[] s, int rank, Func<string, Exception> error)
    {
        if (s.Length != rank) throw error($"scales has {s.Length} entries for an input of rank {rank}");
        if (s.Any(v => !(v > 0))) throw error($"scales [{string.Join(",", s)}] must be positive");
        return s;
    }

    /// <summary>floor(length·scale), computed in float as ONNX Runtime does (0.7f·10 rounds to 7 in float; it is 6.99999988 in double).</summary>
    private static long ScaledSize(long length, double scale) => (long)MathF.Floor((float)scale * length);

    /// <summary>floor(d·scale) on a possibly symbolic dimension (a symbolic one only for integer scales).</summary>
    private static Dim? ScaledDim(Dim d, double scale)
    {
        if (d.IsKnown) return Dim.Of(ScaledSize(d.Value, scale));
        return scale == Math.Floor(scale) ? Dim.Multiply(d, Dim.Of((long)scale)) : null;
    }

    private static void ResizeInfer(InferenceContext ctx)
    {
        var x = ctx.InputShape(0);
        var spec = ReadResize(ctx.Node, ctx.Opset, x, (i, role) => ctx.HasInput(i) ? ctx.RequireConstant(i, role) : null, ctx.Error, ctx.Unsupported);
        CheckCoordinateMode(ctx.Node, ctx.Opset, ctx.Unsupported);
        if (spec.Mode != Mode.Nearest && !ctx.InputType(0).IsFloating())
            throw ctx.Unsupported($"{ModeName(spec.Mode)} resize of {ctx.InputType(0).OnnxName()} data is not supported (floating types only)");
        Dim[] output = spec.Sizes ?? x.Select((d, i) => ScaledDim(d, spec.Scales![i])
            ?? throw ctx.Unsupported($"scaling the symbolic dimension '{d}' (axis {i}) by {spec.Scales[i]} does not give a k*symbol size")).ToArray();
        ctx.SetOutput(0, ctx.InputType(0), output);
    }

    private static string CheckCoordinateMode(Node node, int opset, Func<string, Exception> unsupported)
    {
        if (node.OpType == "Upsample" || opset < 11) return "asymmetric";
        var m = node.GetString("coordinate_transformation_mode", "half_pixel");
        if (m == "tf_half_pixel_for_nn") m = "tf_half_pixel_for_nearest"; // spelling of early opset-11 exporters
        if (m is not ("half_pixel" or "half_pixel_symmetric" or "pytorch_half_pixel" or "align_corners" or "asymmetric" or "tf_half_pixel_for_nearest" or "tf_crop_and_resize"))
            throw unsupported($"coordinate_transformation_mode '{m}' is not supported; supported: half_pixel, half_pixel_symmetric, pytorch_half_pixel, align_corners, asymmetric, tf_half_pixel_for_nearest, tf_crop_and_resize");
        return m;
    }

    private static void ResizeKernel(KernelContext ctx)
    {
        var x = ctx.Input(0);
        int rank = x.Rank;
        var spec = ReadResize(ctx.Node, ctx.Opset, Shapes.Of(x.Shape), (i, _) => ctx.OptionalInput(i), ctx.Error, ctx.Unsupported);
        var coord = CheckCoordinateMode(ctx.Node, ctx.Opset, ctx.Unsupported);
        // Opset-10 Resize and Upsample have no nearest_mode: ONNX Runtime rounds down when upsampling, up when downsampling.
        bool legacy = ctx.Node.OpType == "Upsample" || ctx.Opset < 11;
        var nearest = legacy ? "legacy" : ctx.Node.GetString("nearest_mode", "round_prefer_floor");
        if (nearest is not ("round_prefer_floor" or "round_prefer_ceil" or "floor" or "ceil" or "legacy"))
            throw ctx.Unsupported($"nearest_mode '{nearest}' is not supported; supported: round_prefer_floor, round_prefer_ceil, floor, ceil");
        double extrapolation = ctx.Node.GetFloat("extrapolation_value", 0);

        var outShape = new long[rank];
        var scales = new double[rank];
        for (int d = 0; d < rank; d++)
        {
            if (spec.Scales is { } s)
            {
                scales[d] = s[d];
                outShape[d] = spec.Sizes is { } fixedSizes ? fixedSizes[d].Value : ScaledSize(x.Shape[d], s[d]);
            }
            else
            {
                outShape[d] = spec.Sizes![d].Value;
                scales[d] = x.Shape[d] == 0 ? 1 : (float)outShape[d] / x.Shape[d]; // float, as ONNX Runtime
            }
            if (outShape[d] < 0) throw ctx.Error($"output size {outShape[d]} on axis {d} is negative");
        }

        if (spec.Mode == Mode.Nearest)
        {
            // Nearest is a pure gather: one source index per output coordinate and axis.
            var strides = Strides(x.Shape);
            var offsets = new long[rank][];
            for (int d = 0; d < rank; d++)
            {
                offsets[d] = new long[outShape[d]];
                // An axis whose size does not change maps each index to itself, as in ONNX Runtime, even where the
                // transformation would shift it (tf_half_pixel_for_nearest: x + 0.5; a scale of 1.25 on size 2).
                bool identity = outShape[d] == x.Shape[d] && coord != "tf_crop_and_resize";
                for (long c = 0; c < outShape[d]; c++)
                {
                    if (identity) { offsets[d][c] = c * strides[d]; continue; }
                    double src = SourceCoordinate(coord, c, scales[d], spec.Scales is null, x.Shape[d], outShape[d], spec.Roi, d, rank, out bool outside);
                    long i = outside ? -1 : Math.Clamp(NearestIndex(src, nearest, scales[d]), 0, x.Shape[d] - 1);
                    offsets[d][c] = i < 0 ? -1 : i * strides[d];
                }
            }
            ctx.SetOutput(0, Remap(x, outShape, OffsetMap(offsets), extrapolation));
            return;
        }

        if (x.Floats is null) throw ctx.Unsupported($"{ModeName(spec.Mode)} resize of {x.Type.OnnxName()} data is not supported (floating types only)");
        double a = ctx.Node.GetFloat("cubic_coeff_a", -0.75f);
        bool excludeOutside = ctx.Node.GetInt("exclude_outside", 0) != 0;
        // Linear and cubic are separable: interpolate one axis at a time, last axis first (as the ONNX reference
        // nests them), so values extrapolated on an inner axis take part in the outer interpolation exactly as there.
        var data = x.Floats.Select(v => (double)v).ToArray();
        var shape = (long[])x.Shape.Clone();
        for (int d = rank - 1; d >= 0; d--)
        {
            bool identity = outShape[d] == shape[d] && coord != "tf_crop_and_resize"; // as for nearest
            if (identity) continue;
            long n = shape[d];
            data = InterpolateAxis(data, shape, d, outShape[d], c =>
            {
                double src = SourceCoordinate(coord, c, scales[d], spec.Scales is null, x.Shape[d], outShape[d], spec.Roi, d, rank, out bool outside);
                return outside ? null : spec.Mode == Mode.Linear ? LinearTaps(src, n) : CubicTaps(src, n, a, excludeOutside);
            }, extrapolation);
            shape[d] = outShape[d];
        }
        var result = new float[data.Length];
        for (int i = 0; i < result.Length; i++) result[i] = ShapeCast.RoundTo((float)data[i], x.Type);
        ctx.SetOutput(0, Tensor.FromFloats(result, outShape, x.Type));
    }

    private static string ModeName(Mode mode) => mode.ToString().ToLowerInvariant();

    /// <summary>Input indices (already clamped to the axis) and their weights for one output coordinate.</summary>
    private sealed record Taps(long[] Index, double[] Weight);

    /// <summary>The two neighbours floor(x) and floor(x)+1, clamped to the axis (edge values beyond it).</summary>
    private static Taps LinearTaps(double x, long n)
    {
        double f = Math.Floor(x), w1 = x - f;
        return new Taps([Math.Clamp((long)f, 0, n - 1), Math.Clamp((long)f + 1, 0, n - 1)], [1 - w1, w1]);
    }

    /// <summary>
    /// The four neighbours floor(x)−1 … floor(x)+2 with Keys' cubic convolution weights (ONNX Resize, cubic_coeff_a
    /// = <paramref name="a"/>): W(d) = (a+2)|d|³ − (a+3)|d|² + 1 for |d| ≤ 1, a|d|³ − 5a|d|² + 8a|d| − 4a for 1 &lt; |d| &lt; 2.
    /// Neighbours beyond the axis read the edge value; with <paramref name="excludeOutside"/> their weight is 0
    /// instead and the remaining weights are renormalized to sum to 1.
    /// </summary>
    private static Taps CubicTaps(double x, long n, double a, bool excludeOutside)
    {
        double f = Math.Floor(x), t = x - f;
        long i0 = (long)f - 1;
        var index = new long[4];
        var weight = new double[] { Keys(t + 1, a), Keys(t, a), Keys(1 - t, a), Keys(2 - t, a) };
        double sum = 0;
        for (int k = 0; k < 4; k++)
        {
            long i = i0 + k;
            if (excludeOutside && (i < 0 || i >= n)) weight[k] = 0;
            sum += weight[k];
            index[k] = Math.Clamp(i, 0, n - 1);
        }
        if (excludeOutside)
            for (int k = 0; k < 4; k++) weight[k] /= sum;
        return new Taps(index, weight);
    }

    /// <summary>Keys' cubic convolution kernel at distance d ∈ [0, 2].</summary>
    private static double Keys(double d, double a) => d <= 1
        ? ((a + 2) * d - (a + 3)) * d * d + 1
        : ((a * d - 5 * a) * d + 8 * a) * d - 4 * a;

    /// <summary>
    /// One interpolation pass along <paramref name="axis"/>: [outer, n, inner] → [outer, m, inner]. Output coordinate
    /// c is Σ weight·input over <paramref name="taps"/>(c), or <paramref name="extrapolation"/> where taps is null
    /// (outside the tf_crop_and_resize region).
    /// </summary>
    private static double[] InterpolateAxis(double[] src, long[] shape, int axis, long m, Func<long, Taps?> taps, double extrapolation)
    {
        long n = shape[axis], outer = Product(shape, 0, axis), inner = Product(shape, axis + 1, shape.Length);
        var dst = new double[outer * m * inner];
        for (long c = 0; c < m; c++)
        {
            var tc = taps(c);
            for (long p = 0; p < outer; p++)
            {
                long o = (p * m + c) * inner;
                if (tc is null)
                {
                    dst.AsSpan((int)o, (int)inner).Fill(extrapolation);
                    continue;
                }
                for (long q = 0; q < inner; q++)
                {
                    double acc = 0;
                    for (int k = 0; k < tc.Index.Length; k++) acc += tc.Weight[k] * src[(p * n + tc.Index[k]) * inner + q];
                    dst[o + q] = acc;
                }
            }
        }
        return dst;
    }

    /// <summary>
    /// Input coordinate of output coordinate <paramref name="x"/> (ONNX coordinate_transformation_mode). The
    /// arithmetic follows ONNX Runtime 1.31 so that
    /// nearest-neighbour picks agree with it where a coordinate lands on a rounding boundary: float32 for the
    /// half_pixel, pytorch_half_pixel and align_corners (0.5/(1/7f) − 0.5 is 2.9999998, not 3), while asymmetric
    /// and tf_half_pixel_for_nearest picks match exact x·in/out (checked against ONNX Runtime for every size pair
    /// up to 13 in both directions; ResizeOpsOrtTests keeps a sample).
    /// </summary>
    private static double SourceCoordinate(string mode, long x, double scale, bool fromSizes, long inLen, long outLen, double[]? roi, int axis, int rank, out bool outside)
    {
        outside = false;
        // length_resized is the output size, as in ONNX Runtime, PyTorch and TensorFlow. The ONNX 1.12 reference
        // uses scale·input length when scales are given (onnx/onnx#2462), so the two differ for align_corners,
        // pytorch_half_pixel and tf_crop_and_resize when scale·length is not a whole number; its node test
        // test_resize_downsample_scales_linear_align_corners expects 3.142857 where we (and ONNX Runtime) give 4.
        float xr = x, s = (float)scale, lenIn = inLen, lenOut = outLen;
        switch (mode)
        {
            case "half_pixel": return (xr + 0.5f) / s - 0.5f;
            case "half_pixel_symmetric":
            {
                float resized = s * lenIn, adjustment = lenOut / resized, center = lenIn / 2, offset = center * (1 - adjustment);
                return offset + (xr + 0.5f) / s - 0.5f;
            }
            case "pytorch_half_pixel": return lenOut > 1 ? (xr + 0.5f) / s - 0.5f : 0f;
            case "align_corners": return lenOut == 1 ? 0f : xr * (lenIn - 1) / (lenOut - 1);
            case "asymmetric": return fromSizes ? (double)x * inLen / outLen : x / scale;
            case "tf_half_pixel_for_nearest": return fromSizes ? (x + 0.5) * inLen / outLen : (x + 0.5) / scale;
            case "tf_crop_and_resize":
            {
                float start = (float)(roi?[axis] ?? 0), end = (float)(roi?[axis + rank] ?? 1);
                float v = lenOut > 1 ? start * (lenIn - 1) + xr * (end - start) * (lenIn - 1) / (lenOut - 1) : 0.5f * (start + end) * (lenIn - 1);
                outside = v < 0 || v > lenIn - 1;
                return v;
            }
            default: throw new InvalidOperationException(mode);
        }
    }

    private static long NearestIndex(double v, string mode, double scale)
    {
        double f = Math.Floor(v);
        if (v == f) return (long)f;
        double frac = v - f;
        return mode switch
        {
            "round_prefer_floor" => (long)(frac <= 0.5 ? f : f + 1),
            "round_prefer_ceil" => (long)(frac < 0.5 ? f : f + 1),
            "floor" => (long)f,
            "ceil" => (long)f + 1,
            _ => scale < 1 ? (long)Math.Ceiling(v) : (long)Math.Truncate(v), // legacy (opset-10 Resize, Upsample)
        };
    }
}
