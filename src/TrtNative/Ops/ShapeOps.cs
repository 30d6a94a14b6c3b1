using TrtNative.Ir;
using static TrtNative.Ops.ShapeHelpers;

namespace TrtNative.Ops;

/// <summary>
/// Shape and tensor-movement ops: Reshape, Flatten, Transpose, Concat, Squeeze, Unsqueeze, Shape, Size, Gather,
/// Slice, Cast, CastLike, ConstantOfShape, Constant, Identity, Dropout (inference), Tile, Split, Range.
/// </summary>
/// <remarks>
/// Shape functions work on <see cref="Dim"/> shapes with symbolic dimensions; values they need at build time (a
/// Reshape target, Slice bounds) may themselves be symbolic shape values such as [batch, -1]. Kernels are type
/// generic: the same code moves float and integer data, because int64 shape chains run through these ops too.
/// </remarks>
internal static class ShapeOps
{
    public static void Register(OpRegistry r)
    {
        r.Add("Reshape", ReshapeInfer, ReshapeKernel);
        r.Add("Flatten", FlattenInfer, FlattenKernel);
        r.Add("Transpose", TransposeInfer, TransposeKernel);
        r.Add("Concat", ConcatInfer, ConcatKernel);
        r.Add("Squeeze", SqueezeInfer, SqueezeKernel);
        r.Add("Unsqueeze", UnsqueezeInfer, UnsqueezeKernel);
        r.Add("Shape", ShapeInfer, ShapeKernel);
        r.Add("Size", SizeInfer, SizeKernel);
        r.Add("Gather", GatherInfer, GatherKernel);
        r.Add("Slice", SliceInfer, SliceKernel);
        r.Add("Cast", CastInfer, CastKernel);
        r.Add("CastLike", CastLikeInfer, CastLikeKernel, minOpset: 15);
        r.Add("ConstantOfShape", ConstantOfShapeInfer, ConstantOfShapeKernel, minOpset: 9);
        r.Add("Constant", ConstantInfer, ConstantKernel);
        r.Add("Identity", ctx => ctx.SetOutput(0, ctx.InputType(0), ctx.InputShape(0)), ctx => ctx.SetOutput(0, ctx.Input(0)));
        r.Add("Dropout", DropoutInfer, DropoutKernel);
        r.Add("Tile", TileInfer, TileKernel, minOpset: 6);
        r.Add("Split", SplitInfer, SplitKernel);
        r.Add("Range", RangeInfer, RangeKernel, minOpset: 11);
    }

    // ---------------------------------------------------------------- Reshape

    private static Dim[] ReshapeTarget(Node node, int opset, Func<Dim[]> fromInput, Func<string, Exception> error)
    {
        if (opset >= 5) return fromInput();
        return (node.GetInts("shape") ?? throw error("attribute 'shape' is missing")).Select(Dim.Of).ToArray();
    }

    private static void ReshapeInfer(InferenceContext ctx)
    {
        var target = ReshapeTarget(ctx.Node, ctx.Opset, () => ctx.RequireConstant(1, "target shape").AsDims(), ctx.Error);
        bool allowZero = ctx.Opset >= 14 && ctx.Node.GetInt("allowzero", 0) != 0;
        ctx.SetOutput(0, ctx.InputType(0), ReshapeDims(ctx.InputShape(0), target, allowZero, ctx.Error, ctx.Unsupported));
    }

    private static void ReshapeKernel(KernelContext ctx)
    {
        var x = ctx.Input(0);
        var target = ReshapeTarget(ctx.Node, ctx.Opset, () => ctx.InputInts(1).Select(Dim.Of).ToArray(), ctx.Error);
        bool allowZero = ctx.Opset >= 14 && ctx.Node.GetInt("allowzero", 0) != 0;
        var shape = ReshapeDims(Shapes.Of(x.Shape), target, allowZero, ctx.Error, ctx.Unsupported).Values();
        ctx.SetOutput(0, x.Reshape(shape));
    }

    /// <summary>
    /// ONNX Reshape on possibly symbolic dimensions: 0 copies the input dimension (unless allowzero), one -1 is
    /// inferred from the element count, other entries (numbers or symbolic entries such as "batch") are taken as given.
    /// </summary>
    internal static Dim[] ReshapeDims(Dim[] input, Dim[] target, bool allowZero, Func<string, Exception> error, Func<string, Exception> unsupported)
    {
        var output = new Dim[target.Length];
        int inferred = -1;
        for (int i = 0; i < target.Length; i++)
        {
            var t = target[i];
            if (t.Factor < -1 || (!t.IsKnown && t.Factor < 0))
                throw error($"target shape {target.Format()} has an invalid entry {t}");
            if (t.IsKnown && t.Factor == -1)
            {
                if (inferred >= 0) throw error($"target shape {target.Format()} has more than one -1");
                inferred = i;
            }
            else if (t.IsKnown && t.Factor == 0 && !allowZero)
            {
                if (i >= input.Length) throw error($"target shape {target.Format()} copies dimension {i} (entry 0) but the input {input.Format()} has rank {input.Length}");
                output[i] = input[i];
            }
            else output[i] = t;
        }
        if (allowZero && inferred >= 0 && target.Any(t => t.IsKnown && t.Factor == 0))
            throw error($"target shape {target.Format()} has both 0 and -1, which allowzero=1 forbids");

        var total = input.Product();
        if (inferred >= 0)
        {
            var rest = output.Where((_, i) => i != inferred).Product();
            if (total is not { } tot || rest is not { } r)
                throw unsupported($"cannot infer the -1 of target shape {target.Format()} for input {input.Format()}: the element count is a product of two symbolic dimensions");
            if (r.IsKnown && r.Value == 0)
                throw error($"cannot infer the -1 of target shape {target.Format()} for input {input.Format()}: the other entries multiply to 0");
            output[inferred] = Dim.Divide(tot, r) ?? (tot.IsKnown && r.IsKnown
                ? throw error($"cannot reshape {input.Format()} ({tot} elements) to {target.Format()}: {tot} is not a multiple of {r}")
                : throw unsupported($"cannot reshape {input.Format()} to {target.Format()}: the inferred dimension {tot}/{r} is not of the form k*symbol"));
        }
        else if (total is { } tot && output.Product() is { } outTot && tot != outTot)
        {
            if (tot.IsKnown && outTot.IsKnown)
                throw error($"cannot reshape {input.Format()} ({tot} elements) to {output.Format()} ({outTot} elements)");
            throw unsupported($"reshaping {input.Format()} ({tot} elements) to {output.Format()} ({outTot} elements) works for one value of the symbolic dimension only");
        }
        return output;
    }

    // ---------------------------------------------------------------- Flatten

    private static int FlattenAxis(Node node, int rank, Func<string, Exception> error)
    {
        long axis = node.GetInt("axis", 1);
        long a = axis < 0 ? axis + rank : axis;
        if (a < 0 || a > rank) throw error($"axis {axis} is out of range for rank {rank} (allowed [-{rank}, {rank}])");
        return (int)a;
    }

    private static void FlattenInfer(InferenceContext ctx)
    {
        var x = ctx.InputShape(0);
        int axis = FlattenAxis(ctx.Node, x.Length, ctx.Error);
        Dim Prod(Dim[] dims) => dims.Product()
            ?? throw ctx.Unsupported($"flattening {x.Format()} at axis {axis} needs the product {dims.Format()}, which has two symbolic factors");
        ctx.SetOutput(0, ctx.InputType(0), [Prod(x[..axis]), Prod(x[axis..])]);
    }

    private static void FlattenKernel(KernelContext ctx)
    {
        var x = ctx.Input(0);
        int axis = FlattenAxis(ctx.Node, x.Rank, ctx.Error);
        ctx.SetOutput(0, x.Reshape([Product(x.Shape, 0, axis), Product(x.Shape, axis, x.Rank)]));
    }

    // ---------------------------------------------------------------- Transpose

    private static int[] Perm(Node node, int rank, Func<string, Exception> error)
    {
        var p = node.GetInts("perm");
        if (p is null) return Enumerable.Range(0, rank).Reverse().ToArray();
        if (p.Length != rank || p.Any(a => a < 0 || a >= rank) || p.Distinct().Count() != rank)
            throw error($"perm [{string.Join(",", p)}] is not a permutation of the {rank} axes");
        return p.Select(a => (int)a).ToArray();
    }

    private static void TransposeInfer(InferenceContext ctx)
    {
        var x = ctx.InputShape(0);
        var perm = Perm(ctx.Node, x.Length, ctx.Error);
        ctx.SetOutput(0, ctx.InputType(0), perm.Select(p => x[p]).ToArray());
    }

    private static void TransposeKernel(KernelContext ctx)
    {
        var x = ctx.Input(0);
        var perm = Perm(ctx.Node, x.Rank, ctx.Error);
        var strides = Strides(x.Shape);
        var offsets = perm.Select(p => Enumerable.Range(0, (int)x.Shape[p]).Select(c => c * strides[p]).ToArray()).ToArray();
        ctx.SetOutput(0, Remap(x, perm.Select(p => x.Shape[p]).ToArray(), OffsetMap(offsets)));
    }

    // ---------------------------------------------------------------- Concat

    private static int ConcatAxis(Node node, int opset, int rank, Func<string, Exception> error)
    {
        if (!node.Has("axis") && opset >= 4) throw error("attribute 'axis' is missing");
        return Axis(node.GetInt("axis", 1), rank, error);
    }

    private static void ConcatInfer(InferenceContext ctx)
    {
        if (ctx.InputCount == 0) throw ctx.Error("needs at least one input");
        var first = ctx.InputShape(0);
        int axis = ConcatAxis(ctx.Node, ctx.Opset, first.Length, ctx.Error);
        var output = (Dim[])first.Clone();
        for (int i = 1; i < ctx.InputCount; i++)
        {
            var s = ctx.InputShape(i);
            if (s.Length != first.Length) throw ctx.Error($"input {i} has rank {s.Length} {s.Format()}, input 0 has rank {first.Length} {first.Format()}");
            if (ctx.InputType(i) != ctx.InputType(0)) throw ctx.Error($"input {i} is {ctx.InputType(i).OnnxName()}, input 0 is {ctx.InputType(0).OnnxName()}");
            for (int d = 0; d < s.Length; d++)
            {
                if (d == axis)
                {
                    output[d] = Dim.Add(output[d], s[d])
                        ?? throw ctx.Unsupported($"the concatenated axis {axis} would be {output[d]}+{s[d]}, which is not of the form k*symbol");
                }
                else if (s[d] != output[d])
                {
                    if (s[d].IsKnown && output[d].IsKnown) throw ctx.Error($"input {i} {s.Format()} differs from input 0 {first.Format()} on axis {d}");
                    if (!output[d].IsKnown && s[d].IsKnown) output[d] = s[d]; // a known size pins the symbol down
                    else if (!output[d].IsKnown && !s[d].IsKnown)
                        throw ctx.Unsupported($"input {i} {s.Format()} and input 0 {first.Format()} have different symbolic sizes on axis {d}");
                }
            }
        }
        ctx.SetOutput(0, ctx.InputType(0), output);
    }

    private static void ConcatKernel(KernelContext ctx)
    {
        var inputs = Enumerable.Range(0, ctx.InputCount).Select(ctx.Input).ToArray();
        var first = inputs[0];
        int axis = ConcatAxis(ctx.Node, ctx.Opset, first.Rank, ctx.Error);
        foreach (var t in inputs)
            if (t.Rank != first.Rank || Enumerable.Range(0, t.Rank).Any(d => d != axis && t.Shape[d] != first.Shape[d]))
                throw ctx.Error($"cannot concatenate {t.Shape.Format()} with {first.Shape.Format()} on axis {axis}");
        var shape = (long[])first.Shape.Clone();
        shape[axis] = inputs.Sum(t => t.Shape[axis]);
        long outer = Product(first.Shape, 0, axis);
        var chunks = inputs.Select(t => Product(t.Shape, axis, t.Rank)).ToArray();
        if (first.Floats is not null)
            ctx.SetOutput(0, Tensor.FromFloats(ConcatData(inputs.Select(t => t.ToFloats()).ToArray(), chunks, outer), shape, first.Type));
        else
            ctx.SetOutput(0, Tensor.FromInts(ConcatData(inputs.Select(t => t.ResolveInts()).ToArray(), chunks, outer), shape, first.Type));
    }

    private static T[] ConcatData<T>(T[][] parts, long[] chunks, long outer)
    {
        var o = new T[outer * chunks.Sum()];
        long pos = 0;
        for (long p = 0; p < outer; p++)
            for (int i = 0; i < parts.Length; i++)
            {
                Array.Copy(parts[i], p * chunks[i], o, pos, chunks[i]);
                pos += chunks[i];
            }
        return o;
    }

    // ---------------------------------------------------------------- Squeeze / Unsqueeze

    /// <summary>Axes from the attribute (opset &lt; 13) or input 1 (opset ≥ 13); null when absent.</summary>
    private static long[]? AxesOf(Node node, int opset, Func<Tensor?> input) =>
        opset < 13 ? node.GetInts("axes") : input() is { } t ? t.AsDims().Select(d => d.IsKnown ? d.Value
            : throw new TrtNativeException(ErrorCode.Unsupported, $"node '{node.Name}' ({node.OpType}): axes must be numbers, got {t}")).ToArray() : null;

    private static void SqueezeInfer(InferenceContext ctx)
    {
        var x = ctx.InputShape(0);
        var axes = AxesOf(ctx.Node, ctx.Opset, () => ctx.HasInput(1) ? ctx.RequireConstant(1, "axes") : null);
        if (axes is null)
        {
            // Without axes every size-1 dimension goes; a symbolic dimension is taken to be not 1.
            ctx.SetOutput(0, ctx.InputType(0), x.Where(d => !(d.IsKnown && d.Value == 1)).ToArray());
            return;
        }
        var drop = Axes(axes, x.Length, ctx.Error);
        foreach (var a in drop)
        {
            if (!x[a].IsKnown) throw ctx.Unsupported($"axis {a} of {x.Format()} is the symbolic dimension '{x[a]}'; squeezing it would require it to be 1");
            if (x[a].Value != 1) throw ctx.Error($"cannot squeeze axis {a} of {x.Format()}: its size is not 1");
        }
        ctx.SetOutput(0, ctx.InputType(0), x.Where((_, i) => !drop.Contains(i)).ToArray());
    }

    private static void SqueezeKernel(KernelContext ctx)
    {
        var x = ctx.Input(0);
        var axes = AxesOf(ctx.Node, ctx.Opset, () => ctx.OptionalInput(1));
        int[] drop = axes is null ? Enumerable.Range(0, x.Rank).Where(i => x.Shape[i] == 1).ToArray() : Axes(axes, x.Rank, ctx.Error);
        foreach (var a in drop) if (x.Shape[a] != 1) throw ctx.Error($"cannot squeeze axis {a} of {x.Shape.Format()}: its size is not 1");
        ctx.SetOutput(0, x.Reshape(x.Shape.Where((_, i) => !drop.Contains(i)).ToArray()));
    }

    private static T[] Unsqueeze<T>(T[] x, long[] axes, Func<string, Exception> error, T one)
    {
        int rank = x.Length + axes.Length;
        var insert = Axes(axes, rank, error);
        var o = new T[rank];
        for (int i = 0, j = 0; i < rank; i++) o[i] = insert.Contains(i) ? one : x[j++];
        return o;
    }

    private static void UnsqueezeInfer(InferenceContext ctx)
    {
        var axes = AxesOf(ctx.Node, ctx.Opset, () => ctx.RequireConstant(1, "axes")) ?? throw ctx.Error("axes are missing");
        ctx.SetOutput(0, ctx.InputType(0), Unsqueeze(ctx.InputShape(0), axes, ctx.Error, Dim.Of(1)));
    }

    private static void UnsqueezeKernel(KernelContext ctx)
    {
        var x = ctx.Input(0);
        var axes = AxesOf(ctx.Node, ctx.Opset, () => ctx.Input(1)) ?? throw ctx.Error("axes are missing");
        ctx.SetOutput(0, x.Reshape(Unsqueeze(x.Shape, axes, ctx.Error, 1L)));
    }

    // ---------------------------------------------------------------- Shape / Size

    private static (int Start, int End) ShapeRange(Node node, int opset, int rank)
    {
        long start = opset >= 15 ? node.GetInt("start", 0) : 0, end = opset >= 15 ? node.GetInt("end", rank) : rank;
        if (start < 0) start += rank;
        if (end < 0) end += rank;
        start = Math.Clamp(start, 0, rank);
        end = Math.Clamp(end, start, rank);
        return ((int)start, (int)end);
    }

    private static void ShapeInfer(InferenceContext ctx)
    {
        var (s, e) = ShapeRange(ctx.Node, ctx.Opset, ctx.InputRank(0));
        ctx.SetOutput(0, DataType.Int64, [Dim.Of(e - s)]);
    }

    private static void ShapeKernel(KernelContext ctx)
    {
        var x = ctx.Input(0);
        var (s, e) = ShapeRange(ctx.Node, ctx.Opset, x.Rank);
        ctx.SetOutput(0, Tensor.FromInts(x.Shape[s..e], [e - s]));
    }

    private static void SizeInfer(InferenceContext ctx)
    {
        ctx.InputShape(0);
        ctx.SetOutput(0, DataType.Int64, []);
    }

    private static void SizeKernel(KernelContext ctx) => ctx.SetOutput(0, Tensor.FromInts([ctx.Input(0).Length], []));

    // ---------------------------------------------------------------- Gather

    private static void GatherInfer(InferenceContext ctx)
    {
        var data = ctx.InputShape(0);
        var indices = ctx.InputShape(1);
        if (!ctx.InputType(1).IsIntegral()) throw ctx.Error($"indices must be int32 or int64, got {ctx.InputType(1).OnnxName()}");
        int axis = Axis(ctx.Node.GetInt("axis", 0), data.Length, ctx.Error);
        ctx.SetOutput(0, ctx.InputType(0), [.. data[..axis], .. indices, .. data[(axis + 1)..]]);
    }

    private static void GatherKernel(KernelContext ctx)
    {
        var data = ctx.Input(0);
        var indices = ctx.Input(1);
        int axis = Axis(ctx.Node.GetInt("axis", 0), data.Rank, ctx.Error);
        long n = data.Shape[axis], outer = Product(data.Shape, 0, axis), inner = Product(data.Shape, axis + 1, data.Rank);
        var idx = indices.ResolveInts();
        var map = new long[outer * idx.Length * inner];
        long k = 0;
        for (long p = 0; p < outer; p++)
            foreach (var raw in idx)
            {
                long i = raw < 0 ? raw + n : raw;
                if (i < 0 || i >= n) throw ctx.Error($"index {raw} is out of range for axis {axis} of size {n}");
                long src = (p * n + i) * inner;
                for (long q = 0; q < inner; q++) map[k++] = src + q;
            }
        ctx.SetOutput(0, Remap(data, [.. data.Shape[..axis], .. indices.Shape, .. data.Shape[(axis + 1)..]], map));
    }

    // ---------------------------------------------------------------- Slice

    private sealed record SliceSpec(Dim[] Starts, Dim[] Ends, long[] Axes, long[] Steps);

    private static long[] KnownInts(Tensor t, string role, Func<string, Exception> unsupported) =>
        t.AsDims().Select(d => d.IsKnown ? d.Value : throw unsupported($"the {role} {t} must be numbers")).ToArray();

    private static SliceSpec ReadSlice(Node node, int opset, Func<int, string, Tensor?> input, Func<string, Exception> error, Func<string, Exception> unsupported)
    {
        Dim[] starts, ends;
        long[]? axes, steps = null;
        if (opset < 10)
        {
            starts = (node.GetInts("starts") ?? throw error("attribute 'starts' is missing")).Select(Dim.Of).ToArray();
            ends = (node.GetInts("ends") ?? throw error("attribute 'ends' is missing")).Select(Dim.Of).ToArray();
            axes = node.GetInts("axes");
        }
        else
        {
            starts = input(1, "starts")!.AsDims();
            ends = input(2, "ends")!.AsDims();
            axes = input(3, "axes") is { } a ? KnownInts(a, "axes", unsupported) : null;
            steps = input(4, "steps") is { } s ? KnownInts(s, "steps", unsupported) : null;
        }
        axes ??= Enumerable.Range(0, starts.Length).Select(i => (long)i).ToArray();
        steps ??= Enumerable.Repeat(1L, starts.Length).ToArray();
        if (ends.Length != starts.Length || axes.Length != starts.Length || steps.Length != starts.Length)
            throw error($"starts ({starts.Length}), ends ({ends.Length}), axes ({axes.Length}) and steps ({steps.Length}) must have the same length");
        if (steps.Any(s => s == 0)) throw error("steps must not be 0");
        return new SliceSpec(starts, ends, axes, steps);
    }

    /// <summary>First index and length of a slice of a known dimension (ONNX clamping rules).</summary>
    internal static (long Start, long Length) SliceRange(long dim, long start, long end, long step)
    {
        if (start < 0) start += dim;
        if (end < 0) end += dim;
        if (step > 0)
        {
            start = Math.Clamp(start, 0, dim);
            end = Math.Clamp(end, 0, dim);
            return (start, end > start ? (end - start - 1) / step + 1 : 0);
        }
        start = Math.Clamp(start, 0, dim - 1);
        end = Math.Clamp(end, -1, dim - 1);
        return (start, start > end ? (start - end - 1) / -step + 1 : 0);
    }

    /// <summary>
    /// Length of a slice of a symbolic dimension d. Positions are written as a·d + b (a ∈ {0, 1}); a bound at or
    /// beyond INT_MAX means "to the end". Non-negative numeric bounds are taken to lie inside d (a symbolic
    /// dimension is assumed at least that large). Null when the length is not of the form k·symbol or a number.
    /// </summary>
    private static Dim? SymbolicSliceLength(Dim dim, Dim start, Dim end, long step)
    {
        (long A, long B)? Pos(Dim v, bool isEnd)
        {
            if (!v.IsKnown) return v == dim ? (1, 0) : null;
            long x = v.Value;
            if (step > 0)
            {
                if (x >= BigBound) return (1, 0);
                if (x <= -BigBound) return (0, 0);
            }
            else
            {
                if (x >= BigBound) return (1, -1);
                if (x <= -BigBound) return isEnd ? (0, -1) : null;
            }
            return x < 0 ? (1, x) : (0, x);
        }
        if (Pos(start, false) is not { } s || Pos(end, true) is not { } e) return null;
        long a = step > 0 ? e.A - s.A : s.A - e.A, b = step > 0 ? e.B - s.B : s.B - e.B;
        if (a == 0) return Dim.Of(b > 0 ? (b - 1) / Math.Abs(step) + 1 : 0);
        if (a == 1 && b == 0 && Math.Abs(step) == 1) return dim;
        return null;
    }

    private static void SliceInfer(InferenceContext ctx)
    {
        var x = ctx.InputShape(0);
        var spec = ReadSlice(ctx.Node, ctx.Opset, (i, role) => ctx.HasInput(i) ? ctx.RequireConstant(i, role) : i <= 2 ? throw ctx.Error($"input {i} ({role}) is missing") : null, ctx.Error, ctx.Unsupported);
        var axes = Axes(spec.Axes, x.Length, ctx.Error);
        var output = (Dim[])x.Clone();
        for (int k = 0; k < axes.Length; k++)
        {
            var d = x[axes[k]];
            Dim s = spec.Starts[k], e = spec.Ends[k];
            if (d.IsKnown && s.IsKnown && e.IsKnown)
                output[axes[k]] = Dim.Of(SliceRange(d.Value, s.Value, e.Value, spec.Steps[k]).Length);
            else
                output[axes[k]] = (d.IsKnown ? null : SymbolicSliceLength(d, s, e, spec.Steps[k]))
                    ?? throw ctx.Unsupported($"slicing axis {axes[k]} of {x.Format()} from {s} to {e} step {spec.Steps[k]}: the result size is not known at build time");
        }
        ctx.SetOutput(0, ctx.InputType(0), output);
    }

    private static void SliceKernel(KernelContext ctx)
    {
        var x = ctx.Input(0);
        var spec = ReadSlice(ctx.Node, ctx.Opset, (i, role) => ctx.HasInput(i) ? ctx.Input(i) : i <= 2 ? throw ctx.Error($"input {i} ({role}) is missing") : null, ctx.Error, ctx.Unsupported);
        var axes = Axes(spec.Axes, x.Rank, ctx.Error);
        var strides = Strides(x.Shape);
        var offsets = new long[x.Rank][];
        var shape = (long[])x.Shape.Clone();
        for (int d = 0; d < x.Rank; d++) offsets[d] = Enumerable.Range(0, (int)x.Shape[d]).Select(c => c * strides[d]).ToArray();
        for (int k = 0; k < axes.Length; k++)
        {
            int d = axes[k];
            long step = spec.Steps[k];
            var (start, len) = SliceRange(x.Shape[d], spec.Starts[k].Value, spec.Ends[k].Value, step);
            shape[d] = len;
            offsets[d] = new long[len];
            for (long c = 0; c < len; c++) offsets[d][c] = (start + c * step) * strides[d];
        }
        ctx.SetOutput(0, Remap(x, shape, OffsetMap(offsets)));
    }

    // ---------------------------------------------------------------- Cast / CastLike

    private static DataType CastTarget(long to, Func<string, Exception> unsupported)
    {
        var t = (DataType)to;
        if (!Enum.IsDefined(t) || t is DataType.Undefined or DataType.String)
            throw unsupported($"cast to {(Enum.IsDefined(t) ? t.OnnxName() : $"type {to}")} is not supported; supported: numeric types and bool");
        return t;
    }

    private static void CheckCastSource(DataType from, Func<string, Exception> unsupported)
    {
        if (from is DataType.String or DataType.Undefined) throw unsupported($"cast from {from.OnnxName()} is not supported; supported: numeric types and bool");
    }

    private static void CastInfer(InferenceContext ctx)
    {
        CheckCastSource(ctx.InputType(0), ctx.Unsupported);
        var to = CastTarget(ctx.Node.Has("to") ? ctx.Node.GetInt("to", 0) : throw ctx.Error("attribute 'to' is missing"), ctx.Unsupported);
        ctx.SetOutput(0, to, ctx.InputShape(0));
    }

    private static void CastKernel(KernelContext ctx) =>
        ctx.SetOutput(0, ShapeCast.Convert(ctx.Input(0), CastTarget(ctx.Node.GetInt("to", 0), ctx.Unsupported)));

    private static void CastLikeInfer(InferenceContext ctx)
    {
        CheckCastSource(ctx.InputType(0), ctx.Unsupported);
        ctx.SetOutput(0, CastTarget((long)ctx.InputType(1), ctx.Unsupported), ctx.InputShape(0));
    }

    private static void CastLikeKernel(KernelContext ctx) => ctx.SetOutput(0, ShapeCast.Convert(ctx.Input(0), ctx.Input(1).Type));

    // ---------------------------------------------------------------- ConstantOfShape / Constant

    private static Tensor FillValue(Node node, Func<string, Exception> error)
    {
        var v = node.GetTensor("value") ?? Tensor.Scalar(0f);
        if (v.Length != 1) throw error($"attribute 'value' must hold one element, got {v}");
        return v;
    }

    private static void ConstantOfShapeInfer(InferenceContext ctx)
    {
        var value = FillValue(ctx.Node, ctx.Error);
        var dims = ctx.RequireConstant(0, "output shape").AsDims();
        if (dims.Any(d => d.Factor < 0)) throw ctx.Error($"the output shape {dims.Format()} has a negative entry");
        ctx.SetOutput(0, value.Type, dims);
    }

    private static void ConstantOfShapeKernel(KernelContext ctx)
    {
        var value = FillValue(ctx.Node, ctx.Error);
        var shape = ctx.InputInts(0);
        if (shape.Any(d => d < 0)) throw ctx.Error($"the output shape {shape.Format()} has a negative entry");
        long n = shape.ElementCount();
        ctx.SetOutput(0, value.Floats is { } f
            ? Tensor.FromFloats(Enumerable.Repeat(f[0], (int)n).ToArray(), shape, value.Type)
            : Tensor.FromInts(Enumerable.Repeat(value.ResolveInts()[0], (int)n).ToArray(), shape, value.Type));
    }

    private static Tensor ConstantValue(Node node, Func<string, Exception> error, Func<string, Exception> unsupported)
    {
        foreach (var (name, a) in node.Attributes)
        {
            switch (name)
            {
                case "value": return a.Tensor ?? throw error("attribute 'value' is not a tensor");
                case "value_float": return Tensor.Scalar(a.Float);
                case "value_floats": return Tensor.FromFloats((float[])a.Floats!.Clone(), [a.Floats!.Length]);
                case "value_int": return Tensor.FromInts([a.Int], []);
                case "value_ints": return Tensor.FromInts((long[])a.Ints!.Clone(), [a.Ints!.Length]);
                case "value_string" or "value_strings" or "sparse_value":
                    throw unsupported($"attribute '{name}' is not supported; supported: value (numeric tensor), value_float(s), value_int(s)");
            }
        }
        throw error("has none of the attributes value, value_float, value_floats, value_int, value_ints");
    }

    private static void ConstantInfer(InferenceContext ctx)
    {
        var t = ConstantValue(ctx.Node, ctx.Error, ctx.Unsupported);
        if (t.Type == DataType.String) throw ctx.Unsupported("string constants are not supported");
        ctx.SetOutput(0, t.Type, Shapes.Of(t.Shape));
    }

    private static void ConstantKernel(KernelContext ctx) => ctx.SetOutput(0, ConstantValue(ctx.Node, ctx.Error, ctx.Unsupported));

    // ---------------------------------------------------------------- Dropout (inference only)

    private static DataType MaskType(InferenceContext ctx) => ctx.Opset >= 10 ? DataType.Bool : ctx.InputType(0);

    private static void DropoutInfer(InferenceContext ctx)
    {
        if (ctx.Opset >= 12 && ctx.HasInput(2))
        {
            var training = ctx.RequireConstant(2, "training_mode");
            if (ScalarValue(training) != 0)
            {
                double ratio = ctx.HasInput(1) ? ScalarValue(ctx.RequireConstant(1, "ratio")) : 0.5;
                if (ratio != 0) throw ctx.Unsupported($"training_mode=true with ratio {ratio} (random dropout) is not supported; only inference (training_mode false) or ratio 0");
            }
        }
        ctx.SetOutput(0, ctx.InputType(0), ctx.InputShape(0));
        ctx.SetOutput(1, MaskType(ctx), ctx.InputShape(0));
    }

    private static void DropoutKernel(KernelContext ctx)
    {
        var x = ctx.Input(0);
        if (ctx.Opset >= 12 && ctx.HasInput(2) && ScalarValue(ctx.Input(2)) != 0)
        {
            double ratio = ctx.HasInput(1) ? ScalarValue(ctx.Input(1)) : 0.5;
            if (ratio != 0) throw ctx.Unsupported($"training_mode=true with ratio {ratio} (random dropout) is not supported");
        }
        ctx.SetOutput(0, x);
        if (ctx.WantsOutput(1))
        {
            var maskType = ctx.Opset >= 10 ? DataType.Bool : x.Type;
            ctx.SetOutput(1, maskType.IsFloating()
                ? Tensor.FromFloats(Enumerable.Repeat(1f, (int)x.Length).ToArray(), x.Shape, maskType)
                : Tensor.FromInts(Enumerable.Repeat(1L, (int)x.Length).ToArray(), x.Shape, maskType));
        }
    }

    // ---------------------------------------------------------------- Tile

    private static void TileInfer(InferenceContext ctx)
    {
        var x = ctx.InputShape(0);
        var repeats = KnownInts(ctx.RequireConstant(1, "repeats"), "repeats", ctx.Unsupported);
        if (repeats.Length != x.Length) throw ctx.Error($"repeats has {repeats.Length} entries for an input of rank {x.Length}");
        if (repeats.Any(r => r < 0)) throw ctx.Error($"repeats [{string.Join(",", repeats)}] has a negative entry");
        ctx.SetOutput(0, ctx.InputType(0), x.Select((d, i) => Dim.Multiply(d, Dim.Of(repeats[i]))!.Value).ToArray());
    }

    private static void TileKernel(KernelContext ctx)
    {
        var x = ctx.Input(0);
        var repeats = ctx.InputInts(1);
        if (repeats.Length != x.Rank || repeats.Any(r => r < 0)) throw ctx.Error($"repeats [{string.Join(",", repeats)}] do not fit input {x.Shape.Format()}");
        var strides = Strides(x.Shape);
        var offsets = new long[x.Rank][];
        for (int d = 0; d < x.Rank; d++)
        {
            long n = x.Shape[d];
            offsets[d] = new long[n * repeats[d]];
            for (long c = 0; c < offsets[d].Length; c++) offsets[d][c] = (c % n) * strides[d];
        }
        ctx.SetOutput(0, Remap(x, offsets.Select(o => (long)o.Length).ToArray(), OffsetMap(offsets)));
    }

    // ---------------------------------------------------------------- Split

    /// <summary>
    /// Sizes of the parts: the "split" attribute (opset &lt; 13; opset 1 also as input 1) or input 1 (opset ≥ 13);
    /// otherwise equal parts, one per output (opset 18: num_outputs parts of ceil(n/num_outputs), the last smaller).
    /// </summary>
    private static Dim[] SplitSizes(Node node, int opset, Dim dim, Func<int, string, Tensor?> input, Func<string, Exception> error, Func<string, Exception> unsupported)
    {
        long[]? split = opset < 13 ? node.GetInts("split") ?? (opset < 2 ? input(1, "split") is { } t1 ? KnownInts(t1, "split", unsupported) : null : null)
            : input(1, "split") is { } t ? KnownInts(t, "split", unsupported) : null;
        int parts = node.Outputs.Count;
        if (split is not null)
        {
            if (split.Length != parts) throw error($"split [{string.Join(",", split)}] has {split.Length} entries for {parts} outputs");
            if (split.Any(v => v < 0)) throw error($"split [{string.Join(",", split)}] has a negative entry");
            if (dim.IsKnown && split.Sum() != dim.Value) throw error($"split [{string.Join(",", split)}] does not add up to the axis size {dim}");
            if (!dim.IsKnown) throw unsupported($"splitting the symbolic dimension '{dim}' into fixed sizes [{string.Join(",", split)}] works for one value only");
            return split.Select(Dim.Of).ToArray();
        }
        if (opset >= 18 && node.Has("num_outputs"))
        {
            long k = node.GetInt("num_outputs", parts);
            if (k != parts) throw error($"num_outputs {k} differs from the {parts} outputs");
            if (!dim.IsKnown)
                return Dim.Divide(dim, Dim.Of(k)) is { } q ? Enumerable.Repeat(q, parts).ToArray()
                    : throw unsupported($"the symbolic dimension '{dim}' cannot be split into {k} parts");
            long chunk = (dim.Value + k - 1) / k;
            return Enumerable.Range(0, parts).Select(i => Dim.Of(Math.Max(0, Math.Min(chunk, dim.Value - i * chunk)))).ToArray();
        }
        var each = Dim.Divide(dim, Dim.Of(parts))
            ?? (dim.IsKnown ? throw error($"axis size {dim} does not split into {parts} equal parts") : throw unsupported($"the symbolic dimension '{dim}' cannot be split into {parts} equal parts"));
        return Enumerable.Repeat(each, parts).ToArray();
    }

    private static void SplitInfer(InferenceContext ctx)
    {
        var x = ctx.InputShape(0);
        int axis = Axis(ctx.Node.GetInt("axis", 0), x.Length, ctx.Error);
        var sizes = SplitSizes(ctx.Node, ctx.Opset, x[axis], (i, role) => ctx.HasInput(i) ? ctx.RequireConstant(i, role) : null, ctx.Error, ctx.Unsupported);
        for (int k = 0; k < sizes.Length; k++)
        {
            var s = (Dim[])x.Clone();
            s[axis] = sizes[k];
            ctx.SetOutput(k, ctx.InputType(0), s);
        }
    }

    private static void SplitKernel(KernelContext ctx)
    {
        var x = ctx.Input(0);
        int axis = Axis(ctx.Node.GetInt("axis", 0), x.Rank, ctx.Error);
        var sizes = SplitSizes(ctx.Node, ctx.Opset, Dim.Of(x.Shape[axis]), (i, _) => ctx.OptionalInput(i), ctx.Error, ctx.Unsupported).Values();
        var strides = Strides(x.Shape);
        long begin = 0;
        for (int k = 0; k < sizes.Length; k++)
        {
            var offsets = new long[x.Rank][];
            for (int d = 0; d < x.Rank; d++)
            {
                long from = d == axis ? begin : 0, len = d == axis ? sizes[k] : x.Shape[d];
                offsets[d] = new long[len];
                for (long c = 0; c < len; c++) offsets[d][c] = (from + c) * strides[d];
            }
            begin += sizes[k];
            if (ctx.WantsOutput(k)) ctx.SetOutput(k, Remap(x, offsets.Select(o => (long)o.Length).ToArray(), OffsetMap(offsets)));
        }
    }

    // ---------------------------------------------------------------- Range

    private static void RangeInfer(InferenceContext ctx)
    {
        var start = ctx.RequireConstant(0, "start");
        var limit = ctx.RequireConstant(1, "limit");
        var delta = ctx.RequireConstant(2, "delta");
        if (start.IsSymbolic || delta.IsSymbolic)
            throw ctx.Unsupported("start and delta must be numbers at build time");
        Dim length;
        if (limit.IsSymbolic)
        {
            // Range(0, n, 1) over a symbolic n (position ids) has n elements.
            var l = limit.AsDims()[0];
            if (ScalarValue(start) != 0 || ScalarValue(delta) != 1) throw ctx.Unsupported($"range from {ScalarValue(start)} to '{l}' step {ScalarValue(delta)} has no k*symbol length");
            length = l;
        }
        else length = Dim.Of(RangeLength(ScalarValue(start), ScalarValue(limit), ScalarValue(delta), ctx.Error));
        ctx.SetOutput(0, ctx.InputType(0), [length]);
    }

    private static long RangeLength(double start, double limit, double delta, Func<string, Exception> error) =>
        delta == 0 ? throw error("delta must not be 0") : Math.Max(0, (long)Math.Ceiling((limit - start) / delta));

    private static void RangeKernel(KernelContext ctx)
    {
        var start = ctx.Input(0);
        double s = ScalarValue(start), l = ScalarValue(ctx.Input(1)), d = ScalarValue(ctx.Input(2));
        long n = RangeLength(s, l, d, ctx.Error);
        if (start.Floats is not null)
        {
            var o = new float[n];
            for (long i = 0; i < n; i++) o[i] = (float)(s + i * d);
            ctx.SetOutput(0, Tensor.FromFloats(o, [n], start.Type));
        }
        else
        {
            var o = new long[n];
            for (long i = 0; i < n; i++) o[i] = (long)s + i * (long)d;
            ctx.SetOutput(0, Tensor.FromInts(o, [n], start.Type));
        }
    }
}
