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
        e = Assert.Throws<TrtNativeException>(() => Run(Node("BatchNormalization", 5).Set("training_mode", 1L), 15, [x, F([1, 1], 2), F([0, 0], 2), F([0, 0], 2), F([1, 1], 2)]));
        Assert.Contains("training_mode", e.Message);
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
