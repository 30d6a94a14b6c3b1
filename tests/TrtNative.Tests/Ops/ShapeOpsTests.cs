using TrtNative.Ir;
using TrtNative.Reference;
using Xunit;

namespace TrtNative.Tests.Ops;

/// <summary>Builds one-node graphs and runs them through shape inference and the reference executor.</summary>
internal static class OpHarness
{
    public static Tensor F(float[] data, params long[] shape) => Tensor.FromFloats(data, shape);
    public static Tensor I(long[] data, params long[] shape) => Tensor.FromInts(data, shape);
    public static Tensor Range(params long[] shape) => F(Enumerable.Range(0, (int)shape.ElementCount()).Select(i => (float)i).ToArray(), shape);

    /// <summary>
    /// A graph with one node: <paramref name="inputs"/> become graph inputs (concrete shapes) and
    /// <paramref name="constants"/> initializers.
    /// </summary>
    public static Graph OneNode(Node node, int opset, Dictionary<string, Tensor> inputs, Dictionary<string, Tensor>? constants = null)
    {
        var g = new Graph();
        g.Opsets[""] = opset;
        foreach (var (name, t) in inputs) g.Inputs.Add(new ValueInfo(name, t.Type, Shapes.Of(t.Shape)));
        foreach (var (name, t) in constants ?? new()) g.Initializers[name] = t;
        g.Nodes.Add(node);
        foreach (var o in node.Outputs) if (o.Length > 0) g.Outputs.Add(new ValueInfo(o, DataType.Undefined, null));
        return g;
    }

    /// <summary>
    /// Runs the node (inputs in the order given by <paramref name="order"/>, "" = omitted optional input, default:
    /// inputs then constants); returns the inferred output infos and the computed outputs.
    /// </summary>
    public static (ValueInfo[] Infos, Tensor[] Outputs) Run(string op, int opset, Action<Node>? attrs, Dictionary<string, Tensor> inputs,
        Dictionary<string, Tensor>? constants = null, string[]? order = null, int outputs = 1)
    {
        var names = order ?? inputs.Keys.Concat(constants?.Keys.AsEnumerable() ?? []).ToArray();
        var node = new Node(op, names, Enumerable.Range(0, outputs).Select(i => $"y{i}"), name: $"test_{op}");
        attrs?.Invoke(node);
        var g = OneNode(node, opset, inputs, constants);
        ShapeInference.Run(g);
        var infos = node.Outputs.Select(o => g.Values[o]).ToArray();
        var result = ReferenceExecutor.Run(g, inputs);
        var outs = node.Outputs.Select(o => result[o]).ToArray();
        for (int i = 0; i < outs.Length; i++)
        {
            // The shape function and the kernel must agree.
            Assert.Equal(infos[i].Shape!.Values(), outs[i].Shape);
            Assert.Equal(infos[i].Type, outs[i].Type);
        }
        return (infos, outs);
    }

    public static Tensor Run1(string op, int opset, Action<Node>? attrs, Dictionary<string, Tensor> inputs,
        Dictionary<string, Tensor>? constants = null, string[]? order = null) => Run(op, opset, attrs, inputs, constants, order).Outputs[0];

    /// <summary>Shape inference only, on symbolic input shapes.</summary>
    public static (Graph G, Dictionary<string, Tensor> Known) Infer(Node node, int opset, Dictionary<string, (DataType Type, Dim[] Shape)> inputs, Dictionary<string, Tensor>? constants = null)
    {
        var g = new Graph();
        g.Opsets[""] = opset;
        foreach (var (name, (t, s)) in inputs) g.Inputs.Add(new ValueInfo(name, t, s));
        foreach (var (name, t) in constants ?? new()) g.Initializers[name] = t;
        g.Nodes.Add(node);
        return (g, ShapeInference.Run(g));
    }

    public static Dim B => Dim.Sym("batch");
}

public class ShapeOpsTests
{
    private static readonly Dictionary<string, Tensor> None = new();

    // ------------------------------------------------------------ Reshape

    [Fact]
    public void ReshapeCopiesZeroAndInfersMinusOne()
    {
        var x = OpHarness.Range(2, 3, 4);
        var y = OpHarness.Run1("Reshape", 13, null, new() { ["x"] = x }, new() { ["s"] = OpHarness.I([0, -1], 2) });
        Assert.Equal(new long[] { 2, 12 }, y.Shape);
        Assert.Equal(x.Floats, y.Floats);
    }

    [Fact]
    public void ReshapeAllowZeroKeepsZeroSizedDims()
    {
        var x = OpHarness.F([], 0, 3, 4);
        var y = OpHarness.Run1("Reshape", 14, n => n.Set("allowzero", 1L), new() { ["x"] = x }, new() { ["s"] = OpHarness.I([3, 4, 0], 3) });
        Assert.Equal(new long[] { 3, 4, 0 }, y.Shape);
    }

    [Fact]
    public void ReshapeOpset1UsesShapeAttributeAndWorksOnInts()
    {
        var x = OpHarness.I([1, 2, 3, 4, 5, 6], 6);
        var y = OpHarness.Run1("Reshape", 4, n => n.Set("shape", new long[] { 3, -1 }), new() { ["x"] = x });
        Assert.Equal(new long[] { 3, 2 }, y.Shape);
        Assert.Equal(new long[] { 1, 2, 3, 4, 5, 6 }, y.Ints);
    }

    [Fact]
    public void ReshapeRejectsWrongElementCount()
    {
        var ex = Assert.Throws<TrtNativeException>(() => OpHarness.Run1("Reshape", 13, null, new() { ["x"] = OpHarness.Range(2, 3) }, new() { ["s"] = OpHarness.I([4, 2], 2) }));
        Assert.Equal(ErrorCode.ShapeMismatch, ex.Code);
        Assert.Contains("6 elements", ex.Message);
    }

    [Fact]
    public void ReshapeOfSymbolicBatchWithConstantTarget()
    {
        var node = new Node("Reshape", ["x", "s"], ["y"], "r");
        var (g, _) = OpHarness.Infer(node, 13, new() { ["x"] = (DataType.Float, [OpHarness.B, Dim.Of(2048), Dim.Of(1), Dim.Of(1)]) },
            new() { ["s"] = OpHarness.I([0, -1], 2) });
        Assert.Equal([OpHarness.B, Dim.Of(2048)], g.Values["y"].Shape!);
    }

    [Fact]
    public void ReshapeWithSymbolicTargetValue()
    {
        var node = new Node("Reshape", ["x", "s"], ["y"], "r");
        var (g, _) = OpHarness.Infer(node, 13, new() { ["x"] = (DataType.Float, [OpHarness.B, Dim.Of(4), Dim.Of(6)]) },
            new() { ["s"] = Tensor.FromDims([OpHarness.B, Dim.Of(-1), Dim.Of(3)]) });
        Assert.Equal([OpHarness.B, Dim.Of(8), Dim.Of(3)], g.Values["y"].Shape!);
    }

    [Fact]
    public void ReshapeFoldsBatchIntoRows()
    {
        var node = new Node("Reshape", ["x", "s"], ["y"], "r");
        var (g, _) = OpHarness.Infer(node, 13, new() { ["x"] = (DataType.Float, [OpHarness.B, Dim.Of(197), Dim.Of(768)]) },
            new() { ["s"] = OpHarness.I([-1, 768], 2) });
        Assert.Equal([Dim.Sym("batch", 197), Dim.Of(768)], g.Values["y"].Shape!);
    }

    [Fact]
    public void ReshapeWithRuntimeTargetIsUnsupported()
    {
        var node = new Node("Reshape", ["x", "s"], ["y"], "r");
        var ex = Assert.Throws<TrtNativeException>(() => OpHarness.Infer(node, 13, new()
        {
            ["x"] = (DataType.Float, Shapes.Of(2, 3)),
            ["s"] = (DataType.Int64, Shapes.Of(2)),
        }));
        Assert.Equal(ErrorCode.Unsupported, ex.Code);
        Assert.Contains("target shape", ex.Message);
        Assert.Contains("'r'", ex.Message);
    }

    // ------------------------------------------------------------ Flatten

    [Theory]
    [InlineData(0, 1, 24)]
    [InlineData(1, 2, 12)]
    [InlineData(2, 6, 4)]
    [InlineData(3, 24, 1)]
    [InlineData(-1, 6, 4)]
    [InlineData(-3, 1, 24)]
    public void FlattenSplitsAtAxis(long axis, long rows, long cols)
    {
        var y = OpHarness.Run1("Flatten", 13, n => n.Set("axis", axis), new() { ["x"] = OpHarness.Range(2, 3, 4) });
        Assert.Equal(new[] { rows, cols }, y.Shape);
        Assert.Equal(23f, y.Floats![23]);
    }

    [Fact]
    public void FlattenOfSymbolicBatch()
    {
        var node = new Node("Flatten", ["x"], ["y"], "f");
        var (g, _) = OpHarness.Infer(node, 13, new() { ["x"] = (DataType.Float, [OpHarness.B, Dim.Of(512), Dim.Of(7), Dim.Of(7)]) });
        Assert.Equal([OpHarness.B, Dim.Of(512 * 49)], g.Values["y"].Shape!);
        node.Set("axis", 0L);
        (g, _) = OpHarness.Infer(node, 13, new() { ["x"] = (DataType.Float, [OpHarness.B, Dim.Of(3)]) });
        Assert.Equal([Dim.Of(1), Dim.Sym("batch", 3)], g.Values["y"].Shape!);
    }

    // ------------------------------------------------------------ Transpose

    [Fact]
    public void TransposeMovesElements()
    {
        // x[i,j,k] = 12i + 4j + k; y = transpose(x, [2,0,1]) so y[k,i,j] = x[i,j,k].
        var y = OpHarness.Run1("Transpose", 13, n => n.Set("perm", new long[] { 2, 0, 1 }), new() { ["x"] = OpHarness.Range(2, 3, 4) });
        Assert.Equal(new long[] { 4, 2, 3 }, y.Shape);
        // y[1,1,2] = x[1,2,1] = 12 + 8 + 1 = 21; y at flat (1*2+1)*3+2 = 11.
        Assert.Equal(21f, y.Floats![11]);
        Assert.Equal(new float[] { 0, 4, 8, 12, 16, 20 }, y.Floats[..6]);
    }

    [Fact]
    public void TransposeDefaultReversesAndHandlesInts()
    {
        var y = OpHarness.Run1("Transpose", 13, null, new() { ["x"] = OpHarness.I([1, 2, 3, 4, 5, 6], 2, 3) });
        Assert.Equal(new long[] { 3, 2 }, y.Shape);
        Assert.Equal(new long[] { 1, 4, 2, 5, 3, 6 }, y.Ints);
    }

    [Fact]
    public void TransposeOfSymbolicShape()
    {
        var node = new Node("Transpose", ["x"], ["y"], "t").Set("perm", new long[] { 0, 2, 1 });
        var (g, _) = OpHarness.Infer(node, 13, new() { ["x"] = (DataType.Float, [OpHarness.B, Dim.Of(768), Dim.Of(196)]) });
        Assert.Equal([OpHarness.B, Dim.Of(196), Dim.Of(768)], g.Values["y"].Shape!);
    }

    [Fact]
    public void TransposeRejectsBadPerm()
    {
        var ex = Assert.Throws<TrtNativeException>(() => OpHarness.Run1("Transpose", 13, n => n.Set("perm", new long[] { 0, 0 }), new() { ["x"] = OpHarness.Range(2, 3) }));
        Assert.Contains("not a permutation", ex.Message);
    }

    // ------------------------------------------------------------ Concat

    [Fact]
    public void ConcatOnMiddleAxisWithNegativeIndex()
    {
        var a = OpHarness.Range(2, 1, 2);             // [[0,1]],[[2,3]]
        var b = OpHarness.F([10, 11, 12, 13, 14, 15, 16, 17], 2, 2, 2);
        var y = OpHarness.Run1("Concat", 13, n => n.Set("axis", -2L), new() { ["a"] = a, ["b"] = b });
        Assert.Equal(new long[] { 2, 3, 2 }, y.Shape);
        Assert.Equal(new float[] { 0, 1, 10, 11, 12, 13, 2, 3, 14, 15, 16, 17 }, y.Floats);
    }

    [Fact]
    public void ConcatOfInts()
    {
        var y = OpHarness.Run1("Concat", 13, n => n.Set("axis", 0L), None, new() { ["a"] = OpHarness.I([7], 1), ["b"] = OpHarness.I([-1, 3], 2) });
        Assert.Equal(new long[] { 7, -1, 3 }, y.Ints);
    }

    [Fact]
    public void ConcatOfSymbolicShapes()
    {
        // ViT: class token [batch,1,768] ++ patches [batch,196,768] on axis 1.
        var node = new Node("Concat", ["a", "b"], ["y"], "c").Set("axis", 1L);
        var (g, _) = OpHarness.Infer(node, 13, new()
        {
            ["a"] = (DataType.Float, [OpHarness.B, Dim.Of(1), Dim.Of(768)]),
            ["b"] = (DataType.Float, [OpHarness.B, Dim.Of(196), Dim.Of(768)]),
        });
        Assert.Equal([OpHarness.B, Dim.Of(197), Dim.Of(768)], g.Values["y"].Shape!);
        // Along the batch axis: batch + batch = 2*batch.
        node.Set("axis", 0L);
        (g, _) = OpHarness.Infer(node, 13, new()
        {
            ["a"] = (DataType.Float, [OpHarness.B, Dim.Of(3)]),
            ["b"] = (DataType.Float, [OpHarness.B, Dim.Of(3)]),
        });
        Assert.Equal([Dim.Sym("batch", 2), Dim.Of(3)], g.Values["y"].Shape!);
    }

    [Fact]
    public void ConcatRejectsMismatchedDims()
    {
        var ex = Assert.Throws<TrtNativeException>(() =>
            OpHarness.Run1("Concat", 13, n => n.Set("axis", 0L), new() { ["a"] = OpHarness.Range(1, 2), ["b"] = OpHarness.Range(1, 3) }));
        Assert.Equal(ErrorCode.ShapeMismatch, ex.Code);
    }

    // ------------------------------------------------------------ Squeeze / Unsqueeze

    [Fact]
    public void SqueezeAxesAsInputAndAttribute()
    {
        var x = OpHarness.Range(1, 3, 1, 2);
        var y13 = OpHarness.Run1("Squeeze", 13, null, new() { ["x"] = x }, new() { ["axes"] = OpHarness.I([-2], 1) });
        Assert.Equal(new long[] { 1, 3, 2 }, y13.Shape);
        var y11 = OpHarness.Run1("Squeeze", 11, n => n.Set("axes", new long[] { 0, 2 }), new() { ["x"] = x });
        Assert.Equal(new long[] { 3, 2 }, y11.Shape);
        var all = OpHarness.Run1("Squeeze", 13, null, new() { ["x"] = x });
        Assert.Equal(new long[] { 3, 2 }, all.Shape);
        Assert.Equal(x.Floats, all.Floats);
    }

    [Fact]
    public void SqueezeOfNonOneAxisFails()
    {
        var ex = Assert.Throws<TrtNativeException>(() => OpHarness.Run1("Squeeze", 11, n => n.Set("axes", new long[] { 1 }), new() { ["x"] = OpHarness.Range(1, 3) }));
        Assert.Contains("not 1", ex.Message);
    }

    [Fact]
    public void SqueezeOnSymbolicShape()
    {
        var node = new Node("Squeeze", ["x", "axes"], ["y"], "s");
        var (g, _) = OpHarness.Infer(node, 13, new() { ["x"] = (DataType.Float, [OpHarness.B, Dim.Of(2048), Dim.Of(1), Dim.Of(1)]) },
            new() { ["axes"] = OpHarness.I([2, 3], 2) });
        Assert.Equal([OpHarness.B, Dim.Of(2048)], g.Values["y"].Shape!);
        var bad = Assert.Throws<TrtNativeException>(() => OpHarness.Infer(node, 13, new() { ["x"] = (DataType.Float, [OpHarness.B, Dim.Of(2048), Dim.Of(1), Dim.Of(1)]) },
            new() { ["axes"] = OpHarness.I([0], 1) }));
        Assert.Equal(ErrorCode.Unsupported, bad.Code);
    }

    [Fact]
    public void UnsqueezeInsertsAtOutputPositions()
    {
        var x = OpHarness.I([5, 6, 7], 3);
        // Axes refer to the output: [2, 0] on a [3] input gives [1, 3, 1].
        var y = OpHarness.Run1("Unsqueeze", 13, null, new() { ["x"] = x }, new() { ["axes"] = OpHarness.I([2, 0], 2) });
        Assert.Equal(new long[] { 1, 3, 1 }, y.Shape);
        Assert.Equal(new long[] { 5, 6, 7 }, y.Ints);
        var y11 = OpHarness.Run1("Unsqueeze", 11, n => n.Set("axes", new long[] { -1 }), new() { ["x"] = x });
        Assert.Equal(new long[] { 3, 1 }, y11.Shape);
        var two = OpHarness.Run1("Unsqueeze", 13, null, new() { ["x"] = OpHarness.Range(3, 4) }, new() { ["axes"] = OpHarness.I([1, 3], 2) });
        Assert.Equal(new long[] { 3, 1, 4, 1 }, two.Shape);
        var scalar = OpHarness.Run1("Unsqueeze", 13, null, None, new() { ["s"] = OpHarness.I([4], []), ["axes"] = OpHarness.I([0], 1) });
        Assert.Equal(new long[] { 1 }, scalar.Shape);
        Assert.Equal(new long[] { 4 }, scalar.Ints);
        var bad = Assert.Throws<TrtNativeException>(() => OpHarness.Run1("Unsqueeze", 13, null, new() { ["x"] = x }, new() { ["axes"] = OpHarness.I([3, 0], 2) }));
        Assert.Contains("out of range", bad.Message);
    }

    // ------------------------------------------------------------ Shape / Size

    [Fact]
    public void ShapeWithStartAndEnd()
    {
        var x = OpHarness.Range(2, 3, 4, 5);
        Assert.Equal(new long[] { 2, 3, 4, 5 }, OpHarness.Run1("Shape", 13, null, new() { ["x"] = x }).Ints);
        Assert.Equal(new long[] { 3, 4 }, OpHarness.Run1("Shape", 15, n => n.Set("start", 1L).Set("end", -1L), new() { ["x"] = x }).Ints);
        Assert.Equal(new long[] { 5 }, OpHarness.Run1("Shape", 15, n => n.Set("start", -1L), new() { ["x"] = x }).Ints);
        Assert.Equal(new long[] { 2, 3, 4, 5 }, OpHarness.Run1("Shape", 15, n => n.Set("start", -10L).Set("end", 10L), new() { ["x"] = x }).Ints);
        Assert.Equal(new long[] { 120 }, new[] { OpHarness.Run1("Size", 13, null, new() { ["x"] = x }).Ints![0] });
    }

    // ------------------------------------------------------------ Gather

    [Fact]
    public void GatherAxis1With2dAndNegativeIndices()
    {
        // x[i,j] = 3i + j, shape [2,3]; indices [[2,0],[-1,1]] on axis 1 → y[i,a,b] = x[i, idx[a,b]].
        var y = OpHarness.Run1("Gather", 13, n => n.Set("axis", 1L), new() { ["x"] = OpHarness.Range(2, 3) }, new() { ["i"] = OpHarness.I([2, 0, -1, 1], 2, 2) });
        Assert.Equal(new long[] { 2, 2, 2 }, y.Shape);
        Assert.Equal(new float[] { 2, 0, 2, 1, 5, 3, 5, 4 }, y.Floats);
    }

    [Fact]
    public void GatherScalarIndexOfIntsDropsAxis()
    {
        var y = OpHarness.Run1("Gather", 13, null, new() { ["x"] = OpHarness.I([8, 3, 224, 224], 4) }, new() { ["i"] = OpHarness.I([0], []) });
        Assert.Empty(y.Shape);
        Assert.Equal(new long[] { 8 }, y.Ints);
    }

    [Fact]
    public void GatherOutOfRangeFails()
    {
        var ex = Assert.Throws<TrtNativeException>(() => OpHarness.Run1("Gather", 13, null, new() { ["x"] = OpHarness.Range(2, 3) }, new() { ["i"] = OpHarness.I([2], 1) }));
        Assert.Contains("out of range", ex.Message);
    }

    [Fact]
    public void GatherOnSymbolicShape()
    {
        // ViT takes the class token: Gather(axis 1, index 0) of [batch,197,768] → [batch,768].
        var node = new Node("Gather", ["x", "i"], ["y"], "g").Set("axis", 1L);
        var (g, _) = OpHarness.Infer(node, 13, new() { ["x"] = (DataType.Float, [OpHarness.B, Dim.Of(197), Dim.Of(768)]) }, new() { ["i"] = OpHarness.I([0], []) });
        Assert.Equal([OpHarness.B, Dim.Of(768)], g.Values["y"].Shape!);
    }

    // ------------------------------------------------------------ Slice

    [Fact]
    public void SliceWithStepsAndNegativeStep()
    {
        // x = 0..9, shape [10]: [1:8:3] = 1,4,7 ; [-1:-11:-4] = 9,5,1 (INT_MIN style end is clamped to -1).
        var x = OpHarness.Range(10);
        var y = OpHarness.Run1("Slice", 13, null, new() { ["x"] = x }, new() { ["s"] = OpHarness.I([1], 1), ["e"] = OpHarness.I([8], 1), ["a"] = OpHarness.I([0], 1), ["st"] = OpHarness.I([3], 1) });
        Assert.Equal(new float[] { 1, 4, 7 }, y.Floats);
        var r = OpHarness.Run1("Slice", 13, null, new() { ["x"] = x }, new() { ["s"] = OpHarness.I([-1], 1), ["e"] = OpHarness.I([long.MinValue], 1), ["a"] = OpHarness.I([0], 1), ["st"] = OpHarness.I([-4], 1) });
        Assert.Equal(new float[] { 9, 5, 1 }, r.Floats);
    }

    [Fact]
    public void Slice2dWithAxesAndClamping()
    {
        // x[i,j] = 4i + j, shape [3,4]; axes [1,-2]: columns 1..INT_MAX, rows 0..2 → rows 0,1 cols 1..3.
        var y = OpHarness.Run1("Slice", 13, null, new() { ["x"] = OpHarness.Range(3, 4) },
            new() { ["s"] = OpHarness.I([1, 0], 2), ["e"] = OpHarness.I([long.MaxValue, 2], 2), ["a"] = OpHarness.I([1, -2], 2) });
        Assert.Equal(new long[] { 2, 3 }, y.Shape);
        Assert.Equal(new float[] { 1, 2, 3, 5, 6, 7 }, y.Floats);
        // Start beyond the end gives an empty slice.
        var empty = OpHarness.Run1("Slice", 13, null, new() { ["x"] = OpHarness.Range(3, 4) },
            new() { ["s"] = OpHarness.I([10], 1), ["e"] = OpHarness.I([20], 1), ["a"] = OpHarness.I([1], 1) });
        Assert.Equal(new long[] { 3, 0 }, empty.Shape);
    }

    [Fact]
    public void SliceOpset1UsesAttributesAndWorksOnInts()
    {
        var y = OpHarness.Run1("Slice", 9, n => n.Set("starts", new long[] { 2 }).Set("ends", new long[] { 4 }), new() { ["x"] = OpHarness.I([8, 3, 224, 225], 4) });
        Assert.Equal(new long[] { 224, 225 }, y.Ints);
    }

    [Fact]
    public void SliceOnSymbolicDims()
    {
        var node = new Node("Slice", ["x", "s", "e", "a"], ["y"], "sl");
        var x = (DataType.Float, new[] { OpHarness.B, Dim.Of(197), Dim.Of(768) });
        // x[:, 0:1] keeps batch; x[0:INT_MAX] on batch keeps batch; x[-1:] on batch is 1.
        var (g, _) = OpHarness.Infer(node, 13, new() { ["x"] = x }, new() { ["s"] = OpHarness.I([0, 0], 2), ["e"] = OpHarness.I([long.MaxValue, 1], 2), ["a"] = OpHarness.I([0, 1], 2) });
        Assert.Equal([OpHarness.B, Dim.Of(1), Dim.Of(768)], g.Values["y"].Shape!);
        (g, _) = OpHarness.Infer(node, 13, new() { ["x"] = x }, new() { ["s"] = OpHarness.I([-1], 1), ["e"] = OpHarness.I([long.MaxValue], 1), ["a"] = OpHarness.I([0], 1) });
        Assert.Equal([Dim.Of(1), Dim.Of(197), Dim.Of(768)], g.Values["y"].Shape!);
        // Reversing the batch axis keeps its size.
        var rev = new Node("Slice", ["x", "s", "e", "a", "st"], ["y"], "rev");
        (g, _) = OpHarness.Infer(rev, 13, new() { ["x"] = x }, new() { ["s"] = OpHarness.I([-1], 1), ["e"] = OpHarness.I([long.MinValue], 1), ["a"] = OpHarness.I([0], 1), ["st"] = OpHarness.I([-1], 1) });
        Assert.Equal([OpHarness.B, Dim.Of(197), Dim.Of(768)], g.Values["y"].Shape!);
        // x[1:] on batch would be batch-1: not representable.
        var ex = Assert.Throws<TrtNativeException>(() => OpHarness.Infer(node, 13, new() { ["x"] = x }, new() { ["s"] = OpHarness.I([1], 1), ["e"] = OpHarness.I([long.MaxValue], 1), ["a"] = OpHarness.I([0], 1) }));
        Assert.Equal(ErrorCode.Unsupported, ex.Code);
    }

    [Fact]
    public void SliceWithRuntimeStartsIsUnsupported()
    {
        var node = new Node("Slice", ["x", "s", "e"], ["y"], "sl");
        var ex = Assert.Throws<TrtNativeException>(() => OpHarness.Infer(node, 13, new() { ["x"] = (DataType.Float, Shapes.Of(4)), ["s"] = (DataType.Int64, Shapes.Of(1)) }, new() { ["e"] = OpHarness.I([3], 1) }));
        Assert.Equal(ErrorCode.Unsupported, ex.Code);
        Assert.Contains("starts", ex.Message);
    }

    // ------------------------------------------------------------ Cast

    [Fact]
    public void CastFloatToIntTruncatesTowardZeroAndWraps()
    {
        var x = OpHarness.F([1.7f, -1.7f, 2.5f, -0.2f, 300.9f], 5);
        Assert.Equal(new long[] { 1, -1, 2, 0, 300 }, OpHarness.Run1("Cast", 13, n => n.Set("to", (long)DataType.Int32), new() { ["x"] = x }).Ints);
        Assert.Equal(new long[] { 1, 255, 2, 0, 44 }, OpHarness.Run1("Cast", 13, n => n.Set("to", (long)DataType.UInt8), new() { ["x"] = x }).Ints);
        Assert.Equal(new long[] { 1, 1, 1, 1, 1 }, OpHarness.Run1("Cast", 13, n => n.Set("to", (long)DataType.Bool), new() { ["x"] = x }).Ints);
    }

    [Fact]
    public void CastToFloat16RoundsToHalfPrecision()
    {
        // 1 + 2^-11 is exactly between two fp16 values (1 and 1 + 2^-10): ties to even gives 1.
        // 0.1 rounds to 0.0999755859375 in fp16; 70000 overflows to +inf.
        var x = OpHarness.F([1f + 1f / 2048, 0.1f, 70000f], 3);
        var y = OpHarness.Run1("Cast", 13, n => n.Set("to", (long)DataType.Float16), new() { ["x"] = x });
        Assert.Equal(DataType.Float16, y.Type);
        Assert.Equal(new float[] { 1f, 0.0999755859375f, float.PositiveInfinity }, y.Floats);
        var b = OpHarness.Run1("Cast", 13, n => n.Set("to", (long)DataType.BFloat16), new() { ["x"] = OpHarness.F([1f + 1f / 256, 1f + 3f / 256], 2) });
        Assert.Equal(new float[] { 1f, 1f + 4f / 256 }, b.Floats);
    }

    [Fact]
    public void CastIntsToFloatAndBoolToInt()
    {
        var y = OpHarness.Run1("Cast", 13, n => n.Set("to", (long)DataType.Float), new() { ["x"] = OpHarness.I([3, -4], 2) });
        Assert.Equal(new float[] { 3, -4 }, y.Floats);
        var z = OpHarness.Run1("Cast", 13, n => n.Set("to", (long)DataType.Int64), new() { ["x"] = Tensor.FromInts([1, 0], [2], DataType.Bool) });
        Assert.Equal(new long[] { 1, 0 }, z.Ints);
        var like = OpHarness.Run1("CastLike", 15, null, new() { ["x"] = OpHarness.F([2.9f], 1) }, new() { ["t"] = OpHarness.I([0], 1) });
        Assert.Equal(DataType.Int64, like.Type);
        Assert.Equal(new long[] { 2 }, like.Ints);
    }

    [Fact]
    public void CastToStringIsUnsupported()
    {
        var ex = Assert.Throws<TrtNativeException>(() => OpHarness.Run1("Cast", 13, n => n.Set("to", (long)DataType.String), new() { ["x"] = OpHarness.F([1], 1) }));
        Assert.Equal(ErrorCode.Unsupported, ex.Code);
        Assert.Contains("string", ex.Message);
    }

    // ------------------------------------------------------------ Constant / ConstantOfShape

    [Fact]
    public void ConstantOfShapeFillsWithValue()
    {
        var y = OpHarness.Run1("ConstantOfShape", 13, n => n.Set("value", AttributeValue.Of(Tensor.FromInts([7], [1], DataType.Int32))), None, new() { ["s"] = OpHarness.I([2, 3], 2) });
        Assert.Equal(DataType.Int32, y.Type);
        Assert.Equal(Enumerable.Repeat(7L, 6), y.Ints);
        var z = OpHarness.Run1("ConstantOfShape", 13, null, None, new() { ["s"] = OpHarness.I([2], 1) });
        Assert.Equal(DataType.Float, z.Type);
        Assert.Equal(new float[] { 0, 0 }, z.Floats);
        var scalar = OpHarness.Run1("ConstantOfShape", 13, null, None, new() { ["s"] = OpHarness.I([], 0) });
        Assert.Empty(scalar.Shape);
    }

    [Fact]
    public void ConstantOfShapeWithSymbolicShapeValue()
    {
        var node = new Node("ConstantOfShape", ["s"], ["y"], "c");
        // The symbol must come from a graph input for the symbolic initializer to be bound.
        var (g, _) = OpHarness.Infer(node, 13, new() { ["x"] = (DataType.Float, [OpHarness.B]) }, new() { ["s"] = Tensor.FromDims([OpHarness.B, Dim.Of(4)]) });
        Assert.Equal([OpHarness.B, Dim.Of(4)], g.Values["y"].Shape!);
    }

    [Fact]
    public void ConstantForms()
    {
        Assert.Equal(new float[] { 1.5f, 2 }, OpHarness.Run1("Constant", 13, n => n.Set("value_floats", new float[] { 1.5f, 2 }), None).Floats);
        var i = OpHarness.Run1("Constant", 13, n => n.Set("value_int", 5L), None);
        Assert.Empty(i.Shape);
        Assert.Equal(new long[] { 5 }, i.Ints);
        Assert.Equal(new long[] { 1, 2 }, OpHarness.Run1("Constant", 13, n => n.Set("value_ints", new long[] { 1, 2 }), None).Ints);
        Assert.Equal(new float[] { 0.25f }, OpHarness.Run1("Constant", 13, n => n.Set("value_float", 0.25f), None).Floats);
        var t = OpHarness.Run1("Constant", 13, n => n.Set("value", AttributeValue.Of(OpHarness.Range(2, 2))), None);
        Assert.Equal(new long[] { 2, 2 }, t.Shape);
        var ex = Assert.Throws<TrtNativeException>(() => OpHarness.Run1("Constant", 13, n => n.Set("value_string", "x"), None));
        Assert.Equal(ErrorCode.Unsupported, ex.Code);
    }

    // ------------------------------------------------------------ Identity / Dropout / Tile

    [Fact]
    public void IdentityAndDropoutPassThrough()
    {
        var x = OpHarness.Range(2, 2);
        Assert.Equal(x.Floats, OpHarness.Run1("Identity", 13, null, new() { ["x"] = x }).Floats);
        var (infos, outs) = OpHarness.Run("Dropout", 13, null, new() { ["x"] = x }, new() { ["r"] = OpHarness.F([0.3f], []) }, outputs: 2);
        Assert.Equal(x.Floats, outs[0].Floats);
        Assert.Equal(DataType.Bool, infos[1].Type);
        Assert.Equal(new long[] { 1, 1, 1, 1 }, outs[1].Ints);
        var (_, old) = OpHarness.Run("Dropout", 7, n => n.Set("ratio", 0.5f), new() { ["x"] = x }, outputs: 2);
        Assert.Equal(DataType.Float, old[1].Type);
    }

    [Fact]
    public void DropoutInTrainingModeIsUnsupported()
    {
        var ex = Assert.Throws<TrtNativeException>(() => OpHarness.Run1("Dropout", 13, null, new() { ["x"] = OpHarness.Range(2) },
            new() { ["r"] = OpHarness.F([0.3f], []), ["t"] = Tensor.FromInts([1], [], DataType.Bool) }));
        Assert.Equal(ErrorCode.Unsupported, ex.Code);
        // ratio 0 in training mode is the identity.
        var y = OpHarness.Run1("Dropout", 13, null, new() { ["x"] = OpHarness.Range(2) },
            new() { ["r"] = OpHarness.F([0f], []), ["t"] = Tensor.FromInts([1], [], DataType.Bool) });
        Assert.Equal(new float[] { 0, 1 }, y.Floats);
    }

    [Fact]
    public void TileRepeatsEachAxis()
    {
        var y = OpHarness.Run1("Tile", 13, null, new() { ["x"] = OpHarness.F([1, 2, 3, 4], 2, 2) }, new() { ["r"] = OpHarness.I([1, 2], 2) });
        Assert.Equal(new long[] { 2, 4 }, y.Shape);
        Assert.Equal(new float[] { 1, 2, 1, 2, 3, 4, 3, 4 }, y.Floats);
        var node = new Node("Tile", ["x", "r"], ["y"], "t");
        var (g, _) = OpHarness.Infer(node, 13, new() { ["x"] = (DataType.Float, [OpHarness.B, Dim.Of(3)]) }, new() { ["r"] = OpHarness.I([2, 2], 2) });
        Assert.Equal([Dim.Sym("batch", 2), Dim.Of(6)], g.Values["y"].Shape!);
    }

    // ------------------------------------------------------------ Split / Range

    [Fact]
    public void SplitEqualAndExplicit()
    {
        // x[i,j] = 6i + j, shape [2,6]: three equal parts on axis 1, then [1,5] as input (opset 13) and attribute (opset 11).
        var x = OpHarness.Range(2, 6);
        var (_, eq) = OpHarness.Run("Split", 13, n => n.Set("axis", 1L), new() { ["x"] = x }, outputs: 3);
        Assert.Equal(new float[] { 2, 3, 8, 9 }, eq[1].Floats);
        Assert.Equal(new long[] { 2, 2 }, eq[2].Shape);
        var (_, ex) = OpHarness.Run("Split", 13, n => n.Set("axis", -1L), new() { ["x"] = x }, new() { ["s"] = OpHarness.I([1, 5], 2) }, outputs: 2);
        Assert.Equal(new float[] { 0, 6 }, ex[0].Floats);
        Assert.Equal(new float[] { 1, 2, 3, 4, 5, 7, 8, 9, 10, 11 }, ex[1].Floats);
        var (_, attr) = OpHarness.Run("Split", 11, n => n.Set("axis", 1L).Set("split", new long[] { 4, 2 }), new() { ["x"] = x }, outputs: 2);
        Assert.Equal(new long[] { 2, 2 }, attr[1].Shape);
        // Opset 18 num_outputs: 6 into 4 parts of ceil(6/4) = 2, the last ones smaller: 2, 2, 2, 0.
        var (_, n18) = OpHarness.Run("Split", 18, n => n.Set("axis", 1L).Set("num_outputs", 4L), new() { ["x"] = x }, outputs: 4);
        Assert.Equal(new long[] { 2, 0 }, n18[3].Shape);
        Assert.Throws<TrtNativeException>(() => OpHarness.Run("Split", 13, n => n.Set("axis", 1L), new() { ["x"] = x }, outputs: 4));
    }

    [Fact]
    public void SplitOnSymbolicShapeKeepsBatch()
    {
        // ViT's packed q/k/v projection: [batch,197,2304] split in 3 on the last axis.
        var node = new Node("Split", ["x"], ["q", "k", "v"], "sp").Set("axis", -1L);
        var (g, _) = OpHarness.Infer(node, 13, new() { ["x"] = (DataType.Float, [OpHarness.B, Dim.Of(197), Dim.Of(2304)]) });
        Assert.Equal([OpHarness.B, Dim.Of(197), Dim.Of(768)], g.Values["v"].Shape!);
    }

    [Fact]
    public void RangeOfIntsAndFloats()
    {
        var i = OpHarness.Run1("Range", 13, null, None, new() { ["s"] = OpHarness.I([10], []), ["l"] = OpHarness.I([4], []), ["d"] = OpHarness.I([-3], []) });
        Assert.Equal(new long[] { 10, 7 }, i.Ints);
        var f = OpHarness.Run1("Range", 13, null, None, new() { ["s"] = OpHarness.F([1], []), ["l"] = OpHarness.F([2], []), ["d"] = OpHarness.F([0.25f], []) });
        Assert.Equal(new float[] { 1, 1.25f, 1.5f, 1.75f }, f.Floats);
    }

    // ------------------------------------------------------------ Shape chains

    [Fact]
    public void DynamicBatchFlattenChainFoldsToSymbolicShape()
    {
        // PyTorch's dynamic-batch export of x.view(x.size(0), -1) on x: [batch,2048,1,1]:
        //   s = Shape(x); n = Gather(s, 0); u = Unsqueeze(n, [0]); c = Concat(u, [-1]); y = Reshape(x, c)
        var g = new Graph();
        g.Opsets[""] = 13;
        g.Inputs.Add(new ValueInfo("x", DataType.Float, [OpHarness.B, Dim.Of(2048), Dim.Of(1), Dim.Of(1)]));
        g.Initializers["zero"] = OpHarness.I([0], []);
        g.Initializers["axes0"] = OpHarness.I([0], 1);
        g.Initializers["minus1"] = OpHarness.I([-1], 1);
        g.Nodes.Add(new Node("Shape", ["x"], ["s"], "shape"));
        g.Nodes.Add(new Node("Gather", ["s", "zero"], ["n"], "gather").Set("axis", 0L));
        g.Nodes.Add(new Node("Unsqueeze", ["n", "axes0"], ["u"], "unsqueeze"));
        g.Nodes.Add(new Node("Concat", ["u", "minus1"], ["c"], "concat").Set("axis", 0L));
        g.Nodes.Add(new Node("Reshape", ["x", "c"], ["y"], "reshape"));
        g.Outputs.Add(new ValueInfo("y", DataType.Float, null));

        var known = ShapeInference.Run(g);
        Assert.Equal([OpHarness.B, Dim.Of(2048)], g.Values["y"].Shape!);
        Assert.True(known["c"].IsSymbolic);
        Assert.Equal([OpHarness.B, Dim.Of(-1)], known["c"].AsDims());
        Assert.Equal([OpHarness.B], known["u"].AsDims());
        Assert.Equal([Dim.Of(1)], g.Values["u"].Shape!);

        // The same graph runs for a concrete batch.
        var x = OpHarness.Range(3, 2048, 1, 1);
        var y = ReferenceExecutor.Run(g, new Dictionary<string, Tensor> { ["x"] = x })["y"];
        Assert.Equal(new long[] { 3, 2048 }, y.Shape);
        Assert.Equal(x.Floats, y.Floats);
    }

    [Fact]
    public void VitClassTokenExpandChainFoldsToSymbolicShape()
    {
        // PyTorch's export of class_token.expand(n, -1, -1) with p: [batch,196,768] (torch.onnx symbolic for expand):
        //   n = Gather(Shape(p), 0); c = Reshape(Concat(Unsqueeze(n), [-1], [-1]), [-1])
        //   ones = ConstantOfShape(Shape(c), 1); size = Where(Equal(c, ones * -1), ones, c); t = Expand(cls, size)
        //   y = Concat(t, p, axis 1)
        var g = new Graph();
        g.Opsets[""] = 13;
        g.Inputs.Add(new ValueInfo("p", DataType.Float, [OpHarness.B, Dim.Of(196), Dim.Of(768)]));
        var cls = Tensor.FromFloats(Enumerable.Range(0, 768).Select(i => (float)i).ToArray(), [1, 1, 768]);
        g.Initializers["cls"] = cls;
        g.Initializers["zero"] = OpHarness.I([0], []);
        g.Initializers["axes0"] = OpHarness.I([0], 1);
        g.Initializers["minus1"] = OpHarness.I([-1], 1);
        g.Initializers["minus1s"] = OpHarness.I([-1], []);
        g.Nodes.Add(new Node("Shape", ["p"], ["s"], "shape"));
        g.Nodes.Add(new Node("Gather", ["s", "zero"], ["n"], "gather").Set("axis", 0L));
        g.Nodes.Add(new Node("Unsqueeze", ["n", "axes0"], ["u"], "unsqueeze"));
        g.Nodes.Add(new Node("Concat", ["u", "minus1", "minus1"], ["c0"], "concat").Set("axis", 0L));
        g.Nodes.Add(new Node("Reshape", ["c0", "minus1"], ["c"], "reshape"));
        g.Nodes.Add(new Node("Shape", ["c"], ["cs"], "shape_c"));
        g.Nodes.Add(new Node("ConstantOfShape", ["cs"], ["ones"], "ones").Set("value", AttributeValue.Of(OpHarness.I([1], 1))));
        g.Nodes.Add(new Node("Mul", ["ones", "minus1s"], ["neg"], "neg"));
        g.Nodes.Add(new Node("Equal", ["c", "neg"], ["eq"], "eq"));
        g.Nodes.Add(new Node("Where", ["eq", "ones", "c"], ["size"], "where"));
        g.Nodes.Add(new Node("Expand", ["cls", "size"], ["t"], "expand"));
        g.Nodes.Add(new Node("Concat", ["t", "p"], ["y"], "cat").Set("axis", 1L));
        g.Outputs.Add(new ValueInfo("y", DataType.Float, null));

        var known = ShapeInference.Run(g);
        Assert.Equal([OpHarness.B, Dim.Of(-1), Dim.Of(-1)], known["c"].AsDims());
        Assert.Equal([OpHarness.B, Dim.Of(1), Dim.Of(1)], known["size"].AsDims());
        Assert.Equal([OpHarness.B, Dim.Of(1), Dim.Of(768)], g.Values["t"].Shape!);
        Assert.Equal([OpHarness.B, Dim.Of(197), Dim.Of(768)], g.Values["y"].Shape!);

        var p = OpHarness.F(new float[2 * 196 * 768], 2, 196, 768);
        var y = ReferenceExecutor.Run(g, new Dictionary<string, Tensor> { ["p"] = p })["y"];
        Assert.Equal(new long[] { 2, 197, 768 }, y.Shape);
        Assert.Equal(767f, y.Floats![767]);                 // batch 0, class token, last channel
        Assert.Equal(5f, y.Floats[197 * 768 + 5]);          // batch 1, class token
        Assert.Equal(0f, y.Floats[197 * 768 + 768 + 5]);    // batch 1, first patch
    }

    [Fact]
    public void ShapeSliceChainWithOpset1Slice()
    {
        // Shape(x)[2:] with x: [batch,3,224,224] folds to the constant [224,224] even though x has a symbolic batch.
        var g = new Graph();
        g.Opsets[""] = 9;
        g.Inputs.Add(new ValueInfo("x", DataType.Float, [OpHarness.B, Dim.Of(3), Dim.Of(224), Dim.Of(224)]));
        g.Nodes.Add(new Node("Shape", ["x"], ["s"], "shape"));
        g.Nodes.Add(new Node("Slice", ["s"], ["hw"], "slice").Set("starts", new long[] { 2 }).Set("ends", new long[] { long.MaxValue }));
        g.Nodes.Add(new Node("Slice", ["s"], ["nb"], "slice0").Set("starts", new long[] { 0 }).Set("ends", new long[] { 1 }));
        g.Outputs.Add(new ValueInfo("hw", DataType.Int64, null));
        var known = ShapeInference.Run(g);
        Assert.False(known["hw"].IsSymbolic);
        Assert.Equal(new long[] { 224, 224 }, known["hw"].Ints);
        Assert.Equal([OpHarness.B], known["nb"].AsDims());
    }
}
