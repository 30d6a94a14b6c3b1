using TrtNative.Ir;
using Xunit;
using static TrtNative.Tests.Ops.MathOpTestUtil;

namespace TrtNative.Tests.Ops;

public class NormalizationOpsTests
{
    [Fact]
    public void BatchNormInferenceForm()
    {
        var x = F([-1, 0, 1, 2, 3, 4], 1, 2, 1, 3);
        var y = Run(Node("BatchNormalization", 5).Set("epsilon", 0.25f), 15, [x, F([1, 1.5f], 2), F([0, 1], 2), F([0, 3], 2), F([0.75f, 2], 2)])[0];
        // channel 0: (x - 0) / 1 * 1 + 0; channel 1: (x - 3) / 1.5 * 1.5 + 1 = x - 2
        Close([-1, 0, 1, 0, 1, 2], y.Floats!);
        var old = Run(Node("BatchNormalization", 5).Set("spatial", 0L).Set("epsilon", 0f), 7,
            [F([1, 2, 3, 4], 1, 2, 2), F([1, 2, 3, 4], 2, 2), F([0, 0, 0, 1], 2, 2), F([1, 1, 1, 1], 2, 2), F([1, 1, 1, 1], 2, 2)])[0];
        Close([0, 2, 6, 13], old.Floats!);
        var training = new TrtNative.Ir.Node("BatchNormalization", ["in0", "in1", "in2", "in3", "in4"], ["y", "mean"], "bn");
        var e = Assert.Throws<TrtNativeException>(() => Run(training, 9, [x, F([1, 1], 2), F([0, 0], 2), F([0, 0], 2), F([1, 1], 2)]));
        Assert.Equal(ErrorCode.Unsupported, e.Code);
        // training_mode is an opset-14 attribute; the older training forms stay refused.
        e = Assert.Throws<TrtNativeException>(() => Run(Node("BatchNormalization", 5).Set("training_mode", 1L), 13, [x, F([1, 1], 2), F([0, 0], 2), F([0, 0], 2), F([1, 1], 2)]));
        Assert.Equal(ErrorCode.Unsupported, e.Code);
        Assert.Contains("training_mode", e.Message);
        // From opset 14, statistics outputs in inference mode are invalid (ONNX: "extra outputs are invalid").
        e = Assert.Throws<TrtNativeException>(() => Run(Node("BatchNormalization", 5, 3), 15, [x, F([1, 1], 2), F([0, 0], 2), F([0, 0], 2), F([1, 1], 2)]));
        Assert.Equal(ErrorCode.ShapeMismatch, e.Code);
        Assert.Contains("training_mode=1", e.Message);
    }

    // Two channels, each with values 1,3,5,7 / 0,2,4,6 over (N=2) × (1×2): means 4 and 3, population variances 5
    // (20/4; the sample variance would be 20/3), so with epsilon 4 both channels divide by 3.
    private static readonly Tensor TrainX = F([1, 3, 0, 2, 5, 7, 4, 6], 2, 2, 1, 2);

    [Theory]
    [InlineData(14)]
    [InlineData(15)]
    public void BatchNormTrainingModeByHand(int opset)
    {
        var node = Node("BatchNormalization", 5, 3).Set("training_mode", 1L).Set("epsilon", 4f).Set("momentum", 0.5f);
        var outs = Run(node, opset, [TrainX, F([2, 1], 2), F([1, 0], 2), F([10, -2], 2), F([1, 3], 2)]);
        // channel 0: (x − 4)/3·2 + 1; channel 1: (x − 3)/3 — the input_mean and input_var play no part in Y.
        Close([-1, 1 / 3f, -1, -1 / 3f, 5 / 3f, 3, 1 / 3f, 1], outs[0].Floats!);
        Close([10 * 0.5f + 4 * 0.5f, -2 * 0.5f + 3 * 0.5f], outs[1].Floats!); // running_mean
        Close([1 * 0.5f + 5 * 0.5f, 3 * 0.5f + 5 * 0.5f], outs[2].Floats!);  // running_var, population variance
        Assert.Equal(new long[] { 2 }, outs[1].Shape);

        // Default momentum 0.9; only Y asked for (the optional outputs omitted) still normalizes with the batch's statistics.
        var dflt = Run(Node("BatchNormalization", 5, 3).Set("training_mode", 1L).Set("epsilon", 4f), opset, [TrainX, F([2, 1], 2), F([1, 0], 2), F([10, -2], 2), F([1, 3], 2)]);
        Close([10 * 0.9f + 4 * 0.1f, -2 * 0.9f + 3 * 0.1f], dflt[1].Floats!);
        Close([1 * 0.9f + 5 * 0.1f, 3 * 0.9f + 5 * 0.1f], dflt[2].Floats!);
        var yOnly = Run(Node("BatchNormalization", 5).Set("training_mode", 1L).Set("epsilon", 4f), opset, [TrainX, F([2, 1], 2), F([1, 0], 2), F([10, -2], 2), F([1, 3], 2)]);
        Close(outs[0].Floats!, yOnly[0].Floats!);
    }

    [Fact]
    public void BatchNormTrainingModeShapesAndTypes()
    {
        // Opset 15 lets the statistics (T2) have another type than X: the running outputs take input_mean's and input_var's.
        var batch = Dim.Sym("batch");
        var node = Node("BatchNormalization", 5, 3).Set("training_mode", 1L);
        var infos = Infer(node, 15, [(DataType.Float, [batch, Dim.Of(3), Dim.Of(4), Dim.Of(4)]), (DataType.Float, [Dim.Of(3)]), (DataType.Float, [Dim.Of(3)]),
            (DataType.Float16, [Dim.Of(3)]), (DataType.Double, [Dim.Of(3)])]);
        Assert.Equal(DataType.Float, infos[0].Type);
        Assert.Equal(new[] { batch, Dim.Of(3), Dim.Of(4), Dim.Of(4) }, infos[0].Shape);
        Assert.Equal(DataType.Float16, infos[1].Type);
        Assert.Equal(DataType.Double, infos[2].Type);
        Assert.Equal(new[] { Dim.Of(3) }, infos[1].Shape);
        Assert.Equal(new[] { Dim.Of(3) }, infos[2].Shape);

        var fp16 = Run(Node("BatchNormalization", 5, 3).Set("training_mode", 1L).Set("epsilon", 4f), 15,
            [TrainX, F([2, 1], 2), F([1, 0], 2), Tensor.FromFloats([0.1f, 0], [2], DataType.Float16), F([1, 3], 2)]);
        Assert.Equal(DataType.Float16, fp16[1].Type);
        // 0.1·0.9 + 4·0.1 = 0.49 in float16 steps of 2^-12 below 0.5: 0.48999023.
        Assert.Equal(0.48999023f, fp16[1].Floats![0]);

        var four = new TrtNative.Ir.Node("BatchNormalization", ["in0", "in1", "in2", "in3", "in4"], ["y", "m", "v", "extra"], "bn").Set("training_mode", 1L);
        var e = Assert.Throws<TrtNativeException>(() => Run(four, 15, [TrainX, F([1, 1], 2), F([0, 0], 2), F([0, 0], 2), F([1, 1], 2)]));
        Assert.Equal(ErrorCode.ShapeMismatch, e.Code);
    }

    [Fact]
    public void LayerNormWithStatisticsOutputs()
    {
        var x = F([1, 2, 3, 4, -2, 0, 2, 4], 2, 2, 2);
        var node = new TrtNative.Ir.Node("LayerNormalization", ["in0", "in1", "in2"], ["y", "mean", "inv"], "ln").Set("axis", 1L).Set("epsilon", 0f);
        var outs = Run(node, 17, [x, F([1, 2, 1, 2], 2, 2), F([0, 0, 1, 1], 2, 2)]);
        float i1 = 1 / MathF.Sqrt(1.25f), i2 = 1 / MathF.Sqrt(5f);
        Close([-1.5f * i1, -0.5f * i1 * 2, 0.5f * i1 + 1, 1.5f * i1 * 2 + 1, -3 * i2, -1 * i2 * 2, 1 * i2 + 1, 3 * i2 * 2 + 1], outs[0].Floats!);
        Assert.Equal(new long[] { 2, 1, 1 }, outs[1].Shape);
        Close([2.5f, 1], outs[1].Floats!);
        Close([i1, i2], outs[2].Floats!);
        // Default axis -1, no bias.
        var last = Run(Node("LayerNormalization", 2), 17, [F([0, 2, 4, 6], 2, 2), F([1, 1], 2)])[0];
        Close([-1, 1, -1, 1], last.Floats!, 1e-4f);
    }

    [Fact]
    public void SoftmaxAxisSemanticsChangeAtOpset13()
    {
        float l3 = MathF.Log(3);
        var x = F([0, l3, 0, l3, 0, 0, 0, 0], 2, 2, 2);
        var s13 = Run(Node("Softmax", 1).Set("axis", 1L), 13, [x])[0];
        Close([0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f], s13.Floats!);
        var s11 = Run(Node("Softmax", 1).Set("axis", 1L), 11, [x])[0];
        Close([0.125f, 0.375f, 0.125f, 0.375f, 0.25f, 0.25f, 0.25f, 0.25f], s11.Floats!);
        var last = Run(Node("Softmax", 1), 13, [F([0, l3], 1, 2)])[0];
        Close([0.25f, 0.75f], last.Floats!);
        var log = Run(Node("LogSoftmax", 1), 13, [F([0, l3], 1, 2)])[0];
        Close([MathF.Log(0.25f), MathF.Log(0.75f)], log.Floats!);
        // Default axis before 13 is 1: a [1, 2] input is one row.
        var old = Run(Node("Softmax", 1), 11, [F([0, l3, 0, l3], 2, 2)])[0];
        Close([0.25f, 0.75f, 0.25f, 0.75f], old.Floats!);
        Assert.Equal(new float[] { 0, 1, 1, 0 }, Run(Node("Hardmax", 1), 13, [F([1, 3, 2, -1], 2, 2)])[0].Floats);
    }

    [Fact]
    public void ReduceAxesAttributeThenInput()
    {
        var x = F([1, 2, 3, 4, 5, 6], 2, 3);
        var a = Run(Node("ReduceMean", 1).Set("axes", new long[] { 1 }).Set("keepdims", 0L), 13, [x])[0];
        Assert.Equal(new long[] { 2 }, a.Shape);
        Assert.Equal(new float[] { 2, 5 }, a.Floats);
        var b = Run(Node("ReduceMean", 2), 18, [x, I([-2], 1)])[0];
        Assert.Equal(new long[] { 1, 3 }, b.Shape);
        Assert.Equal(new float[] { 2.5f, 3.5f, 4.5f }, b.Floats);
        var all = Run(Node("ReduceMean", 1), 13, [x])[0];
        Assert.Equal(new long[] { 1, 1 }, all.Shape);
        Assert.Equal(new float[] { 3.5f }, all.Floats);
        var noop = Run(Node("ReduceSum", 1).Set("noop_with_empty_axes", 1L), 13, [x])[0];
        Assert.Equal(x.Floats, noop.Floats);
        var sum = Run(Node("ReduceSum", 2).Set("keepdims", 0L), 13, [x, I([0], 1)])[0];
        Assert.Equal(new float[] { 5, 7, 9 }, sum.Floats);
        Assert.Equal(new long[] { 3, 6 }, Run(Node("ReduceMax", 1).Set("axes", new long[] { 1 }).Set("keepdims", 0L), 13, [I([1, 3, 2, 6, 5, 4], 2, 3)])[0].Ints);
        Close([MathF.Log(MathF.Exp(1) + MathF.Exp(2) + MathF.Exp(3)), MathF.Log(MathF.Exp(4) + MathF.Exp(5) + MathF.Exp(6))],
            Run(Node("ReduceLogSumExp", 1).Set("axes", new long[] { 1 }).Set("keepdims", 0L), 13, [x])[0].Floats!);
        Close([MathF.Sqrt(1 + 16), MathF.Sqrt(4 + 25), MathF.Sqrt(9 + 36)], Run(Node("ReduceL2", 1).Set("axes", new long[] { 0 }), 13, [x])[0].Floats!);
        var e = Assert.Throws<TrtNativeException>(() => Run(Node("ReduceMean", 1).Set("axes", new long[] { 2 }), 13, [x]));
        Assert.Contains("out of range", e.Message);
    }

    [Fact]
    public void ReduceOverMiddleAxisAndSymbolicShape()
    {
        var rng = new Random(3);
        var data = Random(rng, 2 * 3 * 4);
        var y = Run(Node("ReduceSum", 2), 13, [F(data, 2, 3, 4), I([1], 1)])[0];
        for (int i = 0; i < 2; i++)
            for (int k = 0; k < 4; k++)
                Assert.Equal(data[i * 12 + k] + data[i * 12 + 4 + k] + data[i * 12 + 8 + k], y.Floats![i * 4 + k], 5);
        var n = Dim.Sym("batch");
        var info = Infer(Node("ReduceMean", 1).Set("axes", new long[] { -1 }), 13, [(DataType.Float, [n, Dim.Of(197), Dim.Of(768)])]);
        Assert.Equal(new[] { n, Dim.Of(197), Dim.Of(1) }, info[0].Shape);
    }

    [Fact]
    public void ArgMaxArgMinAndCumSum()
    {
        var x = F([1, 3, 3, 0, 2, -1], 2, 3);
        Assert.Equal(new long[] { 1, 1 }, Run(Node("ArgMax", 1).Set("axis", 1L).Set("keepdims", 0L), 13, [x])[0].Ints);
        Assert.Equal(new long[] { 2, 1 }, Run(Node("ArgMax", 1).Set("axis", 1L).Set("keepdims", 0L).Set("select_last_index", 1L), 13, [x])[0].Ints);
        var min = Run(Node("ArgMin", 1), 13, [x])[0];
        Assert.Equal(new long[] { 1, 3 }, min.Shape);
        Assert.Equal(new long[] { 1, 1, 1 }, min.Ints);
        Assert.Equal(new float[] { 1, 4, 7, 0, 2, 1 }, Run(Node("CumSum", 2), 14, [x, I([1], [])])[0].Floats);
        Assert.Equal(new float[] { 6, 3, 0, 1, -1, 0 }, Run(Node("CumSum", 2).Set("exclusive", 1L).Set("reverse", 1L), 14, [x, I([-1], [])])[0].Floats);
    }
}

/// <summary>Training-mode BatchNormalization against ONNX Runtime (CPU) on fresh random inputs.</summary>
public class NormalizationOpsOrtTests
{
    [Theory]
    [InlineData(14, new long[] { 4, 3, 5, 6 })]
    [InlineData(15, new long[] { 2, 5, 7 })]
    [InlineData(15, new long[] { 3, 4 })]
    public void BatchNormTrainingModeMatchesOnnxRuntime(int opset, long[] shape)
    {
        int seed = TrtNative.Tests.Support.RandomTensors.FreshSeed();
        var rng = new Random(seed);
        long c = shape[1];
        var x = TrtNative.Tests.Support.RandomTensors.Normal(shape, seed, std: 2f, mean: 0.5f);
        var constants = new Dictionary<string, Tensor>
        {
            ["scale"] = F(TrtNative.Tests.Support.RandomTensors.NormalFloats(rng, c), c),
            ["b"] = F(TrtNative.Tests.Support.RandomTensors.NormalFloats(rng, c), c),
            ["mean"] = F(TrtNative.Tests.Support.RandomTensors.NormalFloats(rng, c), c),
            ["var"] = F(TrtNative.Tests.Support.RandomTensors.UniformFloats(rng, c, 0.5f, 2f), c),
        };
        var node = new TrtNative.Ir.Node("BatchNormalization", ["x", "scale", "b", "mean", "var"], ["y", "running_mean", "running_var"], "bn")
            .Set("training_mode", 1L).Set("momentum", 0.8f).Set("epsilon", 1e-3f);
        var g = OpHarness.OneNode(node, opset, new() { ["x"] = x }, constants);
        ShapeInference.Run(g);
        for (int k = 0; k < g.Outputs.Count; k++) g.Outputs[k] = g.Values[g.Outputs[k].Name];
        var inputs = new Dictionary<string, Tensor> { ["x"] = x };
        var ours = TrtNative.Reference.ReferenceExecutor.Run(g, inputs);
        var ort = TrtNative.Tests.Support.OrtRunner.Run(TrtNative.Onnx.OnnxExporter.ToBytes(g), inputs);
        foreach (var name in new[] { "y", "running_mean", "running_var" })
        {
            Assert.Equal(ort[name].Shape, ours[name].Shape);
            float[] a = ours[name].Floats!, b = ort[name].Floats!;
            for (int i = 0; i < a.Length; i++)
                Assert.True(Math.Abs(a[i] - b[i]) <= 1e-4f * (1 + Math.Abs(b[i])), $"{name} seed {seed}: element {i} is {a[i]}, ONNX Runtime gives {b[i]}");
        }
    }
}
